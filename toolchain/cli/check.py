"""`python -m toolchain check [NAME]`: every check on the built crate, or one."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain import checks
from toolchain.core import console


def cmd_check(args: argparse.Namespace) -> int:
    available = checks.registry()
    if args.check_name is None:
        # Every check with its defaults; each still fails on its own, and all of them run.
        selected = [(name, module, _checking_the_build(checks.default_args(module), getattr(args, "build", {})))
                    for name, module in available.items()]
    else:
        selected = [(args.check_name, available[args.check_name], args)]
    failed = []
    for name, module, check_args in selected:
        with console.stage(f"check {name}"):
            report = module.run(check_args)
        print(report.format(), flush=True)
        json_path = getattr(check_args, "json", None)
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(report.to_json() + "\n")
        if not report.ok:
            failed.append(name)
    if failed:
        console.info(f"failed checks: {', '.join(failed)}")
        return 1
    return 0


def _checking_the_build(check_args: argparse.Namespace, build: dict) -> argparse.Namespace:
    """A check's default arguments pointed at the crate and artifacts that were built (release passes them)."""
    for name, value in build.items():
        if getattr(check_args, name, None) is not None:  # the check has this option (and it means the build's)
            setattr(check_args, name, value)
    return check_args


def _add_check_parsers(parser: argparse.ArgumentParser) -> None:
    names = parser.add_subparsers(dest="check_name", metavar="NAME", required=False)
    for name, module in checks.registry().items():
        p = names.add_parser(name, help=module.SUMMARY, description=module.SUMMARY)
        module.add_arguments(p)
        p.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.set_defaults(func=cmd_check)


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("check", help="run every check, or one: check NAME [options] (NAME --help for its options)")
    _add_check_parsers(p)
