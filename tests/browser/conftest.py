"""Browser-suite fixtures. The browsers, the static server and the pages are the toolchain's pytest
plugin's (toolchain/testing/pytest_plugin.py: wasm_module_page, wasm_page, --browser), used as a
user's crate uses them; this file points the plugin at the built engine and adds what only this
suite needs: apache-arrow JS and the engine's query client in the page, the query server
(JSON-framed IPC over native DataFusion) and the measurements record
(artifacts/reports/browser-measurements.json: a record, never an assertion)."""

from __future__ import annotations

import datetime as dt
import platform
from pathlib import Path
from typing import Any

import pytest

from tests.browser.scenarios import datasets
from toolchain.core import cache
from toolchain.testing.query_server import QueryServer

HARNESS = Path(__file__).resolve().parent / "harness"


# ---------------------------------------------------------------- the plugin, pointed at the engine


@pytest.fixture(scope="session")
def wasm_package(built_engine) -> Path:
    """The engine package the plugin's pages load: built (or --use-built) in --artifacts-dir."""
    return built_engine.package_dir


@pytest.fixture(scope="session")
def wasm_server_mounts(js_node_modules) -> dict[str, Path]:
    return {"/npm/": js_node_modules, "/suite/": HARNESS}


@pytest.fixture(scope="session")
def wasm_harness_scripts() -> list[str]:
    return ["/npm/apache-arrow/Arrow.es2015.min.js"]  # the global `Arrow`: decodes IPC in the page


@pytest.fixture(scope="session")
def wasm_harness_extensions() -> list[str]:
    return ["/suite/engine.js"]  # harness.decode, window.queryClient


# ---------------------------------------------------------------- the suite's own


@pytest.fixture(scope="session")
def query_server():
    """Serves every scenario dataset (sales, cities, nested, the 1M-row big) over the protocol."""
    with QueryServer(datasets()) as server:
        yield server


class Measurements:
    """Collects timings during the session; written once at its end, if anything was recorded."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.context: dict[str, Any] = {}

    def record(self, section: str, **values: Any) -> None:
        rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}
        self.entries.setdefault(section, []).append(rounded)

    def write(self) -> None:
        if not self.entries:
            return
        document = {
            "what": "browser suite measurements (headless Chromium, one run; a record, not an assertion)",
            "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": _cpus(), "python": platform.python_version()},
            **self.context,
            **self.entries,
        }
        cache.write_json_atomic(self.path, document)


def _cpus() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.fixture(scope="session")
def measurements(built_engine, chromium, artifacts_dir):
    """Written to <artifacts>/reports/browser-measurements.json at the end of the session."""
    record = Measurements(artifacts_dir / "reports" / "browser-measurements.json")
    record.context = {
        "browser": chromium.chromium_version,
        "engine": {
            "package": str(built_engine.package_dir),
            "final_size": built_engine.report.get("final"),
            "datafusion": built_engine.build_info.get("locked_versions", {}).get("datafusion"),
        },
    }
    yield record
    record.write()
