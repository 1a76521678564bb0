//! The sync against the project's Zendesk simulator on an embedded store:
//! backfill, incremental runs, interruptions, faults.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::hooked::HookedStore;
use common::*;
use zdsync_engine::refresh::refresh_connection;
use zdsync_engine::sync::{SyncOptions, sync_connection};
use zdsync_store::{CursorKind, LeaseOutcome, Store, StoreError};
use zendesk_sim::{Fault, FaultKind, Mutation};

#[tokio::test]
async fn backfill_matches_the_oracle_and_an_unchanged_resync_writes_nothing() {
    let env = start(small(400)).await;
    connect_admin(&env, "acme").await;
    let first = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("backfill");
    assert!(first.complete);
    assert!(first.counters.documents_written > 100, "{first:?}");
    assert_matches_oracle(&env, "acme").await;

    let again = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("resync");
    assert!(again.complete);
    assert_eq!(
        again.counters.data_writes(),
        0,
        "unchanged resync wrote: {again:?}"
    );
    assert!(
        again.requests.total <= 3,
        "unchanged resync made {} requests",
        again.requests.total
    );
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn incremental_runs_follow_new_comments_csat_status_and_deletions() {
    let env = start(small(300)).await;
    connect_admin(&env, "acme").await;
    sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("backfill");
    let facts = env.sim.facts();
    let agent_only = facts.agent_only_ticket_ids[0];
    let doc_ticket = *facts
        .ticket_ids
        .iter()
        .find(|id| {
            !facts.agent_only_ticket_ids.contains(id) && !facts.deleted_ticket_ids.contains(id)
        })
        .expect("a feedback ticket");
    // The agent-only ticket has no document until its customer speaks.
    assert!(
        env.engine
            .store
            .get_document("acme", agent_only)
            .await
            .unwrap()
            .is_none()
    );

    env.sim.mutate(Mutation::AddComment {
        ticket_id: agent_only,
        by_customer: true,
        public: true,
        text: "Actually, I have feedback: the export is slow".into(),
    });
    env.sim.mutate(Mutation::AddCsat {
        ticket_id: doc_ticket,
        score: "bad".into(),
        comment: Some("too slow".into()),
        reason_id: None,
    });
    let new = env.sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    let deleted = facts
        .ticket_ids
        .iter()
        .copied()
        .find(|id| {
            *id != doc_ticket
                && *id != agent_only
                && !facts.deleted_ticket_ids.contains(id)
                && !facts.agent_only_ticket_ids.contains(id)
        })
        .expect("another feedback ticket");
    env.sim
        .mutate(Mutation::DeleteTicket { ticket_id: deleted });
    env.sim.mutate(Mutation::Random { n: 40, seed: 7 });
    env.sim.advance_clock(120);

    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("incremental sync");
    assert!(r.complete);
    // Renamed customers reach their documents with the daily refresh.
    refresh_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("user refresh");
    assert_matches_oracle(&env, "acme").await;
    let doc = env
        .engine
        .store
        .get_document("acme", agent_only)
        .await
        .unwrap();
    assert!(doc.expect("now feedback").contains("the export is slow"));
    assert!(
        env.engine
            .store
            .get_document("acme", deleted)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        env.engine
            .store
            .get_document("acme", new.ticket_ids[0])
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_sync_interrupted_after_any_page_resumes_to_the_same_documents() {
    let env = start(small(250)).await;
    connect_admin(&env, "full").await;
    let full = sync_connection(&env.engine, "full", &SyncOptions::default())
        .await
        .expect("uninterrupted");
    let pages = full.event_pages + full.ticket_pages;
    assert!(pages >= 2, "too few pages to interrupt: {pages}");
    let mut cut_short = 0;
    for k in 1..pages {
        let name = format!("cut{k}");
        connect_admin(&env, &name).await;
        let partial = sync_connection(
            &env.engine,
            &name,
            &SyncOptions {
                max_pages: Some(k),
                ..Default::default()
            },
        )
        .await
        .expect("partial run");
        // Each stream takes at least one page per run, so a cut late in the
        // walk can still finish it.
        if !partial.complete {
            cut_short += 1;
        }
        let rest = sync_connection(&env.engine, &name, &SyncOptions::default())
            .await
            .expect("resumed run");
        assert!(rest.complete);
        let got = export(&env.engine, &name).await;
        let want = env.sim.expected_documents(&name);
        assert_eq!(got, want, "after a cut at page {k}");
    }
    assert!(cut_short >= 1, "no run was cut short");
}

/// A store that fails the n-th cursor write: a crash after a page's items
/// are stored and before its cursor moves.
fn failing_cursor_store(inner: Arc<dyn Store>, fail_at: u32) -> HookedStore {
    let calls = Arc::new(AtomicU32::new(0));
    HookedStore {
        inner,
        before_cursor: Some(Arc::new(move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                if n == fail_at {
                    return Err(StoreError::Throttled(
                        "injected crash before the cursor write".into(),
                    ));
                }
                Ok(())
            })
        })),
        before_write: None,
    }
}

#[tokio::test]
async fn a_crash_between_storing_a_page_and_moving_its_cursor_loses_and_doubles_nothing() {
    let sim = zendesk_sim::SimHandle::start(small(700)).await.unwrap();
    for fail_at in 1.. {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Store> = Arc::new(
            zdsync_store_embedded::EmbeddedStore::open(&dir.path().join("s.sqlite")).unwrap(),
        );
        let secrets: Arc<dyn zdsync_store::SecretStore> = Arc::new(
            zdsync_store_embedded::FileSecretStore::new(&dir.path().join("secrets")).unwrap(),
        );
        let failing: Arc<dyn Store> = Arc::new(failing_cursor_store(inner.clone(), fail_at));
        let engine = engine_with(failing, secrets.clone(), &sim.base_url());
        let (email, secret) = admin_token(&sim);
        zdsync_engine::connect::connect(
            &engine,
            zdsync_engine::connect::ConnectRequest {
                name: "acme".into(),
                subdomain: "acme".into(),
                email,
                plan: zdsync_store::Plan::Paid,
                secret,
            },
        )
        .await
        .unwrap();
        let crashed = sync_connection(&engine, "acme", &SyncOptions::default()).await;
        if crashed.is_ok() {
            // Past the last cursor write: every crash point was tried.
            assert!(fail_at > 3, "too few cursor writes to test: {fail_at}");
            break;
        }
        // The lease was released: a rerun on the healthy store proceeds.
        let healthy = engine_with(inner, secrets, &sim.base_url());
        let r = sync_connection(&healthy, "acme", &SyncOptions::default())
            .await
            .expect("rerun after the crash");
        assert!(r.complete);
        assert_eq!(
            export(&healthy, "acme").await,
            sim.expected_documents("acme"),
            "crash at cursor write {fail_at}"
        );
    }
}

#[tokio::test]
async fn transient_faults_are_retried_and_the_sync_completes() {
    let env = start(small(150)).await;
    connect_admin(&env, "acme").await;
    env.sim.inject(Fault {
        path_prefix: Some("/api/v2/incremental/".into()),
        kind: FaultKind::TooManyRequests { retry_after: None },
        count: 1,
    });
    env.sim.inject(Fault {
        path_prefix: Some("/api/v2/incremental/ticket_events".into()),
        kind: FaultKind::Status {
            status: 503,
            retry_after: Some(0),
        },
        count: 1,
    });
    env.sim.inject(Fault {
        path_prefix: Some("/api/v2/incremental/tickets".into()),
        kind: FaultKind::Status {
            status: 502,
            retry_after: None,
        },
        count: 2,
    });
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("sync survives transient faults");
    assert!(r.requests.retries >= 4, "{:?}", r.requests);
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn html_or_truncated_answers_fail_clearly_and_leave_the_store_unchanged() {
    for kind in [FaultKind::Html, FaultKind::TruncatedJson] {
        let env = start(small(120)).await;
        connect_admin(&env, "acme").await;
        sync_connection(&env.engine, "acme", &SyncOptions::default())
            .await
            .expect("first sync");
        let before = export(&env.engine, "acme").await;
        let cursors_before = env
            .engine
            .store
            .get_cursor("acme", CursorKind::Tickets)
            .await
            .unwrap();
        env.sim.mutate(Mutation::Random { n: 20, seed: 3 });
        env.sim.advance_clock(120);
        env.sim.inject(Fault {
            path_prefix: Some("/api/v2/incremental/ticket_events".into()),
            kind: kind.clone(),
            // One request and its three retries (the tests' client setting).
            count: 4,
        });
        let err = sync_connection(&env.engine, "acme", &SyncOptions::default())
            .await
            .expect_err("a run on garbage answers fails");
        let msg = err.to_string();
        assert!(msg.contains("unexpected response"), "{kind:?}: {msg}");
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            export(&env.engine, "acme").await,
            before,
            "{kind:?}: documents changed"
        );
        assert_eq!(
            env.engine
                .store
                .get_cursor("acme", CursorKind::Tickets)
                .await
                .unwrap(),
            cursors_before
        );
        // Once Zendesk answers properly again, the next run catches up.
        sync_connection(&env.engine, "acme", &SyncOptions::default())
            .await
            .expect("recovered run");
        refresh_connection(&env.engine, "acme", &SyncOptions::default())
            .await
            .expect("user refresh");
        assert_matches_oracle(&env, "acme").await;
    }
}

#[tokio::test]
async fn a_tickets_cursor_the_server_rejects_restarts_from_its_time() {
    let env = start(small(150)).await;
    connect_admin(&env, "acme").await;
    sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("first sync");
    let saved = env
        .engine
        .store
        .get_cursor("acme", CursorKind::Tickets)
        .await
        .unwrap()
        .expect("cursor saved");
    let mut c: zdsync_engine::sync::TicketsCursor = serde_json::from_str(&saved).unwrap();
    c.after = "not-a-zendesk-cursor".into();
    env.engine
        .store
        .put_cursor("acme", CursorKind::Tickets, &c.encode(), Some(&saved))
        .await
        .unwrap();
    env.sim.mutate(Mutation::Random { n: 10, seed: 9 });
    env.sim.advance_clock(120);
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("sync recovers from a rejected cursor");
    assert!(r.complete);
    refresh_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("user refresh");
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn a_second_sync_of_the_same_connection_waits_for_the_lease() {
    let env = start(small(50)).await;
    connect_admin(&env, "acme").await;
    let held = env
        .engine
        .store
        .acquire_lease("acme", "other-run", zdsync_engine::now_ms(), 60_000)
        .await
        .unwrap();
    assert_eq!(held, LeaseOutcome::Acquired);
    let err = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect_err("lease is held");
    assert!(err.to_string().contains("other-run"), "{err}");
}

#[tokio::test]
async fn records_without_an_id_are_skipped_and_counted_and_the_rest_lands() {
    let env = start(small(200)).await;
    connect_admin(&env, "acme").await;
    for path in [
        "/api/v2/incremental/tickets/cursor",
        "/api/v2/incremental/ticket_events",
    ] {
        env.sim.inject(Fault {
            path_prefix: Some(path.into()),
            kind: FaultKind::IdlessRecord,
            count: 1,
        });
    }
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("sync with id-less records");
    assert!(r.complete, "{r:?}");
    assert_eq!(r.skipped_records, 2, "{r:?}");
    assert_matches_oracle(&env, "acme").await;
    let clean = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("next sync");
    assert_eq!(clean.skipped_records, 0, "{clean:?}");
}

#[tokio::test]
async fn a_comment_with_only_an_attachment_is_an_empty_message() {
    let env = start(small(150)).await;
    connect_admin(&env, "acme").await;
    sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("backfill");
    let ticket = env.sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    let id = ticket.ticket_ids[0];
    env.sim.mutate(Mutation::AddComment {
        ticket_id: id,
        by_customer: true,
        public: true,
        text: String::new(),
    });
    env.sim.advance_clock(120);
    sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("sync");
    let doc: serde_json::Value = serde_json::from_str(
        &env.engine
            .store
            .get_document("acme", id)
            .await
            .expect("read")
            .expect("a document"),
    )
    .expect("json");
    let texts: Vec<&str> = doc["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 2, "{doc}");
    assert_eq!(texts[1], "", "{doc}");
    assert_matches_oracle(&env, "acme").await;
}

/// Conversation logs are read side by side under their own small budget:
/// the answers of requests in flight never make the limiter send past it.
#[tokio::test]
async fn conversation_logs_read_side_by_side_get_no_429() {
    let env = start(zendesk_sim::SimConfig {
        rate_limits: true,
        account_limit_per_min: 10_000,
        export_limit_per_min: 10_000,
        users_export_limit_per_min: 10_000,
        omnilog_limit_per_min: 10,
        rate_window_secs: 2,
        ..small(400)
    })
    .await;
    connect_admin(&env, "acme").await;
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("backfill");
    assert!(r.counters.conversation_log_reads > 20, "{r:?}");
    assert_eq!(
        env.sim.stats().responses_429,
        0,
        "{:?}",
        env.sim.stats().by_endpoint
    );
    assert_matches_oracle(&env, "acme").await;
}

/// Export pages the simulator has answered: (events, tickets).
async fn export_pages(base_url: &str) -> (u64, u64) {
    let stats: serde_json::Value = reqwest::get(format!("{base_url}/sim/stats"))
        .await
        .expect("simulator stats")
        .json()
        .await
        .expect("stats JSON");
    let n = |k: &str| stats["by_endpoint"][k].as_u64().unwrap_or(0);
    (
        n("incremental/ticket_events"),
        n("incremental/tickets/cursor"),
    )
}

/// A store whose first three ticket writes each wait (up to 5 s) until
/// Zendesk has answered the export page after the one being stored, and
/// record whether it had. A backfill holds its first tickets page (no
/// write), then stores one events page after another: the n-th write
/// (from 0) stores the (n + 2)-th page read, so with the next page read
/// ahead n + 3 pages are answered.
fn waiting_for_the_next_page(
    inner: Arc<dyn Store>,
    base_url: String,
) -> (HookedStore, Arc<std::sync::Mutex<Vec<bool>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let writes = Arc::new(AtomicU32::new(0));
    let hook: common::hooked::Hook = Arc::new(move || {
        let (base_url, record) = (base_url.clone(), record.clone());
        let nth = writes.fetch_add(1, Ordering::SeqCst) as u64;
        Box::pin(async move {
            if nth >= 3 {
                return Ok(());
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            let answered = loop {
                let (events, tickets) = export_pages(&base_url).await;
                let ahead = events + tickets >= nth + 3;
                if ahead || std::time::Instant::now() >= deadline {
                    break ahead;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            };
            record.lock().expect("record").push(answered);
            Ok(())
        })
    });
    let store = HookedStore {
        inner,
        before_cursor: None,
        before_write: Some(hook),
    };
    (store, seen)
}

#[tokio::test]
async fn a_page_is_stored_while_the_next_one_is_read() {
    let env = start(small(2_500)).await;
    let inner = env.engine.store.clone();
    let (store, asked) = waiting_for_the_next_page(inner, env.sim.base_url());
    let secrets = env.engine.secrets.clone();
    let engine = engine_with(Arc::new(store), secrets, &env.sim.base_url());
    connect_admin(&env, "acme").await;
    let report = sync_connection(&engine, "acme", &SyncOptions::default())
        .await
        .expect("backfill");
    assert!(
        report.event_pages >= 2 && report.ticket_pages >= 2,
        "{report:?}"
    );
    let asked = asked.lock().expect("record").clone();
    assert_eq!(
        asked,
        vec![true; 3],
        "a page's writes waited in vain for the next page to be read"
    );
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn a_backfill_writes_most_tickets_states_once() {
    let env = start(small(2_500)).await;
    connect_admin(&env, "acme").await;
    let report = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("backfill");
    let stored = env
        .engine
        .store
        .counts("acme")
        .await
        .expect("counts")
        .states;
    let per_ticket = report.counters.states_written as f64 / stored as f64;
    eprintln!(
        "{} state writes for {stored} stored states: {per_ticket:.2} a ticket ({} event pages, {} ticket pages)",
        report.counters.states_written, report.event_pages, report.ticket_pages
    );
    assert!(per_ticket <= 1.25, "{per_ticket:.2} state writes a ticket");
    assert_matches_oracle(&env, "acme").await;
}
