//! The storage port of zdsync: what the engine needs from a store, as traits,
//! with one error taxonomy and a conformance suite every adapter runs.
//!
//! Items mirror the single-table DynamoDB model (ARCHITECTURE.md §5):
//!
//! | item       | key                         | body |
//! |------------|-----------------------------|------|
//! | connection | `CONN#name` / `META`        | [`Connection`] |
//! | cursor     | `CONN#name` / `CURSOR#kind` | opaque string |
//! | lease      | `CONN#name` / `LEASE`       | owner + expiry |
//! | run record | `CONN#name` / `RUN`         | opaque JSON string |
//! | user / org | `CONN#name` / `USER#id`, `ORG#id` | JSON + hash |
//! | ticket state | `DOC#name#id` / `STATE`   | JSON + hash (ticket snapshot + conversation) |
//! | document   | `DOC#name#id` / `PART#n`    | JSON + hash (the product) |
//!
//! Bodies are opaque JSON strings to the store: the store never parses them,
//! so the engine and mapping crates own their shapes. Hashes are computed by
//! the engine; a store only compares them when asked.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod conformance;

/// Errors of every store adapter. Adapters map their backend's errors into
/// these variants (never into strings to be parsed).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found a different current value (cursor moved,
    /// lease held by another owner, connection already exists...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The named resource (table, file, queue, secret) does not exist or
    /// cannot be opened.
    #[error("{what} not found: {hint}")]
    Missing { what: String, hint: String },
    /// The backend throttled us and retries were exhausted.
    #[error("store throttled: {0}")]
    Throttled(String),
    /// Stored data could not be decoded.
    #[error("corrupt stored item {key}: {detail}")]
    Corrupt { key: String, detail: String },
    /// Any other backend failure, with context.
    #[error("{context}: {source}")]
    Backend {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A stored record that is not the JSON expected: says where, never
    /// what (serde's own message quotes the value it could not read).
    pub fn corrupt_json(key: impl Into<String>, e: &serde_json::Error) -> StoreError {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => "not valid JSON",
            Category::Data => "JSON of the wrong shape",
        };
        StoreError::Corrupt {
            key: key.into(),
            detail: format!("{what} at line {}, column {}", e.line(), e.column()),
        }
    }
}

impl StoreError {
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Plan of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// The 5,000 most recent feedback documents.
    Trial,
    /// All of history.
    #[default]
    Paid,
}

/// How a connection authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// `email/token` Basic auth with an API token.
    #[default]
    Token,
    /// OAuth bearer token (client credentials, refresh token or given token).
    Oauth,
}

/// A connected Zendesk account. Never holds a secret: `secret_ref` names the
/// entry in the [`SecretStore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub name: String,
    pub subdomain: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub plan: Plan,
    #[serde(default)]
    pub auth: AuthKind,
    /// Name of the secret holding the credentials.
    pub secret_ref: String,
    /// `ZENDESK_API_URL` override recorded at connect time (tests, proxies).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Role of the connecting user (`admin`, `agent`).
    #[serde(default)]
    pub role: Option<String>,
    /// Zendesk id of the connecting user.
    #[serde(default)]
    pub user_id: Option<u64>,
    /// The `ticket_restriction` of a restricted agent (`groups`,
    /// `organization`, `assigned`, `requested`): the connection sees only
    /// those tickets. `None`: every ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Which cursor of a connection: the three live streams, and the two
/// streams of one backfill window (`[from, until)`, epoch seconds), so each
/// window of a planned backfill resumes where its last worker stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorKind {
    Tickets,
    Events,
    Users,
    /// The organizations export (a start time), read by the daily refresh.
    Orgs,
    /// Users and organizations the refresh saw change whose documents are
    /// not rendered again yet (JSON), so a cut-off refresh loses none.
    RefreshPending,
    /// The last refresh's report (JSON), for status.
    LastRefresh,
    WindowEvents {
        from: i64,
        until: i64,
    },
    WindowTickets {
        from: i64,
        until: i64,
    },
    /// The last backfill plan of the connection (its windows), for status.
    BackfillPlan,
    /// How much history the documents cover (a trial's floor, an upgrade
    /// under way; JSON). Absent: all history.
    History,
    /// Where an agent connection's walk of the search export stands (JSON):
    /// the agents' path instead of the export cursors.
    Search,
}

impl CursorKind {
    /// The live cursors (status lists these).
    pub const ALL: [CursorKind; 4] = [
        CursorKind::Tickets,
        CursorKind::Events,
        CursorKind::Users,
        CursorKind::Orgs,
    ];

    /// The cursor's key within its connection (`CURSOR#<key>`).
    pub fn as_str(self) -> std::borrow::Cow<'static, str> {
        match self {
            CursorKind::Tickets => "tickets".into(),
            CursorKind::Events => "events".into(),
            CursorKind::Users => "users".into(),
            CursorKind::Orgs => "orgs".into(),
            CursorKind::RefreshPending => "refresh-pending".into(),
            CursorKind::LastRefresh => "last-refresh".into(),
            CursorKind::BackfillPlan => "backfill-plan".into(),
            CursorKind::History => "history".into(),
            CursorKind::Search => "search".into(),
            CursorKind::WindowEvents { from, until } => {
                format!("window-{from}-{until}-events").into()
            }
            CursorKind::WindowTickets { from, until } => {
                format!("window-{from}-{until}-tickets").into()
            }
        }
    }
}

/// Entities kept per connection besides tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    User,
    Org,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Org => "org",
        }
    }
}

/// A stored JSON body with the hash it was written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub hash: String,
    pub body: String,
}

/// One write of a ticket-level item. Writes given together in one
/// [`Store::write_tickets`] call are applied in order; an adapter may apply
/// them in several batches, but each single write is atomic (a document split
/// into parts is never visible half-written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketWrite {
    PutState {
        ticket_id: u64,
        blob: Blob,
    },
    PutDocument {
        ticket_id: u64,
        blob: Blob,
    },
    DeleteDocument {
        ticket_id: u64,
    },
    /// Removes the state and the document (deleted tickets).
    DeleteTicket {
        ticket_id: u64,
    },
}

/// A document as listed for export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    pub connection: String,
    pub ticket_id: u64,
    pub body: String,
}

/// What a lease attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired,
    /// Held by `owner` until `expires_at_ms`.
    Held {
        owner: String,
        expires_at_ms: i64,
    },
}

/// Counters for `status` and for figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCounts {
    pub documents: u64,
    pub states: u64,
    pub users: u64,
    pub orgs: u64,
}

/// The storage port.
#[async_trait]
pub trait Store: Send + Sync {
    // ---- connections ----
    /// Creates a connection; `Conflict` if the name exists.
    async fn create_connection(&self, conn: &Connection) -> Result<()>;
    /// Replaces an existing connection record (plan change, role refresh).
    async fn update_connection(&self, conn: &Connection) -> Result<()>;
    async fn get_connection(&self, name: &str) -> Result<Option<Connection>>;
    /// All connections, sorted by name.
    async fn list_connections(&self) -> Result<Vec<Connection>>;

    // ---- cursors ----
    async fn get_cursor(&self, conn: &str, kind: CursorKind) -> Result<Option<String>>;
    /// Sets a cursor if its current value equals `expected` (`None` = absent);
    /// `Conflict` otherwise. Called only after the page's items are stored.
    async fn put_cursor(
        &self,
        conn: &str,
        kind: CursorKind,
        value: &str,
        expected: Option<&str>,
    ) -> Result<()>;
    /// Removes a cursor (a reset forces a new backfill of that stream).
    async fn delete_cursor(&self, conn: &str, kind: CursorKind) -> Result<()>;

    // ---- lease: one sync per connection at a time ----
    /// Takes the lease if free, expired or already ours.
    async fn acquire_lease(
        &self,
        conn: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome>;
    /// Releases the lease if `owner` holds it (no error otherwise).
    async fn release_lease(&self, conn: &str, owner: &str) -> Result<()>;

    // ---- run records (status) ----
    async fn put_run_record(&self, conn: &str, json: &str) -> Result<()>;
    async fn get_run_record(&self, conn: &str) -> Result<Option<String>>;

    // ---- users and organizations ----
    async fn get_entities(
        &self,
        conn: &str,
        kind: EntityKind,
        ids: &[u64],
    ) -> Result<HashMap<u64, Blob>>;
    /// Upserts; items whose hash equals the stored one may be skipped.
    async fn put_entities(&self, conn: &str, kind: EntityKind, items: &[(u64, Blob)])
    -> Result<()>;
    /// Ids of stored entities of a kind, ascending.
    async fn list_entity_ids(&self, conn: &str, kind: EntityKind) -> Result<Vec<u64>>;

    // ---- tickets: state and document ----
    async fn get_states(&self, conn: &str, ticket_ids: &[u64]) -> Result<HashMap<u64, Blob>>;
    /// Hashes of stored documents (without reading their bodies).
    async fn get_document_hashes(
        &self,
        conn: &str,
        ticket_ids: &[u64],
    ) -> Result<HashMap<u64, String>>;
    async fn get_document(&self, conn: &str, ticket_id: u64) -> Result<Option<String>>;
    async fn write_tickets(&self, conn: &str, writes: &[TicketWrite]) -> Result<()>;
    /// Documents ordered by (connection, ticket id), after the given position,
    /// at most `limit`. `conn = None` lists every connection.
    async fn list_documents(
        &self,
        conn: Option<&str>,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<DocumentRow>>;
    /// Ticket ids that have a stored state, ascending, after `after`.
    async fn list_state_ids(
        &self,
        conn: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>>;
    async fn counts(&self, conn: &str) -> Result<StoreCounts>;
}

/// Where credentials live: never in the connection record.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Creates or replaces a secret atomically.
    async fn put_secret(&self, name: &str, value: &str) -> Result<()>;
    async fn get_secret(&self, name: &str) -> Result<Option<String>>;
    async fn delete_secret(&self, name: &str) -> Result<()>;
}

/// What a work item asks a worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// Continue the connection's sync from the stored live cursors.
    Sync,
    /// Continue the connection's user refresh.
    RefreshUsers,
    /// Import one window of history (a planned backfill); the item carries
    /// the window.
    Backfill,
}

/// A span of Zendesk time, `[from, until)` in epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: i64,
    pub until: i64,
}

/// A unit of work handed to the queue: a window of a planned backfill, or
/// the rest of a run that a function could not finish before its deadline.
/// Progress lives in the store (cursors), so a duplicate delivery is
/// harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    pub connection: String,
    pub kind: WorkKind,
    /// How many hand-overs led here (for logs and loop limits).
    #[serde(default)]
    pub hop: u32,
    /// The window of a [`WorkKind::Backfill`] item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
}

impl WorkItem {
    /// The same work, handed over once more.
    pub fn next_hop(&self) -> WorkItem {
        WorkItem {
            hop: self.hop + 1,
            ..self.clone()
        }
    }
}

/// Where work items go (SQS on AWS).
#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn enqueue(&self, items: &[WorkItem]) -> Result<()>;

    /// Enqueues items that become visible only after `delay_secs` (a busy
    /// connection's item tried again later). Defaults to no delay.
    async fn enqueue_delayed(&self, items: &[WorkItem], delay_secs: u32) -> Result<()> {
        let _ = delay_secs;
        self.enqueue(items).await
    }
}
