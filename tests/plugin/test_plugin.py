"""The pytest plugin (toolchain/testing/pytest_plugin.py) without a browser: its registration, its
options, that it stays out of runs that do not use it, and how it finds a package and names frames."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.unit.test_wasm_module import assemble
from toolchain.core.layout import WASM_OPT, Layout
from toolchain.testing import pytest_plugin
from toolchain.testing.pytest_plugin import FrameNamer, PackageError, WasmPackage, selected_browsers
from toolchain.tools.webdriver import JSError, Page, WasmTrap, is_trap

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- registration and packaging


def test_the_plugin_is_the_pytest11_entry_point_of_the_installed_toolchain():
    entry = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "wasm_qe_browser"]
    assert [e.value for e in entry] == ["toolchain.testing.pytest_plugin"], (
        "reinstall the toolchain (pip install -e .): pyproject's [project.entry-points.pytest11] is not installed"
    )
    assert entry[0].load() is pytest_plugin


def test_this_run_loaded_it_through_the_entry_point(pytestconfig):
    assert pytestconfig.pluginmanager.get_plugin("wasm_qe_browser") is pytest_plugin


def test_the_harness_files_are_package_data():
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "toolchain.testing"
    ]
    files = sorted(
        p.relative_to(pytest_plugin.HARNESS_DIR.parent).as_posix() for p in pytest_plugin.HARNESS_DIR.iterdir()
    )
    assert {"harness/index.html", "harness/harness.js"} <= set(files)
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in patterns), f"{name} would be left out of a wheel"


def test_a_wheel_of_the_toolchain_ships_the_plugin_and_its_harness(tmp_path):
    # A copy of the sources: the build writes build/ and *.egg-info beside them.
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copytree(REPO / "toolchain", source / "toolchain", ignore=shutil.ignore_patterns("__pycache__"))
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            *isolation,
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("wasm_qe_toolchain-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert {
        "toolchain/testing/pytest_plugin.py",
        "toolchain/testing/harness/index.html",
        "toolchain/testing/harness/harness.js",
    } <= names
    assert "[pytest11]\nwasm_qe_browser = toolchain.testing.pytest_plugin" in entry_points


# ---------------------------------------------------------------- options


def test_browser_choices():
    assert selected_browsers(None) == ["chromium", "firefox"]
    assert selected_browsers(["all"]) == ["chromium", "firefox"]
    assert selected_browsers(["firefox"]) == ["firefox"]
    assert selected_browsers(["firefox,chromium", "firefox"]) == ["firefox", "chromium"]
    with pytest.raises(pytest.UsageError, match="unknown browser 'safari'"):
        selected_browsers(["chromium,safari"])


def test_options_are_in_help(pytester):
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*--browser=NAMES, --browsers=NAMES, --wasm-browser=NAMES*", "*--wasm-package=DIR*", "*--wasm-names=FILE*"]
    )


def test_another_plugins_browser_option_is_left_alone(pytester):
    pytester.makepyfile(
        otherplug="def pytest_addoption(parser):\n    parser.addoption('--browser', default='webkit')\n"
    )
    pytester.makepyfile(
        test_other="def test_option(pytestconfig):\n    assert pytestconfig.getoption('--browser') == 'webkit'\n"
    )
    result = pytester.runpytest_subprocess("-p", "otherplug", "--wasm-browser", "firefox")
    result.assert_outcomes(passed=1)
    assert "--wasm-browser=NAMES" in pytester.runpytest_subprocess("-p", "otherplug", "--help").stdout.str()


def test_an_unknown_browser_is_a_usage_error(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--browser", "safari")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--browser: unknown browser 'safari'*"])


def test_two_directories_with_their_own_package_each_get_theirs_in_one_run(pytester):
    """A run collects test directories whose conftests name different packages (our suite and the
    hello-engine fixture under `nox -s test`): each module's server serves its own package."""
    for name in ("first", "second"):
        package = pytester.path / f"pkg_{name}"
        package.mkdir()
        (package / "package.json").write_text(json.dumps({"name": name, "module": f"{name}.js"}))
        (package / f"{name}.js").write_text("")
        (package / f"{name}_bg.wasm").write_bytes(b"\0asm\1\0\0\0")
        tests = pytester.path / f"tests_{name}"
        tests.mkdir()
        (tests / "conftest.py").write_text(
            "import pytest\nfrom pathlib import Path\n\n"
            f"@pytest.fixture(scope='session')\ndef wasm_package():\n    return Path({str(package)!r})\n"
        )
        (tests / f"test_{name}.py").write_text(
            "import json, urllib.request\n\n"
            "def test_served(wasm_server, wasm_page_url):\n"
            "    with urllib.request.urlopen(wasm_server.url + '/pkg/package.json') as response:\n"
            f"        assert json.load(response)['name'] == {name!r}\n"
            f"    assert '{name}.js' in wasm_page_url\n"
        )
    result = pytester.runpytest_subprocess("tests_first", "tests_second")
    result.assert_outcomes(passed=2)


# ---------------------------------------------------------------- staying out of the way


def test_a_run_without_its_fixtures_starts_nothing_and_imports_no_selenium(pytester):
    pytester.makeconftest("""
        import json, sys

        def pytest_sessionfinish(session):
            loaded = [m for m in ("selenium", "toolchain.tools.webdriver", "toolchain.tools.serve") if m in sys.modules]
            with open("loaded.json", "w") as out:
                json.dump({"loaded": loaded,
                           "plugin": session.config.pluginmanager.has_plugin("wasm_qe_browser")}, out)
    """)
    pytester.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_plain(n):
            assert n

        def test_fails():
            assert False, "a plain failure"
    """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2, failed=1)
    assert "browser console" not in result.stdout.str()
    assert json.loads((pytester.path / "loaded.json").read_text()) == {"loaded": [], "plugin": True}


def test_it_can_be_turned_off(pytester):
    pytester.makepyfile(test_x="def test_x(wasm_page):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:wasm_qe_browser")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'wasm_page' not found*"])


def test_a_page_without_a_package_fails_and_says_how_to_give_one(pytester):
    pytester.makepyfile(test_x="def test_x(wasm_page):\n    pass\n")
    result = pytester.runpytest_subprocess("--browser", "chromium")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no wasm package to test: pass --wasm-package DIR*"])


def test_a_directory_that_is_not_a_package_fails_with_what_is_missing(pytester, tmp_path):
    (tmp_path / "x_bg.wasm").write_bytes(b"\0asm")
    pytester.makepyfile(test_x="def test_x(wasm_page):\n    pass\n")
    result = pytester.runpytest_subprocess("--browser", "chromium", "--wasm-package", str(tmp_path))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{tmp_path} lacks x.js: not a complete wasm-bindgen package*"])


def test_the_wasm_browsers_marker_narrows_the_browsers(pytester):
    pytester.makepyfile(
        test_x="""
        import pytest

        def test_both(wasm_browser_name):
            pass

        @pytest.mark.wasm_browsers("firefox")
        def test_firefox_only(wasm_browser_name):
            assert wasm_browser_name == "firefox"
    """
    )
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*test_both?chromium? PASSED*", "*test_both?firefox? PASSED*", "*test_firefox_only?firefox? PASSED*"]
    )


# ---------------------------------------------------------------- the package and its frames


def package(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return tmp_path


def test_the_glue_is_found_from_package_json(tmp_path):
    directory = package(
        tmp_path,
        {
            "package.json": json.dumps({"module": "./web/app.js", "main": "other.js"}),
            "web/app.js": "",
            "web/app_bg.wasm": b"",
        },
    )
    assert WasmPackage.locate(directory) == WasmPackage(directory, "web/app.js", "web/app_bg.wasm")


def test_without_package_json_the_one_module_names_the_glue(tmp_path):
    directory = package(tmp_path, {"lib.js": "", "lib_bg.wasm": b""})
    assert WasmPackage.locate(directory) == WasmPackage(directory, "lib.js", "lib_bg.wasm")


@pytest.mark.parametrize(
    "files, error",
    [
        ({}, "has 0 \\*_bg.wasm modules"),
        ({"a_bg.wasm": b"", "b_bg.wasm": b"", "a.js": "", "b.js": ""}, "has 2 \\*_bg.wasm modules"),
        ({"package.json": '{"main": "lib.js"}', "lib.js": ""}, "lacks lib_bg.wasm"),
        ({"package.json": "{not json"}, "is not JSON"),
    ],
)
def test_what_is_not_a_package_is_refused_with_the_reason(tmp_path, files, error):
    with pytest.raises(PackageError, match=error):
        WasmPackage.locate(package(tmp_path, files))


def test_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(PackageError, match="does not exist: pass --wasm-package DIR"):
        WasmPackage.locate(tmp_path / "nope")


CHROMIUM_TRAP = (
    "RuntimeError: unreachable\n"
    "    at http://127.0.0.1:8000/pkg/app_bg.wasm:wasm-function[3]:0x1a2\n"
    "    at http://127.0.0.1:8000/pkg/app_bg.wasm:wasm-function[2]:0x19f\n"
    "    at app_bg.wasm.run (wasm://wasm/0a1b2c3d:wasm-function[1]:0x190)\n"
    "    at run (http://127.0.0.1:8000/pkg/app.js:301:18)\n"
)
FIREFOX_TRAP = (
    "@http://127.0.0.1:8000/pkg/app_bg.wasm:wasm-function[3]:0x1a2\n"
    "@http://127.0.0.1:8000/pkg/app_bg.wasm:wasm-function[2]:0x19f\n"
    "run@http://127.0.0.1:8000/pkg/app.js:301:18\n"
)
NAMED = ["core::panicking::panic_fmt", "<std::time::Instant>::now", "run"]


def toolchain_layout(tmp_path: Path, stage_module: bytes) -> WasmPackage:
    """artifacts/app (the stripped module) beside artifacts/.stages/app/wasm-opt (the named one)."""
    directory = package(tmp_path / "artifacts" / "app", {"app.js": "", "app_bg.wasm": assemble(names=False)})
    package(Layout(tmp_path / "artifacts", "app", "app").stage_dir(WASM_OPT), {"app_bg.wasm": stage_module})
    return WasmPackage.locate(directory)


def test_frames_are_named_from_the_named_stage_module_beside_the_package(tmp_path):
    namer = FrameNamer.for_package(toolchain_layout(tmp_path, assemble()))
    assert namer(CHROMIUM_TRAP) == NAMED
    assert namer(FIREFOX_TRAP) == NAMED[:2]


def test_a_stage_module_with_other_code_is_not_used_to_name_frames(tmp_path):
    namer = FrameNamer.for_package(toolchain_layout(tmp_path, assemble(run_calls_stub=False)))
    assert namer.module() is None
    assert namer(CHROMIUM_TRAP) == ["wasm-function[3]", "wasm-function[2]", "wasm-function[1]"]


def test_a_package_with_names_names_its_own_frames_and_wasm_names_overrides(tmp_path):
    directory = package(tmp_path / "pkg", {"app.js": "", "app_bg.wasm": assemble()})
    assert FrameNamer.for_package(WasmPackage.locate(directory))(FIREFOX_TRAP) == NAMED[:2]
    unnamed = package(tmp_path / "bare", {"app.js": "", "app_bg.wasm": assemble(names=False)})
    explicit = FrameNamer.for_package(WasmPackage.locate(unnamed), explicit=directory / "app_bg.wasm")
    assert explicit(CHROMIUM_TRAP) == NAMED


# ---------------------------------------------------------------- errors raised by a page


class FakeDriver:
    """execute_async_script answers with what a page would: here, always the given error."""

    def __init__(self, error: dict, console: list[str] = ()):
        self.error, self.lines = error, list(console)

    def execute_async_script(self, script, *args):
        return {"error": self.error}

    def execute_script(self, script):
        lines, self.lines = self.lines, []
        return lines


def page_raising(error: dict, console: list[str] = ()) -> Page:
    return Page(
        FakeDriver(error, console),
        [],
        "firefox",
        frame_namer=lambda stack: [f"named:{line}" for line in stack.splitlines() if "wasm-function[" in line],
    )


def test_a_trap_is_a_wasm_trap_with_named_frames_in_its_message():
    page = page_raising({"name": "RuntimeError", "message": "unreachable executed", "stack": FIREFOX_TRAP})
    with pytest.raises(WasmTrap) as trap:
        page.run("return 1;")
    assert len(trap.value.frames) == 2 and isinstance(trap.value, JSError)
    assert "--- wasm frames, innermost first (named from the names section) ---\n  named:@http" in str(trap.value)


def test_a_trap_without_a_stack_is_named_from_the_console():
    console = [
        "[UNCAUGHT] Script error.",
        "[UNCAUGHT] RuntimeError: unreachable\\n    at x (wasm://w:wasm-function[7]:0x1)",
    ]
    page = page_raising({"name": "Error", "message": "Script error.", "stack": ""}, console)
    with pytest.raises(WasmTrap) as trap:
        page.run("return 1;")
    assert trap.value.frames == ["named:    at x (wasm://w:wasm-function[7]:0x1)"]


def test_a_js_exception_is_a_plain_js_error():
    page = page_raising({"name": "TypeError", "message": "x is undefined", "stack": "f@http://h/a.js:1:2"})
    with pytest.raises(JSError) as error:
        page.run("return 1;")
    assert type(error.value) is JSError and error.value.frames == []
    assert str(error.value) == "TypeError: x is undefined\n--- JS stack ---\nf@http://h/a.js:1:2"


@pytest.mark.parametrize(
    "name, message, trap",
    [
        ("RuntimeError", "unreachable", True),
        ("RuntimeError", "memory access out of bounds", True),
        ("Error", "unreachable executed", True),
        ("Error", "Script error.", True),
        ("Error", "not a count", False),
        ("RangeError", "Maximum call stack size exceeded", False),
    ],
)
def test_what_counts_as_a_trap(name, message, trap):
    assert is_trap(name, message) is trap
