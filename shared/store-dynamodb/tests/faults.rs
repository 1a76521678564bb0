//! DynamoDB faults that moto never produces, injected by a small HTTP proxy
//! in front of the moto server (the real DynamoDB JSON protocol both ways):
//! throttling (`ProvisionedThroughputExceededException`), `UnprocessedItems`
//! in a batch write, a record of every batch's size (moto accepts a
//! 26-item `BatchWriteItem` that DynamoDB rejects), and a write that fails
//! for good (a process dying between two writes of a split body).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use zdsync_store::{Blob, Store, StoreError, TicketWrite};

#[path = "common/ops.rs"]
mod ops;
use zdsync_store_dynamodb::{BATCH_CONCURRENCY, BATCH_WRITE_MAX, CHUNK_BYTES, DynamoStore};

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
    /// BatchWriteItem), in order; writes failed by `fail_writes_of` are not
    /// recorded (they did not happen).
    written: Mutex<Vec<String>>,
    /// The same writes as (deleted, sort key), in the order they arrived.
    changes: Mutex<Vec<(bool, String)>>,
    /// Answer every write request (PutItem, DeleteItem, BatchWriteItem)
    /// that puts or deletes an item with this sort key with a 500
    /// `InternalServerError`, the SDK's retries included, until cleared: a
    /// process that dies at that write.
    fail_writes_of: Mutex<Option<String>>,
    /// Write requests answered with the injected failure.
    failed_writes: AtomicU32,
    /// Milliseconds each BatchGetItem and BatchWriteItem is held before it
    /// goes on to moto (0: none), so requests sent side by side overlap.
    hold_batches_ms: AtomicU32,
    /// Batch requests (BatchGetItem, BatchWriteItem) under way, and the
    /// most there were at once, by operation.
    in_flight: Mutex<HashMap<String, (u32, u32)>>,
}

/// A batch request under way at the proxy, from its arrival to its answer.
struct InFlight<'a> {
    faults: &'a Faults,
    op: String,
}

impl<'a> InFlight<'a> {
    fn enter(faults: &'a Faults, op: &str) -> Self {
        let mut m = faults.in_flight.lock().unwrap();
        let (now, most) = m.entry(op.to_string()).or_default();
        *now += 1;
        *most = (*most).max(*now);
        InFlight {
            faults,
            op: op.to_string(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some((now, _)) = self.faults.in_flight.lock().unwrap().get_mut(&self.op) {
            *now -= 1;
        }
    }
}

impl Faults {
    /// The most requests of `op` that were under way at once.
    fn most_in_flight(&self, op: &str) -> u32 {
        self.in_flight
            .lock()
            .unwrap()
            .get(op)
            .map_or(0, |(_, most)| *most)
    }

    fn fail_writes_of(&self, sk: &str) {
        *self.fail_writes_of.lock().unwrap() = Some(sk.to_string());
    }

    fn clear(&self) {
        *self.fail_writes_of.lock().unwrap() = None;
    }
}

fn injected_failure() -> Response {
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "message": "injected"
    });
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
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
    let _in_flight = matches!(op.as_str(), "BatchGetItem" | "BatchWriteItem").then(|| {
        let guard = InFlight::enter(&p.faults, &op);
        (guard, p.faults.hold_batches_ms.load(Ordering::SeqCst))
    });
    if let Some((_, ms)) = &_in_flight
        && *ms > 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(u64::from(*ms))).await;
    }
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
        let mut deleted = Vec::new();
        let mut sk_of = |item: &Value, delete: bool| {
            keys.push(item["sk"]["S"].as_str().unwrap_or("?").to_string());
            deleted.push(delete);
        };
        match op.as_str() {
            "PutItem" => sk_of(&v["Item"], false),
            "DeleteItem" => sk_of(&v["Key"], true),
            _ => {
                for reqs in v["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    for r in reqs.as_array().into_iter().flatten() {
                        if let Some(item) = r.get("PutRequest").map(|p| &p["Item"]) {
                            sk_of(item, false);
                        } else if let Some(key) = r.get("DeleteRequest").map(|d| &d["Key"]) {
                            sk_of(key, true);
                        }
                    }
                }
            }
        }
        let failing = p.faults.fail_writes_of.lock().unwrap().clone();
        if failing.is_some_and(|sk| keys.contains(&sk)) {
            p.faults.failed_writes.fetch_add(1, Ordering::SeqCst);
            return injected_failure();
        }
        p.faults
            .changes
            .lock()
            .unwrap()
            .extend(deleted.into_iter().zip(keys.iter().cloned()));
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

#[tokio::test]
async fn batch_requests_go_side_by_side_within_the_bound() {
    let Some((s, p)) = store_via_proxy("side-by-side").await else {
        return;
    };
    p.faults.hold_batches_ms.store(50, Ordering::SeqCst);
    // 400 one-item states: 16 chunks of 25 to write, 4 of 100 to read.
    s.write_tickets("acme", &states(400))
        .await
        .expect("written");
    let ids: Vec<u64> = (1..=400).collect();
    assert_eq!(s.get_states("acme", &ids).await.unwrap().len(), 400);
    for op in ["BatchWriteItem", "BatchGetItem"] {
        let most = p.faults.most_in_flight(op);
        assert!(
            most > 1 && most <= BATCH_CONCURRENCY as u32,
            "{op}: at most {most} at once, expected 2..={BATCH_CONCURRENCY}"
        );
    }
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
            trial_limit: None,
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

// ---- a process dying between the writes of a split body ----------------

/// A store through a new fault proxy whose client gives up after two
/// attempts: an injected failure persists until cleared, so more retries
/// would only make the test slower.
async fn store_that_gives_up(name: &str) -> Option<(DynamoStore, Arc<Proxy>)> {
    let (conf, proxy) = via_proxy().await?;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&conf)
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(std::time::Duration::from_millis(10)),
            )
            .build(),
    );
    let store = DynamoStore::new(
        client,
        format!("zdsync-faults-{name}-{}", std::process::id()),
    );
    store.create_table().await.expect("create table on moto");
    Some((store, proxy))
}

const TICKET: u64 = 7;

/// A body of `items` items (all but the last full) made of `fill`.
fn blob(items: usize, fill: char) -> Blob {
    Blob {
        hash: format!("{fill}{items}"),
        body: fill.to_string().repeat(CHUNK_BYTES * (items - 1) + 100),
    }
}

fn put_doc(b: &Blob) -> Vec<TicketWrite> {
    vec![TicketWrite::PutDocument {
        ticket_id: TICKET,
        blob: b.clone(),
    }]
}

/// The sort keys stored under the ticket, ascending, asked of moto directly.
async fn stored_keys(s: &DynamoStore) -> Vec<String> {
    stored_keys_of(s, TICKET).await
}

/// The sort keys stored under ticket `id`, ascending, asked of moto directly.
async fn stored_keys_of(s: &DynamoStore, id: u64) -> Vec<String> {
    let endpoint = std::env::var("ZDSYNC_TEST_AWS_ENDPOINT").expect("endpoint is set");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let (mut out, mut start) = (Vec::new(), None);
    loop {
        // Pages end at 1 MB of items read: about three full parts.
        let resp = client
            .query()
            .table_name(s.table())
            .key_condition_expression("pk = :p")
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("DOC#acme#{id}")),
            )
            .projection_expression("sk")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query the ticket's items");
        for it in resp.items.unwrap_or_default() {
            out.push(it["sk"].as_s().expect("sk is a string").clone());
        }
        start = resp.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

/// The stored document is `b` (compared without printing megabytes).
async fn assert_document(s: &DynamoStore, b: &Blob, what: &str) {
    let got = s
        .get_document("acme", TICKET)
        .await
        .unwrap_or_else(|e| panic!("{what}: the document must read: {e}"));
    let got = got.unwrap_or_else(|| panic!("{what}: the document is missing"));
    assert!(
        got == b.body,
        "{what}: read {} bytes of {:?}, expected {} bytes of {:?}",
        got.len(),
        got.chars().next(),
        b.body.len(),
        b.body.chars().next()
    );
}

/// Writes `b` with the fault on `sk` in place: the write must fail there.
async fn write_dying_at(s: &DynamoStore, p: &Proxy, b: &Blob, sk: &str) {
    p.faults.fail_writes_of(sk);
    let r = s.write_tickets("acme", &put_doc(b)).await;
    p.faults.clear();
    assert!(r.is_err(), "the write stopped at {sk}");
    assert!(p.faults.failed_writes.load(Ordering::SeqCst) > 0);
}

fn keys(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_split_body_shrinking_to_one_item_keeps_the_old_body_until_the_head_lands() {
    let Some((s, p)) = store_that_gives_up("shrink-before-head").await else {
        return;
    };
    let (old, new) = (blob(3, 'o'), blob(1, 'n'));
    s.write_tickets("acme", &put_doc(&old)).await.expect("old");
    assert_eq!(
        stored_keys(&s).await,
        keys(&["PART#0", "PART#1#1", "PART#1#2"])
    );
    p.faults.written.lock().unwrap().clear();
    write_dying_at(&s, &p, &new, "PART#0").await;
    assert_eq!(
        p.faults.written.lock().unwrap().clone(),
        keys(&["PENDING#PART"]),
        "only the marker was written: no part was deleted before the head"
    );
    assert_document(&s, &old, "after the crash").await;

    s.write_tickets("acme", &put_doc(&new))
        .await
        .expect("rerun");
    assert_document(&s, &new, "after the rerun").await;
    assert_eq!(stored_keys(&s).await, keys(&["PART#0"]), "no part remains");
}

#[tokio::test]
async fn a_split_body_shrunk_to_one_item_reads_when_its_old_parts_stayed() {
    let Some((s, p)) = store_that_gives_up("shrink-after-head").await else {
        return;
    };
    let (old, new) = (blob(3, 'o'), blob(1, 'n'));
    s.write_tickets("acme", &put_doc(&old)).await.expect("old");
    write_dying_at(&s, &p, &new, "PART#1#1").await;
    assert_document(&s, &new, "after the crash").await;
    assert_eq!(
        stored_keys(&s).await,
        keys(&["PART#0", "PART#1#1", "PART#1#2", "PENDING#PART"]),
        "the old parts stayed, recorded by the marker"
    );

    let later = blob(1, 'l');
    s.write_tickets("acme", &put_doc(&later))
        .await
        .expect("a later write");
    assert_document(&s, &later, "after a later write").await;
    assert_eq!(
        stored_keys(&s).await,
        keys(&["PART#0"]),
        "the later write swept the leftover parts"
    );
}

#[tokio::test]
async fn a_split_body_growing_keeps_the_old_version_until_the_head_lands() {
    let Some((s, p)) = store_that_gives_up("grow-before-head").await else {
        return;
    };
    let (old, new) = (blob(2, 'o'), blob(4, 'n'));
    s.write_tickets("acme", &put_doc(&old)).await.expect("old");
    write_dying_at(&s, &p, &new, "PART#0").await;
    assert_document(&s, &old, "after the crash").await;
    assert_eq!(
        stored_keys(&s).await,
        keys(&[
            "PART#0",
            "PART#1#1",
            "PART#2#1",
            "PART#2#2",
            "PART#2#3",
            "PENDING#PART"
        ]),
        "version 2's parts were written (and recorded), its head not"
    );

    s.write_tickets("acme", &put_doc(&new))
        .await
        .expect("rerun");
    assert_document(&s, &new, "after the rerun").await;
    assert_eq!(
        stored_keys(&s).await,
        keys(&["PART#0", "PART#3#1", "PART#3#2", "PART#3#3"]),
        "the rerun took a version no abandoned part uses and swept the rest"
    );
}

#[tokio::test]
async fn a_one_item_body_growing_into_parts_keeps_the_old_body_until_the_head_lands() {
    let Some((s, p)) = store_that_gives_up("split-before-head").await else {
        return;
    };
    let (old, new) = (blob(1, 'o'), blob(3, 'n'));
    s.write_tickets("acme", &put_doc(&old)).await.expect("old");
    write_dying_at(&s, &p, &new, "PART#0").await;
    assert_document(&s, &old, "after the crash").await;

    s.write_tickets("acme", &put_doc(&new))
        .await
        .expect("rerun");
    assert_document(&s, &new, "after the rerun").await;
    assert_eq!(
        stored_keys(&s).await,
        keys(&["PART#0", "PART#2#1", "PART#2#2"]),
        "the abandoned version 1 was swept"
    );
}

#[tokio::test]
async fn deleting_a_ticket_sweeps_every_part_of_its_bodies() {
    let Some((s, p)) = store_that_gives_up("delete-sweeps").await else {
        return;
    };
    s.write_tickets(
        "acme",
        &[TicketWrite::PutState {
            ticket_id: TICKET,
            blob: blob(2, 's'),
        }],
    )
    .await
    .expect("state");
    s.write_tickets("acme", &put_doc(&blob(3, 'o')))
        .await
        .expect("document");
    // An abandoned version besides the current one.
    write_dying_at(&s, &p, &blob(2, 'n'), "PART#0").await;
    // state: head + 1 part; document: head + 2 parts + 1 abandoned part
    // + the marker recording it.
    assert_eq!(stored_keys(&s).await.len(), 2 + 3 + 1 + 1);

    s.write_tickets("acme", &[TicketWrite::DeleteTicket { ticket_id: TICKET }])
        .await
        .expect("delete");
    assert_eq!(
        stored_keys(&s).await,
        Vec::<String>::new(),
        "nothing remains"
    );
    assert_eq!(s.get_document("acme", TICKET).await.unwrap(), None);
    assert!(s.get_states("acme", &[TICKET]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deletion_cut_after_the_head_leaves_no_document_and_its_parts_are_swept_later() {
    let Some((s, p)) = store_that_gives_up("delete-cut").await else {
        return;
    };
    s.write_tickets("acme", &put_doc(&blob(3, 'o')))
        .await
        .expect("document");
    p.faults.fail_writes_of("PART#1#1");
    let r = s
        .write_tickets("acme", &[TicketWrite::DeleteDocument { ticket_id: TICKET }])
        .await;
    p.faults.clear();
    assert!(r.is_err(), "the deletion stopped at the parts");
    assert_eq!(
        s.get_document("acme", TICKET).await.expect("reads"),
        None,
        "the head went first"
    );

    let again = blob(1, 'a');
    s.write_tickets("acme", &put_doc(&again))
        .await
        .expect("put");
    assert_document(&s, &again, "written again").await;
    assert_eq!(stored_keys(&s).await, keys(&["PART#0"]));
}

// ---- one write call: one read of what is stored, then the phases ------

/// A store through a new fault proxy whose requests are also counted by
/// operation.
async fn counted_store_via_proxy(name: &str) -> Option<(DynamoStore, Arc<Proxy>, ops::Ops)> {
    let (conf, proxy) = via_proxy().await?;
    let counter = ops::Ops::default();
    let store = DynamoStore::new(
        counter.client(&conf),
        format!("zdsync-faults-{name}-{}", std::process::id()),
    );
    store.create_table().await.expect("create table on moto");
    counter.take();
    Some((store, proxy, counter))
}

fn doc(id: u64, b: &Blob) -> TicketWrite {
    TicketWrite::PutDocument {
        ticket_id: id,
        blob: b.clone(),
    }
}

fn state(id: u64, b: &Blob) -> TicketWrite {
    TicketWrite::PutState {
        ticket_id: id,
        blob: b.clone(),
    }
}

/// The phase a write belongs to: 0 markers, 1 parts, 2 heads, 3 stale
/// parts, 4 markers deleted.
fn phase_of((deleted, sk): &(bool, String)) -> u8 {
    let marker = sk.starts_with("PENDING#");
    let head = sk == "PART#0" || sk == "STATE";
    match (marker, head, deleted) {
        (true, _, false) => 0,
        (false, false, false) => 1,
        (_, true, _) => 2,
        (false, false, true) => 3,
        (true, _, true) => 4,
    }
}

#[tokio::test]
async fn a_mixed_batch_reads_what_is_stored_at_once_and_writes_in_phases() {
    let Some((s, p, ops)) = counted_store_via_proxy("mixed").await else {
        return;
    };
    let small = |c: char| Blob {
        hash: format!("{c}-small"),
        body: c.to_string().repeat(2_000),
    };
    let (a, n) = (small('a'), small('n'));
    let before = [
        doc(2, &a),
        doc(3, &a),
        doc(4, &blob(3, 'a')),
        state(4, &blob(2, 'a')),
        doc(5, &blob(2, 'a')),
        doc(6, &a),
        state(6, &a),
    ];
    s.write_tickets("acme", &before).await.expect("before");
    ops.take();
    p.faults.changes.lock().unwrap().clear();

    let mut writes = vec![
        doc(1, &n),            // new
        state(1, &n),          // new
        doc(2, &small('b')),   // the same size, changed
        doc(3, &blob(3, 'g')), // grown into parts
        doc(4, &n),            // shrunk from parts
        state(4, &n),          // shrunk from parts
        doc(5, &blob(3, 'r')), // a split body replaced by a bigger one
        TicketWrite::DeleteTicket { ticket_id: 6 },
    ];
    writes.extend((100..160).map(|id| state(id, &n)));
    s.write_tickets("acme", &writes)
        .await
        .expect("the mixed batch");

    let counts = ops.take();
    // 69 bodies, two keys each (head and marker): 138 keys, 2 requests.
    assert_eq!(counts.get("BatchGetItem"), Some(&2), "{counts:?}");
    for op in ["GetItem", "PutItem", "DeleteItem", "Query", "Scan"] {
        assert_eq!(counts.get(op), None, "no {op}: {counts:?}");
    }
    let changes = p.faults.changes.lock().unwrap().clone();
    let phases: Vec<u8> = changes.iter().map(phase_of).collect();
    assert!(
        phases.windows(2).all(|w| w[0] <= w[1]),
        "markers, parts, heads, stale parts, markers deleted, in that order: {changes:?}"
    );
    assert!(
        (0..=4).all(|ph| phases.contains(&ph)),
        "every phase ran: {changes:?}"
    );

    for (id, want) in [
        (1, &n),
        (2, &small('b')),
        (3, &blob(3, 'g')),
        (4, &n),
        (5, &blob(3, 'r')),
    ] {
        let got = s.get_document("acme", id).await.expect("reads");
        assert!(got.as_deref() == Some(want.body.as_str()), "document {id}");
    }
    assert_eq!(s.get_document("acme", 6).await.expect("reads"), None);
    assert_eq!(s.get_states("acme", &[4]).await.expect("reads")[&4], n);
    assert_eq!(
        stored_keys_of(&s, 3).await,
        keys(&["PART#0", "PART#1#1", "PART#1#2"])
    );
    assert_eq!(stored_keys_of(&s, 4).await, keys(&["PART#0", "STATE"]));
    assert_eq!(
        stored_keys_of(&s, 5).await,
        keys(&["PART#0", "PART#2#1", "PART#2#2"])
    );
    assert_eq!(stored_keys_of(&s, 6).await, keys(&[]));
}
