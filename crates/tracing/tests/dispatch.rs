//! The native dispatch: per-thread streams, full blocks handed over at once, partial blocks on
//! flush, shutdown and thread exit.

mod common;

use std::fmt;
use std::sync::Arc;

use common::{serial, with_dispatch, RecordingSink};
use qe_tracing::blocks::{LogBlock, MetricsBlock, Property, StreamKind, ThreadBlock};
use qe_tracing::logs::LogDesc;
use qe_tracing::prelude::*;
use qe_tracing::process_info::ProcessInfo;
use qe_tracing::{dispatch, DispatchConfig, Error, NullEventSink, TracingSystemGuard};

#[test]
fn full_blocks_go_at_once_and_the_partial_one_on_flush() {
    let sink = with_dispatch(DispatchConfig::default().with_block_size(4), |sink| {
        for i in 0..10 {
            info!("event {i}");
        }
        {
            let recorded = sink.get();
            assert_eq!(recorded.log_blocks.len(), 2, "two full blocks of 4");
            assert!(recorded.log_blocks.iter().all(|b| b.len() == 4));
            assert_eq!(recorded.logs.len(), 10, "on_log saw every event as it happened");
        }
        dispatch::flush();
        {
            let recorded = sink.get();
            assert_eq!(recorded.log_blocks.len(), 3);
            assert_eq!(recorded.log_blocks[2].len(), 2, "the partial block");
            let sequences: Vec<_> = recorded.log_blocks.iter().map(|b| b.sequence).collect();
            assert_eq!(sequences, [0, 1, 2]);
            let stream_ids: Vec<_> = recorded.log_blocks.iter().map(|b| b.stream_id).collect();
            assert!(stream_ids.iter().all(|id| *id == stream_ids[0]));
            for block in &recorded.log_blocks {
                assert!(block.begin_time_us <= block.end_time_us);
                assert!(block
                    .events
                    .iter()
                    .all(|e| block.begin_time_us <= e.time_us && e.time_us <= block.end_time_us));
            }
        }
        dispatch::flush();
        assert_eq!(sink.get().log_blocks.len(), 3, "an empty block is not handed over");
    });
    let expected: Vec<_> = (0..10).map(|i| format!("event {i}")).collect();
    assert_eq!(sink.block_messages(), expected);
    assert_eq!(sink.get().shutdowns, 1);
}

#[test]
fn shutdown_flushes_partial_blocks_of_every_kind() {
    let sink = with_dispatch(DispatchConfig::default(), |sink| {
        info!("one log");
        imetric!("one metric", "count", 1);
        {
            span_scope!("one span");
        }
        let recorded = sink.get();
        assert!(
            recorded.log_blocks.is_empty() && recorded.metrics_blocks.is_empty() && recorded.thread_blocks.is_empty()
        );
    });
    let recorded = sink.get();
    assert_eq!(recorded.log_blocks.len(), 1);
    assert_eq!(recorded.metrics_blocks.len(), 1);
    assert_eq!(recorded.thread_blocks.len(), 1);
    assert_eq!(recorded.thread_blocks[0].len(), 2);
    assert_eq!(recorded.shutdowns, 1);
}

#[test]
fn block_sizes_are_per_kind() {
    let config =
        DispatchConfig { log_block_size: 2, metrics_block_size: 3, thread_block_size: 1000, ..Default::default() };
    let sink = with_dispatch(config, |sink| {
        for i in 0..6 {
            info!("{i}");
            imetric!("i", "count", i);
        }
        let recorded = sink.get();
        assert_eq!(recorded.log_blocks.len(), 3);
        assert_eq!(recorded.metrics_blocks.len(), 2);
    });
    assert_eq!(sink.get().log_blocks.len(), 3, "nothing left to flush");
}

#[test]
fn each_thread_has_its_own_streams() {
    let sink = with_dispatch(DispatchConfig::default().with_block_size(100), |_| {
        info!("main");
        let workers: Vec<_> = (0..3)
            .map(|n| {
                std::thread::Builder::new()
                    .name(format!("worker-{n}"))
                    .spawn(move || {
                        for i in 0..5 {
                            info!("worker {n} event {i}");
                        }
                    })
                    .unwrap()
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
    });
    let recorded = sink.get();
    // Four threads, each announcing its own log stream.
    assert_eq!(recorded.log_streams.len(), 4);
    let mut ids: Vec<_> = recorded.log_streams.iter().map(|(id, _)| *id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let mut names: Vec<_> =
        recorded.log_streams.iter().filter_map(|(_, n)| n.clone()).filter(|n| n.starts_with("worker")).collect();
    names.sort();
    assert_eq!(names, ["worker-0", "worker-1", "worker-2"]);
    assert_eq!(recorded.metrics_streams.len(), 4);
    assert_eq!(recorded.thread_streams.len(), 4);
    // Each exiting worker handed over its partial block itself; the main thread's came at shutdown.
    assert_eq!(recorded.log_blocks.len(), 4);
    for block in &recorded.log_blocks {
        let (stream_name, _) = (recorded.log_streams.iter().find(|(id, _)| *id == block.stream_id).unwrap(), ());
        let worker = stream_name.1.as_deref().and_then(|n| n.strip_prefix("worker-"));
        match worker {
            Some(n) => {
                assert_eq!(block.len(), 5);
                assert!(block.events.iter().all(|e| e.message.starts_with(&format!("worker {n} "))));
            }
            None => assert_eq!(block.events[0].message, "main"),
        }
    }
}

#[test]
fn exiting_threads_flush_their_partial_blocks() {
    with_dispatch(DispatchConfig::default(), |sink| {
        std::thread::spawn(|| info!("from a short-lived thread")).join().unwrap();
        assert_eq!(sink.block_messages(), ["from a short-lived thread"]);
    });
}

#[test]
fn concurrent_threads_lose_nothing() {
    let sink = with_dispatch(DispatchConfig::default().with_block_size(7), |_| {
        std::thread::scope(|scope| {
            for t in 0..4 {
                scope.spawn(move || {
                    for i in 0..250 {
                        info!("{t}:{i}");
                        if i % 50 == 0 {
                            dispatch::flush();
                        }
                    }
                });
            }
        });
    });
    let mut messages = sink.block_messages();
    assert_eq!(messages.len(), 1000);
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 1000);
}

#[test]
fn init_twice_is_an_error_and_reinit_after_shutdown_works() {
    let _serial = serial();
    let first = Arc::new(RecordingSink::default());
    dispatch::init_event_dispatch(DispatchConfig::default(), first.clone()).unwrap();
    let err = dispatch::init_event_dispatch(DispatchConfig::default(), Arc::new(NullEventSink)).unwrap_err();
    assert_eq!(err, Error::AlreadyInitialized);
    assert!(err.to_string().contains("already initialised"));
    qe_tracing::levels::set_max_level(LevelFilter::Info);
    info!("to the first");
    dispatch::shutdown_dispatch();
    dispatch::shutdown_dispatch(); // a second shutdown does nothing
    assert!(!dispatch::is_initialized());
    info!("to nobody");

    let second = Arc::new(RecordingSink::default());
    dispatch::init_event_dispatch(DispatchConfig::default(), second.clone()).unwrap();
    info!("to the second");
    dispatch::shutdown_dispatch();
    assert_eq!(first.block_messages(), ["to the first"]);
    assert_eq!(second.block_messages(), ["to the second"]);
    assert_eq!(second.get().log_streams.len(), 1, "the thread got new streams for the new dispatch");
    assert_eq!((first.get().shutdowns, second.get().shutdowns), (1, 1));
}

#[test]
fn the_guard_runs_the_dispatch_for_its_lifetime() {
    let _serial = serial();
    let sink = Arc::new(RecordingSink::default());
    {
        let _guard = TracingSystemGuard::new(DispatchConfig::default(), sink.clone()).unwrap();
        assert!(dispatch::is_initialized());
        error!("guarded");
    }
    assert!(!dispatch::is_initialized());
    assert_eq!(sink.block_messages(), ["guarded"]);
    assert_eq!(sink.get().shutdowns, 1);
}

#[test]
fn invalid_configurations_are_refused() {
    let _serial = serial();
    let err = dispatch::init_event_dispatch(DispatchConfig::default().with_block_size(0), Arc::new(NullEventSink))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { field: "log_block_size", .. }), "{err:?}");
    assert!(err.to_string().contains("log_block_size"));
    assert!(!dispatch::is_initialized());
}

#[test]
fn the_sink_learns_about_the_process_at_startup() {
    let config = DispatchConfig::default().with_property("app", "engine-tests");
    let sink = with_dispatch(config, |_| {
        let info = dispatch::process_info().unwrap();
        assert_eq!(info.properties["app"], "engine-tests");
        assert_eq!(dispatch::config().unwrap().properties["app"], "engine-tests");
    });
    let recorded = sink.get();
    assert_eq!(recorded.startups.len(), 1);
    let info: &ProcessInfo = &recorded.startups[0];
    assert_eq!(info.pid, Some(std::process::id()));
    assert!(!info.exe.is_empty() && info.exe != "unknown");
    assert_eq!(info.arch, std::env::consts::ARCH);
    assert_eq!(info.tick_frequency, 1_000_000);
    assert!(info.process_id.starts_with(&format!("{:x}-", std::process::id())));
    // Microseconds since the epoch: after 2020, before 2100.
    assert!(info.start_time_us > 1_577_836_800_000_000 && info.start_time_us < 4_102_444_800_000_000);
    // The process-wide description has no properties.
    assert!(qe_tracing::process_info::process_info().properties.is_empty());
}

#[test]
fn time_is_microseconds_and_monotonic() {
    let a = qe_tracing::time::now();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let b = qe_tracing::time::now();
    assert!(b - a >= 2_000, "{a} {b}");
    assert_eq!(qe_tracing::time::frequency(), 1_000_000);
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
    assert!((wall - b).abs() < 1_000_000);
}

/// A sink that logs from inside every callback: the dispatch must not hold a lock meanwhile.
struct ChattySink(RecordingSink);

impl EventSink for ChattySink {
    fn on_startup(&self, info: Arc<ProcessInfo>) {
        self.0.on_startup(info);
    }
    fn on_shutdown(&self) {
        self.0.on_shutdown();
    }
    fn on_log(&self, desc: &LogDesc, properties: &[Property], time_us: i64, args: fmt::Arguments<'_>) {
        self.0.on_log(desc, properties, time_us, args);
    }
    fn on_init_log_stream(&self, stream: &qe_tracing::blocks::LogStream) {
        assert_eq!(stream.kind(), StreamKind::Log);
        assert_eq!(stream.pending(), 0);
        debug!(target: "sink", "stream {}", stream.stream_id());
    }
    fn on_process_log_block(&self, block: Arc<LogBlock>) {
        if block.events.iter().all(|e| e.desc.target != "sink") {
            debug!(target: "sink", "block of {}", block.len());
        }
        self.0.on_process_log_block(block);
    }
    fn on_process_metrics_block(&self, block: Arc<MetricsBlock>) {
        self.0.on_process_metrics_block(block);
    }
    fn on_process_thread_block(&self, block: Arc<ThreadBlock>) {
        self.0.on_process_thread_block(block);
    }
}

#[test]
fn a_sink_may_log_from_its_callbacks() {
    let _serial = serial();
    qe_tracing::levels::set_max_level(LevelFilter::Trace);
    let sink = Arc::new(ChattySink(RecordingSink::default()));
    dispatch::init_event_dispatch(DispatchConfig::default().with_block_size(2), sink.clone()).unwrap();
    // Blocks: ["stream 1", "a"], ["b", "c"] (the sink logs "block of 2" while handling it),
    // ["block of 2", "d"].
    for message in ["a", "b", "c", "d"] {
        info!("{message}");
    }
    dispatch::shutdown_dispatch();
    let messages = sink.0.messages();
    assert!(messages.iter().any(|m| m.starts_with("stream ")), "{messages:?}");
    assert!(messages.contains(&"block of 2".to_string()), "{messages:?}");
    assert_eq!(sink.0.block_messages(), ["stream 1", "a", "b", "c", "block of 2", "d"]);
}
