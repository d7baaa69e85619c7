"""clang and wasm-ld for C UDFs: Debian's clang-22 + lld-22 target wasm32 directly (no WASI libc,
no emscripten): a freestanding module with only the imports the code declares."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolchain.core import process, system
from toolchain.core.errors import MissingTool

VERSIONS = (22, 21, 20, 19, 18)  # newest first; wasm32 and wasm-ld are in every one of these


@dataclass(frozen=True)
class Clang:
    executable: Path
    version: str


def find() -> Clang | None:
    for name in [*(f"clang-{v}" for v in VERSIONS), "clang"]:
        path = shutil.which(name)
        if not path:
            continue
        out = process.output([path, "--version"]) or ""
        match = re.search(r"clang version (\S+)", out)
        # wasm-ld is found by clang beside itself (Debian: /usr/bin/wasm-ld-NN via lld-NN).
        targets = process.output([path, "-print-targets"]) or ""
        if match and "wasm32" in targets:
            return Clang(Path(path), match.group(1))
    return None


def ensure(install_missing: bool = True) -> Clang:
    found = find()
    if found:
        return found
    if install_missing:
        system.ensure_packages(system.C_UDF_PACKAGES, "compiling C UDFs for wasm32")
        found = find()
        if found:
            return found
    raise MissingTool(
        "no clang that targets wasm32 (with wasm-ld) is installed",
        "apt-get install clang-22 lld-22 (Debian bookworm-backports / apt.llvm.org), or put a clang with the "
        "WebAssembly backend on PATH",
    )
