//! Any transcript the simulator writes, in any of its languages, clocks and
//! date forms, reads back with `zdsync-mapping` to exactly its messages:
//! names, times and texts (plain text, HTML, and a whole chat comment).

use std::collections::BTreeSet;

use zdsync_mapping::chat::split_transcript;
use zdsync_mapping::conversation_entries;
use zdsync_mapping::text::html_to_text;
use zdsync_zendesk::types::Comment;
use zendesk_sim::chat::{ChatLine, ChatLineKind, STYLES, random_chat};
use zendesk_sim::model::{Body, CommentKind, SimComment, iso};

const SEEDS: u64 = 3_000;

/// (name, created_at, text) of each message of the model.
fn expected(lines: &[ChatLine]) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter_map(|l| match &l.kind {
            ChatLineKind::Message(text) => Some((l.name.clone(), iso(l.at), text.join("\n"))),
            _ => None,
        })
        .collect()
}

/// (name, created_at, text) of each message the reader finds.
fn read(text: &str) -> Vec<(String, String, String)> {
    split_transcript(text)
        .unwrap_or_default()
        .into_iter()
        .map(|l| (l.name, l.created_at, l.text))
        .collect()
}

/// The chat as the comments endpoint (`plain_body`) or the events stream
/// (HTML only) serves it, read into conversation entries.
fn entries(body: &Body, seed: u64, with_plain: bool) -> Vec<(String, String, String)> {
    let c = SimComment {
        id: 1 << 53,
        author_id: 42,
        body: body.clone(),
        public: true,
        channel: "chat".into(),
        kind: CommentKind::Normal,
        emphasis: seed.is_multiple_of(2),
        created_at: 1_700_000_000,
    };
    let comment: Comment = serde_json::from_value(c.json(with_plain)).expect("a comment");
    conversation_entries(&comment)
        .into_iter()
        .map(|e| {
            let name = e.author_name.unwrap_or_default();
            (name, e.created_at.unwrap_or_default(), e.text)
        })
        .collect()
}

#[test]
fn every_simulated_transcript_reads_back_to_its_messages() {
    let mut styles = BTreeSet::new();
    let mut langs = BTreeSet::new();
    let mut crossing = 0;
    for seed in 0..SEEDS {
        let body = random_chat(seed);
        let Body::Chat { style, lines, .. } = &body else {
            panic!("seed {seed}: not a chat");
        };
        let want = expected(lines);
        let plain = body.plain();
        let why = format!("seed {seed} ({}):\n{plain}", style.lang);
        assert_eq!(read(&plain), want, "plain text, {why}");
        assert_eq!(read(&html_to_text(&body.html(true))), want, "HTML, {why}");
        assert_eq!(entries(&body, seed, true), want, "plain_body, {why}");
        assert_eq!(entries(&body, seed, false), want, "html_body, {why}");
        styles.insert(STYLES.iter().position(|s| s == *style));
        langs.insert(style.lang);
        let days: BTreeSet<&str> = want.iter().map(|(_, at, _)| &at[..10]).collect();
        crossing += usize::from(days.len() > 1);
    }
    assert_eq!(styles.len(), STYLES.len(), "every style is generated");
    assert_eq!(
        langs.into_iter().collect::<Vec<_>>(),
        ["de", "en", "es", "fr", "it", "ja", "nl", "pt"]
    );
    assert!(crossing > 100, "{crossing} chats cross midnight");
}

#[test]
fn some_chats_have_their_first_message_after_midnight() {
    let after = (0..SEEDS)
        .filter(|&seed| {
            let Body::Chat { started, lines, .. } = random_chat(seed) else {
                return false;
            };
            iso(started)[..10] != iso(lines[0].at)[..10]
        })
        .count();
    assert!(after > 10, "{after}");
}
