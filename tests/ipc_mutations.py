"""Seeded mutations of Arrow IPC streams: the hostile inputs `register_table` must survive.

`base_streams()` writes a few small, valid tables with pyarrow (the stream format, each with its
end-of-stream marker). `mutated_streams(seed, count)` damages them the way a broken upload, a
buggy writer or an attacker would, and yields `(label, bytes)` pairs, the same ones for the same
seed and pyarrow version:

- ``flip:bit 1234``: one bit flipped anywhere;
- ``byte:0xff @ offset 17``: one byte set to 0x00, 0xFF, 0x7F or 0x80;
- ``i64=2^32+8 @ offset 200 (buffer 3 offset, message 1)``: a structural field of the metadata
  (metadata length, body length, batch length, field node length or null count, buffer offset or
  length, compressed buffer's uncompressed-length prefix, dictionary id) set to an edge value:
  -1, 0, 2^31-1, 2^31, 2^32, 2^32+k, the original + 2^32, i64 min/max...;
- ``i32=-1 @ offset 96 (metadata word)``: any aligned 4- or 8-byte word of a message's metadata;
- ``truncate:at 123``; ``dup:message 1 after 2``; ``swap:messages 1,2``; ``drop:message 2``;
- ``splice:... ``: the head of one stream followed by the tail of another.

Several mutations may be stacked on one input; their labels are joined with `` | ``.
`kinds_of(label)` gives the kinds in a label (see `KINDS`). The messages are located with a
small flatbuffer reader (no pyarrow internals), so the field mutations hit real offsets,
lengths and counts rather than random bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

KINDS = ("flip", "byte", "field", "word", "truncate", "dup", "swap", "drop", "splice")

CONTINUATION = b"\xff\xff\xff\xff"
EOS = CONTINUATION + b"\x00\x00\x00\x00"


# ------------------------------------------------------------------------------ base streams


def _stream(table, *, compression: str | None = None, max_chunksize: int | None = None, legacy: bool = False) -> bytes:
    import pyarrow as pa

    options = pa.ipc.IpcWriteOptions(compression=compression, use_legacy_format=legacy)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=max_chunksize)
    return sink.getvalue().to_pybytes()


def base_tables() -> list[tuple[str, object]]:
    """The valid tables the mutations start from (pyarrow tables, small on purpose: most bytes
    of their streams are then metadata, where the damage matters)."""
    import datetime
    import decimal

    import pyarrow as pa

    ints = pa.table(
        {
            "a": pa.array([1, None, 3, 4, None, 6], pa.int64()),
            "b": pa.array([10, 20, 30, 40, 50, 60], pa.int32()),
        }
    )
    strings = pa.table(
        {
            "s": pa.array(["alpha", None, "", "Zürich", "東京", "🦀"]),
            "ls": pa.array(["x", "yy", None, "zzz", "", "w"], pa.large_string()),
        }
    )
    booleans = pa.table({"t": pa.array([True, None, False, True, None, True, False, False, True])})
    lists = pa.table({"l": pa.array([[1, 2, None], None, [], [4]], pa.list_(pa.int32()))})
    structs = pa.table(
        {
            "st": pa.array(
                [{"x": 1, "y": "p"}, None, {"x": None, "y": "q"}, {"x": 4, "y": None}],
                pa.struct([("x", pa.int32()), ("y", pa.string())]),
            ),
        }
    )
    dictionary = pa.table(
        {  # two dictionaries: ids 0 and 1 (0 is a flatbuffer default, not written)
            "d": pa.array(["red", None, "green", "red", "blue", "green"]).cast(pa.dictionary(pa.int8(), pa.utf8())),
            "e": pa.array(["x", "y", "x", None, "z", "z"]).cast(pa.dictionary(pa.int32(), pa.utf8())),
        }
    )
    decimals = pa.table(
        {
            "dec": pa.array([decimal.Decimal("123.45"), None, decimal.Decimal("-0.01")], pa.decimal128(10, 2)),
        }
    )
    zurich = datetime.datetime(2024, 3, 1, 12, 30, tzinfo=datetime.UTC)
    timestamps = pa.table(
        {
            "ts": pa.array([zurich, None, zurich], pa.timestamp("us", tz="Europe/Zurich")),
            "day": pa.array([datetime.date(2024, 1, 1), None, datetime.date(1970, 1, 1)], pa.date32()),
        }
    )
    mixed = pa.table(
        {
            "id": pa.array(range(300), pa.int64()),
            "city": pa.array(["Zürich", "Bern", None, "Genève"] * 75),
            "flag": pa.array([True, False, None] * 100),
            "tags": pa.array([[i % 3, i % 5] if i % 7 else None for i in range(300)], pa.list_(pa.int16())),
        }
    )
    return [
        ("ints with nulls", ints),
        ("strings", strings),
        ("booleans", booleans),
        ("list<int32>", lists),
        ("struct", structs),
        ("dictionary<int8, utf8>", dictionary),
        ("decimal128", decimals),
        ("timestamps with tz", timestamps),
        ("mixed", mixed),
    ]


def base_streams() -> list[tuple[str, bytes]]:
    """The valid IPC streams the mutations start from, as (name, bytes)."""
    tables = dict(base_tables())
    streams = [(name, _stream(table)) for name, table in base_tables()]
    streams += [
        ("mixed, 4 batches", _stream(tables["mixed"], max_chunksize=80)),
        ("mixed, lz4", _stream(tables["mixed"], compression="lz4")),
        ("strings, lz4", _stream(tables["strings"], compression="lz4")),
        ("dictionary, 3 batches", _stream(tables["dictionary<int8, utf8>"], max_chunksize=2)),
        ("ints, legacy framing", _stream(tables["ints with nulls"], legacy=True)),
    ]
    return streams


# ------------------------------------------------------------------------------ stream structure


def _u16(b: bytes | bytearray, p: int) -> int:
    return int.from_bytes(b[p : p + 2], "little")


def _u32(b: bytes | bytearray, p: int) -> int:
    return int.from_bytes(b[p : p + 4], "little")


def _i32(b: bytes | bytearray, p: int) -> int:
    return int.from_bytes(b[p : p + 4], "little", signed=True)


def _i64(b: bytes | bytearray, p: int) -> int:
    return int.from_bytes(b[p : p + 8], "little", signed=True)


@dataclass(frozen=True)
class _Message:
    start: int  # the length prefix (continuation marker included)
    meta: int  # the flatbuffer
    meta_end: int
    end: int  # after the body


@dataclass(frozen=True)
class _Field:
    pos: int
    width: int  # 4 or 8
    what: str


class _Malformed(Exception):
    pass


def _field(b: bytes | bytearray, table: int, slot: int, limit: int) -> int | None:
    """Absolute position of field `slot` of the flatbuffer table at `table`, None if absent."""
    if not 0 <= table <= limit - 4:
        raise _Malformed
    vtable = table - _i32(b, table)
    if not 0 <= vtable <= limit - 4:
        raise _Malformed
    vtable_len = _u16(b, vtable)
    entry = 4 + 2 * slot
    if entry + 2 > vtable_len or vtable + entry + 2 > limit:
        return None
    offset = _u16(b, vtable + entry)
    if not offset:
        return None
    if table + offset >= limit:
        raise _Malformed
    return table + offset


def _deref(b: bytes | bytearray, pos: int | None, limit: int) -> int | None:
    if pos is None:
        return None
    if pos + 4 > limit:
        raise _Malformed
    target = pos + _u32(b, pos)
    if target + 4 > limit:
        raise _Malformed
    return target


def _messages(b: bytes | bytearray) -> tuple[list[_Message], int]:
    """The well-framed messages at the start of `b`, and where the rest (end marker) starts."""
    out: list[_Message] = []
    pos = 0
    while len(b) - pos >= 8:
        if b[pos : pos + 4] == CONTINUATION:
            length, prefix = _i32(b, pos + 4), 8
        else:
            length, prefix = _i32(b, pos), 4
        meta = pos + prefix
        if length <= 0 or meta + length > len(b):
            break
        try:
            root = _deref(b, meta, meta + length)
            body_at = _field(b, root, 3, meta + length)
        except _Malformed:
            break
        body = _i64(b, body_at) if body_at is not None else 0
        end = meta + length + body
        if body < 0 or end > len(b):
            break
        out.append(_Message(pos, meta, meta + length, end))
        pos = end
    return out, pos


def _batch_fields(b: bytes | bytearray, batch: int, msg: _Message, index: int, out: list[_Field]) -> None:
    limit = msg.meta_end
    length = _field(b, batch, 0, limit)
    if length is not None:
        out.append(_Field(length, 8, f"batch length, message {index}"))
    nodes = _deref(b, _field(b, batch, 1, limit), limit)
    if nodes is not None:
        out.append(_Field(nodes, 4, f"field node count, message {index}"))
        for i in range(min(_u32(b, nodes), (limit - nodes - 4) // 16)):
            out.append(_Field(nodes + 4 + 16 * i, 8, f"node {i} length, message {index}"))
            out.append(_Field(nodes + 12 + 16 * i, 8, f"node {i} null count, message {index}"))
    compressed = _field(b, batch, 3, limit) is not None
    buffers = _deref(b, _field(b, batch, 2, limit), limit)
    if buffers is not None:
        out.append(_Field(buffers, 4, f"buffer count, message {index}"))
        for i in range(min(_u32(b, buffers), (limit - buffers - 4) // 16)):
            at = buffers + 4 + 16 * i
            out.append(_Field(at, 8, f"buffer {i} offset, message {index}"))
            out.append(_Field(at + 8, 8, f"buffer {i} length, message {index}"))
            offset, size = _i64(b, at), _i64(b, at + 8)
            if compressed and offset >= 0 and size >= 8 and msg.meta_end + offset + size <= msg.end:
                out.append(_Field(msg.meta_end + offset, 8, f"buffer {i} uncompressed length, message {index}"))


def _structural_fields(b: bytes | bytearray) -> list[_Field]:
    """The integer fields of every well-framed message that say how long or where things are."""
    out: list[_Field] = []
    messages, _ = _messages(b)
    for index, msg in enumerate(messages):
        out.append(_Field(msg.meta - 4, 4, f"metadata length, message {index}"))
        limit = msg.meta_end
        try:
            root = _deref(b, msg.meta, limit)
            body = _field(b, root, 3, limit)
            if body is not None:
                out.append(_Field(body, 8, f"body length, message {index}"))
            kind_at = _field(b, root, 1, limit)
            kind = b[kind_at] if kind_at is not None else 0
            header = _deref(b, _field(b, root, 2, limit), limit)
            if header is None:
                continue
            if kind == 3:  # RecordBatch
                _batch_fields(b, header, msg, index, out)
            elif kind == 2:  # DictionaryBatch
                dict_id = _field(b, header, 0, limit)
                if dict_id is not None:
                    out.append(_Field(dict_id, 8, f"dictionary id, message {index}"))
                data = _deref(b, _field(b, header, 1, limit), limit)
                if data is not None:
                    _batch_fields(b, data, msg, index, out)
        except _Malformed:
            continue
    return [f for f in out if f.pos >= 0 and f.pos + f.width <= len(b)]


# ------------------------------------------------------------------------------ mutations


def _edge_values(rng: random.Random, width: int, original: int) -> list[tuple[int, str]]:
    k = rng.randrange(1, 64)
    if width == 8:
        return [
            (-1, "-1"),
            (0, "0"),
            (1, "1"),
            (2**31 - 1, "2^31-1"),
            (2**31, "2^31"),
            (2**32, "2^32"),
            (2**32 + k, f"2^32+{k}"),
            (original + 2**32, f"{original}+2^32"),
            (original + 1, f"{original}+1"),
            (original - 1, f"{original}-1"),
            (original * 2, f"{original}*2"),
            (2**63 - 1, "2^63-1"),
            (-(2**63), "-2^63"),
            (2**62, "2^62"),
            (2**32 - 1, "2^32-1"),
        ]
    return [
        (-1, "-1"),
        (0, "0"),
        (1, "1"),
        (2**31 - 1, "2^31-1"),
        (-(2**31), "-2^31"),
        (original + 1, f"{original}+1"),
        (original - 1, f"{original}-1"),
        (original + 8, f"{original}+8"),
        (original * 2, f"{original}*2"),
        (2**31 - 16, "2^31-16"),
    ]


def _put(b: bytearray, pos: int, width: int, value: int) -> None:
    bits = 8 * width
    value = (value + 2 ** (bits - 1)) % 2**bits - 2 ** (bits - 1)  # wrap into the signed range
    b[pos : pos + width] = value.to_bytes(width, "little", signed=True)


def _mutate_once(rng: random.Random, b: bytearray, bases: list[tuple[str, bytes]]) -> tuple[str, bytearray]:
    while True:
        kind = rng.choices(KINDS, weights=(12, 8, 34, 8, 8, 6, 6, 6, 8))[0]
        if not b:
            b = bytearray(bases[0][1])
        messages, rest = _messages(b)
        if kind == "flip":
            bit = rng.randrange(len(b) * 8)
            b[bit // 8] ^= 1 << (bit % 8)
            return f"flip:bit {bit}", b
        if kind == "byte":
            pos, value = rng.randrange(len(b)), rng.choice((0x00, 0xFF, 0x7F, 0x80))
            b[pos] = value
            return f"byte:{value:#04x} @ offset {pos}", b
        if kind == "field":
            fields = _structural_fields(b)
            if not fields:
                continue
            f = rng.choice(fields)
            original = int.from_bytes(b[f.pos : f.pos + f.width], "little", signed=True)
            value, name = rng.choice(_edge_values(rng, f.width, original))
            _put(b, f.pos, f.width, value)
            return f"i{8 * f.width}={name} @ offset {f.pos} ({f.what})", b
        if kind == "word":
            if not messages:
                continue
            m = rng.choice(messages)
            width = rng.choice((4, 8))
            if m.meta_end - m.meta < width:
                continue
            pos = m.meta + (rng.randrange(m.meta_end - m.meta - width + 1) & ~(width - 1))
            original = int.from_bytes(b[pos : pos + width], "little", signed=True)
            value, name = rng.choice(_edge_values(rng, width, original))
            _put(b, pos, width, value)
            return f"i{8 * width}={name} @ offset {pos} (metadata word)", b
        if kind == "truncate":
            if messages and rng.random() < 0.5:
                m = rng.choice(messages)
                cut = min(rng.choice((m.start, m.meta, m.meta_end, m.end, m.end - 1, m.meta_end + 1)), len(b))
            else:
                cut = rng.randrange(len(b))
            return f"truncate:at {cut}", b[:cut]
        if kind in ("dup", "swap", "drop"):
            if len(messages) < (1 if kind == "drop" else 2):
                continue
            parts = [bytes(b[m.start : m.end]) for m in messages]
            tail = bytes(b[rest:])
            i = rng.randrange(len(parts))
            if kind == "dup":
                j = rng.randrange(len(parts) + 1)
                parts.insert(j, parts[i])
                label = f"dup:message {i} at {j}"
            elif kind == "swap":
                j = rng.randrange(len(parts))
                parts[i], parts[j] = parts[j], parts[i]
                label = f"swap:messages {i},{j}"
            else:
                del parts[i]
                label = f"drop:message {i}"
            return label, bytearray(b"".join(parts) + tail)
        # splice: this stream up to a message boundary, then another stream from one of its messages
        name, other = rng.choice(bases)
        other_messages, _ = _messages(other)
        if not messages or not other_messages:
            continue
        cut = rng.choice(messages).end
        start = rng.choice(other_messages).start
        return f"splice:{cut} + {name!r}[{start}:]", bytearray(b[:cut] + other[start:])


def kinds_of(label: str) -> set[str]:
    """The mutation kinds in a label produced by `mutated_streams`."""
    kinds = set()
    for part in label.split(" | "):
        part = part.split(": ", 1)[-1] if part.startswith("base ") else part
        if part.startswith(("i32=", "i64=")):
            kinds.add("word" if part.endswith("(metadata word)") else "field")
        else:
            kinds.add(part.split(":", 1)[0])
    return kinds


def mutated_streams(seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """`count` damaged streams, the same for the same seed: (label, bytes). The label names the
    base stream and each mutation, e.g. "base 'strings': i64=2^32+8 @ offset 200 (buffer 3
    offset, message 1)"."""
    rng = random.Random(seed)
    bases = base_streams()
    for _ in range(count):
        name, data = rng.choice(bases)
        b = bytearray(data)
        labels = []
        for _ in range(rng.choices((1, 2, 3), weights=(7, 2, 1))[0]):
            label, b = _mutate_once(rng, b, bases)
            labels.append(label)
        yield f"base {name!r}: " + " | ".join(labels), bytes(b)
