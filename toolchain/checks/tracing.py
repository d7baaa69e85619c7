"""tracing: the instrumentation crates build for native and for wasm32, and stay portable.

Instrumented analytics code runs in the browser only if its tracing library compiles for
wasm32-unknown-unknown without the native-only dependencies (transport, serialization, threads)
it uses on servers. Those are declared under `[target.'cfg(not(target_arch = "wasm32"))'...]`;
this check proves, for each crate listed in the crate's tracing list (policies.tracing; the engine's is
ci/wasm-tracing.toml; a crate without one has nothing to check):

  1. none of its native-only dependencies is in its wasm32 graph (default features off, as the
     browser build uses it), nothing outside its reviewed `wasm32-allowed` set, and nothing the
     gating policy forbids: each offender with the chain that brings it in and the feature that
     enabled it;
  2. it builds natively and for wasm32 (std from source when the toolchain needs it).
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolchain import checks
from toolchain.analysis import cargo_config, cargo_graph, config
from toolchain.analysis.cargo_lock import METADATA_TABLE
from toolchain.checks import Report, Violation, gating
from toolchain.core import cache, process
from toolchain.core.errors import ToolchainError
from toolchain.tools import rust

NAME = "tracing"
SUMMARY = "instrumentation crates: build native and wasm32, and no native-only dependency in their wasm32 graph"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crate",
        type=Path,
        action="append",
        help="an instrumentation crate (its Cargo.toml or directory) to check instead of the crate's list "
        "(repeatable; without a wasm32-allowed review)",
    )
    parser.add_argument(
        "--list",
        type=Path,
        help="crates to check (default: the crate's policies.tracing; none: nothing to check)",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        help="gating policy also applied to their wasm32 graphs "
        f"(default: the crate's policies.gating, else the toolchain's {gating.DEFAULT_POLICY.name})",
    )
    parser.add_argument("--no-build", action="store_true", help="only the dependency-graph part (no compilation)")


@dataclass(frozen=True)
class Options:
    crates: tuple[tuple[Path, frozenset[str] | None], ...]  # manifest, and its reviewed wasm32 graph (None: no list)
    policy: Path  # the gating policy
    no_build: bool = False
    listed_in: Path | None = None  # the list the crates came from, for messages
    owner: str = ""  # the crate whose list (policies.tracing) this is, for the "nothing to check" note


def options_from_args(args: argparse.Namespace, resolve: Callable[[], config.Config]) -> Options:
    """--crate: those crates, against --policy or the named crate's gating policy; else the list of the crate
    `check` names (its policies.tracing, or --list)."""
    policy = checks.given_policy("gating", args.policy)
    listing = checks.given_policy("tracing", args.list)
    if args.crate:
        crates = tuple((_manifest_of(c), None) for c in args.crate)
        if policy is not None:
            return Options(crates, policy, args.no_build)
        if args.manifest_path is None and not config.DEFAULT_MANIFEST.is_file():
            # no crate named and no engine here (an installed toolchain): the toolchain's rules
            return Options(crates, gating.DEFAULT_POLICY, args.no_build)
        return Options(crates, resolve().policies.gating, args.no_build)
    resolved = resolve()
    listing = listing or resolved.policies.tracing
    return Options(
        crates_listed_in(listing),
        policy or resolved.policies.gating,
        args.no_build,
        listing,
        resolved.crate.package_name,
    )


def options_for(resolved: config.Config) -> Options:
    return Options(
        crates_listed_in(resolved.policies.tracing),
        resolved.policies.gating,
        False,
        resolved.policies.tracing,
        resolved.crate.package_name,
    )


def _manifest_of(path: Path) -> Path:
    return path / "Cargo.toml" if path.is_dir() else path


@dataclass(frozen=True)
class CrateUnderCheck:
    manifest: Path
    name: str
    native_only: dict[str, str]  # dependency package name -> the target expression it is declared under
    allowed: frozenset[str] | None = None  # the reviewed wasm32 graph; None: no allowlist


def crates_listed_in(listing: Path | None) -> tuple[tuple[Path, frozenset[str] | None], ...]:
    """The [[crate]] entries of a tracing list; no list: nothing to check."""
    if listing is None:
        return ()
    if not listing.is_file():
        raise ToolchainError(
            f"no list of instrumentation crates at {listing}",
            'create it with [[crate]] manifest = "crates/<name>/Cargo.toml" entries, or pass --manifest-path',
        )
    try:
        entries = tomllib.loads(listing.read_text()).get("crate", [])
    except tomllib.TOMLDecodeError as exc:
        raise ToolchainError(f"{listing} is not valid TOML: {exc}", "fix its syntax") from exc
    crates = []
    for i, entry in enumerate(entries):
        if not isinstance(entry.get("manifest"), str):
            raise ToolchainError(
                f"{listing}: [[crate]] entry {i + 1} has no manifest", 'add manifest = "path/Cargo.toml"'
            )
        allowed = entry.get("wasm32-allowed")
        if allowed is not None and (not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed)):
            raise ToolchainError(
                f"{listing}: [[crate]] entry {i + 1}: wasm32-allowed must be a list of crate names",
                'e.g. wasm32-allowed = ["js-sys", "wasm-bindgen"]',
            )
        manifest = Path(entry["manifest"])
        # Paths are relative to the repository root: the list lives in <root>/ci/.
        crates.append(
            (
                manifest if manifest.is_absolute() else listing.resolve().parent.parent / manifest,
                frozenset(allowed) if allowed is not None else None,
            )
        )
    return tuple(crates)


def read_crate(manifest: Path, target_cfg: list[str], allowed: frozenset[str] | None = None) -> CrateUnderCheck:
    """The crate's name and its native-only dependencies: those under a target that is not wasm32."""
    if not manifest.is_file():
        raise ToolchainError(f"no Cargo.toml at {manifest}", "fix the path (in the tracing list, or --crate)")
    data = tomllib.loads(manifest.read_text())
    native_only: dict[str, str] = {}
    for target, tables in data.get("target", {}).items():
        applies = cargo_graph.applies_to_wasm(target, target_cfg)
        if applies:
            continue
        for name, spec in tables.get("dependencies", {}).items():
            package = spec.get("package", name) if isinstance(spec, dict) else name
            native_only[package] = target
    return CrateUnderCheck(manifest, data.get("package", {}).get("name", manifest.parent.name), native_only, allowed)


def graph_violations(
    crate: CrateUnderCheck, metadata: dict, policy: gating.Policy, context: gating.Context, target_cfg: list[str]
) -> tuple[list[Violation], list[str]]:
    graph = cargo_graph.graph_from_metadata(metadata, target_cfg)
    resolution = cargo_graph.resolve_for_wasm(graph, [], True)
    violations = []
    on = {graph.packages[p].name: p for p in resolution.wasm_packages()}

    def offender(package_id: str, problem: str, fix: str, fix_first: bool) -> Violation:
        gates, unconditional = cargo_graph.gates_of(resolution, package_id)
        suggested = cargo_graph.suggested_fixes(resolution, gates, unconditional, str(crate.manifest))
        return Violation(
            subject=graph.packages[package_id].label,
            problem=f"{problem}, enabled by {cargo_graph.describe_gates(resolution, gates, unconditional)}",
            chain=cargo_graph.chain_of(resolution, cargo_graph.path_to(resolution, ("pkg", package_id))),
            fix="; ".join([fix, *suggested] if fix_first else suggested or [fix]),
        )

    native_only_fix = "declare it only under [target.'cfg(not(target_arch = \"wasm32\"))'.dependencies]"
    for name, target in sorted(crate.native_only.items()):
        if name in on:
            violations.append(
                offender(
                    on[name],
                    f"declared native-only in {crate.name} ([target.'{target}'.dependencies]) but in its wasm32 graph",
                    native_only_fix,
                    False,
                )
            )
    if crate.allowed is not None:
        for name in sorted(set(on) - crate.allowed - set(crate.native_only)):
            violations.append(
                offender(
                    on[name],
                    f"not among the reviewed wasm32 dependencies of {crate.name} (wasm32-allowed in the tracing list)",
                    f"if {name} is portable (no threads, files, sockets or C), add it to wasm32-allowed; otherwise "
                    + native_only_fix,
                    True,
                )
            )
    policy_report = gating.analyse(metadata, policy, [], True, context)
    violations += policy_report.violations
    notes = [
        f"{crate.name}: {len(resolution.wasm_packages())} packages in the wasm32 graph (default features off); "
        f"native-only: {', '.join(sorted(crate.native_only)) or 'none declared'}"
    ]
    return violations, notes


def build(toolchain: rust.RustToolchain, crate: CrateUnderCheck, wasm: bool) -> Violation | None:
    """cargo build of the crate's library, natively or for wasm32; a violation with the errors if it fails."""
    target_dir = cache.cache_root() / "cargo-target" / f"{crate.name}-check"
    argv = [str(toolchain.cargo), "build", "--locked", "--lib", "--manifest-path", str(crate.manifest)]
    if wasm:
        argv += ["--target", rust.WASM_TARGET, "--no-default-features", *toolchain.cargo_flags]
    env = {**toolchain.env, "CARGO_TARGET_DIR": str(target_dir)}
    # The native build must work on a stable compiler as is.
    unset = () if wasm else ("RUSTC_BOOTSTRAP",)
    if not wasm:
        env.pop("RUSTC_BOOTSTRAP", None)
    result = process.run(argv, env=env, unset=unset, capture=True, check=False)
    if result.returncode == 0:
        return None
    errors = [line for line in result.stderr.splitlines() if line.startswith(("error", "  -->"))][:12]
    where = f"for {rust.WASM_TARGET} (default features off)" if wasm else "natively"
    return Violation(
        subject=crate.name,
        problem=f"does not build {where} (cargo exit {result.returncode})",
        chain=errors or result.stderr.strip().splitlines()[-12:],
        fix=(
            'gate the code or dependency that fails behind cfg(not(target_arch = "wasm32")), keeping the '
            "EventSink signature the same on both targets"
            if wasm
            else "fix the compile errors above"
        ),
    )


def run(options: Options) -> Report:
    crates = options.crates
    if not crates:
        whose = f"{options.owner} has no" if options.owner else "no"
        return Report(
            NAME,
            "no instrumentation crates",
            notes=[
                f"nothing to check: {whose} list of instrumentation crates "
                + (f"(the list {options.listed_in} is empty)" if options.listed_in else "(no policies.tracing)")
                + f'; to check some, name a list with tracing = "FILE" in [package.metadata.{METADATA_TABLE}.policies] '
                '(FILE: [[crate]] manifest = "path/Cargo.toml" entries), or pass --list FILE or --crate PATH'
            ],
        )
    toolchain = rust.find_toolchain()
    target_cfg = cargo_graph.wasm_target_cfg(toolchain)
    policy = gating.load_policy(options.policy)
    report = Report(NAME, ", ".join(str(m) for m, _ in crates))
    for manifest, allowed in crates:
        crate = read_crate(manifest, target_cfg, allowed)
        metadata = cargo_graph.cargo_metadata(toolchain, manifest, [], True)
        context = gating.Context(
            str(manifest),
            cargo_config.wasm_rustflags(Path.cwd(), {**os.environ, **toolchain.env}, target_cfg),
            target_cfg,
        )
        violations, notes = graph_violations(crate, metadata, policy, context, target_cfg)
        report.violations += violations
        report.notes += notes
        if not options.no_build:
            for wasm in (False, True):
                failure = build(toolchain, crate, wasm)
                if failure:
                    report.violations.append(failure)
            report.notes.append(
                f"{crate.name}: built natively and for {rust.WASM_TARGET}"
                if not any(v.subject == crate.name for v in report.violations)
                else f"{crate.name}: build failed"
            )
    report.data = {"crates": [str(m) for m, _ in crates]}
    return report
