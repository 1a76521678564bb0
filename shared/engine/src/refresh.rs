//! The daily user refresh: walks Zendesk's incremental users export from the
//! `users` cursor, updates the customers already stored, and renders again
//! the documents of those whose profile changed.
//!
//! The first refresh of a connection starts one day before the point the
//! tickets export had reached (Zendesk's clock): users who changed earlier
//! were read fresh by the sync.
//! Finding the documents of a changed user scans the stored ticket states
//! (no secondary index yet); it happens only when some stored user changed.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;
use zdsync_store::{CursorKind, EntityKind, LeaseOutcome};
use zdsync_zendesk::TicketCursor;
use zdsync_zendesk::types::User;

use crate::error::{Context, EngineError, Result};
use crate::render::{Pending, Renderer};
use crate::state::{TicketState, content_hash};
use crate::sync::{RequestStatsOut, SyncOptions};
use crate::{Engine, now_ms};

#[derive(Debug, Clone, Default, Serialize)]
pub struct RefreshReport {
    pub connection: String,
    pub pages: u64,
    pub users_seen: u64,
    pub users_updated: u64,
    pub documents_written: u64,
    pub complete: bool,
    pub requests: RequestStatsOut,
    pub duration_ms: u64,
}

pub async fn refresh_users(engine: &Engine, name: Option<&str>) -> Result<Vec<RefreshReport>> {
    let mut out = Vec::new();
    for conn in engine.connections(name).await? {
        out.push(refresh_connection(engine, &conn.name, &SyncOptions::default()).await?);
    }
    Ok(out)
}

pub async fn refresh_connection(
    engine: &Engine,
    name: &str,
    opts: &SyncOptions,
) -> Result<RefreshReport> {
    let conn = engine.connection(name).await?;
    let ttl = opts.lease_ttl.as_millis() as i64;
    if let LeaseOutcome::Held {
        owner,
        expires_at_ms,
    } = engine
        .store
        .acquire_lease(&conn.name, &opts.owner, now_ms(), ttl)
        .await
        .context(|| "taking the lease".into())?
    {
        return Err(EngineError::Busy {
            name: conn.name.clone(),
            owner,
            until: expires_at_ms.to_string(),
        });
    }
    let started = Instant::now();
    let result = refresh_inner(engine, &conn, opts).await;
    if let Err(e) = engine.store.release_lease(&conn.name, &opts.owner).await {
        tracing::warn!(error = %e, "could not release the lease; it expires by itself");
    }
    result.map(|mut r| {
        r.duration_ms = started.elapsed().as_millis() as u64;
        r
    })
}

async fn refresh_inner(
    engine: &Engine,
    conn: &zdsync_store::Connection,
    opts: &SyncOptions,
) -> Result<RefreshReport> {
    let client = engine.client(conn).await?;
    let mut report = RefreshReport {
        connection: conn.name.clone(),
        ..Default::default()
    };
    let mut cursor = engine
        .store
        .get_cursor(&conn.name, CursorKind::Users)
        .await
        .context(|| "reading the users cursor".into())?;
    let mut at = match &cursor {
        Some(c) => TicketCursor::After(c.clone()),
        None => {
            // Users changed before the sync reached its position were read
            // fresh by it; start a day earlier, on Zendesk's clock.
            let reached = engine
                .store
                .get_cursor(&conn.name, CursorKind::Tickets)
                .await
                .context(|| "reading the tickets cursor".into())?
                .map(|c| crate::sync::TicketsCursor::decode(&c))
                .transpose()?;
            match reached {
                Some(c) => TicketCursor::Start((c.ts - 86_400).max(0)),
                None => {
                    // Nothing synced yet: no stored customer to refresh.
                    report.complete = true;
                    return Ok(report);
                }
            }
        }
    };
    let mut changed_users: HashSet<u64> = HashSet::new();
    let mut renderer: Option<Renderer> = None;
    loop {
        if opts.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let page = client
            .users_page(&at)
            .await
            .context(|| "reading the users export".into())?;
        report.pages += 1;
        report.users_seen += page.users.len() as u64;
        let ids: Vec<u64> = page.users.iter().filter_map(|u| u.id).collect();
        let stored = engine
            .store
            .get_entities(&conn.name, EntityKind::User, &ids)
            .await
            .context(|| "reading stored users".into())?;
        let updates: Vec<User> = page
            .users
            .into_iter()
            .filter(|u| {
                u.id.and_then(|id| stored.get(&id)).is_some_and(|b| {
                    serde_json::to_string(u).is_ok_and(|s| content_hash(&s) != b.hash)
                })
            })
            .collect();
        if !updates.is_empty() {
            let r = renderer.get_or_insert_with(|| {
                Renderer::new(
                    &conn.name,
                    &conn.subdomain,
                    zdsync_mapping::FieldCatalog::default(),
                )
            });
            r.store_entities(engine, &updates, &[]).await?;
            report.users_updated += updates.len() as u64;
        }
        // Every stored customer who changed since the last refresh: the
        // hourly sync may already have stored the new profile (sideloaded
        // with one ticket) without rendering the customer's other tickets.
        changed_users.extend(ids.iter().copied().filter(|id| stored.contains_key(id)));
        if let Some(after) = &page.after_cursor
            && cursor.as_deref() != Some(after.as_str())
            && !ids.is_empty()
        {
            engine
                .store
                .put_cursor(&conn.name, CursorKind::Users, after, cursor.as_deref())
                .await
                .context(|| "saving the users cursor".into())?;
            cursor = Some(after.clone());
        }
        if page.end_of_stream {
            report.complete = true;
            break;
        }
        match page.after_cursor {
            Some(a) if TicketCursor::After(a.clone()) != at => at = TicketCursor::After(a),
            _ => break,
        }
    }
    if !changed_users.is_empty() {
        let fields = client
            .ticket_fields()
            .await
            .context(|| "reading ticket fields".into())?;
        let mut r = Renderer::new(
            &conn.name,
            &conn.subdomain,
            zdsync_mapping::FieldCatalog::new(fields),
        );
        report.documents_written =
            rerender_for_users(engine, &client, &mut r, &conn.name, &changed_users).await?;
    }
    report.requests = client.stats().into();
    Ok(report)
}

/// Renders again the documents whose requester or authors changed.
async fn rerender_for_users(
    engine: &Engine,
    client: &zdsync_zendesk::Client,
    r: &mut Renderer,
    conn: &str,
    users: &HashSet<u64>,
) -> Result<u64> {
    let mut after = None;
    loop {
        let ids = engine
            .store
            .list_state_ids(conn, after, 500)
            .await
            .context(|| "listing ticket states".into())?;
        let Some(&last) = ids.last() else { break };
        after = Some(last);
        let states = engine
            .store
            .get_states(conn, &ids)
            .await
            .context(|| "reading ticket states".into())?;
        let mut batch = Vec::new();
        for (id, blob) in states {
            let state = TicketState::decode(&blob.body, &format!("{conn}#{id}"))?;
            let Some(t) = &state.ticket else { continue };
            if zdsync_mapping::wanted_user_ids(t, &state.entries)
                .iter()
                .any(|u| users.contains(u))
            {
                batch.push(Pending {
                    ticket_id: id,
                    state,
                    stored_state_hash: Some(blob.hash),
                });
            }
        }
        if !batch.is_empty() {
            let writes = r.render_batch(engine, client, &batch).await?;
            engine
                .store
                .write_tickets(conn, &writes)
                .await
                .context(|| "storing re-rendered documents".into())?;
        }
    }
    Ok(r.counters.documents_written)
}
