"""`python -m toolchain toolchain-wheels build|requirements`: the wasm-bindgen CLI and wasm-opt as wheels."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.analysis import cargo_lock
from toolchain.cli.common import add_manifest
from toolchain.core import console
from toolchain.release import toolchain_wheels


def wasm_bindgen_versions(values: list[str] | None) -> list[str]:
    """--wasm-bindgen V, repeated or comma-separated, in order, without repeats."""
    versions = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(versions))


def cmd_toolchain_wheels(args: argparse.Namespace) -> int:
    versions = wasm_bindgen_versions(args.wasm_bindgen)
    locked = None
    if not versions:
        # The pinned wasm-bindgen wheel must be exactly the CLI the engine's Cargo.lock asks for.
        lock = cargo_lock.find_lock_file(args.manifest_path.resolve())
        locked = cargo_lock.single_locked_version(lock, "wasm-bindgen")
    wheels = toolchain_wheels.build(
        args.only or None, args.out, locked_wasm_bindgen=locked, wasm_bindgen_versions=versions
    )
    print(toolchain_wheels.format_wheels(wheels))
    console.info(
        f"wheels in {args.out} (manifest: {toolchain_wheels.MANIFEST_NAME}); install them with "
        f"`pip install --no-index --find-links {args.out} {' '.join(w.name for w in wheels)}`"
    )
    if versions:
        console.info(
            f"crates locked to wasm-bindgen {', '.join(versions)} get their CLI from these wheels instead of "
            f"a cargo install: run the toolchain with WASM_TOOLCHAIN_WHEELS={args.out} (or upload them to your "
            "index and set WASM_TOOLCHAIN_WHEELS=index)"
        )
    return 0


def cmd_toolchain_wheel_requirements(args: argparse.Namespace) -> int:
    print("\n".join(toolchain_wheels.requirements()))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "toolchain-wheels",
        help="the wasm-bindgen CLI and wasm-opt as Python wheels "
        "(for CI that installs its toolchain from a package index)",
    )
    actions = p.add_subparsers(dest="action", required=True)
    b = actions.add_parser("build", help="build (or reuse from the tool cache) the toolchain wheels into --out")
    add_manifest(b)
    b.add_argument(
        "--out",
        type=Path,
        default=Path("artifacts") / "toolchain-wheels",
        help="where the wheels and their manifest go (atomically; wheels of other names or versions "
        "already there stay)",
    )
    b.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="build only this wheel (wasm-bindgen-cli, binaryen-wasm-opt); repeatable",
    )
    b.add_argument(
        "--wasm-bindgen",
        action="append",
        metavar="VERSION",
        help="build the wasm-bindgen CLI wheel of this version (the recipe of packaging/wasm-bindgen-cli "
        "applied to it) instead of all wheels; repeatable or comma-separated. Provisioning takes it "
        "from --out or an index (WASM_TOOLCHAIN_WHEELS) for crates locked to that version",
    )
    b.set_defaults(func=cmd_toolchain_wheels)
    r = actions.add_parser("requirements", help="print the pinned pip requirements of the toolchain wheels")
    r.set_defaults(func=cmd_toolchain_wheel_requirements)
