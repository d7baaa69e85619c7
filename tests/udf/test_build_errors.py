"""`udf build` fed broken projects: each fails with what happened and what to do, and leaves no
module behind (the previous good one, if any, stays)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.udf.wat_modules import RECORD
from toolchain.analysis import udf_abi, wasm_module
from toolchain.core.errors import CheckFailed, StageFailed, ToolchainError
from toolchain.pipeline import udf_build

ROOT = Path(__file__).resolve().parents[2]
HEADER_DIR = ROOT / "udf" / "c" / "include"

C_WITHOUT_MANIFEST = r"""
#define WASMQE_UDF_IMPLEMENTATION
#include "wasm_qe_udf.h"

WASMQE_EXPORT(add_one) long long add_one(long long x) { return x + 1; }
"""


def _c_project(tmp_path: Path, source: str, name: str = "proj") -> Path:
    project = tmp_path / name
    project.mkdir()
    (project / "udf.c").write_text(source)
    return project


def _build(project: Path, tmp_path: Path, **kwargs) -> udf_build.UdfBuildResult:
    return udf_build.build(udf_build.UdfBuildOptions(project=project, artifacts_dir=tmp_path / "artifacts", **kwargs))


def test_a_path_that_is_not_a_project(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ToolchainError, match="not a UDF project") as info:
        _build(tmp_path, tmp_path)
    assert "Cargo.toml" in str(info.value) and ".c" in str(info.value)
    with pytest.raises(ToolchainError, match="no UDF project at"):
        _build(tmp_path / "missing", tmp_path)


def test_a_c_compile_error_is_a_failed_stage(tmp_path: Path) -> None:
    project = _c_project(tmp_path, "int broken( { return 1; }\n")
    with pytest.raises(StageFailed, match="clang"):
        _build(project, tmp_path)
    assert not (tmp_path / "artifacts" / "udf" / "proj" / "proj.wasm").exists()


def test_a_module_that_breaks_the_abi_is_not_written(tmp_path: Path) -> None:
    # Compiles and links, but declares no manifest: the build validates and refuses it.
    project = _c_project(
        tmp_path, C_WITHOUT_MANIFEST.replace("WASMQE_EXPORT(add_one) long long add_one", "long long add_one")
    )
    with pytest.raises(CheckFailed, match="rule"):
        _build(project, tmp_path)
    assert not (tmp_path / "artifacts" / "udf" / "proj" / "proj.wasm").exists()
    assert not list((tmp_path / "artifacts" / "udf" / "proj").glob("*.staging"))


def test_a_manifest_file_is_appended_for_a_language_without_sections(tmp_path: Path) -> None:
    project = _c_project(tmp_path, C_WITHOUT_MANIFEST)
    record = {**RECORD, "styles": ["scalar"]}
    (project / udf_build.MANIFEST_FILE).write_text(json.dumps(record) + "\n")
    result = _build(project, tmp_path)
    assert [s.name for s in result.record.stages][:2] == ["compile", "manifest"]
    [payload] = wasm_module.parse(result.module).custom_sections(udf_abi.MANIFEST_SECTION)
    assert json.loads(payload) == record


def test_a_broken_manifest_file_names_its_line(tmp_path: Path) -> None:
    project = _c_project(tmp_path, C_WITHOUT_MANIFEST)
    (project / udf_build.MANIFEST_FILE).write_text('{"abi": "1.0", "name": "add_one"}\n')
    with pytest.raises(ToolchainError, match="manifest line 1") as info:
        _build(project, tmp_path)
    assert "missing key" in str(info.value)


def test_two_manifests_are_refused(tmp_path: Path) -> None:
    project = tmp_path / "scoring"
    shutil.copytree(ROOT / "udf" / "c" / "examples" / "scoring", project)
    (project / udf_build.MANIFEST_FILE).write_text("\n")
    with pytest.raises(ToolchainError, match="keep one manifest"):
        _build(project, tmp_path)


def test_an_invalid_name(tmp_path: Path) -> None:
    project = _c_project(tmp_path, C_WITHOUT_MANIFEST)
    with pytest.raises(ToolchainError, match="not a valid module name"):
        _build(project, tmp_path, name="../escape")


def test_a_failed_rebuild_keeps_the_previous_module(tmp_path: Path) -> None:
    project = tmp_path / "scoring"
    shutil.copytree(ROOT / "udf" / "c" / "examples" / "scoring", project)
    good = _build(project, tmp_path)
    before = good.module.read_bytes()
    (project / "scoring.c").write_text((project / "scoring.c").read_text() + "\nthis is not C\n")
    with pytest.raises(StageFailed):
        _build(project, tmp_path)
    assert good.module.read_bytes() == before
