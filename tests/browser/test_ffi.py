"""Results through the Arrow C Data Interface (issue 17, item 2): `execute_sql_ffi` / `read_table_ffi`
export the result's batches in the module's memory and ffi_reader.js (`tableFromFFI`, shipped in the
engine package) reads them into apache-arrow 21 Tables. In Chromium and Firefox:

* every type below, with nulls, whole and sliced (LIMIT/OFFSET gives arrays with an offset), read
  with copy=true and copy=false, equals the IPC path's result for the same statement: both tables
  go back through apache-arrow's IPC writer to pyarrow, which compares types and values;
* a copied table stays valid after the module's memory grows; a view table throws
  FfiViewInvalidError once the memory has grown or the export was released, instead of reading a
  detached buffer or reused memory;
* a released result cannot be read again, and the engine keeps working after every error;
* IPC, FFI copy and FFI view are timed on a 1M-row result (median of 3) with the wasm memory
  before and after, recorded in artifacts/reports/browser-measurements.json (a record, not asserted).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal

import pyarrow as pa
import pytest

from tests.browser.oracle import ipc_stream
from tests.conftest import b64
from toolchain.tools.webdriver import JSError

pytestmark = pytest.mark.browser


def _with_nulls(values: list, type_: pa.DataType) -> pa.Array:
    """`values` with every third one NULL."""
    return pa.array([None if i % 3 == 2 else v for i, v in enumerate(values)], type_)


N = 9
TZ_TIMES = [dt.datetime(2024, 3, 1, 12, 30, i, tzinfo=dt.UTC) for i in range(N)]
TYPES = pa.table(
    {
        "i8": _with_nulls(list(range(-4, 5)), pa.int8()),
        "i16": _with_nulls([i * 1000 for i in range(N)], pa.int16()),
        "i32": _with_nulls([i * -100000 for i in range(N)], pa.int32()),
        "i64": _with_nulls([2**62 - i for i in range(N)], pa.int64()),
        "u8": _with_nulls([*range(250, 255), 1, 2, 3, 4], pa.uint8()),
        "u16": _with_nulls([65535 - i for i in range(N)], pa.uint16()),
        "u32": _with_nulls([2**32 - 1 - i for i in range(N)], pa.uint32()),
        "u64": _with_nulls([2**64 - 1 - i for i in range(N)], pa.uint64()),
        "f32": _with_nulls([i / 4 for i in range(N)], pa.float32()),
        "f64": _with_nulls([float(i) * 1e300 for i in range(N)], pa.float64()),
        "flag": _with_nulls([i % 2 == 0 for i in range(N)], pa.bool_()),
        "s": _with_nulls(["", "a", "Zürich", "東京", "x" * 40, "b", "c", "d", "e"], pa.string()),
        "ls": _with_nulls([f"large {i}" for i in range(N)], pa.large_string()),
        "sv": _with_nulls([f"view {i} " * (i + 1) for i in range(N)], pa.string_view()),
        "bin": _with_nulls([bytes([i]) * i for i in range(N)], pa.binary()),
        "lbin": _with_nulls([bytes([255 - i]) * 3 for i in range(N)], pa.large_binary()),
        "bv": _with_nulls([bytes([i]) * 20 for i in range(N)], pa.binary_view()),
        "fsb": _with_nulls([bytes([i, i, i, i]) for i in range(N)], pa.binary(4)),
        "d32": _with_nulls([dt.date(2024, 1, 1) + dt.timedelta(days=i * 40) for i in range(N)], pa.date32()),
        "d64": _with_nulls([dt.date(1969, 12, 1) + dt.timedelta(days=i) for i in range(N)], pa.date64()),
        "t32s": _with_nulls([dt.time(i, i, i) for i in range(N)], pa.time32("s")),
        "t32ms": _with_nulls([dt.time(i, 0, 0, i * 1000) for i in range(N)], pa.time32("ms")),
        "t64us": _with_nulls([dt.time(23, 59, i, i) for i in range(N)], pa.time64("us")),
        "t64ns": _with_nulls([i * 1_000_000_007 for i in range(N)], pa.time64("ns")),
        "ts_s": _with_nulls([1_700_000_000 + i for i in range(N)], pa.timestamp("s")),
        "ts_ms_tz": _with_nulls(
            [t.replace(microsecond=1000 * i) for i, t in enumerate(TZ_TIMES)], pa.timestamp("ms", "UTC")
        ),
        "ts_us_tz": _with_nulls(TZ_TIMES, pa.timestamp("us", "Europe/Zurich")),
        "ts_ns_tz": _with_nulls([1_700_000_000_000_000_000 + i for i in range(N)], pa.timestamp("ns", "+05:30")),
        "dur_s": _with_nulls([i - 4 for i in range(N)], pa.duration("s")),
        "dur_ns": _with_nulls([i * 123456789 for i in range(N)], pa.duration("ns")),
        "iv": _with_nulls(
            [pa.scalar((i, -i, i * 1000), pa.month_day_nano_interval()).as_py() for i in range(N)],
            pa.month_day_nano_interval(),
        ),
        "dec": _with_nulls([decimal.Decimal(f"{i}.{i:02d}") * (-1) ** i for i in range(N)], pa.decimal128(12, 2)),
        "dec_big": _with_nulls([decimal.Decimal(10) ** 40 + i for i in range(N)], pa.decimal256(50, 0)),
        "dec_scale3": _with_nulls([decimal.Decimal(i * 100) for i in range(N)], pa.decimal128(10, 3)),
        "li": _with_nulls([list(range(i)) if i != 4 else [None, 1] for i in range(N)], pa.list_(pa.int32())),
        "lls": _with_nulls([[f"{i}", None] for i in range(N)], pa.large_list(pa.string())),
        "fsl": _with_nulls([[float(i), float(-i)] for i in range(N)], pa.list_(pa.float64(), 2)),
        "lv": _with_nulls([[i, i + 1] for i in range(N)], pa.list_view(pa.int64())),
        "st": pa.array(
            [None if i == 5 else {"a": i, "b": None if i == 1 else f"s{i}", "c": {"d": [i]}} for i in range(N)],
            pa.struct([("a", pa.int64()), ("b", pa.string()), ("c", pa.struct([("d", pa.list_(pa.int16()))]))]),
        ),
        "m": _with_nulls([[("k", i), ("z", None)] for i in range(N)], pa.map_(pa.string(), pa.int64())),
        "dict": pa.array(["red", "green", None, "red", "blue", "green", "red", None, "blue"]).dictionary_encode(),
        "nothing": pa.nulls(N),
    }
)
TYPES_B64 = b64(ipc_stream(TYPES))

# Whole, sliced (an offset into every column), sliced past a byte of validity bits, a computed
# result, and no rows.
STATEMENTS = [
    "SELECT * FROM types",
    "SELECT * FROM types LIMIT 3 OFFSET 2",
    "SELECT * FROM types LIMIT 5 OFFSET 4",
    "SELECT s, i64 + 1 AS next, upper(sv) AS up, st['c'] AS inner_struct, m['k'] AS mk, dict FROM types WHERE i8 <> 0 OR i8 IS NULL",
    "SELECT * FROM types WHERE false",
]

SETUP = """
if (!window.ffi) {
  window.ffi = await import(new URL("ffi_reader.js", window.harness.moduleUrl).href);
  window.toB64 = (bytes) => { let s = ""; for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000)); return btoa(s); };
  window.ipcOf = (table) => window.toB64(Arrow.tableToIPC(table, "stream"));
}
"""


def from_b64_ipc(data: str) -> pa.Table:
    return pa.ipc.open_stream(base64.b64decode(data)).read_all()


@pytest.fixture
def page(wasm_module_page):
    wasm_module_page.run(SETUP)
    return wasm_module_page


def test_every_type_equals_the_ipc_result_in_both_modes(page):
    out = page.run(
        """
        const [data, statements] = args;
        const engine = new window.pkg.WasmQueryEngine();
        engine.register_table("types", window.harness.base64ToBytes(data));
        const results = [];
        for (const sql of statements) {
          const ipc = await engine.execute_sql(sql);
          const copied = window.ffi.tableFromFFI(engine.execute_sql_ffi(sql), Arrow);
          const view = window.ffi.tableFromFFI(engine.execute_sql_ffi(sql), Arrow, {copy: false});
          const viewed = window.ipcOf(view.table);
          const rows = [copied.numRows, view.table.numRows];
          view.release();
          results.push({sql, ipc: window.toB64(ipc), copy: window.ipcOf(copied), view: viewed, rows});
        }
        const table = window.ffi.tableFromFFI(engine.read_table_ffi("types"), Arrow);
        const read = {ipc: window.toB64(await engine.read_table_ipc("types")), copy: window.ipcOf(table)};
        return {results, read};
        """,
        TYPES_B64,
        STATEMENTS,
    )
    for result in out["results"]:
        expected = from_b64_ipc(result["ipc"])
        for mode in ("copy", "view"):
            got = from_b64_ipc(result[mode])
            assert got.schema.equals(expected.schema), f"{mode}: {result['sql']}\n{got.schema}\n!=\n{expected.schema}"
            assert got.equals(expected), f"{mode}: {result['sql']}: the values differ from the IPC path's"
        assert result["rows"] == [expected.num_rows] * 2
    # The IPC path itself is the differential suite's: it must have given the sliced rows it was asked for.
    assert [r["rows"][0] for r in out["results"]][:3] == [N, 3, 5]
    assert from_b64_ipc(out["read"]["copy"]).equals(from_b64_ipc(out["read"]["ipc"]))


def test_a_view_throws_once_the_memory_grew_and_a_copy_stays_valid(page):
    out = page.run(
        """
        const [data] = args;
        const engine = new window.pkg.WasmQueryEngine();
        engine.register_table("types", window.harness.base64ToBytes(data));
        const sql = "SELECT i64, s, li FROM types";
        const copied = window.ffi.tableFromFFI(engine.execute_sql_ffi(sql), Arrow);
        const view = window.ffi.tableFromFFI(engine.execute_sql_ffi(sql), Arrow, {copy: false});
        const before = {valid: view.valid, rows: view.table.numRows, first: String(view.table.getChild("s").get(1))};
        const column = view.table.getChild("i64").toArray();   // a copy: outlives the view
        // Growing the memory detaches the ArrayBuffer every view was made on, as an engine call that
        // allocates past the current size does.
        window.pkg.FfiResult.memory().grow(1);
        const attempt = (f) => { try { return {ok: String(f())}; } catch (e) { return {error: e.name, message: e.message}; } };
        const after = {
          valid: view.valid,
          rows: attempt(() => view.table.numRows),
          cell: attempt(() => view.table.getChild("s").get(1)),
          column: column.length,
          copyCell: String(copied.getChild("s").get(1)),
          copyRows: copied.numRows,
          copyIpc: window.ipcOf(copied),
        };
        view.release();
        view.release();  // twice is harmless
        const still = await engine.execute_sql("SELECT count(*) AS n FROM types");
        return {before, after, still: window.harness.decode(still).rows};
        """,
        TYPES_B64,
    )
    assert out["before"] == {"valid": True, "rows": N, "first": "a"}
    after = out["after"]
    assert after["valid"] is False
    for key in ("rows", "cell"):
        assert after[key].get("error") == "FfiViewInvalidError", after
        assert "memory grew" in after[key]["message"]
    assert after["column"] == N
    assert after["copyCell"] == "a" and after["copyRows"] == N
    assert from_b64_ipc(after["copyIpc"]).column("s").to_pylist() == TYPES.column("s").to_pylist()
    assert out["still"] == [{"n": N}]


def test_a_released_view_and_result_cannot_be_read(page):
    out = page.run(
        """
        const [data] = args;
        const engine = new window.pkg.WasmQueryEngine();
        engine.register_table("types", window.harness.base64ToBytes(data));
        const attempt = (f) => { try { return {ok: String(f())}; } catch (e) { return {error: e.name, message: e.message}; } };
        const view = window.ffi.tableFromFFI(engine.execute_sql_ffi("SELECT s FROM types"), Arrow, {copy: false});
        const rows = view.table.getChild("s");  // a vector reached before the release is checked too
        view.release();
        const result = engine.execute_sql_ffi("SELECT s FROM types");
        window.ffi.tableFromFFI(result, Arrow);  // copy mode releases the result
        return {
          valid: view.valid,
          table: attempt(() => view.table.numRows),
          vector: attempt(() => rows.get(0)),
          again: attempt(() => window.ffi.tableFromFFI(result, Arrow)),
          badArrow: attempt(() => window.ffi.tableFromFFI(engine.execute_sql_ffi("SELECT 1"), {})),
          names: engine.table_names(),
        };
        """,
        TYPES_B64,
    )
    assert out["valid"] is False
    for key in ("table", "vector"):
        assert out[key].get("error") == "FfiViewInvalidError" and "released" in out[key]["message"], out[key]
    assert "error" in out["again"], "a result released by the copy read was readable again"
    assert out["badArrow"]["error"] == "TypeError" and "apache-arrow" in out["badArrow"]["message"]
    assert out["names"] == ["types"]


def test_an_unreachable_view_is_released_by_the_finalization_registry(page, wasm_browser_name):
    """Only Chromium lets a page force a garbage collection (--js-flags=--expose-gc, which the
    harness passes); Firefox has no such switch for content, so there the test says it did not run."""
    if wasm_browser_name != "chromium":
        pytest.skip("Firefox gives pages no way to force a garbage collection (Chromium: --js-flags=--expose-gc)")
    out = page.run(
        """
        const engine = new window.pkg.WasmQueryEngine();
        const kept = engine.execute_sql_ffi("SELECT 1 AS x");
        const dropped = engine.execute_sql_ffi("SELECT 2 AS x");
        const released = (result) => { try { result.batch_count(); return false; } catch (e) { return true; } };
        // Views read inside a function: neither the views nor their tables outlive it.
        const keptView = window.ffi.tableFromFFI(kept, Arrow, {copy: false});
        (() => { window.ffi.tableFromFFI(dropped, Arrow, {copy: false}).table.numRows; })();
        const before = released(dropped);
        for (let i = 0; i < 100 && !released(dropped); i++) {
          gc();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return {before, dropped: released(dropped), kept: released(kept), keptRows: keptView.table.numRows};
        """
    )
    assert out["before"] is False
    assert out["dropped"] is True, "the FinalizationRegistry never released an unreachable view's export"
    assert out["kept"] is False and out["keptRows"] == 1  # a view still held is not released


def test_ffi_errors_are_the_engines_and_it_keeps_working(page):
    with pytest.raises(JSError, match="no table named 'missing'"):
        page.run("return new window.pkg.WasmQueryEngine().read_table_ffi('missing');")
    with pytest.raises(JSError, match="SQL failed"):
        page.run("return new window.pkg.WasmQueryEngine().execute_sql_ffi('SELEC 1');")
    rows = page.run(
        "const e = new window.pkg.WasmQueryEngine();"
        "return Array.from(window.ffi.tableFromFFI(e.execute_sql_ffi('SELECT 41 + 1 AS x'), Arrow).getChild('x').toArray(), Number);"
    )
    assert rows == [42]


MODES = {
    "ipc": "Arrow.tableFromIPC(await engine.execute_sql(read))",
    "ffi_copy": "window.ffi.tableFromFFI(engine.execute_sql_ffi(read), Arrow)",
    "ffi_view": "window.ffi.tableFromFFI(engine.execute_sql_ffi(read), Arrow, {copy: false})",
}


def test_measure_ipc_against_ffi_for_a_million_rows(page, wasm_browser_name, measurements):
    """A record (not asserted): IPC vs FFI copy vs FFI view on one 1M-row, four-column result, each
    mode in a fresh instance (a reloaded page): time to a Table plus one pass over a column, the
    wasm memory it grew to (a WebAssembly memory never shrinks: its size is the peak) and the bytes
    of JS memory the Table holds (IPC: the bytes it was decoded from; copy: the copied buffers)."""
    source = (
        "CREATE TABLE src AS SELECT value AS id, value * 0.5 AS x, cast(value % 1000 AS VARCHAR) AS label, "
        "value % 7 = 0 AS flag FROM range(1000000)"
    )
    results = {}
    for mode, expression in MODES.items():
        page.reload()
        page.run(SETUP)
        results[mode] = page.run(
            """
            const [source] = args;
            const engine = new window.pkg.WasmQueryEngine();
            await engine.execute_sql(source);
            const memory = () => window.pkg.FfiResult.memory().buffer.byteLength;
            // The bytes of JS memory a table's buffers hold (a view's buffers are the module's).
            const ownBytes = (table) => {
              const seen = new Set();
              const walk = (data) => {
                for (const b of [data.values, data.valueOffsets, data.nullBitmap, data.typeIds]) {
                  if (b && b.buffer !== window.pkg.FfiResult.memory().buffer) seen.add(b.buffer);
                }
                for (const child of data.children || []) walk(child);
                if (data.dictionary) data.dictionary.data.forEach(walk);
              };
              table.batches.forEach((batch) => walk(batch.data));
              return [...seen].reduce((n, b) => n + b.byteLength, 0);
            };
            const read = "SELECT * FROM src";
            const memoryBefore = memory();
            const times = [];
            let rows = 0, sum = 0, jsBytes = 0;
            for (let i = 0; i < 3; i++) {
              const t0 = performance.now();
              const got = EXPRESSION;
              const table = got.table || got;
              // Touch the data: one pass over a numeric column (the view's toArray() is a checked copy).
              const ids = table.getChild("id").toArray();
              sum = 0;
              for (let j = 0; j < ids.length; j++) sum += Number(ids[j]);
              times.push(performance.now() - t0);
              rows = table.numRows;
              jsBytes = got.table ? 0 : ownBytes(table);
              if (got.release) got.release();
            }
            times.sort((a, b) => a - b);
            return {median_ms: times[1], times_ms: times, rows, sum, js_bytes: jsBytes,
                    wasm_memory_before: memoryBefore, wasm_memory_peak: memory()};
            """.replace("EXPRESSION", expression),
            source,
        )
    expected_sum = sum(range(1_000_000))
    for mode, result in results.items():
        assert result["rows"] == 1_000_000 and result["sum"] == expected_sum, (mode, result)
    measurements.record(
        f"ffi_vs_ipc_{wasm_browser_name}",
        rows=1_000_000,
        statement="SELECT * FROM src (4 columns: int64, float64, utf8, bool), a table made by CREATE TABLE AS",
        timed="the Table, then one pass over the int64 column; median of 3, each mode in a fresh instance",
        **{mode: {k: v for k, v in result.items() if k != "sum"} for mode, result in results.items()},
    )
