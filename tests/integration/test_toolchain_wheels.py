"""The toolchain wheels build, install in a fresh venv from nothing but themselves (--no-index),
and the toolchain installed in that venv picks them up: `python -m toolchain doctor` names the
wheels as providers, at the versions the engine needs.

Cold, this builds binaryen's wasm-opt from C++ (see README, "Toolchain wheels", for the time);
afterwards the wheels come from the tool cache in seconds. So `nox -s test` deselects it unless
both wheels are cached (tests/slow_builds.py); `nox -s toolchain_wheels_test` runs it regardless.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ENGINE_MANIFEST, REPO
from toolchain.analysis import cargo_lock
from toolchain.core import cache
from toolchain.release import toolchain_wheels

pytestmark = [pytest.mark.integration, pytest.mark.toolchain_wheels]


def run(argv, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def locked_bindgen() -> str:
    return cargo_lock.single_locked_version(cargo_lock.find_lock_file(ENGINE_MANIFEST), "wasm-bindgen")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory, locked_bindgen) -> tuple[Path, list[toolchain_wheels.BuiltWheel]]:
    out = tmp_path_factory.mktemp("toolchain-wheels")
    built = toolchain_wheels.build(None, out, locked_wasm_bindgen=locked_bindgen)
    return out, built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheels) -> Path:
    """A fresh venv with the toolchain wheels (only from the wheel directory) and the toolchain."""
    out, built = wheels
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    run([sys.executable, "-m", "venv", env_dir])
    python = env_dir / "bin" / "python"
    # --no-index and no PIP_FIND_LINKS: the toolchain wheels can only come from `out`.
    no_links = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}
    run([python, "-m", "pip", "install", "--no-index", "--find-links", out, *(w.name for w in built)], env=no_links)
    run([python, "-m", "pip", "install", REPO])
    return env_dir


def test_wheels_are_published_with_a_manifest(wheels, locked_bindgen):
    out, built = wheels
    manifest = json.loads((out / toolchain_wheels.MANIFEST_NAME).read_text())
    assert {(m["name"], m["version"]) for m in manifest} == {
        ("wasm-bindgen-cli", locked_bindgen),
        ("binaryen-wasm-opt", "116+wasm.opt.sys.0.116.0"),
    }
    for entry in manifest:
        path = out / entry["file"]
        assert path.stat().st_size == entry["size"] > 0 and entry["cold_build_seconds"] > 0
    names = {w.name: zipfile.ZipFile(w.path).namelist() for w in built}
    assert any(n.endswith(".data/scripts/wasm-bindgen-test-runner") for n in names["wasm-bindgen-cli"])
    assert any(n.endswith(".data/scripts/wasm-opt") for n in names["binaryen-wasm-opt"])
    # Only wasm-opt: no other binaryen tool, no shared library.
    assert not [n for n in names["binaryen-wasm-opt"] if "wasm-" in Path(n).name and not n.endswith("/wasm-opt")]
    assert not [n for n in names["binaryen-wasm-opt"] if n.endswith(".so")]


def test_wheels_carry_no_build_date_or_machine_path(wheels):
    """What makes a rebuild elsewhere give the same bytes: fixed dates, no cache or build paths."""
    _, built = wheels
    machine_paths = [
        str(cache.cache_root()).encode(),
        str(toolchain_wheels.cargo_home()).encode(),
        b"toolchain-wheel-work",
    ]
    for wheel in built:
        with zipfile.ZipFile(wheel.path) as archive:
            for info in archive.infolist():
                assert info.date_time == (1980, 1, 1, 0, 0, 0), (
                    f"{wheel.path.name}: {info.filename} is dated {info.date_time}"
                )
                data = archive.read(info)
                found = [p.decode() for p in machine_paths if p in data]
                assert not found, f"{wheel.path.name}: {info.filename} names the build machine's {found}"
            sboms = [n for n in archive.namelist() if "/sboms/" in n]
            for name in sboms:
                assert "timestamp" not in json.loads(archive.read(name)).get("metadata", {})


def test_a_second_build_comes_from_the_cache(wheels, tmp_path, locked_bindgen):
    _, first = wheels
    again = toolchain_wheels.build(None, tmp_path / "again", locked_wasm_bindgen=locked_bindgen)
    assert all(w.cached for w in again)
    assert [w.sha256 for w in again] == [w.sha256 for w in first]


def test_doctor_in_the_fresh_venv_picks_up_the_wheels(venv, tmp_path, locked_bindgen):
    env = {
        **os.environ,
        "WASM_TOOLCHAIN_CACHE": str(tmp_path / "empty-cache"),
    }  # no cargo-installed CLI to fall back on
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(venv)))
    result = subprocess.run(
        [venv / "bin" / "python", "-m", "toolchain", "doctor", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.lstrip().startswith("["), result.stdout[-3000:] + result.stderr[-3000:]
    findings = {f["component"]: f for f in json.loads(result.stdout)}
    bindgen = findings["wasm-bindgen CLI"]
    assert bindgen["ok"], bindgen
    assert bindgen["version"] == locked_bindgen
    assert "[wheel (pip)]" in bindgen["source"] and str(venv.resolve()) in bindgen["source"]
    wheel_opt = next(f for name, f in findings.items() if name.startswith("wasm-opt [wheel]"))
    assert wheel_opt["ok"], wheel_opt
    assert wheel_opt["version"] == "binaryen 116"
    assert str(venv.resolve() / "bin" / "wasm-opt") in wheel_opt["source"]
    # The wheel is the default wasm-opt when it is installed (see wasm_opt.PREFERRED_WHEN_INSTALLED).
    assert "wasm-opt [wheel] (default)" in findings


def test_wheel_executables_run(venv, tmp_path, locked_bindgen):
    bin_dir = venv / "bin"
    assert run([bin_dir / "wasm-bindgen", "--version"]).stdout.strip() == f"wasm-bindgen {locked_bindgen}"
    assert locked_bindgen in run([bin_dir / "wasm-bindgen-test-runner", "--version"]).stdout
    wat = tmp_path / "add.wat"
    wat.write_text('(module (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))')
    run([bin_dir / "wasm-opt", wat, "-O2", "-o", tmp_path / "add.wasm"])
    assert (tmp_path / "add.wasm").read_bytes()[:4] == b"\0asm"
