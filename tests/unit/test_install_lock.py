"""cache.install_lock: a second installer of the same tool waits for the first, and the lock file
is not an entry of `cache show`."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from toolchain.core import cache, cache_areas


def test_a_second_installer_waits_for_the_first(tmp_path: Path) -> None:
    final = tmp_path / "tools" / "some-tool-1.0"
    order: list[str] = []
    first_has_it = threading.Event()

    def first() -> None:
        with cache.install_lock(final):
            order.append("first in")
            first_has_it.set()
            time.sleep(0.3)
            order.append("first out")

    def second() -> None:
        first_has_it.wait()
        with cache.install_lock(final):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first in", "first out", "second in"]


def test_the_lock_file_is_not_a_cache_entry(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path))
    final = cache.tools_dir() / "some-tool-1.0"
    with cache.install_lock(final):
        final.mkdir()
    names = [e.name for area in cache_areas.inventory(tmp_path).areas for e in area.entries]
    assert "some-tool-1.0" in names
    assert not [n for n in names if n.endswith(".lock")]
