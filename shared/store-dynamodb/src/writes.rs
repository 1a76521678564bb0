//! Writing and deleting ticket bodies (`write_tickets`) in the order the
//! crate's doc describes: what is stored of every body of the call is read
//! at once, the writes are planned from it, and the plan goes out phase by
//! phase, each phase's requests side by side.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::WriteRequest;
use zdsync_store::{Blob, Result, StoreError, TicketWrite};

use crate::DynamoStore;
use crate::batch::{Projection, delete_request, put_request};
use crate::bodies::{part_keys, shape};
use crate::items::{Item, attr_n, attr_s, chunk_body, get_s};
use crate::keys::{Body, doc_pk, pad};

/// What is stored of one body, as its write needs to know it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Existing {
    /// The head's version and item count.
    head: Option<(i64, i64)>,
    /// Versions (and item counts) of split writes begun and not yet swept,
    /// from the marker.
    pending: Vec<(i64, i64)>,
    /// Whether the marker is stored.
    marker: bool,
}

impl Existing {
    /// The keys of every part item that may be stored: the head's and
    /// those of the pending versions, sorted.
    fn parts(&self, which: Body) -> Vec<String> {
        let mut out: Vec<String> = self
            .head
            .iter()
            .chain(&self.pending)
            .flat_map(|(v, n)| part_keys(which, *v, *n))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// What [`DynamoStore::existing`] reads of a head and of a marker.
const SHAPES: Projection = Projection {
    expression: "#pk, #sk, #v, #n, #pending",
    names: &[
        ("#pk", "pk"),
        ("#sk", "sk"),
        ("#v", "version"),
        ("#n", "parts"),
        ("#pending", "pending"),
    ],
};

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

/// What is stored of each body, by (partition key, body), from the heads
/// and markers a BatchGetItem returned (projected to [`SHAPES`]). A body
/// with nothing stored is absent.
fn existing_of(items: &[Item]) -> Result<HashMap<(String, Body), Existing>> {
    let mut out: HashMap<(String, Body), Existing> = HashMap::new();
    for it in items {
        let (pk, sk) = (get_s(it, "pk")?, get_s(it, "sk")?);
        let Some((which, is_head)) = [Body::State, Body::Doc].into_iter().find_map(|b| {
            (sk == b.head_sk())
                .then_some((b, true))
                .or((sk == b.marker_sk()).then_some((b, false)))
        }) else {
            continue;
        };
        let found = out.entry((pk.clone(), which)).or_default();
        if is_head {
            found.head = Some(shape(it)?);
        } else {
            let pending = get_s(it, "pending")?;
            found.marker = true;
            found.pending = parse_pending(&pending).ok_or_else(|| StoreError::Corrupt {
                key: format!("{pk}/{sk}"),
                detail: format!("a pending marker reads {pending:?}"),
            })?;
        }
    }
    Ok(out)
}

/// The version of a new split body: above the head's and above every
/// pending one, so its parts never land on the keys of a version the head
/// names or of an abandoned write (parts written, head not).
fn next_version(found: &Existing) -> i64 {
    // Every stored part belongs to the head or to a pending version, so
    // those two bound every version.
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

/// What the write of one body does, phase by phase (see [`Phases`]).
#[derive(Debug, Default, PartialEq)]
struct BodyPlan {
    /// The marker's new list of pending versions, when it changes.
    mark: Option<Vec<(i64, i64)>>,
    /// The new head, when it is split: its version and item count.
    split: Option<(i64, i64)>,
    /// Whether there is a head to delete (a deletion only).
    delete_head: bool,
    /// Part keys no head will name, deleted after the heads.
    sweep: Vec<String>,
    /// Whether the marker is deleted after the sweep.
    unmark: bool,
}

/// Plans a put of a body of `items` items (`Some`) or a deletion (`None`)
/// from what is stored of it.
fn plan(which: Body, found: &Existing, items: Option<usize>) -> BodyPlan {
    let split = items
        .filter(|n| *n > 1)
        .map(|n| (next_version(found), n as i64));
    // Before anything changes: every split version this write may leave
    // behind, the current head's (its parts outlive it until the sweep)
    // and the new one's (written before its head), with those an earlier
    // interrupted write left. A deletion with no head changes nothing.
    let mut pending = found.pending.clone();
    if items.is_some() || found.head.is_some() {
        pending.extend(found.head.filter(|(_, n)| *n > 1));
        pending.extend(split);
    }
    pending.sort_unstable();
    pending.dedup();
    let mark = (pending != found.pending).then_some(pending);
    BodyPlan {
        unmark: found.marker || mark.is_some(),
        mark,
        split,
        delete_head: items.is_none() && found.head.is_some(),
        sweep: stale_parts(which, split, &found.parts(which)),
    }
}

/// The requests of one `write_tickets` call, in the order they must land:
/// each phase is sent only once the one before it is written, its own
/// requests side by side.
#[derive(Default)]
struct Phases {
    /// Markers recording the split versions the call may leave behind.
    markers: Vec<WriteRequest>,
    /// The parts of split bodies, which no head names yet.
    parts: Vec<WriteRequest>,
    /// Heads put (one-item and split alike) and heads deleted.
    heads: Vec<WriteRequest>,
    /// Parts no head names any more.
    sweep: Vec<WriteRequest>,
    /// Markers whose versions are all swept.
    unmark: Vec<WriteRequest>,
}

impl Phases {
    /// Adds the requests of one body's write, planned from what is stored.
    fn add(
        &mut self,
        conn: &str,
        id: u64,
        which: Body,
        effect: &Effect<'_>,
        found: &Existing,
    ) -> Result<()> {
        let pk = doc_pk(conn, id);
        let chunks = match effect {
            Effect::Put(blob) => chunk_body(&blob.body),
            Effect::Delete => Vec::new(),
        };
        let put = matches!(effect, Effect::Put(_));
        let p = plan(which, found, put.then_some(chunks.len()));
        if let Some(pending) = &p.mark {
            let mut marker = Item::new();
            marker.insert("pk".into(), attr_s(&pk));
            marker.insert("sk".into(), attr_s(which.marker_sk()));
            marker.insert("pending".into(), attr_s(&format_pending(pending)));
            self.markers.push(put_request(marker)?);
        }
        if let Effect::Put(blob) = effect {
            let (first, rest) = chunks.split_first().unwrap_or((&"", &[]));
            if let Some((version, _)) = p.split {
                for (i, c) in rest.iter().enumerate() {
                    let mut part = Item::new();
                    part.insert("pk".into(), attr_s(&pk));
                    part.insert("sk".into(), attr_s(&which.part_sk(version, i + 1)));
                    part.insert("body".into(), attr_s(c));
                    self.parts.push(put_request(part)?);
                }
            }
            let head = head_item(conn, id, which, blob, first, p.split);
            self.heads.push(put_request(head)?);
        } else if p.delete_head {
            self.heads.push(delete_request(&pk, which.head_sk())?);
        }
        for sk in &p.sweep {
            self.sweep.push(delete_request(&pk, sk)?);
        }
        if p.unmark {
            self.unmark.push(delete_request(&pk, which.marker_sk())?);
        }
        Ok(())
    }

    /// Sends the phases in order.
    async fn send(self, store: &DynamoStore) -> Result<()> {
        for phase in [
            self.markers,
            self.parts,
            self.heads,
            self.sweep,
            self.unmark,
        ] {
            store.batch_write(phase).await?;
        }
        Ok(())
    }
}

/// A body's head: the hash, the first chunk, the listing index's keys and,
/// for a split body, the version and item count of its parts.
fn head_item(
    conn: &str,
    id: u64,
    which: Body,
    blob: &Blob,
    first: &str,
    split: Option<(i64, i64)>,
) -> Item {
    let mut head = Item::new();
    head.insert("pk".into(), attr_s(&doc_pk(conn, id)));
    head.insert("sk".into(), attr_s(which.head_sk()));
    head.insert("ticket_id".into(), attr_n(id as i64));
    head.insert("hash".into(), attr_s(&blob.hash));
    head.insert("body".into(), attr_s(first));
    head.insert("gsi1pk".into(), attr_s(&which.index(conn)));
    head.insert("gsi1sk".into(), attr_s(&pad(id)));
    if let Some((version, items)) = split {
        head.insert("version".into(), attr_n(version));
        head.insert("parts".into(), attr_n(items));
    }
    head
}

impl DynamoStore {
    /// `write_tickets`: one read of what is stored of every body the
    /// writes touch, then the planned phases.
    pub(crate) async fn write_bodies(&self, conn: &str, writes: &[TicketWrite]) -> Result<()> {
        let effects = final_effects(writes);
        let found = self.existing(conn, &effects).await?;
        let mut phases = Phases::default();
        let nothing = Existing::default();
        for (id, which, effect) in &effects {
            let stored = found.get(&(doc_pk(conn, *id), *which)).unwrap_or(&nothing);
            phases.add(conn, *id, *which, effect, stored)?;
        }
        phases.send(self).await
    }

    /// What is stored of each body `effects` touch: one BatchGetItem of
    /// every body's head and marker, projected to their shapes, 100 keys a
    /// request, side by side.
    async fn existing(
        &self,
        conn: &str,
        effects: &[(u64, Body, Effect<'_>)],
    ) -> Result<HashMap<(String, Body), Existing>> {
        let keys = effects
            .iter()
            .flat_map(|(id, which, _)| {
                let pk = doc_pk(conn, *id);
                [
                    (pk.clone(), which.head_sk().to_string()),
                    (pk, which.marker_sk().to_string()),
                ]
            })
            .collect();
        existing_of(&self.batch_get_projected(keys, Some(SHAPES)).await?)
    }
}

/// The final effect of `writes` on each (ticket, item), the items in order
/// of first appearance.
fn final_effects<'a>(writes: &'a [TicketWrite]) -> Vec<(u64, Body, Effect<'a>)> {
    let mut order: Vec<(u64, Body)> = Vec::new();
    let mut effects: HashMap<(u64, Body), Effect<'a>> = HashMap::new();
    let mut set = |id: u64, which: Body, e: Effect<'a>| {
        if effects.insert((id, which), e).is_none() {
            order.push((id, which));
        }
    };
    for w in writes {
        match w {
            TicketWrite::PutState { ticket_id, blob } => {
                set(*ticket_id, Body::State, Effect::Put(blob))
            }
            TicketWrite::PutDocument { ticket_id, blob } => {
                set(*ticket_id, Body::Doc, Effect::Put(blob))
            }
            TicketWrite::DeleteDocument { ticket_id } => set(*ticket_id, Body::Doc, Effect::Delete),
            TicketWrite::DeleteTicket { ticket_id } => {
                set(*ticket_id, Body::State, Effect::Delete);
                set(*ticket_id, Body::Doc, Effect::Delete);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|(id, which)| Some((id, which, effects.remove(&(id, which))?)))
        .collect()
}

/// The final effect of a sequence of writes on one ticket's item.
#[derive(Debug, Clone, PartialEq)]
enum Effect<'a> {
    Put(&'a Blob),
    Delete,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sks(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A stored body: its head's shape, and a marker when `pending` is not
    /// empty.
    fn stored(head: Option<(i64, i64)>, pending: &[(i64, i64)]) -> Existing {
        Existing {
            head,
            pending: pending.to_vec(),
            marker: !pending.is_empty(),
        }
    }

    fn item(attrs: &[(&str, &str)], numbers: &[(&str, i64)]) -> Item {
        let mut it: Item = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), attr_s(v)))
            .collect();
        it.extend(numbers.iter().map(|(k, n)| (k.to_string(), attr_n(*n))));
        it
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
        assert_eq!(next_version(&stored(Some((0, 1)), &[])), 1);
        // Version 2 was abandoned (parts written, head not): never reused.
        let abandoned = stored(Some((1, 3)), &[(2, 3)]);
        assert_eq!(next_version(&abandoned), 3);
        assert_eq!(
            abandoned.parts(Body::Doc),
            sks(&["PART#1#1", "PART#1#2", "PART#2#1", "PART#2#2"])
        );
        // Parts without a head (a deletion cut short), known by the marker.
        let headless = stored(None, &[(4, 2)]);
        assert_eq!(next_version(&headless), 5);
        assert_eq!(headless.parts(Body::State), sks(&["STATE#4#1"]));
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

    #[test]
    fn what_is_stored_is_read_per_body_from_heads_and_markers() {
        let items = [
            item(&[("pk", "DOC#a#1"), ("sk", "STATE")], &[]),
            item(
                &[("pk", "DOC#a#1"), ("sk", "PART#0")],
                &[("version", 3), ("parts", 2)],
            ),
            item(
                &[
                    ("pk", "DOC#a#1"),
                    ("sk", "PENDING#PART"),
                    ("pending", "4:3"),
                ],
                &[],
            ),
            item(
                &[
                    ("pk", "DOC#a#2"),
                    ("sk", "PENDING#STATE"),
                    ("pending", "1:2"),
                ],
                &[],
            ),
        ];
        let found = existing_of(&items).expect("shapes read");
        assert_eq!(found.len(), 3);
        let key = |pk: &str, b| (pk.to_string(), b);
        assert_eq!(
            found[&key("DOC#a#1", Body::State)],
            stored(Some((0, 1)), &[])
        );
        assert_eq!(
            found[&key("DOC#a#1", Body::Doc)],
            stored(Some((3, 2)), &[(4, 3)])
        );
        assert_eq!(found[&key("DOC#a#2", Body::State)], stored(None, &[(1, 2)]));
        let garbage = [item(
            &[("pk", "DOC#a#1"), ("sk", "PENDING#PART"), ("pending", "x")],
            &[],
        )];
        assert!(matches!(
            existing_of(&garbage),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn one_item_bodies_over_one_item_bodies_touch_no_marker() {
        for found in [Existing::default(), stored(Some((0, 1)), &[])] {
            assert_eq!(plan(Body::Doc, &found, Some(1)), BodyPlan::default());
        }
        assert_eq!(
            plan(Body::Doc, &stored(Some((0, 1)), &[]), None),
            BodyPlan {
                delete_head: true,
                ..BodyPlan::default()
            }
        );
        assert_eq!(
            plan(Body::Doc, &Existing::default(), None),
            BodyPlan::default()
        );
    }

    #[test]
    fn a_body_growing_into_parts_is_marked_before_its_parts() {
        assert_eq!(
            plan(Body::Doc, &stored(Some((0, 1)), &[]), Some(3)),
            BodyPlan {
                mark: Some(vec![(1, 3)]),
                split: Some((1, 3)),
                unmark: true,
                ..BodyPlan::default()
            }
        );
    }

    #[test]
    fn a_split_body_replaced_keeps_both_versions_marked_until_the_sweep() {
        let found = stored(Some((1, 2)), &[]);
        assert_eq!(
            plan(Body::Doc, &found, Some(4)),
            BodyPlan {
                mark: Some(vec![(1, 2), (2, 4)]),
                split: Some((2, 4)),
                sweep: sks(&["PART#1#1"]),
                unmark: true,
                ..BodyPlan::default()
            },
            "grown"
        );
        assert_eq!(
            plan(Body::Doc, &found, Some(1)),
            BodyPlan {
                mark: Some(vec![(1, 2)]),
                sweep: sks(&["PART#1#1"]),
                unmark: true,
                ..BodyPlan::default()
            },
            "shrunk to one item"
        );
    }

    #[test]
    fn leftovers_of_an_interrupted_write_are_swept_and_their_marker_goes_last() {
        // Version 2 was begun and abandoned over a split version 1.
        let found = stored(Some((1, 2)), &[(1, 2), (2, 3)]);
        assert_eq!(
            plan(Body::State, &found, Some(1)),
            BodyPlan {
                sweep: sks(&["STATE#1#1", "STATE#2#1", "STATE#2#2"]),
                unmark: true,
                ..BodyPlan::default()
            },
            "the marker already names every version: not written again"
        );
        assert_eq!(
            plan(Body::State, &stored(None, &[(4, 2)]), None),
            BodyPlan {
                sweep: sks(&["STATE#4#1"]),
                unmark: true,
                ..BodyPlan::default()
            },
            "a deletion cut short: no head, its parts and marker go"
        );
    }

    #[test]
    fn a_split_body_deleted_is_marked_before_its_head_goes() {
        assert_eq!(
            plan(Body::Doc, &stored(Some((2, 3)), &[]), None),
            BodyPlan {
                mark: Some(vec![(2, 3)]),
                delete_head: true,
                sweep: sks(&["PART#2#1", "PART#2#2"]),
                unmark: true,
                ..BodyPlan::default()
            }
        );
    }
}
