//! The outbox relay: publishes the `user.created` events that `POST /users` wrote to the
//! `outbox` table.
//!
//! Why an outbox: the user row and its event are committed together, so no user exists
//! without its event and no event names a user that was rolled back. When Kafka is down,
//! `POST /users` still succeeds and events wait in the table; the relay retries until the
//! broker is back.
//!
//! Why a row outlives the broker's acknowledgement: a broker that restarts without its
//! storage, or whose topic is deleted, loses events it acknowledged (tansu's memory store
//! even acknowledges events for a topic it no longer has). So a row stays until the
//! welcome-email consumer has done its work and deletes it ([`confirm`]). The relay publishes
//! a row again when it was not confirmed in time (waiting longer each time), and at once
//! when it finds the topic gone. Delivery is at least once, so the email path suppresses
//! duplicates: the event's key is the email's idempotency key (see `email.rs`).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::events::{Producer, TopicAdmin, TopicState};
use crate::kafka_propagation::{KafkaHeaderInjector, context_from_stored_headers};
use crate::outage::{OutageLog, START_SERVICES};

/// Events per transaction.
const BATCH_SIZE: i64 = 100;
/// Poll interval when nobody rings the bell (after a restart, or while Kafka is down).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a published event may stay unconfirmed before it is published again; doubled
/// at each attempt, up to 64 times this (about 11 minutes), so that a stalled consumer does
/// not get a flood of copies.
const REDELIVERY_AFTER: Duration = Duration::from_secs(10);

#[derive(sqlx::FromRow)]
struct PendingEvent {
    id: i64,
    message_key: String,
    payload: String,
    /// The trace context of the request that created the event (JSON).
    headers: String,
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

    /// Publish due events until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        // Created on first use: creating it can fail, and the relay keeps trying.
        let mut topics = None;
        loop {
            match self.publish_due(&mut topics).await {
                Ok(published) => {
                    // Only a publish says Kafka is back: with nothing due (or every due row
                    // still locked by a transaction being rolled back), Kafka was not asked.
                    if published > 0 {
                        self.kafka_outage.succeeded();
                    }
                    self.database_outage.succeeded();
                }
                Err(RelayError::Kafka(err)) => self.kafka_outage.failed(&err),
                Err(RelayError::Database(err)) => self.database_outage.failed(&err),
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Publish the events that were never published, or not confirmed in time, a batch per
    /// transaction. Rows are locked with `SKIP LOCKED`, so several instances of the service
    /// can relay side by side. Returns how many events it published.
    async fn publish_due(&self, topics: &mut Option<TopicAdmin>) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let batch: Vec<PendingEvent> = sqlx::query_as(
                "SELECT id, message_key, payload, headers FROM outbox \
                 WHERE published_at IS NULL \
                    OR published_at < now() - make_interval(secs => $2 * 2 ^ LEAST(publish_count - 1, 6)) \
                 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(BATCH_SIZE)
            .bind(REDELIVERY_AFTER.as_secs_f64())
            .fetch_all(&mut *tx)
            .await?;
            if batch.is_empty() {
                return Ok(total);
            }
            // Asked before every batch, not once: the broker may have lost the topic since.
            if self.ensure_topic(topics).await? == TopicState::Created {
                // The topic was gone, and with it every event the broker had not delivered
                // yet: all unconfirmed events are due again, not only this batch.
                let again = sqlx::query(
                    "UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL",
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                if again.rows_affected() > 0 {
                    tracing::warn!(
                        events = again.rows_affected(),
                        "the Kafka topic was gone (broker restarted empty, or topic deleted); \
                         publishing every unconfirmed event again"
                    );
                }
                continue;
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
            sqlx::query(
                "UPDATE outbox SET published_at = now(), publish_count = publish_count + 1 \
                 WHERE id = ANY($1)",
            )
            .bind(&published)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            total += published.len();
            if let Some(err) = failure {
                return Err(err);
            }
        }
    }

    async fn ensure_topic(
        &self,
        topics: &mut Option<TopicAdmin>,
    ) -> Result<TopicState, RelayError> {
        let admin = match topics {
            Some(admin) => admin,
            None => topics
                .insert(TopicAdmin::new(&self.brokers, &self.topic).map_err(RelayError::Kafka)?),
        };
        admin.ensure().await.map_err(RelayError::Kafka)
    }

    // ANCHOR: producer_span
    /// Send one event and wait for the broker's acknowledgement, in a PRODUCER span that
    /// continues the trace of the request that created the event.
    async fn publish(&self, event: &PendingEvent) -> Result<(), RelayError> {
        let span = tracing::info_span!(
            "kafka send",
            otel.name = format!("send {}", self.topic),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.operation.name = "send",
            messaging.destination.name = self.topic,
            messaging.destination.partition.id = Empty,
            messaging.kafka.message.key = event.message_key,
            messaging.kafka.offset = Empty,
        );
        // ANCHOR: producer_context
        let request_context = context_from_stored_headers(&event.headers);
        if let Err(err) = span.set_parent(request_context) {
            tracing::debug!(%err, "cannot continue the request's trace");
        }
        // The consumer continues from *this* span: its context goes into the message.
        let headers = KafkaHeaderInjector::headers_for(&span.context());
        let record = FutureRecord::to(&self.topic)
            .key(&event.message_key)
            .payload(&event.payload)
            .headers(headers);
        // ANCHOR_END: producer_context
        let delivery = self
            .producer
            .send(record, Timeout::After(Duration::ZERO))
            .instrument(span.clone())
            .await;
        match delivery {
            Ok(delivery) => {
                span.record(
                    "messaging.destination.partition.id",
                    delivery.partition.to_string(),
                );
                span.record("messaging.kafka.offset", delivery.offset);
                Ok(())
            }
            Err((err, _message)) => {
                crate::telemetry::mark_failed(&span, &kafka_error_type(&err), &err);
                Err(RelayError::Kafka(err))
            }
        }
    }
    // ANCHOR_END: producer_span
}

/// A low-cardinality `error.type`: the librdkafka error code, not the message.
fn kafka_error_type(err: &rdkafka::error::KafkaError) -> String {
    err.rdkafka_error_code()
        .map_or_else(|| "_OTHER".to_owned(), |code| format!("{code:?}"))
}

/// The welcome-email consumer is done with the `user.created` event of this key (the user
/// id): its row leaves the outbox. A failure here costs a duplicate, never an email: the
/// event is published again later and the email path suppresses the copy.
pub async fn confirm(pool: &PgPool, message_key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM outbox WHERE event_type = 'user.created' AND message_key = $1")
        .bind(message_key)
        .execute(pool)
        .await?;
    Ok(())
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
