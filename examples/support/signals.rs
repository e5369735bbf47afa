//! Graceful shutdown on SIGINT (Ctrl-C) and SIGTERM, shared by the examples. The library
//! installs no signal handler; an application chooses its own.
//!
//! With the `signal` feature, `switchyard::signal::shutdown_on_signals` does this too (and
//! exits at once on a second signal). The examples keep their own copy so that they build
//! with no feature flags (`cargo run --example hello`, and `tests/reference.rs`, which
//! includes `reference.rs`).

use switchyard::ShutdownHandle;

/// Starts a thread that calls `handle.shutdown()` on the first SIGINT or SIGTERM.
pub(crate) fn shutdown_on_signals(handle: ShutdownHandle) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            if signals.forever().next().is_some() {
                handle.shutdown();
            }
        })?;
    Ok(())
}
