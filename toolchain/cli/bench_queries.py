"""`python -m toolchain bench-queries`: TPC-H in the browser (our engine packages, DuckDB-WASM) and
natively (DataFusion, DuckDB), results compared before times; toolchain/pipeline/bench_queries.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from toolchain.core import console
from toolchain.core.errors import EXIT_FINDING, EXIT_OK, ToolchainError
from toolchain.pipeline import bench_profile, bench_queries

DEFAULT_RUNS = 5


def package_argument(text: str) -> bench_queries.PackageSpec:
    """--package NAME=DIR, a usage error (exit 2) with the reason when it is not one."""
    try:
        return bench_queries.parse_package(text)
    except ToolchainError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def scale_argument(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value > 1000:
        raise argparse.ArgumentTypeError(f"{text!r}: a TPC-H scale factor, e.g. 0.1 or 1")
    return value


def runs_argument(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of timed runs, at least 1")
    return int(text)


def queries_argument(text: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    wrong = [n for n in names if n not in {f"q{i}" for i in range(1, 23)}]
    if not names or wrong:
        raise argparse.ArgumentTypeError(f"{text!r}: TPC-H query names q1..q22, comma-separated (e.g. q1,q6,q18)")
    return names


def options_from(args: argparse.Namespace) -> bench_queries.BenchOptions:
    packages = tuple(args.package or [])
    if "ours" not in args.skip and not packages:
        name, directory = bench_queries.DEFAULT_PACKAGE
        packages = (bench_queries.parse_package(f"{name}={directory}"),)
    names = [p.name for p in packages]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ToolchainError(
            f"--package names must differ: {', '.join(duplicates)} given more than once",
            "name each package once, e.g. --package z=DIR1 --package o3=DIR2",
        )
    return bench_queries.BenchOptions(
        scale=args.scale,
        runs=args.runs,
        rounds=args.rounds,
        packages=packages,
        browser=args.browser,
        queries=args.queries or (),
        skip=tuple(args.skip),
        bench_dir=args.bench_dir,
        output_dir=args.output_dir,
        job_timeout_s=args.job_timeout,
    )


def interval_argument(text: str) -> int:
    if not text.isdigit() or not 10 <= int(text) <= 100_000:
        raise argparse.ArgumentTypeError(f"{text!r}: a sampling interval in microseconds, 10 to 100000")
    return int(text)


def profile_options_from(args: argparse.Namespace) -> bench_profile.ProfileOptions:
    options = options_from(args)
    return bench_profile.ProfileOptions(
        queries=args.profile,
        scale=options.scale,
        runs=options.runs,
        packages=options.packages,
        browser=options.browser,
        interval_us=args.sampling_interval,
        bench_dir=options.bench_dir,
        output_dir=options.output_dir,
        job_timeout_s=options.job_timeout_s,
    )


def cmd_profile(args: argparse.Namespace) -> int:
    if args.runs is None:
        args.runs = bench_profile.DEFAULT_RUNS
    if "ours" in args.skip:
        raise ToolchainError("--profile profiles our engine: --skip ours leaves nothing to profile", "drop --skip ours")
    bench_profile.check_browser(args.browser)
    report = bench_profile.run(profile_options_from(args))
    written = report.write(args.output_dir / bench_profile.PROFILES_DIR)
    print(report.markdown())
    console.info(f"written: {written}, {written.with_suffix('.json')} and a .cpuprofile per query beside them")
    failed = sum(len(p.errors) for p in report.packages)
    if failed:
        console.warn(f"{failed} profile(s) failed; see the table")
        return EXIT_FINDING
    return EXIT_OK


def cmd_bench_queries(args: argparse.Namespace) -> int:
    if args.profile:
        return cmd_profile(args)
    if args.runs is None:
        args.runs = DEFAULT_RUNS
    report = bench_queries.run(options_from(args))
    written = report.write(args.output_dir)
    print(report.markdown())
    console.info(f"written: {written} and {written.with_suffix('.md')}")
    if report.mismatches:
        console.warn(
            f"{len(report.mismatches)} result(s) differ from native DataFusion (1 partition): "
            "their times are marked ✗ and left out of the ratios"
        )
        return EXIT_FINDING
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bench-queries",
        help="TPC-H (22 queries) in the browser (our engine packages, DuckDB-WASM) and natively "
        "(DataFusion, DuckDB); results compared first; exit 1 when one differs",
        description=__doc__,
    )
    p.add_argument("--scale", type=scale_argument, default=0.1, help="TPC-H scale factor (default 0.1)")
    p.add_argument(
        "--runs",
        type=runs_argument,
        default=None,
        help=f"timed runs per query after 1 warm-up; the median (default {DEFAULT_RUNS}; "
        f"with --profile: profiled runs after {bench_profile.WARMUPS} warm-ups, default {bench_profile.DEFAULT_RUNS})",
    )
    p.add_argument(
        "--rounds",
        type=runs_argument,
        default=1,
        help="run every engine this many times (the browser engines in fresh browsers, in a rotating "
        "order); medians over every round's runs, and each round's geometric mean shown to say how "
        "much a whole run moves (default 1)",
    )
    p.add_argument(
        "--package",
        action="append",
        type=package_argument,
        metavar="NAME=DIR",
        help="an engine package to measure, a column of its own; repeatable "
        f"(default: {'='.join(map(str, bench_queries.DEFAULT_PACKAGE))})",
    )
    p.add_argument("--browser", choices=bench_queries.BROWSERS, default="chromium")
    p.add_argument("--queries", type=queries_argument, help="only these queries, e.g. q1,q6 (default: all 22)")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=bench_queries.SKIPPABLE,
        help="leave an engine out (native DataFusion with 1 partition, the reference, always runs); repeatable",
    )
    p.add_argument(
        "--bench-dir",
        type=Path,
        default=bench_queries.DEFAULT_BENCH_DIR,
        help="the queries (tpch/), the page (page/) and DuckDB-WASM's npm lock (duckdb-wasm/)",
    )
    p.add_argument("--output-dir", type=Path, default=bench_queries.DEFAULT_REPORTS, help="where the JSON and .md go")
    p.add_argument(
        "--job-timeout",
        type=float,
        default=1800.0,
        help="seconds one page job (load, ingest, or one query's runs) may take (default 1800)",
    )
    p.add_argument(
        "--profile",
        type=queries_argument,
        metavar="Q[,Q...]",
        help="instead of the benchmark: a CPU profile of our engine's wasm (each --package, with its named "
        "module) in Chromium for these queries: .cpuprofile files and a summary (top functions, crates, "
        "categories) under OUTPUT_DIR/profiles/",
    )
    p.add_argument(
        "--sampling-interval",
        type=interval_argument,
        default=bench_profile.DEFAULT_INTERVAL_US,
        metavar="US",
        help=f"with --profile: the profiler's sampling interval in microseconds (default {bench_profile.DEFAULT_INTERVAL_US})",
    )
    p.set_defaults(func=cmd_bench_queries)
