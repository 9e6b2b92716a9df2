//! The book's exercises: for each step, what its starter takes out of the step's code (an
//! `ANCHOR` region of a file, replaced by instructions and a stub that compiles and runs),
//! and which of the step's contract tests a fresh starter fails.
//!
//! The chapters (`book/src/step<N>.md`) give the same title, minutes and failing tests;
//! book-check's tests hold the two together.

/// One exercise: the starter of step `step`.
#[derive(Debug)]
pub struct Exercise {
    pub step: u32,
    /// The chapter's heading is `## Exercise: <title> (<minutes> minutes)`.
    pub title: &'static str,
    pub minutes: u32,
    /// What the starter takes out, in the order the attendee meets it.
    pub edits: &'static [Edit],
    /// The contract tests that a fresh starter fails (and the solution passes).
    pub failing: &'static [&'static str],
    /// Contract tests the chapter says must keep passing while the attendee works.
    pub kept: &'static [&'static str],
}

/// One region taken out of the step's code: the lines between `// ANCHOR: <anchor>` and
/// `// ANCHOR_END: <anchor>` in `file` become a `TODO(exercise N)` comment with `task`,
/// followed by `stub`.
#[derive(Debug)]
pub struct Edit {
    /// Relative to the step's crate, e.g. `src/telemetry.rs`.
    pub file: &'static str,
    pub anchor: &'static str,
    /// What to write there, one sentence per line (the comment keeps the line breaks).
    pub task: &'static str,
    /// What stands in its place: code that compiles and does not do the lesson. Empty: nothing.
    pub stub: &'static str,
}

pub const EXERCISES: &[Exercise] = &[
    Exercise {
        step: 1,
        title: "one email per user",
        minutes: 25,
        edits: &[Edit {
            file: "src/consumer.rs",
            anchor: "confirm_sent",
            task: "The email-service has accepted the welcome email, and yet this event is never done with:
its outbox row stays, the relay publishes the event again and again (the idempotency key
hides the repeats: no second email) and the outbox never drains. Make it drain.",
            stub: "",
        }],
        failing: &[
            "each_user_gets_one_event_and_one_welcome_email",
            "kafka_outage_keeps_users_and_events_consistent",
        ],
        kept: &[],
    },
    Exercise {
        step: 2,
        title: "continue the caller's trace",
        minutes: 25,
        edits: &[
            Edit {
                file: "src/telemetry.rs",
                anchor: "propagators",
                task: "Install a global propagator for W3C Trace Context *and* W3C Baggage.
Without one, the `traceparent` and `baggage` headers of a request are never read.",
                stub: "",
            },
            Edit {
                file: "src/http_tracing.rs",
                anchor: "set_parent",
                task: "Continue the caller's trace: read the caller's context from the request headers (with
the global propagator) and make it the parent of `span`. A missing or malformed header
must not fail the request: the span then starts a new trace.",
                stub: "",
            },
        ],
        failing: &[
            "trace_context_and_child_spans_http",
            "trace_context_and_child_spans_grpc",
        ],
        kept: &["malformed_trace_headers_start_a_new_trace"],
    },
    Exercise {
        step: 3,
        title: "the consumer continues the trace",
        minutes: 20,
        edits: &[Edit {
            file: "src/consumer.rs",
            anchor: "consumer_link",
            task: "Continue the producer's trace: read its context from the message headers
(`KafkaHeaderExtractor`). When it holds a valid span, link this CONSUMER span to the
producer's span and make the producer's context its parent. A message without headers,
or with broken ones, is still processed: in a new trace, with no link.",
            stub: "",
        }],
        failing: &[
            "one_trace_from_request_to_email",
            "nothing_personal_leaves_the_process_across_services",
        ],
        kept: &["messages_without_trace_headers_start_new_traces"],
    },
    Exercise {
        step: 4,
        title: "measure every request",
        minutes: 30,
        edits: &[
            Edit {
                file: "src/http_metrics.rs",
                anchor: "request_attributes",
                task: "Before the request runs: its attributes `http.request.method` (a known method, or
`_OTHER`) and `url.scheme`, and its route template if a route matched (`MatchedPath`).
Count it in `http.server.active_requests` while it runs (the `ActiveRequest` guard),
and time it.",
                stub: "",
            },
            Edit {
                file: "src/http_metrics.rs",
                anchor: "response_attributes",
                task: "After it ran: record its duration in seconds in `http.server.request.duration`, with
the method, the scheme, `http.response.status_code` (an integer), `http.route` (none
for an unknown route) and, on a 5xx only, `error.type`. Then return the response.",
                stub: "next.run(request).await",
            },
        ],
        failing: &[
            "request_metrics_count_every_request_http",
            "request_metrics_count_every_request_grpc",
            "metric_cardinality_stays_bounded",
        ],
        kept: &[],
    },
    Exercise {
        step: 5,
        title: "build the bridge",
        minutes: 25,
        edits: &[Edit {
            file: "src/telemetry.rs",
            anchor: "bridge",
            task: "Export the events as log records. Replace the `Identity` layer below (it does nothing)
with an `OpenTelemetryTracingBridge` over `logger_provider`, filtered by
LOG_EXPORT_FILTER (RUST_LOG's syntax; DEFAULT_EXPORT_FILTER when unset; a value that
does not parse is an error) and never taking an event from the exporter's own crates.",
            stub: "let exported_logs = tracing_subscriber::layer::Identity::new();",
        }],
        failing: &[
            "log_records_carry_their_request_context_http",
            "log_records_carry_their_request_context_grpc",
            "records_written_before_sigterm_arrive_http",
            "records_written_before_sigterm_arrive_grpc",
            "stdout_and_export_are_set_apart",
            "exporter_never_exports_its_own_logs_http",
            "exporter_never_exports_its_own_logs_grpc",
            "nothing_personal_in_any_log_record",
            "trace_context_and_child_spans_http",
            "trace_context_and_child_spans_grpc",
        ],
        kept: &[],
    },
    Exercise {
        step: 6,
        title: "one resource for every signal",
        minutes: 25,
        edits: &[Edit {
            file: "src/telemetry.rs",
            anchor: "resource",
            task: "One resource for the three signals. The stub below is step 5's: a service name, nothing
else. Build it from, each overriding the ones before:
1. defaults: service.name (the argument), service.version (the crate's version),
   service.namespace = workshop, deployment.environment.name = development, with the
   semantic conventions' schema URL;
2. what the process finds out about itself: service.instance.id, host.*, os.type,
   process.*, container.id, telemetry.sdk.*;
3. OTEL_RESOURCE_ATTRIBUTES;
4. OTEL_SERVICE_NAME, when it is set and not empty.",
            stub: "fn resource(service_name: &str) -> Resource {
    let name = std::env::var(\"OTEL_SERVICE_NAME\").unwrap_or_else(|_| service_name.to_owned());
    Resource::builder().with_service_name(name).build()
}",
        }],
        failing: &[
            "one_resource_on_every_signal_http",
            "one_resource_on_every_signal_grpc",
            "environment_overrides_the_resource",
            "instances_get_their_own_id",
        ],
        kept: &[],
    },
];

/// The exercise of step `step`, if the book has one.
pub fn exercise(step: u32) -> Option<&'static Exercise> {
    EXERCISES.iter().find(|exercise| exercise.step == step)
}
