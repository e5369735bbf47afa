//! URL-encoded forms and query strings (feature `form`): [`Request::query_as`] and
//! [`Request::form`], decoded with serde (`serde_urlencoded`, as axum's `Query` and `Form`).

use serde::de::DeserializeOwned;

use crate::error::{Rejection, RejectionKind};
use crate::request::Request;

/// The media type of an HTML form body (WHATWG URL §5, `application/x-www-form-urlencoded`).
const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";

impl Request {
    /// Decodes the query string into `T`: `+` is a space and `%XX` a byte, as in HTML
    /// forms. A request without a query decodes as an empty one, so a `T` whose fields are
    /// all `Option` or `#[serde(default)]` still decodes. Requires the feature `form`.
    ///
    /// # Errors
    ///
    /// A 400 [`Rejection`] of kind [`RejectionKind::InvalidQuery`], with serde's message,
    /// when the query does not decode into `T` (a missing field, a number that is not).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::Deserialize;
    /// use switchyard::{Rejection, Request, Router};
    ///
    /// #[derive(Deserialize)]
    /// struct Page { q: String, page: Option<u32> }
    ///
    /// let router = Router::new().get("/search", |req: &Request| -> Result<String, Rejection> {
    ///     let page: Page = req.query_as()?;
    ///     Ok(format!("{} p{}", page.q, page.page.unwrap_or(1)))
    /// });
    /// let res = router.handle(http::Request::get("/search?q=rust+http&page=2").body(())?);
    /// assert_eq!(res.into_body_bytes()?, b"rust http p2");
    /// let bad = router.handle(http::Request::get("/search?q=x&page=two").body(())?);
    /// assert_eq!(bad.status(), 400);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_as<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        serde_urlencoded::from_str(self.query_string().unwrap_or("")).map_err(|error| {
            Rejection::of(
                RejectionKind::InvalidQuery,
                format!("invalid query string: {error}"),
            )
        })
    }

    /// Decodes an `application/x-www-form-urlencoded` body (an HTML form's `POST`) into
    /// `T`. A form sent with `GET` travels in the query: read it with
    /// [`query_as`](Self::query_as). Requires the feature `form`.
    ///
    /// # Errors
    ///
    /// A [`Rejection`]: 415 ([`RejectionKind::UnsupportedMediaType`]) unless
    /// `Content-Type` is `application/x-www-form-urlencoded`; 400
    /// ([`RejectionKind::InvalidForm`]), with serde's message, when the body does not decode
    /// into `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::Deserialize;
    /// use switchyard::{Rejection, Request, Response, Router};
    ///
    /// #[derive(Deserialize)]
    /// struct Login { user: String, remember: bool }
    ///
    /// let router = Router::new().post("/login", |req: &Request| -> Result<Response, Rejection> {
    ///     let login: Login = req.form()?;
    ///     Ok(Response::text(format!("{} {}", login.user, login.remember)))
    /// });
    /// let post = |content_type: &str, body: &'static str| {
    ///     let req = http::Request::post("/login").header("content-type", content_type);
    ///     router.handle(req.body(body).unwrap())
    /// };
    /// let ok = post("application/x-www-form-urlencoded", "user=ada%20l&remember=true");
    /// assert_eq!(ok.into_body_bytes()?, b"ada l true");
    /// assert_eq!(post("application/x-www-form-urlencoded", "user=ada").status(), 400);
    /// assert_eq!(post("application/json", "user=ada&remember=true").status(), 415);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn form<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        if !self.media_type().eq_ignore_ascii_case(FORM_MEDIA_TYPE) {
            return Err(Rejection::of(
                RejectionKind::UnsupportedMediaType,
                format!("expected a request with content-type {FORM_MEDIA_TYPE}"),
            ));
        }
        serde_urlencoded::from_bytes(self.body()).map_err(|error| {
            Rejection::of(
                RejectionKind::InvalidForm,
                format!("invalid form body: {error}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Filter {
        name: String,
        limit: Option<u8>,
    }

    fn get(uri: &str) -> Request {
        Request::from(http::Request::get(uri).body(()).expect("valid request"))
    }

    fn post(content_type: Option<&str>, body: &'static str) -> Request {
        let mut builder = http::Request::post("/");
        if let Some(content_type) = content_type {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        Request::from(builder.body(body).expect("valid request"))
    }

    #[test]
    fn query_as_decodes_plus_and_percent() {
        let filter: Filter = get("/?name=J%C3%BCrgen+K&limit=5").query_as().unwrap();
        assert_eq!(
            filter,
            Filter {
                name: "Jürgen K".into(),
                limit: Some(5)
            }
        );
    }

    #[test]
    fn query_as_without_query_is_an_empty_query() {
        let all: BTreeMap<String, String> = get("/").query_as().unwrap();
        assert!(all.is_empty());
        let error = get("/").query_as::<Filter>().unwrap_err();
        assert_eq!(error.kind(), RejectionKind::InvalidQuery);
        assert_eq!(
            error.message(),
            "invalid query string: missing field `name`"
        );
    }

    #[test]
    fn query_as_with_wrong_type_is_400_invalid_query() {
        let error = get("/?name=a&limit=300").query_as::<Filter>().unwrap_err();
        assert_eq!(error.kind(), RejectionKind::InvalidQuery);
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        assert!(
            error.message().starts_with("invalid query string: "),
            "{error}"
        );
    }

    #[test]
    fn form_decodes_urlencoded_body_with_charset_parameter() {
        let req = post(
            Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
            "name=a%26b&limit=1",
        );
        assert_eq!(
            req.form::<Filter>().unwrap(),
            Filter {
                name: "a&b".into(),
                limit: Some(1)
            }
        );
    }

    #[test]
    fn form_with_other_or_no_media_type_is_415() {
        for content_type in [None, Some("text/plain"), Some("multipart/form-data")] {
            let error = post(content_type, "name=a").form::<Filter>().unwrap_err();
            assert_eq!(error.kind(), RejectionKind::UnsupportedMediaType);
            assert_eq!(error.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
    }

    #[test]
    fn form_that_does_not_decode_is_400_invalid_form() {
        let error = post(Some(FORM_MEDIA_TYPE), "limit=1")
            .form::<Filter>()
            .unwrap_err();
        assert_eq!(error.kind(), RejectionKind::InvalidForm);
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(error.message(), "invalid form body: missing field `name`");
    }
}
