"""`python -m toolchain demo` (issue 18) without a browser: the sample data is reproducible, the
server negotiates pre-compressed files and sends its CSP and MIME types, the page build's
precompression and change detection, and the command's options. The page itself is tested in
real browsers by tests/browser/test_demo.py."""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import urllib.error
import urllib.request
from pathlib import Path

import brotli
import pyarrow as pa
import pytest

from toolchain.analysis import query_protocol
from toolchain.cli import demo as demo_cli
from toolchain.cli import parser as cli_parser
from toolchain.core.errors import ToolchainError
from toolchain.pipeline import demo_data, demo_page, demo_server

END = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


# ---------------------------------------------------------------- the sample data


def test_the_same_seed_gives_the_same_tables_and_another_seed_others():
    first = demo_data.generate(2_000, seed=7, end=END)
    again = demo_data.generate(2_000, seed=7, end=END)
    other = demo_data.generate(2_000, seed=8, end=END)
    for name in ("log_entries", "processes"):
        assert first.tables[name].equals(again.tables[name])
        assert not first.tables[name].equals(other.tables[name])


def test_the_sample_has_the_columns_rows_and_time_window_the_seeds_queries_need():
    sample = demo_data.generate(3_000, end=END)
    logs, processes = sample.tables["log_entries"], sample.tables["processes"]
    assert logs.num_rows == 3_000 and processes.num_rows == 150  # one process per 20 entries
    assert demo_data.generate(100, end=END).tables["processes"].num_rows == 50  # at least 50
    assert logs.column_names == ["time", "host", "level", "msg", "process_id", "duration_ms"]
    assert processes.column_names[:5] == ["process_id", "exe", "start_time", "username", "computer"]
    assert logs.schema.field("time").type == pa.timestamp("us", tz="UTC")
    times = logs["time"].to_pylist()
    assert times == sorted(times)
    assert times[0] >= END - demo_data.LOG_WINDOW and times[-1] < END
    assert set(logs["level"].to_pylist()) == set(demo_data.LEVELS)
    assert set(logs["process_id"].to_pylist()) <= set(processes["process_id"].to_pylist())
    users = processes["username"].to_pylist()
    assert None in users and "" in users  # NULL and empty: the page shows them apart
    assert sample.describe()["log_entries"] == {"rows": 3_000, "columns": logs.column_names}


@pytest.mark.parametrize("rows", [0, -1, demo_data.MAX_ROWS + 1])
def test_a_sample_size_out_of_range_is_refused(rows):
    with pytest.raises(ValueError, match="log entries"):
        demo_data.generate(rows, end=END)


# ---------------------------------------------------------------- the server


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, set()),
        ("gzip, deflate, br", {"gzip", "deflate", "br"}),
        ("gzip;q=1.0, br;q=0", {"gzip"}),
        ("*", {"br", "gzip"}),
        ("*, br;q=0", {"gzip"}),
        ("identity", {"identity"}),
        ("br;q=oops", set()),
    ],
)
def test_accept_encoding_is_read_with_its_q_values(header, expected):
    assert demo_server.accepted_encodings(header) == expected


@pytest.fixture
def page(tmp_path) -> Path:
    """A built page's shape: index.html, an asset, a module, with precompressed siblings."""
    root = tmp_path / "page"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text('<!doctype html><script type="module" src="./assets/app.js"></script>' * 10)
    (root / "assets" / "app.js").write_text("export const x = 1;\n" * 100)
    (root / "assets" / "engine.wasm").write_bytes(b"\0asm\x01\0\0\0" + bytes(4096))
    demo_page.precompress(root, brotli_quality=5)
    return root


def fetch(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_server_sends_the_precompressed_file_the_client_accepts(page):
    raw = (page / "assets" / "engine.wasm").read_bytes()
    with demo_server.DemoServer(page, None) as server:
        url = server.url + "assets/engine.wasm"
        status, headers, body = fetch(url, headers={"Accept-Encoding": "gzip, br"})
        assert status == 200 and headers["Content-Encoding"] == "br" and brotli.decompress(body) == raw
        assert headers["Content-Type"] == "application/wasm" and headers["Vary"] == "Accept-Encoding"
        assert headers["Cache-Control"] == demo_server.IMMUTABLE  # content-hashed assets
        status, headers, body = fetch(url, headers={"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == raw
        status, headers, body = fetch(url, headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in headers and body == raw
        assert int(headers["Content-Length"]) == len(raw)
        status, headers, body = fetch(url, method="HEAD", headers={"Accept-Encoding": "br"})
        assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(brotli.compress(raw, quality=5))


def test_every_page_response_carries_the_csp_and_the_right_type(page):
    with demo_server.DemoServer(page, None) as server:
        for path, content_type in (
            ("", "text/html; charset=utf-8"),
            ("assets/app.js", "text/javascript; charset=utf-8"),
        ):
            status, headers, _ = fetch(server.url + path)
            assert status == 200 and headers["Content-Type"] == content_type
            assert headers["Content-Security-Policy"] == demo_server.CSP
            assert headers["X-Content-Type-Options"] == "nosniff"
        assert fetch(server.url)[1]["Cache-Control"] == "no-cache"  # index.html is revalidated
    assert "script-src 'self' 'wasm-unsafe-eval'" in demo_server.CSP
    assert "unsafe-inline" not in demo_server.CSP and "'unsafe-eval'" not in demo_server.CSP


def test_nothing_outside_the_page_is_served(page, tmp_path):
    (tmp_path / "secret.txt").write_text("no")
    with demo_server.DemoServer(page, None) as server:
        for path in ("missing.js", "../secret.txt", "%2e%2e/secret.txt", "assets/../../secret.txt"):
            status, headers, body = fetch(server.url + path)
            assert status == 404, path
            assert body != b"no" and headers["Content-Security-Policy"] == demo_server.CSP


def test_with_tables_the_query_server_answers_on_the_same_origin(page):
    tables = {"t": pa.table({"x": pa.array([1, 2, 3], pa.int64())})}
    with demo_server.DemoServer(page, tables, describe={"t": {"rows": 3, "columns": ["x"]}}) as server:
        status, _, body = fetch(server.url + "demo-config.json")
        assert json.loads(body) == {
            "server": True,
            "queryUrl": "/api/query-stream",
            "tables": {"t": {"rows": 3, "columns": ["x"]}},
        }
        status, headers, body = fetch(
            server.url + "api/query-stream",
            "POST",
            {"Content-Type": "application/json"},
            b'{"sql": "SELECT sum(x) AS s FROM t"}',
        )
        assert status == 200 and headers["Content-Type"] == "application/x-arrow-ipc-frames"
        result = pa.ipc.open_stream(query_protocol.assemble_ipc_stream(body)).read_all()
        assert result.to_pydict() == {"s": [6]}


def test_without_tables_there_is_no_query_endpoint(page):
    with demo_server.DemoServer(page, None) as server:
        assert json.loads(fetch(server.url + "demo-config.json")[2]) == {"server": False, "queryUrl": "", "tables": {}}
        assert fetch(server.url + "api/query-stream", "POST", data=b'{"sql": "SELECT 1"}')[0] == 501


def test_a_port_in_use_says_what_to_do(page):
    with demo_server.DemoServer(page, None) as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(ToolchainError, match="--port"):
            demo_server.DemoServer(page, None, port)


def test_a_directory_without_a_page_is_refused(tmp_path):
    with pytest.raises(ToolchainError, match="no built page"):
        demo_server.DemoServer(tmp_path, None)


# ---------------------------------------------------------------- the page build


def test_precompression_writes_smaller_siblings_that_decompress_to_the_file(page):
    sizes = demo_page.precompress(page, brotli_quality=5)
    for name in ("index.html", "assets/app.js", "assets/engine.wasm"):
        data = (page / name).read_bytes()
        assert gzip.decompress((page / f"{name}.gz").read_bytes()) == data
        assert brotli.decompress((page / f"{name}.br").read_bytes()) == data
        assert sizes[name]["raw"] == len(data) and sizes[name]["gzip"] < len(data) and sizes[name]["br"] < len(data)
    tiny = page / "assets" / "tiny.js"
    tiny.write_text("1")
    assert "gzip" not in demo_page.precompress(page, 5)["assets/tiny.js"]
    assert not (page / "assets" / "tiny.js.gz").exists()


def engine_package(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "engine.js").write_text("export {};\n")
    (directory / "package.json").write_text(json.dumps({"name": "e", "version": "1.0.0", "files": ["engine.js"]}))
    return directory


def test_the_build_key_changes_with_the_pages_sources_and_the_engine_package(tmp_path):
    demo = tmp_path / "demo"
    (demo / "src").mkdir(parents=True)
    (demo / "package.json").write_text("{}")
    (demo / "src" / "main.ts").write_text("export {};\n")
    (demo / "node_modules").mkdir()
    package = engine_package(tmp_path / "pkg")
    key = demo_page.build_key(demo, package, 11)
    (demo / "node_modules" / "x.js").write_text("ignored")
    assert demo_page.build_key(demo, package, 11) == key  # not a source
    assert demo_page.build_key(demo, package, 5) != key
    (package / "engine.js").write_text("export const changed = 1;\n")
    changed = demo_page.build_key(demo, package, 11)
    assert changed != key
    (demo / "src" / "main.ts").write_text("export const y = 2;\n")
    assert demo_page.build_key(demo, package, 11) != changed


def test_an_engine_package_that_is_not_built_says_to_build_it(tmp_path):
    with pytest.raises(ToolchainError, match="nox -s build"):
        demo_page.package_files(tmp_path)
    package = engine_package(tmp_path / "pkg")
    (package / "engine.js").unlink()
    with pytest.raises(ToolchainError, match=r"lacks engine\.js"):
        demo_page.package_files(package)


# ---------------------------------------------------------------- the command's options


def test_the_command_parses_its_options():
    args = cli_parser().parse_args(["demo", "--port", "0", "--data-rows", "20,000", "--no-server", "--use-built"])
    assert (args.port, args.data_rows, args.no_server, args.use_built) == (0, 20_000, True, True)
    defaults = cli_parser().parse_args(["demo"])
    assert defaults.port == demo_cli.DEFAULT_PORT and defaults.data_rows == demo_data.DEFAULT_ROWS
    assert defaults.brotli_quality == 11 and defaults.out_dir == Path("artifacts/demo")


@pytest.mark.parametrize(
    ("convert", "text"),
    [
        (demo_cli.port_argument, "65536"),
        (demo_cli.port_argument, "http"),
        (demo_cli.rows_argument, "0"),
        (demo_cli.rows_argument, "many"),
        (demo_cli.quality_argument, "12"),
    ],
)
def test_bad_option_values_are_usage_errors_that_say_what_is_expected(convert, text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        convert(text)
