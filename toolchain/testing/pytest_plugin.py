"""pytest plugin: a built wasm-bindgen package, loaded in headless Chromium and Firefox, for tests.

Installed with the toolchain as the pytest11 entry point `wasm_qe_browser` (pyproject.toml), so
any test suite in the environment can use it; `-p no:wasm_qe_browser` turns it off. In the manner
of pytest-pyodide: fixtures layered by scope, JS exceptions re-raised in Python, the browser
console shown under a failing test. It does nothing until a test asks for one of its fixtures: no
server, no browser, no import of selenium.

    def test_word_count(wasm_page):
        assert wasm_page.call("word_count", "one two three") == 3

Options (docs/browser-tests.md, "The pytest plugin"):

    --browser NAMES       chromium, firefox or all (default), or a comma-separated list;
                          repeatable; also spelt --browsers, and --wasm-browser (the only spelling
                          registered if another plugin owns --browser)
    --wasm-package DIR    the package under test: wasm-bindgen `--target web` output (X.js, X_bg.wasm,
                          package.json), as `python -m toolchain build` writes to artifacts/<crate>/
    --wasm-crate PATH     without --wasm-package: build this crate (Cargo.toml or directory) first,
                          with the toolchain, into a temporary directory (the wasm_crate fixture)
    --wasm-names FILE     the module whose names section names a trap's frames (default: the
                          package's own module if it has names, else the toolchain's named stage
                          module beside the package, artifacts/.stages/<crate>/{wasm-opt,wasm-bindgen}/)

Fixtures. Override the first group in a conftest.py (e.g. `wasm_crate` to name the crate to build):

    wasm_crate              session   the WasmCrate wasm_package builds when --wasm-package is not
                                      given (default: --wasm-crate, else none), e.g.
                                      `return WasmCrate(Path(__file__).parents[1], package="greeter")`
    wasm_package            module    Path of the package directory (default: --wasm-package, else
                                      wasm_crate built, once per session, into a temporary directory)
    wasm_server_mounts      session   {URL prefix: directory} the server also serves (default: none)
    wasm_harness_scripts    session   URLs of classic scripts the page loads before the package
    wasm_harness_extensions session   URLs of ES modules the page runs after the package's init
                                      (their default export gets {harness, pkg, wasmExports, moduleUrl})
    chromium, firefox       session   the browser installations (toolchain.tools.browser)

    wasm_server             module    the localhost StaticServer of the package: /harness/ (this package's page),
                                      /pkg/ (the package), and wasm_server_mounts
    wasm_browser            session   a BrowserSession per browser (its WebDriver starts on first use);
                                      a test that uses it runs once per browser chosen by --browser
    wasm_frame_namer        module    names a JS stack's wasm frames from the names section
    wasm_module_page        module    a Page with the package loaded, shared by a module's tests
    wasm_page               function  a Page with a fresh instance of the package

A Page (toolchain/tools/webdriver.py): `run(js_body, *args)` runs an async function body in the page
(`args` holds the arguments) and returns its value; `call(export, *args)` calls an exported
function; `reload()` starts over with a new instance; `console` holds the console lines. In the
page: `window.pkg` (the package's JS module), `window.wasmExports`, `window.harness`. A JS
exception is raised as JSError (name, message, stack, frames); a wasm trap as WasmTrap, a JSError
whose `frames` are the trap's wasm frames named from the names section, innermost first.

Use one page fixture per test: the pages of a browser share its one window.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest

if TYPE_CHECKING:
    from toolchain.analysis.wasm_module import Module
    from toolchain.tools.webdriver import Page

BROWSERS = ("chromium", "firefox")
HARNESS_DIR = Path(__file__).resolve().with_name("harness")
_BROWSER_OPTION_NAMES = ("--browser", "--browsers", "--wasm-browser")
_BROWSER_DEST = "wasm_browsers"
_SELECTED = pytest.StashKey[list]()
_EXPLICIT = pytest.StashKey[bool]()
_CONSOLE_MARKS = pytest.StashKey[dict]()


def __getattr__(name: str) -> Any:
    # `from toolchain.testing.pytest_plugin import JSError, WasmTrap, Page` without importing
    # selenium's wrapper at plugin load (every pytest run in the environment loads the plugin).
    if name in ("JSError", "WasmTrap", "Page"):
        from toolchain.tools import webdriver

        return getattr(webdriver, name)
    raise AttributeError(name)


# ---------------------------------------------------------------- options


def _registered_option_names(parser: pytest.Parser) -> set[str]:
    groups = [getattr(parser, "_anonymous", None), *getattr(parser, "_groups", [])]
    return {name for group in groups if group is not None for option in group.options for name in option.names()}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wasm-browser", "a wasm package in headless browsers (toolchain.testing.pytest_plugin)")
    taken = _registered_option_names(parser)
    names = [name for name in _BROWSER_OPTION_NAMES if name not in taken] or ["--wasm-qe-browser"]
    group.addoption(
        *names,
        dest=_BROWSER_DEST,
        action="append",
        default=None,
        metavar="NAMES",
        help=f"browsers the page tests run in: {', '.join(BROWSERS)}, all (default), or a comma-separated "
        "list; repeatable. An explicitly chosen browser that is missing fails its tests; "
        "with the default, a missing one is skipped with the reason",
    )
    group.addoption(
        "--wasm-package",
        type=Path,
        default=None,
        metavar="DIR",
        help="the built package the page fixtures load (wasm-bindgen --target web output: "
        "X.js, X_bg.wasm, package.json), e.g. artifacts/<crate> after `python -m toolchain build`",
    )
    group.addoption(
        "--wasm-crate",
        type=Path,
        default=None,
        metavar="PATH",
        help="without --wasm-package: the crate (Cargo.toml or directory) to build with the toolchain first, "
        "into a temporary directory; a conftest.py can name it instead (the wasm_crate fixture)",
    )
    group.addoption(
        "--wasm-names",
        type=Path,
        default=None,
        metavar="FILE",
        help="a .wasm with a names section, to name a trap's frames (default: the package's module "
        "if named, else the toolchain's named stage module beside the package)",
    )


def selected_browsers(values: list[str] | None) -> list[str]:
    """The --browser values (None: the default) as browser names, in order, without repeats."""
    names: list[str] = []
    for value in values or ["all"]:
        for name in (part.strip().lower() for part in value.split(",")):
            if not name:
                continue
            if name == "all":
                names += BROWSERS
            elif name in BROWSERS:
                names.append(name)
            else:
                raise pytest.UsageError(f"--browser: unknown browser {name!r}; choose from {', '.join(BROWSERS)}, all")
    return list(dict.fromkeys(names))


def pytest_configure(config: pytest.Config) -> None:
    values = config.getoption(_BROWSER_DEST, None)
    config.stash[_SELECTED] = selected_browsers(values)
    config.stash[_EXPLICIT] = values is not None
    config.addinivalue_line(
        "markers",
        "wasm_browsers(*names): run this page test only in these of the browsers "
        "--browser selects (toolchain.testing.pytest_plugin)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every test that uses a browser (through any fixture) runs once per selected browser. Session
    # scope: pytest groups the tests by browser, so each browser starts once per run.
    if "wasm_browser_name" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if "wasm_browser_name" in (argnames.replace(" ", "").split(",") if isinstance(argnames, str) else argnames):
            return  # the test chose its browsers itself
    names = metafunc.config.stash[_SELECTED]
    only = metafunc.definition.get_closest_marker("wasm_browsers")
    if only is not None:
        unknown = sorted(set(only.args) - set(BROWSERS))
        if unknown:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: wasm_browsers{unknown}: choose from {', '.join(BROWSERS)}"
            )
        names = [name for name in names if name in only.args]
    metafunc.parametrize("wasm_browser_name", names, scope="session", ids=names)


# ---------------------------------------------------------------- the package


class PackageError(Exception):
    """The directory is not a package the harness can load."""


@dataclass(frozen=True)
class WasmPackage:
    """A wasm-bindgen `--target web` package: its directory, JS glue and module (file names)."""

    directory: Path
    glue: str
    wasm: str

    @property
    def wasm_path(self) -> Path:
        return self.directory / self.wasm

    @classmethod
    def locate(cls, directory: Path) -> WasmPackage:
        directory = Path(directory)
        fix = (
            "pass --wasm-package DIR (a package `python -m toolchain build` wrote, e.g. artifacts/<crate>), "
            "or override the wasm_package fixture"
        )
        if not directory.is_dir():
            raise PackageError(f"the wasm package directory {directory} does not exist: {fix}")
        glue = None
        manifest = directory / "package.json"
        if manifest.is_file():
            try:
                document = json.loads(manifest.read_text())
            except ValueError as exc:
                raise PackageError(f"{manifest} is not JSON: {exc}") from exc
            entry = document.get("module") or document.get("main")
            if isinstance(entry, str) and (directory / entry).is_file():
                glue = Path(entry).as_posix().removeprefix("./")
        if glue is None:
            modules = sorted(directory.glob("*_bg.wasm"))
            if len(modules) != 1:
                raise PackageError(
                    f"{directory} has {len(modules)} *_bg.wasm modules and no package.json naming its JS "
                    f"glue: cannot tell what to load; {fix}"
                )
            glue = modules[0].name.removesuffix("_bg.wasm") + ".js"
        glue_path = Path(glue)
        wasm = (glue_path.parent / (glue_path.name.removesuffix(".js") + "_bg.wasm")).as_posix()
        for name in (glue, wasm):
            if not (directory / name).is_file():
                raise PackageError(f"{directory} lacks {name}: not a complete wasm-bindgen package; {fix}")
        return cls(directory, glue, wasm)


# ---------------------------------------------------------------- naming a trap's frames

_WASM_FRAME = re.compile(r"wasm-function\[(\d+)\]")


def _code_size(module: Module) -> int | None:
    return next((section.size for section in module.sections if section.name == "code"), None)


class FrameNamer:
    """Names the wasm frames of a JS stack from a names section (parsed on first use).

    The toolchain ships the module without its names section (the strip stage) and keeps the
    named one in artifacts/.stages/<crate>/: same code, so the same function indices, which is
    what browsers print for an unnamed module (`wasm-function[N]`). Without a named module the
    frames are given as printed."""

    def __init__(self, shipped: Path | None, candidates: list[Path], explicit: Path | None = None):
        self.shipped, self.candidates, self.explicit = shipped, list(candidates), explicit
        self._module: Module | None = None
        self._looked = False

    def module(self) -> Module | None:
        if not self._looked:
            self._looked = True
            self._module = self._find()
        return self._module

    def _find(self) -> Module | None:
        from toolchain.analysis import wasm_module
        from toolchain.core.errors import ToolchainError

        def parse(path: Path | None) -> Module | None:
            try:
                return wasm_module.parse(path) if path is not None and path.is_file() else None
            except (ToolchainError, OSError, ValueError, IndexError):
                return None

        if self.explicit is not None:
            return parse(self.explicit)
        shipped = parse(self.shipped)
        if shipped is None:
            return None
        if shipped.names_present:
            return shipped
        for candidate in self.candidates:
            module = parse(candidate)
            if module is not None and module.names_present and _code_size(module) == _code_size(shipped):
                return module
        return None

    def __call__(self, stack: str) -> list[str]:
        module = self.module()
        if module is not None:
            from toolchain.analysis import wasm_module

            return wasm_module.wasm_frames(stack, module)
        return [f"wasm-function[{m.group(1)}]" for line in stack.splitlines() for m in [_WASM_FRAME.search(line)] if m]

    @classmethod
    def for_package(cls, package: WasmPackage, explicit: Path | None = None) -> FrameNamer:
        # The toolchain's layout: the named modules its build kept beside the package (core/layout.py).
        from toolchain.core.layout import WASM_BINDGEN, WASM_OPT, Layout

        lib_name = Path(package.wasm).name.removesuffix("_bg.wasm")
        layout = Layout(package.directory.parent, package.directory.name, lib_name)
        return cls(package.wasm_path, [layout.stage_module(stage) for stage in (WASM_OPT, WASM_BINDGEN)], explicit)


# ---------------------------------------------------------------- browsers and pages


@dataclass
class BrowserSession:
    """One browser for the session: its WebDriver starts when first needed and again if it died."""

    name: str
    start: Callable[[], Any]
    _driver: Any = field(default=None, repr=False)

    @property
    def driver(self) -> Any:
        if self._driver is None:
            self._driver = self.start()
        return self._driver

    def alive(self) -> bool:
        if self._driver is None:
            return False
        try:
            self._driver.execute_script("return 1;")
            return True
        except Exception:  # noqa: BLE001  (any failure of a dead session: it is started again)
            return False

    def quit(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()

    def open(self, url: str, frame_namer: Callable[[str], list[str]] | None = None) -> Page:
        """A page at `url` (the harness), its `window.harness.ready` awaited: JSError if the package did not load."""
        from selenium.common.exceptions import WebDriverException

        from toolchain.tools.webdriver import JSError, Page

        page = Page(self.driver, [], self.name, url=url, frame_namer=frame_namer)
        if self.name == "chromium":
            self.driver.get_log("browser")  # the previous page's last lines are not this page's
        try:
            page.reload()
        except WebDriverException:
            if self.alive():
                raise
            self.quit()  # the browser or its tab crashed in an earlier test: start over, once
            page.driver = self.driver
            page.reload()
        except JSError as exc:
            console = page.dump()
            pytest.fail(
                f"the package did not load in {self.name} ({url}):\n{exc}\n--- browser console ---\n{console}",
                pytrace=False,
            )
        return page


def _page_url(server_url: str, package: WasmPackage, scripts: list[str], extensions: list[str]) -> str:
    query = [
        ("module", f"/pkg/{package.glue}"),
        *(("script", s) for s in scripts),
        *(("extension", e) for e in extensions),
    ]
    return f"{server_url}/harness/index.html?{urlencode(query)}"


# ---------------------------------------------------------------- fixtures: the ones to override


@dataclass(frozen=True)
class WasmCrate:
    """A crate the plugin builds for its tests: its Cargo.toml or directory, a workspace member, features."""

    manifest_path: Path
    package: str | None = None
    features: tuple[str, ...] = ()


def build_crate(crate: WasmCrate, artifacts_dir: Path) -> Path:
    """The crate built by the toolchain (the release profile, wasm-opt, as `python -m toolchain build`)
    into artifacts_dir; its package directory. A failed build fails the tests' setup with the
    toolchain's message and fix."""
    from toolchain.analysis import config
    from toolchain.core.errors import ToolchainError
    from toolchain.pipeline import build

    options = config.BuildOptions(
        manifest_path=Path(crate.manifest_path),
        package=crate.package,
        cargo_features=list(crate.features),
        artifacts_dir=artifacts_dir,
    )
    try:
        return build.build(config.resolve(options)).package_dir
    except ToolchainError as exc:
        pytest.fail(f"building {crate.manifest_path} for the browser tests failed: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def wasm_crate(request: pytest.FixtureRequest) -> WasmCrate | None:
    """The crate wasm_package builds when --wasm-package is not given: --wasm-crate, else none.
    Override it in a crate's tests/conftest.py so that a bare `pytest tests` builds and tests it."""
    given = request.config.getoption("--wasm-crate")
    return WasmCrate(Path(given).resolve()) if given is not None else None


@pytest.fixture(scope="session")
def _wasm_crate_builds() -> dict[WasmCrate, Path]:
    return {}


# Module scope, with the builds cached per crate for the session: one pytest run over several crates'
# tests (each conftest naming its own wasm_crate) must test each crate's package, and a session-scoped
# fixture here would be computed once, for whichever crate's tests came first.
@pytest.fixture(scope="module")
def wasm_package(
    request: pytest.FixtureRequest,
    wasm_crate: WasmCrate | None,
    _wasm_crate_builds: dict[WasmCrate, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The package directory under test: --wasm-package, else wasm_crate built (once per session) into a
    temporary directory."""
    directory = request.config.getoption("--wasm-package")
    if directory is not None:
        return Path(directory).resolve()
    if wasm_crate is not None:
        if wasm_crate not in _wasm_crate_builds:
            _wasm_crate_builds[wasm_crate] = build_crate(wasm_crate, tmp_path_factory.mktemp("wasm-package"))
        return _wasm_crate_builds[wasm_crate]
    pytest.fail(
        "no wasm package to test: pass --wasm-package DIR (e.g. artifacts/<crate> after "
        "`python -m toolchain build --manifest-path Cargo.toml`) or --wasm-crate PATH (built first), "
        "or override the wasm_crate fixture in a conftest.py",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def wasm_server_mounts() -> dict[str, Path]:
    """More directories for the static server, by URL prefix ("/data/": Path(...)): none by default."""
    return {}


@pytest.fixture(scope="session")
def wasm_harness_scripts() -> list[str]:
    """URLs of classic scripts (UMD bundles) the page loads before the package: none by default."""
    return []


@pytest.fixture(scope="session")
def wasm_harness_extensions() -> list[str]:
    """URLs of ES modules the page imports after the package's init: none by default."""
    return []


def _installation(request: pytest.FixtureRequest, name: str, find: Callable[[], Any]) -> Any:
    from toolchain.core.errors import ToolchainError

    try:
        return find()
    except ToolchainError as exc:
        message = f"{name} is not available: {exc}"
        if request.config.stash.get(_EXPLICIT, False):
            pytest.fail(f"{message} (it was chosen with --browser)", pytrace=False)
        pytest.skip(f"{message}; its run is skipped (--browser chooses the browsers)")


@pytest.fixture(scope="session")
def chromium(request: pytest.FixtureRequest):
    """Chromium and chromedriver (toolchain.tools.browser.Browser); never downloaded."""
    from toolchain.tools import browser

    return _installation(request, "Chromium", lambda: browser.find(install=False))


@pytest.fixture(scope="session")
def firefox(request: pytest.FixtureRequest):
    """Firefox ESR and geckodriver (toolchain.tools.browser.Firefox); never downloaded."""
    from toolchain.tools import browser

    return _installation(request, "Firefox", lambda: browser.find_firefox(install=False))


# ---------------------------------------------------------------- fixtures: the machinery


# Module scope, over a session-wide registry: one run collects test directories whose conftests point
# `wasm_package` (session-scoped there) at different packages, and pytest keeps a session-scoped
# fixture's value however its dependencies are overridden further down. So the fixtures that depend
# on the package are made per module (a module sits in one directory) and the servers, one per
# package and mounts, live as long as the session.
@pytest.fixture(scope="session")
def _wasm_servers():
    servers: dict[tuple, Any] = {}
    yield servers
    for running in servers.values():
        running.__exit__(None, None, None)


@pytest.fixture(scope="module")
def _wasm_package_layout(wasm_package: Path) -> WasmPackage:
    try:
        return WasmPackage.locate(wasm_package)
    except PackageError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def wasm_server(_wasm_servers: dict, _wasm_package_layout: WasmPackage, wasm_server_mounts: dict[str, Path]):
    """The localhost static server of this package: /harness/, /pkg/ (the package) and wasm_server_mounts."""
    from toolchain.tools.serve import StaticServer

    mounts = {
        **{prefix: Path(directory) for prefix, directory in wasm_server_mounts.items()},
        "/harness/": HARNESS_DIR,
        "/pkg/": _wasm_package_layout.directory,
    }
    key = tuple(sorted((prefix, str(directory.resolve())) for prefix, directory in mounts.items()))
    if key not in _wasm_servers:
        _wasm_servers[key] = StaticServer(mounts).__enter__()
    return _wasm_servers[key]


@pytest.fixture(scope="module")
def wasm_frame_namer(request: pytest.FixtureRequest, _wasm_package_layout: WasmPackage) -> FrameNamer:
    """Names a trap's wasm frames (--wasm-names, or the named module found beside the package)."""
    explicit = request.config.getoption("--wasm-names")
    return FrameNamer.for_package(_wasm_package_layout, Path(explicit).resolve() if explicit else None)


@pytest.fixture(scope="module")
def wasm_page_url(
    wasm_server, _wasm_package_layout: WasmPackage, wasm_harness_scripts: list[str], wasm_harness_extensions: list[str]
) -> str:
    """The harness page's URL, the package and the extra scripts and extensions in its query."""
    return _page_url(wasm_server.url, _wasm_package_layout, wasm_harness_scripts, wasm_harness_extensions)


@pytest.fixture(scope="session")
def wasm_browser(request: pytest.FixtureRequest, wasm_browser_name: str):
    """The browser (one per --browser choice): a BrowserSession whose WebDriver starts on first use."""
    from toolchain.tools import webdriver

    if wasm_browser_name == "chromium":
        installation = request.getfixturevalue("chromium")
        session = BrowserSession("chromium", lambda: webdriver.start_chromium(installation))
    elif wasm_browser_name == "firefox":
        installation = request.getfixturevalue("firefox")
        session = BrowserSession("firefox", lambda: webdriver.start_firefox(installation))
    else:
        raise pytest.UsageError(f"unknown browser {wasm_browser_name!r}; choose from {', '.join(BROWSERS)}")
    try:
        yield session
    finally:
        session.quit()


@pytest.fixture(scope="module")
def wasm_module_page(wasm_browser: BrowserSession, wasm_page_url: str, wasm_frame_namer: FrameNamer):
    """The package loaded once for the module's tests (in each browser): state carries over."""
    return wasm_browser.open(wasm_page_url, wasm_frame_namer)


@pytest.fixture
def wasm_page(wasm_browser: BrowserSession, wasm_page_url: str, wasm_frame_namer: FrameNamer):
    """The package freshly loaded for this test: a new instance, nothing carried over."""
    return wasm_browser.open(wasm_page_url, wasm_frame_namer)


# ---------------------------------------------------------------- the console under a failing test


def _pages(item: pytest.Item) -> list[tuple[str, Page]]:
    webdriver = sys.modules.get("toolchain.tools.webdriver")
    if webdriver is None:  # no page was ever made: nothing to do (and nothing imported)
        return []
    found, seen = [], set()
    for name, value in (getattr(item, "funcargs", None) or {}).items():
        if isinstance(value, webdriver.Page) and id(value) not in seen:
            seen.add(id(value))
            found.append((name, value))
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    pages = _pages(item)
    if not pages:
        return
    marks = item.stash.setdefault(_CONSOLE_MARKS, {})
    if call.when == "setup" and report.passed:
        for _, page in pages:  # what the page logged before this test is not this test's
            with contextlib.suppress(Exception):
                page.collect_console()
            marks[id(page)] = len(page.console)
    elif report.failed:
        for name, page in pages:
            try:
                page.collect_console()
            except Exception as exc:  # noqa: BLE001  the browser is gone: say so instead of hiding the failure
                page.console.append(f"(the console could not be read: {type(exc).__name__}: {exc})")
            lines = page.console[marks.get(id(page), 0) :]
            report.sections.append(
                (f"browser console ({page.browser}, {name})", "\n".join(lines) or "(no console output)")
            )
