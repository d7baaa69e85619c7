import json
import os
import stat
from pathlib import Path

import pytest

from toolchain.analysis import cargo_lock
from toolchain.core import cache
from toolchain.core.errors import MissingTool, StageFailed
from toolchain.pipeline import build
from toolchain.tools import wasm_bindgen


def test_cache_key_is_stable_and_sensitive_to_every_part():
    base = cache.cache_key(input="abc", version="0.2.130", flags=["-Os"])
    assert base == cache.cache_key(flags=["-Os"], version="0.2.130", input="abc")
    assert base != cache.cache_key(input="abd", version="0.2.130", flags=["-Os"])
    assert base != cache.cache_key(input="abc", version="0.2.131", flags=["-Os"])
    assert base != cache.cache_key(input="abc", version="0.2.130", flags=["-Oz"])


def _producer(out: Path, calls: list, content: bytes = b"out"):
    def produce():
        calls.append(1)
        out.write_bytes(content)

    return produce


def test_stage_runs_once_then_is_reused(tmp_path):
    out, record, calls = tmp_path / "o.wasm", tmp_path / "o.record.json", []
    assert build.run_cached(record, "k1", [out], _producer(out, calls)) is False
    assert build.run_cached(record, "k1", [out], _producer(out, calls)) is True
    assert len(calls) == 1


def test_stage_reruns_when_key_changes(tmp_path):
    out, record, calls = tmp_path / "o.wasm", tmp_path / "o.record.json", []
    build.run_cached(record, "k1", [out], _producer(out, calls))
    assert build.run_cached(record, "k2", [out], _producer(out, calls)) is False
    assert len(calls) == 2


def test_stage_reruns_when_output_was_tampered_with(tmp_path):
    out, record, calls = tmp_path / "o.wasm", tmp_path / "o.record.json", []
    build.run_cached(record, "k1", [out], _producer(out, calls))
    out.write_bytes(b"edited by hand")
    assert build.run_cached(record, "k1", [out], _producer(out, calls)) is False
    assert out.read_bytes() == b"out"


def test_failed_stage_leaves_no_record(tmp_path):
    out, record, calls = tmp_path / "o.wasm", tmp_path / "o.record.json", []
    build.run_cached(record, "k1", [out], _producer(out, calls))

    def fail():
        raise StageFailed("boom")

    with pytest.raises(StageFailed):
        build.run_cached(record, "k2", [out], fail)
    assert not record.exists()


def test_cargo_json_messages_name_the_cdylib(tmp_path):
    messages = [
        {
            "reason": "compiler-artifact",
            "target": {"name": "arrow", "crate_types": ["lib"]},
            "filenames": ["/t/libarrow.rlib"],
        },
        {
            "reason": "compiler-artifact",
            "target": {"name": "my-engine", "crate_types": ["cdylib", "rlib"]},
            "filenames": ["/t/wasm32-unknown-unknown/release/my_engine.wasm", "/t/libmy_engine.rlib"],
        },
        {"reason": "build-finished", "success": True},
    ]
    stdout = "\n".join(json.dumps(m) for m in messages)
    assert build.wasm_from_cargo_messages(stdout, "my_engine") == Path(
        "/t/wasm32-unknown-unknown/release/my_engine.wasm"
    )
    assert build.wasm_from_cargo_messages(stdout, "other") is None


def test_package_json_is_an_es_module_with_types():
    crate = cargo_lock.CrateManifest(Path("/c/Cargo.toml"), "my-engine", "1.2.3", "my_engine", "an engine", "MIT")
    manifest = build.package_json(crate, "my_engine")
    assert manifest["type"] == "module" and manifest["version"] == "1.2.3"
    assert manifest["types"] == "my_engine.d.ts"
    assert manifest["exports"]["."] == {"types": "./my_engine.d.ts", "default": "./my_engine.js"}
    assert "my_engine_bg.wasm" in manifest["files"]


def test_package_json_exports_the_crates_own_js_modules():
    crate = cargo_lock.CrateManifest(Path("/c/Cargo.toml"), "my-engine", "1.2.3", "my_engine", "an engine", "MIT")
    manifest = build.package_json(crate, "my_engine", ["fetch_query_ipc.js", "fetch_query_ipc.d.ts", "plain.js"])
    assert manifest["exports"]["./fetch_query_ipc.js"] == {
        "types": "./fetch_query_ipc.d.ts",
        "default": "./fetch_query_ipc.js",
    }
    assert manifest["exports"]["./plain.js"] == "./plain.js"
    assert {"fetch_query_ipc.js", "fetch_query_ipc.d.ts", "plain.js"} <= set(manifest["files"])
    assert list(manifest["exports"])[-1] == "./package.json"


def test_publish_replaces_the_package_whole(tmp_path):
    source = tmp_path / "a.wasm"
    source.write_bytes(b"new")
    package = tmp_path / "artifacts" / "pkg"
    package.mkdir(parents=True)
    (package / "stale.js").write_text("old")
    build.publish_package(package, {"a.wasm": source}, {"size-report.json": {"final": {}}})
    assert sorted(p.name for p in package.iterdir()) == ["a.wasm", "size-report.json"]
    assert sorted(p.name for p in package.parent.iterdir()) == ["pkg"]  # no temp dirs left


def test_publish_failure_keeps_the_old_package(tmp_path):
    package = tmp_path / "artifacts" / "pkg"
    package.mkdir(parents=True)
    (package / "engine.js").write_text("old")
    with pytest.raises(FileNotFoundError):
        build.publish_package(package, {"a.wasm": tmp_path / "missing.wasm"}, {})
    assert (package / "engine.js").read_text() == "old"
    assert sorted(p.name for p in package.parent.iterdir()) == ["pkg"]


def _fake_wasm_bindgen(directory: Path, version: str) -> Path:
    # A stand-in executable that only answers --version: enough to exercise version matching.
    exe = directory / "bin" / "wasm-bindgen"
    exe.parent.mkdir(parents=True)
    exe.write_text(f"#!/bin/sh\necho 'wasm-bindgen {version}'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_wrong_wasm_bindgen_version_is_never_used(tmp_path, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    exe = _fake_wasm_bindgen(tmp_path / "elsewhere", "0.2.99")
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(MissingTool) as error:
        wasm_bindgen.ensure("0.2.130", install_missing=False)
    message = str(error.value)
    assert "0.2.99, not 0.2.130" in message and "doctor -- --install" in message


def test_cached_wasm_bindgen_of_the_locked_version_is_found(tmp_path, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    _fake_wasm_bindgen(wasm_bindgen.cached_install_dir("0.2.130"), "0.2.130")
    found = wasm_bindgen.ensure("0.2.130", install_missing=False)
    assert found.version == "0.2.130" and found.provider == "cargo install into the tool cache"


def test_a_fresh_checkout_restores_outputs_from_the_shared_store(tmp_path):
    store, calls = tmp_path / "store", []
    first, second = tmp_path / "clone1" / "o.wasm", tmp_path / "clone2" / "o.wasm"
    first.parent.mkdir()
    assert build.run_cached(first.with_suffix(".record.json"), "k1", [first], _producer(first, calls), store) is False
    assert build.run_cached(second.with_suffix(".record.json"), "k1", [second], _producer(second, calls), store) is True
    assert len(calls) == 1 and second.read_bytes() == b"out"
    # another key is not served from the store
    assert (
        build.run_cached(second.with_suffix(".record.json"), "k2", [second], _producer(second, calls, b"v2"), store)
        is False
    )
    assert len(calls) == 2 and second.read_bytes() == b"v2"


def test_the_shared_store_keeps_only_the_most_recent_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "STAGE_STORE_ENTRIES", 2)
    store, calls, out = tmp_path / "store", [], tmp_path / "o.wasm"
    for key in ("a", "b", "c"):
        build.run_cached(tmp_path / "r.json", key, [out], _producer(out, calls), store)
        os.utime(store / key, (len(calls), len(calls)))  # distinct, increasing mtimes
    assert sorted(p.name for p in store.iterdir()) == ["b", "c"]
