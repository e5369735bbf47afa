//! [`CorsBuilder`]: the settings of a [`Cors`], checked and turned into the `Policy` it
//! applies by [`build`](CorsBuilder::build).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::{HeaderName, HeaderValue};

use super::origin::{OriginPredicate, Origins, is_origin};
use super::policy::{Methods, Policy, RequestHeaders, joined};
use super::{Cors, WILDCARD};
use crate::error::CorsError;

/// What the builder was told about origins.
#[derive(Clone, Default)]
enum OriginSpec {
    #[default]
    None,
    List(Vec<String>),
    Predicate(OriginPredicate),
    Any,
}

/// What the builder was told about methods or headers.
#[derive(Debug, Clone)]
enum ListSpec {
    List(Vec<String>),
    Any,
    /// Request headers only: echo what the preflight asks for.
    Mirror,
}

impl ListSpec {
    /// Adds `items` to the list (replacing a wildcard or mirror setting). `*` among them
    /// means any.
    fn extend<I>(self, items: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut list = match self {
            ListSpec::List(list) => list,
            ListSpec::Any | ListSpec::Mirror => Vec::new(),
        };
        list.extend(
            items
                .into_iter()
                .map(|item| item.as_ref().trim().to_owned()),
        );
        ListSpec::List(list)
    }

    fn is_wildcard(&self) -> bool {
        match self {
            ListSpec::Any => true,
            ListSpec::List(list) => list.iter().any(|item| item == WILDCARD),
            ListSpec::Mirror => false,
        }
    }
}

/// Configures a [`Cors`]; made by [`Cors::builder`].
///
/// The setters of one setting replace each other's choice (the last one called decides:
/// `allow_any_header` after `allow_headers` allows any header), while the list setters add
/// to their list when called again. `*` in a list means "any", as in the headers. Nothing
/// is checked until [`build`](Self::build).
///
/// Defaults: no origin (`build` requires one), no credentials, only the safelisted methods
/// (GET, HEAD, POST), no request headers beyond the safelisted ones (`Accept`,
/// `Accept-Language`, `Content-Language`, and `Content-Type` with a form or plain-text
/// type), no exposed headers, no `Access-Control-Max-Age` (browsers then cache a preflight
/// for 5 seconds).
///
/// # Examples
///
/// A public, read-only API, and a single-page application that sends cookies:
///
/// ```
/// use http::Method;
/// use switchyard::Cors;
///
/// let public = Cors::builder().allow_any_origin().allow_any_header().build()?;
///
/// let spa = Cors::builder()
///     .allow_origins(["https://app.example", "http://localhost:5173"])
///     .allow_credentials(true)
///     .allow_methods([Method::PUT, Method::PATCH, Method::DELETE])
///     .mirror_request_headers()
///     .expose_headers(["x-total-count"])
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until built"]
#[derive(Clone)]
pub struct CorsBuilder {
    origins: OriginSpec,
    credentials: bool,
    methods: ListSpec,
    request_headers: ListSpec,
    expose_headers: ListSpec,
    max_age: Option<Duration>,
}

impl Default for CorsBuilder {
    fn default() -> Self {
        Self {
            origins: OriginSpec::None,
            credentials: false,
            methods: ListSpec::List(Vec::new()),
            request_headers: ListSpec::List(Vec::new()),
            expose_headers: ListSpec::List(Vec::new()),
            max_age: None,
        }
    }
}

impl fmt::Debug for CorsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins = match &self.origins {
            OriginSpec::None => "None".to_owned(),
            OriginSpec::List(list) => format!("List({list:?})"),
            OriginSpec::Predicate(_) => "Predicate(..)".to_owned(),
            OriginSpec::Any => "Any".to_owned(),
        };
        f.debug_struct("CorsBuilder")
            .field("origins", &format_args!("{origins}"))
            .field("credentials", &self.credentials)
            .field("methods", &self.methods)
            .field("request_headers", &self.request_headers)
            .field("expose_headers", &self.expose_headers)
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl CorsBuilder {
    /// Allows these origins, each `scheme://host[:port]` exactly as browsers send it in
    /// `Origin` (no path, no trailing slash, the port only when it is not the scheme's
    /// default, an international name in its `xn--` form); compared without regard to
    /// case. `*` allows any origin. `null` is refused at [`build`](Self::build): sandboxed
    /// documents and `data:` URLs all send it, so allowing it allows them all (use
    /// [`allow_origin_fn`](Self::allow_origin_fn) if you must).
    pub fn allow_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut list = match self.origins {
            OriginSpec::List(list) => list,
            _ => Vec::new(),
        };
        list.extend(origins.into_iter().map(|o| o.as_ref().trim().to_owned()));
        self.origins = OriginSpec::List(list);
        self
    }

    /// Allows the origins for which `allows` returns `true`, given the `Origin` value
    /// (which is never `*`, and may be `null`).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Cors;
    ///
    /// let cors = Cors::builder()
    ///     .allow_origin_fn(|origin| origin.ends_with(".example.com") && origin.starts_with("https://"))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn allow_origin_fn<F>(mut self, allows: F) -> Self
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        self.origins = OriginSpec::Predicate(Arc::new(allows));
        self
    }

    /// Allows every origin: responses carry `Access-Control-Allow-Origin: *`. Cannot be
    /// combined with credentials.
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = OriginSpec::Any;
        self
    }

    /// Allows preflights to ask for these methods (`Method`s or names; case matters, as
    /// in HTTP: browsers upper-case only the standard ones). GET, HEAD and POST need no
    /// listing. `*` allows any method.
    pub fn allow_methods<I>(mut self, methods: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.methods = self.methods.extend(methods);
        self
    }

    /// Allows preflights to ask for any method: `Access-Control-Allow-Methods: *`. Cannot
    /// be combined with credentials.
    pub fn allow_any_method(mut self) -> Self {
        self.methods = ListSpec::Any;
        self
    }

    /// Allows requests to send these headers (`HeaderName`s or names, compared without
    /// regard to case). `*` allows any header.
    pub fn allow_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.request_headers = self.request_headers.extend(names);
        self
    }

    /// Allows requests to send any header: `Access-Control-Allow-Headers: *`. Browsers
    /// never take `Authorization` as covered by `*`: list it, or mirror. Cannot be
    /// combined with credentials.
    pub fn allow_any_header(mut self) -> Self {
        self.request_headers = ListSpec::Any;
        self
    }

    /// Allows whatever headers a preflight asks for, by repeating its
    /// `Access-Control-Request-Headers`: any header, `Authorization` included, and with
    /// credentials too.
    pub fn mirror_request_headers(mut self) -> Self {
        self.request_headers = ListSpec::Mirror;
        self
    }

    /// Lets pages read these response headers, beyond the safelisted ones
    /// (`Cache-Control`, `Content-Language`, `Content-Length`, `Content-Type`, `Expires`,
    /// `Last-Modified`, `Pragma`). `*` exposes every header, except without credentials
    /// only.
    pub fn expose_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.expose_headers = self.expose_headers.extend(names);
        self
    }

    /// Lets browsers cache a preflight answer this long (`Access-Control-Max-Age`, in whole
    /// seconds). Browsers cap it: Chromium at 2 hours, Firefox at 24.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Lets requests carry credentials (cookies, TLS client certificates, `Authorization`)
    /// and pages read the responses: `Access-Control-Allow-Credentials: true`. Requires
    /// listed origins (or a predicate), and no wildcard for methods and headers.
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// Checks the configuration and builds the middleware.
    ///
    /// # Errors
    ///
    /// - [`CorsError::NoOrigins`] when no origin is allowed;
    /// - [`CorsError::InvalidOrigin`], [`CorsError::InvalidMethod`] or
    ///   [`CorsError::InvalidHeaderName`] for the first entry of a list that is not one;
    /// - [`CorsError::WildcardWithCredentials`] when credentials are allowed along with
    ///   any origin, any method, any request header or every exposed header.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Cors, plugin::CorsError};
    ///
    /// let error = Cors::builder().allow_origins(["https://app.example/"]).build().unwrap_err();
    /// assert_eq!(error, CorsError::InvalidOrigin { origin: "https://app.example/".into() });
    ///
    /// let error = Cors::builder()
    ///     .allow_origins(["https://app.example"])
    ///     .allow_credentials(true)
    ///     .allow_any_header()
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(error, CorsError::WildcardWithCredentials { setting: "request headers" });
    /// ```
    pub fn build(self) -> Result<Cors, CorsError> {
        let origins = match self.origins {
            OriginSpec::None => return Err(CorsError::NoOrigins),
            OriginSpec::Any => Origins::Any,
            OriginSpec::Predicate(allows) => Origins::Predicate(allows),
            OriginSpec::List(list) if list.iter().any(|o| o == WILDCARD) => Origins::Any,
            OriginSpec::List(list) if list.is_empty() => return Err(CorsError::NoOrigins),
            OriginSpec::List(list) => {
                if let Some(bad) = list.iter().find(|origin| !is_origin(origin)) {
                    return Err(CorsError::InvalidOrigin {
                        origin: bad.clone(),
                    });
                }
                Origins::List(list.iter().map(|o| o.to_ascii_lowercase()).collect())
            }
        };
        let methods = match &self.methods {
            spec if spec.is_wildcard() => Methods::Any,
            ListSpec::List(list) => {
                let methods = list
                    .iter()
                    .map(|name| {
                        Method::from_bytes(name.as_bytes()).map_err(|_| CorsError::InvalidMethod {
                            method: name.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let value = joined(&methods);
                Methods::List { methods, value }
            }
            ListSpec::Any | ListSpec::Mirror => Methods::Any,
        };
        let request_headers = match &self.request_headers {
            spec if spec.is_wildcard() => RequestHeaders::Any,
            ListSpec::Mirror => RequestHeaders::Mirror,
            ListSpec::List(list) => {
                let names = header_names(list)?;
                let value = joined(&names);
                RequestHeaders::List { names, value }
            }
            ListSpec::Any => RequestHeaders::Any,
        };
        let expose_headers = match &self.expose_headers {
            spec if spec.is_wildcard() => Some(HeaderValue::from_static(WILDCARD)),
            ListSpec::List(list) => joined(&header_names(list)?),
            ListSpec::Any | ListSpec::Mirror => Some(HeaderValue::from_static(WILDCARD)),
        };
        if self.credentials {
            let wildcard = [
                ("origin", matches!(origins, Origins::Any)),
                ("methods", matches!(methods, Methods::Any)),
                (
                    "request headers",
                    matches!(request_headers, RequestHeaders::Any),
                ),
                ("exposed headers", self.expose_headers.is_wildcard()),
            ];
            if let Some((setting, _)) = wildcard.into_iter().find(|(_, any)| *any) {
                return Err(CorsError::WildcardWithCredentials { setting });
            }
        }
        let max_age = self
            .max_age
            .map(|max_age| HeaderValue::from(max_age.as_secs()));
        Ok(Cors {
            policy: Arc::new(Policy {
                origins,
                credentials: self.credentials,
                methods,
                request_headers,
                expose_headers,
                max_age,
            }),
        })
    }
}

/// The header names of `list`, or the error naming the first that is not one.
fn header_names(list: &[String]) -> Result<Vec<HeaderName>, CorsError> {
    list.iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| CorsError::InvalidHeaderName { name: name.clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> CorsBuilder {
        Cors::builder().allow_origins(["https://app.example"])
    }

    #[test]
    fn builder_errors() {
        assert_eq!(Cors::builder().build().unwrap_err(), CorsError::NoOrigins);
        let empty: [&str; 0] = [];
        assert_eq!(
            Cors::builder().allow_origins(empty).build().unwrap_err(),
            CorsError::NoOrigins
        );
        assert_eq!(
            Cors::builder()
                .allow_origins(["https://a.example", "null"])
                .build()
                .unwrap_err(),
            CorsError::InvalidOrigin {
                origin: "null".into()
            }
        );
        assert_eq!(
            listed()
                .allow_methods(["PUT", "BAD METHOD"])
                .build()
                .unwrap_err(),
            CorsError::InvalidMethod {
                method: "BAD METHOD".into()
            }
        );
        assert_eq!(
            listed()
                .allow_headers(["x-ok", "x bad"])
                .build()
                .unwrap_err(),
            CorsError::InvalidHeaderName {
                name: "x bad".into()
            }
        );
        assert_eq!(
            listed().expose_headers(["x:no"]).build().unwrap_err(),
            CorsError::InvalidHeaderName {
                name: "x:no".into()
            }
        );
        assert_eq!(
            listed().allow_headers([""]).build().unwrap_err(),
            CorsError::InvalidHeaderName { name: "".into() }
        );
    }

    #[test]
    fn credentials_refuse_every_wildcard() {
        let cases = [
            (Cors::builder().allow_any_origin(), "origin"),
            (Cors::builder().allow_origins(["*"]), "origin"),
            (listed().allow_any_method(), "methods"),
            (listed().allow_methods(["GET", "*"]), "methods"),
            (listed().allow_any_header(), "request headers"),
            (listed().allow_headers(["*"]), "request headers"),
            (listed().expose_headers(["*"]), "exposed headers"),
        ];
        for (builder, setting) in cases {
            let wildcard_alone = builder.clone().build();
            assert!(wildcard_alone.is_ok(), "{setting} without credentials");
            assert_eq!(
                builder.allow_credentials(true).build().unwrap_err(),
                CorsError::WildcardWithCredentials { setting },
            );
        }
        let fine = listed()
            .allow_credentials(true)
            .mirror_request_headers()
            .allow_methods(["PUT"])
            .expose_headers(["x-total"])
            .build();
        assert!(fine.is_ok());
        let predicate = Cors::builder()
            .allow_origin_fn(|_| true)
            .allow_credentials(true)
            .build();
        assert!(predicate.is_ok());
    }

    #[test]
    fn the_last_setter_of_a_setting_decides() {
        let cors = listed()
            .allow_any_header()
            .allow_headers(["x-a"])
            .allow_headers(["x-b"])
            .build()
            .unwrap();
        assert!(matches!(
            &cors.policy.request_headers,
            RequestHeaders::List { names, .. } if names == &["x-a", "x-b"]
        ));
        let cors = listed()
            .allow_headers(["x-a"])
            .mirror_request_headers()
            .build()
            .unwrap();
        assert!(matches!(
            cors.policy.request_headers,
            RequestHeaders::Mirror
        ));
        let cors = Cors::builder()
            .allow_origin_fn(|_| false)
            .allow_origins(["https://app.example"])
            .build()
            .unwrap();
        assert!(matches!(cors.policy.origins, Origins::List(_)));
    }
}
