//! A request head as the engine hands it to the app: its header fields and its usual
//! `/path?query` target kept as the bytes that arrived ([`RawHead`], parsed into an
//! `http::HeaderMap` or an `http::Uri` only when a handler asks),
//! and the per-thread memory heads and header maps are recycled from (`recycle`).
//!
//! A leaf: requests and routers are built from it without the wire (`Router::handle`, the
//! in-process test client), and the HTTP/1.1 engine produces it.

mod raw_head;
mod recycle;

pub(crate) use raw_head::{RawHead, SharedTarget, TargetRef, keep_target};
pub(crate) use recycle::{copy_head, give_back, header_map};
