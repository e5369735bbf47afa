//! One message to many live connections.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tungstenite::{Bytes, Message};

use super::events::{self, Event, EventStream};
use super::websocket::WebSocket;

/// What a [`Topic`] can send to: [`WebSocket`] and [`EventStream`].
pub trait Subscriber: Clone + Send + Sync + 'static + sealed::Sealed {
    /// What is sent: a [`Message`] to WebSockets, an [`Event`] to event streams.
    type Item;
    /// The item made ready once for every subscriber.
    #[doc(hidden)]
    type Prepared: Clone;
    #[doc(hidden)]
    fn prepare(item: Self::Item) -> Self::Prepared;
    /// Queues a prepared item; false when the subscriber is gone.
    #[doc(hidden)]
    fn deliver(&self, item: &Self::Prepared) -> bool;
    #[doc(hidden)]
    fn key(&self) -> u64;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::WebSocket {}
    impl Sealed for super::EventStream {}
}

impl Subscriber for WebSocket {
    type Item = Message;
    type Prepared = Message;

    fn prepare(item: Message) -> Message {
        item
    }

    fn deliver(&self, item: &Message) -> bool {
        // Message payloads are reference-counted: the clone copies no bytes.
        self.send(item.clone()).is_ok()
    }

    fn key(&self) -> u64 {
        self.id()
    }
}

impl Subscriber for EventStream {
    type Item = Event;
    type Prepared = Bytes;

    fn prepare(item: Event) -> Bytes {
        events::encode(&item)
    }

    fn deliver(&self, item: &Bytes) -> bool {
        self.send_encoded(item.clone()).is_ok()
    }

    fn key(&self) -> u64 {
        self.id()
    }
}

/// A set of live connections that receive the same messages: a chat room, a feed. Cheap to
/// clone (clones share the set). Sending queues the message on every subscriber (encoded
/// once, its bytes shared) and returns; workers write it, one short turn per connection.
/// Subscribers that are gone (closed, or too slow: see
/// [`WebSocketConfig::max_queued_bytes`](super::WebSocketConfig::max_queued_bytes)) leave
/// the topic on the next send.
///
/// ```
/// use switchyard::live::{Message, Topic, WebSocket, WebSocketSession};
/// use switchyard::{Request, Router};
///
/// struct Member(Topic<WebSocket>);
///
/// impl WebSocketSession for Member {
///     fn on_open(&mut self, ws: &WebSocket) {
///         self.0.subscribe(ws.clone());
///     }
///     fn on_message(&mut self, _ws: &WebSocket, message: Message) {
///         self.0.send(message);
///     }
///     fn on_close(&mut self, ws: &WebSocket, _frame: Option<switchyard::live::CloseFrame>) {
///         self.0.unsubscribe(ws);
///     }
/// }
///
/// let room = Topic::new();
/// let app = Router::new().websocket("/room", move |_req: &Request| Member(room.clone()));
/// ```
pub struct Topic<S: Subscriber> {
    subscribers: Arc<Mutex<Vec<S>>>,
}

impl<S: Subscriber> Clone for Topic<S> {
    fn clone(&self) -> Self {
        Self {
            subscribers: Arc::clone(&self.subscribers),
        }
    }
}

impl<S: Subscriber> Default for Topic<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Subscriber> std::fmt::Debug for Topic<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("subscribers", &self.len())
            .finish()
    }
}

impl<S: Subscriber> Topic<S> {
    /// An empty topic.
    pub fn new() -> Self {
        Self {
            subscribers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Adds a subscriber (once: adding it again does nothing).
    pub fn subscribe(&self, subscriber: S) {
        let mut subscribers = self.lock();
        if !subscribers.iter().any(|s| s.key() == subscriber.key()) {
            subscribers.push(subscriber);
        }
    }

    /// Removes a subscriber; returns whether it was there.
    pub fn unsubscribe(&self, subscriber: &S) -> bool {
        let mut subscribers = self.lock();
        let before = subscribers.len();
        subscribers.retain(|s| s.key() != subscriber.key());
        subscribers.len() != before
    }

    /// Sends `item` to every subscriber; returns how many it was queued for. Subscribers
    /// that are gone are removed.
    pub fn send(&self, item: S::Item) -> usize {
        let prepared = S::prepare(item);
        let mut subscribers = self.lock();
        subscribers.retain(|s| s.deliver(&prepared));
        subscribers.len()
    }

    /// How many subscribers there are.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Vec<S>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
