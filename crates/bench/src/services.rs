//! The services under test: each variant's user-service and email-service, started with the
//! test kit's [`Stack`] (a database, Kafka topic, consumer group and cache prefix of their
//! own, unique to the run), its OTLP receiver, and its traffic.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use loadgen::mix::Mix;
use otlp_receiver::OtlpReceiver;
use testkit::{ClosedPort, Stack, StackOptions, StepBinaries, services};

use crate::load::{Target, Traffic};
use crate::plan::{Cell, Condition, Settings, Variant, Workload};
use crate::report::Telemetry;

/// The steps' own default log filter (their `DEFAULT_LOG_FILTER`), the same for every step:
/// the test kit would otherwise set plain `info`.
pub const SERVICE_LOG_FILTER: &str = "info,sqlx::postgres::notice=warn,opentelemetry=warn";

/// Seeds of the mixes, one per workload: every variant gets the same sequence of requests.
const SEED: u64 = 20_260_505;

/// `step<N>-user-service` and `step<N>-email-service` in `dir` (e.g. `target/release`),
/// by step number.
pub fn find_binaries(dir: &Path) -> anyhow::Result<BTreeMap<u32, StepBinaries>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the binaries in {}", dir.display()))?;
    let mut steps = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(step) = name
            .to_str()
            .and_then(|name| name.strip_prefix("step")?.strip_suffix("-user-service"))
            .and_then(|number| number.parse::<u32>().ok())
        else {
            continue;
        };
        let email_service = dir.join(format!("step{step}-email-service"));
        if email_service.is_file() {
            steps.insert(
                step,
                StepBinaries {
                    user_service: entry.path(),
                    email_service,
                },
            );
        }
    }
    Ok(steps)
}

/// Fails with what to run when Postgres, Valkey or Kafka does not accept connections.
pub async fn check_dependencies() -> anyhow::Result<()> {
    let dependencies = [
        ("Postgres", services::postgres_admin_url()),
        ("Valkey/Redis", services::redis_url()),
        ("Kafka", services::kafka_brokers()),
    ];
    for (name, url) in dependencies {
        let address = services::host_port(&url);
        let connect = tokio::net::TcpStream::connect(address.clone());
        match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                bail!("{name} is not reachable at {address} ({err}): start it with `make services`")
            }
            Err(_) => bail!("{name} at {address} did not accept a connection within 3 s"),
        }
    }
    Ok(())
}

/// A variant's services, running, with everything the run keeps about them.
pub struct Running {
    pub variant: Variant,
    pub stack: Stack,
    /// `None` when the collector is down.
    pub receiver: Option<OtlpReceiver>,
    /// Keeps the "collector down" port closed (bound, not listening) for the whole run.
    _closed_port: Option<ClosedPort>,
    pub target: Target,
    pub pid: u32,
    /// By cell, in the order of [`Cell::all`].
    pub traffic: Vec<Arc<Traffic>>,
    /// Unmeasured load (warm-up), apart from the measured cells.
    pub warm_traffic: Arc<Traffic>,
    /// A cheap cache-hit `GET`, to warm connections before a window opens.
    pub warm_path: String,
    pub rss_start: Option<u64>,
    /// Every measured window so far.
    windows: Vec<Window>,
    /// Spans and log records that started in a window of the cell, by cell, whenever they
    /// arrived (metric points are never attributed to a cell: see [`Running::collect_telemetry`]).
    pub cell_telemetry: Vec<Telemetry>,
    /// Everything else received: start-up, warm-up, between windows, after a drain, metric
    /// points. The whole run is `cell_telemetry` plus this.
    pub unattributed: Telemetry,
}

/// A measured window of one cell, from its opening until the variant's next segment began,
/// in Unix nanoseconds (the clock telemetry timestamps use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub cell: usize,
    pub from: u64,
    pub to: u64,
}

/// Unix nanoseconds of a wall-clock time.
pub fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

/// How many of `times` fall in a window of each cell (by cell), and how many in none.
pub fn attribute(
    times: impl Iterator<Item = u64>,
    windows: &[Window],
    cells: usize,
) -> (Vec<u64>, u64) {
    let mut by_cell = vec![0; cells];
    let mut outside = 0;
    for time in times {
        match windows.iter().find(|w| (w.from..=w.to).contains(&time)) {
            Some(window) => by_cell[window.cell] += 1,
            None => outside += 1,
        }
    }
    (by_cell, outside)
}

impl Running {
    /// Starts the variant's two services and creates its first users. `run_id` makes the
    /// emails unique.
    pub async fn start(
        variant: Variant,
        binaries: &StepBinaries,
        cells: &[Cell],
        settings: &Settings,
        run_id: &str,
    ) -> anyhow::Result<Self> {
        let (receiver, closed_port, mut options) = match variant.condition {
            Condition::CollectorDown => {
                let port = ClosedPort::new();
                let options = StackOptions::default().env(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    format!("http://{}", port.address()),
                );
                (None, Some(port), options)
            }
            condition => {
                let receiver = OtlpReceiver::start()
                    .await
                    .context("cannot start the OTLP receiver")?;
                let mut options = StackOptions::default()
                    .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint());
                if condition == Condition::Unsampled {
                    options = options.env("OTEL_TRACES_SAMPLER", "always_off");
                }
                (Some(receiver), None, options)
            }
        };
        options = options
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .env("RUST_LOG", SERVICE_LOG_FILTER)
            .env(
                "DATABASE_MAX_CONNECTIONS",
                settings.database_pool.to_string(),
            );
        for (key, value) in &settings.service_env {
            options = options.env(key, value);
        }

        // The test kit panics with the service's output when a service does not start: turn
        // that into an error of this variant.
        let binaries = binaries.clone();
        let stack = tokio::spawn(async move { Stack::start(&binaries, options).await })
            .await
            .map_err(|err| anyhow::anyhow!("{variant} did not start: {}", panic_text(err)))?;
        let pid = stack
            .user_service
            .pid()
            .with_context(|| format!("{variant}: the user-service has no pid"))?;
        let rss_start = crate::procfs::rss_bytes(pid).ok();
        let target = Target::new(stack.user_service.base_url(), settings.connections * 4)?;

        let mix = |workload: Workload, purpose: &str| {
            Mix::new(
                SEED + workload as u64,
                &format!("{run_id}-{purpose}"),
                workload.weights(),
                0.0,
            )
        };
        let mut seeding = mix(Workload::Post, "seed");
        let users = crate::load::create_users(&target, &mut seeding, settings.seed_users.max(1))
            .await
            .with_context(|| format!("{variant}: cannot create the first users"))?;
        let mixes: BTreeMap<Workload, Arc<Mutex<Mix>>> = Workload::ALL
            .into_iter()
            .map(|workload| {
                let mut mix = mix(workload, workload.name());
                for (id, email) in &users {
                    mix.record_created(*id, email.clone());
                }
                (workload, Arc::new(Mutex::new(mix)))
            })
            .collect();
        let traffic = cells
            .iter()
            .map(|cell| Traffic::new(mixes[&cell.workload].clone()))
            .collect();
        let mut warm_mix = mix(Workload::Get, "warm");
        for (id, email) in &users {
            warm_mix.record_created(*id, email.clone());
        }
        Ok(Self {
            variant,
            stack,
            receiver,
            _closed_port: closed_port,
            target,
            pid,
            traffic,
            warm_traffic: Traffic::new(Arc::new(Mutex::new(warm_mix))),
            warm_path: format!("/users/{}", users[0].0),
            rss_start,
            windows: Vec::new(),
            cell_telemetry: vec![Telemetry::default(); cells.len()],
            unattributed: Telemetry::default(),
        })
    }

    /// Call before a segment's load starts (warm-up included): the telemetry of the
    /// variant's previous window ends here.
    pub fn begin_segment(&mut self) {
        if let Some(last) = self.windows.last_mut() {
            last.to = last.to.min(unix_nanos(SystemTime::now()));
        }
    }

    /// Records a measured window of `cell` that opened at `opened_at`. Its telemetry counts
    /// until the next [`Running::begin_segment`]: a span that starts later than the drain
    /// (a Kafka consumer catching up after a burst of creates) still belongs to the requests
    /// of this window, and between its segments a variant gets no requests.
    pub fn close_window(&mut self, cell: usize, opened_at: SystemTime) {
        self.windows.push(Window {
            cell,
            from: unix_nanos(opened_at),
            to: u64::MAX,
        });
    }

    /// Counts what the receiver accepted since the last call (see [`count_and_clear`]).
    pub async fn collect_telemetry(&mut self) {
        let Some(receiver) = &self.receiver else {
            return;
        };
        let (by_cell, rest) =
            count_and_clear(receiver, &self.windows, self.cell_telemetry.len()).await;
        for (total, counted) in self.cell_telemetry.iter_mut().zip(by_cell) {
            *total += counted;
        }
        self.unattributed += rest;
    }

    /// The whole run's telemetry: every cell's and the rest.
    pub fn total_telemetry(&self) -> Telemetry {
        let mut total = self.unattributed;
        for telemetry in &self.cell_telemetry {
            total += *telemetry;
        }
        total
    }

    /// Stops both services with SIGTERM (they flush their telemetry), counts what arrived,
    /// and deletes the variant's cache keys, database and topic. Returns the telemetry by
    /// cell and the whole run's.
    pub async fn stop(mut self) -> anyhow::Result<(Vec<Telemetry>, Telemetry)> {
        let timeout = Duration::from_secs(10);
        let stopped = tokio::spawn(async move {
            self.stack.user_service.stop(timeout).await;
            self.stack.email_service.stop(timeout).await;
            self
        })
        .await;
        let mut this = match stopped {
            Ok(this) => this,
            Err(err) => bail!("a service did not stop: {}", panic_text(err)),
        };
        this.collect_telemetry().await;
        let telemetry = (this.cell_telemetry.clone(), this.total_telemetry());
        let prefix = this.stack.cache_prefix.clone();
        if let Err(err) = delete_cache_keys(&prefix).await {
            eprintln!("bench: warning: cannot delete the cache keys {prefix}:*: {err:#}");
        }
        let group = this.stack.consumer_group.clone();
        if let Err(err) = delete_consumer_group(this.stack.topic.brokers(), &group).await {
            eprintln!("bench: warning: cannot delete the consumer group {group}: {err:#}");
        }
        // The database and the topic are dropped with the stack; that blocks (it runs its
        // own small runtime), so not on one of this runtime's workers.
        let Self {
            stack, receiver, ..
        } = this;
        drop(receiver);
        tokio::task::spawn_blocking(move || drop(stack)).await?;
        Ok(telemetry)
    }
}

/// Counts what `receiver` accepted, then has it forget it all (a long run would otherwise
/// keep every span in memory). Returns the counts by cell, and the rest.
///
/// Spans and log records go to the cell of the window they started in, by their own
/// timestamps: an export that arrives late (the batch processor waits up to 5 s) still counts
/// where it belongs. Metric points describe a whole export interval (60 s by default), not a
/// request: they are always in the rest.
pub async fn count_and_clear(
    receiver: &OtlpReceiver,
    windows: &[Window],
    cells: usize,
) -> (Vec<Telemetry>, Telemetry) {
    // The predicates count under the receiver's lock, without copying what it holds
    // (`spans()` would clone every span). They return false, so the waits end at once; a
    // predicate may run again if an export arrives meanwhile, and the last count wins.
    let spans = Mutex::new((vec![0; cells], 0));
    let _ = receiver
        .wait_for_spans(Duration::ZERO, |items| {
            let times = items.iter().map(|span| span.start_unix_nano);
            *spans.lock().expect("count lock") = attribute(times, windows, cells);
            false
        })
        .await;
    let logs = Mutex::new((vec![0; cells], 0));
    let _ = receiver
        .wait_for_log_records(Duration::ZERO, |items| {
            let times = items.iter().map(|record| match record.time_unix_nano {
                0 => record.observed_time_unix_nano,
                time => time,
            });
            *logs.lock().expect("count lock") = attribute(times, windows, cells);
            false
        })
        .await;
    let points = Mutex::new(0u64);
    let _ = receiver
        .wait_for_metric_points(Duration::ZERO, |items| {
            *points.lock().expect("count lock") = items.len() as u64;
            false
        })
        .await;
    receiver.clear();

    let (span_cells, spans_outside) = spans.into_inner().expect("count lock");
    let (log_cells, logs_outside) = logs.into_inner().expect("count lock");
    let by_cell = span_cells
        .into_iter()
        .zip(log_cells)
        .map(|(spans, log_records)| Telemetry {
            spans,
            metric_points: 0,
            log_records,
        })
        .collect();
    let rest = Telemetry {
        spans: spans_outside,
        metric_points: points.into_inner().expect("count lock"),
        log_records: logs_outside,
    };
    (by_cell, rest)
}

/// `UNLINK` every key under the variant's cache prefix.
async fn delete_cache_keys(prefix: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(services::redis_url())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{prefix}:*");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            let _: i64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut connection)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Deletes the variant's consumer group (its members, the services, have stopped).
async fn delete_consumer_group(brokers: &str, group: &str) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;

    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    let results = tokio::time::timeout(
        Duration::from_secs(6),
        admin.delete_groups(&[group], &options),
    )
    .await??;
    for result in results {
        if let Err((_, code)) = result {
            bail!("{code}");
        }
    }
    Ok(())
}

/// The message of a panicked task (the test kit panics with the service's output).
fn panic_text(err: tokio::task::JoinError) -> String {
    if !err.is_panic() {
        return err.to_string();
    }
    let payload = err.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panicked".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_go_to_the_cell_of_their_window() {
        let windows = [
            Window {
                cell: 0,
                from: 100,
                to: 200,
            },
            Window {
                cell: 1,
                from: 300,
                to: 400,
            },
            Window {
                cell: 0,
                from: 500,
                to: 600,
            },
        ];
        let times = [50, 100, 150, 200, 250, 300, 399, 401, 550, 700];
        assert_eq!(
            attribute(times.into_iter(), &windows, 3),
            (vec![4, 2, 0], 4)
        );
        assert_eq!(attribute(times.into_iter(), &[], 2), (vec![0, 0], 10));
    }

    #[test]
    fn finds_step_binaries_in_pairs() {
        let dir = std::env::temp_dir().join(format!("bench-bins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "step1-user-service",
            "step1-email-service",
            "step2-user-service",
            "step12-user-service",
            "step12-email-service",
            "stepx-user-service",
            "bench",
        ] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        let found = find_binaries(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.keys().copied().collect::<Vec<_>>(), [1, 12]);
        assert!(found[&12].email_service.ends_with("step12-email-service"));
    }
}
