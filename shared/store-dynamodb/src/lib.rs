//! DynamoDB adapter of the storage port: the single table of
//! ARCHITECTURE.md §5.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | connection | `CONN#name` | `META` |
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
//! `STATES#name`, zero-padded ticket id) for listing by connection.
//!
//! Writing or deleting a body (`write_tickets`), in this order:
//! 1. one BatchGetItem of the head and of the body's pending marker
//!    (`PENDING#STATE` / `PENDING#PART`), projected to their shapes: the
//!    one read a put or delete costs, as the head's GetItem was. The head
//!    names its parts; the marker lists the versions of split writes begun
//!    and not yet swept (a write cut off before its head, or a deletion cut
//!    off before its parts went);
//! 2. when the current head or the new body is split, the marker first
//!    records both versions (the old one's parts outlive its head until
//!    step 4); a split body then writes its parts under a version above
//!    every one found (head or marker), so it never writes over, or partly
//!    reuses, the parts of an abandoned write;
//! 3. the head: a split body's at once; one-item heads and the deletions of
//!    heads in one batch after every body of the call;
//! 4. only after that batch, the parts the head now stored does not name
//!    (the previous version's, abandoned ones, all of a deleted body's) and
//!    the marker are deleted.
//!
//! A crash before 3 leaves the old head naming its intact parts (new parts
//! are unnamed leftovers); a crash between 3 and 4 leaves the new head,
//! whose parts were all written before it, or no head; so every crash leaves
//! the old or the new version readable, never a head naming a missing part.
//! Leftover parts are harmless and are swept by the next put or delete of
//! the same body (step 1 finds them through the marker); a ticket never
//! written again keeps them. (A Query of the partition would find parts
//! without a marker, but costs the whole table on the emulator the tests
//! run on; the marker costs one PutItem per write that involves a split
//! body, and split bodies are rare.) The lease makes one writer per connection, so no two writes of a
//! body race; a reader running alongside a write can still find a part gone
//! between reading the head and the parts (an error that the next read does
//! not meet).

mod items;
mod queue;
mod secrets;

pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use aws_sdk_secretsmanager::Client as SecretsClient;
pub use queue::{Received, SQS_BATCH_MAX, SqsQueue};
pub use secrets::SecretsManagerStore;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, Select, WriteRequest,
};
use items::{Item, attr_n, attr_s, get_n, get_s, key_of};
use zdsync_store::{
    Blob, Connection, CursorKind, DocumentRow, EntityKind, LeaseOutcome, Result, Store,
    StoreCounts, StoreError, TicketWrite,
};

pub use items::{BATCH_GET_MAX, BATCH_WRITE_MAX, CHUNK_BYTES, chunk_body};

/// The store on one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

const GSI: &str = "gsi1";
/// Retries of unprocessed batch items before giving up.
const BATCH_RETRIES: u32 = 8;

fn cursor_sk(kind: CursorKind) -> String {
    format!("CURSOR#{}", kind.as_str())
}

fn pad(id: u64) -> String {
    format!("{id:020}")
}

fn conn_pk(conn: &str) -> String {
    format!("CONN#{conn}")
}

fn doc_pk(conn: &str, id: u64) -> String {
    format!("DOC#{conn}#{id}")
}

fn entity_sk(kind: EntityKind, id: u64) -> String {
    match kind {
        EntityKind::User => format!("USER#{}", pad(id)),
        EntityKind::Org => format!("ORG#{}", pad(id)),
    }
}

/// Which ticket item: the state or the document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Body {
    State,
    Doc,
}

impl Body {
    fn head_sk(self) -> &'static str {
        match self {
            Body::State => "STATE",
            Body::Doc => "PART#0",
        }
    }
    fn part_sk(self, version: i64, i: usize) -> String {
        match self {
            Body::State => format!("STATE#{version}#{i}"),
            Body::Doc => format!("PART#{version}#{i}"),
        }
    }
    fn index(self, conn: &str) -> String {
        match self {
            Body::State => format!("STATES#{conn}"),
            Body::Doc => format!("DOCS#{conn}"),
        }
    }
    /// The marker of split writes that may have been interrupted.
    fn marker_sk(self) -> &'static str {
        match self {
            Body::State => "PENDING#STATE",
            Body::Doc => "PENDING#PART",
        }
    }
    /// The version and index of a part's sort key; `None` for the head or
    /// a key of another shape.
    fn parse_part(self, sk: &str) -> Option<(i64, usize)> {
        let rest = match self {
            Body::State => sk.strip_prefix("STATE#")?,
            Body::Doc => sk.strip_prefix("PART#")?,
        };
        let (v, i) = rest.split_once('#')?;
        Some((v.parse().ok()?, i.parse().ok()?))
    }
}

/// The stored items of one body: the head's (version, parts), if any, and
/// the sort keys of all its part items, whichever version they belong to.
#[derive(Debug, Default)]
struct Existing {
    head: Option<(i64, i64)>,
    /// Versions (and item counts) of split writes begun, from the marker.
    pending: Vec<(i64, i64)>,
    /// Keys of every stored part item and of the marker.
    parts: Vec<String>,
}

/// Attribute names a projection of [`DynamoStore::existing`] uses.
const PROJECTION_NAMES: [(&str, &str); 4] = [
    ("#sk", "sk"),
    ("#v", "version"),
    ("#n", "parts"),
    ("#pending", "pending"),
];

/// The part keys of a version with `parts` items (none for one item).
fn part_keys(which: Body, version: i64, parts: i64) -> Vec<String> {
    (1..parts.max(1) as usize)
        .map(|i| which.part_sk(version, i))
        .collect()
}

/// `"3:4,5:2"` → `[(3, 4), (5, 2)]`.
fn parse_pending(s: &str) -> Option<Vec<(i64, i64)>> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            let (v, n) = x.split_once(':')?;
            Some((v.parse().ok()?, n.parse().ok()?))
        })
        .collect()
}

fn format_pending(p: &[(i64, i64)]) -> String {
    p.iter()
        .map(|(v, n)| format!("{v}:{n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A head's body joined with the parts it names, taken from `parts_by_key`.
fn assemble(
    which: Body,
    head: &Item,
    parts_by_key: &mut HashMap<(String, String), String>,
) -> Result<Blob> {
    let pk = get_s(head, "pk")?;
    let (version, parts) = shape(head)?;
    let mut body = get_s(head, "body")?;
    for i in 1..parts as usize {
        let key = (pk.clone(), which.part_sk(version, i));
        match parts_by_key.remove(&key) {
            Some(chunk) => body.push_str(&chunk),
            None => {
                return Err(StoreError::Corrupt {
                    key: format!("{}/{}", key.0, key.1),
                    detail: "a part of a split body is missing".into(),
                });
            }
        }
    }
    Ok(Blob {
        hash: get_s(head, "hash")?,
        body,
    })
}

/// A head's version and item count (0 and 1 for a one-item body).
fn shape(head: &Item) -> Result<(i64, i64)> {
    let version = head
        .get("version")
        .map(|_| get_n(head, "version"))
        .transpose()?
        .unwrap_or(0);
    let parts = head
        .get("parts")
        .map(|_| get_n(head, "parts"))
        .transpose()?
        .unwrap_or(1);
    if version < 0 || parts < 1 {
        return Err(StoreError::Corrupt {
            key: key_of(head),
            detail: format!("a head names version {version} with {parts} items"),
        });
    }
    Ok((version, parts))
}

/// The version of a new split body: above the head's and above every
/// stored part's, so its parts never land on the keys of a version the
/// head names or of an abandoned write (parts written, head not).
fn next_version(found: &Existing) -> i64 {
    // Every stored part belongs to the head or to a pending version (the
    // parts list is derived from them), so those two bound every version.
    found
        .head
        .map(|(v, _)| v)
        .into_iter()
        .chain(found.pending.iter().map(|(v, _)| *v))
        .max()
        .unwrap_or(0)
        + 1
}

/// The stored part keys the head being written does not name (`named`:
/// its version and item count; `None` for a one-item head or a deletion):
/// the previous version's parts and those of abandoned writes.
fn stale_parts(which: Body, named: Option<(i64, i64)>, found: &[String]) -> Vec<String> {
    found
        .iter()
        .filter(|sk| sk.as_str() != which.head_sk())
        .filter(|sk| match (named, which.parse_part(sk)) {
            (Some((version, parts)), Some((v, i))) => v != version || i == 0 || i as i64 >= parts,
            _ => true,
        })
        .cloned()
        .collect()
}

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

    /// Writes a connection record under a condition; a failed condition is
    /// a `Conflict` saying the connection `{when_failed}`.
    async fn put_connection(
        &self,
        conn: &Connection,
        condition: &str,
        when_failed: &str,
    ) -> Result<()> {
        let body = serde_json::to_string(conn)
            .map_err(|e| StoreError::backend("encoding a connection", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", attr_s(&conn_pk(&conn.name)))
            .item("sk", attr_s("META"))
            .item("body", attr_s(&body))
            .condition_expression(condition)
            .send()
            .await
            .map_err(|e| match map_err(&self.table, "writing a connection", e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("connection {:?} {when_failed}", conn.name))
                }
                other => other,
            })?;
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

    /// BatchGetItem in chunks of 100 keys, retrying unprocessed keys.
    async fn batch_get(&self, keys: Vec<(String, String)>) -> Result<Vec<Item>> {
        self.batch_get_projected(keys, None).await
    }

    /// BatchGetItem (consistent), optionally projected to a few attributes
    /// (`#sk`-style names are those of [`PROJECTION_NAMES`]).
    async fn batch_get_projected(
        &self,
        keys: Vec<(String, String)>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut ks = KeysAndAttributes::builder().consistent_read(true);
            if let Some(p) = projection {
                ks = ks.projection_expression(p);
                for (alias, name) in PROJECTION_NAMES {
                    ks = ks.expression_attribute_names(alias, name);
                }
            }
            for (pk, sk) in chunk {
                ks = ks.keys(HashMap::from([
                    ("pk".to_string(), attr_s(pk)),
                    ("sk".to_string(), attr_s(sk)),
                ]));
            }
            let mut pending = Some(HashMap::from([(
                self.table.clone(),
                ks.build()
                    .map_err(|e| StoreError::backend("batch get keys", e))?,
            )]));
            let mut retry = Unprocessed::new("batch get: keys stayed unprocessed");
            while let Some(req) = pending.take().filter(|r| !r.is_empty()) {
                retry.before_sending().await?;
                let resp = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(req))
                    .send()
                    .await
                    .map_err(|e| map_err(&self.table, "batch get", e))?;
                if let Some(mut r) = resp.responses {
                    out.extend(r.remove(&self.table).unwrap_or_default());
                }
                pending = resp.unprocessed_keys;
            }
        }
        Ok(out)
    }

    /// BatchWriteItem in chunks of 25, retrying unprocessed items with
    /// backoff and a cap.
    async fn batch_write(&self, writes: Vec<WriteRequest>) -> Result<()> {
        for chunk in writes.chunks(BATCH_WRITE_MAX) {
            let mut pending = Some(HashMap::from([(self.table.clone(), chunk.to_vec())]));
            let mut retry = Unprocessed::new("batch write: items stayed unprocessed");
            while let Some(req) = pending.take().filter(|r| r.values().any(|v| !v.is_empty())) {
                retry.before_sending().await?;
                let resp = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(req))
                    .send()
                    .await
                    .map_err(|e| map_err(&self.table, "batch write", e))?;
                pending = resp.unprocessed_items;
            }
        }
        Ok(())
    }

    /// Reads (possibly split) bodies: the heads, then the parts they name.
    async fn read_bodies(
        &self,
        conn: &str,
        ids: &[u64],
        which: Body,
    ) -> Result<HashMap<u64, Blob>> {
        let heads = self
            .batch_get(
                ids.iter()
                    .map(|id| (doc_pk(conn, *id), which.head_sk().to_string()))
                    .collect(),
            )
            .await?;
        let mut wanted = Vec::new();
        for h in &heads {
            let pk = get_s(h, "pk")?;
            let (version, parts) = shape(h)?;
            wanted.extend(
                part_keys(which, version, parts)
                    .into_iter()
                    .map(|sk| (pk.clone(), sk)),
            );
        }
        let mut parts_by_key: HashMap<(String, String), String> = HashMap::new();
        if !wanted.is_empty() {
            for p in self.batch_get(wanted).await? {
                parts_by_key.insert((get_s(&p, "pk")?, get_s(&p, "sk")?), get_s(&p, "body")?);
            }
        }
        let mut out = HashMap::with_capacity(heads.len());
        for h in heads {
            let id = get_n(&h, "ticket_id")? as u64;
            out.insert(id, assemble(which, &h, &mut parts_by_key)?);
        }
        Ok(out)
    }

    /// What is stored of a body: its head's shape and the part keys it
    /// names, plus the parts of interrupted writes that its pending marker
    /// records (and the marker itself). One BatchGetItem of two keys,
    /// projected: one request, like the head's GetItem it replaces, and
    /// cheap on any store (a Query would do on DynamoDB, but not on every
    /// emulator).
    async fn existing(&self, pk: &str, which: Body) -> Result<Existing> {
        let items = self
            .batch_get_projected(
                vec![
                    (pk.to_string(), which.head_sk().to_string()),
                    (pk.to_string(), which.marker_sk().to_string()),
                ],
                Some("#sk, #v, #n, #pending"),
            )
            .await?;
        let mut found = Existing::default();
        for it in items {
            let sk = get_s(&it, "sk")?;
            if sk == which.head_sk() {
                let (version, parts) = shape(&it)?;
                found.head = Some((version, parts));
                found.parts.extend(part_keys(which, version, parts));
            } else if sk == which.marker_sk() {
                let pending = get_s(&it, "pending")?;
                found.pending = parse_pending(&pending).ok_or_else(|| StoreError::Corrupt {
                    key: format!("{pk}/{sk}"),
                    detail: format!("a pending marker reads {pending:?}"),
                })?;
                for (v, n) in &found.pending {
                    found.parts.extend(part_keys(which, *v, *n));
                }
                found.parts.push(sk);
            }
        }
        found.parts.sort();
        found.parts.dedup();
        Ok(found)
    }

    /// Records, before anything changes, every split version this write
    /// may leave behind: the current head's (its parts go after the new
    /// head) and the new one's (`new`, written before its head), with those
    /// an earlier interrupted write left. No write when nothing is split.
    async fn mark_pending(
        &self,
        pk: &str,
        which: Body,
        found: &mut Existing,
        new: Option<(i64, i64)>,
    ) -> Result<()> {
        let mut pending = found.pending.clone();
        pending.extend(found.head.filter(|(_, n)| *n > 1));
        pending.extend(new);
        pending.sort_unstable();
        pending.dedup();
        if pending == found.pending {
            return Ok(());
        }
        // The marker goes with the sweep once the head has landed.
        if !found.parts.iter().any(|sk| sk == which.marker_sk()) {
            found.parts.push(which.marker_sk().to_string());
        }
        let mut marker = Item::new();
        marker.insert("pk".into(), attr_s(pk));
        marker.insert("sk".into(), attr_s(which.marker_sk()));
        marker.insert("pending".into(), attr_s(&format_pending(&pending)));
        self.put_item(marker, "recording a split body's pending version")
            .await
    }

    /// Writes a body. A split body's parts go first, under a version no
    /// stored part uses, then its head; a one-item head goes into `heads`
    /// (the batch `write_tickets` sends at the end). Every part the new head
    /// does not name goes into `sweep`, deleted only after `heads` is
    /// written.
    async fn put_body(
        &self,
        conn: &str,
        id: u64,
        which: Body,
        blob: &Blob,
        heads: &mut Vec<WriteRequest>,
        sweep: &mut Vec<WriteRequest>,
    ) -> Result<()> {
        let chunks = chunk_body(&blob.body);
        let pk = doc_pk(conn, id);
        let mut head = Item::new();
        head.insert("pk".into(), attr_s(&pk));
        head.insert("sk".into(), attr_s(which.head_sk()));
        head.insert("ticket_id".into(), attr_n(id as i64));
        head.insert("hash".into(), attr_s(&blob.hash));
        head.insert("body".into(), attr_s(chunks[0]));
        head.insert("gsi1pk".into(), attr_s(&which.index(conn)));
        head.insert("gsi1sk".into(), attr_s(&pad(id)));
        let mut found = self.existing(&pk, which).await?;
        let version = next_version(&found);
        let new = (chunks.len() > 1).then_some((version, chunks.len() as i64));
        self.mark_pending(&pk, which, &mut found, new).await?;
        let named = if chunks.len() == 1 {
            heads.push(put_request(head)?);
            None
        } else {
            let mut parts = Vec::new();
            for (i, c) in chunks.iter().enumerate().skip(1) {
                let mut p = Item::new();
                p.insert("pk".into(), attr_s(&pk));
                p.insert("sk".into(), attr_s(&which.part_sk(version, i)));
                p.insert("body".into(), attr_s(c));
                parts.push(put_request(p)?);
            }
            self.batch_write(parts).await?;
            head.insert("version".into(), attr_n(version));
            head.insert("parts".into(), attr_n(chunks.len() as i64));
            self.put_item(head, "writing a split body's head").await?;
            Some((version, chunks.len() as i64))
        };
        for sk in stale_parts(which, named, &found.parts) {
            sweep.push(delete_request(&pk, &sk)?);
        }
        Ok(())
    }

    /// Deletes a body: its head goes into `heads`, every part found into
    /// `sweep` (after the head, so no head ever names a missing part).
    async fn delete_body(
        &self,
        conn: &str,
        id: u64,
        which: Body,
        heads: &mut Vec<WriteRequest>,
        sweep: &mut Vec<WriteRequest>,
    ) -> Result<()> {
        let pk = doc_pk(conn, id);
        let mut found = self.existing(&pk, which).await?;
        if found.head.is_some() {
            // The head goes before its parts: record them, so a deletion
            // cut off in between still knows what to remove.
            self.mark_pending(&pk, which, &mut found, None).await?;
            heads.push(delete_request(&pk, which.head_sk())?);
        }
        for sk in stale_parts(which, None, &found.parts) {
            sweep.push(delete_request(&pk, &sk)?);
        }
        Ok(())
    }

    /// Query of an index partition: ticket ids in order after `after`.
    async fn index_ids(
        &self,
        index_pk: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI)
                .key_condition_expression(if after.is_some() {
                    "gsi1pk = :p AND gsi1sk > :a"
                } else {
                    "gsi1pk = :p"
                })
                .expression_attribute_values(":p", attr_s(index_pk))
                .set_exclusive_start_key(start.take())
                .limit((limit - out.len()).min(1000) as i32);
            if let Some(a) = after {
                q = q.expression_attribute_values(":a", attr_s(&pad(a)));
            }
            let resp = q
                .send()
                .await
                .map_err(|e| map_err(&self.table, "querying the listing index", e))?;
            for it in resp.items.unwrap_or_default() {
                let sk = get_s(&it, "gsi1sk")?;
                out.push(sk.parse::<u64>().map_err(|e| StoreError::Corrupt {
                    key: sk.clone(),
                    detail: e.to_string(),
                })?);
            }
            start = resp.last_evaluated_key;
            if out.len() >= limit || start.is_none() {
                return Ok(out);
            }
        }
    }

    async fn count_index(&self, index_pk: &str) -> Result<u64> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", attr_s(index_pk));
        self.count(q).await
    }

    async fn count_prefix(&self, pk: &str, prefix: &str) -> Result<u64> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :s)")
            .expression_attribute_values(":p", attr_s(pk))
            .expression_attribute_values(":s", attr_s(prefix));
        self.count(q).await
    }

    /// Runs a query with `Select::Count` over all its pages.
    async fn count(
        &self,
        q: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<u64> {
        let mut n = 0u64;
        let mut start = None;
        loop {
            let resp = q
                .clone()
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| map_err(&self.table, "counting", e))?;
            n += resp.count as u64;
            start = resp.last_evaluated_key;
            if start.is_none() {
                return Ok(n);
            }
        }
    }
}

/// The resending of what a batch request left unprocessed: no wait before
/// the first send, backoff before each resend, `Throttled` after
/// `BATCH_RETRIES` resends.
struct Unprocessed {
    attempt: u32,
    exhausted: &'static str,
}

impl Unprocessed {
    fn new(exhausted: &'static str) -> Self {
        Unprocessed {
            attempt: 0,
            exhausted,
        }
    }

    async fn before_sending(&mut self) -> Result<()> {
        if self.attempt > BATCH_RETRIES {
            return Err(StoreError::Throttled(self.exhausted.into()));
        }
        if self.attempt > 0 {
            backoff(self.attempt).await;
        }
        self.attempt += 1;
        Ok(())
    }
}

async fn backoff(attempt: u32) {
    let ms = (25u64 << attempt.min(8)).min(2_000);
    let jitter = rand::random::<u64>() % (ms / 2 + 1);
    tokio::time::sleep(Duration::from_millis(ms / 2 + jitter)).await;
}

fn put_request(item: Item) -> Result<WriteRequest> {
    Ok(WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::backend("put request", e))?,
        )
        .build())
}

fn delete_request(pk: &str, sk: &str) -> Result<WriteRequest> {
    Ok(WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .key("pk", attr_s(pk))
                .key("sk", attr_s(sk))
                .build()
                .map_err(|e| StoreError::backend("delete request", e))?,
        )
        .build())
}

/// The final effect of `writes` on each (ticket, item), the items in order
/// of first appearance.
fn final_effects(writes: &[TicketWrite]) -> Vec<(u64, Body, Effect<'_>)> {
    let mut order: Vec<(u64, Body)> = Vec::new();
    let mut effects: HashMap<(u64, Body), Effect<'_>> = HashMap::new();
    for w in writes {
        match w {
            TicketWrite::PutState { ticket_id, blob } => set(
                &mut effects,
                &mut order,
                *ticket_id,
                Body::State,
                Effect::Put(blob),
            ),
            TicketWrite::PutDocument { ticket_id, blob } => set(
                &mut effects,
                &mut order,
                *ticket_id,
                Body::Doc,
                Effect::Put(blob),
            ),
            TicketWrite::DeleteDocument { ticket_id } => set(
                &mut effects,
                &mut order,
                *ticket_id,
                Body::Doc,
                Effect::Delete,
            ),
            TicketWrite::DeleteTicket { ticket_id } => {
                set(
                    &mut effects,
                    &mut order,
                    *ticket_id,
                    Body::State,
                    Effect::Delete,
                );
                set(
                    &mut effects,
                    &mut order,
                    *ticket_id,
                    Body::Doc,
                    Effect::Delete,
                );
            }
        }
    }
    order
        .into_iter()
        .filter_map(|(id, which)| Some((id, which, effects.remove(&(id, which))?)))
        .collect()
}

/// Records the latest effect on an item, remembering first appearances.
fn set<'a>(
    effects: &mut HashMap<(u64, Body), Effect<'a>>,
    order: &mut Vec<(u64, Body)>,
    id: u64,
    which: Body,
    e: Effect<'a>,
) {
    if effects.insert((id, which), e).is_none() {
        order.push((id, which));
    }
}

/// The final effect of a sequence of writes on one ticket's item.
#[derive(Debug, Clone, PartialEq)]
enum Effect<'a> {
    Put(&'a Blob),
    Delete,
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
        // Connections are few: a filtered scan of META items.
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :m")
                .expression_attribute_values(":m", attr_s("META"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| map_err(&self.table, "listing connections", e))?;
            for it in resp.items.unwrap_or_default() {
                let body = get_s(&it, "body")?;
                out.push(serde_json::from_str::<Connection>(&body).map_err(|e| {
                    StoreError::corrupt_json(get_s(&it, "pk").unwrap_or_default(), &e)
                })?);
            }
            start = resp.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
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
        // One-item heads and deletions of heads go in one batch at the end;
        // the parts no stored head names go only after it (see the module
        // doc: the write order).
        let (mut heads, mut sweep) = (Vec::new(), Vec::new());
        for (id, which, effect) in final_effects(writes) {
            match effect {
                Effect::Put(blob) => {
                    self.put_body(conn, id, which, blob, &mut heads, &mut sweep)
                        .await?
                }
                Effect::Delete => {
                    self.delete_body(conn, id, which, &mut heads, &mut sweep)
                        .await?
                }
            }
        }
        self.batch_write(heads).await?;
        self.batch_write(sweep).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sks(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_item_gets_its_last_effect_in_order_of_first_appearance() {
        let b = Blob {
            hash: "h".into(),
            body: "{}".into(),
        };
        let writes = [
            TicketWrite::PutDocument {
                ticket_id: 2,
                blob: b.clone(),
            },
            TicketWrite::PutState {
                ticket_id: 1,
                blob: b.clone(),
            },
            TicketWrite::DeleteTicket { ticket_id: 2 },
        ];
        assert_eq!(
            final_effects(&writes),
            vec![
                (2, Body::Doc, Effect::Delete),
                (1, Body::State, Effect::Put(&b)),
                (2, Body::State, Effect::Delete),
            ]
        );
    }

    #[test]
    fn part_keys_parse_and_heads_do_not() {
        assert_eq!(Body::Doc.parse_part("PART#3#2"), Some((3, 2)));
        assert_eq!(Body::State.parse_part("STATE#12#1"), Some((12, 1)));
        assert_eq!(Body::Doc.parse_part("PART#0"), None);
        assert_eq!(Body::State.parse_part("STATE"), None);
        assert_eq!(Body::Doc.parse_part("STATE#1#1"), None);
        assert_eq!(Body::Doc.parse_part("PART#x#1"), None);
    }

    #[test]
    fn a_new_version_is_above_the_head_and_every_pending_version() {
        let none = Existing::default();
        assert_eq!(next_version(&none), 1);
        let one_item = Existing {
            head: Some((0, 1)),
            pending: vec![],
            parts: vec![],
        };
        assert_eq!(next_version(&one_item), 1);
        // Version 2 was abandoned (parts written, head not): never reused.
        let abandoned = Existing {
            head: Some((1, 3)),
            pending: vec![(2, 3)],
            parts: sks(&[
                "PART#1#1",
                "PART#1#2",
                "PART#2#1",
                "PART#2#2",
                "PENDING#PART",
            ]),
        };
        assert_eq!(next_version(&abandoned), 3);
        // Parts without a head (a deletion cut short), known by the marker.
        let headless = Existing {
            head: None,
            pending: vec![(4, 2)],
            parts: sks(&["PENDING#STATE", "STATE#4#1"]),
        };
        assert_eq!(next_version(&headless), 5);
    }

    #[test]
    fn pending_markers_round_trip_and_refuse_garbage() {
        assert_eq!(parse_pending("3:4,5:2"), Some(vec![(3, 4), (5, 2)]));
        assert_eq!(format_pending(&[(3, 4), (5, 2)]), "3:4,5:2");
        assert_eq!(parse_pending(""), Some(vec![]));
        assert_eq!(parse_pending("3-4"), None);
        assert_eq!(part_keys(Body::Doc, 2, 3), sks(&["PART#2#1", "PART#2#2"]));
        assert!(part_keys(Body::Doc, 0, 1).is_empty());
    }

    #[test]
    fn stale_parts_are_those_the_new_head_does_not_name() {
        let found = sks(&["PART#0", "PART#1#1", "PART#1#2", "PART#2#1", "PART#2#5"]);
        assert_eq!(
            stale_parts(Body::Doc, Some((2, 3)), &found),
            sks(&["PART#1#1", "PART#1#2", "PART#2#5"]),
            "the head, and version 2's parts 1 and 2, stay"
        );
        assert_eq!(
            stale_parts(Body::Doc, None, &found),
            sks(&["PART#1#1", "PART#1#2", "PART#2#1", "PART#2#5"]),
            "a one-item head or a deletion names no part"
        );
        let states = sks(&["STATE", "STATE#1#1", "STATE#junk"]);
        assert_eq!(
            stale_parts(Body::State, Some((1, 2)), &states),
            sks(&["STATE#junk"])
        );
    }
}
