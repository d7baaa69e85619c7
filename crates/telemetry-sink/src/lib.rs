//! Sets up [`qe_tracing`] for a process or a page.
//!
//! * **Native**: [`TelemetryGuardBuilder`] installs the dispatch with a [`LocalEventSink`] (log
//!   lines on stderr), any extra sinks (an [`InMemorySink`] in tests) and a level filter; the
//!   [`TelemetryGuard`] it returns flushes and shuts down when dropped. No network transport.
//! * **wasm32**: `ConsoleEventSink` prints `"[LEVEL] message"` to the browser console, and
//!   [`init_telemetry`] installs it once.
//!
//! [`init_telemetry`] exists on both targets (natively: stderr, for the process lifetime), so
//! code built for both needs no `cfg` to set up logging.

mod error;
mod format;

// The only target switch of the crate.
#[cfg_attr(target_arch = "wasm32", path = "wasm/mod.rs")]
#[cfg_attr(not(target_arch = "wasm32"), path = "native/mod.rs")]
mod platform;

pub use error::Error;
pub use format::{format_console_line, format_local_line, format_timestamp_us};
pub use platform::*;
pub use qe_tracing;

/// Environment variable read by the native [`init_telemetry`] for a filter such as
/// `"info,datafusion_wasm=debug"`.
pub const FILTER_ENV_VAR: &str = "QE_LOG";
