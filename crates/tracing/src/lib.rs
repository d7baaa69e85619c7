//! Logs, metrics and spans for code that runs natively and in the browser.
//!
//! Instrumented code uses the macros ([`info!`], [`imetric!`], [`span_scope!`], ...) and
//! [`InstrumentFuture::instrument`]; whoever owns the process installs an [`EventSink`] with
//! [`dispatch::init_event_dispatch`] (or a [`TracingSystemGuard`], or the builder of the
//! `qe-telemetry-sink` crate).
//!
//! * **Native**: every event is timestamped and buffered into per-thread streams of blocks
//!   (logs, metrics, spans); a full block is handed to the sink, and [`dispatch::flush`] (called
//!   by [`dispatch::shutdown_dispatch`]) hands over the partial ones. Logs also reach
//!   [`EventSink::on_log`] as they happen.
//! * **wasm32**: logs go straight to [`EventSink::on_log`]; spans and metrics are dropped (async
//!   span ids still increment). The block, stream and property types are uninhabited stubs, so
//!   the [`EventSink`] trait has one signature on both targets. Time comes from the JS clock.
//!
//! Levels are filtered before anything is formatted: see [`levels`].

// The only target switch of the crate: everything else is shared.
#[cfg_attr(target_arch = "wasm32", path = "platform/wasm/mod.rs")]
#[cfg_attr(not(target_arch = "wasm32"), path = "platform/native/mod.rs")]
mod platform;

mod config;
mod errors;
mod guard;
pub mod levels;
pub mod logs;
mod macros;
pub mod metrics;
pub mod process_info;
pub mod sink;
pub mod spans;

// `blocks`, `dispatch` and `time` on both targets (same public items); natively also `runtime`
// with the `tokio` feature.
pub use platform::*;

pub use config::DispatchConfig;
pub use errors::Error;
pub use guard::TracingSystemGuard;
pub use levels::{Level, LevelFilter};
pub use sink::{EventSink, NullEventSink};
pub use spans::{InstrumentFuture, Instrumented};

/// A tag on a log or metric event: a static key and anything printable. Natively the value is
/// formatted into a [`blocks::Property`]; on wasm32 tags are dropped unformatted.
pub type Tag<'a> = (&'static str, &'a dyn core::fmt::Display);

/// Everything instrumented code needs: `use qe_tracing::prelude::*;`.
pub mod prelude {
    pub use crate::levels::{Level, LevelFilter};
    pub use crate::sink::EventSink;
    pub use crate::spans::InstrumentFuture;
    pub use crate::{debug, error, fmetric, imetric, info, log, span_scope, span_scope_named, trace, warn};
}
