"""The wasm-bindgen CLI, always at exactly the version of the wasm-bindgen crate in Cargo.lock.

The generated JS glue and the wasm-bindgen crate speak a private protocol that changes between
releases, so the CLI version is derived from the lock file and installed per version into the
tool cache; a different version is never used.

A `wasm-bindgen-cli` wheel installed in the running Python environment (built by
`python -m toolchain toolchain-wheels build`, installed from a package index) comes first:
that is how air-gapped CI provides it. A wheel of another version is refused, not skipped.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
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


def _candidates(version: str) -> list[tuple[Path, str]]:
    candidates = []
    wheel = installed_wheel(version)
    if wheel:
        candidates.append((wheel, WHEEL_PROVIDER))
    candidates.append((cached_install_dir(version) / "bin" / "wasm-bindgen", CACHE_PROVIDER))
    on_path = shutil.which("wasm-bindgen")
    if on_path:
        candidates.append((Path(on_path), "PATH"))
    return candidates


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


def find(version: str) -> tuple[WasmBindgen | None, list[str]]:
    """An installed wasm-bindgen CLI of exactly `version`, and notes on the ones that are not."""
    notes = []
    for executable, provider in _candidates(version):
        if not executable.exists() and provider != CACHE_PROVIDER:
            continue
        if provider == CACHE_PROVIDER:
            problem = damaged_install(version)
            if problem:
                notes.append(f"{cached_install_dir(version)} is damaged: {problem}")
                continue
            if not executable.exists():
                continue
        found = reported_version(executable)
        if found == version:
            return WasmBindgen(executable, version, provider), notes
        if provider == WHEEL_PROVIDER:
            raise WrongVersion(
                f"{executable}, from the {installed_wheels.WASM_BINDGEN_WHEEL} {version} wheel, "
                f"reports wasm-bindgen {found}",
                "rebuild the wheel from packaging/wasm-bindgen-cli",
            )
        notes.append(f"{executable} is wasm-bindgen {found}, not {version}")
    return None, notes


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


def ensure(version: str, install_missing: bool = True) -> WasmBindgen:
    found, notes = find(version)
    if found:
        return found
    problem = damaged_install(version)
    if problem and install_missing:
        console.warn(f"the wasm-bindgen CLI {version} in the tool cache is damaged ({problem}): reinstalling it")
    if not install_missing:
        detail = ("; ".join(notes) + ". ") if notes else ""
        raise MissingTool(
            f"wasm-bindgen CLI {version} (the version of the wasm-bindgen crate in Cargo.lock) is not installed. {detail}",
            "run `nox -s doctor -- --install` (it runs cargo install wasm-bindgen-cli "
            f"--version ={version} into {cached_install_dir(version)})",
        )
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
