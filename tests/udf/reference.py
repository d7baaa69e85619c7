"""Pure-Python reference implementations of the example UDFs in crates/udf/examples.

Each function has the semantics of its Rust twin (crates/udf/examples/{hello,scoring,text}):
NULL is None, a per-row error is a ValueError (its message is the row error's), timestamps are
int microseconds since the Unix epoch (UTC). The wasm-calling tests compare a module's results
with these.

Known differences, by design of the reference's tools rather than of the semantics:
  * regex_extract uses Python's `re` with re.ASCII; the Rust module uses regex-lite (ASCII classes
    too). Patterns that only one engine accepts (lookaround and backreferences: Python only) differ;
    the messages of invalid patterns differ after "invalid regular expression: ".
  * json_path's error positions come from separate parsers: the prefixes ("invalid JSON document at
    byte N: ", "invalid JSON path at position N: ") have the same form and usually the same N, the
    reasons after them differ.
"""

from __future__ import annotations

import json
import math
import re

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
MICROS_PER_DAY = 86_400_000_000
JSON_MAX_DEPTH = 512


def _wrap_i64(value: int) -> int:
    return (value - I64_MIN) % 2**64 + I64_MIN


# ---------------------------------------------------------------- hello


def add_one(x: int) -> int:
    """x + 1, wrapping at the ends of i64 like the module (no trap)."""
    return _wrap_i64(x + 1)


# ---------------------------------------------------------------- scoring


def custom_score(doc_score: float, boost: float, recency_days: int) -> float:
    """Seed 004: factor 1.5 under 7 days, 1.2 under 30, else 1.0; doc_score * boost * factor."""
    if recency_days < 7:
        factor = 1.5
    elif recency_days < 30:
        factor = 1.2
    else:
        factor = 1.0
    return doc_score * boost * factor


def weighted_score(
    price: float,
    rating: float,
    popularity: float,
    price_weight: float,
    rating_weight: float,
    popularity_weight: float,
) -> float:
    """Left to right, only + * /: bit-identical to the module."""
    return (
        price_weight * (1.0 / (1.0 + price))
        + rating_weight * (rating / 5.0)
        + popularity_weight * (popularity / (popularity + 100.0))
    )


def _weekdays_from(first_day: int, n: int) -> int:
    """Weekdays (Mon-Fri) among the n days from first_day on (days since 1970-01-01, a Thursday)."""
    count = (n // 7) * 5
    weekday = (first_day + 3) % 7  # Monday = 0
    for _ in range(n % 7):
        if weekday < 5:
            count += 1
        weekday = (weekday + 1) % 7
    return count


def business_days_between(start: int, end: int) -> int:
    """Weekdays d with start's UTC date <= d < end's UTC date; negative when end's date is earlier."""
    a = start // MICROS_PER_DAY  # floor division: dates before 1970 too
    b = end // MICROS_PER_DAY
    if b < a:
        return -_weekdays_from(b, a - b)
    return _weekdays_from(a, b - a)


# ---------------------------------------------------------------- text


def levenshtein(a: str, b: str) -> int:
    """Edit distance over code points, unit costs."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a):
        diagonal, row[0] = row[0], i + 1
        for j, cb in enumerate(b):
            above = row[j + 1]
            row[j + 1] = diagonal if ca == cb else 1 + min(diagonal, above, row[j])
            diagonal = above
    return row[len(b)]


def _byte_pos(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _check_depth(doc: str) -> None:
    depth = 0
    in_string = escaped = False
    for i, c in enumerate(doc):
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > JSON_MAX_DEPTH:
                raise ValueError(f"invalid JSON document at byte {_byte_pos(doc, i)}: nesting too deep")
        elif c in "]}":
            depth -= 1


def _parse_document(doc: str):
    _check_depth(doc)
    try:
        value = json.loads(doc, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON document at byte {_byte_pos(doc, e.pos)}: {e.msg}") from None
    except ValueError as e:  # NaN / Infinity
        raise ValueError(f"invalid JSON document at byte 0: {e}") from None
    try:  # lone surrogates from \ud800-style escapes: not Unicode text
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("invalid JSON document at byte 0: unpaired surrogate in a \\u escape") from None
    return value


def _parse_path(path: str) -> list[tuple]:
    """Steps: ("key", k), ("index", n), ("wildcard",), ("filter", key, literal)."""
    pos = 0
    n = len(path)

    def fail(what: str, at: int | None = None):
        raise ValueError(f"invalid JSON path at position {_byte_pos(path, pos if at is None else at)}: {what}")

    def peek() -> str:
        return path[pos] if pos < n else ""

    def spaces():
        nonlocal pos
        while peek() == " ":
            pos += 1

    def expect(c: str, what: str):
        nonlocal pos
        if peek() != c:
            fail(what)
        pos += 1

    def name() -> str:
        nonlocal pos
        start = pos
        while pos < n and (
            (path[pos].isascii() and (path[pos].isalnum() or path[pos] in "_-$")) or not path[pos].isascii()
        ):
            pos += 1
        if pos == start:
            fail("expected a name")
        return path[start:pos]

    def quoted() -> str:
        nonlocal pos
        quote = path[pos]
        pos += 1
        out = []
        while True:
            if pos >= n:
                fail("unterminated string")
            c = path[pos]
            if c == "\\":
                if pos + 1 >= n:
                    pos += 1
                    fail("unterminated string")
                out.append(path[pos + 1])
                pos += 2
            elif c == quote:
                pos += 1
                return "".join(out)
            else:
                out.append(c)
                pos += 1

    def digit() -> bool:
        return peek() != "" and peek() in "0123456789"

    def number() -> float:  # JSON's number grammar, scanned like the module does
        nonlocal pos
        start = pos
        if peek() == "-":
            pos += 1
        int_start = pos
        while digit():
            pos += 1
        if pos == int_start or (path[int_start] == "0" and pos - int_start > 1):
            fail("invalid number")
        if peek() == ".":
            pos += 1
            frac = pos
            while digit():
                pos += 1
            if pos == frac:
                fail("invalid number")
        if peek() in ("e", "E"):
            pos += 1
            if peek() in ("+", "-"):
                pos += 1
            exp = pos
            while digit():
                pos += 1
            if pos == exp:
                fail("invalid number")
        return float(path[start:pos])

    if peek() != "$":
        fail("a path starts with '$'")
    pos += 1
    steps: list[tuple] = []
    while pos < n:
        c = path[pos]
        if c == ".":
            pos += 1
            if peek() == "*":
                pos += 1
                steps.append(("wildcard",))
            else:
                steps.append(("key", name()))
        elif c == "[":
            pos += 1
            spaces()
            c = peek()
            step: tuple
            if c in ("'", '"'):
                step = ("key", quoted())
            elif c == "*":
                pos += 1
                step = ("wildcard",)
            elif digit():
                start = pos
                while digit():
                    pos += 1
                value = int(path[start:pos])
                if value > 2**32 - 1:  # the module's usize is 32-bit
                    fail("index too large", start)
                step = ("index", value)
            elif c == "?":
                pos += 1
                expect("(", "expected '(' after '?'")
                spaces()
                expect("@", "expected '@'")
                expect(".", "expected '.' after '@'")
                key = name()
                spaces()
                if not path.startswith("==", pos):
                    fail("expected '=='")
                pos += 2
                spaces()
                c = peek()
                if c in ("'", '"'):
                    literal: str | float = quoted()
                elif c == "-" or digit():
                    literal = number()
                else:
                    fail("expected a string or a number")
                spaces()
                expect(")", "expected ')'")
                step = ("filter", key, literal)
            elif c == "-":
                fail("negative indexes are not supported")
            else:
                fail("expected a key, an index, '*' or a filter")
            spaces()
            expect("]", "expected ']'")
            steps.append(step)
        else:
            fail("expected '.' or '['")
    return steps


def _as_float(v) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _filter_matches(item, key: str, literal) -> bool:
    if not isinstance(item, dict) or key not in item:
        return False
    value = item[key]
    if isinstance(literal, str):
        return isinstance(value, str) and value == literal
    return isinstance(value, (int, float)) and not isinstance(value, bool) and _as_float(value) == literal


def json_path(doc: str, path: str):
    """The list of every match of `path` in the JSON text `doc`, or None when nothing matches.

    The path subset: `$`, `.key`, `.*`, `['key']` / `["key"]`, `[n]` (n >= 0), `[*]` (array
    elements or object values), `[?(@.key=='string')]` and `[?(@.key==number)]` over array
    elements (numbers compare as floats, booleans are not numbers). Spaces are allowed inside
    brackets; `\\x` in a quoted string is x. The path is checked before the document.
    Raises ValueError("invalid JSON path at position N: ...") / ("invalid JSON document at byte N: ...").
    """
    steps = _parse_path(path)
    root = _parse_document(doc)
    nodes = [root]
    for step in steps:
        found = []
        for node in nodes:
            kind = step[0]
            if kind == "key":
                if isinstance(node, dict) and step[1] in node:
                    found.append(node[step[1]])
            elif kind == "index":
                if isinstance(node, list) and step[1] < len(node):
                    found.append(node[step[1]])
            elif kind == "wildcard":
                if isinstance(node, list):
                    found.extend(node)
                elif isinstance(node, dict):
                    found.extend(node.values())
            elif kind == "filter" and isinstance(node, list):
                found.extend(item for item in node if _filter_matches(item, step[1], step[2]))
        nodes = found
    return nodes or None


def json_path_text(doc: str, path: str) -> str | None:
    """json_path as the module returns it: compact JSON text of the matches (or None)."""
    found = json_path(doc, path)
    return None if found is None else json.dumps(found, separators=(",", ":"), ensure_ascii=False)


_last_regex: tuple[str, re.Pattern | str] | None = None


def regex_extract(text: str, pattern: str, group: int):
    """Group `group` (0: the whole match) of the first match of `pattern`, or None (no match, or the
    group did not take part). ValueError for an invalid pattern or a group outside 0..=groups."""
    global _last_regex
    if _last_regex is None or _last_regex[0] != pattern:
        try:
            compiled: re.Pattern | str = re.compile(pattern, re.ASCII)
        except re.error as e:
            compiled = f"invalid regular expression: {e}"
        _last_regex = (pattern, compiled)
    compiled = _last_regex[1]
    if isinstance(compiled, str):
        raise ValueError(compiled)
    groups = compiled.groups
    if group < 0 or group > groups:
        raise ValueError(
            f"group {group} is out of range: the pattern has {groups} capture group{'' if groups == 1 else 's'}"
        )
    m = compiled.search(text)
    return None if m is None else m.group(group)


FUNCTIONS = {
    "add_one": add_one,
    "custom_score": custom_score,
    "weighted_score": weighted_score,
    "business_days_between": business_days_between,
    "levenshtein": levenshtein,
    "json_path": json_path,
    "regex_extract": regex_extract,
}
