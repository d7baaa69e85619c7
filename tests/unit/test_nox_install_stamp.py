"""The noxfile's install stamp: a no-op session skips `pip install -e .` and the toolchain-wheel
step, and anything those depend on (pyproject, extras, WASM_TOOLCHAIN_WHEELS, the wheel pins, the
venv itself) installs again. Also: the sessions tell the toolchain where nox was invoked from.

The noxfile is loaded with a stand-in `nox` module (the test environment has no nox); the
functions under test use nothing of nox but the session object each test passes in.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _stub_nox() -> types.ModuleType:
    nox = types.ModuleType("nox")
    nox.options = types.SimpleNamespace()  # type: ignore[attr-defined]
    nox.session = lambda *args, **kwargs: args[0] if args and callable(args[0]) else (lambda f: f)  # type: ignore[attr-defined]
    nox.Session = object  # type: ignore[attr-defined]
    command = types.ModuleType("nox.command")
    command.CommandFailed = type("CommandFailed", (Exception,), {})  # type: ignore[attr-defined]
    nox.command = command  # type: ignore[attr-defined]
    return nox


@pytest.fixture(scope="module")
def noxfile():
    saved = {name: sys.modules.get(name) for name in ("nox", "nox.command")}
    stub = _stub_nox()
    sys.modules["nox"], sys.modules["nox.command"] = stub, stub.command
    try:
        spec = importlib.util.spec_from_file_location("noxfile_under_test", REPO / "noxfile.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@pytest.fixture
def checkout(tmp_path):
    """A checkout's install inputs: pyproject.toml and the two wheel recipes."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for recipe in sorted((REPO / "packaging").glob("*/pyproject.toml")):
        target = root / "packaging" / recipe.parent.name / "pyproject.toml"
        target.parent.mkdir(parents=True)
        shutil.copy(recipe, target)
    return root


def make_venv(path: Path) -> Path:
    """What the stamp looks at: bin/python and one site-packages with an editable install."""
    python = path / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    site = path / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "wasm_qe_toolchain-0.1.0.dist-info").mkdir()
    (site / "__editable__.wasm_qe_toolchain-0.1.0.pth").write_text("")
    (site / "pytest-8.0.0.dist-info").mkdir()
    return path


class FakeSession:
    """Records what the noxfile asks nox to do."""

    def __init__(self, venv: Path | None, invoked_from: str = "/somewhere"):
        self.virtualenv = types.SimpleNamespace(location=str(venv) if venv else None)
        self.invoked_from = invoked_from
        self.calls: list[tuple] = []
        self.posargs: list[str] = []

    def install(self, *args):
        self.calls.append(("install", *args))

    def run(self, *args, **kwargs):
        self.calls.append(("run", *args, kwargs))
        return "wasm-bindgen-cli==0.2.130\nbinaryen-wasm-opt==116+wasm.opt.sys.0.116.0\n"

    def log(self, message):
        self.calls.append(("log", message))


def installs(session: FakeSession) -> list[tuple]:
    return [c for c in session.calls if c[0] == "install" or (c[0] == "run" and "pip" in c)]


@pytest.fixture
def no_wheels_env(monkeypatch):
    monkeypatch.delenv("WASM_TOOLCHAIN_WHEELS", raising=False)


def test_a_second_install_with_nothing_changed_is_skipped(noxfile, tmp_path, monkeypatch, no_wheels_env):
    venv = make_venv(tmp_path / "venv")
    monkeypatch.setattr(noxfile, "HERE", REPO)
    first = FakeSession(venv)
    noxfile._install(first)
    assert ("install", "-e", ".") in first.calls and (venv / noxfile.STAMP_NAME).is_file()
    second = FakeSession(venv)
    noxfile._install(second)
    assert installs(second) == [] and any("install skipped" in c[1] for c in second.calls if c[0] == "log")


def test_the_key_changes_with_each_input(noxfile, checkout, monkeypatch, no_wheels_env):
    base = noxfile._install_key("", True, checkout)
    assert noxfile._install_key("", True, checkout) == base  # stable
    assert noxfile._install_key("[test]", True, checkout) != base
    assert noxfile._install_key("", False, checkout) != base
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", "index")
    assert noxfile._install_key("", True, checkout) != base
    # Without the wheel step the variable does not matter.
    assert noxfile._install_key("", False, checkout) == noxfile._install_key("", False, checkout)
    monkeypatch.delenv("WASM_TOOLCHAIN_WHEELS")
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# a new dependency\n")
    changed_pyproject = noxfile._install_key("", True, checkout)
    assert changed_pyproject != base
    # The wheel pins: `toolchain-wheels requirements` reads them from these recipes.
    recipe = checkout / "packaging" / "wasm-bindgen-cli" / "pyproject.toml"
    recipe.write_text(recipe.read_text().replace('version = "0.2.130"', 'version = "0.2.131"'))
    assert noxfile._install_key("", True, checkout) != changed_pyproject


def test_a_changed_pyproject_installs_again(noxfile, checkout, tmp_path, monkeypatch, no_wheels_env):
    venv = make_venv(tmp_path / "venv")
    monkeypatch.setattr(noxfile, "HERE", checkout)
    noxfile._install(FakeSession(venv))
    (checkout / "pyproject.toml").write_text((checkout / "pyproject.toml").read_text() + "\n")
    again = FakeSession(venv)
    noxfile._install(again)
    assert ("install", "-e", ".") in again.calls


def test_a_changed_wheel_source_installs_again(noxfile, tmp_path, monkeypatch, no_wheels_env):
    venv = make_venv(tmp_path / "venv")
    monkeypatch.setattr(noxfile, "HERE", REPO)
    noxfile._install(FakeSession(venv))
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(tmp_path / "wheels"))
    again = FakeSession(venv)
    noxfile._install(again)
    assert ("install", "--no-index", "--find-links", str(tmp_path / "wheels"), "wasm-bindgen-cli==0.2.130") == (
        again.calls[-1][:5]
    )


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda venv: shutil.rmtree(venv / "lib"), id="no-site-packages"),
        pytest.param(lambda venv: (venv / "bin" / "python").unlink(), id="no-python"),
        pytest.param(
            lambda venv: shutil.rmtree(next(venv.glob("lib/*/site-packages/pytest-*.dist-info"))),
            id="a-package-uninstalled",
        ),
        pytest.param(
            lambda venv: next(venv.glob("lib/*/site-packages")).joinpath("other-1.0.dist-info").mkdir(),
            id="a-package-installed-by-hand",
        ),
        pytest.param(lambda venv: (venv / ".wasm-qe-install-stamp.json").write_text("{"), id="unreadable-stamp"),
    ],
)
def test_a_damaged_or_changed_venv_installs_again(noxfile, tmp_path, monkeypatch, no_wheels_env, damage):
    venv = make_venv(tmp_path / "venv")
    monkeypatch.setattr(noxfile, "HERE", REPO)
    noxfile._install(FakeSession(venv))
    damage(venv)
    again = FakeSession(venv)
    noxfile._install(again)
    assert ("install", "-e", ".") in again.calls


def test_a_failed_install_leaves_no_stamp(noxfile, tmp_path, monkeypatch, no_wheels_env):
    venv = make_venv(tmp_path / "venv")
    monkeypatch.setattr(noxfile, "HERE", REPO)
    noxfile._install(FakeSession(venv))

    class Failing(FakeSession):
        def install(self, *args):
            raise RuntimeError("pip failed")

    # Another extra: not current, so the old stamp goes before pip runs.
    with pytest.raises(RuntimeError):
        noxfile._install(Failing(venv), "[test]")
    assert not (venv / noxfile.STAMP_NAME).exists()


def test_without_a_venv_location_it_always_installs(noxfile, monkeypatch, no_wheels_env):
    monkeypatch.setattr(noxfile, "HERE", REPO)
    session = FakeSession(None)
    noxfile._install(session)
    noxfile._install(session)
    assert session.calls.count(("install", "-e", ".")) == 2


def test_toolchain_runs_get_the_callers_directory(noxfile, tmp_path, monkeypatch, no_wheels_env):
    monkeypatch.setattr(noxfile, "HERE", REPO)
    session = FakeSession(make_venv(tmp_path / "venv"), invoked_from=str(tmp_path))
    session.posargs = ["--manifest-path", "Cargo.toml"]
    noxfile._toolchain(session, "build")
    run = session.calls[-1]
    assert run[1:-1] == ("python", "-m", "toolchain", "build", "--manifest-path", "Cargo.toml")
    assert run[-1]["env"] == {"WASM_QE_CALLER_DIR": str(tmp_path.resolve())}


def test_pytest_runs_do_not_get_a_callers_directory(noxfile):
    assert noxfile._NO_CALLER_DIR == {"WASM_QE_CALLER_DIR": None}
