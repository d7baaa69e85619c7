"""The browser column of the UDF benchmark (issue 15, item 4): what the example UDF modules cost
inside the browser engine (`register_udf`, crates/datafusion-wasm/src/udf.rs), beside the wasmtime
and wazero figures of `nox -s udf_bench` (toolchain/pipeline/udf_bench.py).

    python3 -m nox -s udf_bench_browser [-- --browser chromium] [-- --bench-runs 9]

- register: `register_udf(name, bytes)` in the page (compile + instantiate + manifest), timed with
  performance.now() around the call, each registration deregistered again: the median over bytes
  the page has not seen (the module with a custom section of its own appended), and the mean over
  the same bytes registered again. The engine's own first register_udf is run before, on another
  module.
- batch: the same columns as `udf bench` (udf_bench._columns, 65,536 rows) registered as a table;
  `SELECT f(args) AS r FROM t` and a baseline query over the same columns without the UDF, each
  timed in the page around `await execute_sql` (the IPC output included in both: the baseline has
  the result's type). Per row = (median UDF query - median baseline) / rows. The result must equal
  the reference host's (toolchain.pipeline.udf_call, wasmtime) before anything is timed.

Not part of the test suite (testpaths = tests): nothing here asserts a time.
"""

from __future__ import annotations

import base64
import statistics
from dataclasses import dataclass

import pyarrow as pa
import pytest

from toolchain.pipeline import udf_bench
from toolchain.pipeline.udf_call import UdfModule

ROWS = 65_536
# A sample is at least this long (several queries in a row when one is shorter), so that the
# browsers' coarsened performance.now() (Chromium 0.1 ms, Firefox up to 1 ms when the page is not
# cross-origin isolated) stays small against it.
MIN_SAMPLE_MS = 100.0
# register_udf: COLD registrations of bytes the page has never seen (the module with a custom
# section of its own appended: browsers may reuse a compiled module for identical bytes), median;
# then AGAIN registrations of the same bytes, each timed alone, mean (a difference of coarsened
# clock readings is right on average, whatever the clock's step).
REGISTER_COLD = 7
REGISTER_AGAIN = 20


@dataclass(frozen=True)
class Workload:
    module: str  # the example module (benchmarks/udf_browser/conftest.py EXAMPLES)
    function: str
    args: tuple[str, ...]  # column names of udf_bench._columns(function, ...), in order
    baseline: str  # the same table read without the UDF, a result of the same type (a column, or next to nothing done)


WORKLOADS = (
    Workload("udf-hello", "add_one", ("a",), "a"),
    Workload("udf-scoring", "custom_score", ("doc_score", "boost", "recency_days"), "doc_score"),
    Workload("udf-text", "levenshtein", ("a", "b"), "CAST(octet_length(a) + octet_length(b) AS BIGINT)"),
    Workload("c_scoring", "levenshtein", ("a", "b"), "CAST(octet_length(a) + octet_length(b) AS BIGINT)"),
)
REGISTERED = ("udf-hello", "udf-scoring", "udf-text", "c_scoring")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.fixture(scope="module")
def page(wasm_module_page):
    wasm_module_page.run("window.benchEngine = new window.pkg.WasmQueryEngine();")
    return wasm_module_page


@pytest.fixture(scope="module")
def section(page, browser_report, request):
    name = page.browser
    installation = request.getfixturevalue(name)  # the plugin's chromium or firefox fixture
    version = installation.chromium_version if name == "chromium" else installation.firefox_version
    return browser_report.section(name, version)


def sql(page, statement: str) -> pa.Table:
    out = page.run(
        "const [s] = args; return window.harness.bytesToBase64(await window.benchEngine.execute_sql(s));", statement
    )
    return pa.ipc.open_stream(base64.b64decode(out)).read_all()


# The UDF query and its baseline alternate, sample by sample, so that what else the machine does
# weighs on both alike. A sample is `inner` queries in a row (the same count for both), at least
# MIN_SAMPLE_MS for the faster query of the two.
TIME_PAIR = """
const [statements, runs, warmups, minSampleMs] = args;
const engine = window.benchEngine;
const bytes = [0, 0];
const once = async (k) => { bytes[k] = (await engine.execute_sql(statements[k])).length; };
const warm = [Infinity, Infinity];
for (let i = 0; i < warmups; i++) {
  for (const k of [0, 1]) {
    const t = performance.now();
    await once(k);
    warm[k] = Math.min(warm[k], performance.now() - t);
  }
}
const inner = Math.max(1, Math.ceil(minSampleMs / Math.max(Math.min(...warm), 0.01)));
const samples = [[], []];
for (let r = 0; r < runs; r++) {
  for (const k of r % 2 ? [1, 0] : [0, 1]) {
    const t = performance.now();
    for (let i = 0; i < inner; i++) await once(k);
    samples[k].push((performance.now() - t) / inner);
  }
}
return {samples, inner, bytes};
"""


def time_pair(page, statement: str, baseline: str, runs: int) -> dict:
    """Per-query times of `statement` and `baseline` in the page: medians, samples, queries per sample."""
    out = page.run(TIME_PAIR, [statement, baseline], runs, 3, MIN_SAMPLE_MS)
    udf, base = out["samples"]
    return {
        "udf_median_ms": statistics.median(udf),
        "baseline_median_ms": statistics.median(base),
        "paired_median_ms": statistics.median(u - b for u, b in zip(udf, base)),
        "min_difference_ms": min(udf) - min(base),
        "udf_samples_ms": [round(v, 3) for v in udf],
        "baseline_samples_ms": [round(v, 3) for v in base],
        "queries_per_sample": out["inner"],
        "result_bytes": out["bytes"],
    }


def with_custom_section(wasm: bytes, name: str) -> bytes:
    """`wasm` with an empty custom section `name` appended: the same module, other bytes."""
    assert len(name) < 127
    return wasm + bytes([0, len(name) + 1, len(name)]) + name.encode()


REGISTER = """
const [name, variants, again] = args;
const engine = window.benchEngine;
const time = (bytes) => {
  const t = performance.now();
  const names = engine.register_udf(name, bytes);
  const ms = performance.now() - t;
  engine.deregister_udf(name);
  return [ms, names];
};
const cold = [], times = [];
let names = null;
for (const data of variants) {
  const [ms, n] = time(window.harness.base64ToBytes(data));
  cold.push(ms);
  names = n;
}
const bytes = window.harness.base64ToBytes(variants[variants.length - 1]);
for (let i = 0; i < again; i++) times.push(time(bytes)[0]);
return {names, cold, again: times};
"""


@pytest.fixture(scope="module")
def engine_warmed(page, udf_modules):
    """The engine's own register_udf path run once (its first call is not a module's cost)."""
    wasm = with_custom_section(udf_modules["c_scoring"].read_bytes(), "bench-warm-up")
    page.run(REGISTER, "bench-warm-up", [b64(wasm)], 0)


@pytest.mark.parametrize("module", REGISTERED)
def test_register_udf(page, engine_warmed, section, udf_modules, module):
    wasm = udf_modules[module].read_bytes()
    variants = [b64(with_custom_section(wasm, f"bench-{page.browser}-{module}-{i}")) for i in range(REGISTER_COLD)]
    out = page.run(REGISTER, f"bench-{module}", variants, REGISTER_AGAIN)
    functions = UdfModule.load(udf_modules[module]).functions.values()
    expected = sorted(f.name for f in functions if "batch" in f.styles)
    assert sorted(out["names"]) == expected
    cold, again = out["cold"], out["again"]
    section["register"].append(
        {
            "module": module,
            "bytes": len(wasm),
            "cold_mean_ms": round(statistics.fmean(cold), 3),
            "cold_median_ms": round(statistics.median(cold), 3),
            "cold_ms": [round(v, 3) for v in cold],
            "again_mean_ms": round(statistics.fmean(again), 3),
            "again_median_ms": round(statistics.median(again), 3),
            "again_runs": len(again),
        }
    )


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: f"{w.module}.{w.function}")
def test_batch_per_row(page, section, udf_modules, bench_runs, workload):
    module = udf_modules[workload.module]
    columns = udf_bench._columns(workload.function, ROWS)
    table = pa.table(dict(zip(workload.args, columns)))
    name = f"t_{workload.module.replace('-', '_')}_{workload.function}"
    rows = page.run(
        "const [n, d] = args; return window.benchEngine.register_table(n, window.harness.base64ToBytes(d));",
        name,
        b64(ipc_stream(table)),
    )
    assert rows == ROWS
    udf_name = f"bench-{workload.module}"
    page.run(
        "const [n, d] = args; return window.benchEngine.register_udf(n, window.harness.base64ToBytes(d));",
        udf_name,
        b64(module.read_bytes()),
    )
    try:
        statement = f"SELECT {workload.function}({', '.join(workload.args)}) AS r FROM {name}"
        baseline = f"SELECT {workload.baseline} AS r FROM {name}"
        # The same values as the reference host (wasmtime), every row, before any time is taken.
        got = sql(page, statement).column("r")
        result = UdfModule.load(module).instantiate().call_batch(workload.function, columns)
        assert result.error_count == 0
        expected = result.values
        assert got.type == expected.type == sql(page, f"{baseline} LIMIT 1").schema.field("r").type
        assert got.to_pylist() == expected.to_pylist()

        timed = time_pair(page, statement, baseline, bench_runs)
    finally:
        page.run(
            "const [n, t] = args; window.benchEngine.deregister_udf(n); window.benchEngine.deregister_table(t);",
            udf_name,
            name,
        )
    per_row_ns = (timed["udf_median_ms"] - timed["baseline_median_ms"]) * 1e6 / ROWS
    section["batch"].append(
        {
            "module": workload.module,
            "function": workload.function,
            "rows": ROWS,
            "query": statement,
            "baseline": baseline,
            "udf_median_ms": round(timed["udf_median_ms"], 3),
            "baseline_median_ms": round(timed["baseline_median_ms"], 3),
            "per_row_ns": round(per_row_ns, 1),
            # Two more readings of the same samples, for a machine that was busy: the median of the
            # paired differences (UDF sample - the baseline sample next to it), and of the fastest ones.
            "paired_per_row_ns": round(timed["paired_median_ms"] * 1e6 / ROWS, 1),
            "fastest_per_row_ns": round(timed["min_difference_ms"] * 1e6 / ROWS, 1),
            "runs": bench_runs,
            "queries_per_sample": timed["queries_per_sample"],
            "result_bytes": timed["result_bytes"],
            "udf_samples_ms": timed["udf_samples_ms"],
            "baseline_samples_ms": timed["baseline_samples_ms"],
        }
    )
