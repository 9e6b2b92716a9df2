//! A CLIENT span for every Postgres statement, as the database semantic conventions say.
//! sqlx 0.9 emits no spans of its own (only a log event per query), and no maintained crate
//! instruments it for OpenTelemetry 0.33, so this module does it in a few lines. Since step 4
//! it also records each statement in the `db.client.operation.duration` histogram.

use std::str::FromStr;
use std::time::Instant;

use opentelemetry::KeyValue;
use sqlx::postgres::PgConnectOptions;
use tracing::field::Empty;
use tracing::{Instrument, Span};

// ANCHOR: statement
/// A SQL statement with what the span needs to know about it. The text has placeholders
/// (`$1`), never values: `db.query.text` must not leak the data.
pub struct Statement {
    /// `db.operation.name`, e.g. `SELECT`.
    pub operation: &'static str,
    /// `db.collection.name`, the table, e.g. `users`.
    pub collection: &'static str,
    /// `db.query.text`, and the SQL that runs.
    pub text: &'static str,
}
// ANCHOR_END: statement

/// Which database the spans talk about: `db.namespace`, `server.address`, `server.port`
/// (left out when the URL cannot be parsed; the pool then reports the error itself).
#[derive(Debug, Clone, Default)]
pub struct DbTarget {
    namespace: Option<String>,
    address: Option<String>,
    port: Option<i64>,
}

impl DbTarget {
    pub fn from_url(url: &str) -> Self {
        match PgConnectOptions::from_str(url) {
            Ok(options) => Self {
                namespace: options.get_database().map(str::to_owned),
                address: Some(options.get_host().to_owned()),
                port: Some(i64::from(options.get_port())),
            },
            Err(_) => Self::default(),
        }
    }

    // ANCHOR: db_span
    /// Run `query` inside a CLIENT span named `{operation} {table}` (`SELECT users`).
    pub async fn traced<T>(
        &self,
        statement: &Statement,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let span = tracing::info_span!(
            "db query",
            otel.name = format!("{} {}", statement.operation, statement.collection),
            otel.kind = "client",
            db.system.name = "postgresql",
            db.namespace = self.namespace.as_deref(),
            db.collection.name = statement.collection,
            db.operation.name = statement.operation,
            db.query.text = statement.text,
            db.response.status_code = Empty,
            server.address = self.address.as_deref(),
            server.port = self.port,
        );
        let started = Instant::now();
        let result = query.instrument(span.clone()).await;
        let mut attributes = vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.operation.name", statement.operation),
            KeyValue::new("db.collection.name", statement.collection),
        ];
        if let Err(err) = &result {
            attributes.push(KeyValue::new("error.type", record_failure(&span, err)));
        }
        crate::metrics::instruments()
            .db_operation_duration
            .record(started.elapsed().as_secs_f64(), &attributes);
        result
    }
    // ANCHOR_END: db_span
}

/// Status Error with `error.type`, and the SQLSTATE (e.g. `23505`, unique violation) in
/// `db.response.status_code` when Postgres sent one. Returns the `error.type`.
fn record_failure(span: &Span, err: &sqlx::Error) -> String {
    let sqlstate = match err {
        sqlx::Error::Database(db_error) => db_error.code().map(|code| code.into_owned()),
        _ => None,
    };
    if let Some(code) = &sqlstate {
        span.record("db.response.status_code", code.as_str());
    }
    let error_type = match err {
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::Io(_) => "io",
        _ => sqlstate.as_deref().unwrap_or("_OTHER"),
    };
    crate::telemetry::mark_failed(span, error_type, err);
    error_type.to_owned()
}
