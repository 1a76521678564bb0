//! Connection records (`CONN#name` / `META`) and how they are listed.
//!
//! Every record carries the listing index's keys, `gsi1pk = "CONNECTIONS"`
//! and `gsi1sk` = the name, so listing the connections is a Query of that
//! index partition (keys only, as the index projects them) and a
//! consistent BatchGetItem of the records it names: two requests, whatever
//! the size of the table, where a scan read all of it.
//!
//! Records written before they carried those keys are indexed once per
//! table. The marker item `CONNECTIONS` / `INDEXED` says every record has
//! them; it is read with the records. A listing that does not find it lists
//! by a consistent scan of META items (as every listing did before), gives
//! the keys to the records without them (a put of the same record on the
//! condition that it has not changed, so an update made meanwhile is never
//! undone; a record that changed is read again), then writes the marker;
//! from then on listings only query. The migration is idempotent, so two
//! listings running it at once do no harm. It holds as long as every writer
//! of connection records writes the keys: a zdsync from before this change
//! that creates or updates a connection after the marker is written leaves
//! a record the listing does not see until this version writes it again
//! (any update) or the marker item is deleted (the next listing indexes
//! again). Like the scan it replaces, the index is eventually consistent: a
//! connection created a moment ago may be listed a moment later. Listing
//! (indexing included) calls only Query on gsi1, BatchGetItem, Scan and
//! PutItem: what the scheduled functions' roles in template.yaml grant.

use aws_sdk_dynamodb::types::AttributeValue;
use zdsync_store::{Connection, Result, StoreError};

use crate::items::{Item, attr_s, get_s};
use crate::keys::conn_pk;
use crate::{DynamoStore, map_err};

/// The index partition listing every connection.
const CONNECTIONS: &str = "CONNECTIONS";
/// The key of the marker saying every connection record is indexed.
const INDEXED: (&str, &str) = ("CONNECTIONS", "INDEXED");
/// Puts tried per record when it keeps changing while it is indexed.
const INDEX_ATTEMPTS: usize = 3;

/// A record's connection, decoded from its body.
fn decode(record: &Item) -> Result<Connection> {
    let body = get_s(record, "body")?;
    serde_json::from_str(&body)
        .map_err(|e| StoreError::corrupt_json(get_s(record, "pk").unwrap_or_default(), &e))
}

/// The record of a connection, with the listing index's keys.
fn record(conn: &Connection, body: &str) -> Item {
    Item::from([
        ("pk".to_string(), attr_s(&conn_pk(&conn.name))),
        ("sk".to_string(), attr_s("META")),
        ("body".to_string(), attr_s(body)),
        ("gsi1pk".to_string(), attr_s(CONNECTIONS)),
        ("gsi1sk".to_string(), attr_s(&conn.name)),
    ])
}

fn sorted(mut conns: Vec<Connection>) -> Vec<Connection> {
    conns.sort_by(|a, b| a.name.cmp(&b.name));
    conns
}

impl DynamoStore {
    /// Writes a connection record, with the index's keys, under a
    /// condition; a failed condition is a `Conflict` saying the connection
    /// `{when_failed}`.
    pub(crate) async fn put_connection(
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
            .set_item(Some(record(conn, &body)))
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

    /// Every connection, sorted by name: the index's records, or (once per
    /// table, while the marker is missing) a scan that indexes them.
    pub(crate) async fn connections(&self) -> Result<Vec<Connection>> {
        let mut keys = self.index_keys(CONNECTIONS).await?;
        keys.push((INDEXED.0.to_string(), INDEXED.1.to_string()));
        let items = self.batch_get(keys).await?;
        let is_marker = |it: &Item| {
            get_s(it, "pk").is_ok_and(|pk| pk == INDEXED.0)
                && get_s(it, "sk").is_ok_and(|sk| sk == INDEXED.1)
        };
        if !items.iter().any(is_marker) {
            return self.index_connections().await;
        }
        let conns = items
            .iter()
            .filter(|it| !is_marker(it))
            .map(decode)
            .collect::<Result<Vec<_>>>()?;
        Ok(sorted(conns))
    }

    /// Lists the connections by a scan, gives the index's keys to the
    /// records without them, then writes the marker.
    async fn index_connections(&self) -> Result<Vec<Connection>> {
        let records = self.scan_connections().await?;
        let mut conns = Vec::with_capacity(records.len());
        for r in records {
            conns.push(decode(&r)?);
            if !r.contains_key("gsi1pk") {
                self.add_index_keys(r).await?;
            }
        }
        let marker = Item::from([
            ("pk".to_string(), attr_s(INDEXED.0)),
            ("sk".to_string(), attr_s(INDEXED.1)),
        ]);
        self.put_item(marker, "recording that connections are indexed")
            .await?;
        Ok(sorted(conns))
    }

    /// Every META record, by a consistent scan of the table.
    async fn scan_connections(&self) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :m")
                .expression_attribute_values(":m", attr_s("META"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| map_err(&self.table, "listing connections", e))?;
            out.extend(resp.items.unwrap_or_default());
            start = resp.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Writes a record again with the index's keys, if it has not changed
    /// since it was read; a record that changed is read again and, if it
    /// still lacks them, tried again.
    async fn add_index_keys(&self, mut current: Item) -> Result<()> {
        for _ in 0..INDEX_ATTEMPTS {
            if current.contains_key("gsi1pk") {
                return Ok(());
            }
            let conn = decode(&current)?;
            let body = get_s(&current, "body")?;
            let pk = get_s(&current, "pk")?;
            let mut indexed = current.clone();
            indexed.insert("gsi1pk".into(), attr_s(CONNECTIONS));
            indexed.insert("gsi1sk".into(), attr_s(&conn.name));
            let r = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(indexed))
                .condition_expression("#b = :b AND attribute_not_exists(gsi1pk)")
                .expression_attribute_names("#b", "body")
                .expression_attribute_values(":b", AttributeValue::S(body))
                .send()
                .await;
            match r.map_err(|e| map_err(&self.table, "indexing a connection", e)) {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(_)) => {
                    // Read again by BatchGetItem, the read a listing makes:
                    // the scheduled functions' roles grant no GetItem.
                    let again = self.batch_get(vec![(pk, "META".to_string())]).await?;
                    match again.into_iter().next() {
                        Some(it) => current = it,
                        None => return Ok(()),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict(
            "a connection record kept changing while it was indexed".into(),
        ))
    }
}
