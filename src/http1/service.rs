//! What the engine serves requests with: the [`Service`] the layer above provides (the
//! router, through the server), seen from the wire. The engine knows nothing of routes,
//! pools or protocols above HTTP/1.1: a request's pool is an opaque [`RouteTag`], the
//! route an opaque `Plan`, and a protocol switch an opaque `Upgrade` it hands back.

use http::request::Parts;

use crate::body::{Body, RequestBody};
use crate::error::ParseError;
use crate::head::{RawHead, TargetRef};

/// Which worker pool serves a request. Opaque to the engine: the service picks it, and a
/// request whose tag differs from the turn's is handed back to be moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct RouteTag(pub(crate) usize);

/// How the service will serve a request, decided once from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Decision {
    pub(crate) tag: RouteTag,
    /// `Some(limit)`: the handler reads the body as it arrives, up to `limit` bytes;
    /// `None`: the body is gathered in full first.
    pub(crate) streamed_body_limit: Option<u64>,
    /// The largest body gathered in full for this request, if not the server's.
    pub(crate) max_body_bytes: Option<u64>,
}

/// How a response hands its connection to another protocol once its head is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    /// `101 Switching Protocols` (RFC 9110 §15.2.2): the bytes after the head belong to
    /// the new protocol (a WebSocket).
    Upgrade,
    /// A `200` whose body the protocol above writes for as long as it lasts (an event
    /// stream): chunked to HTTP/1.1, delimited by the close to HTTP/1.0. Not to `HEAD`.
    Stream,
}

/// A response, and the protocol it switches the connection to, if any.
#[derive(Debug)]
pub(crate) struct Reply<U> {
    pub(crate) response: http::Response<Body>,
    /// The response's `Content-Type`, when it is not in its header map (the common
    /// response carries no other header: it is written without a map).
    pub(crate) content_type: Option<&'static str>,
    pub(crate) switch: Option<(Switch, U)>,
}

/// In a reply's response extensions: the request was answered from outside the turn (a
/// handler deadline's 503), or its client is gone. Nothing is written, and the connection
/// closes. (A marker rather than a field: the common reply stays as small as it was.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnsweredElsewhere;

impl<U> Reply<U> {
    /// A reply that writes nothing and closes the connection (see [`AnsweredElsewhere`]).
    pub(crate) fn answered_elsewhere() -> Self {
        let mut response = http::Response::new(Body::empty());
        response.extensions_mut().insert(AnsweredElsewhere);
        response.into()
    }

    pub(crate) fn is_answered_elsewhere(&self) -> bool {
        self.response
            .extensions()
            .get::<AnsweredElsewhere>()
            .is_some()
    }

    /// The response with its `Content-Type` in its header map, and the switch: for a
    /// protocol whose library writes the head (HTTP/2).
    #[cfg(feature = "http2")]
    pub(crate) fn into_http(self) -> (http::Response<Body>, Option<(Switch, U)>) {
        let mut response = self.response;
        if let Some(content_type) = self.content_type {
            let value = http::HeaderValue::from_static(content_type);
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, value);
        }
        (response, self.switch)
    }
}

impl<U> From<http::Response<Body>> for Reply<U> {
    fn from(response: http::Response<Body>) -> Self {
        Self {
            response,
            content_type: None,
            switch: None,
        }
    }
}

/// What serves a parsed request: the layer above http1.
pub(crate) trait Service {
    /// What `decide` found that `call` needs again (the route), carried with the request
    /// (across turns, to another pool) so that a request is routed once. Opaque here.
    type Plan: Send;
    /// What a response that switches protocols hands over (see [`Reply::switch`]). Opaque
    /// here: it comes back in the connection's state once the turn ends.
    type Upgrade: Send;

    /// Called before the engine writes responses it has encoded: what the service keeps
    /// about them (counts) is to be visible before a client can see them.
    fn before_write(&self) {}

    /// Decides, from the head alone, where and how the request is served. `target` is the
    /// request's: `head.uri` may not have it (see `call`).
    fn decide(&self, head: &Parts, target: TargetRef<'_>) -> (Decision, Self::Plan);

    /// Serves a request whose body has been read, or is to be read: called once per
    /// request. `head`'s headers are empty: they are in `headers`, parsed when asked for;
    /// so is its target, unless `headers` keeps it as bytes (`RawHead::target`: then
    /// `head.uri` is a placeholder, `/`).
    /// `settled`: nothing of an earlier response is still owed on the connection, so the
    /// request may be answered from outside the turn (see [`Self::answers_late`]).
    fn call(
        &self,
        head: Parts,
        headers: RawHead,
        body: RequestBody,
        plan: Self::Plan,
        settled: bool,
    ) -> Reply<Self::Upgrade>;

    /// Whether the service may answer the request `plan` routes from outside the turn (a
    /// handler deadline's 503, written by the poller): then the engine writes what earlier
    /// pipelined responses left before the call, so that such an answer never overtakes
    /// them.
    fn answers_late(&self, _plan: &Self::Plan) -> bool {
        false
    }

    /// Answers a routed request the engine refuses instead of calling the service with it
    /// (its body too large, too slow, malformed, or over the parked bodies' budget; an
    /// expectation other than `100-continue`): the layer above answers it as it answers
    /// its requests (a router: through the route's middleware), told why. The connection
    /// closes after it. By default: the error's status, as a plain-text reason.
    fn refuse(
        &self,
        _head: Parts,
        _headers: RawHead,
        _plan: Self::Plan,
        error: &ParseError,
    ) -> Reply<Self::Upgrade> {
        self.rejected(error);
        let status = error.status();
        let reason = status.canonical_reason().unwrap_or("Error");
        let mut response = http::Response::new(Body::from(format!("{reason}\n")));
        *response.status_mut() = status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response.into()
    }

    /// Hears of a request the engine refused (or gave up on) without calling the service.
    fn rejected(&self, _error: &ParseError) {}
}

/// A closure from a head (its headers filled in) and a body to a response: the engine's
/// tests, fuzz targets and benches serve with one.
impl<F> Service for F
where
    F: Fn(Parts, Vec<u8>) -> http::Response<Body>,
{
    type Plan = ();
    type Upgrade = ();

    fn decide(&self, _head: &Parts, _target: TargetRef<'_>) -> (Decision, ()) {
        (Decision::default(), ())
    }

    fn call(
        &self,
        mut head: Parts,
        headers: RawHead,
        body: RequestBody,
        (): (),
        _settled: bool,
    ) -> Reply<()> {
        head.headers = headers.to_map();
        if let Some(uri) = headers.target_uri() {
            head.uri = uri;
        }
        let response = match body {
            RequestBody::Full(bytes) => self(head, bytes),
            RequestBody::File(file) => self(head, file.into_contents()),
            RequestBody::Stream(stream) => {
                let mut bytes = Vec::new();
                let _ = stream.lock().map(|mut s| s.read_to_end(&mut bytes));
                self(head, bytes)
            }
        };
        response.into()
    }
}
