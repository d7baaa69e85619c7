"""Headless Chromium through selenium, with JS errors re-raised in Python and console capture."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from toolchain.browser import CHROMIUM_ARGUMENTS, Browser


class JSError(Exception):
    """An exception thrown (or a promise rejected) in the page, with its JS stack."""

    def __init__(self, name: str, message: str, stack: str):
        super().__init__(f"{name}: {message}\n--- JS stack ---\n{stack}")
        self.name = name
        self.message = message
        self.stack = stack


# Runs `body` as an async function in the page; resolves to {ok: value} or {error: {...}}.
_ASYNC_WRAPPER = """
const done = arguments[arguments.length - 1];
const args = Array.from(arguments).slice(0, -1);
(async (...args) => { %s })(...args).then(
  (value) => done({ok: value === undefined ? null : value}),
  (e) => done({error: {name: (e && e.name) || typeof e, message: (e && e.message) || String(e),
                       stack: (e && e.stack) || ""}}));
"""


def start_chromium(browser: Browser, script_timeout_s: float = 300):
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


@dataclass
class Page:
    """A loaded page plus helpers; console lines are accumulated across calls."""

    driver: Any
    console: list[str]

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
        entries = self.driver.get_log("browser")
        lines = [f"[{e.get('level')}] {e.get('message')}" for e in entries]
        self.console.extend(lines)
        return lines

    def dump(self) -> str:
        self.collect_console()
        return "\n".join(self.console) or "(no console output)"


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
