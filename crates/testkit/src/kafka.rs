//! A fresh Kafka topic per test, deleted when the test ends, and a way to read it back.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::services;

/// A message as read back from the topic.
#[derive(Debug, Clone)]
pub struct KafkaMessage {
    pub key: Option<String>,
    pub payload: Option<String>,
    pub offset: i64,
    /// Header names and values (values as lossy UTF-8).
    pub headers: Vec<(String, String)>,
}

impl From<&BorrowedMessage<'_>> for KafkaMessage {
    fn from(message: &BorrowedMessage<'_>) -> Self {
        let text = |bytes: Option<&[u8]>| bytes.map(|b| String::from_utf8_lossy(b).into_owned());
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), text(h.value).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            key: text(message.key()),
            payload: text(message.payload()),
            offset: message.offset(),
            headers,
        }
    }
}

pub struct TestTopic {
    name: String,
    brokers: String,
}

impl TestTopic {
    /// Picks a unique topic name. The service under test creates the topic (brokers such as
    /// tansu 0.6 do not create topics on first use).
    pub async fn new() -> Self {
        let brokers = services::kafka_brokers();
        services::require("Kafka", &brokers).await;
        Self {
            name: crate::unique_name("test.user.created"),
            brokers,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// Publishes one message to the topic (which must exist: the service creates it at
    /// start), with the given headers.
    pub async fn produce(&self, key: &str, payload: &str, headers: &[(&str, &[u8])]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("message.timeout.ms", "10000")
            .create()
            .expect("cannot create a Kafka producer");
        let mut record = FutureRecord::to(&self.name).key(key).payload(payload);
        if !headers.is_empty() {
            let owned = headers
                .iter()
                .fold(OwnedHeaders::new(), |owned, (key, value)| {
                    owned.insert(Header {
                        key,
                        value: Some(*value),
                    })
                });
            record = record.headers(owned);
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap_or_else(|(err, _)| panic!("cannot produce to {}: {err}", self.name));
    }

    /// Reads partition 0 from the beginning until `expected` messages arrived or `timeout`
    /// passed, then returns what was read (so a test can also assert "exactly N").
    pub async fn read(&self, expected: usize, timeout: Duration) -> Vec<KafkaMessage> {
        let brokers = self.brokers.clone();
        let topic = self.name.clone();
        tokio::task::spawn_blocking(move || read_blocking(&brokers, &topic, expected, timeout))
            .await
            .expect("Kafka reader thread panicked")
    }
}

fn read_blocking(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<KafkaMessage> {
    // Assigning the partition directly avoids a consumer-group join (seconds on some brokers).
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", crate::unique_name("test-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("cannot create a Kafka consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("valid partition offset");
    consumer
        .assign(&partitions)
        .expect("cannot assign partition");
    let deadline = Instant::now() + timeout;
    let mut messages = Vec::new();
    while messages.len() < expected && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            messages.push(KafkaMessage::from(&message));
        }
    }
    messages
}

impl Drop for TestTopic {
    fn drop(&mut self) {
        let brokers = self.brokers.clone();
        let topic = self.name.clone();
        crate::block_on_cleanup(&format!("test topic {}", self.name), async move {
            let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .create()?;
            let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
            let deleted = admin.delete_topics(&[&topic], &options);
            tokio::time::timeout(Duration::from_secs(6), deleted).await??;
            Ok(())
        });
    }
}
