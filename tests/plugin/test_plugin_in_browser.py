"""The plugin as a user's test suite meets it: a pytest run in a directory outside this repository
(none of our conftest.py files), on hello-engine's built package, in Chromium and Firefox."""

from __future__ import annotations

import shutil

from tests.plugin.conftest import HELLO
from toolchain.core import cache

pytest_plugins = ["pytester"]

TOOL_CACHE = cache.cache_root()  # now: pytester's own HOME would move it

FAILING = """
import pytest


def test_fails_after_logging(wasm_page):
    wasm_page.run("console.log('a line from the failing test');")
    assert wasm_page.call("word_count", "two words") == 3


def test_module_page_first(wasm_module_page):
    wasm_module_page.run("console.log('a line from the first test');")


def test_module_page_second_fails(wasm_module_page):
    wasm_module_page.run("console.log('a line from the second test');")
    assert False, "the second test fails"


def test_a_trap_fails_the_test_with_its_rust_frames(wasm_page):
    wasm_page.call("share", 1, 0)


def test_a_js_error_fails_the_test_with_its_stack(wasm_page):
    wasm_page.run("function deepInside() { throw new SyntaxError('made up'); } deepInside();")
"""


def section(output: str, title: str) -> str:
    """The text of the first report section with `title` (pytest prints it as ---- title ----)."""
    start = output.index(f" {title} ")
    start = output.index("\n", start) + 1
    end = min(
        i
        for i in (output.find("\n___", start), output.find("\n---", start), output.find("\n===", start), len(output))
        if i >= 0
    )
    return output[start:end]


def test_a_suite_outside_the_repository_runs_the_crates_tests_and_reports_the_console(
    pytester, hello_package, monkeypatch
):
    # pytester gives the run its own HOME: the toolchain's cache (geckodriver) is named explicitly.
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(TOOL_CACHE))
    for name in ("conftest.py", "test_in_browser.py"):
        shutil.copy(HELLO / "tests" / name, pytester.path / name)
    pytester.makepyfile(test_failing=FAILING)
    # Both browsers chosen explicitly: a missing one fails the run instead of being skipped.
    result = pytester.runpytest_subprocess(
        "--wasm-package", str(hello_package), "--browser", "all", "-p", "no:cacheprovider"
    )
    output = result.stdout.str()
    # hello-engine's own tests pass in both browsers; of the deliberately failing ones, one passes per browser.
    hello_tests = (HELLO / "tests" / "test_in_browser.py").read_text().count("\ndef test_")
    result.assert_outcomes(passed=2 * hello_tests + 2, failed=2 * 4)
    for browser in ("chromium", "firefox"):
        failing = section(output, f"browser console ({browser}, wasm_page)")
        assert "a line from the failing test" in failing
        second = output.split(f"test_module_page_second_fails[{browser}]")[1]
        lines = section(second, f"browser console ({browser}, wasm_module_page)")
        assert "a line from the second test" in lines and "a line from the first test" not in lines, lines
        trap = output.split(f"test_a_trap_fails_the_test_with_its_rust_frames[{browser}]")[1]
        assert "WasmTrap" in trap and "  hello_engine::share_out\n" in trap[: trap.index("browser console")]
        js = output.split(f"test_a_js_error_fails_the_test_with_its_stack[{browser}]")[1]
        assert "SyntaxError: made up" in js and "deepInside" in js


def test_a_package_that_does_not_load_fails_the_setup_with_the_js_error(pytester, hello_package, tmp_path, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(TOOL_CACHE))
    broken = shutil.copytree(hello_package, tmp_path / "broken")
    (broken / "hello_engine_bg.wasm").write_bytes(b"\0asm\x01\0\0\0\x05garbage")
    pytester.makepyfile(test_x="def test_x(wasm_page):\n    raise AssertionError('never reached')\n")
    result = pytester.runpytest_subprocess(
        "--wasm-package", str(broken), "--browser", "chromium", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*the package did not load in chromium*", "*CompileError*", "*--- browser console ---*"]
    )
    assert "never reached" not in result.stdout.str()


def test_a_suite_given_only_the_crate_builds_it_first(pytester, tmp_path, monkeypatch):
    """--wasm-crate (or a conftest's wasm_crate fixture): the plugin builds the crate with the toolchain,
    then tests the package; a crate that cannot be built fails the setup with the toolchain's message."""
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(TOOL_CACHE))
    shutil.copy(HELLO / "tests" / "test_in_browser.py", pytester.path / "test_in_browser.py")
    result = pytester.runpytest_subprocess(
        "--wasm-crate", str(HELLO), "--browser", "chromium", "-p", "no:cacheprovider"
    )
    hello_tests = (HELLO / "tests" / "test_in_browser.py").read_text().count("\ndef test_")
    result.assert_outcomes(passed=hello_tests)
    missing = pytester.runpytest_subprocess(
        "--wasm-crate", str(tmp_path / "no-crate"), "--browser", "chromium", "-p", "no:cacheprovider"
    )
    missing.assert_outcomes(errors=hello_tests)
    missing.stdout.fnmatch_lines(["*building * for the browser tests failed: no Cargo.toml at*", "*what to do:*"])
