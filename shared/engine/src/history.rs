//! Plans: how much of a connection's history its documents cover.
//!
//! A **paid** connection holds a document for every feedback ticket of its
//! history. A **trial** connection holds the `limit` (5,000 by default,
//! [`crate::Settings::trial_limit`]) most recent feedback tickets by
//! creation time, and every feedback ticket created after the oldest of
//! them: new tickets always sync, past the limit.
//!
//! **Finding a trial's tickets without reading all history.** A ticket
//! created at `t` changes only after `t`, and its comments are all written
//! after `t`, so walking both export streams from `t` on reads every ticket
//! created since `t` whole. The trial's backfill walks windows of history
//! newest first (the first 30 days before the split an hour ago, then wider
//! windows as [`next_window`] estimates from the density seen so far), each
//! with the window machinery of [`crate::backfill`]; while it reads window
//! `[from, until)`, documents are held for tickets created since `from`.
//! Once the documents held reach the limit (or history is read to its
//! start), the `limit`-th most recent of them by (creation time, id) is the
//! trial's **floor**: documents below it are removed, and from then on only
//! tickets at or above it get documents ([`History::holds`]). The cost is
//! the export pages of the windows read (a little more than the pages of
//! the recent history they cover), not the pages of all history.
//!
//! **Older tickets that change on a trial** are not pulled in: a ticket
//! created before the floor gets no document when it changes later (its
//! state is kept, so an upgrade reads less), because its earlier
//! conversation was never read and a partial document would mislead.
//!
//! **Upgrade** (`zdsync plan <name> paid`): windows of the history below the
//! trial's horizon (the oldest point read whole) are walked like any
//! backfill (through the queue on AWS, in-process locally) while the hourly
//! sync goes on; tickets already stored are merged, not read again. When
//! the last window is read, the floor is dropped and the tickets held back
//! are rendered: the documents then equal a paid connection's.
//! **Downgrade** (`zdsync plan <name> trial`) keeps every stored document;
//! a connection whose history is complete stays complete.
//!
//! The record lives in the connection's `history` cursor; a connection
//! without one holds all of its history (every connection made before
//! plans, and every paid connection).

use serde::{Deserialize, Serialize};
use zdsync_store::{Connection, CursorKind, Plan, TicketWrite, Window};
use zdsync_zendesk::types::Ticket;

use crate::Engine;
use crate::backfill::{replace_cursor, split_point, window_done};
use crate::error::{Context, EngineError, Result};
use crate::lease::Lease;
use crate::render::Renderer;
use crate::sync::{SyncOptions, SyncReport, epoch, sync_window};

/// Feedback documents a trial holds when the settings do not say.
pub const DEFAULT_TRIAL_LIMIT: usize = 5_000;
const DAY: i64 = 86_400;
/// The first window a trial reads: the last 30 days before the split.
const FIRST_WINDOW: i64 = 30 * DAY;
/// Documents listed, states read or writes sent per store call.
const BATCH: usize = 500;

/// A ticket's place in creation order: its creation time, then its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Place {
    pub created: i64,
    pub ticket_id: u64,
}

impl Place {
    /// The place of a ticket (`None` when it has no readable creation time).
    pub fn of(t: &Ticket) -> Option<Place> {
        Some(Place {
            created: epoch(t.created_at.as_deref())?,
            ticket_id: t.id,
        })
    }

    fn start_of(from: i64) -> Place {
        Place {
            created: from,
            ticket_id: 0,
        }
    }
}

/// How much history a connection's documents cover (`CURSOR#history`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Documents are held only for tickets at or above this place; `None`:
    /// for every ticket.
    pub floor: Option<Place>,
    /// Every ticket created since this time has been read whole.
    pub horizon: i64,
    /// The window a trial's backfill reads now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probing: Option<Window>,
    /// The windows of older history an upgrade reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upgrade: Vec<Window>,
    /// A trial walked from the start in one go (Zendesk's clock unknown):
    /// the floor is set once that walk is done.
    #[serde(default)]
    pub cut_after_walk: bool,
    /// The trial's limit when it was planned.
    pub limit: usize,
    /// Where the trial's backfill split history from the live sync.
    #[serde(default)]
    pub split: i64,
}

impl History {
    /// Whether a ticket's document is held under `floor`.
    pub fn holds(floor: Option<Place>, ticket: &Ticket) -> bool {
        match (floor, Place::of(ticket)) {
            (Some(f), Some(p)) => p >= f,
            _ => true,
        }
    }

    /// True when every feedback ticket of history has its document.
    pub fn complete(&self) -> bool {
        self.floor.is_none() && self.probing.is_none() && self.upgrade.is_empty()
    }
}

/// The window a trial reads after `[from, _)`: long enough, at the density
/// seen since `from` (`held` documents over `live_from - from` seconds), to
/// hold the documents still missing with a quarter to spare; at least as
/// long as the window before (`last_len`) and at most eight times it; never
/// before 0.
pub fn next_window(limit: usize, held: usize, from: i64, live_from: i64, last_len: i64) -> Window {
    let last_len = last_len.max(DAY);
    let covered = (live_from - from).max(1) as f64;
    let missing = limit.saturating_sub(held) as f64;
    let wanted = if held == 0 {
        (8 * last_len) as f64
    } else {
        missing * covered / held as f64 * 1.25
    };
    let len = (wanted as i64).clamp(last_len, 8 * last_len);
    Window {
        from: (from - len).max(0),
        until: from,
    }
}

/// The trial's floor among the places of the documents held: the `limit`-th
/// most recent, or `None` when fewer are held.
pub fn floor_of(mut places: Vec<Place>, limit: usize) -> Option<Place> {
    if limit == 0 || places.len() < limit {
        return None;
    }
    places.sort_unstable_by(|a, b| b.cmp(a));
    Some(places[limit - 1])
}

/// The connection's history record (`None`: all history is held).
pub async fn load(engine: &Engine, name: &str) -> Result<Option<History>> {
    let Some(raw) = engine
        .store
        .get_cursor(name, CursorKind::History)
        .await
        .context(|| "reading the history record".into())?
    else {
        return Ok(None);
    };
    serde_json::from_str(&raw).map(Some).map_err(|e| {
        EngineError::Corrupt(format!(
            "the history record of {name:?} cannot be read ({}); run `zdsync backfill {name}` to read all history again",
            zdsync_zendesk::redact::json_error(&e)
        ))
    })
}

async fn save(engine: &Engine, name: &str, h: &History) -> Result<()> {
    let value = serde_json::to_string(h)
        .map_err(|e| EngineError::Corrupt(format!("cannot encode the history record: {e}")))?;
    replace_cursor(engine, name, CursorKind::History, &value).await
}

/// Forgets the record: all history is held.
pub async fn forget(engine: &Engine, name: &str) -> Result<()> {
    engine
        .store
        .delete_cursor(name, CursorKind::History)
        .await
        .context(|| "forgetting the history record".into())
}

/// The floor documents are held above now (`None`: every ticket).
pub async fn floor(engine: &Engine, name: &str) -> Result<Option<Place>> {
    Ok(load(engine, name).await?.and_then(|h| h.floor))
}

/// `ZDSYNC_TRIAL_LIMIT`, the documents a trial holds, when set.
pub fn trial_limit_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<usize>> {
    let Some(raw) = var("ZDSYNC_TRIAL_LIMIT").filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match raw.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(EngineError::Usage(
            "ZDSYNC_TRIAL_LIMIT must be a whole number of documents above 0 (default 5000)".into(),
        )),
    }
}

fn limit(engine: &Engine) -> usize {
    engine.settings.trial_limit.unwrap_or(DEFAULT_TRIAL_LIMIT)
}

/// Plans a trial's first backfill (the caller holds the lease): moves the
/// live cursors to the split an hour ago and returns the first window to
/// read. `None`: Zendesk's clock could not be used, so history is walked
/// from the start by the live sync and cut once that walk is done.
pub async fn start_trial(engine: &Engine, conn: &Connection) -> Result<Option<Window>> {
    let limit = limit(engine);
    if crate::access::Path::of(conn) == crate::access::Path::Search {
        // The search export comes newest first by creation, but its walk
        // must be read whole to know which are the most recent feedback.
        return walk_then_cut(engine, &conn.name, limit).await;
    }
    let client = engine.client(conn).await?;
    let live_from = match split_point(&client).await? {
        Ok(split) => split.live_from,
        Err(reason) => {
            tracing::info!(connection = %conn.name, %reason, "trial backfill walks history from the start");
            return walk_then_cut(engine, &conn.name, limit).await;
        }
    };
    let first = Window {
        from: (live_from - FIRST_WINDOW).max(0),
        until: live_from,
    };
    let h = History {
        floor: Some(Place::start_of(first.from)),
        horizon: live_from,
        probing: Some(first),
        limit,
        split: live_from,
        ..History::default()
    };
    save(engine, &conn.name, &h).await?;
    crate::backfill::start_live_at(engine, &conn.name, live_from).await?;
    tracing::info!(connection = %conn.name, limit, from = first.from, until = first.until, "trial backfill planned");
    Ok(Some(first))
}

/// Records a trial that walks all history in the live sync and keeps its
/// `limit` most recent documents once that walk is done.
async fn walk_then_cut(engine: &Engine, name: &str, limit: usize) -> Result<Option<Window>> {
    let h = History {
        cut_after_walk: true,
        limit,
        ..History::default()
    };
    save(engine, name, &h).await?;
    Ok(None)
}

/// What to do once a window is read whole: the next window of a trial,
/// or, at the end of a trial or an upgrade, setting the floor or dropping
/// it. Returns the windows to read next (to queue, or to walk in-process).
pub async fn after_window(engine: &Engine, name: &str, w: Window) -> Result<Vec<Window>> {
    let Some(mut h) = load(engine, name).await? else {
        return Ok(Vec::new());
    };
    if h.probing == Some(w) {
        return after_trial_window(engine, name, h, w).await;
    }
    if h.upgrade.contains(&w) {
        for u in &h.upgrade {
            if !window_done(engine, name, *u).await? {
                return Ok(Vec::new());
            }
        }
        h.upgrade.clear();
        h.horizon = 0;
        hold_everything(engine, name, h).await?;
    }
    Ok(Vec::new())
}

/// The end of one window of a trial's backfill: enough documents (or all
/// history read) sets the floor; otherwise the next, older window.
async fn after_trial_window(
    engine: &Engine,
    name: &str,
    mut h: History,
    w: Window,
) -> Result<Vec<Window>> {
    let conn = engine.connection(name).await?;
    h.horizon = w.from;
    if conn.plan == Plan::Paid {
        // Upgraded while the trial was still reading: the rest of history.
        h.probing = None;
        return plan_upgrade(engine, name, h).await;
    }
    let places = held_places(engine, name).await?;
    if places.len() < h.limit && w.from > 0 {
        let next = next_window(h.limit, places.len(), w.from, h.split, w.until - w.from);
        h.probing = Some(next);
        h.floor = Some(Place::start_of(next.from));
        save(engine, name, &h).await?;
        return Ok(vec![next]);
    }
    h.probing = None;
    cut(engine, name, h, places).await?;
    Ok(Vec::new())
}

/// Sets a trial's floor from the places of the documents held and removes
/// the documents below it. With fewer documents than the limit in all of
/// history, every one is held and history is complete.
async fn cut(engine: &Engine, name: &str, mut h: History, places: Vec<Place>) -> Result<()> {
    let floor = floor_of(places.clone(), h.limit);
    let Some(floor) = floor else {
        if h.horizon == 0 {
            return forget(engine, name).await;
        }
        h.floor = Some(Place::start_of(h.horizon));
        return save(engine, name, &h).await;
    };
    // The floor first: a crash before the deletions leaves documents that
    // the next cut (or the next render of their ticket) removes.
    h.floor = Some(floor);
    save(engine, name, &h).await?;
    let below: Vec<TicketWrite> = places
        .iter()
        .filter(|p| **p < floor)
        .map(|p| TicketWrite::DeleteDocument {
            ticket_id: p.ticket_id,
        })
        .collect();
    for chunk in below.chunks(BATCH) {
        engine
            .store
            .write_tickets(name, chunk)
            .await
            .context(|| "removing documents below the trial's floor".into())?;
    }
    tracing::info!(connection = name, removed = below.len(), floor = ?floor, "trial floor set");
    Ok(())
}

/// After a trial whose history was walked from the start in one go: the
/// floor from what that walk stored.
pub async fn after_live_walk(engine: &Engine, name: &str) -> Result<()> {
    let Some(h) = load(engine, name).await?.filter(|h| h.cut_after_walk) else {
        return Ok(());
    };
    let places = held_places(engine, name).await?;
    let h = History {
        cut_after_walk: false,
        horizon: 0,
        ..h
    };
    cut(engine, name, h, places).await
}

/// The creation places of the documents a connection holds.
async fn held_places(engine: &Engine, name: &str) -> Result<Vec<Place>> {
    #[derive(Deserialize)]
    struct Head {
        ticket_id: u64,
        created_at: Option<String>,
    }
    let mut out = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let rows = engine
            .store
            .list_documents(Some(name), after.map(|a| (name, a)), BATCH)
            .await
            .context(|| "listing documents".into())?;
        let Some(last) = rows.last() else { break };
        after = Some(last.ticket_id);
        for row in &rows {
            let head: Head = serde_json::from_str(&row.body)
                .map_err(|e| {
                    zdsync_store::StoreError::corrupt_json(format!("{name}#{}", row.ticket_id), &e)
                })
                .context(|| "reading a stored document".into())?;
            out.push(Place {
                created: epoch(head.created_at.as_deref()).unwrap_or(0),
                ticket_id: head.ticket_id,
            });
        }
        if rows.len() < BATCH {
            break;
        }
    }
    Ok(out)
}

/// Plans the windows of history below the horizon and records them; the
/// caller queues or walks them.
async fn plan_upgrade(engine: &Engine, name: &str, mut h: History) -> Result<Vec<Window>> {
    if h.horizon <= 0 {
        hold_everything(engine, name, h).await?;
        return Ok(Vec::new());
    }
    let windows = vec![Window {
        from: 0,
        until: h.horizon,
    }];
    h.upgrade = windows.clone();
    save(engine, name, &h).await?;
    Ok(windows)
}

/// What a change of plan did.
#[derive(Debug, Clone, Serialize)]
pub struct PlanChange {
    pub connection: String,
    pub plan: Plan,
    /// Windows of older history to read (an upgrade of a trial).
    pub windows: Vec<Window>,
}

/// Changes a connection's plan (the caller holds its lease). An upgrade of
/// a trial returns the windows of older history to read; a downgrade keeps
/// every stored document.
pub async fn set_plan(engine: &Engine, name: &str, plan: Plan) -> Result<PlanChange> {
    let mut conn = engine.connection(name).await?;
    if conn.plan != plan {
        conn.plan = plan;
        conn.updated_at = crate::now_rfc3339();
        engine
            .store
            .update_connection(&conn)
            .await
            .context(|| format!("saving the plan of {name:?}"))?;
    }
    let mut windows = Vec::new();
    if plan == Plan::Paid
        && let Some(h) = load(engine, name).await?
    {
        if !h.upgrade.is_empty() {
            windows = h.upgrade.clone(); // an upgrade already under way
        } else if h.probing.is_none() && !h.cut_after_walk && h.floor.is_some() {
            windows = plan_upgrade(engine, name, h).await?;
        }
    }
    Ok(PlanChange {
        connection: name.to_string(),
        plan,
        windows,
    })
}

/// A trial connection never synced: plans its backfill under the lease and
/// returns the first window to read (`None`: nothing to plan, or history
/// is walked by the live sync). A connection synced before it had a plan
/// record holds all of its history and is left so.
pub async fn plan_first_trial(
    engine: &Engine,
    name: &str,
    opts: &SyncOptions,
) -> Result<Option<Window>> {
    let conn = engine.connection(name).await?;
    if conn.plan != Plan::Trial
        || load(engine, name).await?.is_some()
        || !crate::sync::never_synced(engine, name).await?
    {
        return Ok(None);
    }
    let lease = Lease::for_run(engine, name, opts).await?;
    let result = start_trial(engine, &conn).await;
    lease.release().await;
    result
}

/// Changes a connection's plan under its lease ([`set_plan`]).
pub async fn change_plan(
    engine: &Engine,
    name: &str,
    plan: Plan,
    opts: &SyncOptions,
) -> Result<PlanChange> {
    let conn = engine.connection(name).await?;
    let lease = Lease::for_run(engine, &conn.name, opts).await?;
    let result = set_plan(engine, &conn.name, plan).await;
    lease.release().await;
    result
}

/// Walks windows in this process, each to its end, then the windows each
/// one leads to (a trial's next window); returns the runs' reports.
pub async fn walk_windows(
    engine: &Engine,
    name: &str,
    windows: Vec<Window>,
    opts: &SyncOptions,
) -> Result<Vec<SyncReport>> {
    let mut todo = std::collections::VecDeque::from(windows);
    let mut reports = Vec::new();
    while let Some(w) = todo.pop_front() {
        loop {
            let r = sync_window(engine, name, w, opts).await?;
            let done = r.complete;
            todo.extend(r.next_windows.iter().copied());
            reports.push(r);
            if done {
                break;
            }
        }
    }
    Ok(reports)
}

/// Drops the floor and renders the documents of the tickets it held back.
async fn hold_everything(engine: &Engine, name: &str, h: History) -> Result<()> {
    let Some(old_floor) = h.floor else {
        return forget(engine, name).await;
    };
    let conn = engine.connection(name).await?;
    let client = engine.client(&conn).await?;
    // The floor is still recorded: renders every ticket, held back or not.
    let mut renderer = Renderer::for_run(engine, &conn, &client).await?;
    renderer.floor = None;
    renderer
        .render_stored(engine, &client, |state| {
            state
                .ticket
                .as_ref()
                .is_some_and(|t| !History::holds(Some(old_floor), t))
        })
        .await?;
    forget(engine, name).await?;
    tracing::info!(
        connection = name,
        documents = renderer.counters.documents_written,
        "all history held"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: u64, created: &str) -> Ticket {
        Ticket {
            id,
            created_at: Some(created.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_floor_holds_tickets_at_or_above_it_by_time_then_id() {
        let at = epoch(Some("2024-01-01T00:00:00Z")).unwrap_or_default();
        let floor = Some(Place {
            created: at,
            ticket_id: 50,
        });
        assert!(History::holds(floor, &ticket(50, "2024-01-01T00:00:00Z")));
        assert!(History::holds(floor, &ticket(51, "2024-01-01T00:00:00Z")));
        assert!(!History::holds(floor, &ticket(49, "2024-01-01T00:00:00Z")));
        assert!(History::holds(floor, &ticket(1, "2024-01-01T00:00:01Z")));
        assert!(!History::holds(floor, &ticket(99, "2023-12-31T23:59:59Z")));
        assert!(History::holds(None, &ticket(1, "2000-01-01T00:00:00Z")));
        assert!(
            History::holds(floor, &Ticket::default()),
            "no creation time: held"
        );
    }

    #[test]
    fn the_floor_is_the_limits_most_recent_place() {
        let p = |created, ticket_id| Place { created, ticket_id };
        let places = vec![p(10, 1), p(30, 3), p(20, 2), p(20, 4), p(5, 9)];
        assert_eq!(floor_of(places.clone(), 3), Some(p(20, 2)));
        assert_eq!(floor_of(places.clone(), 1), Some(p(30, 3)));
        assert_eq!(floor_of(places.clone(), 5), Some(p(5, 9)));
        assert_eq!(floor_of(places.clone(), 6), None, "fewer than the limit");
        assert_eq!(floor_of(places, 0), None);
    }

    #[test]
    fn the_next_window_follows_the_density_seen() {
        // 1,000 documents in the last 30 days, 5,000 wanted: 4,000 more at
        // the same density take 120 days, 150 with the margin.
        let w = next_window(5_000, 1_000, 1_000 * DAY, 1_030 * DAY, 30 * DAY);
        assert_eq!(w.until, 1_000 * DAY);
        assert_eq!(w.from, 850 * DAY);
        // Nothing seen yet: eight times the last window.
        let w = next_window(5_000, 0, 1_000 * DAY, 1_030 * DAY, 30 * DAY);
        assert_eq!(w.from, 760 * DAY);
        // Almost there: never shorter than the last window.
        let w = next_window(5_000, 4_990, 1_000 * DAY, 1_030 * DAY, 30 * DAY);
        assert_eq!(w.from, 970 * DAY);
        // Never before the start of time.
        let w = next_window(5_000, 10, 100 * DAY, 130 * DAY, 30 * DAY);
        assert_eq!(w.from, 0);
    }
}
