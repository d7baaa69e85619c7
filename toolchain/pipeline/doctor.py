"""`doctor`: what the toolchain finds on this machine, at which version, from where.

With install=True it provisions whatever is missing first (system packages as root, the
wasm-bindgen CLI and npm packages into the tool cache). Never a download from outside the
package registries.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolchain.analysis import cargo_lock
from toolchain.core import cache, process, system
from toolchain.core.errors import ToolchainError
from toolchain.tools import browser, clang, go, rust, wasm_bindgen, wasm_opt, wasmtime, wasmtime_cli


@dataclass
class Finding:
    component: str
    ok: bool
    version: str
    source: str
    required: bool = True


def _check(component: str, probe, required: bool = True) -> Finding:
    try:
        version, source = probe()
        return Finding(component, True, version, source, required)
    except ToolchainError as exc:
        return Finding(component, False, "-", str(exc), required)


def _rust(install: bool):
    toolchain = rust.find_toolchain(install=install)
    features = ",".join(rust.enabled_target_features(toolchain))
    return toolchain.version, f"{toolchain.rustc} [{toolchain.provider}]; wasm32 features: {features}"


def _wasm_c_compiler(install: bool):
    env = rust._c_toolchain_env()
    cc = env.get("CC_wasm32_unknown_unknown")
    if not cc and install:
        system.ensure_packages(system.C_WASM32_PACKAGES, "C dependencies compiled for wasm32")
        cc = rust._c_toolchain_env().get("CC_wasm32_unknown_unknown")
    if not cc:
        raise ToolchainError(
            "no clang to compile C dependencies (zstd-sys) for wasm32",
            f"run: {system.apt_install_command(system.C_WASM32_PACKAGES)}",
        )
    return (process.output([cc, "--version"]) or "").splitlines()[0], cc


def _bindgen(manifest: Path, install: bool):
    lock = cargo_lock.find_lock_file(manifest.resolve())
    version = cargo_lock.single_locked_version(lock, "wasm-bindgen")
    found = wasm_bindgen.ensure(version, install_missing=install)
    return found.version, f"{found.executable} [{found.provider}] (= wasm-bindgen in {lock})"


def _cached_bindgens():
    """Every wasm-bindgen CLI version in the tool cache (crates locked to other versions use
    them): version, executable, provider (cargo install, or the wheel it was extracted from)."""
    cached = wasm_bindgen.cached_versions()
    if not cached:
        raise ToolchainError(
            f"no wasm-bindgen CLI in {cache.tools_dir()}",
            "a build provisions the version its Cargo.lock asks for (`nox -s doctor -- --install`)",
        )
    lines = [
        f"{c.version}: {c.executable} [{c.provider}]" + (f" DAMAGED: {c.problem}" if c.problem else "") for c in cached
    ]
    return ", ".join(c.version for c in cached), "\n".join(lines)


def _wasm_opt(name: str, install: bool):
    found = wasm_opt.ensure(name, install_missing=install)
    return f"binaryen {found.version}", f"{' '.join(found.argv)} [{wasm_opt.PROVIDERS[name].description}]"


def _browser(install: bool):
    found = browser.find(install=install)
    return found.chromium_version, f"{found.chromium}; driver {found.chromedriver} ({found.chromedriver_version})"


def _firefox(install: bool):
    found = browser.find_firefox(install=install)
    return (
        found.firefox_version,
        f"{found.firefox}; driver {found.geckodriver} ({found.geckodriver_version}, from crates.io)",
    )


def _program(name: str):
    path = shutil.which(name)
    if not path:
        raise ToolchainError(f"{name} is not on PATH", "install Node.js and npm (Debian: nodejs npm)")
    return process.output([path, "--version"]) or "?", path


def _wasmtime_library():
    wasmtime.module_api()  # raises MissingTool / WrongVersion
    return wasmtime.VERSION, "this Python environment (PyPI wasmtime)"


def _wasmtime_cli(install: bool):
    cli = wasmtime_cli.ensure(install_missing=install)
    return cli.version, f"{cli.executable} (all-arch, cargo install)"


def _udf_clang():
    found = clang.find()
    if found is None:
        raise ToolchainError(
            "no clang with the wasm32 backend", f"run: {system.apt_install_command(system.C_UDF_PACKAGES)}"
        )
    return found.version, str(found.executable)


def _go():
    found = go.ensure()
    return found.version, str(found.executable)


def _python_package(name: str):
    try:
        return importlib.metadata.version(name), "this Python environment"
    except importlib.metadata.PackageNotFoundError:
        raise ToolchainError(
            f"Python package {name} is not installed here", "run through nox, which installs it"
        ) from None


def diagnose(manifest: Path, install: bool = False, python_packages: tuple[str, ...] = ()) -> list[Finding]:
    findings = [
        _check("rust (wasm32)", lambda: _rust(install)),
        _check("clang (C for wasm32)", lambda: _wasm_c_compiler(install)),
        _check("wasm-bindgen CLI", lambda: _bindgen(manifest, install)),
        _check("wasm-bindgen CLIs cached", _cached_bindgens, required=False),
    ]
    default = wasm_opt.chosen_provider()  # what builds use unless told otherwise
    for name in wasm_opt.PROVIDERS:
        chosen = name == default
        label = f"wasm-opt [{name}]" + (" (default)" if chosen else "")
        findings.append(_check(label, lambda n=name, c=chosen: _wasm_opt(n, install and c), required=chosen))
    findings += [
        _check("chromium + chromedriver", lambda: _browser(install)),
        # The second browser of the browser suite; without it the suite's Firefox run is skipped.
        _check("firefox ESR + geckodriver", lambda: _firefox(install), required=False),
        _check("node", lambda: _program("node")),
        _check("npm", lambda: _program("npm")),
        # WASM UDFs (docs/udf.md): needed by `udf` only, so optional here.
        _check("wasmtime (UDF validate, calls)", _wasmtime_library, required=False),
        _check("wasmtime CLI (UDF precompile)", lambda: _wasmtime_cli(install), required=False),
        _check("clang (C UDFs)", _udf_clang, required=False),
        _check("go (Go UDFs)", _go, required=False),
    ]
    findings += [_check(f"python: {p}", lambda p=p: _python_package(p)) for p in python_packages]
    return findings


def format_findings(findings: list[Finding]) -> str:
    width = max(len(f.component) for f in findings)
    lines = []
    for finding in findings:
        status = "ok" if finding.ok else ("MISSING" if finding.required else "absent (optional)")
        lines.append(f"{finding.component.ljust(width)}  {status:<17}  {finding.version}")
        for detail in finding.source.splitlines():
            lines.append(f"{'':{width}}    {detail}")
    return "\n".join(lines)
