"""What the toolchain's cache holds, and cleaning it: `python -m toolchain cache show|clean`.

The cache root (core/cache.py: cache_root(), WASM_TOOLCHAIN_CACHE or ~/.cache/wasm-qe-toolchain)
holds one directory per area:

    tools/                  provisioned tools, one directory per tool and version
                            (tools/toolchain-wheels/: the built toolchain wheels)
    stages/                 the shared stage store: stages/<crate>/<stage key>/, the newest entries kept per
                            crate (pipeline/build.py); an entry of the area is one crate's
    cargo-target/           cargo target directories: wasm32-<key>, shared by every crate built with the
                            same rustflags and std features (analysis/config.py), and one per check
    builds/                 where each crate's last build wrote its outputs (analysis/config.py)
    cargo-install-target/   the target directory of `cargo install` (wasm-bindgen-cli, geckodriver)
    toolchain-wheel-work/   the toolchain wheels' resumable build directories
    crates/                 .crate files downloaded for the patched crates
    udf-precompiled/        precompiled UDF artifacts, one entry per key (pipeline/udf_precompile.py)
    bench-data/             generated benchmark data: TPC-H as Arrow IPC, by generator version and
                            scale (pipeline/bench_queries.py)
    demo-compressed/        the demo page's compressed module (.gz, .br), by content (pipeline/demo_page.py)
    go-build/               Go's build cache for Go UDFs (tools/go.py) and the wazero host
    go-mod/                 Go's module cache for the wazero host's modules (tools/wazero.py)

tests/unit/test_cache_command.py holds these names against the modules that write them.

Cleaning removes whole entries (a tool version, a stage entry, a crate's target directory) and
nothing else: never a path outside the root, never through a symlink, and never in a root that
holds anything but these areas (a WASM_TOOLCHAIN_CACHE pointed at a home or a checkout by mistake
is refused). Whatever is removed is made again when next needed: a tool is reinstalled, a stage
runs, cargo compiles.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toolchain.core import cache
from toolchain.core.errors import ToolchainError


@dataclass(frozen=True)
class Area:
    name: str  # as shown, and the key in --json
    directory: str  # under the cache root
    what: str
    group: str  # the `cache clean` option that selects it: tools, stages or targets (--all: every area)
    whole: bool = False  # one entry (the directory), not one per child


AREAS = (
    Area("tools", "tools", "provisioned tools, by tool and version", "tools"),
    Area("stages", "stages", "stage store, per crate (outputs of wasm-bindgen, wasm-opt... by key)", "stages"),
    Area("cargo-targets", "cargo-target", "cargo target directories, shared by crates with the same flags", "targets"),
    Area("builds", "builds", "where each crate's last build went (for its checks)", "all"),
    Area(
        "cargo-install",
        "cargo-install-target",
        "target directory of `cargo install` (tool builds)",
        "targets",
        whole=True,
    ),
    Area("wheel-builds", "toolchain-wheel-work", "resumable build directories of the toolchain wheels", "targets"),
    Area("crates", "crates", ".crate files downloaded for the patched crates", "all"),
    Area("udf-precompiled", "udf-precompiled", "precompiled UDF artifacts (.cwasm), by key", "stages"),
    Area(
        "bench-data",
        "bench-data",
        "generated benchmark data (TPC-H as Arrow IPC), by generator version and scale",
        "stages",
    ),
    Area("demo-compressed", "demo-compressed", "the demo page's compressed module (.gz, .br), by content", "stages"),
    Area("go-build", "go-build", "Go's build cache (Go UDFs, the wazero host)", "targets", whole=True),
    Area("go-mod", "go-mod", "Go's module cache (wazero, for the wazero host)", "all", whole=True),
)
GROUPS = ("tools", "stages", "targets")
# Files at the root that are ours too (a cache-directory tag, https://bford.info/cachedir/).
ROOT_FILES = ("CACHEDIR.TAG",)
TOOLCHAIN_WHEELS = "toolchain-wheels"  # tools/toolchain-wheels/<wheel>: one entry per wheel

SECONDS_PER_DAY = 86400


@dataclass
class Entry:
    area: str
    name: str  # relative to the area's directory ("" for a whole area)
    path: str
    size: int  # bytes on disk (hard links counted once)
    files: int
    last_used: float  # newest mtime inside (a stage entry is touched when it is restored)
    tool: str | None = None
    version: str | None = None
    detail: str | None = None  # what a stage entry holds, or why an entry is odd

    def age_days(self, now: float | None = None) -> float:
        return ((now or time.time()) - self.last_used) / SECONDS_PER_DAY


@dataclass
class AreaUsage:
    name: str
    directory: str
    what: str
    group: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def files(self) -> int:
        return sum(e.files for e in self.entries)


@dataclass
class Inventory:
    root: str
    configured: bool  # set by WASM_TOOLCHAIN_CACHE
    exists: bool
    areas: list[AreaUsage]
    unknown: list[str]  # root entries that are not an area: left alone; `clean` refuses such a root

    @property
    def size(self) -> int:
        return sum(a.size for a in self.areas)

    def to_json(self) -> dict:
        return {
            "root": self.root,
            "configured_by": "WASM_TOOLCHAIN_CACHE" if self.configured else None,
            "exists": self.exists,
            "size": self.size,
            "files": sum(a.files for a in self.areas),
            "areas": [
                {
                    "name": a.name,
                    "directory": a.directory,
                    "what": a.what,
                    "clean_option": _option(a.group),
                    "size": a.size,
                    "files": a.files,
                    "entries": [asdict(e) for e in a.entries],
                }
                for a in self.areas
            ],
            "unknown": self.unknown,
        }


def _option(group: str) -> str:
    return "--all" if group == "all" else f"--{group}"


# ---------------------------------------------------------------- measuring


def tree_usage(path: Path) -> tuple[int, int, float]:
    """Bytes on disk, regular files and newest mtime of a tree (symlinks not followed, hard links once)."""
    seen: set[tuple[int, int]] = set()
    size = files = 0
    try:
        top = path.lstat()
    except OSError:
        return 0, 0, 0.0
    newest = top.st_mtime

    def account(st: os.stat_result) -> None:
        nonlocal size, files, newest
        newest = max(newest, st.st_mtime)
        if stat.S_ISREG(st.st_mode):
            files += 1
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            size += st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size

    account(top)
    if stat.S_ISDIR(top.st_mode):
        for root, dirs, names in os.walk(path):
            for name in [*dirs, *names]:
                with contextlib.suppress(OSError):  # removed while we looked
                    account(os.lstat(os.path.join(root, name)))
    return size, files, newest


_VERSIONED = re.compile(r"^(?P<tool>.+?)-(?P<version>\d[0-9A-Za-z.+_-]*)$")
_NPM_PROJECT = re.compile(r"^(?P<tool>npm-.+)-(?P<version>[0-9a-f]{16})$")  # tools/npm.py: npm-<project>-<lock digest>


def tool_and_version(name: str) -> tuple[str, str | None]:
    """`wasm-bindgen-cli-0.2.130` -> (wasm-bindgen-cli, 0.2.130); an npm install's version is its lock's digest."""
    for pattern in (_NPM_PROJECT, _VERSIONED):
        match = pattern.match(name)
        if match:
            return match["tool"], match["version"]
    return name, None


def _stage_outputs(entry: Path) -> str | None:
    manifest = cache.read_json(entry / ".complete")
    keys = [k for k in _children(entry) if k.is_dir() and not k.name.startswith(".")]
    if not (entry / ".complete").exists() and keys:  # a crate's group: stages/<crate>/<key>/
        return f"{len(keys)} stage entr{'y' if len(keys) == 1 else 'ies'} of this crate"
    if not (entry / ".complete").exists():
        return "unfinished (no .complete manifest)"
    if isinstance(manifest, dict) and isinstance(manifest.get("outputs"), dict):
        return ", ".join(sorted(manifest["outputs"]))
    return None


def _entry(area: Area, path: Path, name: str) -> Entry:
    size, files, newest = tree_usage(path)
    entry = Entry(area.name, name, str(path), size, files, newest)
    if name.startswith("."):
        entry.detail = "left over by an interrupted install or save"
    elif area.name == "tools":
        if name.startswith(f"{TOOLCHAIN_WHEELS}/"):
            entry.tool, entry.version = "toolchain wheel", name.split("/", 1)[1]
        else:
            entry.tool, entry.version = tool_and_version(name)
    elif area.name == "stages":
        entry.detail = _stage_outputs(path)
    return entry


def _children(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError:
        return []


def inventory(root: Path | None = None) -> Inventory:
    """Every area of the cache with its entries, sizes and last use."""
    root = root if root is not None else cache.cache_root()
    configured = bool(os.environ.get("WASM_TOOLCHAIN_CACHE")) and root == cache.cache_root()
    usages = []
    for area in AREAS:
        usage = AreaUsage(area.name, area.directory, area.what, area.group)
        directory = root / area.directory
        if directory.is_dir() and not directory.is_symlink():
            if area.whole:
                usage.entries.append(_entry(area, directory, ""))
            else:
                for child in _children(directory):
                    if (
                        area.name == "tools"
                        and child.name == TOOLCHAIN_WHEELS
                        and child.is_dir()
                        and not child.is_symlink()
                    ):
                        usage.entries += [
                            _entry(area, wheel, f"{TOOLCHAIN_WHEELS}/{wheel.name}") for wheel in _children(child)
                        ]
                    elif child.name.startswith(".") and child.name.endswith(".lock") and child.is_file():
                        continue  # cache.install_lock's lock file: not an entry, and never removed while held
                    else:
                        usage.entries.append(_entry(area, child, child.name))
        usages.append(usage)
    known = {a.directory for a in AREAS} | set(ROOT_FILES)
    unknown = [p.name for p in _children(root) if p.name not in known]
    # An area that is a symlink or a file is not ours either.
    unknown += [
        a.directory
        for a in AREAS
        if (root / a.directory).is_symlink() or ((root / a.directory).exists() and not (root / a.directory).is_dir())
    ]
    return Inventory(str(root), configured, root.is_dir(), usages, sorted(set(unknown)))


# ---------------------------------------------------------------- cleaning


def refusal(root: Path) -> str | None:
    """Why `root` must not be cleaned, or None when it looks like the toolchain's cache."""
    if root.resolve() in {Path("/"), Path.home().resolve(), Path.cwd().resolve()}:
        return f"{root} is the file system root, the home directory or the current directory"
    if not root.is_dir():
        return None  # nothing to clean, nothing to refuse
    names = {p.name for p in _children(root)}
    known = {a.directory for a in AREAS} | set(ROOT_FILES)
    if not names & {a.directory for a in AREAS}:
        return f"{root} holds none of the cache's areas ({', '.join(a.directory for a in AREAS)})"
    strangers = sorted(names - known)
    if strangers:
        return f"{root} holds entries the toolchain never writes: {', '.join(strangers[:8])}" + (
            f" and {len(strangers) - 8} more" if len(strangers) > 8 else ""
        )
    for area in AREAS:
        directory = root / area.directory
        if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
            return f"{directory} is not a directory of the cache (a symlink or a file)"
    return None


def selected(groups: set[str], every: bool) -> list[Area]:
    return [a for a in AREAS if every or a.group in groups]


def _inside(path: Path, root: Path) -> bool:
    """path is strictly below root, its parent reached without leaving root through a symlink."""
    real_root = root.resolve()
    parent = path.parent.resolve()
    return (
        path.name not in ("", ".", "..")
        and (parent == real_root or parent.is_relative_to(real_root))
        and path.absolute() != root.absolute()
    )


def remove(path: Path, root: Path) -> None:
    """Removes one entry below root: a symlink is unlinked (never followed), a tree removed."""
    if not _inside(path, root):
        raise ToolchainError(
            f"refusing to remove {path}: it is not inside the cache root {root}",
            "this is a bug in the cache command; nothing was removed",
        )
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


@dataclass
class Cleaned:
    removed: list[Entry]
    kept: int  # entries of the selected areas left (newer than --older-than)
    dry_run: bool

    @property
    def freed(self) -> int:
        return sum(e.size for e in self.removed)


def clean(
    groups: set[str],
    every: bool = False,
    older_than_days: float | None = None,
    dry_run: bool = False,
    root: Path | None = None,
) -> Cleaned:
    """Removes the entries of the selected areas (those unused for older_than_days, when given)."""
    root = root if root is not None else cache.cache_root()
    problem = refusal(root)
    if problem:
        raise ToolchainError(
            f"refusing to clean {root}: {problem}",
            "point WASM_TOOLCHAIN_CACHE at the toolchain's cache directory (only its areas in it), "
            "or remove what you want gone yourself",
        )
    areas = {a.name for a in selected(groups, every)}
    now = time.time()
    removed: list[Entry] = []
    kept = 0
    for usage in inventory(root).areas:
        if usage.name not in areas:
            continue
        for entry in usage.entries:
            if older_than_days is not None and entry.age_days(now) < older_than_days:
                kept += 1
                continue
            if not dry_run:
                remove(Path(entry.path), root)
            removed.append(entry)
        if not dry_run and usage.name == "tools":
            wheels = root / "tools" / TOOLCHAIN_WHEELS
            if wheels.is_dir() and not wheels.is_symlink() and not any(wheels.iterdir()):
                wheels.rmdir()
    return Cleaned(removed, kept, dry_run)


# ---------------------------------------------------------------- formatting


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def _day(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(timestamp)) if timestamp else "?"


def entry_label(entry: Entry) -> str:
    if entry.tool:
        return f"{entry.tool} {entry.version}" if entry.version else entry.tool
    if entry.area == "stages" and re.fullmatch(r"[0-9a-f]{64}", entry.name):  # an entry of the ungrouped layout
        return f"{entry.name[:16]}…"
    return entry.name or entry.area


def format_inventory(inv: Inventory) -> str:
    origin = "from WASM_TOOLCHAIN_CACHE" if inv.configured else "default; WASM_TOOLCHAIN_CACHE moves it"
    lines = [f"cache: {inv.root} ({origin})"]
    if not inv.exists:
        return "\n".join([*lines, "  empty: the directory does not exist yet"])
    for usage in inv.areas:
        count = f"{len(usage.entries)} entr{'y' if len(usage.entries) == 1 else 'ies'}"
        lines.append(
            f"{usage.name:<14} {human(usage.size):>10}  {count:<11} {usage.directory}/: {usage.what}"
            f"  [clean {_option(usage.group)}]"
        )
        for entry in usage.entries:
            lines.append(
                f"  {entry_label(entry):<44} {human(entry.size):>10} {entry.files:>7} file{'' if entry.files == 1 else 's'}  "
                f"last used {_day(entry.last_used)}" + (f"  {entry.detail}" if entry.detail else "")
            )
    for name in inv.unknown:
        lines.append(f"not ours       {name} (left alone; `cache clean` refuses a root holding it)")
    lines.append(f"{'total':<14} {human(inv.size):>10}")
    return "\n".join(lines)


def format_cleaned(result: Cleaned, root: str) -> str:
    verb = "would remove" if result.dry_run else "removed"
    lines = []
    for e in result.removed:
        where, label = os.path.relpath(e.path, root), entry_label(e)
        lines.append(f"{verb} {where} ({human(e.size)}" + (f", {label})" if e.tool else ")"))
    summary = (
        f"{'would free' if result.dry_run else 'freed'} {human(result.freed)} in {len(result.removed)} "
        f"entr{'y' if len(result.removed) == 1 else 'ies'} of {root}"
    )
    if result.kept:
        summary += f"; kept {result.kept} used more recently"
    return "\n".join([*lines, summary])
