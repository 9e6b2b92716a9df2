//! The text view: a trace as a waterfall, a log record as a line, metric points as a table.
//! Colours on a terminal ([`Style::color`]), plain text otherwise.

use std::fmt::Write;

use crate::item::{LogItem, MetricValue, MetricsItem, SpanRow, TraceItem};

/// Width of the waterfall's bar column, in characters.
const BAR_WIDTH: usize = 30;

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// A trace: a header line, then one line per span, indented under its parent.
    pub fn trace(&self, trace: &TraceItem) -> String {
        let mut out = String::new();
        let services: Vec<&str> = trace.spans.iter().fold(Vec::new(), |mut seen, span| {
            if !seen.contains(&span.service.as_str()) {
                seen.push(&span.service);
            }
            seen
        });
        let header = format!(
            "trace {} · {} · {} · {} span{} · {}",
            short(&trace.trace_id, 8),
            trace.name(),
            ms(trace.duration_ms),
            trace.spans.len(),
            if trace.spans.len() == 1 { "" } else { "s" },
            services.join(", ")
        );
        let _ = writeln!(out, "{}", self.paint(BOLD, &header));
        let name_width = trace
            .spans
            .iter()
            .map(|s| s.depth * 2 + s.name.chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for span in &trace.spans {
            let _ = writeln!(
                out,
                "{}",
                self.span_line(span, trace.duration_ms, name_width)
            );
        }
        out
    }

    fn span_line(&self, span: &SpanRow, total_ms: f64, name_width: usize) -> String {
        let indent = "  ".repeat(span.depth);
        let name = format!("{indent}{}", span.name);
        let pad = name_width.saturating_sub(name.chars().count());
        let kind_color = match span.kind.as_str() {
            "server" => GREEN,
            "client" => BLUE,
            "producer" | "consumer" => MAGENTA,
            _ => DIM,
        };
        let mut line = format!(
            "  {name}{}  {:<8} {:<14} {:>9} {}",
            " ".repeat(pad),
            self.paint(kind_color, &format!("{:<8}", span.kind)),
            short(&span.service, 14),
            ms(span.duration_ms),
            self.paint(CYAN, &bar(span.start_ms, span.duration_ms, total_ms)),
        );
        if span.status == "error" {
            let message = if span.status_message.is_empty() {
                "ERROR".to_owned()
            } else {
                format!("ERROR {}", short(&span.status_message, 60))
            };
            let _ = write!(line, " {}", self.paint(RED, &message));
        }
        for (key, value) in &span.attributes {
            let value = if key == "db.query.text" {
                short(value, 60)
            } else {
                value.clone()
            };
            let _ = write!(line, " {}", self.paint(DIM, &format!("{key}={value}")));
        }
        for link in &span.links {
            let target = link.name.clone().unwrap_or_else(|| {
                format!(
                    "span {} of trace {}",
                    short(&link.span_id, 8),
                    short(&link.trace_id, 8)
                )
            });
            let _ = write!(
                line,
                " {}",
                self.paint(YELLOW, &format!("↪ link: {target}"))
            );
        }
        line
    }

    /// One log record: time, severity, service, body, attributes, and the short trace id
    /// to find its trace in the waterfalls.
    pub fn log(&self, log: &LogItem) -> String {
        let color = match log.severity_number {
            17.. => RED,
            13..=16 => YELLOW,
            9..=12 => GREEN,
            _ => DIM,
        };
        let mut line = format!(
            "{} {} {:<14} {}",
            clock(log.time_unix_nano),
            self.paint(color, &format!("{:<5}", log.severity)),
            short(&log.service, 14),
            log.body
        );
        for (key, value) in &log.attributes {
            let _ = write!(line, " {}", self.paint(DIM, &format!("{key}={value}")));
        }
        if let Some(trace_id) = &log.trace_id {
            let _ = write!(
                line,
                " {}",
                self.paint(CYAN, &format!("trace={}", short(trace_id, 8)))
            );
        }
        line
    }

    /// The metric points of one export of one service, one row per series.
    pub fn metrics(&self, metrics: &MetricsItem) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}",
            self.paint(
                BOLD,
                &format!(
                    "metrics · {} · {} series",
                    metrics.service,
                    metrics.points.len()
                )
            )
        );
        for point in &metrics.points {
            let attributes: Vec<String> = point
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let value = match &point.value {
                MetricValue::Number { value } => format!("{}", round(*value)),
                MetricValue::Histogram {
                    count, p50, p95, ..
                } => format!(
                    "count {count}  p50 {}  p95 {}",
                    p50.map_or("-".into(), |v| with_unit(v, &point.unit)),
                    p95.map_or("-".into(), |v| with_unit(v, &point.unit)),
                ),
            };
            let _ = writeln!(
                out,
                "  {:<40} {:<12} {} {}",
                short(&point.name, 40),
                short(&point.unit, 12),
                value,
                self.paint(DIM, &attributes.join(" "))
            );
        }
        out
    }
}

/// The span's place on the trace's time line: `····███······`.
fn bar(start_ms: f64, duration_ms: f64, total_ms: f64) -> String {
    if total_ms <= 0.0 {
        return "█".to_owned() + &" ".repeat(BAR_WIDTH - 1);
    }
    let scale = BAR_WIDTH as f64 / total_ms;
    let offset = ((start_ms * scale).floor() as usize).min(BAR_WIDTH - 1);
    let length = ((duration_ms * scale).round() as usize).clamp(1, BAR_WIDTH - offset);
    format!(
        "{}{}{}",
        "·".repeat(offset),
        "█".repeat(length),
        "·".repeat(BAR_WIDTH - offset - length)
    )
}

fn ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2} s", value / 1000.0)
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

fn with_unit(value: f64, unit: &str) -> String {
    match unit {
        "s" => ms(value * 1000.0),
        "ms" => ms(value),
        _ => format!("{} {unit}", round(value)),
    }
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// At most `max` characters, with `…` when cut.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in nanoseconds.
fn clock(unix_nanos: u64) -> String {
    let millis = unix_nanos / 1_000_000;
    let seconds = millis / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (seconds / 3600) % 24,
        (seconds / 60) % 60,
        seconds % 60,
        millis % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_place_spans_on_the_trace_time_line() {
        assert_eq!(bar(0.0, 10.0, 10.0), "█".repeat(BAR_WIDTH));
        let half = bar(5.0, 5.0, 10.0);
        assert_eq!(half, format!("{}{}", "·".repeat(15), "█".repeat(15)));
        // A span too short to see still gets one block.
        assert_eq!(
            bar(0.0, 0.0001, 10.0).chars().filter(|c| *c == '█').count(),
            1
        );
    }

    #[test]
    fn texts_are_cut_and_times_read_well() {
        assert_eq!(short("user-service", 14), "user-service");
        assert_eq!(short("a-very-long-service-name", 8), "a-very-…");
        assert_eq!(ms(0.25), "0.25 ms");
        assert_eq!(ms(12.34), "12.3 ms");
        assert_eq!(ms(1500.0), "1.50 s");
        assert_eq!(clock(3_723_004_000_000), "01:02:03.004");
    }
}
