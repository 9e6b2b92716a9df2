//! The service's metrics, new in step 4: one place that names every instrument, with the
//! semantic conventions' names, units and bucket boundaries.
//!
//! Every kind of span of step 3 has its metric here: the server span ↔
//! `http.server.request.duration`, the HTTP client span ↔ `http.client.request.duration`,
//! the Postgres and Valkey spans ↔ `db.client.operation.duration`, the producer and consumer
//! spans ↔ the `messaging.*` metrics. A span tells the story of one request; a metric counts
//! all of them, cheaply, for ever: it is an aggregate in memory, exported every
//! `OTEL_METRIC_EXPORT_INTERVAL`, whatever the traffic.
//!
//! Attributes are the metric's *dimensions*: each distinct set of values is one more time
//! series in Mimir. So they take only bounded values: a route template, never a path; a
//! known method or `_OTHER`; a status code; never an id, an email or a user agent.

use std::sync::LazyLock;

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, UpDownCounter};
use opentelemetry::{KeyValue, global};
use sqlx::PgPool;
use tokio::runtime::RuntimeMetrics;

// ANCHOR: buckets
/// The semantic conventions' advice for HTTP and messaging durations, in seconds. The SDK's
/// default buckets (0 … 10 000) are made for milliseconds: with them, every request of this
/// service would land in the first bucket.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// The semantic conventions' advice for database operations, in seconds.
const DB_DURATION_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
// ANCHOR_END: buckets

/// The instrumentation scope: our own code, named as the tracer is.
fn meter() -> Meter {
    global::meter("workshop")
}

/// Every synchronous instrument of the service. Made on first use, which comes after
/// `telemetry::init` has installed the meter provider (an instrument made before would
/// belong to the no-op provider, and record nothing, for ever).
pub struct Instruments {
    pub http_server_duration: Histogram<f64>,
    pub http_server_active_requests: UpDownCounter<i64>,
    pub http_client_duration: Histogram<f64>,
    pub db_operation_duration: Histogram<f64>,
    pub messages_sent: Counter<u64>,
    pub messages_consumed: Counter<u64>,
    pub process_duration: Histogram<f64>,
    pub users_created: Counter<u64>,
    pub emails_sent: Counter<u64>,
    pub outbox_backlog: Gauge<i64>,
}

/// The instruments (see [`Instruments`] for when they are made).
pub fn instruments() -> &'static Instruments {
    static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| Instruments::new(&meter()));
    &INSTRUMENTS
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        Self {
            // ANCHOR: http_server_duration
            http_server_duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            // ANCHOR_END: http_server_duration
            http_server_active_requests: meter
                .i64_up_down_counter("http.server.active_requests")
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests.")
                .build(),
            http_client_duration: meter
                .f64_histogram("http.client.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP client requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            db_operation_duration: meter
                .f64_histogram("db.client.operation.duration")
                .with_unit("s")
                .with_description("Duration of database client operations.")
                .with_boundaries(DB_DURATION_BUCKETS.to_vec())
                .build(),
            messages_sent: meter
                .u64_counter("messaging.client.sent.messages")
                .with_unit("{message}")
                .with_description("Number of messages a producer attempted to send to the broker.")
                .build(),
            messages_consumed: meter
                .u64_counter("messaging.client.consumed.messages")
                .with_unit("{message}")
                .with_description("Number of messages that were delivered to the application.")
                .build(),
            process_duration: meter
                .f64_histogram("messaging.process.duration")
                .with_unit("s")
                .with_description("Duration of processing operation.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            // ANCHOR: business
            users_created: meter
                .u64_counter("users.created")
                .with_unit("{user}")
                .with_description("Users signed up.")
                .build(),
            emails_sent: meter
                .u64_counter("emails.sent")
                .with_unit("{email}")
                .with_description("Emails asked for, by outcome: sent, duplicate, failed.")
                .build(),
            // ANCHOR_END: business
            outbox_backlog: meter
                .i64_gauge("outbox.backlog")
                .with_unit("{event}")
                .with_description("user.created events waiting to be published to Kafka.")
                .build(),
        }
    }
}

// ANCHOR: pool_gauge
/// `db.client.connection.count` by state, read from the pool at each export: an
/// asynchronous ("observable") instrument, whose callback the SDK calls when it collects.
pub fn observe_connection_pool(pool: PgPool) {
    meter()
        .i64_observable_up_down_counter("db.client.connection.count")
        .with_unit("{connection}")
        .with_description("The number of connections that are currently in the state described by the state attribute.")
        .with_callback(move |observer| {
            let open = i64::from(pool.size());
            let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
            let pool_name = KeyValue::new("db.client.connection.pool.name", "users");
            for (state, count) in [("idle", idle), ("used", open - idle)] {
                observer.observe(
                    count,
                    &[
                        pool_name.clone(),
                        KeyValue::new("db.client.connection.state", state),
                    ],
                );
            }
        })
        .build();
}
// ANCHOR_END: pool_gauge

// ANCHOR: runtime
/// The process's CPU time and memory (`process.*` conventions) and the tokio runtime's
/// figures (no convention exists for them yet: `tokio.runtime.*` is this project's name).
/// Call it inside the runtime.
pub fn observe_process_and_runtime() {
    let meter = meter();
    meter
        .f64_observable_counter("process.cpu.time")
        .with_unit("s")
        .with_description("Total CPU seconds broken down by different CPU modes.")
        .with_callback(|observer| {
            if let Some(cpu) = process_stats::cpu_time() {
                observer.observe(cpu.user.as_secs_f64(), &[KeyValue::new("cpu.mode", "user")]);
                observer.observe(
                    cpu.system.as_secs_f64(),
                    &[KeyValue::new("cpu.mode", "system")],
                );
            }
        })
        .build();
    meter
        .i64_observable_up_down_counter("process.memory.usage")
        .with_unit("By")
        .with_description("The amount of physical memory in use.")
        .with_callback(|observer| {
            if let Some(bytes) = process_stats::resident_memory_bytes() {
                observer.observe(i64::try_from(bytes).unwrap_or(i64::MAX), &[]);
            }
        })
        .build();
    // ANCHOR: tokio_gauges
    let runtime = tokio::runtime::Handle::current().metrics();
    #[rustfmt::skip]
    let figures: [RuntimeFigure; 3] = [
        ("tokio.runtime.workers", "{worker}", "Worker threads of the runtime.", |rt| rt.num_workers()),
        ("tokio.runtime.alive_tasks", "{task}", "Tasks alive in the runtime.", |rt| rt.num_alive_tasks()),
        ("tokio.runtime.global_queue_depth", "{task}", "Tasks waiting in the runtime's global queue.", |rt| rt.global_queue_depth()),
    ];
    for (name, unit, description, read) in figures {
        let runtime = runtime.clone();
        meter
            .i64_observable_gauge(name)
            .with_unit(unit)
            .with_description(description)
            .with_callback(move |observer| {
                observer.observe(i64::try_from(read(&runtime)).unwrap_or(i64::MAX), &[]);
            })
            .build();
    }
    // ANCHOR_END: tokio_gauges
}

/// Name, unit, description, and how to read a figure of the tokio runtime.
type RuntimeFigure = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RuntimeMetrics) -> usize,
);
// ANCHOR_END: runtime
