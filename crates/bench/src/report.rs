//! The results of a run as plain numbers ([`Report`]), and the markdown that presents them:
//! every variant against step 1, per workload and load.

use std::fmt::Write as _;
use std::time::Duration;

use crate::machine::Machine;
use crate::plan::{Cell, Load, Variant, Workload};

/// Items the OTLP receiver accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Telemetry {
    pub spans: u64,
    pub metric_points: u64,
    pub log_records: u64,
}

impl std::ops::AddAssign for Telemetry {
    fn add_assign(&mut self, other: Self) {
        self.spans += other.spans;
        self.metric_points += other.metric_points;
        self.log_records += other.log_records;
    }
}

/// What the run was, where and when.
#[derive(Debug, Clone)]
pub struct Meta {
    /// e.g. `2026-05-05 21:52 UTC`
    pub date: String,
    /// Short hash of `HEAD`.
    pub commit: String,
    /// The working tree had changes to tracked files.
    pub dirty: bool,
    pub machine: Machine,
    pub quick: bool,
    pub rounds: u32,
    /// Segments measured, and planned (fewer measured when the time limit cut the run short
    /// or it was interrupted).
    pub segments_done: usize,
    pub segments_planned: usize,
    pub segment: Duration,
    /// Longest wait for the CPU to settle after a segment.
    pub max_drain: Duration,
    pub connections: usize,
    pub rate_fraction: f64,
    /// Each user-service's Postgres pool (`DATABASE_MAX_CONNECTIONS`).
    pub database_pool: u32,
    /// Wall time of the whole run.
    pub duration: Duration,
    /// How it was started, e.g. `make bench`.
    pub command: String,
}

/// One variant over the whole run.
#[derive(Debug, Clone)]
pub struct VariantRow {
    pub variant: Variant,
    /// Of the user-service, once ready (before any request).
    pub rss_start: Option<u64>,
    /// Of the user-service, after the last segment.
    pub rss_end: Option<u64>,
    /// Every request sent to it (measured, warm-up and seeding).
    pub requests: u64,
    /// Everything its two services exported, including the flush at shutdown.
    pub telemetry: Telemetry,
}

/// One variant under one cell, summed over the rounds.
#[derive(Debug, Clone)]
pub struct CellRow {
    /// Index into [`Report::variants`].
    pub variant: usize,
    pub cell: Cell,
    /// Requests answered or failed in the measured windows.
    pub requests: u64,
    /// Sum of the measured windows.
    pub elapsed: Duration,
    /// Throughput of each round, in order.
    pub round_rates: Vec<f64>,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    /// User-service CPU over the windows and their drains; `None` when unreadable.
    pub cpu: Option<Duration>,
    /// Answers other than the one asked for, and requests without an answer.
    pub errors: u64,
    /// Spans and log records that started in the cell's windows or after them, until the
    /// variant's next segment (metric points: 0, they only count for the whole run).
    pub telemetry: Telemetry,
    /// The open loop's rate; `None` at saturation.
    pub target_rate: Option<f64>,
    /// Open-loop slots given up (too many requests in flight).
    pub skipped: u64,
}

impl CellRow {
    /// Requests per second over the measured windows.
    pub fn rate(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }

    /// User-service CPU microseconds per request.
    pub fn cpu_us(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / self.requests as f64)
    }

    /// Throughput of each round divided by `base`'s in the same round.
    pub fn round_ratios(&self, base: &CellRow) -> Vec<f64> {
        self.round_rates
            .iter()
            .zip(&base.round_rates)
            .filter(|(_, base)| **base > 0.0)
            .map(|(rate, base)| rate / base)
            .collect()
    }

    /// Throughput relative to `base`: the median of the rounds' ratios, so that one segment
    /// hit by a stall (a Postgres checkpoint, another process) does not decide it; the ratio
    /// of the totals when the rounds do not pair up.
    pub fn throughput_ratio(&self, base: &CellRow) -> Option<f64> {
        let mut rounds = self.round_ratios(base);
        if rounds.is_empty() || rounds.len() != self.round_rates.len() {
            let base = base.rate();
            return (base > 0.0).then(|| self.rate() / base);
        }
        rounds.sort_by(f64::total_cmp);
        let middle = rounds.len() / 2;
        Some(if rounds.len() % 2 == 1 {
            rounds[middle]
        } else {
            (rounds[middle - 1] + rounds[middle]) / 2.0
        })
    }

    fn per_request(&self, count: u64) -> Option<f64> {
        (self.requests > 0).then(|| count as f64 / self.requests as f64)
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub meta: Meta,
    /// The baseline (step 1) first.
    pub variants: Vec<VariantRow>,
    pub cells: Vec<CellRow>,
}

impl Report {
    /// The cells measured, in the order of the run.
    pub fn cell_kinds(&self) -> Vec<Cell> {
        let mut kinds: Vec<Cell> = Vec::new();
        for row in &self.cells {
            if !kinds.contains(&row.cell) {
                kinds.push(row.cell);
            }
        }
        kinds
    }

    pub fn row(&self, variant: usize, cell: Cell) -> Option<&CellRow> {
        self.cells
            .iter()
            .find(|row| row.variant == variant && row.cell == cell)
    }

    /// Step 1's row of a cell.
    pub fn baseline(&self, cell: Cell) -> Option<&CellRow> {
        let index = self.variants.iter().position(|v| v.variant.is_baseline())?;
        self.row(index, cell)
    }

    /// The cell the summary is about: the cache-hit GET at saturation when it was measured.
    pub fn headline_cell(&self) -> Option<Cell> {
        let kinds = self.cell_kinds();
        let preferred = Cell {
            workload: Workload::Get,
            load: Load::Saturation,
        };
        kinds
            .contains(&preferred)
            .then_some(preferred)
            .or_else(|| kinds.first().copied())
    }

    /// The whole README.md of the results folder. `plot` is the SVG's file name.
    pub fn markdown(&self, plot: &str) -> String {
        let mut out = String::new();
        self.write_header(&mut out);
        if let Some(cell) = self.headline_cell() {
            self.write_summary(&mut out, cell, plot);
        }
        self.write_variants(&mut out);
        let _ = writeln!(out, "## Every workload and load\n");
        for cell in self.cell_kinds() {
            self.write_cell(&mut out, cell);
        }
        self.write_method(&mut out);
        out
    }

    /// The summary table as CSV (`summary.csv`), for the slide deck, which renders the latest
    /// committed run: the headline cell, one row per variant, plain numbers (empty when not
    /// measured).
    pub fn summary_csv(&self) -> String {
        let mut out = String::from(
            "variant,requests_per_second,throughput_vs_step1,cpu_us_per_request,\
             telemetry_cpu_us_per_request,spans_per_request\n",
        );
        let Some(cell) = self.headline_cell() else {
            return out;
        };
        let base = self.baseline(cell);
        let number = |value: Option<f64>, decimals: usize| {
            value
                .filter(|value| value.is_finite())
                .map(|value| format!("{value:.decimals$}"))
                .unwrap_or_default()
        };
        for (index, variant) in self.variants.iter().enumerate() {
            let Some(row) = self.row(index, cell) else {
                continue;
            };
            let telemetry = row
                .cpu_us()
                .zip(base.and_then(CellRow::cpu_us))
                .map(|(value, base)| value - base);
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}",
                variant.variant,
                number(Some(row.rate()), 0),
                number(base.and_then(|base| row.throughput_ratio(base)), 2),
                number(row.cpu_us(), 1),
                number(telemetry, 1),
                number(row.per_request(row.telemetry.spans), 2),
            );
        }
        out
    }

    fn write_header(&self, out: &mut String) {
        let meta = &self.meta;
        let _ = writeln!(
            out,
            "# Bench: every step against step 1 — {}, commit {}\n",
            meta.date.split(' ').next().unwrap_or(&meta.date),
            meta.commit
        );
        if meta.quick {
            let _ = writeln!(
                out,
                "> **Quick run** (`--quick`): a check that the tool works, with segments too short \
                 for the figures to mean much. Do not commit it; `make bench` makes the real run.\n"
            );
        }
        if meta.segments_done < meta.segments_planned {
            let _ = writeln!(
                out,
                "> **Cut short**: {} of {} segments were measured (time limit or Ctrl-C); the \
                 ratios compare what was measured.\n",
                meta.segments_done, meta.segments_planned
            );
        }
        let dirty = if meta.dirty {
            " (with uncommitted changes)"
        } else {
            ""
        };
        let machine = &meta.machine;
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| commit | `{}`{dirty} |", meta.commit);
        let _ = writeln!(out, "| date | {} |", meta.date);
        let _ = writeln!(
            out,
            "| machine | {} cores · {} · {} of memory |",
            machine.cores,
            machine.model,
            bytes(machine.memory)
        );
        let _ = writeln!(out, "| kernel | {} |", machine.kernel);
        let _ = writeln!(out, "| rustc | {} |", machine.rustc);
        let _ = writeln!(
            out,
            "| run | {} round(s) × {} cell(s) × {} variants, {:.1} s per segment, {} connections \
             at saturation, fixed rate = {:.0} % of the slowest variant's saturation throughput, \
             {} Postgres connections per user-service; {} in all |",
            meta.rounds,
            self.cell_kinds().len(),
            self.variants.len(),
            meta.segment.as_secs_f64(),
            meta.connections,
            meta.rate_fraction * 100.0,
            meta.database_pool,
            minutes(meta.duration)
        );
        let _ = writeln!(out, "| command | `{}` |\n", meta.command);
        let _ = writeln!(
            out,
            "Where the time goes (a profile), what was changed and which goals are met: \
             [bench/FINDINGS.md](../../FINDINGS.md).\n"
        );
    }

    fn write_summary(&self, out: &mut String, cell: Cell, plot: &str) {
        let _ = writeln!(
            out,
            "## Summary: {} at {}\n",
            cell.workload.title(),
            cell.load.name()
        );
        let _ = writeln!(
            out,
            "Ratios are the variant's figure divided by step 1's in the same run (throughput: the \
             median of the rounds' ratios); \"telemetry CPU\" is the variant's CPU per request \
             minus step 1's.\n"
        );
        let _ = writeln!(
            out,
            "| step · condition | req/s | throughput vs step 1 | p50 vs step 1 | p99 vs step 1 \
             | CPU µs/request | telemetry CPU µs/request | spans/request |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
        let base = self.baseline(cell);
        for (index, variant) in self.variants.iter().enumerate() {
            let Some(row) = self.row(index, cell) else {
                continue;
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                variant.variant,
                count(row.rate()),
                ratio(base.and_then(|base| row.throughput_ratio(base)), Some(1.0)),
                ratio(secs(row.p50), base.and_then(|b| secs(b.p50))),
                ratio(secs(row.p99), base.and_then(|b| secs(b.p99))),
                micros(row.cpu_us()),
                delta(row.cpu_us(), base.and_then(CellRow::cpu_us)),
                per_request(row.per_request(row.telemetry.spans)),
            );
        }
        let _ = writeln!(
            out,
            "\n![User-service CPU per request, by step and condition]({plot})\n"
        );
    }

    fn write_variants(&self, out: &mut String) {
        let _ = writeln!(out, "## Memory and telemetry over the whole run\n");
        let _ = writeln!(
            out,
            "RSS of the user-service once ready and after the last segment; telemetry received \
             from both services (including the flush at shutdown) per request sent.\n"
        );
        let _ = writeln!(
            out,
            "| step · condition | RSS at start | RSS after the run | growth | requests \
             | spans/request | metric points/request | log records/request |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
        for row in &self.variants {
            let growth = match (row.rss_start, row.rss_end) {
                (Some(start), Some(end)) => signed_bytes(end as i64 - start as i64),
                _ => "–".into(),
            };
            let each = |n: u64| (row.requests > 0).then(|| n as f64 / row.requests as f64);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {growth} | {} | {} | {} | {} |",
                row.variant,
                row.rss_start.map_or("–".into(), bytes),
                row.rss_end.map_or("–".into(), bytes),
                count(row.requests as f64),
                per_request(each(row.telemetry.spans)),
                per_request(each(row.telemetry.metric_points)),
                per_request(each(row.telemetry.log_records)),
            );
        }
        let _ = writeln!(out);
    }

    fn write_cell(&self, out: &mut String, cell: Cell) {
        let base = self.baseline(cell);
        let heading = match cell.load {
            Load::Saturation => format!("{} connections, closed loop", self.meta.connections),
            Load::FixedRate => {
                let rate = self
                    .cells
                    .iter()
                    .find(|row| row.cell == cell)
                    .and_then(|row| row.target_rate)
                    .unwrap_or(0.0);
                format!("{} req/s, open loop", count(rate))
            }
        };
        let _ = writeln!(
            out,
            "### {} — {} ({heading})\n",
            cell.workload.title(),
            cell.load.name()
        );
        let throughput = match cell.load {
            Load::Saturation => "vs step 1 (rounds)",
            Load::FixedRate => "of target",
        };
        let _ = writeln!(
            out,
            "| step · condition | req/s | {throughput} | p50 | vs step 1 | p99 | vs step 1 \
             | CPU µs/request | vs step 1 | spans/request | log records/request | errors |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for (index, variant) in self.variants.iter().enumerate() {
            let Some(row) = self.row(index, cell) else {
                continue;
            };
            let versus = match (cell.load, base, row.target_rate) {
                (Load::FixedRate, _, Some(target)) if target > 0.0 => {
                    format!("{:.0} %", row.rate() / target * 100.0)
                }
                (Load::Saturation, Some(base), _) => {
                    let rounds = row.round_ratios(base);
                    let overall = ratio(row.throughput_ratio(base), Some(1.0));
                    match (min(&rounds), max(&rounds)) {
                        (Some(lo), Some(hi)) if rounds.len() > 1 => {
                            format!("{overall} ({lo:.2}–{hi:.2})")
                        }
                        _ => overall,
                    }
                }
                _ => "–".into(),
            };
            let mut errors = row.errors.to_string();
            if row.skipped > 0 {
                let _ = write!(errors, " ({} slots skipped)", row.skipped);
            }
            let _ = writeln!(
                out,
                "| {} | {} | {versus} | {} | {} | {} | {} | {} | {} | {} | {} | {errors} |",
                variant.variant,
                count(row.rate()),
                millis(row.p50),
                ratio(secs(row.p50), base.and_then(|b| secs(b.p50))),
                millis(row.p99),
                ratio(secs(row.p99), base.and_then(|b| secs(b.p99))),
                micros(row.cpu_us()),
                delta(row.cpu_us(), base.and_then(CellRow::cpu_us)),
                per_request(row.per_request(row.telemetry.spans)),
                per_request(row.per_request(row.telemetry.log_records)),
            );
        }
        let _ = writeln!(out);
    }

    fn write_method(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## How it was measured\n\n\
             - Release builds of each step's `user-service` and `email-service`, started as child \
             processes, each variant with a Postgres database, Kafka topic, consumer group and \
             cache prefix of its own (dropped afterwards), all running at once. `RUST_LOG` is the \
             steps' default filter; their stdout goes to a pipe the bench reads.\n\
             - Telemetry goes over OTLP/HTTP (protobuf) to an in-process receiver that accepts and \
             counts everything (`crates/otlp-receiver`), one per variant; \"collector down\" is a \
             closed port; \"unsampled\" is `OTEL_TRACES_SAMPLER=always_off` with the collector up. \
             Batch settings are the SDK's defaults.\n\
             - The load generator's requests and statistics (`crates/loadgen`), no `traceparent` \
             from the client. Saturation: {} connections, each sending its next request when the \
             answer arrived. Fixed rate: requests started on schedule whatever the answers (open \
             loop), at {:.0} % of the slowest variant's saturation throughput in round 1, the same \
             rate for every variant. Latency is exact (every request), of answered requests.\n\
             - Throughput vs step 1 is the median of the rounds' ratios (each round's figure \
             divided by step 1's of the same round), with their range: one segment hit by a stall \
             does not decide it. `post` depends on Postgres commits (fsync) and varies most.\n\
             - One run, in rounds: each round measures every cell on every variant in turn \
             (segments of {:.1} s, the variants' order rotating), so that noise on the machine \
             hits all alike. Connections are warmed before each window opens.\n\
             - CPU: `utime + stime` of the user-service (`/proc/<pid>/stat`, all threads) from \
             the opening of a window until its CPU use settles after the last answer (at most {} ms: \
             work a request leaves behind — the outbox relay, the Kafka consumer, the span export \
             — is counted), divided by the requests of the window. RSS: `VmRSS`. The bench itself \
             (load generator, receiver) runs on the same cores.\n\
             - Spans and log records per request in a cell: those that started between the \
             opening of one of its windows and the variant's next segment (so the work a create \
             leaves behind — outbox relay, Kafka consumer, welcome email — is included), by their \
             own timestamps, whenever they were exported (the batch processor holds them up to \
             5 s). Metric points describe an export interval (60 s by default), not a request: \
             they are only counted over the whole run.",
            self.meta.connections,
            self.meta.rate_fraction * 100.0,
            self.meta.segment.as_secs_f64(),
            self.meta.max_drain.as_millis(),
        );
    }
}

fn secs(duration: Option<Duration>) -> Option<f64> {
    duration.map(|d| d.as_secs_f64())
}

fn min(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::min)
}

fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

/// `value / base` with two decimals, `–` when either is missing or the base is zero.
pub fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(value), Some(base)) if base > 0.0 && value.is_finite() => {
            format!("{:.2}", value / base)
        }
        _ => "–".into(),
    }
}

/// `value - base` in µs with a sign, `–` when either is missing.
fn delta(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(value), Some(base)) => format!("{:+.1}", value - base),
        _ => "–".into(),
    }
}

fn micros(value: Option<f64>) -> String {
    value.map_or("–".into(), |us| format!("{us:.1}"))
}

fn per_request(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{v:.2}"))
}

fn millis(duration: Option<Duration>) -> String {
    duration.map_or("–".into(), |d| {
        let ms = d.as_secs_f64() * 1000.0;
        if ms < 10.0 {
            format!("{ms:.2} ms")
        } else {
            format!("{ms:.1} ms")
        }
    })
}

/// A whole number with thin groups of thousands: `12 345`.
pub fn count(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(digit);
    }
    out
}

/// Bytes in MB (10⁶) with one decimal; GB from 1 GB on.
pub fn bytes(value: u64) -> String {
    let mb = value as f64 / 1e6;
    if mb >= 1000.0 {
        format!("{:.1} GB", mb / 1000.0)
    } else {
        format!("{mb:.1} MB")
    }
}

fn signed_bytes(value: i64) -> String {
    let sign = if value < 0 { "−" } else { "+" };
    format!("{sign}{}", bytes(value.unsigned_abs()))
}

fn minutes(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 60 {
        format!("{} min {:02} s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(round_rates: &[f64]) -> CellRow {
        CellRow {
            variant: 0,
            cell: Cell {
                workload: Workload::Post,
                load: Load::Saturation,
            },
            requests: round_rates.iter().sum::<f64>() as u64,
            elapsed: Duration::from_secs(round_rates.len() as u64),
            round_rates: round_rates.to_vec(),
            p50: None,
            p99: None,
            cpu: None,
            errors: 0,
            telemetry: Telemetry::default(),
            target_rate: None,
            skipped: 0,
        }
    }

    #[test]
    fn throughput_ratio_is_the_median_of_the_rounds() {
        let base = row(&[1000.0, 1000.0, 250.0]);
        // Round 3 of the baseline stalled: 4.0 there, 0.5 elsewhere.
        let variant = row(&[500.0, 500.0, 1000.0]);
        assert_eq!(variant.round_ratios(&base), [0.5, 0.5, 4.0]);
        assert_eq!(variant.throughput_ratio(&base), Some(0.5));
        // Totals would say 2000 / 2250.
        assert!((variant.rate() / base.rate() - 0.888).abs() < 0.001);
        assert_eq!(
            row(&[300.0, 500.0]).throughput_ratio(&row(&[1000.0, 1000.0])),
            Some(0.4)
        );
        // Rounds that do not pair up (a run cut short): the totals, 1000 in 2 s vs 1000 in 1 s.
        assert_eq!(
            row(&[500.0, 500.0]).throughput_ratio(&row(&[1000.0])),
            Some(0.5)
        );
        assert_eq!(row(&[500.0]).throughput_ratio(&row(&[0.0])), None);
    }

    #[test]
    fn formats() {
        assert_eq!(ratio(Some(1.0), Some(2.0)), "0.50");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "–");
        assert_eq!(count(1234567.4), "1\u{202f}234\u{202f}567");
        assert_eq!(count(999.0), "999");
        assert_eq!(bytes(14_000_000), "14.0 MB");
        assert_eq!(signed_bytes(-2_500_000), "−2.5 MB");
        assert_eq!(minutes(Duration::from_secs(235)), "3 min 55 s");
        assert_eq!(millis(Some(Duration::from_micros(480))), "0.48 ms");
    }
}
