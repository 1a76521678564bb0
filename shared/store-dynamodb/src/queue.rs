//! The work queue on SQS: backfill windows and continuations of runs that
//! hit a function's deadline, sent in batches of 10 with failed entries
//! retried; and the receive/delete side for the local `zdsync worker`.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use zdsync_store::{Result, StoreError, WorkItem, WorkQueue};

/// SendMessageBatch takes at most 10 entries.
pub const SQS_BATCH_MAX: usize = 10;
const RETRIES: u32 = 5;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub async fn from_env(url: impl Into<String>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        SqsQueue::new(Client::new(&config), url)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn map_send_err<E>(&self, e: aws_sdk_sqs::error::SdkError<E>, doing: &str) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let text = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
        if text.contains("NonExistentQueue") || text.contains("QueueDoesNotExist") {
            StoreError::Missing {
                what: format!("SQS queue {:?}", self.url),
                hint: "deploy the stack or pass the WorkQueueUrl output with --queue-url / ZDSYNC_QUEUE_URL".into(),
            }
        } else {
            StoreError::backend(format!("{doing} on {:?}", self.url), text)
        }
    }

    /// Receives up to `max` (≤ 10) messages, long-polling `wait_secs`; each
    /// stays invisible to others for `visibility_secs`.
    pub async fn receive(
        &self,
        max: i32,
        wait_secs: i32,
        visibility_secs: i32,
    ) -> Result<Vec<Received>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .visibility_timeout(visibility_secs.max(0))
            .send()
            .await
            .map_err(|e| self.map_send_err(e, "receiving work"))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    /// Deletes a handled message.
    pub async fn delete(&self, receipt_handle: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| self.map_send_err(e, "deleting a handled message"))?;
        Ok(())
    }

    async fn send(&self, items: &[WorkItem], delay_secs: u32) -> Result<()> {
        for chunk in items.chunks(SQS_BATCH_MAX) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, item) in chunk.iter().enumerate() {
                let body = serde_json::to_string(item)
                    .map_err(|e| StoreError::backend("encoding a work item", e))?;
                let mut entry = SendMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .message_body(body);
                if delay_secs > 0 {
                    // SQS delays a message by at most 15 minutes.
                    entry = entry.delay_seconds(delay_secs.min(900) as i32);
                }
                entries.push(
                    entry
                        .build()
                        .map_err(|e| StoreError::backend("work item", e))?,
                );
            }
            let mut attempt = 0;
            while !entries.is_empty() {
                if attempt > RETRIES {
                    return Err(StoreError::Throttled(format!(
                        "{} work items could not be queued",
                        entries.len()
                    )));
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt.min(5)))
                        .await;
                }
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await
                    .map_err(|e| self.map_send_err(e, "queueing work"))?;
                let failed: std::collections::HashSet<String> =
                    out.failed.iter().map(|f| f.id.clone()).collect();
                entries.retain(|e| failed.contains(e.id()));
                attempt += 1;
            }
        }
        Ok(())
    }
}

/// A message taken from the queue.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn enqueue(&self, items: &[WorkItem]) -> Result<()> {
        self.send(items, 0).await
    }

    async fn enqueue_delayed(&self, items: &[WorkItem], delay_secs: u32) -> Result<()> {
        self.send(items, delay_secs).await
    }
}
