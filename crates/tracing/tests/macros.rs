//! The macros: levels, targets, tags, formatting, metrics and spans, as the sink sees them.

mod common;

use std::cell::Cell;
use std::fmt;

use common::with_dispatch;
use qe_tracing::blocks::{Property, ThreadEvent};
use qe_tracing::metrics::MetricValue;
use qe_tracing::prelude::*;
use qe_tracing::DispatchConfig;

#[test]
fn level_macros_log_at_their_level_with_the_module_as_target() {
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        error!("e {}", 1);
        warn!("w {}", 2);
        info!("i {}", 3);
        debug!("d {}", 4);
        trace!("t {}", 5);
        log!(Level::Info, "plain");
    });
    let logs = &sink.get().logs;
    let seen: Vec<_> = logs.iter().map(|l| (l.level, l.message.as_str())).collect();
    assert_eq!(
        seen,
        [
            (Level::Error, "e 1"),
            (Level::Warn, "w 2"),
            (Level::Info, "i 3"),
            (Level::Debug, "d 4"),
            (Level::Trace, "t 5"),
            (Level::Info, "plain"),
        ]
    );
    assert!(logs.iter().all(|l| l.target == "macros"), "{logs:?}");
}

#[test]
fn explicit_targets_and_tags() {
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        let table = String::from("trips");
        let rows = 42_usize;
        info!(target: "engine::register", "registered {table}");
        warn!(tags: [("table", table), ("rows", rows)], "slow");
        log!(Level::Debug, target: "engine", tags: [("rows", rows),], "rows={}", rows);
    });
    let logs = sink.get().logs.clone();
    assert_eq!(logs[0].target, "engine::register");
    assert_eq!(logs[0].message, "registered trips");
    assert!(logs[0].properties.is_empty());
    assert_eq!(logs[1].target, "macros");
    assert_eq!(logs[1].properties, [Property::new("table", "trips"), Property::new("rows", "42")]);
    assert_eq!((logs[2].target, logs[2].message.as_str()), ("engine", "rows=42"));
    assert_eq!(logs[2].properties, [Property::new("rows", "42")]);
    // The tags are in the buffered events too.
    qe_tracing::dispatch::flush();
    let blocks = &sink.get().log_blocks;
    assert_eq!(blocks.iter().map(|b| b.events.len()).sum::<usize>(), 3);
    assert_eq!(blocks[0].events[1].properties.len(), 2);
}

#[test]
fn arguments_of_filtered_out_levels_are_not_formatted() {
    struct Counted<'a>(&'a Cell<u32>);
    impl fmt::Display for Counted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.set(self.0.get() + 1);
            f.write_str("counted")
        }
    }
    let formatted = Cell::new(0);
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        qe_tracing::levels::set_max_level(LevelFilter::Info);
        debug!("{}", Counted(&formatted));
        debug!(tags: [("k", Counted(&formatted))], "tagged");
        assert_eq!(formatted.get(), 0);
        info!("{}", Counted(&formatted));
        assert_eq!(formatted.get(), 1, "an enabled event is formatted exactly once");
    });
    assert_eq!(sink.messages(), ["counted"]);
}

#[test]
fn integer_and_float_metrics_with_tags() {
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        let table = "trips";
        imetric!("rows_registered", "rows", 10);
        imetric!("bytes_registered", "bytes", 4096, tags: [("table", table)]);
        fmetric!("query_duration", "ms", 1.5);
        fmetric!("query_duration", "ms", 2.25, tags: [("rows_out", 3_u64), ("ok", true)]);
        qe_tracing::dispatch::flush();
    });
    let recorded = sink.get();
    assert_eq!(recorded.metrics_blocks.len(), 1);
    let events = &recorded.metrics_blocks[0].events;
    let seen: Vec<_> = events.iter().map(|e| (e.desc.name, e.desc.unit, e.value)).collect();
    assert_eq!(
        seen,
        [
            ("rows_registered", "rows", MetricValue::Int(10)),
            ("bytes_registered", "bytes", MetricValue::Int(4096)),
            ("query_duration", "ms", MetricValue::Float(1.5)),
            ("query_duration", "ms", MetricValue::Float(2.25)),
        ]
    );
    assert_eq!(events[1].properties, [Property::new("table", "trips")]);
    assert_eq!(events[3].properties, [Property::new("rows_out", "3"), Property::new("ok", "true")]);
    assert_eq!(events[0].desc.target, "macros");
    assert!(events.windows(2).all(|w| w[0].time_us <= w[1].time_us));
}

fn span_names(sink: &common::RecordingSink) -> Vec<String> {
    sink.get()
        .thread_blocks
        .iter()
        .flat_map(|b| b.events.iter())
        .map(|e| {
            let kind = match e {
                ThreadEvent::BeginScope { .. } | ThreadEvent::BeginNamedScope { .. } => "begin",
                ThreadEvent::EndScope { .. } | ThreadEvent::EndNamedScope { .. } => "end",
                ThreadEvent::BeginAsyncScope { .. } => "begin async",
                ThreadEvent::EndAsyncScope { .. } => "end async",
            };
            format!("{kind} {}", e.name())
        })
        .collect()
}

#[test]
fn span_scopes_nest_and_end_at_the_end_of_their_block() {
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        span_scope!("outer");
        {
            span_scope!("inner");
            span_scope!("sibling");
            let id = 7;
            span_scope_named!(format!("query {id}"));
        }
        qe_tracing::dispatch::flush();
    });
    // "outer" ends after the flush, with the body: the shutdown hands over that last block.
    assert_eq!(
        span_names(&sink),
        [
            "begin outer",
            "begin inner",
            "begin sibling",
            "begin query 7",
            "end query 7",
            "end sibling",
            "end inner",
            "end outer",
        ]
    );
    assert_eq!(sink.get().thread_blocks.len(), 2);
}

#[test]
fn span_events_carry_their_call_site() {
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        {
            span_scope!("located");
        }
        qe_tracing::dispatch::flush();
    });
    let recorded = sink.get();
    match &recorded.thread_blocks[0].events[0] {
        ThreadEvent::BeginScope { desc, time_us } => {
            assert_eq!((desc.name, desc.target), ("located", "macros"));
            assert!(desc.file.ends_with("macros.rs") && desc.line > 0);
            assert!(*time_us > 0);
        }
        other => panic!("expected BeginScope, got {other:?}"),
    }
}

#[test]
fn macros_do_nothing_without_a_dispatch() {
    let _serial = common::serial();
    assert!(!qe_tracing::dispatch::is_initialized());
    error!("nobody listens");
    imetric!("m", "count", 1);
    span_scope!("s");
}
