//! DataFusion compiled for the browser.
//!
//! `WasmQueryEngine` holds one single-partition `SessionContext`. Tables go in as Arrow IPC
//! *stream* bytes and results come out as Arrow IPC stream bytes whose types apache-arrow JS
//! (<= 21) can decode: view types are cast to their plain equivalents on the way out.
//!
//! The engine logic lives in [`engine`] and is plain Rust (testable natively); this file only
//! adapts it to JavaScript.

pub mod engine;

use engine::{Engine, EngineError};
use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
mod panic_report {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = console, js_name = error)]
        fn console_error(message: &str);
    }

    /// A panic aborts (a wasm trap, "RuntimeError: unreachable") and says nothing about why;
    /// this puts the panic message and location in the console first. The release build uses
    /// panic=immediate-abort for size (Cargo.toml), which traps before any hook runs: drop that
    /// rustflag from [package.metadata.wasm-qe-toolchain] to get the message while debugging.
    pub fn install() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                console_error(&format!(
                    "datafusion-wasm panicked: {info}\nThis instance is now unusable: load the module again."
                ))
            }))
        });
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod panic_report {
    /// Natively the default hook already prints the panic.
    pub fn install() {}
}

fn to_js(err: EngineError) -> JsValue {
    js_sys::Error::new(&err.to_string()).into()
}

/// A DataFusion SQL engine with tables registered from Arrow IPC streams.
#[wasm_bindgen]
pub struct WasmQueryEngine {
    inner: Engine,
}

#[wasm_bindgen]
impl WasmQueryEngine {
    /// A new engine with no tables (single partition: there is no thread pool in the browser).
    #[wasm_bindgen(constructor)]
    pub fn new() -> WasmQueryEngine {
        panic_report::install();
        // Once per page (idempotent): the engine's logs become "[LEVEL] message" console lines.
        qe_telemetry_sink::init_telemetry();
        WasmQueryEngine { inner: Engine::new() }
    }

    /// Which log lines reach the console: "off", "error", "warn", "info" (the default), "debug",
    /// "trace", or per module, e.g. "warn,datafusion_wasm=debug".
    pub fn set_log_filter(spec: &str) -> Result<(), JsValue> {
        qe_tracing::levels::set_filter_str(spec).map_err(|e| js_sys::Error::new(&e.to_string()).into())
    }

    /// Registers a complete Arrow IPC stream (schema, batches, end-of-stream) as table `name`,
    /// replacing any table of that name. Returns the number of rows registered.
    pub fn register_table(&self, name: &str, ipc_stream: &[u8]) -> Result<f64, JsValue> {
        self.inner.register_table(name, ipc_stream).map(|rows| rows as f64).map_err(to_js)
    }

    /// Runs one SQL statement and returns its result as Arrow IPC stream bytes.
    pub async fn execute_sql(&self, sql: String) -> Result<Vec<u8>, JsValue> {
        self.inner.execute_sql(&sql).map_err(to_js)
    }

    /// Runs `sql`, registers its result as table `name` and returns the result as IPC bytes.
    pub async fn execute_and_register(&self, sql: String, name: String) -> Result<Vec<u8>, JsValue> {
        self.inner.execute_and_register(&sql, &name).map_err(to_js)
    }

    /// The contents of registered table `name` as Arrow IPC stream bytes.
    pub async fn read_table_ipc(&self, name: String) -> Result<Vec<u8>, JsValue> {
        self.inner.read_table_ipc(&name).map_err(to_js)
    }

    /// Removes table `name`; an error if there is no such table.
    pub fn deregister_table(&self, name: &str) -> Result<(), JsValue> {
        self.inner.deregister_table(name).map_err(to_js)
    }

    /// Removes every registered table.
    pub fn reset(&self) {
        self.inner.reset()
    }

    /// The names of the registered tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    /// The DataFusion version this engine was built with.
    pub fn datafusion_version() -> String {
        engine::DATAFUSION_VERSION.to_string()
    }
}

impl Default for WasmQueryEngine {
    fn default() -> Self {
        Self::new()
    }
}
