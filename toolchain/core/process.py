"""Running external tools: the one place the toolchain starts a child process.

Every command goes through here (tests/unit/test_one_subprocess_runner.py fails on a direct
`subprocess` call elsewhere), so that each is shown the same way, a tool that cannot start or
exits non-zero becomes a StageFailed with what to do, and a timeout is an error, not a traceback.

- run(): a tool whose output streams to the log (or is captured, or goes to a log file);
  raises StageFailed on failure, or returns the CompletedProcess with check=False.
- output(): the stdout of a quick query (a --version, a --print), None when it cannot be had.
- stream(): a tool whose stdout is read line by line while it runs: echoed (CI logs want it
  live) or shown as a progress line, and kept for the caller.
- spawn(): a Popen the caller controls (background children it may kill).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from toolchain.core import console
from toolchain.core.errors import StageFailed

# For callers that hold children or results without importing subprocess themselves.
Popen = subprocess.Popen
CompletedProcess = subprocess.CompletedProcess
PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL

TAIL_LINES = 25  # lines of a failed tool's captured output quoted in the error


# What run() returns; callers annotate with it instead of importing subprocess.
Completed = subprocess.CompletedProcess


def child_env(env: Mapping[str, str] | None = None, unset: Sequence[str] = ()) -> dict[str, str] | None:
    """The child's environment: ours, with `env` over it and `unset` removed (None: ours as is)."""
    if not env and not unset:
        return None
    full = {**os.environ, **(env or {})}
    for name in unset:
        full.pop(name, None)
    return full


def _name(argv: Sequence[str]) -> str:
    return Path(argv[0]).name if argv else "?"


def _tail(text: str | None, lines: int = TAIL_LINES) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _cannot_start(what: str, argv: Sequence[str], exc: OSError, fix: str | None) -> StageFailed:
    return StageFailed(f"{what}: cannot run {argv[0]} ({exc})", fix)


def run(
    argv: Sequence[object],
    *,
    what: str | None = None,
    fix: str | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    unset: Sequence[str] = (),
    capture: bool | Literal["stdout"] = False,
    input: str | None = None,
    timeout: float | None = None,
    check: bool = True,
    log: IO[str] | None = None,
    show: bool | Sequence[object] = True,
) -> subprocess.CompletedProcess[str]:
    """Runs a tool to its end.

    capture: True captures stdout and stderr, "stdout" only stdout (stderr streams on); False
    lets both stream to the terminal or log. log: an open text file that gets both streams.
    env: variables set over ours; unset: variables removed. show: print the command line (True),
    not (False), or print this argv instead (a long script argument elided, say).
    check: a non-zero exit raises StageFailed (with the tail of what was captured); with
    check=False the CompletedProcess is returned whatever the status. A tool that cannot start
    or outlives `timeout` raises StageFailed either way."""
    args = [str(a) for a in argv]
    what = what or f"`{_name(args)}`"
    if show:
        console.command(args if show is True else show)
    stdout: int | IO[str] | None
    stderr: int | IO[str] | None
    if log is not None:
        stdout, stderr = log, subprocess.STDOUT
    elif capture is True:
        stdout, stderr = subprocess.PIPE, subprocess.PIPE
    elif capture == "stdout":
        stdout, stderr = subprocess.PIPE, None
    else:
        stdout = stderr = None
    console.end_progress()
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=child_env(env, unset),
            text=True,
            input=input,
            stdout=stdout,
            stderr=stderr,
            timeout=timeout,
            check=False,
        )
    except OSError as exc:
        raise _cannot_start(what, args, exc, fix) from exc
    except subprocess.TimeoutExpired as exc:
        raise StageFailed(f"{what}: {_name(args)} did not finish in {timeout:g} s (stopped)", fix) from exc
    if check and result.returncode != 0:
        tail = _tail(result.stderr) or _tail(result.stdout) if capture else ""
        raise StageFailed(
            f"{what}: {_name(args)} exited with status {result.returncode}" + (f"\n{tail}" if tail else ""), fix
        )
    return result


def output(
    argv: Sequence[object],
    env: Mapping[str, str] | None = None,
    *,
    cwd: Path | str | None = None,
    input: str | None = None,
    timeout: float = 60,
    strip: bool = True,
) -> str | None:
    """stdout of a quick query (a --version, a --print), or None when the tool is absent, fails
    or outlives the timeout. Not shown: it is a question, not a step."""
    try:
        result = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            env=child_env(env),
            input=input,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() if strip else result.stdout


@dataclass
class Streamed:
    """What stream() saw: the exit status and stdout (all of it, or the last `keep` lines)."""

    argv: list[str]
    returncode: int
    stdout: str


def stream(
    argv: Sequence[object],
    *,
    what: str | None = None,
    fix: str | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    unset: Sequence[str] = (),
    echo: bool = True,
    merge_stderr: bool = False,
    keep: int | None = None,
    on_line: Callable[[str], object] | None = None,
    check: bool = False,
    show: bool | Sequence[object] = True,
) -> Streamed:
    """Runs a tool, reading its stdout line by line as it comes (stderr goes straight to ours,
    or into the same lines with merge_stderr).

    echo: each line is printed to stdout at once; otherwise the latest line is a progress line
    (console.progress: redrawn on a terminal, a periodic line on CI). keep: how many of the last
    lines to return (None: all). on_line: called with each line. check: a non-zero exit raises
    StageFailed with the kept tail; by default the caller reads the status."""
    args = [str(a) for a in argv]
    what = what or f"`{_name(args)}`"
    if show:
        console.command(args if show is True else show)
    console.end_progress()
    try:
        child = subprocess.Popen(
            args,
            cwd=cwd,
            env=child_env(env, unset),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else None,
        )
    except OSError as exc:
        raise _cannot_start(what, args, exc, fix) from exc
    lines: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if echo:
                print(line, end="", flush=True)
            else:
                console.progress(f"{_name(args)}: {line.strip()}")
            if on_line is not None:
                on_line(line)
            lines.append(line)
            if keep is not None and len(lines) > keep:
                del lines[0]
        child.wait()
    except BaseException:  # Ctrl-C or a failing callback: the child does not outlive us
        child.kill()
        child.wait()
        raise
    finally:
        console.end_progress()
        if child.stdout is not None:
            child.stdout.close()
    result = Streamed(args, child.returncode, "".join(lines))
    if check and result.returncode != 0:
        tail = _tail(result.stdout)
        raise StageFailed(
            f"{what}: {_name(args)} exited with status {result.returncode}" + (f"\n{tail}" if tail else ""), fix
        )
    return result


def spawn(
    argv: Sequence[object],
    *,
    stdin: bool = False,
    stdout: bool = False,
    stderr: bool = False,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """A child the caller drives (communicate, kill), with bytes pipes where asked. Not shown:
    for background helpers (size measurements), not steps of the build."""

    def pipe(wanted: bool) -> int | None:
        return subprocess.PIPE if wanted else None

    return subprocess.Popen(
        [str(a) for a in argv], cwd=cwd, env=child_env(env), stdin=pipe(stdin), stdout=pipe(stdout), stderr=pipe(stderr)
    )
