//! DynamoDB faults that moto never produces, injected by a small HTTP proxy
//! in front of the moto server (the real DynamoDB JSON protocol both ways):
//! throttling (`ProvisionedThroughputExceededException`), `UnprocessedItems`
//! in a batch write, and a record of every batch's size (moto accepts a
//! 26-item `BatchWriteItem` that DynamoDB rejects).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use zdsync_store::{Blob, Store, StoreError, TicketWrite};
use zdsync_store_dynamodb::{BATCH_WRITE_MAX, DynamoStore};

#[derive(Default)]
struct Faults {
    /// Requests still to answer with a throttling error.
    throttle: AtomicU32,
    throttled: AtomicU32,
    /// Answer the next multi-item batch write with half its items unprocessed.
    unprocess_next: AtomicBool,
    unprocessed_given: AtomicU32,
    /// Items per BatchWriteItem request.
    batch_sizes: Mutex<Vec<usize>>,
    /// Fail half the entries of the next SendMessageBatch (SQS).
    fail_sqs_next: AtomicBool,
    sqs_failed_given: AtomicU32,
    /// Entries per SendMessageBatch request.
    sqs_batch_sizes: Mutex<Vec<usize>>,
    /// Sort keys of every item written or deleted (PutItem, DeleteItem,
    /// BatchWriteItem), in order.
    written: Mutex<Vec<String>>,
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    faults: Faults,
}

fn items_of(body: &Value) -> usize {
    body["RequestItems"]
        .as_object()
        .map(|t| t.values().map(|v| v.as_array().map_or(0, Vec::len)).sum())
        .unwrap_or(0)
}

async fn handle(
    State(p): State<Arc<Proxy>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let op = target.rsplit('.').next().unwrap_or("").to_string();
    let data_op = !matches!(op.as_str(), "CreateTable" | "DescribeTable");
    if data_op
        && p.faults
            .throttle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        p.faults.throttled.fetch_add(1, Ordering::SeqCst);
        let body = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded."
        });
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0")],
            body.to_string(),
        )
            .into_response();
    }
    if matches!(op.as_str(), "PutItem" | "DeleteItem" | "BatchWriteItem") {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut keys = Vec::new();
        let mut sk_of = |item: &Value| {
            keys.push(item["sk"]["S"].as_str().unwrap_or("?").to_string());
        };
        match op.as_str() {
            "PutItem" => sk_of(&v["Item"]),
            "DeleteItem" => sk_of(&v["Key"]),
            _ => {
                for reqs in v["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    for r in reqs.as_array().into_iter().flatten() {
                        if let Some(item) = r.get("PutRequest").map(|p| &p["Item"]) {
                            sk_of(item);
                        } else if let Some(key) = r.get("DeleteRequest").map(|d| &d["Key"]) {
                            sk_of(key);
                        }
                    }
                }
            }
        }
        p.faults.written.lock().unwrap().extend(keys);
    }
    let mut forward = body.to_vec();
    let mut held_back: Option<(String, Vec<Value>)> = None;
    let mut failed_entries: Vec<Value> = Vec::new();
    if op == "SendMessageBatch" {
        let mut v: Value = serde_json::from_slice(&body).expect("SQS body is JSON");
        let entries = v["Entries"].as_array_mut().expect("entries");
        p.faults.sqs_batch_sizes.lock().unwrap().push(entries.len());
        if entries.len() >= 2 && p.faults.fail_sqs_next.swap(false, Ordering::SeqCst) {
            let rest = entries.split_off(entries.len() / 2);
            p.faults
                .sqs_failed_given
                .fetch_add(rest.len() as u32, Ordering::SeqCst);
            failed_entries = rest
                .iter()
                .map(|e| json!({"Id": e["Id"], "SenderFault": false, "Code": "InternalError", "Message": "injected"}))
                .collect();
            forward = serde_json::to_vec(&v).unwrap();
        }
    }
    if op == "BatchWriteItem" {
        let mut v: Value = serde_json::from_slice(&body).expect("batch write body is JSON");
        let n = items_of(&v);
        p.faults.batch_sizes.lock().unwrap().push(n);
        if n >= 2 && p.faults.unprocess_next.swap(false, Ordering::SeqCst) {
            let (table, reqs) = v["RequestItems"]
                .as_object_mut()
                .and_then(|m| m.iter_mut().next())
                .map(|(t, r)| (t.clone(), r))
                .expect("one table");
            let all = reqs.as_array_mut().expect("requests");
            let rest = all.split_off(all.len() / 2);
            p.faults
                .unprocessed_given
                .fetch_add(rest.len() as u32, Ordering::SeqCst);
            held_back = Some((table, rest));
            forward = serde_json::to_vec(&v).unwrap();
        }
    }
    let mut req = p
        .http
        .post(format!("{}{}", p.upstream, uri.path()))
        .body(forward);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k.as_str(), v.as_bytes());
        }
    }
    let resp = req.send().await.expect("moto answers");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-amz-json-1.0")
        .to_string();
    let mut out = resp.bytes().await.expect("moto body").to_vec();
    if !failed_entries.is_empty() {
        let mut v: Value = serde_json::from_slice(&out).expect("moto answer is JSON");
        v["Failed"] = Value::Array(failed_entries);
        out = serde_json::to_vec(&v).unwrap();
    }
    if let Some((table, rest)) = held_back {
        let mut v: Value = serde_json::from_slice(&out).expect("moto answer is JSON");
        v["UnprocessedItems"] = json!({ table: rest });
        out = serde_json::to_vec(&v).unwrap();
    }
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", ctype)],
        out,
    )
        .into_response()
}

/// A store whose DynamoDB requests pass through the fault proxy.
async fn store_via_proxy(name: &str) -> Option<(DynamoStore, Arc<Proxy>)> {
    let (conf, proxy) = via_proxy().await?;
    let store = DynamoStore::new(
        zdsync_store_dynamodb::client(&conf),
        format!("zdsync-faults-{name}-{}", std::process::id()),
    );
    store.create_table().await.expect("create table on moto");
    Some((store, proxy))
}

/// An SDK configuration whose requests pass through a new fault proxy.
async fn via_proxy() -> Option<(aws_config::SdkConfig, Arc<Proxy>)> {
    let upstream = match std::env::var("ZDSYNC_TEST_AWS_ENDPOINT") {
        Ok(e) => e,
        Err(_) if std::env::var("ZDSYNC_SKIP_AWS_TESTS").is_ok() => return None,
        Err(_) => panic!(
            "ZDSYNC_TEST_AWS_ENDPOINT is not set: run the tests with ./infra/scripts/test.sh (it starts moto), or set ZDSYNC_SKIP_AWS_TESTS=1"
        ),
    };
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        http: reqwest::Client::new(),
        faults: Faults::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(proxy.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    Some((conf, proxy))
}

fn states(n: u64) -> Vec<TicketWrite> {
    (1..=n)
        .map(|id| TicketWrite::PutState {
            ticket_id: id,
            blob: Blob {
                hash: format!("h{id}"),
                body: format!("{{\"ticket\":{id}}}"),
            },
        })
        .collect()
}

#[tokio::test]
async fn throttled_requests_are_retried_and_nothing_is_lost() {
    let Some((s, p)) = store_via_proxy("throttle").await else {
        return;
    };
    p.faults.throttle.store(3, Ordering::SeqCst);
    s.write_tickets("acme", &states(30))
        .await
        .expect("written despite throttling");
    assert_eq!(p.faults.throttled.load(Ordering::SeqCst), 3);
    p.faults.throttle.store(2, Ordering::SeqCst);
    let ids: Vec<u64> = (1..=30).collect();
    let got = s.get_states("acme", &ids).await.expect("read back");
    assert_eq!(got.len(), 30, "every state is stored");
    assert_eq!(got[&7].body, "{\"ticket\":7}");
    assert_eq!(p.faults.throttled.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn throttling_that_never_ends_is_a_throttled_error_naming_the_operation() {
    let Some((s, p)) = store_via_proxy("exhausted").await else {
        return;
    };
    p.faults.throttle.store(1_000, Ordering::SeqCst);
    match s.get_connection("acme").await {
        Err(StoreError::Throttled(msg)) => assert!(msg.contains("reading"), "{msg}"),
        other => panic!("expected a throttled error, got {other:?}"),
    }
    assert_eq!(
        p.faults.throttled.load(Ordering::SeqCst),
        zdsync_store_dynamodb::DYNAMODB_MAX_ATTEMPTS,
        "the SDK tried as often as configured"
    );
}

#[tokio::test]
async fn batch_writes_send_at_most_25_items_and_retry_unprocessed_ones() {
    let Some((s, p)) = store_via_proxy("batches").await else {
        return;
    };
    p.faults.unprocess_next.store(true, Ordering::SeqCst);
    s.write_tickets("acme", &states(60)).await.expect("written");
    let sizes = p.faults.batch_sizes.lock().unwrap().clone();
    assert!(
        sizes.iter().all(|n| *n <= BATCH_WRITE_MAX && *n > 0),
        "batch sizes {sizes:?}"
    );
    let given = p.faults.unprocessed_given.load(Ordering::SeqCst) as usize;
    assert!(given > 0);
    assert_eq!(
        sizes.iter().sum::<usize>(),
        60 + given,
        "unprocessed items were sent again: {sizes:?}"
    );
    let ids: Vec<u64> = (1..=60).collect();
    assert_eq!(s.get_states("acme", &ids).await.unwrap().len(), 60);
}

/// DynamoDB item writes of a sync, counted on the wire: a backfill, then an
/// unchanged re-sync that must write no data item (only the lease and the
/// run record, which are bookkeeping). Prints the figures the README quotes.
#[tokio::test]
async fn dynamodb_writes_of_a_backfill_and_of_an_unchanged_resync() {
    let Some((store, p)) = store_via_proxy("writes").await else {
        return;
    };
    let tickets = 1_000;
    let sim = zendesk_sim::SimHandle::start(zendesk_sim::SimConfig {
        tickets,
        rate_limits: false,
        huge_ticket: false,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = zdsync_engine::Engine::new(
        Arc::new(store),
        Arc::new(zdsync_store_embedded::FileSecretStore::new(dir.path()).unwrap()),
        zdsync_engine::Settings {
            api_url_override: Some(sim.base_url()),
            secret_prefix: "zdsync-".into(),
            tune_client: None,
        },
    );
    let c = sim.credentials();
    zdsync_engine::connect::connect(
        &engine,
        zdsync_engine::connect::ConnectRequest {
            name: "acme".into(),
            subdomain: "acme".into(),
            email: Some(c.admin_email.clone()),
            plan: zdsync_store::Plan::Paid,
            secret: zdsync_engine::credentials::StoredSecret::ApiToken {
                token: c.api_token.clone(),
            },
        },
    )
    .await
    .unwrap();
    let data = |keys: &[String]| {
        keys.iter()
            .filter(|k| !matches!(k.as_str(), "LEASE" | "RUN" | "META"))
            .count()
    };
    p.faults.written.lock().unwrap().clear();
    let opts = zdsync_engine::sync::SyncOptions::default();
    let first = zdsync_engine::sync::sync_connection(&engine, "acme", &opts)
        .await
        .unwrap();
    assert!(first.complete);
    let backfill = p.faults.written.lock().unwrap().split_off(0);
    let docs = backfill
        .iter()
        .filter(|k| k.starts_with("PART#") || k.starts_with("DOC"))
        .count();
    println!(
        "DynamoDB item writes, backfill of {tickets} tickets: {} data items ({} per 1,000 tickets; {docs} document items), {} bookkeeping",
        data(&backfill),
        data(&backfill) * 1000 / tickets,
        backfill.len() - data(&backfill)
    );
    assert!(
        data(&backfill) > tickets / 2,
        "the backfill stored its items"
    );

    let again = zdsync_engine::sync::sync_connection(&engine, "acme", &opts)
        .await
        .unwrap();
    assert!(again.complete);
    let resync = p.faults.written.lock().unwrap().split_off(0);
    println!(
        "DynamoDB item writes, unchanged re-sync: {} data items, {} bookkeeping ({resync:?})",
        data(&resync),
        resync.len() - data(&resync)
    );
    assert_eq!(
        data(&resync),
        0,
        "an unchanged re-sync writes no data: {resync:?}"
    );
}

#[tokio::test]
async fn queued_work_goes_10_a_message_batch_and_failed_entries_are_sent_again() {
    use zdsync_store::{WorkItem, WorkKind, WorkQueue};
    let Some((conf, p)) = via_proxy().await else {
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let url = sqs
        .create_queue()
        .queue_name(format!("zdsync-faults-{}", std::process::id()))
        .send()
        .await
        .expect("queue on moto")
        .queue_url
        .expect("url");
    let queue = zdsync_store_dynamodb::SqsQueue::new(sqs.clone(), &url);
    let items: Vec<WorkItem> = (0..23)
        .map(|i| WorkItem {
            connection: format!("c{i}"),
            kind: WorkKind::Sync,
            hop: 0,
            window: None,
        })
        .collect();
    p.faults.fail_sqs_next.store(true, Ordering::SeqCst);
    queue
        .enqueue(&items)
        .await
        .expect("queued despite failed entries");
    let sizes = p.faults.sqs_batch_sizes.lock().unwrap().clone();
    let failed = p.faults.sqs_failed_given.load(Ordering::SeqCst) as usize;
    assert!(failed > 0);
    assert!(sizes.iter().all(|n| (1..=10).contains(n)), "{sizes:?}");
    assert_eq!(
        sizes.iter().sum::<usize>(),
        23 + failed,
        "failed entries were sent again: {sizes:?}"
    );
    let mut got = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let msgs = queue.receive(10, 0, 30).await.expect("receive");
        if msgs.is_empty() {
            break;
        }
        for m in msgs {
            let item: WorkItem = serde_json::from_str(&m.body).expect("a work item");
            got.insert(item.connection);
            queue.delete(&m.receipt_handle).await.expect("delete");
        }
    }
    assert_eq!(got.len(), 23, "every item arrived exactly once: {got:?}");
}
