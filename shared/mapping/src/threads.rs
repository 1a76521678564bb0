//! Conversations read per ticket, beside the comments: an Agent Workspace
//! chat's history (its audits' `ChatStartedEvent`) and a messaging ticket's
//! conversation log (RULES.md "Agent Workspace chats", "Messaging").

use serde_json::Value;
use zdsync_zendesk::types::{ChatHistoryItem, LogContent, LogEvent, Ticket};

use crate::document::{ConversationEntry, EntrySource, MessageRole};
use crate::text;

/// What a ticket's conversation needs besides its comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Thread {
    /// The messaging conversation log.
    ConversationLog,
    /// The chat history in the audits.
    ChatHistory,
}

/// Whether a ticket came through messaging (`via.channel:
/// native_messaging`, or `from_messaging_channel`).
pub fn is_messaging(ticket: &Ticket) -> bool {
    ticket.from_messaging_channel
        || ticket
            .via
            .as_ref()
            .is_some_and(|v| v.channel == "native_messaging")
}

/// The per-ticket read a ticket's conversation needs, if any: the log for
/// a messaging ticket; the chat history for a chat whose comments hold no
/// transcript, or whose events showed a `ChatStartedEvent` (`chat_seen`).
pub fn thread_of(
    ticket: &Ticket,
    entries: &[ConversationEntry],
    chat_seen: bool,
) -> Option<Thread> {
    if is_messaging(ticket) {
        return Some(Thread::ConversationLog);
    }
    let has_transcript = entries.iter().any(|e| e.derived && e.source.is_none());
    let chat_channel = ticket.via.as_ref().is_some_and(|v| v.channel == "chat");
    ((chat_channel || chat_seen) && !has_transcript).then_some(Thread::ChatHistory)
}

/// The messages of a chat's history: `ChatMessage` and `ChatFileAttachment`
/// items by an end-user or an agent, in order.
pub fn chat_history_entries(items: &[ChatHistoryItem]) -> Vec<ConversationEntry> {
    items
        .iter()
        .filter_map(history_message)
        .enumerate()
        .map(|(i, mut e)| {
            e.seq = i as u32;
            e
        })
        .collect()
}

fn history_message(item: &ChatHistoryItem) -> Option<ConversationEntry> {
    let text = match item.kind.as_deref()? {
        "ChatMessage" => text::normalize(item.message.as_deref().unwrap_or("")),
        "ChatFileAttachment" => placeholder("file", item.filename.as_deref()),
        _ => return None,
    };
    let role = match item.actor_type.as_deref()? {
        "end-user" => MessageRole::Customer,
        "agent" => MessageRole::Agent,
        _ => return None,
    };
    Some(ConversationEntry {
        source_comment_id: 0,
        seq: 0,
        derived: true,
        author_id: item.actor_id.filter(|a| *a > 0),
        author_name: item.actor_name.clone(),
        role: Some(role),
        created_at: item.timestamp.and_then(iso_of_millis),
        text,
        source: Some(EntrySource::ChatHistory),
    })
}

/// `1704068764000` → `2024-01-01T00:26:04Z` (seconds, truncated).
fn iso_of_millis(ms: i64) -> Option<String> {
    let t = jiff::Timestamp::from_second(ms.div_euclid(1000)).ok()?;
    Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `[file: invoice.pdf]`, or `[file]` without a name.
fn placeholder(kind: &str, name: Option<&str>) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => format!("[{kind}: {n}]"),
        None => format!("[{kind}]"),
    }
}

/// The messages of a conversation log: its public events by a user, an
/// agent or a bot, in order.
pub fn log_entries(events: &[LogEvent]) -> Vec<ConversationEntry> {
    events
        .iter()
        .filter(|e| e.is_public())
        .filter_map(log_message)
        .enumerate()
        .map(|(i, mut e)| {
            e.seq = i as u32;
            e
        })
        .collect()
}

fn log_message(event: &LogEvent) -> Option<ConversationEntry> {
    let author = event.author.as_ref()?;
    let role = match author.kind.as_deref()? {
        "user" => MessageRole::Customer,
        "agent" | "bot" => MessageRole::Agent,
        _ => return None,
    };
    Some(ConversationEntry {
        source_comment_id: event.comment_id().unwrap_or(0),
        seq: 0,
        derived: true,
        author_id: author.user_id.filter(|a| *a > 0),
        author_name: author.display_name.clone(),
        role: Some(role),
        created_at: event.created_at.clone(),
        text: event.content.as_ref().map(content_text).unwrap_or_default(),
        source: Some(EntrySource::ConversationLog),
    })
}

/// The text of a log event's content, by its type.
fn content_text(c: &LogContent) -> String {
    let kind = c.kind.as_deref().unwrap_or("");
    if let Some(html) = c.body.as_deref().filter(|b| !b.trim().is_empty()) {
        return text::html_to_text(html);
    }
    let raw = match kind {
        "text" => c.text.clone().unwrap_or_default(),
        "image" | "file" => placeholder(kind, media_name(c).as_deref()),
        "form" => form_text(c),
        "formResponse" => c.text_fallback.clone().unwrap_or_else(|| response_text(c)),
        _ => c.text.clone().unwrap_or_else(|| format!("[{kind}]")),
    };
    text::normalize(&raw)
}

/// `alt_text`, else the last path segment of `media_url`.
fn media_name(c: &LogContent) -> Option<String> {
    if let Some(alt) = c.alt_text.as_deref().filter(|a| !a.trim().is_empty()) {
        return Some(alt.to_string());
    }
    let url = url::Url::parse(c.media_url.as_deref()?).ok()?;
    let last = url.path_segments()?.next_back()?.to_string();
    (!last.is_empty()).then_some(last)
}

/// A form: its text, then each field's label on its own line.
fn form_text(c: &LogContent) -> String {
    c.text
        .iter()
        .cloned()
        .chain(c.fields.iter().filter_map(|f| str_of(f, "label")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A form response: `label: value` per field.
fn response_text(c: &LogContent) -> String {
    c.fields
        .iter()
        .map(|f| {
            let label = str_of(f, "label").unwrap_or_default();
            format!("{label}: {}", field_value(f))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A response field's value: its `text`, `email`, or its `select`
/// options' labels joined with `, `.
fn field_value(f: &Value) -> String {
    if let Some(v) = str_of(f, "text").or_else(|| str_of(f, "email")) {
        return v;
    }
    f.get("select")
        .and_then(Value::as_array)
        .map(|options| {
            options
                .iter()
                .filter_map(|o| str_of(o, "label"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(zdsync_zendesk::lenient::as_string)
}

/// A ticket's conversation: with a conversation log, the log alone (its
/// order kept among messages of the same time); with a chat history, the
/// comments' entries and the history's, oldest first; else the comments'.
pub fn conversation(
    comments: &[ConversationEntry],
    thread: Option<(Thread, &[ConversationEntry])>,
) -> Vec<ConversationEntry> {
    match thread {
        None => comments.to_vec(),
        Some((Thread::ConversationLog, log)) => {
            let mut out = log.to_vec();
            out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
            out
        }
        Some((Thread::ChatHistory, history)) => {
            let mut out: Vec<ConversationEntry> = comments.iter().chain(history).cloned().collect();
            out.sort_by(crate::entry_order);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use zdsync_zendesk::types::Via;

    fn item(v: Value) -> ChatHistoryItem {
        serde_json::from_value(v).expect("a history item")
    }

    fn event(v: Value) -> LogEvent {
        serde_json::from_value(v).expect("a log event")
    }

    fn ticket(channel: &str, messaging: bool) -> Ticket {
        Ticket {
            id: 1,
            via: Some(Via {
                channel: channel.into(),
                ..Default::default()
            }),
            from_messaging_channel: messaging,
            ..Default::default()
        }
    }

    #[test]
    fn history_messages_and_files_are_messages_joins_and_system_items_are_not() {
        let items = [
            item(
                json!({"type": "ChatJoin", "actor_type": "end-user", "timestamp": 1704068760000i64}),
            ),
            item(
                json!({"type": "ChatMessage", "actor_type": "end-user", "actor_name": "Visitor 1", "actor_id": 7, "timestamp": 1704068764999i64, "message": "Hi  \r\nthere"}),
            ),
            item(
                json!({"type": "ChatFileAttachment", "actor_type": "end-user", "timestamp": 1704068769000i64, "filename": "image1.jpg"}),
            ),
            item(
                json!({"type": "ChatMessage", "actor_type": "system", "timestamp": 1704068770000i64, "message": "rated"}),
            ),
            item(
                json!({"type": "ChatMessage", "actor_type": "agent", "actor_name": "Dana", "actor_id": 9, "timestamp": 1704068775000i64, "message": "Checking"}),
            ),
        ];
        let e = chat_history_entries(&items);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].text, "Hi\nthere");
        assert_eq!(e[0].created_at.as_deref(), Some("2024-01-01T00:26:04Z"));
        assert_eq!(
            (e[0].role, e[0].author_id),
            (Some(MessageRole::Customer), Some(7))
        );
        assert_eq!(e[1].text, "[file: image1.jpg]");
        assert_eq!(e[1].author_id, None);
        assert_eq!((e[2].role, e[2].seq), (Some(MessageRole::Agent), 2));
        assert!(e.iter().all(|x| x.source == Some(EntrySource::ChatHistory)));
    }

    #[test]
    fn a_file_without_a_name_is_a_bare_placeholder() {
        let e = chat_history_entries(&[item(
            json!({"type": "ChatFileAttachment", "actor_type": "agent", "timestamp": 0}),
        )]);
        assert_eq!(e[0].text, "[file]");
    }

    #[test]
    fn log_authors_give_roles_and_bots_have_no_user_id() {
        let log = [
            event(
                json!({"author": {"type": "bot", "display_name": "Bot", "zen:support:user_id": -1}, "content": {"type": "text", "text": "Hey!"}, "created_at": "2025-04-22T09:24:26Z"}),
            ),
            event(
                json!({"author": {"type": "user", "display_name": "Ana", "zen:support:user_id": 5}, "content": {"type": "text", "text": "Late order"}, "created_at": "2025-04-22T09:24:30Z"}),
            ),
            event(
                json!({"author": {"type": "agent", "display_name": "Dana", "zen:support:user_id": 9}, "content": {"type": "html", "body": "<p>On it</p>"}, "reference": "zen:ticket_event:77", "created_at": "2025-04-22T09:25:00Z"}),
            ),
            event(json!({"author": {"type": "system"}, "content": {"type": "text", "text": "x"}})),
        ];
        let e = log_entries(&log);
        assert_eq!(e.len(), 3, "an unknown author type is no message");
        assert_eq!(
            (e[0].role, e[0].author_id),
            (Some(MessageRole::Agent), None)
        );
        assert_eq!(e[0].author_name.as_deref(), Some("Bot"));
        assert_eq!(
            (e[1].role, e[1].author_id),
            (Some(MessageRole::Customer), Some(5))
        );
        assert_eq!((e[2].text.as_str(), e[2].source_comment_id), ("On it", 77));
    }

    #[test]
    fn private_log_events_are_not_messages() {
        let e = log_entries(&[event(
            json!({"author": {"type": "user"}, "content": {"type": "html", "body": "<p>Conversation with Ana</p>"}, "metadata": {"public": false}}),
        )]);
        assert!(e.is_empty());
    }

    fn text_of(content: Value) -> String {
        let e = log_entries(&[event(
            json!({"author": {"type": "user"}, "content": content}),
        )]);
        e[0].text.clone()
    }

    #[test]
    fn images_and_files_are_placeholders_named_by_alt_text_or_url() {
        assert_eq!(
            text_of(json!({"type": "image", "alt_text": "receipt"})),
            "[image: receipt]"
        );
        assert_eq!(
            text_of(json!({"type": "file", "media_url": "https://x.example/m/invoice.pdf?t=1"})),
            "[file: invoice.pdf]"
        );
        assert_eq!(text_of(json!({"type": "image"})), "[image]");
    }

    #[test]
    fn forms_are_their_labels() {
        let form = json!({"type": "form", "text": "Tell us", "fields": [{"label": "Order number"}, {"label": "E-mail"}]});
        assert_eq!(text_of(form), "Tell us\nOrder number\nE-mail");
    }

    #[test]
    fn form_responses_are_their_fallback_or_label_value_lines() {
        let with =
            json!({"type": "formResponse", "text_fallback": "Order number: A-1", "fields": []});
        assert_eq!(text_of(with), "Order number: A-1");
        let without = json!({"type": "formResponse", "fields": [
            {"label": "Order number", "text": "A-1"},
            {"label": "E-mail", "email": "ana@x.example"},
            {"label": "Topic", "select": [{"label": "Late"}, {"label": "Damaged"}]}
        ]});
        assert_eq!(
            text_of(without),
            "Order number: A-1\nE-mail: ana@x.example\nTopic: Late, Damaged"
        );
    }

    #[test]
    fn an_unknown_content_type_is_named_or_its_text_kept() {
        assert_eq!(text_of(json!({"type": "carousel"})), "[carousel]");
        assert_eq!(
            text_of(json!({"type": "carousel", "text": "Pick one"})),
            "Pick one"
        );
    }

    #[test]
    fn messaging_tickets_read_the_log() {
        assert_eq!(
            thread_of(&ticket("native_messaging", false), &[], false),
            Some(Thread::ConversationLog)
        );
        assert_eq!(
            thread_of(&ticket("web", true), &[], false),
            Some(Thread::ConversationLog)
        );
        assert_eq!(thread_of(&ticket("web", false), &[], false), None);
    }

    #[test]
    fn chats_without_a_transcript_read_the_history() {
        assert_eq!(
            thread_of(&ticket("chat", false), &[], false),
            Some(Thread::ChatHistory)
        );
        assert_eq!(
            thread_of(&ticket("web", false), &[], true),
            Some(Thread::ChatHistory)
        );
        let line = ConversationEntry {
            source_comment_id: 1,
            seq: 0,
            derived: true,
            author_id: None,
            author_name: Some("Visitor 1".into()),
            role: None,
            created_at: None,
            text: "Hi".into(),
            source: None,
        };
        assert_eq!(
            thread_of(&ticket("chat", false), &[line], true),
            None,
            "a transcript is enough"
        );
    }

    fn entry(comment: u64, at: &str, source: Option<EntrySource>) -> ConversationEntry {
        ConversationEntry {
            source_comment_id: comment,
            seq: 0,
            derived: source.is_some(),
            author_id: None,
            author_name: None,
            role: None,
            created_at: Some(at.into()),
            text: format!("{comment}@{at}"),
            source,
        }
    }

    #[test]
    fn a_log_is_the_whole_conversation_in_time_order() {
        let comments = [entry(5, "2025-01-01T00:00:00Z", None)];
        let log = [
            entry(
                0,
                "2025-01-01T00:00:09Z",
                Some(EntrySource::ConversationLog),
            ),
            entry(
                5,
                "2025-01-01T00:00:01Z",
                Some(EntrySource::ConversationLog),
            ),
            entry(
                0,
                "2025-01-01T00:00:09Z",
                Some(EntrySource::ConversationLog),
            ),
        ];
        let c = conversation(&comments, Some((Thread::ConversationLog, &log)));
        assert_eq!(c.len(), 3, "the comments are not added");
        assert_eq!(c[0].source_comment_id, 5);
        assert_eq!(c[1], log[0], "ties keep the log's order");
    }

    #[test]
    fn a_chat_history_joins_the_comments() {
        let comments = [entry(5, "2025-01-01T00:00:05Z", None)];
        let history = [entry(
            0,
            "2025-01-01T00:00:01Z",
            Some(EntrySource::ChatHistory),
        )];
        let c = conversation(&comments, Some((Thread::ChatHistory, &history)));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], history[0]);
    }
}
