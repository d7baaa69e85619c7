"""`python -m toolchain check [NAME]`: every check on the built crate, or one.

The crate options (--manifest-path, --package, --artifacts-dir, --features, --no-default-features) are taken
before or after NAME (`check --manifest-path M size` and `check size --manifest-path M` are the same), and
every check resolves the crate the same way: config.resolve(previous=True), so that it finds the outputs
where that crate's last build wrote them, and the crate's own policies."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from toolchain import checks
from toolchain.analysis import config
from toolchain.analysis.cargo_graph import split_features
from toolchain.checks import Report
from toolchain.cli.common import add_artifacts_dir, add_manifest, caller_path
from toolchain.core import console

CRATE_OPTIONS = ("manifest_path", "package", "artifacts_dir", "features", "no_default_features")


def run_checks(resolved: config.Config) -> int:
    """Every check on the crate and artifacts `resolved` names (what `check` and `release` run); each
    still fails on its own, and all of them run."""
    return _report(
        [(name, lambda m=module: m.run(m.options_for(resolved)), None) for name, module in checks.registry().items()]
    )


def build_options(args: argparse.Namespace) -> config.BuildOptions:
    return config.BuildOptions(
        manifest_path=args.manifest_path or config.DEFAULT_MANIFEST,
        package=args.package,
        artifacts_dir=args.artifacts_dir,
        cargo_features=split_features(args.features),  # commas or spaces, as cargo takes them
        no_default_features=args.no_default_features,
    )


def resolve(args: argparse.Namespace) -> config.Config:
    """The crate the command line names (default: the bundled engine), its policies, and the artifacts
    directory its last build wrote to (unless --artifacts-dir says where)."""
    return config.resolve(build_options(args), previous=True)


def cmd_check(args: argparse.Namespace) -> int:
    if args.check_name is None:
        return run_checks(resolve(args))
    module = checks.registry()[args.check_name]
    # Resolved at most once, and only if the check needs the crate (shims --wasm alone does not).
    options = module.options_from_args(args, functools.cache(lambda: resolve(args)))
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


def add_crate_options(parser: argparse.ArgumentParser) -> None:
    """The options that name the crate and its build, as `build` takes them."""
    add_manifest(parser)
    add_artifacts_dir(parser, reading=True)
    parser.add_argument("--features", help="comma-separated cargo features, as given to the build")
    parser.add_argument("--no-default-features", action="store_true", help="as given to the build")
    # None: not given (the bundled engine); a check tells "not given" from "the engine named explicitly"
    parser.set_defaults(manifest_path=None)


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "check",
        help="run every check, or one: check [NAME] [options] (NAME --help for its options)",
        description="With no NAME, every check on the crate: the options below name the crate (before or after "
        "NAME), its build's features and where the build went (default: where the crate's last build "
        "went); each check's policy comes from the crate's [package.metadata.wasm-qe-toolchain.policies] or "
        "the toolchain's default (`python -m toolchain config --manifest-path M` shows them).",
    )
    add_crate_options(p)
    names = p.add_subparsers(dest="check_name", metavar="NAME", required=False)
    for name, module in checks.registry().items():
        sub = names.add_parser(name, help=module.SUMMARY, description=module.SUMMARY)
        add_crate_options(sub)
        # Given after NAME they win; not given there, they must not reset what was given before NAME
        # (argparse copies a subparser's defaults over the parent's values).
        # (set on the actions: a parser-level default of SUPPRESS would be copied as a value)
        for action in sub._actions:
            if action.dest in CRATE_OPTIONS:
                action.default = argparse.SUPPRESS
        sub._defaults.clear()
        module.add_arguments(sub)
        for action in sub._actions:
            if action.type is Path:  # a check's own paths, as typed where the command was started (under nox)
                action.type = caller_path
        sub.add_argument("--json", type=caller_path, help="also write the report as JSON to this file")
    p.set_defaults(func=cmd_check)
