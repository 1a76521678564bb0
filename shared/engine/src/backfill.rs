//! Planning a backfill as independent windows of history.
//!
//! A plan splits Zendesk time into windows `[from, until)`: the oldest one
//! starts at 0 and the newest ends an hour before Zendesk's clock (read from
//! its `Date` header). Each window is a work item; a worker walks the
//! window's part of both export streams with its own cursors (see
//! [`crate::sync::sync_window`]) and marks it finished there. The live
//! cursors are moved to the end of the newest window, so the hourly sync
//! keeps importing new tickets while history is still being read.
//!
//! Windows are queued newest first, so recent feedback arrives first; they
//! may run in any order and any number of times: comments merge by id, a
//! ticket keeps its latest snapshot, and a ticket whose earlier comments
//! belong to a window not yet read gets them fetched (a gap). All windows
//! of a connection share its lease, because the account's export budget is
//! the bottleneck (ARCHITECTURE.md §6): windows buy resumability, order and
//! isolation (a failing window does not hold up the others), not speed.
//!
//! When Zendesk's clock cannot be learnt, or refuses a start in the split
//! hour (`StartTimeTooRecent`), or history is shorter than a day, the plan
//! falls back to one sequential walk from the start (the live cursors are
//! reset), which is always correct.

use serde::Serialize;
use zdsync_store::{Connection, CursorKind, Window, WorkItem, WorkKind, WorkQueue};

use crate::Engine;
use crate::error::{Context, EngineError, Result};
use crate::lease::Lease;
use crate::sync::{SyncOptions, TicketsCursor, epoch, reset_cursors};

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;
/// Default window length when the plan chooses the number of windows.
const DEFAULT_WINDOW: i64 = 60 * DAY;
/// At most this many windows in one plan.
pub const MAX_WINDOWS: usize = 64;

/// What a plan decided.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillPlan {
    pub connection: String,
    /// The windows queued, newest first (empty for a sequential backfill).
    pub windows: Vec<Window>,
    /// Where the live cursors now start (Zendesk epoch seconds).
    pub live_from: i64,
    /// True when history is read by one sequential walk of the live cursors.
    pub sequential: bool,
    /// Why the plan is sequential, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The stored record of a plan (`CURSOR#backfill-plan`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlanRecord {
    pub windows: Vec<Window>,
    pub live_from: i64,
    pub planned_at: String,
}

/// How far the last planned backfill of a connection has come.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillProgress {
    pub planned_at: String,
    pub windows: usize,
    /// Windows whose both streams are read to their end.
    pub windows_done: usize,
    /// Windows still to read (or being read), newest first.
    pub pending: Vec<Window>,
}

/// Progress of the connection's last backfill plan (`None`: never planned).
pub async fn progress(engine: &Engine, name: &str) -> Result<Option<BackfillProgress>> {
    let Some(raw) = engine
        .store
        .get_cursor(name, CursorKind::BackfillPlan)
        .await
        .context(|| "reading the backfill plan".into())?
    else {
        return Ok(None);
    };
    let record: PlanRecord = serde_json::from_str(&raw).map_err(|e| {
        EngineError::Corrupt(format!(
            "the backfill plan of {name:?} cannot be read ({})",
            zdsync_zendesk::redact::json_error(&e)
        ))
    })?;
    let mut pending = Vec::new();
    for w in &record.windows {
        if !window_done(engine, name, *w).await? {
            pending.push(*w);
        }
    }
    Ok(Some(BackfillProgress {
        planned_at: record.planned_at,
        windows: record.windows.len(),
        windows_done: record.windows.len() - pending.len(),
        pending,
    }))
}

/// Queues windows of a connection's history as backfill work items (none:
/// nothing sent).
pub async fn enqueue_windows(queue: &dyn WorkQueue, name: &str, windows: &[Window]) -> Result<()> {
    if windows.is_empty() {
        return Ok(());
    }
    let items: Vec<WorkItem> = windows
        .iter()
        .map(|w| WorkItem {
            connection: name.to_string(),
            kind: WorkKind::Backfill,
            hop: 0,
            window: Some(*w),
        })
        .collect();
    queue.enqueue(&items).await.map_err(|e| EngineError::Store {
        context: format!("queueing {} backfill windows of {name:?}", items.len()),
        source: e,
    })
}

/// Whether both streams of a window are read to its end (its tickets
/// cursor, written last, has reached the window's end).
pub(crate) async fn window_done(engine: &Engine, name: &str, w: Window) -> Result<bool> {
    let kind = CursorKind::WindowTickets {
        from: w.from,
        until: w.until,
    };
    Ok(engine
        .store
        .get_cursor(name, kind)
        .await
        .context(|| format!("reading the {} cursor", kind.as_str()))?
        .and_then(|c| TicketsCursor::decode(&c).ok())
        .is_some_and(|c| c.ts >= w.until))
}

/// Where history can be split from the live sync.
pub(crate) struct Split {
    /// The time of the oldest ticket event.
    pub oldest: i64,
    /// An hour before Zendesk's clock: the live cursors start here.
    pub live_from: i64,
    /// Where the first page of events ended (`None`: all in one page).
    pub first_page_end: Option<i64>,
}

/// Finds where history can be split into windows, or why it cannot (no
/// events yet, Zendesk's clock unknown, less than a day of history, or a
/// start an hour ago refused): then history is read by one walk.
pub(crate) async fn split_point(
    client: &zdsync_zendesk::Client,
) -> Result<std::result::Result<Split, String>> {
    // The oldest event tells where history starts. Both pages read here
    // are kept for the runs that read them next (the history walk's first
    // page, the first sync's).
    let first = client
        .ticket_events_page_kept(0)
        .await
        .context(|| "reading the first page of ticket events".into())?;
    let oldest = first
        .events
        .iter()
        .filter_map(|e| e.timestamp.or_else(|| epoch(e.created_at.as_deref())))
        .min();
    let Some(oldest) = oldest else {
        return Ok(Err("the account has no ticket events yet".into()));
    };
    let Some(server_now) = client.server_time() else {
        return Ok(Err("Zendesk's clock is unknown (no Date header)".into()));
    };
    let local_now = jiff::Timestamp::now().as_second();
    let live_from = server_now.min(local_now) - HOUR;
    if live_from - oldest < DAY {
        return Ok(Err("less than a day of history".into()));
    }
    // Zendesk refuses a start in its last minute: a refusal here means the
    // clocks disagree, and windows would leave a hole.
    if let Err(e) = client.ticket_events_page_kept(live_from).await {
        return match e {
            zdsync_zendesk::Error::Rejected { code, message, .. } => Ok(Err(format!(
                "Zendesk refused a start an hour ago ({}: {message})",
                code.unwrap_or_default()
            ))),
            other => Err(EngineError::Zendesk {
                context: "checking the split time of the backfill".into(),
                source: other,
            }),
        };
    }
    Ok(Ok(Split {
        oldest,
        live_from,
        first_page_end: (!first.end_of_stream).then_some(first.next_start_time),
    }))
}

/// The number of windows when the operator does not choose: about one per
/// 60 days of history, but no more than one per ~25 pages of events, as
/// estimated from how much time the first page of events covered (a window
/// costs a partial page at each end and gap fetches for the tickets that
/// cross its start, so small accounts get few windows). `first_page_end` is
/// `None` when all events fit in one page.
pub fn default_windows(oldest: i64, live_from: i64, first_page_end: Option<i64>) -> usize {
    let span = (live_from - oldest).max(1);
    let by_time = span / DEFAULT_WINDOW + 1;
    let by_size = match first_page_end {
        None => 1,
        Some(end) => {
            let per_page = (end - oldest).max(1);
            let pages = span / per_page + 1;
            (pages / PAGES_PER_WINDOW).max(1)
        }
    };
    usize::try_from(by_time.min(by_size).clamp(1, MAX_WINDOWS as i64)).unwrap_or(1)
}

/// Event pages a default window should hold, roughly.
const PAGES_PER_WINDOW: i64 = 25;

/// Splits `[oldest, split)` into `n` windows, the first from 0 (so nothing
/// older is missed), returned newest first.
pub fn split(oldest: i64, split: i64, n: usize) -> Vec<Window> {
    let n = n.clamp(1, MAX_WINDOWS) as i64;
    let oldest = oldest.clamp(0, split);
    let width = ((split - oldest) / n).max(1);
    let mut bounds: Vec<i64> = (1..n).map(|i| oldest + i * width).collect();
    bounds.retain(|b| *b > 0 && *b < split);
    bounds.dedup();
    let mut windows = Vec::with_capacity(bounds.len() + 1);
    let mut from = 0;
    for b in bounds.into_iter().chain(std::iter::once(split)) {
        if b > from {
            windows.push(Window { from, until: b });
            from = b;
        }
    }
    windows.reverse();
    windows
}

/// Plans a backfill of a connection: queues its windows and moves the live
/// cursors to the end of the newest one. `windows = None` lets
/// [`default_windows`] choose.
pub async fn plan_backfill(
    engine: &Engine,
    name: &str,
    queue: &dyn WorkQueue,
    windows: Option<usize>,
    opts: &SyncOptions,
) -> Result<BackfillPlan> {
    let conn = engine.connection(name).await?;
    let lease = Lease::for_run(engine, &conn.name, opts).await?;
    let result = plan_locked(engine, &conn, queue, windows).await;
    lease.release().await;
    result
}

/// Moves both live cursors (events, tickets) to start at `ts`, Zendesk
/// epoch seconds: the end of a backfill plan, a trial's split, or where an
/// agent's search walk had reached.
pub(crate) async fn start_live_at(engine: &Engine, name: &str, ts: i64) -> Result<()> {
    let tickets = TicketsCursor {
        after: String::new(),
        ts,
    }
    .encode();
    replace_cursor(engine, name, CursorKind::Events, &ts.to_string()).await?;
    replace_cursor(engine, name, CursorKind::Tickets, &tickets).await
}

/// Sets a cursor to `value` whatever it holds now (conditional on what was
/// just read, so a concurrent writer makes this fail rather than be lost).
pub(crate) async fn replace_cursor(
    engine: &Engine,
    name: &str,
    kind: CursorKind,
    value: &str,
) -> Result<()> {
    let current = engine
        .store
        .get_cursor(name, kind)
        .await
        .context(|| format!("reading the {} cursor", kind.as_str()))?;
    if current.as_deref() == Some(value) {
        return Ok(());
    }
    engine
        .store
        .put_cursor(name, kind, value, current.as_deref())
        .await
        .context(|| format!("setting the {} cursor for the backfill plan", kind.as_str()))
}

async fn plan_locked(
    engine: &Engine,
    conn: &Connection,
    queue: &dyn WorkQueue,
    windows: Option<usize>,
) -> Result<BackfillPlan> {
    let name = conn.name.as_str();
    let client = engine.client(conn).await?;
    let sequential = |reason: String| async move {
        reset_cursors(engine, name).await?;
        // An earlier plan's progress no longer describes this backfill.
        engine
            .store
            .delete_cursor(name, CursorKind::BackfillPlan)
            .await
            .context(|| "forgetting the last backfill plan".into())?;
        tracing::info!(connection = name, %reason, "backfill planned as one sequential walk");
        Ok::<_, EngineError>(BackfillPlan {
            connection: name.to_string(),
            windows: Vec::new(),
            live_from: 0,
            sequential: true,
            reason: Some(reason),
        })
    };

    if crate::access::Path::of(conn) == crate::access::Path::Search {
        return sequential(
            "an agent connection reads history through the search export, in one walk that resumes where it stopped".into(),
        )
        .await;
    }
    let split_at = match split_point(&client).await? {
        Ok(s) => s,
        Err(reason) => return sequential(reason).await,
    };
    let live_from = split_at.live_from;
    let n = windows
        .unwrap_or_else(|| default_windows(split_at.oldest, live_from, split_at.first_page_end));
    let oldest = split_at.oldest;
    let plan = split(oldest, live_from, n);

    // Queue first: a crash before the cursors move leaves the live sync
    // where it was (it re-reads, never skips).
    enqueue_windows(queue, name, &plan).await?;
    // The plan itself, for `status` (progress of the windows).
    let record = serde_json::to_string(&PlanRecord {
        windows: plan.clone(),
        live_from,
        planned_at: crate::now_rfc3339(),
    })
    .map_err(|e| EngineError::Corrupt(format!("cannot encode the backfill plan: {e}")))?;
    replace_cursor(engine, name, CursorKind::BackfillPlan, &record).await?;
    start_live_at(engine, name, live_from).await?;
    tracing::info!(
        connection = name,
        windows = plan.len(),
        oldest,
        live_from,
        "backfill planned"
    );
    Ok(BackfillPlan {
        connection: name.to_string(),
        windows: plan,
        live_from,
        sequential: false,
        reason: None,
    })
}

/// Plans a connection's first sync: the one rule for the command and the
/// Lambdas, so recent feedback comes first everywhere. A trial reads its
/// first window of recent history ([`crate::history`]); a paid connection
/// its history as windows, newest first ([`plan_backfill`]); both queued on
/// `queue` and returned, while the live sync starts an hour ago. Nothing
/// is planned when the connection was synced before, or when it reads its
/// history in its live walk (an agent connection, a trial whose Zendesk
/// clock is unknown, a plan that fell back to one sequential walk).
pub async fn plan_first_sync(
    engine: &Engine,
    name: &str,
    queue: &dyn WorkQueue,
    opts: &SyncOptions,
) -> Result<Vec<Window>> {
    if !crate::sync::never_synced(engine, name).await? {
        return Ok(Vec::new());
    }
    if let Some(first) = crate::history::plan_first_trial(engine, name, opts).await? {
        tracing::info!(
            connection = name,
            from = first.from,
            "first sync: trial backfill planned"
        );
        enqueue_windows(queue, name, &[first]).await?;
        return Ok(vec![first]);
    }
    if crate::history::load(engine, name).await?.is_some() {
        return Ok(Vec::new()); // a trial walking all history in the live sync
    }
    let plan = plan_backfill(engine, name, queue, None, opts).await?;
    tracing::info!(
        connection = name,
        windows = plan.windows.len(),
        sequential = plan.sequential,
        "first sync: backfill planned"
    );
    Ok(plan.windows)
}

/// The windows of history planned and not yet read whole, newest first:
/// the last backfill plan's, a trial's current window, an upgrade's. A
/// process that walks windows itself (the command on the embedded store)
/// takes them up after a crash; on AWS the queue holds them.
pub async fn unfinished(engine: &Engine, name: &str) -> Result<Vec<Window>> {
    let mut windows: Vec<Window> = progress(engine, name)
        .await?
        .map(|p| p.pending)
        .unwrap_or_default();
    if let Some(h) = crate::history::load(engine, name).await? {
        windows.extend(h.probing);
        windows.extend(h.upgrade);
    }
    let mut out = Vec::new();
    for w in windows {
        if !out.contains(&w) && !window_done(engine, name, w).await? {
            out.push(w);
        }
    }
    out.sort_by_key(|w| std::cmp::Reverse(w.until));
    Ok(out)
}

/// A queue that keeps nothing: for a caller that walks the planned windows
/// itself (they are recorded in the store by the plan).
pub struct InProcess;

#[async_trait::async_trait]
impl WorkQueue for InProcess {
    async fn enqueue(&self, _items: &[WorkItem]) -> zdsync_store::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(ws: &[Window]) -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = ws.iter().map(|w| (w.from, w.until)).collect();
        v.sort();
        v
    }

    #[test]
    fn windows_tile_history_from_zero_newest_first() {
        let ws = split(1_000_000, 2_000_000, 4);
        assert_eq!(ws.len(), 4);
        assert_eq!(ws[0].until, 2_000_000, "newest first");
        let c = covered(&ws);
        assert_eq!(c[0].0, 0, "the oldest window starts at 0");
        for pair in c.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "no gap, no overlap");
        }
        assert_eq!(c[1].0, 1_250_000);
    }

    #[test]
    fn default_window_count_follows_history_length_and_size() {
        let year = 365 * DAY;
        // Four years whose first page of events covered a day: ~1,460 pages.
        assert_eq!(
            default_windows(0, 4 * year, Some(DAY)),
            25,
            "one per 60 days"
        );
        // The same span, sparse (a page covered 100 days): ~15 pages.
        assert_eq!(default_windows(0, 4 * year, Some(100 * DAY)), 1);
        // Everything in one page.
        assert_eq!(default_windows(0, 4 * year, None), 1);
        // Twenty busy years: capped.
        assert_eq!(default_windows(0, 20 * year, Some(3_600)), MAX_WINDOWS);
    }

    #[test]
    fn degenerate_spans_still_cover_everything() {
        assert_eq!(
            covered(&split(10, 12, 64)),
            vec![(0, 11), (11, 12)],
            "more windows than seconds"
        );
        assert_eq!(
            covered(&split(50, 40, 3)),
            vec![(0, 40)],
            "oldest after split"
        );
        assert_eq!(covered(&split(0, 100, 0)), vec![(0, 100)], "zero means one");
        assert_eq!(split(0, 1_000, 1000).len(), MAX_WINDOWS);
    }
}
