//! The client against the project's Zendesk simulator on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use zdsync_zendesk::types::{OAuthToken, Role};
use zdsync_zendesk::{Client, ClientConfig, Credentials, Error, TicketCursor, TokenSink};
use zendesk_sim::{Fault, FaultKind, SimConfig, SimHandle};

fn small(tickets: usize) -> SimConfig {
    SimConfig {
        tickets,
        rate_limits: false,
        huge_ticket: false,
        ..SimConfig::default()
    }
}

fn client(sim: &SimHandle, creds: Credentials) -> Client {
    let mut cfg = ClientConfig::new(url::Url::parse(&sim.base_url()).unwrap(), creds);
    cfg.max_retries = 3;
    cfg.max_backoff = Duration::from_millis(50);
    Client::new(cfg).unwrap()
}

fn token(sim: &SimHandle, email: &str) -> Credentials {
    Credentials::ApiToken {
        email: email.into(),
        token: sim.credentials().api_token,
    }
}

#[tokio::test]
async fn token_auth_roles_and_refusals() {
    let sim = SimHandle::start(small(20)).await.unwrap();
    let c = sim.credentials();
    let me = client(&sim, token(&sim, &c.admin_email))
        .me()
        .await
        .unwrap();
    assert_eq!(me.role, Role::Admin);
    assert!(me.id.is_some());

    let light = client(&sim, token(&sim, &c.light_agent_email));
    assert_eq!(light.me().await.unwrap().role_type, Some(1));
    assert!(
        matches!(light.ticket_fields().await, Err(Error::Forbidden { .. })),
        "light agents are refused"
    );

    let agent = client(&sim, token(&sim, &c.agent_email));
    assert!(
        agent.ticket_fields().await.is_ok(),
        "agents read ticket fields"
    );
    assert!(
        matches!(
            agent.tickets_page(&TicketCursor::Start(0)).await,
            Err(Error::Forbidden { .. })
        ),
        "exports are admin-only"
    );

    let wrong = client(
        &sim,
        Credentials::ApiToken {
            email: c.admin_email.clone(),
            token: "nope".into(),
        },
    );
    match wrong.me().await {
        Err(Error::Unauthorized { message, .. }) => {
            assert!(message.contains("authenticate"), "{message}")
        }
        other => panic!("expected 401, got {other:?}"),
    }
    // No credentials at all: /users/me answers anonymously.
    let http = reqwest::Client::new();
    let v: serde_json::Value = http
        .get(format!("{}/api/v2/users/me", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["user"]["id"].is_null());
}

struct Sink(Mutex<Vec<OAuthToken>>);

#[async_trait::async_trait]
impl TokenSink for Sink {
    async fn token_refreshed(&self, t: &OAuthToken) -> Result<(), String> {
        self.0.lock().unwrap().push(t.clone());
        Ok(())
    }
}

#[tokio::test]
async fn oauth_client_credentials_and_refresh() {
    let sim = SimHandle::start(small(20)).await.unwrap();
    let c = sim.credentials();
    let cc = client(
        &sim,
        Credentials::OAuthClient {
            client_id: c.oauth_client_id.clone(),
            client_secret: c.oauth_client_secret.clone(),
        },
    );
    assert_eq!(cc.me().await.unwrap().role, Role::Admin);
    sim.expire_tokens();
    assert_eq!(
        cc.me().await.unwrap().role,
        Role::Admin,
        "a new token is fetched after expiry"
    );

    let bad = client(
        &sim,
        Credentials::OAuthClient {
            client_id: c.oauth_client_id.clone(),
            client_secret: "wrong".into(),
        },
    );
    assert!(matches!(
        bad.me().await,
        Err(Error::OAuth { status: 401, .. })
    ));

    // A given token with a refresh token: refreshed after expiry, the new
    // pair handed to the sink.
    let http = reqwest::Client::new();
    let t: OAuthToken = http
        .post(format!("{}/oauth/tokens", sim.base_url()))
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": c.oauth_client_id, "client_secret": c.oauth_client_secret, "scope": "read"}))
        .send().await.unwrap().json().await.unwrap();
    let sink = Arc::new(Sink(Mutex::new(vec![])));
    let mut cfg = ClientConfig::new(
        url::Url::parse(&sim.base_url()).unwrap(),
        Credentials::OAuthToken {
            access_token: t.access_token.clone(),
            refresh_token: t.refresh_token.clone(),
            client_id: Some(c.oauth_client_id.clone()),
            client_secret: Some(c.oauth_client_secret.clone()),
        },
    );
    cfg.token_sink = Some(sink.clone());
    let given = Client::new(cfg).unwrap();
    assert!(given.me().await.is_ok());
    sim.expire_tokens();
    assert!(given.me().await.is_ok(), "refreshed");
    assert_eq!(
        sink.0.lock().unwrap().len(),
        1,
        "the refreshed pair was stored"
    );

    let stale = client(
        &sim,
        Credentials::OAuthToken {
            access_token: "expired".into(),
            refresh_token: None,
            client_id: None,
            client_secret: None,
        },
    );
    match stale.me().await {
        Err(Error::Unauthorized { message, .. }) => {
            assert!(message.contains("expired or was revoked"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

struct BrokenSink;

#[async_trait::async_trait]
impl TokenSink for BrokenSink {
    async fn token_refreshed(&self, _: &OAuthToken) -> Result<(), String> {
        Err("the secret store refused the write".into())
    }
}

#[tokio::test]
async fn a_refreshed_pair_that_cannot_be_saved_stops_the_run_saying_so() {
    let sim = SimHandle::start(small(20)).await.unwrap();
    let c = sim.credentials();
    let t: OAuthToken = reqwest::Client::new()
        .post(format!("{}/oauth/tokens", sim.base_url()))
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": c.oauth_client_id, "client_secret": c.oauth_client_secret, "scope": "read"}))
        .send().await.unwrap().json().await.unwrap();
    let mut cfg = ClientConfig::new(
        url::Url::parse(&sim.base_url()).unwrap(),
        Credentials::OAuthToken {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            client_id: Some(c.oauth_client_id.clone()),
            client_secret: Some(c.oauth_client_secret.clone()),
        },
    );
    cfg.token_sink = Some(Arc::new(BrokenSink));
    let given = Client::new(cfg).unwrap();
    sim.expire_tokens();
    let e = given.me().await.unwrap_err();
    assert!(matches!(e, Error::TokenNotSaved { .. }), "{e:?}");
    let said = e.to_string();
    assert!(said.contains("could not be saved"), "{said}");
    assert!(
        said.contains("the secret store refused the write"),
        "{said}"
    );
    assert!(said.contains("zdsync connect"), "{said}");
    assert!(!said.contains("client id"), "not a client problem: {said}");
}

#[tokio::test]
async fn both_incremental_streams_walk_to_their_end() {
    let sim = SimHandle::start(small(600)).await.unwrap();
    let c = client(&sim, token(&sim, &sim.credentials().admin_email));
    let mut at = TicketCursor::Start(0);
    let mut tickets = std::collections::BTreeSet::new();
    let mut users = 0;
    loop {
        let p = c.tickets_page(&at).await.unwrap();
        users += p.users.len();
        tickets.extend(p.tickets.iter().map(|t| t.id));
        assert!(p.tickets.iter().all(|t| t.comment_count.is_some()));
        if p.end_of_stream {
            break;
        }
        at = TicketCursor::After(p.after_cursor.unwrap());
    }
    assert_eq!(tickets.len(), 600);
    assert!(users > 0, "users are sideloaded");

    let mut start = 0;
    let mut comments = std::collections::HashSet::new();
    let mut seen_twice = 0;
    let mut pages = 0;
    loop {
        let p = c.ticket_events_page(start).await.unwrap();
        pages += 1;
        for cm in &p.comments {
            assert!(
                cm.ticket_id.is_some() && cm.created_at.is_some(),
                "filled from the parent event"
            );
            if !comments.insert(cm.id) {
                seen_twice += 1;
            }
        }
        if p.end_of_stream {
            break;
        }
        assert!(p.next_start_time > start, "paging always advances");
        start = p.next_start_time;
    }
    assert!(pages >= 2);
    assert!(seen_twice > 0, "time-based pages overlap at the boundary");
    let all = sim.facts();
    let per_ticket = c.ticket_comments(all.ticket_ids[1]).await.unwrap();
    assert!(
        per_ticket.iter().all(|c| comments.contains(&c.id)),
        "no comment is lost by the bulk stream"
    );
    // Some comments come without `plain_body` (as on real accounts); each
    // still carries a text to read.
    assert!(
        per_ticket
            .iter()
            .all(|c| c.plain_body.is_some() || c.html_body.is_some())
    );
    assert!(matches!(
        c.ticket_comments(all.deleted_ticket_ids[0]).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn transient_failures_are_retried_and_garbage_is_reported() {
    let sim = SimHandle::start(small(50)).await.unwrap();
    let c = client(&sim, token(&sim, &sim.credentials().admin_email));
    sim.inject(Fault {
        path_prefix: Some("/api/v2/ticket_fields".into()),
        kind: FaultKind::TooManyRequests { retry_after: None },
        count: 1,
    });
    sim.inject(Fault {
        path_prefix: Some("/api/v2/ticket_fields".into()),
        kind: FaultKind::TooManyRequests {
            retry_after: Some(1),
        },
        count: 1,
    });
    sim.inject(Fault {
        path_prefix: Some("/api/v2/ticket_fields".into()),
        kind: FaultKind::Status {
            status: 500,
            retry_after: None,
        },
        count: 1,
    });
    assert!(!c.ticket_fields().await.unwrap().is_empty());
    let s = c.stats();
    assert_eq!((s.retries, s.responses_429, s.responses_5xx), (3, 2, 1));

    sim.inject(Fault {
        path_prefix: Some("/api/v2/ticket_fields".into()),
        kind: FaultKind::Html,
        count: 10,
    });
    match c.ticket_fields().await {
        Err(e @ Error::Decode { .. }) => {
            let said = e.to_string();
            assert!(said.contains("an HTML or XML page"), "{said}");
            assert!(!said.contains("DOCTYPE"), "no part of the body: {said}");
        }
        other => panic!("{other:?}"),
    }
    sim.inject(Fault {
        path_prefix: Some("/api/v2/users/me".into()),
        kind: FaultKind::Status {
            status: 503,
            retry_after: Some(0),
        },
        count: 10,
    });
    assert!(matches!(
        c.me().await,
        Err(Error::Exhausted {
            status: 503,
            attempts: 4,
            ..
        })
    ));
}

#[tokio::test]
async fn rejected_cursors_and_too_recent_start_times_are_typed() {
    let sim = SimHandle::start(small(20)).await.unwrap();
    let c = client(&sim, token(&sim, &sim.credentials().admin_email));
    match c.tickets_page(&TicketCursor::After("garbage".into())).await {
        Err(Error::Rejected {
            status: 400, code, ..
        }) => assert_eq!(code.as_deref(), Some("InvalidPaginationParameter")),
        other => panic!("{other:?}"),
    }
    match c.ticket_events_page(i64::MAX / 2).await {
        Err(Error::Rejected { code, .. }) => {
            assert_eq!(code.as_deref(), Some("StartTimeTooRecent"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_tight_export_budget_is_paced_without_a_single_429() {
    let sim = SimHandle::start(SimConfig {
        tickets: 30,
        huge_ticket: false,
        export_limit_per_min: 2,
        rate_window_secs: 2,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let c = client(&sim, token(&sim, &sim.credentials().admin_email));
    for _ in 0..6 {
        c.ticket_events_page(0).await.unwrap();
    }
    let s = c.stats();
    assert_eq!(s.responses_429, 0, "{s:?}");
    assert_eq!(sim.stats().responses_429, 0);
    assert!(s.slept_ms >= 3_000, "two windows were waited for: {s:?}");
}

#[tokio::test]
async fn page_streams_walk_both_exports() {
    use futures::TryStreamExt;
    let sim = SimHandle::start(small(1500)).await.unwrap();
    let c = client(&sim, token(&sim, &sim.credentials().admin_email));
    let pages: Vec<_> = c
        .ticket_pages(TicketCursor::Start(0))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(|p| p.tickets.len()).sum::<usize>(), 1500);
    assert!(pages.len() >= 2);
    assert!(pages.last().unwrap().end_of_stream);
    let events: Vec<_> = c.event_pages(0).try_collect().await.unwrap();
    assert!(events.len() >= 2);
    assert!(
        events
            .windows(2)
            .all(|w| w[1].next_start_time >= w[0].next_start_time)
    );
}

/// Every ticket of a window, walked page by page through the search export.
async fn search_all(c: &Client, query: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = c
            .search_tickets_page(query, after.as_deref())
            .await
            .expect("search page");
        ids.extend(page.tickets.iter().map(|t| t.id));
        match page.after_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn an_agent_reads_tickets_by_update_windows_through_the_search_export() {
    let sim = SimHandle::start(small(2_500)).await.unwrap();
    let agent = client(&sim, token(&sim, &sim.credentials().agent_email));
    assert!(
        matches!(
            agent.tickets_page(&TicketCursor::Start(0)).await,
            Err(Error::Forbidden { .. })
        ),
        "the incremental exports are admin-only"
    );
    let all = search_all(&agent, "type:ticket updated>=2000-01-01").await;
    assert!(all.len() > 1_000, "more than one page: {}", all.len());
    let split = "2025-06-01T00:00:00Z";
    let mut halves = search_all(&agent, &format!("type:ticket updated<{split}")).await;
    let newer = search_all(&agent, &format!("type:ticket updated>={split}")).await;
    assert!(
        !halves.is_empty() && !newer.is_empty(),
        "both windows hold tickets"
    );
    halves.extend(newer);
    halves.sort_unstable();
    assert_eq!(halves, all, "two adjacent windows hold every ticket once");
    let deleted = sim.facts().deleted_ticket_ids;
    assert!(
        all.iter().all(|id| !deleted.contains(id)),
        "deleted tickets are never returned"
    );
}

fn events_requests(sim: &SimHandle) -> u64 {
    sim.stats()
        .by_endpoint
        .get("incremental/ticket_events")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn an_events_page_kept_for_the_next_reader_is_read_once() {
    let sim = SimHandle::start(small(20)).await.unwrap();
    let kept = Arc::new(zdsync_zendesk::KeptPages::default());
    let reader = |sim: &SimHandle| {
        let mut cfg = ClientConfig::new(
            url::Url::parse(&sim.base_url()).unwrap(),
            token(sim, &sim.credentials().admin_email),
        );
        cfg.kept = Some(kept.keeper("acme"));
        Client::new(cfg).unwrap()
    };
    let planned = reader(&sim).ticket_events_page_kept(0).await.unwrap();
    // Another client of the same connection (the next run) asks for it.
    let next = reader(&sim).ticket_events_page(0).await.unwrap();
    assert_eq!(events_requests(&sim), 1, "served from the kept page");
    assert_eq!(next.events.len(), planned.events.len());
    assert_eq!(next.next_start_time, planned.next_start_time);
    reader(&sim).ticket_events_page(0).await.unwrap();
    assert_eq!(events_requests(&sim), 2, "a kept page is served once");
}
