"""The demo's HTTP server: the built page and, on the same origin, the query server.

What a production static host should do, done here so the page is tested under it:

* **MIME types** set explicitly (`application/wasm`: `WebAssembly.instantiateStreaming` refuses
  anything else; module scripts need a JavaScript type), with `X-Content-Type-Options: nosniff`.
* **Pre-compressed files**: for `X`, the build wrote `X.br` and `X.gz` (toolchain/pipeline/demo_page.py);
  the server sends the best one the request's Accept-Encoding allows (brotli, then gzip, then
  the file itself), with `Content-Encoding` and `Vary: Accept-Encoding`. Nothing is compressed
  per request: brotli at quality 11 takes a minute over the 20 MB module.
* **A strict Content-Security-Policy** on every page response (`CSP` below): scripts only from
  this origin plus `'wasm-unsafe-eval'` (WebAssembly compilation, nothing else eval-like), no
  inline script or style, connections only to this origin (the query server is mounted here).
* **Caching**: Vite's content-hashed `assets/` are immutable for a year; everything else is
  revalidated each time (`no-cache`).
* The query endpoint (POST /api/query-stream, toolchain/pipeline/query_server.py) over the
  sample tables; without tables (`--no-server`) it is absent and the page works from files.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from toolchain.core.errors import ToolchainError
from toolchain.pipeline import query_server

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
# Content-Encoding -> the suffix of its pre-compressed file, in order of preference.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
CONFIG_PATH = "/demo-config.json"
IMMUTABLE = "public, max-age=31536000, immutable"


def accepted_encodings(header: str | None) -> set[str]:
    """The codings an Accept-Encoding header allows (q > 0); `*` allows every one not refused."""
    allowed: set[str] = set()
    refused: set[str] = set()
    star = False
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name == "*":
            star = q > 0
        elif q > 0:
            allowed.add(name)
        else:
            refused.add(name)
    if star:
        allowed |= {name for name, _ in ENCODINGS} - refused
    return allowed


def choose_file(path: Path, accept_encoding: str | None) -> tuple[Path, str | None]:
    """The file to send for `path`: its pre-compressed sibling the client accepts, or itself."""
    accepted = accepted_encodings(accept_encoding)
    for coding, suffix in ENCODINGS:
        candidate = path.with_name(path.name + suffix)
        if coding in accepted and candidate.is_file():
            return candidate, coding
    return path, None


class _StaticHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # as the query handler: one request per connection
    root: ClassVar[Path]
    config_json: ClassVar[bytes]

    def log_message(self, format: str, *args) -> None:  # quiet: the command prints the URL, tests what matters
        pass

    def _security_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")

    def _text(self, status: int, text: str, head: bool = False) -> None:
        body = text.encode()
        self.send_response(status)
        self._security_headers()
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _resolve(self, url_path: str) -> Path | None:
        root = self.root.resolve()
        relative = url_path.lstrip("/") or "index.html"
        target = (root / relative).resolve()
        if target != root and root not in target.parents:
            return None
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None

    def do_HEAD(self) -> None:
        self._get(head=True)

    def do_GET(self) -> None:
        self._get(head=False)

    def _get(self, head: bool) -> None:
        url_path = unquote(urlsplit(self.path).path)
        if url_path == CONFIG_PATH:
            body = self.config_json
            self.send_response(200)
            self._security_headers()
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        target = self._resolve(url_path)
        if target is None:
            return self._text(404, f"not found: {url_path}", head)
        sent, coding = choose_file(target, self.headers.get("Accept-Encoding"))
        size = sent.stat().st_size
        self.send_response(200)
        self._security_headers()
        self.send_header("Content-Type", MIME_TYPES.get(target.suffix, "application/octet-stream"))
        if coding:
            self.send_header("Content-Encoding", coding)
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", IMMUTABLE if url_path.startswith("/assets/") else "no-cache")
        self.end_headers()
        if head:
            return
        try:
            with sent.open("rb") as stream:
                while chunk := stream.read(1 << 20):
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away (a reload mid-download)


class DemoServer:
    """The page in `page_dir` and, if `tables` is given, the query server over them, on one origin
    (127.0.0.1:port; 0 picks a free port), in a background thread."""

    def __init__(self, page_dir: Path, tables: dict | None, port: int = 0, describe: dict | None = None):
        if not (page_dir / "index.html").is_file():
            raise ToolchainError(f"no built page in {page_dir} (no index.html)", "build it: python -m toolchain demo")
        config = {
            "server": tables is not None,
            "queryUrl": query_server.QUERY_PATH if tables is not None else "",
            "tables": describe or {},
        }
        attributes = {"root": page_dir, "config_json": json.dumps(config).encode()}
        if tables is not None:
            handler = type("DemoHandler", (_StaticHandler, query_server.request_handler(tables)), attributes)
        else:
            handler = type("DemoHandler", (_StaticHandler,), attributes)
        try:
            self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            raise ToolchainError(
                f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                "pass another --port, or --port 0 for any free one",
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # the socket's own address: a str (typeshed also allows bytes)
        return f"http://{host}:{port}/"

    def __enter__(self) -> DemoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
