//! Typed shapes of the Zendesk Support API responses this project reads.
//!
//! Every field that Zendesk may omit is optional or defaulted, so a sparse or
//! newer payload never fails to parse. Enumerations that Zendesk may extend
//! keep an `Unknown(String)` variant instead of failing.
//!
//! This module is the contract between the HTTP client, the mapping crate and
//! the engine: it is the only place that knows Zendesk's JSON.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

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
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(TicketStatus::parse(&s))
    }
}

/// `via` of a ticket or comment: how it was created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Via {
    #[serde(default, deserialize_with = "null_default")]
    pub channel: String,
    #[serde(default)]
    pub source: Value,
}

/// One `custom_fields[]` entry of a ticket. `value` is raw: a string, number,
/// bool, list of tags, or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub id: Id,
    #[serde(default)]
    pub value: Value,
}

/// `satisfaction_rating` of a ticket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SatisfactionRating {
    #[serde(default)]
    pub id: Option<Id>,
    /// `offered` | `unoffered` | `good` | `bad` (kept as text: Zendesk may add values).
    #[serde(default, deserialize_with = "null_default")]
    pub score: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reason_id: Option<Id>,
}

/// A ticket as returned by the incremental export, `show`, `show_many` or search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: Id,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub raw_subject: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: TicketStatus,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Moves on every change (incremental export only).
    #[serde(default)]
    pub generated_timestamp: Option<i64>,
    #[serde(default)]
    pub requester_id: Option<Id>,
    #[serde(default)]
    pub submitter_id: Option<Id>,
    #[serde(default)]
    pub assignee_id: Option<Id>,
    #[serde(default)]
    pub organization_id: Option<Id>,
    #[serde(default)]
    pub via: Option<Via>,
    #[serde(default, deserialize_with = "null_default")]
    pub custom_fields: Vec<CustomFieldValue>,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub satisfaction_rating: Option<SatisfactionRating>,
    #[serde(default, deserialize_with = "null_default")]
    pub from_messaging_channel: bool,
    /// With `include=comment_count`.
    #[serde(default)]
    pub comment_count: Option<u64>,
}

/// An attachment of a comment (only what we read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(default)]
    pub id: Option<Id>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub content_url: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// A ticket comment, from `/tickets/{id}/comments` or (as a child event) from
/// the incremental ticket events. `ticket_id` and `created_at` are filled in
/// from the parent event by the client when the child omits them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: Id,
    #[serde(default)]
    pub ticket_id: Option<Id>,
    #[serde(default)]
    pub author_id: Option<i64>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_body: Option<String>,
    #[serde(default)]
    pub plain_body: Option<String>,
    #[serde(default = "default_true", deserialize_with = "null_true")]
    pub public: bool,
    #[serde(default)]
    pub via: Option<Via>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
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
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
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
    #[serde(default)]
    pub id: Option<Id>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub iana_time_zone: Option<String>,
    #[serde(default)]
    pub organization_id: Option<Id>,
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub role_type: Option<i64>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub user_fields: Map<String, Value>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// An organization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: Id,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub domain_names: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub organization_fields: Map<String, Value>,
    #[serde(default)]
    pub deleted_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// One option of a dropdown (`tagger`) or multiselect field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldOption {
    #[serde(default)]
    pub id: Option<Id>,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub value: String,
}

/// A ticket field definition from `/api/v2/ticket_fields`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketField {
    pub id: Id,
    /// `text`, `textarea`, `checkbox`, `date`, `integer`, `decimal`, `regexp`,
    /// `partialcreditcard`, `tagger`, `multiselect`, `lookup`, or a system
    /// type (`subject`, `status`, ...). Kept as text.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub field_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub title: String,
    #[serde(default = "default_true", deserialize_with = "null_true")]
    pub active: bool,
    #[serde(default)]
    pub removable: Option<bool>,
    #[serde(default, deserialize_with = "null_default")]
    pub custom_field_options: Vec<FieldOption>,
}

/// A satisfaction reason from `/api/v2/satisfaction_reasons`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SatisfactionReason {
    pub id: Id,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub raw_value: Option<String>,
    #[serde(default)]
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
        let id = rest.remove("id").and_then(|v| v.as_u64());
        let event_type = rest.remove("event_type");
        let typ = rest.remove("type");
        let kind = event_type
            .as_ref()
            .and_then(Value::as_str)
            .or(typ.as_ref().and_then(Value::as_str))
            .map(str::to_string);
        Ok(ChildEvent { id, kind, rest })
    }
}

/// One entry of `/api/v2/incremental/ticket_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    #[serde(default)]
    pub id: Option<Id>,
    pub ticket_id: Id,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updater_id: Option<i64>,
    /// A plain string here (unlike tickets and comments).
    #[serde(default)]
    pub via: Value,
    #[serde(default, deserialize_with = "null_default")]
    pub child_events: Vec<ChildEvent>,
}

/// The authenticated user, from `/api/v2/users/me`.
pub type Me = User;

/// Result of an OAuth token request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthToken {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

fn default_true() -> bool {
    true
}

/// Deserializes `null` as the type's default (Zendesk sends explicit nulls for
/// many list and string fields).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn null_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

#[cfg(test)]
mod tests {
    use super::*;

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
