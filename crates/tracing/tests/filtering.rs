//! Levels and the level filter: what is below the filter never reaches the sink.

mod common;

use common::with_dispatch;
use qe_tracing::levels::{self, FilterSpec};
use qe_tracing::prelude::*;
use qe_tracing::{DispatchConfig, Error};

#[test]
fn levels_parse_and_print() {
    assert_eq!("INFO".parse::<Level>().unwrap(), Level::Info);
    assert_eq!(" warning ".parse::<Level>().unwrap(), Level::Warn);
    assert_eq!("off".parse::<LevelFilter>().unwrap(), LevelFilter::Off);
    assert_eq!("Trace".parse::<LevelFilter>().unwrap(), LevelFilter::Trace);
    assert_eq!(Level::Error.to_string(), "ERROR");
    assert_eq!(format!("[{:<5}]", Level::Warn), "[WARN ]");
    let err = "loud".parse::<Level>().unwrap_err();
    assert_eq!(err, Error::InvalidLevel { text: "loud".into() });
    assert!(err.to_string().contains("'loud' is not a log level"), "{err}");
    assert!("off".parse::<Level>().is_err(), "off is a filter, not a level");
}

#[test]
fn filters_order_levels() {
    assert!(Level::Error < Level::Trace);
    assert!(LevelFilter::Info.allows(Level::Error));
    assert!(LevelFilter::Info.allows(Level::Info));
    assert!(!LevelFilter::Info.allows(Level::Debug));
    assert!(!LevelFilter::Off.allows(Level::Error));
    assert!(LevelFilter::Trace.allows(Level::Trace));
    assert_eq!(LevelFilter::from(Level::Warn), LevelFilter::Warn);
}

#[test]
fn filter_specs_pick_the_longest_matching_target() {
    let spec = FilterSpec::parse("warn, engine=debug, engine::io=off, engine::io::fast=trace").unwrap();
    assert_eq!(spec.default_filter(), LevelFilter::Warn);
    assert_eq!(spec.filter_for("other"), LevelFilter::Warn);
    assert_eq!(spec.filter_for("engine"), LevelFilter::Debug);
    assert_eq!(spec.filter_for("engine::plan"), LevelFilter::Debug);
    assert_eq!(spec.filter_for("engine::io"), LevelFilter::Off);
    assert_eq!(spec.filter_for("engine::io::slow"), LevelFilter::Off);
    assert_eq!(spec.filter_for("engine::io::fast"), LevelFilter::Trace);
    // Prefixes match at `::` boundaries only.
    assert_eq!(spec.filter_for("engine_x"), LevelFilter::Warn);
    assert_eq!(spec.max_filter(), LevelFilter::Trace);
    assert_eq!(spec.to_string(), "warn,engine=debug,engine::io=off,engine::io::fast=trace");
    assert_eq!(FilterSpec::parse("engine=trace").unwrap().default_filter(), levels::DEFAULT_FILTER);
    assert_eq!(FilterSpec::parse("").unwrap(), FilterSpec::default());
}

#[test]
fn bad_filter_specs_say_which_directive() {
    let err = FilterSpec::parse("info,engine=loud").unwrap_err();
    match &err {
        Error::InvalidFilter { spec, directive, .. } => {
            assert_eq!((spec.as_str(), directive.as_str()), ("info,engine=loud", "engine=loud"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("'loud' is not a log level"), "{err}");
    assert!(FilterSpec::parse("=debug").is_err());
    assert!(FilterSpec::parse("bogus").is_err());
}

#[test]
fn events_below_the_filter_never_reach_the_sink() {
    let sink = with_dispatch(DispatchConfig::default(), |_| {
        levels::set_max_level(LevelFilter::Warn);
        error!("kept error");
        warn!("kept warn");
        info!("dropped info");
        debug!("dropped debug");
        trace!("dropped trace");
        levels::set_max_level(LevelFilter::Off);
        error!("dropped error");
        qe_tracing::dispatch::flush();
    });
    assert_eq!(sink.messages(), ["kept error", "kept warn"]);
    assert_eq!(sink.block_messages(), ["kept error", "kept warn"], "nor the buffered blocks");
}

#[test]
fn per_target_filters_and_runtime_changes() {
    fn emit() {
        debug!(target: "engine::plan", "plan debug");
        debug!(target: "other", "other debug");
        info!(target: "engine::io", "io info");
        info!(target: "other", "other info");
    }
    let sink = with_dispatch(DispatchConfig::default(), |sink| {
        levels::set_filter_str("info,engine=debug,engine::io=warn").unwrap();
        emit();
        assert_eq!(sink.messages(), ["plan debug", "other info"]);
        // The call sites cached their verdicts; a new filter invalidates them.
        levels::set_max_level(LevelFilter::Trace);
        emit();
    });
    assert_eq!(sink.messages(), ["plan debug", "other info", "plan debug", "other debug", "io info", "other info"]);
}

#[test]
fn the_sink_can_refuse_levels() {
    let sink = with_dispatch(DispatchConfig::default(), |sink| {
        sink.refuse.lock().unwrap().push(Level::Debug);
        debug!("refused");
        info!("accepted");
        qe_tracing::dispatch::flush();
    });
    assert_eq!(sink.messages(), ["accepted"]);
    assert_eq!(sink.block_messages(), ["accepted"]);
}

#[test]
fn the_filter_in_force_can_be_read_back() {
    let _serial = common::serial();
    levels::set_filter_str("error,engine=trace").unwrap();
    assert_eq!(levels::max_level(), LevelFilter::Trace);
    assert_eq!(levels::filter_for("engine::x"), LevelFilter::Trace);
    assert_eq!(levels::filter_for("x"), LevelFilter::Error);
    assert_eq!(levels::filter().to_string(), "error,engine=trace");
    assert!(levels::set_filter_str("engine=").is_err());
    assert_eq!(levels::filter().to_string(), "error,engine=trace", "a bad spec changes nothing");
    levels::set_max_level(levels::DEFAULT_FILTER);
}
