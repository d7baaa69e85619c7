"""A localhost static server for the built artifacts and test pages, with correct MIME types.

`WebAssembly.instantiateStreaming` refuses a .wasm not served as application/wasm, and module
scripts need a JavaScript type, so the types are set explicitly rather than guessed.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".map": "application/json",
    ".ts": "text/plain",
}


class _Handler(http.server.SimpleHTTPRequestHandler):
    mounts: ClassVar[dict[str, Path]] = {}  # set on a subclass per server

    def translate_path(self, path: str) -> str:
        url_path = unquote(urlsplit(path).path)
        for prefix, directory in sorted(self.mounts.items(), key=lambda item: -len(item[0])):
            if url_path.startswith(prefix):
                relative = url_path[len(prefix) :]
                target = (directory / relative).resolve()
                if directory.resolve() in target.parents or target == directory.resolve():
                    return str(target)
        return str(Path("/nonexistent") / url_path.lstrip("/"))

    def guess_type(self, path) -> str:
        return MIME_TYPES.get(Path(str(path)).suffix, super().guess_type(path))

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # quiet: tests print what matters
        pass


class StaticServer:
    """Serves directories under URL prefixes on 127.0.0.1 (an ephemeral port) in a thread."""

    def __init__(self, mounts: dict[str, Path], port: int = 0):
        handler = type("MountedHandler", (_Handler,), {"mounts": {p: Path(d) for p, d in mounts.items()}})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        # Bound: server_address is the socket's own address, a str; typeshed also allows bytes (an input).
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
