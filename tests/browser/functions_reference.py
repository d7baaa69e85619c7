"""The engine's built-in functions (docs/functions.md) in plain Python: the reference that
tests/browser/test_functions.py compares the browser engine with, row by row.

Written from the documentation, not from the Rust code: Python's json module parses (with the
strictness the documentation asks for added on top), objects keep duplicate keys as lists of
pairs, and the histogram arithmetic is spelt as documented, in the same floating-point order.
SQL NULL is None; a JSON null is JSON_NULL.
"""

from __future__ import annotations

import json
import math
import struct

MAX_DEPTH = 512
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
MAX_BINS = 10_000


class Invalid(Exception):
    """Not JSON by the documented rules."""


class PathError(Exception):
    """An invalid path: a SQL error."""


class JsonNull:
    def __repr__(self) -> str:
        return "JSON_NULL"


JSON_NULL = JsonNull()


class Obj(list):
    """A JSON object: its (key, value) pairs in document order, duplicates included."""


# ------------------------------------------------------------------------------------------- JSON


def _int(text: str):
    try:
        value = int(text)
    except ValueError:  # more digits than Python converts
        value = None
    if value is not None and I64_MIN <= value <= I64_MAX:
        return value
    return _float(text)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise Invalid(f"number out of range: {text[:20]}")
    return value


def _constant(text: str):
    raise Invalid(f"not JSON: {text}")


def parse(text: str):
    """The document's value (JSON_NULL for null, Obj for objects), or Invalid."""
    try:
        value = json.loads(text, object_pairs_hook=Obj, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        raise Invalid(str(exc)) from None
    # Depth and lone surrogates, without recursion.
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            _check_str(v)
        elif isinstance(v, (list, Obj)):
            if depth > MAX_DEPTH:
                raise Invalid("nested too deeply")
            if isinstance(v, Obj):
                for k, item in v:
                    _check_str(k)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in v)
    return _nulls(value)


def _check_str(s: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("lone surrogate") from None


def _nulls(value):
    """json's None as JSON_NULL, everywhere (iteratively)."""
    if value is None:
        return JSON_NULL
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Obj):
            for i, (k, item) in enumerate(v):
                if item is None:
                    v[i] = (k, JSON_NULL)
                elif isinstance(item, list):
                    stack.append(item)
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if item is None:
                    v[i] = JSON_NULL
                elif isinstance(item, list):
                    stack.append(item)
    return value


def try_parse(text: str):
    try:
        return True, parse(text)
    except Invalid:
        return False, None


def quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t\b\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def float_text(v: float) -> str:
    """The documented float form: the shortest round trip, exponent without '+' or leading zeros."""
    text = repr(v)
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _scalar_text(value) -> str:
    if value is JSON_NULL:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    return quote(value)


def _scalar_bytes(value) -> bytes:
    if value is JSON_NULL:
        return b"\x00"
    if value is False:
        return b"\x01"
    if value is True:
        return b"\x02"
    if isinstance(value, int):
        return b"\x03" + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x04" + struct.pack("<d", value)
    raw = value.encode()
    return b"\x05" + struct.pack("<I", len(raw)) + raw


def _fold(value, scalar, key, close):
    """Post-order over a value without recursion: scalar(v) for leaves, key(k) before each
    member's value, close(container, parts) for containers."""
    parts: list[list] = [[]]
    work: list = [(0, value)]
    while work:
        what, item = work.pop()
        if what == 1:
            parts[-1].append(item)
        elif what == 2:
            done = parts.pop()
            parts[-1].append(close(item, done))
        elif isinstance(item, list):
            work.append((2, item))
            parts.append([])
            if isinstance(item, Obj):
                for k, v in reversed(item):
                    work.append((0, v))
                    work.append((1, key(k)))
            else:
                work.extend((0, v) for v in reversed(item))
        else:
            parts[-1].append(scalar(item))
    return parts[0][0]


def render(value) -> str:
    """Compact JSON text."""

    def close(container, parts):
        if isinstance(container, Obj):
            return "{" + ",".join(parts[i] + parts[i + 1] for i in range(0, len(parts), 2)) + "}"
        return "[" + ",".join(parts) + "]"

    return _fold(value, _scalar_text, lambda k: quote(k) + ":", close)


def encode(value) -> bytes:
    """The documented binary form (json_parse's result)."""

    def close(container, parts):
        body = b"".join(parts)
        tag = b"\x07" if isinstance(container, Obj) else b"\x06"
        return tag + struct.pack("<II", len(body), len(container)) + body

    return _fold(value, _scalar_bytes, lambda k: struct.pack("<I", len(k.encode())) + k.encode(), close)


def parse_path(path: str) -> list:
    """Steps: str keys and int indexes; PathError for the documented syntax errors."""
    steps: list = []
    i = 0
    if path.startswith("$"):
        i = 1
        if len(path) > 1 and path[1] not in ".[":
            raise PathError(path)
    first = True
    while i < len(path):
        c = path[i]
        if c == "[":
            if path[i + 1 : i + 2] == '"':
                key, j = [], i + 2
                while True:
                    if j >= len(path):
                        raise PathError(path)
                    if path[j] == '"':
                        break
                    if path[j] == "\\" and path[j + 1 : j + 2] in ('"', "\\"):
                        key.append(path[j + 1])
                        j += 2
                    else:
                        key.append(path[j])
                        j += 1
                if path[j + 1 : j + 2] != "]":
                    raise PathError(path)
                steps.append("".join(key))
                i = j + 2
            else:
                close = path.find("]", i)
                if close < 0:
                    raise PathError(path)
                inner = path[i + 1 : close]
                digits = inner[1:] if inner.startswith("-") else inner
                if not digits or not all("0" <= d <= "9" for d in digits):
                    raise PathError(path)
                index = int(inner)
                if not I64_MIN <= index <= I64_MAX:
                    raise PathError(path)
                steps.append(index)
                i = close + 1
        else:
            if c == ".":
                i += 1
            elif not first:
                raise PathError(path)
            ends = [e for e in (path.find(".", i), path.find("[", i)) if e >= 0]
            end = min(ends) if ends else len(path)
            if end == i:
                raise PathError(path)
            steps.append(path[i:end])
            i = end
        first = False
    return steps


_MISSING = object()


def lookup(value, steps: list):
    for step in steps:
        if isinstance(step, str) and isinstance(value, Obj):
            value = next((v for k, v in value if k == step), _MISSING)
        elif isinstance(step, int) and isinstance(value, list) and not isinstance(value, Obj):
            index = step + len(value) if step < 0 else step
            value = value[index] if 0 <= index < len(value) else _MISSING
        else:
            value = _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _at(doc, path: str | None = "$"):
    """The value at path in doc (text, or an already parsed value), or _MISSING. The path is
    checked first: an invalid one is an error even when the document is not JSON."""
    if path is None:
        return _MISSING
    steps = parse_path(path)
    if isinstance(doc, str):
        ok, doc = try_parse(doc)
        if not ok:
            return _MISSING
    return lookup(doc, steps)


def json_valid(text: str | None):
    return None if text is None else try_parse(text)[0]


def json_parse(text: str | None):
    if text is None:
        return None
    ok, value = try_parse(text)
    return encode(value) if ok else None


def _get(doc, path, convert):
    if doc is None or path is None:
        return None
    value = _at(doc, path)
    return None if value is _MISSING else convert(value)


def json_get(doc, path):
    return _get(doc, path, render)


def json_get_str(doc, path):
    return _get(doc, path, lambda v: v if isinstance(v, str) else None)


def json_get_int(doc, path):
    return _get(doc, path, lambda v: v if type(v) is int else None)


def json_get_float(doc, path):
    return _get(doc, path, lambda v: float(v) if type(v) in (int, float) else None)


def json_get_bool(doc, path):
    return _get(doc, path, lambda v: v if type(v) is bool else None)


def json_array_length(doc, path="$"):
    return _get(doc, path, lambda v: len(v) if isinstance(v, list) and not isinstance(v, Obj) else None)


def json_object_keys(doc, path="$"):
    return _get(doc, path, lambda v: [k for k, _ in v] if isinstance(v, Obj) else None)


# ------------------------------------------------------------------------------------- properties


def _entries(props):
    """(key, value) of the entries that are not NULL and have a key."""
    for entry in props:
        if entry is None:
            continue
        key, value = entry["key"], entry["value"]
        if key is not None:
            yield key, value


def props_get(props, key):
    if props is None or key is None:
        return None
    return next((v for k, v in _entries(props) if k == key), None)


def props_to_json(props):
    if props is None:
        return None
    return "{" + ",".join(quote(k) + ":" + ("null" if v is None else quote(v)) for k, v in _entries(props)) + "}"


def props_len(props):
    return None if props is None else len(props)


# ------------------------------------------------------------------------------------- histograms


def _fmax(a: float, b: float) -> float:  # Rust's f64::max: a NaN loses
    return b if math.isnan(a) else a if math.isnan(b) else max(a, b)


def _fmin(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else min(a, b)


class Hist:
    def __init__(self, lo: float, hi: float, bins: int):
        if not (lo < hi and math.isfinite(hi - lo)):
            raise ValueError("bounds")
        if not 1 <= bins <= MAX_BINS:
            raise ValueError("bins")
        self.lo, self.hi = float(lo), float(hi)
        self.counts = [0] * bins
        self.underflow = self.overflow = self.count = 0
        self.sum = 0.0
        self.min, self.max = math.inf, -math.inf

    def add(self, v: float | None) -> None:
        if v is None or math.isnan(v):
            return
        self.count += 1
        self.sum += v
        self.min, self.max = _fmin(self.min, v), _fmax(self.max, v)
        if v < self.lo:
            self.underflow += 1
        elif v > self.hi:
            self.overflow += 1
        else:
            bins = len(self.counts)
            i = math.floor((v - self.lo) / (self.hi - self.lo) * bins)
            self.counts[min(i, bins - 1)] += 1

    def merge(self, other: Hist) -> None:
        if (self.lo, self.hi, len(self.counts)) != (other.lo, other.hi, len(other.counts)):
            raise ValueError("histograms with different bounds cannot be merged")
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]
        self.underflow += other.underflow
        self.overflow += other.overflow
        self.count += other.count
        self.sum += other.sum
        self.min, self.max = _fmin(self.min, other.min), _fmax(self.max, other.max)

    def quantile(self, q: float):
        if not 0.0 <= q <= 1.0:
            raise ValueError("q")
        bins = len(self.counts)
        n = self.underflow + self.overflow + sum(self.counts)
        if n == 0:
            return None
        r = q * n

        def edge(i):
            return self.lo + (self.hi - self.lo) * i / bins

        buckets = [(self.underflow, self.min, self.lo)]
        buckets += [(c, edge(i), edge(i + 1)) for i, c in enumerate(self.counts)]
        buckets.append((self.overflow, self.hi, self.max))
        before, chosen = 0, None
        for count, b_lo, b_hi in buckets:
            if count == 0:
                continue
            chosen = (b_lo, b_hi, before, count)
            if before + count >= r:
                break
            before += count
        b_lo, b_hi, before, count = chosen
        v = b_lo + (b_hi - b_lo) * ((r - before) / count)
        return _fmin(_fmax(v, self.min), self.max)

    def as_struct(self) -> dict:
        empty = self.count == 0
        return {
            "lo": self.lo,
            "hi": self.hi,
            "counts": list(self.counts),
            "underflow": self.underflow,
            "overflow": self.overflow,
            "count": self.count,
            "sum": self.sum,
            "min": None if empty else self.min,
            "max": None if empty else self.max,
        }


def histogram(values, lo: float, hi: float, bins: int) -> Hist:
    h = Hist(lo, hi, bins)
    for v in values:
        h.add(v)
    return h


def histogram_merge(hists) -> Hist | None:
    out = None
    for h in hists:
        if h is None:
            continue
        if out is None:
            out = Hist(h.lo, h.hi, len(h.counts))
        out.merge(h)
    return out
