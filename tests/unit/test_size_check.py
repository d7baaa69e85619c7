"""The size check's budget, baseline and outputs, on a hand-assembled module and a synthetic report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_wasm_module import assemble
from toolchain.checks import size
from toolchain.core import cache
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import WASM_OPT, Layout
from toolchain.core.record import BuildRecord, CrateRecord, StageRecord

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MANIFEST = REPO / "tests" / "fixtures" / "hello-engine" / "Cargo.toml"


def report(raw: int, gzip: int, brotli: int) -> dict:
    final = {"raw": raw, "gzip": gzip, "brotli": brotli}
    return {"stages": [{"name": "wasm-opt", **final}], "final": final}


@pytest.fixture
def layout(tmp_path):
    """artifacts/<crate>/size-report.json, a named module in .stages with the build record that names
    it, and a budget in ci/."""
    artifacts = tmp_path / "artifacts"
    paths = Layout(artifacts, "hello-engine", "hello_engine")
    package = paths.package_dir
    package.mkdir(parents=True)
    module = paths.stage_module(WASM_OPT)
    module.parent.mkdir(parents=True)
    module.write_bytes(assemble())
    record = BuildRecord(CrateRecord("hello-engine", "0.1.0", "hello_engine", "Cargo.toml"), "release", [], False)
    record.append(StageRecord(WASM_OPT, paths.relative(module), cache.file_sha256(module)))
    record.save(paths)
    ci = tmp_path / "ci"
    ci.mkdir()
    return artifacts, package, ci


def write_budget(ci: Path, text: str) -> Path:
    path = ci / "size-budget.toml"
    path.write_text(text)
    return path


def run_check(artifacts: Path, budget: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "toolchain",
            "check",
            "size",
            "--manifest-path",
            str(FIXTURE_MANIFEST),
            "--artifacts-dir",
            str(artifacts),
            "--budget",
            str(budget),
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_absolute_limit_exceeded_fails_and_says_by_how_much(layout):
    artifacts, package, ci = layout
    (package / "size-report.json").write_text(json.dumps(report(5_000_000, 4_500_000, 3_000_000)))
    budget = write_budget(ci, "[final]\nmax_gzip = 4_400_000\n")
    result = run_check(artifacts, budget)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "final gzip: 4.50 MB (4500000 B) exceeds the budget of 4.40 MB (4400000 B) by 100.00 kB" in result.stdout
    assert "raise [final] max_gzip" in result.stdout


def test_within_budget_passes_and_writes_summary_chart_and_attribution(layout, tmp_path):
    artifacts, package, ci = layout
    (package / "size-report.json").write_text(json.dumps(report(5_000_000, 4_300_000, 3_000_000)))
    budget = write_budget(ci, "[final]\nmax_gzip = 4_400_000\n")
    summary_file = tmp_path / "step-summary.md"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolchain",
            "check",
            "size",
            "--manifest-path",
            str(FIXTURE_MANIFEST),
            "--artifacts-dir",
            str(artifacts),
            "--budget",
            str(budget),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"GITHUB_STEP_SUMMARY": str(summary_file), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = artifacts / "reports" / "hello-engine"
    summary = (out / "size-summary.md").read_text()
    assert "✅ final gzip 4.30 MB ≤ 4.40 MB" in summary
    assert "| std |" in summary and "| app |" in summary  # crates of the module's functions
    assert summary_file.read_text() == summary
    assert "<table>" in (out / "size-attribution.html").read_text()
    attribution = json.loads((out / "size-attribution.json").read_text())
    assert set(attribution["crates"]) >= {"std", "core", "app"}


def test_growth_against_the_baseline_fails_then_update_accepts_it(layout):
    artifacts, package, ci = layout
    budget = write_budget(ci, '[growth]\nmax_percent = 2.0\nbaseline = "size-baseline.json"\n')
    (package / "size-report.json").write_text(json.dumps(report(1_000_000, 400_000, 300_000)))
    assert run_check(artifacts, budget, "--update-baseline").returncode == 0
    assert json.loads((ci / "size-baseline.json").read_text())["final"]["gzip"] == 400_000

    (package / "size-report.json").write_text(json.dumps(report(1_000_000, 412_000, 300_000)))  # +3% gzip
    grown = run_check(artifacts, budget)
    assert grown.returncode == 1
    assert "final gzip growth" in grown.stdout and "+3.00%" in grown.stdout

    assert run_check(artifacts, budget, "--update-baseline").returncode == 0
    assert run_check(artifacts, budget).returncode == 0


def test_malformed_budget_is_a_clear_error(tmp_path):
    path = tmp_path / "size-budget.toml"
    path.write_text('[final]\nmax_gzip = "4 MB"\n')
    with pytest.raises(ToolchainError, match="max_gzip must be a positive number of bytes"):
        size.load_budget(path)
    with pytest.raises(ToolchainError, match="no size budget"):
        size.load_budget(tmp_path / "absent.toml")
