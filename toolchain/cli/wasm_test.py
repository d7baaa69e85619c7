"""`python -m toolchain wasm-test`: the crate's #[wasm_bindgen_test] tests in headless Chromium."""

from __future__ import annotations

import argparse

from toolchain.cli.common import add_manifest
from toolchain.core import console
from toolchain.pipeline import wasm_test


def cmd_wasm_test(args: argparse.Namespace) -> int:
    result = wasm_test.run(
        args.manifest_path, args.profile, install=not args.no_install, extra=args.cargo_args, package=args.package
    )
    console.info(f"wasm tests: {result.passed} passed in headless Chromium")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "wasm-test",
        help="the crate's #[wasm_bindgen_test] tests in headless Chromium (wasm-bindgen-test-runner + chromedriver)",
    )
    add_manifest(p)
    p.add_argument("--profile", default="release", help="cargo profile (default: release, as the build)")
    p.add_argument("--no-install", action="store_true", help="fail instead of provisioning missing tools")
    p.add_argument("cargo_args", nargs="*", help="passed to cargo test (e.g. -- a_test_name)")
    p.set_defaults(func=cmd_wasm_test)
