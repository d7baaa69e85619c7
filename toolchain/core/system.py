"""System packages (Debian): installed with apt when we are root, else the exact command is printed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from toolchain.core import console, process
from toolchain.core.errors import MissingTool

# Every Debian package the toolchain can use, grouped by what needs it.
RUST_WASM32_PACKAGES = ["rustc-web", "cargo-web", "rust-web-src", "lld-22"]
C_WASM32_PACKAGES = ["clang-22", "llvm-22"]  # C dependencies (zstd-sys) compiled for wasm32
C_UDF_PACKAGES = ["clang-22", "lld-22"]  # C UDFs: clang's wasm32 backend and wasm-ld
WASM_OPT_DEBIAN_PACKAGES = ["binaryen"]
BROWSER_PACKAGES = ["chromium", "chromium-driver"]
FIREFOX_PACKAGES = ["firefox-esr"]  # geckodriver comes from crates.io (toolchain/tools/browser.py)


def missing_packages(packages: Sequence[str]) -> list[str]:
    """The packages dpkg does not report as installed."""
    if not shutil.which("dpkg-query"):
        return list(packages)
    missing = []
    for package in packages:
        status = process.output(["dpkg-query", "-W", "-f=${Status}", package]) or ""
        if "install ok installed" not in status:
            missing.append(package)
    return missing


def apt_install_command(packages: Sequence[str]) -> str:
    return "sudo apt-get update && sudo apt-get install -y " + " ".join(packages)


def ensure_packages(packages: Sequence[str], purpose: str) -> None:
    """Installs the missing packages as root; otherwise fails with the command to run."""
    missing = missing_packages(packages)
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise MissingTool(
            f"{purpose} needs Debian packages that are not installed: {' '.join(missing)}",
            f"run: {apt_install_command(missing)}",
        )
    console.info(f"installing {' '.join(missing)} for {purpose}")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
        result = process.run(
            argv,
            env={"DEBIAN_FRONTEND": "noninteractive"},
            capture=True,
            check=False,
            what=f"installing {' '.join(missing)}",
        )
        if result.returncode != 0:
            raise MissingTool(
                f"`{' '.join(argv)}` failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}",
                f"fix apt (network to the Debian mirror, dpkg locks) and run: {apt_install_command(missing)}",
            )
