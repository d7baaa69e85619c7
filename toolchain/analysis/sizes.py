"""Raw, gzip and brotli sizes of each pipeline stage, and the size report.

gzip at level 9 and brotli at quality 11 (what a web server's static precompression uses), so the
numbers are what a browser downloads. Brotli 11 runs at about 0.5 MB/s, so measurements are
cached by content hash and run in the background while the pipeline's later stages go on: each
in a child process (`measure_command()`, the bytes on stdin), so that a failed build
kills them and exits at once. A compression call cannot be interrupted inside a thread, and
Python waits for its threads before exiting (a failed build used to linger about 85 s).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import brotli

from toolchain.core import cache, process
from toolchain.core.errors import StageFailed

GZIP_LEVEL = 9
BROTLI_QUALITY = 11


@dataclass(frozen=True)
class Sizes:
    raw: int
    gzip: int
    brotli: int


def measure_bytes(data: bytes) -> Sizes:
    # mtime=0 so the gzip size does not depend on the clock (the header is fixed-size anyway).
    return Sizes(
        raw=len(data),
        gzip=len(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)),
        brotli=len(brotli.compress(data, quality=BROTLI_QUALITY)),
    )


def measure_command() -> list[str]:
    """The child process that measures the bytes on its stdin and prints the Sizes as JSON."""
    # The toolchain's own directory is appended (not prepended): the installed package wins.
    root = str(Path(__file__).resolve().parents[2])
    return [
        sys.executable,
        "-c",
        f"import sys; sys.path.append({root!r}); from toolchain.analysis.sizes import _measure_stdin; _measure_stdin()",
    ]


def _measure_stdin() -> None:
    json.dump(asdict(measure_bytes(sys.stdin.buffer.read())), sys.stdout)


class SizeMeasurer:
    """Measures stage outputs in the background; `results()` waits and returns them in order,
    `abandon()` kills what runs and returns at once."""

    def __init__(self, memo_path: Path | None):
        self._memo_path = memo_path
        self._memo: dict = (cache.read_json(memo_path) or {}) if memo_path else {}
        # Threads only wait for the child processes that do the work.
        self._pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="sizes")
        self._pending: list[tuple[str, str, Future]] = []
        self._lock = threading.Lock()
        self._children: set[process.Popen] = set()
        self._abandoned = False

    def submit(self, stage: str, path: Path) -> None:
        digest = cache.file_sha256(path)
        if digest in self._memo:
            future: Future = Future()
            future.set_result(Sizes(**self._memo[digest]))
        else:
            # Read now: a later stage may rewrite the file; the bytes measured are the stage's.
            future = self._pool.submit(self._measure, path.read_bytes())
        self._pending.append((stage, digest, future))

    def _measure(self, data: bytes) -> Sizes:
        with self._lock:
            if self._abandoned:
                raise CancelledError()
            child = process.spawn(measure_command(), stdin=True, stdout=True, stderr=True)
            self._children.add(child)
        try:
            out, err = child.communicate(data)
        finally:
            with self._lock:
                self._children.discard(child)
        if self._abandoned:
            raise CancelledError()
        if child.returncode != 0:
            raise StageFailed(
                f"measuring the compressed sizes failed (exit {child.returncode}): "
                f"{err.decode(errors='replace').strip()[-2000:]}",
                "check that the brotli package is installed in the toolchain's environment",
            )
        return Sizes(**json.loads(out))

    def abandon(self) -> None:
        """Kills the measurements under way and drops the rest (the build failed; nobody will read them)."""
        with self._lock:
            self._abandoned = True
            for child in self._children:
                child.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def results(self) -> list[tuple[str, Sizes]]:
        measured = []
        try:
            for stage, digest, future in self._pending:
                sizes = future.result()
                self._memo[digest] = asdict(sizes)
                measured.append((stage, sizes))
        except BaseException:  # Ctrl-C while waiting, or a failed measurement: stop the others too
            self.abandon()
            raise
        self._pool.shutdown()
        if self._memo_path:
            cache.write_json_atomic(self._memo_path, self._memo)
        return measured


def build_report(stages: list[tuple[str, Sizes]]) -> dict:
    """size-report.json: one entry per stage, and the last stage as `final`."""
    if not stages:
        raise ValueError("a size report needs at least one stage")
    return {
        "compression": {"gzip_level": GZIP_LEVEL, "brotli_quality": BROTLI_QUALITY},
        "stages": [{"name": name, **asdict(sizes)} for name, sizes in stages],
        "final": asdict(stages[-1][1]),
    }


def human(n: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def _change(previous: int | None, current: int) -> str:
    if not previous:
        return ""
    return f"{(current - previous) / previous * 100:+.1f}%"


def format_table(report: dict) -> str:
    """A plain-text table of the report: sizes per stage and the change from the previous stage."""
    header = ("stage", "raw", "gzip", "brotli", "raw vs prev")
    rows = []
    previous = None
    for stage in report["stages"]:
        rows.append(
            (
                stage["name"],
                human(stage["raw"]),
                human(stage["gzip"]),
                human(stage["brotli"]),
                _change(previous, stage["raw"]),
            )
        )
        previous = stage["raw"]
    final = report["final"]
    rows.append(("final", human(final["raw"]), human(final["gzip"]), human(final["brotli"]), ""))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for index, row in enumerate([header, *rows]):
        cells = [str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0 or index == len(rows) - 1:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
