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


# ---------------------------------------------------------------- budgets and baselines per crate


def options(artifacts: Path, package: Path, **changes) -> size.Options:
    """What the size check runs with for the fixture crate `hello-engine` (the layout fixture's module)."""
    paths = Layout(artifacts, "hello-engine", "hello_engine")
    values = {
        "crate": "hello-engine",
        "size_report": package / "size-report.json",
        "wasm": paths.stage_module(WASM_OPT),
        "budget": None,
        "out_dir": artifacts / "reports" / "hello-engine",
        "manifest": FIXTURE_MANIFEST,
        "check_command": "python -m toolchain check size --manifest-path tests/fixtures/hello-engine",
    }
    return size.Options(**{**values, **changes})


def test_a_crate_without_a_budget_gets_the_report_and_no_verdict(layout):
    artifacts, package, _ = layout
    (package / "size-report.json").write_text(json.dumps(report(50_000_000, 40_000_000, 30_000_000)))
    result = size.run(options(artifacts, package))
    assert result.ok and not result.judged
    assert result.format().startswith("check size: no verdict")
    assert json.loads(result.to_json())["judged"] is False
    how = next(n for n in result.notes if n.startswith("no size budget for hello-engine"))
    assert 'policies = { size-budget = "size-budget.toml" }' in how and str(FIXTURE_MANIFEST) in how
    assert "--manifest-path tests/fixtures/hello-engine --update-baseline" in how
    assert (artifacts / "reports" / "hello-engine" / "size-summary.md").is_file()  # the report is still written


def test_update_baseline_without_a_budget_is_refused_and_writes_nothing(layout):
    artifacts, package, _ = layout
    (package / "size-report.json").write_text(json.dumps(report(1_000, 500, 400)))
    with pytest.raises(ToolchainError, match="hello-engine has no size budget, so no baseline to update") as raised:
        size.run(options(artifacts, package, update_baseline=True))
    assert 'policies = { size-budget = "size-budget.toml" }' in raised.value.fix
    assert not (artifacts / "reports").exists()


def test_a_baseline_of_another_crate_is_refused_not_compared(layout):
    artifacts, package, ci = layout
    (package / "size-report.json").write_text(json.dumps(report(1_500_000, 400_000, 300_000)))
    budget = write_budget(ci, '[growth]\nmax_percent = 2.0\nbaseline = "size-baseline.json"\n')
    engine_baseline = {"crate": "datafusion-wasm", "final": {"raw": 20_000_000, "gzip": 4_300_000, "brotli": 3_000_000}}
    (ci / "size-baseline.json").write_text(json.dumps(engine_baseline))
    before = (ci / "size-baseline.json").read_bytes()
    for update in (False, True):
        with pytest.raises(ToolchainError, match="is the size baseline of datafusion-wasm, not of hello-engine"):
            size.run(options(artifacts, package, budget=budget, update_baseline=update))
    assert (ci / "size-baseline.json").read_bytes() == before  # never overwritten
    # The same through the command line: exit 2 and the way out, not a "-92.5%" verdict.
    result = run_check(artifacts, budget)
    assert result.returncode == 2 and "give hello-engine a budget and baseline of its own" in result.stderr
    assert "%" not in result.stdout


def test_a_budget_that_names_another_crate_is_refused(layout):
    artifacts, package, ci = layout
    (package / "size-report.json").write_text(json.dumps(report(1_000, 500, 400)))
    budget = write_budget(ci, 'crate = "datafusion-wasm"\n[final]\nmax_gzip = 4_400_000\n')
    with pytest.raises(ToolchainError, match="is the size budget of datafusion-wasm, not of hello-engine"):
        size.run(options(artifacts, package, budget=budget))
    mine = write_budget(ci, 'crate = "hello-engine"\n[final]\nmax_gzip = 600\n')
    assert size.run(options(artifacts, package, budget=mine)).judged


def test_update_baseline_writes_the_file_the_crates_budget_names_and_records_the_crate(layout):
    artifacts, package, ci = layout
    (package / "size-report.json").write_text(json.dumps(report(1_000, 500, 400)))
    budget = write_budget(ci, 'crate = "hello-engine"\n[growth]\nmax_percent = 1.0\nbaseline = "mine.json"\n')
    result = size.run(options(artifacts, package, budget=budget, update_baseline=True))
    assert result.ok and json.loads((ci / "mine.json").read_text())["crate"] == "hello-engine"
    assert any(n.startswith(f"baseline of hello-engine written to {ci / 'mine.json'}") for n in result.notes)


def test_the_engines_budget_and_baseline_say_whose_they_are():
    assert size.load_budget(REPO / "ci" / "size-budget.toml").crate == "datafusion-wasm"
    assert json.loads((REPO / "ci" / "size-baseline.json").read_text())["crate"] == "datafusion-wasm"
