"""`python -m toolchain fuzz`: the engine's IPC validator natively under a seeded mutation fuzzer."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.core import console
from toolchain.pipeline import ipc_fuzz


def cmd_fuzz(args: argparse.Namespace) -> int:
    with console.stage("build the IPC fuzzer (crates/ipc-guard-fuzz, native)"):
        executable = ipc_fuzz.build(args.manifest_path, install=not args.no_install) / "fuzz"
    seed = ipc_fuzz.random_seed() if args.seed is None else args.seed
    save = None if args.no_save else args.save
    argv = ipc_fuzz.fuzz_argv(executable, args.seconds, seed, args.count, save, validate=not args.no_validate)
    with console.stage(
        f"fuzz ipc_guard.rs: seed {seed}, {args.seconds:g} s" + (f" or {args.count} inputs" if args.count else "")
    ):
        status, summary = ipc_fuzz.run(argv)
    if summary is None:
        console.info(
            f"the fuzzer stopped without its summary (exit status {status}): a crash the harness cannot "
            f"catch (an abort or a stack overflow); rerun with the same seed: {' '.join(argv)}"
        )
        return status or 1
    if summary.panics:
        console.info(
            f"{summary.panics} input(s) panicked the decoder after validation"
            + (f"; saved in {save}" if save else "")
            + f"; reproduce: {' '.join(argv)}"
        )
        return 1
    console.info(f"no panic after validation in {summary.inputs} inputs (seed {summary.seed})")
    return status


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "fuzz",
        help="the engine's IPC validator (ipc_guard.rs) natively under a seeded mutation "
        "fuzzer; non-zero exit when an input it accepts panics the decoder",
    )
    p.add_argument(
        "--manifest-path", type=Path, default=ipc_fuzz.DEFAULT_MANIFEST, help="the harness crate's Cargo.toml"
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=ipc_fuzz.DEFAULT_SECONDS,
        help=f"time budget (default: {ipc_fuzz.DEFAULT_SECONDS:g})",
    )
    p.add_argument("--count", type=int, help="stop after this many inputs if the time budget lasts longer")
    p.add_argument("--seed", type=int, help="default: a random one (printed; the same seed makes the same inputs)")
    p.add_argument(
        "--save",
        type=Path,
        default=ipc_fuzz.DEFAULT_SAVE_DIR,
        help=f"where inputs that panic after validation are written (default: {ipc_fuzz.DEFAULT_SAVE_DIR})",
    )
    p.add_argument("--no-save", action="store_true", help="do not write failing inputs")
    p.add_argument(
        "--no-validate",
        action="store_true",
        help="decode without the validator (must fail: shows the harness catches panics)",
    )
    p.add_argument("--no-install", action="store_true", help="fail instead of provisioning a missing Rust")
    p.set_defaults(func=cmd_fuzz)
