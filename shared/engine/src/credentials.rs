//! Credentials: what the user gives at connect time, how they are kept in
//! the secret store, and how a Zendesk client is built from them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zdsync_store::{AuthKind, Connection, SecretStore};
use zdsync_zendesk::types::OAuthToken;
use zdsync_zendesk::{ClientConfig, Credentials, TokenSink};

use crate::error::{Context, EngineError, Result};

/// The secret stored for a connection (JSON in the secret store).
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoredSecret {
    ApiToken {
        token: String,
    },
    OauthClient {
        client_id: String,
        client_secret: String,
    },
    OauthToken {
        access_token: String,
        #[serde(default)]
        refresh_token: Option<String>,
        #[serde(default)]
        client_id: Option<String>,
        #[serde(default)]
        client_secret: Option<String>,
    },
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredSecret(<redacted>)")
    }
}

impl StoredSecret {
    pub fn auth_kind(&self) -> AuthKind {
        match self {
            StoredSecret::ApiToken { .. } => AuthKind::Token,
            _ => AuthKind::Oauth,
        }
    }

    /// Reads credentials from the environment variables of the contract
    /// (never from argv): `ZENDESK_API_TOKEN` for `token`;
    /// `ZENDESK_OAUTH_CLIENT_ID` + `ZENDESK_OAUTH_CLIENT_SECRET`, or
    /// `ZENDESK_OAUTH_ACCESS_TOKEN` (+ optional `ZENDESK_OAUTH_REFRESH_TOKEN`)
    /// for `oauth`.
    pub fn from_env(kind: AuthKind, get: impl Fn(&str) -> Option<String>) -> Result<StoredSecret> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        match kind {
            AuthKind::Token => match get("ZENDESK_API_TOKEN") {
                Some(token) => Ok(StoredSecret::ApiToken { token: token.trim().to_string() }),
                None => Err(EngineError::Usage(
                    "no API token: set ZENDESK_API_TOKEN in the environment (Admin Center > Apps and integrations > Zendesk API), or use `--auth oauth`".into(),
                )),
            },
            AuthKind::Oauth => {
                let id = get("ZENDESK_OAUTH_CLIENT_ID");
                let secret = get("ZENDESK_OAUTH_CLIENT_SECRET");
                if let Some(access_token) = get("ZENDESK_OAUTH_ACCESS_TOKEN") {
                    return Ok(StoredSecret::OauthToken {
                        access_token,
                        refresh_token: get("ZENDESK_OAUTH_REFRESH_TOKEN"),
                        client_id: id,
                        client_secret: secret,
                    });
                }
                match (id, secret) {
                    (Some(client_id), Some(client_secret)) => Ok(StoredSecret::OauthClient {
                        client_id,
                        client_secret,
                    }),
                    _ => Err(EngineError::Usage(
                        "no OAuth credentials: set ZENDESK_OAUTH_CLIENT_ID and ZENDESK_OAUTH_CLIENT_SECRET (client credentials), or ZENDESK_OAUTH_ACCESS_TOKEN, in the environment".into(),
                    )),
                }
            }
        }
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| EngineError::Corrupt(format!("cannot encode credentials: {e}")))
    }

    pub fn from_json(s: &str, secret_ref: &str) -> Result<StoredSecret> {
        serde_json::from_str(s).map_err(|e| {
            EngineError::Corrupt(format!(
                "the stored credentials {secret_ref:?} cannot be read ({}); run `zdsync connect` again",
                zdsync_zendesk::redact::json_error(&e)
            ))
        })
    }

    pub fn credentials(&self, email: Option<&str>) -> Result<Credentials> {
        Ok(match self.clone() {
            StoredSecret::ApiToken { token } => Credentials::ApiToken {
                email: email
                    .ok_or_else(|| {
                        EngineError::Usage(
                            "API-token authentication needs the agent's e-mail: pass `--email`"
                                .into(),
                        )
                    })?
                    .to_string(),
                token,
            },
            StoredSecret::OauthClient {
                client_id,
                client_secret,
            } => Credentials::OAuthClient {
                client_id,
                client_secret,
            },
            StoredSecret::OauthToken {
                access_token,
                refresh_token,
                client_id,
                client_secret,
            } => Credentials::OAuthToken {
                access_token,
                refresh_token,
                client_id,
                client_secret,
            },
        })
    }
}

/// Secret names: `zdsync/<connection>` under an optional prefix.
pub fn secret_name(prefix: &str, connection: &str) -> String {
    format!("{prefix}{connection}")
}

/// The secret of one `connect`: `{prefix}{connection}-{8 hex digits}`, a
/// name of its own, so two connects of the same name at once never write
/// over or delete each other's credentials (the connection record names
/// the secret its connect wrote).
pub fn new_secret_name(prefix: &str, connection: &str) -> String {
    format!(
        "{}-{:08x}",
        secret_name(prefix, connection),
        rand::random::<u32>()
    )
}

impl StoredSecret {
    /// This secret after a token refresh handed out `token`: the new pair,
    /// the client that may refresh it kept. Other kinds are unchanged.
    pub fn refreshed(&self, token: &OAuthToken) -> StoredSecret {
        match self {
            StoredSecret::OauthToken {
                refresh_token,
                client_id,
                client_secret,
                ..
            } => StoredSecret::OauthToken {
                access_token: token.access_token.clone(),
                refresh_token: token.refresh_token.clone().or(refresh_token.clone()),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
            },
            other => other.clone(),
        }
    }
}

/// Keeps in memory the last pair a token refresh handed out (during
/// `connect`'s check, before anything is stored): the refresh token it
/// replaced is spent, so the new pair is the one to save.
#[derive(Default)]
pub struct LatestToken(std::sync::Mutex<Option<OAuthToken>>);

impl LatestToken {
    pub fn take(&self) -> Option<OAuthToken> {
        self.0.lock().ok().and_then(|mut t| t.take())
    }
}

#[async_trait::async_trait]
impl TokenSink for LatestToken {
    async fn token_refreshed(&self, token: &OAuthToken) -> std::result::Result<(), String> {
        let mut slot = self
            .0
            .lock()
            .map_err(|_| "the refreshed token could not be kept".to_string())?;
        *slot = Some(token.clone());
        Ok(())
    }
}

/// Stores a refreshed OAuth pair before the client uses it.
pub struct SecretTokenSink {
    pub secrets: Arc<dyn SecretStore>,
    pub secret_ref: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

#[async_trait::async_trait]
impl TokenSink for SecretTokenSink {
    async fn token_refreshed(&self, token: &OAuthToken) -> std::result::Result<(), String> {
        let secret = StoredSecret::OauthToken {
            access_token: token.access_token.clone(),
            refresh_token: token.refresh_token.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
        };
        let json = secret.to_json().map_err(|e| e.to_string())?;
        self.secrets
            .put_secret(&self.secret_ref, &json)
            .await
            .map_err(|e| format!("could not store the refreshed OAuth token: {e}"))
    }
}

/// Resolves the API base URL: the `ZENDESK_API_URL` override when given,
/// else the one recorded on the connection, else `https://{subdomain}.zendesk.com`.
/// Checked every time (a record edited in the table cannot send the token
/// elsewhere): only `https://{subdomain}.zendesk.com` or a loopback address.
pub fn base_url(
    subdomain: &str,
    recorded: Option<&str>,
    override_url: Option<&str>,
) -> Result<url::Url> {
    let url = match override_url.or(recorded) {
        Some(u) => url::Url::parse(u).map_err(|e| {
            EngineError::Usage(format!(
                "ZENDESK_API_URL {u:?} is not a valid URL ({e}); use e.g. https://acme.zendesk.com"
            ))
        })?,
        None => zdsync_zendesk::default_base_url(subdomain).context(|| "subdomain".into())?,
    };
    zdsync_zendesk::check_api_url(Some(subdomain), &url).map_err(|why| {
        let source = if override_url.is_some() {
            "ZENDESK_API_URL"
        } else {
            "the connection's recorded API address"
        };
        EngineError::Usage(format!("{source}: {why}"))
    })?;
    Ok(url)
}

/// Builds the client configuration of a stored connection.
pub async fn client_config(
    conn: &Connection,
    secrets: &Arc<dyn SecretStore>,
    override_url: Option<&str>,
) -> Result<ClientConfig> {
    let raw = secrets
        .get_secret(&conn.secret_ref)
        .await
        .context(|| format!("reading the credentials of {:?}", conn.name))?
        .ok_or_else(|| {
            EngineError::Usage(format!(
                "the credentials of connection {:?} are missing from the secret store ({:?}); run `zdsync connect {} ...` again",
                conn.name, conn.secret_ref, conn.name
            ))
        })?;
    let secret = StoredSecret::from_json(&raw, &conn.secret_ref)?;
    let base = base_url(&conn.subdomain, conn.api_url.as_deref(), override_url)?;
    let mut cfg = ClientConfig::new(base, secret.credentials(conn.email.as_deref())?);
    cfg.subdomain = Some(conn.subdomain.clone());
    if let StoredSecret::OauthToken {
        client_id,
        client_secret,
        ..
    } = &secret
    {
        cfg.token_sink = Some(Arc::new(SecretTokenSink {
            secrets: secrets.clone(),
            secret_ref: conn.secret_ref.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
        }));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_the_account_or_to_loopback() {
        let ok = |rec: Option<&str>, ov: Option<&str>| base_url("acme", rec, ov).is_ok();
        assert!(ok(None, None));
        assert!(ok(Some("https://acme.zendesk.com"), None));
        assert!(ok(Some("http://127.0.0.1:9"), None));
        assert!(ok(None, Some("http://localhost:8080")));
        assert!(!ok(Some("https://evil.example"), None), "an edited record");
        assert!(!ok(Some("http://acme.zendesk.com"), None), "plain http");
        assert!(
            !ok(None, Some("https://other.zendesk.com")),
            "another account"
        );
        assert!(!ok(Some("https://u:p@acme.zendesk.com"), None), "user info");
        let err = base_url("acme", Some("https://evil.example"), None).expect_err("refused");
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("https://acme.zendesk.com"),
            "{err}"
        );
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn token_comes_from_the_environment_only() {
        let s = StoredSecret::from_env(AuthKind::Token, env(&[("ZENDESK_API_TOKEN", " abc ")]))
            .unwrap();
        assert!(matches!(s, StoredSecret::ApiToken { ref token } if token == "abc"));
        let e = StoredSecret::from_env(AuthKind::Token, env(&[])).unwrap_err();
        assert!(e.to_string().contains("ZENDESK_API_TOKEN"));
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn oauth_prefers_a_given_access_token_then_client_credentials() {
        let s = StoredSecret::from_env(
            AuthKind::Oauth,
            env(&[
                ("ZENDESK_OAUTH_ACCESS_TOKEN", "t"),
                ("ZENDESK_OAUTH_CLIENT_ID", "c"),
            ]),
        )
        .unwrap();
        assert!(matches!(s, StoredSecret::OauthToken { .. }));
        let s = StoredSecret::from_env(
            AuthKind::Oauth,
            env(&[
                ("ZENDESK_OAUTH_CLIENT_ID", "c"),
                ("ZENDESK_OAUTH_CLIENT_SECRET", "s"),
            ]),
        )
        .unwrap();
        assert!(matches!(s, StoredSecret::OauthClient { .. }));
        let e = StoredSecret::from_env(AuthKind::Oauth, env(&[("ZENDESK_OAUTH_CLIENT_ID", "c")]))
            .unwrap_err();
        assert!(e.to_string().contains("ZENDESK_OAUTH_CLIENT_SECRET"));
    }

    #[test]
    fn secrets_never_print() {
        let s = StoredSecret::ApiToken {
            token: "s3cr3t".into(),
        };
        assert!(!format!("{s:?}").contains("s3cr3t"));
        let back = StoredSecret::from_json(&s.to_json().unwrap(), "x").unwrap();
        assert!(matches!(back, StoredSecret::ApiToken { ref token } if token == "s3cr3t"));
    }
}
