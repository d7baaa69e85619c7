"""A WebAssembly engine built by wasm-qe-toolchain, packaged for Python servers.

The package carries the module (`*_bg.wasm`), its ES-module glue (`*.js`, wasm-bindgen
`--target web`) and the TypeScript declarations, exactly the bytes of the npm package. A server
ships them to browsers; this module says where they are and can serve them with the MIME types
browsers insist on (`WebAssembly.instantiateStreaming` refuses a .wasm that is not
`application/wasm`, and module scripts need a JavaScript type).

    import datafusion_wasm as engine
    engine.wasm_path(), engine.js_path(), engine.dts_path()   # files on disk
    engine.serve(port=8000, mounts={"/": "site/"})            # the engine under /<npm name>/

or from a shell: `python -m datafusion_wasm --port 8000 --mount /=site/`.
"""

from __future__ import annotations

import functools
import http.server
import json
import pathlib
from importlib import resources
from urllib.parse import unquote, urlsplit

ASSETS = "dist"  # the directory inside this package that holds the engine's files

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".ts": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css",
}


def files() -> pathlib.Path:
    """The directory of the engine's files (package.json, the module, its glue and declarations)."""
    directory = resources.files(__name__) / ASSETS
    # Installed from a wheel, the files are on disk; a zip import would need resources.as_file.
    if not isinstance(directory, pathlib.Path) or not directory.is_dir():
        raise RuntimeError(
            f"{__name__}'s files are not on disk ({directory}); install the wheel with pip "
            "instead of importing it from a zip"
        )
    return directory


@functools.lru_cache(maxsize=1)
def package_json() -> dict:
    """The npm package.json the files came with (name, version, exports)."""
    return json.loads((files() / "package.json").read_text(encoding="utf-8"))


def _file(suffix: str) -> pathlib.Path:
    shipped = [name for name in package_json()["files"] if name.endswith(suffix)]
    if len(shipped) != 1:
        raise RuntimeError(f"expected one {suffix} file in {files()}, found {shipped}")
    return files() / shipped[0]


def wasm_path() -> pathlib.Path:
    """The WebAssembly module."""
    return _file("_bg.wasm")


def js_path() -> pathlib.Path:
    """The ES-module glue a page imports: `import init, {...} from "<url of this file>"`."""
    return files() / package_json()["main"]


def dts_path() -> pathlib.Path:
    """The TypeScript declarations of the glue."""
    return files() / package_json()["types"]


def version() -> str:
    return package_json()["version"]


def url_prefix() -> str:
    """Where serve() mounts the engine: /<npm package name>/."""
    return f"/{package_json()['name']}/"


def make_handler(mounts: dict[str, pathlib.Path | str] | None = None) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler serving the engine under url_prefix() and each `mounts` prefix from its directory."""
    table = {url_prefix(): files(), **{prefix: pathlib.Path(d) for prefix, d in (mounts or {}).items()}}
    ordered = sorted(
        ((p if p.endswith("/") else p + "/", d.resolve()) for p, d in table.items()), key=lambda item: -len(item[0])
    )

    class EngineHandler(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path: str) -> str:
            url_path = unquote(urlsplit(path).path)
            for prefix, directory in ordered:
                if url_path.startswith(prefix) or url_path + "/" == prefix:
                    target = (directory / url_path[len(prefix) :]).resolve()
                    if target == directory or directory in target.parents:  # no escaping with ../
                        return str(target)
            return "/nonexistent"

        def guess_type(self, path) -> str:
            return MIME_TYPES.get(pathlib.Path(str(path)).suffix, "application/octet-stream")

        def log_message(self, format: str, *args) -> None:
            pass

    return EngineHandler


def serve(
    host: str = "127.0.0.1", port: int = 8000, mounts: dict[str, pathlib.Path | str] | None = None
) -> http.server.ThreadingHTTPServer:
    """A bound (not yet running) HTTP server for the engine and `mounts`; call serve_forever() on it."""
    return http.server.ThreadingHTTPServer((host, port), make_handler(mounts))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__}", description=f"serve the engine under {url_prefix()} (and other directories)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="PREFIX=DIR",
        help="also serve DIR under the URL prefix PREFIX (e.g. /=site)",
    )
    parser.add_argument("--paths", action="store_true", help="print the files' paths as JSON and exit")
    args = parser.parse_args(argv)
    if args.paths:
        print(
            json.dumps({"wasm": str(wasm_path()), "js": str(js_path()), "dts": str(dts_path()), "version": version()})
        )
        return 0
    mounts = {}
    for spec in args.mount:
        prefix, sep, directory = spec.partition("=")
        if not sep or not prefix.startswith("/"):
            parser.error(f"--mount {spec!r}: expected /PREFIX=DIR")
        mounts[prefix] = directory
    server = serve(args.host, args.port, mounts)
    host, port = server.server_address[:2]
    # Bound: server_address is the socket's own address, a str; typeshed also allows bytes (an input).
    assert isinstance(host, str)
    print(f"serving http://{host}:{port}{url_prefix()}{js_path().name}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
