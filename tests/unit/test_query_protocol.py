"""The JSON-framed IPC protocol: the Python reference and the shipped JS client (run in node)
must turn the same response bodies into the same IPC stream, and refuse the same broken ones."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from toolchain.analysis import query_protocol
from toolchain.analysis.query_protocol import ProtocolError, ServerError

REPO = Path(__file__).resolve().parents[2]
JS_CLIENT = REPO / "crates" / "datafusion-wasm" / "js" / "fetch_query_ipc.js"


def table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(10), pa.int64()),
            "city": pa.array(["Zürich", "東京", None, "🦀", "a", "b", "c", "d", "e", "f"]),
            "tag": pa.array(["x", "y"] * 5).dictionary_encode(),
        }
    )


def body(t: pa.Table, max_chunksize: int = 3) -> bytes:
    return b"".join(query_protocol.encode_frames(t.schema, t.to_batches(max_chunksize=max_chunksize)))


def test_frames_assemble_into_a_stream_pyarrow_reads_back():
    t = table()
    frames = query_protocol.decode_frames(body(t))
    assert len(frames.batches) >= 4 + 1  # 4 record batches plus the dictionary
    assert pa.ipc.open_stream(frames.ipc_stream()).read_all().equals(t.combine_chunks())
    assert not frames.ipc_stream().startswith(b"ARROW1")


def test_an_empty_result_is_a_schema_and_done():
    t = table().slice(0, 0)
    out = pa.ipc.open_stream(query_protocol.assemble_ipc_stream(body(t))).read_all()
    assert out.num_rows == 0 and out.schema.equals(t.schema)


def broken_bodies() -> dict[str, tuple[bytes, type, str]]:
    good = body(table())
    schema_header_end = good.index(b"\n") + 1
    return {
        "empty body": (b"", ProtocolError, "ended before the 'done' frame"),
        "cut inside a message": (good[: schema_header_end + 10], ProtocolError, "truncated"),
        "cut before done": (good[: good.rindex(b'{"type":"done"}')], ProtocolError, "ended before the 'done' frame"),
        "cut inside a header": (good[:5], ProtocolError, "ended inside a frame header"),
        "error frame first": (query_protocol.error_frame("query failed: no table 'x'"), ServerError, "no table 'x'"),
        "error frame mid-stream": (
            good[: good.index(b'{"type":"batch"', schema_header_end)] + query_protocol.error_frame("cancelled"),
            ServerError,
            "cancelled",
        ),
        "garbage header": (b"HTTP/1.1 500 oops\n", ProtocolError, "not"),
        "batch before schema": (
            query_protocol.header("batch", size=8) + b"\xff" * 8 + query_protocol.header("done"),
            ProtocolError,
            "before the 'schema' frame",
        ),
        "done without schema": (query_protocol.header("done"), ProtocolError, "before any 'schema' frame"),
        "not an IPC message": (
            query_protocol.header("schema", size=4) + b"ARRO" + query_protocol.header("done"),
            ProtocolError,
            "IPC message",
        ),
        "data after done": (good + b"junk", ProtocolError, "after the 'done' frame"),
        "negative size": (query_protocol.header("schema", size=-1), ProtocolError, "invalid size"),
    }


@pytest.mark.parametrize("name", list(broken_bodies()))
def test_python_reader_refuses_broken_bodies(name):
    data, error, needle = broken_bodies()[name]
    with pytest.raises(error, match=needle):
        query_protocol.decode_frames(data)


# The JS client, fed each body in small chunks (so frames straddle chunk boundaries).
NODE_SCRIPT = r"""
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [client, casesPath] = process.argv.slice(1);
const { readFrames, assembleIPCStream } = await import(pathToFileURL(client).href);
const cases = JSON.parse(readFileSync(casesPath, "utf8"));
const out = {};
for (const [name, b64] of Object.entries(cases)) {
  const bytes = Uint8Array.from(Buffer.from(b64, "base64"));
  const chunks = [];
  for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
  try {
    const { messages } = await readFrames(chunks);
    out[name] = { ok: Buffer.from(assembleIPCStream(messages)).toString("base64") };
  } catch (e) {
    out[name] = { error: e.name, message: e.message };
  }
}
console.log(JSON.stringify(out));
"""


def run_js_client(tmp_path: Path, cases: dict[str, bytes]) -> dict:
    node = shutil.which("node")
    assert node, "node is required (Debian: nodejs); the toolchain's build needs it too"
    cases_path = tmp_path / "cases.json"
    cases_path.write_text(json.dumps({k: base64.b64encode(v).decode() for k, v in cases.items()}))
    result = subprocess.run(
        [node, "--input-type=module", "-e", NODE_SCRIPT, str(JS_CLIENT), str(cases_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_js_client_agrees_with_the_python_reference(tmp_path):
    good = {"several batches": body(table()), "one batch": body(table(), 100), "empty": body(table().slice(0, 0))}
    broken = broken_bodies()
    out = run_js_client(tmp_path, {**good, **{name: data for name, (data, _, _) in broken.items()}})
    for name, data in good.items():
        assert "ok" in out[name], f"{name}: {out[name]}"
        assert base64.b64decode(out[name]["ok"]) == query_protocol.assemble_ipc_stream(data), name
    for name, (_, error, needle) in broken.items():
        expected = "QueryServerError" if error is ServerError else "QueryProtocolError"
        assert out[name].get("error") == expected, f"{name}: {out[name]}"
        assert needle in out[name]["message"], f"{name}: {out[name]['message']!r} lacks {needle!r}"
