"""The console in each place it runs: GitHub Actions, another CI, a terminal, a pipe."""

from __future__ import annotations

import pytest

from toolchain import cli
from toolchain.core import console
from toolchain.core.errors import MissingTool

ANSI = "\x1b["


@pytest.fixture
def where(monkeypatch):
    """where(mode): the environment (and stderr's TTY-ness) of that mode."""

    def set_mode(mode: str, tty: bool = False) -> None:
        for name in ("GITHUB_ACTIONS", "CI", "NO_COLOR", "TERM"):
            monkeypatch.delenv(name, raising=False)
        if mode == console.GITHUB:
            monkeypatch.setenv("GITHUB_ACTIONS", "true")
            monkeypatch.setenv("CI", "true")
        elif mode == console.CI:
            monkeypatch.setenv("CI", "true")
        monkeypatch.setattr(console.sys.stderr, "isatty", lambda: tty, raising=False)
        assert console.mode() == mode

    monkeypatch.setattr(console, "_stage_depth", 0)
    monkeypatch.setattr(console, "_progress_shown", False)
    return set_mode


def test_modes_are_read_from_the_environment(where, monkeypatch):
    where(console.GITHUB)
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    assert console.mode() == console.CI  # CI=true is still set
    for falsy in ("false", "0", "no", ""):
        monkeypatch.setenv("CI", falsy)
        assert console.mode() == console.PLAIN
    monkeypatch.setattr(console.sys.stderr, "isatty", lambda: True, raising=False)
    assert console.mode() == console.TERMINAL


def test_github_stage_is_a_log_group(where, capsys):
    where(console.GITHUB)
    with console.stage("cargo build"):
        console.info("compiling")
        with console.stage("nested"):  # GitHub's groups do not nest: a plain line inside
            pass
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "::group::cargo build"
    assert lines[-1] == "::endgroup::"
    assert sum(line.startswith("::group::") for line in lines) == 1
    assert sum(line == "::endgroup::" for line in lines) == 1
    assert any(line.endswith("==> nested") for line in lines)
    assert ANSI not in "\n".join(lines)


def test_github_failed_stage_closes_its_group_before_the_failure(where, capsys):
    where(console.GITHUB)
    with pytest.raises(RuntimeError), console.stage("wasm-opt"):
        raise RuntimeError("boom")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "::group::wasm-opt"
    end = lines.index("::endgroup::")
    assert "FAILED" in lines[end + 1]
    with console.stage("next"):  # the depth was restored: the next stage is a group again
        pass
    assert capsys.readouterr().err.startswith("::group::next\n")


def test_github_errors_and_warnings_are_annotations_escaped(where, capsys):
    where(console.GITHUB)
    console.error("100% broken\r\nline two", title="toolchain build: missing tool, again")
    console.warn("careful: 50%")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "::error title=toolchain build%3A missing tool%2C again::100%25 broken%0D%0Aline two"
    assert err[1] == "::warning::careful: 50%25"


def test_github_cli_error_is_an_annotation_with_the_class_title(where, capsys, monkeypatch):
    where(console.GITHUB)
    import argparse
    from types import SimpleNamespace

    def register(commands: argparse._SubParsersAction) -> None:
        def fail(args):
            raise MissingTool("no wasm-opt", "apt-get install binaryen")

        commands.add_parser("build").set_defaults(func=fail)

    monkeypatch.setattr(cli, "COMMANDS", (SimpleNamespace(register=register),))
    assert cli.main(["build"]) == MissingTool.exit_code
    err = capsys.readouterr().err
    assert (
        err == "::error title=toolchain build%3A missing tool::no wasm-opt%0A  what to do: apt-get install binaryen\n"
    )


@pytest.mark.parametrize("mode", [console.CI, console.PLAIN])
def test_ci_and_pipes_get_plain_lines(where, capsys, monkeypatch, mode):
    where(mode)
    with console.stage("cargo build"):
        console.command(["cargo", "build", "--release"])
        console.progress("Compiling arrow v59")
        console.progress("Compiling datafusion v55")  # within PROGRESS_INTERVAL: not printed
    console.warn("slow")
    console.error("bad")
    err = capsys.readouterr().err
    assert ANSI not in err and "\r" not in err and "::" not in err
    lines = err.splitlines()
    assert lines[0].endswith("==> cargo build") and lines[1].endswith("$ cargo build --release")
    assert sum("Compiling" in line for line in lines) <= 1
    assert "warning: slow" in lines[-2] and lines[-1] == "error: bad"


def test_ci_progress_is_a_line_per_interval(where, capsys, monkeypatch):
    where(console.CI)
    now = [1000.0]
    monkeypatch.setattr(console.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(console, "_last_progress_line", 0.0)
    for n, at in enumerate([1000.0, 1010.0, 1000.0 + console.PROGRESS_INTERVAL + 1]):
        now[0] = at
        console.progress(f"step {n}")
    err = capsys.readouterr().err
    assert "step 0" in err and "step 1" not in err and "step 2" in err


def test_terminal_has_colours_and_redraws_progress(where, capsys, monkeypatch):
    where(console.TERMINAL, tty=True)
    console.warn("slow")
    console.progress("Compiling arrow")
    console.progress("Compiling datafusion")
    console.info("done")
    err = capsys.readouterr().err
    assert ANSI + "33;1mwarning:" in err
    assert err.count("\r\x1b[K") == 3  # two redraws, and the erase before the next line
    assert "\n" not in err.split("Compiling arrow")[1].split("done")[0]  # progress never adds a line
    monkeypatch.setenv("NO_COLOR", "1")
    console.warn("slow")
    assert ANSI not in capsys.readouterr().err
