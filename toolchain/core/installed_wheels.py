"""The toolchain wheels as installed in this Python environment: their names, and where an
installed wheel put its executable.

A leaf of the tools layer: wasm_bindgen and wasm_opt look their wheel up here. Building the wheels
(toolchain_wheels, with its SBOM and the cargo graph behind it) sits above the build pipeline, so
the tool modules must not import it: that import closed a cycle (build -> wasm_opt ->
toolchain_wheels -> sbom -> checks.gating -> build) that made `import toolchain.tools.wasm_opt` fail in a
fresh interpreter.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path

WASM_BINDGEN_WHEEL = "wasm-bindgen-cli"
WASM_OPT_WHEEL = "binaryen-wasm-opt"


@dataclass(frozen=True)
class InstalledWheel:
    name: str
    version: str
    executable: Path


def installed_executable(distribution: str, executable: str) -> InstalledWheel | None:
    """`executable` as installed by the wheel `distribution` in this Python environment.

    Found through the distribution's RECORD (importlib.metadata), not PATH: the environment
    that runs the toolchain is the one whose wheels count, whatever PATH says."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name == executable:
            path = Path(entry.locate()).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return InstalledWheel(distribution, dist.version, path)
    return None


def read_dist_info(distribution: str, filename: str) -> dict | None:
    try:
        text = importlib.metadata.distribution(distribution).read_text(filename)
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
