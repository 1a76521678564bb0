//! `zendesk-sim`: the simulator as a process.
//!
//! `zendesk-sim [--port N] [--seed N] [--tickets N] [--no-rate-limits]
//! [--export-limit N] [--account-limit N]` binds 127.0.0.1, prints one JSON
//! line `{"base_url": ..., "credentials": {...}}` and serves until killed.

use zendesk_sim::{SimConfig, SimHandle};

fn usage(msg: &str) -> ! {
    eprintln!(
        "zendesk-sim: {msg}\nusage: zendesk-sim [--port N] [--seed N] [--tickets N] [--no-rate-limits] [--export-limit N] [--account-limit N]"
    );
    std::process::exit(2)
}

fn main() {
    let mut cfg = SimConfig::default();
    let mut port: u16 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match a.as_str() {
            "--port" => {
                port = u16::try_from(num("--port")).unwrap_or_else(|_| usage("--port is 0-65535"))
            }
            "--seed" => cfg.seed = num("--seed"),
            "--tickets" => cfg.tickets = num("--tickets") as usize,
            "--export-limit" => cfg.export_limit_per_min = num("--export-limit") as u32,
            "--account-limit" => cfg.account_limit_per_min = num("--account-limit") as u32,
            "--no-rate-limits" => cfg.rate_limits = false,
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| usage(&format!("cannot start the runtime: {e}")));
    rt.block_on(async {
        let sim = SimHandle::start_on(cfg, port)
            .await
            .unwrap_or_else(|e| usage(&format!("cannot listen on 127.0.0.1:{port}: {e}")));
        println!(
            "{}",
            serde_json::json!({"base_url": sim.base_url(), "credentials": sim.credentials()})
        );
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
    });
}
