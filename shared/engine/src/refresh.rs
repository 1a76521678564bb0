//! The daily refresh of the people in the documents: walks Zendesk's
//! incremental users export and organizations export, each from its own
//! saved cursor, updates the customers and organizations already stored,
//! and renders again the documents they appear in. An agent connection,
//! which may not read those exports, reads its stored people by id and
//! checks its stored tickets instead ([`by_id`]).
//!
//! - A user deleted in Zendesk (the export shows them scrubbed, `active:
//!   false`) keeps only `{id, active: false}` in the store, and their
//!   documents show `{ "id": N, "missing": true }`. An organization deleted
//!   in Zendesk (`deleted_at`) likewise shows as missing.
//! - A customer who moved to another organization shows the new one (the
//!   documents show the requester's own organization).
//! - What changed is recorded (the pending set, a small item) before the
//!   export cursors move, and forgotten only after the documents are
//!   rendered again: a refresh cut off at its deadline, or killed, loses no
//!   change; the next one finishes the rendering.
//! - A saved users cursor that Zendesk rejects (expired, invalid) restarts
//!   from the time it had reached.
//! - With nothing changed a refresh costs two requests (one page of each
//!   export) and writes no data.
//!
//! The first refresh of a connection starts one day before the point the
//! tickets export had reached (Zendesk's clock): users and organizations
//! that changed earlier were read fresh by the sync.
//! Finding the documents of a changed user or organization scans the stored
//! ticket states (no secondary index); it happens only when something
//! stored changed.

mod by_id;

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use zdsync_store::{Connection, CursorKind, EntityKind};
use zdsync_zendesk::types::{Organization, User};
use zdsync_zendesk::{Client, TicketCursor};

use crate::error::{Context, EngineError, Result};
use crate::lease::Lease;
use crate::render::{Pending, Renderer};
use crate::state::{TicketState, content_hash};
use crate::sync::{RequestStatsOut, SyncOptions, TicketsCursor, epoch};
use crate::{Engine, now_rfc3339};

/// What one refresh did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefreshReport {
    pub connection: String,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    pub pages: u64,
    pub users_seen: u64,
    pub users_updated: u64,
    #[serde(default)]
    pub users_deleted: u64,
    #[serde(default)]
    pub orgs_seen: u64,
    #[serde(default)]
    pub orgs_updated: u64,
    pub documents_written: u64,
    /// Items written: users, organizations, documents, states, cursors and
    /// the pending set (0 when nothing changed).
    #[serde(default)]
    pub data_writes: u64,
    /// Stored tickets checked against Zendesk (agent connections,
    /// [`by_id`]).
    #[serde(default)]
    pub tickets_checked: u64,
    /// Stored tickets removed because Zendesk no longer shows them.
    #[serde(default)]
    pub tickets_deleted: u64,
    /// Both exports read to their end and every document rendered again.
    pub complete: bool,
    pub requests: RequestStatsOut,
    /// Records whose id could not be read (left out, logged by position).
    #[serde(default)]
    pub skipped_records: u64,
    pub duration_ms: u64,
    #[serde(default)]
    pub error: Option<String>,
}

/// Which of a page's stored people must have their documents rendered again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Every stored one seen (an export page: the hourly sync may have
    /// stored a new profile with one ticket without rendering the others).
    Seen,
    /// Only those that changed (people read again by id: the hourly sync of
    /// an agent connection stores no profile it already has).
    Changed,
}

/// Users and organizations whose documents must be rendered again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PendingSet {
    users: BTreeSet<u64>,
    orgs: BTreeSet<u64>,
}

impl PendingSet {
    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.orgs.is_empty()
    }
}

pub async fn refresh_users(engine: &Engine, name: Option<&str>) -> Result<Vec<RefreshReport>> {
    let mut out = Vec::new();
    for conn in engine.connections(name).await? {
        out.push(refresh_connection(engine, &conn.name, &SyncOptions::default()).await?);
    }
    Ok(out)
}

/// Refreshes one connection under its lease and records the run (status).
pub async fn refresh_connection(
    engine: &Engine,
    name: &str,
    opts: &SyncOptions,
) -> Result<RefreshReport> {
    let conn = engine.connection(name).await?;
    let lease = Lease::for_run(engine, &conn.name, opts).await?;
    let started = Instant::now();
    let mut report = RefreshReport {
        connection: conn.name.clone(),
        started_at: now_rfc3339(),
        ..Default::default()
    };
    let result = run(engine, &conn, opts, &lease, &mut report).await;
    lease.release().await;
    report.finished_at = now_rfc3339();
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.error = result.as_ref().err().map(|e| e.to_string());
    record(engine, &conn.name, &report).await;
    result.map(|()| report)
}

async fn record(engine: &Engine, name: &str, report: &RefreshReport) {
    let Ok(json) = serde_json::to_string(report) else {
        return;
    };
    let store = &engine.store;
    let previous = store.get_cursor(name, CursorKind::LastRefresh).await;
    let written = match previous {
        Ok(prev) => {
            store
                .put_cursor(name, CursorKind::LastRefresh, &json, prev.as_deref())
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::warn!(connection = name, error = %e, "could not record the refresh");
    }
}

/// The state of one refresh run.
struct Refresh<'a> {
    engine: &'a Engine,
    conn: &'a Connection,
    client: Client,
    opts: &'a SyncOptions,
    lease: &'a Lease,
    renderer: Renderer,
    pending: PendingSet,
    /// The pending set as stored.
    stored_pending: Option<String>,
}

async fn run(
    engine: &Engine,
    conn: &Connection,
    opts: &SyncOptions,
    lease: &Lease,
    report: &mut RefreshReport,
) -> Result<()> {
    let client = engine.client(conn).await?;
    let stored_pending = engine
        .store
        .get_cursor(&conn.name, CursorKind::RefreshPending)
        .await
        .context(|| "reading the refresh's pending set".into())?;
    let pending = match &stored_pending {
        Some(p) => serde_json::from_str(p).unwrap_or_default(),
        None => PendingSet::default(),
    };
    let mut renderer = Renderer::new(&conn.name, &conn.subdomain, Default::default());
    // A trial's older tickets stay without documents (crate::history).
    renderer.floor = crate::history::floor(engine, &conn.name).await?;
    let mut r = Refresh {
        engine,
        conn,
        renderer,
        client,
        opts,
        lease,
        pending,
        stored_pending,
    };
    let result = r.all(report).await;
    report.requests = r.client.stats().into();
    report.skipped_records = r.client.stats().skipped_records;
    report.documents_written = r.renderer.counters.documents_written;
    report.data_writes = r.renderer.counters.data_writes();
    result
}

impl Refresh<'_> {
    async fn all(&mut self, report: &mut RefreshReport) -> Result<()> {
        if crate::access::Path::of(self.conn) == crate::access::Path::Search {
            return self.all_by_id(report).await;
        }
        let Some(first_start) = self.first_start().await? else {
            // Nothing synced yet: no stored customer to refresh.
            report.complete = true;
            return Ok(());
        };
        let users_done = self.users(first_start, report).await?;
        let orgs_done = users_done && self.orgs(first_start, report).await?;
        let rendered = orgs_done && self.render_pending().await?;
        report.complete = users_done && orgs_done && rendered;
        Ok(())
    }

    /// Where a stream without a saved cursor starts: a day before the
    /// tickets export's position; `None` before the first sync.
    async fn first_start(&self) -> Result<Option<i64>> {
        let reached = self
            .engine
            .store
            .get_cursor(&self.conn.name, CursorKind::Tickets)
            .await
            .context(|| "reading the tickets cursor".into())?
            .map(|c| TicketsCursor::decode(&c))
            .transpose()?;
        Ok(reached.map(|c| (c.ts - 86_400).max(0)))
    }

    /// False when the run must stop taking pages.
    fn may_continue(&self, taken: u64) -> Result<bool> {
        self.lease.check()?;
        Ok(taken == 0 || self.opts.deadline.is_none_or(|d| Instant::now() < d))
    }

    /// Stores the pending set if it grew (before any cursor moves past
    /// what it records).
    async fn save_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let json = serde_json::to_string(&self.pending)
            .map_err(|e| EngineError::Corrupt(format!("cannot encode the pending set: {e}")))?;
        if self.stored_pending.as_deref() == Some(json.as_str()) {
            return Ok(());
        }
        self.put(
            CursorKind::RefreshPending,
            &json,
            self.stored_pending.clone(),
        )
        .await?;
        self.stored_pending = Some(json);
        Ok(())
    }

    async fn put(&mut self, kind: CursorKind, value: &str, previous: Option<String>) -> Result<()> {
        self.engine
            .store
            .put_cursor(&self.conn.name, kind, value, previous.as_deref())
            .await
            .context(|| format!("saving the {} cursor", kind.as_str()))?;
        self.renderer.counters.cursor_writes += 1;
        Ok(())
    }

    /// The users export to its end (true) or until the run must stop.
    async fn users(&mut self, first_start: i64, report: &mut RefreshReport) -> Result<bool> {
        let mut cursor = self
            .engine
            .store
            .get_cursor(&self.conn.name, CursorKind::Users)
            .await
            .context(|| "reading the users cursor".into())?;
        let mut reached = users_position(cursor.as_deref(), first_start);
        let mut at = match &reached.after {
            a if a.is_empty() => TicketCursor::Start(reached.ts),
            a => TicketCursor::After(a.clone()),
        };
        let mut taken = 0;
        loop {
            if !self.may_continue(taken)? {
                return Ok(false);
            }
            taken += 1;
            let page = match self.client.users_page(&at).await {
                Ok(p) => p,
                Err(zdsync_zendesk::Error::Rejected { status, code, .. })
                    if matches!(at, TicketCursor::After(_)) =>
                {
                    tracing::warn!(
                        status,
                        ?code,
                        ts = reached.ts,
                        "the saved users cursor was rejected; continuing from the time it had reached"
                    );
                    at = TicketCursor::Start(reached.ts.saturating_sub(1));
                    continue;
                }
                Err(e) => {
                    return Err(EngineError::Zendesk {
                        context: "reading the users export".into(),
                        source: e,
                    });
                }
            };
            report.pages += 1;
            report.users_seen += page.users.len() as u64;
            for u in &page.users {
                reached.ts = reached.ts.max(epoch(u.updated_at.as_deref()).unwrap_or(0));
            }
            let empty = page.users.is_empty();
            self.absorb_users(page.users, Mark::Seen, report).await?;
            self.save_pending().await?;
            if let Some(after) = &page.after_cursor
                && !empty
            {
                reached.after = after.clone();
                let value = reached.encode();
                if cursor.as_deref() != Some(value.as_str()) {
                    self.put(CursorKind::Users, &value, cursor.clone()).await?;
                    cursor = Some(value);
                }
            }
            if page.end_of_stream {
                return Ok(true);
            }
            match page.after_cursor {
                Some(a) if TicketCursor::After(a.clone()) != at => at = TicketCursor::After(a),
                _ => return Ok(true),
            }
        }
    }

    /// Stores the page's users that are already stored and changed, and
    /// marks every stored one seen (the hourly sync may have stored a new
    /// profile with one ticket without rendering the customer's others).
    async fn absorb_users(
        &mut self,
        users: Vec<User>,
        mark: Mark,
        report: &mut RefreshReport,
    ) -> Result<()> {
        let ids: Vec<u64> = users.iter().filter_map(|u| u.id).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let stored = self
            .engine
            .store
            .get_entities(&self.conn.name, EntityKind::User, &ids)
            .await
            .context(|| "reading stored users".into())?;
        let mut updates = Vec::new();
        for u in users.into_iter().map(zdsync_mapping::retained_user) {
            let Some(b) = u.id.and_then(|id| stored.get(&id)) else {
                continue;
            };
            if entity_hash(&u)? != b.hash {
                report.users_deleted += u64::from(u.active == Some(false));
                updates.push(u);
            }
        }
        match mark {
            Mark::Seen => self
                .pending
                .users
                .extend(ids.iter().filter(|id| stored.contains_key(id))),
            Mark::Changed => self
                .pending
                .users
                .extend(updates.iter().filter_map(|u| u.id)),
        }
        report.users_updated += updates.len() as u64;
        self.renderer
            .store_entities(self.engine, &updates, &[])
            .await
    }

    /// The organizations export to its end (true) or until the run must stop.
    async fn orgs(&mut self, first_start: i64, report: &mut RefreshReport) -> Result<bool> {
        let mut cursor = self
            .engine
            .store
            .get_cursor(&self.conn.name, CursorKind::Orgs)
            .await
            .context(|| "reading the organizations cursor".into())?;
        let mut start = cursor
            .as_deref()
            .and_then(|c| c.parse::<i64>().ok())
            .unwrap_or(first_start);
        let mut taken = 0;
        let mut rejected = false;
        loop {
            if !self.may_continue(taken)? {
                return Ok(false);
            }
            taken += 1;
            let page = match self.client.organizations_page(start).await {
                Ok(p) => p,
                Err(zdsync_zendesk::Error::Rejected { code, .. })
                    if code.as_deref() == Some("StartTimeTooRecent") =>
                {
                    return Ok(true); // nothing older than a minute is left
                }
                Err(zdsync_zendesk::Error::Rejected { status, code, .. }) if !rejected => {
                    tracing::warn!(
                        status,
                        ?code,
                        start,
                        "the organizations export refused its start; trying once more from the time it had reached"
                    );
                    rejected = true;
                    continue;
                }
                Err(e) => {
                    return Err(EngineError::Zendesk {
                        context: format!("reading the organizations export from {start}"),
                        source: e,
                    });
                }
            };
            report.pages += 1;
            report.orgs_seen += page.organizations.len() as u64;
            let empty = page.organizations.is_empty();
            self.absorb_orgs(page.organizations, Mark::Seen, report)
                .await?;
            self.save_pending().await?;
            let next = page.next_start_time.to_string();
            if !empty && cursor.as_deref() != Some(next.as_str()) {
                self.put(CursorKind::Orgs, &next, cursor.clone()).await?;
                cursor = Some(next);
            }
            if page.end_of_stream || page.next_start_time == start {
                return Ok(true);
            }
            start = page.next_start_time;
        }
    }

    /// Stores the page's organizations that are already stored and changed,
    /// and marks every stored one seen.
    async fn absorb_orgs(
        &mut self,
        orgs: Vec<Organization>,
        mark: Mark,
        report: &mut RefreshReport,
    ) -> Result<()> {
        let ids: Vec<u64> = orgs.iter().map(|o| o.id).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let stored = self
            .engine
            .store
            .get_entities(&self.conn.name, EntityKind::Org, &ids)
            .await
            .context(|| "reading stored organizations".into())?;
        let mut updates = Vec::new();
        for o in orgs.into_iter().map(zdsync_mapping::retained_org) {
            if stored
                .get(&o.id)
                .is_some_and(|b| b.hash != entity_hash(&o).unwrap_or_default())
            {
                updates.push(o);
            }
        }
        match mark {
            Mark::Seen => self
                .pending
                .orgs
                .extend(ids.iter().filter(|id| stored.contains_key(id))),
            Mark::Changed => self.pending.orgs.extend(updates.iter().map(|o| o.id)),
        }
        report.orgs_updated += updates.len() as u64;
        self.renderer
            .store_entities(self.engine, &[], &updates)
            .await
    }

    /// Renders again the documents of the pending users and organizations,
    /// then forgets the pending set. False when the run had to stop first.
    async fn render_pending(&mut self) -> Result<bool> {
        if self.pending.is_empty() {
            return Ok(true);
        }
        let fields = self
            .client
            .ticket_fields()
            .await
            .context(|| "reading ticket fields".into())?;
        self.renderer.catalog = zdsync_mapping::FieldCatalog::new(fields);
        let mut after = None;
        loop {
            if !self.may_continue(1)? {
                return Ok(false);
            }
            let ids = self
                .engine
                .store
                .list_state_ids(&self.conn.name, after, 500)
                .await
                .context(|| "listing ticket states".into())?;
            let Some(&last) = ids.last() else { break };
            after = Some(last);
            self.render_affected(&ids).await?;
        }
        let previous = self.stored_pending.take();
        if previous.is_some() {
            self.engine
                .store
                .delete_cursor(&self.conn.name, CursorKind::RefreshPending)
                .await
                .context(|| "forgetting the refresh's pending set".into())?;
        }
        self.pending = PendingSet::default();
        Ok(true)
    }

    /// Renders again the documents among `ids` that show a pending user or
    /// organization.
    async fn render_affected(&mut self, ids: &[u64]) -> Result<()> {
        let conn = self.conn.name.as_str();
        let decoded: Vec<(u64, TicketState, String)> =
            crate::sync::load_states(self.engine, conn, ids)
                .await?
                .into_iter()
                .filter(|(_, (state, _))| state.ticket.is_some())
                .map(|(id, (state, hash))| (id, state, hash))
                .collect();
        let requesters = self.requesters_orgs(&decoded).await?;
        let batch: Vec<Pending> = decoded
            .into_iter()
            .filter(|(_, s, _)| self.affects(s, &requesters))
            .map(|(id, state, hash)| Pending {
                ticket_id: id,
                state,
                stored_state_hash: Some(hash),
            })
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        let writes = self
            .renderer
            .render_batch(self.engine, &self.client, &batch)
            .await?;
        self.engine
            .store
            .write_tickets(conn, &writes)
            .await
            .context(|| "storing re-rendered documents".into())
    }

    /// The stored organization of each requester of the batch (only read
    /// when organizations are pending).
    async fn requesters_orgs(
        &self,
        states: &[(u64, TicketState, String)],
    ) -> Result<HashMap<u64, Option<u64>>> {
        if self.pending.orgs.is_empty() {
            return Ok(HashMap::new());
        }
        let mut ids: Vec<u64> = states
            .iter()
            .filter_map(|(_, s, _)| s.ticket.as_ref().and_then(|t| t.requester_id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let stored = self
            .engine
            .store
            .get_entities(&self.conn.name, EntityKind::User, &ids)
            .await
            .context(|| "reading stored users".into())?;
        let mut out = HashMap::with_capacity(stored.len());
        for (id, blob) in stored {
            let u: User = serde_json::from_str(&blob.body).map_err(|e| {
                EngineError::Corrupt(format!(
                    "stored user {id} cannot be read: {}",
                    zdsync_zendesk::redact::json_error(&e)
                ))
            })?;
            out.insert(id, u.organization_id);
        }
        Ok(out)
    }

    /// Whether a ticket's document shows a pending user or organization.
    fn affects(&self, state: &TicketState, requesters: &HashMap<u64, Option<u64>>) -> bool {
        let Some(t) = &state.ticket else { return false };
        let users = zdsync_mapping::wanted_user_ids(t, &state.entries);
        if users.iter().any(|u| self.pending.users.contains(u)) {
            return true;
        }
        let requester_org = t
            .requester_id
            .and_then(|r| requesters.get(&r).copied().flatten());
        [requester_org, t.organization_id]
            .into_iter()
            .flatten()
            .any(|o| self.pending.orgs.contains(&o))
    }
}

/// The saved users position: Zendesk's cursor and the `updated_at` time
/// reached. An older plain cursor (no time) restarts, if refused, from the
/// first start.
fn users_position(saved: Option<&str>, first_start: i64) -> TicketsCursor {
    match saved {
        None => TicketsCursor {
            after: String::new(),
            ts: first_start,
        },
        Some(s) => TicketsCursor::decode(s).unwrap_or_else(|_| TicketsCursor {
            after: s.to_string(),
            ts: first_start,
        }),
    }
}

/// The hash a user or organization is stored with.
fn entity_hash<T: Serialize>(item: &T) -> Result<String> {
    serde_json::to_string(item)
        .map(|s| content_hash(&s))
        .map_err(|e| EngineError::Corrupt(format!("cannot encode a user or organization: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_position_reads_new_and_old_cursors() {
        assert_eq!(
            users_position(None, 50),
            TicketsCursor {
                after: String::new(),
                ts: 50
            }
        );
        let new = TicketsCursor {
            after: "abc".into(),
            ts: 70,
        };
        assert_eq!(users_position(Some(&new.encode()), 50), new);
        assert_eq!(
            users_position(Some("opaque-old-cursor"), 50),
            TicketsCursor {
                after: "opaque-old-cursor".into(),
                ts: 50
            }
        );
    }
}
