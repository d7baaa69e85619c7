use std::fmt;

/// A failure to set up telemetry: what was being done, and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub context: String,
    pub source: qe_tracing::Error,
}

impl Error {
    pub fn new(context: impl Into<String>, source: qe_tracing::Error) -> Self {
        Error { context: context.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
