//! Pure mapping from Zendesk shapes to feedback documents (ARCHITECTURE.md §3).
//!
//! No I/O, no AWS, no HTTP: inputs are the typed Zendesk shapes of
//! `zdsync-zendesk`, outputs are [`Document`]s and [`ConversationEntry`]s.
//!
//! The engine uses it in two steps:
//! 1. [`conversation_entries`] turns each comment it sees (bulk events or
//!    per-ticket comments) into entries, which it merges into the ticket's
//!    stored state with [`merge_entries`];
//! 2. [`render`] builds the document from the ticket, its entries, the users
//!    and organizations it knows, the field catalog and the CSAT reasons, or
//!    returns `None` when the ticket is not feedback.

pub mod document;

pub use document::*;

use std::collections::HashMap;

use zdsync_zendesk::types::{Comment, Organization, Ticket, TicketField, User};

/// Ticket fields by id, built once per run from `/api/v2/ticket_fields`.
#[derive(Debug, Clone, Default)]
pub struct FieldCatalog {
    // implementation detail: private fields
}

impl FieldCatalog {
    pub fn new(fields: Vec<TicketField>) -> Self {
        todo!("index by id; keep inactive fields: {}", fields.len())
    }
}

/// Everything a render needs besides the ticket itself.
pub struct RenderContext<'a> {
    pub connection: &'a str,
    pub subdomain: &'a str,
    pub fields: &'a FieldCatalog,
    /// `satisfaction_reasons`: reason id → text.
    pub reasons: &'a HashMap<u64, String>,
    /// Known users (requesters and comment authors) by id.
    pub users: &'a HashMap<u64, User>,
    /// Known organizations by id.
    pub organizations: &'a HashMap<u64, Organization>,
}

/// The entries a comment contributes to a conversation: none for private
/// notes and system comments, one for a plain comment, one per chat line for
/// a Zendesk Chat transcript.
pub fn conversation_entries(comment: &Comment) -> Vec<ConversationEntry> {
    todo!("{}", comment.id)
}

/// Merges `new` into `existing` (de-duplicated by `(source_comment_id, seq)`,
/// newer copies replace older ones), keeping the order oldest first. Returns
/// whether anything changed.
pub fn merge_entries(existing: &mut Vec<ConversationEntry>, new: Vec<ConversationEntry>) -> bool {
    todo!("{} {}", existing.len(), new.len())
}

/// User ids a render of this ticket would like to know: the requester and
/// every comment author without a name of its own. Sorted, unique, positive.
pub fn wanted_user_ids(ticket: &Ticket, entries: &[ConversationEntry]) -> Vec<u64> {
    todo!("{} {}", ticket.id, entries.len())
}

/// The document of a ticket, or `None` when the ticket is not feedback (no
/// public end-user message and no CSAT rating with a comment) or is deleted.
pub fn render(ctx: &RenderContext<'_>, ticket: &Ticket, entries: &[ConversationEntry]) -> Option<Document> {
    todo!("{} {} {}", ctx.connection, ticket.id, entries.len())
}
