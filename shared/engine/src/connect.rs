//! Connecting a Zendesk account: validate the input, check the credentials
//! against Zendesk, then store the secret and the connection (in that order,
//! undoing the secret if the connection cannot be saved).

use serde::Serialize;
use zdsync_store::{Connection, Plan, StoreError};
use zdsync_zendesk::types::User;

use crate::access::{Access, access_of, agent_notice};

use crate::credentials::{LatestToken, StoredSecret, new_secret_name};
use crate::error::{Context, EngineError, Result};
use crate::subdomain::{parse_subdomain, validate_connection_name};
use crate::{Engine, now_rfc3339};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub name: String,
    /// As typed: a label, or a pasted URL that is turned into one.
    pub subdomain: String,
    pub email: Option<String>,
    pub plan: Plan,
    pub secret: StoredSecret,
}

/// What connect did.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectOutcome {
    pub connection: Connection,
    /// Things the user should know (e.g. a rewritten subdomain).
    pub notices: Vec<String>,
    pub user_name: Option<String>,
    pub role: String,
}

/// Checks the credentials with `/users/me` and saves the connection. The
/// role decides the path its syncs take ([`crate::access`]).
pub async fn connect(engine: &Engine, req: ConnectRequest) -> Result<ConnectOutcome> {
    validate_connection_name(&req.name)?;
    let sub = parse_subdomain(&req.subdomain)?;
    let mut notices: Vec<String> = sub.notice.into_iter().collect();
    let email = match req.email.as_deref().map(str::trim) {
        Some(e) if !e.is_empty() => {
            if !e.contains('@') || e.contains(char::is_whitespace) {
                return Err(EngineError::Usage(format!(
                    "{e:?} is not an e-mail address: pass the Zendesk agent's e-mail, e.g. `--email admin@acme.example`"
                )));
            }
            Some(e.to_string())
        }
        _ => None,
    };
    if matches!(req.secret, StoredSecret::ApiToken { .. }) && email.is_none() {
        return Err(EngineError::Usage(
            "API-token authentication needs the e-mail of the Zendesk user the token acts for: pass `--email admin@acme.example`".into(),
        ));
    }
    if engine
        .store
        .get_connection(&req.name)
        .await
        .context(|| format!("reading connection {:?}", req.name))?
        .is_some()
    {
        return Err(EngineError::Usage(format!(
            "a connection named {:?} already exists; choose another name (see `zdsync status`)",
            req.name
        )));
    }

    let secret_ref = new_secret_name(&engine.settings.secret_prefix, &req.name);
    let now = now_rfc3339();
    let mut conn = Connection {
        name: req.name.clone(),
        subdomain: sub.label.clone(),
        email: email.clone(),
        plan: req.plan,
        auth: req.secret.auth_kind(),
        secret_ref: secret_ref.clone(),
        api_url: engine.settings.api_url_override.clone(),
        role: None,
        user_id: None,
        restriction: None,
        created_at: now.clone(),
        updated_at: now,
    };

    // Check the credentials before anything is saved. The client reads the
    // secret from the store, so build it from the secret in memory instead.
    let base = crate::credentials::base_url(
        &conn.subdomain,
        conn.api_url.as_deref(),
        engine.settings.api_url_override.as_deref(),
    )?;
    let mut cfg =
        zdsync_zendesk::ClientConfig::new(base.clone(), req.secret.credentials(email.as_deref())?);
    cfg.subdomain = Some(conn.subdomain.clone());
    // A check that cannot reach Zendesk should say so in seconds, not after
    // a sync's patience.
    cfg.max_retries = cfg.max_retries.min(2);
    cfg.max_backoff = cfg.max_backoff.min(std::time::Duration::from_secs(2));
    if let Some(tune) = &engine.settings.tune_client {
        tune(&mut cfg);
    }
    let latest = std::sync::Arc::new(LatestToken::default());
    cfg.token_sink = Some(latest.clone());
    let client =
        zdsync_zendesk::Client::new(cfg).context(|| "configuring the Zendesk client".into())?;
    let me = client.me().await.map_err(|e| refusal(e, &conn, &base))?;
    let access = check_role(&me, &conn)?;
    let role = access.role.to_string();
    conn.role = Some(role.clone());
    conn.restriction = access.restriction.clone();
    conn.user_id = me.id;
    if access.role == "agent" {
        notices.push(agent_notice(&access, &conn.name));
    }
    if conn.email.is_none() {
        conn.email = me.email.clone();
    }

    // A refresh during the check spent the given refresh token: save the
    // pair the check ended with.
    let secret = match latest.take() {
        Some(token) => req.secret.refreshed(&token),
        None => req.secret.clone(),
    };
    let secret_json = secret.to_json()?;
    engine
        .secrets
        .put_secret(&secret_ref, &secret_json)
        .await
        .context(|| format!("storing the credentials of {:?}", conn.name))?;
    if let Err(e) = engine.store.create_connection(&conn).await {
        // Leave nothing half-written: the secret goes with the failed record.
        if let Err(cleanup) = engine.secrets.delete_secret(&secret_ref).await {
            tracing::warn!(error = %cleanup, "could not remove the credentials of a connection that was not saved");
        }
        return Err(match e {
            StoreError::Conflict(_) => EngineError::Usage(format!(
                "a connection named {:?} already exists; choose another name",
                conn.name
            )),
            other => EngineError::Store {
                context: format!("saving connection {:?}", conn.name),
                source: other,
            },
        });
    }
    if conn.plan == Plan::Trial {
        notices.push(
            format!(
                "trial plan: the first sync imports the {} most recent feedback tickets and every new one after them; `zdsync plan {} paid` reads the rest",
                engine.settings.trial_limit.unwrap_or(crate::history::DEFAULT_TRIAL_LIMIT),
                conn.name
            ),
        );
    }
    Ok(ConnectOutcome {
        connection: conn,
        notices,
        user_name: me.name,
        role,
    })
}

/// Turns a failed credential check into an actionable message.
/// Anything else (Zendesk unreachable, failing) is a runtime error that
/// names the host and the cause.
fn refusal(e: zdsync_zendesk::Error, conn: &Connection, base: &url::Url) -> EngineError {
    use zdsync_zendesk::Error as Z;
    let who = conn.email.as_deref().unwrap_or("the OAuth client");
    match e {
        Z::Unauthorized { .. } => EngineError::Refused(format!(
            "Zendesk at {base} refused the credentials of {who} (401). Check that the e-mail belongs to an admin or agent of {sub}.zendesk.com and that ZENDESK_API_TOKEN is an active API token (Admin Center > Apps and integrations > Zendesk API), or that the OAuth client/token is valid.",
            sub = conn.subdomain
        )),
        Z::OAuth { status, message } => EngineError::Refused(format!(
            "Zendesk at {base} refused the OAuth credentials ({status}: {message}). Check ZENDESK_OAUTH_CLIENT_ID/ZENDESK_OAUTH_CLIENT_SECRET, or get a new access token."
        )),
        Z::Forbidden { .. } => EngineError::Refused(format!(
            "Zendesk at {base} denied {who} access to the API (403). zdsync needs an admin or an agent with API access: connect with such a user's e-mail and token."
        )),
        Z::NotFound { .. } => EngineError::Refused(format!(
            "no Zendesk account answers at {base} (404): check the subdomain {:?}",
            conn.subdomain
        )),
        other => EngineError::Zendesk {
            context: format!("checking the credentials at {base}"),
            source: other,
        },
    }
}

/// Accepts admins and agents ([`crate::access::access_of`]); the refusal
/// names the role needed.
fn check_role(me: &User, conn: &Connection) -> Result<Access> {
    let who = me
        .email
        .clone()
        .or_else(|| conn.email.clone())
        .unwrap_or_else(|| "this user".into());
    access_of(me, &who).map_err(EngineError::Refused)
}
