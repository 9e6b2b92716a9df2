//! The welcome-email consumer: reads `user.created` events and asks the email-service to
//! send a welcome email. The offset is committed, and the event confirmed to the outbox, only
//! after the email-service accepted the email, so a crash or a broker that loses events means
//! a retry, not a lost email. Events can arrive twice (delivery is at least once): the
//! email-service sends one email per idempotency key, and the key is the event's.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TraceContextExt;
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::message::BorrowedMessage;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::email::EmailClient;
use crate::events::{self, Consumer, TopicAdmin};
use crate::kafka_propagation::KafkaHeaderExtractor;
use crate::outage::OutageLog;
use crate::outbox;
use crate::user::UserCreated;

/// Attempts per event before it is given up (and logged as an error).
const MAX_ATTEMPTS: u32 = 5;
/// How often, after a Kafka error, the consumer checks that it still reads the topic.
const RECHECK_INTERVAL: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Whether an event is finished with (its offset may be committed).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Interrupted,
}

pub struct WelcomeEmailConsumer {
    consumer: Consumer,
    topics: TopicAdmin,
    topic: String,
    group: String,
    email: EmailClient,
    /// Where handled events are confirmed (see [`outbox::confirm`]).
    outbox: PgPool,
    outage: Arc<OutageLog>,
}

impl WelcomeEmailConsumer {
    pub fn new(
        brokers: &str,
        group: &str,
        topic: &str,
        email: EmailClient,
        outbox: PgPool,
        kafka_outage: Arc<OutageLog>,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        Ok(Self {
            consumer: events::consumer(brokers, group)?,
            topics: TopicAdmin::new(brokers, topic)?,
            topic: topic.to_owned(),
            group: group.to_owned(),
            email,
            outbox,
            outage: kafka_outage,
        })
    }

    pub async fn run(self, stop: CancellationToken) {
        // The topic may not exist yet on a fresh broker; subscribing to a missing topic
        // would only report errors.
        while let Err(err) = self.topics.ensure().await {
            self.outage.failed(&err);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        if let Err(err) = self.consumer.subscribe(&[&self.topic]) {
            tracing::error!(%err, topic = %self.topic, "cannot subscribe; no welcome emails will be sent");
            return;
        }
        // From a Kafka error to the next message: the broker may have lost the topic (see
        // `rejoin_if_unassigned`).
        let mut recheck = false;
        let mut recheck_timer = tokio::time::interval(RECHECK_INTERVAL);
        loop {
            let message = tokio::select! {
                _ = stop.cancelled() => break,
                message = self.consumer.recv() => message,
                _ = recheck_timer.tick(), if recheck => {
                    recheck = !self.rejoin_if_unassigned();
                    continue;
                }
            };
            match message {
                Ok(message) => {
                    self.outage.succeeded();
                    recheck = false;
                    let span = self.process_span(&message);
                    if self.handle(&message, &stop).instrument(span).await == Outcome::Interrupted {
                        // Not committed: the event is processed again after the restart.
                        break;
                    }
                    if let Err(err) = self.consumer.commit_message(&message, CommitMode::Async) {
                        tracing::warn!(%err, "offset commit failed; the event may be processed again");
                    }
                }
                Err(err) => {
                    self.outage.failed(&err);
                    recheck = true;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        self.commit_on_shutdown().await;
        tracing::info!("welcome-email consumer stopped");
    }

    /// librdkafka does not rejoin the group when a subscribed topic that vanished (broker
    /// restarted empty, topic deleted) comes back: the consumer would keep an empty
    /// assignment and never read the topic again. So, with no partition assigned and the
    /// topic there, subscribe again, which rejoins. Returns whether it did.
    fn rejoin_if_unassigned(&self) -> bool {
        // Partitions assigned: nothing to do yet (the group may still be about to lose them).
        if self
            .consumer
            .assignment()
            .is_ok_and(|assignment| assignment.count() > 0)
        {
            return false;
        }
        // A metadata request blocks; this task is the consumer's own.
        let metadata = tokio::task::block_in_place(|| {
            self.consumer
                .fetch_metadata(Some(&self.topic), RECHECK_INTERVAL)
        });
        let topic_exists = metadata.is_ok_and(|metadata| {
            metadata
                .topics()
                .iter()
                .any(|topic| topic.error().is_none() && !topic.partitions().is_empty())
        });
        if !topic_exists {
            return false;
        }
        self.consumer.unsubscribe();
        if let Err(err) = self.consumer.subscribe(&[&self.topic]) {
            tracing::warn!(%err, "cannot subscribe again; trying later");
            return false;
        }
        tracing::info!("subscribed again to the Kafka topic, which the broker had lost");
        true
    }

    // ANCHOR: consumer_span
    /// A CONSUMER span per message. Its parent is the producer's span, read from the
    /// message headers, and it also *links* to it: the parent makes one trace from the
    /// request to the email, the link is how messaging conventions connect the two sides
    /// (a batch consumer would link to many producers). No or broken headers: a new trace.
    fn process_span(&self, message: &BorrowedMessage<'_>) -> Span {
        let span = tracing::info_span!(
            "kafka process",
            otel.name = format!("process {}", self.topic),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.operation.type = "process",
            messaging.operation.name = "process",
            messaging.destination.name = self.topic,
            messaging.consumer.group.name = self.group,
            messaging.destination.partition.id = message.partition().to_string(),
            messaging.kafka.offset = message.offset(),
            messaging.kafka.message.key = message.key().and_then(|key| std::str::from_utf8(key).ok()),
        );
        // ANCHOR: consumer_link
        let producer = KafkaHeaderExtractor(message.headers()).context();
        let producer_span = producer.span().span_context().clone();
        if producer_span.is_valid() {
            span.add_link(producer_span);
            if let Err(err) = span.set_parent(producer) {
                tracing::debug!(%err, "cannot continue the producer's trace");
            }
        }
        // ANCHOR_END: consumer_link
        span
    }
    // ANCHOR_END: consumer_span

    async fn handle(&self, message: &BorrowedMessage<'_>, stop: &CancellationToken) -> Outcome {
        let event: UserCreated = match message.payload().map(serde_json::from_slice) {
            Some(Ok(event)) => event,
            Some(Err(err)) => {
                tracing::error!(%err, offset = message.offset(), "skipping malformed user.created event");
                // Published again, it would be just as malformed.
                self.confirm(message).await;
                return Outcome::Done;
            }
            None => {
                tracing::error!(
                    offset = message.offset(),
                    "skipping empty user.created event"
                );
                self.confirm(message).await;
                return Outcome::Done;
            }
        };
        // One email per event, however often the event arrives.
        let idempotency_key = format!("user.created/{}", event.id);
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            let send = self
                .email
                .send_welcome(&event.email, &event.name, &idempotency_key);
            match send.await {
                Ok(()) => {
                    tracing::info!("welcome email sent");
                    self.confirm(message).await;
                    return Outcome::Done;
                }
                Err(err) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(attempt, %err, "welcome email failed, retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return Outcome::Interrupted,
                        _ = tokio::time::sleep(backoff) => backoff *= 2,
                    }
                }
                Err(err) => {
                    // Not confirmed: the outbox relay publishes the event again later.
                    tracing::error!(%err, "welcome email failed {MAX_ATTEMPTS} times; it is tried again when the event comes back");
                }
            }
        }
        Outcome::Done
    }

    /// Flush the last asynchronous commit before the consumer is dropped.
    async fn commit_on_shutdown(self) {
        let consumer = self.consumer;
        let result =
            tokio::task::spawn_blocking(move || consumer.commit_consumer_state(CommitMode::Sync))
                .await;
        match result {
            Ok(Ok(()))
            | Ok(Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            ))) => {}
            Ok(Err(err)) => tracing::warn!(%err, "final offset commit failed"),
            Err(err) => tracing::warn!(%err, "final offset commit panicked"),
        }
    }

    /// Tell the outbox that the event is done with (the relay stops publishing it again).
    async fn confirm(&self, message: &BorrowedMessage<'_>) {
        let Some(key) = message.key().and_then(|key| std::str::from_utf8(key).ok()) else {
            return;
        };
        if let Err(err) = outbox::confirm(&self.outbox, key).await {
            tracing::warn!(%err, "cannot confirm the event to the outbox; it will be published again, and its email is not sent twice");
        }
    }
}
