"""cache.exclusive: a second build of the same crate waits for the first instead of writing the
same stage files at the same time (two concurrent builds in one checkout corrupted wasm-opt's
output: the later stage read a half-written module)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from toolchain.core import cache, console

HOLD = """
import sys, time
from pathlib import Path
from toolchain.core import cache
lock, flag, release = (Path(arg) for arg in sys.argv[1:4])
with cache.exclusive(lock, "a test build"):
    flag.write_text("held")
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:  # until the second holder waits
        time.sleep(0.01)
    flag.write_text("released")
"""


def test_a_second_holder_waits_for_the_first_and_says_for_whom(tmp_path, capsys, monkeypatch):
    lock, flag, release = tmp_path / "stages" / "crate.lock", tmp_path / "flag", tmp_path / "release"
    original_info = console.info

    def info(message: str) -> None:
        original_info(message)
        if message.startswith("waiting for "):  # the second holder is about to block: let the first go
            release.touch()

    # The first holder lets go only once the second one waits: a fixed hold (it was 1.5 s) left the
    # second one, delayed that long on a loaded machine, to find the lock free and say nothing.
    monkeypatch.setattr(console, "info", info)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), str(flag), str(release)])
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
        release.touch()
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
