//! The simulator itself: the account it generates, its HTTP behaviour and
//! its oracle on hand-checked tickets.

use serde_json::Value;
use zendesk_sim::{Mutation, SimConfig, SimHandle};

async fn get(sim: &SimHandle, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let c = sim.credentials();
    let r = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .basic_auth(format!("{}/token", c.admin_email), Some(c.api_token))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn config(tickets: usize) -> SimConfig {
    SimConfig {
        tickets,
        rate_limits: false,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn the_account_has_every_kind_of_ticket_and_is_deterministic() {
    let a = SimHandle::start(config(1000)).await.unwrap();
    let b = SimHandle::start(config(1000)).await.unwrap();
    assert_eq!(
        a.expected_documents("x"),
        b.expected_documents("x"),
        "same seed, same account"
    );
    let f = a.facts();
    assert_eq!(f.ticket_ids.len(), 1000);
    let share = |n: usize| n as f64 / 1000.0;
    assert!(
        (0.01..0.04).contains(&share(f.deleted_ticket_ids.len())),
        "deleted {}",
        f.deleted_ticket_ids.len()
    );
    assert!(
        (0.12..0.28).contains(&share(f.agent_only_ticket_ids.len())),
        "agent-only {}",
        f.agent_only_ticket_ids.len()
    );
    assert!(!f.chat_ticket_ids.is_empty());
    let huge = f.huge_ticket_id.unwrap();
    let (_, _, comments) = get(
        &a,
        &format!("/api/v2/tickets/{huge}/comments?page[size]=100"),
    )
    .await;
    let bytes: usize = comments["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().len())
        .sum();
    assert!(bytes > 1_500_000, "huge ticket has {bytes} bytes");
    let long = f.long_ticket_id.unwrap();
    let (_, _, t) = get(&a, &format!("/api/v2/tickets/{long}")).await;
    assert_eq!(t["ticket"]["id"], long);
    let docs = a.expected_documents("acme");
    let long_doc = docs.iter().find(|d| d["ticket_id"] == long).unwrap();
    assert!(
        long_doc["content"].as_array().unwrap().len() >= 300,
        "public messages of the long ticket"
    );
    let mut n = 0;
    let mut path = format!("/api/v2/tickets/{long}/comments?page[size]=100");
    loop {
        let (_, _, page) = get(&a, &path).await;
        n += page["comments"].as_array().unwrap().len();
        if page["meta"]["has_more"] != true {
            break;
        }
        path = format!(
            "/api/v2/tickets/{long}/comments?page[size]=100&page[after]={}",
            page["meta"]["after_cursor"].as_str().unwrap()
        );
    }
    assert!(n >= 400, "the long ticket has {n} comments");
    let missing = f.missing_requester_ticket_id.unwrap();
    let d = docs.iter().find(|d| d["ticket_id"] == missing).unwrap();
    assert_eq!(d["user"]["missing"], true);
    assert!(
        d["content"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "customer" && m["author_name"].is_null())
    );
    let chat = docs
        .iter()
        .find(|d| d["metadata"]["channel"] == "chat")
        .unwrap();
    assert!(
        chat["content"].as_array().unwrap().len() >= 3,
        "a chat becomes one message per line"
    );
    assert!(
        chat["content"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["comment_id"].is_null())
    );
    assert!(docs.iter().all(|d| {
        !f.deleted_ticket_ids
            .contains(&d["ticket_id"].as_u64().unwrap())
    }));
}

#[tokio::test]
async fn chat_tickets_are_written_in_several_languages() {
    let sim = SimHandle::start(config(1000)).await.unwrap();
    let mut headers = std::collections::BTreeSet::new();
    for id in sim.facts().chat_ticket_ids {
        let (_, _, page) = get(&sim, &format!("/api/v2/tickets/{id}/comments")).await;
        let body = page["comments"][0]["plain_body"].as_str().unwrap_or("");
        let words = body.split([':', '：']).next().unwrap_or("").trim();
        headers.insert(words.to_string());
    }
    assert!(headers.contains("Chat started"), "{headers:?}");
    assert!(headers.len() >= 4, "header words {headers:?}");
}

#[tokio::test]
async fn changes_show_up_in_the_exports_only_once_a_minute_old() {
    let sim = SimHandle::start(config(50)).await.unwrap();
    let (_, _, first) = get(&sim, "/api/v2/incremental/tickets/cursor?start_time=0").await;
    assert_eq!(first["end_of_stream"], true);
    let cursor = first["after_cursor"].as_str().unwrap().to_string();
    let created = sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    let (_, _, none) = get(
        &sim,
        &format!("/api/v2/incremental/tickets/cursor?cursor={cursor}"),
    )
    .await;
    assert_eq!(
        none["tickets"].as_array().unwrap().len(),
        0,
        "changes of the last minute are excluded"
    );
    sim.advance_clock(120);
    let (_, _, some) = get(
        &sim,
        &format!("/api/v2/incremental/tickets/cursor?cursor={cursor}"),
    )
    .await;
    assert_eq!(some["tickets"][0]["id"], created.ticket_ids[0]);
    let now = 1_767_225_600 + 10_000_000;
    let (status, _, err) = get(
        &sim,
        &format!("/api/v2/incremental/ticket_events?start_time={now}"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "StartTimeTooRecent");
}

#[tokio::test]
async fn budgets_are_announced_and_enforced() {
    let sim = SimHandle::start(SimConfig {
        tickets: 20,
        export_limit_per_min: 1,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (s1, h1, _) = get(&sim, "/api/v2/incremental/ticket_events?start_time=0").await;
    assert_eq!(s1, 200);
    let export = h1
        .get("zendesk-ratelimit-incremental-exports")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(export.contains("total=1; remaining=0"), "{export}");
    assert_eq!(h1.get("x-rate-limit").unwrap(), "700");
    let (s2, h2, _) = get(&sim, "/api/v2/incremental/ticket_events?start_time=0").await;
    assert_eq!(s2, 429);
    let wait: u64 = h2
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    let (s3, _, _) = get(&sim, "/api/v2/ticket_fields").await;
    assert_eq!(s3, 200, "the account budget is separate");
    assert_eq!(sim.stats().responses_429, 1);
}

#[tokio::test]
async fn the_events_stream_serves_via_in_every_shape_zendesk_sends() {
    let sim = SimHandle::start(config(200)).await.unwrap();
    let (_, _, page) = get(
        &sim,
        "/api/v2/incremental/ticket_events?start_time=0&include=comment_events",
    )
    .await;
    let events = page["ticket_events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["via"] == "Web form"),
        "event via as a display name"
    );
    let child_vias: std::collections::HashSet<String> = events
        .iter()
        .flat_map(|e| e["child_events"].as_array().unwrap().iter())
        .filter(|c| c["event_type"] == "Comment")
        .map(|c| match &c["via"] {
            Value::Object(o) if o.is_empty() => "{}".to_string(),
            Value::Object(_) => "object".to_string(),
            Value::String(s) if s == "-" => "-".to_string(),
            Value::String(_) => "name".to_string(),
            other => other.to_string(),
        })
        .collect();
    for shape in ["{}", "object", "-", "name", "null"] {
        assert!(
            child_vias.contains(shape),
            "no child via {shape}: {child_vias:?}"
        );
    }
    assert!(
        events.iter().any(|e| e["ticket_id"].is_string()),
        "some ticket ids as strings"
    );
    let big = events
        .iter()
        .flat_map(|e| e["child_events"].as_array().unwrap().iter())
        .filter_map(|c| c["id"].as_u64())
        .any(|id| id > 1 << 53);
    assert!(big, "comment ids above 2^53");
}

#[tokio::test]
async fn a_deleted_user_is_scrubbed_in_the_export_and_gone_from_show_many() {
    let sim = SimHandle::start(config(60)).await.unwrap();
    let (user, _) = sim.facts().requesters[0];
    sim.mutate(Mutation::DeleteUser { user_id: user });
    sim.advance_clock(120);
    let (_, _, export) = get(&sim, "/api/v2/incremental/users/cursor?start_time=0").await;
    let scrubbed = export["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == user)
        .expect("the deleted user is in the export");
    assert_eq!(scrubbed["active"], false);
    assert_eq!(scrubbed["name"], "Permanently deleted user");
    assert!(scrubbed["email"].is_null());
    let (_, _, many) = get(&sim, &format!("/api/v2/users/show_many?ids={user}")).await;
    assert_eq!(many["users"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_organizations_export_pages_by_time_and_shows_deletions() {
    let sim = SimHandle::start(config(60)).await.unwrap();
    let org = sim.facts().org_ids[0];
    sim.mutate(Mutation::DeleteOrg { org_id: org });
    sim.advance_clock(120);
    let (_, _, all) = get(&sim, "/api/v2/incremental/organizations?start_time=0").await;
    assert_eq!(all["end_of_stream"], true);
    let orgs = all["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 50, "every organization, the deleted one too");
    let last = orgs.last().unwrap();
    let id_of = |v: &Value| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    assert_eq!(
        id_of(&last["id"]),
        Some(org),
        "the deleted one changed last"
    );
    assert!(last["deleted_at"].is_string(), "{last}");
    let end = all["end_time"].as_i64().unwrap();
    let (status, _, err) = get(
        &sim,
        &format!(
            "/api/v2/incremental/organizations?start_time={}",
            end + 3600
        ),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("StartTimeTooRecent"))
    );
    let (_, _, many) = get(&sim, &format!("/api/v2/organizations/show_many?ids={org}")).await;
    assert_eq!(many["organizations"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn an_idless_record_fault_adds_one_record_without_an_id() {
    let sim = SimHandle::start(config(60)).await.unwrap();
    sim.inject(zendesk_sim::Fault {
        path_prefix: Some("/api/v2/incremental/tickets".into()),
        kind: zendesk_sim::FaultKind::IdlessRecord,
        count: 1,
    });
    let (_, _, page) = get(&sim, "/api/v2/incremental/tickets/cursor?start_time=0").await;
    let tickets = page["tickets"].as_array().unwrap();
    assert_eq!(tickets.iter().filter(|t| t["id"].is_null()).count(), 1);
    assert_eq!(tickets.len(), 61);
}
