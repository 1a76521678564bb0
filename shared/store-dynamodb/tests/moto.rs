//! The shared conformance suite on DynamoDB, against a moto server (the test
//! script starts one and sets `ZDSYNC_TEST_AWS_ENDPOINT`). Without it the
//! test says so and fails, unless `ZDSYNC_SKIP_AWS_TESTS=1`.

use aws_sdk_dynamodb::Client;
use zdsync_store::{Blob, Store, StoreError, TicketWrite};
use zdsync_store_dynamodb::DynamoStore;

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
