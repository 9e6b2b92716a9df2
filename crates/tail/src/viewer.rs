//! What the viewer does with each batch it takes from the receiver: filter, assemble, and
//! turn into items to print.

use std::time::{Duration, Instant};

use otlp_receiver::{Received, Span};

use crate::cli::Options;
use crate::item::{Item, LogItem, TraceItem, metrics_by_service};
use crate::traces::Assembler;

pub struct Viewer {
    options: Options,
    traces: Assembler,
}

impl Viewer {
    pub fn new(options: Options) -> Self {
        let traces = Assembler::new(options.quiet_period, options.max_traces);
        Viewer { options, traces }
    }

    /// The items to print now: the log records and metrics just received, and the traces
    /// that have become complete (or were pushed out).
    pub fn step(&mut self, received: Received, now: Instant) -> Vec<Item> {
        let mut items = Vec::new();
        let mut finished = Vec::new();
        if !self.options.no_traces {
            finished = self.traces.add(received.spans, now);
            finished.extend(self.traces.ready(now));
        }
        if !self.options.no_logs {
            items.extend(
                received
                    .log_records
                    .iter()
                    .map(LogItem::from_record)
                    .filter(|log| self.service_wanted(&log.service))
                    .map(Item::Log),
            );
        }
        if !self.options.no_metrics {
            items.extend(
                metrics_by_service(&received.metric_points)
                    .into_iter()
                    .filter(|metrics| self.service_wanted(&metrics.service))
                    .map(Item::Metrics),
            );
        }
        items.extend(self.traces_to_show(finished));
        items
    }

    /// At exit: every trace still waiting, as it is.
    pub fn finish(&mut self) -> Vec<Item> {
        let waiting = self.traces.drain();
        self.traces_to_show(waiting)
    }

    fn traces_to_show(&self, traces: Vec<Vec<Span>>) -> Vec<Item> {
        traces
            .into_iter()
            .map(TraceItem::from_spans)
            .filter(|trace| self.trace_wanted(trace))
            .map(Item::Trace)
            .collect()
    }

    fn service_wanted(&self, service: &str) -> bool {
        self.options.services.is_empty() || self.options.services.iter().any(|s| s == service)
    }

    fn trace_wanted(&self, trace: &TraceItem) -> bool {
        let min = self.options.min_duration.unwrap_or(Duration::ZERO);
        (self.options.services.is_empty()
            || trace.spans.iter().any(|s| self.service_wanted(&s.service)))
            && self
                .options
                .span
                .as_ref()
                .is_none_or(|name| trace.spans.iter().any(|s| s.name.contains(name.as_str())))
            && trace.duration_ms >= min.as_secs_f64() * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use clap::Parser;
    use otlp_receiver::{Received, Resource, Span};

    use super::Viewer;
    use crate::cli::Options;
    use crate::item::Item;

    fn span(trace: &str, name: &str, service: &str, millis: u64) -> Span {
        let resource = Resource {
            attributes: [("service.name", service)].into_iter().collect(),
            ..Resource::default()
        };
        Span {
            trace_id: trace.to_owned(),
            span_id: format!("{trace}-{name}"),
            name: name.to_owned(),
            start_unix_nano: 1_000_000,
            end_unix_nano: 1_000_000 + millis * 1_000_000,
            resource,
            ..Span::default()
        }
    }

    /// The traces the viewer shows for `args`, out of three: a slow sign-up across both
    /// services, a quick read, and a health check of another service.
    fn shown(args: &[&str]) -> Vec<String> {
        let options = Options::parse_from([&["otel-tail", "--quiet-period", "1s"], args].concat());
        let mut viewer = Viewer::new(options);
        let spans = vec![
            span("a", "POST /users", "user-service", 40),
            span("a", "POST /emails", "email-service", 2),
            span("b", "GET /users/{id}", "user-service", 1),
            span("c", "GET /healthz", "billing", 1),
        ];
        let received = Received {
            spans,
            ..Received::default()
        };
        let start = Instant::now();
        assert!(
            viewer.step(received, start).is_empty(),
            "not before the quiet period"
        );
        viewer
            .step(Received::default(), start + Duration::from_secs(2))
            .into_iter()
            .filter_map(|item| match item {
                Item::Trace(trace) => Some(trace.trace_id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn filters_choose_the_traces() {
        assert_eq!(shown(&[]), ["a", "b", "c"]);
        assert_eq!(
            shown(&["--service", "email-service"]),
            ["a"],
            "any span of the trace"
        );
        assert_eq!(
            shown(&["--service", "billing", "--service", "email-service"]),
            ["a", "c"]
        );
        assert_eq!(shown(&["--span", "GET"]), ["b", "c"]);
        assert_eq!(shown(&["--min-duration", "10ms"]), ["a"]);
        assert!(shown(&["--no-traces"]).is_empty());
    }
}
