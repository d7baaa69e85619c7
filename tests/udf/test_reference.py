"""The pure-Python reference implementations of the example UDFs, checked on known values."""

from __future__ import annotations

import json
import struct

import pytest

from tests.udf import reference as ref

DAY = ref.MICROS_PER_DAY
MONDAY_2024_01_01 = 19723 * DAY


def test_add_one_wraps_like_i64():
    assert ref.add_one(41) == 42
    assert ref.add_one(-1) == 0
    assert ref.add_one(ref.I64_MAX) == ref.I64_MIN


@pytest.mark.parametrize(
    ("days", "factor"), [(-3, 1.5), (0, 1.5), (6, 1.5), (7, 1.2), (29, 1.2), (30, 1.0), (365, 1.0)]
)
def test_custom_score_factors(days, factor):
    assert ref.custom_score(0.7, 1.1, days) == 0.7 * 1.1 * factor


def test_weighted_score_known_value():
    assert ref.weighted_score(9.0, 4.0, 50.0, 0.5, 0.3, 0.2) == 0.5 * 0.1 + 0.3 * 0.8 + 0.2 * (50.0 / 150.0)
    assert ref.weighted_score(0.0, 5.0, 0.0, 1.0, 1.0, 1.0) == 2.0
    # the order of the sum matters for the last bit: a fixed expected bit pattern
    got = ref.weighted_score(19.99, 4.3, 1234.0, 0.2, 0.5, 0.3)
    assert struct.pack("<d", got) == struct.pack(
        "<d", (0.2 * (1.0 / 20.99) + 0.5 * (4.3 / 5.0)) + 0.3 * (1234.0 / 1334.0)
    )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (MONDAY_2024_01_01, MONDAY_2024_01_01, 0),
        (MONDAY_2024_01_01, MONDAY_2024_01_01 + 5 * DAY, 5),  # Mon..Fri
        (MONDAY_2024_01_01, MONDAY_2024_01_01 + 7 * DAY, 5),  # one whole week
        (MONDAY_2024_01_01 + 5 * DAY, MONDAY_2024_01_01 + 7 * DAY, 0),  # Sat, Sun
        (MONDAY_2024_01_01 + 7 * DAY, MONDAY_2024_01_01, -5),
        (MONDAY_2024_01_01, MONDAY_2024_01_01 + 14 * DAY + 1, 10),
        (MONDAY_2024_01_01 + 2 * DAY + 1, MONDAY_2024_01_01 + 3 * DAY - 1, 0),  # the same date
        (-3 * DAY, -1, 2),  # 1969-12-29 (Mon) .. 1969-12-31: -1 µs is on Wednesday the 31st
        (-3 * DAY, 0, 3),
        (0, -1, -1),  # Thursday 1970-01-01 to Wednesday 1969-12-31: minus the weekdays of [12-31, 01-01)
    ],
)
def test_business_days_between(start, end, expected):
    assert ref.business_days_between(start, end) == expected


def test_business_days_match_a_calendar():
    import datetime

    epoch = datetime.date(1970, 1, 1)
    for a in range(-20, 20, 3):
        for b in range(-20, 20, 5):
            lo, hi = sorted((a, b))
            count = sum(1 for d in range(lo, hi) if (epoch + datetime.timedelta(days=d)).weekday() < 5)
            assert ref.business_days_between(a * DAY + 5, b * DAY + 7) == (count if b >= a else -count)


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        ("kitten", "sitting", 3),
        ("", "", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("flaw", "lawn", 2),
        ("café", "cafe", 1),
        ("🙂a", "a", 1),
    ],
)
def test_levenshtein(a, b, d):
    assert ref.levenshtein(a, b) == d
    assert ref.levenshtein(b, a) == d


STORE = json.dumps(
    {
        "store": {
            "book": [
                {"title": "A", "price": 8.95, "cat": "ref"},
                {"title": "B", "price": 12, "cat": "fic"},
                {"title": "C", "price": 8.99, "cat": "fic", "isbn": "x"},
            ],
            "bicycle": {"color": "red", "price": 19.95},
        },
        "n": None,
        "flag": True,
    }
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", [json.loads(STORE)]),
        ("$.store.bicycle.color", ["red"]),
        ("$.store.book[*].title", ["A", "B", "C"]),
        ("$['store'][\"book\"][1]['price']", [12]),
        ("$.store.book[?(@.cat=='fic')].title", ["B", "C"]),
        ("$.store.book[?(@.price==12.0)].title", ["B"]),
        ("$.store.book[ ?( @.price == 8.95 ) ].title", ["A"]),
        ("$.store.*.color", ["red"]),
        ("$.store.book[*].isbn", ["x"]),
        ("$.n", [None]),
        ("$.missing", None),
        ("$.store.book[7]", None),
        ("$.store.book[?(@.cat=='none')]", None),
    ],
)
def test_json_path(path, expected):
    assert ref.json_path(STORE, path) == expected


def test_json_path_details():
    assert ref.json_path('{"a":1,"b":2,"a":3}', "$[*]") == [3, 2]  # last value, first position
    assert ref.json_path('[{"v":true},{"v":1}]', "$[?(@.v==1)]") == [{"v": 1}]  # a bool is not a number
    assert ref.json_path_text('{"a":[1,"x",{"b":null}]}', "$.a") == '[[1,"x",{"b":null}]]'
    assert ref.json_path_text("{}", "$.a") is None


@pytest.mark.parametrize(
    ("doc", "path", "prefix"),
    [
        ('{"a":}', "$.a", "invalid JSON document at byte 5: "),
        ("", "$", "invalid JSON document at byte 0: "),
        ("[1,]", "$", "invalid JSON document at byte "),
        ("NaN", "$", "invalid JSON document at byte "),
        ('"\\ud800"', "$", "invalid JSON document at byte "),
        ("[" * 600, "$", "invalid JSON document at byte 512: nesting too deep"),
        ("{}", "a", "invalid JSON path at position 0: "),
        ("{}", "$.a[-1]", "invalid JSON path at position 4: "),
        ("{}", "$['a'", "invalid JSON path at position 5: "),
        ("{}", "$[?(@.a=1)]", "invalid JSON path at position 7: "),
        ("{}", "$[?(@.a==01)]", "invalid JSON path at position 11: "),
        ("not json", "bad", "invalid JSON path at position 0: "),  # the path is checked first
    ],
)
def test_json_path_errors(doc, path, prefix):
    with pytest.raises(ValueError) as info:
        ref.json_path(doc, path)
    assert str(info.value).startswith(prefix), str(info.value)


def test_regex_extract():
    assert ref.regex_extract("order 123-456", r"(\d+)-(\d+)", 2) == "456"
    assert ref.regex_extract("order 123-456", r"(\d+)-(\d+)", 0) == "123-456"
    assert ref.regex_extract("no digits", r"(\d+)", 1) is None
    assert ref.regex_extract("ab", r"a|(x)", 1) is None  # the group did not take part
    assert ref.regex_extract("٣", r"\d", 0) is None  # ASCII classes, like regex-lite
    with pytest.raises(ValueError, match=r"^group 3 is out of range: the pattern has 2 capture groups$"):
        ref.regex_extract("x", "(a)(b)", 3)
    with pytest.raises(ValueError, match=r"^group -1 is out of range: the pattern has 0 capture groups$"):
        ref.regex_extract("x", "a", -1)
    with pytest.raises(ValueError, match=r"^invalid regular expression: "):
        ref.regex_extract("x", "(", 0)
