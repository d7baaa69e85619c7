"""Reading a WebAssembly module: sections, imports, exports, function bodies, names, calls.

Enough of the binary format for the checks: the size attribution (function body sizes and
their names) and the reachability of std's unsupported stubs (a call graph). Pure Python, no
dependency; a 64 MB module with its names section is read in seconds.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.core import process
from toolchain.core.errors import ToolchainError

MAGIC = b"\0asm"
SECTION_NAMES = {
    0: "custom",
    1: "type",
    2: "import",
    3: "function",
    4: "table",
    5: "memory",
    6: "global",
    7: "export",
    8: "start",
    9: "element",
    10: "code",
    11: "data",
    12: "datacount",
    13: "tag",
}
EXTERNAL_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


class MalformedModule(ToolchainError):
    """The file is not a WebAssembly module this reader understands."""

    exit_code = 7
    title = "malformed wasm module"


@dataclass
class Section:
    id: int
    name: str  # "code", "data", or a custom section's own name ("name", "producers", ...)
    offset: int  # of the payload, in the file
    size: int  # of the payload
    start: int = 0  # of the section id byte (size prefixes may be padded LEBs)


@dataclass
class Import:
    module: str
    name: str
    kind: str
    index: int  # in its index space (functions: the function index)


@dataclass
class Export:
    name: str
    kind: str
    index: int


@dataclass
class Function:
    index: int
    type_index: int
    name: str | None
    imported: bool
    body_offset: int = 0  # of the body (after its size prefix), in the file; 0 for imports
    body_size: int = 0


@dataclass
class Memory:
    """A linear memory's limits, in 64 KiB pages; `maximum` None when the module declares none."""

    minimum: int
    maximum: int | None
    shared: bool
    memory64: bool
    imported: bool


@dataclass
class CallSites:
    """What one function body calls: direct callees, and the types its indirect calls use."""

    direct: set[int] = field(default_factory=set)
    indirect_types: set[int] = field(default_factory=set)
    references: set[int] = field(default_factory=set)  # ref.func: functions it can turn into values


@dataclass
class Module:
    path: Path
    size: int
    sections: list[Section]
    types: list[str]  # signature of each type index
    imports: list[Import]
    exports: list[Export]
    functions: list[Function]  # imported first, then defined, in index order
    table_functions: set[int]  # functions placed in a table by element segments (indirect call targets)
    declared_references: set[int]  # functions named in element segments or globals (ref.func)
    start: int | None
    names_present: bool
    _data: bytes = field(repr=False, default=b"")
    memories: list[Memory] = field(default_factory=list)

    def custom_sections(self, name: str) -> list[bytes]:
        """The payloads (after the name) of every custom section so named, in file order."""
        payloads = []
        for section in self.sections:
            if section.id == 0 and section.name == name:
                _, content = _name(self._data, section.offset)
                payloads.append(self._data[content : section.offset + section.size])
        return payloads

    def function_signature(self, index: int) -> str:
        """The signature string of a function index, "(f64, i32) -> (f64)"; imports included."""
        return self.types[self.functions[index].type_index]

    def exported_function(self, name: str) -> Function | None:
        for export in self.exports:
            if export.name == name and export.kind == "func":
                return self.functions[export.index]
        return None

    def function_name(self, index: int) -> str:
        name = self.functions[index].name
        return name if name is not None else f"func[{index}]"

    def section_sizes(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for section in self.sections:
            key = section.name if section.id != 0 else f"custom:{section.name}"
            sizes[key] = sizes.get(key, 0) + section.size
        return sizes

    def call_sites(self) -> dict[int, CallSites]:
        """Every defined function's calls, by decoding its instructions."""
        result: dict[int, CallSites] = {}
        for function in self.functions:
            if not function.imported:
                result[function.index] = _scan_body(
                    self._data, function.body_offset, function.body_offset + function.body_size, function.index
                )
        return result


# ---------------------------------------------------------------- primitive readers


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _skip_leb(data: bytes, pos: int) -> int:
    while data[pos] & 0x80:
        pos += 1
    return pos + 1


def _name(data: bytes, pos: int) -> tuple[str, int]:
    length, pos = _uleb(data, pos)
    return data[pos : pos + length].decode("utf-8", errors="replace"), pos + length


def _skip_valtype(data: bytes, pos: int) -> int:
    byte = data[pos]
    if byte in (0x63, 0x64):  # (ref null? heaptype)
        return _skip_leb(data, pos + 1)
    return pos + 1


def _read_memory(data: bytes, pos: int, imported: bool) -> tuple[Memory, int]:
    flags = data[pos]
    minimum, pos = _uleb(data, pos + 1)
    maximum = None
    if flags & 1:
        maximum, pos = _uleb(data, pos)
    return Memory(minimum, maximum, bool(flags & 2), bool(flags & 4), imported), pos


def _skip_limits(data: bytes, pos: int) -> int:
    flags = data[pos]
    pos = _skip_leb(data, pos + 1)
    if flags & 1:
        pos = _skip_leb(data, pos)
    return pos


# ---------------------------------------------------------------- instructions

# Immediate kinds, by opcode: how many bytes to skip after the opcode.
(
    _NONE,
    _LEB,
    _LEB2,
    _BLOCK,
    _BR_TABLE,
    _MEMARG,
    _BYTE,
    _F32,
    _F64,
    _SELECT_T,
    _CALL,
    _CALL_INDIRECT,
    _REF_FUNC,
    _PREFIX_FC,
    _PREFIX_FD,
    _PREFIX_FE,
    _TRY_TABLE,
    _HEAPTYPE,
    _RETURN_CALL,
    _CALL_REF,
) = range(20)
_KIND: list[int | None] = [None] * 256  # opcode -> kind of its immediates; None: an opcode this reader rejects
for _op in [0x00, 0x01, 0x05, 0x0A, 0x0B, 0x0F, 0x19, 0x1A, 0x1B, 0xD1, 0xD3, 0xD5, *range(0x45, 0xC5)]:
    _KIND[_op] = _NONE
for _op in [0x02, 0x03, 0x04, 0x06]:
    _KIND[_op] = _BLOCK
for _op in [0x07, 0x08, 0x09, 0x0C, 0x0D, 0x18, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x41, 0x42, 0xD4, 0xD6]:
    _KIND[_op] = _LEB  # tag, label, local, global, table indices; i32/i64 constants (signed LEB skips alike)
for _op in range(0x28, 0x3F):
    _KIND[_op] = _MEMARG
_KIND[0x3F] = _KIND[0x40] = _BYTE  # memory.size / memory.grow (memory index)
_KIND[0x0E] = _BR_TABLE
_KIND[0x10] = _CALL
_KIND[0x11] = _CALL_INDIRECT
_KIND[0x12] = _RETURN_CALL
_KIND[0x13] = _CALL_INDIRECT  # return_call_indirect
_KIND[0x14] = _KIND[0x15] = _CALL_REF  # call_ref / return_call_ref (type index)
_KIND[0x1C] = _SELECT_T
_KIND[0x1F] = _TRY_TABLE
_KIND[0x43] = _F32
_KIND[0x44] = _F64
_KIND[0xD0] = _HEAPTYPE  # ref.null
_KIND[0xD2] = _REF_FUNC
_KIND[0xFC] = _PREFIX_FC
_KIND[0xFD] = _PREFIX_FD
_KIND[0xFE] = _PREFIX_FE

# 0xFC sub-opcodes: number of LEB immediates (memory.init: data + memory, memory.copy: 2 memories...).
_FC_LEBS = {8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}
# 0xFD (SIMD) sub-opcodes with a memarg, with a memarg + lane, with 16 bytes, with a lane byte.
_FD_MEMARG = set(range(12)) | {92, 93}
_FD_MEMARG_LANE = set(range(84, 92))
_FD_16_BYTES = {12, 13}
_FD_LANE = set(range(21, 35))


def _skip_memarg(data: bytes, pos: int) -> int:
    align, pos = _uleb(data, pos)
    if align & 0x40:  # multi-memory: an explicit memory index follows
        pos = _skip_leb(data, pos)
    return _skip_leb(data, pos)


def _skip_blocktype(data: bytes, pos: int) -> int:
    byte = data[pos]
    if byte == 0x40 or byte in (0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F):
        return pos + 1
    if byte in (0x63, 0x64):
        return _skip_leb(data, pos + 1)
    return _skip_leb(data, pos)  # a type index (s33)


def _scan_instructions(data: bytes, pos: int, end: int, sites: CallSites, where: str) -> int:
    """Decodes instructions from pos to end, recording calls; returns the position reached."""
    kinds = _KIND
    direct = sites.direct
    while pos < end:
        op = data[pos]
        pos += 1
        kind = kinds[op]
        if kind == _NONE:
            continue
        if kind == _LEB:
            while data[pos] & 0x80:
                pos += 1
            pos += 1
        elif kind in (_CALL, _RETURN_CALL):
            callee, pos = _uleb(data, pos)
            direct.add(callee)
        elif kind == _MEMARG:
            pos = _skip_memarg(data, pos)
        elif kind == _BLOCK:
            pos = _skip_blocktype(data, pos)
        elif kind == _CALL_INDIRECT:
            type_index, pos = _uleb(data, pos)
            sites.indirect_types.add(type_index)
            pos = _skip_leb(data, pos)  # table index
        elif kind == _BR_TABLE:
            count, pos = _uleb(data, pos)
            for _ in range(count + 1):
                pos = _skip_leb(data, pos)
        elif kind == _BYTE:
            pos += 1
        elif kind == _F32:
            pos += 4
        elif kind == _F64:
            pos += 8
        elif kind == _REF_FUNC:
            referenced, pos = _uleb(data, pos)
            sites.references.add(referenced)
        elif kind == _PREFIX_FC:
            sub, pos = _uleb(data, pos)
            for _ in range(_FC_LEBS.get(sub, 0)):
                pos = _skip_leb(data, pos)
        elif kind == _SELECT_T:
            count, pos = _uleb(data, pos)
            for _ in range(count):
                pos = _skip_valtype(data, pos)
        elif kind == _HEAPTYPE:
            pos = _skip_leb(data, pos)
        elif kind == _CALL_REF:
            type_index, pos = _uleb(data, pos)
            sites.indirect_types.add(type_index)
        elif kind == _PREFIX_FD:
            sub, pos = _uleb(data, pos)
            if sub in _FD_MEMARG:
                pos = _skip_memarg(data, pos)
            elif sub in _FD_MEMARG_LANE:
                pos = _skip_memarg(data, pos) + 1
            elif sub in _FD_16_BYTES:
                pos += 16
            elif sub in _FD_LANE:
                pos += 1
        elif kind == _PREFIX_FE:
            sub, pos = _uleb(data, pos)
            pos = pos + 1 if sub == 0x03 else _skip_memarg(data, pos)  # atomic.fence has one byte
        elif kind == _TRY_TABLE:
            pos = _skip_blocktype(data, pos)
            count, pos = _uleb(data, pos)
            for _ in range(count):
                catch_kind = data[pos]
                pos += 1
                if catch_kind in (0, 1):
                    pos = _skip_leb(data, pos)  # tag
                pos = _skip_leb(data, pos)  # label
        else:
            raise MalformedModule(
                f"unknown instruction opcode 0x{op:02x} at byte {pos - 1} in {where}",
                "the module uses a proposal this reader does not decode (GC, stack switching?); "
                "report it with the module attached",
            )
    return pos


def _scan_body(data: bytes, start: int, end: int, index: int) -> CallSites:
    sites = CallSites()
    pos = start
    groups, pos = _uleb(data, pos)
    for _ in range(groups):
        pos = _skip_leb(data, pos)
        pos = _skip_valtype(data, pos)
    _scan_instructions(data, pos, end, sites, f"function {index}")
    return sites


def _const_expr(data: bytes, pos: int, sites: CallSites) -> int:
    """Skips one constant expression (up to its `end`), recording ref.func."""
    while True:
        op = data[pos]
        if op == 0x0B:
            return pos + 1
        pos = _scan_instructions(data, pos, pos + 1, sites, "a constant expression")
        # _scan_instructions stops after one opcode's immediates (end = pos + 1 is the opcode byte).


# ---------------------------------------------------------------- sections


_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}


def _read_types(data: bytes, pos: int) -> list[str]:
    """Each function type as a signature string, "(i32, i32) -> i64": equal strings are the same type."""
    signatures = []
    count, pos = _uleb(data, pos)
    for _ in range(count):
        form = data[pos]
        if form != 0x60:
            raise MalformedModule(
                f"type section: form 0x{form:02x} is not a function type (GC types are not supported)"
            )
        pos += 1
        parts = []
        for _ in range(2):  # params, results
            n, pos = _uleb(data, pos)
            types = []
            for _ in range(n):
                end = _skip_valtype(data, pos)
                types.append(_VALTYPES.get(data[pos], data[pos:end].hex()))
                pos = end
            parts.append(", ".join(types))
        signatures.append(f"({parts[0]}) -> ({parts[1]})")
    return signatures


def _read_imports(
    data: bytes, pos: int, functions: list[Function], memories: list[Memory] | None = None
) -> list[Import]:
    imports = []
    counters = dict.fromkeys(EXTERNAL_KINDS.values(), 0)
    count, pos = _uleb(data, pos)
    for _ in range(count):
        module, pos = _name(data, pos)
        name, pos = _name(data, pos)
        kind = EXTERNAL_KINDS.get(data[pos], "?")
        pos += 1
        if kind == "func":
            type_index, pos = _uleb(data, pos)
            functions.append(Function(len(functions), type_index, None, True))
        elif kind == "table":
            pos = _skip_limits(data, _skip_valtype(data, pos))
        elif kind == "memory":
            memory, pos = _read_memory(data, pos, imported=True)
            if memories is not None:
                memories.append(memory)
        elif kind == "global":
            pos = _skip_valtype(data, pos) + 1
        elif kind == "tag":
            pos = _skip_leb(data, pos + 1)
        else:
            raise MalformedModule(f"import {module}.{name}: unknown kind byte {data[pos - 1]}")
        imports.append(Import(module, name, kind, counters.get(kind, 0)))
        counters[kind] = counters.get(kind, 0) + 1
    return imports


def _read_exports(data: bytes, pos: int) -> list[Export]:
    exports = []
    count, pos = _uleb(data, pos)
    for _ in range(count):
        name, pos = _name(data, pos)
        kind = EXTERNAL_KINDS.get(data[pos], "?")
        index, pos = _uleb(data, pos + 1)
        exports.append(Export(name, kind, index))
    return exports


def _read_elements(data: bytes, pos: int) -> tuple[set[int], set[int]]:
    """Functions put in tables by active segments, and every function any segment names."""
    in_tables: set[int] = set()
    named: set[int] = set()
    count, pos = _uleb(data, pos)
    for _ in range(count):
        flags, pos = _uleb(data, pos)
        active = not flags & 1
        offset_sites = CallSites()
        if flags & 2 and active:
            pos = _skip_leb(data, pos)  # explicit table index
        if active:
            pos = _const_expr(data, pos, offset_sites)
        if flags & 3:  # passive, declarative, or active with a table index: elemkind / reftype
            pos = _skip_valtype(data, pos)
        n, pos = _uleb(data, pos)
        segment: set[int] = set()
        for _ in range(n):
            if flags & 4:  # expressions
                sites = CallSites()
                pos = _const_expr(data, pos, sites)
                segment |= sites.references
            else:
                index, pos = _uleb(data, pos)
                segment.add(index)
        named |= segment
        if active:
            in_tables |= segment
    return in_tables, named


def _read_globals(data: bytes, pos: int) -> set[int]:
    sites = CallSites()
    count, pos = _uleb(data, pos)
    for _ in range(count):
        pos = _skip_valtype(data, pos) + 1  # type, mutability
        pos = _const_expr(data, pos, sites)
    return sites.references


def _read_code(data: bytes, pos: int, functions: list[Function], first_defined: int) -> None:
    count, pos = _uleb(data, pos)
    if first_defined + count != len(functions):
        raise MalformedModule(
            f"code section has {count} bodies for {len(functions) - first_defined} declared functions"
        )
    for i in range(count):
        size, pos = _uleb(data, pos)
        function = functions[first_defined + i]
        function.body_offset, function.body_size = pos, size
        pos += size


def _read_function_names(data: bytes, pos: int, end: int, functions: list[Function]) -> bool:
    found = False
    while pos < end:
        subsection = data[pos]
        size, pos = _uleb(data, pos + 1)
        if subsection == 1:  # function names
            count, p = _uleb(data, pos)
            for _ in range(count):
                index, p = _uleb(data, p)
                name, p = _name(data, p)
                if index < len(functions):
                    functions[index].name = name
            found = True
        pos += size
    return found


def whole_module_problem(path: Path) -> str | None:
    """Why a file is not a whole WebAssembly module, or None: the header, and section sizes that
    end exactly at the end of the file (a module cut short or overwritten fails). Only the section
    headers are decoded; `parse` is the full read the later stages do."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if data[:4] != MAGIC:
        return "it has no \\0asm magic number: it is not a WebAssembly module"
    if data[4:8] != b"\1\0\0\0":
        return f"it is not a version 1 module (header {data[4:8].hex()})"
    pos = 8
    while pos < len(data):
        try:
            length, body = _uleb(data, pos + 1)  # the section id, then its size
        except IndexError:
            return f"the section header at byte {pos} is cut off or malformed"
        if body - pos > 6:
            return f"the section header at byte {pos} is cut off or malformed"
        pos = body + length
    if pos != len(data):
        return f"its last section ends {pos - len(data)} bytes past the end of the file: it was cut short"
    return None


def parse(path: Path) -> Module:
    """Reads a module. Raises MalformedModule (with what to do) on anything that is not wasm."""
    if not path.is_file():
        raise ToolchainError(f"no module at {path}", "build it first (`nox -s build`) or pass the path of a .wasm file")
    data = path.read_bytes()
    if data[:4] != MAGIC or data[4:8] != b"\1\0\0\0":
        raise MalformedModule(
            f"{path} is not a WebAssembly module (no \\0asm version 1 header)",
            "pass the .wasm file the build produced, not the JS glue or a component",
        )
    try:
        return _parse(path, data)
    except (IndexError, UnicodeDecodeError) as exc:
        raise MalformedModule(
            f"{path} is truncated or corrupt ({exc})", "rebuild it; the file may have been cut short"
        ) from exc


def _parse(path: Path, data: bytes) -> Module:
    sections: list[Section] = []
    functions: list[Function] = []
    imports: list[Import] = []
    exports: list[Export] = []
    types: list[str] = []
    memories: list[Memory] = []
    table_functions: set[int] = set()
    declared: set[int] = set()
    start = None
    names_present = False
    first_defined = 0
    pos = 8
    while pos < len(data):
        section_id = data[pos]
        size, payload = _uleb(data, pos + 1)
        end = payload + size
        if end > len(data):
            raise MalformedModule(f"{path}: section {section_id} runs past the end of the file", "rebuild the module")
        name = SECTION_NAMES.get(section_id, f"unknown-{section_id}")
        if section_id == 0:
            name, content = _name(data, payload)
            if name == "name":
                names_present = _read_function_names(data, content, end, functions) or names_present
        elif section_id == 1:
            types = _read_types(data, payload)
        elif section_id == 2:
            imports = _read_imports(data, payload, functions, memories)
            first_defined = len(functions)
        elif section_id == 3:
            count, p = _uleb(data, payload)
            for _ in range(count):
                type_index, p = _uleb(data, p)
                functions.append(Function(len(functions), type_index, None, False))
        elif section_id == 5:
            count, p = _uleb(data, payload)
            for _ in range(count):
                memory, p = _read_memory(data, p, imported=False)
                memories.append(memory)
        elif section_id == 6:
            declared |= _read_globals(data, payload)
        elif section_id == 7:
            exports = _read_exports(data, payload)
        elif section_id == 8:
            start, _ = _uleb(data, payload)
        elif section_id == 9:
            table_functions, named = _read_elements(data, payload)
            declared |= named
        elif section_id == 10:
            _read_code(data, payload, functions, first_defined)
        sections.append(Section(section_id, name, payload, size, pos))
        pos = end
    for imported in imports:
        if imported.kind == "func" and functions[imported.index].name is None:
            functions[imported.index].name = f"{imported.module}.{imported.name}"
    _demangle(functions)
    return Module(
        path,
        len(data),
        sections,
        types,
        imports,
        exports,
        functions,
        table_functions,
        declared,
        start,
        names_present,
        data,
        memories,
    )


def strip_custom_sections(source: Path, destination: Path, names: set[str]) -> int:
    """Copies a module without the custom sections so named; returns the bytes removed."""
    module = parse(source)
    data = module._data
    kept = bytearray(data[:8])
    removed = 0
    for section in module.sections:
        if section.id == 0 and section.name in names:
            removed += section.offset + section.size - section.start
            continue
        kept += data[section.start : section.offset + section.size]
    temporary = destination.with_name(destination.name + ".tmp")
    temporary.write_bytes(bytes(kept))
    temporary.replace(destination)
    return removed


def _leb_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _write_atomically(destination: Path, data: bytes) -> None:
    temporary = destination.with_name(destination.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(destination)


def custom_section_bytes(name: str, payload: bytes) -> bytes:
    """One custom section (id 0, size, name, payload), ready to append to a module."""
    encoded = name.encode("utf-8")
    body = _leb_bytes(len(encoded)) + encoded + payload
    return b"\0" + _leb_bytes(len(body)) + body


def with_custom_section(source: Path, destination: Path, name: str, payload: bytes) -> None:
    """Copies a module, replacing every custom section `name` by one holding `payload`, at the end."""
    module = parse(source)
    data = module._data
    kept = bytearray(data[:8])
    for section in module.sections:
        if not (section.id == 0 and section.name == name):
            kept += data[section.start : section.offset + section.size]
    _write_atomically(destination, bytes(kept) + custom_section_bytes(name, payload))


def with_memory_maximum(source: Path, destination: Path, pages: int) -> None:
    """Copies a module with its (one, defined, 32-bit) memory's maximum set to `pages`, never
    below its minimum. The memory section is re-encoded; everything else is copied byte for byte."""
    module = parse(source)
    data = module._data
    out = bytearray(data[:8])
    for section in module.sections:
        if section.id != 5:
            out += data[section.start : section.offset + section.size]
            continue
        count, p = _uleb(data, section.offset)
        body = bytearray(_leb_bytes(count))
        for _ in range(count):
            memory, p = _read_memory(data, p, imported=False)
            if memory.memory64:
                raise MalformedModule(f"{source}: a 64-bit memory", "build for wasm32 (the UDF ABI is 32-bit)")
            maximum = max(pages, memory.minimum)
            flags = 1 | (2 if memory.shared else 0)
            body += bytes([flags]) + _leb_bytes(memory.minimum) + _leb_bytes(maximum)
        out += b"\5" + _leb_bytes(len(body)) + body
    _write_atomically(destination, bytes(out))


# ---------------------------------------------------------------- Rust names

_MANGLED = re.compile(r"^(_R[0-9A-Za-z_]+|_ZN[0-9A-Za-z_$.]+E)$")


def _demangle(functions: list[Function]) -> None:
    """Cargo's own output names functions by their mangled symbols (v0 `_R...` or legacy `_ZN...E`);
    wasm-bindgen's output is already demangled. binutils' c++filt demangles both Rust schemes into
    the same form wasm-ld writes (`core[8a97de082bc4c33]::fmt::write`)."""
    mangled = [(f, f.name) for f in functions if f.name and _MANGLED.match(f.name)]
    demangler = shutil.which("c++filt")
    if not mangled or demangler is None:
        return
    out = process.output([demangler], input="\n".join(name for _, name in mangled), strip=False, timeout=600)
    lines = (out or "").split("\n")
    if out is None or len(lines) < len(mangled):
        return
    for (function, _), name in zip(mangled, lines):
        function.name = name


_HASH = re.compile(r"\[[0-9a-f]{5,}\]")  # the crate disambiguator wasm-ld keeps: core[8a97de082bc4c33]
_LEGACY_HASH = re.compile(r"::h[0-9a-f]{16}$")
_STD_CRATES = {
    "core",
    "alloc",
    "std",
    "compiler_builtins",
    "panic_abort",
    "std_detect",
    "hashbrown",
    "rustc_demangle",
    "dlmalloc",
    "addr2line",
    "gimli",
    "miniz_oxide",
    "object",
    "unwind",
}


def clean_name(name: str) -> str:
    """A demangled Rust name without crate hashes: `<core::fmt::Error as ...>::fmt`."""
    return _LEGACY_HASH.sub("", _HASH.sub("", name))


def crate_of(name: str | None) -> str:
    """The crate a function's code is attributed to: the first path of its demangled name.

    `<alloc::vec::Vec<T> as Clone>::clone` is alloc's code, even when T is someone else's: that
    is how cargo-bloat and twiggy attribute generic instantiations too.
    """
    if not name:
        return "[unnamed]"
    cleaned = clean_name(name).lstrip("<&*([ ")
    for prefix in ("mut ", "const ", "dyn ", "impl "):
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :].lstrip("<&*([ ")
    match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", cleaned)
    if not match:
        return "[other]"
    head = match.group(0)
    if not cleaned[match.end() :].startswith("::"):
        # A plain symbol (a C function, wasm-bindgen's shims, an unmangled export).
        if head.startswith(("__wbg", "__wbindgen", "__externref")):
            return "[wasm-bindgen]"
        return "[C or unmangled]"
    return head


_WASM_FRAME = re.compile(r"wasm-function\[(\d+)\]")


def wasm_frames(js_stack: str, module: Module) -> list[str]:
    """The wasm frames of a JS stack trace, innermost first, named from `module`'s names section.

    The shipped module is the named one without its names section (the strip stage), so the
    function indices V8 prints (`wasm-function[1234]`) are the named module's indices.
    """
    frames = []
    for line in js_stack.splitlines():
        match = _WASM_FRAME.search(line)
        if match:
            index = int(match.group(1))
            name = module.functions[index].name if index < len(module.functions) else None
            frames.append(clean_name(name) if name else f"wasm-function[{index}]")
    return frames
