//! The outbox relay: publishes the `user.created` events that `POST /users` wrote to the
//! `outbox` table, then deletes them.
//!
//! Why an outbox: the user row and its event are committed together, so no user exists
//! without its event and no event names a user that was rolled back. When Kafka is down,
//! `POST /users` still succeeds and events wait in the table; the relay retries until the
//! broker is back. Delivery is at least once (a crash between publish and delete publishes
//! again), so consumers must tolerate duplicates.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::events::{self, Producer};
use crate::outage::{OutageLog, START_SERVICES};

/// Events per transaction.
const BATCH_SIZE: i64 = 100;
/// Poll interval when nobody rings the bell (after a restart, or while Kafka is down).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(sqlx::FromRow)]
struct PendingEvent {
    id: i64,
    message_key: String,
    payload: String,
}

pub struct OutboxRelay {
    pool: PgPool,
    producer: Producer,
    brokers: String,
    topic: String,
    /// Rung by `POST /users` after commit, so events go out at once rather than at the next poll.
    wake: Arc<Notify>,
    kafka_outage: Arc<OutageLog>,
    database_outage: OutageLog,
}

impl OutboxRelay {
    pub fn new(
        pool: PgPool,
        producer: Producer,
        brokers: &str,
        topic: &str,
        wake: Arc<Notify>,
        kafka_outage: Arc<OutageLog>,
    ) -> Self {
        Self {
            pool,
            producer,
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            wake,
            kafka_outage,
            database_outage: OutageLog::new(
                "Postgres",
                "events wait in the outbox table",
                START_SERVICES,
            ),
        }
    }

    /// Publish pending events until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let mut topic_ready = false;
        loop {
            if !topic_ready {
                match events::ensure_topic(&self.brokers, &self.topic).await {
                    Ok(()) => topic_ready = true,
                    Err(err) => self.kafka_outage.failed(&err),
                }
            }
            if topic_ready {
                match self.publish_pending().await {
                    Ok(()) => {
                        self.kafka_outage.succeeded();
                        self.database_outage.succeeded();
                    }
                    Err(RelayError::Kafka(err)) => self.kafka_outage.failed(&err),
                    Err(RelayError::Database(err)) => self.database_outage.failed(&err),
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Drain the outbox, a batch per transaction. Rows are locked with `SKIP LOCKED`, so
    /// several instances of the service can relay side by side.
    async fn publish_pending(&self) -> Result<(), RelayError> {
        loop {
            let mut tx = self.pool.begin().await?;
            let batch: Vec<PendingEvent> = sqlx::query_as(
                "SELECT id, message_key, payload FROM outbox \
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(BATCH_SIZE)
            .fetch_all(&mut *tx)
            .await?;
            if batch.is_empty() {
                return Ok(());
            }
            let mut published = Vec::with_capacity(batch.len());
            let mut failure = None;
            for event in &batch {
                match self.publish(event).await {
                    Ok(()) => published.push(event.id),
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
                .bind(&published)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if let Some(err) = failure {
                return Err(err);
            }
        }
    }

    /// Send one event and wait for the broker's acknowledgement.
    #[tracing::instrument(name = "publish_user_created", skip_all)]
    async fn publish(&self, event: &PendingEvent) -> Result<(), RelayError> {
        let record = FutureRecord::to(&self.topic)
            .key(&event.message_key)
            .payload(&event.payload);
        self.producer
            .send(record, Timeout::After(Duration::ZERO))
            .await
            .map(drop)
            .map_err(|(err, _message)| {
                let span = tracing::Span::current();
                crate::telemetry::mark_failed(&span, &kafka_error_type(&err), &err);
                RelayError::Kafka(err)
            })
    }
}

/// A low-cardinality `error.type`: the librdkafka error code, not the message.
fn kafka_error_type(err: &rdkafka::error::KafkaError) -> String {
    err.rdkafka_error_code()
        .map_or_else(|| "_OTHER".to_owned(), |code| format!("{code:?}"))
}

#[derive(Debug)]
enum RelayError {
    Database(sqlx::Error),
    Kafka(rdkafka::error::KafkaError),
}

impl From<sqlx::Error> for RelayError {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err)
    }
}
