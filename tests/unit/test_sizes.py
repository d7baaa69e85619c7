import gzip
import os
import subprocess
import sys
import textwrap
import time

import brotli
import pytest

from toolchain.analysis import sizes


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
    # Measurements run in a child process: a stand-in child that answers 1, 1, 1 counts them.
    fixed = [sys.executable, "-c", 'import sys; sys.stdin.buffer.read(); print(\'{"raw": 1, "gzip": 1, "brotli": 1}\')']
    monkeypatch.setattr(sizes, "measure_command", lambda: calls.append(1) or fixed)
    again = sizes.SizeMeasurer(memo)
    again.submit("cargo", module)  # same content: taken from the memo
    module.write_bytes(b"\0asm" + os.urandom(1000))  # new content: measured again
    again.submit("wasm-opt", module)
    results = again.results()
    assert results[0] == ("cargo", measured)
    assert len(calls) == 1 and results[1] == ("wasm-opt", sizes.Sizes(1, 1, 1))


def test_the_child_process_measures_what_measure_bytes_measures(tmp_path):
    module = tmp_path / "m.wasm"
    module.write_bytes(b"\0asm" + b"abc" * 5000)
    measurer = sizes.SizeMeasurer(None)
    measurer.submit("cargo", module)
    assert measurer.results() == [("cargo", sizes.measure_bytes(module.read_bytes()))]


def test_a_failed_measurement_is_an_error_with_the_childs_message(tmp_path, monkeypatch):
    monkeypatch.setattr(
        sizes, "measure_command", lambda: [sys.executable, "-c", "import sys; sys.exit('no brotli here')"]
    )
    module = tmp_path / "m.wasm"
    module.write_bytes(b"\0asm")
    measurer = sizes.SizeMeasurer(None)
    measurer.submit("cargo", module)
    with pytest.raises(sizes.StageFailed, match="no brotli here"):
        measurer.results()


# A build whose produce fails while a (60-second) measurement runs: the process must end at
# once, not when the measurement would have finished (it used to linger about 85 s).
FAILING_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from toolchain.analysis import sizes
    from toolchain.core.errors import StageFailed
    sizes.measure_command = lambda: [sys.executable, "-c", "import time; time.sleep(60)"]
    module = Path(sys.argv[1])
    measurer = sizes.SizeMeasurer(None)
    measurer.submit("cargo", module)
    measurer.submit("wasm-opt", module)
    time.sleep(0.5)  # the children are running
    def produce():
        raise StageFailed("wasm-opt failed")
    try:
        produce()
    except BaseException:
        print(time.monotonic(), flush=True)  # the failure, on the clock the test reads (one per machine)
        measurer.abandon()
        raise
""")


def test_a_failing_build_does_not_wait_for_its_measurements(tmp_path):
    module = tmp_path / "m.wasm"
    module.write_bytes(b"\0asm" + os.urandom(1000))
    result = subprocess.run([sys.executable, "-c", FAILING_BUILD, module], capture_output=True, text=True, timeout=30)
    exited = time.monotonic()
    assert result.returncode == 1 and "wasm-opt failed" in result.stderr
    # Timed from the failure, not from the start: Python's start-up, the imports and the 0.5 s
    # before the failure took part of the 5 s on a loaded machine.
    elapsed = exited - float(result.stdout)
    assert elapsed < 5, f"the failed build took {elapsed:.1f} s to exit after its failure"


def test_abandon_kills_the_running_children(tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "measure_command", lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    module = tmp_path / "m.wasm"
    module.write_bytes(b"\0asm")
    measurer = sizes.SizeMeasurer(None)
    measurer.submit("cargo", module)
    deadline = time.monotonic() + 10
    while not measurer._children and time.monotonic() < deadline:
        time.sleep(0.05)
    [child] = list(measurer._children)
    started = time.monotonic()
    measurer.abandon()
    child.wait(timeout=5)
    measurer._pool.shutdown(wait=True)  # the waiting thread ends too
    assert child.returncode < 0 and time.monotonic() - started < 2
