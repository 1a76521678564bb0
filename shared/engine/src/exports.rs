//! The walk of both export streams of a span (the live streams, or one
//! window of a planned backfill), interleaved so that a ticket's state is
//! written once per run wherever its comments and its last change are read
//! close together (most tickets):
//!
//! 1. A page of the tickets export is read and **held**: its users and
//!    organizations are stored, its snapshots are not, its cursor stays.
//! 2. Pages of the ticket-events stream are read until that stream has
//!    passed the held page's newest snapshot. An events page's comments of
//!    a held ticket are written together with its snapshot, in one state
//!    write; its other comments are merged into their stored states.
//! 3. The held page is **finished**: the held tickets no events page
//!    touched get their snapshots, gaps in the bulk stream and chats are
//!    read, deleted tickets are removed, and the tickets cursor moves.
//!
//! Each stream's cursor moves only once its page is stored, so a crash
//! makes the rerun read at most one page of each stream again (a held page
//! is read again whole; the held tickets it had written are rewritten only
//! where they differ). While a page is stored, the next read is under way
//! ([`Walk::read_ahead`]). Which read comes next is [`next_step`], a pure
//! function of where the streams stand.

use std::collections::{BTreeMap, HashMap, HashSet};

use zdsync_store::TicketWrite;
use zdsync_zendesk::types::{Comment, Ticket, TicketStatus};
use zdsync_zendesk::{EventsPage, TicketCursor, TicketPage};

use crate::error::{Context, EngineError, Result};
use crate::render::Pending;
use crate::state::{TicketState, content_hash};
use crate::sync::{
    Phase, Span, SyncReport, TicketsCursor, Walk, epoch, load_states, newest, ticket_position,
};

/// Where the two streams of a walk stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Streams {
    /// Start time of the next events page.
    pub events_at: i64,
    pub events_done: bool,
    pub tickets_done: bool,
    /// The newest snapshot time of the held tickets page, if one is held.
    pub held_until: Option<i64>,
}

/// What the walk does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    ReadEvents,
    ReadTickets,
    /// Finish the held tickets page (no read).
    FinishHeld,
    Done,
}

/// The next step: a held page waits until the events stream has passed its
/// newest snapshot (a comment is never newer than its ticket's last
/// change), then is finished; with no page held, the tickets stream leads
/// and the events stream is read to its end after it.
pub(crate) fn next_step(s: &Streams) -> Step {
    match s.held_until {
        Some(until) if !s.events_done && s.events_at <= until => Step::ReadEvents,
        Some(_) => Step::FinishHeld,
        None if !s.tickets_done => Step::ReadTickets,
        None if !s.events_done => Step::ReadEvents,
        None => Step::Done,
    }
}

/// A tickets page read and not yet finished.
pub(crate) struct Held {
    /// The page's tickets of the span, the last copy of each.
    pub(crate) tickets: BTreeMap<u64, Ticket>,
    /// Held tickets an events page wrote with their snapshot: their state
    /// as written, and its hash.
    written: HashMap<u64, Pending>,
    /// The tickets position once the page is finished.
    reached: i64,
    /// The page ends the span's stream.
    pub(crate) done: bool,
    after: Option<String>,
    pub(crate) next: std::result::Result<Option<TicketCursor>, zdsync_zendesk::Error>,
}

impl Held {
    /// The held snapshot of a ticket an events page may write with it
    /// (a deleted ticket is only removed, when the page is finished).
    fn snapshot(&self, id: u64) -> Option<&Ticket> {
        self.tickets
            .get(&id)
            .filter(|t| t.status != TicketStatus::Deleted)
    }
}

/// A page read ahead, of one stream or the other.
enum Read {
    Events(std::result::Result<EventsPage, zdsync_zendesk::Error>),
    Tickets(std::result::Result<TicketPage, zdsync_zendesk::Error>),
}

/// The walk's positions and saved cursors.
struct Cursors {
    span: Span,
    /// Where this walk stops short of the span's end, because another walk
    /// reads the history above it per ticket ([`crate::pincer`]).
    cap: Option<i64>,
    events: Option<String>,
    tickets: Option<String>,
    streams: Streams,
    /// The tickets position reached by finished pages.
    position: i64,
    at: TicketCursor,
    held: Option<Held>,
    /// Pages taken this run, per stream ([`Walk::may_continue`]).
    taken: (u64, u64),
}

impl Cursors {
    /// Where the walk's streams end: the span's end, or the cap below it.
    fn until(&self) -> Option<i64> {
        match (self.span.until(), self.cap) {
            (Some(u), Some(c)) => Some(u.min(c)),
            (u, c) => u.or(c),
        }
    }

    /// The cap, when it ends the walk before the span does.
    fn binding_cap(&self) -> Option<i64> {
        self.cap
            .filter(|c| self.span.until().is_none_or(|u| *c < u))
    }

    /// Whether a stream position lies before the walk's end.
    fn holds(&self, position: i64) -> bool {
        self.until().is_none_or(|u| position < u)
    }

    /// The furthest position either stream has reached or holds.
    fn front(&self) -> i64 {
        self.streams
            .events_at
            .max(self.position)
            .max(self.streams.held_until.unwrap_or(i64::MIN))
    }

    /// Where the streams stand once the held page is finished.
    fn after_finishing(&self) -> Streams {
        let mut s = self.streams;
        if let Some(h) = &self.held {
            s.held_until = None;
            s.tickets_done = h.done || !matches!(h.next, Ok(Some(_)));
        }
        s
    }
}

impl Walk<'_> {
    /// Both export streams of the span; true once both are read to their
    /// end (the window's).
    pub(crate) async fn exports(&mut self, span: Span, report: &mut SyncReport) -> Result<bool> {
        let mut c = self.open_cursors(span).await?;
        let mut read = match next_step(&c.streams) {
            Step::ReadEvents => {
                Read::Events(self.client.ticket_events_page(c.streams.events_at).await)
            }
            Step::ReadTickets => Read::Tickets(self.client.tickets_page(&c.at).await),
            Step::FinishHeld | Step::Done => return Ok(true),
        };
        loop {
            let page = self.account(&mut c, read, report).await?;
            let finish = next_step(&c.streams) == Step::FinishHeld;
            let then = if finish {
                c.after_finishing()
            } else {
                c.streams
            };
            let step = next_step(&then);
            let per_ticket = step == Step::ReadEvents && !finish && self.finish_pays(&c);
            let ahead = match per_ticket {
                true => None.into(),
                false => self.read_next(&c, step, finish),
            };
            let (stored, fetched) = futures::join!(self.store_page(&mut c, page, finish), ahead);
            stored?;
            if per_ticket {
                self.finish_per_ticket(&mut c).await?;
                return Ok(true);
            }
            if step == Step::Done {
                return Ok(true);
            }
            self.lease.check()?;
            match fetched {
                Some(r) => read = r,
                // Out of time or pages: a held page is read again next run.
                None => return Ok(false),
            }
        }
    }

    /// Runs `f` on the cursors with the pincer's cap as it stands (see
    /// [`crate::pincer`]), and tells the pincer how far the walk got, in
    /// one step with the other walk's claims.
    fn under_cap<R>(&self, c: &mut Cursors, f: impl FnOnce(&mut Cursors) -> R) -> R {
        match &self.pincer {
            None => f(c),
            Some(p) => p.advance(|cap| {
                c.cap = Some(cap);
                let r = f(c);
                (r, c.front(), c.streams.events_at)
            }),
        }
    }

    /// Reads both cursors of the span.
    async fn open_cursors(&self, span: Span) -> Result<Cursors> {
        let store = &self.engine.store;
        let name = &self.conn.name;
        let events = store
            .get_cursor(name, span.events())
            .await
            .context(|| "reading the events cursor".into())?;
        let events_at: i64 = match events.as_deref() {
            Some(c) => c.parse().map_err(|_| {
                EngineError::Corrupt(format!(
                    "the events cursor of {name:?} is not a time ({c:?})"
                ))
            })?,
            None => span.start(),
        };
        let tickets = store
            .get_cursor(name, span.tickets())
            .await
            .context(|| "reading the tickets cursor".into())?;
        let saved = tickets.as_deref().map(TicketsCursor::decode).transpose()?;
        let position = saved.as_ref().map_or(span.start(), |c| c.ts);
        let at = match saved {
            Some(c) if !c.after.is_empty() => TicketCursor::After(c.after),
            _ => TicketCursor::Start(position),
        };
        Ok(Cursors {
            span,
            cap: None,
            events,
            tickets,
            streams: Streams {
                events_at,
                events_done: !span.holds(events_at),
                tickets_done: !span.holds(position),
                held_until: None,
            },
            position,
            at,
            held: None,
            taken: (0, 0),
        })
    }

    /// The read of the step, begun now (see [`Walk::read_ahead`]).
    fn read_next(
        &self,
        c: &Cursors,
        step: Step,
        finishing: bool,
    ) -> futures::future::OptionFuture<futures::future::BoxFuture<'static, Read>> {
        use futures::FutureExt;
        match step {
            Step::ReadEvents => {
                let at = c.streams.events_at;
                self.read_ahead(c.taken.0, |client| {
                    async move { Read::Events(client.ticket_events_page(at).await) }.boxed()
                })
            }
            Step::ReadTickets => {
                let next = match (&c.held, finishing) {
                    (
                        Some(Held {
                            next: Ok(Some(n)), ..
                        }),
                        true,
                    ) => n.clone(),
                    _ => c.at.clone(),
                };
                self.read_ahead(c.taken.1, |client| {
                    async move { Read::Tickets(client.tickets_page(&next).await) }.boxed()
                })
            }
            Step::FinishHeld | Step::Done => None.into(),
        }
    }

    /// Takes in a page that was read: moves the streams' positions and,
    /// for a tickets page, holds it. Returns the events page to store.
    async fn account(
        &mut self,
        c: &mut Cursors,
        read: Read,
        report: &mut SyncReport,
    ) -> Result<Option<EventsPage>> {
        self.pages += 1;
        match read {
            Read::Events(page) => {
                let start = c.streams.events_at;
                let page = page.context(|| format!("reading ticket events from {start}"))?;
                c.taken.0 += 1;
                report.event_pages += 1;
                self.under_cap(c, |c| {
                    c.streams.events_at = page.next_start_time;
                    c.streams.events_done = page.end_of_stream || !c.holds(page.next_start_time);
                });
                report.comments_seen += page
                    .comments
                    .iter()
                    .filter(|m| epoch(m.created_at.as_deref()).is_none_or(|t| c.holds(t)))
                    .count() as u64;
                Ok(Some(page))
            }
            Read::Tickets(page) => {
                let page = self
                    .tickets_page_or_restart(page, &mut c.at, c.position)
                    .await?;
                c.taken.1 += 1;
                report.ticket_pages += 1;
                report.tickets_seen += page.tickets.len() as u64;
                let (users, organizations) = (page.users.clone(), page.organizations.clone());
                // A full page's density, from its first ticket to its last.
                let full = !page.end_of_stream;
                let count = page.tickets.len();
                let from = page.tickets.iter().map(ticket_position).min();
                self.under_cap(c, |c| {
                    let held = hold(c.until(), c.position, &c.at, page);
                    c.streams.held_until = Some(held.reached);
                    c.held = Some(held);
                });
                if let (Some(p), Some(from), true) = (&self.pincer, from, full) {
                    let reached = c.held.as_ref().map_or(from, |h| h.reached);
                    p.saw_tickets_page(count, reached - from);
                }
                self.renderer
                    .store_entities(self.engine, &users, &organizations)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Stores an events page (and moves its cursor), then finishes the
    /// held page when it is due.
    async fn store_page(
        &mut self,
        c: &mut Cursors,
        page: Option<EventsPage>,
        finish: bool,
    ) -> Result<()> {
        if let Some(page) = page {
            let idle_end = page.events.is_empty() && page.end_of_stream;
            let in_window = c.span.0.is_some();
            self.events_page(in_window, c.until(), page, c.held.as_mut())
                .await?;
            let mut next = c.streams.events_at;
            if let (Some(cap), true) = (c.binding_cap(), c.streams.events_done) {
                // Read to the cap, and nothing at or above it.
                next = cap;
            } else if let (Some(until), true) = (c.span.until(), c.streams.events_done) {
                // A finished window says so in its cursor: a later delivery
                // of its work item reads nothing again.
                next = next.max(until);
            } else if idle_end {
                return self.finish_if(c, finish).await;
            }
            self.put_cursor(c.span.events(), &next.to_string(), &mut c.events)
                .await?;
            self.progress(Phase::Events, next);
        }
        self.finish_if(c, finish).await
    }

    async fn finish_if(&mut self, c: &mut Cursors, finish: bool) -> Result<()> {
        match c.held.take() {
            Some(held) if finish => self.finish(c, held, HashMap::new()).await,
            held => {
                c.held = held;
                Ok(())
            }
        }
    }

    /// Finishes a held page: every held ticket gets its snapshot (those an
    /// events page wrote have it) and the comments `fetched` per ticket,
    /// gaps and chats are read, deleted tickets are removed; then the
    /// tickets cursor moves.
    async fn finish(
        &mut self,
        c: &mut Cursors,
        held: Held,
        fetched: HashMap<u64, Vec<Comment>>,
    ) -> Result<()> {
        let Held {
            tickets,
            written,
            reached,
            done,
            after,
            next,
        } = held;
        let tickets_empty = tickets.is_empty();
        if !tickets_empty {
            self.store_held(tickets, written, fetched).await?;
        }
        c.position = reached;
        c.streams.held_until = None;
        c.streams.tickets_done = done || !matches!(next, Ok(Some(_)));
        let finished_window = c.until().filter(|_| done);
        if !tickets_empty || finished_window.is_some() {
            let capped = c.binding_cap().filter(|_| done);
            let value = match (capped, after) {
                // Stopped at the cap: the tickets above it that this page
                // left out are read again from the cap by a later walk.
                (Some(cap), _) => Some(TicketsCursor {
                    after: String::new(),
                    ts: cap,
                }),
                (None, Some(after)) => Some(TicketsCursor {
                    after,
                    ts: finished_window.map_or(reached, |u| reached.max(u)),
                }),
                (None, None) => None,
            };
            if let Some(value) = value.map(|v| v.encode()) {
                self.put_cursor(c.span.tickets(), &value, &mut c.tickets)
                    .await?;
            }
            self.progress(Phase::Tickets, reached);
        }
        if done {
            return Ok(());
        }
        if let Some(n) = next.context(|| "reading the tickets export".into())? {
            c.at = n;
        }
        Ok(())
    }

    /// Whether the rest of a capped walk is cheaper read per ticket than
    /// by the events stream ([`finishes_per_ticket`]), with a held page.
    fn finish_pays(&self, c: &Cursors) -> bool {
        c.held.as_ref().is_some_and(|h| {
            let owed = owed(h, c.streams.events_at).len();
            finishes_per_ticket(c.binding_cap().is_some(), h.done, owed, self.client.room())
        })
    }

    /// Ends a capped walk without its last events pages: the held tickets
    /// those pages would bring comments of are read per ticket, the held
    /// page is finished with them, and then the events cursor moves to the
    /// cap (in that order: a run cut off between the two reads the events
    /// again). A ticket Zendesk no longer shows is left to the next run,
    /// which sees its deletion.
    async fn finish_per_ticket(&mut self, c: &mut Cursors) -> Result<()> {
        let Some(mut held) = c.held.take() else {
            return Ok(());
        };
        let (fetched, vanished) = self.read_comments(owed(&held, c.streams.events_at)).await?;
        for id in vanished {
            held.tickets.remove(&id);
            held.written.remove(&id);
        }
        tracing::debug!(tickets = fetched.len(), "exports walk: finished per ticket");
        let end = self.under_cap(c, |c| {
            let end = c.until().unwrap_or(c.streams.events_at);
            c.streams.events_at = end;
            c.streams.events_done = true;
            end
        });
        self.finish(c, held, fetched).await?;
        self.put_cursor(c.span.events(), &end.to_string(), &mut c.events)
            .await?;
        self.progress(Phase::Events, end);
        Ok(())
    }

    /// The writes of a finished page's tickets (`fetched`: comments read
    /// per ticket before, merged into their states).
    pub(crate) async fn store_held(
        &mut self,
        tickets: BTreeMap<u64, Ticket>,
        mut written: HashMap<u64, Pending>,
        mut fetched: HashMap<u64, Vec<Comment>>,
    ) -> Result<()> {
        let unread: Vec<u64> = tickets
            .keys()
            .filter(|id| !written.contains_key(id))
            .copied()
            .collect();
        let mut states = load_states(self.engine, &self.conn.name, &unread).await?;
        let mut writes = self.deletions(&tickets, &states).await?;
        let mut batch = Vec::new();
        let mut rendered = HashSet::new();
        for (id, ticket) in tickets {
            if ticket.status == TicketStatus::Deleted {
                continue;
            }
            if let Some(mut p) = written.remove(&id) {
                match fetched.remove(&id) {
                    Some(comments) => {
                        p.state.absorb(&comments);
                    }
                    None => {
                        rendered.insert(id);
                    }
                }
                batch.push(p);
                continue;
            }
            let (mut state, hash) = states
                .remove(&id)
                .map_or((TicketState::default(), None), |(s, h)| (s, Some(h)));
            state.ticket = Some(newest(state.ticket.take(), ticket));
            if let Some(comments) = fetched.remove(&id) {
                state.absorb(&comments);
            }
            batch.push(Pending {
                ticket_id: id,
                state,
                stored_state_hash: hash,
            });
        }
        self.fill_gaps(&mut batch).await?;
        self.read_threads(&mut batch).await?;
        // A ticket an events page wrote with its snapshot was rendered then:
        // only a gap or a chat read since makes it differ.
        batch.retain(|p| !rendered.contains(&p.ticket_id) || changed(p));
        writes.extend(
            self.renderer
                .render_batch(self.engine, &self.client, &batch)
                .await?,
        );
        self.write(&writes).await
    }

    /// Stores one events page: its comments merged into their tickets'
    /// states (a held ticket's with its snapshot), and the documents of
    /// tickets that changed.
    async fn events_page(
        &mut self,
        in_window: bool,
        until: Option<i64>,
        page: EventsPage,
        mut held: Option<&mut Held>,
    ) -> Result<()> {
        let chats = page.chat_started_tickets();
        let by_ticket = comments_by_ticket(until, page, &chats);
        if by_ticket.is_empty() {
            return Ok(());
        }
        // Tickets not held here may be read per ticket by the other walk
        // of a pincer at the same time: their load and write are locked.
        let unheld: Vec<u64> = by_ticket
            .keys()
            .filter(|id| held.as_ref().is_none_or(|h| h.snapshot(**id).is_none()))
            .copied()
            .collect();
        let _locked = self.lock_tickets(unheld).await;
        let mut batch = self
            .merge(in_window, by_ticket, &chats, held.as_deref_mut())
            .await?;
        // A held ticket's chat or log is read now, with its snapshot, so
        // that finishing the page need not write it again.
        batch.sort_by_key(|p| {
            held.as_ref()
                .is_none_or(|h| h.snapshot(p.ticket_id).is_none())
        });
        let with_snapshots = batch
            .iter()
            .take_while(|p| {
                held.as_ref()
                    .is_some_and(|h| h.snapshot(p.ticket_id).is_some())
            })
            .count();
        self.read_threads(&mut batch[..with_snapshots]).await?;
        let writes = self
            .renderer
            .render_batch(self.engine, &self.client, &batch)
            .await?;
        self.write(&writes).await?;
        if let Some(h) = held {
            remember_written(h, batch, &writes);
        }
        Ok(())
    }

    /// The states an events page changes: its comments merged into each
    /// ticket's state (the held page's written state, else the stored one),
    /// a held ticket's snapshot set, a chat marked as started.
    async fn merge(
        &mut self,
        in_window: bool,
        by_ticket: BTreeMap<u64, Vec<Comment>>,
        chats: &[u64],
        mut held: Option<&mut Held>,
    ) -> Result<Vec<Pending>> {
        let unread: Vec<u64> = by_ticket
            .keys()
            .filter(|id| !held.as_ref().is_some_and(|h| h.written.contains_key(id)))
            .copied()
            .collect();
        let mut states = load_states(self.engine, &self.conn.name, &unread).await?;
        // In a window of a trial (a floor is set), a ticket whose comments
        // it holds is rendered even when they were all known (a gap fetch
        // of a newer window read them): the floor may have been above its
        // creation then (crate::history). Without a floor nothing is held
        // back, so nothing needs rendering again.
        let held_back_maybe = in_window && self.renderer.floor.is_some();
        let mut batch = Vec::new();
        for (id, comments) in by_ticket {
            let earlier = held.as_mut().and_then(|h| h.written.remove(&id));
            let (mut state, hash) = match earlier {
                Some(p) => (p.state, p.stored_state_hash),
                None => states
                    .remove(&id)
                    .map_or((TicketState::default(), None), |(s, h)| (s, Some(h))),
            };
            let snapshot = held.as_ref().and_then(|h| h.snapshot(id)).cloned();
            let with_snapshot = snapshot.is_some();
            if let Some(t) = snapshot {
                state.ticket = Some(newest(state.ticket.take(), t));
            }
            let chat_started = chats.binary_search(&id).is_ok() && !state.chat_seen;
            state.chat_seen |= chat_started;
            let absorbed = state.absorb(&comments);
            if absorbed || chat_started || held_back_maybe || with_snapshot {
                batch.push(Pending {
                    ticket_id: id,
                    state,
                    stored_state_hash: hash,
                });
            }
        }
        Ok(batch)
    }

    /// The tickets page read at `at`; a saved cursor Zendesk rejects
    /// (expired, invalid) is replaced by a start from the last position
    /// reached (re-reading a few tickets is harmless).
    async fn tickets_page_or_restart(
        &self,
        read: std::result::Result<TicketPage, zdsync_zendesk::Error>,
        at: &mut TicketCursor,
        position: i64,
    ) -> Result<TicketPage> {
        let read = match read {
            Err(zdsync_zendesk::Error::Rejected {
                status,
                code,
                message,
                ..
            }) if matches!(at, TicketCursor::After(_)) => {
                tracing::warn!(status, ?code, %message, position, "the saved tickets cursor was rejected; continuing from its time instead");
                *at = TicketCursor::Start(position.saturating_sub(1));
                self.client.tickets_page(at).await
            }
            other => other,
        };
        read.map_err(|e| EngineError::Zendesk {
            context: "reading the tickets export".into(),
            source: e,
        })
    }

    /// The writes that remove the page's deleted tickets that are stored
    /// (state or document).
    async fn deletions(
        &mut self,
        tickets: &BTreeMap<u64, Ticket>,
        states: &HashMap<u64, (TicketState, String)>,
    ) -> Result<Vec<TicketWrite>> {
        let deleted: Vec<u64> = tickets
            .values()
            .filter(|t| t.status == TicketStatus::Deleted)
            .map(|t| t.id)
            .collect();
        if deleted.is_empty() {
            return Ok(Vec::new());
        }
        let docs = self
            .engine
            .store
            .get_document_hashes(&self.conn.name, &deleted)
            .await
            .context(|| "reading document hashes".into())?;
        let mut writes = Vec::new();
        for id in &deleted {
            if states.contains_key(id) || docs.contains_key(id) {
                writes.push(TicketWrite::DeleteTicket { ticket_id: *id });
                self.renderer.counters.tickets_deleted += 1;
                if docs.contains_key(id) {
                    self.renderer.counters.documents_deleted += 1;
                }
            }
        }
        Ok(writes)
    }
}

/// Holds a tickets page read from `at`, with the position it reaches
/// (`until`: where the walk ends, if it does).
pub(crate) fn hold(
    until: Option<i64>,
    position: i64,
    at: &TicketCursor,
    mut page: TicketPage,
) -> Held {
    let holds = |p: i64| until.is_none_or(|u| p < u);
    let reached = page
        .tickets
        .iter()
        .map(ticket_position)
        .fold(position, i64::max);
    // The last copy of a ticket in a page wins; what lies beyond the
    // window belongs to the next one.
    let tickets = std::mem::take(&mut page.tickets)
        .into_iter()
        .filter(|t| holds(ticket_position(t)))
        .map(|t| (t.id, t))
        .collect();
    Held {
        tickets,
        written: HashMap::new(),
        reached,
        done: page.end_of_stream || !holds(reached),
        after: page.after_cursor.clone(),
        next: page.next_cursor(at),
    }
}

/// An events page's comments by ticket (those beyond a window left to the
/// next one), with an entry for every ticket whose chat started.
fn comments_by_ticket(
    until: Option<i64>,
    page: EventsPage,
    chats: &[u64],
) -> BTreeMap<u64, Vec<Comment>> {
    let mut comments = page.comments;
    if let Some(u) = until {
        comments.retain(|c| epoch(c.created_at.as_deref()).is_none_or(|t| t < u));
    }
    let mut by_ticket: BTreeMap<u64, Vec<Comment>> = BTreeMap::new();
    for c in comments {
        if let Some(t) = c.ticket_id {
            by_ticket.entry(t).or_default().push(c);
        }
    }
    for id in chats {
        by_ticket.entry(*id).or_default();
    }
    by_ticket
}

/// Keeps the states of the held tickets an events page wrote with their
/// snapshot, with the hash each is now stored with.
fn remember_written(held: &mut Held, batch: Vec<Pending>, writes: &[TicketWrite]) {
    let hashes: HashMap<u64, &str> = writes
        .iter()
        .filter_map(|w| match w {
            TicketWrite::PutState { ticket_id, blob } => Some((*ticket_id, blob.hash.as_str())),
            _ => None,
        })
        .collect();
    for mut p in batch {
        if held.snapshot(p.ticket_id).is_none() {
            continue;
        }
        if let Some(h) = hashes.get(&p.ticket_id) {
            p.stored_state_hash = Some(h.to_string());
        }
        held.written.insert(p.ticket_id, p);
    }
}

/// The most held tickets a capped walk reads per ticket instead of the
/// events left before the cap: a few parts of the per-ticket walk, under a
/// quarter of an account budget of 700 a minute (an events page holds
/// about 250 tickets' changes).
const FINISH_MOST: usize = 150;

/// Account requests a capped walk keeps besides a finish per ticket's.
const FINISH_SLACK: usize = 12;

/// Whether a walk stopping at a pincer's cap (`capped`), whose held page
/// ends it (`held_done`), reads the comments its events stream still owes
/// (of `owed` held tickets) per ticket instead: one events page costs an
/// export request, the scarce budget that bounds a backfill, where a few
/// dozen tickets cost as many requests of the account budget (`room`:
/// what is left of its window), counted with their chats at half as many
/// again. Below the cap every ticket is the walk's, and a ticket's
/// comments are all older than its last change, so the events left before
/// the cap hold comments of held tickets only, and of tickets above the
/// cap, which the other walk reads per ticket.
pub(crate) fn finishes_per_ticket(
    capped: bool,
    held_done: bool,
    owed: usize,
    room: Option<u32>,
) -> bool {
    capped
        && held_done
        && owed <= FINISH_MOST
        && room.is_some_and(|r| r as usize >= owed + owed / 2 + FINISH_SLACK)
}

/// The held tickets whose comments the events from `events_at` on may
/// still bring: those that changed since (deleted ones need none).
fn owed(held: &Held, events_at: i64) -> Vec<u64> {
    held.tickets
        .values()
        .filter(|t| t.status != TicketStatus::Deleted && ticket_position(t) >= events_at)
        .map(|t| t.id)
        .collect()
}

/// Whether a state differs from the one stored with its hash.
fn changed(p: &Pending) -> bool {
    p.state
        .encode()
        .map(|body| p.stored_state_hash.as_deref() != Some(content_hash(&body).as_str()))
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(
        events_at: i64,
        events_done: bool,
        tickets_done: bool,
        held: Option<i64>,
    ) -> Streams {
        Streams {
            events_at,
            events_done,
            tickets_done,
            held_until: held,
        }
    }

    #[test]
    fn with_no_page_held_the_tickets_stream_leads() {
        assert_eq!(
            next_step(&streams(0, false, false, None)),
            Step::ReadTickets
        );
        assert_eq!(next_step(&streams(0, true, false, None)), Step::ReadTickets);
    }

    #[test]
    fn a_held_page_waits_until_the_events_stream_has_passed_it() {
        assert_eq!(
            next_step(&streams(100, false, false, Some(500))),
            Step::ReadEvents
        );
        // A comment at the page's newest second may still be unread.
        assert_eq!(
            next_step(&streams(500, false, false, Some(500))),
            Step::ReadEvents
        );
        assert_eq!(
            next_step(&streams(501, false, false, Some(500))),
            Step::FinishHeld
        );
    }

    #[test]
    fn a_held_page_is_finished_once_the_events_stream_ends() {
        assert_eq!(
            next_step(&streams(100, true, false, Some(500))),
            Step::FinishHeld
        );
    }

    #[test]
    fn once_the_tickets_stream_ends_the_events_stream_is_read_to_its_end() {
        assert_eq!(
            next_step(&streams(100, false, true, None)),
            Step::ReadEvents
        );
        assert_eq!(next_step(&streams(100, true, true, None)), Step::Done);
    }
    #[test]
    fn a_capped_walk_reads_its_last_few_tickets_per_ticket() {
        assert!(finishes_per_ticket(true, true, 13, Some(300)));
    }

    #[test]
    fn an_uncapped_walk_reads_the_events_to_the_end() {
        // Tickets above the walk's end are nobody's to read per ticket.
        assert!(!finishes_per_ticket(false, true, 13, Some(300)));
    }

    #[test]
    fn a_walk_with_tickets_pages_to_come_reads_the_events() {
        assert!(!finishes_per_ticket(true, false, 13, Some(300)));
    }

    #[test]
    fn more_tickets_than_a_few_parts_are_left_to_the_events() {
        assert!(finishes_per_ticket(true, true, FINISH_MOST, Some(1_000)));
        assert!(!finishes_per_ticket(
            true,
            true,
            FINISH_MOST + 1,
            Some(1_000)
        ));
    }

    #[test]
    fn a_finish_per_ticket_waits_for_no_account_window() {
        // 13 tickets and their chats (19) and the slack (12): 31.
        assert!(finishes_per_ticket(true, true, 13, Some(31)));
        assert!(!finishes_per_ticket(true, true, 13, Some(30)));
        assert!(!finishes_per_ticket(true, true, 13, None), "room unknown");
    }
}
