"""The instrumentation crates' own Rust tests, natively (macros, filtering, dispatch, blocks, sinks)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import REPO
from toolchain.core import cache
from toolchain.tools import rust

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "crate, features", [("tracing", []), ("tracing", ["--no-default-features"]), ("telemetry-sink", [])]
)
def test_cargo_test_passes_natively(crate, features):
    toolchain = rust.find_toolchain()
    env = {**os.environ, "CARGO_TARGET_DIR": str(cache.cache_root() / "cargo-target" / f"native-{crate}")}
    result = subprocess.run(
        [
            str(toolchain.cargo),
            "test",
            "--locked",
            *features,
            "--manifest-path",
            str(REPO / "crates" / crate / "Cargo.toml"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    passed = sum(int(n) for n in re.findall(r"test result: ok\. (\d+) passed", result.stdout))
    assert passed >= 5, result.stdout  # the suites ran, not just compiled
