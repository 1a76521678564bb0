//! The documents a correct importer holds for the simulated account, built
//! from the simulator's own model by the rules of `shared/mapping/RULES.md`,
//! independently of `zdsync-mapping` (chat lines come from the model's
//! structure, not from parsing the transcript; texts are the generated ones).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::chat::{ChatLine, ChatLineKind};
use crate::model::{
    Access, Body, CommentKind, Model, SimComment, SimTicket, SimUser, field_defs, iso, reasons,
};
use crate::oracle_threads::{Msg, chat_messages, log_messages, message};

pub(crate) fn readable(m: &Model, id: i64) -> Option<&SimUser> {
    if id <= 0 {
        return None;
    }
    m.users.get(&(id as u64)).filter(|u| !u.deleted)
}

fn titles() -> HashMap<u64, (String, &'static str, HashMap<&'static str, &'static str>)> {
    let mut defs = field_defs();
    defs.sort_by_key(|d| d.id);
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut out = HashMap::new();
    for d in defs {
        let title = if seen.contains_key(d.title) {
            format!("{} ({})", d.title, d.id)
        } else {
            seen.insert(d.title, d.id);
            d.title.to_string()
        };
        out.insert(d.id, (title, d.kind, d.options.iter().copied().collect()));
    }
    out
}

fn empty(v: &Value) -> bool {
    matches!(v, Value::Null) || v.as_str() == Some("") || v.as_array().is_some_and(|a| a.is_empty())
}

fn option(options: &HashMap<&str, &str>, v: &Value) -> Value {
    match v.as_str().and_then(|s| options.get(s)) {
        Some(name) => json!(name),
        None => v.clone(),
    }
}

fn typed(kind: &str, options: &HashMap<&str, &str>, v: &Value) -> Option<Value> {
    Some(match kind {
        "tagger" => option(options, v),
        "multiselect" => {
            let items: Vec<Value> = v
                .as_array()?
                .iter()
                .filter(|i| !empty(i))
                .map(|i| option(options, i))
                .collect();
            if items.is_empty() {
                return None;
            }
            Value::Array(items)
        }
        "integer" => match v.as_str() {
            Some(s) => s
                .parse::<i64>()
                .map(|n| json!(n))
                .unwrap_or_else(|_| v.clone()),
            None => v.clone(),
        },
        "decimal" => match v.as_str() {
            Some(s) => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| v.clone()),
            None => v.clone(),
        },
        "checkbox" => match v.as_str() {
            Some("true") | Some("1") => json!(true),
            Some("false") | Some("0") => json!(false),
            _ => v.clone(),
        },
        "date" => match v.as_str() {
            Some(s) if s.len() > 10 => json!(s[..10]),
            _ => v.clone(),
        },
        _ => v.clone(),
    })
}

fn fields(t: &SimTicket) -> Value {
    let defs = titles();
    let mut out = Map::new();
    for (id, v) in &t.custom_fields {
        let Some((title, kind, options)) = defs.get(id) else {
            continue;
        };
        if empty(v) {
            continue;
        }
        if let Some(x) = typed(kind, options, v) {
            out.insert(title.clone(), x);
        }
    }
    Value::Object(out)
}

fn non_null(m: &Map<String, Value>) -> Value {
    Value::Object(
        m.iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn user(m: &Model, t: &SimTicket) -> Value {
    let Some(u) = readable(m, t.requester_id as i64) else {
        return json!({"id": t.requester_id, "missing": true});
    };
    let org = match u.organization_id.or(t.organization_id) {
        None => Value::Null,
        Some(id) => match m.orgs.get(&id).filter(|o| o.deleted_at.is_none()) {
            Some(o) => {
                json!({"id": o.id, "name": o.name, "domain_names": o.domain_names, "tags": o.tags, "fields": non_null(&o.fields)})
            }
            None => json!({"id": id, "missing": true}),
        },
    };
    json!({
        "id": u.id, "missing": false, "name": u.name, "email": u.email, "phone": u.phone,
        "locale": u.locale, "time_zone": u.iana_time_zone, "external_id": u.external_id,
        "tags": u.tags, "fields": non_null(&u.user_fields), "organization": org,
    })
}

/// A rating's score, reason and comment. The reason's name comes from the
/// ticket, else (`names_reasons`: the reader may list the reasons, admins
/// only) from the reasons list by its id.
fn satisfaction(t: &SimTicket, names_reasons: bool) -> Value {
    let Some(c) = &t.csat else { return Value::Null };
    if c.score != "good" && c.score != "bad" {
        return Value::Null;
    }
    let reason = c
        .reason
        .clone()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| {
            c.reason_id.filter(|_| names_reasons).and_then(|id| {
                reasons()
                    .into_iter()
                    .find(|(r, _)| *r == id)
                    .map(|(_, s)| s.to_string())
            })
        });
    let comment = c
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    json!({"score": c.score, "reason": reason, "comment": comment})
}

/// The messages of a legacy chat transcript: one per message line.
fn transcript_messages(
    m: &Model,
    t: &SimTicket,
    c: &SimComment,
    lines: &[ChatLine],
    out: &mut Vec<Msg>,
) {
    let requester = readable(m, t.requester_id as i64);
    let messages = lines.iter().filter_map(|l| match &l.kind {
        ChatLineKind::Message(text) => Some((l, text)),
        _ => None,
    });
    let named =
        |name: &str| name.starts_with("Visitor ") || requester.is_some_and(|r| r.name == name);
    // No line by a visitor or by the requester's name (a requester renamed
    // since the chat): the first speaker who is no agent of the ticket.
    let unnamed = if messages.clone().any(|(l, _)| named(&l.name)) {
        None
    } else {
        messages
            .clone()
            .map(|(l, _)| l.name.as_str())
            .find(|n| agent_named(m, t, n).is_none())
    };
    for (seq, (l, text)) in messages.enumerate() {
        let customer = named(&l.name) || unnamed == Some(l.name.as_str());
        let at = iso(l.at);
        let author = if customer {
            Some(t.requester_id)
        } else {
            agent_named(m, t, &l.name)
        };
        let msg = message(
            None,
            author,
            Some(l.name.clone()),
            if customer { "customer" } else { "agent" },
            &at,
            text.join("\n"),
        );
        out.push((at, c.id, seq, msg));
    }
}

/// The agent or admin named `name` among the ticket's assignee and the
/// authors of its public, non-system comments other than transcripts
/// (RULES.md), lowest id first.
fn agent_named(m: &Model, t: &SimTicket, name: &str) -> Option<u64> {
    t.comments
        .iter()
        .filter(|c| c.public && c.kind == CommentKind::Normal && c.author_id > 0)
        .filter(|c| !matches!(c.body, Body::Chat { .. }))
        .map(|c| c.author_id as u64)
        .chain(t.assignee_id)
        .filter(|id| {
            readable(m, *id as i64)
                .is_some_and(|u| (u.role == "agent" || u.role == "admin") && u.name == name)
        })
        .min()
}

/// The messages of a ticket's public, non-system comments.
fn comment_messages(m: &Model, t: &SimTicket, out: &mut Vec<Msg>) {
    for c in &t.comments {
        if !c.public || c.kind != CommentKind::Normal || c.author_id <= 0 {
            continue;
        }
        if let Body::Chat { lines, .. } = &c.body {
            transcript_messages(m, t, c, lines, out);
            continue;
        }
        let author = readable(m, c.author_id);
        let agent = author.is_some_and(|u| u.role == "agent" || u.role == "admin");
        let at = iso(c.created_at);
        let msg = message(
            Some(c.id),
            Some(c.author_id as u64),
            author.map(|u| u.name.clone()),
            if agent { "agent" } else { "customer" },
            &at,
            c.body.plain(),
        );
        out.push((at, c.id, 0, msg));
    }
}

/// The content of a ticket: a messaging ticket's log when it is available
/// (else its comments), an Agent Workspace chat's history beside its
/// comments; sorted by (created_at, comment id, position).
fn content(m: &Model, t: &SimTicket) -> Vec<Value> {
    let mut msgs: Vec<Msg> = Vec::new();
    match t.messaging.as_ref().filter(|x| x.log_available) {
        Some(log) => log_messages(m, t, log, &mut msgs),
        None => comment_messages(m, t, &mut msgs),
    }
    if let Some(chat) = &t.aw_chat {
        chat_messages(m, t, chat, &mut msgs);
    }
    msgs.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    msgs.into_iter().map(|m| m.3).collect()
}

/// Whether a live ticket's content has a customer message.
pub(crate) fn speaks(m: &Model, t: &SimTicket) -> bool {
    content(m, t).iter().any(|c| c["role"] == "customer")
}

fn title(t: &SimTicket) -> String {
    if !t.subject.trim().is_empty() {
        return t.subject.clone();
    }
    match t
        .description()
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
    {
        Some(l) => l.chars().take(100).collect(),
        None => format!("Ticket #{}", t.id),
    }
}

pub fn expected(m: &Model, connection: &str, subdomain: &str) -> Vec<Value> {
    expected_where(m, connection, subdomain, true, |_| true)
}

/// The documents of the tickets the user with this e-mail may read: every
/// ticket for an admin or an unrestricted agent, its groups' for a
/// restricted agent, none for users the API refuses (light agents,
/// end-users) and for unknown or deleted users. An agent may not read the
/// satisfaction reasons list: its ratings name a reason only when the
/// ticket itself does.
pub fn expected_visible_to(
    m: &Model,
    connection: &str,
    subdomain: &str,
    email: &str,
) -> Vec<Value> {
    match m
        .user_by_email(email)
        .filter(|u| u.access() != Access::Limited)
    {
        Some(u) => expected_where(m, connection, subdomain, u.access() == Access::Admin, |t| {
            u.sees_group(t.group_id)
        }),
        None => Vec::new(),
    }
}

fn expected_where(
    m: &Model,
    connection: &str,
    subdomain: &str,
    names_reasons: bool,
    visible: impl Fn(&SimTicket) -> bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    for t in m.tickets.values() {
        if t.deleted || !visible(t) {
            continue;
        }
        let content = content(m, t);
        let sat = satisfaction(t, names_reasons);
        let customer = content.iter().any(|c| c["role"] == "customer");
        if !customer && sat["comment"].is_null() {
            continue;
        }
        out.push(json!({
            "id": format!("{connection}:{}", t.id),
            "connection": connection,
            "ticket_id": t.id,
            "title": title(t),
            "url": format!("https://{subdomain}.zendesk.com/agent/tickets/{}", t.id),
            "created_at": iso(t.created_at),
            "updated_at": iso(t.updated_at),
            "metadata": {"status": t.status, "ticket_id": t.id, "channel": t.channel},
            "content": content,
            "properties": {"fields": fields(t), "satisfaction": sat},
            "user": user(m, t),
        }));
    }
    out
}
