//! Kafka plumbing shared by the outbox relay (producer) and the welcome-email consumer:
//! client settings, topic creation, and a context that keeps librdkafka quiet.

use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

/// How long a publish may wait for the broker before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// librdkafka reports every failed reconnect; the service reports an outage once instead
/// (see `outage.rs`), so its own log lines go to `debug`.
#[derive(Clone, Default)]
pub struct QuietContext;

impl ClientContext for QuietContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(target: "librdkafka", ?level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", %error, reason);
    }
}

impl ConsumerContext for QuietContext {}

pub type Producer = FutureProducer<QuietContext>;
pub type Consumer = StreamConsumer<QuietContext>;

fn base_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("socket.timeout.ms", "5000")
        // Reconnect quickly once the broker is back.
        .set("reconnect.backoff.max.ms", "2000");
    config
}

pub fn producer(brokers: &str) -> Result<Producer, KafkaError> {
    base_config(brokers)
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        )
        .set("acks", "all")
        .create_with_context(QuietContext)
}

/// A consumer in its own group that commits offsets itself, after the work is done.
pub fn consumer(brokers: &str, group: &str) -> Result<Consumer, KafkaError> {
    base_config(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        // Also where a re-created topic is read from: a broker that lost the topic lost
        // the group's offsets too.
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create_with_context(QuietContext)
}

/// What [`TopicAdmin::ensure`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicState {
    Existed,
    /// The topic was missing: a fresh broker, or one that lost its topics (restarted with
    /// no storage, topic deleted). Whatever it had acknowledged before is gone.
    Created,
}

/// Creates the topic when it is missing (brokers without auto-creation, such as tansu 0.6,
/// need this). One admin client, kept: the relay asks before each batch.
pub struct TopicAdmin {
    admin: AdminClient<QuietContext>,
    topic: String,
}

impl TopicAdmin {
    pub fn new(brokers: &str, topic: &str) -> Result<Self, KafkaError> {
        Ok(Self {
            admin: base_config(brokers).create_with_context(QuietContext)?,
            topic: topic.to_owned(),
        })
    }

    /// Create the topic unless it exists. One partition keeps the events in order.
    pub async fn ensure(&self) -> Result<TopicState, KafkaError> {
        let options = AdminOptions::new().operation_timeout(Some(DELIVERY_TIMEOUT));
        let request_timeout = DELIVERY_TIMEOUT + Duration::from_secs(1);
        let new_topic = NewTopic::new(&self.topic, 1, TopicReplication::Fixed(1));
        let create = self.admin.create_topics([&new_topic], &options);
        let results = tokio::time::timeout(request_timeout, create)
            .await
            .map_err(|_| KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut))??;
        let mut state = TopicState::Existed;
        for result in results {
            match result {
                Ok(_) => state = TopicState::Created,
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(KafkaError::AdminOp(code)),
            }
        }
        Ok(state)
    }
}
