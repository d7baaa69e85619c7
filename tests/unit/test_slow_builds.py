"""Which slow-build tests `nox -s test` runs: only those whose build is cached; the others are
deselected (never skipped) with one line naming what, why and the command that runs them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests import slow_builds
from toolchain.core import process
from toolchain.pipeline import wasm_test
from toolchain.tools import browser, patched_crates, rust, wasm_bindgen

REPO = Path(__file__).resolve().parents[2]


class Item:
    """Enough of a pytest item for the selection: a name and its markers."""

    def __init__(self, name: str, *markers: str):
        self.name, self.markers = name, set(markers)

    def get_closest_marker(self, name: str):
        return name if name in self.markers else None

    def __repr__(self) -> str:
        return self.name


def _build(marker: str, missing, calls: list | None = None) -> slow_builds.SlowBuild:
    def check():
        if calls is not None:
            calls.append(marker)
        return missing() if callable(missing) else missing

    return slow_builds.SlowBuild(marker, f"{marker} tests", f"nox -s {marker}_test", "40 min", check)


ITEMS = [
    Item("unit"),
    Item("wheels_a", "toolchain_wheels"),
    Item("browser"),
    Item("wheels_b", "toolchain_wheels"),
    Item("session", "wasm_test", "browser"),
]


def test_cached_builds_run():
    selection = slow_builds.select(ITEMS, [_build("toolchain_wheels", None), _build("wasm_test", None)], force=False)
    assert selection.kept == ITEMS and selection.deselected == [] and selection.notes == []


def test_uncached_builds_are_deselected_with_one_line_saying_what_why_and_how():
    builds = [_build("toolchain_wheels", "the demo wheel is not in the tool cache"), _build("wasm_test", None)]
    selection = slow_builds.select(ITEMS, builds, force=False)
    assert [i.name for i in selection.kept] == ["unit", "browser", "session"]
    assert [i.name for i in selection.deselected] == ["wheels_a", "wheels_b"]
    [note] = selection.notes
    assert note.startswith(
        "deselected 2 toolchain_wheels tests (marker toolchain_wheels): the demo wheel is not in the tool cache"
    )
    assert (
        "; cold they take 40 min; run with `nox -s toolchain_wheels_test`" in note and slow_builds.FORCE_OPTION in note
    )


def test_force_runs_everything_without_checking():
    calls = []
    selection = slow_builds.select(ITEMS, [_build("toolchain_wheels", "cold", calls)], force=True)
    assert selection.kept == ITEMS and selection.deselected == [] and calls == []


def test_nothing_is_checked_when_no_slow_test_was_collected():
    calls = []
    selection = slow_builds.select([Item("unit")], [_build("toolchain_wheels", "cold", calls)], force=False)
    assert [i.name for i in selection.kept] == ["unit"]
    assert calls == [] and selection.notes == []


def test_a_check_that_fails_deselects_and_says_so():
    def broken():
        raise OSError("permission denied: the cache")

    selection = slow_builds.select(ITEMS, [_build("wasm_test", broken)], force=False)
    assert [i.name for i in selection.deselected] == ["session"]
    assert "could not be told (permission denied: the cache)" in selection.notes[0]


def test_a_test_with_two_slow_markers_is_deselected_once():
    both = Item("both", "toolchain_wheels", "wasm_test")
    selection = slow_builds.select(
        [both], [_build("toolchain_wheels", "cold"), _build("wasm_test", "cold")], force=False
    )
    assert selection.deselected == [both] and len(selection.notes) == 1


# ---------------------------------------------------------------- the signals


def _crate(tmp_path: Path) -> Path:
    """A workspace as crates/ is: the lock and profiles at the root, a patched crate, the engine crate."""
    workspace, crate = tmp_path / "ws", tmp_path / "ws" / "demo"
    (crate / "tests").mkdir(parents=True)
    (crate / "src").mkdir()
    (workspace / "patches" / "arrow-ipc").mkdir(parents=True)
    (workspace / "Cargo.toml").write_text('[workspace]\nmembers = ["demo"]\n[profile.release]\nlto = true\n')
    (workspace / "Cargo.lock").write_text('version = 4\n[[package]]\nname = "wasm-bindgen"\nversion = "0.2.130"\n')
    # crates/patches as it is: patches.toml and a patch (inputs); arrow-ipc/ prepared from them (not an input).
    (workspace / "patches" / "patches.toml").write_text(
        '[[crate]]\nname = "arrow-ipc"\nversion = "59.3.2"\ncrate_sha256 = "' + "ab" * 32 + '"\n'
        'patch = "arrow-ipc-59.3.2.patch"\npatch_sha256 = "' + "cd" * 32 + '"\n'
    )
    (workspace / "patches" / "arrow-ipc-59.3.2.patch").write_text("--- a/src/lib.rs\n+++ b/src/lib.rs\n")
    (workspace / "patches" / "arrow-ipc" / "lib.rs").write_text("// patched\n")
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "demo-engine"\nversion = "0.1.0"\n[lib]\ncrate-type = ["cdylib"]\n'
    )
    (crate / "src" / "lib.rs").write_text("")
    (crate / "tests" / "web-api.rs").write_text("")
    return crate / "Cargo.toml"


def test_a_test_build_counts_once_wasm_test_compiled_it_with_this_lock(tmp_path, monkeypatch):
    manifest = _crate(tmp_path)
    target = tmp_path / "target"
    monkeypatch.setenv("CARGO_TARGET_DIR", str(target))
    monkeypatch.delenv("RUSTFLAGS", raising=False)
    toolchain = rust.RustToolchain(Path("/usr/bin/rustc"), Path("/usr/bin/cargo"), "rustc 1.96.0", "test", True)
    monkeypatch.setattr(rust, "find_toolchain", lambda install=False: toolchain)
    assert "holds no test build yet" in wasm_test.missing_test_build(manifest)

    # A run of `wasm-test` (cargo and the browser faked): once cargo printed a result, every test was compiled.
    runner = tmp_path / "bin" / "wasm-bindgen-test-runner"
    runner.parent.mkdir()
    runner.write_text("")
    monkeypatch.setattr(
        wasm_bindgen,
        "ensure",
        lambda version, install_missing=True: wasm_bindgen.WasmBindgen(
            runner.with_name("wasm-bindgen"), version, "test"
        ),
    )
    monkeypatch.setattr(browser, "find", lambda install=False: browser.Browser(Path("c"), "1", Path("d"), "1"))
    monkeypatch.setattr(
        wasm_test.process,
        "stream",
        lambda *a, **k: process.Streamed(a[0], 0, stdout="test result: ok. 1 passed; 0 failed\n"),
    )
    prepared = []
    monkeypatch.setattr(patched_crates, "prepare_for", prepared.append)
    wasm_test.run(manifest)
    assert prepared == [manifest]  # the patched crates are prepared before cargo runs
    assert (target / wasm_test.TEST_BUILD_STAMP).is_file()
    deps = target / rust.WASM_TARGET / "release" / "deps"
    assert f"the compiled test 'web-api' is gone from {deps}" == wasm_test.missing_test_build(manifest)
    deps.mkdir(parents=True)
    (deps / "web_api-0123456789abcdef.wasm").write_bytes(b"\0asm")
    assert wasm_test.missing_test_build(manifest) is None
    # Another checkout of the same commit (a fresh clone elsewhere) shares the target directory and the build.
    clone = tmp_path / "clone" / "ws"
    shutil.copytree(manifest.parent.parent, clone)
    assert wasm_test.missing_test_build(clone / "demo" / "Cargo.toml") is None

    # The crate's own sources recompile only the crate: still cheap.
    (manifest.parent / "src" / "lib.rs").write_text("pub fn changed() {}\n")
    assert wasm_test.missing_test_build(manifest) is None
    # A patched crate's directory is made from patches.toml and its patch: prepared again, missing
    # (a fresh clone before its first build) or a preparation's lock file, the key stays.
    workspace = manifest.parent.parent
    (workspace / "patches" / "arrow-ipc" / "lib.rs").write_text("// prepared again\n")
    (workspace / "patches" / ".prepare.lock").write_text("")
    assert wasm_test.missing_test_build(manifest) is None
    shutil.rmtree(workspace / "patches" / "arrow-ipc")
    assert wasm_test.missing_test_build(manifest) is None
    # A patch or the patch list, the profiles, another lock (a dependency bumped) or compiler:
    # the dependencies compile again.
    for path, change in (
        (workspace / "patches" / "arrow-ipc-59.3.2.patch", "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@\n"),
        (
            workspace / "patches" / "patches.toml",
            (workspace / "patches" / "patches.toml").read_text().replace("ab" * 32, "ef" * 32),
        ),
        (workspace / "Cargo.toml", '[workspace]\nmembers = ["demo"]\n'),
        (workspace / "Cargo.lock", "version = 4\n"),
    ):
        original = path.read_text()
        path.write_text(change)
        assert "made from another Cargo.lock, workspace" in wasm_test.missing_test_build(manifest), path
        path.write_text(original)
        assert wasm_test.missing_test_build(manifest) is None
    monkeypatch.setattr(
        rust,
        "find_toolchain",
        lambda install=False: rust.RustToolchain(toolchain.rustc, toolchain.cargo, "rustc 1.97.0", "test", True),
    )
    assert "made from another Cargo.lock, workspace" in wasm_test.missing_test_build(manifest)


def test_a_run_with_extra_arguments_or_without_results_records_nothing(tmp_path, monkeypatch):
    manifest = _crate(tmp_path)
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path / "target"))
    toolchain = rust.RustToolchain(Path("/usr/bin/rustc"), Path("/usr/bin/cargo"), "rustc 1.96.0", "test", True)
    monkeypatch.setattr(rust, "find_toolchain", lambda install=False: toolchain)
    runner = tmp_path / "bin" / "wasm-bindgen-test-runner"
    runner.parent.mkdir()
    runner.write_text("")
    monkeypatch.setattr(
        wasm_bindgen,
        "ensure",
        lambda version, install_missing=True: wasm_bindgen.WasmBindgen(
            runner.with_name("wasm-bindgen"), version, "test"
        ),
    )
    monkeypatch.setattr(browser, "find", lambda install=False: browser.Browser(Path("c"), "1", Path("d"), "1"))
    monkeypatch.setattr(patched_crates, "prepare_for", lambda path: [])
    outputs = iter(["test result: ok. 1 passed\n", ""])
    monkeypatch.setattr(wasm_test.process, "stream", lambda *a, **k: process.Streamed(a[0], 101, stdout=next(outputs)))
    for extra in (["--features", "x"], None):  # a filtered build; a compile error (no result line)
        with contextlib.suppress(wasm_test.StageFailed):
            wasm_test.run(manifest, extra=extra)
    assert not (tmp_path / "target" / wasm_test.TEST_BUILD_STAMP).exists()


def test_the_default_test_run_deselects_cold_slow_builds_and_says_so(tmp_path):
    """The real conftest hook, in a pytest run that only collects, with an empty tool cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO_TARGET_DIR", "PYTEST_ADDOPTS")}
    env["WASM_TOOLCHAIN_CACHE"] = str(tmp_path / "empty-cache")
    files = ["tests/integration/test_toolchain_wheels.py", "tests/integration/test_wasm_test_session.py"]
    run = lambda *extra: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files, *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    cold = run()
    out = cold.stdout
    assert "no tests collected (6 deselected)" in out or "0/6 tests collected (6 deselected)" in out, out
    assert (
        "deselected 5 toolchain-wheel tests (marker toolchain_wheels): the binaryen-wasm-opt and "
        "wasm-bindgen-cli wheels are not in the tool cache; cold they take about 45 min" in out
    ), out
    assert "run with `nox -s toolchain_wheels_test`" in out
    assert "deselected 1 wasm-test session test (marker wasm_test): " in out and "holds no test build yet" in out
    assert "run with `nox -s wasm_test`" in out
    forced = run(slow_builds.FORCE_OPTION)
    assert "6 tests collected" in forced.stdout and "deselected" not in forced.stdout, forced.stdout
