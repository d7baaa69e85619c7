"""`udf validate`: every rule of docs/udf-abi.md fed a module that breaks it, one at a time.

The base module (hand-written WAT, all three styles of one function) passes; each case changes one
thing and must be refused with exactly the rule it breaks, naming the subject and a fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.udf.wat_modules import ABI_VERSION, ALLOCATOR, FUNCTIONS, MEMORY, RECORD, make
from toolchain.analysis import udf_abi, udf_validate

ROOT = Path(__file__).resolve().parents[2]


def rules(path: Path, policy: Path | None = None) -> list[udf_validate.Problem]:
    return udf_validate.validate(path, policy).problems


def only_rule(path: Path, rule: str, subject_part: str, policy: Path | None = None) -> udf_validate.Problem:
    problems = rules(path, policy)
    assert problems, f"expected a [{rule}] problem, the module passed"
    assert {p.rule for p in problems} == {rule}, [f"[{p.rule}] {p.subject}: {p.problem}" for p in problems]
    match = [p for p in problems if subject_part in p.subject or subject_part in p.problem]
    assert match, [f"{p.subject}: {p.problem}" for p in problems]
    assert all(p.fix for p in problems)
    return match[0]


def test_the_base_module_passes(tmp_path: Path) -> None:
    validation = udf_validate.validate(make(tmp_path))
    assert validation.ok, validation.problems
    assert [f.name for f in validation.functions] == ["add_one"]
    assert validation.functions[0].styles == ("scalar", "document", "batch")


# ---------------------------------------------------------------- [abi-version]


def test_abi_version_export_missing(tmp_path: Path) -> None:
    module = make(tmp_path, "\n".join([MEMORY, ALLOCATOR, FUNCTIONS]))
    only_rule(module, "abi-version", "wasmqe_abi_version")


def test_abi_version_export_of_the_wrong_type(tmp_path: Path) -> None:
    body = "\n".join([MEMORY, '(func (export "wasmqe_abi_version") (result i64) i64.const 1)', ALLOCATOR, FUNCTIONS])
    problem = only_rule(make(tmp_path, body), "abi-version", "wasmqe_abi_version")
    assert "() -> (i32)" in problem.problem


def test_a_future_abi_version_is_refused(tmp_path: Path) -> None:
    problem = only_rule(make(tmp_path, records=[{**RECORD, "abi": "2.0"}]), "abi-version", "add_one")
    assert "major version 2" in problem.problem


def test_a_newer_minor_is_refused(tmp_path: Path) -> None:
    only_rule(make(tmp_path, records=[{**RECORD, "abi": "1.7"}]), "abi-version", "newer")


# ---------------------------------------------------------------- [manifest]


def test_no_manifest(tmp_path: Path) -> None:
    only_rule(make(tmp_path, manifest=b"<none>"), "manifest", "no manifest")


def test_manifest_not_json(tmp_path: Path) -> None:
    problem = only_rule(make(tmp_path, manifest=b'{"abi": "1.0", "name": \n'), "manifest", "not JSON")
    assert "line 1" in problem.problem


def test_manifest_unknown_key(tmp_path: Path) -> None:
    only_rule(make(tmp_path, records=[{**RECORD, "volatile": True}]), "manifest", "volatile")


def test_manifest_missing_key(tmp_path: Path) -> None:
    record = {k: v for k, v in RECORD.items() if k != "deterministic"}
    only_rule(make(tmp_path, records=[record]), "manifest", "deterministic")


def test_manifest_unknown_type(tmp_path: Path) -> None:
    record = {**RECORD, "args": [{"name": "x", "type": "decimal"}]}
    problem = only_rule(make(tmp_path, records=[record]), "manifest", "decimal")
    assert "timestamp" in problem.fix  # it lists the types there are


def test_manifest_bad_function_name(tmp_path: Path) -> None:
    only_rule(make(tmp_path, records=[{**RECORD, "name": "Add One"}]), "manifest", "Add One")


def test_manifest_function_twice(tmp_path: Path) -> None:
    only_rule(make(tmp_path, records=[RECORD, RECORD]), "manifest", "more than once")


# ---------------------------------------------------------------- [signature]


def test_listed_style_not_exported(tmp_path: Path) -> None:
    functions = FUNCTIONS.replace('(func (export "add_one__batch") (param i32) (result i32) i32.const 1)', "")
    body = "\n".join([MEMORY, ABI_VERSION, ALLOCATOR, functions])
    only_rule(make(tmp_path, body), "signature", "add_one__batch")


def test_export_signature_disagrees_with_the_manifest(tmp_path: Path) -> None:
    record = {**RECORD, "args": [{"name": "x", "type": "f64"}]}  # the export takes an i64
    problem = only_rule(make(tmp_path, records=[record]), "signature", "add_one")
    assert "(f64) -> (i64)" in problem.problem


def test_scalar_style_for_a_string_function(tmp_path: Path) -> None:
    record = {**RECORD, "args": [{"name": "x", "type": "string"}]}
    problem = only_rule(make(tmp_path, records=[record]), "signature", "add_one")
    assert "no scalar wasm type" in problem.problem


def test_scalar_style_for_a_fallible_function(tmp_path: Path) -> None:
    only_rule(make(tmp_path, records=[{**RECORD, "fallible": True}]), "signature", "fallible")


def test_export_without_a_record(tmp_path: Path) -> None:
    body = "\n".join(
        [
            MEMORY,
            ABI_VERSION,
            ALLOCATOR,
            FUNCTIONS,
            '(func (export "other__doc") (param i32 i32) (result i32) i32.const 1)',
        ]
    )
    only_rule(make(tmp_path, body), "signature", "other__doc")


# ---------------------------------------------------------------- [allocator]


def test_allocator_missing(tmp_path: Path) -> None:
    allocator = ALLOCATOR.replace('(export "wasmqe_alloc")', "")
    only_rule(make(tmp_path, "\n".join([MEMORY, ABI_VERSION, allocator, FUNCTIONS])), "allocator", "wasmqe_alloc")


def test_dealloc_of_the_wrong_type(tmp_path: Path) -> None:
    allocator = ALLOCATOR.replace(
        '(func (export "wasmqe_dealloc") (param i32 i32 i32))', '(func (export "wasmqe_dealloc") (param i32))'
    )
    problem = only_rule(
        make(tmp_path, "\n".join([MEMORY, ABI_VERSION, allocator, FUNCTIONS])), "allocator", "wasmqe_dealloc"
    )
    assert "(i32, i32, i32) -> ()" in problem.problem


# ---------------------------------------------------------------- [memory] and [no-threads]


def test_memory_without_maximum(tmp_path: Path) -> None:
    body = "\n".join(['(memory (export "memory") 1)', ABI_VERSION, ALLOCATOR, FUNCTIONS])
    problem = only_rule(make(tmp_path, body), "memory", "no maximum")
    assert "--max-memory" in problem.fix


def test_memory_maximum_over_the_policy(tmp_path: Path) -> None:
    body = "\n".join(['(memory (export "memory") 1 8192)', ABI_VERSION, ALLOCATOR, FUNCTIONS])
    only_rule(make(tmp_path, body), "memory", "8192 pages")


def test_memory_exported_under_another_name(tmp_path: Path) -> None:
    body = "\n".join(['(memory (export "heap") 1 64)', ABI_VERSION, ALLOCATOR, FUNCTIONS])
    only_rule(make(tmp_path, body), "memory", "heap")


def test_imported_memory(tmp_path: Path) -> None:
    body = "\n".join(['(import "env" "memory" (memory 1 64))', ABI_VERSION, ALLOCATOR, FUNCTIONS])
    problems = rules(make(tmp_path, body))
    assert {p.rule for p in problems} == {"memory", "imports"}  # an import from env is also outside the host API


def test_shared_memory(tmp_path: Path) -> None:
    body = "\n".join(['(memory (export "memory") 1 64 shared)', ABI_VERSION, ALLOCATOR, FUNCTIONS])
    only_rule(make(tmp_path, body), "no-threads", "shared")


# ---------------------------------------------------------------- [no-start]


def test_start_function(tmp_path: Path) -> None:
    body = "\n".join([MEMORY, ABI_VERSION, ALLOCATOR, FUNCTIONS, "(func $init) (start $init)"])
    only_rule(make(tmp_path, body), "no-start", "start function")


# ---------------------------------------------------------------- [imports]


WASI_IMPORT = (
    '(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))'
)


def test_wasi_filesystem_import(tmp_path: Path) -> None:
    body = "\n".join([WASI_IMPORT, MEMORY, ABI_VERSION, ALLOCATOR, FUNCTIONS])
    problem = only_rule(make(tmp_path, body), "imports", "wasi_snapshot_preview1.path_open")
    assert "WASI" in problem.problem and "--policy" in problem.fix


def test_a_policy_can_allow_an_import(tmp_path: Path) -> None:
    body = "\n".join([WASI_IMPORT, MEMORY, ABI_VERSION, ALLOCATOR, FUNCTIONS])
    policy = tmp_path / "policy.toml"
    policy.write_text('allowed-imports = ["wasi_snapshot_preview1.path_open"]\n')
    assert rules(make(tmp_path, body), policy) == []


def test_unknown_host_function(tmp_path: Path) -> None:
    body = "\n".join(
        [
            '(import "wasmqe_doc" "get_everything" (func (param i32) (result i32)))',
            MEMORY,
            ABI_VERSION,
            ALLOCATOR,
            FUNCTIONS,
        ]
    )
    only_rule(make(tmp_path, body), "imports", "wasmqe_doc.get_everything")


def test_host_function_with_the_wrong_signature(tmp_path: Path) -> None:
    body = "\n".join(
        [
            '(import "wasmqe_doc" "get_i64" (func (param i32 i32 i32) (result i32)))',
            MEMORY,
            ABI_VERSION,
            ALLOCATOR,
            FUNCTIONS,
        ]
    )
    problem = only_rule(make(tmp_path, body), "imports", "wasmqe_doc.get_i64")
    assert "(i32, i32, i32, i32) -> (i32)" in problem.problem


def test_host_api_imports_pass(tmp_path: Path) -> None:
    imports = "\n".join(
        f'(import "wasmqe_doc" "{name}" (func (param {" ".join(["i32"] * (3 if name == "has_field" else 4))}) (result i32)))'
        for name in udf_abi.DOC_IMPORTS
    )
    assert rules(make(tmp_path, "\n".join([imports, MEMORY, ABI_VERSION, ALLOCATOR, FUNCTIONS]))) == []


# ---------------------------------------------------------------- [size] and [wasm]


def test_module_over_the_size_limit(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("max-module-bytes = 100\n")
    only_rule(make(tmp_path), "size", "max-module-bytes", policy)


def test_module_that_wasmtime_refuses(tmp_path: Path) -> None:
    module = make(tmp_path)
    data = bytearray(module.read_bytes())
    # add_one's body: local.get 0, i64.const 1, i64.add (0x7c) -> i32.add (0x6a): a type error.
    body = bytes([0x20, 0x00, 0x42, 0x01, 0x7C])
    at = data.find(body)
    assert at > 0
    data[at + 4] = 0x6A
    module.write_bytes(bytes(data))
    only_rule(module, "wasm", "wasmtime refuses")


# ---------------------------------------------------------------- policy files and the command


def test_policy_with_an_unknown_key(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("max-memory = 10\n")
    with pytest.raises(Exception, match="unknown key"):
        udf_validate.load_policy(policy)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    body = "\n".join([WASI_IMPORT, '(memory (export "memory") 1)', ALLOCATOR, FUNCTIONS, "(func $init) (start $init)"])
    found = {p.rule for p in rules(make(tmp_path, body))}
    assert found == {"imports", "memory", "abi-version", "no-start"}


def test_the_command_names_the_rule_and_fails(tmp_path: Path) -> None:
    module = make(tmp_path, "\n".join([MEMORY, ALLOCATOR, FUNCTIONS]))
    result = subprocess.run(
        [sys.executable, "-m", "toolchain", "udf", "validate", str(module)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[abi-version] wasmqe_abi_version" in result.stdout
    ok = subprocess.run(
        [sys.executable, "-m", "toolchain", "udf", "validate", str(make(tmp_path, name="ok"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 function(s): add_one(i64) -> i64" in ok.stdout
