"""Smoke test: the built engine loads in headless Chromium and answers SQL like native DataFusion."""

from __future__ import annotations

import base64
import re

import datafusion
import pyarrow as pa
import pytest

from tests.conftest import b64
from toolchain.tools.webdriver import JSError

pytestmark = pytest.mark.browser


def ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def sample_table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(1, 11), pa.int64()),
            "city": pa.array(["Zürich", "Köln", "Zürich", "東京", "Köln", "Zürich", "東京", "Köln", None, "Zürich"]),
            "amount": pa.array([1.5, 2.0, None, 4.25, 5.0, 6.0, 7.5, 8.0, 9.0, 10.0], pa.float64()),
        }
    )


AGGREGATE = (
    "SELECT city, count(*) AS n, sum(amount) AS total, avg(id) AS mean_id FROM t GROUP BY city ORDER BY city NULLS LAST"
)


def native(sql: str, table: pa.Table) -> pa.Table:
    ctx = datafusion.SessionContext()
    ctx.register_record_batches("t", [table.to_batches()])
    return ctx.sql(sql).to_arrow_table()


def run_in_page(page, sql: str) -> tuple[pa.Table, dict]:
    """Runs sql in the page's engine: the result decoded by pyarrow, and by apache-arrow JS."""
    out = page.run(
        """
        const [sql] = args;
        const bytes = await window.engine.execute_sql(sql);
        return {b64: window.harness.bytesToBase64(bytes), js: window.harness.decode(bytes)};
        """,
        sql,
    )
    return pa.ipc.open_stream(base64.b64decode(out["b64"])).read_all(), out["js"]


@pytest.fixture(scope="module")
def engine_with_t(wasm_module_page):
    rows = wasm_module_page.run(
        """
        const [data] = args;
        window.engine = new window.pkg.WasmQueryEngine();
        return window.engine.register_table("t", window.harness.base64ToBytes(data));
        """,
        b64(ipc_stream(sample_table())),
    )
    assert rows == 10
    return wasm_module_page


def test_module_loads_and_reports_its_datafusion_version(wasm_module_page, built_engine):
    version = wasm_module_page.run("return window.pkg.WasmQueryEngine.datafusion_version();")
    assert version == built_engine.build_info["locked_versions"]["datafusion"]


def test_grouped_aggregate_matches_native_datafusion(engine_with_t):
    result, decoded_by_js = run_in_page(engine_with_t, AGGREGATE)
    expected = native(AGGREGATE, sample_table())
    assert result.column_names == expected.column_names
    # Compare values, not physical types (native may pick Utf8View where the engine gives Utf8).
    assert result.to_pylist() == expected.to_pylist()
    assert decoded_by_js["numRows"] == expected.num_rows
    assert [row["city"] for row in decoded_by_js["rows"]] == expected.column("city").to_pylist()
    assert [row["n"] for row in decoded_by_js["rows"]] == expected.column("n").to_pylist()


def test_string_results_are_plain_utf8_for_apache_arrow_js(engine_with_t):
    result, decoded_by_js = run_in_page(
        engine_with_t, "SELECT upper(city) AS c, 'x' || city AS y FROM t WHERE id < 4 ORDER BY id"
    )
    assert result.schema.field("c").type == pa.string()
    assert result.schema.field("y").type == pa.string()
    assert [row["c"] for row in decoded_by_js["rows"]] == ["ZÜRICH", "KÖLN", "ZÜRICH"]


def test_time_and_randomness_work_in_the_browser(engine_with_t):
    result, _ = run_in_page(engine_with_t, "SELECT now() AS ts, random() AS r, uuid() AS u")
    row = result.to_pylist()[0]
    assert row["ts"].year >= 2024
    assert 0.0 <= row["r"] < 1.0
    assert len(row["u"]) == 36 and row["u"][14] == "4"
    plan, _ = run_in_page(engine_with_t, "EXPLAIN ANALYZE SELECT city, count(*) FROM t GROUP BY city")
    text = "\n".join(str(v) for v in plan.column(1).to_pylist())
    assert "elapsed_compute" in text or "output_rows" in text


def test_bad_sql_is_a_js_error_and_the_engine_keeps_working(engine_with_t):
    with pytest.raises(JSError) as error:
        run_in_page(engine_with_t, "SELEC oops FROM t")
    assert error.value.name == "Error" and "SELEC" in error.value.message
    with pytest.raises(JSError, match="nope"):
        run_in_page(engine_with_t, "SELECT * FROM nope")
    result, _ = run_in_page(engine_with_t, "SELECT count(*) AS n FROM t")
    assert result.column("n").to_pylist() == [10]


def ipc_file(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


REGISTER = """
const [name, data] = args;
return window.engine.register_table(name, window.harness.base64ToBytes(data));
"""


@pytest.mark.parametrize(
    "label, payload, message",
    [
        ("empty", b"", "empty"),
        ("garbage", b"definitely not arrow", "not a valid Arrow IPC stream"),
        ("file format", None, "file* format"),
        ("truncated", None, "not a valid Arrow IPC stream"),
        ("no end-of-stream", None, "no end-of-stream marker"),
    ],
)
def test_malformed_ipc_is_a_js_error_and_earlier_tables_survive(engine_with_t, label, payload, message):
    if label == "file format":
        payload = ipc_file(sample_table())
    elif label == "truncated":
        payload = ipc_stream(sample_table())[:-40]  # cut inside the last record batch
    elif label == "no end-of-stream":
        payload = ipc_stream(sample_table())[:-8]  # cut exactly at a message boundary
    with pytest.raises(JSError) as error:
        engine_with_t.run(REGISTER, "t", b64(payload))
    assert message in error.value.message and "register_table('t')" in error.value.message
    result, _ = run_in_page(engine_with_t, "SELECT count(*) AS n FROM t")
    assert result.column("n").to_pylist() == [10]


def test_notebook_flow_register_derive_read_deregister_reset(engine_with_t):
    page = engine_with_t
    out = page.run(
        """
        const e = window.engine;
        const b = await e.execute_and_register("SELECT city, sum(amount) AS total FROM t WHERE city IS NOT NULL GROUP BY city", "b");
        const c = await e.execute_and_register("SELECT count(*) AS cities FROM b", "c");
        const names = e.table_names();
        const readBack = await e.read_table_ipc("b");
        e.deregister_table("c");
        const afterDeregister = e.table_names();
        return {b: window.harness.decode(b).numRows, c: window.harness.decode(c).rows,
                names, readBack: window.harness.decode(readBack).numRows, afterDeregister};
        """
    )
    assert out["b"] == 3 and out["c"] == [{"cities": 3}]
    assert out["names"] == ["b", "c", "t"] and out["afterDeregister"] == ["b", "t"]
    assert out["readBack"] == 3
    with pytest.raises(JSError, match="no table named 'c'"):
        page.run("window.engine.deregister_table('c');")
    with pytest.raises(JSError, match="no table named 'zzz'"):
        page.run("return await window.engine.read_table_ipc('zzz');")
    names = page.run(
        """
        const e = new window.pkg.WasmQueryEngine();
        e.register_table("x", await window.engine.read_table_ipc("t"));
        e.reset();
        return e.table_names();
        """
    )
    assert names == []
    assert page.run("return window.engine.table_names();") == ["b", "t"]


def test_an_uncaught_error_fails_the_call_instead_of_hanging(wasm_module_page):
    # A wasm trap inside a promise job surfaces only as an uncaught error; page.run must report
    # it (here a plain uncaught error stands in for the trap) rather than wait for the timeout.
    # (Chromium hides the details of errors thrown by injected scripts: "Script error.")
    # The error is thrown by page code (a script element), as a trap in the engine's glue would be:
    # Firefox runs injected scripts in a sandbox whose own errors never reach the page's error event.
    with pytest.raises(JSError):
        wasm_module_page.run("""
            const script = document.createElement("script");
            script.textContent = "setTimeout(() => { throw new Error('boom in a task'); }, 0);";
            document.head.appendChild(script);
            await new Promise(() => {});
            """)
    assert any("boom in a task" in line for line in wasm_module_page.collect_console() + wasm_module_page.console)
    assert wasm_module_page.run("return 1 + 1;") == 2


def test_engine_logs_registrations_queries_and_errors_to_the_console(wasm_module_page):
    data = ipc_stream(sample_table())
    wasm_module_page.run(
        """
        const [data] = args;
        const engine = new window.pkg.WasmQueryEngine();
        engine.register_table("logged", window.harness.base64ToBytes(data));
        await engine.execute_sql("SELECT city, count(*) FROM logged GROUP BY city");
        try { await engine.execute_sql("SELEC nope"); } catch (e) {}
        return true;
    """,
        b64(data),
    )
    console = "\n".join(wasm_module_page.console)
    assert f"[INFO] registered table 'logged' (10 rows, {len(data)} bytes)" in console, console
    assert re.search(
        r"\[INFO\] query ok in \d+\.\d\d ms: 4 rows out \(\d+ bytes\): SELECT city, count\(\*\)", console
    ), console
    assert re.search(r"\[ERROR\] SQL failed: .*SELEC", console), console


def test_create_external_table_is_refused_clearly_and_the_engine_keeps_working(engine_with_t):
    """The browser session has no file formats or listing tables: there is no file system."""
    with pytest.raises(JSError) as error:
        run_in_page(engine_with_t, "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'data.csv'")
    assert "SQL failed" in error.value.message and "CSV" in error.value.message.upper()
    result, _ = run_in_page(engine_with_t, "SELECT count(*) AS n FROM t")
    assert result.column("n").to_pylist() == [10]


def compressed_ipc_stream(table: pa.Table, codec: str) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_lz4_ipc_registers_and_zstd_ipc_is_refused_with_the_reason(engine_with_t):
    """arrow-ipc is patched to keep zstd-sys (C) out of wasm32: LZ4 is pure Rust and works."""
    assert engine_with_t.run(REGISTER, "lz4", b64(compressed_ipc_stream(sample_table(), "lz4"))) == 10
    result, _ = run_in_page(engine_with_t, "SELECT sum(id) AS s FROM lz4")
    assert result.column("s").to_pylist() == [55]
    with pytest.raises(JSError) as error:
        engine_with_t.run(REGISTER, "zstd", b64(compressed_ipc_stream(sample_table(), "zstd")))
    assert "ZSTD-compressed, which this build cannot decompress" in error.value.message
    assert "register_table('zstd')" in error.value.message
    names = engine_with_t.run("return window.engine.table_names();")
    assert "lz4" in names and "zstd" not in names  # nothing half-registered; the engine still answers
