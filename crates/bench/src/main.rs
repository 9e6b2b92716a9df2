//! `bench`: parse the options, run, write the results, print the summary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bench::plan::{Settings, Workload};
use bench::run::{Options, run};
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// Every step against step 1 in one run: throughput, latency, CPU and memory per request,
/// and the telemetry received, at saturation and at a fixed rate. Expects release builds of
/// the steps next to it (`make bench` builds them first).
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
struct Cli {
    /// A short run for CI (≤ 40 s): one round of short segments. Its results go to
    /// target/bench-quick/, not bench/results/: they are not for committing.
    #[arg(long, env = "BENCH_QUICK", value_parser = clap::builder::FalseyValueParser::new())]
    quick: bool,
    /// Rounds (each measures every cell on every variant once) [default: 3; quick: 1]
    #[arg(long)]
    rounds: Option<u32>,
    /// Length of one segment [default: 1.6s; quick: 300ms]
    #[arg(long, value_parser = humantime::parse_duration)]
    segment: Option<Duration>,
    /// Connections at saturation [default: 16]
    #[arg(long)]
    connections: Option<usize>,
    /// The fixed rate, as a share of the slowest variant's saturation throughput [default: 0.5]
    #[arg(long)]
    rate_fraction: Option<f64>,
    /// Upper bound of the whole run; segments that would not fit are left out
    /// [default: 5m; quick: 40s]
    #[arg(long, value_parser = humantime::parse_duration)]
    time_limit: Option<Duration>,
    /// Steps to compare with step 1, e.g. `3` or `2,3` [default: every step built]
    #[arg(long, value_delimiter = ',')]
    steps: Option<Vec<u32>>,
    /// Workloads: get, post, mix [default: all]
    #[arg(long, value_delimiter = ',', value_parser = parse_workload)]
    workloads: Option<Vec<Workload>>,
    /// Where the step binaries are [default: the directory of this executable]
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The results folder [default: bench/results/<date>-<commit> of the repository]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Extra environment for every variant's services, e.g. `--env OTEL_BSP_SCHEDULE_DELAY=1000`
    /// (repeatable): to measure what a setting costs or saves
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    service_env: Vec<(String, String)>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?}: expected KEY=VALUE")),
    }
}

fn parse_workload(text: &str) -> Result<Workload, String> {
    Workload::ALL
        .into_iter()
        .find(|workload| workload.name() == text.trim())
        .ok_or_else(|| format!("unknown workload {text:?}: get, post or mix"))
}

impl Cli {
    fn options(self) -> Options {
        let mut settings = if self.quick {
            Settings::quick()
        } else {
            Settings::full()
        };
        if let Some(rounds) = self.rounds {
            settings.rounds = rounds.max(1);
            settings.fit_to_limit = false;
        }
        if let Some(segment) = self.segment {
            settings.segment = segment;
            settings.fit_to_limit = false;
        }
        if let Some(connections) = self.connections {
            settings.connections = connections.max(1);
        }
        if let Some(fraction) = self.rate_fraction {
            settings.rate_fraction = fraction.clamp(0.01, 1.0);
        }
        if let Some(limit) = self.time_limit {
            settings.time_limit = limit;
        }
        settings.service_env = self.service_env;
        if let Some(workloads) = self.workloads {
            settings.workloads = Workload::ALL
                .into_iter()
                .filter(|w| workloads.contains(w))
                .collect();
        }
        let command = if std::env::var_os("MAKELEVEL").is_some() {
            format!(
                "make bench{}",
                if self.quick { " BENCH_QUICK=1" } else { "" }
            )
        } else {
            std::iter::once("bench".to_owned())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let bin_dir = self.bin_dir.unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("target/release"))
        });
        Options {
            settings,
            bin_dir,
            steps: self.steps,
            root: repository_root(),
            out: self.out,
            command,
        }
    }
}

/// The workspace this binary was built from, or the current directory if it is gone.
fn repository_root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    built
        .canonicalize()
        .ok()
        .filter(|root| root.join("Cargo.toml").is_file())
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = Cli::parse().options();
    let cancel = CancellationToken::new();
    tokio::spawn({
        let cancel = cancel.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nbench: Ctrl-C: stopping after this segment, then cleaning up");
                cancel.cancel();
            }
        }
    });
    match run(&options, &cancel).await {
        Ok((report, folder)) => {
            let markdown = report.markdown(bench::run::PLOT_FILE);
            // The summary table, up to the plot.
            let summary: String = markdown
                .lines()
                .skip_while(|line| !line.starts_with("## Summary"))
                .take_while(|line| !line.starts_with("!["))
                .map(|line| format!("{line}\n"))
                .collect();
            println!("{}", summary.trim_end());
            eprintln!(
                "bench: done in {:.0} s; results in {}",
                report.meta.duration.as_secs_f64(),
                folder.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
