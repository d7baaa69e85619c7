"""`python -m toolchain build` and `size`: the pipeline, and the size report of what it built."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.analysis import sizes
from toolchain.cli.common import add_build_arguments, resolve
from toolchain.core import console
from toolchain.core.layout import DEFAULT_ARTIFACTS
from toolchain.pipeline import build as build_module


def cmd_build(args: argparse.Namespace) -> int:
    result = build_module.build(resolve(args))
    console.info(f"artifacts in {result.package_dir}")
    return 0


def cmd_size(args: argparse.Namespace) -> int:
    print(sizes.format_table(build_module.load_report(args.package_dir)))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("build", help="cargo build -> wasm-bindgen -> wasm-opt -> artifacts/<crate>/")
    add_build_arguments(p)
    p.set_defaults(func=cmd_build)
    p = commands.add_parser("size", help="print the size report of a built package")
    p.add_argument("package_dir", type=Path, nargs="?", default=DEFAULT_ARTIFACTS / "datafusion-wasm")
    p.set_defaults(func=cmd_size)
