// The engine is not in the entry chunk: import() makes it (its glue and its .wasm, which the
// glue finds with `new URL(..., import.meta.url)`) a separate download, fetched on first use.
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";

let engine = null;

async function loadEngine() {
  if (!engine) {
    const glue = await import("datafusion-wasm");
    await glue.default();
    engine = new glue.WasmQueryEngine();
  }
  return engine;
}

// Registers `rows` (column name -> values) as table `name`, runs `sql`, returns plain rows.
window.runQuery = async (name, columns, sql) => {
  const db = await loadEngine();
  const table = tableFromArrays(
    Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, typeof v[0] === "number" ? Float64Array.from(v) : v])),
  );
  db.register_table(name, tableToIPC(table, "stream"));
  const result = tableFromIPC(await db.execute_sql(sql));
  document.getElementById("status").textContent = `query returned ${result.numRows} rows`;
  return result.toArray().map((row) =>
    Object.fromEntries(Object.entries(row.toJSON()).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v])));
};

// The same query through the worker API (async_engine.js): the engine runs in a Web Worker, which
// Vite finds by its `new Worker(new URL("./engine_worker.js", import.meta.url))` and bundles with
// the glue; the worker fetches the same .wasm asset.
let asyncEngine = null;
window.runQueryInWorker = async (name, columns, sql) => {
  if (!asyncEngine) {
    const { AsyncQueryEngine } = await import("datafusion-wasm/async_engine.js");
    asyncEngine = new AsyncQueryEngine();
  }
  const table = tableFromArrays(
    Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, typeof v[0] === "number" ? Float64Array.from(v) : v])),
  );
  await asyncEngine.register_table(name, tableToIPC(table, "stream"), { transfer: true });
  const result = tableFromIPC(await asyncEngine.execute_sql(sql));
  return result.toArray().map((row) =>
    Object.fromEntries(Object.entries(row.toJSON()).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v])));
};
