//! The wasm32 dispatch: the same functions as natively. Logs go straight to the sink's `on_log`;
//! metrics and spans are dropped (async span ids still increment, instrumented futures need
//! them); there are no streams, so flushing does nothing.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::time;
use crate::logs::LogDesc;
use crate::metrics::MetricDesc;
use crate::process_info::{self, ProcessInfo};
use crate::spans::{SpanDesc, SpanLocation};
use crate::{DispatchConfig, Error, EventSink, Tag};

struct Dispatch {
    sink: Arc<dyn EventSink>,
    config: DispatchConfig,
    process_info: Arc<ProcessInfo>,
}

static DISPATCH: RwLock<Option<Arc<Dispatch>>> = RwLock::new(None);
static NEXT_ASYNC_SPAN_ID: AtomicU64 = AtomicU64::new(1);

fn current() -> Option<Arc<Dispatch>> {
    DISPATCH.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

/// Starts forwarding logs to `sink` (which receives `on_startup` first). The block sizes of
/// `config` are checked but unused.
pub fn init_event_dispatch(config: DispatchConfig, sink: Arc<dyn EventSink>) -> Result<(), Error> {
    config.validate()?;
    let mut info = ProcessInfo::clone(&process_info::process_info());
    info.properties.extend(config.properties.iter().map(|(k, v)| (k.clone(), v.clone())));
    let info = Arc::new(info);
    {
        let mut slot = DISPATCH.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_some() {
            return Err(Error::AlreadyInitialized);
        }
        *slot = Some(Arc::new(Dispatch { sink: sink.clone(), config, process_info: info.clone() }));
    }
    sink.on_startup(info);
    Ok(())
}

/// Calls the sink's `on_shutdown` and stops forwarding.
pub fn shutdown_dispatch() {
    let dispatch = DISPATCH.write().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    if let Some(dispatch) = dispatch {
        dispatch.sink.on_shutdown();
    }
}

pub fn is_initialized() -> bool {
    current().is_some()
}

pub fn sink() -> Option<Arc<dyn EventSink>> {
    current().map(|d| d.sink.clone())
}

pub fn process_info() -> Option<Arc<ProcessInfo>> {
    current().map(|d| d.process_info.clone())
}

pub fn config() -> Option<DispatchConfig> {
    current().map(|d| d.config.clone())
}

/// Nothing is buffered on wasm32.
pub fn flush() {}

/// Nothing is buffered on wasm32.
pub fn flush_thread() {}

pub fn log_enabled(desc: &'static LogDesc) -> bool {
    match current() {
        Some(dispatch) => desc.enabled() && dispatch.sink.on_log_enabled(desc),
        None => false,
    }
}

/// Forwards to the sink's `on_log`; tags are dropped (there is no `Property` on wasm32).
pub fn log(desc: &'static LogDesc, _tags: &[Tag<'_>], args: fmt::Arguments<'_>) {
    let Some(dispatch) = current() else { return };
    if desc.enabled() {
        dispatch.sink.on_log(desc, &[], time::now(), args);
    }
}

pub fn int_metric(_desc: &'static MetricDesc, _tags: &[Tag<'_>], _value: u64) {}

pub fn float_metric(_desc: &'static MetricDesc, _tags: &[Tag<'_>], _value: f64) {}

pub fn on_begin_scope(_desc: &'static SpanDesc) {}

pub fn on_end_scope(_desc: &'static SpanDesc) {}

pub fn on_begin_named_scope(_location: &'static SpanLocation, _name: &Arc<str>) {}

pub fn on_end_named_scope(_location: &'static SpanLocation, _name: &Arc<str>) {}

/// Returns a new span id; the span itself is dropped.
pub fn on_begin_async_scope(_name: &Arc<str>, _parent_span_id: u64, _location: &'static Location<'static>) -> u64 {
    NEXT_ASYNC_SPAN_ID.fetch_add(1, Ordering::Relaxed)
}

pub fn on_end_async_scope(
    _span_id: u64,
    _parent_span_id: u64,
    _name: &Arc<str>,
    _location: &'static Location<'static>,
) {
}
