//! `zdsync backfill --store dynamodb` and `zdsync worker`: the planned
//! backfill through SQS, drained here by the same handler the
//! backfill-worker Lambda runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde_json::json;
use zdsync_engine::backfill::plan_backfill;
use zdsync_engine::sync::SyncOptions;
use zdsync_engine::{Engine, EngineError};
use zdsync_store::{WorkItem, WorkKind, WorkQueue};
use zdsync_store_dynamodb::SqsQueue;

use crate::output::Out;

/// Plans a backfill into the queue and says what was queued.
pub async fn plan(
    engine: &Engine,
    queue: &SqsQueue,
    name: &str,
    windows: Option<usize>,
    out: &Out,
) -> Result<(), EngineError> {
    let plan = plan_backfill(engine, name, queue, windows, &SyncOptions::default()).await?;
    if plan.sequential {
        // History is read by the live cursors from the start: hand that
        // walk to the worker.
        queue
            .enqueue(&[WorkItem {
                connection: name.to_string(),
                kind: WorkKind::Sync,
                hop: 0,
                window: None,
            }])
            .await
            .map_err(|e| EngineError::Store {
                context: format!("queueing the backfill of {name:?}"),
                source: e,
            })?;
    }
    if out.is_json() {
        out.print_json(
            &json!({"ok": true, "command": "backfill", "plan": plan, "queue": queue.url()}),
        );
    } else {
        if plan.sequential {
            crate::say!(
                "{name}: one sequential backfill queued ({})",
                plan.reason.as_deref().unwrap_or("")
            );
        } else {
            crate::say!(
                "{name}: {} windows of history queued, newest first; the hourly sync continues from {}",
                plan.windows.len(),
                rfc3339(plan.live_from)
            );
            for w in &plan.windows {
                crate::say!("  {} .. {}", rfc3339(w.from), rfc3339(w.until));
            }
        }
        crate::say!(
            "The backfill-worker function drains the queue; or run `zdsync --store dynamodb worker` here."
        );
    }
    Ok(())
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

/// Receives work items and runs them until the queue is empty (or forever
/// with `follow`). Messages are deleted once handled; failed ones come back
/// after their visibility timeout, as with the Lambda event source.
pub async fn drain(
    engine: Engine,
    queue: SqsQueue,
    follow: bool,
    wait_secs: i32,
    out: &Out,
) -> Result<(), EngineError> {
    let deps = zdsync_lambda::Deps {
        engine,
        queue: Arc::new(queue.clone()),
        margin: Duration::from_secs(0),
        max_pages: None,
        lease_ttl: zdsync_engine::lease::DEFAULT_TTL,
        busy_delay_secs: 60,
    };
    let store_err = |e| EngineError::Store {
        context: "draining the work queue".into(),
        source: e,
    };
    let (mut handled, mut failed) = (0u64, 0u64);
    loop {
        let msgs = queue
            .receive(1, wait_secs, 15 * 60)
            .await
            .map_err(store_err)?;
        if msgs.is_empty() {
            if follow {
                continue;
            }
            break;
        }
        let mut event = SqsEvent::default();
        event.records = msgs
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = Some(m.message_id.clone());
                r.receipt_handle = Some(m.receipt_handle.clone());
                r.body = Some(m.body.clone());
                r
            })
            .collect();
        // One item at a time, with no deadline: a local process has no
        // 15-minute limit (the lease is renewed page by page).
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let resp = zdsync_lambda::backfill_worker(&deps, event, far).await;
        for m in &msgs {
            if resp
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == m.message_id)
            {
                failed += 1;
                out.notice(&format!(
                    "work item {} failed; it comes back after its visibility timeout (see the log above)",
                    m.message_id
                ));
            } else {
                handled += 1;
                queue.delete(&m.receipt_handle).await.map_err(store_err)?;
            }
        }
        tracing::info!(handled, failed, "work items");
    }
    if out.is_json() {
        out.print_json(
            &json!({"ok": failed == 0, "command": "worker", "handled": handled, "failed": failed}),
        );
    } else {
        crate::say!("worker: {handled} work items handled, {failed} failed; the queue is empty");
    }
    if failed > 0 {
        return Err(EngineError::Failed(format!(
            "{failed} work items failed; they stay in the queue (and reach its dead-letter queue after repeated failures)"
        )));
    }
    Ok(())
}
