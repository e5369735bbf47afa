//! JSON bodies (feature `json`): [`Json`] responses and [`Request::json`].

use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::body::Body;
use crate::error::Rejection;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

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
            Ok(bytes) => Response::with_content_type(Body::from(bytes), "application/json"),
            // A value that cannot be serialised (a map with non-string keys) is a server bug.
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

impl Request {
    /// Decodes the body as JSON.
    ///
    /// # Errors
    ///
    /// A 415 [`Rejection`] unless `Content-Type` is `application/json` (or `…+json`), and a
    /// 400 one, with serde's message, when the body does not decode into `T`.
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
    /// assert_eq!(post("application/json", r#"{"nom":"ada"}"#).status(), 400);
    /// assert_eq!(post("text/plain", r#"{"name":"ada"}"#).status(), 415);
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        let content_type = self
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        let is_json = essence.eq_ignore_ascii_case("application/json")
            || (essence.len() > 5 && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"));
        if !is_json {
            return Err(Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request with content-type application/json",
            ));
        }
        serde_json::from_slice(self.body()).map_err(|error| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("invalid JSON body: {error}"),
            )
        })
    }
}
