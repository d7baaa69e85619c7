"""`udf run BUNDLE FUNCTION --input FILE`: a bundle's function over a file of rows, through the
reference host (udf_host), batch by batch, with progress.

In: Arrow IPC (file or stream), Parquet or JSON Lines. Out: the input's columns plus the result
column (named after the function) and `<function>_error` (the row's error, NULL when none), as
Arrow IPC or Parquet; or, without an output file, the first rows as a table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolchain.core import console
from toolchain.core.errors import ToolchainError
from toolchain.pipeline import udf_call, udf_host

INPUT_FORMATS = {
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
    ".arrows": "stream",
    ".parquet": "parquet",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}


@dataclass(frozen=True)
class RunOptions:
    bundle: Path
    function: str
    input: Path
    output: Path | None = None
    args: tuple[str, ...] = ()  # input columns for the arguments, in order; default: the arguments' names
    style: str = "batch"  # batch | document
    batch_rows: int = 8192
    limits: udf_host.Limits = field(default_factory=udf_host.Limits)
    fast_tier: str = "winch"


@dataclass(frozen=True)
class RunResult:
    table: Any  # pyarrow Table: input + result + errors
    rows: int
    errors: int
    seconds: float
    tiers: tuple[str, ...]
    events: tuple[udf_host.Event, ...]


def read_table(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    kind = INPUT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ToolchainError(
            f"{path}: unknown input format {path.suffix!r}", f"use one of {', '.join(sorted(INPUT_FORMATS))}"
        )
    if not path.is_file():
        raise ToolchainError(f"no input file {path}", "")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if kind == "json":
            import pyarrow.json as pj

            return pj.read_json(path)
        with path.open("rb") as handle:
            if kind == "stream" or handle.read(6) != b"ARROW1":
                handle.seek(0)
                return ipc.open_stream(handle).read_all()
            handle.seek(0)
            return ipc.open_file(handle).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ToolchainError(f"{path} is not readable as {kind}: {exc}", "check the file and its extension") from exc


def write_table(table: Any, path: Path) -> None:
    import pyarrow.ipc as ipc

    temporary = path.with_name(path.name + ".partial")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, temporary)
    else:
        with ipc.new_file(temporary, table.schema) as writer:
            writer.write_table(table)
    temporary.replace(path)


def run(options: RunOptions) -> RunResult:
    import pyarrow as pa

    table = read_table(options.input)
    deployment = udf_host.deploy(options.bundle, options.limits, fast_tier=options.fast_tier)
    try:
        spec = deployment.functions.get(options.function)
        if spec is None:
            raise ToolchainError(
                f"the bundle has no function {options.function!r}", f"its functions: {', '.join(deployment.functions)}"
            )
        names = list(options.args) or [a.name for a in spec.args]
        if len(names) != len(spec.args):
            raise ToolchainError(
                f"{options.function} takes {len(spec.args)} arguments; --args names {len(names)} columns", ""
            )
        missing = [n for n in names if n not in table.column_names]
        if missing and options.style == "batch":
            raise ToolchainError(
                f"the input has no column {', '.join(missing)} for {options.function}",
                f"its columns: {', '.join(table.column_names)}; map arguments with --args COL,COL",
            )
        started = time.monotonic()
        values: list[Any] = []
        errors: list[str | None] = []
        tiers = []
        done = 0
        for batch in table.to_batches(max_chunksize=options.batch_rows):
            if options.style == "batch":
                result = deployment.call_batch(options.function, [batch.column(n) for n in names])
                values.append(result.values)
                errors += result.errors
            else:
                renamed = (
                    pa.RecordBatch.from_arrays(
                        [*batch.columns, *(batch.column(n) for n in names)],
                        names=[*batch.schema.names, *(a.name for a in spec.args)],
                    )
                    if names != [a.name for a in spec.args]
                    else batch
                )
                column = []
                for row in range(batch.num_rows):
                    try:
                        column.append(deployment.call_document(options.function, udf_host.ArrowRow(renamed, row)))
                        errors.append(None)
                    except udf_host.udf_call.RowError as exc:
                        column.append(None)
                        errors.append(str(exc))
                values.append(pa.array(column, udf_call.arrow_type(spec.returns.type)))
            tiers.append(deployment.last_tier)
            done += batch.num_rows
            elapsed = time.monotonic() - started
            console.progress(
                f"{options.function}: {done:,}/{table.num_rows:,} rows, {done / max(elapsed, 1e-9):,.0f} rows/s, {deployment.last_tier}"
            )
        console.end_progress()
        seconds = time.monotonic() - started
        result_column = pa.concat_arrays(values) if values else pa.array([], udf_call.arrow_type(spec.returns.type))
        out = table.append_column(options.function, result_column).append_column(
            f"{options.function}_error", pa.array(errors, pa.string())
        )
        if options.output:
            write_table(out, options.output)
        return RunResult(
            out,
            table.num_rows,
            sum(e is not None for e in errors),
            seconds,
            tuple(dict.fromkeys(tiers)),
            tuple(deployment.events),
        )
    finally:
        deployment.close()
