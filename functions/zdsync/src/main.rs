//! `zdsync`: the sync engine from the command line.
//!
//! Runs on an embedded store in the data dir (default `./.zdsync`) with no
//! AWS at all; `--store dynamodb` selects the AWS adapters.

mod demo;
mod output;
mod worker;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use zdsync_engine::connect::{ConnectRequest, connect};
use zdsync_engine::credentials::StoredSecret;
use zdsync_engine::sync::{SyncOptions, sync_connection};
use zdsync_engine::{Engine, EngineError, Settings};
use zdsync_store::{AuthKind, Plan};
use zdsync_store_embedded::{EmbeddedStore, FileSecretStore};

use output::Out;

#[derive(Parser)]
#[command(
    name = "zdsync",
    version,
    about = "Import customer feedback from Zendesk Support into a feedback repository",
    long_about = "Import customer feedback from Zendesk Support: every ticket in which a customer spoke becomes a document.\n\nCredentials come from the environment only: ZENDESK_API_TOKEN, or ZENDESK_OAUTH_CLIENT_ID + ZENDESK_OAUTH_CLIENT_SECRET, or ZENDESK_OAUTH_ACCESS_TOKEN. ZENDESK_API_URL overrides https://{subdomain}.zendesk.com."
)]
struct Cli {
    /// Where the embedded store and local secrets live.
    #[arg(
        long,
        global = true,
        env = "ZDSYNC_DATA_DIR",
        default_value = ".zdsync"
    )]
    data_dir: PathBuf,
    /// Which store to use.
    #[arg(long, global = true, value_enum, default_value_t = StoreKind::Embedded)]
    store: StoreKind,
    /// DynamoDB table (with `--store dynamodb`).
    #[arg(long, global = true, env = "ZDSYNC_TABLE")]
    table: Option<String>,
    /// Prefix of the Secrets Manager secrets (with `--store dynamodb`).
    #[arg(
        long,
        global = true,
        env = "ZDSYNC_SECRETS_PREFIX",
        default_value = "zdsync/"
    )]
    secrets_prefix: String,
    /// SQS work queue URL (with `--store dynamodb`: `backfill` and `worker`).
    #[arg(long, global = true, env = "ZDSYNC_QUEUE_URL")]
    queue_url: Option<String>,
    /// Print one JSON object per command.
    #[arg(long, global = true)]
    json: bool,
    /// More logging on stderr (-v info, -vv debug). RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    Embedded,
    Dynamodb,
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanArg {
    Trial,
    Paid,
}

impl From<PlanArg> for Plan {
    fn from(p: PlanArg) -> Plan {
        match p {
            PlanArg::Trial => Plan::Trial,
            PlanArg::Paid => Plan::Paid,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum AuthArg {
    Token,
    Oauth,
}

#[derive(Subcommand)]
enum Command {
    /// Connect a Zendesk account (credentials are checked before anything is saved).
    Connect {
        /// A name for the connection (e.g. acme).
        name: String,
        /// The Zendesk subdomain: `acme` for https://acme.zendesk.com.
        #[arg(long)]
        subdomain: String,
        /// E-mail of the Zendesk admin the API token acts for.
        #[arg(long)]
        email: Option<String>,
        #[arg(long, value_enum, default_value_t = PlanArg::Paid)]
        plan: PlanArg,
        #[arg(long, value_enum, default_value_t = AuthArg::Token)]
        auth: AuthArg,
    },
    /// The hourly job: import what changed (the first run imports all history).
    Sync {
        /// Only this connection (default: all).
        name: Option<String>,
    },
    /// The daily job: refresh stored customers' profiles.
    RefreshUsers { name: Option<String> },
    /// Read all history of a connection again; only documents that differ are
    /// rewritten. On the embedded store it runs now, in-process; with
    /// `--store dynamodb` it plans windows of history into the SQS queue for
    /// the backfill-worker Lambda (or `zdsync worker`).
    Backfill {
        name: String,
        /// Number of windows (with `--store dynamodb`; default: the plan chooses
        /// by the length and size of history).
        #[arg(long)]
        windows: Option<usize>,
    },
    /// Drain the SQS work queue here, as the backfill-worker Lambda would
    /// (with `--store dynamodb`); stops when the queue is empty.
    Worker {
        /// Keep waiting for new work instead of stopping when the queue is empty.
        #[arg(long)]
        follow: bool,
        /// Long-poll time per receive, in seconds (0-20).
        #[arg(long, default_value_t = 10)]
        wait_secs: i32,
    },
    /// Read stored documents.
    Documents {
        #[command(subcommand)]
        action: DocAction,
    },
    /// Change a connection's plan. Upgrading a trial to paid reads the older
    /// history it skipped (in-process on the embedded store; queued for the
    /// workers with `--store dynamodb`); downgrading keeps what is stored.
    Plan {
        name: String,
        #[arg(value_enum)]
        plan: PlanArg,
    },
    /// Connections, cursors, counts, last run.
    Status { name: Option<String> },
    /// Start the bundled Zendesk simulator, connect, sync, show the result.
    Demo {
        /// Tickets in the simulated account.
        #[arg(long, default_value_t = 1000)]
        tickets: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum DocAction {
    /// One line per document.
    List {
        #[arg(long)]
        connection: Option<String>,
    },
    /// One document as JSON.
    Show {
        ticket_id: u64,
        #[arg(long)]
        connection: Option<String>,
    },
    /// Every document as JSON lines on stdout.
    Export {
        #[arg(long)]
        connection: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose);
    let out = Out::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            out.error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e.to_string());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,zdsync=info",
        _ => "debug",
    };
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| default.to_string());
    use std::io::IsTerminal;
    // Colours only on a terminal: a log file or a pipe gets plain text.
    let format = zdsync_engine::logging::Format {
        ansi: std::io::stderr().is_terminal(),
        ..Default::default()
    };
    zdsync_engine::logging::init(&directives, format, std::io::stderr);
}

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Opens the embedded store and secret store in the data dir.
pub fn open_engine(
    data_dir: &Path,
    api_url_override: Option<String>,
) -> Result<Engine, EngineError> {
    zdsync_store_embedded::private_dir(data_dir).map_err(|e| {
        EngineError::Usage(format!(
            "cannot create the data dir {}: {e}; pass a writable `--data-dir`",
            data_dir.display()
        ))
    })?;
    let store =
        EmbeddedStore::open(&data_dir.join("zdsync.sqlite")).map_err(|e| EngineError::Store {
            context: format!("opening the store in {}", data_dir.display()),
            source: e,
        })?;
    let secrets =
        FileSecretStore::new(&data_dir.join("secrets")).map_err(|e| EngineError::Store {
            context: format!("opening the secret store in {}", data_dir.display()),
            source: e,
        })?;
    Ok(Engine::new(
        Arc::new(store),
        Arc::new(secrets),
        Settings {
            api_url_override,
            secret_prefix: "zdsync-".into(),
            tune_client: None,
            trial_limit: zdsync_engine::history::trial_limit_from_env(env_var)?,
        },
    ))
}

async fn run(cli: Cli, out: &Out) -> Result<(), EngineError> {
    if let Command::Demo { tickets, seed } = cli.command {
        return demo::run(&cli.data_dir, tickets, seed, out).await;
    }
    if matches!(cli.command, Command::Worker { .. }) && cli.store != StoreKind::Dynamodb {
        return Err(EngineError::Usage(
            "`zdsync worker` drains the SQS work queue: use it with `--store dynamodb --queue-url URL` (on the embedded store `zdsync backfill` runs in-process)".into(),
        ));
    }
    let api_url = env_var("ZENDESK_API_URL").filter(|s| !s.trim().is_empty());
    let engine = match cli.store {
        StoreKind::Embedded => open_engine(&cli.data_dir, api_url)?,
        StoreKind::Dynamodb => {
            let table = cli.table.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                EngineError::Usage(
                    "`--store dynamodb` needs the table: pass `--table NAME` or set ZDSYNC_TABLE (the stack's TableName output)".into(),
                )
            })?;
            Engine::new(
                Arc::new(zdsync_store_dynamodb::DynamoStore::from_env(table).await),
                Arc::new(zdsync_store_dynamodb::SecretsManagerStore::from_env().await),
                Settings {
                    api_url_override: api_url,
                    secret_prefix: cli.secrets_prefix.clone(),
                    tune_client: None,
                    trial_limit: zdsync_engine::history::trial_limit_from_env(env_var)?,
                },
            )
        }
    };
    match cli.command {
        Command::Connect {
            name,
            subdomain,
            email,
            plan,
            auth,
        } => {
            let auth = match auth {
                AuthArg::Token => AuthKind::Token,
                AuthArg::Oauth => AuthKind::Oauth,
            };
            let secret = StoredSecret::from_env(auth, env_var)?;
            let outcome = connect(
                &engine,
                ConnectRequest {
                    name,
                    subdomain,
                    email,
                    plan: plan.into(),
                    secret,
                },
            )
            .await?;
            for n in &outcome.notices {
                out.notice(n);
            }
            out.connected(&outcome);
            Ok(())
        }
        Command::Sync { name } => sync_all(&engine, name.as_deref(), out).await,
        Command::RefreshUsers { name } => {
            let reports = zdsync_engine::refresh::refresh_users(&engine, name.as_deref()).await?;
            out.refreshed(&reports);
            Ok(())
        }
        Command::Backfill { name, windows } => match cli.store {
            StoreKind::Embedded => {
                zdsync_engine::sync::reset_cursors(&engine, &name).await?;
                sync_all(&engine, Some(&name), out).await
            }
            StoreKind::Dynamodb => {
                let queue = sqs_queue(cli.queue_url.as_deref()).await?;
                worker::plan(&engine, &queue, &name, windows, out).await
            }
        },
        Command::Worker { follow, wait_secs } => {
            let queue = sqs_queue(cli.queue_url.as_deref()).await?;
            worker::drain(engine, queue, follow, wait_secs, out).await
        }
        Command::Documents { action } => documents(&engine, action, out).await,
        Command::Plan { name, plan } => {
            let queue = match cli.store {
                StoreKind::Embedded => None,
                StoreKind::Dynamodb => Some(sqs_queue(cli.queue_url.as_deref()).await?),
            };
            change_plan(&engine, &name, plan.into(), queue, out).await
        }
        Command::Status { name } => {
            let st = zdsync_engine::status::status(&engine, name.as_deref()).await?;
            out.status(&st);
            Ok(())
        }
        Command::Demo { .. } => unreachable!("handled above"),
    }
}

async fn sqs_queue(url: Option<&str>) -> Result<zdsync_store_dynamodb::SqsQueue, EngineError> {
    let url = url.filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        EngineError::Usage(
            "this command needs the work queue: pass `--queue-url URL` or set ZDSYNC_QUEUE_URL (the stack's WorkQueueUrl output)".into(),
        )
    })?;
    Ok(zdsync_store_dynamodb::SqsQueue::from_env(url).await)
}

/// Syncs the named connection or every connection; one failing connection
/// does not stop the others, but makes the command fail.
pub async fn sync_all(engine: &Engine, name: Option<&str>, out: &Out) -> Result<(), EngineError> {
    let conns = engine.connections(name).await?;
    if conns.is_empty() {
        return Err(EngineError::Usage(
            "no connection yet: run `zdsync connect NAME --subdomain ... --email ...` first".into(),
        ));
    }
    let mut reports = Vec::new();
    let mut first_err = None;
    for conn in conns {
        let bar = out.progress_bar(&conn.name);
        let opts = SyncOptions {
            progress: bar
                .clone()
                .map(|b| b as Arc<dyn zdsync_engine::sync::Progress>),
            ..Default::default()
        };
        let r = sync_one(engine, &conn.name, &opts).await;
        if let Some(b) = bar {
            b.finish();
        }
        match r {
            Ok(done) => reports.extend(done),
            Err(e) => {
                out.notice(&format!("sync of {:?} failed: {e}", conn.name));
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    out.synced(&reports);
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One connection's sync. A connection never synced plans its history as
/// windows (`plan_first_sync`, the rule the Lambdas follow too): the last
/// hour is synced first, then the windows are read newest first, in this
/// process (from both ends at once where the budgets make that pay:
/// `zdsync_engine::pincer`), then the live streams again. Windows a killed
/// run left unfinished are read before the live streams of the next run.
async fn sync_one(
    engine: &Engine,
    name: &str,
    opts: &SyncOptions,
) -> Result<Vec<zdsync_engine::sync::SyncReport>, EngineError> {
    use zdsync_engine::backfill::{InProcess, plan_first_sync, unfinished};
    let mut reports = Vec::new();
    if !plan_first_sync(engine, name, &InProcess, opts)
        .await?
        .is_empty()
    {
        // The last hour first.
        reports.push(sync_connection(engine, name, opts).await?);
    }
    let windows = unfinished(engine, name).await?;
    if !windows.is_empty() {
        let walked = if zdsync_engine::pincer::enabled_from_env(env_var)? {
            zdsync_engine::pincer::walk_history(engine, name, windows, opts).await?
        } else {
            zdsync_engine::history::walk_windows(engine, name, windows, opts).await?
        };
        reports.extend(walked);
    }
    reports.push(sync_connection(engine, name, opts).await?);
    Ok(reports)
}

/// `zdsync plan NAME paid|trial`: an upgrade of a trial reads the older
/// history now, in-process (embedded store), or queues its windows for the
/// workers (`--store dynamodb`).
async fn change_plan(
    engine: &Engine,
    name: &str,
    plan: Plan,
    queue: Option<zdsync_store_dynamodb::SqsQueue>,
    out: &Out,
) -> Result<(), EngineError> {
    let opts = SyncOptions::default();
    let change = zdsync_engine::history::change_plan(engine, name, plan, &opts).await?;
    let mut reports = Vec::new();
    if !change.windows.is_empty() {
        match &queue {
            Some(q) => {
                zdsync_engine::backfill::enqueue_windows(q, name, &change.windows).await?;
            }
            None => {
                reports = zdsync_engine::history::walk_windows(
                    engine,
                    name,
                    change.windows.clone(),
                    &opts,
                )
                .await?;
            }
        }
    }
    out.plan_changed(&change, queue.is_some(), &reports);
    Ok(())
}

async fn documents(engine: &Engine, action: DocAction, out: &Out) -> Result<(), EngineError> {
    match action {
        DocAction::List { connection } => {
            let mut rows = Vec::new();
            zdsync_engine::status::for_each_document(engine, connection.as_deref(), |row| {
                let v: serde_json::Value = serde_json::from_str(&row.body).map_err(|e| {
                    EngineError::Corrupt(format!(
                        "stored document {}:{} cannot be read: {}",
                        row.connection,
                        row.ticket_id,
                        zdsync_zendesk::redact::json_error(&e)
                    ))
                })?;
                rows.push(output::DocSummary::from_doc(
                    &row.connection,
                    row.ticket_id,
                    &v,
                ));
                Ok(())
            })
            .await?;
            out.doc_list(&rows);
            Ok(())
        }
        DocAction::Show {
            ticket_id,
            connection,
        } => {
            let doc =
                zdsync_engine::status::show_document(engine, connection.as_deref(), ticket_id)
                    .await?;
            out.doc_show(&doc);
            Ok(())
        }
        DocAction::Export { connection } => {
            use std::io::Write;
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            let closed = |e: std::io::Error| {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    std::process::exit(0); // the reader has what it wanted
                }
                EngineError::Usage(format!("cannot write to stdout: {e}"))
            };
            let n =
                zdsync_engine::status::for_each_document(engine, connection.as_deref(), |row| {
                    writeln!(lock, "{}", row.body).map_err(closed)
                })
                .await?;
            lock.flush().map_err(closed)?;
            tracing::info!(documents = n, "exported");
            Ok(())
        }
    }
}
