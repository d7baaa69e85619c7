// How a result looks: a type label per column (pyarrow's spelling: "int64", "string",
// "timestamp[us, tz=UTC]", so a test can compare against pyarrow's schema), and the text of a cell.
// Timestamps are read from their raw 64-bit values: apache-arrow JS gives them as float
// milliseconds, which loses microseconds and nanoseconds.

import { DataType, DateUnit, Precision, TimeUnit, type Field, type Vector } from "apache-arrow";

const UNITS: Record<number, string> = {
  [TimeUnit.SECOND]: "s",
  [TimeUnit.MILLISECOND]: "ms",
  [TimeUnit.MICROSECOND]: "us",
  [TimeUnit.NANOSECOND]: "ns",
};
const UNIT_DIGITS: Record<number, number> = {
  [TimeUnit.SECOND]: 0,
  [TimeUnit.MILLISECOND]: 3,
  [TimeUnit.MICROSECOND]: 6,
  [TimeUnit.NANOSECOND]: 9,
};

export function typeLabel(type: DataType): string {
  if (DataType.isNull(type)) return "null";
  if (DataType.isBool(type)) return "bool";
  if (DataType.isInt(type)) return `${type.isSigned ? "" : "u"}int${type.bitWidth}`;
  if (DataType.isFloat(type)) {
    return type.precision === Precision.HALF ? "halffloat" : type.precision === Precision.SINGLE ? "float" : "double";
  }
  if (DataType.isUtf8(type)) return "string";
  if (DataType.isLargeUtf8(type)) return "large_string";
  if (DataType.isBinary(type)) return "binary";
  if (DataType.isLargeBinary(type)) return "large_binary";
  if (DataType.isTimestamp(type)) {
    return `timestamp[${UNITS[type.unit]}${type.timezone ? `, tz=${type.timezone}` : ""}]`;
  }
  if (DataType.isDate(type)) return type.unit === DateUnit.DAY ? "date32[day]" : "date64[ms]";
  if (DataType.isDecimal(type)) return `decimal${type.bitWidth}(${type.precision}, ${type.scale})`;
  if (DataType.isList(type) || DataType.isLargeList(type)) {
    const child = type.children[0];
    return `${DataType.isLargeList(type) ? "large_list" : "list"}<${child.name}: ${typeLabel(child.type)}>`;
  }
  if (DataType.isStruct(type)) {
    return `struct<${type.children.map((f: Field) => `${f.name}: ${typeLabel(f.type)}`).join(", ")}>`;
  }
  if (DataType.isDictionary(type)) {
    return `dictionary<values=${typeLabel(type.dictionary)}, indices=${typeLabel(type.indices)}>`;
  }
  return String(type);
}

export function isNumeric(type: DataType): boolean {
  return DataType.isInt(type) || DataType.isFloat(type) || DataType.isDecimal(type);
}

const pad = (n: number | bigint, width: number) => String(n).padStart(width, "0");

/** Raw epoch value in `unit` -> "YYYY-MM-DD HH:MM:SS[.fraction]" (UTC wall time of the instant). */
export function formatTimestamp(raw: bigint, unit: TimeUnit): string {
  const digits = UNIT_DIGITS[unit];
  const perSecond = 10n ** BigInt(digits);
  let seconds = raw / perSecond;
  let fraction = raw % perSecond;
  if (fraction < 0n) {
    fraction += perSecond;
    seconds -= 1n;
  }
  const date = new Date(Number(seconds) * 1000);
  const text =
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)} ` +
    `${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`;
  return digits ? `${text}.${pad(fraction, digits)}` : text;
}

function formatDate(days: number): string {
  const date = new Date(days * 86_400_000);
  return `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}`;
}

function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? hex(v) : v));
}

function hex(bytes: Uint8Array): string {
  const shown = Array.from(bytes.subarray(0, 32), (b) => b.toString(16).padStart(2, "0")).join("");
  return `0x${shown}${bytes.length > 32 ? "…" : ""}`;
}

export type Cell = { text: string; kind: "null" | "empty" | "number" | "text" };

/** Reads one column of a result: a cell's text by row index, raw values where arrow JS would lose them. */
export class ColumnReader {
  private readonly starts: number[] = [];

  constructor(
    private readonly vector: Vector,
    readonly type: DataType,
  ) {
    let start = 0;
    for (const data of vector.data) {
      this.starts.push(start);
      start += data.length;
    }
  }

  cell(row: number): Cell {
    if (!this.vector.isValid(row)) return { text: "NULL", kind: "null" };
    const type = this.type;
    if (DataType.isTimestamp(type)) {
      const [data, index] = this.locate(row);
      return { text: formatTimestamp(BigInt((data.values as BigInt64Array)[data.offset + index]), type.unit), kind: "text" };
    }
    const value: unknown = this.vector.get(row);
    if (DataType.isDate(type) && type.unit === DateUnit.DAY) {
      const [data, index] = this.locate(row);
      return { text: formatDate((data.values as Int32Array)[data.offset + index]), kind: "text" };
    }
    if (typeof value === "string") return value === "" ? { text: "", kind: "empty" } : { text: value, kind: "text" };
    if (typeof value === "bigint") return { text: value.toString(), kind: "number" };
    if (typeof value === "number") {
      const text = Number.isNaN(value) ? "NaN" : value === Infinity ? "inf" : value === -Infinity ? "-inf" : String(value);
      return { text, kind: "number" };
    }
    if (typeof value === "boolean") return { text: String(value), kind: "text" };
    if (value instanceof Uint8Array) return { text: hex(value), kind: "text" };
    if (value && typeof value === "object" && "toJSON" in value) {
      return { text: jsonText((value as { toJSON(): unknown }).toJSON()), kind: "text" };
    }
    if (value && typeof value === "object" && Symbol.iterator in value) {
      return { text: jsonText(Array.from(value as Iterable<unknown>)), kind: "text" };
    }
    return { text: isNumeric(type) ? String(value) : jsonText(value), kind: isNumeric(type) ? "number" : "text" };
  }

  private locate(row: number): [Vector["data"][number], number] {
    // Binary search over the chunks' first rows (a 1M-row result has ~120 chunks).
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return [this.vector.data[lo], row - this.starts[lo]];
  }
}
