"""The wazero conformance host (udf/go/wazero-host, issue 15): a Go program on wazero v1.12.0 that
implements the host side of the UDF ABI, built once into the tool cache and run on JSON Lines.

Built with `go build` (tools/go.py's Go, for this machine, not wasip1) into
`tools/wazero-host-<hash of its sources and the Go version>/wazero-host`, atomically and with an
install record. Go's caches stay under the cache root: the build cache is the Go UDFs' (`go-build`),
the module cache `go-mod` holds wazero. Unlike a UDF build, this one needs the Go module proxy
(GOPROXY, default https://proxy.golang.org, without `direct`: only the proxy answers here); the
checksum database is off (GOSUMDB=off) because the committed go.sum pins every module's hash and
`-mod=readonly` refuses any module not in it, so sum.golang.org, which may not answer, adds nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolchain.core import cache, process
from toolchain.core.errors import MissingTool, StageFailed, WrongVersion
from toolchain.tools import go as go_tool

SOURCE_DIR = Path(__file__).resolve().parents[2] / "udf" / "go" / "wazero-host"
SOURCE_PATTERNS = ("go.mod", "go.sum", "*.go")
EXECUTABLE = "wazero-host"
WAZERO_VERSION = "v1.12.0"  # go.mod's; the README and the bench report say it too
MIN_GO = (1, 25)  # wazero v1.12.0's go.mod
MODES = ("compiler", "interpreter")
DEFAULT_PROXY = "https://proxy.golang.org"
RUN_TIMEOUT = 1800.0


@dataclass(frozen=True)
class WazeroHost:
    executable: Path
    source_hash: str


def _sources() -> list[Path]:
    if not SOURCE_DIR.is_dir():
        raise MissingTool(
            f"the wazero host's sources are not here ({SOURCE_DIR})",
            "run from a checkout of the project (udf/go/wazero-host is not part of the installed package)",
        )
    return sorted({p for pattern in SOURCE_PATTERNS for p in SOURCE_DIR.glob(pattern) if p.is_file()})


def source_hash(go_version: str) -> str:
    """The key of a build: the sources (names and bytes) and the Go version that compiles them."""
    digest = hashlib.sha256(f"go{go_version}\n".encode())
    for path in _sources():
        digest.update(f"{path.name}\n{path.stat().st_size}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def install_dir(key: str) -> Path:
    return cache.tools_dir() / f"wazero-host-{key}"


def build_env() -> dict[str, str]:
    """A native build (not wasip1) whose caches are under the cache root, through the module proxy."""
    return {
        "CGO_ENABLED": "0",
        "GOFLAGS": "-trimpath -buildvcs=false -mod=readonly -modcacherw",
        "GOCACHE": str(cache.cache_root() / "go-build"),
        "GOMODCACHE": str(cache.cache_root() / "go-mod"),
        "GOPROXY": os.environ.get("GOPROXY") or DEFAULT_PROXY,
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
    }


def find(go: go_tool.Go | None = None) -> WazeroHost | None:
    """The cached build for the current sources, or None (absent, or damaged since it was built)."""
    go = go or go_tool.find()
    if go is None:
        return None
    key = source_hash(go.version)
    root = install_dir(key)
    executable = root / EXECUTABLE
    if not executable.is_file() or cache.install_problem(root):
        return None
    return WazeroHost(executable, key)


def build(go: go_tool.Go) -> WazeroHost:
    key = source_hash(go.version)
    final = install_dir(key)

    def populate(root: Path) -> None:
        started = time.monotonic()
        process.run(
            [go.executable, "build", "-o", root / EXECUTABLE, "."],
            what=f"building the wazero host (wazero {WAZERO_VERSION}, Go {go.version})",
            fix="wazero comes from the Go module proxy: check that it is reachable (GOPROXY), or that "
            f"{cache.cache_root() / 'go-mod'} already holds it",
            cwd=SOURCE_DIR,
            env=build_env(),
            unset=("GOOS", "GOARCH", "GOARM", "GOAMD64"),
            capture=True,
        )
        cache.write_json_atomic(
            root / "build.json",
            {
                "source_hash": key,
                "go": go.version,
                "wazero": WAZERO_VERSION,
                "seconds": round(time.monotonic() - started, 2),
            },
        )

    cache.install_once(final, populate, lambda: find(go) is not None, f"the wazero host ({WAZERO_VERSION})")
    found = find(go)
    if found is None:
        raise StageFailed(f"built the wazero host into {final} but it is not there", f"delete {final} and retry")
    return found


def ensure() -> WazeroHost:
    go = go_tool.ensure()
    if tuple(int(x) for x in go.version.split(".")[:2]) < MIN_GO:
        raise WrongVersion(
            f"the wazero host needs Go {'.'.join(map(str, MIN_GO))} or newer (wazero {WAZERO_VERSION}); found {go.version}",
            "install a newer Go from go.dev/dl (GOTOOLCHAIN=local: Go does not download one itself)",
        )
    return find(go) or build(go)


# ---------------------------------------------------------------- requests and results


def _micros(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _plain(value: Any) -> Any:
    """An argument or column value in the host's JSON (README: floats, bytes, timestamps)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return _micros(value)
    return value


def _field(value: Any) -> Any:
    """A document field in the host's JSON: tagged objects for what JSON has no type for."""
    if isinstance(value, dict):
        return {key: _field(inner) for key, inner in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$f64": _plain(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": _plain(value)}
    if isinstance(value, dt.datetime):
        return {"$timestamp": _micros(value)}
    if isinstance(value, (list, tuple)):
        return [_field(inner) for inner in value]
    return value


def encode_request(request: dict) -> str:
    """One request line: Python values (bytes, datetimes, non-finite floats) as the host reads them."""
    encoded = dict(request)
    if "args" in encoded:
        encoded["args"] = [_plain(v) for v in encoded["args"]]
    if "columns" in encoded:
        encoded["columns"] = [[_plain(v) for v in column] for column in encoded["columns"]]
    if "document" in encoded:
        encoded["document"] = _field(encoded["document"])
    return json.dumps(encoded, allow_nan=False, ensure_ascii=False)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise StageFailed(f"the wazero host's mode is {' or '.join(MODES)}, not {mode!r}")


def _invoke(host: WazeroHost, argv: Sequence[object], requests: list[dict], what: str) -> str:
    result = process.run(
        [host.executable, *argv, "--requests", "-"],
        what=what,
        fix="the wazero host could not load the module: is it a UDF module (`nox -s udf -- validate MODULE`)?",
        input="".join(encode_request(r) + "\n" for r in requests),
        capture=True,
        timeout=RUN_TIMEOUT,
        show=False,
    )
    return result.stdout


def run(module: Path, requests: list[dict], mode: str = "compiler") -> list[dict]:
    """Each request's result (README: value, error, values and errors, or failure), in order."""
    _check_mode(mode)
    host = ensure()
    stdout = _invoke(host, ["--module", module, "--mode", mode], requests, f"wazero host ({mode}) on {module.name}")
    results = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    if len(results) != len(requests):
        raise StageFailed(f"the wazero host answered {len(results)} of {len(requests)} requests on {module.name}")
    return results


def bench(
    module: Path,
    requests: list[dict],
    mode: str = "compiler",
    rows: Sequence[int] = (1024, 65536),
    rounds: int = 5,
    round_ms: float = 100.0,
) -> dict:
    """Compile and instantiate times and each request's per-call (per-row for batches) cost."""
    _check_mode(mode)
    host = ensure()
    argv = [
        "--bench",
        "--module",
        module,
        "--mode",
        mode,
        "--rows",
        ",".join(str(n) for n in rows),
        "--rounds",
        rounds,
        "--round-ms",
        round_ms,
    ]
    report: dict = json.loads(_invoke(host, argv, requests, f"wazero host bench ({mode}) on {module.name}"))
    return report
