//! Rendering a batch of tickets into documents: resolves the users and
//! organizations the documents need (store first, then Zendesk in batches of
//! 100), renders with `zdsync-mapping`, and turns the result into the writes
//! that change something (content hash unchanged ⇒ no write).

use std::collections::{HashMap, HashSet};

use zdsync_mapping::{ConversationEntry, FieldCatalog, RenderContext};
use zdsync_store::{Blob, Connection, EntityKind, TicketWrite};
use zdsync_zendesk::Client;
use zdsync_zendesk::types::{Organization, Ticket, User};

use crate::Engine;
use crate::error::{Context, EngineError, Result};
use crate::state::{TicketState, content_hash};

/// Per-run caches and counters shared by the sync phases.
pub struct Renderer {
    pub connection: String,
    pub subdomain: String,
    pub catalog: FieldCatalog,
    reasons: Option<HashMap<u64, String>>,
    /// Ids Zendesk did not return this run (deleted users/orgs): not asked again.
    missing_users: HashSet<u64>,
    missing_orgs: HashSet<u64>,
    pub counters: Counters,
    /// Documents are held only for tickets at or above this place (a
    /// trial's floor, see [`crate::history`]); `None`: every ticket.
    pub floor: Option<crate::history::Place>,
}

/// What a run did, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub documents_written: u64,
    pub documents_deleted: u64,
    pub documents_unchanged: u64,
    pub states_written: u64,
    pub tickets_deleted: u64,
    pub entities_written: u64,
    pub cursor_writes: u64,
    pub users_fetched: u64,
    pub orgs_fetched: u64,
    pub gap_fetches: u64,
    /// Per-ticket reads of Agent Workspace chat histories (audits).
    #[serde(default)]
    pub chat_history_reads: u64,
    /// Per-ticket reads of messaging conversation logs.
    #[serde(default)]
    pub conversation_log_reads: u64,
    /// Per-ticket comment reads of the agents' path ([`crate::search`]).
    #[serde(default)]
    pub comment_reads: u64,
}

impl Counters {
    /// Writes of data items (documents, states, users, orgs, cursors).
    pub fn data_writes(&self) -> u64 {
        self.documents_written
            + self.documents_deleted
            + self.states_written
            + self.tickets_deleted
            + self.entities_written
            + self.cursor_writes
    }
}

/// A ticket to render with its state and the hash its state was stored with.
pub struct Pending {
    pub ticket_id: u64,
    pub state: TicketState,
    /// Hash of the stored state (None when not stored).
    pub stored_state_hash: Option<String>,
}

impl Renderer {
    /// A renderer for a run of `conn`, with the account's ticket fields read
    /// now (one request) and the floor its history holds documents above.
    pub async fn for_run(engine: &Engine, conn: &Connection, client: &Client) -> Result<Self> {
        let fields = client
            .ticket_fields()
            .await
            .context(|| "reading ticket fields".into())?;
        let mut renderer = Renderer::new(&conn.name, &conn.subdomain, FieldCatalog::new(fields));
        renderer.floor = crate::history::floor(engine, &conn.name).await?;
        Ok(renderer)
    }

    pub fn new(connection: &str, subdomain: &str, catalog: FieldCatalog) -> Self {
        Renderer {
            connection: connection.to_string(),
            subdomain: subdomain.to_string(),
            catalog,
            reasons: None,
            missing_users: HashSet::new(),
            missing_orgs: HashSet::new(),
            counters: Counters::default(),
            floor: None,
        }
    }

    /// Stores users and organizations (sideloads or fetched), skipping those
    /// whose stored hash is unchanged. Of a user or organization deleted in
    /// Zendesk only its id and the mark of deletion are kept
    /// ([`zdsync_mapping::retained_user`]).
    pub async fn store_entities(
        &mut self,
        engine: &Engine,
        users: &[User],
        orgs: &[Organization],
    ) -> Result<()> {
        let users: Vec<(u64, String)> = users
            .iter()
            .map(|u| zdsync_mapping::retained_user(u.clone()))
            .filter_map(|u| u.id.map(|id| (id, serde_json::to_string(&u))))
            .map(|(id, r)| r.map(|s| (id, s)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| EngineError::Corrupt(format!("cannot encode a user: {e}")))?;
        let orgs: Vec<(u64, String)> = orgs
            .iter()
            .map(|o| zdsync_mapping::retained_org(o.clone()))
            .map(|o| serde_json::to_string(&o).map(|s| (o.id, s)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| EngineError::Corrupt(format!("cannot encode an organization: {e}")))?;
        self.put_changed(engine, EntityKind::User, users).await?;
        self.put_changed(engine, EntityKind::Org, orgs).await
    }

    async fn put_changed(
        &mut self,
        engine: &Engine,
        kind: EntityKind,
        items: Vec<(u64, String)>,
    ) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let ids: Vec<u64> = items.iter().map(|(id, _)| *id).collect();
        let stored = engine
            .store
            .get_entities(&self.connection, kind, &ids)
            .await
            .context(|| format!("reading stored {}s", kind.as_str()))?;
        let mut seen = HashSet::new();
        let changed: Vec<(u64, Blob)> = items
            .into_iter()
            .rev() // the last copy of an id in a batch wins
            .filter(|(id, _)| seen.insert(*id))
            .filter_map(|(id, body)| {
                let hash = content_hash(&body);
                match stored.get(&id) {
                    Some(b) if b.hash == hash => None,
                    _ => Some((id, Blob { hash, body })),
                }
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        engine
            .store
            .put_entities(&self.connection, kind, &changed)
            .await
            .context(|| format!("storing {}s", kind.as_str()))?;
        self.counters.entities_written += changed.len() as u64;
        Ok(())
    }

    /// Renders the batch and returns the writes that change something:
    /// states whose content changed, documents whose hash changed, documents
    /// that stopped being feedback.
    pub async fn render_batch(
        &mut self,
        engine: &Engine,
        client: &Client,
        batch: &[Pending],
    ) -> Result<Vec<TicketWrite>> {
        let mut writes = Vec::new();
        // States first: they are what a rerun needs.
        for p in batch {
            let body = p.state.encode()?;
            let hash = content_hash(&body);
            if p.stored_state_hash.as_deref() != Some(hash.as_str()) {
                writes.push(TicketWrite::PutState {
                    ticket_id: p.ticket_id,
                    blob: Blob { hash, body },
                });
                self.counters.states_written += 1;
            }
        }
        let renderable: Vec<(&Ticket, Vec<ConversationEntry>)> = batch
            .iter()
            .filter_map(|p| p.state.ticket.as_ref().map(|t| (t, p.state.conversation())))
            .collect();
        if renderable.is_empty() {
            return Ok(writes);
        }
        self.ensure_reasons(client, renderable.iter().map(|(t, _)| *t))
            .await;

        // The stored documents' hashes are read while the people are.
        let ids: Vec<u64> = renderable.iter().map(|(t, _)| t.id).collect();
        let connection = self.connection.clone();
        let hashes = async {
            engine
                .store
                .get_document_hashes(&connection, &ids)
                .await
                .context(|| "reading document hashes".into())
        };
        let (people, hashes) =
            futures::join!(self.resolve_people(engine, client, &renderable), hashes);
        let (users, orgs) = people?;
        let hashes = hashes?;
        let empty = HashMap::new();
        let ctx = RenderContext {
            connection: &self.connection,
            subdomain: &self.subdomain,
            fields: &self.catalog,
            reasons: self.reasons.as_ref().unwrap_or(&empty),
            users: &users,
            organizations: &orgs,
        };
        let mut docs_written = 0;
        let mut docs_deleted = 0;
        let mut unchanged = 0;
        for (ticket, conversation) in &renderable {
            let held = crate::history::History::holds(self.floor, ticket);
            match zdsync_mapping::render(&ctx, ticket, conversation).filter(|_| held) {
                Some(doc) => {
                    let body = serde_json::to_string(&doc).map_err(|e| {
                        EngineError::Corrupt(format!("cannot encode document {}: {e}", doc.id))
                    })?;
                    let hash = content_hash(&body);
                    if hashes.get(&ticket.id) == Some(&hash) {
                        unchanged += 1;
                    } else {
                        writes.push(TicketWrite::PutDocument {
                            ticket_id: ticket.id,
                            blob: Blob { hash, body },
                        });
                        docs_written += 1;
                    }
                }
                None => {
                    if hashes.contains_key(&ticket.id) {
                        writes.push(TicketWrite::DeleteDocument {
                            ticket_id: ticket.id,
                        });
                        docs_deleted += 1;
                    }
                }
            }
        }
        self.counters.documents_written += docs_written;
        self.counters.documents_deleted += docs_deleted;
        self.counters.documents_unchanged += unchanged;
        Ok(writes)
    }

    /// The users the documents name (requesters and comment authors) and
    /// the organizations they show (the requester's own, else the
    /// ticket's): from the store, then from Zendesk for those not stored.
    async fn resolve_people(
        &mut self,
        engine: &Engine,
        client: &Client,
        renderable: &[(&Ticket, Vec<ConversationEntry>)],
    ) -> Result<(HashMap<u64, User>, HashMap<u64, Organization>)> {
        let mut user_ids: Vec<u64> = renderable
            .iter()
            .flat_map(|(t, conversation)| zdsync_mapping::wanted_user_ids(t, conversation))
            .collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let users = self.resolve_users(engine, client, &user_ids).await?;
        let mut org_ids: Vec<u64> = renderable
            .iter()
            .filter_map(|(t, _)| {
                let requester = t
                    .requester_id
                    .and_then(|r| zdsync_mapping::readable_user(&users, r));
                zdsync_mapping::requester_org_id(t, requester)
            })
            .collect();
        org_ids.sort_unstable();
        org_ids.dedup();
        let orgs = self.resolve_orgs(engine, client, &org_ids).await?;
        Ok((users, orgs))
    }

    /// Renders again the stored tickets `pick` selects, from their stored
    /// states (Zendesk is asked only for what rendering needs).
    pub async fn render_stored(
        &mut self,
        engine: &Engine,
        client: &Client,
        pick: impl Fn(&TicketState) -> bool,
    ) -> Result<()> {
        const BATCH: usize = 500;
        let name = self.connection.clone();
        let mut after = None;
        loop {
            let ids = engine
                .store
                .list_state_ids(&name, after, BATCH)
                .await
                .context(|| "listing ticket states".into())?;
            let Some(&last) = ids.last() else {
                return Ok(());
            };
            after = Some(last);
            let states = engine
                .store
                .get_states(&name, &ids)
                .await
                .context(|| "reading ticket states".into())?;
            let mut batch = Vec::new();
            for (id, blob) in states {
                let state = TicketState::decode(&blob.body, &format!("{name}#{id}"))?;
                if pick(&state) {
                    batch.push(Pending {
                        ticket_id: id,
                        state,
                        stored_state_hash: Some(blob.hash),
                    });
                }
            }
            let writes = self.render_batch(engine, client, &batch).await?;
            if !writes.is_empty() {
                engine
                    .store
                    .write_tickets(&name, &writes)
                    .await
                    .context(|| format!("storing {} rendered documents", writes.len()))?;
            }
        }
    }

    /// Loads `satisfaction_reasons` once per run, when a rating needs it.
    async fn ensure_reasons<'a>(
        &mut self,
        client: &Client,
        mut tickets: impl Iterator<Item = &'a Ticket>,
    ) {
        if self.reasons.is_some() {
            return;
        }
        let needed = tickets.any(needs_reason_name);
        if !needed {
            return;
        }
        match client.satisfaction_reasons().await {
            Ok(list) => {
                self.reasons = Some(
                    list.into_iter()
                        .filter_map(|r| r.value.or(r.raw_value).map(|v| (r.id, v)))
                        .collect(),
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "satisfaction reasons unavailable; ratings keep only their own reason text");
                self.reasons = Some(HashMap::new());
            }
        }
    }

    async fn resolve_users(
        &mut self,
        engine: &Engine,
        client: &Client,
        ids: &[u64],
    ) -> Result<HashMap<u64, User>> {
        let mut out: HashMap<u64, User> = HashMap::with_capacity(ids.len());
        let stored = engine
            .store
            .get_entities(&self.connection, EntityKind::User, ids)
            .await
            .context(|| "reading stored users".into())?;
        for (id, blob) in stored {
            let u: User = serde_json::from_str(&blob.body).map_err(|e| {
                EngineError::Corrupt(format!(
                    "stored user {id} cannot be read: {}",
                    zdsync_zendesk::redact::json_error(&e)
                ))
            })?;
            out.insert(id, u);
        }
        let missing: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| !out.contains_key(id) && !self.missing_users.contains(id))
            .collect();
        if !missing.is_empty() {
            let fetched = client
                .users_show_many(&missing)
                .await
                .context(|| format!("fetching {} users", missing.len()))?;
            self.counters.users_fetched += fetched.len() as u64;
            self.store_entities(engine, &fetched, &[]).await?;
            for u in fetched.into_iter().map(zdsync_mapping::retained_user) {
                if let Some(id) = u.id {
                    out.insert(id, u);
                }
            }
            for id in missing {
                if !out.contains_key(&id) {
                    self.missing_users.insert(id);
                }
            }
        }
        Ok(out)
    }

    async fn resolve_orgs(
        &mut self,
        engine: &Engine,
        client: &Client,
        ids: &[u64],
    ) -> Result<HashMap<u64, Organization>> {
        let mut out: HashMap<u64, Organization> = HashMap::with_capacity(ids.len());
        let stored = engine
            .store
            .get_entities(&self.connection, EntityKind::Org, ids)
            .await
            .context(|| "reading stored organizations".into())?;
        for (id, blob) in stored {
            let o: Organization = serde_json::from_str(&blob.body).map_err(|e| {
                EngineError::Corrupt(format!(
                    "stored organization {id} cannot be read: {}",
                    zdsync_zendesk::redact::json_error(&e)
                ))
            })?;
            out.insert(id, o);
        }
        let missing: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| !out.contains_key(id) && !self.missing_orgs.contains(id))
            .collect();
        if !missing.is_empty() {
            let fetched = client
                .organizations_show_many(&missing)
                .await
                .context(|| format!("fetching {} organizations", missing.len()))?;
            self.counters.orgs_fetched += fetched.len() as u64;
            self.store_entities(engine, &[], &fetched).await?;
            for o in fetched.into_iter().map(zdsync_mapping::retained_org) {
                out.insert(o.id, o);
            }
            for id in missing {
                if !out.contains_key(&id) {
                    self.missing_orgs.insert(id);
                }
            }
        }
        Ok(out)
    }
}

/// Whether a ticket's rating names its reason only by id (its name comes
/// from the reasons list, which only admins may read).
pub fn needs_reason_name(t: &Ticket) -> bool {
    t.satisfaction_rating.as_ref().is_some_and(|r| {
        matches!(r.score.as_str(), "good" | "bad")
            && r.reason_id.is_some()
            && r.reason.as_deref().is_none_or(|s| s.trim().is_empty())
    })
}
