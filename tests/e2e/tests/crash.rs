//! `kill -9` of a running `zdsync sync`, at random moments: the next run
//! takes the connection's lease at once (its holder is a process of this
//! machine that is gone), re-reads at most one page per stream, and the
//! documents converge to the simulator's expectation with nothing lost and
//! nothing twice.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{command, connect, export, sim, token_env, zdsync};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use zendesk_sim::{Fault, FaultKind, Mutation, SimHandle};

const KILLS: usize = 5;

/// Export pages requested so far: (ticket events, tickets).
fn export_pages(sim: &SimHandle) -> (u64, u64) {
    let by = sim.stats().by_endpoint;
    let n = |k: &str| by.get(k).copied().unwrap_or(0);
    (
        n("incremental/ticket_events"),
        n("incremental/tickets/cursor"),
    )
}

/// Every export answer takes a while, so the run lasts long enough to be
/// killed in the middle of its work.
fn slow_exports(sim: &SimHandle, ms: u64) {
    sim.inject(Fault {
        path_prefix: Some("/api/v2/incremental/".into()),
        kind: FaultKind::Delay { ms },
        count: 100_000,
    });
}

/// Starts `zdsync -v sync`; returns when its log says it holds the lease
/// (with the time that took), or when it ended without (with its output).
fn start_sync(
    data: &Path,
    env: &[(&str, &str)],
) -> (std::process::Child, Result<Duration, String>) {
    let started = Instant::now();
    let mut child = command(data, &["-v", "sync", "acme"], env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zdsync starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let held = loop {
        match lines.next() {
            Some(Ok(line)) if line.contains("holding the lease") => break Ok(started.elapsed()),
            Some(Ok(line)) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            _ => break Err(seen),
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, held)
}

/// Runs the sync, killing it `KILLS` times at random moments within
/// `span`, each restart at once; then lets one run finish. Returns the
/// time each restart took to hold the lease.
async fn sync_with_kills(data: &Path, sim: &SimHandle, span: Duration, seed: u64) -> Vec<Duration> {
    let url = sim.base_url();
    let token = sim.credentials().api_token;
    let env = token_env(&url, &token);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut waits = Vec::new();
    for kill in 0..KILLS {
        let (mut child, held) = start_sync(data, &env);
        let held =
            held.unwrap_or_else(|log| panic!("restart {kill} did not get the lease:\n{log}"));
        waits.push(held);
        let at = Duration::from_millis(rng.random_range(100..span.as_millis() as u64));
        tokio::time::sleep(at).await;
        child.kill().expect("kill -9"); // SIGKILL on Unix
        let status = child.wait().expect("reaped");
        eprintln!(
            "kill {kill}: SIGKILL after {at:?} (status {status}), lease held {held:?} after start"
        );
    }
    let (mut child, held) = start_sync(data, &env);
    waits.push(held.unwrap_or_else(|log| panic!("the last run did not get the lease:\n{log}")));
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("waits");
    assert!(status.success(), "the last run ends well: {status}");
    waits
}

/// The documents held equal the simulator's expectation: none lost, none
/// twice (ids unique), each as it should be.
async fn assert_converged(data: &Path, sim: &SimHandle) {
    let docs = export(data).await;
    let mut ids: Vec<&Value> = docs.iter().map(|d| &d["id"]).collect();
    let n = ids.len();
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), n, "a document appears twice");
    let expected = sim.expected_documents("acme");
    let held: Vec<&Value> = docs.iter().map(|d| &d["id"]).collect();
    let wanted: Vec<&Value> = expected.iter().map(|d| &d["id"]).collect();
    assert_eq!(held, wanted, "the same documents are held");
    for (doc, want) in docs.iter().zip(&expected) {
        assert_eq!(doc, want, "document {}", want["id"]);
    }
}

/// How many pages of each export a clean, uninterrupted sync of the same
/// account reads.
async fn clean_pages(sim: &SimHandle) -> (u64, u64) {
    let data = tempfile::tempdir().unwrap();
    connect(data.path(), sim).await;
    let url = sim.base_url();
    let token = sim.credentials().api_token;
    let before = export_pages(sim);
    let r = zdsync(data.path(), &["sync", "acme"], &token_env(&url, &token)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = export_pages(sim);
    (after.0 - before.0, after.1 - before.1)
}

fn seed() -> u64 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("kill moments seeded with {seed}");
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_five_times_converges_without_waiting_for_its_lease() {
    let sim = sim(3_000).await;
    let clean = clean_pages(&sim).await;
    slow_exports(&sim, 150);
    let data = tempfile::tempdir().unwrap();
    connect(data.path(), &sim).await;
    let before = export_pages(&sim);
    // The slowed backfill reads ~clean pages at ≥150 ms each.
    let span = Duration::from_millis(150 * (clean.0 + clean.1).max(4));
    let waits = sync_with_kills(data.path(), &sim, span, seed()).await;
    eprintln!("time from start to holding the lease after each kill: {waits:?}");
    let after = export_pages(&sim);
    let (events, tickets) = (after.0 - before.0, after.1 - before.1);
    eprintln!(
        "export pages: events {events} (clean {}), tickets {tickets} (clean {})",
        clean.0, clean.1
    );
    // A kill loses at most the page being stored (its cursor had not
    // moved) and the page read ahead meanwhile (sync::Walk::read_ahead).
    let lost = 2 * KILLS as u64;
    assert!(
        events <= clean.0 + lost && tickets <= clean.1 + lost,
        "at most two pages per stream are read again after each kill"
    );
    assert_converged(data.path(), &sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_run_killed_five_times_converges() {
    let sim = sim(1_000).await;
    let data = tempfile::tempdir().unwrap();
    connect(data.path(), &sim).await;
    let url = sim.base_url();
    let token = sim.credentials().api_token;
    let r = zdsync(data.path(), &["sync", "acme"], &token_env(&url, &token)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    sim.advance_clock(3_600);
    sim.mutate(Mutation::Random { n: 400, seed: 11 });
    sim.advance_clock(120);
    slow_exports(&sim, 600);
    let before = export_pages(&sim);
    let waits = sync_with_kills(data.path(), &sim, Duration::from_millis(1_500), seed()).await;
    eprintln!("time from start to holding the lease after each kill: {waits:?}");
    let after = export_pages(&sim);
    eprintln!(
        "export pages of the interrupted hourly runs: events {}, tickets {}",
        after.0 - before.0,
        after.1 - before.1
    );
    // Renamed customers are the daily refresh's to update.
    let r = zdsync(
        data.path(),
        &["refresh-users", "acme"],
        &token_env(&url, &token),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_converged(data.path(), &sim).await;
}
