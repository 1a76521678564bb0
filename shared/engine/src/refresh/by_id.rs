//! The daily refresh of an agent connection ([`crate::access`]): agents
//! may not read the users and organizations exports, so the stored
//! customers and organizations are read again by `show_many` (100 a
//! request), and the stored tickets are checked the same way, since the
//! search export never shows a deleted ticket.
//!
//! - A stored user or organization that `show_many` leaves out was deleted
//!   in Zendesk: it is kept as missing, like the exports' deletions.
//! - A stored ticket that `tickets/show_many` leaves out is asked for on
//!   its own: a 404 (deleted) or a 403 (out of a restricted agent's sight)
//!   removes its state and document; a ticket that answers is kept.
//!
//! Cost a day: (stored users + stored organizations + stored tickets) /
//! 100 requests, plus one per ticket gone. 10,000 tickets of 4,000
//! customers in 500 organizations: about 145 requests.

use std::collections::HashSet;

use zdsync_store::EntityKind;
use zdsync_zendesk::types::{Organization, User};

use super::{Mark, Refresh, RefreshReport};
use crate::error::{Context, EngineError, Result};

/// Stored ids listed, and tickets checked, per step.
const STEP: usize = 500;

impl Refresh<'_> {
    /// Users, organizations, the documents they show, then the tickets.
    pub(super) async fn all_by_id(&mut self, report: &mut RefreshReport) -> Result<()> {
        let users_done = self.users_by_id(report).await?;
        let orgs_done = users_done && self.orgs_by_id(report).await?;
        let rendered = orgs_done && self.render_pending().await?;
        let checked = rendered && self.reconcile(report).await?;
        report.complete = checked;
        Ok(())
    }

    async fn stored_ids(&self, kind: EntityKind) -> Result<Vec<u64>> {
        self.engine
            .store
            .list_entity_ids(&self.conn.name, kind)
            .await
            .context(|| format!("listing stored {}s", kind.as_str()))
    }

    /// Every stored user read again. False when the run had to stop first.
    async fn users_by_id(&mut self, report: &mut RefreshReport) -> Result<bool> {
        let ids = self.stored_ids(EntityKind::User).await?;
        for (taken, chunk) in ids.chunks(STEP).enumerate() {
            if !self.may_continue(taken as u64)? {
                return Ok(false);
            }
            let found = self
                .client
                .users_show_many(chunk)
                .await
                .context(|| format!("reading {} stored users", chunk.len()))?;
            report.pages += chunk.len().div_ceil(100) as u64;
            report.users_seen += found.len() as u64;
            let users = with_tombstones(
                chunk,
                found,
                |u| u.id,
                |id| User {
                    id: Some(id),
                    active: Some(false),
                    ..Default::default()
                },
            );
            self.absorb_users(users, Mark::Changed, report).await?;
            self.save_pending().await?;
        }
        Ok(true)
    }

    /// Every stored organization read again.
    async fn orgs_by_id(&mut self, report: &mut RefreshReport) -> Result<bool> {
        let ids = self.stored_ids(EntityKind::Org).await?;
        for (taken, chunk) in ids.chunks(STEP).enumerate() {
            if !self.may_continue(taken as u64)? {
                return Ok(false);
            }
            let found = self
                .client
                .organizations_show_many(chunk)
                .await
                .context(|| format!("reading {} stored organizations", chunk.len()))?;
            report.pages += chunk.len().div_ceil(100) as u64;
            report.orgs_seen += found.len() as u64;
            let now = crate::now_rfc3339();
            let orgs = with_tombstones(
                chunk,
                found,
                |o| Some(o.id),
                |id| Organization {
                    id,
                    deleted_at: Some(now.clone()),
                    ..Default::default()
                },
            );
            self.absorb_orgs(orgs, Mark::Changed, report).await?;
            self.save_pending().await?;
        }
        Ok(true)
    }

    /// Removes the stored tickets Zendesk no longer shows this connection.
    async fn reconcile(&mut self, report: &mut RefreshReport) -> Result<bool> {
        let mut after = None;
        let mut taken = 0;
        loop {
            if !self.may_continue(taken)? {
                return Ok(false);
            }
            taken += 1;
            let ids = self
                .engine
                .store
                .list_state_ids(&self.conn.name, after, STEP)
                .await
                .context(|| "listing ticket states".into())?;
            let Some(&last) = ids.last() else {
                return Ok(true);
            };
            after = Some(last);
            self.check_tickets(&ids, report).await?;
        }
    }

    async fn check_tickets(&mut self, ids: &[u64], report: &mut RefreshReport) -> Result<()> {
        let found = self
            .client
            .tickets_show_many(ids)
            .await
            .context(|| format!("checking {} stored tickets", ids.len()))?;
        report.pages += ids.len().div_ceil(100) as u64;
        report.tickets_checked += ids.len() as u64;
        let present: HashSet<u64> = found.iter().map(|t| t.id).collect();
        let mut gone = Vec::new();
        for &id in ids.iter().filter(|id| !present.contains(id)) {
            match self.client.ticket(id).await {
                Ok(None) | Err(zdsync_zendesk::Error::Forbidden { .. }) => gone.push(id),
                Ok(Some(_)) => {
                    tracing::info!(
                        ticket = id,
                        "show_many left out a ticket that answers on its own; kept"
                    );
                }
                Err(e) => {
                    return Err(EngineError::Zendesk {
                        context: format!("checking ticket {id}"),
                        source: e,
                    });
                }
            }
        }
        let writes = crate::search::deletions(self.engine, &self.conn.name, &gone).await?;
        report.tickets_deleted += writes.len() as u64;
        self.renderer.counters.tickets_deleted += writes.len() as u64;
        self.engine
            .store
            .write_tickets(&self.conn.name, &writes)
            .await
            .context(|| format!("removing {} deleted tickets", writes.len()))
    }
}

/// The records found for `asked`, plus a stand-in for each id left out.
fn with_tombstones<T>(
    asked: &[u64],
    found: Vec<T>,
    id_of: impl Fn(&T) -> Option<u64>,
    tombstone: impl Fn(u64) -> T,
) -> Vec<T> {
    let seen: HashSet<u64> = found.iter().filter_map(&id_of).collect();
    let mut out = found;
    out.extend(
        asked
            .iter()
            .filter(|id| !seen.contains(id))
            .map(|&id| tombstone(id)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_left_out_get_a_stand_in_and_found_ones_stay_as_found() {
        let out = with_tombstones(
            &[1, 2, 3],
            vec![(3, "c"), (1, "a")],
            |r| Some(r.0),
            |id| (id, "gone"),
        );
        assert_eq!(out, vec![(3, "c"), (1, "a"), (2, "gone")]);
    }
}
