"""wasm-opt (binaryen): providers, pinned versions, and feature flags derived from rustc.

Binaryen enables only sign-ext and mutable-globals by default and otherwise trusts the module's
target_features section, which `strip` removes; rustc >= 1.87 emits bulk memory, reference
types and more by default. So the features rustc enables are passed to wasm-opt explicitly.
"""

from __future__ import annotations

import functools
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolchain.core import cache, console, installed_wheels, process, system
from toolchain.core.errors import MissingTool

# rustc target feature -> binaryen flag. Features binaryen folds into another are mapped to it.
RUSTC_TO_BINARYEN = {
    "atomics": "--enable-threads",
    "bulk-memory": "--enable-bulk-memory",
    "bulk-memory-opt": "--enable-bulk-memory",
    "call-indirect-overlong": "--enable-reference-types",
    "exception-handling": "--enable-exception-handling",
    "extended-const": "--enable-extended-const",
    "fp16": "--enable-fp16",
    "gc": "--enable-gc",
    "memory64": "--enable-memory64",
    "multimemory": "--enable-multimemory",
    "multivalue": "--enable-multivalue",
    "mutable-globals": "--enable-mutable-globals",
    "nontrapping-fptoint": "--enable-nontrapping-float-to-int",
    "reference-types": "--enable-reference-types",
    "relaxed-simd": "--enable-relaxed-simd",
    "sign-ext": "--enable-sign-ext",
    "simd128": "--enable-simd",
    "tail-call": "--enable-tail-call",
}


def feature_flags(rustc_features: list[str]) -> list[str]:
    """binaryen --enable-* flags for the features rustc enables; unknown ones are warned about."""
    flags: list[str] = []
    for feature in sorted(rustc_features):
        flag = RUSTC_TO_BINARYEN.get(feature)
        if flag is None:
            console.warn(
                f"rustc enables wasm feature '{feature}', which this toolchain does not map to a "
                "wasm-opt flag; if wasm-opt then rejects the module, add it to RUSTC_TO_BINARYEN"
            )
        elif flag not in flags:
            flags.append(flag)
    return flags


@dataclass(frozen=True)
class WasmOpt:
    argv: tuple[str, ...]  # how to invoke it (node + script for the npm build)
    version: str  # binaryen release number, e.g. "132"
    provider: str


@dataclass(frozen=True)
class Provider:
    """One way to obtain wasm-opt, at one pinned binaryen version."""

    name: str
    version: str
    description: str

    # What to do when it is not installed (shown by doctor and by a build that needs it).
    install_hint = "run `nox -s doctor -- --install`, or build with --no-wasm-opt"

    def locate(self) -> WasmOpt | None:
        raise NotImplementedError

    def install(self) -> None:
        raise NotImplementedError


def parse_version(output: str | None) -> str | None:
    if not output:
        return None
    match = re.search(r"version[ _](\d+)", output)
    return match.group(1) if match else None


class DebianProvider(Provider):
    executable = Path("/usr/bin/wasm-opt")

    def locate(self) -> WasmOpt | None:
        if not self.executable.exists():
            return None
        version = parse_version(process.output([self.executable, "--version"]))
        if version is None:
            return None
        return WasmOpt((str(self.executable),), version, self.name)

    def install(self) -> None:
        system.ensure_packages(system.WASM_OPT_DEBIAN_PACKAGES, "wasm-opt (Debian binaryen)")


class NpmProvider(Provider):
    """binaryen's JS/wasm build from the npm registry, run by node; installed into the tool cache."""

    @property
    def prefix(self) -> Path:
        return cache.tools_dir() / f"binaryen-npm-{self.version}"

    @property
    def script(self) -> Path:
        return self.prefix / "node_modules" / "binaryen" / "bin" / "wasm-opt"

    def problem(self) -> str | None:
        """What is wrong with the install in the tool cache (None: absent or intact)."""
        if not self.prefix.exists():
            return None
        if not self.script.is_file():
            return f"{self.script} is missing"
        return cache.install_problem(self.prefix)  # checksums recorded at install time

    def locate(self) -> WasmOpt | None:
        node = shutil.which("node")
        if not node or not self.script.exists() or self.problem():
            return None  # a damaged install is not used; install() replaces it
        argv = (node, str(self.script))
        version = parse_version(process.output([*argv, "--version"]))
        if version is None:
            return None
        return WasmOpt(argv, version, self.name)

    def install(self) -> None:
        npm = shutil.which("npm")
        if not npm:
            raise MissingTool(
                "npm is needed to install binaryen from the npm registry",
                "install Node.js and npm (Debian: nodejs npm)",
            )

        def populate(prefix: Path) -> None:
            process.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", prefix, f"binaryen@{self.version}"],
                what=f"npm install binaryen@{self.version}",
                fix="check that the npm registry is reachable",
            )

        problem = self.problem()
        if problem:
            console.warn(f"npm binaryen in the tool cache ({self.prefix}) is damaged ({problem}): installing it again")
        cache.install_dir_atomically(self.prefix, populate, record=True)


class WheelProvider(Provider):
    """binaryen's native wasm-opt from a binaryen-wasm-opt wheel installed in this Python environment.

    Built from packaging/binaryen-wasm-opt (`python -m toolchain toolchain-wheels build`) and
    installed with pip, typically from an internal package index on air-gapped CI."""

    def locate(self) -> WasmOpt | None:
        wheel = installed_wheels.installed_executable(installed_wheels.WASM_OPT_WHEEL, "wasm-opt")
        if wheel is None:
            return None
        version = parse_version(process.output([wheel.executable, "--version"]))
        return WasmOpt((str(wheel.executable),), version, self.name) if version else None

    install_hint = (
        "build it with `nox -s toolchain_wheels` and run nox with WASM_TOOLCHAIN_WHEELS=artifacts/toolchain-wheels, "
        f"or `pip install {installed_wheels.WASM_OPT_WHEEL}` (from artifacts/toolchain-wheels or your package index) "
        "into the environment that runs the toolchain"
    )

    def install(self) -> None:
        raise MissingTool(
            f"the {installed_wheels.WASM_OPT_WHEEL} wheel is not installed in this Python environment",
            self.install_hint,
        )


class PathProvider(Provider):
    """Whatever wasm-opt is first on PATH (a developer's own binaryen); version as reported."""

    def locate(self) -> WasmOpt | None:
        found = shutil.which("wasm-opt")
        if not found:
            return None
        version = parse_version(process.output([found, "--version"]))
        return WasmOpt((found,), version, self.name) if version else None

    def install(self) -> None:
        raise MissingTool(
            "no wasm-opt on PATH", "install binaryen, or choose another provider with --wasm-opt-provider"
        )


PROVIDERS: dict[str, Provider] = {
    # binaryen 108 is fast but its output of wasm-bindgen >= 0.2.1xx modules does not
    # instantiate (V8: "Table.set(): ... function-typed object must be null"); measured, see README.
    "debian": DebianProvider(
        "debian", "108", "Debian bookworm package binaryen (native C++); its output does not instantiate"
    ),
    "npm": NpmProvider("npm", "132.0.0", "npm package binaryen (JS/wasm build run by node)"),
    "wheel": WheelProvider(
        "wheel",
        "116",
        "pip wheel binaryen-wasm-opt (native binaryen 116 from the "
        "crates.io wasm-opt-sys sources; packaging/binaryen-wasm-opt)",
    ),
    "path": PathProvider("path", "any", "the wasm-opt first on PATH"),
}
# Chosen by measurement on the engine (see README, "Choosing the wasm-opt provider").
DEFAULT_PROVIDER = "npm"
# Providers preferred over DEFAULT_PROVIDER when they are installed, in order: only those whose
# output was measured to instantiate on the engine (see README, "Toolchain wheels").
PREFERRED_WHEN_INSTALLED: tuple[str, ...] = ("wheel",)
# What --wasm-opt-provider defaults to: the first of PREFERRED_WHEN_INSTALLED that is installed,
# else DEFAULT_PROVIDER.
AUTO = "auto"


def chosen_provider() -> str:
    """The provider `auto` means on this machine, right now."""
    for name in PREFERRED_WHEN_INSTALLED:
        if PROVIDERS[name].locate() is not None:
            return name
    return DEFAULT_PROVIDER


def ensure(provider_name: str = AUTO, install_missing: bool = True) -> WasmOpt:
    if provider_name == AUTO:
        provider_name = chosen_provider()
    provider = PROVIDERS.get(provider_name)
    if provider is None:
        raise MissingTool(
            f"unknown wasm-opt provider '{provider_name}'", f"choose one of: {AUTO}, {', '.join(PROVIDERS)}"
        )
    found = provider.locate()
    if found is None and install_missing:
        provider.install()
        found = provider.locate()
    if found is None:
        raise MissingTool(
            f"wasm-opt from provider '{provider_name}' ({provider.description}) is not installed",
            provider.install_hint,
        )
    pinned = provider.version
    if pinned != "any" and not pinned.startswith(found.version):
        raise MissingTool(
            f"wasm-opt from provider '{provider_name}' is binaryen {found.version}, but the toolchain pins {pinned}",
            "reinstall the pinned version (`nox -s doctor -- --install`) or pick --wasm-opt-provider path to use your own",
        )
    return found


# Keep the names section through optimisation: the size check attributes the optimised module's
# bytes to crates and functions by name. The build strips names afterwards, so what ships is the same.
KEEP_NAMES = "--debuginfo"
# After optimising, order functions by name: instantiations of one generic, and one crate's code,
# end up side by side, inside gzip's 32 kB window. Measured on the engine: gzip -10% to -14% for
# the same code (the default order, by call count, scatters them). Debian's binaryen 108 lacks it.
ORDER_BY_NAME = "--reorder-functions-by-name"


@functools.cache
def supports(argv: tuple[str, ...], flag: str) -> bool:
    return flag in (process.output([*argv, "--help"]) or "")


def pass_flags(wasm_opt: WasmOpt, passes: list[str]) -> list[str]:
    """The optimisation passes, then the gzip-friendly function order when this binaryen has it."""
    flags = [*passes, KEEP_NAMES]
    if supports(wasm_opt.argv, ORDER_BY_NAME):
        flags.append(ORDER_BY_NAME)
    return flags


def optimize(wasm_opt: WasmOpt, input_wasm: Path, output_wasm: Path, passes: list[str], features: list[str]) -> None:
    process.run(
        [*wasm_opt.argv, input_wasm, "-o", output_wasm, *pass_flags(wasm_opt, passes), *features],
        what="wasm-opt",
        fix="if it names an unsupported feature, the feature flags derived from rustc miss one; "
        "otherwise try another provider (--wasm-opt-provider) or build with --no-wasm-opt",
    )
