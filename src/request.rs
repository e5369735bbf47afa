//! The request a handler sees: the parsed head and the body, read in full within the limit.

use std::fmt;
use std::net::SocketAddr;

use http::{Extensions, HeaderMap, Method, Uri, Version, request::Parts};

/// An HTTP request as handlers see it.
///
/// The head is the `http` crate's [`Parts`]; the body has been read completely (up to the
/// server's body limit) before the handler runs, so a handler never blocks on a slow client.
///
/// # Examples
///
/// ```
/// use switchyard::Request;
///
/// let req = Request::from(
///     http::Request::post("/echo?x=1").body(b"hi".to_vec())?,
/// );
/// assert_eq!(req.method(), http::Method::POST);
/// assert_eq!(req.path(), "/echo");
/// assert_eq!(req.query_string(), Some("x=1"));
/// assert_eq!(req.body(), b"hi");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Request {
    head: Parts,
    body: Vec<u8>,
    remote_addr: Option<SocketAddr>,
}

impl Request {
    pub(crate) fn from_parts(head: Parts, body: Vec<u8>, remote_addr: Option<SocketAddr>) -> Self {
        Self {
            head,
            body,
            remote_addr,
        }
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request target, as sent (origin-form `/path?query`, or absolute-form).
    pub fn uri(&self) -> &Uri {
        &self.head.uri
    }

    /// The path of the target, still percent-encoded.
    pub fn path(&self) -> &str {
        self.head.uri.path()
    }

    /// The query string after `?`, if any, still percent-encoded.
    pub fn query_string(&self) -> Option<&str> {
        self.head.uri.query()
    }

    /// The HTTP version of the request.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// Typed values attached to the request by the server, router or middleware.
    pub fn extensions(&self) -> &Extensions {
        &self.head.extensions
    }

    /// Mutable access to the extensions, for middleware.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.head.extensions
    }

    /// The request body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The client's address, when the request came over a socket.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The head, for code that works with `http` types directly.
    pub fn head(&self) -> &Parts {
        &self.head
    }

    /// Converts into an `http::Request`.
    pub fn into_http(self) -> http::Request<Vec<u8>> {
        http::Request::from_parts(self.head, self.body)
    }
}

impl From<http::Request<Vec<u8>>> for Request {
    fn from(request: http::Request<Vec<u8>>) -> Self {
        let (head, body) = request.into_parts();
        Self::from_parts(head, body, None)
    }
}

impl From<http::Request<()>> for Request {
    fn from(request: http::Request<()>) -> Self {
        let (head, ()) = request.into_parts();
        Self::from_parts(head, Vec::new(), None)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.head.method)
            .field("uri", &self.head.uri)
            .field("version", &self.head.version)
            .field("headers", &self.head.headers)
            .field("body_len", &self.body.len())
            .field("remote_addr", &self.remote_addr)
            .finish()
    }
}
