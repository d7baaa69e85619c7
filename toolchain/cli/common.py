"""Options that several commands share: the crate, and the build's options; paths the user typed, read
against the directory they typed them in; option values that start with '-'."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

from toolchain.analysis import config
from toolchain.tools import wasm_opt

CALLER_DIR_ENV = "WASM_QE_CALLER_DIR"  # set by the noxfile: nox runs sessions in the noxfile's directory


def caller_path(value: str) -> Path:
    """An argparse type: a path as the user meant it. A relative path is relative to the directory the
    command was started from, which under nox is not the working directory (WASM_QE_CALLER_DIR says it)."""
    path = Path(value).expanduser()
    caller = os.environ.get(CALLER_DIR_ENV)
    return Path(caller) / path if caller and not path.is_absolute() else path


def add_manifest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest-path",
        type=caller_path,
        default=config.DEFAULT_MANIFEST,
        help="Cargo.toml of the crate, or its directory (default: the bundled DataFusion engine)",
    )
    parser.add_argument(
        "--package",
        "-p",
        help="a member of the manifest's workspace, by name (needed when --manifest-path is a workspace root)",
    )


def add_artifacts_dir(parser: argparse.ArgumentParser, reading: bool = False) -> None:
    parser.add_argument(
        "--artifacts-dir",
        type=caller_path,
        help=(
            "where the crate's build wrote its outputs (default: where its last build went)"
            if reading
            else "where the package (<dir>/<crate>/), stages and reports go (default: artifacts/ for the "
            "bundled engine, <workspace root>/target/wasm-qe/ for any other crate)"
        ),
    )


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)


def join_dash_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`--wasm-opt-level -Oz` as `--wasm-opt-level=-Oz`: argparse takes a value starting with '-' for an
    option of its own and fails ("expected one argument"). An option that takes one value is joined with
    the next word when that word is not itself one of the command line's options."""
    actions = list(_actions(parser))
    known = {o for a in actions for o in a.option_strings}
    single = {o for a in actions if a.nargs is None and a.option_strings for o in a.option_strings}
    single = {o for o in single if o.startswith("--")}
    joined: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        following = argv[i + 1] if i + 1 < len(argv) else None
        if word in single and following is not None and following.startswith("-") and following not in known:
            joined.append(f"{word}={following}")
            i += 2
            continue
        joined.append(word)
        i += 1
    return joined


def add_build_arguments(p: argparse.ArgumentParser) -> None:
    add_manifest(p)
    p.add_argument("--profile", help="cargo profile (default: the variant's, else release)")
    p.add_argument(
        "--variant",
        help="a build variant of the crate ([package.metadata.wasm-qe-toolchain.variants.NAME]: other std "
        "features, rustflags, wasm-opt passes, cargo profile); built into artifacts/variants/NAME/",
    )
    p.add_argument("--features", help="comma-separated cargo features")
    p.add_argument("--no-default-features", action="store_true")
    p.add_argument("--no-wasm-opt", action="store_true", help="skip the wasm-opt stage")
    p.add_argument("--no-verify", action="store_true", help="skip instantiating the module in node before publishing")
    p.add_argument(
        "--wasm-opt-level",
        help="wasm-opt optimisation flag (default: the crate's "
        "[package.metadata.wasm-qe-toolchain] wasm-opt passes, else -Os)",
    )
    p.add_argument(
        "--wasm-opt-provider",
        default=wasm_opt.AUTO,
        choices=[wasm_opt.AUTO, *sorted(wasm_opt.PROVIDERS)],
        help=f"default {wasm_opt.AUTO}: an installed binaryen-wasm-opt wheel where it is known to work, "
        f"else {wasm_opt.DEFAULT_PROVIDER}",
    )
    add_artifacts_dir(p)
    p.add_argument(
        "--target-dir",
        type=caller_path,
        help="cargo target directory (default: $CARGO_TARGET_DIR, else one in the tool cache shared by every "
        "crate built with the same rustflags and std features)",
    )
    p.add_argument("--no-install", action="store_true", help="fail instead of provisioning missing tools")
    p.add_argument(
        "--no-stage-store",
        action="store_true",
        help="run every stage: restore nothing from (and save nothing to) the machine-wide stage cache",
    )
    p.add_argument(
        "--lock",
        action="store_true",
        help="no Cargo.lock: generate one (cargo generate-lockfile) and say so; refused in CI",
    )


def build_options(args: argparse.Namespace) -> config.BuildOptions:
    return config.BuildOptions(
        manifest_path=args.manifest_path,
        package=args.package,
        profile=args.profile or "",
        variant=args.variant,
        run_wasm_opt=not args.no_wasm_opt,
        wasm_opt_level=args.wasm_opt_level,
        wasm_opt_provider=args.wasm_opt_provider,
        artifacts_dir=args.artifacts_dir,
        cargo_features=[f for f in args.features.split(",") if f] if args.features else [],
        no_default_features=args.no_default_features,
        install_missing=not args.no_install,
        target_dir=args.target_dir,
        verify_instantiation=not args.no_verify,
        use_stage_store=not args.no_stage_store,
        lock=args.lock,
    )


def resolve(args: argparse.Namespace) -> config.Config:
    """The one configuration the command runs with: the command line over the crate's metadata over defaults."""
    return config.resolve(build_options(args))
