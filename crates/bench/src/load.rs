//! Sending one segment's requests: closed loop (N connections, as fast as the service answers)
//! or open loop (a fixed rate, whatever the answers). The requests, their outcomes and the
//! latency statistics are the load generator's ([`loadgen::mix`], [`loadgen::request`],
//! [`loadgen::stats`]); what is new here is the two ways of pacing them and the measurement
//! window (warm connections first, CPU sampled when the window opens).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use loadgen::mix::{Mix, Planned};
use loadgen::request;
use loadgen::stats::{Outcome, Recorder};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Per request; a segment is never longer than a few seconds anyway.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The open loop gives up slots rather than pile up more requests than this in flight
/// (a stalled service would otherwise collect thousands of tasks).
const MAX_IN_FLIGHT: usize = 1024;

/// After a request without an answer, a closed-loop worker waits this long: a refused
/// connection is instant, and a busy loop of them would only measure the load generator.
const TRANSPORT_BACKOFF: Duration = Duration::from_millis(10);

/// A user-service to send requests to. Cheap to clone.
#[derive(Clone)]
pub struct Target {
    pub client: reqwest::Client,
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// Every request sent, measured or not (warm-up, seeding): the denominator of the
    /// telemetry received per request over the whole run.
    pub sent: Arc<AtomicU64>,
}

impl Target {
    /// One client per service, kept for the whole run: its connections stay open between
    /// segments (up to `max_idle` of them).
    pub fn new(base_url: &str, max_idle: usize) -> reqwest::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(max_idle)
            .build()?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            sent: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends one request and reads its whole body; the new user's id for a 201.
    pub async fn send(&self, planned: &Planned) -> (Outcome, Option<u64>) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        request::send(&self.client, &self.base_url, planned).await
    }

    /// An unmeasured `GET`, to open (or re-open) a connection. Its outcome does not matter.
    async fn warm(&self, path: &str) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Ok(response) = self
            .client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
        {
            let _ = response.bytes().await;
        }
    }
}

/// A workload under one load on one service, kept across the segments of the run: the mix
/// (shared by the workload's loads, with the users it knows) and every outcome and latency
/// recorded so far.
pub struct Traffic {
    pub mix: Arc<Mutex<Mix>>,
    pub recorder: Mutex<Recorder>,
}

impl Traffic {
    pub fn new(mix: Arc<Mutex<Mix>>) -> Arc<Self> {
        Arc::new(Self {
            mix,
            recorder: Mutex::new(Recorder::default()),
        })
    }

    fn next(&self) -> Planned {
        self.mix.lock().expect("mix lock").next_request()
    }

    fn record(&self, planned: Planned, outcome: Outcome, created: Option<u64>, latency: Duration) {
        if let (Some(id), Some(email)) = (created, planned.email) {
            self.mix.lock().expect("mix lock").record_created(id, email);
        }
        self.recorder.lock().expect("recorder lock").record(
            planned.kind,
            planned.expected,
            outcome,
            latency,
        );
    }

    /// Requests recorded so far.
    pub fn total(&self) -> u64 {
        self.recorder.lock().expect("recorder lock").total()
    }
}

/// How the requests of a segment are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Closed loop: this many connections, each sending as soon as its answer arrived.
    Closed { connections: usize },
    /// Open loop: requests per second, started on schedule whatever the answers.
    Open { rate: f64 },
}

/// What a segment measured. CPU and requests are deltas over the window that opens once
/// the connections are warm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// From the opening of the window to the last answer.
    pub elapsed: Duration,
    /// Requests recorded in the window.
    pub requests: u64,
    /// CPU time of `pid` when the window opened (`None` without a pid or when unreadable).
    pub cpu_at_start: Option<Duration>,
    /// When the window opened, by the wall clock (telemetry carries wall-clock times).
    pub opened_at: SystemTime,
    /// Open loop only: slots given up because too many requests were in flight.
    pub skipped: u64,
}

/// Runs one segment against `target`, recording into `traffic`. `warm_path` is a cheap
/// `GET` used to warm the connections before the window opens; `pid` is the process whose
/// CPU is sampled at that moment.
pub async fn run(
    target: &Target,
    traffic: &Arc<Traffic>,
    pace: Pace,
    duration: Duration,
    warm_path: &str,
    pid: Option<u32>,
    cancel: &CancellationToken,
) -> Measured {
    let before = traffic.total();
    let opened_at = Mutex::new(SystemTime::now());
    // Called when the window opens: the CPU sample and the wall-clock time.
    let open = || {
        *opened_at.lock().expect("clock lock") = SystemTime::now();
        pid.and_then(|pid| crate::procfs::cpu_time(pid).ok())
    };
    let (elapsed, cpu_at_start, skipped) = match pace {
        Pace::Closed { connections } => {
            let (elapsed, cpu) = closed_loop(
                target,
                traffic,
                connections,
                duration,
                warm_path,
                open,
                cancel,
            )
            .await;
            (elapsed, cpu, 0)
        }
        Pace::Open { rate } => {
            open_loop(target, traffic, rate, duration, warm_path, open, cancel).await
        }
    };
    Measured {
        elapsed,
        requests: traffic.total() - before,
        cpu_at_start,
        opened_at: opened_at.into_inner().expect("clock lock"),
        skipped,
    }
}

async fn closed_loop(
    target: &Target,
    traffic: &Arc<Traffic>,
    connections: usize,
    duration: Duration,
    warm_path: &str,
    open: impl FnOnce() -> Option<Duration>,
    cancel: &CancellationToken,
) -> (Duration, Option<Duration>) {
    let connections = connections.max(1);
    // Each worker warms its connection; then the window opens (CPU sampled, deadline set)
    // and, only then, the workers are let go.
    let warmed = Arc::new(Barrier::new(connections + 1));
    let go = Arc::new(Barrier::new(connections + 1));
    let deadline = Arc::new(OnceLock::new());
    let mut workers = JoinSet::new();
    for _ in 0..connections {
        let (target, traffic) = (target.clone(), traffic.clone());
        let (warmed, go, deadline) = (warmed.clone(), go.clone(), deadline.clone());
        let (warm_path, cancel) = (warm_path.to_owned(), cancel.clone());
        workers.spawn(async move {
            target.warm(&warm_path).await;
            warmed.wait().await;
            go.wait().await;
            let deadline: Instant = *deadline.get().expect("set before the workers go");
            while Instant::now() < deadline && !cancel.is_cancelled() {
                let planned = traffic.next();
                let started = Instant::now();
                let (outcome, created) = target.send(&planned).await;
                traffic.record(planned, outcome, created, started.elapsed());
                if matches!(outcome, Outcome::Transport(_)) {
                    tokio::time::sleep(TRANSPORT_BACKOFF).await;
                }
            }
        });
    }
    warmed.wait().await;
    let cpu_at_start = open();
    let opened = Instant::now();
    deadline
        .set(opened + duration)
        .expect("the deadline is set once");
    go.wait().await;
    join_all(workers).await;
    (opened.elapsed(), cpu_at_start)
}

async fn open_loop(
    target: &Target,
    traffic: &Arc<Traffic>,
    rate: f64,
    duration: Duration,
    warm_path: &str,
    open: impl FnOnce() -> Option<Duration>,
    cancel: &CancellationToken,
) -> (Duration, Option<Duration>, u64) {
    let mut warming = JoinSet::new();
    for _ in 0..4 {
        let (target, path) = (target.clone(), warm_path.to_owned());
        warming.spawn(async move { target.warm(&path).await });
    }
    join_all(warming).await;

    let period = Duration::from_secs_f64(1.0 / rate.max(0.1));
    let opened = Instant::now();
    let cpu_at_start = open();
    let end = opened + duration;
    let mut in_flight = JoinSet::new();
    let mut skipped = 0;
    for n in 0u32.. {
        // Slots are absolute: a late wake-up (the timer has millisecond resolution) sends
        // the slots it missed at once, so the rate holds on average.
        let slot = opened + period * n;
        if slot >= end {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep_until(slot.into()) => {}
            () = cancel.cancelled() => break,
        }
        while in_flight.try_join_next().is_some() {}
        if in_flight.len() >= MAX_IN_FLIGHT {
            skipped += 1;
            continue;
        }
        let (target, traffic) = (target.clone(), traffic.clone());
        in_flight.spawn(async move {
            let planned = traffic.next();
            // From the moment it is sent, not from its slot: a late timer is the load
            // generator's delay, not the service's. Answers never hold up the next slot, so
            // a slow answer cannot hide the requests behind it (no coordinated omission).
            let started = Instant::now();
            let (outcome, created) = target.send(&planned).await;
            traffic.record(planned, outcome, created, started.elapsed());
        });
    }
    join_all(in_flight).await;
    (opened.elapsed(), cpu_at_start, skipped)
}

async fn join_all(mut tasks: JoinSet<()>) {
    while let Some(result) = tasks.join_next().await {
        if let Err(err) = result
            && err.is_panic()
        {
            std::panic::resume_unwind(err.into_panic());
        }
    }
}

/// Creates `count` users through `target` (`POST /users`, one at a time); returns their ids
/// and emails. Fails when a create is not answered 201.
pub async fn create_users(
    target: &Target,
    mix: &mut Mix,
    count: usize,
) -> anyhow::Result<Vec<(u64, String)>> {
    let mut users = Vec::with_capacity(count);
    for _ in 0..count {
        let planned = mix.next_request();
        let (outcome, created) = target.send(&planned).await;
        match (created, planned.email) {
            (Some(id), Some(email)) => users.push((id, email)),
            _ => anyhow::bail!(
                "POST {}/users answered {outcome:?}, not 201 with an id",
                target.base_url
            ),
        }
    }
    Ok(users)
}
