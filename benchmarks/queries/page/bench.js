// The page of the query benchmark (toolchain/pipeline/bench_queries.py drives it through selenium).
//
// One engine per page load: `window.bench.start(kind, args)` starts a job and returns its id at
// once; `window.bench.poll(id)` returns null while it runs, then {ok: value} or {error: {...}}.
// Jobs, in the order the driver runs them:
//   load    {engine: "ours", glue: URL[, module: URL]} or {engine: "duckdb-wasm", module, wasm, worker}
//           -> {loadMs, version}: import + fetch + instantiate (+ DuckDB's worker and connection);
//           ours' `module`: a module other than the glue's own _bg.wasm (the profile loads the
//           one with the names section: same code)
//   ingest  {tables: [{name, url}]} -> [{name, bytes, rows, ms}]: each IPC stream fetched first
//           (not timed), then registered (ours: register_table; DuckDB: insertArrowFromIPCStream)
//   query   {sql, runs} -> {warmupMs, samples, result, rows}: one warm-up execution whose result
//           (an Arrow IPC stream, base64) is returned, then `runs` timed executions
//   repeat  {sql, runs} -> {samples}: `runs` executions, no result returned (the profile's
//           window: bench_profile.py starts the CPU profiler before and stops it after)
//   memory  -> the wasm memory's byteLength (it never shrinks: the peak of the page so far)
//   usable  -> false once our engine has trapped (its instance must not be used again)
//
// Times: performance.now() around each awaited call, in the page.

const toBase64 = (bytes) => {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
};

const fetchBytes = async (url) => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
};

// ---------------------------------------------------------------- our engine (wasm-bindgen --target web)

const ours = {
  async load({glue, module}) {
    const started = performance.now();
    const pkg = await import(glue);
    const exports = await pkg.default(module ? {module_or_path: module} : undefined);
    const engine = new pkg.WasmQueryEngine();
    const loadMs = performance.now() - started;
    Object.assign(ours, {pkg, exports, engine});
    return {loadMs, version: pkg.WasmQueryEngine.datafusion_version()};
  },
  async register(name, bytes) {
    return ours.engine.register_table(name, bytes);
  },
  async run(sql) {
    return await ours.engine.execute_sql(sql);
  },
  toIpc(result) {
    return result;
  },
  async memory() {
    return ours.exports.memory.buffer.byteLength;
  },
  async usable() {
    return ours.pkg.WasmQueryEngine.is_usable();
  },
};

// ---------------------------------------------------------------- DuckDB-WASM (eh bundle, in its worker)

const duck = {
  async load({module, wasm, worker}) {
    const started = performance.now();
    const duckdb = await import(module);
    const arrow = await import("apache-arrow");
    // The worker is DuckDB's own, started through a wrapper that can report its wasm memory.
    duck.worker = new Worker(`duckdb-worker.js?worker=${encodeURIComponent(worker)}`);
    duck.db = new duckdb.AsyncDuckDB(new duckdb.VoidLogger(), duck.worker);
    await duck.db.instantiate(wasm);
    duck.conn = await duck.db.connect();
    const loadMs = performance.now() - started;
    duck.arrow = arrow;
    return {loadMs, version: await duck.db.getVersion()};
  },
  async register(name, bytes) {
    await duck.conn.insertArrowFromIPCStream(bytes, {name, create: true});
    return null;
  },
  async run(sql) {
    return await duck.conn.query(sql);
  },
  toIpc(table) {
    return duck.arrow.tableToIPC(table, "stream");
  },
  memory() {
    return new Promise((resolve, reject) => {
      const channel = new MessageChannel();
      const timer = setTimeout(() => reject(new Error("DuckDB's worker did not report its memory")), 10000);
      channel.port1.onmessage = (event) => { clearTimeout(timer); resolve(event.data); };
      duck.worker.postMessage({benchMemory: true}, [channel.port2]);
    });
  },
  async usable() {
    return true;
  },
};

// ---------------------------------------------------------------- jobs

let engine = null;

const handlers = {
  async load(args) {
    engine = args.engine === "ours" ? ours : duck;
    return await engine.load(args);
  },
  async ingest({tables}) {
    const out = [];
    for (const {name, url} of tables) {
      const bytes = await fetchBytes(url);
      const size = bytes.length;
      const started = performance.now();
      const rows = await engine.register(name, bytes);
      out.push({name, bytes: size, rows, ms: performance.now() - started});
    }
    return out;
  },
  async query({sql, runs}) {
    let started = performance.now();
    const first = await engine.run(sql);
    const warmupMs = performance.now() - started;
    const ipc = engine.toIpc(first);
    const result = toBase64(ipc);
    const samples = [];
    for (let i = 0; i < runs; i++) {
      started = performance.now();
      await engine.run(sql);
      samples.push(performance.now() - started);
    }
    return {warmupMs, samples, result};
  },
  async repeat({sql, runs}) {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await engine.run(sql);
      samples.push(performance.now() - started);
    }
    return {samples};
  },
  async memory() {
    return await engine.memory();
  },
  async usable() {
    return await engine.usable();
  },
};

const jobs = new Map();
let nextId = 1;
const describe = (e) => ({name: (e && e.name) || typeof e, message: (e && e.message) || String(e), stack: (e && e.stack) || ""});

// A wasm trap in a promise job never settles that promise; it surfaces as an uncaught error:
// every running job fails with it instead of hanging.
const failRunning = (error) => {
  for (const [id, job] of jobs) if (!job.done) jobs.set(id, {done: true, error: describe(error)});
};
window.addEventListener("error", (event) => failRunning(event.error || {name: "Error", message: event.message}));
window.addEventListener("unhandledrejection", (event) => failRunning(event.reason));

window.bench = {
  start(kind, args) {
    const id = nextId++;
    jobs.set(id, {done: false});
    Promise.resolve()
      .then(() => handlers[kind](args || {}))
      .then(
        (value) => { if (!jobs.get(id).done) jobs.set(id, {done: true, ok: value === undefined ? null : value}); },
        (error) => { if (!jobs.get(id).done) jobs.set(id, {done: true, error: describe(error)}); });
    return id;
  },
  poll(id) {
    const job = jobs.get(id);
    if (!job) return {done: true, error: {name: "Error", message: `no job ${id} (the page was reloaded?)`, stack: ""}};
    if (!job.done) return null;
    jobs.delete(id);
    return job;
  },
  console() {
    const lines = window.__pageConsole;
    window.__pageConsole = [];
    return lines;
  },
};
window.benchReady = true;
