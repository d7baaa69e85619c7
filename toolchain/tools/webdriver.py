"""Headless Chromium and Firefox through selenium, with JS errors re-raised in Python and console capture.

The pytest plugin (toolchain/testing/pytest_plugin.py) builds its fixtures on these."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from toolchain.tools.browser import CHROMIUM_ARGUMENTS, FIREFOX_ARGUMENTS, FIREFOX_PREFERENCES, Browser, Firefox


class JSError(Exception):
    """An exception thrown (or a promise rejected) in the page, with its JS stack.

    `frames`: the wasm frames of the stack, innermost first, named from the module's names
    section when the page knows one (empty when the stack has no wasm frames)."""

    def __init__(self, name: str, message: str, stack: str, frames: list[str] | None = None):
        self.name = name
        self.message = message
        self.stack = stack
        self.frames = list(frames or [])
        text = f"{name}: {message}\n--- JS stack ---\n{stack}"
        if self.frames:
            text += "\n--- wasm frames, innermost first (named from the names section) ---\n"
            text += "\n".join(f"  {frame}" for frame in self.frames)
        super().__init__(text)


class WasmTrap(JSError):
    """A WebAssembly trap: a Rust panic under panic=abort (`unreachable`), an out-of-bounds
    access, a division by zero... The instance is usually unusable afterwards: reload the page."""


def is_trap(name: str, message: str) -> bool:
    """A wasm trap: a WebAssembly.RuntimeError ("unreachable" in V8, "unreachable executed" in
    SpiderMonkey), or an uncaught error whose details the browser hid ("Script error.")."""
    return name == "RuntimeError" or message.startswith("unreachable") or message == "Script error."


# Runs `body` as an async function in the page; resolves to {ok: value} or {error: {...}}.
# A wasm trap (a Rust panic aborts) inside a promise job never settles the promise: it surfaces
# only as an uncaught error event, so those are turned into a failure too instead of a hang.
_ASYNC_WRAPPER = """
const done = arguments[arguments.length - 1];
const args = Array.from(arguments).slice(0, -1);
const describe = (e) => ({name: (e && e.name) || typeof e, message: (e && e.message) || String(e),
                          stack: (e && e.stack) || ""});
let settled = false;
const finish = (outcome) => {
  if (settled) return;
  settled = true;
  window.removeEventListener("error", onError);
  window.removeEventListener("unhandledrejection", onRejection);
  done(outcome);
};
const onError = (event) => finish({error: describe(event.error || {name: "Error", message: event.message})});
const onRejection = (event) => finish({error: describe(event.reason)});
window.addEventListener("error", onError);
window.addEventListener("unhandledrejection", onRejection);
(async (...args) => { %s })(...args).then(
  (value) => finish({ok: value === undefined ? null : value}),
  (e) => finish({error: describe(e)}));
"""


# Below selenium's HTTP read timeout (120 s), so a stuck script is a ScriptTimeoutException
# that leaves the session usable, not a dropped connection.
SCRIPT_TIMEOUT_S = 100


def start_chromium(browser: Browser, script_timeout_s: float = SCRIPT_TIMEOUT_S):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(browser.chromium)
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager (which downloads drivers) is never consulted.
    driver = webdriver.Chrome(service=Service(executable_path=str(browser.chromedriver)), options=options)
    driver.set_script_timeout(script_timeout_s)
    return driver


def start_firefox(firefox: Firefox, script_timeout_s: float = SCRIPT_TIMEOUT_S):
    import subprocess

    from selenium import webdriver
    from selenium.webdriver.firefox.service import Service

    options = webdriver.FirefoxOptions()
    options.binary_location = str(firefox.firefox)
    for argument in FIREFOX_ARGUMENTS:
        options.add_argument(argument)
    for name, value in FIREFOX_PREFERENCES.items():
        options.set_preference(name, value)
    # An explicit driver path: Selenium Manager (which downloads drivers) is never consulted.
    service = Service(executable_path=str(firefox.geckodriver), log_output=subprocess.DEVNULL)
    driver = webdriver.Firefox(service=service, options=options)
    driver.set_script_timeout(script_timeout_s)
    return driver


# geckodriver cannot read the browser console; pages that want their console in test reports
# keep it themselves (the plugin's harness, toolchain/testing/harness/index.html, fills this array).
_PAGE_CONSOLE = "const lines = window.__pageConsole || []; window.__pageConsole = []; return lines;"


# How many console lines before a failing call are searched for a trap's stack, when the error
# itself has none (a trap in a promise job surfaces as an uncaught error event).
_CONSOLE_LINES_FOR_FRAMES = 20


@dataclass
class Page:
    """A loaded page plus helpers; console lines are accumulated across calls.

    `url`: the page `reload()` opens (and awaits `window.harness.ready` on, when `ready` is set).
    `frame_namer`: turns a JS stack (text) into the names of its wasm frames; JSError.frames."""

    driver: Any
    console: list[str]
    browser: str = "chromium"
    url: str | None = None
    frame_namer: Callable[[str], list[str]] | None = None
    ready: str | None = "return await window.harness.ready;"
    init: Any = field(default=None)

    def __repr__(self) -> str:  # what a failing test's traceback shows for the fixture
        return f"Page({self.browser}, {self.url or 'no url'}, {len(self.console)} console lines)"

    def run(self, body: str, *args: Any) -> Any:
        """Runs `body` (an async function body; `args` is its argument list) and returns its value.

        A JS exception (or rejection) is raised as JSError, a wasm trap as WasmTrap."""
        __tracebackhide__ = True  # a failing test's traceback ends at its own line, not in here
        result = self.driver.execute_async_script(_ASYNC_WRAPPER % body, *args)
        self.collect_console()
        if result is None:
            raise JSError("Error", "the script returned nothing (page navigated away?)", "")
        if "error" in result:
            error = result["error"]
            raise self._error(error["name"], error["message"], error["stack"])
        return result["ok"]

    def call(self, export: str, *args: Any) -> Any:
        """Calls the package's exported function `export` (window.pkg[export]) with `args`."""
        __tracebackhide__ = True
        return self.run(
            "const [name, ...rest] = args;\n"
            "if (typeof window.pkg[name] !== 'function') throw new TypeError(`the package exports no function ${name}`);\n"
            "return await window.pkg[name](...rest);",
            export,
            *args,
        )

    def reload(self) -> Any:
        """Opens `url` afresh (a new wasm instance) and waits for the harness; returns its info."""
        if self.url is None:
            raise ValueError("this page has no url to reload")
        self.driver.get(self.url)
        self.init = self.run(self.ready) if self.ready else None
        return self.init

    def _error(self, name: str, message: str, stack: str) -> JSError:
        trap = is_trap(name, message)
        frames: list[str] = []
        if self.frame_namer is not None and (trap or "wasm-function[" in stack):
            frames = self.frame_namer(stack)
            if not frames and trap:
                # No stack on the error (an uncaught error event): the console's last lines may have it.
                recent = "\n".join(self.console[-_CONSOLE_LINES_FOR_FRAMES:]).replace("\\n", "\n")
                frames = self.frame_namer(recent)
        return (WasmTrap if trap else JSError)(name, message, stack, frames)

    def collect_console(self) -> list[str]:
        if self.browser == "chromium":
            entries = self.driver.get_log("browser")
            lines = [f"[{e.get('level')}] {e.get('message')}" for e in entries]
        else:
            lines = self.driver.execute_script(_PAGE_CONSOLE) or []
        self.console.extend(lines)
        return lines

    def dump(self) -> str:
        self.collect_console()
        return "\n".join(self.console) or "(no console output)"


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
