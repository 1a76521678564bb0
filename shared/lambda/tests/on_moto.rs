//! The Lambda handlers in-process with real event payloads, on DynamoDB,
//! SQS and Secrets Manager from a moto server (the test script starts one
//! and sets `ZDSYNC_TEST_AWS_ENDPOINT`), against the Zendesk simulator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::{Value, json};
use zdsync_engine::connect::{ConnectRequest, connect};
use zdsync_engine::credentials::StoredSecret;
use zdsync_engine::{Engine, Settings};
use zdsync_lambda::{Deps, backfill_worker, ticket_sync, user_refresh};
use zdsync_store::{CursorKind, Plan, WorkItem};
use zdsync_store_dynamodb::{DynamoStore, SecretsManagerStore, SqsQueue};
use zendesk_sim::{Fault, FaultKind, Mutation, SimConfig, SimHandle};

struct World {
    deps: Deps,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    sim: SimHandle,
}

async fn world(name: &str, tickets: usize) -> Option<World> {
    let endpoint = match std::env::var("ZDSYNC_TEST_AWS_ENDPOINT") {
        Ok(e) => e,
        Err(_) if std::env::var("ZDSYNC_SKIP_AWS_TESTS").is_ok() => return None,
        Err(_) => panic!(
            "ZDSYNC_TEST_AWS_ENDPOINT is not set: run ./infra/scripts/test.sh (it starts moto), or set ZDSYNC_SKIP_AWS_TESTS=1"
        ),
    };
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let suffix = format!("{name}-{}", std::process::id());
    let store = DynamoStore::new(aws_sdk_dynamodb_client(&conf), format!("zdsync-{suffix}"));
    store.create_table().await.expect("table");
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("zdsync-work-{suffix}"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");
    let sim = SimHandle::start(SimConfig {
        tickets,
        rate_limits: false,
        huge_ticket: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let engine = Engine::new(
        Arc::new(store),
        Arc::new(SecretsManagerStore::new(aws_sdk_secretsmanager_client(
            &conf,
        ))),
        Settings {
            api_url_override: Some(sim.base_url()),
            secret_prefix: format!("zdsync/{suffix}/"),
            tune_client: None,
            trial_limit: None,
        },
    );
    connect_acme(&engine, &sim).await;
    let deps = Deps {
        engine,
        queue: Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
        margin: Duration::from_secs(0),
        max_pages: None,
        lease_ttl: Duration::from_secs(900),
        busy_delay_secs: 1,
    };
    Some(World {
        deps,
        sqs,
        queue_url,
        sim,
    })
}

/// Connects the simulator's admin as "acme".
async fn connect_acme(engine: &Engine, sim: &SimHandle) {
    connect_as(engine, sim, "acme", &sim.credentials().admin_email).await;
}

/// Connects `name` with the token of the simulator's user `email`.
async fn connect_as(engine: &Engine, sim: &SimHandle, name: &str, email: &str) {
    connect(
        engine,
        ConnectRequest {
            name: name.into(),
            subdomain: "acme".into(),
            email: Some(email.into()),
            plan: Plan::Paid,
            secret: StoredSecret::ApiToken {
                token: sim.credentials().api_token,
            },
        },
    )
    .await
    .expect("connect");
}

fn aws_sdk_dynamodb_client(conf: &aws_config::SdkConfig) -> zdsync_store_dynamodb::DynamoClient {
    zdsync_store_dynamodb::DynamoClient::new(conf)
}

fn aws_sdk_secretsmanager_client(
    conf: &aws_config::SdkConfig,
) -> zdsync_store_dynamodb::SecretsClient {
    zdsync_store_dynamodb::SecretsClient::new(conf)
}

async fn export(engine: &Engine) -> Vec<Value> {
    let mut out = Vec::new();
    zdsync_engine::status::for_each_document(engine, Some("acme"), |r| {
        out.push(serde_json::from_str(&r.body).unwrap());
        Ok(())
    })
    .await
    .unwrap();
    out
}

/// A customer is renamed in Zendesk; the daily refresh runs to its end.
async fn daily_run_after_a_rename(w: &World) {
    let uid = w.sim.expected_documents("acme")[0]["user"]["id"]
        .as_u64()
        .unwrap();
    w.sim.mutate(Mutation::RenameUser {
        user_id: uid,
        name: "Renamed Customer".into(),
    });
    w.sim.advance_clock(120);
    let out = user_refresh(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(out["queued"], 1, "{out}");
    assert_eq!(drain(w).await, 1, "one refresh, run to its end");
    assert_refreshed(w, "acme").await;
}

/// The connection's last refresh ran to its end.
async fn assert_refreshed(w: &World, name: &str) {
    let st = zdsync_engine::status::status(&w.deps.engine, Some(name))
        .await
        .unwrap();
    let last = st[0].last_refresh.as_ref().expect("a refresh ran");
    assert!(last.complete && last.error.is_none(), "{last:?}");
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

/// An EventBridge scheduled event, as Lambda receives it.
fn scheduled() -> Value {
    json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
           "source": "aws.events", "account": "123456789012", "time": "2026-11-25T05:00:00Z", "region": "us-east-1",
           "resources": ["arn:aws:events:us-east-1:123456789012:rule/zdsync-hourly"], "detail": {}})
}

async fn receive(w: &World) -> Vec<aws_sdk_sqs::types::Message> {
    w.sqs
        .receive_message()
        .queue_url(&w.queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

fn sqs_event(msgs: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = msgs
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id.clone();
            r.receipt_handle = m.receipt_handle.clone();
            r.body = m.body.clone();
            r
        })
        .collect();
    e
}

/// Tries to take acme's lease for a millisecond: whether another holds it.
async fn probe_lease(w: &World) -> zdsync_store::LeaseOutcome {
    w.deps
        .engine
        .store
        .acquire_lease("acme", "probe", zdsync_engine::now_ms(), 1)
        .await
        .expect("lease probe")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_run_then_daily_refresh() {
    let Some(w) = world("hourly", 300).await else {
        return;
    };
    // The first hourly run queues the new connection's item; its worker
    // plans the history as windows on the queue and syncs the last hour.
    let out = ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["queued"], 1, "{out}");
    let items = drain(&w).await;
    assert!(
        items >= 2,
        "the first run planned its history ({} windows)",
        items - 1
    );
    assert_eq!(
        export(&w.deps.engine).await,
        w.sim.expected_documents("acme")
    );
    // The next hourly run has nothing to plan and nothing to hand over.
    ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(drain(&w).await, 1, "one item, done in one go");
    let st = zdsync_engine::status::status(&w.deps.engine, Some("acme"))
        .await
        .unwrap();
    assert!(st[0].last_run.as_ref().is_some_and(|r| r.complete));

    daily_run_after_a_rename(&w).await;
    assert_eq!(
        export(&w.deps.engine).await,
        w.sim.expected_documents("acme")
    );
}

async fn delete(w: &World, m: &aws_sdk_sqs::types::Message) {
    w.sqs
        .delete_message()
        .queue_url(&w.queue_url)
        .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
        .send()
        .await
        .expect("delete message");
}

/// Receives like Lambda's event source does: messages stay invisible for a
/// second, then come back unless deleted.
async fn receive_batch(w: &World, max: i32) -> Vec<aws_sdk_sqs::types::Message> {
    w.sqs
        .receive_message()
        .queue_url(&w.queue_url)
        .max_number_of_messages(max)
        .visibility_timeout(1)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

/// The same account synced into an embedded store: JSON lines, sorted.
async fn embedded_export(w: &World) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(
        Arc::new(zdsync_store_embedded::EmbeddedStore::open(&dir.path().join("z.sqlite")).unwrap()),
        Arc::new(zdsync_store_embedded::FileSecretStore::new(&dir.path().join("secrets")).unwrap()),
        Settings {
            api_url_override: Some(w.sim.base_url()),
            secret_prefix: "zdsync-".into(),
            tune_client: None,
            trial_limit: None,
        },
    );
    connect_acme(&engine, &w.sim).await;
    let r = zdsync_engine::sync::sync_connection(&engine, "acme", &Default::default())
        .await
        .unwrap();
    assert!(r.complete);
    lines(&engine).await
}

async fn lines(engine: &Engine) -> Vec<String> {
    let mut out = Vec::new();
    zdsync_engine::status::for_each_document(engine, Some("acme"), |r| {
        out.push(r.body.clone());
        Ok(())
    })
    .await
    .unwrap();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_backfill_fans_out_in_windows_and_survives_duplicates_and_a_killed_worker() {
    let Some(mut w) = world("backfill", 2500).await else {
        return;
    };
    w.deps.lease_ttl = Duration::from_secs(10);
    // The operator's invoke: plan five windows, then the live sync.
    let out = ticket_sync(
        &w.deps,
        json!({"connection": "acme", "backfill": true, "windows": 5}),
        later(),
    )
    .await
    .unwrap();
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["backfill"]["sequential"], false, "{out}");
    assert_eq!(
        out["backfill"]["windows"].as_array().map(Vec::len),
        Some(5),
        "{out}"
    );

    // A malformed message sits in the queue too.
    w.sqs
        .send_message()
        .queue_url(&w.queue_url)
        .message_body("{not a work item")
        .send()
        .await
        .unwrap();

    // A worker is killed mid-item: it reads a window's comments, then hangs
    // on the tickets export and its invocation is cut off. Its lease and its
    // message stay behind.
    let first = loop {
        let m = receive_batch(&w, 1).await;
        match m.first() {
            Some(m) if m.body.as_deref().is_some_and(|b| b.contains("backfill")) => {
                break m.clone();
            }
            Some(_) => continue, // the malformed one comes back after a second
            None => panic!("the plan queued nothing"),
        }
    };
    w.sim.inject(Fault {
        path_prefix: Some("/api/v2/incremental/tickets/cursor".into()),
        kind: FaultKind::Delay { ms: 20_000 },
        count: 1,
    });
    let killed = tokio::time::timeout(
        Duration::from_secs(5),
        backfill_worker(&w.deps, sqs_event(std::slice::from_ref(&first)), later()),
    )
    .await;
    assert!(killed.is_err(), "the worker was cut off mid-item");
    let held = probe_lease(&w).await;
    assert!(
        matches!(held, zdsync_store::LeaseOutcome::Held { .. }),
        "the killed worker's lease is left behind: {held:?}"
    );
    // The next delivery does not wait for that lease to expire: its holder
    // (an invocation of this process that was cut off) is gone, so the
    // worker takes the lease over at once, works the item and frees it.
    let again = backfill_worker(&w.deps, sqs_event(std::slice::from_ref(&first)), later()).await;
    assert!(again.batch_item_failures.is_empty());
    let free = probe_lease(&w).await;
    assert_eq!(
        free,
        zdsync_store::LeaseOutcome::Acquired,
        "the redelivered item ran under the lease, not waiting for it"
    );

    let mut handled = 0;
    let mut windows_done = std::collections::HashSet::new();
    let mut malformed_failures = 0;
    let mut duplicated = false;
    let mut empty = 0;
    for _round in 0..400 {
        let mut msgs = receive_batch(&w, 10).await;
        if msgs.is_empty() {
            empty += 1;
            if empty >= 3 {
                break;
            }
            continue;
        }
        empty = 0;
        if !duplicated {
            // At-least-once delivery: the same message twice in one batch.
            msgs.push(msgs[0].clone());
            duplicated = true;
        }
        let resp = backfill_worker(&w.deps, sqs_event(&msgs), later()).await;
        let failed: std::collections::HashSet<String> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        for m in &msgs {
            let id = m.message_id.clone().unwrap_or_default();
            match serde_json::from_str::<WorkItem>(m.body.as_deref().unwrap_or("")) {
                Err(_) => {
                    assert!(
                        failed.contains(&id),
                        "a malformed message is a batch item failure"
                    );
                    malformed_failures += 1;
                    // After maxReceiveCount the redrive policy moves it to
                    // the DLQ; here it is taken away by hand.
                    delete(&w, m).await;
                }
                Ok(item) => {
                    if !failed.contains(&id) {
                        handled += 1;
                        if let Some(win) = item.window {
                            windows_done.insert((win.from, win.until));
                        }
                        delete(&w, m).await;
                    }
                }
            }
        }
    }
    assert!(malformed_failures >= 1);
    assert!(duplicated);
    assert_eq!(
        windows_done.len(),
        5,
        "every window was worked on ({handled} items handled)"
    );

    // Then the hourly run picks up a change, and the daily run a renamed user.
    let facts = w.sim.facts();
    let open = *facts
        .ticket_ids
        .iter()
        .find(|id| {
            !facts.deleted_ticket_ids.contains(id) && !facts.agent_only_ticket_ids.contains(id)
        })
        .unwrap();
    w.sim.advance_clock(300);
    w.sim.mutate(Mutation::AddComment {
        ticket_id: open,
        by_customer: true,
        public: true,
        text: "Any news on this?".into(),
    });
    w.sim.advance_clock(120);
    ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(drain(&w).await, 1, "the hourly item, done in one go");
    daily_run_after_a_rename(&w).await;

    let got = lines(&w.deps.engine).await;
    let want = embedded_export(&w).await;
    assert_eq!(
        got.len(),
        want.len(),
        "documents on DynamoDB vs the embedded run"
    );
    for (g, e) in got.iter().zip(&want) {
        assert_eq!(g, e, "byte for byte equal to the embedded run");
    }
    assert_eq!(
        export(&w.deps.engine).await,
        w.sim.expected_documents("acme"),
        "and to the simulator's expectation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_invocation_while_one_holds_the_lease_exits_cleanly() {
    let Some(w) = world("lease", 50).await else {
        return;
    };
    w.deps
        .engine
        .store
        .acquire_lease("acme", "first-invocation", zdsync_engine::now_ms(), 60_000)
        .await
        .unwrap();
    let out = ticket_sync(&w.deps, json!({"connection": "acme"}), later())
        .await
        .expect("no error");
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["connections"][0]["skipped"], "busy", "{out}");
    assert!(
        export(&w.deps.engine).await.is_empty(),
        "the second invocation wrote nothing"
    );
    assert!(receive(&w).await.is_empty(), "and queued nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_manual_invoke_is_refused_with_the_expected_shape() {
    let Some(w) = world("payload", 20).await else {
        return;
    };
    let err = ticket_sync(
        &w.deps,
        json!({"conection": "acme", "backfill": true}),
        later(),
    )
    .await
    .expect_err("not a schedule, not a manual request");
    let msg = err.to_string();
    assert!(
        msg.contains("conection") && msg.contains("\"backfill\": true"),
        "{msg}"
    );
    assert!(export(&w.deps.engine).await.is_empty(), "nothing ran");
    assert!(receive(&w).await.is_empty(), "nothing was queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_named() {
    let Some(w) = world("nosecret", 20).await else {
        return;
    };
    let conn = w.deps.engine.connection("acme").await.unwrap();
    w.deps
        .engine
        .secrets
        .delete_secret(&conn.secret_ref)
        .await
        .unwrap();
    let err = ticket_sync(&w.deps, json!({"connection": "acme"}), later())
        .await
        .map(|v| v.to_string())
        .unwrap_or_else(|e| e.to_string());
    assert!(err.contains(&conn.secret_ref), "{err}");
    assert!(err.contains("connect acme"), "says how to fix it: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_is_named() {
    let Some(w) = world("noqueue", 20).await else {
        return;
    };
    let q = SqsQueue::new(w.sqs.clone(), format!("{}-missing", w.queue_url));
    let err = zdsync_store::WorkQueue::enqueue(
        &q,
        &[WorkItem {
            connection: "acme".into(),
            kind: zdsync_store::WorkKind::Sync,
            hop: 1,
            window: None,
        }],
    )
    .await
    .expect_err("no such queue");
    assert!(err.to_string().contains("-missing"), "{err}");
}

/// Runs the worker on every queued item until the queue is empty.
async fn drain(w: &World) -> usize {
    let mut items = 0;
    loop {
        let msgs = receive(w).await;
        if msgs.is_empty() {
            return items;
        }
        items += msgs.len();
        let resp = backfill_worker(&w.deps, sqs_event(&msgs), later()).await;
        assert!(resp.batch_item_failures.is_empty());
        for m in &msgs {
            delete(w, m).await;
        }
    }
}

/// A document's place in creation order (time, then ticket id).
fn place(d: &Value) -> (String, u64) {
    (
        d["created_at"].as_str().unwrap_or_default().to_string(),
        d["ticket_id"].as_u64().unwrap_or_default(),
    )
}

fn ticket_ids(docs: &[Value]) -> Vec<u64> {
    docs.iter()
        .filter_map(|d| d["ticket_id"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_backfills_through_the_queue_keeps_new_tickets_and_upgrades_on_invoke() {
    let Some(mut w) = world("trial", 400).await else {
        return;
    };
    w.deps.engine.settings.trial_limit = Some(50);
    zdsync_engine::history::set_plan(&w.deps.engine, "acme", Plan::Trial)
        .await
        .expect("trial");
    // The first hourly run plans the trial's first window; each window
    // queues the next until 50 documents are held.
    let out = ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(out["ok"], true, "{out}");
    let windows = drain(&w).await;
    assert!(windows >= 1, "the trial read its history through the queue");
    let mut recent = w.sim.expected_documents("acme");
    recent.sort_by_key(|d| std::cmp::Reverse(place(d)));
    recent.truncate(50);
    recent.sort_by_key(|d| d["ticket_id"].as_u64());
    assert_eq!(export(&w.deps.engine).await, recent, "the 50 most recent");

    // The hourly sync past the limit: new tickets are held too.
    let floor = recent.iter().map(place).min().expect("a floor");
    w.sim.advance_clock(3_600);
    w.sim.mutate(Mutation::Random { n: 200, seed: 3 });
    w.sim.advance_clock(120);
    ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(
        drain(&w).await,
        1,
        "the hourly item only: nothing more to read"
    );
    user_refresh(&w.deps, scheduled(), later()).await.unwrap();
    drain(&w).await;
    assert_refreshed(&w, "acme").await;
    let held: Vec<Value> = w
        .sim
        .expected_documents("acme")
        .into_iter()
        .filter(|d| place(d) >= floor)
        .collect();
    let got = export(&w.deps.engine).await;
    assert!(ticket_ids(&got).len() > 50, "new tickets past the limit");
    assert_eq!(got, held);

    // The upgrade payload queues the older history; the workers read it.
    let out = ticket_sync(
        &w.deps,
        json!({"connection": "acme", "plan": "paid"}),
        later(),
    )
    .await
    .unwrap();
    assert_eq!(out["plan"]["plan"], "paid", "{out}");
    assert!(drain(&w).await >= 1, "older history was queued");
    assert_eq!(
        export(&w.deps.engine).await,
        w.sim.expected_documents("acme")
    );
}

/// All documents of one connection.
async fn export_of(engine: &Engine, name: &str) -> Vec<Value> {
    let mut out = Vec::new();
    zdsync_engine::status::for_each_document(engine, Some(name), |r| {
        out.push(serde_json::from_str(&r.body).unwrap());
        Ok(())
    })
    .await
    .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_connection_syncs_through_the_lambdas_like_the_admin_one() {
    let Some(mut w) = world("agent", 1_200).await else {
        return;
    };
    let c = w.sim.credentials();
    connect_as(&w.deps.engine, &w.sim, "crew", &c.agent_email).await;
    // One page a run: the agent's walk of 1,200 tickets (two search pages)
    // is handed over through the queue.
    w.deps.max_pages = Some(1);
    let out = ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(out["ok"], true, "{out}");
    assert!(drain(&w).await >= 2, "the runs were handed over");
    w.deps.max_pages = None;
    let want = |w: &World| w.sim.expected_documents_visible_to("crew", &c.agent_email);
    assert_eq!(export_of(&w.deps.engine, "crew").await, want(&w));
    assert_eq!(
        export_of(&w.deps.engine, "acme").await,
        w.sim.expected_documents("acme")
    );

    // A round of changes with a deletion: the hourly run, then the daily.
    w.sim.advance_clock(3_600);
    w.sim.mutate(Mutation::Random { n: 150, seed: 12 });
    w.sim.advance_clock(120);
    ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    drain(&w).await;
    let out = user_refresh(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(out["queued"], 2, "{out}");
    drain(&w).await;
    assert_refreshed(&w, "crew").await;
    assert_eq!(export_of(&w.deps.engine, "crew").await, want(&w));
    assert_eq!(
        export_of(&w.deps.engine, "acme").await,
        w.sim.expected_documents("acme")
    );
}

/// The run record of every connection (name → record).
async fn run_records(engine: &Engine) -> std::collections::BTreeMap<String, Value> {
    let mut out = std::collections::BTreeMap::new();
    for st in zdsync_engine::status::status(engine, None).await.unwrap() {
        out.insert(st.name.clone(), serde_json::to_value(&st.last_run).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_connections_are_each_synced_once_per_schedule() {
    const TENANTS: usize = 200;
    let Some(w) = world("tenants", 20).await else {
        return;
    };
    // The first connection's backfill; the others start where it stands
    // (their first syncs are not what this test measures).
    ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    drain(&w).await;
    let store = &w.deps.engine.store;
    let mut cursors = Vec::new();
    for kind in [CursorKind::Events, CursorKind::Tickets] {
        cursors.push((
            kind,
            store
                .get_cursor("acme", kind)
                .await
                .unwrap()
                .expect("synced"),
        ));
    }
    let c = w.sim.credentials();
    for i in 1..TENANTS {
        let name = format!("t{i:03}");
        connect_as(&w.deps.engine, &w.sim, &name, &c.admin_email).await;
        for (kind, value) in &cursors {
            store.put_cursor(&name, *kind, value, None).await.unwrap();
        }
    }
    let first = run_records(&w.deps.engine).await;
    assert_eq!(first.len(), TENANTS);

    // The next schedule: one item per connection, each run once.
    w.sim.advance_clock(3_600);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let at = zdsync_engine::now_rfc3339();
    let started = Instant::now();
    let out = ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    let scheduler_ms = started.elapsed().as_millis();
    assert_eq!(out["queued"], TENANTS, "{}", out["kind"]);
    let items = drain(&w).await;
    println!(
        "schedule of {TENANTS} connections: scheduler {scheduler_ms} ms, {} messages ({} SendMessageBatch calls of 10), {items} items run",
        out["queued"],
        TENANTS.div_ceil(10)
    );
    assert_eq!(items, TENANTS, "each connection once, none handed over");
    let second = run_records(&w.deps.engine).await;
    assert_eq!(second.len(), TENANTS);
    for (name, r) in &second {
        let began = r["started_at"].as_str().unwrap_or_default();
        assert!(began >= at.as_str(), "{name} ran in this schedule: {r}");
        assert_eq!(r["complete"], true, "{name}: {r}");
    }
}
