//! The agents' path: the sync of a connection made with a non-admin
//! agent, who may not read the incremental exports ([`crate::access`]).
//!
//! - **Tickets** come from the search export (`/api/v2/search/export`,
//!   `filter[type]=ticket`, 1,000 a page, cursor pages), one **window** of
//!   update times at a time: the first run reads every ticket updated
//!   before Zendesk's clock (`updated<NOW`), each later run the tickets
//!   updated since the last window's end less [`OVERLAP`]
//!   (`updated>=FROM updated<NOW`). The overlap covers the search index's
//!   lag (seconds to minutes), and including the bound means tickets that
//!   share a second are all read.
//! - A ticket whose `updated_at` is the one stored is skipped (the overlap
//!   and a repeated page cost no further request); any other gets **all
//!   its comments** (`/tickets/{id}/comments`, cursor pages of 100), eight
//!   at a time on the account budget, and its chat history or
//!   conversation log when its channel calls for one. A 404 there is a
//!   deleted ticket: its state and document go.
//! - Users and organizations come by `show_many` (the renderer's own
//!   look-ups); satisfaction ratings from the ticket itself, their reason
//!   names when the agent may read the reasons list (else the ticket's
//!   own text).
//! - **Resuming**: the window and the export's cursor are saved after each
//!   page. The export's cursors expire after about an hour; as its results
//!   come newest first by creation time, a walk whose cursor was refused
//!   goes on from the oldest creation time it had reached (`created<`),
//!   re-reading only the tickets of that second (when the results were not
//!   in that order it reads the window again, cheaply: stored tickets are
//!   skipped).
//! - **Deletions**: search never returns a deleted ticket, so the daily
//!   refresh checks the stored tickets with `show_many` ([`reconcile`]).
//!
//! Its cost: one search page per 1,000 tickets (its own 100 a minute) and
//! about one request per changed ticket (more for tickets past 100
//! comments), against a few per 1,000 on the exports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zdsync_store::{CursorKind, TicketWrite};
use zdsync_zendesk::types::{Ticket, TicketStatus};

use crate::Engine;
use crate::error::{Context, EngineError, Result};
use crate::render::Pending;
use crate::state::TicketState;
use crate::sync::{Phase, SyncReport, Unavailable, Walk, epoch, newest};

/// How far back each window reaches before the last one's end: longer than
/// the search index's lag, so a ticket indexed late is still read.
pub const OVERLAP: i64 = 15 * 60;

/// Where an agent connection's walk stands (`CURSOR#search`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchCursor {
    /// Every ticket updated before this time (Zendesk's clock, epoch
    /// seconds) has been read, as far as the index showed it.
    #[serde(default)]
    pub reached: Option<i64>,
    /// The window being read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<OpenWindow>,
}

/// A window of update times `[from, until)` being read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenWindow {
    /// `None`: from the start of history.
    #[serde(default)]
    pub from: Option<i64>,
    pub until: i64,
    /// The export's cursor for the next page of the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The query's own bound on creation times (`created<bound`), set when
    /// a walk resumed after its cursor was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<i64>,
    /// The oldest creation time reached: every ticket of the window
    /// created after it has been read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at_most: Option<i64>,
    /// Every page so far came newest first by creation time.
    #[serde(default = "yes")]
    pub in_order: bool,
}

fn yes() -> bool {
    true
}

impl SearchCursor {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(s: &str) -> Result<SearchCursor> {
        serde_json::from_str(s).map_err(|e| {
            EngineError::Corrupt(format!(
                "the saved search cursor cannot be read ({}); run `zdsync backfill` to start over",
                zdsync_zendesk::redact::json_error(&e)
            ))
        })
    }

    /// The window to read now: the open one, or the tickets updated since
    /// an overlap before the last window's end, up to `now`.
    pub fn window(&self, now: i64) -> OpenWindow {
        self.open.clone().unwrap_or_else(|| OpenWindow {
            from: self.reached.map(|r| (r - OVERLAP).max(0)),
            until: now.max(self.reached.unwrap_or(0)),
            after: None,
            bound: None,
            created_at_most: None,
            in_order: true,
        })
    }
}

impl OpenWindow {
    /// The search query of the window.
    pub fn query(&self) -> String {
        let mut terms = Vec::new();
        if let Some(f) = self.from {
            terms.push(format!("updated>={}", time(f)));
        }
        terms.push(format!("updated<{}", time(self.until)));
        if let Some(b) = self.bound {
            terms.push(format!("created<{}", time(b)));
        }
        terms.join(" ")
    }

    /// The window after a page whose tickets had these creation times,
    /// with the export's next cursor (`None`: the window is read whole).
    pub fn after_page(mut self, created: &[i64], next: Option<String>) -> Option<OpenWindow> {
        let next = next?;
        let mut last = self.created_at_most;
        for &c in created {
            if last.is_some_and(|l| c > l) {
                self.in_order = false;
            }
            last = Some(last.map_or(c, |l| l.min(c)));
        }
        self.created_at_most = last;
        self.after = Some(next);
        Some(self)
    }

    /// The window once the export refused its cursor: resumed from the
    /// oldest creation time reached (its second included), or read again
    /// from its start when the results were not in creation order.
    pub fn cursor_refused(mut self) -> OpenWindow {
        self.after = None;
        match (self.in_order, self.created_at_most) {
            (true, Some(c)) => self.bound = Some(c + 1),
            _ => {
                self.bound = None;
                self.created_at_most = None;
                self.in_order = true;
            }
        }
        self
    }
}

/// RFC 3339 (UTC, seconds) of epoch seconds, as the search language takes.
fn time(epoch_secs: i64) -> String {
    jiff::Timestamp::from_second(epoch_secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

impl Walk<'_> {
    /// The live walk of an agent connection; true once its window is read.
    pub(crate) async fn search(&mut self, report: &mut SyncReport) -> Result<bool> {
        let mut stored = self
            .engine
            .store
            .get_cursor(&self.conn.name, CursorKind::Search)
            .await
            .context(|| "reading the search cursor".into())?;
        let mut cursor = stored
            .as_deref()
            .map(SearchCursor::decode)
            .transpose()?
            .unwrap_or_default();
        let now = self
            .client
            .server_time()
            .unwrap_or_else(|| crate::now_ms() / 1000);
        let mut window = cursor.window(now);
        let mut taken = 0;
        loop {
            if !self.may_continue(taken) {
                return Ok(false);
            }
            taken += 1;
            let page = self.search_page_of(&mut window).await?;
            self.pages += 1;
            report.ticket_pages += 1;
            report.tickets_seen += page.tickets.len() as u64;
            let created: Vec<i64> = page
                .tickets
                .iter()
                .filter_map(|t| epoch(t.created_at.as_deref()))
                .collect();
            self.search_page(page.tickets).await?;
            cursor = match window.clone().after_page(&created, page.after_cursor) {
                Some(next) => {
                    window = next.clone();
                    SearchCursor {
                        reached: cursor.reached,
                        open: Some(next),
                    }
                }
                None => SearchCursor {
                    reached: Some(window.until),
                    open: None,
                },
            };
            self.put_cursor(CursorKind::Search, &cursor.encode(), &mut stored)
                .await?;
            self.progress(
                Phase::Search,
                created.last().copied().unwrap_or(window.until),
            );
            if cursor.open.is_none() {
                return Ok(true);
            }
            self.lease.check()?;
        }
    }

    /// The window's next page. A saved cursor the export refuses (they
    /// expire after about an hour) gives way to resuming by creation time
    /// ([`OpenWindow::cursor_refused`]).
    async fn search_page_of(&self, window: &mut OpenWindow) -> Result<zdsync_zendesk::SearchPage> {
        loop {
            match self
                .client
                .search_tickets_page(&window.query(), window.after.as_deref())
                .await
            {
                Ok(p) => return Ok(p),
                Err(zdsync_zendesk::Error::Rejected { status, code, .. })
                    if window.after.is_some() =>
                {
                    tracing::warn!(
                        status,
                        ?code,
                        "the search export refused its saved cursor; resuming by creation time"
                    );
                    *window = window.clone().cursor_refused();
                }
                Err(e) => {
                    return Err(EngineError::Zendesk {
                        context: format!("searching tickets ({})", window.query()),
                        source: e,
                    });
                }
            }
        }
    }

    /// Stores one page of search results: tickets whose `updated_at` moved
    /// past the stored one get their comments (and chat or log) read and
    /// their documents rendered; those Zendesk no longer has are removed.
    async fn search_page(&mut self, tickets: Vec<Ticket>) -> Result<()> {
        let mut latest: BTreeMap<u64, Ticket> = BTreeMap::new();
        for t in tickets
            .into_iter()
            .filter(|t| t.status != TicketStatus::Deleted)
        {
            let old = latest.remove(&t.id);
            latest.insert(t.id, newest(old, t));
        }
        if latest.is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = latest.keys().copied().collect();
        let mut states = self.load_states(&ids).await?;
        let mut batch = Vec::new();
        for (id, ticket) in latest {
            let (mut state, hash) = states
                .remove(&id)
                .map_or((TicketState::default(), None), |(s, h)| (s, Some(h)));
            if !moved(state.ticket.as_ref(), &ticket) {
                continue;
            }
            state.ticket = Some(newest(state.ticket.take(), ticket));
            batch.push(Pending {
                ticket_id: id,
                state,
                stored_state_hash: hash,
            });
        }
        let wanted: Vec<u64> = batch.iter().map(|p| p.ticket_id).collect();
        let (read, gone) = self.fetch_comments(&mut batch, wanted).await?;
        self.renderer.counters.comment_reads += read;
        let mut writes = self.forget_gone(&gone).await?;
        batch.retain(|p| !gone.iter().any(|(id, _)| *id == p.ticket_id));
        self.read_threads(&mut batch).await?;
        writes.extend(
            self.renderer
                .render_batch(self.engine, &self.client, &batch)
                .await?,
        );
        self.write(&writes).await
    }

    /// The writes that remove tickets Zendesk answered 404 for. One out of
    /// the agent's sight (403) keeps what is stored until the daily check
    /// ([`reconcile`]) decides.
    async fn forget_gone(&mut self, gone: &[(u64, Unavailable)]) -> Result<Vec<TicketWrite>> {
        let deleted: Vec<u64> = gone
            .iter()
            .filter(|(_, why)| *why == Unavailable::Deleted)
            .map(|(id, _)| *id)
            .collect();
        let writes = deletions(self.engine, &self.conn.name, &deleted).await?;
        self.renderer.counters.tickets_deleted += writes.len() as u64;
        Ok(writes)
    }
}

/// Whether a search result is newer than the stored snapshot (a stored
/// ticket whose `updated_at` has not moved needs no read).
fn moved(stored: Option<&Ticket>, found: &Ticket) -> bool {
    let Some(stored) = stored else {
        return true;
    };
    match (
        epoch(stored.updated_at.as_deref()),
        epoch(found.updated_at.as_deref()),
    ) {
        (Some(s), Some(f)) => f > s,
        _ => stored.updated_at != found.updated_at || found.updated_at.is_none(),
    }
}

/// Writes that remove the given tickets' states and documents (those
/// stored; the counters are the caller's).
pub(crate) async fn deletions(
    engine: &Engine,
    name: &str,
    ids: &[u64],
) -> Result<Vec<TicketWrite>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let states = engine
        .store
        .get_states(name, ids)
        .await
        .context(|| "reading ticket states".into())?;
    let docs = engine
        .store
        .get_document_hashes(name, ids)
        .await
        .context(|| "reading document hashes".into())?;
    Ok(ids
        .iter()
        .filter(|id| states.contains_key(id) || docs.contains_key(id))
        .map(|&ticket_id| TicketWrite::DeleteTicket { ticket_id })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(from: Option<i64>, until: i64) -> OpenWindow {
        SearchCursor {
            reached: from,
            open: None,
        }
        .window(until)
    }

    #[test]
    fn the_first_window_reads_all_history_and_later_ones_overlap_the_last() {
        let first = SearchCursor::default().window(1_700_000_000);
        assert_eq!(first.from, None);
        assert_eq!(first.query(), "updated<2023-11-14T22:13:20Z");
        let later = open(Some(1_700_000_000), 1_700_003_600);
        assert_eq!(later.from, Some(1_700_000_000 - OVERLAP));
        assert_eq!(
            later.query(),
            "updated>=2023-11-14T21:58:20Z updated<2023-11-14T23:13:20Z"
        );
    }

    #[test]
    fn a_clock_behind_the_last_window_never_makes_a_window_end_before_it() {
        let w = open(Some(1_700_000_000), 1_600_000_000);
        assert_eq!(w.until, 1_700_000_000);
    }

    #[test]
    fn an_open_window_is_taken_up_as_saved() {
        let mut w = open(None, 100);
        w.after = Some("c2".into());
        let c = SearchCursor {
            reached: None,
            open: Some(w.clone()),
        };
        assert_eq!(c.window(999), w);
    }

    #[test]
    fn the_last_page_closes_the_window() {
        assert_eq!(open(None, 100).after_page(&[90, 80], None), None);
    }

    #[test]
    fn a_page_keeps_the_cursor_and_the_oldest_creation_time_reached() {
        let w = open(None, 100).after_page(&[90, 80, 80], Some("c1".into()));
        let w = w.expect("more pages");
        assert_eq!(w.after.as_deref(), Some("c1"));
        assert_eq!(w.created_at_most, Some(80));
        assert!(w.in_order);
    }

    #[test]
    fn a_refused_cursor_resumes_from_the_second_reached_included() {
        let w = open(None, 100)
            .after_page(&[90, 80], Some("c1".into()))
            .expect("more pages")
            .cursor_refused();
        assert_eq!(w.after, None);
        assert_eq!(w.bound, Some(81));
        assert_eq!(
            w.query(),
            "updated<1970-01-01T00:01:40Z created<1970-01-01T00:01:21Z"
        );
    }

    #[test]
    fn results_out_of_creation_order_make_a_refused_cursor_read_the_window_again() {
        let w = open(None, 100)
            .after_page(&[80, 90], Some("c1".into()))
            .expect("more pages");
        assert!(!w.in_order);
        let again = w.cursor_refused();
        assert_eq!(again.bound, None);
        assert_eq!(again.created_at_most, None);
        assert!(again.in_order);
    }

    #[test]
    fn a_later_page_newer_than_the_last_one_is_out_of_order() {
        let w = open(None, 100)
            .after_page(&[90, 80], Some("c1".into()))
            .and_then(|w| w.after_page(&[85], Some("c2".into())))
            .expect("more pages");
        assert!(!w.in_order);
    }

    fn ticket(updated: Option<&str>) -> Ticket {
        Ticket {
            id: 1,
            updated_at: updated.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn a_ticket_is_read_again_only_when_its_update_time_moved_forward() {
        let stored = ticket(Some("2024-03-15T12:00:00Z"));
        assert!(!moved(Some(&stored), &ticket(Some("2024-03-15T12:00:00Z"))));
        assert!(!moved(Some(&stored), &ticket(Some("2024-03-15T11:00:00Z"))));
        assert!(moved(Some(&stored), &ticket(Some("2024-03-15T12:00:01Z"))));
        assert!(moved(None, &stored));
        assert!(moved(Some(&ticket(None)), &ticket(None)));
    }
}
