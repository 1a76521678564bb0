//! Who a connection acts as, and the path its sync takes.
//!
//! - An **admin** reads the incremental exports (tickets, ticket events,
//!   users, organizations): a few requests per thousand tickets.
//! - An **agent** may not (403 there), so its connection takes the
//!   **agents' path** ([`crate::search`]): tickets from the search export,
//!   comments per ticket, people by `show_many`, deletions found by a daily
//!   reconciliation. About one request per changed ticket.
//!
//! Light Agents, chat-only agents and end-users are refused at connect.
//! The role is read again on every run of an agent connection (one
//! `/users/me`), and on an admin connection when an export answers 403: a
//! promoted agent moves to the exports, a demoted admin to the search
//! export, each from where the other path had reached.

use serde::{Deserialize, Serialize};
use zdsync_store::{Connection, CursorKind};
use zdsync_zendesk::Client;
use zdsync_zendesk::types::{Role, User, role_type};

use crate::Engine;
use crate::error::{Context, EngineError, Result};
use crate::search::{OVERLAP, SearchCursor};
use crate::sync::TicketsCursor;

/// Which endpoints a connection's sync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// The incremental exports (admins).
    Exports,
    /// The search export and per-ticket reads (agents).
    Search,
}

impl Path {
    /// The path of a stored connection (connections made before agents
    /// were accepted are admins).
    pub fn of(conn: &Connection) -> Path {
        if conn.role.as_deref() == Some("agent") {
            Path::Search
        } else {
            Path::Exports
        }
    }
}

/// What `/users/me` allows a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `admin` or `agent`.
    pub role: &'static str,
    /// A restricted agent's `ticket_restriction`.
    pub restriction: Option<String>,
}

/// Decides what a user may connect as; the refusal says which role is
/// needed. `who` names the user in messages.
pub fn access_of(me: &User, who: &str) -> std::result::Result<Access, String> {
    if me.id.is_none() {
        return Err(format!(
            "Zendesk answered anonymously: the credentials of {who} were not accepted. Check the e-mail and the token (or OAuth credentials)."
        ));
    }
    let needed = "Connect with an admin or an agent (Admin Center > People > Team members: role Admin or Agent, not Light Agent)";
    match (&me.role, me.role_type) {
        (Role::Admin, _) | (Role::Agent, Some(role_type::ADMIN | role_type::BILLING_ADMIN)) => {
            Ok(Access {
                role: "admin",
                restriction: None,
            })
        }
        (Role::EndUser, _) => Err(format!(
            "{who} is an end-user: end-users cannot use the Zendesk API. {needed}."
        )),
        (Role::Agent, Some(role_type::LIGHT_AGENT)) => Err(format!(
            "{who} is a Light Agent: Light Agents cannot read tickets through the API. {needed}."
        )),
        (Role::Agent, Some(role_type::CHAT_AGENT | role_type::CHAT_CONTRIBUTOR)) => Err(format!(
            "{who} is a chat-only agent without Support access. {needed}."
        )),
        (Role::Agent, _) => Ok(Access {
            role: "agent",
            restriction: restriction_of(me),
        }),
        (Role::Unknown(r), _) => Err(format!(
            "{who} has the role {r:?}, which zdsync does not know. {needed}."
        )),
    }
}

/// The restriction of a restricted agent (`restricted_agent`, or a
/// `ticket_restriction` other than null/`all`).
fn restriction_of(me: &User) -> Option<String> {
    let named = me
        .ticket_restriction
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty() && *r != "all");
    match (named, me.restricted_agent) {
        (Some(r), _) => Some(r.to_string()),
        (None, Some(true)) => Some("restricted".into()),
        _ => None,
    }
}

/// The path in words (`status`).
pub fn describe(path: Path, restriction: Option<&str>) -> String {
    match (path, restriction) {
        (Path::Exports, _) => "reads the incremental exports (admin)".into(),
        (Path::Search, None) => "reads the search export (agent)".into(),
        (Path::Search, Some(r)) => format!(
            "reads the search export (agent, restricted to {r}: only the tickets it may see)"
        ),
    }
}

/// What an agent connection should know, shown at connect.
pub fn agent_notice(access: &Access, name: &str) -> String {
    let restricted = match &access.restriction {
        Some(r) => format!(
            " This agent is restricted ({r}): only the tickets it may see are imported, and `zdsync status {name}` says so."
        ),
        None => String::new(),
    };
    format!(
        "connected as an agent, not an admin: zdsync reads tickets through the search export and each ticket's comments (about one request per changed ticket, where an admin connection needs a few per thousand), finds deleted tickets by a daily check of the stored ones, and shows satisfaction reasons only as the ticket holds them.{restricted} Connect with an admin for the cheaper path."
    )
}

/// Reads the role again and, when it changed, saves it and hands the
/// cursors over to the other path. Returns the connection as it now is.
pub async fn recheck(engine: &Engine, conn: &Connection, client: &Client) -> Result<Connection> {
    let me = client.me().await.map_err(|e| EngineError::Zendesk {
        context: format!("reading the role of the user of {:?}", conn.name),
        source: e,
    })?;
    let who = conn
        .email
        .clone()
        .unwrap_or_else(|| "the connection's user".into());
    let access = access_of(&me, &who).map_err(|why| {
        EngineError::Refused(format!(
            "connection {:?} can no longer sync: {why} Then connect again (`zdsync connect`).",
            conn.name
        ))
    })?;
    if conn.role.as_deref() == Some(access.role) && conn.restriction == access.restriction {
        return Ok(conn.clone());
    }
    let before = Path::of(conn);
    let mut now = conn.clone();
    now.role = Some(access.role.to_string());
    now.restriction = access.restriction;
    now.updated_at = crate::now_rfc3339();
    let after = Path::of(&now);
    if before != after {
        hand_over(engine, &now.name, after).await?;
    }
    engine
        .store
        .update_connection(&now)
        .await
        .context(|| format!("saving the role of {:?}", now.name))?;
    tracing::info!(connection = %now.name, role = access.role, path = ?after, "the connection's role changed");
    Ok(now)
}

/// Moves the position reached on one path to the other: the exports start
/// an overlap before where the search walk had read whole; the search walk
/// starts where both exports had reached. Without a position the new path
/// reads all history (merging with what is stored).
async fn hand_over(engine: &Engine, name: &str, to: Path) -> Result<()> {
    let store = &engine.store;
    let get = |kind: CursorKind| async move {
        store
            .get_cursor(name, kind)
            .await
            .context(|| format!("reading the {} cursor", kind.as_str()))
    };
    match to {
        Path::Exports => {
            let search = get(CursorKind::Search).await?;
            let reached = search
                .as_deref()
                .map(SearchCursor::decode)
                .transpose()?
                .and_then(|c| c.reached);
            if let Some(r) = reached {
                crate::backfill::start_live_at(engine, name, (r - OVERLAP).max(0)).await?;
            }
            delete(engine, name, CursorKind::Search).await
        }
        Path::Search => {
            let events = get(CursorKind::Events)
                .await?
                .and_then(|c| c.parse::<i64>().ok());
            let tickets = get(CursorKind::Tickets)
                .await?
                .as_deref()
                .map(TicketsCursor::decode)
                .transpose()?
                .map(|c| c.ts);
            if let (Some(e), Some(t)) = (events, tickets) {
                let cursor = SearchCursor {
                    reached: Some(e.min(t)),
                    open: None,
                };
                crate::backfill::replace_cursor(engine, name, CursorKind::Search, &cursor.encode())
                    .await?;
            }
            for kind in [CursorKind::Events, CursorKind::Tickets] {
                delete(engine, name, kind).await?;
            }
            Ok(())
        }
    }
}

async fn delete(engine: &Engine, name: &str, kind: CursorKind) -> Result<()> {
    engine
        .store
        .delete_cursor(name, kind)
        .await
        .context(|| format!("forgetting the {} cursor", kind.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, role_type: Option<i64>) -> User {
        User {
            id: Some(7),
            role,
            role_type,
            ..Default::default()
        }
    }

    #[test]
    fn admins_take_the_exports_and_agents_the_search_export() {
        let admin = access_of(&user(Role::Admin, None), "a").expect("admin");
        assert_eq!(admin.role, "admin");
        let custom_admin = access_of(&user(Role::Agent, Some(role_type::ADMIN)), "a");
        assert_eq!(custom_admin.expect("admin role type").role, "admin");
        for rt in [None, Some(role_type::CUSTOM_AGENT)] {
            let agent = access_of(&user(Role::Agent, rt), "a").expect("agent");
            assert_eq!(agent.role, "agent");
            assert_eq!(agent.restriction, None);
        }
    }

    #[test]
    fn light_chat_only_end_users_and_unknown_roles_are_refused_with_the_role_needed() {
        for (u, word) in [
            (
                user(Role::Agent, Some(role_type::LIGHT_AGENT)),
                "Light Agent",
            ),
            (user(Role::Agent, Some(role_type::CHAT_AGENT)), "chat-only"),
            (user(Role::EndUser, None), "end-user"),
            (user(Role::Unknown("owner".into()), None), "\"owner\""),
        ] {
            let why = access_of(&u, "x@acme.example").expect_err("refused");
            assert!(why.contains(word), "{why}");
            assert!(why.contains("an admin or an agent"), "{why}");
        }
    }

    #[test]
    fn an_anonymous_answer_is_refused() {
        let anon = User::default();
        let why = access_of(&anon, "x@acme.example").expect_err("refused");
        assert!(why.contains("anonymously"), "{why}");
    }

    #[test]
    fn a_restricted_agent_keeps_its_restriction() {
        let mut u = user(Role::Agent, None);
        u.restricted_agent = Some(true);
        u.ticket_restriction = Some("groups".into());
        assert_eq!(
            access_of(&u, "a").expect("agent").restriction.as_deref(),
            Some("groups")
        );
        u.ticket_restriction = None;
        assert_eq!(
            access_of(&u, "a").expect("agent").restriction.as_deref(),
            Some("restricted")
        );
        u.restricted_agent = Some(false);
        u.ticket_restriction = Some("all".into());
        assert_eq!(access_of(&u, "a").expect("agent").restriction, None);
    }

    #[test]
    fn the_path_follows_the_stored_role() {
        let mut c = Connection {
            name: "acme".into(),
            subdomain: "acme".into(),
            email: None,
            plan: Default::default(),
            auth: Default::default(),
            secret_ref: "zdsync-acme".into(),
            api_url: None,
            role: None,
            user_id: None,
            restriction: None,
            created_at: String::new(),
            updated_at: String::new(),
        };
        c.role = Some("agent".into());
        assert_eq!(Path::of(&c), Path::Search);
        c.role = Some("admin".into());
        assert_eq!(Path::of(&c), Path::Exports);
        c.role = None;
        assert_eq!(Path::of(&c), Path::Exports);
    }
}
