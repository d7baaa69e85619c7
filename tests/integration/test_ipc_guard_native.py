"""The engine's IPC validator (crates/datafusion-wasm/src/ipc_guard.rs) natively, through crates/ipc-guard-fuzz.

Its #[cfg(test)] unit tests run nowhere else (the engine's tests run on wasm32 under
wasm-bindgen-test, which ignores plain #[test]); then the fuzzer on a fixed seed must find no
input that the validator accepts and the decoder panics on, and without the validator it must
find some (the harness can fail); then streams made by pyarrow: valid ones of every type must not
be rejected when arrow-rs reads them, and tests/ipc_mutations.py's hostile ones must not panic
the decoder once accepted. Cold (empty target directory, 2 cores): about 3 minutes, compiling the
arrow-* crates once; warm: seconds.
"""

from __future__ import annotations

import datetime
import decimal
import os
import re
import subprocess

import pytest

from tests.conftest import REPO
from toolchain.pipeline import ipc_fuzz
from toolchain.tools import patched_crates, rust

pytestmark = pytest.mark.integration

CRATE = REPO / "crates" / "ipc-guard-fuzz"
IPC_GUARD = REPO / "crates" / "datafusion-wasm" / "src" / "ipc_guard.rs"
FUZZ_SEED = 12
FUZZ_COUNT = 100_000  # about 4 s: the fuzzer runs ~25,000 inputs a second on one core


def _cargo(*args: str) -> subprocess.CompletedProcess[str]:
    native = rust.find_native()
    patched_crates.prepare_for(CRATE)  # the engine's patched arrow-ipc, which the harness uses
    return subprocess.run(
        [str(native.cargo), *args, "--manifest-path", str(CRATE / "Cargo.toml")],
        env={**os.environ, **ipc_fuzz.cargo_env(native)},
        capture_output=True,
        text=True,
    )


def test_ipc_guard_unit_tests_pass_natively():
    # The same profile and target directory as the fuzzer: the dependencies compile once.
    result = _cargo("test", "--release", "--locked", "--lib")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    ran = re.findall(r"^test ipc_guard::tests::(\w+) \.\.\. ok$", result.stdout, flags=re.MULTILINE)
    declared = len(re.findall(r"^\s*#\[test\]", IPC_GUARD.read_text(), flags=re.MULTILINE))
    assert declared >= 31
    assert len(ran) == declared, result.stdout  # every #[test] of ipc_guard.rs ran and passed


@pytest.fixture(scope="module")
def harness() -> dict[str, str]:
    release = ipc_fuzz.build(CRATE / "Cargo.toml", bins=("fuzz", "check"))
    return {name: str(release / name) for name in ("fuzz", "check")}


def _fuzz(harness, count: int, validate: bool = True) -> tuple[subprocess.CompletedProcess[str], ipc_fuzz.Summary]:
    argv = ipc_fuzz.fuzz_argv(harness["fuzz"], None, FUZZ_SEED, count, validate=validate)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    summary = ipc_fuzz.parse_summary(result.stdout)
    assert summary is not None, (
        f"no summary line (exit {result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result, summary


def test_fuzzer_finds_no_panic_after_validation(harness):
    result, summary = _fuzz(harness, FUZZ_COUNT)
    assert summary.panics == 0, result.stdout[-6000:]
    assert result.returncode == 0, result.stderr[-3000:]
    assert (summary.inputs, summary.seed) == (FUZZ_COUNT, FUZZ_SEED)
    assert summary.accepted + summary.rejected == FUZZ_COUNT
    # Both sides exercised: many mutations stay valid, most do not.
    assert FUZZ_COUNT // 10 < summary.accepted < FUZZ_COUNT // 2, result.stdout[-3000:]
    assert "arrow would have panicked:" in result.stdout
    prevented = int(re.search(r"arrow would have panicked:\s+(\d+)", result.stdout).group(1))
    assert prevented > 1000  # the validator stood between these inputs and a panic


def test_fuzzer_fails_when_the_validator_is_bypassed(harness):
    result, summary = _fuzz(harness, 2_000, validate=False)
    assert result.returncode == 1
    assert summary.panics > 100, result.stdout[-3000:]
    assert "validation bypassed" in result.stdout.splitlines()[-1]
    first = re.search(r"^PANIC \(validation bypassed\): #(\d+) '", result.stdout, flags=re.MULTILINE)
    assert first, result.stdout[:3000]
    assert f"reproduce: fuzz --seed {FUZZ_SEED} --count {int(first.group(1)) + 1}" in result.stdout


def _check(harness, streams: list[bytes], tmp_path) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """The check binary's verdict per stream: index, A|R (validator), arrow-rs ok|err|panic|skip, reason."""
    records = tmp_path / "records.bin"
    records.write_bytes(b"".join(len(s).to_bytes(4, "little") + s for s in streams))
    result = subprocess.run([harness["check"], str(records)], capture_output=True, text=True, timeout=600)
    rows = [line.split("\t", 3) for line in result.stdout.splitlines()]
    assert len(rows) == len(streams), result.stdout[-2000:] + result.stderr[-2000:]
    return result, rows


def _valid_pyarrow_streams() -> list[tuple[str, bytes]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    def stream(table, batches=None, chunk=None, **options) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(**options)) as writer:
            if batches is not None:
                for b in batches:
                    writer.write_batch(b)
            else:
                writer.write_table(table, max_chunksize=chunk)
        return sink.getvalue().to_pybytes()

    n = 50
    ts = datetime.datetime(2024, 1, 2, 3, 4, 5)
    cols = {
        "i8": pa.array([i if i % 3 else None for i in range(n)], pa.int8()),
        "u64": pa.array(range(n), pa.uint64()),
        "f16": pa.array([i / 2 for i in range(n)], pa.float16()),
        "f64": pa.array([i * 0.1 if i % 4 else None for i in range(n)]),
        "bool": pa.array([i % 3 == 0 if i % 5 else None for i in range(n)]),
        "str": pa.array([f"s{i}" * (i % 4) if i % 6 else None for i in range(n)]),
        "lstr": pa.array([f"L{i}" for i in range(n)], pa.large_string()),
        "bin": pa.array([bytes([i]) * (i % 3) for i in range(n)], pa.binary()),
        "lbin": pa.array([bytes([i]) for i in range(n)], pa.large_binary()),
        "fsb": pa.array([bytes([i, i, i]) if i % 2 else None for i in range(n)], pa.binary(3)),
        "sview": pa.array([f"view string number {i}" if i % 2 else f"v{i}" for i in range(n)], pa.string_view()),
        "bview": pa.array([b"x" * (i % 20) for i in range(n)], pa.binary_view()),
        "d32": pa.array([datetime.date(2020, 1, 1 + i % 28) for i in range(n)], pa.date32()),
        "d64": pa.array([datetime.date(2020, 1, 1 + i % 28) for i in range(n)], pa.date64()),
        "t32": pa.array([datetime.time(1, 2, i % 60) for i in range(n)], pa.time32("s")),
        "t64": pa.array([datetime.time(1, 2, i % 60) for i in range(n)], pa.time64("ns")),
        "ts": pa.array([ts] * n, pa.timestamp("ms")),
        "tstz": pa.array([ts] * n, pa.timestamp("ns", tz="America/New_York")),
        "dur": pa.array([datetime.timedelta(seconds=i) for i in range(n)], pa.duration("us")),
        "ivl": pa.array([pa.MonthDayNano([1, 2, 3])] * n, pa.month_day_nano_interval()),
        "dec128": pa.array([decimal.Decimal(i) / 100 for i in range(n)], pa.decimal128(12, 2)),
        "dec256": pa.array([decimal.Decimal(i) for i in range(n)], pa.decimal256(50, 0)),
        "list": pa.array([list(range(i % 4)) if i % 7 else None for i in range(n)], pa.list_(pa.int32())),
        "llist": pa.array([[str(j) for j in range(i % 3)] for i in range(n)], pa.large_list(pa.string())),
        "fsl": pa.array([[i, i + 1] if i % 3 else None for i in range(n)], pa.list_(pa.int16(), 2)),
        "lview": pa.array([[i] for i in range(n)], pa.list_view(pa.int64())),
        "llview": pa.array([[i, i] for i in range(n)], pa.large_list_view(pa.int8())),
        "struct": pa.array(
            [{"a": i, "b": [str(i)]} if i % 5 else None for i in range(n)],
            pa.struct([("a", pa.int64()), ("b", pa.list_(pa.string()))]),
        ),
        "map": pa.array(
            [[("k", i), ("m", None)] if i % 4 else None for i in range(n)], pa.map_(pa.string(), pa.int64())
        ),
        "dict": pa.array([["a", "b", None][i % 3] for i in range(n)]).dictionary_encode(),
        "dict_u": pa.array([["x", "y"][i % 2] for i in range(n)]).cast(pa.dictionary(pa.uint16(), pa.large_string())),
        "null": pa.nulls(n),
        "ree": pc.run_end_encode(pa.array([i // 10 for i in range(n)], pa.int32())),
        "sunion": pa.UnionArray.from_sparse(
            pa.array([i % 2 for i in range(n)], pa.int8()), [pa.array(range(n)), pa.array([str(i) for i in range(n)])]
        ),
        "dunion": pa.UnionArray.from_dense(
            pa.array([i % 2 for i in range(n)], pa.int8()),
            pa.array([i // 2 for i in range(n)], pa.int32()),
            [pa.array(range(n)), pa.array([str(i) for i in range(n)])],
        ),
    }
    if hasattr(pa, "decimal32"):  # pyarrow >= 18
        cols["dec32"] = pa.array([decimal.Decimal(i) for i in range(n)], pa.decimal32(9, 0))
        cols["dec64"] = pa.array([decimal.Decimal(i) for i in range(n)], pa.decimal64(18, 3))
    full = pa.table(cols)
    cases = []
    for name, column in cols.items():
        t = pa.table({name: column})
        cases += [
            (name, stream(t)),
            (f"{name} lz4", stream(t, compression="lz4")),
            (f"{name} chunks", stream(t, chunk=7)),
            (f"{name} sliced", stream(t.slice(3, 20))),
        ]
    v4 = pa.ipc.MetadataVersion.V4
    cases += [
        ("all", stream(full)),
        ("all lz4 chunked", stream(full, compression="lz4", chunk=16)),
        ("all zstd", stream(full, compression="zstd")),
        (
            "all legacy",
            stream(
                pa.table({k: v for k, v in cols.items() if "view" not in k and "union" not in k}),
                use_legacy_format=True,
            ),
        ),
        ("all V4", stream(pa.table({k: v for k, v in cols.items() if "view" not in k}), metadata_version=v4)),
        ("V4 unions", stream(pa.table({k: cols[k] for k in ("sunion", "dunion", "i8")}), metadata_version=v4)),
        ("empty table", stream(full.slice(0, 0))),
        ("no columns", stream(pa.table({}))),
        (
            "nested dict",
            stream(
                pa.table({"l": pa.array([["a", "b"], None, ["a"]], pa.list_(pa.dictionary(pa.int8(), pa.string())))})
            ),
        ),
    ]
    d1 = pa.array(["a", "b"]).dictionary_encode()
    d2 = pa.DictionaryArray.from_arrays(pa.array([0, 1, 2], pa.int32()), pa.array(["a", "b", "c"]))
    d3 = pa.DictionaryArray.from_arrays(pa.array([0], pa.int32()), pa.array(["z"]))
    sch = pa.schema([("d", d1.type)])
    cases.append(
        (
            "delta dicts",
            stream(
                pa.table({"d": d1}),
                emit_dictionary_deltas=True,
                batches=[pa.record_batch([d1], schema=sch), pa.record_batch([d2], schema=sch)],
            ),
        )
    )
    cases.append(
        (
            "replaced dicts",
            stream(pa.table({"d": d1}), batches=[pa.record_batch([d1], schema=sch), pa.record_batch([d3], schema=sch)]),
        )
    )
    big = pa.table({"z": pa.array([0] * 1_000_000, pa.int64()), "s": pa.array(["same text"] * 1_000_000)})
    cases.append(("1M rows lz4", stream(big, compression="lz4")))
    return cases


def test_valid_pyarrow_streams_are_not_rejected(harness, tmp_path):
    cases = _valid_pyarrow_streams()
    result, rows = _check(harness, [data for _, data in cases], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    verdicts = {name: (row[1], row[2], row[3]) for (name, _), row in zip(cases, rows)}
    # Rejected while arrow-rs decodes it: a false rejection, the user's valid table refused.
    false_rejections = {n: v for n, v in verdicts.items() if v[0] == "R" and v[1] == "ok"}
    assert not false_rejections
    # What arrow-rs itself cannot read here: ZSTD (not compiled, as on wasm32), and pyarrow's V4 run-end
    # encoding (arrow-rs 59 reads no REE buffers from V4 metadata; the validator rejects it first).
    unread = {n for n, v in verdicts.items() if v[1] != "ok"}
    assert unread <= {"all zstd", "all V4"}, {n: verdicts[n] for n in unread}
    accepted = sum(v[0] == "A" for v in verdicts.values())
    assert accepted >= len(cases) - 1, verdicts


def test_python_mutations_never_panic_after_validation(harness, tmp_path):
    from tests import ipc_mutations

    streams = list(ipc_mutations.mutated_streams(FUZZ_SEED, 3_000))
    result, rows = _check(harness, [data for _, data in streams], tmp_path)
    panics = [label for (label, _), row in zip(streams, rows) if row[1] == "A" and row[2] == "panic"]
    assert not panics
    assert result.returncode == 0, result.stderr[-2000:]
    verdicts = [row[1] for row in rows]
    assert verdicts.count("A") > 100 and verdicts.count("R") > 100
    prevented = sum(row[1] == "R" and row[2] == "panic" for row in rows)
    assert prevented > 50  # arrow-rs would have panicked on these: the inputs are hostile enough
