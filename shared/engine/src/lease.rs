//! One run per connection at a time: the connection's lease.
//!
//! Every run that changes a connection (sync, backfill window, backfill
//! plan, user refresh) holds its lease. A lease is short ([`DEFAULT_TTL`],
//! two minutes) and a heartbeat renews it every third of that while the run
//! lives, so a run that crashes frees its connection within the TTL, never
//! after minutes of waiting.
//!
//! A lease held by a process of this machine that no longer exists (killed,
//! crashed) is taken over at once: owner ids name the machine's boot, the
//! process id and the process's start time (Linux `/proc`), so a later
//! process can tell that the holder is gone. A holder inside this very
//! process whose lease object was dropped (a cancelled invocation) is gone
//! too. Where that cannot be told (another machine, another OS), the lease
//! simply expires.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use zdsync_store::{LeaseOutcome, Store};

use crate::error::{Context, EngineError, Result};
use crate::now_ms;

/// How long a lease lasts without renewal.
pub const DEFAULT_TTL: Duration = Duration::from_secs(120);

/// A held lease; renewed by a heartbeat until released or dropped.
pub struct Lease {
    store: Arc<dyn Store>,
    conn: String,
    owner: String,
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// The machine and process a lease owner id names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    boot: String,
    pid: u32,
    started: String,
}

/// This process, as owner ids name it (`None` where it cannot be told).
fn this_process() -> Option<&'static Holder> {
    static ME: OnceLock<Option<Holder>> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        Some(Holder {
            boot: boot_id()?,
            pid,
            started: process_start(pid)?,
        })
    })
    .as_ref()
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim().replace('-', "");
    (!id.is_empty()).then_some(id)
}

/// The start time of a process (clock ticks since boot, field 22 of
/// `/proc/<pid>/stat`), or `None` when no such process exists.
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Owners of leases this process holds right now.
fn live_owners() -> &'static Mutex<HashSet<String>> {
    static LIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// A new owner id for one run of this process:
/// `zdsync:<boot>:<pid>:<start>:<n>` (or `zdsync:<pid>:<ms>:<n>` where the
/// process cannot be named).
pub fn new_owner() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    match this_process() {
        Some(h) => format!("zdsync:{}:{}:{}:{}-{n}", h.boot, h.pid, h.started, now_ms()),
        None => format!("zdsync:{}:{}-{n}", std::process::id(), now_ms()),
    }
}

fn parse_owner(owner: &str) -> Option<Holder> {
    let mut parts = owner.split(':');
    if parts.next()? != "zdsync" {
        return None;
    }
    let boot = parts.next()?.to_string();
    let pid = parts.next()?.parse().ok()?;
    let started = parts.next()?.to_string();
    parts.next()?;
    Some(Holder { boot, pid, started })
}

/// Whether a lease holder is known to be gone: a process of this machine
/// that no longer runs (or whose pid now belongs to another process), or
/// a run of this process that dropped its lease without releasing it.
/// Holders elsewhere are never judged gone.
pub fn holder_is_gone(owner: &str, live: impl Fn(&str) -> bool) -> bool {
    let (Some(holder), Some(me)) = (parse_owner(owner), this_process()) else {
        return false;
    };
    if holder.boot != me.boot {
        return false;
    }
    if holder == *me {
        return !live(owner);
    }
    process_start(holder.pid).is_none_or(|started| started != holder.started)
}

impl Lease {
    /// Takes the connection's lease for `owner`, or says who holds it. A
    /// holder that is gone (see [`holder_is_gone`]) is replaced at once.
    /// The lease of connection `conn` for one run of `engine`, with the
    /// run's owner id and lease length.
    pub async fn for_run(
        engine: &crate::Engine,
        conn: &str,
        opts: &crate::sync::SyncOptions,
    ) -> Result<Lease> {
        Lease::take(engine.store.clone(), conn, &opts.owner, opts.lease_ttl).await
    }

    pub async fn take(
        store: Arc<dyn Store>,
        conn: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let ttl_ms = ttl.as_millis() as i64;
        let mut outcome = acquire(&*store, conn, owner, ttl_ms).await?;
        if let LeaseOutcome::Held { owner: holder, .. } = &outcome
            && holder_is_gone(holder, is_live)
        {
            tracing::info!(connection = conn, holder = %holder, "the lease's holder is gone; taking it over");
            store
                .release_lease(conn, holder)
                .await
                .context(|| format!("freeing the lease of {conn:?} from a holder that is gone"))?;
            outcome = acquire(&*store, conn, owner, ttl_ms).await?;
        }
        match outcome {
            LeaseOutcome::Acquired => {
                tracing::info!(connection = conn, "holding the lease");
                Ok(Lease::start(store, conn, owner, ttl))
            }
            LeaseOutcome::Held {
                owner,
                expires_at_ms,
            } => Err(busy(conn, owner, Some(expires_at_ms))),
        }
    }

    fn start(store: Arc<dyn Store>, conn: &str, owner: &str, ttl: Duration) -> Lease {
        if let Ok(mut live) = live_owners().lock() {
            live.insert(owner.to_string());
        }
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = tokio::spawn(heartbeat(
            store.clone(),
            conn.to_string(),
            owner.to_string(),
            ttl,
            lost.clone(),
        ));
        Lease {
            store,
            conn: conn.to_string(),
            owner: owner.to_string(),
            lost,
            heartbeat,
        }
    }

    /// Fails once the lease was lost (another run holds it now): the run
    /// must stop before writing anything more.
    pub fn check(&self) -> Result<()> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(busy(&self.conn, "another run".into(), None));
        }
        Ok(())
    }

    /// Stops the heartbeat and frees the lease.
    pub async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.store.release_lease(&self.conn, &self.owner).await {
            tracing::warn!(connection = %self.conn, error = %e, "could not release the lease; it expires by itself");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
        if let Ok(mut live) = live_owners().lock() {
            live.remove(&self.owner);
        }
    }
}

fn is_live(owner: &str) -> bool {
    live_owners().lock().is_ok_and(|l| l.contains(owner))
}

async fn acquire(store: &dyn Store, conn: &str, owner: &str, ttl_ms: i64) -> Result<LeaseOutcome> {
    store
        .acquire_lease(conn, owner, now_ms(), ttl_ms)
        .await
        .context(|| format!("taking the lease of {conn:?}"))
}

fn busy(conn: &str, owner: String, expires_at_ms: Option<i64>) -> EngineError {
    EngineError::Busy {
        name: conn.to_string(),
        owner,
        until: expires_at_ms
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map_or_else(
                || "unknown".into(),
                |t| {
                    t.round(jiff::Unit::Second)
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                },
            ),
    }
}

/// Renews the lease every third of its TTL. Marks it lost when another run
/// holds it, or when renewals kept failing until it expired.
async fn heartbeat(
    store: Arc<dyn Store>,
    conn: String,
    owner: String,
    ttl: Duration,
    lost: Arc<AtomicBool>,
) {
    let every = ttl / 3;
    let mut valid_until = now_ms() + ttl.as_millis() as i64;
    loop {
        tokio::time::sleep(every).await;
        match acquire(&*store, &conn, &owner, ttl.as_millis() as i64).await {
            Ok(LeaseOutcome::Acquired) => valid_until = now_ms() + ttl.as_millis() as i64,
            Ok(LeaseOutcome::Held { owner: other, .. }) => {
                tracing::warn!(connection = %conn, holder = %other, "the lease was taken by another run; stopping");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) if now_ms() >= valid_until => {
                tracing::warn!(connection = %conn, error = %e, "the lease expired while it could not be renewed; stopping");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::warn!(connection = %conn, error = %e, "could not renew the lease; trying again")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_name_this_process() {
        let owner = new_owner();
        assert_ne!(owner, new_owner(), "every run has its own id");
        if let Some(me) = this_process() {
            assert_eq!(parse_owner(&owner).as_ref(), Some(me));
        }
    }

    #[test]
    fn a_run_of_this_process_is_gone_once_its_lease_is_dropped() {
        let owner = new_owner();
        if this_process().is_none() {
            return; // not Linux: nothing can be told
        }
        assert!(!holder_is_gone(&owner, |_| true), "its lease is alive");
        assert!(holder_is_gone(&owner, |_| false), "its lease was dropped");
    }

    #[test]
    fn a_process_that_no_longer_runs_is_gone() {
        let Some(me) = this_process() else { return };
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        let started = process_start(pid);
        child.wait().expect("wait");
        let Some(started) = started else { return };
        let owner = format!("zdsync:{}:{pid}:{started}:1-0", me.boot);
        assert!(holder_is_gone(&owner, |_| true));
    }

    #[test]
    fn holders_elsewhere_are_never_judged_gone() {
        assert!(!holder_is_gone("zdsync:otherboot:1:1:1-0", |_| false));
        assert!(
            !holder_is_gone("zdsync-1234-5678", |_| false),
            "old owner ids"
        );
        assert!(!holder_is_gone("lambda-request-id", |_| false));
    }

    #[test]
    fn a_living_process_of_this_machine_is_not_gone() {
        let Some(me) = this_process() else { return };
        // pid 1 runs as long as the machine does.
        let Some(started) = process_start(1) else {
            return;
        };
        let owner = format!("zdsync:{}:1:{started}:1-0", me.boot);
        assert!(!holder_is_gone(&owner, |_| false));
    }
}
