"""Command line: `python -m toolchain <command>`; nox sessions are thin wrappers over these.
One module per command (or pair of commands) registers its parser; this one only assembles them."""

from __future__ import annotations

import argparse
import sys

from toolchain.cli import bench, build, check, doctor, fuzz, release, reproduce, toolchain_wheels, wasm_test
from toolchain.core.errors import ToolchainError

# The order of `--help`.
COMMANDS = (doctor, build, release, reproduce, bench, wasm_test, fuzz, check, toolchain_wheels)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m toolchain", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ToolchainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
