//! Configuration from environment variables only, with defaults that work on a laptop
//! (`make services` or `make up`). The README has the same table.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// A variable is set but its value cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid value {value:?} for {name}: {reason}")]
pub struct ConfigError {
    name: &'static str,
    value: String,
    reason: String,
}

#[derive(Debug, Clone)]
pub struct UserServiceConfig {
    /// `USER_SERVICE_ADDR`: where the HTTP API listens.
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`: the database is created if it does not exist.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`: the Postgres pool's size. Postgres accepts 100 clients by
    /// default, for every process together: many instances on one server need fewer each.
    pub database_max_connections: u32,
    /// `REDIS_URL`: Valkey (or Redis) for the read-through cache.
    pub redis_url: String,
    /// `CACHE_KEY_PREFIX`: namespace of this service's keys in a shared Valkey.
    pub cache_key_prefix: String,
    /// `CACHE_TTL_SECONDS`: how long a cached user lives.
    pub cache_ttl: Duration,
    /// `KAFKA_BROKERS`: bootstrap servers (use 127.0.0.1 rather than localhost: see README).
    pub kafka_brokers: String,
    /// `KAFKA_TOPIC`: where `user.created` events go.
    pub kafka_topic: String,
    /// `KAFKA_CONSUMER_GROUP`: the welcome-email consumer's own group.
    pub kafka_consumer_group: String,
    /// `EMAIL_SERVICE_URL`: base URL of the email-service.
    pub email_service_url: String,
}

impl UserServiceConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: parsed("USER_SERVICE_ADDR", "127.0.0.1:8080")?,
            database_url: text(
                "DATABASE_URL",
                "postgres://postgres:postgres@127.0.0.1:5432/users",
            ),
            database_max_connections: pool_size("DATABASE_MAX_CONNECTIONS", "10")?,
            redis_url: text("REDIS_URL", "redis://127.0.0.1:6379"),
            cache_key_prefix: text("CACHE_KEY_PREFIX", "user-service"),
            cache_ttl: Duration::from_secs(parsed("CACHE_TTL_SECONDS", "300")?),
            kafka_brokers: text("KAFKA_BROKERS", "127.0.0.1:9092"),
            kafka_topic: text("KAFKA_TOPIC", "user.created"),
            kafka_consumer_group: text("KAFKA_CONSUMER_GROUP", "user-service-welcome-email"),
            email_service_url: text("EMAIL_SERVICE_URL", "http://127.0.0.1:8081"),
        })
    }
}

#[derive(Debug, Clone)]
pub struct EmailServiceConfig {
    /// `EMAIL_SERVICE_ADDR`: where the email-service listens.
    pub listen_addr: SocketAddr,
    /// `EMAIL_FAILURE_RATE`: share of calls (0.0–1.0) that fail with 503, to demo errors.
    pub failure_rate: f64,
}

impl EmailServiceConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let failure_rate: f64 = parsed("EMAIL_FAILURE_RATE", "0.0")?;
        if !(0.0..=1.0).contains(&failure_rate) {
            return Err(ConfigError {
                name: "EMAIL_FAILURE_RATE",
                value: failure_rate.to_string(),
                reason: "must be between 0.0 and 1.0".into(),
            });
        }
        Ok(Self {
            listen_addr: parsed("EMAIL_SERVICE_ADDR", "127.0.0.1:8081")?,
            failure_rate,
        })
    }
}

/// A pool size: at least one connection (a pool of none would make every query wait).
fn pool_size(name: &'static str, default: &str) -> Result<u32, ConfigError> {
    let size: u32 = parsed(name, default)?;
    if size == 0 {
        return Err(ConfigError {
            name,
            value: size.to_string(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(size)
}

/// The variable's value, or the default when it is unset or empty.
fn text(name: &'static str, default: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => default.to_owned(),
    }
}

fn parsed<T>(name: &'static str, default: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let value = text(name, default);
    value.parse().map_err(|err: T::Err| ConfigError {
        name,
        reason: err.to_string(),
        value,
    })
}

/// A URL fit for logs: the password, if any, is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://postgres:secret@127.0.0.1:5432/users"),
            "postgres://postgres:***@127.0.0.1:5432/users"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("postgres://me@db/x"), "postgres://me@db/x");
    }
}
