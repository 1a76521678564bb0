//! Legacy Zendesk Chat transcripts: one comment holding the whole chat,
//! split into one message per chat line (RULES.md "Chat transcripts").
//!
//! Accounts write the transcript in their own language and clock, and no
//! public source shows the words Zendesk uses outside English. So the parser
//! reads the transcript by its STRUCTURE, not by keywords:
//! - header (first non-empty line): `<words>: <date> <time> [AM|PM] [zone]`;
//! - message line: `(<time>) <name>: <text>`, text continuing on the
//!   following lines;
//! - system line (joined, left, transferred): `(<time>) *** … ***`.
//!
//! Words, with their sources:
//! - `Chat started:` with `(01:51:20 PM) *** Eric joined the chat ***`: a real
//!   English transcript pasted on the electric-skateboard builders forum
//!   (GitHub `aurimasniekis/electric_skateboard_builders_dump`, topic
//!   "FOCBOX over current fault", 2018); a public test of Wrike's chat logs
//!   shows `(08:59:31 PM) * YYY joined the chat *` (one star); ZENDESK.md
//!   records `has joined the chat` / `has left`, unpadded hours and 24-hour
//!   stamps in real pastes.
//! - Every other language (German, French, Spanish, Portuguese, Italian,
//!   Dutch, Japanese, ...): structural only. The one word the parser looks
//!   at is the English `Chat started`, which selects the month-first reading
//!   of an ambiguous `a/b/yyyy` date (see [`parse_date`]).

use jiff::civil::Date;

/// One chat line: who, when, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub name: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub created_at: String,
    pub text: String,
}

/// How an `a/b/yyyy` date whose two numbers are both ≤ 12 is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    MonthFirst,
    DayFirst,
}

/// The header: the chat's date and its start time (seconds since midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    date: Date,
    secs: u32,
}

/// What one line of the transcript body is.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Message {
        secs: u32,
        name: &'a str,
        text: &'a str,
    },
    System {
        secs: u32,
    },
    /// Blank, continuation or unparsable: joins the previous message.
    Other,
}

/// Splits a transcript, or `None` when the text is not one: no header of
/// the transcript shape, no message line, or text before the first message
/// that is not a chat line (it would have no message to join).
pub fn split_transcript(text: &str) -> Option<Vec<ChatLine>> {
    let mut lines = text.lines();
    let header = parse_header(lines.by_ref().find(|l| !l.trim().is_empty())?.trim())?;
    let mut t = Transcript::new(header);
    for line in lines {
        t.push(line)?;
    }
    t.finish()
}

/// A message being gathered: its text lines until the next chat line.
struct Draft {
    name: String,
    created_at: String,
    parts: Vec<String>,
}

/// The state of a split: the current date, the last time seen and the
/// messages so far.
struct Transcript {
    date: Date,
    last_secs: u32,
    drafts: Vec<Draft>,
}

impl Transcript {
    fn new(header: Header) -> Self {
        Transcript {
            date: header.date,
            // The header has no seconds and may be rounded: a first line up
            // to a minute before it is still the same day.
            last_secs: header.secs.saturating_sub(60),
            drafts: Vec::new(),
        }
    }

    /// Adds one body line; `None` when a non-blank line comes before any
    /// message (or the date cannot move on).
    fn push(&mut self, line: &str) -> Option<()> {
        match classify(line) {
            Line::Message { secs, name, text } => {
                self.advance(secs)?;
                self.drafts.push(Draft {
                    name: name.to_string(),
                    created_at: stamp(self.date, secs),
                    parts: vec![text.to_string()],
                });
            }
            Line::System { secs } => self.advance(secs)?,
            Line::Other if self.drafts.is_empty() && line.trim().is_empty() => {}
            Line::Other => self.drafts.last_mut()?.parts.push(line.to_string()),
        }
        Some(())
    }

    /// Moves the clock to `secs`, on to the next day past midnight.
    fn advance(&mut self, secs: u32) -> Option<()> {
        if past_midnight(self.last_secs, secs) {
            self.date = self.date.tomorrow().ok()?;
        }
        self.last_secs = secs;
        Some(())
    }

    fn finish(self) -> Option<Vec<ChatLine>> {
        let out: Vec<ChatLine> = self
            .drafts
            .into_iter()
            .map(|d| ChatLine {
                name: d.name,
                created_at: d.created_at,
                text: crate::text::normalize(&d.parts.join("\n")),
            })
            .collect();
        if out.is_empty() { None } else { Some(out) }
    }
}

/// True when a line stamped `secs` after one stamped `prev` lies on the
/// next day: the time went backwards.
fn past_midnight(prev: u32, secs: u32) -> bool {
    secs < prev
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn stamp(date: Date, secs: u32) -> String {
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// One body line: a message line, a system line, or anything else.
fn classify(line: &str) -> Line<'_> {
    let Some((secs, rest)) = parse_stamp(line.trim_start()) else {
        return Line::Other;
    };
    let rest = rest.trim();
    if rest.len() >= 2 && rest.starts_with('*') && rest.ends_with('*') {
        return Line::System { secs };
    }
    match split_label(rest) {
        Some((name, text)) if !name.trim().is_empty() => Line::Message {
            secs,
            name: name.trim(),
            text: text.trim_start(),
        },
        _ => Line::Other,
    }
}

/// `(09:15:32 AM) rest` or `(15:01:53) rest` → (seconds since midnight, rest).
fn parse_stamp(line: &str) -> Option<(u32, &str)> {
    let inner = line.strip_prefix('(')?;
    let (clock, rest) = inner.split_once(')')?;
    Some((parse_clock(clock)?, rest))
}

/// Splits at the first colon (ASCII or full-width `：`).
fn split_label(s: &str) -> Option<(&str, &str)> {
    let (i, c) = s.char_indices().find(|&(_, c)| c == ':' || c == '：')?;
    Some((&s[..i], &s[i + c.len_utf8()..]))
}

/// `<words>: <date> <time> [AM|PM] [zone]` → the date and start time. The
/// words have no digits; the zone (up to three words) is read as UTC.
fn parse_header(line: &str) -> Option<Header> {
    let (words, rest) = split_label(line)?;
    let words = words.trim();
    let plausible = !words.is_empty()
        && words.chars().count() <= 60
        && !words.starts_with('(')
        && !words.chars().any(|c| c.is_ascii_digit());
    if !plausible {
        return None;
    }
    let order = if words.eq_ignore_ascii_case("Chat started") {
        Order::MonthFirst
    } else {
        Order::DayFirst
    };
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    let (date, clock) = tokens.split_first()?;
    let date = parse_date(date, order)?;
    // The longest run of tokens that reads as a time; the rest is the zone.
    let secs = (1..=clock.len())
        .rev()
        .filter(|&k| clock.len() - k <= 3)
        .find_map(|k| parse_clock(&clock[..k].join(" ")))?;
    Some(Header { date, secs })
}

/// `H:MM[:SS]` with an optional `AM`/`PM` marker (any case, dots and
/// spaces ignored: `pm`, `p.m.`, `p. m.`) → seconds since midnight. With a
/// marker, hours 1–12 are on the 12-hour clock (12 AM = 0 h); an hour of 0
/// or above 12 is already on the 24-hour clock and the marker is ignored.
fn parse_clock(s: &str) -> Option<u32> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(s.len());
    let (clock, marker) = s.split_at(end);
    let pm = meridiem(marker)?;
    let mut parts = clock.split(':');
    let h = number(parts.next()?, 1..=2)?;
    let m = number(parts.next()?, 2..=2)?;
    let sec = match parts.next() {
        Some(p) => number(p, 2..=2)?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let h = match pm {
        Some(pm) if (1..=12).contains(&h) => h % 12 + if pm { 12 } else { 0 },
        _ => h,
    };
    Some(h * 3600 + m * 60 + sec)
}

/// The AM/PM marker after a time: `Some(None)` when there is none,
/// `Some(Some(true))` for PM, `None` when it is something else.
fn meridiem(marker: &str) -> Option<Option<bool>> {
    let m: String = marker
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .flat_map(char::to_lowercase)
        .collect();
    match m.as_str() {
        "" => Some(None),
        "am" => Some(Some(false)),
        "pm" => Some(Some(true)),
        _ => None,
    }
}

/// ASCII digits only, with a length in `len`.
fn number(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<u32> {
    if !len.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The header's date:
/// - year first (`2023-05-14`, `2022/08/14`, `2022.08.14`, `2022年8月14日`):
///   year, month, day;
/// - year last (`14.08.2022`, `14/08/2022`, `08/14/2022`, `14-08-2022`): a
///   first number above 12 is the day, a second number above 12 is the day;
///   when both are ≤ 12, dotted dates are day-first and `/` or `-` dates
///   follow `order` (month-first for the English header, else day-first).
///
/// Two-digit years and month names are not read (the header then fails).
fn parse_date(s: &str, order: Order) -> Option<Date> {
    let s = s.replace(['年', '月'], "/");
    let s = s.strip_suffix('日').unwrap_or(&s);
    let sep = s.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = s.split(sep).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (y, m, d) = if a.len() == 4 {
        (number(a, 4..=4)?, number(b, 1..=2)?, number(c, 1..=2)?)
    } else {
        let (a, b) = (number(a, 1..=2)?, number(b, 1..=2)?);
        let (d, m) = day_month(a, b, sep == '.' || order == Order::DayFirst);
        (number(c, 4..=4)?, m, d)
    };
    Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()
}

/// (day, month) of `a/b`: the number above 12 is the day; when both are
/// ≤ 12, `day_first` decides.
fn day_month(a: u32, b: u32, day_first: bool) -> (u32, u32) {
    if a > 12 || (b <= 12 && day_first) {
        (a, b)
    } else {
        (b, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i16, m: i8, d: i8) -> Option<Date> {
        Date::new(y, m, d).ok()
    }

    /// (name, created_at, text) of every message.
    fn split(t: &str) -> Vec<(String, String, String)> {
        split_transcript(t)
            .unwrap_or_default()
            .into_iter()
            .map(|l| (l.name, l.created_at, l.text))
            .collect()
    }

    fn line(name: &str, at: &str, text: &str) -> (String, String, String) {
        (name.into(), at.into(), text.into())
    }

    const T: &str = "Chat started: 2023-05-14 11:58 PM UTC\n\n(11:58:32 PM) Visitor 81234567: Hello\nsecond line\n(11:59:48 PM) *** Dana Novak joined the chat ***\n(11:59:59 PM) Dana Novak: Hi! How can I help?\n(12:00:10 AM) Visitor 81234567: It's: broken\n(12:01:00 AM) *** Visitor 81234567 left the chat ***";

    #[test]
    fn splits_lines_with_times_and_midnight_rollover() {
        let lines = split_transcript(T).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].name, "Visitor 81234567");
        assert_eq!(lines[0].created_at, "2023-05-14T23:58:32Z");
        assert_eq!(lines[0].text, "Hello\nsecond line");
        assert_eq!(lines[1].name, "Dana Novak");
        assert_eq!(lines[1].text, "Hi! How can I help?");
        assert_eq!(lines[2].created_at, "2023-05-15T00:00:10Z");
        assert_eq!(lines[2].text, "It's: broken");
    }

    #[test]
    fn not_a_transcript() {
        assert_eq!(split_transcript("Hello there"), None);
        assert_eq!(
            split_transcript("Chat started: yesterday\n(09:15:32 AM) A: b"),
            None
        );
        assert_eq!(
            split_transcript("Chat started: 2023-05-14 09:15 AM UTC\nno lines"),
            None
        );
    }

    #[test]
    fn german_24_hour_with_dotted_date() {
        let t = "Chat gestartet: 14.08.2022 15:00 UTC\n\n(15:00:12) Visitor 1: Hallo\n(15:00:40) *** Dana ist dem Chat beigetreten ***\n(15:01:53) Dana: Guten Tag!";
        assert_eq!(
            split(t),
            vec![
                line("Visitor 1", "2022-08-14T15:00:12Z", "Hallo"),
                line("Dana", "2022-08-14T15:01:53Z", "Guten Tag!"),
            ]
        );
    }

    #[test]
    fn french_header_with_space_before_the_colon() {
        let t = "Chat démarré : 03/04/2022 09:30 UTC\n(09:30:05) Léa Dubois : Bonjour\n(09:31:00) *** Ivo a rejoint le chat ***";
        assert_eq!(
            split(t),
            vec![line("Léa Dubois", "2022-04-03T09:30:05Z", "Bonjour")]
        );
    }

    #[test]
    fn spanish_slashed_date_is_day_first() {
        let t = "Chat iniciado: 05/06/2021 10:00 UTC\n(10:00:01) Mateo: Hola";
        assert_eq!(
            split(t),
            vec![line("Mateo", "2021-06-05T10:00:01Z", "Hola")]
        );
    }

    #[test]
    fn portuguese_header_with_seconds() {
        let t = "Chat iniciado: 14/08/2022 15:00:12 UTC\n(15:00:30) Júlia: Olá\n(15:01:00) *** Júlia saiu do chat ***";
        assert_eq!(split(t), vec![line("Júlia", "2022-08-14T15:00:30Z", "Olá")]);
    }

    #[test]
    fn italian_transcript() {
        let t = "Chat avviata: 01/02/2020 08:00 UTC\n(08:00:09) *** Marco si è unito alla chat ***\n(08:00:10) Marco: Buongiorno";
        assert_eq!(
            split(t),
            vec![line("Marco", "2020-02-01T08:00:10Z", "Buongiorno")]
        );
    }

    #[test]
    fn dutch_dashed_date_is_day_first() {
        let t = "Chat gestart: 02-03-2022 12:00 UTC\n(12:00:01) Noor: Hoi";
        assert_eq!(split(t), vec![line("Noor", "2022-03-02T12:00:01Z", "Hoi")]);
    }

    #[test]
    fn japanese_year_first_date() {
        let t = "チャット開始: 2022/08/14 15:00 UTC\n(15:00:05) 佐藤: こんにちは\n(15:00:30) *** 健二がチャットに参加しました ***\n(15:00:50) 健二: いらっしゃいませ";
        assert_eq!(
            split(t),
            vec![
                line("佐藤", "2022-08-14T15:00:05Z", "こんにちは"),
                line("健二", "2022-08-14T15:00:50Z", "いらっしゃいませ"),
            ]
        );
    }

    #[test]
    fn japanese_full_width_colons_and_kanji_date() {
        let t = "チャット開始：2022年8月14日 15:00 UTC\n(15:00:05) 佐藤：こんにちは";
        assert_eq!(
            split(t),
            vec![line("佐藤", "2022-08-14T15:00:05Z", "こんにちは")]
        );
    }

    #[test]
    fn english_slashed_date_is_month_first() {
        let t = "Chat started: 03/04/2022 1:38 PM UTC\n(1:38:05 PM) Ana: hi";
        assert_eq!(split(t), vec![line("Ana", "2022-03-04T13:38:05Z", "hi")]);
    }

    #[test]
    fn lowercase_and_dotted_markers() {
        assert_eq!(parse_clock("1:38:05 pm"), Some(13 * 3600 + 38 * 60 + 5));
        assert_eq!(parse_clock("9:05 a.m."), Some(9 * 3600 + 5 * 60));
        assert_eq!(parse_clock("3:00:00 p. m."), Some(15 * 3600));
        assert_eq!(parse_clock("3:00:00PM"), Some(15 * 3600));
        assert_eq!(parse_clock("3:00:00 XM"), None);
    }

    #[test]
    fn twelve_o_clock_is_noon_or_midnight() {
        assert_eq!(parse_stamp("(12:00:00 PM) x").map(|p| p.0), Some(12 * 3600));
        assert_eq!(parse_stamp("(12:00:00 AM) x").map(|p| p.0), Some(0));
    }

    #[test]
    fn an_hour_above_twelve_ignores_the_marker() {
        assert_eq!(parse_clock("13:00:00 PM"), Some(13 * 3600));
        assert_eq!(parse_clock("20:59 AM"), Some(20 * 3600 + 59 * 60));
    }

    #[test]
    fn clocks_out_of_range_are_not_times() {
        for s in [
            "24:00:00", "10:60:00", "10:00:60", "10:0:00", "100:00", "10", "",
        ] {
            assert_eq!(parse_clock(s), None, "{s}");
        }
    }

    #[test]
    fn twenty_four_hour_transcript_crossing_midnight() {
        let t = "Chat gestartet: 31.12.2022 23:59 UTC\n(23:59:40) A: eins\n(00:00:05) B: zwei\n(00:10:00) A: drei";
        assert_eq!(
            split(t),
            vec![
                line("A", "2022-12-31T23:59:40Z", "eins"),
                line("B", "2023-01-01T00:00:05Z", "zwei"),
                line("A", "2023-01-01T00:10:00Z", "drei"),
            ]
        );
    }

    #[test]
    fn a_first_line_after_midnight_is_on_the_next_day() {
        let t = "Chat started: 2023-05-14 11:59 PM UTC\n(12:00:20 AM) Ana: late";
        assert_eq!(split(t), vec![line("Ana", "2023-05-15T00:00:20Z", "late")]);
    }

    #[test]
    fn a_first_line_just_before_a_rounded_header_is_the_same_day() {
        let t = "Chat started: 2023-05-14 10:00 AM UTC\n(09:59:45 AM) Ana: early";
        assert_eq!(split(t), vec![line("Ana", "2023-05-14T09:59:45Z", "early")]);
    }

    #[test]
    fn midnight_rule() {
        assert!(past_midnight(23 * 3600, 10));
        assert!(!past_midnight(10, 10));
        assert!(!past_midnight(10, 11));
    }

    #[test]
    fn multi_line_message_keeps_its_lines_and_blank_lines() {
        let t = "Chat started: 2023-05-14 09:00 AM UTC\n(09:00:01 AM) Ana: one\ntwo\n\nthree\n(09:00:05 AM) Bo: ok";
        assert_eq!(
            split(t),
            vec![
                line("Ana", "2023-05-14T09:00:01Z", "one\ntwo\n\nthree"),
                line("Bo", "2023-05-14T09:00:05Z", "ok"),
            ]
        );
    }

    #[test]
    fn unparsable_lines_join_the_previous_message() {
        let t = "Chat started: 2023-05-14 09:00 AM UTC\n(09:00:01 AM) Ana: one\n(09:00:02 AM) no name here\n(99:00) Bo: not a time\n(09:00:03 AM) *** Bo joined the chat ***\nafter the system line";
        assert_eq!(
            split(t),
            vec![line(
                "Ana",
                "2023-05-14T09:00:01Z",
                "one\n(09:00:02 AM) no name here\n(99:00) Bo: not a time\nafter the system line"
            )]
        );
    }

    #[test]
    fn text_before_the_first_message_keeps_the_transcript_whole() {
        let t = "Chat started: 2023-05-14 09:00 AM UTC\nVisitor details\n(09:00:01 AM) Ana: one";
        assert_eq!(split_transcript(t), None);
        let t = "Chat started: 2023-05-14 09:00 AM UTC\n(09:00:00 AM) *** Ana joined the chat ***\n\n(09:00:01 AM) Ana: one";
        assert_eq!(split(t), vec![line("Ana", "2023-05-14T09:00:01Z", "one")]);
    }

    #[test]
    fn one_star_system_lines_and_indented_stamps() {
        let t = "Chat started: 2019-01-02 08:59 PM UTC\n   (08:59:24 PM) X: critical path?\n   (08:59:31 PM) * Y joined the chat *\n   (08:59:39 PM) Y: Hi X!";
        assert_eq!(
            split(t),
            vec![
                line("X", "2019-01-02T20:59:24Z", "critical path?"),
                line("Y", "2019-01-02T20:59:39Z", "Hi X!"),
            ]
        );
    }

    #[test]
    fn headers_by_structure() {
        let h = |s: &str| parse_header(s).map(|h| (h.date, h.secs));
        assert_eq!(
            h("Chat started: 2023-05-14 09:15 AM UTC"),
            Some((date(2023, 5, 14).unwrap(), 9 * 3600 + 15 * 60))
        );
        assert_eq!(
            h("Chat gestartet: 14.08.2022 15:00"),
            Some((date(2022, 8, 14).unwrap(), 15 * 3600))
        );
        assert_eq!(
            h("Chat avviata: 14/08/2022 3:00 p. m. GMT"),
            Some((date(2022, 8, 14).unwrap(), 15 * 3600))
        );
        for bad in [
            "Chat started 2023-05-14 09:15 AM UTC",
            ": 2023-05-14 09:15 UTC",
            "Ticket 12: 2023-05-14 09:15 UTC",
            "Chat started: 2023-05-14",
            "Chat started: 2023-05-14 later",
            "Chat started: 14 May 2023 09:15 UTC",
            "Chat started: 2023-05-14 09:15 UTC and some more words",
        ] {
            assert_eq!(h(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_year_first() {
        let d = |s| parse_date(s, Order::DayFirst);
        assert_eq!(d("2023-05-14"), date(2023, 5, 14));
        assert_eq!(d("2022/08/14"), date(2022, 8, 14));
        assert_eq!(d("2022.08.14"), date(2022, 8, 14));
        assert_eq!(d("2022年8月14日"), date(2022, 8, 14));
    }

    #[test]
    fn dates_year_last() {
        let (md, dm) = (Order::MonthFirst, Order::DayFirst);
        assert_eq!(parse_date("14.08.2022", md), date(2022, 8, 14));
        assert_eq!(parse_date("03.04.2022", md), date(2022, 4, 3));
        assert_eq!(parse_date("14/08/2022", md), date(2022, 8, 14));
        assert_eq!(parse_date("08/14/2022", dm), date(2022, 8, 14));
        assert_eq!(parse_date("03/04/2022", md), date(2022, 3, 4));
        assert_eq!(parse_date("03/04/2022", dm), date(2022, 4, 3));
        assert_eq!(parse_date("3-4-2022", dm), date(2022, 4, 3));
    }

    #[test]
    fn dates_that_are_not() {
        let d = |s| parse_date(s, Order::DayFirst);
        for s in [
            "14.08.22",
            "2022-13-01",
            "31/02/2022",
            "14/08-2022",
            "yesterday",
            "1/2/3/2022",
        ] {
            assert_eq!(d(s), None, "{s}");
        }
    }

    #[test]
    fn day_month_rule() {
        assert_eq!(day_month(14, 8, false), (14, 8));
        assert_eq!(day_month(8, 14, true), (14, 8));
        assert_eq!(day_month(3, 4, true), (3, 4));
        assert_eq!(day_month(3, 4, false), (4, 3));
    }

    #[test]
    fn lines_are_classified() {
        assert_eq!(
            classify("(15:01:53) Dana: hi: there"),
            Line::Message {
                secs: 15 * 3600 + 60 + 53,
                name: "Dana",
                text: "hi: there"
            }
        );
        assert_eq!(
            classify("(15:01:53) *** Dana ist dem Chat beigetreten ***"),
            Line::System {
                secs: 15 * 3600 + 60 + 53
            }
        );
        assert_eq!(classify("(15:01:53) : no name"), Line::Other);
        assert_eq!(classify("(see above) Dana: hi"), Line::Other);
        assert_eq!(classify("plain text"), Line::Other);
    }
}
