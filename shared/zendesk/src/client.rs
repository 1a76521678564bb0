//! The HTTP client: authentication, pacing, retries, typed pages.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::lenient;
use crate::limiter::{Bucket, Limiter, Reserve};
use crate::retry::{Decision, Outcome, decide};
use crate::types::{
    Audit, ChatHistoryItem, Comment, CustomFieldDef, Id, LogEvent, OAuthToken, Organization,
    SatisfactionReason, Ticket, TicketEvent, TicketField, User,
};
use crate::{
    ClientConfig, Credentials, Error, EventsPage, OrganizationsPage, RequestStats, SearchPage,
    TicketCursor, TicketPage, UsersPage,
};

/// Turns a subdomain into the default API base URL.
pub fn default_base_url(subdomain: &str) -> Result<url::Url, Error> {
    url::Url::parse(&format!("https://{subdomain}.zendesk.com")).map_err(|e| {
        Error::Config(format!(
            "{subdomain:?} does not make a valid Zendesk URL: {e}"
        ))
    })
}

/// Whether credentials may be sent to `url`: a loopback address over http
/// or https (tests and the simulator), else https only, without user info,
/// and, when the account's `subdomain` is known, only to
/// `https://{subdomain}.zendesk.com`. Anything else is refused with the
/// reason. The one rule for every client ([`Client::new`]) and for the
/// engine's early check of a connection's address.
pub fn check_api_url(subdomain: Option<&str>, url: &url::Url) -> Result<(), String> {
    let shown = url.as_str().trim_end_matches('/');
    if is_loopback(url) && matches!(url.scheme(), "http" | "https") {
        return Ok(());
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            return Err(format!(
                "{shown} uses plain http, which is allowed only for loopback addresses; use https://"
            ));
        }
        other => {
            return Err(format!(
                "{shown}: unsupported scheme {other:?}; use https://"
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{shown} holds user information; give the address alone"
        ));
    }
    let Some(subdomain) = subdomain else {
        return Ok(());
    };
    let expected = format!("{}.zendesk.com", subdomain.to_ascii_lowercase());
    if url
        .host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case(&expected))
    {
        return Ok(());
    }
    Err(format!(
        "{shown} is neither https://{expected} nor a loopback address: zdsync sends the credentials of this account nowhere else"
    ))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    r429: AtomicU64,
    r5xx: AtomicU64,
    export: AtomicU64,
    /// Requests on the conversation logs' budget.
    logs: AtomicU64,
    slept_ms: AtomicU64,
    /// Records left out of a page because their id could not be read.
    skipped: AtomicU64,
    /// Answers whose bytes were not valid UTF-8 (read with replacements).
    invalid_utf8: AtomicU64,
    /// The server's clock from the last response's `Date` header (epoch s).
    server_date: std::sync::atomic::AtomicI64,
}

struct Auth {
    bearer: Option<String>,
    refresh: Option<String>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    base_url: url::Url,
    cfg: ClientConfig,
    limiter: Limiter,
    auth: Mutex<Auth>,
    counters: Counters,
}

/// A cheap-to-clone Zendesk client (clones share the limiter and stats).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// What this handle leaves of each window to the client's other
    /// handles, besides the configured reserve, and what it sent
    /// ([`Client::yielding`]); `None` on an ordinary handle.
    yields: Option<Arc<Yielding>>,
    /// A yielding handle's requests that leave the others nothing but the
    /// configured reserve ([`Client::hurried`]); still counted as its own.
    hurried: bool,
}

/// A yielding handle's reserves and counts.
#[derive(Default)]
struct Yielding {
    /// What it leaves of the account budget's windows.
    account: std::sync::Mutex<Reserve>,
    /// What it leaves of the conversation logs' budget's windows.
    logs: std::sync::Mutex<Reserve>,
    sent: AtomicU64,
    sent_export: AtomicU64,
    sent_logs: AtomicU64,
}

/// Requests sent, retries included: all, those on the export budget and
/// those on the conversation logs' budget.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub requests: u64,
    pub export: u64,
    pub logs: u64,
}

impl Sent {
    /// What was sent besides `part` of it.
    pub fn less(self, part: Sent) -> Sent {
        Sent {
            requests: self.requests.saturating_sub(part.requests),
            export: self.export.saturating_sub(part.export),
            logs: self.logs.saturating_sub(part.logs),
        }
    }
}

/// The `Date` header as epoch seconds (RFC 9110 format).
fn http_date(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let v = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    jiff::fmt::rfc2822::parse(v)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// The largest answer read: Zendesk's biggest pages (1,000 tickets or
/// events with comments) stay far below it.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Reads a body up to [`MAX_BODY_BYTES`]. The outer error (not retried) is
/// a body past the cap; the inner one a transport failure (retried).
async fn read_capped(
    mut resp: reqwest::Response,
    endpoint: &str,
) -> Result<Result<Vec<u8>, reqwest::Error>, Error> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > MAX_BODY_BYTES {
                    return Err(Error::Decode {
                        endpoint: endpoint.into(),
                        status: resp.status().as_u16(),
                        detail: format!(
                            "the answer is larger than {} MiB, far above any Zendesk page; not read",
                            MAX_BODY_BYTES / (1024 * 1024)
                        ),
                    });
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(Ok(out)),
            Err(e) => return Ok(Err(e)),
        }
    }
}

/// Pages a cursor-paginated list (comments of a ticket, field definitions)
/// may take: 100,000 records, far above what Zendesk holds (5,000 comments a
/// ticket), so a server that keeps sending new cursors cannot stall a run.
const MAX_LIST_PAGES: usize = 1000;

/// The error of a 3xx answer, naming the host of its `Location`; `None`
/// for any other answer.
fn redirected(endpoint: &str, resp: &reqwest::Response) -> Option<Error> {
    let status = resp.status().as_u16();
    if !(300..400).contains(&status) {
        return None;
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok());
    Some(Error::Redirected {
        endpoint: endpoint.into(),
        status,
        location: location_host(location),
    })
}

/// What one request ended with.
enum Step<T> {
    Value(T),
    /// Worth retrying; the error to give when retries are spent (`None`:
    /// [`exhausted`]).
    Retry(Outcome, Option<Error>),
    /// A 401: worth one retry with a renewed token.
    Unauthorized(Error),
    /// Not worth retrying.
    Refused(Error),
}

/// A request that could not be sent or whose body could not be read.
fn transport_failure<T>(endpoint: &str, e: reqwest::Error) -> Step<T> {
    tracing::debug!(endpoint, error = %e, "transport error");
    Step::Retry(
        Outcome::Transport,
        Some(Error::Transport {
            endpoint: endpoint.into(),
            source: e,
        }),
    )
}

/// The error after the last retry of a 429 or 5xx.
fn exhausted(endpoint: &str, outcome: &Outcome, attempt: u32) -> Error {
    let status = match outcome {
        Outcome::TooManyRequests { .. } => 429,
        Outcome::ServerError { status, .. } => *status,
        _ => 0,
    };
    Error::Exhausted {
        endpoint: endpoint.into(),
        status,
        attempts: attempt + 1,
    }
}

/// The error of an answer that is neither a success nor worth a retry
/// (403, 404, 400, 409, 422...).
fn refused(endpoint: &str, status: u16, body: &str) -> Error {
    let (code, message) = error_parts(body);
    match status {
        403 => Error::Forbidden {
            endpoint: endpoint.into(),
            message: if message.trim().is_empty() {
                "forbidden".into()
            } else {
                message
            },
        },
        404 => Error::NotFound {
            endpoint: endpoint.into(),
        },
        _ => Error::Rejected {
            endpoint: endpoint.into(),
            status,
            code,
            message,
        },
    }
}

/// This machine's clock, epoch milliseconds.
fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The host a `Location` header names, without path, query or user info.
fn location_host(location: Option<&str>) -> String {
    match location.map(url::Url::parse) {
        None => "no location".into(),
        Some(Ok(u)) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            (None, _) => "a location without a host".into(),
        },
        Some(Err(_)) => "another path of the same host".into(),
    }
}

/// `{"error": "...", "description": "..."}` or `{"error": {"title", "message"}}`.
fn error_parts(body: &str) -> (Option<String>, String) {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return (None, crate::redact::body_kind(body));
    };
    let code = match &v["error"] {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("title").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    let message = ["description", "error_description", "details", "message"]
        .iter()
        .find_map(|k| match &v[*k] {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
        .or_else(|| v["error"]["message"].as_str().map(str::to_string))
        .or_else(|| code.clone())
        .unwrap_or_else(|| crate::redact::body_kind(body));
    (code, message)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .map(|s| s.max(0.0).ceil() as u64)
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let url = &config.base_url;
        check_api_url(config.subdomain.as_deref(), url).map_err(Error::Config)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("zdsync/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the Authorization header or an OAuth
            // body to whatever host it names: a 3xx is an error instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let (bearer, refresh) = match &config.credentials {
            Credentials::OAuthToken {
                access_token,
                refresh_token,
                ..
            } => (Some(access_token.clone()), refresh_token.clone()),
            _ => (None, None),
        };
        let limiter = Limiter::default();
        limiter.seed(&config.budgets, tokio::time::Instant::now(), epoch_ms());
        Ok(Client {
            yields: None,
            hurried: false,
            inner: Arc::new(Inner {
                http,
                base: url.as_str().trim_end_matches('/').to_string(),
                base_url: url.clone(),
                cfg: config,
                limiter,
                auth: Mutex::new(Auth { bearer, refresh }),
                counters: Counters::default(),
            }),
        })
    }

    pub fn base_url(&self) -> &url::Url {
        &self.inner.base_url
    }

    /// Zendesk's clock as of the last response (its `Date` header), if any
    /// response carried a readable one. Used to plan work in Zendesk's time
    /// rather than this machine's.
    pub fn server_time(&self) -> Option<i64> {
        let t = self.inner.counters.server_date.load(Ordering::Relaxed);
        (t > 0).then_some(t)
    }

    /// What this client knows now of the account's budgets, for the next
    /// run to honour ([`ClientConfig::budgets`]).
    pub fn budgets(&self) -> Vec<crate::BudgetSnapshot> {
        self.inner
            .limiter
            .snapshot(tokio::time::Instant::now(), epoch_ms())
    }

    /// The sizes of the account's budgets a minute, as its answers so far
    /// announced them.
    pub fn limits(&self) -> crate::Limits {
        self.inner.limiter.limits()
    }

    pub fn stats(&self) -> RequestStats {
        let c = &self.inner.counters;
        RequestStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            responses_429: c.r429.load(Ordering::Relaxed),
            responses_5xx: c.r5xx.load(Ordering::Relaxed),
            export_requests: c.export.load(Ordering::Relaxed),
            slept_ms: c.slept_ms.load(Ordering::Relaxed),
            skipped_records: c.skipped.load(Ordering::Relaxed),
            invalid_utf8_responses: c.invalid_utf8.load(Ordering::Relaxed),
        }
    }

    /// The text of an answer. Bytes that are not UTF-8 are replaced (U+FFFD),
    /// counted and logged, never dropped silently.
    fn text_of(&self, endpoint: &str, bytes: &[u8]) -> String {
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            Err(e) => {
                self.inner
                    .counters
                    .invalid_utf8
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    endpoint,
                    at_byte = e.valid_up_to(),
                    "the answer is not valid UTF-8; invalid bytes were replaced with U+FFFD"
                );
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
    }

    /// The records of a list in an answer, one by one: a record whose id
    /// cannot be read is skipped, counted and logged by its position (never
    /// its content), and the others still land.
    fn records<T: DeserializeOwned>(&self, endpoint: &str, list: Value) -> Vec<T> {
        let read = crate::lenient::records(list);
        for position in &read.skipped {
            tracing::warn!(
                endpoint,
                position,
                "skipped a record whose id cannot be read"
            );
        }
        self.skipped(read.skipped.len());
        read.items
    }

    fn skipped(&self, n: usize) {
        if n > 0 {
            self.inner
                .counters
                .skipped
                .fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
        self.inner
            .counters
            .slept_ms
            .fetch_add(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// The Authorization header for the next request (asks for an OAuth
    /// token first when needed).
    async fn authorization(&self) -> Result<String, Error> {
        match &self.inner.cfg.credentials {
            Credentials::ApiToken { email, token } => {
                let raw = format!("{email}/token:{token}");
                Ok(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                ))
            }
            _ => {
                let mut auth = self.inner.auth.lock().await;
                if auth.bearer.is_none() {
                    let t = self.token_request(&mut auth, false).await?;
                    auth.bearer = Some(t);
                }
                Ok(format!(
                    "Bearer {}",
                    auth.bearer.as_deref().unwrap_or_default()
                ))
            }
        }
    }

    /// After a 401: a new OAuth token if the credentials allow one. Returns
    /// whether a retry makes sense.
    async fn renew(&self, failed_header: &str) -> Result<bool, Error> {
        let mut auth = self.inner.auth.lock().await;
        if let Some(b) = &auth.bearer
            && format!("Bearer {b}") != failed_header
        {
            return Ok(true); // another task renewed it already
        }
        match &self.inner.cfg.credentials {
            Credentials::ApiToken { .. } => Ok(false),
            Credentials::OAuthClient { .. } => {
                let t = self.token_request(&mut auth, false).await?;
                auth.bearer = Some(t);
                Ok(true)
            }
            Credentials::OAuthToken { client_id, .. } => {
                if auth.refresh.is_none() || client_id.is_none() {
                    return Ok(false);
                }
                let t = self.token_request(&mut auth, true).await?;
                auth.bearer = Some(t);
                Ok(true)
            }
        }
    }

    /// `POST /oauth/tokens`. With `refresh`, exchanges the refresh token and
    /// hands the new pair to the token sink before it is used.
    async fn token_request(&self, auth: &mut Auth, refresh: bool) -> Result<String, Error> {
        let (client_id, client_secret) = match &self.inner.cfg.credentials {
            Credentials::OAuthClient {
                client_id,
                client_secret,
            } => (Some(client_id.clone()), Some(client_secret.clone())),
            Credentials::OAuthToken {
                client_id,
                client_secret,
                ..
            } => (client_id.clone(), client_secret.clone()),
            Credentials::ApiToken { .. } => {
                return Err(Error::Config("no OAuth client configured".into()));
            }
        };
        let mut body = Map::new();
        body.insert(
            "client_id".into(),
            client_id.map(Value::String).unwrap_or(Value::Null),
        );
        body.insert(
            "client_secret".into(),
            client_secret.map(Value::String).unwrap_or(Value::Null),
        );
        body.insert("scope".into(), Value::String("read".into()));
        if refresh {
            body.insert("grant_type".into(), "refresh_token".into());
            body.insert(
                "refresh_token".into(),
                auth.refresh
                    .clone()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            );
        } else {
            body.insert("grant_type".into(), "client_credentials".into());
        }
        let url = format!("{}/oauth/tokens", self.inner.base);
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .inner
            .http
            .post(&url)
            .json(&Value::Object(body))
            .send()
            .await
            .map_err(|e| Error::Transport {
                endpoint: "/oauth/tokens".into(),
                source: e,
            })?;
        if let Some(e) = redirected("/oauth/tokens", &resp) {
            return Err(e);
        }
        let status = resp.status().as_u16();
        let bytes = read_capped(resp, "/oauth/tokens")
            .await?
            .map_err(|e| Error::Transport {
                endpoint: "/oauth/tokens".into(),
                source: e,
            })?;
        let text = self.text_of("/oauth/tokens", &bytes);
        if !(200..300).contains(&status) {
            let (_, message) = error_parts(&text);
            return Err(Error::OAuth { status, message });
        }
        let token: OAuthToken = serde_json::from_str(&text).map_err(|e| Error::Decode {
            endpoint: "/oauth/tokens".into(),
            status,
            detail: crate::redact::json_error(&e),
        })?;
        if refresh {
            if let Some(sink) = &self.inner.cfg.token_sink {
                sink.token_refreshed(&token)
                    .await
                    .map_err(|reason| Error::TokenNotSaved { reason })?;
            }
            auth.refresh = token.refresh_token.clone().or(auth.refresh.take());
        }
        Ok(token.access_token)
    }

    /// GETs `path` (with query) and decodes it, pacing and retrying.
    /// `path_for` gets the number of 504s seen so far (to shrink pages).
    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        path_for: &(dyn Fn(u32) -> String + Sync),
    ) -> Result<T, Error> {
        let bucket = Bucket::for_path(endpoint);
        let cfg = &self.inner.cfg;
        let mut attempt = 0u32;
        let mut timeouts_504 = 0u32;
        let mut renewed = false;
        loop {
            self.pace(bucket).await;
            let auth = self.authorization().await?;
            let url = format!("{}{}", self.inner.base, path_for(timeouts_504));
            let (outcome, last) = match self.attempt(endpoint, bucket, &url, &auth).await? {
                Step::Value(v) => return Ok(v),
                Step::Refused(e) => return Err(e),
                Step::Unauthorized(e) => {
                    if !renewed && self.renew(&auth).await? {
                        renewed = true;
                        continue;
                    }
                    return Err(e);
                }
                Step::Retry(outcome, last) => (outcome, last),
            };
            if matches!(outcome, Outcome::ServerError { status: 504, .. }) {
                timeouts_504 += 1;
            }
            let jitter: f64 = rand::random();
            match decide(&outcome, attempt, cfg.max_retries, cfg.max_backoff, jitter) {
                Decision::RetryAfter(d) => {
                    tracing::debug!(
                        endpoint,
                        ?outcome,
                        wait_ms = d.as_millis() as u64,
                        "retrying"
                    );
                    self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    self.sleep(d).await;
                    attempt += 1;
                }
                Decision::WaitTooLong(secs) => {
                    return Err(Error::WaitTooLong {
                        endpoint: endpoint.into(),
                        secs,
                    });
                }
                Decision::GiveUp => {
                    return Err(last.unwrap_or_else(|| exhausted(endpoint, &outcome, attempt)));
                }
            }
        }
    }

    /// A handle on the same limiter and counters whose requests leave the
    /// other handles what [`Client::yield_to_others`] says of every
    /// window of the account's and the conversation logs' budgets: a bulk
    /// walk beside another gives that one the way. It counts its own
    /// requests ([`Client::sent_here`]).
    pub fn yielding(&self) -> Client {
        Client {
            inner: self.inner.clone(),
            yields: Some(Arc::default()),
            hurried: false,
        }
    }

    /// This yielding handle, leaving the others nothing but the configured
    /// reserve while still counting what it sends as its own: for the few
    /// requests a walk sends while the other walk waits for it (a lock it
    /// holds), which must not wait for a window the other would have to
    /// wait out too.
    pub fn hurried(&self) -> Client {
        Client {
            inner: self.inner.clone(),
            yields: self.yields.clone(),
            hurried: true,
        }
    }

    /// Sets what a yielding handle leaves the others of the account's
    /// (`account`) and the conversation logs' (`logs`) windows (nothing on
    /// another handle).
    pub fn yield_to_others(&self, account: Reserve, logs: Reserve) {
        if let Some(y) = &self.yields {
            for (cell, reserve) in [(&y.account, account), (&y.logs, logs)] {
                if let Ok(mut r) = cell.lock() {
                    *r = reserve;
                }
            }
        }
    }

    /// Requests a yielding handle (and its clones) sent.
    pub fn sent_here(&self) -> Option<Sent> {
        self.yields.as_ref().map(|y| Sent {
            requests: y.sent.load(Ordering::Relaxed),
            export: y.sent_export.load(Ordering::Relaxed),
            logs: y.sent_logs.load(Ordering::Relaxed),
        })
    }

    /// Requests all handles of this client sent.
    pub fn sent(&self) -> Sent {
        let c = &self.inner.counters;
        Sent {
            requests: c.requests.load(Ordering::Relaxed),
            export: c.export.load(Ordering::Relaxed),
            logs: c.logs.load(Ordering::Relaxed),
        }
    }

    /// What this handle leaves others of `bucket`'s windows: the configured
    /// account reserve, and a yielding handle's reserves.
    fn reserve(&self, bucket: Bucket) -> Reserve {
        let base = match bucket {
            Bucket::Account => Reserve::from(self.inner.cfg.account_reserve),
            _ => Reserve::default(),
        };
        if self.hurried {
            return base;
        }
        let yielded = self.yields.as_ref().and_then(|y| match bucket {
            Bucket::Account => y.account.lock().ok().map(|r| *r),
            Bucket::ConversationLog => y.logs.lock().ok().map(|r| *r),
            _ => None,
        });
        yielded.map_or(base, |y| Reserve {
            requests: base.requests.saturating_add(y.requests),
            share: y.share,
        })
    }

    /// How long until `bucket`'s rate window turns, as the last answer
    /// told (`None`: not known, or turned already).
    pub fn turns_in(&self, bucket: Bucket) -> Option<std::time::Duration> {
        self.inner
            .limiter
            .turns_in(bucket, tokio::time::Instant::now())
    }

    /// Requests of `bucket`'s budget left in its window as it stands, to
    /// any handle (`None`: not known, as when the window has turned and no
    /// answer told of the new one yet).
    pub fn left(&self, bucket: Bucket) -> Option<u32> {
        self.inner
            .limiter
            .room(bucket, Reserve::default(), tokio::time::Instant::now())
    }

    /// The account requests this handle may still send in the rate window
    /// as it stands, leaving what it leaves others (`None`: not known, as
    /// when the window has just turned).
    pub fn room(&self) -> Option<u32> {
        let reserve = self.reserve(Bucket::Account);
        self.inner
            .limiter
            .room(Bucket::Account, reserve, tokio::time::Instant::now())
    }

    /// Waits for `bucket`'s budget, counting the time slept.
    async fn pace(&self, bucket: Bucket) {
        let yielding = self.yields.is_some();
        let slept = self
            .inner
            .limiter
            .acquire(bucket, yielding, |b| self.reserve(b))
            .await;
        if !slept.is_zero() {
            self.inner
                .counters
                .slept_ms
                .fetch_add(slept.as_millis() as u64, Ordering::Relaxed);
        }
    }

    /// One request and what it ended with. A failure to send or to read the
    /// body is retried like any other ([`Outcome::Transport`]).
    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        bucket: Bucket,
        url: &str,
        auth: &str,
    ) -> Result<Step<T>, Error> {
        let c = &self.inner.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        let logs = bucket == Bucket::ConversationLog;
        if let Some(y) = &self.yields {
            y.sent.fetch_add(1, Ordering::Relaxed);
            if bucket.is_export() {
                y.sent_export.fetch_add(1, Ordering::Relaxed);
            }
            if logs {
                y.sent_logs.fetch_add(1, Ordering::Relaxed);
            }
        }
        if bucket.is_export() {
            c.export.fetch_add(1, Ordering::Relaxed);
        }
        if logs {
            c.logs.fetch_add(1, Ordering::Relaxed);
        }
        let sent = self
            .inner
            .http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => return Ok(transport_failure(endpoint, e)),
        };
        if let Some(e) = redirected(endpoint, &resp) {
            return Err(e);
        }
        let status = resp.status().as_u16();
        let headers = resp.headers();
        self.inner
            .limiter
            .observe(bucket, headers, tokio::time::Instant::now());
        let after = retry_after(headers);
        if let Some(t) = http_date(headers) {
            c.server_date.store(t, Ordering::Relaxed);
        }
        let body = match read_capped(resp, endpoint).await? {
            Ok(b) => self.text_of(endpoint, &b),
            Err(e) => return Ok(transport_failure(endpoint, e)),
        };
        tracing::debug!(endpoint, status, "response");
        Ok(self.judge(endpoint, status, after, &body))
    }

    /// What an answer means: its value, a retry, or an error.
    fn judge<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        status: u16,
        retry_after: Option<u64>,
        body: &str,
    ) -> Step<T> {
        match status {
            200..=299 => match serde_json::from_str::<T>(body) {
                Ok(v) => Step::Value(v),
                Err(e) => Step::Retry(
                    Outcome::Garbled,
                    Some(Error::Decode {
                        endpoint: endpoint.into(),
                        status,
                        detail: format!(
                            "{}; {}",
                            crate::redact::json_error(&e),
                            crate::redact::body_kind(body)
                        ),
                    }),
                ),
            },
            429 => {
                self.inner.counters.r429.fetch_add(1, Ordering::Relaxed);
                Step::Retry(Outcome::TooManyRequests { retry_after }, None)
            }
            500..=599 => {
                self.inner.counters.r5xx.fetch_add(1, Ordering::Relaxed);
                Step::Retry(
                    Outcome::ServerError {
                        status,
                        retry_after,
                    },
                    None,
                )
            }
            401 => Step::Unauthorized(self.unauthorized(endpoint, body)),
            _ => Step::Refused(refused(endpoint, status, body)),
        }
    }

    /// The error of a 401 that a new token cannot mend.
    fn unauthorized(&self, endpoint: &str, body: &str) -> Error {
        let (_, message) = error_parts(body);
        let message = if matches!(self.inner.cfg.credentials, Credentials::OAuthToken { .. }) {
            format!(
                "{message} (the OAuth access token expired or was revoked and cannot be refreshed)"
            )
        } else {
            message
        };
        Error::Unauthorized {
            endpoint: endpoint.into(),
            message,
        }
    }

    /// `GET /api/v2/users/me` (anonymous callers get `id: null`; an answer
    /// without a readable user reads as anonymous).
    pub async fn me(&self) -> Result<User, Error> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default, deserialize_with = "lenient::de::opt")]
            user: Option<User>,
        }
        let r: R = self
            .get("/api/v2/users/me", &|_| "/api/v2/users/me".into())
            .await?;
        Ok(r.user.unwrap_or_default())
    }

    /// Every record of a cursor-paginated list (`page[size]=100`, following
    /// `meta.after_cursor` while `meta.has_more`), read one by one from the
    /// list under `key`. A cursor that comes back twice is an error.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        key: &str,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let url = match &after {
                None => format!("{path}?page[size]=100"),
                Some(c) => format!("{path}?page[size]=100&page[after]={}", enc(c)),
            };
            let mut page: Map<String, Value> = self.get(endpoint, &|_| url.clone()).await?;
            let list = page.remove(key).unwrap_or(Value::Null);
            out.extend(self.records::<T>(endpoint, list));
            let meta = page.remove("meta").map(Meta::read).unwrap_or_default();
            match meta.after_cursor.filter(|_| meta.has_more) {
                Some(c) if Some(&c) == after.as_ref() => {
                    return Err(Error::Decode {
                        endpoint: path.to_string(),
                        status: 200,
                        detail: "the same page cursor came back twice; stopping to avoid a loop"
                            .into(),
                    });
                }
                Some(c) => after = Some(c),
                None => return Ok(out),
            }
        }
        Err(Error::Decode {
            endpoint: path.to_string(),
            status: 200,
            detail: format!(
                "more than {MAX_LIST_PAGES} pages (a ticket holds at most 5,000 comments); stopping to avoid a loop"
            ),
        })
    }

    /// `GET /api/v2/ticket_fields` (all pages).
    pub async fn ticket_fields(&self) -> Result<Vec<TicketField>, Error> {
        self.all_pages(
            "/api/v2/ticket_fields",
            "/api/v2/ticket_fields",
            "ticket_fields",
        )
        .await
    }

    /// `GET /api/v2/user_fields` (all pages): the definitions of users'
    /// custom fields.
    pub async fn user_fields(&self) -> Result<Vec<CustomFieldDef>, Error> {
        self.all_pages("/api/v2/user_fields", "/api/v2/user_fields", "user_fields")
            .await
    }

    /// `GET /api/v2/organization_fields` (all pages).
    pub async fn organization_fields(&self) -> Result<Vec<CustomFieldDef>, Error> {
        self.all_pages(
            "/api/v2/organization_fields",
            "/api/v2/organization_fields",
            "organization_fields",
        )
        .await
    }

    /// `GET /api/v2/satisfaction_reasons`.
    pub async fn satisfaction_reasons(&self) -> Result<Vec<SatisfactionReason>, Error> {
        let endpoint = "/api/v2/satisfaction_reasons";
        let mut r: Map<String, Value> = self.get(endpoint, &|_| endpoint.into()).await?;
        // The reference names the list `reasons`; older answers used the
        // endpoint's name.
        let list = r
            .remove("reasons")
            .or_else(|| r.remove("satisfaction_reasons"))
            .unwrap_or(Value::Null);
        Ok(self.records(endpoint, list))
    }

    /// One page of the tickets cursor export, `per_page=1000`,
    /// `include=users,organizations,comment_count` (halved after a 504).
    pub async fn tickets_page(&self, at: &TicketCursor) -> Result<TicketPage, Error> {
        const ENDPOINT: &str = "/api/v2/incremental/tickets/cursor";
        let position = match at {
            TicketCursor::Start(t) => format!("start_time={t}"),
            TicketCursor::After(c) => format!("cursor={}", enc(c)),
        };
        let path = |shrink: u32| {
            let per_page = (1000u32 >> shrink.min(3)).max(100);
            format!(
                "{ENDPOINT}?{position}&per_page={per_page}&include=users,organizations,comment_count"
            )
        };
        let r: CursorPage = self.get(ENDPOINT, &path).await?;
        let mut lists = r.lists;
        let mut take = |key: &str| lists.remove(key).unwrap_or(Value::Null);
        let (tickets, users, orgs) = (take("tickets"), take("users"), take("organizations"));
        Ok(TicketPage {
            tickets: self.records(ENDPOINT, tickets),
            users: self.records(ENDPOINT, users),
            organizations: self.records(ENDPOINT, orgs),
            after_cursor: r.after_cursor,
            end_of_stream: r.end_of_stream,
        })
    }

    /// One page of the ticket events export with comment events: the page
    /// kept for this start time, if another step of this process read it
    /// moments ago ([`Client::ticket_events_page_kept`]), else read now.
    pub async fn ticket_events_page(&self, start_time: i64) -> Result<EventsPage, Error> {
        let kept = self.inner.cfg.kept.as_ref();
        if let Some(page) = kept.and_then(|k| k.take(start_time, std::time::Instant::now())) {
            tracing::debug!(start_time, "events page served from the one kept");
            return Ok(page);
        }
        self.read_events_page(start_time).await
    }

    /// [`Client::ticket_events_page`], with a copy of the page kept for the
    /// next reader of the same start time in this process (a backfill's
    /// plan reads the pages its first runs read next).
    pub async fn ticket_events_page_kept(&self, start_time: i64) -> Result<EventsPage, Error> {
        let page = self.ticket_events_page(start_time).await?;
        if let Some(kept) = &self.inner.cfg.kept {
            kept.keep(start_time, page.clone(), std::time::Instant::now());
        }
        Ok(page)
    }

    async fn read_events_page(&self, start_time: i64) -> Result<EventsPage, Error> {
        const ENDPOINT: &str = "/api/v2/incremental/ticket_events";
        let path = format!("{ENDPOINT}?start_time={start_time}&include=comment_events");
        let r: TimePage = self.get(ENDPOINT, &|_| path.clone()).await?;
        let mut lists = r.lists;
        let list = lists.remove("ticket_events").unwrap_or(Value::Null);
        let events: Vec<TicketEvent> = self.records(ENDPOINT, list);
        let mut comments = Vec::new();
        for (position, ev) in events.iter().enumerate() {
            self.comments_of_event(ev, position, &mut comments);
        }
        Ok(EventsPage {
            next_start_time: crate::next_start_time(
                start_time,
                r.end_time,
                events.is_empty(),
                r.end_of_stream,
            ),
            events,
            comments,
            end_of_stream: r.end_of_stream,
        })
    }

    /// The comment children of one event as comments: the ticket id, the
    /// time and the `via` come from the parent when the child has none. A
    /// child whose id cannot be read is skipped and counted.
    fn comments_of_event(&self, ev: &TicketEvent, position: usize, out: &mut Vec<Comment>) {
        for (child_position, child) in ev.child_events.iter().enumerate() {
            if child.kind.as_deref() != Some("Comment") {
                continue;
            }
            let mut obj = child.rest.clone();
            if let Some(id) = child.id {
                obj.insert("id".into(), id.into());
            }
            obj.insert("ticket_id".into(), ev.ticket_id.into());
            if lenient::as_time(obj.get("created_at").unwrap_or(&Value::Null)).is_none() {
                let at = ev.created_at.clone().or_else(|| {
                    ev.timestamp
                        .and_then(|t| jiff::Timestamp::from_second(t).ok())
                        .map(|t| t.to_string())
                });
                obj.insert("created_at".into(), at.map_or(Value::Null, Value::String));
            }
            if lenient::as_via(obj.get("via").unwrap_or(&Value::Null)).is_none()
                && let Some(via) = &ev.via
            {
                obj.insert(
                    "via".into(),
                    serde_json::json!({"channel": via.channel, "source": via.source}),
                );
            }
            match serde_json::from_value::<Comment>(Value::Object(obj)) {
                Ok(c) => out.push(c),
                Err(_) => {
                    tracing::warn!(
                        endpoint = "/api/v2/incremental/ticket_events",
                        position,
                        child_position,
                        "skipped a comment event whose id cannot be read"
                    );
                    self.skipped(1);
                }
            }
        }
    }

    /// All comments of one ticket (cursor pagination, 100 a page), oldest first.
    pub async fn ticket_comments(&self, ticket_id: Id) -> Result<Vec<Comment>, Error> {
        let path = format!("/api/v2/tickets/{ticket_id}/comments");
        let comments: Vec<Comment> = self
            .all_pages("/api/v2/tickets/comments", &path, "comments")
            .await?;
        Ok(comments
            .into_iter()
            .map(|mut c| {
                c.ticket_id.get_or_insert(ticket_id);
                c
            })
            .collect())
    }

    /// The Agent Workspace chat of a ticket: the history of every
    /// `ChatStartedEvent` in its audits (cursor pages of 100), in order.
    pub async fn chat_history(&self, ticket_id: Id) -> Result<Vec<ChatHistoryItem>, Error> {
        let path = format!("/api/v2/tickets/{ticket_id}/audits");
        let audits: Vec<Audit> = self
            .all_pages("/api/v2/tickets/audits", &path, "audits")
            .await?;
        Ok(audits
            .into_iter()
            .flat_map(|a| a.events)
            .filter(|e| e.kind.as_deref() == Some("ChatStartedEvent"))
            .flat_map(|e| e.value.map(|v| v.history).unwrap_or_default())
            .collect())
    }

    /// The conversation log of a messaging ticket (cursor pages of 100,
    /// under the log's own budget), in order.
    pub async fn conversation_log(&self, ticket_id: Id) -> Result<Vec<LogEvent>, Error> {
        let path = format!("/api/v2/tickets/{ticket_id}/conversation_log");
        self.all_pages("/api/v2/tickets/conversation_log", &path, "events")
            .await
    }

    /// One page of tickets from the search export (agents may call it):
    /// `query` in Zendesk's search language (`updated>=2024-03-15T12:00:00Z
    /// updated<2024-03-16T00:00:00Z`), 1,000 results a page, ordered by
    /// creation (newest first). Results of other types are left out, and a
    /// ticket whose id cannot be read is skipped and counted.
    pub async fn search_tickets_page(
        &self,
        query: &str,
        after: Option<&str>,
    ) -> Result<SearchPage, Error> {
        const ENDPOINT: &str = "/api/v2/search/export";
        let mut path = format!(
            "{ENDPOINT}?query={}&filter[type]=ticket&page[size]=1000",
            enc(query)
        );
        if let Some(a) = after {
            path.push_str(&format!("&page[after]={}", enc(a)));
        }
        let mut page: Map<String, Value> = self.get(ENDPOINT, &|_| path.clone()).await?;
        let results = match page.remove("results").unwrap_or(Value::Null) {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .filter(|r| {
                        r.get("result_type")
                            .and_then(Value::as_str)
                            .is_none_or(|t| t == "ticket")
                    })
                    .collect(),
            ),
            other => other,
        };
        let tickets = self.records::<Ticket>(ENDPOINT, results);
        let meta = page.remove("meta").map(Meta::read).unwrap_or_default();
        Ok(SearchPage {
            tickets,
            after_cursor: meta.after_cursor.filter(|_| meta.has_more),
        })
    }

    /// `users/show_many` in chunks of 100; missing ids are simply absent.
    pub async fn users_show_many(&self, ids: &[Id]) -> Result<Vec<User>, Error> {
        let users: Vec<User> = self.show_many("users", ids).await?;
        Ok(users.into_iter().filter(|u| u.id.is_some()).collect())
    }

    /// One ticket (`/tickets/{id}`); `None` when Zendesk has no such ticket
    /// (404: deleted or never made).
    pub async fn ticket(&self, ticket_id: Id) -> Result<Option<Ticket>, Error> {
        #[derive(Deserialize)]
        struct R {
            #[serde(default, deserialize_with = "lenient::de::opt")]
            ticket: Option<Ticket>,
        }
        let path = format!("/api/v2/tickets/{ticket_id}");
        match self
            .get::<R>("/api/v2/tickets/show", &|_| path.clone())
            .await
        {
            Ok(r) => Ok(r.ticket),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `tickets/show_many` in chunks of 100: the tickets that exist and the
    /// caller may see (deleted ones are absent).
    pub async fn tickets_show_many(&self, ids: &[Id]) -> Result<Vec<Ticket>, Error> {
        self.show_many("tickets", ids).await
    }

    /// `organizations/show_many` in chunks of 100.
    pub async fn organizations_show_many(&self, ids: &[Id]) -> Result<Vec<Organization>, Error> {
        self.show_many("organizations", ids).await
    }

    /// `GET /api/v2/{kind}/show_many?ids=...` (100 ids a request), the list
    /// under the `{kind}` key of each answer.
    async fn show_many<T: DeserializeOwned>(
        &self,
        kind: &str,
        ids: &[Id],
    ) -> Result<Vec<T>, Error> {
        let endpoint = format!("/api/v2/{kind}/show_many");
        let mut out = Vec::new();
        for chunk in ids.chunks(100) {
            let path = format!("{endpoint}?ids={}", join(chunk));
            let mut page: Map<String, Value> = self.get(&endpoint, &|_| path.clone()).await?;
            let list = page.remove(kind).unwrap_or(Value::Null);
            out.extend(self.records::<T>(&endpoint, list));
        }
        Ok(out)
    }

    /// One page of the users cursor export. Users without a readable id are
    /// skipped and counted.
    pub async fn users_page(&self, at: &TicketCursor) -> Result<UsersPage, Error> {
        const ENDPOINT: &str = "/api/v2/incremental/users/cursor";
        let position = match at {
            TicketCursor::Start(t) => format!("start_time={t}"),
            TicketCursor::After(c) => format!("cursor={}", enc(c)),
        };
        let path = format!("{ENDPOINT}?{position}&per_page=1000");
        let r: CursorPage = self.get(ENDPOINT, &|_| path.clone()).await?;
        let mut lists = r.lists;
        let list = lists.remove("users").unwrap_or(Value::Null);
        let users: Vec<User> = self.records(ENDPOINT, list);
        let (users, unreadable): (Vec<User>, Vec<User>) =
            users.into_iter().partition(|u| u.id.is_some());
        self.skipped(unreadable.len());
        Ok(UsersPage {
            users,
            after_cursor: r.after_cursor,
            end_of_stream: r.end_of_stream,
        })
    }

    /// One page of the organizations export (time-based, from `start_time`).
    pub async fn organizations_page(&self, start_time: i64) -> Result<OrganizationsPage, Error> {
        const ENDPOINT: &str = "/api/v2/incremental/organizations";
        let path = format!("{ENDPOINT}?start_time={start_time}");
        let r: TimePage = self.get(ENDPOINT, &|_| path.clone()).await?;
        let mut lists = r.lists;
        let list = lists.remove("organizations").unwrap_or(Value::Null);
        let organizations: Vec<Organization> = self.records(ENDPOINT, list);
        Ok(OrganizationsPage {
            next_start_time: crate::next_start_time(
                start_time,
                r.end_time,
                organizations.is_empty(),
                r.end_of_stream,
            ),
            organizations,
            end_of_stream: r.end_of_stream,
        })
    }
}

/// The frame of a cursor export page: its position and the lists (read
/// record by record by the caller).
#[derive(Deserialize)]
struct CursorPage {
    #[serde(default, deserialize_with = "lenient::de::string_opt")]
    after_cursor: Option<String>,
    #[serde(default, deserialize_with = "lenient::de::bool_false")]
    end_of_stream: bool,
    #[serde(flatten)]
    lists: Map<String, Value>,
}

/// The frame of a time-based export page.
#[derive(Deserialize)]
struct TimePage {
    #[serde(default, deserialize_with = "lenient::de::i64_opt")]
    end_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient::de::bool_false")]
    end_of_stream: bool,
    #[serde(flatten)]
    lists: Map<String, Value>,
}

/// `meta` of a cursor-paginated list.
#[derive(Default)]
struct Meta {
    has_more: bool,
    after_cursor: Option<String>,
}

impl Meta {
    fn read(v: Value) -> Meta {
        Meta {
            has_more: v
                .get("has_more")
                .and_then(lenient::as_bool)
                .unwrap_or(false),
            after_cursor: v.get("after_cursor").and_then(lenient::as_string),
        }
    }
}

fn join(ids: &[Id]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Percent-encodes a cursor for a query string.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Page streams over the two incremental exports, for callers that walk a
/// stream to its end (the engine walks page by page to checkpoint).
impl Client {
    /// Pages of the tickets cursor export from `from` until `end_of_stream`.
    /// A cursor that does not move before the end is an error (loop guard).
    pub fn ticket_pages(
        &self,
        from: TicketCursor,
    ) -> impl futures::Stream<Item = Result<TicketPage, Error>> + '_ {
        futures::stream::try_unfold(Some(from), move |at| async move {
            let Some(at) = at else { return Ok(None) };
            let page = self.tickets_page(&at).await?;
            let next = page.next_cursor(&at)?;
            Ok(Some((page, next)))
        })
    }

    /// Pages of the ticket events export from `start_time` until
    /// `end_of_stream`; each page starts where the previous one ended (the
    /// client bumps a start that would not move, so paging always advances).
    pub fn event_pages(
        &self,
        start_time: i64,
    ) -> impl futures::Stream<Item = Result<EventsPage, Error>> + '_ {
        futures::stream::try_unfold(Some(start_time), move |at| async move {
            let Some(at) = at else { return Ok(None) };
            let page = self.ticket_events_page(at).await?;
            let next = (!page.end_of_stream).then_some(page.next_start_time);
            Ok(Some((page, next)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hurried_handle_leaves_the_others_only_the_configured_reserve() {
        let mut cfg = ClientConfig::new(
            url::Url::parse("http://127.0.0.1:9").unwrap(),
            Credentials::ApiToken {
                email: "a@example.com".into(),
                token: "t".into(),
            },
        );
        cfg.account_reserve = 5;
        let yielding = Client::new(cfg).unwrap().yielding();
        let share = Reserve {
            requests: 12,
            share: 300,
        };
        yielding.yield_to_others(share, Reserve::from(40));
        assert_eq!(
            yielding.reserve(Bucket::Account),
            Reserve {
                requests: 17,
                share: 300
            }
        );
        let hurried = yielding.hurried();
        assert_eq!(hurried.reserve(Bucket::Account), Reserve::from(5));
        assert_eq!(hurried.reserve(Bucket::ConversationLog), Reserve::default());
        assert_eq!(
            hurried.sent_here(),
            Some(Sent::default()),
            "what it sends counts as the yielding handle's"
        );
    }

    #[test]
    fn a_redirect_names_only_the_host_of_its_location() {
        assert_eq!(
            location_host(Some("http://evil.example:8080/oauth/tokens?secret=x")),
            "http://evil.example:8080"
        );
        assert_eq!(
            location_host(Some("https://user:pw@other.example/x")),
            "https://other.example"
        );
        assert_eq!(
            location_host(Some("/api/v2/elsewhere")),
            "another path of the same host"
        );
        assert_eq!(location_host(None), "no location");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let mk = |u: &str| {
            Client::new(ClientConfig::new(
                url::Url::parse(u).unwrap(),
                Credentials::ApiToken {
                    email: "a@b".into(),
                    token: "t".into(),
                },
            ))
        };
        assert!(mk("http://127.0.0.1:9").is_ok());
        assert!(mk("http://localhost:9").is_ok());
        assert!(mk("http://[::1]:9").is_ok());
        assert!(mk("https://acme.zendesk.com").is_ok());
        let e = mk("http://acme.zendesk.com").err().unwrap();
        assert!(e.to_string().contains("loopback"), "{e}");
    }

    #[test]
    fn a_client_of_a_known_account_calls_only_its_host() {
        let mk = |u: &str| {
            let mut cfg = ClientConfig::new(
                url::Url::parse(u).unwrap(),
                Credentials::ApiToken {
                    email: "a@b".into(),
                    token: "t".into(),
                },
            );
            cfg.subdomain = Some("acme".into());
            Client::new(cfg)
        };
        assert!(mk("https://acme.zendesk.com").is_ok());
        assert!(mk("http://127.0.0.1:9").is_ok());
        let e = mk("https://evil.example").err().unwrap();
        assert!(e.to_string().contains("https://acme.zendesk.com"), "{e}");
        assert!(mk("https://u:p@acme.zendesk.com").is_err());
    }

    #[test]
    fn error_bodies_give_code_and_message() {
        assert_eq!(
            error_parts(r#"{"error":"StartTimeTooRecent","description":"Too recent"}"#),
            (Some("StartTimeTooRecent".into()), "Too recent".into())
        );
        assert_eq!(
            error_parts(r#"{"error":"Couldn't authenticate you"}"#).1,
            "Couldn't authenticate you"
        );
        assert_eq!(error_parts("<html>nope</html>").0, None);
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let c = Credentials::ApiToken {
            email: "a@b".into(),
            token: "s3cr3t".into(),
        };
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let c = Credentials::OAuthClient {
            client_id: "id".into(),
            client_secret: "s3cr3t".into(),
        };
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
