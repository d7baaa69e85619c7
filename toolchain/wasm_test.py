"""Rust-side tests in the browser: `cargo test` for wasm32 through wasm-bindgen-test-runner.

The runner is the one installed with the wasm-bindgen CLI (always the Cargo.lock version), and
it drives Debian's chromedriver (CHROMEDRIVER), so nothing is downloaded. The tests build with
the same profile, rustflags and target directory as `nox -s build`, so only the test crates
compile on top of an existing build. Chromium's flags come from the crate's webdriver.json.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolchain import browser, build, cargo_lock, console, rust, wasm_bindgen
from toolchain.errors import StageFailed, ToolchainError


@dataclass
class WasmTestResult:
    passed: int
    failed: int
    output: str


def test_command(toolchain: rust.RustToolchain, crate: cargo_lock.CrateManifest, profile: str) -> list[str]:
    return [
        str(toolchain.cargo), "test", "--locked", "--manifest-path", str(crate.manifest_path),
        "--target", rust.WASM_TARGET, "--profile", profile, "--tests",
        # libtest is built from source too, and tests run with the same abort strategy as the build.
        *(["-Zbuild-std=std,panic_abort,test", "-Zpanic-abort-tests"] if toolchain.build_std else []),
        *toolchain.build_std_feature_flags(crate.settings.build_std_features),
        # As the build: same profile settings, so the build's compiled crates are reused.
        *toolchain.trim_paths_flags(profile),
    ]


def run(manifest_path: Path, profile: str = "release", install: bool = True, extra: list[str] | None = None) -> WasmTestResult:
    crate = cargo_lock.read_manifest(manifest_path)
    if not (crate.crate_dir / "webdriver.json").is_file():
        console.warn(f"{crate.crate_dir}/webdriver.json is missing: Chromium will run without --no-sandbox/--headless flags")
    toolchain = rust.find_toolchain(install=install)
    lock = cargo_lock.find_lock_file(crate.manifest_path)
    bindgen = wasm_bindgen.ensure(cargo_lock.single_locked_version(lock, "wasm-bindgen"), install_missing=install)
    if not bindgen.test_runner.exists():
        raise ToolchainError(f"no wasm-bindgen-test-runner beside {bindgen.executable}",
                             "reinstall the CLI: `nox -s doctor -- --install` (it installs both binaries)")
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
    console.info(f"runner: {bindgen.test_runner} (wasm-bindgen {bindgen.version}); chromedriver: {chromium.chromedriver}")
    # cargo runs the tests from the crate directory, where the runner reads webdriver.json.
    result = subprocess.run(argv, env=env, cwd=crate.crate_dir, stdout=subprocess.PIPE, text=True)
    print(result.stdout, end="", flush=True)
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", result.stdout))
    failed = sum(int(n) for n in re.findall(r"(\d+) failed", result.stdout))
    if result.returncode != 0:
        raise StageFailed(
            f"wasm tests of {crate.package_name} failed (cargo exit {result.returncode}; {passed} passed, {failed} failed)",
            "the failing test and the browser's output are above; a failing assertion with panic=immediate-abort "
            "shows as 'RuntimeError: unreachable' in the named test",
        )
    if passed == 0:
        raise StageFailed(f"no wasm test of {crate.package_name} ran",
                          "add #[wasm_bindgen_test] tests under tests/ with wasm_bindgen_test_configure!(run_in_browser)")
    return WasmTestResult(passed, failed, result.stdout)
