"""`udf precompile` and `udf bundle` on a hand-written module: the cache, its key, what a corrupt or
incompatible entry does, cross-compiled headers, loading artifacts without compiling, reproducible
bundles, and bundles that were tampered with.

The wasmtime CLI (all-arch) is the toolchain's own cached install (a `cargo install` the first
time, about 5 minutes on 2 cores); the artifact cache of each test is a fresh directory."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.udf.wat_modules import make
from toolchain.analysis import cwasm
from toolchain.core.errors import ToolchainError
from toolchain.pipeline import udf_bundle, udf_call, udf_precompile
from toolchain.tools import wasmtime as wt
from toolchain.tools import wasmtime_cli

HOST_ARCH = wt.host_target().split("-")[0]


@pytest.fixture(scope="module")
def cli() -> wasmtime_cli.WasmtimeCli:
    return wasmtime_cli.ensure(install_missing=True)


@pytest.fixture
def artifact_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "precompiled-cache"
    monkeypatch.setattr(udf_precompile, "cache_dir", lambda: directory)
    return directory


@pytest.fixture
def module(tmp_path: Path) -> Path:
    return make(tmp_path)


def test_the_matrix_covers_targets_strategies_and_profiles() -> None:
    specs = udf_precompile.matrix()
    names = {s.file_name for s in specs}
    assert "aarch64-cranelift-plain.cwasm" in names and "x86_64-winch-fuel.cwasm" in names
    assert "pulley64-pulley-plain.cwasm" in names
    assert len(specs) == len(set(names)) == (2 * 2 + 1) * 2
    with pytest.raises(ToolchainError, match="unknown target"):
        udf_precompile.matrix(targets=("sparc",))


def test_cross_compiled_aarch64_artifact_targets_aarch64(cli, artifact_cache: Path, module: Path) -> None:
    [result] = udf_precompile.precompile(module, [udf_precompile.ArtifactSpec("aarch64", "cranelift", "plain")])
    header = cwasm.read_header(result.path.read_bytes())
    assert header.elf_machine == 183 and header.machine == "aarch64"
    assert header.triple == "aarch64-unknown-linux-gnu"
    assert header.version == wt.VERSION.split(".")[0]
    # and an x86_64 one is not
    [x86] = udf_precompile.precompile(module, [udf_precompile.ArtifactSpec("x86_64", "cranelift", "plain")])
    assert cwasm.read_header(x86.path.read_bytes()).elf_machine == 62


def test_wasmtime_py_refuses_a_foreign_target_instead_of_aborting() -> None:
    foreign = "aarch64-unknown-linux-gnu" if HOST_ARCH != "aarch64" else "x86_64-unknown-linux-gnu"
    with pytest.raises(ToolchainError, match="wasmtime CLI"):
        wt.make_config(wt.EngineSettings(target=foreign))


def test_every_loadable_artifact_deserializes_and_runs(cli, artifact_cache: Path, module: Path) -> None:
    specs = udf_precompile.matrix(targets=("x86_64", "aarch64", "host"), profiles=("plain", "fuel", "epoch"))
    results = udf_precompile.precompile(module, specs)
    loadable = [r for r in results if r.spec.loads_here()]
    assert {r.spec.strategy for r in loadable} == {"cranelift", "winch", "pulley"}
    assert {r.spec.target for r in loadable} == {HOST_ARCH, "host", "pulley64"}
    for result in loadable:
        loaded = udf_call.UdfModule.load(module, result.spec.host_settings(), artifact=result.path.read_bytes())
        instance = loaded.instantiate(fuel=1_000_000, epoch_deadline=1)
        assert instance.call_scalar("add_one", 41) == 42, result.spec.file_name


def test_an_artifact_does_not_load_into_an_engine_with_other_settings(cli, artifact_cache: Path, module: Path) -> None:
    [plain] = udf_precompile.precompile(module, [udf_precompile.ArtifactSpec(HOST_ARCH, "cranelift", "plain")])
    wasmtime = wt.module_api()
    with pytest.raises(wasmtime.WasmtimeError, match="fuel"):
        wt.deserialize(wt.EngineSettings(fuel=True), plain.path.read_bytes())
    with pytest.raises(wasmtime.WasmtimeError, match=r"Winch|GC"):  # a Winch engine has GC off
        wt.deserialize(wt.EngineSettings(strategy="winch"), plain.path.read_bytes())


def test_the_cache_hits_and_is_keyed_by_what_makes_an_artifact_loadable(
    cli, artifact_cache: Path, module: Path, tmp_path: Path
) -> None:
    spec = udf_precompile.ArtifactSpec("x86_64", "cranelift", "plain")
    [first] = udf_precompile.precompile(module, [spec])
    [again] = udf_precompile.precompile(module, [spec])
    assert not first.cache_hit and again.cache_hit
    assert again.sha256 == first.sha256 and again.key == first.key
    sha = hashlib.sha256(module.read_bytes()).hexdigest()
    keys = {
        udf_precompile.artifact_key(sha, s)
        for s in [
            spec,
            udf_precompile.ArtifactSpec("x86_64", "cranelift", "fuel"),
            udf_precompile.ArtifactSpec("x86_64", "cranelift", "epoch"),
            udf_precompile.ArtifactSpec("x86_64", "winch", "plain"),
            udf_precompile.ArtifactSpec("aarch64", "cranelift", "plain"),
            udf_precompile.ArtifactSpec("host", "cranelift", "plain"),
        ]
    }
    assert len(keys) == 6
    other = make(tmp_path, name="other")  # built again from the same WAT: the same bytes, the same key
    assert udf_precompile.artifact_key(hashlib.sha256(other.read_bytes()).hexdigest(), spec) == first.key


def test_a_corrupt_entry_is_reported_and_rebuilt(cli, artifact_cache: Path, module: Path, capsys) -> None:
    spec = udf_precompile.ArtifactSpec("x86_64", "cranelift", "plain")
    [first] = udf_precompile.precompile(module, [spec])
    data = bytearray(first.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    first.path.write_bytes(bytes(data))
    [rebuilt] = udf_precompile.precompile(module, [spec])
    assert not rebuilt.cache_hit and rebuilt.sha256 == first.sha256
    assert "sha256 does not match" in capsys.readouterr().err


def test_an_entry_from_another_wasmtime_is_rebuilt(cli, artifact_cache: Path, module: Path, capsys) -> None:
    spec = udf_precompile.ArtifactSpec("x86_64", "cranelift", "plain")
    [first] = udf_precompile.precompile(module, [spec])
    record_path = first.path.with_name("entry.json")
    record = json.loads(record_path.read_text())
    record["wasmtime"] = "49.0.0"
    record_path.write_text(json.dumps(record))
    [rebuilt] = udf_precompile.precompile(module, [spec])
    assert not rebuilt.cache_hit
    assert "wasmtime 49.0.0" in capsys.readouterr().err


def test_an_entry_that_is_not_an_artifact_is_rebuilt(cli, artifact_cache: Path, module: Path, capsys) -> None:
    spec = udf_precompile.ArtifactSpec("aarch64", "cranelift", "plain")
    [first] = udf_precompile.precompile(module, [spec])
    junk = b"#!/bin/sh\necho not an artifact\n"
    first.path.write_bytes(junk)
    record_path = first.path.with_name("entry.json")
    record = json.loads(record_path.read_text())
    record["sha256"] = hashlib.sha256(junk).hexdigest()  # even with a matching checksum
    record_path.write_text(json.dumps(record))
    [rebuilt] = udf_precompile.precompile(module, [spec])
    assert not rebuilt.cache_hit and rebuilt.header.machine == "aarch64"
    assert "no ELF header" in capsys.readouterr().err


# ---------------------------------------------------------------- bundles


SMALL = (
    udf_precompile.ArtifactSpec("x86_64", "cranelift", "plain"),
    udf_precompile.ArtifactSpec("aarch64", "cranelift", "plain"),
    udf_precompile.ArtifactSpec("x86_64", "winch", "fuel"),
    udf_precompile.ArtifactSpec("pulley64", "pulley", "plain"),
)


def _bundle(module: Path, artifacts: Path) -> udf_bundle.Bundle:
    return udf_bundle.bundle(udf_bundle.BundleOptions(module=module, specs=SMALL, artifacts_dir=artifacts, name="m"))


def test_a_bundle_verifies_and_its_artifacts_load_without_compiling(
    cli, artifact_cache: Path, module: Path, tmp_path: Path
) -> None:
    made = _bundle(module, tmp_path / "artifacts")
    assert udf_bundle.verify(made.directory) == []
    manifest = json.loads((made.directory / "manifest.json").read_text())
    assert manifest["abi"] == "1.0" and [f["name"] for f in manifest["functions"]] == ["add_one"]
    assert {e["target"] for e in manifest["precompiled"]} == {
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "pulley64-unknown-unknown-elf",
    }
    assert all(e["engine"]["wasmtime"] == wt.VERSION for e in manifest["precompiled"])
    loadable = udf_bundle.loadable_here(manifest)
    assert len(loadable) == 3
    for entry in loadable:
        # Deserialize only: Module.deserialize never compiles; an artifact made for other settings raises.
        loaded = udf_call.UdfModule.load(
            made.directory / manifest["module"]["file"],
            udf_bundle.engine_settings(entry),
            artifact=(made.directory / entry["file"]).read_bytes(),
        )
        instance = loaded.instantiate(fuel=10_000)
        assert instance.call_scalar("add_one", 1) == 2


def test_bundles_are_byte_reproducible(cli, module: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two caches, so the second bundle compiles everything again.
    monkeypatch.setattr(udf_precompile, "cache_dir", lambda: tmp_path / "cache-a")
    first = _bundle(module, tmp_path / "a")
    monkeypatch.setattr(udf_precompile, "cache_dir", lambda: tmp_path / "cache-b")
    second = _bundle(module, tmp_path / "b")
    assert not any(p.cache_hit for p in second.precompiled)
    assert first.archive.read_bytes() == second.archive.read_bytes()
    assert (first.directory / "SHA256SUMS").read_text() == (second.directory / "SHA256SUMS").read_text()


def test_a_tampered_bundle_does_not_verify(cli, artifact_cache: Path, module: Path, tmp_path: Path) -> None:
    made = _bundle(module, tmp_path / "artifacts")
    copy = tmp_path / "copy"
    shutil.copytree(made.directory, copy)
    artifact = copy / "precompiled" / "x86_64-cranelift-plain.cwasm"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    problems = udf_bundle.verify(copy)
    assert any("x86_64-cranelift-plain.cwasm" in p and "checksum mismatch" in p for p in problems), problems
    (copy / "m.wasm").unlink()
    assert any("m.wasm" in p and "missing" in p for p in udf_bundle.verify(copy))


def test_an_invalid_module_is_not_bundled(cli, artifact_cache: Path, tmp_path: Path) -> None:
    broken = make(tmp_path, manifest=b"<none>", name="broken")
    with pytest.raises(ToolchainError, match="rule"):
        udf_bundle.bundle(udf_bundle.BundleOptions(module=broken, specs=SMALL, artifacts_dir=tmp_path / "artifacts"))
    assert not (tmp_path / "artifacts" / "udf" / "broken" / "broken.udfbundle").exists()


def test_the_commands_build_validate_and_bundle_every_example(cli, tmp_path: Path) -> None:
    """The issue's path from a fresh clone: `udf build`, `udf validate`, `udf bundle` with no PATH."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    artifacts = ["--artifacts-dir", str(tmp_path / "artifacts")]

    def run(*argv: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "toolchain", "udf", *argv, *artifacts], cwd=root, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result

    built = run("build").stdout
    assert {"(rust):", "(c):", "(go):"} <= {word for line in built.splitlines() for word in line.split()}
    validated = run("validate").stdout
    assert validated.count("check udf: ok") == 5
    bundled = run("bundle", "--strategies", "cranelift,pulley", "--profiles", "plain").stdout
    directories = [Path(line.split(" (")[0]) for line in bundled.splitlines() if ".udfbundle" in line]
    assert len(directories) == 5
    for directory in directories:
        directory = directory if directory.is_absolute() else root / directory
        assert udf_bundle.verify(directory) == []
        manifest = json.loads((directory / "manifest.json").read_text())
        assert {e["file"] for e in manifest["precompiled"]} == {
            "precompiled/x86_64-cranelift-plain.cwasm",
            "precompiled/aarch64-cranelift-plain.cwasm",
            "precompiled/pulley64-pulley-plain.cwasm",
        }
        for entry in udf_bundle.loadable_here(manifest):
            wt.deserialize(udf_bundle.engine_settings(entry), (directory / entry["file"]).read_bytes())
