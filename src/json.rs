//! JSON bodies (feature `json`): [`Json`] responses and [`Request::json`].

use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::body::Body;
use crate::error::{Rejection, RejectionKind};
use crate::request::Request;
use crate::response::{IntoResponse, Response, content_types};

/// A value sent as `application/json`.
///
/// # Examples
///
/// ```
/// use serde::Serialize;
/// use switchyard::{Json, Request, Router};
///
/// #[derive(Serialize)]
/// struct Message { message: &'static str }
///
/// let router = Router::new().get("/json", |_: &Request| Json(Message { message: "Hello, World!" }));
/// let res = router.handle(http::Request::get("/json").body(())?);
/// assert_eq!(res.headers()["content-type"], "application/json");
/// assert_eq!(res.into_body_bytes()?, br#"{"message":"Hello, World!"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => Response::typed(Body::from(bytes), content_types::JSON),
            // A value that cannot be serialised (a map with non-string keys) is a server bug.
            Err(error) => {
                log_serialize_error(&error);
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

fn log_serialize_error(error: &serde_json::Error) {
    crate::logging::log_error!("a Json response could not be serialized, answering 500: {error}");
}

impl Request {
    /// Decodes the body as JSON.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] with serde's message: 415 ([`RejectionKind::UnsupportedMediaType`])
    /// unless `Content-Type` is `application/json` (or `…+json`), 400
    /// ([`RejectionKind::JsonSyntax`]) when the body is not JSON, 422
    /// ([`RejectionKind::JsonData`]) when it is JSON of another shape than `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::Deserialize;
    /// use switchyard::{Rejection, Request, Router};
    ///
    /// #[derive(Deserialize)]
    /// struct NewUser { name: String }
    ///
    /// let router = Router::new().post("/users", |req: &Request| -> Result<String, Rejection> {
    ///     let user: NewUser = req.json()?;
    ///     Ok(format!("created {}", user.name))
    /// });
    /// let post = |ct: &str, body: &'static str| {
    ///     router.handle(http::Request::post("/users").header("content-type", ct).body(body).unwrap())
    /// };
    /// assert_eq!(post("application/json", r#"{"name":"ada"}"#).status(), 200);
    /// assert_eq!(post("application/json", r#"{"name":"#).status(), 400);
    /// assert_eq!(post("application/json", r#"{"nom":"ada"}"#).status(), 422);
    /// assert_eq!(post("text/plain", r#"{"name":"ada"}"#).status(), 415);
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        let essence = self.media_type();
        let is_json = essence.eq_ignore_ascii_case("application/json")
            || (essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"));
        if !is_json {
            return Err(Rejection::of(
                RejectionKind::UnsupportedMediaType,
                "expected a request with content-type application/json",
            ));
        }
        serde_json::from_slice(self.body()).map_err(|error| {
            let kind = match error.classify() {
                serde_json::error::Category::Data => RejectionKind::JsonData,
                _ => RejectionKind::JsonSyntax,
            };
            Rejection::of(kind, format!("invalid JSON body: {error}"))
        })
    }
}
