"""The module reader and the shims analysis on hand-assembled modules (no compiler needed)."""

from __future__ import annotations

import pytest

from toolchain.analysis import wasm_module
from toolchain.checks import shims


def leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def vec(items: list[bytes]) -> bytes:
    return leb(len(items)) + b"".join(items)


def name(text: str) -> bytes:
    return leb(len(text.encode())) + text.encode()


def section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + leb(len(payload)) + payload


def body(instructions: bytes) -> bytes:
    code = b"\x00" + instructions + b"\x0b"  # no locals
    return leb(len(code)) + code


def call(index: int) -> bytes:
    return b"\x10" + leb(index)


# Function indices: 0 imported (env.now), 1 run, 2 Instant::now stub, 3 panic, 4 table entry, 5 dispatch.
NAMES = [
    "env.now",
    "run",
    "<std[abc123abc123]::time::Instant>::now",
    "core[8a97de082bc4c33]::panicking::panic_fmt",
    "app::via_table",
    "dispatch",
]


def assemble(run_calls_stub: bool = True, names: bool = True) -> bytes:
    types = vec([b"\x60" + vec([]) + vec([]), b"\x60" + vec([b"\x7f"]) + vec([b"\x7f"])])
    imports = vec([name("env") + name("now") + b"\x00" + leb(0)])
    functions = vec([leb(0)] * 5)
    table = vec([b"\x70\x00" + leb(1)])
    exports = vec([name("run") + b"\x00" + leb(1), name("dispatch") + b"\x00" + leb(5)])
    elements = vec([b"\x00" + b"\x41" + leb(0) + b"\x0b" + vec([leb(4)])])  # table[0] = function 4
    bodies = vec(
        [
            body((call(2) if run_calls_stub else b"\x01") + b"\x41\x7f\x1a" + b"\x44" + bytes(8) + b"\x1a"),
            body(call(3)),
            body(b"\x00"),
            body(call(2)),
            body(b"\x41\x00" + b"\x11" + leb(0) + leb(0)),  # call_indirect type 0, table 0
        ]
    )
    module = b"\0asm\1\0\0\0" + section(1, types) + section(2, imports) + section(3, functions) + section(4, table)
    module += section(7, exports) + section(9, elements) + section(10, bodies)
    if names:
        subsection = vec([leb(i) + name(n) for i, n in enumerate(NAMES)])
        module += section(0, name("name") + b"\x01" + leb(len(subsection)) + subsection)
    return module


def write(tmp_path, data: bytes, filename: str = "m.wasm"):
    path = tmp_path / filename
    path.write_bytes(data)
    return path


def test_reads_functions_names_exports_and_calls(tmp_path):
    module = wasm_module.parse(write(tmp_path, assemble()))
    assert [f.name for f in module.functions] == NAMES
    assert [(e.name, e.index) for e in module.exports] == [("run", 1), ("dispatch", 5)]
    assert module.table_functions == {4}
    assert module.types == ["() -> ()", "(i32) -> (i32)"]
    sites = module.call_sites()
    assert sites[1].direct == {2}
    assert sites[5].direct == set() and sites[5].indirect_types == {0}
    assert sites[4].direct == {2}


def test_clean_and_crate_names():
    assert wasm_module.clean_name(NAMES[2]) == "<std::time::Instant>::now"
    assert wasm_module.crate_of(NAMES[2]) == "std"
    assert (
        wasm_module.crate_of(
            "<alloc[1041499c94bd69a6]::vec::Vec<arrow_array[820db623434d820d]::A> as core[8a97de082bc4c33]::clone::Clone>::clone"
        )
        == "alloc"
    )
    assert wasm_module.crate_of("ZSTD_compress") == "[C or unmangled]"
    assert wasm_module.crate_of("__wbindgen_malloc") == "[wasm-bindgen]"


def test_stub_reached_directly_is_a_violation(tmp_path):
    report = shims.analyse(write(tmp_path, assemble()), [])
    direct = [v for v in report.violations if "by direct calls" in v.problem]
    assert [v.chain for v in direct] == [["export run", "<std::time::Instant>::now"]]


def test_stub_reached_only_through_the_table_is_conservative(tmp_path):
    report = shims.analyse(write(tmp_path, assemble(run_calls_stub=False)), [])
    [violation] = report.violations
    assert "through an indirect call" in violation.problem
    assert violation.chain == [
        "export dispatch",
        "[call_indirect () -> (): conservatively, any table entry of this signature]",
        "app::via_table",
        "<std::time::Instant>::now",
    ]


def test_module_without_names_is_refused(tmp_path):
    with pytest.raises(Exception, match="no names section"):
        shims.analyse(write(tmp_path, assemble(names=False)), [])


@pytest.mark.parametrize("damage", ["truncated", "not wasm"])
def test_damaged_input_says_what_is_wrong(tmp_path, damage):
    data = assemble()
    data = data[: len(data) // 2] if damage == "truncated" else b"export default 1;\n"
    with pytest.raises(wasm_module.ToolchainError, match=r"truncated|runs past|not a WebAssembly module") as excinfo:
        wasm_module.parse(write(tmp_path, data))
    assert excinfo.value.fix


def test_bad_waiver_policy_names_the_entry(tmp_path):
    policy = write(tmp_path, b'[[allow]]\ncaller = "x"\ncallee = "y"\n', "policy.toml")
    with pytest.raises(shims.ToolchainError, match=r"entry 1 lacks reason"):
        shims.load_waivers(policy)


def test_strip_removes_only_the_names_section(tmp_path):
    source = write(tmp_path, assemble())
    stripped = tmp_path / "stripped.wasm"
    removed = wasm_module.strip_custom_sections(source, stripped, {"name"})
    before, after = wasm_module.parse(source), wasm_module.parse(stripped)
    assert removed == before.size - after.size > 0
    assert not after.names_present
    assert [s.name for s in after.sections] == [s.name for s in before.sections if s.name != "name"]
    assert after.call_sites()[1].direct == {2}  # code intact


def test_a_trap_stack_is_named_from_the_names_section(tmp_path):
    path = tmp_path / "named.wasm"
    path.write_bytes(assemble())
    module = wasm_module.parse(path)
    # Chromium's format for a module without names: the URL and wasm-function[index]:offset.
    stack = (
        "RuntimeError: unreachable\n"
        "    at http://127.0.0.1:8000/pkg/engine_bg.wasm:wasm-function[3]:0x1a2\n"
        "    at http://127.0.0.1:8000/pkg/engine_bg.wasm:wasm-function[2]:0x19f\n"
        "    at engine_bg.wasm.run (wasm://wasm/0a1b2c3d:wasm-function[1]:0x190)\n"
        "    at WasmQueryEngine.execute_sql (http://127.0.0.1:8000/pkg/engine.js:301:18)\n"
        "    at http://127.0.0.1:8000/pkg/engine_bg.wasm:wasm-function[99]:0x1\n"
    )
    assert wasm_module.wasm_frames(stack, module) == [
        "core::panicking::panic_fmt",
        "<std::time::Instant>::now",
        "run",
        "wasm-function[99]",
    ]
    assert wasm_module.wasm_frames("Error: not a trap\n    at f (x.js:1:1)", module) == []
