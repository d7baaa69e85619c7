"""Correctness and survival (issue 12): results exactly as DataFusion computes them, and no input
(malformed IPC, adversarial SQL) that traps the engine or changes data silently.

Every case runs in the built engine in the page and, where there is an answer, in native
DataFusion (PyPI) on the same data. A trap here is a failure of its own kind: the engine's
`is_usable()` turns false and every later call says the instance is lost, so each check also
proves the instance is still sound, and that the tables registered before still answer.
"""

from __future__ import annotations

import base64
import struct
import time

import datafusion
import pyarrow as pa
import pytest

from tests.conftest import b64
from toolchain.tools.webdriver import JSError

pytestmark = pytest.mark.browser


# ---------------------------------------------------------------------------------------------
# A fresh engine per module, with a known table `t` that every check asks again afterwards.


def ipc_stream(table: pa.Table, **options) -> bytes:
    sink = pa.BufferOutputStream()
    write_options = pa.ipc.IpcWriteOptions(**options) if options else None
    with pa.ipc.new_stream(sink, table.schema, options=write_options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


BASE = pa.table({"id": pa.array(range(1, 101), pa.int64()), "label": pa.array([f"row {i}" for i in range(1, 101)])})
BASE_CHECK = "SELECT count(*) AS n, sum(id) AS s, max(label) AS m FROM t"
BASE_ANSWER = {"n": 100, "s": 5050, "m": "row 99"}

RUN_SQL = """
const [sql] = args;
const bytes = await window.engine.execute_sql(sql);
return window.harness.bytesToBase64(bytes);
"""


class Survivor:
    """The page's engine; knows how to tell a clean error from a trap, and to start over."""

    def __init__(self, page):
        self.page = page
        self.start()

    def start(self) -> None:
        self.page.run("window.engine = new window.pkg.WasmQueryEngine();")
        assert (
            self.page.run(
                "const [d] = args; return window.engine.register_table('t', window.harness.base64ToBytes(d));",
                b64(ipc_stream(BASE)),
            )
            == 100
        )

    def reload(self) -> None:
        self.page.reload()
        self.start()

    def sql(self, statement: str) -> pa.Table:
        return pa.ipc.open_stream(base64.b64decode(self.page.run(RUN_SQL, statement))).read_all()

    def usable(self) -> bool:
        return self.page.run("return window.pkg.WasmQueryEngine.is_usable();")

    def base_answers(self) -> bool:
        return self.sql(BASE_CHECK).to_pylist() == [BASE_ANSWER]

    def classify(self, body: str, *args) -> tuple[str, str]:
        """('accepted' | 'error' | 'trap', message): a trap reloads the page so later checks run."""
        try:
            self.page.run(body, *args)
            outcome = ("accepted", "")
        except JSError as error:
            outcome = ("error", f"{error.name}: {error.message}")
        if not self.usable():
            self.reload()
            return "trap", outcome[1]
        return outcome


@pytest.fixture(scope="module")
def engine(wasm_module_page) -> Survivor:
    return Survivor(wasm_module_page)


def native(sql: str, tables: dict[str, pa.Table]) -> pa.Table:
    ctx = datafusion.SessionContext()
    for name, table in tables.items():
        ctx.register_record_batches(name, [table.to_batches()])
    return ctx.sql(sql).to_arrow_table()


def js_type(data_type: pa.DataType) -> str:
    """The type the engine sends for a native type: view types become their plain forms."""
    text = str(data_type)
    return text.replace("string_view", "string").replace("binary_view", "binary")


# ---------------------------------------------------------------------------------------------
# 1. Results exactly as DataFusion computes them. In DataFusion 55 a statement's logical schema
# can differ from the batches its plan produces; the engine used to cast the batches to the
# logical schema, which changed data (00:00:00.123 -> 00:00:00, 300 -> NULL) or failed.

SECONDS = pa.table({"ts": pa.array([0, 1], pa.timestamp("s")), "id": pa.array([1, 2], pa.int64())})
MILLIS = pa.table({"ts": pa.array([123, 1500], pa.timestamp("ms")), "id": pa.array([3, None], pa.int64())})

LOGICAL_SCHEMA_CASES = {
    "union of timestamp(s) and timestamp(ms)": "SELECT ts FROM secs UNION ALL SELECT ts FROM millis",
    "case over structs with fields in different orders": "SELECT CASE WHEN id > 1 THEN named_struct('a', id, 'b', 'x') ELSE named_struct('b', 'y', 'a', id) END AS s FROM secs",
    "NULL column union Int64 (was: Casting from Int64 to Null not supported)": "SELECT id, NULL AS n FROM secs UNION ALL SELECT id, 5 FROM millis",
    "list of timestamps across a union": "SELECT [ts] AS l FROM secs UNION ALL SELECT [ts] FROM millis",
    "struct of timestamps across a union": "SELECT named_struct('t', ts) AS s FROM secs UNION ALL SELECT named_struct('t', ts) FROM millis",
    "Int8 union Int16 (300 does not fit the logical Int8)": "SELECT arrow_cast(1, 'Int8') AS x UNION ALL SELECT arrow_cast(300, 'Int16')",
    "nullable list built from a NULL element": "SELECT make_array(1, NULL) AS l",
}


@pytest.fixture(scope="module")
def engine_with_timestamps(engine) -> Survivor:
    for name, table in (("secs", SECONDS), ("millis", MILLIS)):
        engine.page.run(
            "const [n, d] = args; return window.engine.register_table(n, window.harness.base64ToBytes(d));",
            name,
            b64(ipc_stream(table)),
        )
    return engine


@pytest.mark.parametrize("case", sorted(LOGICAL_SCHEMA_CASES))
def test_results_are_what_the_plan_produces_not_a_cast_to_the_logical_schema(engine_with_timestamps, case):
    sql = LOGICAL_SCHEMA_CASES[case]
    expected = native(sql, {"secs": SECONDS, "millis": MILLIS})
    got = engine_with_timestamps.sql(sql)
    assert [js_type(f.type) for f in got.schema] == [js_type(f.type) for f in expected.schema], case
    # Struct fields in their produced order, values with full precision; rows in any order
    # (UNION ALL gives no order), compared as sorted reprs.
    assert sorted(map(repr, got.to_pylist())) == sorted(map(repr, expected.to_pylist())), case


# ---------------------------------------------------------------------------------------------
# 2. IPC that pyarrow rejects must not be accepted as different data. On wasm32 usize is 32 bits:
# a 64-bit buffer offset of 4 GiB + k, or a null count of 4 GiB + 1, used to be cut to 32 bits.

TWO_COLUMNS = pa.table({"a": pa.array([1, None, 3], pa.int64()), "b": pa.array([7, 8, 9], pa.int64())})


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, f"pattern found {data.count(old)} times"
    return data.replace(old, new)


def with_buffer_offset_beyond_4gib(stream: bytes) -> bytes:
    """Column b's values buffer (offset 32, 24 bytes) moved to 4 GiB + 8: cut to 32 bits that is
    offset 8, column a's values, so a reader that truncates returns a's numbers as b's."""
    layout = [(0, 1), (8, 24), (32, 0), (32, 24)]  # pyarrow: a validity, a values, b validity, b values
    old = b"".join(struct.pack("<qq", o, n) for o, n in layout)
    new = b"".join(struct.pack("<qq", o, n) for o, n in layout[:3]) + struct.pack("<qq", (1 << 32) + 8, 24)
    return replace_once(stream, old, new)


def with_null_count_beyond_4gib(stream: bytes) -> bytes:
    """Column a's node (3 rows, 1 null) with a null count of 4 GiB + 1 (1 when cut to 32 bits)."""
    return replace_once(
        stream,
        struct.pack("<qq", 3, 1) + struct.pack("<qq", 3, 0),
        struct.pack("<qq", 3, (1 << 32) + 1) + struct.pack("<qq", 3, 0),
    )


@pytest.mark.parametrize("corrupt", [with_buffer_offset_beyond_4gib, with_null_count_beyond_4gib])
def test_64_bit_lengths_that_do_not_fit_wasm32_are_refused_not_truncated(engine, corrupt):
    data = corrupt(ipc_stream(TWO_COLUMNS))
    if corrupt is with_buffer_offset_beyond_4gib:
        with pytest.raises((pa.ArrowInvalid, OSError)):
            pa.ipc.open_stream(data).read_all()  # the reference refuses it too ("Read out of bounds")
    outcome, message = engine.classify(
        "const [d] = args; return window.engine.register_table('corrupt', window.harness.base64ToBytes(d));", b64(data)
    )
    assert outcome == "error", f"{corrupt.__name__}: {outcome} {message}"
    assert "register_table('corrupt'): not a valid Arrow IPC stream" in message
    assert "corrupt" not in engine.page.run("return window.engine.table_names();")
    assert engine.base_answers()


def test_a_huge_declared_metadata_length_is_refused_before_anything_is_allocated(engine):
    stream = ipc_stream(TWO_COLUMNS)
    data = stream[:4] + struct.pack("<i", 2**31 - 1) + stream[8:300]
    memory = "return window.wasmExports.memory.buffer.byteLength;"
    before = engine.page.run(memory)
    started = time.perf_counter()
    outcome, message = engine.classify(
        "const [d] = args; return window.engine.register_table('huge', window.harness.base64ToBytes(d));", b64(data)
    )
    assert outcome == "error" and "not a valid Arrow IPC stream" in message, message
    assert time.perf_counter() - started < 5, "a 300-byte input must not take seconds"
    # It used to grow wasm memory to 2 GiB (which never shrinks) before its error.
    grown = engine.page.run(memory) - before
    assert grown <= 16 * 2**20, f"wasm memory grew by {grown} bytes for a 300-byte input"
    assert engine.base_answers()


# ---------------------------------------------------------------------------------------------
# 3. The fuzz suite: thousands of mutated IPC streams; zero traps, zero hangs, `t` intact.

FUZZ_CHUNK = 500  # inputs per page call (--ipc-fuzz-count and --ipc-fuzz-seed choose the run)

FUZZ_REGISTER = """
const [inputs] = args;
const out = {accepted: 0, errors: 0, trapped: null, slowest_ms: 0, slowest: null};
for (const [label, data] of inputs) {
  const bytes = window.harness.base64ToBytes(data);
  const started = performance.now();
  try {
    window.engine.register_table("fuzzed", bytes);
    out.accepted++;
  } catch (e) {
    if (!window.pkg.WasmQueryEngine.is_usable() || e instanceof WebAssembly.RuntimeError) {
      out.trapped = {label, error: String(e)};
      break;
    }
    out.errors++;
  }
  const ms = performance.now() - started;
  if (ms > out.slowest_ms) { out.slowest_ms = ms; out.slowest = label; }
}
return out;
"""


def test_ten_thousand_mutated_ipc_streams_give_no_trap_and_no_hang(engine, measurements, request):
    from tests.ipc_mutations import mutated_streams

    seed, count = request.config.getoption("--ipc-fuzz-seed"), request.config.getoption("--ipc-fuzz-count")

    totals = {"accepted": 0, "errors": 0}
    slowest = (0.0, None)
    traps = []
    chunk: list[tuple[str, str]] = []

    def flush():
        nonlocal slowest
        out = engine.page.run(FUZZ_REGISTER, chunk)
        totals["accepted"] += out["accepted"]
        totals["errors"] += out["errors"]
        if out["slowest_ms"] > slowest[0]:
            slowest = (out["slowest_ms"], out["slowest"])
        if out["trapped"]:
            traps.append(out["trapped"])
            engine.reload()
        assert engine.base_answers(), "table t changed after the fuzzed inputs"
        chunk.clear()

    for label, data in mutated_streams(seed, count):
        chunk.append((label, b64(data)))
        if len(chunk) == FUZZ_CHUNK:
            flush()
    if chunk:
        flush()
    measurements.record(
        "ipc_fuzz",
        browser=engine.page.browser,
        seed=seed,
        inputs=count,
        accepted=totals["accepted"],
        clean_errors=totals["errors"],
        traps=len(traps),
        slowest_ms=slowest[0],
        slowest_input=slowest[1],
    )
    assert not traps, f"{len(traps)} inputs trapped the engine (seed {seed}), first: {traps[0]}"
    assert totals["accepted"] + totals["errors"] == count
    assert slowest[0] < 5000, f"an input took {slowest[0]:.0f} ms: {slowest[1]}"


# ---------------------------------------------------------------------------------------------
# 4. Adversarial SQL: each statement is accepted or a clean error, never a trap; t answers after.


def chain(op: str, n: int) -> str:
    return op.join(["1"] * n)


LIMITS = {"expression": 256, "set operations": 256, "ctes": 256}


def nested_subqueries(depth: int) -> str:
    sql = "SELECT 1 AS x"
    for _ in range(depth - 1):
        sql = f"SELECT x FROM ({sql}) AS q"
    return sql


def chained_ctes(n: int) -> str:
    parts = ["c0 AS (SELECT 1 AS x)"] + [f"c{i} AS (SELECT x + 1 AS x FROM c{i - 1})" for i in range(1, n)]
    return f"WITH {', '.join(parts)} SELECT x FROM c{n - 1}"


# (statement, expected: "ok" | "error" | "either")
ADVERSARIAL = {
    "600-term sum": (f"SELECT {chain(' + ', 600)} AS x", "error"),
    "AND chain of 1,000 predicates": (f"SELECT count(*) FROM t WHERE {' AND '.join(['id > 0'] * 1000)}", "error"),
    "1,000 UNION ALLs": (" UNION ALL ".join(["SELECT 1 AS x"] * 1000), "error"),
    "1,000 chained CTEs": (chained_ctes(1000), "error"),
    "100 nested subqueries": (nested_subqueries(100), "error"),
    "100,000-term sum (refused without dropping a deep tree)": (f"SELECT {chain('+', 100_000)}", "error"),
    "deep parentheses": ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "error"),
    "expression at the limit": (f"SELECT {chain(' + ', LIMITS['expression'])} AS x", "ok"),
    "AND chain at the limit": (
        f"SELECT count(*) FROM t WHERE {' AND '.join(['id > 0'] * (LIMITS['expression'] - 1))}",
        "ok",
    ),
    "expression one past the limit": (f"SELECT {chain(' + ', LIMITS['expression'] + 1)} AS x", "error"),
    "UNION ALLs at the limit": (" UNION ALL ".join(["SELECT 1 AS x"] * LIMITS["set operations"]), "ok"),
    "CTEs at the limit": (chained_ctes(LIMITS["ctes"]), "ok"),
    "20 nested subqueries (the parser allows about 25)": (nested_subqueries(20), "ok"),
    "set a 64 MB memory limit": ("SET datafusion.runtime.memory_limit = '64M'", "ok"),
    "exploding cross join": ("SELECT a.label, b.label, c.id FROM t a, t b, t c, t d", "error"),
    "sort past the memory limit": ("SELECT a.label || b.label AS l FROM t a, t b, t c, t d ORDER BY l", "error"),
    "memory limit back to the default": ("RESET datafusion.runtime.memory_limit", "ok"),
    "spilling to a temp directory": ("SET datafusion.runtime.temp_directory = '/tmp'", "error"),
    "spilling budget": ("SET datafusion.runtime.max_temp_directory_size = '1G'", "error"),
    "recursive CTE without end (time budget)": (
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        "error",
    ),
    "huge string literal": ("SELECT length('" + "x" * 2_000_000 + "') AS n", "ok"),
    "regex backtracking bait": ("SELECT regexp_like(repeat('a', 5000) || 'b', '(a+)+$') AS m", "ok"),
    "invalid regex": ("SELECT regexp_like('a', '(') AS m", "error"),
    "integer overflow (wraps, as natively)": ("SELECT 9223372036854775807 + 1 AS x", "ok"),
    "invalid cast": ("SELECT CAST('x' AS INT) AS x", "error"),
    "division by zero": ("SELECT 1 / 0 AS x", "error"),
    "huge repeat": ("SELECT length(repeat('x', 2000000000)) AS n", "error"),
    "huge repeat over a column": ("SELECT length(repeat(label, 100000000)) AS n FROM t", "error"),
    "huge lpad": ("SELECT length(lpad('x', 1500000000)) AS n", "error"),
    "huge array_repeat": ("SELECT cardinality(array_repeat(1, 1000000000)) AS n", "error"),
    "huge array_resize": ("SELECT cardinality(array_resize([1], 1000000000)) AS n", "error"),
    "huge range": ("SELECT cardinality(range(1, 10000000000)) AS n", "error"),
    "modest repeat still works": ("SELECT length(repeat(label, 1000)) AS n FROM t", "ok"),
    "huge generate_series": ("SELECT count(*) FROM generate_series(1, 100000000000)", "error"),
    "COPY to a file": ("COPY t TO 'out.csv'", "error"),
    "COPY a query to a file": ("COPY (SELECT 1) TO '/tmp/out.parquet'", "error"),
    "external table": ("CREATE EXTERNAL TABLE e STORED AS CSV LOCATION 'http://example.invalid/x.csv'", "error"),
    "create table as": ("CREATE TABLE made AS SELECT id FROM t WHERE id < 3", "ok"),
    "drop it again": ("DROP TABLE made", "ok"),
    "insert into a registered table": ("INSERT INTO t VALUES (1, 'x')", "either"),
    "set an unknown setting": ("SET datafusion.nonsense = 1", "error"),
    "raise the parser's recursion limit past the stack": (
        "SET datafusion.sql_parser.recursion_limit = 100000",
        "error",
    ),
    "then parentheses 5,000 deep (trapped when the SET was allowed)": (
        "SELECT " + "(" * 5000 + "1" + ")" * 5000,
        "error",
    ),
    "raise it within the cap": ("SET datafusion.sql_parser.recursion_limit = 500", "ok"),
    "a batch size wasm32 cannot allocate": ("SET datafusion.execution.batch_size = 2000000000", "error"),
    "then range() (trapped when that SET was allowed)": (
        "SELECT value % 3 AS k, count(*) AS n FROM range(100) GROUP BY k",
        "ok",
    ),
    "a zero batch size": ("SET datafusion.execution.batch_size = 0", "error"),
    "a large batch size within the cap": ("SET datafusion.execution.batch_size = 65536", "ok"),
    "range() with it": ("SELECT count(*) AS n FROM range(200000)", "ok"),
    "the default batch size back": ("RESET datafusion.execution.batch_size", "ok"),
    "two billion partitions": ("SET datafusion.execution.target_partitions = 2000000000", "error"),
    "a group-by after it": ("SELECT value % 7 AS k, count(*) AS n FROM range(1000) GROUP BY k", "ok"),
    "parentheses 400 deep under it: the expression limit answers": ("SELECT " + "(" * 400 + "1" + ")" * 400, "error"),
    "the parser's default back": ("RESET datafusion.sql_parser.recursion_limit", "ok"),
    "two statements": ("SELECT 1; SELECT 2", "error"),
    "empty statement": ("", "error"),
}

RUN_ONE = """
const [sql, timeout] = args;
window.engine.set_statement_timeout_ms(timeout);
window.lastStatementMs = null;
const started = performance.now();
try { await window.engine.execute_sql(sql); } finally {
  window.lastStatementMs = performance.now() - started;
  if (window.pkg.WasmQueryEngine.is_usable()) window.engine.set_statement_timeout_ms(0);
}
return true;
"""

HANG_MS = 5000  # the bar: no statement may run longer than this in the engine


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_sql_is_an_answer_or_a_clean_error_never_a_trap(engine, name):
    sql, expected = ADVERSARIAL[name]
    started = time.perf_counter()
    outcome, message = engine.classify(RUN_ONE, sql, 3000)
    elapsed = time.perf_counter() - started
    assert outcome != "trap", f"{name}: the engine trapped ({message})"
    if expected != "either":
        assert outcome == ("accepted" if expected == "ok" else "error"), f"{name}: {outcome} {message[:400]}"
    # The engine's own time (performance.now() around execute_sql), and the whole round trip
    # with a generous margin for moving a 2 MB statement through the driver.
    engine_ms = engine.page.run("return window.lastStatementMs;")
    assert engine_ms is not None and engine_ms < HANG_MS, f"{name}: ran {engine_ms} ms in the engine"
    assert elapsed < 15, f"{name}: took {elapsed:.1f} s"
    if name == "insert into a registered table" and outcome == "accepted":
        engine.page.run(
            "const [d] = args; window.engine.register_table('t', window.harness.base64ToBytes(d));",
            b64(ipc_stream(BASE)),
        )
    assert engine.base_answers(), f"{name}: table t no longer answers correctly"


def test_deep_sql_errors_name_the_limit_and_the_way_out(engine):
    outcome, message = engine.classify(RUN_ONE, ADVERSARIAL["600-term sum"][0], 0)
    assert outcome == "error"
    assert "nested too deeply" in message and "limit is 256" in message


def test_a_memory_limit_gives_resources_exhausted_and_the_engine_survives(engine):
    outcome, message = engine.classify(RUN_ONE, "SET datafusion.runtime.memory_limit = '16M'", 0)
    assert outcome == "accepted", message
    try:
        outcome, message = engine.classify(RUN_ONE, "SELECT a.label || b.label AS l FROM t a, t b, t c ORDER BY l", 0)
        assert outcome == "error" and "Resources exhausted" in message, message
    finally:
        engine.classify(RUN_ONE, "RESET datafusion.runtime.memory_limit", 0)
    assert engine.base_answers()


def test_the_default_memory_limit_leaves_room_for_datafusions_accounting_of_one_big_batch(engine):
    """A 1M-row table registered as one batch: DataFusion counts that batch once per holder, so a
    window query and a TopK reserved over 1 GiB for ~20 MB of data (a 1 GiB default refused them).
    With the default limit both run and match native DataFusion."""
    import random

    rnd = random.Random(1)
    n = 1_000_000
    big = pa.table(
        {
            "k": pa.array([rnd.randrange(1000) for _ in range(n)], pa.int64()),
            "v": pa.array([rnd.random() for _ in range(n)]),
        }
    )
    engine.page.run(
        "const [d] = args; return window.engine.register_table('big1', window.harness.base64ToBytes(d));",
        b64(ipc_stream(big)),
    )
    try:
        for sql in [
            "SELECT k, v, row_number() OVER (PARTITION BY k ORDER BY v DESC) AS r FROM big1 QUALIFY r <= 3 ORDER BY k, r",
            "SELECT k, v FROM big1 ORDER BY k, v LIMIT 10 OFFSET 500000",
        ]:
            assert engine.sql(sql).to_pylist() == native(sql, {"big1": big}).to_pylist(), sql
    finally:
        engine.page.run("window.engine.deregister_table('big1');")
    assert engine.base_answers()


def test_a_statement_over_its_time_budget_stops_with_a_timeout(engine):
    outcome, message = engine.classify(RUN_ONE, ADVERSARIAL["recursive CTE without end (time budget)"][0], 500)
    assert outcome == "error" and "statement timeout" in message, message
    assert engine.base_answers()


# ---------------------------------------------------------------------------------------------
# 5. Table names: exact in every method, SQL's quoting rules in statements.


def test_table_names_keep_their_case_everywhere(engine):
    page = engine.page
    data = b64(ipc_stream(TWO_COLUMNS))
    out = page.run(
        """
        const [d] = args;
        const e = new window.pkg.WasmQueryEngine();
        const bytes = window.harness.base64ToBytes(d);
        e.register_table("MyTable", bytes);
        e.register_table("mytable", bytes.slice());
        e.register_table("Base", bytes.slice());
        const names = e.table_names();
        const quoted = window.harness.decode(await e.execute_sql('SELECT count(*) AS n FROM "MyTable"')).rows;
        const read = window.harness.decode(await e.read_table_ipc("MyTable")).numRows;
        await e.execute_and_register('SELECT a FROM "MyTable" WHERE a > 1', "Derived");
        let unknownBase = null;
        try { e.deregister_table("BASE"); } catch (err) { unknownBase = err.message; }
        e.deregister_table("mytable");
        let unquoted = null;
        try { await e.execute_sql("SELECT * FROM MyTable"); } catch (err) { unquoted = err.message; }
        return {names, quoted, read, unknownBase, unquoted, after: e.table_names()};
    """,
        data,
    )
    assert out["names"] == ["Base", "MyTable", "mytable"]
    assert out["quoted"] == [{"n": 3}] and out["read"] == 3
    assert "no table named 'BASE'" in out["unknownBase"] and "Base" in out["unknownBase"]
    assert out["after"] == ["Base", "Derived", "MyTable"]
    # Unquoted, SQL lowercases the name; `mytable` is gone, so the error points at "MyTable".
    assert '"MyTable"' in out["unquoted"], out["unquoted"]


# ---------------------------------------------------------------------------------------------
# 6. A call that never returned (a trap) leaves a lost instance that says so.


def test_calls_after_a_trap_say_the_instance_is_lost(engine):
    """A call that never returns: the engine's error log goes to console.error, and a console.error
    that throws unwinds the wasm frames mid-call exactly as a trap does (nothing in Rust runs on
    the way out). Every later call must then refuse with InstanceLostError instead of running on
    whatever state the interrupted call left."""
    out = engine.page.run("""
        const E = window.pkg.WasmQueryEngine;
        const original = console.error;
        console.error = () => { throw new Error("stand-in for a trap"); };
        let first = null;
        try { await window.engine.execute_sql("SELEC nope"); } catch (e) { first = String(e); }
        console.error = original;
        const usable = E.is_usable();
        let next = null;
        try { window.engine.table_names(); } catch (e) { next = {name: e.name, message: e.message}; }
        let fresh = null;
        try { new E(); } catch (e) { fresh = e.name; }
        return {first, usable, next, fresh};
    """)
    assert out["first"] and "stand-in for a trap" in out["first"]
    assert out["usable"] is False
    assert out["next"]["name"] == "InstanceLostError", out
    assert "execute_sql" in out["next"]["message"] and "load the module again" in out["next"]["message"]
    assert out["fresh"] == "InstanceLostError"  # a new engine in the same instance is refused too
    engine.reload()
    assert engine.usable() and engine.base_answers()


def test_a_trap_in_the_newer_calls_is_named_and_every_call_refuses_after_it(engine):
    """The same stand-in trap inside execute_sql_ffi: the lost-instance error names that call, and
    memory_usage, set_table_memory_limit, read_table_ffi and execute_sql_ffi refuse afterwards."""
    out = engine.page.run("""
        const original = console.error;
        console.error = () => { throw new Error("stand-in for a trap"); };
        let first = null;
        try { window.engine.execute_sql_ffi("SELEC nope"); } catch (e) { first = String(e); }
        console.error = original;
        const calls = {
          memory_usage: () => window.engine.memory_usage(),
          set_table_memory_limit: () => window.engine.set_table_memory_limit(1),
          read_table_ffi: () => window.engine.read_table_ffi("t"),
          execute_sql_ffi: () => window.engine.execute_sql_ffi("SELECT 1"),
        };
        const refused = {};
        for (const [name, call] of Object.entries(calls)) {
          try { call(); refused[name] = null; } catch (e) { refused[name] = {name: e.name, message: e.message}; }
        }
        return {first, refused};
    """)
    assert out["first"] and "stand-in for a trap" in out["first"]
    for name, error in out["refused"].items():
        assert error and error["name"] == "InstanceLostError", (name, error)
        assert "an earlier call (execute_sql_ffi) never returned" in error["message"], (name, error)
    engine.reload()
    assert engine.usable() and engine.base_answers()
