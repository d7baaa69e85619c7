"""`python -m toolchain reproduce`: two clean builds and releases of HEAD, compared byte for byte."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.cli.common import add_manifest
from toolchain.release import reproduce


def cmd_reproduce(args: argparse.Namespace) -> int:
    outcome = reproduce.prove(
        reproduce.ProofRequest(
            checkout=Path.cwd(),
            work_dir=args.work_dir,
            manifest_path=args.manifest_path,
            keep=args.keep,
        )
    )
    print(reproduce.format_outcome(outcome), flush=True)
    return 0 if outcome.identical else 1


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "reproduce",
        help="two clean builds + releases of HEAD in two directories; compares the bytes, names the first difference",
    )
    add_manifest(p)
    p.add_argument("--work-dir", type=Path, help="where the two clones and target dirs go (default: a new /tmp dir)")
    p.add_argument("--keep", action="store_true", help="keep the clones and target directories afterwards")
    p.set_defaults(func=cmd_reproduce)
