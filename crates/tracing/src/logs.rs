//! Log call sites.

use crate::levels::{self, FilterCache, Level};

/// A log call site: one `static` per macro invocation.
pub struct LogDesc {
    pub level: Level,
    /// Defaults to the module path of the call site; set with `target: "..."`.
    pub target: &'static str,
    pub module_path: &'static str,
    pub file: &'static str,
    pub line: u32,
    filter: FilterCache,
}

impl LogDesc {
    pub const fn new(
        level: Level,
        target: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
    ) -> Self {
        LogDesc { level, target, module_path, file, line, filter: FilterCache::new() }
    }

    /// Whether the level filter lets this call site through (the sink has its own say).
    pub fn enabled(&self) -> bool {
        if self.level as u8 > levels::max_level() as u8 {
            return false;
        }
        self.filter.filter_for(self.target).allows(self.level)
    }
}

impl std::fmt::Debug for LogDesc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogDesc")
            .field("level", &self.level)
            .field("target", &self.target)
            .field("file", &self.file)
            .field("line", &self.line)
            .finish()
    }
}
