//! Content-coding negotiation: what a request's `Accept-Encoding` (RFC 9110 §12.5.3) allows
//! among the codings this crate sends. One reading for both users: `Compression` (gzip
//! made on the fly, feature `compression`) and `StaticFiles` (precompressed `.br` and
//! `.gz` siblings).
//!
//! ```text
//! Accept-Encoding lines ──► AcceptEncoding::parse: one weight per coding we know,
//!                           for `identity` and for `*`
//!   weight(coding)      its own entry, else `*`, else 0 (not acceptable)
//!   identity_weight()   its own entry, else `*`, else 0.001 (below every listed coding)
//!   preferred(offered)  the offered codings with weight > 0 and ≥ identity's, best first;
//!                       a tie keeps the offered order
//!   choose(offered)     the first of those, else identity if its weight > 0, else
//!                       nothing acceptable (Compression answers 406)
//! ```
//!
//! # The rule
//!
//! - **Syntax.** `Accept-Encoding = #( codings [ weight ] )`, `codings = content-coding /
//!   "identity" / "*"`, `weight = OWS ";" OWS "q=" qvalue` (§12.5.3, §12.4.2). Every
//!   `Accept-Encoding` line is one list (§5.3), and empty list elements are skipped
//!   (§5.6.1). Names are compared without regard to ASCII case (§8.4.1), and `x-gzip` is
//!   `gzip` (§8.4.1.3).
//! - **Malformed entries are ignored**, as if absent: a coding that is not a `token`, a
//!   parameter without `=` (`gzip;`, `gzip;q`), a `q` that is not a qvalue (`q=2`,
//!   `q=0.0001`, `q=.5`), or a second `q`. Other parameters (`gzip;level=1`) are not in
//!   the grammar and are ignored, the entry kept.
//! - **A coding listed more than once** (`gzip, gzip;q=0`, or `gzip` and `x-gzip`) gets the
//!   **lowest** of its weights. The RFC does not say; `q=0` is the one weight with a hard
//!   meaning ("not acceptable", §12.4.2), so an exclusion wins over a repetition wherever
//!   it stands, and the minimum makes the result independent of the order of entries and
//!   lines. The same holds for `identity` and `*`.
//! - **Unlisted codings** take the weight of `*`, and are not acceptable without it.
//!   `identity` unlisted takes the weight of `*`, and without it is acceptable (§12.5.3:
//!   "unless specifically excluded") but preferred less than any coding the client
//!   named: `gzip;q=0.5` alone still means gzip.
//! - **No header, or an empty one**, accepts only `identity` (§12.5.3).
//! - **The choice** is the offered coding of highest weight, as long as that weight is
//!   above 0 and at least that of `identity`: a coding wins a tie with `identity`
//!   (`gzip, identity` is gzip), and an offered coding wins a tie with a later one.

use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

/// A q-value in thousandths: `q=1` is 1000, `q=0.5` is 500.
pub(crate) type Weight = u16;

/// `q=1`, the weight of an entry without `q`.
pub(crate) const QVALUE_ONE: Weight = 1000;

/// The weight of `identity` when neither it nor `*` is listed: acceptable (RFC 9110
/// §12.5.3), and below any coding the client did list.
const IMPLICIT_IDENTITY_WEIGHT: Weight = 1;

/// A content coding this crate can send (RFC 9110 §8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// Brotli (RFC 7932), `br`.
    Br,
    /// gzip (RFC 1952), `gzip` or `x-gzip`.
    Gzip,
}

impl Coding {
    /// Every coding, in the order of [`AcceptEncoding`]'s slots.
    const ALL: [Coding; 2] = [Coding::Br, Coding::Gzip];

    /// The `Content-Encoding` token.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// This coding's slot in [`AcceptEncoding`].
    fn index(self) -> usize {
        match self {
            Coding::Br => 0,
            Coding::Gzip => 1,
        }
    }
}

/// What one entry of `Accept-Encoding` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Coding(Coding),
    Identity,
    /// `*`: every coding not listed, `identity` included.
    Any,
}

impl Name {
    /// The name a `token` stands for; `None` for codings this crate does not send.
    fn of(token: &[u8]) -> Option<Name> {
        if token == b"*" {
            Some(Name::Any)
        } else if token.eq_ignore_ascii_case(b"identity") {
            Some(Name::Identity)
        } else if token.eq_ignore_ascii_case(b"gzip") || token.eq_ignore_ascii_case(b"x-gzip") {
            Some(Name::Coding(Coding::Gzip))
        } else if token.eq_ignore_ascii_case(b"br") {
            Some(Name::Coding(Coding::Br))
        } else {
            None
        }
    }
}

/// The outcome of [`AcceptEncoding::choose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg(any(feature = "compression", feature = "__internals", test))]
pub(crate) enum Choice {
    Coding(Coding),
    Identity,
    /// `identity` excluded, and no offered coding accepted.
    NotAcceptable,
}

/// A request's `Accept-Encoding`, read with the rule of the module docs: the weight of
/// each coding this crate knows, of `identity` and of `*`, where listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AcceptEncoding {
    codings: [Option<Weight>; Coding::ALL.len()],
    identity: Option<Weight>,
    any: Option<Weight>,
}

impl AcceptEncoding {
    /// Reads every `Accept-Encoding` line of `headers`.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        Self::parse(
            headers
                .get_all(ACCEPT_ENCODING)
                .iter()
                .map(|value| value.as_bytes()),
        )
    }

    /// Reads the values of `Accept-Encoding` lines, as one list. No allocation.
    pub(crate) fn parse<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut accept = Self::default();
        let entries = lines
            .into_iter()
            .flat_map(|line| line.split(|&byte| byte == b','))
            .filter_map(parse_entry);
        for (name, weight) in entries {
            let slot = match name {
                Name::Coding(coding) => &mut accept.codings[coding.index()],
                Name::Identity => &mut accept.identity,
                Name::Any => &mut accept.any,
            };
            // Listed twice: the lowest weight counts (see the module docs).
            *slot = Some(slot.map_or(weight, |old| old.min(weight)));
        }
        accept
    }

    /// The weight of `coding`: its own entry, else that of `*`, else 0.
    pub(crate) fn weight(&self, coding: Coding) -> Weight {
        self.codings[coding.index()].or(self.any).unwrap_or(0)
    }

    /// The weight of `identity`: its own entry, else that of `*`, else just above 0.
    pub(crate) fn identity_weight(&self) -> Weight {
        self.identity
            .or(self.any)
            .unwrap_or(IMPLICIT_IDENTITY_WEIGHT)
    }

    /// The codings of `offered` (in the server's order of preference) worth sending rather
    /// than `identity`: weight above 0 and at least `identity`'s, the highest weight first,
    /// ties in the order of `offered`. A coding offered twice counts once.
    pub(crate) fn preferred(&self, offered: &[Coding]) -> impl Iterator<Item = Coding> + use<> {
        let floor = self.identity_weight();
        let mut ranked: [Option<(Coding, Weight)>; Coding::ALL.len()] = [None; Coding::ALL.len()];
        let mut len = 0;
        for &coding in offered {
            let weight = self.weight(coding);
            let seen = ranked[..len].iter().flatten().any(|&(c, _)| c == coding);
            if weight == 0 || weight < floor || seen {
                continue;
            }
            // Insertion sort, stable: after every coding of the same or a higher weight.
            let at = ranked[..len]
                .iter()
                .flatten()
                .take_while(|&&(_, w)| w >= weight)
                .count();
            ranked[at..=len].rotate_right(1);
            ranked[at] = Some((coding, weight));
            len += 1;
        }
        ranked.into_iter().flatten().map(|(coding, _)| coding)
    }

    /// The coding to send among `offered`: the first [`preferred`](Self::preferred) one,
    /// else `identity` when acceptable, else nothing.
    #[cfg(any(feature = "compression", feature = "__internals", test))]
    pub(crate) fn choose(&self, offered: &[Coding]) -> Choice {
        match self.preferred(offered).next() {
            Some(coding) => Choice::Coding(coding),
            None if self.identity_weight() > 0 => Choice::Identity,
            None => Choice::NotAcceptable,
        }
    }
}

/// One list element: `codings [ OWS ";" OWS "q=" qvalue ]`, with other `name=value`
/// parameters skipped; `None` when empty, malformed or naming a coding we do not send.
fn parse_entry(entry: &[u8]) -> Option<(Name, Weight)> {
    let mut parts = entry.split(|&byte| byte == b';');
    let token = trim_ows(parts.next()?);
    if token.is_empty() || !token.iter().all(|&byte| is_tchar(byte)) {
        return None;
    }
    let mut weight = None;
    for parameter in parts {
        let split = parameter.iter().position(|&byte| byte == b'=')?;
        let (name, value) = (&parameter[..split], &parameter[split + 1..]);
        if trim_ows(name).eq_ignore_ascii_case(b"q") {
            if weight.is_some() {
                return None;
            }
            weight = Some(parse_qvalue(trim_ows(value))?);
        }
    }
    Some((Name::of(token)?, weight.unwrap_or(QVALUE_ONE)))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (RFC 9110 §12.4.2), in
/// thousandths.
pub(crate) fn parse_qvalue(text: &[u8]) -> Option<Weight> {
    let (whole, fraction) = match text.iter().position(|&byte| byte == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    if fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let thousandths = fraction
        .iter()
        .zip([100, 10, 1])
        .map(|(digit, scale)| Weight::from(digit - b'0') * scale)
        .sum::<Weight>();
    match whole {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(QVALUE_ONE),
        _ => None,
    }
}

/// `text` without the optional whitespace (SP, HTAB) around it (RFC 9110 §5.6.3).
fn trim_ows(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|&byte| byte != b' ' && byte != b'\t')
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|&byte| byte != b' ' && byte != b'\t')
        .map_or(start, |last| last + 1);
    &text[start..end]
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::{Br, Gzip};

    fn accept(lines: &[&str]) -> AcceptEncoding {
        AcceptEncoding::parse(lines.iter().map(|line| line.as_bytes()))
    }

    const NONE: Choice = Choice::NotAcceptable;
    const IDENTITY: Choice = Choice::Identity;
    const GZIP: Choice = Choice::Coding(Gzip);

    /// `Accept-Encoding` value; what `StaticFiles` tries (br and gzip offered, in that
    /// order); what `Compression` does (gzip offered).
    const CASES: &[(&str, &[Coding], Choice)] = &[
        ("", &[], IDENTITY),
        ("gzip", &[Gzip], GZIP),
        ("GZIP", &[Gzip], GZIP),
        ("x-gzip", &[Gzip], GZIP),
        ("gzip, deflate, br", &[Br, Gzip], GZIP),
        ("GZIP;Q=0.5, br;q=0.4", &[Gzip, Br], GZIP),
        ("br;q=1, gzip;q=0.1", &[Br, Gzip], GZIP),
        ("gzip\t;\tq=0.5 ,br ; q=0.6", &[Br, Gzip], GZIP),
        ("br;q=0, gzip", &[Gzip], GZIP),
        ("br", &[Br], IDENTITY),
        ("deflate, zstd", &[], IDENTITY),
        // `*`: every coding not listed, identity included.
        ("*", &[Br, Gzip], GZIP),
        ("*;q=0.1, gzip", &[Gzip, Br], GZIP),
        ("*, br;q=0", &[Gzip], GZIP),
        ("gzip;q=0, *", &[Br], IDENTITY),
        ("*;q=0.5, gzip;q=0", &[Br], IDENTITY),
        ("gzip;q=0.5, *", &[Br], IDENTITY),
        // identity: a coding wins a tie; unlisted, it is below every listed coding.
        ("identity", &[], IDENTITY),
        ("gzip, identity", &[Gzip], GZIP),
        ("gzip;q=0.5", &[Gzip], GZIP),
        ("gzip;q=0.001", &[Gzip], GZIP),
        ("gzip;q=0.5, identity", &[], IDENTITY),
        ("gzip;q=0.8, br, identity;q=0.9", &[Br], IDENTITY),
        ("gzip;q=0", &[], IDENTITY),
        // identity excluded.
        ("identity;q=0", &[], NONE),
        ("*;q=0", &[], NONE),
        ("br, *;q=0", &[Br], NONE),
        ("gzip;q=0, identity;q=0", &[], NONE),
        ("*;q=0, identity", &[], IDENTITY),
        ("*;q=0, gzip", &[Gzip], GZIP),
        ("identity;q=0, gzip;q=0.1", &[Gzip], GZIP),
        // Listed twice: the lowest weight.
        ("gzip, gzip;q=0", &[], IDENTITY),
        ("gzip;q=0, gzip", &[], IDENTITY),
        ("gzip;q=0, x-gzip", &[], IDENTITY),
        ("gzip;q=0.8, x-gzip;q=0.2, identity;q=0.5", &[], IDENTITY),
        ("br;q=0.9, br;q=0.3, gzip;q=0.5", &[Gzip, Br], GZIP),
        ("identity, identity;q=0", &[], NONE),
        ("*, *;q=0", &[], NONE),
        // Malformed entries are ignored, the others kept.
        ("gzip;q=2", &[], IDENTITY),
        ("gzip;q=2, br;q=abc", &[], IDENTITY),
        ("gzip;q=1.001, br", &[Br], IDENTITY),
        ("gzip;q", &[], IDENTITY),
        ("gzip;", &[], IDENTITY),
        ("gzip;q=0.5;q=1", &[], IDENTITY),
        ("gz ip, br", &[Br], IDENTITY),
        ("\"gzip\"", &[], IDENTITY),
        (" , ,gzip,, ", &[Gzip], GZIP),
        ("gzip;level=1", &[Gzip], GZIP),
        ("gzip;level=1;q=0", &[], IDENTITY),
        ("identity;q=0, gzip;q=x", &[], NONE),
    ];

    #[test]
    fn table_of_accept_encoding_values() {
        for &(value, preferred, choice) in CASES {
            let accept = accept(&[value]);
            let got: Vec<Coding> = accept.preferred(&[Br, Gzip]).collect();
            assert_eq!(got, preferred, "{value:?}: preferred");
            assert_eq!(accept.choose(&[Gzip]), choice, "{value:?}: choice");
        }
    }

    #[test]
    fn the_order_of_entries_and_lines_does_not_matter() {
        for &(value, _, _) in CASES {
            let entries: Vec<&str> = value.split(',').collect();
            let reversed = entries.iter().rev().copied().collect::<Vec<_>>();
            let forward = accept(&[value]);
            assert_eq!(
                accept(&[&reversed.join(",")]),
                forward,
                "{value:?} reversed"
            );
            assert_eq!(accept(&entries), forward, "{value:?} one entry per line");
        }
    }

    #[test]
    fn no_header_accepts_identity_only() {
        let accept = AcceptEncoding::from_headers(&HeaderMap::new());
        assert_eq!(accept.preferred(&[Br, Gzip]).count(), 0);
        assert_eq!(accept.choose(&[Gzip]), Choice::Identity);
        assert_eq!(accept.identity_weight(), IMPLICIT_IDENTITY_WEIGHT);
    }

    #[test]
    fn lines_are_one_list() {
        let accept = accept(&["br;q=0.2", "gzip;q=0.4", "gzip;q=0.3"]);
        assert_eq!((accept.weight(Br), accept.weight(Gzip)), (200, 300));
        let mut headers = HeaderMap::new();
        headers.append(ACCEPT_ENCODING, "br".parse().unwrap());
        headers.append(ACCEPT_ENCODING, "gzip".parse().unwrap());
        let accept = AcceptEncoding::from_headers(&headers);
        assert_eq!(
            accept.preferred(&[Gzip, Br]).collect::<Vec<_>>(),
            [Gzip, Br]
        );
    }

    #[test]
    fn an_entry_with_bytes_outside_ascii_is_ignored_alone() {
        let line: &[u8] = b"g\xfczip, gzip;q=0.7";
        let accept = AcceptEncoding::parse([line]);
        assert_eq!(accept.weight(Gzip), 700);
    }

    #[test]
    fn an_offered_coding_counts_once() {
        let accept = accept(&["gzip, br"]);
        let got: Vec<Coding> = accept.preferred(&[Gzip, Gzip, Br, Gzip]).collect();
        assert_eq!(got, [Gzip, Br]);
        assert_eq!(accept.preferred(&[]).count(), 0);
    }

    #[test]
    fn qvalues_are_parsed_in_thousandths() {
        let cases: &[(&str, Option<Weight>)] = &[
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.0", Some(1000)),
            ("1.000", Some(1000)),
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.001", Some(1)),
            ("0.999", Some(999)),
            ("1.001", None),
            ("0.0001", None),
            ("2", None),
            (".5", None),
            ("", None),
            ("-0", None),
            ("0.-1", None),
            ("0.5x", None),
            ("0,5", None),
            ("00.5", None),
            ("+1", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(parse_qvalue(text.as_bytes()), expected, "{text:?}");
        }
    }

    #[test]
    fn tokens_are_trimmed_of_ows_only() {
        assert_eq!(trim_ows(b" \tgzip \t"), b"gzip");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"\x0bgzip"), b"\x0bgzip");
    }
}
