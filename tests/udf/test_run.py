"""`udf run BUNDLE FUNCTION --input FILE`: rows in (JSON Lines, Parquet, Arrow IPC), the result and
each row's error out, in both the batch and the document style; bad input is a clear error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from tests.udf import reference
from toolchain.core.errors import ToolchainError
from toolchain.pipeline import udf_build, udf_bundle, udf_precompile, udf_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("run-artifacts")
    built = udf_build.build(
        udf_build.UdfBuildOptions(project=ROOT / "crates/udf/examples/text", artifacts_dir=artifacts)
    )
    specs = (udf_precompile.ArtifactSpec("x86_64", "cranelift", "fuel"),)
    return udf_bundle.bundle(
        udf_bundle.BundleOptions(module=built.module, specs=specs, artifacts_dir=artifacts)
    ).directory


ROWS = [
    {"text": "Model: ABC123", "pattern": r"Model: ([A-Z0-9]+)", "group": 1},
    {"text": "nothing", "pattern": r"Model: ([A-Z0-9]+)", "group": 1},
    {"text": "x", "pattern": "(x", "group": 1},
    {"text": None, "pattern": "x", "group": 0},
]


def _expected() -> tuple[list, list[bool]]:
    values, errors = [], []
    for row in ROWS:
        if any(v is None for v in row.values()):
            values.append(None)
            errors.append(False)
            continue
        try:
            values.append(reference.regex_extract(row["text"], row["pattern"], row["group"]))
            errors.append(False)
        except ValueError:
            values.append(None)
            errors.append(True)
    return values, errors


@pytest.mark.parametrize("style", ["batch", "document"])
def test_json_lines_in_parquet_out(bundle: Path, tmp_path: Path, style: str) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    output = tmp_path / "out.parquet"
    result = udf_run.run(
        udf_run.RunOptions(
            bundle=bundle, function="regex_extract", input=source, output=output, style=style, batch_rows=2
        )
    )
    table = pq.read_table(output)
    values, errors = _expected()
    assert table.column("regex_extract").to_pylist() == values
    assert [e is not None for e in table.column("regex_extract_error").to_pylist()] == errors
    assert result.rows == 4 and result.errors == 1
    assert table.column_names[:3] == ["text", "pattern", "group"]


def test_arrow_ipc_in_and_out_with_mapped_columns(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "pairs.arrow"
    table = pa.table({"left": ["kitten", "flaw"], "right": ["sitting", "lawn"]})
    with ipc.new_file(source, table.schema) as writer:
        writer.write_table(table)
    output = tmp_path / "out.arrow"
    udf_run.run(
        udf_run.RunOptions(bundle=bundle, function="levenshtein", input=source, output=output, args=("left", "right"))
    )
    with ipc.open_file(output) as reader:
        assert reader.read_all().column("levenshtein").to_pylist() == [3, 2]


def test_a_missing_column_names_the_columns_there_are(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text('{"x": "a", "y": "b"}\n')
    with pytest.raises(ToolchainError, match="no column a, b") as info:
        udf_run.run(udf_run.RunOptions(bundle=bundle, function="levenshtein", input=source))
    assert "x, y" in str(info.value) and "--args" in str(info.value)


def test_an_unknown_function_or_format(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text('{"a": "a", "b": "b"}\n')
    with pytest.raises(ToolchainError, match="no function 'soundex'"):
        udf_run.run(udf_run.RunOptions(bundle=bundle, function="soundex", input=source))
    with pytest.raises(ToolchainError, match="unknown input format"):
        udf_run.run(udf_run.RunOptions(bundle=bundle, function="levenshtein", input=tmp_path / "rows.csv"))


def test_the_command_prints_rows_and_a_summary(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text('{"a": "kitten", "b": "sitting"}\n{"a": "", "b": "abc"}\n')
    result = subprocess.run(
        [sys.executable, "-m", "toolchain", "udf", "run", str(bundle), "levenshtein", "--input", str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 rows, 0 row errors" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["a", "b", "levenshtein", "levenshtein_error"]
    assert lines[2].split() == ["kitten", "sitting", "3"]
