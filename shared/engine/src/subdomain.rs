//! Validation of the Zendesk subdomain and of connection names.

use crate::error::{EngineError, Result};

/// A subdomain accepted from the user, with a notice when it was rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subdomain {
    pub label: String,
    /// Set when the input was not the bare label (a pasted URL or host name).
    pub notice: Option<String>,
}

/// Accepts `acme`; turns `https://acme.zendesk.com/agent/tickets/1` or
/// `acme.zendesk.com` into `acme` with a notice; refuses anything else.
pub fn parse_subdomain(input: &str) -> Result<Subdomain> {
    let raw = input.trim();
    if raw.is_empty() {
        return Err(EngineError::Usage(
            "the Zendesk subdomain is empty: give the label of your Zendesk address, e.g. `--subdomain acme` for https://acme.zendesk.com".into(),
        ));
    }
    let mut host = raw;
    let mut rewritten = false;
    if let Some(rest) = host
        .strip_prefix("https://")
        .or_else(|| host.strip_prefix("http://"))
    {
        host = rest;
        rewritten = true;
    }
    if let Some(i) = host.find(['/', '?', '#']) {
        host = &host[..i];
        rewritten = true;
    }
    let lower = host.to_ascii_lowercase();
    let label = if let Some(l) = lower.strip_suffix(".zendesk.com") {
        rewritten = true;
        l.to_string()
    } else if lower.contains('.') || lower.contains(':') {
        return Err(EngineError::Usage(format!(
            "{input:?} is not a Zendesk subdomain: give only the label of your Zendesk address, e.g. `--subdomain acme` for https://acme.zendesk.com (a host-mapped domain is not accepted; use the zendesk.com label shown in Admin Center > Account > Brand)"
        )));
    } else {
        lower
    };
    if !is_dns_label(&label) {
        return Err(EngineError::Usage(format!(
            "{input:?} is not a valid Zendesk subdomain: it must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen (e.g. `--subdomain acme` for https://acme.zendesk.com)"
        )));
    }
    let notice = if rewritten || label != raw {
        Some(format!(
            "using subdomain {label:?} (from {input:?}); next time pass just `--subdomain {label}`"
        ))
    } else {
        None
    };
    Ok(Subdomain { label, notice })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Connection names: 1-64 characters of `a-z 0-9 - _`, starting with a
/// letter or digit (they appear in keys, secret names and document ids).
pub fn validate_connection_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(EngineError::Usage(format!(
            "{name:?} is not a valid connection name: use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit (e.g. `acme`)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_label_is_accepted_without_notice() {
        let s = parse_subdomain("acme").unwrap();
        assert_eq!(s.label, "acme");
        assert_eq!(s.notice, None);
    }

    #[test]
    fn pasted_urls_and_hosts_become_the_label_with_a_notice() {
        for input in [
            "https://acme.zendesk.com/agent/tickets/123",
            "http://acme.zendesk.com",
            "acme.zendesk.com",
            "ACME.zendesk.com/",
            " Acme ",
        ] {
            let s = parse_subdomain(input).unwrap();
            assert_eq!(s.label, "acme", "{input}");
            assert!(s.notice.is_some(), "{input} should carry a notice");
        }
    }

    #[test]
    fn garbage_is_refused_with_an_example() {
        for input in [
            "",
            "acme corp",
            "-acme",
            "acme-",
            "ac_me",
            "https://example.com/x",
            "acme.example.org",
            "localhost:8080",
            &"a".repeat(64),
            "ácme",
        ] {
            let e = parse_subdomain(input).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{input}");
            assert!(e.to_string().contains("--subdomain acme"), "{input}: {e}");
        }
    }

    #[test]
    fn connection_names() {
        assert!(validate_connection_name("acme").is_ok());
        assert!(validate_connection_name("acme-eu_2").is_ok());
        for bad in ["", "Acme", "-x", "a b", "a/b", "a:b", &"x".repeat(65)] {
            assert!(validate_connection_name(bad).is_err(), "{bad}");
        }
    }
}
