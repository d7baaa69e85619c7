"""Progress output: each stage says what it runs and how long it took; errors and warnings stand out.

Everything goes to stderr (stdout is left to reports and --json). The output knows where it runs
(`mode()`, read from the environment at each call):

- `github` (GITHUB_ACTIONS=true): each outermost stage is a collapsible log group
  (`::group::` / `::endgroup::`; a failed stage's group is closed before its FAILED line, so the
  failure stays visible); errors and warnings are annotations (`::error title=...::message`,
  `::warning::message`), which GitHub also lists on the run's summary page.
- `ci` (CI set to anything but false/0/no, another CI service): plain lines, no colours, no
  redrawn progress line; progress is a plain line at most every PROGRESS_INTERVAL seconds.
- `terminal` (stderr is a TTY): colours (unless NO_COLOR is set or TERM=dumb) and a progress line
  redrawn in place.
- `plain` (a pipe or a file): as `ci`.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

GITHUB = "github"
CI = "ci"
TERMINAL = "terminal"
PLAIN = "plain"

PROGRESS_INTERVAL = 60.0  # seconds between two progress lines where a line cannot be redrawn

_START = time.monotonic()
_stage_depth = 0  # GitHub's log groups do not nest: only the outermost stage is a group
_progress_shown = False  # a redrawn progress line is on the terminal (erased before the next line)
_last_progress_line = 0.0


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "0", "false", "no", "off")


def mode() -> str:
    """Where the output goes: GITHUB, CI, TERMINAL or PLAIN (see the module's docstring)."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return GITHUB
    if _truthy(os.environ.get("CI")):
        return CI
    try:
        if sys.stderr.isatty():
            return TERMINAL
    except (AttributeError, ValueError):  # a replaced or closed stderr
        pass
    return PLAIN


def colours() -> bool:
    return mode() == TERMINAL and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def _style(text: str, *styles: str) -> str:
    if not colours():
        return text
    return f"\x1b[{';'.join(_STYLES[s] for s in styles)}m{text}\x1b[0m"


# ---------------------------------------------------------------- GitHub workflow commands


def escape_data(text: str) -> str:
    """A workflow command's message, as GitHub's toolkit escapes it (% first, then CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (title=...): the message's escapes, and : and ,"""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str = "", **properties: str | None) -> str:
    """`::name key=value,...::message`, escaped."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items() if value)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


# ---------------------------------------------------------------- lines


def _stamp() -> str:
    return f"[{time.monotonic() - _START:7.1f}s]"


def _emit(line: str) -> None:
    global _progress_shown
    if _progress_shown:
        line = "\r\x1b[K" + line  # erase the progress line first
        _progress_shown = False
    print(line, file=sys.stderr, flush=True)


def info(message: str) -> None:
    _emit(f"{_style(_stamp(), 'dim')} {message}")


def warn(message: str, title: str | None = None) -> None:
    if mode() == GITHUB:
        _emit(workflow_command("warning", message, title=title))
    else:
        _emit(f"{_style(_stamp(), 'dim')} {_style('warning:', 'yellow', 'bold')} {message}")


def error(message: str, title: str | None = None) -> None:
    """An error the command ends with (the CLI's `error: ...`); on GitHub an error annotation."""
    if mode() == GITHUB:
        _emit(workflow_command("error", message, title=title))
    else:
        _emit(f"{_style('error:', 'red', 'bold')} {message}")


def command(argv: Sequence[object]) -> None:
    info(_style("$ " + shlex.join(str(a) for a in argv), "dim"))


def progress(message: str) -> None:
    """A transient status (the last line of a quiet child, say): redrawn in place on a terminal;
    elsewhere a plain line at most every PROGRESS_INTERVAL seconds, so a long quiet step still
    shows it is alive without flooding the log."""
    global _progress_shown, _last_progress_line
    if mode() == TERMINAL:
        width = 120
        with suppress(OSError, ValueError, AttributeError):
            width = os.get_terminal_size(sys.stderr.fileno()).columns
        line = f"{_stamp()} {message}".replace("\r", " ").replace("\n", " ")
        sys.stderr.write("\r\x1b[K" + _style(line[: max(width - 1, 10)], "dim"))
        sys.stderr.flush()
        _progress_shown = True
        return
    now = time.monotonic()
    if now - _last_progress_line >= PROGRESS_INTERVAL:
        _last_progress_line = now
        info(message)


def end_progress() -> None:
    """Erases a redrawn progress line (nothing elsewhere)."""
    global _progress_shown
    if _progress_shown:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
        _progress_shown = False


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Prints the start and the end (with elapsed seconds) of one pipeline stage; on GitHub the
    outermost stage's output is a log group."""
    global _stage_depth
    group = mode() == GITHUB and _stage_depth == 0
    if group:
        _emit(workflow_command("group", name))
    info(_style(f"==> {name}", "bold"))
    started = time.monotonic()
    _stage_depth += 1
    try:
        yield
    except BaseException:
        _stage_depth -= 1
        if group:
            _emit("::endgroup::")  # the FAILED line and the error after it stay outside the fold
        info(_style(f"<== {name} FAILED after {time.monotonic() - started:.1f}s", "red", "bold"))
        raise
    _stage_depth -= 1
    info(_style(f"<== {name} done in {time.monotonic() - started:.1f}s", "green"))
    if group:
        _emit("::endgroup::")
