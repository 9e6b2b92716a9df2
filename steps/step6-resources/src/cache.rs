//! The Valkey read-through cache. It is an optimisation, never a dependency: when Valkey is
//! down, a call fails within a timeout, the outage is logged once, the callers carry on with
//! Postgres, and for the next [`COOL_OFF`] the cache is not even asked (a circuit breaker), so
//! that the outage does not cost every request a timeout.

use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use redis::AsyncCommands;
use redis::ConnectionAddr;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::breaker::Breaker;
use crate::outage::{OutageLog, START_SERVICES};
use crate::user::User;

/// The longest a cache call may add to a request.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// How long the cache is skipped after a failed call.
pub const COOL_OFF: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cached value is not a user: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("skipped: Valkey failed less than {0:?} ago")]
    Skipped(Duration),
}

pub struct UserCache {
    connection: ConnectionManager,
    key_prefix: String,
    ttl_seconds: u64,
    target: CacheTarget,
    breaker: Breaker,
    outage: OutageLog,
}

impl UserCache {
    /// Does not connect yet: the connection is made on first use and re-made after failures,
    /// so the service starts (and keeps running) without Valkey.
    pub fn new(url: &str, key_prefix: &str, ttl: Duration) -> Result<Self, CacheError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        Ok(Self {
            target: CacheTarget::of(&client),
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            key_prefix: key_prefix.to_owned(),
            ttl_seconds: ttl.as_secs().max(1),
            breaker: Breaker::new(COOL_OFF, CALL_TIMEOUT),
            outage: OutageLog::new(
                format!("Valkey at {}", crate::config::redact_url(url)),
                "reads go to Postgres",
                START_SERVICES,
            ),
        })
    }

    fn key(&self, id: i64) -> String {
        format!("{}:user:{id}", self.key_prefix)
    }

    /// `Ok(None)` is a miss; an error means the cache could not answer.
    #[tracing::instrument(name = "cache_get_user", skip_all)]
    pub async fn get(&self, id: i64) -> Result<Option<User>, CacheError> {
        let mut connection = self.connection.clone();
        let key = self.key(id);
        let span = self.command_span("GET");
        let cached: Option<String> = self.call(&span, "GET", connection.get(&key)).await?;
        span.record("cache.hit", cached.is_some());
        Ok(cached.map(|json| serde_json::from_str(&json)).transpose()?)
    }

    #[tracing::instrument(name = "cache_put_user", skip_all)]
    pub async fn put(&self, user: &User) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let json = serde_json::to_string(user)?;
        let span = self.command_span("SET");
        let set = connection.set_ex::<_, _, ()>(self.key(user.id), json, self.ttl_seconds);
        self.call(&span, "SET", set).await
    }

    /// Round trip for `/readyz`. Not traced: probes are not traced.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let ping = redis::cmd("PING");
        let round_trip = ping.query_async::<String>(&mut connection);
        self.call(&Span::none(), "PING", round_trip).await.map(drop)
    }

    // ANCHOR: redis_span
    /// A CLIENT span per Valkey command, named after the command (`GET`, `SET`). The key is
    /// not recorded: it contains the user id.
    fn command_span(&self, operation: &'static str) -> Span {
        tracing::info_span!(
            "redis command",
            otel.name = operation,
            otel.kind = "client",
            db.system.name = "redis",
            db.operation.name = operation,
            db.namespace = self.target.database,
            server.address = self.target.address,
            server.port = self.target.port,
            // Not a semantic convention: this project's own attribute.
            cache.hit = Empty,
        )
    }
    // ANCHOR_END: redis_span

    /// Run a command in `span`, with a deadline, unless the breaker is open; keep the
    /// breaker and the outage log up to date, and measure the commands that ran.
    async fn call<T>(
        &self,
        span: &Span,
        operation: &'static str,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        if !self.breaker.allows_call() {
            // The span says why there was no call.
            let skipped = CacheError::Skipped(COOL_OFF);
            crate::telemetry::mark_failed(span, skipped.kind(), &skipped);
            return Err(skipped);
        }
        let started = Instant::now();
        let deadline = tokio::time::timeout(CALL_TIMEOUT, command).instrument(span.clone());
        let result = match deadline.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(CacheError::Redis(err)),
            Err(_) => Err(CacheError::Timeout(CALL_TIMEOUT)),
        };
        let mut attributes = vec![
            KeyValue::new("db.system.name", "redis"),
            KeyValue::new("db.operation.name", operation),
        ];
        if let Err(err) = &result {
            attributes.push(KeyValue::new("error.type", err.kind()));
        }
        crate::metrics::instruments()
            .db_operation_duration
            .record(started.elapsed().as_secs_f64(), &attributes);
        match &result {
            Ok(_) => {
                self.breaker.succeeded();
                self.outage.succeeded();
            }
            Err(err) => {
                self.breaker.failed();
                self.outage.failed(err);
                crate::telemetry::mark_failed(span, err.kind(), err);
            }
        }
        result
    }
}

/// Where the cache is, for the spans' `db.namespace`, `server.address` and `server.port`.
#[derive(Debug, Clone)]
struct CacheTarget {
    database: String,
    address: String,
    /// None for a Unix socket.
    port: Option<i64>,
}

impl CacheTarget {
    fn of(client: &redis::Client) -> Self {
        let info = client.get_connection_info();
        let (address, port) = match info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                (host.clone(), Some(i64::from(*port)))
            }
            other => (other.to_string(), None),
        };
        Self {
            database: info.redis_settings().db().to_string(),
            address,
            port,
        }
    }
}

impl CacheError {
    /// A low-cardinality `error.type`.
    fn kind(&self) -> &'static str {
        match self {
            Self::Redis(err) if err.is_timeout() => "timeout",
            Self::Redis(err) if err.is_io_error() => "io",
            Self::Redis(_) => "redis",
            Self::Timeout(_) => "timeout",
            Self::Corrupt(_) => "corrupt_value",
            Self::Skipped(_) => "circuit_open",
        }
    }
}
