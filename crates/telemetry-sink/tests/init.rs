//! The native `init_telemetry` in a process of its own: it installs the stderr sink for good.

use qe_tracing::prelude::*;
use qe_tracing::{dispatch, LevelFilter};

#[test]
fn init_telemetry_installs_a_stderr_dispatch_once() {
    std::env::set_var(qe_telemetry_sink::FILTER_ENV_VAR, "warn,init=debug");
    assert!(!dispatch::is_initialized());
    qe_telemetry_sink::init_telemetry();
    assert!(dispatch::is_initialized());
    let first = dispatch::sink().unwrap();
    qe_telemetry_sink::init_telemetry();
    assert!(std::sync::Arc::ptr_eq(&first, &dispatch::sink().unwrap()), "the second call changed nothing");
    assert_eq!(qe_tracing::levels::filter_for("init"), LevelFilter::Debug);
    assert_eq!(qe_tracing::levels::filter_for("other"), LevelFilter::Warn);
    info!("printed on stderr by the local sink");
}
