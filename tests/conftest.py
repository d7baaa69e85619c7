"""Shared fixtures, in the manner of pytest-pyodide: one build and one localhost server per
session, one headless Chromium per module, console output shown when a test fails."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests import slow_builds
from toolchain.tools import browser
from toolchain.tools import npm
from toolchain.pipeline import build as build_module
from toolchain.release import toolchain_wheels
from toolchain.pipeline import wasm_test  # after build: toolchain_wheels -> sbom -> build imports in a cycle
from toolchain.tools.serve import StaticServer
from toolchain.core.errors import MissingTool
from toolchain.tools.webdriver import Page, start_chromium, start_firefox

REPO = Path(__file__).resolve().parents[1]
ENGINE_MANIFEST = REPO / "crates" / "datafusion-wasm" / "Cargo.toml"
ARTIFACTS = REPO / "artifacts"
BROWSERS = ("chromium", "firefox")


def pytest_addoption(parser):
    parser.addoption("--artifacts-dir", type=Path, default=ARTIFACTS,
                     help="where the engine is built and served from (default: the checkout's artifacts/); "
                          "e.g. a directory holding a deliberately broken build")
    parser.addoption("--browsers", default=",".join(BROWSERS),
                     help=f"comma-separated browsers to run the page tests in (default: {','.join(BROWSERS)})")
    parser.addoption("--ipc-fuzz-count", type=int, default=10_000,
                     help="mutated IPC streams the browser fuzz test feeds each browser (default: 10,000; nox -s fuzz uses more)")
    parser.addoption("--ipc-fuzz-seed", type=int, default=12,
                     help="seed of the mutated IPC streams (default: 12, so a failure reproduces)")
    parser.addoption("--use-built", action="store_true",
                     help="test the engine package already in the artifacts directory instead of building it")
    parser.addoption(slow_builds.FORCE_OPTION, action="store_true",
                     help="run the tests that compile for tens of minutes when their build is not cached "
                          "(toolchain wheels, wasm-test) instead of deselecting them; their nox sessions pass it")


def _uncached_toolchain_wheels() -> str | None:
    missing = toolchain_wheels.uncached()
    return f"the {' and '.join(missing)} wheel{'s are' if len(missing) > 1 else ' is'} not in the tool cache" if missing else None


# Left out of a run unless their build is cached (tests/slow_builds.py); costs measured on 2 cores.
SLOW_BUILDS = (
    slow_builds.SlowBuild("toolchain_wheels", "toolchain-wheel tests", "nox -s toolchain_wheels_test",
                          "about 45 min (binaryen from C++, the wasm-bindgen CLI from Rust)", _uncached_toolchain_wheels),
    slow_builds.SlowBuild("wasm_test", "wasm-test session test", "nox -s wasm_test",
                          "15-20 min (DataFusion compiled again for tests)",
                          lambda: wasm_test.missing_test_build(ENGINE_MANIFEST)),
)
_SLOW_BUILD_NOTES = pytest.StashKey[list]()


@pytest.hookimpl(trylast=True)  # after -m/-k: only what the run would otherwise include counts
def pytest_collection_modifyitems(config, items):
    selection = slow_builds.select(items, SLOW_BUILDS, config.getoption(slow_builds.FORCE_OPTION))
    if selection.deselected:
        config.hook.pytest_deselected(items=selection.deselected)
        items[:] = selection.kept
    config.stash[_SLOW_BUILD_NOTES] = selection.notes


def pytest_terminal_summary(terminalreporter, config):
    for note in config.stash.get(_SLOW_BUILD_NOTES, []):
        terminalreporter.write_line(note, yellow=True, bold=True)


@pytest.fixture(scope="session")
def artifacts_dir(request) -> Path:
    return request.config.getoption("--artifacts-dir").resolve()


@pytest.fixture(scope="session")
def built_engine(artifacts_dir, request) -> build_module.BuildResult:
    """The bundled engine, built (incrementally) by the real toolchain into the artifacts directory."""
    if request.config.getoption("--use-built"):
        return build_module.load_result(artifacts_dir / "datafusion-wasm")
    return build_module.build(build_module.BuildOptions(manifest_path=ENGINE_MANIFEST, artifacts_dir=artifacts_dir))


@pytest.fixture(scope="session")
def js_node_modules() -> Path:
    return npm.install_locked(REPO / "tests" / "browser" / "js")


@pytest.fixture(scope="session")
def server(built_engine, js_node_modules, artifacts_dir):
    mounts = {
        "/artifacts/": artifacts_dir,
        "/harness/": REPO / "tests" / "browser" / "harness",
        "/npm/": js_node_modules,
    }
    with StaticServer(mounts) as running:
        yield running


@pytest.fixture(scope="session")
def chromium() -> browser.Browser:
    return browser.find(install=False)


@pytest.fixture(scope="session")
def firefox() -> browser.Firefox:
    try:
        return browser.find_firefox(install=False)
    except MissingTool as exc:
        pytest.skip(f"Firefox ESR is not available, so its run is skipped: {exc}")


def pytest_generate_tests(metafunc):
    # Every module that uses a page runs once per browser (--browsers chooses which).
    if "browser_name" in metafunc.fixturenames:
        names = [n for n in metafunc.config.getoption("--browsers").split(",") if n]
        unknown = sorted(set(names) - set(BROWSERS))
        if unknown:
            raise pytest.UsageError(f"--browsers: unknown {unknown}; choose from {', '.join(BROWSERS)}")
        metafunc.parametrize("browser_name", names, scope="module")


@pytest.fixture(scope="module")
def page(server, browser_name, request):
    if browser_name == "chromium":
        driver = start_chromium(request.getfixturevalue("chromium"))
    else:
        driver = start_firefox(request.getfixturevalue("firefox"))
    loaded = Page(driver, [], browser_name)
    try:
        driver.get(f"{server.url}/harness/index.html")
        loaded.init = loaded.run("return await window.harness.ready;")
        yield loaded
    finally:
        driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    page_fixture = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(page_fixture, Page):
        report.sections.append(("browser console", page_fixture.dump()))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
