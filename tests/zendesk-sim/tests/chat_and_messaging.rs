//! Agent Workspace chats and messaging tickets: the audits and conversation
//! log endpoints serve their shapes in cursor pages, the log has its own
//! budget, some logs are unavailable, and the oracle's documents agree with
//! what the endpoints serve, read by the rules of RULES.md.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use zdsync_mapping::text::{html_to_text, normalize};
use zendesk_sim::messaging::MessagingKind;
use zendesk_sim::{MessageBy, Mutation, SimConfig, SimHandle};

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
        huge_ticket: false,
        ..SimConfig::default()
    }
}

/// Every record of a cursor-paged list, following `meta.after_cursor`;
/// also the number of pages.
async fn all_pages(sim: &SimHandle, path: &str, key: &str, size: usize) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut url = format!("{path}?page[size]={size}");
    loop {
        let (status, _, page) = get(sim, &url).await;
        assert_eq!(status, 200, "{url}: {page}");
        pages += 1;
        let records = page[key].as_array().unwrap();
        assert!(records.len() <= size, "{url}: page over its size");
        out.extend(records.iter().cloned());
        if page["meta"]["has_more"] != true {
            assert!(page["meta"]["after_cursor"].is_null());
            break;
        }
        let cursor = page["meta"]["after_cursor"].as_str().unwrap();
        url = format!("{path}?page[size]={size}&page[after]={cursor}");
    }
    (out, pages)
}

async fn log(sim: &SimHandle, id: u64) -> Vec<Value> {
    all_pages(
        sim,
        &format!("/api/v2/tickets/{id}/conversation_log"),
        "events",
        100,
    )
    .await
    .0
}

async fn audits(sim: &SimHandle, id: u64) -> Vec<Value> {
    all_pages(sim, &format!("/api/v2/tickets/{id}/audits"), "audits", 100)
        .await
        .0
}

/// The history items of every `ChatStartedEvent` of the audits.
fn history(audits: &[Value]) -> Vec<Value> {
    audits
        .iter()
        .flat_map(|a| a["events"].as_array().unwrap().iter())
        .filter(|e| e["type"] == "ChatStartedEvent")
        .flat_map(|e| e["value"]["history"].as_array().unwrap().iter().cloned())
        .collect()
}

fn doc_of(docs: &[Value], id: u64) -> Option<&Value> {
    docs.iter().find(|d| d["ticket_id"] == id)
}

fn ids_of(list: &[(u64, MessagingKind)], kind: MessagingKind) -> Vec<u64> {
    list.iter()
        .filter(|(_, k)| *k == kind)
        .map(|(id, _)| *id)
        .collect()
}

/// `2026-01-01T02:00:00+02:00` as `2026-01-01T00:00:00Z`.
fn utc(s: &str) -> String {
    let t: jiff::Timestamp = s.parse().unwrap();
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn user_id(v: &Value) -> Option<u64> {
    v.as_u64().filter(|id| *id > 0)
}

#[tokio::test]
async fn the_account_holds_chats_and_messaging_tickets_in_their_proportions() {
    let sim = SimHandle::start(config(1000)).await.unwrap();
    let f = sim.facts();
    let share = |n: usize| n as f64 / 1000.0;
    let log_only = ids_of(&f.messaging_ticket_ids, MessagingKind::LogOnly);
    let mirrored = ids_of(&f.messaging_ticket_ids, MessagingKind::Mirrored);
    for (what, n) in [
        ("aw chats", f.aw_chat_ticket_ids.len()),
        ("log-only", log_only.len()),
        ("mirrored", mirrored.len()),
        ("legacy chats", f.chat_ticket_ids.len()),
    ] {
        assert!((0.02..0.07).contains(&share(n)), "{what}: {n}");
    }
    let listed = f.aw_chat_in_events_ticket_ids.len();
    assert!(
        listed > 0 && listed < f.aw_chat_ticket_ids.len(),
        "{listed}"
    );
    assert!(!f.log_unavailable_ticket_ids.is_empty());
    assert!(
        f.log_unavailable_ticket_ids
            .iter()
            .all(|id| mirrored.contains(id))
    );
    let (_, _, t) = get(&sim, &format!("/api/v2/tickets/{}", log_only[0])).await;
    assert_eq!(t["ticket"]["via"]["channel"], "native_messaging");
    assert_eq!(t["ticket"]["from_messaging_channel"], true);
    let (_, _, t) = get(
        &sim,
        &format!("/api/v2/tickets/{}", f.aw_chat_ticket_ids[0]),
    )
    .await;
    assert_eq!(t["ticket"]["via"]["channel"], "chat");
    assert_eq!(t["ticket"]["from_messaging_channel"], false);
}

#[tokio::test]
async fn an_aw_chat_lives_in_the_audits_in_cursor_pages_and_no_comment_holds_it() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let id = sim.facts().aw_chat_ticket_ids[0];
    let path = format!("/api/v2/tickets/{id}/audits");
    let (one_by_one, pages) = all_pages(&sim, &path, "audits", 1).await;
    assert!(pages >= 2, "{pages} pages");
    assert_eq!(
        one_by_one,
        audits(&sim, id).await,
        "same audits at any page size"
    );
    for a in &one_by_one {
        for key in [
            "id",
            "ticket_id",
            "created_at",
            "author_id",
            "via",
            "metadata",
            "events",
        ] {
            assert!(a.get(key).is_some(), "audit without {key}: {a}");
        }
        assert_eq!(a["ticket_id"], id);
    }
    let first = &one_by_one[0]["events"];
    assert!(
        first
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "Create")
    );
    let started: Vec<&Value> = one_by_one
        .iter()
        .flat_map(|a| a["events"].as_array().unwrap().iter())
        .filter(|e| e["type"] == "ChatStartedEvent")
        .collect();
    assert_eq!(started.len(), 1);
    let value = &started[0]["value"];
    assert!(value["visitor_id"].is_string() && value["chat_id"].is_string());
    for (i, h) in value["history"].as_array().unwrap().iter().enumerate() {
        assert_eq!(h["chat_index"], i);
        assert!(
            h["timestamp"].as_i64().unwrap() > 1_000_000_000_000,
            "epoch ms: {h}"
        );
        assert!(
            h["actor_type"].is_string() && h["actor_name"].is_string(),
            "{h}"
        );
    }
    let (_, _, comments) = get(&sim, &format!("/api/v2/tickets/{id}/comments")).await;
    for c in comments["comments"].as_array().unwrap() {
        let text = c["body"].as_str().unwrap_or("");
        assert!(!text.contains("Chat started"), "a transcript: {text}");
    }
}

#[tokio::test]
async fn aw_chat_histories_hold_every_kind_of_item() {
    let sim = SimHandle::start(config(1000)).await.unwrap();
    let mut types = HashSet::new();
    let (mut anonymous, mut unnamed_file, mut system) = (0, 0, 0);
    for id in sim.facts().aw_chat_ticket_ids {
        for h in history(&audits(&sim, id).await) {
            types.insert(h["type"].as_str().unwrap().to_string());
            anonymous += usize::from(h["actor_type"] == "end-user" && h.get("actor_id").is_none());
            system += usize::from(h["actor_type"] == "system");
            if h["type"] == "ChatFileAttachment" {
                assert!(h["url"].is_string());
                unnamed_file += usize::from(h.get("filename").is_none());
            }
            if h["type"] == "ChatMessage" {
                assert!(h["message"].is_string() && h["message_id"].is_string());
            }
        }
    }
    for t in [
        "ChatMessage",
        "ChatFileAttachment",
        "ChatJoin",
        "ChatLeave",
        "ChatTransfer",
    ] {
        assert!(types.contains(t), "no {t}: {types:?}");
    }
    assert!(anonymous > 0 && unnamed_file > 0 && system > 0);
}

/// The tickets whose `ChatStartedEvent` the ticket-events stream lists.
async fn listed_in_the_stream(sim: &SimHandle) -> HashSet<u64> {
    let mut listed = HashSet::new();
    let mut start = 0;
    loop {
        let path =
            format!("/api/v2/incremental/ticket_events?start_time={start}&include=comment_events");
        let (status, _, page) = get(sim, &path).await;
        assert_eq!(status, 200, "{page}");
        for e in page["ticket_events"].as_array().unwrap() {
            let chat = e["child_events"].as_array().unwrap().iter().any(|c| {
                c["event_type"] == "ChatStartedEvent" && c["value"]["chat_id"].is_string()
            });
            if chat {
                let id = &e["ticket_id"];
                listed.insert(id.as_u64().or_else(|| id.as_str()?.parse().ok()).unwrap());
            }
        }
        if page["end_of_stream"] == true {
            return listed;
        }
        start = page["end_time"].as_i64().unwrap();
    }
}

#[tokio::test]
async fn the_ticket_events_stream_lists_chat_started_events_for_some_aw_chats_only() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let f = sim.facts();
    let listed = listed_in_the_stream(&sim).await;
    let want: HashSet<u64> = f.aw_chat_in_events_ticket_ids.iter().copied().collect();
    assert_eq!(listed, want);
    assert!(!listed.is_empty());
    assert!(
        listed.len() < f.aw_chat_ticket_ids.len(),
        "some chats are not listed"
    );
}

#[tokio::test]
async fn a_conversation_log_spans_cursor_pages_in_its_shape() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let id = sim.facts().messaging_ticket_ids[0].0;
    let path = format!("/api/v2/tickets/{id}/conversation_log");
    let (events, pages) = all_pages(&sim, &path, "events", 2).await;
    assert!(pages > 1, "{pages} pages");
    assert_eq!(events, log(&sim, id).await, "same log at any page size");
    for e in &events {
        assert!(e["id"].is_string() && e["created_at"].is_string(), "{e}");
        assert!(e["content"]["type"].is_string(), "{e}");
        let author = &e["author"];
        assert!(author["display_name"].is_string(), "{e}");
        match author["type"].as_str().unwrap() {
            "bot" => assert_eq!(author["zen:support:user_id"], -1),
            "user" | "agent" => assert!(user_id(&author["zen:support:user_id"]).is_some()),
            other => panic!("author type {other}"),
        }
        match e["type"].as_str().unwrap() {
            "Comment" => {
                let reference = e["reference"].as_str().unwrap();
                assert!(reference.starts_with("zen:ticket_event:"), "{e}");
                assert!(e["content"]["body"].is_string(), "{e}");
                assert!(e["metadata"]["public"].is_boolean(), "{e}");
            }
            "Messaging::ConversationMessage" => {}
            other => panic!("event type {other}"),
        }
    }
    let (_, _, big) = get(&sim, &format!("{path}?page[size]=500")).await;
    assert_eq!(
        big["events"].as_array().unwrap().len(),
        events.len().min(100)
    );
}

#[tokio::test]
async fn a_mirrored_log_lists_the_public_comments_and_bots_write_only_there() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let f = sim.facts();
    let id = *ids_of(&f.messaging_ticket_ids, MessagingKind::Mirrored)
        .iter()
        .find(|id| !f.log_unavailable_ticket_ids.contains(id))
        .unwrap();
    let (_, _, page) = get(&sim, &format!("/api/v2/tickets/{id}/comments")).await;
    let comments = page["comments"].as_array().unwrap();
    assert!(!comments.is_empty());
    let mut ids: Vec<u64> = comments
        .iter()
        .map(|c| {
            assert_eq!(c["public"], true);
            assert_eq!(c["via"]["channel"], "native_messaging");
            c["id"].as_u64().unwrap()
        })
        .collect();
    let events = log(&sim, id).await;
    let mut referenced: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] == "Comment")
        .map(|e| {
            e["reference"].as_str().unwrap()["zen:ticket_event:".len()..]
                .parse()
                .unwrap()
        })
        .collect();
    ids.sort_unstable();
    referenced.sort_unstable();
    assert_eq!(referenced, ids, "each comment once in the log");
    assert!(events.iter().any(|e| e["author"]["type"] == "bot"));
    assert!(
        events
            .iter()
            .filter(|e| e["author"]["type"] == "bot")
            .all(|e| e["type"] == "Messaging::ConversationMessage")
    );
}

#[tokio::test]
async fn a_log_only_ticket_keeps_nothing_of_the_conversation_in_its_comments() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let mut notes = 0;
    for id in ids_of(&sim.facts().messaging_ticket_ids, MessagingKind::LogOnly) {
        let (_, _, page) = get(&sim, &format!("/api/v2/tickets/{id}/comments")).await;
        let comments = page["comments"].as_array().unwrap();
        assert!(comments.len() <= 1, "ticket {id}: {comments:?}");
        for c in comments {
            assert_eq!(c["public"], false);
            assert!(
                c["body"]
                    .as_str()
                    .unwrap()
                    .starts_with("Conversation with ")
            );
            notes += 1;
        }
    }
    assert!(notes > 0, "some log-only tickets have a transcript note");
}

#[tokio::test]
async fn the_conversation_log_has_its_own_budget() {
    let sim = SimHandle::start(SimConfig {
        tickets: 200,
        omnilog_limit_per_min: 2,
        rate_window_secs: 2,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let id = sim.facts().messaging_ticket_ids[0].0;
    let path = format!("/api/v2/tickets/{id}/conversation_log");
    let header = |h: &reqwest::header::HeaderMap| {
        h.get("zendesk-ratelimit-omnilog-index")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (s1, h1, _) = get(&sim, &path).await;
    assert_eq!(s1, 200);
    assert_eq!(header(&h1).unwrap(), "total=2; remaining=1; resets=2");
    let account: u32 = h1["x-rate-limit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(account, 699, "the account budget counts it too");
    let (s2, h2, _) = get(&sim, &path).await;
    assert_eq!(s2, 200);
    assert!(header(&h2).unwrap().starts_with("total=2; remaining=0"));
    let (s3, h3, _) = get(&sim, &path).await;
    assert_eq!(s3, 429);
    let wait: u64 = h3["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let (s4, h4, _) = get(&sim, &format!("/api/v2/tickets/{id}/comments")).await;
    assert_eq!(s4, 200, "other endpoints are not held back");
    assert!(header(&h4).is_none());
    assert_eq!(sim.stats().responses_429, 1);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (s5, _, _) = get(&sim, &path).await;
    assert_eq!(s5, 200, "the window has reset");
}

#[tokio::test]
async fn an_unavailable_log_answers_404_and_the_document_comes_from_the_comments() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let f = sim.facts();
    let id = f.log_unavailable_ticket_ids[0];
    let (status, _, body) = get(&sim, &format!("/api/v2/tickets/{id}/conversation_log")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("RecordNotFound"))
    );
    let (status, _, page) = get(&sim, &format!("/api/v2/tickets/{id}/comments")).await;
    assert_eq!(status, 200);
    let public: Vec<u64> = page["comments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["public"] == true)
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    let docs = sim.expected_documents("acme");
    let doc = doc_of(&docs, id).expect("a mirrored ticket with customer words");
    let used: Vec<u64> = doc["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["comment_id"]
                .as_u64()
                .expect("every message is a comment")
        })
        .collect();
    assert_eq!(used, public);
}

/// A log event read by RULES.md ("Messaging"), from the served JSON:
/// (created_at, message) for public events of a known author type.
fn read_event(e: &Value) -> Option<(String, Value)> {
    if e["metadata"]["public"] == false {
        return None;
    }
    let author = &e["author"];
    let role = match author["type"].as_str()? {
        "user" => "customer",
        "agent" | "bot" => "agent",
        _ => return None,
    };
    let c = &e["content"];
    let text = match c["type"].as_str().unwrap_or("") {
        _ if c["body"].is_string() => html_to_text(c["body"].as_str()?),
        "text" => normalize(c["text"].as_str()?),
        "image" | "file" => media_text(c),
        "form" => form_text(c),
        "formResponse" => form_response_text(c),
        other => match c["text"].as_str() {
            Some(t) => normalize(t),
            None => format!("[{other}]"),
        },
    };
    let comment_id = e["reference"]
        .as_str()
        .and_then(|r| r.strip_prefix("zen:ticket_event:"))
        .and_then(|id| id.parse::<u64>().ok());
    let at = utc(e["created_at"].as_str()?);
    let msg = serde_json::json!({
        "comment_id": comment_id, "author_id": user_id(&author["zen:support:user_id"]),
        "author_name": author["display_name"], "role": role, "created_at": at, "text": text,
    });
    Some((at, msg))
}

fn media_text(c: &Value) -> String {
    let kind = c["type"].as_str().unwrap_or("");
    let last = c["media_url"].as_str().and_then(|u| u.rsplit('/').next());
    match c["alt_text"].as_str().or(last).filter(|n| !n.is_empty()) {
        Some(name) => format!("[{kind}: {name}]"),
        None => format!("[{kind}]"),
    }
}

fn form_text(c: &Value) -> String {
    let labels = c["fields"].as_array().unwrap().iter();
    let lines: Vec<&str> = c["text"]
        .as_str()
        .into_iter()
        .chain(labels.map(|f| f["label"].as_str().unwrap()))
        .collect();
    normalize(&lines.join("\n"))
}

fn form_response_text(c: &Value) -> String {
    if let Some(t) = c["text_fallback"].as_str() {
        return normalize(t);
    }
    let lines: Vec<String> = c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let value = f["text"].as_str().or(f["email"].as_str()).map_or_else(
                || {
                    let labels: Vec<&str> = f["select"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| o["label"].as_str().unwrap())
                        .collect();
                    labels.join(", ")
                },
                String::from,
            );
            format!("{}: {value}", f["label"].as_str().unwrap())
        })
        .collect();
    normalize(&lines.join("\n"))
}

#[tokio::test]
async fn the_oracle_reads_every_available_log_as_the_rules_say() {
    let sim = SimHandle::start(config(1000)).await.unwrap();
    let f = sim.facts();
    let docs = sim.expected_documents("acme");
    let mut seen = BTreeMap::<String, usize>::new();
    for &(id, _) in &f.messaging_ticket_ids {
        if f.log_unavailable_ticket_ids.contains(&id) {
            continue;
        }
        let events = log(&sim, id).await;
        for e in &events {
            *seen
                .entry(e["content"]["type"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        let mut read: Vec<(String, Value)> = events.iter().filter_map(read_event).collect();
        // Oldest first; a log keeps its order within a second.
        read.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<Value> = read.into_iter().map(|r| r.1).collect();
        let customer = want.iter().any(|m| m["role"] == "customer");
        match doc_of(&docs, id) {
            Some(doc) => assert_eq!(doc["content"].as_array().unwrap(), &want, "ticket {id}"),
            None => assert!(!customer, "ticket {id} has customer words but no document"),
        }
    }
    for kind in [
        "text",
        "html",
        "image",
        "file",
        "form",
        "formResponse",
        "carousel",
    ] {
        assert!(seen.contains_key(kind), "no {kind} content: {seen:?}");
    }
}

#[tokio::test]
async fn a_log_only_conversation_with_customer_words_is_a_document_with_the_bots_messages() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let f = sim.facts();
    let docs = sim.expected_documents("acme");
    let id = ids_of(&f.messaging_ticket_ids, MessagingKind::LogOnly)
        .into_iter()
        .find(|id| !f.agent_only_ticket_ids.contains(id))
        .unwrap();
    let doc = doc_of(&docs, id).expect("a document");
    let content = doc["content"].as_array().unwrap();
    assert!(content.iter().any(|m| m["role"] == "customer"));
    let bot = content
        .iter()
        .find(|m| m["author_id"].is_null())
        .expect("a bot message");
    assert_eq!(bot["role"], "agent");
    assert!(["Acme Assistant", "Answer Bot"].contains(&bot["author_name"].as_str().unwrap()));
    assert!(content.iter().all(|m| m["comment_id"].is_null()));
    assert!(
        content
            .iter()
            .all(|m| !m["text"].as_str().unwrap().starts_with("Conversation with")),
        "the private transcript note is not content"
    );
}

#[tokio::test]
async fn a_conversation_of_bots_and_agents_only_is_not_a_document() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let f = sim.facts();
    let docs = sim.expected_documents("acme");
    let mut found = 0;
    for &(id, _) in &f.messaging_ticket_ids {
        if !f.agent_only_ticket_ids.contains(&id) {
            continue;
        }
        let events = log(&sim, id).await;
        let public = |e: &&Value| e["metadata"]["public"] != false;
        assert!(
            events
                .iter()
                .filter(public)
                .all(|e| e["author"]["type"] != "user")
        );
        assert!(events.iter().any(|e| e["author"]["type"] == "bot"));
        let (_, _, t) = get(&sim, &format!("/api/v2/tickets/{id}")).await;
        let csat = &t["ticket"]["satisfaction_rating"];
        let rated = csat["comment"]
            .as_str()
            .is_some_and(|c| !c.trim().is_empty())
            && (csat["score"] == "good" || csat["score"] == "bad");
        assert_eq!(doc_of(&docs, id).is_some(), rated, "ticket {id}");
        found += usize::from(!rated);
    }
    assert!(found > 0);
}

#[tokio::test]
async fn the_oracle_reads_aw_chat_histories_as_the_rules_say() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let docs = sim.expected_documents("acme");
    let mut anonymous = 0;
    for id in sim.facts().aw_chat_ticket_ids {
        let (_, _, t) = get(&sim, &format!("/api/v2/tickets/{id}")).await;
        let requester = t["ticket"]["requester_id"].as_u64().unwrap();
        let mut want = Vec::new();
        for h in history(&audits(&sim, id).await) {
            let role = match h["actor_type"].as_str().unwrap() {
                "end-user" => "customer",
                "agent" => "agent",
                _ => continue,
            };
            let text = match h["type"].as_str().unwrap() {
                "ChatMessage" => normalize(h["message"].as_str().unwrap()),
                "ChatFileAttachment" => h["filename"]
                    .as_str()
                    .map_or("[file]".to_string(), |f| format!("[file: {f}]")),
                _ => continue,
            };
            let author_id = user_id(&h["actor_id"]).or((role == "customer").then_some(requester));
            anonymous += usize::from(h.get("actor_id").is_none() && role == "customer");
            let secs = h["timestamp"].as_i64().unwrap().div_euclid(1000);
            let at = jiff::Timestamp::from_second(secs).unwrap();
            let at = at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            want.push((
                author_id,
                role.to_string(),
                at,
                text,
                h["actor_name"].clone(),
            ));
        }
        let Some(doc) = doc_of(&docs, id) else {
            assert!(want.iter().all(|w| w.1 != "customer"), "ticket {id}");
            continue;
        };
        let got: Vec<&Value> = doc["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["comment_id"].is_null())
            .collect();
        assert_eq!(got.len(), want.len(), "ticket {id}");
        for (m, (author_id, role, at, text, actor_name)) in got.into_iter().zip(&want) {
            assert_eq!(m["author_id"].as_u64(), *author_id, "ticket {id}");
            assert_eq!(m["role"], *role, "ticket {id}");
            assert_eq!(m["created_at"], *at, "ticket {id}");
            assert_eq!(m["text"], *text, "ticket {id}");
            // The user's name when known: chats name agents by first name.
            let name = m["author_name"].as_str().unwrap();
            assert!(
                name.starts_with(actor_name.as_str().unwrap()),
                "{name} / {actor_name}"
            );
        }
    }
    assert!(anonymous > 0);
}

#[tokio::test]
async fn a_messaging_message_goes_to_the_log_and_on_a_mirrored_ticket_to_the_comments_too() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let f = sim.facts();
    let log_only = ids_of(&f.messaging_ticket_ids, MessagingKind::LogOnly)[0];
    let mirrored = *ids_of(&f.messaging_ticket_ids, MessagingKind::Mirrored)
        .iter()
        .find(|id| !f.log_unavailable_ticket_ids.contains(id))
        .unwrap();
    let say = |ticket_id, by, text: &str| Mutation::AddMessagingMessage {
        ticket_id,
        by,
        text: text.into(),
    };
    for (id, mirrors) in [(log_only, false), (mirrored, true)] {
        let comments = |v: &Value| v["comments"].as_array().unwrap().len();
        let (_, _, before) = get(&sim, &format!("/api/v2/tickets/{id}/comments")).await;
        let logged = log(&sim, id).await.len();
        let done = sim.mutate(say(id, MessageBy::Customer, "Is it fixed now?"));
        assert_eq!(done.ticket_ids, vec![id]);
        sim.mutate(say(id, MessageBy::Bot, "An agent will answer soon."));
        let events = log(&sim, id).await;
        assert_eq!(events.len(), logged + 2);
        let customer = &events[logged];
        assert_eq!(customer["author"]["type"], "user");
        assert_eq!(customer["type"] == "Comment", mirrors, "{customer}");
        assert_eq!(events[logged + 1]["author"]["type"], "bot");
        let (_, _, after) = get(&sim, &format!("/api/v2/tickets/{id}/comments")).await;
        assert_eq!(comments(&after), comments(&before) + usize::from(mirrors));
        let docs = sim.expected_documents("acme");
        let content = doc_of(&docs, id).unwrap()["content"].as_array().unwrap();
        let last: Vec<&Value> = content
            .iter()
            .rev()
            .take(2)
            .rev()
            .map(|m| &m["text"])
            .collect();
        assert_eq!(
            last,
            ["Is it fixed now?", "An agent will answer soon."],
            "the log's order within a second"
        );
    }
    let other = f.aw_chat_ticket_ids[0];
    assert!(
        sim.mutate(say(other, MessageBy::Bot, "hello"))
            .ticket_ids
            .is_empty()
    );
}

#[tokio::test]
async fn changed_chat_and_messaging_tickets_reach_the_exports_with_their_new_words() {
    let sim = SimHandle::start(config(600)).await.unwrap();
    let f = sim.facts();
    let speaks = |id: &&u64| !f.agent_only_ticket_ids.contains(id);
    let aw = *f.aw_chat_ticket_ids.iter().find(speaks).unwrap();
    let log_only = ids_of(&f.messaging_ticket_ids, MessagingKind::LogOnly);
    let messaging = *log_only.iter().find(speaks).unwrap();
    let (_, _, first) = get(&sim, "/api/v2/incremental/tickets/cursor?start_time=0").await;
    let cursor = first["after_cursor"].as_str().unwrap().to_string();
    let chats_before = history(&audits(&sim, aw).await).len();
    for id in [aw, messaging] {
        sim.mutate(Mutation::AddComment {
            ticket_id: id,
            by_customer: false,
            public: true,
            text: "Following up: the fix is live.".into(),
        });
    }
    sim.advance_clock(120);
    let (_, _, next) = get(
        &sim,
        &format!("/api/v2/incremental/tickets/cursor?cursor={cursor}"),
    )
    .await;
    let changed: HashSet<u64> = next["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(changed, HashSet::from([aw, messaging]));
    let docs = sim.expected_documents("acme");
    for id in [aw, messaging] {
        let t = next["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap();
        let doc = doc_of(&docs, id).unwrap();
        assert_eq!(doc["updated_at"], t["updated_at"]);
        let last = doc["content"].as_array().unwrap().last().unwrap();
        assert_eq!(last["text"], "Following up: the fix is live.");
        assert!(last["comment_id"].is_u64());
    }
    assert_eq!(
        history(&audits(&sim, aw).await).len(),
        chats_before,
        "the chat stays"
    );
    let events = log(&sim, messaging).await;
    assert_eq!(
        events.last().unwrap()["type"],
        "Comment",
        "the comment is in the log"
    );
}

#[tokio::test]
async fn per_ticket_requests_are_counted_by_label_and_ticket() {
    let sim = SimHandle::start(config(300)).await.unwrap();
    let f = sim.facts();
    let (aw, messaging) = (f.aw_chat_ticket_ids[0], f.messaging_ticket_ids[0].0);
    sim.reset_stats();
    audits(&sim, aw).await;
    audits(&sim, aw).await;
    log(&sim, messaging).await;
    let stats = sim.stats();
    assert_eq!(stats.by_endpoint["tickets/{id}/audits"], 2);
    assert_eq!(stats.by_endpoint["tickets/{id}/conversation_log"], 1);
    assert_eq!(
        stats.by_ticket["tickets/{id}/audits"],
        BTreeMap::from([(aw, 2)])
    );
    assert_eq!(
        stats.by_ticket["tickets/{id}/conversation_log"],
        BTreeMap::from([(messaging, 1)])
    );
}
