"""Command line: `python -m toolchain <command>`; nox sessions are thin wrappers over these."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from toolchain.pipeline import build as build_module
from toolchain.core import console
from toolchain.pipeline import doctor
from toolchain.analysis import sizes
from toolchain.tools import wasm_opt
from toolchain.core.errors import ToolchainError


def _add_manifest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest-path", type=Path, default=build_module.DEFAULT_MANIFEST,
                        help="Cargo.toml of the crate to build (default: the bundled DataFusion engine)")


def _add_build_arguments(p: argparse.ArgumentParser) -> None:
    _add_manifest(p)
    p.add_argument("--profile", default="release", help="cargo profile (default: release)")
    p.add_argument("--features", help="comma-separated cargo features")
    p.add_argument("--no-default-features", action="store_true")
    p.add_argument("--no-wasm-opt", action="store_true", help="skip the wasm-opt stage")
    p.add_argument("--no-verify", action="store_true", help="skip instantiating the module in node before publishing")
    p.add_argument("--wasm-opt-level", help="wasm-opt optimisation flag (default: the crate's "
                   "[package.metadata.wasm-qe-toolchain] wasm-opt passes, else -Os)")
    p.add_argument("--wasm-opt-provider", default=wasm_opt.AUTO, choices=[wasm_opt.AUTO, *sorted(wasm_opt.PROVIDERS)],
                   help=f"default {wasm_opt.AUTO}: an installed binaryen-wasm-opt wheel where it is known to work, "
                   f"else {wasm_opt.DEFAULT_PROVIDER}")
    p.add_argument("--artifacts-dir", type=Path, default=build_module.DEFAULT_ARTIFACTS)
    p.add_argument("--target-dir", type=Path,
                   help="cargo target directory (default: $CARGO_TARGET_DIR, else one per crate in the tool cache)")
    p.add_argument("--no-install", action="store_true", help="fail instead of provisioning missing tools")
    p.add_argument("--no-stage-store", action="store_true",
                   help="run every stage: restore nothing from (and save nothing to) the machine-wide stage cache")


def cmd_doctor(args: argparse.Namespace) -> int:
    findings = doctor.diagnose(args.manifest_path, install=args.install,
                               python_packages=tuple(args.python_package))
    if args.json:
        print(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        print(doctor.format_findings(findings))
    missing = [f.component for f in findings if f.required and not f.ok]
    if missing:
        console.info(f"missing: {', '.join(missing)}" + ("" if args.install else "  (rerun with --install to provision)"))
        return 1
    return 0


def _build_options(args: argparse.Namespace) -> build_module.BuildOptions:
    return build_module.BuildOptions(
        manifest_path=args.manifest_path,
        profile=args.profile,
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


def cmd_build(args: argparse.Namespace) -> int:
    result = build_module.build(_build_options(args))
    console.info(f"artifacts in {result.package_dir}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from toolchain.analysis import cargo_lock
    from toolchain.release import artifacts as release

    options = _build_options(args)
    if not args.skip_build:
        build_module.build(options)
    if not args.skip_checks:
        # Nothing is released that failed a check: every check, as `python -m toolchain check` runs them.
        build = {"manifest_path": options.manifest_path, "artifacts_dir": options.artifacts_dir,
                 "features": ",".join(options.cargo_features), "no_default_features": options.no_default_features}
        if cmd_check(argparse.Namespace(check_name=None, build=build)) != 0:
            raise ToolchainError("a check failed, so nothing was released", "fix the violations printed above")
    crate = cargo_lock.read_manifest(options.manifest_path)
    request = release.ReleaseRequest(
        package_dir=options.artifacts_dir / crate.package_name,
        manifest_path=options.manifest_path,
        release_root=args.release_dir or options.artifacts_dir / "release",
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
    from toolchain.release import artifacts as release

    problems = release.verify_release(args.release_dir)
    for problem in problems:
        print(f"  ✗ {problem}", flush=True)
    if problems:
        console.info(f"{args.release_dir}: {len(problems)} problem(s)")
        return 1
    console.info(f"{args.release_dir}: SHA256SUMS verifies (sha256sum -c), wheel RECORD and tarball are intact")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from toolchain.release import reproduce

    outcome = reproduce.prove(reproduce.ProofRequest(
        checkout=Path.cwd(), work_dir=args.work_dir, manifest_path=args.manifest_path, keep=args.keep,
    ))
    print(reproduce.format_outcome(outcome), flush=True)
    return 0 if outcome.identical else 1


def cmd_size(args: argparse.Namespace) -> int:
    print(sizes.format_table(build_module.load_report(args.package_dir)))
    return 0


def cmd_bench_wasm_opt(args: argparse.Namespace) -> int:
    from toolchain.pipeline import bench
    from toolchain.tools import rust

    stage = args.artifacts_dir / ".stages" / "datafusion-wasm" / "wasm-bindgen"
    input_wasm = args.input or stage / "datafusion_wasm_bg.wasm"
    glue_js = args.glue or stage / "datafusion_wasm.js"
    flags = wasm_opt.feature_flags(rust.enabled_target_features(rust.find_toolchain()))
    results = bench.compare_wasm_opt_providers(input_wasm, glue_js, args.level, flags,
                                               args.provider or ["debian", "npm"], install=args.install)
    output = args.artifacts_dir / "bench" / "wasm-opt-providers.json"
    bench.write_results(output, input_wasm, results)
    print(bench.format_results(results))
    console.info(f"results written to {output}")
    return 0


def cmd_wasm_test(args: argparse.Namespace) -> int:
    from toolchain.pipeline import wasm_test

    result = wasm_test.run(args.manifest_path, args.profile, install=not args.no_install, extra=args.cargo_args)
    console.info(f"wasm tests: {result.passed} passed in headless Chromium")
    return 0


def cmd_fuzz(args: argparse.Namespace) -> int:
    from toolchain.pipeline import ipc_fuzz

    with console.stage("build the IPC fuzzer (crates/ipc-guard-fuzz, native)"):
        executable = ipc_fuzz.build(args.manifest_path, install=not args.no_install) / "fuzz"
    seed = ipc_fuzz.random_seed() if args.seed is None else args.seed
    save = None if args.no_save else args.save
    argv = ipc_fuzz.fuzz_argv(executable, args.seconds, seed, args.count, save, validate=not args.no_validate)
    with console.stage(f"fuzz ipc_guard.rs: seed {seed}, {args.seconds:g} s" + (f" or {args.count} inputs" if args.count else "")):
        status, summary = ipc_fuzz.run(argv)
    if summary is None:
        console.info(f"the fuzzer stopped without its summary (exit status {status}): a crash the harness cannot "
                     f"catch (an abort or a stack overflow); rerun with the same seed: {' '.join(argv)}")
        return status or 1
    if summary.panics:
        console.info(f"{summary.panics} input(s) panicked the decoder after validation"
                     + (f"; saved in {save}" if save else "") + f"; reproduce: {' '.join(argv)}")
        return 1
    console.info(f"no panic after validation in {summary.inputs} inputs (seed {summary.seed})")
    return status


def cmd_check(args: argparse.Namespace) -> int:
    from toolchain import checks

    available = checks.registry()
    if args.check_name is None:
        # Every check with its defaults; each still fails on its own, and all of them run.
        selected = [(name, module, _checking_the_build(checks.default_args(module), getattr(args, "build", {})))
                    for name, module in available.items()]
    else:
        selected = [(args.check_name, available[args.check_name], args)]
    failed = []
    for name, module, check_args in selected:
        with console.stage(f"check {name}"):
            report = module.run(check_args)
        print(report.format(), flush=True)
        json_path = getattr(check_args, "json", None)
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(report.to_json() + "\n")
        if not report.ok:
            failed.append(name)
    if failed:
        console.info(f"failed checks: {', '.join(failed)}")
        return 1
    return 0


def cmd_toolchain_wheels(args: argparse.Namespace) -> int:
    from toolchain.analysis import cargo_lock
    from toolchain.release import toolchain_wheels

    # The wasm-bindgen wheel must be exactly the CLI the engine's Cargo.lock asks for.
    lock = cargo_lock.find_lock_file(args.manifest_path.resolve())
    locked = cargo_lock.single_locked_version(lock, "wasm-bindgen")
    wheels = toolchain_wheels.build(args.only or None, args.out, locked_wasm_bindgen=locked)
    print(toolchain_wheels.format_wheels(wheels))
    console.info(f"wheels in {args.out} (manifest: {toolchain_wheels.MANIFEST_NAME}); install them with "
                 f"`pip install --no-index --find-links {args.out} {' '.join(w.name for w in wheels)}`")
    return 0


def cmd_toolchain_wheel_requirements(args: argparse.Namespace) -> int:
    from toolchain.release import toolchain_wheels

    print("\n".join(toolchain_wheels.requirements()))
    return 0


def _checking_the_build(check_args: argparse.Namespace, build: dict) -> argparse.Namespace:
    """A check's default arguments pointed at the crate and artifacts that were built (release passes them)."""
    for name, value in build.items():
        if getattr(check_args, name, None) is not None:  # the check has this option (and it means the build's)
            setattr(check_args, name, value)
    return check_args


def _add_check_parsers(parser: argparse.ArgumentParser) -> None:
    from toolchain import checks

    names = parser.add_subparsers(dest="check_name", metavar="NAME", required=False)
    for name, module in checks.registry().items():
        p = names.add_parser(name, help=module.SUMMARY, description=module.SUMMARY)
        module.add_arguments(p)
        p.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.set_defaults(func=cmd_check)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m toolchain", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    p = commands.add_parser("doctor", help="show the tools found, their versions and where they came from")
    _add_manifest(p)
    p.add_argument("--install", action="store_true", help="provision what is missing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--python-package", action="append", default=[], help="also check this Python package")
    p.set_defaults(func=cmd_doctor)

    p = commands.add_parser("build", help="cargo build -> wasm-bindgen -> wasm-opt -> artifacts/<crate>/")
    _add_build_arguments(p)
    p.set_defaults(func=cmd_build)

    p = commands.add_parser("release", help="build, check, then package artifacts/release/<version>/: npm tarball, "
                                            "Python wheel, CycloneDX SBOM, build-info.json, SHA256SUMS")
    _add_build_arguments(p)
    p.add_argument("--skip-build", action="store_true", help="package what artifacts/<crate>/ holds, without building")
    p.add_argument("--skip-checks", action="store_true", help="do not run the checks first (the reproduce proof only)")
    p.add_argument("--release-dir", type=Path, help="where versions go (default: ARTIFACTS_DIR/release)")
    p.add_argument("--force", action="store_true", help="replace an existing release of this version whose bytes differ")
    p.set_defaults(func=cmd_release)

    p = commands.add_parser("verify-release", help="verify a release directory: SHA256SUMS (sha256sum -c), "
                                                   "the wheel's RECORD, the tarball")
    p.add_argument("release_dir", type=Path)
    p.set_defaults(func=cmd_verify_release)

    p = commands.add_parser("reproduce", help="two clean builds + releases of HEAD in two directories; "
                                              "compares the bytes, names the first difference")
    _add_manifest(p)
    p.add_argument("--work-dir", type=Path, help="where the two clones and target dirs go (default: a new /tmp dir)")
    p.add_argument("--keep", action="store_true", help="keep the clones and target directories afterwards")
    p.set_defaults(func=cmd_reproduce)

    p = commands.add_parser("bench-wasm-opt", help="time each wasm-opt provider on the engine and compare sizes")
    p.add_argument("--input", type=Path, help="module to optimise (default: the engine's wasm-bindgen output)")
    p.add_argument("--glue", type=Path, help="its wasm-bindgen JS glue, to check that the output instantiates")
    p.add_argument("--level", default="-Os")
    p.add_argument("--provider", action="append", choices=sorted(wasm_opt.PROVIDERS))
    p.add_argument("--install", action="store_true", help="install providers that are missing")
    p.add_argument("--artifacts-dir", type=Path, default=build_module.DEFAULT_ARTIFACTS)
    p.set_defaults(func=cmd_bench_wasm_opt)

    p = commands.add_parser("wasm-test", help="the crate's #[wasm_bindgen_test] tests in headless Chromium "
                                              "(wasm-bindgen-test-runner + chromedriver)")
    _add_manifest(p)
    p.add_argument("--profile", default="release", help="cargo profile (default: release, as the build)")
    p.add_argument("--no-install", action="store_true", help="fail instead of provisioning missing tools")
    p.add_argument("cargo_args", nargs="*", help="passed to cargo test (e.g. -- a_test_name)")
    p.set_defaults(func=cmd_wasm_test)

    from toolchain.pipeline import ipc_fuzz

    p = commands.add_parser("fuzz", help="the engine's IPC validator (ipc_guard.rs) natively under a seeded mutation "
                                         "fuzzer; non-zero exit when an input it accepts panics the decoder")
    p.add_argument("--manifest-path", type=Path, default=ipc_fuzz.DEFAULT_MANIFEST, help="the harness crate's Cargo.toml")
    p.add_argument("--seconds", type=float, default=ipc_fuzz.DEFAULT_SECONDS,
                   help=f"time budget (default: {ipc_fuzz.DEFAULT_SECONDS:g})")
    p.add_argument("--count", type=int, help="stop after this many inputs if the time budget lasts longer")
    p.add_argument("--seed", type=int, help="default: a random one (printed; the same seed makes the same inputs)")
    p.add_argument("--save", type=Path, default=ipc_fuzz.DEFAULT_SAVE_DIR,
                   help=f"where inputs that panic after validation are written (default: {ipc_fuzz.DEFAULT_SAVE_DIR})")
    p.add_argument("--no-save", action="store_true", help="do not write failing inputs")
    p.add_argument("--no-validate", action="store_true",
                   help="decode without the validator (must fail: shows the harness catches panics)")
    p.add_argument("--no-install", action="store_true", help="fail instead of provisioning a missing Rust")
    p.set_defaults(func=cmd_fuzz)

    p = commands.add_parser("check", help="run every check, or one: check NAME [options] (NAME --help for its options)")
    _add_check_parsers(p)

    p = commands.add_parser("toolchain-wheels", help="the wasm-bindgen CLI and wasm-opt as Python wheels "
                                                     "(for CI that installs its toolchain from a package index)")
    actions = p.add_subparsers(dest="action", required=True)
    b = actions.add_parser("build", help="build (or reuse from the tool cache) the toolchain wheels into --out")
    _add_manifest(b)
    b.add_argument("--out", type=Path, default=Path("artifacts") / "toolchain-wheels",
                   help="where the wheels and their manifest go (replaced atomically)")
    b.add_argument("--only", action="append", metavar="NAME",
                   help="build only this wheel (wasm-bindgen-cli, binaryen-wasm-opt); repeatable")
    b.set_defaults(func=cmd_toolchain_wheels)
    r = actions.add_parser("requirements", help="print the pinned pip requirements of the toolchain wheels")
    r.set_defaults(func=cmd_toolchain_wheel_requirements)

    p = commands.add_parser("size", help="print the size report of a built package")
    p.add_argument("package_dir", type=Path, nargs="?", default=build_module.DEFAULT_ARTIFACTS / "datafusion-wasm")
    p.set_defaults(func=cmd_size)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ToolchainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
