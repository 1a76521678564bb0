//! Pure mapping from Zendesk shapes to feedback documents (ARCHITECTURE.md §3,
//! with the choices of `RULES.md`).
//!
//! No I/O, no AWS, no HTTP: inputs are the typed Zendesk shapes of
//! `zdsync-zendesk`, outputs are [`Document`]s and [`ConversationEntry`]s.
//!
//! The engine uses it in two steps:
//! 1. [`conversation_entries`] turns each comment it sees (bulk events or
//!    per-ticket comments) into entries, which it merges into the ticket's
//!    stored state with [`merge_entries`];
//! 2. [`render`] builds the document from the ticket, its entries, the users
//!    and organizations it knows, the field catalog and the CSAT reasons, or
//!    returns `None` when the ticket is not feedback.

pub mod chat;
pub mod document;
pub mod fields;
pub mod text;
pub mod threads;

pub use document::*;
pub use fields::FieldCatalog;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};
use zdsync_zendesk::types::{Comment, Organization, Ticket, TicketStatus, User};

/// Everything a render needs besides the ticket itself.
pub struct RenderContext<'a> {
    pub connection: &'a str,
    pub subdomain: &'a str,
    pub fields: &'a FieldCatalog,
    /// `satisfaction_reasons`: reason id → text.
    pub reasons: &'a HashMap<u64, String>,
    /// Known users (requesters and comment authors) by id.
    pub users: &'a HashMap<u64, User>,
    /// Known organizations by id.
    pub organizations: &'a HashMap<u64, Organization>,
}

const SYSTEM_CHANNELS: [&str; 3] = ["system", "rule", "automation"];

/// Text of a comment: `plain_body`, else `html_body` as text, else `body`
/// (a body that is absent, null or blank gives way to the next).
pub fn comment_text(c: &Comment) -> String {
    if let Some(p) = non_blank(c.plain_body.as_deref()) {
        text::normalize(p)
    } else if let Some(h) = non_blank(c.html_body.as_deref()) {
        text::html_to_text(h)
    } else {
        text::normalize(c.body.as_deref().unwrap_or(""))
    }
}

/// True for comments that are never content: private notes and system
/// comments.
pub fn is_content(c: &Comment) -> bool {
    if !c.public {
        return false;
    }
    if c.author_id.is_none_or(|a| a <= 0) {
        return false;
    }
    let channel = c.via.as_ref().map(|v| v.channel.as_str()).unwrap_or("");
    !SYSTEM_CHANNELS.contains(&channel)
}

/// The entries a comment contributes to a conversation: none for private
/// notes and system comments, one for a plain comment, one per chat line for
/// a Zendesk Chat transcript.
pub fn conversation_entries(comment: &Comment) -> Vec<ConversationEntry> {
    if !is_content(comment) {
        return Vec::new();
    }
    let text = comment_text(comment);
    let channel = comment
        .via
        .as_ref()
        .map(|v| v.channel.as_str())
        .unwrap_or("");
    if channel == "chat"
        && let Some(lines) = chat::split_transcript(&text)
    {
        return lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| ConversationEntry {
                source_comment_id: comment.id,
                seq: i as u32,
                derived: true,
                author_id: None,
                author_name: Some(l.name),
                role: None,
                created_at: Some(l.created_at),
                text: l.text,
                source: None,
            })
            .collect();
    }
    vec![ConversationEntry {
        source_comment_id: comment.id,
        seq: 0,
        derived: false,
        author_id: comment.author_id,
        author_name: None,
        role: None,
        created_at: comment.created_at.clone(),
        text,
        source: None,
    }]
}

pub(crate) fn entry_order(a: &ConversationEntry, b: &ConversationEntry) -> std::cmp::Ordering {
    a.created_at
        .cmp(&b.created_at)
        .then(a.source_comment_id.cmp(&b.source_comment_id))
        .then(a.seq.cmp(&b.seq))
}

/// Merges `new` into `existing` (de-duplicated by `(source_comment_id, seq)`,
/// newer copies replace older ones), keeping the order oldest first. Returns
/// whether anything changed.
pub fn merge_entries(existing: &mut Vec<ConversationEntry>, new: Vec<ConversationEntry>) -> bool {
    let mut changed = false;
    for e in new {
        match existing
            .iter_mut()
            .find(|x| x.source_comment_id == e.source_comment_id && x.seq == e.seq)
        {
            Some(x) if *x == e => {}
            Some(x) => {
                *x = e;
                changed = true;
            }
            None => {
                existing.push(e);
                changed = true;
            }
        }
    }
    if changed {
        existing.sort_by(entry_order);
    }
    changed
}

/// User ids a render of this ticket would like to know: the requester and
/// every comment author without a name of its own. Sorted, unique, positive.
pub fn wanted_user_ids(ticket: &Ticket, entries: &[ConversationEntry]) -> Vec<u64> {
    let transcript = entries.iter().any(|e| e.derived && e.source.is_none());
    let mut ids: Vec<u64> = entries
        .iter()
        .filter(|e| !e.derived || e.source.is_some())
        .filter_map(|e| e.author_id)
        .filter(|a| *a > 0)
        .map(|a| a as u64)
        .chain(ticket.requester_id)
        // A transcript's agent lines are matched to the assignee by name.
        .chain(ticket.assignee_id.filter(|_| transcript))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// `title`: subject, else raw_subject, else the description's first line
/// (100 characters at most), else `Ticket #{id}`.
pub fn title(ticket: &Ticket) -> String {
    if let Some(s) =
        non_blank(ticket.subject.as_deref()).or(non_blank(ticket.raw_subject.as_deref()))
    {
        return s.to_string();
    }
    if let Some(line) = ticket
        .description
        .as_deref()
        .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
    {
        return line.chars().take(100).collect();
    }
    format!("Ticket #{}", ticket.id)
}

fn satisfaction(ticket: &Ticket, reasons: &HashMap<u64, String>) -> Option<Satisfaction> {
    let r = ticket.satisfaction_rating.as_ref()?;
    if r.score != "good" && r.score != "bad" {
        return None;
    }
    let reason = non_blank(r.reason.as_deref())
        .map(str::to_string)
        .or_else(|| r.reason_id.and_then(|id| reasons.get(&id).cloned()));
    let comment = non_blank(r.comment.as_deref()).map(|c| c.trim().to_string());
    Some(Satisfaction {
        score: r.score.clone(),
        reason,
        comment,
    })
}

fn non_null(m: &Map<String, Value>) -> BTreeMap<String, Value> {
    m.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A user whose record can be read: known and not deleted in Zendesk (a
/// deleted user's record says `active: false`, and nothing else of it is
/// kept).
pub fn readable_user(users: &HashMap<u64, User>, id: u64) -> Option<&User> {
    users.get(&id).filter(|u| u.active != Some(false))
}

/// An organization that can be read: known and not deleted in Zendesk.
pub fn readable_org(orgs: &HashMap<u64, Organization>, id: u64) -> Option<&Organization> {
    orgs.get(&id).filter(|o| o.deleted_at.is_none())
}

/// What is kept of a user: the whole record, or for a user deleted in
/// Zendesk (`active: false`) only `{id, active: false}`: no name, e-mail,
/// phone or field of theirs stays anywhere.
pub fn retained_user(u: User) -> User {
    if u.active == Some(false) {
        User {
            id: u.id,
            active: Some(false),
            ..Default::default()
        }
    } else {
        u
    }
}

/// What is kept of an organization: the whole record, or for one deleted
/// in Zendesk only `{id, deleted_at}`.
pub fn retained_org(o: Organization) -> Organization {
    if o.deleted_at.is_some() {
        Organization {
            id: o.id,
            deleted_at: o.deleted_at,
            ..Default::default()
        }
    } else {
        o
    }
}

/// The organization a document shows for its requester: the requester's
/// own organization as Zendesk holds it now, the ticket's only when the
/// requester has none.
pub fn requester_org_id(ticket: &Ticket, requester: Option<&User>) -> Option<u64> {
    requester
        .and_then(|u| u.organization_id)
        .or(ticket.organization_id)
}

fn doc_user(ctx: &RenderContext<'_>, ticket: &Ticket) -> DocUser {
    let Some(user) = ticket
        .requester_id
        .and_then(|id| readable_user(ctx.users, id))
    else {
        return DocUser::Missing(MissingRef {
            id: ticket.requester_id,
            missing: true,
        });
    };
    let org =
        requester_org_id(ticket, Some(user)).map(|id| match readable_org(ctx.organizations, id) {
            Some(o) => DocOrg::Present(OrgProps {
                id: o.id,
                name: o.name.clone(),
                domain_names: o.domain_names.clone(),
                tags: o.tags.clone(),
                fields: non_null(&o.organization_fields),
            }),
            None => DocOrg::Missing(MissingRef {
                id: Some(id),
                missing: true,
            }),
        });
    DocUser::Present(UserProps {
        id: user.id.or(ticket.requester_id).unwrap_or_default(),
        missing: false,
        name: user.name.clone(),
        email: user.email.clone(),
        phone: user.phone.clone(),
        locale: user.locale.clone(),
        time_zone: user
            .iana_time_zone
            .clone()
            .or_else(|| user.time_zone.clone()),
        external_id: user.external_id.clone(),
        tags: user.tags.clone(),
        fields: non_null(&user.user_fields),
        organization: org,
    })
}

/// Who a transcript's lines may name: the ticket's requester by name, its
/// agents, and the customer of each transcript that names neither a
/// visitor nor the requester (by its comment id).
struct Speakers<'a> {
    requester_name: Option<&'a str>,
    agents: Vec<(i64, &'a str)>,
    unnamed_customers: HashMap<u64, &'a str>,
}

impl Speakers<'_> {
    /// Whether line `name` of the transcript in comment `comment_id` is the
    /// customer's.
    fn is_customer(&self, comment_id: u64, name: &str) -> bool {
        is_named_customer(name, self.requester_name)
            || self.unnamed_customers.get(&comment_id) == Some(&name)
    }
}

/// A transcript line's name that is the customer's by itself: an
/// anonymous visitor, or the requester's name.
fn is_named_customer(name: &str, requester_name: Option<&str>) -> bool {
    name.starts_with("Visitor ") || Some(name) == requester_name
}

/// The customer of each transcript where no line is by a visitor or by the
/// requester's name (a requester renamed since the chat): the first speaker
/// whose name is not one of the ticket's agents. By comment id.
fn unnamed_customers<'e>(
    entries: &'e [ConversationEntry],
    requester_name: Option<&str>,
    agents: &[(i64, &str)],
) -> HashMap<u64, &'e str> {
    let lines = || {
        entries
            .iter()
            .filter(|e| e.derived && e.source.is_none())
            .filter_map(|e| Some((e.source_comment_id, e.author_name.as_deref()?)))
    };
    let named: Vec<u64> = lines()
        .filter(|(_, n)| is_named_customer(n, requester_name))
        .map(|(c, _)| c)
        .collect();
    let mut out = HashMap::new();
    for (comment, name) in lines() {
        if !named.contains(&comment) && !agents.iter().any(|(_, a)| *a == name) {
            out.entry(comment).or_insert(name);
        }
    }
    out
}

fn message(
    ctx: &RenderContext<'_>,
    ticket: &Ticket,
    speakers: &Speakers<'_>,
    e: &ConversationEntry,
) -> Message {
    if let Some(source) = e.source {
        return thread_message(ctx, ticket, source, e);
    }
    if e.derived {
        let name = e.author_name.clone();
        let agents = &speakers.agents;
        let customer = name
            .as_deref()
            .is_some_and(|n| speakers.is_customer(e.source_comment_id, n));
        return Message {
            comment_id: None,
            author_id: if customer {
                ticket.requester_id.map(|r| r as i64)
            } else {
                name.as_deref()
                    .and_then(|n| agents.iter().find(|(_, a)| *a == n))
                    .map(|(id, _)| *id)
            },
            author_name: name,
            role: e.role.unwrap_or(if customer {
                MessageRole::Customer
            } else {
                MessageRole::Agent
            }),
            created_at: e.created_at.clone(),
            text: e.text.clone(),
        };
    }
    let author = e
        .author_id
        .filter(|a| *a > 0)
        .and_then(|a| readable_user(ctx.users, a as u64));
    let role = e.role.unwrap_or(match author {
        Some(u) if u.role.is_staff() => MessageRole::Agent,
        _ => MessageRole::Customer,
    });
    Message {
        comment_id: Some(e.source_comment_id),
        author_id: e.author_id,
        author_name: e
            .author_name
            .clone()
            .or_else(|| author.and_then(|u| u.name.clone())),
        role,
        created_at: e.created_at.clone(),
        text: e.text.clone(),
    }
}

/// The agents and admins a transcript's agent lines may name: the
/// ticket's assignee and the authors of its comments, readable, by id.
fn ticket_agents<'u>(
    ctx: &RenderContext<'u>,
    ticket: &Ticket,
    entries: &[ConversationEntry],
) -> Vec<(i64, &'u str)> {
    let mut out: Vec<(i64, &str)> = entries
        .iter()
        .filter(|e| !e.derived)
        .filter_map(|e| e.author_id)
        .chain(ticket.assignee_id.map(|a| a as i64))
        .filter(|a| *a > 0)
        .filter_map(|a| {
            let u = readable_user(ctx.users, a as u64).filter(|u| u.role.is_staff())?;
            Some((a, u.name.as_deref()?))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A message read per ticket: its role as read; the author's name from the
/// user record (chat history) or as the log gives it (conversation log),
/// each falling back on the other.
fn thread_message(
    ctx: &RenderContext<'_>,
    ticket: &Ticket,
    source: EntrySource,
    e: &ConversationEntry,
) -> Message {
    let role = e.role.unwrap_or(MessageRole::Agent);
    let author_id = match (source, e.author_id) {
        (EntrySource::ChatHistory, None) if role == MessageRole::Customer => {
            ticket.requester_id.map(|r| r as i64)
        }
        (_, id) => id,
    };
    let known = author_id
        .filter(|a| *a > 0)
        .and_then(|a| readable_user(ctx.users, a as u64))
        .and_then(|u| u.name.clone());
    let author_name = match source {
        EntrySource::ChatHistory => known.or_else(|| e.author_name.clone()),
        EntrySource::ConversationLog => e.author_name.clone().or(known),
    };
    Message {
        comment_id: (e.source_comment_id != 0).then_some(e.source_comment_id),
        author_id,
        author_name,
        role,
        created_at: e.created_at.clone(),
        text: e.text.clone(),
    }
}

/// The document of a ticket, or `None` when the ticket is not feedback (no
/// public end-user message and no CSAT rating with a comment) or is deleted.
pub fn render(
    ctx: &RenderContext<'_>,
    ticket: &Ticket,
    entries: &[ConversationEntry],
) -> Option<Document> {
    if ticket.status == TicketStatus::Deleted {
        return None;
    }
    let requester_name = ticket
        .requester_id
        .and_then(|id| readable_user(ctx.users, id))
        .and_then(|u| u.name.as_deref());
    let agents = ticket_agents(ctx, ticket, entries);
    let speakers = Speakers {
        requester_name,
        unnamed_customers: unnamed_customers(entries, requester_name, &agents),
        agents,
    };
    let content: Vec<Message> = entries
        .iter()
        .map(|e| message(ctx, ticket, &speakers, e))
        .collect();
    let satisfaction = satisfaction(ticket, ctx.reasons);
    let customer_spoke = content.iter().any(|m| m.role == MessageRole::Customer);
    let rated_with_comment = satisfaction.as_ref().is_some_and(|s| s.comment.is_some());
    if !customer_spoke && !rated_with_comment {
        return None;
    }
    Some(Document {
        id: format!("{}:{}", ctx.connection, ticket.id),
        connection: ctx.connection.to_string(),
        ticket_id: ticket.id,
        title: title(ticket),
        url: format!(
            "https://{}.zendesk.com/agent/tickets/{}",
            ctx.subdomain, ticket.id
        ),
        created_at: ticket.created_at.clone(),
        updated_at: ticket.updated_at.clone(),
        metadata: Metadata {
            status: ticket.status.as_str().to_string(),
            ticket_id: ticket.id,
            channel: ticket
                .via
                .as_ref()
                .map(|v| v.channel.clone())
                .filter(|c| !c.is_empty()),
        },
        content,
        properties: Properties {
            fields: ctx.fields.map(&ticket.custom_fields),
            satisfaction,
        },
        user: doc_user(ctx, ticket),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(comment: u64, name: &str) -> ConversationEntry {
        ConversationEntry {
            source_comment_id: comment,
            seq: 0,
            derived: true,
            author_id: None,
            author_name: Some(name.into()),
            role: None,
            created_at: None,
            text: "hi".into(),
            source: None,
        }
    }

    #[test]
    fn a_transcript_naming_its_requester_or_a_visitor_needs_no_guess() {
        let entries = [
            line(1, "Dana"),
            line(1, "Ana"),
            line(2, "Visitor 123"),
            line(2, "Bo"),
        ];
        assert!(unnamed_customers(&entries, Some("Ana"), &[]).is_empty());
    }

    #[test]
    fn otherwise_the_first_speaker_who_is_no_agent_is_the_customer() {
        let entries = [line(1, "Dana"), line(1, "Ana"), line(1, "Dana")];
        let agents = [(10, "Dana")];
        let found = unnamed_customers(&entries, Some("Ana Smith"), &agents);
        assert_eq!(found, HashMap::from([(1, "Ana")]));
        // An unknown agent who speaks first is taken for the customer: the
        // rule's limit, written in RULES.md.
        assert_eq!(
            unnamed_customers(&entries, None, &[]),
            HashMap::from([(1, "Dana")])
        );
    }

    #[test]
    fn comments_and_per_ticket_messages_are_not_transcript_lines() {
        let mut comment = line(1, "Ana");
        comment.derived = false;
        let mut history = line(2, "Ana");
        history.source = Some(EntrySource::ChatHistory);
        assert!(unnamed_customers(&[comment, history], None, &[]).is_empty());
    }
}
