"""Browsers for the tests, never a driver download (Selenium Manager is bypassed):
Chromium and chromedriver from Debian; Firefox ESR from Debian with geckodriver built from crates.io."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolchain.core import cache, console, process, system
from toolchain.core.errors import MissingTool, StageFailed, WrongVersion

CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]
CHROMEDRIVER_CANDIDATES = ["/usr/bin/chromedriver", "chromedriver"]
# Flags for a headless Chromium run as root on a machine with a closed network: without the
# background-networking ones Chromium floods the network with refused connections.
CHROMIUM_ARGUMENTS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    # A global gc() in pages: a test can then check that a FinalizationRegistry (wasm-bindgen's weak
    # references, the engine's FFI reader) releases what became unreachable. Nothing else changes.
    "--js-flags=--expose-gc",
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


# ---------------------------------------------------------------- Firefox ESR (the second browser)

FIREFOX_CANDIDATES = ["/usr/bin/firefox-esr", "firefox-esr", "firefox"]
# geckodriver is not packaged by Debian; crates.io has it. 0.37 drives Firefox 128 and later.
GECKODRIVER_VERSION = "0.37.1"
FIREFOX_ARGUMENTS = ["-headless"]
# No background traffic on a closed network (geckodriver's automation prefs cover most of it).
FIREFOX_PREFERENCES: dict[str, str | int | bool] = {  # the value types Firefox's about:config holds
    "app.update.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.captive-portal-service.enabled": False,
    "extensions.update.enabled": False,
    "browser.region.network.url": "",
}


@dataclass(frozen=True)
class Firefox:
    firefox: Path
    firefox_version: str
    geckodriver: Path
    geckodriver_version: str


def geckodriver_path(version: str = GECKODRIVER_VERSION) -> Path:
    return cache.tools_dir() / f"geckodriver-{version}" / "bin" / "geckodriver"


def install_geckodriver(version: str = GECKODRIVER_VERSION) -> Path:
    """cargo install geckodriver (locked) into the tool cache, atomically."""
    cargo = shutil.which("cargo") or "/usr/bin/cargo"
    final = geckodriver_path(version).parent.parent

    def populate(root: Path) -> None:
        process.run(
            [cargo, "install", "geckodriver", "--version", f"={version}", "--locked", "--root", root, "--no-track"],
            what=f"building geckodriver {version} from crates.io",
            fix="check that crates.io (or your registry mirror) is reachable; then run `nox -s doctor -- --install`",
            env={"CARGO_TARGET_DIR": str(cache.cache_root() / "cargo-install-target")},
        )

    with console.stage(f"install geckodriver {version}"):
        cache.install_dir_atomically(final, populate, record=True)
    return geckodriver_path(version)


def geckodriver_problem(version: str = GECKODRIVER_VERSION) -> str | None:
    """What is wrong with the geckodriver in the tool cache: None when it runs and matches the
    checksum recorded at install time. A damaged one is rebuilt rather than failing every run."""
    driver = geckodriver_path(version)
    if not driver.is_file():
        return f"{driver} is missing"
    problem = cache.install_problem(driver.parent.parent)
    if problem:
        return problem
    if not os.access(driver, os.X_OK):
        return f"{driver} is not executable"
    if process.output([driver, "--version"]) is None:
        return f"`{driver} --version` fails"
    return None


def find_firefox(install: bool = False) -> Firefox:
    """Firefox ESR and geckodriver; with install=True both are provisioned (apt, cargo install)."""
    firefox = _first(FIREFOX_CANDIDATES)
    if firefox is None and install:
        system.ensure_packages(system.FIREFOX_PACKAGES, "browser tests in Firefox")
        firefox = _first(FIREFOX_CANDIDATES)
    driver = geckodriver_path()
    problem = geckodriver_problem()
    if problem and install:
        if driver.parent.parent.exists():
            console.warn(f"the geckodriver in the tool cache is damaged ({problem}): building it again")
        try:
            driver = install_geckodriver()
        except StageFailed as exc:
            raise MissingTool(f"geckodriver could not be built: {exc.what}", exc.fix) from exc
        problem = geckodriver_problem()
    if firefox is None:
        raise MissingTool(
            "Firefox is not installed",
            f"run `nox -s doctor -- --install` or: {system.apt_install_command(system.FIREFOX_PACKAGES)}",
        )
    if problem:
        raise MissingTool(
            f"geckodriver {GECKODRIVER_VERSION} is not installed or not usable ({problem})",
            "run `nox -s doctor -- --install` (it runs cargo install geckodriver into the tool cache)",
        )
    return Firefox(
        firefox,
        process.output([firefox, "--version"]) or "unknown",
        driver,
        (process.output([driver, "--version"]) or "unknown").splitlines()[0],
    )
