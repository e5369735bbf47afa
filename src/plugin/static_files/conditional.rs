//! Conditional requests (RFC 9110 §13): the validators of a file, the preconditions of a
//! GET or HEAD (412 or 304), and `If-Range`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName};

use crate::plugin::negotiate::Coding;

/// The validators of the representation served (RFC 9110 §8.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Validators {
    pub(super) len: u64,
    /// Strong, quoted: `"<len hex>-<mtime nanoseconds hex>"`, plus `-br` or `-gz` for a
    /// precompressed sibling.
    pub(super) etag: String,
    /// The modification time, in whole seconds, never later than now (§8.8.2.1); `None`
    /// when the platform has none.
    pub(super) last_modified: Option<SystemTime>,
}

impl Validators {
    pub(super) fn new(
        len: u64,
        modified: Option<SystemTime>,
        encoding: Option<Coding>,
        now: SystemTime,
    ) -> Self {
        let since_epoch = |time: SystemTime| time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let nanos = modified.map_or(0, |modified| since_epoch(modified).as_nanos());
        let suffix = match encoding {
            Some(Coding::Br) => "-br",
            Some(Coding::Gzip) => "-gz",
            None => "",
        };
        let last_modified = modified.map(|modified| {
            // §8.8.2.1: a modification time in the future is replaced by the present.
            let seconds = since_epoch(modified.min(now)).as_secs();
            UNIX_EPOCH + Duration::from_secs(seconds)
        });
        Self {
            len,
            etag: format!("\"{len:x}-{nanos:x}{suffix}\""),
            last_modified,
        }
    }

    /// The opaque part of the ETag, between the quotes.
    fn opaque_tag(&self) -> &str {
        self.etag.trim_matches('"')
    }

    /// Whether the representation was modified after `date` (second precision); `false`
    /// without a modification time.
    fn modified_after(&self, date: SystemTime) -> bool {
        self.last_modified.is_some_and(|modified| modified > date)
    }
}

/// The outcome of a request's preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precondition {
    Pass,
    /// 304: the client's copy is current.
    NotModified,
    /// 412.
    Failed,
}

/// Evaluates the preconditions of a GET or HEAD in the order of RFC 9110 §13.2.2.
pub(super) fn preconditions(headers: &HeaderMap, validators: &Validators) -> Precondition {
    let current = validators.opaque_tag();
    // Steps 1 and 2: If-Match (strong comparison, §13.1.1), else If-Unmodified-Since.
    if let Some(tags) = entity_tags(headers, header::IF_MATCH) {
        if !tags.matches(current, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let Some(date) = http_date(headers, header::IF_UNMODIFIED_SINCE) {
        if validators.modified_after(date) {
            return Precondition::Failed;
        }
    }
    // Steps 3 and 4: If-None-Match (weak comparison, §13.1.2), else If-Modified-Since
    // (§13.1.3). For GET and HEAD a false condition is 304.
    if let Some(tags) = entity_tags(headers, header::IF_NONE_MATCH) {
        if tags.matches(current, Comparison::Weak) {
            return Precondition::NotModified;
        }
    } else if let Some(date) = http_date(headers, header::IF_MODIFIED_SINCE) {
        if validators.last_modified.is_some() && !validators.modified_after(date) {
            return Precondition::NotModified;
        }
    }
    Precondition::Pass
}

/// Whether an `If-Range` (RFC 9110 §13.1.5) lets the `Range` apply: absent, or a strong
/// ETag equal to the current one, or a date equal to `Last-Modified`. Anything else (a
/// weak tag, another tag or date, a malformed value) means the whole file.
pub(super) fn if_range_holds(
    headers: &HeaderMap,
    validators: &Validators,
    now: SystemTime,
) -> bool {
    let mut values = headers.get_all(header::IF_RANGE).iter();
    let Some(value) = values.next() else {
        return true;
    };
    let (Ok(value), None) = (value.to_str(), values.next()) else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return match parse_entity_tag(value) {
            Some((tag, "")) => tag.matches(validators.opaque_tag(), Comparison::Strong),
            _ => false,
        };
    }
    // A date is a strong validator only if the file did not change within the second it
    // names (RFC 9110 §13.1.5, §8.8.2.2): Last-Modified at least a second before now.
    match (httpdate::parse_http_date(value), validators.last_modified) {
        (Ok(date), Some(last_modified)) => {
            date == last_modified && last_modified + Duration::from_secs(1) <= now
        }
        _ => false,
    }
}

/// The value of a header that must appear once; `None` when absent, repeated or not text.
pub(super) fn single_value(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    match values.next() {
        Some(_) => None,
        None => value.to_str().ok(),
    }
}

/// An HTTP-date header (RFC 9110 §5.6.7); `None` when absent, repeated or invalid, which
/// the conditional headers treat alike (§13.1.3, §13.1.4: the header is ignored).
fn http_date(headers: &HeaderMap, name: HeaderName) -> Option<SystemTime> {
    httpdate::parse_http_date(single_value(headers, name)?.trim()).ok()
}

/// How two entity tags are compared (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both strong and equal.
    Strong,
    /// Equal, weak or not.
    Weak,
}

/// One entity tag of a request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// Between the quotes.
    opaque: &'a str,
}

impl EntityTag<'_> {
    /// Whether this tag matches the current strong tag `current` (its opaque part).
    fn matches(self, current: &str, comparison: Comparison) -> bool {
        let strong_enough = comparison == Comparison::Weak || !self.weak;
        strong_enough && self.opaque == current
    }
}

/// The entity tags of an `If-Match` or `If-None-Match` (all its lines).
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntityTags<'a> {
    /// `*`: any current representation (there is one: the file is open).
    Any,
    Tags(Vec<EntityTag<'a>>),
}

impl EntityTags<'_> {
    fn matches(&self, current: &str, comparison: Comparison) -> bool {
        match self {
            EntityTags::Any => true,
            EntityTags::Tags(tags) => tags.iter().any(|tag| tag.matches(current, comparison)),
        }
    }
}

/// The tags of header `name`, `None` when it is absent. Parsing stops at the first
/// malformed member, keeping the tags before it.
fn entity_tags(headers: &HeaderMap, name: HeaderName) -> Option<EntityTags<'_>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut tags = Vec::new();
    for value in values {
        let Ok(mut rest) = value.to_str() else {
            continue;
        };
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            if let Some(after) = rest.strip_prefix('*') {
                if after.trim_start_matches([' ', '\t']).is_empty()
                    || after.trim_start().starts_with(',')
                {
                    return Some(EntityTags::Any);
                }
                break;
            }
            match parse_entity_tag(rest) {
                Some((tag, after)) => {
                    tags.push(tag);
                    rest = after;
                }
                None => break,
            }
        }
    }
    Some(EntityTags::Tags(tags))
}

/// One `entity-tag` (`"xyz"` or `W/"xyz"`, RFC 9110 §8.8.3) at the start of `input`, and
/// what follows it.
fn parse_entity_tag(input: &str) -> Option<(EntityTag<'_>, &str)> {
    let (weak, quoted) = match input.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    let inner = quoted.strip_prefix('"')?;
    let end = inner.find('"')?;
    let opaque = &inner[..end];
    // etagc: %x21 / %x23-7E / obs-text; no spaces or controls.
    if opaque.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    Some((EntityTag { weak, opaque }, &inner[end + 1..]))
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::plugin::test_support::headers;

    const MTIME_SECS: u64 = 1_700_000_000;
    const DATE_AT_MTIME: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const DATE_BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
    const DATE_AFTER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

    fn validators() -> Validators {
        let modified = UNIX_EPOCH + Duration::new(MTIME_SECS, 500);
        Validators::new(0x1234, Some(modified), None, SystemTime::now())
    }

    #[test]
    fn etag_is_strong_from_size_and_mtime_and_names_the_variant() {
        let v = validators();
        let nanos = u128::from(MTIME_SECS) * 1_000_000_000 + 500;
        assert_eq!(v.etag, format!("\"1234-{nanos:x}\""));
        assert_eq!(
            httpdate::fmt_http_date(v.last_modified.unwrap()),
            DATE_AT_MTIME
        );
        let modified = UNIX_EPOCH + Duration::from_secs(MTIME_SECS);
        let br = Validators::new(5, Some(modified), Some(Coding::Br), SystemTime::now());
        assert!(br.etag.ends_with("-br\""), "{}", br.etag);
        let gz = Validators::new(5, Some(modified), Some(Coding::Gzip), SystemTime::now());
        assert!(gz.etag.ends_with("-gz\""), "{}", gz.etag);
        let none = Validators::new(5, None, None, SystemTime::now());
        assert_eq!((none.etag.as_str(), none.last_modified), ("\"5-0\"", None));
    }

    #[test]
    fn last_modified_in_the_future_is_now() {
        let now = UNIX_EPOCH + Duration::from_secs(MTIME_SECS);
        let future = now + Duration::from_secs(3600);
        let v = Validators::new(1, Some(future), None, now);
        assert_eq!(v.last_modified, Some(now));
    }

    #[test]
    fn preconditions_follow_rfc_9110_order() {
        let v = validators();
        let etag = v.etag.clone();
        let weak = format!("W/{etag}");
        let other = "\"other\"";
        let check = |pairs: &[(&str, &str)]| preconditions(&headers(pairs), &v);
        use Precondition::*;
        // Nothing asked.
        assert_eq!(check(&[]), Pass);
        // If-Match: strong comparison, `*`, lists.
        assert_eq!(check(&[("if-match", &etag)]), Pass);
        assert_eq!(check(&[("if-match", "*")]), Pass);
        assert_eq!(check(&[("if-match", &format!("{other}, {etag}"))]), Pass);
        assert_eq!(check(&[("if-match", other)]), Failed);
        assert_eq!(check(&[("if-match", &weak)]), Failed);
        // If-Unmodified-Since, only without If-Match.
        assert_eq!(check(&[("if-unmodified-since", DATE_AT_MTIME)]), Pass);
        assert_eq!(check(&[("if-unmodified-since", DATE_AFTER)]), Pass);
        assert_eq!(check(&[("if-unmodified-since", DATE_BEFORE)]), Failed);
        assert_eq!(check(&[("if-unmodified-since", "yesterday")]), Pass);
        assert_eq!(
            check(&[("if-match", &etag), ("if-unmodified-since", DATE_BEFORE)]),
            Pass,
            "If-Match wins over If-Unmodified-Since"
        );
        // If-None-Match: weak comparison.
        assert_eq!(check(&[("if-none-match", &etag)]), NotModified);
        assert_eq!(check(&[("if-none-match", &weak)]), NotModified);
        assert_eq!(check(&[("if-none-match", "*")]), NotModified);
        assert_eq!(check(&[("if-none-match", other)]), Pass);
        // If-Modified-Since, only without If-None-Match.
        assert_eq!(check(&[("if-modified-since", DATE_AT_MTIME)]), NotModified);
        assert_eq!(check(&[("if-modified-since", DATE_AFTER)]), NotModified);
        assert_eq!(check(&[("if-modified-since", DATE_BEFORE)]), Pass);
        assert_eq!(check(&[("if-modified-since", "garbage")]), Pass);
        assert_eq!(
            check(&[("if-none-match", other), ("if-modified-since", DATE_AFTER)]),
            Pass,
            "If-None-Match wins over If-Modified-Since"
        );
        // A failed If-Match is 412 even when If-None-Match would be 304.
        assert_eq!(
            check(&[("if-match", other), ("if-none-match", &etag)]),
            Failed
        );
        assert_eq!(
            check(&[
                ("if-unmodified-since", DATE_BEFORE),
                ("if-none-match", &etag)
            ]),
            Failed
        );
    }

    #[test]
    fn dates_sent_twice_are_ignored() {
        let v = validators();
        let map = headers(&[
            ("if-modified-since", DATE_AFTER),
            ("if-modified-since", DATE_AFTER),
        ]);
        assert_eq!(preconditions(&map, &v), Precondition::Pass);
    }

    #[test]
    fn entity_tag_lists_are_parsed_across_lines() {
        let map = headers(&[
            ("if-none-match", "\"a\", W/\"b\""),
            ("if-none-match", " ,\"c,d\""),
        ]);
        let tags = entity_tags(&map, header::IF_NONE_MATCH).unwrap();
        let tag = |weak, opaque| EntityTag { weak, opaque };
        assert_eq!(
            tags,
            EntityTags::Tags(vec![tag(false, "a"), tag(true, "b"), tag(false, "c,d")])
        );
        assert!(entity_tags(&HeaderMap::new(), header::IF_NONE_MATCH).is_none());
        let junk = headers(&[("if-match", "\"a\" junk \"b\"")]);
        assert_eq!(
            entity_tags(&junk, header::IF_MATCH),
            Some(EntityTags::Tags(vec![tag(false, "a")]))
        );
        let unquoted = headers(&[("if-match", "abc")]);
        assert_eq!(
            entity_tags(&unquoted, header::IF_MATCH),
            Some(EntityTags::Tags(vec![]))
        );
    }

    #[test]
    fn if_range_needs_a_strong_tag_or_the_exact_date() {
        let v = validators();
        let later = SystemTime::now();
        let holds = |value: &str| if_range_holds(&headers(&[("if-range", value)]), &v, later);
        assert!(if_range_holds(&HeaderMap::new(), &v, later), "absent");
        assert!(holds(&v.etag));
        assert!(holds(DATE_AT_MTIME));
        assert!(!holds(&format!("W/{}", v.etag)), "weak");
        assert!(!holds("\"other\""));
        assert!(!holds(DATE_BEFORE));
        assert!(!holds(DATE_AFTER), "a later date is not an exact match");
        assert!(!holds("not a date"));
        assert!(!holds(&format!("{} trailing", v.etag)));
        // Within the second of the last change, the date is weak (RFC 9110 §13.1.5).
        let modified = v.last_modified.unwrap();
        let same_second = headers(&[("if-range", DATE_AT_MTIME)]);
        assert!(!if_range_holds(&same_second, &v, modified));
        assert!(!if_range_holds(
            &same_second,
            &v,
            modified + Duration::from_millis(999)
        ));
        assert!(if_range_holds(
            &same_second,
            &v,
            modified + Duration::from_secs(1)
        ));
    }
}
