//! Keys of the single table: partition and sort keys of every item, and
//! the two bodies a ticket holds (its state and its document).

use zdsync_store::{CursorKind, EntityKind};

pub(crate) fn cursor_sk(kind: CursorKind) -> String {
    format!("CURSOR#{}", kind.as_str())
}

pub(crate) fn pad(id: u64) -> String {
    format!("{id:020}")
}

pub(crate) fn conn_pk(conn: &str) -> String {
    format!("CONN#{conn}")
}

pub(crate) fn doc_pk(conn: &str, id: u64) -> String {
    format!("DOC#{conn}#{id}")
}

pub(crate) fn entity_sk(kind: EntityKind, id: u64) -> String {
    match kind {
        EntityKind::User => format!("USER#{}", pad(id)),
        EntityKind::Org => format!("ORG#{}", pad(id)),
    }
}

/// Which ticket item: the state or the document.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Body {
    State,
    Doc,
}

impl Body {
    pub(crate) fn head_sk(self) -> &'static str {
        match self {
            Body::State => "STATE",
            Body::Doc => "PART#0",
        }
    }
    pub(crate) fn part_sk(self, version: i64, i: usize) -> String {
        match self {
            Body::State => format!("STATE#{version}#{i}"),
            Body::Doc => format!("PART#{version}#{i}"),
        }
    }
    pub(crate) fn index(self, conn: &str) -> String {
        match self {
            Body::State => format!("STATES#{conn}"),
            Body::Doc => format!("DOCS#{conn}"),
        }
    }
    /// The marker of split writes that may have been interrupted.
    pub(crate) fn marker_sk(self) -> &'static str {
        match self {
            Body::State => "PENDING#STATE",
            Body::Doc => "PENDING#PART",
        }
    }
    /// The version and index of a part's sort key; `None` for the head or
    /// a key of another shape.
    pub(crate) fn parse_part(self, sk: &str) -> Option<(i64, usize)> {
        let rest = match self {
            Body::State => sk.strip_prefix("STATE#")?,
            Body::Doc => sk.strip_prefix("PART#")?,
        };
        let (v, i) = rest.split_once('#')?;
        Some((v.parse().ok()?, i.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_keys_parse_and_heads_do_not() {
        assert_eq!(Body::Doc.parse_part("PART#3#2"), Some((3, 2)));
        assert_eq!(Body::State.parse_part("STATE#12#1"), Some((12, 1)));
        assert_eq!(Body::Doc.parse_part("PART#0"), None);
        assert_eq!(Body::State.parse_part("STATE"), None);
        assert_eq!(Body::Doc.parse_part("STATE#1#1"), None);
        assert_eq!(Body::Doc.parse_part("PART#x#1"), None);
    }
}
