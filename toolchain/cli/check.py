"""`python -m toolchain check [NAME]`: every check on the built crate, or one."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain import checks
from toolchain.analysis import config
from toolchain.checks import Report
from toolchain.core import console
from toolchain.core.layout import DEFAULT_ARTIFACTS


def run_checks(resolved: config.Config) -> int:
    """Every check on the crate and artifacts `resolved` names (what `check` and `release` run); each
    still fails on its own, and all of them run."""
    return _report(
        [(name, lambda m=module: m.run(m.options_for(resolved)), None) for name, module in checks.registry().items()]
    )


def cmd_check(args: argparse.Namespace) -> int:
    if args.check_name is None:
        resolved = config.resolve(
            config.BuildOptions(
                manifest_path=args.manifest_path,
                artifacts_dir=args.artifacts_dir,
                cargo_features=[f for f in (args.features or "").split(",") if f],
                no_default_features=args.no_default_features,
            )
        )
        return run_checks(resolved)
    module = checks.registry()[args.check_name]
    options = module.options_from_args(args)
    return _report([(args.check_name, lambda: module.run(options), args.json)])


def _report(selected: list[tuple[str, object, Path | None]]) -> int:
    failed = []
    for name, run, json_path in selected:
        with console.stage(f"check {name}"):
            report: Report = run()  # type: ignore[operator]
        print(report.format(), flush=True)
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(report.to_json() + "\n")
        if not report.ok:
            failed.append(name)
    if failed:
        console.info(f"failed checks: {', '.join(failed)}")
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "check",
        help="run every check, or one: check NAME [options] (NAME --help for its options)",
        description="With no NAME, every check on the crate as configured: the options below "
        "name the crate, its artifacts and the build's features; each check's policy "
        "comes from the crate's [package.metadata.wasm-qe-toolchain.policies] or the "
        "toolchain's default (`python -m toolchain config` shows them).",
    )
    p.add_argument(
        "--manifest-path",
        type=Path,
        default=config.DEFAULT_MANIFEST,
        help="Cargo.toml of the built crate (default: the bundled engine)",
    )
    p.add_argument("--artifacts-dir", type=Path, default=DEFAULT_ARTIFACTS)
    p.add_argument("--features", help="comma-separated cargo features, as given to the build")
    p.add_argument("--no-default-features", action="store_true", help="as given to the build")
    names = p.add_subparsers(dest="check_name", metavar="NAME", required=False)
    for name, module in checks.registry().items():
        sub = names.add_parser(name, help=module.SUMMARY, description=module.SUMMARY)
        module.add_arguments(sub)
        sub.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    p.set_defaults(func=cmd_check)
