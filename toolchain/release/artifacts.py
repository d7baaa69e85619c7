"""Release packaging: what `nox -s build` made, as versioned, checksummed, reproducible artifacts.

Input: a built package directory (artifacts/<crate>/, with package.json, the module, its glue
and declarations, build-info.json) and the crate's Cargo.toml. Output: artifacts/release/<version>/
with the npm tarball, a Python wheel, a CycloneDX SBOM, build-info.json and SHA256SUMS, published
atomically (written beside its place, then renamed in).

The version comes from one place, the crate's Cargo.toml; the build already wrote it into
package.json and the release refuses a package whose version disagrees. Every archive is a
function of its inputs and SOURCE_DATE_EPOCH (default: the commit time of HEAD), so two clean
builds of one commit give the same bytes (`nox -s reproduce` proves it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolchain import __version__
from toolchain.analysis import cargo_graph, cargo_lock
from toolchain.core import cache, console, process
from toolchain.core.checksums import sha256sums_text, verify_sha256sums
from toolchain.core.errors import StageFailed, ToolchainError
from toolchain.core.git import git_output
from toolchain.release import sbom, wheel
from toolchain.tools import patched_crates, rust

DEFAULT_RELEASE_ROOT = Path("artifacts/release")
SUMS_NAME = "SHA256SUMS"
BUILD_INFO_NAME = "build-info.json"
TEMPLATES = Path(__file__).parent / "templates"
# package.json fields a consumer (a bundler, TypeScript, npm) relies on.
REQUIRED_PACKAGE_FIELDS = ("name", "version", "type", "exports", "types", "files", "sideEffects")


@dataclass(frozen=True)
class ReleaseRequest:
    package_dir: Path  # what the build made: artifacts/<crate>/
    manifest_path: Path  # the crate: its version, lock file and dependency graph
    release_root: Path = DEFAULT_RELEASE_ROOT
    features: tuple[str, ...] = ()  # as given to the build (the SBOM resolves the same graph)
    no_default_features: bool = False
    source_date_epoch: int | None = None  # None: $SOURCE_DATE_EPOCH, else the commit time of HEAD
    force: bool = False  # replace an existing release of this version whose content differs


@dataclass
class Release:
    directory: Path
    version: str
    files: dict[str, Path] = field(default_factory=dict)  # role (npm, wheel, sbom, build-info, sums) -> file
    unchanged: bool = False  # an identical release was already published


# ---------------------------------------------------------------- inputs


def source_date_epoch(checkout: Path, environ: Mapping[str, str] | None = None) -> int:
    """Every timestamp in the archives: $SOURCE_DATE_EPOCH, else the commit time of HEAD."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if env.get("SOURCE_DATE_EPOCH"):
        value = env["SOURCE_DATE_EPOCH"]
        if not value.isdigit():
            raise ToolchainError(
                f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds since 1970",
                "set it to an integer (e.g. `git log -1 --format=%ct`) or unset it",
            )
        return int(value)
    committed = git_output(checkout, "log", "-1", "--format=%ct")
    if not committed:
        raise ToolchainError(
            f"{checkout} is not a git checkout, so there is no commit time to date the archives",
            "set SOURCE_DATE_EPOCH (seconds since 1970) for a build outside git",
        )
    return int(committed)


def read_package(package_dir: Path, crate: cargo_lock.CrateManifest) -> dict:
    """The built package's package.json, checked: the fields consumers need, the files it lists, the version."""
    manifest_path = package_dir / "package.json"
    if not manifest_path.is_file():
        raise ToolchainError(
            f"no package.json in {package_dir}: the engine is not built",
            "run `nox -s build` (or `python -m toolchain build`) first",
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise ToolchainError(f"{manifest_path} is not JSON ({exc})", "rebuild the package with `nox -s build`") from exc
    missing = [key for key in REQUIRED_PACKAGE_FIELDS if key not in manifest]
    if missing:
        raise ToolchainError(
            f"{manifest_path} lacks {', '.join(missing)}",
            "rebuild with this toolchain (`nox -s build`): its package.json has every field",
        )
    if manifest["type"] != "module":
        raise ToolchainError(
            f'{manifest_path}: "type" is {manifest["type"]!r}, the glue is an ES module',
            'set "type": "module" (rebuild with `nox -s build`)',
        )
    if manifest["name"] != crate.package_name or manifest["version"] != crate.version:
        raise ToolchainError(
            f"{manifest_path} is {manifest['name']}@{manifest['version']}, but {crate.manifest_path} is "
            f"{crate.package_name}@{crate.version}: the package is stale",
            "rebuild (`nox -s build`): the version comes from Cargo.toml only",
        )
    absent = [name for name in manifest["files"] if not (package_dir / name).is_file()]
    if absent:
        raise ToolchainError(
            f"{package_dir} lacks files its package.json lists: {', '.join(absent)}", "rebuild with `nox -s build`"
        )
    return manifest


# ---------------------------------------------------------------- npm


def stage_npm_package(package_dir: Path, manifest: dict, staging: Path) -> Path:
    """A copy of exactly what the package ships, with fixed permissions (npm keeps the exec bit it finds)."""
    staging.mkdir(parents=True)
    for name in [*manifest["files"], "package.json"]:
        (staging / name).parent.mkdir(parents=True, exist_ok=True)  # snippets/<crate>-<hash>/...
        shutil.copyfile(package_dir / name, staging / name)
        os.chmod(staging / name, 0o644)
    return staging


def npm_pack(staged: Path, out_dir: Path) -> Path:
    """`npm pack` of a staged package into out_dir. npm writes fixed mtimes and sorts entries, so
    with fixed permissions its tarball depends on the files only (and on npm's own version)."""
    npm = shutil.which("npm")
    if not npm:
        raise StageFailed("npm is needed to pack the npm package", "install Node.js and npm (Debian: nodejs npm)")
    result = process.run(
        [npm, "pack", "--json", "--ignore-scripts", "--pack-destination", out_dir],
        cwd=staged,
        capture=True,
        what="npm pack",
        fix="check the package.json printed above",
    )
    report = json.loads(result.stdout[result.stdout.index("[") :])
    return out_dir / report[0]["filename"]


def tool_version(argv: list[str]) -> str | None:
    return process.output(argv)


# ---------------------------------------------------------------- Python


def python_wheel(
    package_dir: Path, manifest: dict, crate: cargo_lock.CrateManifest, out_dir: Path, epoch: int, commit: str | None
) -> Path:
    """A py3-none-any wheel whose package (the crate's lib name) carries the npm package's files."""
    import_name = crate.lib_name
    meta = wheel.WheelMetadata(
        crate.package_name,
        wheel.pep440_version(crate.version),
        crate.description or f"{crate.package_name} WebAssembly engine",
        crate.license,
    )
    contents = {
        f"{import_name}/__init__.py": (TEMPLATES / "wheel_init.py")
        .read_text()
        .replace("datafusion_wasm", import_name)
        .encode(),
        f"{import_name}/__main__.py": (TEMPLATES / "wheel_main.py").read_bytes(),
    }
    for name in [*manifest["files"], "package.json"]:
        contents[f"{import_name}/dist/{name}"] = (package_dir / name).read_bytes()
    description = (
        f"# {crate.package_name} {crate.version}\n\n{crate.description}\n\n"
        f"The WebAssembly module, its ES-module glue and TypeScript declarations (the npm package "
        f"{manifest['name']}@{manifest['version']}), for Python servers that ship the engine to browsers:\n\n"
        f"    import {import_name}\n    {import_name}.wasm_path(), {import_name}.js_path(), {import_name}.dts_path()\n"
        f"    python -m {import_name} --port 8000 --mount /=site/\n\n"
        f"Built by wasm-qe-toolchain {__version__}" + (f" from commit {commit}" if commit else "") + ".\n"
    )
    return wheel.write_wheel(out_dir, meta, contents, epoch, description)


# ---------------------------------------------------------------- SBOM


def crate_sbom(
    crate: cargo_lock.CrateManifest,
    request: ReleaseRequest,
    shipped: list[sbom.Shipped],
    info: dict,
    epoch: int,
    checkout: Path | None,
) -> dict:
    """The CycloneDX document: the crates of the wasm32 graph (resolved as the gating check does) and the packages."""

    toolchain = rust.find_toolchain()
    metadata = cargo_graph.cargo_metadata(
        toolchain, crate.manifest_path, list(request.features), request.no_default_features
    )
    graph = cargo_graph.graph_from_metadata(metadata, cargo_graph.wasm_target_cfg(toolchain))
    resolution = cargo_graph.resolve_for_wasm(graph, list(request.features), request.no_default_features)
    lock = cargo_lock.find_lock_file(crate.manifest_path)
    checksums = {(p.name, p.version): p.checksum for p in cargo_lock.read_lock(lock) if p.checksum}
    patched: dict[str, str] = {}
    # [patch] counts in the workspace root's manifest (beside Cargo.lock), or the crate's own when it is the root.
    for manifest_path in dict.fromkeys([crate.manifest_path, lock.parent / "Cargo.toml"]):
        if manifest_path.is_file():
            patched |= sbom.patched_crates(tomllib.loads(manifest_path.read_text()), manifest_path.parent, checkout)
    raw_packages = {p["id"]: p for p in metadata["packages"]}
    prepared = {p.name: p for p in patched_crates.prepare_for(crate.manifest_path)}
    crates, refs = sbom.crate_components(resolution, raw_packages, checksums, patched, checkout, prepared)
    root_ref = refs[graph.root]
    root: dict[str, Any] = {
        "type": "library",
        "bom-ref": root_ref,
        "name": crate.package_name,
        "version": crate.version,
        "purl": root_ref,
    }
    if crate.description:
        root["description"] = crate.description
    if crate.license:
        root["licenses"] = sbom.license_entry(crate.license)
    rustc = info.get("rustc", {})
    std = sbom.std_component(toolchain.semver, rustc.get("provider", "")) if rustc.get("build_std") else None
    edges = sbom.dependency_edges(resolution, refs)
    if std:
        edges = [
            {**e, "dependsOn": sorted([*e["dependsOn"], std["bom-ref"]])} if e["ref"] == root_ref else e for e in edges
        ]
    # The shipped packages contain the root crate's module.
    edges += [{"ref": item.purl, "dependsOn": [root_ref]} for item in shipped]
    return sbom.document(root, crates, edges, shipped, std, epoch)


# ---------------------------------------------------------------- publishing


def _same_content(a: Path, b: Path) -> bool:
    names_a = sorted(p.name for p in a.iterdir())
    names_b = sorted(p.name for p in b.iterdir())
    return names_a == names_b and all(cache.file_sha256(a / n) == cache.file_sha256(b / n) for n in names_a)


def publish_release(staging: Path, release_dir: Path, force: bool) -> bool:
    """Moves a complete staging directory to release_dir; returns False if an identical release was there.

    A different existing release is an error unless force: a published version's bytes never change.
    Whatever the umask, the release is readable by others (cache.make_public): the staging
    directory comes from mkdtemp (0700), and uploaders and web servers run as other users.
    """
    cache.make_public(staging)
    if release_dir.exists():
        if _same_content(staging, release_dir):
            shutil.rmtree(staging)
            cache.make_public(release_dir)  # one published by an older toolchain may be 0700
            return False
        if not force:
            raise ToolchainError(
                f"{release_dir} already exists with different content",
                "a released version's bytes must not change: bump the version in the crate's Cargo.toml, "
                "or pass --force to replace it (only if it was never published)",
            )
        old = release_dir.with_name(f".{release_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(release_dir, old)
        os.replace(staging, release_dir)
        shutil.rmtree(old, ignore_errors=True)
        return True
    os.replace(staging, release_dir)
    return True


def git_dirty(checkout: Path) -> bool:
    status = git_output(checkout, "status", "--porcelain", "--untracked-files=no")
    return bool(status)


def make_release(request: ReleaseRequest) -> Release:
    crate = cargo_lock.read_manifest(request.manifest_path)
    manifest = read_package(request.package_dir, crate)
    info = cache.read_json(request.package_dir / BUILD_INFO_NAME)
    if info is None:
        raise ToolchainError(f"no {BUILD_INFO_NAME} in {request.package_dir}", "rebuild with `nox -s build`")
    top = git_output(crate.crate_dir, "rev-parse", "--show-toplevel")
    checkout = Path(top).resolve() if top else None
    epoch = request.source_date_epoch if request.source_date_epoch is not None else source_date_epoch(crate.crate_dir)
    commit = info.get("git_commit")
    head = git_output(crate.crate_dir, "rev-parse", "HEAD")
    if commit != head:
        console.warn(f"the package was built from commit {commit}, HEAD is {head}: rebuild before releasing")
    dirty = checkout is not None and git_dirty(checkout)
    if dirty:
        console.warn(
            f"the working tree has uncommitted changes: this release cannot be reproduced from commit {head} alone"
        )

    release_root = request.release_root.resolve()
    release_dir = release_root / crate.version
    release_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=release_root, prefix=f".{crate.version}.new-"))
    result = Release(release_dir, crate.version)
    try:
        with console.stage(f"npm pack {crate.package_name}@{crate.version}"):
            with tempfile.TemporaryDirectory(prefix="npm-stage-") as tmp:
                tarball = npm_pack(stage_npm_package(request.package_dir, manifest, Path(tmp) / "package"), staging)
            console.info(f"{tarball.name}: {tarball.stat().st_size} bytes")
        with console.stage("Python wheel"):
            wheel_file = python_wheel(request.package_dir, manifest, crate, staging, epoch, commit)
            console.info(f"{wheel_file.name}: {wheel_file.stat().st_size} bytes")
        shipped = [
            sbom.Shipped(
                manifest["name"],
                crate.version,
                f"pkg:npm/{manifest['name']}@{crate.version}",
                cache.file_sha256(tarball),
                "the npm package (ES module glue, .wasm, .d.ts)",
            ),
            sbom.Shipped(
                crate.package_name,
                wheel.pep440_version(crate.version),
                f"pkg:pypi/{crate.package_name}@{wheel.pep440_version(crate.version)}",
                cache.file_sha256(wheel_file),
                "the Python wheel carrying the same files",
            ),
        ]
        with console.stage("SBOM (CycloneDX, the wasm32 crate graph)"):
            bom = crate_sbom(crate, request, shipped, info, epoch, checkout)
            sbom_file = staging / f"{crate.package_name}-{crate.version}.cdx.json"
            sbom_file.write_text(json.dumps(bom, indent=2) + "\n")
            console.info(f"{len(bom['components'])} components")
        release_info = {
            **info,
            "release": {
                "version": crate.version,
                "python_version": wheel.pep440_version(crate.version),
                "source_date_epoch": epoch,
                "git_dirty": dirty,
                "npm": tool_version(["npm", "--version"]),
                "node": tool_version(["node", "--version"]),
                "files": {"npm": tarball.name, "wheel": wheel_file.name, "sbom": sbom_file.name},
            },
        }
        (staging / BUILD_INFO_NAME).write_text(json.dumps(release_info, indent=2) + "\n")
        names = [tarball.name, wheel_file.name, sbom_file.name, BUILD_INFO_NAME]
        (staging / SUMS_NAME).write_text(sha256sums_text(staging, names))
        problems = verify_sha256sums(staging / SUMS_NAME)
        if problems:
            raise StageFailed("the fresh SHA256SUMS does not verify: " + "; ".join(problems), "report this as a bug")
        result.unchanged = not publish_release(staging, release_dir, request.force)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    roles = {
        "npm": tarball.name,
        "wheel": wheel_file.name,
        "sbom": sbom_file.name,
        "build-info": BUILD_INFO_NAME,
        "sums": SUMS_NAME,
    }
    result.files = {role: release_dir / name for role, name in roles.items()}
    return result


def format_release(release: Release) -> str:
    lines = [
        f"release {release.version} in {release.directory}"
        + (" (unchanged: identical release already there)" if release.unchanged else "")
    ]
    for role, path in release.files.items():
        lines.append(f"  {role:10} {path.name:45} {path.stat().st_size:>12,} bytes")
    return "\n".join(lines)


def summary_markdown(release: Release) -> str:
    """The release as a Markdown table (appended to $GITHUB_STEP_SUMMARY in CI)."""
    rows = [
        f"| `{path.name}` | {path.stat().st_size:,} | `{cache.file_sha256(path)[:16]}…` |"
        for role, path in release.files.items()
        if role != "sums"
    ]
    return "\n".join(
        [f"### Release {release.version}", "", "| file | bytes | sha256 |", "| --- | ---: | --- |", *rows, ""]
    )


def run_sha256sum_check(release_dir: Path) -> process.Completed:
    """`sha256sum -c SHA256SUMS` in the release directory (coreutils), as a user would verify it."""
    return process.run(
        ["sha256sum", "--strict", "-c", SUMS_NAME], cwd=release_dir, capture=True, check=False, show=False
    )


def verify_wheel(path: Path) -> list[str]:
    """Every entry of the wheel has the hash and size its RECORD says, and RECORD lists every entry."""
    import base64
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path.name}: not a zip archive ({exc})"]
    with archive:
        records = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            return [f"{path.name}: expected one .dist-info/RECORD, found {records}"]
        listed = {}
        try:
            for row in archive.read(records[0]).decode().splitlines():
                name, digest, size = row.rsplit(",", 2)
                listed[name] = (digest, size)
        except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
            return [f"{path.name}: its RECORD cannot be read ({exc})"]
        problems = []
        for name in archive.namelist():
            if name == records[0]:
                continue
            if name not in listed:
                problems.append(f"{path.name}: {name} is not in RECORD")
                continue
            try:
                data = archive.read(name)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a corrupted member (CRC, deflate)
                problems.append(f"{path.name}: {name} cannot be read ({exc})")
                continue
            digest = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if listed[name] != (digest, str(len(data))):
                problems.append(f"{path.name}: {name} does not match its RECORD entry")
        problems += [
            f"{path.name}: RECORD lists {n}, which is not in the archive"
            for n in listed
            if n != records[0] and n not in archive.namelist()
        ]
        return problems


def verify_tarball(path: Path, name: str, version: str) -> list[str]:
    import tarfile

    try:
        with tarfile.open(path, "r:gz") as archive:
            member = archive.extractfile("package/package.json")
            manifest = json.loads(member.read()) if member else {}
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        return [f"{path.name}: not an npm package tarball ({exc})"]
    if (manifest.get("name"), manifest.get("version")) != (name, version):
        return [
            f"{path.name}: package.json says {manifest.get('name')}@{manifest.get('version')}, expected {name}@{version}"
        ]
    return []


def verify_release(release_dir: Path) -> list[str]:
    """Problems with a published release directory (empty: it verifies)."""
    sums = release_dir / SUMS_NAME
    if not sums.is_file():
        return [f"no {SUMS_NAME} in {release_dir}"]
    problems = verify_sha256sums(sums)
    if not problems and shutil.which("sha256sum"):
        checked = run_sha256sum_check(release_dir)
        if checked.returncode != 0:
            problems.append(f"sha256sum -c {SUMS_NAME} fails: {(checked.stderr or checked.stdout).strip()}")
    info = cache.read_json(release_dir / BUILD_INFO_NAME) or {}
    files = info.get("release", {}).get("files", {})
    if not files:
        return [*problems, f"{release_dir / BUILD_INFO_NAME} has no release.files section"]
    for name in files.values():
        if name not in (sums.read_text()):
            problems.append(f"{name} is not covered by {SUMS_NAME}")
    if (release_dir / files["wheel"]).is_file():
        problems += verify_wheel(release_dir / files["wheel"])
    if (release_dir / files["npm"]).is_file():
        problems += verify_tarball(release_dir / files["npm"], info["crate"]["name"], info["release"]["version"])
    return problems
