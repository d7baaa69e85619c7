// AsyncQueryEngine: the engine in a dedicated Web Worker (engine_worker.js), so a long query never
// blocks the page's main thread. The same methods as WasmQueryEngine, each returning a promise.
//
// - Order: calls run one at a time, in the order they were made (a FIFO queue on this side; the
//   worker gets the next call when the previous one has answered).
// - Cancellation: `cancel()`, or an AbortSignal passed as `{signal}`, removes calls that have not
//   started; they reject with an AbortError (a DOMException, or the signal's own reason). A call
//   that has started runs to its end: WebAssembly cannot be interrupted. Bound it with
//   `set_statement_timeout_ms`, or stop everything with `terminate()`.
// - Errors: an EngineError with the engine's message and name ("Error", "InstanceLostError"...),
//   the worker's stack as `stack` and the caller's as `callerStack`.
// - Traps: the call that trapped rejects with an InstanceLostError that names the tables lost;
//   calls queued behind it reject with an InstanceLostError too (they were made against tables
//   that no longer exist), and the next call made afterwards starts a fresh instance in a new
//   worker (no tables; the statement timeout and log filter set before are applied again).
// - Buffers: results come back transferred (no copy); register_table and register_udf copy their
//   bytes unless called with `{transfer: true}`, which moves the buffer (it is detached here).

/** An error from the engine in the worker: its name and message as the engine gave them. */
export class EngineError extends Error {
  constructor(name, message, {stack = "", callerStack = "", method, lostTables, lostUdfs} = {}) {
    super(message);
    this.name = name;
    if (stack) this.stack = stack;
    this.callerStack = callerStack;
    this.method = method;
    if (lostTables) this.lostTables = lostTables;
    if (lostUdfs) this.lostUdfs = lostUdfs;
  }
}

function abortError(reason, method) {
  if (reason !== undefined) return reason;
  if (typeof DOMException === "function") return new DOMException(`${method} was cancelled before it started`, "AbortError");
  return new EngineError("AbortError", `${method} was cancelled before it started`);
}

function defaultWorker() {
  // Written out literally so that bundlers (Vite, webpack 5) see the worker and emit it with its
  // imports; on a plain static server the URL resolves beside this file.
  return new Worker(new URL("./engine_worker.js", import.meta.url), {type: "module"});
}

function bytesFor(data, transfer) {
  let view;
  if (data instanceof Uint8Array) view = data;
  else if (data instanceof ArrayBuffer) view = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else if (Array.isArray(data)) return {value: Uint8Array.from(data), transfer: []};
  else throw new TypeError("expected a Uint8Array, an ArrayBuffer or an ArrayBufferView of IPC bytes");
  return {value: view, transfer: transfer ? [view.buffer] : []};
}

export class AsyncQueryEngine {
  /**
   * options.createWorker: () => Worker, for a worker made another way (a CSP that needs another
   * URL, a bundler without worker support); it must run engine_worker.js.
   */
  constructor(options = {}) {
    this._createWorker = options.createWorker || defaultWorker;
    this._settings = {statementTimeoutMs: 0, logFilter: null, tableMemoryLimit: 0};
    this._queue = [];
    this._running = null;
    this._worker = null;
    this._starting = null; // {promise} while the worker initialises
    this._nextId = 1;
    this._terminated = false;
    this._lostIdle = null;
    /** Instances started so far: 1 after the first call, one more after each trap. */
    this.generation = 0;
    /** The DataFusion version, once the worker has started. */
    this.datafusionVersion = null;
  }

  /** Starts the worker now (calls start it anyway); resolves once the engine is loaded. */
  ready() {
    return this._enqueue("__ready", [], {});
  }

  /** Registers an Arrow IPC stream as table `name`; resolves to its row count. */
  register_table(name, ipcStream, options = {}) {
    const {value, transfer} = bytesFor(ipcStream, options.transfer);
    return this._enqueue("register_table", [name, value], options, transfer);
  }
  /** Runs one statement; resolves to its result as Arrow IPC stream bytes. */
  execute_sql(sql, options = {}) {
    return this._enqueue("execute_sql", [sql], options);
  }
  execute_and_register(sql, name, options = {}) {
    return this._enqueue("execute_and_register", [sql, name], options);
  }
  read_table_ipc(name, options = {}) {
    return this._enqueue("read_table_ipc", [name], options);
  }
  deregister_table(name, options = {}) {
    return this._enqueue("deregister_table", [name], options);
  }
  reset(options = {}) {
    return this._enqueue("reset", [], options);
  }
  table_names(options = {}) {
    return this._enqueue("table_names", [], options);
  }
  register_udf(name, wasmBytes, options = {}) {
    const {value, transfer} = bytesFor(wasmBytes, options.transfer);
    return this._enqueue("register_udf", [name, value], options, transfer);
  }
  deregister_udf(name, options = {}) {
    return this._enqueue("deregister_udf", [name], options);
  }
  /** In order with the other calls; kept for instances started after a trap. */
  set_statement_timeout_ms(ms, options = {}) {
    this._settings.statementTimeoutMs = ms;
    return this._enqueue("set_statement_timeout_ms", [ms], options);
  }
  set_log_filter(spec, options = {}) {
    this._settings.logFilter = spec;
    return this._enqueue("set_log_filter", [spec], options);
  }
  /** Bytes per table and the worker's wasm memory (WasmQueryEngine.memory_usage). */
  memory_usage(options = {}) {
    return this._enqueue("memory_usage", [], options);
  }
  /** Registering past `bytes` of tables fails (0: no limit); kept for instances started after a trap. */
  set_table_memory_limit(bytes, options = {}) {
    this._settings.tableMemoryLimit = bytes;
    return this._enqueue("set_table_memory_limit", [bytes], options);
  }

  /** Calls made but not started yet (the running one not counted). */
  get queued() {
    return this._queue.length;
  }

  /**
   * Rejects every call that has not started with an AbortError (or `reason`); returns how many.
   * The running call, if any, is not interrupted.
   */
  cancel(reason) {
    const cancelled = this._queue.splice(0);
    for (const entry of cancelled) this._settle(entry, null, abortError(reason, entry.method));
    return cancelled.length;
  }

  /**
   * Stops the worker at once, the running call included (the only way to stop a call that never
   * returns). Every pending call rejects with a TerminatedError, and so does every later call.
   */
  terminate() {
    this._terminated = true;
    const error = (entry) => new EngineError("TerminatedError", `${entry.method}: the engine was terminated`, {method: entry.method, callerStack: entry.callerStack});
    const pending = [...(this._running ? [this._running] : []), ...this._queue.splice(0)];
    this._running = null;
    this._stopWorker();
    for (const entry of pending) this._settle(entry, null, error(entry));
  }

  // ------------------------------------------------------------------------------- internals

  _enqueue(method, args, options, transfer = []) {
    const {signal} = options;
    const callerStack = new Error().stack || "";
    if (this._terminated) {
      return Promise.reject(new EngineError("TerminatedError", `${method}: the engine was terminated`, {method, callerStack}));
    }
    if (signal && signal.aborted) return Promise.reject(abortError(signal.reason, method));
    return new Promise((resolve, reject) => {
      const entry = {id: this._nextId++, method, args, transfer, resolve, reject, callerStack, signal, onAbort: null};
      if (signal) {
        entry.onAbort = () => {
          const at = this._queue.indexOf(entry);
          if (at >= 0) {
            this._queue.splice(at, 1);
            this._settle(entry, null, abortError(signal.reason, method));
          }
        };
        signal.addEventListener("abort", entry.onAbort, {once: true});
      }
      this._queue.push(entry);
      this._pump();
    });
  }

  _settle(entry, value, error) {
    if (entry.signal && entry.onAbort) entry.signal.removeEventListener("abort", entry.onAbort);
    if (error) entry.reject(error);
    else entry.resolve(value);
  }

  _pump() {
    if (this._running || this._terminated || !this._queue.length) return;
    if (!this._worker) {
      if (this._lostIdle) {
        // The worker died between calls: say so once, to the next call, instead of running it
        // on a fresh instance that silently lacks the tables.
        const entry = this._queue.shift();
        const error = this._lostIdle;
        this._lostIdle = null;
        this._settle(entry, null, new EngineError("InstanceLostError", `${entry.method} was not run: the engine's worker failed between calls (${error.name}: ${error.message}); its tables are lost. Calls made from now on run on a fresh instance.`, {stack: error.stack, method: entry.method, callerStack: entry.callerStack}));
        this._pump();
        return;
      }
      this._start();
      return;
    }
    if (this._starting) return;
    const entry = this._queue.shift();
    this._running = entry;
    if (entry.method === "__ready") {
      this._finish(entry, {datafusionVersion: this.datafusionVersion, generation: this.generation});
      return;
    }
    try {
      this._worker.postMessage({type: "call", id: entry.id, method: entry.method, args: entry.args}, entry.transfer);
    } catch (error) {
      this._finish(entry, null, error); // e.g. a DataCloneError for an argument that cannot be sent
    }
  }

  _finish(entry, value, error) {
    if (this._running === entry) this._running = null;
    this._settle(entry, value, error);
    this._pump();
  }

  _start() {
    const worker = this._createWorker();
    this._worker = worker;
    this.generation += 1;
    this._starting = {};
    worker.onmessage = (event) => this._onMessage(worker, event.data);
    worker.onerror = (event) => {
      if (event && typeof event.preventDefault === "function") event.preventDefault();
      const detail = event && event.message ? event.message : "the worker failed (its script did not load, or it threw outside a call)";
      this._onWorkerFailure(worker, {name: "WorkerError", message: detail, stack: ""});
    };
    worker.onmessageerror = () => this._onWorkerFailure(worker, {name: "DataCloneError", message: "a message from the engine's worker could not be read", stack: ""});
    worker.postMessage({type: "init", settings: {...this._settings}});
  }

  _stopWorker() {
    if (this._worker) {
      this._worker.onmessage = this._worker.onerror = this._worker.onmessageerror = null;
      this._worker.terminate();
    }
    this._worker = null;
    this._starting = null;
  }

  _onMessage(worker, message) {
    if (worker !== this._worker) return;
    if (message.type === "ready") {
      this._starting = null;
      this.datafusionVersion = message.datafusionVersion;
      this._pump();
      return;
    }
    if (message.type === "init-error") {
      this._onWorkerFailure(worker, message.error, "EngineLoadError");
      return;
    }
    const entry = this._running;
    if (!entry || entry.id !== message.id) return;
    if (message.type === "result") {
      this._finish(entry, message.value);
    } else if (message.type === "error") {
      const e = message.error;
      this._finish(entry, null, new EngineError(e.name, e.message, {stack: e.stack, callerStack: entry.callerStack, method: entry.method}));
    } else if (message.type === "lost") {
      this._onLost(entry, message);
    }
  }

  _onLost(entry, {error, tables = [], udfs = []}) {
    this._running = null;
    this._stopWorker(); // the dead instance's memory goes with its worker
    const lostWhat = `tables lost: ${tables.length ? tables.join(", ") : "(none)"}` + (udfs.length ? `; UDF modules lost: ${udfs.join(", ")}` : "");
    const message =
      `the engine's instance was lost: ${entry.method} trapped in the worker (${error.name}: ${error.message}). ` +
      `${lostWhat}. The next call runs on a fresh instance: register the tables again.`;
    const details = {stack: error.stack, method: entry.method, lostTables: tables, lostUdfs: udfs};
    const queued = this._queue.splice(0);
    this._settle(entry, null, new EngineError("InstanceLostError", message, {...details, callerStack: entry.callerStack}));
    for (const other of queued) {
      this._settle(other, null, new EngineError(
        "InstanceLostError",
        `${other.method} was not run: an earlier call (${entry.method}) trapped and the instance was lost with its tables (${lostWhat}). ` +
        "Calls made from now on run on a fresh instance.",
        {...details, method: other.method, callerStack: other.callerStack},
      ));
    }
  }

  _onWorkerFailure(worker, error, name) {
    if (worker !== this._worker) return;
    const starting = Boolean(this._starting);
    this._stopWorker();
    if (starting) {
      // The engine never loaded: every waiting call learns why; the next call tries again.
      const failed = this._queue.splice(0);
      for (const entry of failed) {
        this._settle(entry, null, new EngineError(name || "EngineLoadError", `the engine did not load in its worker: ${error.name}: ${error.message}`, {stack: error.stack, method: entry.method, callerStack: entry.callerStack}));
      }
      return;
    }
    if (this._running) this._onLost(this._running, {error});
    else this._lostIdle = error;
  }
}
