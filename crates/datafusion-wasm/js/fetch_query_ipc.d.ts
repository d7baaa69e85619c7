/** The server sent an error frame, or answered with a non-2xx HTTP status. */
export class QueryServerError extends Error {
  readonly name: "QueryServerError";
  /** The HTTP status for a non-2xx answer; undefined for an error frame. */
  readonly status?: number;
}

/** The response is not a well-formed frame sequence: truncated, garbled or out of order. */
export class QueryProtocolError extends Error {
  readonly name: "QueryProtocolError";
}

export interface FetchQueryOptions {
  /** The endpoint; default "/api/query-stream". */
  url?: string | URL;
  /** Extra request headers (content-type is application/json). */
  headers?: Record<string, string>;
  /** A fetch implementation; default globalThis.fetch. */
  fetch?: typeof fetch;
}

/**
 * POSTs `params` as JSON (e.g. `{sql}`) to a server speaking the JSON-framed Arrow IPC protocol
 * and returns the result as a complete Arrow IPC stream, ready for
 * `WasmQueryEngine.register_table(name, bytes)`.
 * Rejects with QueryServerError, QueryProtocolError, or the AbortError of `signal`.
 */
export function fetchQueryIPC(params: unknown, signal?: AbortSignal, options?: FetchQueryOptions): Promise<Uint8Array>;

/** Parses protocol frames from byte chunks (any transport); returns the IPC messages in order. */
export function readFrames(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<{ messages: Uint8Array[]; frames: number; received: number }>;

/** Concatenates IPC messages and appends the end-of-stream marker: a complete IPC stream. */
export function assembleIPCStream(messages: Uint8Array[]): Uint8Array;
