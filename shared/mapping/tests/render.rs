//! Rendering whole tickets: the rules of RULES.md on tricky tickets, property
//! tests, and JSON snapshots of the documents.

use std::collections::HashMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use zdsync_mapping::*;
use zdsync_zendesk::types::*;

fn user(id: u64, name: &str, role: Role) -> User {
    User {
        id: Some(id),
        name: Some(name.into()),
        email: Some(format!("u{id}@x.example")),
        role,
        time_zone: Some("Tokyo".into()),
        iana_time_zone: Some("Asia/Tokyo".into()),
        locale: Some("es".into()),
        external_id: Some(format!("cust-{id}")),
        tags: vec!["vip".into()],
        user_fields: serde_json::from_value(json!({"plan": "business", "empty": null})).unwrap(),
        organization_id: Some(55),
        ..Default::default()
    }
}

fn comment(id: u64, author: i64, text: &str, public: bool, at: &str) -> Comment {
    Comment {
        id,
        author_id: Some(author),
        html_body: Some(format!(
            "<div class=\"zd-comment\" dir=\"auto\"><p>{text}</p></div>"
        )),
        body: Some(text.into()),
        public,
        via: Some(Via {
            channel: "web".into(),
            source: Value::Null,
        }),
        created_at: Some(at.into()),
        ..Default::default()
    }
}

struct World {
    users: HashMap<u64, User>,
    orgs: HashMap<u64, Organization>,
    reasons: HashMap<u64, String>,
    fields: FieldCatalog,
}

impl World {
    fn new() -> World {
        let mut users = HashMap::new();
        users.insert(3700, user(3700, "Ana", Role::EndUser));
        users.insert(10, user(10, "Dana Novak", Role::Agent));
        let mut orgs = HashMap::new();
        orgs.insert(
            55,
            Organization {
                id: 55,
                name: Some("Acme Corp".into()),
                domain_names: vec!["acme.example".into()],
                ..Default::default()
            },
        );
        let fields = FieldCatalog::new(vec![TicketField {
            id: 1,
            field_type: "tagger".into(),
            title: "Product area".into(),
            active: true,
            custom_field_options: vec![FieldOption {
                id: None,
                name: "Integrations".into(),
                value: "integrations".into(),
            }],
            ..Default::default()
        }]);
        World {
            users,
            orgs,
            reasons: HashMap::from([(7, "Issue took too long".to_string())]),
            fields,
        }
    }
    fn ctx(&self) -> RenderContext<'_> {
        RenderContext {
            connection: "acme",
            subdomain: "acme",
            fields: &self.fields,
            reasons: &self.reasons,
            users: &self.users,
            organizations: &self.orgs,
        }
    }
}

fn ticket(id: u64) -> Ticket {
    Ticket {
        id,
        subject: Some("Export is slow".into()),
        status: TicketStatus::Open,
        created_at: Some("2023-05-14T09:15:00Z".into()),
        updated_at: Some("2023-05-15T10:00:00Z".into()),
        requester_id: Some(3700),
        via: Some(Via {
            channel: "web".into(),
            source: Value::Null,
        }),
        custom_fields: vec![
            CustomFieldValue {
                id: 1,
                value: json!("integrations"),
            },
            CustomFieldValue {
                id: 999,
                value: json!("x"),
            },
        ],
        ..Default::default()
    }
}

fn entries(comments: &[Comment]) -> Vec<ConversationEntry> {
    let mut out = Vec::new();
    for c in comments {
        merge_entries(&mut out, conversation_entries(c));
    }
    out
}

#[test]
fn a_conversation_with_notes_and_system_comments() {
    let w = World::new();
    let es = entries(&[
        comment(3, 10, "We are on it", true, "2023-05-14T10:00:00Z"),
        comment(
            1,
            3700,
            "Export &amp; import are <strong>slow</strong>",
            true,
            "2023-05-14T09:15:32Z",
        ),
        comment(2, 10, "internal note", false, "2023-05-14T09:30:00Z"),
        comment(4, -1, "Ticket merged", true, "2023-05-14T11:00:00Z"),
        Comment {
            via: Some(Via {
                channel: "rule".into(),
                source: Value::Null,
            }),
            ..comment(5, 10, "Auto reply", true, "2023-05-14T09:16:00Z")
        },
    ]);
    let doc = render(&w.ctx(), &ticket(123), &es).expect("feedback");
    insta::assert_json_snapshot!("conversation", doc);
    assert_eq!(doc.content.len(), 2);
    assert_eq!(doc.content[0].text, "Export & import are slow");
    assert_eq!(doc.content[0].role, MessageRole::Customer);
    assert_eq!(doc.content[1].role, MessageRole::Agent);
}

#[test]
fn chat_transcript_crossing_midnight() {
    let w = World::new();
    let mut c = comment(9, 3700, "", true, "2023-05-14T23:58:00Z");
    c.html_body = None;
    c.plain_body = Some("Chat started: 2023-05-14 11:58 PM UTC\n\n(11:58:32 PM) Visitor 81234567: Hello 👋\n(11:59:48 PM) *** Dana Novak joined the chat ***\n(11:59:59 PM) Dana Novak: Hi!\n(12:00:10 AM) Ana: still there\nand more".into());
    c.via = Some(Via {
        channel: "chat".into(),
        source: Value::Null,
    });
    let mut t = ticket(124);
    t.via = c.via.clone();
    let doc = render(&w.ctx(), &t, &entries(&[c])).expect("feedback");
    insta::assert_json_snapshot!("chat", doc);
    let roles: Vec<MessageRole> = doc.content.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            MessageRole::Customer,
            MessageRole::Agent,
            MessageRole::Customer
        ]
    );
    assert_eq!(
        doc.content[2].created_at.as_deref(),
        Some("2023-05-15T00:00:10Z")
    );
    assert!(doc.content.iter().all(|m| m.comment_id.is_none()));
    assert_eq!(doc.content[0].author_id, Some(3700));
    assert_eq!(doc.content[1].author_id, None);
}

/// A legacy transcript written before its requester was renamed: no line
/// bears a visitor's or the requester's name, so its first speaker who is
/// not an agent of the ticket is the customer (RULES.md).
#[test]
fn a_chat_of_a_renamed_requester_is_still_the_customers() {
    let mut w = World::new();
    w.users.insert(3700, user(3700, "Ana Smith", Role::EndUser));
    let mut c = comment(9, 3700, "", true, "2023-05-14T10:00:00Z");
    c.html_body = None;
    c.plain_body = Some("Chat started: 2023-05-14 10:00 AM UTC\n\n(10:00:05 AM) Ana: Hello\n(10:00:20 AM) *** Dana Novak joined the chat ***\n(10:00:30 AM) Dana Novak: Hi!\n(10:01:00 AM) Ana: The export fails".into());
    c.via = Some(Via {
        channel: "chat".into(),
        source: Value::Null,
    });
    let mut t = ticket(125);
    t.via = c.via.clone();
    t.assignee_id = Some(10);
    let doc = render(&w.ctx(), &t, &entries(&[c])).expect("feedback");
    let who: Vec<(MessageRole, Option<i64>)> =
        doc.content.iter().map(|m| (m.role, m.author_id)).collect();
    assert_eq!(
        who,
        [
            (MessageRole::Customer, Some(3700)),
            (MessageRole::Agent, Some(10)),
            (MessageRole::Customer, Some(3700)),
        ]
    );
}

#[test]
fn chat_transcript_in_german_is_split() {
    let mut c = comment(9, 3700, "", true, "2022-08-14T15:00:00Z");
    c.html_body = None;
    c.plain_body = Some("Chat gestartet: 14.08.2022 15:00 UTC\n\n(15:00:12) Visitor 81234567: Hallo\n(15:00:40) *** Dana ist dem Chat beigetreten ***\n(15:01:53) Dana: Guten Tag!\nWie kann ich helfen?".into());
    c.via = Some(Via {
        channel: "chat".into(),
        source: Value::Null,
    });
    let es = entries(&[c]);
    let got: Vec<(Option<&str>, Option<&str>, &str)> = es
        .iter()
        .map(|e| {
            (
                e.author_name.as_deref(),
                e.created_at.as_deref(),
                e.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Some("Visitor 81234567"),
                Some("2022-08-14T15:00:12Z"),
                "Hallo"
            ),
            (
                Some("Dana"),
                Some("2022-08-14T15:01:53Z"),
                "Guten Tag!\nWie kann ich helfen?"
            ),
        ]
    );
}

#[test]
fn csat_rules() {
    let w = World::new();
    let agent_only = entries(&[comment(1, 10, "FYI", true, "2023-05-14T10:00:00Z")]);
    let mut t = ticket(5);
    assert!(
        render(&w.ctx(), &t, &agent_only).is_none(),
        "no customer message, no rating"
    );
    for score in ["offered", "unoffered"] {
        t.satisfaction_rating = Some(SatisfactionRating {
            score: score.into(),
            comment: Some("x".into()),
            ..Default::default()
        });
        assert!(
            render(&w.ctx(), &t, &agent_only).is_none(),
            "{score} is no rating"
        );
    }
    t.satisfaction_rating = Some(SatisfactionRating {
        score: "good".into(),
        comment: Some("  ".into()),
        ..Default::default()
    });
    assert!(
        render(&w.ctx(), &t, &agent_only).is_none(),
        "a rating without comment alone is not feedback"
    );
    t.satisfaction_rating = Some(SatisfactionRating {
        score: "bad".into(),
        comment: Some(" slow ".into()),
        reason_id: Some(7),
        ..Default::default()
    });
    let doc = render(&w.ctx(), &t, &agent_only).expect("rated with a comment");
    assert_eq!(
        serde_json::to_value(&doc.properties.satisfaction).unwrap(),
        json!({"score": "bad", "reason": "Issue took too long", "comment": "slow"})
    );
    t.satisfaction_rating = Some(SatisfactionRating {
        score: "bad".into(),
        comment: Some("slow".into()),
        reason: Some("Other".into()),
        reason_id: Some(7),
        ..Default::default()
    });
    assert_eq!(
        render(&w.ctx(), &t, &agent_only)
            .unwrap()
            .properties
            .satisfaction
            .unwrap()
            .reason
            .as_deref(),
        Some("Other")
    );
}

#[test]
fn missing_requester_organization_and_unknown_authors() {
    let w = World::new();
    let mut t = ticket(6);
    t.requester_id = Some(4242);
    t.organization_id = Some(777);
    let es = entries(&[comment(1, 4242, "hi", true, "2023-05-14T10:00:00Z")]);
    let doc = render(&w.ctx(), &t, &es).expect("unknown author counts as customer");
    assert_eq!(
        serde_json::to_value(&doc.user).unwrap(),
        json!({"id": 4242, "missing": true})
    );
    assert_eq!(doc.content[0].author_name, None);
    t.requester_id = None;
    let doc = render(&w.ctx(), &t, &es).unwrap();
    assert_eq!(
        serde_json::to_value(&doc.user).unwrap(),
        json!({"id": null, "missing": true})
    );
}

#[test]
fn an_agent_workspace_chat_names_authors_from_their_records() {
    let w = World::new();
    let mut t = ticket(7);
    t.via = Some(Via {
        channel: "chat".into(),
        source: Value::Null,
    });
    let items: Vec<zdsync_zendesk::types::ChatHistoryItem> = serde_json::from_value(json!([
        {"type": "ChatMessage", "actor_type": "end-user", "actor_name": "Visitor 1", "timestamp": 1684055732000i64, "message": "Hello"},
        {"type": "ChatMessage", "actor_type": "agent", "actor_name": "Dana N.", "actor_id": 10, "timestamp": 1684055740000i64, "message": "Hi!"}
    ]))
    .unwrap();
    let history = zdsync_mapping::threads::chat_history_entries(&items);
    let es = zdsync_mapping::threads::conversation(
        &[],
        Some((zdsync_mapping::threads::Thread::ChatHistory, &history)),
    );
    let doc = render(&w.ctx(), &t, &es).expect("the visitor spoke");
    let c = serde_json::to_value(&doc.content).unwrap();
    assert_eq!(
        c,
        json!([
            {"comment_id": null, "author_id": 3700, "author_name": "Ana", "role": "customer", "created_at": "2023-05-14T09:15:32Z", "text": "Hello"},
            {"comment_id": null, "author_id": 10, "author_name": "Dana Novak", "role": "agent", "created_at": "2023-05-14T09:15:40Z", "text": "Hi!"}
        ]),
        "the visitor is the requester; the agent's name is the user record's"
    );
}

#[test]
fn a_messaging_log_with_only_a_bot_and_an_agent_is_not_feedback() {
    let w = World::new();
    let mut t = ticket(8);
    t.from_messaging_channel = true;
    let log: Vec<zdsync_zendesk::types::LogEvent> = serde_json::from_value(json!([
        {"author": {"type": "bot", "display_name": "Answer Bot", "zen:support:user_id": -1}, "content": {"type": "text", "text": "Hi"}, "created_at": "2023-05-14T09:15:00Z"},
        {"author": {"type": "agent", "display_name": "Dana", "zen:support:user_id": 10}, "content": {"type": "text", "text": "Hello?"}, "created_at": "2023-05-14T09:16:00Z"}
    ]))
    .unwrap();
    let entries = zdsync_mapping::threads::log_entries(&log);
    let thread = Some((
        zdsync_mapping::threads::Thread::ConversationLog,
        &entries[..],
    ));
    let customer_comment = entries_of_customer();
    let es = zdsync_mapping::threads::conversation(&customer_comment, thread);
    assert!(
        render(&w.ctx(), &t, &es).is_none(),
        "mirrored comments do not count once the log is read"
    );
}

fn entries_of_customer() -> Vec<ConversationEntry> {
    entries(&[comment(1, 3700, "hi", true, "2023-05-14T10:00:00Z")])
}

#[test]
fn a_messaging_log_names_the_bot_and_keeps_comment_ids() {
    let w = World::new();
    let mut t = ticket(9);
    t.from_messaging_channel = true;
    let log: Vec<zdsync_zendesk::types::LogEvent> = serde_json::from_value(json!([
        {"author": {"type": "bot", "display_name": "Answer Bot", "zen:support:user_id": -1}, "content": {"type": "text", "text": "Hi"}, "created_at": "2023-05-14T09:15:00Z"},
        {"author": {"type": "user", "display_name": "Web user", "zen:support:user_id": 3700}, "content": {"type": "html", "body": "<p>Late</p>"}, "reference": "zen:ticket_event:44", "created_at": "2023-05-14T09:16:00Z"}
    ]))
    .unwrap();
    let entries = zdsync_mapping::threads::log_entries(&log);
    let es = zdsync_mapping::threads::conversation(
        &[],
        Some((zdsync_mapping::threads::Thread::ConversationLog, &entries)),
    );
    let doc = render(&w.ctx(), &t, &es).expect("the customer spoke");
    let c = serde_json::to_value(&doc.content).unwrap();
    assert_eq!(c[0]["author_name"], "Answer Bot");
    assert_eq!(c[0]["author_id"], Value::Null);
    assert_eq!(c[0]["role"], "agent");
    assert_eq!(c[1]["comment_id"], 44);
    assert_eq!(c[1]["author_name"], "Web user", "the log's own name first");
}

fn organization_of(w: &World, t: &Ticket) -> Value {
    let es = entries(&[comment(1, 3700, "hi", true, "2023-05-14T10:00:00Z")]);
    let doc = render(&w.ctx(), t, &es).expect("a customer spoke");
    serde_json::to_value(&doc.user).unwrap()["organization"].clone()
}

#[test]
fn the_requesters_own_organization_wins_over_the_tickets() {
    let w = World::new();
    let mut t = ticket(6);
    t.organization_id = Some(777); // filed under another organization
    assert_eq!(organization_of(&w, &t)["id"], json!(55));
    assert_eq!(organization_of(&w, &t)["name"], json!("Acme Corp"));
}

#[test]
fn the_tickets_organization_serves_a_requester_without_one() {
    let mut w = World::new();
    w.users.get_mut(&3700).unwrap().organization_id = None;
    let mut t = ticket(6);
    t.organization_id = Some(55);
    assert_eq!(organization_of(&w, &t)["id"], json!(55));
    t.organization_id = Some(777);
    assert_eq!(
        organization_of(&w, &t),
        json!({"id": 777, "missing": true}),
        "an organization nobody can read"
    );
}

#[test]
fn a_deleted_organization_is_missing() {
    let mut w = World::new();
    w.orgs.get_mut(&55).unwrap().deleted_at = Some("2024-01-01T00:00:00Z".into());
    assert_eq!(
        organization_of(&w, &ticket(6)),
        json!({"id": 55, "missing": true})
    );
}

#[test]
fn a_deleted_requester_is_missing_and_their_comments_anonymous() {
    let mut w = World::new();
    // What the store keeps of a user deleted in Zendesk.
    w.users.insert(
        3700,
        User {
            id: Some(3700),
            active: Some(false),
            ..Default::default()
        },
    );
    let es = entries(&[comment(1, 3700, "hi", true, "2023-05-14T10:00:00Z")]);
    let doc = render(&w.ctx(), &ticket(6), &es).expect("still feedback");
    assert_eq!(
        serde_json::to_value(&doc.user).unwrap(),
        json!({"id": 3700, "missing": true})
    );
    assert_eq!(doc.content[0].author_name, None);
    assert_eq!(doc.content[0].role, MessageRole::Customer);
}

#[test]
fn titles_deleted_tickets_and_long_tickets() {
    let w = World::new();
    let mut t = ticket(7);
    t.subject = Some("  ".into());
    t.description = Some("\n  First line of a long description that goes on and on and on and on and on and on and on and on and on\nsecond".into());
    assert_eq!(title(&t).chars().count(), 100);
    t.description = None;
    assert_eq!(title(&t), "Ticket #7");
    let many: Vec<Comment> = (1..=450)
        .map(|i| {
            comment(
                i,
                if i % 2 == 0 { 10 } else { 3700 },
                &format!("m{i}"),
                true,
                &format!("2023-05-14T10:{:02}:{:02}Z", i / 60, i % 60),
            )
        })
        .collect();
    let doc = render(&w.ctx(), &t, &entries(&many)).unwrap();
    assert_eq!(doc.content.len(), 450);
    let big = "x".repeat(65_536);
    let doc = render(
        &w.ctx(),
        &t,
        &entries(&[comment(1, 3700, &big, true, "2023-05-14T10:00:00Z")]),
    )
    .unwrap();
    assert_eq!(
        doc.content[0].text.len(),
        65_536,
        "a comment at the 64 kB cap is kept whole"
    );
    t.status = TicketStatus::Deleted;
    assert!(render(&w.ctx(), &t, &entries(&many)).is_none());
}

#[test]
fn document_json_has_the_contract_shape() {
    let w = World::new();
    let doc = render(
        &w.ctx(),
        &ticket(123),
        &entries(&[comment(1, 3700, "hi", true, "2023-05-14T10:00:00Z")]),
    )
    .unwrap();
    let v = serde_json::to_value(&doc).unwrap();
    // The serialized text keeps the contract's key order.
    let text = serde_json::to_string(&doc).unwrap();
    let order = [
        "\"id\"",
        "\"connection\"",
        "\"ticket_id\"",
        "\"title\"",
        "\"url\"",
        "\"created_at\"",
        "\"updated_at\"",
        "\"metadata\"",
        "\"content\"",
        "\"properties\"",
        "\"user\"",
    ];
    let pos: Vec<usize> = order.iter().map(|k| text.find(k).expect(k)).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "key order: {text}");
    assert_eq!(v.as_object().unwrap().len(), order.len());
    assert_eq!(v["url"], "https://acme.zendesk.com/agent/tickets/123");
    assert_eq!(v["user"]["time_zone"], "Asia/Tokyo");
    assert_eq!(v["user"]["fields"], json!({"plan": "business"}));
    assert_eq!(
        v["properties"]["fields"],
        json!({"Product area": "Integrations"})
    );
    assert_eq!(v["properties"]["satisfaction"], Value::Null);
}

fn arb_comment() -> impl Strategy<Value = Comment> {
    (
        1u64..40,
        -1i64..5,
        any::<bool>(),
        "[a-zA-Z <>&;/\n\r\t😀مر]{0,60}",
        0u32..5,
        any::<bool>(),
    )
        .prop_map(|(id, author, public, text, minute, html)| Comment {
            id,
            author_id: Some(author),
            html_body: if html { Some(text.clone()) } else { None },
            plain_body: if html { None } else { Some(text) },
            public,
            created_at: Some(format!("2023-05-14T10:0{minute}:00Z")),
            ..Default::default()
        })
}

proptest! {
    #[test]
    fn merging_is_idempotent_and_order_independent(cs in proptest::collection::vec(arb_comment(), 0..20)) {
        let a = entries(&cs);
        let mut rev = cs.clone();
        rev.reverse();
        // same comment id twice with different content: keep unique ids only
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<Comment> = cs.iter().filter(|c| seen.insert(c.id)).cloned().collect();
        let mut unique_rev = unique.clone();
        unique_rev.reverse();
        prop_assert_eq!(entries(&unique), entries(&unique_rev));
        let mut again = a.clone();
        for c in &cs {
            merge_entries(&mut again, conversation_entries(c));
        }
        prop_assert_eq!(again.len(), a.len());
    }

    #[test]
    fn rendering_never_panics_and_text_is_normalised(cs in proptest::collection::vec(arb_comment(), 0..10), status in "[a-z]{0,8}") {
        let w = World::new();
        let mut t = ticket(1);
        t.status = TicketStatus::parse(&status);
        let es = entries(&cs);
        if let Some(doc) = render(&w.ctx(), &t, &es) {
            for m in &doc.content {
                prop_assert!(!m.text.contains("\n\n\n"));
                prop_assert!(!m.text.contains('\r'));
                prop_assert!(m.text.lines().all(|l| l == l.trim_end()));
            }
        }
    }
}
