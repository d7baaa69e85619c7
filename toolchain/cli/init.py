"""`python -m toolchain init DIR`: a new crate that builds, passes the checks and has browser tests."""

from __future__ import annotations

import argparse

from toolchain.cli.common import caller_path
from toolchain.core import console
from toolchain.pipeline import init


def cmd_init(args: argparse.Namespace) -> int:
    made = init.scaffold(args.directory, args.name, force=args.force, install=not args.no_install)
    for path in made.files:
        console.info(f"wrote {path}")
    if made.lock_generated:
        console.info(f"wrote {made.directory / 'Cargo.lock'} (commit it: builds are --locked)")
    where = made.directory
    print(
        f"\n{made.name} is ready. Next:\n"
        f"    python -m toolchain build --manifest-path {where}{'' if made.lock_generated else ' --lock'}\n"
        f"    python -m toolchain check --manifest-path {where}\n"
        f"    pytest {where / 'tests'}\n",
        flush=True,
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("init", help="scaffold a crate that builds, passes every check and has browser tests")
    p.add_argument("directory", type=caller_path, help="the new crate's directory (created if absent)")
    p.add_argument("--name", help="the crate's name (default: the directory's name)")
    p.add_argument("--force", action="store_true", help="overwrite the scaffold's files where they exist")
    p.add_argument("--no-install", action="store_true", help="fail instead of provisioning a missing Rust toolchain")
    p.set_defaults(func=cmd_init)
