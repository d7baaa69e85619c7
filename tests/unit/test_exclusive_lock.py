"""cache.exclusive: a second build of the same crate waits for the first instead of writing the
same stage files at the same time (two concurrent builds in one checkout corrupted wasm-opt's
output: the later stage read a half-written module)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from toolchain.core import cache

HOLD = """
import sys, time
from pathlib import Path
from toolchain.core import cache
with cache.exclusive(Path(sys.argv[1]), "a test build"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(1.5)
    Path(sys.argv[2]).write_text("released")
"""


def test_a_second_holder_waits_for_the_first_and_says_for_whom(tmp_path, capsys):
    lock, flag = tmp_path / "stages" / "crate.lock", tmp_path / "flag"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), str(flag)])
    try:
        deadline = time.monotonic() + 30
        while not (flag.exists() and flag.read_text() == "held"):
            assert time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.05)
        with cache.exclusive(lock, "another build of this crate"):
            # Only once the first holder let go.
            assert flag.read_text() == "released"
        said = "".join(capsys.readouterr())
        assert f"waiting for another build of this crate, which pid {holder.pid} is running" in said
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0


def test_an_uncontended_lock_is_taken_at_once_and_records_its_holder(tmp_path):
    lock = tmp_path / "crate.lock"
    started = time.monotonic()
    with cache.exclusive(lock, "a build"):
        assert lock.read_text() == f"pid {os.getpid()}"
    with cache.exclusive(lock, "a build"):  # released, so taken again
        pass
    assert time.monotonic() - started < 1
