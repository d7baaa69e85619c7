"""Fixtures of the browser UDF benchmark (issue 15, item 4): the toolchain's pytest plugin
(wasm_qe_browser: wasm_module_page, --browser) pointed at the engine package as it was built, the
example UDF modules, and the report (artifacts/reports/udf-bench/browser.json).

Nothing here builds the engine: the package in artifacts/datafusion-wasm/ (or --wasm-package DIR)
is used as it is, and a missing one fails the run with what to do."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import pytest

from toolchain.core import cache
from toolchain.pipeline import udf_bench, udf_build

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
ENGINE_PACKAGE = ARTIFACTS / "datafusion-wasm"
REPORT = ARTIFACTS / "reports" / "udf-bench" / udf_bench.BROWSER_REPORT
# The modules `udf bench` measures in wasmtime and wazero, built the same way into the same place
# (incrementally: seconds when cached). Not go_scoring: it needs WASI, which the browser engine refuses.
EXAMPLES = {
    "udf-hello": (ROOT / "crates/udf/examples/hello", None),
    "udf-scoring": (ROOT / "crates/udf/examples/scoring", None),
    "udf-text": (ROOT / "crates/udf/examples/text", None),
    "c_scoring": (ROOT / "udf/c/examples/scoring", "c_scoring"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("udf-browser-bench", "the browser UDF benchmark (benchmarks/udf_browser)")
    group.addoption(
        "--bench-runs", type=int, default=21, help="timed samples per query after the warm-up (median; default 21)"
    )
    group.addoption(
        "--bench-report", type=Path, default=REPORT, help=f"the JSON written (default: {REPORT.relative_to(ROOT)})"
    )


@pytest.fixture(scope="session")
def wasm_package(request: pytest.FixtureRequest) -> Path:
    """The engine package as built: --wasm-package DIR, else artifacts/datafusion-wasm. Never built here."""
    directory = Path(request.config.getoption("--wasm-package") or ENGINE_PACKAGE).resolve()
    if not (directory / "package.json").is_file():
        pytest.fail(
            f"no engine package in {directory}: build it first (`nox -s build`) or pass --wasm-package DIR",
            pytrace=False,
        )
    return directory


@pytest.fixture(scope="session")
def udf_modules() -> dict[str, Path]:
    return {
        name: udf_build.build(udf_build.UdfBuildOptions(project=project, artifacts_dir=ARTIFACTS, name=n)).module
        for name, (project, n) in EXAMPLES.items()
    }


@pytest.fixture(scope="session")
def bench_runs(request: pytest.FixtureRequest) -> int:
    runs = request.config.getoption("--bench-runs")
    if runs < 5:
        raise pytest.UsageError("--bench-runs: at least 5")
    return runs


class BrowserReport:
    """Rows per browser; written at the end of the session. A browser not measured in this run
    keeps the rows an earlier run wrote for it (each browser's section has its own date)."""

    def __init__(self, path: Path, package: Path):
        self.path, self.package = path, package
        self.browsers: dict[str, dict[str, Any]] = {}

    def section(self, browser: str, version: str) -> dict[str, Any]:
        if browser not in self.browsers:
            self.browsers[browser] = {
                "version": version,
                "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {
                    "arch": platform.machine(),
                    "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                    "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
                },
                "register": [],
                "batch": [],
            }
        return self.browsers[browser]

    def write(self) -> None:
        if not self.browsers:
            return
        previous: dict[str, Any] = {}
        if self.path.is_file():
            try:
                previous = json.loads(self.path.read_text()).get("browsers", {})
            except (ValueError, AttributeError):
                previous = {}
        build_info = self.package / "build-info.json"
        document = {
            "what": "WebAssembly UDFs in the browser engine (register_udf): register time, and per-row cost of "
            "the batch path in SQL = (median of `SELECT f(args) AS r FROM t` - median of a baseline query "
            "over the same columns) / rows, timed with performance.now() in the page around execute_sql "
            "(IPC output included in both); results checked against the reference host first. "
            "benchmarks/udf_browser; a record, not an assertion.",
            "engine": {
                "package": str(self.package),
                "git_commit": json.loads(build_info.read_text()).get("git_commit") if build_info.is_file() else None,
            },
            "browsers": {**previous, **self.browsers},
        }
        cache.write_json_atomic(self.path, document)


@pytest.fixture(scope="session")
def browser_report(request: pytest.FixtureRequest, wasm_package: Path):
    report = BrowserReport(request.config.getoption("--bench-report").resolve(), wasm_package)
    yield report
    report.write()
    if report.browsers:
        text = "\n".join(udf_bench.browser_rows(report.path))
        request.config.stash[_MARKDOWN] = text


_MARKDOWN = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    text = config.stash.get(_MARKDOWN, None)
    if text:
        terminalreporter.write_sep("-", "browser UDF benchmark")
        terminalreporter.write_line(text)
        terminalreporter.write_line(f"written: {config.getoption('--bench-report')}")
