//! Lenient reading of Zendesk's JSON, field by field.
//!
//! Real pages carry more than the reference shows: `via` as a display
//! string, `"-"` or null; ids, counts and times sent as strings; null where
//! an object or a list is expected; values of enumerations nobody announced.
//! None of that may stop an import. Every field that does not identify a
//! record is read with one of the functions here, which turn a value of an
//! unexpected shape into the field's default instead of an error. Only a
//! record whose id cannot be read fails, and the page readers skip (and
//! count) that one record (see `Client`'s page methods).
//!
//! Error messages never quote the value that failed (it may be customer
//! text or a secret).

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};

use crate::types::Via;

/// The largest integer an `f64` holds exactly (2^53): a float id beyond it
/// has lost digits and is not an id any more.
const F64_EXACT: f64 = 9_007_199_254_740_992.0;

/// An unsigned integer from a number, an integral float or a numeric string.
pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= F64_EXACT)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A signed integer from a number, an integral float or a numeric string.
pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= F64_EXACT)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Text from a string, or from a number or bool written as text.
pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A bool from `true`/`false`, `"true"`/`"false"`, `1`/`0`, `"1"`/`"0"`.
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A time as Zendesk writes it, in UTC: `…Z` strings are kept as they are;
/// a time with another offset is turned into UTC (so times sort as text);
/// epoch seconds (a number or a numeric string) become RFC 3339. Text that
/// is no time at all is kept verbatim rather than lost.
pub fn as_time(v: &Value) -> Option<String> {
    let from_epoch = |s: i64| jiff::Timestamp::from_second(s).ok().map(|t| t.to_string());
    match v {
        Value::String(s) => {
            let s = s.trim();
            if s.ends_with('Z') || s.ends_with('z') {
                return Some(s.to_string());
            }
            if let Ok(t) = s.parse::<jiff::Timestamp>() {
                return Some(t.to_string());
            }
            match s.parse::<i64>() {
                Ok(n) => from_epoch(n),
                Err(_) => Some(s.to_string()),
            }
        }
        Value::Number(_) => as_i64(v).and_then(from_epoch),
        _ => None,
    }
}

/// The channel of a `via` given as a display name (the ticket-events
/// export writes `"Web form"`, `"Mail"`...), in the words `via.channel`
/// uses elsewhere. Unknown names are lower-cased, never refused.
pub fn channel_of_display_name(name: &str) -> String {
    let name = name.trim();
    let known = match name.to_ascii_lowercase().as_str() {
        "web form" | "web" => "web",
        "mail" | "email" => "email",
        "chat" => "chat",
        "rule" | "trigger" => "rule",
        "automation" => "automation",
        "messaging" | "native messaging" | "native_messaging" => "native_messaging",
        "api" | "web service" => "api",
        _ => "",
    };
    if known.is_empty() {
        name.to_lowercase()
    } else {
        known.to_string()
    }
}

/// `via` in any shape: an object `{channel, source}`, a display name, or
/// nothing (`"-"`, empty, null, anything else).
pub fn as_via(v: &Value) -> Option<Via> {
    match v {
        Value::Object(o) => {
            // `{}` or an object without a readable channel says nothing.
            let channel = o
                .get("channel")
                .and_then(as_string)
                .filter(|c| !c.trim().is_empty())?;
            let channel = if channel.contains(' ') || channel.chars().any(char::is_uppercase) {
                channel_of_display_name(&channel)
            } else {
                channel
            };
            Some(Via {
                channel,
                source: o.get("source").cloned().unwrap_or(Value::Null),
            })
        }
        Value::String(s) if !s.trim().is_empty() && s.trim() != "-" => Some(Via {
            channel: channel_of_display_name(s),
            source: Value::Null,
        }),
        _ => None,
    }
}

/// Deserializer adapters for `#[serde(deserialize_with = "...")]`.
pub mod de {
    use super::*;

    fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    /// A required id: an error (the record is skipped) when unreadable.
    pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        as_u64(&value(d)?).ok_or_else(|| D::Error::custom("the id is missing or not a number"))
    }

    pub fn u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(as_u64(&value(d)?))
    }

    pub fn i64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(as_i64(&value(d)?))
    }

    pub fn string_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(as_string(&value(d)?))
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(as_string(&value(d)?).unwrap_or_default())
    }

    pub fn time_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(as_time(&value(d)?))
    }

    pub fn bool_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(as_bool(&value(d)?))
    }

    pub fn bool_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(as_bool(&value(d)?).unwrap_or(true))
    }

    pub fn bool_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(as_bool(&value(d)?).unwrap_or(false))
    }

    pub fn via<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Via>, D::Error> {
        Ok(as_via(&value(d)?))
    }

    /// A JSON object; anything else reads as an empty one.
    pub fn object<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
        Ok(match value(d)? {
            Value::Object(m) => m,
            _ => Map::new(),
        })
    }

    /// A list whose unreadable elements are left out; anything but a list
    /// reads as an empty one.
    pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        Ok(match value(d)? {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
            _ => Vec::new(),
        })
    }

    /// A list of strings (numbers written as text; other elements dropped).
    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match value(d)? {
            Value::Array(items) => items.iter().filter_map(as_string).collect(),
            _ => Vec::new(),
        })
    }

    /// Any readable `T`; `None` when the value has another shape.
    pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: DeserializeOwned,
    {
        Ok(match value(d)? {
            Value::Null => None,
            v => serde_json::from_value(v).ok(),
        })
    }
}

/// Records of one list read one by one: what could not be read is counted
/// (by its position in the list), never the reason to drop the others.
#[derive(Debug)]
pub struct Records<T> {
    pub items: Vec<T>,
    /// Positions (0-based) of the records that could not be read.
    pub skipped: Vec<usize>,
}

/// Reads every element of a JSON list as a `T`. A value that is not a list
/// (null, absent) gives no records.
pub fn records<T: DeserializeOwned>(list: Value) -> Records<T> {
    let mut out = Records {
        items: Vec::new(),
        skipped: Vec::new(),
    };
    if let Value::Array(items) = list {
        out.items.reserve(items.len());
        for (i, v) in items.into_iter().enumerate() {
            match serde_json::from_value(v) {
                Ok(t) => out.items.push(t),
                Err(_) => out.skipped.push(i),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn display_names_map_to_channels() {
        for (name, channel) in [
            ("Web form", "web"),
            ("Mail", "email"),
            ("Chat", "chat"),
            ("Rule", "rule"),
            ("Trigger", "rule"),
            ("Automation", "automation"),
            ("Messaging", "native_messaging"),
            ("Native messaging", "native_messaging"),
            ("API", "api"),
            ("Closed Ticket", "closed ticket"),
            ("Voicemail", "voicemail"),
        ] {
            assert_eq!(channel_of_display_name(name), channel, "{name}");
        }
    }

    #[test]
    fn via_reads_every_shape() {
        let obj = as_via(&json!({"channel": "email", "source": {"from": {}}})).unwrap();
        assert_eq!(obj.channel, "email");
        assert_eq!(obj.source, json!({"from": {}}));
        assert_eq!(as_via(&json!("Web form")).unwrap().channel, "web");
        assert_eq!(
            as_via(&json!({"channel": "Web form"})).unwrap().channel,
            "web"
        );
        assert_eq!(as_via(&json!({"channel": null})), None);
        assert_eq!(as_via(&json!({})), None);
        assert_eq!(as_via(&json!("-")), None);
        assert_eq!(as_via(&json!("")), None);
        assert_eq!(as_via(&Value::Null), None);
        assert_eq!(as_via(&json!(42)), None);
        assert_eq!(as_via(&json!(["web"])), None);
    }

    #[test]
    fn numbers_come_as_numbers_floats_or_strings() {
        assert_eq!(as_u64(&json!(12)), Some(12));
        assert_eq!(as_u64(&json!("12")), Some(12));
        assert_eq!(as_u64(&json!(" 12 ")), Some(12));
        assert_eq!(as_u64(&json!(12.0)), Some(12));
        assert_eq!(
            as_u64(&json!(18_446_744_073_709_551_615u64)),
            Some(u64::MAX)
        );
        assert_eq!(
            as_u64(&json!("9007199254740993")),
            Some(9_007_199_254_740_993)
        );
        assert_eq!(as_u64(&json!(12.5)), None);
        assert_eq!(as_u64(&json!(-1)), None);
        assert_eq!(as_u64(&json!(1e30)), None, "a float past 2^53 lost digits");
        assert_eq!(as_u64(&json!("twelve")), None);
        assert_eq!(as_u64(&Value::Null), None);
        assert_eq!(as_i64(&json!(-1)), Some(-1));
        assert_eq!(as_i64(&json!("-1")), Some(-1));
        assert_eq!(as_i64(&json!({})), None);
    }

    #[test]
    fn bools_and_texts_accept_their_usual_spellings() {
        assert_eq!(as_bool(&json!("true")), Some(true));
        assert_eq!(as_bool(&json!("0")), Some(false));
        assert_eq!(as_bool(&json!(1)), Some(true));
        assert_eq!(as_bool(&json!("maybe")), None);
        assert_eq!(as_string(&json!(42)), Some("42".into()));
        assert_eq!(as_string(&json!(["x"])), None);
    }

    #[test]
    fn times_become_utc_text() {
        assert_eq!(
            as_time(&json!("2024-03-01T10:00:00Z")).as_deref(),
            Some("2024-03-01T10:00:00Z")
        );
        assert_eq!(
            as_time(&json!("2024-03-01T12:00:00+02:00")).as_deref(),
            Some("2024-03-01T10:00:00Z")
        );
        assert_eq!(
            as_time(&json!(1_709_287_200)).as_deref(),
            Some("2024-03-01T10:00:00Z")
        );
        assert_eq!(
            as_time(&json!("1709287200")).as_deref(),
            Some("2024-03-01T10:00:00Z")
        );
        assert_eq!(as_time(&json!("yesterday")).as_deref(), Some("yesterday"));
        assert_eq!(as_time(&Value::Null), None);
    }

    #[test]
    fn records_skip_only_what_cannot_be_read() {
        #[derive(Deserialize)]
        struct R {
            #[serde(deserialize_with = "de::id")]
            id: u64,
        }
        let r: Records<R> = records(json!([{"id": 1}, {"name": "no id"}, {"id": "3"}, 7]));
        assert_eq!(r.items.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(r.skipped, vec![1, 3]);
        let none: Records<R> = records(Value::Null);
        assert!(none.items.is_empty() && none.skipped.is_empty());
    }

    #[test]
    fn id_errors_do_not_quote_the_value() {
        #[derive(Debug, Deserialize)]
        struct R {
            #[serde(deserialize_with = "de::id")]
            #[allow(dead_code)]
            id: u64,
        }
        let e = serde_json::from_value::<R>(json!({"id": "s3cr3t-canary"})).unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }
}
