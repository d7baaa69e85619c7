"""One subprocess runner: toolchain/core/process.py starts every child process, and does it well."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from toolchain.core import console, process
from toolchain.core.errors import StageFailed

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "toolchain"
RUNNER = "toolchain/core/process.py"

# Files that still start processes themselves, each with why. An entry leaves the list when its
# file is routed through toolchain.core.process (a stale entry fails the test below).
ALLOWED = {
    "toolchain/tools/webdriver.py": "only subprocess.DEVNULL for selenium's Service (process.DEVNULL is the same object)",
}

_OS_STARTERS = {"system", "popen", "fork", "forkpty"}
_OS_PREFIXES = ("spawn", "exec", "posix_spawn")


def direct_process_calls(source: str) -> list[str]:
    """What in `source` starts a process (or imports subprocess) without the runner: `line: what`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in ("subprocess", "pty")
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("subprocess", "pty"):
            found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [
                f"{node.lineno}: from os import {a.name}"
                for a in node.names
                if a.name in _OS_STARTERS or a.name.startswith(_OS_PREFIXES)
            ]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            name = node.func.attr
            if owner == "os" and (name in _OS_STARTERS or name.startswith(_OS_PREFIXES)):
                found.append(f"{node.lineno}: os.{name}()")
            elif owner == "asyncio" and name.startswith("create_subprocess"):
                found.append(f"{node.lineno}: asyncio.{name}()")
            elif owner == "subprocess":
                found.append(f"{node.lineno}: subprocess.{name}()")
    return sorted(set(found), key=lambda f: int(f.split(":")[0]))


def _offenders() -> dict[str, list[str]]:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative == RUNNER:
            continue
        calls = direct_process_calls(path.read_text())
        if calls:
            offenders[relative] = calls
    return offenders


def test_no_module_starts_a_process_but_the_runner():
    outside = {path: calls for path, calls in _offenders().items() if path not in ALLOWED}
    assert not outside, (
        "start processes through toolchain.core.process (run, output, stream, spawn), not "
        "directly:\n" + "\n".join(f"{p}: {', '.join(c)}" for p, c in outside.items())
    )


def test_the_allow_list_holds_only_files_that_still_need_it():
    stale = sorted(set(ALLOWED) - set(_offenders()))
    assert not stale, f"these files no longer start processes themselves: remove them from ALLOWED: {stale}"


@pytest.mark.parametrize(
    "source",
    [
        "import subprocess\nsubprocess.run(['ls'])\n",
        "import subprocess as sp\n",
        "from subprocess import run\nrun(['ls'])\n",
        "import os\nos.system('ls')\n",
        "import os\nos.execvp('ls', ['ls'])\n",
        "from os import posix_spawn\n",
        "import asyncio\nasyncio.create_subprocess_exec('ls')\n",
    ],
)
def test_the_scan_finds_each_way_to_start_a_process(source):
    assert direct_process_calls(source)


def test_the_scan_leaves_the_runner_and_look_alikes_alone():
    assert (
        direct_process_calls(
            "from toolchain.core import process\nprocess.run(['ls'], what='x')\n"
            "import os\nos.path.join('a')\nos.environ.get('X')\n"
        )
        == []
    )


# ---------------------------------------------------------------- the runner itself

PY = sys.executable


def test_run_shows_the_command_and_raises_stage_failed_with_the_tail(capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    with pytest.raises(StageFailed) as error:
        process.run(
            [PY, "-c", "import sys; print('line 1'); sys.exit('it broke')"],
            capture=True,
            what="the demo stage",
            fix="fix the demo",
        )
    message = str(error.value)
    assert "the demo stage:" in message and "exited with status 1" in message and "it broke" in message
    assert error.value.fix == "fix the demo"
    assert f"$ {PY} -c" in capsys.readouterr().err


def test_run_check_false_returns_the_result_and_passes_input_env_cwd(tmp_path, monkeypatch):
    monkeypatch.setenv("DROPPED", "yes")
    script = (
        "import os, sys; print(sys.stdin.read().upper(), os.getcwd(), os.environ.get('ADDED'), "
        "os.environ.get('DROPPED')); sys.exit(3)"
    )
    result = process.run(
        [PY, "-c", script],
        capture=True,
        check=False,
        show=False,
        input="abc",
        cwd=tmp_path,
        env={"ADDED": "1"},
        unset=["DROPPED"],
    )
    assert result.returncode == 3
    assert result.stdout.split() == ["ABC", str(tmp_path), "1", "None"]


def test_run_log_gets_both_streams(tmp_path):
    log = tmp_path / "log"
    with log.open("w") as handle:
        process.run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"], log=handle, show=False)
    assert sorted(log.read_text().split()) == ["err", "out"]


def test_run_cannot_start_or_times_out_as_stage_failed(tmp_path):
    with pytest.raises(StageFailed, match="cannot run"):
        process.run([tmp_path / "missing-tool"], what="x", show=False)
    with pytest.raises(StageFailed, match="cannot run"):
        process.run([tmp_path / "missing-tool"], check=False, show=False)
    with pytest.raises(StageFailed, match=r"did not finish in 0\.5 s"):
        process.run([PY, "-c", "import time; time.sleep(30)"], timeout=0.5, show=False)


def test_output_answers_or_is_none(tmp_path):
    assert process.output([PY, "-c", "print(' 1.2.3 ')"]) == "1.2.3"
    assert process.output([PY, "-c", "print('a')"], strip=False) == "a\n"
    assert process.output([PY, "-c", "import sys; print(sys.stdin.read())"], input="fed") == "fed"
    assert process.output([PY, "-c", "import os; print(os.getcwd())"], cwd=tmp_path) == str(tmp_path)
    assert process.output([PY, "-c", "raise SystemExit(1)"]) is None
    assert process.output([tmp_path / "absent"]) is None
    assert process.output([PY, "-c", "import time; time.sleep(30)"], timeout=0.5) is None


def test_stream_echoes_and_keeps_the_tail(capsys):
    result = process.stream([PY, "-c", "import sys\nfor i in range(10): print(i)\nsys.exit(4)"], keep=3, show=False)
    assert result.returncode == 4 and result.stdout == "7\n8\n9\n"
    assert capsys.readouterr().out == "".join(f"{i}\n" for i in range(10))
    with pytest.raises(StageFailed, match="exited with status 4"):
        process.stream([PY, "-c", "raise SystemExit(4)"], check=True, show=False)


def test_stream_quietly_merges_stderr_into_the_lines_and_shows_progress(capsys, monkeypatch):
    shown = []
    monkeypatch.setattr(console, "progress", shown.append)
    seen = []
    result = process.stream(
        [PY, "-c", "import sys; print('out', flush=True); print('err', file=sys.stderr)"],
        echo=False,
        merge_stderr=True,
        on_line=seen.append,
        show=False,
    )
    assert result.returncode == 0 and sorted(seen) == ["err\n", "out\n"]
    assert capsys.readouterr().out == ""
    assert len(shown) == 2 and all(s.startswith(Path(PY).name) for s in shown)


def test_spawn_gives_a_child_to_drive():
    child = process.spawn([PY, "-c", "import sys; sys.stdout.write(sys.stdin.read()[::-1])"], stdin=True, stdout=True)
    out, _ = child.communicate(b"abc")
    assert out == b"cba" and child.returncode == 0 and isinstance(child, process.Popen)
