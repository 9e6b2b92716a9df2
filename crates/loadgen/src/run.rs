//! The run: check the service is there, start the workers, pace them, stop them (count,
//! duration or cancellation) and hand back the summary.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::mix::{Mix, Planned, Weights};
use crate::progress::{Progress, ProgressMode};
use crate::request;
use crate::stats::{Outcome, Recorder, RunInfo, StopReason, Summary};

#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL without a trailing slash.
    pub url: String,
    /// Stop after this long (whichever of duration and requests comes first).
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub requests: Option<u64>,
    pub concurrency: usize,
    /// Requests per second over all workers; `None` = as fast as the service answers.
    pub rate: Option<f64>,
    pub seed: u64,
    /// Makes emails unique per run and names the session in the baggage.
    pub run_id: String,
    pub weights: Weights,
    pub trace_share: f64,
    /// Per request.
    pub timeout: Duration,
    pub progress: ProgressMode,
}

impl Config {
    /// A quiet run of `requests` requests against `url`, with the default mix.
    pub fn new(url: impl Into<String>, requests: u64) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_owned(),
            duration: None,
            requests: Some(requests),
            concurrency: 8,
            rate: None,
            seed: fastrand::u64(..),
            run_id: crate::cli::new_run_id(),
            weights: Weights::default(),
            trace_share: crate::mix::DEFAULT_TRACE_SHARE,
            timeout: Duration::from_secs(10),
            progress: ProgressMode::Quiet,
        }
    }

    /// One line saying what the run will do, for the start of the output.
    pub fn plan(&self) -> String {
        let length = match (self.requests, self.duration) {
            (Some(n), Some(d)) => format!(
                "{n} requests or {}, whichever first",
                humantime::format_duration(d)
            ),
            (Some(n), None) => format!("{n} requests"),
            (None, Some(d)) => humantime::format_duration(d).to_string(),
            (None, None) => "until Ctrl-C".into(),
        };
        let rate = match self.rate {
            Some(rate) => format!("at most {rate} req/s"),
            None => "unlimited rate".into(),
        };
        format!(
            "loadgen: {length} against {} · {} workers · {rate} · run {} · seed {} (Ctrl-C stops early)",
            self.url, self.concurrency, self.run_id, self.seed
        )
    }
}

#[derive(Debug)]
pub enum RunError {
    /// Nothing answered `GET /healthz`.
    Unreachable {
        url: String,
        reason: String,
    },
    /// Something answered, but not with a 2xx: probably not the user-service.
    NotHealthy {
        url: String,
        status: u16,
    },
    Client(reqwest::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Unreachable { url, reason } => write!(
                f,
                "no user-service at {url}: {reason} — start one with `make run STEP=n`"
            ),
            RunError::NotHealthy { url, status } => write!(
                f,
                "GET {url}/healthz answered {status}: is this the user-service? \
                 Start one with `make run STEP=n`"
            ),
            RunError::Client(err) => write!(f, "cannot create the HTTP client: {err}"),
        }
    }
}

impl std::error::Error for RunError {}

/// How long the start-up check waits: a live service answers /healthz at once.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// After a request without an answer, the worker waits this long: a stopped service would
/// otherwise get a busy loop of refused connections, and the summary millions of them.
const TRANSPORT_BACKOFF: Duration = Duration::from_millis(100);

/// How far back the pacer makes up missed slots.
const CATCH_UP: Duration = Duration::from_secs(1);

/// Runs the load until the request count, the duration or `cancel` (Ctrl-C) ends it. Fails
/// only when the service is not there at start; answers and errors after that are counted.
pub async fn run(config: &Config, cancel: CancellationToken) -> Result<Summary, RunError> {
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        // One idle connection per worker is all that is ever reused.
        .pool_max_idle_per_host(config.concurrency)
        .build()
        .map_err(RunError::Client)?;
    check_health(&client, &config.url).await?;

    let started = Instant::now();
    let shared = Arc::new(Shared {
        client,
        url: config.url.clone(),
        mix: Mutex::new(Mix::new(
            config.seed,
            &config.run_id,
            config.weights.clone(),
            config.trace_share,
        )),
        recorder: Mutex::new(Recorder::default()),
        issued: AtomicU64::new(0),
        max_requests: config.requests,
        deadline: config.duration.map(|duration| started + duration),
        pacer: config.rate.map(Pacer::new),
        cancel: cancel.clone(),
    });

    let workers: Vec<_> = (0..config.concurrency.max(1))
        .map(|_| tokio::spawn(worker(Arc::clone(&shared))))
        .collect();
    let workers_done = CancellationToken::new();
    let progress = tokio::spawn(show_progress(
        Progress::start(config.progress, config.requests, config.duration),
        Arc::clone(&shared),
        workers_done.clone(),
    ));
    for worker in workers {
        if let Err(err) = worker.await
            && err.is_panic()
        {
            std::panic::resume_unwind(err.into_panic());
        }
    }
    workers_done.cancel();
    let _ = progress.await;

    let recorder = shared.recorder.lock().expect("no worker panicked");
    let stopped = if cancel.is_cancelled() {
        StopReason::Interrupted
    } else if config.requests.is_some_and(|n| recorder.total() >= n) {
        StopReason::RequestCount
    } else {
        StopReason::Duration
    };
    Ok(recorder.summary(RunInfo {
        url: config.url.clone(),
        run_id: config.run_id.clone(),
        seed: config.seed,
        elapsed: started.elapsed(),
        stopped,
    }))
}

async fn check_health(client: &reqwest::Client, url: &str) -> Result<(), RunError> {
    let response = client
        .get(format!("{url}/healthz"))
        .timeout(HEALTH_TIMEOUT)
        .send()
        .await
        .map_err(|err| RunError::Unreachable {
            url: url.to_owned(),
            reason: request::describe(&err),
        })?;
    if !response.status().is_success() {
        return Err(RunError::NotHealthy {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    Ok(())
}

/// What the workers share. The mutexes are held for microseconds and never across an await.
struct Shared {
    client: reqwest::Client,
    url: String,
    /// One mix for all workers, so that the sequence of requests follows the seed.
    mix: Mutex<Mix>,
    recorder: Mutex<Recorder>,
    /// Requests started, to stop at exactly `max_requests`.
    issued: AtomicU64,
    max_requests: Option<u64>,
    deadline: Option<Instant>,
    pacer: Option<Pacer>,
    cancel: CancellationToken,
}

async fn worker(shared: Arc<Shared>) {
    loop {
        if shared.cancel.is_cancelled() {
            return;
        }
        if let Some(max) = shared.max_requests
            && shared.issued.fetch_add(1, Ordering::Relaxed) >= max
        {
            return;
        }
        if let Some(pacer) = &shared.pacer {
            let slot = pacer.next_slot();
            if shared.deadline.is_some_and(|deadline| slot >= deadline) {
                return;
            }
            tokio::select! {
                () = sleep_until(slot) => {}
                () = shared.cancel.cancelled() => return,
            }
        }
        // Requests in flight at the deadline finish and count; none start after it.
        if shared
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return;
        }

        let planned = shared.mix.lock().expect("mix lock").next_request();
        let started = Instant::now();
        // Ctrl-C abandons the requests in flight: stopping at once matters more than their
        // few milliseconds, and they are not counted.
        let (outcome, created_id) = tokio::select! {
            result = send(&shared, &planned) => result,
            () = shared.cancel.cancelled() => return,
        };
        let latency = started.elapsed();
        if let (Some(id), Some(email)) = (created_id, planned.email) {
            shared
                .mix
                .lock()
                .expect("mix lock")
                .record_created(id, email);
        }
        shared.recorder.lock().expect("recorder lock").record(
            planned.kind,
            planned.expected,
            outcome,
            latency,
        );
        if matches!(outcome, Outcome::Transport(_)) {
            tokio::select! {
                () = sleep(TRANSPORT_BACKOFF) => {}
                () = shared.cancel.cancelled() => return,
            }
        }
    }
}

async fn send(shared: &Shared, planned: &Planned) -> (Outcome, Option<u64>) {
    request::send(&shared.client, &shared.url, planned).await
}

/// Spaces request starts `1/rate` apart over all workers. Slots missed while every worker
/// was busy (a few slow requests at once) are made up, but only those of the last
/// [`CATCH_UP`]: the rate holds on average over any second or more, and a long stall does
/// not end in a long burst. Without catching up, `--rate 100` gave about 80 req/s.
struct Pacer {
    period: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(rate: f64) -> Self {
        Self {
            period: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        }
    }

    fn next_slot(&self) -> Instant {
        let mut next = self.next.lock().expect("pacer lock");
        let now = Instant::now();
        let slot = (*next).max(now.checked_sub(CATCH_UP).unwrap_or(now));
        *next = slot + self.period;
        slot
    }
}

async fn show_progress(progress: Progress, shared: Arc<Shared>, done: CancellationToken) {
    let Some(interval) = progress.interval() else {
        return;
    };
    let counts = || {
        let recorder = shared.recorder.lock().expect("recorder lock");
        (recorder.total(), recorder.failures())
    };
    loop {
        tokio::select! {
            () = sleep(interval) => {
                let (done, failures) = counts();
                progress.update(done, failures);
            }
            () = done.cancelled() => break,
        }
    }
    let (done, failures) = counts();
    progress.finish(done, failures);
}
