//! Typed shapes of the Zendesk Support API responses this project reads.
//!
//! Every field that Zendesk may omit is optional or defaulted, so a sparse or
//! newer payload never fails to parse, and every field but a record's id is
//! read leniently ([`crate::lenient`]): a value of an unexpected shape (a
//! string for a number or an object, null for a list) becomes the field's
//! default instead of an error. Enumerations that Zendesk may extend keep an
//! `Unknown(String)` variant instead of failing.
//!
//! This module is the contract between the HTTP client, the mapping crate and
//! the engine: it is the only place that knows Zendesk's JSON.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::lenient;

/// Zendesk ids are 64-bit integers. Author ids can be `-1` (system/bots), so
/// they use `i64`.
pub type Id = u64;

/// `status` of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TicketStatus {
    New,
    Open,
    Pending,
    Hold,
    Solved,
    Closed,
    Deleted,
    /// A status this build does not know; kept verbatim.
    Unknown(String),
}

impl TicketStatus {
    pub fn as_str(&self) -> &str {
        match self {
            TicketStatus::New => "new",
            TicketStatus::Open => "open",
            TicketStatus::Pending => "pending",
            TicketStatus::Hold => "hold",
            TicketStatus::Solved => "solved",
            TicketStatus::Closed => "closed",
            TicketStatus::Deleted => "deleted",
            TicketStatus::Unknown(s) => s,
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "new" => TicketStatus::New,
            "open" => TicketStatus::Open,
            "pending" => TicketStatus::Pending,
            "hold" => TicketStatus::Hold,
            "solved" => TicketStatus::Solved,
            "closed" => TicketStatus::Closed,
            "deleted" => TicketStatus::Deleted,
            other => TicketStatus::Unknown(other.to_string()),
        }
    }
}

impl Default for TicketStatus {
    fn default() -> Self {
        TicketStatus::Unknown(String::new())
    }
}

impl Serialize for TicketStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TicketStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = crate::lenient::as_string(&Value::deserialize(d)?).unwrap_or_default();
        Ok(TicketStatus::parse(&s))
    }
}

/// `via` of a ticket or comment: how it was created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Via {
    #[serde(default, deserialize_with = "lenient::de::string")]
    pub channel: String,
    /// Read, never written: `source.from` of an e-mail or a call holds the
    /// sender's address, name or phone, which must not outlive a deletion
    /// of that person in Zendesk inside a stored ticket state.
    #[serde(default, skip_serializing)]
    pub source: Value,
}

/// One `custom_fields[]` entry of a ticket. `value` is raw: a string, number,
/// bool, list of tags, or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    #[serde(deserialize_with = "lenient::de::id")]
    pub id: Id,
    #[serde(default)]
    pub value: Value,
}

/// `satisfaction_rating` of a ticket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SatisfactionRating {
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub id: Option<Id>,
    /// `offered` | `unoffered` | `good` | `bad` (kept as text: Zendesk may add values).
    #[serde(default, deserialize_with = "lenient::de::string")]
    pub score: String,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub reason_id: Option<Id>,
}

/// A ticket as returned by the incremental export, `show`, `show_many` or search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    #[serde(deserialize_with = "lenient::de::id")]
    pub id: Id,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub raw_subject: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub description: Option<String>,
    #[serde(default)]
    pub status: TicketStatus,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub updated_at: Option<String>,
    /// Moves on every change (incremental export only).
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    pub generated_timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub requester_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub submitter_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub assignee_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub organization_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::de::via")]
    pub via: Option<Via>,
    #[serde(default, deserialize_with = "lenient::de::list")]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default, deserialize_with = "lenient::de::strings")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::de::opt")]
    pub satisfaction_rating: Option<SatisfactionRating>,
    #[serde(default, deserialize_with = "lenient::de::bool_false")]
    pub from_messaging_channel: bool,
    /// With `include=comment_count`.
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub comment_count: Option<u64>,
}

/// An attachment of a comment (only what we read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub file_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub content_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub content_type: Option<String>,
}

/// A ticket comment, from `/tickets/{id}/comments` or (as a child event) from
/// the incremental ticket events. `ticket_id` and `created_at` are filled in
/// from the parent event by the client when the child omits them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    #[serde(deserialize_with = "lenient::de::id")]
    pub id: Id,
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub ticket_id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    pub author_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub html_body: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub plain_body: Option<String>,
    #[serde(default = "default_true", deserialize_with = "lenient::de::bool_true")]
    pub public: bool,
    #[serde(default, deserialize_with = "lenient::de::via")]
    pub via: Option<Via>,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::list")]
    pub attachments: Vec<Attachment>,
}

/// `role` of a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    EndUser,
    Agent,
    Admin,
    Unknown(String),
}

impl Role {
    pub fn as_str(&self) -> &str {
        match self {
            Role::EndUser => "end-user",
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Unknown(s) => s,
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "end-user" | "end_user" | "enduser" => Role::EndUser,
            "agent" => Role::Agent,
            "admin" => Role::Admin,
            other => Role::Unknown(other.to_string()),
        }
    }
    /// Agents and admins speak for the company; everyone else is a customer.
    pub fn is_staff(&self) -> bool {
        matches!(self, Role::Agent | Role::Admin)
    }
}

impl Default for Role {
    fn default() -> Self {
        Role::Unknown(String::new())
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = crate::lenient::as_string(&Value::deserialize(d)?).unwrap_or_default();
        Ok(Role::parse(&s))
    }
}

/// `role_type` numbers (agents only; null for end-users and plain admins on
/// some plans).
pub mod role_type {
    pub const CUSTOM_AGENT: i64 = 0;
    pub const LIGHT_AGENT: i64 = 1;
    pub const CHAT_AGENT: i64 = 2;
    pub const CHAT_CONTRIBUTOR: i64 = 3;
    pub const ADMIN: i64 = 4;
    pub const BILLING_ADMIN: i64 = 5;
}

/// A user (end-user, agent or admin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Null for anonymous callers of `/users/me`.
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub locale: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub time_zone: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub iana_time_zone: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub organization_id: Option<Id>,
    #[serde(default)]
    pub role: Role,
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    pub role_type: Option<i64>,
    /// An agent limited to some tickets (`/users/me`); not stored.
    #[serde(default, deserialize_with = "lenient::de::bool_opt", skip_serializing)]
    pub restricted_agent: Option<bool>,
    /// Which tickets a restricted agent sees: `groups`, `organization`,
    /// `assigned` or `requested` (null: all); not stored.
    #[serde(
        default,
        deserialize_with = "lenient::de::string_opt",
        skip_serializing
    )]
    pub ticket_restriction: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::strings")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::de::object")]
    pub user_fields: Map<String, Value>,
    #[serde(default, deserialize_with = "lenient::de::bool_opt")]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub updated_at: Option<String>,
}

/// An organization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    #[serde(deserialize_with = "lenient::de::id")]
    pub id: Id,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::strings")]
    pub domain_names: Vec<String>,
    #[serde(default, deserialize_with = "lenient::de::strings")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::de::object")]
    pub organization_fields: Map<String, Value>,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub deleted_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub updated_at: Option<String>,
}

/// One option of a dropdown (`tagger`) or multiselect field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldOption {
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub id: Option<Id>,
    #[serde(default, deserialize_with = "lenient::de::string")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient::de::string")]
    pub value: String,
}

/// A ticket field definition from `/api/v2/ticket_fields`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketField {
    #[serde(deserialize_with = "lenient::de::id")]
    pub id: Id,
    /// `text`, `textarea`, `checkbox`, `date`, `integer`, `decimal`, `regexp`,
    /// `partialcreditcard`, `tagger`, `multiselect`, `lookup`, or a system
    /// type (`subject`, `status`, ...). Kept as text.
    #[serde(rename = "type", default, deserialize_with = "lenient::de::string")]
    pub field_type: String,
    #[serde(default, deserialize_with = "lenient::de::string")]
    pub title: String,
    #[serde(default = "default_true", deserialize_with = "lenient::de::bool_true")]
    pub active: bool,
    #[serde(default, deserialize_with = "lenient::de::bool_opt")]
    pub removable: Option<bool>,
    #[serde(default, deserialize_with = "lenient::de::list")]
    pub custom_field_options: Vec<FieldOption>,
}

/// A user or organization field definition (`/api/v2/user_fields`,
/// `/api/v2/organization_fields`): values sit under `key` in a record's
/// `user_fields` / `organization_fields`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldDef {
    #[serde(deserialize_with = "lenient::de::id")]
    pub id: Id,
    #[serde(default, deserialize_with = "lenient::de::string")]
    pub key: String,
    #[serde(rename = "type", default, deserialize_with = "lenient::de::string")]
    pub field_type: String,
    #[serde(default, deserialize_with = "lenient::de::string")]
    pub title: String,
    #[serde(default = "default_true", deserialize_with = "lenient::de::bool_true")]
    pub active: bool,
    #[serde(default, deserialize_with = "lenient::de::list")]
    pub custom_field_options: Vec<FieldOption>,
}

/// A satisfaction reason from `/api/v2/satisfaction_reasons`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SatisfactionReason {
    #[serde(deserialize_with = "lenient::de::id")]
    pub id: Id,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub value: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub raw_value: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    pub reason_code: Option<i64>,
}

/// A child event of an incremental ticket event. Only `Comment` children are
/// turned into [`Comment`]s; the others are kept raw. The kind is read from
/// `event_type` or `type`, whichever the payload carries (often both).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChildEvent {
    pub id: Option<Id>,
    pub kind: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ChildEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut rest = Map::<String, Value>::deserialize(d)?;
        let id = rest.remove("id").as_ref().and_then(crate::lenient::as_u64);
        let event_type = rest.remove("event_type");
        let typ = rest.remove("type");
        let kind = event_type
            .as_ref()
            .and_then(crate::lenient::as_string)
            .or_else(|| typ.as_ref().and_then(crate::lenient::as_string));
        Ok(ChildEvent { id, kind, rest })
    }
}

/// One entry of `/api/v2/incremental/ticket_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub id: Option<Id>,
    #[serde(deserialize_with = "lenient::de::id")]
    pub ticket_id: Id,
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    pub updater_id: Option<i64>,
    /// A display name here (`"Web form"`), unlike tickets and comments;
    /// read as a [`Via`] whatever its shape. Comment children without a
    /// `via` of their own inherit it.
    #[serde(default, deserialize_with = "lenient::de::via")]
    pub via: Option<Via>,
    #[serde(default, deserialize_with = "lenient::de::list")]
    pub child_events: Vec<ChildEvent>,
}

/// An audit of `/api/v2/tickets/{id}/audits`, with what zdsync reads of
/// it: its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    #[serde(deserialize_with = "lenient::de::id")]
    pub id: Id,
    #[serde(default, deserialize_with = "lenient::de::list")]
    pub events: Vec<AuditEvent>,
}

/// One event of an audit: its type and, for a `ChatStartedEvent`, the
/// chat's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    #[serde(rename = "type", default, deserialize_with = "lenient::de::string_opt")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::opt")]
    pub value: Option<ChatValue>,
}

/// `value` of a `ChatStartedEvent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatValue {
    #[serde(default, deserialize_with = "lenient::de::list")]
    pub history: Vec<ChatHistoryItem>,
}

/// One item of an Agent Workspace chat's history (a message, a file, a
/// join, a leave...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatHistoryItem {
    #[serde(rename = "type", default, deserialize_with = "lenient::de::string_opt")]
    pub kind: Option<String>,
    /// `end-user`, `agent`, `system`.
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub actor_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub actor_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    pub actor_id: Option<i64>,
    /// Epoch milliseconds.
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    pub timestamp: Option<i64>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub filename: Option<String>,
}

/// One event of `/api/v2/tickets/{id}/conversation_log` (messaging).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEvent {
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub id: Option<String>,
    /// `Comment` or `Messaging::ConversationMessage`.
    #[serde(rename = "type", default, deserialize_with = "lenient::de::string_opt")]
    pub kind: Option<String>,
    /// `zen:ticket_event:<comment id>` for comments.
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub reference: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::opt")]
    pub author: Option<LogAuthor>,
    #[serde(default, deserialize_with = "lenient::de::opt")]
    pub content: Option<LogContent>,
    #[serde(default, deserialize_with = "lenient::de::time_opt")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::opt")]
    pub metadata: Option<LogMetadata>,
}

impl LogEvent {
    /// The comment id of `reference` (`zen:ticket_event:<id>`), if any.
    pub fn comment_id(&self) -> Option<Id> {
        self.reference
            .as_deref()?
            .strip_prefix("zen:ticket_event:")?
            .parse()
            .ok()
    }

    /// Whether the event is public (absent: public).
    pub fn is_public(&self) -> bool {
        self.metadata.as_ref().and_then(|m| m.public) != Some(false)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogAuthor {
    /// `user`, `agent`, `bot`.
    #[serde(rename = "type", default, deserialize_with = "lenient::de::string_opt")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub display_name: Option<String>,
    /// The Support user id (bots: -1).
    #[serde(
        rename = "zen:support:user_id",
        default,
        deserialize_with = "lenient::de::i64_opt"
    )]
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogContent {
    /// `text`, `html`, `image`, `file`, `form`, `formResponse`...
    #[serde(rename = "type", default, deserialize_with = "lenient::de::string_opt")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub text: Option<String>,
    /// HTML (comments in the log).
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub media_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub alt_text: Option<String>,
    /// Form fields, as Sunshine Conversations shapes them.
    #[serde(default, deserialize_with = "lenient::de::list")]
    pub fields: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub text_fallback: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogMetadata {
    #[serde(default, deserialize_with = "lenient::de::bool_opt")]
    pub public: Option<bool>,
}

/// The authenticated user, from `/api/v2/users/me`.
pub type Me = User;

/// Result of an OAuth token request. Its `Debug` shows no token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthToken {
    pub access_token: String,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::u64_opt")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub refresh_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    pub scope: Option<String>,
}

impl std::fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthToken")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_tokens_debug_without_their_secrets() {
        let t = OAuthToken {
            access_token: "s3cr3t-access".into(),
            token_type: Some("bearer".into()),
            expires_in: Some(7200),
            refresh_token: Some("s3cr3t-refresh".into()),
            scope: Some("read".into()),
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            shown.contains("7200") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn ticket_parses_sparse_and_null_heavy_payloads() {
        let t: Ticket = serde_json::from_str(
            r#"{"id": 5, "status": "weird", "custom_fields": null, "tags": null,
                "satisfaction_rating": null, "via": {"channel": "web", "source": {}}}"#,
        )
        .expect("sparse ticket parses");
        assert_eq!(t.id, 5);
        assert_eq!(t.status, TicketStatus::Unknown("weird".into()));
        assert!(t.custom_fields.is_empty());
        assert_eq!(t.via.map(|v| v.channel), Some("web".to_string()));
    }

    #[test]
    fn a_stored_ticket_keeps_no_sender_details_of_its_via() {
        let t: Ticket = serde_json::from_str(
            r#"{"id": 5, "via": {"channel": "email", "source": {"from": {"address": "ana@customer.example", "name": "Ana"}}}}"#,
        )
        .expect("ticket parses");
        assert_eq!(
            t.via.as_ref().map(|v| v.source["from"]["name"].clone()),
            Some("Ana".into())
        );
        let stored = serde_json::to_string(&t).expect("serializes");
        assert!(!stored.contains("ana@customer.example"), "{stored}");
        let back: Ticket = serde_json::from_str(&stored).expect("reads back");
        assert_eq!(back.via.map(|v| v.channel), Some("email".to_string()));
    }

    #[test]
    fn child_event_accepts_type_or_event_type() {
        let a: ChildEvent =
            serde_json::from_str(r#"{"id": 1, "event_type": "Comment", "body": "x"}"#).unwrap();
        let b: ChildEvent = serde_json::from_str(r#"{"id": 2, "type": "Comment"}"#).unwrap();
        let c: ChildEvent =
            serde_json::from_str(r#"{"id": 3, "type": "Comment", "event_type": "Comment"}"#)
                .unwrap();
        assert_eq!(c.kind.as_deref(), Some("Comment"));
        assert_eq!(c.id, Some(3));
        assert_eq!(a.kind.as_deref(), Some("Comment"));
        assert_eq!(b.kind.as_deref(), Some("Comment"));
        assert_eq!(a.rest.get("body"), Some(&Value::String("x".into())));
    }

    #[test]
    fn role_round_trips_and_keeps_unknown_values() {
        let u: User = serde_json::from_str(r#"{"id": 1, "role": "end-user"}"#).unwrap();
        assert_eq!(u.role, Role::EndUser);
        let v: User = serde_json::from_str(r#"{"id": null, "role": "robot"}"#).unwrap();
        assert_eq!(v.role, Role::Unknown("robot".into()));
        assert_eq!(serde_json::to_string(&Role::Agent).unwrap(), "\"agent\"");
    }
}
