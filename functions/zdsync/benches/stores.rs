//! A connection's first sync (its backfill) on both stores, measured end to
//! end: the release `zdsync` binary of this build against the project's
//! Zendesk simulator (in this process, on loopback), once on the embedded
//! store (`--data-dir`) and once on DynamoDB (`--store dynamodb`, on moto).
//! Each store gets a simulator of its own, with the same configuration and
//! seed, so both runs see the same account.
//!
//! ```sh
//! cargo bench -p zdsync --bench stores
//! ```
//!
//! For each store it prints the sync's wall time; Zendesk requests (total and
//! per 1,000 tickets, export requests, 429 answers) and export pages, summed
//! over the runs of the first sync (the last hour, the planned windows, the
//! live streams: every entry of `reports` in `zdsync --json sync`); the
//! export-budget lower bound (export requests ÷ the simulator's export
//! budget a minute, the first minute's budget free); documents written; the
//! peak RSS of the `zdsync` process (`peak_rss_kb`). For DynamoDB also the
//! operations per 1,000 tickets by type, item writes per 1,000 tickets
//! (`PutRequest`/`DeleteRequest` entries of `BatchWriteItem`, `PutItem`,
//! `DeleteItem`, `UpdateItem`, and the `Put`/`Update`/`Delete` entries of
//! `TransactWriteItems`) and write units per 1,000 tickets (a written item
//! costs ceil(size / 1 KB) WCU, its size approximated by the length of its
//! JSON in the request, at least 1; a delete costs 1; a transactional write
//! twice that). DynamoDB requests are counted on the wire by a counting
//! proxy in this process in front of moto (`AWS_ENDPOINT_URL_DYNAMODB`
//! points `zdsync` at it; Secrets Manager goes to moto directly through
//! `AWS_ENDPOINT_URL`): a retried request counts each time it is sent.
//! The connect before the sync is not counted. At the end: the ratio of
//! DynamoDB's wall time to the embedded store's. Each store's figures are
//! also printed as one line of JSON (prefix `json: `) for the README.
//!
//! Environment:
//! - `ZDSYNC_BENCH_TICKETS`: tickets in the simulated account (default 50000).
//! - `ZDSYNC_BENCH_LIMITS`: `on` (default: the simulator's realistic budgets,
//!   account 700/min, exports 10/min, conversation logs 100/min) or `off`
//!   (no rate limits: the figures are then the stores' and the CPU's).
//! - `ZDSYNC_BENCH_STORES`: `both` (default), `embedded` or `dynamodb`.
//!   With `both` and limits on, the two syncs run at the same time (two
//!   simulators, two processes, the same start): at realistic limits a
//!   50,000-ticket first sync waits about an hour on Zendesk's budgets, and
//!   each store's figures are printed as it finishes. With limits off they
//!   run one after the other (embedded first), as they would otherwise
//!   share this machine's cores and moto's CPU and each skew the other's
//!   wall time.
//! - `ZDSYNC_TEST_AWS_ENDPOINT`: a running moto to use; without it the bench
//!   starts `moto_server` (`.venv/bin/moto_server` of the workspace, else the
//!   one on `PATH`) on a free port and stops it at the end.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use zdsync_store_dynamodb::DynamoStore;
use zendesk_sim::{SimConfig, SimHandle};

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
        let mut c = self.counts.lock().expect("counts lock");
        let Some(op) = target.strip_prefix("DynamoDB_20120810.") else {
            c.other += 1;
            return;
        };
        *c.ops.entry(op.to_string()).or_default() += 1;
        let (items, units) = writes_of(op, body);
        c.item_writes += items;
        c.write_units += units;
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

/// Item writes and write units of one request of operation `op`.
fn writes_of(op: &str, body: &[u8]) -> (u64, u64) {
    if !matches!(
        op,
        "BatchWriteItem" | "PutItem" | "DeleteItem" | "UpdateItem" | "TransactWriteItems"
    ) {
        return (0, 0);
    }
    let v: Value = serde_json::from_slice(body).expect("a DynamoDB request body is JSON");
    match op {
        "PutItem" => (1, wcu(json_len(&v["Item"]))),
        "DeleteItem" => (1, 1),
        "UpdateItem" => (1, wcu(update_len(&v))),
        "BatchWriteItem" => batch_writes(&v),
        _ => transact_writes(&v),
    }
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

/// Creates `table` on moto (directly, not through the proxy).
async fn create_table(endpoint: &str, table: &str) {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    DynamoStore::new(zdsync_store_dynamodb::client(&conf), table)
        .create_table()
        .await
        .expect("create the table on moto");
}

// ---- the runs -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Store {
    Embedded,
    Dynamodb,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Embedded => "embedded",
            Store::Dynamodb => "dynamodb",
        }
    }
}

/// Where a DynamoDB run goes: moto, and the proxy in front of its DynamoDB.
#[derive(Clone)]
struct Aws {
    moto: String,
    proxy_url: String,
    proxy: Arc<Proxy>,
    table: String,
}

/// Arguments and environment of `zdsync` for one store.
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

    fn dynamodb(aws: &Aws) -> Target {
        let env = [
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &aws.moto),
            ("AWS_ENDPOINT_URL_DYNAMODB", &aws.proxy_url),
            ("ZDSYNC_TABLE", &aws.table),
        ];
        Target {
            args: vec!["--store".into(), "dynamodb".into()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// Runs `zdsync --json <args>` for `target` (blocking); its JSON answer.
fn zdsync(target: &Target, sim_url: &str, token: &str, args: &[&str]) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zdsync"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ZENDESK_") || k.starts_with("ZDSYNC_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(&target.args)
        .arg("--json")
        .args(args)
        .envs(target.env.iter().map(|(k, v)| (k, v)))
        .env("ZENDESK_API_URL", sim_url)
        .env("ZENDESK_API_TOKEN", token)
        .env_remove("RUST_LOG")
        .output()
        .expect("zdsync runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "zdsync {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("zdsync --json prints one JSON object")
}

/// What the bench measured of one store's first sync.
struct Figures {
    store: Store,
    tickets: usize,
    wall_s: f64,
    /// `zdsync --json sync`'s answer.
    report: Value,
    /// The DynamoDB requests of the sync (DynamoDB only).
    dynamo: Option<Counts>,
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

/// One store's first sync on a fresh simulator: connect (not measured),
/// then `zdsync sync acme`, timed.
async fn first_sync(store: Store, sim_config: SimConfig, aws: Option<Aws>) -> Figures {
    let tickets = sim_config.tickets;
    let sim = SimHandle::start(sim_config).await.expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let target = match &aws {
        Some(aws) => Target::dynamodb(aws),
        None => Target::embedded(dir.path()),
    };
    let c = sim.credentials();
    let url = sim.base_url();
    let target = tokio::task::spawn_blocking(move || {
        let connect = ["connect", "acme", "--subdomain", "acme", "--email"];
        let args = [&connect[..], &[c.admin_email.as_str()]].concat();
        zdsync(&target, &url, &c.api_token, &args);
        target
    })
    .await
    .expect("connect joins");
    if let Some(aws) = &aws {
        aws.proxy.take();
    }
    let (url, token) = (sim.base_url(), sim.credentials().api_token);
    let started = Instant::now();
    let report =
        tokio::task::spawn_blocking(move || zdsync(&target, &url, &token, &["sync", "acme"]))
            .await
            .expect("sync joins");
    let wall_s = started.elapsed().as_secs_f64();
    let dynamo = aws.map(|a| a.proxy.take());
    sim.shutdown().await;
    Figures {
        store,
        tickets,
        wall_s,
        report,
        dynamo,
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

fn print_figures(f: &Figures, limits: bool) {
    let t = f.tickets;
    let (requests, export) = (f.sum("/requests/total"), f.sum("/requests/export"));
    let bound = f.export_bound_s();
    println!(
        "{} store: first sync of {t} tickets (limits {}; {} runs)",
        f.store.name(),
        if limits { "on" } else { "off" },
        f.runs()
    );
    println!("  wall time:                  {:.1} s", f.wall_s);
    println!(
        "  Zendesk requests:           {requests} ({:.2} per 1,000 tickets); export {export} ({:.2} per 1,000); 429 answers {}",
        per_thousand(requests, t),
        per_thousand(export, t),
        f.sum("/requests/responses_429")
    );
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
    if let Some(c) = &f.dynamo {
        print_dynamo(c, t);
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
    });
    if let Some(c) = &f.dynamo {
        v["dynamodb"] = dynamo_summary(c, f.tickets);
    }
    v
}

// ---- main -----------------------------------------------------------------

/// The stores `ZDSYNC_BENCH_STORES` asks for.
fn stores() -> Vec<Store> {
    match std::env::var("ZDSYNC_BENCH_STORES").as_deref() {
        Ok("embedded") => vec![Store::Embedded],
        Ok("dynamodb") => vec![Store::Dynamodb],
        Ok("both") | Err(_) => vec![Store::Embedded, Store::Dynamodb],
        Ok(other) => panic!("ZDSYNC_BENCH_STORES={other}: use both, embedded or dynamodb"),
    }
}

fn limits() -> bool {
    match std::env::var("ZDSYNC_BENCH_LIMITS").as_deref() {
        Ok("on") | Err(_) => true,
        Ok("off") => false,
        Ok(other) => panic!("ZDSYNC_BENCH_LIMITS={other}: use on or off"),
    }
}

/// moto (started here unless `ZDSYNC_TEST_AWS_ENDPOINT` names one), a fresh
/// table on it and a counting proxy in front of its DynamoDB.
async fn aws_setup() -> (Aws, Option<Moto>) {
    let (moto, started) = match std::env::var("ZDSYNC_TEST_AWS_ENDPOINT") {
        Ok(e) => (e, None),
        Err(_) => {
            let (e, m) = start_moto();
            (e, Some(m))
        }
    };
    let table = format!("zdsync-bench-stores-{}", std::process::id());
    create_table(&moto, &table).await;
    let (proxy_url, proxy) = start_proxy(&moto).await;
    println!("moto at {moto}; DynamoDB through the counting proxy at {proxy_url}; table {table}");
    let aws = Aws {
        moto,
        proxy_url,
        proxy,
        table,
    };
    (aws, started)
}

/// Runs one store's first sync and prints its figures when it finishes.
async fn measure(store: Store, config: SimConfig, aws: Option<Aws>, limits: bool) -> Figures {
    let f = first_sync(store, config, aws).await;
    print_figures(&f, limits);
    f
}

fn print_ratio(all: &[Figures]) {
    let of = |s: Store| all.iter().find(|f| f.store == s);
    let (Some(e), Some(d)) = (of(Store::Embedded), of(Store::Dynamodb)) else {
        return;
    };
    let docs = |f: &Figures| f.sum("/documents_written");
    println!(
        "dynamodb / embedded wall time: {:.2} ({:.1} s / {:.1} s); documents written {} / {}{}",
        d.wall_s / e.wall_s.max(1e-9),
        d.wall_s,
        e.wall_s,
        docs(d),
        docs(e),
        if docs(d) == docs(e) { "" } else { " (DIFFER)" }
    );
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
    let (aws, _moto) = if stores.contains(&Store::Dynamodb) {
        let (a, m) = aws_setup().await;
        (Some(a), m)
    } else {
        (None, None)
    };
    let run = |s: Store| {
        let aws = aws.clone().filter(|_| s == Store::Dynamodb);
        measure(s, config.clone(), aws, limits)
    };
    let all = if limits && stores.len() == 2 {
        let (e, d) = tokio::join!(run(Store::Embedded), run(Store::Dynamodb));
        vec![e, d]
    } else {
        let mut all = Vec::new();
        for s in stores {
            all.push(run(s).await);
        }
        all
    };
    print_ratio(&all);
}
