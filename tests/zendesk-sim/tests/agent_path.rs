//! The agents' path through the simulator: the search export (its index
//! lag, its terms, its budget), ticket groups and the restricted agent who
//! sees only its groups' tickets, the oracle of what a user may see, and
//! role changes.

use std::collections::BTreeSet;

use serde_json::Value;
use zendesk_sim::{Mutation, SimConfig, SimHandle};

async fn get_as(
    sim: &SimHandle,
    email: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let c = sim.credentials();
    let r = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .basic_auth(format!("{email}/token"), Some(c.api_token))
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

fn search_path(query: &str, after: Option<&str>) -> String {
    let mut path = format!(
        "/api/v2/search/export?query={}&filter[type]=ticket&page[size]=1000",
        url_escape(query)
    );
    if let Some(a) = after {
        path.push_str(&format!("&page[after]={a}"));
    }
    path
}

fn url_escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace(' ', "%20")
        .replace('>', "%3E")
        .replace('<', "%3C")
        .replace('=', "%3D")
        .replace(':', "%3A")
        .replace('+', "%2B")
}

/// Every ticket id of a search, walked page by page as `email`.
async fn search_ids(sim: &SimHandle, email: &str, query: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (status, _, page) = get_as(sim, email, &search_path(query, after.as_deref())).await;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_u64().unwrap()),
        );
        if page["meta"]["has_more"] != true {
            return ids;
        }
        after = page["meta"]["after_cursor"].as_str().map(String::from);
    }
}

fn config(tickets: usize) -> SimConfig {
    SimConfig {
        tickets,
        rate_limits: false,
        ..SimConfig::default()
    }
}

/// The first ticket that is not deleted.
fn live_ticket(sim: &SimHandle) -> u64 {
    let f = sim.facts();
    *f.ticket_ids
        .iter()
        .find(|id| !f.deleted_ticket_ids.contains(id))
        .unwrap()
}

/// A live ticket in the restricted agent's group and one outside it.
fn inside_and_outside(sim: &SimHandle) -> (u64, u64) {
    let f = sim.facts();
    let live = |id: &u64| !f.deleted_ticket_ids.contains(id);
    let inside = *f
        .ticket_ids
        .iter()
        .find(|id| live(id) && *id % 3 != 0)
        .unwrap();
    let outside = *f
        .ticket_ids
        .iter()
        .find(|id| live(id) && *id % 3 == 0)
        .unwrap();
    (inside, outside)
}

fn time_of(v: &Value) -> i64 {
    v.as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second()
}

#[test]
fn a_config_without_the_search_fields_reads_with_their_defaults() {
    let mut v = serde_json::to_value(SimConfig::default()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("search_index_lag_secs");
    o.remove("search_export_limit_per_min");
    let c: SimConfig = serde_json::from_value(v).unwrap();
    assert_eq!(c.search_index_lag_secs, 30);
    assert_eq!(c.search_export_limit_per_min, 100);
    let d = SimConfig::default();
    assert_eq!(
        (d.search_index_lag_secs, d.search_export_limit_per_min),
        (30, 100)
    );
}

#[tokio::test]
async fn the_search_export_sees_a_change_only_once_the_index_lag_has_passed() {
    let sim = SimHandle::start(config(60)).await.unwrap();
    let agent = sim.credentials().agent_email;
    let ticket = live_ticket(&sim);
    assert!(
        search_ids(&sim, &agent, "type:ticket")
            .await
            .contains(&ticket)
    );
    sim.mutate(Mutation::AddComment {
        ticket_id: ticket,
        by_customer: true,
        public: true,
        text: "Still waiting.".into(),
    });
    let new = sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    let new = new.ticket_ids[0];
    let lagging = search_ids(&sim, &agent, "type:ticket").await;
    assert!(
        !lagging.contains(&ticket),
        "a ticket changed just now is not indexed yet"
    );
    assert!(!lagging.contains(&new), "nor is a new one");
    let (status, _, shown) = get_as(&sim, &agent, &format!("/api/v2/tickets/{new}")).await;
    assert_eq!(
        (status, shown["ticket"]["id"].as_u64()),
        (200, Some(new)),
        "only search lags"
    );
    sim.advance_clock(31);
    let indexed = search_ids(&sim, &agent, "type:ticket").await;
    assert!(indexed.contains(&ticket) && indexed.contains(&new));
}

#[tokio::test]
async fn without_an_index_lag_the_search_export_sees_changes_at_once() {
    let sim = SimHandle::start(SimConfig {
        search_index_lag_secs: 0,
        ..config(30)
    })
    .await
    .unwrap();
    let new = sim.mutate(Mutation::NewTicket {
        customer_comment: false,
    });
    let agent = sim.credentials().agent_email;
    let ids = search_ids(&sim, &agent, "type:ticket").await;
    assert!(ids.contains(&new.ticket_ids[0]));
}

#[tokio::test]
async fn created_terms_select_tickets_by_their_creation_time() {
    let sim = SimHandle::start(config(200)).await.unwrap();
    let admin = sim.credentials().admin_email;
    let (_, _, all) = get_as(&sim, &admin, &search_path("type:ticket", None)).await;
    let all = all["results"].as_array().unwrap().clone();
    let mut created: Vec<i64> = all.iter().map(|t| time_of(&t["created_at"])).collect();
    created.sort_unstable();
    let split = created[created.len() / 2];
    let at = jiff::Timestamp::from_second(split).unwrap().to_string();
    let older = search_ids(&sim, &admin, &format!("type:ticket created<{at}")).await;
    let newer = search_ids(&sim, &admin, &format!("created>={at}")).await;
    let until = search_ids(&sim, &admin, &format!("created<={at}")).await;
    let after = search_ids(&sim, &admin, &format!("created>{at}")).await;
    let by_id = |id: &u64| all.iter().find(|t| t["id"] == *id).unwrap();
    assert!(
        older
            .iter()
            .all(|id| time_of(&by_id(id)["created_at"]) < split)
    );
    assert!(
        newer
            .iter()
            .all(|id| time_of(&by_id(id)["created_at"]) >= split)
    );
    assert_eq!(
        older.len() + newer.len(),
        all.len(),
        "< and >= split the tickets"
    );
    assert_eq!(
        until.len() + after.len(),
        all.len(),
        "<= and > split them too"
    );
    assert!(
        until.len() > older.len(),
        "<= holds the ticket created at the split"
    );
}

#[tokio::test]
async fn created_and_updated_terms_combine_and_take_dates() {
    let sim = SimHandle::start(config(200)).await.unwrap();
    let admin = sim.credentials().admin_email;
    let query = "type:ticket created>=2024-01-01 created<2025-01-01 updated>=2024-06-01";
    let (status, _, page) = get_as(&sim, &admin, &search_path(query, None)).await;
    assert_eq!(status, 200, "{page}");
    let results = page["results"].as_array().unwrap();
    assert!(!results.is_empty());
    let (from, to, updated) = (1_704_067_200, 1_735_689_600, 1_717_200_000);
    for t in results {
        let c = time_of(&t["created_at"]);
        assert!((from..to).contains(&c), "{t}");
        assert!(time_of(&t["updated_at"]) >= updated, "{t}");
    }
}

#[tokio::test]
async fn search_terms_the_simulator_does_not_know_are_refused() {
    let sim = SimHandle::start(config(20)).await.unwrap();
    let admin = sim.credentials().admin_email;
    for query in [
        "status<solved",
        "created:2024-01-01",
        "created>yesterday",
        "type:user",
    ] {
        let (status, _, body) = get_as(&sim, &admin, &search_path(query, None)).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "InvalidValue", "{query}");
    }
}

#[tokio::test]
async fn the_search_export_has_a_budget_of_its_own_without_a_header() {
    let sim = SimHandle::start(SimConfig {
        tickets: 20,
        search_export_limit_per_min: 2,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let agent = sim.credentials().agent_email;
    let path = search_path("type:ticket", None);
    let (s1, _, _) = get_as(&sim, &agent, &path).await;
    let (s2, h2, _) = get_as(&sim, &agent, &path).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(
        h2.get("x-rate-limit-remaining").unwrap(),
        "698",
        "search requests count against the account budget too"
    );
    let (s3, h3, _) = get_as(&sim, &agent, &path).await;
    assert_eq!(s3, 429);
    let wait: u64 = h3
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(
        h3.get("x-rate-limit").unwrap(),
        "700",
        "the account headers stay"
    );
    for h in [&h2, &h3] {
        assert!(
            h.keys()
                .all(|k| !k.as_str().starts_with("zendesk-ratelimit")),
            "no header of its own: {h:?}"
        );
    }
    let (s4, _, _) = get_as(&sim, &agent, "/api/v2/ticket_fields").await;
    assert_eq!(s4, 200, "the account budget is not spent");
    assert_eq!(sim.stats().responses_429, 1);
}

#[tokio::test]
async fn tickets_are_in_two_groups_by_their_id_new_ones_too() {
    let sim = SimHandle::start(config(60)).await.unwrap();
    let admin = sim.credentials().admin_email;
    let new = sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    let f = sim.facts();
    let mut ids = f.ticket_ids.clone();
    ids.retain(|id| !f.deleted_ticket_ids.contains(id));
    ids.truncate(30);
    ids.push(new.ticket_ids[0]);
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    let path = format!("/api/v2/tickets/show_many?ids={}", list.join(","));
    let (_, _, many) = get_as(&sim, &admin, &path).await;
    let tickets = many["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), ids.len());
    for t in tickets {
        let id = t["id"].as_u64().unwrap();
        let group = if id % 3 == 0 { 360000002 } else { 360000001 };
        assert_eq!(t["group_id"], group, "ticket {id}");
    }
}

#[tokio::test]
async fn users_me_says_which_agent_is_restricted_to_its_groups() {
    let sim = SimHandle::start(config(20)).await.unwrap();
    let c = sim.credentials();
    assert_eq!(c.restricted_agent_email, "restricted@acme.example");
    let (_, _, me) = get_as(&sim, &c.restricted_agent_email, "/api/v2/users/me").await;
    let me = &me["user"];
    assert_eq!(me["role"], "agent");
    assert!(me["role_type"].is_null(), "{me}");
    assert_eq!(me["restricted_agent"], true);
    assert_eq!(me["ticket_restriction"], "groups");
    for email in [&c.agent_email, &c.admin_email, &c.end_user_email] {
        let (_, _, other) = get_as(&sim, email, "/api/v2/users/me").await;
        assert_eq!(other["user"]["restricted_agent"], false, "{email}");
        assert!(other["user"]["ticket_restriction"].is_null(), "{email}");
    }
}

#[tokio::test]
async fn a_restricted_agent_searches_only_the_tickets_of_its_groups() {
    let sim = SimHandle::start(config(300)).await.unwrap();
    let c = sim.credentials();
    let f = sim.facts();
    let restricted: BTreeSet<u64> = search_ids(&sim, &c.restricted_agent_email, "type:ticket")
        .await
        .into_iter()
        .collect();
    let visible: BTreeSet<u64> = f.restricted_visible_ticket_ids.iter().copied().collect();
    assert_eq!(restricted, visible);
    let everyone: BTreeSet<u64> = search_ids(&sim, &c.agent_email, "type:ticket")
        .await
        .into_iter()
        .collect();
    let live: BTreeSet<u64> = f
        .ticket_ids
        .iter()
        .filter(|id| !f.deleted_ticket_ids.contains(id))
        .copied()
        .collect();
    assert_eq!(
        everyone, live,
        "an unrestricted agent sees every live ticket"
    );
    assert!(restricted.len() < everyone.len());
}

#[tokio::test]
async fn the_facts_list_the_live_tickets_of_the_restricted_agents_group() {
    let sim = SimHandle::start(config(200)).await.unwrap();
    let f = sim.facts();
    let expected: Vec<u64> = f
        .ticket_ids
        .iter()
        .filter(|id| *id % 3 != 0 && !f.deleted_ticket_ids.contains(id))
        .copied()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(f.restricted_visible_ticket_ids, expected);
}

#[tokio::test]
async fn a_restricted_agent_is_forbidden_the_tickets_outside_its_groups() {
    let sim = SimHandle::start(config(200)).await.unwrap();
    let who = sim.credentials().restricted_agent_email;
    let (inside, outside) = inside_and_outside(&sim);
    for sub in ["", "/comments", "/audits", "/conversation_log"] {
        let (status, _, body) =
            get_as(&sim, &who, &format!("/api/v2/tickets/{outside}{sub}")).await;
        assert_eq!(status, 403, "{sub}: {body}");
        assert_eq!(body["error"], "Forbidden", "{sub}");
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .starts_with("You do not have access to this page"),
            "{sub}"
        );
        let (status, _, _) =
            get_as(&sim, &who, &format!("/api/v2/tickets/{inside}{sub}.json")).await;
        assert_ne!(status, 403, "{sub} of a ticket of its group");
    }
}

#[tokio::test]
async fn a_deleted_ticket_outside_the_restricted_agents_groups_stays_not_found() {
    let sim = SimHandle::start(config(200)).await.unwrap();
    let who = sim.credentials().restricted_agent_email;
    let (_, outside) = inside_and_outside(&sim);
    sim.mutate(Mutation::DeleteTicket { ticket_id: outside });
    let (status, _, _) = get_as(&sim, &who, &format!("/api/v2/tickets/{outside}/comments")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn show_many_leaves_out_deleted_tickets_and_those_the_caller_may_not_see() {
    let sim = SimHandle::start(config(200)).await.unwrap();
    let c = sim.credentials();
    let (inside, outside) = inside_and_outside(&sim);
    let deleted = sim.facts().deleted_ticket_ids[0];
    let path = format!("/api/v2/tickets/show_many?ids={inside},{outside},{deleted}");
    let ids = |v: &Value| -> Vec<u64> {
        v["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect()
    };
    let (_, _, restricted) = get_as(&sim, &c.restricted_agent_email, &path).await;
    assert_eq!(ids(&restricted), vec![inside]);
    let (_, _, agent) = get_as(&sim, &c.agent_email, &path).await;
    assert_eq!(ids(&agent), vec![inside, outside]);
}

#[tokio::test]
async fn a_restricted_agent_is_refused_the_incremental_exports() {
    let sim = SimHandle::start(config(20)).await.unwrap();
    let who = sim.credentials().restricted_agent_email;
    let (status, _, body) = get_as(
        &sim,
        &who,
        "/api/v2/incremental/tickets/cursor?start_time=0",
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (403, Some("Forbidden")));
}

#[tokio::test]
async fn the_oracle_of_a_restricted_agent_holds_only_its_groups_documents() {
    let sim = SimHandle::start(config(300)).await.unwrap();
    let c = sim.credentials();
    let all = sim.expected_documents("acme");
    let visible = sim.facts().restricted_visible_ticket_ids;
    let mine = sim.expected_documents_visible_to("acme", &c.restricted_agent_email);
    let ids = |docs: &[Value]| -> Vec<u64> {
        docs.iter()
            .map(|d| d["ticket_id"].as_u64().unwrap())
            .collect()
    };
    let theirs: Vec<u64> = ids(&all)
        .into_iter()
        .filter(|id| visible.contains(id))
        .collect();
    assert!(!mine.is_empty() && mine.len() < all.len());
    assert_eq!(ids(&mine), theirs);
    assert_eq!(
        sim.expected_documents_visible_to("acme", &c.admin_email),
        all
    );
    assert_eq!(
        ids(&sim.expected_documents_visible_to("acme", &c.agent_email)),
        ids(&all)
    );
    assert!(
        sim.expected_documents_visible_to("acme", &c.light_agent_email)
            .is_empty()
    );
    assert!(
        sim.expected_documents_visible_to("acme", "nobody@acme.example")
            .is_empty()
    );
}

#[tokio::test]
async fn the_expected_control_answers_for_a_user_given_as() {
    let sim = SimHandle::start(config(100)).await.unwrap();
    let who = sim.credentials().restricted_agent_email;
    let url = format!("{}/sim/expected?connection=x&as={who}", sim.base_url());
    let served: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let expected = Value::Array(sim.expected_documents_visible_to("x", &who));
    assert_eq!(served, expected);
    let url = format!("{}/sim/expected?connection=x", sim.base_url());
    let everything: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(everything, Value::Array(sim.expected_documents("x")));
}

#[tokio::test]
async fn an_agent_promoted_to_admin_reads_the_admin_endpoints_at_once() {
    let sim = SimHandle::start(config(20)).await.unwrap();
    let agent = sim.credentials().agent_email;
    let export = "/api/v2/incremental/tickets/cursor?start_time=0";
    assert_eq!(get_as(&sim, &agent, export).await.0, 403);
    sim.mutate(Mutation::SetRole {
        email: agent.clone(),
        role: "admin".into(),
    });
    assert_eq!(get_as(&sim, &agent, export).await.0, 200);
    let (_, _, me) = get_as(&sim, &agent, "/api/v2/users/me").await;
    assert_eq!(
        (
            me["user"]["role"].as_str(),
            me["user"]["role_type"].as_i64()
        ),
        (Some("admin"), Some(4))
    );
}

#[tokio::test]
async fn a_demoted_admin_loses_the_admin_endpoints_at_once() {
    let sim = SimHandle::start(config(20)).await.unwrap();
    let admin = sim.credentials().admin_email;
    let export = "/api/v2/incremental/tickets/cursor?start_time=0";
    assert_eq!(get_as(&sim, &admin, export).await.0, 200);
    sim.mutate(Mutation::SetRole {
        email: admin.clone(),
        role: "agent".into(),
    });
    assert_eq!(get_as(&sim, &admin, export).await.0, 403);
    let (_, _, me) = get_as(&sim, &admin, "/api/v2/users/me").await;
    assert_eq!(
        (
            me["user"]["role"].as_str(),
            me["user"]["role_type"].as_i64()
        ),
        (Some("agent"), Some(0))
    );
    assert_eq!(
        get_as(&sim, &admin, "/api/v2/ticket_fields").await.0,
        200,
        "still an agent"
    );
}

#[tokio::test]
async fn a_restricted_agent_made_admin_sees_every_ticket_until_made_agent_again() {
    let sim = SimHandle::start(config(100)).await.unwrap();
    let who = sim.credentials().restricted_agent_email;
    let (_, outside) = inside_and_outside(&sim);
    let ticket = format!("/api/v2/tickets/{outside}");
    let set = |role: &str| Mutation::SetRole {
        email: who.clone(),
        role: role.into(),
    };
    sim.mutate(set("admin"));
    assert_eq!(get_as(&sim, &who, &ticket).await.0, 200);
    let (_, _, me) = get_as(&sim, &who, "/api/v2/users/me").await;
    assert_eq!(me["user"]["restricted_agent"], false);
    assert_eq!(
        sim.expected_documents_visible_to("acme", &who),
        sim.expected_documents("acme")
    );
    sim.mutate(set("agent"));
    assert_eq!(get_as(&sim, &who, &ticket).await.0, 403);
    let (_, _, me) = get_as(&sim, &who, "/api/v2/users/me").await;
    assert_eq!(me["user"]["ticket_restriction"], "groups");
}

#[tokio::test]
async fn an_unknown_role_changes_nothing() {
    let sim = SimHandle::start(config(20)).await.unwrap();
    let agent = sim.credentials().agent_email;
    sim.mutate(Mutation::SetRole {
        email: agent.clone(),
        role: "owner".into(),
    });
    let (_, _, me) = get_as(&sim, &agent, "/api/v2/users/me").await;
    assert_eq!(
        (
            me["user"]["role"].as_str(),
            me["user"]["role_type"].as_i64()
        ),
        (Some("agent"), Some(0))
    );
}

#[tokio::test]
async fn the_oauth_tokens_of_a_demoted_admin_lose_the_admin_endpoints() {
    let sim = SimHandle::start(config(20)).await.unwrap();
    let c = sim.credentials();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/oauth/tokens", sim.base_url()))
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": c.oauth_client_id, "client_secret": c.oauth_client_secret, "scope": "read"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let export = format!(
        "{}/api/v2/incremental/tickets/cursor?start_time=0",
        sim.base_url()
    );
    let status = |access: String| {
        let request = http.get(&export).bearer_auth(access);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let access = token["access_token"].as_str().unwrap().to_string();
    assert_eq!(status(access.clone()).await, 200);
    sim.mutate(Mutation::SetRole {
        email: c.admin_email,
        role: "agent".into(),
    });
    assert_eq!(status(access).await, 403);
}

#[tokio::test]
async fn an_agents_ratings_name_a_reason_only_when_the_ticket_does() {
    let sim = SimHandle::start(config(300)).await.unwrap();
    let c = sim.credentials();
    let all = sim.expected_documents("acme");
    let agents = sim.expected_documents_visible_to("acme", &c.agent_email);
    let reason = |d: &Value| d["properties"]["satisfaction"]["reason"].clone();
    let named_by_list = all
        .iter()
        .zip(&agents)
        .filter(|(a, g)| reason(a) != reason(g))
        .inspect(|(_, g)| assert!(reason(g).is_null(), "an agent names no reason itself"))
        .count();
    assert!(
        named_by_list > 0,
        "some ratings name their reason by id only"
    );
    for (a, g) in all.iter().zip(&agents) {
        let mut a = a.clone();
        let mut g = g.clone();
        a["properties"]["satisfaction"]["reason"] = Value::Null;
        g["properties"]["satisfaction"]["reason"] = Value::Null;
        assert_eq!(a, g, "only the reasons differ");
    }
}
