//! Agent Workspace chats in the simulated account: no comment holds a
//! transcript; the chat lives in the ticket's audits, as a
//! `ChatStartedEvent` whose `value.history` lists every chat item
//! (messages, files, joins, leaves, transfers, system lines) with its time
//! in epoch milliseconds, then a `ChatEndedEvent`. Half of these chats are
//! listed by the ticket-events stream (without their history); the other
//! half only by the audits.

use rand::Rng;
use serde_json::{Value, json};

use crate::chat::{AGENT_TEXTS, CUSTOMER_TEXTS, OPENERS};
use crate::model::{
    Body, ChatAudit, CommentKind, DAY, Draft, HISTORY_END, Model, SimComment, SimEvent, text_body,
};

/// `actor_type` of a history item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    EndUser,
    Agent,
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::EndUser => "end-user",
            Actor::Agent => "agent",
            Actor::System => "system",
        }
    }
}

/// What a history item is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `ChatMessage`
    Message(String),
    /// `ChatFileAttachment`; the file name is sometimes missing.
    File {
        filename: Option<String>,
        url: String,
    },
    /// `ChatJoin`
    Join,
    /// `ChatLeave`
    Leave,
    /// `ChatTransfer` to a department.
    Transfer(String),
}

/// One item of a chat's history.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    pub at_ms: i64,
    pub actor: Actor,
    /// Absent for some anonymous visitors and for system items.
    pub actor_id: Option<u64>,
    pub actor_name: String,
    pub item: Item,
}

/// An Agent Workspace chat.
#[derive(Debug, Clone)]
pub struct AwChat {
    pub chat_id: String,
    pub visitor_id: String,
    pub history: Vec<HistoryItem>,
    /// The ticket-events stream lists its `ChatStartedEvent`.
    pub listed: bool,
}

/// Someone in a chat, as its history names them.
#[derive(Debug, Clone)]
pub struct Who {
    pub actor: Actor,
    pub id: Option<u64>,
    pub name: String,
}

/// Who takes part in a chat.
#[derive(Debug, Clone)]
pub struct Cast {
    pub requester: u64,
    pub customer: Who,
    pub agent: Who,
    /// The agent a transfer hands the chat to.
    pub second: Option<Who>,
    /// False for a chat in which the visitor never writes.
    pub customer_speaks: bool,
}

impl HistoryItem {
    fn type_name(&self) -> &'static str {
        match self.item {
            Item::Message(_) => "ChatMessage",
            Item::File { .. } => "ChatFileAttachment",
            Item::Join => "ChatJoin",
            Item::Leave => "ChatLeave",
            Item::Transfer(_) => "ChatTransfer",
        }
    }

    /// The item as `value.history` holds it.
    pub fn json(&self, chat_index: usize) -> Value {
        let mut v = json!({
            "type": self.type_name(), "actor_type": self.actor.as_str(),
            "actor_name": self.actor_name, "timestamp": self.at_ms, "chat_index": chat_index,
        });
        if let Some(id) = self.actor_id {
            v["actor_id"] = json!(id);
        }
        let message_id = format!("{}-{chat_index}", self.at_ms);
        match &self.item {
            Item::Message(text) => {
                v["message"] = json!(text);
                v["message_id"] = json!(message_id);
            }
            Item::File { filename, url } => {
                if let Some(f) = filename {
                    v["filename"] = json!(f);
                }
                v["url"] = json!(url);
                v["mime_type"] = json!("application/octet-stream");
                v["size"] = json!(48_213);
                v["message_id"] = json!(message_id);
            }
            Item::Transfer(department) => v["department_name"] = json!(department),
            Item::Join | Item::Leave => {}
        }
        v
    }
}

impl AwChat {
    /// The audit event: with its history in the audits, without it (and
    /// with `event_type`) in the ticket-events stream.
    pub fn started_json(&self, id: u64, in_stream: bool) -> Value {
        let mut value = json!({"visitor_id": self.visitor_id, "chat_id": self.chat_id});
        let mut v = json!({"id": id, "type": "ChatStartedEvent"});
        if in_stream {
            v["event_type"] = json!("ChatStartedEvent");
        } else {
            value["history"] = self
                .history
                .iter()
                .enumerate()
                .map(|(i, h)| h.json(i))
                .collect();
            value["tags"] = json!([]);
            value["webpath"] = json!([]);
        }
        v["value"] = value;
        v
    }

    pub fn ended_json(&self, id: u64, in_stream: bool) -> Value {
        let mut v = json!({"id": id, "type": "ChatEndedEvent", "value": {
            "visitor_id": self.visitor_id, "chat_id": self.chat_id, "is_served": true, "tags": [],
        }});
        if in_stream {
            v["event_type"] = json!("ChatEndedEvent");
        }
        v
    }

    /// The chat event of an audit, as the audits (`in_stream` false) or
    /// the stream serve it; the stream lists it only for listed chats.
    pub fn audit_event(&self, audit_id: u64, kind: ChatAudit, in_stream: bool) -> Option<Value> {
        if in_stream && !self.listed {
            return None;
        }
        match kind {
            ChatAudit::None => None,
            ChatAudit::Started => Some(self.started_json(audit_id * 100 + 90, in_stream)),
            ChatAudit::Ended => Some(self.ended_json(audit_id * 100 + 91, in_stream)),
        }
    }
}

/// A chat's history under construction.
struct Script<'a, R: Rng> {
    rng: &'a mut R,
    ms: i64,
    items: Vec<HistoryItem>,
}

impl<R: Rng> Script<'_, R> {
    fn push(&mut self, who: &Who, item: Item) {
        self.ms += self.rng.random_range(2_000..90_000);
        self.items.push(HistoryItem {
            at_ms: self.ms,
            actor: who.actor,
            actor_id: who.id,
            actor_name: who.name.clone(),
            item,
        });
    }

    fn say(&mut self, who: &Who, lines: &[&str]) {
        self.push(who, Item::Message(lines.join("\n")));
    }

    fn one_of<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    /// A customer's turn: a message, or one time in five a file.
    fn customer_turn(&mut self, customer: &Who) {
        if self.rng.random_bool(0.2) {
            let name = self.one_of(&["screenshot.png", "invoice-0425.pdf", "error log.txt"]);
            let filename = self.rng.random_bool(0.8).then(|| name.to_string());
            let token = self.rng.random_range(100_000..999_999);
            let url = format!(
                "https://v2uploads.zopim.io/p/{token}/{}",
                name.replace(' ', "%20")
            );
            self.push(customer, Item::File { filename, url });
        } else {
            let text = self.one_of(&CUSTOMER_TEXTS);
            self.say(customer, text);
        }
    }
}

/// The system's lines (`actor_type: system`).
fn system() -> Who {
    Who {
        actor: Actor::System,
        id: None,
        name: "Zendesk".into(),
    }
}

/// The history of a chat started at `started` (seconds).
pub fn history(rng: &mut impl Rng, started: i64, cast: &Cast) -> Vec<HistoryItem> {
    let ms = started * 1000 + rng.random_range(0..1000);
    let mut s = Script {
        rng,
        ms,
        items: Vec::new(),
    };
    let (customer, agent) = (&cast.customer, &cast.agent);
    s.push(customer, Item::Join);
    if s.rng.random_bool(0.5) {
        s.say(
            &system(),
            &["Chat started from https://acme.example/help/billing"],
        );
    }
    if cast.customer_speaks {
        let opener = s.one_of(&OPENERS);
        s.say(customer, &[opener]);
    }
    s.push(agent, Item::Join);
    s.say(agent, &["Hi! How can I help you today? 😊"]);
    for _ in 0..s.rng.random_range(1..=3) {
        if cast.customer_speaks {
            s.customer_turn(customer);
        }
        let reply = s.one_of(&AGENT_TEXTS);
        s.say(agent, reply);
    }
    if let Some(second) = &cast.second {
        s.say(&system(), &["Chat transferred to Billing"]);
        s.push(agent, Item::Transfer("Billing".into()));
        s.push(second, Item::Join);
        s.push(agent, Item::Leave);
        s.say(second, &["Hi, I'm taking over from my colleague."]);
        if cast.customer_speaks {
            s.say(customer, &["Thanks, the refund is all I need."]);
        }
    }
    s.push(customer, Item::Leave);
    s.items
}

impl Model {
    /// Who takes part in a new chat: an anonymous visitor (a user without
    /// e-mail, named in the history with or without `actor_id`) or a
    /// customer named by first name or in full; agents by first name.
    fn aw_cast(&mut self) -> Cast {
        let anonymous = self.rng.random_bool(0.4);
        let (requester, customer) = if anonymous {
            let name = format!("Visitor {}", self.rng.random_range(10_000_000..99_999_999));
            let id = self.user("end-user", None, name.clone(), None, None);
            let shown = self.rng.random_bool(0.5).then_some(id);
            (id, (shown, name))
        } else {
            let id = self.end_users[self.rng.random_range(0..self.end_users.len())];
            let name = self
                .users
                .get(&id)
                .map(|u| u.name.clone())
                .unwrap_or_default();
            let first = name.split_whitespace().next().unwrap_or("").to_string();
            (
                id,
                (
                    Some(id),
                    if self.rng.random_bool(0.5) {
                        first
                    } else {
                        name
                    },
                ),
            )
        };
        let agent = self.agent_who();
        let second = if self.rng.random_bool(0.25) {
            Some(self.agent_who()).filter(|w| w.id != agent.id)
        } else {
            None
        };
        Cast {
            requester,
            customer: Who {
                actor: Actor::EndUser,
                id: customer.0,
                name: customer.1,
            },
            agent,
            second,
            customer_speaks: !self.rng.random_bool(0.1),
        }
    }

    /// A random agent, by first name.
    fn agent_who(&mut self) -> Who {
        let id = self.agent();
        let name = self
            .users
            .get(&id)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        Who {
            actor: Actor::Agent,
            id: Some(id),
            name: name.split_whitespace().next().unwrap_or("").to_string(),
        }
    }

    /// An Agent Workspace chat ticket created at `at` when the chat
    /// started: a `Create` audit carrying the `ChatStartedEvent`, a
    /// `ChatEndedEvent` audit, and sometimes comments after the chat.
    pub(crate) fn make_aw_chat_ticket(
        &mut self,
        id: u64,
        at: i64,
        events: &mut Vec<SimEvent>,
    ) -> u64 {
        let cast = self.aw_cast();
        let history = history(&mut self.rng, at, &cast);
        let chat = AwChat {
            chat_id: format!("2601.{}.{id}", self.rng.random_range(1_000_000..9_999_999)),
            visitor_id: format!("{}-{id}", self.rng.random_range(1_000_000..9_999_999)),
            history,
            listed: self.rng.random_bool(0.5),
        };
        let end = chat.history.last().map_or(at, |h| h.at_ms.div_euclid(1000)) + 1;
        let create = json!({"event_type": "Create", "field_name": "status", "value": "new"});
        let requester = cast.requester as i64;
        self.chat_audit(
            events,
            (id, at, requester),
            vec![create],
            ChatAudit::Started,
        );
        self.chat_audit(events, (id, end, -1), vec![], ChatAudit::Ended);
        let (comments, last) = self.after_chat(id, &cast, end, events);
        let draft = Draft {
            id,
            at,
            last,
            subject: format!("Chat with {}", cast.customer.name),
            requester: cast.requester,
            submitter: cast.requester,
            assignee: cast.agent.id.unwrap_or_default(),
            organization_id: self
                .users
                .get(&cast.requester)
                .and_then(|u| u.organization_id),
            channel: "chat".into(),
            comments,
            deleted: false,
            agent_only: !cast.customer_speaks,
            aw_chat: Some(chat),
            messaging: None,
        };
        self.finish(draft, events)
    }

    /// An audit of a chat ticket `(ticket, time, updater)` with a chat event.
    fn chat_audit(
        &mut self,
        events: &mut Vec<SimEvent>,
        (ticket_id, timestamp, updater_id): (u64, i64, i64),
        changes: Vec<Value>,
        chat: ChatAudit,
    ) {
        let id = self.id();
        events.push(SimEvent {
            id,
            ticket_id,
            timestamp,
            updater_id,
            via: "Chat".into(),
            comment_ids: vec![],
            changes,
            chat,
        });
    }

    /// Comments after a chat that ended at `end`, each with its audit:
    /// none for half the chats, else an agent's public follow-up or private
    /// note, or a customer's e-mail and the agent's answer.
    fn after_chat(
        &mut self,
        id: u64,
        cast: &Cast,
        end: i64,
        events: &mut Vec<SimEvent>,
    ) -> (Vec<SimComment>, i64) {
        let agent = cast.agent.id.unwrap_or_default() as i64;
        let customer = cast.requester as i64;
        let plan: &[(i64, bool, &str)] = match self.rng.random_range(0..10) {
            0..5 => &[],
            5 | 6 => &[(agent, true, "web")],
            7 => &[(agent, false, "web")],
            _ => &[(customer, true, "email"), (agent, true, "web")],
        };
        let mut comments = Vec::new();
        let mut t = end;
        for &(author, public, channel) in plan {
            t = (t + self.rng.random_range(600..DAY)).min(HISTORY_END);
            let body: Body = if author == customer {
                text_body("One more thing after our chat: the invoice still shows the old address.")
            } else {
                self.text(false)
            };
            let cid = self.comment_id();
            comments.push(SimComment {
                id: cid,
                author_id: author,
                body,
                public,
                channel: channel.into(),
                kind: CommentKind::Normal,
                emphasis: false,
                created_at: t,
            });
            let eid = self.id();
            events.push(SimEvent {
                id: eid,
                ticket_id: id,
                timestamp: t,
                updater_id: author,
                via: "Web form".into(),
                comment_ids: vec![cid],
                changes: vec![],
                chat: ChatAudit::None,
            });
        }
        (comments, t)
    }
}
