"""`python -m toolchain udf build|validate|precompile|bundle|call`: WASM UDF modules (docs/udf-abi.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from toolchain.checks import udf as udf_check
from toolchain.core import console
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import DEFAULT_ARTIFACTS
from toolchain.pipeline import udf_build, udf_bundle, udf_call, udf_precompile


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _module_of(path: Path, args: argparse.Namespace) -> Path:
    """A .wasm as given; a project is built first (incrementally) and its module used. Without
    --policy, the policy the module was built with (its udf-build.json) applies to what follows."""
    module = path if path.suffix == ".wasm" else udf_build.build(_build_options(path, args)).module
    if args.policy is None:
        args.policy = udf_build.recorded_policy(module)
    return module


def _example_modules(args: argparse.Namespace) -> list[Path]:
    """The bundled examples' modules, built (incrementally) first."""
    modules = []
    for project, name in udf_build.EXAMPLES:
        options = _build_options(project, args)
        modules.append(udf_build.build(dataclasses.replace(options, name=name)).module)
    return modules


def _build_options(path: Path, args: argparse.Namespace) -> udf_build.UdfBuildOptions:
    return udf_build.UdfBuildOptions(
        project=path,
        artifacts_dir=args.artifacts_dir,
        policy=args.policy,
        wasm_opt=not getattr(args, "no_wasm_opt", False),
        opt_level=getattr(args, "opt_level", udf_build.DEFAULT_OPT_LEVEL),
        name=getattr(args, "name", None),
    )


def _specs(args: argparse.Namespace) -> list[udf_precompile.ArtifactSpec]:
    return udf_precompile.matrix(args.targets, args.strategies, args.profiles)


def cmd_build(args: argparse.Namespace) -> int:
    if args.name and len(args.paths) != 1:
        raise ToolchainError("--name names one module: give exactly one PATH with it", "build them one at a time")
    projects = [(path, args.name) for path in args.paths] or list(udf_build.EXAMPLES)
    built = []
    for path, name in projects:
        args.name = name
        result = udf_build.build(_build_options(path, args))
        built.append(result)
    for result in built:
        print(
            f"{result.record.name} ({result.record.language}): {result.module} ({result.report['final']['raw']:,} bytes)",
            flush=True,
        )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for module in args.modules or _example_modules(args):
        policy = args.policy or udf_build.recorded_policy(module)
        report = udf_check.run(udf_check.Options(module, policy))
        print(report.format(), flush=True)
        if args.json:
            args.json.write_text(report.to_json() + "\n")
        failed += not report.ok
    return 1 if failed else 0


def cmd_precompile(args: argparse.Namespace) -> int:
    module = _module_of(args.path, args)
    started = time.monotonic()
    results = udf_precompile.precompile(module, _specs(args))
    hits = sum(r.cache_hit for r in results)
    console.info(f"{len(results)} artifacts ({hits} from the cache) in {time.monotonic() - started:.2f} s")
    for result in results:
        print(f"{result.spec.file_name}\t{result.size}\t{result.header.triple}\t{result.path}", flush=True)
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    given_policy = args.policy
    modules = [_module_of(args.path, args)] if args.path else _example_modules(args)
    made = []
    for module in modules:
        policy = given_policy or udf_build.recorded_policy(module)
        bundle = udf_bundle.bundle(
            udf_bundle.BundleOptions(
                module=module, specs=tuple(_specs(args)), artifacts_dir=args.artifacts_dir, policy=policy
            )
        )
        problems = udf_bundle.verify(bundle.directory)
        if problems:
            raise ToolchainError(f"the bundle {bundle.directory} does not verify: {problems}", "a bug: report it")
        made.append(bundle)
    for bundle in made:
        print(f"{bundle.directory} ({len(bundle.precompiled)} precompiled artifacts; SHA256SUMS verified)", flush=True)
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    """Validate, precompile (empty cache: every artifact compiled), precompile again (every one a
    hit), and deserialize each artifact this machine runs; one table, times in ms."""
    import statistics
    import tempfile

    from toolchain.analysis import udf_validate
    from toolchain.tools import wasmtime as wt

    module = _module_of(args.path, args)
    started = time.perf_counter()
    validation = udf_validate.validate(module, args.policy)
    validate_ms = (time.perf_counter() - started) * 1000
    rows = []
    with tempfile.TemporaryDirectory(prefix="udf-measure-") as scratch:
        cold = udf_precompile.precompile(module, _specs(args), cache_root=Path(scratch))
        warm = udf_precompile.precompile(module, _specs(args), cache_root=Path(scratch))
        for first, again in zip(cold, warm):
            load_ms = None
            if first.spec.loads_here():
                data = first.path.read_bytes()
                samples = []
                for _ in range(5):
                    t = time.perf_counter()
                    wt.deserialize(first.spec.host_settings(), data)
                    samples.append((time.perf_counter() - t) * 1000)
                load_ms = statistics.median(samples)
            rows.append((first.spec.file_name, first.size, first.seconds * 1000, again.seconds * 1000, load_ms))
    print(
        f"module {module} ({module.stat().st_size:,} bytes, {len(validation.functions)} functions): validate {validate_ms:.1f} ms"
    )
    print("| artifact | bytes | compile ms (CLI, cold cache) | cache hit ms | deserialize ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, size, cold_ms, hit_ms, load_ms in rows:
        load = f"{load_ms:.2f}" if load_ms is not None else "(other arch)"
        print(f"| {name} | {size:,} | {cold_ms:.0f} | {hit_ms:.1f} | {load} |")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from toolchain.pipeline import udf_host, udf_run

    limits = udf_host.Limits(
        fuel=None if args.fuel == 0 else args.fuel,
        deadline_ms=args.deadline_ms,
        memory_bytes=args.memory_mb * 2**20,
    )
    result = udf_run.run(
        udf_run.RunOptions(
            bundle=args.bundle,
            function=args.function,
            input=args.input,
            output=args.output,
            args=_csv(args.args) if args.args else (),
            style=args.style,
            batch_rows=args.batch_rows,
            limits=limits,
            fast_tier=args.fast_tier,
        )
    )
    rate = result.rows / result.seconds if result.seconds else float("inf")
    console.info(
        f"{result.rows:,} rows, {result.errors:,} row errors, {result.seconds:.3f} s ({rate:,.0f} rows/s); "
        f"tiers: {' -> '.join(result.tiers) or '-'}"
    )
    if args.output:
        print(args.output, flush=True)
    else:
        print(_format_rows(result.table.slice(0, args.show)), flush=True)
    return 0


def _format_rows(table) -> str:
    """A plain-text table of a few rows (values shortened to 40 characters)."""
    names = table.column_names
    rows = [["" if v is None else str(v)[:40] for v in row.values()] for row in table.to_pylist()]
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def cmd_bench(args: argparse.Namespace) -> int:
    from toolchain.pipeline import udf_bench

    args.policy = None
    modules = {}
    for project, name in udf_build.EXAMPLES:
        result = udf_build.build(dataclasses.replace(_build_options(project, args), name=name))
        modules[result.record.name] = (result.module, udf_build.recorded_policy(result.module))
    text = modules["udf-text"][0]
    bundle = udf_bundle.bundle(
        udf_bundle.BundleOptions(
            module=text,
            specs=(udf_precompile.ArtifactSpec("x86_64", "cranelift", "fuel"),),
            artifacts_dir=args.artifacts_dir,
        )
    )
    out_dir = args.artifacts_dir / "reports" / "udf-bench"
    report = udf_bench.run(modules, bundle.directory, out_dir, repeat=args.repeat)
    # The browser engine's rows, when `nox -s udf_bench_browser` has written them.
    tables = "\n".join(
        [udf_bench.markdown(report).rstrip("\n"), *udf_bench.browser_rows(out_dir / udf_bench.BROWSER_REPORT)]
    )
    (out_dir / "udf-bench.md").write_text(tables + "\n")
    print(tables, flush=True)
    console.info(f"written: {out_dir / 'udf-bench.json'}, {out_dir / 'udf-bench.md'}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    """One call, for trying a function: scalar arguments, a JSON document, or JSON columns."""
    module = udf_call.UdfModule.load(_module_of(args.path, args), policy=args.policy).instantiate()
    value = json.loads(args.input)
    if args.style == "scalar":
        result = module.call_scalar(args.function, *value)
    elif args.style == "document":
        try:
            result = module.call_document(args.function, value)
        except udf_call.RowError as exc:
            result = {"error": str(exc)}
    else:
        batch = module.call_batch(args.function, value)
        result = {"values": batch.values.to_pylist(), "errors": batch.errors}
    print(json.dumps(result, default=str), flush=True)
    return 0


def udf_host_default_fuel() -> int:
    from toolchain.pipeline import udf_host

    return udf_host.Limits().fuel or 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--artifacts-dir",
        type=Path,
        default=DEFAULT_ARTIFACTS,
        help="where modules and bundles go (default: artifacts)",
    )
    p.add_argument(
        "--policy", type=Path, help="a UDF policy TOML (default: udf-default.toml; Go projects: udf-go.toml)"
    )


def _matrix_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--targets",
        type=_csv,
        default=udf_precompile.DEFAULT_TARGETS,
        help=f"comma-separated, of {', '.join(udf_precompile.TARGETS)} (default: {','.join(udf_precompile.DEFAULT_TARGETS)}; pulley64 comes with the pulley strategy)",
    )
    p.add_argument(
        "--strategies",
        type=_csv,
        default=udf_precompile.DEFAULT_STRATEGIES,
        help=f"comma-separated (default: {','.join(udf_precompile.DEFAULT_STRATEGIES)})",
    )
    p.add_argument(
        "--profiles",
        type=_csv,
        default=udf_precompile.DEFAULT_PROFILES,
        help=f"comma-separated, of {', '.join(udf_precompile.PROFILES)} (default: {','.join(udf_precompile.DEFAULT_PROFILES)})",
    )


def register(commands: argparse._SubParsersAction) -> None:
    top = commands.add_parser(
        "udf", help="WASM UDF modules: build, validate, precompile, bundle, call", description=__doc__
    )
    sub = top.add_subparsers(dest="udf_command", required=True)

    p = sub.add_parser(
        "build", help="build UDF projects (Rust crate, C file/directory, Go package) into validated modules"
    )
    p.add_argument(
        "paths", type=Path, nargs="*", metavar="PATH", help="projects to build (default: every bundled example)"
    )
    _common(p)
    p.add_argument("--no-wasm-opt", action="store_true", help="skip wasm-opt (faster, larger)")
    p.add_argument(
        "--opt-level", default=udf_build.DEFAULT_OPT_LEVEL, help="wasm-opt level, e.g. -Oz, -O3 (write --opt-level=-O3)"
    )
    p.add_argument(
        "--name",
        help="the module's name (one PATH only; default: the crate's package name, the C file's stem or the directory's name)",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("validate", help="check modules against every rule of the UDF ABI and the policy")
    p.add_argument(
        "modules", type=Path, nargs="*", metavar="MODULE", help="default: every bundled example, built first"
    )
    _common(p)
    p.add_argument("--json", type=Path, help="also write the (last) report as JSON to this file")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "precompile",
        help="AOT-compile a module (or a project, built first) per target, strategy and profile, through the cache",
    )
    p.add_argument("path", type=Path, metavar="MODULE_OR_PROJECT")
    _common(p)
    _matrix_arguments(p)
    p.set_defaults(func=cmd_precompile)

    p = sub.add_parser(
        "bundle", help="write <name>.udfbundle (module, precompiled artifacts, manifest, SHA256SUMS) and its .tar.gz"
    )
    p.add_argument(
        "path", type=Path, nargs="?", metavar="MODULE_OR_PROJECT", help="default: every bundled example, built first"
    )
    _common(p)
    _matrix_arguments(p)
    p.set_defaults(func=cmd_bundle)

    p = sub.add_parser(
        "run", help="run a bundle's function over a file of rows (Arrow IPC, Parquet, JSON Lines) in the reference host"
    )
    p.add_argument("bundle", type=Path, metavar="BUNDLE", help="a <name>.udfbundle directory")
    p.add_argument("function")
    p.add_argument("--input", type=Path, required=True, help=".arrow/.arrows/.parquet/.jsonl")
    p.add_argument("--output", type=Path, help=".arrow (IPC file) or .parquet; default: print the first rows")
    p.add_argument("--args", help="input columns for the arguments, comma-separated (default: the arguments' names)")
    p.add_argument("--style", choices=("batch", "document"), default="batch")
    p.add_argument("--batch-rows", type=int, default=8192)
    p.add_argument("--fuel", type=int, default=udf_host_default_fuel(), help="fuel per batch (0: not metered)")
    p.add_argument("--deadline-ms", type=int, help="wall-clock deadline per batch")
    p.add_argument("--memory-mb", type=int, default=256, help="the instance's memory limit")
    p.add_argument("--fast-tier", choices=("winch", "pulley"), default="winch")
    p.add_argument("--show", type=int, default=20, help="rows printed without --output")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "bench",
        help="every tier's compile, load, first-result and per-row/per-call cost on the examples (JSON + Markdown)",
    )
    _common(p)
    p.add_argument("--repeat", type=int, default=5, help="runs per measurement (the median is reported)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "measure", help="time validate, precompile (cold), cache hits and deserialize for a module: a Markdown table"
    )
    p.add_argument("path", type=Path, metavar="MODULE_OR_PROJECT")
    _common(p)
    _matrix_arguments(p)
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser(
        "call", help="call one function once (for trying it): udf call MODULE FUNCTION --style S --input JSON"
    )
    p.add_argument("path", type=Path, metavar="MODULE_OR_PROJECT")
    p.add_argument("function")
    p.add_argument("--style", choices=("scalar", "document", "batch"), default="document")
    p.add_argument(
        "--input",
        required=True,
        help="scalar: a JSON list of arguments; document: a JSON object; batch: a JSON list of columns (lists)",
    )
    _common(p)
    p.set_defaults(func=cmd_call)
