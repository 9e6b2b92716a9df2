//! Command-line options (each with a `LOADGEN_…` environment fallback) and their checks.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Parser;

use crate::mix::{DEFAULT_TRACE_SHARE, Weights};
use crate::progress::ProgressMode;
use crate::run::Config;

/// Without --duration or --requests a run lasts this long.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Realistic mixed traffic against a running user-service, with a progress bar and a summary",
    after_help = "\
Request kinds (default weights, in %): create 15, read 40, read-unknown 8, invalid-body 5,
duplicate 4, demo-work 12, demo-status 3, demo-error 2, demo-cpu 5, demo-logs 6.
4xx and 5xx answers are part of the mix; the summary's \"unexpected\" column counts answers
other than the one each request asks for. Exit code 0 after a run, 1 when the service is
not reachable at start, 2 for bad options.

Examples:
  loadgen                                  # 60 s, 8 workers, as fast as the service answers
  loadgen --duration 2m --rate 50          # 2 minutes at most 50 requests per second
  loadgen --requests 1000 --seed 42 --quiet
  loadgen --mix read=9,create=1            # only reads and creates"
)]
pub struct Cli {
    /// Base URL of the user-service
    #[arg(long, env = "LOADGEN_URL", default_value = "http://127.0.0.1:8080", value_parser = parse_url)]
    pub url: String,

    /// How long to run, e.g. 30s, 2m, 1h30m (default 60s unless --requests is given; with
    /// both, whichever comes first ends the run)
    #[arg(long, env = "LOADGEN_DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// How many requests to send
    #[arg(long, env = "LOADGEN_REQUESTS", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Requests in flight at once
    #[arg(long, env = "LOADGEN_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// At most this many requests per second over all workers (0 = unlimited)
    #[arg(long, env = "LOADGEN_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub rate: f64,

    /// Seed of the request mix: the same seed sends the same sequence of kinds and
    /// parameters (default: random, printed in the summary)
    #[arg(long, env = "LOADGEN_SEED")]
    pub seed: Option<u64>,

    /// Weights of the request kinds, e.g. read=9,create=1 (only the kinds listed are sent)
    #[arg(long, env = "LOADGEN_MIX", value_name = "KIND=WEIGHT,...")]
    pub mix: Option<Weights>,

    /// Share of requests (0–1) that carry a W3C traceparent and session baggage
    #[arg(long, env = "LOADGEN_TRACE_SHARE", default_value_t = DEFAULT_TRACE_SHARE, value_parser = parse_share)]
    pub trace_share: f64,

    /// Give up on a request after this long (counted as "no answer")
    #[arg(long, env = "LOADGEN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// No progress display (for CI); the summary is still printed
    // Boolish, so that LOADGEN_QUIET=1 (as CI scripts write it) works, not only "true".
    #[arg(long, short, env = "LOADGEN_QUIET", value_parser = clap::builder::BoolishValueParser::new())]
    pub quiet: bool,
}

impl Cli {
    pub fn into_config(self) -> Config {
        let progress = if self.quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            // A bar in a CI log is a wall of carriage returns: print a line now and then.
            ProgressMode::Lines
        };
        let duration = match (self.duration, self.requests) {
            (None, None) => Some(DEFAULT_DURATION),
            (duration, _) => duration,
        };
        Config {
            url: self.url,
            duration,
            requests: self.requests,
            concurrency: self.concurrency as usize,
            rate: (self.rate > 0.0).then_some(self.rate),
            // Not seeded from the clock on purpose: the seed is printed, so any run can be
            // replayed, while the run id (emails, baggage) stays unique per run.
            seed: self.seed.unwrap_or_else(|| fastrand::u64(..)),
            run_id: new_run_id(),
            weights: self.mix.unwrap_or_default(),
            trace_share: self.trace_share,
            timeout: self.timeout,
            progress,
        }
    }
}

/// Eight hex digits: short enough to read in an email or a baggage value, and unique enough
/// across the runs of one workshop database.
pub fn new_run_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}

fn parse_url(text: &str) -> Result<String, String> {
    let url =
        reqwest::Url::parse(text).map_err(|err| format!("{err} (try http://127.0.0.1:8080)"))?;
    if url.scheme() != "http" {
        // reqwest is built without TLS: the workshop services speak plain HTTP.
        return Err(format!("only http:// URLs are supported, got {text}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("expected a base URL without query, got {text}"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!("expected requests per second ≥ 0, got {text}")),
    }
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("expected a share between 0 and 1, got {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_run_60_seconds_with_8_workers_unlimited() {
        // Env fallbacks would change the defaults; the test environment sets none.
        let config = parse(&[]).unwrap().into_config();
        assert_eq!(config.url, "http://127.0.0.1:8080");
        assert_eq!(config.duration, Some(Duration::from_secs(60)));
        assert_eq!(config.requests, None);
        assert_eq!(config.concurrency, 8);
        assert_eq!(config.rate, None);
        assert_eq!(config.weights, Weights::default());
        assert_eq!(config.run_id.len(), 8);
    }

    #[test]
    fn requests_alone_have_no_duration_and_both_can_be_combined() {
        let config = parse(&["--requests", "500"]).unwrap().into_config();
        assert_eq!((config.requests, config.duration), (Some(500), None));
        let config = parse(&["--requests", "5", "--duration", "2m"])
            .unwrap()
            .into_config();
        assert_eq!(
            (config.requests, config.duration),
            (Some(5), Some(Duration::from_secs(120)))
        );
    }

    #[test]
    fn options_are_parsed_and_checked() {
        let cli = parse(&[
            "--url",
            "http://localhost:9000/",
            "--duration",
            "1m30s",
            "--rate",
            "12.5",
            "--seed",
            "7",
            "--mix",
            "read=1",
            "--quiet",
        ])
        .unwrap();
        assert!(cli.quiet);
        let config = cli.into_config();
        assert_eq!(config.url, "http://localhost:9000");
        assert_eq!(config.duration, Some(Duration::from_secs(90)));
        assert_eq!(config.rate, Some(12.5));
        assert_eq!(config.seed, 7);
        assert_eq!(config.progress, ProgressMode::Quiet);

        for bad in [
            &["--url", "localhost:8080"][..],
            &["--url", "https://example.com"],
            &["--duration", "soon"],
            &["--requests", "0"],
            &["--concurrency", "0"],
            &["--rate", "-1"],
            &["--mix", "reads=1"],
            &["--trace-share", "2"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
