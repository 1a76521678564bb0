//! `connect` against the project's Zendesk simulator: what it saves.

mod common;

use common::*;
use zdsync_engine::connect::{ConnectRequest, connect};
use zdsync_engine::credentials::StoredSecret;
use zdsync_engine::sync::{SyncOptions, sync_connection};
use zdsync_store::Plan;

/// A pair issued by the simulator for its OAuth client.
async fn issued_pair(env: &Env) -> (String, String) {
    let c = env.sim.credentials();
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth/tokens", env.sim.base_url()))
        .json(&serde_json::json!({
            "grant_type": "client_credentials",
            "client_id": c.oauth_client_id,
            "client_secret": c.oauth_client_secret,
        }))
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    (
        v["access_token"].as_str().expect("access").to_string(),
        v["refresh_token"].as_str().expect("refresh").to_string(),
    )
}

#[tokio::test]
async fn a_token_refreshed_during_the_check_is_the_pair_connect_saves() {
    let env = start(small(40)).await;
    let (access, refresh) = issued_pair(&env).await;
    env.sim.expire_tokens(); // the check must refresh, spending `refresh`
    let c = env.sim.credentials();
    connect(
        &env.engine,
        ConnectRequest {
            name: "acme".into(),
            subdomain: "acme".into(),
            email: None,
            plan: Plan::Paid,
            secret: StoredSecret::OauthToken {
                access_token: access.clone(),
                refresh_token: Some(refresh.clone()),
                client_id: Some(c.oauth_client_id.clone()),
                client_secret: Some(c.oauth_client_secret.clone()),
            },
        },
    )
    .await
    .expect("connect refreshes the expired token");
    let conn = env.engine.connection("acme").await.expect("saved");
    let saved = env
        .engine
        .secrets
        .get_secret(&conn.secret_ref)
        .await
        .expect("read")
        .expect("a secret");
    assert!(
        !saved.contains(&access),
        "the expired access token was saved"
    );
    assert!(
        !saved.contains(&refresh),
        "the spent refresh token was saved"
    );
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("the first sync works with the saved pair");
    assert!(r.complete);
}

#[tokio::test]
async fn two_connects_of_one_name_at_once_leave_the_winner_its_secret() {
    let env = start(small(20)).await;
    let attempt = || {
        let (email, secret) = admin_token(&env.sim);
        connect(
            &env.engine,
            ConnectRequest {
                name: "acme".into(),
                subdomain: "acme".into(),
                email,
                plan: Plan::Paid,
                secret,
            },
        )
    };
    let (a, b) = tokio::join!(attempt(), attempt());
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one connect wins: {a:?} / {b:?}"
    );
    let conn = env
        .engine
        .connection("acme")
        .await
        .expect("the winner's record");
    assert!(
        env.engine
            .secrets
            .get_secret(&conn.secret_ref)
            .await
            .expect("read")
            .is_some(),
        "the winner's secret is still there"
    );
    let files = std::fs::read_dir(env.dir.path().join("secrets"))
        .expect("secrets folder")
        .count();
    assert_eq!(files, 1, "the loser removed its own secret, and only that");
    let r = sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("the winner syncs");
    assert!(r.complete);
}

#[tokio::test]
async fn a_record_edited_to_another_host_is_refused_before_any_request() {
    let env = start(small(20)).await;
    connect_admin(&env, "acme").await;
    let mut conn = env.engine.connection("acme").await.expect("saved");
    conn.api_url = Some("https://collector.example".into());
    env.engine
        .store
        .update_connection(&conn)
        .await
        .expect("edit the record");
    // As the Lambdas run: no override, the record's address is used.
    let mut lambda_like = env.engine.clone();
    lambda_like.settings.api_url_override = None;
    env.sim.reset_stats();
    let err = sync_connection(&lambda_like, "acme", &SyncOptions::default())
        .await
        .expect_err("refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("https://acme.zendesk.com"),
        "{err}"
    );
    assert_eq!(env.sim.stats().requests, 0);
}
