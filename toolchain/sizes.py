"""Raw, gzip and brotli sizes of each pipeline stage, and the size report.

gzip at level 9 and brotli at quality 11 (what a web server's static precompression uses), so the
numbers are what a browser downloads. Measurements are cached by content hash: brotli 11 on a
20 MB module takes tens of seconds.
"""

from __future__ import annotations

import gzip
from dataclasses import asdict, dataclass
from pathlib import Path

import brotli

from toolchain import cache

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


def measure_file(path: Path, memo_path: Path | None = None) -> Sizes:
    """Sizes of a file, remembered in memo_path (a JSON map from sha256 to sizes)."""
    digest = cache.file_sha256(path)
    memo = (cache.read_json(memo_path) or {}) if memo_path else {}
    if digest in memo:
        return Sizes(**memo[digest])
    sizes = measure_bytes(path.read_bytes())
    if memo_path:
        memo[digest] = asdict(sizes)
        cache.write_json_atomic(memo_path, memo)
    return sizes


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
        rows.append((stage["name"], human(stage["raw"]), human(stage["gzip"]), human(stage["brotli"]),
                     _change(previous, stage["raw"])))
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
