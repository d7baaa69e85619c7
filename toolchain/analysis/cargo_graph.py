"""A crate's dependency graph for wasm32-unknown-unknown, and why each package and feature is on.

Why this resolves features itself: `cargo metadata` gives the package graph for the target
(`--filter-platform`) but its per-package features are unified across host and target, dev- and
build-dependencies (it predates resolver 2; see RFC 2957, "cargo metadata"). This replays
cargo's feature activation from the root over normal dependencies only, as resolver 2 does for a
`cargo build --lib --target wasm32-unknown-unknown`: build-dependencies and proc-macros run on the
host, and their subgraphs are not in the module. Recording *why* each package and feature got
switched on is what lets a report name the chain and the feature. Used by the gating and tracing
checks and by the SBOM.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.analysis.cargo_config import cfg_matches
from toolchain.core import process
from toolchain.core.errors import ToolchainError
from toolchain.tools import patched_crates, rust

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
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
}


@dataclass(frozen=True)
class VersionRange:
    """Comma-separated comparators, all of which must hold: ">=0.3.0, <0.3.4". "*" is every version."""

    text: str
    comparators: tuple[tuple[str, tuple], ...]

    @classmethod
    def parse(cls, text: str) -> VersionRange:
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
        raise ToolchainError(
            "cargo metadata found no root package (is the manifest a virtual workspace?)",
            "pass --manifest-path pointing at the Cargo.toml of the crate that is built for wasm32",
        )
    raw_packages = {p["id"]: p for p in metadata["packages"]}
    packages = {pid: _package(p) for pid, p in raw_packages.items()}
    dependencies: dict[str, list[Dependency]] = {}
    for node in resolve["nodes"]:
        owner = raw_packages[node["id"]]
        declared = []
        for edge in node.get("deps", []):
            kinds = {
                (k.get("kind"), k.get("target"))
                for k in edge.get("dep_kinds", [])
                if applies_to_wasm(k.get("target"), target_cfg)
            }
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
    return Package(
        raw["id"], raw["name"], raw["version"], raw.get("features", {}), proc_macro, raw.get("manifest_path", "")
    )


def _declarations(owner: dict, edge: dict, kinds: set, target: Package) -> list[Dependency]:
    candidates = [
        d
        for d in owner.get("dependencies", [])
        if d["name"] == target.name and d.get("kind") is None and (None, d.get("target")) in kinds
    ]
    # Two versions of one package (e.g. getrandom 0.2 and a renamed 0.3): the extern name tells them apart.
    named = [d for d in candidates if (d.get("rename") or d["name"]).replace("-", "_") == edge["name"]]
    if named:
        candidates = named
    elif len({d.get("rename") for d in candidates}) > 1:
        candidates = [d for d in candidates if not d.get("rename")]  # lib name differs from the package name
    return [
        Dependency(
            d.get("rename") or d["name"],
            edge["pkg"],
            bool(d.get("optional")),
            bool(d.get("uses_default_features", True)),
            tuple(d.get("features", [])),
        )
        for d in candidates
    ]


# ---------------------------------------------------------------- feature activation for wasm32

# A node is ("pkg", id) or ("feat", id, feature).
Node = tuple


@dataclass(frozen=True)
class Cause:
    """Why a node was switched on: by `source` (None: the command line or the root), and how."""

    source: Node | None
    how: str  # root | cli | cli-default | dependency | declared-features | default-features | feature
    via: str = ""  # the dependency key, or the feature-table value, involved

    @property
    def requester(self) -> Node:
        """`source`, for a cause that is not root, cli or cli-default.

        One more kind of cause has no source node: the features of an optional dependency's declaration
        in the root when the command line switches the dependency on (`--features dep/feature`).
        Describing it is not implemented; this says so instead of failing on None."""
        if self.source is None:
            raise ToolchainError(
                f"the gating report cannot say who requested this ({self.how}, {self.via!r}): the command line "
                "switched on an optional dependency, and its declaration's features have no requester to name",
                "enable the dependency through a feature of the crate's [features] table and pass that feature",
            )
        return self.source


@dataclass
class Resolution:
    """Packages and features switched on for the wasm32 target, each with every cause (first = shortest)."""

    graph: Graph
    causes: dict[Node, list[Cause]] = field(default_factory=dict)
    enabled_optional: dict[str, set[str]] = field(default_factory=dict)  # owner -> optional dependency keys on
    pending_weak: dict[tuple[str, str], list[tuple[Dependency, str, Node | None, str, str]]] = field(
        default_factory=dict
    )
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
        implied = any(
            other is not gate and other.owner == gate.owner and other.feature in upstream[1:] for other in gates
        )
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
    requester = cause.requester
    source_package = packages[requester[1]].label
    if cause.how == "default-features":
        text = f'{source_package}\'s dependency on {name} with default features ("default" includes it)'
    elif cause.how == "declared-features":
        text = f'{source_package}\'s dependency declaration on {name} (features = ["{feature}"])'
    else:  # a feature of another package: "name/feature" in its table
        text = f'{source_package}\'s feature "{requester[2]}" ("{cause.via}")'
    if requester[0] == "pkg":
        return text + (", unconditionally" if cause.how == "declared-features" else "")
    # The request itself hangs on a feature of the requester: say who turns that one on.
    owner, owner_feature = requester[1], requester[2]
    if cause.how != "feature":
        text += f', when its feature "{owner_feature}" is on'
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
        parts.append(
            f'{owner.label}\'s feature "{gate.feature}" (optional dependency {dependency}), requested by: {who}'
        )
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
                add(
                    f"build with --no-default-features (the default features of {graph.packages[package].name} "
                    f'include "{feature}")'
                )
            elif cause.requester[1] == root and cause.how == "default-features":
                add(
                    f"in {manifest}: set default-features = false on the {name} dependency "
                    f'(its default features include "{feature}") and list only the features you need'
                )
            elif cause.requester[1] == root and cause.how == "declared-features":
                add(f'in {manifest}: remove "{request.feature}" from the features of the {name} dependency')
            elif cause.requester[0] == "feat" and depth < 3:
                advise(cause.requester[1], cause.requester[2], depth + 1)  # turn off the requester's feature instead
            elif cause.requester[0] == "pkg":
                requester = graph.packages[cause.requester[1]].label
                if requester not in unconditional_requesters:
                    unconditional_requesters.append(requester)
        if unconditional_requesters:
            who = _and_list(unconditional_requesters)
            add(
                f'{who} {"asks" if len(unconditional_requesters) == 1 else "ask"} for {name}\'s "{feature}" '
                "unconditionally, so no feature turns it off: [patch.crates-io] "
                f"{'it' if len(unconditional_requesters) == 1 else 'them'} (or {name}) with a fork that does not, "
                "or avoid the dependency that brings it in (see the chain)"
            )

    for gate in gates:
        if gate.feature is None:
            add("do not pass the --features that enables it")
        else:
            advise(gate.owner, gate.feature, 0)
    if unconditional:
        add(
            f"remove the dependency from {manifest}, or move it under "
            "[target.'cfg(not(target_arch = \"wasm32\"))'.dependencies]"
        )
    return fixes


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------- running cargo


def split_features(text: str) -> list[str]:
    return [f for f in re.split(r"[,\s]+", text or "") if f]


def cargo_metadata(
    toolchain: rust.RustToolchain, manifest: Path, features: list[str], no_default_features: bool
) -> dict:
    patched_crates.prepare_for(manifest)  # cargo reads the [patch] crates' manifests too
    argv = [
        toolchain.cargo,
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--filter-platform",
        rust.WASM_TARGET,
        "--manifest-path",
        manifest,
    ]
    if features:
        argv += ["--features", ",".join(features)]
    if no_default_features:
        argv.append("--no-default-features")
    result = process.run(
        argv,
        what=f"cargo metadata for {manifest}",
        capture=True,
        env=toolchain.env,
        fix="if Cargo.lock is out of date, run `cargo update` (or `cargo generate-lockfile`) in the crate and "
        "commit it; if a feature is unknown, check --features against the crate's [features]",
    )
    return json.loads(result.stdout)


def wasm_target_cfg(toolchain: rust.RustToolchain) -> list[str]:
    out = process.output([toolchain.rustc, "--print", "cfg", "--target", rust.WASM_TARGET], env=toolchain.env)
    if not out:
        raise ToolchainError(
            f"{toolchain.rustc} cannot print its cfg for {rust.WASM_TARGET}",
            "check the Rust installation with `python -m toolchain doctor`",
        )
    return out.splitlines()
