"""Every error class ends `python -m toolchain` with its own, documented exit status."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import toolchain
from toolchain import cli
from toolchain.analysis.wasm_module import MalformedModule
from toolchain.core import errors
from toolchain.core.errors import CheckFailed, MissingTool, StageFailed, ToolchainError, WrongVersion

REPO = Path(__file__).resolve().parents[2]

# The table of docs/reference.md#exit-codes.
EXPECTED = {ToolchainError: 2, MissingTool: 3, WrongVersion: 4, StageFailed: 5, CheckFailed: 6, MalformedModule: 7}


def _every_error_class() -> set[type[ToolchainError]]:
    for module in pkgutil.walk_packages(toolchain.__path__, "toolchain."):
        if module.name != "toolchain.__main__" and not module.name.startswith("toolchain.release.templates"):
            importlib.import_module(module.name)
    found, todo = set(), [ToolchainError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += cls.__subclasses__()
    return {c for c in found if c.__module__.startswith("toolchain.")}


def _raising(monkeypatch, error: BaseException) -> None:
    """A `boom` command that raises `error`, as the only command."""

    def register(commands: argparse._SubParsersAction) -> None:
        p = commands.add_parser("boom")

        def func(args):
            raise error

        p.set_defaults(func=func)

    monkeypatch.setattr(cli, "COMMANDS", (SimpleNamespace(register=register),))


@pytest.mark.parametrize("cls, code", EXPECTED.items(), ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_error_class_exits_with_its_code(monkeypatch, capsys, cls, code):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    _raising(monkeypatch, cls("the tool broke", "do this"))
    assert cli.main(["boom"]) == code == cls.exit_code
    err = capsys.readouterr().err
    assert "error: the tool broke\n  what to do: do this" in err
    assert "Traceback" not in err


def test_classes_defining_a_code_have_distinct_ones_and_none_is_a_plain_status():
    classes = _every_error_class()
    assert set(EXPECTED) <= classes
    own = {cls: cls.__dict__["exit_code"] for cls in classes if "exit_code" in cls.__dict__}
    assert set(own) >= set(EXPECTED), "a class listed in the table lost its own exit_code"
    codes = list(own.values())
    assert len(codes) == len(set(codes)), f"two classes share an exit code: {own}"
    reserved = {errors.EXIT_OK, errors.EXIT_FINDING, errors.EXIT_INTERNAL, errors.EXIT_INTERRUPTED}
    assert not set(codes) & reserved
    assert all(0 < code < 126 for code in codes)  # 126+ mean "cannot execute" and signals to a shell
    # A class without its own code inherits its parent's: still one of the table's.
    assert all(cls.exit_code in EXPECTED.values() for cls in classes)


def test_interrupt_exits_130_and_a_bug_70_with_its_traceback(monkeypatch, capsys):
    _raising(monkeypatch, KeyboardInterrupt())
    assert cli.main(["boom"]) == 130
    assert "interrupted" in capsys.readouterr().err
    _raising(monkeypatch, ZeroDivisionError("oops"))
    assert cli.main(["boom"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err and "internal error" in err


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as exit_:
        cli.main(["no-such-command"])
    assert exit_.value.code == 2


def test_the_table_is_documented():
    reference = (REPO / "docs" / "reference.md").read_text()
    section = reference.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|", section, flags=re.MULTILINE))
    for cls, code in EXPECTED.items():
        assert f"`{cls.__name__}`" in rows.get(str(code), ""), f"{cls.__name__} ({code}) is not in the table"
    for code in (errors.EXIT_OK, errors.EXIT_FINDING, errors.EXIT_INTERNAL, errors.EXIT_INTERRUPTED):
        assert str(code) in rows


def test_the_module_runs_as_a_program_with_the_code(tmp_path):
    """`python -m toolchain` hands main()'s status to the shell: a refused cache root is a configuration error, 2."""
    import os
    import subprocess  # the test drives the CLI as a user would

    (tmp_path / "notes.txt").write_text("not a cache")
    env = {**os.environ, "WASM_TOOLCHAIN_CACHE": str(tmp_path)}
    env.pop("GITHUB_ACTIONS", None)
    result = subprocess.run(
        [sys.executable, "-m", "toolchain", "cache", "clean", "--all"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "error: refusing to clean" in result.stderr and "what to do" in result.stderr
    assert (tmp_path / "notes.txt").exists()
