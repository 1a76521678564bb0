//! Text of a comment: `plain_body`, else `html_body` converted with the
//! `html2text` crate, else `body`; then normalised (RULES.md "Text").

/// Lines are never wrapped: the widest comment Zendesk stores is 64 kB.
const NO_WRAP_WIDTH: usize = 1 << 20;

/// Plain text of an HTML fragment (no decorations, no wrapping), normalised.
pub fn html_to_text(html: &str) -> String {
    match html2text::config::plain_no_decorate()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), NO_WRAP_WIDTH)
    {
        Ok(t) => normalize(&t),
        // html2text only fails on impossible widths; keep the raw text then.
        Err(_) => normalize(html),
    }
}

/// RULES.md normalisation: NUL characters dropped, `\r\n`/`\r` and the
/// Unicode line and paragraph separators → `\n`, trailing white space
/// removed from every line, runs of 3+ newlines → 2, whole text trimmed.
pub fn normalize(text: &str) -> String {
    let unified;
    let text = if text.contains(['\r', '\0', '\u{2028}', '\u{2029}']) {
        unified = text
            .replace("\r\n", "\n")
            .replace(['\r', '\u{2028}', '\u{2029}'], "\n")
            .replace('\0', "");
        unified.as_str()
    } else {
        text
    };
    let mut out = String::with_capacity(text.len());
    let mut pending_newlines = 0usize;
    for line in text.split('\n') {
        let line = line.trim_end();
        if line.is_empty() {
            pending_newlines += 1;
            continue;
        }
        if !out.is_empty() {
            // one newline ends the previous line; each empty line adds one
            let n = (pending_newlines + 1).min(2);
            for _ in 0..n {
                out.push('\n');
            }
        }
        pending_newlines = 0;
        out.push_str(line);
    }
    // leading white space of the first line is trimmed too
    let start = out.len() - out.trim_start().len();
    if start > 0 {
        out.drain(..start);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_unicode_separators_are_cleaned() {
        assert_eq!(
            normalize("a\0b\u{2028}c\u{2029}\u{2029}\u{2029}d"),
            "ab\nc\n\nd"
        );
    }

    #[test]
    fn zendesk_comment_html_becomes_paragraphs_and_lines() {
        let html = r#"<div class="zd-comment" dir="auto"><p>line1<br>line2</p><p>para &amp; 2 <strong>x</strong></p></div>"#;
        assert_eq!(html_to_text(html), "line1\nline2\n\npara & 2 x");
    }

    #[test]
    fn unicode_rtl_emoji_and_entities_survive() {
        let html = "<p>مرحبا بكم 👋</p><p>שלום &lt;עולם&gt; &quot;x&quot; &#233;t&eacute;</p>";
        assert_eq!(html_to_text(html), "مرحبا بكم 👋\n\nשלום <עולם> \"x\" été");
    }

    #[test]
    fn emphasis_is_not_decorated() {
        assert_eq!(
            html_to_text("<p><em>so</em> <strong>slow</strong></p>"),
            "so slow"
        );
    }

    #[test]
    fn a_64_kb_paragraph_stays_one_line() {
        let words = "word ".repeat(13_000);
        let html = format!("<p>{}</p>", words.trim_end());
        let text = html_to_text(&html);
        assert_eq!(text.lines().count(), 1);
        assert_eq!(text, words.trim_end());
    }

    #[test]
    fn normalisation_rules() {
        assert_eq!(
            normalize("  a  \r\nb\t\r\n\r\n\r\n\r\nc  \n\n"),
            "a\nb\n\nc"
        );
        assert_eq!(normalize("\n\n x"), "x");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("a\n \nb"), "a\n\nb");
    }
}
