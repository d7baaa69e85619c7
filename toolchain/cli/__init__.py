"""Command line: `python -m toolchain <command>`; nox sessions are thin wrappers over these.
One module per command (or pair of commands) registers its parser; this one only assembles them."""

from __future__ import annotations

import argparse
import sys
import traceback

from toolchain.cli import (
    bench,
    bench_queries,
    build,
    cache,
    check,
    demo,
    doctor,
    fuzz,
    init,
    release,
    reproduce,
    toolchain_wheels,
    udf,
    wasm_test,
)
from toolchain.cli import config as config_command
from toolchain.cli.common import join_dash_values
from toolchain.core import console
from toolchain.core.errors import ToolchainError, exit_code_of

# The order of `--help`.
COMMANDS = (
    doctor,
    init,
    config_command,
    build,
    release,
    reproduce,
    bench,
    bench_queries,
    wasm_test,
    fuzz,
    check,
    udf,
    toolchain_wheels,
    cache,
    demo,
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m toolchain", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    """Runs one command; its exit status, or the raised error class's (docs/reference.md#exit-codes)."""
    top = parser()
    words = sys.argv[1:] if argv is None else argv
    args = top.parse_args(join_dash_values(top, words))  # a usage error exits 2 here (argparse)
    try:
        return args.func(args)
    except ToolchainError as exc:
        console.error(str(exc), title=f"toolchain {args.command}: {exc.title}")
        return exit_code_of(exc)
    except KeyboardInterrupt as exc:
        console.end_progress()
        print("interrupted", file=sys.stderr)
        return exit_code_of(exc)
    except Exception as exc:  # noqa: BLE001 -- a bug: the traceback, and a status no error class uses
        traceback.print_exc()
        console.error(
            f"internal error: {exc!r} (a bug in the toolchain; the traceback is above)",
            title=f"toolchain {args.command}: internal error",
        )
        return exit_code_of(exc)
