"""The engine's hashbrown patch (crates/patches/hashbrown-0.17.1.patch: control groups on
WebAssembly SIMD128, issue 16) on real wasm32 builds of a tiny crate
(tests/fixtures/hashbrown-simd): a seeded differential of a hashbrown map against a BTreeMap
(inserts, removals, retains, clears, shrinks, and a hash with 16 values that fills groups with
equal tags and tables with DELETED slots to rehash in place), run in wasmtime, built with SIMD128
(the patched groups) and without (hashbrown's generic groups)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from toolchain.analysis import cargo_lock
from toolchain.pipeline import build as build_module
from toolchain.tools import patched_crates, rust

wasmtime = pytest.importorskip("wasmtime")

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "hashbrown-simd" / "Cargo.toml"
I8X16_BITMASK = bytes([0xFD, 0x64])  # SIMD prefix, sub-opcode 100 (u8x16_bitmask in Rust)


@pytest.fixture(scope="module")
def modules(tmp_path_factory) -> dict[str, Path]:
    patched_crates.prepare(REPO / "crates")  # the fixture's [patch] points at the engine's
    toolchain = rust.find_toolchain()
    crate = cargo_lock.read_manifest(FIXTURE)
    settings, _, _ = crate.settings.for_variant("no-simd")
    builds = {"simd128": crate, "generic": dataclasses.replace(crate, settings=settings)}
    out = tmp_path_factory.mktemp("hashbrown-modules")
    modules = {}
    for name, manifest in builds.items():
        wasm = build_module.cargo_build(toolchain, manifest, "release", build_module.default_target_dir(manifest))
        modules[name] = shutil.copyfile(wasm, out / f"{name}.wasm")
    return modules


def _check(module: Path, seed: int, ops: int, colliding: bool, fault_at: int = 0) -> int:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module.from_file(engine, str(module)), [])
    return instance.exports(store)["check"](store, seed, ops, int(colliding), fault_at)


def test_the_simd_build_has_the_patched_groups(modules):
    assert I8X16_BITMASK in modules["simd128"].read_bytes(), "no i8x16.bitmask: simd128.rs was not compiled in"
    assert I8X16_BITMASK not in modules["generic"].read_bytes()


@pytest.mark.parametrize("build", ["simd128", "generic"])
@pytest.mark.parametrize("colliding", [False, True], ids=["spread-hash", "colliding-hash"])
@pytest.mark.parametrize("seed", [1, 0x5EED, 2**63 + 12345])
def test_the_map_agrees_with_a_btreemap(modules, build, colliding, seed):
    assert _check(modules[build], seed, 60_000, colliding) == 0


@pytest.mark.parametrize("colliding", [False, True], ids=["spread-hash", "colliding-hash"])
def test_the_differential_catches_a_stray_entry(modules, colliding):
    """An entry slipped into the map alone is reported at the operation it happened."""
    assert _check(modules["simd128"], 7, 5_000, colliding, fault_at=1234) == 1234
