"""`nox -s check` on the clean tree: every check passes on the built engine, within its time."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_every_check_passes_on_the_built_engine(built_engine, tmp_path):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "toolchain", "check"], cwd=REPO, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("gating", "shims", "size", "tracing"):
        assert f"check {name}: ok" in result.stdout, result.stdout
    print(f"nox -s check equivalent took {elapsed:.1f}s")  # recorded in the test log, not asserted


def test_size_check_json_names_the_largest_crates(built_engine, tmp_path):
    out = tmp_path / "size.json"
    result = subprocess.run([sys.executable, "-m", "toolchain", "check", "size", "--json", str(out),
                             "--out-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())["data"]
    assert data["final"] == built_engine.report["final"]
    assert {"sqlparser", "arrow_array"} <= set(data["crates"])
    assert (tmp_path / "size-summary.md").read_text().startswith("## Size of `datafusion-wasm`")
