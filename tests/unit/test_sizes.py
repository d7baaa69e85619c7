import gzip
import os

import brotli
import pytest

from toolchain import sizes


def test_measurements_are_real_compressed_lengths():
    data = b"SELECT count(*) FROM t GROUP BY x;\n" * 1000
    measured = sizes.measure_bytes(data)
    assert measured.raw == len(data)
    assert measured.gzip == len(gzip.compress(data, compresslevel=9, mtime=0))
    assert measured.brotli == len(brotli.compress(data, quality=11))
    assert measured.brotli < measured.gzip < measured.raw


def test_incompressible_data_does_not_shrink():
    measured = sizes.measure_bytes(os.urandom(4096))
    assert measured.gzip >= 4096 and measured.brotli >= 4096


def test_report_lists_stages_in_order_and_final_is_the_last():
    a, b = sizes.Sizes(100, 50, 40), sizes.Sizes(80, 45, 30)
    report = sizes.build_report([("cargo", a), ("wasm-opt", b)])
    assert [s["name"] for s in report["stages"]] == ["cargo", "wasm-opt"]
    assert report["stages"][0] == {"name": "cargo", "raw": 100, "gzip": 50, "brotli": 40}
    assert report["final"] == {"raw": 80, "gzip": 45, "brotli": 30}


def test_empty_report_is_refused():
    with pytest.raises(ValueError):
        sizes.build_report([])


def test_table_shows_change_against_previous_stage():
    report = sizes.build_report([("cargo", sizes.Sizes(2_000_000, 1, 1)), ("wasm-opt", sizes.Sizes(1_500_000, 1, 1))])
    table = sizes.format_table(report)
    assert "-25.0%" in table
    assert "2.00 MB" in table and "1.50 MB" in table


def test_measurements_are_memoised_by_content(tmp_path, monkeypatch):
    module = tmp_path / "m.wasm"
    memo = tmp_path / "memo.json"
    module.write_bytes(b"\0asm" + b"x" * 1000)
    first = sizes.SizeMeasurer(memo)
    first.submit("cargo", module)
    [(_, measured)] = first.results()
    assert memo.exists()

    calls = []
    monkeypatch.setattr(sizes, "measure_bytes", lambda data: calls.append(data) or sizes.Sizes(1, 1, 1))
    again = sizes.SizeMeasurer(memo)
    again.submit("cargo", module)  # same content: taken from the memo
    module.write_bytes(b"\0asm" + os.urandom(1000))  # new content: measured again
    again.submit("wasm-opt", module)
    results = again.results()
    assert results[0] == ("cargo", measured)
    assert len(calls) == 1 and results[1] == ("wasm-opt", sizes.Sizes(1, 1, 1))
