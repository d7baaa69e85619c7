"""`python -m toolchain release` and `verify-release`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from toolchain.analysis import config
from toolchain.cli.check import run_checks
from toolchain.cli.common import add_build_arguments, build_options
from toolchain.core import console
from toolchain.core.errors import CheckFailed
from toolchain.pipeline import build as build_module
from toolchain.release import artifacts as release


def cmd_release(args: argparse.Namespace) -> int:
    # --skip-build releases what the crate's last build wrote, wherever that went (as `check` reads it).
    resolved = config.resolve(build_options(args), previous=args.skip_build)
    options, crate = resolved.build, resolved.crate
    if not args.skip_build:
        build_module.build(resolved)
    # Nothing is released that failed a check: every check, as `python -m toolchain check` runs them.
    if not args.skip_checks and run_checks(resolved) != 0:
        raise CheckFailed("a check failed, so nothing was released", "fix the violations printed above")
    request = release.ReleaseRequest(
        package_dir=resolved.layout.package_dir,
        manifest_path=crate.manifest_path,
        release_root=args.release_dir or resolved.layout.release_root,
        features=tuple(options.cargo_features),
        no_default_features=options.no_default_features,
        force=args.force,
    )
    with console.stage(f"release {crate.package_name} {crate.version}"):
        published = release.make_release(request)
    print(release.format_release(published), flush=True)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as step_summary:
            step_summary.write(release.summary_markdown(published) + "\n")
    return cmd_verify_release(argparse.Namespace(release_dir=published.directory))


def cmd_verify_release(args: argparse.Namespace) -> int:
    problems = release.verify_release(args.release_dir)
    for problem in problems:
        print(f"  ✗ {problem}", flush=True)
    if problems:
        console.info(f"{args.release_dir}: {len(problems)} problem(s)")
        return 1
    console.info(f"{args.release_dir}: SHA256SUMS verifies (sha256sum -c), wheel RECORD and tarball are intact")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "release",
        help="build, check, then package artifacts/release/<version>/: npm tarball, "
        "Python wheel, CycloneDX SBOM, build-info.json, SHA256SUMS",
    )
    add_build_arguments(p)
    p.add_argument(
        "--skip-build",
        action="store_true",
        help="package what the crate's last build wrote (or --artifacts-dir), without building",
    )
    p.add_argument("--skip-checks", action="store_true", help="do not run the checks first (the reproduce proof only)")
    p.add_argument("--release-dir", type=Path, help="where versions go (default: ARTIFACTS_DIR/release)")
    p.add_argument(
        "--force", action="store_true", help="replace an existing release of this version whose bytes differ"
    )
    p.set_defaults(func=cmd_release)
    p = commands.add_parser(
        "verify-release", help="verify a release directory: SHA256SUMS (sha256sum -c), the wheel's RECORD, the tarball"
    )
    p.add_argument("release_dir", type=Path)
    p.set_defaults(func=cmd_verify_release)
