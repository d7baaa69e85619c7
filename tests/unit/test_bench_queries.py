"""The query benchmark's parts that decide what it reports (toolchain/pipeline/bench_queries.py):
result comparison, ratios and geometric means, the command line, the 22 query files. No browser."""

from __future__ import annotations

import math
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from toolchain import cli
from toolchain.core.errors import MissingTool, ToolchainError
from toolchain.pipeline import bench_queries as bq

REPO = Path(__file__).resolve().parents[2]
QUERIES = REPO / "benchmarks" / "queries" / "tpch"


def query(sql: str, name: str = "q") -> bq.Query:
    order_by, limit = bq.parse_order(sql)
    return bq.Query(name, sql, order_by, limit)


ORDERED = query("select k, v from t order by k desc")
UNORDERED = query("select k, v from t")


def table(k: list, v: list, v_type: pa.DataType | None = None) -> pa.Table:
    return pa.table({"k": pa.array(k), "v": pa.array(v, type=v_type)})


# ---------------------------------------------------------------- comparison


def test_equal_results_compare_equal():
    t = table([3, 2, 1], ["c", "b", "a"])
    assert bq.compare(ORDERED, t, table([3, 2, 1], ["c", "b", "a"])) == []


def test_a_changed_value_is_reported_with_the_row():
    differences = bq.compare(ORDERED, table([3, 2, 1], ["c", "b", "a"]), table([3, 2, 1], ["c", "B", "a"]))
    assert differences
    assert "row 2" in differences[0]
    assert any("'B'" in line for line in differences) and any("'b'" in line for line in differences)


def test_a_reordered_result_under_order_by_differs():
    differences = bq.compare(ORDERED, table([3, 2, 1], ["c", "b", "a"]), table([2, 3, 1], ["b", "c", "a"]))
    assert differences and "ORDER BY keys" in differences[0]


def test_a_reordered_result_without_order_by_is_equal():
    assert bq.compare(UNORDERED, table([3, 2, 1], ["c", "b", "a"]), table([1, 3, 2], ["a", "c", "b"])) == []


def test_rows_tied_on_the_order_by_keys_may_come_in_any_order():
    expected = table([2, 2, 2, 1], ["x", "y", "z", "w"])
    assert bq.compare(ORDERED, expected, table([2, 2, 2, 1], ["z", "x", "y", "w"])) == []
    # ... but they are still compared: a tie group with another row differs.
    assert bq.compare(ORDERED, expected, table([2, 2, 2, 1], ["z", "x", "q", "w"]))


def test_a_limit_that_cuts_a_group_of_ties_compares_only_its_keys():
    limited = query("select k, v from t order by k desc limit 3")
    expected = table([2, 1, 1], ["x", "y", "z"])
    assert bq.compare(limited, expected, table([2, 1, 1], ["x", "q", "r"])) == []
    assert bq.compare(limited, expected, table([2, 1, 0], ["x", "y", "z"]))  # the keys still count
    # Without the LIMIT the same difference is one.
    assert bq.compare(ORDERED, expected, table([2, 1, 1], ["x", "q", "r"]))


def test_decimal_and_float_compare_numerically_within_the_tolerance():
    expected = table([1, 2], [Decimal("1234.5600"), Decimal("0.1")], pa.decimal128(38, 4))
    assert bq.compare(ORDERED, expected, table([1, 2], [1234.56 + 1e-9, 0.1])) == []
    # Different scales of the same decimal (DuckDB's and DataFusion's) are equal too.
    other_scale = table([1, 2], [Decimal("1234.56"), Decimal("0.10")], pa.decimal128(15, 2))
    assert bq.compare(UNORDERED, expected, other_scale) == []
    # Beyond the tolerance, they differ.
    assert bq.compare(UNORDERED, expected, table([1, 2], [1234.57, 0.1]))


def test_dates_compare_as_dates_and_counts_must_match():
    import datetime as dt

    day = dt.date(1995, 3, 15)
    dates = pa.table({"d": pa.array([day], pa.date32())})
    midnight = pa.table({"d": pa.array([dt.datetime(1995, 3, 15)], pa.timestamp("ms"))})
    assert bq.compare(UNORDERED, dates, midnight) == []
    assert bq.compare(UNORDERED, dates, pa.table({"d": pa.array([dt.date(1995, 3, 16)], pa.date32())}))
    assert "2 columns" in bq.compare(UNORDERED, dates, pa.table({"d": [1], "e": [2]}))[0]
    assert "2 rows" in bq.compare(UNORDERED, dates, pa.table({"d": pa.array([day, day], pa.date32())}))[0]


def test_order_by_items_that_are_not_output_columns_are_an_error():
    with pytest.raises(ToolchainError, match="not an output column"):
        bq.compare(query("select k, v from t order by other"), table([1], ["a"]), table([1], ["a"]))


def test_order_by_and_limit_are_read_from_the_outer_statement_only():
    assert bq.parse_order("select a from (select a from t order by b limit 5) x order by a desc, 2 limit 10;") == (
        ("a", "2"),
        10,
    )
    assert bq.parse_order("select a from t -- order by a\n") == ((), None)
    assert bq.statement_count("select ';' from t; -- ; \n") == 1
    assert bq.statement_count("create view v as select 1; select * from v;") == 2


# ---------------------------------------------------------------- ratios, geometric means, Markdown


def test_geomean():
    assert bq.geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert bq.geomean([]) is None
    assert bq.geomean([0.5, 2.0]) == pytest.approx(1.0)


def _engine(key: str, kind: str, medians: dict[str, float], label: str | None = None) -> bq.EngineRun:
    run = bq.EngineRun(key=key, label=label or key, kind=kind, version="v")
    for name, ms in medians.items():
        run.runs[name] = bq.QueryRun(name, samples_ms=[ms, ms * 2, ms * 0.5])  # median: ms
    return run


def _report(comparisons: list[bq.Comparison]) -> bq.BenchReport:
    names = ["q1", "q2", "q3"]
    engines = [
        _engine(bq.ORACLE, "native", {"q1": 10, "q2": 10, "q3": 10}, "DataFusion native 1p"),
        _engine("ours:default", "browser", {"q1": 20, "q2": 40, "q3": 1000}, "ours"),
        _engine(bq.DUCKDB_WASM, "browser", {"q1": 40, "q2": 10, "q3": 10}, "DuckDB-WASM"),
    ]
    engines[1].ingest = bq.Ingest((bq.TableIngest("t", 2_000_000, 10, 4.0),))
    engines[1].load_ms, engines[1].memory_bytes = 300.0, 64 * 2**20
    data = bq.TpchData(0.1, "tpchgen-cli 4.0.0", Path("/d"), (), 12.5, "2026-01-01T00:00:00+00:00", reused=False)
    return bq.BenchReport(
        scale=0.1,
        browser="chromium",
        browser_version="chrome 156",
        runs=3,
        data=data,
        queries=[bq.Query(n, "", (), None) for n in names],
        engines=engines,
        comparisons=comparisons,
        machine={"cpus": 2},
        started_at="2026-01-01T00:00:00+00:00",
    )


def _all_equal() -> list[bq.Comparison]:
    return [bq.Comparison(q, e, True) for q in ("q1", "q2", "q3") for e in ("ours:default", bq.DUCKDB_WASM)]


def test_ratios_and_their_geometric_means():
    report = _report(_all_equal())
    assert report.ratios("ours:default", bq.DUCKDB_WASM) == {"q1": 0.5, "q2": 4.0, "q3": 100.0}
    assert report.ratios("ours:default", bq.ORACLE) == {"q1": 2.0, "q2": 4.0, "q3": 100.0}
    text = report.markdown()
    assert "| q1 | 10.0 | 20.0 | 40.0 | 0.50 | 2.00 |" in text
    assert f"**{(0.5 * 4 * 100) ** (1 / 3):.2f}** (3 q)" in text  # ours/DuckDB-WASM
    assert f"**{(2 * 4 * 100) ** (1 / 3):.2f}** (3 q)" in text  # ours/DF-1p
    assert "2 MB in 4 ms = 500 MB/s" in text and "64 MiB" in text and "300 ms" in text
    assert "generated in 12.5 s" in text
    document = report.to_json()
    assert math.isclose(document["ratios"]["ours/DuckDB-WASM"]["geomean"], (0.5 * 4 * 100) ** (1 / 3))
    assert document["engines"][1]["queries"]["q1"]["samples_ms"] == [20, 40, 10]


def test_a_result_that_differs_is_marked_and_left_out_of_the_ratios():
    comparisons = [c for c in _all_equal() if not (c.query == "q3" and c.engine == "ours:default")]
    comparisons.append(bq.Comparison("q3", "ours:default", False, ("row 1: expected (1.0), got (2.0)",)))
    report = _report(comparisons)
    assert report.ratios("ours:default", bq.DUCKDB_WASM) == {"q1": 0.5, "q2": 4.0}
    text = report.markdown()
    assert "| q3 | 10.0 | 1000 ✗ | 10.0 | - | - |" in text
    assert f"**{(0.5 * 4) ** (1 / 2):.2f}** (2 q)" in text
    assert "q3, ours:default: row 1: expected (1.0), got (2.0)" in text
    assert report.mismatches and report.to_json()["mismatches"] == 1


def test_several_packages_get_a_column_and_ratios_each():
    report = _report(_all_equal())
    report.engines.append(_engine("ours:o3", "browser", {"q1": 10, "q2": 10, "q3": 10}, "ours o3"))
    report.comparisons += [bq.Comparison(q, "ours:o3", True) for q in ("q1", "q2", "q3")]
    headers = [h for h, _, _ in report.ratio_columns()]
    assert headers == [
        "ours/DuckDB-WASM (default)",
        "ours/DF-1p (default)",
        "ours/DuckDB-WASM (o3)",
        "ours/DF-1p (o3)",
    ]
    assert "| ours o3 |" in report.markdown()


def _round(key: str, medians: dict[str, float], load_ms: float, ingest_ms: float, memory: int) -> bq.EngineRun:
    run = _engine(key, "browser", medians, "ours")
    run.load_ms, run.memory_bytes = load_ms, memory
    run.ingest = bq.Ingest((bq.TableIngest("t", 1_000_000, 10, ingest_ms),))
    run.results = dict.fromkeys(medians, f"result of {key} {load_ms}")
    return run


def test_rounds_merge_into_one_run_with_every_sample():
    rounds = [
        _round("ours:default", {"q1": 20, "q2": 40}, 300.0, 9.0, 10),
        _round("ours:default", {"q1": 30, "q2": 40}, 100.0, 1.0, 30),
        _round("ours:default", {"q1": 10, "q2": 80}, 200.0, 5.0, 20),
    ]
    merged = bq.merge_rounds(rounds)
    assert merged.runs["q1"].samples_ms == [20, 40, 10, 30, 60, 15, 10, 20, 5]
    assert merged.runs["q1"].median_ms == 20
    assert merged.load_ms == 200.0 and merged.ingest.ms == 5.0 and merged.memory_bytes == 30
    assert merged.results == rounds[0].results
    assert merged.round_medians == [{"q1": 20, "q2": 40}, {"q1": 30, "q2": 40}, {"q1": 10, "q2": 80}]


def test_each_rounds_geometric_mean_is_reported():
    report = _report(_all_equal())
    ours = bq.merge_rounds(
        [
            _round("ours:default", {"q1": 20, "q2": 40, "q3": 1000}, 1.0, 1.0, 1),
            _round("ours:default", {"q1": 40, "q2": 80, "q3": 2000}, 1.0, 1.0, 1),
        ]
    )
    duck = bq.merge_rounds(
        [
            _round(bq.DUCKDB_WASM, {"q1": 40, "q2": 10, "q3": 10}, 1.0, 1.0, 1),
            _round(bq.DUCKDB_WASM, {"q1": 40, "q2": 10, "q3": 10}, 1.0, 1.0, 1),
        ]
    )
    oracle = bq.merge_rounds(
        [
            _round(bq.ORACLE, {"q1": 10, "q2": 10, "q3": 10}, 1.0, 1.0, 1),
            _round(bq.ORACLE, {"q1": 10, "q2": 10, "q3": 20}, 1.0, 1.0, 1),
        ]
    )
    ours.label, duck.label, oracle.label = "ours", "DuckDB-WASM", "DataFusion native 1p"
    report.engines[:] = [oracle, ours, duck]
    first = (0.5 * 4 * 100) ** (1 / 3)
    assert report.round_geomeans("ours:default", bq.DUCKDB_WASM) == pytest.approx([first, 2 * first])
    # Each round against the same round of the reference.
    assert report.round_geomeans("ours:default", bq.ORACLE) == pytest.approx(
        [(2 * 4 * 100) ** (1 / 3), (4 * 8 * 100) ** (1 / 3)]
    )
    # An engine without rounds (one round: nothing to spread) gets none.
    assert _report(_all_equal()).round_geomeans("ours:default", bq.ORACLE) == []
    text = report.markdown()
    assert "in each of 2 rounds" in text
    assert f"- ours/DuckDB-WASM: {first:.2f}, {2 * first:.2f}" in text
    document = report.to_json()
    assert document["rounds"] == 2
    assert document["ratios"]["ours/DuckDB-WASM"]["geomean_per_round"] == pytest.approx([first, 2 * first])
    # One round: no spread line.
    assert "in each round" not in _report(_all_equal()).markdown()


def test_a_result_that_differs_in_a_later_round_marks_the_query():
    comparisons = [*_all_equal(), bq.Comparison("q2", "ours:default", False, ("row 1: expected (1), got (2)",))]
    report = _report(comparisons)
    assert "q2" not in report.ratios("ours:default", bq.ORACLE)
    assert "| q2 | 10.0 | 40.0 ✗ |" in report.markdown()


# ---------------------------------------------------------------- the command line


def _parse(argv: list[str]):
    return cli.parser().parse_args(["bench-queries", *argv])


def _package(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "package.json").write_text('{"module": "engine.js"}')
    return tmp_path / "pkg"


def test_package_arguments(tmp_path):
    pkg = _package(tmp_path)
    args = _parse(["--package", f"z={pkg}", "--package", f"o3={pkg}", "--scale", "1", "--runs", "3"])
    assert [(p.name, p.directory, p.glue) for p in args.package] == [("z", pkg, "engine.js"), ("o3", pkg, "engine.js")]
    assert (args.scale, args.runs, args.browser) == (1.0, 3, "chromium")
    defaults = _parse([])
    # --runs' default depends on the mode (5 timed runs; 3 profiled runs with --profile): resolved by the command.
    assert (defaults.scale, defaults.runs, defaults.package, defaults.browser) == (0.1, None, None, "chromium")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("artifacts/datafusion-wasm", "expected NAME=DIR"),
        ("=artifacts/datafusion-wasm", "expected NAME=DIR"),
        ("name=", "expected NAME=DIR"),
        ("bad name=DIR", "must be letters, digits"),
        ("x=/nonexistent/package", "holds no engine package"),
    ],
)
def test_bad_package_arguments_are_usage_errors_that_say_why(value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse(["--package", value])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_the_same_package_name_twice_is_refused(tmp_path):
    from toolchain.cli import bench_queries as command

    pkg = _package(tmp_path)
    with pytest.raises(ToolchainError, match="given more than once"):
        command.options_from(_parse(["--package", f"a={pkg}", "--package", f"a={pkg}"]))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scale", "0"], "scale factor"),
        (["--scale", "x"], "scale factor"),
        (["--runs", "0"], "at least 1"),
        (["--rounds", "0"], "at least 1"),
        (["--queries", "q1,q23"], "q1..q22"),
        (["--browser", "safari"], "invalid choice"),
    ],
)
def test_other_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        _parse(argv)
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- the 22 queries


def test_all_22_queries_exist_and_are_one_statement_each():
    queries = bq.load_queries(QUERIES)
    assert [q.name for q in queries] == [f"q{n}" for n in range(1, 23)]
    for q in queries:
        assert bq.statement_count(q.sql) == 1, q.name
        assert "create view" not in q.sql.lower(), q.name
    by_name = {q.name: q for q in queries}
    assert by_name["q1"].order_by == ("l_returnflag", "l_linestatus") and by_name["q1"].limit is None
    assert by_name["q3"].order_by == ("revenue", "o_orderdate") and by_name["q3"].limit == 10
    assert by_name["q6"].order_by == ()
    assert by_name["q15"].order_by == ("s_suppkey",)


def test_a_file_with_two_statements_is_refused(tmp_path):
    (tmp_path / "q1.sql").write_text("create view v as select 1;\nselect * from v;\n")
    with pytest.raises(ToolchainError, match="2 statements"):
        bq.load_queries(tmp_path, ["q1"])
    with pytest.raises(ToolchainError, match="no query q2"):
        bq.load_queries(tmp_path, ["q2"])


def test_the_queries_run_natively_and_duckdb_agrees_with_datafusion(tmp_path, monkeypatch):
    """SF 0.01 (about 2 s to generate): every query runs in native DataFusion and DuckDB, and the
    comparison finds their results equal (DuckDB's decimal scales and doubles included)."""
    pytest.importorskip("duckdb", reason="the bench extra (duckdb) is not installed")
    pytest.importorskip("datafusion", reason="the bench extra (datafusion) is not installed")
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    try:
        bq.find_tpchgen()
    except MissingTool:
        pytest.skip("tpchgen-cli (the bench extra) is not installed")
    data = bq.ensure_tpch(0.01)
    assert {t.name for t in data.tables} == set(bq.TABLES) and not data.reused
    assert bq.ensure_tpch(0.01).reused  # the second time from the cache
    tables = bq.read_tables(data)
    assert tables["nation"].num_rows == 25 and pa.types.is_string(tables["nation"].schema.field("n_name").type)
    queries = bq.load_queries(QUERIES)
    oracle = bq.run_datafusion(data, tables, queries, runs=0, partitions=1)
    duck = bq.run_duckdb(data, tables, queries, runs=0)
    assert not [name for name, run in {**oracle.runs, **duck.runs}.items() if run.error]
    comparisons = bq.compare_all(queries, oracle, [oracle, duck])
    assert len(comparisons) == 22
    assert [c for c in comparisons if not c.equal] == []
    # And a changed result is caught on real data too.
    changed = oracle.results["q1"].set_column(2, "sum_qty", pa.array([1] * oracle.results["q1"].num_rows))
    assert bq.compare(queries[0], oracle.results["q1"], changed)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
