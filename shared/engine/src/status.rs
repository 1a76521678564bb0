//! Reading what is stored: connection status and documents.

use serde::Serialize;
use zdsync_store::{CursorKind, DocumentRow, StoreCounts};

use crate::Engine;
use crate::error::{Context, EngineError, Result};
use crate::sync::SyncReport;

/// Status of one connection.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionStatus {
    pub name: String,
    pub subdomain: String,
    pub email: Option<String>,
    pub plan: zdsync_store::Plan,
    pub auth: zdsync_store::AuthKind,
    pub role: Option<String>,
    /// The path its syncs take: `exports` (admin) or `search` (agent).
    pub path: crate::access::Path,
    /// A restricted agent's restriction (`groups`, `organization`, ...):
    /// only the tickets it may see are imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restricted: Option<String>,
    /// The path in words, for people.
    pub access: String,
    pub cursors: std::collections::BTreeMap<String, Option<String>>,
    pub counts: StoreCounts,
    pub last_run: Option<SyncReport>,
    /// The last daily refresh of users and organizations.
    pub last_refresh: Option<crate::refresh::RefreshReport>,
    /// The last planned backfill and how far it has come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill: Option<crate::backfill::BackfillProgress>,
    /// How much of history the documents cover.
    pub history: HistoryStatus,
}

/// How much of history the documents cover, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryStatus {
    /// Every feedback ticket of history has its document.
    pub complete: bool,
    /// A trial's floor: documents are held for tickets created at or after
    /// this time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_from: Option<String>,
    /// What is being read now: `trial backfill` or `upgrade`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading: Option<String>,
}

impl HistoryStatus {
    fn of(h: Option<&crate::history::History>) -> HistoryStatus {
        let Some(h) = h else {
            return HistoryStatus {
                complete: true,
                held_from: None,
                reading: None,
            };
        };
        let reading = if h.probing.is_some() || h.cut_after_walk {
            Some("trial backfill".to_string())
        } else if !h.upgrade.is_empty() {
            Some("upgrade: older history".to_string())
        } else {
            None
        };
        HistoryStatus {
            complete: h.complete(),
            held_from: h.floor.and_then(|f| {
                jiff::Timestamp::from_second(f.created)
                    .ok()
                    .map(|t| t.to_string())
            }),
            reading,
        }
    }
}

pub async fn status(engine: &Engine, name: Option<&str>) -> Result<Vec<ConnectionStatus>> {
    let mut out = Vec::new();
    for conn in engine.connections(name).await? {
        let mut cursors = std::collections::BTreeMap::new();
        let path = crate::access::Path::of(&conn);
        let kinds: &[CursorKind] = match path {
            crate::access::Path::Exports => &CursorKind::ALL,
            crate::access::Path::Search => &[CursorKind::Search],
        };
        for &kind in kinds {
            let c = engine
                .store
                .get_cursor(&conn.name, kind)
                .await
                .context(|| format!("reading the {} cursor", kind.as_str()))?;
            cursors.insert(kind.as_str().to_string(), c);
        }
        let counts = engine
            .store
            .counts(&conn.name)
            .await
            .context(|| "counting stored items".into())?;
        let last_run = match engine
            .store
            .get_run_record(&conn.name)
            .await
            .context(|| "reading the last run".into())?
        {
            Some(json) => serde_json::from_str(&json).ok(),
            None => None,
        };
        let last_refresh = engine
            .store
            .get_cursor(&conn.name, zdsync_store::CursorKind::LastRefresh)
            .await
            .context(|| "reading the last refresh".into())?
            .and_then(|json| serde_json::from_str(&json).ok());
        let backfill = crate::backfill::progress(engine, &conn.name).await?;
        let history = HistoryStatus::of(crate::history::load(engine, &conn.name).await?.as_ref());
        let access = crate::access::describe(path, conn.restriction.as_deref());
        out.push(ConnectionStatus {
            path,
            restricted: conn.restriction.clone(),
            access,
            backfill,
            history,
            name: conn.name,
            subdomain: conn.subdomain,
            email: conn.email,
            plan: conn.plan,
            auth: conn.auth,
            role: conn.role,
            cursors,
            counts,
            last_run,
            last_refresh,
        });
    }
    Ok(out)
}

/// Walks every stored document (of one connection or all), in pages.
pub async fn for_each_document(
    engine: &Engine,
    conn: Option<&str>,
    mut f: impl FnMut(DocumentRow) -> Result<()>,
) -> Result<u64> {
    if let Some(c) = conn {
        engine.connection(c).await?;
    }
    let mut after: Option<(String, u64)> = None;
    let mut n = 0;
    loop {
        let rows = engine
            .store
            .list_documents(conn, after.as_ref().map(|(c, t)| (c.as_str(), *t)), 500)
            .await
            .context(|| "listing documents".into())?;
        let Some(last) = rows.last() else { break };
        after = Some((last.connection.clone(), last.ticket_id));
        for row in rows {
            n += 1;
            f(row)?;
        }
    }
    Ok(n)
}

/// One document by ticket id. With several connections holding that ticket
/// id, `conn` must say which.
pub async fn show_document(engine: &Engine, conn: Option<&str>, ticket_id: u64) -> Result<String> {
    let conns = engine.connections(conn).await?;
    let mut found = Vec::new();
    for c in &conns {
        if let Some(doc) = engine
            .store
            .get_document(&c.name, ticket_id)
            .await
            .context(|| format!("reading document {}:{ticket_id}", c.name))?
        {
            found.push((c.name.clone(), doc));
        }
    }
    match found.len() {
        0 => Err(EngineError::Usage(format!(
            "no document for ticket {ticket_id}{}: it may not be feedback (no customer comment), not synced yet (`zdsync sync`), or deleted",
            conn.map(|c| format!(" in connection {c:?}"))
                .unwrap_or_default()
        ))),
        1 => Ok(found.remove(0).1),
        _ => Err(EngineError::Usage(format!(
            "ticket {ticket_id} exists in several connections ({}); pass `--connection NAME`",
            found
                .iter()
                .map(|(c, _)| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
