"""`init`: a new crate that builds, passes every check and has a browser test, ready to grow.

What it writes is what a user of the toolchain keeps: a cdylib with wasm-bindgen pinned to the
version the toolchain's own engine uses (so its CLI is already cached where the engine was built),
a release profile for size, a size budget in the crate (per-crate, never the engine's), and a test
file for the pytest plugin the toolchain installs. The crate is its own workspace ([workspace]),
so creating it inside another workspace's directory does not make cargo refuse it.

Nothing is overwritten: an existing file is an error listing them, unless force. Cargo.lock comes
from cargo itself, offline first (the registry cache of this machine), then online.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from toolchain.core import console, process
from toolchain.core.errors import ToolchainError
from toolchain.tools import rust

# The wasm-bindgen the engine (crates/Cargo.lock) is locked to; tests/unit/test_init.py holds them equal,
# so a new crate needs no second CLI install where the engine was built.
WASM_BINDGEN_VERSION = "0.2.130"
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def _cargo_toml(name: str) -> str:
    return f'''[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
license = "MIT OR Apache-2.0"
description = "{name}: Rust compiled to WebAssembly with wasm-qe-toolchain"
publish = false

[lib]
# cdylib: the .wasm; rlib: native `cargo test` of the same code.
crate-type = ["cdylib", "rlib"]

[dependencies]
# Exactly the version the wasm-bindgen CLI is provisioned for: the glue must match it.
wasm-bindgen = "={WASM_BINDGEN_VERSION}"

[profile.release]
opt-level = "z"       # size first; try "s" or 3 and compare (`check --manifest-path . size`)
panic = "abort"       # a panic traps; the browser tests name its frame from the names section

[package.metadata.wasm-qe-toolchain]
# This crate's own policies (docs/users.md); the size budget is checked by `check`.
policies = {{ size-budget = "ci/size-budget.toml" }}

# Its own workspace, so that cargo takes it wherever it is created.
[workspace]
'''


LIB_RS = """use wasm_bindgen::prelude::*;

/// A greeting, built in Rust and returned to JavaScript as a string.
#[wasm_bindgen]
pub fn greet(name: &str) -> String {
    format!("Hello, {name}!")
}

/// The mean of the values, or a JavaScript `Error` for an empty list (a clean error, not a trap).
#[wasm_bindgen]
pub fn mean(values: &[f64]) -> Result<f64, JsError> {
    if values.is_empty() {
        return Err(JsError::new("mean of no values"));
    }
    Ok(values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn greets() {
        assert_eq!(super::greet("wasm"), "Hello, wasm!");
    }
}
"""

BUDGET = """# {name}'s size budget, checked by `python -m toolchain check --manifest-path <crate> size`.
# Limits are on the shipped module ({lib}_bg.wasm), in bytes; raise them when growth is intended.

[final]
max_gzip = 65_536
"""

CONFTEST = '''"""Names the crate for the toolchain's pytest plugin, which builds it (into a temporary directory)
and gives the browsers, the page and `wasm_page`. `pytest tests --wasm-package DIR` tests a package
built already instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain.testing.pytest_plugin import WasmCrate


@pytest.fixture(scope="session")
def wasm_crate() -> WasmCrate:
    return WasmCrate(Path(__file__).resolve().parents[1])
'''

TEST = '''"""{name} in headless Chromium and Firefox (each test runs once per browser; --browser chooses)."""

from __future__ import annotations

import pytest

from toolchain.testing.pytest_plugin import JSError


def test_greet(wasm_page):
    assert wasm_page.call("greet", "browser") == "Hello, browser!"


def test_mean(wasm_page):
    assert wasm_page.call("mean", [1, 2, 3, 4]) == 2.5


def test_an_error_is_a_js_error_and_the_instance_lives_on(wasm_page):
    with pytest.raises(JSError, match="mean of no values"):
        wasm_page.call("mean", [])
    assert wasm_page.call("greet", "again") == "Hello, again!"
'''

README = """# {name}

Rust compiled to WebAssembly with wasm-qe-toolchain (`python -m toolchain` or `wasm-qe-toolchain`):

    wasm-qe-toolchain build --manifest-path .     # -> target/wasm-qe/{name}/ (an npm package)
    wasm-qe-toolchain check --manifest-path .     # gating, tracing, shims, size (ci/size-budget.toml)
    pytest tests                                  # the package in headless Chromium and Firefox
"""

GITIGNORE = "/target\n"


@dataclass(frozen=True)
class Scaffold:
    directory: Path
    name: str
    files: tuple[Path, ...]
    lock_generated: bool


def files_for(name: str) -> dict[str, str]:
    lib = name.replace("-", "_")
    return {
        "Cargo.toml": _cargo_toml(name),
        "src/lib.rs": LIB_RS,
        "ci/size-budget.toml": BUDGET.format(name=name, lib=lib),
        "tests/conftest.py": CONFTEST,
        "tests/test_in_browser.py": TEST.format(name=name),
        "README.md": README.format(name=name),
        ".gitignore": GITIGNORE,
    }


def scaffold(directory: Path, name: str | None = None, force: bool = False, install: bool = True) -> Scaffold:
    """Writes a new crate into `directory` (created if absent) and its Cargo.lock."""
    directory = directory.resolve()
    name = name or directory.name.lower().replace("_", "-")
    if not NAME.match(name):
        raise ToolchainError(
            f"{name!r} is not a crate name this scaffold can use",
            "pass --name with lower-case letters, digits, '-' or '_', starting with a letter",
        )
    files = files_for(name)
    existing = sorted(str(directory / f) for f in [*files, "Cargo.lock"] if (directory / f).exists())
    if existing and not force:
        raise ToolchainError(
            f"{directory} already holds {', '.join(existing)}",
            "choose a new directory, or pass --force to overwrite these files",
        )
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return Scaffold(directory, name, tuple(written), generate_lock(directory, install))


def generate_lock(directory: Path, install: bool = True) -> bool:
    """Cargo.lock for the new crate: offline from this machine's registry cache, else from the registry.
    False (with a warning that says what to do) when neither works; the crate is written either way."""
    toolchain = rust.find_toolchain(install=install)
    base = [str(toolchain.cargo), "generate-lockfile", "--manifest-path", str(directory / "Cargo.toml")]
    for argv in ([*base, "--offline"], base):
        console.command(argv)
        if process.run(argv, env=rust.build_env(toolchain), check=False, capture=True, show=False).returncode == 0:
            return True
    console.warn(
        f"cargo could not generate {directory / 'Cargo.lock'} (no registry reachable, and wasm-bindgen "
        f"{WASM_BINDGEN_VERSION} is not in this machine's cache)",
    )
    console.info("build with --lock where the registry is reachable, then commit Cargo.lock")
    return False
