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
//! holds a few pages at most, whatever the number of connections it serves
//! (a worker that plans first syncs and leaves their windows to others
//! never asks for the first page again).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::EventsPage;

/// How long a kept page is served.
pub const KEEP_FOR: Duration = Duration::from_secs(600);
/// The most pages kept at once, of all connections (the oldest goes first).
const MOST_KEPT: usize = 8;

/// Events export pages kept for the next reader of the same start time on
/// the same connection, shared by the clients of one process.
#[derive(Default)]
pub struct KeptPages {
    pages: Mutex<Vec<Kept>>,
}

struct Kept {
    /// The connection's key ([`KeptPages::keeper`]).
    key: String,
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

/// A client's hold on its process's kept pages, under its connection's
/// key: a page is only ever served to a client of the connection that
/// read it (another connection to the same account may not be allowed
/// to read the export).
#[derive(Clone, Debug)]
pub struct Keeper {
    pages: Arc<KeptPages>,
    key: String,
}

impl Keeper {
    /// Keeps `page`, read at `now` from `start`, for the next reader.
    pub fn keep(&self, start: i64, page: EventsPage, now: Instant) {
        self.pages.keep(&self.key, start, page, now);
    }

    /// The page kept for `start`, if still fresh; served this once.
    pub fn take(&self, start: i64, now: Instant) -> Option<EventsPage> {
        self.pages.take(&self.key, start, now)
    }
}

impl KeptPages {
    /// The hold of the clients of the connection that `key` names.
    pub fn keeper(self: &Arc<Self>, key: &str) -> Keeper {
        Keeper {
            pages: self.clone(),
            key: key.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        self.pages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `page`, read at `now` from `start` by the connection
    /// `key`, for the next reader.
    fn keep(&self, key: &str, start: i64, page: EventsPage, now: Instant) {
        let mut pages = self.lock();
        pages.retain(|k| !(k.key == key && k.start == start) && fresh(k, now));
        if pages.len() >= MOST_KEPT {
            pages.remove(0);
        }
        pages.push(Kept {
            key: key.to_string(),
            start,
            at: now,
            page,
        });
    }

    /// The page kept for `start` by the connection `key`, if one is
    /// still fresh at `now`; it is served this once.
    fn take(&self, key: &str, start: i64, now: Instant) -> Option<EventsPage> {
        let mut pages = self.lock();
        pages.retain(|k| fresh(k, now));
        let i = pages
            .iter()
            .position(|k| k.key == key && k.start == start)?;
        Some(pages.remove(i).page)
    }
}

fn fresh(k: &Kept, now: Instant) -> bool {
    now.saturating_duration_since(k.at) < KEEP_FOR
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "acme";

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
    fn a_page_of_another_connection_is_not_served() {
        let kept = KeptPages::default();
        let now = Instant::now();
        kept.keep(A, 100, page(200), now);
        assert!(kept.take("acme-agent", 100, now).is_none());
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
