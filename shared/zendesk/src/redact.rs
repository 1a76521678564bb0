//! Describing bad data without quoting it.
//!
//! serde_json's messages quote the value they could not read (`invalid type:
//! string "s3cr3t…"`), and a body snippet can hold a customer's words. Errors
//! reach stderr, run records (a DynamoDB attribute on AWS) and logs, so they
//! name what was wrong and where (kind, field, position), never a value.

/// What was wrong with a JSON document, and where, without any of its values.
///
/// Keeps the field named by serde's `missing field` and `unknown field`
/// (keys, not values), and the `expected …` part of a type or value mismatch
/// (written by the deserializer, not taken from the input).
pub fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "not valid JSON".to_string(),
        Category::Eof => "JSON that ends early".to_string(),
        Category::Io => "JSON that could not be read".to_string(),
        Category::Data => data_error(&e.to_string()),
    };
    match (e.line(), e.column()) {
        (0, _) => what,
        (line, column) => format!("{what} at line {line}, column {column}"),
    }
}

/// A data error's message with the found value left out.
fn data_error(message: &str) -> String {
    // serde_json appends " at line L column C"; the position is said apart.
    let message = message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at]);
    // Field names are keys, not values: a misspelt one is worth naming.
    if message.starts_with("missing field ") {
        return message.to_string();
    }
    if message.starts_with("unknown field ") {
        return message.replacen(", expected", " (expected", 1) + ")";
    }
    let kind = if message.starts_with("invalid type") {
        "a value of the wrong type"
    } else if message.starts_with("unknown variant") {
        "an unknown value"
    } else {
        "a value out of range"
    };
    // "invalid type: string \"…\", expected u64": the value sits before the
    // last ", expected " (a value may itself contain those words); what
    // follows is the deserializer's own text.
    match message.rfind(", expected ") {
        Some(at) => format!("{kind} ({})", &message[at + 2..]),
        None => kind.to_string(),
    }
}

/// What a body looks like, for an error about it: its size and kind (HTML
/// page, JSON, other text), never its content.
pub fn body_kind(body: &str) -> String {
    let trimmed = body.trim_start();
    let kind = if trimmed.is_empty() {
        return "the body is empty".to_string();
    } else if trimmed.starts_with('<') {
        "an HTML or XML page"
    } else if trimmed.starts_with('{') || trimmed.starts_with('[') {
        "JSON"
    } else {
        "text"
    };
    format!("the body is {kind} of {} bytes", body.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Secret {
        token: String,
        kind: Kind,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        ApiToken,
    }

    fn error_of(json: &str) -> String {
        json_error(&serde_json::from_str::<Secret>(json).unwrap_err())
    }

    #[test]
    fn a_value_of_the_wrong_type_is_not_quoted() {
        let e = error_of(r#""s3cr3t-canary""#);
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(e.contains("expected struct Secret"), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn an_unknown_variant_is_not_quoted() {
        let e = error_of(r#"{"token": "t", "kind": "s3cr3t-canary"}"#);
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(e.starts_with("an unknown value (expected"), "{e}");
        assert!(
            e.contains("api_token"),
            "the expected variants are named: {e}"
        );
    }

    #[test]
    fn a_value_holding_the_word_expected_does_not_fool_it() {
        let e = error_of(r#"{"token": 1, "kind": "s3cr3t, expected canary"}"#);
        assert!(!e.contains("s3cr3t") && !e.contains("canary"), "{e}");
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(
            error_of(r#"{"kind": "api_token"}"#),
            "missing field `token` at line 1, column 21"
        );
    }

    #[test]
    fn an_unknown_field_is_named() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Manual {
            connection: String,
        }
        let e = serde_json::from_str::<Manual>(r#"{"conection": "s3cr3t"}"#).unwrap_err();
        assert_eq!(
            json_error(&e),
            "unknown field `conection` (expected `connection`) at line 1, column 12"
        );
    }

    #[test]
    fn syntax_errors_give_only_the_position() {
        let e = error_of("{\"token\": \"s3cr3t-canary");
        assert!(e.starts_with("JSON that ends early at line 1"), "{e}");
        assert!(error_of("s3cr3t").starts_with("not valid JSON at line 1, column 1"));
    }

    #[test]
    fn a_value_read_from_a_tree_has_no_position() {
        let e = serde_json::from_value::<Secret>(serde_json::json!("s3cr3t")).unwrap_err();
        assert_eq!(
            json_error(&e),
            "a value of the wrong type (expected struct Secret)"
        );
    }

    #[test]
    fn bodies_are_described_not_quoted() {
        assert_eq!(body_kind(""), "the body is empty");
        assert_eq!(
            body_kind("<html>Dear customer</html>"),
            "the body is an HTML or XML page of 26 bytes"
        );
        assert_eq!(body_kind("{\"a\""), "the body is JSON of 4 bytes");
        assert_eq!(body_kind("oops"), "the body is text of 4 bytes");
    }
}
