"""Go for Go UDFs: `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` with `//go:wasmexport`
(Go 1.24 or newer) builds a reactor module. Go is not in Debian bookworm at that version; the
machines of this project have it in /usr/local/go (the official tarball) or on PATH."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolchain.core import cache, process
from toolchain.core.errors import MissingTool, WrongVersion

MIN_VERSION = (1, 24)  # go:wasmexport


@dataclass(frozen=True)
class Go:
    executable: Path
    version: str

    def env(self) -> dict[str, str]:
        """Build environment: the wasm target, caches outside the checkout, no network, no cgo."""
        return {
            "GOOS": "wasip1",
            "GOARCH": "wasm",
            "CGO_ENABLED": "0",
            "GOFLAGS": "-trimpath -buildvcs=false",
            "GOCACHE": str(cache.cache_root() / "go-build"),
            "GOPROXY": "off",
            "GOTOOLCHAIN": "local",
        }


def find() -> Go | None:
    for candidate in [shutil.which("go"), "/usr/local/go/bin/go"]:
        if candidate and Path(candidate).is_file():
            out = process.output([candidate, "version"]) or ""
            match = re.search(r"go(\d+)\.(\d+)(\.\d+)?", out)
            if match:
                return Go(Path(candidate), match.group(0)[2:])
    return None


def ensure() -> Go:
    found = find()
    if found is None:
        raise MissingTool(
            "no Go toolchain (go on PATH or /usr/local/go/bin/go)", "install Go 1.24 or newer from go.dev/dl"
        )
    major, minor = (int(x) for x in found.version.split(".")[:2])
    if (major, minor) < MIN_VERSION:
        raise WrongVersion(f"Go {found.version} has no //go:wasmexport", "install Go 1.24 or newer")
    return found
