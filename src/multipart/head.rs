//! The headers: the content type's boundary, and what a part's headers say.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::MultipartError;

/// Headers a part may have.
pub(super) const MAX_PART_HEADERS: usize = 16;
/// The longest boundary RFC 2046 allows.
const MAX_BOUNDARY_BYTES: usize = 70;

/// The `boundary` parameter of a `multipart/form-data` content type.
pub(super) fn boundary_of(content_type: &str) -> Result<String, MultipartError> {
    let mut fields = split_params(content_type);
    let media_type = fields.next().unwrap_or("");
    if !media_type
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return Err(MultipartError::NotMultipart);
    }
    let boundary = fields
        .filter_map(param)
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value)
        .ok_or(MultipartError::InvalidBoundary)?;
    let valid = (1..=MAX_BOUNDARY_BYTES).contains(&boundary.len())
        && boundary.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !boundary.ends_with(' ');
    if valid {
        Ok(boundary)
    } else {
        Err(MultipartError::InvalidBoundary)
    }
}

/// A header value split at the `;` that are not inside a quoted string.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (at, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    rest = Some(&text[at + 1..]);
                    return Some(&text[..at]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// One `name=value` parameter, its value unquoted: inside quotes `\"` and `\\` are escapes
/// and any other backslash is itself (browsers do not escape, and old ones send Windows
/// paths).
fn param(field: &str) -> Option<(&str, String)> {
    let (name, value) = field.split_once('=')?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return None;
    }
    let Some(quoted) = value.strip_prefix('"') else {
        return Some((name, value.to_owned()));
    };
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some((name, out)),
            '\\' => match chars.clone().next() {
                Some(next @ ('"' | '\\')) => {
                    chars.next();
                    out.push(next);
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    None // no closing quote
}

/// What a part's headers say.
#[derive(Debug)]
pub(super) struct PartHead {
    pub(super) name: String,
    pub(super) filename: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) headers: HeaderMap,
}

impl PartHead {
    pub(super) fn from_fields(fields: &[httparse::Header<'_>]) -> Result<Self, MultipartError> {
        let mut headers = HeaderMap::with_capacity(fields.len());
        for field in fields {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| MultipartError::Malformed("invalid part header name"))?;
            let value = HeaderValue::from_bytes(field.value)
                .map_err(|_| MultipartError::Malformed("invalid part header value"))?;
            headers.append(name, value);
        }
        let disposition = headers
            .get(http::header::CONTENT_DISPOSITION)
            .ok_or(MultipartError::Malformed(
                "a part has no content-disposition",
            ))?
            .to_str()
            .map_err(|_| MultipartError::Malformed("content-disposition is not text"))?;
        let mut params = split_params(disposition);
        if !params
            .next()
            .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("form-data"))
        {
            return Err(MultipartError::Malformed("a part is not form-data"));
        }
        let (mut name, mut filename) = (None, None);
        for field in params {
            match param(field) {
                Some((key, value)) if key.eq_ignore_ascii_case("name") => name = Some(value),
                Some((key, value)) if key.eq_ignore_ascii_case("filename") => {
                    filename = Some(value);
                }
                _ => {}
            }
        }
        let name = name.ok_or(MultipartError::Malformed("a part has no name"))?;
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            name,
            filename,
            content_type,
            headers,
        })
    }
}
