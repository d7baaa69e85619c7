"""gating: no native-only crate or feature in the wasm32 graph; every browser backend switched on.

A crate that needs a C library (zstd-sys, libz-sys), OS threads or sockets (tokio's
rt-multi-thread, mio), or assembly (psm) either breaks the wasm32 build far into it or, worse,
builds and fails in the page. A crate with a browser backend behind a feature (getrandom's `js` /
`wasm_js`, chrono's `wasmbind`, uuid's `js`) compiles or panics without it. The policy
(ci/wasm-gating.toml) names both; this check resolves the crate's dependency graph for
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
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toolchain import build as build_module
from toolchain import process, rust
from toolchain.checks import Report, Violation
from toolchain.errors import ToolchainError

NAME = "gating"
SUMMARY = "dependency graph for wasm32: no forbidden crate or feature, every required browser backend on"
DEFAULT_POLICY = Path("ci/wasm-gating.toml")
POLICY_FORMAT_HINT = "see the comment at the top of ci/wasm-gating.toml for the format"


# ---------------------------------------------------------------- versions


def parse_version(text: str) -> tuple:
    """A comparable key for a semver version: "2.1.2+zstd.1.5.7" -> (2, 1, 2, 1, ""), pre-releases first."""
    core = text.strip().split("+", 1)[0]
    core, _, pre = core.partition("-")
    parts = core.split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a version: {text!r}")
    numbers = [int(p) for p in parts] + [0] * (3 - len(parts))
    return (*numbers, 0 if pre else 1, pre)


_COMPARATOR = re.compile(r"^\s*(>=|<=|>|<|=)?\s*([0-9][0-9A-Za-z.+-]*)\s*$")
_COMPARE = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    "<": lambda a, b: a < b, "=": lambda a, b: a == b,
}


@dataclass(frozen=True)
class VersionRange:
    """Comma-separated comparators, all of which must hold: ">=0.3.0, <0.3.4". "*" is every version."""

    text: str
    comparators: tuple[tuple[str, tuple], ...]

    @classmethod
    def parse(cls, text: str) -> "VersionRange":
        if text.strip() == "*":
            return cls("*", ())
        comparators = []
        for part in text.split(","):
            match = _COMPARATOR.match(part)
            if not match:
                raise ValueError(f"bad comparator {part.strip()!r} (use >=, >, <=, < or = and a version)")
            comparators.append((match.group(1) or "=", parse_version(match.group(2))))
        return cls(text.strip(), tuple(comparators))

    def contains(self, version: str) -> bool:
        key = parse_version(version)
        return all(_COMPARE[op](key, bound) for op, bound in self.comparators)


EVERY_VERSION = VersionRange("*", ())


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


_FORBID_KEYS = {"crate", "features", "versions", "why", "fix"}
_REQUIRE_KEYS = {"crate", "versions", "when_features", "features", "one_of", "cfg", "cfg_required", "why", "fix"}
_CFG = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*$')


def load_policy(path: Path) -> Policy:
    if not path.is_file():
        raise ToolchainError(f"no gating policy at {path}",
                             f"run from the repository root (the default is {DEFAULT_POLICY}) or pass --policy FILE")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ToolchainError(f"{path} is not valid TOML: {exc}", f"fix the syntax; {POLICY_FORMAT_HINT}") from exc
    return parse_policy(data, str(path))


def parse_policy(data: dict, path: str) -> Policy:
    """The policy from parsed TOML; a ToolchainError naming the entry and key for anything malformed."""
    unknown = set(data) - {"forbid", "require"}
    if unknown:
        raise ToolchainError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}",
                             f"the policy has [[forbid]] and [[require]] entries only; {POLICY_FORMAT_HINT}")
    forbidden = tuple(_parse_forbid(entry, f"{path}:forbid[{i + 1}]")
                      for i, entry in enumerate(_entries(data, "forbid", path)))
    required = tuple(_parse_require(entry, f"{path}:require[{i + 1}]")
                     for i, entry in enumerate(_entries(data, "require", path)))
    return Policy(forbidden, required, path)


def _entries(data: dict, key: str, path: str) -> list[dict]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ToolchainError(f"{path}: `{key}` must be an array of tables ([[{key}]])", POLICY_FORMAT_HINT)
    return entries


def _check_keys(entry: dict, allowed: set[str], where: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise ToolchainError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                             f"allowed keys: {', '.join(sorted(allowed))}; {POLICY_FORMAT_HINT}")


def _text(entry: dict, key: str, where: str, required: bool) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ToolchainError(f"{where}: `{key}` must be a non-empty string" if required else f"{where}: `{key}` must be a string",
                             POLICY_FORMAT_HINT)
    return value.strip()


def _names(entry: dict, key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ToolchainError(f"{where}: `{key}` must be a list of feature names, e.g. {key} = [\"js\"]", POLICY_FORMAT_HINT)
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
    return Forbidden(_text(entry, "crate", where, True), _names(entry, "features", where), _versions(entry, where),
                     _text(entry, "why", where, True), _text(entry, "fix", where, False), where)


def _parse_require(entry: dict, where: str) -> Required:
    _check_keys(entry, _REQUIRE_KEYS, where)
    cfg = None
    if "cfg" in entry:
        match = _CFG.match(_text(entry, "cfg", where, True))
        if not match:
            raise ToolchainError(f"{where}: `cfg` must look like name=\"value\", got {entry['cfg']!r}",
                                 "e.g. cfg = 'getrandom_backend=\"wasm_js\"'")
        cfg = (match.group(1), match.group(2))
    cfg_required = entry.get("cfg_required", True)
    if not isinstance(cfg_required, bool):
        raise ToolchainError(f"{where}: `cfg_required` must be true or false", POLICY_FORMAT_HINT)
    features, one_of = _names(entry, "features", where), _names(entry, "one_of", where)
    if not features and not one_of and cfg is None:
        raise ToolchainError(f"{where}: the rule requires nothing", "give it `features`, `one_of` or `cfg`")
    return Required(_text(entry, "crate", where, True), _versions(entry, where), "versions" in entry,
                    _names(entry, "when_features", where), features, one_of, cfg, cfg_required,
                    _text(entry, "why", where, True), _text(entry, "fix", where, False), where)


# ---------------------------------------------------------------- the package graph (cargo metadata)


@dataclass(frozen=True)
class Package:
    id: str
    name: str
    version: str
    features: dict[str, list[str]]  # the package's [features] table, implicit dep features included
    proc_macro: bool
    manifest_path: str

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class Dependency:
    """One declaration, in `owner`'s manifest, of a normal dependency that applies on wasm32."""

    key: str  # the name features refer to it by: the rename, else the package name
    package: str  # the resolved package id
    optional: bool
    default_features: bool
    features: tuple[str, ...]


@dataclass
class Graph:
    root: str
    packages: dict[str, Package]
    dependencies: dict[str, list[Dependency]]  # owner id -> its normal wasm32 dependencies

    def by_key(self, owner: str, key: str) -> list[Dependency]:
        return [d for d in self.dependencies.get(owner, []) if d.key == key]


def graph_from_metadata(metadata: dict, target_cfg: list[str]) -> Graph:
    """The resolved graph of `cargo metadata --filter-platform wasm32-unknown-unknown`, normal deps only.

    --filter-platform drops the edges that do not apply to wasm32, but an edge that applies keeps
    all its (kind, target) pairs: datafusion-execution's tokio is both `[dependencies]` and
    `[target.'cfg(not(target_arch = "wasm32"))'.dependencies]` with `fs`. So each declaration's
    target is evaluated against the target's cfg (`rustc --print cfg`). Dev- and build-dependencies
    are dropped.
    """
    resolve = metadata.get("resolve") or {}
    root = resolve.get("root")
    if not root:
        raise ToolchainError("cargo metadata found no root package (is the manifest a virtual workspace?)",
                             "pass --manifest-path pointing at the Cargo.toml of the crate that is built for wasm32")
    raw_packages = {p["id"]: p for p in metadata["packages"]}
    packages = {pid: _package(p) for pid, p in raw_packages.items()}
    dependencies: dict[str, list[Dependency]] = {}
    for node in resolve["nodes"]:
        owner = raw_packages[node["id"]]
        declared = []
        for edge in node.get("deps", []):
            kinds = {(k.get("kind"), k.get("target")) for k in edge.get("dep_kinds", [])
                     if applies_to_wasm(k.get("target"), target_cfg)}
            if not any(kind is None for kind, _ in kinds):
                continue  # dev- or build-dependency only
            declared += _declarations(owner, edge, kinds, packages[edge["pkg"]])
        dependencies[node["id"]] = declared
    return Graph(root, packages, dependencies)


def applies_to_wasm(target: str | None, target_cfg: list[str]) -> bool:
    """Whether a `[target.X.dependencies]` key (a triple or a cfg expression) selects wasm32."""
    if target is None:
        return True
    if target.startswith("cfg("):
        return cfg_matches(target, target_cfg)
    return target == rust.WASM_TARGET


def _package(raw: dict) -> Package:
    proc_macro = any("proc-macro" in t.get("kind", []) for t in raw.get("targets", []))
    return Package(raw["id"], raw["name"], raw["version"], raw.get("features", {}), proc_macro,
                   raw.get("manifest_path", ""))


def _declarations(owner: dict, edge: dict, kinds: set, target: Package) -> list[Dependency]:
    candidates = [d for d in owner.get("dependencies", [])
                  if d["name"] == target.name and d.get("kind") is None and (None, d.get("target")) in kinds]
    # Two versions of one package (e.g. getrandom 0.2 and a renamed 0.3): the extern name tells them apart.
    named = [d for d in candidates if (d.get("rename") or d["name"]).replace("-", "_") == edge["name"]]
    if named:
        candidates = named
    elif len({d.get("rename") for d in candidates}) > 1:
        candidates = [d for d in candidates if not d.get("rename")]  # lib name differs from the package name
    return [Dependency(d.get("rename") or d["name"], edge["pkg"], bool(d.get("optional")),
                       bool(d.get("uses_default_features", True)), tuple(d.get("features", [])))
            for d in candidates]


# ---------------------------------------------------------------- feature activation for wasm32

# A node is ("pkg", id) or ("feat", id, feature).
Node = tuple


@dataclass(frozen=True)
class Cause:
    """Why a node was switched on: by `source` (None: the command line or the root), and how."""

    source: Node | None
    how: str  # root | cli | cli-default | dependency | declared-features | default-features | feature
    via: str = ""  # the dependency key, or the feature-table value, involved


@dataclass
class Resolution:
    """Packages and features switched on for the wasm32 target, each with every cause (first = shortest)."""

    graph: Graph
    causes: dict[Node, list[Cause]] = field(default_factory=dict)
    enabled_optional: dict[str, set[str]] = field(default_factory=dict)  # owner -> optional dependency keys on
    pending_weak: dict[tuple[str, str], list[tuple[Dependency, str, Node | None, str, str]]] = field(default_factory=dict)
    queue: deque = field(default_factory=deque)

    def is_on(self, node: Node) -> bool:
        return node in self.causes

    def features_of(self, package: str) -> set[str]:
        return {n[2] for n in self.causes if n[0] == "feat" and n[1] == package}

    def packages_on(self) -> list[str]:
        return [n[1] for n in self.causes if n[0] == "pkg"]

    def wasm_packages(self) -> list[str]:
        """Packages compiled into the module: proc-macros run on the host and are left out."""
        return [p for p in self.packages_on() if not self.graph.packages[p].proc_macro or p == self.graph.root]

    def host_packages(self) -> list[str]:
        return [p for p in self.packages_on() if self.graph.packages[p].proc_macro and p != self.graph.root]

    # -- switching things on

    def switch_on(self, node: Node, cause: Cause) -> None:
        causes = self.causes.get(node)
        if causes is None:
            self.causes[node] = [cause]
            self.queue.append(node)
        elif cause not in causes:
            causes.append(cause)

    def activate_dependency(self, owner: str, dep: Dependency, source: Node | None) -> None:
        self.switch_on(("pkg", dep.package), Cause(source, "dependency", dep.key))
        for value in dep.features:
            self.apply_value(dep.package, value, source, "declared-features", dep.key)
        if dep.default_features and "default" in self.graph.packages[dep.package].features:
            self.switch_on(("feat", dep.package, "default"), Cause(source, "default-features", dep.key))

    def enable_optional(self, owner: str, key: str, source: Node | None) -> None:
        first_time = key not in self.enabled_optional.setdefault(owner, set())
        self.enabled_optional[owner].add(key)
        for dep in self.graph.by_key(owner, key):
            if dep.optional:
                self.activate_dependency(owner, dep, source)
        if first_time:
            for dep, feature, weak_source, how, via in self.pending_weak.pop((owner, key), []):
                self.apply_value(dep.package, feature, weak_source, how, via)

    def apply_value(self, package: str, value: str, source: Node | None, how: str, via: str) -> None:
        """One entry of a feature table (or a requested feature): "f", "dep:d", "d/f" or "d?/f" of `package`."""
        if value.startswith("dep:"):
            self.enable_optional(package, value[4:], source)
            return
        if "/" in value:
            key, feature = value.split("/", 1)
            weak = key.endswith("?")
            key = key.rstrip("?")
            deps = self.graph.by_key(package, key)
            if not weak and any(d.optional for d in deps):
                self.enable_optional(package, key, source)
                if key in self.graph.packages[package].features:
                    # As cargo does: "d/f" also switches on the implicit feature "d" of an optional d.
                    self.switch_on(("feat", package, key), Cause(source, how, via or value))
            for dep in deps:
                if weak and dep.optional and key not in self.enabled_optional.get(package, set()):
                    # "d?/f" switches f on only if something else switches d on.
                    self.pending_weak.setdefault((package, key), []).append((dep, feature, source, how, value))
                else:
                    self.apply_value(dep.package, feature, source, how, value)
            return
        table = self.graph.packages[package].features
        if value in table:
            self.switch_on(("feat", package, value), Cause(source, how, via or value))
        elif any(d.optional for d in self.graph.by_key(package, value)):
            self.enable_optional(package, value, source)  # an old-style implicit feature of an optional dep
        # else: a feature of a dependency that does not apply on wasm32, or unknown; nothing to switch on

    # -- the fixpoint

    def run(self) -> None:
        while self.queue:
            node = self.queue.popleft()
            if node[0] == "pkg":
                self._expand_package(node[1])
            else:
                self._expand_feature(node[1], node[2])

    def _expand_package(self, package: str) -> None:
        if self.graph.packages[package].proc_macro and package != self.graph.root:
            return  # runs in the compiler on the host: its dependencies are not in the module
        for dep in self.graph.dependencies.get(package, []):
            if not dep.optional:
                self.activate_dependency(package, dep, ("pkg", package))

    def _expand_feature(self, package: str, feature: str) -> None:
        for value in self.graph.packages[package].features.get(feature, []):
            self.apply_value(package, value, ("feat", package, feature), "feature", value)


def resolve_for_wasm(graph: Graph, features: list[str], no_default_features: bool) -> Resolution:
    """What `cargo build --lib --target wasm32-unknown-unknown [--features] [--no-default-features]` switches on."""
    resolution = Resolution(graph)
    root = graph.root
    resolution.switch_on(("pkg", root), Cause(None, "root"))
    if not no_default_features and "default" in graph.packages[root].features:
        resolution.switch_on(("feat", root, "default"), Cause(None, "cli-default"))
    for value in features:
        resolution.apply_value(root, value, None, "cli", value)
    resolution.run()
    return resolution


# ---------------------------------------------------------------- explaining why something is on


def path_to(resolution: Resolution, node: Node) -> list[Node]:
    """Root ... node along first causes: the shortest chain of activations that switched `node` on."""
    path = [node]
    while True:
        cause = resolution.causes[path[-1]][0]
        if cause.source is None:
            break
        path.append(cause.source)
    return path[::-1]


def chain_of(resolution: Resolution, path: list[Node]) -> list[str]:
    """Packages along an activation path, each marked with the features of it the path went through."""
    packages = resolution.graph.packages
    steps: list[tuple[str, list[str]]] = []
    for node in path:
        package = node[1]
        if not steps or steps[-1][0] != package:
            steps.append((package, []))
        if node[0] == "feat":
            steps[-1][1].append(node[2])
    chain = []
    for package, features in steps:
        label = packages[package].label
        if features:
            label += " [feature " + " -> ".join(f'"{f}"' for f in features) + "]"
        chain.append(label)
    return chain


@dataclass(frozen=True)
class Gate:
    """An optional dependency switched on by a feature: `owner`'s feature `feature` enables `dependency`."""

    owner: str
    feature: str | None  # None: requested on the command line
    dependency: str


def gates_of(resolution: Resolution, package: str) -> tuple[list[Gate], bool]:
    """The optional-dependency switches that bring `package` in, walking up through non-optional
    dependencies; and whether the root reaches it through non-optional dependencies alone."""
    root = resolution.graph.root
    gates: list[Gate] = []
    unconditional = False
    seen = {package}
    stack = [package]
    while stack:
        current = stack.pop()
        for cause in resolution.causes.get(("pkg", current), []):
            if cause.how == "root":
                unconditional = True
            elif cause.source is None:
                gates.append(Gate(root, None, current))
            elif cause.source[0] == "feat":
                gate = Gate(cause.source[1], cause.source[2], current)
                if gate not in gates:
                    gates.append(gate)
            elif cause.source[1] not in seen:
                seen.add(cause.source[1])
                stack.append(cause.source[1])
    return _outermost(resolution, gates), unconditional


def _outermost(resolution: Resolution, gates: list[Gate]) -> list[Gate]:
    """Drops a gate another gate of the same package switches on (tokio's "mio" when "net" is listed)."""
    kept = []
    for gate in gates:
        upstream = features_leading_to(resolution, gate.owner, gate.feature) if gate.feature else []
        implied = any(other is not gate and other.owner == gate.owner and other.feature in upstream[1:]
                      for other in gates)
        if not implied:
            kept.append(gate)
    return kept


def features_leading_to(resolution: Resolution, package: str, feature: str) -> list[str]:
    """`feature` and the features of the same package that switch it on through its own table."""
    table = resolution.graph.packages[package].features
    on = resolution.features_of(package)
    found = [feature]
    changed = True
    while changed:
        changed = False
        for name in sorted(on):
            if name not in found and any(_switches_on(v, found) for v in table.get(name, [])):
                found.append(name)
                changed = True
    return found


def _switches_on(value: str, features: list[str]) -> bool:
    """Whether a feature-table value switches on one of `features` of the same package."""
    if "/" in value and not value.split("/", 1)[0].endswith("?"):
        return value.split("/", 1)[0] in features  # "d/f" also turns on the implicit feature "d"
    return value in features


@dataclass(frozen=True)
class Request:
    """Something outside `package` that asks for one of its features."""

    feature: str  # the feature of the package asked for
    cause: Cause


def requests_for(resolution: Resolution, package: str, feature: str) -> list[Request]:
    """Who switches `feature` of `package` on: dependents' declarations, their features, the command line."""
    requests = []
    for name in features_leading_to(resolution, package, feature):
        for cause in resolution.causes.get(("feat", package, name), []):
            from_inside = cause.how == "feature" and cause.source is not None and cause.source[1] == package
            if not from_inside:
                requests.append(Request(name, cause))
    return requests


def describe_request(resolution: Resolution, package: str, request: Request, depth: int = 0) -> str:
    packages = resolution.graph.packages
    name = packages[package].name
    cause, feature = request.cause, request.feature
    if cause.how == "cli":
        return f"the command line (--features {cause.via})"
    if cause.how == "cli-default":
        return f"the default features of {packages[package].label} (build with --no-default-features to drop them)"
    source_package = packages[cause.source[1]].label
    if cause.how == "default-features":
        text = f"{source_package}'s dependency on {name} with default features (\"default\" includes it)"
    elif cause.how == "declared-features":
        text = f"{source_package}'s dependency declaration on {name} (features = [\"{feature}\"])"
    else:  # a feature of another package: "name/feature" in its table
        text = f"{source_package}'s feature \"{cause.source[2]}\" (\"{cause.via}\")"
    if cause.source[0] == "pkg":
        return text + (", unconditionally" if cause.how == "declared-features" else "")
    # The request itself hangs on a feature of the requester: say who turns that one on.
    owner, owner_feature = cause.source[1], cause.source[2]
    if cause.how != "feature":
        text += f", when its feature \"{owner_feature}\" is on"
    if depth < 1:
        upstream = requests_for(resolution, owner, owner_feature)
        if upstream:
            text += " <- " + "; ".join(describe_request(resolution, owner, r, depth + 1) for r in upstream[:3])
            if len(upstream) > 3:
                text += f"; and {len(upstream) - 3} more"
    return text


def describe_gates(resolution: Resolution, gates: list[Gate], unconditional: bool) -> str:
    packages = resolution.graph.packages
    parts = []
    for gate in gates:
        owner, dependency = packages[gate.owner], packages[gate.dependency].name
        if gate.feature is None:
            parts.append(f"the command line (--features) enables {owner.name}'s optional dependency {dependency}")
            continue
        requests = requests_for(resolution, gate.owner, gate.feature)
        who = "; ".join(describe_request(resolution, gate.owner, r) for r in requests)
        parts.append(f"{owner.label}'s feature \"{gate.feature}\" (optional dependency {dependency}), requested by: {who}")
    if unconditional:
        parts.append(f"a non-optional dependency all the way from {packages[resolution.graph.root].label}")
    return " | ".join(parts)


def suggested_fixes(resolution: Resolution, gates: list[Gate], unconditional: bool, manifest: str) -> list[str]:
    """Where the switch can be turned off: in the checked crate's manifest, or upstream."""
    graph = resolution.graph
    root = graph.root
    fixes: list[str] = []

    def add(text: str) -> None:
        if text not in fixes:
            fixes.append(text)

    def advise(package: str, feature: str, depth: int) -> None:
        name = graph.packages[package].name
        unconditional_requesters: list[str] = []
        for request in requests_for(resolution, package, feature):
            cause = request.cause
            if cause.how == "cli":
                add(f"do not pass --features {cause.via}")
            elif cause.how == "cli-default":
                add(f"build with --no-default-features (the default features of {graph.packages[package].name} "
                    f"include \"{feature}\")")
            elif cause.source[1] == root and cause.how == "default-features":
                add(f"in {manifest}: set default-features = false on the {name} dependency "
                    f"(its default features include \"{feature}\") and list only the features you need")
            elif cause.source[1] == root and cause.how == "declared-features":
                add(f"in {manifest}: remove \"{request.feature}\" from the features of the {name} dependency")
            elif cause.source[0] == "feat" and depth < 3:
                advise(cause.source[1], cause.source[2], depth + 1)  # turn off the requester's feature instead
            elif cause.source[0] == "pkg":
                requester = graph.packages[cause.source[1]].label
                if requester not in unconditional_requesters:
                    unconditional_requesters.append(requester)
        if unconditional_requesters:
            who = _and_list(unconditional_requesters)
            add(f"{who} {'asks' if len(unconditional_requesters) == 1 else 'ask'} for {name}'s \"{feature}\" "
                "unconditionally, so no feature turns it off: [patch.crates-io] "
                f"{'it' if len(unconditional_requesters) == 1 else 'them'} (or {name}) with a fork that does not, "
                "or avoid the dependency that brings it in (see the chain)")

    for gate in gates:
        if gate.feature is None:
            add("do not pass the --features that enables it")
        else:
            advise(gate.owner, gate.feature, 0)
    if unconditional:
        add(f"remove the dependency from {manifest}, or move it under "
            "[target.'cfg(not(target_arch = \"wasm32\"))'.dependencies]")
    return fixes


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------- rustflags (for cfg requirements)


@dataclass(frozen=True)
class RustFlags:
    flags: tuple[str, ...]
    source: str  # where cargo takes them from, for the report

    def cfgs(self) -> dict[str, list[str | None]]:
        """--cfg name="value" / --cfg name, in either spelling (`--cfg x` or `--cfg=x`)."""
        found: dict[str, list[str | None]] = {}
        values = []
        flags = list(self.flags)
        for i, flag in enumerate(flags):
            if flag == "--cfg" and i + 1 < len(flags):
                values.append(flags[i + 1])
            elif flag.startswith("--cfg="):
                values.append(flag[len("--cfg="):])
        for value in values:
            match = _CFG.match(value)
            if match:
                found.setdefault(match.group(1), []).append(match.group(2))
            else:
                found.setdefault(value.strip(), []).append(None)
        return found


def config_files(cwd: Path, environ: dict[str, str]) -> list[Path]:
    """Cargo's config files, lowest precedence first: $CARGO_HOME, then cwd's ancestors down to cwd.

    Cargo looks from the directory it runs in, not the manifest's: the build runs cargo from the
    current directory with --manifest-path, so a .cargo/config.toml next to the crate is not read.
    """
    found = []
    for directory in [cwd, *cwd.parents]:
        for name in ("config.toml", "config"):
            candidate = directory / ".cargo" / name
            if candidate.is_file():
                found.append(candidate)
                break
    cargo_home = Path(environ.get("CARGO_HOME") or Path.home() / ".cargo")
    home_config = next((cargo_home / n for n in ("config.toml", "config") if (cargo_home / n).is_file()), None)
    if home_config and home_config not in found:
        found.append(home_config)
    return found[::-1]


def _flag_list(value, where: str) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ToolchainError(f"{where}: rustflags must be a string or a list of strings", "fix the cargo configuration")


def wasm_rustflags(cwd: Path, environ: dict[str, str], target_cfg: list[str]) -> RustFlags:
    """The rustflags cargo passes when building for wasm32, in cargo's order of precedence:
    CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS, then target.<triple>/target.<cfg> rustflags (config files
    and CARGO_TARGET_<TRIPLE>_RUSTFLAGS, joined), then build.rustflags. `target_cfg` is the
    target's `rustc --print cfg`, for `[target.'cfg(...)']` keys."""
    if "CARGO_ENCODED_RUSTFLAGS" in environ:
        return RustFlags(tuple(f for f in environ["CARGO_ENCODED_RUSTFLAGS"].split("\x1f") if f), "CARGO_ENCODED_RUSTFLAGS")
    if "RUSTFLAGS" in environ:
        return RustFlags(tuple(environ["RUSTFLAGS"].split()), "RUSTFLAGS")
    configs = []
    for path in config_files(cwd, environ):
        try:
            configs.append((path, tomllib.loads(path.read_text())))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ToolchainError(f"{path} is not valid TOML: {exc}", "fix the cargo configuration file") from exc
    target_flags, target_sources = [], []
    for path, data in configs:
        for key, table in (data.get("target") or {}).items():
            if not isinstance(table, dict) or "rustflags" not in table:
                continue
            if key == rust.WASM_TARGET or (key.startswith("cfg(") and cfg_matches(key, target_cfg)):
                target_flags += _flag_list(table["rustflags"], f"{path} [target.{key}]")
                target_sources.append(f"{path} [target.{key}]")
    env_key = f"CARGO_TARGET_{rust.WASM_TARGET.upper().replace('-', '_')}_RUSTFLAGS"
    if env_key in environ:
        target_flags += environ[env_key].split()
        target_sources.append(env_key)
    if target_sources:
        return RustFlags(tuple(target_flags), ", ".join(target_sources))
    if "CARGO_BUILD_RUSTFLAGS" in environ:
        return RustFlags(tuple(environ["CARGO_BUILD_RUSTFLAGS"].split()), "CARGO_BUILD_RUSTFLAGS")
    for path, data in reversed(configs):  # the nearest build.rustflags wins for a string; good enough here
        build = data.get("build") or {}
        if isinstance(build, dict) and "rustflags" in build:
            return RustFlags(tuple(_flag_list(build["rustflags"], f"{path} [build]")), f"{path} [build]")
    searched = f"no rustflags in {', '.join(str(p) for p, _ in configs)}" if configs else "no cargo config file"
    return RustFlags((), f"RUSTFLAGS and CARGO_ENCODED_RUSTFLAGS unset, {searched}")


_CFG_TOKEN = re.compile(r'\s*(?:([A-Za-z_][A-Za-z0-9_]*)|("(?:[^"\\]|\\.)*")|([(),=]))')


def cfg_matches(expression: str, target_cfg: list[str]) -> bool:
    """Evaluates `cfg(...)` against `rustc --print cfg` lines (name or name="value")."""
    tokens = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _CFG_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ToolchainError(f"cannot parse the cargo config key target.'{expression}'", "fix the cfg expression")
        tokens.append(match.group(1) or match.group(2) or match.group(3))
        position = match.end()
    facts = set(target_cfg)
    index = 0

    def take(expected: str | None = None) -> str:
        nonlocal index
        if index >= len(tokens) or (expected and tokens[index] != expected):
            raise ToolchainError(f"cannot parse the cargo config key target.'{expression}'", "fix the cfg expression")
        index += 1
        return tokens[index - 1]

    def predicate() -> bool:
        name = take()
        if name in ("all", "any", "not") and index < len(tokens) and tokens[index] == "(":
            take("(")
            values = []
            while tokens[index] != ")":
                values.append(predicate())
                if tokens[index] == ",":
                    take(",")
            take(")")
            if name == "not":
                return not values[0]
            return all(values) if name == "all" else any(values)
        if index < len(tokens) and tokens[index] == "=":
            take("=")
            return f"{name}={take()}" in facts
        return name in facts

    take("cfg")
    take("(")
    result = predicate()
    take(")")
    return result


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
        fix=_join_fix(rule.fix, fixes),
    )


def _forbidden_feature(resolution: Resolution, package: Package, feature: str, rule: Forbidden,
                       context: Context) -> Violation:
    requests = requests_for(resolution, package.id, feature)
    who = "; ".join(describe_request(resolution, package.id, r) for r in requests)
    gate = Gate(package.id, feature, package.id)
    fixes = suggested_fixes(resolution, [gate], False, context.manifest)
    return Violation(
        subject=f'{package.label} feature "{feature}"',
        problem=f"forbidden on wasm32: {rule.why}. Requested by: {who}",
        chain=chain_of(resolution, path_to(resolution, ("feat", package.id, feature))),
        fix=_join_fix(rule.fix, fixes),
    )


def _join_fix(policy_fix: str, fixes: list[str]) -> str:
    here = ("here: " + "; or ".join(fixes)) if fixes else ""
    return ". ".join(t.rstrip(".") for t in (policy_fix, here) if t)


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
            violations.append(Violation(
                package.label, f"no rule in {policy.path} covers this version (rules cover: {ranges}), so its "
                               "browser backend cannot be checked",
                chain_of(resolution, path_to(resolution, ("pkg", package_id))),
                f"find out what {package.name} {package.version} needs on wasm32-unknown-unknown and add a "
                f"[[require]] rule for its version range to {policy.path}"))
        on = resolution.features_of(package_id)
        for rule in matching:
            finding, problems = _evaluate_rule(rule, package, on, cfgs)
            findings.append(finding)
            if problems:
                violations.append(Violation(
                    package.label,
                    f"is in the wasm32 graph without its browser backend: {'; '.join(problems)} "
                    f"(rule {rule.crate} {rule.versions.text}). {rule.why}",
                    chain_of(resolution, path_to(resolution, ("pkg", package_id))),
                    _fill(rule.fix, package, context, resolution)))
    return violations, findings


def _evaluate_rule(rule: Required, package: Package, on: set[str], cfgs: dict[str, list]) -> tuple[Finding, list[str]]:
    """The rule on one package's features and the rustflags: (what was checked, what is missing)."""
    label = f"{rule.crate} {rule.versions.text}"
    if rule.when_features and not on.intersection(rule.when_features):
        return Finding(package.label, label, False, True, [f"not needed: none of {', '.join(rule.when_features)} is on"]), []
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
                problems.append(f"the wasm32 rustflags lack --cfg {wanted} (this version needs it as well as the feature)")
        else:
            others = [v for v in set_values if v != value]
            if others:
                checks.append(f"cfg {name}={others[0]!r} overrides ✗")
                problems.append(f"the wasm32 rustflags set --cfg {name}=\"{others[0]}\", which overrides the feature")
            else:
                checks.append(f"no cfg needed{' (set: ✓)' if set_values else ''}")
    return Finding(package.label, label, True, not problems, checks), problems


def _fill(template: str, package: Package, context: Context, resolution: Resolution) -> str:
    root = resolution.graph.packages[resolution.graph.root]
    replacements = {"{crate}": package.name, "{version}": package.version, "{manifest}": context.manifest,
                    "{root}": root.label}
    for placeholder, value in replacements.items():
        template = template.replace(placeholder, value)
    return template


# ---------------------------------------------------------------- the report


def analyse(metadata: dict, policy: Policy, features: list[str], no_default_features: bool,
            context: Context) -> Report:
    """Pure: the policy against a `cargo metadata` document (no cargo, no files)."""
    graph = graph_from_metadata(metadata, context.target_cfg)
    resolution = resolve_for_wasm(graph, features, no_default_features)
    forbidden = check_forbidden(resolution, policy, context)
    required, findings = check_required(resolution, policy, context)
    report = Report(NAME, context.manifest, forbidden + required)
    wasm, host = resolution.wasm_packages(), resolution.host_packages()
    report.notes.append(f"{len(wasm)} packages in the wasm32 graph of {graph.packages[graph.root].label} "
                        f"({_feature_selection(features, no_default_features)}); {len(host)} "
                        f"{'proc-macro runs' if len(host) == 1 else 'proc-macros run'} on the host, not checked")
    applied = [f for f in findings if f.applies]
    if applied:
        report.notes.append("backends: " + "; ".join(f"{f.package} ({', '.join(f.checks)}) [rule {f.rule}]"
                                                    for f in applied))
    skipped = [f for f in findings if not f.applies]
    if skipped:
        report.notes.append("not needed: " + "; ".join(f"{f.package} ({f.checks[0]})" for f in skipped))
    flags = context.rustflags
    report.notes.append(f"wasm32 rustflags: {' '.join(flags.flags)}  [from {flags.source}]" if flags.flags
                        else f"wasm32 rustflags: none ({flags.source})")
    outside = _policy_crates_outside(resolution, policy)
    if outside:
        report.notes.append("in Cargo.lock but not built into the module (host-only, dev-only or other targets): "
                            + ", ".join(outside))
    report.data = {
        "root": graph.packages[graph.root].label,
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest-path", type=Path, default=build_module.DEFAULT_MANIFEST,
                        help="Cargo.toml of the crate built for wasm32 (default: the bundled engine)")
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY,
                        help=f"TOML file of forbidden and required crates/features (default: {DEFAULT_POLICY})")
    parser.add_argument("--features", default="", help="comma-separated features, as given to the build")
    parser.add_argument("--no-default-features", action="store_true", help="as given to the build")


def split_features(text: str) -> list[str]:
    return [f for f in re.split(r"[,\s]+", text or "") if f]


def cargo_metadata(toolchain: rust.RustToolchain, manifest: Path, features: list[str],
                   no_default_features: bool) -> dict:
    import json

    argv = [toolchain.cargo, "metadata", "--format-version", "1", "--locked",
            "--filter-platform", rust.WASM_TARGET, "--manifest-path", manifest]
    if features:
        argv += ["--features", ",".join(features)]
    if no_default_features:
        argv.append("--no-default-features")
    result = process.run(
        argv, what=f"cargo metadata for {manifest}", capture=True, env=toolchain.env,
        fix="if Cargo.lock is out of date, run `cargo update` (or `cargo generate-lockfile`) in the crate and "
            "commit it; if a feature is unknown, check --features against the crate's [features]",
    )
    return json.loads(result.stdout)


def wasm_target_cfg(toolchain: rust.RustToolchain) -> list[str]:
    out = process.output([toolchain.rustc, "--print", "cfg", "--target", rust.WASM_TARGET], env=toolchain.env)
    if not out:
        raise ToolchainError(f"{toolchain.rustc} cannot print its cfg for {rust.WASM_TARGET}",
                             "check the Rust installation with `python -m toolchain doctor`")
    return out.splitlines()


def _unread_crate_config(manifest: Path, cwd: Path) -> Path | None:
    """A .cargo/config.toml beside the crate that cargo will not read when run from cwd."""
    for directory in [manifest.parent, *manifest.parent.parents]:
        if directory == cwd or directory in cwd.parents:
            return None
        for name in ("config.toml", "config"):
            if (directory / ".cargo" / name).is_file():
                return directory / ".cargo" / name
    return None


def run(args: argparse.Namespace) -> Report:
    policy = load_policy(args.policy)
    manifest = Path(args.manifest_path)
    if not manifest.is_file():
        raise ToolchainError(f"no Cargo.toml at {manifest}",
                             "pass --manifest-path pointing at the Cargo.toml of the crate built for wasm32")
    features = split_features(args.features)
    toolchain = rust.find_toolchain()
    metadata = cargo_metadata(toolchain, manifest, features, args.no_default_features)
    cwd = Path.cwd()
    environ = {**os.environ, **toolchain.env}
    target_cfg = wasm_target_cfg(toolchain)
    context = Context(str(manifest), wasm_rustflags(cwd, environ, target_cfg), target_cfg)
    report = analyse(metadata, policy, features, args.no_default_features, context)
    unread = _unread_crate_config(manifest.resolve(), cwd)
    if unread:
        report.notes.append(f"{unread} is not read: cargo takes its config from the directory it runs in ({cwd}) "
                            "and its parents, not from the crate's; put wasm32 rustflags there")
    return report
