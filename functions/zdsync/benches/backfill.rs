//! Backfill figures, measured end to end: the `zdsync` binary of this build
//! against the project's Zendesk simulator (in this process, on loopback).
//!
//! `cargo bench -p zdsync --bench backfill` prints:
//! - Zendesk requests per 1,000 tickets for a full backfill of 10,000 tickets
//!   with realistic limits (account 700/min, incremental exports 10/min), and
//!   how many answers were 429, split into bulk requests and per-ticket
//!   reads (chat histories, conversation logs, comment gaps);
//! - the backfill's wall time against the export-budget lower bound (the
//!   exports alone, `ZDSYNC_BOTH_ENDS=off`, as every figure but
//!   `both-ends`'s);
//! - an hourly sync with nothing changed: requests and data writes;
//! - peak RSS of a 20,000-ticket backfill (limits off: memory does not
//!   depend on pacing);
//! - a backfill planned as windows (what the Lambdas run), in this process
//!   on an embedded store (limits off): requests and store writes per 1,000
//!   tickets, against the sequential walk (`ZDSYNC_BENCH_WINDOWS`, 16).
//!
//! Sizes can be changed with `ZDSYNC_BENCH_TICKETS` and
//! `ZDSYNC_BENCH_RSS_TICKETS` (a quick run: 2000 and 4000);
//! - the same account through an agent's connection (the search export and
//!   per-ticket comments): requests per 1,000 tickets, 429s, wall time
//!   against the account-budget bound, and an idle hourly sync.
//!
//! `ZDSYNC_BENCH_ONLY=recent` measures, on 50,000 tickets with realistic
//! limits, how soon the last 30 days are documents against the whole
//! backfill (the first sync reads the newest window first).
//!
//! `ZDSYNC_BENCH_ONLY=both-ends` measures a first sync of 10,000 tickets
//! read from both ends (`ZDSYNC_BOTH_ENDS=auto`) against the same account
//! read by the exports alone (`off`, the default), side by side, on an
//! account whose export budget binds (account 700/min, exports 10/min,
//! conversation logs 300/min, the High Volume figure);
//! `ZDSYNC_BENCH_ACCOUNT_LIMIT` sets another account budget (400 for a
//! Professional plan).
//!
//! `ZDSYNC_BENCH_ONLY=windows` runs only the windowed comparison,
//! `ZDSYNC_BENCH_ONLY=rss` only the peak RSS, `ZDSYNC_BENCH_ONLY=agent`
//! only the agent connection.
//!
//! Each `zdsync` run logs at `ZDSYNC_BENCH_RUST_LOG` (`RUST_LOG` syntax;
//! `warn` by default); with `ZDSYNC_BENCH_LOG_DIR` set, each run's log is
//! kept there, named after its environment, command and run number (for example
//! `ZDSYNC_BENCH_RUST_LOG="zdsync_engine::pincer=debug,zdsync_zendesk::limiter=debug,info"`
//! shows the two walks' moves and every wait of the rate limiter).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use zendesk_sim::{SimConfig, SimHandle};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn zdsync(data: &Path, url: &str, token: &str, args: &[&str]) -> Value {
    zdsync_with(data, url, token, args, &[])
}

fn zdsync_with(data: &Path, url: &str, token: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let rust_log = std::env::var("ZDSYNC_BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into());
    let out = Command::new(env!("CARGO_BIN_EXE_zdsync"))
        .envs(env.iter().copied())
        .env("RUST_LOG", rust_log)
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .args(args)
        .env("ZENDESK_API_URL", url)
        .env("ZENDESK_API_TOKEN", token)
        .output()
        .expect("zdsync runs");
    if let Ok(dir) = std::env::var("ZDSYNC_BENCH_LOG_DIR") {
        keep_log(&dir, env, args[0], &out.stderr);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "zdsync {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON object")
}

/// Writes a run's log into `dir`, named after its environment, its command
/// and its place among the bench's runs (a bench runs `sync` many times).
fn keep_log(dir: &str, env: &[(&str, &str)], command: &str, log: &[u8]) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let label: String = env.iter().map(|(k, v)| format!("{k}={v}-")).collect();
    let name = format!("{dir}/{label}{command}-{n}.log");
    if let Err(e) = std::fs::write(&name, log) {
        eprintln!("could not keep the log in {name}: {e}");
    }
}

async fn backfill(tickets: usize, rate_limits: bool) -> (SimHandle, tempfile::TempDir, Value, f64) {
    backfill_as(tickets, rate_limits, |c| c.admin_email.clone()).await
}

/// A backfill by the simulator's user that `who` picks (an admin, an agent),
/// read by the exports alone (`ZDSYNC_BOTH_ENDS=off`, the default, said
/// outright: `both-ends` measures reading from both ends against it).
async fn backfill_as(
    tickets: usize,
    rate_limits: bool,
    who: fn(&zendesk_sim::SimCredentials) -> String,
) -> (SimHandle, tempfile::TempDir, Value, f64) {
    let config = SimConfig {
        tickets,
        rate_limits,
        ..SimConfig::default()
    };
    backfill_on(config, who, &[("ZDSYNC_BOTH_ENDS", "off")]).await
}

/// A backfill of the account `config` describes, with `env` set for the
/// command.
async fn backfill_on(
    config: SimConfig,
    who: fn(&zendesk_sim::SimCredentials) -> String,
    env: &'static [(&'static str, &'static str)],
) -> (SimHandle, tempfile::TempDir, Value, f64) {
    let sim = SimHandle::start(config).await.expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let c = sim.credentials();
    let url = sim.base_url();
    let data = dir.path().to_path_buf();
    let (url2, token) = (url.clone(), c.api_token.clone());
    let email = who(&c);
    tokio::task::spawn_blocking(move || {
        zdsync(
            &data,
            &url2,
            &token,
            &["connect", "acme", "--subdomain", "acme", "--email", &email],
        )
    })
    .await
    .expect("join");
    let data = dir.path().to_path_buf();
    let token = c.api_token.clone();
    let started = Instant::now();
    let report = tokio::task::spawn_blocking(move || {
        zdsync_with(&data, &url, &token, &["sync", "acme"], env)
    })
    .await
    .expect("join");
    (sim, dir, report, started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tickets = env_usize("ZDSYNC_BENCH_TICKETS", 10_000);
    let rss_tickets = env_usize("ZDSYNC_BENCH_RSS_TICKETS", 20_000);
    let export_limit = SimConfig::default().export_limit_per_min as f64;
    println!("zdsync backfill benchmark (cargo bench -p zdsync --bench backfill)");
    if std::env::var("ZDSYNC_BENCH_ONLY").as_deref() == Ok("windows") {
        windowed(tickets, env_usize("ZDSYNC_BENCH_WINDOWS", 16)).await;
        return;
    }

    if std::env::var("ZDSYNC_BENCH_ONLY").as_deref() == Ok("rss") {
        peak_rss(rss_tickets).await;
        return;
    }
    if std::env::var("ZDSYNC_BENCH_ONLY").as_deref() == Ok("agent") {
        agent_backfill(tickets).await;
        return;
    }
    if std::env::var("ZDSYNC_BENCH_ONLY").as_deref() == Ok("both-ends") {
        both_ends(tickets).await;
        return;
    }
    if std::env::var("ZDSYNC_BENCH_ONLY").as_deref() == Ok("recent") {
        recent_first(env_usize("ZDSYNC_BENCH_TICKETS", 50_000)).await;
        return;
    }

    // 1. Full backfill with realistic limits.
    let (sim, dir, report, wall) = backfill(tickets, true).await;
    let r = &report["reports"][0];
    let requests = r["requests"]["total"].as_u64().unwrap_or(0);
    let r429 = r["requests"]["responses_429"].as_u64().unwrap_or(0);
    let export = r["requests"]["export"].as_u64().unwrap_or(0);
    let pages = r["ticket_pages"].as_u64().unwrap_or(0) + r["event_pages"].as_u64().unwrap_or(0);
    let docs = r["documents_written"].as_u64().unwrap_or(0);
    let count = |k: &str| r[k].as_u64().unwrap_or(0);
    let (gaps, histories, logs) = (
        count("gap_fetches"),
        count("chat_history_reads"),
        count("conversation_log_reads"),
    );
    let per_ticket = gaps + histories + logs;
    // The budget starts full: the first `limit` export requests need no wait.
    let bound_s = ((export as f64 - export_limit).max(0.0) / export_limit) * 60.0;
    let simple_bound_s = export as f64 / export_limit * 60.0;
    let sim_stats = sim.stats();
    println!("backfill of {tickets} tickets (account 700/min, exports {export_limit}/min):");
    println!("  documents written:          {docs}");
    println!(
        "  Zendesk requests:           {requests} ({:.2} per 1,000 tickets); export requests {export}; pages {pages}",
        requests as f64 * 1000.0 / tickets as f64
    );
    println!(
        "  bulk requests:              {} ({:.2} per 1,000 tickets: exports, fields, users, organizations, reasons)",
        requests - per_ticket,
        (requests - per_ticket) as f64 * 1000.0 / tickets as f64
    );
    println!(
        "  per-ticket requests:        {per_ticket} ({:.2} per 1,000 tickets): {histories} chat histories (audits), {logs} conversation logs, {gaps} comment gap fetches",
        per_ticket as f64 * 1000.0 / tickets as f64
    );
    println!(
        "  429 responses:              {r429} (client) / {} (simulator)",
        sim_stats.responses_429
    );
    println!(
        "  wall time:                  {wall:.1} s; export-budget bound {bound_s:.1} s (full first window) / {simple_bound_s:.1} s (pages / 10 per min): ratio {:.3} / {:.3}",
        if bound_s > 0.0 {
            wall / bound_s
        } else {
            f64::NAN
        },
        wall / simple_bound_s.max(1e-9)
    );

    // 2. Hourly sync with nothing changed. An hourly run starts with fresh
    //    budgets: wait for the export window the backfill used up to turn.
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    sim.reset_stats();
    let data = dir.path().to_path_buf();
    let c = sim.credentials();
    let url = sim.base_url();
    let again =
        tokio::task::spawn_blocking(move || zdsync(&data, &url, &c.api_token, &["sync", "acme"]))
            .await
            .expect("join");
    let a = &again["reports"][0];
    let data_writes = [
        "documents_written",
        "documents_deleted",
        "states_written",
        "tickets_deleted",
        "entities_written",
        "cursor_writes",
    ]
    .iter()
    .map(|k| a[*k].as_u64().unwrap_or(0))
    .sum::<u64>();
    println!(
        "unchanged hourly sync: {} requests {:?}, {} data writes (documents, states, users, cursors), {} ms",
        a["requests"]["total"],
        sim.stats().by_endpoint,
        data_writes,
        a["duration_ms"]
    );
    sim.shutdown().await;
    drop(dir);

    // 3. Peak RSS of a larger backfill.
    peak_rss(rss_tickets).await;

    // 4. The same account backfilled as windows (the Lambda path).
    windowed(tickets, env_usize("ZDSYNC_BENCH_WINDOWS", 16)).await;

    // 5. The same account through an agent's connection (search export).
    agent_backfill(tickets).await;
}

/// The backfill of an agent connection (the search export and per-ticket
/// comments, on the account budget) with realistic limits, then an idle
/// hourly sync.
async fn agent_backfill(tickets: usize) {
    let (sim, dir, report, wall) = backfill_as(tickets, true, |c| c.agent_email.clone()).await;
    let r = &report["reports"][0];
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let requests = r["requests"]["total"].as_u64().unwrap_or(0);
    let account = SimConfig::default().account_limit_per_min as f64;
    // The account budget starts full: the first minute's requests need no wait.
    let bound_s = ((requests as f64 - account).max(0.0) / account) * 60.0;
    println!(
        "agent backfill of {tickets} tickets (search export, account 700/min, search export 100/min):"
    );
    println!("  documents written:          {}", n("documents_written"));
    println!(
        "  Zendesk requests:           {requests} ({:.1} per 1,000 tickets): {} search pages, {} comment reads, {} chat histories, {} conversation logs",
        requests as f64 * 1000.0 / tickets as f64,
        n("ticket_pages"),
        n("comment_reads"),
        n("chat_history_reads"),
        n("conversation_log_reads")
    );
    println!(
        "  429 responses:              {} (client) / {} (simulator)",
        r["requests"]["responses_429"],
        sim.stats().responses_429
    );
    println!(
        "  wall time:                  {wall:.1} s; account-budget bound {bound_s:.1} s: ratio {:.3}",
        wall / bound_s.max(1e-9)
    );
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    sim.advance_clock(3_600);
    sim.reset_stats();
    let data = dir.path().to_path_buf();
    let c = sim.credentials();
    let url = sim.base_url();
    let again =
        tokio::task::spawn_blocking(move || zdsync(&data, &url, &c.api_token, &["sync", "acme"]))
            .await
            .expect("join");
    let a = &again["reports"][0];
    println!(
        "  unchanged hourly sync:      {} requests {:?}, {} comment reads, {} ms",
        a["requests"]["total"],
        sim.stats().by_endpoint,
        a["comment_reads"],
        a["duration_ms"]
    );
    sim.shutdown().await;
}

/// Peak RSS of a backfill of `rss_tickets` tickets (limits off).
async fn peak_rss(rss_tickets: usize) {
    let (sim, dir, report, wall) = backfill(rss_tickets, false).await;
    println!(
        "backfill of {rss_tickets} tickets (limits off): peak RSS {} KiB ({:.1} MiB), {:.1} s, {} documents",
        report["peak_rss_kb"],
        report["peak_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
        wall,
        report["reports"][0]["documents_written"]
    );
    sim.shutdown().await;
    drop(dir);
}

/// Collects the planned work items (SQS is exercised by the tests).
#[derive(Default)]
struct Collect(std::sync::Mutex<Vec<zdsync_store::WorkItem>>);

#[async_trait::async_trait]
impl zdsync_store::WorkQueue for Collect {
    async fn enqueue(&self, items: &[zdsync_store::WorkItem]) -> zdsync_store::Result<()> {
        self.0.lock().expect("queue").extend_from_slice(items);
        Ok(())
    }
}

async fn windowed(tickets: usize, windows: usize) {
    use zdsync_engine::sync::{SyncOptions, SyncReport, sync_connection, sync_window};
    let sim = SimHandle::start(SimConfig {
        tickets,
        rate_limits: false,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let c = sim.credentials();
    let mut totals = Vec::new();
    // Sequential walk; a plan with the default window count; a plan with
    // `windows` windows.
    for variant in [None, Some(None), Some(Some(windows))] {
        let plan_windows = variant.flatten();
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = zdsync_engine::Engine::new(
            std::sync::Arc::new(
                zdsync_store_embedded::EmbeddedStore::open(&dir.path().join("zdsync.sqlite"))
                    .expect("store"),
            ),
            std::sync::Arc::new(
                zdsync_store_embedded::FileSecretStore::new(&dir.path().join("secrets"))
                    .expect("secrets"),
            ),
            zdsync_engine::Settings {
                api_url_override: Some(sim.base_url()),
                secret_prefix: "zdsync-".into(),
                tune_client: None,
                trial_limit: None,
            },
        );
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
        .expect("connect");
        let mut reports: Vec<SyncReport> = Vec::new();
        let mut planned = 0;
        if variant.is_some() {
            let queue = Collect::default();
            let plan = zdsync_engine::backfill::plan_backfill(
                &engine,
                "acme",
                &queue,
                plan_windows,
                &SyncOptions::default(),
            )
            .await
            .expect("plan");
            planned = plan.windows.len();
            let items = queue.0.lock().expect("queue").clone();
            for item in items {
                let w = item.window.expect("window");
                reports.push(
                    sync_window(&engine, "acme", w, &SyncOptions::default())
                        .await
                        .expect("window"),
                );
            }
        }
        reports.push(
            sync_connection(&engine, "acme", &SyncOptions::default())
                .await
                .expect("sync"),
        );
        let sum = |f: &dyn Fn(&SyncReport) -> u64| reports.iter().map(f).sum::<u64>();
        let requests = sum(&|r| r.requests.total);
        let export = sum(&|r| r.requests.export);
        let gaps = sum(&|r| r.counters.gap_fetches);
        let threads = sum(&|r| r.counters.chat_history_reads + r.counters.conversation_log_reads);
        let writes = sum(&|r| r.counters.data_writes());
        let states = sum(&|r| r.counters.states_written);
        let docs = sum(&|r| r.counters.documents_written);
        let label = match variant {
            None => "sequential walk".to_string(),
            Some(None) => format!("{planned} windows (default count) + live sync"),
            Some(Some(_)) => format!("{planned} windows + live sync"),
        };
        println!(
            "backfill as {label} ({tickets} tickets, limits off): {requests} requests ({:.2} per 1,000; {export} export pages, {gaps} gap fetches, {threads} chat histories and conversation logs); {writes} store item writes ({:.0} per 1,000: {docs} documents, {states} states)",
            requests as f64 * 1000.0 / tickets as f64,
            writes as f64 * 1000.0 / tickets as f64
        );
        let mut lines = Vec::new();
        zdsync_engine::status::for_each_document(&engine, Some("acme"), |row| {
            lines.push(row.body.clone());
            Ok(())
        })
        .await
        .expect("export");
        totals.push(lines);
    }
    println!(
        "  documents identical in all three: {}",
        totals.windows(2).all(|p| p[0] == p[1])
    );
    sim.shutdown().await;
}

/// The first sync of a large account with realistic limits: the last hour,
/// then history newest window first. Prints when the newest window (which
/// holds at least the last 30 days) was read whole, against the whole
/// backfill's wall time.
async fn recent_first(tickets: usize) {
    let (sim, _dir, report, wall) = backfill(tickets, true).await;
    let reports = report["reports"].as_array().cloned().unwrap_or_default();
    let ms = |r: &Value| r["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
    let newest = reports.iter().position(|r| !r["window"].is_null());
    let Some(i) = newest else {
        println!(
            "recent first: no window was planned ({} runs)",
            reports.len()
        );
        return;
    };
    let w = &reports[i]["window"];
    let days = (w["until"].as_i64().unwrap_or(0) - w["from"].as_i64().unwrap_or(0)) / 86_400;
    let to_recent: f64 = reports[..=i].iter().map(ms).sum();
    let requests: u64 = reports
        .iter()
        .map(|r| r["requests"]["total"].as_u64().unwrap_or(0))
        .sum();
    let r429: u64 = reports
        .iter()
        .map(|r| r["requests"]["responses_429"].as_u64().unwrap_or(0))
        .sum();
    println!(
        "first sync of {tickets} tickets (account 700/min, exports 10/min, logs 100/min), newest window first:"
    );
    println!("  the last hour, then the newest window ({days} days) read whole: {to_recent:.1} s",);
    println!(
        "  the whole backfill ({} runs: the last hour, {} windows, the live streams again): {wall:.1} s; {requests} requests, {r429} × 429 (simulator: {})",
        reports.len(),
        reports.iter().filter(|r| !r["window"].is_null()).count(),
        sim.stats().responses_429
    );
    sim.shutdown().await;
}

/// Figures summed over a first sync's run reports.
struct Sums {
    requests: u64,
    export: u64,
    r429: u64,
    comment_reads: u64,
    event_pages: u64,
    documents: u64,
}

fn sums(report: &Value) -> Sums {
    let reports = report["reports"].as_array().cloned().unwrap_or_default();
    let sum = |f: &dyn Fn(&Value) -> &Value| -> u64 {
        reports.iter().map(|r| f(r).as_u64().unwrap_or(0)).sum()
    };
    Sums {
        requests: sum(&|r| &r["requests"]["total"]),
        export: sum(&|r| &r["requests"]["export"]),
        r429: sum(&|r| &r["requests"]["responses_429"]),
        comment_reads: sum(&|r| &r["comment_reads"]),
        event_pages: sum(&|r| &r["event_pages"]),
        documents: sum(&|r| &r["documents_written"]),
    }
}

/// A first sync read from both ends against the exports alone, each on its
/// own simulator of the same account, at the same time.
async fn both_ends(tickets: usize) {
    let account = std::env::var("ZDSYNC_BENCH_ACCOUNT_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SimConfig::default().account_limit_per_min);
    let config = SimConfig {
        tickets,
        account_limit_per_min: account,
        omnilog_limit_per_min: 300,
        ..SimConfig::default()
    };
    let admin = |c: &zendesk_sim::SimCredentials| c.admin_email.clone();
    let (both, alone) = tokio::join!(
        backfill_on(config.clone(), admin, &[("ZDSYNC_BOTH_ENDS", "auto")]),
        backfill_on(config, admin, &[("ZDSYNC_BOTH_ENDS", "off")]),
    );
    let (sim_b, _dir_b, report_b, wall_b) = both;
    let (sim_a, _dir_a, report_a, wall_a) = alone;
    let (b, a) = (sums(&report_b), sums(&report_a));
    let export_limit = SimConfig::default().export_limit_per_min as f64;
    // The export-only bound, from the export requests the exports alone
    // sent as the simulator counted them (the backfill's plan included,
    // which no run's report counts): all of them at 10 a minute, or all but
    // the first minute's 10.
    let export_a = sim_a.stats().export_requests;
    let simple = export_a as f64 / export_limit * 60.0;
    let strict = (export_a as f64 - export_limit).max(0.0) / export_limit * 60.0;
    println!(
        "first sync of {tickets} tickets (account {account}/min, exports 10/min, logs 300/min):"
    );
    for (label, s, wall, sim) in [
        ("exports alone (ZDSYNC_BOTH_ENDS=off)", &a, wall_a, &sim_a),
        ("both ends (ZDSYNC_BOTH_ENDS=auto)", &b, wall_b, &sim_b),
    ] {
        println!(
            "  {label}: {wall:.1} s; {} requests ({} export, {} event pages, {} comments per ticket), {} documents written, {} x 429 (simulator: {})",
            s.requests,
            s.export,
            s.event_pages,
            s.comment_reads,
            s.documents,
            s.r429,
            sim.stats().responses_429
        );
    }
    for (label, sim) in [("exports alone", &sim_a), ("both ends", &sim_b)] {
        let st = sim.stats();
        let exports: Vec<String> = st
            .by_endpoint
            .iter()
            .filter(|(k, _)| k.starts_with("incremental/"))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "  {label}, as the simulator counted: {} export requests ({})",
            st.export_requests,
            exports.join(", ")
        );
    }
    println!("  both ends, run by run:");
    for r in report_b["reports"].as_array().cloned().unwrap_or_default() {
        println!(
            "    window {} .. {}: {:.1} s, complete {}, {} requests ({} export), {} event pages, {} ticket pages, {} comments per ticket",
            r["window"]["from"],
            r["window"]["until"],
            r["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
            r["complete"],
            r["requests"]["total"],
            r["requests"]["export"],
            r["event_pages"],
            r["ticket_pages"],
            r["comment_reads"]
        );
    }
    println!(
        "  export-only bound: {simple:.1} s ({export_a} export requests of the exports alone at 10 a minute) / {strict:.1} s (the first minute's 10 free)"
    );
    println!(
        "  both ends against the bound: {:.3} / {:.3}; against the exports alone: {:.3}",
        wall_b / simple.max(1e-9),
        wall_b / strict.max(1e-9),
        wall_b / wall_a.max(1e-9)
    );
    sim_a.shutdown().await;
    sim_b.shutdown().await;
}
