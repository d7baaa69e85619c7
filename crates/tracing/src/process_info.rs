//! What the sink is told about the process at startup.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The process (natively) or the page's module instance (wasm32).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Unique enough to tell runs apart: pid and start time natively, start time on wasm32.
    pub process_id: String,
    /// The OS process id; `None` on wasm32.
    pub pid: Option<u32>,
    /// The executable path natively; `"wasm"` on wasm32.
    pub exe: String,
    pub username: String,
    /// Host name natively; the browser's user agent on wasm32 (`"browser"` if there is none).
    pub computer: String,
    pub os: String,
    pub arch: String,
    /// Microseconds since the Unix epoch.
    pub start_time_us: i64,
    /// Ticks per second of the event timestamps ([`crate::time::frequency`]).
    pub tick_frequency: i64,
    /// Set by whoever initialised the dispatch ([`crate::DispatchConfig::properties`]).
    pub properties: BTreeMap<String, String>,
}

/// This process, without properties; collected once.
pub fn process_info() -> Arc<ProcessInfo> {
    static INFO: OnceLock<Arc<ProcessInfo>> = OnceLock::new();
    INFO.get_or_init(|| Arc::new(crate::platform::collect_process_info())).clone()
}
