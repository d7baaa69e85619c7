"""Build, check and test Rust query-engine crates as browser-ready WebAssembly."""

__version__ = "0.1.0"
