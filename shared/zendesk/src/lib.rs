//! Zendesk Support HTTP client for zdsync.
//!
//! The only crate that knows Zendesk's JSON ([`types`]). It authenticates with
//! an API token or OAuth, paces every request under both of Zendesk's
//! budgets (account and incremental exports) from the rate-limit headers,
//! retries transient failures with backoff and jitter (honouring
//! `Retry-After`), and exposes each paginated endpoint one page at a time so
//! the engine can checkpoint after every page.

mod client;
mod kept;
pub mod lenient;
mod limiter;
pub mod redact;
mod retry;
pub mod types;

pub use client::{Client, Sent, check_api_url, default_base_url};
pub use kept::{Keeper, KeptPages};
pub use limiter::{Bucket, BudgetSnapshot, Limits, Reserve};
pub use retry::{Decision, Outcome, decide};

use std::sync::Arc;

use types::{Comment, OAuthToken, Organization, Ticket, TicketEvent, User};

/// Credentials of a connection.
#[derive(Clone)]
pub enum Credentials {
    /// `Authorization: Basic base64("{email}/token:{token}")`.
    ApiToken { email: String, token: String },
    /// OAuth client credentials: the client asks `/oauth/tokens` for an access
    /// token and asks again when it expires or is refused.
    OAuthClient {
        client_id: String,
        client_secret: String,
    },
    /// A given OAuth access token, optionally with a refresh token and the
    /// client that may refresh it.
    OAuthToken {
        access_token: String,
        refresh_token: Option<String>,
        client_id: Option<String>,
        client_secret: Option<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Credentials::ApiToken { email, .. } => {
                write!(f, "ApiToken {{ email: {email:?}, token: <redacted> }}")
            }
            Credentials::OAuthClient { client_id, .. } => {
                write!(
                    f,
                    "OAuthClient {{ client_id: {client_id:?}, secret: <redacted> }}"
                )
            }
            Credentials::OAuthToken { .. } => write!(f, "OAuthToken {{ <redacted> }}"),
        }
    }
}

/// Receives a new OAuth token pair after a refresh, so it can be stored
/// atomically before the old pair (now invalid) is forgotten.
#[async_trait::async_trait]
pub trait TokenSink: Send + Sync {
    async fn token_refreshed(&self, token: &OAuthToken) -> Result<(), String>;
}

/// Client configuration.
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://{subdomain}.zendesk.com`, or the `ZENDESK_API_URL` override.
    pub base_url: url::Url,
    /// The account's subdomain: when set, `base_url` must be
    /// `https://{subdomain}.zendesk.com` or a loopback address
    /// ([`check_api_url`]).
    pub subdomain: Option<String>,
    pub credentials: Credentials,
    /// Retries of one request on 429/5xx/transport errors before giving up.
    pub max_retries: u32,
    /// Cap of one backoff sleep.
    pub max_backoff: std::time::Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: std::time::Duration,
    /// Requests of the account budget kept in reserve for other clients of the
    /// same account (the limiter sleeps when `remaining <= reserve`).
    pub account_reserve: u32,
    pub token_sink: Option<Arc<dyn TokenSink>>,
    /// What an earlier run learnt of the account's budgets
    /// ([`Client::budgets`]): honoured until their windows turn.
    pub budgets: Vec<BudgetSnapshot>,
    /// Events export pages kept for the next reader of the same start
    /// time on the same connection, in this process ([`KeptPages`]);
    /// `None` keeps nothing.
    pub kept: Option<Keeper>,
}

/// Where the tickets export continues from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketCursor {
    /// First call: `start_time` (epoch seconds).
    Start(i64),
    /// Later calls: `after_cursor` of the previous page.
    After(String),
}

/// One page of the search export (`/api/v2/search/export`, tickets): the
/// path for agents, who may not read the incremental exports.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// The tickets of the page (results of other types are left out).
    pub tickets: Vec<Ticket>,
    /// Where the next page starts; `None` on the last page.
    pub after_cursor: Option<String>,
}

/// One page of `/api/v2/incremental/tickets/cursor` with its sideloads.
#[derive(Debug, Clone, Default)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    pub users: Vec<User>,
    pub organizations: Vec<Organization>,
    pub after_cursor: Option<String>,
    pub end_of_stream: bool,
}

impl TicketPage {
    /// Where the export continues after this page, read from `at`: `None`
    /// at the end of the stream. A page before the end that gives no new
    /// cursor is an error (the loop guard every walk of the export needs).
    pub fn next_cursor(&self, at: &TicketCursor) -> Result<Option<TicketCursor>, Error> {
        if self.end_of_stream {
            return Ok(None);
        }
        match &self.after_cursor {
            Some(c) if !matches!(at, TicketCursor::After(a) if a == c) => {
                Ok(Some(TicketCursor::After(c.clone())))
            }
            _ => Err(Error::Decode {
                endpoint: "/api/v2/incremental/tickets/cursor".into(),
                status: 200,
                detail: "the export returned no new cursor before its end; stopping to avoid a loop (retry later)".into(),
            }),
        }
    }
}

/// One page of `/api/v2/incremental/ticket_events?include=comment_events`.
#[derive(Debug, Clone, Default)]
pub struct EventsPage {
    pub events: Vec<TicketEvent>,
    /// Comment child events as comments, with `ticket_id` and `created_at`
    /// taken from the parent event when the child lacks them.
    pub comments: Vec<Comment>,
    /// Start time of the next page (the page's `end_time`; bumped by one
    /// second when it equals the requested start, so paging always advances).
    pub next_start_time: i64,
    pub end_of_stream: bool,
}

impl EventsPage {
    /// Tickets whose events on this page started an Agent Workspace chat
    /// (a `ChatStartedEvent` child event): their chat lives in their
    /// audits. Sorted, unique.
    pub fn chat_started_tickets(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .events
            .iter()
            .filter(|e| {
                e.child_events
                    .iter()
                    .any(|c| c.kind.as_deref() == Some("ChatStartedEvent"))
            })
            .map(|e| e.ticket_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// One page of `/api/v2/incremental/organizations` (time-based).
#[derive(Debug, Clone, Default)]
pub struct OrganizationsPage {
    pub organizations: Vec<Organization>,
    /// Start time of the next page (see [`EventsPage::next_start_time`]).
    pub next_start_time: i64,
    pub end_of_stream: bool,
}

/// Where a time-based export continues after a page that started at
/// `start` and reported `end_time`: never before `start`, and one second
/// on when the page did not move (every item of that second was in it),
/// so paging always advances. An empty page stays where it was.
pub fn next_start_time(start: i64, end_time: Option<i64>, empty: bool, end_of_stream: bool) -> i64 {
    let mut next = if empty {
        start
    } else {
        end_time.unwrap_or(start).max(start)
    };
    if next == start && !end_of_stream {
        next += 1;
    }
    next
}

/// One page of `/api/v2/incremental/users/cursor`.
#[derive(Debug, Clone, Default)]
pub struct UsersPage {
    pub users: Vec<User>,
    pub after_cursor: Option<String>,
    pub end_of_stream: bool,
}

/// Request counters since the client was built (shared by clones).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    pub retries: u64,
    pub responses_429: u64,
    pub responses_5xx: u64,
    /// Requests counted against the incremental-export budget.
    pub export_requests: u64,
    /// Total time spent sleeping for rate limits and backoff.
    pub slept_ms: u64,
    /// Records left out because their id could not be read (each logged
    /// with its endpoint and position).
    pub skipped_records: u64,
    /// Answers that were not valid UTF-8 (read with U+FFFD replacements).
    pub invalid_utf8_responses: u64,
}

/// Errors of the client. Each carries what failed and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    /// 401: the credentials were refused.
    #[error(
        "Zendesk refused the credentials (401 on {endpoint}): {message}. Check the e-mail and API token, or the OAuth client/token."
    )]
    Unauthorized { endpoint: String, message: String },
    /// 403: authenticated, but not allowed.
    #[error("Zendesk denied access to {endpoint} (403): {message}")]
    Forbidden { endpoint: String, message: String },
    #[error("not found (404): {endpoint}")]
    NotFound { endpoint: String },
    /// 400/409/422: the request was rejected (e.g. an expired or invalid
    /// cursor, `StartTimeTooRecent`).
    #[error("Zendesk rejected the request to {endpoint} ({status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Rejected {
        endpoint: String,
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Retries exhausted on 429/5xx.
    #[error("Zendesk kept failing on {endpoint} (last status {status}) after {attempts} attempts")]
    Exhausted {
        endpoint: String,
        status: u16,
        attempts: u32,
    },
    /// The server asked for a wait longer than the client honours.
    #[error(
        "Zendesk asked to wait {secs} s before retrying {endpoint}, longer than the {} s zdsync waits; the run stops here and the next run continues from the same point",
        crate::retry::MAX_SERVER_WAIT.as_secs()
    )]
    WaitTooLong { endpoint: String, secs: u64 },
    /// The body was not the JSON expected (HTML page, truncated JSON...).
    #[error("unexpected response from {endpoint} (status {status}): {detail}")]
    Decode {
        endpoint: String,
        status: u16,
        /// What was wrong and where; never a value of the body, which may
        /// hold a secret or a customer's words (see [`redact`]).
        detail: String,
    },
    /// Network failure after retries: the endpoint and every cause (DNS,
    /// refused connection, TLS, timeout...).
    #[error("could not reach Zendesk at {endpoint}: {}", causes(.source))]
    Transport {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// A 3xx answer. The client follows no redirect: credentials and
    /// OAuth secrets go only to the configured host.
    #[error(
        "Zendesk answered {endpoint} with a redirect ({status}) to {location}; zdsync follows no redirect, so nothing was sent there. Check the subdomain (a custom or moved account answers at https://<subdomain>.zendesk.com)"
    )]
    Redirected {
        endpoint: String,
        status: u16,
        /// The host the redirect named (never its path or query).
        location: String,
    },
    /// OAuth token endpoint failure.
    #[error(
        "OAuth token request failed ({status}): {message}. Check the OAuth client id/secret or sign in again."
    )]
    OAuth { status: u16, message: String },
    /// Zendesk issued a new OAuth pair that could not be saved. The old
    /// refresh token is spent, so the run stops rather than go on with a
    /// pair that no later run will have.
    #[error(
        "Zendesk issued a new OAuth token, but it could not be saved ({reason}); the previous refresh token is spent: once the secret store is writable again, run `zdsync connect` again for this connection"
    )]
    TokenNotSaved { reason: String },
}

/// An error and its causes, joined (`a: b: c`), each said once.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

impl ClientConfig {
    /// A configuration with the defaults: 6 retries, backoff capped at 60 s,
    /// 60 s per request, no reserve.
    pub fn new(base_url: url::Url, credentials: Credentials) -> Self {
        ClientConfig {
            base_url,
            subdomain: None,
            credentials,
            max_retries: 6,
            max_backoff: std::time::Duration::from_secs(60),
            request_timeout: std::time::Duration::from_secs(60),
            account_reserve: 0,
            token_sink: None,
            budgets: Vec::new(),
            kept: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_based_exports_always_advance() {
        assert_eq!(next_start_time(100, Some(150), false, false), 150);
        assert_eq!(next_start_time(100, Some(100), false, false), 101);
        assert_eq!(next_start_time(100, Some(90), false, true), 100);
        assert_eq!(next_start_time(100, None, true, true), 100);
        assert_eq!(next_start_time(100, Some(500), true, false), 101);
    }

    #[test]
    fn the_tickets_export_continues_only_with_a_new_cursor() {
        let page = |after: Option<&str>, end: bool| TicketPage {
            after_cursor: after.map(str::to_string),
            end_of_stream: end,
            ..Default::default()
        };
        let at = TicketCursor::After("a".into());
        assert_eq!(
            page(Some("b"), false).next_cursor(&at).unwrap(),
            Some(TicketCursor::After("b".into()))
        );
        assert_eq!(page(Some("a"), true).next_cursor(&at).unwrap(), None);
        assert!(
            page(Some("a"), false).next_cursor(&at).is_err(),
            "same cursor"
        );
        assert!(page(None, false).next_cursor(&at).is_err(), "no cursor");
        assert_eq!(
            page(Some("a"), false)
                .next_cursor(&TicketCursor::Start(0))
                .unwrap(),
            Some(TicketCursor::After("a".into()))
        );
    }
}
