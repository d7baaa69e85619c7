"""The CPU profile's summary (toolchain/pipeline/bench_profile.py): self and total time from a
cpuprofile's samples, by function, kind, crate and category; names; the errors. No browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolchain.core.errors import ToolchainError
from toolchain.core.layout import FINAL, WASM_BINDGEN, WASM_OPT, Layout
from toolchain.pipeline import bench_profile as bp
from toolchain.pipeline import bench_queries as bq

WASM_URL = "http://127.0.0.1:1/named/x/datafusion_wasm_bg.wasm"
GLUE_URL = "http://127.0.0.1:1/pkg/x/datafusion_wasm.js"
OPERATOR = "<datafusion_physical_plan[315cfa0b3df9ed3]::aggregates::row_hash::GroupedHashAggregateStream>::poll_next"
MALLOC = "<dlmalloc[757218123c3d8611]::dlmalloc::Dlmalloc<dlmalloc[757218123c3d8611]::sys::System>>::malloc"
HASH = "datafusion_common[91f211768ec58ae3]::hash_utils::hash_array::<&arrow_array[b3f9a24dadb0e8b2]::array::Foo>"


def node(node_id: int, name: str, url: str = "", children: tuple[int, ...] = ()) -> dict:
    return {
        "id": node_id,
        "callFrame": {"functionName": name, "scriptId": "0", "url": url, "lineNumber": -1, "columnNumber": -1},
        "hitCount": 0,
        "children": list(children),
    }


# (root) -> (program), (idle), (garbage collector), run (bench.js) -> operator (wasm) -> malloc, hash;
#                                                                  operator -> now (glue JS) -> now (builtin)
PROFILE = {
    "nodes": [
        node(1, "(root)", children=(2, 3, 4, 5)),
        node(2, "(program)"),
        node(3, "(idle)"),
        node(4, "(garbage collector)"),
        node(5, "run", "http://127.0.0.1:1/page/bench.js", children=(6,)),
        node(6, OPERATOR, WASM_URL, children=(7, 8, 9)),
        node(7, MALLOC, WASM_URL),
        node(8, HASH, WASM_URL),
        node(9, "__wbg_now_e7c6795a7f81e10f", GLUE_URL, children=(10,)),
        node(10, "now"),
    ],
    "startTime": 1_000_000,
    # Samples (node ids) and the µs since the previous sample (the first: since startTime). A
    # sample lasts until the next one; the last until endTime.
    "samples": [6, 6, 7, 8, 8, 8, 10, 2, 3, 4, 5],
    "timeDeltas": [0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
    "endTime": 1_000_000 + 10_000 + 500,
}


def test_self_time_by_function_kind_crate_and_category():
    s = bp.summarise(PROFILE, "q1", [1.0, 2.0], bp.Namer(glue="datafusion_wasm.js"))
    assert s.samples == 11
    assert s.profile_ms == pytest.approx(10.5)
    by_name = {f.name: f for f in s.functions}
    operator = "<datafusion_physical_plan::aggregates::row_hash::GroupedHashAggregateStream>::poll_next"
    malloc = "<dlmalloc::dlmalloc::Dlmalloc<System>>::malloc"
    hash_fn = "datafusion_common::hash_utils::hash_array::<&Foo>"
    assert {n: f.self_ms for n, f in by_name.items()} == pytest.approx(
        {
            operator: 2.0,
            malloc: 1.0,
            hash_fn: 3.0,
            "now (builtin or driver script)": 1.0,
            "(program)": 1.0,
            "(idle)": 1.0,
            "(garbage collector)": 1.0,
            "run (bench.js)": 0.5,  # the last sample: to endTime
        }
    )
    # Total: the function's own samples and its callees' (the operator under everything wasm and the glue).
    assert by_name[operator].total_ms == pytest.approx(7.0)
    assert by_name["run (bench.js)"].total_ms == pytest.approx(7.5)
    assert by_name[malloc].caller == operator
    assert s.functions[0].name == hash_fn  # ranked by self time
    assert s.by_kind == pytest.approx(
        {"wasm": 6.0, "JS": 1.5, "(garbage collector)": 1.0, "(program)": 1.0, "(idle)": 1.0}
    )
    assert s.by_crate["datafusion_physical_plan"] == pytest.approx(2.0)
    assert s.by_crate["dlmalloc"] == pytest.approx(1.0)
    assert s.by_crate["datafusion_common"] == pytest.approx(3.0)
    expected = {
        "hashing": 3.0,
        "DataFusion aggregation": 2.0,
        "allocator": 1.0,
        "time functions": 1.0,
        "V8: garbage collector": 1.0,
        "V8: (program)": 1.0,
        "idle": 1.0,
        "JS: the page, the driver's scripts, builtins": 0.5,
    }
    categories = {next((p for p in expected if label.startswith(p)), label): ms for label, ms in s.by_category.items()}
    assert categories == pytest.approx(expected)
    markdown = bp.summary_markdown(s)
    assert f"| 1 | `{hash_fn}` | datafusion_common | hashing" in markdown
    assert "wasm 57.1%" in markdown


def test_a_sample_of_the_root_counts_as_program_and_deltas_must_match_samples():
    profile = {**PROFILE, "samples": [1], "timeDeltas": [0], "endTime": PROFILE["startTime"] + 2000}
    s = bp.summarise(profile, "q")
    assert s.by_kind["(program)"] == pytest.approx(2.0)
    with pytest.raises(ToolchainError, match="1 samples and 2 time deltas"):
        bp.summarise({**profile, "timeDeltas": [0, 1]}, "q")


@pytest.mark.parametrize(
    ("raw", "short"),
    [
        (
            "<alloc[1848f5a9f4808786]::vec::Vec<arrow_buffer[ce2f4b575d960079]::native::i256>>::push[3]",
            "<alloc::vec::Vec<i256>>::push",
        ),
        (
            "<i128 as arrow_array[b3f9a24dadb0e8b2]::arithmetic::ArrowNativeTypeOp>::mul_checked",
            "<i128 as arrow_array::arithmetic::ArrowNativeTypeOp>::mul_checked",
        ),
        ("core[7920aa1b5090fb63]::iter::f::<" + "a::B, " * 20 + "C>", "core::iter::f::<…>"),
        ("<F as Fn<(A,)>>::call -> X", "<F as Fn<(A,)>>::call -> X"),
    ],
)
def test_short_names(raw, short):
    assert bp.short_name(raw) == short


def test_a_primitive_types_trait_impl_is_the_traits_crate():
    assert bp.crate_of("<i128 as arrow_array::arithmetic::ArrowNativeTypeOp>::mul_checked") == "arrow_array"
    assert bp.crate_of("hashbrown::raw::RawTableInner::find") == "hashbrown"


# ---------------------------------------------------------------- errors


def test_firefox_is_refused_with_the_reason():
    with pytest.raises(ToolchainError, match="Chromium only"):
        bp.check_browser("firefox")
    bp.check_browser("chromium")


def _package(root: Path) -> bq.PackageSpec:
    package = root / "variants" / "fast" / "datafusion-wasm"
    package.mkdir(parents=True)
    (package / "datafusion_wasm_bg.wasm").write_bytes(b"\0asm\1\0\0\0")
    (package / "package.json").write_text('{"module": "datafusion_wasm.js"}')
    return bq.PackageSpec("fast", package)


def _record(package: bq.PackageSpec, stages: dict[str, str]) -> None:
    from toolchain.core import cache

    stages_dir = Layout(package.directory.parent, package.directory.name, "datafusion_wasm").stages_dir
    stages_dir.mkdir(parents=True)
    record = {
        "version": 1,
        "crate": {"name": "datafusion-wasm", "version": "0", "lib_name": "datafusion_wasm", "manifest": "Cargo.toml"},
        "profile": "release",
        "features": [],
        "no_default_features": False,
        "stages": [
            {"stage": s, "module": m, "sha256": cache.file_sha256(package.directory / "datafusion_wasm_bg.wasm")}
            for s, m in stages.items()
        ],
        "build_info": {},
        "size_report": {},
    }
    (stages_dir / "build-record.json").write_text(json.dumps(record))


def test_a_package_without_a_build_record_names_the_build_to_run(tmp_path):
    package = _package(tmp_path)
    with pytest.raises(ToolchainError, match="no build record") as raised:
        bp.find_named_module(package)
    assert "nox -s build -- --variant fast" in str(raised.value)


def test_a_package_whose_named_module_is_gone_names_the_build_to_run(tmp_path):
    package = _package(tmp_path)
    named = ".stages/datafusion-wasm/wasm-opt/datafusion_wasm_bg.wasm"
    _record(package, {WASM_BINDGEN: "x", WASM_OPT: named, FINAL: "y"})
    with pytest.raises(ToolchainError, match="wasm-opt stage's module with the names section is missing") as raised:
        bp.find_named_module(package)
    assert "nox -s build -- --variant fast" in str(raised.value)
    (package.directory.parent / named).parent.mkdir(parents=True)
    (package.directory.parent / named).write_bytes(b"\0asm\1\0\0\0")
    found = bp.find_named_module(package)
    assert found.named_module == package.directory.parent / named
    (package.directory / "datafusion_wasm_bg.wasm").write_bytes(b"\0asm\1\0\0\0rebuilt")
    with pytest.raises(ToolchainError, match="not the module its build record"):
        bp.find_named_module(package)
