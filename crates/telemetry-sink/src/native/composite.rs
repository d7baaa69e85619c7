use std::fmt;
use std::sync::Arc;

use qe_tracing::blocks::{LogBlock, LogStream, MetricsBlock, MetricsStream, Property, ThreadBlock, ThreadStream};
use qe_tracing::logs::LogDesc;
use qe_tracing::process_info::ProcessInfo;
use qe_tracing::EventSink;

/// Hands every event to each of its sinks; a log goes only to the sinks that want it.
pub struct CompositeSink {
    sinks: Vec<Arc<dyn EventSink>>,
}

impl CompositeSink {
    pub fn new(sinks: Vec<Arc<dyn EventSink>>) -> Self {
        CompositeSink { sinks }
    }
}

impl EventSink for CompositeSink {
    fn on_startup(&self, process_info: Arc<ProcessInfo>) {
        self.sinks.iter().for_each(|s| s.on_startup(process_info.clone()));
    }
    fn on_shutdown(&self) {
        self.sinks.iter().for_each(|s| s.on_shutdown());
    }
    fn on_log_enabled(&self, desc: &LogDesc) -> bool {
        self.sinks.iter().any(|s| s.on_log_enabled(desc))
    }
    fn on_log(&self, desc: &LogDesc, properties: &[Property], time_us: i64, args: fmt::Arguments<'_>) {
        for sink in self.sinks.iter().filter(|s| s.on_log_enabled(desc)) {
            sink.on_log(desc, properties, time_us, args);
        }
    }
    fn on_init_log_stream(&self, stream: &LogStream) {
        self.sinks.iter().for_each(|s| s.on_init_log_stream(stream));
    }
    fn on_process_log_block(&self, block: Arc<LogBlock>) {
        self.sinks.iter().for_each(|s| s.on_process_log_block(block.clone()));
    }
    fn on_init_metrics_stream(&self, stream: &MetricsStream) {
        self.sinks.iter().for_each(|s| s.on_init_metrics_stream(stream));
    }
    fn on_process_metrics_block(&self, block: Arc<MetricsBlock>) {
        self.sinks.iter().for_each(|s| s.on_process_metrics_block(block.clone()));
    }
    fn on_init_thread_stream(&self, stream: &ThreadStream) {
        self.sinks.iter().for_each(|s| s.on_init_thread_stream(stream));
    }
    fn on_process_thread_block(&self, block: Arc<ThreadBlock>) {
        self.sinks.iter().for_each(|s| s.on_process_thread_block(block.clone()));
    }
    fn is_busy(&self) -> bool {
        self.sinks.iter().any(|s| s.is_busy())
    }
}
