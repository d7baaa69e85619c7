"""Headless Chromium through selenium, with JS errors re-raised in Python and console capture."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from toolchain.tools.browser import CHROMIUM_ARGUMENTS, FIREFOX_ARGUMENTS, FIREFOX_PREFERENCES, Browser, Firefox


class JSError(Exception):
    """An exception thrown (or a promise rejected) in the page, with its JS stack."""

    def __init__(self, name: str, message: str, stack: str):
        super().__init__(f"{name}: {message}\n--- JS stack ---\n{stack}")
        self.name = name
        self.message = message
        self.stack = stack


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
# keep it themselves (tests/browser/harness/index.html fills this array).
_PAGE_CONSOLE = "const lines = window.__pageConsole || []; window.__pageConsole = []; return lines;"


@dataclass
class Page:
    """A loaded page plus helpers; console lines are accumulated across calls."""

    driver: Any
    console: list[str]
    browser: str = "chromium"

    def run(self, body: str, *args: Any) -> Any:
        """Runs `body` (an async function body; `args` is its argument list) and returns its value."""
        result = self.driver.execute_async_script(_ASYNC_WRAPPER % body, *args)
        self.collect_console()
        if result is None:
            raise JSError("Error", "the script returned nothing (page navigated away?)", "")
        if "error" in result:
            error = result["error"]
            raise JSError(error["name"], error["message"], error["stack"])
        return result["ok"]

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
