//! What the server tells the operator, through the `log` facade (feature `log`; `tracing`
//! subscribers ingest it too). Without the feature these macros compile to nothing, and
//! the library writes nothing anywhere.
//!
//! Levels: `error` for bugs in the application the operator must see (a handler panic, a
//! response that cannot be built); `warn` for trouble worth knowing (out of file
//! descriptors at accept); `info` for the server's life (listening, shutdown summary);
//! `debug` for requests the server refused. Target: `switchyard`.

macro_rules! log_at {
    ($level:ident, $($arg:tt)+) => {{
        #[cfg(feature = "log")]
        {
            ::log::$level!(target: "switchyard", $($arg)+);
        }
        #[cfg(not(feature = "log"))]
        {
            // Type-checks the arguments (and uses them) without formatting anything.
            let _ = format_args!($($arg)+);
        }
    }};
}

macro_rules! log_error {
    ($($arg:tt)+) => { $crate::logging::log_at!(error, $($arg)+) };
}

macro_rules! log_warn {
    ($($arg:tt)+) => { $crate::logging::log_at!(warn, $($arg)+) };
}

macro_rules! log_info {
    ($($arg:tt)+) => { $crate::logging::log_at!(info, $($arg)+) };
}

macro_rules! log_debug {
    ($($arg:tt)+) => { $crate::logging::log_at!(debug, $($arg)+) };
}

pub(crate) use {log_at, log_debug, log_error, log_info, log_warn};
