//! What the engine keeps per ticket between runs (the `STATE` item): the
//! latest ticket snapshot from the tickets export and the public
//! conversation gathered from the comment streams, so a document can be
//! rendered again whenever either side changes, without asking Zendesk.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zdsync_mapping::ConversationEntry;
use zdsync_mapping::threads::{Thread, thread_of};
use zdsync_zendesk::types::{Comment, Ticket, TicketStatus};

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketState {
    /// Latest ticket from the tickets export (absent until the ticket is seen
    /// there: the comment stream usually runs ahead of it).
    #[serde(default)]
    pub ticket: Option<Ticket>,
    /// Every comment id seen, private and system ones included, ascending:
    /// de-duplicates the overlapping event pages and detects gaps against the
    /// export's `comment_count`.
    #[serde(default)]
    pub comment_ids: Vec<u64>,
    /// Public conversation entries, oldest first.
    #[serde(default)]
    pub entries: Vec<ConversationEntry>,
    /// The events stream showed a `ChatStartedEvent` for this ticket: its
    /// chat lives in its audits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chat_seen: bool,
    /// The last per-ticket read of a chat history or conversation log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<ThreadRead>,
}

/// What a per-ticket read gave, and for which version of the ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadRead {
    pub kind: Thread,
    /// The ticket's `updated_at` when read: read again only when it moves.
    pub read_for: Option<String>,
    /// The messages; `None` when Zendesk would not give them (404, 403):
    /// the comments stand for the conversation then.
    pub entries: Option<Vec<ConversationEntry>>,
}

impl TicketState {
    pub fn decode(body: &str, key: &str) -> Result<TicketState> {
        serde_json::from_str(body).map_err(|e| {
            EngineError::Corrupt(format!(
                "stored ticket state {key} cannot be read ({}); reset the connection's cursors with a new backfill",
                zdsync_zendesk::redact::json_error(&e)
            ))
        })
    }

    pub fn encode(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| EngineError::Corrupt(format!("cannot encode ticket state: {e}")))
    }

    /// Adds comments; returns whether the state changed.
    pub fn absorb(&mut self, comments: &[Comment]) -> bool {
        let mut changed = false;
        for c in comments {
            if let Err(pos) = self.comment_ids.binary_search(&c.id) {
                self.comment_ids.insert(pos, c.id);
                changed = true;
            }
            let entries = zdsync_mapping::conversation_entries(c);
            if !entries.is_empty() && zdsync_mapping::merge_entries(&mut self.entries, entries) {
                changed = true;
            }
        }
        changed
    }

    /// The per-ticket read this ticket needs now: the thread its ticket
    /// calls for ([`thread_of`]), unless it was read for this version of the
    /// ticket already. Deleted tickets need none.
    pub fn thread_to_read(&self) -> Option<Thread> {
        let ticket = self.ticket.as_ref()?;
        if ticket.status == TicketStatus::Deleted {
            return None;
        }
        let wanted = thread_of(ticket, &self.entries, self.chat_seen)?;
        match &self.thread {
            Some(r) if r.kind == wanted && r.read_for == ticket.updated_at => None,
            _ => Some(wanted),
        }
    }

    /// Keeps what a per-ticket read gave for the current ticket; returns
    /// whether the state changed.
    pub fn keep_thread(&mut self, kind: Thread, entries: Option<Vec<ConversationEntry>>) -> bool {
        let read = ThreadRead {
            kind,
            read_for: self.ticket.as_ref().and_then(|t| t.updated_at.clone()),
            entries,
        };
        let changed = self.thread.as_ref() != Some(&read);
        self.thread = Some(read);
        changed
    }

    /// The conversation to render: the comments' entries, with the thread
    /// read for this ticket when it still calls for that thread.
    pub fn conversation(&self) -> Vec<ConversationEntry> {
        let wanted = self
            .ticket
            .as_ref()
            .and_then(|t| thread_of(t, &self.entries, self.chat_seen));
        match &self.thread {
            Some(ThreadRead {
                kind,
                entries: Some(read),
                ..
            }) if Some(*kind) == wanted => {
                zdsync_mapping::threads::conversation(&self.entries, Some((*kind, read)))
            }
            _ => self.entries.clone(),
        }
    }

    /// True when Zendesk counts more comments than this state has seen: the
    /// bulk stream missed some (a gap), so the ticket's comments are fetched.
    pub fn has_gap(&self, ticket: &Ticket) -> bool {
        ticket
            .comment_count
            .is_some_and(|n| n > self.comment_ids.len() as u64)
    }
}

/// Content hash of a stored body (hex of the first 16 bytes of SHA-256).
pub fn content_hash(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut s = String::with_capacity(32);
    for b in &digest[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(id: u64, public: bool) -> Comment {
        Comment {
            id,
            ticket_id: Some(1),
            author_id: Some(7),
            plain_body: Some(format!("text {id}")),
            public,
            created_at: Some(format!("2024-01-01T00:00:{:02}Z", id % 60)),
            ..Default::default()
        }
    }

    #[test]
    fn absorbing_the_same_comments_twice_changes_nothing() {
        let mut s = TicketState::default();
        assert!(s.absorb(&[comment(2, true), comment(1, false)]));
        let once = s.clone();
        assert!(!s.absorb(&[comment(1, false), comment(2, true)]));
        assert_eq!(s, once);
        assert_eq!(s.comment_ids, vec![1, 2]);
    }

    #[test]
    fn gap_detection_uses_comment_count() {
        let mut s = TicketState::default();
        s.absorb(&[comment(1, true)]);
        let mut t = Ticket {
            id: 1,
            ..Default::default()
        };
        assert!(!s.has_gap(&t));
        t.comment_count = Some(1);
        assert!(!s.has_gap(&t));
        t.comment_count = Some(2);
        assert!(s.has_gap(&t));
    }

    fn messaging_ticket(updated_at: &str) -> Ticket {
        Ticket {
            id: 1,
            updated_at: Some(updated_at.into()),
            from_messaging_channel: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_thread_is_read_once_per_version_of_its_ticket() {
        let mut s = TicketState {
            ticket: Some(messaging_ticket("2024-01-01T00:00:00Z")),
            ..Default::default()
        };
        assert_eq!(s.thread_to_read(), Some(Thread::ConversationLog));
        assert!(s.keep_thread(Thread::ConversationLog, Some(vec![])));
        assert_eq!(s.thread_to_read(), None, "read for this version");
        assert!(!s.keep_thread(Thread::ConversationLog, Some(vec![])));
        s.ticket = Some(messaging_ticket("2024-01-02T00:00:00Z"));
        assert_eq!(s.thread_to_read(), Some(Thread::ConversationLog), "changed");
    }

    #[test]
    fn an_ordinary_or_deleted_ticket_reads_no_thread() {
        let mut s = TicketState {
            ticket: Some(comment_ticket()),
            ..Default::default()
        };
        assert_eq!(s.thread_to_read(), None);
        let mut deleted = messaging_ticket("2024-01-01T00:00:00Z");
        deleted.status = TicketStatus::Deleted;
        s.ticket = Some(deleted);
        assert_eq!(s.thread_to_read(), None);
    }

    fn comment_ticket() -> Ticket {
        Ticket {
            id: 1,
            ..Default::default()
        }
    }

    #[test]
    fn an_unavailable_log_leaves_the_comments_as_the_conversation() {
        let mut s = TicketState {
            ticket: Some(messaging_ticket("2024-01-01T00:00:00Z")),
            ..Default::default()
        };
        s.absorb(&[comment(1, true)]);
        s.keep_thread(Thread::ConversationLog, None);
        assert_eq!(s.conversation(), s.entries);
        assert_eq!(s.thread_to_read(), None, "not asked again until it changes");
    }

    #[test]
    fn a_read_log_replaces_the_comments() {
        let mut s = TicketState {
            ticket: Some(messaging_ticket("2024-01-01T00:00:00Z")),
            ..Default::default()
        };
        s.absorb(&[comment(1, true)]);
        s.keep_thread(Thread::ConversationLog, Some(vec![]));
        assert!(s.conversation().is_empty());
    }

    #[test]
    fn hash_is_stable_and_content_sensitive() {
        assert_eq!(content_hash("a"), content_hash("a"));
        assert_ne!(content_hash("a"), content_hash("b"));
        assert_eq!(content_hash("a").len(), 32);
    }
}
