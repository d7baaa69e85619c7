"""WebAssembly UDF modules in the browser engine (issue 15, item 3): `register_udf(name, wasm_bytes)`.

The example modules are built by `udf build` (Rust: crates/udf/examples/text and scoring; C:
udf/c/examples/scoring; not the Go one, which needs WASI), their bytes are handed to the page, and
every batch-style function is called from SQL over an Arrow table. The same columns go through the
reference host (toolchain/pipeline/udf_call.py, wasmtime): values and NULLs must be identical.
Then the failure paths: a row error is a SQL error with the row's message, a trapping module
(hand-written WAT) fails the statement and leaves the engine and its tables intact and the module
usable again on a fresh instance, and modules that break the ABI are refused with the reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import b64
from tests.udf import wat_modules
from toolchain.pipeline import udf_build
from toolchain.pipeline.udf_call import UdfModule
from toolchain.tools.webdriver import JSError

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "udf-text": (ROOT / "crates/udf/examples/text", None),
    "udf-scoring": (ROOT / "crates/udf/examples/scoring", None),
    "c_scoring": (ROOT / "udf/c/examples/scoring", "c_scoring"),
}


@pytest.fixture(scope="session")
def udf_modules(tmp_path_factory) -> dict[str, Path]:
    """The example modules, built once per session (the toolchain's caches make a rebuild seconds)."""
    artifacts = tmp_path_factory.mktemp("udf-browser")
    return {
        name: udf_build.build(udf_build.UdfBuildOptions(project=project, artifacts_dir=artifacts, name=n)).module
        for name, (project, n) in EXAMPLES.items()
    }


@pytest.fixture(scope="module")
def page(wasm_module_page):
    wasm_module_page.run("window.udfEngine = new window.pkg.WasmQueryEngine();")
    return wasm_module_page


def ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def register_table(page, name: str, table: pa.Table) -> None:
    rows = page.run(
        "const [n, d] = args; return window.udfEngine.register_table(n, window.harness.base64ToBytes(d));",
        name,
        b64(ipc_stream(table)),
    )
    assert rows == table.num_rows


def register_udf(page, name: str, wasm: bytes) -> list[str]:
    return page.run(
        "const [n, d] = args; return window.udfEngine.register_udf(n, window.harness.base64ToBytes(d));",
        name,
        b64(wasm),
    )


def deregister_udf(page, name: str) -> None:
    page.run("const [n] = args; window.udfEngine.deregister_udf(n);", name)


def sql(page, statement: str) -> pa.Table:
    out = page.run(
        "const [s] = args; return window.harness.bytesToBase64(await window.udfEngine.execute_sql(s));", statement
    )
    return pa.ipc.open_stream(base64.b64decode(out)).read_all()


def reference(module: Path, function: str, columns: list[pa.Array]) -> list:
    """The reference host's result for one batch; no row may have failed."""
    result = UdfModule.load(module).instantiate().call_batch(function, columns)
    assert result.error_count == 0, [e for e in result.errors if e]
    return result.values.to_pylist()


def assert_same_as_reference(page, module: Path, table: str, data: pa.Table, function: str, args: list[str]) -> None:
    got = sql(page, f"SELECT {function}({', '.join(args)}) AS r FROM {table}").column("r").to_pylist()
    expected = reference(module, function, [data.column(a).combine_chunks() for a in args])
    assert len(got) == data.num_rows
    assert [i for i, (g, e) in enumerate(zip(got, expected)) if g != e or type(g) is not type(e)] == []
    assert sum(v is None for v in got) == sum(v is None for v in expected)


def still_answers(page, table: str, rows: int) -> None:
    assert sql(page, f"SELECT count(*) AS n FROM {table}").column("n").to_pylist() == [rows]
    assert page.run("return window.pkg.WasmQueryEngine.is_usable();") is True


# ---------------------------------------------------------------------------------------------
# Data: seeded, with NULLs, non-ASCII text, empty strings, pre-epoch timestamps.

ROWS = 600
WORDS = [
    "kitten",
    "sitting",
    "",
    "café",
    "cafe",
    "flaw",
    "lawn",
    "🙂a",
    "a",
    "Zürich",
    "Zurich",
    "東京",
    "京都",
    "gumbo",
]
DOCS = {  # document: paths over it (and "$.x", which matches nothing)
    '{"store":{"book":[{"title":"A","price":8.95,"cat":"ref"},{"title":"B","price":12,"cat":"fic"}],'
    '"bicycle":{"color":"red","price":19.95}},"n":null}': [
        "$.store.book[*].title",
        "$['store']['book'][1]['price']",
        "$.store.*.color",
        "$.store.book[?(@.cat=='fic')].title",
        "$.n",
    ],
    '{"a":[1,2,{"b":"x"}],"s":"é🙂"}': ["$.a[*]", "$.a[2].b", "$.s", "$"],
    "[1,[2,3],{}]": ["$[1]", "$[*]", "$[1][0]"],
}
PATTERNS = [(r"(\d+)-(\d+)", 2), (r"(\d+)", 1), (r"a|(x)", 1), (r"[a-zé]+", 0)]
TEXTS = ["order 123-456", "no digits", "ab", "x9y", "café 7-8", ""]


def maybe(rng: random.Random, value, p: float = 0.1):
    return None if rng.random() < p else value


def text_table() -> pa.Table:
    rng = random.Random(15)
    patterns = [rng.choice(PATTERNS) for _ in range(ROWS)]
    docs = [rng.choice(list(DOCS)) for _ in range(ROWS)]
    return pa.table(
        {
            # Utf8View and LargeUtf8 inputs: the engine casts them to Utf8 before the call.
            "a": pa.array([maybe(rng, rng.choice(WORDS) + rng.choice(WORDS)) for _ in range(ROWS)], pa.string_view()),
            "b": pa.array([maybe(rng, rng.choice(WORDS)) for _ in range(ROWS)], pa.large_string()),
            "doc": pa.array([maybe(rng, doc) for doc in docs]),
            "path": pa.array([maybe(rng, rng.choice([*DOCS[doc], "$.x"]), 0.05) for doc in docs]),
            "txt": pa.array([maybe(rng, rng.choice(TEXTS)) for _ in range(ROWS)]),
            "pattern": pa.array([p for p, _ in patterns]),
            "grp": pa.array([rng.randint(0, groups) for _, groups in patterns], pa.int32()),
        }
    )


def scoring_table() -> pa.Table:
    rng = random.Random(4)
    floats = {
        name: pa.array([maybe(rng, round(rng.uniform(0, 200), 3), 0.05) for _ in range(ROWS)], pa.float64())
        for name in ["doc_score", "boost", "price", "rating", "popularity", "pw", "rw", "qw"]
    }
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    starts = [maybe(rng, epoch + dt.timedelta(microseconds=rng.randint(-5 * 10**14, 2 * 10**15))) for _ in range(ROWS)]
    ends = [maybe(rng, s + dt.timedelta(days=rng.randint(-40, 400))) if s else None for s in starts]
    return pa.table(
        {
            **floats,
            "recency_days": pa.array([maybe(rng, rng.randint(-5, 60)) for _ in range(ROWS)], pa.int32()),
            "start_ts": pa.array(starts, pa.timestamp("us", tz="UTC")),
            # Timestamp(ms) without a zone: cast to Timestamp(µs, "UTC") like the reference host does.
            "end_ts": pa.array([e.replace(tzinfo=None) if e else None for e in ends], pa.timestamp("ms")),
        }
    )


@pytest.fixture(scope="module")
def tables(page) -> dict[str, pa.Table]:
    data = {"texts": text_table(), "scores": scoring_table()}
    for name, table in data.items():
        register_table(page, name, table)
    return data


# ---------------------------------------------------------------------------------------------
# The examples against the reference host


def test_rust_text_functions_match_the_reference_host(page, tables, udf_modules):
    module = udf_modules["udf-text"]
    assert sorted(register_udf(page, "text", module.read_bytes())) == ["json_path", "levenshtein", "regex_extract"]
    try:
        data = tables["texts"]
        assert_same_as_reference(page, module, "texts", data, "levenshtein", ["a", "b"])
        assert_same_as_reference(page, module, "texts", data, "json_path", ["doc", "path"])
        assert_same_as_reference(page, module, "texts", data, "regex_extract", ["txt", "pattern", "grp"])
        # Literals: Utf8 and an Int64 literal cast to the i32 argument.
        out = sql(
            page, "SELECT levenshtein('kitten', 'sitting') AS l, regex_extract('order 1-2', '(\\d+)-(\\d+)', 2) AS r"
        )
        assert out.to_pylist() == [{"l": 3, "r": "2"}]
        # In a filter: the UDF is an ordinary expression.
        out = sql(page, "SELECT count(*) AS n FROM texts WHERE levenshtein(a, b) > 3")
        distances = reference(
            module, "levenshtein", [data.column("a").combine_chunks(), data.column("b").combine_chunks()]
        )
        assert out.column("n").to_pylist() == [sum(1 for d in distances if d is not None and d > 3)]
    finally:
        deregister_udf(page, "text")
    # DataFusion's own levenshtein is back.
    assert sql(page, "SELECT levenshtein('kitten', 'sitting') AS l").column("l").to_pylist() == [3]


def test_rust_scoring_functions_match_the_reference_host(page, tables, udf_modules):
    module = udf_modules["udf-scoring"]
    names = register_udf(page, "scoring", module.read_bytes())
    assert sorted(names) == ["business_days_between", "custom_score", "weighted_score"]
    try:
        data = tables["scores"]
        assert_same_as_reference(page, module, "scores", data, "custom_score", ["doc_score", "boost", "recency_days"])
        assert_same_as_reference(
            page, module, "scores", data, "weighted_score", ["price", "rating", "popularity", "pw", "rw", "qw"]
        )
        assert_same_as_reference(page, module, "scores", data, "business_days_between", ["start_ts", "end_ts"])
        schema = sql(page, "SELECT custom_score(doc_score, boost, recency_days) AS r FROM scores LIMIT 1").schema
        assert schema.field("r").type == pa.float64()
    finally:
        deregister_udf(page, "scoring")


def test_c_scoring_functions_match_the_reference_host(page, tables, udf_modules):
    module = udf_modules["c_scoring"]
    assert sorted(register_udf(page, "c", module.read_bytes())) == ["custom_score", "levenshtein"]
    try:
        assert_same_as_reference(
            page, module, "scores", tables["scores"], "custom_score", ["doc_score", "boost", "recency_days"]
        )
        assert_same_as_reference(page, module, "texts", tables["texts"], "levenshtein", ["a", "b"])
        # Another module cannot take a name this one holds.
        with pytest.raises(JSError, match="already registered by UDF module 'c'"):
            register_udf(page, "text", udf_modules["udf-text"].read_bytes())
    finally:
        deregister_udf(page, "c")
    with pytest.raises(JSError, match="no UDF module named 'c'"):
        deregister_udf(page, "c")


def test_a_batch_larger_than_a_call_is_cut_into_calls(page, udf_modules):
    """A table registered as one batch of 20,000 rows: three __batch calls, one result."""
    module = udf_modules["udf-text"]
    rng = random.Random(7)
    big = pa.table(
        {
            "a": pa.array([maybe(rng, rng.choice(WORDS)) for _ in range(20_000)]),
            "b": pa.array([maybe(rng, rng.choice(WORDS)) for _ in range(20_000)]),
        }
    )
    register_table(page, "big", big)
    register_udf(page, "text", module.read_bytes())
    try:
        assert_same_as_reference(page, module, "big", big, "levenshtein", ["a", "b"])
    finally:
        deregister_udf(page, "text")
        page.run("window.udfEngine.deregister_table('big');")


# ---------------------------------------------------------------------------------------------
# Failures


def test_a_row_error_is_a_sql_error_with_the_rows_message(page, tables, udf_modules):
    register_udf(page, "text", udf_modules["udf-text"].read_bytes())
    try:
        bad = pa.table({"doc": ['{"a":1}', '{"a":}', "[1]"], "path": ["$.a", "$.a", "$[0]"]})
        register_table(page, "bad_docs", bad)
        with pytest.raises(JSError) as error:
            sql(page, "SELECT json_path(doc, path) AS r FROM bad_docs")
        message = error.value.message
        assert "json_path: row 2 of the batch failed: invalid JSON document at byte 5" in message, message
        with pytest.raises(JSError, match="group 3 is out of range: the pattern has 2 capture groups"):
            sql(page, "SELECT regex_extract('x', '(a)(b)', 3) AS r")
        still_answers(page, "texts", ROWS)
        # The instance lives on after a row error.
        assert sql(page, "SELECT json_path(doc, path) AS r FROM bad_docs WHERE doc <> '{\"a\":}'").column(
            "r"
        ).to_pylist() == ["[1]", "[1]"]
    finally:
        deregister_udf(page, "text")


TRAP_RECORDS = [
    {
        "abi": "1.0",
        "name": name,
        "args": [{"name": "x", "type": "i64"}],
        "returns": {"type": "i64"},
        "fallible": False,
        "deterministic": False,
        "styles": ["batch"],
    }
    for name in ("boom", "calls")
]
# boom(x) returns x, but traps (`unreachable`) when the batch's first value is 13; calls(x) returns,
# for every row, how many __batch calls this instance has answered: 1 again on a fresh instance.
TRAP_FUNCTIONS = r"""
  (global $calls (mut i64) (i64.const 0))
  (func $result (param $d i32) (param $values i32) (param $len i32)
    (i32.store offset=40 (local.get $d) (i32.const 3))
    (i32.store offset=52 (local.get $d) (local.get $values))
    (i32.store offset=56 (local.get $d) (local.get $len)))
  (func (export "boom__batch") (param $d i32) (result i32)
    (local $src i32) (local $dst i32) (local $len i32)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (local.set $src (i32.load offset=28 (local.get $d)))
    (local.set $len (i32.mul (i32.load offset=4 (local.get $d)) (i32.const 8)))
    (if (i64.eq (i64.load (local.get $src)) (i64.const 13)) (then unreachable))
    (local.set $dst (call $alloc (local.get $len) (i32.const 8)))
    (memory.copy (local.get $dst) (local.get $src) (local.get $len))
    (call $result (local.get $d) (local.get $dst) (local.get $len))
    (i32.const 0))
  (func (export "calls__batch") (param $d i32) (result i32)
    (local $dst i32) (local $len i32) (local $i i32)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (local.set $len (i32.mul (i32.load offset=4 (local.get $d)) (i32.const 8)))
    (local.set $dst (call $alloc (local.get $len) (i32.const 8)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i64.store (i32.add (local.get $dst) (local.get $i)) (global.get $calls))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $next)))
    (call $result (local.get $d) (local.get $dst) (local.get $len))
    (i32.const 0))
"""


def trap_module(tmp_path: Path) -> bytes:
    allocator = wat_modules.ALLOCATOR.replace('(func (export "wasmqe_alloc")', '(func $alloc (export "wasmqe_alloc")')
    body = "\n".join([wat_modules.MEMORY, wat_modules.ABI_VERSION, allocator, TRAP_FUNCTIONS])
    return wat_modules.make(tmp_path, body=body, records=TRAP_RECORDS, name="traps").read_bytes()


def test_a_trap_is_a_sql_error_and_the_module_runs_again_on_a_fresh_instance(page, tables, tmp_path):
    register_table(page, "nums", pa.table({"x": pa.array([13, 1, 2, 3, 13, 5], pa.int64())}))
    register_udf(page, "traps", trap_module(tmp_path))
    try:
        calls = "SELECT calls(x) AS c FROM nums"
        assert sql(page, calls).column("c").to_pylist() == [1] * 6
        assert sql(page, calls).column("c").to_pylist() == [2] * 6
        with pytest.raises(JSError) as error:
            sql(page, "SELECT boom(x) AS r FROM nums")
        message = error.value.message
        assert "UDF boom (module 'traps') trapped: RuntimeError: unreachable" in message, message
        assert "the next call starts a fresh one" in message
        # The engine and its tables are intact.
        still_answers(page, "nums", 6)
        still_answers(page, "texts", ROWS)
        # A fresh instance: its call counter starts again.
        assert sql(page, calls).column("c").to_pylist() == [1] * 6
        assert sql(page, "SELECT boom(x) AS r FROM nums WHERE x <> 13").column("r").to_pylist() == [1, 2, 3, 5]
        # And it traps again, and recovers again.
        with pytest.raises(JSError, match="trapped"):
            sql(page, "SELECT boom(x) AS r FROM nums")
        assert sql(page, calls).column("c").to_pylist() == [1] * 6
    finally:
        deregister_udf(page, "traps")
    still_answers(page, "nums", 6)


def broken_modules(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    wasi = "\n".join(
        [
            '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))',
            wat_modules.MEMORY,
            wat_modules.ABI_VERSION,
            wat_modules.ALLOCATOR,
            wat_modules.FUNCTIONS,
        ]
    )
    document_only = dict(wat_modules.RECORD, styles=["document"])
    no_alloc = "\n".join([wat_modules.MEMORY, wat_modules.ABI_VERSION, wat_modules.FUNCTIONS])
    make = wat_modules.make
    return [
        (
            "no manifest",
            make(tmp_path, manifest=b"<none>", name="plain").read_bytes(),
            "no 'wasm-qe-udf' custom section",
        ),
        ("not wasm", b"definitely not a module", "could not compile it as a WebAssembly module: CompileError"),
        ("WASI imports", make(tmp_path, body=wasi, name="wasi").read_bytes(), "wasi_snapshot_preview1.fd_write"),
        ("bad manifest", make(tmp_path, manifest=b'{"abi":"1.0"}\n', name="bad").read_bytes(), "manifest line 1"),
        ("document only", make(tmp_path, records=[document_only], name="doc").read_bytes(), "with the batch style"),
        (
            "no allocator",
            make(tmp_path, body=no_alloc, name="noalloc").read_bytes(),
            "export the function wasmqe_alloc",
        ),
    ]


def test_modules_that_break_the_abi_are_refused_with_the_reason(page, tables, tmp_path):
    for label, wasm, says in broken_modules(tmp_path):
        with pytest.raises(JSError) as error:
            register_udf(page, "broken", wasm)
        assert "register_udf('broken')" in error.value.message, label
        assert says in error.value.message, (label, error.value.message)
    still_answers(page, "texts", ROWS)
    with pytest.raises(JSError, match="no UDF module named 'broken'"):
        deregister_udf(page, "broken")
