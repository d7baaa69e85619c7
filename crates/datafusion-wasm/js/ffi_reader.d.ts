import type { FfiResult } from "./datafusion_wasm.js";

/** Thrown when a view table (copy: false) is used after its export was released or the memory grew. */
export class FfiViewInvalidError extends Error {}

export interface FfiReadOptions {
  /**
   * true (default): copy every buffer out of the module's memory and release the export at once.
   * false: the table views the module's memory (no copy) until released or the memory grows.
   */
  copy?: boolean;
  /** copy: true only. false keeps the export (you call `result.free()`). */
  release?: boolean;
  /** The module's memory, if `FfiResult.memory()` is not the one (another instance's glue). */
  memory?: WebAssembly.Memory;
}

/** A table viewing the module's memory; every access checks it is still valid. */
export class FfiView<T = any> {
  /** Throws FfiViewInvalidError on any access once released or once the memory has grown. */
  readonly table: T;
  /** False once released or once the module's memory has grown. */
  readonly valid: boolean;
  /** Releases the export (also done by a FinalizationRegistry once the view is unreachable). */
  release(): void;
  [Symbol.dispose](): void;
}

/**
 * The result of `execute_sql_ffi` / `read_table_ffi` as an apache-arrow 21 Table, read through the
 * Arrow C Data Interface. Pass the apache-arrow module: `import * as arrow from "apache-arrow"`.
 */
export function tableFromFFI<A extends { Table: new (...args: any[]) => any }>(
  result: FfiResult, arrow: A, options?: FfiReadOptions & { copy?: true },
): InstanceType<A["Table"]>;
export function tableFromFFI<A extends { Table: new (...args: any[]) => any }>(
  result: FfiResult, arrow: A, options: FfiReadOptions & { copy: false },
): FfiView<InstanceType<A["Table"]>>;
