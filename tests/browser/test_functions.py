"""The engine's built-in JSON, properties and histogram functions (docs/functions.md; issue 17,
item 3) in Chromium and Firefox, compared row by row with the plain-Python reference
(tests/browser/functions_reference.py) on a seeded random corpus: JSON documents with nesting,
duplicate keys, unicode, escapes, numbers at the edges of i64 and f64, invalid and too deeply
nested ones; property lists with duplicates, missing keys and NULLs at every level (List, a view
and large-string variant, and Map); histogram inputs with NULLs, NaN, infinities, out-of-range and
single values. Then the error paths: each a SQL error with its reason, after which the engine
still answers.
"""

from __future__ import annotations

import base64
import json
import math
import random

import pyarrow as pa
import pytest

from tests.browser import functions_reference as ref
from tests.browser.oracle import ipc_stream
from tests.conftest import b64
from toolchain.tools.webdriver import JSError

pytestmark = pytest.mark.browser

SEED = 17


@pytest.fixture(scope="module")
def page(wasm_module_page):
    wasm_module_page.run("window.fnEngine = new window.pkg.WasmQueryEngine();")
    return wasm_module_page


def register(page, name: str, table: pa.Table) -> None:
    rows = page.run(
        "const [n, d] = args; return window.fnEngine.register_table(n, window.harness.base64ToBytes(d));",
        name,
        b64(ipc_stream(table)),
    )
    assert rows == table.num_rows


def sql(page, statement: str) -> pa.Table:
    out = page.run(
        "const [s] = args; return window.harness.bytesToBase64(await window.fnEngine.execute_sql(s));", statement
    )
    return pa.ipc.open_stream(base64.b64decode(out)).read_all()


def same(a, b, tolerance: float = 0.0) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if a == b:
            return True
        return tolerance > 0 and math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, tolerance) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def mismatches(got: list, expected: list, inputs: list, tolerance: float = 0.0) -> list:
    assert len(got) == len(expected)
    return [(i, inputs[i], g, e) for i, (g, e) in enumerate(zip(got, expected)) if not same(g, e, tolerance)]


def assert_matches(label: str, got: list, expected: list, inputs: list, tolerance: float = 0.0) -> None:
    bad = mismatches(got, expected, inputs, tolerance)
    shown = "\n".join(f"  row {i}: input {x!r}\n    engine    {g!r}\n    reference {e!r}" for i, x, g, e in bad[:5])
    assert not bad, f"{label}: {len(bad)} of {len(got)} rows differ from the reference:\n{shown}"


# ---------------------------------------------------------------------------------------------
# The JSON corpus

KEYS = ["a", "b", "id", "", "a.b", "[0]", "é", "ключ", "🙂", 'q"uote', "back\\slash", "$x", "sp ace", "0", "tab\t"]
STRINGS = ["", "x", "héllo", "東京", "🙂🙃", 'say "hi"', "a\\b", "line\nbreak", "\u0001\u001f", "\u007f", "/", "\u2028"]
NUMBERS = [
    "0",
    "-0",
    "1",
    "-1",
    "42",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "1e16",
    "1E2",
    "2.5E+3",
    "1.5e-7",
    "0.1",
    "-0.0",
    "3.141592653589793",
    "1.7976931348623157e308",
    "5e-324",
    "1e-400",
    "0.00001",
    "100.0",
]
INVALID = [
    "",
    " ",
    "{",
    "[1,]",
    '{"a":1,}',
    "{a:1}",
    "01",
    "1.",
    ".5",
    "+1",
    "NaN",
    "Infinity",
    "-Infinity",
    "tru",
    "nul",
    "[1 2]",
    '{"a" 1}',
    '"abc',
    '"\\x"',
    '"\\ud800"',
    '"\\udc00x"',
    '"\\ud800\\u0041"',
    '"a\tb"',
    "1e400",
    "[1]]",
    "{}{}",
    "\ufeff1",
    "'a'",
    '{"a":}',
    "[" * 513 + "]" * 513,
    "[" * 2000,
    "1" + "0" * 400,
]


def ws(rng: random.Random) -> str:
    return rng.choice(["", "", "", " ", "\n  ", "\t", "\r\n"])


def json_string(rng: random.Random, s: str) -> str:
    text = json.dumps(s, ensure_ascii=rng.random() < 0.4)
    if rng.random() < 0.1:
        text = text.replace("/", "\\/")
    return text


def gen_value(rng: random.Random, depth: int, kind: float | None = None) -> str:
    kind = rng.random() if kind is None else kind
    if depth > 4 or kind < 0.45:
        choice = rng.random()
        if choice < 0.35:
            return rng.choice(NUMBERS) if rng.random() < 0.6 else str(rng.randint(-(10**6), 10**6))
        if choice < 0.45:
            return repr(rng.uniform(-1e6, 1e6))
        if choice < 0.8:
            return json_string(rng, rng.choice(STRINGS))
        return rng.choice(["true", "false", "null"])
    if kind < 0.7:
        items = [gen_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        return "[" + ws(rng) + ("," + ws(rng)).join(items) + ws(rng) + "]"
    keys = [rng.choice(KEYS) for _ in range(rng.randint(0, 5))]  # duplicates happen
    members = [json_string(rng, k) + ws(rng) + ":" + ws(rng) + gen_value(rng, depth + 1) for k in keys]
    return "{" + ws(rng) + ("," + ws(rng)).join(members) + ws(rng) + "}"


def path_text(steps: list, dollar: bool) -> str:
    out = "$" if dollar else ""
    for i, step in enumerate(steps):
        if isinstance(step, int):
            out += f"[{step}]"
        elif step and not any(c in step for c in '.["\\') and not (i == 0 and not dollar and step.startswith("$")):
            out += step if i == 0 and not dollar else "." + step
        else:
            out += '["' + step.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return out


def gen_path(rng: random.Random, text: str) -> str:
    ok, value = ref.try_parse(text)
    steps: list = []
    while ok and rng.random() < 0.85:
        if isinstance(value, ref.Obj) and value:
            key, value = rng.choice(value)
            steps.append(key)
        elif isinstance(value, list) and not isinstance(value, ref.Obj) and value:
            index = rng.randint(-len(value) - 1, len(value))
            steps.append(index)
            if not -len(value) <= index < len(value):
                break
            value = value[index]
        else:
            break
    if rng.random() < 0.15:
        steps.append(rng.choice([*KEYS, 0, -1, 7]))
    return path_text(steps, rng.random() < 0.5)


def json_corpus() -> pa.Table:
    rng = random.Random(SEED)
    # Mostly objects at the top, as logs have them; some arrays and scalars.
    docs = [ws(rng) + gen_value(rng, 0, rng.choice([0.1, 0.6, 0.8, 0.8, 0.8])) + ws(rng) for _ in range(460)]
    docs += INVALID
    docs += [valid[: rng.randint(0, len(valid))] for valid in rng.sample(docs[:460], 40)]  # truncated
    docs += ["[" * 512 + "]" * 512, '{"a":' * 100 + "1" + "}" * 100]
    paths = [gen_path(rng, d) for d in docs]
    for i in rng.sample(range(len(docs)), 25):
        docs[i] = None
    for i in rng.sample(range(len(docs)), 10):
        paths[i] = None
    return pa.table(
        {
            "id": pa.array(range(len(docs)), pa.int32()),
            "doc": pa.array(docs, pa.string()),
            "doc_view": pa.array(docs, pa.string_view()),
            "doc_large": pa.array(docs, pa.large_string()),
            "path": pa.array(paths, pa.string_view()),
        }
    )


@pytest.fixture(scope="module")
def docs(page) -> pa.Table:
    table = json_corpus()
    register(page, "docs", table)
    return table


GETTERS = ["json_get", "json_get_str", "json_get_int", "json_get_float", "json_get_bool"]


def check_json_functions(page, data: pa.Table, source: str, doc: str) -> int:
    """Every JSON function over `source` (a table or subquery with id, path and the document column
    `doc`), against the reference on the text documents. Returns the number of values compared."""
    texts = data.column("doc").to_pylist()
    paths = data.column("path").to_pylist()
    calls = [f"{f}({doc}, path) AS {f}" for f in GETTERS]
    calls += [
        f"json_array_length({doc}, path) AS len_path",
        f"json_object_keys({doc}, path) AS keys_path",
        f"json_array_length({doc}) AS len",
        f"json_object_keys({doc}) AS keys",
    ]
    out = sql(page, f"SELECT id, {', '.join(calls)} FROM {source} ORDER BY id")
    assert out.column("id").to_pylist() == data.column("id").to_pylist()
    inputs = list(zip(texts, paths))
    for f in GETTERS:
        expected = [getattr(ref, f)(t, p) for t, p in inputs]
        assert_matches(f"{f} over {source}", out.column(f).to_pylist(), expected, inputs)
    checks = [
        ("len_path", lambda t, p: ref.json_array_length(t, p)),
        ("keys_path", lambda t, p: ref.json_object_keys(t, p)),
        ("len", lambda t, p: ref.json_array_length(t)),
        ("keys", lambda t, p: ref.json_object_keys(t)),
    ]
    for column, f in checks:
        assert_matches(f"{column} over {source}", out.column(column).to_pylist(), [f(t, p) for t, p in inputs], inputs)
    assert out.schema.field("json_get_int").type == pa.int64()
    assert out.schema.field("json_get_float").type == pa.float64()
    assert out.schema.field("keys").type == pa.list_(pa.string())
    return out.num_rows * (len(calls))


def test_the_corpus_covers_what_it_should(docs):
    texts = docs.column("doc").to_pylist()
    valid = [t for t in texts if t is not None and ref.try_parse(t)[0]]
    invalid = [t for t in texts if t is not None and not ref.try_parse(t)[0]]
    assert len(valid) > 400 and len(invalid) > 40, (len(valid), len(invalid))
    paths = docs.column("path").to_pylist()
    found = [ref.json_get(t, p) for t, p in zip(texts, paths)]
    assert sum(v is not None for v in found) > 200  # most paths lead somewhere
    assert sum(ref.json_get_int(t, p) is not None for t, p in zip(texts, paths)) > 20
    assert sum(ref.json_get_float(t, p) is not None for t, p in zip(texts, paths)) > 40
    assert sum(ref.json_get_str(t, p) is not None for t, p in zip(texts, paths)) > 40
    assert sum(ref.json_get_bool(t, p) is not None for t, p in zip(texts, paths)) > 10
    assert any(
        ref.json_object_keys(t) and len(set(ref.json_object_keys(t))) < len(ref.json_object_keys(t)) for t in valid
    )


def test_json_functions_on_text_match_the_reference(page, docs):
    assert check_json_functions(page, docs, "docs", "doc") > 4000


def test_json_functions_on_the_binary_form_match_the_reference(page, docs):
    source = "(SELECT id, path, json_parse(doc) AS b FROM docs)"
    check_json_functions(page, docs, source, "b")


def test_json_parse_writes_the_documented_binary_form(page, docs):
    out = sql(page, "SELECT json_parse(doc) AS b, json_valid(doc) AS v FROM docs ORDER BY id")
    assert out.schema.field("b").type == pa.binary()
    texts = docs.column("doc").to_pylist()
    assert_matches("json_parse", out.column("b").to_pylist(), [ref.json_parse(t) for t in texts], texts)
    assert_matches("json_valid", out.column("v").to_pylist(), [ref.json_valid(t) for t in texts], texts)


def test_every_string_type_is_accepted(page, docs):
    out = sql(
        page,
        "SELECT json_get(doc, path) AS a, json_get(doc_view, path) AS b, json_get(doc_large, path) AS c, "
        "json_object_keys(doc_view) AS k, json_get_str(doc_large, arrow_cast(path, 'LargeUtf8')) AS s, "
        "json_get_str(doc, arrow_cast(path, 'Utf8')) AS s2 FROM docs ORDER BY id",
    )
    assert out.column("a").to_pylist() == out.column("b").to_pylist() == out.column("c").to_pylist()
    assert out.column("s").to_pylist() == out.column("s2").to_pylist()
    texts = docs.column("doc").to_pylist()
    assert_matches(
        "json_object_keys(view)", out.column("k").to_pylist(), [ref.json_object_keys(t) for t in texts], texts
    )


def test_literals_and_scalars(page):
    out = sql(
        page,
        """SELECT json_get('{"a":{"b":[1,2.5,"x"]}}', 'a.b[1]') AS f,
                  json_get_int('{"a":[7]}', '$.a[0]') AS i,
                  json_get_str('{"k.d":"v"}', '["k.d"]') AS s,
                  json_get_bool(json_parse('[true]'), '[0]') AS b,
                  json_get('{"a":1}', NULL) AS n,
                  json_get(NULL, 'a') AS n2,
                  json_get('{"a":', 'a') AS invalid,
                  json_array_length('[1,[2,3]]', '[1]') AS l,
                  json_object_keys('{"b":1,"a":2,"b":3}') AS k,
                  json_get('{"a":1,"a":2}', 'a') AS first""",
    )
    assert out.to_pylist() == [
        {
            "f": "2.5",
            "i": 7,
            "s": "v",
            "b": True,
            "n": None,
            "n2": None,
            "invalid": None,
            "l": 2,
            "k": ["b", "a", "b"],
            "first": "1",
        }
    ]


def test_null_literals_are_null(page):
    out = sql(
        page,
        "SELECT props_len(NULL) AS a, props_to_json(NULL) AS b, props_get(NULL, NULL) AS c, histogram_count(NULL) AS d, "
        "histogram_quantile(NULL, 0.5) AS e, json_object_keys(NULL) AS f, json_get(NULL, NULL) AS g, json_parse(NULL) AS h",
    )
    assert out.to_pylist() == [dict.fromkeys("abcdefgh")]


def test_the_comparison_can_fail(page, docs):
    """The differential check is not vacuous: a deliberately wrong expectation is caught."""
    out = sql(page, "SELECT json_get(doc, path) AS g FROM docs ORDER BY id")
    inputs = list(zip(docs.column("doc").to_pylist(), docs.column("path").to_pylist()))
    wrong = [ref.json_get_str(t, p) for t, p in inputs]  # text content, not JSON text
    assert len(mismatches(out.column("g").to_pylist(), wrong, inputs)) > 50


# ---------------------------------------------------------------------------------------------
# Properties

PROP_KEYS = ["host", "level", "service", "", "é", "🙂", 'q"', "dup"]
PROP_VALUES = ["a", "", "web-1", "ERROR", "東京", 'x"y', "back\\slash", "nl\n", "\u0002"]


def props_corpus(rows: int = 300) -> list:
    rng = random.Random(SEED + 1)
    out = []
    for _ in range(rows):
        r = rng.random()
        if r < 0.07:
            out.append(None)
            continue
        entries = []
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.06:
                entries.append(None)
                continue
            key = None if rng.random() < 0.06 else rng.choice(PROP_KEYS)
            value = None if rng.random() < 0.1 else rng.choice(PROP_VALUES)
            entries.append({"key": key, "value": value})
        out.append(entries)
    return out


@pytest.fixture(scope="module")
def props(page) -> dict:
    lists = props_corpus()
    rng = random.Random(SEED + 2)
    wanted = [None if rng.random() < 0.05 else rng.choice([*PROP_KEYS, "absent"]) for _ in lists]
    plain = pa.struct([("key", pa.string()), ("value", pa.string())])
    views = pa.struct([("key", pa.string_view()), ("value", pa.large_string())])
    # Map: keys cannot be NULL, entries cannot be NULL.
    maps = [
        None if p is None else [(e["key"], e["value"]) for e in p if e is not None and e["key"] is not None]
        for p in lists
    ]
    table = pa.table(
        {
            "id": pa.array(range(len(lists)), pa.int32()),
            "p": pa.array(lists, pa.list_(plain)),
            "pv": pa.array(lists, pa.large_list(views)),
            "m": pa.array(maps, pa.map_(pa.string(), pa.string())),
            "k": pa.array(wanted, pa.string()),
        }
    )
    register(page, "props", table)
    as_lists = [None if m is None else [{"key": k, "value": v} for k, v in m] for m in maps]
    return {"lists": lists, "maps": as_lists, "keys": wanted}


def test_properties_match_the_reference(page, props):
    columns = {"p": props["lists"], "pv": props["lists"], "m": props["maps"]}
    select = ", ".join(
        f"props_get({c}, k) AS get_{c}, props_to_json({c}) AS json_{c}, props_len({c}) AS len_{c}" for c in columns
    )
    out = sql(page, f"SELECT id, {select} FROM props ORDER BY id")
    keys = props["keys"]
    for c, lists in columns.items():
        inputs = list(zip(lists, keys))
        assert_matches(
            f"props_get({c})", out.column(f"get_{c}").to_pylist(), [ref.props_get(p, k) for p, k in inputs], inputs
        )
        assert_matches(
            f"props_to_json({c})", out.column(f"json_{c}").to_pylist(), [ref.props_to_json(p) for p in lists], lists
        )
        assert_matches(f"props_len({c})", out.column(f"len_{c}").to_pylist(), [ref.props_len(p) for p in lists], lists)
    # props_to_json is JSON the JSON functions read back.
    back = sql(
        page, "SELECT props_get(p, 'host') AS a, json_get_str(props_to_json(p), 'host') AS b FROM props ORDER BY id"
    )
    assert back.column("a").to_pylist() == [
        ref.json_get_str(ref.props_to_json(p), "host") if p is not None else None for p in props["lists"]
    ]
    assert sum(v is not None for v in back.column("a").to_pylist()) > 20
    assert sum(v is not None for v in out.column("get_p").to_pylist()) > 50


# ---------------------------------------------------------------------------------------------
# Histograms

QUANTILES = [0.0, 0.1, 0.25, 0.5, 0.9, 1.0]


def hist_corpus() -> pa.Table:
    rng = random.Random(SEED + 3)
    grps, values = [], []
    for g in range(12):
        n = {0: 1, 1: 0, 2: 3}.get(g, rng.randint(20, 120))
        for _ in range(n):
            r = rng.random()
            if g == 1 or r < 0.08:
                v = None
            elif r < 0.12:
                v = rng.uniform(-50, 0)  # underflow
            elif r < 0.16:
                v = rng.uniform(100, 300)  # overflow
            elif r < 0.18:
                v = rng.choice([0.0, 100.0, 10.0, 99.99999999999999])  # edges
            else:
                v = rng.gauss(40 + g * 3, 15)
            grps.append(g)
            values.append(v)
        if g == 1:  # all NULL
            grps += [1, 1]
            values += [None, None]
    grps += [11, 11, 11]
    values += [math.nan, math.inf, -math.inf]
    return pa.table(
        {
            "g": pa.array(grps, pa.int32()),
            "v": pa.array(values, pa.float64()),
            "vi": pa.array([None if v is None or not math.isfinite(v) else int(v) for v in values], pa.int32()),
        }
    )


@pytest.fixture(scope="module")
def hists(page) -> pa.Table:
    table = hist_corpus()
    register(page, "hv", table)
    return table


def reference_groups(table: pa.Table, column: str, lo, hi, bins) -> dict[int, ref.Hist]:
    groups: dict[int, list] = {}
    for g, v in zip(table.column("g").to_pylist(), table.column(column).to_pylist()):
        groups.setdefault(g, []).append(None if v is None else float(v))
    return {g: ref.histogram(vs, lo, hi, bins) for g, vs in sorted(groups.items())}


def test_histogram_matches_the_reference(page, hists):
    out = sql(page, "SELECT g, histogram(v, 0, 100, 10) AS h FROM hv GROUP BY g ORDER BY g")
    expected = reference_groups(hists, "v", 0.0, 100.0, 10)
    assert out.column("g").to_pylist() == list(expected)
    got = out.column("h").to_pylist()
    want = [h.as_struct() for h in expected.values()]
    assert_matches("histogram", got, want, list(expected), tolerance=1e-9)
    # Integer values and integer bounds are coerced.
    out = sql(page, "SELECT g, histogram(vi, -5, 120, 7) AS h FROM hv GROUP BY g ORDER BY g")
    expected = reference_groups(hists, "vi", -5.0, 120.0, 7)
    want = [h.as_struct() for h in expected.values()]
    assert_matches("histogram(int)", out.column("h").to_pylist(), want, list(expected), tolerance=1e-9)
    # Without GROUP BY, and over no rows at all: NULL.
    whole = sql(page, "SELECT histogram(v, -10, 10, 3) AS h FROM hv").column("h").to_pylist()
    assert same(
        whole,
        [
            ref.histogram(
                [float(v) if v is not None else None for v in hists.column("v").to_pylist()], -10, 10, 3
            ).as_struct()
        ],
        1e-9,
    )
    assert sql(page, "SELECT histogram(v, 0, 1, 2) AS h FROM hv WHERE g < 0").column("h").to_pylist() == [None]
    # As a window function over a growing frame: the running count.
    running = sql(
        page,
        "SELECT histogram_count(histogram(v, 0, 100, 10) OVER (ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING "
        "AND CURRENT ROW)) AS c FROM hv WHERE g = 5 AND v IS NOT NULL ORDER BY c",
    )
    assert running.column("c").to_pylist() == list(range(1, running.num_rows + 1))


def test_histogram_readers_match_the_reference(page, hists):
    quantiles = ", ".join(f"histogram_quantile(h, {q}) AS q{i}" for i, q in enumerate(QUANTILES))
    out = sql(
        page,
        f"""WITH hs AS (SELECT g, histogram(v, 0, 100, 10) AS h FROM hv GROUP BY g)
            SELECT g, histogram_count(h) AS c, histogram_sum(h) AS s, histogram_min(h) AS mn,
                   histogram_max(h) AS mx, {quantiles} FROM hs ORDER BY g""",
    )
    expected = reference_groups(hists, "v", 0.0, 100.0, 10)
    groups = list(expected)
    hs = list(expected.values())
    assert_matches("histogram_count", out.column("c").to_pylist(), [h.count for h in hs], groups)
    assert_matches("histogram_sum", out.column("s").to_pylist(), [h.sum for h in hs], groups, 1e-9)
    assert_matches("histogram_min", out.column("mn").to_pylist(), [h.as_struct()["min"] for h in hs], groups)
    assert_matches("histogram_max", out.column("mx").to_pylist(), [h.as_struct()["max"] for h in hs], groups)
    for i, q in enumerate(QUANTILES):
        assert_matches(
            f"histogram_quantile({q})", out.column(f"q{i}").to_pylist(), [h.quantile(q) for h in hs], groups, 1e-9
        )


def test_histogram_merge_matches_the_reference(page, hists):
    out = sql(
        page,
        """SELECT g % 3 AS m, histogram_merge(h) AS h FROM
             (SELECT g, histogram(v, 0, 100, 10) AS h FROM hv GROUP BY g) GROUP BY g % 3 ORDER BY m""",
    )
    per_group = reference_groups(hists, "v", 0.0, 100.0, 10)
    expected = [ref.histogram_merge(h for g, h in per_group.items() if g % 3 == m).as_struct() for m in range(3)]
    assert_matches("histogram_merge", out.column("h").to_pylist(), expected, [0, 1, 2], 1e-9)
    # Merging everything equals one histogram of everything (the sum up to rounding).
    total = (
        sql(page, "SELECT histogram_merge(h) AS h FROM (SELECT g, histogram(v, 0, 100, 10) AS h FROM hv GROUP BY g)")
        .column("h")
        .to_pylist()[0]
    )
    whole = sql(page, "SELECT histogram(v, 0, 100, 10) AS h FROM hv").column("h").to_pylist()[0]
    assert same(total, whole, 1e-9)


# ---------------------------------------------------------------------------------------------
# Errors


ERRORS = [
    ("SELECT json_get(doc, 'a..b') FROM docs", "invalid JSON path 'a..b': empty key"),
    ("SELECT json_get(doc, path || '[x') FROM docs", "invalid JSON path"),
    ("SELECT json_get_int('{not json', '$a')", "json_get_int: invalid JSON path '$a'"),
    ("SELECT json_get(X'0102', 'a')", "row 1: the binary value is not one json_parse wrote"),
    ("SELECT json_get_int(X'03000000', '')", "not one json_parse wrote"),
    ("SELECT json_get(42, 'a')", "the document must be JSON text or json_parse's binary"),
    ("SELECT json_get(doc) FROM docs", "json_get(json, path) takes 2 arguments, got 1"),
    ("SELECT json_parse(json_parse('1'))", "json_parse: the argument must be a string"),
    ("SELECT props_get('x', 'k')", "props_get: properties must be a list of key/value structs"),
    ("SELECT histogram(v, 10, 0, 5) FROM hv", "histogram bounds must be finite with lo < hi"),
    ("SELECT histogram(v, 0, 1, 0) FROM hv", "histogram bins must be between 1 and 10000"),
    ("SELECT histogram(v, 0, g + 1, 5) FROM hv", "must be the same on every row of a group"),
    ("SELECT histogram(v, 0, 1, 'x') FROM hv", "bins must be an integer"),
    (
        "SELECT histogram_merge(h) FROM (SELECT histogram(v, 0, 100 + g % 2, 10) AS h FROM hv GROUP BY g)",
        "histograms with different bounds cannot be merged",
    ),
    ("SELECT histogram_quantile(histogram(v, 0, 1, 2), 1.5) FROM hv", "quantile must be between 0 and 1"),
    ("SELECT histogram_count(1)", "must be a histogram"),
]


def test_bad_input_is_a_sql_error_and_the_engine_keeps_working(page, docs, hists, props):
    for statement, says in ERRORS:
        with pytest.raises(JSError) as error:
            sql(page, statement)
        assert says in error.value.message, (statement, error.value.message)
        assert page.run("return window.pkg.WasmQueryEngine.is_usable();") is True, statement
    assert sql(page, "SELECT count(*) AS n FROM docs").column("n").to_pylist() == [docs.num_rows]
    assert sql(page, "SELECT json_get_int('[5]', '[0]') AS x").column("x").to_pylist() == [5]
