"""A localhost query server that speaks the JSON-framed Arrow IPC protocol (toolchain/analysis/query_protocol.py).

It runs SQL in native DataFusion (PyPI `datafusion`) over tables given as pyarrow Tables, and
streams the result as frames: what a real backend does for `fetchQueryIPC`, so the browser tests
exercise the real protocol end to end. For the tests it can also misbehave on request (an error
frame mid-stream, a truncated body, a stalled stream, an HTTP error): see `Faults`.

    POST /api/query-stream   {"sql": "...", "batch_rows": 1000, "fault": {...}}

The answer is always HTTP 200 with frames (a streaming server cannot take back its status once
batches are out, so SQL errors are error frames), except for requests that are not JSON or lack
"sql" (400) and the `http_status` fault. CORS is open: the engine's page is on another port.
"""

from __future__ import annotations

import http.server
import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from toolchain.analysis import query_protocol

QUERY_PATH = "/api/query-stream"
CONTENT_TYPE = "application/x-arrow-ipc-frames"
STALL_LIMIT_S = 30.0  # a stalled response gives up on its own: tests never hang on it


@dataclass(frozen=True)
class Faults:
    """Ways to misbehave, named in the request's "fault" object (for tests of the client)."""

    error_after_batches: int | None = None  # send this many batch frames, then an error frame
    truncate_after_bytes: int | None = None  # close the connection after this many body bytes
    stall_after_batches: int | None = None  # send this many batch frames, then wait for the client to go
    http_status: int | None = None  # answer with this HTTP status and a text body, no frames
    garbage_frame: bool = False  # a line that is not a frame header after the schema frame

    @classmethod
    def parse(cls, value: Any) -> Faults:
        if value is None:
            return cls()
        if not isinstance(value, dict) or set(value) - set(cls.__dataclass_fields__):
            raise ValueError(
                f"fault must be an object with keys from {sorted(cls.__dataclass_fields__)}, not {value!r}"
            )
        return cls(**value)


@dataclass
class Served:
    """What the server did with one request (the tests read these)."""

    sql: str
    outcome: str = (
        "running"  # "done", "error frame", "truncated", "client disconnected", "stall timeout", "http <status>"
    )
    frames: int = 0
    body_bytes: int = 0


@dataclass
class _State:
    tables: dict
    log: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _ClientGone(Exception):
    pass


def native_context(tables: dict) -> Any:
    """Native DataFusion configured like the browser engine: one partition, information_schema on."""
    import datafusion

    config = datafusion.SessionConfig().with_target_partitions(1).with_information_schema(True)
    ctx = datafusion.SessionContext(config)
    for name, table in tables.items():
        ctx.register_record_batches(name, [table.to_batches()])
    return ctx


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: the body ends when the connection closes, so a truncated body looks to the client
    # exactly like a server that died mid-stream (only the protocol's 'done' frame tells them apart).
    protocol_version = "HTTP/1.0"
    state: _State

    def log_message(self, format: str, *args) -> None:  # quiet: the tests report what matters
        pass

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "content-type")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.end_headers()

    def _plain(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if self.path.split("?")[0] != QUERY_PATH:
            return self._plain(404, f"no such endpoint {self.path}; queries go to POST {QUERY_PATH}")
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            sql = request["sql"]
            if not isinstance(sql, str):
                raise TypeError("sql must be a string")
            batch_rows = int(request.get("batch_rows") or 0) or None
            faults = Faults.parse(request.get("fault"))
        except (ValueError, KeyError, TypeError) as exc:
            return self._plain(400, f'bad request: {exc}; send JSON {{"sql": "..."}}')
        served = Served(sql)
        with self.state.lock:
            self.state.log.append(served)
        if faults.http_status:
            served.outcome = f"http {faults.http_status}"
            return self._plain(
                faults.http_status, f"the query server is unavailable (fault injected: HTTP {faults.http_status})"
            )

        self.send_response(200)
        self._cors()
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            self._stream(served, sql, batch_rows, faults)
        except (_ClientGone, BrokenPipeError, ConnectionResetError):
            served.outcome = "client disconnected"

    def _send(self, served: Served, data: bytes, faults: Faults) -> None:
        limit = faults.truncate_after_bytes
        if limit is not None and served.body_bytes + len(data) > limit:
            self.wfile.write(data[: max(0, limit - served.body_bytes)])
            self.wfile.flush()
            served.body_bytes = limit
            served.outcome = "truncated"
            raise _Truncated
        self.wfile.write(data)
        self.wfile.flush()
        served.body_bytes += len(data)
        served.frames += 1

    def _stream(self, served: Served, sql: str, batch_rows: int | None, faults: Faults) -> None:
        try:
            try:
                table = native_context(self.state.tables).sql(sql).to_arrow_table()
            except Exception as exc:  # noqa: BLE001  DataFusion's errors: bad SQL, unknown table, execution errors
                self._send(served, query_protocol.error_frame(f"query failed: {exc}"), faults)
                served.outcome = "error frame"
                return
            # batch_rows re-chunks exactly (combined first: to_batches only ever splits chunks).
            batches = table.combine_chunks().to_batches(max_chunksize=batch_rows) if batch_rows else table.to_batches()
            sent_batches = 0
            for frame in query_protocol.encode_frames(table.schema, batches):
                is_batch = frame.startswith(b'{"type":"batch"')
                if is_batch and faults.error_after_batches is not None and sent_batches >= faults.error_after_batches:
                    self._send(
                        served,
                        query_protocol.error_frame("the query was cancelled on the server (fault injected)"),
                        faults,
                    )
                    served.outcome = "error frame"
                    return
                if is_batch and faults.stall_after_batches is not None and sent_batches >= faults.stall_after_batches:
                    served.outcome = self._wait_for_disconnect()
                    return
                self._send(served, frame, faults)
                if frame.startswith(b'{"type":"schema"') and faults.garbage_frame:
                    self._send(served, b"this is not a frame header\n", faults)
                sent_batches += is_batch
            served.outcome = "done"
        except _Truncated:
            pass

    def _wait_for_disconnect(self) -> str:
        """Holds the response open until the client closes the connection (an abort) or time runs out."""
        deadline = time.monotonic() + STALL_LIMIT_S
        connection: socket.socket = self.connection
        while time.monotonic() < deadline:
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable:
                try:
                    if connection.recv(1, socket.MSG_PEEK) == b"":
                        return "client disconnected"
                except OSError:
                    return "client disconnected"
        return "stall timeout"


class _Truncated(Exception):
    pass


def request_handler(tables: dict) -> type[http.server.BaseHTTPRequestHandler]:
    """A handler class that answers POST /api/query-stream (and its CORS preflight) over `tables`,
    for a server of one's own: the demo serves its page and the queries from one origin
    (toolchain/pipeline/demo_server.py), so its CSP can say connect-src 'self'."""
    return type("QueryHandler", (_Handler,), {"state": _State(dict(tables))})


class QueryServer:
    """Serves queries over `tables` on 127.0.0.1 (an ephemeral port) in a background thread."""

    def __init__(self, tables: dict, port: int = 0):
        self._state = _State(dict(tables))
        handler = type("QueryHandler", (_Handler,), {"state": self._state})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        # Bound: server_address is the socket's own address, a str; typeshed also allows bytes (an input).
        assert isinstance(host, str)
        return f"http://{host}:{port}{QUERY_PATH}"

    @property
    def log(self) -> list[Served]:
        with self._state.lock:
            return list(self._state.log)

    def wait_for(self, sql: str, outcome: str, timeout_s: float = 10.0) -> Served:
        """The last request for `sql`, once it has reached `outcome` (the handler runs in its own thread)."""
        deadline = time.monotonic() + timeout_s
        while True:
            matching = [s for s in self.log if s.sql == sql]
            if matching and matching[-1].outcome == outcome:
                return matching[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"the server never reached {outcome!r} for {sql!r}: {matching}")
            time.sleep(0.02)

    def __enter__(self) -> QueryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
