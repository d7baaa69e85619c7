use std::collections::BTreeMap;

use crate::Error;

/// How the dispatch buffers events, and the properties it adds to the process description.
///
/// Block sizes count events; a stream hands its block to the sink when it holds that many. On
/// wasm32 nothing is buffered and the sizes are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchConfig {
    pub log_block_size: usize,
    pub metrics_block_size: usize,
    pub thread_block_size: usize,
    /// Added to [`crate::process_info::ProcessInfo::properties`] (what `on_startup` receives).
    pub properties: BTreeMap<String, String>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            log_block_size: 1024,
            metrics_block_size: 1024,
            thread_block_size: 4096,
            properties: BTreeMap::new(),
        }
    }
}

impl DispatchConfig {
    /// The same block size for logs, metrics and spans.
    pub fn with_block_size(mut self, events: usize) -> Self {
        self.log_block_size = events;
        self.metrics_block_size = events;
        self.thread_block_size = events;
        self
    }

    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    pub fn validate(&self) -> Result<(), Error> {
        for (field, size) in [
            ("log_block_size", self.log_block_size),
            ("metrics_block_size", self.metrics_block_size),
            ("thread_block_size", self.thread_block_size),
        ] {
            if size == 0 {
                return Err(Error::InvalidConfig { field, reason: "a block must hold at least one event".into() });
            }
        }
        Ok(())
    }
}
