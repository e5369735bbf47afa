//! Graceful shutdown on SIGINT (Ctrl-C) and SIGTERM, shared by the examples. The library
//! installs no signal handler; an application chooses its own.

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
