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


def test_js_files_that_export_nothing_are_side_effects(tmp_path):
    """A worker's entry script exports nothing: a bundler that believes sideEffects drops
    `import "pkg/worker.js"` from the user's own worker, which then never answers."""
    files = {
        "worker.js": "import init from './e.js';\nself.onmessage = () => {};\n",
        "client.js": "// export nothing here? no:\nexport function query() {}\n",
        "indented.mjs": "const x = 1;\n  export { x };\n",
        "types.d.ts": "export {};\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = {name: tmp_path / name for name in files}
    assert build.side_effect_files(paths) == ["worker.js"]
    crate = cargo_lock.CrateManifest(Path("/c/Cargo.toml"), "my-engine", "1.2.3", "my_engine", "an engine", "MIT")
    manifest = build.package_json(crate, "my_engine", list(files), side_effects=["worker.js"])
    assert manifest["sideEffects"] == ["./my_engine.js", "./worker.js"]


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


# ---------------------------------------------------------------- outputs below the stage's directory


def _writes(base: Path, files: dict[str, bytes], calls: list):
    """A stage that writes files (by path below base) and counts its runs."""

    def produce():
        calls.append(1)
        for name, content in files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_bytes(content)

    return produce


SNIPPET_FILES = {
    "glue.js": b"import { shout } from './snippets/c-0123/inline0.js';",
    "snippets/c-0123/inline0.js": b"export function shout(s) { return s; }",
    "snippets/c-0123/js/format.js": b"export function frame(t) { return t; }",
}


def _found(base: Path):
    return lambda: sorted(p for p in (base / "snippets").rglob("*") if p.is_file())


def test_outputs_found_after_the_stage_are_recorded_stored_and_restored_at_their_paths(tmp_path):
    store, calls = tmp_path / "store", []
    first = tmp_path / "clone1" / "stage"
    record = tmp_path / "clone1" / "stage.record.json"
    reused = build.run_cached(
        record,
        "k1",
        [first / "glue.js"],
        _writes(first, SNIPPET_FILES, calls),
        store,
        base=first,
        found=_found(first),
    )
    assert reused is False and len(calls) == 1
    assert sorted(json.loads(record.read_text())["outputs"]) == sorted(SNIPPET_FILES)
    manifest = json.loads((store / "k1" / build.STORE_MANIFEST).read_text())["outputs"]
    assert sorted(manifest) == sorted(SNIPPET_FILES)
    assert (store / "k1" / "snippets" / "c-0123" / "js" / "format.js").read_bytes() == SNIPPET_FILES[
        "snippets/c-0123/js/format.js"
    ]
    # the same checkout: reused from its record, every found file checked too
    assert build.run_cached(record, "k1", [first / "glue.js"], _writes(first, {}, calls), store, base=first) is True
    (first / "snippets" / "c-0123" / "inline0.js").write_bytes(b"edited")
    assert build.run_cached(record, "k1", [first / "glue.js"], _writes(first, {}, calls), store, base=first) is True
    assert (first / "snippets" / "c-0123" / "inline0.js").read_bytes() == SNIPPET_FILES["snippets/c-0123/inline0.js"]
    # a fresh clone: restored from the store with its subdirectories, nothing runs
    second = tmp_path / "clone2" / "stage"
    second_record = tmp_path / "clone2" / "stage.record.json"
    assert (
        build.run_cached(second_record, "k1", [second / "glue.js"], _writes(second, {}, calls), store, base=second)
        is True
    )
    assert len(calls) == 1
    assert {
        p.relative_to(second).as_posix(): p.read_bytes() for p in build.recorded_outputs(second_record, second)
    } == (SNIPPET_FILES)
    assert not list(second.rglob(".*"))  # no temporary copies left


@pytest.mark.parametrize("name", ["../escaped.js", "/etc/escaped.js", "snippets/../../escaped.js", ".complete"])
def test_a_store_entry_naming_a_path_outside_the_stage_is_never_followed(tmp_path, name, capsys):
    store, calls = tmp_path / "store", []
    base = tmp_path / "clone" / "stage"
    entry = store / "k1"
    entry.mkdir(parents=True)
    (entry / "glue.js").write_bytes(b"glue")
    (tmp_path / "clone").mkdir()
    outputs = {"glue.js": cache.file_fingerprint(entry / "glue.js")}
    source = Path(os.path.normpath(entry / name)) if not name.startswith("/") else None
    if source is not None and source.is_relative_to(tmp_path):  # the file is there, with the right checksum
        source.write_bytes(b"export const escaped = true;")
        outputs[name] = cache.file_fingerprint(source)
    else:
        outputs[name] = {"sha256": "0" * 64, "size": 1}
    cache.write_json_atomic(entry / build.STORE_MANIFEST, {"outputs": outputs})
    reused = build.run_cached(
        tmp_path / "clone" / "r.json", "k1", [base / "glue.js"], _writes(base, {"glue.js": b"glue"}, calls), store
    )
    assert reused is False and calls == [1]
    assert not (tmp_path / "clone" / "escaped.js").exists() and not Path("/etc/escaped.js").exists()
    assert "damaged" in capsys.readouterr().err


# ---------------------------------------------------------------- the store, per crate


def test_filling_one_crates_store_never_evicts_another_crates_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(build, "STAGE_STORE_ENTRIES", 3)
    calls: list = []
    engine_store = build.stage_store("datafusion-wasm")
    out = tmp_path / "engine" / "o.wasm"
    out.parent.mkdir()
    build.run_cached(tmp_path / "engine" / "r.json", "e" * 64, [out], _producer(out, calls), engine_store)
    os.utime(engine_store / ("e" * 64), (1, 1))  # the oldest entry of the whole store
    small = build.stage_store("greeter")
    for i in range(10):
        key = f"{i:064x}"
        build.run_cached(tmp_path / "r.json", key, [tmp_path / "o.wasm"], _producer(tmp_path / "o.wasm", calls), small)
        os.utime(small / key, (100 + i, 100 + i))
    assert sorted(p.name for p in small.iterdir()) == [f"{i:064x}" for i in (7, 8, 9)]
    assert [p.name for p in engine_store.iterdir()] == ["e" * 64]
    assert engine_store.parent == small.parent == tmp_path / "cache" / "stages"
    # a fresh clone of the engine still restores it
    fresh = tmp_path / "fresh" / "o.wasm"
    assert build.run_cached(fresh.with_suffix(".json"), "e" * 64, [fresh], _producer(fresh, calls), engine_store)


def test_entries_of_the_ungrouped_layout_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "cache" / "stages"
    (root / ("a" * 64)).mkdir(parents=True)
    (root / ("a" * 64) / build.STORE_MANIFEST).write_text("{}")
    (root / "hello-engine" / ("b" * 64)).mkdir(parents=True)
    assert build.stage_store("greeter") == root / "greeter"
    assert sorted(p.name for p in root.iterdir()) == ["hello-engine"]
    assert (root / "hello-engine" / ("b" * 64)).is_dir()


@pytest.mark.parametrize("name", ["", "..", "../engine", "a/b", ".hidden"])
def test_the_store_group_is_a_package_name(name):
    with pytest.raises(ValueError):
        build.stage_store(name)


# ---------------------------------------------------------------- the wasm-bindgen stage and its snippets


def _fake_generate(files: dict[str, bytes], calls: list):
    def generate(bindgen, input_wasm, out_dir, out_name):
        calls.append(input_wasm.read_bytes())
        out_dir.mkdir(parents=True, exist_ok=True)  # as wasm-bindgen: it adds, never empties snippets/
        for name in (f"{out_name}_bg.wasm", f"{out_name}.js", f"{out_name}.d.ts", f"{out_name}_bg.wasm.d.ts"):
            (out_dir / name).write_bytes(input_wasm.read_bytes() + name.encode())
        for name, content in files.items():
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (out_dir / name).write_bytes(content)

    return generate


def test_the_bindgen_stage_returns_its_snippets_and_drops_an_earlier_inputs(tmp_path, monkeypatch):
    calls: list = []
    bindgen = wasm_bindgen.WasmBindgen(Path("/bin/wasm-bindgen"), "0.2.130", "test")
    cargo_wasm, store = tmp_path / "c.wasm", tmp_path / "store"
    cargo_wasm.write_bytes(b"v1")
    old = {"snippets/g-1111/inline0.js": b"old", "snippets/g-1111/js/format.js": b"old module"}
    monkeypatch.setattr(wasm_bindgen, "generate", _fake_generate(old, calls))
    stage = tmp_path / "a" / "wasm-bindgen"
    glue, reused = build.bindgen_stage(bindgen, cargo_wasm, stage, "g", store)
    assert not reused and sorted(n for n in glue if n.startswith("snippets/")) == sorted(old)
    assert glue["snippets/g-1111/js/format.js"] == stage / "snippets" / "g-1111" / "js" / "format.js"

    cargo_wasm.write_bytes(b"v2")  # the crate changed: another hash, the module gone
    new = {"snippets/g-2222/inline0.js": b"new"}
    monkeypatch.setattr(wasm_bindgen, "generate", _fake_generate(new, calls))
    glue, reused = build.bindgen_stage(bindgen, cargo_wasm, stage, "g", store)
    assert [n for n in glue if n.startswith("snippets/")] == ["snippets/g-2222/inline0.js"]
    assert sorted(p.relative_to(stage).as_posix() for p in (stage / "snippets").rglob("*.js")) == sorted(new)

    # the first input again, in this checkout: restored from the store, the v2 snippet dropped
    cargo_wasm.write_bytes(b"v1")
    glue, reused = build.bindgen_stage(bindgen, cargo_wasm, stage, "g", store)
    assert reused and len(calls) == 2
    assert sorted(p.relative_to(stage).as_posix() for p in (stage / "snippets").rglob("*.js")) == sorted(old)
    assert sorted(n for n in glue if n.startswith("snippets/")) == sorted(old)


def test_the_cache_command_shows_a_crates_stage_entries_as_one(tmp_path, monkeypatch):
    from toolchain.core import cache_areas

    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "o.wasm"
    for key in ("1" * 64, "2" * 64):
        build.run_cached(
            tmp_path / "r.json", key, [out], _producer(out, [], key.encode()), build.stage_store("greeter")
        )
    stages = next(a for a in cache_areas.inventory(tmp_path / "cache").areas if a.name == "stages")
    assert [(e.name, e.detail) for e in stages.entries] == [("greeter", "2 stage entries of this crate")]
    assert cache_areas.entry_label(stages.entries[0]) == "greeter"
