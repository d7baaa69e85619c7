"""The wasmtime CLI, built with every backend (`all-arch`), for cross-compiling UDF modules.

Why a CLI next to wasmtime-py: the PyPI wheel's library has only the host's backend and aborts the
process when asked for another target; `wasmtime compile --target aarch64-...` from a CLI built
with `all-arch` can. The CLI must be exactly the library's version (deserialize checks it), so it
is `cargo install`ed from crates.io at tools.wasmtime.VERSION into the tool cache, with only the
features precompiling needs (no WASI, HTTP or TLS stacks: a third of the build).

wasmtime-cli 50 declares rust-version 1.97; the Rust that builds it is the first of: `cargo` on
PATH if its rustc is new enough, rustup's nightly (`rustup run nightly cargo`), Debian's cargo.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolchain.core import cache, process
from toolchain.core.errors import MissingTool, WrongVersion
from toolchain.tools import wasmtime

MIN_RUST = (1, 97)
# Features that change what an artifact is (wasm proposals, gc, threads) match the PyPI library's
# defaults, so a CLI-made artifact for this host deserializes in wasmtime-py (a test proves it).
FEATURES = (
    "compile",
    "cranelift",
    "winch",
    "pulley",
    "all-arch",
    "wat",
    "cache",
    "parallel-compilation",
    "threads",
    "gc",
    "gc-drc",
    "gc-null",
    "component-model",
    "component-model-async",  # "concurrency support": without it no artifact loads into wasmtime-py's default engine
)


@dataclass(frozen=True)
class WasmtimeCli:
    executable: Path
    version: str


def cached_install_dir(version: str = wasmtime.VERSION) -> Path:
    return cache.tools_dir() / f"wasmtime-cli-{version}-all-arch"


def reported_version(executable: Path) -> str | None:
    out = process.output([executable, "--version"])
    match = re.search(r"wasmtime (\d+\.\d+\.\d+)", out or "")
    return match.group(1) if match else None


def _rust_version(argv: list[str]) -> tuple[int, int] | None:
    out = process.output([*argv, "--version"])
    match = re.search(r"(\d+)\.(\d+)\.\d+", out or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def building_cargo() -> list[str]:
    """The command prefix of a cargo whose rustc is at least MIN_RUST."""
    candidates: list[tuple[list[str], list[str]]] = []
    if shutil.which("cargo"):
        candidates.append((["cargo"], ["rustc"]))
    if shutil.which("rustup"):
        candidates.append((["rustup", "run", "nightly", "cargo"], ["rustup", "run", "nightly", "rustc"]))
    if Path("/usr/bin/cargo").exists():
        candidates.append((["/usr/bin/cargo"], ["/usr/bin/rustc"]))
    seen = []
    for cargo, rustc in candidates:
        found = _rust_version(rustc)
        seen.append(f"{' '.join(rustc)}: {'.'.join(map(str, found)) if found else 'not runnable'}")
        if found and found >= MIN_RUST:
            return cargo
    raise MissingTool(
        f"wasmtime-cli {wasmtime.VERSION} needs Rust {'.'.join(map(str, MIN_RUST))} or newer to build; found "
        + "; ".join(seen),
        "install a newer Rust (`rustup toolchain install nightly` or stable >= 1.97)",
    )


def find(version: str = wasmtime.VERSION) -> WasmtimeCli | None:
    root = cached_install_dir(version)
    executable = root / "bin" / "wasmtime"
    if not executable.is_file() or cache.install_problem(root):
        return None
    if reported_version(executable) != version:
        return None
    return WasmtimeCli(executable, version)


def install(version: str = wasmtime.VERSION) -> WasmtimeCli:
    cargo = building_cargo()
    final = cached_install_dir(version)

    def populate(root: Path) -> None:
        argv = [
            *cargo,
            "install",
            "wasmtime-cli",
            "--version",
            f"={version}",
            "--locked",
            "--no-default-features",
            "--features",
            ",".join(FEATURES),
            "--root",
            root,
            "--no-track",
        ]
        env = {"CARGO_TARGET_DIR": str(cache.cache_root() / "cargo-install-target")}
        process.run(
            argv,
            what=f"installing wasmtime-cli {version} (all-arch; 10-20 minutes on 2 cores, once)",
            fix="check that crates.io (or your registry mirror) is reachable; then run "
            "`nox -s udf -- precompile` again",
            env=env,
        )

    cache.install_once(final, populate, lambda: find(version) is not None, f"wasmtime-cli {version} (all-arch)")
    found = find(version)
    if found is None:
        raise WrongVersion(
            f"installed wasmtime-cli {version} into {final} but it does not run as that version",
            f"delete {final} and retry",
        )
    return found


def ensure(install_missing: bool = True, version: str = wasmtime.VERSION) -> WasmtimeCli:
    found = find(version)
    if found:
        return found
    if not install_missing:
        raise MissingTool(
            f"the wasmtime CLI {version} (all-arch) is not installed",
            f"run `nox -s udf -- precompile` (it installs it into {cached_install_dir(version)})",
        )
    return install(version)


def compile_args(settings: wasmtime.EngineSettings) -> list[str]:
    """`wasmtime compile` options equivalent to tools.wasmtime.make_config(settings)."""
    args = []
    if settings.strategy == "pulley":
        args += ["--target", wasmtime.PULLEY_TARGET]
    elif settings.target:
        args += ["--target", settings.target]
    if settings.strategy == "winch":
        args += ["-C", "compiler=winch"]
    if settings.fuel:
        args += ["-W", "fuel=0"]  # any value turns fuel consumption on; the amount is the host's
    if settings.epoch:
        args += ["-W", "epoch-interruption=y"]
    return args


def compile(cli: WasmtimeCli, settings: wasmtime.EngineSettings, module: Path, output: Path) -> None:
    """Writes the artifact of `module` for `settings` to `output` (atomically)."""
    temporary = output.with_name(output.name + ".tmp")
    process.run(
        [cli.executable, "compile", *compile_args(settings), module, "-o", temporary],
        what=f"wasmtime compile ({settings.strategy}, {settings.effective_target}, {settings.profile})",
        fix="the module must validate first: run `nox -s udf -- validate MODULE`",
        capture=True,
        show=False,
    )
    temporary.replace(output)
