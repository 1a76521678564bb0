//! Helpers shared by the end-to-end tests of the `zdsync` command.
#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use zendesk_sim::{SimConfig, SimHandle};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The `zdsync` command with the data dir, the arguments and only the given
/// Zendesk variables set (the test's own ZENDESK_/ZDSYNC_/RUST_LOG removed).
pub fn command(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(zdsync_e2e::zdsync_bin());
    cmd.arg("--data-dir").arg(data).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ZENDESK_") || k.starts_with("ZDSYNC_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `zdsync` to its end.
pub async fn zdsync(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(data, args, env);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("zdsync runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A simulated account of `tickets` tickets, rate limits off.
pub async fn sim(tickets: usize) -> SimHandle {
    SimHandle::start(SimConfig {
        tickets,
        rate_limits: false,
        huge_ticket: false,
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

pub fn token_env<'a>(sim_url: &'a str, token: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("ZENDESK_API_URL", sim_url), ("ZENDESK_API_TOKEN", token)]
}

/// `zdsync connect acme` to the simulator's admin.
pub async fn connect(data: &Path, sim: &SimHandle) {
    let c = sim.credentials();
    let url = sim.base_url();
    let r = zdsync(
        data,
        &[
            "connect",
            "acme",
            "--subdomain",
            "acme",
            "--email",
            &c.admin_email,
        ],
        &token_env(&url, &c.api_token),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The exported documents, one JSON value per line.
pub async fn export(data: &Path) -> Vec<Value> {
    let r = zdsync(data, &["documents", "export"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect()
}
