//! Graceful shutdown on SIGINT (Ctrl-C) and SIGTERM: feature `signal`, Unix only.
//!
//! The library installs no signal handler unless asked: a process has one set of handlers,
//! and it belongs to the application. [`shutdown_on_signals`] is the common choice for an
//! application whose only job is the server. On other platforms this module is empty.

#[cfg(unix)]
use std::{io, process, thread};

#[cfg(unix)]
use signal_hook::consts::{SIGINT, SIGTERM};
#[cfg(unix)]
use signal_hook::iterator::Signals;

#[cfg(unix)]
use crate::ShutdownHandle;

/// The exit status after a second signal: 128 + SIGINT, the shell's status for a program
/// stopped by Ctrl-C.
#[cfg(unix)]
const INSISTED_EXIT_STATUS: i32 = 130;

/// The name of the thread that waits for the signals.
#[cfg(unix)]
const SIGNAL_THREAD_NAME: &str = "switchyard-signals";

/// Shuts the server of `handle` down gracefully on the first SIGINT or SIGTERM, and exits
/// the process at once, with status 130, on a second one.
///
/// Installs handlers for both signals (replacing their default action, which would end the
/// process), and starts a thread, `switchyard-signals`, that waits for them for as long as
/// the process lives. The first signal calls [`ShutdownHandle::shutdown`]: the server stops
/// accepting and finishes the requests in flight, so `run` or `join` returns and the
/// application ends as it sees fit. A second signal means the user insists (a second
/// Ctrl-C while a slow request drains): the process exits at once with
/// [`std::process::exit`]`(130)`, without waiting for anything.
///
/// Unix only; call it once per process.
///
/// # Examples
///
/// ```no_run
/// use switchyard::{Request, Server};
///
/// let server = Server::builder()
///     .handler(|_: &Request| "hello")
///     .bind("127.0.0.1:0")?;
/// switchyard::signal::shutdown_on_signals(server.shutdown_handle())?;
/// server.run()?; // returns after Ctrl-C, once the requests in flight are done
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// When the handlers cannot be installed, or the thread cannot be started.
#[cfg(unix)]
pub fn shutdown_on_signals(handle: ShutdownHandle) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new()
        .name(SIGNAL_THREAD_NAME.to_owned())
        .spawn(move || {
            let mut received = signals.forever();
            if received.next().is_some() {
                handle.shutdown();
            }
            if received.next().is_some() {
                process::exit(INSISTED_EXIT_STATUS);
            }
        })?;
    Ok(())
}
