"""The wasm-bindgen CLI, always at exactly the version of the wasm-bindgen crate in Cargo.lock.

The generated JS glue and the wasm-bindgen crate speak a private protocol that changes between
releases, so the CLI version is derived from the lock file and installed per version into the
tool cache; a different version is never used.

A `wasm-bindgen-cli` wheel installed in the running Python environment (built by
`python -m toolchain toolchain-wheels build`, installed from a package index) comes first:
that is how air-gapped CI provides it. A wheel of another version is refused unless the locked
version can be had without a `cargo install`: from the tool cache, or as a wheel of exactly that
version in WASM_TOOLCHAIN_WHEELS (a directory, or `index`: pip's configured index), which is
extracted into the tool cache. `nox -s toolchain_wheels -- --wasm-bindgen VERSION` builds such a
wheel once for a team; only without one does provisioning fall back to `cargo install` (5-10 min).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from toolchain.core import cache, console, installed_wheels, process
from toolchain.core.errors import MissingTool, StageFailed, WrongVersion


@dataclass(frozen=True)
class WasmBindgen:
    executable: Path
    version: str
    provider: str

    @property
    def test_runner(self) -> Path:
        return self.executable.with_name("wasm-bindgen-test-runner")


def cached_install_dir(version: str) -> Path:
    return cache.tools_dir() / f"wasm-bindgen-cli-{version}"


def reported_version(executable: Path) -> str | None:
    out = process.output([executable, "--version"])
    if not out:
        return None
    match = re.search(r"wasm-bindgen (\S+)", out)
    return match.group(1) if match else None


WHEEL_PROVIDER = "wheel (pip)"


def installed_wheel(version: str) -> Path | None:
    """The CLI from an installed wasm-bindgen-cli wheel, or None; a wheel of another version is an error.

    The wheel is the deliberate choice of whoever set up the environment, so a mismatch is
    reported rather than silently replaced by another install."""
    wheel = installed_wheels.installed_executable(installed_wheels.WASM_BINDGEN_WHEEL, "wasm-bindgen")
    if wheel is None:
        return None
    if wheel.version != version:
        raise WrongVersion(
            f"the {installed_wheels.WASM_BINDGEN_WHEEL} wheel installed in this Python environment "
            f"({wheel.executable}) is {wheel.version}, but Cargo.lock asks for wasm-bindgen {version}",
            f"install the matching wheel (`pip install {installed_wheels.WASM_BINDGEN_WHEEL}=={version}`; "
            "`python -m toolchain toolchain-wheels build` builds it from packaging/wasm-bindgen-cli once its "
            f"version is {version}), or `pip uninstall {installed_wheels.WASM_BINDGEN_WHEEL}` to use cargo install",
        )
    return wheel.executable


CACHE_PROVIDER = "cargo install into the tool cache"
WHEEL_CACHE_PROVIDER = "wheel, extracted into the tool cache"
# Beside bin/ in a cached install that came from a wheel: which wheel, from where.
WHEEL_PROVENANCE = "wheel.json"


def cached_provider(version: str) -> str:
    """How the CLI in the tool cache got there: extracted from a wheel, or cargo install."""
    return WHEEL_CACHE_PROVIDER if (cached_install_dir(version) / WHEEL_PROVENANCE).is_file() else CACHE_PROVIDER


def _candidates(version: str) -> tuple[list[tuple[Path, str]], WrongVersion | None]:
    """Where a CLI of `version` may be, in order, and the refusal of an installed wheel of another
    version (raised by the caller only when no CLI of `version` can be had without cargo install)."""
    candidates = []
    mismatch = None
    try:
        wheel = installed_wheel(version)
    except WrongVersion as exc:
        wheel, mismatch = None, exc
    if wheel:
        candidates.append((wheel, WHEEL_PROVIDER))
    candidates.append((cached_install_dir(version) / "bin" / "wasm-bindgen", CACHE_PROVIDER))
    on_path = shutil.which("wasm-bindgen")
    if on_path:
        candidates.append((Path(on_path), "PATH"))
    return candidates, mismatch


def damaged_install(version: str) -> str | None:
    """What is wrong with the cargo install of `version` in the tool cache; None when it is
    absent or intact. A damaged one is reinstalled by ensure() instead of failing every build."""
    root = cached_install_dir(version)
    if not root.exists():
        return None
    # Every file (wasm-bindgen-test-runner too) against the sha256 and size recorded at install.
    problem = cache.install_problem(root)
    if problem:
        return problem
    executable = root / "bin" / "wasm-bindgen"
    if not executable.is_file():
        return "bin/wasm-bindgen is missing"
    if not os.access(executable, os.X_OK):
        return "bin/wasm-bindgen is not executable"
    if process.output([executable, "--version"]) is None:
        return "`bin/wasm-bindgen --version` fails"
    return None


def _find(version: str) -> tuple[WasmBindgen | None, list[str], WrongVersion | None]:
    notes = []
    candidates, mismatch = _candidates(version)
    for executable, provider in candidates:
        if not executable.exists() and provider != CACHE_PROVIDER:
            continue
        if provider == CACHE_PROVIDER:
            problem = damaged_install(version)
            if problem:
                notes.append(f"{cached_install_dir(version)} is damaged: {problem}")
                continue
            if not executable.exists():
                continue
            provider = cached_provider(version)
        found = reported_version(executable)
        if found == version:
            return WasmBindgen(executable, version, provider), notes, mismatch
        if provider == WHEEL_PROVIDER:
            raise WrongVersion(
                f"{executable}, from the {installed_wheels.WASM_BINDGEN_WHEEL} {version} wheel, "
                f"reports wasm-bindgen {found}",
                "rebuild the wheel from packaging/wasm-bindgen-cli",
            )
        notes.append(f"{executable} is wasm-bindgen {found}, not {version}")
    return None, notes, mismatch


def find(version: str) -> tuple[WasmBindgen | None, list[str]]:
    """An installed wasm-bindgen CLI of exactly `version`, and notes on the ones that are not.

    An installed wheel of another version is an error unless the tool cache has `version`."""
    found, notes, mismatch = _find(version)
    if found is None and mismatch is not None:
        raise mismatch
    return found, notes


# ---------------------------------------------------------------- a wheel of the locked version

WHEELS_ENV = "WASM_TOOLCHAIN_WHEELS"
INDEX = "index"


def wheel_source() -> str | None:
    """WASM_TOOLCHAIN_WHEELS: a directory of built toolchain wheels, `index` (pip's configured
    index), or None. The noxfile installs the pinned wheels from it; this module looks there for
    a wheel of whichever version a crate's Cargo.lock asks for."""
    return os.environ.get(WHEELS_ENV, "").strip() or None


def describe_source(source: str | None) -> str:
    if source is None:
        return f"no wheel source ({WHEELS_ENV} is unset)"
    if source == INDEX:
        return "pip's configured index"
    return str(Path(source).resolve())


def _platform_fits(tag: str) -> bool:
    # A wheel's platform tag may be a compressed set (a.b); `any` runs anywhere. Ours are tagged
    # linux_<machine> (maturin's PEP 517 build); an index may hold manylinux_2_17_<machine> ones.
    machine = platform.machine()
    system = {"darwin": "macosx", "win32": "win"}.get(sys.platform, sys.platform)
    return any(t == "any" or (t.endswith(f"_{machine}") and system in t) for t in tag.split("."))


def wheel_version(path: Path) -> tuple[str, str] | None:
    """(normalized distribution name, version) from a wheel's file name; None for a non-wheel
    or a wheel for another platform."""
    parts = path.name[: -len(".whl")].split("-") if path.name.endswith(".whl") else []
    if len(parts) not in (5, 6) or not _platform_fits(parts[-1]):
        return None
    return parts[0].lower().replace("-", "_").replace(".", "_"), parts[1]


def wheels_in_dir(directory: Path, version: str) -> list[Path]:
    """The wasm-bindgen-cli wheels of exactly `version` in `directory` (0.2.13 never matches
    0.2.130: the version is compared whole)."""
    wanted = (installed_wheels.WASM_BINDGEN_WHEEL.replace("-", "_"), version)
    return [p for p in sorted(directory.glob("*.whl")) if wheel_version(p) == wanted]


def _download_from_index(version: str, into: Path) -> Path | None:
    """pip download of wasm-bindgen-cli==version (a wheel, never an sdist: that would be the same
    cargo build); None when the index has none."""
    spec = f"{installed_wheels.WASM_BINDGEN_WHEEL}=={version}"
    argv = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--dest", into, spec]
    if process.output(argv, timeout=600) is None:
        return None
    found = wheels_in_dir(into, version)
    return found[0] if found else None


def _wheel_metadata(archive: zipfile.ZipFile) -> tuple[str, str]:
    names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if len(names) != 1:
        raise StageFailed(f"{archive.filename} has {len(names)} .dist-info/METADATA files", "rebuild the wheel")
    headers = HeaderParser().parsestr(archive.read(names[0]).decode())
    return headers.get("Name", ""), headers.get("Version", "")


def extract_wheel(wheel: Path, version: str, source: str) -> Path:
    """The CLI's executables from `wheel` into the tool cache (bin/, atomically, with an install
    record like a cargo install); a wheel whose metadata names another version is refused."""
    final = cached_install_dir(version)

    def populate(root: Path) -> None:
        with zipfile.ZipFile(wheel) as archive:
            name, found = _wheel_metadata(archive)
            if name.lower() != installed_wheels.WASM_BINDGEN_WHEEL or found != version:
                raise WrongVersion(
                    f"{wheel} is {name} {found}, not {installed_wheels.WASM_BINDGEN_WHEEL} {version}",
                    f"remove it from {source}, or rebuild it: `nox -s toolchain_wheels -- --wasm-bindgen {version}`",
                )
            scripts = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.data/scripts/[^/]+", n)]
            (root / "bin").mkdir()
            for member in scripts:
                target = root / "bin" / member.rsplit("/", 1)[1]
                target.write_bytes(archive.read(member))
                target.chmod(0o755)
        if not (root / "bin" / "wasm-bindgen").is_file():
            raise StageFailed(f"{wheel} holds no wasm-bindgen executable ({{name}}.data/scripts/)", "rebuild the wheel")
        provenance = {"wheel": wheel.name, "sha256": cache.file_sha256(wheel), "from": source}
        cache.write_json_atomic(root / WHEEL_PROVENANCE, provenance)

    with console.stage(f"install wasm-bindgen-cli {version} from the wheel {wheel.name}"):
        cache.install_dir_atomically(final, populate, record=True)
    return final


def install_from_wheel(version: str, source: str | None) -> WasmBindgen | None:
    """The CLI of `version` from a wheel in `source` (a directory or `index`), extracted into the
    tool cache; None when the source has no wheel of that version."""
    if source is None:
        return None
    with tempfile.TemporaryDirectory(prefix="wasm-bindgen-wheel-") as tmp:
        if source == INDEX:
            wheel = _download_from_index(version, Path(tmp))
        else:
            directory = Path(source)
            if not directory.is_dir():
                console.warn(
                    f"{WHEELS_ENV}={source}: no such directory; no wheel of wasm-bindgen-cli {version} from it"
                )
                return None
            found = wheels_in_dir(directory, version)
            wheel = found[0] if found else None
        if wheel is None:
            return None
        extract_wheel(wheel, version, describe_source(source))
    found_cli, notes, _ = _find(version)
    if found_cli is None or found_cli.provider != WHEEL_CACHE_PROVIDER:
        raise WrongVersion(
            f"the wasm-bindgen CLI from the {version} wheel does not report that version: {notes}",
            f"delete {cached_install_dir(version)} and rebuild the wheel "
            f"(`nox -s toolchain_wheels -- --wasm-bindgen {version}`)",
        )
    return found_cli


# ---------------------------------------------------------------- cached versions (doctor)


@dataclass(frozen=True)
class CachedCli:
    version: str
    executable: Path
    provider: str  # "cargo install", or "wheel FILE (from DIR or index)"
    problem: str | None  # None: intact


def cached_versions() -> list[CachedCli]:
    """Every wasm-bindgen CLI in the tool cache, by version: where, from what, intact or not."""
    found = []
    prefix = "wasm-bindgen-cli-"
    root = cache.tools_dir()
    entries = sorted(root.glob(f"{prefix}*")) if root.is_dir() else []
    for entry in entries:
        if not entry.is_dir():
            continue
        version = entry.name[len(prefix) :]
        problem = damaged_install(version)
        if problem is None and reported_version(entry / "bin" / "wasm-bindgen") != version:
            problem = f"bin/wasm-bindgen does not report {version}"
        provider = "cargo install"
        provenance = cache.read_json(entry / WHEEL_PROVENANCE)
        if isinstance(provenance, dict):
            provider = f"wheel {provenance.get('wheel')} (from {provenance.get('from')})"
        found.append(CachedCli(version, entry / "bin" / "wasm-bindgen", provider, problem))
    return sorted(found, key=lambda c: _version_key(c.version))


def _version_key(version: str) -> tuple:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+-]", version))


def host_cargo() -> str:
    cargo = shutil.which("cargo") or ("/usr/bin/cargo" if Path("/usr/bin/cargo").exists() else None)
    if not cargo:
        raise MissingTool("no cargo to install wasm-bindgen-cli with", "install Rust (rustup or Debian cargo)")
    return cargo


def install(version: str) -> WasmBindgen:
    """cargo install wasm-bindgen-cli at `version` into the tool cache (atomically)."""
    cargo = host_cargo()
    final = cached_install_dir(version)

    def populate(root: Path) -> None:
        base = [cargo, "install", "wasm-bindgen-cli", "--version", f"={version}", "--root", root, "--no-track"]
        env = {"CARGO_TARGET_DIR": str(cache.cache_root() / "cargo-install-target")}
        try:
            process.run([*base, "--locked"], what=f"installing wasm-bindgen-cli {version}", fix="", env=env)
        except StageFailed:
            # The CLI's own Cargo.lock can name a dependency version the registry no longer
            # serves (yanked, or a mirror that lags); resolve afresh rather than give up.
            console.warn(f"`cargo install --locked` of wasm-bindgen-cli {version} failed; retrying without --locked")
            process.run(
                base,
                what=f"installing wasm-bindgen-cli {version}",
                fix="check that crates.io (or your registry mirror) is reachable and has wasm-bindgen-cli "
                f"{version}; then run `nox -s doctor -- --install`",
                env=env,
            )

    with console.stage(f"install wasm-bindgen-cli {version}"):
        cache.install_dir_atomically(final, populate, record=True)
    found, notes = find(version)
    if found is None:
        raise WrongVersion(
            f"installed wasm-bindgen-cli {version} but it does not report that version: {notes}",
            f"delete {final} and retry",
        )
    return found


# What a cargo install of the CLI costs here (issue 19: 300-620 s per version on 2 cores).
CARGO_INSTALL_ESTIMATE = "about 5-10 min on 2 cores"


def _cargo_install_notice(version: str, source: str | None) -> str:
    """One line before a cargo install: why, how long, and how to avoid it next time."""
    why = f"no cached wasm-bindgen CLI {version} in {cached_install_dir(version)}"
    if source is None:
        why += f", and no wheel source ({WHEELS_ENV} is unset)"
    else:
        why += f", and no wasm-bindgen-cli {version} wheel in {describe_source(source)}"
    return (
        f"{why}: cargo install wasm-bindgen-cli {version} now ({CARGO_INSTALL_ESTIMATE}). To skip this on "
        f"other machines, build the wheel once (`nox -s toolchain_wheels -- --wasm-bindgen {version}`) and "
        f"point {WHEELS_ENV} at its directory or at your index (`index`)"
    )


def ensure(version: str, install_missing: bool = True) -> WasmBindgen:
    found, notes, mismatch = _find(version)
    if found:
        return found
    problem = damaged_install(version)
    if problem and install_missing:
        console.warn(f"the wasm-bindgen CLI {version} in the tool cache is damaged ({problem}): reinstalling it")
    if not install_missing:
        if mismatch is not None:
            raise mismatch
        detail = ("; ".join(notes) + ". ") if notes else ""
        raise MissingTool(
            f"wasm-bindgen CLI {version} (the version of the wasm-bindgen crate in Cargo.lock) is not installed. {detail}",
            "run `nox -s doctor -- --install` (it extracts a wasm-bindgen-cli "
            f"{version} wheel from {WHEELS_ENV} if there is one, else runs cargo install wasm-bindgen-cli "
            f"--version ={version} into {cached_install_dir(version)})",
        )
    source = wheel_source()
    from_wheel = install_from_wheel(version, source)
    if from_wheel:
        return from_wheel
    if mismatch is not None:
        # The installed wheel was someone's deliberate choice: not silently replaced by a build.
        raise WrongVersion(
            mismatch.what,
            f"{mismatch.fix}; or put a wasm-bindgen-cli {version} wheel in {WHEELS_ENV} "
            f"(`nox -s toolchain_wheels -- --wasm-bindgen {version}`)",
        )
    console.info(_cargo_install_notice(version, source))
    return install(version)


def generate(bindgen: WasmBindgen, input_wasm: Path, out_dir: Path, out_name: str) -> None:
    """JS glue for the web (ES module + .d.ts) beside a processed .wasm."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    process.run(
        [
            bindgen.executable,
            input_wasm,
            "--out-dir",
            out_dir,
            "--out-name",
            out_name,
            "--target",
            "web",
            "--typescript",
        ],
        what="wasm-bindgen",
        fix="the .wasm must come from a crate that uses the wasm-bindgen crate at the same version "
        f"({bindgen.version}); read the error above",
    )
