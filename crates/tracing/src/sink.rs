//! The one interface between the dispatch and whatever records events.

use std::fmt;
use std::sync::Arc;

use crate::blocks::{LogBlock, LogStream, MetricsBlock, MetricsStream, Property, ThreadBlock, ThreadStream};
use crate::logs::LogDesc;
use crate::process_info::ProcessInfo;

/// Receives events from the dispatch. The signature is the same on every target: on wasm32 the
/// block, stream and property types are uninhabited, so the block and stream methods are never
/// called and `properties` is always empty.
///
/// Calls come from whichever thread emitted the event (or flushed), never while the dispatch
/// holds a lock: a sink may log.
pub trait EventSink: Send + Sync {
    /// Once, when the dispatch starts.
    fn on_startup(&self, process_info: Arc<ProcessInfo>);
    /// Once, after the last blocks were handed over.
    fn on_shutdown(&self);
    /// Asked before each log event the level filter let through; `false` drops it.
    fn on_log_enabled(&self, _desc: &LogDesc) -> bool {
        true
    }
    /// Every log event, as it happens (natively it is also buffered into a log block).
    fn on_log(&self, desc: &LogDesc, properties: &[Property], time_us: i64, args: fmt::Arguments<'_>);
    fn on_init_log_stream(&self, _stream: &LogStream) {}
    fn on_process_log_block(&self, block: Arc<LogBlock>);
    fn on_init_metrics_stream(&self, _stream: &MetricsStream) {}
    fn on_process_metrics_block(&self, block: Arc<MetricsBlock>);
    fn on_init_thread_stream(&self, _stream: &ThreadStream) {}
    fn on_process_thread_block(&self, block: Arc<ThreadBlock>);
    /// Whether the sink still has work queued (a transport would say so while sending).
    fn is_busy(&self) -> bool {
        false
    }
}

/// Accepts everything and keeps nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullEventSink;

impl EventSink for NullEventSink {
    fn on_startup(&self, _process_info: Arc<ProcessInfo>) {}
    fn on_shutdown(&self) {}
    fn on_log_enabled(&self, _desc: &LogDesc) -> bool {
        false
    }
    fn on_log(&self, _desc: &LogDesc, _properties: &[Property], _time_us: i64, _args: fmt::Arguments<'_>) {}
    fn on_process_log_block(&self, _block: Arc<LogBlock>) {}
    fn on_process_metrics_block(&self, _block: Arc<MetricsBlock>) {}
    fn on_process_thread_block(&self, _block: Arc<ThreadBlock>) {}
}
