//! Attribute helpers and body chunking (kept inside the adapter).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use zdsync_store::{Result, StoreError};

pub type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem takes at most 25 requests (moto accepts more; AWS does not).
pub const BATCH_WRITE_MAX: usize = 25;
/// BatchGetItem takes at most 100 keys.
pub const BATCH_GET_MAX: usize = 100;
/// Body bytes per item: well under DynamoDB's 400 KB item limit, leaving
/// room for keys and attributes.
pub const CHUNK_BYTES: usize = 350 * 1024;

pub fn attr_s(s: &str) -> AttributeValue {
    AttributeValue::S(s.to_string())
}

pub fn attr_n(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub fn get_s(item: &Item, name: &str) -> Result<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        other => Err(StoreError::Corrupt {
            key: key_of(item),
            detail: format!("attribute {name:?} is not a string: {other:?}"),
        }),
    }
}

pub fn get_n(item: &Item, name: &str) -> Result<i64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().map_err(|e| StoreError::Corrupt {
            key: key_of(item),
            detail: format!("attribute {name:?} is not an integer: {e}"),
        }),
        other => Err(StoreError::Corrupt {
            key: key_of(item),
            detail: format!("attribute {name:?} is not a number: {other:?}"),
        }),
    }
}

pub fn key_of(item: &Item) -> String {
    let s = |k: &str| match item.get(k) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => "?".into(),
    };
    format!("{}/{}", s("pk"), s("sk"))
}

/// Splits a body into chunks of at most [`CHUNK_BYTES`], on character
/// boundaries. Always at least one chunk (possibly empty).
pub fn chunk_body(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = body;
    while rest.len() > CHUNK_BYTES {
        let mut cut = CHUNK_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_limit_and_characters() {
        assert_eq!(chunk_body(""), vec![""]);
        let s = "é😀".repeat(200_000); // 1.2 MB of multi-byte characters
        let chunks = chunk_body(&s);
        assert!(chunks.len() >= 4);
        assert!(chunks.iter().all(|c| c.len() <= CHUNK_BYTES));
        assert_eq!(chunks.concat(), s);
    }
}
