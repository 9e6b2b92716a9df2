//! The Valkey read-through cache. It is an optimisation, never a dependency: when Valkey is
//! down, a call fails within a timeout, the outage is logged once, the callers carry on with
//! Postgres, and for the next [`COOL_OFF`] the cache is not even asked (a circuit breaker), so
//! that the outage does not cost every request a timeout.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

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
        let cached: Option<String> = self.call(connection.get(&key)).await?;
        Ok(cached.map(|json| serde_json::from_str(&json)).transpose()?)
    }

    #[tracing::instrument(name = "cache_put_user", skip_all)]
    pub async fn put(&self, user: &User) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let json = serde_json::to_string(user)?;
        let set = connection.set_ex::<_, _, ()>(self.key(user.id), json, self.ttl_seconds);
        self.call(set).await
    }

    /// Round trip for `/readyz`.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let ping = redis::cmd("PING");
        let round_trip = ping.query_async::<String>(&mut connection);
        self.call(round_trip).await.map(drop)
    }

    /// Run a command with a deadline, unless the breaker is open; keep the breaker and the
    /// outage log up to date.
    async fn call<T>(
        &self,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        if !self.breaker.allows_call() {
            return Err(CacheError::Skipped(COOL_OFF));
        }
        let result = match tokio::time::timeout(CALL_TIMEOUT, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(CacheError::Redis(err)),
            Err(_) => Err(CacheError::Timeout(CALL_TIMEOUT)),
        };
        match &result {
            Ok(_) => {
                self.breaker.succeeded();
                self.outage.succeeded();
            }
            Err(err) => {
                self.breaker.failed();
                self.outage.failed(err);
                crate::telemetry::mark_failed(&tracing::Span::current(), err.kind(), err);
            }
        }
        result
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
