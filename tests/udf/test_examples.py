"""The example UDFs, built by `udf build` in every language (Rust, C, Go), called in every style the
manifest lists, compared with the Python references (tests/udf/reference.py) row by row, and with
each other: the same function in C, Go and Rust must give identical results.

The modules are built once per session (conftest.py: `built`, `instances`); the cases are in
cases.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

from tests.udf import reference
from tests.udf.cases import CASES
from toolchain.analysis import wasm_module
from toolchain.pipeline.udf_call import RowError

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- what each build produced


def test_every_example_builds_in_its_language(built) -> None:
    assert {r.record.language for r in built.values()} == {"rust", "c", "go"}
    for name, result in built.items():
        assert result.module.is_file(), name
        stages = [s.name for s in result.record.stages]
        assert stages[0] == "compile" and stages[-1] == "final" and "wasm-opt" in stages, (name, stages)
        report = json.loads(result.layout.size_report.read_text())
        assert report["final"]["raw"] == result.module.stat().st_size
        assert report["final"]["gzip"] < report["final"]["raw"]
        assert json.loads(result.layout.record_path.read_text())["functions"] == result.record.functions


def test_the_go_manifest_is_appended_and_survives_wasm_opt(built) -> None:
    go = built["go_scoring"]
    assert [s.name for s in go.record.stages] == ["compile", "manifest", "wasm-opt", "final"]
    module = wasm_module.parse(go.module)
    [payload] = module.custom_sections("wasm-qe-udf")
    assert payload == (ROOT / "udf/go/examples/scoring/wasm-qe-udf.jsonl").read_bytes()


def test_every_module_declares_a_memory_maximum_from_the_policy(built) -> None:
    for name, result in built.items():
        [memory] = wasm_module.parse(result.module).memories
        assert memory.maximum == 4096, name


def test_a_trivial_rust_udf_is_under_20_kb(built) -> None:
    size = built["udf-hello"].module.stat().st_size
    assert size < 20_000, f"udf-hello is {size} bytes"


def test_names_are_stripped_from_the_shipped_module(built) -> None:
    for name, result in built.items():
        assert not wasm_module.parse(result.module).custom_sections("name"), name


# ---------------------------------------------------------------- results against the references


def _expected(function: str, args: tuple):
    """(value, error?) from the reference; a NULL argument gives NULL (every example is strict)."""
    if any(a is None for a in args):
        return None, False
    try:
        value = getattr(reference, function)(*args)
    except ValueError:
        return None, True
    return value, False


def _normalise(function: str, value):
    if function == "json_path" and value is not None:
        return json.loads(value)
    return value


def _arrow(type_name: str, values: list) -> pa.Array:
    types = {
        "i64": pa.int64(),
        "i32": pa.int32(),
        "f64": pa.float64(),
        "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    return pa.array(values, types[type_name])


def _functions(instances) -> list[tuple[str, str]]:
    return [(module, function) for module, instance in instances.items() for function in instance.spec.functions]


def test_every_case_in_every_style_matches_the_reference(instances) -> None:
    covered = set()
    for module, function in _functions(instances):
        instance = instances[module]
        spec = instance.spec.functions[function]
        cases = CASES[function]
        expected = [_expected(function, args) for args in cases]
        names = [a.name for a in spec.args]
        for style in spec.styles:
            covered.add((function, style))
            if style == "batch":
                columns = [_arrow(a.type, [case[i] for case in cases]) for i, a in enumerate(spec.args)]
                result = instance.call_batch(function, columns)
                for row, (case, (value, error)) in enumerate(zip(cases, expected)):
                    got = result.values[row].as_py()
                    if spec.returns.type == "timestamp" and got is not None:
                        got = int(got.timestamp() * 1_000_000)
                    where = f"{module}.{function}__batch{case}"
                    assert (result.errors[row] is not None) == error, (where, result.errors[row])
                    assert _normalise(function, got) == value, where
                continue
            for case, (value, error) in zip(cases, expected):
                where = f"{module}.{function}[{style}]{case}"
                if style == "scalar":
                    assert instance.call_scalar(function, *case) == value, where
                    continue
                document = {n: v for n, v in zip(names, case) if v is not None}
                try:
                    got = instance.call_document(function, document)
                except RowError as exc:
                    assert error, (where, str(exc))
                    assert str(exc), where
                    continue
                assert not error, where
                assert _normalise(function, got) == value, where
    assert ("custom_score", "scalar") in covered and ("levenshtein", "batch") in covered
    assert {f for f, _ in covered} == set(CASES)


def test_row_errors_carry_the_modules_message(instances) -> None:
    text = instances["udf-text"]
    with pytest.raises(RowError, match="invalid JSON document at byte"):
        text.call_document("json_path", {"doc": '{"a": 1', "path": "$.a"})
    result = text.call_batch(
        "regex_extract", [pa.array(["x", "x"]), pa.array(["(x", "(x)"]), pa.array([1, 1], pa.int32())]
    )
    assert result.errors[0] and "invalid regular expression" in result.errors[0]
    assert result.errors[1] is None and result.values.to_pylist() == [None, "x"]


def test_a_document_with_a_wrong_field_type_is_a_row_error_not_a_trap(instances) -> None:
    for module in ("udf-scoring", "c_scoring", "go_scoring"):
        with pytest.raises(RowError):
            instances[module].call_document("custom_score", {"doc_score": "high", "boost": 1.0, "recency_days": 3})
        # and the instance keeps working
        assert instances[module].call_scalar("custom_score", 1.0, 2.0, 3) == 3.0
    with pytest.raises(RowError, match="another type"):  # an integer no i64 holds
        instances["udf-hello"].call_document("add_one", {"x": 2**70})


def test_c_go_and_rust_agree_on_the_same_functions(instances) -> None:
    rng = random.Random(20261129)
    alphabet = "abcxyzñü日 "
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(400)]
    a, b = pa.array(words[:200]), pa.array(words[200:])
    scores = [
        pa.array([rng.uniform(-100, 100) for _ in range(300)]),
        pa.array([rng.uniform(0, 3) for _ in range(300)]),
        pa.array([rng.randint(-5, 60) for _ in range(300)], pa.int32()),
    ]
    results = {}
    for module in ("udf-text", "c_scoring", "go_scoring"):
        results.setdefault("levenshtein", []).append(
            instances[module].call_batch("levenshtein", [a, b]).values.to_pylist()
        )
    for module in ("udf-scoring", "c_scoring", "go_scoring"):
        results.setdefault("custom_score", []).append(
            instances[module].call_batch("custom_score", scores).values.to_pylist()
        )
    for function, outputs in results.items():
        assert outputs[0] == outputs[1] == outputs[2], function
    assert results["levenshtein"][0] == [reference.levenshtein(x, y) for x, y in zip(words[:200], words[200:])]


def test_a_large_batch_is_one_call(instances) -> None:
    n = 50_000
    result = instances["udf-text"].call_batch("levenshtein", [pa.array(["abcdefgh"] * n), pa.array(["abcdxfgh"] * n)])
    assert result.values.to_pylist() == [1] * n and result.error_count == 0
