"""The build pipeline: cargo build -> wasm-bindgen -> wasm-opt -> a publishable package.

Each stage is a function with explicit inputs and outputs, so it can be run, tested and cached
on its own. Stages after cargo are skipped when their inputs, tool versions and arguments are
unchanged (cargo is incremental by itself), so a rebuild with nothing changed takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from toolchain import __version__, cache, cargo_lock, console, rust, sizes, wasm_bindgen, wasm_opt
from toolchain.errors import StageFailed, ToolchainError

DEFAULT_MANIFEST = Path("crates/datafusion-wasm/Cargo.toml")
DEFAULT_ARTIFACTS = Path("artifacts")


@dataclass
class BuildOptions:
    manifest_path: Path = DEFAULT_MANIFEST
    profile: str = "release"
    run_wasm_opt: bool = True
    wasm_opt_level: str = "-Os"
    wasm_opt_provider: str = wasm_opt.DEFAULT_PROVIDER
    artifacts_dir: Path = DEFAULT_ARTIFACTS
    cargo_features: list[str] = field(default_factory=list)
    no_default_features: bool = False
    install_missing: bool = True


@dataclass
class BuildResult:
    package_dir: Path
    stages_dir: Path
    report: dict
    build_info: dict
    reused_stages: list[str] = field(default_factory=list)  # stages skipped because nothing changed


# ---------------------------------------------------------------- stage: cargo build


def cargo_build_command(
    toolchain: rust.RustToolchain, crate: cargo_lock.CrateManifest, profile: str,
    features: list[str], no_default_features: bool,
) -> list[str]:
    argv = [
        str(toolchain.cargo), "build", "--locked",
        "--manifest-path", str(crate.manifest_path),
        "--target", rust.WASM_TARGET,
        "--profile", profile,
        "--lib",
        "--message-format", "json-render-diagnostics",
        *toolchain.cargo_flags,
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


def cargo_build(
    toolchain: rust.RustToolchain, crate: cargo_lock.CrateManifest, profile: str,
    features: list[str] | None = None, no_default_features: bool = False,
) -> Path:
    """Compiles the crate for wasm32; returns the cdylib .wasm cargo produced."""
    argv = cargo_build_command(toolchain, crate, profile, features or [], no_default_features)
    console.command(argv)
    # Diagnostics and progress go to stderr (shown live); stdout carries the JSON messages.
    result = subprocess.run(argv, env={**os.environ, **toolchain.env}, stdout=subprocess.PIPE, text=True)
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


# ---------------------------------------------------------------- stage caching


def run_cached(record_path: Path, key: str, outputs: list[Path], produce: Callable[[], None]) -> bool:
    """Runs produce() unless the record says these outputs were made from the same key.

    Returns True when the stage was reused.
    """
    record = cache.read_json(record_path)
    if record and record.get("key") == key and all(p.exists() for p in outputs):
        digests = record.get("outputs", {})
        if all(digests.get(p.name) == cache.file_sha256(p) for p in outputs):
            return True
    record_path.unlink(missing_ok=True)  # a failed run must not leave a record claiming success
    produce()
    cache.write_json_atomic(record_path, {"key": key, "outputs": {p.name: cache.file_sha256(p) for p in outputs}})
    return False


# ---------------------------------------------------------------- stage: wasm-bindgen


def bindgen_stage(
    bindgen: wasm_bindgen.WasmBindgen, cargo_wasm: Path, stage_dir: Path, out_name: str
) -> tuple[dict[str, Path], bool]:
    """JS glue + .d.ts; the module it writes keeps its names section (the checks read it)."""
    outputs = {
        "wasm": stage_dir / f"{out_name}_bg.wasm",
        "js": stage_dir / f"{out_name}.js",
        "dts": stage_dir / f"{out_name}.d.ts",
        "wasm_dts": stage_dir / f"{out_name}_bg.wasm.d.ts",
    }
    key = cache.cache_key(input=cache.file_sha256(cargo_wasm), tool=str(bindgen.executable),
                          version=bindgen.version, out_name=out_name, target="web")
    reused = run_cached(stage_dir.with_suffix(".record.json"), key, list(outputs.values()),
                        lambda: wasm_bindgen.generate(bindgen, cargo_wasm, stage_dir, out_name))
    if reused:
        console.info("wasm-bindgen: input unchanged, reusing the previous output")
    return outputs, reused


# ---------------------------------------------------------------- stage: wasm-opt


def wasm_opt_stage(
    optimizer: wasm_opt.WasmOpt, input_wasm: Path, output_wasm: Path, level: str, flags: list[str]
) -> tuple[Path, bool]:
    output_wasm.parent.mkdir(parents=True, exist_ok=True)
    key = cache.cache_key(input=cache.file_sha256(input_wasm), argv=optimizer.argv, version=optimizer.version,
                          level=level, flags=flags)
    reused = run_cached(output_wasm.with_suffix(".record.json"), key, [output_wasm],
                        lambda: wasm_opt.optimize(optimizer, input_wasm, output_wasm, level, flags))
    if reused:
        console.info("wasm-opt: input unchanged, reusing the previous output")
    return output_wasm, reused


# ---------------------------------------------------------------- stage: package


def package_json(crate: cargo_lock.CrateManifest, out_name: str) -> dict:
    files = [f"{out_name}_bg.wasm", f"{out_name}.js", f"{out_name}.d.ts", f"{out_name}_bg.wasm.d.ts"]
    manifest = {
        "name": crate.package_name,
        "version": crate.version,
        "description": crate.description,
        "type": "module",
        "main": f"{out_name}.js",
        "module": f"{out_name}.js",
        "types": f"{out_name}.d.ts",
        "exports": {
            ".": {"types": f"./{out_name}.d.ts", "default": f"./{out_name}.js"},
            f"./{out_name}_bg.wasm": f"./{out_name}_bg.wasm",
            "./package.json": "./package.json",
        },
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


def git_commit(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# ---------------------------------------------------------------- the pipeline


def build(options: BuildOptions) -> BuildResult:
    crate = cargo_lock.read_manifest(options.manifest_path)
    lock_path = cargo_lock.find_lock_file(crate.manifest_path)
    bindgen_version = cargo_lock.single_locked_version(lock_path, "wasm-bindgen")
    out_name = crate.lib_name
    stages_dir = options.artifacts_dir / ".stages" / crate.package_name
    package_dir = options.artifacts_dir / crate.package_name
    size_memo = stages_dir / "size-memo.json"

    with console.stage("provision tools"):
        toolchain = rust.find_toolchain(install=options.install_missing)
        console.info(f"rust: {toolchain.version} [{toolchain.provider}]")
        bindgen = wasm_bindgen.ensure(bindgen_version, install_missing=options.install_missing)
        console.info(f"wasm-bindgen: {bindgen.version} ({bindgen.executable})")
        optimizer = None
        opt_flags: list[str] = []
        target_features = rust.enabled_target_features(toolchain)
        if options.run_wasm_opt:
            optimizer = wasm_opt.ensure(options.wasm_opt_provider, install_missing=options.install_missing)
            opt_flags = wasm_opt.feature_flags(target_features)
            console.info(f"wasm-opt: binaryen {optimizer.version} [{optimizer.provider}] {' '.join(opt_flags)}")

    measured: list[tuple[str, sizes.Sizes]] = []
    reused: list[str] = []

    with console.stage(f"cargo build {crate.package_name} ({options.profile}, {rust.WASM_TARGET})"):
        cargo_wasm = cargo_build(toolchain, crate, options.profile, options.cargo_features, options.no_default_features)
        measured.append(("cargo", sizes.measure_file(cargo_wasm, size_memo)))

    with console.stage("wasm-bindgen (web target, TypeScript declarations)"):
        glue, skipped = bindgen_stage(bindgen, cargo_wasm, stages_dir / "wasm-bindgen", out_name)
        reused += ["wasm-bindgen"] if skipped else []
        measured.append(("wasm-bindgen", sizes.measure_file(glue["wasm"], size_memo)))

    final_wasm = glue["wasm"]
    if optimizer is not None:
        with console.stage(f"wasm-opt {options.wasm_opt_level}"):
            final_wasm, skipped = wasm_opt_stage(optimizer, glue["wasm"], stages_dir / "wasm-opt" / f"{out_name}_bg.wasm",
                                                 options.wasm_opt_level, opt_flags)
            reused += ["wasm-opt"] if skipped else []
            measured.append(("wasm-opt", sizes.measure_file(final_wasm, size_memo)))

    report = sizes.build_report(measured)
    locked = {p.name: p.version for p in cargo_lock.read_lock(lock_path)}
    build_info = {
        "toolchain": __version__,
        "crate": {"name": crate.package_name, "version": crate.version, "manifest": str(crate.manifest_path)},
        "git_commit": git_commit(crate.crate_dir),
        "profile": options.profile,
        "target": rust.WASM_TARGET,
        "cargo_features": options.cargo_features,
        "rustc": {"version": toolchain.version, "provider": toolchain.provider, "path": str(toolchain.rustc),
                  "build_std": toolchain.build_std, "target_features": target_features},
        "wasm_bindgen": {"version": bindgen.version, "provider": bindgen.provider},
        "wasm_opt": (
            {"version": optimizer.version, "provider": optimizer.provider, "level": options.wasm_opt_level,
             "flags": opt_flags}
            if optimizer else None
        ),
        "locked_versions": {name: locked[name] for name in ("datafusion", "arrow", "wasm-bindgen") if name in locked},
    }

    with console.stage(f"package -> {package_dir}"):
        files = {
            f"{out_name}_bg.wasm": final_wasm,
            f"{out_name}.js": glue["js"],
            f"{out_name}.d.ts": glue["dts"],
            f"{out_name}_bg.wasm.d.ts": glue["wasm_dts"],
        }
        publish_package(package_dir, files, {
            "package.json": package_json(crate, out_name),
            "size-report.json": report,
            "build-info.json": build_info,
        })

    print(sizes.format_table(report), flush=True)
    return BuildResult(package_dir, stages_dir, report, build_info, reused)


def load_report(package_dir: Path) -> dict:
    path = package_dir / "size-report.json"
    report = cache.read_json(path)
    if report is None:
        raise ToolchainError(f"no size report at {path}", "run `nox -s build` first")
    return report
