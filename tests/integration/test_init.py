"""`init` as a new user meets it: scaffold, build, every check, and the scaffold's own browser tests in
Chromium and Firefox, each step the command a user types (subprocesses), timed for docs/users.md."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _run(argv: list[str], cwd) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    return result, time.monotonic() - start


def test_a_scaffolded_crate_builds_passes_every_check_and_its_browser_tests(tmp_path):
    crate = tmp_path / "first-crate"
    toolchain = [sys.executable, "-m", "toolchain"]
    steps = {}
    for name, argv, cwd in [
        ("init", [*toolchain, "init", str(crate)], REPO),
        ("build", [*toolchain, "build", "--manifest-path", str(crate)], REPO),
        ("check", [*toolchain, "check", "--manifest-path", str(crate)], REPO),
        (
            "pytest",
            [
                sys.executable,
                "-m",
                "pytest",
                "tests",
                "--browser",
                "all",
                "-p",
                "no:cacheprovider",
                "-q",
                "--wasm-package",
                str(crate / "target" / "wasm-qe" / "first-crate"),
            ],
            crate,
        ),
    ]:
        result, seconds = _run(argv, cwd)
        steps[name] = seconds
        assert result.returncode == 0, (
            f"{name} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        if name == "pytest":
            assert "6 passed" in result.stdout, result.stdout[-2000:]  # 3 tests x 2 browsers
    # Nothing landed in the toolchain's own tree.
    assert not (REPO / "artifacts" / "first-crate").exists()
    print(
        "init -> tested: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())
        + f"; total {sum(steps.values()):.1f} s"
    )
