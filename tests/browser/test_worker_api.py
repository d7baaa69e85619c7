"""The worker API (issue 17, item 1): `AsyncQueryEngine` (async_engine.js in the engine package) runs
the engine in a dedicated Web Worker (engine_worker.js) and gives WasmQueryEngine's methods as
promises. In Chromium and Firefox:

* results are byte-identical to the direct API's on the same tables and statements;
* calls run one at a time in the order they were made;
* cancel() and AbortSignal remove calls that have not started (AbortError); a running call ends;
* an engine error is an EngineError with the engine's name and message; the instance lives on;
* a trap (the survival suite's stand-in: a JS exception through the engine's frames) rejects its call with an
  InstanceLostError naming the lost tables, the calls queued behind it too, and the next call
  runs on a fresh instance;
* terminate() stops a running call;
* the page's main thread keeps drawing frames while a 1M-row query runs in the worker: its
  longest gap between animation frames stays under FRAME_BUDGET_MS. The same query through the
  direct API stalls the main thread for as long as it runs; both are written to
  artifacts/reports/worker-stall.json (a record; only the worker's bound is asserted).
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import pyarrow as pa
import pytest

from tests.conftest import b64
from toolchain.core import cache

pytestmark = pytest.mark.browser

# The longest gap between two animation frames the main thread may show while the worker runs a
# 1M-row query. A frame at 60 Hz is 16.7 ms; headless browsers on a busy 2-CPU CI machine miss
# frames for reasons of their own (compositor, GC, other processes: the idle page's longest gap is
# recorded beside it), so the bound is 6 frames. The direct API stalls for the whole query
# (about 300-900 ms here), so the bound still separates the two by a wide margin.
FRAME_BUDGET_MS = 100.0

# About 0.3-0.9 s in either browser on the 2-CPU machine: a grouped count(DISTINCT) over 1M strings.
SLOW = (
    "SELECT k, count(DISTINCT s) AS d, max(s) AS hi FROM (SELECT value % 10 AS k, "
    "cast(value * 7919 % 1000003 AS VARCHAR) AS s FROM range(1000000)) GROUP BY k ORDER BY k"
)

# The page's helpers: the worker API module, byte comparison, a call's outcome as plain data.
SETUP = """
if (!window.workerApi) {
  window.workerApi = await import(new URL("async_engine.js", window.harness.moduleUrl).href);
  window.sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  window.outcome = (promise) => promise.then(
    // (Firefox runs this script in a sandbox: the page's typed arrays are not its Uint8Array.)
    (value) => ({ok: value && typeof value.byteLength === "number" ? {bytes: value.byteLength} : (value === undefined ? null : value)}),
    (e) => ({error: {name: e.name, message: e.message, engineError: e instanceof window.workerApi.EngineError,
                     domException: typeof DOMException === "function" && e instanceof DOMException,
                     stack: String(e.stack || ""), callerStack: String(e.callerStack || ""),
                     lostTables: e.lostTables || null}}));
  // A worker whose console.error throws when the engine logs a failed statement naming
  // `trap_here`: the exception unwinds the engine's wasm frames mid-call exactly as a trap does
  // (the stand-in of test_survival.py's test_calls_after_a_trap_say_the_instance_is_lost).
  window.standInTrapWorker = () => {
    const patch = "const original = console.error; console.error = (...a) => { " +
      "if (a.some((x) => String(x).includes('trap_here'))) throw new Error('stand-in for a trap'); " +
      "return original(...a); };";
    const patchUrl = URL.createObjectURL(new Blob([patch], {type: "text/javascript"}));
    const workerUrl = new URL("engine_worker.js", window.harness.moduleUrl).href;
    const wrapper = `import ${JSON.stringify(patchUrl)}; import ${JSON.stringify(workerUrl)};`;
    const url = URL.createObjectURL(new Blob([wrapper], {type: "text/javascript"}));
    return () => new Worker(url, {type: "module"});
  };
}
"""


def ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


SAMPLE = pa.table(
    {
        "id": pa.array(range(1, 11), pa.int64()),
        "city": pa.array(["Zürich", "Köln", "Zürich", "東京", "Köln", "Zürich", "東京", "Köln", None, "Zürich"]),
        "amount": pa.array([1.5, 2.0, None, 4.25, 5.0, 6.0, 7.5, 8.0, 9.0, 10.0], pa.float64()),
        "at": pa.array([1_700_000_000_000_000 + i * 3_600_000_000 for i in range(10)], pa.timestamp("us", "UTC")),
    }
)
SAMPLE_B64 = b64(ipc_stream(SAMPLE))

STATEMENTS = [
    "SELECT city, count(*) AS n, sum(amount) AS total, avg(id) AS mean_id FROM t GROUP BY city ORDER BY city NULLS LAST",
    "SELECT id, upper(city) AS c, date_trunc('day', at) AS d FROM t ORDER BY id",
    "SELECT a.id, b.id AS other FROM t a JOIN t b ON a.city = b.city AND a.id < b.id ORDER BY a.id, other",
    "SELECT id, sum(amount) OVER (PARTITION BY city ORDER BY id) AS running FROM t ORDER BY id",
    SLOW,
]


@pytest.fixture
def page(wasm_module_page):
    wasm_module_page.run(SETUP)
    return wasm_module_page


def test_results_are_byte_identical_to_the_direct_api(page):
    out = page.run(
        """
        const [data, statements] = args;
        const bytes = window.harness.base64ToBytes(data);
        const direct = new window.pkg.WasmQueryEngine();
        const worker = new window.workerApi.AsyncQueryEngine();
        try {
          const rows = [direct.register_table("t", bytes), await worker.register_table("t", bytes)];
          const results = [];
          for (const sql of statements) {
            const [a, b] = [await direct.execute_sql(sql), await worker.execute_sql(sql)];
            results.push({sql, same: window.sameBytes(a, b), bytes: b.length, rows: window.harness.decode(b).numRows});
          }
          const derived = "SELECT city, sum(amount) AS total FROM t WHERE city IS NOT NULL GROUP BY city ORDER BY city";
          const registered = window.sameBytes(await direct.execute_and_register(derived, "d"), await worker.execute_and_register(derived, "d"));
          const read = window.sameBytes(await direct.read_table_ipc("d"), await worker.read_table_ipc("d"));
          const names = [direct.table_names(), await worker.table_names()];
          const version = [window.pkg.WasmQueryEngine.datafusion_version(), worker.datafusionVersion];
          const callerBytesIntact = bytes.length;  // register_table copies unless asked to transfer
          const moved = new Uint8Array(bytes);
          await worker.register_table("moved", moved, {transfer: true});
          return {rows, results, registered, read, names, version, callerBytesIntact, movedLength: moved.length,
                  movedRows: window.harness.decode(await worker.execute_sql("SELECT * FROM moved")).numRows};
        } finally {
          worker.terminate();
          direct.free();
        }
        """,
        SAMPLE_B64,
        STATEMENTS,
    )
    assert out["rows"] == [10, 10]
    for result in out["results"]:
        assert result["same"], f"the worker's IPC differs from the direct API's for {result['sql']}"
        assert result["rows"] > 0 and result["bytes"] > 0
    assert out["registered"] and out["read"]
    assert out["names"] == [["d", "t"], ["d", "t"]]
    assert out["version"][0] == out["version"][1]
    assert out["callerBytesIntact"] > 0
    assert out["movedLength"] == 0 and out["movedRows"] == 10  # transferred: detached here, whole there


def test_calls_run_one_at_a_time_in_the_order_they_were_made(page):
    out = page.run(
        """
        const [data, slow] = args;
        const e = new window.workerApi.AsyncQueryEngine();
        const finished = [];
        const track = (label, promise) => window.outcome(promise).then((o) => { finished.push(label); return [label, o]; });
        const count = (p) => p.then((bytes) => window.harness.decode(bytes).rows[0].n);
        try {
          const calls = [
            track("register", e.register_table("t", window.harness.base64ToBytes(data))),
            track("slow", e.execute_sql(slow)),
            track("count", count(e.execute_sql("SELECT count(*) AS n FROM t"))),
            track("derive", e.execute_and_register("SELECT * FROM t WHERE id > 5", "d")),
            track("names", e.table_names()),
            track("count_d", count(e.execute_sql("SELECT count(*) AS n FROM d"))),
            track("drop", e.deregister_table("t")),
            track("gone", e.execute_sql("SELECT * FROM t")),
            track("names_after_drop", e.table_names()),
            track("reset", e.reset()),
            track("names_after_reset", e.table_names()),
          ];
          const queued = e.queued;
          const results = Object.fromEntries(await Promise.all(calls));
          return {finished, results, queued, generation: e.generation};
        } finally {
          e.terminate();
        }
        """,
        SAMPLE_B64,
        SLOW,
    )
    labels = ["register", "slow", "count", "derive", "names", "count_d", "drop", "gone"]
    labels += ["names_after_drop", "reset", "names_after_reset"]
    assert out["finished"] == labels
    assert out["queued"] == len(labels)  # nothing ran before the worker was ready
    results = out["results"]
    assert results["register"] == {"ok": 10}
    assert results["count"] == {"ok": 10} and results["count_d"] == {"ok": 5}
    assert results["names"] == {"ok": ["d", "t"]}
    assert results["gone"]["error"]["engineError"] and "t" in results["gone"]["error"]["message"]
    assert results["names_after_drop"] == {"ok": ["d"]} and results["names_after_reset"] == {"ok": []}
    assert out["generation"] == 1


def test_cancel_and_abort_remove_queued_calls_and_the_running_call_finishes(page):
    out = page.run(
        """
        const [slow] = args;
        const e = new window.workerApi.AsyncQueryEngine();
        try {
          await e.ready();
          const runningSignal = new AbortController();
          const running = window.outcome(e.execute_sql(slow, {signal: runningSignal.signal}));
          const one = new AbortController();
          const a = window.outcome(e.execute_sql("SELECT 1 AS a", {signal: one.signal}));
          const b = window.outcome(e.execute_sql("SELECT 2 AS b"));
          const c = window.outcome(e.table_names());
          const queuedBefore = e.queued;
          one.abort();
          runningSignal.abort();  // the running call is not interruptible: it still answers
          const queuedAfterAbort = e.queued;
          const cancelled = e.cancel();
          const early = new AbortController();
          early.abort();
          const d = window.outcome(e.execute_sql("SELECT 4 AS d", {signal: early.signal}));
          const after = window.harness.decode(await e.execute_sql("SELECT 5 AS e")).rows;
          return {running: await running, a: await a, b: await b, c: await c, d: await d,
                  queuedBefore, queuedAfterAbort, cancelled, after, queuedAtEnd: e.queued};
        } finally {
          e.terminate();
        }
        """,
        SLOW,
    )
    assert out["running"]["ok"]["bytes"] > 0, out["running"]
    assert (out["queuedBefore"], out["queuedAfterAbort"], out["cancelled"], out["queuedAtEnd"]) == (3, 2, 2, 0)
    for key in "abcd":
        error = out[key]["error"]
        assert error["name"] == "AbortError" and error["domException"], (key, error)
    assert out["after"] == [{"e": 5}]


def test_an_engine_error_keeps_the_engines_name_and_message_and_the_instance_lives_on(page):
    out = page.run(
        """
        const e = new window.workerApi.AsyncQueryEngine();
        const direct = new window.pkg.WasmQueryEngine();
        try {
          let directMessage = null;
          try { await direct.execute_sql("SELEC oops"); } catch (err) { directMessage = err.message; }
          const failed = await window.outcome(e.execute_sql("SELEC oops"));
          const after = window.harness.decode(await e.execute_sql("SELECT 1 AS one")).rows;
          return {failed, directMessage, after, generation: e.generation};
        } finally {
          e.terminate();
          direct.free();
        }
        """
    )
    error = out["failed"]["error"]
    assert error["engineError"] and error["name"] == "Error"
    assert error["message"] == out["directMessage"] and "SELEC" in error["message"]
    assert error["stack"] and error["callerStack"]
    assert out["after"] == [{"one": 1}] and out["generation"] == 1


TRAP = """
const [data, trapSql, standIn] = args;
const options = standIn ? {createWorker: window.standInTrapWorker()} : {};
const e = new window.workerApi.AsyncQueryEngine(options);
try {
  await e.register_table("t", window.harness.base64ToBytes(data));
  await e.execute_and_register("SELECT * FROM t WHERE id > 5", "d");
  const before = e.generation;
  const trapped = [];
  for (const sql of trapSql) trapped.push(window.outcome(e.execute_sql(sql)));
  const queued = [window.outcome(e.execute_sql("SELECT count(*) FROM t")), window.outcome(e.table_names())];
  const results = {trapped: await Promise.all(trapped), queued: await Promise.all(queued)};
  const started = performance.now();
  results.namesAfter = await e.table_names();
  results.freshMs = performance.now() - started;
  await e.register_table("t", window.harness.base64ToBytes(data));
  results.countAfter = window.harness.decode(await e.execute_sql("SELECT count(*) AS n FROM t GROUP BY id % 3 ORDER BY n")).rows;
  return {before, after: e.generation, ...results};
} finally {
  e.terminate();
}
"""


def check_trap(out: dict, trapping_index: int) -> dict:
    lost = out["trapped"][trapping_index]["error"]
    assert lost["name"] == "InstanceLostError" and lost["engineError"], lost
    assert "tables lost: d, t" in lost["message"] and lost["lostTables"] == ["d", "t"], lost
    assert "fresh instance" in lost["message"]
    for queued in out["queued"]:
        error = queued["error"]
        assert error["name"] == "InstanceLostError" and "was not run" in error["message"], error
    assert (out["before"], out["after"]) == (1, 2)
    assert out["namesAfter"] == []  # the fresh instance starts empty
    assert out["countAfter"] == [{"n": 3}, {"n": 3}, {"n": 4}]
    return lost


def test_a_trap_in_the_worker_loses_the_instance_says_so_and_the_next_call_gets_a_fresh_one(page):
    """A trap, as test_survival.py makes one: a console.error that throws unwinds the engine mid-call,
    leaving it unusable exactly as a wasm trap does. (The genuine trap this suite found, range()
    after `SET datafusion.execution.batch_size = 2000000000`, is a refused setting now: the
    survival suite's adversarial corpus holds it.)"""
    out = page.run(TRAP, SAMPLE_B64, ["SELECT * FROM trap_here"], True)
    lost = check_trap(out, 0)
    assert "stand-in for a trap" in lost["message"], lost
    print(f"fresh instance after a trap: {out['freshMs']:.0f} ms")


def test_terminate_stops_a_running_call_and_every_later_one(page):
    out = page.run(
        """
        const [slow] = args;
        const e = new window.workerApi.AsyncQueryEngine();
        await e.ready();
        const running = window.outcome(e.execute_sql(slow));
        const queued = window.outcome(e.table_names());
        e.terminate();
        const later = await window.outcome(e.table_names());
        return {running: await running, queued: await queued, later};
        """,
        SLOW,
    )
    for key in ("running", "queued", "later"):
        assert out[key]["error"]["name"] == "TerminatedError", out


# ---------------------------------------------------------------- the main thread keeps animating

MEASURE_STALL = """
const [sql, idleMs] = args;
// The longest gap between two animation frames while `work` runs (and one frame after it, so a
// gap that a synchronous call causes is counted).
async function longestGap(work) {
  await new Promise((r) => requestAnimationFrame(r));
  let last = performance.now(), longest = 0, frames = 0, on = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    frames++;
    if (on) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const started = performance.now();
  const value = await work();
  const ms = performance.now() - started;
  await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(r));
  on = false;
  return {longest, frames, ms, value};
}
const worker = new window.workerApi.AsyncQueryEngine();
const direct = new window.pkg.WasmQueryEngine();
try {
  await worker.ready();
  await worker.execute_sql("SELECT 1");  // warm both paths once
  await direct.execute_sql("SELECT 1");
  const idle = await longestGap(() => new Promise((r) => setTimeout(r, idleMs)));
  const viaWorker = await longestGap(() => worker.execute_sql(sql));
  const viaDirect = await longestGap(() => direct.execute_sql(sql));
  return {
    idle: {longest: idle.longest, frames: idle.frames, ms: idle.ms},
    worker: {longest: viaWorker.longest, frames: viaWorker.frames, ms: viaWorker.ms},
    direct: {longest: viaDirect.longest, frames: viaDirect.frames, ms: viaDirect.ms},
    same: window.sameBytes(viaWorker.value, viaDirect.value),
    rows: window.harness.decode(viaWorker.value).numRows,
  };
} finally {
  worker.terminate();
  direct.free();
}
"""


def record_stall(path, browser: str, entry: dict) -> None:
    """artifacts/reports/worker-stall.json: one entry per browser, kept across runs of one browser."""
    document = json.loads(path.read_text()) if path.is_file() else {}
    document.setdefault(
        "what",
        "longest gap between animation frames on the page's main thread while a 1M-row query runs "
        "through AsyncQueryEngine (worker) and WasmQueryEngine (direct); a record, the worker's "
        f"bound ({FRAME_BUDGET_MS:.0f} ms) is asserted by tests/browser/test_worker_api.py",
    )
    document["query"] = SLOW
    document["frame_budget_ms"] = FRAME_BUDGET_MS
    document.setdefault("browsers", {})[browser] = {
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **entry,
    }
    cache.write_json_atomic(path, document)


def test_the_main_thread_keeps_drawing_frames_while_the_worker_runs_a_1m_row_query(page, artifacts_dir):
    out = page.run(MEASURE_STALL, SLOW, 500)
    entry = {
        "worker_longest_frame_gap_ms": round(out["worker"]["longest"], 1),
        "worker_query_ms": round(out["worker"]["ms"], 1),
        "worker_frames": out["worker"]["frames"],
        "direct_longest_frame_gap_ms": round(out["direct"]["longest"], 1),
        "direct_query_ms": round(out["direct"]["ms"], 1),
        "direct_frames": out["direct"]["frames"],
        "idle_longest_frame_gap_ms": round(out["idle"]["longest"], 1),
        "idle_frames_in_500_ms": out["idle"]["frames"],
        "result_rows": out["rows"],
    }
    record_stall(artifacts_dir / "reports" / "worker-stall.json", page.browser, entry)
    print(f"{page.browser}: {entry}")
    assert out["same"], "the worker's result differs from the direct API's"
    assert out["rows"] == 10
    # The query must outlast the budget, or the bound below would prove nothing.
    assert out["worker"]["ms"] > FRAME_BUDGET_MS, f"the query took {out['worker']['ms']:.0f} ms: make it longer"
    assert out["worker"]["longest"] < FRAME_BUDGET_MS, (
        f"the main thread stalled {out['worker']['longest']:.0f} ms while the worker ran the query "
        f"(budget {FRAME_BUDGET_MS:.0f} ms): {entry}"
    )


def test_the_workers_results_are_ipc_streams_pyarrow_reads(page):
    """The worker's bytes are an IPC stream pyarrow reads too."""
    data = page.run(
        """
        const e = new window.workerApi.AsyncQueryEngine();
        try {
          return window.harness.bytesToBase64(await e.execute_sql("SELECT 1 AS one, 'x' AS s"));
        } finally {
          e.terminate();
        }
        """
    )
    assert pa.ipc.open_stream(base64.b64decode(data)).read_all().to_pylist() == [{"one": 1, "s": "x"}]
