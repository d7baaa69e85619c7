// Reads a result the engine exported through the Arrow C Data Interface
// (WasmQueryEngine.execute_sql_ffi / read_table_ffi) into an apache-arrow JS Table, without the IPC
// encode and decode (https://arrow.apache.org/docs/format/CDataInterface.html).
//
// No dependency: the caller passes its own apache-arrow module (21.x), so the package does not pin
// one and a bundler keeps a single copy.
//
//   import * as arrow from "apache-arrow";
//   import { tableFromFFI } from "datafusion-wasm/ffi_reader.js";
//   const table = tableFromFFI(engine.execute_sql_ffi("SELECT ..."), arrow);            // copy: safe
//   const view = tableFromFFI(engine.execute_sql_ffi("SELECT ..."), arrow, {copy: false});
//   ... view.table ...; view.release();                                                 // views
//
// copy (the default): every buffer is copied out of the module's memory once and the export is
// released at once. The table is ordinary JS memory and lives as long as you keep it.
//
// copy: false: the table's buffers are views of the module's memory, no copy at all. They are valid
// until the export is released (view.release(), or the FinalizationRegistry once neither the view
// nor its table is reachable) or the module's memory grows (any later engine call may grow it: the
// old ArrayBuffer is then detached). Read what you need right away. Every access through the table
// (and through the vectors, batches and rows reached from it) checks both and throws an
// FfiViewInvalidError instead of reading a detached buffer or memory the engine has reused; typed
// arrays handed out (toArray(), a Data's values) are copies, so they stay valid.

/** Thrown when a view table (copy: false) is used after its export was released or the memory grew. */
export class FfiViewInvalidError extends Error {
  constructor(message) {
    super(message);
    this.name = "FfiViewInvalidError";
  }
}

// ArrowSchema and ArrowArray on wasm32: pointers are 4 bytes, int64 fields 8-byte aligned.
const SCHEMA = {format: 0, name: 4, metadata: 8, flags: 16, nChildren: 24, children: 32, dictionary: 36};
const ARRAY = {length: 0, nullCount: 8, offset: 16, nBuffers: 24, nChildren: 32, buffers: 40, children: 44, dictionary: 48};
const FLAG_DICTIONARY_ORDERED = 1;
const FLAG_NULLABLE = 2;
const FLAG_MAP_KEYS_SORTED = 4;

const utf8 = new TextDecoder();

/**
 * The result as an apache-arrow Table. With `copy: false`, an FfiView ({table, valid, release()}).
 * The export is released here in copy mode (unless `release: false`), by `release()` otherwise.
 */
export function tableFromFFI(result, arrow, options = {}) {
  const {copy = true} = options;
  if (!result || typeof result.schema_address !== "function") {
    throw new TypeError("tableFromFFI: pass what execute_sql_ffi or read_table_ffi returned");
  }
  if (!arrow || typeof arrow.makeData !== "function") {
    throw new TypeError("tableFromFFI: pass the apache-arrow module (import * as arrow from \"apache-arrow\") as the second argument");
  }
  const memory = options.memory || result.constructor.memory();
  if (copy) {
    try {
      return readTable(result, arrow, memory, true);
    } finally {
      if (options.release !== false) result.free();
    }
  }
  return new FfiView(result, arrow, memory);
}

// Releases an export whose view became unreachable without release().
const unreleased = typeof FinalizationRegistry === "function" ? new FinalizationRegistry((result) => {
  try {
    result.free();
  } catch (e) {
    // The instance is gone (a trap, or the page is closing): nothing left to release.
  }
}) : null;

/** A table whose buffers are views of the module's memory; see the notes at the top. */
export class FfiView {
  constructor(result, arrow, memory) {
    // The state the table's proxies check; the registry releases the export once it is unreachable
    // (the view and every proxy reached from the table hold it).
    const state = {result, memory, buffer: memory.buffer, released: false};
    this._state = state;
    this.table = guard(readTable(result, arrow, memory, false), state);
    if (unreleased) unreleased.register(state, result, state);
  }

  /** False once released or once the module's memory has grown. */
  get valid() {
    return validity(this._state) === null;
  }

  /** Releases the export: the table must not be used afterwards (it throws if it is). */
  release() {
    const state = this._state;
    if (state.released) return;
    state.released = true;
    if (unreleased) unreleased.unregister(state);
    state.result.free();
  }

  [Symbol.dispose]() {
    this.release();
  }
}

function validity(state) {
  if (state.released) return "its export was released (release())";
  if (state.memory.buffer !== state.buffer || state.buffer.byteLength === 0) {
    return "the module's memory grew since it was read (a later engine call allocated), which detaches the buffers it viewed";
  }
  return null;
}

function check(state) {
  const why = validity(state);
  if (why) {
    throw new FfiViewInvalidError(
      `this FFI view table can no longer be read: ${why}. Read what you need before the next engine ` +
      "call, or use tableFromFFI(result, arrow) (copy: true) for a table that stays valid.");
  }
}

// Every object reached from the table is wrapped so each access checks the view first; a typed
// array over the module's memory is handed out as a copy (it would outlive the check otherwise).
function guard(value, state) {
  const proxies = new WeakMap();
  const wrap = (v) => {
    if (v === null || (typeof v !== "object" && typeof v !== "function")) return v;
    if (ArrayBuffer.isView(v)) return v.buffer === state.buffer ? v.slice() : v;
    if (v instanceof ArrayBuffer) return v === state.buffer ? v.slice(0) : v;
    if (typeof v === "function") return v;
    let proxy = proxies.get(v);
    if (!proxy) {
      proxy = new Proxy(v, {
        get(target, key) {
          check(state);
          const member = Reflect.get(target, key, target);
          if (typeof member === "function" && key !== "constructor") {
            return function (...args) {
              check(state);
              return wrap(member.apply(this === proxy ? target : this, args));
            };
          }
          return wrap(member);
        },
        has(target, key) {
          check(state);
          return Reflect.has(target, key);
        },
        ownKeys(target) {
          check(state);
          return Reflect.ownKeys(target);
        },
      });
      proxies.set(v, proxy);
    }
    return proxy;
  };
  return wrap(value);
}

function readTable(result, arrow, memory, copy) {
  const read = new Reader(arrow, memory, copy);
  const root = read.schema(result.schema_address());
  if (root.format !== "+s") throw new Error(`tableFromFFI: the export's schema is ${root.format}, not a struct ("+s")`);
  const fields = root.children.map((child) => read.field(child));
  const schema = new arrow.Schema(fields, root.metadata);
  const structType = new arrow.Struct(fields);
  const batches = [];
  for (let i = 0; i < result.batch_count(); i++) {
    const data = read.array(result.array_address(i), root, structType);
    batches.push(new arrow.RecordBatch(schema, data));
  }
  return batches.length ? new arrow.Table(schema, batches) : new arrow.Table(schema);
}

class Reader {
  constructor(arrow, memory, copy) {
    this.arrow = arrow;
    this.buffer = memory.buffer;
    this.view = new DataView(this.buffer);
    this.copy = copy;
    this.nextDictionaryId = 0;
  }

  u32(address) {
    return this.view.getUint32(address, true);
  }

  i64(address) {
    return Number(this.view.getBigInt64(address, true));
  }

  cString(address) {
    if (!address) return null;
    const bytes = new Uint8Array(this.buffer);
    let end = address;
    while (bytes[end] !== 0) end++;
    return utf8.decode(bytes.subarray(address, end));
  }

  // The metadata encoding: int32 count, then per entry int32 length + key bytes, int32 length + value.
  metadata(address) {
    const entries = new Map();
    if (!address) return entries;
    let at = address + 4;
    for (let n = this.view.getInt32(address, true); n > 0; n--) {
      const [key, value] = [0, 1].map(() => {
        const length = this.view.getInt32(at, true);
        const text = utf8.decode(new Uint8Array(this.buffer, at + 4, length));
        at += 4 + length;
        return text;
      });
      entries.set(key, value);
    }
    return entries;
  }

  schema(address) {
    const s = (offset) => address + offset;
    const nChildren = this.i64(s(SCHEMA.nChildren));
    const childrenAt = this.u32(s(SCHEMA.children));
    const dictionaryAt = this.u32(s(SCHEMA.dictionary));
    return {
      format: this.cString(this.u32(s(SCHEMA.format))),
      name: this.cString(this.u32(s(SCHEMA.name))) ?? "",
      metadata: this.metadata(this.u32(s(SCHEMA.metadata))),
      flags: this.i64(s(SCHEMA.flags)),
      children: Array.from({length: nChildren}, (_, i) => this.schema(this.u32(childrenAt + 4 * i))),
      dictionary: dictionaryAt ? this.schema(dictionaryAt) : null,
    };
  }

  field(node) {
    return new this.arrow.Field(node.name, this.type(node), (node.flags & FLAG_NULLABLE) !== 0, node.metadata);
  }

  type(node) {
    const a = this.arrow;
    if (node.dictionary) {
      const indices = this.type({...node, dictionary: null});
      return new a.Dictionary(this.type(node.dictionary), indices, this.nextDictionaryId++, (node.flags & FLAG_DICTIONARY_ORDERED) !== 0);
    }
    const f = node.format;
    const ints = {c: [true, 8], C: [false, 8], s: [true, 16], S: [false, 16], i: [true, 32], I: [false, 32], l: [true, 64], L: [false, 64]};
    if (ints[f]) return new a.Int(...ints[f]);
    const units = {s: a.TimeUnit.SECOND, m: a.TimeUnit.MILLISECOND, u: a.TimeUnit.MICROSECOND, n: a.TimeUnit.NANOSECOND};
    switch (f) {
      case "n": return new a.Null();
      case "b": return new a.Bool();
      case "e": return new a.Float(a.Precision.HALF);
      case "f": return new a.Float(a.Precision.SINGLE);
      case "g": return new a.Float(a.Precision.DOUBLE);
      case "u": return new a.Utf8();
      case "U": return new a.LargeUtf8();
      case "z": return new a.Binary();
      case "Z": return new a.LargeBinary();
      case "tdD": return new a.Date_(a.DateUnit.DAY);
      case "tdm": return new a.Date_(a.DateUnit.MILLISECOND);
      case "tts": case "ttm": return new a.Time(units[f[2]], 32);
      case "ttu": case "ttn": return new a.Time(units[f[2]], 64);
      case "tDs": case "tDm": case "tDu": case "tDn": return new a.Duration(units[f[2]]);
      case "tiM": return new a.Interval(a.IntervalUnit.YEAR_MONTH);
      case "tiD": return new a.Interval(a.IntervalUnit.DAY_TIME);
      case "tin": return new a.Interval(a.IntervalUnit.MONTH_DAY_NANO);
      case "+l": return new a.List(this.field(node.children[0]));
      case "+L": return new a.LargeList(this.field(node.children[0]));
      case "+s": return new a.Struct(node.children.map((c) => this.field(c)));
      case "+m": return new a.Map_(this.field(node.children[0]), (node.flags & FLAG_MAP_KEYS_SORTED) !== 0);
    }
    let m;
    if ((m = /^ts([smun]):(.*)$/.exec(f))) return new a.Timestamp(units[m[1]], m[2] || null);
    if ((m = /^w:(\d+)$/.exec(f))) return new a.FixedSizeBinary(Number(m[1]));
    if ((m = /^\+w:(\d+)$/.exec(f))) return new a.FixedSizeList(Number(m[1]), this.field(node.children[0]));
    if ((m = /^d:(\d+),(-?\d+)(?:,(\d+))?$/.exec(f))) return new a.Decimal(Number(m[2]), Number(m[1]), Number(m[3] || 128));
    if ((m = /^\+u([sd]):(.*)$/.exec(f))) {
      const mode = m[1] === "s" ? a.UnionMode.Sparse : a.UnionMode.Dense;
      const ids = m[2] === "" ? [] : m[2].split(",").map(Number);
      return new a.Union(mode, ids, node.children.map((c) => this.field(c)));
    }
    throw new Error(`tableFromFFI: the Arrow type with C format "${f}" is not supported by this reader (apache-arrow JS 21)`);
  }

  // `length` bytes at `address`: a view of the module's memory, or a copy. A view whose address
  // is not aligned for its typed array cannot be made: that buffer is copied.
  bytes(address, length, align = 1) {
    if (length <= 0) return new Uint8Array(0);
    if (!address) throw new Error("tableFromFFI: a buffer the array needs is missing (null pointer)");
    const view = new Uint8Array(this.buffer, address, length);
    return this.copy || address % align !== 0 ? view.slice() : view;
  }

  // apache-arrow's Data keeps `offset` for the validity bits only and expects its value buffers
  // (and a struct's children) to start at the first value: the array is read whole, from 0 to
  // offset + length, and then sliced, which apache-arrow does for every type.
  array(address, node, type) {
    const a = this.arrow;
    const r = (field) => address + field;
    const length = this.i64(r(ARRAY.length));
    const offset = this.i64(r(ARRAY.offset));
    const data = this.wholeArray(address, node, type, offset + length, offset === 0 ? this.i64(r(ARRAY.nullCount)) : -1);
    return offset === 0 || type.typeId === a.Type.Null ? data : data.slice(offset, length);
  }

  wholeArray(address, node, type, end, nullCount) {
    const a = this.arrow;
    const buffersAt = this.u32(address + ARRAY.buffers);
    const childrenAt = this.u32(address + ARRAY.children);
    const buffer = (i) => this.u32(buffersAt + 4 * i);
    const child = (i, childType) => this.array(this.u32(childrenAt + 4 * i), node.children[i], childType);
    const props = {type, offset: 0, length: end};
    const typeId = type.typeId;
    if (typeId === a.Type.Null) return a.makeData({type, length: this.i64(address + ARRAY.length)});
    if (typeId !== a.Type.Union) {
      const validity = buffer(0);
      props.nullBitmap = validity ? this.bytes(validity, Math.ceil(end / 8)) : undefined;
      props.nullCount = validity ? nullCount : 0;
    }
    switch (typeId) {
      case a.Type.Bool:
        return a.makeData({...props, data: this.bytes(buffer(1), Math.ceil(end / 8))});
      case a.Type.Utf8: case a.Type.Binary: case a.Type.LargeUtf8: case a.Type.LargeBinary: {
        const large = typeId === a.Type.LargeUtf8 || typeId === a.Type.LargeBinary;
        const width = large ? 8 : 4;
        const offsetsAt = buffer(1);
        const last = !offsetsAt ? 0 : large ? this.i64(offsetsAt + 8 * end) : this.view.getInt32(offsetsAt + 4 * end, true);
        const valueOffsets = offsetsAt ? this.bytes(offsetsAt, (end + 1) * width, width) : new Uint8Array((end + 1) * width);
        return a.makeData({...props, valueOffsets, data: this.bytes(buffer(2), last)});
      }
      case a.Type.List: case a.Type.LargeList: case a.Type.Map: {
        const width = typeId === a.Type.LargeList ? 8 : 4;
        const offsetsAt = buffer(1);
        const valueOffsets = offsetsAt ? this.bytes(offsetsAt, (end + 1) * width, width) : new Uint8Array((end + 1) * width);
        return a.makeData({...props, valueOffsets, child: child(0, type.children[0].type)});
      }
      case a.Type.FixedSizeList:
        return a.makeData({...props, child: child(0, type.children[0].type)});
      case a.Type.Struct:
        return a.makeData({...props, children: type.children.map((f, i) => child(i, f.type))});
      case a.Type.Union: {
        const dense = type.mode === a.UnionMode.Dense;
        const children = type.children.map((f, i) => child(i, f.type));
        const valueOffsets = dense ? this.bytes(buffer(1), end * 4, 4) : undefined;
        return a.makeData({...props, nullCount: 0, typeIds: this.bytes(buffer(0), end), valueOffsets, children});
      }
      case a.Type.Dictionary: {
        const values = this.array(this.u32(address + ARRAY.dictionary), node.dictionary, type.dictionary);
        const width = type.indices.bitWidth / 8;
        return a.makeData({...props, data: this.bytes(buffer(1), end * width, width), dictionary: a.makeVector(values)});
      }
      default: {
        const width = this.byteWidth(type);
        return a.makeData({...props, data: this.bytes(buffer(1), end * width, Math.min(width, 8))});
      }
    }
  }

  byteWidth(type) {
    const a = this.arrow;
    switch (type.typeId) {
      case a.Type.Int: return type.bitWidth / 8;
      case a.Type.Float: return [2, 4, 8][type.precision];
      case a.Type.Date: return type.unit === a.DateUnit.DAY ? 4 : 8;
      case a.Type.Time: return type.bitWidth / 8;
      case a.Type.Timestamp: case a.Type.Duration: return 8;
      case a.Type.Interval: return {[a.IntervalUnit.YEAR_MONTH]: 4, [a.IntervalUnit.DAY_TIME]: 8, [a.IntervalUnit.MONTH_DAY_NANO]: 16}[type.unit];
      case a.Type.Decimal: return type.bitWidth / 8;
      case a.Type.FixedSizeBinary: return type.byteWidth;
    }
    throw new Error(`tableFromFFI: no reader for ${type}`);
  }
}
