"""Hand-written UDF modules (WAT) for the tests: a module that follows the ABI, and the pieces to
break it one rule at a time. The function is add_one(i64) -> i64 in all three styles; its document
and batch exports are stubs (the examples' tests exercise real ones)."""

from __future__ import annotations

import json
from pathlib import Path

import wasmtime

from toolchain.analysis import udf_abi, wasm_module

ALLOCATOR = r"""
  (global $heap (mut i32) (i32.const 1024))
  (func (export "wasmqe_alloc") (param $size i32) (param $align i32) (result i32)
    (local $p i32)
    global.get $heap
    local.get $align i32.const 1 i32.sub i32.add
    local.get $align i32.const 1 i32.sub i32.const -1 i32.xor i32.and
    local.tee $p local.get $size i32.add global.set $heap
    local.get $p)
  (func (export "wasmqe_dealloc") (param i32 i32 i32))
"""
ABI_VERSION = '(func (export "wasmqe_abi_version") (result i32) i32.const 1)'
MEMORY = '(memory (export "memory") 1 64)'
FUNCTIONS = r"""
  (func (export "add_one") (param i64) (result i64) local.get 0 i64.const 1 i64.add)
  (func (export "add_one__doc") (param i32 i32) (result i32) i32.const 1)
  (func (export "add_one__batch") (param i32) (result i32) i32.const 1)
"""
RECORD = {
    "abi": "1.0",
    "name": "add_one",
    "args": [{"name": "x", "type": "i64"}],
    "returns": {"type": "i64"},
    "fallible": False,
    "deterministic": True,
    "styles": ["scalar", "document", "batch"],
}


def make(
    tmp_path: Path, body: str | None = None, records: list | None = None, manifest: bytes | None = None, name: str = "m"
) -> Path:
    text = body if body is not None else "\n".join([MEMORY, ABI_VERSION, ALLOCATOR, FUNCTIONS])
    raw = tmp_path / f"{name}.raw.wasm"
    raw.write_bytes(wasmtime.wat2wasm(f"(module {text})"))
    out = tmp_path / f"{name}.wasm"
    if manifest is None:
        lines = [json.dumps(r) for r in (records if records is not None else [RECORD])]
        manifest = ("\n".join(lines) + "\n").encode()
    if manifest == b"<none>":
        raw.replace(out)
    else:
        wasm_module.with_custom_section(raw, out, udf_abi.MANIFEST_SECTION, manifest)
    return out
