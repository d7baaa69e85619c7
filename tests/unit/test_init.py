"""`init`: what it writes, what it refuses, and that its pins are the engine's."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import ENGINE_MANIFEST
from toolchain.analysis import cargo_lock, config
from toolchain.core.errors import ToolchainError
from toolchain.pipeline import init


def test_the_scaffold_pins_the_wasm_bindgen_the_engine_is_locked_to():
    """Then a new crate's build needs no second CLI install where the engine was built."""
    lock = cargo_lock.find_lock_file(ENGINE_MANIFEST)
    assert cargo_lock.single_locked_version(lock, "wasm-bindgen") == init.WASM_BINDGEN_VERSION


def test_a_scaffolded_crate_resolves_with_its_own_budget_and_artifacts(tmp_path):
    made = init.scaffold(tmp_path / "my-crate")
    assert made.name == "my-crate" and made.lock_generated
    manifest = tomllib.loads((made.directory / "Cargo.toml").read_text())
    assert manifest["dependencies"]["wasm-bindgen"] == f"={init.WASM_BINDGEN_VERSION}"
    resolved = config.resolve(config.BuildOptions(manifest_path=made.directory))
    assert resolved.policies.size_budget == made.directory / "ci" / "size-budget.toml"
    assert resolved.layout.package_dir == made.directory / "target" / "wasm-qe" / "my-crate"
    assert cargo_lock.single_locked_version(made.directory / "Cargo.lock", "wasm-bindgen") == init.WASM_BINDGEN_VERSION


def test_nothing_is_overwritten_without_force_and_bad_names_are_refused(tmp_path):
    target = tmp_path / "crate"
    (target / "src").mkdir(parents=True)
    (target / "src" / "lib.rs").write_text("// mine\n")
    with pytest.raises(ToolchainError, match=r"already holds .*src/lib\.rs") as excinfo:
        init.scaffold(target)
    assert "--force" in excinfo.value.fix
    assert (target / "src" / "lib.rs").read_text() == "// mine\n"
    assert not (target / "Cargo.toml").exists()  # nothing half-written
    init.scaffold(target, force=True)
    assert "greet" in (target / "src" / "lib.rs").read_text()
    with pytest.raises(ToolchainError, match="not a crate name"):
        init.scaffold(tmp_path / "Bad Name")
