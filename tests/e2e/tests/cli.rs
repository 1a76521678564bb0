//! The `zdsync` command, as a user runs it, against the project's Zendesk
//! simulator on loopback and an embedded store in a temporary data dir.

mod common;

use std::path::Path;

use common::{connect, export, sim, token_env, zdsync};
use serde_json::Value;

async fn no_connections(data: &Path) {
    let st = zdsync(data, &["--json", "status"], &[]).await;
    assert_eq!(st.code, 0, "{}", st.stderr);
    assert_eq!(
        st.json()["connections"],
        Value::Array(vec![]),
        "a connection was saved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_sync_and_export_give_the_expected_documents() {
    let sim = sim(200).await;
    let data = tempfile::tempdir().unwrap();
    let c = sim.credentials();
    let url = sim.base_url();
    let env = token_env(&url, &c.api_token);

    let r = zdsync(
        data.path(),
        &[
            "connect",
            "acme",
            "--subdomain",
            "acme",
            "--email",
            &c.admin_email,
        ],
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = zdsync(data.path(), &["--json", "sync", "acme"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["reports"][0]["complete"], Value::Bool(true));
    assert_eq!(report["reports"][0]["requests"]["responses_429"], 0);

    let r = zdsync(data.path(), &["documents", "export"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    assert_eq!(docs, sim.expected_documents("acme"));

    // show and list agree with export
    let first = docs[0]["ticket_id"].as_u64().unwrap().to_string();
    let r = zdsync(data.path(), &["--json", "documents", "show", &first], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json(), docs[0]);
    let r = zdsync(
        data.path(),
        &["--json", "documents", "list", "--connection", "acme"],
        &[],
    )
    .await;
    assert_eq!(
        r.json()["documents"].as_array().map(Vec::len),
        Some(docs.len())
    );
    let r = zdsync(data.path(), &["--json", "status", "acme"], &[]).await;
    let st = r.json();
    assert_eq!(
        st["connections"][0]["counts"]["documents"],
        docs.len() as u64
    );
    assert!(st["connections"][0]["cursors"]["tickets"].is_string());

    // Nothing secret in the store file, the connection record or the logs.
    let store = std::fs::read(data.path().join("zdsync.sqlite")).unwrap();
    assert!(!String::from_utf8_lossy(&store).contains(&c.api_token));
    let r = zdsync(data.path(), &["-vv", "sync"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains(&c.api_token), "token in logs");
    assert!(!r.stdout.contains(&c.api_token), "token in output");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for e in std::fs::read_dir(data.path().join("secrets")).unwrap() {
            let mode = e.unwrap().metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_url_becomes_the_subdomain_and_garbage_is_refused() {
    let sim = sim(20).await;
    let c = sim.credentials();
    let url = sim.base_url();
    let env = token_env(&url, &c.api_token);
    let data = tempfile::tempdir().unwrap();
    for bad in [
        "acme corp",
        "https://example.com/x",
        "-acme",
        "acme.example.org",
    ] {
        let r = zdsync(
            data.path(),
            &[
                "connect",
                "acme",
                &format!("--subdomain={bad}"),
                "--email",
                &c.admin_email,
            ],
            &env,
        )
        .await;
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("--subdomain acme"), "{bad}: {}", r.stderr);
    }
    no_connections(data.path()).await;
    let r = zdsync(
        data.path(),
        &[
            "connect",
            "acme",
            "--subdomain",
            "https://acme.zendesk.com/agent/tickets/5",
            "--email",
            &c.admin_email,
        ],
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("using subdomain \"acme\""),
        "{}",
        r.stderr
    );
    let st = zdsync(data.path(), &["--json", "status"], &[]).await.json();
    assert_eq!(st["connections"][0]["subdomain"], "acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_roles_save_nothing() {
    let sim = sim(20).await;
    let c = sim.credentials();
    let url = sim.base_url();
    let data = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("wrong token", c.admin_email.clone(), "401"),
        ("light agent", c.light_agent_email.clone(), "Light Agent"),
        ("end-user", c.end_user_email.clone(), "end-user"),
    ];
    for (what, email, needle) in cases {
        let token = if what == "wrong token" {
            "not-the-token"
        } else {
            c.api_token.as_str()
        };
        let env = token_env(&url, token);
        let r = zdsync(
            data.path(),
            &["connect", "acme", "--subdomain", "acme", "--email", &email],
            &env,
        )
        .await;
        assert_eq!(r.code, 2, "{what}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains("admin"),
            "{what}: the message should say which role is needed: {}",
            r.stderr
        );
    }
    no_connections(data.path()).await;
    let secrets = data.path().join("secrets");
    let left = std::fs::read_dir(&secrets).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "a secret was left behind");

    // No token at all: says which variable to set.
    let r = zdsync(
        data.path(),
        &[
            "connect",
            "acme",
            "--subdomain",
            "acme",
            "--email",
            &c.admin_email,
        ],
        &[("ZENDESK_API_URL", &url)],
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("ZENDESK_API_TOKEN"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_zendesk_at_connect_is_a_runtime_failure_naming_host_and_cause() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let data = tempfile::tempdir().unwrap();
    let r = zdsync(
        data.path(),
        &[
            "connect",
            "acme",
            "--subdomain",
            "acme",
            "--email",
            "a@acme.example",
        ],
        &token_env(&url, "tok"),
    )
    .await;
    assert_eq!(
        r.code, 1,
        "a network failure is not the user's input: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("could not reach Zendesk"), "{}", r.stderr);
    assert!(
        r.stderr.to_lowercase().contains("connect"),
        "the cause (connection refused) is said: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("invalid configuration"), "{}", r.stderr);
    no_connections(data.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_client_credentials_work_and_bad_oauth_is_refused() {
    let sim = sim(60).await;
    let c = sim.credentials();
    let url = sim.base_url();
    let data = tempfile::tempdir().unwrap();
    let good = [
        ("ZENDESK_API_URL", url.as_str()),
        ("ZENDESK_OAUTH_CLIENT_ID", c.oauth_client_id.as_str()),
        (
            "ZENDESK_OAUTH_CLIENT_SECRET",
            c.oauth_client_secret.as_str(),
        ),
    ];
    let bad = [
        ("ZENDESK_API_URL", url.as_str()),
        ("ZENDESK_OAUTH_CLIENT_ID", c.oauth_client_id.as_str()),
        ("ZENDESK_OAUTH_CLIENT_SECRET", "wrong"),
    ];
    let r = zdsync(
        data.path(),
        &["connect", "bad", "--subdomain", "acme", "--auth", "oauth"],
        &bad,
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("OAuth"), "{}", r.stderr);
    let expired = [
        ("ZENDESK_API_URL", url.as_str()),
        ("ZENDESK_OAUTH_ACCESS_TOKEN", "expired-or-made-up"),
    ];
    let r = zdsync(
        data.path(),
        &["connect", "old", "--subdomain", "acme", "--auth", "oauth"],
        &expired,
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    no_connections(data.path()).await;

    let r = zdsync(
        data.path(),
        &["connect", "acme", "--subdomain", "acme", "--auth", "oauth"],
        &good,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = zdsync(
        data.path(),
        &["--json", "sync"],
        &[("ZENDESK_API_URL", url.as_str())],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = zdsync(data.path(), &["documents", "export"], &[]).await;
    assert_eq!(
        r.stdout.lines().count(),
        sim.expected_documents("acme").len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_connections_and_bad_usage_exit_2_with_json_errors() {
    let data = tempfile::tempdir().unwrap();
    let r = zdsync(data.path(), &["sync", "nope"], &[]).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown connection \"nope\""),
        "{}",
        r.stderr
    );
    let r = zdsync(
        data.path(),
        &["--json", "documents", "show", "5", "--connection", "nope"],
        &[],
    )
    .await;
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["ok"], Value::Bool(false));
    let r = zdsync(data.path(), &["frobnicate"], &[]).await;
    assert_eq!(r.code, 2);
    let r = zdsync(data.path(), &["sync"], &[]).await;
    assert_eq!(r.code, 2, "sync with no connection: {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_end_to_end() {
    let data = tempfile::tempdir().unwrap();
    let r = zdsync(data.path(), &["--json", "demo", "--tickets", "150"], &[]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["ok"], Value::Bool(true));
    assert_eq!(v["documents"], v["expected_documents"]);
    assert!(v["documents"].as_u64().unwrap() > 50);
    // The documents stay readable after the demo's simulator is gone.
    let demo_dir = data.path().join("demo");
    let r = zdsync(&demo_dir, &["documents", "export"], &[]).await;
    assert_eq!(
        r.stdout.lines().count() as u64,
        v["documents"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn status_shows_the_records_a_sync_skipped() {
    let sim = sim(120).await;
    let dir = tempfile::tempdir().expect("temp dir");
    connect(dir.path(), &sim).await;
    let c = sim.credentials();
    let url = sim.base_url();
    let env = token_env(&url, &c.api_token);
    let first = zdsync(dir.path(), &["sync", "acme"], &env).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    // An hourly run whose tickets page holds a record without an id.
    for _ in 0..3 {
        sim.mutate(zendesk_sim::Mutation::NewTicket {
            customer_comment: true,
        });
    }
    sim.advance_clock(120);
    sim.inject(zendesk_sim::Fault {
        path_prefix: Some("/api/v2/incremental/tickets/cursor".into()),
        kind: zendesk_sim::FaultKind::IdlessRecord,
        count: 1,
    });
    let run = zdsync(dir.path(), &["--json", "-v", "sync", "acme"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["reports"][0]["skipped_records"], 1);
    assert!(
        run.stderr.contains("position=1"),
        "the skipped record is logged by position: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("a record without an id"),
        "the skipped record's content is never logged: {}",
        run.stderr
    );
    let status = zdsync(dir.path(), &["--json", "status", "acme"], &[]).await;
    assert_eq!(
        status.json()["connections"][0]["last_run"]["skipped_records"],
        1
    );
    let text = zdsync(dir.path(), &["status", "acme"], &[]).await;
    assert!(text.stdout.contains("1 skipped records"), "{}", text.stdout);
    assert_eq!(
        export(dir.path()).await.len(),
        sim.expected_documents("acme").len()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_store_file_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let sim = sim(30).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    connect(&data, &sim).await;
    let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("zdsync.sqlite")), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_connection_holds_its_limit_and_plan_paid_fetches_the_rest() {
    let sim = sim(300).await;
    let data = tempfile::tempdir().unwrap();
    let c = sim.credentials();
    let url = sim.base_url();
    let mut env = token_env(&url, &c.api_token);
    env.push(("ZDSYNC_TRIAL_LIMIT", "20"));
    let args = [
        "connect",
        "acme",
        "--subdomain",
        "acme",
        "--email",
        &c.admin_email,
        "--plan",
        "trial",
    ];
    let r = zdsync(data.path(), &args, &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("20 most recent"), "{}", r.stderr);
    let r = zdsync(data.path(), &["--json", "sync", "acme"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut want = sim.expected_documents("acme");
    want.sort_by_key(|d| {
        std::cmp::Reverse((
            d["created_at"].as_str().map(str::to_string),
            d["ticket_id"].as_u64(),
        ))
    });
    want.truncate(20);
    want.sort_by_key(|d| d["ticket_id"].as_u64());
    assert_eq!(export(data.path()).await, want);
    let st = zdsync(data.path(), &["--json", "status", "acme"], &env)
        .await
        .json();
    let conn = &st["connections"][0];
    assert_eq!(conn["plan"], "trial");
    assert_eq!(conn["counts"]["documents"], 20);
    assert_eq!(conn["history"]["complete"], false);
    assert!(conn["history"]["held_from"].is_string(), "{conn}");

    let r = zdsync(data.path(), &["plan", "acme", "paid"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("older history read"), "{}", r.stdout);
    assert_eq!(export(data.path()).await, sim.expected_documents("acme"));
    let st = zdsync(data.path(), &["--json", "status", "acme"], &env)
        .await
        .json();
    assert_eq!(st["connections"][0]["plan"], "paid");
    assert_eq!(st["connections"][0]["history"]["complete"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_connects_with_a_notice_and_status_names_the_search_path() {
    let sim = sim(120).await;
    let data = tempfile::tempdir().unwrap();
    let c = sim.credentials();
    let url = sim.base_url();
    let env = token_env(&url, &c.api_token);
    let r = zdsync(
        data.path(),
        &[
            "connect",
            "crew",
            "--subdomain",
            "acme",
            "--email",
            &c.agent_email,
        ],
        &env,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("as an agent"), "{}", r.stderr);
    assert!(r.stderr.contains("Connect with an admin"), "{}", r.stderr);
    let r = zdsync(data.path(), &["--json", "sync", "crew"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["reports"][0]["path"], "search");
    let docs = export(data.path()).await;
    assert_eq!(
        docs,
        sim.expected_documents_visible_to("crew", &c.agent_email)
    );
    let st = zdsync(data.path(), &["status", "crew"], &[]).await;
    assert_eq!(st.code, 0, "{}", st.stderr);
    assert!(
        st.stdout.contains("reads the search export (agent)"),
        "{}",
        st.stdout
    );
    assert!(st.stdout.contains("cursor search"), "{}", st.stdout);
}
