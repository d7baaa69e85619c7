"""`pip install .` (not editable) into a fresh venv, run from a directory outside the checkout: doctor,
build and every check on the engine work, with the policies and schema the package ships. A plain
install once left out toolchain.checks and every command failed; a test run from the repository root
imported the checkout's copy instead and could not see it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ENGINE_MANIFEST, REPO
from toolchain.core.layout import Layout

pytestmark = pytest.mark.integration


def run(argv: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(map(str, argv))} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("installed")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "venv", root / "venv"], check=True)
    python = root / "venv" / "bin" / "python"
    # A copy of the sources: setuptools writes build/ and *.egg-info beside them, and the checkout stays clean.
    source = root / "source"
    run(
        [
            sys.executable,
            "-c",
            "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2], ignore=shutil."
            "ignore_patterns('.git', '.nox', 'artifacts', 'target', '__pycache__', '*.egg-info', 'build', 'crates', 'tests'))",
            REPO,
            source,
        ],
        root,
        env,
    )
    run([python, "-m", "pip", "install", "-q", "--no-cache-dir", source], root, env)
    return python, env


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    python, env = installed
    where = run(
        [
            python,
            "-c",
            "import toolchain, toolchain.analysis.config as c, toolchain.analysis.schema as s; "
            "print(toolchain.__file__); print(c.PACKAGED_DEFAULTS['gating'].is_file(), s.SCHEMA_PATH.is_file())",
        ],
        tmp_path,
        env,
    )
    module_path, resources = where.stdout.splitlines()
    assert "site-packages" in module_path and str(REPO) not in module_path
    assert resources == "True True", "the default gating policy or the config schema is missing from the install"


def test_doctor_build_and_check_the_engine_from_outside_the_checkout(installed, tmp_path):
    python, env = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    artifacts = elsewhere / "artifacts"
    run([python, "-m", "toolchain", "doctor", "--manifest-path", ENGINE_MANIFEST], elsewhere, env)
    run(
        [python, "-m", "toolchain", "build", "--manifest-path", ENGINE_MANIFEST, "--artifacts-dir", artifacts],
        elsewhere,
        env,
    )
    assert (artifacts / "datafusion-wasm" / "datafusion_wasm_bg.wasm").is_file()
    assert Layout(artifacts, "datafusion-wasm", "datafusion_wasm").record_path.is_file()
    checked = run(
        [python, "-m", "toolchain", "check", "--manifest-path", ENGINE_MANIFEST, "--artifacts-dir", artifacts],
        elsewhere,
        env,
    )
    for name in ("gating", "tracing", "shims", "size"):
        assert f"check {name}: ok" in checked.stdout, checked.stdout
    # The engine's own policies came from its metadata; its gating policy extends the default that
    # ships in the installed package (the check above passed, so the installed default was found).
    resolved = run([python, "-m", "toolchain", "config", "--json", "--manifest-path", ENGINE_MANIFEST], elsewhere, env)
    assert resolved.stdout.split('"gating": ')[1].split(",")[0].strip() == f'"{REPO / "ci" / "wasm-gating.toml"}"'
    assert 'extends = "default"' in (REPO / "ci" / "wasm-gating.toml").read_text()
    assert str(REPO / "ci" / "size-budget.toml") in resolved.stdout
