"""`python -m toolchain config`: the resolved configuration a build (and `check`, `release`) would run with:
the command line over the crate's [package.metadata.wasm-qe-toolchain] over the defaults, validated."""

from __future__ import annotations

import argparse
import json

from toolchain.analysis import schema
from toolchain.cli.common import add_build_arguments, resolve


def cmd_config(args: argparse.Namespace) -> int:
    if args.schema:
        print(schema.SCHEMA_PATH.read_text(), end="")
        return 0
    document = resolve(args).to_json()
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    for section, values in document.items():
        print(f"{section}:")
        for key, value in values.items():
            print(f"  {key}: {json.dumps(value) if isinstance(value, (dict, list, bool)) or value is None else value}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "config",
        help="print the resolved configuration (crate, build options, layout, policies, "
        "environment) for the same options as build",
    )
    add_build_arguments(p)
    p.add_argument("--json", action="store_true", help="as JSON (valid against config.schema.json, $defs/config)")
    p.add_argument("--schema", action="store_true", help="print the JSON schema instead")
    p.set_defaults(func=cmd_config)
