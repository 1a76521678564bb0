//! One rate limiter for a client and its clones, honouring both of Zendesk's
//! budgets from the response headers: the account budget (every request) and
//! the incremental-export budget (the export endpoints), plus the users
//! export's own. It waits BEFORE a request would exceed a budget.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use reqwest::header::HeaderMap;

/// A budget a request counts against (besides the account budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Account,
    /// `/incremental/tickets/cursor`, `/incremental/ticket_events`,
    /// `/incremental/organizations`.
    Export,
    /// `/incremental/users/cursor`.
    UsersExport,
    /// `/tickets/{id}/conversation_log` (its own "omnilog" budget, about
    /// 100 a minute, besides the account budget).
    ConversationLog,
    /// `/search/export`: its own 100 requests a minute besides the account
    /// budget. Zendesk announces it in no header, so it is counted here.
    SearchExport,
}

/// The search export's budget a minute (Zendesk's documented figure).
pub const SEARCH_EXPORT_PER_MIN: u32 = 100;

impl Bucket {
    pub fn for_path(path: &str) -> Bucket {
        if path.ends_with("/conversation_log") {
            Bucket::ConversationLog
        } else if path.starts_with("/api/v2/search/export") {
            Bucket::SearchExport
        } else if path.starts_with("/api/v2/incremental/users") {
            Bucket::UsersExport
        } else if path.starts_with("/api/v2/incremental/") {
            Bucket::Export
        } else {
            Bucket::Account
        }
    }

    /// Whether requests of this bucket count against an incremental-export
    /// budget.
    pub fn is_export(self) -> bool {
        matches!(self, Bucket::Export | Bucket::UsersExport)
    }

    /// The header that tells this bucket's own budget (`total=…;
    /// remaining=…; resets=…`), if it has one.
    fn header(self) -> Option<&'static str> {
        match self {
            Bucket::Account => None,
            Bucket::Export | Bucket::UsersExport => Some("zendesk-ratelimit-incremental-exports"),
            Bucket::ConversationLog => Some("zendesk-ratelimit-omnilog-index"),
            Bucket::SearchExport => None,
        }
    }

    /// The budget a minute of a bucket no header tells, counted by the
    /// client itself.
    fn counted_here(self) -> Option<u32> {
        match self {
            Bucket::SearchExport => Some(SEARCH_EXPORT_PER_MIN),
            _ => None,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    remaining: Option<u32>,
    reset_at: Option<Instant>,
    /// Requests sent under this budget whose answer has not come yet: an
    /// answer's `remaining` does not count them (they reach Zendesk after
    /// it), so they are taken off what it says.
    in_flight: u32,
    /// Requests of this window that yielding handles took: the rest of
    /// what was spent, the other handles spent.
    yielded: u32,
}

/// Extra wait past a window's announced end (headers count whole seconds).
const MARGIN: Duration = Duration::from_millis(600);
/// Assumed window when a header gives no reset time.
const WINDOW: Duration = Duration::from_secs(60);
/// How often a request waiting on a share kept for others asks for the
/// reserve again (the one who set it may have lowered it, or be done).
const RESERVE_RECHECK: Duration = Duration::from_secs(1);

/// What a limiter knows of one budget, in wall-clock time, so a later
/// process can honour it (a budget another run just spent is not assumed
/// full by the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BudgetSnapshot {
    pub bucket: Bucket,
    pub remaining: u32,
    /// When the budget's window turns, epoch milliseconds.
    pub resets_at_ms: i64,
}

/// The budgets' sizes a minute, as Zendesk announces them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The account's requests a minute (`X-Rate-Limit`).
    pub account: Option<u32>,
    /// The incremental exports' requests a minute (`total=` of their header).
    pub export: Option<u32>,
    /// The conversation logs' requests a minute (`total=` of their header).
    pub logs: Option<u32>,
}

/// What a request leaves of a budget's window to others: a number of
/// requests, and a share of every window the other handles may spend (a
/// yielding handle's reserve: what of the share they have not spent in the
/// window so far is left to them too, however early or late they come).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reserve {
    pub requests: u32,
    pub share: u32,
}

impl From<u32> for Reserve {
    fn from(requests: u32) -> Reserve {
        Reserve { requests, share: 0 }
    }
}

impl Reserve {
    /// The requests to leave once the others spent `others_spent` of the
    /// window.
    pub fn keep(self, others_spent: u32) -> u32 {
        self.requests
            .saturating_add(self.share.saturating_sub(others_spent))
    }
}

/// What the other handles spent of a window of `size` requests: all that
/// was spent, less what yielding handles took (nothing known: nothing).
fn others_spent(st: &State, size: Option<u32>) -> u32 {
    match (size, st.remaining) {
        (Some(size), Some(left)) => size.saturating_sub(left).saturating_sub(st.yielded),
        _ => 0,
    }
}

#[derive(Debug, Default)]
pub struct Limiter {
    limits: Mutex<Limits>,
    account: Mutex<State>,
    export: Mutex<State>,
    users: Mutex<State>,
    conversation_log: Mutex<State>,
    search_export: Mutex<State>,
}

impl Limiter {
    const BUCKETS: [Bucket; 5] = [
        Bucket::Account,
        Bucket::Export,
        Bucket::UsersExport,
        Bucket::ConversationLog,
        Bucket::SearchExport,
    ];

    /// The budgets known now whose window has not turned (`now` and
    /// `now_ms` are the same moment on both clocks).
    pub fn snapshot(&self, now: Instant, now_ms: i64) -> Vec<BudgetSnapshot> {
        Self::BUCKETS
            .iter()
            .filter_map(|&bucket| {
                let st = *self.cell(bucket).lock().ok()?;
                let (remaining, reset) = (st.remaining?, st.reset_at?);
                let left = reset.checked_duration_since(now)?;
                Some(BudgetSnapshot {
                    bucket,
                    remaining,
                    resets_at_ms: now_ms + left.as_millis() as i64,
                })
            })
            .collect()
    }

    /// Takes up what an earlier run knew: each budget whose window has not
    /// turned yet starts with what was left of it.
    pub fn seed(&self, budgets: &[BudgetSnapshot], now: Instant, now_ms: i64) {
        for b in budgets {
            let left_ms = b.resets_at_ms - now_ms;
            if left_ms <= 0 {
                continue;
            }
            let wait = Duration::from_millis(left_ms as u64).min(crate::retry::MAX_SERVER_WAIT);
            if let Ok(mut st) = self.cell(b.bucket).lock() {
                st.remaining = Some(b.remaining);
                st.reset_at = Some(now + wait);
            }
        }
    }

    /// The budgets' sizes announced so far.
    pub fn limits(&self) -> Limits {
        self.limits.lock().map(|l| *l).unwrap_or_default()
    }

    /// A window's size for `b`, as announced (or counted here).
    fn window_size(&self, b: Bucket) -> Option<u32> {
        let limits = self.limits();
        match b {
            Bucket::Account => limits.account,
            Bucket::ConversationLog => limits.logs,
            _ => b.counted_here(),
        }
    }

    /// Requests a handle leaving `reserve` may still send under `b`'s
    /// budget in the window as it stands (`None`: not known, as when the
    /// window has turned and no answer told of the new one yet).
    pub fn room(&self, b: Bucket, reserve: Reserve, now: Instant) -> Option<u32> {
        let size = self.window_size(b);
        let st = *self.cell(b).lock().ok()?;
        if st.reset_at.is_none_or(|r| now >= r) {
            return None;
        }
        let left = st.remaining?;
        Some(left.saturating_sub(reserve.keep(others_spent(&st, size))))
    }

    /// How long until `b`'s window turns, as the last answer told (`None`:
    /// not known, or turned already).
    pub fn turns_in(&self, b: Bucket, now: Instant) -> Option<Duration> {
        let reset = self.cell(b).lock().ok()?.reset_at?;
        (now < reset).then(|| reset - now)
    }

    fn cell(&self, b: Bucket) -> &Mutex<State> {
        match b {
            Bucket::Account => &self.account,
            Bucket::Export => &self.export,
            Bucket::UsersExport => &self.users,
            Bucket::ConversationLog => &self.conversation_log,
            Bucket::SearchExport => &self.search_export,
        }
    }

    /// How long to wait before spending one request of `b` (None = go now,
    /// and the request is counted, as a yielding handle's when `yielding`).
    fn try_take(
        &self,
        b: Bucket,
        reserve: Reserve,
        yielding: bool,
        now: Instant,
    ) -> Option<Instant> {
        let size = self.window_size(b);
        let Ok(mut st) = self.cell(b).lock() else {
            return None;
        };
        if let Some(reset) = st.reset_at
            && now >= reset
        {
            // The window turned: the budget is unknown (assumed full) again.
            *st = State::default();
        }
        if st.remaining.is_none()
            && let Some(budget) = b.counted_here()
        {
            // A budget no answer tells: this window starts now, full.
            st.remaining = Some(budget);
            st.reset_at = Some(now + WINDOW);
        }
        match (st.remaining, st.reset_at) {
            (Some(r), Some(reset)) if r <= reserve.keep(others_spent(&st, size)) => Some(reset),
            (r, _) => {
                st.remaining = r.map(|r| r.saturating_sub(1));
                st.in_flight += 1;
                st.yielded += u32::from(yielding);
                None
            }
        }
    }

    /// Gives back a request of `b` taken but not sent.
    fn give_back(&self, b: Bucket, yielding: bool) {
        if let Ok(mut st) = self.cell(b).lock() {
            if let Some(r) = st.remaining.as_mut() {
                *r += 1;
            }
            st.in_flight = st.in_flight.saturating_sub(1);
            st.yielded = st.yielded.saturating_sub(u32::from(yielding));
        }
    }

    /// Waits until a request may be sent under the account budget and, for
    /// other buckets, the bucket's budget too, leaving each budget what
    /// `reserve` says of it as it stands (a share kept for others, which
    /// they may change, is asked again every [`RESERVE_RECHECK`] while
    /// waiting). `yielding`: the request is a yielding handle's. Returns
    /// the time slept.
    pub async fn acquire(
        &self,
        b: Bucket,
        yielding: bool,
        reserve: impl Fn(Bucket) -> Reserve,
    ) -> Duration {
        let mut slept = Duration::ZERO;
        loop {
            let now = Instant::now();
            let account = reserve(Bucket::Account);
            let own = if b == Bucket::Account {
                Reserve::default()
            } else {
                reserve(b)
            };
            let wait = match self.try_take(Bucket::Account, account, yielding, now) {
                Some(until) => Some(until),
                None if b != Bucket::Account => {
                    let wait = self.try_take(b, own, yielding, now);
                    if wait.is_some() {
                        self.give_back(Bucket::Account, yielding);
                    }
                    wait
                }
                None => None,
            };
            match wait {
                None => return slept,
                Some(until) => {
                    let d = wait_before_asking(until, now, yielding);
                    tracing::debug!(bucket = ?b, wait_ms = d.as_millis() as u64, account_left = ?self.account.lock().ok().and_then(|s| s.remaining), ?account, ?own, "rate budget spent; waiting for the window to turn");
                    tokio::time::sleep(d).await;
                    slept += d;
                    // Past the window: forget it, the next answer tells the truth.
                    for cell in [self.cell(Bucket::Account), self.cell(b)] {
                        if let Ok(mut st) = cell.lock()
                            && st.reset_at.is_some_and(|r| Instant::now() >= r)
                        {
                            *st = State::default();
                        }
                    }
                }
            }
        }
    }

    /// Learns the budgets from a response's headers.
    pub fn observe(&self, b: Bucket, headers: &HeaderMap, now: Instant) {
        let num = |name: &str| -> Option<u64> {
            headers
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
                .map(|v| v.max(0.0) as u64)
        };
        let remaining = num("ratelimit-remaining").or_else(|| num("x-rate-limit-remaining"));
        let reset = num("ratelimit-reset");
        let export_total = (b == Bucket::Export)
            .then(|| headers.get("zendesk-ratelimit-incremental-exports"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(header_total);
        let logs_total = (b == Bucket::ConversationLog)
            .then(|| headers.get("zendesk-ratelimit-omnilog-index"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(header_total);
        if let Ok(mut l) = self.limits.lock() {
            let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
            if let Some(total) = num("x-rate-limit").or_else(|| num("ratelimit-limit")) {
                l.account = Some(small(total));
            }
            if let Some(total) = export_total {
                l.export = Some(small(total));
            }
            if let Some(total) = logs_total {
                l.logs = Some(small(total));
            }
        }
        answered(&self.account);
        if let Some(rem) = remaining {
            set(&self.account, rem, reset, now);
        }
        if b != Bucket::Account {
            answered(self.cell(b));
        }
        if let Some(v) = b
            .header()
            .and_then(|name| headers.get(name))
            .and_then(|v| v.to_str().ok())
            && let Some((rem, resets)) = parse_export_header(v)
        {
            set(self.cell(b), rem, resets, now);
        }
    }
}

/// How long a request that may not go now waits before it asks again: until
/// the window turns, or, on a yielding handle, a [`RESERVE_RECHECK`] at
/// most (what it keeps for others is theirs to lower or drop at any time,
/// as when the walk it gives way to is done).
fn wait_before_asking(until: Instant, now: Instant, yielding: bool) -> Duration {
    let d = until.saturating_duration_since(now) + MARGIN;
    match yielding {
        true => d.min(RESERVE_RECHECK),
        false => d,
    }
}

/// One request of the budget has its answer.
fn answered(cell: &Mutex<State>) {
    if let Ok(mut st) = cell.lock() {
        st.in_flight = st.in_flight.saturating_sub(1);
    }
}

/// What is left of a budget, from an answer that says `reported`: less the
/// requests still in flight, and never more than counted here since the
/// window began (answers of requests sent side by side arrive in any
/// order, and an earlier one reports more than is left).
fn remaining_after(local: Option<u32>, window_current: bool, reported: u64, in_flight: u32) -> u32 {
    let told = (reported.min(u32::MAX as u64) as u32).saturating_sub(in_flight);
    match local {
        Some(l) if window_current => l.min(told),
        _ => told,
    }
}

fn set(cell: &Mutex<State>, remaining: u64, reset_secs: Option<u64>, now: Instant) {
    if let Ok(mut st) = cell.lock() {
        // A reset beyond the longest honoured wait (or absurd, like 1e19)
        // is read as that wait: no overflow, no sleep without bound.
        let reset = reset_secs.map_or(WINDOW, |s| {
            Duration::from_secs(s.min(crate::retry::MAX_SERVER_WAIT.as_secs()))
        });
        let told_reset = reset_secs.map(|_| now + reset);
        let current = same_window(st.reset_at, told_reset, now);
        st.remaining = Some(remaining_after(
            st.remaining,
            current,
            remaining,
            st.in_flight,
        ));
        st.reset_at = Some(now + reset);
    }
}

/// How far apart the resets that answers of one window tell may lie: they
/// come in whole seconds, rounded, and late by the answer's way back.
const SAME_RESET: Duration = Duration::from_secs(5);

/// Whether an answer belongs to the window counted here (which turns at
/// `local_reset`): not once that has passed, nor when the answer tells of
/// a reset well after it (`told_reset`; the window turned at the server
/// before the whole second its reset was rounded to, and the answer is of
/// the next one, which a count of the last one must not hold back).
fn same_window(local_reset: Option<Instant>, told_reset: Option<Instant>, now: Instant) -> bool {
    local_reset.is_some_and(|r| now < r && told_reset.is_none_or(|t| t <= r + SAME_RESET))
}

/// `total=10; remaining=9; resets=42` → 10.
fn header_total(v: &str) -> Option<u64> {
    v.split([';', ','])
        .filter_map(|part| part.split_once('='))
        .find(|(k, _)| k.trim() == "total")
        .and_then(|(_, val)| val.trim().parse().ok())
}

/// `total=10; remaining=9; resets=42` → (remaining, resets).
pub fn parse_export_header(v: &str) -> Option<(u64, Option<u64>)> {
    let mut remaining = None;
    let mut resets = None;
    for part in v.split([';', ',']) {
        let Some((k, val)) = part.split_once('=') else {
            continue;
        };
        let val = val.trim().parse::<u64>().ok();
        match k.trim() {
            "remaining" => remaining = val,
            "resets" => resets = val,
            _ => {}
        }
    }
    Some((remaining?, resets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    /// Response headers of the given names and values.
    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn an_absurd_reset_is_read_as_the_longest_wait_without_overflow() {
        let l = Limiter::default();
        let h = headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "1e19")]);
        let now = Instant::now();
        l.observe(Bucket::Account, &h, now);
        let reset = l.account.lock().expect("lock").reset_at.expect("a reset");
        assert_eq!(reset, now + crate::retry::MAX_SERVER_WAIT);
    }

    #[test]
    fn the_budgets_sizes_are_learnt_from_the_headers() {
        let l = Limiter::default();
        assert_eq!(l.limits(), Limits::default(), "nothing announced yet");
        let h = headers(&[
            ("x-rate-limit", "700"),
            (
                "zendesk-ratelimit-incremental-exports",
                "total=10; remaining=9; resets=42",
            ),
        ]);
        l.observe(Bucket::Export, &h, Instant::now());
        assert_eq!(
            l.limits(),
            Limits {
                account: Some(700),
                export: Some(10),
                logs: None,
            }
        );
        // A log's own budget is not the exports'.
        let h = headers(&[
            (
                "zendesk-ratelimit-omnilog-index",
                "total=100; remaining=7; resets=30",
            ),
            ("ratelimit-limit", "400"),
        ]);
        l.observe(Bucket::ConversationLog, &h, Instant::now());
        assert_eq!(l.limits().export, Some(10));
        assert_eq!(l.limits().account, Some(400));
        assert_eq!(l.limits().logs, Some(100));
    }

    #[test]
    fn the_conversation_log_budget_is_its_own() {
        assert_eq!(
            Bucket::for_path("/api/v2/tickets/conversation_log"),
            Bucket::ConversationLog
        );
        let l = Limiter::default();
        let h = headers(&[
            (
                "zendesk-ratelimit-omnilog-index",
                "total=100; remaining=7; resets=30",
            ),
            ("ratelimit-remaining", "500"),
        ]);
        l.observe(Bucket::ConversationLog, &h, Instant::now());
        let lock = |m: &Mutex<State>| m.lock().expect("lock").remaining;
        assert_eq!(lock(&l.conversation_log), Some(7));
        assert_eq!(lock(&l.account), Some(500));
        assert_eq!(lock(&l.export), None, "the export budget is untouched");
    }

    #[test]
    fn a_snapshot_seeds_a_new_limiter_with_what_is_left_until_the_window_turns() {
        let old = Limiter::default();
        let h = headers(&[
            (
                "zendesk-ratelimit-incremental-exports",
                "total=10; remaining=0; resets=40",
            ),
            ("ratelimit-remaining", "650"),
            ("ratelimit-reset", "20"),
        ]);
        let now = Instant::now();
        old.observe(Bucket::Export, &h, now);
        let snap = old.snapshot(now, 1_000_000);
        assert!(snap.contains(&BudgetSnapshot {
            bucket: Bucket::Export,
            remaining: 0,
            resets_at_ms: 1_040_000
        }));
        // Ten seconds later, in another process.
        let new = Limiter::default();
        let later = now + Duration::from_secs(10);
        new.seed(&snap, later, 1_010_000);
        assert_eq!(
            new.try_take(Bucket::Export, 0.into(), false, later),
            Some(later + Duration::from_secs(30)),
            "the spent export budget is waited for"
        );
        assert_eq!(new.try_take(Bucket::Account, 0.into(), false, later), None);
        assert_eq!(new.account.lock().expect("lock").remaining, Some(649));
    }

    #[test]
    fn a_snapshot_whose_window_turned_is_ignored() {
        let new = Limiter::default();
        let snap = [BudgetSnapshot {
            bucket: Bucket::Export,
            remaining: 0,
            resets_at_ms: 1_000,
        }];
        let now = Instant::now();
        new.seed(&snap, now, 2_000);
        assert_eq!(new.try_take(Bucket::Export, 0.into(), false, now), None);
    }

    #[test]
    fn the_search_export_budget_is_counted_here_a_hundred_a_minute() {
        assert_eq!(
            Bucket::for_path("/api/v2/search/export"),
            Bucket::SearchExport
        );
        let l = Limiter::default();
        let now = Instant::now();
        for i in 0..SEARCH_EXPORT_PER_MIN {
            assert_eq!(
                l.try_take(Bucket::SearchExport, 0.into(), false, now),
                None,
                "request {i}"
            );
        }
        let wait = l.try_take(Bucket::SearchExport, 0.into(), false, now);
        assert_eq!(wait, Some(now + WINDOW), "the 101st waits for the minute");
        assert_eq!(
            l.try_take(Bucket::SearchExport, 0.into(), false, now + WINDOW),
            None,
            "a new minute starts full"
        );
    }

    #[test]
    fn answers_of_requests_side_by_side_never_raise_the_count() {
        // 10 left, 4 sent at once: the first answer says 9, but the 3
        // still in flight will be spent too.
        assert_eq!(remaining_after(Some(6), true, 9, 3), 6);
        assert_eq!(remaining_after(None, false, 9, 3), 6);
        // A late answer of an earlier request says more than is left.
        assert_eq!(remaining_after(Some(2), true, 5, 0), 2);
        // A new window: what the answer says, less what is in flight.
        assert_eq!(remaining_after(Some(0), false, 100, 2), 98);
    }

    #[test]
    fn a_request_waits_for_the_window_to_turn() {
        let now = Instant::now();
        let until = now + Duration::from_secs(40);
        assert_eq!(
            wait_before_asking(until, now, false),
            Duration::from_secs(40) + MARGIN
        );
    }

    #[test]
    fn a_yielding_request_asks_again_every_second() {
        // Held by what it keeps for others, which they may drop meanwhile.
        let now = Instant::now();
        let until = now + Duration::from_secs(40);
        assert_eq!(wait_before_asking(until, now, true), RESERVE_RECHECK);
        let soon = now + Duration::from_millis(10);
        assert_eq!(
            wait_before_asking(soon, now, true),
            Duration::from_millis(10) + MARGIN
        );
    }

    #[test]
    fn an_answer_of_the_next_window_is_not_held_to_the_last_ones_count() {
        let now = Instant::now();
        let ours = Some(now + Duration::from_millis(800));
        // The server's window turned before ours (its reset is rounded up):
        // an answer telling of a whole new minute is of the next window.
        assert!(!same_window(ours, Some(now + WINDOW), now));
        // Answers of the same window tell about the same reset.
        assert!(same_window(ours, Some(now + Duration::from_secs(1)), now));
        assert!(same_window(ours, None, now), "no reset told");
        assert!(!same_window(ours, None, now + Duration::from_secs(1)));
        assert!(!same_window(None, Some(now + WINDOW), now));
    }

    #[test]
    fn a_budget_spent_here_is_full_again_when_the_server_says_its_window_turned() {
        let l = Limiter::default();
        let now = Instant::now();
        let h = headers(&[(
            "zendesk-ratelimit-incremental-exports",
            "total=10; remaining=0; resets=1",
        )]);
        l.observe(Bucket::Export, &h, now);
        let later = now + Duration::from_millis(300);
        let h = headers(&[(
            "zendesk-ratelimit-incremental-exports",
            "total=10; remaining=9; resets=60",
        )]);
        l.observe(Bucket::Export, &h, later);
        assert_eq!(
            l.try_take(Bucket::Export, 0.into(), false, later),
            None,
            "9 are left in the new window"
        );
    }

    #[test]
    fn concurrent_requests_are_counted_until_answered() {
        let l = Limiter::default();
        let now = Instant::now();
        let h = headers(&[(
            "zendesk-ratelimit-omnilog-index",
            "total=100; remaining=3; resets=30",
        )]);
        l.observe(Bucket::ConversationLog, &h, now);
        for _ in 0..3 {
            assert_eq!(
                l.try_take(Bucket::ConversationLog, 0.into(), false, now),
                None
            );
        }
        assert!(
            l.try_take(Bucket::ConversationLog, 0.into(), false, now)
                .is_some(),
            "spent"
        );
        // The first of the three answers says 2 left: 2 more are in flight.
        let h = headers(&[(
            "zendesk-ratelimit-omnilog-index",
            "total=100; remaining=2; resets=30",
        )]);
        l.observe(Bucket::ConversationLog, &h, now);
        assert!(
            l.try_take(Bucket::ConversationLog, 0.into(), false, now)
                .is_some(),
            "still spent"
        );
    }

    #[test]
    fn export_header_parses() {
        assert_eq!(
            parse_export_header("total=10; remaining=9; resets=42"),
            Some((9, Some(42)))
        );
        assert_eq!(parse_export_header("remaining=0"), Some((0, None)));
        assert_eq!(parse_export_header("garbage"), None);
    }

    #[test]
    fn buckets_by_path() {
        assert_eq!(
            Bucket::for_path("/api/v2/incremental/tickets/cursor"),
            Bucket::Export
        );
        assert_eq!(
            Bucket::for_path("/api/v2/incremental/ticket_events"),
            Bucket::Export
        );
        assert_eq!(
            Bucket::for_path("/api/v2/incremental/users/cursor"),
            Bucket::UsersExport
        );
        assert_eq!(Bucket::for_path("/api/v2/users/show_many"), Bucket::Account);
    }

    #[test]
    fn spent_budget_waits_until_the_window_turns() {
        let l = Limiter::default();
        let now = Instant::now();
        let h = headers(&[
            ("ratelimit-remaining", "500"),
            ("ratelimit-reset", "30"),
            (
                "zendesk-ratelimit-incremental-exports",
                "total=10; remaining=1; resets=42",
            ),
        ]);
        l.observe(Bucket::Export, &h, now);
        assert_eq!(
            l.try_take(Bucket::Export, 0.into(), false, now),
            None,
            "one export request left"
        );
        assert_eq!(
            l.try_take(Bucket::Export, 0.into(), false, now),
            Some(now + Duration::from_secs(42)),
            "then wait for the reset"
        );
        assert_eq!(
            l.try_take(Bucket::Account, 0.into(), false, now),
            None,
            "the account budget is separate"
        );
        assert_eq!(
            l.try_take(
                Bucket::Export,
                0.into(),
                false,
                now + Duration::from_secs(43)
            ),
            None,
            "a new window"
        );
    }

    #[test]
    fn account_reserve_is_kept() {
        let l = Limiter::default();
        let now = Instant::now();
        let h = headers(&[("x-rate-limit-remaining", "3")]);
        l.observe(Bucket::Account, &h, now);
        assert_eq!(l.try_take(Bucket::Account, 2.into(), false, now), None);
        assert!(
            l.try_take(Bucket::Account, 2.into(), false, now).is_some(),
            "two kept in reserve"
        );
    }

    #[test]
    fn a_share_is_kept_until_the_others_spent_it() {
        let r = Reserve {
            requests: 10,
            share: 100,
        };
        assert_eq!(r.keep(0), 110);
        assert_eq!(r.keep(40), 70);
        assert_eq!(r.keep(150), 10, "the fixed part stays");
    }

    /// An account window of 700 in which others spent 300 already.
    fn others_spent_300() -> (Limiter, Instant) {
        let l = Limiter::default();
        let now = Instant::now();
        let h = headers(&[
            ("x-rate-limit", "700"),
            ("x-rate-limit-remaining", "400"),
            ("ratelimit-reset", "30"),
        ]);
        l.observe(Bucket::Account, &h, now);
        (l, now)
    }

    #[test]
    fn a_yielding_request_leaves_the_others_what_is_left_of_their_share() {
        let (l, now) = others_spent_300();
        let yielding = Reserve {
            requests: 0,
            share: 500,
        };
        assert_eq!(l.room(Bucket::Account, yielding, now), Some(200));
        for _ in 0..200 {
            assert_eq!(l.try_take(Bucket::Account, yielding, true, now), None);
        }
        let reset = now + Duration::from_secs(30);
        assert_eq!(
            l.try_take(Bucket::Account, yielding, true, now),
            Some(reset),
            "200 left: the others' 200 unspent"
        );
        assert_eq!(
            l.try_take(Bucket::Account, Reserve::default(), false, now),
            None,
            "others go on"
        );
        assert_eq!(
            l.room(Bucket::Account, yielding, now),
            Some(0),
            "what the others spend comes off their share"
        );
    }

    #[test]
    fn room_is_unknown_once_the_window_turned() {
        let (l, now) = others_spent_300();
        assert_eq!(
            l.room(
                Bucket::Account,
                Reserve::default(),
                now + Duration::from_secs(31)
            ),
            None
        );
    }

    #[test]
    fn a_yielding_request_leaves_the_logs_budget_its_share_too() {
        let l = Limiter::default();
        let now = Instant::now();
        let h = headers(&[(
            "zendesk-ratelimit-omnilog-index",
            "total=300; remaining=100; resets=30",
        )]);
        l.observe(Bucket::ConversationLog, &h, now);
        let share = Reserve {
            requests: 0,
            share: 300,
        };
        // The others spent 200 of the 300: 100 are theirs still.
        assert!(
            l.try_take(Bucket::ConversationLog, share, true, now)
                .is_some()
        );
        assert_eq!(
            l.try_take(Bucket::ConversationLog, Reserve::default(), true, now),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_request_goes_once_its_reserve_is_lowered() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let (l, _) = others_spent_300();
        // The others may spend the whole window: nothing to spare.
        let share = std::sync::Arc::new(AtomicU32::new(700));
        let lower = share.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            lower.store(0, Ordering::Relaxed);
        });
        let reserve = |_| Reserve {
            requests: 0,
            share: share.load(Ordering::Relaxed),
        };
        let slept = l.acquire(Bucket::Account, true, reserve).await;
        assert!(slept >= Duration::from_secs(2), "{slept:?}");
        assert!(
            slept <= Duration::from_secs(3),
            "asked again within a second: {slept:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_sleeps_past_the_reset() {
        let l = Limiter::default();
        let h = headers(&[(
            "zendesk-ratelimit-incremental-exports",
            "total=10; remaining=0; resets=5",
        )]);
        l.observe(Bucket::Export, &h, Instant::now());
        let slept = l.acquire(Bucket::Export, false, |_| 0.into()).await;
        assert!(slept >= Duration::from_secs(5), "{slept:?}");
        assert!(slept < Duration::from_secs(7), "{slept:?}");
    }
}
