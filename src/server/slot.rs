//! A connection's place in the server, shared by the poller (readiness, timers, shutdown)
//! and by the worker serving it, so that a worker parks a connection again without a trip
//! through the poller thread.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::Instant;

use super::connection::Connection;

/// One connection position. The poller owns the list of slots; each dispatched turn
/// carries an `Arc` to its own.
pub(super) type SlotRef = Arc<Mutex<Slot>>;

/// Where a connection is, and its timer.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) state: SlotState,
    /// Bumped whenever the slot is freed, so timers of an earlier connection are ignored.
    pub(super) generation: u64,
    /// When this connection's live timer fires. Timer entries for other times are stale,
    /// so each connection has one live timer at most.
    pub(super) timer_at: Option<Instant>,
}

#[derive(Debug)]
pub(super) enum SlotState {
    Free,
    /// Parked, waiting to become readable or to time out.
    Idle {
        connection: Connection,
        deadline: Instant,
        partial_head: bool,
    },
    /// On a worker (or queued for one). `readable` records readiness seen meanwhile, so
    /// the worker serves again instead of parking; `stream` lets a drain deadline cut it.
    Busy {
        readable: bool,
        stream: Arc<TcpStream>,
    },
}

impl Slot {
    pub(super) fn new_ref() -> SlotRef {
        Arc::new(Mutex::new(Slot {
            state: SlotState::Free,
            generation: 0,
            timer_at: None,
        }))
    }

    /// Frees the slot, returning the connection it held, if idle.
    pub(super) fn free(&mut self) -> Option<Connection> {
        self.generation += 1;
        self.timer_at = None;
        match std::mem::replace(&mut self.state, SlotState::Free) {
            SlotState::Idle { connection, .. } => Some(connection),
            SlotState::Busy { .. } | SlotState::Free => None,
        }
    }

    /// Shuts down the socket of a busy connection (the drain deadline); returns whether
    /// there was one.
    pub(super) fn cut_if_busy(&self) -> bool {
        match &self.state {
            SlotState::Busy { stream, .. } => {
                let _ = stream.shutdown(Shutdown::Both);
                true
            }
            SlotState::Idle { .. } | SlotState::Free => false,
        }
    }
}

/// Locks a slot. Turns run under `catch_unwind` and slot updates cannot panic halfway, so a
/// poisoned lock still holds consistent state.
pub(super) fn lock(slot: &SlotRef) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts and free positions, updated by the poller and by workers.
#[derive(Debug, Default)]
pub(super) struct Occupancy {
    /// Slots free for reuse.
    free: Mutex<Vec<usize>>,
    /// Connections open (idle or busy).
    open: AtomicUsize,
    /// Connections on a worker or queued for one.
    busy: AtomicUsize,
}

impl Occupancy {
    pub(super) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    pub(super) fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    pub(super) fn opened(&self) {
        self.open.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn became_busy(&self) {
        self.busy.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn became_idle(&self) {
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    /// Records that the connection of slot `token` is gone.
    pub(super) fn closed(&self, token: usize) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(token);
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    pub(super) fn take_free(&self) -> Option<usize> {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }
}

/// Every slot, by token. The poller adds slots (new connections beyond any freed one);
/// runners look slots up when they poll readiness themselves.
#[derive(Debug, Default)]
pub(super) struct SlotTable {
    slots: RwLock<Vec<SlotRef>>,
}

impl SlotTable {
    pub(super) fn get(&self, token: usize) -> Option<SlotRef> {
        self.read().get(token).cloned()
    }

    /// Adds a free slot and returns its token.
    pub(super) fn add(&self) -> usize {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        slots.push(Slot::new_ref());
        slots.len() - 1
    }

    /// Every slot with its token (a snapshot: slots added meanwhile are not visited).
    pub(super) fn snapshot(&self) -> Vec<SlotRef> {
        self.read().clone()
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<SlotRef>> {
        self.slots.read().unwrap_or_else(PoisonError::into_inner)
    }
}
