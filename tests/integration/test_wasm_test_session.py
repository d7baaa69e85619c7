"""`nox -s wasm_test`: the engine's #[wasm_bindgen_test] tests pass in headless Chromium.

Cold, `wasm-test` compiles DataFusion again for tests (15-20 min on 2 cores): marker
`wasm_test`, deselected from `nox -s test` until a test build is in the target directory
(tests/slow_builds.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.wasm_test]


def test_engine_wasm_bindgen_tests_pass_in_headless_chromium(built_engine):
    result = subprocess.run([sys.executable, "-m", "toolchain", "wasm-test"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "Running headless tests in Chrome" in result.stdout
    assert "test result: ok. 5 passed" in result.stdout, result.stdout[-3000:]
