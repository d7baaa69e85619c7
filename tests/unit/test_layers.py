"""The layer contract (pyproject.toml [tool.importlinter], docs/design.md) holds on the package, and it
is a real gate: the same contract on a copy with one upward import added is broken, and says which."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extra (pip install -e '.[test]')")
    # --no-cache: the copy and the checkout share module names; a cached graph would hide the change.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
    )


def copy_package(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(REPO / "pyproject.toml", root)
    shutil.copytree(REPO / "toolchain", root / "toolchain", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_package_keeps_its_layers():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("toolchain/core/process.py", "from toolchain.tools import rust"),  # a leaf reaching up one layer
        ("toolchain/analysis/sizes.py", "from toolchain.pipeline import build"),  # analysis reaching into the pipeline
        ("toolchain/checks/size.py", "from toolchain.release import sbom"),  # a check importing release code
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path, module, upward):
    root = copy_package(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{upward}  # deliberately upward\n")
    result = lint_imports(root)
    assert result.returncode != 0, f"the contract kept an upward import in {module}:\n{result.stdout}"
    assert "BROKEN" in result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout, f"the report does not name {importer}:\n{result.stdout}"
