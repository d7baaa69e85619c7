"""The reference host (pipeline/udf_host.py): hybrid start, the native-code cache, bundle
artifacts, sandbox limits, and adversarial modules. Each adversarial case must be stopped by a
limit or refused, and the host must go on serving the module's other functions."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from tests.udf.wat_modules import ABI_VERSION, ALLOCATOR, make
from toolchain.core import checksums
from toolchain.pipeline import udf_build, udf_bundle, udf_call, udf_host, udf_precompile

ROOT = Path(__file__).resolve().parents[2]
SPECS = (
    udf_precompile.ArtifactSpec("x86_64", "cranelift", "fuel"),
    udf_precompile.ArtifactSpec("aarch64", "cranelift", "fuel"),
    udf_precompile.ArtifactSpec("x86_64", "winch", "fuel"),
    udf_precompile.ArtifactSpec("pulley64", "pulley", "fuel"),
)


@pytest.fixture(scope="module")
def text_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("host-artifacts")
    built = udf_build.build(
        udf_build.UdfBuildOptions(project=ROOT / "crates/udf/examples/text", artifacts_dir=artifacts)
    )
    return udf_bundle.bundle(
        udf_bundle.BundleOptions(module=built.module, specs=SPECS, artifacts_dir=artifacts)
    ).directory


@pytest.fixture
def cache_root(tmp_path: Path) -> Path:
    return tmp_path / "native-cache"


def _pairs(n: int) -> list[pa.Array]:
    words = ["kitten", "sitting", "flaw", "lawn", "ñandú", "", "日本語"]
    a = [words[i % len(words)] for i in range(n)]
    b = [words[(i * 3 + 1) % len(words)] for i in range(n)]
    return [pa.array(a), pa.array(b)]


def _kinds(deployment: udf_host.Deployment) -> list[str]:
    return [e.kind for e in deployment.events]


# ---------------------------------------------------------------- hybrid start


def test_hybrid_start_serves_first_switches_at_a_call_boundary_with_identical_results(
    text_bundle: Path, cache_root: Path
) -> None:
    hold = threading.Event()
    deployment = udf_host.deploy(text_bundle, cache_root=cache_root, use_artifacts=False, hold_optimizer=hold)
    try:
        columns = _pairs(5000)
        before = deployment.call_batch("levenshtein", columns)
        assert deployment.last_tier == "winch"
        assert "optimized-ready" not in _kinds(deployment)  # the first result came before the optimizing tier
        hold.set()
        assert deployment.wait_optimized()
        after = deployment.call_batch("levenshtein", columns)
        assert deployment.last_tier == "cranelift (compiled here)"
        assert after.values.equals(before.values) and after.errors == before.errors
        kinds = _kinds(deployment)
        assert (
            kinds.index("fast-tier-ready")
            < kinds.index("first-result")
            < kinds.index("optimized-ready")
            < kinds.index("switch")
        )
        switch = next(e for e in deployment.events if e.kind == "switch")
        assert "before call 2" in switch.detail
        times = [e.at for e in deployment.events]
        assert times == sorted(times)
    finally:
        deployment.close()


def test_hybrid_start_without_a_hold_keeps_every_row(text_bundle: Path, cache_root: Path) -> None:
    deployment = udf_host.deploy(text_bundle, cache_root=cache_root, use_artifacts=False)
    try:
        columns = _pairs(2000)
        expected = None
        tiers = set()
        for _ in range(200):
            result = deployment.call_batch("levenshtein", columns)
            tiers.add(deployment.last_tier)
            expected = expected or result.values.to_pylist()
            assert result.values.to_pylist() == expected and len(result.values) == 2000
            if deployment.last_tier.startswith("cranelift"):
                break
        deployment.wait_optimized()
        assert deployment.call_batch("levenshtein", columns).values.to_pylist() == expected
        assert "switch" in _kinds(deployment)
    finally:
        deployment.close()


def test_the_second_deployment_loads_the_native_code_cache(text_bundle: Path, cache_root: Path) -> None:
    first = udf_host.deploy(text_bundle, cache_root=cache_root, use_artifacts=False)
    first.wait_optimized()
    first.close()
    second = udf_host.deploy(text_bundle, cache_root=cache_root, use_artifacts=False)
    assert second.tier == "cranelift (cache)" and "cache-hit" in _kinds(second)
    assert second.call_document("levenshtein", {"a": "kitten", "b": "sitting"}) == 3


def test_a_corrupt_cache_entry_is_not_loaded(text_bundle: Path, cache_root: Path) -> None:
    first = udf_host.deploy(text_bundle, cache_root=cache_root, use_artifacts=False)
    first.wait_optimized()
    [entry] = [p for p in cache_root.iterdir() if p.is_dir()]
    artifact = entry / "artifact.cwasm"
    data = bytearray(artifact.read_bytes())
    data[4096] ^= 0x5A
    artifact.write_bytes(bytes(data))
    second = udf_host.deploy(text_bundle, cache_root=cache_root, use_artifacts=False, use_cache=True)
    refused = [e for e in second.events if e.kind == "cache-refused"]
    assert refused and "sha256" in refused[0].detail
    assert second.tier == "winch"


def test_the_bundles_artifact_is_deserialized_not_compiled(text_bundle: Path, cache_root: Path) -> None:
    deployment = udf_host.deploy(text_bundle, cache_root=cache_root)
    assert deployment.tier == "cranelift (bundle artifact)"
    assert [e.kind for e in deployment.events] == ["verified", "artifact"]
    assert deployment.call_document("levenshtein", {"a": "flaw", "b": "lawn"}) == 2


def test_an_arrow_row_is_a_document(text_bundle: Path, cache_root: Path) -> None:
    deployment = udf_host.deploy(text_bundle, cache_root=cache_root)
    batch = pa.record_batch({"a": ["kitten", "x"], "b": ["sitting", None]})
    assert deployment.call_document("levenshtein", udf_host.ArrowRow(batch, 0)) == 3
    assert deployment.call_document("levenshtein", udf_host.ArrowRow(batch, 1)) is None


# ---------------------------------------------------------------- bundles that lie


def _resum(directory: Path) -> None:
    names = [
        p.relative_to(directory).as_posix()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "SHA256SUMS"
    ]
    (directory / "SHA256SUMS").write_text(checksums.sha256sums_text(directory, names))


def test_a_corrupted_precompiled_artifact_refuses_the_bundle(text_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(text_bundle, copy)
    artifact = copy / "precompiled" / "x86_64-cranelift-fuel.cwasm"
    artifact.write_bytes(artifact.read_bytes()[:-100] + b"\xcc" * 100)
    with pytest.raises(udf_host.BundleRefused, match="checksum mismatch"):
        udf_host.deploy(copy)


def test_a_bundle_whose_checksums_lie_is_refused(text_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(text_bundle, copy)
    artifact = copy / "precompiled" / "x86_64-cranelift-fuel.cwasm"
    artifact.write_bytes(b"\x7fELF" + b"\0" * 60 + b"arbitrary native code")
    _resum(copy)  # SHA256SUMS now agrees with the tampered file; the manifest does not
    with pytest.raises(udf_host.BundleRefused, match="not the manifest's"):
        udf_host.deploy(copy)


def test_an_artifact_the_manifest_vouches_for_but_is_not_one_is_not_loaded(
    text_bundle: Path, tmp_path: Path, cache_root: Path
) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(text_bundle, copy)
    artifact = copy / "precompiled" / "x86_64-cranelift-fuel.cwasm"
    artifact.write_bytes(b"#!/bin/sh\nnot an artifact\n")
    manifest = json.loads((copy / "manifest.json").read_text())
    for entry in manifest["precompiled"]:
        if entry["file"].endswith("x86_64-cranelift-fuel.cwasm"):
            entry["sha256"] = hashlib.sha256(artifact.read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _resum(copy)  # everything consistent, and the file is still not an artifact
    deployment = udf_host.deploy(copy, cache_root=cache_root)
    assert any(e.kind == "artifact-refused" and "ELF" in e.detail for e in deployment.events)
    assert deployment.tier == "winch"  # it fell back to compiling from the module
    assert deployment.call_document("levenshtein", {"a": "a", "b": "b"}) == 1


def test_a_module_importing_what_the_bundle_policy_forbids_is_refused(tmp_path: Path) -> None:
    body = "\n".join(
        [
            '(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))',
            '(memory (export "memory") 1 64)',
            ABI_VERSION,
            ALLOCATOR,
            '(func (export "add_one") (param i64) (result i64) local.get 0 i64.const 1 i64.add)',
            '(func (export "add_one__doc") (param i32 i32) (result i32) i32.const 1)',
            '(func (export "add_one__batch") (param i32) (result i32) i32.const 1)',
        ]
    )
    module = make(tmp_path, body)
    policy = tmp_path / "policy.toml"
    policy.write_text('allowed-imports = ["wasi_snapshot_preview1.path_open"]\n')
    made = udf_bundle.bundle(
        udf_bundle.BundleOptions(module=module, specs=(SPECS[0],), artifacts_dir=tmp_path / "a", policy=policy)
    )
    manifest = json.loads((made.directory / "manifest.json").read_text())
    manifest["policy"]["allowed_imports"] = []
    (made.directory / "manifest.json").write_text(json.dumps(manifest))
    _resum(made.directory)
    with pytest.raises(udf_host.BundleRefused, match=r"\[imports\] wasi_snapshot_preview1.path_open"):
        udf_host.deploy(made.directory)


# ---------------------------------------------------------------- adversarial guests and limits

ADVERSARIAL = r"""
  (memory (export "memory") 1 4096)
  (func (export "ok") (param i64) (result i64) local.get 0 i64.const 1 i64.add)
  (func (export "spin") (result i64) (loop $l br $l) i64.const 0)
  (func (export "bomb") (result i64)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable)
  (func $deep (export "deep") (param i64) (result i64) (call $deep (i64.add (local.get 0) (i64.const 1))))
  (func (export "liar__batch") (param $d i32) (result i32)
    ;; a result column whose values buffer points past the end of memory
    (i32.store (i32.add (local.get $d) (i32.const 40)) (i32.const 3))
    (i32.store (i32.add (local.get $d) (i32.const 52)) (i32.const 0x7ffffff0))
    (i32.store (i32.add (local.get $d) (i32.const 56)) (i32.const 8))
    i32.const 0)
"""


def _record(name: str, args: list[str], styles: list[str], returns: str = "i64") -> dict:
    return {
        "abi": "1.0",
        "name": name,
        "args": [{"name": f"x{i}", "type": t} for i, t in enumerate(args)],
        "returns": {"type": returns},
        "fallible": False,
        "deterministic": True,
        "styles": styles,
    }


@pytest.fixture
def adversarial(tmp_path: Path) -> Path:
    records = [
        _record("ok", ["i64"], ["scalar"]),
        _record("spin", [], ["scalar"]),
        _record("bomb", [], ["scalar"]),
        _record("deep", ["i64"], ["scalar"]),
        _record("liar", ["i64"], ["batch"]),
    ]
    module = make(tmp_path, "\n".join([ABI_VERSION, ALLOCATOR, ADVERSARIAL]), records=records, name="adversarial")
    specs = (
        udf_precompile.ArtifactSpec("x86_64", "cranelift", "fuel"),
        udf_precompile.ArtifactSpec("x86_64", "cranelift", "epoch"),
    )
    return udf_bundle.bundle(
        udf_bundle.BundleOptions(module=module, specs=specs, artifacts_dir=tmp_path / "a")
    ).directory


def _still_serving(deployment: udf_host.Deployment) -> None:
    assert deployment.call_scalar("ok", 41) == 42


def test_an_infinite_loop_runs_out_of_fuel(adversarial: Path) -> None:
    deployment = udf_host.deploy(adversarial, udf_host.Limits(fuel=5_000_000))
    with pytest.raises(udf_host.LimitExceeded, match="CPU budget"):
        deployment.call_scalar("spin")
    _still_serving(deployment)
    assert "instance-discarded" in _kinds(deployment)


def test_an_infinite_loop_passes_its_deadline(adversarial: Path) -> None:
    deployment = udf_host.deploy(adversarial, udf_host.Limits(fuel=None, deadline_ms=50))
    try:
        assert deployment.tier == "cranelift (bundle artifact)"  # the epoch artifact
        with pytest.raises(udf_host.LimitExceeded, match="deadline"):
            deployment.call_scalar("spin")
        _still_serving(deployment)
    finally:
        deployment.close()


def test_a_memory_bomb_stops_at_the_memory_limit(adversarial: Path) -> None:
    deployment = udf_host.deploy(adversarial, udf_host.Limits(memory_bytes=8 * 2**20))
    with pytest.raises(udf_call.UdfCallError, match="memory limit 8 MiB"):
        deployment.call_scalar("bomb")
    _still_serving(deployment)


def test_deep_recursion_overflows_the_stack_not_the_host(adversarial: Path) -> None:
    deployment = udf_host.deploy(adversarial, udf_host.Limits(fuel=None))
    with pytest.raises(udf_host.LimitExceeded, match="stack"):
        deployment.call_scalar("deep", 0)
    _still_serving(deployment)


def test_a_result_buffer_out_of_guest_memory_is_an_error(adversarial: Path) -> None:
    deployment = udf_host.deploy(adversarial)
    with pytest.raises(udf_call.UdfCallError, match="out of its memory"):
        deployment.call_batch("liar", [pa.array([1, 2, 3], pa.int64())])
    _still_serving(deployment)


def test_a_huge_batch_is_refused_by_the_guests_allocator(tmp_path: Path) -> None:
    built = udf_build.build(
        udf_build.UdfBuildOptions(project=ROOT / "crates/udf/examples/hello", artifacts_dir=tmp_path)
    )
    made = udf_bundle.bundle(udf_bundle.BundleOptions(module=built.module, specs=(SPECS[0],), artifacts_dir=tmp_path))
    deployment = udf_host.deploy(made.directory, udf_host.Limits(memory_bytes=4 * 2**20))
    with pytest.raises(udf_call.UdfCallError, match="could not allocate"):
        deployment.call_batch("add_one", [pa.array(range(2_000_000), pa.int64())])
    assert deployment.call_batch("add_one", [pa.array([1, 2], pa.int64())]).values.to_pylist() == [2, 3]
