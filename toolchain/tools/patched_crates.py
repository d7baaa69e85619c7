"""Crates from crates.io that the engine uses with a small change: a .crate plus a patch, prepared on demand.

crates/patches/patches.toml lists them (name, version, the sha256 of the .crate that crates.io
serves, the patch file and its sha256). prepare() turns each into the directory that the
workspace's `[patch.crates-io]` points at, crates/patches/NAME: the pristine .crate (from cargo's
registry cache, else the toolchain's cache, else static.crates.io), checked against its sha256,
extracted next to the destination, patched (a strict unified-diff applier in Python: every hunk
must match exactly where it says, no fuzz, no offsets; no dependency on patch(1)), stamped, and
renamed into place. A prepared directory whose stamp and files match is left untouched (its
mtimes too, so cargo does not rebuild it); anything else is prepared again. A failure leaves the
previous directory, or none, never a half-written one.

The destination stays inside the cargo workspace root on purpose: cargo hashes a path package into
its crate identity by its path relative to the workspace root, so the engine compiles to the same
bytes in every checkout (crates/Cargo.toml says more).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tomllib
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from toolchain.core import cache, console
from toolchain.core.errors import ToolchainError

PATCHES_DIR = "patches"  # under the cargo workspace root
MANIFEST = "patches.toml"
STAMP = ".patched-crate.json"  # inside a prepared directory
STAMP_FORMAT = 1
DOWNLOAD_URL = "https://static.crates.io/crates/{name}/{name}-{version}.crate"
DOWNLOAD_TIMEOUT = 120
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_VERSION = re.compile(r"[0-9A-Za-z.+-]+")


class PatchedCrateError(ToolchainError):
    """A patched crate cannot be prepared: its manifest, its .crate or its patch is wrong."""


@dataclass(frozen=True)
class PatchSpec:
    """One entry of patches.toml."""

    name: str
    version: str
    crate_sha256: str
    patch_path: Path
    patch_sha256: str

    @property
    def crate_file(self) -> str:
        return f"{self.name}-{self.version}.crate"

    @property
    def url(self) -> str:
        return DOWNLOAD_URL.format(name=self.name, version=self.version)

    @property
    def key(self) -> str:
        """What a prepared directory is made from; its stamp records it."""
        return cache.cache_key(
            format=STAMP_FORMAT,
            name=self.name,
            version=self.version,
            crate_sha256=self.crate_sha256,
            patch_sha256=self.patch_sha256,
        )


@dataclass(frozen=True)
class PreparedCrate:
    """A patched crate ready for cargo at `directory`."""

    name: str
    version: str
    directory: Path
    crate_sha256: str
    patch_sha256: str
    patch_path: Path


# ---------------------------------------------------------------- the manifest


def patches_dir(workspace_root: Path) -> Path:
    return Path(workspace_root) / PATCHES_DIR


def find_workspace_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` that has patches/patches.toml, or None."""
    start = Path(start).absolute()
    for candidate in (start, *start.parents):
        if (patches_dir(candidate) / MANIFEST).is_file():
            return candidate
    return None


def load(workspace_root: Path) -> list[PatchSpec]:
    """The entries of WORKSPACE/patches/patches.toml ([] when there is none), checked for form."""
    manifest = patches_dir(workspace_root) / MANIFEST
    if not manifest.is_file():
        return []
    fix = f"correct {manifest} (crates/patches/README.md describes its entries)"
    try:
        data = tomllib.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PatchedCrateError(f"cannot read {manifest}: {exc}", fix) from exc
    entries = data.get("crate", [])
    if not isinstance(entries, list):
        raise PatchedCrateError(f"{manifest}: `crate` must be an array of tables ([[crate]])", fix)
    specs: list[PatchSpec] = []
    for index, entry in enumerate(entries):
        where = f"{manifest}, crate #{index + 1}"
        if not isinstance(entry, dict):
            raise PatchedCrateError(f"{where} is not a table", fix)
        missing = [
            k for k in ("name", "version", "crate_sha256", "patch", "patch_sha256") if not isinstance(entry.get(k), str)
        ]
        if missing:
            raise PatchedCrateError(f"{where} lacks {', '.join(missing)} (strings)", fix)
        name, version = entry["name"], entry["version"]
        if not _NAME.fullmatch(name) or not _VERSION.fullmatch(version):
            raise PatchedCrateError(f"{where}: {name!r} {version!r} is not a crate name and version", fix)
        for key in ("crate_sha256", "patch_sha256"):
            if not _SHA256.fullmatch(entry[key]):
                raise PatchedCrateError(f"{where}: {key} must be 64 lowercase hex digits, not {entry[key]!r}", fix)
        patch = PurePosixPath(entry["patch"])
        if patch.is_absolute() or len(patch.parts) != 1:
            raise PatchedCrateError(
                f"{where}: patch must be a file name in {manifest.parent}, not {entry['patch']!r}", fix
            )
        if name in {s.name for s in specs}:
            raise PatchedCrateError(f"{where}: {name} is listed twice", fix)
        specs.append(
            PatchSpec(name, version, entry["crate_sha256"], manifest.parent / entry["patch"], entry["patch_sha256"])
        )
    return specs


# ---------------------------------------------------------------- preparing


def prepare(workspace_root: Path) -> list[PreparedCrate]:
    """Makes WORKSPACE/patches/NAME for every entry of patches.toml; cheap when they are current."""
    workspace_root = Path(workspace_root).absolute()
    specs = load(workspace_root)
    if not specs:
        return []
    directory = patches_dir(workspace_root)
    with _locked(directory / ".prepare.lock"):
        return [_prepare_one(spec, directory / spec.name) for spec in specs]


def prepare_for(path: Path) -> list[PreparedCrate]:
    """prepare() for the cargo workspace that `path` (a crate directory or manifest) belongs to.

    The workspace is the nearest directory at or above it with patches/patches.toml; none: nothing
    to prepare ([]). For the engine's crates and crates/ipc-guard-fuzz that is crates/."""
    path = Path(path)
    root = find_workspace_root(path.parent if path.suffix == ".toml" else path)
    return prepare(root) if root else []


def generated_paths(workspace_root: Path) -> list[Path]:
    """What preparing writes under WORKSPACE/patches (the crates' directories, the lock, temporary
    directories), whether it exists yet or not: not inputs, for whoever hashes the workspace."""
    directory = patches_dir(workspace_root)  # as given: relative stays relative, as os.walk's paths
    dotted = sorted(p for p in directory.glob(".*")) if directory.is_dir() else []
    return [*(directory / spec.name for spec in load(workspace_root)), *dotted]


def stamp_problem(spec: PatchSpec, destination: Path) -> str | None:
    """Why `destination` is not the prepared crate of `spec`, or None when it is."""
    stamp_path = destination / STAMP
    if not destination.is_dir():
        return f"{destination} does not exist"
    stamp = cache.read_json(stamp_path)
    if not isinstance(stamp, dict) or not isinstance(stamp.get("files"), dict):
        return f"{stamp_path} is missing or unreadable"
    if stamp.get("key") != spec.key:
        return (
            f"it was prepared from other inputs (crate {stamp.get('crate_sha256')}, patch "
            f"{stamp.get('patch_sha256')}) than patches.toml names now"
        )
    for name, expected in stamp["files"].items():
        problem = cache.fingerprint_problem(destination / name, expected, name)
        if problem:
            return problem
    return None


def _prepare_one(spec: PatchSpec, destination: Path) -> PreparedCrate:
    _check_patch_file(spec)
    prepared = PreparedCrate(
        spec.name, spec.version, destination, spec.crate_sha256, spec.patch_sha256, spec.patch_path
    )
    problem = stamp_problem(spec, destination)
    if problem is None:
        return prepared
    if destination.exists():
        console.info(f"preparing {spec.name} {spec.version} again: {problem}")
    else:
        console.info(f"preparing {spec.name} {spec.version} (crates.io .crate + {spec.patch_path.name})")
    crate = _crate_bytes(spec)
    patch = _parse_patch(spec.patch_path.read_bytes(), spec.patch_path)
    tmp = cache.make_temp_dir(destination.parent, f".{destination.name}.partial-")
    try:
        root = _extract(crate, spec, tmp)
        _apply(patch, root, spec.patch_path)
        files = {
            str(p.relative_to(root).as_posix()): cache.file_fingerprint(p)
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()
        }
        stamp = {
            "format": STAMP_FORMAT,
            "key": spec.key,
            "name": spec.name,
            "version": spec.version,
            "crate_sha256": spec.crate_sha256,
            "patch": spec.patch_path.name,
            "patch_sha256": spec.patch_sha256,
            "files": files,
        }
        (root / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
        _replace_dir(root, destination)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return prepared


def _check_patch_file(spec: PatchSpec) -> None:
    if not spec.patch_path.is_file():
        raise PatchedCrateError(
            f"the patch of {spec.name} {spec.version}, {spec.patch_path}, is missing",
            f"restore it (git checkout -- {spec.patch_path.name}) or correct patches.toml",
        )
    actual = cache.file_sha256(spec.patch_path)
    if actual != spec.patch_sha256:
        raise PatchedCrateError(
            f"{spec.patch_path} has sha256 {actual}, patches.toml records {spec.patch_sha256}",
            f'if the patch was changed on purpose, set patch_sha256 = "{actual}" for {spec.name} in '
            f"{spec.patch_path.parent / MANIFEST}; otherwise restore the patch file",
        )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One preparer at a time per workspace (two nox sessions may start together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _replace_dir(new: Path, destination: Path) -> None:
    """Moves `new` to `destination` with renames only; an existing destination is swapped out first."""
    old = None
    if destination.exists() or destination.is_symlink():
        old = cache.make_temp_dir(destination.parent, f".{destination.name}.old-")
        old.rmdir()
        os.replace(destination, old)
    try:
        os.replace(new, destination)
    except BaseException:
        if old is not None:
            os.replace(old, destination)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


# ---------------------------------------------------------------- the .crate


def cargo_home() -> Path:
    return Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")


def toolchain_crate_cache() -> Path:
    return cache.cache_root() / "crates"


def download(url: str) -> bytes:
    """The body at `url` (tests replace this)."""
    request = urllib.request.Request(url, headers={"User-Agent": "wasm-qe-toolchain (patched crates)"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
        return response.read()


def _crate_bytes(spec: PatchSpec) -> bytes:
    """The .crate whose sha256 patches.toml records: cargo's cache, the toolchain's cache, crates.io."""
    expected = spec.crate_sha256
    for candidate in sorted(cargo_home().glob(f"registry/cache/*/{spec.crate_file}")):
        data = candidate.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise PatchedCrateError(
                f"{candidate} has sha256 {actual}; patches.toml records {expected} for {spec.name} {spec.version}",
                f"delete {candidate} (a damaged file in cargo's download cache; it is fetched again), or, if "
                f"patches.toml is wrong, set crate_sha256 to the sha256 crates.io publishes for {spec.name} "
                f"{spec.version} (`cksum` in its index entry; crates/patches/README.md)",
            )
        return data
    cached = toolchain_crate_cache() / spec.crate_file
    if cached.is_file():
        data = cached.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual == expected:
            return data
        console.warn(f"{cached} has sha256 {actual}, not {expected}: damaged, fetching it again")
        cached.unlink(missing_ok=True)
    console.info(f"downloading {spec.url}")
    try:
        data = download(spec.url)
    except (urllib.error.URLError, OSError) as exc:
        raise PatchedCrateError(
            f"cannot download {spec.url}: {exc}",
            f"check the network to static.crates.io, or put {spec.crate_file} (sha256 {expected}) into "
            f"{toolchain_crate_cache()}; `cargo fetch` in the workspace also puts it into cargo's cache",
        ) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise PatchedCrateError(
            f"{spec.url} served {len(data)} bytes with sha256 {actual}; patches.toml records {expected}",
            f"check the version and crate_sha256 of {spec.name} in patches.toml against crates.io's index "
            f"(`cksum` of {spec.version}); if they agree, something between here and crates.io altered the file",
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f".{cached.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, cached)
    finally:
        partial.unlink(missing_ok=True)
    return data


def _extract(crate: bytes, spec: PatchSpec, into: Path) -> Path:
    """Extracts the .crate (a gzipped tar of NAME-VERSION/...) into `into`; returns NAME-VERSION's path."""
    top = f"{spec.name}-{spec.version}"
    fix = f"the .crate of {spec.name} {spec.version} is not what crates.io publishes: check patches.toml"
    # By hand rather than extractall: regular files and directories only (all a .crate holds), each
    # checked to stay under NAME-VERSION/, on every Python 3.11 (extraction filters came in 3.11.4).
    # The files get the current mtime, not the .crate's fixed old date: a file that a previous patch
    # changed and this one does not must not look older than cargo's last build of it.
    try:
        with tarfile.open(fileobj=io.BytesIO(crate), mode="r:gz") as archive:
            for member in archive:
                path = PurePosixPath(member.name)
                parts = path.parts
                if not parts or parts[0] != top or ".." in parts or path.is_absolute():
                    raise PatchedCrateError(f"{spec.crate_file} holds {member.name!r}, outside {top}/", fix)
                target = into.joinpath(*parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = archive.extractfile(member)
                    assert source is not None
                    target.write_bytes(source.read())
                    target.chmod(0o755 if member.mode & 0o111 else 0o644)
                else:
                    raise PatchedCrateError(
                        f"{spec.crate_file} holds {member.name!r}, neither a file nor a directory", fix
                    )
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise PatchedCrateError(f"cannot extract {spec.crate_file}: {exc}", fix) from exc
    root = into / top
    if not (root / "Cargo.toml").is_file():
        raise PatchedCrateError(f"{spec.crate_file} has no {top}/Cargo.toml", fix)
    return root


# ---------------------------------------------------------------- unified diffs


@dataclass
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    header: str
    old: list[bytes]  # lines with their line ends, as the file has them before
    new: list[bytes]  # and after


@dataclass
class FilePatch:
    old_path: str | None  # None: the file is created
    new_path: str | None  # None: the file is deleted
    hunks: list[Hunk]


_HUNK = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _lines(data: bytes) -> list[bytes]:
    """Lines with their b"\\n" (the last one may lack it); b"\\r" stays part of a line."""
    return re.findall(rb"[^\n]*\n|[^\n]+\Z", data)


def _strip_path(raw: bytes, patch_file: Path) -> str | None:
    """A ---/+++ path at -p1 (tab-separated timestamp dropped), or None for /dev/null."""
    text = raw.decode("utf-8", "surrogateescape").split("\t", 1)[0].rstrip("\r\n")
    if text == "/dev/null":
        return None
    parts = PurePosixPath(text).parts
    if len(parts) < 2 or PurePosixPath(text).is_absolute() or ".." in parts:
        raise PatchedCrateError(
            f"{patch_file}: cannot use the path {text!r} at -p1",
            "regenerate the patch as crates/patches/README.md says (diff -ruN a b)",
        )
    return str(PurePosixPath(*parts[1:]))


def _parse_patch(data: bytes, patch_file: Path) -> list[FilePatch]:
    """The files and hunks of a unified diff; lines outside them (diff commands, comments) are ignored."""
    fix = "regenerate the patch as crates/patches/README.md says"
    lines = _lines(data)
    patches: list[FilePatch] = []
    i = 0
    while i < len(lines):
        if not (lines[i].startswith(b"--- ") and i + 1 < len(lines) and lines[i + 1].startswith(b"+++ ")):
            i += 1
            continue
        current = FilePatch(_strip_path(lines[i][4:], patch_file), _strip_path(lines[i + 1][4:], patch_file), [])
        if current.old_path is None and current.new_path is None:
            raise PatchedCrateError(f"{patch_file}, line {i + 1}: /dev/null on both sides", fix)
        i += 2
        while i < len(lines) and lines[i].startswith(b"@@"):
            match = _HUNK.match(lines[i])
            if not match:
                raise PatchedCrateError(f"{patch_file}, line {i + 1}: malformed hunk header {lines[i]!r}", fix)
            old_start, new_start = int(match[1]), int(match[3])
            old_count = int(match[2]) if match[2] is not None else 1
            new_count = int(match[4]) if match[4] is not None else 1
            hunk = Hunk(
                old_start, old_count, new_start, new_count, lines[i].decode("utf-8", "replace").rstrip("\r\n"), [], []
            )
            i += 1
            last: list[list[bytes]] = []  # the lists the previous line went to (for "\ No newline")
            while i < len(lines) and (
                len(hunk.old) < old_count or len(hunk.new) < new_count or lines[i].startswith(b"\\")
            ):
                line = lines[i]
                tag, body = line[:1], line[1:]
                if tag == b"\\":
                    if not last:
                        raise PatchedCrateError(f'{patch_file}, line {i + 1}: a "\\" line with no line before it', fix)
                    for target in last:
                        target[-1] = target[-1].rstrip(b"\n")
                elif tag in (b" ", b"\n"):  # an empty line: a context line whose trailing space was lost
                    body = body if tag == b" " else b"\n"
                    hunk.old.append(body)
                    hunk.new.append(body)
                    last = [hunk.old, hunk.new]
                elif tag == b"-":
                    hunk.old.append(body)
                    last = [hunk.old]
                elif tag == b"+":
                    hunk.new.append(body)
                    last = [hunk.new]
                else:
                    raise PatchedCrateError(
                        f"{patch_file}, line {i + 1}: {line!r} is not part of hunk {hunk.header}", fix
                    )
                i += 1
            if len(hunk.old) != old_count or len(hunk.new) != new_count:
                raise PatchedCrateError(
                    f"{patch_file}: hunk {hunk.header} of {current.new_path or current.old_path} has "
                    f"{len(hunk.old)} old and {len(hunk.new)} new lines, its header says {old_count} and {new_count}",
                    fix,
                )
            current.hunks.append(hunk)
        if not current.hunks:
            raise PatchedCrateError(f"{patch_file}: {current.new_path or current.old_path} has no hunks", fix)
        patches.append(current)
    if not patches:
        raise PatchedCrateError(f"{patch_file} holds no unified diff", fix)
    return patches


def _apply(patches: list[FilePatch], root: Path, patch_file: Path) -> None:
    """Applies the diff to the tree at `root`; every hunk must match exactly at its line."""
    fix = (
        "the patch does not fit this .crate: regenerate it against the pristine crate, as crates/patches/README.md says"
    )
    for file_patch in patches:
        old_path, new_path = file_patch.old_path, file_patch.new_path
        shown = old_path or new_path
        if old_path is None:
            assert new_path is not None  # _parse_patch refuses /dev/null on both sides
            if (root / new_path).exists():
                raise PatchedCrateError(f"{patch_file} creates {shown}, which the crate already has", fix)
            before: list[bytes] = []
        else:
            source = root / old_path
            if not source.is_file():
                raise PatchedCrateError(f"{patch_file} changes {shown}, which the crate does not have", fix)
            before = _lines(source.read_bytes())
        after = list(before)
        shift = 0
        for hunk in file_patch.hunks:
            start = hunk.old_start - 1 if hunk.old_count else hunk.old_start
            at = start + shift
            found = after[at : at + len(hunk.old)]
            if at < 0 or found != hunk.old:
                detail = "the file ends before it"
                for offset, (want, have) in enumerate(zip(hunk.old, found)):
                    if want != have:
                        detail = (
                            f"line {hunk.old_start + offset} is {have.decode('utf-8', 'replace')!r}, "
                            f"the patch expects {want.decode('utf-8', 'replace')!r}"
                        )
                        break
                raise PatchedCrateError(f"{patch_file}: hunk {hunk.header} does not apply to {shown}: {detail}", fix)
            after[at : at + len(hunk.old)] = hunk.new
            shift += len(hunk.new) - len(hunk.old)
        if new_path is None:
            if after:
                raise PatchedCrateError(f"{patch_file} deletes {shown} but leaves lines in it", fix)
            source.unlink()
            continue
        target = root / new_path
        if old_path is not None and old_path != new_path:
            source.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(after))
