"""The GitHub Actions workflow in ci/: it parses, calls only nox sessions that exist, pins the
same nox as the README, runs the stages in order, and keys its cache on Cargo.lock and the noxfile."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / "ci" / "github" / "workflows").glob("*.yml"))


def nox_sessions(noxfile: Path) -> set[str]:
    """Functions of the noxfile decorated with @nox.session (with or without arguments)."""
    sessions = set()
    for node in ast.parse(noxfile.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) == "nox.session":
                    sessions.add(node.name)
    return sessions


def run_lines(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def called_sessions(workflow: dict) -> list[str]:
    return [m for run in run_lines(workflow) for m in re.findall(r"nox\s+-s\s+([\w-]+)", run)]


def test_there_is_a_workflow():
    assert WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_calls_only_existing_sessions_in_order(path):
    workflow = yaml.safe_load(path.read_text())
    sessions = nox_sessions(REPO / "noxfile.py")
    called = called_sessions(workflow)
    assert called and set(called) <= sessions, f"unknown sessions: {set(called) - sessions}"
    assert called == ["doctor", "build", "check", "test", "release"]
    assert any("--install" in run for run in run_lines(workflow) if "-s doctor" in run)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_pins_the_readme_nox_and_caches_on_the_lock_files(path):
    text = path.read_text()
    workflow = yaml.safe_load(text)
    readme_pin = re.search(r"nox==([\d.]+)", (REPO / "README.md").read_text()).group(1)
    assert set(re.findall(r"nox==([\d.]+)", text)) == {readme_pin}
    caches = [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/cache@")
    ]
    assert len(caches) == 1
    assert "hashFiles('**/Cargo.lock', 'noxfile.py')" in caches[0]["with"]["key"]
    env = next(iter(workflow["jobs"].values())).get("env", {})
    assert env["WASM_TOOLCHAIN_CACHE"] in caches[0]["with"]["path"].split()


def test_the_session_finder_sees_a_missing_session(tmp_path):
    noxfile = tmp_path / "noxfile.py"
    noxfile.write_text(
        "import nox\n@nox.session\ndef build(s): pass\n@nox.session(python=False)\ndef test(s): pass\n"
        "def helper(s): pass\n"
    )
    assert nox_sessions(noxfile) == {"build", "test"}
    workflow = {"jobs": {"j": {"steps": [{"run": "python3 -m nox -s build"}, {"run": "nox -s relase"}]}}}
    assert set(called_sessions(workflow)) - nox_sessions(noxfile) == {"relase"}
