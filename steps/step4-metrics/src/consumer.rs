//! The welcome-email consumer: reads `user.created` events and asks the email-service to
//! send a welcome email. The offset is committed, and the event confirmed to the outbox, only
//! after the email-service accepted the email, so a crash or a broker that loses events means
//! a retry, not a lost email. Events can arrive twice (delivery is at least once): the
//! email-service sends one email per idempotency key, and the key is the event's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset};
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
/// How long a group join started by subscribing again may take before it is started anew.
const JOIN_PATIENCE: Duration = Duration::from_secs(15);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Whether an event is finished with (its offset may be committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    /// Done with, but the email failed every attempt: the outbox publishes the event again.
    GaveUp,
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
        // From a Kafka error until the consumer reads the topic again: the broker may have
        // lost the topic (see `check_reading`).
        let mut recheck = false;
        let mut subscribed_again = None;
        let mut recheck_timer = tokio::time::interval(RECHECK_INTERVAL);
        loop {
            let message = tokio::select! {
                _ = stop.cancelled() => break,
                message = self.consumer.recv() => message,
                _ = recheck_timer.tick(), if recheck => {
                    recheck = !self.check_reading(&mut subscribed_again);
                    continue;
                }
            };
            match message {
                Ok(message) => {
                    self.outage.succeeded();
                    recheck = false;
                    let span = self.process_span(&message);
                    let started = Instant::now();
                    let outcome = self.handle(&message, &stop).instrument(span).await;
                    self.record_metrics(started, outcome);
                    if outcome == Outcome::Interrupted {
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

    /// After a Kafka error, make sure the consumer reads the topic again; returns whether
    /// it does. A broker that lost the topic (restarted empty, topic deleted) breaks this in
    /// two ways that librdkafka does not repair by itself:
    /// - no partition assigned: librdkafka does not rejoin the group when a subscribed topic
    ///   that vanished comes back, so subscribe again, which rejoins;
    /// - a partition assigned, but the position is past the end of the re-created topic
    ///   (tansu answers such a fetch with nothing rather than "offset out of range"), so the
    ///   consumer would wait for offsets the new topic reaches only after as many events:
    ///   read the partition again from its beginning.
    fn check_reading(&self, subscribed_again: &mut Option<Instant>) -> bool {
        // These calls block; this task is the consumer's own.
        tokio::task::block_in_place(|| {
            let assigned = self
                .consumer
                .assignment()
                .is_ok_and(|assignment| assignment.count() > 0);
            if !assigned {
                // A join takes a few seconds; do not restart one that may be under way.
                if subscribed_again.is_none_or(|at| at.elapsed() > JOIN_PATIENCE) {
                    *subscribed_again = self.subscribe_again().then(Instant::now);
                }
                return false;
            }
            let Ok(positions) = self.consumer.position() else {
                return false;
            };
            let mut reading = true;
            for partition in positions.elements() {
                let Offset::Offset(position) = partition.offset() else {
                    // Nothing fetched yet: look again at the next check.
                    reading = false;
                    continue;
                };
                let watermarks = self.consumer.fetch_watermarks(
                    partition.topic(),
                    partition.partition(),
                    RECHECK_INTERVAL,
                );
                let Ok((_low, high)) = watermarks else {
                    reading = false;
                    continue;
                };
                if position > high {
                    reading = false;
                    tracing::warn!(
                        position,
                        end = high,
                        "the Kafka topic is shorter than where the consumer was (the broker \
                         lost it); reading it again from the beginning"
                    );
                    let seek = self.consumer.seek(
                        partition.topic(),
                        partition.partition(),
                        Offset::Beginning,
                        RECHECK_INTERVAL,
                    );
                    if let Err(err) = seek {
                        tracing::warn!(%err, "cannot rewind the consumer; trying later");
                    }
                }
            }
            reading
        })
    }

    /// Subscribe again (which joins the group again) when the topic exists; returns whether
    /// it did. The consumer reads once the group has assigned the partitions.
    fn subscribe_again(&self) -> bool {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), RECHECK_INTERVAL);
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
        match self.consumer.subscribe(&[&self.topic]) {
            Ok(()) => {
                tracing::info!("subscribed again to the Kafka topic, which the broker had lost");
                true
            }
            Err(err) => {
                tracing::warn!(%err, "cannot subscribe again; trying later");
                false
            }
        }
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
        // ANCHOR: idempotency_key
        // One email per event, however often the event arrives.
        let idempotency_key = format!("user.created/{}", event.id);
        // ANCHOR_END: idempotency_key
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            let send = self
                .email
                .send_welcome(&event.email, &event.name, &idempotency_key);
            match send.await {
                Ok(()) => {
                    tracing::info!("welcome email sent");
                    // ANCHOR: confirm_sent
                    // The email-service has the email: only now is the event done with.
                    self.confirm(message).await;
                    // ANCHOR_END: confirm_sent
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
        Outcome::GaveUp
    }

    // ANCHOR: messaging_metrics
    /// One message consumed, and how long its processing took (`error.type` when the email
    /// could not be sent).
    fn record_metrics(&self, started: Instant, outcome: Outcome) {
        let metrics = crate::metrics::instruments();
        let attributes = |operation: &'static str| {
            vec![
                KeyValue::new("messaging.system", "kafka"),
                KeyValue::new("messaging.operation.name", operation),
                KeyValue::new("messaging.destination.name", self.topic.clone()),
                KeyValue::new("messaging.consumer.group.name", self.group.clone()),
            ]
        };
        metrics.messages_consumed.add(1, &attributes("poll"));
        let mut processed = attributes("process");
        if outcome == Outcome::GaveUp {
            processed.push(KeyValue::new("error.type", "email_failed"));
        }
        metrics
            .process_duration
            .record(started.elapsed().as_secs_f64(), &processed);
    }
    // ANCHOR_END: messaging_metrics

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
