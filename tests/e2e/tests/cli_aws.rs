//! The `zdsync` command with `--store dynamodb`: DynamoDB and Secrets
//! Manager on a moto server (started by the test script, which sets
//! `ZDSYNC_TEST_AWS_ENDPOINT`), Zendesk from the project's simulator.

use std::process::Command;

use serde_json::Value;
use zdsync_store::Store;
use zendesk_sim::{SimConfig, SimHandle};

fn endpoint() -> Option<String> {
    match std::env::var("ZDSYNC_TEST_AWS_ENDPOINT") {
        Ok(e) => Some(e),
        Err(_) if std::env::var("ZDSYNC_SKIP_AWS_TESTS").is_ok() => None,
        Err(_) => panic!(
            "ZDSYNC_TEST_AWS_ENDPOINT is not set: run ./infra/scripts/test.sh (it starts moto), or set ZDSYNC_SKIP_AWS_TESTS=1"
        ),
    }
}

async fn run(args: Vec<String>, env: Vec<(String, String)>) -> (i32, String, String) {
    let mut cmd = Command::new(zdsync_e2e::zdsync_bin());
    cmd.args(&args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ZENDESK_") || k.starts_with("ZDSYNC_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A table on moto, the simulator, a data dir for the embedded runs, and
/// the environment that points `zdsync` at them.
struct Setup {
    endpoint: String,
    store: zdsync_store_dynamodb::DynamoStore,
    sim: SimHandle,
    base_env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start(table: String, tickets: usize) -> Option<Setup> {
        let endpoint = endpoint()?;
        let store = zdsync_store_dynamodb::DynamoStore::from_endpoint(&endpoint, &table).await;
        store.create_table().await.expect("table on moto");
        let sim = SimHandle::start(SimConfig {
            tickets,
            rate_limits: false,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let base_env = vec![
            ("AWS_ENDPOINT_URL".to_string(), endpoint.clone()),
            ("ZDSYNC_TABLE".to_string(), table.clone()),
            ("ZENDESK_API_URL".to_string(), sim.base_url()),
            (
                "ZDSYNC_DATA_DIR".to_string(),
                dir.path().to_string_lossy().to_string(),
            ),
        ];
        Some(Setup {
            endpoint,
            store,
            sim,
            base_env,
            _dir: dir,
        })
    }

    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v = self.base_env.clone();
        v.extend(extra.iter().map(|(k, x)| (k.to_string(), x.to_string())));
        v
    }

    /// `zdsync connect acme` as the simulator's admin, with its token.
    async fn connect(&self, store_args: &[&str]) {
        let c = self.sim.credentials();
        let mut args = store_args.to_vec();
        args.extend([
            "connect",
            "acme",
            "--subdomain",
            "acme",
            "--email",
            &c.admin_email,
        ]);
        let (code, _, err) = run(
            strings(&args),
            self.env(&[("ZENDESK_API_TOKEN", &c.api_token)]),
        )
        .await;
        assert_eq!(code, 0, "{err}");
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Arguments of a `zdsync --store dynamodb` run.
fn aws(a: &[&str]) -> Vec<String> {
    strings(&[&["--store", "dynamodb"], a].concat())
}

fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort_unstable();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_sync_export_on_dynamodb_match_the_embedded_run() {
    let Some(s) = Setup::start(format!("zdsync-e2e-{}", std::process::id()), 300).await else {
        return;
    };
    let env = |extra: &[(&str, &str)]| s.env(extra);
    s.connect(&["--store", "dynamodb"]).await;
    // The token is in Secrets Manager, not in the table.
    let conn = s
        .store
        .get_connection("acme")
        .await
        .unwrap()
        .expect("connection stored");
    assert!(
        conn.secret_ref.starts_with("zdsync/acme-"),
        "{}",
        conn.secret_ref
    );
    let (code, _, err) = run(aws(&["sync"]), env(&[])).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(aws(&["documents", "export"]), env(&[])).await;
    assert_eq!(code, 0, "{err}");
    let docs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs, s.sim.expected_documents("acme"));

    // The same account on the embedded store exports the same bytes.
    s.connect(&[]).await;
    let (code, _, err) = run(strings(&["sync"]), env(&[])).await;
    assert_eq!(code, 0, "{err}");
    let (_, embedded, _) = run(strings(&["documents", "export"]), env(&[])).await;
    assert_eq!(
        sorted_lines(&out),
        sorted_lines(&embedded),
        "DynamoDB and embedded exports differ"
    );

    // A second sync writes nothing.
    let (code, out, err) = run(aws(&["--json", "sync"]), env(&[])).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["reports"][0]["documents_written"], 0);
    assert_eq!(v["reports"][0]["states_written"], 0);

    // A missing table is named.
    let (code, _, err) = run(aws(&["--table", "no-such-table", "status"]), env(&[])).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such-table"), "{err}");
    // No table at all: says how to give one.
    let mut e = env(&[]);
    e.retain(|(k, _)| k != "ZDSYNC_TABLE");
    let (code, _, err) = run(aws(&["status"]), e).await;
    assert_eq!(code, 2);
    assert!(err.contains("--table"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_planned_into_sqs_and_drained_by_zdsync_worker_matches_the_embedded_run() {
    let suffix = format!("plan-{}", std::process::id());
    let Some(mut s) = Setup::start(format!("zdsync-e2e-{suffix}"), 400).await else {
        return;
    };
    s.base_env.push((
        "ZDSYNC_SECRETS_PREFIX".to_string(),
        format!("zdsync/{suffix}/"),
    ));
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&s.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let queue_url = aws_sdk_sqs::Client::new(&conf)
        .create_queue()
        .queue_name(format!("zdsync-work-{suffix}"))
        .send()
        .await
        .expect("queue on moto")
        .queue_url
        .expect("queue url");
    let env = |extra: &[(&str, &str)]| s.env(extra);
    s.connect(&["--store", "dynamodb"]).await;
    s.connect(&[]).await;
    // Without a queue the planner says how to give one.
    let (code, _, err) = run(aws(&["backfill", "acme"]), env(&[])).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--queue-url"), "{err}");

    let (code, out, err) = run(
        aws(&[
            "--json",
            "--queue-url",
            &queue_url,
            "backfill",
            "acme",
            "--windows",
            "4",
        ]),
        env(&[]),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(plan["plan"]["sequential"], false, "{plan}");
    assert_eq!(
        plan["plan"]["windows"].as_array().map(Vec::len),
        Some(4),
        "{plan}"
    );

    let (code, out, err) = run(
        aws(&["--json", "worker", "--wait-secs", "1"]),
        env(&[("ZDSYNC_QUEUE_URL", &queue_url)]),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let drained: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(drained["handled"], 4, "{drained}");
    assert_eq!(drained["failed"], 0, "{drained}");
    let (code, out, err) = run(aws(&["--json", "status", "acme"]), env(&[])).await;
    assert_eq!(code, 0, "{err}");
    let st: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(st["connections"][0]["backfill"]["windows_done"], 4, "{st}");
    // The hourly sync reads the last hour, which the plan left to it.
    let (code, _, err) = run(aws(&["sync"]), env(&[])).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(strings(&["sync"]), env(&[])).await;
    assert_eq!(code, 0, "{err}");

    let (_, on_aws, _) = run(aws(&["documents", "export"]), env(&[])).await;
    let (_, embedded, _) = run(strings(&["documents", "export"]), env(&[])).await;
    assert!(!on_aws.is_empty());
    assert_eq!(
        sorted_lines(&on_aws),
        sorted_lines(&embedded),
        "the planned backfill on AWS and the embedded run differ"
    );

    // The worker on the embedded store is refused with the way to use it.
    let (code, _, err) = run(strings(&["worker"]), env(&[])).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--store dynamodb"), "{err}");
}

/// Every item of the table, as text (attribute names and values).
async fn table_text(endpoint: &str, table: &str) -> String {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let mut out = String::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan on moto");
        for item in page.items() {
            out.push_str(&format!("{item:?}\n"));
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_trace_verbosity_the_sdk_prints_no_secret_and_the_table_holds_none() {
    let table = format!("zdsync-e2e-canary-{}", std::process::id());
    let Some(s) = Setup::start(table.clone(), 60).await else {
        return;
    };
    let c = s.sim.credentials();
    let trace = |extra: &[(&str, &str)]| {
        let mut e = s.env(extra);
        e.push(("RUST_LOG".into(), "trace".into()));
        e
    };
    let oauth = [
        ("ZENDESK_OAUTH_CLIENT_ID", c.oauth_client_id.as_str()),
        (
            "ZENDESK_OAUTH_CLIENT_SECRET",
            c.oauth_client_secret.as_str(),
        ),
    ];
    let connect = ["connect", "acme", "--subdomain", "acme", "--auth", "oauth"];
    let (code, out, err) = run(aws(&connect), trace(&oauth)).await;
    assert_eq!(code, 0, "{err}");
    let (code, out2, err2) = run(aws(&["sync"]), trace(&[])).await;
    assert_eq!(code, 0, "{err2}");
    let printed = [out, err, out2, err2].concat();
    assert!(printed.contains("DEBUG"), "ran at trace verbosity");
    for canary in ["sim-oauth-secret-", "sim-access-", "sim-refresh-"] {
        assert!(!printed.contains(canary), "printed {canary:?}:\n{printed}");
    }
    assert!(
        !printed
            .lines()
            .any(|l| (l.contains("TRACE") || l.contains("DEBUG")) && l.contains(" aws_")),
        "the AWS SDK logs at info at most:\n{printed}"
    );
    let stored = table_text(&s.endpoint, &table).await;
    assert!(stored.contains("acme"), "the table was read");
    for canary in ["sim-oauth-secret-", "sim-access-", "sim-refresh-"] {
        assert!(!stored.contains(canary), "the table holds {canary:?}");
    }
}
