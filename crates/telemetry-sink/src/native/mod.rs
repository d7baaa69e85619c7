//! Native: the builder, the stderr sink, the in-memory sink and a fan-out sink.

mod composite;
mod in_memory;
mod local;

use std::sync::{Arc, OnceLock};

pub use composite::CompositeSink;
pub use in_memory::{InMemorySink, RecordedLog};
pub use local::LocalEventSink;
use qe_tracing::levels::{self, FilterSpec};
use qe_tracing::{DispatchConfig, EventSink, LevelFilter, TracingSystemGuard};

use crate::Error;

/// Runs telemetry until dropped: flushes the partial blocks to the sinks, then shuts down.
#[must_use = "dropping the guard shuts telemetry down at once"]
#[derive(Debug)]
pub struct TelemetryGuard {
    _tracing: TracingSystemGuard,
}

/// Sets up the dispatch: which sinks, which level filter, how big the blocks are.
pub struct TelemetryGuardBuilder {
    config: DispatchConfig,
    local_sink: Option<LevelFilter>,
    sinks: Vec<Arc<dyn EventSink>>,
    filter: Option<FilterSpec>,
    filter_env_var: Option<String>,
}

impl Default for TelemetryGuardBuilder {
    fn default() -> Self {
        TelemetryGuardBuilder {
            config: DispatchConfig::default(),
            local_sink: Some(LevelFilter::Trace),
            sinks: Vec::new(),
            filter: None,
            filter_env_var: None,
        }
    }
}

impl TelemetryGuardBuilder {
    /// The stderr sink is on by default (letting through whatever the level filter does).
    pub fn with_local_sink_enabled(mut self, enabled: bool) -> Self {
        self.local_sink = enabled.then_some(self.local_sink.unwrap_or(LevelFilter::Trace));
        self
    }

    /// What the stderr sink prints, on top of the process-wide filter.
    pub fn with_local_sink_max_level(mut self, level: LevelFilter) -> Self {
        self.local_sink = Some(level);
        self
    }

    /// Another sink receiving every event (an [`InMemorySink`], a transport...).
    pub fn with_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// The process-wide level filter (default: info).
    pub fn with_max_level(mut self, level: LevelFilter) -> Self {
        self.filter = Some(FilterSpec::new(level));
        self
    }

    /// The process-wide filter with per-target directives.
    pub fn with_filter(mut self, filter: FilterSpec) -> Self {
        self.filter = Some(filter);
        self
    }

    /// If environment variable `name` is set, its filter specification wins over
    /// [`with_max_level`](Self::with_max_level) / [`with_filter`](Self::with_filter); a bad one
    /// makes [`build`](Self::build) fail.
    pub fn with_filter_from_env(mut self, name: impl Into<String>) -> Self {
        self.filter_env_var = Some(name.into());
        self
    }

    pub fn with_dispatch_config(mut self, config: DispatchConfig) -> Self {
        self.config = config;
        self
    }

    /// Events per block, for logs, metrics and spans alike.
    pub fn with_block_size(mut self, events: usize) -> Self {
        self.config = self.config.with_block_size(events);
        self
    }

    /// A property of the process description the sinks receive at startup.
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config = self.config.with_property(name, value);
        self
    }

    /// Installs the filter and starts the dispatch. Fails, changing nothing, if the filter from
    /// the environment does not parse or a dispatch already runs.
    pub fn build(self) -> Result<TelemetryGuard, Error> {
        let mut filter = self.filter.unwrap_or_default();
        if let Some(var) = &self.filter_env_var {
            if let Ok(spec) = std::env::var(var) {
                filter = FilterSpec::parse(&spec)
                    .map_err(|e| Error::new(format!("reading the log filter from ${var}"), e))?;
            }
        }
        let mut sinks = self.sinks;
        if let Some(level) = self.local_sink {
            sinks.insert(0, Arc::new(LocalEventSink::stderr(level)));
        }
        let sink: Arc<dyn EventSink> = match sinks.len() {
            1 => sinks.pop().expect("one sink"),
            _ => Arc::new(CompositeSink::new(sinks)),
        };
        if qe_tracing::dispatch::is_initialized() {
            return Err(Error::new("starting telemetry", qe_tracing::Error::AlreadyInitialized));
        }
        let previous = levels::filter();
        levels::set_filter(filter);
        match TracingSystemGuard::new(self.config, sink) {
            Ok(guard) => Ok(TelemetryGuard { _tracing: guard }),
            Err(e) => {
                levels::set_filter(previous);
                Err(Error::new("starting telemetry", e))
            }
        }
    }
}

/// Logs to stderr for the rest of the process, with the filter from `$QE_LOG` (default info).
/// Idempotent, and quiet if something else already set up telemetry; a bad `$QE_LOG` is reported
/// on stderr and the default filter used. Code built for native and wasm32 alike can call this.
pub fn init_telemetry() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if qe_tracing::dispatch::is_initialized() {
            return;
        }
        let builder = TelemetryGuardBuilder::default().with_filter_from_env(crate::FILTER_ENV_VAR);
        let guard = builder.build().or_else(|e| {
            eprintln!("qe-telemetry-sink: {e}; using the default filter");
            TelemetryGuardBuilder::default().build()
        });
        // For the process lifetime: the stderr sink prints as events happen, so nothing waits
        // for a flush at exit.
        if let Ok(guard) = guard {
            std::mem::forget(guard);
        }
    });
}
