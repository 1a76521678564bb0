//! A store that runs a test's hook before some calls (a crash, a wait) and
//! otherwise does what the store it wraps does.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use zdsync_store::{
    Blob, Connection, CursorKind, DocumentRow, EntityKind, LeaseOutcome, Result as StoreResult,
    Store, StoreCounts, TicketWrite,
};

/// What runs before a call: an error is the call's answer.
pub type Hook =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = StoreResult<()>> + Send>> + Send + Sync>;

pub struct HookedStore {
    pub inner: Arc<dyn Store>,
    /// Before every `put_cursor`.
    pub before_cursor: Option<Hook>,
    /// Before every `write_tickets`.
    pub before_write: Option<Hook>,
}

async fn run(hook: &Option<Hook>) -> StoreResult<()> {
    match hook {
        Some(h) => h().await,
        None => Ok(()),
    }
}

#[async_trait]
impl Store for HookedStore {
    async fn create_connection(&self, c: &Connection) -> StoreResult<()> {
        self.inner.create_connection(c).await
    }
    async fn update_connection(&self, c: &Connection) -> StoreResult<()> {
        self.inner.update_connection(c).await
    }
    async fn get_connection(&self, n: &str) -> StoreResult<Option<Connection>> {
        self.inner.get_connection(n).await
    }
    async fn list_connections(&self) -> StoreResult<Vec<Connection>> {
        self.inner.list_connections().await
    }
    async fn get_cursor(&self, c: &str, k: CursorKind) -> StoreResult<Option<String>> {
        self.inner.get_cursor(c, k).await
    }
    async fn put_cursor(
        &self,
        c: &str,
        k: CursorKind,
        v: &str,
        e: Option<&str>,
    ) -> StoreResult<()> {
        run(&self.before_cursor).await?;
        self.inner.put_cursor(c, k, v, e).await
    }
    async fn delete_cursor(&self, c: &str, k: CursorKind) -> StoreResult<()> {
        self.inner.delete_cursor(c, k).await
    }
    async fn acquire_lease(&self, c: &str, o: &str, n: i64, t: i64) -> StoreResult<LeaseOutcome> {
        self.inner.acquire_lease(c, o, n, t).await
    }
    async fn release_lease(&self, c: &str, o: &str) -> StoreResult<()> {
        self.inner.release_lease(c, o).await
    }
    async fn put_run_record(&self, c: &str, j: &str) -> StoreResult<()> {
        self.inner.put_run_record(c, j).await
    }
    async fn get_run_record(&self, c: &str) -> StoreResult<Option<String>> {
        self.inner.get_run_record(c).await
    }
    async fn get_entities(
        &self,
        c: &str,
        k: EntityKind,
        ids: &[u64],
    ) -> StoreResult<HashMap<u64, Blob>> {
        self.inner.get_entities(c, k, ids).await
    }
    async fn put_entities(&self, c: &str, k: EntityKind, items: &[(u64, Blob)]) -> StoreResult<()> {
        self.inner.put_entities(c, k, items).await
    }
    async fn list_entity_ids(&self, c: &str, k: EntityKind) -> StoreResult<Vec<u64>> {
        self.inner.list_entity_ids(c, k).await
    }
    async fn get_states(&self, c: &str, ids: &[u64]) -> StoreResult<HashMap<u64, Blob>> {
        self.inner.get_states(c, ids).await
    }
    async fn get_document_hashes(&self, c: &str, ids: &[u64]) -> StoreResult<HashMap<u64, String>> {
        self.inner.get_document_hashes(c, ids).await
    }
    async fn get_document(&self, c: &str, id: u64) -> StoreResult<Option<String>> {
        self.inner.get_document(c, id).await
    }
    async fn write_tickets(&self, c: &str, w: &[TicketWrite]) -> StoreResult<()> {
        run(&self.before_write).await?;
        self.inner.write_tickets(c, w).await
    }
    async fn list_documents(
        &self,
        c: Option<&str>,
        a: Option<(&str, u64)>,
        l: usize,
    ) -> StoreResult<Vec<DocumentRow>> {
        self.inner.list_documents(c, a, l).await
    }
    async fn list_state_ids(&self, c: &str, a: Option<u64>, l: usize) -> StoreResult<Vec<u64>> {
        self.inner.list_state_ids(c, a, l).await
    }
    async fn counts(&self, c: &str) -> StoreResult<StoreCounts> {
        self.inner.counts(c).await
    }
}
