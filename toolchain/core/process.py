"""Running external tools with their command line shown and their failures explained."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from toolchain.core import console
from toolchain.core.errors import StageFailed


def run(
    argv: Sequence[object],
    *,
    what: str,
    fix: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Runs a tool, streaming its output (or capturing it), and raises StageFailed on failure."""
    argv = [str(a) for a in argv]
    console.command(argv)
    full_env = {**os.environ, **env} if env else None
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=full_env,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
        )
    except FileNotFoundError as exc:
        raise StageFailed(f"{what}: cannot run {argv[0]} ({exc})", fix) from exc
    if result.returncode != 0:
        tail = ""
        if capture:
            tail = "\n" + "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-25:])
        raise StageFailed(f"{what}: {Path(argv[0]).name} exited with status {result.returncode}{tail}", fix)
    return result


def output(argv: Sequence[object], env: Mapping[str, str] | None = None) -> str | None:
    """stdout of a quick query (a --version, a --print), or None when the tool is absent or fails."""
    try:
        result = subprocess.run(
            [str(a) for a in argv],
            env={**os.environ, **env} if env else None,
            text=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip()
