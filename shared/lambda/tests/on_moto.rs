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
use zdsync_store::{Plan, WorkItem};
use zdsync_store_dynamodb::{DynamoStore, SecretsManagerStore, SqsQueue};
use zendesk_sim::{Mutation, SimConfig, SimHandle};

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
        },
    );
    let c = sim.credentials();
    connect(
        &engine,
        ConnectRequest {
            name: "acme".into(),
            subdomain: "acme".into(),
            email: Some(c.admin_email.clone()),
            plan: Plan::Paid,
            secret: StoredSecret::ApiToken {
                token: c.api_token.clone(),
            },
        },
    )
    .await
    .expect("connect");
    let deps = Deps {
        engine,
        queue: Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
        margin: Duration::from_secs(0),
        max_pages: None,
    };
    Some(World {
        deps,
        sqs,
        queue_url,
        sim,
    })
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_run_then_daily_refresh() {
    let Some(w) = world("hourly", 300).await else {
        return;
    };
    let out = ticket_sync(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["connections"][0]["complete"], true, "{out}");
    assert_eq!(
        export(&w.deps.engine).await,
        w.sim.expected_documents("acme")
    );

    let uid = w.sim.expected_documents("acme")[0]["user"]["id"]
        .as_u64()
        .unwrap();
    w.sim.mutate(Mutation::RenameUser {
        user_id: uid,
        name: "Renamed Customer".into(),
    });
    w.sim.advance_clock(120);
    let out = user_refresh(&w.deps, scheduled(), later()).await.unwrap();
    assert_eq!(out["connections"][0]["complete"], true, "{out}");
    assert_eq!(
        export(&w.deps.engine).await,
        w.sim.expected_documents("acme")
    );
    assert!(
        receive(&w).await.is_empty(),
        "nothing was handed to the queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_backfill_fans_out_through_the_queue_and_survives_duplicates_and_a_killed_worker()
{
    let Some(mut w) = world("backfill", 2500).await else {
        return;
    };
    // Each invocation takes one page, then hands the rest over.
    w.deps.max_pages = Some(1);
    let out = ticket_sync(
        &w.deps,
        json!({"connection": "acme", "backfill": true}),
        later(),
    )
    .await
    .unwrap();
    assert_eq!(out["connections"][0]["complete"], false, "{out}");

    // A malformed message sits in the queue too.
    w.sqs
        .send_message()
        .queue_url(&w.queue_url)
        .message_body("{not a work item")
        .send()
        .await
        .unwrap();

    let mut items = 0;
    let mut malformed_failures = 0;
    let mut duplicated = false;
    let mut killed = false;
    for _round in 0..60 {
        let mut msgs = receive(&w).await;
        if msgs.is_empty() {
            break;
        }
        if !killed {
            // A worker dies mid-item: it took the lease and never released it
            // (nor deleted its message). The lease expires; SQS redelivers.
            w.deps
                .engine
                .store
                .acquire_lease(
                    "acme",
                    "dead-worker",
                    zdsync_engine::now_ms() - 899_000,
                    900_000,
                )
                .await
                .unwrap();
            let resp = backfill_worker(&w.deps, sqs_event(&msgs), later()).await;
            assert!(
                !resp.batch_item_failures.is_empty(),
                "busy items are retried later"
            );
            tokio::time::sleep(Duration::from_millis(1_100)).await; // the dead worker's lease runs out
            killed = true;
            msgs = receive(&w).await;
        }
        if !duplicated && !msgs.is_empty() {
            // At-least-once delivery: the same message twice in one batch.
            let first = msgs[0].clone();
            msgs.push(first);
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
            let body = m.body.clone().unwrap_or_default();
            if serde_json::from_str::<WorkItem>(&body).is_err() {
                assert!(
                    failed.contains(&id),
                    "a malformed message is a batch item failure"
                );
                malformed_failures += 1;
                // After maxReceiveCount the redrive policy moves it to the DLQ.
                let _ = w
                    .sqs
                    .delete_message()
                    .queue_url(&w.queue_url)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await;
                continue;
            }
            if !failed.contains(&id) {
                items += 1;
                let _ = w
                    .sqs
                    .delete_message()
                    .queue_url(&w.queue_url)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await;
            }
        }
    }
    assert!(items >= 4, "the backfill was handed over {items} times");
    assert!(malformed_failures >= 1);
    assert!(duplicated && killed);
    let got = export(&w.deps.engine).await;
    let want = w.sim.expected_documents("acme");
    let got_ids: std::collections::HashSet<&Value> = got.iter().map(|d| &d["id"]).collect();
    let missing: Vec<&Value> = want
        .iter()
        .filter(|d| !got_ids.contains(&d["id"]))
        .collect();
    assert!(
        missing.is_empty(),
        "missing after {items} hand-overs: {}",
        serde_json::to_string(&missing)
            .unwrap_or_default()
            .chars()
            .take(1500)
            .collect::<String>()
    );
    assert_eq!(
        got.len(),
        want.len(),
        "the fanned-out backfill converges ({items} hand-overs)"
    );
    for (g, x) in got.iter().zip(&want) {
        assert_eq!(g, x, "document {} after the fanned-out backfill", x["id"]);
    }
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
    let out = ticket_sync(&w.deps, scheduled(), later())
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
        }],
    )
    .await
    .expect_err("no such queue");
    assert!(err.to_string().contains("-missing"), "{err}");
}
