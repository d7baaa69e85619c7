"""The JSON-framed Arrow IPC protocol (seed 000): how a query server streams a result.

A response body is a sequence of frames. A frame is one JSON line (UTF-8, ended by "\\n"); a
schema or batch frame is followed by exactly `size` bytes holding one encapsulated Arrow IPC
message (continuation marker, length, flatbuffer, body):

    {"type":"schema","size":N}\\n <N bytes>       exactly one, first
    {"type":"batch","size":N}\\n  <N bytes>       zero or more (dictionary batches count as batches)
    {"type":"done"}\\n                            last

or, at any point instead of the next frame, {"type":"error","message":"..."}\\n, which ends the
response. The client (`fetchQueryIPC` in JS, `assemble_ipc_stream` here) concatenates the
messages and appends the end-of-stream marker: a complete IPC *stream* (no "ARROW1" magic, which
belongs to the file format and which StreamReader rejects), what `register_table` accepts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyarrow is needed only to encode (servers, tests), not to parse
    import pyarrow as pa

IPC_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"
IPC_CONTINUATION = b"\xff\xff\xff\xff"
MAX_HEADER_BYTES = 64 * 1024  # a frame header longer than this is not a frame header


class ProtocolError(Exception):
    """The response is not a well-formed frame sequence (truncated, garbled, out of order)."""


class ServerError(Exception):
    """The server sent an error frame."""


def header(kind: str, **fields) -> bytes:
    return json.dumps({"type": kind, **fields}, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def ipc_messages(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """The encapsulated IPC messages of a stream: schema first, then dictionaries and batches."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    reader = pa.ipc.MessageReader.open_stream(sink.getvalue())
    while True:
        try:
            message = reader.read_next_message()
        except StopIteration:
            return
        yield message.serialize().to_pybytes()


def encode_frames(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    """The frames of a successful response, one bytes object per frame (header + message)."""
    for index, message in enumerate(ipc_messages(schema, batches)):
        yield header("schema" if index == 0 else "batch", size=len(message)) + message
    yield header("done")


def error_frame(message: str) -> bytes:
    return header("error", message=message)


@dataclass
class Frames:
    """A decoded response: the IPC messages in order."""

    schema: bytes
    batches: list[bytes]

    def ipc_stream(self) -> bytes:
        return self.schema + b"".join(self.batches) + IPC_EOS


def decode_frames(body: bytes) -> Frames:
    """Parses a whole response body; raises ServerError on an error frame, ProtocolError otherwise.

    The reference for the JS client: both must agree on every malformed input the tests feed them.
    """
    at = 0
    schema: bytes | None = None
    batches: list[bytes] = []
    while True:
        end = body.find(b"\n", at, at + MAX_HEADER_BYTES + 1)
        if end < 0:
            if at >= len(body):
                raise ProtocolError(
                    f"the response ended before the 'done' frame (after {len(batches) + (schema is not None)} "
                    f"frames, {len(body)} bytes): the connection closed early or the stream was truncated"
                )
            if len(body) - at > MAX_HEADER_BYTES:
                raise ProtocolError(
                    f"a frame header longer than {MAX_HEADER_BYTES} bytes at byte {at}: not this protocol"
                )
            raise ProtocolError(
                f"the response ended inside a frame header at byte {at} ({body[at : at + 80]!r}): truncated"
            )
        try:
            frame = json.loads(body[at:end])
            kind = frame["type"]
        except (ValueError, KeyError, TypeError):
            raise ProtocolError(f"not a frame header at byte {at}: {body[at:end][:80]!r}") from None
        at = end + 1
        if kind == "error":
            raise ServerError(str(frame.get("message", "(no message)")))
        if kind == "done":
            if schema is None:
                raise ProtocolError("'done' frame before any 'schema' frame")
            if body[at:].strip():
                raise ProtocolError(f"{len(body) - at} bytes after the 'done' frame")
            return Frames(schema, batches)
        if kind not in ("schema", "batch"):
            raise ProtocolError(f"unknown frame type {kind!r} at byte {end}")
        size = frame.get("size")
        if not isinstance(size, int) or size < 0:
            raise ProtocolError(f"{kind} frame with invalid size {size!r}")
        if kind == "schema" and schema is not None:
            raise ProtocolError("a second 'schema' frame")
        if kind == "batch" and schema is None:
            raise ProtocolError("a 'batch' frame before the 'schema' frame")
        message = body[at : at + size]
        if len(message) < size:
            raise ProtocolError(
                f"{kind} frame announced {size} bytes but the response ended after {len(message)}: truncated"
            )
        if not message.startswith(IPC_CONTINUATION):
            raise ProtocolError(f"the {kind} frame at byte {at} does not hold an encapsulated IPC message")
        at += size
        if kind == "schema":
            schema = message
        else:
            batches.append(message)


def assemble_ipc_stream(body: bytes) -> bytes:
    """A complete IPC stream from a whole response body (what fetchQueryIPC returns in JS)."""
    return decode_frames(body).ipc_stream()
