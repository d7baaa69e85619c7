"""The build pipeline: cargo build -> wasm-bindgen -> wasm-opt -> strip -> a publishable package.

Each stage is a function with explicit inputs and outputs, so it can be run, tested and cached
on its own. Stages after cargo are skipped when their inputs, tool versions and arguments are
unchanged (cargo is incremental by itself), so a rebuild with nothing changed takes seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolchain import __version__
from toolchain.analysis import cargo_lock, cargo_metadata, config, sizes, wasm_module
from toolchain.core import cache, console, process
from toolchain.core.errors import StageFailed, ToolchainError
from toolchain.core.git import checkout_relative, git_commit
from toolchain.core.layout import CARGO, DEFAULT_ARTIFACTS, FINAL, WASM_BINDGEN, WASM_OPT, Layout
from toolchain.core.record import BuildRecord, CrateRecord, StageRecord
from toolchain.pipeline import verify
from toolchain.tools import patched_crates, rust, wasm_bindgen, wasm_opt

# The options and their defaults live in the resolved configuration (analysis/config.py).
DEFAULT_MANIFEST = config.DEFAULT_MANIFEST
DEFAULT_ARTIFACTS = DEFAULT_ARTIFACTS
DEFAULT_WASM_OPT_LEVEL = config.DEFAULT_WASM_OPT_LEVEL
BuildOptions = config.BuildOptions


@dataclass
class BuildResult:
    config: config.Config
    record: BuildRecord

    @property
    def layout(self) -> Layout:
        return self.config.layout

    @property
    def package_dir(self) -> Path:
        return self.layout.package_dir

    @property
    def stages_dir(self) -> Path:
        return self.layout.stages_dir

    @property
    def report(self) -> dict:
        return self.record.size_report

    @property
    def build_info(self) -> dict:
        return self.record.build_info

    @property
    def reused_stages(self) -> list[str]:
        """Stages skipped because nothing changed."""
        return self.record.reused_stages


# ---------------------------------------------------------------- stage: cargo build


def cargo_build_command(
    toolchain: rust.RustToolchain,
    crate: cargo_lock.CrateManifest,
    profile: str,
    features: list[str],
    no_default_features: bool,
) -> list[str]:
    argv = [
        str(toolchain.cargo),
        "build",
        "--locked",
        "--manifest-path",
        str(crate.manifest_path),
        "--target",
        rust.WASM_TARGET,
        "--profile",
        profile,
        "--lib",
        "--message-format",
        "json-render-diagnostics",
        *toolchain.cargo_flags,
        *toolchain.build_std_feature_flags(crate.settings.build_std_features),
        *toolchain.trim_paths_flags(profile),
    ]
    if features:
        argv += ["--features", ",".join(features)]
    if no_default_features:
        argv.append("--no-default-features")
    return argv


def wasm_from_cargo_messages(stdout: str, lib_name: str) -> Path | None:
    """The .wasm file cargo reports for the crate's cdylib in its JSON messages."""
    found = None
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact":
            continue
        target = message.get("target", {})
        if "cdylib" not in target.get("crate_types", []) or target.get("name", "").replace("-", "_") != lib_name:
            continue
        for filename in message.get("filenames", []):
            if filename.endswith(".wasm"):
                found = Path(filename)
    return found


def default_target_dir(crate: cargo_lock.CrateManifest) -> Path:
    return config.default_target_dir(crate.settings)


def lock_file(resolved: config.Config) -> Path:
    """The crate's Cargo.lock (its workspace root's); with --lock, a missing one is generated, and said so.

    Without one, cargo would resolve versions afresh at every build: the generated glue must match
    the locked wasm-bindgen exactly, so builds are --locked and a lock file is required."""
    crate = resolved.crate
    lock_path = (
        crate.workspace_root / "Cargo.lock"
        if crate.workspace_root is not None
        else cargo_lock.find_lock_file(crate.manifest_path)
    )
    if lock_path.is_file():
        return lock_path
    if not resolved.build.lock:
        raise ToolchainError(
            f"no Cargo.lock at {lock_path}: builds use --locked, so that every version (and the wasm-bindgen "
            "CLI matching the glue) is pinned",
            "commit a Cargo.lock (`cargo generate-lockfile` in the crate)"
            + ("" if resolved.environment.ci else ", or pass --lock to generate one now (outside CI)"),
        )
    toolchain = rust.find_toolchain(install=resolved.build.install_missing)
    argv = [str(toolchain.cargo), "generate-lockfile", "--manifest-path", str(crate.manifest_path)]
    console.warn(f"--lock: no Cargo.lock at {lock_path}; generating one (commit it: it pins every version)")
    console.command(argv)
    if process.run(argv, env=rust.build_env(toolchain), check=False).returncode != 0:
        raise ToolchainError(
            f"`cargo generate-lockfile` failed for {crate.manifest_path} (its error is above)",
            "fix what cargo reports (a registry it cannot reach: set up the offline source replacement "
            "described in docs/users.md), or generate the lock file where the registry is reachable",
        )
    console.info(f"wrote {lock_path}")
    return lock_path


def _cargo_build_once(argv: list[str], env: dict[str, str], crate: cargo_lock.CrateManifest) -> Path:
    # Diagnostics and progress go to stderr (shown live); stdout carries the JSON messages.
    result = process.run(argv, env=env, capture="stdout", check=False, show=False)  # cargo_build printed it
    if result.returncode != 0:
        raise StageFailed(
            f"cargo build for {rust.WASM_TARGET} failed (exit {result.returncode}); the compiler's errors are above",
            "fix the Rust errors; if a dependency fails to compile for wasm32 (a C library, a native-only "
            "crate), disable the feature that pulls it in (`nox -s check -- gating` shows the path). "
            "If Cargo.lock is out of date, run `cargo update` in the crate and commit the lock file",
        )
    wasm = wasm_from_cargo_messages(result.stdout, crate.lib_name)
    if wasm is None or not wasm.exists():
        raise StageFailed(
            f"cargo build succeeded but reported no .wasm for the cdylib '{crate.lib_name}'",
            'check that the crate has `[lib] crate-type = ["cdylib"]`',
        )
    return wasm


def cargo_build(
    toolchain: rust.RustToolchain,
    crate: cargo_lock.CrateManifest,
    profile: str,
    target_dir: Path,
    features: list[str] | None = None,
    no_default_features: bool = False,
) -> Path:
    """Compiles the crate for wasm32 into target_dir; returns the cdylib .wasm cargo produced.

    cargo trusts its own fingerprints, so a damaged .wasm in the target directory (a full disk,
    an interrupted copy) would be reported fresh by every later build and fail wasm-bindgen.
    It is checked here: when damaged, the crate's own artifacts are cleaned (`cargo clean -p`,
    the dependencies stay) and it is linked again, once."""
    patched_crates.prepare_for(crate.manifest_path)
    argv = cargo_build_command(toolchain, crate, profile, features or [], no_default_features)
    console.command(argv)
    console.info(f"target dir: {target_dir}")
    env = {**rust.build_env(toolchain), "CARGO_TARGET_DIR": str(target_dir)}
    if crate.settings.rustflags:
        # Appended to the caller's RUSTFLAGS; with build-std they apply to std as well.
        env["RUSTFLAGS"] = " ".join([*os.environ.get("RUSTFLAGS", "").split(), *crate.settings.rustflags])
    wasm = _cargo_build_once(argv, env, crate)
    problem = wasm_module.whole_module_problem(wasm)
    if problem is None:
        return wasm
    clean = [
        str(toolchain.cargo),
        "clean",
        "--manifest-path",
        str(crate.manifest_path),
        "--package",
        crate.package_name,
        "--target",
        rust.WASM_TARGET,
        "--profile",
        profile,
    ]
    console.warn(
        f"cargo's output {wasm} is damaged ({problem}): cleaning {crate.package_name}'s artifacts and building it again"
    )
    console.command(clean)
    fix = (
        f"delete the target directory ({target_dir}) and build again; if it happens again, "
        "check the disk (free space, errors)"
    )
    if process.run(clean, env=env, check=False, show=False).returncode != 0:
        raise StageFailed(f"`cargo clean --package {crate.package_name}` failed after {wasm} was found damaged", fix)
    wasm = _cargo_build_once(argv, env, crate)
    problem = wasm_module.whole_module_problem(wasm)
    if problem:
        raise StageFailed(f"cargo built {wasm} again and it is still not a whole WebAssembly module ({problem})", fix)
    return wasm


# ---------------------------------------------------------------- stage caching


STAGE_STORE_ENTRIES = 12  # entries kept per crate in the shared store (least recently used go first)
STAGE_STORE_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # a cargo package name: one directory level


def stage_store(package: str) -> Path:
    """Content-addressed stage outputs shared by every checkout on the machine (fresh clones, CI),
    one group per crate: stages/<package>/<key>/. Each crate keeps its own STAGE_STORE_ENTRIES, so
    building many small crates never evicts the engine's outputs (minutes of wasm-opt to make again)."""
    if not STAGE_STORE_GROUP.fullmatch(package):
        raise ValueError(f"{package!r} is not a cargo package name")
    root = cache.cache_root() / "stages"
    _evict_ungrouped_entries(root)
    return root / package


def _evict_ungrouped_entries(root: Path) -> None:
    """Entries of the store's first layout, stages/<key>/ with no crate above them: no build looks
    there any more, so they are only disk (the engine's were hundreds of MB). A key is 64 hex digits,
    which no crate's group is named."""
    if not root.is_dir() or root.is_symlink():
        return
    for entry in root.iterdir():
        if re.fullmatch(r"[0-9a-f]{64}", entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


# The last file written to a store entry: the size and sha256 of each output, by its path relative
# to the stage's directory. An entry without it, or whose files differ from it, is never restored:
# it is evicted and the stage runs.
STORE_MANIFEST = ".complete"


def _output_name(path: Path, base: Path) -> str:
    """An output's name in records and store entries: its path below the stage's directory, with /."""
    return path.relative_to(base).as_posix()


def _unsafe_name(name: object) -> str | None:
    """Why a recorded output name cannot be used as a path below the stage's directory, or None.
    Names come from files on disk (a record, a store entry): one that climbs out (.., an absolute
    path) or names the manifest itself is never followed."""
    if not isinstance(name, str) or not name:
        return f"an output name {name!r} that is not a path"
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in parts):
        return f"the output name {name!r} leaves the stage's directory"
    if name == STORE_MANIFEST:
        return f"an output named {STORE_MANIFEST}"
    return None


def _inside(base: Path, name: str) -> Path:
    """base/name, which must stay below base once symlinks are resolved."""
    path = base / name
    if not path.resolve().is_relative_to(base.resolve()):
        raise ValueError(f"{name} resolves outside {base}")
    return path


def _store_entry_problem(entry: Path, base: Path, required: list[str], staged: list[tuple[Path, Path]]) -> str | None:
    """Copies the entry's files (every one its manifest lists: the required outputs and those the
    stage found it had written) to temporary names beside their places below base, recording them in
    staged, and checks each copy against the manifest; what is wrong with the entry, or None."""
    manifest = cache.read_json(entry / STORE_MANIFEST)
    if not (entry / STORE_MANIFEST).exists():
        return f"no {STORE_MANIFEST} manifest: it was never finished"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("outputs"), dict):
        return f"its {STORE_MANIFEST} records no checksums (an entry from before they were recorded, or damaged)"
    recorded: dict = manifest["outputs"]
    for name in required:
        if not isinstance(recorded.get(name), dict):
            return f"{name} is not in its manifest"
    for name, expected in recorded.items():
        problem = _unsafe_name(name)
        if problem:
            return problem
        if not isinstance(expected, dict):
            return f"{name} has no checksum in its manifest"
        try:
            output = _inside(base, name)
        except ValueError:
            return f"{name} would be restored outside {base}"
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = output.with_name(f".{output.name}.restoring-{os.getpid()}")
        staged.append((temporary, output))
        try:
            shutil.copyfile(_inside(entry, name), temporary)
        except (FileNotFoundError, ValueError):
            return f"{name} is missing"
        # The copy is what is checked: bytes that change between a check and a copy are never used.
        problem = cache.fingerprint_problem(temporary, expected, name)
        if problem:
            return problem
    return None


def _restore_from_store(entry: Path, base: Path, required: list[str]) -> list[str] | None:
    """The outputs of a store entry, each file verified before it replaces an output below base;
    the names restored. A damaged entry is evicted with one line saying what was wrong; None then,
    and the stage runs."""
    if not entry.is_dir():
        return None
    staged: list[tuple[Path, Path]] = []
    try:
        problem = _store_entry_problem(entry, base, required, staged)
        if problem is None:
            for temporary, output in staged:
                os.replace(temporary, output)
            os.utime(entry)  # recently used
            return [_output_name(output, base) for _, output in staged]
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
    console.warn(f"shared stage cache entry {entry.name[:16]}… is damaged ({problem}): evicted; the stage runs again")
    shutil.rmtree(entry, ignore_errors=True)
    return None


def _save_to_store(entry: Path, base: Path, outputs: list[Path]) -> None:
    def populate(directory: Path) -> None:
        recorded = {}
        for output in outputs:
            name = _output_name(output, base)
            recorded[name] = cache.file_fingerprint(output)
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(output, directory / name)
        cache.write_json_atomic(directory / STORE_MANIFEST, {"outputs": recorded})

    cache.install_dir_atomically(entry, populate)
    # Eviction stays within the entry's group (one crate's entries): another crate's are never counted.
    entries = sorted(
        (e for e in entry.parent.iterdir() if e.is_dir() and not e.name.startswith(".")),
        key=lambda e: e.stat().st_mtime,
        reverse=True,
    )
    for stale in entries[STAGE_STORE_ENTRIES:]:
        shutil.rmtree(stale, ignore_errors=True)


def _record_matches(record: object, key: str, base: Path, required: list[str]) -> bool:
    """The checkout's record is of this key and every file it lists is there with its recorded digest."""
    if not isinstance(record, dict) or record.get("key") != key or not isinstance(record.get("outputs"), dict):
        return False
    digests: dict = record["outputs"]
    if not set(required) <= set(digests):
        return False
    for name, digest in digests.items():
        if _unsafe_name(name):
            return False
        path = base / name
        if not path.is_file() or digest != cache.file_sha256(path):
            return False
    return True


def recorded_outputs(record_path: Path, base: Path) -> list[Path]:
    """Every output a stage's record lists (those it declares and those it found it had written), sorted."""
    record = cache.read_json(record_path)
    outputs = record.get("outputs") if isinstance(record, dict) else None
    if not isinstance(outputs, dict):
        return []
    return [base / name for name in sorted(outputs) if not _unsafe_name(name)]


def run_cached(
    record_path: Path,
    key: str,
    outputs: list[Path],
    produce: Callable[[], None],
    store: Path | None = None,
    *,
    base: Path | None = None,
    found: Callable[[], list[Path]] | None = None,
) -> bool:
    """Runs produce() unless these outputs were already made from the same key.

    The key covers the inputs' hashes, the tool and its arguments. Outputs are reused from the
    previous run in this checkout (the record, whose digests are checked), else from the shared
    store (each file verified against the entry's manifest), else produced (and then saved to
    the store). Returns True when nothing had to run.

    Outputs are named by their path below base (default: the first output's directory, so
    outputs in one directory go by their file names). found() lists the further files produce()
    wrote that depend on the input (wasm-bindgen's snippets): they are recorded, stored and
    restored with the others; recorded_outputs() lists them all afterwards.
    """
    base = base if base is not None else outputs[0].parent
    required = [_output_name(p, base) for p in outputs]
    record = cache.read_json(record_path)
    if _record_matches(record, key, base, required):
        return True
    if isinstance(record, dict) and record.get("key") == key:
        console.info(f"{record_path.name}: the outputs differ from their record; they are made again")
    record_path.unlink(missing_ok=True)  # a failed run must not leave a record claiming success
    restored = _restore_from_store(store / key, base, required) if store is not None else None
    if restored is not None:
        assert store is not None
        console.info(f"restored from the shared stage cache ({store / key})")
        written = [base / name for name in restored]
    else:
        produce()
        written = list(dict.fromkeys([*outputs, *(found() if found is not None else [])]))
    cache.write_json_atomic(
        record_path, {"key": key, "outputs": {_output_name(p, base): cache.file_sha256(p) for p in written}}
    )
    if store is not None and restored is None:
        _save_to_store(store / key, base, written)
    return restored is not None


# ---------------------------------------------------------------- stage: wasm-bindgen

# Where wasm-bindgen writes the JS a crate imports, beside the glue: snippets/<crate>-<hash>/inline<N>.js
# for `inline_js`, snippets/<crate>-<hash>/<path> for `module = "/<path>"`. The glue imports them
# by relative URL, so the package ships them at the same paths.
SNIPPETS = "snippets"


def _files_below(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else []


def bindgen_stage(
    bindgen: wasm_bindgen.WasmBindgen,
    cargo_wasm: Path,
    stage_dir: Path,
    out_name: str,
    store: Path | None = None,
) -> tuple[dict[str, Path], bool]:
    """JS glue + .d.ts; the module it writes keeps its names section (the checks read it).

    Returns the files by role (wasm, js, dts, wasm_dts) and each snippet by its path relative to
    the glue (snippets/...), and whether the stage was skipped."""
    outputs = {
        "wasm": stage_dir / f"{out_name}_bg.wasm",
        "js": stage_dir / f"{out_name}.js",
        "dts": stage_dir / f"{out_name}.d.ts",
        "wasm_dts": stage_dir / f"{out_name}_bg.wasm.d.ts",
    }
    key = cache.cache_key(
        input=cache.file_sha256(cargo_wasm),
        tool=str(bindgen.executable),
        version=bindgen.version,
        out_name=out_name,
        target="web",
    )

    def generate() -> None:
        # found() takes every file below snippets/ for this input's: none may be left from an earlier
        # input (another hash, a module since removed), whether or not generate() empties the directory.
        shutil.rmtree(stage_dir / SNIPPETS, ignore_errors=True)
        wasm_bindgen.generate(bindgen, cargo_wasm, stage_dir, out_name)

    record_path = stage_dir.with_suffix(".record.json")
    reused = run_cached(
        record_path,
        key,
        list(outputs.values()),
        generate,
        store,
        base=stage_dir,
        found=lambda: _files_below(stage_dir / SNIPPETS),
    )
    if reused:
        console.info("wasm-bindgen: input unchanged, reusing the previous output")
    snippets = {
        _output_name(p, stage_dir): p
        for p in recorded_outputs(record_path, stage_dir)
        if p.relative_to(stage_dir).parts[0] == SNIPPETS
    }
    # A restore from the store leaves an earlier build's snippets beside these: only the recorded ones count.
    for stale in set(_files_below(stage_dir / SNIPPETS)) - set(snippets.values()):
        stale.unlink()
    return {**outputs, **snippets}, reused


# Exports wasm-bindgen adds to every module (allocator, externref table, start, closure shims):
# none of them is the crate's API.
_INTERNAL_EXPORT = re.compile(r"__|wasm_bindgen_[0-9a-f]+___")


def exports_problem(module: Path) -> str | None:
    """Why a wasm-bindgen module is of no use to a page, or None: it exports no function of the
    crate's (only memory and wasm-bindgen's internals) and calls no JS (a crate that only runs a
    start function still imports what it calls)."""
    parsed = wasm_module.parse(module)
    if any(e.kind == "func" and not _INTERNAL_EXPORT.match(e.name) for e in parsed.exports):
        return None
    if any(not i.name.startswith("__wbindgen_") for i in parsed.imports):
        return None
    exported = ", ".join(e.name for e in parsed.exports) or "nothing"
    return (
        f"the module wasm-bindgen made ({parsed.size} bytes) exports no function of the crate and calls no JS "
        f"(its exports: {exported})"
    )


def _crate_features(crate: cargo_lock.CrateManifest) -> dict[str, list[str]] | None:
    """The crate's [features] as cargo reads them, or None when they cannot be read."""
    try:
        member = cargo_metadata.read_workspace(crate.manifest_path).member_named(crate.package_name)
    except ToolchainError:
        return None
    features = member.fields.get("features") if member is not None else None
    return features if isinstance(features, dict) else None


def require_exports(
    module: Path, crate: cargo_lock.CrateManifest, features: Sequence[str] = (), no_default_features: bool = False
) -> None:
    """StageFailed when the module exports nothing a page could use, before anything is published:
    the usual cause is a crate whose #[wasm_bindgen] items sit behind a cargo feature the build did
    not enable (wasm-pack would publish the empty module without a word)."""
    problem = exports_problem(module)
    if problem is None:
        return
    passed = ", ".join(features) or "none"
    if no_default_features:
        passed += " (and --no-default-features)"
    known = _crate_features(crate)
    listed = (
        "; the crate's features: "
        + ", ".join(
            f"{name} (enables {', '.join(enables)})" if enables else name for name, enables in sorted(known.items())
        )
        if known
        else ("; the crate has no [features]" if known is not None else "")
    )
    raise StageFailed(
        f"{crate.package_name}: {problem}; nothing was published",
        "the likely cause: its #[wasm_bindgen] items are behind a cargo feature this build did not enable "
        f"(features passed: {passed}{listed}): pass it with --features NAME (or drop --no-default-features). "
        "Otherwise export something: `#[wasm_bindgen] pub fn ...`",
    )


# ---------------------------------------------------------------- stage: wasm-opt


def wasm_opt_stage(
    optimizer: wasm_opt.WasmOpt,
    input_wasm: Path,
    output_wasm: Path,
    passes: list[str],
    flags: list[str],
    store: Path | None = None,
) -> tuple[Path, bool]:
    output_wasm.parent.mkdir(parents=True, exist_ok=True)
    key = cache.cache_key(
        input=cache.file_sha256(input_wasm),
        argv=optimizer.argv,
        version=optimizer.version,
        flags=flags,
        passes=wasm_opt.pass_flags(optimizer, passes),
    )
    reused = run_cached(
        output_wasm.with_suffix(".record.json"),
        key,
        [output_wasm],
        lambda: wasm_opt.optimize(optimizer, input_wasm, output_wasm, passes, flags),
        store,
    )
    if reused:
        console.info("wasm-opt: input unchanged, reusing the previous output")
    return output_wasm, reused


# ---------------------------------------------------------------- stage: strip


def strip_stage(input_wasm: Path, output_wasm: Path) -> Path:
    """The shipped module: the optimised one without its names section (kept in .stages for the checks)."""
    output_wasm.parent.mkdir(parents=True, exist_ok=True)
    wasm_module.strip_custom_sections(input_wasm, output_wasm, {"name"})
    return output_wasm


# ---------------------------------------------------------------- stage: package


def extra_js_files(crate: cargo_lock.CrateManifest) -> dict[str, Path]:
    """The crate's own JS modules (js-files in its metadata), by the name they get in the package."""
    files = {Path(name).name: crate.crate_dir / name for name in crate.settings.js_files}
    if len(files) != len(crate.settings.js_files):
        raise ToolchainError(
            f"{crate.manifest_path}: two js-files entries have the same file name",
            "the package is flat: give every shipped JS file its own name",
        )
    return files


# What npm, crates.io and GitHub take for a license file (npm always packs LICENSE* and LICENCE*).
_LICENSE_FILE = re.compile(r"(LICEN[CS]E|COPYING)([-._].*)?", re.IGNORECASE)


def _license_files_in(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {p.name: p for p in sorted(directory.iterdir()) if _LICENSE_FILE.fullmatch(p.name) and p.is_file()}


def notice_files(crate: cargo_lock.CrateManifest) -> dict[str, Path]:
    """The README and license files the package ships, by their name in it.

    The README is the crate's `readme` (else the README.md beside its Cargo.toml), under its own
    name when that starts with README (npm and registries show it then), else as README<suffix>. The
    license is the crate's `license-file`, else its LICENSE*/LICENCE*/COPYING* files, else its
    workspace root's (a workspace usually keeps one LICENSE for every member)."""
    shipped: dict[str, Path] = {}
    if crate.readme is not None and crate.readme.is_file():
        name = crate.readme.name
        shipped[name if name.upper().startswith("README") else f"README{crate.readme.suffix or '.md'}"] = crate.readme
    if crate.license_file is not None:
        if not crate.license_file.is_file():
            raise ToolchainError(
                f"{crate.manifest_path}: license-file {crate.license_file} does not exist",
                "fix the path (relative to the crate directory) or remove license-file",
            )
        licenses = {crate.license_file.name: crate.license_file}
    else:
        licenses = _license_files_in(crate.crate_dir)
        if not licenses and crate.workspace_root is not None and crate.workspace_root != crate.crate_dir:
            licenses = _license_files_in(crate.workspace_root)
    clashes = sorted(set(licenses) & set(shipped))
    if clashes:
        raise ToolchainError(
            f"{crate.manifest_path}: the readme and a license file are both named {clashes[0]}",
            "give the README and the license file different names",
        )
    return {**shipped, **licenses}


def license_expression(crate: cargo_lock.CrateManifest, license_file_name: str | None) -> str | None:
    """package.json's license: the crate's SPDX expression (cargo's old `MIT/Apache-2.0` as `MIT OR
    Apache-2.0`, which npm understands), else "SEE LICENSE IN <file>" for a license-file alone."""
    if crate.license:
        return " OR ".join(part.strip() for part in crate.license.split("/")) if "/" in crate.license else crate.license
    if license_file_name:
        return f"SEE LICENSE IN {license_file_name}"
    return None


def package_json(
    crate: cargo_lock.CrateManifest,
    out_name: str,
    extra_files: Sequence[str] = (),
    snippets: Sequence[str] = (),
    notices: Sequence[str] = (),
    side_effects: Sequence[str] = (),
) -> dict:
    """extra_files: the crate's js-files (exported); snippets: wasm-bindgen's snippets/... (shipped,
    not exported: the glue imports them, and their hash changes with the crate); notices: README and
    license files (notice_files); side_effects: js-files that run for their effect (side_effect_files)."""
    files = [
        f"{out_name}_bg.wasm",
        f"{out_name}.js",
        f"{out_name}.d.ts",
        f"{out_name}_bg.wasm.d.ts",
        *sorted(extra_files),
        *sorted(snippets),  # each file, not the directory: the release copies what `files` lists
        *sorted(notices),
    ]
    exports = {
        ".": {"types": f"./{out_name}.d.ts", "default": f"./{out_name}.js"},
        f"./{out_name}_bg.wasm": f"./{out_name}_bg.wasm",
    }
    for name in sorted(extra_files):
        if name.endswith((".js", ".mjs")):
            stem = name.rsplit(".", 1)[0]
            types = f"{stem}.d.ts"
            exports[f"./{name}"] = (
                {"types": f"./{types}", "default": f"./{name}"} if types in extra_files else f"./{name}"
            )
    exports["./package.json"] = "./package.json"
    manifest: dict = {
        "name": crate.package_name,
        "version": crate.version,
        "description": crate.description,
        "type": "module",
        "main": f"{out_name}.js",
        "module": f"{out_name}.js",
        "types": f"{out_name}.d.ts",
        "exports": exports,
        "files": files,
        "sideEffects": [f"./{out_name}.js", *(f"./{name}" for name in sorted(side_effects))],
    }
    license_file = crate.license_file.name if crate.license_file is not None else None
    if license_file is None and not crate.license:
        license_file = next((n for n in sorted(notices) if _LICENSE_FILE.fullmatch(n)), None)
    license = license_expression(crate, license_file)
    if license:
        manifest["license"] = license
    if crate.repository:
        manifest["repository"] = {"type": "git", "url": crate.repository}
    if crate.homepage:
        manifest["homepage"] = crate.homepage
    return manifest


# A module statement that exports something: `export function`, `export {`, `export default`, ...
_EXPORT_STATEMENT = re.compile(r"^\s*export\b", re.MULTILINE)


def side_effect_files(extra: dict[str, Path]) -> list[str]:
    """The js-files that export nothing: scripts run for their effect, such as a worker's entry
    (engine_worker.js sets `self.onmessage`). package.json's `sideEffects` must name them, or a
    bundler drops `import "pkg/worker.js"` from a worker of the user's own, which then never answers."""
    return sorted(
        name
        for name, path in extra.items()
        if name.endswith((".js", ".mjs")) and not _EXPORT_STATEMENT.search(path.read_text(encoding="utf-8"))
    )


def publish_package(package_dir: Path, files: dict[str, Path], documents: dict[str, dict]) -> Path:
    """Writes the package beside its final place and swaps it in, so readers never see half of it.

    files: the package's files by their path in it (snippets/... in subdirectories)."""
    package_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=package_dir.parent, prefix=f".{package_dir.name}.new-"))
    try:
        for name, source in files.items():
            if _unsafe_name(name):
                raise ToolchainError(f"the package file name {name!r} leaves the package", "this is a toolchain bug")
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / name)
        for name, document in documents.items():
            (staging / name).write_text(json.dumps(document, indent=2) + "\n")
        # mkdtemp made it 0700 and the files follow the umask; a web server running as
        # another user must read the package (cache.make_public: directories 0755, files 0644).
        cache.make_public(staging)
        old = package_dir.with_name(f".{package_dir.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if package_dir.exists():
            os.replace(package_dir, old)
        os.replace(staging, package_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return package_dir


# ---------------------------------------------------------------- the pipeline


@dataclass(frozen=True)
class Tools:
    rust: rust.RustToolchain
    bindgen: wasm_bindgen.WasmBindgen
    optimizer: wasm_opt.WasmOpt | None
    target_features: list[str]
    opt_flags: list[str]


def provision(resolved: config.Config, bindgen_version: str) -> Tools:
    options, crate = resolved.build, resolved.crate
    with console.stage("provision tools"):
        toolchain = rust.find_toolchain(install=options.install_missing)
        console.info(f"rust: {toolchain.version} [{toolchain.provider}]")
        if crate.settings.build_std_features and not toolchain.build_std:
            console.warn(
                f"{crate.package_name} asks for build-std-features {list(crate.settings.build_std_features)}, "
                "but this toolchain has a prebuilt wasm32 std: they do not apply"
            )
        bindgen = wasm_bindgen.ensure(bindgen_version, install_missing=options.install_missing)
        console.info(f"wasm-bindgen: {bindgen.version} ({bindgen.executable})")
        target_features = rust.enabled_target_features(toolchain, list(crate.settings.rustflags))
        optimizer, opt_flags = None, []
        if options.run_wasm_opt:
            optimizer = wasm_opt.ensure(options.wasm_opt_provider, install_missing=options.install_missing)
            opt_flags = wasm_opt.feature_flags(target_features)
            console.info(f"wasm-opt: binaryen {optimizer.version} [{optimizer.provider}] {' '.join(opt_flags)}")
    return Tools(toolchain, bindgen, optimizer, target_features, opt_flags)


def compile_stages(
    resolved: config.Config, tools: Tools, record: BuildRecord, measurer: sizes.SizeMeasurer
) -> dict[str, Path]:
    """cargo -> wasm-bindgen -> wasm-opt -> strip, each appended to the record; returns the glue files."""
    options, crate, layout = resolved.build, resolved.crate, resolved.layout
    out_name = crate.lib_name
    store = stage_store(crate.package_name) if options.use_stage_store else None

    def done(stage: str, module: Path, reused: bool = False, size_name: str | None = None) -> None:
        stored = str(module) if stage == CARGO else layout.relative(module)  # cargo's is in its target dir
        record.append(StageRecord(stage, stored, cache.file_sha256(module), reused))
        measurer.submit(size_name or stage, module)

    with console.stage(f"cargo build {crate.package_name} ({options.profile}, {rust.WASM_TARGET})"):
        cargo_wasm = cargo_build(
            tools.rust, crate, options.profile, resolved.target_dir, options.cargo_features, options.no_default_features
        )
        done(CARGO, cargo_wasm)

    with console.stage("wasm-bindgen (web target, TypeScript declarations)"):
        glue, skipped = bindgen_stage(tools.bindgen, cargo_wasm, layout.stage_dir(WASM_BINDGEN), out_name, store)
        done(WASM_BINDGEN, glue["wasm"], skipped)
        require_exports(glue["wasm"], crate, options.cargo_features, options.no_default_features)

    final_wasm = glue["wasm"]
    if tools.optimizer is not None:
        passes = resolved.wasm_opt_passes
        with console.stage(f"wasm-opt {' '.join(passes)}"):
            final_wasm, skipped = wasm_opt_stage(
                tools.optimizer, glue["wasm"], layout.stage_module(WASM_OPT), passes, tools.opt_flags, store
            )
            done(WASM_OPT, final_wasm, skipped)

    with console.stage("strip the names section (the named module stays in .stages for the checks)"):
        final_wasm = strip_stage(final_wasm, layout.stage_module(FINAL))
        done(FINAL, final_wasm, size_name="strip")

    if options.verify_instantiation:
        with console.stage("verify: instantiate the module through its glue (node)"):
            if verify.node_available():
                console.info(verify.instantiate_in_node(glue["js"], final_wasm))
            else:
                console.warn("node is not installed: skipping the instantiation check")
    return glue


def build_info(resolved: config.Config, tools: Tools, lock_path: Path) -> dict:
    """What was built with what: pinned versions and providers, for people and for release notes."""
    options, crate = resolved.build, resolved.crate
    locked = {p.name: p.version for p in cargo_lock.read_lock(lock_path)}
    return {
        "toolchain": __version__,
        "crate": {
            "name": crate.package_name,
            "version": crate.version,
            "manifest": checkout_relative(crate.manifest_path),
        },
        "git_commit": git_commit(crate.crate_dir),
        "profile": options.profile,
        "target": rust.WASM_TARGET,
        "cargo_features": options.cargo_features,
        "rustc": {
            "version": tools.rust.version,
            "provider": tools.rust.provider,
            "path": str(tools.rust.rustc),
            "build_std": tools.rust.build_std,
            "target_features": tools.target_features,
            "rustflags": list(crate.settings.rustflags),
            "build_std_features": list(crate.settings.build_std_features) if tools.rust.build_std else [],
            # cargo remaps every source path (rust.RustToolchain.trim_paths_flags).
            "path_remapping": tools.rust.trim_paths_flags(options.profile),
            "const_random_seed": rust.build_env(tools.rust)["CONST_RANDOM_SEED"],
        },
        "wasm_bindgen": {"version": tools.bindgen.version, "provider": tools.bindgen.provider},
        "wasm_opt": (
            {
                "version": tools.optimizer.version,
                "provider": tools.optimizer.provider,
                "passes": wasm_opt.pass_flags(tools.optimizer, resolved.wasm_opt_passes),
                "flags": tools.opt_flags,
            }
            if tools.optimizer
            else None
        ),
        "locked_versions": {name: locked[name] for name in ("datafusion", "arrow", "wasm-bindgen") if name in locked},
    }


def build(resolved: config.Config | BuildOptions) -> BuildResult:
    """The pipeline. Takes the resolved configuration (BuildOptions alone are resolved first)."""
    if isinstance(resolved, BuildOptions):
        resolved = config.resolve(resolved)
    layout = resolved.layout
    with cache.exclusive(layout.stages_dir.with_name(f"{layout.stages_dir.name}.lock"), "another build of this crate"):
        return _build(resolved)


def _build(resolved: config.Config) -> BuildResult:
    crate, layout = resolved.crate, resolved.layout
    lock_path = lock_file(resolved)
    tools = provision(resolved, cargo_lock.single_locked_version(lock_path, "wasm-bindgen"))
    out_name = crate.lib_name
    record = BuildRecord(
        CrateRecord(crate.package_name, crate.version, crate.lib_name, checkout_relative(crate.manifest_path)),
        resolved.build.profile,
        list(resolved.build.cargo_features),
        resolved.build.no_default_features,
    )
    # A failed build must not leave the previous build's record claiming these stages.
    layout.record_path.unlink(missing_ok=True)

    measurer = sizes.SizeMeasurer(layout.size_memo)
    try:
        glue = compile_stages(resolved, tools, record, measurer)
    except BaseException:
        measurer.abandon()
        raise
    with console.stage("size report (raw, gzip -9, brotli -q 11)"):
        record.size_report = sizes.build_report(measurer.results())
    record.build_info = build_info(resolved, tools, lock_path)
    final_wasm = record.module(layout, FINAL)
    assert final_wasm is not None

    with console.stage(f"package -> {layout.package_dir}"):
        files = {
            f"{out_name}_bg.wasm": final_wasm,
            f"{out_name}.js": glue["js"],
            f"{out_name}.d.ts": glue["dts"],
            f"{out_name}_bg.wasm.d.ts": glue["wasm_dts"],
        }
        snippets = {name: path for name, path in glue.items() if name.startswith(f"{SNIPPETS}/")}
        extra = extra_js_files(crate)
        notices = notice_files(crate)
        clashes = sorted(set(extra) & set(files))
        if clashes:
            raise ToolchainError(
                f"{crate.manifest_path}: js-files {clashes} would replace the generated glue", "rename those files"
            )
        clashes = sorted(set(notices) & (set(files) | set(extra)))
        if clashes:
            raise ToolchainError(
                f"{crate.manifest_path}: the README or license file {clashes[0]} has the name of a shipped file",
                "rename it (README.md and LICENSE are what npm expects)",
            )
        files.update(extra)
        files.update(snippets)
        files.update(notices)
        if snippets:
            console.info(f"snippets (JS the glue imports): {', '.join(sorted(snippets))}")
        publish_package(
            layout.package_dir,
            files,
            {
                "package.json": package_json(
                    crate, out_name, list(extra), list(snippets), list(notices), side_effect_files(extra)
                ),
                layout.size_report.name: record.size_report,
                layout.build_info.name: record.build_info,
            },
        )
    record.save(layout)
    config.remember_build(resolved)

    print(sizes.format_table(record.size_report), flush=True)
    return BuildResult(resolved, record)


def load_result(resolved: config.Config) -> BuildResult:
    """The crate's last build, as build() returned it, from its build record (nothing runs)."""
    return BuildResult(resolved, BuildRecord.load(resolved.layout))


def load_report(package_dir: Path) -> dict:
    path = package_dir / "size-report.json"
    report = cache.read_json(path)
    if report is None:
        raise ToolchainError(f"no size report at {path}", "run `nox -s build` first")
    return report
