//! Shared set-up of the engine's integration tests: the project's Zendesk
//! simulator on loopback and an embedded store in a temporary directory.
#![allow(dead_code)]

pub mod hooked;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use zdsync_engine::connect::{ConnectRequest, connect};
use zdsync_engine::credentials::StoredSecret;
use zdsync_engine::{Engine, Settings};
use zdsync_store::{Plan, SecretStore, Store};
use zdsync_store_embedded::{EmbeddedStore, FileSecretStore};
use zendesk_sim::{SimConfig, SimHandle};

pub struct Env {
    pub sim: SimHandle,
    pub engine: Engine,
    pub dir: TempDir,
}

/// A small account with no rate limits (limits are tested on their own).
pub fn small(tickets: usize) -> SimConfig {
    SimConfig {
        tickets,
        rate_limits: false,
        huge_ticket: false,
        ..SimConfig::default()
    }
}

pub fn engine_at(dir: &std::path::Path, base_url: &str) -> Engine {
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.join("zdsync.sqlite")).expect("open store"));
    let secrets: Arc<dyn SecretStore> =
        Arc::new(FileSecretStore::new(&dir.join("secrets")).expect("open secrets"));
    engine_with(store, secrets, base_url)
}

pub fn engine_with(store: Arc<dyn Store>, secrets: Arc<dyn SecretStore>, base_url: &str) -> Engine {
    Engine::new(
        store,
        secrets,
        Settings {
            api_url_override: Some(base_url.to_string()),
            secret_prefix: "zdsync-".into(),
            tune_client: Some(Arc::new(|c| {
                c.max_retries = 3;
                c.max_backoff = Duration::from_millis(50);
                c.request_timeout = Duration::from_secs(20);
            })),
            trial_limit: None,
        },
    )
}

pub async fn start(config: SimConfig) -> Env {
    let sim = SimHandle::start(config).await.expect("simulator starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = engine_at(dir.path(), &sim.base_url());
    Env { sim, engine, dir }
}

pub fn admin_token(sim: &SimHandle) -> (Option<String>, StoredSecret) {
    let c = sim.credentials();
    (
        Some(c.admin_email),
        StoredSecret::ApiToken { token: c.api_token },
    )
}

pub async fn connect_admin(env: &Env, name: &str) {
    connect_on_plan(&env.engine, &env.sim, name, Plan::Paid).await;
}

pub async fn connect_on_plan(engine: &Engine, sim: &SimHandle, name: &str, plan: Plan) {
    let (email, secret) = admin_token(sim);
    connect(
        engine,
        ConnectRequest {
            name: name.into(),
            subdomain: "acme".into(),
            email,
            plan,
            secret,
        },
    )
    .await
    .expect("admin connects");
}

/// Every stored document of a connection, parsed, in ticket order.
pub async fn export(engine: &Engine, conn: &str) -> Vec<Value> {
    let mut out = Vec::new();
    zdsync_engine::status::for_each_document(engine, Some(conn), |row| {
        out.push(serde_json::from_str(&row.body).expect("stored document is JSON"));
        Ok(())
    })
    .await
    .expect("export");
    out
}

/// Asserts stored documents equal the simulator's expectation, naming the
/// first differing document.
pub async fn assert_matches_oracle(env: &Env, conn: &str) {
    assert_stored(env, conn, env.sim.expected_documents(conn)).await;
}

/// Asserts a connection's stored documents equal `want`, naming the first
/// differing document.
async fn assert_stored(env: &Env, conn: &str, want: Vec<Value>) {
    let got = export(&env.engine, conn).await;
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            g, w,
            "document {} differs from the simulator's expectation",
            w["id"]
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "stored {} documents, expected {}",
        got.len(),
        want.len()
    );
}

/// Connects `name` with the API token of the simulator's user `email` (an
/// agent, a restricted agent...), on the paid plan.
pub async fn connect_as(
    env: &Env,
    name: &str,
    email: &str,
) -> zdsync_engine::connect::ConnectOutcome {
    let c = env.sim.credentials();
    connect(
        &env.engine,
        ConnectRequest {
            name: name.into(),
            subdomain: "acme".into(),
            email: Some(email.into()),
            plan: Plan::Paid,
            secret: StoredSecret::ApiToken { token: c.api_token },
        },
    )
    .await
    .expect("the user connects")
}

/// Asserts stored documents equal what the simulator expects the user with
/// this e-mail to see (a restricted agent: its tickets; an agent: ratings
/// without the reason names only admins may read).
pub async fn assert_matches_oracle_as(env: &Env, conn: &str, email: &str) {
    let want = env.sim.expected_documents_visible_to(conn, email);
    assert_stored(env, conn, want).await;
}
