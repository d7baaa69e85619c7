"""udf: does a module follow the WASM UDF ABI (docs/udf-abi.md) and its policy?

The rules live in analysis/udf_validate.py (the build uses them too); this check reports them.
Not in `check`'s default list: it checks UDF modules, not the engine crate
(`nox -s udf -- validate MODULE`, or `nox -s check -- udf MODULE`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from toolchain.analysis import udf_validate
from toolchain.checks import Report, Violation

NAME = "udf"
SUMMARY = "a UDF module follows the UDF ABI (manifest, exports, signatures, imports, memory) and its policy"


@dataclass(frozen=True)
class Options:
    module: Path
    policy: Path | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("module", type=Path, help="the .wasm file to validate")
    parser.add_argument(
        "--policy", type=Path, help=f"a UDF policy TOML (default: {udf_validate.DEFAULT_POLICY.name}, shipped)"
    )


def options_from_args(args: argparse.Namespace) -> Options:
    return Options(module=args.module, policy=args.policy)


def report_of(validation: udf_validate.Validation) -> Report:
    report = Report(check=NAME, target=str(validation.module))
    report.violations = [
        Violation(subject=p.subject, problem=p.problem, fix=p.fix, rule=p.rule) for p in validation.problems
    ]
    report.data = {
        "policy": validation.policy.source,
        "bytes": validation.bytes,
        "functions": [spec.to_json() for spec in validation.functions],
    }
    report.notes.append(validation.summary())
    report.notes.append(f"policy: {validation.policy.source}")
    return report


def run(options: Options) -> Report:
    return report_of(udf_validate.validate(options.module, options.policy))
