"""Toolchain wheels: the wasm-bindgen CLI and binaryen's wasm-opt as Python wheels.

Release engineers' air-gapped CI installs its whole toolchain from an internal Python package
index; these wheels put the two non-Python tools there. Each recipe in packaging/<name>/ is a
pyproject.toml for a PEP 517 backend (maturin with `bindings = "bin"` for the Rust CLI,
scikit-build-core for the CMake build of binaryen) plus a `[tool.wasm-qe-toolchain.source]`
table naming the crates.io crate whose sources it builds, pinned by version and sha256.

Stages, each a function with explicit inputs and outputs:
  crate_archive   the .crate from the registry (cargo downloads it), checksum-verified
  stage_sources   recipe + extracted sources in one directory (the wheel's source tree)
  build_wheel     `pip wheel` on that tree, cached in the tool cache by recipe hash + version
  publish         the wheels and a manifest into artifacts/toolchain-wheels/, atomically

Sources are never committed: the recipe pins them, the registry serves them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from toolchain.core import cache, console, process
from toolchain.core.errors import MissingTool, StageFailed, ToolchainError
from toolchain.release import sbom
from toolchain.release import wheel as wheel_format

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGING_DIR = REPO_ROOT / "packaging"
DEFAULT_OUT = Path("artifacts") / "toolchain-wheels"
MANIFEST_NAME = "toolchain-wheels.json"
# Bump when the way wheels are staged or built changes, so cached wheels are rebuilt.
BUILDER_VERSION = 3
# How a wheel names its staged source tree (the real one lies under the machine's cache root).
STAGED_SOURCE_PLACEHOLDER = "/wheel-build/src"
WHEEL_SOURCE_DATE_EPOCH = 315532800  # 1980-01-01T00:00:00Z

# The wheels' names and how an installed one is found live in the tools layer
# (installed_wheels), which the tool modules import without the builder above them.
from toolchain.core.installed_wheels import (  # noqa: E402,F401  (re-exported)
    WASM_BINDGEN_WHEEL,
    WASM_OPT_WHEEL,
    InstalledWheel,
    installed_executable,
    read_dist_info,
)

# ---------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    name: str  # the wheel's distribution name
    directory: Path  # packaging/<name>
    version: str  # the wheel's version
    backend: str  # the PEP 517 build backend
    crate: str  # crates.io crate the sources come from
    crate_version: str
    sha256: str  # of the .crate file
    subdir: str | None  # the part of the crate the recipe builds (None: all of it, staged as crate/)
    tool_version: str  # what the executable reports (wasm-bindgen 0.2.130, binaryen 116)
    executables: tuple[str, ...]
    lock_file: str | None = None  # a Cargo.lock of the recipe that replaces the crate's published one
    # The crate's published lock, with what the registry no longer serves moved (resolve_published_lock):
    # set by the recipes derived for other wasm-bindgen versions, which have no lock of their own.
    resolve_lock: bool = False

    @property
    def staged_source_dir(self) -> str:
        return self.subdir or "crate"


def load_recipe(directory: Path) -> Recipe:
    """A recipe from its pyproject.toml; a missing or malformed pin is an error, never a guess."""
    pyproject = directory / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ToolchainError(f"cannot read the wheel recipe {pyproject}: {exc}", "restore it from git") from None
    try:
        source = data["tool"]["wasm-qe-toolchain"]["source"]
        return Recipe(
            name=data["project"]["name"],
            directory=directory,
            version=data["project"]["version"],
            backend=data["build-system"]["build-backend"],
            crate=source["crate"],
            crate_version=source["version"],
            sha256=source["sha256"],
            subdir=source.get("subdir"),
            tool_version=source["tool-version"],
            executables=tuple(source["executables"]),
            lock_file=source.get("lock-file"),
            resolve_lock=bool(source.get("resolve-lock", False)),
        )
    except KeyError as exc:
        raise ToolchainError(
            f"wheel recipe {pyproject} lacks {exc}",
            "it needs [project] name/version, [build-system] build-backend and "
            "[tool.wasm-qe-toolchain.source] crate/version/sha256/tool-version/executables",
        ) from None


def all_recipes(packaging_dir: Path = PACKAGING_DIR) -> dict[str, Recipe]:
    recipes = [load_recipe(p.parent) for p in sorted(packaging_dir.glob("*/pyproject.toml"))]
    return {r.name: r for r in recipes}


def recipe_files(recipe: Recipe) -> dict[str, str]:
    """sha256 of every file of the recipe, by relative path (what the cache key covers)."""
    return {
        str(path.relative_to(recipe.directory)): cache.file_sha256(path)
        for path in sorted(recipe.directory.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def recipe_key(recipe: Recipe) -> str:
    """Same recipe, same sources, same kind of machine: the same wheel, so it is built once."""
    return cache.cache_key(
        builder=BUILDER_VERSION,
        files=recipe_files(recipe),
        crate=[recipe.crate, recipe.crate_version, recipe.sha256],
        machine=[sys.platform, platform.machine()],
    )[:16]


def check_wasm_bindgen_recipe(recipe: Recipe, locked_version: str) -> None:
    """The wasm-bindgen wheel is useless at any version but the one Cargo.lock asks for."""
    if recipe.version != locked_version or recipe.crate_version != locked_version:
        raise ToolchainError(
            f"the {recipe.name} wheel recipe pins {recipe.crate_version}, but Cargo.lock asks for "
            f"wasm-bindgen {locked_version}",
            f"in {recipe.directory / 'pyproject.toml'} set [project] version and [tool.wasm-qe-toolchain.source] "
            f"version to {locked_version} and sha256 to the checksum crates.io lists for wasm-bindgen-cli "
            f"{locked_version} (`cargo fetch` records it in Cargo.lock files that depend on it)",
        )


def _derived_pyproject(pinned: Recipe, version: str, sha256: str) -> str:
    """The committed wasm-bindgen-cli recipe rewritten for another version: the versions, the
    checksum, and the crate's own published Cargo.lock (the committed lock-file is for the pinned
    version only). Comments are dropped: they describe the pinned version."""
    lines = [
        f"# Derived from packaging/{pinned.directory.name}/pyproject.toml ({pinned.version}) by",
        f"# `python -m toolchain toolchain-wheels build --wasm-bindgen {version}`. sha256 is that of the",
        "# .crate cargo downloaded (cargo checks it against the registry index).",
    ]
    for line in (pinned.directory / "pyproject.toml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(("#", "lock-file")):
            continue
        if stripped.startswith(("version =", "tool-version =")):
            line = line.replace(f'"{pinned.version}"', f'"{version}"').replace(
                f'"{pinned.tool_version}"', f'"{version}"'
            )
        elif stripped.startswith("description ="):
            line = line.replace(pinned.version, version)
        elif stripped.startswith("sha256 ="):
            line = f'sha256 = "{sha256}"'
        lines.append(line)
        if stripped == "[tool.wasm-qe-toolchain.source]":
            lines.append("resolve-lock = true")
    return "\n".join(lines) + "\n"


VERSION_PATTERN = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?")


def wasm_bindgen_recipe(version: str, recipes: dict[str, Recipe] | None = None) -> Recipe:
    """The wasm-bindgen-cli recipe for `version`: the committed one when it pins that version,
    else one derived from it into the cache (the same build, another crate version), so a team
    can build the CLI wheel of whatever version its crates lock."""
    recipes = recipes if recipes is not None else all_recipes()
    pinned = recipes.get(WASM_BINDGEN_WHEEL)
    if pinned is None:
        raise ToolchainError(f"no {WASM_BINDGEN_WHEEL} recipe under {PACKAGING_DIR}", "restore it from git")
    if version == pinned.version:
        return pinned
    if not VERSION_PATTERN.fullmatch(version):
        raise ToolchainError(
            f"--wasm-bindgen {version!r} is not a version", "give it as in Cargo.lock, e.g. --wasm-bindgen 0.2.100"
        )
    archive = crate_archive(pinned.crate, version, sha256=None)
    # Beside the wheels' build directories: written again whenever it is needed, so cleaning
    # that area loses nothing.
    directory = cache.cache_root() / "toolchain-wheel-work" / f"recipe-{WASM_BINDGEN_WHEEL}-{version}"
    text = _derived_pyproject(pinned, version, cache.file_sha256(archive))
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file() or pyproject.read_text() != text:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / ".pyproject.toml.tmp"
        tmp.write_text(text)
        os.replace(tmp, pyproject)
    recipe = load_recipe(directory)
    if (recipe.version, recipe.crate_version, recipe.tool_version) != (version, version, version):
        raise ToolchainError(
            f"the recipe derived for wasm-bindgen-cli {version} in {directory} says "
            f"{recipe.version}/{recipe.crate_version}/{recipe.tool_version}",
            f"compare {pinned.directory / 'pyproject.toml'} with it; this is a bug in the derivation",
        )
    return recipe


# ---------------------------------------------------------------- stage: sources from the registry


def cargo_home() -> Path:
    return Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")


def _cached_crate(crate: str, version: str) -> Path | None:
    # cargo keeps every downloaded .crate under registry/cache/<registry>/, verified against the
    # registry index's checksum when it was downloaded (and again by us below).
    for candidate in sorted((cargo_home() / "registry" / "cache").glob(f"*/{crate}-{version}.crate")):
        return candidate
    return None


def _cargo_fetch(crate: str, version: str) -> None:
    """Makes cargo download `crate` at exactly `version` from the registry (the only way in)."""
    cargo = shutil.which("cargo") or "/usr/bin/cargo"
    with tempfile.TemporaryDirectory(prefix="toolchain-wheel-fetch-") as tmp:
        project = Path(tmp)
        (project / "src").mkdir()
        (project / "src" / "lib.rs").write_text("")
        (project / "Cargo.toml").write_text(
            '[package]\nname = "toolchain-wheel-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n'
            f'[dependencies]\n{crate} = "={version}"\n'
        )
        process.run(
            [cargo, "fetch", "--manifest-path", project / "Cargo.toml"],
            what=f"downloading the {crate} {version} crate",
            fix=f"check that crates.io (or your registry mirror) is reachable and serves {crate} {version}",
        )


def crate_archive(crate: str, version: str, sha256: str | None) -> Path:
    """The .crate file of crate@version from the registry, checked against the pinned sha256
    (None: a derived recipe, which takes the registry's, as cargo verified it)."""
    found = _cached_crate(crate, version)
    if found is None:
        _cargo_fetch(crate, version)
        found = _cached_crate(crate, version)
    if found is None:
        raise StageFailed(
            f"cargo fetched {crate} {version} but its .crate is not under {cargo_home() / 'registry' / 'cache'}",
            "set CARGO_HOME to the cargo home that cargo uses",
        )
    actual = cache.file_sha256(found)
    if sha256 is not None and actual != sha256:
        raise StageFailed(
            f"{found} has sha256 {actual}, but the wheel recipe pins {sha256}: the registry served "
            "different bytes for the same version",
            "do not build from it; delete the file, fetch again, and if the checksum still differs "
            "ask whoever runs the registry mirror",
        )
    return found


def _extract_crate(archive: Path, destination: Path) -> Path:
    """Extracts a .crate (a tar.gz with one top directory) and returns that directory.

    Members keep their recorded mtimes, so a re-staged tree looks unchanged to make/ninja and an
    interrupted build resumes instead of starting over."""
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(destination, filter="data")
    tops = [p for p in destination.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise StageFailed(
            f"{archive} does not hold one top directory: {[p.name for p in tops]}", "delete it and fetch again"
        )
    return tops[0]


def stage_sources(recipe: Recipe, archive: Path, stage_dir: Path) -> Path:
    """The wheel's source tree: the recipe's files, the crate's sources, and SOURCE.json."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    for path in recipe.directory.iterdir():
        if path.is_file():
            shutil.copy2(path, stage_dir / path.name)
    with tempfile.TemporaryDirectory(dir=stage_dir.parent, prefix=".extract-") as tmp:
        top = _extract_crate(archive, Path(tmp))
        source = top / recipe.subdir if recipe.subdir else top
        if not source.is_dir():
            raise StageFailed(
                f"the {recipe.crate} {recipe.crate_version} crate has no {recipe.subdir}/ directory",
                f"the recipe in {recipe.directory} expects it; check the crate version",
            )
        os.replace(source, stage_dir / recipe.staged_source_dir)
    if recipe.lock_file:
        # The recipe's lock differs from the published one only where the registry no longer
        # serves a locked version (see the recipe); the build still runs with --locked against it.
        (stage_dir / recipe.lock_file).unlink()
        shutil.copy2(recipe.directory / recipe.lock_file, stage_dir / recipe.staged_source_dir / "Cargo.lock")
    provenance = {
        "wheel": recipe.name,
        "version": recipe.version,
        "tool_version": recipe.tool_version,
        "crate": recipe.crate,
        "crate_version": recipe.crate_version,
        "crate_sha256": recipe.sha256,
        "crate_subdir": recipe.subdir,
        "cargo_lock": f"{recipe.lock_file} of the recipe (sha256 {cache.file_sha256(recipe.directory / recipe.lock_file)})"
        if recipe.lock_file
        else "the crate's own",
    }
    (stage_dir / "SOURCE.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return stage_dir


def resolve_published_lock(recipe: Recipe, crate_dir: Path) -> None:
    """A crate's published Cargo.lock can name a version the registry no longer serves (0.2.130's
    named webpki-roots 1.0.11; its committed recipe carries a fixed lock). For a derived recipe,
    which has none, cargo moves just those entries, and SOURCE.json says so; the build then
    runs --locked against the result."""
    cargo = shutil.which("cargo") or "/usr/bin/cargo"
    manifest = crate_dir / "Cargo.toml"
    what = f"fetching the dependencies of {recipe.crate} {recipe.crate_version}"
    if process.output([cargo, "fetch", "--locked", "--manifest-path", manifest], timeout=1800) is not None:
        return
    console.warn(
        f"{recipe.crate} {recipe.crate_version}: its published Cargo.lock does not resolve against this "
        "registry (a locked version it no longer serves?): letting cargo update those entries"
    )
    before = (crate_dir / "Cargo.lock").read_text() if (crate_dir / "Cargo.lock").exists() else ""
    process.run(
        [cargo, "fetch", "--manifest-path", manifest],
        what=what,
        fix=f"check that the registry serves {recipe.crate} {recipe.crate_version}'s dependencies; "
        "or provision this version with cargo install (unset WASM_TOOLCHAIN_WHEELS)",
    )
    source = crate_dir.parent / "SOURCE.json"
    provenance = json.loads(source.read_text())
    changed = before != (crate_dir / "Cargo.lock").read_text()
    provenance["cargo_lock"] = (
        "the crate's own, with the entries the registry no longer serves updated by `cargo fetch`"
        if changed
        else "the crate's own"
    )
    source.write_text(json.dumps(provenance, indent=2) + "\n")


# ---------------------------------------------------------------- stage: pip wheel, cached


@dataclass(frozen=True)
class BuiltWheel:
    name: str
    version: str
    path: Path
    sha256: str
    size: int
    build_seconds: float  # of the build that produced it (the cold build, when the cache was empty)
    key: str
    cached: bool  # True when this call reused an earlier build


def cache_entry(recipe: Recipe) -> Path:
    return cache.tools_dir() / "toolchain-wheels" / f"{recipe.name}-{recipe.version}-{recipe_key(recipe)}"


def work_dir(recipe: Recipe) -> Path:
    # Kept between attempts (one per recipe key): an interrupted 20-minute C++ build resumes.
    return cache.cache_root() / "toolchain-wheel-work" / f"{recipe.name}-{recipe_key(recipe)}"


def _cached_wheel(entry: Path) -> BuiltWheel | None:
    info = cache.read_json(entry / "wheel-info.json")
    if not info:
        return None
    path = entry / info["file"]
    if not path.is_file() or cache.file_sha256(path) != info["sha256"]:
        return None
    return BuiltWheel(
        info["name"],
        info["version"],
        path,
        info["sha256"],
        path.stat().st_size,
        info["build_seconds"],
        info["key"],
        cached=True,
    )


def uncached(recipes: list[Recipe] | None = None) -> list[str]:
    """The recipes (all by default) whose wheel is not in the tool cache, intact: each of them
    means a build from source (binaryen: a C++ build of about 40 minutes on 2 cores)."""
    return [
        r.name
        for r in (recipes if recipes is not None else all_recipes().values())
        if _cached_wheel(cache_entry(r)) is None
    ]


def backend_command(recipe: Recipe, stage_dir: Path, wheel_dir: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    """`pip wheel` for the staged tree, and the environment that keeps build outputs in `work`."""
    # -v streams the backend's output (cargo, ninja [n/230]): a long build shows progress.
    argv = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--wheel-dir", str(wheel_dir)]
    # Reproducible bytes: no wall-clock dates in the archive (both backends honour
    # SOURCE_DATE_EPOCH; 1980-01-01 is the zip format's first day, what maturin writes anyway),
    # and no machine path in the binaries (__FILE__ in binaryen's asserts, panic locations).
    env: dict[str, str] = {"SOURCE_DATE_EPOCH": str(WHEEL_SOURCE_DATE_EPOCH)}
    if recipe.backend.startswith("scikit_build_core"):
        cmake_build = work / "cmake-build"
        # A persistent CMake build directory: a repeated build after an interruption is incremental.
        argv += ["--config-settings", f"build-dir={cmake_build}"]
        env["CMAKE_BUILD_PARALLEL_LEVEL"] = str(os.cpu_count() or 1)
        if any(char.isspace() for char in str(work)):
            # CMake passes CFLAGS on split at spaces: such a map would break the build, not the bytes.
            console.warn(
                f"{work} contains whitespace: the {recipe.name} binary will name its build paths "
                "(set WASM_TOOLCHAIN_CACHE to a path without spaces for a reproducible wheel)"
            )
        else:
            prefix_maps = f"-ffile-prefix-map={stage_dir}={STAGED_SOURCE_PLACEHOLDER} -ffile-prefix-map={cmake_build}=/wheel-build/build"
            for variable in ("CFLAGS", "CXXFLAGS"):  # read by CMake's first configure of cmake_build
                env[variable] = " ".join(filter(None, [os.environ.get(variable, ""), prefix_maps]))
    elif recipe.backend.startswith("maturin"):
        target = work / "cargo-target"
        env["CARGO_TARGET_DIR"] = str(target)
        remaps = [
            f"--remap-path-prefix={stage_dir}={STAGED_SOURCE_PLACEHOLDER}",
            f"--remap-path-prefix={cargo_home()}=/cargo-home",
            f"--remap-path-prefix={target}=/wheel-build/target",
        ]
        # The encoded form (0x1f-separated) keeps paths with spaces whole; it also wins over
        # RUSTFLAGS in cargo, so the caller's flags are carried into it.
        if os.environ.get("CARGO_ENCODED_RUSTFLAGS"):
            callers = os.environ["CARGO_ENCODED_RUSTFLAGS"].split("\x1f")
        else:
            callers = os.environ.get("RUSTFLAGS", "").split()
        env["CARGO_ENCODED_RUSTFLAGS"] = "\x1f".join([*callers, *remaps])
    argv.append(str(stage_dir))
    return argv, env


def build_wheel(recipe: Recipe) -> BuiltWheel:
    """The recipe's wheel: from the cache when this recipe was built before, else built now."""
    entry = cache_entry(recipe)
    found = _cached_wheel(entry)
    if found:
        console.info(f"{recipe.name} {recipe.version}: cached wheel {found.path.name}")
        return found
    if entry.exists():
        # Replaced whole by the build below (install_dir_atomically).
        console.warn(
            f"the cached {recipe.name} wheel in {entry} is missing or differs from its recorded sha256: "
            "it is built again"
        )
    if shutil.which("cargo") is None and not Path("/usr/bin/cargo").exists():
        raise MissingTool(
            "cargo is needed to fetch the sources from crates.io (and to build the Rust wheel)",
            "install Rust (rustup or Debian cargo); `nox -s doctor -- --install` provisions it",
        )
    key = recipe_key(recipe)
    archive = crate_archive(recipe.crate, recipe.crate_version, recipe.sha256)
    work = work_dir(recipe)
    stage_dir = stage_sources(recipe, archive, work / "src")
    if recipe.resolve_lock:
        resolve_published_lock(recipe, stage_dir / recipe.staged_source_dir)

    def populate(tmp: Path) -> None:
        argv, env = backend_command(recipe, stage_dir, tmp, work)
        started = time.monotonic()
        process.run(
            argv,
            env=env,
            what=f"building the {recipe.name} wheel",
            fix=f"read the build output above; the recipe is {recipe.directory}",
        )
        seconds = round(time.monotonic() - started, 1)
        wheels = list(tmp.glob("*.whl"))
        if len(wheels) != 1:
            raise StageFailed(
                f"pip wheel left {len(wheels)} wheels for {recipe.name}: {[w.name for w in wheels]}",
                "the recipe must produce exactly one wheel",
            )
        for name in normalize_wheel(wheels[0], stage_dir):
            console.info(f"{wheels[0].name}: {name} made reproducible (no random serial, time or build path)")
        info = {
            "name": recipe.name,
            "version": recipe.version,
            "file": wheels[0].name,
            "sha256": cache.file_sha256(wheels[0]),
            "build_seconds": seconds,
            "key": key,
            "crate": recipe.crate,
            "crate_version": recipe.crate_version,
            "crate_sha256": recipe.sha256,
            "built_with": build_host_tools(recipe),
        }
        cache.write_json_atomic(tmp / "wheel-info.json", info)

    with console.stage(f"build the {recipe.name} {recipe.version} wheel (from {recipe.crate} {recipe.crate_version})"):
        cache.install_dir_atomically(entry, populate)
    # The wheel is cached now; its build tree (150-450 MB) only served to resume an interrupted build.
    shutil.rmtree(work, ignore_errors=True)
    built = _cached_wheel(entry)
    if built is None:
        raise StageFailed(
            f"the {recipe.name} wheel in {entry} is unreadable right after building it", f"delete {entry} and retry"
        )
    return BuiltWheel(**{**asdict(built), "cached": False})


def build_host_tools(recipe: Recipe) -> dict[str, str | None]:
    """The compilers that built a wheel, recorded beside it."""

    def first_line(argv: list[str]) -> str | None:
        lines = (process.output(argv) or "").splitlines()
        return lines[0] if lines else None

    tools: dict[str, str | None] = {"python": sys.version.split()[0]}
    if recipe.backend.startswith("maturin"):
        tools["cargo"] = first_line([shutil.which("cargo") or "cargo", "--version"])
        tools["rustc"] = first_line(["rustc", "--version"])
    else:
        tools["c++"] = first_line(["c++", "--version"])
        tools["cmake"] = first_line(["cmake", "--version"])
    return tools


# ---------------------------------------------------------------- stage: reproducible wheel bytes


def normalized_sbom(data: bytes, stage_dir: Path) -> bytes:
    """A backend's CycloneDX SBOM without what changes from build to build.

    maturin's (cargo-cyclonedx) carries a random serial number, the wall-clock time and the
    absolute path of the staged crate; the rest (the crates, their hashes and edges) is a
    function of the recipe. The timestamp is optional in CycloneDX and dropped; the serial number
    is derived from the content, as in the release SBOM.
    """
    text = data.decode()
    for spelling in {str(stage_dir), str(stage_dir.resolve())}:
        text = text.replace(spelling, STAGED_SOURCE_PLACEHOLDER)
    document = json.loads(text)
    document.pop("serialNumber", None)
    if isinstance(document.get("metadata"), dict):
        document["metadata"].pop("timestamp", None)
    return (json.dumps({"serialNumber": sbom.content_serial(document), **document}, indent=2) + "\n").encode()


def normalize_wheel(wheel: Path, stage_dir: Path) -> list[str]:
    """Rewrites the wheel's SBOMs with `normalized_sbom` (and RECORD to match); the names changed.

    Entry order, dates, modes and compression are kept, so the result depends only on the
    backend's output and this function. A wheel without an SBOM is left untouched.
    """
    with zipfile.ZipFile(wheel) as archive:
        infos = archive.infolist()
        contents = {info.filename: archive.read(info) for info in infos}
    changed = {}
    for name, data in contents.items():
        parts = name.split("/")
        if len(parts) == 3 and parts[0].endswith(".dist-info") and parts[1] == "sboms" and name.endswith(".json"):
            normalized = normalized_sbom(data, stage_dir)
            if normalized != data:
                changed[name] = normalized
    if not changed:
        return []
    contents.update(changed)
    record_name = next((name for name in contents if name.endswith(".dist-info/RECORD")), None)
    if record_name is None:
        raise StageFailed(f"{wheel.name} has no .dist-info/RECORD", "the build backend wrote a broken wheel")
    lines = []
    for line in contents[record_name].decode().splitlines():
        name = line.rsplit(",", 2)[0]
        if name in changed:
            line = f"{name},{wheel_format.record_hash(changed[name])},{len(changed[name])}"
        lines.append(line)
    contents[record_name] = ("\n".join(lines) + "\n").encode()
    rewritten = wheel.with_name(wheel.name + ".normalized")
    with zipfile.ZipFile(rewritten, "w") as archive:
        for info in infos:
            archive.writestr(info, contents[info.filename], compress_type=info.compress_type)
    os.replace(rewritten, wheel)
    return sorted(changed)


# ---------------------------------------------------------------- stage: publish


def _kept_entries(out_dir: Path, wheels: list[BuiltWheel]) -> list[dict]:
    """The entries of out_dir's manifest that `wheels` do not replace (another name or version),
    each with its file intact: a wheel directory collects wasm-bindgen CLI versions over builds."""
    previous = cache.read_json(out_dir / MANIFEST_NAME)
    replaced = {(w.name, w.version) for w in wheels}
    kept = []
    for entry in previous if isinstance(previous, list) else []:
        if not isinstance(entry, dict) or (entry.get("name"), entry.get("version")) in replaced:
            continue
        path = out_dir / str(entry.get("file"))
        if path.is_file() and cache.file_sha256(path) == entry.get("sha256"):
            kept.append(entry)
        else:
            console.warn(f"{path}: missing or not the bytes its manifest records; not kept")
    return kept


def publish(wheels: list[BuiltWheel], out_dir: Path, keep: bool = False) -> Path:
    """The wheels and a manifest (versions, sha256, sizes, build times) into out_dir, atomically.

    keep: the wheels of other names or versions already published there stay (and stay listed)."""
    kept = _kept_entries(out_dir, wheels) if keep else []

    def populate(tmp: Path) -> None:
        for entry in kept:
            shutil.copy2(out_dir / entry["file"], tmp / entry["file"])
        for wheel in wheels:
            shutil.copy2(wheel.path, tmp / wheel.path.name)
        manifest = [
            *kept,
            *(
                {
                    "name": w.name,
                    "version": w.version,
                    "file": w.path.name,
                    "sha256": w.sha256,
                    "size": w.size,
                    "cold_build_seconds": w.build_seconds,
                    "recipe_key": w.key,
                }
                for w in wheels
            ),
        ]
        cache.write_json_atomic(tmp / MANIFEST_NAME, sorted(manifest, key=lambda e: (e["name"], e["version"])))

    # public: mkdtemp/mkstemp make them private; published files are for CI jobs and uploaders to read.
    return cache.install_dir_atomically(out_dir, populate, public=True)


def build(
    names: list[str] | None,
    out_dir: Path,
    locked_wasm_bindgen: str | None = None,
    wasm_bindgen_versions: list[str] | None = None,
) -> list[BuiltWheel]:
    """Builds (or reuses) the named wheels, or all, and publishes them to out_dir, beside the
    wheels of other names or versions already there.

    wasm_bindgen_versions: the wasm-bindgen CLI wheel of each of these versions (the recipe
    derived for it, wasm_bindgen_recipe) instead of all wheels; with names, those too."""
    recipes = all_recipes()
    if not recipes:
        raise ToolchainError(f"no wheel recipes under {PACKAGING_DIR}", "run from a checkout of the toolchain")
    unknown = sorted(set(names or []) - set(recipes))
    if unknown:
        raise ToolchainError(f"no wheel recipe named {', '.join(unknown)}", f"choose from: {', '.join(recipes)}")
    versions = list(dict.fromkeys(wasm_bindgen_versions or []))
    selected = [recipes[n] for n in (names or ([] if versions else recipes))]
    if locked_wasm_bindgen and WASM_BINDGEN_WHEEL in recipes and recipes[WASM_BINDGEN_WHEEL] in selected:
        check_wasm_bindgen_recipe(recipes[WASM_BINDGEN_WHEEL], locked_wasm_bindgen)
    for version in versions:
        recipe = wasm_bindgen_recipe(version, recipes)
        if recipe not in selected:
            selected.append(recipe)
    wheels = [build_wheel(recipe) for recipe in selected]
    publish(wheels, out_dir, keep=True)
    return wheels


def requirements() -> list[str]:
    """Pinned pip requirements for the toolchain wheels, as the recipes define them."""
    return [f"{r.name}=={r.version}" for r in all_recipes().values()]


def format_wheels(wheels: list[BuiltWheel]) -> str:
    from toolchain.analysis import sizes

    lines = [f"{'wheel':<48}  {'size':>9}  {'cold build':>10}  source"]
    for w in wheels:
        lines.append(
            f"{w.path.name:<48}  {sizes.human(w.size):>9}  {w.build_seconds:>9.0f}s  "
            f"{'cache' if w.cached else 'built now'}"
        )
    return "\n".join(lines)
