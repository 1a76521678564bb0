//! A ticket's audits (`/api/v2/tickets/{id}/audits`): every audit of the
//! model's event list for the ticket, in order, each with its events: its
//! comments (`Comment`), its changes (`Create`, `Change`) and, on an Agent
//! Workspace chat ticket, its `ChatStartedEvent` (with the history) or
//! `ChatEndedEvent`.

use serde_json::{Value, json};

use crate::model::{Model, SimEvent, SimTicket, iso};

/// The channel of an audit that has no comment, from its display name.
fn channel_of(via: &str) -> &'static str {
    match via {
        "Chat" => "chat",
        "Messaging" => "native_messaging",
        "Automation" | "Rule" => "rule",
        "Mail" => "email",
        _ => "web",
    }
}

/// A change as an audit event: `type` rather than the stream's `event_type`.
fn change(e: &SimEvent, k: usize, ch: &Value) -> Value {
    let mut ch = ch.clone();
    if let Some(o) = ch.as_object_mut()
        && let Some(kind) = o.remove("event_type")
    {
        o.insert("type".into(), kind);
    }
    ch["id"] = json!(e.id * 100 + 50 + k as u64);
    ch
}

fn audit(t: &SimTicket, e: &SimEvent) -> Value {
    let mut events = Vec::new();
    let mut channel = None;
    for c in e
        .comment_ids
        .iter()
        .filter_map(|cid| t.comments.iter().find(|c| c.id == *cid))
    {
        channel.get_or_insert(c.channel.clone());
        let mut v = c.json(true);
        if let Some(o) = v.as_object_mut() {
            o.remove("created_at");
            o.insert("audit_id".into(), e.id.into());
        }
        events.push(v);
    }
    events.extend(e.changes.iter().enumerate().map(|(k, ch)| change(e, k, ch)));
    if let Some(v) = t
        .aw_chat
        .as_ref()
        .and_then(|chat| chat.audit_event(e.id, e.chat, false))
    {
        events.push(v);
    }
    let channel = channel.unwrap_or_else(|| channel_of(&e.via).to_string());
    json!({
        "id": e.id, "ticket_id": t.id, "created_at": iso(e.timestamp), "author_id": e.updater_id,
        "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": null}},
        "metadata": {"system": {"client": "Mozilla/5.0", "ip_address": null, "location": null}, "custom": {}},
        "events": events,
    })
}

/// Every audit of ticket `t`, oldest first.
pub fn ticket_audits(m: &Model, t: &SimTicket) -> Vec<Value> {
    m.events
        .iter()
        .filter(|e| e.ticket_id == t.id)
        .map(|e| audit(t, e))
        .collect()
}
