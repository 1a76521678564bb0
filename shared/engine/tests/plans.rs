//! Plans on the simulator: a trial holds the most recent feedback tickets
//! (and every new one), an upgrade reads the rest, a downgrade keeps all.

mod common;

use common::*;
use serde_json::Value;
use zdsync_engine::Engine;
use zdsync_engine::history::{self, change_plan, plan_first_trial, walk_windows};
use zdsync_engine::sync::{SyncOptions, sync_connection};
use zdsync_store::Plan;
use zendesk_sim::Mutation;

/// A document's place in creation order (time, then ticket id).
fn place(d: &Value) -> (String, u64) {
    (
        d["created_at"].as_str().unwrap_or_default().to_string(),
        d["ticket_id"].as_u64().unwrap_or_default(),
    )
}

/// The `limit` most recent of `docs` by creation, in ticket order.
fn most_recent(docs: &[Value], limit: usize) -> Vec<Value> {
    let mut sorted: Vec<&Value> = docs.iter().collect();
    sorted.sort_by_key(|d| std::cmp::Reverse(place(d)));
    let mut out: Vec<Value> = sorted.into_iter().take(limit).cloned().collect();
    out.sort_by_key(|d| d["ticket_id"].as_u64());
    out
}

/// Zendesk requests of some runs: all of them, and those of the exports.
struct Requests {
    total: u64,
    export: u64,
}

impl std::fmt::Display for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} Zendesk requests ({} export pages, {} other)",
            self.total,
            self.export,
            self.total - self.export
        )
    }
}

/// The CLI's sync: a trial never synced syncs the last hour and reads its
/// windows, then the live streams.
async fn sync(engine: &Engine, name: &str) -> Requests {
    let opts = SyncOptions::default();
    let mut reports = Vec::new();
    if let Some(first) = plan_first_trial(engine, name, &opts).await.expect("plan") {
        reports.push(
            sync_connection(engine, name, &opts)
                .await
                .expect("last hour"),
        );
        reports.extend(
            walk_windows(engine, name, vec![first], &opts)
                .await
                .expect("windows"),
        );
    }
    let r = sync_connection(engine, name, &opts).await.expect("sync");
    assert!(r.complete, "{r:?}");
    reports.push(r);
    Requests {
        total: reports.iter().map(|r| r.requests.total).sum(),
        export: reports.iter().map(|r| r.requests.export).sum(),
    }
}

fn assert_same(got: &[Value], want: &[Value], what: &str) {
    let ids = |v: &[Value]| v.iter().map(|d| d["ticket_id"].clone()).collect::<Vec<_>>();
    let (g, w) = (ids(got), ids(want));
    let extra: Vec<_> = g.iter().filter(|i| !w.contains(i)).collect();
    let missing: Vec<_> = w.iter().filter(|i| !g.contains(i)).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: {} documents, {} expected; not expected: {extra:?}; missing: {missing:?}",
        g.len(),
        w.len()
    );
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w, "{what}: document {}", w["id"]);
    }
}

/// Trial backfill, a round of changes, then the upgrade, with `limit`.
async fn trial_then_upgrade(tickets: usize, limit: usize) {
    let env = start(small(tickets)).await;
    let mut engine = env.engine.clone();
    engine.settings.trial_limit = Some(limit);
    connect_on_plan(&engine, &env.sim, "acme", Plan::Trial).await;

    let requests = sync(&engine, "acme").await;
    let all = env.sim.expected_documents("acme");
    assert!(
        all.len() > limit,
        "the account has more feedback than the limit"
    );
    let trial = most_recent(&all, limit);
    assert_same(&export(&engine, "acme").await, &trial, "trial backfill");
    let status = zdsync_engine::status::status(&engine, Some("acme"))
        .await
        .expect("status");
    assert!(!status[0].history.complete);
    assert!(status[0].history.held_from.is_some());
    eprintln!(
        "trial backfill of {tickets} tickets (limit {limit}): {requests} for {} documents",
        trial.len()
    );

    // New tickets sync past the limit; older ones that change stay out.
    let floor = trial.iter().map(place).min().expect("a floor");
    env.sim.advance_clock(3_600);
    env.sim.mutate(Mutation::Random { n: 300, seed: 5 });
    env.sim.advance_clock(120);
    sync(&engine, "acme").await;
    // Renamed customers and organizations are the daily refresh's.
    zdsync_engine::refresh::refresh_connection(&engine, "acme", &SyncOptions::default())
        .await
        .expect("refresh");
    let all = env.sim.expected_documents("acme");
    let held: Vec<Value> = all.iter().filter(|d| place(d) >= floor).cloned().collect();
    let new = held.iter().filter(|d| !trial.contains(d)).count();
    assert!(new > 0, "new or changed tickets arrived");
    assert_same(
        &export(&engine, "acme").await,
        &held,
        "after a round of changes",
    );

    // The upgrade reads the rest: the documents of a paid connection.
    let change = change_plan(&engine, "acme", Plan::Paid, &SyncOptions::default())
        .await
        .expect("upgrade");
    assert!(!change.windows.is_empty(), "older history to read");
    walk_windows(&engine, "acme", change.windows, &SyncOptions::default())
        .await
        .expect("older history");
    assert!(
        history::load(&engine, "acme")
            .await
            .expect("history")
            .is_none()
    );
    assert_same(&export(&engine, "acme").await, &all, "after the upgrade");

    // A paid backfill of the same account holds the same documents.
    connect_on_plan(&engine, &env.sim, "paid", Plan::Paid).await;
    let paid_requests = sync(&engine, "paid").await;
    eprintln!("paid backfill of the same account: {paid_requests}");
    let strip = |docs: Vec<Value>| {
        docs.into_iter()
            .map(|mut d| {
                d["id"] = Value::Null;
                d["connection"] = Value::Null;
                d
            })
            .collect::<Vec<_>>()
    };
    assert_same(
        &strip(export(&engine, "acme").await),
        &strip(export(&engine, "paid").await),
        "upgraded trial against a paid backfill",
    );
}

#[tokio::test]
async fn a_trial_of_five_thousand_on_twelve_thousand_tickets_then_an_upgrade() {
    trial_then_upgrade(12_000, 5_000).await;
}

#[tokio::test]
async fn a_trial_of_fifty_on_a_small_account_then_an_upgrade() {
    trial_then_upgrade(400, 50).await;
}

#[tokio::test]
async fn a_downgrade_keeps_every_document() {
    let env = start(small(300)).await;
    connect_admin(&env, "acme").await;
    sync(&env.engine, "acme").await;
    let before = export(&env.engine, "acme").await;
    let change = change_plan(&env.engine, "acme", Plan::Trial, &SyncOptions::default())
        .await
        .expect("downgrade");
    assert!(change.windows.is_empty());
    sync(&env.engine, "acme").await;
    assert_same(
        &export(&env.engine, "acme").await,
        &before,
        "after a downgrade",
    );
    let status = zdsync_engine::status::status(&env.engine, Some("acme"))
        .await
        .expect("status");
    assert_eq!(status[0].plan, Plan::Trial);
    assert!(status[0].history.complete);
}
