//! The connection table: the one owner of every connection's place in the server. Slots,
//! the free list and the counters change only inside its methods, one method per
//! transition:
//!
//! ```text
//!            insert                 take_ready                   park
//!   (accept) ──────► Parked ───────────────────► Busy ──────────────────► Parked
//!                      │  ▲                       │  │ (ready meanwhile: stays Busy)
//!       expire,        │  └───────────────────────┘  │ close_busy; park while shutting
//!       close_idle,    ▼                             ▼ down with nothing in flight
//!       cut_in_flight, Free ◄────────────────────────┘
//!       remove_parked
//! ```
//!
//! Live connections (WebSocket, event streams) take the same path with their own
//! transitions: `park_live` parks one (or hands it back when a drain began that it has not
//! seen), `wake_live` makes it busy when something is sent to it, `expire` wakes it
//! (`Expired::Wake`) rather than closing it (so does a body's deadline: its 408 is
//! answered on a worker, through the route's middleware), and `take_live` hands every parked one over at
//! shutdown to say goodbye; `close_idle` and `cut_in_flight` leave them alone.
//!
//! A parked connection waits for its socket (see [`Wait`]) and costs no worker; a busy
//! one is on a worker or queued for one, and carries its [`SlotHandle`]. The poller and the
//! workers share the table.

use std::net::Shutdown;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::Instant;

use super::connection::Connection;
use super::outcome::Wait;
use crate::cancel::CallWatch;

/// A connection's position in the table, and its token in the readiness poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct SlotId(pub(super) usize);

/// A busy connection's slot, carried with it through the queue and its turn, so that
/// parking or closing it needs no look-up in the table.
#[derive(Debug, Clone)]
pub(super) struct SlotHandle {
    pub(super) id: SlotId,
    slot: Arc<SlotCell>,
}

impl SlotHandle {
    /// The watch over the requests of the slot's connection.
    pub(super) fn watch(&self) -> &Arc<CallWatch> {
        &self.slot.watch
    }

    /// The slot's generation: it changes when its connection is closed.
    pub(super) fn generation(&self) -> u64 {
        lock(&self.slot.slot).generation
    }

    /// A handle that does not keep the slot (and its connection) alive: for what the
    /// connection itself holds, which would otherwise keep itself alive.
    pub(super) fn downgrade(&self) -> WeakSlotHandle {
        WeakSlotHandle {
            id: self.id,
            slot: Arc::downgrade(&self.slot),
        }
    }

    /// A handle on a slot outside any table, for tests of what carries handles.
    #[cfg(test)]
    pub(super) fn detached(id: SlotId) -> Self {
        Self {
            id,
            slot: Arc::new(SlotCell::default()),
        }
    }
}

/// See [`SlotHandle::downgrade`].
#[derive(Debug, Clone)]
pub(super) struct WeakSlotHandle {
    id: SlotId,
    slot: std::sync::Weak<SlotCell>,
}

impl WeakSlotHandle {
    /// The handle, unless the table is gone.
    pub(super) fn upgrade(&self) -> Option<SlotHandle> {
        Some(SlotHandle {
            id: self.id,
            slot: self.slot.upgrade()?,
        })
    }
}

/// A timer the poller keeps for a parked connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Timer {
    pub(super) at: Instant,
    pub(super) id: SlotId,
    /// The slot's generation when the timer was set: a timer of an earlier connection in the
    /// same slot is stale.
    pub(super) generation: u64,
}

/// A slot and what its connections' requests share with others without its lock.
#[derive(Debug, Default)]
pub(super) struct SlotCell {
    slot: Mutex<Slot>,
    /// The watch over its connection's requests (`crate::cancel`), one per slot and reused
    /// by each connection it holds: no allocation per connection or request.
    watch: Arc<CallWatch>,
}

#[derive(Debug)]
struct Slot {
    state: SlotState,
    /// Bumped whenever the slot is freed.
    generation: u64,
    /// When this connection's live timer fires; timer entries for other times are stale,
    /// so each connection has one live timer at most.
    timer_at: Option<Instant>,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            state: SlotState::Free,
            generation: 0,
            timer_at: None,
        }
    }
}

#[derive(Debug)]
enum SlotState {
    Free,
    /// Waiting for its socket, or for `until`.
    Parked {
        connection: Connection,
        wait_for: Wait,
        until: Instant,
    },
    /// On a worker or queued for one. `readable` records readiness seen meanwhile, so the
    /// worker serves again instead of parking; `stream` lets the drain deadline cut it.
    Busy {
        readable: bool,
        stream: Arc<TcpStream>,
    },
}

/// What `park` did with a connection.
#[derive(Debug)]
pub(super) enum Parked {
    /// Parked; the poller must arm this timer (`None`: a live timer fires earlier).
    Waiting(Option<Timer>),
    /// Its socket became ready during the turn: it stays busy and is handed back.
    ReadyAgain(Connection),
    /// The server is shutting down and nothing is in flight: closed.
    Closed,
}

/// What a timer found.
#[derive(Debug)]
pub(super) enum Expired {
    /// The connection's deadline passed: it is removed and handed over to be closed.
    Due(Connection, Wait),
    /// The deadline moved later: arm this timer instead.
    Later(Timer),
    /// A live connection's timer (a ping, a keep-alive, a close timeout): it is busy now,
    /// to be queued for a turn.
    Wake(SlotHandle, Connection),
    /// Nothing to do (an old timer, or the connection is busy).
    Stale,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct ConnectionTable {
    slots: RwLock<Vec<Arc<SlotCell>>>,
    free: Mutex<Vec<SlotId>>,
    /// Connections in the table (parked or busy).
    open: AtomicUsize,
    /// Connections with a request in flight: busy ones, and parked ones in the middle of a
    /// request (gathering a body, or owing output). One counter, so that a reader never
    /// sees a connection between two counts.
    in_flight: AtomicUsize,
    /// Parked connections, by what they wait for (`Wait::index`).
    parked: [AtomicUsize; Wait::COUNT],
}

impl ConnectionTable {
    /// Parked connections waiting for `wait_for`.
    pub(super) fn parked(&self, wait_for: Wait) -> usize {
        self.parked[wait_for.index()].load(Ordering::Acquire)
    }

    pub(super) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Connections with a request in flight: busy, or parked mid-request.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Adds a new connection, parked until its first request (or `until`). The caller
    /// registers its socket for readiness afterwards, and arms the returned timer.
    pub(super) fn insert(&self, connection: Connection, until: Instant) -> (SlotId, Timer) {
        let id = self.take_free().unwrap_or_else(|| {
            let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
            slots.push(Arc::new(SlotCell::default()));
            SlotId(slots.len() - 1)
        });
        let cell = self.slot(id).expect("a slot just taken or added");
        cell.watch.new_connection();
        let mut slot = lock(&cell.slot);
        debug_assert!(matches!(slot.state, SlotState::Free));
        slot.state = SlotState::Parked {
            connection,
            wait_for: Wait::NextRequest,
            until,
        };
        slot.timer_at = Some(until);
        self.open.fetch_add(1, Ordering::AcqRel);
        self.parked[Wait::NextRequest.index()].fetch_add(1, Ordering::AcqRel);
        let timer = Timer {
            at: until,
            id,
            generation: slot.generation,
        };
        (id, timer)
    }

    /// Takes a connection whose socket became ready: a parked one becomes busy and is
    /// returned, to be queued; a busy one is marked, so its worker serves it again.
    ///
    /// `hung_up`: the client closed its side of the connection (or the socket failed).
    /// Seen while the connection is busy (its request queued or in flight), it cancels the
    /// request: nobody will read the answer. Seen as a parked connection becomes ready, it
    /// does not: the request may have come with the close (a client that half-closes
    /// after sending), and is served; the connection notes it (`client_closed`) so that
    /// its turn reads on to the end. (Tokens carry no generation: a hang-up of a closed
    /// connection still unread in another thread's batch when a new one took its slot and
    /// became busy would cancel the new one's request. The window is microseconds wide,
    /// and the cost one request's connection closed unanswered.)
    pub(super) fn take_ready(&self, id: SlotId, hung_up: bool) -> Option<(SlotHandle, Connection)> {
        let handle = SlotHandle {
            id,
            slot: self.slot(id)?,
        };
        let mut slot = lock(&handle.slot.slot);
        match &mut slot.state {
            SlotState::Busy { readable, .. } => {
                *readable = true;
                if hung_up {
                    handle.slot.watch.hang_up();
                }
                None
            }
            SlotState::Free => None,
            SlotState::Parked { .. } => {
                let mut connection = self.make_busy(&mut slot);
                drop(slot);
                connection.client_closed |= hung_up;
                Some((handle, connection))
            }
        }
    }

    /// A parked connection becomes busy; returns it.
    fn make_busy(&self, slot: &mut Slot) -> Connection {
        let SlotState::Parked { connection, .. } = &slot.state else {
            unreachable!("make_busy on a connection that is not parked");
        };
        let stream = Arc::clone(&connection.socket);
        let SlotState::Parked {
            connection,
            wait_for,
            ..
        } = std::mem::replace(
            &mut slot.state,
            SlotState::Busy {
                readable: false,
                stream,
            },
        )
        else {
            unreachable!("matched Parked above");
        };
        if !wait_for.is_in_flight() {
            self.in_flight.fetch_add(1, Ordering::AcqRel);
        }
        decrement(&self.parked[wait_for.index()]);
        connection
    }

    /// Wakes a live connection that something was sent to: a parked one becomes busy and
    /// is returned, to be queued; a busy one is marked, so its worker serves it again.
    /// Nothing when the connection (`generation`) is gone.
    pub(super) fn wake_live(&self, handle: &SlotHandle, generation: u64) -> Option<Connection> {
        let mut slot = lock(&handle.slot.slot);
        if slot.generation != generation {
            return None;
        }
        match &mut slot.state {
            SlotState::Busy { readable, .. } => {
                *readable = true;
                None
            }
            SlotState::Parked { wait_for, .. } if wait_for.is_live() => {
                Some(self.make_busy(&mut slot))
            }
            SlotState::Parked { .. } | SlotState::Free => None,
        }
    }

    /// Parks a live connection after its turn, like `park`; but if the server is
    /// `draining` and the connection has not been `told` yet, it stays busy and is handed
    /// back to say goodbye. `draining` is read under the slot lock, so a drain that began
    /// during the turn either finds the connection parked (`take_live`) or is seen here.
    pub(super) fn park_live(
        &self,
        handle: &SlotHandle,
        connection: Connection,
        wait_for: Wait,
        until: Instant,
        draining: &AtomicBool,
        told: bool,
    ) -> Parked {
        let mut slot = lock(&handle.slot.slot);
        if !told && draining.load(Ordering::Acquire) {
            return Parked::ReadyAgain(connection);
        }
        self.park_locked(&mut slot, handle, connection, wait_for, until, false)
    }

    /// Takes every parked live connection (shutdown: each needs a turn to say goodbye).
    pub(super) fn take_live(&self) -> Vec<(SlotHandle, Connection)> {
        let mut taken = Vec::new();
        for (index, slot_arc) in self.snapshot().into_iter().enumerate() {
            let mut slot = lock(&slot_arc.slot);
            if matches!(&slot.state, SlotState::Parked { wait_for, .. } if wait_for.is_live()) {
                let connection = self.make_busy(&mut slot);
                drop(slot);
                let handle = SlotHandle {
                    id: SlotId(index),
                    slot: slot_arc,
                };
                taken.push((handle, connection));
            }
        }
        taken
    }

    /// Parks a busy connection after its turn, unless its socket became ready meanwhile.
    /// While `shutting_down`, a connection with nothing in flight is closed instead.
    pub(super) fn park(
        &self,
        handle: &SlotHandle,
        connection: Connection,
        wait_for: Wait,
        until: Instant,
        shutting_down: bool,
    ) -> Parked {
        let mut slot = lock(&handle.slot.slot);
        self.park_locked(
            &mut slot,
            handle,
            connection,
            wait_for,
            until,
            shutting_down,
        )
    }

    fn park_locked(
        &self,
        slot: &mut Slot,
        handle: &SlotHandle,
        connection: Connection,
        wait_for: Wait,
        until: Instant,
        shutting_down: bool,
    ) -> Parked {
        let SlotState::Busy { readable, .. } = &mut slot.state else {
            debug_assert!(false, "parking a connection that is not busy");
            return Parked::Closed;
        };
        if shutting_down && !wait_for.is_in_flight() {
            drop(connection);
            self.free_busy(slot, handle);
            return Parked::Closed;
        }
        if std::mem::take(readable) {
            return Parked::ReadyAgain(connection);
        }
        slot.state = SlotState::Parked {
            connection,
            wait_for,
            until,
        };
        if !wait_for.is_in_flight() {
            decrement(&self.in_flight);
        }
        self.parked[wait_for.index()].fetch_add(1, Ordering::AcqRel);
        // A later deadline reuses the live timer (re-armed when it fires); an earlier one,
        // or none armed, needs a new one.
        let timer = if slot.timer_at.is_none_or(|at| until < at) {
            slot.timer_at = Some(until);
            Some(Timer {
                at: until,
                id: handle.id,
                generation: slot.generation,
            })
        } else {
            None
        };
        Parked::Waiting(timer)
    }

    /// Frees the slot of a busy connection that is gone (its socket already dropped).
    pub(super) fn close_busy(&self, handle: &SlotHandle) {
        let mut slot = lock(&handle.slot.slot);
        // Only a busy connection is closed here (a turn dropped after it parked its
        // connection, while unwinding from a bug, must not free it twice).
        if matches!(slot.state, SlotState::Busy { .. }) {
            self.free_busy(&mut slot, handle);
        }
    }

    /// Removes a parked connection whose socket could not be registered.
    pub(super) fn remove_parked(&self, id: SlotId) -> Option<Connection> {
        let cell = self.slot(id)?;
        let mut slot = lock(&cell.slot);
        self.free_parked(&mut slot, &cell.watch, id)
            .map(|(connection, _)| connection)
    }

    /// Handles a timer: a parked connection whose deadline has passed is removed.
    pub(super) fn expire(&self, timer: Timer, now: Instant) -> Expired {
        let Some(slot_arc) = self.slot(timer.id) else {
            return Expired::Stale;
        };
        let mut slot = lock(&slot_arc.slot);
        if slot.generation != timer.generation || slot.timer_at != Some(timer.at) {
            return Expired::Stale;
        }
        slot.timer_at = None;
        let SlotState::Parked { until, .. } = &slot.state else {
            // A busy connection gets a timer again when it parks.
            return Expired::Stale;
        };
        if *until > now {
            let later = Timer {
                at: *until,
                ..timer
            };
            slot.timer_at = Some(later.at);
            return Expired::Later(later);
        }
        if matches!(&slot.state, SlotState::Parked { wait_for, .. } if wait_for.takes_a_turn_when_due())
        {
            let connection = self.make_busy(&mut slot);
            drop(slot);
            let handle = SlotHandle {
                id: timer.id,
                slot: slot_arc,
            };
            return Expired::Wake(handle, connection);
        }
        match self.free_parked(&mut slot, &slot_arc.watch, timer.id) {
            Some((connection, wait_for)) => Expired::Due(connection, wait_for),
            None => Expired::Stale,
        }
    }

    /// Closes every parked connection with nothing in flight (shutdown), live ones
    /// excepted (they say goodbye first: `take_live`); returns how many.
    pub(super) fn close_idle(&self) -> usize {
        let mut closed = 0;
        for (index, cell) in self.snapshot().iter().enumerate() {
            let mut slot = lock(&cell.slot);
            let idle = matches!(&slot.state, SlotState::Parked { wait_for, .. }
                if !wait_for.is_in_flight() && !wait_for.is_live());
            if idle {
                drop(self.free_parked(&mut slot, &cell.watch, SlotId(index)));
                closed += 1;
            }
        }
        closed
    }

    /// At the drain deadline: shuts down the sockets of busy connections (their workers'
    /// reads and writes fail, and they close them), and closes parked ones still mid-request.
    /// Returns how many requests were cut.
    pub(super) fn cut_in_flight(&self) -> usize {
        let mut cut = 0;
        for (index, cell) in self.snapshot().iter().enumerate() {
            let mut slot = lock(&cell.slot);
            match &slot.state {
                SlotState::Busy { stream, .. } => {
                    let _ = stream.shutdown(Shutdown::Both);
                    cut += 1;
                }
                SlotState::Parked {
                    wait_for,
                    connection,
                    ..
                } if wait_for.is_in_flight() || connection.has_requests_in_flight() => {
                    drop(self.free_parked(&mut slot, &cell.watch, SlotId(index)));
                    cut += 1;
                }
                SlotState::Parked { .. } | SlotState::Free => {}
            }
        }
        cut
    }

    fn free_busy(&self, slot: &mut Slot, handle: &SlotHandle) {
        slot.state = SlotState::Free;
        self.freed(slot, &handle.slot.watch, handle.id);
        decrement(&self.in_flight);
    }

    fn free_parked(
        &self,
        slot: &mut Slot,
        watch: &CallWatch,
        id: SlotId,
    ) -> Option<(Connection, Wait)> {
        let SlotState::Parked {
            connection,
            wait_for,
            ..
        } = std::mem::replace(&mut slot.state, SlotState::Free)
        else {
            return None;
        };
        self.freed(slot, watch, id);
        if wait_for.is_in_flight() {
            decrement(&self.in_flight);
        }
        decrement(&self.parked[wait_for.index()]);
        Some((connection, wait_for))
    }

    fn freed(&self, slot: &mut Slot, watch: &CallWatch, id: SlotId) {
        slot.generation += 1;
        watch.connection_closed();
        slot.timer_at = None;
        decrement(&self.open);
        lock(&self.free).push(id);
    }

    fn take_free(&self) -> Option<SlotId> {
        lock(&self.free).pop()
    }

    fn slot(&self, id: SlotId) -> Option<Arc<SlotCell>> {
        self.read().get(id.0).cloned()
    }

    /// Every slot (slots added meanwhile are not visited).
    fn snapshot(&self) -> Vec<Arc<SlotCell>> {
        self.read().clone()
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<Arc<SlotCell>>> {
        self.slots.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counters only go down after they went up; a decrement below zero is a bug, caught in
/// debug builds and clamped in release ones (a wrapped counter would stall the poller).
fn decrement(counter: &AtomicUsize) {
    let previous = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    debug_assert!(previous.is_ok(), "connection counter below zero");
}

/// Locks a mutex. Turns run under `catch_unwind` and table updates cannot panic halfway, so
/// a poisoned lock still holds consistent state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::*;

    fn connection() -> (TcpStream, Connection) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        (client, Connection::new(server, peer))
    }

    fn counts(table: &ConnectionTable) -> (usize, usize) {
        (table.open(), table.in_flight())
    }

    #[test]
    fn insert_parks_a_new_connection_with_a_timer() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let until = Instant::now();
        let (id, timer) = table.insert(conn, until);
        assert_eq!((timer.id, timer.at), (id, until));
        assert_eq!(counts(&table), (1, 0));
    }

    #[test]
    fn take_ready_makes_a_parked_connection_busy_once() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let (id, _) = table.insert(conn, Instant::now());
        assert!(table.take_ready(id, false).is_some());
        assert_eq!(counts(&table), (1, 1));
        // Ready again while busy: marked, not taken twice.
        assert!(table.take_ready(id, false).is_none());
        assert_eq!(counts(&table), (1, 1));
    }

    #[test]
    fn park_hands_back_a_connection_that_became_ready_meanwhile() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let (id, _) = table.insert(conn, Instant::now());
        let (handle, conn) = table.take_ready(id, false).unwrap();
        assert!(table.take_ready(id, false).is_none());
        let until = Instant::now();
        let Parked::ReadyAgain(conn) = table.park(&handle, conn, Wait::NextRequest, until, false)
        else {
            panic!("parked a connection that was ready");
        };
        assert_eq!(counts(&table), (1, 1));
        assert!(matches!(
            table.park(&handle, conn, Wait::NextRequest, until, false),
            Parked::Waiting(_)
        ));
        assert_eq!(counts(&table), (1, 0));
    }

    #[test]
    fn park_mid_request_counts_as_in_flight() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let start = Instant::now();
        let (id, _) = table.insert(conn, start + Duration::from_secs(60));
        let (handle, conn) = table.take_ready(id, false).unwrap();
        // An earlier deadline than the live timer needs a new timer.
        let Parked::Waiting(Some(timer)) = table.park(
            &handle,
            conn,
            Wait::Writable,
            start + Duration::from_secs(1),
            false,
        ) else {
            panic!("not parked with a new timer");
        };
        assert_eq!(timer.at, start + Duration::from_secs(1));
        assert_eq!(counts(&table), (1, 1));
        // Idle connections are closed at shutdown; this one is mid-response.
        assert_eq!(table.close_idle(), 0);
        let (handle, conn) = table.take_ready(id, false).unwrap();
        assert_eq!(counts(&table), (1, 1));
        // A later deadline reuses the live timer.
        assert!(matches!(
            table.park(
                &handle,
                conn,
                Wait::Body,
                start + Duration::from_secs(2),
                false
            ),
            Parked::Waiting(None)
        ));
    }

    #[test]
    fn park_while_shutting_down_closes_an_idle_connection() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let (id, _) = table.insert(conn, Instant::now());
        let (handle, conn) = table.take_ready(id, false).unwrap();
        assert!(matches!(
            table.park(&handle, conn, Wait::NextRequest, Instant::now(), true),
            Parked::Closed
        ));
        assert_eq!(counts(&table), (0, 0));
    }

    #[test]
    fn close_busy_frees_the_slot_for_reuse() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let (id, _) = table.insert(conn, Instant::now());
        let (handle, conn) = table.take_ready(id, false).unwrap();
        drop(conn);
        table.close_busy(&handle);
        assert_eq!(counts(&table), (0, 0));
        let (_client2, conn2) = connection();
        assert_eq!(table.insert(conn2, Instant::now()).0, id);
    }

    #[test]
    fn expire_removes_a_due_connection_and_ignores_stale_timers() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let start = Instant::now();
        let (id, timer) = table.insert(conn, start);
        let Expired::Due(_, Wait::NextRequest) = table.expire(timer, start) else {
            panic!("not expired");
        };
        assert_eq!(counts(&table), (0, 0));
        // The same timer again, or for the slot's next connection, is stale.
        assert!(matches!(table.expire(timer, start), Expired::Stale));
        let (_client2, conn2) = connection();
        let (id2, _) = table.insert(conn2, start + Duration::from_secs(5));
        assert_eq!(id2, id);
        assert!(matches!(table.expire(timer, start), Expired::Stale));
    }

    #[test]
    fn expire_rearms_a_deadline_that_moved_later() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let start = Instant::now();
        let (id, timer) = table.insert(conn, start + Duration::from_secs(1));
        let (handle, conn) = table.take_ready(id, false).unwrap();
        // Parked again with a later deadline: the live timer stays, and moves on expiry.
        let later = start + Duration::from_secs(9);
        table.park(&handle, conn, Wait::NextRequest, later, false);
        let Expired::Later(next) = table.expire(timer, start + Duration::from_secs(1)) else {
            panic!("not re-armed");
        };
        assert_eq!(next.at, later);
        assert_eq!(counts(&table), (1, 0));
    }

    #[test]
    fn cut_in_flight_cuts_busy_and_mid_request_connections_only() {
        let table = ConnectionTable::default();
        let now = Instant::now();
        let mut clients = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let (client, conn) = connection();
            clients.push(client);
            ids.push(table.insert(conn, now).0);
        }
        let (busy_handle, busy) = table.take_ready(ids[0], false).unwrap();
        let (mid_handle, mid) = table.take_ready(ids[1], false).unwrap();
        table.park(&mid_handle, mid, Wait::Body, now, false);
        assert_eq!(table.cut_in_flight(), 2);
        assert_eq!(counts(&table), (2, 1));
        drop(busy);
        table.close_busy(&busy_handle);
        assert_eq!(table.close_idle(), 1);
        assert_eq!(counts(&table), (0, 0));
    }

    /// A body's deadline gives its connection a turn (its 408 goes through the route's
    /// middleware on a worker); a shutdown's goodbye round takes live connections only.
    #[test]
    fn a_due_body_wakes_its_connection_and_shutdown_takes_only_live_ones() {
        let table = ConnectionTable::default();
        let (_client, conn) = connection();
        let start = Instant::now();
        let (id, timer) = table.insert(conn, start);
        let (handle, conn) = table.take_ready(id, false).unwrap();
        // Parked mid-body with the same deadline: the timer armed at insert stands.
        let parked = table.park(&handle, conn, Wait::Body, start, false);
        assert!(matches!(parked, Parked::Waiting(None)), "{parked:?}");
        assert!(table.take_live().is_empty(), "took a connection mid-body");
        let Expired::Wake(_, _conn) = table.expire(timer, start) else {
            panic!("a due body did not get a turn");
        };
        assert_eq!(counts(&table), (1, 1));
    }
}
