// The dedicated Web Worker behind AsyncQueryEngine (async_engine.js): one WasmQueryEngine in its
// own WebAssembly instance, off the page's main thread.
//
// Protocol (structured clone; ArrayBuffers transferred, never copied twice):
//   main -> worker  {type: "init", settings: {statementTimeoutMs, logFilter, tableMemoryLimit}}
//   worker -> main  {type: "ready", datafusionVersion}  or  {type: "init-error", error}
//   main -> worker  {type: "call", id, method, args}
//   worker -> main  {type: "result", id, value}
//                   {type: "error", id, error}                 the call failed; the instance lives on
//                   {type: "lost", id, error, tables, udfs}    the call trapped; this worker is done
// The main thread sends the next call only once the previous one has answered, so calls run one
// at a time in the order they were made; the worker also chains them in case a caller does not.
// A trap unwinds nothing: the instance cannot be used again (WasmQueryEngine.is_usable() turns
// false), so the worker reports it and the main thread replaces the whole worker (a new instance
// with fresh memory; the dead one's memory goes with the worker).

import init, { WasmQueryEngine } from "./datafusion_wasm.js";

let engine = null;
let lost = false;
// What the instance held after the last call that changed it: named in the "lost" report.
let tables = [];
const udfs = new Set();
let chain = Promise.resolve();

const METHODS = {
  register_table: (name, bytes) => engine.register_table(name, toBytes(bytes)),
  execute_sql: (sql) => engine.execute_sql(sql),
  execute_and_register: (sql, name) => engine.execute_and_register(sql, name),
  read_table_ipc: (name) => engine.read_table_ipc(name),
  deregister_table: (name) => engine.deregister_table(name),
  reset: () => engine.reset(),
  table_names: () => engine.table_names(),
  set_statement_timeout_ms: (ms) => engine.set_statement_timeout_ms(ms),
  set_log_filter: (spec) => WasmQueryEngine.set_log_filter(spec),
  register_udf: (name, bytes) => engine.register_udf(name, toBytes(bytes)),
  deregister_udf: (name) => engine.deregister_udf(name),
  memory_usage: () => engine.memory_usage(),
  set_table_memory_limit: (bytes) => engine.set_table_memory_limit(bytes),
};
const CHANGES_TABLES = new Set(["register_table", "execute_and_register", "deregister_table", "reset"]);

function toBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return value; // the engine reports what it cannot take
}

function describe(error) {
  if (error instanceof Error || (error && typeof error === "object" && "message" in error)) {
    return {name: String(error.name || "Error"), message: String(error.message), stack: String(error.stack || "")};
  }
  return {name: "Error", message: String(error), stack: ""};
}

function usable() {
  try {
    return WasmQueryEngine.is_usable();
  } catch (e) {
    return false;
  }
}

async function start(settings) {
  await init();
  engine = new WasmQueryEngine();
  if (settings.logFilter != null) WasmQueryEngine.set_log_filter(settings.logFilter);
  if (settings.statementTimeoutMs) engine.set_statement_timeout_ms(settings.statementTimeoutMs);
  if (settings.tableMemoryLimit) engine.set_table_memory_limit(settings.tableMemoryLimit);
  return WasmQueryEngine.datafusion_version();
}

async function call({id, method, args}) {
  const run = METHODS[method];
  if (!run) {
    postMessage({type: "error", id, error: {name: "TypeError", message: `AsyncQueryEngine has no method ${method}`, stack: ""}});
    return;
  }
  if (lost || !engine) {
    postMessage({type: "lost", id, error: {name: "InstanceLostError", message: "the engine's instance in this worker is lost", stack: ""}, tables, udfs: [...udfs]});
    return;
  }
  let value;
  try {
    value = await run(...args);
  } catch (error) {
    // A trap (RuntimeError), a stack overflow (RangeError) or an exception thrown through the
    // engine's frames all leave the instance marked busy: is_usable() tells them apart from the
    // engine's own errors, whatever their class.
    if (!usable() || error instanceof WebAssembly.RuntimeError || (error && error.name === "InstanceLostError")) {
      lost = true;
      postMessage({type: "lost", id, error: describe(error), tables, udfs: [...udfs]});
    } else {
      postMessage({type: "error", id, error: describe(error)});
    }
    return;
  }
  if (CHANGES_TABLES.has(method)) tables = engine.table_names();
  if (method === "register_udf") udfs.add(args[0]);
  if (method === "deregister_udf") udfs.delete(args[0]);
  const transfer = value instanceof Uint8Array ? [value.buffer] : [];
  postMessage({type: "result", id, value}, transfer);
}

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "init") {
    chain = chain.then(() => start(message.settings || {})).then(
      (datafusionVersion) => postMessage({type: "ready", datafusionVersion}),
      (error) => {
        lost = true;
        postMessage({type: "init-error", error: describe(error)});
      },
    );
  } else if (message.type === "call") {
    chain = chain.then(() => call(message));
  }
};
