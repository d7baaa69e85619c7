"""The real pipeline on the bundled engine and on a user's crate: real cargo, wasm-bindgen, wasm-opt."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import REPO
from toolchain.core import cache
from toolchain.core.errors import ToolchainError
from toolchain.pipeline import build as build_module

pytestmark = pytest.mark.integration

WASM_MAGIC = b"\0asm\x01\0\0\0"


def test_engine_package_has_every_artifact(built_engine):
    package = built_engine.package_dir
    names = {p.name for p in package.iterdir()}
    assert {
        "datafusion_wasm_bg.wasm",
        "datafusion_wasm.js",
        "datafusion_wasm.d.ts",
        "datafusion_wasm_bg.wasm.d.ts",
        "package.json",
        "size-report.json",
        "build-info.json",
    } <= names
    assert (package / "datafusion_wasm_bg.wasm").read_bytes()[:8] == WASM_MAGIC


def test_typescript_declarations_cover_the_engine_api(built_engine):
    dts = (built_engine.package_dir / "datafusion_wasm.d.ts").read_text()
    for method in (
        "register_table(",
        "execute_sql(",
        "execute_and_register(",
        "read_table_ipc(",
        "deregister_table(",
        "reset(",
        "table_names(",
    ):
        assert method in dts, method
    assert "export class WasmQueryEngine" in dts


def test_size_report_matches_the_files(built_engine):
    report = json.loads((built_engine.package_dir / "size-report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["cargo", "wasm-bindgen", "wasm-opt", "strip"]
    assert report["final"] == {k: report["stages"][-1][k] for k in ("raw", "gzip", "brotli")}
    final_wasm = built_engine.package_dir / "datafusion_wasm_bg.wasm"
    assert report["final"]["raw"] == final_wasm.stat().st_size
    for stage in report["stages"]:
        assert 0 < stage["brotli"] < stage["gzip"] < stage["raw"]
    by_name = {s["name"]: s for s in report["stages"]}
    assert by_name["wasm-opt"]["raw"] < by_name["wasm-bindgen"]["raw"]
    assert by_name["strip"]["raw"] < by_name["wasm-opt"]["raw"]  # the names section went


def test_build_info_records_pinned_tool_versions(built_engine):
    info = json.loads((built_engine.package_dir / "build-info.json").read_text())
    assert info["wasm_bindgen"]["version"] == info["locked_versions"]["wasm-bindgen"]
    assert info["rustc"]["version"].startswith("rustc ")
    assert "--enable-bulk-memory" in info["wasm_opt"]["flags"]
    assert info["locked_versions"]["datafusion"].startswith("55.")


def test_named_modules_are_kept_for_the_checks_and_the_shipped_one_is_stripped(built_engine):
    from toolchain.analysis import wasm_module

    for stage in ("wasm-bindgen", "wasm-opt"):
        assert wasm_module.parse(built_engine.layout.stage_module(stage)).names_present, stage
    shipped = wasm_module.parse(built_engine.package_dir / "datafusion_wasm_bg.wasm")
    assert not shipped.names_present
    optimised = wasm_module.parse(built_engine.layout.stage_module("wasm-opt"))
    assert shipped.section_sizes()["code"] == optimised.section_sizes()["code"]


def test_the_build_record_names_every_stage_and_feeds_the_package(built_engine):
    from toolchain.core.record import BuildRecord

    layout = built_engine.layout
    record = BuildRecord.load(layout)
    assert [s.stage for s in record.stages] == ["cargo", "wasm-bindgen", "wasm-opt", "final"]
    for stage in record.stages:
        assert cache.file_sha256(record.module(layout, stage.stage)) == stage.sha256, stage.stage
    assert record.module(layout, "final") == layout.stage_module("final")
    assert json.loads(layout.build_info.read_text()) == record.build_info
    assert json.loads(layout.size_report.read_text()) == record.size_report
    assert record.crate.manifest == "crates/datafusion-wasm/Cargo.toml"  # no machine path


def test_rebuild_with_nothing_changed_reuses_every_stage(built_engine):
    again = build_module.build(
        build_module.BuildOptions(
            manifest_path=REPO / "crates/datafusion-wasm/Cargo.toml", artifacts_dir=built_engine.package_dir.parent
        )
    )
    assert again.reused_stages == ["wasm-bindgen", "wasm-opt"]
    assert again.report == built_engine.report


@pytest.fixture(scope="module")
def user_crate(tmp_path_factory):
    crate = tmp_path_factory.mktemp("user") / "hello-engine"
    shutil.copytree(REPO / "tests" / "fixtures" / "hello-engine", crate)
    # No target directory of its own: the shared one (config.default_target_dir) already holds std and
    # wasm-bindgen built for hello-engine's profiles, so no run of this module compiles them again.
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CARGO_TARGET_DIR", raising=False)
        yield crate


def test_a_users_crate_builds_with_another_profile_and_no_wasm_opt(user_crate, tmp_path):
    result = build_module.build(
        build_module.BuildOptions(
            manifest_path=user_crate / "Cargo.toml",
            artifacts_dir=tmp_path,
            profile="small",
            run_wasm_opt=False,
        )
    )
    assert result.package_dir == tmp_path / "hello-engine"
    assert [s["name"] for s in result.report["stages"]] == ["cargo", "wasm-bindgen", "strip"]
    assert "word_count" in (result.package_dir / "hello_engine.d.ts").read_text()
    assert json.loads((result.package_dir / "package.json").read_text())["version"] == "0.3.0"
    assert result.build_info["profile"] == "small"


def test_a_rust_compile_error_fails_the_build_clearly_and_publishes_nothing(user_crate, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(user_crate, broken)
    (broken / "src" / "lib.rs").write_text('pub fn oops() -> u32 { "not a number" }\n')
    with pytest.raises(ToolchainError, match="cargo build for wasm32-unknown-unknown failed"):
        build_module.build(
            build_module.BuildOptions(
                manifest_path=broken / "Cargo.toml", artifacts_dir=tmp_path / "artifacts", run_wasm_opt=False
            )
        )
    assert not (tmp_path / "artifacts" / "hello-engine").exists()


def test_an_outdated_lock_file_is_refused(user_crate, tmp_path):
    crate = tmp_path / "outdated"
    shutil.copytree(user_crate, crate)
    manifest = crate / "Cargo.toml"
    manifest.write_text(
        manifest.read_text().replace('wasm-bindgen = "=0.2.130"', 'wasm-bindgen = "=0.2.130"\nitoa = "1"')
    )
    with pytest.raises(ToolchainError, match="cargo update"):
        build_module.build(
            build_module.BuildOptions(manifest_path=manifest, artifacts_dir=tmp_path / "a", run_wasm_opt=False)
        )
    assert cache.read_json(tmp_path / "a" / "hello-engine" / "size-report.json") is None


def _toolchain(args: list[str], cwd=REPO, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("CARGO_TARGET_DIR", "CI")}
    return subprocess.run(
        [sys.executable, "-m", "toolchain", *args], cwd=cwd, env={**environ, **env}, capture_output=True, text=True
    )


def _renamed_copy(destination, name: str):
    shutil.copytree(REPO / "tests" / "fixtures" / "hello-engine", destination, ignore=shutil.ignore_patterns("tests"))
    for file in ("Cargo.toml", "Cargo.lock"):
        path = destination / file
        path.write_text(path.read_text().replace('name = "hello-engine"', f'name = "{name}"'))
    return destination


def test_a_second_crate_reuses_the_shared_std_build_and_lands_in_its_own_tree(tmp_path):
    """Relative paths are the caller's, a crate directory is a manifest path, the package goes to the
    crate's target/wasm-qe/, and a second crate with the same flags compiles only itself: std and
    wasm-bindgen come from the shared target directory."""
    first, second = _renamed_copy(tmp_path / "first", "first-crate"), _renamed_copy(tmp_path / "second", "second-crate")
    # New source for the second crate: a copy with the same contents and times as an earlier run's would
    # be fresh to cargo in the shared directory (its unit hash is path-independent), and compile nothing.
    with open(second / "src" / "lib.rs", "a") as source:
        source.write(f"// {uuid.uuid4()}\n")
    built = _toolchain(["build", "--manifest-path", "first", "--no-verify"], WASM_QE_CALLER_DIR=str(tmp_path))
    assert built.returncode == 0, built.stderr[-3000:]
    assert (first / "target" / "wasm-qe" / "first-crate" / "first_crate_bg.wasm").is_file()
    again = _toolchain(["build", "--manifest-path", str(second), "--no-verify"])
    assert again.returncode == 0, again.stderr[-3000:]
    compiled = re.findall(r"Compiling (\S+) v", again.stderr)
    assert compiled == ["second-crate"], f"expected only the crate itself to compile, cargo compiled {compiled}"
    assert not (REPO / "artifacts" / "second-crate").exists()


def test_a_missing_lock_file_is_generated_only_when_asked_and_never_in_ci(tmp_path):
    crate = _renamed_copy(tmp_path / "unlocked", "unlocked-crate")
    (crate / "Cargo.lock").unlink()
    refused = _toolchain(["build", "--manifest-path", str(crate), "--no-wasm-opt", "--no-verify"])
    assert refused.returncode != 0 and "no Cargo.lock" in refused.stderr and "--lock" in refused.stderr
    in_ci = _toolchain(["build", "--manifest-path", str(crate), "--lock"], CI="true")
    assert in_ci.returncode != 0 and "CI must build from the committed one" in in_ci.stderr
    assert not (crate / "Cargo.lock").exists()
    locked = _toolchain(["build", "--manifest-path", str(crate), "--lock", "--no-wasm-opt", "--no-verify"])
    assert locked.returncode == 0, locked.stderr[-3000:]
    assert "generating one" in locked.stderr and (crate / "Cargo.lock").is_file()
    package = crate / "target" / "wasm-qe" / "unlocked-crate"
    assert oct(package.stat().st_mode & 0o777) == "0o755"
