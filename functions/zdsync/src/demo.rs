//! `zdsync demo`: the whole product in one command, with no Zendesk account
//! and no AWS. Starts the bundled Zendesk simulator on a free loopback port,
//! connects to it, syncs with a progress bar, checks the documents against
//! the simulator's own expectation and says where they are.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use zdsync_engine::EngineError;
use zdsync_engine::connect::{ConnectRequest, connect};
use zdsync_engine::credentials::StoredSecret;
use zdsync_engine::sync::{SyncOptions, sync_connection};
use zdsync_store::Plan;
use zendesk_sim::{SimConfig, SimHandle};

use crate::output::Out;

const MARKER: &str = ".zdsync-demo";

pub async fn run(data_dir: &Path, tickets: usize, seed: u64, out: &Out) -> Result<(), EngineError> {
    let dir = data_dir.join("demo");
    // The demo owns its folder: start afresh, but never delete a folder it did not make.
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(EngineError::Usage(format!(
                "{} exists and was not made by `zdsync demo`; pass another `--data-dir`",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(&dir).map_err(|e| {
            EngineError::Usage(format!(
                "cannot clear the previous demo in {}: {e}",
                dir.display()
            ))
        })?;
    }
    zdsync_store_embedded::private_dir(&dir)
        .and_then(|()| std::fs::write(dir.join(MARKER), b"made by zdsync demo\n"))
        .map_err(|e| EngineError::Usage(format!("cannot create {}: {e}", dir.display())))?;

    let config = SimConfig {
        seed,
        tickets,
        ..SimConfig::default()
    };
    let limits = format!(
        "account {}/min, incremental exports {}/min",
        config.account_limit_per_min, config.export_limit_per_min
    );
    let sim = SimHandle::start(config).await.map_err(|e| {
        EngineError::Usage(format!(
            "cannot start the Zendesk simulator on loopback: {e}"
        ))
    })?;
    if !out.is_json() {
        eprintln!(
            "Zendesk simulator: {} tickets at {} (rate limits: {limits})",
            tickets,
            sim.base_url()
        );
    }
    let result = demo_steps(&dir, &sim, out).await;
    sim.shutdown().await;
    result
}

async fn demo_steps(dir: &Path, sim: &SimHandle, out: &Out) -> Result<(), EngineError> {
    let creds = sim.credentials();
    let engine = crate::open_engine(dir, Some(sim.base_url()))?;
    let outcome = connect(
        &engine,
        ConnectRequest {
            name: "demo".into(),
            subdomain: "acme".into(),
            email: Some(creds.admin_email.clone()),
            plan: Plan::Paid,
            secret: StoredSecret::ApiToken {
                token: creds.api_token.clone(),
            },
        },
    )
    .await?;
    let bar = out.progress_bar("demo");
    let opts = SyncOptions {
        progress: bar
            .clone()
            .map(|b| b as Arc<dyn zdsync_engine::sync::Progress>),
        ..Default::default()
    };
    let report = sync_connection(&engine, "demo", &opts).await;
    if let Some(b) = &bar {
        b.finish();
    }
    let report = report?;

    // Compare with what the simulator expects, document by document.
    let expected: Vec<Value> = sim.expected_documents("demo");
    let mut stored: Vec<Value> = Vec::new();
    zdsync_engine::status::for_each_document(&engine, Some("demo"), |row| {
        let v = serde_json::from_str(&row.body).map_err(|e| {
            EngineError::Corrupt(format!(
                "stored document unreadable: {}",
                zdsync_zendesk::redact::json_error(&e)
            ))
        })?;
        stored.push(v);
        Ok(())
    })
    .await?;
    let matching = expected.iter().zip(&stored).filter(|(a, b)| a == b).count();
    let all_match = matching == expected.len() && stored.len() == expected.len();
    let store_file = dir.join("zdsync.sqlite");
    let data_dir = dir.display().to_string();
    if out.is_json() {
        crate::say!(
            "{}",
            json!({
                "ok": all_match,
                "command": "demo",
                "connection": outcome.connection.name,
                "report": report,
                "documents": stored.len(),
                "expected_documents": expected.len(),
                "matching_documents": matching,
                "store": store_file.display().to_string(),
                "list_command": format!("zdsync --data-dir {data_dir} documents list"),
            })
        );
    } else {
        let facts = sim.facts();
        crate::say!("");
        crate::say!(
            "Imported {} feedback documents from {} tickets ({} agent-only, {} deleted) in {:.1}s with {} Zendesk requests ({} rate-limited).",
            stored.len(),
            facts.ticket_ids.len(),
            facts.agent_only_ticket_ids.len(),
            facts.deleted_ticket_ids.len(),
            report.duration_ms as f64 / 1000.0,
            report.requests.total,
            report.requests.responses_429
        );
        crate::say!(
            "Checked against the simulator's expected documents: {matching} of {} identical{}.",
            expected.len(),
            if all_match { "" } else { " (MISMATCH)" }
        );
        if let Some(first) = stored.first() {
            crate::say!(
                "First document: {} \"{}\" ({} messages)",
                first["id"].as_str().unwrap_or("?"),
                first["title"].as_str().unwrap_or(""),
                first["content"].as_array().map_or(0, Vec::len)
            );
        }
        crate::say!("Documents are stored in {}", store_file.display());
        crate::say!("  list:   zdsync --data-dir {data_dir} documents list");
        crate::say!("  show:   zdsync --data-dir {data_dir} documents show <ticket_id>");
        crate::say!("  export: zdsync --data-dir {data_dir} documents export > documents.jsonl");
    }
    if all_match {
        Ok(())
    } else {
        Err(EngineError::Corrupt(format!(
            "the demo's documents differ from the simulator's expectation ({matching} of {} identical)",
            expected.len()
        )))
    }
}
