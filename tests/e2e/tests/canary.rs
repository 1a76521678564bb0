//! Canary secrets and customer text at the highest verbosity: connect, sync,
//! token refresh, user refresh and failure paths run with `RUST_LOG=trace`,
//! and neither the OAuth secrets nor a customer's words appear in stdout,
//! stderr or the run records; the secrets appear in no stored file but the
//! secret store's.

mod common;

use std::path::Path;

use common::{Run, zdsync};
use zendesk_sim::{Mutation, SimHandle};

/// Every OAuth secret the simulator issues or accepts starts with one of
/// these (client secret, access and refresh tokens).
const SECRET_CANARIES: &[&str] = &["sim-oauth-secret-", "sim-access-", "sim-refresh-"];

/// A customer's words, written into a ticket before the first sync.
const CUSTOMER_CANARY: &str = "Kundentext-Kanarienvogel-7d1f";

/// Asserts a run printed neither a secret nor the customer's words, and
/// that it did log below the default `warn` (so the check is not vacuous).
fn assert_clean(what: &str, r: &Run) {
    for text in [&r.stdout, &r.stderr] {
        for canary in SECRET_CANARIES.iter().chain([&CUSTOMER_CANARY]) {
            assert!(!text.contains(canary), "{what} printed {canary:?}:\n{text}");
        }
    }
    assert!(
        ["TRACE", "DEBUG", "INFO"]
            .iter()
            .any(|l| r.stderr.contains(l)),
        "{what} ran at trace verbosity: {}",
        r.stderr
    );
}

/// Runs `zdsync` at trace verbosity against the simulator.
async fn traced(data: &Path, sim: &SimHandle, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let url = sim.base_url();
    let mut env = vec![("ZENDESK_API_URL", url.as_str()), ("RUST_LOG", "trace")];
    env.extend_from_slice(extra);
    zdsync(data, args, &env).await
}

/// An OAuth pair issued by the simulator for its client.
async fn issued_pair(sim: &SimHandle) -> (String, String) {
    let c = sim.credentials();
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth/tokens", sim.base_url()))
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": c.oauth_client_id, "client_secret": c.oauth_client_secret}))
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token answer");
    let field = |k: &str| v[k].as_str().expect("a token field").to_string();
    (field("access_token"), field("refresh_token"))
}

/// Every stored file but the secret store's holds no secret.
fn assert_no_secret_stored(data: &Path) {
    let entries = std::fs::read_dir(data).expect("data dir");
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_eq!(
                entry.file_name(),
                "secrets",
                "only the secret store is a folder"
            );
            continue;
        }
        let bytes = std::fs::read(&path).expect("stored file");
        let text = String::from_utf8_lossy(&bytes);
        for canary in SECRET_CANARIES {
            assert!(
                !text.contains(canary),
                "{} holds {canary:?}",
                path.display()
            );
        }
    }
}

/// A new ticket by a customer, whose next comment holds the canary words.
fn write_customer_canary(sim: &SimHandle) {
    let made = sim.mutate(Mutation::NewTicket {
        customer_comment: true,
    });
    sim.mutate(Mutation::AddComment {
        ticket_id: made.ticket_ids[0],
        by_customer: true,
        public: true,
        text: format!("My order is late. {CUSTOMER_CANARY}"),
    });
    sim.advance_clock(120); // exports leave out the last minute
}

/// The one stored secret file (the connection's credentials).
fn secret_file(data: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(data.join("secrets"))
        .expect("secrets folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_verbosity_prints_or_stores_a_secret_or_a_customers_words() {
    let sim = common::sim(40).await;
    let data = tempfile::tempdir().expect("temp dir");
    let data = data.path();
    write_customer_canary(&sim);
    let c = sim.credentials();
    let (access, refresh) = issued_pair(&sim).await;
    let oauth = [
        ("ZENDESK_OAUTH_CLIENT_ID", c.oauth_client_id.as_str()),
        (
            "ZENDESK_OAUTH_CLIENT_SECRET",
            c.oauth_client_secret.as_str(),
        ),
        ("ZENDESK_OAUTH_ACCESS_TOKEN", access.as_str()),
        ("ZENDESK_OAUTH_REFRESH_TOKEN", refresh.as_str()),
    ];
    let connect = ["connect", "acme", "--subdomain", "acme", "--auth", "oauth"];
    let r = traced(data, &sim, &connect, &oauth).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("connect", &r);

    let r = traced(data, &sim, &["sync"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("the first sync", &r);
    let docs = zdsync(data, &["documents", "export"], &[]).await.stdout;
    assert!(
        docs.contains(CUSTOMER_CANARY),
        "the canary ticket was imported"
    );

    sim.expire_tokens();
    write_customer_canary(&sim);
    let r = traced(data, &sim, &["sync"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("a sync that refreshes the token", &r);
    let r = traced(data, &sim, &["refresh-users"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_clean("the user refresh", &r);

    failure_paths(data, &sim).await;
    let r = zdsync(data, &["--json", "status"], &[]).await;
    assert_clean_output("status (run records)", &r);
    assert_no_secret_stored(data);
}

/// stdout and stderr without canaries (for runs not at trace verbosity).
fn assert_clean_output(what: &str, r: &Run) {
    for canary in SECRET_CANARIES.iter().chain([&CUSTOMER_CANARY]) {
        assert!(
            !r.stdout.contains(canary) && !r.stderr.contains(canary),
            "{what} printed {canary:?}:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

/// A rejected cursor, a refresh token Zendesk refuses, and a stored secret
/// that is not the JSON expected: each fails, saying so without a value.
async fn failure_paths(data: &Path, sim: &SimHandle) {
    sim.inject(zendesk_sim::Fault {
        path_prefix: Some("/api/v2/incremental/".into()),
        kind: zendesk_sim::FaultKind::Status {
            status: 403,
            retry_after: None,
        },
        count: 1,
    });
    write_customer_canary(sim);
    let r = traced(data, sim, &["sync"], &[]).await;
    assert_ne!(r.code, 0, "a refused export fails the run");
    assert_clean("a sync refused by Zendesk", &r);

    let file = secret_file(data);
    let c = sim.credentials();
    let spent = serde_json::json!({"kind": "oauth_token", "access_token": "sim-access-expired", "refresh_token": "sim-refresh-spent", "client_id": c.oauth_client_id, "client_secret": c.oauth_client_secret});
    std::fs::write(&file, spent.to_string()).expect("secret written");
    sim.expire_tokens();
    let r = traced(data, sim, &["sync"], &[]).await;
    assert_ne!(r.code, 0, "a refused refresh token fails the run");
    assert!(r.stderr.contains("OAuth"), "{}", r.stderr);
    assert_clean("a sync whose refresh token is refused", &r);

    std::fs::write(&file, "\"sim-refresh-as-a-bare-string\"").expect("secret written");
    let r = traced(data, sim, &["sync"], &[]).await;
    assert_ne!(r.code, 0, "an unreadable secret fails the run");
    assert!(r.stderr.contains("cannot be read"), "{}", r.stderr);
    assert_clean("a sync with a malformed stored secret", &r);
}
