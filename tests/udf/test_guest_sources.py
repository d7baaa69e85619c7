"""The guest SDKs' examples (udf/c, udf/go) without a wasm runtime: their manifests follow section 2
of docs/udf-abi.md and agree with each other and with their sources, and, when clang-22 / Go are
installed, the compiled modules have the exports, imports and sections the READMEs promise (read
with the pure-Python wasm reader; nothing is instantiated)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from toolchain.analysis import udf_abi, wasm_module

ROOT = Path(__file__).resolve().parents[2]
C_INCLUDE = ROOT / "udf" / "c" / "include"
C_EXAMPLE = ROOT / "udf" / "c" / "examples" / "scoring" / "scoring.c"
GO_MODULE = ROOT / "udf" / "go"
GO_EXAMPLE = GO_MODULE / "examples" / "scoring"
GO_MANIFEST = GO_EXAMPLE / "wasm-qe-udf.jsonl"

# What the Go runtime imports (udf/go/examples/scoring/README.md; the Go policy allows exactly these).
GO_RUNTIME_WASI = {
    "sched_yield",
    "proc_exit",
    "args_get",
    "args_sizes_get",
    "clock_time_get",
    "environ_get",
    "environ_sizes_get",
    "fd_write",
    "random_get",
    "poll_oneoff",
}
ABI_EXPORTS = {"memory", "wasmqe_abi_version", "wasmqe_alloc", "wasmqe_dealloc"}


def c_manifest_lines() -> list[str]:
    """The JSON of every WASMQE_MANIFEST(...) in the C example (one per line of the source)."""
    return re.findall(r"^WASMQE_MANIFEST\((.*)\);\s*$", C_EXAMPLE.read_text(), re.MULTILINE)


def go_manifest_lines() -> list[str]:
    return [line for line in GO_MANIFEST.read_text(encoding="utf-8").split("\n") if line.strip()]


def style_exports(records: list[dict]) -> set[str]:
    suffix = {"scalar": "", "document": "__doc", "batch": "__batch"}
    return {record["name"] + suffix[style] for record in records for style in record["styles"]}


def test_the_go_manifest_file_is_json_lines_with_exactly_the_abi_keys() -> None:
    payload = GO_MANIFEST.read_bytes()
    payload.decode("utf-8")
    assert payload.endswith(b"\n") and b"\r" not in payload
    lines = go_manifest_lines()
    assert len(lines) == 2
    for line in lines:
        record = json.loads(line)
        assert set(record) == udf_abi.RECORD_KEYS
        assert record["abi"] == udf_abi.ABI_VERSION
        assert isinstance(record["fallible"], bool) and isinstance(record["deterministic"], bool)
        for arg in record["args"]:
            assert set(arg) <= {"name", "type", "nullable"} and arg["type"] in udf_abi.TYPES
    specs = udf_abi.parse_manifest([payload])
    assert [spec.name for spec in specs] == ["custom_score", "levenshtein"]
    assert all(spec.scalar_problem() is None for spec in specs if "scalar" in spec.styles)


def test_the_c_and_go_examples_declare_the_same_functions() -> None:
    c_records = [json.loads(line) for line in c_manifest_lines()]
    go_records = [json.loads(line) for line in go_manifest_lines()]
    assert c_records == go_records
    custom_score, levenshtein = go_records
    assert [(a["name"], a["type"]) for a in custom_score["args"]] == [
        ("doc_score", "f64"),
        ("boost", "f64"),
        ("recency_days", "i32"),
    ]
    assert custom_score["returns"] == {"type": "f64"} and custom_score["styles"] == ["scalar", "document", "batch"]
    assert [(a["name"], a["type"]) for a in levenshtein["args"]] == [("a", "string"), ("b", "string")]
    assert levenshtein["returns"] == {"type": "i64"} and levenshtein["styles"] == ["document", "batch"]


def test_every_listed_style_is_exported_by_the_sources_and_nothing_else() -> None:
    expected = style_exports([json.loads(line) for line in go_manifest_lines()])
    c_exports = set(re.findall(r"^WASMQE_EXPORT\((\w+)\)", C_EXAMPLE.read_text(), re.MULTILINE))
    go_exports = set(re.findall(r"^//go:wasmexport (\w+)", (GO_EXAMPLE / "main.go").read_text(), re.MULTILINE))
    assert c_exports == expected
    assert go_exports == expected


def test_the_c_header_needs_no_libc() -> None:
    header = (C_INCLUDE / "wasm_qe_udf.h").read_text()
    assert not re.search(r"^\s*#\s*include", header, re.MULTILINE)
    assert ".custom_section.wasm-qe-udf" in header


def _clang() -> str | None:
    return shutil.which("clang-22")


@pytest.mark.skipif(_clang() is None, reason="clang-22 (with lld-22) is not installed")
def test_the_c_example_compiles_to_the_module_its_readme_describes(tmp_path: Path) -> None:
    output = tmp_path / "scoring.wasm"
    subprocess.run(
        [
            _clang() or "clang-22",
            "--target=wasm32",
            "-nostdlib",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{C_INCLUDE}",
            "-fuse-ld=lld",
            "-Wl,--no-entry",
            "-Wl,--initial-memory=131072",
            "-Wl,--max-memory=268435456",
            "-o",
            str(output),
            str(C_EXAMPLE),
        ],
        check=True,
    )
    module = wasm_module.parse(output)
    records = [json.loads(line) for line in c_manifest_lines()]
    assert {e.name for e in module.exports} == ABI_EXPORTS | style_exports(records)
    assert {(i.module, i.name) for i in module.imports} == {
        ("wasmqe_doc", "get_f64"),
        ("wasmqe_doc", "get_i64"),
        ("wasmqe_doc", "get_string"),
    }
    assert "start" not in [s.name for s in module.sections]
    # The macro's section is exactly the JSON lines, each ending in "\n": no NUL, no padding.
    (payload,) = module.custom_sections(udf_abi.MANIFEST_SECTION)
    assert payload == "".join(line + "\n" for line in c_manifest_lines()).encode()
    assert payload == GO_MANIFEST.read_bytes()


def _go() -> str | None:
    found = shutil.which("go") or "/usr/local/go/bin/go"
    return found if Path(found).is_file() else None


@pytest.mark.skipif(_go() is None, reason="no Go toolchain")
def test_the_go_example_is_a_reactor_with_only_the_runtime_wasi_imports(tmp_path: Path) -> None:
    output = tmp_path / "scoring.wasm"
    env = {
        **os.environ,
        "GOOS": "wasip1",
        "GOARCH": "wasm",
        "CGO_ENABLED": "0",
        "GOCACHE": str(tmp_path / "gocache"),
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-trimpath -buildvcs=false",
    }
    subprocess.run(
        [_go() or "go", "build", "-buildmode=c-shared", "-o", str(output), "./examples/scoring"],
        cwd=GO_MODULE,
        env=env,
        check=True,
    )
    module = wasm_module.parse(output)
    records = [json.loads(line) for line in go_manifest_lines()]
    assert {e.name for e in module.exports} == ABI_EXPORTS | style_exports(records) | {"_initialize"}
    imports = {(i.module, i.name) for i in module.imports}
    assert imports == {("wasi_snapshot_preview1", name) for name in GO_RUNTIME_WASI} | {
        ("wasmqe_doc", "get_f64"),
        ("wasmqe_doc", "get_i64"),
        ("wasmqe_doc", "get_string"),
    }
    assert "start" not in [s.name for s in module.sections]
    assert module.custom_sections(udf_abi.MANIFEST_SECTION) == []  # `udf build` appends it
