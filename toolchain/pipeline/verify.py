"""Does the module still instantiate? Checked in node before a package is published.

An optimiser can produce a module that validates but that the JS glue cannot instantiate (old
binaryen releases rewrite wasm-bindgen's externref table; V8 then throws in Table.set). Running
the glue's initSync in node catches that at build time instead of in a user's browser.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from toolchain.core import process
from toolchain.core.errors import StageFailed

_SCRIPT = """
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [glue, wasm] = process.argv.slice(1);
const mod = await import(pathToFileURL(glue).href);
const instance = mod.initSync({ module: readFileSync(wasm) });
const exports = Object.keys(instance).length;
console.log(`instantiated: ${exports} exports`);
"""


def node_available() -> bool:
    return shutil.which("node") is not None


def instantiate_in_node(js_glue: Path, wasm: Path) -> str:
    """Instantiates `wasm` through its wasm-bindgen glue in node; returns node's one-line report."""
    node = shutil.which("node")
    if node is None:
        raise StageFailed(
            "node is not installed, so the module cannot be test-instantiated",
            "install Node.js (Debian: nodejs), or build with --no-verify",
        )
    argv = [node, "--input-type=module", "-e", _SCRIPT, str(js_glue), str(wasm)]
    result = process.run(
        argv,
        capture=True,
        timeout=600,
        check=False,
        show=[node, "<instantiate check>", js_glue, wasm],
        what="the instantiate check",
        fix="build with --no-verify to skip it",
    )
    if result.returncode != 0:
        detail = "\n".join((result.stderr or result.stdout).strip().splitlines()[:12])
        raise StageFailed(
            f"the built module does not instantiate through its JS glue:\n{detail}",
            "if wasm-opt ran, try without it (--no-wasm-opt) or another provider (--wasm-opt-provider): "
            "an optimiser that does not understand wasm-bindgen's output breaks it",
        )
    return result.stdout.strip()
