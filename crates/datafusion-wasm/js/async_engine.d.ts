import type { MemoryUsage } from "./datafusion_wasm.js";
export type { MemoryUsage };

/**
 * An error from the engine in the worker, with the engine's name and message: "Error" for a
 * failed statement or call, "InstanceLostError" after a trap, "TerminatedError" after
 * `terminate()`, "EngineLoadError" when the engine could not load in its worker.
 */
export class EngineError extends Error {
  /** The method whose call failed. */
  readonly method?: string;
  /** The stack of the call that made it, on the calling thread (`stack` is the worker's). */
  readonly callerStack: string;
  /** InstanceLostError: the tables the lost instance held. */
  readonly lostTables?: string[];
  /** InstanceLostError: the UDF modules the lost instance held. */
  readonly lostUdfs?: string[];
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborting it removes the call if it has not started yet; it then rejects with an AbortError. */
  signal?: AbortSignal;
}

/** Options of the calls that send bytes. */
export interface BytesCallOptions extends CallOptions {
  /**
   * Move the bytes' ArrayBuffer to the worker instead of copying it: faster for large tables,
   * but the whole buffer (not only the view) is detached on this side afterwards.
   */
  transfer?: boolean;
}

export interface AsyncQueryEngineOptions {
  /** Makes the worker (it must run engine_worker.js); default: a module worker beside this file. */
  createWorker?: () => Worker;
}

/**
 * The engine in a dedicated Web Worker: WasmQueryEngine's methods as promises, run one at a time
 * in the order they were called. A running call cannot be interrupted (bound it with
 * `set_statement_timeout_ms`, or `terminate()`); calls not started yet can be cancelled.
 */
export class AsyncQueryEngine {
  constructor(options?: AsyncQueryEngineOptions);
  /** Instances started so far: 1 after the first call, one more after each trap. */
  readonly generation: number;
  /** The DataFusion version, once the worker has started. */
  readonly datafusionVersion: string | null;
  /** Calls made but not started yet. */
  readonly queued: number;

  /** Starts the worker (any call does); resolves once the engine has loaded. */
  ready(): Promise<{ datafusionVersion: string; generation: number }>;
  /** Registers a complete Arrow IPC stream as table `name`; resolves to its row count. */
  register_table(name: string, ipcStream: Uint8Array | ArrayBuffer | ArrayBufferView, options?: BytesCallOptions): Promise<number>;
  /** Runs one statement; its result as Arrow IPC stream bytes. */
  execute_sql(sql: string, options?: CallOptions): Promise<Uint8Array>;
  /** Runs `sql`, registers the result as `name`, and returns it as IPC. */
  execute_and_register(sql: string, name: string, options?: CallOptions): Promise<Uint8Array>;
  /** A registered table as IPC. */
  read_table_ipc(name: string, options?: CallOptions): Promise<Uint8Array>;
  deregister_table(name: string, options?: CallOptions): Promise<void>;
  /** Removes every table. */
  reset(options?: CallOptions): Promise<void>;
  /** The registered tables' names, sorted. */
  table_names(options?: CallOptions): Promise<string[]>;
  /** A WebAssembly UDF module's batch functions as SQL functions; resolves to their names. */
  register_udf(name: string, wasmBytes: Uint8Array | ArrayBuffer | ArrayBufferView, options?: BytesCallOptions): Promise<string[]>;
  deregister_udf(name: string, options?: CallOptions): Promise<void>;
  /** Statements running longer fail with "statement timeout" (0: no limit); kept across traps. */
  set_statement_timeout_ms(ms: number, options?: CallOptions): Promise<void>;
  /** The worker's log filter (see WasmQueryEngine.set_log_filter); kept across traps. */
  set_log_filter(spec: string, options?: CallOptions): Promise<void>;
  /** Bytes per registered table, their total, the worker's wasm memory and the limit. */
  memory_usage(options?: CallOptions): Promise<MemoryUsage>;
  /** Registering or inserting (INSERT INTO) past `bytes` of tables fails with an error naming the sizes (0: no limit); kept across traps. */
  set_table_memory_limit(bytes: number, options?: CallOptions): Promise<void>;

  /** Rejects every call not started yet with an AbortError (or `reason`); returns how many. */
  cancel(reason?: unknown): number;
  /** Stops the worker at once, the running call included; every pending and later call rejects with a TerminatedError. */
  terminate(): void;
}
