"""wazero conformance (issue 15): the Go host on wazero (udf/go/wazero-host, built and run by
toolchain/tools/wazero.py) against the reference host (toolchain/pipeline/udf_call.py, wasmtime).

Every example module, every function, every style its manifest lists, both of wazero's runtimes
(compiler, interpreter): every case of cases.py through both hosts, and the results must be
identical: floats bit for bit, row errors in the same rows with the same messages, json_path's
JSON equal once parsed. Then the host's own behaviour: a trap fails one call and the next request
gets a fresh instance; the document imports (has_field, every getter, dotted names, statuses)
answer as the reference host's do."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.udf import wat_modules
from tests.udf.cases import CASES
from tests.udf.conftest import EXAMPLES
from toolchain.analysis import udf_abi
from toolchain.pipeline import udf_call
from toolchain.pipeline.udf_call import RowError, UdfCallError, UdfInstance, UdfModule
from toolchain.tools import go as go_tool
from toolchain.tools import wazero

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Documents beyond the cases: fields of the wrong type or out of an i32's range (row errors even for
# functions that are not fallible), extra fields, an integer where a float is read.
EXTRA_DOCUMENTS: dict[str, list[dict]] = {
    "custom_score": [
        {"doc_score": "high", "boost": 1.0, "recency_days": 3},
        {"doc_score": 2, "boost": 1.5, "recency_days": 3},
        {"doc_score": 2.0, "boost": 1.5, "recency_days": 2**40},
        {"doc_score": 2.0, "boost": 1.5, "recency_days": 2.5},
        {"doc_score": 2.0, "boost": True, "recency_days": 1, "other": [1, 2]},
    ],
    "levenshtein": [{"a": 1, "b": "x"}, {"a": "x"}, {"a": "abc", "b": "abd", "c": {"d": 1}}],
    "add_one": [{"x": 1.0}, {"x": "1"}, {"x": False}],
}


@pytest.fixture(scope="session")
def host() -> wazero.WazeroHost:
    if go_tool.find() is None:
        pytest.skip("no Go toolchain")
    return wazero.ensure()


# ---------------------------------------------------------------- one result shape for both hosts


def _arrow(type_name: str, values: list) -> pa.Array:
    return pa.array(values, udf_call.arrow_type(type_name))


def _from_reference(value: Any) -> Any:
    """A value of the reference host in the wazero host's JSON terms (timestamps as micros)."""
    if isinstance(value, dt.datetime):
        return (value - EPOCH) // dt.timedelta(microseconds=1)
    return value


def _from_wazero(value: Any, type_name: str) -> Any:
    if value is None:
        return None
    if type_name in ("f32", "f64"):
        return float(value)  # "NaN", "Infinity", "-Infinity" too
    if type_name == "bytes":
        return base64.b64decode(value)
    return value


def _reference(instance: UdfInstance, function: str, request: dict) -> dict:
    """What the reference host answers to one request, as the wazero host writes it."""
    style = request["style"]
    spec = instance.spec.functions[function]
    try:
        if style == "scalar":
            return {"value": _from_reference(instance.call_scalar(function, *request["args"]))}
        if style == "document":
            try:
                return {"value": _from_reference(instance.call_document(function, request["document"]))}
            except RowError as exc:
                return {"error": str(exc)}
        columns = [_arrow(a.type, column) for a, column in zip(spec.args, request["columns"])]
        result = instance.call_batch(function, columns)
        return {"values": [_from_reference(v) for v in result.values.to_pylist()], "errors": result.errors}
    except UdfCallError as exc:
        return {"failure": str(exc)}


def _same_value(a: Any, b: Any, type_name: str, function: str) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if type_name in ("f32", "f64"):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if function == "json_path":
        return json.loads(a) == json.loads(b)
    return type(a) is type(b) and a == b


def _assert_same(got: dict, expected: dict, type_name: str, function: str, where: str) -> None:
    """got: the wazero host's answer; expected: the reference host's."""
    assert set(got) == set(expected), (where, got, expected)
    if "failure" in expected:
        return  # both failed the call; the messages are each host's own
    if "error" in expected:
        assert got["error"] == expected["error"], where
        return
    if "value" in expected:
        assert _same_value(_from_wazero(got["value"], type_name), expected["value"], type_name, function), (
            where,
            got,
            expected,
        )
        return
    values = [_from_wazero(v, type_name) for v in got["values"]]
    assert len(values) == len(expected["values"]), where
    for row, (mine, theirs) in enumerate(zip(values, expected["values"])):
        assert _same_value(mine, theirs, type_name, function), (where, row, mine, theirs)
    assert got["errors"] == expected["errors"], where


def _requests(instance: UdfInstance) -> list[tuple[str, dict]]:
    """(function, request) for every case in every style of every function of the module."""
    requests = []
    for function, spec in instance.spec.functions.items():
        cases = CASES[function]
        names = [a.name for a in spec.args]
        for style in spec.styles:
            if style == "scalar":
                requests += [(function, {"function": function, "style": style, "args": list(c)}) for c in cases]
            elif style == "document":
                documents = [{n: v for n, v in zip(names, c) if v is not None} for c in cases]
                documents += EXTRA_DOCUMENTS.get(function, [])
                requests += [(function, {"function": function, "style": style, "document": d}) for d in documents]
            else:
                columns = [[c[i] for c in cases] for i in range(len(names))]
                requests.append((function, {"function": function, "style": style, "columns": columns}))
    return requests


# ---------------------------------------------------------------- the examples


@pytest.mark.parametrize("mode", wazero.MODES)
@pytest.mark.parametrize("module", [e.name for e in EXAMPLES])
def test_wazero_gives_the_reference_hosts_results(built, instances, host, module: str, mode: str) -> None:
    instance = instances[module]
    requests = _requests(instance)
    answers = wazero.run(built[module].module, [r for _, r in requests], mode)
    styles = set()
    for (function, request), got in zip(requests, answers):
        where = f"{module}.{function}[{request['style']}, {mode}] {json.dumps(request)[:200]}"
        expected = _reference(instance, function, request)
        assert "failure" not in got, (where, got)
        _assert_same(got, expected, instance.spec.functions[function].returns.type, function, where)
        styles.add(request["style"])
    assert styles == {s for spec in instance.spec.functions.values() for s in spec.styles}


def test_every_example_function_and_style_is_covered(built, instances) -> None:
    covered = {
        (function, request["style"]) for instance in instances.values() for function, request in _requests(instance)
    }
    assert {f for f, _ in covered} == set(CASES)
    assert {s for _, s in covered} == set(udf_abi.STYLES)


def test_a_large_batch_and_the_bench(built, host) -> None:
    module = built["c_scoring"].module
    rows = 5000
    words = [f"w{i % 97}x{i % 13}" for i in range(rows)]
    [answer] = wazero.run(module, [{"function": "levenshtein", "style": "batch", "columns": [words, words[::-1]]}])
    reference = UdfModule.load(module).instantiate().call_batch("levenshtein", [pa.array(words), pa.array(words[::-1])])
    assert answer["values"] == reference.values.to_pylist() and answer["errors"] == [None] * rows
    report = wazero.bench(
        module,
        [
            {"function": "custom_score", "style": "scalar", "args": [2.0, 3.0, 5]},
            {"function": "custom_score", "style": "document", "document": {"doc_score": 2.0, "boost": 3.0}},
            {"function": "levenshtein", "style": "batch", "columns": [["kitten", None], ["sitting", "x"]]},
        ],
        mode="interpreter",
        rows=(64, 256),
        rounds=2,
        round_ms=5,
    )
    assert report["mode"] == "interpreter" and report["module_bytes"] == module.stat().st_size
    assert report["compile_ms"] > 0 and report["instantiate_ms"] > 0
    scalar, document, *batches = report["calls"]
    assert scalar["style"] == "scalar" and scalar["per_call_ns"] > 0 and "failure" not in scalar
    assert document["style"] == "document" and document["per_call_ns"] > 0
    assert [b["rows"] for b in batches] == [64, 256]
    assert all(b["per_row_ns"] > 0 and b["per_call_ns"] > b["per_row_ns"] for b in batches)


# ---------------------------------------------------------------- traps and ABI misuse

TRAPPING = r"""
  (func (export "add_one") (param i64) (result i64)
    local.get 0 i64.eqz if unreachable end
    global.get $calls i32.const 1 i32.add global.set $calls
    local.get 0 i64.const 1 i64.add global.get $calls i64.extend_i32_u i64.const 1000 i64.mul i64.add)
  (global $calls (mut i32) (i32.const 0))
  (func (export "add_one__doc") (param i32 i32) (result i32) i32.const 7)
  (func (export "add_one__batch") (param i32) (result i32) i32.const 1)
"""


@pytest.mark.parametrize("mode", wazero.MODES)
def test_a_trap_fails_one_call_and_the_next_gets_a_fresh_instance(tmp_path: Path, host, mode: str) -> None:
    body = "\n".join([wat_modules.MEMORY, wat_modules.ABI_VERSION, wat_modules.ALLOCATOR, TRAPPING])
    module = wat_modules.make(tmp_path, body)

    def scalar(x: int) -> dict:
        return {"function": "add_one", "style": "scalar", "args": [x]}

    answers = wazero.run(
        module,
        [
            scalar(1),
            scalar(1),
            scalar(0),
            scalar(1),  # a fresh instance: its call counter starts again
            {"function": "add_one", "style": "document", "document": {"x": 1}},
            {"function": "add_one", "style": "batch", "columns": [[1, 2]]},
            {"function": "add_one", "style": "nonsense"},
            {"function": "nope", "style": "scalar", "args": []},
            scalar(2),
        ],
        mode,
    )
    assert answers[:2] == [{"value": 1002}, {"value": 2002}]
    assert "trapped" in answers[2]["failure"] and "unreachable" in answers[2]["failure"]
    assert answers[3] == {"value": 1002}
    assert "status 7" in answers[4]["failure"]
    assert "refused the batch descriptor" in answers[5]["failure"]
    assert "bad request" in answers[6]["failure"]
    assert "no function" in answers[7]["failure"]
    assert answers[8] == {"value": 2003}  # no trap since the fresh instance: it kept counting


def test_the_reference_host_fails_the_same_calls(tmp_path: Path) -> None:
    body = "\n".join([wat_modules.MEMORY, wat_modules.ABI_VERSION, wat_modules.ALLOCATOR, TRAPPING])
    instance = UdfModule.load(wat_modules.make(tmp_path, body)).instantiate()
    with pytest.raises(UdfCallError, match="status 7"):
        instance.call_document("add_one", {"x": 1})
    with pytest.raises(UdfCallError, match="unreachable"):
        instance.call_scalar("add_one", 0)


# ---------------------------------------------------------------- the document imports, one by one

# probe_<n>__doc calls one wasmqe_doc function on one field name and returns what it got: the value
# (the 8 bytes the getter wrote, copied into the result cell: a string or bytes field comes back as
# a bytes result the guest received and hands on), NULL for status 1, and for any other status a
# row error whose message is the status ('0' + status: "2", "3", "/" for -1). has_field's answer
# is the i64 result.
PROBES = [
    # (name, import, field name, handle offset, result type)
    ("i64", "get_i64", "v", 0, "i64"),
    ("f64", "get_f64", "v", 0, "f64"),
    ("bool", "get_bool", "v", 0, "bool"),
    ("string", "get_string", "v", 0, "bytes"),
    ("bytes", "get_bytes", "v", 0, "bytes"),
    ("has", "has_field", "v", 0, "i64"),
    ("dotted", "get_i64", "a.b", 0, "i64"),
    ("dotted_has", "has_field", "a.b", 0, "i64"),
    ("deep", "get_string", "a.b.c", 0, "bytes"),
    ("bad_handle", "get_i64", "v", 1000, "i64"),
    ("bad_handle_has", "has_field", "v", 1000, "i64"),
]

PROBE_DOCUMENTS = [
    {"v": 5},
    {"v": -(2**63)},
    {"v": 2**63 - 1},
    {"v": 2.5},
    {"v": -0.0},
    {"v": 1e-320},
    {"v": float("nan")},
    {"v": float("-inf")},
    {"v": True},
    {"v": False},
    {"v": "héllo, 日本"},
    {"v": ""},
    {"v": b"\x00\xff\x80"},
    {"v": dt.datetime(2024, 2, 29, 12, 30, 1, 5, tzinfo=dt.UTC)},
    {"v": None},
    {},
    {"v": [1, 2]},
    {"v": {"w": 1}},
    {"a": {"b": 7}},
    {"a": {"b": None}},
    {"a.b": 3, "a": {"b": 4}},
    {"a": {"b": {"c": "deep"}}},
    {"a": {"b": {"c": 1}}},
    {"a": 1},
    {"a": "b"},
]


def _probe_module(tmp_path: Path) -> Path:
    names = {}
    data = []
    offset = 16
    for _, _, field, _, _ in PROBES:
        if field not in names:
            names[field] = offset
            data.append(f'(data (i32.const {offset}) "{field}")')
            offset += 16
    imports = [
        f'(import "wasmqe_doc" "{name}" (func ${name} (param {"i32 " * (3 if name == "has_field" else 4)}) (result i32)))'
        for name in sorted({p[1] for p in PROBES})
    ]
    functions = []
    for name, imported, field, delta, _ in PROBES:
        args = f"local.get $doc i32.const {delta} i32.add i32.const {names[field]} i32.const {len(field.encode())}"
        if imported == "has_field":
            functions.append(
                f'(func (export "probe_{name}__doc") (param $doc i32) (param $out i32) (result i32)\n'
                f"  local.get $out {args} call $has_field i64.extend_i32_s i64.store i32.const 0)"
            )
            continue
        functions.append(
            f'(func (export "probe_{name}__doc") (param $doc i32) (param $out i32) (result i32) (local $s i32) (local $p i32)\n'
            f"  {args} i32.const 512 call ${imported} local.set $s\n"
            "  local.get $s i32.eqz if local.get $out i32.const 512 i64.load i64.store i32.const 0 return end\n"
            "  local.get $s i32.const 1 i32.eq if i32.const 1 return end\n"
            "  i32.const 1 i32.const 1 call $alloc local.tee $p local.get $s i32.const 48 i32.add i32.store8\n"
            "  local.get $out local.get $p i32.store local.get $out i32.const 1 i32.store offset=4 i32.const 2)"
        )
    allocator = wat_modules.ALLOCATOR.replace('(func (export "wasmqe_alloc")', '(func $alloc (export "wasmqe_alloc")')
    body = "\n".join([*imports, wat_modules.MEMORY, *data, wat_modules.ABI_VERSION, allocator, *functions])
    records = [
        {
            "abi": "1.0",
            "name": f"probe_{name}",
            "args": [],
            "returns": {"type": result, "nullable": True},
            "fallible": True,
            "deterministic": True,
            "styles": ["document"],
        }
        for name, _, _, _, result in PROBES
    ]
    return wat_modules.make(tmp_path, body, records=records, name="probes")


@pytest.mark.parametrize("mode", wazero.MODES)
def test_the_document_imports_answer_as_the_reference_hosts_do(tmp_path: Path, host, mode: str) -> None:
    module = _probe_module(tmp_path)
    instance = UdfModule.load(module).instantiate()
    requests = [
        (f"probe_{name}", {"function": f"probe_{name}", "style": "document", "document": document})
        for name, *_ in PROBES
        for document in PROBE_DOCUMENTS
    ]
    answers = wazero.run(module, [r for _, r in requests], mode)
    statuses = set()
    for (function, request), got in zip(requests, answers):
        where = f"{function}[{mode}] {request['document']!r}"
        expected = _reference(instance, function, request)
        assert "failure" not in got and "failure" not in expected, (where, got, expected)
        _assert_same(got, expected, instance.spec.functions[function].returns.type, function, where)
        statuses.add(got["error"] if "error" in got else "null" if got["value"] is None else "value")
    assert statuses == {"value", "null", "2", "/"}


# ---------------------------------------------------------------- every type through batch and scalar

# echo_<type>__batch copies its argument column (validity, offsets, values) into buffers it
# allocates and returns it as the result: every type's Arrow layout, written by one host and read
# back by it. ident_<type> is the scalar identity of each fixed-width type.
ECHO_COLUMNS: dict[str, list] = {
    "bool": [True, None, False, True, True, False, False, True, None, True, False],
    "i32": [0, -1, 2**31 - 1, -(2**31), None, 7],
    "i64": [0, -1, 2**63 - 1, -(2**63), None],
    "f32": [1.5, -0.0, None, 3.4e38, 0.1, float("nan"), float("inf"), 1e-45],
    "f64": [0.1, -0.0, 5e-324, None, float("-inf"), 1.7976931348623157e308],
    "string": ["", "é", None, "日本語 text", "a" * 100],
    "bytes": [b"", b"\x00\xff", None, bytes(range(256))],
    "timestamp": [0, -1, None, 253402300799999999, -62135596800000000],
}
SCALAR_TYPES = {"bool": "i32", "i32": "i32", "i64": "i64", "f32": "f32", "f64": "f64", "timestamp": "i64"}

ECHO = r"""
  (func $dup (param $p i32) (param $n i32) (result i32) (local $q i32)
    local.get $p i32.eqz if i32.const 0 return end
    local.get $n i32.const 8 call $alloc local.set $q
    local.get $q local.get $p local.get $n memory.copy
    local.get $q)
  (func $echo (param $d i32) (result i32) (local $rows i32)
    local.get $d i32.load offset=4 local.set $rows
    local.get $d local.get $d i32.load offset=16 i32.store offset=40
    local.get $d local.get $d i32.load offset=20 local.get $rows i32.const 7 i32.add i32.const 8 i32.div_u call $dup
    i32.store offset=44
    local.get $d local.get $d i32.load offset=24 local.get $rows i32.const 1 i32.add i32.const 4 i32.mul call $dup
    i32.store offset=48
    local.get $d local.get $d i32.load offset=28 local.get $d i32.load offset=32 call $dup i32.store offset=52
    local.get $d local.get $d i32.load offset=32 i32.store offset=56
    i32.const 0)
"""


def _echo_module(tmp_path: Path) -> Path:
    allocator = wat_modules.ALLOCATOR.replace('(func (export "wasmqe_alloc")', '(func $alloc (export "wasmqe_alloc")')
    functions = [
        f'(func (export "echo_{t}__batch") (param i32) (result i32) local.get 0 call $echo)' for t in ECHO_COLUMNS
    ]
    functions += [f'(func (export "ident_{t}") (param {w}) (result {w}) local.get 0)' for t, w in SCALAR_TYPES.items()]
    records = [
        {
            "abi": "1.0",
            "name": f"echo_{t}",
            "args": [{"name": "x", "type": t, "nullable": True}],
            "returns": {"type": t, "nullable": True},
            "fallible": False,
            "deterministic": True,
            "styles": ["batch"],
        }
        for t in ECHO_COLUMNS
    ] + [
        {
            "abi": "1.0",
            "name": f"ident_{t}",
            "args": [{"name": "x", "type": t}],
            "returns": {"type": t},
            "fallible": False,
            "deterministic": True,
            "styles": ["scalar"],
        }
        for t in SCALAR_TYPES
    ]
    body = "\n".join([wat_modules.MEMORY, wat_modules.ABI_VERSION, allocator, ECHO, *functions])
    return wat_modules.make(tmp_path, body, records=records, name="echo")


@pytest.mark.parametrize("mode", wazero.MODES)
def test_every_type_crosses_both_hosts_alike(tmp_path: Path, host, mode: str) -> None:
    module = _echo_module(tmp_path)
    instance = UdfModule.load(module).instantiate()
    requests = [
        (f"echo_{t}", {"function": f"echo_{t}", "style": "batch", "columns": [values]})
        for t, values in ECHO_COLUMNS.items()
    ]
    requests += [
        (f"echo_{t}", {"function": f"echo_{t}", "style": "batch", "columns": [[]]}) for t in ("string", "bool")
    ]
    requests += [
        (f"ident_{t}", {"function": f"ident_{t}", "style": "scalar", "args": [v]})
        for t in SCALAR_TYPES
        for v in ECHO_COLUMNS[t]
    ]
    answers = wazero.run(module, [r for _, r in requests], mode)
    for (function, request), got in zip(requests, answers):
        where = f"{function}[{mode}] {request}"
        expected = _reference(instance, function, request)
        assert "failure" not in got and "failure" not in expected, (where, got, expected)
        _assert_same(got, expected, instance.spec.functions[function].returns.type, function, where)
    echoed = {function: got for (function, request), got in zip(requests, answers) if request["style"] == "batch"}
    assert [_from_wazero(v, "bytes") for v in echoed["echo_bytes"]["values"]] == ECHO_COLUMNS["bytes"]
    assert echoed["echo_timestamp"]["values"] == ECHO_COLUMNS["timestamp"]
