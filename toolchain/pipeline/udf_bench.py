"""`udf bench` (`nox -s udf_bench`): what each wasmtime tier costs for the example UDFs, measured
side by side in one run: compile, deserialize, time to first result after deployment, per-row
cost of the batch path, per-call cost of the scalar path from Python, and the fuel and epoch
overhead. Measurements only (JSON + Markdown under artifacts/reports/udf-bench/); no test times
anything.

Per-row costs are whole batch calls from Python (copy in, call, copy out) divided by the rows;
the median of several runs after a warm-up.
"""

from __future__ import annotations

import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toolchain.analysis import udf_validate, wasm_module
from toolchain.core import console
from toolchain.pipeline import udf_call, udf_host
from toolchain.tools import wasmtime as wt

TIERS = ("cranelift", "winch", "pulley")
# (module name, function, style, rows or calls): what each example is measured on.
WORKLOADS = (
    ("udf-hello", "add_one", "scalar", 2000),
    ("udf-hello", "add_one", "batch", 65536),
    ("udf-scoring", "custom_score", "batch", 65536),
    ("udf-text", "levenshtein", "batch", 65536),
    ("udf-text", "regex_extract", "batch", 16384),
    ("c_scoring", "levenshtein", "batch", 65536),
    ("go_scoring", "levenshtein", "batch", 65536),
)
# What the seeds and arrow-udf publish, for the table beside ours.
PUBLISHED = {
    "seed 004: interpreter (wasm3), per call": "200 ns",
    "seed 004: JIT (wasmtime), per call": "20 ns",
    "seed 004: JIT compile": "150-250 ms",
    "seed 004: native-code cache load": "5 ms",
    "arrow-udf: wasm gcd over 1024 rows, per row": "~15 ns",
}


@dataclass
class Measurement:
    module: str
    function: str
    style: str
    tier: str  # cranelift | winch | pulley, with a profile suffix for fuel/epoch runs
    rows: int
    compile_ms: float = 0.0
    deserialize_ms: float = 0.0
    first_result_ms: float = 0.0  # from a compiled module to the first call's result (instance + call)
    per_row_ns: float = 0.0  # batch: one call's time / rows; scalar: one call's time
    runs: int = 0


@dataclass
class Report:
    machine: str
    wasmtime: str
    measurements: list[Measurement] = field(default_factory=list)
    deployments: list[dict] = field(default_factory=list)
    published: dict = field(default_factory=lambda: dict(PUBLISHED))


def _median_ms(run: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def _scalar_calls(instance: udf_call.UdfInstance, function: str, calls: int) -> None:
    for k in range(calls):
        instance.call_scalar(function, k)


def _columns(function: str, rows: int) -> list[Any]:
    import pyarrow as pa

    words = ["kitten", "sitting", "flaw", "lawn", "iPhone 15", "iPhone 14 Pro", "ñandú", ""]
    if function == "add_one":
        return [pa.array(range(rows), pa.int64())]
    if function == "custom_score":
        return [
            pa.array([float(i % 100) for i in range(rows)]),
            pa.array([1.0 + (i % 3) for i in range(rows)]),
            pa.array([i % 60 for i in range(rows)], pa.int32()),
        ]
    if function == "levenshtein":
        return [pa.array([words[i % 8] for i in range(rows)]), pa.array([words[(i * 5 + 3) % 8] for i in range(rows)])]
    if function == "regex_extract":
        return [
            pa.array([f"order {i} Model: X{i % 977}Z" for i in range(rows)]),
            pa.array([r"Model: ([A-Z0-9]+)"] * rows),
            pa.array([1] * rows, pa.int32()),
        ]
    raise ValueError(function)


def measure_module(module_path: Path, name: str, policy: Path | None, repeat: int = 5) -> list[Measurement]:
    """Every tier of `module_path` on the module's workloads."""
    wasmtime = wt.module_api()
    validation = udf_validate.validate(module_path, policy)
    functions = validation.functions
    wasi = any(i.module.startswith("wasi") for i in wasm_module.parse(module_path).imports)
    data = module_path.read_bytes()
    out = []
    variants = [
        ("cranelift", wt.EngineSettings(strategy="cranelift")),
        ("winch", wt.EngineSettings(strategy="winch")),
        ("pulley", wt.EngineSettings(strategy="pulley")),
        ("cranelift+fuel", wt.EngineSettings(strategy="cranelift", fuel=True)),
        ("cranelift+epoch", wt.EngineSettings(strategy="cranelift", epoch=True)),
    ]
    for label, settings in variants:
        engine = wt.make_engine(settings)
        compile_ms = _median_ms(functools.partial(wasmtime.Module, engine, data), 3)
        compiled = wasmtime.Module(engine, data)
        artifact = bytes(compiled.serialize())
        deserialize_ms = _median_ms(functools.partial(wasmtime.Module.deserialize, engine, artifact), repeat)
        module = udf_call.UdfModule(engine, compiled, functions, wasi, settings)
        for workload_module, function, style, rows in WORKLOADS:
            if workload_module != name:
                continue
            fuel = 10**15 if settings.fuel else None
            deadline = 10**9 if settings.epoch else None
            columns = _columns(function, rows if style == "batch" else 1)
            t = time.perf_counter()
            instance = module.instantiate(fuel=fuel, epoch_deadline=deadline)
            if style == "batch":
                instance.call_batch(function, columns)
            else:
                instance.call_scalar(function, 1)
            first_ms = (time.perf_counter() - t) * 1000
            if style == "batch":
                per_ms = _median_ms(functools.partial(instance.call_batch, function, columns), repeat)
                per_row_ns = per_ms * 1e6 / rows
            else:
                calls = rows
                per_ms = _median_ms(functools.partial(_scalar_calls, instance, function, calls), repeat)
                per_row_ns = per_ms * 1e6 / calls
            out.append(
                Measurement(
                    name,
                    function,
                    style,
                    label,
                    rows,
                    round(compile_ms, 2),
                    round(deserialize_ms, 3),
                    round(first_ms, 2),
                    round(per_row_ns, 1),
                    repeat,
                )
            )
            console.info(
                f"{name}.{function} [{style}] {label}: {per_row_ns:,.1f} ns/{'row' if style == 'batch' else 'call'}"
            )
    out += measure_wazero(module_path, name)
    return out


def measure_wazero(module_path: Path, name: str) -> list[Measurement]:
    """The same workloads in wazero (seed 002's runtime), compiler and interpreter, timed by the Go
    host itself (tools/wazero.py): batch buffers in and out as a columnar host keeps them."""
    from toolchain.tools import wazero

    out = []
    workloads = [(f, style, rows) for m, f, style, rows in WORKLOADS if m == name]
    for mode in ("compiler", "interpreter"):
        for function, style, rows in workloads:
            if style == "scalar":
                request = {"function": function, "style": "scalar", "args": [1]}
            else:
                sample = _columns(function, 64)
                request = {"function": function, "style": "batch", "columns": [c.to_pylist() for c in sample]}
            report = wazero.bench(module_path, [request], mode, rows=(rows,) if style == "batch" else (64,), rounds=5)
            [call] = [c for c in report["calls"] if style == "scalar" or c.get("rows") == rows]
            per = call.get("per_row_ns") if style == "batch" else call["per_call_ns"]
            out.append(
                Measurement(
                    name,
                    function,
                    style,
                    f"wazero {mode}",
                    rows,
                    round(report["compile_ms"], 2),
                    0.0,
                    round(report["instantiate_ms"], 2),
                    round(per or 0.0, 1),
                    5,
                )
            )
            console.info(
                f"{name}.{function} [{style}] wazero {mode}: {per:,.1f} ns/{'row' if style == 'batch' else 'call'}"
            )
    return out


def measure_deployments(bundle_dir: Path, function: str, columns: list[Any]) -> list[dict]:
    """Time to the first result after deployment: bundle artifact, native-code cache hit, tiered start."""
    results = []
    with tempfile.TemporaryDirectory(prefix="udf-bench-cache-") as scratch:
        cache = Path(scratch)
        for how, kwargs in (
            ("bundle artifact (deserialize)", {}),
            ("tiered: Winch now, Cranelift in the background", {"use_artifacts": False}),
            ("native-code cache hit", {"use_artifacts": False}),
            ("tiered: Pulley now", {"use_artifacts": False, "use_cache": False, "fast_tier": "pulley"}),
        ):
            t = time.perf_counter()
            deployment = udf_host.deploy(bundle_dir, cache_root=cache, **kwargs)
            deployment.call_batch(function, columns)
            first_ms = (time.perf_counter() - t) * 1000
            tier = deployment.last_tier
            deployment.wait_optimized()
            ready = next((e.at for e in deployment.events if e.kind == "optimized-ready"), None)
            deployment.close()
            results.append(
                {
                    "start": how,
                    "first_result_ms": round(first_ms, 2),
                    "served_first_by": tier,
                    "optimized_ready_ms": None if ready is None else round(ready * 1000, 2),
                    "events": [asdict(e) for e in deployment.events],
                }
            )
            console.info(f"deploy {bundle_dir.name} [{how}]: first result {first_ms:.1f} ms ({tier})")
    return results


def markdown(report: Report) -> str:
    lines = [
        f"wasmtime {report.wasmtime} on {report.machine}. wasmtime tiers: per-row is one batch call from Python (copies in and out "
        "included) / rows, per-call one scalar call from Python. wazero: timed inside its Go host (tools/wazero.py), "
        "batch buffers in and out included; 'first result' is its instantiate time; it has no deserialize step.",
        "",
        "| module | function | style | tier | rows | compile ms | deserialize ms | first result ms | ns per row (batch) / per call (scalar) |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in report.measurements:
        lines.append(
            f"| {m.module} | {m.function} | {m.style} | {m.tier} | {m.rows:,} | {m.compile_ms:,.1f} | {m.deserialize_ms:,.2f} | {m.first_result_ms:,.1f} | {m.per_row_ns:,.1f} |"
        )
    if report.deployments:
        lines += [
            "",
            "| deployment start | first result ms | served first by | optimizing tier ready ms |",
            "| --- | ---: | --- | ---: |",
        ]
        for d in report.deployments:
            ready = "-" if d["optimized_ready_ms"] is None else f"{d['optimized_ready_ms']:,.1f}"
            lines.append(f"| {d['start']} | {d['first_result_ms']:,.1f} | {d['served_first_by']} | {ready} |")
    lines += ["", "| published figure | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in report.published.items()]
    return "\n".join(lines) + "\n"


BROWSER_REPORT = "browser.json"  # written by benchmarks/udf_browser (`nox -s udf_bench_browser`), beside udf-bench.json


def browser_rows(path: Path) -> list[str]:
    """The browser engine's rows (register_udf, batch path in SQL) as Markdown lines, from the JSON
    `nox -s udf_bench_browser` writes; [] when there is none or it is not in this format (the
    browser benchmark is optional: its absence never fails `udf bench`)."""
    try:
        return _browser_rows(json.loads(path.read_text())["browsers"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _browser_rows(browsers: dict[str, Any]) -> list[str]:
    if not browsers:
        return []
    names = ", ".join(f"{b['version']} ({b['recorded_at'][:10]})" for b in browsers.values())
    lines = [
        "",
        f"Browser engine (`register_udf`, {names}; benchmarks/udf_browser): per row = (median of "
        "`SELECT f(args) AS r FROM t` - median of a baseline query over the same columns) / rows, timed in the "
        "page around execute_sql; register_udf (compile + instantiate in the page): mean over bytes the page has "
        "not seen, and over the same bytes again.",
        "",
        "| browser | module | function | rows | UDF query ms | baseline query ms | ns per row (batch, in SQL) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for browser, section in browsers.items():
        for m in section["batch"]:
            lines.append(
                f"| {browser} | {m['module']} | {m['function']} | {m['rows']:,} | {m['udf_median_ms']:,.2f} | "
                f"{m['baseline_median_ms']:,.2f} | {m['per_row_ns']:,.1f} |"
            )
    lines += ["", "| browser | module | bytes | register_udf ms (new bytes) | register_udf ms (same bytes again) |"]
    lines += ["| --- | --- | ---: | ---: | ---: |"]
    for browser, section in browsers.items():
        for r in section["register"]:
            lines.append(
                f"| {browser} | {r['module']} | {r['bytes']:,} | {r['cold_mean_ms']:,.2f} | {r['again_mean_ms']:,.2f} |"
            )
    return lines


def run(modules: dict[str, tuple[Path, Path | None]], bundle: Path | None, out_dir: Path, repeat: int = 5) -> Report:
    """modules: name -> (built module, policy). bundle: a bundle of udf-text for the deployment timings."""
    import platform

    report = Report(machine=f"{platform.machine()}, {__import__('os').cpu_count()} CPUs", wasmtime=wt.VERSION)
    for name, (path, policy) in modules.items():
        report.measurements += measure_module(path, name, policy, repeat)
    if bundle is not None:
        report.deployments = measure_deployments(bundle, "levenshtein", _columns("levenshtein", 1024))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "udf-bench.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    (out_dir / "udf-bench.md").write_text(markdown(report))
    return report
