//! What the engine keeps per ticket between runs (the `STATE` item): the
//! latest ticket snapshot from the tickets export and the public
//! conversation gathered from the comment streams, so a document can be
//! rendered again whenever either side changes, without asking Zendesk.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zdsync_mapping::ConversationEntry;
use zdsync_zendesk::types::{Comment, Ticket};

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

    #[test]
    fn hash_is_stable_and_content_sensitive() {
        assert_eq!(content_hash("a"), content_hash("a"));
        assert_ne!(content_hash("a"), content_hash("b"));
        assert_eq!(content_hash("a").len(), 32);
    }
}
