//! Pages of the ticket events export that one step of a process read and
//! the next step will ask for again: planning a backfill reads the events
//! at the start of history and an hour ago, which are the first pages the
//! history walk and the first sync read. On the export budget (10 requests
//! a minute) each such page saved is six seconds of a backfill.
//!
//! A kept page is served once, and only for a short while: the export's
//! page at a start time holds the events from then on, which never change,
//! and its end (where the reader goes on from) lies within the page, so a
//! page read a few minutes ago is as good as one read now. A page nobody
//! asks for is dropped when it expires or when more are kept: a process
//! holds a few pages at most, whatever the number of accounts it serves
//! (a worker that plans first syncs and leaves their windows to others
//! never asks for the first page again).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::EventsPage;

/// How long a kept page is served.
pub const KEEP_FOR: Duration = Duration::from_secs(600);
/// The most pages kept at once, of all accounts (the oldest goes first).
const MOST_KEPT: usize = 8;

/// Events export pages kept for the next reader of the same start time on
/// the same account, shared by the clients of one process.
#[derive(Default)]
pub struct KeptPages {
    pages: Mutex<Vec<Kept>>,
}

struct Kept {
    /// The account's API address.
    account: String,
    start: i64,
    at: Instant,
    page: EventsPage,
}

impl std::fmt::Debug for KeptPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let starts: Vec<i64> = self.lock().iter().map(|k| k.start).collect();
        f.debug_struct("KeptPages")
            .field("starts", &starts)
            .finish()
    }
}

impl KeptPages {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        self.pages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `page`, read at `now` from `start` on `account`, for the next
    /// reader.
    pub fn keep(&self, account: &str, start: i64, page: EventsPage, now: Instant) {
        let mut pages = self.lock();
        pages.retain(|k| !(k.account == account && k.start == start) && fresh(k, now));
        if pages.len() >= MOST_KEPT {
            pages.remove(0);
        }
        pages.push(Kept {
            account: account.to_string(),
            start,
            at: now,
            page,
        });
    }

    /// The page kept for `start` on `account`, if one is still fresh at
    /// `now`; it is served this once.
    pub fn take(&self, account: &str, start: i64, now: Instant) -> Option<EventsPage> {
        let mut pages = self.lock();
        pages.retain(|k| fresh(k, now));
        let i = pages
            .iter()
            .position(|k| k.account == account && k.start == start)?;
        Some(pages.remove(i).page)
    }
}

fn fresh(k: &Kept, now: Instant) -> bool {
    now.saturating_duration_since(k.at) < KEEP_FOR
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "https://acme.zendesk.com";

    fn page(next: i64) -> EventsPage {
        EventsPage {
            next_start_time: next,
            ..EventsPage::default()
        }
    }

    #[test]
    fn a_kept_page_is_served_once() {
        let kept = KeptPages::default();
        let now = Instant::now();
        kept.keep(A, 100, page(200), now);
        let served = kept.take(A, 100, now).expect("the kept page");
        assert_eq!(served.next_start_time, 200);
        assert!(kept.take(A, 100, now).is_none(), "served once only");
    }

    #[test]
    fn a_page_of_another_start_is_not_served() {
        let kept = KeptPages::default();
        let now = Instant::now();
        kept.keep(A, 100, page(200), now);
        assert!(kept.take(A, 101, now).is_none());
        assert!(kept.take(A, 100, now).is_some(), "still kept for its start");
    }

    #[test]
    fn a_page_of_another_account_is_not_served() {
        let kept = KeptPages::default();
        let now = Instant::now();
        kept.keep(A, 100, page(200), now);
        assert!(kept.take("https://other.zendesk.com", 100, now).is_none());
        assert!(kept.take(A, 100, now).is_some());
    }

    #[test]
    fn an_expired_page_is_not_served() {
        let kept = KeptPages::default();
        let now = Instant::now();
        kept.keep(A, 100, page(200), now);
        assert!(kept.take(A, 100, now + KEEP_FOR).is_none());
    }

    #[test]
    fn the_oldest_page_goes_when_too_many_are_kept() {
        let kept = KeptPages::default();
        let now = Instant::now();
        for start in 0..=MOST_KEPT as i64 {
            kept.keep(A, start, page(start + 1), now);
        }
        assert!(kept.take(A, 0, now).is_none(), "the oldest was dropped");
        assert!(kept.take(A, MOST_KEPT as i64, now).is_some());
    }

    #[test]
    fn keeping_a_start_again_replaces_its_page() {
        let kept = KeptPages::default();
        let now = Instant::now();
        kept.keep(A, 100, page(200), now);
        kept.keep(A, 100, page(300), now);
        assert_eq!(kept.take(A, 100, now).map(|p| p.next_start_time), Some(300));
        assert!(kept.take(A, 100, now).is_none());
    }
}
