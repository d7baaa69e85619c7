use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use qe_tracing::blocks::{LogBlock, LogStream, MetricsBlock, MetricsStream, Property, ThreadBlock, ThreadStream};
use qe_tracing::logs::LogDesc;
use qe_tracing::process_info::ProcessInfo;
use qe_tracing::{EventSink, Level};

/// A log event as [`InMemorySink`] saw it in `on_log`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedLog {
    pub level: Level,
    pub target: &'static str,
    pub message: String,
    pub properties: Vec<Property>,
    pub time_us: i64,
}

#[derive(Default)]
struct State {
    process_info: Option<Arc<ProcessInfo>>,
    shutdowns: usize,
    logs: Vec<RecordedLog>,
    streams: usize,
    log_blocks: Vec<Arc<LogBlock>>,
    metrics_blocks: Vec<Arc<MetricsBlock>>,
    thread_blocks: Vec<Arc<ThreadBlock>>,
}

/// Keeps everything it receives, for tests and for code that inspects its own telemetry.
#[derive(Default)]
pub struct InMemorySink {
    state: Mutex<State>,
}

impl InMemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What `on_startup` received.
    pub fn process_info(&self) -> Option<Arc<ProcessInfo>> {
        self.state().process_info.clone()
    }

    pub fn shutdowns(&self) -> usize {
        self.state().shutdowns
    }

    /// Every `on_log`, in order.
    pub fn logs(&self) -> Vec<RecordedLog> {
        self.state().logs.clone()
    }

    /// The messages of [`logs`](Self::logs).
    pub fn messages(&self) -> Vec<String> {
        self.state().logs.iter().map(|l| l.message.clone()).collect()
    }

    /// Streams announced (log, metrics and thread streams together).
    pub fn stream_count(&self) -> usize {
        self.state().streams
    }

    pub fn log_blocks(&self) -> Vec<Arc<LogBlock>> {
        self.state().log_blocks.clone()
    }

    pub fn metrics_blocks(&self) -> Vec<Arc<MetricsBlock>> {
        self.state().metrics_blocks.clone()
    }

    pub fn thread_blocks(&self) -> Vec<Arc<ThreadBlock>> {
        self.state().thread_blocks.clone()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        *self.state() = State::default();
    }
}

impl EventSink for InMemorySink {
    fn on_startup(&self, process_info: Arc<ProcessInfo>) {
        self.state().process_info = Some(process_info);
    }
    fn on_shutdown(&self) {
        self.state().shutdowns += 1;
    }
    fn on_log(&self, desc: &LogDesc, properties: &[Property], time_us: i64, args: fmt::Arguments<'_>) {
        let log = RecordedLog {
            level: desc.level,
            target: desc.target,
            message: args.to_string(),
            properties: properties.to_vec(),
            time_us,
        };
        self.state().logs.push(log);
    }
    fn on_init_log_stream(&self, _stream: &LogStream) {
        self.state().streams += 1;
    }
    fn on_process_log_block(&self, block: Arc<LogBlock>) {
        self.state().log_blocks.push(block);
    }
    fn on_init_metrics_stream(&self, _stream: &MetricsStream) {
        self.state().streams += 1;
    }
    fn on_process_metrics_block(&self, block: Arc<MetricsBlock>) {
        self.state().metrics_blocks.push(block);
    }
    fn on_init_thread_stream(&self, _stream: &ThreadStream) {
        self.state().streams += 1;
    }
    fn on_process_thread_block(&self, block: Arc<ThreadBlock>) {
        self.state().thread_blocks.push(block);
    }
}
