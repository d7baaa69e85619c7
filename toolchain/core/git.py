"""git, read-only: the commit and paths a build record names. A missing git or a directory outside a
checkout is not an error here (None, or the path as given): builds also run from tarballs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_output(directory: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit(directory: Path) -> str | None:
    return git_output(directory, "rev-parse", "HEAD")


def checkout_relative(path: Path) -> str:
    """`path` relative to its git checkout (absolute when outside one): build records name no machine path."""
    top = git_output(path.parent, "rev-parse", "--show-toplevel")
    if top and path.resolve().is_relative_to(Path(top).resolve()):
        return str(path.resolve().relative_to(Path(top).resolve()))
    return str(path)
