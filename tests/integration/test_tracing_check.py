"""The tracing check on the instrumentation crates, and on copies broken the ways that matter:
a native-only dependency pulled into wasm32, an unreviewed dependency, code that only builds natively."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from toolchain.analysis import config
from toolchain.checks import gating, tracing
from toolchain.tools import rust

pytestmark = pytest.mark.integration

TRACING = REPO / "crates" / "tracing"


def args(**overrides) -> argparse.Namespace:
    values = {
        "manifest_path": None,
        "crate": None,
        "list": REPO / "ci" / "wasm-tracing.toml",
        "policy": gating.DEFAULT_POLICY,
        "no_build": False,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


def options(**overrides) -> tracing.Options:
    """The typed options the check runs with, made from command-line-like arguments (the crate: the engine)."""
    engine = config.BuildOptions(manifest_path=REPO / "crates" / "datafusion-wasm" / "Cargo.toml")
    return tracing.options_from_args(args(**overrides), lambda: config.resolve(engine, previous=True))


@pytest.fixture
def tracing_copy(tmp_path) -> Path:
    copy = tmp_path / "tracing"
    shutil.copytree(TRACING, copy, ignore=shutil.ignore_patterns("target"))
    return copy


def add_dependency(crate: Path, line: str) -> None:
    manifest = crate / "Cargo.toml"
    text = manifest.read_text()
    if "\n[dependencies]\n" in text:
        text = text.replace("\n[dependencies]\n", f"\n[dependencies]\n{line}\n")
    else:
        text = text.replace("\n[features]", f"\n[dependencies]\n{line}\n\n[features]", 1)
    manifest.write_text(text)


def relock(crate: Path) -> None:
    """Adds the new edge to the copy's Cargo.lock (libc is already in it, so no download)."""
    toolchain = rust.find_toolchain()
    subprocess.run(
        [str(toolchain.cargo), "update", "--workspace", "--offline", "--manifest-path", str(crate / "Cargo.toml")],
        check=True,
        capture_output=True,
    )


def list_file(tmp_path: Path, crate: Path, allowed: list[str]) -> Path:
    path = tmp_path / "ci" / "wasm-tracing.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'[[crate]]\nmanifest = "{crate / "Cargo.toml"}"\nwasm32-allowed = {allowed!r}\n'.replace("'", '"'))
    return path


def test_the_instrumentation_crates_pass_and_build_for_both_targets():
    report = tracing.run(options())
    assert report.ok, report.format()
    assert any("qe-tracing: built natively and for wasm32" in n for n in report.notes)
    assert any("qe-telemetry-sink: built natively and for wasm32" in n for n in report.notes)


def test_a_native_only_dependency_made_unconditional_fails(tracing_copy):
    add_dependency(tracing_copy, 'parking_lot = "0.12"')  # already locked: --locked still resolves
    report = tracing.run(options(crate=[tracing_copy / "Cargo.toml"], no_build=True))
    [violation] = [v for v in report.violations if v.subject.startswith("parking_lot ")]
    assert "declared native-only in qe-tracing" in violation.problem
    assert violation.chain[0].startswith("qe-tracing") and violation.chain[-1].startswith("parking_lot")


def test_a_dependency_outside_the_reviewed_set_fails(tracing_copy, tmp_path):
    allowed = [
        "qe-tracing",
        "wasm-bindgen",
        "wasm-bindgen-shared",
        "js-sys",
        "cfg-if",
        "unicode-ident",
        "futures-util",
        "futures-core",
        "futures-task",
        "pin-project-lite",
        "slab",
    ]
    passing = tracing.run(options(list=list_file(tmp_path, tracing_copy, allowed), no_build=True))
    assert passing.ok, passing.format()
    add_dependency(tracing_copy, 'libc = "0.2"')
    relock(tracing_copy)
    report = tracing.run(options(list=list_file(tmp_path, tracing_copy, allowed), no_build=True))
    [violation] = report.violations
    assert violation.subject.startswith("libc ") and "not among the reviewed wasm32 dependencies" in violation.problem
    assert "wasm32-allowed" in violation.fix or "libc" in violation.fix


def test_code_that_only_builds_natively_fails_the_wasm32_build(tracing_copy):
    lib = tracing_copy / "src" / "lib.rs"
    lib.write_text(
        lib.read_text() + "\n/// A Unix-only path: no std::os::unix on wasm32.\npub use std::os::unix::ffi::OsStrExt;\n"
    )
    report = tracing.run(options(crate=[tracing_copy / "Cargo.toml"]))
    [violation] = report.violations
    assert violation.subject == "qe-tracing" and "does not build for wasm32-unknown-unknown" in violation.problem
    assert any("unix" in line for line in violation.chain)
