//! A Zendesk Support simulator: an HTTP server on loopback that serves a
//! generated account through the real API shapes (see ../shared/ZENDESK.md),
//! with auth, both rate limits, injectable faults, a mutate control and an
//! expected-documents oracle computed independently of `zdsync-mapping`.

mod audits;
pub mod aw;
pub mod chat;
mod http;
mod limits;
pub mod messaging;
pub mod model;
mod oracle;
mod oracle_threads;
mod shapes;

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What the generated account looks like and how strict the server is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    pub seed: u64,
    /// Number of tickets generated (deleted and agent-only ones included).
    pub tickets: usize,
    pub subdomain: String,
    /// Account budget per minute (Enterprise: 700).
    pub account_limit_per_min: u32,
    /// Incremental-export budget per minute (10; 30 with High Volume).
    pub export_limit_per_min: u32,
    /// Users cursor export budget per minute (20).
    pub users_export_limit_per_min: u32,
    /// Conversation log budget per minute (`omnilog-index`: 100; 300 with
    /// High Volume).
    #[serde(default = "omnilog_default")]
    pub omnilog_limit_per_min: u32,
    /// When false no request is ever limited (headers are still sent).
    pub rate_limits: bool,
    /// Generate the one ticket with more than 1.5 MB of comments.
    pub huge_ticket: bool,
    /// Length of a rate-limit window in seconds (Zendesk: 60; tests shorten it).
    pub rate_window_secs: u64,
    /// How far the search index lags behind writes, in seconds of the
    /// simulator's clock ([`SimHandle::advance_clock`] moves it). The search
    /// export (and nothing else) leaves out every ticket whose `updated_at`
    /// is later than `now - search_index_lag_secs`: it sees a ticket again
    /// only once its last change is that old. Generated history lies in the
    /// past, so only tickets changed by mutations are affected. 0 turns the
    /// lag off.
    #[serde(default = "search_index_lag_default")]
    pub search_index_lag_secs: i64,
    /// Search export budget per minute (100), counted besides the account
    /// budget. Zendesk announces it in no header, and neither does the
    /// simulator: a 429 of this budget carries only `Retry-After` and the
    /// account headers.
    #[serde(default = "search_export_default")]
    pub search_export_limit_per_min: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            tickets: 2000,
            subdomain: "acme".into(),
            account_limit_per_min: 700,
            export_limit_per_min: 10,
            users_export_limit_per_min: 20,
            omnilog_limit_per_min: omnilog_default(),
            rate_limits: true,
            huge_ticket: true,
            rate_window_secs: 60,
            search_index_lag_secs: search_index_lag_default(),
            search_export_limit_per_min: search_export_default(),
        }
    }
}

fn omnilog_default() -> u32 {
    100
}

fn search_index_lag_default() -> i64 {
    30
}

fn search_export_default() -> u32 {
    100
}

/// Credentials the simulator accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimCredentials {
    pub api_token: String,
    pub admin_email: String,
    pub agent_email: String,
    pub light_agent_email: String,
    /// An agent (`role_type` null) restricted to the tickets of group
    /// 360000001 (`restricted_agent: true`, `ticket_restriction: "groups"`);
    /// the tickets whose id is a multiple of 3 are in group 360000002.
    #[serde(default)]
    pub restricted_agent_email: String,
    pub end_user_email: String,
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
}

/// A fault to inject into the next matching responses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// Only requests whose path starts with this (e.g. `/api/v2/incremental/`);
    /// `None` = every `/api/v2` and `/oauth` request.
    pub path_prefix: Option<String>,
    pub kind: FaultKind,
    /// How many responses get the fault.
    pub count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// Respond with this status (e.g. 500, 502, 503, 504) and a JSON error.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// 429 with or without `Retry-After`.
    TooManyRequests { retry_after: Option<u64> },
    /// 200 with an HTML page instead of JSON.
    Html,
    /// 200 with the real JSON cut in half.
    TruncatedJson,
    /// Delay the response by this many milliseconds.
    Delay { ms: u64 },
    /// 400 with this error code (e.g. `InvalidPaginationParameter` for an
    /// expired cursor).
    Rejected { code: String },
    /// The real answer with one more record, whose id is null, in its
    /// first list (second place).
    IdlessRecord,
}

/// A change to the account, applied through the mutate control.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Mutation {
    /// A new ticket by an end-user; with `customer_comment = false` it is an
    /// agent-only ticket (opened by an agent, no end-user comment).
    NewTicket {
        customer_comment: bool,
    },
    /// A comment on a ticket by its requester (`by_customer = true`) or an
    /// agent; on a messaging ticket its conversation log lists it too.
    AddComment {
        ticket_id: u64,
        by_customer: bool,
        public: bool,
        text: String,
    },
    /// A message on a messaging ticket's conversation log; on a mirrored
    /// ticket a customer's or agent's message is a public comment too. Does
    /// nothing on other tickets.
    AddMessagingMessage {
        ticket_id: u64,
        by: MessageBy,
        text: String,
    },
    SetStatus {
        ticket_id: u64,
        status: String,
    },
    DeleteTicket {
        ticket_id: u64,
    },
    /// A CSAT rating (`good`/`bad`) with an optional comment and reason id.
    AddCsat {
        ticket_id: u64,
        score: String,
        comment: Option<String>,
        reason_id: Option<u64>,
    },
    /// Renames a user (for the daily refresh).
    RenameUser {
        user_id: u64,
        name: String,
    },
    /// Renames an organization.
    RenameOrg {
        org_id: u64,
        name: String,
    },
    /// Changes an organization's domains, tags and fields (each when given;
    /// a field set to null is cleared).
    UpdateOrg {
        org_id: u64,
        #[serde(default)]
        domain_names: Option<Vec<String>>,
        #[serde(default)]
        tags: Option<Vec<String>>,
        #[serde(default)]
        fields: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// Moves a user to another organization (or none).
    MoveUser {
        user_id: u64,
        org_id: Option<u64>,
    },
    /// Permanently deletes a user (a GDPR deletion): `show_many` leaves them
    /// out, the users export shows them scrubbed.
    DeleteUser {
        user_id: u64,
    },
    /// Deletes an organization: `show_many` leaves it out, the export shows
    /// it with `deleted_at`.
    DeleteOrg {
        org_id: u64,
    },
    /// Gives the user with this e-mail the role `admin` (`role_type` 4, as
    /// the other admins) or `agent` (`role_type` 0, a plain agent; a light
    /// agent becomes a full one); any other role changes nothing. The
    /// caller's access follows on its next request. A restricted agent made
    /// admin sees every ticket, and is restricted again once made agent.
    SetRole {
        email: String,
        role: String,
    },
    /// `n` random mutations of the kinds above (role changes aside), seeded.
    Random {
        n: usize,
        seed: u64,
    },
}

/// Who writes a messaging message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageBy {
    Customer,
    Agent,
    Bot,
}

/// What a mutation did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MutationResult {
    /// Tickets created or changed.
    pub ticket_ids: Vec<u64>,
}

/// Counters of what the server answered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimStats {
    pub requests: u64,
    pub responses_429: u64,
    pub export_requests: u64,
    /// Requests per endpoint label, ids written `{id}` (e.g.
    /// `incremental/tickets/cursor`, `tickets/{id}/comments`,
    /// `tickets/{id}/audits`, `tickets/{id}/conversation_log`).
    pub by_endpoint: std::collections::BTreeMap<String, u64>,
    /// Requests of the per-ticket endpoints (`tickets/{id}/…` labels), by
    /// label and ticket id.
    #[serde(default)]
    pub by_ticket: std::collections::BTreeMap<String, std::collections::BTreeMap<u64, u64>>,
}

/// Facts about the generated account, for tests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimFacts {
    pub ticket_ids: Vec<u64>,
    pub deleted_ticket_ids: Vec<u64>,
    /// Live tickets with no customer message in their content (the
    /// oracle's view: comments, chat history or conversation log).
    pub agent_only_ticket_ids: Vec<u64>,
    pub huge_ticket_id: Option<u64>,
    /// A ticket with 400+ comments.
    pub long_ticket_id: Option<u64>,
    /// A ticket whose requester cannot be read (deleted user).
    pub missing_requester_ticket_id: Option<u64>,
    /// Legacy chat tickets (channel `chat`, one transcript comment).
    pub chat_ticket_ids: Vec<u64>,
    /// Agent Workspace chat tickets (channel `chat`, the chat in a
    /// `ChatStartedEvent` of the audits).
    #[serde(default)]
    pub aw_chat_ticket_ids: Vec<u64>,
    /// The Agent Workspace chat tickets whose `ChatStartedEvent` the
    /// ticket-events stream lists (about half).
    #[serde(default)]
    pub aw_chat_in_events_ticket_ids: Vec<u64>,
    /// Messaging tickets with their kind.
    #[serde(default)]
    pub messaging_ticket_ids: Vec<(u64, messaging::MessagingKind)>,
    /// Messaging tickets whose conversation log answers 404.
    #[serde(default)]
    pub log_unavailable_ticket_ids: Vec<u64>,
    /// Organizations that exist (not deleted).
    pub org_ids: Vec<u64>,
    /// Tickets the restricted agent may see: the live (not deleted) ones of
    /// its group, 360000001.
    #[serde(default)]
    pub restricted_visible_ticket_ids: Vec<u64>,
    /// Requesters of the tickets that are documents, with their
    /// organization (the user's own).
    pub requesters: Vec<(u64, Option<u64>)>,
}

/// A running simulator.
pub struct SimHandle {
    sim: Arc<http::Sim>,
    addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    /// Generates the account and serves it on `127.0.0.1` on a free port.
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        Self::start_on(config, 0).await
    }

    /// Like [`SimHandle::start`], on a given port (0 = any free port).
    pub async fn start_on(config: SimConfig, port: u16) -> std::io::Result<SimHandle> {
        let sim = Arc::new(http::Sim::new(config));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = http::router(sim.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SimHandle {
            sim,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn credentials(&self) -> SimCredentials {
        self.sim.credentials()
    }

    pub fn facts(&self) -> SimFacts {
        self.sim.facts()
    }

    pub fn inject(&self, fault: Fault) {
        self.sim.inject(fault)
    }

    pub fn mutate(&self, mutation: Mutation) -> MutationResult {
        self.sim.mutate(mutation)
    }

    /// Moves the simulator's clock forward (the exports exclude the last 60 s).
    pub fn advance_clock(&self, secs: i64) {
        self.sim.advance_clock(secs)
    }

    /// Expires every OAuth access token issued so far.
    pub fn expire_tokens(&self) {
        self.sim.expire_tokens()
    }

    /// The documents zdsync should hold for this account right now, sorted by
    /// ticket id, as ARCHITECTURE.md §3 JSON, computed from the simulator's
    /// own model (not with zdsync-mapping).
    pub fn expected_documents(&self, connection: &str) -> Vec<serde_json::Value> {
        self.sim.expected(connection)
    }

    /// [`SimHandle::expected_documents`] of the tickets the user with this
    /// e-mail may see now: all of them for an admin or an unrestricted
    /// agent, those of its groups for a restricted agent, none for a user
    /// who cannot read tickets through the API (light agents, end-users,
    /// deleted or unknown users).
    pub fn expected_documents_visible_to(
        &self,
        connection: &str,
        email: &str,
    ) -> Vec<serde_json::Value> {
        self.sim.expected_visible_to(connection, email)
    }

    pub fn stats(&self) -> SimStats {
        self.sim.stats()
    }

    pub fn reset_stats(&self) {
        self.sim.reset_stats()
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Locks a mutex, recovering the data if a panicking test poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
