//! Messaging tickets (web widget, mobile SDK, WhatsApp): the conversation
//! is the ticket's conversation log. Bots write only there; customers and
//! agents write there too, and on a mirrored ticket their text messages are
//! also public comments, which the log lists as `Comment` events. On a
//! log-only ticket the comments hold nothing of the conversation but,
//! sometimes, a private "Conversation with …" note.

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::MessageBy;
use crate::model::{
    Body, ChatAudit, CommentKind, Draft, HISTORY_END, Model, SimComment, SimEvent, SimTicket,
    text_body,
};

/// Whether the customer's and agent's messages are also comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagingKind {
    LogOnly,
    Mirrored,
}

/// Who wrote a log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// An end-user (`user`), possibly anonymous ("Web User …").
    User {
        id: u64,
        display_name: String,
    },
    Agent {
        id: u64,
        display_name: String,
    },
    Bot {
        display_name: String,
    },
    /// A system comment of a ticket that is not a messaging ticket.
    System,
}

/// A form field (Sunshine Conversations' shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `text`, `email` or `select`.
    pub kind: &'static str,
    pub name: &'static str,
    pub label: &'static str,
    pub options: Vec<(&'static str, &'static str)>,
}

/// A customer's answer to a form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Text(String),
    Email(String),
    /// Options picked, as (name, label).
    Select(Vec<(&'static str, &'static str)>),
}

/// What a log event holds.
#[derive(Debug, Clone)]
pub enum Content {
    /// A `Comment` event: the ticket's comment with this id.
    Comment(u64),
    Text(String),
    Html(Body),
    Image {
        url: String,
        alt: Option<String>,
    },
    File {
        url: String,
        alt: Option<String>,
    },
    Form {
        text: Option<String>,
        fields: Vec<Field>,
    },
    /// `text_fallback` as Sunshine Conversations writes it, when sent.
    FormResponse {
        answers: Vec<(Field, Answer)>,
        fallback: Option<String>,
    },
    /// A type readers do not know (`carousel`), with or without a text.
    Other {
        kind: &'static str,
        text: Option<String>,
    },
}

/// One event of a conversation log.
#[derive(Debug, Clone)]
pub struct LogEvent {
    pub id: u64,
    pub at: i64,
    pub author: Author,
    pub content: Content,
}

/// A messaging ticket's conversation.
#[derive(Debug, Clone)]
pub struct Messaging {
    pub kind: MessagingKind,
    /// False: the conversation log answers 404 (the comments are all there is).
    pub log_available: bool,
    pub log: Vec<LogEvent>,
}

/// A log event id: a ULID-like string (`01K` and 23 hex digits).
pub fn log_id(n: u64) -> String {
    format!("01K{n:023X}")
}

impl Author {
    fn json(&self) -> Value {
        match self {
            Author::User { id, display_name } => json!({
                "type": "user", "display_name": display_name, "zen:support:user_id": id,
                "zen:sunco:user_id": format!("{:024x}", id.wrapping_mul(0x9E37_79B9)),
            }),
            Author::Agent { id, display_name } => {
                json!({"type": "agent", "display_name": display_name, "zen:support:user_id": id})
            }
            Author::Bot { display_name } => {
                json!({"type": "bot", "display_name": display_name, "zen:support:user_id": -1})
            }
            Author::System => {
                json!({"type": "system", "display_name": "Zendesk", "zen:support:user_id": -1})
            }
        }
    }
}

impl Field {
    fn json(&self) -> Value {
        let mut v = json!({"type": self.kind, "name": self.name, "label": self.label});
        if self.options.is_empty() {
            v["placeholder"] = json!("Type here…");
        } else {
            v["options"] = options_json(&self.options);
        }
        v
    }
}

fn options_json(options: &[(&str, &str)]) -> Value {
    options
        .iter()
        .map(|(name, label)| json!({"name": name, "label": label}))
        .collect()
}

fn media_json(kind: &str, url: &str, alt: &Option<String>) -> Value {
    let media_type = if kind == "image" {
        "image/jpeg"
    } else {
        "application/pdf"
    };
    let mut v =
        json!({"type": kind, "media_url": url, "media_type": media_type, "media_size": 48_213});
    if let Some(a) = alt {
        v["alt_text"] = json!(a);
    }
    v
}

impl Content {
    /// `content` of a log event (`comment`: the comment a `Comment` event
    /// shows).
    fn json(&self, comment: Option<&SimComment>) -> Value {
        match self {
            Content::Comment(_) => {
                let body = comment.map(|c| c.body.html(c.emphasis)).unwrap_or_default();
                json!({"type": "html", "body": body})
            }
            Content::Text(text) => json!({"type": "text", "text": text}),
            Content::Html(body) => json!({"type": "html", "body": body.html(false)}),
            Content::Image { url, alt } => media_json("image", url, alt),
            Content::File { url, alt } => media_json("file", url, alt),
            Content::Form { text, fields } => {
                let mut v = json!({"type": "form", "block_chat_input": true,
                    "fields": fields.iter().map(Field::json).collect::<Vec<_>>()});
                if let Some(t) = text {
                    v["text"] = json!(t);
                }
                v
            }
            Content::FormResponse { answers, fallback } => {
                let mut v = json!({"type": "formResponse",
                    "fields": answers.iter().map(|(f, a)| answer_json(f, a)).collect::<Vec<_>>()});
                if let Some(t) = fallback {
                    v["text_fallback"] = json!(t);
                }
                v
            }
            Content::Other { kind, text } => {
                let mut v = json!({"type": kind, "items": [{"title": "Plans", "actions": []}]});
                if let Some(t) = text {
                    v["text"] = json!(t);
                }
                v
            }
        }
    }
}

fn answer_json(field: &Field, answer: &Answer) -> Value {
    let mut v = json!({"type": field.kind, "name": field.name, "label": field.label});
    match answer {
        Answer::Text(t) => v["text"] = json!(t),
        Answer::Email(e) => v["email"] = json!(e),
        Answer::Select(options) => v["select"] = options_json(options),
    }
    v
}

impl LogEvent {
    /// The event as the conversation log serves it.
    pub fn json(&self, t: &SimTicket) -> Value {
        let comment = match self.content {
            Content::Comment(cid) => t.comments.iter().find(|c| c.id == cid),
            _ => None,
        };
        let (kind, reference) = match self.content {
            Content::Comment(cid) => ("Comment", format!("zen:ticket_event:{cid}")),
            _ => (
                "Messaging::ConversationMessage",
                format!("zen:messaging:message:{}", log_id(self.id).to_lowercase()),
            ),
        };
        let mut v = json!({
            "id": log_id(self.id), "type": kind, "reference": reference,
            "created_at": crate::model::iso(self.at), "attachments": [],
            "author": self.author.json(), "content": self.content.json(comment),
            "metadata": {},
        });
        // `public` is sent for comments; messages leave it out half the time.
        match comment {
            Some(c) => v["metadata"]["public"] = json!(c.public),
            None if self.id.is_multiple_of(2) => v["metadata"]["public"] = json!(true),
            None => v["metadata"]["conversation_id"] = json!(format!("{:024x}", t.id)),
        }
        crate::shapes::log_event(&mut v, self.id);
        v
    }
}

/// The conversation log of a ticket: a messaging ticket's log, or any
/// other ticket's comments as `Comment` events. `person` tells whether a
/// user is an agent, and their name.
pub fn log_json(t: &SimTicket, person: impl Fn(i64) -> Option<(bool, String)>) -> Vec<Value> {
    if let Some(m) = &t.messaging {
        return m.log.iter().map(|e| e.json(t)).collect();
    }
    t.comments
        .iter()
        .map(|c| {
            let author = match person(c.author_id) {
                _ if c.author_id <= 0 || c.kind != CommentKind::Normal => Author::System,
                Some((true, name)) => Author::Agent {
                    id: c.author_id as u64,
                    display_name: name,
                },
                other => Author::User {
                    id: c.author_id as u64,
                    display_name: other.map(|(_, n)| n).unwrap_or_default(),
                },
            };
            let event = LogEvent {
                id: c.id,
                at: c.created_at,
                author,
                content: Content::Comment(c.id),
            };
            event.json(t)
        })
        .collect()
}

/// Who writes in a messaging conversation.
struct Cast {
    requester: u64,
    /// None: the customer never writes (bots and agents only).
    customer: Option<Author>,
    agent: Author,
    bot: Author,
}

/// A conversation under construction: (time, author, content).
struct Script<'a, R: Rng> {
    rng: &'a mut R,
    t: i64,
    out: Vec<(i64, Author, Content)>,
}

const OPENERS: [&str; 5] = [
    "Hi, my card was charged twice for the same order.",
    "Hello  \r\nthe app logs me out every few minutes.  ",
    "Where is my parcel? It's been two weeks 😕",
    "Bonjour, je ne trouve pas ma facture.",
    "Can I change the e-mail address of my account?",
];
const CUSTOMER_TEXTS: [&str; 4] = [
    "I tried that, it still fails.",
    "OK, thanks!\n\nOne more question: do you ship to Norway?",
    "The order number is ORD-48213.",
    "¡Gracias! 🙏",
];
const AGENT_TEXTS: [&str; 3] = [
    "I've refunded the duplicate charge.",
    "Could you send me a photo of the label?",
    "That's fixed now, sorry for the trouble.",
];

fn form_fields() -> Vec<Field> {
    let field = |kind, name, label| Field {
        kind,
        name,
        label,
        options: vec![],
    };
    vec![
        field("text", "first_name", "Your name"),
        field("email", "email", "Email"),
        Field {
            options: vec![
                ("billing", "Billing"),
                ("orders", "Orders"),
                ("account", "Account"),
            ],
            ..field("select", "topic", "Topic")
        },
    ]
}

/// The value of an answer as a reader shows it.
fn answer_text(answer: &Answer) -> String {
    match answer {
        Answer::Text(t) | Answer::Email(t) => t.clone(),
        Answer::Select(options) => options
            .iter()
            .map(|(_, label)| *label)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

impl<R: Rng> Script<'_, R> {
    fn push(&mut self, who: &Author, content: Content) {
        self.t = (self.t + self.rng.random_range(5..300)).min(HISTORY_END);
        self.out.push((self.t, who.clone(), content));
    }

    fn text(&mut self, who: &Author, text: &str) {
        self.push(who, Content::Text(text.to_string()));
    }

    fn one_of<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    /// A bot's form and the customer's answers (`text_fallback` sent for
    /// six in ten).
    fn form(&mut self, customer: &Author, bot: &Author) {
        let fields = form_fields();
        let text = self.rng.random_bool(0.5);
        let text = text.then(|| "Before I connect you, a few details:".to_string());
        self.push(
            bot,
            Content::Form {
                text,
                fields: fields.clone(),
            },
        );
        let name = match customer {
            Author::User { display_name, .. } => display_name.clone(),
            _ => String::new(),
        };
        let picked = if self.rng.random_bool(0.7) { 1 } else { 2 };
        let answers = vec![
            (fields[0].clone(), Answer::Text(name)),
            (
                fields[1].clone(),
                Answer::Email("reply-here@customer.example".into()),
            ),
            (
                fields[2].clone(),
                Answer::Select(fields[2].options[..picked].to_vec()),
            ),
        ];
        let fallback = self.rng.random_bool(0.6).then(|| {
            let lines: Vec<String> = answers
                .iter()
                .map(|(f, a)| format!("{}: {}", f.label, answer_text(a)))
                .collect();
            lines.join("\n")
        });
        self.push(customer, Content::FormResponse { answers, fallback });
    }

    /// A customer's turn: a text, or an image or a file.
    fn customer_turn(&mut self, customer: &Author) {
        let base = "https://acme.zendesk.com/sc/attachments/v2/01HX3Q";
        let alt = |r: &mut R, name: &str| r.random_bool(0.5).then(|| name.to_string());
        match self.rng.random_range(0..10) {
            0 => {
                let alt = alt(self.rng, "Photo of the damaged box");
                self.push(
                    customer,
                    Content::Image {
                        url: format!("{base}/IMG_2041.jpg"),
                        alt,
                    },
                );
            }
            1 => {
                let alt = alt(self.rng, "receipt-0425.pdf");
                self.push(
                    customer,
                    Content::File {
                        url: format!("{base}/receipt-0425.pdf"),
                        alt,
                    },
                );
            }
            _ => {
                let text = self.one_of(&CUSTOMER_TEXTS);
                self.text(customer, text);
            }
        }
    }

    fn with_customer(&mut self, customer: &Author, cast: &Cast) {
        let opener = self.one_of(&OPENERS);
        self.text(customer, opener);
        if self.rng.random_bool(0.5) {
            self.form(customer, &cast.bot);
        }
        if self.rng.random_bool(0.15) {
            let text = self
                .rng
                .random_bool(0.5)
                .then(|| "Here are our plans:".to_string());
            self.push(
                &cast.bot,
                Content::Other {
                    kind: "carousel",
                    text,
                },
            );
        }
        self.text(&cast.bot, "Connecting you to an agent…");
        self.text(
            &cast.agent,
            "Hi, thanks for waiting! Let me check that for you.",
        );
        for _ in 0..self.rng.random_range(1..=2) {
            self.customer_turn(customer);
            let reply = self.one_of(&AGENT_TEXTS);
            self.text(&cast.agent, reply);
        }
        if self.rng.random_bool(0.3) {
            let body =
                text_body("Thanks for chatting with us!\n\nYou can rate this conversation below.");
            self.push(&cast.bot, Content::Html(body));
        }
    }

    /// A conversation the business starts, which the customer never answers.
    fn proactive(&mut self, cast: &Cast) {
        self.text(&cast.bot, "Your order ORD-48213 has shipped! 📦");
        self.text(&cast.agent, "Just checking in: did your order arrive?");
        if self.rng.random_bool(0.5) {
            let rating = Field {
                kind: "select",
                name: "rating",
                label: "How did we do?",
                options: vec![("good", "Good 👍"), ("bad", "Bad 👎")],
            };
            self.push(
                &cast.bot,
                Content::Form {
                    text: None,
                    fields: vec![rating],
                },
            );
        }
    }
}

/// A messaging conversation that starts at `start`.
fn script(rng: &mut impl Rng, start: i64, cast: &Cast) -> Vec<(i64, Author, Content)> {
    let mut s = Script {
        rng,
        t: start,
        out: Vec::new(),
    };
    if s.rng.random_bool(0.8) {
        let name = match &cast.bot {
            Author::Bot { display_name } => display_name.clone(),
            _ => String::new(),
        };
        s.text(
            &cast.bot,
            &format!("Hi there! 👋 I'm {name}. How can I help?"),
        );
    }
    match &cast.customer {
        Some(customer) => s.with_customer(customer, cast),
        None => s.proactive(cast),
    }
    s.out
}

impl Model {
    /// Who writes: a customer (three in ten anonymous "Web User"s without
    /// e-mail) or, for one conversation in five, nobody but a bot and an
    /// agent (shown by first name half the time).
    fn messaging_cast(&mut self) -> Cast {
        let requester = if self.rng.random_bool(0.3) {
            let name = format!("Web User {:014x}", self.rng.random_range(0..u64::MAX >> 8));
            self.user("end-user", None, name, None, None)
        } else {
            self.end_users[self.rng.random_range(0..self.end_users.len())]
        };
        let speaks = !self.rng.random_bool(0.2);
        let customer = speaks.then(|| self.log_author(requester as i64));
        let agent = self.agent();
        let mut agent = self.log_author(agent as i64);
        if let Author::Agent { display_name, .. } = &mut agent
            && self.rng.random_bool(0.5)
        {
            *display_name = display_name
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
        }
        let bot = ["Acme Assistant", "Answer Bot"][self.rng.random_range(0..2)];
        Cast {
            requester,
            customer,
            agent,
            bot: Author::Bot {
                display_name: bot.into(),
            },
        }
    }

    /// A user as a log event's author: an agent or an end-user.
    pub(crate) fn log_author(&self, user_id: i64) -> Author {
        let user = self.users.get(&(user_id.max(0) as u64));
        let display_name = user.map(|u| u.name.clone()).unwrap_or_default();
        match user {
            Some(u) if u.role != "end-user" => Author::Agent {
                id: u.id,
                display_name,
            },
            _ => Author::User {
                id: user_id.max(0) as u64,
                display_name,
            },
        }
    }

    /// An audit of a messaging ticket.
    fn messaging_audit(
        &mut self,
        events: &mut Vec<SimEvent>,
        (ticket_id, at, updater): (u64, i64, i64),
        comment_ids: Vec<u64>,
        changes: Vec<Value>,
    ) {
        let id = self.id();
        events.push(SimEvent {
            id,
            ticket_id,
            timestamp: at,
            updater_id: updater,
            via: "Messaging".into(),
            comment_ids,
            changes,
            chat: ChatAudit::None,
        });
    }

    /// A public messaging comment of `author` at `at`, with its audit.
    fn mirror(
        &mut self,
        events: &mut Vec<SimEvent>,
        (ticket_id, at, author): (u64, i64, i64),
        text: &str,
        comments: &mut Vec<SimComment>,
    ) -> u64 {
        let cid = self.comment_id();
        let emphasis = self.rng.random_bool(0.3);
        comments.push(SimComment {
            id: cid,
            author_id: author,
            body: text_body(text),
            public: true,
            channel: "native_messaging".into(),
            kind: CommentKind::Normal,
            emphasis,
            created_at: at,
        });
        self.messaging_audit(events, (ticket_id, at, author), vec![cid], vec![]);
        cid
    }

    /// The log of a conversation; on a mirrored ticket the customer's and
    /// agent's texts become comments (appended to `comments`).
    fn messaging_log(
        &mut self,
        id: u64,
        kind: MessagingKind,
        script: Vec<(i64, Author, Content)>,
        comments: &mut Vec<SimComment>,
        events: &mut Vec<SimEvent>,
    ) -> Vec<LogEvent> {
        let mut log = Vec::new();
        for (at, author, content) in script {
            let content = match (&author, content) {
                (Author::User { id: a, .. } | Author::Agent { id: a, .. }, Content::Text(text))
                    if kind == MessagingKind::Mirrored =>
                {
                    Content::Comment(self.mirror(events, (id, at, *a as i64), &text, comments))
                }
                (_, content) => content,
            };
            let eid = self.id();
            log.push(LogEvent {
                id: eid,
                at,
                author,
                content,
            });
        }
        log
    }

    /// The private "Conversation with …" note of a log-only ticket, after
    /// its last message, and its `Comment` event.
    fn transcript_note(
        &mut self,
        id: u64,
        requester: u64,
        log: &mut Vec<LogEvent>,
        comments: &mut Vec<SimComment>,
        events: &mut Vec<SimEvent>,
    ) {
        let author = self.log_author(requester as i64);
        let Author::User { display_name, .. } = &author else {
            return;
        };
        let lines: Vec<String> = log
            .iter()
            .filter_map(|e| match (&e.author, &e.content) {
                (
                    Author::User {
                        display_name: n, ..
                    }
                    | Author::Agent {
                        display_name: n, ..
                    }
                    | Author::Bot { display_name: n },
                    Content::Text(t),
                ) => Some(format!(
                    "{n}: {}",
                    t.lines().next().unwrap_or("").trim_end()
                )),
                _ => None,
            })
            .collect();
        let at = (log.last().map_or(0, |e| e.at) + 1).min(HISTORY_END);
        let cid = self.comment_id();
        comments.push(SimComment {
            id: cid,
            author_id: requester as i64,
            body: Body::Text(vec![
                vec![format!("Conversation with {display_name}")],
                lines,
            ]),
            public: false,
            channel: "native_messaging".into(),
            kind: CommentKind::Normal,
            emphasis: false,
            created_at: at,
        });
        self.messaging_audit(events, (id, at, requester as i64), vec![cid], vec![]);
        let eid = self.id();
        log.push(LogEvent {
            id: eid,
            at,
            author,
            content: Content::Comment(cid),
        });
    }

    /// The ordinal of a new mirrored ticket (from 0).
    fn next_mirrored(&mut self) -> usize {
        self.mirrored += 1;
        self.mirrored - 1
    }

    /// A messaging ticket created at `at`: log-only (half with a private
    /// transcript note) or mirrored (one in fifteen without a log: the
    /// third, the eighteenth, …).
    pub(crate) fn make_messaging_ticket(
        &mut self,
        id: u64,
        at: i64,
        kind: MessagingKind,
        events: &mut Vec<SimEvent>,
    ) -> u64 {
        let cast = self.messaging_cast();
        let script = script(&mut self.rng, at, &cast);
        let create = json!({"event_type": "Create", "field_name": "status", "value": "new"});
        self.messaging_audit(
            events,
            (id, at, cast.requester as i64),
            vec![],
            vec![create],
        );
        let mut comments = Vec::new();
        let mut log = self.messaging_log(id, kind, script, &mut comments, events);
        if kind == MessagingKind::LogOnly && self.rng.random_bool(0.5) {
            self.transcript_note(id, cast.requester, &mut log, &mut comments, events);
        }
        let log_available = kind == MessagingKind::LogOnly || self.next_mirrored() % 15 != 2;
        let name = self
            .users
            .get(&cast.requester)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        let draft = Draft {
            id,
            at,
            last: log.last().map_or(at, |e| e.at),
            subject: format!("Conversation with {name}"),
            requester: cast.requester,
            submitter: cast.requester,
            assignee: match cast.agent {
                Author::Agent { id, .. } => id,
                _ => 0,
            },
            organization_id: self
                .users
                .get(&cast.requester)
                .and_then(|u| u.organization_id),
            channel: "native_messaging".into(),
            comments,
            deleted: false,
            agent_only: cast.customer.is_none(),
            aw_chat: None,
            messaging: Some(Messaging {
                kind,
                log_available,
                log,
            }),
        };
        self.finish(draft, events)
    }

    /// Lists comment `cid` of messaging ticket `ticket_id` in its log.
    pub(crate) fn log_comment(&mut self, ticket_id: u64, cid: u64, author: i64, at: i64) {
        let author = self.log_author(author);
        let id = self.id();
        if let Some(m) = self
            .tickets
            .get_mut(&ticket_id)
            .and_then(|t| t.messaging.as_mut())
        {
            m.log.push(LogEvent {
                id,
                at,
                author,
                content: Content::Comment(cid),
            });
        }
    }

    /// A new message on a messaging ticket at `at`: a comment too when the
    /// ticket is mirrored and the author not a bot. False when the ticket
    /// is not a (live) messaging ticket.
    pub fn add_messaging_message(
        &mut self,
        ticket_id: u64,
        by: MessageBy,
        text: &str,
        at: i64,
    ) -> bool {
        let Some(t) = self.tickets.get(&ticket_id).filter(|t| !t.deleted) else {
            return false;
        };
        let Some(m) = &t.messaging else { return false };
        let author_id = match by {
            MessageBy::Customer => t.requester_id as i64,
            MessageBy::Agent => t.assignee_id.unwrap_or_default() as i64,
            MessageBy::Bot => -1,
        };
        if by != MessageBy::Bot && m.kind == MessagingKind::Mirrored {
            return self
                .new_comment(ticket_id, author_id, text, true, at)
                .is_some();
        }
        let author = match by {
            MessageBy::Bot => m
                .log
                .iter()
                .find(|e| matches!(e.author, Author::Bot { .. }))
                .map_or(
                    Author::Bot {
                        display_name: "Acme Assistant".into(),
                    },
                    |e| e.author.clone(),
                ),
            _ => self.log_author(author_id),
        };
        let id = self.id();
        if let Some(t) = self.tickets.get_mut(&ticket_id) {
            t.updated_at = at;
            t.generated = at;
            if let Some(m) = t.messaging.as_mut() {
                m.log.push(LogEvent {
                    id,
                    at,
                    author,
                    content: Content::Text(text.to_string()),
                });
            }
        }
        self.push_audit(ticket_id, at, author_id, vec![], "Messaging");
        true
    }
}
