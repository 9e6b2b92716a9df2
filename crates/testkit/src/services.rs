//! Where the tests find Postgres, Valkey and Kafka. Defaults match `make services`;
//! `TEST_DATABASE_URL`, `TEST_REDIS_URL` and `TEST_KAFKA_BROKERS` override them.
//!
//! A test never skips because a service is missing: it fails and says how to start it.

use std::time::Duration;

use tokio::net::TcpStream;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// An administrative connection URL (the `postgres` database); test databases are created
/// next to it.
pub fn postgres_admin_url() -> String {
    env_or(
        "TEST_DATABASE_URL",
        "postgres://postgres:postgres@127.0.0.1:5432/postgres",
    )
}

pub fn redis_url() -> String {
    env_or("TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

pub fn kafka_brokers() -> String {
    env_or("TEST_KAFKA_BROKERS", "127.0.0.1:9092")
}

/// `host:port` of a URL such as `postgres://user:pw@127.0.0.1:5432/db` or `127.0.0.1:9092`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host_port = rest.split(['/', '?', ',']).next().unwrap_or(rest);
    host_port.to_owned()
}

/// Fails with a message that says what to run when a service does not accept connections.
pub async fn require(name: &str, url: &str) {
    let address = host_port(url);
    let connect = TcpStream::connect(address.as_str());
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => panic!(
            "{name} is not reachable at {address} ({err}). Start the test services with `make services` \
             (or `make up` with Docker), or point the TEST_* variables at running ones."
        ),
        Err(_) => panic!("{name} at {address} did not accept a connection within 3 s"),
    }
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn extracts_host_and_port() {
        assert_eq!(
            host_port("postgres://u:p@127.0.0.1:5432/db"),
            "127.0.0.1:5432"
        );
        assert_eq!(host_port("redis://127.0.0.1:6379"), "127.0.0.1:6379");
        assert_eq!(host_port("127.0.0.1:9092"), "127.0.0.1:9092");
        assert_eq!(host_port("127.0.0.1:9092,127.0.0.1:9093"), "127.0.0.1:9092");
    }
}
