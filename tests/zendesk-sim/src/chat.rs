//! Legacy Zendesk Chat transcripts in the simulated account: generated chats
//! and how they are written in each transcript language and clock.
//!
//! The English words are those of real transcripts (`Chat started:`,
//! `joined the chat`, `has joined the chat`); no public source shows the
//! words Zendesk writes in other languages, so the other styles use the
//! simulator's own translations, with the shapes accounts use (24-hour
//! clock, day-first, dashed or year-first dates, header with seconds). A
//! reader must take them by their structure.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{Body, CLOCK_START, FIRST, LAST, iso};

const DAY: i64 = 86_400;

/// How a transcript writes the header's date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateForm {
    /// `2022-08-14`
    Iso,
    /// `08/14/2022`
    MonthDayYear,
    /// `14.08.2022`
    DayMonthYearDots,
    /// `14/08/2022`
    DayMonthYearSlash,
    /// `14-08-2022`
    DayMonthYearDash,
    /// `2022/08/14`
    YearMonthDay,
}

/// How a transcript writes times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockForm {
    /// `09:15:32 AM`, `1:38:05 PM`, `1:38:05 pm`
    H12 { padded: bool, lower: bool },
    /// `15:01:53`
    H24,
}

/// One way an account writes its transcripts.
#[derive(Debug, PartialEq, Eq)]
pub struct ChatStyle {
    pub lang: &'static str,
    /// The header's words with their colon.
    pub started: &'static str,
    pub joined: &'static str,
    pub left: &'static str,
    /// Between a name and `joined`/`left` (none in Japanese).
    pub gap: &'static str,
    pub date: DateForm,
    pub clock: ClockForm,
    /// The header's time with seconds.
    pub header_seconds: bool,
}

const fn style(
    lang: &'static str,
    started: &'static str,
    (joined, left): (&'static str, &'static str),
    date: DateForm,
    clock: ClockForm,
    header_seconds: bool,
) -> ChatStyle {
    let gap = if matches!(lang.as_bytes(), b"ja") {
        ""
    } else {
        " "
    };
    ChatStyle {
        lang,
        started,
        joined,
        left,
        gap,
        date,
        clock,
        header_seconds,
    }
}

const EN_JOINED: (&str, &str) = ("joined the chat", "left the chat");
const PADDED: ClockForm = ClockForm::H12 {
    padded: true,
    lower: false,
};
const UNPADDED: ClockForm = ClockForm::H12 {
    padded: false,
    lower: false,
};
const LOWER: ClockForm = ClockForm::H12 {
    padded: false,
    lower: true,
};

/// Every transcript style of the simulator: four English, then one per
/// other language.
#[rustfmt::skip]
pub static STYLES: [ChatStyle; 11] = [
    style("en", "Chat started:", EN_JOINED, DateForm::Iso, PADDED, false),
    style("en", "Chat started:", ("has joined the chat", "has left the chat"), DateForm::MonthDayYear, UNPADDED, false),
    style("en", "Chat started:", EN_JOINED, DateForm::Iso, LOWER, false),
    style("en", "Chat started:", EN_JOINED, DateForm::Iso, ClockForm::H24, true),
    style("de", "Chat gestartet:", ("ist dem Chat beigetreten", "hat den Chat verlassen"), DateForm::DayMonthYearDots, ClockForm::H24, false),
    style("fr", "Chat démarré :", ("a rejoint le chat", "a quitté le chat"), DateForm::DayMonthYearSlash, ClockForm::H24, false),
    style("es", "Chat iniciado:", ("se ha unido al chat", "ha salido del chat"), DateForm::DayMonthYearSlash, ClockForm::H24, false),
    style("pt", "Chat iniciado:", ("entrou no chat", "saiu do chat"), DateForm::DayMonthYearSlash, ClockForm::H24, true),
    style("it", "Chat avviata:", ("si è unito alla chat", "ha lasciato la chat"), DateForm::DayMonthYearSlash, ClockForm::H24, false),
    style("nl", "Chat gestart:", ("neemt deel aan de chat", "heeft de chat verlaten"), DateForm::DayMonthYearDash, ClockForm::H24, true),
    style("ja", "チャット開始:", ("がチャットに参加しました", "がチャットから退出しました"), DateForm::YearMonthDay, ClockForm::H24, false),
];

/// What a chat line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatLineKind {
    /// A message: its lines of text.
    Message(Vec<String>),
    /// `*** name joined the chat ***`
    Joined,
    /// `*** name left the chat ***`
    Left,
}

/// One chat line of a legacy chat transcript.
#[derive(Debug, Clone)]
pub struct ChatLine {
    pub at: i64,
    pub name: String,
    pub kind: ChatLineKind,
}

/// The transcript as Zendesk stores it: the header, then the chat lines.
pub fn paragraphs(started: i64, style: &ChatStyle, lines: &[ChatLine]) -> Vec<Vec<String>> {
    let header = format!(
        "{} {} {} UTC",
        style.started,
        date_text(started, style.date),
        clock_text(started, style.clock, style.header_seconds)
    );
    let mut body = Vec::new();
    for l in lines {
        let stamp = clock_text(l.at, style.clock, true);
        let event = match &l.kind {
            ChatLineKind::Message(text) => {
                body.push(format!("({stamp}) {}: {}", l.name, text[0]));
                body.extend(text[1..].iter().cloned());
                continue;
            }
            ChatLineKind::Joined => style.joined,
            ChatLineKind::Left => style.left,
        };
        body.push(format!("({stamp}) *** {}{}{event} ***", l.name, style.gap));
    }
    vec![vec![header], body]
}

/// The date of `t` (UTC) in `form`.
fn date_text(t: i64, form: DateForm) -> String {
    let s = iso(t);
    let (y, m, d) = (&s[0..4], &s[5..7], &s[8..10]);
    match form {
        DateForm::Iso => format!("{y}-{m}-{d}"),
        DateForm::MonthDayYear => format!("{m}/{d}/{y}"),
        DateForm::DayMonthYearDots => format!("{d}.{m}.{y}"),
        DateForm::DayMonthYearSlash => format!("{d}/{m}/{y}"),
        DateForm::DayMonthYearDash => format!("{d}-{m}-{y}"),
        DateForm::YearMonthDay => format!("{y}/{m}/{d}"),
    }
}

/// The time of `t` (UTC) in `form`.
fn clock_text(t: i64, form: ClockForm, with_seconds: bool) -> String {
    let secs = t.rem_euclid(DAY);
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let seconds = if with_seconds {
        format!(":{s:02}")
    } else {
        String::new()
    };
    let ClockForm::H12 { padded, lower } = form else {
        return format!("{h:02}:{m:02}{seconds}");
    };
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    let marker = match (h < 12, lower) {
        (true, false) => "AM",
        (false, false) => "PM",
        (true, true) => "am",
        (false, true) => "pm",
    };
    if padded {
        format!("{h12:02}:{m:02}{seconds} {marker}")
    } else {
        format!("{h12}:{m:02}{seconds} {marker}")
    }
}

/// A transcript style: English half the time (the classic form most often),
/// each other language one time in fourteen.
pub fn pick_style(rng: &mut impl Rng) -> &'static ChatStyle {
    let i = match rng.random_range(0..14) {
        0..=3 => 0,
        r => r - 3,
    };
    &STYLES[i]
}

pub(crate) const OPENERS: [&str; 5] = [
    "Hello, is anyone there?",
    "Hi! I have a question about my invoice.",
    "Hallo, ich brauche Hilfe.",
    "Bonjour, je n'arrive pas à me connecter.",
    "こんにちは、ログインできません。",
];
pub(crate) const CUSTOMER_TEXTS: [&[&str]; 7] = [
    &[
        "The export is slow: it takes 10 minutes.",
        "Also the CSV has no header row.",
    ],
    &["It's urgent (our team is blocked)."],
    &[
        "Order ORD-48213 never arrived.",
        "Tracking says: delivered.",
        "But it isn't here!",
    ],
    &["Das Laden dauert sehr lange 😕"],
    &[
        "The error says:",
        "\"Access denied\" (code 403) & <nothing else>",
    ],
    &["I tried again at 10:30 and it failed", "again."],
    &["請求書が届きません。"],
];
pub(crate) const AGENT_TEXTS: [&[&str]; 5] = [
    &["Thanks, I've filed it with our engineers."],
    &["Could you send a screenshot?", "You can attach it here."],
    &["A fix is rolling out today."],
    &[
        "Try this:",
        "1. log out",
        "2. clear the cache & log in again",
    ],
    &["Is there anything else I can help with?"],
];

fn say(at: i64, name: &str, text: &[&str]) -> ChatLine {
    ChatLine {
        at,
        name: name.to_string(),
        kind: ChatLineKind::Message(text.iter().map(|s| s.to_string()).collect()),
    }
}

fn event(at: i64, name: &str, kind: ChatLineKind) -> ChatLine {
    ChatLine {
        at,
        name: name.to_string(),
        kind,
    }
}

fn one_of<T: Copy>(rng: &mut impl Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// A chat started at `started` between a customer and an agent, in a
/// picked style: one to three exchanges, some messages on several lines,
/// at most about 45 minutes long.
pub fn generate(rng: &mut impl Rng, started: i64, customer: &str, agent: &str) -> Body {
    let style = pick_style(rng);
    let mut t = started + rng.random_range(5..40);
    let mut lines = vec![say(t, customer, &[one_of(rng, &OPENERS)])];
    t += rng.random_range(5..60);
    lines.push(event(t, agent, ChatLineKind::Joined));
    t += rng.random_range(5..60);
    lines.push(say(t, agent, &["Hi! How can I help you today? 😊"]));
    for _ in 0..rng.random_range(1..=3) {
        t += rng.random_range(5..600);
        lines.push(say(t, customer, one_of(rng, &CUSTOMER_TEXTS)));
        t += rng.random_range(5..120);
        lines.push(say(t, agent, one_of(rng, &AGENT_TEXTS)));
    }
    t += rng.random_range(5..60);
    lines.push(event(t, customer, ChatLineKind::Left));
    if rng.random_bool(0.3) {
        t += rng.random_range(1..30);
        lines.push(event(t, agent, ChatLineKind::Left));
    }
    Body::Chat {
        started,
        style,
        lines,
    }
}

/// A chat as the simulator generates them, from a seed alone (for tests of
/// transcript readers): any style, an anonymous visitor or a named
/// customer, a quarter of them starting in the two minutes before midnight.
pub fn random_chat(seed: u64) -> Body {
    let mut rng = StdRng::seed_from_u64(seed);
    let midnight = CLOCK_START - rng.random_range(1..2000) * DAY;
    let started = if rng.random_bool(0.25) {
        midnight - rng.random_range(1..=120)
    } else {
        midnight + rng.random_range(0..DAY - 3600)
    };
    let person = |rng: &mut StdRng| format!("{} {}", one_of(rng, &FIRST), one_of(rng, &LAST));
    let customer = if rng.random_bool(0.5) {
        format!("Visitor {}", rng.random_range(10_000_000..99_999_999))
    } else {
        person(&mut rng)
    };
    let agent = person(&mut rng);
    generate(&mut rng, started, &customer, &agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2022-08-14T15:01:53Z
    const T: i64 = 1_660_489_313;

    #[test]
    fn clocks() {
        assert_eq!(clock_text(T, PADDED, true), "03:01:53 PM");
        assert_eq!(clock_text(T, UNPADDED, false), "3:01 PM");
        assert_eq!(clock_text(T, LOWER, true), "3:01:53 pm");
        assert_eq!(clock_text(T, ClockForm::H24, true), "15:01:53");
        let midnight = T - T.rem_euclid(DAY);
        assert_eq!(clock_text(midnight, PADDED, true), "12:00:00 AM");
        assert_eq!(
            clock_text(midnight + 12 * 3600, UNPADDED, true),
            "12:00:00 PM"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(date_text(T, DateForm::Iso), "2022-08-14");
        assert_eq!(date_text(T, DateForm::MonthDayYear), "08/14/2022");
        assert_eq!(date_text(T, DateForm::DayMonthYearDots), "14.08.2022");
        assert_eq!(date_text(T, DateForm::DayMonthYearSlash), "14/08/2022");
        assert_eq!(date_text(T, DateForm::DayMonthYearDash), "14-08-2022");
        assert_eq!(date_text(T, DateForm::YearMonthDay), "2022/08/14");
    }

    #[test]
    fn a_german_transcript() {
        let de = &STYLES[4];
        let lines = [
            say(T, "Visitor 1", &["Hallo", "zweite Zeile"]),
            event(T + 20, "Dana", ChatLineKind::Joined),
        ];
        assert_eq!(
            paragraphs(T - 53, de, &lines),
            vec![
                vec!["Chat gestartet: 14.08.2022 15:01 UTC".to_string()],
                vec![
                    "(15:01:53) Visitor 1: Hallo".to_string(),
                    "zweite Zeile".to_string(),
                    "(15:02:13) *** Dana ist dem Chat beigetreten ***".to_string(),
                ],
            ]
        );
    }

    #[test]
    fn japanese_writes_no_gap_before_the_event() {
        let ja = &STYLES[10];
        let p = paragraphs(T, ja, &[event(T, "健二", ChatLineKind::Left)]);
        assert_eq!(p[0][0], "チャット開始: 2022/08/14 15:01 UTC");
        assert_eq!(p[1][0], "(15:01:53) *** 健二がチャットから退出しました ***");
    }

    #[test]
    fn english_is_half_of_the_styles_picked() {
        let mut rng = StdRng::seed_from_u64(7);
        let picks: Vec<&ChatStyle> = (0..1400).map(|_| pick_style(&mut rng)).collect();
        let english = picks.iter().filter(|s| s.lang == "en").count();
        assert!((550..850).contains(&english), "{english}");
        for s in &STYLES {
            assert!(picks.contains(&s), "{s:?}");
        }
    }
}
