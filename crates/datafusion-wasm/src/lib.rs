//! DataFusion compiled for the browser.
//!
//! `WasmQueryEngine` holds one single-partition `SessionContext`. Tables go in as Arrow IPC
//! *stream* bytes and results come out as Arrow IPC stream bytes whose types apache-arrow JS
//! (<= 21) can decode: view types are cast to their plain equivalents on the way out.
//!
//! The engine logic lives in [`engine`] and is plain Rust (testable natively); this file only
//! adapts it to JavaScript.

mod conjunct_order;
pub mod engine;
pub mod ffi;
#[cfg(feature = "functions")]
pub mod functions;
pub mod ipc_guard;
mod join_order;

/// The `talc` feature: talc as the global allocator instead of std's dlmalloc (a speed lever of
/// issue 16, measured in docs/speed.md). Single-threaded wasm only, which is what the engine is.
#[cfg(all(feature = "talc", target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
mod output_guard;
mod scan_filters;
mod sort_order;
pub mod sql_guard;
pub mod udf;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

// ---------------------------------------------------------------- a lost instance says so
//
// A trap (a panic under panic=immediate-abort, an out-of-bounds access, the browser's stack
// limit) unwinds nothing: Rust's state is left wherever the trap hit it (a half-moved table, a
// held borrow, the stack pointer). Running on would compute on corrupted memory. Every exported
// call therefore marks the instance busy on entry and clears the mark on return; a call that
// finds the mark still set knows an earlier call never returned, and refuses with an
// `InstanceLostError` that names it. wasm32 here has one thread, so the mark cannot race.

static IN_CALL: AtomicBool = AtomicBool::new(false);
static LAST_CALL: AtomicUsize = AtomicUsize::new(0);
const CALLS: [&str; 17] = [
    "none",
    "new",
    "register_table",
    "execute_sql",
    "execute_and_register",
    "read_table_ipc",
    "deregister_table",
    "reset",
    "table_names",
    "set_log_filter",
    "set_statement_timeout_ms",
    "register_udf",
    "deregister_udf",
    "memory_usage",
    "set_table_memory_limit",
    "execute_sql_ffi",
    "read_table_ffi",
];

struct CallGuard;

impl Drop for CallGuard {
    fn drop(&mut self) {
        IN_CALL.store(false, Ordering::SeqCst);
    }
}

fn enter(call: usize) -> Result<CallGuard, JsValue> {
    if IN_CALL.swap(true, Ordering::SeqCst) {
        let lost = CALLS[LAST_CALL.load(Ordering::SeqCst)];
        let error = js_sys::Error::new(&format!(
            "this datafusion-wasm instance is lost: an earlier call ({lost}) never returned. It \
             trapped (a Rust panic, an out-of-bounds access, a stack overflow, or an exception \
             thrown by a JS function it called), so its memory may be corrupt; or this call was \
             made from inside it (a callback), which the engine does not support. Its tables are \
             gone: load the module again (a new WebAssembly instance) and register them anew."
        ));
        error.set_name("InstanceLostError");
        return Err(error.into());
    }
    LAST_CALL.store(call, Ordering::SeqCst);
    Ok(CallGuard)
}

/// A promise settled before it is returned: the work ran synchronously (there is no thread to
/// hand it to), so a trap throws at the call instead of leaving a promise that never settles.
fn settled(result: Result<JsValue, JsValue>) -> js_sys::Promise {
    match result {
        Ok(value) => js_sys::Promise::resolve(&value),
        Err(error) => js_sys::Promise::reject(&error),
    }
}

fn ipc_bytes(result: Result<Vec<u8>, EngineError>) -> Result<JsValue, JsValue> {
    result.map(|bytes| js_sys::Uint8Array::from(bytes.as_slice()).into()).map_err(to_js)
}

#[wasm_bindgen(typescript_custom_section)]
const MEMORY_USAGE_TS: &str = r#"
/** What WasmQueryEngine.memory_usage() returns. */
export interface MemoryUsage {
  /** Sorted by name. `bytes`: the table's buffer allocations, each once; a view holds none. */
  tables: Array<{ name: string; kind: "table" | "view"; rows: number; bytes: number }>;
  /** What the tables hold together (a buffer two tables share counts once). */
  tables_bytes: number;
  /** The instance's WebAssembly memory (it never shrinks). */
  wasm_memory_bytes: number;
  /** The table memory limit; null without one. */
  limit_bytes: number | null;
}
"#;

/// A plain object from key/value pairs.
fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in entries {
        // Setting a property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

/// A result exported through the Arrow C Data Interface (src/ffi.rs): an `ArrowSchema` and one
/// `ArrowArray` per batch at addresses in `memory()`. js/ffi_reader.js reads it; `free()` releases
/// it (the structs and every buffer only they kept alive).
#[wasm_bindgen]
pub struct FfiResult {
    export: ffi::FfiExport,
}

impl FfiResult {
    fn new(schema: &arrow::datatypes::SchemaRef, batches: &[arrow::array::RecordBatch]) -> Result<FfiResult, JsValue> {
        let export = ffi::FfiExport::new(schema, batches).map_err(|e| JsValue::from(js_sys::Error::new(&e)))?;
        Ok(FfiResult { export })
    }
}

#[wasm_bindgen]
impl FfiResult {
    /// The address of the `ArrowSchema`: a struct ("+s") with one child per column.
    pub fn schema_address(&self) -> usize {
        self.export.schema_address()
    }

    /// How many batches (one `ArrowArray` each) the result has.
    pub fn batch_count(&self) -> usize {
        self.export.batch_count()
    }

    /// The address of batch `index`'s `ArrowArray`: a struct array, one child per column.
    pub fn array_address(&self, index: usize) -> Result<usize, JsValue> {
        self.export.array_address(index).ok_or_else(|| {
            js_sys::Error::new(&format!("batch {index} does not exist: the result has {}", self.export.batch_count()))
                .into()
        })
    }

    /// The rows of every batch.
    pub fn num_rows(&self) -> f64 {
        self.export.num_rows() as f64
    }

    /// The `WebAssembly.Memory` the addresses point into.
    pub fn memory() -> JsValue {
        wasm_bindgen::memory()
    }
}

/// A DataFusion SQL engine with tables registered from Arrow IPC streams.
///
/// Table names are exact (case-sensitive, any characters) in every method; in SQL unquoted
/// identifiers are lowercased, so a table registered as `MyTable` is `"MyTable"` in a statement.
#[wasm_bindgen]
pub struct WasmQueryEngine {
    // AssertUnwindSafe: built with panic=unwind, wasm-bindgen catches a panic at the export and
    // requires the receiver to be unwind-safe. The catalog swaps a table in only once it is
    // complete (Engine::replace_table) and DataFusion's session state sits behind locks that a
    // panic does not leave half-written, so a caught panic leaves the engine usable. (The shipped
    // build aborts on panic; see docs/engine.md.)
    inner: std::panic::AssertUnwindSafe<Engine>,
}

#[wasm_bindgen]
impl WasmQueryEngine {
    /// A new engine with no tables (single partition: there is no thread pool in the browser).
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<WasmQueryEngine, JsValue> {
        let _call = enter(1)?;
        panic_report::install();
        // Once per page (idempotent): the engine's logs become "[LEVEL] message" console lines.
        qe_telemetry_sink::init_telemetry();
        Ok(WasmQueryEngine { inner: std::panic::AssertUnwindSafe(Engine::new()) })
    }

    /// False once a call has trapped: the instance (every engine in it) must not be used again.
    pub fn is_usable() -> bool {
        !IN_CALL.load(Ordering::SeqCst)
    }

    /// Which log lines reach the console: "off", "error", "warn", "info" (the default), "debug",
    /// "trace", or per module, e.g. "warn,datafusion_wasm=debug".
    pub fn set_log_filter(spec: &str) -> Result<(), JsValue> {
        let _call = enter(9)?;
        qe_tracing::levels::set_filter_str(spec).map_err(|e| js_sys::Error::new(&e.to_string()).into())
    }

    /// Statements running longer than `ms` milliseconds fail with "statement timeout" (0: no
    /// limit, the default). Checked whenever the running plan yields, every few batches.
    pub fn set_statement_timeout_ms(&self, ms: f64) -> Result<(), JsValue> {
        let _call = enter(10)?;
        self.inner.set_statement_timeout_ms(ms);
        Ok(())
    }

    /// Registers a complete Arrow IPC stream (schema, batches, end-of-stream) as table `name`,
    /// replacing any table of exactly that name. Returns the number of rows registered.
    pub fn register_table(&self, name: &str, ipc_stream: &[u8]) -> Result<f64, JsValue> {
        let _call = enter(2)?;
        self.inner.register_table(name, ipc_stream).map(|rows| rows as f64).map_err(to_js)
    }

    /// Runs one SQL statement and returns its result as Arrow IPC stream bytes.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn execute_sql(&self, sql: String) -> js_sys::Promise {
        settled(enter(3).and_then(|_call| ipc_bytes(self.inner.execute_sql(&sql))))
    }

    /// Runs `sql`, registers its result as table `name` and returns the result as IPC bytes.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn execute_and_register(&self, sql: String, name: String) -> js_sys::Promise {
        settled(enter(4).and_then(|_call| ipc_bytes(self.inner.execute_and_register(&sql, &name))))
    }

    /// The contents of registered table `name` as Arrow IPC stream bytes.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn read_table_ipc(&self, name: String) -> js_sys::Promise {
        settled(enter(5).and_then(|_call| ipc_bytes(self.inner.read_table_ipc(&name))))
    }

    /// Removes table `name`; an error if there is no such table.
    pub fn deregister_table(&self, name: &str) -> Result<(), JsValue> {
        let _call = enter(6)?;
        self.inner.deregister_table(name).map_err(to_js)
    }

    /// Removes every registered table.
    pub fn reset(&self) -> Result<(), JsValue> {
        let _call = enter(7)?;
        self.inner.reset();
        Ok(())
    }

    /// Makes the functions of a WebAssembly UDF module (the `.wasm` of a bundle built by
    /// `nox -s udf -- build`, docs/udf-abi.md) callable from SQL: every manifest function with the
    /// `batch` style, under its manifest name (replacing a built-in of that name until
    /// `deregister_udf`). The module runs in its own WebAssembly instance. Registering under a name
    /// used before replaces that module. Returns the SQL names of the functions.
    pub fn register_udf(&self, name: &str, wasm_bytes: &[u8]) -> Result<Vec<String>, JsValue> {
        let _call = enter(11)?;
        self.inner.register_udf(name, wasm_bytes).map_err(to_js)
    }

    /// Removes the functions of the UDF module registered as `name`; an error if there is none.
    pub fn deregister_udf(&self, name: &str) -> Result<(), JsValue> {
        let _call = enter(12)?;
        self.inner.deregister_udf(name).map_err(to_js)
    }

    /// The names of the registered tables, sorted.
    pub fn table_names(&self) -> Result<Vec<String>, JsValue> {
        let _call = enter(8)?;
        Ok(self.inner.table_names())
    }

    /// What the engine holds: `{tables: [{name, kind, rows, bytes}], tables_bytes,
    /// wasm_memory_bytes, limit_bytes}`. A table's bytes are its buffers' allocations, each once;
    /// `tables_bytes` counts a buffer two tables share once; `wasm_memory_bytes` is the
    /// instance's whole memory (it never shrinks); `limit_bytes` is null without a limit.
    #[wasm_bindgen(unchecked_return_type = "MemoryUsage")]
    pub fn memory_usage(&self) -> Result<JsValue, JsValue> {
        let _call = enter(13)?;
        let usage = self.inner.memory_usage();
        let tables = js_sys::Array::new();
        for table in &usage.tables {
            tables.push(&object(&[
                ("name", JsValue::from_str(&table.name)),
                ("kind", JsValue::from_str(table.kind)),
                ("rows", JsValue::from_f64(table.rows as f64)),
                ("bytes", JsValue::from_f64(table.bytes as f64)),
            ]));
        }
        let number_or_null = |n: Option<usize>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64));
        Ok(object(&[
            ("tables", tables.into()),
            ("tables_bytes", JsValue::from_f64(usage.tables_bytes as f64)),
            ("wasm_memory_bytes", number_or_null(usage.wasm_memory_bytes)),
            ("limit_bytes", number_or_null(usage.limit_bytes)),
        ]))
    }

    /// Registering a table (register_table, execute_and_register, CREATE TABLE ... AS) or
    /// inserting into one (INSERT INTO, undone when refused) fails with an error naming the sizes
    /// once the tables would hold more than `bytes` together, before the tab runs out of memory.
    /// 0 (the default) removes the limit.
    pub fn set_table_memory_limit(&self, bytes: f64) -> Result<(), JsValue> {
        let _call = enter(14)?;
        if !(bytes.is_finite() && bytes >= 0.0) {
            return Err(js_sys::Error::new(&format!(
                "set_table_memory_limit: {bytes} is not a number of bytes (0 removes the limit)"
            ))
            .into());
        }
        self.inner.set_table_memory_limit(bytes.min(usize::MAX as f64) as usize);
        Ok(())
    }

    /// Runs one SQL statement and exports its result through the Arrow C Data Interface in this
    /// module's memory (no IPC encoding): read it with `tableFromFFI` (ffi_reader.js). Same-thread
    /// only; release it with `free()` (tableFromFFI does, or a FinalizationRegistry).
    pub fn execute_sql_ffi(&self, sql: &str) -> Result<FfiResult, JsValue> {
        let _call = enter(15)?;
        let (schema, batches) = self.inner.execute_sql_batches(sql).map_err(to_js)?;
        FfiResult::new(&schema, &batches)
    }

    /// Registered table `name` through the Arrow C Data Interface (see execute_sql_ffi).
    pub fn read_table_ffi(&self, name: &str) -> Result<FfiResult, JsValue> {
        let _call = enter(16)?;
        let (schema, batches) = self.inner.read_table_batches(name).map_err(to_js)?;
        FfiResult::new(&schema, &batches)
    }

    /// The DataFusion version this engine was built with.
    pub fn datafusion_version() -> String {
        engine::DATAFUSION_VERSION.to_string()
    }
}
