//! zdsync use cases: connect an account, sync it (the first run is the
//! backfill), and read what is stored. Depends on ports only: a [`Store`], a
//! [`SecretStore`] and the Zendesk client; the `zdsync` command and the
//! Lambdas only wire these together.

pub mod access;
pub mod backfill;
pub mod connect;
pub mod credentials;
pub mod error;
mod exports;
pub mod history;
pub mod lease;
pub mod logging;
pub mod pincer;
pub mod refresh;
pub mod render;
pub mod search;
pub mod state;
pub mod status;
pub mod subdomain;
pub mod sync;

use std::sync::Arc;

use zdsync_store::{Connection, SecretStore, Store};
use zdsync_zendesk::{ClientConfig, KeptPages};

pub use error::{EngineError, Result};

use error::Context;

/// A hook that adjusts every client configuration.
pub type TuneClient = Arc<dyn Fn(&mut ClientConfig) + Send + Sync>;

/// Settings that come from the environment of the process.
#[derive(Clone, Default)]
pub struct Settings {
    /// `ZENDESK_API_URL`: overrides `https://{subdomain}.zendesk.com`.
    pub api_url_override: Option<String>,
    /// Prefix of secret names (`zdsync-` locally, `zdsync/` on AWS).
    pub secret_prefix: String,
    /// Adjusts every client configuration (tests shorten retries/backoff).
    pub tune_client: Option<TuneClient>,
    /// Feedback documents a trial connection holds (`ZDSYNC_TRIAL_LIMIT`;
    /// `None`: [`history::DEFAULT_TRIAL_LIMIT`]).
    pub trial_limit: Option<usize>,
}

/// The engine: stores plus settings. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretStore>,
    pub settings: Settings,
    /// Events pages kept for their next reader in this process
    /// ([`zdsync_zendesk::KeptPages`]), shared by all clients.
    kept: Arc<KeptPages>,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<dyn SecretStore>, settings: Settings) -> Self {
        Engine {
            store,
            secrets,
            settings,
            kept: Arc::default(),
        }
    }

    /// The named connection, or [`EngineError::UnknownConnection`].
    pub async fn connection(&self, name: &str) -> Result<Connection> {
        self.store
            .get_connection(name)
            .await
            .context(|| format!("reading connection {name:?}"))?
            .ok_or_else(|| EngineError::UnknownConnection {
                name: name.to_string(),
            })
    }

    /// Connections to act on: the named one, or all of them.
    pub async fn connections(&self, name: Option<&str>) -> Result<Vec<Connection>> {
        match name {
            Some(n) => Ok(vec![self.connection(n).await?]),
            None => self
                .store
                .list_connections()
                .await
                .context(|| "listing connections".into()),
        }
    }

    /// A Zendesk client for a stored connection.
    pub async fn client(&self, conn: &Connection) -> Result<zdsync_zendesk::Client> {
        let mut cfg = credentials::client_config(
            conn,
            &self.secrets,
            self.settings.api_url_override.as_deref(),
        )
        .await?;
        cfg.budgets = self.last_budgets(&conn.name).await;
        cfg.kept = Some(self.kept.keeper(&conn.name));
        if let Some(tune) = &self.settings.tune_client {
            tune(&mut cfg);
        }
        zdsync_zendesk::Client::new(cfg)
            .context(|| format!("configuring the Zendesk client of {:?}", conn.name))
    }

    /// The rate budgets the connection's last run left (in its run
    /// record): a run that starts right after another, in another process,
    /// waits for what that one spent instead of meeting a 429. Unreadable
    /// records give none (the first answers tell).
    async fn last_budgets(&self, name: &str) -> Vec<zdsync_zendesk::BudgetSnapshot> {
        #[derive(serde::Deserialize)]
        struct Left {
            #[serde(default)]
            budgets: Vec<zdsync_zendesk::BudgetSnapshot>,
        }
        match self.store.get_run_record(name).await {
            Ok(Some(json)) => serde_json::from_str::<Left>(&json)
                .map(|l| l.budgets)
                .unwrap_or_default(),
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(connection = name, error = %e, "could not read the last run's budgets");
                Vec::new()
            }
        }
    }
}

/// Current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
