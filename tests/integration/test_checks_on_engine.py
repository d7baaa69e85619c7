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


def test_shims_check_finds_the_stub_in_the_engine_and_every_call_to_it_is_waived(built_engine, tmp_path):
    """With panic=immediate-abort the stub is a bare trap; it must still be recognised (by name)."""
    out = tmp_path / "shims.json"
    result = subprocess.run(
        [sys.executable, "-m", "toolchain", "check", "shims", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())["data"]
    assert "<std::time::Instant>::now" in data["stubs_present"]
    assert data["waived"] and all("ci/wasm-shims.toml" in w for w in data["waived"])
    assert data["js_providers"]["time"] and data["js_providers"]["randomness"]


def test_size_check_json_names_the_largest_crates(built_engine, tmp_path):
    out = tmp_path / "size.json"
    result = subprocess.run(
        [sys.executable, "-m", "toolchain", "check", "size", "--json", str(out), "--out-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())["data"]
    assert data["final"] == built_engine.report["final"]
    assert {"sqlparser", "arrow_array"} <= set(data["crates"])
    assert (tmp_path / "size-summary.md").read_text().startswith("## Size of `datafusion-wasm`")
