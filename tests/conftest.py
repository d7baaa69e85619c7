"""Shared fixtures: the engine, built once per session, and the suite's options. The browsers, the
static server and the pages come from the toolchain's pytest plugin (toolchain/testing/pytest_plugin.py,
entry point wasm_qe_browser), as for any user's crate: tests/browser/conftest.py points it at the engine."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests import slow_builds
from toolchain.analysis import config
from toolchain.pipeline import build as build_module
from toolchain.pipeline import wasm_test  # after build: toolchain_wheels -> sbom -> build imports in a cycle
from toolchain.release import toolchain_wheels
from toolchain.tools import npm

REPO = Path(__file__).resolve().parents[1]
ENGINE_MANIFEST = REPO / "crates" / "datafusion-wasm" / "Cargo.toml"
ARTIFACTS = REPO / "artifacts"


def pytest_addoption(parser):
    parser.addoption(
        "--artifacts-dir",
        type=Path,
        default=ARTIFACTS,
        help="where the engine is built and served from (default: the checkout's artifacts/); "
        "e.g. a directory holding a deliberately broken build",
    )
    parser.addoption(
        "--ipc-fuzz-count",
        type=int,
        default=10_000,
        help="mutated IPC streams the browser fuzz test feeds each browser (default: 10,000; nox -s fuzz uses more)",
    )
    parser.addoption(
        "--ipc-fuzz-seed",
        type=int,
        default=12,
        help="seed of the mutated IPC streams (default: 12, so a failure reproduces)",
    )
    parser.addoption(
        "--use-built",
        action="store_true",
        help="test the engine package already in the artifacts directory instead of building it",
    )
    parser.addoption(
        slow_builds.FORCE_OPTION,
        action="store_true",
        help="run the tests that compile for tens of minutes when their build is not cached "
        "(toolchain wheels, wasm-test) instead of deselecting them; their nox sessions pass it",
    )


def _uncached_toolchain_wheels() -> str | None:
    missing = toolchain_wheels.uncached()
    return (
        f"the {' and '.join(missing)} wheel{'s are' if len(missing) > 1 else ' is'} not in the tool cache"
        if missing
        else None
    )


# Left out of a run unless their build is cached (tests/slow_builds.py); costs measured on 2 cores.
SLOW_BUILDS = (
    slow_builds.SlowBuild(
        "toolchain_wheels",
        "toolchain-wheel tests",
        "nox -s toolchain_wheels_test",
        "about 45 min (binaryen from C++, the wasm-bindgen CLI from Rust)",
        _uncached_toolchain_wheels,
    ),
    slow_builds.SlowBuild(
        "wasm_test",
        "wasm-test session test",
        "nox -s wasm_test",
        "15-20 min (DataFusion compiled again for tests)",
        lambda: wasm_test.missing_test_build(ENGINE_MANIFEST),
    ),
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
    resolved = config.resolve(config.BuildOptions(manifest_path=ENGINE_MANIFEST, artifacts_dir=artifacts_dir))
    if request.config.getoption("--use-built"):
        return build_module.load_result(resolved)
    return build_module.build(resolved)


@pytest.fixture(scope="session")
def js_node_modules() -> Path:
    return npm.install_locked(REPO / "tests" / "browser" / "js")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
