//! Log levels and the process-wide level filter.
//!
//! The filter is a default level plus per-target directives (`"warn,engine=debug,engine::io=off"`:
//! the longest matching target prefix wins, at `::` boundaries). An event whose level the filter
//! excludes is dropped before its arguments are formatted and never reaches the sink. Each log
//! call site caches its verdict until the filter changes.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::RwLock;

use crate::Error;

/// The severity of a log event (most severe first: `Error < Warn < ... < Trace`).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    pub const ALL: [Level; 5] = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];

    /// Upper case, as printed: `"ERROR"`, `"WARN"`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Level {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match LevelFilter::from_str(text)? {
            LevelFilter::Off => Err(Error::InvalidLevel { text: text.to_string() }),
            filter => Ok(Level::ALL[filter as usize - 1]),
        }
    }
}

/// The most verbose level let through, or nothing at all.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LevelFilter {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl LevelFilter {
    pub const fn allows(self, level: Level) -> bool {
        level as u8 <= self as u8
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            LevelFilter::Off => "OFF",
            LevelFilter::Error => "ERROR",
            LevelFilter::Warn => "WARN",
            LevelFilter::Info => "INFO",
            LevelFilter::Debug => "DEBUG",
            LevelFilter::Trace => "TRACE",
        }
    }

    const fn from_u8(value: u8) -> LevelFilter {
        match value {
            0 => LevelFilter::Off,
            1 => LevelFilter::Error,
            2 => LevelFilter::Warn,
            3 => LevelFilter::Info,
            4 => LevelFilter::Debug,
            _ => LevelFilter::Trace,
        }
    }
}

impl From<Level> for LevelFilter {
    fn from(level: Level) -> Self {
        LevelFilter::from_u8(level as u8)
    }
}

impl fmt::Display for LevelFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for LevelFilter {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(LevelFilter::Off),
            "error" => Ok(LevelFilter::Error),
            "warn" | "warning" => Ok(LevelFilter::Warn),
            "info" => Ok(LevelFilter::Info),
            "debug" => Ok(LevelFilter::Debug),
            "trace" => Ok(LevelFilter::Trace),
            _ => Err(Error::InvalidLevel { text: text.to_string() }),
        }
    }
}

/// The filter used until one is set.
pub const DEFAULT_FILTER: LevelFilter = LevelFilter::Info;

/// A default level and per-target overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    default: LevelFilter,
    directives: Vec<(String, LevelFilter)>,
}

impl FilterSpec {
    pub fn new(default: LevelFilter) -> Self {
        FilterSpec { default, directives: Vec::new() }
    }

    /// Events whose target is `target` or under it (`target::...`) use `filter` instead.
    pub fn with_target(mut self, target: impl Into<String>, filter: LevelFilter) -> Self {
        let target = target.into();
        self.directives.retain(|(t, _)| *t != target);
        self.directives.push((target, filter));
        self
    }

    /// `"info"`, `"warn,engine=debug"`, `"engine=trace"` (default stays info), `"off"`.
    pub fn parse(spec: &str) -> Result<Self, Error> {
        let invalid = |directive: &str, reason: String| Error::InvalidFilter {
            spec: spec.to_string(),
            directive: directive.to_string(),
            reason,
        };
        let mut filter = FilterSpec::new(DEFAULT_FILTER);
        for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                None => filter.default = directive.parse().map_err(|e: Error| invalid(directive, e.to_string()))?,
                Some((target, level)) => {
                    let target = target.trim();
                    if target.is_empty() || target.contains(char::is_whitespace) {
                        return Err(invalid(directive, "the target must be a non-empty module path".into()));
                    }
                    let level = level.parse().map_err(|e: Error| invalid(directive, e.to_string()))?;
                    filter = filter.with_target(target, level);
                }
            }
        }
        Ok(filter)
    }

    pub fn default_filter(&self) -> LevelFilter {
        self.default
    }

    /// The filter for events of `target`: the longest matching directive, else the default.
    pub fn filter_for(&self, target: &str) -> LevelFilter {
        self.directives
            .iter()
            .filter(|(prefix, _)| target_matches(target, prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.default, |(_, filter)| *filter)
    }

    /// The most verbose filter anywhere in the spec: nothing more verbose can pass.
    pub fn max_filter(&self) -> LevelFilter {
        self.directives.iter().map(|(_, f)| *f).fold(self.default, LevelFilter::max)
    }
}

impl Default for FilterSpec {
    fn default() -> Self {
        FilterSpec::new(DEFAULT_FILTER)
    }
}

impl FromStr for FilterSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self, Error> {
        FilterSpec::parse(spec)
    }
}

impl fmt::Display for FilterSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.default.as_str().to_ascii_lowercase())?;
        for (target, filter) in &self.directives {
            write!(f, ",{target}={}", filter.as_str().to_ascii_lowercase())?;
        }
        Ok(())
    }
}

fn target_matches(target: &str, prefix: &str) -> bool {
    target == prefix || (target.starts_with(prefix) && target[prefix.len()..].starts_with("::"))
}

static FILTER: RwLock<Option<FilterSpec>> = RwLock::new(None);
static MAX_LEVEL: AtomicU8 = AtomicU8::new(DEFAULT_FILTER as u8);
/// Bumped on every change; call sites cache (generation, verdict). Starts at 1: 0 means "no cache".
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Installs `spec` as the process-wide filter.
pub fn set_filter(spec: FilterSpec) {
    let mut slot = FILTER.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    MAX_LEVEL.store(spec.max_filter() as u8, Ordering::Release);
    *slot = Some(spec);
    // Bumped while the lock is held: whoever sees the new generation reads the new spec.
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Parses and installs a filter specification such as `"warn,engine=debug"`.
pub fn set_filter_str(spec: &str) -> Result<(), Error> {
    set_filter(FilterSpec::parse(spec)?);
    Ok(())
}

/// One level for every target.
pub fn set_max_level(filter: LevelFilter) {
    set_filter(FilterSpec::new(filter));
}

/// The filter in force.
pub fn filter() -> FilterSpec {
    FILTER.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone().unwrap_or_default()
}

/// The most verbose level any target lets through.
pub fn max_level() -> LevelFilter {
    LevelFilter::from_u8(MAX_LEVEL.load(Ordering::Acquire))
}

/// The filter for events of `target`.
pub fn filter_for(target: &str) -> LevelFilter {
    let slot = FILTER.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    slot.as_ref().map_or(DEFAULT_FILTER, |spec| spec.filter_for(target))
}

pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// A call site's cached verdict: `generation << 8 | filter`, 0 when not computed yet.
pub(crate) struct FilterCache(AtomicU64);

impl FilterCache {
    pub(crate) const fn new() -> Self {
        FilterCache(AtomicU64::new(0))
    }

    pub(crate) fn filter_for(&self, target: &str) -> LevelFilter {
        let generation = generation();
        let cached = self.0.load(Ordering::Acquire);
        if cached != 0 && cached >> 8 == generation {
            return LevelFilter::from_u8((cached & 0xff) as u8);
        }
        let filter = filter_for(target);
        // If the filter changed meanwhile, the stale generation stored here forces a recompute.
        self.0.store(generation << 8 | filter as u64, Ordering::Release);
        filter
    }
}
