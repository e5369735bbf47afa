//! Server-Sent Events (WHATWG HTML §9.2): an event stream response, the sender that feeds
//! it, and the events.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use http::{StatusCode, header};
use tungstenite::Bytes;

use super::outbox::{CloseRequest, Outbox, Weighed};
use super::{LiveUpgrade, SendError, Upgrade};
use crate::response::Response;

/// How often an idle event stream gets a comment line by default, so that proxies and
/// clients do not take it for dead (as axum does).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What one stream may hold unsent before it is closed as a slow consumer.
const MAX_QUEUED_BYTES: usize = 1 << 20;

impl Weighed for Bytes {
    fn size(&self) -> usize {
        self.len()
    }
}

/// One event. Fields left unset are not sent.
///
/// ```
/// use std::time::Duration;
/// use switchyard::live::Event;
///
/// let event = Event::new()
///     .event("tick")
///     .id("7")
///     .data("line one\nline two")
///     .retry(Duration::from_secs(2));
/// assert_eq!(
///     event.to_string(),
///     "event: tick\nid: 7\nretry: 2000\ndata: line one\ndata: line two\n\n"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: Option<String>,
    comment: Option<String>,
}

impl Event {
    /// An empty event; an event with no field but a comment is a keep-alive.
    pub fn new() -> Self {
        Self::default()
    }

    /// The data: each line becomes a `data:` line (`\n`, `\r\n` and `\r` all end lines).
    #[must_use]
    pub fn data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// The event type (`event:`); the client's `addEventListener(type)` receives it.
    /// Line breaks are replaced by spaces (they would end the field).
    #[must_use]
    pub fn event(mut self, name: impl Into<String>) -> Self {
        self.event = Some(one_line(name.into()));
        self
    }

    /// The event id (`id:`): the client sends the last one back as `Last-Event-ID` when it
    /// reconnects ([`Request::last_event_id`](crate::Request::last_event_id)). Line breaks
    /// and NUL are replaced by spaces.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(one_line(id.into()).replace('\0', " "));
        self
    }

    /// How long the client waits before reconnecting (`retry:`, in milliseconds).
    #[must_use]
    pub fn retry(mut self, after: Duration) -> Self {
        self.retry = Some(after);
        self
    }

    /// A comment line (`: text`), ignored by clients.
    #[must_use]
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comment = Some(text.into());
        self
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(comment) = &self.comment {
            for line in lines(comment) {
                writeln!(f, ": {line}")?;
            }
        }
        if let Some(event) = &self.event {
            writeln!(f, "event: {event}")?;
        }
        if let Some(id) = &self.id {
            writeln!(f, "id: {id}")?;
        }
        if let Some(retry) = self.retry {
            writeln!(f, "retry: {}", retry.as_millis())?;
        }
        if let Some(data) = &self.data {
            for line in lines(data) {
                writeln!(f, "data: {line}")?;
            }
        }
        writeln!(f)
    }
}

fn one_line(text: String) -> String {
    if text.contains(['\r', '\n']) {
        text.replace(['\r', '\n'], " ")
    } else {
        text
    }
}

/// Lines as the event stream format splits them: on CRLF, LF or CR.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            Some(at) => {
                let skip = if text[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&text[at + skip..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// The sending side of an event stream: cheap to clone, usable from any thread. Sending
/// queues the event and returns at once; a worker writes it in a short turn, and an open
/// stream otherwise holds no worker and no thread.
///
/// The stream ends when every clone is dropped or [`close`](Self::close) is called (the
/// response's last chunk is written and the connection closes); a client that goes away
/// makes sends fail with [`SendError::Closed`].
#[derive(Clone, Debug)]
pub struct EventStream {
    sender: Arc<Sender>,
}

/// Ends the stream when the last clone of an `EventStream` goes.
#[derive(Debug)]
struct Sender {
    outbox: Arc<Outbox<Bytes>>,
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.outbox
            .request_close(CloseRequest::Asked(1000, String::new()));
    }
}

impl EventStream {
    /// Queues an event.
    ///
    /// # Errors
    /// [`SendError::Closed`] once the stream ended or the client went away;
    /// [`SendError::Full`] when the client reads too slowly (1 MiB waiting): the stream is
    /// then closed.
    pub fn send(&self, event: &Event) -> Result<(), SendError> {
        self.send_encoded(encode(event))
    }

    pub(crate) fn send_encoded(&self, event: Bytes) -> Result<(), SendError> {
        self.sender.outbox.push(event).map_err(SendError::from)
    }

    /// Ends the stream: what was sent before is still written, then the response ends.
    pub fn close(&self) {
        self.sender
            .outbox
            .request_close(CloseRequest::Asked(1000, String::new()));
    }

    /// Whether sending would fail.
    pub fn is_closed(&self) -> bool {
        self.sender.outbox.is_closed()
    }

    /// A number unique to this stream in the process.
    pub fn id(&self) -> u64 {
        self.sender.outbox.id()
    }
}

pub(crate) fn encode(event: &Event) -> Bytes {
    let mut text = String::new();
    let _ = write!(text, "{event}");
    Bytes::from(text)
}

/// An accepted event stream, on its way to its connection, then its state there.
/// Dropping it (the connection ended, or never switched) closes the senders.
pub(crate) struct Accepted {
    pub(crate) outbox: Arc<Outbox<Bytes>>,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) ticket: Option<super::LiveTicket>,
}

impl Drop for Accepted {
    fn drop(&mut self) {
        self.outbox.close();
    }
}

impl Response {
    /// A `text/event-stream` response and the [`EventStream`] that feeds it, with a
    /// comment every 15 s while no event is sent ([`DEFAULT_KEEP_ALIVE`]).
    ///
    /// The response is never buffered or compressed (the `Compression` middleware skips
    /// `text/event-stream`), and its connection closes when the stream ends. Only a `200` switches to a stream:
    /// a middleware that changes the status sends the response as it is. Keep the sender (or a clone) wherever events come from:
    ///
    /// ```
    /// use switchyard::live::{Event, Topic};
    /// use switchyard::{Request, Response, Router};
    ///
    /// let news: Topic<switchyard::live::EventStream> = Topic::new();
    /// let subscribers = news.clone();
    /// let app = Router::new().get("/news", move |_req: &Request| {
    ///     let (response, events) = Response::events();
    ///     let _ = events.send(&Event::new().comment("welcome"));
    ///     subscribers.subscribe(events);
    ///     response
    /// });
    /// // Elsewhere: one event to every subscriber.
    /// news.send(Event::new().data("breaking"));
    /// ```
    pub fn events() -> (Response, EventStream) {
        Self::events_with_keep_alive(Some(DEFAULT_KEEP_ALIVE))
    }

    /// [`Response::events`] with another keep-alive interval (`None`: no keep-alive).
    /// Intervals under 10 ms are 10 ms.
    pub fn events_with_keep_alive(keep_alive: Option<Duration>) -> (Response, EventStream) {
        let keep_alive = keep_alive.map(|every| every.max(super::websocket::MIN_INTERVAL));
        let outbox = Arc::new(Outbox::new(MAX_QUEUED_BYTES));
        let sender = EventStream {
            sender: Arc::new(Sender {
                outbox: Arc::clone(&outbox),
            }),
        };
        let mut response = Response::new(StatusCode::OK)
            .with_header(header::CONTENT_TYPE, "text/event-stream")
            .with_header(header::CACHE_CONTROL, "no-cache")
            // Tells nginx not to buffer the stream.
            .with_header("x-accel-buffering", "no");
        response
            .extensions_mut()
            .insert(LiveUpgrade::new(Upgrade::Events(Box::new(Accepted {
                outbox,
                keep_alive,
                ticket: None,
            }))));
        (response, sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_split_on_every_line_ending() {
        let event = Event::new().data("a\r\nb\rc\nd");
        assert_eq!(event.to_string(), "data: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(Event::new().data("").to_string(), "data: \n\n");
        assert_eq!(Event::new().data("x\n").to_string(), "data: x\ndata: \n\n");
    }

    #[test]
    fn names_and_ids_cannot_inject_fields() {
        let event = Event::new().event("a\ndata: b").id("1\r\n2\0");
        assert_eq!(event.to_string(), "event: a data: b\nid: 1  2 \n\n");
    }

    #[test]
    fn a_comment_alone_is_a_keep_alive() {
        assert_eq!(Event::new().comment("ping").to_string(), ": ping\n\n");
    }

    #[test]
    fn the_stream_closes_when_the_last_sender_goes() {
        let (response, events) = Response::events();
        let upgrade = response.extensions().get::<LiveUpgrade>().unwrap().clone();
        let Some(Upgrade::Events(accepted)) = upgrade.take() else {
            panic!("not an event stream");
        };
        let clone = events.clone();
        drop(events);
        assert!(!accepted.outbox.is_closed());
        clone.send(&Event::new().data("x")).unwrap();
        drop(clone);
        assert!(accepted.outbox.is_closed());
    }
}
