"""Calling a UDF module through the ABI (docs/udf-abi.md) in wasmtime: scalar, document and batch.

The host side of the ABI, kept small and exact: the examples' tests compare every style against
Python references through it, and `udf bundle` proves with it that precompiled artifacts load.
(The reference host of issue 15 adds tiering, limits and pooling on top of this.)

Copies on the batch path, per column: one into guest memory (`Memory.write` of each Arrow buffer)
and one out (`Memory.read` of the result's buffers); pyarrow wraps the bytes read without copying.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolchain.analysis import udf_abi, udf_validate, wasm_module
from toolchain.core.errors import StageFailed, ToolchainError
from toolchain.tools import wasmtime as wt


class UdfCallError(StageFailed):
    """A call failed as a whole: a trap (the instance is discarded), or a module that broke the ABI."""

    title = "UDF call failed"


class RowError(Exception):
    """A per-row error the function returned as a value (document and scalar styles)."""


@dataclass(frozen=True)
class BatchResult:
    values: Any  # a pyarrow Array
    errors: list[str | None]  # per row: the row's error message, or None

    @property
    def error_count(self) -> int:
        return sum(e is not None for e in self.errors)


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        from toolchain.core.errors import MissingTool

        raise MissingTool("batch calls need pyarrow", "pip install 'wasm-qe-toolchain[udf]' (or pyarrow)") from exc
    return pyarrow


def arrow_type(type_name: str) -> Any:
    """The Arrow type of an ABI type (docs/udf-abi.md section 2)."""
    pa = _pyarrow()

    return {
        "bool": pa.bool_(),
        "i32": pa.int32(),
        "i64": pa.int64(),
        "f32": pa.float32(),
        "f64": pa.float64(),
        "string": pa.string(),
        "bytes": pa.binary(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[type_name]


class UdfModule:
    """A compiled module and its manifest, for one engine. Instances come from `instantiate()`."""

    def __init__(
        self,
        engine: Any,
        module: Any,
        functions: list[udf_abi.FunctionSpec],
        wasi: bool,
        settings: wt.EngineSettings | None = None,
    ):
        self.settings = settings or wt.EngineSettings()
        self.engine = engine
        self.module = module
        self.functions = {spec.name: spec for spec in functions}
        self.wasi = wasi

    @classmethod
    def load(
        cls,
        wasm: Path,
        settings: wt.EngineSettings | None = None,
        artifact: bytes | None = None,
        policy: Path | None = None,
    ) -> UdfModule:
        """Validates the module, then compiles it, or deserializes `artifact` (its precompiled code)."""
        validation = udf_validate.validate(wasm, policy)
        if not validation.ok:
            first = validation.problems[0]
            raise ToolchainError(
                f"{wasm} is not a valid UDF module: [{first.rule}] {first.subject}: {first.problem} "
                f"({len(validation.problems)} problem(s); `nox -s udf -- validate {wasm}` lists them)",
                first.fix,
            )
        settings = settings or wt.EngineSettings()
        engine = wt.make_engine(settings)
        wasmtime = wt.module_api()
        if artifact is not None:
            compiled = wt.deserialize(settings, artifact, engine)
        else:
            compiled = wasmtime.Module(engine, wasm.read_bytes())
        wasi = any(i.module.startswith("wasi") for i in wasm_module.parse(wasm).imports)
        return cls(engine, compiled, validation.functions, wasi, settings)

    def instantiate(
        self, fuel: int | None = None, epoch_deadline: int | None = None, memory_limit: int | None = None
    ) -> UdfInstance:
        """A fresh instance. An engine that meters fuel or epochs needs the budget before any guest
        code runs (`_initialize` and the ABI version check run here)."""
        return UdfInstance(self, fuel, epoch_deadline, memory_limit)


class UdfInstance:
    """One instance: calls run one at a time; after a trap it refuses every call (the ABI's rule)."""

    def __init__(
        self,
        module: UdfModule,
        fuel: int | None = None,
        epoch_deadline: int | None = None,
        memory_limit: int | None = None,
    ):
        wasmtime = wt.module_api()
        self._wasmtime = wasmtime
        self.spec = module
        self.store = wasmtime.Store(module.engine)
        if memory_limit is not None:
            # memory.grow past it returns -1; one instance, one memory, a small table.
            self.store.set_limits(memory_size=memory_limit, instances=1, memories=1, tables=1, table_elements=10_000)
        if module.settings.fuel:
            if fuel is None:
                raise ToolchainError(
                    "this engine consumes fuel: give the instance a fuel budget", "instantiate(fuel=N)"
                )
            self.store.set_fuel(fuel)
        if module.settings.epoch:
            if epoch_deadline is None:
                raise ToolchainError(
                    "this engine interrupts on epochs: give the instance a deadline", "instantiate(epoch_deadline=N)"
                )
            self.store.set_epoch_deadline(epoch_deadline)
        linker = wasmtime.Linker(module.engine)
        if module.wasi:
            linker.define_wasi()
            self.store.set_wasi(wasmtime.WasiConfig())  # no files, no environment, no arguments
        self._documents: dict[int, dict] = {}
        self._next_handle = 1
        self._define_document_api(linker)
        self.instance = linker.instantiate(self.store, module.module)
        exports = self.instance.exports(self.store)
        self.memory = exports["memory"]
        self._exports = exports
        self.lost: str | None = None
        if "_initialize" in exports:
            self._call(exports["_initialize"])
        version = self._call(exports[udf_abi.EXPORT_ABI_VERSION])
        if version != udf_abi.ABI_MAJOR:
            raise UdfCallError(
                f"the module's wasmqe_abi_version() is {version}, this host speaks ABI {udf_abi.ABI_MAJOR}",
                "rebuild the module with an SDK for this ABI",
            )

    # ------------------------------------------------------------ plumbing

    def _call(self, func: Any, *args: Any) -> Any:
        if self.lost:
            raise UdfCallError(
                f"this instance was discarded after a trap ({self.lost})", "instantiate the module again"
            )
        try:
            return func(self.store, *args)
        except self._wasmtime.Trap as exc:
            lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
            code = getattr(exc, "trap_code", None)
            self.lost = next(
                (line for line in reversed(lines) if not line.startswith(("0:", "1:", "2:", "3:", "4:", "5:"))), "trap"
            )
            if code is not None and str(code) not in self.lost:
                self.lost = f"{self.lost} ({code})"
            raise UdfCallError(
                f"the UDF trapped: {self.lost}",
                "a trap is a bug in the module or a limit hit; the instance is discarded",
            ) from exc

    def _export(self, name: str) -> Any:
        func = self._exports.get(name) if hasattr(self._exports, "get") else None
        if func is None:
            try:
                func = self._exports[name]
            except KeyError as exc:
                raise UdfCallError(
                    f"the module does not export {name}", "check the function's styles in its manifest"
                ) from exc
        return func

    def alloc(self, size: int, align: int = udf_abi.BUFFER_ALIGN) -> int:
        pointer = self._call(self._export(udf_abi.EXPORT_ALLOC), size, align)
        if pointer == 0:
            raise UdfCallError(
                f"the guest could not allocate {size} bytes", "raise the memory limit or use smaller batches"
            )
        return pointer

    def dealloc(self, pointer: int, size: int, align: int = udf_abi.BUFFER_ALIGN) -> None:
        self._call(self._export(udf_abi.EXPORT_DEALLOC), pointer, size, align)

    def read(self, pointer: int, size: int) -> bytes:
        """Bytes of guest memory. A range past the end is the guest's bug, reported: wasmtime-py's
        Memory.read would silently return fewer bytes."""
        if not size:
            return b""
        end = self.memory.data_len(self.store)
        if pointer < 0 or size < 0 or pointer + size > end:
            raise UdfCallError(
                f"the guest handed the host a buffer out of its memory ({pointer}+{size} > {end} bytes)",
                "a bug in the module (a wrong pointer or length in a result cell or descriptor)",
            )
        return bytes(self.memory.read(self.store, pointer, pointer + size))

    def write(self, pointer: int, data: bytes) -> None:
        if data:
            self.memory.write(self.store, data, pointer)

    def _spec(self, name: str) -> udf_abi.FunctionSpec:
        try:
            return self.spec.functions[name]
        except KeyError as exc:
            raise UdfCallError(
                f"no function {name!r} in the module's manifest", f"known: {', '.join(self.spec.functions)}"
            ) from exc

    # ------------------------------------------------------------ scalar

    def call_scalar(self, name: str, *args: Any) -> Any:
        spec = self._spec(name)
        if "scalar" not in spec.styles:
            raise UdfCallError(
                f"{name} has no scalar style (its styles: {', '.join(spec.styles)})", "call it as a document or a batch"
            )
        if len(args) != len(spec.args):
            raise UdfCallError(f"{name} takes {len(spec.args)} argument(s), got {len(args)}", "")
        if any(a is None for a in args):
            return None  # strict: NULL in, NULL out, without calling
        wasm_args = [_to_scalar(a, v.type) for a, v in zip(args, spec.args)]
        return _from_scalar(self._call(self._export(name), *wasm_args), spec.returns.type)

    # ------------------------------------------------------------ document

    def call_document(self, name: str, document: dict) -> Any:
        """The function's result for one document (a dict; dotted names reach nested dicts).
        Raises RowError for the row's error value."""
        spec = self._spec(name)
        if "document" not in spec.styles:
            raise UdfCallError(f"{name} has no document style (its styles: {', '.join(spec.styles)})", "")
        handle = self._next_handle
        self._next_handle += 1
        self._documents[handle] = document
        cell = self.alloc(udf_abi.RESULT_CELL_SIZE)
        try:
            status = self._call(self._export(spec.export_name("document")), handle, cell)
            raw = self.read(cell, udf_abi.RESULT_CELL_SIZE)
        finally:
            self._documents.pop(handle, None)
        try:
            if status == udf_abi.DOC_NULL:
                return None
            if status == udf_abi.DOC_ERROR:
                pointer, length = struct.unpack_from("<II", raw)
                message = self.read(pointer, length).decode("utf-8", errors="replace")
                self.dealloc(pointer, length, 1)
                raise RowError(message)
            if status != udf_abi.DOC_OK:
                raise UdfCallError(
                    f"{name}__doc returned status {status}, which the ABI does not define", "a bug in the module"
                )
            return self._read_cell(raw, spec.returns.type)
        finally:
            if not self.lost:
                self.dealloc(cell, udf_abi.RESULT_CELL_SIZE)

    def _read_cell(self, raw: bytes, type_name: str) -> Any:
        if type_name in ("string", "bytes"):
            pointer, length = struct.unpack_from("<II", raw)
            data = self.read(pointer, length)
            self.dealloc(pointer, length, 1)
            return data.decode("utf-8") if type_name == "string" else data
        fmt = {"bool": "<i", "i32": "<i", "i64": "<q", "timestamp": "<q", "f32": "<f", "f64": "<d"}[type_name]
        return _from_scalar(struct.unpack_from(fmt, raw)[0], type_name)

    def _field(self, caller: Any, doc: int, name_ptr: int, name_len: int) -> tuple[int, Any]:
        document = self._documents.get(doc)
        if document is None:
            return udf_abi.GET_BAD_HANDLE, None
        if name_ptr < 0 or name_len < 0 or name_ptr + name_len > self.memory.data_len(caller):
            return udf_abi.GET_ABSENT, None  # a name out of the guest's memory names no field
        path = bytes(self.memory.read(caller, name_ptr, name_ptr + name_len)).decode("utf-8", errors="replace")
        value: Any = document
        for part in [path] if path in document else path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return udf_abi.GET_ABSENT, None
            value = value[part]
        return (udf_abi.GET_ABSENT, None) if value is None else (udf_abi.GET_OK, value)

    def _define_document_api(self, linker: Any) -> None:
        wasmtime = self._wasmtime
        i32 = wasmtime.ValType.i32()

        def has_field(caller: Any, doc: int, p: int, n: int) -> int:
            status, _ = self._field(caller, doc, p, n)
            return status if status == udf_abi.GET_BAD_HANDLE else int(status == udf_abi.GET_OK)

        def getter(kind: str):
            def get(caller: Any, doc: int, p: int, n: int, out: int) -> int:
                status, value = self._field(caller, doc, p, n)
                if status != udf_abi.GET_OK:
                    return status
                encoded = _encode_field(value, kind)
                if encoded is None:
                    return udf_abi.GET_WRONG_TYPE
                if kind in ("string", "bytes"):
                    alloc = caller.get(udf_abi.EXPORT_ALLOC)
                    pointer = alloc(caller, len(encoded), 1)
                    if pointer == 0:
                        return udf_abi.GET_NO_MEMORY
                    self.memory.write(caller, encoded, pointer)
                    self.memory.write(caller, struct.pack("<II", pointer, len(encoded)), out)
                else:
                    self.memory.write(caller, encoded, out)
                return udf_abi.GET_OK

            return get

        linker.define_func(
            udf_abi.DOC_IMPORT_MODULE, "has_field", wasmtime.FuncType([i32] * 3, [i32]), has_field, access_caller=True
        )
        for kind in ("i64", "f64", "bool", "string", "bytes"):
            linker.define_func(
                udf_abi.DOC_IMPORT_MODULE,
                f"get_{kind}",
                wasmtime.FuncType([i32] * 4, [i32]),
                getter(kind),
                access_caller=True,
            )

    # ------------------------------------------------------------ batch

    def call_batch(self, name: str, columns: list[Any]) -> BatchResult:
        """One call over pyarrow arrays (one per argument, equal lengths); returns the result column
        and each row's error."""
        pa = _pyarrow()
        spec = self._spec(name)
        if "batch" not in spec.styles:
            raise UdfCallError(f"{name} has no batch style (its styles: {', '.join(spec.styles)})", "")
        if len(columns) != len(spec.args):
            raise UdfCallError(f"{name} takes {len(spec.args)} argument(s), got {len(columns)} columns", "")
        rows = len(columns[0]) if columns else 0
        if any(len(c) != rows for c in columns):
            raise UdfCallError(f"{name}: the columns have different lengths ({[len(c) for c in columns]})", "")
        owned: list[tuple[int, int]] = []
        descriptor_size = udf_abi.descriptor_size(len(spec.args))
        try:
            descriptor = bytearray(descriptor_size)
            struct.pack_into("<IIII", descriptor, 0, udf_abi.ABI_MAJOR, rows, len(spec.args), 0)
            for index, (column, value) in enumerate(zip(columns, spec.args)):
                column = _normalise(pa.array(column) if not isinstance(column, pa.Array) else column, value.type)
                fields = self._write_column(column, value.type, owned)
                struct.pack_into("<6I", descriptor, udf_abi.HEADER_SIZE + udf_abi.COLUMN_SIZE * index, *fields)
            pointer = self.alloc(descriptor_size)
            owned.append((pointer, descriptor_size))
            self.write(pointer, bytes(descriptor))
            status = self._call(self._export(spec.export_name("batch")), pointer)
            if status == udf_abi.BATCH_BAD_DESCRIPTOR:
                raise UdfCallError(
                    f"{name}__batch refused the batch descriptor (status 1)",
                    "the columns' types must be the manifest's",
                )
            if status == udf_abi.BATCH_NO_MEMORY:
                raise UdfCallError(
                    f"{name}__batch could not allocate its output (status 2)",
                    "use smaller batches or raise the memory limit",
                )
            if status != udf_abi.BATCH_OK:
                raise UdfCallError(
                    f"{name}__batch returned status {status}, which the ABI does not define", "a bug in the module"
                )
            written = self.read(pointer, descriptor_size)
            result = self._take_result(written, spec.returns.type, rows, len(spec.args))
            errors = self._take_errors(written, rows, len(spec.args))
            return BatchResult(result, errors)
        finally:
            if not self.lost:
                for p, size in owned:
                    self.dealloc(p, size)

    def _put(self, data: bytes, owned: list[tuple[int, int]]) -> int:
        pointer = self.alloc(len(data))
        owned.append((pointer, len(data)))
        self.write(pointer, data)
        return pointer

    def _write_column(self, column: Any, type_name: str, owned: list[tuple[int, int]]) -> tuple[int, ...]:
        tag = udf_abi.TYPES[type_name][0]
        buffers = column.buffers()
        rows = len(column)
        validity = 0
        if column.null_count and buffers[0] is not None:
            validity = self._put(buffers[0].to_pybytes()[: (rows + 7) // 8], owned)
        if type_name in ("string", "bytes"):
            offsets_bytes = buffers[1].to_pybytes()[: 4 * (rows + 1)] if rows else struct.pack("<i", 0)
            data = buffers[2].to_pybytes() if buffers[2] is not None else b""
            end = struct.unpack_from("<i", offsets_bytes, 4 * rows)[0]
            offsets = self._put(offsets_bytes, owned)
            values = self._put(data[:end], owned)
            return (tag, validity, offsets, values, end, 0)
        width = udf_abi.TYPES[type_name][2]
        length = (rows + 7) // 8 if width is None else rows * width
        data = buffers[1].to_pybytes()[:length] if buffers[1] is not None else b""
        data = data.ljust(length, b"\0")
        return (tag, validity, 0, self._put(data, owned), length, 0)

    def _take(self, pointer: int, size: int) -> bytes:
        if not pointer:
            return b""
        data = self.read(pointer, size)
        self.dealloc(pointer, size)
        return data

    def _take_result(self, written: bytes, type_name: str, rows: int, num_args: int) -> Any:
        import pyarrow as pa

        tag, validity, offsets, values, values_len, _ = struct.unpack_from(
            "<6I", written, udf_abi.result_column_offset(num_args)
        )
        if udf_abi.TYPE_BY_TAG.get(tag) != type_name:
            raise UdfCallError(
                f"the guest wrote a result column of type tag {tag}, the manifest says {type_name}",
                "a bug in the module",
            )
        bitmap = self._take(validity, (rows + 7) // 8)
        result_type = arrow_type(type_name)
        validity_buffer = pa.py_buffer(bitmap) if validity else None
        if type_name in ("string", "bytes"):
            offsets_data = self._take(offsets, 4 * (rows + 1))
            data = self._take(values, values_len)
            array = pa.Array.from_buffers(
                result_type, rows, [validity_buffer, pa.py_buffer(offsets_data), pa.py_buffer(data)]
            )
        else:
            data = self._take(values, values_len)
            array = pa.Array.from_buffers(result_type, rows, [validity_buffer, pa.py_buffer(data)])
        array.validate(full=True)
        return array

    def _take_errors(self, written: bytes, rows: int, num_args: int) -> list[str | None]:
        count, bitmap_ptr, offsets_ptr, messages_ptr, messages_len, _ = struct.unpack_from(
            "<6I", written, udf_abi.errors_offset(num_args)
        )
        if count == 0:
            return [None] * rows
        bitmap = self._take(bitmap_ptr, (rows + 7) // 8)
        offsets = struct.unpack(f"<{rows + 1}i", self._take(offsets_ptr, 4 * (rows + 1)))
        messages = self._take(messages_ptr, messages_len)
        errors: list[str | None] = []
        for row in range(rows):
            failed = bitmap[row // 8] >> (row % 8) & 1
            errors.append(
                messages[offsets[row] : offsets[row + 1]].decode("utf-8", errors="replace") if failed else None
            )
        if sum(e is not None for e in errors) != count:
            raise UdfCallError(
                f"the guest's errors column says {count} errors but marks {sum(e is not None for e in errors)} rows",
                "a bug in the module",
            )
        return errors


def _normalise(column: Any, type_name: str) -> Any:
    """The column as the ABI's Arrow type, with offset 0 (a slice is copied once)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    target = arrow_type(type_name)
    if pa.types.is_timestamp(column.type) and pa.types.is_timestamp(target):
        if column.type.unit != "us":
            column = pc.cast(column, pa.timestamp("us", tz=column.type.tz))
        column = column.view(pa.int64()).view(target) if column.type.tz != "UTC" else column
    if column.type != target:
        column = pc.cast(column, target)
    if column.offset:
        column = pa.concat_arrays([pa.array([], target), column])  # concatenation copies into fresh buffers
    return column


def _encode_field(value: Any, kind: str) -> bytes | None:
    """A document field's value for get_<kind>, or None when its type is another (status 2)."""
    if kind == "i64":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            # An integer outside i64 has no i64 value: another type, as the wazero host answers.
            return struct.pack("<q", value) if -(2**63) <= value < 2**63 else None
        if isinstance(value, dt.datetime):
            return struct.pack("<q", _micros(value))
        return None
    if kind == "f64":
        if isinstance(value, bool):
            return None
        return struct.pack("<d", float(value)) if isinstance(value, (int, float)) else None
    if kind == "bool":
        return struct.pack("<i", int(value)) if isinstance(value, bool) else None
    if kind == "string":
        return value.encode("utf-8") if isinstance(value, str) else None
    if kind == "bytes":
        return bytes(value) if isinstance(value, (bytes, bytearray)) else None
    return None


def _micros(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _to_scalar(value: Any, type_name: str) -> Any:
    if type_name == "bool":
        return int(bool(value))
    if type_name == "timestamp" and isinstance(value, dt.datetime):
        return _micros(value)
    if type_name in ("f32", "f64"):
        return float(value)
    return int(value)


def _from_scalar(value: Any, type_name: str) -> Any:
    if type_name == "bool":
        return bool(value)
    if type_name == "timestamp":
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=value)
    return value
