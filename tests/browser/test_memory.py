"""Memory accounting (issue 17, item 4), in Chromium and Firefox:

* `memory_usage()` gives each table's bytes (its buffer allocations, each once: an IPC-decoded
  batch's columns share one message body, and a result registered from `SELECT *` shares its
  source's buffers), their deduplicated total, views at 0, and the wasm memory's size;
* with `set_table_memory_limit`, registering past the limit (register_table, execute_and_register,
  CREATE TABLE ... AS, INSERT INTO) fails with an error naming the sizes, leaves the tables as they
  were (a refused INSERT inserts no row), and the engine keeps working; replacing a table does not
  count the table it replaces;
* the worker API exposes both, and keeps the limit for the instance that replaces a lost one.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.browser.oracle import ipc_stream
from tests.conftest import b64

pytestmark = pytest.mark.browser

ROWS = 200_000


TABLE = pa.table(
    {
        "id": pa.array(range(ROWS), pa.int64()),
        "x": pa.array([i * 0.25 for i in range(ROWS)], pa.float64()),
        "label": pa.array([f"row {i % 977}" for i in range(ROWS)]),
    }
)
STREAM = ipc_stream(TABLE, max_chunksize=65_536)
STREAM_B64 = b64(STREAM)


@pytest.fixture
def page(wasm_module_page):
    return wasm_module_page


def test_memory_usage_counts_each_allocation_once(page):
    out = page.run(
        """
        const [data] = args;
        const engine = new window.pkg.WasmQueryEngine();
        const empty = engine.memory_usage();
        engine.register_table("t", window.harness.base64ToBytes(data));
        await engine.execute_and_register("SELECT * FROM t", "same");
        await engine.execute_sql("CREATE VIEW v AS SELECT id FROM t");
        await engine.execute_sql("CREATE TABLE small AS SELECT id FROM t WHERE id < 1000");
        const usage = engine.memory_usage();
        const memory = window.pkg.FfiResult.memory().buffer.byteLength;
        engine.deregister_table("same");
        return {empty, usage, memory, after: engine.memory_usage()};
        """,
        STREAM_B64,
    )
    assert out["empty"]["tables"] == [] and out["empty"]["tables_bytes"] == 0
    assert out["empty"]["limit_bytes"] is None
    usage = out["usage"]
    tables = {t["name"]: t for t in usage["tables"]}
    assert [t["name"] for t in usage["tables"]] == sorted(tables)
    t = tables["t"]
    assert t["kind"] == "table" and t["rows"] == ROWS
    # At least the data itself, at most the IPC stream it was decoded from plus the allocator's
    # rounding: a count per column (arrow's get_array_memory_size) would be about 3x the stream.
    assert TABLE.nbytes <= t["bytes"] <= len(STREAM) * 1.05 + 64 * 1024, (t, TABLE.nbytes, len(STREAM))
    assert tables["same"]["bytes"] == t["bytes"] and tables["same"]["rows"] == ROWS
    assert tables["v"] == {"name": "v", "kind": "view", "rows": 0, "bytes": 0}
    assert tables["small"]["rows"] == 1000 and 8000 <= tables["small"]["bytes"] < t["bytes"]
    # "same" shares t's buffers: the total counts them once.
    assert usage["tables_bytes"] == t["bytes"] + tables["small"]["bytes"]
    assert usage["wasm_memory_bytes"] == out["memory"] and usage["wasm_memory_bytes"] % 65536 == 0
    assert usage["wasm_memory_bytes"] >= usage["tables_bytes"]
    assert [x["name"] for x in out["after"]["tables"]] == ["small", "t", "v"]


def test_registering_past_the_limit_fails_and_names_the_sizes(page):
    out = page.run(
        """
        const [data] = args;
        const bytes = window.harness.base64ToBytes(data);
        const engine = new window.pkg.WasmQueryEngine();
        engine.register_table("t", bytes);
        const one = engine.memory_usage().tables_bytes;
        engine.set_table_memory_limit(Math.floor(one * 1.5));
        const attempt = async (f) => { try { return {ok: await f()}; } catch (e) { return {error: e.message}; } };
        const results = {
          second: await attempt(() => engine.register_table("t2", bytes)),
          replace: await attempt(() => engine.register_table("t", bytes)),
          fromQuery: await attempt(async () => (await engine.execute_and_register("SELECT id + 1 AS id, x * 2 AS x, concat(label, '!') AS label FROM t", "q")).length),
          ctas: await attempt(() => engine.execute_sql("CREATE TABLE c AS SELECT id * 2 AS id, x + 1 AS x, upper(label) AS label FROM t")),
          smallCtas: await attempt(async () => (await engine.execute_sql("CREATE TABLE tiny AS SELECT 1 AS one")).length),
          badLimit: await attempt(() => engine.set_table_memory_limit(-1)),
          nanLimit: await attempt(() => engine.set_table_memory_limit(NaN)),
        };
        const names = engine.table_names();
        const usage = engine.memory_usage();
        const count = window.harness.decode(await engine.execute_sql("SELECT count(*) AS n FROM t")).rows;
        engine.set_table_memory_limit(0);
        const unlimited = await attempt(() => engine.register_table("t2", bytes));
        return {one, results, names, usage, count, unlimited, limitAfter: engine.memory_usage().limit_bytes};
        """,
        STREAM_B64,
    )
    results = out["results"]
    for key in ("second", "fromQuery", "ctas"):
        message = results[key].get("error", "")
        assert "over the table memory limit" in message and "MiB" in message, (key, results[key])
        assert "set_table_memory_limit" in message
    assert "register_table('t2')" in results["second"]["error"]
    assert (
        f"this one {out['one'] / 1048576:.2f} MiB, the others {out['one'] / 1048576:.2f} MiB"
        in results["second"]["error"]
    )
    assert f"the tables would hold {2 * out['one']} bytes" in results["second"]["error"]
    assert f"limit of {int(out['one'] * 1.5)} bytes" in results["second"]["error"]
    assert "table 'c' was not created" in results["ctas"]["error"]
    assert results["replace"] == {"ok": ROWS}, "replacing a table counted the table it replaces"
    assert "ok" in results["smallCtas"]
    for key in ("badLimit", "nanLimit"):
        assert "is not a number of bytes" in results[key]["error"]
    assert out["names"] == ["t", "tiny"], "a refused table was registered anyway, or another was lost"
    assert out["usage"]["limit_bytes"] == int(out["one"] * 1.5)
    assert out["count"] == [{"n": ROWS}]
    assert out["unlimited"] == {"ok": ROWS} and out["limitAfter"] is None


def test_insert_past_the_limit_inserts_nothing(page):
    """INSERT INTO appends inside DataFusion; over the limit the table is put back as it was."""
    out = page.run(
        """
        const [data] = args;
        const bytes = window.harness.base64ToBytes(data);
        const engine = new window.pkg.WasmQueryEngine();
        const count = async (table) =>
          window.harness.decode(await engine.execute_sql(`SELECT count(*) AS n, sum(id) AS s FROM ${table}`)).rows[0];
        const insert = "INSERT INTO dest SELECT id, x, concat(label, '!') FROM t";
        engine.register_table("t", bytes);
        await engine.execute_sql("CREATE TABLE dest (id BIGINT, x DOUBLE, label VARCHAR)");
        const empty = engine.memory_usage().tables_bytes;
        await engine.execute_sql(insert);
        const per = engine.memory_usage().tables_bytes - empty;
        // Room for one more insert of the same size, not two.
        const limit = Math.floor(empty + per * 2.5);
        engine.set_table_memory_limit(limit);
        const attempt = async (f) => { try { return {ok: await f()}; } catch (e) { return {error: e.message}; } };
        const inserts = [];
        for (let i = 0; i < 4; i++) {
          inserts.push(await attempt(async () =>
            window.harness.decode(await engine.execute_sql(insert)).rows));
        }
        const afterRefusal = await count("dest");
        const small = await attempt(async () =>
          window.harness.decode(await engine.execute_sql("INSERT INTO dest VALUES (-1, 0.5, 'one more')")).rows);
        const usage = engine.memory_usage();
        engine.set_table_memory_limit(0);
        const unlimited = await attempt(async () =>
          window.harness.decode(await engine.execute_sql("INSERT INTO dest SELECT id, x, label FROM t")).rows);
        return {per, limit, inserts, afterRefusal, small, usage, unlimited, final: await count("dest"),
                usable: window.pkg.WasmQueryEngine.is_usable()};
        """,
        STREAM_B64,
    )
    assert out["per"] > TABLE.nbytes // 2, out["per"]
    first, *refused = out["inserts"]
    assert first == {"ok": [{"count": ROWS}]}, first
    for r in refused:
        assert "INSERT INTO: refused" in r.get("error", ""), r
        assert "over the table memory limit" in r["error"] and "set_table_memory_limit" in r["error"], r
        assert r["error"].endswith(
            "no rows were inserted into 'dest'\n  statement: INSERT INTO dest SELECT id, x, concat(label, '!') FROM t"
        ), r
    sum_ids = ROWS * (ROWS - 1) // 2
    assert out["afterRefusal"] == {"n": 2 * ROWS, "s": 2 * sum_ids}, "a refused INSERT left rows behind"
    assert out["usage"]["tables_bytes"] <= out["limit"]
    # The refusal undid the refused rows only: a one-row insert still fits under the limit.
    assert out["small"] == {"ok": [{"count": 1}]}, out["small"]
    assert out["unlimited"] == {"ok": [{"count": ROWS}]}
    assert out["final"]["n"] == 3 * ROWS + 1
    assert out["usable"] is True


def test_the_worker_exposes_usage_and_the_limit(page):
    out = page.run(
        """
        const [data] = args;
        const api = await import(new URL("async_engine.js", window.harness.moduleUrl).href);
        const engine = new api.AsyncQueryEngine();
        try {
          const bytes = window.harness.base64ToBytes(data);
          await engine.register_table("t", bytes);
          const usage = await engine.memory_usage();
          await engine.set_table_memory_limit(usage.tables_bytes + 1024);
          let refused = null;
          try {
            await engine.register_table("t2", bytes);
          } catch (e) {
            refused = {name: e.name, message: e.message, engineError: e instanceof api.EngineError};
          }
          return {usage, refused, after: await engine.memory_usage(), names: await engine.table_names()};
        } finally {
          engine.terminate();
        }
        """,
        STREAM_B64,
    )
    assert [t["name"] for t in out["usage"]["tables"]] == ["t"] and out["usage"]["tables"][0]["rows"] == ROWS
    assert out["usage"]["wasm_memory_bytes"] > out["usage"]["tables_bytes"] > TABLE.nbytes
    assert out["refused"]["engineError"] and "over the table memory limit" in out["refused"]["message"]
    assert out["after"]["limit_bytes"] == out["usage"]["tables_bytes"] + 1024
    assert out["names"] == ["t"]


def test_the_limit_refuses_before_the_tab_runs_out(page):
    """A page that keeps registering copies stops at the limit with an error, not a trap."""
    out = page.run(
        """
        const [data] = args;
        const bytes = window.harness.base64ToBytes(data);
        const engine = new window.pkg.WasmQueryEngine();
        engine.set_table_memory_limit(64 * 1024 * 1024);
        let registered = 0, error = null;
        for (let i = 0; i < 200 && !error; i++) {
          try {
            engine.register_table(`copy${i}`, bytes);
            registered++;
          } catch (e) {
            error = e.message;
          }
        }
        return {registered, error, usable: window.pkg.WasmQueryEngine.is_usable(), usage: engine.memory_usage()};
        """,
        STREAM_B64,
    )
    assert out["usable"] is True
    assert out["error"] and "over the table memory limit" in out["error"]
    assert out["usage"]["tables_bytes"] <= 64 * 1024 * 1024
    per_table = out["usage"]["tables_bytes"] / out["registered"]
    assert out["registered"] == int(64 * 1024 * 1024 // per_table)
