//! Ticket writes of the DynamoDB store, measured against moto: N tickets'
//! states and documents go through `write_tickets` in pages of 1,000 (as a
//! sync writes a page), first new (a backfill), then all changed (same size,
//! grown into parts, shrunk from parts, a few deleted). Prints each pass's
//! wall time and DynamoDB requests by operation per 1,000 tickets, and the
//! embedded store's wall time for the same writes.
//!
//! ```sh
//! cargo bench -p zdsync-store-dynamodb --bench writes
//! ```
//!
//! `ZDSYNC_TEST_AWS_ENDPOINT` names a running moto; without it the bench
//! starts `.venv/bin/moto_server` (the test script's venv) on a free port
//! and stops it at the end. `ZDSYNC_BENCH_TICKETS` sets N (default 4,000).
//! Bodies are a few KB; one ticket in 250 has a state and a document over
//! 400 KB, so both split into parts.

#[path = "../tests/common/ops.rs"]
mod ops;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zdsync_store::{Blob, Store, TicketWrite};
use zdsync_store_dynamodb::DynamoStore;
use zdsync_store_embedded::EmbeddedStore;

const PAGE: u64 = 1_000;
const CONN: &str = "bench";

/// A moto server this bench started, stopped when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> (String, Moto) {
    let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/moto_server");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} does not start ({e}): run ./infra/scripts/test.sh once, or set ZDSYNC_TEST_AWS_ENDPOINT"));
    let moto = Moto(child);
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (format!("http://127.0.0.1:{port}"), moto);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto did not listen on port {port}");
}

/// What ticket `id` holds after `pass` (0: first write, 1: rewrite).
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Small,
    Huge,
    Deleted,
}

fn shape(id: u64, pass: u32) -> Shape {
    match (pass, id % 250, id % 500) {
        (1, _, 3) => Shape::Deleted,
        (0, 7, _) | (1, 100, _) => Shape::Huge,
        _ => Shape::Small,
    }
}

/// A JSON-like body of about `len` bytes, differing by ticket and pass.
fn body(kind: &str, id: u64, pass: u32, len: usize) -> String {
    let unit =
        format!("{{\"{kind}\":{id},\"pass\":{pass},\"text\":\"lorem ipsum dolor sit amet\"}},");
    let mut s = String::with_capacity(len + unit.len());
    s.push('[');
    while s.len() < len {
        s.push_str(&unit);
    }
    s.push(']');
    s
}

fn blob(kind: &str, id: u64, pass: u32, small: usize) -> Blob {
    let len = match shape(id, pass) {
        Shape::Huge => 450_000 + (id as usize * 7_919) % 500_000,
        _ => small,
    };
    let body = body(kind, id, pass, len);
    Blob {
        hash: format!("{kind}-{id}-{pass}-{}", body.len()),
        body,
    }
}

/// The writes of one page: each ticket's state and document, or its deletion.
fn page(ids: std::ops::Range<u64>, pass: u32) -> Vec<TicketWrite> {
    let mut out = Vec::new();
    for id in ids {
        if shape(id, pass) == Shape::Deleted {
            out.push(TicketWrite::DeleteTicket { ticket_id: id });
            continue;
        }
        out.push(TicketWrite::PutState {
            ticket_id: id,
            blob: blob("state", id, pass, 2_000 + (id as usize * 131) % 6_000),
        });
        out.push(TicketWrite::PutDocument {
            ticket_id: id,
            blob: blob("doc", id, pass, 1_000 + (id as usize * 97) % 5_000),
        });
    }
    out
}

/// Writes every page of a pass; the wall time.
async fn pass(store: &dyn Store, tickets: u64, pass: u32) -> Duration {
    let start = Instant::now();
    let mut from = 1;
    while from <= tickets {
        let until = (from + PAGE).min(tickets + 1);
        store
            .write_tickets(CONN, &page(from..until, pass))
            .await
            .expect("a page is written");
        from = until;
    }
    start.elapsed()
}

/// The stored bodies are those of the last pass (a sample, huge ones included).
async fn check(store: &dyn Store, tickets: u64, last: u32) {
    let ids: Vec<u64> = (1..=tickets)
        .filter(|id| id % 97 == 0 || id % 250 == 7 || id % 250 == 100 || id % 500 == 3)
        .collect();
    let states = store.get_states(CONN, &ids).await.expect("states read");
    for id in ids {
        let doc = store.get_document(CONN, id).await.expect("document reads");
        if shape(id, last) == Shape::Deleted {
            assert!(doc.is_none() && !states.contains_key(&id), "{id} deleted");
            continue;
        }
        let want = blob("doc", id, last, 1_000 + (id as usize * 97) % 5_000);
        assert!(doc.as_deref() == Some(want.body.as_str()), "document {id}");
        let want = blob("state", id, last, 2_000 + (id as usize * 131) % 6_000);
        assert!(states.get(&id) == Some(&want), "state {id}");
    }
}

fn per_thousand(counts: &BTreeMap<String, u64>, tickets: u64) -> String {
    [
        "GetItem",
        "BatchGetItem",
        "BatchWriteItem",
        "PutItem",
        "Query",
    ]
    .iter()
    .map(|op| {
        let n = counts.get(*op).copied().unwrap_or(0);
        format!("{op} {:.1}", n as f64 * 1_000.0 / tickets as f64)
    })
    .chain(
        counts
            .iter()
            .filter(|(op, _)| {
                !matches!(
                    op.as_str(),
                    "GetItem" | "BatchGetItem" | "BatchWriteItem" | "PutItem" | "Query"
                )
            })
            .map(|(op, n)| format!("{op} {:.1}", *n as f64 * 1_000.0 / tickets as f64)),
    )
    .collect::<Vec<_>>()
    .join(", ")
}

#[tokio::main]
async fn main() {
    let tickets: u64 = std::env::var("ZDSYNC_BENCH_TICKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4_000);
    let (endpoint, _moto) = match std::env::var("ZDSYNC_TEST_AWS_ENDPOINT") {
        Ok(e) => (e, None),
        Err(_) => {
            let (e, m) = start_moto();
            (e, Some(m))
        }
    };
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    let counter = ops::Ops::default();
    let table = format!("zdsync-bench-writes-{}", std::process::id());
    let dynamo = DynamoStore::new(counter.client(&conf), table);
    dynamo.create_table().await.expect("create table on moto");
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = EmbeddedStore::open(&dir.path().join("store.db")).expect("embedded store");

    println!("{tickets} tickets' states and documents, pages of {PAGE}, moto at {endpoint}");
    for (n, what) in [
        (0, "first write"),
        (1, "rewrite (changed, grown, shrunk, deleted)"),
    ] {
        counter.take();
        let d = pass(&dynamo, tickets, n).await;
        let counts = counter.take();
        let e = pass(&embedded, tickets, n).await;
        println!(
            "{what}: dynamodb {:.2} s, embedded {:.2} s ({:.2}x); per 1,000 tickets: {}",
            d.as_secs_f64(),
            e.as_secs_f64(),
            d.as_secs_f64() / e.as_secs_f64().max(1e-9),
            per_thousand(&counts, tickets)
        );
        check(&dynamo, tickets, n).await;
        check(&embedded, tickets, n).await;
    }
}
