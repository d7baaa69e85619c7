"""Errors the toolchain reports to people: what happened, and what to do about it."""

from __future__ import annotations


class ToolchainError(Exception):
    """A failure with a remedy. The CLI prints both and exits non-zero, without a traceback."""

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


class WrongVersion(ToolchainError):
    """A program is installed, but not at the version the build needs."""


class StageFailed(ToolchainError):
    """A pipeline stage ran its tool and the tool failed."""
