// The browser suite's extension of the plugin's harness page (toolchain/testing/harness/): the
// engine's IPC output decoded by apache-arrow JS (its UMD bundle, loaded by the plugin as a
// ?script=, sets the global `Arrow`), and the engine package's query client, fetch_query_ipc.js.

const toNumberIfSafe = (v) =>
  typeof v === "bigint" ? (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString()) : v;

function plain(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return toNumberIfSafe(value);
  if (value instanceof Uint8Array) return Array.from(value);
  if (ArrayBuffer.isView(value)) return Array.from(value, toNumberIfSafe);
  if (typeof value.toJSON === "function" && !(value instanceof Date)) return plain(value.toJSON());
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

export default async function extend({harness, moduleUrl}) {
  // Decodes IPC bytes with apache-arrow JS: the schema and the rows as plain JSON values.
  harness.decode = (bytes) => {
    const table = Arrow.tableFromIPC(bytes);
    return {
      fields: table.schema.fields.map((f) => ({name: f.name, type: String(f.type)})),
      numRows: table.numRows,
      rows: table.toArray().map((row) => plain(row)),
    };
  };
  // The query-server client ships beside the glue; optional (a user's engine may not ship one).
  const clientUrl = new URL("fetch_query_ipc.js", moduleUrl).href;
  let clientError = null;
  try {
    window.queryClient = await import(clientUrl);
  } catch (e) {
    clientError = String(e);
  }
  return {clientUrl, clientError};
}
