//! A built CORS configuration applied to requests: the answer to a preflight, and the
//! `Access-Control-*` headers of an actual response (Fetch, "CORS protocol").

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HeaderName, HeaderValue, ORIGIN,
};
use http::{HeaderMap, Method, StatusCode};

use super::WILDCARD;
use super::origin::Origins;
use crate::plugin::append_vary;
use crate::response::Response;

/// The status of every answer to a preflight request, allowed or not.
const PREFLIGHT_STATUS: StatusCode = StatusCode::NO_CONTENT;

/// Methods a browser sends cross-origin without asking for them (Fetch, "CORS-safelisted
/// method"): a preflight for one of them is about its headers, never about the method.
const SAFELISTED_METHODS: [Method; 3] = [Method::GET, Method::HEAD, Method::POST];

/// Which methods a preflight may ask for, beyond the safelisted ones.
#[derive(Debug, Clone)]
pub(super) enum Methods {
    Any,
    List {
        methods: Vec<Method>,
        /// `Access-Control-Allow-Methods`; `None` for an empty list.
        value: Option<HeaderValue>,
    },
}

/// Which request headers a preflight may ask for.
#[derive(Debug, Clone)]
pub(super) enum RequestHeaders {
    Any,
    /// Whatever the preflight asks for.
    Mirror,
    List {
        names: Vec<HeaderName>,
        /// `Access-Control-Allow-Headers`; `None` for an empty list.
        value: Option<HeaderValue>,
    },
}

/// A built configuration, with its header values computed once.
#[derive(Debug)]
pub(super) struct Policy {
    pub(super) origins: Origins,
    pub(super) credentials: bool,
    pub(super) methods: Methods,
    pub(super) request_headers: RequestHeaders,
    pub(super) expose_headers: Option<HeaderValue>,
    pub(super) max_age: Option<HeaderValue>,
}

impl Policy {
    /// Whether the answer depends on the request's `Origin`.
    fn varies_by_origin(&self) -> bool {
        !matches!(self.origins, Origins::Any)
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        self.origins.allow_origin(origin)
    }

    /// Whether a preflight may ask for the method in `value`.
    fn allows_method(&self, value: &HeaderValue) -> bool {
        let Ok(method) = Method::from_bytes(value.as_bytes()) else {
            return false;
        };
        match &self.methods {
            Methods::Any => true,
            Methods::List { methods, .. } => {
                SAFELISTED_METHODS.contains(&method) || methods.contains(&method)
            }
        }
    }

    /// The `Access-Control-Allow-Headers` value for a preflight asking for `requested`, or
    /// `Err(())` when one of them is not allowed (or not a header name).
    fn allow_headers(&self, requested: &HeaderMap) -> Result<Option<HeaderValue>, ()> {
        let mut names = Vec::new();
        for value in requested.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
            let text = value.to_str().map_err(|_| ())?;
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                names.push(HeaderName::from_bytes(name.as_bytes()).map_err(|_| ())?);
            }
        }
        match &self.request_headers {
            RequestHeaders::Any => Ok(Some(HeaderValue::from_static(WILDCARD))),
            RequestHeaders::Mirror => Ok(joined(&names)),
            RequestHeaders::List {
                names: allowed,
                value,
            } => {
                if names.iter().all(|name| allowed.contains(name)) {
                    Ok(value.clone())
                } else {
                    Err(())
                }
            }
        }
    }

    /// The answer to a preflight request with `headers`.
    pub(super) fn preflight(&self, headers: &HeaderMap) -> Response {
        let mut response = Response::new(PREFLIGHT_STATUS);
        let out = response.headers_mut();
        let mut vary = Vec::new();
        if self.varies_by_origin() {
            vary.push(ORIGIN);
        }
        if !matches!(self.methods, Methods::Any) {
            vary.push(ACCESS_CONTROL_REQUEST_METHOD);
        }
        if !matches!(self.request_headers, RequestHeaders::Any) {
            vary.push(ACCESS_CONTROL_REQUEST_HEADERS);
        }
        append_vary(out, &vary);

        let Some(allow_origin) = self.allow_origin(headers.get(ORIGIN)) else {
            return response;
        };
        let method_allowed = headers
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|method| self.allows_method(method));
        if !method_allowed {
            return response;
        }
        let Ok(allow_headers) = self.allow_headers(headers) else {
            return response;
        };
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        let allow_methods = match &self.methods {
            Methods::Any => Some(HeaderValue::from_static(WILDCARD)),
            Methods::List { value, .. } => value.clone(),
        };
        if let Some(allow_methods) = allow_methods {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, allow_methods);
        }
        if let Some(allow_headers) = allow_headers {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        }
        if let Some(max_age) = &self.max_age {
            out.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        response
    }

    /// Adds the headers of an actual (not preflight) response to a request from `origin`.
    pub(super) fn decorate(&self, origin: Option<&HeaderValue>, out: &mut HeaderMap) {
        if self.varies_by_origin() {
            append_vary(out, &[ORIGIN]);
        }
        let Some(allow_origin) = self.allow_origin(origin) else {
            return;
        };
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose_headers {
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }
}

/// `names` as a header value (`a, b`); `None` when there are none.
pub(super) fn joined<T: AsRef<str>>(names: &[T]) -> Option<HeaderValue> {
    if names.is_empty() {
        return None;
    }
    let text = names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    Some(HeaderValue::try_from(text).expect("tokens joined with commas are a valid header value"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plugin::cors::{Cors, CorsBuilder};
    use crate::plugin::test_support::headers;

    fn listed() -> CorsBuilder {
        Cors::builder().allow_origins(["https://app.example"])
    }

    fn preflight(cors: &Cors, pairs: &[(&str, &str)]) -> Response {
        cors.policy.preflight(&headers(pairs))
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap())
    }

    const APP: (&str, &str) = ("origin", "https://app.example");

    #[test]
    fn allowed_preflight_gets_every_allow_header() {
        let cors = listed()
            .allow_methods([Method::PUT, Method::DELETE])
            .allow_headers(["Content-Type", "x-token"])
            .max_age(Duration::from_secs(600))
            .allow_credentials(true)
            .build()
            .unwrap();
        let res = preflight(
            &cors,
            &[
                ("origin", "https://APP.example"),
                ("access-control-request-method", "DELETE"),
                ("access-control-request-headers", "x-token,content-type"),
            ],
        );
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            Some("https://APP.example"),
            "the origin is echoed as sent"
        );
        assert_eq!(
            header(&res, "access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(
            header(&res, "access-control-allow-methods"),
            Some("PUT, DELETE")
        );
        assert_eq!(
            header(&res, "access-control-allow-headers"),
            Some("content-type, x-token")
        );
        assert_eq!(header(&res, "access-control-max-age"), Some("600"));
        assert_eq!(
            header(&res, "vary"),
            Some("origin, access-control-request-method, access-control-request-headers")
        );
    }

    #[test]
    fn safelisted_methods_need_no_listing() {
        let cors = listed().build().unwrap();
        for method in ["GET", "HEAD", "POST"] {
            let res = preflight(&cors, &[APP, ("access-control-request-method", method)]);
            assert!(
                header(&res, "access-control-allow-origin").is_some(),
                "{method}"
            );
            assert_eq!(header(&res, "access-control-allow-methods"), None);
        }
        let res = preflight(&cors, &[APP, ("access-control-request-method", "PUT")]);
        assert_eq!(header(&res, "access-control-allow-origin"), None);
    }

    #[test]
    fn disallowed_preflight_gets_no_allow_header() {
        let cors = listed()
            .allow_methods(["PUT"])
            .allow_headers(["x-token"])
            .build()
            .unwrap();
        let cases: [&[(&str, &str)]; 5] = [
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "PUT"),
            ],
            &[APP, ("access-control-request-method", "PATCH")],
            &[APP, ("access-control-request-method", "put")],
            &[
                APP,
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "x-token, x-other"),
            ],
            &[APP, ("access-control-request-method", "NOT A METHOD")],
        ];
        for case in cases {
            let res = preflight(&cors, case);
            assert_eq!(res.status(), StatusCode::NO_CONTENT, "{case:?}");
            let allow = res
                .headers()
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-allow"))
                .count();
            assert_eq!(allow, 0, "{case:?}");
            assert!(header(&res, "vary").unwrap().contains("origin"), "{case:?}");
        }
    }

    #[test]
    fn mirrored_headers_are_echoed_normalized() {
        let cors = listed().mirror_request_headers().build().unwrap();
        let res = preflight(
            &cors,
            &[
                APP,
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "X-Token , authorization"),
                ("access-control-request-headers", "x-more"),
            ],
        );
        assert_eq!(
            header(&res, "access-control-allow-headers"),
            Some("x-token, authorization, x-more")
        );
        let res = preflight(&cors, &[APP, ("access-control-request-method", "GET")]);
        assert_eq!(header(&res, "access-control-allow-headers"), None);
        assert!(
            header(&res, "vary")
                .unwrap()
                .contains("access-control-request-headers")
        );
    }

    #[test]
    fn wildcards_are_sent_as_stars_and_do_not_vary() {
        let cors = Cors::builder()
            .allow_any_origin()
            .allow_any_method()
            .allow_any_header()
            .expose_headers(["*"])
            .build()
            .unwrap();
        let res = preflight(
            &cors,
            &[
                ("origin", "https://anyone.example"),
                ("access-control-request-method", "PURGE"),
                ("access-control-request-headers", "x-anything"),
            ],
        );
        assert_eq!(header(&res, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&res, "access-control-allow-methods"), Some("*"));
        assert_eq!(header(&res, "access-control-allow-headers"), Some("*"));
        assert_eq!(header(&res, "vary"), None);

        let mut out = HeaderMap::new();
        cors.policy.decorate(None, &mut out);
        assert_eq!(
            out["access-control-allow-origin"], "*",
            "with or without Origin"
        );
        assert_eq!(out["access-control-expose-headers"], "*");
        assert!(out.get("vary").is_none());
    }

    #[test]
    fn actual_responses_get_origin_credentials_expose_and_vary() {
        let cors = listed()
            .allow_credentials(true)
            .expose_headers(["X-Total", "etag"])
            .build()
            .unwrap();
        let origin = HeaderValue::from_static("https://app.example");
        let mut out = headers(&[("vary", "accept-encoding")]);
        cors.policy.decorate(Some(&origin), &mut out);
        assert_eq!(out["access-control-allow-origin"], "https://app.example");
        assert_eq!(out["access-control-allow-credentials"], "true");
        assert_eq!(out["access-control-expose-headers"], "x-total, etag");
        let vary: Vec<_> = out.get_all("vary").iter().collect();
        assert_eq!(vary, ["accept-encoding", "origin"]);

        for other in [Some(HeaderValue::from_static("https://evil.example")), None] {
            let mut out = HeaderMap::new();
            cors.policy.decorate(other.as_ref(), &mut out);
            assert_eq!(out.len(), 1, "{other:?}: {out:?}");
            assert_eq!(out["vary"], "origin");
        }
    }

    #[test]
    fn predicate_sees_the_origin() {
        let cors = Cors::builder()
            .allow_origin_fn(|origin| origin.ends_with(".trusted.example"))
            .build()
            .unwrap();
        let allowed = HeaderValue::from_static("https://a.trusted.example");
        let mut out = HeaderMap::new();
        cors.policy.decorate(Some(&allowed), &mut out);
        assert_eq!(
            out["access-control-allow-origin"],
            "https://a.trusted.example"
        );
        let refused = HeaderValue::from_static("https://trusted.example.evil");
        let mut out = HeaderMap::new();
        cors.policy.decorate(Some(&refused), &mut out);
        assert!(out.get("access-control-allow-origin").is_none());
    }
}
