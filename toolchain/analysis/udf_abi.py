"""The WASM UDF ABI (docs/udf-abi.md) as data: the manifest's records, the types, the export each
calling style needs and its wasm signature, and the batch descriptor's layout.

Pure: no wasm runtime here. The validator (checks/udf.py) and the caller (pipeline/udf_call.py)
both read the ABI from this module, so the document, the checks and the host cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from toolchain.core.errors import ToolchainError

ABI_VERSION = "1.0"
ABI_MAJOR = 1
KNOWN_MINORS = {1: {0}}
MANIFEST_SECTION = "wasm-qe-udf"
DOC_IMPORT_MODULE = "wasmqe_doc"

EXPORT_ABI_VERSION = "wasmqe_abi_version"
EXPORT_ALLOC = "wasmqe_alloc"
EXPORT_DEALLOC = "wasmqe_dealloc"
REQUIRED_EXPORTS = {
    EXPORT_ABI_VERSION: "() -> (i32)",
    EXPORT_ALLOC: "(i32, i32) -> (i32)",
    EXPORT_DEALLOC: "(i32, i32, i32) -> ()",
}

# The host API a module may import (section 4), with each function's signature.
DOC_IMPORTS = {
    "has_field": "(i32, i32, i32) -> (i32)",
    "get_i64": "(i32, i32, i32, i32) -> (i32)",
    "get_f64": "(i32, i32, i32, i32) -> (i32)",
    "get_bool": "(i32, i32, i32, i32) -> (i32)",
    "get_string": "(i32, i32, i32, i32) -> (i32)",
    "get_bytes": "(i32, i32, i32, i32) -> (i32)",
}

STYLES = ("scalar", "document", "batch")
# type name -> (batch type tag, scalar wasm type or None, fixed byte width or None)
TYPES: dict[str, tuple[int, str | None, int | None]] = {
    "bool": (1, "i32", None),  # bit-packed in a batch
    "i32": (2, "i32", 4),
    "i64": (3, "i64", 8),
    "f32": (4, "f32", 4),
    "f64": (5, "f64", 8),
    "string": (6, None, None),
    "bytes": (7, None, None),
    "timestamp": (8, "i64", 8),
}
TYPE_BY_TAG = {tag: name for name, (tag, _, _) in TYPES.items()}

# Document style: status codes of name__doc, and the result cell.
DOC_OK, DOC_NULL, DOC_ERROR = 0, 1, 2
RESULT_CELL_SIZE = 16
# get_* status codes.
GET_OK, GET_ABSENT, GET_WRONG_TYPE, GET_NO_MEMORY, GET_BAD_HANDLE = 0, 1, 2, 3, -1
# Batch style.
BATCH_OK, BATCH_BAD_DESCRIPTOR, BATCH_NO_MEMORY = 0, 1, 2
HEADER_SIZE = 16
COLUMN_SIZE = 24
ERRORS_SIZE = 24
BUFFER_ALIGN = 8

NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def descriptor_size(num_args: int) -> int:
    return HEADER_SIZE + COLUMN_SIZE * (num_args + 1) + ERRORS_SIZE


def result_column_offset(num_args: int) -> int:
    return HEADER_SIZE + COLUMN_SIZE * num_args


def errors_offset(num_args: int) -> int:
    return HEADER_SIZE + COLUMN_SIZE * (num_args + 1)


class ManifestError(ToolchainError):
    """A manifest record that does not follow section 2 of the ABI (exit 2: the input is wrong)."""

    title = "invalid UDF manifest"


@dataclass(frozen=True)
class Value:
    name: str
    type: str
    nullable: bool


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    abi: str
    args: tuple[Value, ...]
    returns: Value
    fallible: bool
    deterministic: bool
    styles: tuple[str, ...]

    def export_name(self, style: str) -> str:
        return {"scalar": self.name, "document": f"{self.name}__doc", "batch": f"{self.name}__batch"}[style]

    def expected_signature(self, style: str) -> str:
        if style == "scalar":
            params = ", ".join(TYPES[a.type][1] or "?" for a in self.args)
            return f"({params}) -> ({TYPES[self.returns.type][1] or '?'})"
        if style == "document":
            return "(i32, i32) -> (i32)"
        return "(i32) -> (i32)"

    def scalar_problem(self) -> str | None:
        """Why this function cannot have the scalar style, or None."""
        for value in (*self.args, self.returns):
            if TYPES[value.type][1] is None:
                return f"{value.name or 'the result'} is a {value.type}, which has no scalar wasm type"
            if value.nullable:
                return f"{value.name or 'the result'} is nullable"
        if self.fallible:
            return "it is fallible (scalar calls have no way to return a row error)"
        return None

    def to_json(self) -> dict:
        return {
            "abi": self.abi,
            "name": self.name,
            "args": [{"name": a.name, "type": a.type, "nullable": a.nullable} for a in self.args],
            "returns": {"type": self.returns.type, "nullable": self.returns.nullable},
            "fallible": self.fallible,
            "deterministic": self.deterministic,
            "styles": list(self.styles),
        }


RECORD_KEYS = {"abi", "name", "args", "returns", "fallible", "deterministic", "styles"}


def _value(raw: object, where: str, named: bool) -> Value:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where} must be an object, not {raw!r}", "see docs/udf-abi.md section 2")
    allowed = {"name", "type", "nullable"} if named else {"type", "nullable"}
    unknown = set(raw) - allowed
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", f"allowed: {sorted(allowed)}")
    type_name = raw.get("type")
    if type_name not in TYPES:
        raise ManifestError(f"{where}: type {type_name!r} is not an ABI type", f"use one of {', '.join(TYPES)}")
    nullable = raw.get("nullable", False)
    if not isinstance(nullable, bool):
        raise ManifestError(f"{where}: nullable must be true or false, not {nullable!r}", "")
    name = ""
    if named:
        name = raw.get("name", "")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ManifestError(
                f"{where}: argument name {name!r} is not a valid name",
                "names match [a-z_][a-z0-9_]* and are at most 64 bytes",
            )
    return Value(name, type_name, nullable)


def parse_record(line: str, where: str) -> FunctionSpec:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"{where} is not JSON ({exc.msg} at column {exc.colno})", "one JSON object per line"
        ) from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"{where} is not a JSON object", "one JSON object per line")
    missing = RECORD_KEYS - set(raw)
    unknown = set(raw) - RECORD_KEYS
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing key(s) {', '.join(sorted(missing))}")
        if unknown:
            parts.append(f"unknown key(s) {', '.join(sorted(unknown))}")
        raise ManifestError(
            f"{where}: {'; '.join(parts)}", f"a record has exactly the keys {', '.join(sorted(RECORD_KEYS))}"
        )
    name = raw["name"]
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ManifestError(
            f"{where}: function name {name!r} is not a valid SQL name", "names match [a-z_][a-z0-9_]*, at most 64 bytes"
        )
    where = f"{where} ({name})"
    if not isinstance(raw["args"], list):
        raise ManifestError(f"{where}: args must be a list", "")
    args = tuple(_value(a, f"{where} args[{i}]", named=True) for i, a in enumerate(raw["args"]))
    names = [a.name for a in args]
    if len(set(names)) != len(names):
        raise ManifestError(f"{where}: argument names repeat ({', '.join(names)})", "give each argument its own name")
    returns = _value(raw["returns"], f"{where} returns", named=False)
    for key in ("fallible", "deterministic"):
        if not isinstance(raw[key], bool):
            raise ManifestError(f"{where}: {key} must be true or false, not {raw[key]!r}", "")
    styles = raw["styles"]
    if (
        not isinstance(styles, list)
        or not styles
        or any(s not in STYLES for s in styles)
        or len(set(styles)) != len(styles)
    ):
        raise ManifestError(f"{where}: styles {styles!r} must be a non-empty list of distinct {', '.join(STYLES)}", "")
    abi = raw["abi"]
    if not isinstance(abi, str):
        raise ManifestError(f"{where}: abi must be a string such as {ABI_VERSION!r}", "")
    return FunctionSpec(name, abi, args, returns, raw["fallible"], raw["deterministic"], tuple(styles))


def parse_manifest(payloads: list[bytes]) -> list[FunctionSpec]:
    """Every record of every `wasm-qe-udf` section payload. Raises ManifestError on the first bad line."""
    specs: list[FunctionSpec] = []
    for payload in payloads:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(
                f"the {MANIFEST_SECTION} section is not UTF-8 (byte {exc.start})",
                "write the manifest as UTF-8 JSON Lines",
            ) from exc
        for number, line in enumerate(text.split("\n"), 1):
            if line.strip():
                specs.append(parse_record(line.strip().rstrip("\0"), f"manifest line {number}"))
    return specs


def abi_version_problem(abi: str) -> str | None:
    """Why a record's abi string is not one this toolchain knows, or None."""
    match = re.fullmatch(r"(\d+)\.(\d+)", abi)
    if not match:
        return f"abi {abi!r} is not MAJOR.MINOR"
    major, minor = int(match.group(1)), int(match.group(2))
    if major not in KNOWN_MINORS:
        return f"abi {abi} has major version {major}; this toolchain knows {', '.join(map(str, KNOWN_MINORS))}"
    if minor not in KNOWN_MINORS[major]:
        return f"abi {abi} is newer than this toolchain (knows {major}.{max(KNOWN_MINORS[major])})"
    return None
