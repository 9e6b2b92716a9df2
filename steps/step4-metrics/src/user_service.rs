//! Wiring of the user-service: connect to Postgres (required), prepare the cache, Kafka and
//! the email client (all optional at start), run the HTTP server and the two background
//! tasks, and stop them in order.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cache::UserCache;
use crate::config::UserServiceConfig;
use crate::consumer::WelcomeEmailConsumer;
use crate::email::EmailClient;
use crate::http::{self, AppState};
use crate::outage::{OutageLog, START_SERVICES};
use crate::outbox::OutboxRelay;
use crate::store::Store;
use crate::{events, server, shutdown};

/// How long the outbox relay and the consumer may take to stop after the HTTP server has.
const BACKGROUND_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn run(config: UserServiceConfig) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, config.database_max_connections).await?;
    crate::metrics::observe_connection_pool(store.pool().clone());
    let cache = UserCache::new(
        &config.redis_url,
        &config.cache_key_prefix,
        config.cache_ttl,
    )
    .with_context(|| format!("invalid REDIS_URL {:?}", config.redis_url))?;
    // Say at start, once, if Valkey is not there; the service works without it.
    let _ = cache.ping().await;

    let producer = events::producer(&config.kafka_brokers)
        .with_context(|| format!("invalid KAFKA_BROKERS {:?}", config.kafka_brokers))?;
    // The relay and the consumer share one outage log: one message when Kafka goes away.
    let kafka_outage = Arc::new(OutageLog::new(
        format!("Kafka at {}", config.kafka_brokers),
        "new users' events wait in the outbox table and welcome emails are delayed",
        START_SERVICES,
    ));
    let email =
        EmailClient::new(&config.email_service_url).context("cannot build the HTTP client")?;
    let consumer = WelcomeEmailConsumer::new(
        &config.kafka_brokers,
        &config.kafka_consumer_group,
        &config.kafka_topic,
        email,
        store.pool().clone(),
        kafka_outage.clone(),
    )
    .with_context(|| format!("invalid KAFKA_BROKERS {:?}", config.kafka_brokers))?;

    let outbox_wake = Arc::new(Notify::new());
    let relay = OutboxRelay::new(
        store.pool().clone(),
        producer,
        &config.kafka_brokers,
        &config.kafka_topic,
        outbox_wake.clone(),
        kafka_outage,
    );

    let listener = TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (USER_SERVICE_ADDR)",
                config.listen_addr
            )
        })?;

    let stop_background = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(stop_background.clone()));
    let consumer_task = tokio::spawn(consumer.run(stop_background.clone()));

    let state = Arc::new(AppState {
        store,
        cache,
        outbox_wake,
    });
    tracing::info!(
        "user-service listening on http://{}",
        listener.local_addr()?
    );
    // Stop accepting on SIGTERM/SIGINT, let in-flight requests finish...
    server::serve(listener, http::router(state), shutdown::signal_received()).await;
    // ...then stop the background tasks (each finishes the event in hand, if it can in time:
    // an event not finished is sent again after the restart).
    stop_background.cancel();
    let stopped = tokio::time::timeout(BACKGROUND_GRACE, async {
        let _ = tokio::join!(relay_task, consumer_task);
    });
    if stopped.await.is_err() {
        tracing::warn!("the outbox relay or the consumer did not stop within {BACKGROUND_GRACE:?}");
    }
    tracing::info!("user-service stopped");
    Ok(())
}
