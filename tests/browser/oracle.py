"""The oracle and the comparisons of the browser suites: native DataFusion (PyPI) configured like
the engine, Arrow values made comparable (exact timestamps, tolerant floats, nested types), and
failure messages that name the statement, row, column and both values."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import datafusion
import pyarrow as pa
import pytest

from toolchain.testing import query_server

REL_TOL = 1e-9
ABS_TOL = 1e-12


# ---------------------------------------------------------------------------------------------
# IPC helpers


def ipc_stream(table: pa.Table, compression: str | None = None, max_chunksize: int | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=max_chunksize)
    return sink.getvalue().to_pybytes()


def ipc_file(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def registration_chunksize(table: pa.Table) -> int | None:
    """The batch size a table is registered with; the oracle gets the same batches, so that a plan
    sorts the same inputs on both sides (ties come out in an order that depends on them)."""
    return 65_536 if table.num_rows > 100_000 else None


def registration_payload(name: str, table: pa.Table) -> bytes:
    # The 1M-row table goes over as LZ4-compressed IPC (the engine decodes LZ4): ~12 MB, not ~31 MB.
    chunk = registration_chunksize(table)
    if chunk is not None:
        return ipc_stream(table, compression="lz4", max_chunksize=chunk)
    return ipc_stream(table)


# ---------------------------------------------------------------------------------------------
# Type inspection


def is_view_type(t: pa.DataType) -> bool:
    return t in (pa.string_view(), pa.binary_view()) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t)


def view_types_in(t: pa.DataType) -> list[pa.DataType]:
    """Every view type at any depth of t."""
    found = [t] if is_view_type(t) else []
    for i in range(t.num_fields):
        found += view_types_in(t.field(i).type)
    if pa.types.is_dictionary(t):
        found += view_types_in(t.value_type)
    return found


def without_views(t: pa.DataType) -> pa.DataType:
    """t with every view type replaced by its plain counterpart: what the engine sends to JS."""
    if t == pa.string_view():
        return pa.string()
    if t == pa.binary_view():
        return pa.binary()
    if pa.types.is_list_view(t) or pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(without_views(t.value_type)))
    if pa.types.is_large_list_view(t) or pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(without_views(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(without_views(t.value_type)), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(without_views(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_map(t):
        return pa.map_(
            t.key_field.with_type(without_views(t.key_type)), t.item_field.with_type(without_views(t.item_type))
        )
    if pa.types.is_dictionary(t):
        return pa.dictionary(t.index_type, without_views(t.value_type), t.ordered)
    return t


def types_equal(a: pa.DataType, b: pa.DataType) -> bool:
    """Equality ignoring nullability of nested fields (DataFusion versions differ on it)."""
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        return a.num_fields == b.num_fields and all(
            a.field(i).name == b.field(i).name and types_equal(a.field(i).type, b.field(i).type)
            for i in range(a.num_fields)
        )
    for check in (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list):
        if check(a) and check(b):
            same_size = not pa.types.is_fixed_size_list(a) or a.list_size == b.list_size
            return same_size and types_equal(a.value_type, b.value_type)
    if pa.types.is_map(a) and pa.types.is_map(b):
        return types_equal(a.key_type, b.key_type) and types_equal(a.item_type, b.item_type)
    return a == b


# ---------------------------------------------------------------------------------------------
# Values: comparable Python values out of Arrow arrays (pyarrow side) and JS-shaped expectations


@dataclass(frozen=True)
class Instant:
    """A timestamp as its raw integer and unit (exact, any resolution); shown as ISO text."""

    raw: int
    unit: str

    def __repr__(self) -> str:
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[self.unit]
        seconds, fraction = divmod(self.raw, per_second)
        text = (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)).isoformat()
        digits = len(str(per_second)) - 1
        return f"{text}.{fraction:0{digits}d}Z" if digits else f"{text}Z"


def _chunks(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _nested_values(array: pa.Array, convert, maps: bool) -> list[Any] | None:
    """Structs as dicts and lists as lists (NULLs kept), their children converted by `convert`;
    dictionaries decoded. None when the array is not nested."""
    t = array.type
    valid = array.is_valid().to_pylist()
    if pa.types.is_struct(t):
        children = [convert(child) for child in array.flatten()]
        names = [t.field(i).name for i in range(t.num_fields)]
        return [{n: c[row] for n, c in zip(names, children)} if valid[row] else None for row in range(len(array))]
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or (maps and pa.types.is_map(t))
    ):
        flat = convert(array.flatten())
        lengths = array.value_lengths().to_pylist()
        out, at = [], 0
        for row in range(len(array)):
            if not valid[row]:
                out.append(None)
                continue
            out.append(flat[at : at + lengths[row]])
            at += lengths[row]
        return out
    if pa.types.is_dictionary(t):
        return convert(array.dictionary_decode())
    return None


def py_values(array: pa.Array) -> list[Any]:
    """Values for comparison: exact for temporal types at any resolution, recursive for nesting."""
    array = _chunks(array)
    t = array.type
    nested = _nested_values(array, py_values, maps=True)
    if nested is not None:
        return nested
    if pa.types.is_timestamp(t):
        return [Instant(v, t.unit) if v is not None else None for v in array.cast(pa.int64()).to_pylist()]
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return array.cast(pa.int64()).to_pylist()
    return array.to_pylist()


def table_rows(table: pa.Table) -> list[tuple]:
    columns = [py_values(column) for column in table.columns]
    return list(zip(*columns)) if columns else []


def values_equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if (
            not isinstance(a, (int, float))
            or not isinstance(b, (int, float))
            or isinstance(a, bool)
            or isinstance(b, bool)
        ):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def sort_key(value: Any) -> tuple:
    """A total order over comparable values (NULLs first; floats rounded so noise cannot reorder)."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        return (2, 0.0 if math.isnan(number) else float(f"{number:.9g}"), math.isnan(number))
    if isinstance(value, Instant):
        return (3, value.raw)
    if isinstance(value, (str, bytes)):
        return (4, value)
    if isinstance(value, (dt.date, dt.datetime, dt.time, dt.timedelta)):
        return (5, str(value))
    if isinstance(value, dict):
        return (6, tuple((k, sort_key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (7, tuple(sort_key(v) for v in value))
    return (8, repr(value))


def js_values(array: pa.Array) -> list[Any]:
    """What window.harness.decode (apache-arrow JS) should give for each value, as JSON values.

    SKIP marks values whose JS shape is not worth predicting (intervals); nothing is compared there.
    """
    array = _chunks(array)
    t = array.type
    nested = _nested_values(array, js_values, maps=False)
    if nested is not None:
        return nested
    if pa.types.is_integer(t):
        safe = 2**53 - 1
        return [None if v is None else v if -safe <= v <= safe else str(v) for v in array.to_pylist()]
    if pa.types.is_floating(t):  # NaN and infinities are not JSON: they come back as null
        return [v if v is not None and math.isfinite(v) else None for v in array.to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t):
        return array.to_pylist()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return [None if v is None else list(v) for v in array.to_pylist()]
    if pa.types.is_timestamp(t):  # milliseconds since the epoch, fractional below a millisecond
        per_ms = {"s": 1e-3, "ms": 1, "us": 1_000, "ns": 1_000_000}[t.unit]
        return [None if v is None else v / per_ms for v in array.cast(pa.int64()).to_pylist()]
    if pa.types.is_date32(t):
        return [None if v is None else v * 86_400_000 for v in array.cast(pa.int32()).to_pylist()]
    if pa.types.is_date64(t):
        return array.cast(pa.int64()).to_pylist()
    if pa.types.is_decimal128(t):  # the unscaled 128-bit integer as four little-endian uint32 words
        out = []
        for v in array.to_pylist():
            if v is None:
                out.append(None)
                continue
            unscaled = int(v.scaleb(t.scale)) % 2**128
            out.append([(unscaled >> (32 * i)) & 0xFFFFFFFF for i in range(4)])
        return out
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return array.cast(pa.int64()).to_pylist()
    return [SKIP] * len(array)


SKIP = object()


def js_equal(expected: Any, got: Any) -> bool:
    if expected is SKIP:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and expected.keys() == got.keys()
            and all(js_equal(expected[k], got[k]) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(got, list) and len(expected) == len(got) and all(js_equal(e, g) for e, g in zip(expected, got))
        )
    if isinstance(expected, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return math.isclose(expected, got, rel_tol=REL_TOL, abs_tol=1e-6)
    if isinstance(expected, int) and not isinstance(expected, bool) and isinstance(got, float):
        return got == expected
    return type(expected) is type(got) and expected == got


# ---------------------------------------------------------------------------------------------
# The oracle


def native_context() -> datafusion.SessionContext:
    """Native DataFusion configured like the engine (the query server uses the same configuration)."""
    return query_server.native_context({})


def native(sql: str, tables: dict[str, pa.Table]) -> pa.Table:
    batched = {
        name: pa.Table.from_batches(table.to_batches(max_chunksize=registration_chunksize(table)), table.schema)
        for name, table in tables.items()
    }
    return query_server.native_context(batched).sql(sql).to_arrow_table()


@dataclass
class Result:
    """One statement's answer from the page: the IPC bytes decoded by pyarrow and by apache-arrow JS."""

    sql: str
    ipc: bytes
    table: pa.Table
    js: dict | None  # {fields, numRows, rows} from window.harness.decode
    js_error: str | None  # set when apache-arrow JS threw while decoding
    timings: dict | None = None  # query_ms, js_decode_ms, pyarrow_decode_ms, ipc_bytes


# ---------------------------------------------------------------------------------------------
# Comparison with messages that say where and why


def describe_types(table: pa.Table) -> str:
    return ", ".join(f"{f.name}: {f.type}" for f in table.schema)


def check_js_compatible(result: Result, label: str) -> None:
    """No view types in what reaches JS, and apache-arrow JS decodes it."""
    leaked = [(f.name, t) for f in result.table.schema for t in view_types_in(f.type)]
    if result.js_error is not None:
        culprit = (
            "; ".join(f"column '{n}' has type {t}, a view type" for n, t in leaked)
            or f"types: {describe_types(result.table)}"
        )
        pytest.fail(
            f"[{label}] apache-arrow JS could not decode the engine's result ({culprit}).\n"
            f"JS error: {result.js_error}\nSQL: {result.sql}",
            pytrace=False,
        )
    if leaked:
        pytest.fail(
            f"[{label}] the engine returned view types to JS: "
            + "; ".join(f"column '{n}' has type {t}" for n, t in leaked)
            + ". apache-arrow JS (<= 21) does not support Utf8View/BinaryView/ListView everywhere; the engine "
            "must cast them to Utf8/Binary/List before writing IPC for JS (js_compatible_type in engine.rs).\n"
            f"SQL: {result.sql}",
            pytrace=False,
        )
    js_types = [field["type"] for field in result.js["fields"]]
    assert not any("View" in t for t in js_types), (
        f"[{label}] apache-arrow JS saw view types {js_types}\nSQL: {result.sql}"
    )


def first_difference(expected: list[tuple], got: list[tuple]) -> tuple[int, int] | None:
    for row, (e, g) in enumerate(zip(expected, got)):
        for column, (ev, gv) in enumerate(zip(e, g)):
            if not values_equal(ev, gv):
                return row, column
    return None


def compare_tables(got: pa.Table, expected: pa.Table, sql: str, ordered: bool, label: str) -> None:
    """The engine's table (pyarrow-decoded) against the oracle's: names, types, then row for row."""
    where = f"[{label}]\nSQL: {sql}"
    assert got.column_names == expected.column_names, (
        f"column names differ\n  engine: {got.column_names}\n  native: {expected.column_names}\n{where}"
    )
    for g, e in zip(got.schema, expected.schema):
        want = without_views(e.type)
        assert types_equal(g.type, want), (
            f"column '{g.name}': the engine returned type {g.type}, native DataFusion {e.type} "
            f"(expected {want} after the engine's view-type cast)\n{where}"
        )
    assert got.num_rows == expected.num_rows, (
        f"row count differs: engine {got.num_rows}, native {expected.num_rows}\n{where}\n"
        f"engine rows (first 5): {table_rows(got)[:5]}\nnative rows (first 5): {table_rows(expected)[:5]}"
    )
    got_rows, expected_rows = table_rows(got), table_rows(expected)
    if not ordered:
        got_rows = sorted(got_rows, key=lambda r: tuple(sort_key(v) for v in r))
        expected_rows = sorted(expected_rows, key=lambda r: tuple(sort_key(v) for v in r))
    diff = first_difference(expected_rows, got_rows)
    if diff is not None:
        row, column = diff
        order = "in result order" if ordered else "after sorting both sides (the SQL has no total ORDER BY)"
        pytest.fail(
            f"{where}\nfirst difference at row {row} ({order}), column '{got.column_names[column]}':\n"
            f"  engine: {got_rows[row][column]!r}\n  native: {expected_rows[row][column]!r}\n"
            f"  engine row: {got_rows[row]!r}\n  native row: {expected_rows[row]!r}",
            pytrace=False,
        )


def compare_js(result: Result, label: str, values: bool = True) -> None:
    """apache-arrow JS's decoding of the same bytes: row count, column names and (by default) values."""
    check_js_compatible(result, label)
    js = result.js
    where = f"[{label}] apache-arrow JS vs pyarrow on the same IPC bytes\nSQL: {result.sql}"
    assert js["numRows"] == result.table.num_rows, f"numRows {js['numRows']} != {result.table.num_rows}\n{where}"
    assert [f["name"] for f in js["fields"]] == result.table.column_names, f"fields {js['fields']}\n{where}"
    if not values or js["rows"] is None:
        return
    expected_columns = {name: js_values(result.table.column(name)) for name in result.table.column_names}
    for row, decoded in enumerate(js["rows"]):
        for name, column in expected_columns.items():
            if not js_equal(column[row], decoded.get(name)):
                pytest.fail(
                    f"{where}\nrow {row}, column '{name}' ({result.table.schema.field(name).type}):\n"
                    f"  apache-arrow JS: {decoded.get(name)!r}\n  expected from pyarrow: {column[row]!r}",
                    pytrace=False,
                )
