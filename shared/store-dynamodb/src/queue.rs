//! The work queue on SQS: continuations of runs that hit a function's
//! deadline, sent in batches of 10 with failed entries retried.

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
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn enqueue(&self, items: &[WorkItem]) -> Result<()> {
        for chunk in items.chunks(SQS_BATCH_MAX) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, item) in chunk.iter().enumerate() {
                let body = serde_json::to_string(item)
                    .map_err(|e| StoreError::backend("encoding a work item", e))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(body)
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
                    .map_err(|e| {
                        let text = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
                        if text.contains("NonExistentQueue") || text.contains("QueueDoesNotExist") {
                            StoreError::Missing {
                                what: format!("SQS queue {:?}", self.url),
                                hint: "deploy the stack or pass the WorkQueueUrl output with --queue-url / ZDSYNC_QUEUE_URL".into(),
                            }
                        } else {
                            StoreError::backend(format!("queueing work on {:?}", self.url), text)
                        }
                    })?;
                let failed: std::collections::HashSet<String> =
                    out.failed.iter().map(|f| f.id.clone()).collect();
                entries.retain(|e| failed.contains(e.id()));
                attempt += 1;
            }
        }
        Ok(())
    }
}
