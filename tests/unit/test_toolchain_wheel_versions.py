"""`toolchain-wheels build --wasm-bindgen VERSION`: the committed wasm-bindgen-cli recipe derived
for another version, a wheel directory that collects versions, and the option itself; nothing is
built (build_wheel is replaced where a test reaches it; the real build has its slow test in
tests/integration/test_toolchain_wheels.py)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from toolchain.cli import toolchain_wheels as cli
from toolchain.core import cache
from toolchain.core.errors import StageFailed, ToolchainError
from toolchain.release import toolchain_wheels


@pytest.fixture
def fake_crate(tmp_path, monkeypatch):
    """crate_archive hands out a small file per version (as if cargo had downloaded it)."""
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    asked = []

    def crate_archive(crate, version, sha256):
        asked.append((crate, version, sha256))
        path = tmp_path / "registry" / f"{crate}-{version}.crate"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(f"{crate} {version}".encode())
        return path

    monkeypatch.setattr(toolchain_wheels, "crate_archive", crate_archive)
    return asked


def test_the_pinned_version_is_the_committed_recipe(fake_crate):
    pinned = toolchain_wheels.all_recipes()["wasm-bindgen-cli"]
    assert toolchain_wheels.wasm_bindgen_recipe(pinned.version) == pinned
    assert fake_crate == []


def test_a_derived_recipe_pins_the_version_and_the_registrys_checksum(fake_crate, tmp_path):
    pinned = toolchain_wheels.all_recipes()["wasm-bindgen-cli"]
    recipe = toolchain_wheels.wasm_bindgen_recipe("0.2.100")
    assert (recipe.name, recipe.version, recipe.crate_version, recipe.tool_version) == (
        "wasm-bindgen-cli",
        "0.2.100",
        "0.2.100",
        "0.2.100",
    )
    assert fake_crate == [("wasm-bindgen-cli", "0.2.100", None)]  # no pin to check against: the registry's
    assert recipe.sha256 == cache.file_sha256(tmp_path / "registry" / "wasm-bindgen-cli-0.2.100.crate")
    # The crate's own lock (the committed one is for the pinned version); the same build otherwise.
    assert recipe.lock_file is None and [p.name for p in recipe.directory.iterdir()] == ["pyproject.toml"]
    assert recipe.resolve_lock and not pinned.resolve_lock
    assert (recipe.backend, recipe.executables, recipe.crate) == (pinned.backend, pinned.executables, pinned.crate)
    text = (recipe.directory / "pyproject.toml").read_text()
    assert pinned.version not in text.replace(f"({pinned.version})", "")  # only the provenance line names it
    assert "locked = true" in text and 'bindings = "bin"' in text
    assert recipe.directory.is_relative_to(tmp_path / "cache")  # never in the checkout
    # Its own cache key: another version is another wheel; the same version, the same key.
    assert toolchain_wheels.recipe_key(recipe) != toolchain_wheels.recipe_key(pinned)
    assert toolchain_wheels.recipe_key(toolchain_wheels.wasm_bindgen_recipe("0.2.100")) == (
        toolchain_wheels.recipe_key(recipe)
    )
    assert toolchain_wheels.recipe_key(toolchain_wheels.wasm_bindgen_recipe("0.2.101")) != (
        toolchain_wheels.recipe_key(recipe)
    )


@pytest.mark.parametrize("bad", ["latest", "0.2", "0.2.100; rm -rf /", "../0.2.1", ""])
def test_something_else_than_a_version_is_refused(fake_crate, bad):
    with pytest.raises(ToolchainError, match="is not a version"):
        toolchain_wheels.wasm_bindgen_recipe(bad)
    assert fake_crate == []


def _built(tmp_path: Path, name: str, version: str) -> toolchain_wheels.BuiltWheel:
    path = tmp_path / "built" / f"{name.replace('-', '_')}-{version}-py3-none-linux_x86_64.whl"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(f"{name} {version}".encode())
    return toolchain_wheels.BuiltWheel(
        name, version, path, cache.file_sha256(path), path.stat().st_size, 1.0, "k", True
    )


def test_publishing_keeps_the_other_versions_already_there(tmp_path):
    out = tmp_path / "out"
    toolchain_wheels.publish([_built(tmp_path, "wasm-bindgen-cli", "0.2.130")], out, keep=True)
    toolchain_wheels.publish([_built(tmp_path, "wasm-bindgen-cli", "0.2.100")], out, keep=True)
    manifest = json.loads((out / toolchain_wheels.MANIFEST_NAME).read_text())
    assert [(e["name"], e["version"]) for e in manifest] == [
        ("wasm-bindgen-cli", "0.2.100"),
        ("wasm-bindgen-cli", "0.2.130"),
    ]
    assert sorted(p.name for p in out.glob("*.whl")) == [e["file"] for e in manifest]
    # The same version again replaces it; a damaged wheel there is dropped, not carried along.
    (out / manifest[1]["file"]).write_bytes(b"damaged")
    toolchain_wheels.publish([_built(tmp_path, "binaryen-wasm-opt", "116")], out, keep=True)
    manifest = json.loads((out / toolchain_wheels.MANIFEST_NAME).read_text())
    assert [(e["name"], e["version"]) for e in manifest] == [
        ("binaryen-wasm-opt", "116"),
        ("wasm-bindgen-cli", "0.2.100"),
    ]
    # Without keep, the directory holds just what was published.
    toolchain_wheels.publish([_built(tmp_path, "binaryen-wasm-opt", "116")], out)
    assert len(json.loads((out / toolchain_wheels.MANIFEST_NAME).read_text())) == 1


def test_build_with_versions_builds_only_those_cli_wheels(fake_crate, tmp_path, monkeypatch):
    built = []

    def build_wheel(recipe):
        built.append((recipe.name, recipe.version))
        return _built(tmp_path, recipe.name, recipe.version)

    monkeypatch.setattr(toolchain_wheels, "build_wheel", build_wheel)
    pinned = toolchain_wheels.all_recipes()["wasm-bindgen-cli"].version
    # locked_wasm_bindgen does not matter when the pinned recipe is not built.
    toolchain_wheels.build(None, tmp_path / "out", locked_wasm_bindgen="0.0.1", wasm_bindgen_versions=["0.2.100"])
    assert built == [("wasm-bindgen-cli", "0.2.100")]
    built.clear()
    toolchain_wheels.build(["binaryen-wasm-opt"], tmp_path / "out", wasm_bindgen_versions=["0.2.99", pinned, "0.2.99"])
    assert [b[1] for b in built][1:] == ["0.2.99", pinned] and built[0][0] == "binaryen-wasm-opt"
    files = {p.name for p in (tmp_path / "out").glob("*.whl")}
    assert any("0.2.100" in f for f in files) and any("0.2.99" in f for f in files)  # collected


def test_the_option_takes_repeats_and_comma_lists():
    assert cli.wasm_bindgen_versions(["0.2.100,0.2.99", " 0.2.100 ", "0.2.92,"]) == ["0.2.100", "0.2.99", "0.2.92"]
    assert cli.wasm_bindgen_versions(None) == []
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["toolchain-wheels", "build", "--wasm-bindgen", "0.2.100", "--wasm-bindgen", "0.2.99"])
    assert args.wasm_bindgen == ["0.2.100", "0.2.99"]


FAKE_CARGO = r"""#!/bin/sh
# `cargo fetch --locked` fails (a locked version the registry lacks); `cargo fetch` moves the lock.
echo "$*" >> "$FAKE_TOOL_CALLS"
for arg in "$@"; do
  case "$arg" in --locked) exit 101 ;; */Cargo.toml) manifest=$arg ;; esac
done
[ -n "$FAKE_CARGO_FAIL" ] && exit 101
dir=$(dirname "$manifest")
sed 's/1.0.11/1.0.10/' "$dir/Cargo.lock" > "$dir/Cargo.lock.new" && mv "$dir/Cargo.lock.new" "$dir/Cargo.lock"
"""


@pytest.fixture
def staged(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cargo").write_text(FAKE_CARGO)
    (bin_dir / "cargo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TOOL_CALLS", str(tmp_path / "calls"))
    crate = tmp_path / "src" / "crate"
    crate.mkdir(parents=True)
    (crate / "Cargo.toml").write_text("[package]\n")
    (crate / "Cargo.lock").write_text('name = "webpki-roots"\nversion = "1.0.11"\n')
    (crate.parent / "SOURCE.json").write_text(json.dumps({"cargo_lock": "the crate's own"}))
    recipe = toolchain_wheels.Recipe(
        "wasm-bindgen-cli", tmp_path, "0.2.100", "maturin", "wasm-bindgen-cli", "0.2.100", "0" * 64, None, "0.2.100", ()
    )
    return recipe, crate


def test_a_published_lock_the_registry_cannot_serve_is_moved_and_recorded(staged, capsys):
    recipe, crate = staged
    toolchain_wheels.resolve_published_lock(recipe, crate)
    assert 'version = "1.0.10"' in (crate / "Cargo.lock").read_text()
    assert "updated by `cargo fetch`" in json.loads((crate.parent / "SOURCE.json").read_text())["cargo_lock"]
    assert "does not resolve against this registry" in capsys.readouterr().err


def test_a_lock_that_cannot_be_moved_either_fails_with_a_fix(staged, monkeypatch):
    recipe, crate = staged
    monkeypatch.setenv("FAKE_CARGO_FAIL", "1")
    with pytest.raises(StageFailed) as error:
        toolchain_wheels.resolve_published_lock(recipe, crate)
    assert "cargo install" in (error.value.fix or "")
