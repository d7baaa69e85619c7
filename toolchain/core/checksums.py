"""SHA256SUMS files, as `sha256sum` writes and checks them: releases and UDF bundles ship one."""

from __future__ import annotations

from pathlib import Path

from toolchain.core import cache


def sha256sums_text(directory: Path, names: list[str]) -> str:
    """`sha256sum` output for names in directory (binary mode marker, sorted): `sha256sum -c` verifies it."""
    return "".join(f"{cache.file_sha256(directory / name)} *{name}\n" for name in sorted(names))


def verify_sha256sums(sums_file: Path) -> list[str]:
    """What does not match (empty: every listed file is present with its checksum)."""
    problems = []
    lines = [line for line in sums_file.read_text().splitlines() if line.strip()]
    if not lines:
        return [f"{sums_file} lists no file"]
    for number, line in enumerate(lines, 1):
        digest, sep, name = line.partition(" ")
        name = name.lstrip("*").lstrip(" ")
        if not sep or len(digest) != 64 or not name:
            problems.append(f"{sums_file}:{number}: not a sha256sum line: {line!r}")
            continue
        path = sums_file.parent / name
        if not path.is_file():
            problems.append(f"{name}: listed in {sums_file.name} but missing")
        elif cache.file_sha256(path) != digest:
            problems.append(
                f"{name}: checksum mismatch (listed {digest[:16]}..., file {cache.file_sha256(path)[:16]}...)"
            )
    return problems
