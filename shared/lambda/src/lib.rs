//! The Lambda handlers, kept out of the functions' `main.rs` so they can be
//! called in-process by tests with real event payloads.
//!
//! - [`ticket_sync`]: EventBridge schedule (hourly) or a manual invoke
//!   `{"connection": "acme", "backfill": true}` (run in the invocation).
//! - [`user_refresh`]: EventBridge schedule (daily).
//! - [`backfill_worker`]: SQS batch of [`WorkItem`]s, with partial batch
//!   failures.
//!
//! A schedule's run lists the connections (a `Query`, never a scan) and
//! queues one work item per connection, in batches: it returns in seconds
//! however many tenants the deployment holds, and the workers (at most the
//! stack's `WorkerConcurrency` at once, one item each) run the connections
//! side by side, so a slow or failing one delays nobody else and fails on
//! its own (retried, then the dead-letter queue). A connection never synced
//! plans its history when its first item runs.
//!
//! A manual backfill plans history as windows (see
//! `zdsync_engine::backfill`), queued as work items for the worker. Every run
//! stops taking pages when the function's remaining time falls under a
//! margin and hands the rest to the queue as a work item; progress is in the
//! store (cursors), so a duplicate delivery repeats nothing but a lease check
//! and a read of the window's cursors. An item whose connection is busy is
//! queued again with a delay (and its delivery acknowledged), so waiting for
//! the lease never counts towards the dead-letter queue's receive limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use zdsync_engine::backfill::plan_backfill;
use zdsync_engine::sync::{SyncOptions, SyncReport, sync_connection, sync_window};
use zdsync_engine::{Engine, EngineError, Settings};
use zdsync_store::{Window, WorkItem, WorkKind, WorkQueue};

/// What the handlers need, built once per container.
#[derive(Clone)]
pub struct Deps {
    pub engine: Engine,
    pub queue: Arc<dyn WorkQueue>,
    /// Time kept free before the function's deadline.
    pub margin: Duration,
    /// At most this many pages per invocation (tests; `None` in production).
    pub max_pages: Option<u64>,
    /// How long a run's lease lasts without renewal (a killed run's lease
    /// frees itself after this).
    pub lease_ttl: Duration,
    /// Delay before a busy connection's work item is tried again.
    pub busy_delay_secs: u32,
}

/// Hand-overs after which an item is failed instead of queued again (it
/// then reaches the dead-letter queue): a guard against endless loops.
pub const MAX_HOPS: u32 = 5_000;

/// Logging as Lambda's advanced logging controls ask
/// (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`; JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON`), with the AWS SDK and HTTP stack
/// capped so no level logs a secret ([`zdsync_engine::logging`]).
pub fn init_logging() {
    let directives = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let format = zdsync_engine::logging::Format {
        json: std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")),
        ansi: false,
        compact: true,
    };
    zdsync_engine::logging::init(&directives.to_lowercase(), format, std::io::stdout);
}

/// Reads the environment the SAM template sets: `ZDSYNC_TABLE`,
/// `ZDSYNC_QUEUE_URL`, `ZDSYNC_SECRETS_PREFIX` (default `zdsync/`; the
/// template sets the stack's own, `zdsync/<stack name>/`; the functions read
/// each connection's recorded secret and may read no other prefix's),
/// `ZDSYNC_DEADLINE_MARGIN_SECS` (default 90), `ZENDESK_API_URL` (tests).
pub async fn deps_from_env() -> Result<Deps, EngineError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let table = var("ZDSYNC_TABLE").ok_or_else(|| {
        EngineError::Usage(
            "ZDSYNC_TABLE is not set: the function needs the DynamoDB table name".into(),
        )
    })?;
    let queue = var("ZDSYNC_QUEUE_URL").ok_or_else(|| {
        EngineError::Usage(
            "ZDSYNC_QUEUE_URL is not set: the function needs the work queue URL".into(),
        )
    })?;
    let margin = var("ZDSYNC_DEADLINE_MARGIN_SECS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(90);
    let engine = Engine::new(
        Arc::new(zdsync_store_dynamodb::DynamoStore::from_env(table).await),
        Arc::new(zdsync_store_dynamodb::SecretsManagerStore::from_env().await),
        Settings {
            api_url_override: var("ZENDESK_API_URL"),
            secret_prefix: var("ZDSYNC_SECRETS_PREFIX").unwrap_or_else(|| "zdsync/".into()),
            tune_client: None,
            trial_limit: zdsync_engine::history::trial_limit_from_env(var)?,
        },
    );
    Ok(Deps {
        engine,
        queue: Arc::new(zdsync_store_dynamodb::SqsQueue::from_env(queue).await),
        margin: Duration::from_secs(margin),
        max_pages: None,
        lease_ttl: zdsync_engine::lease::DEFAULT_TTL,
        busy_delay_secs: 120,
    })
}

/// The instant to stop taking pages, from the invocation's deadline (epoch ms).
pub fn stop_at(deadline_ms: u64, margin: Duration) -> Instant {
    let now_ms = jiff::Timestamp::now().as_millisecond().max(0) as u64;
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Instant::now() + left.saturating_sub(margin)
}

fn opts(deps: &Deps, stop: Instant) -> SyncOptions {
    SyncOptions {
        deadline: Some(stop),
        max_pages: deps.max_pages,
        lease_ttl: deps.lease_ttl,
        ..Default::default()
    }
}

/// A manual invoke of the ticket sync.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manual {
    connection: String,
    #[serde(default)]
    backfill: bool,
    /// Number of windows of a backfill (default: the plan chooses).
    #[serde(default)]
    windows: Option<usize>,
    /// A change of plan (`"paid"` upgrades a trial: its older history is
    /// queued; `"trial"` keeps what is stored).
    #[serde(default)]
    plan: Option<zdsync_store::Plan>,
}

/// Queues windows of history as backfill work items.
async fn enqueue_windows(deps: &Deps, name: &str, windows: &[Window]) -> Result<(), EngineError> {
    zdsync_engine::backfill::enqueue_windows(deps.queue.as_ref(), name, windows).await
}

fn summary(r: &SyncReport) -> Value {
    json!({"connection": r.connection, "complete": r.complete, "documents_written": r.counters.documents_written,
           "documents_deleted": r.counters.documents_deleted, "requests": r.requests.total})
}

/// Runs one sync; hands the rest to the queue when it stops early. A held
/// lease means another run is at work: nothing to do.
async fn sync_one(deps: &Deps, name: &str, stop: Instant, hop: u32) -> Result<Value, EngineError> {
    let r = sync_connection(&deps.engine, name, &opts(deps, stop)).await?;
    if !r.complete {
        enqueue(deps, name, WorkKind::Sync, hop + 1).await?;
    }
    Ok(summary(&r))
}

async fn enqueue(deps: &Deps, name: &str, kind: WorkKind, hop: u32) -> Result<(), EngineError> {
    requeue(
        deps,
        &WorkItem {
            connection: name.to_string(),
            kind,
            hop,
            window: None,
        },
        0,
    )
    .await
}

/// Queues an item again (its continuation, or a busy one later).
async fn requeue(deps: &Deps, item: &WorkItem, delay_secs: u32) -> Result<(), EngineError> {
    tracing::info!(
        connection = %item.connection,
        kind = ?item.kind,
        window = ?item.window,
        hop = item.hop,
        delay_secs,
        "handing the rest to the queue"
    );
    deps.queue
        .enqueue_delayed(std::slice::from_ref(item), delay_secs)
        .await
        .map_err(|e| EngineError::Store {
            context: format!("queueing the rest of {:?}", item.connection),
            source: e,
        })
}

/// The hourly ticket sync (scheduled), or a manual run of one connection.
pub async fn ticket_sync(deps: &Deps, payload: Value, stop: Instant) -> Result<Value, EngineError> {
    // A schedule's event (or an empty invoke) syncs every connection;
    // anything else must be a well-formed manual request.
    let scheduled = payload.is_null()
        || payload.get("detail-type").is_some()
        || payload.as_object().is_some_and(|o| o.is_empty());
    let manual = if scheduled {
        None
    } else {
        Some(serde_json::from_value::<Manual>(payload.clone()).map_err(|e| {
            EngineError::Usage(format!(
                "unexpected invoke payload ({}): send {{\"connection\": \"acme\"}} to sync one connection, {{\"connection\": \"acme\", \"backfill\": true}} (optionally \"windows\": N) to backfill it, {{\"connection\": \"acme\", \"plan\": \"paid\"}} to change its plan, or nothing to sync them all",
                zdsync_zendesk::redact::json_error(&e)
            ))
        })?)
    };
    let Some(m) = manual else {
        return fan_out(deps, WorkKind::Sync).await;
    };
    if let Some(plan) = m.plan {
        let change = zdsync_engine::history::change_plan(
            &deps.engine,
            &m.connection,
            plan,
            &opts(deps, stop),
        )
        .await?;
        enqueue_windows(deps, &m.connection, &change.windows).await?;
        return Ok(json!({"ok": true, "plan": change}));
    }
    let mut out = json!({"ok": true});
    if m.backfill {
        let plan = plan_backfill(
            &deps.engine,
            &m.connection,
            deps.queue.as_ref(),
            m.windows,
            &opts(deps, stop),
        )
        .await?;
        out["backfill"] = serde_json::to_value(&plan).unwrap_or_default();
    }
    let result = match sync_one(deps, &m.connection, stop, 0).await {
        Ok(v) => v,
        Err(EngineError::Busy { owner, .. }) => {
            tracing::info!(connection = %m.connection, %owner, "another run holds the lease; leaving it the work");
            json!({"connection": m.connection, "skipped": "busy"})
        }
        Err(e) => {
            tracing::error!(connection = %m.connection, error = %e, "sync failed");
            out["ok"] = json!(false);
            json!({"connection": m.connection, "error": e.to_string()})
        }
    };
    out["connections"] = json!([result]);
    Ok(out)
}

/// A schedule's run: one work item per connection on the queue, sent in
/// batches, for the workers to run side by side (a slow or failing
/// connection holds up no other, and fails on its own). Returns at once.
async fn fan_out(deps: &Deps, kind: WorkKind) -> Result<Value, EngineError> {
    let started = Instant::now();
    let names: Vec<String> = deps
        .engine
        .connections(None)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let items: Vec<WorkItem> = names
        .iter()
        .map(|name| WorkItem {
            connection: name.clone(),
            kind,
            hop: 0,
            window: None,
        })
        .collect();
    deps.queue
        .enqueue(&items)
        .await
        .map_err(|e| EngineError::Store {
            context: format!("queueing the scheduled runs of {} connections", items.len()),
            source: e,
        })?;
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(kind = ?kind, connections = items.len(), ms, "scheduled runs queued");
    Ok(
        json!({"ok": true, "queued": items.len(), "kind": kind, "connections": names, "duration_ms": ms}),
    )
}

/// A connection never synced gets its history planned as windows on the
/// queue (the engine's rule, [`zdsync_engine::backfill::plan_first_sync`]);
/// the live sync then starts at the plan's end.
async fn first_backfill(deps: &Deps, name: &str, stop: Instant) -> Result<(), EngineError> {
    zdsync_engine::backfill::plan_first_sync(
        &deps.engine,
        name,
        deps.queue.as_ref(),
        &opts(deps, stop),
    )
    .await
    .map(|_| ())
}

/// The daily user refresh: one work item per connection for the workers
/// (the function returns at once; its deadline is not needed).
pub async fn user_refresh(
    deps: &Deps,
    _payload: Value,
    _stop: Instant,
) -> Result<Value, EngineError> {
    fan_out(deps, WorkKind::RefreshUsers).await
}

// The event types are non-exhaustive: built from their defaults.
#[allow(clippy::field_reassign_with_default)]
fn failure(id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = id;
    f
}

/// Runs one work item; `Ok(())` when it is done or handed on.
async fn run_item(deps: &Deps, item: &WorkItem, stop: Instant) -> Result<(), EngineError> {
    let o = opts(deps, stop);
    let done = match item.kind {
        WorkKind::Sync => {
            // A connection never synced plans its history first.
            first_backfill(deps, &item.connection, stop).await?;
            sync_connection(&deps.engine, &item.connection, &o)
                .await?
                .complete
        }
        WorkKind::RefreshUsers => {
            zdsync_engine::refresh::refresh_connection(&deps.engine, &item.connection, &o)
                .await?
                .complete
        }
        WorkKind::Backfill => {
            let window = item.window.ok_or_else(|| {
                EngineError::Usage("a backfill work item without its window".into())
            })?;
            let r = sync_window(&deps.engine, &item.connection, window, &o).await?;
            enqueue_windows(deps, &item.connection, &r.next_windows).await?;
            r.complete
        }
    };
    if !done {
        requeue(deps, &item.next_hop(), 0).await?;
    }
    Ok(())
}

/// Work items from the queue: backfill windows and continuations.
/// Malformed messages and failed runs are reported as batch item failures
/// (retried, then moved to the DLQ by the queue's redrive policy) without
/// holding up the rest of the batch.
pub async fn backfill_worker(deps: &Deps, event: SqsEvent, stop: Instant) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or("");
        let item: WorkItem = match serde_json::from_str(body) {
            Ok(i) => i,
            Err(e) => {
                let error = zdsync_zendesk::redact::json_error(&e);
                tracing::error!(message_id = %id, %error, body_len = body.len(), "malformed work item: not retried successfully, it will reach the dead-letter queue");
                failures.push(failure(id));
                continue;
            }
        };
        if item.hop > MAX_HOPS {
            tracing::error!(message_id = %id, connection = %item.connection, hop = item.hop, "work item handed over too often: left for the dead-letter queue");
            failures.push(failure(id));
            continue;
        }
        if Instant::now() >= stop {
            // No time left for this one: let SQS deliver it again.
            failures.push(failure(id));
            continue;
        }
        match run_item(deps, &item, stop).await {
            Ok(()) => {}
            Err(EngineError::UnknownConnection { name }) => {
                tracing::error!(message_id = %id, connection = %name, "work item for an unknown connection: dropped");
            }
            Err(EngineError::Busy { owner, .. }) => {
                // A live run (or one that died holding the lease, until it
                // expires) has the connection: queue the item again, later.
                tracing::info!(message_id = %id, connection = %item.connection, %owner, "connection busy; trying again later");
                if let Err(e) = requeue(deps, &item.next_hop(), deps.busy_delay_secs).await {
                    tracing::error!(message_id = %id, error = %e, "could not queue the busy item again; SQS will deliver it again");
                    failures.push(failure(id));
                }
            }
            Err(e) => {
                tracing::error!(message_id = %id, connection = %item.connection, error = %e, "work item failed; SQS will deliver it again");
                failures.push(failure(id));
            }
        }
    }
    response(failures)
}

#[allow(clippy::field_reassign_with_default)]
fn response(failures: Vec<BatchItemFailure>) -> SqsBatchResponse {
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = failures;
    resp
}
