//! Embedded adapter of the storage port: one SQLite file in the data dir
//! (WAL mode, one transaction per ticket batch), and a secret store of 0600
//! files beside it. SQLite calls run on tokio's blocking pool.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection as Db, OptionalExtension, params};
use zdsync_store::{
    Blob, Connection, CursorKind, DocumentRow, EntityKind, LeaseOutcome, Result, SecretStore,
    Store, StoreCounts, StoreError, TicketWrite,
};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS connections (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (conn TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (conn, kind));
CREATE TABLE IF NOT EXISTS leases (conn TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (conn TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entities (conn TEXT NOT NULL, kind TEXT NOT NULL, id INTEGER NOT NULL,
  hash TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (conn, kind, id));
CREATE TABLE IF NOT EXISTS states (conn TEXT NOT NULL, ticket_id INTEGER NOT NULL,
  hash TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (conn, ticket_id));
CREATE TABLE IF NOT EXISTS documents (conn TEXT NOT NULL, ticket_id INTEGER NOT NULL,
  hash TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (conn, ticket_id));
";

/// The store in one local SQLite file.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Mutex<Db>>,
    path: PathBuf,
}

fn backend(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(context.to_string(), e)
}

/// SQLite keeps signed 64-bit integers; Zendesk ids fit (bit-preserving cast).
fn id_in(id: u64) -> i64 {
    id as i64
}
fn id_out(id: i64) -> u64 {
    id as u64
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file at `path`.
    /// The file holds customers' personal data: a folder it creates is
    /// `0700`, and the file (created or found) is `0600`.
    pub fn open(path: &Path) -> Result<EmbeddedStore> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            private_dir(parent).map_err(|e| StoreError::Missing {
                what: format!("store folder {}", parent.display()),
                hint: format!("it cannot be created ({e}); pass a writable --data-dir"),
            })?;
        }
        private_file(path).map_err(|e| StoreError::Missing {
            what: format!("store file {}", path.display()),
            hint: format!(
                "it cannot be made private to its owner ({e}); pass a writable --data-dir"
            ),
        })?;
        let db = Db::open(path).map_err(|e| StoreError::Missing {
            what: format!("store file {}", path.display()),
            hint: format!("it cannot be opened ({e}); pass a writable --data-dir"),
        })?;
        db.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| backend("setting the busy timeout", e))?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| backend("enabling WAL", e))?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| backend("setting synchronous mode", e))?;
        db.execute_batch(SCHEMA)
            .map_err(|e| backend("creating the schema", e))?;
        let version: Option<String> = db
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| backend("reading the schema version", e))?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(|e| backend("writing the schema version", e))?;
            }
            Some(Ok(v)) if v == SCHEMA_VERSION => {}
            Some(other) => {
                return Err(StoreError::Corrupt {
                    key: path.display().to_string(),
                    detail: format!(
                        "schema version {other:?} is not {SCHEMA_VERSION}: this store was written by another zdsync version"
                    ),
                });
            }
        }
        Ok(EmbeddedStore {
            db: Arc::new(Mutex::new(db)),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = db.lock().map_err(|_| StoreError::Corrupt {
                key: "store".into(),
                detail: "a previous operation panicked while holding the store".into(),
            })?;
            f(&mut guard)
        })
        .await
        .map_err(|e| backend("store task", e))?
    }
}

fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}

/// Reads `(id, hash, body)` rows of `table` for the given ids, in chunks.
fn get_blobs(
    db: &Db,
    sql_head: &str,
    fixed: &[&dyn rusqlite::ToSql],
    ids: &[u64],
) -> Result<HashMap<u64, Blob>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!("{sql_head} IN ({})", placeholders(chunk.len()));
        let mut stmt = db
            .prepare_cached(&sql)
            .map_err(|e| backend("preparing a read", e))?;
        let mut args: Vec<&dyn rusqlite::ToSql> = fixed.to_vec();
        let chunk_ids: Vec<i64> = chunk.iter().map(|i| id_in(*i)).collect();
        for id in &chunk_ids {
            args.push(id);
        }
        let rows = stmt
            .query_map(args.as_slice(), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| backend("reading items", e))?;
        for row in rows {
            let (id, hash, body) = row.map_err(|e| backend("reading an item", e))?;
            out.insert(id_out(id), Blob { hash, body });
        }
    }
    Ok(out)
}

fn decode_connection(body: &str, name: &str) -> Result<Connection> {
    serde_json::from_str(body).map_err(|e| StoreError::corrupt_json(format!("CONN#{name}"), &e))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_connection(&self, conn: &Connection) -> Result<()> {
        let body = serde_json::to_string(conn).map_err(|e| backend("encoding a connection", e))?;
        let name = conn.name.clone();
        self.with(move |db| {
            let n = db
                .execute(
                    "INSERT OR IGNORE INTO connections (name, body) VALUES (?1, ?2)",
                    params![name, body],
                )
                .map_err(|e| backend("creating a connection", e))?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "connection {name:?} already exists"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn update_connection(&self, conn: &Connection) -> Result<()> {
        let body = serde_json::to_string(conn).map_err(|e| backend("encoding a connection", e))?;
        let name = conn.name.clone();
        self.with(move |db| {
            let n = db
                .execute(
                    "UPDATE connections SET body = ?2 WHERE name = ?1",
                    params![name, body],
                )
                .map_err(|e| backend("updating a connection", e))?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "connection {name:?} does not exist"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn get_connection(&self, name: &str) -> Result<Option<Connection>> {
        let name = name.to_string();
        self.with(move |db| {
            let body: Option<String> = db
                .query_row(
                    "SELECT body FROM connections WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| backend("reading a connection", e))?;
            body.map(|b| decode_connection(&b, &name)).transpose()
        })
        .await
    }

    async fn list_connections(&self) -> Result<Vec<Connection>> {
        self.with(|db| {
            let mut stmt = db
                .prepare("SELECT name, body FROM connections ORDER BY name")
                .map_err(|e| backend("listing connections", e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| backend("listing connections", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (name, body) = row.map_err(|e| backend("listing connections", e))?;
                out.push(decode_connection(&body, &name)?);
            }
            Ok(out)
        })
        .await
    }

    async fn get_cursor(&self, conn: &str, kind: CursorKind) -> Result<Option<String>> {
        let conn = conn.to_string();
        self.with(move |db| {
            db.query_row(
                "SELECT value FROM cursors WHERE conn = ?1 AND kind = ?2",
                params![conn, kind.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| backend("reading a cursor", e))
        })
        .await
    }

    async fn put_cursor(
        &self,
        conn: &str,
        kind: CursorKind,
        value: &str,
        expected: Option<&str>,
    ) -> Result<()> {
        let (conn, value, expected) = (
            conn.to_string(),
            value.to_string(),
            expected.map(str::to_string),
        );
        self.with(move |db| {
            let tx = db
                .transaction()
                .map_err(|e| backend("starting a transaction", e))?;
            let current: Option<String> = tx
                .query_row(
                    "SELECT value FROM cursors WHERE conn = ?1 AND kind = ?2",
                    params![conn, kind.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| backend("reading a cursor", e))?;
            if current != expected {
                return Err(StoreError::Conflict(format!(
                    "the {} cursor of {conn:?} moved (expected {expected:?}, found {current:?})",
                    kind.as_str()
                )));
            }
            tx.execute(
                "INSERT INTO cursors (conn, kind, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (conn, kind) DO UPDATE SET value = excluded.value",
                params![conn, kind.as_str(), value],
            )
            .map_err(|e| backend("writing a cursor", e))?;
            tx.commit().map_err(|e| backend("committing a cursor", e))
        })
        .await
    }

    async fn delete_cursor(&self, conn: &str, kind: CursorKind) -> Result<()> {
        let conn = conn.to_string();
        self.with(move |db| {
            db.execute(
                "DELETE FROM cursors WHERE conn = ?1 AND kind = ?2",
                params![conn, kind.as_str()],
            )
            .map(|_| ())
            .map_err(|e| backend("deleting a cursor", e))
        })
        .await
    }

    async fn acquire_lease(
        &self,
        conn: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome> {
        let (conn, owner) = (conn.to_string(), owner.to_string());
        self.with(move |db| {
            let tx = db
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| backend("starting a transaction", e))?;
            let current: Option<(String, i64)> = tx
                .query_row("SELECT owner, expires_at_ms FROM leases WHERE conn = ?1", params![conn], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(|e| backend("reading a lease", e))?;
            if let Some((holder, expires)) = current
                && holder != owner
                && expires > now_ms
            {
                return Ok(LeaseOutcome::Held {
                    owner: holder,
                    expires_at_ms: expires,
                });
            }
            tx.execute(
                "INSERT INTO leases (conn, owner, expires_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (conn) DO UPDATE SET owner = excluded.owner, expires_at_ms = excluded.expires_at_ms",
                params![conn, owner, now_ms.saturating_add(ttl_ms)],
            )
            .map_err(|e| backend("writing a lease", e))?;
            tx.commit().map_err(|e| backend("committing a lease", e))?;
            Ok(LeaseOutcome::Acquired)
        })
        .await
    }

    async fn release_lease(&self, conn: &str, owner: &str) -> Result<()> {
        let (conn, owner) = (conn.to_string(), owner.to_string());
        self.with(move |db| {
            db.execute(
                "DELETE FROM leases WHERE conn = ?1 AND owner = ?2",
                params![conn, owner],
            )
            .map(|_| ())
            .map_err(|e| backend("releasing a lease", e))
        })
        .await
    }

    async fn put_run_record(&self, conn: &str, json: &str) -> Result<()> {
        let (conn, json) = (conn.to_string(), json.to_string());
        self.with(move |db| {
            db.execute(
                "INSERT INTO runs (conn, body) VALUES (?1, ?2) ON CONFLICT (conn) DO UPDATE SET body = excluded.body",
                params![conn, json],
            )
            .map(|_| ())
            .map_err(|e| backend("writing a run record", e))
        })
        .await
    }

    async fn get_run_record(&self, conn: &str) -> Result<Option<String>> {
        let conn = conn.to_string();
        self.with(move |db| {
            db.query_row(
                "SELECT body FROM runs WHERE conn = ?1",
                params![conn],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| backend("reading a run record", e))
        })
        .await
    }

    async fn get_entities(
        &self,
        conn: &str,
        kind: EntityKind,
        ids: &[u64],
    ) -> Result<HashMap<u64, Blob>> {
        let (conn, ids) = (conn.to_string(), ids.to_vec());
        self.with(move |db| {
            get_blobs(
                db,
                "SELECT id, hash, body FROM entities WHERE conn = ? AND kind = ? AND id",
                &[&conn, &kind.as_str()],
                &ids,
            )
        })
        .await
    }

    async fn put_entities(
        &self,
        conn: &str,
        kind: EntityKind,
        items: &[(u64, Blob)],
    ) -> Result<()> {
        let (conn, items) = (conn.to_string(), items.to_vec());
        self.with(move |db| {
            let tx = db.transaction().map_err(|e| backend("starting a transaction", e))?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO entities (conn, kind, id, hash, body) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (conn, kind, id) DO UPDATE SET hash = excluded.hash, body = excluded.body",
                    )
                    .map_err(|e| backend("preparing an entity write", e))?;
                for (id, blob) in &items {
                    stmt.execute(params![conn, kind.as_str(), id_in(*id), blob.hash, blob.body])
                        .map_err(|e| backend("writing an entity", e))?;
                }
            }
            tx.commit().map_err(|e| backend("committing entities", e))
        })
        .await
    }

    async fn list_entity_ids(&self, conn: &str, kind: EntityKind) -> Result<Vec<u64>> {
        let conn = conn.to_string();
        self.with(move |db| {
            let mut stmt = db
                .prepare("SELECT id FROM entities WHERE conn = ?1 AND kind = ?2 ORDER BY id")
                .map_err(|e| backend("listing entities", e))?;
            let rows = stmt
                .query_map(params![conn, kind.as_str()], |r| r.get::<_, i64>(0))
                .map_err(|e| backend("listing entities", e))?;
            rows.map(|r| r.map(id_out).map_err(|e| backend("listing entities", e)))
                .collect()
        })
        .await
    }

    async fn get_states(&self, conn: &str, ticket_ids: &[u64]) -> Result<HashMap<u64, Blob>> {
        let (conn, ids) = (conn.to_string(), ticket_ids.to_vec());
        self.with(move |db| {
            get_blobs(
                db,
                "SELECT ticket_id, hash, body FROM states WHERE conn = ? AND ticket_id",
                &[&conn],
                &ids,
            )
        })
        .await
    }

    async fn get_document_hashes(
        &self,
        conn: &str,
        ticket_ids: &[u64],
    ) -> Result<HashMap<u64, String>> {
        let (conn, ids) = (conn.to_string(), ticket_ids.to_vec());
        self.with(move |db| {
            let blobs = get_blobs(
                db,
                "SELECT ticket_id, hash, '' FROM documents WHERE conn = ? AND ticket_id",
                &[&conn],
                &ids,
            )?;
            Ok(blobs.into_iter().map(|(k, b)| (k, b.hash)).collect())
        })
        .await
    }

    async fn get_document(&self, conn: &str, ticket_id: u64) -> Result<Option<String>> {
        let conn = conn.to_string();
        self.with(move |db| {
            db.query_row(
                "SELECT body FROM documents WHERE conn = ?1 AND ticket_id = ?2",
                params![conn, id_in(ticket_id)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| backend("reading a document", e))
        })
        .await
    }

    async fn write_tickets(&self, conn: &str, writes: &[TicketWrite]) -> Result<()> {
        let (conn, writes) = (conn.to_string(), writes.to_vec());
        self.with(move |db| {
            let tx = db.transaction().map_err(|e| backend("starting a transaction", e))?;
            for w in &writes {
                let r = match w {
                    TicketWrite::PutState { ticket_id, blob } => tx.execute(
                        "INSERT INTO states (conn, ticket_id, hash, body) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (conn, ticket_id) DO UPDATE SET hash = excluded.hash, body = excluded.body",
                        params![conn, id_in(*ticket_id), blob.hash, blob.body],
                    ),
                    TicketWrite::PutDocument { ticket_id, blob } => tx.execute(
                        "INSERT INTO documents (conn, ticket_id, hash, body) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (conn, ticket_id) DO UPDATE SET hash = excluded.hash, body = excluded.body",
                        params![conn, id_in(*ticket_id), blob.hash, blob.body],
                    ),
                    TicketWrite::DeleteDocument { ticket_id } => tx.execute(
                        "DELETE FROM documents WHERE conn = ?1 AND ticket_id = ?2",
                        params![conn, id_in(*ticket_id)],
                    ),
                    TicketWrite::DeleteTicket { ticket_id } => tx
                        .execute(
                            "DELETE FROM documents WHERE conn = ?1 AND ticket_id = ?2",
                            params![conn, id_in(*ticket_id)],
                        )
                        .and_then(|_| {
                            tx.execute(
                                "DELETE FROM states WHERE conn = ?1 AND ticket_id = ?2",
                                params![conn, id_in(*ticket_id)],
                            )
                        }),
                };
                r.map_err(|e| backend("writing a ticket item (nothing of this batch was stored)", e))?;
            }
            tx.commit().map_err(|e| backend("committing ticket items", e))
        })
        .await
    }

    async fn list_documents(
        &self,
        conn: Option<&str>,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<DocumentRow>> {
        let conn = conn.map(str::to_string);
        let after = after.map(|(c, t)| (c.to_string(), id_in(t)));
        self.with(move |db| {
            let (ac, at) = after.unwrap_or_else(|| (String::new(), i64::MIN));
            let no_after = ac.is_empty() && at == i64::MIN;
            let mut stmt = db
                .prepare_cached(
                    "SELECT conn, ticket_id, body FROM documents
                     WHERE (?1 IS NULL OR conn = ?1)
                       AND (?4 OR conn > ?2 OR (conn = ?2 AND ticket_id > ?3))
                     ORDER BY conn, ticket_id LIMIT ?5",
                )
                .map_err(|e| backend("listing documents", e))?;
            let rows = stmt
                .query_map(params![conn, ac, at, no_after, limit as i64], |r| {
                    Ok(DocumentRow {
                        connection: r.get(0)?,
                        ticket_id: id_out(r.get(1)?),
                        body: r.get(2)?,
                    })
                })
                .map_err(|e| backend("listing documents", e))?;
            rows.map(|r| r.map_err(|e| backend("listing documents", e)))
                .collect()
        })
        .await
    }

    async fn list_state_ids(
        &self,
        conn: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>> {
        let conn = conn.to_string();
        self.with(move |db| {
            let mut stmt = db
                .prepare_cached(
                    "SELECT ticket_id FROM states WHERE conn = ?1 AND (?2 IS NULL OR ticket_id > ?2)
                     ORDER BY ticket_id LIMIT ?3",
                )
                .map_err(|e| backend("listing states", e))?;
            let rows = stmt
                .query_map(params![conn, after.map(id_in), limit as i64], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(|e| backend("listing states", e))?;
            rows.map(|r| r.map(id_out).map_err(|e| backend("listing states", e)))
                .collect()
        })
        .await
    }

    async fn counts(&self, conn: &str) -> Result<StoreCounts> {
        let conn = conn.to_string();
        self.with(move |db| {
            let count = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> Result<u64> {
                db.query_row(sql, args, |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                    .map_err(|e| backend("counting", e))
            };
            Ok(StoreCounts {
                documents: count("SELECT COUNT(*) FROM documents WHERE conn = ?1", &[&conn])?,
                states: count("SELECT COUNT(*) FROM states WHERE conn = ?1", &[&conn])?,
                users: count(
                    "SELECT COUNT(*) FROM entities WHERE conn = ?1 AND kind = 'user'",
                    &[&conn],
                )?,
                orgs: count(
                    "SELECT COUNT(*) FROM entities WHERE conn = ?1 AND kind = 'org'",
                    &[&conn],
                )?,
            })
        })
        .await
    }
}

/// Creates `dir` (and missing parents) readable by its owner only; an
/// existing folder is left as it is (it may be the user's own).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Creates `path` if missing, and makes it readable by its owner only
/// (SQLite gives its WAL and shared-memory files the same permissions).
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    drop(f);
    Ok(())
}

/// Writes `value` to a new file in `dir` (create-new: never through a
/// symlink or over a file already there), syncs it, renames it to `path`
/// (replacing a symlink there, never following it) and syncs the folder.
fn write_private_atomically(
    dir: &Path,
    path: &Path,
    name: &str,
    value: &str,
) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(value.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Secrets as files with 0600 permissions in a 0700 directory.
pub struct FileSecretStore {
    dir: PathBuf,
}

impl FileSecretStore {
    pub fn new(dir: &Path) -> Result<FileSecretStore> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Missing {
            what: format!("secrets folder {}", dir.display()),
            hint: format!("it cannot be created ({e}); pass a writable --data-dir"),
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| backend("restricting the secrets folder to its owner", e))?;
        }
        Ok(FileSecretStore {
            dir: dir.to_path_buf(),
        })
    }

    fn file(&self, name: &str) -> Result<PathBuf> {
        let ok = !name.is_empty()
            && name.len() <= 200
            && name != "."
            && name != ".."
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(StoreError::Conflict(format!(
                "{name:?} is not a valid secret name: use letters, digits, '-', '_' or '.', not starting with '.'"
            )));
        }
        Ok(self.dir.join(name))
    }
}

#[async_trait]
impl SecretStore for FileSecretStore {
    async fn put_secret(&self, name: &str, value: &str) -> Result<()> {
        let path = self.file(name)?;
        write_private_atomically(&self.dir, &path, name, value)
            .map_err(|e| backend(&format!("writing secret {name:?}"), e))
    }

    async fn get_secret(&self, name: &str) -> Result<Option<String>> {
        let path = self.file(name)?;
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(backend(&format!("reading secret {name:?}"), e)),
        }
    }

    async fn delete_secret(&self, name: &str) -> Result<()> {
        let path = self.file(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(backend(&format!("deleting secret {name:?}"), e)),
        }
    }
}
