//! Recording outcomes and latencies, and the end-of-run summary with its percentiles.
//!
//! Latencies are kept as a plain list per kind and sorted once at the end: exact percentiles,
//! no histogram precision to explain, and a few MB even for a million requests.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::mix::Kind;
use crate::request::TransportError;

/// What became of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    /// No HTTP answer at all.
    Transport(TransportError),
}

#[derive(Debug, Clone, Default)]
struct KindRecord {
    count: u64,
    unexpected: u64,
    client_errors: u64,
    server_errors: u64,
    transport: u64,
    /// Microseconds, of answered requests only: a refused connection "answers" in 0 ms and
    /// would make the service look faster than it is.
    latencies_us: Vec<u64>,
}

#[derive(Debug, Default)]
pub struct Recorder {
    kinds: [KindRecord; Kind::ALL.len()],
    statuses: BTreeMap<u16, u64>,
    transport: BTreeMap<TransportError, u64>,
    total: u64,
    failures: u64,
}

impl Recorder {
    pub fn record(&mut self, kind: Kind, expected: u16, outcome: Outcome, latency: Duration) {
        let record = &mut self.kinds[kind.index()];
        record.count += 1;
        self.total += 1;
        match outcome {
            Outcome::Status(status) => {
                *self.statuses.entry(status).or_default() += 1;
                record.latencies_us.push(latency.as_micros() as u64);
                if status != expected {
                    record.unexpected += 1;
                }
                match status {
                    400..=499 => record.client_errors += 1,
                    500..=599 => {
                        record.server_errors += 1;
                        self.failures += 1;
                    }
                    _ => {}
                }
            }
            Outcome::Transport(error) => {
                *self.transport.entry(error).or_default() += 1;
                record.transport += 1;
                self.failures += 1;
            }
        }
    }

    /// Requests finished so far, for the progress display.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// 5xx answers plus requests without an answer, for the progress display.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    pub fn summary(&self, run: RunInfo) -> Summary {
        let mut all_us = Vec::with_capacity(self.total as usize);
        let kinds = Kind::ALL
            .into_iter()
            .zip(&self.kinds)
            .filter(|(_, record)| record.count > 0)
            .map(|(kind, record)| {
                let mut sorted = record.latencies_us.clone();
                sorted.sort_unstable();
                all_us.extend_from_slice(&sorted);
                KindSummary {
                    kind,
                    count: record.count,
                    unexpected: record.unexpected,
                    client_errors: record.client_errors,
                    server_errors: record.server_errors,
                    transport: record.transport,
                    latency: Latency::from_sorted_us(&sorted),
                }
            })
            .collect();
        all_us.sort_unstable();
        Summary {
            run,
            total: self.total,
            statuses: self.statuses.clone(),
            transport: self.transport.clone(),
            kinds,
            latency: Latency::from_sorted_us(&all_us),
        }
    }
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    RequestCount,
    Duration,
    /// Ctrl-C (or the caller's cancellation).
    Interrupted,
}

/// What the summary says about the run besides its counts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub url: String,
    pub run_id: String,
    pub seed: u64,
    pub elapsed: Duration,
    pub stopped: StopReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    fn from_sorted_us(sorted: &[u64]) -> Option<Self> {
        let at = |p| percentile(sorted, p).map(Duration::from_micros);
        Some(Self {
            p50: at(50.0)?,
            p90: at(90.0)?,
            p99: at(99.0)?,
            max: Duration::from_micros(*sorted.last()?),
        })
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `p` % of the
/// values at or below it. Always one of the recorded values; `None` when there are none.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[derive(Debug, Clone)]
pub struct KindSummary {
    pub kind: Kind,
    pub count: u64,
    /// Answers with another status than the request asked for: the interesting ones.
    pub unexpected: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub transport: u64,
    pub latency: Option<Latency>,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub run: RunInfo,
    pub total: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub transport: BTreeMap<TransportError, u64>,
    /// The kinds that were sent, in [`Kind::ALL`] order.
    pub kinds: Vec<KindSummary>,
    pub latency: Option<Latency>,
}

impl Summary {
    pub fn rate(&self) -> f64 {
        let seconds = self.run.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.total as f64 / seconds
        } else {
            0.0
        }
    }

    /// Answers per status class: 1xx … 5xx, zero counts left out.
    pub fn classes(&self) -> BTreeMap<u16, u64> {
        let mut classes = BTreeMap::new();
        for (status, count) in &self.statuses {
            *classes.entry(status / 100).or_default() += count;
        }
        classes
    }

    pub fn transport_errors(&self) -> u64 {
        self.transport.values().sum()
    }

    pub fn unexpected(&self) -> u64 {
        self.kinds.iter().map(|kind| kind.unexpected).sum()
    }

    pub fn kind(&self, kind: Kind) -> Option<&KindSummary> {
        self.kinds.iter().find(|summary| summary.kind == kind)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let run = &self.run;
        let stopped = match run.stopped {
            StopReason::RequestCount => "request count reached",
            StopReason::Duration => "duration reached",
            StopReason::Interrupted => "interrupted (Ctrl-C)",
        };
        writeln!(
            f,
            "loadgen summary: {} · run {} · seed {} (replay the mix with --seed {})",
            run.url, run.run_id, run.seed, run.seed
        )?;
        writeln!(
            f,
            "  requests   {} in {:.1} s · {:.1} req/s · {stopped}",
            self.total,
            run.elapsed.as_secs_f64(),
            self.rate()
        )?;
        let classes: Vec<String> = self
            .classes()
            .iter()
            .map(|(class, count)| format!("{class}xx {count}"))
            .chain([format!("no answer {}", self.transport_errors())])
            .collect();
        writeln!(f, "  by class   {}", classes.join(" · "))?;
        if !self.statuses.is_empty() {
            let statuses: Vec<String> = self
                .statuses
                .iter()
                .map(|(status, count)| format!("{status} ×{count}"))
                .collect();
            writeln!(f, "  by status  {}", statuses.join(" · "))?;
        }
        if !self.transport.is_empty() {
            let errors: Vec<String> = self
                .transport
                .iter()
                .map(|(error, count)| format!("{error} ×{count}"))
                .collect();
            writeln!(f, "  no answer  {}", errors.join(" · "))?;
        }
        if let Some(latency) = &self.latency {
            writeln!(
                f,
                "  latency    p50 {} · p90 {} · p99 {} · max {}",
                ms(latency.p50),
                ms(latency.p90),
                ms(latency.p99),
                ms(latency.max)
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "  {:<13} {:>8} {:>10} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "kind", "requests", "unexpected", "4xx", "5xx", "no answer", "p50", "p90", "p99", "max"
        )?;
        for kind in &self.kinds {
            row(f, kind.kind.name(), kind, kind.latency.as_ref())?;
        }
        let total = KindSummary {
            kind: Kind::Create,
            count: self.total,
            unexpected: self.unexpected(),
            client_errors: self.kinds.iter().map(|k| k.client_errors).sum(),
            server_errors: self.kinds.iter().map(|k| k.server_errors).sum(),
            transport: self.transport_errors(),
            latency: None,
        };
        row(f, "all", &total, self.latency.as_ref())?;
        if total.unexpected > 0 {
            writeln!(f)?;
            writeln!(
                f,
                "  unexpected: answered with another status than the request asks for \
                 (e.g. a read of a created user that was not 200): see the service's logs."
            )?;
        }
        Ok(())
    }
}

fn row(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    kind: &KindSummary,
    latency: Option<&Latency>,
) -> fmt::Result {
    let cell = |pick: fn(&Latency) -> Duration| latency.map(|l| ms(pick(l))).unwrap_or("-".into());
    writeln!(
        f,
        "  {:<13} {:>8} {:>10} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        name,
        kind.count,
        kind.unexpected,
        kind.client_errors,
        kind.server_errors,
        kind.transport,
        cell(|l| l.p50),
        cell(|l| l.p90),
        cell(|l| l.p99),
        cell(|l| l.max),
    )
}

/// Milliseconds with one decimal below 10 s (the interesting range), whole seconds above.
fn ms(duration: Duration) -> String {
    if duration < Duration::from_secs(10) {
        format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            url: "http://127.0.0.1:8080".into(),
            run_id: "r1".into(),
            seed: 42,
            elapsed: Duration::from_secs(2),
            stopped: StopReason::RequestCount,
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), Some(50));
        assert_eq!(percentile(&values, 90.0), Some(90));
        assert_eq!(percentile(&values, 99.0), Some(99));
        assert_eq!(percentile(&values, 100.0), Some(100));
        assert_eq!(percentile(&values, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 1000], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 1000], 90.0), Some(1000));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn the_summary_counts_add_up() {
        let mut recorder = Recorder::default();
        let ms = Duration::from_millis;
        for i in 1..=10 {
            recorder.record(Kind::Read, 200, Outcome::Status(200), ms(i));
        }
        recorder.record(Kind::Read, 200, Outcome::Status(404), ms(100));
        recorder.record(Kind::Create, 201, Outcome::Status(201), ms(5));
        recorder.record(Kind::Create, 201, Outcome::Status(503), ms(300));
        recorder.record(Kind::DemoError, 500, Outcome::Status(500), ms(2));
        let refused = Outcome::Transport(TransportError::ConnectionRefused);
        recorder.record(Kind::Create, 201, refused, ms(0));
        recorder.record(Kind::Read, 200, refused, ms(0));
        assert_eq!(recorder.total(), 16);
        assert_eq!(recorder.failures(), 4); // 503, 500 and two refused

        let summary = recorder.summary(info());
        assert_eq!(summary.total, 16);
        assert_eq!(summary.rate(), 8.0);
        assert_eq!(
            summary.statuses,
            BTreeMap::from([(200, 10), (201, 1), (404, 1), (500, 1), (503, 1)])
        );
        assert_eq!(summary.classes(), BTreeMap::from([(2, 11), (4, 1), (5, 2)]));
        assert_eq!(summary.transport_errors(), 2);
        assert_eq!(summary.unexpected(), 2); // the 404 read and the 503 create

        let kinds: Vec<Kind> = summary.kinds.iter().map(|k| k.kind).collect();
        assert_eq!(kinds, [Kind::Create, Kind::Read, Kind::DemoError]);
        let read = summary.kind(Kind::Read).unwrap();
        assert_eq!(
            (
                read.count,
                read.unexpected,
                read.client_errors,
                read.transport
            ),
            (12, 1, 1, 1)
        );
        // Eleven answered reads: 1..=10 ms and 100 ms; the refused one has no latency.
        let latency = read.latency.unwrap();
        assert_eq!(latency.p50, ms(6));
        assert_eq!(latency.p90, ms(10));
        assert_eq!(latency.max, ms(100));
        let create = summary.kind(Kind::Create).unwrap();
        assert_eq!(
            (create.count, create.server_errors, create.transport),
            (3, 1, 1)
        );
        // All answered requests: 14 latencies, the largest 300 ms.
        assert_eq!(summary.latency.unwrap().max, ms(300));
        assert_eq!(
            summary.kinds.iter().map(|k| k.count).sum::<u64>(),
            summary.total
        );
    }

    #[test]
    fn the_rendered_summary_names_the_counts() {
        let mut recorder = Recorder::default();
        recorder.record(
            Kind::Create,
            201,
            Outcome::Status(201),
            Duration::from_millis(12),
        );
        recorder.record(
            Kind::DemoStatus,
            503,
            Outcome::Status(503),
            Duration::from_millis(40),
        );
        let text = recorder.summary(info()).to_string();
        assert!(text.contains("requests   2 in 2.0 s · 1.0 req/s"), "{text}");
        assert!(text.contains("2xx 1 · 5xx 1 · no answer 0"), "{text}");
        assert!(text.contains("201 ×1 · 503 ×1"), "{text}");
        assert!(text.contains("demo-status"), "{text}");
        assert!(text.contains("12.0 ms"), "{text}");
        assert!(!text.contains("unexpected:"), "{text}");
    }

    #[test]
    fn an_empty_run_renders_without_latencies() {
        let text = Recorder::default().summary(info()).to_string();
        assert!(text.contains("requests   0"), "{text}");
        assert!(!text.contains("latency"), "{text}");
    }
}
