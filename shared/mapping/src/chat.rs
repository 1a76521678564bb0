//! Legacy Zendesk Chat transcripts: one comment holding the whole chat,
//! split into one message per chat line (RULES.md "Chat transcripts").

/// One chat line: who, when, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub name: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub created_at: String,
    pub text: String,
}

/// Splits a transcript, or `None` when the text is not one (no parsable
/// `Chat started:` header, or no message line).
pub fn split_transcript(text: &str) -> Option<Vec<ChatLine>> {
    let mut lines = text.lines();
    let header = lines.by_ref().find(|l| !l.trim().is_empty())?;
    let mut date = parse_header(header.trim())?;
    let mut out: Vec<ChatLine> = Vec::new();
    let mut current: Option<(String, String, Vec<String>)> = None;
    let mut last_secs: Option<u32> = None;
    let flush = |cur: &mut Option<(String, String, Vec<String>)>, out: &mut Vec<ChatLine>| {
        if let Some((name, at, parts)) = cur.take() {
            out.push(ChatLine {
                name,
                created_at: at,
                text: crate::text::normalize(&parts.join("\n")),
            });
        }
    };
    for line in lines {
        match parse_stamp(line) {
            Some((secs, rest)) => {
                if last_secs.is_some_and(|prev| secs < prev) {
                    date = date.tomorrow().ok()?;
                }
                last_secs = Some(secs);
                flush(&mut current, &mut out);
                let rest = rest.trim();
                if rest.starts_with("***") {
                    continue; // joined/left/transferred: not a message
                }
                let Some((name, said)) = rest.split_once(':') else {
                    continue;
                };
                let at = format!(
                    "{}T{:02}:{:02}:{:02}Z",
                    date,
                    secs / 3600,
                    (secs / 60) % 60,
                    secs % 60
                );
                current = Some((
                    name.trim().to_string(),
                    at,
                    vec![said.trim_start().to_string()],
                ));
            }
            None => {
                if let Some((_, _, parts)) = current.as_mut() {
                    parts.push(line.to_string());
                }
            }
        }
    }
    flush(&mut current, &mut out);
    if out.is_empty() { None } else { Some(out) }
}

/// `Chat started: 2023-05-14 09:15 AM UTC` → the date (any zone read as UTC).
fn parse_header(line: &str) -> Option<jiff::civil::Date> {
    let rest = line.strip_prefix("Chat started:")?.trim();
    let date = rest.split_whitespace().next()?;
    date.parse::<jiff::civil::Date>().ok()
}

/// `(09:15:32 AM) rest` → (seconds since midnight, rest).
fn parse_stamp(line: &str) -> Option<(u32, &str)> {
    let inner = line.strip_prefix('(')?;
    let close = inner.find(')')?;
    let stamp = &inner[..close];
    let rest = &inner[close + 1..];
    let (clock, ampm) = stamp.trim().split_once(' ')?;
    let mut parts = clock.split(':');
    let h: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let s: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&h) || m > 59 || s > 59 {
        return None;
    }
    let h = match ampm.trim() {
        "AM" | "am" => h % 12,
        "PM" | "pm" => h % 12 + 12,
        _ => return None,
    };
    Some((h * 3600 + m * 60 + s, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn twelve_o_clock_is_noon_or_midnight() {
        assert_eq!(parse_stamp("(12:00:00 PM) x").map(|p| p.0), Some(12 * 3600));
        assert_eq!(parse_stamp("(12:00:00 AM) x").map(|p| p.0), Some(0));
        assert_eq!(parse_stamp("(13:00:00 PM) x"), None);
    }
}
