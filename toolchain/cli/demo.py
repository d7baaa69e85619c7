"""`python -m toolchain demo`: the Local Query playground (docs/demo.md). Builds the engine
(incrementally) and the page (demo/, Vite), generates the sample data, serves both on localhost
and prints the URL; toolchain/pipeline/demo_page.py, demo_data.py and demo_server.py."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from toolchain.analysis import config, sizes
from toolchain.cli.common import caller_path
from toolchain.core import console
from toolchain.pipeline import build as build_module
from toolchain.pipeline import demo_data, demo_page, demo_server

DEFAULT_PORT = 8018


def port_argument(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a TCP port, 1 to 65535, or 0 for any free one")
    return int(text)


def rows_argument(text: str) -> int:
    try:
        return demo_data.check_rows(int(text.replace("_", "").replace(",", "")))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a number of log entries, {demo_data.MIN_ROWS:,} to {demo_data.MAX_ROWS:,} (e.g. 50000)"
        ) from exc


def quality_argument(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 11:
        raise argparse.ArgumentTypeError(f"{text!r}: a brotli quality, 0 to 11")
    return int(text)


def engine_package(use_built: bool) -> Path:
    """The engine package: built now (incrementally: ~3 s when nothing changed), or as last built."""
    resolved = config.resolve(config.BuildOptions())
    if use_built:
        # The package directory as it is (the page build checks it has every file it lists).
        return resolved.layout.package_dir
    with console.stage("build the engine (incremental)"):
        return build_module.build(resolved).package_dir


def cmd_demo(args: argparse.Namespace) -> int:
    if not args.no_server and not args.build_only:
        demo_data.check_server_dependencies()  # before minutes of building, not after
    package_dir = engine_package(args.use_built)
    with console.stage("build the page (demo/, Vite)"):
        page = demo_page.build_page(
            package_dir, args.out_dir, args.demo_dir, brotli_quality=args.brotli_quality, force=args.force
        )
    name, module = page.wasm
    console.info(
        f"page in {page.out_dir}: module {name} {sizes.human(module['raw'])}, "
        f"gzip {sizes.human(module.get('gzip', module['raw']))}, brotli {sizes.human(module.get('br', module['raw']))}"
        + (f"; built in {sum(page.seconds.values()):.1f} s" if page.built else "")
    )
    if args.build_only:
        return 0
    tables, describe = None, None
    if not args.no_server:
        with console.stage(f"generate the sample data ({args.data_rows:,} log entries, seed {args.seed})"):
            data = demo_data.generate(args.data_rows, args.seed)
        tables, describe = data.tables, data.describe()
        console.info(
            "tables: "
            + ", ".join(f"{t} ({d['rows']:,} rows)" for t, d in describe.items())
            + f"; log entries span the hour before {data.end.isoformat()}"
        )
    with demo_server.DemoServer(page.out_dir, tables, args.port, describe) as server:
        console.info(
            f"serving the demo on {server.url}"
            + (" (the query server at /api/query-stream)" if tables is not None else " (no query server: drop a file)")
            + "; Ctrl+C stops it"
        )
        print(server.url, flush=True)  # alone on a line, for scripts
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.info("stopped")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo",
        help="the Local Query playground: build the engine and the page, serve them with sample data on localhost",
        description="Builds the engine (incrementally) and the demo page (demo/, Vite, from the engine's npm "
        "package), generates a seeded sample dataset (log_entries, processes), and serves the page and the "
        "query server on one localhost origin until Ctrl+C. docs/demo.md",
    )
    p.add_argument(
        "--port",
        type=port_argument,
        default=DEFAULT_PORT,
        help=f"the port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)",
    )
    p.add_argument(
        "--data-rows",
        type=rows_argument,
        default=demo_data.DEFAULT_ROWS,
        metavar="N",
        help=f"log entries in the sample (default {demo_data.DEFAULT_ROWS:,}); processes: one per 20, at least 50",
    )
    p.add_argument("--seed", type=int, default=demo_data.DEFAULT_SEED, help="the sample's seed (same seed, same data)")
    p.add_argument(
        "--no-server",
        action="store_true",
        help="the page only, no query server and no sample data: drop an Arrow IPC, CSV or JSON file on it",
    )
    p.add_argument(
        "--use-built",
        action="store_true",
        help="serve the engine package as last built (artifacts/datafusion-wasm) instead of building it first",
    )
    p.add_argument("--build-only", action="store_true", help="build the engine and the page, then exit (no server)")
    p.add_argument("--force", action="store_true", help="build the page even when nothing it is built from changed")
    p.add_argument(
        "--brotli-quality",
        type=quality_argument,
        default=demo_page.BROTLI_QUALITY,
        help=f"the .br files' quality (default {demo_page.BROTLI_QUALITY}, ~40 s over the module once per engine "
        "build; cached by content)",
    )
    p.add_argument(
        "--demo-dir",
        type=caller_path,
        default=demo_page.DEFAULT_DEMO_DIR,
        help="the page's sources (default: demo/ of the checkout)",
    )
    p.add_argument(
        "--out-dir",
        type=caller_path,
        default=demo_page.DEFAULT_OUT_DIR,
        help="where the built page goes (default: artifacts/demo/); any static server can serve it",
    )
    p.set_defaults(func=cmd_demo)
