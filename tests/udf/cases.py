"""The example functions' test cases: argument tuples (None is NULL), run in every style by
test_examples.py (against the Python references) and test_wazero.py (wazero against wasmtime)."""

from __future__ import annotations

from tests.udf import reference

DAY = reference.MICROS_PER_DAY

NAN_FREE_FLOATS = [0.0, 1.0, -2.5, 3.75, 1e300, -1e-300, 123456.789]

CASES: dict[str, list[tuple]] = {
    "add_one": [(0,), (41,), (-1,), (2**63 - 1,), (-(2**63),), (None,)],
    "custom_score": [
        (2.0, 3.0, 5),
        (2.0, 3.0, 7),
        (2.0, 3.0, 29),
        (2.0, 3.0, 30),
        (-1.5, 0.25, -4),
        (1e300, 10.0, 1),
        (0.1, 0.2, 2**31 - 1),
        (None, 1.0, 1),
        (1.0, 1.0, None),
    ],
    "weighted_score": [
        (10.0, 4.5, 250.0, 0.3, 0.5, 0.2),
        (0.0, 0.0, 0.0, 1.0, 1.0, 1.0),
        (99.99, 5.0, 1e6, 0.1, 0.7, 0.2),
        (-0.5, 2.0, 7.0, 0.3, 0.3, 0.4),
        (1.0, None, 1.0, 1.0, 1.0, 1.0),
    ],
    "business_days_between": [
        (0, 0),
        (0, 7 * DAY),  # Thursday 1970-01-01 to the next Thursday: 5
        (0, DAY),
        (2 * DAY, 4 * DAY),  # Saturday, Sunday: 0
        (7 * DAY, 0),
        (-DAY - 1, DAY),  # before the epoch: floor division
        (1_700_000_000_000_000, 1_760_000_000_000_000),
        (1_700_000_000_000_000 + 5, 1_700_000_000_000_000 + DAY - 1),
        (None, 0),
    ],
    "levenshtein": [
        ("kitten", "sitting"),
        ("", ""),
        ("", "abc"),
        ("flaw", "lawn"),
        ("ñandú", "nandu"),
        ("日本語", "日本"),
        ("iPhone 15", "iPhone 14 Pro"),
        ("a" * 300, "b" * 3 + "a" * 290),
        (None, "x"),
    ],
    "json_path": [
        (
            '{"tags":[{"type":"category","value":"electronics"},{"type":"brand","value":"acme"}]}',
            "$.tags[?(@.type=='category')].value",
        ),
        ('{"a":{"b":[1,2,3]}}', "$.a.b[1]"),
        ('{"a":{"b":[1,2,3]}}', "$.a.b[*]"),
        ('{"a":{"b":[1,2,3]}}', "$['a']['b'][5]"),
        ('{"items":[{"n":1,"v":"x"},{"n":2,"v":"y"}]}', "$.items[?(@.n==2)].v"),
        ('{"a":{"x":1,"y":[true,null]}}', "$.a.*"),
        ('{"a": 1', "$.a"),  # invalid document: a row error
        ('{"a": 1}', "$..a"),  # invalid path: a row error
        ('{"a": 1}', "a"),
        ("[]", "$"),
        (None, "$"),
    ],
    "regex_extract": [
        ("Model: ABC123 (2024)", r"Model: ([A-Z0-9]+)", 1),
        ("Model: ABC123 (2024)", r"Model: ([A-Z0-9]+)", 0),
        ("no model here", r"Model: ([A-Z0-9]+)", 1),
        ("ab", r"(a)|(b)", 2),  # the group did not take part: NULL
        ("2024-11-29", r"(\d{4})-(\d{2})-(\d{2})", 3),
        ("x", r"(x", 1),  # invalid pattern: a row error
        ("x", r"(x)", 2),  # group out of range: a row error
        ("x", r"(x)", -1),
        ("ñandú", r"(.)$", 1),
        (None, r"x", 0),
    ],
}
