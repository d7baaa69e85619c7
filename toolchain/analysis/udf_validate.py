"""Does a module follow the WASM UDF ABI (docs/udf-abi.md) and the project's policy?

Every rule of the ABI marked [rule-id] in the document is checked here, each problem naming the
rule, the function or import, and the fix. All problems are reported at once (a module author
fixes them in one round). The rules are read from analysis/udf_abi.py, which the host side uses
too. Used by `udf build` (a build never writes an invalid module) and by the `udf` check
(`nox -s udf -- validate MODULE`, checks/udf.py).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from toolchain.analysis import udf_abi, wasm_module
from toolchain.core.errors import ToolchainError
from toolchain.tools import wasmtime

POLICY_DIR = Path(__file__).resolve().parent / "policies"
DEFAULT_POLICY = POLICY_DIR / "udf-default.toml"
POLICY_KEYS = {"max-memory-pages", "max-module-bytes", "allowed-imports"}
WASM_PAGE = 65536


@dataclass(frozen=True)
class Policy:
    max_memory_pages: int = 4096
    max_module_bytes: int = 16 * 1024 * 1024
    allowed_imports: frozenset[str] = frozenset()  # "module.name", beyond wasmqe_doc.*
    source: str = "built-in default"


def load_policy(path: Path | None) -> Policy:
    """The default policy, overridden key by key by the TOML file at `path`."""
    values = _read_policy(DEFAULT_POLICY)
    source = str(DEFAULT_POLICY)
    if path is not None:
        values.update(_read_policy(path))
        source = str(path)
    return Policy(
        max_memory_pages=values["max-memory-pages"],
        max_module_bytes=values["max-module-bytes"],
        allowed_imports=frozenset(values["allowed-imports"]),
        source=source,
    )


def _read_policy(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ToolchainError(
            f"no UDF policy at {path}", f"pass an existing file, or leave --policy out for {DEFAULT_POLICY.name}"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ToolchainError(f"UDF policy {path} is not valid TOML: {exc}", "fix the file") from exc
    unknown = set(values) - POLICY_KEYS
    if unknown:
        raise ToolchainError(
            f"UDF policy {path}: unknown key(s) {', '.join(sorted(unknown))}",
            f"known keys: {', '.join(sorted(POLICY_KEYS))}",
        )
    for key in ("max-memory-pages", "max-module-bytes"):
        if key in values and (not isinstance(values[key], int) or isinstance(values[key], bool) or values[key] <= 0):
            raise ToolchainError(f"UDF policy {path}: {key} must be a positive integer, not {values[key]!r}", "")
    if "max-memory-pages" in values and values["max-memory-pages"] > 65536:
        raise ToolchainError(
            f"UDF policy {path}: max-memory-pages {values['max-memory-pages']} exceeds wasm32's 65536", ""
        )
    imports = values.get("allowed-imports", [])
    if not isinstance(imports, list) or any(not isinstance(i, str) or "." not in i for i in imports):
        raise ToolchainError(f'UDF policy {path}: allowed-imports must be a list of "module.name" strings', "")
    return values


@dataclass(frozen=True)
class Problem:
    rule: str  # the [rule-id] of docs/udf-abi.md
    subject: str  # the function, export, import or section
    problem: str
    fix: str


@dataclass
class Validation:
    module: Path
    policy: Policy
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    functions: list[udf_abi.FunctionSpec] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        described = ", ".join(
            f"{s.name}({', '.join(a.type for a in s.args)}) -> {s.returns.type} [{', '.join(s.styles)}]"
            for s in self.functions
        )
        return f"{len(self.functions)} function(s): {described or 'none'}"


class _Collector:
    def __init__(self) -> None:
        self.violations: list[Problem] = []

    def add(self, rule: str, subject: str, problem: str, fix: str) -> None:
        self.violations.append(Problem(rule, subject, problem, fix))


def validate(module_path: Path, policy_path: Path | None = None) -> Validation:
    """Every rule checked; never raises for a rule broken (only for a file that is not wasm at all)."""
    return validate_policy(module_path, load_policy(policy_path))


def validate_policy(module_path: Path, policy: Policy) -> Validation:
    """validate() with a policy already made (a bundle's manifest carries its limits)."""
    found = _Collector()
    result = Validation(module_path, policy)
    module = wasm_module.parse(module_path)
    data = module_path.read_bytes()

    problem = wasmtime.validation_problem(data)
    if problem:
        found.add(
            "wasm",
            "module",
            f"wasmtime refuses it: {problem}",
            "fix the compiler output; `wasm-tools validate` shows where",
        )
    if module.size > policy.max_module_bytes:
        found.add(
            "size",
            "module",
            f"{module.size:,} bytes is over the policy's max-module-bytes {policy.max_module_bytes:,}",
            'build with opt-level "z" and wasm-opt (`nox -s udf -- build`), drop dependencies, or raise the limit in the policy',
        )

    _check_exports_of_abi(module, found)
    result.functions = _check_manifest(module, found)
    _check_memory(module, policy, found)
    _check_imports(module, policy, found)
    if module.start is not None:
        found.add(
            "no-start",
            f"start function {module.function_name(module.start)}",
            "the module has a start function: instantiating it runs guest code before the host can set limits",
            "remove it (Rust/C: do not use a constructor that needs one; initialisation goes in `_initialize` for reactors)",
        )

    result.problems = found.violations
    result.bytes = module.size
    return result


def _check_exports_of_abi(module: wasm_module.Module, found: _Collector) -> None:
    for name, signature in udf_abi.REQUIRED_EXPORTS.items():
        rule = "abi-version" if name == udf_abi.EXPORT_ABI_VERSION else "allocator"
        function = module.exported_function(name)
        if function is None:
            found.add(
                rule, name, "the export is missing", "build with the SDK (it exports it); see docs/udf-abi.md section 1"
            )
        elif module.function_signature(function.index) != signature:
            found.add(
                rule,
                name,
                f"has the signature {module.function_signature(function.index)}, not {signature}",
                "see docs/udf-abi.md section 1",
            )


def _check_manifest(module: wasm_module.Module, found: _Collector) -> list[udf_abi.FunctionSpec]:
    payloads = module.custom_sections(udf_abi.MANIFEST_SECTION)
    if not payloads:
        found.add(
            "manifest",
            f"custom section {udf_abi.MANIFEST_SECTION}",
            "the module has no manifest",
            "declare functions with the SDK's udf! macro (Rust), WASMQE_MANIFEST (C), or a wasm-qe-udf.jsonl "
            "beside the project (Go; `udf build` appends it); a wasm-opt or strip step must keep the section",
        )
        return []
    try:
        specs = udf_abi.parse_manifest(payloads)
    except udf_abi.ManifestError as exc:
        found.add(
            "manifest",
            f"custom section {udf_abi.MANIFEST_SECTION}",
            exc.what,
            exc.fix or "see docs/udf-abi.md section 2",
        )
        return []
    if not specs:
        found.add(
            "manifest",
            f"custom section {udf_abi.MANIFEST_SECTION}",
            "the manifest declares no function",
            "declare at least one",
        )
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            found.add("manifest", spec.name, "declared more than once", "each function has one record")
        seen.add(spec.name)
        problem = udf_abi.abi_version_problem(spec.abi)
        if problem:
            found.add("abi-version", spec.name, problem, f"build with an SDK for ABI {udf_abi.ABI_VERSION}")
    abis = {spec.abi for spec in specs}
    if len(abis) > 1:
        found.add(
            "abi-version",
            "manifest",
            f"records disagree on the ABI version ({', '.join(sorted(abis))})",
            "build every function with the same SDK",
        )

    declared_exports: set[str] = set()
    for spec in specs:
        for style in spec.styles:
            export = spec.export_name(style)
            declared_exports.add(export)
            if style == "scalar":
                problem = spec.scalar_problem()
                if problem:
                    found.add(
                        "signature",
                        spec.name,
                        f"lists the scalar style but {problem}",
                        "drop `scalar` from its styles; use document or batch",
                    )
                    continue
            function = module.exported_function(export)
            expected = spec.expected_signature(style)
            if function is None:
                found.add(
                    "signature",
                    export,
                    f"the manifest lists the {style} style for {spec.name} but the module does not export {export}",
                    f"export it as {expected}, or drop {style!r} from the record",
                )
            elif module.function_signature(function.index) != expected:
                found.add(
                    "signature",
                    export,
                    f"is {module.function_signature(function.index)}, but {spec.name}'s manifest record needs {expected} for the {style} style",
                    "make the manifest record and the function agree (the SDK's macro writes both from one signature)",
                )
    for exported in module.exports:
        if (
            exported.kind == "func"
            and exported.name.endswith(("__doc", "__batch"))
            and exported.name not in declared_exports
        ):
            found.add(
                "signature",
                exported.name,
                "is exported but no manifest record lists that style",
                "add the style to the function's record, or stop exporting it",
            )
    return specs


def _check_memory(module: wasm_module.Module, policy: Policy, found: _Collector) -> None:
    exported = [e for e in module.exports if e.kind == "memory"]
    if len(module.memories) != 1 or any(m.imported for m in module.memories):
        what = (
            "imports its memory" if any(m.imported for m in module.memories) else f"has {len(module.memories)} memories"
        )
        found.add(
            "memory",
            "memory",
            f"the module {what}; the ABI needs exactly one memory, defined by the module",
            "link a normal wasm32 module (no --import-memory, no multi-memory)",
        )
        return
    if [e.name for e in exported] != ["memory"]:
        found.add(
            "memory",
            "memory",
            f"the memory is exported as {[e.name for e in exported] or 'nothing'}, not as `memory`",
            "export it as `memory` (the default of rustc, clang and Go)",
        )
    memory = module.memories[0]
    if memory.memory64:
        found.add("memory", "memory", "the memory is 64-bit", "build for wasm32")
    if memory.shared:
        found.add(
            "no-threads", "memory", "the memory is shared (threads)", "build without the atomics/threads features"
        )
    if memory.maximum is None:
        found.add(
            "memory",
            "memory",
            "the memory declares no maximum, so the module can grow to 4 GiB",
            f"build with `nox -s udf -- build` (sets it to {policy.max_memory_pages} pages), or link with --max-memory={policy.max_memory_pages * WASM_PAGE}",
        )
    elif memory.maximum > policy.max_memory_pages:
        found.add(
            "memory",
            "memory",
            f"the maximum is {memory.maximum} pages ({memory.maximum * WASM_PAGE // 2**20} MiB), over the policy's {policy.max_memory_pages}",
            f"link with --max-memory={policy.max_memory_pages * WASM_PAGE} or raise max-memory-pages in the policy",
        )
    if memory.minimum > policy.max_memory_pages:
        found.add(
            "memory",
            "memory",
            f"the initial memory ({memory.minimum} pages) is over the policy's maximum",
            "lower --initial-memory",
        )


def _check_imports(module: wasm_module.Module, policy: Policy, found: _Collector) -> None:
    for imported in module.imports:
        qualified = f"{imported.module}.{imported.name}"
        if imported.module == udf_abi.DOC_IMPORT_MODULE:
            expected = udf_abi.DOC_IMPORTS.get(imported.name)
            if imported.kind != "func" or expected is None:
                found.add(
                    "imports",
                    qualified,
                    f"is not a function of the host API ({', '.join(udf_abi.DOC_IMPORTS)})",
                    "see docs/udf-abi.md section 4",
                )
                continue
            actual = module.function_signature(imported.index)
            if actual != expected:
                found.add(
                    "imports",
                    qualified,
                    f"is imported as {actual}, but the host provides {expected}",
                    "fix the import declaration (the SDKs declare it right)",
                )
            continue
        if qualified in policy.allowed_imports:
            continue
        kind = " (WASI)" if imported.module.startswith("wasi") else ""
        found.add(
            "imports",
            qualified,
            f"imports a {imported.kind}{kind} outside the host API, and the policy ({Path(policy.source).name}) does not allow it",
            "remove what pulls it in (filesystem, sockets, clocks, randomness are not available to a UDF), "
            "or allow exactly this import in a policy passed with --policy",
        )
