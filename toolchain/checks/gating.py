"""gating: no native-only crate or feature in the wasm32 graph; every browser backend switched on.

A crate that needs a C standard library (libz-sys), OS threads or sockets (tokio's
rt-multi-thread, mio) either breaks the wasm32 build far into it or, worse, builds and fails in the
page. A crate with a browser backend behind a feature (getrandom's `js` / `wasm_js`, chrono's
`wasmbind`, uuid's `js`) compiles or panics without it. The policy names both: the crate's own
(policies.gating; it may `extends = "default"` and add its own choices, as the engine's
ci/wasm-gating.toml keeps zstd, parquet and psm out), else the packaged general one
(analysis/policies/wasm-gating.toml). This check resolves the crate's dependency graph for
wasm32-unknown-unknown with the features the build uses, without compiling anything, and prints
for each violation the chain from the root crate and the feature that switched the offender on.

Why the check resolves features itself: `cargo metadata` gives the package graph for the target
(`--filter-platform`) but its per-package features are unified across host and target, dev- and
build-dependencies (it predates resolver 2; see RFC 2957, "cargo metadata"). The check replays
cargo's feature activation from the root over normal dependencies only, as resolver 2 does for a
`cargo build --lib --target wasm32-unknown-unknown`: build-dependencies and proc-macros run on the
host, and their subgraphs are not in the module. Recording *why* each package and feature got
switched on is what lets the report name the chain and the feature.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from toolchain import checks
from toolchain.analysis import cargo_lock, config
from toolchain.analysis.cargo_config import RustFlags, wasm_rustflags
from toolchain.analysis.cargo_graph import (
    EVERY_VERSION,
    Gate,
    Package,
    Resolution,
    VersionRange,
    cargo_metadata,
    chain_of,
    describe_gates,
    describe_request,
    gates_of,
    graph_from_metadata,
    path_to,
    requests_for,
    resolve_for_wasm,
    split_features,
    suggested_fixes,
    wasm_target_cfg,
)
from toolchain.analysis.cargo_lock import METADATA_TABLE
from toolchain.checks import Report, Violation
from toolchain.core.errors import ToolchainError
from toolchain.tools import rust

NAME = "gating"
SUMMARY = "dependency graph for wasm32: no forbidden crate or feature, every required browser backend on"
DEFAULT_POLICY = config.PACKAGED_GATING_POLICY  # analysis/policies/wasm-gating.toml
POLICY_FORMAT_HINT = f"see the comment at the top of {DEFAULT_POLICY} (the default policy) for the format"


# ---------------------------------------------------------------- policy


@dataclass(frozen=True)
class Forbidden:
    crate: str
    features: tuple[str, ...]  # empty: the crate itself is forbidden
    versions: VersionRange
    why: str
    fix: str
    source: str  # "policy file:forbid[n]", for messages


@dataclass(frozen=True)
class Required:
    crate: str
    versions: VersionRange
    has_versions: bool  # the rule names a range (so versions it does not cover need a rule)
    when_features: tuple[str, ...]
    features: tuple[str, ...]
    one_of: tuple[str, ...]
    cfg: tuple[str, str] | None  # ("getrandom_backend", "wasm_js")
    cfg_required: bool
    why: str
    fix: str
    source: str


@dataclass(frozen=True)
class Policy:
    forbidden: tuple[Forbidden, ...]
    required: tuple[Required, ...]
    path: str
    extends: tuple[str, ...] = ()  # the policies whose rules come first, nearest first


_FORBID_KEYS = {"crate", "features", "versions", "why", "fix"}
_REQUIRE_KEYS = {"crate", "versions", "when_features", "features", "one_of", "cfg", "cfg_required", "why", "fix"}
_CFG = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*$')


def load_policy(path: Path, _inside: tuple[Path, ...] = ()) -> Policy:
    """The policy in a file, after the rules of the policy it `extends` ("default": the toolchain's packaged
    one; else a file relative to this one)."""
    if not path.is_file():
        raise ToolchainError(
            f"no gating policy at {path}",
            "fix the path, or leave --policy out for the crate's own (policies.gating) or the default",
        )
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ToolchainError(f"{path} is not valid TOML: {exc}", f"fix the syntax; {POLICY_FORMAT_HINT}") from exc
    base = None
    if "extends" in data:
        extends = data["extends"]
        if not isinstance(extends, str) or not extends.strip():
            raise ToolchainError(
                f'{path}: `extends` must be a file name or "default", not {extends!r}',
                f'write extends = "default" for the toolchain\'s {DEFAULT_POLICY.name}, or a path relative to '
                f"{path.parent}",
            )
        parent = DEFAULT_POLICY if extends == "default" else path.parent / extends
        chain = (*_inside, path.resolve())
        if parent.resolve() in chain:
            raise ToolchainError(
                f"{path}: `extends` goes round in a circle ({' -> '.join(str(p) for p in (*chain, parent.resolve()))})",
                'let one of them extend nothing, or "default"',
            )
        base = load_policy(parent, chain)
    return parse_policy(data, str(path), base)


def parse_policy(data: dict, path: str, base: Policy | None = None) -> Policy:
    """The policy from parsed TOML, after `base`'s rules (the policy it extends); a ToolchainError naming the
    entry and key for anything malformed."""
    unknown = set(data) - {"forbid", "require", "extends"}
    if unknown:
        raise ToolchainError(
            f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}",
            f"the policy has `extends`, [[forbid]] and [[require]] entries only; {POLICY_FORMAT_HINT}",
        )
    forbidden = tuple(
        _parse_forbid(entry, f"{path}:forbid[{i + 1}]") for i, entry in enumerate(_entries(data, "forbid", path))
    )
    required = tuple(
        _parse_require(entry, f"{path}:require[{i + 1}]") for i, entry in enumerate(_entries(data, "require", path))
    )
    if base is None:
        return Policy(forbidden, required, path)
    return Policy(base.forbidden + forbidden, base.required + required, path, (base.path, *base.extends))


def _entries(data: dict, key: str, path: str) -> list[dict]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ToolchainError(f"{path}: `{key}` must be an array of tables ([[{key}]])", POLICY_FORMAT_HINT)
    return entries


def _check_keys(entry: dict, allowed: set[str], where: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise ToolchainError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
            f"allowed keys: {', '.join(sorted(allowed))}; {POLICY_FORMAT_HINT}",
        )


def _text(entry: dict, key: str, where: str, required: bool) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ToolchainError(
            f"{where}: `{key}` must be a non-empty string" if required else f"{where}: `{key}` must be a string",
            POLICY_FORMAT_HINT,
        )
    return value.strip()


def _names(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ToolchainError(
            f'{where}: `{key}` must be a list of feature names, e.g. {key} = ["js"]', POLICY_FORMAT_HINT
        )
    return tuple(value)


def _versions(entry: dict, where: str) -> VersionRange:
    if "versions" not in entry:
        return EVERY_VERSION
    try:
        return VersionRange.parse(_text(entry, "versions", where, required=True))
    except ValueError as exc:
        raise ToolchainError(f"{where}: bad `versions`: {exc}", 'write comparators such as ">=0.3.0, <0.3.4"') from exc


def _parse_forbid(entry: dict, where: str) -> Forbidden:
    _check_keys(entry, _FORBID_KEYS, where)
    return Forbidden(
        _text(entry, "crate", where, True),
        _names(entry, "features", where),
        _versions(entry, where),
        _text(entry, "why", where, True),
        _text(entry, "fix", where, False),
        where,
    )


def _parse_require(entry: dict, where: str) -> Required:
    _check_keys(entry, _REQUIRE_KEYS, where)
    cfg = None
    if "cfg" in entry:
        match = _CFG.match(_text(entry, "cfg", where, True))
        if not match:
            raise ToolchainError(
                f'{where}: `cfg` must look like name="value", got {entry["cfg"]!r}',
                "e.g. cfg = 'getrandom_backend=\"wasm_js\"'",
            )
        cfg = (match.group(1), match.group(2))
    cfg_required = entry.get("cfg_required", True)
    if not isinstance(cfg_required, bool):
        raise ToolchainError(f"{where}: `cfg_required` must be true or false", POLICY_FORMAT_HINT)
    features, one_of = _names(entry, "features", where), _names(entry, "one_of", where)
    if not features and not one_of and cfg is None:
        raise ToolchainError(f"{where}: the rule requires nothing", "give it `features`, `one_of` or `cfg`")
    return Required(
        _text(entry, "crate", where, True),
        _versions(entry, where),
        "versions" in entry,
        _names(entry, "when_features", where),
        features,
        one_of,
        cfg,
        cfg_required,
        _text(entry, "why", where, True),
        _text(entry, "fix", where, False),
        where,
    )


# ---------------------------------------------------------------- the policy against the graph


@dataclass
class Context:
    """What the evaluation needs besides the graph: names for messages and the rustflags."""

    manifest: str
    rustflags: RustFlags
    target_cfg: list[str]  # `rustc --print cfg --target wasm32-unknown-unknown`, one line each


def check_forbidden(resolution: Resolution, policy: Policy, context: Context) -> list[Violation]:
    violations = []
    packages = resolution.graph.packages
    for package_id in resolution.wasm_packages():
        package = packages[package_id]
        for rule in policy.forbidden:
            if rule.crate != package.name or not rule.versions.contains(package.version):
                continue
            if not rule.features:
                violations.append(_forbidden_crate(resolution, package, rule, context))
            for feature in rule.features:
                if resolution.is_on(("feat", package_id, feature)):
                    violations.append(_forbidden_feature(resolution, package, feature, rule, context))
    return violations


def _forbidden_crate(resolution: Resolution, package: Package, rule: Forbidden, context: Context) -> Violation:
    gates, unconditional = gates_of(resolution, package.id)
    enabled_by = describe_gates(resolution, gates, unconditional)
    fixes = suggested_fixes(resolution, gates, unconditional, context.manifest)
    return Violation(
        subject=package.label,
        problem=f"forbidden on wasm32: {rule.why}. Enabled by {enabled_by}",
        chain=chain_of(resolution, path_to(resolution, ("pkg", package.id))),
        fix=_join_fix(rule.fix, fixes, _own_policy(package.name, rule, context)),
    )


def _forbidden_feature(
    resolution: Resolution, package: Package, feature: str, rule: Forbidden, context: Context
) -> Violation:
    requests = requests_for(resolution, package.id, feature)
    who = "; ".join(describe_request(resolution, package.id, r) for r in requests)
    gate = Gate(package.id, feature, package.id)
    fixes = suggested_fixes(resolution, [gate], False, context.manifest)
    return Violation(
        subject=f'{package.label} feature "{feature}"',
        problem=f"forbidden on wasm32: {rule.why}. Requested by: {who}",
        chain=chain_of(resolution, path_to(resolution, ("feat", package.id, feature))),
        fix=_join_fix(rule.fix, fixes, _own_policy(f'{package.name}\'s "{feature}"', rule, context)),
    )


def _join_fix(policy_fix: str, fixes: list[str], own_policy: str = "") -> str:
    here = ("here: " + "; or ".join(fixes)) if fixes else ""
    return ". ".join(t.rstrip(".") for t in (policy_fix, here, own_policy) if t)


def _own_policy(what: str, rule: Forbidden, context: Context) -> str:
    """The other way out: a rule is a policy's choice, and a crate that needs what it forbids (and makes it
    work on wasm32) says so in a gating policy of its own."""
    return (
        f"or, if {what} belongs in this module, check the crate against a gating policy of its own without "
        f'the rule {rule.source}: a TOML file (a copy of that policy less the rule; `extends = "default"` takes '
        f'the toolchain\'s rules) named by gating = "FILE" in [package.metadata.{METADATA_TABLE}.policies] of '
        f"{context.manifest}, or given to `check gating --policy FILE`"
    )


@dataclass
class Finding:
    """One required-rule evaluation on one package, for the notes and the JSON summary."""

    package: str
    rule: str
    applies: bool
    ok: bool
    checks: list[str]


def check_required(resolution: Resolution, policy: Policy, context: Context) -> tuple[list[Violation], list[Finding]]:
    violations, findings = [], []
    packages = resolution.graph.packages
    cfgs = context.rustflags.cfgs()
    for package_id in resolution.wasm_packages():
        package = packages[package_id]
        rules = [r for r in policy.required if r.crate == package.name]
        if not rules:
            continue
        matching = [r for r in rules if r.versions.contains(package.version)]
        if not matching and all(r.has_versions for r in rules):
            ranges = ", ".join(r.versions.text for r in rules)
            violations.append(
                Violation(
                    package.label,
                    f"no rule in {policy.path} covers this version (rules cover: {ranges}), so its "
                    "browser backend cannot be checked",
                    chain_of(resolution, path_to(resolution, ("pkg", package_id))),
                    f"find out what {package.name} {package.version} needs on wasm32-unknown-unknown and add a "
                    f"[[require]] rule for its version range to {policy.path}",
                )
            )
        on = resolution.features_of(package_id)
        for rule in matching:
            finding, problems = _evaluate_rule(rule, package, on, cfgs)
            findings.append(finding)
            if problems:
                violations.append(
                    Violation(
                        package.label,
                        f"is in the wasm32 graph without its browser backend: {'; '.join(problems)} "
                        f"(rule {rule.crate} {rule.versions.text}). {rule.why}",
                        chain_of(resolution, path_to(resolution, ("pkg", package_id))),
                        _fill(rule.fix, package, context, resolution),
                    )
                )
    return violations, findings


def _evaluate_rule(rule: Required, package: Package, on: set[str], cfgs: dict[str, list]) -> tuple[Finding, list[str]]:
    """The rule on one package's features and the rustflags: (what was checked, what is missing)."""
    label = f"{rule.crate} {rule.versions.text}"
    if rule.when_features and not on.intersection(rule.when_features):
        return Finding(
            package.label, label, False, True, [f"not needed: none of {', '.join(rule.when_features)} is on"]
        ), []
    checks, problems = [], []
    for feature in rule.features:
        checks.append(f"{feature} {'✓' if feature in on else '✗'}")
        if feature not in on:
            problems.append(f'feature "{feature}" is off')
    if rule.one_of:
        chosen = [f for f in rule.one_of if f in on]
        checks.append(f"{' or '.join(rule.one_of)} {'✓ (' + chosen[0] + ')' if chosen else '✗'}")
        if not chosen:
            problems.append(f"none of the features {', '.join(rule.one_of)} is on")
    if rule.cfg:
        name, value = rule.cfg
        set_values = cfgs.get(name, [])
        wanted = f'{name}="{value}"'
        if rule.cfg_required:
            checks.append(f"cfg {wanted} {'✓' if value in set_values else '✗'}")
            if value not in set_values:
                problems.append(
                    f"the wasm32 rustflags lack --cfg {wanted} (this version needs it as well as the feature)"
                )
        else:
            others = [v for v in set_values if v != value]
            if others:
                checks.append(f"cfg {name}={others[0]!r} overrides ✗")
                problems.append(f'the wasm32 rustflags set --cfg {name}="{others[0]}", which overrides the feature')
            else:
                checks.append(f"no cfg needed{' (set: ✓)' if set_values else ''}")
    return Finding(package.label, label, True, not problems, checks), problems


def _fill(template: str, package: Package, context: Context, resolution: Resolution) -> str:
    root = resolution.graph.packages[resolution.graph.root]
    replacements = {
        "{crate}": package.name,
        "{version}": package.version,
        "{manifest}": context.manifest,
        "{root}": root.label,
    }
    for placeholder, value in replacements.items():
        template = template.replace(placeholder, value)
    return template


# ---------------------------------------------------------------- the report


def analyse(metadata: dict, policy: Policy, features: list[str], no_default_features: bool, context: Context) -> Report:
    """Pure: the policy against a `cargo metadata` document (no cargo, no files)."""
    graph = graph_from_metadata(metadata, context.target_cfg)
    resolution = resolve_for_wasm(graph, features, no_default_features)
    forbidden = check_forbidden(resolution, policy, context)
    required, findings = check_required(resolution, policy, context)
    report = Report(NAME, context.manifest, forbidden + required)
    wasm, host = resolution.wasm_packages(), resolution.host_packages()
    report.notes.append(
        f"{len(wasm)} packages in the wasm32 graph of {graph.packages[graph.root].label} "
        f"({_feature_selection(features, no_default_features)}); {len(host)} "
        f"{'proc-macro runs' if len(host) == 1 else 'proc-macros run'} on the host, not checked"
    )
    applied = [f for f in findings if f.applies]
    if applied:
        report.notes.append(
            "backends: " + "; ".join(f"{f.package} ({', '.join(f.checks)}) [rule {f.rule}]" for f in applied)
        )
    skipped = [f for f in findings if not f.applies]
    if skipped:
        report.notes.append("not needed: " + "; ".join(f"{f.package} ({f.checks[0]})" for f in skipped))
    report.notes.append(
        f"policy: {policy.path}" + (f" (extends {' <- '.join(policy.extends)})" if policy.extends else "")
    )
    flags = context.rustflags
    report.notes.append(
        f"wasm32 rustflags: {' '.join(flags.flags)}  [from {flags.source}]"
        if flags.flags
        else f"wasm32 rustflags: none ({flags.source})"
    )
    outside = _policy_crates_outside(resolution, policy)
    if outside:
        report.notes.append(
            "in Cargo.lock but not built into the module (host-only, dev-only or other targets): " + ", ".join(outside)
        )
    report.data = {
        "root": graph.packages[graph.root].label,
        "policy": [policy.path, *policy.extends],
        "features": features,
        "no_default_features": no_default_features,
        "wasm32_packages": len(wasm),
        "host_proc_macros": len(host),
        "packages": sorted(graph.packages[p].label for p in wasm),
        "backends": [asdict(f) for f in findings],
        "rustflags": {"flags": list(context.rustflags.flags), "source": context.rustflags.source},
        "violations": [{"subject": v.subject, "chain": v.chain} for v in forbidden + required],
    }
    return report


def _feature_selection(features: list[str], no_default_features: bool) -> str:
    parts = ["no default features" if no_default_features else "default features"]
    if features:
        parts.append("--features " + ",".join(features))
    return ", ".join(parts)


def _policy_crates_outside(resolution: Resolution, policy: Policy) -> list[str]:
    named = {r.crate for r in policy.forbidden} | {r.crate for r in policy.required}
    inside = set(resolution.wasm_packages())
    return sorted(p.label for pid, p in resolution.graph.packages.items() if p.name in named and pid not in inside)


# ---------------------------------------------------------------- running it


@dataclass(frozen=True)
class Options:
    manifest_path: Path  # the crate built for wasm32
    policy: Path
    features: tuple[str, ...] = ()
    no_default_features: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        type=Path,
        help="TOML file of forbidden and required crates/features (default: the "
        f"crate's policies.gating, else the toolchain's {DEFAULT_POLICY.name})",
    )


def options_from_args(args: argparse.Namespace, resolve: Callable[[], config.Config]) -> Options:
    """The crate `check` names (--manifest-path, --package, --features: resolve()), with --policy over its own."""
    given = checks.given_policy("gating", args.policy)
    _, member = cargo_lock.select_member(args.manifest_path or config.DEFAULT_MANIFEST, args.package)
    if member.cdylib is None:
        # A library that wasm crates depend on: no module of its own to build (so no configuration to resolve),
        # and still a wasm32 graph to check, against its own policy
        policy = given or config.resolve_policies(member.manifest_path).gating
        return Options(member.manifest_path, policy, tuple(split_features(args.features)), args.no_default_features)
    options = options_for(resolve())
    return replace(options, policy=given) if given else options


def options_for(resolved: config.Config) -> Options:
    """The options `check` and `release` use: the crate, features and policy the build was configured with."""
    return Options(
        resolved.crate.manifest_path,
        resolved.policies.gating,
        tuple(resolved.build.cargo_features),
        resolved.build.no_default_features,
    )


def _unread_crate_config(manifest: Path, cwd: Path) -> Path | None:
    """A .cargo/config.toml beside the crate that cargo will not read when run from cwd."""
    for directory in [manifest.parent, *manifest.parent.parents]:
        if directory == cwd or directory in cwd.parents:
            return None
        for name in ("config.toml", "config"):
            if (directory / ".cargo" / name).is_file():
                return directory / ".cargo" / name
    return None


def run(options: Options) -> Report:
    policy = load_policy(options.policy)
    manifest = options.manifest_path
    features = list(options.features)
    toolchain = rust.find_toolchain()
    metadata = cargo_metadata(toolchain, manifest, features, options.no_default_features)
    cwd = Path.cwd()
    environ = {**os.environ, **toolchain.env}
    target_cfg = wasm_target_cfg(toolchain)
    context = Context(str(manifest), wasm_rustflags(cwd, environ, target_cfg), target_cfg)
    report = analyse(metadata, policy, features, options.no_default_features, context)
    unread = _unread_crate_config(manifest.resolve(), cwd)
    if unread:
        report.notes.append(
            f"{unread} is not read: cargo takes its config from the directory it runs in ({cwd}) "
            "and its parents, not from the crate's; put wasm32 rustflags there"
        )
    return report
