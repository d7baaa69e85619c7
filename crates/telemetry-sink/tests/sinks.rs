//! The builder and the sinks, through the real dispatch. The dispatch is process-wide, so the
//! tests take turns.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use qe_telemetry_sink::{CompositeSink, InMemorySink, LocalEventSink, TelemetryGuardBuilder};
use qe_tracing::blocks::Property;
use qe_tracing::levels::{self, FilterSpec};
use qe_tracing::prelude::*;
use qe_tracing::{dispatch, DispatchConfig, TracingSystemGuard};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuffer {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap().lines().map(str::to_string).collect()
    }
}

#[test]
fn the_in_memory_sink_records_logs_blocks_and_lifecycle() {
    let _serial = serial();
    let sink = Arc::new(InMemorySink::new());
    {
        let _telemetry = TelemetryGuardBuilder::default()
            .with_local_sink_enabled(false)
            .with_sink(sink.clone())
            .with_max_level(LevelFilter::Debug)
            .with_block_size(4)
            .with_property("app", "sink-tests")
            .build()
            .unwrap();
        assert_eq!(sink.process_info().unwrap().properties["app"], "sink-tests");
        for i in 0..10 {
            info!(tags: [("i", i)], "event {i}");
        }
        trace!("filtered out");
        imetric!("rows", "rows", 3);
        fmetric!("ms", "ms", 0.5);
        {
            span_scope!("scope");
        }
        assert_eq!(sink.log_blocks().len(), 2, "full blocks arrive at once");
        assert_eq!(sink.stream_count(), 3, "one thread: a log, a metrics and a thread stream");
        assert_eq!(sink.shutdowns(), 0);
    }
    let logs = sink.logs();
    assert_eq!(logs.len(), 10);
    assert_eq!((logs[3].level, logs[3].message.as_str()), (Level::Info, "event 3"));
    assert_eq!(logs[3].target, "sinks");
    assert_eq!(logs[3].properties, [Property::new("i", "3")]);
    let blocks = sink.log_blocks();
    assert_eq!(blocks.iter().map(|b| b.len()).collect::<Vec<_>>(), [4, 4, 2], "the guard flushed the partial block");
    assert_eq!(sink.metrics_blocks()[0].len(), 2);
    assert_eq!(sink.thread_blocks()[0].len(), 2);
    assert_eq!(sink.shutdowns(), 1);
    sink.clear();
    assert!(sink.logs().is_empty() && sink.log_blocks().is_empty());
}

#[test]
fn the_local_sink_writes_one_formatted_line_per_event_up_to_its_level() {
    let _serial = serial();
    levels::set_max_level(LevelFilter::Trace);
    let buffer = SharedBuffer::default();
    let local = Arc::new(LocalEventSink::with_writer(LevelFilter::Info, Box::new(buffer.clone())));
    let memory = Arc::new(InMemorySink::new());
    let both = Arc::new(CompositeSink::new(vec![local, memory.clone()]));
    {
        let _guard = TracingSystemGuard::new(DispatchConfig::default(), both).unwrap();
        info!(target: "engine", "registered table '{}' ({} rows)", "t", 3);
        warn!(target: "engine", tags: [("table", "t")], "slow");
        debug!(target: "engine", "only in memory");
    }
    let lines = buffer.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with(" INFO  engine: registered table 't' (3 rows)"), "{}", lines[0]);
    assert!(lines[1].ends_with(" WARN  engine: slow {table=t}"), "{}", lines[1]);
    assert!(lines[0].starts_with("20") && lines[0].contains('T'), "a timestamp first: {}", lines[0]);
    assert_eq!(memory.messages(), ["registered table 't' (3 rows)", "slow", "only in memory"]);
    levels::set_max_level(levels::DEFAULT_FILTER);
}

#[test]
fn the_builder_reads_the_filter_from_the_environment() {
    let _serial = serial();
    let sink = Arc::new(InMemorySink::new());
    std::env::set_var("QE_LOG_TEST_GOOD", "warn,engine=debug");
    {
        let _telemetry = TelemetryGuardBuilder::default()
            .with_local_sink_enabled(false)
            .with_sink(sink.clone())
            .with_max_level(LevelFilter::Trace)
            .with_filter_from_env("QE_LOG_TEST_GOOD")
            .build()
            .unwrap();
        info!(target: "other", "dropped");
        warn!(target: "other", "kept warn");
        debug!(target: "engine::x", "kept debug");
    }
    assert_eq!(sink.messages(), ["kept warn", "kept debug"]);
    // An unset variable leaves the builder's own filter.
    {
        let _telemetry = TelemetryGuardBuilder::default()
            .with_local_sink_enabled(false)
            .with_sink(sink.clone())
            .with_filter(FilterSpec::parse("error").unwrap())
            .with_filter_from_env("QE_LOG_TEST_UNSET")
            .build()
            .unwrap();
        assert_eq!(levels::filter().to_string(), "error");
    }
    levels::set_max_level(levels::DEFAULT_FILTER);
}

#[test]
fn builder_errors_say_what_failed_and_change_nothing() {
    let _serial = serial();
    levels::set_max_level(LevelFilter::Info);
    std::env::set_var("QE_LOG_TEST_BAD", "info,engine=loud");
    let err = TelemetryGuardBuilder::default().with_filter_from_env("QE_LOG_TEST_BAD").build().unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("reading the log filter from $QE_LOG_TEST_BAD: invalid log filter 'info,engine=loud'"),
        "{text}"
    );
    assert!(!dispatch::is_initialized());
    assert_eq!(levels::filter().to_string(), "info");

    let _running = TelemetryGuardBuilder::default().with_local_sink_enabled(false).build().unwrap();
    let err = TelemetryGuardBuilder::default().with_max_level(LevelFilter::Off).build().unwrap_err();
    assert!(err.to_string().starts_with("starting telemetry: the event dispatch is already initialised"), "{err}");
    assert_eq!(levels::filter().to_string(), "info", "the failed build left the filter alone");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn init_telemetry_is_idempotent_and_keeps_an_existing_dispatch() {
    let _serial = serial();
    let sink = Arc::new(InMemorySink::new());
    let guard = TracingSystemGuard::new(DispatchConfig::default(), sink.clone()).unwrap();
    qe_telemetry_sink::init_telemetry();
    qe_telemetry_sink::init_telemetry();
    info!("still to the first sink");
    assert!(Arc::ptr_eq(&dispatch::sink().unwrap(), &(sink.clone() as Arc<dyn EventSink>)));
    drop(guard);
    assert_eq!(sink.messages(), ["still to the first sink"]);
    // Once run, init_telemetry does nothing again, even with no dispatch.
    qe_telemetry_sink::init_telemetry();
    assert!(!dispatch::is_initialized());
}
