//! The simulated account: users, organizations, fields and tickets with their
//! comments and audits, generated deterministically from a seed, and the
//! JSON shapes Zendesk gives them.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::aw::AwChat;
use crate::chat::{self, ChatLine, ChatStyle};
use crate::messaging::{Messaging, MessagingKind};

/// 2026-01-01T00:00:00Z: the simulator's clock starts here.
pub const CLOCK_START: i64 = 1_767_225_600;
pub(crate) const DAY: i64 = 86_400;
/// The last second of generated history (an hour before the clock starts).
pub(crate) const HISTORY_END: i64 = CLOCK_START - 3_600;
/// Comment ids start above 2^53, as on large accounts: they do not fit an
/// IEEE double, so a reader that goes through `f64` loses them.
pub const COMMENT_ID_BASE: u64 = 1 << 53;
/// The group most tickets are in; the restricted agent's only group.
pub const MAIN_GROUP: u64 = 360_000_001;
/// The group of every ticket whose id is a multiple of 3.
pub const OTHER_GROUP: u64 = 360_000_002;
/// The restricted agent's id: outside the generated sequence, so adding it
/// changed no other id or generated value.
pub const RESTRICTED_AGENT_ID: u64 = 9_001;
pub const RESTRICTED_AGENT_EMAIL: &str = "restricted@acme.example";

/// The group of ticket `id`: [`OTHER_GROUP`] for a multiple of 3, else
/// [`MAIN_GROUP`] (new tickets too).
pub fn group_of(id: u64) -> u64 {
    if id.is_multiple_of(3) {
        OTHER_GROUP
    } else {
        MAIN_GROUP
    }
}

pub fn iso(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct SimUser {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: String,
    pub time_zone: String,
    pub iana_time_zone: String,
    pub organization_id: Option<u64>,
    pub role: &'static str,
    pub role_type: Option<i64>,
    pub external_id: Option<String>,
    pub tags: Vec<String>,
    pub user_fields: Map<String, Value>,
    /// A restricted agent's groups (`ticket_restriction: "groups"`): it
    /// sees only their tickets. `None` for everyone else. It applies (and
    /// shows) only while the user's role is `agent`: an admin sees every
    /// ticket, and a restricted agent promoted then demoted is restricted
    /// again.
    pub restricted_to_groups: Option<Vec<u64>>,
    /// Permanently deleted (GDPR): `show_many` leaves them out, the users
    /// export shows them scrubbed.
    pub deleted: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SimUser {
    pub fn json(&self) -> Value {
        if self.deleted {
            return self.scrubbed_json();
        }
        json!({
            "id": self.id, "url": format!("/api/v2/users/{}.json", self.id),
            "name": self.name, "email": self.email, "phone": self.phone,
            "locale": self.locale, "time_zone": self.time_zone, "iana_time_zone": self.iana_time_zone,
            "organization_id": self.organization_id, "role": self.role, "role_type": self.role_type,
            "external_id": self.external_id, "tags": self.tags, "user_fields": self.user_fields,
            "active": !self.deleted, "verified": true, "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "restricted_agent": self.restricted(), "ticket_restriction": self.restricted().then_some("groups"),
        })
    }

    /// What the user may do through the API: admins everything, agents
    /// all but the admin-only endpoints, light agents and end-users nothing
    /// but `/users/me`.
    pub fn access(&self) -> Access {
        match (self.role, self.role_type) {
            ("admin", _) => Access::Admin,
            ("agent", Some(1)) => Access::Limited,
            ("agent", _) => Access::Agent,
            _ => Access::Limited,
        }
    }

    /// A restricted agent now (an agent with groups to keep to).
    pub fn restricted(&self) -> bool {
        self.role == "agent" && self.restricted_to_groups.is_some()
    }

    /// Whether this user may see the tickets of `group` (admins and
    /// unrestricted agents see every group; end-users are not asked).
    pub fn sees_group(&self, group: u64) -> bool {
        match &self.restricted_to_groups {
            Some(groups) if self.role == "agent" => groups.contains(&group),
            _ => true,
        }
    }

    /// A permanently deleted user as the users export shows it: inactive,
    /// renamed, with no e-mail, phone, fields or organization.
    fn scrubbed_json(&self) -> Value {
        json!({
            "id": self.id, "url": format!("/api/v2/users/{}.json", self.id),
            "name": "Permanently deleted user", "email": null, "phone": null,
            "locale": "en-US", "time_zone": "UTC", "iana_time_zone": "Etc/UTC",
            "organization_id": null, "role": "end-user", "role_type": null,
            "external_id": null, "tags": [], "user_fields": {},
            "active": false, "verified": false, "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "restricted_agent": false, "ticket_restriction": null,
        })
    }
}

/// What a user may do through the API (see [`SimUser::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Admin,
    Agent,
    /// Light agents and end-users: `/users/me` only.
    Limited,
}

#[derive(Debug, Clone)]
pub struct SimOrg {
    pub id: u64,
    pub name: String,
    pub domain_names: Vec<String>,
    pub tags: Vec<String>,
    pub fields: Map<String, Value>,
    pub updated_at: i64,
    /// Deleted organizations: left out of `show_many`, kept in the export
    /// with `deleted_at`.
    pub deleted_at: Option<i64>,
}

impl SimOrg {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "domain_names": self.domain_names, "tags": self.tags,
            "organization_fields": self.fields, "deleted_at": self.deleted_at.map(iso),
            "created_at": iso(self.updated_at - 400 * DAY), "updated_at": iso(self.updated_at),
        })
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    /// Paragraphs of lines.
    Text(Vec<Vec<String>>),
    /// A Zendesk Chat transcript, written in `style`.
    Chat {
        started: i64,
        style: &'static ChatStyle,
        lines: Vec<ChatLine>,
    },
}

impl Body {
    /// Paragraphs as Zendesk stores them.
    pub fn paragraphs(&self) -> Vec<Vec<String>> {
        match self {
            Body::Text(p) => p.clone(),
            Body::Chat {
                started,
                style,
                lines,
            } => chat::paragraphs(*started, style, lines),
        }
    }

    pub fn plain(&self) -> String {
        self.paragraphs()
            .iter()
            .map(|p| p.join("\n"))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// `<div class="zd-comment">` with one `<p>` per paragraph, lines joined
    /// by `<br>`, text escaped; some words emphasised.
    pub fn html(&self, emphasis: bool) -> String {
        let mut out = String::from("<div class=\"zd-comment\" dir=\"auto\">");
        for p in self.paragraphs() {
            out.push_str("<p>");
            let lines: Vec<String> = p
                .iter()
                .map(|l| {
                    let escaped = escape(l);
                    if emphasis {
                        emphasise(&escaped)
                    } else {
                        escaped
                    }
                })
                .collect();
            out.push_str(&lines.join("<br>"));
            out.push_str("</p>");
        }
        out.push_str("</div>");
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Wraps the word `slow` / `urgent` / `please` in `<strong>`/`<em>`.
fn emphasise(s: &str) -> String {
    s.replace(" slow", " <strong>slow</strong>")
        .replace(" urgent", " <em>urgent</em>")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentKind {
    Normal,
    /// author -1, via system
    System,
    /// trigger message: via rule
    Rule,
}

#[derive(Debug, Clone)]
pub struct SimComment {
    pub id: u64,
    pub author_id: i64,
    pub body: Body,
    pub public: bool,
    pub channel: String,
    pub kind: CommentKind,
    pub emphasis: bool,
    pub created_at: i64,
}

impl SimComment {
    /// `with_plain`: the comments endpoint adds `plain_body`; the events
    /// stream does not. A comment with no text (an attachment alone) has null
    /// bodies, as Zendesk sends them.
    pub fn json(&self, with_plain: bool) -> Value {
        let plain = self.body.plain();
        let attachment_only = plain.is_empty();
        let (body, html) = if attachment_only {
            (Value::Null, Value::Null)
        } else {
            (
                Value::String(plain.clone()),
                Value::String(self.body.html(self.emphasis)),
            )
        };
        let attachments = if attachment_only {
            json!([{"id": self.id + 1, "file_name": "screenshot.png", "content_type": "image/png", "size": 48213, "inline": false}])
        } else {
            json!([])
        };
        let mut v = json!({
            "id": self.id, "type": "Comment", "author_id": self.author_id,
            "body": body, "html_body": html,
            "public": self.public, "attachments": attachments,
            "via": {"channel": self.channel, "source": {"from": {}, "to": {}, "rel": null}},
            "created_at": iso(self.created_at),
        });
        if with_plain {
            v["plain_body"] = if attachment_only {
                Value::Null
            } else {
                Value::String(plain)
            };
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Csat {
    pub id: u64,
    pub score: String,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub reason_id: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SimTicket {
    pub id: u64,
    pub subject: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub generated: i64,
    pub requester_id: u64,
    pub submitter_id: u64,
    pub assignee_id: Option<u64>,
    pub organization_id: Option<u64>,
    /// See [`group_of`].
    pub group_id: u64,
    pub channel: String,
    pub custom_fields: Vec<(u64, Value)>,
    pub tags: Vec<String>,
    pub csat: Option<Csat>,
    pub comments: Vec<SimComment>,
    pub deleted: bool,
    /// An Agent Workspace chat: its messages are in the audits.
    pub aw_chat: Option<AwChat>,
    /// A messaging ticket: its conversation log.
    pub messaging: Option<Messaging>,
}

impl SimTicket {
    pub fn description(&self) -> String {
        self.comments
            .first()
            .map(|c| c.body.plain())
            .unwrap_or_default()
    }

    pub fn json(&self, with_count: bool) -> Value {
        let status = if self.deleted {
            "deleted"
        } else {
            self.status.as_str()
        };
        let mut v = json!({
            "id": self.id, "url": format!("/api/v2/tickets/{}.json", self.id),
            "external_id": null, "type": null, "priority": "normal",
            "subject": self.subject, "raw_subject": self.subject, "description": self.description(),
            "status": status, "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "generated_timestamp": self.generated, "requester_id": self.requester_id,
            "submitter_id": self.submitter_id, "assignee_id": self.assignee_id,
            "organization_id": self.organization_id, "group_id": self.group_id,
            "via": {"channel": self.channel, "source": {"from": {}, "to": {}, "rel": null}},
            "custom_fields": self.custom_fields.iter().map(|(id, v)| json!({"id": id, "value": v})).collect::<Vec<_>>(),
            "fields": self.custom_fields.iter().map(|(id, v)| json!({"id": id, "value": v})).collect::<Vec<_>>(),
            "tags": self.tags,
            "satisfaction_rating": self.csat.as_ref().map(|c| json!({
                "id": c.id, "score": c.score, "comment": c.comment, "reason": c.reason, "reason_id": c.reason_id,
            })),
            "from_messaging_channel": self.messaging.is_some(), "is_public": true,
        });
        if with_count {
            v["comment_count"] = json!(self.comments.len());
        }
        v
    }
}

/// An audit of the ticket events stream.
#[derive(Debug, Clone)]
pub struct SimEvent {
    pub id: u64,
    pub ticket_id: u64,
    pub timestamp: i64,
    pub updater_id: i64,
    pub via: String,
    /// Comment ids of this audit (looked up in the ticket when served).
    pub comment_ids: Vec<u64>,
    pub changes: Vec<Value>,
    /// The Agent Workspace chat event this audit carries, if any.
    pub chat: ChatAudit,
}

/// The chat event of an audit of an Agent Workspace chat ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChatAudit {
    #[default]
    None,
    /// `ChatStartedEvent`, with the chat's history.
    Started,
    /// `ChatEndedEvent`.
    Ended,
}

pub struct FieldDef {
    pub id: u64,
    pub kind: &'static str,
    pub title: &'static str,
    pub active: bool,
    pub options: Vec<(&'static str, &'static str)>,
}

pub fn field_defs() -> Vec<FieldDef> {
    let f = |id, kind, title, options: Vec<(&'static str, &'static str)>| FieldDef {
        id,
        kind,
        title,
        active: true,
        options,
    };
    vec![
        f(1, "subject", "Subject", vec![]),
        f(2, "description", "Description", vec![]),
        f(3, "status", "Status", vec![]),
        f(4, "priority", "Priority", vec![]),
        f(5, "tickettype", "Type", vec![]),
        f(
            100,
            "tagger",
            "Product area",
            vec![
                ("integrations", "Integrations"),
                ("billing", "Billing"),
                ("hw_laptop", "Hardware::Laptop"),
                ("hw_phone", "Hardware::Phone"),
            ],
        ),
        f(
            101,
            "multiselect",
            "Platforms",
            vec![("ios", "iOS"), ("android", "Android"), ("web", "Web")],
        ),
        f(102, "integer", "Items in order", vec![]),
        f(103, "decimal", "Order total", vec![]),
        f(104, "checkbox", "Refund requested", vec![]),
        f(105, "date", "Delivery date", vec![]),
        f(106, "text", "Notes", vec![]),
        f(107, "textarea", "Steps to reproduce", vec![]),
        f(108, "regexp", "Order number", vec![]),
        f(109, "partialcreditcard", "Card", vec![]),
        f(110, "lookup", "Related order", vec![]),
        FieldDef {
            active: false,
            ..f(111, "text", "Legacy region", vec![])
        },
        f(112, "text", "Notes", vec![]),
    ]
}

impl FieldDef {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "type": self.kind, "title": self.title, "raw_title": self.title,
            "active": self.active, "removable": self.id >= 100, "required": false,
            "custom_field_options": self.options.iter().enumerate().map(|(i, (v, n))| json!({
                "id": self.id * 1000 + i as u64, "name": n, "raw_name": n, "value": v, "default": false,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Satisfaction reasons: id → text.
pub fn reasons() -> Vec<(u64, &'static str)> {
    vec![
        (1000, "No reason provided"),
        (1001, "Issue took too long to resolve"),
        (1002, "Issue was not resolved"),
        (1003, "Agent's knowledge is unsatisfactory"),
        (1004, "Agent's attitude was unsatisfactory"),
    ]
}

/// Ids of the generated account's notable pieces.
#[derive(Debug, Clone, Default)]
pub struct Specials {
    pub admin: u64,
    pub agents: Vec<u64>,
    pub light_agent: u64,
    /// An agent restricted to the tickets of [`MAIN_GROUP`].
    pub restricted_agent: u64,
    pub end_user_login: u64,
    pub deleted_user: u64,
    pub huge_ticket: Option<u64>,
    pub long_ticket: Option<u64>,
    pub cap_ticket: Option<u64>,
    pub missing_requester_ticket: Option<u64>,
    pub missing_org: u64,
}

/// A ticket being generated, before its status, fields and CSAT.
pub(crate) struct Draft {
    pub id: u64,
    pub at: i64,
    /// Its last change so far.
    pub last: i64,
    pub subject: String,
    pub requester: u64,
    pub submitter: u64,
    pub assignee: u64,
    pub organization_id: Option<u64>,
    pub channel: String,
    pub comments: Vec<SimComment>,
    pub deleted: bool,
    pub agent_only: bool,
    pub aw_chat: Option<AwChat>,
    pub messaging: Option<Messaging>,
}

pub struct Model {
    pub users: BTreeMap<u64, SimUser>,
    pub orgs: BTreeMap<u64, SimOrg>,
    pub tickets: BTreeMap<u64, SimTicket>,
    /// Sorted by (timestamp, id): appended in time order.
    pub events: Vec<SimEvent>,
    pub fields: Vec<FieldDef>,
    pub specials: Specials,
    pub end_users: Vec<u64>,
    pub next_id: u64,
    pub rng: StdRng,
    /// Mirrored messaging tickets generated so far.
    pub mirrored: usize,
}

pub(crate) const FIRST: [&str; 16] = [
    "Ana", "Bruno", "Chen", "Dana", "Elif", "Farah", "Goran", "Hana", "Ivo", "Júlia", "Kenji",
    "Léa", "Mateo", "Noor", "Olga", "Pavel",
];
pub(crate) const LAST: [&str; 12] = [
    "Silva", "Novak", "Wang", "Yılmaz", "Haddad", "Kowalski", "Sato", "Dubois", "Rossi", "Cohen",
    "Müller", "Ivanova",
];
const SENTENCES: [&str; 16] = [
    "The export of our monthly report is slow and times out.",
    "I can't log in since the last update.",
    "Could you refund the duplicate charge, please?",
    "The mobile app crashes when I open settings.",
    "Thanks, that fixed it!",
    "We need this urgent: our team is blocked.",
    "Is there a way to export data as CSV & JSON?",
    "The invoice shows the wrong VAT number <again>.",
    "Great support, very quick \"answer\".",
    "مرحبا، التطبيق لا يعمل بعد التحديث.",
    "שלום, החשבון שלי ננעל.",
    "こんにちは、請求書が届きません。",
    "Das Laden dauert sehr lange 😕",
    "Love the new dashboard 🎉👍",
    "Please check order ORD-48213 – it never arrived.",
    "The integration with Slack stopped syncing yesterday.",
];
const AGENT_SENTENCES: [&str; 8] = [
    "Thanks for reaching out! We're looking into it.",
    "Could you send us a screenshot of the error?",
    "We've issued the refund; it should arrive in 5 days.",
    "A fix is rolling out today.",
    "Closing this ticket; reply to reopen it.",
    "I've escalated this to our engineers.",
    "Our apologies for the slow response.",
    "Can you try clearing the cache & restarting the app?",
];
const SUBJECTS: [&str; 10] = [
    "Export is slow",
    "Login problem",
    "Refund request",
    "App crash",
    "Question about CSV export",
    "Wrong VAT number",
    "Order never arrived",
    "Slack integration broken",
    "مشكلة في الحساب",
    "Feedback on the new dashboard 🎉",
];

impl Model {
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A comment id (above [`COMMENT_ID_BASE`]).
    pub fn comment_id(&mut self) -> u64 {
        COMMENT_ID_BASE + self.id()
    }

    pub fn agent(&mut self) -> u64 {
        let i = self.rng.random_range(0..self.specials.agents.len());
        self.specials.agents[i]
    }

    pub(crate) fn text(&mut self, customer: bool) -> Body {
        let paragraphs = self.rng.random_range(1..=3);
        let mut ps = Vec::new();
        for _ in 0..paragraphs {
            let lines = self.rng.random_range(1..=2);
            let mut p = Vec::new();
            for _ in 0..lines {
                let s = if customer {
                    SENTENCES[self.rng.random_range(0..SENTENCES.len())]
                } else {
                    AGENT_SENTENCES[self.rng.random_range(0..AGENT_SENTENCES.len())]
                };
                p.push(s.to_string());
            }
            ps.push(p);
        }
        Body::Text(ps)
    }

    pub(crate) fn user(
        &mut self,
        role: &'static str,
        role_type: Option<i64>,
        name: String,
        email: Option<String>,
        org: Option<u64>,
    ) -> u64 {
        let id = self.id();
        let created = CLOCK_START - self.rng.random_range(400..1500) * DAY;
        let u = SimUser {
            id,
            name,
            email,
            phone: if self.rng.random_bool(0.5) {
                Some(format!("+1-555-{:04}", id % 10_000))
            } else {
                None
            },
            locale: ["en-US", "es", "de", "ja", "ar", "he"][self.rng.random_range(0..6)].into(),
            time_zone: "Tokyo".into(),
            iana_time_zone: "Asia/Tokyo".into(),
            organization_id: org,
            role,
            role_type,
            external_id: if role == "end-user" {
                Some(format!("cust-{id}"))
            } else {
                None
            },
            tags: if self.rng.random_bool(0.3) {
                vec!["vip".into()]
            } else {
                vec![]
            },
            user_fields: serde_json::from_value(json!({
                "plan": (["free", "team", "business"][self.rng.random_range(0..3)]),
                "region": null,
                "nps": self.rng.random_range(0..=10),
            }))
            .unwrap_or_default(),
            restricted_to_groups: None,
            deleted: false,
            created_at: created,
            updated_at: created + DAY,
        };
        self.users.insert(id, u);
        id
    }

    /// The agent restricted to [`MAIN_GROUP`] (`restricted@acme.example`),
    /// built without the generator's random numbers or ids, so the rest of
    /// the account is what it was before it existed.
    fn add_restricted_agent(&mut self) -> u64 {
        let id = RESTRICTED_AGENT_ID;
        let created = CLOCK_START - 900 * DAY;
        self.users.insert(
            id,
            SimUser {
                id,
                name: "Rita Restricted".into(),
                email: Some(RESTRICTED_AGENT_EMAIL.into()),
                phone: None,
                locale: "en-US".into(),
                time_zone: "Tokyo".into(),
                iana_time_zone: "Asia/Tokyo".into(),
                organization_id: None,
                role: "agent",
                role_type: None,
                external_id: None,
                tags: vec![],
                user_fields: Map::new(),
                restricted_to_groups: Some(vec![MAIN_GROUP]),
                deleted: false,
                created_at: created,
                updated_at: created + DAY,
            },
        );
        id
    }

    /// The live (not deleted) user with this e-mail.
    pub fn user_by_email(&self, email: &str) -> Option<&SimUser> {
        self.users
            .values()
            .find(|u| !u.deleted && u.email.as_deref() == Some(email))
    }

    /// Whether user `user_id` may see ticket `t` (unknown users see none).
    pub fn sees(&self, user_id: u64, t: &SimTicket) -> bool {
        self.users
            .get(&user_id)
            .is_some_and(|u| u.sees_group(t.group_id))
    }

    /// Generates the account.
    pub fn generate(seed: u64, tickets: usize, huge_ticket: bool) -> Model {
        let mut m = Model {
            users: BTreeMap::new(),
            orgs: BTreeMap::new(),
            tickets: BTreeMap::new(),
            events: Vec::new(),
            fields: field_defs(),
            specials: Specials::default(),
            end_users: Vec::new(),
            next_id: 10_000,
            rng: StdRng::seed_from_u64(seed),
            mirrored: 0,
        };
        // Organizations.
        let mut org_ids = Vec::new();
        for i in 0..50 {
            let id = m.id();
            m.orgs.insert(
                id,
                SimOrg {
                    id,
                    name: format!(
                        "{} {}",
                        LAST[i % LAST.len()],
                        ["Corp", "GmbH", "Ltd", "S.A."][i % 4]
                    ),
                    domain_names: vec![format!("org{i}.example")],
                    tags: if i % 3 == 0 {
                        vec!["enterprise".into()]
                    } else {
                        vec![]
                    },
                    fields: serde_json::from_value(
                        json!({"tier": (["gold", "silver"][i % 2]), "csm": null}),
                    )
                    .unwrap_or_default(),
                    updated_at: CLOCK_START - 300 * DAY,
                    deleted_at: None,
                },
            );
            org_ids.push(id);
        }
        m.specials.missing_org = 99_999;
        // Staff.
        m.specials.admin = m.user(
            "admin",
            Some(4),
            "Ada Admin".into(),
            Some("admin@acme.example".into()),
            None,
        );
        for i in 0..10 {
            let name = format!(
                "{} {}",
                FIRST[(i + 3) % FIRST.len()],
                LAST[(i + 1) % LAST.len()]
            );
            let a = m.user(
                "agent",
                Some(0),
                name,
                Some(format!("agent{i}@acme.example")),
                None,
            );
            m.specials.agents.push(a);
        }
        m.specials.light_agent = m.user(
            "agent",
            Some(1),
            "Liam Light".into(),
            Some("light@acme.example".into()),
            None,
        );
        m.specials.restricted_agent = m.add_restricted_agent();
        // End-users.
        let n_users = (tickets / 3).max(20);
        for i in 0..n_users {
            let name = format!(
                "{} {}",
                FIRST[i % FIRST.len()],
                LAST[(i / FIRST.len()) % LAST.len()]
            );
            let email = if i % 17 == 5 {
                None
            } else {
                Some(format!("customer{i}@customer.example"))
            };
            let org = match i % 5 {
                0 => None,
                _ if i == 7 => Some(m.specials.missing_org),
                _ => Some(org_ids[i % org_ids.len()]),
            };
            let u = m.user("end-user", None, name, email, org);
            m.end_users.push(u);
        }
        m.specials.end_user_login = m.end_users[1];
        if let Some(u) = m.users.get_mut(&m.specials.end_user_login) {
            u.email = Some("customer-login@customer.example".into());
        }
        m.specials.deleted_user = m.user(
            "end-user",
            None,
            "Gone User".into(),
            Some("gone@customer.example".into()),
            None,
        );
        if let Some(u) = m.users.get_mut(&m.specials.deleted_user) {
            u.deleted = true;
        }

        // Tickets, created over ~3 years before the clock start.
        let span = 3 * 365 * DAY;
        let mut created: Vec<i64> = (0..tickets)
            .map(|_| CLOCK_START - span + m.rng.random_range(0..span - 10 * DAY))
            .collect();
        created.sort_unstable();
        let mut pending_events: Vec<SimEvent> = Vec::new();
        for (i, at) in created.into_iter().enumerate() {
            let special = if i == 3 && huge_ticket {
                Some("huge")
            } else if i == 5 {
                Some("long")
            } else if i == 8 {
                Some("cap")
            } else if i == 11 {
                Some("missing")
            } else {
                None
            };
            let t = m.make_ticket(at, special, &mut pending_events);
            match special {
                Some("huge") => m.specials.huge_ticket = Some(t),
                Some("long") => m.specials.long_ticket = Some(t),
                Some("cap") => m.specials.cap_ticket = Some(t),
                Some("missing") => m.specials.missing_requester_ticket = Some(t),
                _ => {}
            }
        }
        pending_events.sort_by_key(|e| (e.timestamp, e.id));
        m.events = pending_events;
        m
    }

    fn custom_fields(&mut self) -> Vec<(u64, Value)> {
        let r = &mut self.rng;
        let mut out = Vec::new();
        let pick = |r: &mut StdRng, p: f64| r.random_bool(p);
        out.push((
            100,
            if pick(r, 0.05) {
                json!("discontinued_area")
            } else if pick(r, 0.8) {
                json!(["integrations", "billing", "hw_laptop", "hw_phone"][r.random_range(0..4)])
            } else {
                Value::Null
            },
        ));
        out.push((
            101,
            match r.random_range(0..5) {
                0 => json!([]),
                1 => json!(["ios"]),
                2 => json!(["ios", "web"]),
                3 => json!(["android", "blackberry"]),
                _ => Value::Null,
            },
        ));
        out.push((
            102,
            match r.random_range(0..4) {
                0 => json!(6),
                1 => json!("12"),
                2 => Value::Null,
                _ => json!(1),
            },
        ));
        out.push((
            103,
            match r.random_range(0..4) {
                0 => json!(12.5),
                1 => json!("99.90"),
                2 => Value::Null,
                _ => json!("n/a"),
            },
        ));
        out.push((
            104,
            match r.random_range(0..3) {
                0 => json!(true),
                1 => json!(false),
                _ => json!(false),
            },
        ));
        out.push((
            105,
            match r.random_range(0..3) {
                0 => json!("2024-03-01"),
                1 => json!("2025-11-20T00:00:00+00:00"),
                _ => Value::Null,
            },
        ));
        out.push((
            106,
            match r.random_range(0..3) {
                0 => json!(""),
                1 => json!("Customer prefers e-mail"),
                _ => Value::Null,
            },
        ));
        out.push((
            107,
            if pick(r, 0.3) {
                json!("1. Open settings\n2. Tap export")
            } else {
                Value::Null
            },
        ));
        out.push((
            108,
            if pick(r, 0.5) {
                json!(format!("ORD-{}", r.random_range(10_000..99_999)))
            } else {
                Value::Null
            },
        ));
        out.push((
            109,
            if pick(r, 0.2) {
                json!("XXXXXXXXXXXX4242")
            } else {
                Value::Null
            },
        ));
        out.push((
            110,
            if pick(r, 0.2) {
                json!(r.random_range(1000..2000))
            } else {
                Value::Null
            },
        ));
        out.push((
            111,
            if pick(r, 0.3) {
                json!("EMEA")
            } else {
                Value::Null
            },
        ));
        out.push((
            112,
            if pick(r, 0.3) {
                json!("second notes field")
            } else {
                Value::Null
            },
        ));
        if pick(r, 0.1) {
            out.push((999, json!("field not in ticket_fields")));
        }
        out
    }

    fn csat(&mut self, agent_only: bool) -> Option<Csat> {
        let id = self.id();
        let r = &mut self.rng;
        let roll = r.random_range(0..100);
        let score = match roll {
            0..=29 => return None,
            30..=49 => "unoffered",
            50..=64 => "offered",
            65..=84 => "good",
            _ => "bad",
        };
        let rated = score == "good" || score == "bad";
        let comment = if rated && (agent_only || r.random_bool(0.6)) {
            Some(
                [
                    "Fast and friendly",
                    "Too slow",
                    "  Still broken  ",
                    "👍",
                    "The agent didn't read my message",
                ][r.random_range(0..5)]
                .to_string(),
            )
        } else if rated && r.random_bool(0.1) {
            Some("   ".to_string())
        } else {
            None
        };
        let (reason, reason_id) = if score == "bad" {
            match r.random_range(0..3) {
                0 => (
                    Some("Issue took too long to resolve".to_string()),
                    Some(1001),
                ),
                1 => (None, Some([1002, 1003, 1004][r.random_range(0..3)])),
                _ => (None, None),
            }
        } else {
            (None, None)
        };
        Some(Csat {
            id,
            score: score.into(),
            comment,
            reason,
            reason_id,
        })
    }

    /// When a chat of ticket `id` created at `t` starts: for one ticket in
    /// seven, in the two minutes before the next midnight (so the chat
    /// crosses it, sometimes before its first line), unless that midnight
    /// is the last of the history (a chat lasts under an hour).
    fn chat_start(&mut self, id: u64, t: i64) -> i64 {
        let midnight = t - t.rem_euclid(DAY) + DAY;
        if id.is_multiple_of(7) && midnight + 3_600 <= HISTORY_END {
            midnight - self.rng.random_range(1..=120)
        } else {
            t
        }
    }

    /// Creates a ticket with its comments and audits; returns its id. Of
    /// the ordinary tickets, 20 % are agent-only, 2 % deleted, 4 % legacy
    /// chats, 4 % Agent Workspace chats, 4 % log-only and 4 % mirrored
    /// messaging tickets.
    fn make_ticket(&mut self, at: i64, special: Option<&str>, events: &mut Vec<SimEvent>) -> u64 {
        let id = self.id();
        let roll = self.rng.random_range(0..100);
        if special.is_none() {
            match roll {
                26..30 => return self.make_aw_chat_ticket(id, at, events),
                30..34 => {
                    return self.make_messaging_ticket(id, at, MessagingKind::LogOnly, events);
                }
                34..38 => {
                    return self.make_messaging_ticket(id, at, MessagingKind::Mirrored, events);
                }
                _ => {}
            }
        }
        let agent_only = special.is_none() && roll < 20;
        let deleted = special.is_none() && (20..22).contains(&roll);
        let chat = special.is_none() && (22..26).contains(&roll);
        let requester = match special {
            Some("missing") => self.specials.deleted_user,
            _ if chat && self.rng.random_bool(0.5) => {
                // an anonymous visitor: a user record without e-mail
                let name = format!("Visitor {}", self.rng.random_range(10_000_000..99_999_999));
                self.user("end-user", None, name, None, None)
            }
            _ => self.end_users[self.rng.random_range(0..self.end_users.len())],
        };
        let assignee = self.agent();
        let org = self.users.get(&requester).and_then(|u| u.organization_id);
        let channel = if chat {
            "chat"
        } else {
            ["web", "email", "api", "mobile"][self.rng.random_range(0..4)]
        };
        let subject = if self.rng.random_bool(0.03) {
            String::new()
        } else {
            SUBJECTS[self.rng.random_range(0..SUBJECTS.len())].to_string()
        };
        let n_comments = match special {
            Some("huge") => 30,
            Some("long") => 420,
            _ if chat => 1,
            _ => [1, 2, 2, 3, 3, 3, 4, 4, 5, 6, 8][self.rng.random_range(0..11)],
        };
        let mut comments = Vec::new();
        let mut t = at;
        for k in 0..n_comments {
            if k > 0 {
                // History ends before the clock starts: nothing lies in the future.
                t = (t + self.rng.random_range(60..(3 * DAY))).min(HISTORY_END);
            }
            let customer_turn = !agent_only && k % 2 == 0;
            let (author, public, kind, body, comment_channel) = if chat {
                let customer_name = self
                    .users
                    .get(&requester)
                    .map(|u| u.name.clone())
                    .unwrap_or_default();
                let agent_name = self
                    .users
                    .get(&assignee)
                    .map(|u| u.name.clone())
                    .unwrap_or_default();
                let started = self.chat_start(id, t);
                t = started;
                (
                    requester as i64,
                    true,
                    CommentKind::Normal,
                    chat::generate(&mut self.rng, started, &customer_name, &agent_name),
                    "chat",
                )
            } else if special == Some("huge") {
                let words = "lorem ipsum dolor sit amet consectetur ".repeat(1400);
                let body = Body::Text(vec![vec![words.trim_end().to_string()]]);
                (
                    if k % 2 == 0 {
                        requester as i64
                    } else {
                        assignee as i64
                    },
                    true,
                    CommentKind::Normal,
                    body,
                    "web",
                )
            } else if special == Some("cap") && k == 0 {
                let mut s = "feedback ".repeat(7300);
                s.truncate(65_536);
                let s = s.trim_end().to_string();
                (
                    requester as i64,
                    true,
                    CommentKind::Normal,
                    Body::Text(vec![vec![s]]),
                    "email",
                )
            } else if customer_turn {
                let body = self.text(true);
                (requester as i64, true, CommentKind::Normal, body, channel)
            } else {
                let r = self.rng.random_range(0..100);
                let body = self.text(false);
                if r < 15 && k > 0 {
                    (assignee as i64, false, CommentKind::Normal, body, "web")
                } else if r < 18 && k > 0 {
                    (
                        -1,
                        true,
                        CommentKind::System,
                        Body::Text(vec![vec!["This ticket was merged.".into()]]),
                        "system",
                    )
                } else if r < 21 && k > 0 {
                    (
                        assignee as i64,
                        true,
                        CommentKind::Rule,
                        Body::Text(vec![vec!["We received your request.".into()]]),
                        "rule",
                    )
                } else {
                    (assignee as i64, true, CommentKind::Normal, body, "web")
                }
            };
            let cid = self.comment_id();
            let emphasis = self.rng.random_bool(0.3);
            comments.push(SimComment {
                id: cid,
                author_id: author,
                body,
                public,
                channel: comment_channel.into(),
                kind,
                emphasis,
                created_at: t,
            });
            let eid = self.id();
            let mut changes = Vec::new();
            if k == 0 {
                changes
                    .push(json!({"event_type": "Create", "field_name": "status", "value": "new"}));
            }
            events.push(SimEvent {
                id: eid,
                ticket_id: id,
                timestamp: t,
                updater_id: author,
                via: "Web form".into(),
                comment_ids: vec![cid],
                changes,
                chat: ChatAudit::None,
            });
        }
        let organization_id = if special == Some("missing") {
            Some(self.specials.missing_org)
        } else {
            org
        };
        self.finish(
            Draft {
                id,
                at,
                last: t,
                subject,
                requester,
                submitter: if agent_only { assignee } else { requester },
                assignee,
                organization_id,
                channel: channel.into(),
                comments,
                deleted,
                agent_only,
                aw_chat: None,
                messaging: None,
            },
            events,
        )
    }

    /// Gives a drafted ticket its status (and, for three in ten, a later
    /// automation audit), custom fields and CSAT, and stores it.
    pub(crate) fn finish(&mut self, d: Draft, events: &mut Vec<SimEvent>) -> u64 {
        let status = ["open", "pending", "solved", "closed", "hold", "new"]
            [self.rng.random_range(0..6)]
        .to_string();
        let mut last = d.last;
        if self.rng.random_bool(0.3) {
            last = (last + self.rng.random_range(60..DAY)).min(HISTORY_END);
            let eid = self.id();
            events.push(SimEvent {
                id: eid,
                ticket_id: d.id,
                timestamp: last,
                updater_id: -1,
                via: "Automation".into(),
                comment_ids: vec![],
                changes: vec![json!({"event_type": "Change", "field_name": "status", "value": status, "previous_value": "open"})],
                chat: ChatAudit::None,
            });
        }
        let custom_fields = self.custom_fields();
        let csat = self.csat(d.agent_only);
        let ticket = SimTicket {
            id: d.id,
            subject: d.subject,
            status,
            created_at: d.at,
            updated_at: last,
            generated: last,
            requester_id: d.requester,
            submitter_id: d.submitter,
            assignee_id: Some(d.assignee),
            organization_id: d.organization_id,
            group_id: group_of(d.id),
            channel: d.channel,
            custom_fields,
            tags: vec![format!("tag{}", d.id % 5)],
            csat,
            comments: d.comments,
            deleted: d.deleted,
            aw_chat: d.aw_chat,
            messaging: d.messaging,
        };
        self.tickets.insert(d.id, ticket);
        d.id
    }

    /// Appends an audit at `at` (keeps `events` sorted).
    pub fn push_event(
        &mut self,
        ticket_id: u64,
        at: i64,
        updater: i64,
        comment_ids: Vec<u64>,
        changes: Vec<Value>,
    ) {
        let id = self.id();
        self.events.push(SimEvent {
            id,
            ticket_id,
            timestamp: at,
            updater_id: updater,
            via: "Web form".into(),
            comment_ids,
            changes,
            chat: ChatAudit::None,
        });
    }

    /// Appends an audit at `at` that came through `via` (a display name).
    pub(crate) fn push_audit(
        &mut self,
        ticket_id: u64,
        at: i64,
        updater: i64,
        comment_ids: Vec<u64>,
        via: &str,
    ) {
        self.push_event(ticket_id, at, updater, comment_ids, vec![]);
        if let Some(e) = self.events.last_mut() {
            e.via = via.into();
        }
    }

    /// A comment on a ticket, with its audit; on a messaging ticket it is
    /// a messaging comment and its log lists it too.
    pub fn new_comment(
        &mut self,
        ticket_id: u64,
        author: i64,
        text: &str,
        public: bool,
        at: i64,
    ) -> Option<u64> {
        let cid = self.comment_id();
        let t = self.tickets.get_mut(&ticket_id)?;
        let messaging = t.messaging.is_some();
        t.comments.push(SimComment {
            id: cid,
            author_id: author,
            body: text_body(text),
            public,
            channel: if messaging { "native_messaging" } else { "web" }.into(),
            kind: CommentKind::Normal,
            emphasis: false,
            created_at: at,
        });
        t.updated_at = at;
        t.generated = at;
        let via = if messaging { "Messaging" } else { "Web form" };
        self.push_audit(ticket_id, at, author, vec![cid], via);
        if messaging {
            self.log_comment(ticket_id, cid, author, at);
        }
        Some(cid)
    }
}

/// A text as comment paragraphs: split at blank lines, line ends trimmed,
/// empty lines dropped.
pub fn text_body(text: &str) -> Body {
    let paragraphs: Vec<Vec<String>> = text
        .split("\n\n")
        .map(|p| {
            p.lines()
                .map(|l| l.trim_end().to_string())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|p: &Vec<String>| !p.is_empty())
        .collect();
    Body::Text(paragraphs)
}
