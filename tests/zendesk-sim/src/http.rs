//! The HTTP side: auth, rate limits, faults, the Zendesk endpoints and the
//! `/sim/*` controls, all through one dispatcher.

// Handlers return early with a ready response; its size does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::{Body as AxBody, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::limits::Window;

/// The record lists of the answers, main list first.
const RECORD_LISTS: [&str; 9] = [
    "tickets",
    "ticket_events",
    "comments",
    "audits",
    "events",
    "users",
    "organizations",
    "satisfaction_ratings",
    "results",
];

/// Page size of the time-based organizations export.
const ORGS_PER_PAGE: usize = 1000;

/// Handlers return early with a ready response.
type Early<T> = Result<T, Response>;
use crate::model::{self, Access, CLOCK_START, Csat, Model, SimTicket, iso};
use crate::shapes;
use crate::{
    Fault, FaultKind, MessageBy, Mutation, MutationResult, SimConfig, SimCredentials, SimFacts,
    SimStats, lock,
};

struct Limits {
    account: Window,
    export: Window,
    users: Window,
    omnilog: Window,
    search: Window,
}

/// A budget of its own, besides the account's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Export,
    UsersExport,
    /// The conversation log (`omnilog-index`).
    Omnilog,
    /// The search export (no header of its own).
    SearchExport,
}

impl Bucket {
    fn of(path: &str) -> Option<Bucket> {
        if path.starts_with("/api/v2/incremental/users") {
            Some(Bucket::UsersExport)
        } else if path.starts_with("/api/v2/search/export") {
            Some(Bucket::SearchExport)
        } else if path.starts_with("/api/v2/incremental/") {
            Some(Bucket::Export)
        } else if path.starts_with("/api/v2/tickets/")
            && path
                .trim_end_matches(".json")
                .ends_with("/conversation_log")
        {
            Some(Bucket::Omnilog)
        } else {
            None
        }
    }

    /// The header that announces this budget, if Zendesk sends one.
    fn header(self) -> Option<&'static str> {
        match self {
            Bucket::Export | Bucket::UsersExport => Some("zendesk-ratelimit-incremental-exports"),
            Bucket::Omnilog => Some("zendesk-ratelimit-omnilog-index"),
            Bucket::SearchExport => None,
        }
    }
}

impl Limits {
    fn window(&mut self, b: Bucket) -> &mut Window {
        match b {
            Bucket::Export => &mut self.export,
            Bucket::UsersExport => &mut self.users,
            Bucket::Omnilog => &mut self.omnilog,
            Bucket::SearchExport => &mut self.search,
        }
    }
}

#[derive(Default)]
struct Tokens {
    access: HashSet<String>,
    refresh: HashSet<String>,
    issued: u64,
}

pub struct Sim {
    config: SimConfig,
    creds: SimCredentials,
    started: Instant,
    offset: Mutex<i64>,
    model: Mutex<Model>,
    limits: Mutex<Limits>,
    faults: Mutex<Vec<Fault>>,
    stats: Mutex<SimStats>,
    tokens: Mutex<Tokens>,
}

/// The caller, by the role its user has at the time of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Admin(u64),
    /// An agent; a restricted one sees only its groups' tickets (see
    /// [`Model::sees`]).
    Agent(u64),
    /// Light agents and end-users: `/users/me` only.
    Limited(u64),
}

impl Who {
    fn of(u: &model::SimUser) -> Who {
        match u.access() {
            Access::Admin => Who::Admin(u.id),
            Access::Agent => Who::Agent(u.id),
            Access::Limited => Who::Limited(u.id),
        }
    }

    /// The user who reads tickets (admins and agents).
    fn reader(self) -> Option<u64> {
        match self {
            Who::Admin(id) | Who::Agent(id) => Some(id),
            Who::Anonymous | Who::Limited(_) => None,
        }
    }
}

fn reply(status: u16, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .body(AxBody::from(body))
        .unwrap_or_default()
}

fn json_reply(status: u16, v: &Value) -> Response {
    reply(status, "application/json; charset=utf-8", v.to_string())
}

fn error(status: u16, code: &str, description: &str) -> Response {
    json_reply(status, &json!({"error": code, "description": description}))
}

/// Zendesk's 403 to an authenticated caller who may not see a page.
fn forbidden() -> Response {
    error(
        403,
        "Forbidden",
        "You do not have access to this page. Please contact the account owner of this help desk for further help.",
    )
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn unb64(s: &str) -> Option<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// `(timestamp, id)` cursor positions.
fn encode_pos(ts: i64, id: u64) -> String {
    b64(&format!("pos:{ts}:{id}"))
}

fn decode_pos(s: &str) -> Option<(i64, u64)> {
    let raw = unb64(s)?;
    let rest = raw.strip_prefix("pos:")?;
    let (ts, id) = rest.split_once(':')?;
    Some((ts.parse().ok()?, id.parse().ok()?))
}

fn endpoint_label(path: &str) -> String {
    let trimmed = path
        .trim_start_matches("/api/v2/")
        .trim_end_matches(".json");
    trimmed
        .split('/')
        .map(|seg| {
            if seg.chars().all(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Files a ticket under the chat and messaging lists of the facts.
fn kinds(f: &mut SimFacts, t: &SimTicket) {
    if let Some(chat) = &t.aw_chat {
        f.aw_chat_ticket_ids.push(t.id);
        if chat.listed {
            f.aw_chat_in_events_ticket_ids.push(t.id);
        }
    } else if t.channel == "chat" {
        f.chat_ticket_ids.push(t.id);
    }
    if let Some(m) = &t.messaging {
        f.messaging_ticket_ids.push((t.id, m.kind));
        if !m.log_available {
            f.log_unavailable_ticket_ids.push(t.id);
        }
    }
}

/// The ticket of a per-ticket path (`/api/v2/tickets/{id}/…`).
fn ticket_of(path: &str) -> Option<u64> {
    let (id, sub) = path.strip_prefix("/api/v2/tickets/")?.split_once('/')?;
    if sub.is_empty() {
        return None;
    }
    id.parse().ok()
}

/// `page[size]` (1 to 100, default 100) and where `page[after]` resumes.
fn cursor_page(q: &HashMap<String, String>) -> Early<(usize, usize)> {
    let size = q
        .get("page[size]")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 100);
    let from = match q.get("page[after]") {
        None => 0,
        Some(c) => unb64(c)
            .and_then(|s| s.strip_prefix("idx:").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(|| error(400, "InvalidPaginationParameter", "page[after] is invalid"))?,
    };
    Ok((from, size))
}

/// A cursor-paged answer: the page under `key`, `meta` and `links` (no
/// backward cursors); `(from, size, total)` place the page in the list.
fn cursor_answer(
    key: &str,
    page: Vec<Value>,
    (from, size, total): (usize, usize, usize),
    path: &str,
) -> Value {
    let next = from + page.len();
    let has_more = next < total;
    let after = b64(&format!("idx:{next}"));
    let (cursor, link) = if has_more {
        let link = format!("{path}?page[size]={size}&page[after]={after}");
        (Value::String(after), Value::String(link))
    } else {
        (Value::Null, Value::Null)
    };
    json!({
        key: page,
        "meta": {"has_more": has_more, "after_cursor": cursor, "before_cursor": null},
        "links": {"next": link, "prev": null},
    })
}

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

async fn handle(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut resp = route(&sim, method, uri, headers, body).await;
    // Like any HTTP server, the `Date` header tells the server's clock: here
    // the simulated one.
    if let Ok(ts) = jiff::Timestamp::from_second(sim.now()) {
        let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&ts);
        if let Ok(v) = date
            .map_err(|_| ())
            .and_then(|d| axum::http::HeaderValue::from_str(&d).map_err(|_| ()))
        {
            resp.headers_mut().insert(axum::http::header::DATE, v);
        }
    }
    resp
}

async fn route(
    sim: &Arc<Sim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if let Some(ctl) = path.strip_prefix("/sim/") {
        return sim.control(&method, ctl, &uri, &body);
    }
    if path == "/oauth/tokens" && method == Method::POST {
        if let Some(r) = sim.fault_for(&path).await {
            return r;
        }
        return sim.oauth(&body);
    }
    if !path.starts_with("/api/v2/") {
        return error(404, "InvalidEndpoint", "Not found");
    }
    sim.api(&method, &path, &uri, &headers).await
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        let model = Model::generate(config.seed, config.tickets, config.huge_ticket);
        let login = model
            .users
            .get(&model.specials.end_user_login)
            .and_then(|u| u.email.clone())
            .unwrap_or_default();
        let creds = SimCredentials {
            api_token: format!("sim-token-{}", config.seed),
            admin_email: "admin@acme.example".into(),
            agent_email: "agent0@acme.example".into(),
            light_agent_email: "light@acme.example".into(),
            restricted_agent_email: model::RESTRICTED_AGENT_EMAIL.into(),
            end_user_email: login,
            oauth_client_id: "zdsync-sim".into(),
            oauth_client_secret: format!("sim-oauth-secret-{}", config.seed),
        };
        Sim {
            limits: Mutex::new(Limits {
                account: Window::new(config.account_limit_per_min, config.rate_window_secs),
                export: Window::new(config.export_limit_per_min, config.rate_window_secs),
                users: Window::new(config.users_export_limit_per_min, config.rate_window_secs),
                omnilog: Window::new(config.omnilog_limit_per_min, config.rate_window_secs),
                search: Window::new(config.search_export_limit_per_min, config.rate_window_secs),
            }),
            config,
            creds,
            started: Instant::now(),
            offset: Mutex::new(0),
            model: Mutex::new(model),
            faults: Mutex::new(Vec::new()),
            stats: Mutex::new(SimStats::default()),
            tokens: Mutex::new(Tokens::default()),
        }
    }

    /// The simulator's clock (epoch seconds).
    pub fn now(&self) -> i64 {
        CLOCK_START + self.started.elapsed().as_secs() as i64 + *lock(&self.offset)
    }

    pub fn credentials(&self) -> SimCredentials {
        self.creds.clone()
    }

    pub fn facts(&self) -> SimFacts {
        let m = lock(&self.model);
        let mut f = SimFacts {
            huge_ticket_id: m.specials.huge_ticket,
            long_ticket_id: m.specials.long_ticket,
            missing_requester_ticket_id: m.specials.missing_requester_ticket,
            ..Default::default()
        };
        let restricted_groups = m
            .users
            .get(&m.specials.restricted_agent)
            .and_then(|u| u.restricted_to_groups.clone())
            .unwrap_or_default();
        for t in m.tickets.values() {
            f.ticket_ids.push(t.id);
            if !t.deleted && restricted_groups.contains(&t.group_id) {
                f.restricted_visible_ticket_ids.push(t.id);
            }
            if t.deleted {
                f.deleted_ticket_ids.push(t.id);
            } else if !crate::oracle::speaks(&m, t) {
                f.agent_only_ticket_ids.push(t.id);
            } else if let Some(u) = m.users.get(&t.requester_id).filter(|u| !u.deleted) {
                f.requesters.push((u.id, u.organization_id));
            }
            kinds(&mut f, t);
        }
        f.requesters.sort_unstable();
        f.requesters.dedup();
        f.org_ids = m
            .orgs
            .values()
            .filter(|o| o.deleted_at.is_none())
            .map(|o| o.id)
            .collect();
        f
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.faults).push(fault);
    }

    pub fn advance_clock(&self, secs: i64) {
        *lock(&self.offset) += secs;
    }

    pub fn expire_tokens(&self) {
        lock(&self.tokens).access.clear();
    }

    pub fn stats(&self) -> SimStats {
        lock(&self.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.stats) = SimStats::default();
    }

    pub fn expected(&self, connection: &str) -> Vec<Value> {
        crate::oracle::expected(&lock(&self.model), connection, &self.config.subdomain)
    }

    pub fn expected_visible_to(&self, connection: &str, email: &str) -> Vec<Value> {
        let m = lock(&self.model);
        crate::oracle::expected_visible_to(&m, connection, &self.config.subdomain, email)
    }

    /// The first matching injected fault, if any (Delay faults only wait).
    /// Takes one use of the first fault for `path` that `which` accepts.
    fn take_fault(&self, path: &str, which: impl Fn(&FaultKind) -> bool) -> Option<FaultKind> {
        let mut faults = lock(&self.faults);
        let pos = faults.iter().position(|f| {
            f.count > 0
                && which(&f.kind)
                && f.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
        })?;
        faults[pos].count -= 1;
        let kind = faults[pos].kind.clone();
        if faults[pos].count == 0 {
            faults.remove(pos);
        }
        Some(kind)
    }

    /// Adds a record without an id to the main list of a JSON answer, when
    /// an `IdlessRecord` fault is set for `path`.
    async fn idless_record(&self, path: &str, response: Response) -> Response {
        if response.status() != StatusCode::OK
            || self
                .take_fault(path, |k| matches!(k, FaultKind::IdlessRecord))
                .is_none()
        {
            return response;
        }
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return error(500, "SimulatorError", "could not read the answer");
        };
        let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
            return Response::from_parts(parts, AxBody::from(bytes));
        };
        let key = RECORD_LISTS
            .iter()
            .find(|k| v.get(**k).is_some_and(Value::is_array));
        if let Some(list) = key
            .and_then(|k| v.get_mut(*k))
            .and_then(Value::as_array_mut)
        {
            let at = list.len().min(1);
            list.insert(
                at,
                json!({"id": null, "subject": "a record without an id", "name": "no id"}),
            );
        }
        Response::from_parts(parts, AxBody::from(v.to_string()))
    }

    async fn fault_for(&self, path: &str) -> Option<Response> {
        let kind = self.take_fault(path, |k| !matches!(k, FaultKind::IdlessRecord))?;
        match kind {
            FaultKind::Delay { ms } => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                None
            }
            FaultKind::Status { status, retry_after } => {
                if status >= 500 {
                    lock(&self.stats).requests += 0;
                }
                let mut r = error(status, "ServiceUnavailable", "Injected fault");
                if let Some(s) = retry_after
                    && let Ok(v) = s.to_string().parse()
                {
                    r.headers_mut().insert("retry-after", v);
                }
                Some(r)
            }
            FaultKind::TooManyRequests { retry_after } => {
                lock(&self.stats).responses_429 += 1;
                let mut r = reply(429, "text/plain", "Too Many Requests".into());
                if let Some(s) = retry_after
                    && let Ok(v) = s.to_string().parse()
                {
                    r.headers_mut().insert("retry-after", v);
                }
                Some(r)
            }
            FaultKind::Rejected { code } => Some(error(400, &code, "Injected rejection")),
            FaultKind::IdlessRecord => None,
            FaultKind::Html => Some(reply(
                200,
                "text/html",
                "<!DOCTYPE html><html><head><title>Zendesk</title></head><body><h1>Maintenance</h1></body></html>".into(),
            )),
            FaultKind::TruncatedJson => None.or(Some(reply(
                200,
                "application/json",
                "{\"tickets\": [{\"id\": 1, \"subject\": \"cut he".into(),
            ))),
        }
    }

    fn who(&self, path: &str, headers: &HeaderMap) -> Early<Who> {
        let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return if path == "/api/v2/users/me" {
                Ok(Who::Anonymous)
            } else {
                Err(error(
                    401,
                    "Couldn't authenticate you",
                    "Authentication required",
                ))
            };
        };
        let unauthorized = || {
            error(
                401,
                "Couldn't authenticate you",
                "Couldn't authenticate you",
            )
        };
        if let Some(token) = auth.strip_prefix("Bearer ") {
            let ok = lock(&self.tokens).access.contains(token.trim());
            return if ok {
                // OAuth tokens act as the admin, with its role of now.
                let m = lock(&self.model);
                let admin = m.users.get(&m.specials.admin).filter(|u| !u.deleted);
                admin.map(Who::of).ok_or_else(unauthorized)
            } else {
                Err(json_reply(
                    401,
                    &json!({"error": "invalid_token", "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons."}),
                ))
            };
        }
        let Some(encoded) = auth.strip_prefix("Basic ") else {
            return Err(unauthorized());
        };
        let Some(decoded) = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return Err(unauthorized());
        };
        let Some((email, token)) = decoded.split_once("/token:") else {
            return Err(unauthorized());
        };
        if token != self.creds.api_token {
            return Err(unauthorized());
        }
        let m = lock(&self.model);
        m.user_by_email(email).map(Who::of).ok_or_else(unauthorized)
    }

    fn oauth(&self, body: &Bytes) -> Response {
        lock(&self.stats).requests += 1;
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return json_reply(
                400,
                &json!({"error": "invalid_request", "error_description": "Body must be JSON"}),
            );
        };
        let client_ok = v["client_id"].as_str() == Some(self.creds.oauth_client_id.as_str())
            && v["client_secret"].as_str() == Some(self.creds.oauth_client_secret.as_str());
        if !client_ok {
            return json_reply(
                401,
                &json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
            );
        }
        let mut tokens = lock(&self.tokens);
        match v["grant_type"].as_str() {
            Some("client_credentials") => {}
            Some("refresh_token") => {
                let r = v["refresh_token"].as_str().unwrap_or_default();
                if !tokens.refresh.remove(r) {
                    return json_reply(
                        400,
                        &json!({"error": "invalid_grant", "error_description": "The refresh token is invalid."}),
                    );
                }
            }
            _ => {
                return json_reply(
                    400,
                    &json!({"error": "unsupported_grant_type", "error_description": "Use client_credentials or refresh_token."}),
                );
            }
        }
        tokens.issued += 1;
        let access = format!("sim-access-{}-{}", self.config.seed, tokens.issued);
        let refresh = format!("sim-refresh-{}-{}", self.config.seed, tokens.issued);
        tokens.access.insert(access.clone());
        tokens.refresh.insert(refresh.clone());
        json_reply(
            200,
            &json!({"access_token": access, "token_type": "bearer", "expires_in": 7200, "refresh_token": refresh, "scope": "read"}),
        )
    }

    /// Rate-limit headers, and whether the request fits its budgets: its
    /// own (exports, conversation log) first, then the account's.
    fn meter(&self, path: &str) -> (bool, Vec<(String, String)>) {
        let now = Instant::now();
        let mut l = lock(&self.limits);
        let bucket = Bucket::of(path);
        let mut retry_after = None;
        if self.config.rate_limits {
            if let Some(b) = bucket
                && !l.window(b).take(now)
            {
                retry_after = Some(l.window(b).resets_in(now));
            } else if !l.account.take(now) {
                retry_after = Some(l.account.resets_in(now));
            }
        } else {
            l.account.peek(now);
        }
        // With limits off the headers announce a budget no run can spend
        // (an account without limits), so a client pacing by them never
        // waits.
        let unlimited = |n: u32| {
            if self.config.rate_limits {
                n
            } else {
                UNLIMITED
            }
        };
        let a = l.account;
        let mut h = vec![
            ("x-rate-limit".to_string(), unlimited(a.limit).to_string()),
            (
                "x-rate-limit-remaining".to_string(),
                unlimited(a.remaining()).to_string(),
            ),
            (
                "ratelimit-limit".to_string(),
                unlimited(a.limit).to_string(),
            ),
            (
                "ratelimit-remaining".to_string(),
                unlimited(a.remaining()).to_string(),
            ),
            ("ratelimit-reset".to_string(), a.resets_in(now).to_string()),
        ];
        if let Some(b) = bucket
            && let Some(name) = b.header()
        {
            let w = l.window(b);
            w.peek(now);
            let value = format!(
                "total={}; remaining={}; resets={}",
                unlimited(w.limit),
                unlimited(w.remaining()),
                w.resets_in(now)
            );
            h.push((name.to_string(), value));
        }
        if let Some(s) = retry_after {
            h.push(("retry-after".to_string(), s.to_string()));
        }
        (retry_after.is_none(), h)
    }

    async fn api(&self, method: &Method, path: &str, uri: &Uri, headers: &HeaderMap) -> Response {
        {
            let mut st = lock(&self.stats);
            st.requests += 1;
            let label = endpoint_label(path);
            if let Some(id) = ticket_of(path) {
                *st.by_ticket
                    .entry(label.clone())
                    .or_default()
                    .entry(id)
                    .or_default() += 1;
            }
            *st.by_endpoint.entry(label).or_default() += 1;
            if path.starts_with("/api/v2/incremental/") {
                st.export_requests += 1;
            }
        }
        let (within, limit_headers) = self.meter(path);
        let mut response = if !within {
            lock(&self.stats).responses_429 += 1;
            if rand::rng().random_bool(0.5) {
                json_reply(
                    429,
                    &json!({"error": "APIRateLimitExceeded", "description": "Rate limit exceeded"}),
                )
            } else {
                reply(429, "text/plain", "Rate limit exceeded".into())
            }
        } else if let Some(r) = self.fault_for(path).await {
            r
        } else {
            match self.who(path, headers) {
                Err(r) => r,
                Ok(who) => {
                    if *method != Method::GET {
                        error(405, "MethodNotAllowed", "Only GET is simulated")
                    } else {
                        let r = self.route(who, path, uri);
                        self.idless_record(path, r).await
                    }
                }
            }
        };
        for (k, v) in limit_headers {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::try_from(k),
                axum::http::HeaderValue::try_from(v),
            ) {
                response.headers_mut().entry(k).or_insert(v);
            }
        }
        response
    }

    fn route(&self, who: Who, path: &str, uri: &Uri) -> Response {
        let q = query(uri);
        let p = path.trim_end_matches(".json");
        if p == "/api/v2/users/me" {
            return self.me(who);
        }
        if let Some(refused) = self.refusal(who, p) {
            return refused;
        }
        let segs: Vec<&str> = p.trim_start_matches("/api/v2/").split('/').collect();
        match segs.as_slice() {
            ["incremental", "tickets", "cursor"] => self.tickets_export(&q),
            ["incremental", "ticket_events"] => self.ticket_events(&q, uri),
            ["incremental", "users", "cursor"] => self.users_export(&q),
            ["incremental", "organizations"] => self.orgs_export(&q, uri),
            ["tickets", "show_many"] => self.tickets_show_many(who, &q),
            ["tickets", id] => match id.parse::<u64>() {
                Ok(id) => self.ticket(id),
                Err(_) => error(404, "RecordNotFound", "Not found"),
            },
            ["tickets", id, sub] => match id.parse::<u64>() {
                Ok(id) => self.ticket_part(id, sub, &q),
                Err(_) => error(404, "RecordNotFound", "Not found"),
            },
            ["users", "show_many"] => self.show_many_users(&q),
            ["organizations", "show_many"] => self.show_many_orgs(&q),
            ["satisfaction_ratings"] => self.ratings(&q),
            ["search", "export"] => self.search_export(who, &q),
            [list] => self.account_list(list),
            _ => error(404, "InvalidEndpoint", "Not found"),
        }
    }

    /// The answer to a caller who may not make this request, if any:
    /// anonymous callers, light agents and end-users everywhere (but
    /// `/users/me`), agents on the admin-only endpoints, and a restricted
    /// agent on a ticket outside its groups (`/tickets/{id}` and
    /// `/tickets/{id}/…`; a deleted or unknown ticket stays a 404).
    fn refusal(&self, who: Who, p: &str) -> Option<Response> {
        match who {
            Who::Anonymous => Some(error(
                401,
                "Couldn't authenticate you",
                "Authentication required",
            )),
            // Light agents and end-users: sometimes an empty HTML page.
            Who::Limited(id) if id % 2 == 0 => Some(reply(403, "text/html", String::new())),
            Who::Limited(_) => Some(forbidden()),
            Who::Agent(_)
                if p.starts_with("/api/v2/incremental/")
                    || p.starts_with("/api/v2/satisfaction_") =>
            {
                Some(forbidden())
            }
            Who::Agent(user) | Who::Admin(user) => {
                let id = p.strip_prefix("/api/v2/tickets/")?.split('/').next()?;
                let id: u64 = id.parse().ok()?;
                let m = lock(&self.model);
                let t = m.tickets.get(&id).filter(|t| !t.deleted)?;
                (!m.sees(user, t)).then(forbidden)
            }
        }
    }

    /// The account's lists: ticket, user and organization fields,
    /// satisfaction reasons.
    fn account_list(&self, list: &str) -> Response {
        match list {
            "ticket_fields" => {
                let m = lock(&self.model);
                json_reply(
                    200,
                    &json!({"ticket_fields": m.fields.iter().map(|f| f.json()).collect::<Vec<_>>(), "next_page": null, "previous_page": null, "count": m.fields.len(), "meta": {"has_more": false, "after_cursor": null}}),
                )
            }
            "user_fields" => json_reply(
                200,
                &json!({"user_fields": [
                {"id": 1, "key": "plan", "title": "Plan", "type": "text"},
                {"id": 2, "key": "region", "title": "Region", "type": "text"},
                {"id": 3, "key": "nps", "title": "NPS", "type": "integer"}], "next_page": null}),
            ),
            "organization_fields" => json_reply(
                200,
                &json!({"organization_fields": [
                {"id": 1, "key": "tier", "title": "Tier", "type": "text"},
                {"id": 2, "key": "csm", "title": "CSM", "type": "text"}], "next_page": null}),
            ),
            "satisfaction_reasons" => json_reply(
                200,
                &json!({"reasons": model::reasons().iter().map(|(id, v)| json!({"id": id, "value": v, "raw_value": v, "reason_code": id - 1000})).collect::<Vec<_>>(), "next_page": null}),
            ),
            _ => error(404, "InvalidEndpoint", "Not found"),
        }
    }

    fn me(&self, who: Who) -> Response {
        let id = match who {
            Who::Anonymous => {
                return json_reply(
                    200,
                    &json!({"user": {"id": null, "url": null, "name": "Anonymous user", "email": "invalid@example.com", "role": "end-user", "role_type": null, "locale": "en-US", "verified": false, "active": true, "tags": [], "user_fields": {}}}),
                );
            }
            Who::Admin(id) | Who::Agent(id) | Who::Limited(id) => id,
        };
        let m = lock(&self.model);
        match m.users.get(&id) {
            Some(u) => json_reply(200, &json!({"user": u.json()})),
            None => error(404, "RecordNotFound", "Not found"),
        }
    }

    fn start_time(&self, q: &HashMap<String, String>) -> Early<Option<i64>> {
        match q.get("start_time") {
            None => Ok(None),
            Some(s) => {
                let t: i64 = s
                    .parse()
                    .map_err(|_| error(400, "InvalidValue", "start_time must be an integer"))?;
                if t > self.now() - 60 {
                    return Err(error(
                        400,
                        "StartTimeTooRecent",
                        "Too recent start_time. Use a start_time older than 1 minute.",
                    ));
                }
                Ok(Some(t))
            }
        }
    }

    /// Where a cursor export resumes: after `start_time - 1` or after the
    /// position its cursor encodes (never both), and its page size.
    fn export_position(&self, q: &HashMap<String, String>) -> Early<((i64, u64), usize)> {
        let start = self.start_time(q)?;
        let after = match (start, q.get("cursor")) {
            (Some(t), None) => (t - 1, u64::MAX),
            (None, Some(c)) => decode_pos(c).ok_or_else(|| {
                error(
                    400,
                    "InvalidPaginationParameter",
                    "cursor is invalid or expired",
                )
            })?,
            (Some(_), Some(_)) => {
                return Err(error(
                    400,
                    "InvalidPaginationParameter",
                    "start_time cannot be combined with cursor",
                ));
            }
            (None, None) => {
                return Err(error(
                    400,
                    "InvalidPaginationParameter",
                    "start_time or cursor is required",
                ));
            }
        };
        let per_page = q
            .get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1000)
            .clamp(1, 1000);
        Ok((after, per_page))
    }

    fn tickets_export(&self, q: &HashMap<String, String>) -> Response {
        let (after, per_page) = match self.export_position(q) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let include: HashSet<&str> = q
            .get("include")
            .map(|s| s.split(',').collect())
            .unwrap_or_default();
        let exclude_deleted = q.get("exclude_deleted").is_some_and(|v| v == "true");
        let horizon = self.now() - 60;
        let m = lock(&self.model);
        let mut eligible: Vec<&SimTicket> = m
            .tickets
            .values()
            .filter(|t| {
                t.generated <= horizon
                    && (t.generated, t.id) > after
                    && !(exclude_deleted && t.deleted)
            })
            .collect();
        eligible.sort_by_key(|t| (t.generated, t.id));
        let end = eligible.len() <= per_page;
        let page: Vec<&SimTicket> = eligible.into_iter().take(per_page).collect();
        let pos = page.last().map(|t| (t.generated, t.id)).unwrap_or(after);
        let cursor = encode_pos(pos.0, pos.1);
        let mut body = json!({
            "tickets": page.iter().map(|t| {
                let mut v = t.json(include.contains("comment_count"));
                shapes::ticket(&mut v, t.id);
                v
            }).collect::<Vec<_>>(),
            "after_cursor": cursor,
            "before_cursor": null,
            "after_url": format!("/api/v2/incremental/tickets/cursor.json?cursor={cursor}"),
            "before_url": null,
            "end_of_stream": end,
        });
        if include.contains("users") {
            let mut ids: Vec<u64> = page
                .iter()
                .flat_map(|t| [Some(t.requester_id), Some(t.submitter_id), t.assignee_id])
                .flatten()
                .collect();
            ids.sort_unstable();
            ids.dedup();
            body["users"] = Value::Array(
                ids.iter()
                    .filter_map(|id| m.users.get(id))
                    .filter(|u| !u.deleted)
                    .map(|u| {
                        let mut v = u.json();
                        shapes::user(&mut v, u.id);
                        v
                    })
                    .collect(),
            );
        }
        if include.contains("organizations") {
            let mut ids: Vec<u64> = page.iter().filter_map(|t| t.organization_id).collect();
            ids.sort_unstable();
            ids.dedup();
            body["organizations"] = Value::Array(
                ids.iter()
                    .filter_map(|id| m.orgs.get(id))
                    .filter(|o| o.deleted_at.is_none())
                    .map(|o| {
                        let mut v = o.json();
                        shapes::org(&mut v, o.id);
                        v
                    })
                    .collect(),
            );
        }
        json_reply(200, &body)
    }

    fn ticket_events(&self, q: &HashMap<String, String>, uri: &Uri) -> Response {
        let start = match self.start_time(q) {
            Ok(Some(s)) => s,
            Ok(None) => return error(400, "InvalidValue", "start_time is required"),
            Err(r) => return r,
        };
        let with_comments = q
            .get("include")
            .is_some_and(|i| i.split(',').any(|x| x == "comment_events"));
        let horizon = self.now() - 60;
        let m = lock(&self.model);
        let from = m.events.partition_point(|e| e.timestamp < start);
        let mut page = Vec::new();
        let mut i = from;
        while i < m.events.len() && m.events[i].timestamp <= horizon {
            let e = &m.events[i];
            if page.len() >= 1000
                && page
                    .last()
                    .is_some_and(|l: &&model::SimEvent| l.timestamp != e.timestamp)
            {
                break;
            }
            page.push(e);
            i += 1;
        }
        let full = page.len() >= 1000;
        let end_time = page.last().map_or(start, |e| e.timestamp);
        let events: Vec<Value> = page
            .iter()
            .map(|e| {
                let ticket = m.tickets.get(&e.ticket_id);
                let mut children: Vec<Value> = Vec::new();
                let mut channel = None;
                if let Some(t) = ticket {
                    for cid in &e.comment_ids {
                        let Some(c) = t.comments.iter().find(|c| c.id == *cid) else {
                            continue;
                        };
                        channel.get_or_insert(c.channel.clone());
                        if !with_comments {
                            continue;
                        }
                        let mut v = c.json(false);
                        if let Some(o) = v.as_object_mut() {
                            o.remove("created_at");
                            o.insert("event_type".into(), "Comment".into());
                            o.insert("audit_id".into(), e.id.into());
                        }
                        shapes::comment_event(&mut v, c.id, &c.channel);
                        children.push(v);
                    }
                }
                for (k, ch) in e.changes.iter().enumerate() {
                    let mut ch = ch.clone();
                    ch["id"] = json!(e.id * 100 + 50 + k as u64);
                    children.push(ch);
                }
                if let Some(v) = ticket
                    .and_then(|t| t.aw_chat.as_ref())
                    .and_then(|chat| chat.audit_event(e.id, e.chat, true))
                {
                    children.push(v);
                }
                let mut v = json!({
                    "id": e.id, "ticket_id": e.ticket_id, "timestamp": e.timestamp,
                    "created_at": iso(e.timestamp), "updater_id": e.updater_id, "via": e.via,
                    "event_type": "Audit", "child_events": children,
                });
                if let Some(channel) = channel {
                    shapes::event(&mut v, e.id, &channel);
                }
                v
            })
            .collect();
        let base = uri.path();
        json_reply(
            200,
            &json!({
                "ticket_events": events,
                "count": page.len(),
                "end_time": end_time,
                "next_page": format!("{base}?start_time={end_time}&include=comment_events"),
                "end_of_stream": !full,
            }),
        )
    }

    fn users_export(&self, q: &HashMap<String, String>) -> Response {
        let (after, per_page) = match self.export_position(q) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let horizon = self.now() - 60;
        let m = lock(&self.model);
        let mut eligible: Vec<_> = m
            .users
            .values()
            .filter(|u| u.updated_at <= horizon && (u.updated_at, u.id) > after)
            .collect();
        eligible.sort_by_key(|u| (u.updated_at, u.id));
        let end = eligible.len() <= per_page;
        let page: Vec<_> = eligible.into_iter().take(per_page).collect();
        let pos = page.last().map(|u| (u.updated_at, u.id)).unwrap_or(after);
        json_reply(
            200,
            &json!({
                "users": page.iter().map(|u| {
                    let mut v = u.json();
                    shapes::user(&mut v, u.id);
                    v
                }).collect::<Vec<_>>(),
                "after_cursor": encode_pos(pos.0, pos.1),
                "end_of_stream": end,
            }),
        )
    }

    /// The time-based organizations export: 1,000 a page in `updated_at`
    /// order, deleted organizations included (with `deleted_at`); the next
    /// page starts at `end_time`, the time of the page's last record.
    fn orgs_export(&self, q: &HashMap<String, String>, uri: &Uri) -> Response {
        let start = match self.start_time(q) {
            Ok(Some(s)) => s,
            Ok(None) => return error(400, "InvalidValue", "start_time is required"),
            Err(r) => return r,
        };
        let horizon = self.now() - 60;
        let m = lock(&self.model);
        let mut eligible: Vec<_> = m
            .orgs
            .values()
            .filter(|o| o.updated_at >= start && o.updated_at <= horizon)
            .collect();
        eligible.sort_by_key(|o| (o.updated_at, o.id));
        let end = eligible.len() < ORGS_PER_PAGE;
        let page: Vec<_> = eligible.into_iter().take(ORGS_PER_PAGE).collect();
        let end_time = page.last().map_or(start, |o| o.updated_at);
        let orgs: Vec<Value> = page
            .iter()
            .map(|o| {
                let mut v = o.json();
                shapes::org(&mut v, o.id);
                v
            })
            .collect();
        let next = format!("{}?start_time={end_time}", uri.path());
        json_reply(
            200,
            &json!({"organizations": orgs, "end_time": end_time, "end_of_stream": end, "next_page": if end { Value::Null } else { Value::String(next) }, "count": orgs.len()}),
        )
    }

    fn ids(q: &HashMap<String, String>) -> Early<Vec<u64>> {
        let raw = q.get("ids").map(String::as_str).unwrap_or("");
        let ids: Vec<u64> = raw
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if ids.len() > 100 {
            return Err(error(400, "InvalidValue", "ids: at most 100 ids"));
        }
        Ok(ids)
    }

    fn show_many_users(&self, q: &HashMap<String, String>) -> Response {
        let ids = match Self::ids(q) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let m = lock(&self.model);
        let users: Vec<Value> = ids
            .iter()
            .filter_map(|id| m.users.get(id))
            .filter(|u| !u.deleted)
            .map(|u| {
                let mut v = u.json();
                shapes::user(&mut v, u.id);
                v
            })
            .collect();
        json_reply(
            200,
            &json!({"users": users, "next_page": null, "count": users.len()}),
        )
    }

    fn show_many_orgs(&self, q: &HashMap<String, String>) -> Response {
        let ids = match Self::ids(q) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let m = lock(&self.model);
        let orgs: Vec<Value> = ids
            .iter()
            .filter_map(|id| m.orgs.get(id))
            .filter(|o| o.deleted_at.is_none())
            .map(|o| {
                let mut v = o.json();
                shapes::org(&mut v, o.id);
                v
            })
            .collect();
        json_reply(
            200,
            &json!({"organizations": orgs, "next_page": null, "count": orgs.len()}),
        )
    }

    /// The tickets asked for that exist and the caller may see (deleted
    /// ones and, for a restricted agent, those of other groups are left out).
    fn tickets_show_many(&self, who: Who, q: &HashMap<String, String>) -> Response {
        let ids = match Self::ids(q) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let m = lock(&self.model);
        let t: Vec<Value> = ids
            .iter()
            .filter_map(|id| m.tickets.get(id))
            .filter(|t| !t.deleted && who.reader().is_some_and(|u| m.sees(u, t)))
            .map(|t| {
                let mut v = t.json(false);
                shapes::ticket(&mut v, t.id);
                v
            })
            .collect();
        json_reply(
            200,
            &json!({"tickets": t, "next_page": null, "count": t.len()}),
        )
    }

    fn ticket(&self, id: u64) -> Response {
        let m = lock(&self.model);
        match m.tickets.get(&id).filter(|t| !t.deleted) {
            Some(t) => json_reply(200, &json!({"ticket": t.json(false)})),
            None => error(404, "RecordNotFound", "Not found"),
        }
    }

    /// `/api/v2/tickets/{id}/{sub}`.
    fn ticket_part(&self, id: u64, sub: &str, q: &HashMap<String, String>) -> Response {
        match sub {
            "comments" => self.comments(id, q),
            "audits" => self.audits(id, q),
            "conversation_log" => self.conversation_log(id, q),
            _ => error(404, "InvalidEndpoint", "Not found"),
        }
    }

    fn comments(&self, id: u64, q: &HashMap<String, String>) -> Response {
        let (from, size) = match cursor_page(q) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let m = lock(&self.model);
        let Some(t) = m.tickets.get(&id).filter(|t| !t.deleted) else {
            return error(404, "RecordNotFound", "Not found");
        };
        let page: Vec<Value> = t
            .comments
            .iter()
            .skip(from)
            .take(size)
            .map(|c| {
                let mut v = c.json(true);
                shapes::comment(&mut v, c.id);
                v
            })
            .collect();
        let path = format!("/api/v2/tickets/{id}/comments.json");
        json_reply(
            200,
            &cursor_answer("comments", page, (from, size, t.comments.len()), &path),
        )
    }

    /// A ticket's audits, cursor-paged (`page[size]` ≤ 100).
    fn audits(&self, id: u64, q: &HashMap<String, String>) -> Response {
        let (from, size) = match cursor_page(q) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let m = lock(&self.model);
        let Some(t) = m.tickets.get(&id).filter(|t| !t.deleted) else {
            return error(404, "RecordNotFound", "Not found");
        };
        let all = crate::audits::ticket_audits(&m, t);
        let total = all.len();
        let page: Vec<Value> = all.into_iter().skip(from).take(size).collect();
        let path = format!("/api/v2/tickets/{id}/audits.json");
        json_reply(
            200,
            &cursor_answer("audits", page, (from, size, total), &path),
        )
    }

    /// A ticket's conversation log, cursor-paged (`page[size]` ≤ 100); 404
    /// for deleted tickets and messaging tickets without a log.
    fn conversation_log(&self, id: u64, q: &HashMap<String, String>) -> Response {
        let (from, size) = match cursor_page(q) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let m = lock(&self.model);
        let Some(t) = m
            .tickets
            .get(&id)
            .filter(|t| !t.deleted && t.messaging.as_ref().is_none_or(|x| x.log_available))
        else {
            return error(404, "RecordNotFound", "Not found");
        };
        let person = |uid: i64| {
            m.users
                .get(&(uid.max(0) as u64))
                .map(|u| (u.role != "end-user", u.name.clone()))
        };
        let all = crate::messaging::log_json(t, person);
        let total = all.len();
        let page: Vec<Value> = all.into_iter().skip(from).take(size).collect();
        let path = format!("/api/v2/tickets/{id}/conversation_log.json");
        json_reply(
            200,
            &cursor_answer("events", page, (from, size, total), &path),
        )
    }

    fn ratings(&self, q: &HashMap<String, String>) -> Response {
        let m = lock(&self.model);
        let start = q
            .get("start_time")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        let ratings: Vec<Value> = m
            .tickets
            .values()
            .filter(|t| !t.deleted && t.updated_at >= start)
            .filter_map(|t| t.csat.as_ref().map(|c| (t, c)))
            .filter(|(_, c)| c.score == "good" || c.score == "bad")
            .map(|(t, c)| json!({"id": c.id, "ticket_id": t.id, "score": c.score, "comment": c.comment, "reason": c.reason, "reason_id": c.reason_id, "requester_id": t.requester_id, "created_at": iso(t.updated_at)}))
            .collect();
        json_reply(
            200,
            &json!({"satisfaction_ratings": ratings, "meta": {"has_more": false, "after_cursor": null}, "links": {"next": null}}),
        )
    }

    /// The search export of tickets: the hits the caller may see, newest
    /// created first, cursor-paged (up to 1,000 a page), without the tickets
    /// changed within the index lag (`SimConfig::search_index_lag_secs`).
    fn search_export(&self, who: Who, q: &HashMap<String, String>) -> Response {
        if q.get("filter[type]").is_none() {
            return error(400, "InvalidValue", "filter[type] is required");
        }
        let query = q.get("query").cloned().unwrap_or_default();
        let terms = match search_terms(&query) {
            Ok(t) => t,
            Err(term) => {
                return error(
                    400,
                    "InvalidValue",
                    &format!("unsupported search term {term:?}"),
                );
            }
        };
        let size = q
            .get("page[size]")
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, 1000);
        let from = q
            .get("page[after]")
            .and_then(|c| unb64(c))
            .and_then(|s| s.strip_prefix("idx:").and_then(|n| n.parse::<usize>().ok()))
            .unwrap_or(0);
        let indexed_until = self.now() - self.config.search_index_lag_secs.max(0);
        let m = lock(&self.model);
        let hits = search_hits(&m, &terms, indexed_until, who.reader());
        let page: Vec<Value> = hits
            .iter()
            .skip(from)
            .take(size)
            .map(|t| {
                let mut v = t.json(false);
                v["result_type"] = json!("ticket");
                v
            })
            .collect();
        let next = from + page.len();
        let has_more = next < hits.len();
        json_reply(
            200,
            &json!({"results": page, "meta": {"has_more": has_more, "after_cursor": if has_more { Value::String(b64(&format!("idx:{next}"))) } else { Value::Null }}, "links": {"next": null}}),
        )
    }

    /// `/sim/*` controls.
    fn control(&self, method: &Method, ctl: &str, uri: &Uri, body: &Bytes) -> Response {
        let parse = |b: &Bytes| serde_json::from_slice::<Value>(b);
        match (method.as_str(), ctl) {
            ("GET", "credentials") => json_reply(
                200,
                &serde_json::to_value(self.credentials()).unwrap_or_default(),
            ),
            ("GET", "facts") => {
                json_reply(200, &serde_json::to_value(self.facts()).unwrap_or_default())
            }
            ("GET", "stats") => {
                json_reply(200, &serde_json::to_value(self.stats()).unwrap_or_default())
            }
            ("POST", "stats/reset") => {
                self.reset_stats();
                json_reply(200, &json!({"ok": true}))
            }
            ("POST", "expire-tokens") => {
                self.expire_tokens();
                json_reply(200, &json!({"ok": true}))
            }
            ("GET", "expected") => {
                let q = query(uri);
                let conn = q.get("connection").map_or("acme", String::as_str);
                let docs = match q.get("as") {
                    Some(email) => self.expected_visible_to(conn, email),
                    None => self.expected(conn),
                };
                json_reply(200, &Value::Array(docs))
            }
            ("POST", "faults") => match serde_json::from_slice::<Fault>(body) {
                Ok(f) => {
                    self.inject(f);
                    json_reply(200, &json!({"ok": true}))
                }
                Err(e) => error(400, "InvalidFault", &e.to_string()),
            },
            ("POST", "mutate") => match serde_json::from_slice::<Mutation>(body) {
                Ok(mu) => json_reply(
                    200,
                    &serde_json::to_value(self.mutate(mu)).unwrap_or_default(),
                ),
                Err(e) => error(400, "InvalidMutation", &e.to_string()),
            },
            ("POST", "clock") => match parse(body).ok().and_then(|v| v["advance"].as_i64()) {
                Some(s) => {
                    self.advance_clock(s);
                    json_reply(200, &json!({"now": self.now()}))
                }
                None => error(400, "InvalidValue", "body must be {\"advance\": seconds}"),
            },
            _ => error(404, "InvalidEndpoint", "Unknown control"),
        }
    }

    pub fn mutate(&self, mu: Mutation) -> MutationResult {
        let now = self.now();
        let mut m = lock(&self.model);
        let mut out = MutationResult::default();
        apply(&mut m, mu, now, &mut out);
        out
    }
}

fn apply(m: &mut Model, mu: Mutation, now: i64, out: &mut MutationResult) {
    match mu {
        Mutation::NewTicket { customer_comment } => {
            let id = m.id();
            let requester = m.end_users[m.rng.random_range(0..m.end_users.len())];
            let agent = m.agent();
            let org = m.users.get(&requester).and_then(|u| u.organization_id);
            m.tickets.insert(
                id,
                SimTicket {
                    id,
                    subject: "New ticket from the simulator".into(),
                    status: "new".into(),
                    created_at: now,
                    updated_at: now,
                    generated: now,
                    requester_id: requester,
                    submitter_id: if customer_comment { requester } else { agent },
                    assignee_id: Some(agent),
                    organization_id: org,
                    group_id: model::group_of(id),
                    channel: "web".into(),
                    custom_fields: vec![(100, json!("billing")), (102, json!("3"))],
                    tags: vec![],
                    csat: None,
                    comments: vec![],
                    deleted: false,
                    aw_chat: None,
                    messaging: None,
                },
            );
            let author = if customer_comment {
                requester as i64
            } else {
                agent as i64
            };
            m.new_comment(
                id,
                author,
                "Hello, I have a question about my invoice.\nIt shows the wrong amount.",
                true,
                now,
            );
            out.ticket_ids.push(id);
        }
        Mutation::AddComment {
            ticket_id,
            by_customer,
            public,
            text,
        } => {
            let Some(t) = m.tickets.get(&ticket_id) else {
                return;
            };
            if t.deleted {
                return;
            }
            let author = if by_customer {
                t.requester_id as i64
            } else {
                t.assignee_id.unwrap_or(0) as i64
            };
            m.new_comment(ticket_id, author, &text, public, now);
            out.ticket_ids.push(ticket_id);
        }
        Mutation::AddMessagingMessage {
            ticket_id,
            by,
            text,
        } => {
            if m.add_messaging_message(ticket_id, by, &text, now) {
                out.ticket_ids.push(ticket_id);
            }
        }
        Mutation::SetStatus { ticket_id, status } => {
            let Some(t) = m.tickets.get_mut(&ticket_id) else {
                return;
            };
            if t.deleted {
                return;
            }
            let previous = std::mem::replace(&mut t.status, status.clone());
            t.updated_at = now;
            t.generated = now;
            m.push_event(ticket_id, now, -1, vec![], vec![json!({"event_type": "Change", "field_name": "status", "value": status, "previous_value": previous})]);
            out.ticket_ids.push(ticket_id);
        }
        Mutation::DeleteTicket { ticket_id } => {
            let Some(t) = m.tickets.get_mut(&ticket_id) else {
                return;
            };
            t.deleted = true;
            t.updated_at = now;
            t.generated = now;
            out.ticket_ids.push(ticket_id);
        }
        Mutation::AddCsat {
            ticket_id,
            score,
            comment,
            reason_id,
        } => {
            let id = m.id();
            let Some(t) = m.tickets.get_mut(&ticket_id) else {
                return;
            };
            if t.deleted {
                return;
            }
            t.csat = Some(Csat {
                id,
                score: score.clone(),
                comment,
                reason: None,
                reason_id,
            });
            t.updated_at = now;
            t.generated = now;
            m.push_event(ticket_id, now, t_requester(m, ticket_id), vec![], vec![json!({"event_type": "Change", "field_name": "satisfaction_score", "value": score})]);
            out.ticket_ids.push(ticket_id);
        }
        Mutation::RenameUser { user_id, name } => {
            if let Some(u) = m.users.get_mut(&user_id) {
                u.name = name;
                u.updated_at = now;
            }
        }
        Mutation::MoveUser { user_id, org_id } => {
            if let Some(u) = m.users.get_mut(&user_id) {
                u.organization_id = org_id;
                u.updated_at = now;
            }
        }
        Mutation::DeleteUser { user_id } => {
            if let Some(u) = m.users.get_mut(&user_id) {
                u.deleted = true;
                u.updated_at = now;
            }
        }
        Mutation::RenameOrg { .. } | Mutation::UpdateOrg { .. } | Mutation::DeleteOrg { .. } => {
            change_org(m, mu, now)
        }
        Mutation::SetRole { email, role } => set_role(m, &email, &role, now),
        Mutation::Random { n, seed } => {
            let mut r = rand::rngs::StdRng::seed_from_u64(seed);
            let ids: Vec<u64> = m
                .tickets
                .values()
                .filter(|t| !t.deleted)
                .map(|t| t.id)
                .collect();
            if ids.is_empty() {
                return;
            }
            let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
            for _ in 0..n {
                let t = ids[r.random_range(0..ids.len())];
                let mu = random_mutation(m, &mut r, t);
                *by_kind.entry(kind_name(&mu)).or_default() += 1;
                apply(m, mu, now, out);
            }
        }
    }
}

/// One mutation of `Mutation::Random`, on ticket `t` when it changes one:
/// a customer's words (a messaging message on a messaging ticket), an
/// agent's comment, a status, a CSAT rating, a deletion, a new ticket, or a
/// change of people.
fn random_mutation(m: &Model, r: &mut rand::rngs::StdRng, t: u64) -> Mutation {
    let messaging = m.tickets.get(&t).is_some_and(|x| x.messaging.is_some());
    match r.random_range(0..10) {
        0 => Mutation::NewTicket {
            customer_comment: r.random_bool(0.7),
        },
        1..=3 if messaging => Mutation::AddMessagingMessage {
            ticket_id: t,
            by: MessageBy::Customer,
            text: "Any update on this? 🙏".into(),
        },
        1..=3 => Mutation::AddComment {
            ticket_id: t,
            by_customer: true,
            public: true,
            text: "Any update on this? 🙏".into(),
        },
        4 | 5 => Mutation::AddComment {
            ticket_id: t,
            by_customer: false,
            public: r.random_bool(0.7),
            text: "We're on it.\n\nThanks for waiting.".into(),
        },
        6 => Mutation::SetStatus {
            ticket_id: t,
            status: ["open", "pending", "solved"][r.random_range(0..3)].into(),
        },
        7 => Mutation::AddCsat {
            ticket_id: t,
            score: ["good", "bad"][r.random_range(0..2)].into(),
            comment: r.random_bool(0.5).then(|| "Thanks!".into()),
            reason_id: None,
        },
        8 if r.random_bool(0.3) => Mutation::DeleteTicket { ticket_id: t },
        _ => random_people_change(m, r),
    }
}

/// A change of a user or an organization, for `Mutation::Random`.
fn random_people_change(m: &Model, r: &mut rand::rngs::StdRng) -> Mutation {
    let user_id = m.end_users[r.random_range(0..m.end_users.len())];
    let orgs: Vec<u64> = m.orgs.keys().copied().collect();
    let org_id = orgs[r.random_range(0..orgs.len())];
    match r.random_range(0..20) {
        0..=7 => Mutation::RenameUser {
            user_id,
            name: format!("Renamed {}", r.random_range(0..1000)),
        },
        8..=11 => Mutation::RenameOrg {
            org_id,
            name: format!("Renamed Org {}", r.random_range(0..1000)),
        },
        12..=14 => Mutation::MoveUser {
            user_id,
            org_id: r.random_bool(0.8).then_some(org_id),
        },
        15 | 16 => Mutation::UpdateOrg {
            org_id,
            domain_names: Some(vec![format!("new{}.example", r.random_range(0..1000))]),
            tags: Some(vec!["renewed".into()]),
            fields: None,
        },
        17 | 18 => Mutation::DeleteUser { user_id },
        _ => Mutation::DeleteOrg { org_id },
    }
}

/// Makes the user with this e-mail an admin (`role_type` 4) or a plain
/// agent (`role_type` 0); other roles and unknown e-mails change nothing.
fn set_role(m: &mut Model, email: &str, role: &str, now: i64) {
    let (role, role_type) = match role {
        "admin" => ("admin", Some(4)),
        "agent" => ("agent", Some(0)),
        _ => return,
    };
    let Some(id) = m.user_by_email(email).map(|u| u.id) else {
        return;
    };
    if let Some(u) = m.users.get_mut(&id) {
        u.role = role;
        u.role_type = role_type;
        u.updated_at = now;
    }
}

/// Renames, updates or deletes an organization.
fn change_org(m: &mut Model, mu: Mutation, now: i64) {
    let id = match &mu {
        Mutation::RenameOrg { org_id, .. }
        | Mutation::UpdateOrg { org_id, .. }
        | Mutation::DeleteOrg { org_id } => *org_id,
        _ => return,
    };
    let Some(o) = m.orgs.get_mut(&id) else {
        return;
    };
    match mu {
        Mutation::RenameOrg { name, .. } => o.name = name,
        Mutation::UpdateOrg {
            domain_names,
            tags,
            fields,
            ..
        } => {
            if let Some(d) = domain_names {
                o.domain_names = d;
            }
            if let Some(t) = tags {
                o.tags = t;
            }
            for (k, v) in fields.unwrap_or_default() {
                o.fields.insert(k, v);
            }
        }
        _ => o.deleted_at = Some(now),
    }
    o.updated_at = now;
}

fn t_requester(m: &Model, ticket_id: u64) -> i64 {
    m.tickets
        .get(&ticket_id)
        .map_or(-1, |t| t.requester_id as i64)
}

fn kind_name(m: &Mutation) -> &'static str {
    match m {
        Mutation::NewTicket { .. } => "new_ticket",
        Mutation::AddComment { .. } => "add_comment",
        Mutation::AddMessagingMessage { .. } => "add_messaging_message",
        Mutation::SetStatus { .. } => "set_status",
        Mutation::DeleteTicket { .. } => "delete_ticket",
        Mutation::AddCsat { .. } => "add_csat",
        Mutation::RenameUser { .. } => "rename_user",
        Mutation::RenameOrg { .. } => "rename_org",
        Mutation::UpdateOrg { .. } => "update_org",
        Mutation::MoveUser { .. } => "move_user",
        Mutation::DeleteUser { .. } => "delete_user",
        Mutation::DeleteOrg { .. } => "delete_org",
        Mutation::SetRole { .. } => "set_role",
        Mutation::Random { .. } => "random",
    }
}

/// The budget the headers announce when rate limits are off.
const UNLIMITED: u32 = 1_000_000;

/// The live tickets of a search export that `reader` may see, that match
/// every term and that the index holds (last changed at `indexed_until` or
/// before), newest created first.
fn search_hits<'a>(
    m: &'a Model,
    terms: &[SearchTerm],
    indexed_until: i64,
    reader: Option<u64>,
) -> Vec<&'a SimTicket> {
    let mut hits: Vec<&SimTicket> = m
        .tickets
        .values()
        .filter(|t| !t.deleted && t.updated_at <= indexed_until)
        .filter(|t| terms.iter().all(|term| term.holds(t)))
        .filter(|t| reader.is_some_and(|u| m.sees(u, t)))
        .collect();
    hits.sort_by_key(|t| std::cmp::Reverse((t.created_at, t.id)));
    hits
}

/// The time a search term compares: `updated` (`updated_at`) or `created`
/// (`created_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchField {
    Updated,
    Created,
}

/// A bound of a search term: `>=T`, `>T`, `<T`, `<=T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    From(i64),
    After(i64),
    Before(i64),
    Until(i64),
}

impl Bound {
    fn holds(self, at: i64) -> bool {
        match self {
            Bound::From(t) => at >= t,
            Bound::After(t) => at > t,
            Bound::Before(t) => at < t,
            Bound::Until(t) => at <= t,
        }
    }
}

/// A term of a search query on `updated` or `created` (the fields the
/// agents' path asks for): `updated>=T`, `created<T`, ..., with `T` a date
/// or an ISO time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SearchTerm {
    pub field: SearchField,
    pub bound: Bound,
}

impl SearchTerm {
    fn holds(self, t: &SimTicket) -> bool {
        self.bound.holds(match self.field {
            SearchField::Updated => t.updated_at,
            SearchField::Created => t.created_at,
        })
    }
}

/// A search time: an RFC 3339 time or a date (its midnight, UTC).
fn search_time(d: &str) -> Option<i64> {
    d.parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| format!("{d}T00:00:00Z").parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second())
}

/// One `updated`/`created` term, if `term` is one.
fn search_term(term: &str) -> Option<SearchTerm> {
    let (field, rest) = [
        ("updated", SearchField::Updated),
        ("created", SearchField::Created),
    ]
    .into_iter()
    .find_map(|(name, field)| term.strip_prefix(name).map(|rest| (field, rest)))?;
    let bound = [
        (">=", Bound::From as fn(i64) -> Bound),
        ("<=", Bound::Until),
        (">", Bound::After),
        ("<", Bound::Before),
    ]
    .iter()
    .find_map(|(op, make)| rest.strip_prefix(op).and_then(search_time).map(make))?;
    Some(SearchTerm { field, bound })
}

/// The `updated` and `created` terms of a query (`type:ticket` is accepted
/// and implied); `Err` names a term the simulator does not know.
pub(crate) fn search_terms(query: &str) -> Result<Vec<SearchTerm>, String> {
    query
        .split_whitespace()
        .filter(|term| *term != "type:ticket")
        .map(|term| search_term(term).ok_or_else(|| term.to_string()))
        .collect()
}
