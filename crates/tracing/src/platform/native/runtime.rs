//! Tokio integration (feature `tokio`, native only): instrumented tasks, and worker threads that
//! hand over their partial blocks when they stop.

use std::future::Future;
use std::sync::Arc;

use crate::spans::InstrumentFuture;

/// `tokio::spawn(future.instrument(name))`: the task runs in an async span named `name`.
#[track_caller]
pub fn spawn_instrumented<F>(name: impl Into<Arc<str>>, future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.instrument(name))
}

/// Runtime builders whose worker threads flush their streams when they stop.
pub trait TracingRuntimeExt {
    /// Adds an `on_thread_stop` hook that calls [`crate::dispatch::flush_thread`], so a
    /// runtime's events reach the sink when the runtime shuts down rather than when the
    /// dispatch does.
    fn with_tracing_flush(&mut self) -> &mut Self;
}

impl TracingRuntimeExt for tokio::runtime::Builder {
    fn with_tracing_flush(&mut self) -> &mut Self {
        self.on_thread_stop(crate::dispatch::flush_thread)
    }
}
