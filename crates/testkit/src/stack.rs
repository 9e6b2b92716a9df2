//! A step's two services, wired to a fresh database, topic, consumer group and cache
//! namespace: what most contract tests start with.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::process::{ServiceProcess, SpawnOptions};
use crate::{TestDatabase, TestTopic, services};

/// The two binaries of a step, e.g. from `env!("CARGO_BIN_EXE_step1-user-service")`.
#[derive(Debug, Clone)]
pub struct StepBinaries {
    pub user_service: PathBuf,
    pub email_service: PathBuf,
}

impl StepBinaries {
    /// The same binaries, started with `key=value` in their environment whoever starts them:
    /// each is replaced by a small script that sets it and `exec`s the binary (same pid, same
    /// signals). How a whole contract runs under one setting, e.g. `OTEL_SDK_DISABLED=true`.
    pub fn with_env(&self, key: &str, value: &str) -> StepBinaries {
        let dir = std::env::temp_dir().join(crate::unique_name("testkit-env"));
        std::fs::create_dir_all(&dir).expect("a directory for the wrapper scripts");
        let wrap = |binary: &PathBuf| {
            let name = binary.file_name().expect("a binary file name");
            let script = dir.join(name);
            let text = format!(
                "#!/bin/sh\nexport {key}='{value}'\nexec '{}' \"$@\"\n",
                binary.display()
            );
            std::fs::write(&script, text).expect("the wrapper script");
            let mut permissions = std::fs::metadata(&script).expect("script").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
            std::fs::set_permissions(&script, permissions).expect("an executable script");
            script
        };
        StepBinaries {
            user_service: wrap(&self.user_service),
            email_service: wrap(&self.email_service),
        }
    }
}

/// What a test changes about the default wiring.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Extra variables for both services (e.g. `OTEL_*`).
    pub env: Vec<(String, String)>,
    /// Extra variables for the user-service only.
    pub user_service_env: Vec<(String, String)>,
    /// Extra variables for the email-service only (e.g. `EMAIL_FAILURE_RATE`).
    pub email_service_env: Vec<(String, String)>,
    /// Replaces the test Valkey URL (e.g. a [`crate::TcpProxy`] in front of it).
    pub redis_url: Option<String>,
    /// Replaces the test Kafka brokers (e.g. a closed port).
    pub kafka_brokers: Option<String>,
    /// Replaces the `host:port` of the test database's URL (e.g. a [`crate::TcpProxy`]).
    pub postgres_address: Option<String>,
    /// Readiness path of the user-service (default `/readyz`).
    pub ready_path: Option<String>,
}

impl StackOptions {
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }
}

pub struct Stack {
    pub binaries: StepBinaries,
    pub options: StackOptions,
    pub database: TestDatabase,
    pub topic: TestTopic,
    pub consumer_group: String,
    pub cache_prefix: String,
    pub email_service: ServiceProcess,
    pub user_service: ServiceProcess,
    pub http: reqwest::Client,
}

impl Stack {
    pub async fn start(binaries: &StepBinaries, options: StackOptions) -> Self {
        services::require("Valkey", &services::redis_url()).await;
        let database = TestDatabase::new().await;
        let topic = TestTopic::new().await;
        let email_service = spawn_email_service(binaries, &options).await;
        let consumer_group = crate::unique_name("test-group");
        let cache_prefix = crate::unique_name("test-cache");
        let wiring = Wiring {
            database: &database,
            topic: &topic,
            consumer_group: &consumer_group,
            cache_prefix: &cache_prefix,
            email_service_url: email_service.base_url(),
        };
        let user_service = ServiceProcess::spawn(wiring.user_service(binaries, &options)).await;
        Self {
            binaries: binaries.clone(),
            user_service,
            email_service,
            database,
            topic,
            consumer_group,
            cache_prefix,
            options,
            http: reqwest::Client::new(),
        }
    }

    /// Starts another user-service on the same database, topic, group and cache prefix,
    /// with `options` for its dependencies: how a test restarts the service. Replaces
    /// `self.user_service`, which must have been stopped.
    pub async fn restart_user_service(&mut self, options: &StackOptions) {
        let wiring = Wiring {
            database: &self.database,
            topic: &self.topic,
            consumer_group: &self.consumer_group,
            cache_prefix: &self.cache_prefix,
            email_service_url: self.email_service.base_url(),
        };
        let spawn = wiring.user_service(&self.binaries, options);
        self.user_service = ServiceProcess::spawn(spawn).await;
    }

    pub fn user_url(&self, path: &str) -> String {
        self.user_service.url(path)
    }

    /// `POST /users`; returns the status and the JSON body.
    pub async fn create_user(&self, name: &str, email: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(self.user_url("/users"))
                .json(&json!({ "name": name, "email": email })),
        )
        .await
    }

    /// `GET` on the user-service; returns the status and the JSON body.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.user_url(path))).await
    }

    /// Sends a request and decodes the body as JSON (panics with the raw body if it is not).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .unwrap_or_else(|err| panic!("request failed: {err}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{status}: body is not JSON ({err}): {text:?}"));
        (status, body)
    }

    /// The emails the email-service accepted so far (`GET /emails`).
    pub async fn sent_emails(&self) -> Vec<Value> {
        let (status, body) = self
            .send(self.http.get(self.email_service.url("/emails")))
            .await;
        assert_eq!(status, StatusCode::OK, "GET /emails: {body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Waits until the email-service accepted at least `count` emails; returns them all.
    pub async fn wait_for_emails(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let emails = self.sent_emails().await;
            if emails.len() >= count {
                return emails;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} welcome emails within {timeout:?}, got {}: {emails:?}\nuser-service output:\n{}",
                emails.len(),
                self.user_service.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the email-service (after a test stopped the user-service itself).
    pub async fn stop_email_service(mut self) -> ExitStatus {
        self.email_service.stop(Duration::from_secs(10)).await
    }

    /// Stops both services with SIGTERM; both must exit within 10 s.
    pub async fn stop(mut self) -> (ExitStatus, ExitStatus) {
        let timeout = Duration::from_secs(10);
        let users = self.user_service.stop(timeout).await;
        let emails = self.email_service.stop(timeout).await;
        (users, emails)
    }
}

/// What ties a user-service to its test's resources.
struct Wiring<'a> {
    database: &'a TestDatabase,
    topic: &'a TestTopic,
    consumer_group: &'a str,
    cache_prefix: &'a str,
    email_service_url: &'a str,
}

impl Wiring<'_> {
    fn user_service(&self, binaries: &StepBinaries, options: &StackOptions) -> SpawnOptions {
        let kafka_brokers = options
            .kafka_brokers
            .clone()
            .unwrap_or_else(|| self.topic.brokers().to_owned());
        let redis_url = options
            .redis_url
            .clone()
            .unwrap_or_else(services::redis_url);
        let database_url = match &options.postgres_address {
            Some(address) => {
                self.database
                    .url()
                    .replacen(&services::host_port(self.database.url()), address, 1)
            }
            None => self.database.url().to_owned(),
        };
        let mut spawn =
            SpawnOptions::new("user-service", &binaries.user_service, "USER_SERVICE_ADDR")
                .env("DATABASE_URL", database_url)
                .env("REDIS_URL", redis_url)
                .env("CACHE_KEY_PREFIX", self.cache_prefix)
                .env("KAFKA_BROKERS", kafka_brokers)
                .env("KAFKA_TOPIC", self.topic.name())
                .env("KAFKA_CONSUMER_GROUP", self.consumer_group)
                .env("EMAIL_SERVICE_URL", self.email_service_url);
        for (key, value) in options.env.iter().chain(&options.user_service_env) {
            spawn = spawn.env(key, value.clone());
        }
        if let Some(path) = &options.ready_path {
            spawn = spawn.ready_path(Some(path));
        }
        spawn
    }
}

async fn spawn_email_service(binaries: &StepBinaries, options: &StackOptions) -> ServiceProcess {
    let mut spawn = SpawnOptions::new(
        "email-service",
        &binaries.email_service,
        "EMAIL_SERVICE_ADDR",
    );
    for (key, value) in options.env.iter().chain(&options.email_service_env) {
        spawn = spawn.env(key, value.clone());
    }
    ServiceProcess::spawn(spawn).await
}
