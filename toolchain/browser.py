"""Chromium and chromedriver from Debian: never a driver download (Selenium Manager is bypassed)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolchain import process, system
from toolchain.errors import MissingTool, WrongVersion

CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]
CHROMEDRIVER_CANDIDATES = ["/usr/bin/chromedriver", "chromedriver"]
# Flags for a headless Chromium run as root on a machine with a closed network: without the
# background-networking ones Chromium floods the network with refused connections.
CHROMIUM_ARGUMENTS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-default-apps",
]


@dataclass(frozen=True)
class Browser:
    chromium: Path
    chromium_version: str
    chromedriver: Path
    chromedriver_version: str


def _first(candidates: list[str]) -> Path | None:
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    return None


def _major(text: str | None) -> str | None:
    match = re.search(r"(\d+)\.\d+\.\d+", text or "")
    return match.group(1) if match else None


def find(install: bool = False) -> Browser:
    chromium, driver = _first(CHROMIUM_CANDIDATES), _first(CHROMEDRIVER_CANDIDATES)
    if (chromium is None or driver is None) and install:
        system.ensure_packages(system.BROWSER_PACKAGES, "browser tests")
        chromium, driver = _first(CHROMIUM_CANDIDATES), _first(CHROMEDRIVER_CANDIDATES)
    if chromium is None or driver is None:
        missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if path is None]
        raise MissingTool(
            f"browser tests need {' and '.join(missing)}, which are not installed",
            f"run `nox -s doctor -- --install` or: {system.apt_install_command(system.BROWSER_PACKAGES)}",
        )
    chromium_version = process.output([chromium, "--version"]) or "unknown"
    driver_version = process.output([driver, "--version"]) or "unknown"
    if _major(chromium_version) != _major(driver_version):
        raise WrongVersion(
            f"chromium ({chromium_version}) and chromedriver ({driver_version}) are different major versions",
            f"install matching ones: {system.apt_install_command(system.BROWSER_PACKAGES)}",
        )
    return Browser(chromium, chromium_version, driver, driver_version)
