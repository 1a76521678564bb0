//! Batch requests: BatchGetItem in chunks of 100 keys and BatchWriteItem
//! in chunks of 25 requests, resending what DynamoDB left unprocessed with
//! backoff and a cap.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use tokio::task::JoinSet;
use zdsync_store::{Result, StoreError};

use crate::items::{BATCH_GET_MAX, BATCH_WRITE_MAX, Item, attr_s};
use crate::{DynamoStore, map_err};

/// Retries of unprocessed batch items before giving up.
const BATCH_RETRIES: u32 = 8;

/// Batch requests of one call sent side by side, at most this many at a
/// time (each on a task of its own). Only requests whose order does not
/// matter go together: the callers wait for one batch to finish before
/// sending what must come after it.
pub const BATCH_CONCURRENCY: usize = 4;

/// A projection of a BatchGetItem: the expression and the attribute names
/// its `#aliases` stand for (exactly those it uses: DynamoDB refuses an
/// unused name).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Projection {
    pub expression: &'static str,
    pub names: &'static [(&'static str, &'static str)],
}

impl DynamoStore {
    /// BatchGetItem (consistent) in chunks of 100 keys sent side by side,
    /// retrying unprocessed keys.
    pub(crate) async fn batch_get(&self, keys: Vec<(String, String)>) -> Result<Vec<Item>> {
        self.batch_get_projected(keys, None).await
    }

    /// [`Self::batch_get`], optionally projected to a few attributes.
    pub(crate) async fn batch_get_projected(
        &self,
        keys: Vec<(String, String)>,
        projection: Option<Projection>,
    ) -> Result<Vec<Item>> {
        let jobs = owned_chunks(keys, BATCH_GET_MAX).map(|chunk| {
            let store = self.clone();
            async move { store.get_chunk(chunk, projection).await }
        });
        Ok(side_by_side(jobs).await?.into_iter().flatten().collect())
    }

    /// One BatchGetItem of at most 100 keys, sent again for the keys left
    /// unprocessed.
    async fn get_chunk(
        &self,
        chunk: Vec<(String, String)>,
        projection: Option<Projection>,
    ) -> Result<Vec<Item>> {
        let mut ks = KeysAndAttributes::builder().consistent_read(true);
        if let Some(p) = projection {
            ks = ks.projection_expression(p.expression);
            for (alias, name) in p.names {
                ks = ks.expression_attribute_names(*alias, *name);
            }
        }
        for (pk, sk) in chunk {
            ks = ks.keys(HashMap::from([
                ("pk".to_string(), AttributeValue::S(pk)),
                ("sk".to_string(), AttributeValue::S(sk)),
            ]));
        }
        let keys = ks
            .build()
            .map_err(|e| StoreError::backend("batch get keys", e))?;
        let mut pending = Some(HashMap::from([(self.table.clone(), keys)]));
        let mut retry = Unprocessed::new("batch get: keys stayed unprocessed");
        let mut out = Vec::new();
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
        Ok(out)
    }

    /// BatchWriteItem in chunks of 25 sent side by side (so `writes` must
    /// not depend on one another's order), retrying unprocessed items with
    /// backoff and a cap. Returns once every chunk is written, or with the
    /// first error once the chunks under way have finished.
    pub(crate) async fn batch_write(&self, writes: Vec<WriteRequest>) -> Result<()> {
        let jobs = owned_chunks(writes, BATCH_WRITE_MAX).map(|chunk| {
            let store = self.clone();
            async move { store.write_chunk(chunk).await }
        });
        side_by_side(jobs).await.map(drop)
    }

    /// One BatchWriteItem of at most 25 requests, sent again for the items
    /// left unprocessed.
    async fn write_chunk(&self, chunk: Vec<WriteRequest>) -> Result<()> {
        let mut pending = Some(HashMap::from([(self.table.clone(), chunk)]));
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
        Ok(())
    }
}

/// `items` in owned chunks of at most `size`.
fn owned_chunks<T>(items: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    let mut rest = items.into_iter();
    std::iter::from_fn(move || {
        let chunk: Vec<T> = rest.by_ref().take(size).collect();
        (!chunk.is_empty()).then_some(chunk)
    })
}

/// Runs `jobs`, at most [`BATCH_CONCURRENCY`] at a time, each on a task of
/// its own. After the first error no job starts, the jobs under way finish,
/// and the error is returned: no request of the batch is left running when
/// this returns, so what the caller sends next always comes after it.
async fn side_by_side<T, F>(jobs: impl Iterator<Item = F>) -> Result<Vec<T>>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let mut jobs = jobs.fuse();
    let mut running = JoinSet::new();
    let (mut out, mut failed) = (Vec::new(), None);
    loop {
        while failed.is_none() && running.len() < BATCH_CONCURRENCY {
            let Some(job) = jobs.next() else { break };
            running.spawn(job);
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        match done {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => {
                failed.get_or_insert(e);
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                failed.get_or_insert(StoreError::backend("a batch request's task", e));
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
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
