"""git, read-only: the commit and paths a build record names. A missing git or a directory outside a
checkout is not an error here (None, or the path as given): builds also run from tarballs."""

from __future__ import annotations

from pathlib import Path

from toolchain.core import process


def git_output(directory: Path, *args: str) -> str | None:
    """git's stdout, stripped; None when git is absent, fails, or `directory` is not in a checkout."""
    return process.output(["git", *args], cwd=directory)


def git_commit(directory: Path) -> str | None:
    return git_output(directory, "rev-parse", "HEAD")


def checkout_relative(path: Path) -> str:
    """`path` relative to its git checkout (absolute when outside one): build records name no machine path."""
    top = git_output(path.parent, "rev-parse", "--show-toplevel")
    if top and path.resolve().is_relative_to(Path(top).resolve()):
        return str(path.resolve().relative_to(Path(top).resolve()))
    return str(path)
