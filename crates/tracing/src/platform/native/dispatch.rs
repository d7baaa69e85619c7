//! The native dispatch: each thread buffers its events into its own log, metrics and thread
//! streams; a full block goes to the sink at once, partial blocks on [`flush`] (which
//! [`shutdown_dispatch`] calls) or when the thread exits.
//!
//! The sink is never called with a lock held, so a sink may itself log.

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

use super::blocks::{
    LogBlock, LogEvent, LogStream, MetricEvent, MetricsBlock, MetricsStream, Property, StreamKind, ThreadBlock,
    ThreadEvent, ThreadStream,
};
use super::time;
use crate::logs::LogDesc;
use crate::metrics::{MetricDesc, MetricValue};
use crate::process_info::{self, ProcessInfo};
use crate::spans::{SpanDesc, SpanLocation};
use crate::{DispatchConfig, Error, EventSink, Tag};

struct Dispatch {
    generation: u64,
    active: AtomicBool,
    sink: Arc<dyn EventSink>,
    config: DispatchConfig,
    process_info: Arc<ProcessInfo>,
    next_stream_id: AtomicU64,
    threads: Mutex<Vec<Arc<Mutex<ThreadStreams>>>>,
}

/// One thread's three streams.
struct ThreadStreams {
    log: LogStream,
    metrics: MetricsStream,
    thread: ThreadStream,
}

impl ThreadStreams {
    fn empty_copy(&self) -> ThreadStreams {
        ThreadStreams {
            log: self.log.empty_copy(),
            metrics: self.metrics.empty_copy(),
            thread: self.thread.empty_copy(),
        }
    }
}

/// Blocks taken out of a thread's streams, to hand over once its lock is released.
#[derive(Default)]
struct Handover {
    log: Option<LogBlock>,
    metrics: Option<MetricsBlock>,
    thread: Option<ThreadBlock>,
}

static DISPATCH: RwLock<Option<Arc<Dispatch>>> = RwLock::new(None);
/// Lets events skip the lock entirely when no dispatch runs.
static INITIALIZED: AtomicBool = AtomicBool::new(false);
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);
static NEXT_ASYNC_SPAN_ID: AtomicU64 = AtomicU64::new(1);

fn current() -> Option<Arc<Dispatch>> {
    if !INITIALIZED.load(Ordering::Acquire) {
        return None;
    }
    DISPATCH.read().clone()
}

/// Starts dispatching events to `sink` (which receives `on_startup` first).
pub fn init_event_dispatch(config: DispatchConfig, sink: Arc<dyn EventSink>) -> Result<(), Error> {
    config.validate()?;
    let mut info = ProcessInfo::clone(&process_info::process_info());
    info.properties.extend(config.properties.iter().map(|(k, v)| (k.clone(), v.clone())));
    let info = Arc::new(info);
    let dispatch = Arc::new(Dispatch {
        generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        active: AtomicBool::new(true),
        sink: sink.clone(),
        config,
        process_info: info.clone(),
        next_stream_id: AtomicU64::new(1),
        threads: Mutex::new(Vec::new()),
    });
    {
        let mut slot = DISPATCH.write();
        if slot.is_some() {
            return Err(Error::AlreadyInitialized);
        }
        *slot = Some(dispatch);
    }
    // Before events flow: the flag below is what lets them through.
    sink.on_startup(info);
    INITIALIZED.store(true, Ordering::Release);
    Ok(())
}

/// Hands every thread's partial blocks to the sink, then calls `on_shutdown`. Events emitted
/// concurrently with the shutdown may be lost. Does nothing if no dispatch runs.
pub fn shutdown_dispatch() {
    let dispatch = {
        let mut slot = DISPATCH.write();
        INITIALIZED.store(false, Ordering::Release);
        slot.take()
    };
    if let Some(dispatch) = dispatch {
        dispatch.flush_all();
        dispatch.active.store(false, Ordering::Release);
        dispatch.threads.lock().clear();
        dispatch.sink.on_shutdown();
    }
}

pub fn is_initialized() -> bool {
    current().is_some()
}

/// The sink events go to, if a dispatch runs.
pub fn sink() -> Option<Arc<dyn EventSink>> {
    current().map(|d| d.sink.clone())
}

/// The process description given to the sink at startup (with the configured properties).
pub fn process_info() -> Option<Arc<ProcessInfo>> {
    current().map(|d| d.process_info.clone())
}

/// The configuration of the running dispatch.
pub fn config() -> Option<DispatchConfig> {
    current().map(|d| d.config.clone())
}

/// Hands every thread's partial blocks to the sink.
pub fn flush() {
    if let Some(dispatch) = current() {
        dispatch.flush_all();
    }
}

/// Hands this thread's partial blocks to the sink (a thread also does this when it exits).
pub fn flush_thread() {
    if let Some(dispatch) = current() {
        if let Some(streams) = local_streams(&dispatch) {
            dispatch.flush_streams(&streams);
        }
    }
}

/// Whether a log event at this call site would reach the sink.
pub fn log_enabled(desc: &'static LogDesc) -> bool {
    match current() {
        Some(dispatch) => desc.enabled() && dispatch.sink.on_log_enabled(desc),
        None => false,
    }
}

/// Sends a log event to the sink's `on_log` and buffers it. Callers check [`log_enabled`] first
/// (the macros do); the level filter is checked again here, the sink's opinion is not.
pub fn log(desc: &'static LogDesc, tags: &[Tag<'_>], args: fmt::Arguments<'_>) {
    let Some(dispatch) = current() else { return };
    if !desc.enabled() {
        return;
    }
    let time_us = time::now();
    let properties = properties(tags);
    let message = match args.as_str() {
        Some(text) => text.to_string(),
        None => fmt::format(args),
    };
    dispatch.sink.on_log(desc, &properties, time_us, format_args!("{message}"));
    dispatch.push(|streams, out| {
        out.log = streams.log.push(LogEvent { desc, time_us, message, properties });
    });
}

pub fn int_metric(desc: &'static MetricDesc, tags: &[Tag<'_>], value: u64) {
    metric(desc, tags, MetricValue::Int(value));
}

pub fn float_metric(desc: &'static MetricDesc, tags: &[Tag<'_>], value: f64) {
    metric(desc, tags, MetricValue::Float(value));
}

fn metric(desc: &'static MetricDesc, tags: &[Tag<'_>], value: MetricValue) {
    let Some(dispatch) = current() else { return };
    let event = MetricEvent { desc, time_us: time::now(), value, properties: properties(tags) };
    dispatch.push(|streams, out| out.metrics = streams.metrics.push(event));
}

fn thread_event(event: impl FnOnce(i64) -> ThreadEvent) {
    let Some(dispatch) = current() else { return };
    let event = event(time::now());
    dispatch.push(|streams, out| out.thread = streams.thread.push(event));
}

pub fn on_begin_scope(desc: &'static SpanDesc) {
    thread_event(|time_us| ThreadEvent::BeginScope { desc, time_us });
}

pub fn on_end_scope(desc: &'static SpanDesc) {
    thread_event(|time_us| ThreadEvent::EndScope { desc, time_us });
}

pub fn on_begin_named_scope(location: &'static SpanLocation, name: &Arc<str>) {
    thread_event(|time_us| ThreadEvent::BeginNamedScope { location, name: name.clone(), time_us });
}

pub fn on_end_named_scope(location: &'static SpanLocation, name: &Arc<str>) {
    thread_event(|time_us| ThreadEvent::EndNamedScope { location, name: name.clone(), time_us });
}

/// Begins an async span and returns its id (ids increment whether or not a dispatch runs).
pub fn on_begin_async_scope(name: &Arc<str>, parent_span_id: u64, location: &'static Location<'static>) -> u64 {
    let span_id = NEXT_ASYNC_SPAN_ID.fetch_add(1, Ordering::Relaxed);
    thread_event(|time_us| ThreadEvent::BeginAsyncScope {
        span_id,
        parent_span_id,
        name: name.clone(),
        location,
        time_us,
    });
    span_id
}

pub fn on_end_async_scope(span_id: u64, parent_span_id: u64, name: &Arc<str>, location: &'static Location<'static>) {
    thread_event(|time_us| ThreadEvent::EndAsyncScope {
        span_id,
        parent_span_id,
        name: name.clone(),
        location,
        time_us,
    });
}

fn properties(tags: &[Tag<'_>]) -> Vec<Property> {
    tags.iter().map(|(name, value)| Property { name, value: value.to_string() }).collect()
}

impl Dispatch {
    /// Runs `add` on this thread's streams under their lock, then hands over what it filled.
    fn push(self: &Arc<Self>, add: impl FnOnce(&mut ThreadStreams, &mut Handover)) {
        let Some(streams) = local_streams(self) else { return };
        let mut out = Handover::default();
        add(&mut streams.lock(), &mut out);
        self.hand_over(out);
    }

    fn hand_over(&self, out: Handover) {
        if let Some(block) = out.log {
            self.sink.on_process_log_block(Arc::new(block));
        }
        if let Some(block) = out.metrics {
            self.sink.on_process_metrics_block(Arc::new(block));
        }
        if let Some(block) = out.thread {
            self.sink.on_process_thread_block(Arc::new(block));
        }
    }

    fn flush_streams(&self, streams: &Mutex<ThreadStreams>) {
        let out = {
            let mut streams = streams.lock();
            Handover {
                log: streams.log.take_partial(),
                metrics: streams.metrics.take_partial(),
                thread: streams.thread.take_partial(),
            }
        };
        self.hand_over(out);
    }

    fn flush_all(&self) {
        let threads: Vec<_> = self.threads.lock().clone();
        for streams in threads {
            self.flush_streams(&streams);
        }
    }

    fn new_thread_streams(&self) -> ThreadStreams {
        let thread_name = std::thread::current().name().map(str::to_string);
        let next_id = || self.next_stream_id.fetch_add(1, Ordering::Relaxed);
        ThreadStreams {
            log: LogStream::new(next_id(), StreamKind::Log, thread_name.clone(), self.config.log_block_size),
            metrics: MetricsStream::new(
                next_id(),
                StreamKind::Metrics,
                thread_name.clone(),
                self.config.metrics_block_size,
            ),
            thread: ThreadStream::new(next_id(), StreamKind::Thread, thread_name, self.config.thread_block_size),
        }
    }
}

/// This thread's streams for one dispatch; flushed and unregistered when the thread exits.
struct LocalStreams {
    generation: u64,
    dispatch: Weak<Dispatch>,
    streams: Arc<Mutex<ThreadStreams>>,
}

impl Drop for LocalStreams {
    fn drop(&mut self) {
        let Some(dispatch) = self.dispatch.upgrade() else { return };
        if !dispatch.active.load(Ordering::Acquire) {
            return;
        }
        dispatch.flush_streams(&self.streams);
        dispatch.threads.lock().retain(|s| !Arc::ptr_eq(s, &self.streams));
    }
}

thread_local! {
    static LOCAL: RefCell<Option<LocalStreams>> = const { RefCell::new(None) };
}

/// This thread's streams for `dispatch`, created (and announced to the sink) on first use.
/// `None` while the thread is being torn down: its events are dropped.
fn local_streams(dispatch: &Arc<Dispatch>) -> Option<Arc<Mutex<ThreadStreams>>> {
    let (streams, replaced) = LOCAL
        .try_with(|cell| {
            let mut local = cell.try_borrow_mut().ok()?;
            if let Some(existing) = local.as_ref().filter(|l| l.generation == dispatch.generation) {
                return Some((existing.streams.clone(), None));
            }
            let streams = Arc::new(Mutex::new(dispatch.new_thread_streams()));
            let replaced = local.replace(LocalStreams {
                generation: dispatch.generation,
                dispatch: Arc::downgrade(dispatch),
                streams: streams.clone(),
            });
            Some((streams, Some(replaced)))
        })
        .ok()??;
    if let Some(previous) = replaced {
        // Streams of an earlier dispatch (already shut down): dropped outside the RefCell borrow.
        drop(previous);
        dispatch.threads.lock().push(streams.clone());
        // Announced without holding the lock (the sink may log): the streams are still empty,
        // so an empty copy with the same ids describes them exactly.
        let announced = streams.lock().empty_copy();
        dispatch.sink.on_init_log_stream(&announced.log);
        dispatch.sink.on_init_metrics_stream(&announced.metrics);
        dispatch.sink.on_init_thread_stream(&announced.thread);
    }
    Some(streams)
}
