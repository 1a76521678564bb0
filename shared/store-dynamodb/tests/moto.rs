//! The shared conformance suite on DynamoDB, against a moto server (the test
//! script starts one and sets `ZDSYNC_TEST_AWS_ENDPOINT`). Without it the
//! test says so and fails, unless `ZDSYNC_SKIP_AWS_TESTS=1`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use zdsync_store::{Blob, Connection, Store, StoreError, TicketWrite};
use zdsync_store_dynamodb::DynamoStore;

#[path = "common/ops.rs"]
mod ops;

async fn sdk_config() -> Option<aws_config::SdkConfig> {
    let endpoint = match std::env::var("ZDSYNC_TEST_AWS_ENDPOINT") {
        Ok(e) => e,
        Err(_) if std::env::var("ZDSYNC_SKIP_AWS_TESTS").is_ok() => return None,
        Err(_) => panic!(
            "ZDSYNC_TEST_AWS_ENDPOINT is not set: run the tests with ./infra/scripts/test.sh (it starts moto), or set ZDSYNC_SKIP_AWS_TESTS=1"
        ),
    };
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    Some(conf)
}

async fn client() -> Option<Client> {
    Some(Client::new(&sdk_config().await?))
}

async fn fresh(name: &str) -> Option<DynamoStore> {
    let c = client().await?;
    let table = format!("zdsync-test-{name}-{}", std::process::id());
    let s = DynamoStore::new(c, table);
    s.create_table().await.expect("create table on moto");
    Some(s)
}

#[tokio::test]
async fn conformance_on_moto() {
    let Some(s) = fresh("conformance").await else {
        return;
    };
    zdsync_store::conformance::run_all(&s).await;
}

#[tokio::test]
async fn a_missing_table_is_named_in_the_error() {
    let Some(c) = client().await else { return };
    let s = DynamoStore::new(c, "no-such-table");
    match s.get_connection("acme").await {
        Err(StoreError::Missing { what, hint }) => {
            assert!(what.contains("no-such-table"), "{what}");
            assert!(hint.contains("--table"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_split_document_is_replaced_whole_and_old_parts_go() {
    let Some(s) = fresh("split").await else {
        return;
    };
    let big = |c: char| Blob {
        hash: c.to_string(),
        body: c.to_string().repeat(1_000_000),
    };
    s.write_tickets(
        "acme",
        &[TicketWrite::PutDocument {
            ticket_id: 1,
            blob: big('a'),
        }],
    )
    .await
    .unwrap();
    s.write_tickets(
        "acme",
        &[TicketWrite::PutDocument {
            ticket_id: 1,
            blob: big('b'),
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_document("acme", 1).await.unwrap().unwrap(),
        "b".repeat(1_000_000)
    );
    s.write_tickets(
        "acme",
        &[TicketWrite::PutDocument {
            ticket_id: 1,
            blob: Blob {
                hash: "s".into(),
                body: "small".into(),
            },
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_document("acme", 1).await.unwrap().as_deref(),
        Some("small")
    );
    s.write_tickets("acme", &[TicketWrite::DeleteTicket { ticket_id: 1 }])
        .await
        .unwrap();
    assert_eq!(s.get_document("acme", 1).await.unwrap(), None);
}

#[tokio::test]
async fn secrets_conformance_on_moto() {
    let Some(conf) = sdk_config().await else {
        return;
    };
    let s =
        zdsync_store_dynamodb::SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&conf));
    zdsync_store::conformance::run_secrets(&s).await;
}

/// A fresh table whose store's requests are counted by operation, and a
/// plain client to reach behind the store.
async fn counted(name: &str) -> Option<(DynamoStore, ops::Ops, Client)> {
    let conf = sdk_config().await?;
    let counter = ops::Ops::default();
    let table = format!("zdsync-test-{name}-{}", std::process::id());
    let s = DynamoStore::new(counter.client(&conf), table);
    s.create_table().await.expect("create table on moto");
    counter.take();
    Some((s, counter, Client::new(&conf)))
}

fn connection(name: &str) -> Connection {
    Connection {
        name: name.into(),
        subdomain: name.into(),
        email: Some(format!("admin@{name}.example")),
        plan: zdsync_store::Plan::Paid,
        auth: zdsync_store::AuthKind::Token,
        secret_ref: format!("zdsync/{name}"),
        api_url: None,
        role: Some("admin".into()),
        user_id: Some(1),
        restriction: None,
        created_at: "2024-01-01T00:00:00Z".into(),
        updated_at: "2024-01-01T00:00:00Z".into(),
    }
}

/// Writes a connection record as zdsync wrote them before they carried
/// the listing index's keys.
async fn put_old_record(raw: &Client, s: &DynamoStore, conn: &Connection) {
    raw.put_item()
        .table_name(s.table())
        .item("pk", AttributeValue::S(format!("CONN#{}", conn.name)))
        .item("sk", AttributeValue::S("META".into()))
        .item(
            "body",
            AttributeValue::S(serde_json::to_string(conn).unwrap()),
        )
        .send()
        .await
        .expect("an old record");
}

async fn names(s: &DynamoStore) -> Vec<String> {
    let conns = s.list_connections().await.expect("listed");
    conns.into_iter().map(|c| c.name).collect()
}

#[tokio::test]
async fn connections_are_listed_by_a_query_once_old_records_are_indexed() {
    let Some((s, ops, raw)) = counted("conn-index").await else {
        return;
    };
    put_old_record(&raw, &s, &connection("old")).await;
    s.create_connection(&connection("new")).await.unwrap();
    ops.take();

    assert_eq!(names(&s).await, ["new", "old"], "the first listing scans");
    let first = ops.take();
    assert!(
        first
            .keys()
            .all(|op| ["Query", "BatchGetItem", "Scan", "PutItem"].contains(&op.as_str())),
        "only the calls the scheduled functions may make (template.yaml): {first:?}"
    );
    assert_eq!(first.get("Scan"), Some(&1), "{first:?}");
    assert_eq!(
        first.get("PutItem"),
        Some(&2),
        "the old record indexed, then the marker: {first:?}"
    );
    let old = raw
        .get_item()
        .table_name(s.table())
        .key("pk", AttributeValue::S("CONN#old".into()))
        .key("sk", AttributeValue::S("META".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the old record stays");
    assert_eq!(old["gsi1pk"], AttributeValue::S("CONNECTIONS".into()));
    assert_eq!(old["gsi1sk"], AttributeValue::S("old".into()));
    assert_eq!(
        s.get_connection("old").await.unwrap(),
        Some(connection("old")),
        "indexing kept the record"
    );

    ops.take();
    assert_eq!(names(&s).await, ["new", "old"], "then the index alone");
    let then = ops.take();
    assert_eq!(then.get("Query"), Some(&1), "{then:?}");
    assert_eq!(then.get("BatchGetItem"), Some(&1), "{then:?}");
    assert_eq!(then.get("Scan"), None, "no scan once indexed: {then:?}");
    assert_eq!(then.get("PutItem"), None, "{then:?}");
}

#[tokio::test]
async fn a_record_left_unindexed_after_the_marker_is_listed_once_the_marker_goes() {
    let Some((s, _ops, raw)) = counted("conn-reindex").await else {
        return;
    };
    s.create_connection(&connection("a")).await.unwrap();
    assert_eq!(names(&s).await, ["a"]);
    // An older zdsync writes a record without the keys after the marker.
    put_old_record(&raw, &s, &connection("b")).await;
    assert_eq!(names(&s).await, ["a"], "not in the index");
    raw.delete_item()
        .table_name(s.table())
        .key("pk", AttributeValue::S("CONNECTIONS".into()))
        .key("sk", AttributeValue::S("INDEXED".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(names(&s).await, ["a", "b"], "indexed again");
    assert_eq!(names(&s).await, ["a", "b"], "and listed by the index");
}
