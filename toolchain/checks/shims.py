"""shims: can an export reach std's unsupported time or randomness stub?

On wasm32-unknown-unknown, std has no clock and no entropy source: `Instant::now`,
`SystemTime::now` and `fill_bytes` are stubs that panic ("time not implemented on this
platform"). The build succeeds and the page dies at run time, which is how the seed's spike
failed. This check reads the unstripped module (names section intact), builds its call graph and
prints one call chain from an export to every reachable stub.

Direct calls are exact. An indirect call (call_indirect) is taken, conservatively, to reach every
table entry of the same signature; chains through such a hop say so. A call site the analysis
cannot tell is dead (a branch on a runtime flag) can be waived in the policy, with a reason.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolchain import checks
from toolchain.analysis import config, wasm_module
from toolchain.checks import Report, Violation
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import WASM_BINDGEN

NAME = "shims"
SUMMARY = "static call-graph analysis: no export may reach std's unsupported time/randomness stubs"


@dataclass(frozen=True)
class Stub:
    pattern: re.Pattern  # matched against the demangled name without crate hashes
    kind: str  # "time" or "randomness"
    panics_with: str
    fix: str


TIME_FIX = (
    "on wasm32 take time from JS: web_time::Instant / SystemTime (or js_sys::Date::now, "
    "performance.now); for chrono enable its `wasmbind` feature; find the caller in the chain "
    'and switch it, or gate it with cfg(not(target_arch = "wasm32"))'
)
RANDOM_FIX = (
    "take randomness from crypto.getRandomValues: getrandom with its browser backend "
    "(0.2: feature `js`; 0.3: feature `wasm_js`), rand with getrandom's backend, uuid with `js`"
)

# Facts about std on wasm32-unknown-unknown (library/std/src/sys/{time,random}/unsupported.rs).
# std::time's own functions are included: they inline the stub, so they are the stub on this target.
STUBS = [
    Stub(
        re.compile(r"^<std::(sys::[a-z_:]*unsupported[a-z_:]*|time)::Instant>::now$"),
        "time",
        "time not implemented on this platform",
        TIME_FIX,
    ),
    Stub(
        re.compile(r"^<std::(sys::[a-z_:]*unsupported[a-z_:]*|time)::SystemTime>::now$"),
        "time",
        "time not implemented on this platform",
        TIME_FIX,
    ),
    Stub(
        re.compile(r"^std::sys::[a-z_:]*unsupported[a-z_:]*::fill_bytes$"),
        "randomness",
        "this target does not support random data generation",
        RANDOM_FIX,
    ),
]
# On wasm32-unknown-unknown these functions are always the stubs; built with panic=abort they call
# core::panicking, with panic=immediate-abort they are a bare `unreachable` trap. A WASI module
# (imports from wasi_*) has a real clock and entropy: there the same names are not stubs.
WASI_IMPORT_PREFIX = "wasi"

# JS imports through which a module gets time and randomness from the browser.
TIME_IMPORT = re.compile(r"now|performance|date|gettime|hrtime", re.IGNORECASE)
RANDOM_IMPORT = re.compile(r"random|crypto", re.IGNORECASE)


@dataclass(frozen=True)
class Waiver:
    caller: re.Pattern
    callee: re.Pattern
    reason: str
    source: str  # "policy file:index" for the report


@dataclass(frozen=True)
class Options:
    wasm: Path  # the module, with its names section
    glue: Path | None = None  # its wasm-bindgen JS glue, to name the JS behind each import
    policy: Path | None = None  # waivers; None: none


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wasm",
        type=Path,
        help="the module to analyse, with its names section (default: the wasm-bindgen stage output of the "
        "crate's last build, from its build record); given without --manifest-path: a module alone, which gets "
        "only the waivers of --policy",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        help="TOML file with [[allow]] waivers (default: the crate's policies.shims; none: no waivers)",
    )
    parser.add_argument(
        "--glue",
        type=Path,
        help="the module's wasm-bindgen JS glue, to name the JS behind each import "
        "(default: the .js beside the module, if any)",
    )


def _glue_beside(wasm: Path) -> Path | None:
    candidates = list(wasm.parent.glob(wasm.name.removesuffix("_bg.wasm") + ".js"))
    return candidates[0] if candidates else None


def options_from_args(args: argparse.Namespace, resolve: Callable[[], config.Config]) -> Options:
    policy = checks.given_policy("shims", args.policy)
    if args.wasm and args.manifest_path is None:
        # A module given alone is not the engine's: the engine's waivers must not apply to it.
        return Options(args.wasm, args.glue or _glue_beside(args.wasm), policy)
    resolved = resolve()
    wasm = args.wasm or built_module(resolved)
    return Options(wasm, args.glue or _glue_beside(wasm), policy or resolved.policies.shims)


def options_for(resolved: config.Config) -> Options:
    wasm = built_module(resolved)
    return Options(wasm, _glue_beside(wasm), resolved.policies.shims)


def built_module(resolved: config.Config) -> Path:
    """The unstripped wasm-bindgen output the crate's last build recorded (it keeps the names section)."""
    layout = resolved.layout
    module = checks.build_record(resolved).module(layout, WASM_BINDGEN)
    if module is None:
        raise ToolchainError(
            f"the build record of {layout.package_name} has no wasm-bindgen stage",
            f"rebuild the crate: `{checks.command(resolved, 'build', artifacts=True)}`",
        )
    return module


def load_waivers(policy: Path | None) -> list[Waiver]:
    if policy is None:
        return []
    if not policy.is_file():
        raise ToolchainError(f"no waiver file at {policy}", "fix the path, or leave --policy out (no waivers)")
    try:
        data = tomllib.loads(policy.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ToolchainError(
            f"{policy} is not valid TOML: {exc}", 'fix the syntax (the format: docs/checks.md, "shims")'
        ) from exc
    waivers = []
    for i, entry in enumerate(data.get("allow", [])):
        missing = [k for k in ("caller", "callee", "reason") if not str(entry.get(k, "")).strip()]
        if missing:
            raise ToolchainError(
                f"{policy}: [[allow]] entry {i + 1} lacks {', '.join(missing)}",
                "each waiver needs a caller and a callee (regular expressions on demangled names "
                "without crate hashes) and the reason the call cannot happen at run time",
            )
        try:
            waivers.append(
                Waiver(
                    re.compile(entry["caller"]),
                    re.compile(entry["callee"]),
                    " ".join(entry["reason"].split()),
                    f"{policy}:allow[{i + 1}]",
                )
            )
        except re.error as exc:
            raise ToolchainError(
                f"{policy}: [[allow]] entry {i + 1} has a bad regular expression: {exc}",
                "fix the pattern; names look like `<tokio::runtime::builder::Builder>::build`",
            ) from exc
    return waivers


# ---------------------------------------------------------------- the call graph


@dataclass
class CallGraph:
    """Functions are nodes 0..n-1; node n+k is "an indirect call with signature k"."""

    module: wasm_module.Module
    names: list[str]  # clean names, by function index
    edges: dict[int, set[int]]
    signature_nodes: dict[str, int]

    def is_indirect(self, node: int) -> bool:
        return node >= len(self.names)

    def describe(self, node: int) -> str:
        if self.is_indirect(node):
            signature = next(s for s, n in self.signature_nodes.items() if n == node)
            return f"[call_indirect {signature}: conservatively, any table entry of this signature]"
        return self.names[node]


def build_call_graph(module: wasm_module.Module, waivers: list[Waiver], waived: list[str]) -> CallGraph:
    names = [wasm_module.clean_name(module.function_name(f.index)) for f in module.functions]
    count = len(names)
    sites = module.call_sites()
    signature_nodes: dict[str, int] = {}

    def signature_node(type_index: int) -> int:
        signature = module.types[type_index] if type_index < len(module.types) else f"type {type_index}"
        return signature_nodes.setdefault(signature, count + len(signature_nodes))

    edges: dict[int, set[int]] = {}
    for index, site in sites.items():
        callees = set(site.direct)
        for waiver in waivers:
            if waiver.caller.search(names[index]):
                for callee in [c for c in callees if waiver.callee.search(names[c])]:
                    callees.discard(callee)
                    waived.append(f"{names[index]} -> {names[callee]}  ({waiver.source}: {waiver.reason})")
        callees |= {signature_node(t) for t in site.indirect_types}
        edges[index] = callees
    for function_index in module.table_functions:
        if function_index < count:
            edges.setdefault(signature_node(module.functions[function_index].type_index), set()).add(function_index)
    return CallGraph(module, names, edges, signature_nodes)


def shortest_paths(graph: CallGraph, roots: list[int], indirect: bool) -> dict[int, int | None]:
    """Breadth-first from the roots: parent of every reachable node (None for a root)."""
    parent: dict[int, int | None] = dict.fromkeys(roots)
    queue = deque(roots)
    while queue:
        node = queue.popleft()
        for callee in graph.edges.get(node, ()):
            if callee not in parent and (indirect or not graph.is_indirect(callee)):
                parent[callee] = node
                queue.append(callee)
    return parent


def chain_to(parent: dict[int, int | None], node: int) -> list[int]:
    chain = [node]
    while (caller := parent[chain[-1]]) is not None:
        chain.append(caller)
    return chain[::-1]


def is_wasi(module: wasm_module.Module) -> bool:
    return any(i.module.startswith(WASI_IMPORT_PREFIX) for i in module.imports)


def find_stubs(graph: CallGraph) -> dict[int, Stub]:
    if is_wasi(graph.module):
        return {}
    found = {}
    for index, name in enumerate(graph.names):
        for stub in STUBS:
            if stub.pattern.search(name) and not graph.module.functions[index].imported:
                found[index] = stub
    return found


# ---------------------------------------------------------------- JS providers


def js_import_bodies(glue: Path | None) -> dict[str, str]:
    """wasm-bindgen import name -> the JS expression it runs, read from the glue."""
    if glue is None or not glue.is_file():
        return {}
    text = glue.read_text(errors="replace")
    bodies = {}
    for match in re.finditer(
        r"(__wbg_[A-Za-z0-9_]+)\s*[:=]\s*function\s*\(([^)]*)\)\s*\{(.*?)\n\s*\}", text, re.DOTALL
    ):
        body = " ".join(line.strip() for line in match.group(3).strip().splitlines())
        call = re.search(r"(globalThis\.)?[A-Za-z_$][\w$.]*\([^()]*(\([^()]*\))?[^()]*\)|new \w+\(\)|arg0\.\w+", body)
        bodies[match.group(1)] = call.group(0) if call else body[:60]
    return bodies


def js_providers(module: wasm_module.Module, glue: Path | None) -> dict[str, list[str]]:
    bodies = js_import_bodies(glue)
    providers: dict[str, list[str]] = {"time": [], "randomness": []}
    for imported in module.imports:
        if imported.kind != "func":
            continue
        text = f"{imported.name} {bodies.get(imported.name, '')}"
        shown = imported.name + (f" = {bodies[imported.name]}" if imported.name in bodies else "")
        if RANDOM_IMPORT.search(text):
            providers["randomness"].append(shown)
        elif TIME_IMPORT.search(text):
            providers["time"].append(shown)
    return providers


# ---------------------------------------------------------------- the check


def analyse(wasm: Path, waivers: list[Waiver], glue: Path | None = None) -> Report:
    module = wasm_module.parse(wasm)
    report = Report(NAME, str(wasm))
    if not module.names_present:
        raise ToolchainError(
            f"{wasm} has no names section, so its functions cannot be identified",
            "analyse the unstripped module the build keeps in artifacts/.stages/<crate>/wasm-bindgen/ "
            "(or a cargo output built without strip = true)",
        )
    waived: list[str] = []
    graph = build_call_graph(module, waivers, waived)
    roots = [e.index for e in module.exports if e.kind == "func"] + ([module.start] if module.start is not None else [])
    # Direct calls first, so that a definite chain is shown whenever there is one.
    direct_parent = shortest_paths(graph, roots, indirect=False)
    parent = shortest_paths(graph, roots, indirect=True)
    stubs = find_stubs(graph)
    reachable = sorted((i for i in stubs if i in parent), key=lambda i: graph.names[i])
    for index in reachable:
        stub = stubs[index]
        chain = chain_to(direct_parent, index) if index in direct_parent else chain_to(parent, index)
        if any(node in stubs for node in chain[:-1]):
            continue  # std::time::Instant::now -> sys::time::unsupported::Instant::now: report the outer one
        through_indirect = any(graph.is_indirect(n) for n in chain)
        export = next(
            (e.name for e in module.exports if e.kind == "func" and e.index == chain[0]), graph.names[chain[0]]
        )
        report.violations.append(
            Violation(
                subject=graph.names[index],
                problem=(
                    f'std\'s unsupported {stub.kind} stub (at run time it panics or traps: "{stub.panics_with}") is reachable from '
                    f"export `{export}`"
                    + (
                        " through an indirect call (conservative: may be a false alarm)"
                        if through_indirect
                        else " by direct calls"
                    )
                ),
                chain=[f"export {export}"] + [graph.describe(n) for n in chain[1:]],
                fix=stub.fix
                + (
                    "; if the call cannot happen at run time, waive that edge in the crate's waiver file (policies.shims) "
                    "[[allow]] with the reason"
                ),
            )
        )
    providers = js_providers(module, glue)
    unreachable = sorted(graph.names[i] for i in stubs if i not in parent)
    report.notes += (
        ["WASI module: std has a clock and entropy there, so there are no stubs to find"] if is_wasi(module) else []
    )
    report.notes += [
        f"{len(roots)} exports, {sum(1 for f in module.functions if not f.imported)} functions, "
        f"{sum(len(e) for e in graph.edges.values())} call edges ({len(graph.signature_nodes)} indirect-call signatures, "
        f"{len(module.table_functions)} table entries, treated conservatively)",
        f"stubs present: {len(stubs)}, reachable: {len(reachable)}"
        + (f"; present but unreachable: {', '.join(unreachable)}" if unreachable else ""),
        "time from JS: " + (", ".join(providers["time"]) or "none"),
        "randomness from JS: " + (", ".join(providers["randomness"]) or "none"),
    ]
    if not waivers:
        report.notes.append("waivers: none (the crate names no policies.shims, and no --policy was given)")
    report.notes += [f"waived: {w}" for w in waived]
    report.data = {
        "module": str(wasm),
        "exports": len(roots),
        "stubs_present": [graph.names[i] for i in stubs],
        "reachable": [{"stub": v.subject, "chain": v.chain} for v in report.violations],
        "js_providers": providers,
        "waived": waived,
    }
    return report


def run(options: Options) -> Report:
    if not options.wasm.is_file():
        raise ToolchainError(
            f"no module at {options.wasm}",
            "build the crate first (`nox -s build`, or `-- --manifest-path PATH`), or pass --wasm FILE",
        )
    return analyse(options.wasm, load_waivers(options.policy), options.glue)
