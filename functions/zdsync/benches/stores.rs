//! A connection's first sync (its backfill), measured end to end: the
//! release `zdsync` binary of this build against the project's Zendesk
//! simulator (in this process, on loopback), in up to three variants:
//! - `embedded`: `zdsync sync acme` on the embedded store (`--data-dir`);
//! - `dynamodb`: the same command with `--store dynamodb`, on moto;
//! - `lambda`: the same account backfilled the way the deployed functions
//!   do it, through the work queue (an SQS queue on moto, its visibility
//!   timeout the template's): `zdsync --store dynamodb --queue-url Q
//!   backfill acme` plans the history as windows onto the queue, `zdsync
//!   ... worker --wait-secs 1` drains it, running each item as the
//!   backfill-worker Lambda does (run again while items wait in the queue,
//!   e.g. re-queued with a delay because the connection was busy), then
//!   `zdsync ... sync acme` once reads the live streams, as the hourly
//!   schedule would. Before that sync, `zdsync status acme` (its DynamoDB
//!   requests straight to moto, not counted, its time not measured) must
//!   show every planned window done.
//!
//! Each variant gets a simulator of its own, with the same configuration
//! and seed, so all see the same account; each DynamoDB variant a table and
//! a counting proxy of its own.
//!
//! ```sh
//! cargo bench -p zdsync --bench stores
//! ```
//!
//! For each variant it prints the wall time (the lambda path's from the
//! start of the backfill to the end of the sync); Zendesk requests (total
//! and per 1,000 tickets, export requests, 429 answers) and export pages,
//! summed over the runs' reports (the embedded and dynamodb variants: every
//! entry of `reports` in `zdsync --json sync`, i.e. the last hour, the
//! planned windows, the live streams; the lambda path: the run records
//! every run writes, seen by the counting proxy, since `zdsync worker`
//! prints no reports: the windows, any continuations, the live sync);
//! the Zendesk requests the simulator answered (the plans' reads of the
//! first page and of Zendesk's clock included, which no report counts);
//! the export-budget lower bound (export requests ÷ the simulator's export
//! budget a minute, the first minute's budget free); documents written;
//! the peak RSS of `zdsync` (`peak_rss_kb` of `zdsync sync`; for the
//! lambda path the largest of its commands, sampled from `/proc` every
//! 50 ms while each runs). For DynamoDB also the operations per 1,000
//! tickets by type, item writes per 1,000 tickets (`PutRequest`/
//! `DeleteRequest` entries of `BatchWriteItem`, `PutItem`, `DeleteItem`,
//! `UpdateItem`, and the `Put`/`Update`/`Delete` entries of
//! `TransactWriteItems`) and write units per 1,000 tickets (a written item
//! costs ceil(size / 1 KB) WCU, its size approximated by the length of its
//! JSON in the request, at least 1; a delete costs 1; a transactional write
//! twice that). DynamoDB requests are counted on the wire by a counting
//! proxy in this process in front of moto (`AWS_ENDPOINT_URL_DYNAMODB`
//! points `zdsync` at it; Secrets Manager and SQS go to moto directly
//! through `AWS_ENDPOINT_URL`): a retried request counts each time it is
//! sent. The connect before the sync is not counted. At the end: the ratio
//! of each other variant's wall time to the embedded store's. Each
//! variant's figures are also printed as one line of JSON (prefix
//! `json: `) for the README.
//!
//! Environment:
//! - `ZDSYNC_BENCH_TICKETS`: tickets in the simulated account (default 50000).
//! - `ZDSYNC_BENCH_LIMITS`: `on` (default: the simulator's realistic budgets,
//!   account 700/min, exports 10/min, conversation logs 100/min) or `off`
//!   (no rate limits: the figures are then the stores' and the CPU's).
//! - `ZDSYNC_BENCH_STORES`: a comma-separated list of `embedded`,
//!   `dynamodb`, `lambda` (default `embedded,dynamodb,lambda`; `both` is
//!   `embedded,dynamodb`). With limits on, the variants run at the same time
//!   (a simulator and a process each, the same start): at realistic limits a
//!   50,000-ticket first sync waits about an hour on Zendesk's budgets, and
//!   each variant's figures are printed as it finishes. With limits off they
//!   run one after the other, in the order listed, as they would otherwise
//!   share this machine's cores and moto's CPU and each skew the others'
//!   wall time.
//! - `ZDSYNC_TEST_AWS_ENDPOINT`: a running moto to use; without it the bench
//!   starts `moto_server` (`.venv/bin/moto_server` of the workspace, else the
//!   one on `PATH`) on a free port and stops it at the end.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use zdsync_store_dynamodb::DynamoStore;
use zendesk_sim::{SimConfig, SimHandle, SimStats};

/// The operations always listed, in this order (others follow when seen).
const OPS: [&str; 8] = [
    "GetItem",
    "BatchGetItem",
    "BatchWriteItem",
    "PutItem",
    "Query",
    "Scan",
    "DeleteItem",
    "UpdateItem",
];
/// The work queue's visibility timeout, the template's (above the
/// worker's 900 s).
const VISIBILITY_TIMEOUT_SECS: u32 = 960;
/// Worker runs at most, while items wait in the queue (delayed ones).
const MAX_WORKER_RUNS: usize = 100;
/// The largest request body the proxy accepts (DynamoDB's limit is 16 MB).
const MAX_BODY: usize = 64 << 20;
/// Headers that belong to one hop, not to the request or answer.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn per_thousand(n: u64, tickets: usize) -> f64 {
    n as f64 * 1_000.0 / tickets as f64
}

// ---- the counting proxy in front of moto's DynamoDB ---------------------

/// DynamoDB requests seen by the proxy.
#[derive(Debug, Clone, Default)]
struct Counts {
    /// Requests by operation (`X-Amz-Target: DynamoDB_20120810.<Op>`).
    ops: BTreeMap<String, u64>,
    /// Requests without a DynamoDB target (0 when only DynamoDB is proxied).
    other: u64,
    item_writes: u64,
    write_units: u64,
    /// The reports of the run records written (`PutItem` of `sk = RUN`).
    runs: Vec<Value>,
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    counts: Mutex<Counts>,
}

impl Proxy {
    /// The counts so far, and a fresh start.
    fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts.lock().expect("counts lock"))
    }

    fn count(&self, headers: &HeaderMap, body: &[u8]) {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(op) = target.strip_prefix("DynamoDB_20120810.") else {
            self.counts.lock().expect("counts lock").other += 1;
            return;
        };
        let request = is_write(op)
            .then(|| serde_json::from_slice::<Value>(body))
            .transpose()
            .expect("a DynamoDB request body is JSON");
        let mut c = self.counts.lock().expect("counts lock");
        *c.ops.entry(op.to_string()).or_default() += 1;
        let Some(v) = request else {
            return;
        };
        let (items, units) = writes_of(op, &v);
        c.item_writes += items;
        c.write_units += units;
        if let Some(run) = run_record(op, &v) {
            c.runs.push(run);
        }
    }
}

/// Write units of an item of `json_len` bytes (as JSON in the request).
fn wcu(json_len: usize) -> u64 {
    json_len.div_ceil(1024).max(1) as u64
}

fn json_len(v: &Value) -> usize {
    serde_json::to_string(v).map_or(0, |s| s.len())
}

/// The size of an update: its key and the values it sets.
fn update_len(u: &Value) -> usize {
    json_len(&u["Key"]) + json_len(&u["ExpressionAttributeValues"])
}

fn is_write(op: &str) -> bool {
    matches!(
        op,
        "BatchWriteItem" | "PutItem" | "DeleteItem" | "UpdateItem" | "TransactWriteItems"
    )
}

/// Item writes and write units of one write request `v` of operation `op`.
fn writes_of(op: &str, v: &Value) -> (u64, u64) {
    match op {
        "PutItem" => (1, wcu(json_len(&v["Item"]))),
        "DeleteItem" => (1, 1),
        "UpdateItem" => (1, wcu(update_len(v))),
        "BatchWriteItem" => batch_writes(v),
        _ => transact_writes(v),
    }
}

/// The report of a run record (a `PutItem` of the item `sk = RUN`, its
/// report as JSON in `body`): every run writes one, the worker's too.
fn run_record(op: &str, v: &Value) -> Option<Value> {
    if op != "PutItem" || v["Item"]["sk"]["S"] != "RUN" {
        return None;
    }
    let body = v["Item"]["body"]["S"]
        .as_str()
        .expect("a run record has its report in body");
    Some(serde_json::from_str(body).expect("a run record's report is JSON"))
}

fn batch_writes(v: &Value) -> (u64, u64) {
    let entries = v["RequestItems"]
        .as_object()
        .into_iter()
        .flat_map(|tables| tables.values())
        .flat_map(|reqs| reqs.as_array().into_iter().flatten());
    let (mut items, mut units) = (0, 0);
    for e in entries {
        if let Some(put) = e.get("PutRequest") {
            items += 1;
            units += wcu(json_len(&put["Item"]));
        } else if e.get("DeleteRequest").is_some() {
            items += 1;
            units += 1;
        }
    }
    (items, units)
}

/// A transaction's writes; DynamoDB charges a transactional write twice.
fn transact_writes(v: &Value) -> (u64, u64) {
    let (mut items, mut units) = (0, 0);
    for t in v["TransactItems"].as_array().into_iter().flatten() {
        let unit = if let Some(put) = t.get("Put") {
            wcu(json_len(&put["Item"]))
        } else if let Some(u) = t.get("Update") {
            wcu(update_len(u))
        } else if t.get("Delete").is_some() {
            1
        } else {
            continue;
        };
        items += 1;
        units += 2 * unit;
    }
    (items, units)
}

fn bad_gateway(why: String) -> Response {
    (StatusCode::BAD_GATEWAY, why).into_response()
}

/// Forwards a request to moto as it came (headers included: the SDK signs
/// the Host header, which moto does not check) and its answer back as it
/// came; counts it on the way.
async fn forward(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return bad_gateway(format!("reading the request: {e}")),
    };
    p.count(&parts.headers, &body);
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut out = p
        .http
        .request(parts.method, format!("{}{path}", p.upstream))
        .body(body);
    for (k, v) in parts.headers.iter().filter(|(k, _)| !hop_by_hop(k)) {
        out = out.header(k, v);
    }
    let answer = match out.send().await {
        Ok(a) => a,
        Err(e) => return bad_gateway(format!("moto: {e}")),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = match answer.bytes().await {
        Ok(b) => b,
        Err(e) => return bad_gateway(format!("moto's answer: {e}")),
    };
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    for (k, v) in headers.iter().filter(|(k, _)| !hop_by_hop(k)) {
        resp.headers_mut().append(k, v.clone());
    }
    resp
}

fn hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// A counting proxy to `upstream` on a free loopback port: its URL.
async fn start_proxy(upstream: &str) -> (String, Arc<Proxy>) {
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client"),
        counts: Mutex::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port for the proxy");
    let addr = listener.local_addr().expect("the proxy's address");
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), proxy)
}

// ---- moto -----------------------------------------------------------------

/// A moto server this bench started, stopped when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_bin() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("moto_server")
    }
}

fn start_moto() -> (String, Moto) {
    let bin = moto_bin();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} does not start ({e}): install moto[server] (./infra/scripts/test.sh makes .venv), or set ZDSYNC_TEST_AWS_ENDPOINT",
                bin.display()
            )
        });
    let moto = Moto(child);
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (format!("http://127.0.0.1:{port}"), moto);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto did not listen on port {port}");
}

/// moto: the one `ZDSYNC_TEST_AWS_ENDPOINT` names, else one started here.
fn moto_endpoint() -> (String, Option<Moto>) {
    match std::env::var("ZDSYNC_TEST_AWS_ENDPOINT") {
        Ok(e) => (e, None),
        Err(_) => {
            let (e, m) = start_moto();
            (e, Some(m))
        }
    }
}

/// The SDK's configuration for moto at `endpoint` (directly, not through
/// the proxy).
async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await
}

/// The work queue of the lambda path, on moto.
#[derive(Clone)]
struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    /// Creates the queue `name` with the template's visibility timeout.
    async fn create(conf: &aws_config::SdkConfig, name: &str) -> Queue {
        let client = aws_sdk_sqs::Client::new(conf);
        let out = client
            .create_queue()
            .queue_name(name)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                VISIBILITY_TIMEOUT_SECS.to_string(),
            )
            .send()
            .await
            .expect("create the work queue on moto");
        let url = out.queue_url().expect("moto answers with the queue's URL");
        Queue {
            url: url.to_string(),
            client,
        }
    }

    /// Messages in the queue: visible, in flight and delayed.
    async fn depth(&self) -> u64 {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("the work queue's attributes from moto");
        out.attributes()
            .into_iter()
            .flat_map(|a| a.values())
            .map(|n| n.parse::<u64>().expect("a message count is a number"))
            .sum()
    }
}

// ---- the runs -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Store {
    Embedded,
    Dynamodb,
    /// DynamoDB through the work queue, as the deployed functions.
    Lambda,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Embedded => "embedded",
            Store::Dynamodb => "dynamodb",
            Store::Lambda => "lambda",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Store::Embedded => "embedded store",
            Store::Dynamodb => "dynamodb store",
            Store::Lambda => "lambda path (backfill + worker)",
        }
    }

    fn on_dynamodb(self) -> bool {
        self != Store::Embedded
    }
}

/// Where a DynamoDB variant goes: moto, its table, the proxy in front of
/// moto's DynamoDB, and (the lambda path) the work queue.
#[derive(Clone)]
struct Aws {
    moto: String,
    proxy_url: String,
    proxy: Arc<Proxy>,
    table: String,
    queue: Option<Queue>,
}

impl Aws {
    /// A fresh table (and queue, for the lambda path) on moto for `store`,
    /// and a counting proxy of its own.
    async fn setup(moto: &str, store: Store) -> Aws {
        let conf = sdk_config(moto).await;
        let id = format!("{}-{}", std::process::id(), store.name());
        let table = format!("zdsync-bench-stores-{id}");
        DynamoStore::new(zdsync_store_dynamodb::client(&conf), &table)
            .create_table()
            .await
            .expect("create the table on moto");
        let queue = match store {
            Store::Lambda => Some(Queue::create(&conf, &format!("zdsync-bench-work-{id}")).await),
            _ => None,
        };
        let (proxy_url, proxy) = start_proxy(moto).await;
        let on_queue = queue
            .as_ref()
            .map_or(String::new(), |q| format!("; work queue {}", q.url));
        println!(
            "{}: moto at {moto}; DynamoDB through the counting proxy at {proxy_url}; table {table}{on_queue}",
            store.name()
        );
        Aws {
            moto: moto.to_string(),
            proxy_url,
            proxy,
            table,
            queue,
        }
    }
}

/// Arguments and environment of `zdsync` for one store.
#[derive(Clone)]
struct Target {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Target {
    fn embedded(dir: &Path) -> Target {
        Target {
            args: vec!["--data-dir".into(), dir.to_string_lossy().into_owned()],
            env: Vec::new(),
        }
    }

    /// DynamoDB at `dynamodb_url` (the proxy, or moto itself), the rest of
    /// AWS on moto; the work queue when there is one.
    fn dynamodb(aws: &Aws, dynamodb_url: &str) -> Target {
        let env = [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &aws.moto),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_url),
            ("ZDSYNC_TABLE", &aws.table),
        ];
        let mut args = vec!["--store".to_string(), "dynamodb".to_string()];
        if let Some(q) = &aws.queue {
            args.extend(["--queue-url".to_string(), q.url.clone()]);
        }
        Target {
            args,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// The simulated Zendesk account `zdsync` talks to.
#[derive(Clone)]
struct Zendesk {
    url: String,
    token: String,
}

/// The peak RSS (`VmHWM`, KiB) in a `/proc/<pid>/status`, while it lives.
fn vm_hwm(status_path: &str) -> Option<u64> {
    let status = std::fs::read_to_string(status_path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples process `pid`'s peak RSS every 50 ms until `done` or its end.
fn sample_peak_rss(pid: u32, done: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let path = format!("/proc/{pid}/status");
        let mut peak = 0;
        while !done.load(Ordering::Relaxed) {
            let Some(kb) = vm_hwm(&path) else { break };
            peak = peak.max(kb);
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

/// Runs `zdsync --json <args>` for `target` (blocking): its JSON answer
/// and its peak RSS in KiB as sampled.
fn zdsync(target: &Target, zd: &Zendesk, args: &[String]) -> (Value, u64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zdsync"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ZENDESK_") || k.starts_with("ZDSYNC_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .args(&target.args)
        .arg("--json")
        .args(args)
        .envs(target.env.iter().map(|(k, v)| (k, v)))
        .env("ZENDESK_API_URL", &zd.url)
        .env("ZENDESK_API_TOKEN", &zd.token)
        // The stores compared on one method: the exports alone (the
        // backfill bench's `both-ends` measures reading from both ends).
        .env("ZDSYNC_BOTH_ENDS", "off")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zdsync starts");
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak_rss(child.id(), done.clone());
    let out = child.wait_with_output().expect("zdsync runs");
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().expect("the RSS sampler joins");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "zdsync {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = serde_json::from_str(stdout.trim()).expect("zdsync --json prints one JSON object");
    (answer, peak)
}

/// [`zdsync`] off the async threads.
async fn run(target: &Target, zd: &Zendesk, args: &[&str]) -> (Value, u64) {
    let (target, zd) = (target.clone(), zd.clone());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || zdsync(&target, &zd, &args))
        .await
        .expect("zdsync joins")
}

/// What the bench measured of one variant's first sync.
struct Figures {
    store: Store,
    tickets: usize,
    wall_s: f64,
    /// `zdsync --json sync`'s answer; for the lambda path the run records'
    /// reports (`reports`) and the largest peak RSS of its commands.
    report: Value,
    /// The DynamoDB requests of the sync (DynamoDB only).
    dynamo: Option<Counts>,
    /// What the simulator answered during the sync.
    sim: SimStats,
    /// The lambda path's queue: windows planned, work items handled.
    queue: Option<Value>,
}

impl Figures {
    /// A figure of the sync's reports, summed over its runs.
    fn sum(&self, pointer: &str) -> u64 {
        self.report["reports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r.pointer(pointer).and_then(Value::as_u64).unwrap_or(0))
            .sum()
    }

    fn runs(&self) -> usize {
        self.report["reports"].as_array().map_or(0, Vec::len)
    }

    fn pages(&self) -> u64 {
        self.sum("/event_pages") + self.sum("/ticket_pages")
    }

    /// The export-budget lower bound in seconds: the first minute's budget
    /// is free, every further `limit` export requests take a minute.
    fn export_bound_s(&self) -> f64 {
        let limit = f64::from(SimConfig::default().export_limit_per_min);
        ((self.sum("/requests/export") as f64 - limit).max(0.0) / limit) * 60.0
    }

    fn peak_rss_kb(&self) -> u64 {
        self.report["peak_rss_kb"].as_u64().unwrap_or(0)
    }
}

/// The measured part of one variant.
struct Measured {
    wall_s: f64,
    report: Value,
    queue: Option<Value>,
}

/// `zdsync sync acme`, timed.
async fn one_sync(target: &Target, zd: &Zendesk) -> Measured {
    let started = Instant::now();
    let (report, _) = run(target, zd, &["sync", "acme"]).await;
    Measured {
        wall_s: started.elapsed().as_secs_f64(),
        report,
        queue: None,
    }
}

/// Runs `zdsync worker` until the queue is empty (no message visible, in
/// flight or delayed): items re-queued with a delay (a busy lease) make
/// the worker stop before they are visible, so it runs again after a
/// pause. Work items handled, worker runs, largest peak RSS.
async fn drain(target: &Target, zd: &Zendesk, queue: &Queue) -> (u64, usize, u64) {
    let (mut handled, mut runs, mut peak) = (0, 0, 0);
    loop {
        let (out, p) = run(target, zd, &["worker", "--wait-secs", "1"]).await;
        handled += out["handled"]
            .as_u64()
            .expect("zdsync worker says what it handled");
        runs += 1;
        peak = peak.max(p);
        if queue.depth().await == 0 {
            return (handled, runs, peak);
        }
        assert!(
            runs < MAX_WORKER_RUNS,
            "the work queue is still not empty after {runs} worker runs"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// After the worker, every planned window must be read (`zdsync status`,
/// its DynamoDB requests straight to moto, not counted): the documents
/// stored.
async fn windows_done(direct: &Target, zd: &Zendesk) -> u64 {
    let (st, _) = run(direct, zd, &["status", "acme"]).await;
    let conn = &st["connections"][0];
    let plan = &conn["backfill"];
    assert!(
        plan.is_null() || plan["windows_done"] == plan["windows"],
        "the work queue is empty but not every window is done: {plan}"
    );
    conn["counts"]["documents"]
        .as_u64()
        .expect("zdsync status counts the documents")
}

/// The lambda path: `zdsync backfill` plans the windows onto the queue,
/// `zdsync worker` drains it, `zdsync sync` reads the live streams once;
/// timed from the backfill to the end of the sync, the status check
/// between them left out.
async fn lambda_path(target: &Target, zd: &Zendesk, aws: &Aws) -> Measured {
    let queue = aws
        .queue
        .as_ref()
        .expect("the lambda path has a work queue");
    let direct = Target::dynamodb(aws, &aws.moto);
    let started = Instant::now();
    let (plan, planned_peak) = run(target, zd, &["backfill", "acme"]).await;
    let planned = started.elapsed();
    let (handled, worker_runs, worker_peak) = drain(target, zd, queue).await;
    let drained = started.elapsed();
    let stored = windows_done(&direct, zd).await;
    let synced = Instant::now();
    let (sync, sync_peak) = run(target, zd, &["sync", "acme"]).await;
    let sync_s = synced.elapsed().as_secs_f64();
    let printed = sync["peak_rss_kb"].as_u64().unwrap_or(0);
    let peak = [planned_peak, worker_peak, sync_peak, printed];
    let round = |s: f64| (s * 100.0).round() / 100.0;
    let queue = json!({
        "windows": plan["plan"]["windows"].as_array().map_or(0, Vec::len),
        "sequential": plan["plan"]["sequential"],
        "work_items": handled,
        "worker_runs": worker_runs,
        "documents_stored": stored,
        "backfill_s": round(planned.as_secs_f64()),
        "worker_s": round((drained - planned).as_secs_f64()),
        "sync_s": round(sync_s),
    });
    Measured {
        wall_s: drained.as_secs_f64() + sync_s,
        report: json!({"peak_rss_kb": peak.iter().max()}),
        queue: Some(queue),
    }
}

/// One variant's first sync on a fresh simulator: connect (not measured),
/// then the sync ([`one_sync`] or [`lambda_path`]).
async fn first_sync(store: Store, sim_config: SimConfig, aws: Option<Aws>) -> Figures {
    let tickets = sim_config.tickets;
    let sim = SimHandle::start(sim_config).await.expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let target = match &aws {
        Some(aws) => Target::dynamodb(aws, &aws.proxy_url),
        None => Target::embedded(dir.path()),
    };
    let c = sim.credentials();
    let zd = Zendesk {
        url: sim.base_url(),
        token: c.api_token.clone(),
    };
    let connect = ["connect", "acme", "--subdomain", "acme", "--email"];
    run(
        &target,
        &zd,
        &[&connect[..], &[c.admin_email.as_str()]].concat(),
    )
    .await;
    if let Some(aws) = &aws {
        aws.proxy.take();
    }
    sim.reset_stats();
    let m = match &aws {
        Some(aws) if store == Store::Lambda => lambda_path(&target, &zd, aws).await,
        _ => one_sync(&target, &zd).await,
    };
    let sim_stats = sim.stats();
    let dynamo = aws.map(|a| a.proxy.take());
    sim.shutdown().await;
    let mut report = m.report;
    if store == Store::Lambda {
        report["reports"] = json!(dynamo.as_ref().map(|c| &c.runs));
    }
    Figures {
        store,
        tickets,
        wall_s: m.wall_s,
        report,
        dynamo,
        sim: sim_stats,
        queue: m.queue,
    }
}

// ---- printing -------------------------------------------------------------

/// Operations by type per 1,000 tickets: the usual ones, then any other.
fn ops_per_thousand(c: &Counts, tickets: usize) -> Vec<(String, f64)> {
    let listed = OPS
        .iter()
        .map(|op| (op.to_string(), c.ops.get(*op).copied().unwrap_or(0)));
    let others = c
        .ops
        .iter()
        .filter(|(op, _)| !OPS.contains(&op.as_str()))
        .map(|(op, n)| (op.clone(), *n));
    listed
        .chain(others)
        .map(|(op, n)| (op, per_thousand(n, tickets)))
        .collect()
}

fn print_dynamo(c: &Counts, tickets: usize) {
    let total: u64 = c.ops.values().sum();
    let ops = ops_per_thousand(c, tickets)
        .iter()
        .map(|(op, n)| format!("{op} {n:.1}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "  DynamoDB requests (proxy):  {total} ({:.1} per 1,000 tickets); {} not DynamoDB",
        per_thousand(total, tickets),
        c.other
    );
    println!("  operations per 1,000:       {ops}");
    println!(
        "  item writes:                {} ({:.1} per 1,000 tickets)",
        c.item_writes,
        per_thousand(c.item_writes, tickets)
    );
    println!(
        "  write units (WCU, approx.): {} ({:.1} per 1,000 tickets)",
        c.write_units,
        per_thousand(c.write_units, tickets)
    );
}

/// Zendesk requests: from the reports, and as the simulator counted them.
fn print_zendesk(f: &Figures) {
    let t = f.tickets;
    let (requests, export) = (f.sum("/requests/total"), f.sum("/requests/export"));
    println!(
        "  Zendesk requests:           {requests} ({:.2} per 1,000 tickets); export {export} ({:.2} per 1,000); 429 answers {}",
        per_thousand(requests, t),
        per_thousand(export, t),
        f.sum("/requests/responses_429")
    );
    println!(
        "  answered by the simulator:  {} requests; export {}; 429 answers {}",
        f.sim.requests, f.sim.export_requests, f.sim.responses_429
    );
}

fn print_queue(q: &Value) {
    let sequential = if q["sequential"] == true {
        " (one sequential walk)"
    } else {
        ""
    };
    println!(
        "  work queue:                 windows planned {}{sequential}; work items handled {} in {} worker run(s); documents stored {}",
        q["windows"], q["work_items"], q["worker_runs"], q["documents_stored"]
    );
    println!(
        "  time by step:               backfill {} s, worker {} s, sync {} s",
        q["backfill_s"], q["worker_s"], q["sync_s"]
    );
}

fn print_figures(f: &Figures, limits: bool) {
    let bound = f.export_bound_s();
    println!(
        "{}: first sync of {} tickets (limits {}; {} runs)",
        f.store.label(),
        f.tickets,
        if limits { "on" } else { "off" },
        f.runs()
    );
    println!("  wall time:                  {:.1} s", f.wall_s);
    print_zendesk(f);
    println!("  export pages:               {}", f.pages());
    let against = if limits {
        format!("wall time {:.2} x the bound", f.wall_s / bound.max(1e-9))
    } else {
        "with limits on; not binding here".to_string()
    };
    println!("  export-budget bound:        {bound:.1} s ({against})");
    println!(
        "  documents written:          {}",
        f.sum("/documents_written")
    );
    println!(
        "  peak RSS of zdsync:         {} KiB ({:.1} MiB)",
        f.peak_rss_kb(),
        f.peak_rss_kb() as f64 / 1024.0
    );
    if let Some(q) = &f.queue {
        print_queue(q);
    }
    if let Some(c) = &f.dynamo {
        print_dynamo(c, f.tickets);
    }
    println!("json: {}", summary(f, limits));
}

fn dynamo_summary(c: &Counts, tickets: usize) -> Value {
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let ops: serde_json::Map<String, Value> = ops_per_thousand(c, tickets)
        .into_iter()
        .map(|(op, n)| (op, json!(round(n))))
        .collect();
    json!({
        "requests": c.ops.values().sum::<u64>(),
        "ops": c.ops,
        "ops_per_1000": ops,
        "item_writes": c.item_writes,
        "item_writes_per_1000": round(per_thousand(c.item_writes, tickets)),
        "write_units": c.write_units,
        "write_units_per_1000": round(per_thousand(c.write_units, tickets)),
    })
}

/// One store's figures as one JSON object.
fn summary(f: &Figures, limits: bool) -> Value {
    let requests = f.sum("/requests/total");
    let mut v = json!({
        "store": f.store.name(),
        "tickets": f.tickets,
        "limits": limits,
        "runs": f.runs(),
        "wall_s": (f.wall_s * 100.0).round() / 100.0,
        "requests": requests,
        "requests_per_1000": (per_thousand(requests, f.tickets) * 100.0).round() / 100.0,
        "export_requests": f.sum("/requests/export"),
        "responses_429": f.sum("/requests/responses_429"),
        "export_pages": f.pages(),
        "export_bound_s": (f.export_bound_s() * 10.0).round() / 10.0,
        "documents_written": f.sum("/documents_written"),
        "peak_rss_kb": f.peak_rss_kb(),
        "sim": {
            "requests": f.sim.requests,
            "export_requests": f.sim.export_requests,
            "responses_429": f.sim.responses_429,
        },
    });
    if let Some(c) = &f.dynamo {
        v["dynamodb"] = dynamo_summary(c, f.tickets);
    }
    if let Some(q) = &f.queue {
        v["queue"] = q.clone();
    }
    v
}

// ---- main -----------------------------------------------------------------

/// The variants `ZDSYNC_BENCH_STORES` asks for, in its order.
fn stores() -> Vec<Store> {
    let spec = std::env::var("ZDSYNC_BENCH_STORES")
        .unwrap_or_else(|_| "embedded,dynamodb,lambda".to_string());
    let mut out = Vec::new();
    for name in spec.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let named: &[Store] = match name {
            "embedded" => &[Store::Embedded],
            "dynamodb" => &[Store::Dynamodb],
            "lambda" => &[Store::Lambda],
            "both" => &[Store::Embedded, Store::Dynamodb],
            other => panic!(
                "ZDSYNC_BENCH_STORES: {other:?}? use a comma-separated list of embedded, dynamodb, lambda (both = embedded,dynamodb)"
            ),
        };
        for s in named {
            if !out.contains(s) {
                out.push(*s);
            }
        }
    }
    assert!(
        !out.is_empty(),
        "ZDSYNC_BENCH_STORES={spec:?} names no variant"
    );
    out
}

fn limits() -> bool {
    match std::env::var("ZDSYNC_BENCH_LIMITS").as_deref() {
        Ok("on") | Err(_) => true,
        Ok("off") => false,
        Ok(other) => panic!("ZDSYNC_BENCH_LIMITS={other}: use on or off"),
    }
}

/// Runs one variant's first sync and prints its figures when it finishes.
async fn measure(store: Store, config: SimConfig, aws: Option<Aws>, limits: bool) -> Figures {
    let f = first_sync(store, config, aws).await;
    print_figures(&f, limits);
    f
}

/// Each other variant's wall time against the embedded store's, and their
/// documents written.
fn print_ratios(all: &[Figures]) {
    let Some(e) = all.iter().find(|f| f.store == Store::Embedded) else {
        return;
    };
    let docs = |f: &Figures| f.sum("/documents_written");
    for f in all.iter().filter(|f| f.store != Store::Embedded) {
        println!(
            "{} / embedded wall time: {:.2} ({:.1} s / {:.1} s); documents written {} / {}{}",
            f.store.name(),
            f.wall_s / e.wall_s.max(1e-9),
            f.wall_s,
            e.wall_s,
            docs(f),
            docs(e),
            if docs(f) == docs(e) { "" } else { " (DIFFER)" }
        );
    }
}

/// Runs the variants: at the same time with limits on, else one after the
/// other; their figures in the order asked.
async fn run_all(
    variants: Vec<(Store, Option<Aws>)>,
    config: SimConfig,
    limits: bool,
) -> Vec<Figures> {
    let mut all = Vec::new();
    if limits {
        let runs: Vec<_> = variants
            .into_iter()
            .map(|(s, aws)| tokio::spawn(measure(s, config.clone(), aws, limits)))
            .collect();
        for r in runs {
            all.push(r.await.expect("a variant's run joins"));
        }
    } else {
        for (s, aws) in variants {
            all.push(measure(s, config.clone(), aws, limits).await);
        }
    }
    all
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tickets = env_usize("ZDSYNC_BENCH_TICKETS", 50_000);
    let (limits, stores) = (limits(), stores());
    let config = SimConfig {
        tickets,
        rate_limits: limits,
        ..SimConfig::default()
    };
    println!(
        "zdsync first sync on {stores:?} (cargo bench -p zdsync --bench stores): {tickets} tickets, limits {}",
        if limits { "on" } else { "off" }
    );
    let moto = stores.iter().any(|s| s.on_dynamodb()).then(moto_endpoint);
    let mut variants = Vec::new();
    for s in stores {
        let aws = match &moto {
            Some((endpoint, _)) if s.on_dynamodb() => Some(Aws::setup(endpoint, s).await),
            _ => None,
        };
        variants.push((s, aws));
    }
    let all = run_all(variants, config, limits).await;
    print_ratios(&all);
}
