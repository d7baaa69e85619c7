"""Every check on users' crates, as a user runs them: `check --manifest-path M` finds the crate's build
where its last build went, judges it by the crate's own policies (or reports without a verdict), and
nothing it does, `size --update-baseline` included, touches the engine's ci/ or crates/ files.

Builds the fixture crates (hello-engine; the user-workspace members greeter and counter) into temporary
artifacts directories: seconds each once the shared target directory is warm, about a minute cold."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from toolchain import checks
from toolchain.core.layout import Layout

pytestmark = pytest.mark.integration

HELLO = "tests/fixtures/hello-engine"  # relative, as typed in the checkout
WORKSPACE = "tests/fixtures/user-workspace"
MEMBERS = ("greeter", "counter")


def toolchain(*argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """As typed in the checkout's root: relative paths are the checkout's (not those of a nox caller's directory)."""
    env = {k: v for k, v in os.environ.items() if k != "WASM_QE_CALLER_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "toolchain", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def build(artifacts: Path, *crate: str) -> Path:
    built = toolchain("build", *crate, "--artifacts-dir", str(artifacts))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return artifacts


@pytest.fixture(scope="module")
def hello_build(tmp_path_factory) -> Path:
    """hello-engine built into a directory of its own: the checks must find it there without being told."""
    return build(tmp_path_factory.mktemp("hello-artifacts"), "--manifest-path", HELLO)


@pytest.fixture(scope="module")
def workspace_builds(tmp_path_factory) -> dict[str, Path]:
    return {
        member: build(tmp_path_factory.mktemp(f"{member}-artifacts"), "--manifest-path", WORKSPACE, "--package", member)
        for member in MEMBERS
    }


def verdicts(stdout: str) -> dict[str, str]:
    """check name -> the rest of its first line ("ok  [target]", "no verdict  [...]", "FAILED ...")."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("check ") and ":" in line:
            name, rest = line[len("check ") :].split(":", 1)
            found[name] = rest.strip()
    return found


def engine_files() -> dict[str, str]:
    """sha256 of every file under ci/ and crates/ (the engine's policies, budget, baseline and sources)."""
    hashes = {}
    for top in ("ci", "crates"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "target" not in path.relative_to(REPO).parts:
                hashes[str(path.relative_to(REPO))] = hashlib.sha256(path.read_bytes()).hexdigest()
    assert "ci/size-baseline.json" in hashes and "ci/size-budget.toml" in hashes
    return hashes


# ---------------------------------------------------------------- hello-engine: no policies of its own


def test_check_with_no_name_runs_every_check_on_the_crates_last_build(hello_build):
    result = toolchain("check", "--manifest-path", HELLO)
    assert result.returncode == 0, result.stdout + result.stderr
    found = verdicts(result.stdout)
    assert set(found) == set(checks.CHECK_MODULES), result.stdout
    assert found["gating"].startswith("ok") and found["tracing"].startswith("ok")
    # the modules of the build in the temporary directory, not artifacts/ (nor the default target/wasm-qe)
    assert (
        found["shims"].startswith("ok")
        and str(Layout(hello_build, "hello-engine", "hello_engine").stages_dir) in found["shims"]
    )
    # no budget: the sizes, no verdict, and how to add one
    assert found["size"] == f"no verdict  [{hello_build / 'hello-engine'}]", result.stdout
    assert "no size budget for hello-engine" in result.stdout and "size-budget" in result.stdout
    assert (hello_build / "reports" / "hello-engine" / "size-summary.md").is_file()
    # the toolchain's general gating policy, and nothing to check or waive
    assert "wasm-gating.toml" in result.stdout and "ci/wasm-gating.toml" not in result.stdout
    assert "nothing to check: hello-engine has no list of instrumentation crates" in result.stdout
    assert "waivers: none" in result.stdout


@pytest.mark.parametrize("name", checks.CHECK_MODULES)
@pytest.mark.parametrize("where", ["after", "before"])
def test_each_check_by_name_finds_the_build_with_the_crate_before_or_after_the_name(hello_build, name, where):
    argv = ["check", name, "--manifest-path", HELLO] if where == "after" else ["check", "--manifest-path", HELLO, name]
    result = toolchain(*argv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(verdicts(result.stdout)) == [name]
    if name in ("shims", "size"):
        assert str(hello_build) in verdicts(result.stdout)[name], result.stdout


def test_a_crate_without_a_build_there_says_which_and_how_to_build_it(hello_build, tmp_path):
    result = toolchain("check", "size", "--manifest-path", HELLO, "--artifacts-dir", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "hello-engine" in result.stderr and "no build record" in result.stderr
    assert f"python -m toolchain build --manifest-path {HELLO} --artifacts-dir {tmp_path}" in result.stderr


def test_no_check_on_a_user_crate_changes_the_engines_files(hello_build, tmp_path):
    before = engine_files()
    runs = [
        toolchain("check", "--manifest-path", HELLO),
        *(toolchain("check", name, "--manifest-path", HELLO) for name in checks.CHECK_MODULES),
        # no budget of its own: refused, and never the engine's baseline instead
        toolchain("check", "size", "--manifest-path", HELLO, "--update-baseline"),
        toolchain("check", "--manifest-path", HELLO, "size", "--update-baseline"),
        # the engine's budget given explicitly: refused (it is the engine's), with its baseline untouched
        toolchain("check", "size", "--manifest-path", HELLO, "--update-baseline", "--budget", "ci/size-budget.toml"),
        toolchain("check", "size", "--manifest-path", HELLO, "--budget", "ci/size-budget.toml"),
    ]
    assert [r.returncode for r in runs] == [0] * (1 + len(checks.CHECK_MODULES)) + [2, 2, 2, 2], [
        r.stdout + r.stderr for r in runs
    ]
    assert "hello-engine has no size budget, so no baseline to update" in runs[-4].stderr
    assert "size-budget" in runs[-4].stderr and "ci/size-baseline.json" not in runs[-4].stderr
    assert "is the size budget of datafusion-wasm, not of hello-engine" in runs[-2].stderr
    # A budget of its own (here given with --budget): the baseline it names, beside it, is written.
    budget = tmp_path / "size-budget.toml"
    budget.write_text(
        'crate = "hello-engine"\n[final]\nmax_gzip = 100_000\n[growth]\nmax_percent = 1.0\nbaseline = "b.json"\n'
    )
    updated = toolchain("check", "size", "--manifest-path", HELLO, "--update-baseline", "--budget", str(budget))
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert json.loads((tmp_path / "b.json").read_text())["crate"] == "hello-engine"
    judged = toolchain("check", "size", "--manifest-path", HELLO, "--budget", str(budget))
    assert judged.returncode == 0 and verdicts(judged.stdout)["size"].startswith("ok"), judged.stdout
    assert engine_files() == before


# ---------------------------------------------------------------- the workspace: per-crate budgets


@pytest.mark.parametrize("member", MEMBERS)
def test_every_check_passes_on_each_workspace_member_with_its_own_budget(workspace_builds, member):
    before = engine_files()
    crate = ["--manifest-path", WORKSPACE, "--package", member]
    result = toolchain("check", *crate)
    assert result.returncode == 0, result.stdout + result.stderr
    found = verdicts(result.stdout)
    assert {n: v.split()[0] for n, v in found.items()} == dict.fromkeys(checks.CHECK_MODULES, "ok"), result.stdout
    artifacts = workspace_builds[member]
    assert (
        str(Layout(artifacts, member, member).stages_dir) in found["shims"] and str(artifacts / member) in found["size"]
    )
    # judged by the member's own budget and baseline, beside its Cargo.toml
    own = REPO / WORKSPACE / member
    size = toolchain("check", "size", *crate, "--json", str(artifacts / "size.json"))
    assert size.returncode == 0, size.stdout + size.stderr
    data = json.loads((artifacts / "size.json").read_text())["data"]
    assert data["crate"] == member and data["budget"] == str(own / "size-budget.toml")
    assert data["baseline"] == str(own / "size-baseline.json") and data["baseline_final"] is not None
    assert data["limits"]["gzip"] >= data["final"]["gzip"]
    # the other member's budget is not this one's
    other = next(m for m in MEMBERS if m != member)
    refused = toolchain("check", "size", *crate, "--budget", str(REPO / WORKSPACE / other / "size-budget.toml"))
    assert refused.returncode == 2 and f"is the size budget of {other}, not of {member}" in refused.stderr
    assert engine_files() == before
