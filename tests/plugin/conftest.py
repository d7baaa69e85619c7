"""The plugin's own tests: hello-engine built once, for the runs that load it in a browser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "tests" / "fixtures" / "hello-engine"


@pytest.fixture(scope="session")
def hello_package(tmp_path_factory) -> Path:
    """hello-engine built by `python -m toolchain build` (the release profile, wasm-opt, names stripped)."""
    artifacts = tmp_path_factory.mktemp("hello-artifacts")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolchain",
            "build",
            "--manifest-path",
            str(HELLO / "Cargo.toml"),
            "--artifacts-dir",
            str(artifacts),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert built.returncode == 0, f"building hello-engine failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    return artifacts / "hello-engine"
