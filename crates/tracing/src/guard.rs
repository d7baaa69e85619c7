use std::sync::Arc;

use crate::{dispatch, DispatchConfig, Error, EventSink};

/// Runs the event dispatch for its lifetime: initialises it, and on drop flushes the partial
/// blocks and shuts it down.
#[must_use = "dropping the guard shuts the dispatch down at once"]
pub struct TracingSystemGuard {
    _private: (),
}

impl TracingSystemGuard {
    pub fn new(config: DispatchConfig, sink: Arc<dyn EventSink>) -> Result<Self, Error> {
        dispatch::init_event_dispatch(config, sink)?;
        Ok(TracingSystemGuard { _private: () })
    }
}

impl Drop for TracingSystemGuard {
    fn drop(&mut self) {
        dispatch::shutdown_dispatch();
    }
}

impl std::fmt::Debug for TracingSystemGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TracingSystemGuard")
    }
}
