"""The build pipeline: cargo build -> wasm-bindgen -> wasm-opt -> strip -> a publishable package.

Each stage is a function with explicit inputs and outputs, so it can be run, tested and cached
on its own. Stages after cargo are skipped when their inputs, tool versions and arguments are
unchanged (cargo is incremental by itself), so a rebuild with nothing changed takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolchain import __version__
from toolchain.analysis import cargo_lock, config, sizes, wasm_module
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


STAGE_STORE_ENTRIES = 12  # outputs kept in the shared store (least recently used go first)


def stage_store() -> Path:
    """Content-addressed stage outputs shared by every checkout on the machine (fresh clones, CI)."""
    return cache.cache_root() / "stages"


# The last file written to a store entry: the size and sha256 of each output. An entry without
# it, or whose files differ from it, is never restored: it is evicted and the stage runs.
STORE_MANIFEST = ".complete"


def _store_entry_problem(entry: Path, outputs: list[Path], staged: list[tuple[Path, Path]]) -> str | None:
    """Copies the entry's files to temporary names beside the outputs (listed in staged) and
    checks each copy against the entry's manifest; what is wrong with the entry, or None."""
    manifest = cache.read_json(entry / STORE_MANIFEST)
    if not (entry / STORE_MANIFEST).exists():
        return f"no {STORE_MANIFEST} manifest: it was never finished"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("outputs"), dict):
        return f"its {STORE_MANIFEST} records no checksums (an entry from before they were recorded, or damaged)"
    for output in outputs:
        expected = manifest["outputs"].get(output.name)
        if not isinstance(expected, dict):
            return f"{output.name} is not in its manifest"
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = output.with_name(f".{output.name}.restoring-{os.getpid()}")
        staged.append((temporary, output))
        try:
            shutil.copyfile(entry / output.name, temporary)
        except FileNotFoundError:
            return f"{output.name} is missing"
        # The copy is what is checked: bytes that change between a check and a copy are never used.
        problem = cache.fingerprint_problem(temporary, expected, output.name)
        if problem:
            return problem
    return None


def _restore_from_store(entry: Path, outputs: list[Path]) -> bool:
    """Outputs from a store entry, each file verified before it replaces an output. A damaged
    entry is evicted with one line saying what was wrong; False then, and the stage runs."""
    if not entry.is_dir():
        return False
    staged: list[tuple[Path, Path]] = []
    try:
        problem = _store_entry_problem(entry, outputs, staged)
        if problem is None:
            for temporary, output in staged:
                os.replace(temporary, output)
            os.utime(entry)  # recently used
            return True
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
    console.warn(f"shared stage cache entry {entry.name[:16]}… is damaged ({problem}): evicted; the stage runs again")
    shutil.rmtree(entry, ignore_errors=True)
    return False


def _save_to_store(entry: Path, outputs: list[Path]) -> None:
    def populate(directory: Path) -> None:
        recorded = {}
        for output in outputs:
            recorded[output.name] = cache.file_fingerprint(output)
            shutil.copyfile(output, directory / output.name)
        cache.write_json_atomic(directory / STORE_MANIFEST, {"outputs": recorded})

    cache.install_dir_atomically(entry, populate)
    entries = sorted(
        (e for e in entry.parent.iterdir() if e.is_dir() and not e.name.startswith(".")),
        key=lambda e: e.stat().st_mtime,
        reverse=True,
    )
    for stale in entries[STAGE_STORE_ENTRIES:]:
        shutil.rmtree(stale, ignore_errors=True)


def run_cached(
    record_path: Path, key: str, outputs: list[Path], produce: Callable[[], None], store: Path | None = None
) -> bool:
    """Runs produce() unless these outputs were already made from the same key.

    The key covers the inputs' hashes, the tool and its arguments. Outputs are reused from the
    previous run in this checkout (the record, whose digests are checked), else from the shared
    store (each file verified against the entry's manifest), else produced (and then saved to
    the store). Returns True when nothing had to run.
    """
    record = cache.read_json(record_path)
    if isinstance(record, dict) and record.get("key") == key and all(p.exists() for p in outputs):
        digests = record.get("outputs") or {}
        if all(digests.get(p.name) == cache.file_sha256(p) for p in outputs):
            return True
        console.info(f"{record_path.name}: the outputs differ from their record; they are made again")
    record_path.unlink(missing_ok=True)  # a failed run must not leave a record claiming success
    restored = False
    if store is not None and _restore_from_store(store / key, outputs):
        restored = True
        console.info(f"restored from the shared stage cache ({store / key})")
    else:
        produce()
    cache.write_json_atomic(record_path, {"key": key, "outputs": {p.name: cache.file_sha256(p) for p in outputs}})
    if store is not None and not restored:
        _save_to_store(store / key, outputs)
    return restored


# ---------------------------------------------------------------- stage: wasm-bindgen


def bindgen_stage(
    bindgen: wasm_bindgen.WasmBindgen,
    cargo_wasm: Path,
    stage_dir: Path,
    out_name: str,
    store: Path | None = None,
) -> tuple[dict[str, Path], bool]:
    """JS glue + .d.ts; the module it writes keeps its names section (the checks read it)."""
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
    reused = run_cached(
        stage_dir.with_suffix(".record.json"),
        key,
        list(outputs.values()),
        lambda: wasm_bindgen.generate(bindgen, cargo_wasm, stage_dir, out_name),
        store,
    )
    if reused:
        console.info("wasm-bindgen: input unchanged, reusing the previous output")
    return outputs, reused


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


def package_json(crate: cargo_lock.CrateManifest, out_name: str, extra_files: Sequence[str] = ()) -> dict:
    files = [
        f"{out_name}_bg.wasm",
        f"{out_name}.js",
        f"{out_name}.d.ts",
        f"{out_name}_bg.wasm.d.ts",
        *sorted(extra_files),
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
    manifest = {
        "name": crate.package_name,
        "version": crate.version,
        "description": crate.description,
        "type": "module",
        "main": f"{out_name}.js",
        "module": f"{out_name}.js",
        "types": f"{out_name}.d.ts",
        "exports": exports,
        "files": files,
        "sideEffects": [f"./{out_name}.js"],
    }
    if crate.license:
        manifest["license"] = crate.license
    return manifest


def publish_package(package_dir: Path, files: dict[str, Path], documents: dict[str, dict]) -> Path:
    """Writes the package beside its final place and swaps it in, so readers never see half of it."""
    package_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=package_dir.parent, prefix=f".{package_dir.name}.new-"))
    try:
        for name, source in files.items():
            shutil.copyfile(source, staging / name)
        for name, document in documents.items():
            (staging / name).write_text(json.dumps(document, indent=2) + "\n")
        # mkdtemp made it 0700 and the files follow the umask; a web server running as
        # another user must read the package (cache.make_public).
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
    store = stage_store() if options.use_stage_store else None

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
        extra = extra_js_files(crate)
        clashes = sorted(set(extra) & set(files))
        if clashes:
            raise ToolchainError(
                f"{crate.manifest_path}: js-files {clashes} would replace the generated glue", "rename those files"
            )
        files.update(extra)
        publish_package(
            layout.package_dir,
            files,
            {
                "package.json": package_json(crate, out_name, list(extra)),
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
