"""`release` on the real built engine: what is in the tarball and the wheel, that the checksums
verify (and fail on a corrupted file), the SBOM, atomic and idempotent publishing, and that the
packaging gives the same bytes from another directory."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tarfile
import zipfile

import pytest

from tests.conftest import ENGINE_MANIFEST, REPO
from tests.unit.test_release import cyclonedx_errors
from toolchain.core.errors import ToolchainError
from toolchain.release import artifacts as release
from toolchain.release import reproduce
from toolchain.tools import patched_crates

pytestmark = pytest.mark.integration

# The glue, and the crate's own JS modules (js-files: fetch_query_ipc.js, the worker API
# async_engine.js and its worker engine_worker.js, the C Data Interface reader ffi_reader.js, with
# their .d.ts).
SHIPPED = [
    "datafusion_wasm_bg.wasm",
    "datafusion_wasm.js",
    "datafusion_wasm.d.ts",
    "datafusion_wasm_bg.wasm.d.ts",
    "fetch_query_ipc.js",
    "fetch_query_ipc.d.ts",
    "async_engine.js",
    "async_engine.d.ts",
    "engine_worker.js",
    "ffi_reader.js",
    "ffi_reader.d.ts",
]


def test_release_directory_has_every_artifact_and_verifies(engine_release):
    names = sorted(p.name for p in engine_release.directory.iterdir())
    assert names == sorted(
        [
            "SHA256SUMS",
            "build-info.json",
            "datafusion-wasm-0.1.0.cdx.json",
            "datafusion-wasm-0.1.0.tgz",
            "datafusion_wasm-0.1.0-py3-none-any.whl",
        ]
    )
    assert release.verify_release(engine_release.directory) == []
    assert release.run_sha256sum_check(engine_release.directory).returncode == 0
    assert not list(engine_release.directory.parent.glob(".*"))  # no staging left behind


def test_a_corrupted_copy_of_the_release_fails_verification(engine_release, tmp_path):
    copy = shutil.copytree(engine_release.directory, tmp_path / "copy")
    wheel = next(copy.glob("*.whl"))
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    problems = release.verify_release(copy)
    assert any(p.startswith(f"{wheel.name}: checksum mismatch") for p in problems)
    assert release.run_sha256sum_check(copy).returncode != 0


def test_npm_tarball_is_the_built_package(engine_release, built_engine):
    with tarfile.open(engine_release.files["npm"]) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert sorted(members) == sorted(f"package/{n}" for n in [*SHIPPED, "package.json"])
        assert {m.mode for m in members.values()} == {0o644}
        manifest = json.load(archive.extractfile("package/package.json"))
        for name in SHIPPED:
            assert archive.extractfile(f"package/{name}").read() == (built_engine.package_dir / name).read_bytes()
    assert (manifest["name"], manifest["version"], manifest["type"]) == ("datafusion-wasm", "0.1.0", "module")
    assert manifest["exports"]["."]["types"] == "./datafusion_wasm.d.ts"
    assert set(release.REQUIRED_PACKAGE_FIELDS) <= set(manifest)


def test_wheel_carries_the_same_files_and_the_api(engine_release, built_engine):
    with zipfile.ZipFile(engine_release.files["wheel"]) as archive:
        names = archive.namelist()
        for name in SHIPPED:
            assert archive.read(f"datafusion_wasm/dist/{name}") == (built_engine.package_dir / name).read_bytes()
        assert "datafusion_wasm/__init__.py" in names and "datafusion_wasm/__main__.py" in names
        assert "def wasm_path()" in archive.read("datafusion_wasm/__init__.py").decode()
    assert release.verify_wheel(engine_release.files["wheel"]) == []


def test_sbom_lists_the_wasm32_crates_and_the_shipped_packages(engine_release):
    bom = json.loads(engine_release.files["sbom"].read_text())
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    components = {c["name"]: c for c in bom["components"]}
    assert components["datafusion"]["version"].startswith("55.")
    assert components["datafusion"]["purl"] == f"pkg:cargo/datafusion@{components['datafusion']['version']}"
    assert components["datafusion"]["hashes"][0]["alg"] == "SHA-256"
    assert "Apache-2.0" in components["datafusion"]["licenses"][0]["expression"]
    # The patched arrow-ipc is crates.io's with crates/patches' patch applied, and says so: the ancestor with its
    # .crate's sha256 (patches.toml), the diff itself.
    [spec] = [s for s in patched_crates.load(REPO / "crates") if s.name == "arrow-ipc"]
    pedigree = components["arrow-ipc"]["pedigree"]
    assert pedigree["ancestors"][0]["hashes"] == [{"alg": "SHA-256", "content": spec.crate_sha256}]
    assert pedigree["patches"][0]["type"] == "unofficial"
    assert pedigree["patches"][0]["diff"]["url"] == f"crates/patches/{spec.patch_path.name}"
    assert pedigree["patches"][0]["diff"]["text"]["content"] == spec.patch_path.read_text()
    assert "crates/patches/arrow-ipc" in pedigree["notes"] and spec.patch_sha256 in pedigree["notes"]
    # Host-only crates (proc-macros, build scripts) are not in the module, so not in the SBOM.
    assert "wasm-bindgen-macro" not in components and "zstd-sys" not in components
    sums = dict(line.split(" *")[::-1] for line in engine_release.files["sums"].read_text().splitlines())
    purls = {c["purl"]: c for c in bom["components"] if "purl" in c}
    assert purls["pkg:npm/datafusion-wasm@0.1.0"]["hashes"][0]["content"] == sums["datafusion-wasm-0.1.0.tgz"]
    assert (
        purls["pkg:pypi/datafusion-wasm@0.1.0"]["hashes"][0]["content"]
        == sums["datafusion_wasm-0.1.0-py3-none-any.whl"]
    )
    assert len(bom["components"]) > 150
    assert cyclonedx_errors(bom) is None


def test_build_info_records_tools_and_release(engine_release):
    info = json.loads(engine_release.files["build-info"].read_text())
    assert info["git_commit"] and info["rustc"]["version"].startswith("rustc ")
    assert info["wasm_bindgen"]["provider"] and info["wasm_opt"]["provider"]
    assert info["rustc"]["path_remapping"][0] == "-Ztrim-paths"
    assert info["crate"]["manifest"] == "crates/datafusion-wasm/Cargo.toml"  # no machine path
    assert info["release"]["source_date_epoch"] > 0 and info["release"]["npm"]


def test_releasing_again_is_a_no_op_and_different_bytes_are_refused(engine_release, built_engine, tmp_path):
    request = release.ReleaseRequest(
        package_dir=built_engine.package_dir,
        manifest_path=ENGINE_MANIFEST,
        release_root=engine_release.directory.parent,
    )
    assert release.make_release(request).unchanged
    # Same version, different bytes (another SOURCE_DATE_EPOCH changes the wheel): refused.
    with pytest.raises(ToolchainError, match="already exists with different content"):
        release.make_release(dataclasses.replace(request, source_date_epoch=86400 * 365))
    assert release.verify_release(engine_release.directory) == []


def test_packaging_elsewhere_gives_the_same_bytes(engine_release, built_engine, tmp_path):
    """The packaging half of reproducibility: the same build, copied to another path, packs identically."""
    moved = shutil.copytree(built_engine.package_dir, tmp_path / "elsewhere" / "datafusion-wasm")
    other = release.make_release(
        release.ReleaseRequest(package_dir=moved, manifest_path=ENGINE_MANIFEST, release_root=tmp_path / "release-b")
    )
    names = sorted(p.name for p in engine_release.directory.iterdir())
    assert reproduce.compare_trees(engine_release.directory, other.directory, names) == []
