"""`python -m toolchain doctor`: the tools found, their versions and where they came from."""

from __future__ import annotations

import argparse
import json

from toolchain.cli.common import add_manifest
from toolchain.core import console
from toolchain.pipeline import doctor


def cmd_doctor(args: argparse.Namespace) -> int:
    findings = doctor.diagnose(args.manifest_path, install=args.install, python_packages=tuple(args.python_package))
    if args.json:
        print(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        print(doctor.format_findings(findings))
    missing = [f.component for f in findings if f.required and not f.ok]
    if missing:
        console.info(
            f"missing: {', '.join(missing)}" + ("" if args.install else "  (rerun with --install to provision)")
        )
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("doctor", help="show the tools found, their versions and where they came from")
    add_manifest(p)
    p.add_argument("--install", action="store_true", help="provision what is missing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--python-package", action="append", default=[], help="also check this Python package")
    p.set_defaults(func=cmd_doctor)
