//! The sync of one connection (hourly; the first run is the backfill).
//!
//! On the exports' path (admins) both export streams are walked together
//! ([`crate::exports`]): a page of the incremental tickets cursor export
//! (with users and organizations sideloaded) is held while the incremental
//! ticket-events stream (with comment events) is read up to its newest
//! change; each ticket's comments are merged into its state (de-duplicated
//! by comment id) with its snapshot, its document rendered; deleted
//! tickets lose state and document; a ticket whose `comment_count` exceeds
//! the comments seen gets its comments fetched (a gap in the bulk stream).
//! Agents take the search export instead ([`crate::search`]).
//!
//! Each page's items are stored before its cursor moves, so a crash at any
//! point makes the rerun redo at most one page of each stream, and every
//! write is idempotent (merges de-duplicate, unchanged hashes are not
//! rewritten). The next page is read while a page is stored, so the
//! store's work hides in the wait for Zendesk's export budget; a crash
//! also loses that page read ahead (one request), never anything stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use zdsync_mapping::threads::Thread;
use zdsync_store::{Connection, CursorKind, TicketWrite, Window};
use zdsync_zendesk::types::{Comment, Ticket};
use zdsync_zendesk::{Client, RequestStats};

use crate::access::Path;
use crate::error::{Context, EngineError, Result};
use crate::lease::Lease;
use crate::render::{Counters, Pending, Renderer};
use crate::state::TicketState;
use crate::{Engine, now_rfc3339};

/// Gap fetches in flight at once (see [`Walk::fill_gaps`]).
const GAP_FETCH_CONCURRENCY: usize = 8;

/// Which stream a sync is walking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Events,
    Tickets,
    /// The search export (agent connections, [`crate::search`]).
    Search,
}

/// Progress of a sync, reported after every page.
#[derive(Debug, Clone, Serialize)]
pub struct ProgressUpdate {
    pub connection: String,
    pub phase: Phase,
    /// Epoch seconds the walk has reached in this stream.
    pub position: i64,
    pub pages: u64,
    pub documents_written: u64,
}

pub trait Progress: Send + Sync {
    fn update(&self, update: &ProgressUpdate);
}

/// How to run a sync.
#[derive(Clone)]
pub struct SyncOptions {
    /// Stop taking new pages after this instant (Lambda remaining time).
    pub deadline: Option<Instant>,
    /// Stop after this many pages in all (tests simulate interruptions).
    pub max_pages: Option<u64>,
    pub progress: Option<Arc<dyn Progress>>,
    /// Lease owner id (unique per process/invocation).
    pub owner: String,
    pub lease_ttl: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            deadline: None,
            max_pages: None,
            progress: None,
            owner: crate::lease::new_owner(),
            lease_ttl: crate::lease::DEFAULT_TTL,
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncReport {
    pub connection: String,
    pub started_at: String,
    pub finished_at: String,
    /// True when both streams reached their end (caught up).
    pub complete: bool,
    pub event_pages: u64,
    pub ticket_pages: u64,
    pub tickets_seen: u64,
    pub comments_seen: u64,
    #[serde(flatten)]
    pub counters: Counters,
    pub requests: RequestStatsOut,
    /// Records Zendesk sent whose id could not be read: left out, each
    /// logged with its endpoint and position (0 on healthy data).
    #[serde(default)]
    pub skipped_records: u64,
    pub duration_ms: u64,
    #[serde(default)]
    pub error: Option<String>,
    /// The backfill window this run worked on (`None`: the live streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Windows of history to read next, found once this run's window was
    /// read whole (a trial's next window, an upgrade's): the caller queues
    /// them or walks them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_windows: Vec<Window>,
    /// The path the run took (the exports, or the search export of an
    /// agent connection; [`crate::access`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<crate::access::Path>,
    /// What the run learnt of the account's rate budgets, for the next run
    /// of the connection (another process, perhaps) to honour: a budget
    /// this run spent is not assumed full by the next ([`Engine::client`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<zdsync_zendesk::BudgetSnapshot>,
}

/// Zendesk request figures of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RequestStatsOut {
    pub total: u64,
    pub retries: u64,
    pub responses_429: u64,
    pub responses_5xx: u64,
    pub export: u64,
    pub slept_ms: u64,
    /// Answers that were not valid UTF-8 (read with U+FFFD replacements).
    #[serde(default)]
    pub invalid_utf8: u64,
}

impl From<RequestStats> for RequestStatsOut {
    fn from(s: RequestStats) -> Self {
        RequestStatsOut {
            total: s.requests,
            retries: s.retries,
            responses_429: s.responses_429,
            responses_5xx: s.responses_5xx,
            export: s.export_requests,
            slept_ms: s.slept_ms,
            invalid_utf8: s.invalid_utf8_responses,
        }
    }
}

/// Which part of the streams a walk covers: the live cursors (open-ended),
/// or one window of a planned backfill with its own cursors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span(pub(crate) Option<Window>);

impl Span {
    const LIVE: Span = Span(None);

    pub(crate) fn events(self) -> CursorKind {
        match self.0 {
            None => CursorKind::Events,
            Some(Window { from, until }) => CursorKind::WindowEvents { from, until },
        }
    }

    pub(crate) fn tickets(self) -> CursorKind {
        match self.0 {
            None => CursorKind::Tickets,
            Some(Window { from, until }) => CursorKind::WindowTickets { from, until },
        }
    }

    /// Where a stream without a saved cursor starts.
    pub(crate) fn start(self) -> i64 {
        self.0.map_or(0, |w| w.from)
    }

    pub(crate) fn until(self) -> Option<i64> {
        self.0.map(|w| w.until)
    }

    /// Whether a stream position lies before the window's end.
    pub(crate) fn holds(self, position: i64) -> bool {
        self.until().is_none_or(|u| position < u)
    }
}

/// Epoch seconds of an RFC 3339 time.
pub(crate) fn epoch(s: Option<&str>) -> Option<i64> {
    s?.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// The position of a ticket in the tickets export.
pub(crate) fn ticket_position(t: &Ticket) -> i64 {
    t.generated_timestamp
        .or_else(|| epoch(t.updated_at.as_deref()))
        .unwrap_or(0)
}

/// Of two snapshots of one ticket, the later one: windows of a backfill and
/// the live sync may reach the same ticket in any order, and an older copy
/// must never replace a newer one (`generated_timestamp` moves on every
/// change; `updated_at` when it is missing).
pub(crate) fn newest(stored: Option<Ticket>, incoming: Ticket) -> Ticket {
    match stored {
        Some(old) => {
            let older = match (old.generated_timestamp, incoming.generated_timestamp) {
                (Some(a), Some(b)) => b < a,
                _ => matches!(
                    (epoch(old.updated_at.as_deref()), epoch(incoming.updated_at.as_deref())),
                    (Some(a), Some(b)) if b < a
                ),
            };
            if older { old } else { incoming }
        }
        None => incoming,
    }
}

/// The stored states of the given tickets, with the hashes they were
/// stored with (no read for no tickets).
pub(crate) async fn load_states(
    engine: &Engine,
    conn: &str,
    ids: &[u64],
) -> Result<HashMap<u64, (TicketState, String)>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let blobs = engine
        .store
        .get_states(conn, ids)
        .await
        .context(|| "reading ticket states".into())?;
    let mut out = HashMap::with_capacity(blobs.len());
    for (id, blob) in blobs {
        let key = format!("{conn}#{id}");
        out.insert(id, (TicketState::decode(&blob.body, &key)?, blob.hash));
    }
    Ok(out)
}

/// Syncs one connection's live streams under its lease and records the run.
pub async fn sync_connection(
    engine: &Engine,
    name: &str,
    opts: &SyncOptions,
) -> Result<SyncReport> {
    sync_span(engine, name, Span::LIVE, opts).await
}

/// Imports one window of a planned backfill under the connection's lease
/// (see [`crate::backfill`]); `complete` once both streams of the window
/// are walked.
pub async fn sync_window(
    engine: &Engine,
    name: &str,
    window: Window,
    opts: &SyncOptions,
) -> Result<SyncReport> {
    if window.until <= window.from {
        return Err(EngineError::Usage(format!(
            "the backfill window [{}, {}) is empty",
            window.from, window.until
        )));
    }
    sync_span(engine, name, Span(Some(window)), opts).await
}

async fn sync_span(
    engine: &Engine,
    name: &str,
    span: Span,
    opts: &SyncOptions,
) -> Result<SyncReport> {
    let conn = engine.connection(name).await?;
    let lease = Lease::for_run(engine, &conn.name, opts).await?;
    let result = run_recorded(engine, &conn, span, opts, &lease, None).await;
    lease.release().await;
    result
}

/// One run over a span under a lease the caller holds, recorded as the
/// connection's last run. `pincer`: the run walks the older part of
/// history while another walk reads the newest per ticket
/// ([`crate::pincer`]), on the pincer's client.
pub(crate) async fn run_recorded(
    engine: &Engine,
    conn: &Connection,
    span: Span,
    opts: &SyncOptions,
    lease: &Lease,
    pincer: Option<Arc<crate::pincer::Pincer>>,
) -> Result<SyncReport> {
    let started = Instant::now();
    let mut report = SyncReport {
        connection: conn.name.clone(),
        started_at: now_rfc3339(),
        window: span.0,
        ..Default::default()
    };
    let result = run(engine, conn, span, opts, lease, &mut report, pincer).await;
    finish_report(engine, &mut report, started, result.as_ref().err()).await;
    result.map(|()| report)
}

/// Closes a run's report and records it as the connection's last run.
pub(crate) async fn finish_report(
    engine: &Engine,
    report: &mut SyncReport,
    started: Instant,
    error: Option<&EngineError>,
) {
    report.finished_at = now_rfc3339();
    report.duration_ms = started.elapsed().as_millis() as u64;
    if let Some(e) = error {
        report.error = Some(e.to_string());
    }
    match serde_json::to_string(&report) {
        Ok(json) => {
            if let Err(e) = engine.store.put_run_record(&report.connection, &json).await {
                tracing::warn!(connection = %report.connection, error = %e, "could not record the run");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not encode the run record"),
    }
}

/// The saved position in the tickets export: Zendesk's opaque cursor and the
/// `generated_timestamp` reached, to restart from when the cursor is refused.
/// An empty `after` means "start at `ts`" (a position set by a backfill plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketsCursor {
    pub after: String,
    pub ts: i64,
}

impl TicketsCursor {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(s: &str) -> Result<TicketsCursor> {
        serde_json::from_str(s).map_err(|e| {
            EngineError::Corrupt(format!(
                "the saved tickets cursor cannot be read ({}); run `zdsync backfill` to start over",
                zdsync_zendesk::redact::json_error(&e)
            ))
        })
    }
}

/// One run's walk of a connection's streams, with what its pages share.
pub(crate) struct Walk<'a> {
    pub(crate) engine: &'a Engine,
    /// The connection as this run knows it (its role may change mid-run).
    pub(crate) conn: Connection,
    pub(crate) client: Client,
    pub(crate) renderer: Renderer,
    pub(crate) opts: &'a SyncOptions,
    pub(crate) lease: &'a Lease,
    pub(crate) pages: u64,
    /// Set when another walk reads the newest history per ticket beside
    /// this one ([`crate::pincer`]).
    pub(crate) pincer: Option<Arc<crate::pincer::Pincer>>,
}

impl Walk<'_> {
    /// False when the run must stop taking pages (deadline, page budget).
    /// Each stream gets at least one page per run (`taken` = pages of the
    /// current stream so far), so a run that is always short of time still
    /// moves both streams forward instead of re-checking the first forever.
    pub(crate) fn may_continue(&self, taken: u64) -> bool {
        if taken == 0 {
            return true;
        }
        if self.opts.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        self.opts.max_pages.is_none_or(|m| self.pages < m)
    }

    pub(crate) fn progress(&self, phase: Phase, position: i64) {
        if let Some(p) = &self.opts.progress {
            p.update(&ProgressUpdate {
                connection: self.conn.name.clone(),
                phase,
                position,
                pages: self.pages,
                documents_written: self.renderer.counters.documents_written,
            });
        }
    }

    pub(crate) async fn put_cursor(
        &mut self,
        kind: CursorKind,
        value: &str,
        previous: &mut Option<String>,
    ) -> Result<()> {
        if previous.as_deref() == Some(value) {
            return Ok(());
        }
        self.engine
            .store
            .put_cursor(&self.conn.name, kind, value, previous.as_deref())
            .await
            .context(|| format!("saving the {} cursor", kind.as_str()))?;
        self.renderer.counters.cursor_writes += 1;
        *previous = Some(value.to_string());
        Ok(())
    }

    pub(crate) async fn load_states(
        &self,
        ids: &[u64],
    ) -> Result<HashMap<u64, (TicketState, String)>> {
        load_states(self.engine, &self.conn.name, ids).await
    }

    pub(crate) async fn write(&self, writes: &[TicketWrite]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.engine
            .store
            .write_tickets(&self.conn.name, writes)
            .await
            .context(|| format!("storing {} ticket items", writes.len()))
    }

    /// The next page's read, begun now so that it waits for Zendesk's
    /// budget while the current page is stored: `None` when the run must
    /// stop taking pages of the stream that has `taken` so far
    /// ([`Walk::may_continue`]). A run cut off while storing a page has
    /// read at most this one page ahead, which the next run reads again.
    pub(crate) fn read_ahead<F: std::future::Future>(
        &self,
        taken: u64,
        read: impl FnOnce(Client) -> F,
    ) -> futures::future::OptionFuture<F> {
        self.may_continue(taken)
            .then(|| read(self.client.clone()))
            .into()
    }

    /// Fetches the comments of every ticket in the batch that has more than
    /// the stream delivered (a gap). A ticket gone meanwhile is left for
    /// the next run, which sees its deletion.
    pub(crate) async fn fill_gaps(&mut self, batch: &mut [Pending]) -> Result<()> {
        let gaps: Vec<u64> = batch
            .iter()
            .filter(|p| p.state.ticket.as_ref().is_some_and(|t| p.state.has_gap(t)))
            .map(|p| p.ticket_id)
            .collect();
        let (read, gone) = self.fetch_comments(batch, gaps).await?;
        self.renderer.counters.gap_fetches += read;
        for (id, _) in gone {
            tracing::info!(
                ticket = id,
                "ticket vanished while syncing; the next run sees its deletion"
            );
        }
        Ok(())
    }

    /// Fetches all comments of the given tickets of the batch into their
    /// states, a few at a time: these requests use the account budget, and
    /// running them side by side keeps a page's reads from outlasting the
    /// wait for the next page. Returns how many were read, and the tickets
    /// Zendesk would not show (404: deleted; 403: out of the caller's sight).
    pub(crate) async fn fetch_comments(
        &mut self,
        batch: &mut [Pending],
        ids: Vec<u64>,
    ) -> Result<(u64, Vec<(u64, Unavailable)>)> {
        if ids.is_empty() {
            return Ok((0, Vec::new()));
        }
        let mut fetched = self.fetch_many(ids).await;
        let mut read = 0;
        let mut gone = Vec::new();
        for p in batch.iter_mut() {
            let Some(fetch) = fetched.remove(&p.ticket_id) else {
                continue;
            };
            match comments_of(p.ticket_id, fetch)? {
                Ok(comments) => {
                    read += 1;
                    p.state.absorb(&comments);
                }
                Err(why) => gone.push((p.ticket_id, why)),
            }
        }
        Ok((read, gone))
    }

    /// The comments of the given tickets read per ticket, counted as
    /// comment reads, and the tickets Zendesk no longer shows (deleted or
    /// out of sight: the next run sees why).
    pub(crate) async fn read_comments(
        &mut self,
        ids: Vec<u64>,
    ) -> Result<(HashMap<u64, Vec<Comment>>, Vec<u64>)> {
        let mut read = HashMap::new();
        let mut vanished = Vec::new();
        for (id, fetch) in self.fetch_many(ids).await {
            match comments_of(id, fetch)? {
                Ok(comments) => {
                    self.renderer.counters.comment_reads += 1;
                    read.insert(id, comments);
                }
                Err(_) => {
                    tracing::info!(
                        ticket = id,
                        "ticket vanished while syncing; the next run sees its deletion"
                    );
                    vanished.push(id);
                }
            }
        }
        Ok((read, vanished))
    }

    /// The comments of the given tickets, read a few at a time on the
    /// account budget.
    pub(crate) async fn fetch_many(
        &self,
        ids: Vec<u64>,
    ) -> HashMap<u64, std::result::Result<Vec<Comment>, zdsync_zendesk::Error>> {
        use futures::StreamExt;
        let client = &self.client;
        futures::stream::iter(ids)
            .map(|id| async move { (id, client.ticket_comments(id).await) })
            .buffer_unordered(GAP_FETCH_CONCURRENCY)
            .collect()
            .await
    }

    /// Reads the chat history or conversation log of every ticket in the
    /// batch that needs one and changed since it was read
    /// ([`TicketState::thread_to_read`]), a few at a time on the account
    /// budget (logs also under their own). Zendesk refusing one (404, 403)
    /// leaves that ticket's comments as its conversation.
    pub(crate) async fn read_threads(&mut self, batch: &mut [Pending]) -> Result<()> {
        use futures::StreamExt;
        let wanted: Vec<(u64, Thread)> = batch
            .iter()
            .filter_map(|p| p.state.thread_to_read().map(|t| (p.ticket_id, t)))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let client = &self.client;
        let mut read: HashMap<u64, _> = futures::stream::iter(wanted)
            .map(
                |(id, thread)| async move { (id, (thread, read_thread(client, id, thread).await)) },
            )
            .buffer_unordered(GAP_FETCH_CONCURRENCY)
            .collect()
            .await;
        for p in batch.iter_mut() {
            let Some((thread, result)) = read.remove(&p.ticket_id) else {
                continue;
            };
            let counter = match thread {
                Thread::ChatHistory => &mut self.renderer.counters.chat_history_reads,
                Thread::ConversationLog => &mut self.renderer.counters.conversation_log_reads,
            };
            *counter += 1;
            match result {
                Ok(entries) => p.state.keep_thread(thread, Some(entries)),
                Err(
                    zdsync_zendesk::Error::NotFound { .. }
                    | zdsync_zendesk::Error::Forbidden { .. },
                ) => p.state.keep_thread(thread, None),
                Err(e) => {
                    return Err(EngineError::Zendesk {
                        context: format!("reading the conversation of ticket {}", p.ticket_id),
                        source: e,
                    });
                }
            };
        }
        Ok(())
    }
}

/// One ticket's chat history or conversation log, as conversation entries.
async fn read_thread(
    client: &Client,
    ticket_id: u64,
    thread: Thread,
) -> std::result::Result<Vec<zdsync_mapping::ConversationEntry>, zdsync_zendesk::Error> {
    Ok(match thread {
        Thread::ChatHistory => {
            zdsync_mapping::threads::chat_history_entries(&client.chat_history(ticket_id).await?)
        }
        Thread::ConversationLog => {
            zdsync_mapping::threads::log_entries(&client.conversation_log(ticket_id).await?)
        }
    })
}

#[allow(clippy::too_many_arguments)]
async fn run(
    engine: &Engine,
    conn: &Connection,
    span: Span,
    opts: &SyncOptions,
    lease: &Lease,
    report: &mut SyncReport,
    pincer: Option<Arc<crate::pincer::Pincer>>,
) -> Result<()> {
    let client = match &pincer {
        Some(p) => p.client.clone(),
        None => engine.client(conn).await?,
    };
    let before = pincer.as_ref().map(|_| client.stats());
    let was = Path::of(conn);
    let conn = match was {
        // An agent may have been promoted (or restricted) since.
        Path::Search => crate::access::recheck(engine, conn, &client).await?,
        Path::Exports => conn.clone(),
    };
    let promoted = was == Path::Search && Path::of(&conn) == Path::Exports;
    let renderer = Renderer::for_run(engine, &conn, &client).await?;
    let mut walk = Walk {
        engine,
        conn,
        client,
        renderer,
        opts,
        lease,
        pages: 0,
        pincer,
    };
    let result = async {
        if promoted {
            walk.name_reasons().await?;
        }
        report.complete = walk.streams(span, report).await?;
        if report.complete {
            // A trial's next window, its floor, or the end of an upgrade.
            report.next_windows = match span.0 {
                Some(w) => crate::history::after_window(engine, &walk.conn.name, w).await?,
                None => {
                    crate::history::after_live_walk(engine, &walk.conn.name).await?;
                    Vec::new()
                }
            };
        }
        Ok(())
    }
    .await;
    report.path = Some(Path::of(&walk.conn));
    report.budgets = walk.client.budgets();
    report.counters = walk.renderer.counters.clone();
    let mut stats = walk.client.stats();
    if let Some(b) = before {
        // A client shared with another walk: what was sent during this run.
        stats = stats_since(stats, &b);
    }
    report.skipped_records = stats.skipped_records;
    report.requests = stats.into();
    result
}

/// Request figures sent between two readings of one client's counters.
pub(crate) fn stats_since(now: RequestStats, earlier: &RequestStats) -> RequestStats {
    RequestStats {
        requests: now.requests.saturating_sub(earlier.requests),
        retries: now.retries.saturating_sub(earlier.retries),
        responses_429: now.responses_429.saturating_sub(earlier.responses_429),
        responses_5xx: now.responses_5xx.saturating_sub(earlier.responses_5xx),
        export_requests: now.export_requests.saturating_sub(earlier.export_requests),
        slept_ms: now.slept_ms.saturating_sub(earlier.slept_ms),
        skipped_records: now.skipped_records.saturating_sub(earlier.skipped_records),
        invalid_utf8_responses: now
            .invalid_utf8_responses
            .saturating_sub(earlier.invalid_utf8_responses),
    }
}

/// Why Zendesk would not show a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// 404: deleted.
    Deleted,
    /// 403: the caller may not see it (a restricted agent).
    OutOfSight,
}

/// What reading ticket `id`'s comments gave: the comments, why Zendesk
/// would not show the ticket, or an error that stops the run.
pub(crate) fn comments_of(
    id: u64,
    fetch: std::result::Result<Vec<Comment>, zdsync_zendesk::Error>,
) -> Result<std::result::Result<Vec<Comment>, Unavailable>> {
    match fetch {
        Ok(comments) => Ok(Ok(comments)),
        Err(zdsync_zendesk::Error::NotFound { .. }) => Ok(Err(Unavailable::Deleted)),
        Err(zdsync_zendesk::Error::Forbidden { .. }) => Ok(Err(Unavailable::OutOfSight)),
        Err(e) => Err(EngineError::Zendesk {
            context: format!("fetching the comments of ticket {id}"),
            source: e,
        }),
    }
}

impl Walk<'_> {
    /// Walks the span on the connection's path; true once read to its end.
    /// An export that answers 403 makes the run read the role again: an
    /// admin demoted to agent goes on along the search export.
    async fn streams(&mut self, span: Span, report: &mut SyncReport) -> Result<bool> {
        if Path::of(&self.conn) == Path::Search {
            return self.search_span(span, report).await;
        }
        match self.exports(span, report).await {
            Err(EngineError::Zendesk {
                source: zdsync_zendesk::Error::Forbidden { .. },
                ..
            }) if self.demoted().await? => self.search_span(span, report).await,
            other => other,
        }
    }

    /// True when the connection's user is no admin any more (its path is
    /// then the search export).
    async fn demoted(&mut self) -> Result<bool> {
        self.conn = crate::access::recheck(self.engine, &self.conn, &self.client).await?;
        Ok(Path::of(&self.conn) == Path::Search)
    }

    /// The agents' path covers all history with its one walk: a window of
    /// an exports backfill (queued before the role changed) is done at once.
    async fn search_span(&mut self, span: Span, report: &mut SyncReport) -> Result<bool> {
        match span.0 {
            None => self.search(report).await,
            Some(w) => {
                tracing::info!(connection = %self.conn.name, from = w.from, until = w.until, "an agent connection reads history through the search export; this window has nothing to do");
                Ok(true)
            }
        }
    }

    /// Renders again the stored tickets whose rating names its reason by
    /// id only: an agent could not read the names, an admin can.
    async fn name_reasons(&mut self) -> Result<()> {
        self.renderer
            .render_stored(self.engine, &self.client, |s| {
                s.ticket
                    .as_ref()
                    .is_some_and(crate::render::needs_reason_name)
            })
            .await
    }
}

/// True when no sync of the connection has stored a position yet (on
/// either path): its first sync is its backfill.
pub async fn never_synced(engine: &Engine, name: &str) -> Result<bool> {
    for kind in [CursorKind::Events, CursorKind::Tickets, CursorKind::Search] {
        let cursor = engine
            .store
            .get_cursor(name, kind)
            .await
            .context(|| format!("reading the {} cursor", kind.as_str()))?;
        if cursor.is_some() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Forgets the tickets and events cursors (and an agent connection's
/// search cursor), so the next sync walks all of
/// history again (a manual backfill). Stored states and documents stay:
/// the walk rewrites only what differs.
pub async fn reset_cursors(engine: &Engine, name: &str) -> Result<()> {
    let conn = engine.connection(name).await?;
    for kind in [CursorKind::Events, CursorKind::Tickets, CursorKind::Search] {
        engine
            .store
            .delete_cursor(&conn.name, kind)
            .await
            .context(|| format!("resetting the {} cursor", kind.as_str()))?;
    }
    Ok(())
}
