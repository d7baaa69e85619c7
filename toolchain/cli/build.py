"""`python -m toolchain build` and `size`: the pipeline, and the size report of what it built."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from toolchain.analysis import cargo_metadata, config, sizes
from toolchain.cli.common import add_build_arguments, build_options
from toolchain.core import console
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import DEFAULT_ARTIFACTS
from toolchain.pipeline import build as build_module


def cmd_build(args: argparse.Namespace) -> int:
    options = build_options(args)
    if not args.workspace:
        result = build_module.build(config.resolve(options))
        console.info(f"package in {result.package_dir}")
        return 0
    if args.package:
        raise ToolchainError("--workspace builds every cdylib member; --package names one", "pass one of them")
    workspace = cargo_metadata.read_workspace(args.manifest_path)
    members = workspace.cdylib_members
    if not members:
        raise ToolchainError(
            f"the workspace at {workspace.root} has no cdylib member (members: {workspace.describe_members()})",
            'add `[lib] crate-type = ["cdylib", "rlib"]` to the member to build',
        )
    console.info(f"workspace {workspace.root}: {len(members)} cdylib member(s): {', '.join(m.name for m in members)}")
    built = []
    for member in members:  # one after another: they share one cargo target directory and its lock
        result = build_module.build(config.resolve(replace(options, package=member.name)))
        built.append(result.package_dir)
    for package_dir in built:
        console.info(f"package in {package_dir}")
    return 0


def cmd_size(args: argparse.Namespace) -> int:
    print(sizes.format_table(build_module.load_report(args.package_dir)))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("build", help="cargo build -> wasm-bindgen -> wasm-opt -> artifacts/<crate>/")
    add_build_arguments(p)
    p.add_argument(
        "--workspace",
        action="store_true",
        help="build every cdylib member of the manifest's workspace, each into its own package",
    )
    p.set_defaults(func=cmd_build)
    p = commands.add_parser("size", help="print the size report of a built package")
    p.add_argument("package_dir", type=Path, nargs="?", default=DEFAULT_ARTIFACTS / "datafusion-wasm")
    p.set_defaults(func=cmd_size)
