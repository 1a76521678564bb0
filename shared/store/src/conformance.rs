//! The conformance suite every store adapter runs (embedded, DynamoDB on moto).
//!
//! Call [`run_all`] from an adapter's tests with a fresh, empty store, and
//! [`run_secrets`] with its secret store. Each check panics with a message
//! naming the contract point the adapter got wrong. Checks use their own
//! connection names, so they do not interfere.

use crate::{
    AuthKind, Blob, Connection, CursorKind, EntityKind, LeaseOutcome, Plan, SecretStore, Store,
    StoreError, TicketWrite,
};

fn conn(name: &str) -> Connection {
    Connection {
        name: name.into(),
        subdomain: "acme".into(),
        email: Some("admin@acme.example".into()),
        plan: Plan::Paid,
        auth: AuthKind::Token,
        secret_ref: format!("zdsync-{name}"),
        api_url: None,
        role: Some("admin".into()),
        user_id: Some(1),
        restriction: None,
        created_at: "2024-01-01T00:00:00Z".into(),
        updated_at: "2024-01-01T00:00:00Z".into(),
    }
}

fn blob(body: &str) -> Blob {
    Blob {
        hash: format!("h{}", body.len()),
        body: body.to_string(),
    }
}

/// Runs every check against an empty store.
pub async fn run_all(store: &dyn Store) {
    connections(store).await;
    cursors(store).await;
    leases(store).await;
    run_records(store).await;
    entities(store).await;
    ticket_writes(store).await;
    listing(store).await;
    large_and_unicode_bodies(store).await;
}

async fn connections(s: &dyn Store) {
    s.create_connection(&conn("c-b"))
        .await
        .expect("create connection");
    s.create_connection(&conn("c-a"))
        .await
        .expect("create a second connection");
    match s.create_connection(&conn("c-a")).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("creating an existing connection must be a Conflict, got {other:?}"),
    }
    let mut c = conn("c-a");
    c.plan = Plan::Trial;
    s.update_connection(&c).await.expect("update connection");
    assert_eq!(
        s.get_connection("c-a").await.expect("get"),
        Some(c),
        "update_connection must replace the record"
    );
    assert_eq!(s.get_connection("c-none").await.expect("get missing"), None);
    let names: Vec<String> = s
        .list_connections()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .filter(|n| n.starts_with("c-"))
        .collect();
    assert_eq!(
        names,
        vec!["c-a", "c-b"],
        "connections are listed sorted by name"
    );
}

async fn cursors(s: &dyn Store) {
    let c = "cur";
    assert_eq!(
        s.get_cursor(c, CursorKind::Tickets).await.expect("get"),
        None
    );
    s.put_cursor(c, CursorKind::Tickets, "one", None)
        .await
        .expect("first put with expected None");
    match s.put_cursor(c, CursorKind::Tickets, "two", None).await {
        Err(StoreError::Conflict(_)) => {}
        other => {
            panic!("a put expecting an absent cursor must conflict when one exists: {other:?}")
        }
    }
    match s
        .put_cursor(c, CursorKind::Tickets, "two", Some("zero"))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a put with a wrong expected value must conflict: {other:?}"),
    }
    s.put_cursor(c, CursorKind::Tickets, "two", Some("one"))
        .await
        .expect("put with the right expected value");
    assert_eq!(
        s.get_cursor(c, CursorKind::Tickets)
            .await
            .expect("get")
            .as_deref(),
        Some("two")
    );
    assert_eq!(
        s.get_cursor(c, CursorKind::Events).await.expect("get"),
        None,
        "cursor kinds are separate"
    );
    assert_eq!(
        s.get_cursor("cur-other", CursorKind::Tickets)
            .await
            .expect("get"),
        None,
        "connections are separate"
    );
    s.delete_cursor(c, CursorKind::Tickets)
        .await
        .expect("delete");
    assert_eq!(
        s.get_cursor(c, CursorKind::Tickets).await.expect("get"),
        None,
        "delete_cursor removes it"
    );
    s.delete_cursor(c, CursorKind::Tickets)
        .await
        .expect("deleting an absent cursor is fine");
}

async fn leases(s: &dyn Store) {
    let c = "lease";
    assert_eq!(
        s.acquire_lease(c, "a", 1_000, 500).await.expect("acquire"),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        s.acquire_lease(c, "b", 1_200, 500)
            .await
            .expect("acquire held"),
        LeaseOutcome::Held {
            owner: "a".into(),
            expires_at_ms: 1_500
        },
        "a live lease held by another owner is reported with its expiry"
    );
    assert_eq!(
        s.acquire_lease(c, "a", 1_400, 500).await.expect("renew"),
        LeaseOutcome::Acquired,
        "the owner renews its lease"
    );
    assert_eq!(
        s.acquire_lease(c, "b", 1_800, 500)
            .await
            .expect("still held"),
        LeaseOutcome::Held {
            owner: "a".into(),
            expires_at_ms: 1_900
        },
        "renewal extends the expiry"
    );
    s.release_lease(c, "b")
        .await
        .expect("release by a non-owner");
    assert!(
        matches!(
            s.acquire_lease(c, "b", 1_850, 500).await.expect("acquire"),
            LeaseOutcome::Held { .. }
        ),
        "release by a non-owner must leave the lease"
    );
    assert_eq!(
        s.acquire_lease(c, "b", 2_000, 500)
            .await
            .expect("acquire expired"),
        LeaseOutcome::Acquired,
        "an expired lease can be taken"
    );
    s.release_lease(c, "b").await.expect("release");
    assert_eq!(
        s.acquire_lease(c, "c", 2_001, 500)
            .await
            .expect("acquire released"),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        s.acquire_lease("lease-2", "z", 2_001, 500)
            .await
            .expect("other connection"),
        LeaseOutcome::Acquired
    );
}

async fn run_records(s: &dyn Store) {
    assert_eq!(s.get_run_record("run").await.expect("get"), None);
    s.put_run_record("run", r#"{"n":1}"#).await.expect("put");
    s.put_run_record("run", r#"{"n":2}"#)
        .await
        .expect("replace");
    assert_eq!(
        s.get_run_record("run").await.expect("get").as_deref(),
        Some(r#"{"n":2}"#)
    );
}

async fn entities(s: &dyn Store) {
    let big_id: u64 = (1 << 53) + 1;
    s.put_entities(
        "ent",
        EntityKind::User,
        &[(3, blob("u3")), (big_id, blob("ubig")), (1, blob("u1"))],
    )
    .await
    .expect("put users");
    s.put_entities("ent", EntityKind::Org, &[(3, blob("o3"))])
        .await
        .expect("put orgs");
    s.put_entities("ent-2", EntityKind::User, &[(3, blob("other"))])
        .await
        .expect("put other connection");
    let got = s
        .get_entities("ent", EntityKind::User, &[1, 2, 3, big_id])
        .await
        .expect("get users");
    assert_eq!(got.len(), 3, "unknown ids are simply absent");
    assert_eq!(
        got.get(&3),
        Some(&blob("u3")),
        "kinds and connections are separate"
    );
    assert_eq!(
        got.get(&big_id),
        Some(&blob("ubig")),
        "ids above 2^53 round-trip"
    );
    s.put_entities("ent", EntityKind::User, &[(3, blob("u3-new"))])
        .await
        .expect("upsert");
    let got = s
        .get_entities("ent", EntityKind::User, &[3])
        .await
        .expect("get");
    assert_eq!(got.get(&3), Some(&blob("u3-new")), "put replaces");
    assert_eq!(
        s.list_entity_ids("ent", EntityKind::User)
            .await
            .expect("list"),
        vec![1, 3, big_id],
        "ids ascending"
    );
    assert_eq!(
        s.list_entity_ids("ent", EntityKind::Org)
            .await
            .expect("list"),
        vec![3]
    );
    let many: Vec<(u64, Blob)> = (1000..1250).map(|i| (i, blob(&format!("u{i}")))).collect();
    s.put_entities("ent", EntityKind::User, &many)
        .await
        .expect("put many");
    let ids: Vec<u64> = (1000..1250).collect();
    assert_eq!(
        s.get_entities("ent", EntityKind::User, &ids)
            .await
            .expect("get many")
            .len(),
        250,
        "batches over 100 keys work"
    );
    let counts = s.counts("ent").await.expect("counts");
    assert_eq!((counts.users, counts.orgs), (253, 1));
}

async fn ticket_writes(s: &dyn Store) {
    let c = "tw";
    s.write_tickets(
        c,
        &[
            TicketWrite::PutState {
                ticket_id: 1,
                blob: blob("s1"),
            },
            TicketWrite::PutDocument {
                ticket_id: 1,
                blob: blob("d1"),
            },
            TicketWrite::PutState {
                ticket_id: 2,
                blob: blob("s2"),
            },
            TicketWrite::PutDocument {
                ticket_id: 2,
                blob: blob("d2"),
            },
            TicketWrite::PutState {
                ticket_id: 3,
                blob: blob("s3"),
            },
        ],
    )
    .await
    .expect("write");
    let states = s.get_states(c, &[1, 2, 3, 4]).await.expect("states");
    assert_eq!(states.len(), 3);
    assert_eq!(states.get(&2), Some(&blob("s2")));
    let hashes = s.get_document_hashes(c, &[1, 2, 3]).await.expect("hashes");
    assert_eq!(hashes.len(), 2, "only stored documents have hashes");
    assert_eq!(hashes.get(&1).map(String::as_str), Some("h2"));
    assert_eq!(
        s.get_document(c, 1).await.expect("doc").as_deref(),
        Some("d1")
    );
    assert_eq!(s.get_document("tw-other", 1).await.expect("doc"), None);

    // In order: a later write to the same ticket wins.
    s.write_tickets(
        c,
        &[
            TicketWrite::PutDocument {
                ticket_id: 1,
                blob: blob("d1-a"),
            },
            TicketWrite::PutDocument {
                ticket_id: 1,
                blob: blob("d1-bb"),
            },
            TicketWrite::DeleteDocument { ticket_id: 2 },
            TicketWrite::DeleteTicket { ticket_id: 3 },
        ],
    )
    .await
    .expect("write 2");
    assert_eq!(
        s.get_document(c, 1).await.expect("doc").as_deref(),
        Some("d1-bb"),
        "writes apply in order"
    );
    assert_eq!(
        s.get_document(c, 2).await.expect("doc"),
        None,
        "DeleteDocument removes the document"
    );
    assert!(
        s.get_states(c, &[2]).await.expect("state").contains_key(&2),
        "DeleteDocument keeps the state"
    );
    assert!(
        s.get_states(c, &[3]).await.expect("state").is_empty(),
        "DeleteTicket removes the state"
    );
    s.write_tickets(c, &[TicketWrite::DeleteTicket { ticket_id: 99 }])
        .await
        .expect("deleting nothing is fine");
    s.write_tickets(c, &[])
        .await
        .expect("an empty batch is fine");
    let counts = s.counts(c).await.expect("counts");
    assert_eq!((counts.documents, counts.states), (1, 2));
}

async fn listing(s: &dyn Store) {
    for (c, ids) in [("ls-a", vec![5u64, 1, 3]), ("ls-b", vec![2u64, 4])] {
        s.create_connection(&conn(c))
            .await
            .expect("create connection");
        let writes: Vec<TicketWrite> = ids
            .iter()
            .flat_map(|id| {
                [
                    TicketWrite::PutDocument {
                        ticket_id: *id,
                        blob: blob(&format!("{c}-{id}")),
                    },
                    TicketWrite::PutState {
                        ticket_id: *id,
                        blob: blob("s"),
                    },
                ]
            })
            .collect();
        s.write_tickets(c, &writes).await.expect("write");
    }
    let one = s
        .list_documents(Some("ls-a"), None, 10)
        .await
        .expect("list");
    let ids: Vec<u64> = one.iter().map(|r| r.ticket_id).collect();
    assert_eq!(
        ids,
        vec![1, 3, 5],
        "documents of one connection, by ticket id"
    );
    assert_eq!(one[0].body, "ls-a-1");
    // Paging over everything with after + limit.
    let mut seen = Vec::new();
    let mut after: Option<(String, u64)> = None;
    loop {
        let page = s
            .list_documents(None, after.as_ref().map(|(c, t)| (c.as_str(), *t)), 2)
            .await
            .expect("page");
        assert!(page.len() <= 2, "limit is respected");
        let Some(last) = page.last() else { break };
        after = Some((last.connection.clone(), last.ticket_id));
        seen.extend(
            page.into_iter()
                .filter(|r| r.connection.starts_with("ls-"))
                .map(|r| (r.connection, r.ticket_id)),
        );
    }
    let want: Vec<(String, u64)> = [
        ("ls-a", 1),
        ("ls-a", 3),
        ("ls-a", 5),
        ("ls-b", 2),
        ("ls-b", 4),
    ]
    .iter()
    .map(|(c, t)| (c.to_string(), *t))
    .collect();
    assert_eq!(
        seen, want,
        "paging over all connections by (connection, ticket id)"
    );
    let p1 = s.list_state_ids("ls-a", None, 2).await.expect("states");
    assert_eq!(p1, vec![1, 3]);
    let p2 = s.list_state_ids("ls-a", Some(3), 2).await.expect("states");
    assert_eq!(p2, vec![5]);
}

async fn large_and_unicode_bodies(s: &dyn Store) {
    let big: String = "émoji 😀 مرحبا שלום ".repeat(100_000); // > 2 MB
    assert!(big.len() > 2_000_000);
    s.write_tickets(
        "big",
        &[TicketWrite::PutDocument {
            ticket_id: 7,
            blob: blob(&big),
        }],
    )
    .await
    .expect("write a 2 MB document");
    assert_eq!(
        s.get_document("big", 7).await.expect("read").as_deref(),
        Some(big.as_str()),
        "large bodies round-trip byte-exact"
    );
    let rows = s.list_documents(Some("big"), None, 5).await.expect("list");
    assert_eq!(rows[0].body.len(), big.len());
    s.write_tickets(
        "big",
        &[TicketWrite::PutState {
            ticket_id: 7,
            blob: blob(&big),
        }],
    )
    .await
    .expect("write a 2 MB state");
    assert_eq!(
        s.get_states("big", &[7]).await.expect("state")[&7].body,
        big
    );
}

/// Runs the secret-store checks.
pub async fn run_secrets(secrets: &dyn SecretStore) {
    assert_eq!(
        secrets.get_secret("zdsync-none").await.expect("get"),
        None,
        "unknown secrets are None"
    );
    secrets
        .put_secret("zdsync-acme", "{\"token\":\"one\"}")
        .await
        .expect("put");
    assert_eq!(
        secrets
            .get_secret("zdsync-acme")
            .await
            .expect("get")
            .as_deref(),
        Some("{\"token\":\"one\"}")
    );
    secrets
        .put_secret("zdsync-acme", "two 😀")
        .await
        .expect("replace");
    assert_eq!(
        secrets
            .get_secret("zdsync-acme")
            .await
            .expect("get")
            .as_deref(),
        Some("two 😀")
    );
    secrets.delete_secret("zdsync-acme").await.expect("delete");
    assert_eq!(secrets.get_secret("zdsync-acme").await.expect("get"), None);
    secrets
        .delete_secret("zdsync-acme")
        .await
        .expect("deleting an absent secret is fine");
}
