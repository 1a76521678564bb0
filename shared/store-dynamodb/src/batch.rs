//! Batch requests: BatchGetItem in chunks of 100 keys and BatchWriteItem
//! in chunks of 25 requests, resending what DynamoDB left unprocessed with
//! backoff and a cap.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use zdsync_store::{Result, StoreError};

use crate::bodies::PROJECTION_NAMES;
use crate::items::{BATCH_GET_MAX, BATCH_WRITE_MAX, Item, attr_s};
use crate::{DynamoStore, map_err};

/// Retries of unprocessed batch items before giving up.
const BATCH_RETRIES: u32 = 8;

impl DynamoStore {
    /// BatchGetItem in chunks of 100 keys, retrying unprocessed keys.
    pub(crate) async fn batch_get(&self, keys: Vec<(String, String)>) -> Result<Vec<Item>> {
        self.batch_get_projected(keys, None).await
    }

    /// BatchGetItem (consistent), optionally projected to a few attributes
    /// (`#sk`-style names are those of [`PROJECTION_NAMES`]).
    pub(crate) async fn batch_get_projected(
        &self,
        keys: Vec<(String, String)>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut ks = KeysAndAttributes::builder().consistent_read(true);
            if let Some(p) = projection {
                ks = ks.projection_expression(p);
                for (alias, name) in PROJECTION_NAMES {
                    ks = ks.expression_attribute_names(alias, name);
                }
            }
            for (pk, sk) in chunk {
                ks = ks.keys(HashMap::from([
                    ("pk".to_string(), attr_s(pk)),
                    ("sk".to_string(), attr_s(sk)),
                ]));
            }
            let mut pending = Some(HashMap::from([(
                self.table.clone(),
                ks.build()
                    .map_err(|e| StoreError::backend("batch get keys", e))?,
            )]));
            let mut retry = Unprocessed::new("batch get: keys stayed unprocessed");
            while let Some(req) = pending.take().filter(|r| !r.is_empty()) {
                retry.before_sending().await?;
                let resp = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(req))
                    .send()
                    .await
                    .map_err(|e| map_err(&self.table, "batch get", e))?;
                if let Some(mut r) = resp.responses {
                    out.extend(r.remove(&self.table).unwrap_or_default());
                }
                pending = resp.unprocessed_keys;
            }
        }
        Ok(out)
    }

    /// BatchWriteItem in chunks of 25, retrying unprocessed items with
    /// backoff and a cap.
    pub(crate) async fn batch_write(&self, writes: Vec<WriteRequest>) -> Result<()> {
        for chunk in writes.chunks(BATCH_WRITE_MAX) {
            let mut pending = Some(HashMap::from([(self.table.clone(), chunk.to_vec())]));
            let mut retry = Unprocessed::new("batch write: items stayed unprocessed");
            while let Some(req) = pending.take().filter(|r| r.values().any(|v| !v.is_empty())) {
                retry.before_sending().await?;
                let resp = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(req))
                    .send()
                    .await
                    .map_err(|e| map_err(&self.table, "batch write", e))?;
                pending = resp.unprocessed_items;
            }
        }
        Ok(())
    }
}

/// The resending of what a batch request left unprocessed: no wait before
/// the first send, backoff before each resend, `Throttled` after
/// `BATCH_RETRIES` resends.
pub(crate) struct Unprocessed {
    attempt: u32,
    exhausted: &'static str,
}

impl Unprocessed {
    pub(crate) fn new(exhausted: &'static str) -> Self {
        Unprocessed {
            attempt: 0,
            exhausted,
        }
    }

    pub(crate) async fn before_sending(&mut self) -> Result<()> {
        if self.attempt > BATCH_RETRIES {
            return Err(StoreError::Throttled(self.exhausted.into()));
        }
        if self.attempt > 0 {
            backoff(self.attempt).await;
        }
        self.attempt += 1;
        Ok(())
    }
}

pub(crate) async fn backoff(attempt: u32) {
    let ms = (25u64 << attempt.min(8)).min(2_000);
    let jitter = rand::random::<u64>() % (ms / 2 + 1);
    tokio::time::sleep(Duration::from_millis(ms / 2 + jitter)).await;
}

pub(crate) fn put_request(item: Item) -> Result<WriteRequest> {
    Ok(WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::backend("put request", e))?,
        )
        .build())
}

pub(crate) fn delete_request(pk: &str, sk: &str) -> Result<WriteRequest> {
    Ok(WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .key("pk", attr_s(pk))
                .key("sk", attr_s(sk))
                .build()
                .map_err(|e| StoreError::backend("delete request", e))?,
        )
        .build())
}
