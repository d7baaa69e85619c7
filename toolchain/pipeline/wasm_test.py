"""Rust-side tests in the browser: `cargo test` for wasm32 through wasm-bindgen-test-runner.

The runner is the one installed with the wasm-bindgen CLI (always the Cargo.lock version), and
it drives Debian's chromedriver (CHROMEDRIVER), so nothing is downloaded. The tests build with
the same profile, rustflags and target directory as `nox -s build`, so only the test crates
compile on top of an existing build. Chromium's flags come from the crate's webdriver.json.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from toolchain.analysis import cargo_lock
from toolchain.core import cache, console, process
from toolchain.core.errors import MissingTool, StageFailed, ToolchainError
from toolchain.pipeline import build
from toolchain.tools import browser, patched_crates, rust, wasm_bindgen

# Written into the target directory once `cargo test` has compiled every test: the signal that
# a later run compiles only what changed (tests/conftest.py includes the slow integration test
# then). The key names what would make cargo compile the dependencies again.
TEST_BUILD_STAMP = "wasm-qe-test-build.json"


@dataclass
class WasmTestResult:
    passed: int
    failed: int
    output: str


def test_command(toolchain: rust.RustToolchain, crate: cargo_lock.CrateManifest, profile: str) -> list[str]:
    return [
        str(toolchain.cargo),
        "test",
        "--locked",
        "--manifest-path",
        str(crate.manifest_path),
        "--target",
        rust.WASM_TARGET,
        "--profile",
        profile,
        "--tests",
        # libtest is built from source too, and tests run with the same abort strategy as the build.
        *(["-Zbuild-std=std,panic_abort,test", "-Zpanic-abort-tests"] if toolchain.build_std else []),
        *toolchain.build_std_feature_flags(crate.settings.build_std_features),
        # As the build: same profile settings, so the build's compiled crates are reused.
        *toolchain.trim_paths_flags(profile),
    ]


def _dependency_inputs(crate: cargo_lock.CrateManifest) -> dict[str, str]:
    """sha256 of what the crate's dependencies are compiled from, beyond the registry crates the
    lock file pins: its Cargo.toml, and the workspace's files outside the crate (the workspace
    Cargo.toml with the profiles, path crates, the patched crates' patches.toml and patches). The
    crate's own sources are left out: a change there recompiles only the crate and its tests. So
    are the patched crates' prepared directories: made from patches.toml and the patches, they
    may not exist yet when this is asked."""
    lock = cargo_lock.find_lock_file(crate.manifest_path)
    files = [crate.manifest_path, lock]
    workspace = lock.parent
    if workspace != crate.crate_dir:
        generated = set(patched_crates.generated_paths(workspace))
        for root, dirs, names in os.walk(workspace):
            # Pruned, not filtered: a target directory holds hundreds of thousands of files.
            dirs[:] = [
                d
                for d in dirs
                if d not in ("target", ".git") and Path(root, d) != crate.crate_dir and Path(root, d) not in generated
            ]
            files += [Path(root, name) for name in names if Path(root, name) not in generated]
    return {
        str(path.relative_to(workspace) if path.is_relative_to(workspace) else path): cache.file_sha256(path)
        for path in sorted(set(files))
    }


def compiled_tests_key(toolchain: rust.RustToolchain, crate: cargo_lock.CrateManifest, profile: str) -> str:
    return cache.cache_key(
        inputs=_dependency_inputs(crate),
        rustc=toolchain.version,
        # The checkout's own path is not part of it: the target directory is shared by every checkout
        # of the crate (a fresh clone reuses the dependencies an earlier one compiled for testing).
        argv=[a if a != str(crate.manifest_path) else "Cargo.toml" for a in test_command(toolchain, crate, profile)],
        rustflags=[*os.environ.get("RUSTFLAGS", "").split(), *crate.settings.rustflags],
    )


def _profile_dir(profile: str) -> str:
    return "debug" if profile in ("dev", "test") else "release" if profile == "bench" else profile


def missing_test_build(manifest_path: Path, profile: str = "release") -> str | None:
    """Why `wasm-test` would compile the crate's dependencies for testing from scratch (15-20
    minutes for DataFusion on 2 cores), or None when an earlier run compiled them with this
    Cargo.lock, compiler and flags and its test executables are still there."""
    crate = cargo_lock.read_manifest(manifest_path)
    try:
        toolchain = rust.find_toolchain(install=False)
    except MissingTool:
        return "no Rust toolchain for wasm32 is installed yet"
    target_dir = build.default_target_dir(crate)
    stamp = cache.read_json(target_dir / TEST_BUILD_STAMP)
    if not isinstance(stamp, dict):
        return f"{target_dir} holds no test build yet"
    if stamp.get("key") != compiled_tests_key(toolchain, crate, profile):
        return (
            f"the test build in {target_dir} was made from another Cargo.lock, workspace (profiles, "
            "patched or path crates), compiler or flags"
        )
    deps = target_dir / rust.WASM_TARGET / _profile_dir(profile) / "deps"
    for test in sorted((crate.crate_dir / "tests").glob("*.rs")):
        if not any(deps.glob(f"{test.stem.replace('-', '_')}-*.wasm")):
            return f"the compiled test '{test.stem}' is gone from {deps}"
    return None


def run(
    manifest_path: Path,
    profile: str = "release",
    install: bool = True,
    extra: list[str] | None = None,
    package: str | None = None,
) -> WasmTestResult:
    crate = cargo_lock.read_manifest(manifest_path, package)
    if not (crate.crate_dir / "webdriver.json").is_file():
        console.warn(
            f"{crate.crate_dir}/webdriver.json is missing: Chromium will run without --no-sandbox/--headless flags"
        )
    toolchain = rust.find_toolchain(install=install)
    patched_crates.prepare_for(crate.manifest_path)
    lock = cargo_lock.find_lock_file(crate.manifest_path)
    bindgen = wasm_bindgen.ensure(cargo_lock.single_locked_version(lock, "wasm-bindgen"), install_missing=install)
    if not bindgen.test_runner.exists():
        raise ToolchainError(
            f"no wasm-bindgen-test-runner beside {bindgen.executable}",
            "reinstall the CLI: `nox -s doctor -- --install` (it installs both binaries)",
        )
    chromium = browser.find(install=install)
    env = {
        **rust.build_env(toolchain),  # as the build, so its compiled crates are reused
        "CARGO_TARGET_DIR": str(build.default_target_dir(crate)),
        f"CARGO_TARGET_{rust.WASM_TARGET.upper().replace('-', '_')}_RUNNER": str(bindgen.test_runner),
        "CHROMEDRIVER": str(chromium.chromedriver),
        "WASM_BINDGEN_TEST_TIMEOUT": os.environ.get("WASM_BINDGEN_TEST_TIMEOUT", "120"),
    }
    if crate.settings.rustflags:
        env["RUSTFLAGS"] = " ".join([*os.environ.get("RUSTFLAGS", "").split(), *crate.settings.rustflags])
    argv = [*test_command(toolchain, crate, profile), *(extra or [])]
    console.command(argv)
    console.info(
        f"runner: {bindgen.test_runner} (wasm-bindgen {bindgen.version}); chromedriver: {chromium.chromedriver}"
    )
    # cargo runs the tests from the crate directory, where the runner reads webdriver.json.
    # Streamed as it comes (a cold compile takes minutes), and read for the result lines.
    result = process.stream(argv, env=env, cwd=crate.crate_dir, show=False, what=f"wasm tests of {crate.package_name}")
    if not extra and "test result:" in result.stdout:
        # cargo compiles every test before it runs one: a result line means all are compiled,
        # whether they passed or not. Extra arguments may change the build (--features), so
        # only the plain run records it.
        cache.write_json_atomic(
            Path(env["CARGO_TARGET_DIR"]) / TEST_BUILD_STAMP, {"key": compiled_tests_key(toolchain, crate, profile)}
        )
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", result.stdout))
    failed = sum(int(n) for n in re.findall(r"(\d+) failed", result.stdout))
    if result.returncode != 0:
        raise StageFailed(
            f"wasm tests of {crate.package_name} failed (cargo exit {result.returncode}; {passed} passed, {failed} failed)",
            "the failing test and the browser's output are above; a failing assertion with panic=immediate-abort "
            "shows as 'RuntimeError: unreachable' in the named test",
        )
    if passed == 0:
        raise StageFailed(
            f"no wasm test of {crate.package_name} ran",
            "add #[wasm_bindgen_test] tests under tests/ with wasm_bindgen_test_configure!(run_in_browser)",
        )
    return WasmTestResult(passed, failed, result.stdout)
