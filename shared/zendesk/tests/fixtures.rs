//! The client reads every endpoint the product uses, as Zendesk's API
//! reference shows it (`fixtures/reference/`) and with the irregular shapes
//! real accounts and other importers met (`fixtures/wild/`; the cases and
//! their sources are listed in `fixtures/SOURCES.md`).
//!
//! Each fixture is served as the whole answer of its endpoint by a minimal
//! HTTP server on loopback, and read through the client's public methods, so
//! the page readers (record-by-record reading, skipping, child comments) are
//! what is tested.

mod common;

use std::collections::HashMap;

use common::{Answer, Server};
use serde_json::{Value, json};
use zdsync_zendesk::types::{Role, TicketStatus, role_type};
use zdsync_zendesk::{Client, TicketCursor};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Serves `body` (with `status`) for every request whose path starts with
/// one of `routes`' keys; 404 for any other.
async fn serve(routes: Vec<(&'static str, u16, Vec<u8>)>) -> Server {
    common::serve(move |_, path| {
        routes
            .iter()
            .find(|(p, _, _)| path.starts_with(p))
            .map(|(_, s, b)| Answer::json(*s, b.clone()))
            .unwrap_or_else(|| Answer::json(404, "{\"error\":\"InvalidEndpoint\"}"))
    })
    .await
}

fn client(server: &Server) -> Client {
    common::client(&server.base, common::token())
}

async fn serving(path: &'static str, file: &str) -> Client {
    client(&serve(vec![(path, 200, fixture(file).into_bytes())]).await)
}

// ---- tickets cursor export ------------------------------------------------

#[tokio::test]
async fn tickets_export_reference_example() {
    let c = serving(
        "/api/v2/incremental/tickets/cursor",
        "reference/tickets_cursor_export.json",
    )
    .await;
    let page = c.tickets_page(&TicketCursor::Start(0)).await.unwrap();
    assert_eq!(page.tickets.len(), 1);
    let t = &page.tickets[0];
    assert!(t.id > 0);
    assert_ne!(t.status, TicketStatus::Unknown(String::new()));
    assert!(t.created_at.is_some() && t.updated_at.is_some());
    assert_eq!(
        page.after_cursor.as_deref(),
        Some("MTU3NjYxMzUzOS4wfHw0Njd8")
    );
    assert!(page.end_of_stream);
    assert_eq!(c.stats().skipped_records, 0);
}

#[tokio::test]
async fn tickets_export_wild_shapes() {
    let c = serving(
        "/api/v2/incremental/tickets/cursor",
        "wild/tickets_cursor_export.json",
    )
    .await;
    let page = c.tickets_page(&TicketCursor::Start(0)).await.unwrap();
    let by_id: HashMap<u64, _> = page.tickets.iter().map(|t| (t.id, t)).collect();
    assert_eq!(page.tickets.len(), 20, "21 records, one without an id");
    assert_eq!(c.stats().skipped_records, 1);
    assert_eq!(by_id[&900001].via, None, "via null");
    assert_eq!(by_id[&900002].via.as_ref().unwrap().channel, "web");
    assert!(
        by_id[&900003].custom_fields.is_empty(),
        "custom_fields null"
    );
    assert_eq!(by_id[&900004].custom_fields[0].value, json!("10517014"));
    assert_eq!(by_id[&900005].custom_fields[0].value, json!(false));
    assert_eq!(
        by_id[&900006].custom_fields[0].value,
        json!(["hd_3000", "hd_5555"])
    );
    assert_eq!(by_id[&900009].satisfaction_rating, None);
    assert_eq!(
        by_id[&900010].satisfaction_rating.as_ref().unwrap().score,
        "offered"
    );
    let rated = by_id[&900011].satisfaction_rating.as_ref().unwrap();
    assert_eq!(rated.reason_id, Some(360_000_123_455), "reason_id as text");
    assert_eq!(rated.score, "bad");
    assert_eq!(by_id[&900012].comment_count, Some(7), "count as text");
    assert!(by_id.contains_key(&900013), "id as text");
    assert!(by_id.contains_key(&9_007_199_254_740_993), "id beyond 2^53");
    assert_eq!(by_id[&900015].generated_timestamp, Some(1_704_067_260));
    assert_eq!(
        by_id[&900016].status,
        TicketStatus::Unknown("archived".into())
    );
    assert!(by_id[&900017].tags.is_empty(), "tags null");
    assert_eq!(by_id[&900019].status, TicketStatus::Deleted);
    assert!(by_id[&900020].from_messaging_channel);
    assert_eq!(by_id[&900021].via.as_ref().unwrap().channel, "any_channel");
    assert_eq!(page.users.len(), 2);
    assert_eq!(page.organizations[0].id, 509_974);
    assert!(!page.end_of_stream);
}

// ---- ticket events with comment events ------------------------------------

#[tokio::test]
async fn ticket_events_reference_example() {
    let c = serving(
        "/api/v2/incremental/ticket_events",
        "reference/ticket_events.json",
    )
    .await;
    let page = c.ticket_events_page(0).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].ticket_id, 155);
    assert_eq!(page.events[0].via.as_ref().unwrap().channel, "web");
    assert_eq!(page.comments.len(), 1);
    let comment = &page.comments[0];
    assert_eq!(comment.ticket_id, Some(155));
    assert!(comment.created_at.is_some(), "taken from the event");
    assert_eq!(page.next_start_time, 1_601_357_503);
    assert!(page.end_of_stream);
    assert_eq!(c.stats().skipped_records, 0);
}

#[tokio::test]
async fn ticket_events_wild_shapes() {
    let c = serving(
        "/api/v2/incremental/ticket_events",
        "wild/ticket_events.json",
    )
    .await;
    let page = c.ticket_events_page(0).await.unwrap();
    // One event without a ticket id, one comment child without an id.
    assert_eq!(c.stats().skipped_records, 2);
    assert_eq!(
        page.chat_started_tickets(),
        [155026],
        "the ticket whose events started an Agent Workspace chat"
    );
    let event_via = |ticket: u64| {
        page.events
            .iter()
            .find(|e| e.ticket_id == ticket)
            .and_then(|e| e.via.clone())
            .map(|v| v.channel)
    };
    for (n, channel) in [
        (1, Some("web")),
        (2, Some("email")),
        (3, Some("chat")),
        (4, Some("rule")),
        (5, Some("native_messaging")),
        (6, Some("native_messaging")),
        (7, Some("api")),
        (8, None),
        (9, None),
    ] {
        assert_eq!(
            event_via(155_000 + n).as_deref(),
            channel,
            "event {}",
            800_000 + n
        );
    }
    assert!(event_via(155_010).is_some(), "via as an object");
    let comment = |id: u64| {
        page.comments
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("comment {id} read"))
    };
    let via = |id: u64| comment(id).via.as_ref().map(|v| v.channel.clone());
    assert_eq!(via(700_011).as_deref(), Some("web"), "child via as text");
    // A child without a via of its own takes its event's.
    let parent = |n: u64| event_via(155_000 + n);
    assert_eq!(via(700_012), parent(12), "child via \"-\"");
    assert_eq!(via(700_013), parent(13), "child via null");
    assert_eq!(comment(700_015).plain_body, None);
    assert!(comment(700_015).html_body.is_some() || comment(700_015).body.is_some());
    let empty = comment(700_017);
    assert!(empty.body.is_none() && empty.html_body.is_none() && empty.plain_body.is_none());
    assert!(comment(700_018).html_body.is_some());
    assert_eq!(comment(700_019).ticket_id, Some(155_019), "id as text");
    assert_eq!(comment(9_007_199_254_740_995).ticket_id, Some(155_020));
    assert_eq!(comment(700_021).author_id, Some(5_031_726_587));
    assert!(comment(700_022).public, "public null reads as public");
    assert_eq!(comment(700_023).ticket_id, Some(155_023), "event_type only");
    assert_eq!(
        comment(700_029).ticket_id,
        Some(155_029),
        "ticket id as text"
    );
    let timed = comment(700_033);
    let event = page.events.iter().find(|e| e.ticket_id == 155_033).unwrap();
    assert_eq!(timed.created_at, event.created_at, "time from the event");
    // Unknown child types are not comments.
    assert!(page.comments.iter().all(|c| c.ticket_id != Some(155_025)));
    assert_eq!(page.next_start_time, 1_704_069_360);
    assert!(!page.end_of_stream);
}

// ---- Agent Workspace chats: audits ---------------------------------------------

#[tokio::test]
async fn ticket_audits_reference_example() {
    let c = serving("/api/v2/tickets/666/audits", "reference/ticket_audits.json").await;
    let history = c.chat_history(666).await.unwrap();
    assert_eq!(history.len(), 1, "only the ChatStartedEvent's history");
    assert_eq!(history[0].kind.as_deref(), Some("ChatMessage"));
    assert_eq!(
        history[0].message.as_deref(),
        Some("My ID number is 847564!")
    );
}

#[tokio::test]
async fn ticket_audits_wild_shapes() {
    let c = serving("/api/v2/tickets/155027/audits", "wild/ticket_audits.json").await;
    let history = c.chat_history(155027).await.unwrap();
    let kinds: Vec<_> = history.iter().map(|h| h.kind.as_deref()).collect();
    assert_eq!(
        kinds,
        [
            Some("ChatMessage"),
            Some("ChatTransfer"),
            Some("ChatMessage"),
            Some("SomethingNew"),
        ],
        "the item that is not an object is left out, the others kept in order"
    );
    assert_eq!(history[0].actor_id, Some(400102), "id as a string");
    assert_eq!(
        history[0].timestamp,
        Some(1704068820000),
        "time as a string"
    );
    assert_eq!(history[2].actor_id, None);
    assert_eq!(
        c.stats().skipped_records,
        1,
        "the audit whose id cannot be read"
    );
}

// ---- messaging: conversation log ------------------------------------------------

#[tokio::test]
async fn conversation_log_reference_example() {
    let c = serving(
        "/api/v2/tickets/123/conversation_log",
        "reference/conversation_log.json",
    )
    .await;
    let log = c.conversation_log(123).await.unwrap();
    assert_eq!(log.len(), 2);
    let bot = log[0].author.as_ref().unwrap();
    assert_eq!(bot.kind.as_deref(), Some("bot"));
    assert_eq!(bot.user_id, Some(-1));
    assert_eq!(
        log[0].comment_id(),
        None,
        "a messaging reference is no comment"
    );
    assert!(log[0].is_public());
    assert_eq!(log[1].comment_id(), Some(8639371328313));
    assert!(!log[1].is_public(), "the transcript note is private");
    assert!(log[1].content.as_ref().unwrap().body.is_some());
}

#[tokio::test]
async fn conversation_log_wild_shapes() {
    let c = serving(
        "/api/v2/tickets/155028/conversation_log",
        "wild/conversation_log.json",
    )
    .await;
    let log = c.conversation_log(155028).await.unwrap();
    assert_eq!(
        log.len(),
        6,
        "every object is kept; the string is not an event"
    );
    assert_eq!(log[0].id.as_deref(), Some("1"));
    assert_eq!(log[0].author.as_ref().unwrap().user_id, Some(400101));
    assert_eq!(log[0].created_at.as_deref(), Some("2025-04-22T09:24:26Z"));
    assert_eq!(log[3].content.as_ref().unwrap().fields.len(), 2);
    assert!(log[2].is_public(), "metadata null reads as public");
    assert!(log[4].is_public());
    assert_eq!(log[4].comment_id(), Some(600201));
    assert!(log[5].author.is_none() && log[5].created_at.is_none());
}

// ---- comments of one ticket ------------------------------------------------

#[tokio::test]
async fn ticket_comments_reference_example() {
    let c = serving("/api/v2/tickets/", "reference/ticket_comments.json").await;
    let comments = c.ticket_comments(2).await.unwrap();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].id > 0);
    assert_eq!(comments[0].ticket_id, Some(2));
    assert!(comments[0].body.is_some());
}

#[tokio::test]
async fn ticket_comments_wild_shapes() {
    // The wild page says `has_more: true` with a cursor; serving the same
    // page again makes the client see that cursor twice: it must stop.
    let server = serve(vec![(
        "/api/v2/tickets/",
        200,
        fixture("wild/ticket_comments.json").into_bytes(),
    )])
    .await;
    let c = client(&server);
    let err = c.ticket_comments(2).await.unwrap_err();
    assert!(err.to_string().contains("came back twice"), "{err}");

    // The page itself, read alone (has_more switched off).
    let mut page: Value = serde_json::from_str(&fixture("wild/ticket_comments.json")).unwrap();
    page["meta"]["has_more"] = json!(false);
    let server = serve(vec![(
        "/api/v2/tickets/",
        200,
        serde_json::to_vec(&page).unwrap(),
    )])
    .await;
    let c = client(&server);
    let comments = c.ticket_comments(2).await.unwrap();
    let by_id: HashMap<u64, _> = comments.iter().map(|c| (c.id, c)).collect();
    assert_eq!(comments.len(), 10);
    assert_eq!(by_id[&600001].plain_body, None);
    assert_eq!(by_id[&600003].body, None);
    assert_eq!(by_id[&600004].via.as_ref().unwrap().channel, "web");
    assert!(by_id[&600005].attachments.is_empty());
    assert_eq!(
        by_id[&600006].created_at.as_deref(),
        Some("2024-01-02T10:00:00Z"),
        "an offset becomes UTC"
    );
    assert!(by_id[&600007].plain_body.as_deref().unwrap().contains('\0'));
    assert!(by_id.contains_key(&600009), "id as text");
}

// ---- users and organizations ----------------------------------------------

#[tokio::test]
async fn users_show_many_reference_example() {
    let c = serving("/api/v2/users/show_many", "reference/users_show_many.json").await;
    let users = c.users_show_many(&[1, 2]).await.unwrap();
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| u.id.is_some() && u.name.is_some()));
}

#[tokio::test]
async fn users_show_many_wild_shapes() {
    let c = serving("/api/v2/users/show_many", "wild/users_show_many.json").await;
    let users = c.users_show_many(&[1]).await.unwrap();
    let by_id: HashMap<u64, _> = users.iter().map(|u| (u.id.unwrap(), u)).collect();
    assert_eq!(users.len(), 6, "the user without an id is left out");
    assert!(by_id[&400001].user_fields.is_empty());
    assert!(by_id[&400002].tags.is_empty());
    assert_eq!(by_id[&400003].role, Role::Unknown("robot".into()));
    assert_eq!(by_id[&400004].role_type, Some(1));
    assert_eq!(by_id[&400005].organization_id, Some(57_542));
    let scrubbed = by_id[&400006];
    assert_eq!(scrubbed.active, Some(false));
    assert_eq!(scrubbed.email, None);
}

#[tokio::test]
async fn organizations_show_many_reference_example() {
    let c = serving(
        "/api/v2/organizations/show_many",
        "reference/organizations_show_many.json",
    )
    .await;
    let orgs = c.organizations_show_many(&[1]).await.unwrap();
    assert_eq!(orgs.len(), 2);
    assert!(orgs.iter().all(|o| o.name.is_some()));
}

#[tokio::test]
async fn organizations_show_many_wild_shapes() {
    let c = serving(
        "/api/v2/organizations/show_many",
        "wild/organizations_show_many.json",
    )
    .await;
    let orgs = c.organizations_show_many(&[1]).await.unwrap();
    let by_id: HashMap<u64, _> = orgs.iter().map(|o| (o.id, o)).collect();
    assert_eq!(orgs.len(), 5);
    assert!(by_id[&300001].domain_names.is_empty(), "domain_names null");
    assert!(by_id[&300002].organization_fields.is_empty());
    assert!(by_id[&300003].deleted_at.is_some());
    assert!(by_id.contains_key(&300004), "id as text");
    assert!(by_id[&300005].tags.is_empty(), "tags null");
}

#[tokio::test]
async fn users_export_reference_example() {
    let c = serving(
        "/api/v2/incremental/users/cursor",
        "reference/users_cursor_export.json",
    )
    .await;
    let page = c.users_page(&TicketCursor::Start(0)).await.unwrap();
    assert_eq!(page.users.len(), 1);
    assert!(page.end_of_stream);
    assert!(page.after_cursor.is_some());
}

#[tokio::test]
async fn users_export_wild_shapes() {
    let c = serving(
        "/api/v2/incremental/users/cursor",
        "wild/users_cursor_export.json",
    )
    .await;
    let page = c.users_page(&TicketCursor::Start(0)).await.unwrap();
    let ids: Vec<u64> = page.users.iter().filter_map(|u| u.id).collect();
    assert_eq!(c.stats().skipped_records, 1, "the user without an id");
    assert!(ids.contains(&400_101) && ids.contains(&400_103));
    let scrubbed = page.users.iter().find(|u| u.id == Some(400_101)).unwrap();
    assert_eq!(scrubbed.active, Some(false));
    let strings = page.users.iter().find(|u| u.id == Some(400_103)).unwrap();
    assert!(strings.organization_id.is_some() && strings.role_type.is_some());
}

#[tokio::test]
async fn organizations_export_reference_example() {
    let c = serving(
        "/api/v2/incremental/organizations",
        "reference/organizations_export.json",
    )
    .await;
    let page = c.organizations_page(0).await.unwrap();
    assert_eq!(page.organizations.len(), 1);
    assert_eq!(page.next_start_time, 1_601_357_503);
    assert!(page.end_of_stream);
}

#[tokio::test]
async fn organizations_export_wild_shapes() {
    let c = serving(
        "/api/v2/incremental/organizations",
        "wild/organizations_export.json",
    )
    .await;
    let page = c.organizations_page(1_704_000_000).await.unwrap();
    assert_eq!(
        c.stats().skipped_records,
        1,
        "the organization without an id"
    );
    let deleted = page.organizations.iter().find(|o| o.id == 300_101).unwrap();
    assert!(deleted.deleted_at.is_some());
    assert_eq!(page.next_start_time, 1_704_067_200, "end_time as text");
    assert!(!page.end_of_stream);
}

// ---- field definitions ----------------------------------------------------

#[tokio::test]
async fn ticket_fields_reference_example() {
    let c = serving("/api/v2/ticket_fields", "reference/ticket_fields.json").await;
    let fields = c.ticket_fields().await.unwrap();
    assert_eq!(fields.len(), 18);
    let pies = fields.iter().find(|f| f.field_type == "tagger").unwrap();
    assert!(!pies.custom_field_options.is_empty());
    assert!(
        pies.custom_field_options
            .iter()
            .all(|o| !o.value.is_empty())
    );
}

#[tokio::test]
async fn ticket_fields_wild_shapes() {
    let c = serving("/api/v2/ticket_fields", "wild/ticket_fields.json").await;
    let fields = c.ticket_fields().await.unwrap();
    assert_eq!(fields.len() as u64 + c.stats().skipped_records, 8);
    assert!(fields.iter().any(|f| f.custom_field_options.is_empty()));
    assert!(
        fields
            .iter()
            .flat_map(|f| &f.custom_field_options)
            .any(|o| o.name.contains("::")),
        "nested option names"
    );
}

#[tokio::test]
async fn user_and_organization_fields_reference_examples() {
    let c = serving("/api/v2/user_fields", "reference/user_fields.json").await;
    let fields = c.user_fields().await.unwrap();
    assert_eq!(fields.len(), 4);
    assert!(fields.iter().all(|f| !f.key.is_empty()));
    let c = serving(
        "/api/v2/organization_fields",
        "reference/organization_fields.json",
    )
    .await;
    let fields = c.organization_fields().await.unwrap();
    assert_eq!(fields.len(), 4);
    let dropdown = fields.iter().find(|f| f.key == "org_field_2").unwrap();
    assert!(!dropdown.custom_field_options.is_empty());
}

#[tokio::test]
async fn user_and_organization_fields_wild_shapes() {
    let c = serving("/api/v2/user_fields", "wild/user_fields.json").await;
    let users = c.user_fields().await.unwrap();
    assert_eq!(users.len() as u64 + c.stats().skipped_records, 8);
    let c = serving(
        "/api/v2/organization_fields",
        "wild/organization_fields.json",
    )
    .await;
    let orgs = c.organization_fields().await.unwrap();
    assert_eq!(orgs.len() as u64 + c.stats().skipped_records, 8);
}

// ---- satisfaction -----------------------------------------------------------

#[tokio::test]
async fn satisfaction_reasons_reference_example() {
    let c = serving(
        "/api/v2/satisfaction_reasons",
        "reference/satisfaction_reasons.json",
    )
    .await;
    let reasons = c.satisfaction_reasons().await.unwrap();
    assert_eq!(reasons.len(), 2, "the list is named `reasons`");
    assert_eq!(reasons[0].id, 35_436);
    assert_eq!(
        reasons[0].value.as_deref(),
        Some("Agent did not respond quickly.")
    );
}

#[tokio::test]
async fn satisfaction_reasons_wild_shapes() {
    let c = serving(
        "/api/v2/satisfaction_reasons",
        "wild/satisfaction_reasons.json",
    )
    .await;
    let reasons = c.satisfaction_reasons().await.unwrap();
    assert_eq!(reasons.len(), 8);
    let by_id: HashMap<u64, _> = reasons.iter().map(|r| (r.id, r)).collect();
    assert_eq!(by_id[&360_000_123_461].reason_code, Some(1003));
    assert_eq!(by_id[&360_000_123_462].value, None);
    assert!(by_id.contains_key(&360_000_123_464), "id as text");
}

#[test]
fn satisfaction_ratings_read_as_ticket_ratings() {
    // The ratings list holds the same objects a ticket's
    // `satisfaction_rating` does.
    for file in [
        "reference/satisfaction_ratings.json",
        "wild/satisfaction_ratings.json",
    ] {
        let page: Value = serde_json::from_str(&fixture(file)).unwrap();
        let list = page["satisfaction_ratings"].as_array().unwrap();
        for r in list {
            let rating: zdsync_zendesk::types::SatisfactionRating =
                serde_json::from_value(r.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!rating.score.is_empty() || r["score"].is_null(), "{file}");
        }
    }
}

// ---- the caller and OAuth -----------------------------------------------------

#[tokio::test]
async fn users_me_reference_example() {
    let c = serving("/api/v2/users/me", "reference/users_me.json").await;
    let me = c.me().await.unwrap();
    assert!(me.id.is_some());
    assert_eq!(me.role, Role::Agent);
    assert_eq!(me.role_type, Some(role_type::CUSTOM_AGENT));
    assert_eq!(me.restricted_agent, Some(true));
    assert_eq!(me.ticket_restriction.as_deref(), Some("assigned"));
}

#[tokio::test]
async fn users_me_wild_answers() {
    let answers: Vec<Value> = serde_json::from_str(&fixture("wild/users_me.json")).unwrap();
    let mut seen = Vec::new();
    let mut restrictions = Vec::new();
    for answer in answers {
        let c = client(
            &serve(vec![(
                "/api/v2/users/me",
                200,
                serde_json::to_vec(&answer).unwrap(),
            )])
            .await,
        );
        let me = c.me().await.unwrap();
        seen.push((me.id, me.role.clone(), me.role_type));
        restrictions.push((me.restricted_agent, me.ticket_restriction));
    }
    assert_eq!(restrictions[0], (Some(true), Some("requested".into())));
    assert_eq!(restrictions[1], (Some(true), Some("groups".into())));
    assert_eq!(restrictions[2], (Some(false), None), "null restriction");
    assert_eq!(seen[0].0, None, "anonymous");
    assert_eq!(seen[1].2, Some(role_type::LIGHT_AGENT));
    assert_eq!(seen[2].2, Some(role_type::CHAT_AGENT));
    assert!(
        seen.iter()
            .any(|(id, role, rt)| id.is_some() && *role == Role::Admin && rt.is_none()),
        "an admin without role_type"
    );
}

#[test]
fn oauth_token_answers() {
    use zdsync_zendesk::types::OAuthToken;
    let reference: OAuthToken =
        serde_json::from_str(&fixture("reference/oauth_tokens.json")).unwrap();
    assert_eq!(reference.expires_in, Some(86_400));
    assert!(reference.refresh_token.is_some());
    let wild: Vec<OAuthToken> = serde_json::from_str(&fixture("wild/oauth_tokens.json")).unwrap();
    assert_eq!(wild[0].refresh_token, None);
    assert_eq!(wild[1].expires_in, Some(86_400), "expires_in as text");
    assert_eq!(wild[3].expires_in, None);
    assert_eq!(
        wild[4].refresh_token.as_deref(),
        Some("refreshTokenWithExtras0000000000")
    );
}

// ---- answers that are not what they should be ---------------------------------

#[tokio::test]
async fn invalid_utf8_is_replaced_and_counted() {
    let mut body = fixture("reference/users_show_many.json").into_bytes();
    let at = body.windows(4).position(|w| w == b"name").unwrap() + 8;
    body.insert(at, 0xff);
    let c = client(&serve(vec![("/api/v2/users/show_many", 200, body)]).await);
    let users = c.users_show_many(&[1]).await.unwrap();
    assert_eq!(users.len(), 2);
    assert!(
        users
            .iter()
            .any(|u| u.name.as_deref().is_some_and(|n| n.contains('\u{fffd}')))
    );
    assert_eq!(c.stats().invalid_utf8_responses, 1);
}

#[tokio::test]
async fn a_page_that_is_not_json_is_retried_then_an_error() {
    let server = serve(vec![(
        "/api/v2/incremental/tickets/cursor",
        200,
        b"<html>maintenance</html>".to_vec(),
    )])
    .await;
    let c = client(&server);
    let err = c.tickets_page(&TicketCursor::Start(0)).await.unwrap_err();
    assert!(matches!(err, zdsync_zendesk::Error::Decode { .. }), "{err}");
    assert_eq!(server.requests(), 2, "one retry");
}

// ---- search export (the agents' path) ---------------------------------------

#[tokio::test]
async fn search_export_reference_example() {
    let c = serving("/api/v2/search/export", "reference/search_export.json").await;
    let page = c
        .search_tickets_page("updated>=2024-03-15T12:00:00Z", None)
        .await
        .unwrap();
    assert!(page.tickets.is_empty());
    assert!(
        page.after_cursor.is_some(),
        "has_more: true gives the next cursor"
    );
}

#[tokio::test]
async fn search_export_wild_shapes() {
    let c = serving("/api/v2/search/export", "wild/search_export.json").await;
    let page = c
        .search_tickets_page("updated>=2024-03-15T12:00:00Z", Some("abc"))
        .await
        .unwrap();
    let ids: Vec<u64> = page.tickets.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        [900101, 900102, 900104, 900105],
        "tickets only, id-less skipped"
    );
    assert_eq!(page.tickets[1].requester_id, Some(100102));
    assert_eq!(
        page.tickets[1].created_at.as_deref(),
        Some("2024-03-15T11:00:00Z")
    );
    assert_eq!(
        page.tickets[2].via.as_ref().map(|v| v.channel.as_str()),
        Some("email")
    );
    assert_eq!(c.stats().skipped_records, 1);
    assert_eq!(page.after_cursor, None, "has_more \"false\" ends the walk");
}
