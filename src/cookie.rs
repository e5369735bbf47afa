//! Cookies (RFC 6265): reading the request's `Cookie` headers ([`Request::cookie`],
//! [`Request::cookies`]) and sending `Set-Cookie` ([`SetCookie`], [`Response::with_cookie`]).
//!
//! Not the `cookie` crate: parsing with it (`Cookie::split_parse`, or `Cookie::parse` per
//! pair) made `Request::cookie` on a 7-pair header about 2.5 times slower in
//! `benches/plugins.rs` (0.87-0.91 µs against 0.35 µs); its `percent-encode` decoding
//! cannot hand out the `&str` borrowed from the request that `cookie()` returns; and its
//! `Set-Cookie` writes attributes in another order, does no validation (ours is the API's
//! point), and brings the `time` crate.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use http::header::{COOKIE, SET_COOKIE};

use crate::error::InvalidCookie;
use crate::request::Request;
use crate::response::Response;

/// The last second an HTTP-date can name, 9999-12-31 23:59:59 UTC, in seconds since the
/// epoch (RFC 9110 §5.6.7 has four-digit years).
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// Optional whitespace around a cookie pair (RFC 9110 §5.6.3).
const OWS: [char; 2] = [' ', '\t'];

impl Request {
    /// The value of the cookie `name` that the client sent in its `Cookie` headers, without
    /// the double quotes that may surround it. When the name appears more than once, the
    /// first wins (RFC 6265 §5.4 has clients send the most specific path first).
    ///
    /// Names are case-sensitive. See [`cookies`](Self::cookies) for how pairs are read.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Request;
    ///
    /// let req = Request::from(
    ///     http::Request::get("/")
    ///         .header("cookie", "theme=dark; session=\"abc=\"")
    ///         .header("cookie", "lang=en")
    ///         .body(())?,
    /// );
    /// assert_eq!(req.cookie("session"), Some("abc="));
    /// assert_eq!(req.cookie("lang"), Some("en"));
    /// assert_eq!(req.cookie("Theme"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies()
            .find(|&(candidate, _)| candidate == name)
            .map(|(_, value)| value)
    }

    /// Every cookie the client sent, as `(name, value)` in the order of the `Cookie` header
    /// lines and of the pairs within each, repeated names included.
    ///
    /// A `Cookie` value is `name=value` pairs separated by `;` (RFC 6265 §4.2.1). They are
    /// read leniently, as browsers send them: whitespace around names and values is
    /// dropped, a value keeps any `=` after the first, a pair of double quotes around the
    /// whole value is removed, and a pair with no `=`, an empty name, or bytes that are not
    /// UTF-8 is skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Request;
    ///
    /// let req = Request::from(
    ///     http::Request::get("/").header("cookie", "a=1; junk; b=x=y").body(())?,
    /// );
    /// assert_eq!(req.cookies().collect::<Vec<_>>(), [("a", "1"), ("b", "x=y")]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers()
            .get_all(COOKIE)
            .iter()
            .flat_map(|header| parse_cookie_header(header.as_bytes()))
    }
}

/// The pairs of one `Cookie` header value: `cookie-pair *( ";" SP cookie-pair )`
/// (RFC 6265 §4.2.1), read leniently (see [`Request::cookies`]).
fn parse_cookie_header(header: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    header
        .split(|&byte| byte == b';')
        .filter_map(|pair| parse_cookie_pair(std::str::from_utf8(pair).ok()?))
}

/// `name=value`, trimmed, with the DQUOTEs of `cookie-value` removed (RFC 6265 §4.1.1).
fn parse_cookie_pair(pair: &str) -> Option<(&str, &str)> {
    let (name, value) = pair.split_once('=')?;
    let name = name.trim_matches(OWS);
    if name.is_empty() {
        return None;
    }
    let value = value.trim_matches(OWS);
    let value = value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value);
    Some((name, value))
}

/// The `SameSite` attribute of a cookie: whether browsers send it with requests that other
/// sites start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// Only with requests this site starts.
    Strict,
    /// Also when the user follows a link from another site (a top-level `GET`); what
    /// browsers assume when the attribute is absent.
    Lax,
    /// With every request, other sites' included. Browsers require `Secure` with it, so
    /// [`SetCookie`] adds it.
    None,
}

impl fmt::Display for SameSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        })
    }
}

/// A cookie to send in a `Set-Cookie` header (RFC 6265 §4.1); its [`Display`](fmt::Display)
/// is the header's value. Add it to a response with [`Response::with_cookie`].
///
/// The name must be a `token` and the value `cookie-octet`s (optionally inside a pair of
/// double quotes), so that a `Set-Cookie` line cannot be bent by what it carries:
/// [`try_new`](Self::try_new) reports [`InvalidCookie`] for anything else,
/// [`new`](Self::new) panics. Encode arbitrary data (base64url, percent-encoding) before
/// storing it in a cookie. Attributes are written in the order Path, Domain, Max-Age,
/// Expires, Secure, HttpOnly, SameSite.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use switchyard::{Request, Response, Router, SameSite, SetCookie};
///
/// let session = SetCookie::new("session", "k7Vq2")
///     .path("/")
///     .max_age(Duration::from_secs(3600))
///     .secure()
///     .http_only()
///     .same_site(SameSite::Lax);
/// assert_eq!(
///     session.to_string(),
///     "session=k7Vq2; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax",
/// );
///
/// let router = Router::new().post("/logout", |_: &Request| {
///     Response::see_other("/").with_cookie(SetCookie::removal("session").path("/"))
/// });
/// let res = router.handle(http::Request::post("/logout").body(())?);
/// assert_eq!(res.headers()["set-cookie"], "session=; Path=/; Max-Age=0");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    name: String,
    value: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<Duration>,
    expires: Option<SystemTime>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

impl SetCookie {
    /// A cookie `name=value`, with no attributes: the browser keeps it until it closes, and
    /// sends it back to the host that set it, under the path of the request that set it.
    ///
    /// # Panics
    ///
    /// When the name is not a `token` or the value holds a character other than
    /// `cookie-octet`s (see [`InvalidCookie`]); the message names the cookie and the
    /// character. [`try_new`](Self::try_new) is the fallible twin, for names or values that
    /// do not come from the code itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::SetCookie;
    ///
    /// assert_eq!(SetCookie::new("theme", "dark").to_string(), "theme=dark");
    /// ```
    #[track_caller]
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        match Self::try_new(name, value) {
            Ok(cookie) => cookie,
            Err(error) => panic!("{error}"),
        }
    }

    /// A cookie `name=value`, if both may appear in a `Set-Cookie` header.
    ///
    /// # Errors
    ///
    /// [`InvalidCookie::Name`] when the name is empty or not a `token` (RFC 9110 §5.6.2),
    /// [`InvalidCookie::Value`] when the value holds a character that is not a
    /// `cookie-octet` (RFC 6265 §4.1.1): a space, `"`, `,`, `;`, `\`, a control character
    /// or a non-ASCII character. A pair of double quotes around the whole value is allowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{InvalidCookie, SetCookie};
    ///
    /// assert!(SetCookie::try_new("greeting", "\"hello\"").is_ok());
    /// assert_eq!(
    ///     SetCookie::try_new("greeting", "hello; Domain=evil.example"),
    ///     Err(InvalidCookie::Value { name: "greeting".into(), found: ';' }),
    /// );
    /// assert_eq!(
    ///     SetCookie::try_new("my cookie", "1"),
    ///     Err(InvalidCookie::Name { name: "my cookie".into() }),
    /// );
    /// ```
    pub fn try_new(
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, InvalidCookie> {
        let name = name.into();
        let value = value.into();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(InvalidCookie::Name { name });
        }
        let unquoted = value
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
            .unwrap_or(&value);
        if let Some(found) = unquoted.chars().find(|&c| !is_cookie_octet(c)) {
            return Err(InvalidCookie::Value { name, found });
        }
        Ok(Self {
            name,
            value,
            path: None,
            domain: None,
            max_age: None,
            expires: None,
            secure: false,
            http_only: false,
            same_site: None,
        })
    }

    /// A cookie that deletes the browser's cookie `name`: an empty value and `Max-Age=0`.
    ///
    /// A browser deletes only the cookie with the same name, path and domain: give the
    /// removal the [`path`](Self::path) and [`domain`](Self::domain) the cookie was set
    /// with.
    ///
    /// # Panics
    ///
    /// When the name is not a `token`, as [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::SetCookie;
    ///
    /// let removal = SetCookie::removal("session").path("/");
    /// assert_eq!(removal.to_string(), "session=; Path=/; Max-Age=0");
    /// ```
    #[track_caller]
    pub fn removal(name: impl Into<String>) -> Self {
        Self::new(name, "").max_age(Duration::ZERO)
    }

    /// The `Path` attribute: the browser sends the cookie only with requests for this path
    /// and the paths below it (RFC 6265 §5.1.4).
    ///
    /// # Panics
    ///
    /// When `path` holds a control character, `;` or a non-ASCII character (RFC 6265
    /// §4.1.1 `path-value`): it could add attributes of its own. Paths are the
    /// application's constants; percent-encode one built from data.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::SetCookie;
    ///
    /// let cookie = SetCookie::new("cart", "3").path("/shop");
    /// assert_eq!(cookie.to_string(), "cart=3; Path=/shop");
    /// ```
    #[must_use]
    #[track_caller]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        if let Some(found) = path.chars().find(|&c| !is_path_char(c)) {
            panic!(
                "Path of cookie {:?} contains {found:?}, which a cookie attribute may not",
                self.name
            );
        }
        self.path = Some(path);
        self
    }

    /// The `Domain` attribute: the browser sends the cookie to this host and its subdomains
    /// too (RFC 6265 §5.2.3). Without it, only to the host that set it.
    ///
    /// # Panics
    ///
    /// When `domain` is empty or holds anything but ASCII letters, digits, `-` and `.`
    /// (RFC 6265 §4.1.1 `domain-value`; an internationalized name goes in its `xn--` form).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::SetCookie;
    ///
    /// let cookie = SetCookie::new("lang", "en").domain("example.com");
    /// assert_eq!(cookie.to_string(), "lang=en; Domain=example.com");
    /// ```
    #[must_use]
    #[track_caller]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        if domain.is_empty() {
            panic!("Domain of cookie {:?} is empty", self.name);
        }
        if let Some(found) = domain
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        {
            panic!(
                "Domain of cookie {:?} contains {found:?}, which a domain name may not",
                self.name
            );
        }
        self.domain = Some(domain);
        self
    }

    /// The `Max-Age` attribute: the browser keeps the cookie this long, in whole seconds
    /// (a fraction is dropped); zero deletes it (RFC 6265 §5.2.2). Browsers prefer it to
    /// [`expires`](Self::expires) when both are set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchyard::SetCookie;
    ///
    /// let cookie = SetCookie::new("seen", "1").max_age(Duration::from_secs(86_400));
    /// assert_eq!(cookie.to_string(), "seen=1; Max-Age=86400");
    /// ```
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The `Expires` attribute: the browser keeps the cookie until then (RFC 6265 §5.2.1),
    /// written as an HTTP-date. A time before 1970 is written as 1970-01-01 and one after
    /// the year 9999 as its last second: what an HTTP-date can express.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use switchyard::SetCookie;
    ///
    /// let cookie = SetCookie::new("promo", "spring")
    ///     .expires(UNIX_EPOCH + Duration::from_secs(1_445_412_480));
    /// assert_eq!(cookie.to_string(), "promo=spring; Expires=Wed, 21 Oct 2015 07:28:00 GMT");
    /// ```
    #[must_use]
    pub fn expires(mut self, expires: SystemTime) -> Self {
        self.expires = Some(expires);
        self
    }

    /// The `Secure` attribute: the browser sends the cookie over HTTPS only.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::SetCookie;
    ///
    /// assert_eq!(SetCookie::new("id", "1").secure().to_string(), "id=1; Secure");
    /// ```
    #[must_use]
    pub fn secure(mut self) -> Self {
        self.secure = true;
        self
    }

    /// The `HttpOnly` attribute: scripts in the page cannot read the cookie.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::SetCookie;
    ///
    /// assert_eq!(SetCookie::new("id", "1").http_only().to_string(), "id=1; HttpOnly");
    /// ```
    #[must_use]
    pub fn http_only(mut self) -> Self {
        self.http_only = true;
        self
    }

    /// The `SameSite` attribute. [`SameSite::None`] adds `Secure` as well, without which
    /// browsers refuse the cookie (as the `cookie` crate does).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{SameSite, SetCookie};
    ///
    /// let strict = SetCookie::new("id", "1").same_site(SameSite::Strict);
    /// assert_eq!(strict.to_string(), "id=1; SameSite=Strict");
    /// let none = SetCookie::new("id", "1").same_site(SameSite::None);
    /// assert_eq!(none.to_string(), "id=1; Secure; SameSite=None");
    /// ```
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }
}

impl fmt::Display for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)?;
        if let Some(path) = &self.path {
            write!(f, "; Path={path}")?;
        }
        if let Some(domain) = &self.domain {
            write!(f, "; Domain={domain}")?;
        }
        if let Some(max_age) = self.max_age {
            write!(f, "; Max-Age={}", max_age.as_secs())?;
        }
        if let Some(expires) = self.expires {
            let last = UNIX_EPOCH + Duration::from_secs(MAX_HTTP_DATE_SECS);
            let expires = expires.clamp(UNIX_EPOCH, last);
            write!(f, "; Expires={}", httpdate::fmt_http_date(expires))?;
        }
        if self.secure || self.same_site == Some(SameSite::None) {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        if let Some(same_site) = self.same_site {
            write!(f, "; SameSite={same_site}")?;
        }
        Ok(())
    }
}

/// The `Set-Cookie` value, for [`Response::with_header`] and header tuples.
impl From<&SetCookie> for HeaderValue {
    fn from(cookie: &SetCookie) -> Self {
        HeaderValue::try_from(cookie.to_string())
            .expect("a SetCookie is validated to printable ASCII")
    }
}

/// The `Set-Cookie` value, for [`Response::with_header`] and header tuples.
impl From<SetCookie> for HeaderValue {
    fn from(cookie: SetCookie) -> Self {
        Self::from(&cookie)
    }
}

impl Response {
    /// Adds a `Set-Cookie` header for `cookie`, keeping those already there: one header per
    /// cookie (RFC 6265 §3 forbids folding them into one line).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Response, SetCookie};
    ///
    /// let res = Response::text("welcome")
    ///     .with_cookie(SetCookie::new("session", "k7Vq2").http_only())
    ///     .with_cookie(SetCookie::new("theme", "dark"));
    /// let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
    /// assert_eq!(cookies, ["session=k7Vq2; HttpOnly", "theme=dark"]);
    /// ```
    #[must_use]
    pub fn with_cookie(mut self, cookie: SetCookie) -> Self {
        self.headers_mut()
            .append(SET_COOKIE, HeaderValue::from(&cookie));
        self
    }
}

/// `tchar` (RFC 9110 §5.6.2): the characters of a cookie name.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// `cookie-octet` (RFC 6265 §4.1.1): visible ASCII but `"`, `,`, `;` and `\`.
fn is_cookie_octet(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x2B' | '\x2D'..='\x3A' | '\x3C'..='\x5B' | '\x5D'..='\x7E')
}

/// `path-value` (RFC 6265 §4.1.1): any `CHAR` but controls and `;`.
fn is_path_char(c: char) -> bool {
    matches!(c, ' '..='~') && c != ';'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cookie_headers: &[&[u8]]) -> Request {
        let mut builder = http::Request::get("/");
        for header in cookie_headers {
            builder = builder.header(COOKIE, HeaderValue::from_bytes(header).unwrap());
        }
        Request::from(builder.body(()).unwrap())
    }

    fn pairs(cookie_headers: &[&[u8]]) -> Vec<(String, String)> {
        request(cookie_headers)
            .cookies()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|&(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    #[test]
    fn cookie_pairs_with_and_without_spaces() {
        let expected = owned(&[("a", "1"), ("b", "2")]);
        assert_eq!(pairs(&[b"a=1; b=2"]), expected);
        assert_eq!(pairs(&[b"a=1;b=2"]), expected);
        assert_eq!(pairs(&[b"  a = 1 ;\tb=2  ;"]), expected);
    }

    #[test]
    fn cookie_value_loses_surrounding_quotes_only() {
        let req = request(&[br#"q="hello"; e=""; lone="; inner=a"b; open="x"#]);
        assert_eq!(req.cookie("q"), Some("hello"));
        assert_eq!(req.cookie("e"), Some(""));
        assert_eq!(req.cookie("lone"), Some("\""));
        assert_eq!(req.cookie("inner"), Some("a\"b"));
        assert_eq!(req.cookie("open"), Some("\"x"));
    }

    #[test]
    fn cookies_from_several_headers_in_order_first_match_wins() {
        let req = request(&[b"a=1; b=2", b"c=3; a=4"]);
        assert_eq!(req.cookie("a"), Some("1"));
        assert_eq!(req.cookie("c"), Some("3"));
        let all: Vec<_> = req.cookies().collect();
        assert_eq!(all, [("a", "1"), ("b", "2"), ("c", "3"), ("a", "4")]);
    }

    #[test]
    fn cookie_pairs_without_name_or_equals_are_skipped() {
        assert_eq!(
            pairs(&[b"=orphan; flag; ; a=1; =; b="]),
            owned(&[("a", "1"), ("b", "")])
        );
    }

    #[test]
    fn cookie_value_keeps_equals_after_the_first() {
        let req = request(&[b"token=abc==; kv=a=b=c"]);
        assert_eq!(req.cookie("token"), Some("abc=="));
        assert_eq!(req.cookie("kv"), Some("a=b=c"));
    }

    #[test]
    fn cookie_names_are_case_sensitive_and_absent_is_none() {
        let req = request(&[b"Session=1"]);
        assert_eq!(req.cookie("session"), None);
        assert_eq!(req.cookie("Session"), Some("1"));
        assert_eq!(request(&[]).cookie("Session"), None);
        assert_eq!(request(&[]).cookies().count(), 0);
    }

    #[test]
    fn cookie_pair_with_non_utf8_bytes_is_skipped_others_kept() {
        assert_eq!(
            pairs(&[b"a=1; bad=\xff\xfe; b=2"]),
            owned(&[("a", "1"), ("b", "2")])
        );
    }

    #[test]
    fn set_cookie_with_every_attribute() {
        let cookie = SetCookie::new("id", "a3fWa")
            .path("/docs")
            .domain("example.com")
            .max_age(Duration::from_millis(2_500))
            .expires(UNIX_EPOCH + Duration::from_secs(1_445_412_480))
            .secure()
            .http_only()
            .same_site(SameSite::Strict);
        assert_eq!(
            cookie.to_string(),
            "id=a3fWa; Path=/docs; Domain=example.com; Max-Age=2; \
             Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn set_cookie_minimal_quoted_and_empty() {
        assert_eq!(SetCookie::new("a", "b").to_string(), "a=b");
        assert_eq!(SetCookie::new("a", "\"bc\"").to_string(), "a=\"bc\"");
        assert_eq!(SetCookie::new("a", "").to_string(), "a=");
        assert_eq!(SetCookie::new("a", "\"\"").to_string(), "a=\"\"");
        assert_eq!(
            SetCookie::new("__Host-x!#$%&'*+-.^_`|~", "!#$%&'()*+-./:<=>?@[]^_`{|}~").to_string(),
            "__Host-x!#$%&'*+-.^_`|~=!#$%&'()*+-./:<=>?@[]^_`{|}~"
        );
    }

    #[test]
    fn set_cookie_removal_and_same_site() {
        assert_eq!(SetCookie::removal("s").to_string(), "s=; Max-Age=0");
        assert_eq!(
            SetCookie::removal("s")
                .path("/")
                .domain("example.com")
                .to_string(),
            "s=; Path=/; Domain=example.com; Max-Age=0"
        );
        let lax = SetCookie::new("a", "1").same_site(SameSite::Lax);
        assert_eq!(lax.to_string(), "a=1; SameSite=Lax");
        let none = SetCookie::new("a", "1").same_site(SameSite::None);
        assert_eq!(none.to_string(), "a=1; Secure; SameSite=None");
        let none_secure = SetCookie::new("a", "1").secure().same_site(SameSite::None);
        assert_eq!(none_secure.to_string(), "a=1; Secure; SameSite=None");
    }

    #[test]
    fn set_cookie_expires_is_clamped_to_http_date_range() {
        let before = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(
            SetCookie::new("a", "1").expires(before).to_string(),
            "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        );
        let far = UNIX_EPOCH + Duration::from_secs(MAX_HTTP_DATE_SECS + 86_400 * 365);
        assert_eq!(
            SetCookie::new("a", "1").expires(far).to_string(),
            "a=1; Expires=Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn set_cookie_rejects_names_outside_token() {
        for name in [
            "", "a b", "a=b", "a;b", "a,b", "a\"b", "a(b)", "a/b", "é", "a\tb",
        ] {
            assert_eq!(
                SetCookie::try_new(name, "v"),
                Err(InvalidCookie::Name { name: name.into() }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn set_cookie_rejects_values_outside_cookie_octet() {
        for (value, found) in [
            ("a b", ' '),
            ("a;b", ';'),
            ("a,b", ','),
            ("a\\b", '\\'),
            ("a\"b", '"'),
            ("\"ab", '"'),
            ("\"a b\"", ' '),
            ("a\r\nb", '\r'),
            ("a\x7fb", '\x7f'),
            ("café", 'é'),
        ] {
            assert_eq!(
                SetCookie::try_new("n", value),
                Err(InvalidCookie::Value {
                    name: "n".into(),
                    found
                }),
                "{value:?}"
            );
        }
    }

    #[test]
    #[should_panic(expected = r#"value of cookie "n" contains ';', which is not a cookie-octet"#)]
    fn set_cookie_new_panics_naming_cookie_and_character() {
        let _ = SetCookie::new("n", "1; Domain=evil.example");
    }

    #[test]
    #[should_panic(expected = r#"Path of cookie "n" contains ';'"#)]
    fn set_cookie_path_with_semicolon_panics() {
        let _ = SetCookie::new("n", "1").path("/; Domain=evil.example");
    }

    #[test]
    #[should_panic(expected = r#"Domain of cookie "n" contains '/'"#)]
    fn set_cookie_domain_with_slash_panics() {
        let _ = SetCookie::new("n", "1").domain("example.com/x");
    }

    #[test]
    fn with_cookie_appends_set_cookie_headers() {
        let res = Response::text("hi")
            .with_header(SET_COOKIE, "first=1")
            .with_cookie(SetCookie::new("a", "1"))
            .with_cookie(SetCookie::removal("b"));
        let values: Vec<_> = res.headers().get_all(SET_COOKIE).iter().collect();
        assert_eq!(values, ["first=1", "a=1", "b=; Max-Age=0"]);
    }
}
