//! Spans arrive in batches, each service on its own schedule: a trace is gathered until no
//! span of it has arrived for a quiet period, then handed over whole. At most `max_traces`
//! wait at once: past that, the oldest is handed over as it is (memory stays bounded).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use otlp_receiver::Span;

pub struct Assembler {
    quiet: Duration,
    max_traces: usize,
    pending: HashMap<String, Pending>,
    /// Trace ids in the order they were first seen.
    order: VecDeque<String>,
}

struct Pending {
    spans: Vec<Span>,
    last_span: Instant,
}

impl Assembler {
    pub fn new(quiet: Duration, max_traces: usize) -> Self {
        Assembler {
            quiet,
            max_traces: max_traces.max(1),
            pending: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Adds spans; returns the traces pushed out because too many were waiting.
    pub fn add(&mut self, spans: Vec<Span>, now: Instant) -> Vec<Vec<Span>> {
        for span in spans {
            let pending = self
                .pending
                .entry(span.trace_id.clone())
                .or_insert_with(|| {
                    self.order.push_back(span.trace_id.clone());
                    Pending {
                        spans: Vec::new(),
                        last_span: now,
                    }
                });
            pending.last_span = now;
            pending.spans.push(span);
        }
        let mut evicted = Vec::new();
        while self.pending.len() > self.max_traces {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            evicted.extend(self.pending.remove(&oldest).map(|p| p.spans));
        }
        evicted
    }

    /// The traces that have been quiet long enough, oldest first.
    pub fn ready(&mut self, now: Instant) -> Vec<Vec<Span>> {
        let quiet = self.quiet;
        let pending = &mut self.pending;
        let mut ready = Vec::new();
        self.order.retain(|id| {
            let done = pending
                .get(id)
                .is_none_or(|p| now.duration_since(p.last_span) >= quiet);
            if done {
                ready.extend(pending.remove(id).map(|p| p.spans));
            }
            !done
        });
        ready
    }

    /// Everything still waiting (at exit).
    pub fn drain(&mut self) -> Vec<Vec<Span>> {
        let pending = &mut self.pending;
        self.order
            .drain(..)
            .filter_map(|id| pending.remove(&id).map(|p| p.spans))
            .collect()
    }

    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str) -> Span {
        Span {
            trace_id: trace.to_owned(),
            span_id: id.to_owned(),
            ..Span::default()
        }
    }

    #[test]
    fn a_trace_is_handed_over_once_quiet() {
        let start = Instant::now();
        let mut traces = Assembler::new(Duration::from_secs(1), 10);
        traces.add(vec![span("a", "1"), span("b", "2")], start);
        traces.add(vec![span("a", "3")], start + Duration::from_millis(800));
        let ready = traces.ready(start + Duration::from_millis(1200));
        assert_eq!(ready.len(), 1, "b is quiet, a got a span 400 ms ago");
        assert_eq!(ready[0][0].trace_id, "b");
        let ready = traces.ready(start + Duration::from_millis(1900));
        assert_eq!(ready[0].len(), 2, "both spans of a");
        assert_eq!(traces.waiting(), 0);
    }

    #[test]
    fn too_many_waiting_traces_push_out_the_oldest() {
        let now = Instant::now();
        let mut traces = Assembler::new(Duration::from_secs(60), 2);
        assert!(
            traces
                .add(vec![span("a", "1"), span("b", "2")], now)
                .is_empty()
        );
        let evicted = traces.add(vec![span("c", "3")], now);
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0][0].trace_id, "a");
        assert_eq!(traces.waiting(), 2);
        assert_eq!(traces.drain().len(), 2);
    }
}
