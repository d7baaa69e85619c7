"""`python -m toolchain bench-wasm-opt`: each wasm-opt provider on the engine, timed and compared."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.analysis import config
from toolchain.core import console
from toolchain.core.layout import DEFAULT_ARTIFACTS, WASM_BINDGEN
from toolchain.pipeline import bench
from toolchain.tools import rust, wasm_opt


def cmd_bench_wasm_opt(args: argparse.Namespace) -> int:
    layout = config.resolve(
        config.BuildOptions(manifest_path=args.manifest_path, artifacts_dir=args.artifacts_dir)
    ).layout
    input_wasm = args.input or layout.stage_module(WASM_BINDGEN)
    glue_js = args.glue or layout.stage_glue()
    flags = wasm_opt.feature_flags(rust.enabled_target_features(rust.find_toolchain()))
    results = bench.compare_wasm_opt_providers(
        input_wasm, glue_js, args.level, flags, args.provider or ["debian", "npm"], install=args.install
    )
    output = args.artifacts_dir / "bench" / "wasm-opt-providers.json"
    bench.write_results(output, input_wasm, results)
    print(bench.format_results(results))
    console.info(f"results written to {output}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("bench-wasm-opt", help="time each wasm-opt provider on the engine and compare sizes")
    p.add_argument("--input", type=Path, help="module to optimise (default: the engine's wasm-bindgen output)")
    p.add_argument("--glue", type=Path, help="its wasm-bindgen JS glue, to check that the output instantiates")
    p.add_argument("--level", default="-Os")
    p.add_argument("--provider", action="append", choices=sorted(wasm_opt.PROVIDERS))
    p.add_argument("--install", action="store_true", help="install providers that are missing")
    p.add_argument("--artifacts-dir", type=Path, default=DEFAULT_ARTIFACTS)
    p.add_argument(
        "--manifest-path",
        type=Path,
        default=config.DEFAULT_MANIFEST,
        help="the built crate whose module to optimise (default: the bundled engine)",
    )
    p.set_defaults(func=cmd_bench_wasm_opt)
