"""Errors the toolchain reports to people: what happened, and what to do about it.

Each class carries the exit status `python -m toolchain` ends with when it is raised
(`exit_code`, documented in docs/reference.md#exit-codes), and a short `title` (the GitHub
annotation's title on CI). A subclass without its own `exit_code` exits as its parent.
"""

from __future__ import annotations

# Statuses that are not exceptions (the table of docs/reference.md#exit-codes).
EXIT_OK = 0
EXIT_FINDING = 1  # the command ran and its answer is "no": a check violation, a missing tool (doctor), ...
EXIT_INTERNAL = 70  # an unexpected exception, a bug: the traceback is printed (sysexits' EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as a shell reports it


class ToolchainError(Exception):
    """A failure with a remedy. The CLI prints both and exits with `exit_code`, without a traceback.

    Raised as such (not as a subclass): the input or the configuration is wrong (an option, a
    Cargo.toml, a policy file, an environment variable): exit 2, as argparse's usage errors."""

    exit_code = 2
    title = "usage or configuration error"

    def __init__(self, what: str, fix: str | None = None):
        super().__init__(what)
        self.what = what
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.what}\n  what to do: {self.fix}"
        return self.what


class MissingTool(ToolchainError):
    """A required program is not installed (or not where it was expected)."""

    exit_code = 3
    title = "missing tool"


class WrongVersion(ToolchainError):
    """A program is installed, but not at the version the build needs."""

    exit_code = 4
    title = "wrong tool version"


class StageFailed(ToolchainError):
    """A pipeline stage ran its tool and the tool failed."""

    exit_code = 5
    title = "stage failed"


class CheckFailed(ToolchainError):
    """A check found violations and the command that needed it to pass stopped (a release
    is not published). The `check` command itself reports violations with exit 1."""

    exit_code = 6
    title = "check failed"


def exit_code_of(error: BaseException) -> int:
    """The exit status for an exception that reached the command line."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, ToolchainError):
        return error.exit_code
    return EXIT_INTERNAL
