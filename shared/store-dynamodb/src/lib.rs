//! DynamoDB adapter of the storage port: the single table of
//! ARCHITECTURE.md §5.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | connection | `CONN#name` | `META` |
//! | connections indexed (marker) | `CONNECTIONS` | `INDEXED` |
//! | cursor | `CONN#name` | `CURSOR#kind` |
//! | lease | `CONN#name` | `LEASE` |
//! | run record | `CONN#name` | `RUN` |
//! | user / org | `CONN#name` | `USER#id` / `ORG#id` (ids zero-padded: sorted) |
//! | ticket state | `DOC#name#id` | `STATE` (+ `STATE#v#i` parts) |
//! | document | `DOC#name#id` | `PART#0` (+ `PART#v#i` parts) |
//!
//! Heads (`STATE`, `PART#0`) carry the hash, the first chunk of the body and,
//! for bodies over one item, the version and count of the other parts
//! (`STATE#v#i` / `PART#v#i`, i from 1). A reader takes the head and then
//! exactly the parts it names, so the head is the commit point of a body.
//! Document and state heads also carry `gsi1pk`/`gsi1sk` (`DOCS#name` /
//! `STATES#name`, zero-padded ticket id) for listing by connection, and
//! connection records (`CONNECTIONS`, the name) for listing connections
//! without a scan (the `connections` module: how records written before
//! they carried the keys are indexed once).
//!
//! A `write_tickets` call (its writes reduced to the last effect on each
//! body) goes in this order; each step's requests are BatchWriteItem chunks
//! of 25 sent side by side (at most [`BATCH_CONCURRENCY`] at a time), and a
//! step begins only once every request of the one before it is written:
//! 1. one read for the whole call: a BatchGetItem of every body's head and
//!    pending marker (`PENDING#STATE` / `PENDING#PART`), projected to their
//!    shapes, 100 keys a request, side by side. The head names its parts;
//!    the marker lists the versions of split writes begun and not yet swept
//!    (a write cut off before its head, or a deletion cut off before its
//!    parts went). The writes are planned from this read: no request reads
//!    anything per body;
//! 2. the markers: where the current head or the new body is split, its
//!    marker records both versions (the old one's parts outlive its head
//!    until step 5), with those an interrupted write left;
//! 3. the parts of split bodies, under a version above every one found
//!    (head or marker), so a write never writes over, or partly reuses, the
//!    parts of an abandoned one;
//! 4. the heads: puts (one-item and split alike) and deletions;
//! 5. the parts the heads now stored do not name (previous versions',
//!    abandoned ones, all of a deleted body's);
//! 6. the markers of the bodies swept, last, so a sweep cut short is still
//!    recorded.
//!
//! A crash before 4 leaves the old head naming its intact parts (new parts
//! are unnamed leftovers, recorded by the marker); a crash in or after 4
//! leaves each body with its new head, whose parts were all written before
//! it, its old head, or no head; so every crash leaves the old or the new
//! version of each body readable, never a head naming a missing part.
//! Leftover parts are harmless and are swept by the next put or delete of
//! the same body (step 1 finds them through the marker); a ticket never
//! written again keeps them. (A Query of the partition would find parts
//! without a marker, but costs the whole table on the emulator the tests
//! run on; the marker costs one item write before and one after a write
//! that involves a split body, and split bodies are rare.) A call whose
//! bodies are all one item and stay so costs its read and its heads: for a
//! page of 1,000 tickets (2,000 bodies), 40 BatchGetItem and 80
//! BatchWriteItem requests. The lease makes one writer per connection, so
//! no two writes of a body race; a reader running alongside a write can
//! still find a part gone between reading the head and the parts (an error
//! that the next read does not meet).

mod batch;
mod bodies;
mod connections;
mod items;
mod keys;
mod listing;
mod queue;
mod secrets;
mod writes;

pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use aws_sdk_secretsmanager::Client as SecretsClient;
pub use queue::{Received, SQS_BATCH_MAX, SqsQueue};
pub use secrets::SecretsManagerStore;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use batch::{delete_request, put_request};
use items::{Item, attr_n, attr_s, get_n, get_s};
use keys::{Body, conn_pk, cursor_sk, doc_pk, entity_sk};
use zdsync_store::{
    Blob, Connection, CursorKind, DocumentRow, EntityKind, LeaseOutcome, Result, Store,
    StoreCounts, StoreError, TicketWrite,
};

pub use batch::BATCH_CONCURRENCY;
pub use items::{BATCH_GET_MAX, BATCH_WRITE_MAX, CHUNK_BYTES, chunk_body};

/// The store on one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

const GSI: &str = "gsi1";

/// Maps an SDK error to the port's taxonomy, naming the table.
fn map_err<E, R>(table: &str, context: &str, e: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(service) = e.as_service_error() {
        match service.code() {
            Some("ResourceNotFoundException") => {
                return StoreError::Missing {
                    what: format!("DynamoDB table {table:?}"),
                    hint: "deploy the stack (sam deploy) or pass the right table with --table / ZDSYNC_TABLE".into(),
                };
            }
            Some("ProvisionedThroughputExceededException")
            | Some("ThrottlingException")
            | Some("RequestLimitExceeded") => {
                return StoreError::Throttled(format!(
                    "{context}: {}",
                    service.message().unwrap_or("throttled")
                ));
            }
            Some("ConditionalCheckFailedException") => {
                return StoreError::Conflict(context.to_string());
            }
            _ => {}
        }
    }
    StoreError::backend(
        format!("{context} (table {table:?})"),
        aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
    )
}

/// Attempts per DynamoDB request (the SDK's standard retry with exponential
/// backoff and jitter). Throttling (`ProvisionedThroughputExceeded`,
/// `ThrottlingException`) and transient errors are retried; the default of 3
/// gives up too soon for an on-demand table that is still scaling.
pub const DYNAMODB_MAX_ATTEMPTS: u32 = 8;

/// A DynamoDB client from an SDK configuration, with zdsync's retry policy.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(config)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(DYNAMODB_MAX_ATTEMPTS)
                .with_initial_backoff(std::time::Duration::from_millis(100)),
        )
        .build();
    Client::from_conf(conf)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// Builds a client from the environment (`AWS_*`, incl. `AWS_ENDPOINT_URL`).
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        DynamoStore::new(client(&config), table)
    }

    /// A client for a given endpoint (a local emulator) with the
    /// environment's credentials and region (us-east-1 when unset).
    pub async fn from_endpoint(endpoint_url: &str, table: impl Into<String>) -> Self {
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint_url);
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
        DynamoStore::new(client(&loader.load().await), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (pay per request, with the listing index). For tests
    /// and local set-ups; deployments create it with the SAM template.
    pub async fn create_table(&self) -> Result<()> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
            Projection, ProjectionType, ScalarAttributeType,
        };
        let def = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::backend("table definition", e))
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .map_err(|e| StoreError::backend("table definition", e))
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(def("pk")?)
            .attribute_definitions(def("sk")?)
            .attribute_definitions(def("gsi1pk")?)
            .attribute_definitions(def("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(GSI)
                    .key_schema(key("gsi1pk", KeyType::Hash)?)
                    .key_schema(key("gsi1sk", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::KeysOnly)
                            .build(),
                    )
                    .build()
                    .map_err(|e| StoreError::backend("table definition", e))?,
            )
            .send()
            .await
            .map_err(|e| map_err(&self.table, "creating the table", e))?;
        Ok(())
    }

    async fn get_item(&self, pk: &str, sk: &str, context: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", attr_s(pk))
            .key("sk", attr_s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_err(&self.table, context, e))?;
        Ok(out.item)
    }

    async fn put_item(&self, item: Item, context: &str) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| map_err(&self.table, context, e))?;
        Ok(())
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_connection(&self, conn: &Connection) -> Result<()> {
        self.put_connection(conn, "attribute_not_exists(pk)", "already exists")
            .await
    }

    async fn update_connection(&self, conn: &Connection) -> Result<()> {
        self.put_connection(conn, "attribute_exists(pk)", "does not exist")
            .await
    }

    async fn get_connection(&self, name: &str) -> Result<Option<Connection>> {
        match self
            .get_item(&conn_pk(name), "META", "reading a connection")
            .await?
        {
            None => Ok(None),
            Some(it) => {
                let body = get_s(&it, "body")?;
                serde_json::from_str(&body)
                    .map(Some)
                    .map_err(|e| StoreError::corrupt_json(conn_pk(name), &e))
            }
        }
    }

    async fn list_connections(&self) -> Result<Vec<Connection>> {
        self.connections().await
    }

    async fn get_cursor(&self, conn: &str, kind: CursorKind) -> Result<Option<String>> {
        self.get_item(&conn_pk(conn), &cursor_sk(kind), "reading a cursor")
            .await?
            .map(|it| get_s(&it, "value"))
            .transpose()
    }

    async fn put_cursor(
        &self,
        conn: &str,
        kind: CursorKind,
        value: &str,
        expected: Option<&str>,
    ) -> Result<()> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", attr_s(&conn_pk(conn)))
            .item("sk", attr_s(&cursor_sk(kind)))
            .item("value", attr_s(value));
        req = match expected {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(e) => req
                .condition_expression("#v = :e")
                .expression_attribute_names("#v", "value")
                .expression_attribute_values(":e", attr_s(e)),
        };
        req.send()
            .await
            .map_err(|e| match map_err(&self.table, "writing a cursor", e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "the {} cursor of {conn:?} moved (expected {expected:?})",
                    kind.as_str()
                )),
                other => other,
            })?;
        Ok(())
    }

    async fn delete_cursor(&self, conn: &str, kind: CursorKind) -> Result<()> {
        self.batch_write(vec![delete_request(&conn_pk(conn), &cursor_sk(kind))?])
            .await
    }

    async fn acquire_lease(
        &self,
        conn: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", attr_s(&conn_pk(conn)))
            .item("sk", attr_s("LEASE"))
            .item("owner", attr_s(owner))
            .item("expires_at_ms", attr_n(now_ms.saturating_add(ttl_ms)))
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms <= :now OR #o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":now", attr_n(now_ms))
            .expression_attribute_values(":me", attr_s(owner))
            .send()
            .await;
        match r {
            Ok(_) => Ok(LeaseOutcome::Acquired),
            Err(e) => match map_err(&self.table, "taking a lease", e) {
                StoreError::Conflict(_) => {
                    let it = self
                        .get_item(&conn_pk(conn), "LEASE", "reading a lease")
                        .await?;
                    match it {
                        Some(it) => Ok(LeaseOutcome::Held {
                            owner: get_s(&it, "owner")?,
                            expires_at_ms: get_n(&it, "expires_at_ms")?,
                        }),
                        // Released in between: try once more.
                        None => Box::pin(self.acquire_lease(conn, owner, now_ms, ttl_ms)).await,
                    }
                }
                other => Err(other),
            },
        }
    }

    async fn release_lease(&self, conn: &str, owner: &str) -> Result<()> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", attr_s(&conn_pk(conn)))
            .key("sk", attr_s("LEASE"))
            .condition_expression("#o = :me")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":me", attr_s(owner))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) => match map_err(&self.table, "releasing a lease", e) {
                StoreError::Conflict(_) => Ok(()), // not ours: leave it
                other => Err(other),
            },
        }
    }

    async fn put_run_record(&self, conn: &str, json: &str) -> Result<()> {
        let mut it = Item::new();
        it.insert("pk".into(), attr_s(&conn_pk(conn)));
        it.insert("sk".into(), attr_s("RUN"));
        it.insert("body".into(), attr_s(json));
        self.put_item(it, "writing a run record").await
    }

    async fn get_run_record(&self, conn: &str) -> Result<Option<String>> {
        self.get_item(&conn_pk(conn), "RUN", "reading a run record")
            .await?
            .map(|it| get_s(&it, "body"))
            .transpose()
    }

    async fn get_entities(
        &self,
        conn: &str,
        kind: EntityKind,
        ids: &[u64],
    ) -> Result<HashMap<u64, Blob>> {
        let items = self
            .batch_get(
                ids.iter()
                    .map(|id| (conn_pk(conn), entity_sk(kind, *id)))
                    .collect(),
            )
            .await?;
        let mut out = HashMap::with_capacity(items.len());
        for it in items {
            out.insert(
                get_n(&it, "id")? as u64,
                Blob {
                    hash: get_s(&it, "hash")?,
                    body: get_s(&it, "body")?,
                },
            );
        }
        Ok(out)
    }

    async fn put_entities(
        &self,
        conn: &str,
        kind: EntityKind,
        items: &[(u64, Blob)],
    ) -> Result<()> {
        // One request per key: the last copy of an id wins.
        let mut last: HashMap<u64, &Blob> = HashMap::new();
        for (id, b) in items {
            last.insert(*id, b);
        }
        let writes = last
            .into_iter()
            .map(|(id, b)| {
                let mut it = Item::new();
                it.insert("pk".into(), attr_s(&conn_pk(conn)));
                it.insert("sk".into(), attr_s(&entity_sk(kind, id)));
                it.insert("id".into(), attr_n(id as i64));
                it.insert("hash".into(), attr_s(&b.hash));
                it.insert("body".into(), attr_s(&b.body));
                put_request(it)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_write(writes).await
    }

    async fn list_entity_ids(&self, conn: &str, kind: EntityKind) -> Result<Vec<u64>> {
        let prefix = match kind {
            EntityKind::User => "USER#",
            EntityKind::Org => "ORG#",
        };
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :s)")
                .expression_attribute_values(":p", attr_s(&conn_pk(conn)))
                .expression_attribute_values(":s", attr_s(prefix))
                .projection_expression("id")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| map_err(&self.table, "listing entities", e))?;
            for it in resp.items.unwrap_or_default() {
                out.push(get_n(&it, "id")? as u64);
            }
            start = resp.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    async fn get_states(&self, conn: &str, ticket_ids: &[u64]) -> Result<HashMap<u64, Blob>> {
        self.read_bodies(conn, ticket_ids, Body::State).await
    }

    async fn get_document_hashes(
        &self,
        conn: &str,
        ticket_ids: &[u64],
    ) -> Result<HashMap<u64, String>> {
        // Heads only (the first chunk comes along; parts are not read).
        let heads = self
            .batch_get(
                ticket_ids
                    .iter()
                    .map(|id| (doc_pk(conn, *id), Body::Doc.head_sk().to_string()))
                    .collect(),
            )
            .await?;
        heads
            .iter()
            .map(|h| Ok((get_n(h, "ticket_id")? as u64, get_s(h, "hash")?)))
            .collect()
    }

    async fn get_document(&self, conn: &str, ticket_id: u64) -> Result<Option<String>> {
        Ok(self
            .read_bodies(conn, &[ticket_id], Body::Doc)
            .await?
            .remove(&ticket_id)
            .map(|b| b.body))
    }

    async fn write_tickets(&self, conn: &str, writes: &[TicketWrite]) -> Result<()> {
        self.write_bodies(conn, writes).await
    }

    async fn list_documents(
        &self,
        conn: Option<&str>,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<DocumentRow>> {
        let conns: Vec<String> = match conn {
            Some(c) => vec![c.to_string()],
            None => self
                .list_connections()
                .await?
                .into_iter()
                .map(|c| c.name)
                .collect(),
        };
        let mut out = Vec::new();
        for c in conns {
            let from = match after {
                Some((ac, _)) if c.as_str() < ac => continue,
                Some((ac, at)) if c.as_str() == ac => Some(at),
                _ => None,
            };
            let ids = self
                .index_ids(&Body::Doc.index(&c), from, limit - out.len())
                .await?;
            let mut bodies = self.read_bodies(&c, &ids, Body::Doc).await?;
            for id in ids {
                if let Some(b) = bodies.remove(&id) {
                    out.push(DocumentRow {
                        connection: c.clone(),
                        ticket_id: id,
                        body: b.body,
                    });
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    async fn list_state_ids(
        &self,
        conn: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        self.index_ids(&Body::State.index(conn), after, limit).await
    }

    async fn counts(&self, conn: &str) -> Result<StoreCounts> {
        Ok(StoreCounts {
            documents: self.count_index(&Body::Doc.index(conn)).await?,
            states: self.count_index(&Body::State.index(conn)).await?,
            users: self.count_prefix(&conn_pk(conn), "USER#").await?,
            orgs: self.count_prefix(&conn_pk(conn), "ORG#").await?,
        })
    }
}
