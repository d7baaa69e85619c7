"""Progress output: each stage says what it runs and how long it took.

Lines are plain text (no cursor tricks) so they read the same in a terminal and in a CI log.
"""

from __future__ import annotations

import shlex
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

_START = time.monotonic()


def _stamp() -> str:
    return f"[{time.monotonic() - _START:7.1f}s]"


def info(message: str) -> None:
    print(f"{_stamp()} {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"{_stamp()} warning: {message}", file=sys.stderr, flush=True)


def command(argv: Sequence[object]) -> None:
    info("$ " + shlex.join(str(a) for a in argv))


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Prints the start and the end (with elapsed seconds) of one pipeline stage."""
    info(f"==> {name}")
    started = time.monotonic()
    try:
        yield
    except BaseException:
        info(f"<== {name} FAILED after {time.monotonic() - started:.1f}s")
        raise
    info(f"<== {name} done in {time.monotonic() - started:.1f}s")
