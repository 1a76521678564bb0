//! The irregular shapes real Zendesk accounts send, applied to the
//! simulator's canonical JSON so that every end-to-end test meets them
//! (sources: `shared/zendesk/tests/fixtures/SOURCES.md`). Which record gets
//! which shape depends only on its id, so a run is reproducible.
//!
//! Every shape here is readable: the documents do not change. What is
//! served:
//! - an event's `via` is a display name (`"Web form"`, `"Mail"`, ...), the
//!   name of its comment's channel;
//! - a comment event's own `via` rotates through an object, a display name,
//!   `"-"`, null and `{}` (the last three inherit the event's);
//! - ids, `author_id`, `ticket_id`, `timestamp`, `generated_timestamp`,
//!   `comment_count` and `organization_id` sometimes come as strings;
//! - some comments of the comments endpoint lack `plain_body`;
//! - some times (comments, tickets, conversation log events) carry an
//!   offset instead of `Z`.

use serde_json::{Value, json};

/// A stable pseudo-random pick in `0..n` for a record id.
fn pick(id: u64, salt: u64, n: u64) -> u64 {
    (id.wrapping_add(salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) % n
}

/// The display name Zendesk gives a channel in the events stream.
pub fn display_name(channel: &str) -> String {
    match channel {
        "web" => "Web form".into(),
        "email" => "Mail".into(),
        "chat" => "Chat".into(),
        "rule" => "Rule".into(),
        "automation" => "Automation".into(),
        "native_messaging" => "Messaging".into(),
        "api" => "API".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

/// A number sent as a string, for some records.
fn stringify(v: &mut Value, key: &str, id: u64, salt: u64) {
    if pick(id, salt, 4) != 0 {
        return;
    }
    if let Some(n) = v.get(key).and_then(Value::as_i64) {
        v[key] = Value::String(n.to_string());
    }
}

/// `2026-01-01T00:00:00Z` as `2026-01-01T02:00:00+02:00`, for some records.
fn offset_time(v: &mut Value, key: &str, id: u64) {
    if pick(id, 11, 5) != 0 {
        return;
    }
    let Some(t) = v
        .get(key)
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
    else {
        return;
    };
    // The same instant two hours east of UTC.
    let Ok(local) = jiff::Timestamp::from_second(t.as_second() + 7_200) else {
        return;
    };
    v[key] = Value::String(format!("{}+02:00", local.strftime("%Y-%m-%dT%H:%M:%S")));
}

/// One entry of the tickets export or `show_many`.
pub fn ticket(v: &mut Value, id: u64) {
    stringify(v, "generated_timestamp", id, 1);
    stringify(v, "comment_count", id, 2);
    stringify(v, "organization_id", id, 3);
    stringify(v, "requester_id", id, 4);
    offset_time(v, "created_at", id);
}

/// One audit of the events stream; `channel` is its comment's channel.
pub fn event(v: &mut Value, id: u64, channel: &str) {
    v["via"] = if pick(id, 5, 10) == 0 {
        json!({"channel": channel, "source": {"from": {}, "to": {}, "rel": null}})
    } else {
        Value::String(display_name(channel))
    };
    stringify(v, "ticket_id", id, 6);
    stringify(v, "timestamp", id, 7);
}

/// A comment child of an audit: its own `via` in one of five shapes.
pub fn comment_event(v: &mut Value, id: u64, channel: &str) {
    v["via"] = match pick(id, 8, 5) {
        0 => json!({"channel": channel, "source": {"from": {}, "to": {}, "rel": null}}),
        1 => Value::String(display_name(channel)),
        2 => Value::String("-".into()),
        3 => Value::Null,
        _ => json!({}),
    };
    stringify(v, "author_id", id, 9);
}

/// A comment of the comments endpoint.
pub fn comment(v: &mut Value, id: u64) {
    if pick(id, 10, 4) == 0
        && let Some(o) = v.as_object_mut()
    {
        o.remove("plain_body");
    }
    stringify(v, "author_id", id, 9);
    offset_time(v, "created_at", id);
}

/// An event of a conversation log.
pub fn log_event(v: &mut Value, id: u64) {
    offset_time(v, "created_at", id);
}

/// A user of `show_many`, the users export or a sideload.
pub fn user(v: &mut Value, id: u64) {
    stringify(v, "organization_id", id, 12);
}

/// An organization of `show_many` or the organizations export.
pub fn org(v: &mut Value, id: u64) {
    stringify(v, "id", id, 13);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_follow_zendesk() {
        assert_eq!(display_name("web"), "Web form");
        assert_eq!(display_name("email"), "Mail");
        assert_eq!(display_name("mobile"), "Mobile");
    }

    #[test]
    fn every_child_via_shape_is_served_over_a_few_ids() {
        let shapes: std::collections::HashSet<String> = (0..50u64)
            .map(|id| {
                let mut v = json!({"id": id, "author_id": 5});
                comment_event(&mut v, id, "web");
                v["via"].to_string()
            })
            .collect();
        assert_eq!(shapes.len(), 5, "{shapes:?}");
    }

    #[test]
    fn offset_times_name_the_same_instant() {
        let mut v = json!({"created_at": "2026-01-01T00:00:00Z"});
        let id = (0..100).find(|i| pick(*i, 11, 5) == 0).expect("an id");
        offset_time(&mut v, "created_at", id);
        assert_eq!(v["created_at"], "2026-01-01T02:00:00+02:00");
    }
}
