"""Differential tests: each scenario (tests/browser/scenarios.py) runs on the same tables and SQL in
the browser engine and in native DataFusion (PyPI `datafusion`, the oracle); the results are
compared row for row after decoding the engine's IPC bytes with pyarrow. The same bytes are also
decoded in the page by apache-arrow JS, whose rows must match too.

Also here: the notebook flow (register, execute_and_register, read back, deregister, reset),
time and randomness (now(), random(), uuid(), EXPLAIN ANALYZE: checked structurally, not against
the oracle) and the error paths (each a JS Error with a useful message, after which the engine
still answers and earlier tables are intact).

A Rust panic in the engine is a wasm trap that leaves the module instance unusable; the session
below notices that, says which statement trapped and what usually causes it, and reloads the page
so that the remaining tests still run and only the guilty ones fail.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
import uuid as uuid_module
from typing import Any

import pyarrow as pa
import pytest

from tests.browser.oracle import (
    Result,
    check_js_compatible,
    compare_js,
    compare_tables,
    ipc_file,
    ipc_stream,
    native,
    native_context,
    py_values,
    registration_payload,
    without_views,
)
from tests.browser.scenarios import SCENARIOS, Scenario, by_id, datasets
from tests.conftest import b64
from toolchain.tools.webdriver import JSError, WasmTrap

pytestmark = pytest.mark.browser

# ---------------------------------------------------------------------------------------------
# The browser engine


RUN_SQL = """
const [target, sql, withRows] = args;
const started = performance.now();
const bytes = await window[target].execute_sql(sql);
const queryMs = performance.now() - started;
let js = null, jsError = null, decodeMs = null;
try {
  const decodeStarted = performance.now();
  Arrow.tableFromIPC(bytes);
  decodeMs = performance.now() - decodeStarted;
  const decoded = window.harness.decode(bytes);
  js = withRows ? decoded : {fields: decoded.fields, numRows: decoded.numRows, rows: null};
} catch (e) {
  jsError = String((e && e.stack) || e);
}
return {b64: window.harness.bytesToBase64(bytes), js, jsError, queryMs, decodeMs};
"""

REGISTER = """
const [target, name, data] = args;
return window[target].register_table(name, window.harness.base64ToBytes(data));
"""

TIMED_REGISTER = """
const [target, name, data] = args;
const bytes = window.harness.base64ToBytes(data);
const started = performance.now();
const rows = window[target].register_table(name, bytes);
return {rows, ms: performance.now() - started, bytes: bytes.length};
"""


def is_trap(error: JSError) -> bool:
    """A wasm trap (a Rust panic aborts): the plugin's page raises WasmTrap, its frames named."""
    return isinstance(error, WasmTrap)


# What a trap's innermost Rust frames say about its cause, checked in this order.
TRAP_CAUSES = [
    (
        re.compile(r"Instant::now|SystemTime::now|sys::.*time|time::.*now"),
        "std's clock: on wasm32-unknown-unknown std::time::{Instant, SystemTime}::now are unsupported stubs that "
        "panic. The time shim is missing or bypassed: take time from JS (web-time, chrono with `wasmbind`, "
        "qe_tracing::time) instead of std::time",
    ),
    (
        re.compile(r"getrandom|fill_bytes|hashmap_random_keys|random::"),
        "std's randomness: wasm32-unknown-unknown has no entropy source. The randomness shim is missing: "
        "getrandom needs its browser backend (0.2 `js`, 0.3 `wasm_js`), uuid `js`",
    ),
    (
        re.compile(r"tokio::.*(spawn|runtime|reactor)"),
        "tokio: a task was spawned or a reactor used outside the engine's current-thread runtime",
    ),
]


def trap_message(error: JSError, what: str, frames: list[str]) -> str:
    cause = next((text for pattern, text in TRAP_CAUSES if any(pattern.search(f) for f in frames)), None)
    lines = [f"the engine trapped ({error.name}: {error.message}) while running: {what}"]
    if cause:
        lines.append(f"cause: {cause}")
    if frames:
        lines.append("innermost wasm frames (named from the build's names section):")
        lines += [f"  {frame}" for frame in frames[:12]]
    else:
        lines.append("(no wasm frames in the error's stack)")
    if not cause:
        lines.append(
            "A trap is a Rust panic (the release build aborts without a message; the browser console below "
            "may show more). On wasm32-unknown-unknown the usual cause is std's unsupported clock or "
            "randomness (SystemTime::now, Instant::now, getrandom) being reached: the time/randomness shims "
            "(JS Date / crypto.getRandomValues imports) are missing."
        )
    lines.append("The page was reloaded so that later tests run.")
    return "\n".join(lines)


class EngineSession:
    """The module's engine in its page: window.engine with every dataset registered."""

    def __init__(self, page, measurements=None):
        self.page = page
        self.tables = datasets()
        self.payloads = {name: b64(registration_payload(name, table)) for name, table in self.tables.items()}
        self.measurements = measurements
        self.start()

    def start(self) -> None:
        self.page.run("window.engine = new window.pkg.WasmQueryEngine();")
        for name in self.tables:
            out = self.page.run(TIMED_REGISTER, "engine", name, self.payloads[name])
            assert out["rows"] == self.tables[name].num_rows, f"register_table('{name}') reported {out['rows']} rows"
            if self.measurements is not None and out["rows"] >= 100_000:
                mb = out["bytes"] / 1e6
                self.measurements.record(
                    "register_table",
                    browser=self.page.browser,
                    table=name,
                    rows=out["rows"],
                    ipc_mb=mb,
                    ipc_compression="lz4",
                    ms=out["ms"],
                    mb_per_s=mb / (out["ms"] / 1000),
                )
        self.measurements = None  # a reload after a trap is not a measurement

    def reload(self) -> None:
        self.page.reload()
        self.start()

    def call(self, body: str, *args: Any, what: str) -> Any:
        """page.run, turning a trap into a failure that names the cause (and reviving the page)."""
        try:
            return self.page.run(body, *args)
        except JSError as error:
            if not is_trap(error):
                raise
            # The plugin named the trap's wasm frames from the build's names section.
            self.reload()
            pytest.fail(trap_message(error, what, error.frames), pytrace=False)

    def execute(self, sql: str, target: str = "engine", js_rows: bool = True) -> Result:
        out = self.call(RUN_SQL, target, sql, js_rows, what=sql)
        data = base64.b64decode(out["b64"])
        started = time.perf_counter()
        table = pa.ipc.open_stream(data).read_all()
        timings = {
            "query_ms": out["queryMs"],
            "js_decode_ms": out["decodeMs"],
            "pyarrow_decode_ms": (time.perf_counter() - started) * 1000,
            "ipc_bytes": len(data),
        }
        return Result(sql, data, table, out["js"], out["jsError"], timings)

    def table_names(self, target: str = "engine") -> list[str]:
        return self.page.run(f"return window.{target}.table_names();")


@pytest.fixture(scope="module")
def engine(wasm_module_page, measurements) -> EngineSession:
    return EngineSession(wasm_module_page, measurements)


# ---------------------------------------------------------------------------------------------
# The scenarios


def test_there_are_enough_distinct_scenarios():
    ids = [scenario.id for scenario in SCENARIOS]
    assert len(ids) == len(set(ids)) and len(ids) >= 45


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.id for scenario in SCENARIOS])
def test_scenario_matches_native_datafusion(engine, scenario: Scenario, measurements):
    tables = {name: engine.tables[name] for name in scenario.tables}
    started = time.perf_counter()
    expected = native(scenario.sql, tables)
    native_ms = (time.perf_counter() - started) * 1000
    result = engine.execute(scenario.sql, js_rows=expected.num_rows <= 5_000)
    if scenario.large:
        measurements.record(
            "large_queries",
            browser=engine.page.browser,
            scenario=scenario.id,
            rows_out=result.table.num_rows,
            **result.timings,
            native_datafusion_ms=native_ms,
        )
    check_js_compatible(result, scenario.id)
    compare_tables(result.table, expected, scenario.sql, scenario.ordered, scenario.id)
    compare_js(result, scenario.id)


def test_registered_tables_round_trip_through_read_table_ipc(engine, measurements):
    """What went in comes back out (with the 1M-row table: every value, through pyarrow)."""
    for name, table in engine.tables.items():
        out = engine.call(
            """
            const [name] = args;
            let t = performance.now();
            const bytes = await window.engine.read_table_ipc(name);
            const readMs = performance.now() - t;
            t = performance.now();
            const decoded = Arrow.tableFromIPC(bytes);
            const decodeMs = performance.now() - t;
            t = performance.now();
            const rows = decoded.toArray().length;  // every row as a JS object: what a table view does
            const rowsMs = performance.now() - t;
            return {b64: window.harness.bytesToBase64(bytes), numRows: decoded.numRows, rows, readMs, decodeMs, rowsMs};
            """,
            name,
            what=f"read_table_ipc('{name}')",
        )
        data = base64.b64decode(out["b64"])
        started = time.perf_counter()
        back = pa.ipc.open_stream(data).read_all()
        if table.num_rows >= 100_000:
            measurements.record(
                "large_results",
                browser=engine.page.browser,
                what=f"read_table_ipc('{name}')",
                rows=table.num_rows,
                ipc_mb=len(data) / 1e6,
                engine_ms=out["readMs"],
                js_table_from_ipc_ms=out["decodeMs"],
                js_to_array_ms=out["rowsMs"],
                pyarrow_decode_ms=(time.perf_counter() - started) * 1000,
            )
        assert out["numRows"] == out["rows"] == table.num_rows
        # View types come back as their plain counterparts (what apache-arrow JS can read), same values.
        expected = table.cast(pa.schema([f.with_type(without_views(f.type)) for f in table.schema])).combine_chunks()
        assert back.schema.equals(expected.schema), f"{name}: {back.schema} != {expected.schema}"
        assert back.combine_chunks().equals(expected), name


# ---------------------------------------------------------------------------------------------
# The notebook flow (seed 001): cell A registered, B derived from A, C from B, then clean-up

CELL_B = """SELECT city, count(*) AS n, sum(amount) AS total, sum(price) AS revenue, max(ts_berlin) AS last_local
            FROM a WHERE city IS NOT NULL GROUP BY city"""
CELL_C = """SELECT city, n, revenue, rank() OVER (ORDER BY revenue DESC NULLS LAST, city) AS place,
            upper(city) || ' №' || CAST(n AS VARCHAR) AS label FROM b ORDER BY place"""


CELL_A = "SELECT * FROM sales WHERE id <= 20"  # runs on the query server (native DataFusion)


def test_notebook_flow_seed_001(engine, query_server):
    a = native(CELL_A, {"sales": engine.tables["sales"]})
    oracle = native_context()
    oracle.register_record_batches("a", [a.to_batches()])
    b_expected = oracle.sql(CELL_B).to_arrow_table()
    oracle.register_record_batches("b", [b_expected.to_batches()])
    c_expected = oracle.sql(CELL_C).to_arrow_table()

    out = engine.call(
        """
        const [url, sqlA, sqlB, sqlC] = args;
        const nb = window.nb = new window.pkg.WasmQueryEngine();
        const bytesA = await window.queryClient.fetchQueryIPC({sql: sqlA, batch_rows: 8}, undefined, {url});
        const rowsA = nb.register_table("a", bytesA);
        const b = await nb.execute_and_register(sqlB, "b");
        const c = await nb.execute_and_register(sqlC, "c");
        const readB = await nb.read_table_ipc("b");
        const h = window.harness;
        return {rowsA, names: nb.table_names(), b: h.bytesToBase64(b), c: h.bytesToBase64(c), readB: h.bytesToBase64(readB),
                jsB: h.decode(b), jsC: h.decode(c)};
        """,
        query_server.url,
        CELL_A,
        CELL_B,
        CELL_C,
        what="the notebook cells A (from the query server), B, C",
    )
    assert out["rowsA"] == a.num_rows == 20
    assert query_server.wait_for(CELL_A, "done").frames == 1 + 3 + 1  # 20 rows in batches of 8
    assert out["names"] == ["a", "b", "c"]
    decoded = {key: base64.b64decode(out[key]) for key in ("b", "c", "readB")}
    b = Result(CELL_B, decoded["b"], pa.ipc.open_stream(decoded["b"]).read_all(), out["jsB"], None)
    c = Result(CELL_C, decoded["c"], pa.ipc.open_stream(decoded["c"]).read_all(), out["jsC"], None)
    compare_tables(b.table, b_expected, CELL_B, ordered=False, label="cell B")
    compare_tables(c.table, c_expected, CELL_C, ordered=True, label="cell C")
    compare_js(b, "cell B")
    compare_js(c, "cell C")
    read_b = pa.ipc.open_stream(decoded["readB"]).read_all()
    assert read_b.equals(b.table), "read_table_ipc('b') differs from what execute_and_register returned for b"

    # C was materialised: it survives B's removal; B itself is gone with a clear error.
    engine.page.run("window.nb.deregister_table('b');")
    assert engine.table_names("nb") == ["a", "c"]
    compare_tables(
        engine.execute("SELECT * FROM c", target="nb").table,
        c_expected,
        "SELECT * FROM c",
        True,
        "cell C after deregistering b",
    )
    with pytest.raises(JSError) as error:
        engine.execute("SELECT * FROM b", target="nb")
    assert "SQL failed" in error.value.message and "'datafusion.public.b' not found" in error.value.message

    engine.page.run("window.nb.reset();")
    assert engine.table_names("nb") == []
    with pytest.raises(JSError, match=r"'datafusion\.public\.a' not found"):
        engine.execute("SELECT count(*) FROM a", target="nb")
    # The notebook's engine answers after a reset, and the module's engine was never touched.
    assert engine.execute("SELECT 1 + 1 AS two", target="nb").table.to_pylist() == [{"two": 2}]
    assert engine.table_names() == sorted(engine.tables)


# ---------------------------------------------------------------------------------------------
# Time and randomness: checked structurally (no oracle can predict them)


def test_now_is_the_current_time_in_utc(engine):
    sql = "SELECT now() AS ts, now() = now() AS stable, arrow_typeof(now()) AS t FROM range(3)"
    before = dt.datetime.now(dt.UTC)
    result = engine.execute(sql)
    after = dt.datetime.now(dt.UTC)
    check_js_compatible(result, "now()")
    # DataFusion 55 (time_zone unset): a zone-less timestamp[ns] holding UTC, natively too.
    expected_type = native("SELECT now() AS ts", {}).schema.field("ts").type
    got_type = result.table.schema.field("ts").type
    assert got_type == expected_type, f"now() has type {got_type}, native DataFusion {expected_type}"
    stamps = py_values(result.table.column("ts"))
    assert len(set(stamps)) == 1, f"now() must be one value per statement, got {stamps}"
    per_second = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[got_type.unit]
    seen = dt.datetime.fromtimestamp(stamps[0].raw / per_second, dt.UTC)
    assert before - dt.timedelta(seconds=5) <= seen <= after + dt.timedelta(seconds=5), (
        f"now() in the browser is {seen:%Y-%m-%d %H:%M:%S.%f} UTC, Python's clock said {before:%H:%M:%S.%f}.."
        f"{after:%H:%M:%S.%f}: the engine's clock is wrong (on wasm32 it must come from JS Date through the time shim)"
    )
    assert result.table.column("stable").to_pylist() == [True] * 3
    assert result.js["numRows"] == 3
    js_ms = result.js["rows"][0]["ts"]
    assert abs(js_ms - stamps[0].raw / per_second * 1000) < 1, f"apache-arrow JS read now() as {js_ms} ms"

    # With the session time zone set to UTC, now() is a timestamp with time zone UTC, as natively.
    # (A separate engine instance: SET changes the session it runs in.)
    out = engine.call(
        """
        const clock = new window.pkg.WasmQueryEngine();
        await clock.execute_sql("SET datafusion.execution.time_zone = 'UTC'");
        const bytes = await clock.execute_sql("SELECT now() AS ts, arrow_typeof(now()) AS t");
        return {b64: window.harness.bytesToBase64(bytes), js: window.harness.decode(bytes)};
        """,
        what="now() with time_zone = 'UTC'",
    )
    zoned = pa.ipc.open_stream(base64.b64decode(out["b64"])).read_all()
    oracle = native_context()
    oracle.sql("SET datafusion.execution.time_zone = 'UTC'").collect()
    native_type = oracle.sql("SELECT now() AS ts").to_arrow_table().schema.field("ts").type
    assert zoned.schema.field("ts").type == native_type == pa.timestamp("ns", "UTC")
    zoned_seen = py_values(zoned.column("ts"))[0]
    assert abs(zoned_seen.raw - stamps[0].raw) < 60 * 1e9, f"now() moved by {(zoned_seen.raw - stamps[0].raw) / 1e9} s"
    assert out["js"]["fields"][0]["type"] == "Timestamp<NANOSECOND, UTC>"


def test_random_is_uniform_in_unit_interval_and_varies_per_row(engine):
    result = engine.execute("SELECT random() AS r FROM range(2000)")
    values = result.table.column("r").to_pylist()
    assert all(0.0 <= v < 1.0 for v in values), [v for v in values if not 0.0 <= v < 1.0][:5]
    assert len(set(values)) > 1990, f"random() repeats: {len(set(values))} distinct of 2000"
    assert 0.4 < sum(values) / len(values) < 0.6, "random() is not spread over [0, 1)"
    again = engine.execute("SELECT random() AS r FROM range(2000)").table.column("r").to_pylist()
    assert again != values, "random() gave the same sequence twice: it is not seeded from crypto.getRandomValues"


UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_uuid_is_v4_and_unique(engine):
    result = engine.execute("SELECT uuid() AS u FROM range(1000)")
    check_js_compatible(result, "uuid()")
    assert result.table.schema.field("u").type == pa.string()
    values = result.table.column("u").to_pylist()
    bad = [v for v in values if not UUID_V4.match(v)]
    assert not bad, f"not v4 UUIDs: {bad[:3]}"
    assert all(uuid_module.UUID(v).version == 4 for v in values[:10])
    assert len(set(values)) == 1000, "uuid() repeated a value"
    assert [row["u"] for row in result.js["rows"]] == values


def test_explain_analyze_reports_metrics(engine):
    sql = "EXPLAIN ANALYZE SELECT cat, count(*) AS n, sum(val) AS total FROM big WHERE grp < 512 GROUP BY cat"
    result = engine.execute(sql)
    check_js_compatible(result, "EXPLAIN ANALYZE")
    expected = native(sql, {"big": engine.tables["big"]})
    assert result.table.column_names == expected.column_names == ["plan_type", "plan"]
    text = "\n".join(result.table.column("plan").to_pylist())
    assert "AggregateExec" in text and "output_rows=" in text and "elapsed_compute=" in text, text
    # Real counts: 8 categories out of the aggregate; the filter saw all 1M rows and kept about half.
    assert re.search(r"AggregateExec: .*metrics=\[output_rows=8,", text), text
    assert re.search(r"FilterExec: .*selectivity=\d+% \(\d+(\.\d+)? K/1\.00 M\)", text), text
    assert [row["plan_type"] for row in result.js["rows"]] == result.table.column("plan_type").to_pylist()


def _analyzed_plan(engine, sql: str) -> str:
    """The text of EXPLAIN ANALYZE `sql` in the engine."""
    return "\n".join(engine.execute("EXPLAIN ANALYZE " + sql).table.column("plan").to_pylist())


def _counts(plan: str, operator: str, metric: str) -> list[int]:
    """`metric` of every `operator` in an EXPLAIN ANALYZE plan, as integers ("1.20 M" -> 1200000)."""
    scale = {"": 1, "K": 1_000, "M": 1_000_000}
    pattern = rf"{operator}: .*?\b{metric}=([\d.]+) ?([KM]?)[,\]]"
    return [round(float(number) * scale[unit]) for number, unit in re.findall(pattern, plan)]


def _pruned_rows(plan: str) -> list[int]:
    """pruned_rows of every DynamicFilterExec."""
    return _counts(plan, "DynamicFilterExec", "pruned_rows")


def test_a_join_filter_reaches_the_scan_under_an_aggregate(engine):
    """TPC-H q17's shape: the subquery's average, grouped over all of big, is joined with 21 groups
    afterwards. The join's dynamic filter is applied where big is read, under the aggregate
    (src/scan_filters.rs), and the result still equals native DataFusion's."""
    scenario = by_id()["dynamic_filter_correlated_subquery"]
    text = _analyzed_plan(engine, scenario.sql)
    pruned = _pruned_rows(text)
    # 21 of 1,024 groups are asked for: about 98% of the 1M rows are dropped below the aggregate.
    assert pruned and max(pruned) > 950_000, text
    assert re.search(r"AggregateExec: mode=Single, gby=\[grp@\d+ as grp\].*output_rows=21,", text), text
    # (The result against native DataFusion's: test_scenario_matches_native_datafusion.)


def test_a_join_filter_runs_before_a_string_predicate(engine):
    """TPC-H q19's shape: the scan's static predicate compares strings, so the join's membership
    test runs first (below the FilterExec) and the predicate only on the rows it keeps."""
    sql = by_id()["dynamic_filter_under_a_string_predicate"].sql
    text = _analyzed_plan(engine, sql)
    lines = text.splitlines()
    filter_at = next(i for i, line in enumerate(lines) if "FilterExec: " in line and "cat@" in line)
    dynamic_at = next(i for i, line in enumerate(lines) if "DynamicFilterExec: " in line)
    assert filter_at < dynamic_at, text  # the FilterExec is the DynamicFilterExec's parent
    # 21 of 1024 groups: about 98% of the 1M rows are dropped before the string predicate.
    assert _pruned_rows(text) and max(_pruned_rows(text)) > 950_000, text


def test_dynamic_filters_can_be_turned_off(engine):
    """DataFusion's own setting turns them off, and with them every DynamicFilterExec: the plan is
    native DataFusion's again."""
    sql = by_id()["dynamic_filter_correlated_subquery"].sql
    try:
        engine.execute("SET datafusion.optimizer.enable_dynamic_filter_pushdown = false")
        text = _analyzed_plan(engine, sql)
        assert "AggregateExec" in text and "DynamicFilterExec" not in text, text
    finally:
        engine.execute("SET datafusion.optimizer.enable_dynamic_filter_pushdown = true")
    assert "DynamicFilterExec" in _analyzed_plan(engine, sql)


def test_a_scan_that_feeds_the_join_directly_keeps_no_filter(engine):
    """Where the scan's rows go straight into the join that publishes the filter, the membership
    test would cost what the join's probe costs: no DynamicFilterExec is left in the plan."""
    sql = by_id()["dynamic_filter_selective_join"].sql
    text = _analyzed_plan(engine, sql)
    assert "HashJoinExec" in text and "DynamicFilterExec" not in text, text


DENSITY = "datafusion.execution.perfect_hash_join_min_key_density"
SMALL_RANGE = "datafusion.execution.perfect_hash_join_small_build_threshold"
# The engine's own values of the two (crates/datafusion-wasm/src/engine.rs), restored after each test.
ENGINE_DENSITY, ENGINE_SMALL_RANGE = "0.01", "262144"


def _array_join_both_ways(engine, sql: str, tables: tuple[str, ...], hashing: dict[str, str]) -> None:
    """`sql`'s join indexes an array at the engine's settings and hashes with `hashing` set; the
    result is native DataFusion's both ways."""
    expected = native(sql, {name: engine.tables[name] for name in tables})
    text = _analyzed_plan(engine, sql)
    assert re.search(r"HashJoinExec: .*array_map_created_count=1\b", text), text
    compare_tables(engine.execute(sql).table, expected, sql, ordered=False, label="array join")
    try:
        for name, value in hashing.items():
            engine.execute(f"SET {name} = {value}")
        text = _analyzed_plan(engine, sql)
        assert re.search(r"HashJoinExec: .*array_map_created_count=0\b", text), text
        compare_tables(engine.execute(sql).table, expected, sql, ordered=False, label="hash join")
    finally:
        engine.execute(f"SET {DENSITY} = {ENGINE_DENSITY}")
        engine.execute(f"SET {SMALL_RANGE} = {ENGINE_SMALL_RANGE}")


def test_a_join_on_sparse_keys_indexes_an_array(engine):
    """104 build keys over 3..5000 (2% dense): under DataFusion's 15% but over the engine's 1%
    (PERFECT_HASH_JOIN_MIN_KEY_DENSITY), so the join indexes an array by key instead of hashing;
    with DataFusion's two settings it hashes."""
    sql = (
        "SELECT b.grp, count(*) AS n, sum(b.cents) AS cents FROM big b JOIN picks p ON b.grp = p.g "
        "WHERE p.g % 10 = 3 OR p.g = 5000 GROUP BY b.grp"
    )
    _array_join_both_ways(engine, sql, ("big", "picks"), {DENSITY: "0.15", SMALL_RANGE: "1024"})
    # Without the small-range rule the 1% density alone still picks the array.
    try:
        engine.execute(f"SET {SMALL_RANGE} = 1024")
        assert re.search(r"HashJoinExec: .*array_map_created_count=1\b", _analyzed_plan(engine, sql))
    finally:
        engine.execute(f"SET {SMALL_RANGE} = {ENGINE_SMALL_RANGE}")


def test_a_join_on_few_keys_in_a_small_range_indexes_an_array(engine):
    """2 build keys over 3..5000 (0.04% dense, under any density threshold) but a range under the
    engine's 262,144 (PERFECT_HASH_JOIN_SMALL_RANGE): an array of 4,998 slots, not a hash table.
    With DataFusion's 1,024 it hashes. Same result, native DataFusion's, either way."""
    sql = (
        "SELECT b.grp, count(*) AS n, sum(b.cents) AS cents FROM big b JOIN picks p ON b.grp = p.g "
        "WHERE p.g IN (3, 5000) GROUP BY b.grp"
    )
    _array_join_both_ways(engine, sql, ("big", "picks"), {SMALL_RANGE: "1024"})


def _build_rows(plan: str) -> list[int]:
    """build_input_rows of every HashJoinExec."""
    return _counts(plan, "HashJoinExec", "build_input_rows")


def _filters(plan: str) -> list[str]:
    """The predicate of every FilterExec in a plan."""
    return re.findall(r"FilterExec: (.*?)(?:, projection=\[.*?\])?(?:, metrics=\[|$)", plan, re.MULTILINE)


def test_a_filters_cheap_comparisons_run_before_its_string_predicates(engine):
    """`cat IN (...)` (strings; DataFusion makes it an OR of equalities) is written first; the
    engine's filter evaluates the integer range and the IS NOT NULL before it
    (src/conjunct_order.rs), and keeps `id % 3 = 1` (arithmetic) after it, in the query's
    order. The result is native DataFusion's. A filter with a volatile conjunct keeps the
    query's order (with the rule's volatile check removed, `grp < 10` would come first)."""
    scenario = by_id()["conjuncts_cheap_first_big"]
    [predicate] = _filters(_analyzed_plan(engine, scenario.sql))
    assert predicate.startswith("grp@1 >= 100 AND grp@1 <= 300 AND val@2 IS NOT NULL AND (cat@3 = "), predicate
    assert predicate.index("cat@3 = ") < predicate.index("id@0 % 3 = 1"), predicate
    expected = native(scenario.sql, {"big": engine.tables["big"]})
    compare_tables(engine.execute(scenario.sql).table, expected, scenario.sql, ordered=False, label="reordered")
    volatile = "SELECT count(*) AS n FROM big WHERE cat = 'alpha' AND random() < 2.0 AND grp < 10"
    [predicate] = _filters(_analyzed_plan(engine, volatile))
    assert predicate.startswith("cat@"), predicate


def test_joins_are_ordered_by_estimated_size(engine):
    """FROM big a, big b, picks p: in the query's order a and b are joined first, a hash table of
    all 1M rows of one of them. Ordered by estimated size (src/join_order.rs), the 21 selected
    picks meet b first, and no join builds from more than about 20K rows. DataFusion's own
    setting turns the order off again; native DataFusion's result either way."""
    scenario = by_id()["join_order_filtered_dimension_last_in_from"]
    expected = native(scenario.sql, {name: engine.tables[name] for name in scenario.tables})
    text = _analyzed_plan(engine, scenario.sql)
    builds = _build_rows(text)
    assert len(builds) == 2 and max(builds) < 50_000, text
    try:
        engine.execute("SET datafusion.optimizer.join_reordering = false")
        text = _analyzed_plan(engine, scenario.sql)
        assert max(_build_rows(text)) == 1_000_000, text
        compare_tables(engine.execute(scenario.sql).table, expected, scenario.sql, ordered=False, label="FROM order")
    finally:
        engine.execute("SET datafusion.optimizer.join_reordering = true")
    compare_tables(engine.execute(scenario.sql).table, expected, scenario.sql, ordered=False, label="reordered")


def test_join_estimates_follow_a_table_registered_again(engine):
    """The samples behind the join order are kept per table object and row count (the optimizer
    runs the rule in each pass). Registered again with other rows, the table must be sampled
    again: 21 selected keys put it first in the join order; every key, three times, puts it last
    (its join with b would make 3M rows), so a and b are joined first, a 1M-row build."""
    sql = "SELECT count(*) AS n, sum(a.cents) AS cents FROM big a, big b, pk p WHERE a.id = b.id AND b.grp = p.g AND p.sel"
    few = pa.table({"g": pa.array(range(1024), pa.int32()), "sel": pa.array([g % 50 == 3 for g in range(1024)])})
    many = pa.table(
        {"g": pa.array([g for g in range(1024) for _ in range(3)], pa.int32()), "sel": pa.array([True] * 3072)}
    )
    try:
        for table, first in ((few, True), (many, False), (few, True)):
            engine.page.run(TIMED_REGISTER, "engine", "pk", b64(ipc_stream(table)))
            text = _analyzed_plan(engine, sql)
            assert (max(_build_rows(text)) < 50_000) == first, text
            expected = native(sql, {"big": engine.tables["big"], "pk": table})
            compare_tables(engine.execute(sql).table, expected, sql, ordered=False, label=f"{table.num_rows} keys")
    finally:
        engine.page.run("window.engine.deregister_table('pk');")


def test_a_predicate_over_two_tables_goes_to_the_join_that_has_both(engine):
    """TPC-H q7's OR over two nations: it reads p1 and p2, which no key joins; it is applied once,
    as the filter of the join that first has both (and the result is native DataFusion's:
    test_scenario_matches_native_datafusion)."""
    text = _analyzed_plan(engine, by_id()["join_order_predicate_over_two_dimensions"].sql)
    filtered = [line for line in text.splitlines() if "HashJoinExec" in line and "filter=" in line]
    assert len(filtered) == 1 and "sel" in filtered[0], text


def test_a_sorted_column_is_declared_and_its_group_by_streams(engine):
    """big.id is 0..999,999 in order. Registered, it is declared sorted (src/sort_order.rs), so a
    GROUP BY on it streams: each group is done when the next id comes, no hash table of 1M groups
    (TPC-H q18's subquery over lineitem sorted by order key). Native DataFusion's result."""
    sql = "SELECT count(*) AS n, sum(s) AS total, max(s) AS hi FROM (SELECT id, sum(cents) AS s FROM big GROUP BY id)"
    text = _analyzed_plan(engine, sql)
    assert re.search(r"AggregateExec: mode=\w+, gby=\[id@0 as id\].*ordering_mode=Sorted", text), text
    expected = native(sql, {"big": engine.tables["big"]})
    compare_tables(engine.execute(sql).table, expected, sql, ordered=False, label="sorted group by")


# Columns of a table in three batches, and whether each is sorted: a column is declared sorted only
# if it is non-decreasing in every batch and across the batch boundaries, and has no NULL.
SORT_CASES = {
    "across_boundary": ([1, 2, 3], [2, 5, 6], [7, 8, 9], False),  # 3 then 2 where batches meet
    "with_null": ([1, 2, 3], [4, 5, 6], [7, None, 9], False),
    "last_pair": ([1, 2, 3], [4, 5, 6], [7, 9, 8], False),
    "ties_at_boundary": ([1, 2, 3], [3, 3, 6], [6, 8, 8], True),
    "descending": ([9, 8, 7], [6, 5, 4], [3, 2, 1], False),
}


def _sort_cases_table() -> pa.Table:
    batches = []
    for k in range(3):
        columns = {name: pa.array(values[k], pa.int64()) for name, values in SORT_CASES.items()}
        columns["day"] = pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=3 * k + i) for i in range(3)], pa.date32())
        columns["name"] = pa.array([f"n{3 * k + i}" for i in range(3)], pa.string())  # sorted, but not checked
        batches.append(pa.RecordBatch.from_pydict(columns))
    return pa.Table.from_batches(batches)


def test_only_columns_sorted_all_through_are_declared_sorted(engine):
    """Each column is checked in every batch and where batches meet; one wrong pair, one NULL or a
    descending run and it is not declared (else a GROUP BY would stream over unsorted keys and
    split a group in two). Strings are not checked. Native DataFusion's results for every one."""
    table = _sort_cases_table()
    expected_sorted = {**{name: case[3] for name, case in SORT_CASES.items()}, "day": True, "name": False}
    engine.page.run(TIMED_REGISTER, "engine", "sort_cases", b64(ipc_stream(table)))
    try:
        for column, is_sorted in expected_sorted.items():
            sql = f"SELECT {column}, count(*) AS n FROM sort_cases GROUP BY {column}"
            text = _analyzed_plan(engine, sql)
            assert ("ordering_mode=Sorted" in text) == is_sorted, f"{column}: {text}"
            compare_tables(engine.execute(sql).table, native(sql, {"sort_cases": table}), sql, False, column)
            ordered = f"SELECT {column} FROM sort_cases ORDER BY {column}"
            assert ("SortExec" not in _analyzed_plan(engine, ordered)) == is_sorted, column
            compare_tables(engine.execute(ordered).table, native(ordered, {"sort_cases": table}), ordered, True, column)
    finally:
        engine.page.run("window.engine.deregister_table('sort_cases');")


# ---------------------------------------------------------------------------------------------
# Error paths: a JS Error with a useful message; the engine answers afterwards, tables intact


def _corrupt(data: bytes, start: int, length: int) -> bytes:
    return data[:start] + bytes(b ^ 0x5A for b in data[start : start + length]) + data[start + length :]


def _schema_message_end(data: bytes) -> int:
    return 8 + int.from_bytes(data[4:8], "little", signed=True)


def error_payload(kind: str) -> bytes:
    good = ipc_stream(datasets()["sales"])
    if kind == "corrupt_schema":
        return _corrupt(good, 8, _schema_message_end(good) - 8)
    if kind == "corrupt_batch_header":
        start = _schema_message_end(good) + 8  # the record batch's flatbuffer, after its prefix
        return _corrupt(good, start, 64)
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "file_format":
        return ipc_file(datasets()["sales"])
    raise ValueError(kind)


ERROR_CASES = [
    # id, what to run, what the message must contain
    ("unknown_table", ("sql", "SELECT * FROM no_such_table"), ["SQL failed", "no_such_table", "not found"]),
    (
        "unknown_table_in_join",
        ("sql", "SELECT * FROM sales JOIN ghost USING (id)"),
        ["SQL failed", "ghost", "not found"],
    ),
    ("unknown_table_read_back", ("read", "phantom"), ["no table named 'phantom'", "table_names()"]),
    ("unknown_table_deregister", ("deregister", "phantom"), ["no table named 'phantom'"]),
    ("bad_sql_syntax", ("sql", "SELEC city FRM sales"), ["SQL failed", "SELEC", "statement: SELEC city FRM sales"]),
    ("bad_sql_unknown_column", ("sql", "SELECT no_such_column FROM sales"), ["SQL failed", "no_such_column"]),
    ("bad_sql_unknown_function", ("sql", "SELECT frobnicate(id) FROM sales"), ["SQL failed", "frobnicate"]),
    (
        "bad_sql_execution_error",
        ("sql", "SELECT CAST(city AS INT) FROM sales WHERE city = 'Zürich'"),
        ["SQL failed", "Zürich"],
    ),
    ("corrupt_ipc_schema", ("register", "corrupt_schema"), ["register_table('sales')", "not a valid Arrow IPC stream"]),
    (
        "corrupt_ipc_batch",
        ("register", "corrupt_batch_header"),
        ["register_table('sales')", "not a valid Arrow IPC stream"],
    ),
    ("truncated_ipc", ("register", "truncated"), ["register_table('sales')", "not a valid Arrow IPC stream"]),
    ("file_format_ipc", ("register", "file_format"), ["register_table('sales')", "*file* format", "stream"]),
]


@pytest.mark.parametrize("action, needles", [(c[1], c[2]) for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_error_is_a_js_error_with_a_useful_message_and_the_engine_survives(engine, action, needles):
    kind, argument = action
    names_before = engine.table_names()
    with pytest.raises(JSError) as error:
        if kind == "sql":
            engine.execute(argument)
        elif kind == "read":
            engine.page.run("const [n] = args; return await window.engine.read_table_ipc(n);", argument)
        elif kind == "deregister":
            engine.page.run("const [n] = args; window.engine.deregister_table(n);", argument)
        else:  # register bad bytes over an existing table: the old table must survive
            engine.page.run(REGISTER, "engine", "sales", b64(error_payload(argument)))
    assert error.value.name == "Error", f"expected a JS Error, got {error.value.name}: {error.value.message}"
    missing = [needle for needle in needles if needle not in error.value.message]
    assert not missing, f"the message lacks {missing}: {error.value.message!r}"

    assert engine.table_names() == names_before, "a failed call changed the registered tables"
    counts = engine.execute(
        " UNION ALL ".join(f"SELECT '{n}' AS t, count(*) AS n FROM {n}" for n in sorted(engine.tables)) + " ORDER BY t"
    )
    assert dict(zip(counts.table.column("t").to_pylist(), counts.table.column("n").to_pylist())) == {
        name: table.num_rows for name, table in engine.tables.items()
    }
    # The earlier table still holds the same data, and the engine still answers like native DataFusion.
    check = by_id()["agg_grouped_by_city"]
    compare_tables(
        engine.execute(check.sql).table,
        native(check.sql, {"sales": engine.tables["sales"]}),
        check.sql,
        check.ordered,
        f"after {kind} error",
    )


# ---------------------------------------------------------------------------------------------
# The checks themselves: a broken engine must fail them, with a message that names the cause


def _fake_result(table: pa.Table, js_error: str | None = None) -> Result:
    return Result("SELECT ...", b"", table, None if js_error else {"fields": [], "numRows": 0, "rows": []}, js_error)


def test_self_check_a_leaked_view_type_is_named():
    table = pa.table({"city": pa.array(["Zürich"], pa.string_view())})
    with pytest.raises(pytest.fail.Exception, match=r"view types to JS: column 'city' has type string_view"):
        check_js_compatible(_fake_result(table), "self-check")
    listy = pa.table({"l": pa.array([[1]], pa.list_view(pa.int64()))})
    with pytest.raises(
        pytest.fail.Exception, match=r"apache-arrow JS could not decode .*column 'l' has type list_view"
    ):
        check_js_compatible(_fake_result(listy, 'Error: Unrecognized type: "ListView" (25)'), "self-check")


def test_self_check_a_wrong_value_is_shown_with_row_column_and_sql():
    expected = pa.table({"k": ["a", "b"], "v": [1.0, 2.0]})
    wrong = pa.table({"k": ["b", "a"], "v": [2.0 + 1e-6, 1.0]})
    compare_tables(pa.table({"k": ["b", "a"], "v": [2.0 * (1 + 1e-12), 1.0]}), expected, "SQL", False, "ok")
    with pytest.raises(
        pytest.fail.Exception, match=r"(?s)SQL: SELECT x.*row 1 .*column 'v'.*engine: 2\.000001.*native: 2\.0"
    ):
        compare_tables(wrong, expected, "SELECT x", False, "self-check")
    with pytest.raises(AssertionError, match=r"column 'v': the engine returned type int64"):
        compare_tables(pa.table({"k": ["a", "b"], "v": [1, 2]}), expected, "SELECT x", False, "self-check")
