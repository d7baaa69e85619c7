// A file the user drops (--no-server mode, or beside the server): Arrow IPC (stream or file
// format), CSV or JSON (an array of objects, or one object per line), converted in the page to
// the Arrow IPC stream register_table takes. CSV: an empty unquoted field is NULL, a quoted ""
// is the empty string; a column whose every value is an integer is int64, a number double,
// true/false bool, anything else string.

import { Bool, Float64, Int64, Table, Utf8, makeData, makeVector, tableFromIPC, tableToIPC, type DataType, type Vector } from "apache-arrow";

export interface Converted {
  ipc: Uint8Array;
  format: string;
}

const STREAM_CONTINUATION = [0xff, 0xff, 0xff, 0xff];
const FILE_MAGIC = "ARROW1";

export async function fileToIPC(file: File): Promise<Converted> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const name = file.name.toLowerCase();
  if (STREAM_CONTINUATION.every((b, i) => bytes[i] === b)) return { ipc: bytes, format: "Arrow IPC stream" };
  if (new TextDecoder().decode(bytes.subarray(0, 6)) === FILE_MAGIC) {
    // The file format (Feather v2): the engine takes streams, so the page re-encodes it.
    return { ipc: tableToIPC(tableFromIPC(bytes), "stream"), format: "Arrow IPC file" };
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (name.endsWith(".json") || name.endsWith(".jsonl") || name.endsWith(".ndjson") || /^\s*[[{]/.test(text)) {
    return { ipc: tableToIPC(fromRecords(parseJson(text)), "stream"), format: "JSON" };
  }
  if (name.endsWith(".csv") || name.endsWith(".tsv") || name.endsWith(".txt") || text.includes(",")) {
    return { ipc: tableToIPC(fromCsv(text, name.endsWith(".tsv") ? "\t" : ","), "stream"), format: "CSV" };
  }
  throw new Error(`${file.name}: not Arrow IPC, CSV or JSON (drop a .arrow, .arrows, .csv, .tsv, .json or .ndjson file)`);
}

function parseJson(text: string): Record<string, unknown>[] {
  const trimmed = text.trim();
  let records: unknown;
  if (trimmed.startsWith("[")) {
    records = JSON.parse(trimmed);
  } else {
    records = trimmed
      .split(/\r?\n/)
      .filter((line) => line.trim())
      .map((line, i) => {
        try {
          return JSON.parse(line);
        } catch (error) {
          throw new Error(`JSON line ${i + 1}: ${(error as Error).message}`);
        }
      });
  }
  if (!Array.isArray(records) || records.some((r) => r === null || typeof r !== "object" || Array.isArray(r))) {
    throw new Error("JSON: expected an array of objects, or one object per line");
  }
  return records as Record<string, unknown>[];
}

function fromRecords(records: Record<string, unknown>[]): Table {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const record of records) {
    for (const key of Object.keys(record)) if (!seen.has(key)) seen.add(key), names.push(key);
  }
  if (!names.length) throw new Error("JSON: no fields in any record");
  const columns: Record<string, Vector> = {};
  for (const key of names) {
    const values = records.map((r) => r[key]);
    columns[key] = column(values.map((v) => (v === undefined ? null : v)));
  }
  return new Table(columns);
}

/** Values of one column (null, numbers, booleans, strings, objects) as the narrowest Arrow column. */
function column(values: unknown[], forced?: DataType): Vector {
  const present = values.filter((v) => v !== null);
  let type: DataType = new Utf8();
  if (forced) type = forced;
  else if (present.length && present.every((v) => typeof v === "boolean")) type = new Bool();
  else if (present.length && present.every((v) => typeof v === "number" && Number.isSafeInteger(v))) type = new Int64();
  else if (present.length && present.every((v) => typeof v === "number")) type = new Float64();
  return encode(type, values);
}

// Columns are assembled from their buffers (makeData), not with apache-arrow's builders
// (vectorFromArray, tableFromJSON): a builder compiles its null test with `new Function`, which
// the page's CSP refuses (script-src without 'unsafe-eval').
function encode(type: DataType, values: unknown[]): Vector {
  const length = values.length;
  const nullBitmap = new Uint8Array(Math.ceil(length / 8));
  let nullCount = 0;
  values.forEach((v, i) => {
    if (v === null) nullCount++;
    else nullBitmap[i >> 3] |= 1 << (i & 7);
  });
  const common = { length, nullCount, nullBitmap: nullCount ? nullBitmap : undefined };
  if (type instanceof Int64) {
    const data = BigInt64Array.from(values, (v) => (v === null ? 0n : BigInt(v as number)));
    return makeVector(makeData({ type, data, ...common }));
  }
  if (type instanceof Float64) {
    const data = Float64Array.from(values, (v) => (v === null ? 0 : Number(v)));
    return makeVector(makeData({ type, data, ...common }));
  }
  if (type instanceof Bool) {
    const data = new Uint8Array(Math.ceil(length / 8));
    values.forEach((v, i) => {
      if (v === true) data[i >> 3] |= 1 << (i & 7);
    });
    return makeVector(makeData({ type, data, ...common }));
  }
  const utf8 = new TextEncoder();
  const parts = values.map((v) => (v === null ? new Uint8Array(0) : utf8.encode(typeof v === "string" ? v : JSON.stringify(v))));
  const valueOffsets = new Int32Array(length + 1);
  parts.forEach((p, i) => (valueOffsets[i + 1] = valueOffsets[i] + p.length));
  const data = new Uint8Array(valueOffsets[length]);
  parts.forEach((p, i) => data.set(p, valueOffsets[i]));
  return makeVector(makeData({ type: new Utf8(), data, valueOffsets, ...common }));
}

/** RFC 4180 fields; a field is {text, quoted}. */
function parseCsv(text: string, separator: string): { text: string; quoted: boolean }[][] {
  const rows: { text: string; quoted: boolean }[][] = [];
  let row: { text: string; quoted: boolean }[] = [];
  let field = "";
  let quoted = false;
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') inQuotes = false;
      else field += c;
    } else if (c === '"' && field === "") (inQuotes = true), (quoted = true);
    else if (c === separator) row.push({ text: field, quoted }), (field = ""), (quoted = false);
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push({ text: field, quoted });
      rows.push(row);
      (row = []), (field = ""), (quoted = false);
    } else field += c;
  }
  if (inQuotes) throw new Error("CSV: a quoted field is not closed");
  if (field !== "" || quoted || row.length) row.push({ text: field, quoted }), rows.push(row);
  return rows.filter((r) => !(r.length === 1 && r[0].text === "" && !r[0].quoted));
}

function fromCsv(text: string, separator: string): Table {
  const rows = parseCsv(text, separator);
  if (!rows.length) throw new Error("CSV: the file is empty");
  const header = rows[0].map((f, i) => f.text.trim() || `column_${i + 1}`);
  const body = rows.slice(1);
  body.forEach((r, i) => {
    if (r.length !== header.length) {
      throw new Error(`CSV line ${i + 2}: ${r.length} fields, the header has ${header.length}`);
    }
  });
  const columns: Record<string, Vector> = {};
  header.forEach((name, c) => {
    const cells = body.map((r) => r[c]);
    const present = cells.filter((f) => f.quoted || f.text !== "").map((f) => f.text);
    const isInt = present.length > 0 && present.every((t) => /^[+-]?\d+$/.test(t) && Number.isSafeInteger(Number(t)));
    const isFloat = !isInt && present.length > 0 && present.every((t) => t.trim() !== "" && !Number.isNaN(Number(t)));
    const isBool = present.length > 0 && present.every((t) => /^(true|false)$/i.test(t));
    const values = cells.map((f) => {
      if (!f.quoted && f.text === "") return null;
      if (isInt) return Number(f.text);
      if (isFloat) return Number(f.text);
      if (isBool) return f.text.toLowerCase() === "true";
      return f.text;
    });
    columns[name] = column(values, isFloat ? new Float64() : undefined);
  });
  return new Table(columns);
}
