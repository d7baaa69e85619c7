// fetchQueryIPC: a query result from a server that speaks the JSON-framed Arrow IPC protocol,
// as one complete Arrow IPC *stream* that WasmQueryEngine.register_table accepts as it is.
//
// The protocol (one response body): frames, each a JSON line ended by "\n"; schema and batch
// frames are followed by exactly `size` bytes holding one encapsulated IPC message.
//   {"type":"schema","size":N}\n<N bytes>   once, first
//   {"type":"batch","size":N}\n<N bytes>    zero or more
//   {"type":"done"}\n                       last
//   {"type":"error","message":"..."}\n      instead of any frame: the server failed
// The messages are concatenated and the end-of-stream marker appended. No "ARROW1" magic is
// added: that belongs to the IPC *file* format, and a stream reader rejects it.

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
const MAX_HEADER_BYTES = 64 * 1024;

/** The server sent an error frame (bad SQL, unknown table, a failure while streaming). */
export class QueryServerError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "QueryServerError";
    this.status = status; // the HTTP status for a non-2xx answer; undefined for an error frame
  }
}

/** The response is not a well-formed frame sequence: truncated, garbled or out of order. */
export class QueryProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = "QueryProtocolError";
  }
}

// Bytes received but not yet parsed, kept as the chunks they came in (no copying per chunk).
class ByteQueue {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }
  push(chunk) {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
  }
  indexOf(byte, limit) {
    let offset = 0;
    for (const chunk of this.chunks) {
      const at = chunk.subarray(0, Math.max(0, limit - offset)).indexOf(byte);
      if (at >= 0) return offset + at;
      offset += chunk.length;
      if (offset >= limit) break;
    }
    return -1;
  }
  take(n) {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      const part = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    this.length -= n;
    return out;
  }
}

/**
 * Parses frames from a stream of byte chunks; returns the IPC messages and counts.
 * Exported for other transports (a WebSocket, a file): fetchQueryIPC feeds it the response body.
 */
export async function readFrames(chunks) {
  const queue = new ByteQueue();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const messages = [];
  let schemaSeen = false, received = 0, frames = 0;
  let need = null; // {kind, size} while waiting for a frame's message bytes
  const iterator = chunks[Symbol.asyncIterator] ? chunks[Symbol.asyncIterator]() : chunks[Symbol.iterator]();
  for (;;) {
    // Parse everything the queue holds, then read more.
    for (;;) {
      if (need) {
        if (queue.length < need.size) break;
        const message = queue.take(need.size);
        if (need.size < 4 || message[0] !== 0xff || message[1] !== 0xff || message[2] !== 0xff || message[3] !== 0xff) {
          throw new QueryProtocolError(`frame ${frames} (${need.kind}) does not hold an encapsulated Arrow IPC message`);
        }
        messages.push(message);
        need = null;
        continue;
      }
      const end = queue.indexOf(0x0a, MAX_HEADER_BYTES + 1);
      if (end < 0) {
        if (queue.length > MAX_HEADER_BYTES) throw new QueryProtocolError(`a frame header longer than ${MAX_HEADER_BYTES} bytes: not this protocol`);
        break;
      }
      const line = queue.take(end + 1).subarray(0, end);
      let frame;
      try {
        frame = JSON.parse(decoder.decode(line));
      } catch (e) {
        const shown = new TextDecoder().decode(line.subarray(0, 80));
        throw new QueryProtocolError(`frame ${frames + 1} is not a JSON frame header: ${JSON.stringify(shown)}`);
      }
      frames += 1;
      const kind = frame && frame.type;
      if (kind === "error") throw new QueryServerError(String(frame.message ?? "(the server gave no message)"));
      if (kind === "done") {
        if (!schemaSeen) throw new QueryProtocolError("'done' frame before any 'schema' frame");
        // Only trailing whitespace may follow 'done'.
        let rest = queue.length ? queue.take(queue.length) : new Uint8Array(0);
        for (;;) {
          if (rest.some((b) => b !== 0x0a && b !== 0x0d && b !== 0x20)) throw new QueryProtocolError("data after the 'done' frame");
          const next = await iterator.next();
          if (next.done) break;
          received += next.value.length;
          rest = next.value;
        }
        return { messages, frames, received };
      }
      if (kind !== "schema" && kind !== "batch") throw new QueryProtocolError(`unknown frame type ${JSON.stringify(kind)}`);
      if (!Number.isSafeInteger(frame.size) || frame.size < 0) throw new QueryProtocolError(`${kind} frame with invalid size ${JSON.stringify(frame.size)}`);
      if (kind === "schema" && schemaSeen) throw new QueryProtocolError("a second 'schema' frame");
      if (kind === "batch" && !schemaSeen) throw new QueryProtocolError("a 'batch' frame before the 'schema' frame");
      schemaSeen = true;
      need = { kind, size: frame.size };
    }
    const next = await iterator.next();
    if (next.done) {
      const where = need ? `inside a ${need.kind} frame (${queue.length} of ${need.size} bytes)`
        : queue.length ? "inside a frame header" : "before the 'done' frame";
      throw new QueryProtocolError(
        `the response ended ${where}, after ${frames} frames and ${received} bytes: ` +
        "the server closed the connection early or the stream was truncated");
    }
    received += next.value.length;
    queue.push(next.value);
  }
}

/** Concatenates IPC messages into a complete stream (schema, batches, end-of-stream marker). */
export function assembleIPCStream(messages) {
  const total = messages.reduce((sum, m) => sum + m.length, EOS.length);
  const out = new Uint8Array(total);
  let at = 0;
  for (const message of messages) {
    out.set(message, at);
    at += message.length;
  }
  out.set(EOS, at);
  return out;
}

async function* bodyChunks(body) {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * POSTs `params` (JSON, e.g. {sql}) to the query server and returns the result as a complete
 * Arrow IPC stream. Rejects with QueryServerError (error frame or HTTP error status),
 * QueryProtocolError (truncated or malformed response), or the AbortError of `signal`.
 *
 * options.url: the endpoint (default "/api/query-stream"); options.headers: extra request
 * headers; options.fetch: a fetch implementation (default globalThis.fetch).
 */
export async function fetchQueryIPC(params, signal, options = {}) {
  const { url = "/api/query-stream", headers = {}, fetch: fetchImpl = globalThis.fetch } = options;
  const response = await fetchImpl(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(params),
    signal,
  });
  if (!response.ok) {
    const text = (await response.text().catch(() => "")).slice(0, 500);
    throw new QueryServerError(`the query server answered HTTP ${response.status} ${response.statusText}: ${text}`, response.status);
  }
  if (!response.body) throw new QueryProtocolError("the response has no body to read frames from");
  const { messages } = await readFrames(bodyChunks(response.body));
  return assembleIPCStream(messages);
}
