//! Ticket bodies (states and documents), each a head and, when it is over
//! one item, the parts the head names: reading them, and writing them in
//! the order the crate's doc describes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::WriteRequest;
use zdsync_store::{Blob, Result, StoreError, TicketWrite};

use crate::DynamoStore;
use crate::batch::{Projection, delete_request, put_request};
use crate::items::{Item, attr_n, attr_s, chunk_body, get_n, get_s, key_of};
use crate::keys::{Body, doc_pk, pad};

/// The stored items of one body: the head's (version, parts), if any, and
/// the sort keys of all its part items, whichever version they belong to.
#[derive(Debug, Default)]
pub(crate) struct Existing {
    head: Option<(i64, i64)>,
    /// Versions (and item counts) of split writes begun, from the marker.
    pending: Vec<(i64, i64)>,
    /// Keys of every stored part item and of the marker.
    parts: Vec<String>,
}

/// What [`DynamoStore::existing`] reads of a head and of a marker.
const SHAPES: Projection = Projection {
    expression: "#sk, #v, #n, #pending",
    names: &[
        ("#sk", "sk"),
        ("#v", "version"),
        ("#n", "parts"),
        ("#pending", "pending"),
    ],
};

/// The part keys of a version with `parts` items (none for one item).
pub(crate) fn part_keys(which: Body, version: i64, parts: i64) -> Vec<String> {
    (1..parts.max(1) as usize)
        .map(|i| which.part_sk(version, i))
        .collect()
}

/// `"3:4,5:2"` → `[(3, 4), (5, 2)]`.
pub(crate) fn parse_pending(s: &str) -> Option<Vec<(i64, i64)>> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            let (v, n) = x.split_once(':')?;
            Some((v.parse().ok()?, n.parse().ok()?))
        })
        .collect()
}

pub(crate) fn format_pending(p: &[(i64, i64)]) -> String {
    p.iter()
        .map(|(v, n)| format!("{v}:{n}"))
        .collect::<Vec<_>>()
        .join(",")
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

/// The version of a new split body: above the head's and above every
/// stored part's, so its parts never land on the keys of a version the
/// head names or of an abandoned write (parts written, head not).
pub(crate) fn next_version(found: &Existing) -> i64 {
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
pub(crate) fn stale_parts(which: Body, named: Option<(i64, i64)>, found: &[String]) -> Vec<String> {
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

    /// What is stored of a body: its head's shape and the part keys it
    /// names, plus the parts of interrupted writes that its pending marker
    /// records (and the marker itself). One BatchGetItem of two keys,
    /// projected: one request, like the head's GetItem it replaces, and
    /// cheap on any store (a Query would do on DynamoDB, but not on every
    /// emulator).
    pub(crate) async fn existing(&self, pk: &str, which: Body) -> Result<Existing> {
        let items = self
            .batch_get_projected(
                vec![
                    (pk.to_string(), which.head_sk().to_string()),
                    (pk.to_string(), which.marker_sk().to_string()),
                ],
                Some(SHAPES),
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
    pub(crate) async fn mark_pending(
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
    pub(crate) async fn put_body(
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
    pub(crate) async fn delete_body(
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
}

/// The final effect of `writes` on each (ticket, item), the items in order
/// of first appearance.
pub(crate) fn final_effects(writes: &[TicketWrite]) -> Vec<(u64, Body, Effect<'_>)> {
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
pub(crate) fn set<'a>(
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
pub(crate) enum Effect<'a> {
    Put(&'a Blob),
    Delete,
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
