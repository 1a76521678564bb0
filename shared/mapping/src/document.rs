//! The document contract (ARCHITECTURE.md §3) and the intermediate
//! conversation entries the engine keeps per ticket.
//!
//! Field order of these structs is the JSON field order of the contract; do
//! not reorder them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One feedback document: a ticket in which a customer spoke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// `"{connection}:{ticket_id}"`.
    pub id: String,
    pub connection: String,
    pub ticket_id: u64,
    pub title: String,
    /// `https://{subdomain}.zendesk.com/agent/tickets/{id}`.
    pub url: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub metadata: Metadata,
    pub content: Vec<Message>,
    pub properties: Properties,
    pub user: DocUser,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub status: String,
    pub ticket_id: u64,
    pub channel: Option<String>,
}

/// `role` of a message author in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    Customer,
    Agent,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Null for messages derived from a chat transcript line.
    pub comment_id: Option<u64>,
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub role: MessageRole,
    pub created_at: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Properties {
    /// Custom fields by title (see ARCHITECTURE.md §3 for value typing).
    pub fields: BTreeMap<String, Value>,
    /// Null when there is no rating (unoffered, offered, absent).
    pub satisfaction: Option<Satisfaction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Satisfaction {
    /// `good` | `bad`.
    pub score: String,
    pub reason: Option<String>,
    pub comment: Option<String>,
}

/// The requester: either readable, or `{ "id": N, "missing": true }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // built once per document; boxing buys nothing
pub enum DocUser {
    Present(UserProps),
    Missing(MissingRef),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingRef {
    pub id: Option<u64>,
    /// Always `true`.
    pub missing: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserProps {
    pub id: u64,
    /// Always `false`.
    pub missing: bool,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: Option<String>,
    /// IANA name when Zendesk gives one (`iana_time_zone`), else `time_zone`.
    pub time_zone: Option<String>,
    pub external_id: Option<String>,
    pub tags: Vec<String>,
    /// `user_fields` by key; null values left out.
    pub fields: BTreeMap<String, Value>,
    /// Null when the user has no organization.
    pub organization: Option<DocOrg>,
}

/// The requester's organization: readable, or `{ "id": N, "missing": true }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DocOrg {
    Present(OrgProps),
    Missing(MissingRef),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgProps {
    pub id: u64,
    pub name: Option<String>,
    pub domain_names: Vec<String>,
    pub tags: Vec<String>,
    /// `organization_fields` by key; null values left out.
    pub fields: BTreeMap<String, Value>,
}

/// A public message of a ticket before its author is resolved: what the
/// engine keeps in a ticket's state between runs. One comment gives one entry,
/// or several for a chat transcript (one per chat line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationEntry {
    /// The Zendesk comment this entry came from (always set; used to
    /// de-duplicate comments seen twice).
    pub source_comment_id: u64,
    /// Position within the source comment (0 for plain comments; line number
    /// for chat transcript lines).
    #[serde(default)]
    pub seq: u32,
    /// True for entries derived from a chat transcript line: the document then
    /// shows `comment_id: null`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    pub author_id: Option<i64>,
    /// Set for chat lines (the name shown in the transcript); otherwise the
    /// name is resolved from the author's user record when rendering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Set for chat lines; otherwise resolved from the author's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MessageRole>,
    pub created_at: Option<String>,
    pub text: String,
    /// Where a message read per ticket came from (an Agent Workspace chat's
    /// history, a messaging conversation log); `None` for comments and
    /// transcript lines. Such an entry carries its role, author id and
    /// name; `source_comment_id` is the comment it mirrors, or 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EntrySource>,
}

/// Where a message read per ticket came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntrySource {
    /// A `ChatStartedEvent`'s history (RULES.md "Agent Workspace chats").
    ChatHistory,
    /// A messaging conversation log (RULES.md "Messaging").
    ConversationLog,
}
