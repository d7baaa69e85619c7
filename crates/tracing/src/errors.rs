use std::fmt;

/// What went wrong, with what was being set up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// `init_event_dispatch` was called while a dispatch is running.
    AlreadyInitialized,
    /// A level name that is not one of off, error, warn, info, debug, trace.
    InvalidLevel { text: String },
    /// A filter specification (`"info,engine=debug"`) with a bad directive.
    InvalidFilter { spec: String, directive: String, reason: String },
    /// A configuration value out of range.
    InvalidConfig { field: &'static str, reason: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyInitialized => write!(
                f,
                "the event dispatch is already initialised (shut it down with dispatch::shutdown_dispatch \
                 or by dropping its guard before initialising again)"
            ),
            Error::InvalidLevel { text } => {
                write!(f, "'{text}' is not a log level (expected off, error, warn, info, debug or trace)")
            }
            Error::InvalidFilter { spec, directive, reason } => write!(
                f,
                "invalid log filter '{spec}': directive '{directive}': {reason} \
                 (expected e.g. \"info\" or \"warn,my_crate=debug,my_crate::io=off\")"
            ),
            Error::InvalidConfig { field, reason } => write!(f, "invalid dispatch configuration: {field}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
