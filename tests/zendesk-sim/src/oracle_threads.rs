//! The oracle's messages of Agent Workspace chats (the history of their
//! `ChatStartedEvent`) and of messaging tickets (the conversation log),
//! built from the model by the rules of `shared/mapping/RULES.md` ("Agent
//! Workspace chats", "Messaging"), independently of `zdsync-mapping`: texts
//! come from the model's structure, not from the JSON the server sends.
//!
//! Order: RULES.md sorts content by `created_at`, then comment id, then line
//! number, and says nothing of messages without a comment. Here a history
//! or log message has no comment (source 0: before any comment of the same
//! second) and keeps its position in the history or log; so a log is in its
//! own order within a second, `Comment` events included.

use serde_json::{Value, json};

use crate::aw::{Actor, AwChat, Item};
use crate::messaging::{Answer, Author, Content, Messaging};
use crate::model::{Model, SimTicket, iso};
use crate::oracle::readable;

/// A message with its sort key: (created_at, source comment id or 0,
/// position in the source).
pub(crate) type Msg = (String, u64, usize, Value);

/// A text normalised as a comment's text is (RULES.md "Text of a comment" 2).
pub(crate) fn normalize(s: &str) -> String {
    let s = s
        .replace('\0', "")
        .replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}'], "\n");
    let mut out = s
        .split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    out.trim().to_string()
}

pub(crate) fn message(
    comment_id: Option<u64>,
    author_id: Option<u64>,
    author_name: Option<String>,
    role: &str,
    at: &str,
    text: String,
) -> Value {
    json!({
        "comment_id": comment_id, "author_id": author_id, "author_name": author_name,
        "role": role, "created_at": at, "text": text,
    })
}

/// The messages of an Agent Workspace chat's history.
pub(crate) fn chat_messages(m: &Model, t: &SimTicket, chat: &AwChat, out: &mut Vec<Msg>) {
    for (i, h) in chat.history.iter().enumerate() {
        let role = match h.actor {
            Actor::EndUser => "customer",
            Actor::Agent => "agent",
            Actor::System => continue,
        };
        let text = match &h.item {
            Item::Message(s) => normalize(s),
            Item::File {
                filename: Some(f), ..
            } => format!("[file: {f}]"),
            Item::File { filename: None, .. } => "[file]".to_string(),
            Item::Join | Item::Leave | Item::Transfer(_) => continue,
        };
        let author_id = match (h.actor_id.filter(|id| *id > 0), h.actor) {
            (Some(id), _) => Some(id),
            (None, Actor::EndUser) => Some(t.requester_id),
            (None, _) => None,
        };
        let name = author_id
            .and_then(|id| readable(m, id as i64))
            .map_or_else(|| h.actor_name.clone(), |u| u.name.clone());
        let at = iso(h.at_ms.div_euclid(1000));
        let msg = message(None, author_id, Some(name), role, &at, text);
        out.push((at, 0, i, msg));
    }
}

/// `[image: name]` / `[file: name]`: the alt text, else the last segment
/// of the URL's path.
fn media(kind: &str, url: &str, alt: &Option<String>) -> String {
    let last = url.rsplit('/').next().filter(|s| !s.is_empty());
    match alt.clone().or_else(|| last.map(String::from)) {
        Some(name) => format!("[{kind}: {name}]"),
        None => format!("[{kind}]"),
    }
}

fn answer(a: &Answer) -> String {
    match a {
        Answer::Text(s) | Answer::Email(s) => s.clone(),
        Answer::Select(options) => {
            let labels: Vec<&str> = options.iter().map(|(_, label)| *label).collect();
            labels.join(", ")
        }
    }
}

/// The text of a log message that is not a `Comment` event.
fn content_text(c: &Content) -> String {
    let text = match c {
        Content::Comment(_) => String::new(),
        Content::Text(s) => s.clone(),
        Content::Html(body) => body.plain(),
        Content::Image { url, alt } => media("image", url, alt),
        Content::File { url, alt } => media("file", url, alt),
        Content::Form { text, fields } => {
            let labels = fields.iter().map(|f| f.label.to_string());
            let lines: Vec<String> = text.iter().cloned().chain(labels).collect();
            lines.join("\n")
        }
        Content::FormResponse { answers, fallback } => fallback.clone().unwrap_or_else(|| {
            let lines: Vec<String> = answers
                .iter()
                .map(|(f, a)| format!("{}: {}", f.label, answer(a)))
                .collect();
            lines.join("\n")
        }),
        Content::Other { kind, text } => text.clone().unwrap_or_else(|| format!("[{kind}]")),
    };
    normalize(&text)
}

/// The messages of a conversation log (the ticket's comments are not
/// added).
pub(crate) fn log_messages(m: &Model, t: &SimTicket, log: &Messaging, out: &mut Vec<Msg>) {
    for (i, e) in log.log.iter().enumerate() {
        let (public, text, comment_id) = match &e.content {
            Content::Comment(cid) => match t.comments.iter().find(|c| c.id == *cid) {
                Some(c) => (c.public, c.body.plain(), Some(*cid)),
                None => continue,
            },
            other => (true, content_text(other), None),
        };
        let (role, id, display_name) = match &e.author {
            Author::User { id, display_name } => ("customer", Some(*id), display_name),
            Author::Agent { id, display_name } => ("agent", Some(*id), display_name),
            Author::Bot { display_name } => ("agent", None, display_name),
            Author::System => continue,
        };
        if !public {
            continue;
        }
        let author_id = id.filter(|id| *id > 0);
        let name = Some(display_name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                author_id
                    .and_then(|id| readable(m, id as i64))
                    .map(|u| u.name.clone())
            });
        let at = iso(e.at);
        out.push((
            at.clone(),
            0,
            i,
            message(comment_id, author_id, name, role, &at, text),
        ));
    }
}
