//! What the command prints: human text by default, one JSON object with
//! `--json`. Progress and notices go to stderr; results to stdout.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Value, json};
use zdsync_engine::connect::ConnectOutcome;
use zdsync_engine::status::ConnectionStatus;
use zdsync_engine::sync::{Phase, Progress, ProgressUpdate, SyncReport};

/// `println!` that ends the process quietly when stdout is closed (`| head`).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        $crate::output::write_line(&format!($($t)*));
    }};
}

/// Control characters other than newline and tab written as `\uXXXX`, so
/// text from Zendesk (titles, names, error descriptions) cannot drive the
/// terminal with escape sequences. Inside JSON strings the escape is the
/// JSON escape of the same character, so JSON output keeps its meaning.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// One line of a table: newlines and tabs of a value become spaces.
fn cell(text: &str) -> String {
    text.replace(['\n', '\r', '\t'], " ")
}

pub fn write_line(line: &str) {
    let line = terminal_safe(line);
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}")
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

pub struct Out {
    json: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        Out { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn print_json(&self, v: &Value) {
        say!("{v}");
    }

    pub fn error(&self, msg: &str) {
        if self.json {
            self.print_json(&json!({ "ok": false, "error": msg }));
        } else {
            eprintln!("error: {}", terminal_safe(msg));
        }
    }

    pub fn notice(&self, msg: &str) {
        eprintln!("note: {}", terminal_safe(msg));
    }

    pub fn connected(&self, o: &ConnectOutcome) {
        if self.json {
            self.print_json(&json!({ "ok": true, "command": "connect", "connection": o.connection, "user_name": o.user_name, "role": o.role, "notices": o.notices }));
        } else {
            say!(
                "connected {:?}: {}.zendesk.com as {} ({}), plan {:?}, credentials stored as {:?}",
                o.connection.name,
                o.connection.subdomain,
                o.user_name
                    .as_deref()
                    .or(o.connection.email.as_deref())
                    .unwrap_or("?"),
                o.role,
                o.connection.plan,
                o.connection.secret_ref
            );
            say!("next: zdsync sync {}", o.connection.name);
        }
    }

    pub fn synced(&self, reports: &[SyncReport]) {
        if self.json {
            self.print_json(&json!({ "ok": true, "command": "sync", "reports": reports, "peak_rss_kb": peak_rss_kb() }));
            return;
        }
        for r in reports {
            say!(
                "{}: {} ({} ticket pages, {} event pages, {} tickets seen); documents: {} written, {} unchanged, {} deleted; {} Zendesk requests ({} rate-limited), {:.1}s",
                r.connection,
                if r.complete {
                    "up to date"
                } else {
                    "partial, run again to continue"
                },
                r.ticket_pages,
                r.event_pages,
                r.tickets_seen,
                r.counters.documents_written,
                r.counters.documents_unchanged,
                r.counters.documents_deleted,
                r.requests.total,
                r.requests.responses_429,
                r.duration_ms as f64 / 1000.0
            );
        }
    }

    pub fn plan_changed(
        &self,
        change: &zdsync_engine::history::PlanChange,
        queued: bool,
        reports: &[SyncReport],
    ) {
        if self.json {
            self.print_json(&json!({ "ok": true, "command": "plan", "change": change, "queued": queued, "reports": reports }));
            return;
        }
        let plan = serde_json::to_value(change.plan)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        say!("{}: {plan} plan", change.connection);
        if change.windows.is_empty() {
            if change.plan == zdsync_store::Plan::Trial {
                say!("  every stored document is kept; new and changed tickets keep syncing");
            }
            return;
        }
        if queued {
            say!(
                "  {} windows of older history queued for the workers; the hourly sync goes on meanwhile",
                change.windows.len()
            );
        } else {
            let written: u64 = reports.iter().map(|r| r.counters.documents_written).sum();
            let requests: u64 = reports.iter().map(|r| r.requests.total).sum();
            say!("  older history read: {written} documents written, {requests} Zendesk requests");
        }
    }

    pub fn refreshed<T: Serialize>(&self, reports: &[T]) {
        if self.json {
            self.print_json(&json!({ "ok": true, "command": "refresh-users", "reports": reports }));
        } else {
            for r in reports {
                say!("{}", serde_json::to_string(r).unwrap_or_default());
            }
        }
    }

    pub fn status(&self, st: &[ConnectionStatus]) {
        if self.json {
            self.print_json(&json!({ "ok": true, "command": "status", "connections": st }));
            return;
        }
        if st.is_empty() {
            say!("no connections yet: zdsync connect NAME --subdomain SUB --email EMAIL");
        }
        for c in st {
            say!(
                "{} ({}.zendesk.com, {} plan, {} auth, role {}, {})",
                c.name,
                c.subdomain,
                serde_json::to_value(c.plan)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                serde_json::to_value(c.auth)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                c.role.as_deref().unwrap_or("?"),
                c.access
            );
            say!(
                "  documents {}, ticket states {}, users {}, organizations {}",
                c.counts.documents,
                c.counts.states,
                c.counts.users,
                c.counts.orgs
            );
            say!(
                "  history: {}{}",
                if c.history.complete {
                    "complete".to_string()
                } else {
                    match &c.history.held_from {
                        Some(t) => format!("tickets created since {t} (trial)"),
                        None => "incomplete".to_string(),
                    }
                },
                c.history
                    .reading
                    .as_deref()
                    .map(|r| format!("; reading: {r}"))
                    .unwrap_or_default()
            );
            for (k, v) in &c.cursors {
                say!(
                    "  cursor {k}: {}",
                    v.as_deref()
                        .unwrap_or("(none: next sync starts from the beginning)")
                );
            }
            if let Some(b) = &c.backfill {
                say!(
                    "  backfill planned {}: {} of {} windows done{}",
                    b.planned_at,
                    b.windows_done,
                    b.windows,
                    if b.pending.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} still queued or running)", b.pending.len())
                    }
                );
            }
            match &c.last_run {
                Some(r) => say!(
                    "  last run {} → {}: {}{}, {} skipped records{}",
                    r.started_at,
                    r.finished_at,
                    if r.error.is_some() {
                        "failed"
                    } else if r.complete {
                        "up to date"
                    } else {
                        "partial"
                    },
                    r.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default(),
                    r.skipped_records,
                    if r.skipped_records > 0 {
                        " (unreadable ids; positions in the log)"
                    } else {
                        ""
                    }
                ),
                None => say!("  never synced"),
            }
            if let Some(r) = &c.last_refresh {
                say!(
                    "  last refresh {} → {}: {}, {} users and {} organizations updated, {} documents written, {} skipped records{}",
                    r.started_at,
                    r.finished_at,
                    if r.error.is_some() {
                        "failed"
                    } else if r.complete {
                        "complete"
                    } else {
                        "partial (the next one finishes it)"
                    },
                    r.users_updated,
                    r.orgs_updated,
                    r.documents_written,
                    r.skipped_records,
                    r.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                );
            }
        }
    }

    pub fn doc_list(&self, rows: &[DocSummary]) {
        if self.json {
            self.print_json(&json!({ "ok": true, "command": "documents list", "documents": rows }));
            return;
        }
        for r in rows {
            say!(
                "{}\t{}\t{}\t{} messages\t{}",
                r.id,
                r.status,
                r.created_at.as_deref().unwrap_or("-"),
                r.messages,
                cell(&r.title)
            );
        }
        eprintln!("{} documents", rows.len());
    }

    pub fn doc_show(&self, doc: &str) {
        if self.json {
            say!("{doc}");
        } else {
            // Through the document type: keeps the contract's key order.
            match serde_json::from_str::<zdsync_mapping::Document>(doc) {
                Ok(d) => say!(
                    "{}",
                    serde_json::to_string_pretty(&d).unwrap_or_else(|_| doc.to_string())
                ),
                Err(_) => say!("{doc}"),
            }
        }
    }

    /// A progress bar on stderr for an interactive terminal (none with `--json`).
    pub fn progress_bar(&self, name: &str) -> Option<Arc<SyncBar>> {
        if self.json || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{prefix} {bar:30} {percent:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(name.to_string());
        Some(Arc::new(SyncBar {
            bar,
            first: std::sync::Mutex::new(Vec::new()),
        }))
    }
}

/// The sync's progress as a bar: the share of history walked in the stream
/// last reported (the tickets and comments streams walk side by side).
pub struct SyncBar {
    bar: ProgressBar,
    /// Where each stream was first reported.
    first: std::sync::Mutex<Vec<(Phase, i64)>>,
}

impl SyncBar {
    pub fn finish(&self) {
        self.bar.finish();
    }
}

impl Progress for SyncBar {
    fn update(&self, u: &ProgressUpdate) {
        let now = jiff::Timestamp::now().as_second();
        let Ok(mut first) = self.first.lock() else {
            return;
        };
        let start = match first.iter().find(|(phase, _)| *phase == u.phase) {
            Some((_, s)) => *s,
            None => {
                first.push((u.phase, u.position));
                u.position
            }
        };
        let span = (now - start).max(1) as f64;
        let walked = match u.phase {
            // The search export walks back from now, newest tickets first.
            Phase::Search => now - u.position,
            Phase::Events | Phase::Tickets => u.position - start,
        };
        let done = (walked.max(0) as f64 / span * 1000.0).min(1000.0);
        self.bar.set_position(done as u64);
        let reached = jiff::Timestamp::from_second(u.position)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let phase = match u.phase {
            Phase::Events => "comments",
            Phase::Tickets => "tickets",
            Phase::Search => "tickets created back",
        };
        self.bar.set_message(format!(
            "{phase} up to {reached}, {} pages, {} documents",
            u.pages, u.documents_written
        ));
    }
}

/// One line of `documents list`.
#[derive(Debug, Serialize)]
pub struct DocSummary {
    pub id: String,
    pub ticket_id: u64,
    pub status: String,
    pub created_at: Option<String>,
    pub messages: usize,
    pub title: String,
}

impl DocSummary {
    pub fn from_doc(conn: &str, ticket_id: u64, v: &Value) -> DocSummary {
        DocSummary {
            id: v["id"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{conn}:{ticket_id}")),
            ticket_id,
            status: v["metadata"]["status"].as_str().unwrap_or("").to_string(),
            created_at: v["created_at"].as_str().map(str::to_string),
            messages: v["content"].as_array().map_or(0, |a| a.len()),
            title: v["title"].as_str().unwrap_or("").to_string(),
        }
    }
}

/// Peak resident memory of this process in KiB (Linux `VmHWM`), for the
/// figures; `None` where /proc is not available.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_from_zendesk_cannot_reach_the_terminal() {
        let title = "Refund \u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m please";
        let safe = terminal_safe(title);
        assert!(!safe.chars().any(|c| c.is_control()), "{safe}");
        assert_eq!(
            safe,
            "Refund \\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m please"
        );
        assert_eq!(terminal_safe("plain\ttext\n"), "plain\ttext\n");
    }

    #[test]
    fn an_escaped_json_line_means_the_same_json() {
        let v = json!({"title": "a\u{9b}b"});
        let line = terminal_safe(&v.to_string()).into_owned();
        let back: Value = serde_json::from_str(&line).expect("still JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn table_cells_stay_on_one_line() {
        assert_eq!(cell("two\nlines\tand\rtab"), "two lines and tab");
    }
}
