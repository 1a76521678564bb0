//! Queries: ticket ids of the listing index, and counts.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use zdsync_store::{Result, StoreError};

use crate::items::{attr_s, get_s};
use crate::keys::pad;
use crate::{DynamoStore, GSI, map_err};

impl DynamoStore {
    /// The table keys (pk, sk) of every item in an index partition.
    pub(crate) async fn index_keys(&self, index_pk: &str) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI)
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", attr_s(index_pk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| map_err(&self.table, "querying the listing index", e))?;
            for it in resp.items.unwrap_or_default() {
                out.push((get_s(&it, "pk")?, get_s(&it, "sk")?));
            }
            start = resp.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Query of an index partition: ticket ids in order after `after`.
    pub(crate) async fn index_ids(
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

    pub(crate) async fn count_index(&self, index_pk: &str) -> Result<u64> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", attr_s(index_pk));
        self.count(q).await
    }

    pub(crate) async fn count_prefix(&self, pk: &str, prefix: &str) -> Result<u64> {
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
    pub(crate) async fn count(
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
