"""The demo page (demo/, TypeScript): built by Vite against the engine's npm package, as a user
of the package builds an app, then pre-compressed for the demo server.

1. The engine package (artifacts/datafusion-wasm/, what `build` wrote) is packed with `npm pack`
   and the tarball installed with npm: the page consumes exactly what a user installs.
2. Vite, TypeScript and apache-arrow come from demo/package-lock.json, installed by `npm ci` into
   the tool cache (toolchain/tools/npm.py), never into the checkout; offline once cached.
3. `tsc --noEmit` type-checks the page against the package's .d.ts files, `vite build` bundles it
   (the engine in lazy chunks, the .wasm as an asset, the worker as its own bundle).
4. Every text file and the module get a `.gz` (gzip -9) and a `.br` (brotli) sibling, which the
   demo server sends by Accept-Encoding. Compressed bytes are cached by content: brotli at
   quality 11 takes about 40 s over the 20 MB module on one core, paid once per engine build.

The build is skipped when nothing it reads changed (the page's sources, the lock file, the
engine package's files, the brotli quality): the output directory records what it was built from.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.core import cache, console, process
from toolchain.core.errors import MissingTool, StageFailed, ToolchainError
from toolchain.tools import npm

DEFAULT_DEMO_DIR = Path("demo")  # from a checkout's root, like config.DEFAULT_MANIFEST
DEFAULT_OUT_DIR = Path("artifacts") / "demo"
RECORD = ".demo-build.json"
RECORD_VERSION = 1  # bump when the build's steps change: every page is built again
BROTLI_QUALITY = 11  # what a web server's static precompression uses (as the size report)
GZIP_LEVEL = 9
COMPRESSED_SUFFIXES = {".html", ".js", ".mjs", ".css", ".wasm", ".json", ".svg", ".map", ".txt"}
MIN_COMPRESS_BYTES = 256  # below this a compressed copy saves nothing worth a file
# The page's sources: what a build reads from demo/ (never node_modules or dist).
SOURCE_PATTERNS = ("package.json", "package-lock.json", "index.html", "tsconfig.json", "vite.config.ts", "src/**/*")


@dataclass
class PageBuild:
    """A built page: its directory, whether it was built now, how long each step took, its files."""

    out_dir: Path
    built: bool
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, dict[str, int]] = field(default_factory=dict)  # relative path -> raw, gzip, brotli sizes

    @property
    def wasm(self) -> tuple[str, dict[str, int]]:
        """The module's file (relative path) and sizes."""
        found = [(name, sizes) for name, sizes in self.files.items() if name.endswith(".wasm")]
        if len(found) != 1:
            raise StageFailed(
                f"the page build in {self.out_dir} has {len(found)} .wasm files, expected 1", "rebuild it"
            )
        return found[0]


def source_files(demo_dir: Path) -> list[Path]:
    files: set[Path] = set()
    for pattern in SOURCE_PATTERNS:
        files |= {p for p in demo_dir.glob(pattern) if p.is_file()}
    return sorted(files)


def build_key(demo_dir: Path, package_dir: Path, brotli_quality: int) -> str:
    """What the page is built from: the page's sources, the engine package's files, the settings."""
    digest = hashlib.sha256(json.dumps(["demo-page", RECORD_VERSION, brotli_quality, GZIP_LEVEL]).encode())
    for root, files in ((demo_dir, source_files(demo_dir)), (package_dir, sorted(package_files(package_dir)))):
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + cache.file_sha256(path).encode() + b"\0")
    return digest.hexdigest()


def package_files(package_dir: Path) -> list[Path]:
    """The files the engine's npm package ships (its package.json's "files", and itself)."""
    manifest = package_dir / "package.json"
    try:
        listed = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ToolchainError(
            f"{manifest}: not a built engine package ({exc})", "build the engine first: nox -s build"
        ) from exc
    paths = [package_dir / name for name in [*listed, "package.json"]]
    absent = [p.name for p in paths if not p.is_file()]
    if absent:
        raise ToolchainError(f"{package_dir} lacks {', '.join(absent)}", "build the engine again: nox -s build")
    return paths


def _node() -> str:
    node = shutil.which("node")
    if not node or not shutil.which("npm"):
        raise MissingTool("Node.js and npm build the demo page (Vite)", "install Node.js and npm (Debian: nodejs npm)")
    return node


def compress(data: bytes, coding: str, brotli_quality: int = BROTLI_QUALITY) -> bytes:
    """gzip -9 or brotli of `data`, from the content-addressed cache when it was compressed before."""
    import brotli

    level = GZIP_LEVEL if coding == "gzip" else brotli_quality
    key = hashlib.sha256(data).hexdigest()
    cached = cache.cache_root() / "demo-compressed" / f"{key}.{coding}{level}"
    if cached.is_file():
        return cached.read_bytes()
    out = (
        gzip.compress(data, compresslevel=level, mtime=0) if coding == "gzip" else brotli.compress(data, quality=level)
    )
    if len(data) > 1 << 20:  # only large files are worth the cache (the module): the rest take milliseconds
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp.write_bytes(out)
        os.replace(tmp, cached)
    return out


def precompress(dist: Path, brotli_quality: int = BROTLI_QUALITY) -> dict[str, dict[str, int]]:
    """Writes X.gz and X.br beside every compressible X in dist (when smaller); the sizes of each file."""
    sizes: dict[str, dict[str, int]] = {}
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        data = path.read_bytes()
        entry = {"raw": len(data)}
        if path.suffix in COMPRESSED_SUFFIXES and len(data) >= MIN_COMPRESS_BYTES:
            for coding, suffix in (("gzip", ".gz"), ("br", ".br")):
                out = compress(data, coding, brotli_quality)
                if len(out) < len(data):
                    path.with_name(path.name + suffix).write_bytes(out)
                    entry[coding] = len(out)
        sizes[path.relative_to(dist).as_posix()] = entry
    return sizes


def _pack_and_install(package_dir: Path, work: Path) -> Path:
    """`npm pack` of the engine package, then `npm install` of the tarball: the installed package."""
    npm_exe = shutil.which("npm")
    (work / "pack").mkdir()
    process.run(
        [npm_exe, "pack", "--ignore-scripts", "--silent", "--pack-destination", work / "pack", package_dir.resolve()],
        what="npm pack of the engine package",
        fix=f"check {package_dir}/package.json (nox -s build writes it)",
        capture=True,
    )
    tarballs = list((work / "pack").glob("*.tgz"))
    if len(tarballs) != 1:
        raise StageFailed(
            f"npm pack wrote {len(tarballs)} tarballs in {work / 'pack'}", "rerun; report a bug if it persists"
        )
    process.run(
        [npm_exe, "install", "--no-save", "--no-package-lock", "--ignore-scripts", "--no-audit", "--no-fund",
         "--prefix", work / "engine", tarballs[0]],
        what="npm install of the packed engine",
        fix="check the tarball with `npm pack --dry-run` in the package directory",
        capture=True,
    )  # fmt: skip
    installed = work / "engine" / "node_modules" / "datafusion-wasm"
    if not (installed / "package.json").is_file():
        raise StageFailed(f"npm install did not put the engine in {installed}", "check the tarball's package.json")
    return installed


def _publish(dist: Path, out_dir: Path) -> None:
    """Replaces out_dir with dist (a rename; the old one removed after)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-new-", dir=out_dir.parent))
    shutil.rmtree(staged)
    shutil.copytree(dist, staged)
    old = out_dir.with_name(f".{out_dir.name}-old-{os.getpid()}")
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(staged, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def read_record(out_dir: Path) -> dict | None:
    record = cache.read_json(out_dir / RECORD)
    return record if isinstance(record, dict) else None


def build_page(
    package_dir: Path,
    out_dir: Path = DEFAULT_OUT_DIR,
    demo_dir: Path = DEFAULT_DEMO_DIR,
    brotli_quality: int = BROTLI_QUALITY,
    force: bool = False,
) -> PageBuild:
    """The page in out_dir, built from demo_dir against the engine package in package_dir."""
    if not (demo_dir / "package.json").is_file():
        raise ToolchainError(f"{demo_dir} holds no page (no package.json)", "run from the checkout's root")
    key = build_key(demo_dir, package_dir, brotli_quality)
    record = read_record(out_dir)
    if not force and record and record.get("key") == key and (out_dir / "index.html").is_file():
        console.info(f"page up to date in {out_dir} (nothing it is built from changed)")
        return PageBuild(out_dir, False, record.get("seconds", {}), record.get("files", {}))
    node = _node()
    seconds: dict[str, float] = {}

    def step(name: str, started: float) -> float:
        now = time.monotonic()
        seconds[name] = round(now - started, 2)
        return now

    t = time.monotonic()
    locked = npm.install_locked(demo_dir)  # vite, typescript, apache-arrow: pinned, in the tool cache
    t = step("npm ci (cached)", t)
    with tempfile.TemporaryDirectory(prefix="wasm-qe-demo-") as tmp:
        work = Path(tmp)
        installed = _pack_and_install(package_dir, work)
        t = step("npm pack + install of the engine", t)
        app = work / "app"
        for path in source_files(demo_dir):
            target = app / path.relative_to(demo_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        modules = app / "node_modules"
        modules.mkdir()
        for entry in locked.iterdir():
            (modules / entry.name).symlink_to(entry)
        (modules / "datafusion-wasm").symlink_to(installed)
        process.run(
            [node, locked / "typescript" / "bin" / "tsc", "--noEmit", "-p", app],
            cwd=app,
            what="tsc --noEmit of the demo page",
            fix="the type errors are above (demo/src/); the engine's types are its package's .d.ts files",
        )
        t = step("tsc --noEmit", t)
        process.run(
            [
                node,
                locked / "vite" / "bin" / "vite.js",
                "build",
                "--logLevel",
                "warn",
                "--emptyOutDir",
                "--outDir",
                work / "dist",
            ],
            cwd=app,
            what="vite build of the demo page",
            fix="the bundler's error is above",
        )
        t = step("vite build", t)
        files = precompress(work / "dist", brotli_quality)
        t = step(f"precompress (gzip -{GZIP_LEVEL}, brotli q{brotli_quality})", t)
        cache.write_json_atomic(
            work / "dist" / RECORD, {"key": key, "brotli_quality": brotli_quality, "seconds": seconds, "files": files}
        )
        _publish(work / "dist", out_dir)
    return PageBuild(out_dir, True, seconds, files)
