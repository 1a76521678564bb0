//! The daily refresh against the project's Zendesk simulator on an embedded
//! store: organization changes, customers who move or are deleted, deleted
//! organizations, rejected cursors, a cut-off run, the idle cost.

mod common;

use common::*;
use serde_json::{Value, json};
use zdsync_engine::refresh::{RefreshReport, refresh_connection};
use zdsync_engine::sync::{SyncOptions, sync_connection};
use zdsync_store::EntityKind;
use zendesk_sim::{Fault, FaultKind, Mutation};

/// A backfilled account, its first refresh done (cursors saved).
async fn synced(tickets: usize) -> Env {
    let env = start(small(tickets)).await;
    connect_admin(&env, "acme").await;
    sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("backfill");
    refresh(&env).await;
    env
}

async fn refresh(env: &Env) -> RefreshReport {
    refresh_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("refresh")
}

/// Lets the mutations age past the exports' one-minute horizon, then
/// refreshes and syncs as the daily and hourly runs would.
async fn daily_run(env: &Env) -> RefreshReport {
    env.sim.advance_clock(120);
    let r = refresh(env).await;
    assert!(r.complete, "{r:?}");
    sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("sync");
    r
}

/// The stored documents whose requester is `user_id`.
async fn documents_of(env: &Env, user_id: u64) -> Vec<Value> {
    let docs: Vec<Value> = export(&env.engine, "acme")
        .await
        .into_iter()
        .filter(|d| d["user"]["id"] == json!(user_id))
        .collect();
    assert!(!docs.is_empty(), "user {user_id} has no document");
    docs
}

/// A requester of documents who belongs to an organization.
fn requester_with_org(env: &Env) -> (u64, u64) {
    let facts = env.sim.facts();
    facts
        .requesters
        .iter()
        .find_map(|(u, o)| o.filter(|o| facts.org_ids.contains(o)).map(|o| (*u, o)))
        .expect("a requester with an organization")
}

#[tokio::test]
async fn org_renames_domains_tags_and_fields_reach_every_document() {
    let env = synced(300).await;
    let (user, org) = requester_with_org(&env);
    env.sim.mutate(Mutation::RenameOrg {
        org_id: org,
        name: "Renamed Holdings".into(),
    });
    env.sim.mutate(Mutation::UpdateOrg {
        org_id: org,
        domain_names: Some(vec!["renamed.example".into()]),
        tags: Some(vec!["renewed".into()]),
        fields: Some(serde_json::from_value(json!({"tier": "platinum"})).expect("map")),
    });
    let r = daily_run(&env).await;
    assert!(r.orgs_updated >= 1, "{r:?}");
    for d in documents_of(&env, user).await {
        let o = &d["user"]["organization"];
        assert_eq!(o["name"], "Renamed Holdings", "{}", d["id"]);
        assert_eq!(o["domain_names"], json!(["renamed.example"]));
        assert_eq!(o["tags"], json!(["renewed"]));
        assert_eq!(o["fields"]["tier"], "platinum");
    }
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn a_customer_who_moves_shows_the_new_organization() {
    let env = synced(300).await;
    let (user, old) = requester_with_org(&env);
    let new = *env
        .sim
        .facts()
        .org_ids
        .iter()
        .find(|o| **o != old)
        .expect("another organization");
    env.sim.mutate(Mutation::MoveUser {
        user_id: user,
        org_id: Some(new),
    });
    daily_run(&env).await;
    for d in documents_of(&env, user).await {
        assert_eq!(d["user"]["organization"]["id"], json!(new), "{}", d["id"]);
    }
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn a_requester_deleted_in_zendesk_is_missing_and_no_personal_data_stays() {
    let env = synced(300).await;
    let (user, _) = requester_with_org(&env);
    let before = documents_of(&env, user).await;
    let name = before[0]["user"]["name"]
        .as_str()
        .expect("a name")
        .to_string();
    let email = before[0]["user"]["email"].as_str().map(str::to_string);
    env.sim.mutate(Mutation::DeleteUser { user_id: user });
    let r = daily_run(&env).await;
    assert_eq!(r.users_deleted, 1, "{r:?}");
    for d in documents_of(&env, user).await {
        assert_eq!(
            d["user"],
            json!({"id": user, "missing": true}),
            "{}",
            d["id"]
        );
    }
    let stored = env
        .engine
        .store
        .get_entities("acme", EntityKind::User, &[user])
        .await
        .expect("read user");
    let body = &stored.get(&user).expect("tombstone kept").body;
    assert!(!body.contains(&name), "stored user keeps the name: {body}");
    let all = serde_json::to_string(&export(&env.engine, "acme").await).expect("json");
    assert!(
        !all.contains(&format!("\"{name}\"")),
        "a document keeps the name"
    );
    if let Some(e) = email {
        assert!(!all.contains(&e), "a document keeps the e-mail");
        assert!(!body.contains(&e));
    }
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn an_organization_deleted_in_zendesk_shows_as_missing() {
    let env = synced(300).await;
    let (user, org) = requester_with_org(&env);
    env.sim.mutate(Mutation::DeleteOrg { org_id: org });
    daily_run(&env).await;
    for d in documents_of(&env, user).await {
        assert_eq!(d["user"]["missing"], false);
        assert_eq!(
            d["user"]["organization"],
            json!({"id": org, "missing": true}),
            "{}",
            d["id"]
        );
    }
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn a_refresh_with_nothing_changed_costs_two_requests_and_writes_nothing() {
    let env = synced(200).await;
    env.sim.advance_clock(120);
    let r = refresh(&env).await;
    assert!(r.complete, "{r:?}");
    assert!(r.requests.total <= 2, "idle refresh: {r:?}");
    assert_eq!(r.data_writes, 0, "idle refresh: {r:?}");
}

#[tokio::test]
async fn a_rejected_users_cursor_restarts_from_the_time_it_had_reached() {
    let env = synced(200).await;
    let (user, _) = requester_with_org(&env);
    env.sim.mutate(Mutation::RenameUser {
        user_id: user,
        name: "Before The Rejection".into(),
    });
    daily_run(&env).await; // saves a users cursor
    env.sim.mutate(Mutation::RenameUser {
        user_id: user,
        name: "After The Rejection".into(),
    });
    env.sim.inject(Fault {
        path_prefix: Some("/api/v2/incremental/users".into()),
        kind: FaultKind::Rejected {
            code: "InvalidPaginationParameter".into(),
        },
        count: 1,
    });
    daily_run(&env).await;
    for d in documents_of(&env, user).await {
        assert_eq!(d["user"]["name"], "After The Rejection");
    }
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn a_rejected_organizations_start_is_tried_again_once() {
    let env = synced(200).await;
    let (user, org) = requester_with_org(&env);
    env.sim.mutate(Mutation::RenameOrg {
        org_id: org,
        name: "After The Rejection Ltd".into(),
    });
    env.sim.inject(Fault {
        path_prefix: Some("/api/v2/incremental/organizations".into()),
        kind: FaultKind::Rejected {
            code: "InvalidValue".into(),
        },
        count: 1,
    });
    daily_run(&env).await;
    for d in documents_of(&env, user).await {
        assert_eq!(d["user"]["organization"]["name"], "After The Rejection Ltd");
    }
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn a_refresh_cut_off_at_its_deadline_loses_no_change() {
    let env = synced(300).await;
    env.sim.mutate(Mutation::Random { n: 60, seed: 11 });
    env.sim.advance_clock(120);
    sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("sync");
    let cut = refresh_connection(
        &env.engine,
        "acme",
        &SyncOptions {
            deadline: Some(std::time::Instant::now()),
            ..SyncOptions::default()
        },
    )
    .await
    .expect("cut-off refresh");
    assert!(!cut.complete, "{cut:?}");
    let rest = refresh(&env).await;
    assert!(rest.complete, "{rest:?}");
    assert_matches_oracle(&env, "acme").await;
}

#[tokio::test]
async fn the_tombstone_of_a_deleted_user_survives_a_later_sync_of_their_ticket() {
    let env = synced(300).await;
    let (user, _) = requester_with_org(&env);
    let ticket = documents_of(&env, user).await[0]["metadata"]["ticket_id"]
        .as_u64()
        .expect("ticket id");
    env.sim.mutate(Mutation::DeleteUser { user_id: user });
    daily_run(&env).await;
    env.sim.mutate(Mutation::AddComment {
        ticket_id: ticket,
        by_customer: false,
        public: true,
        text: "Following up after the deletion.".into(),
    });
    env.sim.advance_clock(120);
    sync_connection(&env.engine, "acme", &SyncOptions::default())
        .await
        .expect("sync");
    let d = documents_of(&env, user).await;
    assert_eq!(d[0]["user"], json!({"id": user, "missing": true}));
    assert_matches_oracle(&env, "acme").await;
}
