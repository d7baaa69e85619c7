"""Options that several commands share: the crate, and the build's options."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.analysis import config
from toolchain.core.layout import DEFAULT_ARTIFACTS
from toolchain.tools import wasm_opt


def add_manifest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest-path",
        type=Path,
        default=config.DEFAULT_MANIFEST,
        help="Cargo.toml of the crate to build (default: the bundled DataFusion engine)",
    )


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
    p.add_argument("--artifacts-dir", type=Path, default=DEFAULT_ARTIFACTS)
    p.add_argument(
        "--target-dir",
        type=Path,
        help="cargo target directory (default: $CARGO_TARGET_DIR, else one per crate in the tool cache)",
    )
    p.add_argument("--no-install", action="store_true", help="fail instead of provisioning missing tools")
    p.add_argument(
        "--no-stage-store",
        action="store_true",
        help="run every stage: restore nothing from (and save nothing to) the machine-wide stage cache",
    )


def build_options(args: argparse.Namespace) -> config.BuildOptions:
    return config.BuildOptions(
        manifest_path=args.manifest_path,
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
    )


def resolve(args: argparse.Namespace) -> config.Config:
    """The one configuration the command runs with: the command line over the crate's metadata over defaults."""
    return config.resolve(build_options(args))
