"""The shims check on real modules: a tiny crate built by the real toolchain, with and without
an export that reaches std's unsupported clock (directly, or only through a function pointer)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toolchain.analysis import cargo_lock
from toolchain.checks import shims
from toolchain.pipeline import build as build_module
from toolchain.tools import rust

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "clock-engine" / "Cargo.toml"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clock_modules(tmp_path_factory) -> dict[str, Path]:
    """clock-engine built three ways; each output copied away (the next build overwrites it)."""
    toolchain = rust.find_toolchain()
    crate = cargo_lock.read_manifest(FIXTURE)
    out = tmp_path_factory.mktemp("clock-modules")
    modules = {}
    for variant, features in {"clean": [], "std-time": ["std-time"], "indirect-time": ["indirect-time"]}.items():
        wasm = build_module.cargo_build(toolchain, crate, "release", build_module.default_target_dir(crate), features)
        modules[variant] = shutil.copyfile(wasm, out / f"{variant}.wasm")
    return modules


def test_module_without_time_calls_passes(clock_modules):
    report = shims.analyse(clock_modules["clean"], [])
    assert report.ok, report.format()
    assert report.data["exports"] >= 1


def test_export_reaching_instant_now_fails_with_its_chain(clock_modules):
    report = shims.analyse(clock_modules["std-time"], [])
    assert not report.ok
    [violation] = report.violations
    assert violation.subject == "<std::time::Instant>::now"
    assert "by direct calls" in violation.problem and "time not implemented" in violation.problem
    assert violation.chain[0] == "export elapsed_nanos"
    assert violation.chain[-1] == "<std::time::Instant>::now"
    assert "web_time" in violation.fix


def test_reach_through_a_function_pointer_is_reported_as_conservative(clock_modules):
    report = shims.analyse(clock_modules["indirect-time"], [])
    [violation] = report.violations
    # With immediate-abort both clock stubs are the same bare trap, and the linker may keep one name.
    assert violation.subject in ("<std::time::SystemTime>::now", "<std::time::Instant>::now")
    assert "through an indirect call" in violation.problem
    assert violation.chain[0] == "export read_clock"
    assert any(step.startswith("[call_indirect") for step in violation.chain)


def test_waivers_remove_exactly_their_edges(clock_modules):
    failing = shims.analyse(clock_modules["std-time"], [])
    caller = failing.violations[0].chain[-2].removeprefix("export ")
    assert caller == "elapsed_nanos"
    # A waiver for another callee changes nothing.
    other = shims.Waiver(re.compile("^elapsed_nanos$"), re.compile(r"^<std::time::SystemTime>::now$"), "test", "test")
    assert [v.chain for v in shims.analyse(clock_modules["std-time"], [other]).violations] == [
        v.chain for v in failing.violations
    ]
    waiver = shims.Waiver(
        re.compile("^elapsed_nanos$"),
        re.compile(r"^<std::time::Instant>::(now|elapsed)$"),
        "test: this call is guarded",
        "test",
    )
    report = shims.analyse(clock_modules["std-time"], [waiver])
    assert report.ok, report.format()
    assert any(note.startswith("waived: elapsed_nanos -> <std::time::Instant>::") for note in report.notes)


def test_cli_exit_codes_and_message(clock_modules):
    def check(module: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "toolchain", "check", "shims", "--wasm", str(module), *extra],
            cwd=REPO,
            capture_output=True,
            text=True,
        )

    broken = check(clock_modules["std-time"])
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "check shims: FAILED" in broken.stdout and "export elapsed_nanos" in broken.stdout
    clean = check(clock_modules["clean"])
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # A waiver file named on the command line must exist: a typo must not silently mean "no waivers".
    missing = check(clock_modules["clean"], "--policy", "/nonexistent/waivers.toml")
    assert (
        missing.returncode == 2 and "/nonexistent/waivers.toml (from the command line) does not exist" in missing.stderr
    )


def test_stripped_module_is_refused_with_a_remedy(clock_modules, tmp_path):
    from toolchain.analysis import wasm_module

    module = wasm_module.parse(clock_modules["clean"])
    name_section = next(s for s in module.sections if s.id == 0 and s.name == "name")
    data = clock_modules["clean"].read_bytes()
    # Rename the custom section ("name" -> "nome"): same bytes, no names.
    start = data.index(b"\x04name", name_section.offset - 6)
    stripped = tmp_path / "stripped.wasm"
    stripped.write_bytes(data[:start] + b"\x04nome" + data[start + 5 :])
    with pytest.raises(Exception, match="no names section") as excinfo:
        shims.analyse(stripped, [])
    assert "artifacts/.stages" in str(excinfo.value)
