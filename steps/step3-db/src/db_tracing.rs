//! A CLIENT span for every Postgres statement, as the database semantic conventions say.
//! sqlx 0.9 emits no spans of its own (only a log event per query), and no maintained crate
//! instruments it for OpenTelemetry 0.33, so this module does it in a few lines.

use std::str::FromStr;

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

/// Which database the spans talk about: `db.namespace`, `server.address`, `server.port`.
#[derive(Debug, Clone)]
pub struct DbTarget {
    namespace: String,
    address: String,
    port: i64,
}

impl DbTarget {
    pub fn from_url(url: &str) -> Self {
        match PgConnectOptions::from_str(url) {
            Ok(options) => Self {
                namespace: options.get_database().unwrap_or_default().to_owned(),
                address: options.get_host().to_owned(),
                port: i64::from(options.get_port()),
            },
            Err(_) => Self {
                namespace: String::new(),
                address: "unknown".to_owned(),
                port: 0,
            },
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
            otel.status_code = Empty,
            db.system.name = "postgresql",
            db.namespace = self.namespace,
            db.collection.name = statement.collection,
            db.operation.name = statement.operation,
            db.query.text = statement.text,
            db.response.status_code = Empty,
            error.type = Empty,
            server.address = self.address,
            server.port = self.port,
        );
        let result = query.instrument(span.clone()).await;
        if let Err(err) = &result {
            record_error(&span, err);
        }
        result
    }
    // ANCHOR_END: db_span
}

/// Status Error, and the SQLSTATE (e.g. `23505`, unique violation) when Postgres sent one.
fn record_error(span: &Span, err: &sqlx::Error) {
    span.record("otel.status_code", "error");
    match err {
        sqlx::Error::Database(db_error) => {
            let code = db_error
                .code()
                .map(|code| code.into_owned())
                .unwrap_or_default();
            span.record("db.response.status_code", code.as_str());
            span.record("error.type", code.as_str());
        }
        sqlx::Error::PoolTimedOut => {
            span.record("error.type", "pool_timed_out");
        }
        sqlx::Error::Io(_) => {
            span.record("error.type", "io");
        }
        _ => {
            span.record("error.type", "_OTHER");
        }
    }
}
