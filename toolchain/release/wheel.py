"""A deterministic py3-none-any wheel, written directly (PEP 427 / PEP 491).

A PEP 517 backend would add its own version, timestamps and file order; writing the zip
ourselves keeps every byte a function of the inputs: entries sorted by name, every timestamp
SOURCE_DATE_EPOCH, fixed permissions, deflate at a fixed level, RECORD (with hashes) last.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from toolchain.core.errors import ToolchainError

ZIP_EPOCH_MIN = 315532800  # 1980-01-01: the earliest time a zip entry can carry
FILE_MODE = 0o644


@dataclass(frozen=True)
class WheelMetadata:
    distribution: str  # "datafusion-wasm"
    version: str  # PEP 440
    summary: str
    license: str | None
    requires_python: str = ">=3.9"
    generator: str = "wasm-qe-toolchain"


def normalized_name(distribution: str) -> str:
    """The distribution's name as wheel file names spell it (PEP 427 / 503): datafusion-wasm -> datafusion_wasm."""
    return re.sub(r"[-_.]+", "_", distribution).lower()


_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-(alpha|beta|rc)\.?(\d+))?$")
_PRE = {"alpha": "a", "beta": "b", "rc": "rc"}


def pep440_version(semver: str) -> str:
    """The Cargo (semver) version as PEP 440: 1.2.3 -> 1.2.3, 1.2.3-rc.1 -> 1.2.3rc1."""
    match = _SEMVER.match(semver)
    if not match:
        raise ToolchainError(
            f"version {semver!r} has no PEP 440 equivalent for the Python wheel",
            "use MAJOR.MINOR.PATCH, optionally with -alpha.N, -beta.N or -rc.N, in the crate's Cargo.toml",
        )
    major, minor, patch, pre, number = match.groups()
    return f"{major}.{minor}.{patch}" + (f"{_PRE[pre]}{number}" if pre else "")


def wheel_name(meta: WheelMetadata) -> str:
    return f"{normalized_name(meta.distribution)}-{meta.version}-py3-none-any.whl"


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def metadata_text(meta: WheelMetadata, description: str = "") -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {meta.distribution}",
        f"Version: {meta.version}",
        f"Summary: {meta.summary}",
        f"Requires-Python: {meta.requires_python}",
    ]
    if meta.license:
        lines.append(f"License: {meta.license}")
    if description:
        lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n" + (f"\n{description}" if description else "")


def wheel_text(meta: WheelMetadata) -> str:
    return f"Wheel-Version: 1.0\nGenerator: {meta.generator}\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def write_wheel(
    out_dir: Path, meta: WheelMetadata, contents: dict[str, bytes], epoch: int, description: str = ""
) -> Path:
    """Writes the wheel of `contents` (archive path -> bytes, outside .dist-info) into out_dir."""
    dist_info = f"{normalized_name(meta.distribution)}-{meta.version}.dist-info"
    bad = [name for name in contents if name.startswith((dist_info, "/")) or ".." in name.split("/")]
    if bad:
        raise ToolchainError(f"wheel entries with reserved or unsafe paths: {bad}", "name package files relatively")
    entries = dict(sorted(contents.items()))
    entries[f"{dist_info}/METADATA"] = metadata_text(meta, description).encode()
    entries[f"{dist_info}/WHEEL"] = wheel_text(meta).encode()
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data in entries.items())
    entries[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()

    date_time = time.gmtime(max(epoch, ZIP_EPOCH_MIN))[:6]
    path = out_dir / wheel_name(meta)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time)
            info.external_attr = (0o100000 | FILE_MODE) << 16  # a regular file, rw-r--r--
            info.create_system = 3  # Unix, so the mode above is honoured, whatever system writes it
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return path
