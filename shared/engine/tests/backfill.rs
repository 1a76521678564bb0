//! Planned backfills: windows of history read in any order, twice, cut
//! short, with the live sync and account changes in between, converge to the
//! simulator's expectation.

mod common;

use std::sync::Mutex;

use async_trait::async_trait;
use common::*;
use zdsync_engine::backfill::plan_backfill;
use zdsync_engine::sync::{SyncOptions, sync_connection, sync_window};
use zdsync_store::{CursorKind, WorkItem, WorkKind, WorkQueue};
use zendesk_sim::Mutation;

/// Collects what a plan queues (the SQS adapter is tested on moto).
#[derive(Default)]
struct Collect(Mutex<Vec<WorkItem>>);

#[async_trait]
impl WorkQueue for Collect {
    async fn enqueue(&self, items: &[WorkItem]) -> zdsync_store::Result<()> {
        self.0.lock().unwrap().extend_from_slice(items);
        Ok(())
    }
}

fn windows_of(q: &Collect) -> Vec<zdsync_store::Window> {
    q.0.lock()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i.kind, WorkKind::Backfill);
            i.window.expect("a backfill item carries its window")
        })
        .collect()
}

#[tokio::test]
async fn windows_in_any_order_with_duplicates_cuts_and_live_syncs_converge() {
    let env = start(small(1500)).await;
    connect_admin(&env, "acme").await;
    let queue = Collect::default();
    let plan = plan_backfill(
        &env.engine,
        "acme",
        &queue,
        Some(4),
        &SyncOptions::default(),
    )
    .await
    .expect("plan");
    assert!(!plan.sequential, "{plan:?}");
    let windows = windows_of(&queue);
    assert_eq!(windows.len(), 4, "{plan:?}");
    assert_eq!(windows, plan.windows);
    assert_eq!(windows[0].until, plan.live_from, "newest window first");
    assert!(
        windows.windows(2).all(|p| p[1].until == p[0].from),
        "windows tile history: {windows:?}"
    );
    let live = env
        .engine
        .store
        .get_cursor("acme", CursorKind::Events)
        .await
        .unwrap();
    assert_eq!(live, Some(plan.live_from.to_string()), "live cursor moved");

    let progress = zdsync_engine::backfill::progress(&env.engine, "acme")
        .await
        .unwrap()
        .expect("the plan is recorded");
    assert_eq!((progress.windows, progress.windows_done), (4, 0));

    // The live sync runs first and finds the last hour.
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("live sync");
    assert!(r.complete);

    // The account changes while history is read.
    let facts = env.sim.facts();
    let old = *facts
        .ticket_ids
        .iter()
        .find(|id| !facts.deleted_ticket_ids.contains(id))
        .unwrap();
    env.sim.advance_clock(300);
    env.sim.mutate(Mutation::AddComment {
        ticket_id: old,
        by_customer: true,
        public: true,
        text: "Still waiting for an answer on this".into(),
    });
    env.sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    env.sim.advance_clock(120); // exports leave out the last minute

    // Oldest window first, then the rest; one window is cut after a page
    // and resumed; every window is delivered twice.
    let mut order = windows.clone();
    order.rotate_right(1);
    let cut = SyncOptions {
        max_pages: Some(1),
        ..SyncOptions::default()
    };
    let first = sync_window(&env.engine, "acme", order[0], &cut)
        .await
        .expect("cut window");
    assert!(
        !first.complete,
        "one page does not finish a window: {first:?}"
    );
    for w in &order {
        let r = sync_window(&env.engine, "acme", *w, &SyncOptions::default())
            .await
            .expect("window");
        assert!(r.complete, "{r:?}");
    }
    for w in &order {
        let again = sync_window(&env.engine, "acme", *w, &SyncOptions::default())
            .await
            .expect("duplicate delivery");
        assert!(again.complete);
        assert_eq!(
            again.requests.total, 1,
            "a finished window only reads the ticket fields: {again:?}"
        );
        assert_eq!(again.counters.data_writes(), 0);
    }
    let progress = zdsync_engine::backfill::progress(&env.engine, "acme")
        .await
        .unwrap()
        .expect("the plan is recorded");
    assert_eq!((progress.windows_done, progress.pending.len()), (4, 0));
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("hourly sync");
    assert!(r.complete);
    assert_matches_oracle(&env, "acme").await;
    let docs = export(&env.engine, "acme").await;
    assert!(
        docs.iter().any(|d| d
            .to_string()
            .contains("Still waiting for an answer on this")),
        "the late comment on an old ticket is imported"
    );
}

#[tokio::test]
async fn an_account_without_history_gets_one_sequential_walk() {
    let env = start(small(0)).await;
    connect_admin(&env, "acme").await;
    // An earlier plan's record is forgotten by a sequential one.
    env.engine
        .store
        .put_cursor(
            "acme",
            CursorKind::BackfillPlan,
            r#"{"windows":[{"from":0,"until":10}],"live_from":10,"planned_at":"2026-01-01T00:00:00Z"}"#,
            None,
        )
        .await
        .unwrap();
    let queue = Collect::default();
    let plan = plan_backfill(
        &env.engine,
        "acme",
        &queue,
        Some(4),
        &SyncOptions::default(),
    )
    .await
    .expect("plan");
    assert!(plan.sequential, "{plan:?}");
    assert!(plan.reason.is_some());
    assert!(queue.0.lock().unwrap().is_empty(), "nothing queued");
    assert!(
        zdsync_engine::backfill::progress(&env.engine, "acme")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        env.engine
            .store
            .get_cursor("acme", CursorKind::Events)
            .await
            .unwrap(),
        None,
        "the live cursors start over"
    );
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("sequential backfill");
    assert!(r.complete);
    assert_matches_oracle(&env, "acme").await;
}

/// Drains a backfill of four windows item by item, one export page a
/// run, each run with a new client (as a new Lambda invocation would),
/// under a tight export budget; `forget` wipes what each run learnt of the
/// budgets before the next. Returns the simulator's count of 429s.
async fn drained_item_by_item(forget: bool) -> u64 {
    let env = start(zendesk_sim::SimConfig {
        rate_limits: true,
        export_limit_per_min: 3,
        rate_window_secs: 3,
        ..small(3_000)
    })
    .await;
    connect_admin(&env, "acme").await;
    let q = Collect::default();
    plan_backfill(&env.engine, "acme", &q, Some(4), &SyncOptions::default())
        .await
        .expect("plan");
    let opts = SyncOptions {
        max_pages: Some(1),
        ..Default::default()
    };
    for w in windows_of(&q) {
        loop {
            if forget {
                env.engine
                    .store
                    .put_run_record("acme", "{}")
                    .await
                    .expect("wipe");
            }
            let r = sync_window(&env.engine, "acme", w, &opts)
                .await
                .expect("item");
            if r.complete {
                break;
            }
        }
    }
    assert_matches_oracle(&env, "acme").await;
    env.sim.stats().responses_429
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_drained_item_by_item_meets_no_429_at_the_hand_overs() {
    assert_eq!(drained_item_by_item(false).await, 0);
}

/// The control: without the budgets the last run left, the hand-overs do
/// meet 429s (so the test above measures something).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_last_runs_budgets_the_hand_overs_meet_429s() {
    assert!(drained_item_by_item(true).await > 0);
}

/// A first backfill read from both ends at once on an account whose
/// budgets make that pay (account 700, exports 10 a window; windows of 2 s
/// here): the exports walk reads the older history, the per-ticket walk the
/// newest (the exports walk may read its last few tickets per ticket, when
/// the account window has room: most runs here do), and together they
/// give the simulator's expectation without one 429, with every planned
/// window marked read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_read_from_both_ends_matches_the_oracle_without_a_429() {
    let env = start(zendesk_sim::SimConfig {
        rate_limits: true,
        rate_window_secs: 2,
        ..small(3_000)
    })
    .await;
    connect_admin(&env, "acme").await;
    let opts = SyncOptions::default();
    let windows = zdsync_engine::backfill::plan_first_sync(
        &env.engine,
        "acme",
        &zdsync_engine::backfill::InProcess,
        &opts,
    )
    .await
    .expect("plan");
    assert!(!windows.is_empty(), "a paid account plans windows");
    sync_connection(&env.engine, "acme", &opts)
        .await
        .expect("the last hour");
    let reports = zdsync_engine::pincer::walk_history(&env.engine, "acme", windows, &opts)
        .await
        .expect("both walks");
    let (per_ticket, exports) = reports.split_last().expect("reports");
    let newest = per_ticket.window.expect("the per-ticket walk read a range");
    assert!(per_ticket.counters.comment_reads > 0, "{per_ticket:?}");
    assert!(
        exports.iter().any(|r| r.event_pages > 0),
        "the exports walk read the older events: {exports:?}"
    );
    assert!(newest.from > 0, "the exports walk read the oldest part");
    assert!(
        zdsync_engine::backfill::unfinished(&env.engine, "acme")
            .await
            .expect("windows")
            .is_empty(),
        "every planned window is marked read"
    );
    let r = sync_connection(&env.engine, "acme", &opts)
        .await
        .expect("hourly sync");
    assert!(r.complete);
    assert_matches_oracle(&env, "acme").await;
    assert_eq!(env.sim.stats().responses_429, 0);
}
