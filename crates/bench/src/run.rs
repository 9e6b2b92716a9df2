//! A whole run: start every variant, warm up, measure the segments in rounds, stop, and turn
//! what was measured into a [`Report`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use loadgen::stats::{RunInfo, StopReason};
use tokio_util::sync::CancellationToken;

use crate::load::{self, Pace};
use crate::machine::{self, Machine};
use crate::plan::{self, Cell, Load, Settings, Variant, Workload};
use crate::procfs;
use crate::progress::Progress;
use crate::report::{CellRow, Meta, Report, Telemetry, VariantRow};
use crate::services::{self, Running};

/// Everything a run needs besides [`Settings`].
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// Where the step binaries are (e.g. `target/release`).
    pub bin_dir: PathBuf,
    /// Only these steps (1 is always included: it is the baseline).
    pub steps: Option<Vec<u32>>,
    /// The repository, for the commit and the default results folder.
    pub root: PathBuf,
    /// The results folder; by default `bench/results/<date>-<commit>` of the repository
    /// (`target/bench-quick/…` for a quick run, which is not for committing).
    pub out: Option<PathBuf>,
    /// How the run was started, for the results.
    pub command: String,
}

/// What a variant × cell accumulates over the rounds.
#[derive(Debug, Clone, Default)]
struct Accumulated {
    elapsed: Duration,
    requests: u64,
    round_rates: Vec<f64>,
    cpu: Duration,
    cpu_missing: bool,
    skipped: u64,
}

/// Runs the benchmark and writes the results; returns the report and its folder.
pub async fn run(
    options: &Options,
    cancel: &CancellationToken,
) -> anyhow::Result<(Report, PathBuf)> {
    let started = Instant::now();
    let settings = &options.settings;
    let date = chrono::Utc::now();

    let binaries = services::find_binaries(&options.bin_dir)?;
    if !binaries.contains_key(&1) {
        bail!(
            "no step1-user-service and step1-email-service in {}: build them first \
             (`make bench` does: cargo build --release -p step1-plain -p step2-traces …)",
            options.bin_dir.display()
        );
    }
    let steps: Vec<u32> = binaries
        .keys()
        .copied()
        .filter(|step| {
            *step == 1
                || options
                    .steps
                    .as_ref()
                    .is_none_or(|wanted| wanted.contains(step))
        })
        .collect();
    services::check_dependencies().await?;

    let variants = Variant::all(&steps);
    let cells = Cell::all(&settings.workloads);
    // Every round inside the time limit, however many steps there are to measure.
    let fitted = settings.fitted(variants.len(), cells.len());
    let settings = &fitted;
    let schedule = plan::schedule(settings.rounds, cells.len(), variants.len());
    let mut progress = Progress::new(schedule.len(), started);
    progress.say(&format!(
        "{} variants ({}), {} cells, {} round(s) of {:.1} s segments: {} segments; at most {}",
        variants.len(),
        variants
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        cells.len(),
        settings.rounds,
        settings.segment.as_secs_f64(),
        schedule.len(),
        crate::progress::clock(settings.time_limit),
    ));

    // Start every variant at once: each start waits for Postgres, migrations, Kafka.
    let run_id = format!(
        "bench-{}-{:04x}",
        date.format("%Y%m%d%H%M%S"),
        fastrand::u16(..)
    );
    let mut starting = Vec::new();
    for (index, &variant) in variants.iter().enumerate() {
        let binaries = binaries[&variant.step].clone();
        let (cells, settings) = (cells.clone(), settings.clone());
        let run_id = format!("{run_id}-{index}");
        starting.push(tokio::spawn(async move {
            Running::start(variant, &binaries, &cells, &settings, &run_id).await
        }));
    }
    let mut running = Vec::new();
    let mut failure = None;
    for task in starting {
        match task.await {
            Ok(Ok(service)) => running.push(service),
            Ok(Err(err)) => failure = failure.or(Some(err)),
            Err(err) => failure = failure.or(Some(anyhow::anyhow!("start-up panicked: {err}"))),
        }
    }
    if let Some(err) = failure {
        stop_all(running).await;
        return Err(err);
    }
    progress.say(&format!(
        "{} pairs of services ready in {:.1} s; warming up",
        running.len(),
        started.elapsed().as_secs_f64()
    ));

    let measured = measure(
        &mut running,
        &cells,
        &schedule,
        settings,
        started,
        &mut progress,
        cancel,
    )
    .await;
    progress.finish();
    let rss_end: Vec<Option<u64>> = running
        .iter()
        .map(|service| procfs::rss_bytes(service.pid).ok())
        .collect();

    progress.say("stopping the services and cleaning up");
    let mut cell_rows: Vec<Vec<CellRow>> = running
        .iter()
        .enumerate()
        .map(|(index, service)| {
            summarize(
                index,
                service,
                &cells,
                &measured.accumulated[index],
                &measured.rates,
            )
        })
        .collect();
    let mut variant_rows: Vec<VariantRow> = running
        .iter()
        .zip(rss_end)
        .map(|(service, rss_end)| VariantRow {
            variant: service.variant,
            rss_start: service.rss_start,
            rss_end,
            requests: service.target.sent(),
            telemetry: service.total_telemetry(),
        })
        .collect();
    // The flush at shutdown adds the spans still in the batch queues.
    for (index, flushed) in stop_all(running).await.into_iter().enumerate() {
        if let Some((by_cell, total)) = flushed {
            variant_rows[index].telemetry = total;
            for row in &mut cell_rows[index] {
                row.telemetry = by_cell[cells.iter().position(|c| *c == row.cell).unwrap_or(0)];
            }
        }
    }
    let (commit, dirty) = machine::commit(&options.root);
    let report = Report {
        meta: Meta {
            date: date.format("%Y-%m-%d %H:%M UTC").to_string(),
            commit,
            dirty,
            machine: Machine::detect(),
            quick: settings.quick,
            rounds: settings.rounds,
            segments_done: measured.done,
            segments_planned: schedule.len(),
            segment: settings.segment,
            max_drain: settings.max_drain,
            connections: settings.connections,
            rate_fraction: settings.rate_fraction,
            database_pool: settings.database_pool,
            duration: started.elapsed(),
            command: options.command.clone(),
        },
        variants: variant_rows,
        cells: cell_rows.into_iter().flatten().collect(),
    };
    let folder = options
        .out
        .clone()
        .unwrap_or_else(|| default_folder(&options.root, &report.meta, &date));
    write(&report, &folder)?;
    Ok((report, folder))
}

struct Measurement {
    /// [variant][cell]
    accumulated: Vec<Vec<Accumulated>>,
    /// The open loop's rate, per workload.
    rates: BTreeMap<Workload, f64>,
    /// Segments measured.
    done: usize,
}

async fn measure(
    running: &mut [Running],
    cells: &[Cell],
    schedule: &[plan::Segment],
    settings: &Settings,
    started: Instant,
    progress: &mut Progress,
    cancel: &CancellationToken,
) -> Measurement {
    let deadline = started
        + settings
            .time_limit
            .saturating_sub(settings.teardown_reserve());
    let pace = Pace::Closed {
        connections: settings.connections,
    };
    for service in running.iter_mut() {
        if cancel.is_cancelled() {
            break;
        }
        load::run(
            &service.target,
            &service.warm_traffic,
            pace,
            settings.warmup,
            &service.warm_path,
            None,
            cancel,
        )
        .await;
    }
    // Whatever the start-up and the warm-up exported (it may still arrive later: then it
    // counts with the first segment, a batch at most).
    tokio::time::sleep(Duration::from_millis(100)).await;
    for service in running.iter_mut() {
        service.collect_telemetry().await;
    }

    let mut accumulated = vec![vec![Accumulated::default(); cells.len()]; running.len()];
    let mut rates = BTreeMap::new();
    let mut done = 0;
    let measuring = Instant::now();
    for segment in schedule {
        if cancel.is_cancelled() {
            progress.say("interrupted: reporting what was measured");
            break;
        }
        if Instant::now() + settings.segment + settings.max_drain > deadline {
            progress.say(&format!(
                "time limit: stopping after {done} of {} segments",
                schedule.len()
            ));
            break;
        }
        let cell = cells[segment.cell];
        let pace = match cell.load {
            Load::Saturation => Pace::Closed {
                connections: settings.connections,
            },
            Load::FixedRate => {
                let rate = *rates.entry(cell.workload).or_insert_with(|| {
                    fixed_rate(&accumulated, cells, cell.workload, settings.rate_fraction)
                });
                Pace::Open { rate }
            }
        };
        let service = &mut running[segment.variant];
        service.begin_segment();
        let traffic = &service.traffic[segment.cell];
        let window = load::run(
            &service.target,
            traffic,
            pace,
            settings.segment,
            &service.warm_path,
            Some(service.pid),
            cancel,
        )
        .await;
        settle(service.pid, settings.max_drain).await;
        let cpu_end = procfs::cpu_time(service.pid).ok();
        service.close_window(segment.cell, window.opened_at);
        service.collect_telemetry().await;

        let acc = &mut accumulated[segment.variant][segment.cell];
        acc.elapsed += window.elapsed;
        acc.requests += window.requests;
        acc.skipped += window.skipped;
        let rate = window.requests as f64 / window.elapsed.as_secs_f64().max(1e-9);
        acc.round_rates.push(rate);
        match (window.cpu_at_start, cpu_end) {
            (Some(start), Some(end)) => acc.cpu += end.saturating_sub(start),
            _ => acc.cpu_missing = true,
        }
        done += 1;
        let per_segment = measuring.elapsed() / done as u32;
        let remaining =
            per_segment * (schedule.len() - done) as u32 + settings.teardown_reserve() / 2;
        progress.update(
            done,
            segment.round,
            settings.rounds,
            &format!("{} · {cell} · {:.0} req/s", service.variant, rate),
            remaining.min(
                deadline.saturating_duration_since(Instant::now()) + settings.teardown_reserve(),
            ),
        );
    }
    Measurement {
        accumulated,
        rates,
        done,
    }
}

/// The open loop's rate for `workload`: `fraction` of the slowest variant's throughput at
/// saturation so far (round 1), so that every variant stays below saturation.
fn fixed_rate(
    accumulated: &[Vec<Accumulated>],
    cells: &[Cell],
    workload: Workload,
    fraction: f64,
) -> f64 {
    let saturation = cells.iter().position(|c| {
        *c == Cell {
            workload,
            load: Load::Saturation,
        }
    });
    let slowest = saturation
        .map(|index| {
            accumulated
                .iter()
                .filter_map(|cells| cells[index].round_rates.first().copied())
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|rate| rate.is_finite() && *rate > 0.0)
        .unwrap_or(200.0);
    (slowest * fraction).max(1.0)
}

/// Waits until the process's CPU use settles (at most one clock tick in 100 ms, i.e. under
/// 10 % of a core; an idle service uses about 1 %), at most `max`: work left behind by the
/// last requests is counted with them.
async fn settle(pid: u32, max: Duration) {
    let tick = Duration::from_micros(1_000_000 / procfs::clock_ticks_per_second());
    let deadline = Instant::now() + max;
    let Ok(mut last) = procfs::cpu_time(pid) else {
        return;
    };
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok(now) = procfs::cpu_time(pid) else {
            return;
        };
        if now.saturating_sub(last) <= tick {
            return;
        }
        last = now;
    }
}

/// A variant's rows, one per cell it was measured in. Telemetry is the counts so far (the
/// flush at shutdown adds to them).
fn summarize(
    index: usize,
    service: &Running,
    cells: &[Cell],
    accumulated: &[Accumulated],
    rates: &BTreeMap<Workload, f64>,
) -> Vec<CellRow> {
    cells
        .iter()
        .enumerate()
        .filter(|(c, _)| !accumulated[*c].round_rates.is_empty())
        .map(|(c, &cell)| {
            let acc = &accumulated[c];
            let summary = service.traffic[c]
                .recorder
                .lock()
                .expect("recorder lock")
                .summary(RunInfo {
                    url: service.target.base_url.clone(),
                    run_id: String::new(),
                    seed: 0,
                    elapsed: acc.elapsed,
                    stopped: StopReason::Duration,
                });
            CellRow {
                variant: index,
                cell,
                requests: acc.requests,
                elapsed: acc.elapsed,
                round_rates: acc.round_rates.clone(),
                p50: summary.latency.map(|l| l.p50),
                p99: summary.latency.map(|l| l.p99),
                cpu: (!acc.cpu_missing).then_some(acc.cpu),
                errors: summary.unexpected() + summary.transport_errors(),
                telemetry: service.cell_telemetry[c],
                target_rate: match cell.load {
                    Load::FixedRate => rates.get(&cell.workload).copied(),
                    Load::Saturation => None,
                },
                skipped: acc.skipped,
            }
        })
        .collect()
}

/// Stops every variant at once; returns, in order, each one's telemetry by cell and in all
/// (`None` when it could not be stopped cleanly).
async fn stop_all(running: Vec<Running>) -> Vec<Option<(Vec<Telemetry>, Telemetry)>> {
    let tasks: Vec<_> = running
        .into_iter()
        .map(|service| (service.variant, tokio::spawn(service.stop())))
        .collect();
    let mut stopped = Vec::new();
    for (variant, task) in tasks {
        match task.await {
            Ok(Ok(telemetry)) => stopped.push(Some(telemetry)),
            Ok(Err(err)) => {
                eprintln!("bench: warning: {variant}: {err:#}");
                stopped.push(None);
            }
            Err(err) => {
                eprintln!("bench: warning: {variant}: stopping panicked: {err}");
                stopped.push(None);
            }
        }
    }
    stopped
}

/// `bench/results/<date>-<commit>` (or `target/bench-quick/…`), with `-2`, `-3`… when a
/// run of the same day and commit is already there.
fn default_folder(root: &Path, meta: &Meta, date: &chrono::DateTime<chrono::Utc>) -> PathBuf {
    let parent = if meta.quick {
        root.join("target").join("bench-quick")
    } else {
        root.join("bench").join("results")
    };
    let base = format!("{}-{}", date.format("%Y-%m-%d"), meta.commit);
    let mut folder = parent.join(&base);
    let mut n = 2;
    while folder.exists() {
        folder = parent.join(format!("{base}-{n}"));
        n += 1;
    }
    folder
}

/// The plot's file name in the results folder.
pub const PLOT_FILE: &str = "cpu-per-request.svg";

/// The headline table as CSV, for the slide deck (`slides/layouts/shortcodes/bench.html`).
pub const SUMMARY_FILE: &str = "summary.csv";

/// Writes `README.md`, `summary.csv` and the plot into `folder` (created if missing).
pub fn write(report: &Report, folder: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    std::fs::write(folder.join("README.md"), report.markdown(PLOT_FILE))
        .with_context(|| format!("cannot write {}/README.md", folder.display()))?;
    std::fs::write(folder.join(PLOT_FILE), crate::svg::plot(report))
        .with_context(|| format!("cannot write {}/{PLOT_FILE}", folder.display()))?;
    std::fs::write(folder.join(SUMMARY_FILE), report.summary_csv())
        .with_context(|| format!("cannot write {}/{SUMMARY_FILE}", folder.display()))?;
    Ok(())
}
