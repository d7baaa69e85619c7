//! wasm32: log lines to the browser console.

use std::fmt;
use std::sync::{Arc, Once};

use qe_tracing::blocks::{LogBlock, LogStream, MetricsBlock, MetricsStream, Property, ThreadBlock, ThreadStream};
use qe_tracing::logs::LogDesc;
use qe_tracing::process_info::ProcessInfo;
use qe_tracing::{DispatchConfig, EventSink, Level};
use wasm_bindgen::JsValue;

use crate::format::format_console_line;

/// Prints `"[LEVEL] message"` with the console method of the level: error → `console.error`,
/// warn → `console.warn`, info → `console.info`, debug and trace → `console.debug`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsoleEventSink;

impl EventSink for ConsoleEventSink {
    fn on_startup(&self, _process_info: Arc<ProcessInfo>) {}
    fn on_shutdown(&self) {}
    fn on_log(&self, desc: &LogDesc, _properties: &[Property], _time_us: i64, args: fmt::Arguments<'_>) {
        let line = JsValue::from_str(&format_console_line(desc.level, args));
        match desc.level {
            Level::Error => web_sys::console::error_1(&line),
            Level::Warn => web_sys::console::warn_1(&line),
            Level::Info => web_sys::console::info_1(&line),
            Level::Debug | Level::Trace => web_sys::console::debug_1(&line),
        }
    }
    // No block or stream exists on wasm32 (the types are uninhabited).
    fn on_init_log_stream(&self, stream: &LogStream) {
        match *stream {}
    }
    fn on_process_log_block(&self, block: Arc<LogBlock>) {
        match *block {}
    }
    fn on_init_metrics_stream(&self, stream: &MetricsStream) {
        match *stream {}
    }
    fn on_process_metrics_block(&self, block: Arc<MetricsBlock>) {
        match *block {}
    }
    fn on_init_thread_stream(&self, stream: &ThreadStream) {
        match *stream {}
    }
    fn on_process_thread_block(&self, block: Arc<ThreadBlock>) {
        match *block {}
    }
}

/// Sends logs to the browser console for the lifetime of the page (default filter: info; change
/// it with `qe_tracing::levels`). Idempotent, and quiet if something else already set up
/// telemetry.
pub fn init_telemetry() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only if a dispatch already runs: then that one is kept.
        let _ = qe_tracing::dispatch::init_event_dispatch(DispatchConfig::default(), Arc::new(ConsoleEventSink));
    });
}
