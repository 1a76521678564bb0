//! Ticket bodies (states and documents), each a head and, when it is over
//! one item, the parts the head names: reading them (writing is in
//! `writes`).

use std::collections::HashMap;

use zdsync_store::{Blob, Result, StoreError};

use crate::DynamoStore;
use crate::items::{Item, get_n, get_s, key_of};
use crate::keys::{Body, doc_pk};

/// The part keys of a version with `parts` items (none for one item).
pub(crate) fn part_keys(which: Body, version: i64, parts: i64) -> Vec<String> {
    (1..parts.max(1) as usize)
        .map(|i| which.part_sk(version, i))
        .collect()
}

/// A head's body joined with the parts it names, taken from `parts_by_key`.
pub(crate) fn assemble(
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
pub(crate) fn shape(head: &Item) -> Result<(i64, i64)> {
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

impl DynamoStore {
    /// Reads (possibly split) bodies: the heads, then the parts they name.
    pub(crate) async fn read_bodies(
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
}
