"""`python -m toolchain cache show|clean` on a fake cache tree."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from toolchain import cli
from toolchain.core import cache, cache_areas
from toolchain.core.errors import ToolchainError

REPO = Path(__file__).resolve().parents[2]
KEY_A, KEY_B = "a" * 64, "b" * 64
DAY = 86400


def _file(path: Path, size: int = 1000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def _age(path: Path, days: float) -> None:
    """Makes a whole tree look unused for `days`."""
    when = time.time() - days * DAY
    for root, dirs, names in os.walk(path):
        for name in [*dirs, *names]:
            os.utime(Path(root, name), (when, when), follow_symlinks=False)
    os.utime(path, (when, when))


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A cache with every area, as the toolchain lays it out."""
    root = tmp_path / "cache"
    _file(root / "tools" / "wasm-bindgen-cli-0.2.130" / "bin" / "wasm-bindgen", 50_000)
    _file(root / "tools" / "wasm-bindgen-cli-0.2.130" / "bin" / "wasm-bindgen-test-runner", 40_000)
    _file(root / "tools" / "geckodriver-0.37.1" / "bin" / "geckodriver", 20_000)
    _file(root / "tools" / "npm-js-0123456789abcdef" / "node_modules" / "a" / "index.js")
    _file(root / "tools" / "toolchain-wheels" / "binaryen-wasm-opt-123-0f0f" / "binaryen.whl", 30_000)
    _file(root / "stages" / KEY_A / "engine_bg.wasm", 60_000)
    cache.write_json_atomic(root / "stages" / KEY_A / ".complete", {"outputs": {"engine_bg.wasm": {}}})
    _file(root / "stages" / KEY_B / "engine.js")  # never finished: no .complete
    _file(root / "cargo-target" / "datafusion-wasm" / "wasm32-unknown-unknown" / "release" / "engine.wasm", 80_000)
    _file(root / "cargo-target" / "hello-engine" / "release" / "hello.wasm")
    _file(root / "cargo-install-target" / "release" / "wasm-bindgen", 10_000)
    _file(root / "toolchain-wheel-work" / "binaryen-0f0f" / "cmake-build" / "CMakeCache.txt")
    _file(root / "crates" / "arrow-ipc-59.3.2.crate", 5_000)
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(root))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return root


def _names(root: Path, area: str) -> set[str]:
    return {p.name for p in (root / area).iterdir()} if (root / area).exists() else set()


def test_show_lists_every_area_and_entry(root, capsys):
    assert cli.main(["cache", "show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"cache: {root} (from WASM_TOOLCHAIN_CACHE)")
    for line in (
        "wasm-bindgen-cli 0.2.130",
        "geckodriver 0.37.1",
        "npm-js 0123456789abcdef",
        "toolchain wheel binaryen-wasm-opt-123-0f0f",
        f"{KEY_A[:16]}…",
        "engine_bg.wasm",
        "unfinished (no .complete manifest)",
        "datafusion-wasm",
        "hello-engine",
        "cargo-install",
        "binaryen-0f0f",
        "arrow-ipc-59.3.2.crate",
    ):
        assert line in out, line
    assert re.search(r"^tools +\d+\.\d KiB +4 entries", out, flags=re.MULTILINE)
    assert re.search(r"^stages .* 2 entries", out, flags=re.MULTILINE)
    assert "total" in out and "not ours" not in out


def test_show_json_has_sizes_counts_and_versions(root, capsys):
    assert cli.main(["cache", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["root"] == str(root) and data["configured_by"] == "WASM_TOOLCHAIN_CACHE"
    areas = {a["name"]: a for a in data["areas"]}
    assert set(areas) == {a.name for a in cache_areas.AREAS}
    tools = {e["name"]: e for e in areas["tools"]["entries"]}
    bindgen = tools["wasm-bindgen-cli-0.2.130"]
    assert (bindgen["tool"], bindgen["version"], bindgen["files"]) == ("wasm-bindgen-cli", "0.2.130", 2)
    assert bindgen["size"] >= 90_000
    assert areas["stages"]["files"] == 3 and len(areas["stages"]["entries"]) == 2
    assert areas["cargo-install"]["entries"][0]["name"] == "" and areas["cargo-install"]["clean_option"] == "--targets"
    assert data["size"] == sum(a["size"] for a in data["areas"]) > 300_000
    assert cli.main(["cache", "show", "--json"]) == 0 and json.loads(capsys.readouterr().out)["size"] == data["size"]


def test_show_of_a_cache_that_does_not_exist_yet(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "none"))
    assert cli.main(["cache"]) == 0
    assert "the directory does not exist yet" in capsys.readouterr().out


def test_clean_stages_removes_the_store_entries_only(root, capsys):
    assert cli.main(["cache", "clean", "--stages"]) == 0
    out = capsys.readouterr().out
    assert _names(root, "stages") == set()
    assert (root / "stages").is_dir()
    assert _names(root, "tools") == {
        "wasm-bindgen-cli-0.2.130",
        "geckodriver-0.37.1",
        "npm-js-0123456789abcdef",
        "toolchain-wheels",
    }
    assert _names(root, "cargo-target") == {"datafusion-wasm", "hello-engine"}
    assert f"removed stages/{KEY_A}" in out and "freed " in out and "in 2 entries" in out


def test_clean_tools_and_targets(root, capsys):
    assert cli.main(["cache", "clean", "--tools"]) == 0
    assert _names(root, "tools") == set() and _names(root, "stages") == {KEY_A, KEY_B}
    assert "removed tools/wasm-bindgen-cli-0.2.130" in capsys.readouterr().out
    assert cli.main(["cache", "clean", "--targets"]) == 0
    assert _names(root, "cargo-target") == set() and _names(root, "toolchain-wheel-work") == set()
    assert not (root / "cargo-install-target").exists()
    assert (root / "crates" / "arrow-ipc-59.3.2.crate").is_file()  # only --all takes the downloads
    assert cli.main(["cache", "clean", "--all"]) == 0
    assert not any(p.is_file() for p in root.rglob("*"))


def test_dry_run_removes_nothing(root, capsys):
    before = sorted(str(p) for p in root.rglob("*"))
    assert cli.main(["cache", "clean", "--all", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert sorted(str(p) for p in root.rglob("*")) == before
    assert "would remove cargo-target/datafusion-wasm" in out and "would free" in out and "in 11 entries" in out


def test_older_than_removes_only_what_was_not_used(root, capsys):
    _age(root / "cargo-target" / "hello-engine", 40)
    _age(root / "cargo-target" / "datafusion-wasm", 40)
    (root / "cargo-target" / "datafusion-wasm" / "recent.rlib").write_bytes(b"1")  # a build used it today
    assert cli.main(["cache", "clean", "--targets", "--older-than", "30"]) == 0
    assert _names(root, "cargo-target") == {"datafusion-wasm"}
    assert (root / "cargo-install-target").is_dir()  # made today
    assert "kept 3 used more recently" in capsys.readouterr().out


def test_clean_needs_to_be_told_what(root):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["cache", "clean"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("stranger", ["notes.txt", ".git", "src"])
def test_a_root_that_is_not_our_cache_is_refused(root, capsys, stranger):
    (root / stranger).mkdir() if stranger != "notes.txt" else _file(root / stranger)
    before = sorted(str(p) for p in root.rglob("*"))
    assert cli.main(["cache", "clean", "--all"]) == ToolchainError.exit_code
    assert f"refusing to clean {root}" in capsys.readouterr().err
    assert sorted(str(p) for p in root.rglob("*")) == before


def test_home_and_empty_directories_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    with pytest.raises(ToolchainError, match="home directory"):
        cache_areas.clean({"stages"}, root=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolchainError, match="holds none of the cache's areas"):
        cache_areas.clean({"stages"}, root=tmp_path / "empty")


def test_nothing_outside_the_root_is_removed_through_symlinks(root, tmp_path):
    outside = tmp_path / "precious"
    _file(outside / "keep.txt")
    (root / "tools" / "linked-tool-1.0").symlink_to(outside, target_is_directory=True)
    cache_areas.clean({"tools"}, root=root)
    assert not (root / "tools" / "linked-tool-1.0").is_symlink()  # the link went
    assert (outside / "keep.txt").is_file()  # what it pointed at did not
    # An area that is a symlink to elsewhere: the root is refused.
    os.rename(root / "stages", tmp_path / "elsewhere")
    (root / "stages").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ToolchainError, match="symlink"):
        cache_areas.clean({"stages"}, root=root)
    assert (tmp_path / "elsewhere" / KEY_A).is_dir()


def test_remove_refuses_paths_outside_the_root(root, tmp_path):
    victim = _file(tmp_path / "victim.txt")
    for path in (victim, root, root / "tools" / ".." / ".." / "victim.txt"):
        with pytest.raises(ToolchainError, match="not inside the cache root"):
            cache_areas.remove(path, root)
    assert victim.is_file() and root.is_dir()


def test_the_areas_are_where_the_toolchain_writes():
    """Every `cache_root() / "NAME"` in the toolchain is an area of the cache command, and every area is written."""
    written = set()
    for path in (REPO / "toolchain").rglob("*.py"):
        written |= set(re.findall(r'cache_root\(\)\s*/\s*"([^"/]+)"', path.read_text()))
    areas = {a.directory for a in cache_areas.AREAS}
    assert written <= areas, f"the cache command does not know {written - areas}: add them to cache_areas.AREAS"
    assert areas <= written, f"no code writes {areas - written} any more: drop them from cache_areas.AREAS"


def test_tool_names_and_versions():
    assert cache_areas.tool_and_version("wasm-bindgen-cli-0.2.130") == ("wasm-bindgen-cli", "0.2.130")
    assert cache_areas.tool_and_version("binaryen-npm-132.0.0") == ("binaryen-npm", "132.0.0")
    assert cache_areas.tool_and_version("npm-vite-app-1600f8915096a644") == ("npm-vite-app", "1600f8915096a644")
    assert cache_areas.tool_and_version("something") == ("something", None)
