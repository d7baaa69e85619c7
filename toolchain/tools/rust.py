"""Finding a Rust toolchain that builds wasm32-unknown-unknown, without any network download.

Two providers, in order of preference:
  * a rustc whose sysroot already has the wasm32 standard library (a rustup toolchain with
    `rustup target add wasm32-unknown-unknown` done, on a developer laptop);
  * Debian's rustc-web + cargo-web + rust-web-src: the compiler knows the target, and the
    standard library is built from the shipped sources with -Zbuild-std (RUSTC_BOOTSTRAP=1).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.core import process, system
from toolchain.core.errors import MissingTool

WASM_TARGET = "wasm32-unknown-unknown"
DEBIAN_RUSTC = Path("/usr/bin/rustc")
DEBIAN_CARGO = Path("/usr/bin/cargo")
# Debian's clang-22 / llvm-ar-22 compile C dependencies (zstd-sys) for wasm32.
WASM_C_COMPILERS = ["clang-22", "clang"]
WASM_ARCHIVERS = ["llvm-ar-22", "llvm-ar"]
# Lets a stable cargo take -Z flags (-Zbuild-std, -Ztrim-paths); Debian's provider sets it anyway.
UNSTABLE_ENV = {"RUSTC_BOOTSTRAP": "1"}
# arrow enables ahash's compile-time-rng on wasm32: its hash keys come from const-random, which
# draws a fresh random seed at every compile unless CONST_RANDOM_SEED is set (measured: 126
# bytes of keys differed between two clean builds). The keys ship inside the module, readable by
# anyone, so a fixed seed gives nothing away. A seed set by the caller wins.
REPRODUCIBLE_ENV = {"CONST_RANDOM_SEED": "wasm-qe-toolchain"}


def build_env(toolchain: RustToolchain, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment cargo builds for wasm32 with: the caller's, the toolchain's, -Z allowed, fixed seeds."""
    environ = dict(os.environ if environ is None else environ)
    return {
        **environ,
        **toolchain.env,
        **UNSTABLE_ENV,
        **{k: v for k, v in REPRODUCIBLE_ENV.items() if k not in environ},
    }


@dataclass(frozen=True)
class RustToolchain:
    rustc: Path
    cargo: Path
    version: str  # "rustc 1.96.0 (ac68faa20 2026-05-25)"
    provider: str  # how this toolchain gets a wasm32 std
    build_std: bool
    env: dict[str, str] = field(default_factory=dict)

    @property
    def cargo_flags(self) -> list[str]:
        return ["-Zbuild-std=std,panic_abort"] if self.build_std else []

    def build_std_feature_flags(self, features: tuple[str, ...] | list[str]) -> list[str]:
        """-Zbuild-std-features, which only means something when std is built from source."""
        return [f"-Zbuild-std-features={','.join(features)}"] if self.build_std and features else []

    def trim_paths_flags(self, profile: str) -> list[str]:
        """Cargo's path trimming, so that no build-machine path ends up in the module.

        cargo then passes --remap-path-prefix per crate: the workspace to ".", registry crates to
        "<name>-<version>", path dependencies outside the workspace to "<name>-<version>", the std
        sources to "/rustc/<commit>" and the target directory to "/cargo/build-dir". Two checkouts
        in different directories (or machines) then compile the same bytes. The flags of registry
        crates do not depend on the checkout, so a shared target directory keeps serving every
        clone. Unstable in cargo 1.96: needs RUSTC_BOOTSTRAP=1 (see UNSTABLE_ENV).
        """
        return ["-Ztrim-paths", "--config", f'profile.{profile}.trim-paths="all"']

    @property
    def semver(self) -> str:
        match = re.search(r"\d+\.\d+\.\d+", self.version)
        return match.group(0) if match else self.version


def _sysroot(rustc: Path) -> Path | None:
    out = process.output([rustc, "--print", "sysroot"])
    return Path(out) if out else None


def _knows_wasm_target(rustc: Path) -> bool:
    targets = process.output([rustc, "--print", "target-list"]) or ""
    return WASM_TARGET in targets.split()


def _candidate_rustcs() -> list[Path]:
    candidates: list[Path] = []
    if os.environ.get("RUSTC"):
        candidates.append(Path(os.environ["RUSTC"]))
    found = shutil.which("rustc")
    if found:
        candidates.append(Path(found))
    candidates.append(DEBIAN_RUSTC)
    unique: list[Path] = []
    for candidate in candidates:
        if candidate.exists() and candidate not in unique:
            unique.append(candidate)
    return unique


def _cargo_beside(rustc: Path) -> Path | None:
    cargo = rustc.with_name("cargo")
    return cargo if cargo.exists() else None


def _c_toolchain_env() -> dict[str, str]:
    env: dict[str, str] = {}
    key = WASM_TARGET.replace("-", "_")
    cc = next((shutil.which(c) for c in WASM_C_COMPILERS if shutil.which(c)), None)
    ar = next((shutil.which(a) for a in WASM_ARCHIVERS if shutil.which(a)), None)
    if cc and not os.environ.get(f"CC_{key}"):
        env[f"CC_{key}"] = cc
    if ar and not os.environ.get(f"AR_{key}"):
        env[f"AR_{key}"] = ar
    return env


def probe() -> tuple[RustToolchain | None, list[str]]:
    """The best wasm32-capable toolchain on this machine, and notes on every candidate rejected."""
    notes: list[str] = []
    build_std_choice: RustToolchain | None = None
    for rustc in _candidate_rustcs():
        version = process.output([rustc, "--version"])
        sysroot = _sysroot(rustc)
        cargo = _cargo_beside(rustc)
        if not version or not sysroot:
            notes.append(f"{rustc}: does not run")
            continue
        if cargo is None:
            notes.append(f"{rustc}: no cargo beside it")
            continue
        if (sysroot / "lib" / "rustlib" / WASM_TARGET / "lib").is_dir():
            return (
                RustToolchain(
                    rustc,
                    cargo,
                    version,
                    f"prebuilt wasm32 std in {sysroot}",
                    False,
                    {"RUSTC": str(rustc), **_c_toolchain_env()},
                ),
                notes,
            )
        library = sysroot / "lib" / "rustlib" / "src" / "rust" / "library"
        if _knows_wasm_target(rustc) and (library / "std").is_dir():
            if build_std_choice is None:
                build_std_choice = RustToolchain(
                    rustc,
                    cargo,
                    version,
                    f"std built from source ({library.resolve()})",
                    True,
                    # RUSTC_BOOTSTRAP lets a stable compiler take -Zbuild-std.
                    {"RUSTC": str(rustc), "RUSTC_BOOTSTRAP": "1", **_c_toolchain_env()},
                )
            continue
        notes.append(f"{rustc} ({version}): no wasm32 std and no rust-src to build one")
    return build_std_choice, notes


def find_toolchain(install: bool = False) -> RustToolchain:
    toolchain, notes = probe()
    if toolchain is None and install:
        system.ensure_packages(system.RUST_WASM32_PACKAGES + system.C_WASM32_PACKAGES, "a Rust that builds wasm32")
        toolchain, notes = probe()
    if toolchain is None:
        raise MissingTool(
            "no Rust toolchain here can build wasm32-unknown-unknown:\n    " + "\n    ".join(notes),
            "run `nox -s doctor -- --install` (as root it installs Debian's rustc-web, cargo-web, "
            f"rust-web-src and lld-22; otherwise: {system.apt_install_command(system.RUST_WASM32_PACKAGES)}), "
            "or on a rustup machine with network: rustup target add wasm32-unknown-unknown",
        )
    return toolchain


def enabled_target_features(toolchain: RustToolchain, rustflags: list[str] | None = None) -> list[str]:
    """The target features rustc enables for wasm32 (with the same flags the build uses)."""
    out = process.output(
        [toolchain.rustc, "--print", "cfg", "--target", WASM_TARGET, *(rustflags or [])], env=toolchain.env
    )
    if out is None:
        raise MissingTool(
            f"{toolchain.rustc} cannot print its cfg for {WASM_TARGET}",
            "check the Rust installation with `nox -s doctor`",
        )
    return parse_target_features(out)


def parse_target_features(cfg_output: str) -> list[str]:
    features = re.findall(r'^target_feature="([^"]+)"$', cfg_output, flags=re.MULTILINE)
    return sorted(set(features))


# ---------------------------------------------------------------- a native cargo (host builds)


@dataclass(frozen=True)
class NativeRust:
    """A cargo and the rustc beside it, building for this machine (native tests, the IPC fuzzer)."""

    cargo: Path
    rustc: Path
    version: str
    env: dict[str, str] = field(default_factory=dict)


def find_native(install: bool = False) -> NativeRust:
    """The cargo on PATH (rustup's, where there is one), else Debian's cargo-web: both build natively.

    RUSTC is pinned to the rustc beside that cargo, so a Debian cargo never compiles with the
    rustup rustc that shadows it on PATH (or the other way round). Nothing here needs -Z flags,
    so RUSTC_BOOTSTRAP is not set. With install, a machine with neither gets Debian's packages
    (the same ones the wasm32 build provisions)."""
    candidates: list[Path] = []
    for found in (shutil.which("cargo"), str(DEBIAN_CARGO)):
        if found and Path(found).exists() and Path(found) not in candidates:
            candidates.append(Path(found))
    notes = []
    for cargo in candidates:
        rustc = cargo.with_name("rustc")
        version = process.output([rustc, "--version"]) if rustc.exists() else None
        if version and process.output([cargo, "--version"]):
            return NativeRust(cargo, rustc, version, {"RUSTC": str(rustc)})
        notes.append(f"{cargo}: {'no rustc beside it' if not rustc.exists() else 'does not run'}")
    if install:
        find_toolchain(install=True)
        return find_native(install=False)
    raise MissingTool(
        "no native Rust toolchain (cargo + rustc) found" + (":\n    " + "\n    ".join(notes) if notes else ""),
        "run `nox -s doctor -- --install` (Debian's rustc-web and cargo-web), or install Rust with rustup",
    )
