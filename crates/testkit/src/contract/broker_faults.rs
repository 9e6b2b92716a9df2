//! The broker misbehaves: it restarts empty (tansu's memory store forgets topics, offsets and
//! consumer groups), several times in a row, under load. Every step must still give every
//! user exactly one welcome email once the broker is back, and the user-service must keep
//! running and serving throughout. Each test runs a broker of its own ([`Broker`]), never the
//! shared one, which other tests use at the same time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Broker, ServiceProcess, SpawnOptions, StepBinaries, TestDatabase, services};

/// How long, after the last fault, every user may wait for their email.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A step's two services wired to a broker of the test's own.
struct FaultStack {
    broker: Broker,
    database: TestDatabase,
    email_service: ServiceProcess,
    user_service: ServiceProcess,
    http: reqwest::Client,
    /// Makes the test's email addresses unique, e.g. in a shared log.
    tag: String,
}

impl FaultStack {
    async fn start(binaries: &StepBinaries) -> Self {
        services::require("Valkey", &services::redis_url()).await;
        let broker = Broker::start().await;
        let database = TestDatabase::new().await;
        let email_service = ServiceProcess::spawn(SpawnOptions::new(
            "email-service",
            &binaries.email_service,
            "EMAIL_SERVICE_ADDR",
        ))
        .await;
        let user_service = ServiceProcess::spawn(
            SpawnOptions::new("user-service", &binaries.user_service, "USER_SERVICE_ADDR")
                .env("DATABASE_URL", database.url())
                .env("REDIS_URL", services::redis_url())
                .env("CACHE_KEY_PREFIX", crate::unique_name("test-cache"))
                .env("KAFKA_BROKERS", broker.address())
                .env("KAFKA_TOPIC", crate::unique_name("test.user.created"))
                .env("KAFKA_CONSUMER_GROUP", crate::unique_name("test-group"))
                .env("EMAIL_SERVICE_URL", email_service.base_url()),
        )
        .await;
        Self {
            broker,
            database,
            email_service,
            user_service,
            http: reqwest::Client::new(),
            tag: format!("{:06x}", fastrand::u32(..0x100_0000)),
        }
    }

    fn email_of(&self, n: usize) -> String {
        format!("fault-{}-{n}@example.com", self.tag)
    }

    /// `POST /users` for user `n`; panics unless it is a 201 within 5 s.
    async fn create_user(&mut self, n: usize) {
        let started = Instant::now();
        let response = self
            .http
            .post(self.user_service.url("/users"))
            .json(&json!({ "name": format!("Fault Tester {n}"), "email": self.email_of(n) }))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match response {
            Ok(response) if response.status() == StatusCode::CREATED => {}
            Ok(response) => panic!(
                "POST /users #{n} answered {} after {:?}: {}",
                response.status(),
                started.elapsed(),
                response.text().await.unwrap_or_default()
            ),
            Err(err) => {
                let elapsed = started.elapsed();
                self.assert_user_service_serves(&format!("before POST /users #{n}"))
                    .await;
                panic!("POST /users #{n} failed after {elapsed:?}: {err}");
            }
        }
    }

    /// Panics, with the exit status and the output, if the user-service is gone, and
    /// otherwise checks that it serves `GET /healthz`.
    async fn assert_user_service_serves(&mut self, when: &str) {
        if !is_running(self.user_service.pid()) {
            let status = self.user_service.wait_exit(Duration::from_secs(2)).await;
            panic!(
                "the user-service died {when}: {status}. Its output:\n{}",
                self.user_service.output()
            );
        }
        let health = self
            .http
            .get(self.user_service.url("/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        assert!(
            health.as_ref().is_ok_and(|r| r.status().is_success()),
            "GET /healthz {when}: {health:?}"
        );
    }

    /// Welcome emails accepted so far, counted per recipient.
    async fn emails_per_recipient(&self) -> BTreeMap<String, usize> {
        let sent: Vec<Value> = self
            .http
            .get(self.email_service.url("/emails"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("GET /emails")
            .json()
            .await
            .expect("GET /emails is JSON");
        let mut counts = BTreeMap::new();
        for email in &sent {
            if let Some(to) = email["to"].as_str() {
                *counts.entry(to.to_owned()).or_default() += 1;
            }
        }
        counts
    }

    /// Waits until users `0..users` all have an email, then a little longer for duplicates,
    /// and asserts exactly one each.
    async fn assert_one_email_each(&mut self, users: usize) {
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        let missing = loop {
            let counts = self.emails_per_recipient().await;
            let missing: Vec<usize> = (0..users)
                .filter(|&n| !counts.contains_key(&self.email_of(n)))
                .collect();
            if missing.is_empty() || Instant::now() > deadline {
                break missing;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let outbox = self.database.count("outbox").await;
        assert!(
            missing.is_empty(),
            "{} of {users} users have no welcome email {DELIVERY_TIMEOUT:?} after the broker \
             came back (users {missing:?}; {outbox} events still in the outbox).\n\
             user-service output:\n{}",
            missing.len(),
            self.user_service.output()
        );
        // Duplicates can arrive late (a redelivery after the broker came back).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let counts = self.emails_per_recipient().await;
        let duplicated: Vec<(&String, &usize)> =
            counts.iter().filter(|(_, count)| **count > 1).collect();
        assert!(
            duplicated.is_empty(),
            "users with more than one welcome email: {duplicated:?}"
        );
        assert_eq!(
            counts.len(),
            users,
            "one email per user, none for anyone else: {counts:?}"
        );
        assert_eq!(self.database.count("users").await, users as i64);
    }

    async fn stop(mut self) {
        let users = self.user_service.stop(Duration::from_secs(15)).await;
        let emails = self.email_service.stop(Duration::from_secs(10)).await;
        assert!(
            users.success() && emails.success(),
            "exit codes: user-service {users}, email-service {emails}"
        );
        self.broker.stop().await;
    }
}

/// Whether `pid` runs (a zombie, dead but not yet reaped, does not count).
fn is_running(pid: Option<u32>) -> bool {
    let Some(pid) = pid else {
        return false;
    };
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Users are created at 10 per second for 12 s. The broker is killed at 3 s and comes back
/// empty 2 s later, then is killed and restarted at once at 8 s. Every user still gets
/// exactly one welcome email: no event is lost to a broker that forgot the topic (nor to
/// one that acknowledged it into a topic it no longer has), and none is sent twice.
pub async fn broker_restarted_empty_under_load_loses_no_email(binaries: &StepBinaries) {
    const USERS: usize = 120;
    let mut stack = FaultStack::start(binaries).await;
    let started = Instant::now();
    for n in 0..USERS {
        let due = started + Duration::from_millis(100 * n as u64);
        tokio::time::sleep_until(due.into()).await;
        if n == 30 {
            stack.broker.kill().await;
        }
        if n == 50 {
            stack.broker.start_again().await;
        }
        if n == 80 {
            stack.broker.restart_empty().await;
        }
        stack.create_user(n).await;
    }
    stack.assert_user_service_serves("under load").await;
    stack.assert_one_email_each(USERS).await;
    stack.assert_user_service_serves("after the faults").await;
    stack.stop().await;
}

/// The broker restarts empty four times: three times stopped with SIGTERM (tansu takes 5 s)
/// and started again at once, once killed and started again at once. Each is the moment
/// that crashed librdkafka 2.12 (a fetch answered for a topic the new broker does not know;
/// see vendor/rdkafka-sys/PATCHED.md). The user-service keeps running and answering, users
/// are created between the restarts, and each gets exactly one email: also those created
/// after the last restart, which a consumer left past the end of the re-created topic would
/// never read (tansu answers such a fetch with nothing, not "offset out of range").
pub async fn broker_restarts_repeatedly_and_the_service_survives(binaries: &StepBinaries) {
    const USERS_PER_ROUND: usize = 3;
    let mut stack = FaultStack::start(binaries).await;
    let mut users = 0;
    for (round, graceful) in [true, false, true, true].into_iter().enumerate() {
        for _ in 0..USERS_PER_ROUND {
            stack.create_user(users).await;
            users += 1;
        }
        // Let the consumer fetch from the topic, so that it is in librdkafka's caches when
        // the broker forgets it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if graceful {
            stack.broker.stop().await;
            stack.broker.start_again().await;
        } else {
            stack.broker.restart_empty().await;
        }
        // The crash came within a second of the restart.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            stack
                .assert_user_service_serves(&format!("after broker restart #{}", round + 1))
                .await;
        }
    }
    for _ in 0..USERS_PER_ROUND {
        stack.create_user(users).await;
        users += 1;
    }
    stack.assert_one_email_each(users).await;
    stack.assert_user_service_serves("after the restarts").await;
    stack.stop().await;
}
