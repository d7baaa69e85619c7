//! A sink that records everything, and a lock: the dispatch and the level filter are
//! process-wide, so tests that use them run one at a time.

#![allow(dead_code)]

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use qe_tracing::blocks::{LogBlock, LogStream, MetricsBlock, MetricsStream, Property, ThreadBlock, ThreadStream};
use qe_tracing::levels::{self, Level, LevelFilter};
use qe_tracing::logs::LogDesc;
use qe_tracing::process_info::ProcessInfo;
use qe_tracing::{dispatch, DispatchConfig, EventSink};

#[derive(Clone, Debug)]
pub struct Logged {
    pub level: Level,
    pub target: &'static str,
    pub message: String,
    pub properties: Vec<Property>,
    pub time_us: i64,
}

#[derive(Default)]
pub struct Recorded {
    pub startups: Vec<Arc<ProcessInfo>>,
    pub shutdowns: usize,
    pub logs: Vec<Logged>,
    pub log_streams: Vec<(u64, Option<String>)>,
    pub metrics_streams: Vec<u64>,
    pub thread_streams: Vec<u64>,
    pub log_blocks: Vec<Arc<LogBlock>>,
    pub metrics_blocks: Vec<Arc<MetricsBlock>>,
    pub thread_blocks: Vec<Arc<ThreadBlock>>,
}

#[derive(Default)]
pub struct RecordingSink {
    pub recorded: Mutex<Recorded>,
    /// Level names the sink refuses in on_log_enabled.
    pub refuse: Mutex<Vec<Level>>,
}

impl RecordingSink {
    pub fn get(&self) -> MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap()
    }

    pub fn messages(&self) -> Vec<String> {
        self.get().logs.iter().map(|l| l.message.clone()).collect()
    }

    /// Messages of every log block, in stream and sequence order.
    pub fn block_messages(&self) -> Vec<String> {
        let mut blocks = self.get().log_blocks.clone();
        blocks.sort_by_key(|b| (b.stream_id, b.sequence));
        blocks.iter().flat_map(|b| b.events.iter().map(|e| e.message.clone())).collect()
    }
}

impl EventSink for RecordingSink {
    fn on_startup(&self, process_info: Arc<ProcessInfo>) {
        self.get().startups.push(process_info);
    }
    fn on_shutdown(&self) {
        self.get().shutdowns += 1;
    }
    fn on_log_enabled(&self, desc: &LogDesc) -> bool {
        !self.refuse.lock().unwrap().contains(&desc.level)
    }
    fn on_log(&self, desc: &LogDesc, properties: &[Property], time_us: i64, args: fmt::Arguments<'_>) {
        self.get().logs.push(Logged {
            level: desc.level,
            target: desc.target,
            message: args.to_string(),
            properties: properties.to_vec(),
            time_us,
        });
    }
    fn on_init_log_stream(&self, stream: &LogStream) {
        self.get().log_streams.push((stream.stream_id(), stream.thread_name().map(str::to_string)));
    }
    fn on_process_log_block(&self, block: Arc<LogBlock>) {
        self.get().log_blocks.push(block);
    }
    fn on_init_metrics_stream(&self, stream: &MetricsStream) {
        self.get().metrics_streams.push(stream.stream_id());
    }
    fn on_process_metrics_block(&self, block: Arc<MetricsBlock>) {
        self.get().metrics_blocks.push(block);
    }
    fn on_init_thread_stream(&self, stream: &ThreadStream) {
        self.get().thread_streams.push(stream.stream_id());
    }
    fn on_process_thread_block(&self, block: Arc<ThreadBlock>) {
        self.get().thread_blocks.push(block);
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `body` with a fresh dispatch to a RecordingSink (filter: trace), shut down afterwards
/// even if `body` panics. Returns the sink for inspection.
pub fn with_dispatch(config: DispatchConfig, body: impl FnOnce(&Arc<RecordingSink>)) -> Arc<RecordingSink> {
    let _serial = serial();
    levels::set_max_level(LevelFilter::Trace);
    let sink = Arc::new(RecordingSink::default());
    dispatch::init_event_dispatch(config, sink.clone()).expect("no dispatch runs between tests");
    struct Shutdown;
    impl Drop for Shutdown {
        fn drop(&mut self) {
            dispatch::shutdown_dispatch();
        }
    }
    let shutdown = Shutdown;
    body(&sink);
    drop(shutdown);
    sink
}
