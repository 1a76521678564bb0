//! Agent connections (the search-export path) against the project's
//! Zendesk simulator, which refuses agents the admin-only endpoints, serves
//! the search export with its query language and an index lag, and knows a
//! restricted agent.

mod common;

use common::*;
use zdsync_engine::access::Path;
use zdsync_engine::refresh::{RefreshReport, refresh_connection};
use zdsync_engine::sync::{SyncOptions, SyncReport, sync_connection};
use zendesk_sim::{Fault, FaultKind, Mutation};

async fn sync(env: &Env, name: &str) -> SyncReport {
    let r = sync_connection(&env.engine, name, &SyncOptions::default())
        .await
        .expect("sync");
    assert!(r.complete, "{r:?}");
    r
}

async fn refresh(env: &Env, name: &str) -> RefreshReport {
    let r = refresh_connection(&env.engine, name, &SyncOptions::default())
        .await
        .expect("refresh");
    assert!(r.complete, "{r:?}");
    r
}

/// The documents an agent should hold.
async fn assert_agent_holds(env: &Env, name: &str) {
    let agent = env.sim.credentials().agent_email;
    assert_matches_oracle_as(env, name, &agent).await;
}

async fn agent_env(tickets: usize) -> Env {
    let env = start(small(tickets)).await;
    let agent = env.sim.credentials().agent_email;
    connect_as(&env, "acme", &agent).await;
    env
}

/// A round of changes: comments, a status, a rating, a new ticket and a
/// deleted one. Returns the deleted ticket's id.
fn changes(env: &Env) -> u64 {
    let facts = env.sim.facts();
    let live: Vec<u64> = facts
        .ticket_ids
        .iter()
        .copied()
        .filter(|id| !facts.deleted_ticket_ids.contains(id))
        .collect();
    env.sim.mutate(Mutation::AddComment {
        ticket_id: live[3],
        by_customer: true,
        public: true,
        text: "Any news on this?".into(),
    });
    env.sim.mutate(Mutation::SetStatus {
        ticket_id: live[5],
        status: "solved".into(),
    });
    env.sim.mutate(Mutation::AddCsat {
        ticket_id: live[7],
        score: "bad".into(),
        comment: Some("Too slow".into()),
        reason_id: None,
    });
    env.sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    let deleted = live[9];
    env.sim
        .mutate(Mutation::DeleteTicket { ticket_id: deleted });
    deleted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_connects_with_a_notice_of_what_differs() {
    let env = start(small(20)).await;
    let agent = env.sim.credentials().agent_email;
    let out = connect_as(&env, "acme", &agent).await;
    assert_eq!(out.role, "agent");
    assert_eq!(out.connection.restriction, None);
    let notice = out.notices.join("\n");
    assert!(notice.contains("search export"), "{notice}");
    assert!(notice.contains("admin"), "{notice}");
    let st = zdsync_engine::status::status(&env.engine, Some("acme"))
        .await
        .expect("status");
    assert_eq!(st[0].path, Path::Search);
    assert!(st[0].access.contains("search export"), "{}", st[0].access);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_backfill_equals_the_oracle_and_never_touches_admin_only_endpoints() {
    let env = agent_env(300).await;
    let r = sync(&env, "acme").await;
    assert_eq!(r.path, Some(Path::Search));
    assert_agent_holds(&env, "acme").await;
    let stats = env.sim.stats();
    let refused: u64 = stats
        .by_endpoint
        .iter()
        .filter(|(k, _)| k.contains("incremental") || k.contains("satisfaction_ratings"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(refused, 0, "{:?}", stats.by_endpoint);
    assert_eq!(r.requests.responses_429, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_agent_sync_reads_no_comment_and_writes_nothing() {
    let env = agent_env(200).await;
    sync(&env, "acme").await;
    env.sim.advance_clock(3_600);
    let idle = sync(&env, "acme").await;
    assert_eq!(idle.counters.comment_reads, 0, "{idle:?}");
    assert_eq!(idle.counters.documents_written, 0);
    // The role, the fields and one search page; the cursor moves on.
    assert_eq!(idle.requests.total, 3, "{:?}", idle.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_changes_an_agent_and_an_admin_connection_hold_the_same_documents() {
    let env = start(small(300)).await;
    connect_admin(&env, "admin").await;
    let agent = env.sim.credentials().agent_email;
    connect_as(&env, "agent", &agent).await;
    sync(&env, "admin").await;
    sync(&env, "agent").await;
    let deleted = changes(&env);
    // Past the exports' minute and the search index's lag.
    env.sim.advance_clock(120);
    sync(&env, "admin").await;
    let r = sync(&env, "agent").await;
    assert!(r.counters.comment_reads >= 4, "{r:?}");
    assert!(
        export(&env.engine, "agent")
            .await
            .iter()
            .any(|d| d["metadata"]["ticket_id"] == deleted),
        "search shows no deletion: the document stays until the daily check"
    );
    let daily = refresh(&env, "agent").await;
    assert_eq!(daily.tickets_deleted, 1, "{daily:?}");
    refresh(&env, "admin").await;
    assert_matches_oracle(&env, "admin").await;
    assert_agent_holds(&env, "agent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_index_has_not_shown_yet_is_read_by_the_next_sync() {
    let env = agent_env(100).await;
    sync(&env, "acme").await;
    let t = env.sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    let id = t.ticket_ids[0];
    env.sim.advance_clock(5); // inside the index's lag
    sync(&env, "acme").await;
    let has = |docs: &[serde_json::Value]| docs.iter().any(|d| d["metadata"]["ticket_id"] == id);
    assert!(!has(&export(&env.engine, "acme").await), "not indexed yet");
    env.sim.advance_clock(600);
    sync(&env, "acme").await;
    assert!(
        has(&export(&env.engine, "acme").await),
        "the overlap reads it"
    );
    assert_agent_holds(&env, "acme").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tickets_changed_in_one_second_are_all_read() {
    let env = agent_env(50).await;
    sync(&env, "acme").await;
    for _ in 0..40 {
        env.sim.mutate(Mutation::NewTicket {
            customer_comment: true,
        });
    }
    env.sim.advance_clock(60);
    let r = sync(&env, "acme").await;
    assert_eq!(r.counters.documents_written, 40, "{r:?}");
    assert_agent_holds(&env, "acme").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_whose_cursor_expired_resumes_by_creation_time() {
    let env = agent_env(1_500).await;
    let first = sync_connection(
        &env.engine,
        "acme",
        &SyncOptions {
            max_pages: Some(1),
            ..Default::default()
        },
    )
    .await
    .expect("first page");
    assert!(!first.complete);
    let read_once = first.counters.comment_reads;
    env.sim.inject(Fault {
        path_prefix: Some("/api/v2/search/export".into()),
        kind: FaultKind::Rejected {
            code: "InvalidPaginationParameter".into(),
        },
        count: 1,
    });
    let rest = sync(&env, "acme").await;
    assert_agent_holds(&env, "acme").await;
    // Only the tickets of the second reached are read again, not the page.
    assert!(
        rest.counters.comment_reads < 1_500 - read_once + 20,
        "read {} again after {read_once}",
        rest.counters.comment_reads
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_refresh_of_an_agent_updates_customers_by_show_many() {
    let env = agent_env(150).await;
    sync(&env, "acme").await;
    let uid = env.sim.expected_documents("acme")[0]["user"]["id"]
        .as_u64()
        .expect("a customer");
    env.sim.mutate(Mutation::RenameUser {
        user_id: uid,
        name: "Renamed Customer".into(),
    });
    let r = refresh(&env, "acme").await;
    assert_eq!(r.users_updated, 1, "{r:?}");
    assert!(r.documents_written >= 1, "{r:?}");
    assert_agent_holds(&env, "acme").await;
    let stats = env.sim.stats();
    assert!(
        !stats.by_endpoint.keys().any(|k| k.contains("incremental")),
        "{:?}",
        stats.by_endpoint
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_promoted_to_admin_moves_to_the_exports_and_back_when_demoted() {
    let env = agent_env(200).await;
    let agent = env.sim.credentials().agent_email;
    sync(&env, "acme").await;
    env.sim.mutate(Mutation::SetRole {
        email: agent.clone(),
        role: "admin".into(),
    });
    changes(&env);
    env.sim.advance_clock(120);
    let promoted = sync(&env, "acme").await;
    assert_eq!(promoted.path, Some(Path::Exports), "{promoted:?}");
    let conn = env.engine.connection("acme").await.expect("connection");
    assert_eq!(conn.role.as_deref(), Some("admin"));
    // The exports started where the search walk had reached: no backfill.
    assert!(promoted.ticket_pages <= 2, "{promoted:?}");
    refresh(&env, "acme").await;
    assert_matches_oracle(&env, "acme").await;

    env.sim.mutate(Mutation::SetRole {
        email: agent,
        role: "agent".into(),
    });
    env.sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    env.sim.advance_clock(120);
    let demoted = sync(&env, "acme").await;
    assert_eq!(demoted.path, Some(Path::Search), "{demoted:?}");
    assert!(
        demoted.counters.comment_reads < 20,
        "the search walk starts where the exports had reached: {demoted:?}"
    );
    // Reason names read while an admin stay until their tickets change.
    let unnamed = |docs: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        docs.into_iter()
            .map(|mut d| {
                if d["properties"]["satisfaction"].is_object() {
                    d["properties"]["satisfaction"]["reason"] = serde_json::Value::Null;
                }
                d
            })
            .collect()
    };
    let want = env
        .sim
        .expected_documents_visible_to("acme", &env.sim.credentials().agent_email);
    assert!(unnamed(export(&env.engine, "acme").await) == unnamed(want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_agent_imports_what_it_may_see_and_status_says_so() {
    let env = start(small(300)).await;
    let restricted = env.sim.credentials().restricted_agent_email;
    let out = connect_as(&env, "acme", &restricted).await;
    assert_eq!(out.connection.restriction.as_deref(), Some("groups"));
    assert!(
        out.notices.join(" ").contains("restricted"),
        "{:?}",
        out.notices
    );
    sync(&env, "acme").await;
    let got = export(&env.engine, "acme").await;
    let want = env.sim.expected_documents_visible_to("acme", &restricted);
    assert!(!want.is_empty() && want.len() < env.sim.expected_documents("acme").len());
    assert_eq!(got.len(), want.len());
    let st = zdsync_engine::status::status(&env.engine, Some("acme"))
        .await
        .expect("status");
    assert_eq!(st[0].restricted.as_deref(), Some("groups"));
    assert!(st[0].access.contains("restricted"), "{}", st[0].access);
}

/// Comments are read eight tickets at a time on the account budget alone:
/// the limiter keeps them under it, so no answer is a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ticket_reads_side_by_side_stay_within_the_account_budget() {
    let env = start(zendesk_sim::SimConfig {
        rate_limits: true,
        account_limit_per_min: 40,
        rate_window_secs: 2,
        ..small(200)
    })
    .await;
    let agent = env.sim.credentials().agent_email;
    connect_as(&env, "acme", &agent).await;
    let r = sync(&env, "acme").await;
    assert!(r.counters.comment_reads > 150, "{r:?}");
    assert!(
        r.requests.slept_ms > 0,
        "the budget was spent and waited for"
    );
    assert_eq!(
        env.sim.stats().responses_429,
        0,
        "{:?}",
        env.sim.stats().by_endpoint
    );
    assert_agent_holds(&env, "acme").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_agent_keeps_to_its_tickets_through_changes_and_a_deletion() {
    let env = start(small(300)).await;
    let restricted = env.sim.credentials().restricted_agent_email;
    connect_as(&env, "acme", &restricted).await;
    sync(&env, "acme").await;
    let mine = env.sim.facts().restricted_visible_ticket_ids;
    env.sim
        .mutate(Mutation::DeleteTicket { ticket_id: mine[2] });
    env.sim.mutate(Mutation::Random { n: 60, seed: 5 });
    env.sim.advance_clock(120);
    sync(&env, "acme").await;
    refresh(&env, "acme").await;
    assert_matches_oracle_as(&env, "acme", &restricted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_trial_holds_its_most_recent_documents_and_an_upgrade_the_rest() {
    let mut env = agent_env(300).await;
    env.engine.settings.trial_limit = Some(25);
    zdsync_engine::history::set_plan(&env.engine, "acme", zdsync_store::Plan::Trial)
        .await
        .expect("trial");
    zdsync_engine::history::plan_first_trial(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("plan");
    sync(&env, "acme").await;
    let agent = env.sim.credentials().agent_email;
    let place = |d: &serde_json::Value| {
        (
            d["created_at"].as_str().unwrap_or_default().to_string(),
            d["ticket_id"].as_u64().unwrap_or_default(),
        )
    };
    let mut recent = env.sim.expected_documents_visible_to("acme", &agent);
    recent.sort_by_key(|d| std::cmp::Reverse(place(d)));
    recent.truncate(25);
    recent.sort_by_key(|d| d["ticket_id"].as_u64());
    assert!(
        export(&env.engine, "acme").await == recent,
        "the 25 most recent"
    );
    let change = zdsync_engine::history::change_plan(
        &env.engine,
        "acme",
        zdsync_store::Plan::Paid,
        &SyncOptions::default(),
    )
    .await
    .expect("upgrade");
    assert!(
        change.windows.is_empty(),
        "nothing more to read: {change:?}"
    );
    assert_agent_holds(&env, "acme").await;
}
