"""Every module of the toolchain imports alone in a fresh interpreter (an import cycle made
`import toolchain.tools.wasm_opt` fail unless something else had imported toolchain.pipeline.build first), and
every package is in the distribution (`packages` once left out toolchain.checks)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "toolchain"


def modules() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "templates" in path.parts or path.name == "__main__.py":
            continue  # templates are data for the wheels `release` writes; __main__ runs the CLI
        parts = path.relative_to(REPO).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@pytest.mark.parametrize("module", modules())
def test_module_imports_alone_in_a_fresh_interpreter(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"`import {module}` alone fails:\n{result.stderr[-2000:]}"


def test_every_package_is_in_the_distribution():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, f"pyproject.toml [tool.setuptools] packages misses {sorted(packages - listed)}"
