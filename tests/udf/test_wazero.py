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
    types = {
        "bool": pa.bool_(),
        "i32": pa.int32(),
        "i64": pa.int64(),
        "f32": pa.float32(),
        "f64": pa.float64(),
        "string": pa.string(),
        "bytes": pa.binary(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    return pa.array(values, types[type_name])


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
