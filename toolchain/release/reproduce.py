"""The reproducibility proof: two clean builds of one commit, in two directories, give the same bytes.

Each side is a fresh clone of HEAD (uncommitted changes are not part of it: a reproducible
build is of a commit), built with its own empty cargo target directory, with the machine-wide
stage store bypassed (every stage runs), SOURCE_DATE_EPOCH fixed to the commit time, then
packaged as a release. The two package directories and release directories are compared file
by file; the first difference is named with its byte offset and, inside an archive, the member.
"""

from __future__ import annotations

import gzip
import io
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.analysis import cargo_lock
from toolchain.core import cache, console, process
from toolchain.core.errors import StageFailed, ToolchainError
from toolchain.core.git import git_output
from toolchain.core.layout import DEFAULT_ARTIFACTS, Layout

SIDES = ("a", "b-second-clone")  # different names and lengths: a path that leaks moves every offset


# ---------------------------------------------------------------- comparing (pure)


@dataclass(frozen=True)
class Difference:
    file: str  # relative to the compared roots
    offset: int | None  # first differing byte of the file; None when one side lacks it
    member: str | None = None  # inside an archive: the first member that differs
    member_offset: int | None = None
    detail: str = ""

    def format(self) -> str:
        where = f"{self.file}: " + (
            f"first difference at byte {self.offset}" if self.offset is not None else self.detail
        )
        if self.member:
            where += f"; first differing member {self.member}"
            if self.member_offset is not None:
                where += f" at byte {self.member_offset}"
        if self.detail and self.offset is not None:
            where += f" ({self.detail})"
        return where


def first_differing_offset(a: bytes, b: bytes) -> int | None:
    """The first offset where a and b differ (the shorter length when one is a prefix); None if equal."""
    if a == b:
        return None
    limit = min(len(a), len(b))
    # Bisect on slices: fast on modules of tens of MB.
    low, high = 0, limit
    while low < high:
        middle = (low + high) // 2
        if a[low : middle + 1] == b[low : middle + 1]:
            low = middle + 1
        else:
            high = middle
    return low


def archive_members(name: str, data: bytes) -> dict[str, bytes] | None:
    """The members of a wheel/zip or a .tgz as name -> bytes (directories and metadata aside); None if not one."""
    try:
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return {info.filename: archive.read(info) for info in archive.infolist()}
        if name.endswith((".tgz", ".tar.gz")):
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r:") as archive:
                return {m.name: _regular_file_bytes(archive, m) for m in archive.getmembers() if m.isfile()}
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError):
        return None
    return None


def _regular_file_bytes(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    assert handle is not None, f"{member.name}: extractfile() is None only for a member that is not a regular file"
    return handle.read()


def compare_bytes(name: str, a: bytes, b: bytes) -> Difference | None:
    offset = first_differing_offset(a, b)
    if offset is None:
        return None
    detail = f"sizes {len(a)} and {len(b)}" if len(a) != len(b) else ""
    members_a, members_b = archive_members(name, a), archive_members(name, b)
    if members_a is None or members_b is None:
        return Difference(name, offset, detail=detail)
    if list(members_a) != list(members_b):
        only = sorted(set(members_a) ^ set(members_b))
        first = next((x for x, y in zip(members_a, members_b) if x != y), None)
        return Difference(
            name,
            offset,
            member=first or (only[0] if only else None),
            detail=f"different members or order; only on one side: {only}" if only else "members in a different order",
        )
    for member, content in members_a.items():
        inner = first_differing_offset(content, members_b[member])
        if inner is not None:
            return Difference(name, offset, member=member, member_offset=inner, detail=detail)
    return Difference(
        name,
        offset,
        detail="every member is identical: the archive's metadata differs (timestamps, permissions, compression)",
    )


def compare_trees(root_a: Path, root_b: Path, names: list[str]) -> list[Difference]:
    """Each relative name compared between the two roots, in order; a file missing on a side is a difference."""
    differences = []
    for name in names:
        a, b = root_a / name, root_b / name
        if not a.is_file() or not b.is_file():
            missing = [str(p) for p in (a, b) if not p.is_file()]
            differences.append(Difference(name, None, detail=f"missing: {', '.join(missing)}"))
            continue
        difference = compare_bytes(name, a.read_bytes(), b.read_bytes())
        if difference:
            differences.append(difference)
    return differences


def outputs_to_compare(root: Path, crate: cargo_lock.CrateManifest) -> list[str]:
    """What a build and a release publish, relative to a checkout: the package dir and the release dir."""
    layout = Layout.of(DEFAULT_ARTIFACTS, crate)  # relative: the same names under both checkouts
    names = []
    for directory in (layout.package_dir, layout.release_root / crate.version):
        if (root / directory).is_dir():
            names += sorted(str(directory / p.name) for p in (root / directory).iterdir() if p.is_file())
    return names


# ---------------------------------------------------------------- running the two builds


@dataclass(frozen=True)
class ProofRequest:
    checkout: Path  # the repository whose HEAD is proven
    manifest_path: Path  # relative to the checkout
    work_dir: Path | None = None  # None: a new directory under /tmp
    keep: bool = False


@dataclass
class Side:
    name: str
    clone: Path
    target_dir: Path
    log: Path
    seconds: float = 0.0


@dataclass
class Outcome:
    commit: str
    source_date_epoch: int
    sides: list[Side]
    compared: list[tuple[str, str, int]] = field(default_factory=list)  # name, sha256 (side a), size
    differences: list[Difference] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return bool(self.compared) and not self.differences


def clone_commit(checkout: Path, commit: str, destination: Path) -> None:
    """A clone of exactly `commit`, in its own directory (no shared working files)."""
    for argv in (
        ["git", "clone", "--quiet", "--no-checkout", "--no-hardlinks", str(checkout), str(destination)],
        ["git", "-C", str(destination), "checkout", "--quiet", "--detach", commit],
    ):
        result = process.run(argv, capture=True, check=False, what="cloning the commit")
        if result.returncode != 0:
            raise StageFailed(
                f"{' '.join(argv)} failed: {result.stderr.strip()}", "check that the commit exists in the repository"
            )


def clean_release(side: Side, manifest_path: Path, epoch: int) -> None:
    """build + release in the clone, with the clone's own toolchain, a fresh target dir and no stage store."""
    argv = [
        sys.executable,
        "-m",
        "toolchain",
        "release",
        "--skip-checks",
        "--no-stage-store",
        "--manifest-path",
        str(manifest_path),
        "--target-dir",
        str(side.target_dir),
    ]
    env = {"PYTHONPATH": str(side.clone), "SOURCE_DATE_EPOCH": str(epoch)}
    console.command(argv)
    console.info(f"in {side.clone}; log: {side.log}")
    started = time.monotonic()
    with side.log.open("w") as log:
        # Into the log, the latest line shown as progress (redrawn on a terminal, every minute on CI).
        result = process.stream(
            argv,
            cwd=side.clone,
            env=env,
            unset=["CARGO_TARGET_DIR"],
            echo=False,
            merge_stderr=True,
            keep=0,
            on_line=log.write,
            show=False,
            what=f"the clean build in {side.clone}",
        )
    side.seconds = time.monotonic() - started
    if result.returncode != 0:
        tail = "\n".join(side.log.read_text(errors="replace").splitlines()[-30:])
        raise StageFailed(
            f"the clean build in {side.clone} failed (exit {result.returncode}):\n{tail}",
            f"the whole log is {side.log}; fix the build, commit, and run the proof again",
        )


def prove(request: ProofRequest) -> Outcome:
    checkout = request.checkout.resolve()
    commit = git_output(checkout, "rev-parse", "HEAD")
    if not commit:
        raise ToolchainError(f"{checkout} is not a git checkout", "run the proof from the repository")
    if git_output(checkout, "status", "--porcelain", "--untracked-files=no"):
        console.warn(f"uncommitted changes are not part of the proof: it builds commit {commit[:12]} as committed")
    epoch = int(git_output(checkout, "log", "-1", "--format=%ct") or 0)
    crate = cargo_lock.read_manifest(checkout / request.manifest_path)
    manifest = crate.manifest_path.relative_to(checkout)
    work = request.work_dir or Path(tempfile.mkdtemp(prefix="repro-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    sides = [Side(name, work / name, work / f"{name}-target", work / f"{name}.log") for name in SIDES]
    outcome = Outcome(commit, epoch, sides)
    try:
        for side in sides:
            for stale in (side.clone, side.target_dir):
                shutil.rmtree(stale, ignore_errors=True)
            with console.stage(f"clean build {side.name}: clone of {commit[:12]} in {side.clone}"):
                clone_commit(checkout, commit, side.clone)
                clean_release(side, manifest, epoch)
        a, b = sides[0].clone, sides[1].clone
        names = sorted(set(outputs_to_compare(a, crate)) | set(outputs_to_compare(b, crate)))
        with console.stage(f"compare {len(names)} files"):
            outcome.differences = compare_trees(a, b, names)
            outcome.compared = [
                (n, cache.file_sha256(a / n), (a / n).stat().st_size) for n in names if (a / n).is_file()
            ]
    finally:
        # The target directories are gigabytes; the clones (with their artifacts) stay when the
        # builds differ, so the difference can be inspected.
        if not request.keep:
            for side in sides:
                shutil.rmtree(side.target_dir, ignore_errors=True)
                if outcome.identical:
                    shutil.rmtree(side.clone, ignore_errors=True)
    return outcome


def format_outcome(outcome: Outcome) -> str:
    lines = [f"commit {outcome.commit}, SOURCE_DATE_EPOCH={outcome.source_date_epoch}"]
    for side in outcome.sides:
        lines.append(f"  {side.name:16} {side.clone}  clean build + release in {side.seconds / 60:.1f} min")
    differing = {d.file for d in outcome.differences}
    for name, digest, size in outcome.compared:
        lines.append(f"  {'DIFFERS ' if name in differing else 'same    '} {digest[:16]}  {size:>12,}  {name}")
    if outcome.identical:
        lines.append(f"reproducible: {len(outcome.compared)} files byte-identical across the two clean builds")
    else:
        lines.append(
            "NOT reproducible: " + (outcome.differences[0].format() if outcome.differences else "nothing compared")
        )
        lines += [f"  also: {d.format()}" for d in outcome.differences[1:]]
    return "\n".join(lines)
