//! Reading history from both ends at once: a backfill past the export
//! budget's bound.
//!
//! Off unless `ZDSYNC_BOTH_ENDS=auto` ([`enabled_from_env`]): measured on
//! the simulator it finishes in about 0.8 × the exports' time on an
//! Enterprise account's budgets (README, Figures), but it spends nearly all
//! of the account's rate budget, which the account's other integrations
//! share, so it is asked for rather than assumed.
//!
//! A backfill on the exports' path is bounded by the export budget (10
//! pages a minute; the events stream holds most of them) while the account
//! budget (hundreds a minute) mostly idles. When the account budget is
//! large enough ([`pays`]), the `zdsync` command's backfill walks history
//! from both ends at the same time, on one client (one limiter for both
//! budgets) and under one lease:
//!
//! - the **exports walk** reads the planned windows oldest first, as any
//!   window is read ([`crate::exports`]), but stops at a *cap*;
//! - the **per-ticket walk** claims ranges of history from the newest down,
//!   each below the last: it reads the range's tickets from the tickets
//!   export, then every ticket's comments per ticket (account budget), the
//!   newest first, a few dozen at a time ([`take_from_the_top`]),
//!   lowering the cap to each part's lowest ticket before it reads the
//!   part.
//!
//! A range reaches no lower than where the exports walk would arrive just
//! as the per-ticket walk is done with it ([`next_claim`], from the speeds
//! both walks show); where the estimate is wrong, the exports walk arrives
//! at the cap first and the per-ticket walk stops after the part it holds
//! (the rest of its range is the exports walk's, which reads it faster). A ticket belongs to the walk whose range holds its last change:
//! its comments are all older than that, so the exports walk has every
//! comment of the tickets below the cap, and the per-ticket walk reads all
//! comments of those above it. The per-ticket walk never claims below the
//! furthest position the exports walk has reached or holds, so a tickets
//! page the exports walk holds is never read by both. Comments of a ticket
//! above the cap that the events stream shows below it are merged by the
//! exports walk too: loading and writing such a ticket's state is locked
//! against the other walk ([`TicketLocks`]).
//!
//! The exports walk saves a window it stopped in at the cap (its cursors
//! read "to the cap"); once both walks are done, the windows above are
//! marked read. A run cut off before then leaves those windows unfinished:
//! the next run reads them again (states merge; only documents that differ
//! are rewritten), reading the part above the exports walk per ticket
//! again.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zdsync_store::{Connection, CursorKind, Window};
use zdsync_zendesk::types::{Ticket, TicketStatus};
use zdsync_zendesk::{Bucket, Client, Limits, Reserve, Sent, TicketCursor, TicketPage};

use crate::Engine;
use crate::access::Path;
use crate::backfill::{replace_cursor, window_done};
use crate::error::{EngineError, Result};
use crate::lease::Lease;
use crate::render::Renderer;
use crate::sync::{
    RequestStatsOut, Span, SyncOptions, SyncReport, TicketsCursor, Walk, finish_report,
    run_recorded, stats_since, ticket_position,
};

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;
/// The first range the per-ticket walk claims, in Zendesk seconds.
const FIRST_CLAIM: i64 = DAY;
/// Tickets a claimed range should hold: one page of the tickets export.
const TICKETS_PER_CLAIM: u64 = 1_000;
/// Tickets the per-ticket walk reads between two moves of the cap: the
/// most it can read that the exports walk, arriving meanwhile, had read
/// sooner.
const TICKETS_PER_PART: usize = 48;
/// The fewest tickets a part holds: with less room than that in the rate
/// window, the per-ticket walk waits for the next window before it takes
/// on more tickets (a part it cannot read now would hold the exports walk
/// at the cap).
const MIN_PART: usize = 8;
/// Account requests a ticket is assumed to cost the per-ticket walk (its
/// comments, and some chat histories) until it has read a few.
const FIRST_TICKET_COST: f64 = 1.25;
/// The longest the per-ticket walk waits for room before a part: longer
/// than a rate window.
const ROOM_WAIT: Duration = Duration::from_secs(70);
/// A range is worth claiming only when the exports walk would need at
/// least this long to read it (each claim costs a page of the tickets
/// export, on the exports walk's budget).
const MIN_CLAIM_SECS: f64 = 15.0;
/// The exports walk's speed is measured over this long (the last of it),
/// and trusted once measured over a fifth of it.
const MEASURE: Duration = Duration::from_secs(90);
/// The share of the account's and the logs' budgets the per-ticket walk
/// leaves in every window to the exports walk (its export requests, chats
/// and logs) until it has measured what the exports walk spends: one part
/// in this many.
const YIELD_SHARE: u32 = 3;
/// The export requests of the exports walk after which what it spends per
/// export request is trusted.
const OTHERS_MEASURED: u64 = 4;
/// What the exports walk is left of a window above what it was measured
/// to spend for the export requests it may still send in it, as a factor.
const OTHERS_MARGIN: f64 = 1.25;
/// Account requests left to the exports walk besides its share; also what
/// the per-ticket walk leaves of the window once it is stopped, for the
/// run that follows.
const OTHERS_SLACK: u32 = 12;
/// Account requests a minute per export request a minute from which
/// reading per ticket beside the exports pays ([`pays`]): 700 against 10
/// (Enterprise) was measured to pay, 400 against 10 not.
const PAYING_RATIO: u64 = 70;
/// How long the per-ticket walk waits for the exports walk's first
/// tickets page to size its first range.
const DENSITY_WAIT: Duration = Duration::from_secs(15);
/// How long the per-ticket walk waits for the budgets' sizes to be known.
const LIMITS_WAIT: Duration = Duration::from_secs(60);

/// `ZDSYNC_BOTH_ENDS`: `off` (the default) reads the windows one after the
/// other; `auto` reads history from both ends where that pays ([`pays`]).
/// Off by default: it spends nearly all of the account's rate budget while
/// it runs (see the README).
pub fn enabled_from_env(var: impl Fn(&str) -> Option<String>) -> Result<bool> {
    match var("ZDSYNC_BOTH_ENDS").as_deref().map(str::trim) {
        Some("auto") => Ok(true),
        None | Some("" | "off") => Ok(false),
        Some(other) => Err(EngineError::Usage(format!(
            "ZDSYNC_BOTH_ENDS is {other:?}: set it to `auto` (read history from both ends where the budgets make that pay) or `off`"
        ))),
    }
}

/// Whether reading per ticket beside the exports pays, from the budgets'
/// sizes a minute. A ticket costs the per-ticket walk one account request;
/// the exports walk reads about 250 tickets per export request and spends
/// about 250 account requests a minute itself (chats, logs, gaps) where a
/// tenth of the tickets are chats. At 10 export requests a minute, an
/// account budget of 700 (Enterprise) leaves the per-ticket walk about 450
/// a minute: measured, the backfill took 0.78 × the exports' time. 400
/// (Professional, Growth) leaves about 150, less than its ranges' tickets
/// pages and waits cost: measured, 1.18 × (README, Figures). Unknown sizes
/// (or an account without limits) do not pay.
pub fn pays(limits: Limits) -> bool {
    match (limits.account, limits.export) {
        (Some(a), Some(e)) if e > 0 => u64::from(a) >= PAYING_RATIO * u64::from(e),
        _ => false,
    }
}

/// The next range the per-ticket walk claims below `cap`, or `None` when
/// the walks have met. `front`: the furthest position the exports walk has
/// reached or holds (never claimed). `step`: the range's length aimed at.
/// With both speeds known (`exports_speed`: Zendesk seconds the exports
/// walk reads a wall second; `per_ticket_cost`: wall seconds the per-ticket
/// walk spends on a Zendesk second), the range starts no lower than where
/// the exports walk would arrive just as the per-ticket walk is done.
pub fn next_claim(
    cap: i64,
    front: i64,
    step: i64,
    exports_speed: Option<f64>,
    per_ticket_cost: Option<f64>,
) -> Option<Window> {
    let lowest = front.saturating_add(1);
    let mut from = cap.saturating_sub(step.max(1)).max(lowest);
    if let (Some(v), Some(k)) = (exports_speed, per_ticket_cost)
        && v > 0.0
        && k > 0.0
    {
        // The exports walk reaches m after (m - front) / v seconds; the
        // per-ticket walk reads [m, cap) in (cap - m) * k seconds.
        let meet = (front as f64 + v * k * cap as f64) / (1.0 + v * k);
        from = from.max(meet.ceil() as i64);
    }
    let min_len = exports_speed.map_or(HOUR, |v| ((v * MIN_CLAIM_SECS) as i64).max(HOUR));
    (cap - from >= min_len).then_some(Window { from, until: cap })
}

/// The length of the next claim: aimed at [`TICKETS_PER_CLAIM`] tickets at
/// the density the last range showed (`tickets` over `len` seconds),
/// between a quarter and eight times the last length.
pub fn next_claim_len(last_len: i64, tickets: u64, len: i64) -> i64 {
    let last_len = last_len.max(1);
    if tickets == 0 {
        return last_len.saturating_mul(8);
    }
    let wanted = TICKETS_PER_CLAIM as f64 * len.max(1) as f64 / tickets as f64;
    (wanted as i64).clamp((last_len / 4).max(1), last_len.saturating_mul(8))
}

/// The next part of a claimed range's tickets (position, id; `left` in
/// ascending order): about `size` of the newest, taken off `left`, with
/// the lowest position it holds. The tickets of one position are never
/// split (the cap moves between positions).
pub fn take_from_the_top(left: &mut Vec<(i64, u64)>, size: usize) -> Option<(i64, Vec<u64>)> {
    let mut part = Vec::new();
    let mut low = i64::MAX;
    while let Some(&(position, id)) = left.last() {
        if part.len() >= size.max(1) && position < low {
            break;
        }
        left.pop();
        low = position;
        part.push(id);
    }
    (!part.is_empty()).then_some((low, part))
}

/// What the per-ticket walk leaves of the rate windows as they stand to
/// the exports walk, of the account's budget and of the conversation
/// logs': a share of each window (none of a budget whose size no answer
/// told yet) until the exports walk has sent [`OTHERS_MEASURED`] export
/// requests; then what it will still spend of them, and a quarter more.
/// `others`: what the exports walk sent so far; what it spends per export
/// request (its chats, logs and the export request itself) is measured
/// over all it sent (both walks spend each fixed window in a burst; a
/// sliding minute that spans two bursts measures twice the truth), and it
/// will still spend that for each export request it may send before the
/// account's window turns (`to_come`: [`exports_to_come`]) and for the
/// last one, whose follow-ups may not be sent yet (so the measure counts
/// one export request less). While its export budget is spent, the
/// exports walk waits for the next export window and the per-ticket walk
/// may spend the rest of the account's window.
pub fn shares_for(others: Sent, limits: Limits, to_come: Option<u32>) -> Shares {
    let (account, logs) = (limits.account.unwrap_or(0), limits.logs);
    let fallback = Shares {
        account: Reserve {
            requests: OTHERS_SLACK,
            share: account / YIELD_SHARE,
        },
        logs: Reserve {
            requests: 0,
            share: logs.unwrap_or(0) / YIELD_SHARE,
        },
    };
    let Some(export) = limits.export.filter(|_| others.export >= OTHERS_MEASURED) else {
        return fallback;
    };
    let to_come = to_come.map_or(export, |n| n.min(2 * export)) + 1;
    let pages = (others.export - 1) as f64;
    let need = |sent: u64| {
        let v = (sent as f64 / pages * f64::from(to_come) * OTHERS_MARGIN).ceil();
        v.min(f64::from(u32::MAX)) as u32
    };
    Shares {
        account: Reserve::from(OTHERS_SLACK.saturating_add(need(others.requests).min(account))),
        logs: Reserve::from(logs.map_or(need(others.logs), |l| need(others.logs).min(l))),
    }
}

/// The export requests the exports walk may send before the account's
/// rate window turns: what is left of the export window (`export_left`),
/// and a whole one more when that turns first (`export_turns`,
/// `account_turns`: how long until each window turns). `None`: not known
/// (a window just turned and no answer told of the new one yet).
pub fn exports_to_come(
    export_left: Option<u32>,
    export_turns: Option<Duration>,
    account_turns: Option<Duration>,
    export: u32,
) -> Option<u32> {
    let left = export_left?;
    match (export_turns, account_turns) {
        (Some(e), Some(a)) if e < a => Some(left.saturating_add(export)),
        (Some(_), Some(_)) => Some(left),
        _ => None,
    }
}

/// What a yielding handle leaves the others of the account's and the
/// conversation logs' windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shares {
    pub account: Reserve,
    pub logs: Reserve,
}

/// How many tickets the per-ticket walk takes on next, with `room` account
/// requests left to it in the rate window (`None`: not known, a window just
/// begun) at `cost` requests a ticket; `None` when that is fewer than
/// [`MIN_PART`] (it waits for the next window).
pub fn part_size(room: Option<u32>, cost: f64) -> Option<usize> {
    let Some(room) = room else {
        return Some(TICKETS_PER_PART);
    };
    let fits = (f64::from(room) / cost.max(1.0)).floor() as usize;
    (fits >= MIN_PART).then_some(fits.min(TICKETS_PER_PART))
}

/// Values seen over time (a position, a count), and how fast they moved
/// over the last `window`.
#[derive(Debug)]
struct Sliding {
    seen: VecDeque<(Instant, i64)>,
    window: Duration,
}

impl Sliding {
    fn new(window: Duration) -> Sliding {
        Sliding {
            seen: VecDeque::new(),
            window,
        }
    }

    fn last(&self) -> Option<i64> {
        self.seen.back().map(|&(_, v)| v)
    }

    /// Keeps `value` seen `now`, and forgets what is older than the window
    /// (the first two values are kept whatever their age).
    fn push(&mut self, now: Instant, value: i64) {
        self.seen.push_back((now, value));
        while self.seen.len() > 2
            && self
                .seen
                .front()
                .is_some_and(|&(t, _)| now.duration_since(t) > self.window)
        {
            self.seen.pop_front();
        }
    }

    /// How much the value moved a wall second, once measured over `min`.
    fn per_sec(&self, min: Duration) -> Option<f64> {
        let (&(t0, v0), &(t1, v1)) = (self.seen.front()?, self.seen.back()?);
        let secs = t1.duration_since(t0).as_secs_f64();
        (secs >= min.as_secs_f64()).then(|| (v1 - v0) as f64 / secs)
    }
}

/// The per-ticket walk's own counts: what it read and sent.
struct PerTicket {
    /// Tickets whose comments it read.
    tickets: u64,
}

impl PerTicket {
    /// Account requests a ticket cost it so far (its tickets pages left
    /// out), or [`FIRST_TICKET_COST`] before a few dozen.
    fn cost(&self, client: &Client) -> f64 {
        let own = client.sent_here().unwrap_or_default();
        if self.tickets < TICKETS_PER_PART as u64 {
            return FIRST_TICKET_COST;
        }
        own.requests.saturating_sub(own.export) as f64 / self.tickets as f64
    }
}

/// Where the two walks stand.
#[derive(Debug)]
struct Meet {
    /// The lowest position the per-ticket walk has taken on: the exports
    /// walk stops here.
    cap: i64,
    /// The furthest position the exports walk has reached or holds.
    front: i64,
    /// The exports walk's events positions of the last [`MEASURE`].
    events: Sliding,
    /// The wall seconds of the per-ticket walk's last range a Zendesk
    /// second of it.
    per_ticket_cost: Option<f64>,
    /// Tickets a Zendesk second, from the exports walk's first full
    /// tickets page.
    density: Option<f64>,
}

impl Meet {
    /// Zendesk seconds the exports walk read a wall second, lately.
    fn exports_speed(&self) -> Option<f64> {
        self.events.per_sec(MEASURE / 5).filter(|v| *v > 0.0)
    }

    fn saw_events_at(&mut self, position: i64) {
        if self.events.last() != Some(position) {
            self.events.push(Instant::now(), position);
        }
    }
}

/// What the two walks share: the client, where they stand, ticket locks.
pub(crate) struct Pincer {
    pub(crate) client: Client,
    /// The per-ticket walk's handle on the client: it leaves the exports
    /// walk what that one needs ([`shares_for`]), and only a few requests
    /// once it is done.
    yielding: Client,
    meet: Mutex<Meet>,
    locks: TicketLocks,
    stopped: AtomicBool,
    /// What the client had sent when the walks began.
    start: Sent,
}

impl Pincer {
    fn new(client: Client, top: i64) -> Pincer {
        Pincer {
            yielding: client.yielding(),
            start: client.sent(),
            client,
            meet: Mutex::new(Meet {
                cap: top,
                front: i64::MIN,
                events: Sliding::new(MEASURE),
                per_ticket_cost: None,
                density: None,
            }),
            locks: TicketLocks::default(),
            stopped: AtomicBool::new(false),
        }
    }

    fn cap(&self) -> i64 {
        self.meet.lock().map_or(i64::MIN, |m| m.cap)
    }

    /// Runs `f` with the cap as it stands, atomically with the claims:
    /// `f` returns what it returns, the exports walk's front and its events
    /// position.
    pub(crate) fn advance<R>(&self, f: impl FnOnce(i64) -> (R, i64, i64)) -> R {
        let Ok(mut m) = self.meet.lock() else {
            return f(i64::MIN).0;
        };
        let (r, front, events_at) = f(m.cap);
        tracing::debug!(cap = m.cap, front, events_at, "exports walk: advanced");
        m.front = m.front.max(front);
        if events_at > 0 {
            m.saw_events_at(events_at);
        }
        r
    }

    /// The next range for the per-ticket walk to read below `cap` ([`next_claim`]):
    /// the cap as it stands, or where it will stand once the range being
    /// read is read. The cap does not move: the per-ticket walk moves it
    /// down ticket by ticket as it reads the range ([`Pincer::commit`]),
    /// so that where the exports walk arrives first, it reads the rest.
    fn claim(&self, cap: i64, step: i64) -> Option<Window> {
        if self.is_stopped() {
            return None;
        }
        let m = self.meet.lock().ok()?;
        next_claim(cap, m.front, step, m.exports_speed(), m.per_ticket_cost)
    }

    /// The tickets a Zendesk second of history holds, as the exports walk's
    /// first full tickets page showed.
    fn density(&self) -> Option<f64> {
        self.meet.lock().ok()?.density
    }

    /// The exports walk read a full page of `tickets` over `len` seconds.
    pub(crate) fn saw_tickets_page(&self, tickets: usize, len: i64) {
        if let Ok(mut m) = self.meet.lock()
            && m.density.is_none()
            && len > 0
            && tickets > 0
        {
            m.density = Some(tickets as f64 / len as f64);
        }
    }

    /// Lowers the cap to `position` for the per-ticket walk to read the
    /// tickets from there up, unless the exports walk is there already
    /// (the walks have met: false).
    fn commit(&self, position: i64) -> bool {
        if self.is_stopped() {
            return false;
        }
        let Ok(mut m) = self.meet.lock() else {
            return false;
        };
        if m.front >= position {
            return false;
        }
        m.cap = m.cap.min(position);
        true
    }

    fn claim_read(&self, w: Window, took: Duration) {
        if let Ok(mut m) = self.meet.lock() {
            m.per_ticket_cost = Some(took.as_secs_f64() / (w.until - w.from).max(1) as f64);
        }
    }

    /// Stops the per-ticket walk taking new work (the exports walk is done
    /// or failed) and both walks' next runs (the per-ticket walk failed).
    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        // What it still sends goes now, short of a few requests for the
        // run that follows (the live streams' sync).
        self.yielding
            .yield_to_others(Reserve::from(OTHERS_SLACK), Reserve::default());
    }

    /// Sets what the per-ticket walk leaves the exports walk from what
    /// that one sent so far ([`shares_for`]).
    fn give_way(&self) {
        let own = self.yielding.sent_here().unwrap_or_default();
        let others = self.client.sent().less(self.start).less(own);
        let limits = self.client.limits();
        let to_come = exports_to_come(
            self.client.left(Bucket::Export),
            self.client.turns_in(Bucket::Export),
            self.client.turns_in(Bucket::Account),
            limits.export.unwrap_or(0),
        );
        let shares = shares_for(others, limits, to_come);
        self.yielding.yield_to_others(shares.account, shares.logs);
    }

    /// How many tickets the per-ticket walk takes on next ([`part_size`]),
    /// once the rate window has room for a part; `None` when the walk was
    /// stopped meanwhile.
    async fn next_part_size(&self, cost: f64) -> Option<usize> {
        let room = || {
            self.give_way();
            part_size(self.yielding.room(), cost)
        };
        match poll(self, ROOM_WAIT, room).await {
            Some(size) => Some(size),
            None if self.is_stopped() => None,
            None => Some(MIN_PART),
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// Tickets whose state one walk is loading and writing.
#[derive(Default)]
pub(crate) struct TicketLocks {
    taken: Mutex<HashSet<u64>>,
    freed: tokio::sync::Notify,
}

/// Tickets locked until dropped.
pub(crate) struct Locked {
    pincer: Arc<Pincer>,
    ids: Vec<u64>,
}

impl Drop for Locked {
    fn drop(&mut self) {
        let locks = &self.pincer.locks;
        if let Ok(mut taken) = locks.taken.lock() {
            for id in &self.ids {
                taken.remove(id);
            }
        }
        locks.freed.notify_waiters();
    }
}

impl TicketLocks {
    /// Takes all of `ids` or none (so two walks never wait on each other).
    fn try_take(&self, ids: &[u64]) -> bool {
        let Ok(mut taken) = self.taken.lock() else {
            return true;
        };
        if ids.iter().any(|id| taken.contains(id)) {
            return false;
        }
        taken.extend(ids.iter().copied());
        true
    }
}

/// Locks tickets until the guard is dropped (waits while the other walk
/// holds any of them).
pub(crate) async fn lock(pincer: &Arc<Pincer>, mut ids: Vec<u64>) -> Locked {
    ids.sort_unstable();
    ids.dedup();
    loop {
        let freed = pincer.locks.freed.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        if pincer.locks.try_take(&ids) {
            return Locked {
                pincer: pincer.clone(),
                ids,
            };
        }
        freed.await;
    }
}

impl Walk<'_> {
    /// Locks tickets against the other walk of a pincer (nothing to lock
    /// without one).
    pub(crate) async fn lock_tickets(&self, ids: Vec<u64>) -> Option<Locked> {
        match &self.pincer {
            Some(p) if !ids.is_empty() => Some(lock(p, ids).await),
            _ => None,
        }
    }

    /// The per-ticket walk: claims ranges from the newest down and reads
    /// each, until the walks meet.
    async fn per_ticket(&mut self, pincer: &Pincer, report: &mut SyncReport) -> Result<()> {
        if !self.budgets_pay(pincer).await {
            tracing::info!(connection = %self.conn.name, limits = ?self.client.limits(), "reading per ticket beside the exports does not pay on these budgets");
            return Ok(());
        }
        // The exports walk's own requests (its pages, chats and logs) go
        // first: the per-ticket walk leaves every window what they need.
        self.client = pincer.yielding.clone();
        pincer.give_way();
        let mut own = PerTicket { tickets: 0 };
        let mut step = self.first_step(pincer).await;
        let Some(mut w) = pincer.claim(pincer.cap(), step) else {
            return Ok(());
        };
        let mut pages = read_range(self.client.clone(), w).await;
        loop {
            let started = Instant::now();
            let mut tickets = self.take_pages(w, pages, report).await?;
            step = next_claim_len(step, tickets.len() as u64, w.until - w.from);
            // The next range is read while this one's comments are: it
            // lies below this one, where the cap will be once this is read.
            let ahead = pincer.claim(w.from, step).map(|n| {
                let read = tokio::spawn(read_range(self.client.clone(), n));
                (n, AbortOnDrop(read))
            });
            // Where the walks meet, the next range's read (which may be
            // waiting for the export budget) is dropped, and so aborted.
            if self.read_parts(pincer, w, &mut tickets, &mut own).await? {
                return Ok(());
            }
            pincer.claim_read(w, started.elapsed());
            let Some((n, mut read)) = ahead else {
                return Ok(());
            };
            w = n;
            pages = (&mut read.0).await.map_err(|e| {
                EngineError::Failed(format!(
                    "reading the tickets export from {} stopped: {e}",
                    n.from
                ))
            })?;
        }
    }

    /// The first range's length: a page of tickets at the density the
    /// exports walk's first tickets page shows (waited for a few seconds),
    /// or a day.
    async fn first_step(&self, pincer: &Pincer) -> i64 {
        poll(pincer, DENSITY_WAIT, || pincer.density())
            .await
            .map_or(FIRST_CLAIM, |d| {
                ((TICKETS_PER_CLAIM as f64 / d) as i64).max(HOUR)
            })
    }

    /// Whether the budgets' sizes, once the first answers tell them, make
    /// the per-ticket walk pay ([`pays`]).
    async fn budgets_pay(&self, pincer: &Pincer) -> bool {
        let known = || {
            let limits = self.client.limits();
            (limits.account.is_some() && limits.export.is_some()).then_some(limits)
        };
        poll(pincer, LIMITS_WAIT, known).await.is_some_and(pays)
    }

    /// Reads the comments of a claimed range's tickets per ticket, newest
    /// first and a part at a time (as many as the rate window has room
    /// for: [`Pincer::next_part_size`]), each part committed before it is
    /// read ([`Pincer::commit`]) so that the walks meet within a part.
    /// Returns whether they met (the exports walk read the rest).
    async fn read_parts(
        &mut self,
        pincer: &Pincer,
        w: Window,
        tickets: &mut BTreeMap<u64, Ticket>,
        own: &mut PerTicket,
    ) -> Result<bool> {
        let mut left: Vec<(i64, u64)> = tickets
            .values()
            .map(|t| (ticket_position(t), t.id))
            .collect();
        left.sort_unstable();
        while !left.is_empty() {
            let Some(size) = pincer.next_part_size(own.cost(&self.client)).await else {
                return Ok(true);
            };
            let Some((from, ids)) = take_from_the_top(&mut left, size) else {
                break;
            };
            if !pincer.commit(from) {
                return Ok(true);
            }
            let part = ids
                .iter()
                .filter_map(|id| tickets.remove_entry(id))
                .collect();
            self.store_claimed(part).await?;
            own.tickets += ids.len() as u64;
            tracing::debug!(cap = from, tickets = ids.len(), sent = ?self.client.sent_here(), all = self.client.stats().requests, "per-ticket walk: part read");
            if !pincer.is_stopped() {
                pincer.give_way();
            }
            self.lease.check()?;
        }
        Ok(!pincer.commit(w.from))
    }

    /// A claimed range's tickets from the pages read of it, their users and
    /// organizations stored on the way.
    async fn take_pages(
        &mut self,
        w: Window,
        pages: std::result::Result<Vec<(TicketCursor, TicketPage)>, zdsync_zendesk::Error>,
        report: &mut SyncReport,
    ) -> Result<BTreeMap<u64, Ticket>> {
        let pages = pages.map_err(|e| EngineError::Zendesk {
            context: format!("reading the tickets export from {}", w.from),
            source: e,
        })?;
        let mut tickets = BTreeMap::new();
        for (at, page) in pages {
            self.pages += 1;
            report.ticket_pages += 1;
            report.tickets_seen += page.tickets.len() as u64;
            self.renderer
                .store_entities(self.engine, &page.users, &page.organizations)
                .await?;
            tickets.extend(crate::exports::hold(Some(w.until), w.from, &at, page).tickets);
        }
        Ok(tickets)
    }

    /// Stores a part of a claimed range: every ticket's comments are read
    /// first, then its state is loaded and written with its snapshot (the
    /// tickets locked meanwhile). A ticket Zendesk no longer shows is left
    /// to the next run, which sees its deletion.
    async fn store_claimed(&mut self, mut tickets: BTreeMap<u64, Ticket>) -> Result<()> {
        let live: Vec<u64> = tickets
            .values()
            .filter(|t| t.status != TicketStatus::Deleted)
            .map(|t| t.id)
            .collect();
        let (comments, vanished) = self.read_comments(live).await?;
        for id in vanished {
            tickets.remove(&id);
        }
        if tickets.is_empty() {
            return Ok(());
        }
        let _locked = self.lock_tickets(tickets.keys().copied().collect()).await;
        // The exports walk may wait for these locks: the part's chats and
        // logs, read under them, do not wait for the share left to it.
        let hurried = self.client.hurried();
        let yielding = std::mem::replace(&mut self.client, hurried);
        let stored = self.store_held(tickets, HashMap::new(), comments).await;
        self.client = yielding;
        stored
    }
}

/// What `ready` gives once it gives something, asked every 100 ms for up
/// to `limit` while the pincer runs.
async fn poll<T>(
    pincer: &Pincer,
    limit: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = ready() {
            return Some(v);
        }
        if started.elapsed() >= limit || pincer.is_stopped() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A spawned task, aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The pages of the tickets export that hold a range, each with the
/// cursor it was read at.
async fn read_range(
    client: Client,
    w: Window,
) -> std::result::Result<Vec<(TicketCursor, TicketPage)>, zdsync_zendesk::Error> {
    let mut at = TicketCursor::Start(w.from);
    let mut pages = Vec::new();
    loop {
        let page = client.tickets_page(&at).await?;
        let reached = page.tickets.iter().map(ticket_position).max();
        let next = page.next_cursor(&at);
        let last = page.end_of_stream || reached.is_some_and(|r| r >= w.until);
        pages.push((at, page));
        match next? {
            Some(n) if !last => at = n,
            _ => return Ok(pages),
        }
    }
}

/// Walks a paid connection's planned windows from both ends when that pays
/// ([`pays`]; otherwise, or on a trial, on an agent connection, the windows
/// one after the other, newest first: [`crate::history::walk_windows`]).
/// Returns the runs' reports: the exports walk's windows, then the
/// per-ticket walk's (whose request figures are those no window's run
/// counted, so that the reports add up to what was sent).
pub async fn walk_history(
    engine: &Engine,
    name: &str,
    windows: Vec<Window>,
    opts: &SyncOptions,
) -> Result<Vec<SyncReport>> {
    let conn = engine.connection(name).await?;
    let top = windows.iter().map(|w| w.until).max();
    let on_exports = Path::of(&conn) == Path::Exports;
    let Some(top) = top.filter(|_| on_exports) else {
        return crate::history::walk_windows(engine, name, windows, opts).await;
    };
    if crate::history::load(engine, name).await?.is_some() {
        return crate::history::walk_windows(engine, name, windows, opts).await;
    }
    let lease = Lease::for_run(engine, &conn.name, opts).await?;
    let result = walk_locked(engine, &conn, windows, top, opts, &lease).await;
    lease.release().await;
    result
}

async fn walk_locked(
    engine: &Engine,
    conn: &Connection,
    windows: Vec<Window>,
    top: i64,
    opts: &SyncOptions,
    lease: &Lease,
) -> Result<Vec<SyncReport>> {
    let client = engine.client(conn).await?;
    let before = client.stats();
    let pincer = Arc::new(Pincer::new(client.clone(), top));
    let older = async {
        let r = walk_older(engine, conn, &windows, opts, lease, &pincer).await;
        // Done (at the cap) or failed: the per-ticket walk finishes the
        // part it holds and takes no other.
        pincer.stop();
        r
    };
    let newest = async {
        let r = walk_newest(engine, conn, opts, lease, &pincer, top).await;
        if r.is_err() {
            pincer.stop();
        }
        r
    };
    let (older, newest) = futures::join!(older, newest);
    let mut reports = older?;
    let mut newest = newest?;
    // What no window's run counted: the per-ticket walk's requests sent
    // after the last window's run, or between runs.
    let total = RequestStatsOut::from(stats_since(client.stats(), &before));
    newest.requests = uncounted(total, &reports);
    reports.push(newest);
    mark_read(engine, &conn.name, &windows).await?;
    Ok(reports)
}

/// What of `total` the reports do not count.
fn uncounted(total: RequestStatsOut, reports: &[SyncReport]) -> RequestStatsOut {
    reports.iter().fold(total, |left, r| {
        let c = &r.requests;
        RequestStatsOut {
            total: left.total.saturating_sub(c.total),
            retries: left.retries.saturating_sub(c.retries),
            responses_429: left.responses_429.saturating_sub(c.responses_429),
            responses_5xx: left.responses_5xx.saturating_sub(c.responses_5xx),
            export: left.export.saturating_sub(c.export),
            slept_ms: left.slept_ms.saturating_sub(c.slept_ms),
            invalid_utf8: left.invalid_utf8.saturating_sub(c.invalid_utf8),
        }
    })
}

/// The exports walk: the windows oldest first, each to its end or the cap;
/// none above the cap.
async fn walk_older(
    engine: &Engine,
    conn: &Connection,
    windows: &[Window],
    opts: &SyncOptions,
    lease: &Lease,
    pincer: &Arc<Pincer>,
) -> Result<Vec<SyncReport>> {
    let mut oldest_first = windows.to_vec();
    oldest_first.sort_by_key(|w| w.from);
    let mut reports = Vec::new();
    for w in oldest_first {
        loop {
            if pincer.cap() <= w.from || pincer.is_stopped() {
                return Ok(reports);
            }
            let r = run_recorded(
                engine,
                conn,
                Span(Some(w)),
                opts,
                lease,
                Some(pincer.clone()),
            )
            .await?;
            let done = r.complete;
            reports.push(r);
            if done {
                break;
            }
        }
    }
    Ok(reports)
}

/// The per-ticket walk, recorded as a run over what it read.
async fn walk_newest(
    engine: &Engine,
    conn: &Connection,
    opts: &SyncOptions,
    lease: &Lease,
    pincer: &Arc<Pincer>,
    top: i64,
) -> Result<SyncReport> {
    let started = Instant::now();
    let client = pincer.client.clone();
    let renderer = Renderer::for_run(engine, conn, &client).await?;
    let mut walk = Walk {
        engine,
        conn: conn.clone(),
        client,
        renderer,
        opts,
        lease,
        pages: 0,
        pincer: Some(pincer.clone()),
    };
    let mut report = SyncReport {
        connection: conn.name.clone(),
        started_at: crate::now_rfc3339(),
        ..Default::default()
    };
    let result = walk.per_ticket(pincer, &mut report).await;
    let low = pincer.cap();
    report.window = (low < top).then_some(Window {
        from: low,
        until: top,
    });
    report.complete = result.is_ok();
    report.path = Some(Path::Exports);
    report.counters = walk.renderer.counters.clone();
    report.budgets = walk.client.budgets();
    finish_report(engine, &mut report, started, result.as_ref().err()).await;
    result.map(|()| report)
}

/// Marks every window of the plan read: the exports walk read each to its
/// end or to the cap, the per-ticket walk everything above the cap.
async fn mark_read(engine: &Engine, name: &str, windows: &[Window]) -> Result<()> {
    for w in windows {
        if window_done(engine, name, *w).await? {
            continue;
        }
        let (events, tickets) = (
            CursorKind::WindowEvents {
                from: w.from,
                until: w.until,
            },
            CursorKind::WindowTickets {
                from: w.from,
                until: w.until,
            },
        );
        let read = TicketsCursor {
            after: String::new(),
            ts: w.until,
        };
        replace_cursor(engine, name, events, &w.until.to_string()).await?;
        replace_cursor(engine, name, tickets, &read.encode()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(account: u32, export: u32) -> Limits {
        Limits {
            account: Some(account),
            export: Some(export),
            logs: Some(300),
        }
    }

    #[test]
    fn both_ends_is_off_unless_turned_on() {
        let with = |v: &'static str| move |_: &str| Some(v.to_string());
        assert!(!enabled_from_env(|_: &str| None).expect("unset"));
        assert!(enabled_from_env(with(" auto ")).expect("auto"));
        assert!(!enabled_from_env(with("off")).expect("off"));
        let err = enabled_from_env(with("no")).expect_err("unknown value");
        assert!(err.to_string().contains("`auto`"), "{err}");
    }

    #[test]
    fn reading_per_ticket_pays_on_large_account_budgets_only() {
        assert!(pays(limits(700, 10)), "Enterprise");
        assert!(!pays(limits(400, 10)), "Professional: measured slower");
        assert!(!pays(limits(200, 10)), "Team");
        assert!(pays(limits(2_500, 30)), "High Volume");
        assert!(pays(limits(2_500, 10)), "Enterprise Plus");
        assert!(
            !pays(limits(700, 30)),
            "Enterprise with High Volume exports"
        );
        assert!(!pays(Limits::default()), "sizes unknown");
        assert!(!pays(limits(u32::MAX, u32::MAX)), "no limits at all");
    }

    #[test]
    fn a_claim_takes_a_step_below_the_cap() {
        let w = next_claim(100 * DAY, 0, DAY, None, None).expect("a claim");
        assert_eq!((w.from, w.until), (99 * DAY, 100 * DAY));
    }

    #[test]
    fn a_claim_never_reaches_the_exports_walks_front() {
        let w = next_claim(100 * DAY, 99 * DAY, 5 * DAY, None, None).expect("a claim");
        assert_eq!(w.from, 99 * DAY + 1);
        assert_eq!(next_claim(100 * DAY, 100 * DAY, DAY, None, None), None);
        assert_eq!(
            next_claim(100 * DAY, 100 * DAY - 60, DAY, None, None),
            None,
            "less than an hour left"
        );
    }

    #[test]
    fn a_claim_stops_where_the_walks_would_meet() {
        // The exports walk reads 1,000 Zendesk seconds a wall second and is
        // 1,000,000 s below the cap; the per-ticket walk spends 0.004 s on
        // a Zendesk second (4 s of wall time per 1,000 s).
        // They meet at front + 1,000,000 * 1000 * 0.004 / (1 + 4) = 800,000 s.
        let w = next_claim(1_000_000, 0, 500_000, Some(1_000.0), Some(0.004)).expect("a claim");
        assert_eq!(w.from, 800_000);
        let w = next_claim(1_000_000, 0, 100_000, Some(1_000.0), Some(0.004)).expect("a claim");
        assert_eq!(w.from, 900_000, "the step is smaller than the way left");
    }

    #[test]
    fn no_claim_when_the_exports_walk_would_read_it_in_moments() {
        // 10 s of the exports walk's reading left: not worth a tickets page.
        assert_eq!(
            next_claim(1_000_000, 990_000, DAY, Some(1_000.0), Some(0.0001)),
            None
        );
    }

    fn sent(requests: u64, export: u64, logs: u64) -> Sent {
        Sent {
            requests,
            export,
            logs,
        }
    }

    #[test]
    fn the_exports_walk_gets_a_third_until_its_needs_are_measured() {
        let shares = shares_for(sent(50, 3, 10), limits(700, 10), None);
        assert_eq!(
            shares.account,
            Reserve {
                requests: OTHERS_SLACK,
                share: 233
            }
        );
        assert_eq!(shares.logs.share, 100);
        let unknown = Limits {
            logs: None,
            ..limits(700, 10)
        };
        assert_eq!(
            shares_for(sent(50, 3, 10), unknown, None).logs.share,
            0,
            "the logs' budget not known yet: nothing to share"
        );
    }

    #[test]
    fn the_exports_walk_gets_what_it_will_spend_this_window_and_a_quarter() {
        // 101 export requests; 100 of them done: 20 account requests and 8
        // log reads each; 10 export requests a minute, 3 left of this one
        // (and the last one's follow-ups): 4 to come.
        let shares = shares_for(sent(2_000, 101, 800), limits(700, 10), Some(3));
        assert_eq!(shares.account, Reserve::from(OTHERS_SLACK + 100));
        assert_eq!(shares.logs, Reserve::from(40));
    }

    #[test]
    fn an_unknown_export_window_counts_as_a_whole_one() {
        let shares = shares_for(sent(2_000, 101, 800), limits(700, 10), None);
        assert_eq!(shares.account, Reserve::from(OTHERS_SLACK + 275));
        assert_eq!(shares.logs, Reserve::from(110));
    }

    #[test]
    fn a_spent_export_budget_leaves_the_exports_walk_its_last_follow_ups() {
        let shares = shares_for(sent(2_000, 101, 800), limits(700, 10), Some(0));
        assert_eq!(shares.account, Reserve::from(OTHERS_SLACK + 25));
        assert_eq!(shares.logs, Reserve::from(10));
    }

    #[test]
    fn the_export_requests_to_come_are_those_left_of_the_export_window() {
        let secs = Duration::from_secs;
        assert_eq!(
            exports_to_come(Some(3), Some(secs(50)), Some(secs(20)), 10),
            Some(3)
        );
    }

    #[test]
    fn an_export_window_turning_before_the_accounts_adds_a_whole_one() {
        let secs = Duration::from_secs;
        assert_eq!(
            exports_to_come(Some(0), Some(secs(2)), Some(secs(58)), 10),
            Some(10)
        );
    }

    #[test]
    fn export_requests_to_come_are_unknown_while_a_window_is() {
        let secs = Duration::from_secs;
        assert_eq!(
            exports_to_come(None, Some(secs(2)), Some(secs(58)), 10),
            None
        );
        assert_eq!(exports_to_come(Some(4), None, Some(secs(58)), 10), None);
        assert_eq!(exports_to_come(Some(4), Some(secs(2)), None, 10), None);
    }

    #[test]
    fn the_exports_walks_share_is_never_more_than_a_window() {
        let shares = shares_for(sent(10_000, 101, 100_000), limits(700, 10), None);
        assert_eq!(shares.account, Reserve::from(OTHERS_SLACK + 700));
        assert_eq!(shares.logs, Reserve::from(300));
    }

    #[test]
    fn a_part_is_as_large_as_the_window_has_room_for() {
        assert_eq!(part_size(None, 1.2), Some(TICKETS_PER_PART), "a new window");
        assert_eq!(part_size(Some(600), 1.2), Some(TICKETS_PER_PART));
        assert_eq!(part_size(Some(24), 1.2), Some(20));
        assert_eq!(part_size(Some(9), 1.2), None, "wait for the next window");
        assert_eq!(
            part_size(Some(10), 0.5),
            Some(10),
            "a ticket costs a request at least"
        );
    }

    #[test]
    fn parts_are_taken_from_the_newest_down() {
        let mut left = vec![(10, 1), (20, 3), (30, 2), (40, 4), (50, 5)];
        assert_eq!(take_from_the_top(&mut left, 2), Some((40, vec![5, 4])));
        assert_eq!(take_from_the_top(&mut left, 2), Some((20, vec![2, 3])));
        assert_eq!(take_from_the_top(&mut left, 2), Some((10, vec![1])));
        assert_eq!(take_from_the_top(&mut left, 2), None);
    }

    #[test]
    fn the_tickets_of_one_position_share_a_part() {
        let mut left = vec![(10, 1), (20, 2), (20, 3), (20, 4), (30, 5)];
        assert_eq!(
            take_from_the_top(&mut left, 2),
            Some((20, vec![5, 4, 3, 2]))
        );
        assert_eq!(left, vec![(10, 1)]);
    }

    #[test]
    fn the_cap_moves_down_until_the_exports_walk_is_there() {
        let pincer = Pincer::new(test_client(), 1_000);
        assert!(pincer.commit(900));
        assert_eq!(pincer.cap(), 900);
        pincer.advance(|cap| {
            assert_eq!(cap, 900);
            ((), 850, 850)
        });
        assert!(pincer.commit(860), "above the exports walk's front");
        assert!(!pincer.commit(850), "the walks have met");
        assert_eq!(pincer.cap(), 860);
        pincer.stop();
        assert!(!pincer.commit(855), "stopped");
    }

    fn test_client() -> Client {
        let url = url::Url::parse("http://127.0.0.1:9").expect("a url");
        let credentials = zdsync_zendesk::Credentials::ApiToken {
            email: "agent@example.com".into(),
            token: "t".into(),
        };
        Client::new(zdsync_zendesk::ClientConfig::new(url, credentials)).expect("a client")
    }

    #[test]
    fn claims_grow_toward_a_page_of_tickets() {
        assert_eq!(next_claim_len(DAY, 0, DAY), 8 * DAY, "nothing there");
        assert_eq!(next_claim_len(DAY, 100, DAY), 8 * DAY, "capped growth");
        assert_eq!(next_claim_len(8 * DAY, 500, 8 * DAY), 16 * DAY);
        assert_eq!(next_claim_len(16 * DAY, 16_000, 16 * DAY), 4 * DAY);
    }
}
