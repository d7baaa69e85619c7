use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

use qe_tracing::blocks::{LogBlock, MetricsBlock, Property, ThreadBlock};
use qe_tracing::logs::LogDesc;
use qe_tracing::process_info::ProcessInfo;
use qe_tracing::{EventSink, LevelFilter};

use crate::format::format_local_line;

enum Output {
    /// Through `eprint!`, so a test harness captures it.
    Stderr,
    Writer(Mutex<Box<dyn Write + Send>>),
}

/// Prints each log event as one line ([`format_local_line`]) as it happens; ignores blocks.
pub struct LocalEventSink {
    max_level: LevelFilter,
    output: Output,
}

impl LocalEventSink {
    /// Lines on stderr, up to `max_level`.
    pub fn stderr(max_level: LevelFilter) -> Self {
        LocalEventSink { max_level, output: Output::Stderr }
    }

    /// Lines written to `writer` (a file, a buffer), up to `max_level`.
    pub fn with_writer(max_level: LevelFilter, writer: Box<dyn Write + Send>) -> Self {
        LocalEventSink { max_level, output: Output::Writer(Mutex::new(writer)) }
    }
}

impl EventSink for LocalEventSink {
    fn on_startup(&self, _process_info: Arc<ProcessInfo>) {}
    fn on_shutdown(&self) {
        if let Output::Writer(writer) = &self.output {
            let _ = writer.lock().unwrap_or_else(|p| p.into_inner()).flush();
        }
    }
    fn on_log_enabled(&self, desc: &LogDesc) -> bool {
        self.max_level.allows(desc.level)
    }
    fn on_log(&self, desc: &LogDesc, properties: &[Property], time_us: i64, args: fmt::Arguments<'_>) {
        let pairs = properties.iter().map(|p| (p.name, p.value.as_str()));
        let line = format_local_line(desc, pairs, time_us, args);
        match &self.output {
            Output::Stderr => eprintln!("{line}"),
            // A failing writer must not take the instrumented code down: the line is dropped.
            Output::Writer(writer) => {
                let _ = writeln!(writer.lock().unwrap_or_else(|p| p.into_inner()), "{line}");
            }
        }
    }
    fn on_process_log_block(&self, _block: Arc<LogBlock>) {}
    fn on_process_metrics_block(&self, _block: Arc<MetricsBlock>) {}
    fn on_process_thread_block(&self, _block: Arc<ThreadBlock>) {}
}
