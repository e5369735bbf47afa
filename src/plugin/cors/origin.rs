//! Origins: which ones a [`Cors`](super::Cors) allows, and the syntax of a serialized
//! origin (RFC 6454 §6.2) that the builder checks its list against.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

use super::WILDCARD;

pub(super) type OriginPredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Which origins may read responses.
#[derive(Clone)]
pub(super) enum Origins {
    Any,
    /// Lowercase; compared without regard to case.
    List(Vec<String>),
    Predicate(OriginPredicate),
}

impl fmt::Debug for Origins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origins::Any => f.write_str("Any"),
            Origins::List(origins) => f.debug_tuple("List").field(origins).finish(),
            Origins::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl Origins {
    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed: `*`
    /// for any origin (`Origin` or not), else the request's own `Origin`, byte for byte,
    /// when the list holds it (ASCII case-insensitively) or the predicate accepts it.
    pub(super) fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let origin = match self {
            // Credentials with any origin are refused at build time.
            Origins::Any => return Some(HeaderValue::from_static(WILDCARD)),
            _ => origin?,
        };
        let text = origin.to_str().ok()?;
        let allowed = match self {
            Origins::Any => true,
            Origins::List(origins) => origins.iter().any(|o| o.eq_ignore_ascii_case(text)),
            Origins::Predicate(allows) => allows(text),
        };
        allowed.then(|| origin.clone())
    }
}

/// Whether `text` is a serialized origin: `scheme "://" host [ ":" port ]` (RFC 6454 §6.2),
/// in ASCII. `null` is not accepted.
pub(crate) fn is_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%[]:".contains(&b));
    if !scheme_ok || !authority_ok {
        return false;
    }
    // After an IPv6 literal's `]` (or in the whole authority), an optional `:port`.
    let (host, rest) = match authority.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((address, rest)) => (address, rest),
            None => return false,
        },
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port_ok = match rest.strip_prefix(':') {
        Some(port) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        None => rest.is_empty(),
    };
    !host.is_empty() && !host.contains(['[', ']']) && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_serialized_origins() {
        for good in [
            "https://app.example",
            "http://localhost:8080",
            "HTTPS://App.Example",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
            "http://[::1]",
            "chrome-extension://abcdef",
            "https://xn--bcher-kva.example",
        ] {
            assert!(is_origin(good), "{good:?}");
        }
        for bad in [
            "null",
            "app.example",
            "https://app.example/",
            "https://app.example/path",
            "https://",
            "https://app.example:",
            "https://app.example:80x",
            "https://user@app.example",
            "https://app.example?x",
            "https://bücher.example",
            "https://[::1",
            "https://a.example:1:2",
            "1https://app.example",
            "",
        ] {
            assert!(!is_origin(bad), "{bad:?}");
        }
    }
}
