//! The engine's IPC validator, compiled natively from its one source file (see Cargo.toml).
#[path = "../../datafusion-wasm/src/ipc_guard.rs"]
pub mod ipc_guard;
