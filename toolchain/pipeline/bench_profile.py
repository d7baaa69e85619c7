"""Where the time goes (issue 16, item 2): a CPU profile of our engine's wasm in Chromium, per TPC-H query.

    python -m toolchain bench-queries --profile q1,q17 [--scale 0.1] [--runs 3] [--package NAME=DIR]

For each engine package: one fresh Chromium page loads the package's JS glue with the *named*
module (the wasm-opt stage's output, which still has its names section; the shipped _bg.wasm is
the same module with that section stripped, so the code and the function indices are the same),
registers the TPC-H tables, then for each query runs it twice (warm-up: V8 tiers the hot functions
up to TurboFan), then `--runs` times under the Chrome DevTools Protocol's sampling profiler.

Out, under artifacts/reports/bench-queries/profiles/:
  <package>-tpch-sf<scale>-<query>.cpuprofile   the raw profile (Chrome DevTools > Performance > Load profile)
  <package>-tpch-sf<scale>.md / .json           the summary: self time by kind (wasm, JS, GC,
                                                (program), (idle)), the top functions by self time,
                                                self time by crate and by category

Reading the profile: V8 inlines small wasm functions into their callers (their time is the
caller's), and memory.copy/fill (what memcpy/memset compile to with bulk memory) are instructions,
not calls: their time is the function that runs them. Functions without a name are the shared
bodies wasm-opt's --merge-similar-functions made; they are named after the functions that call
them (`[merged]`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolchain.analysis import wasm_module
from toolchain.core import cache, console
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import FINAL, WASM_BINDGEN, WASM_OPT, Layout
from toolchain.core.record import BuildRecord
from toolchain.pipeline import bench_queries as bq
from toolchain.tools import serve, webdriver

DEFAULT_RUNS = 3
WARMUPS = 2
DEFAULT_INTERVAL_US = 100
TOP_FUNCTIONS = 30
TOP_CRATES = 15
SMALL_BODY = 128  # bytes: a wasm function this small that shows up hot was probably meant to be inlined
PROFILES_DIR = "profiles"

# V8's pseudo-frames: not code of the page.
ROOT, PROGRAM, IDLE, GC = "(root)", "(program)", "(idle)", "(garbage collector)"
SPECIAL = (PROGRAM, IDLE, GC)

# A frame's kind: what the totals split the time into.
WASM, JS = "wasm", "JS"
KINDS = (WASM, JS, GC, PROGRAM, IDLE)


# ---------------------------------------------------------------- names


_INDEXED = re.compile(r"\[\d+\]$")  # wasm-opt's suffix for a second function of the same name: f[1], f[2]
_UNNAMED = re.compile(r"^(?:wasm-function\[(\d+)\]|\$?func(\d+))$")
_PATH = re.compile(r"\b(?:[A-Za-z_][A-Za-z0-9_]*::)+(?=[A-Za-z_])")
MAX_GENERIC_ARGS = 40


def _matching(text: str, start: int) -> int:
    """The index of the '>' closing the '<' at `start` (an arrow `->` inside does not count); len(text) if none."""
    depth = 0
    for i in range(start, len(text)):
        char = text[i]
        if char == "<":
            depth += 1
        elif char == ">" and text[i - 1] != "-":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _shorten(text: str, inside: bool) -> str:
    out, i = [], 0
    while i < len(text):
        char = text[i]
        previous = text[i - 1] if i else ""
        # A generic argument list follows a name (`Vec<u8>`) or a turbofish (`f::<T>`); a '<' anywhere
        # else opens a qualified path (`<T as Trait>::f`), which stays.
        if char == "<" and previous and (previous.isalnum() or previous in "_:"):
            end = _matching(text, i)
            arguments = _shorten(text[i + 1 : end], inside=True)
            out.append("<" + (arguments if len(arguments) <= MAX_GENERIC_ARGS else "…") + ">")
            i = end + 1
            continue
        out.append(char)
        i += 1
    joined = "".join(out)
    return _PATH.sub("", joined) if inside else joined


def short_name(name: str) -> str:
    """A function's name for people: no crate hashes or duplicate suffixes; the outer path stays,
    generic arguments lose their paths and, when still longer than MAX_GENERIC_ARGS, become `…`:
    `<alloc[1848f5]::vec::Vec<arrow_buffer[ce2f]::native::i256>>::push` -> `<alloc::vec::Vec<i256>>::push`."""
    return _shorten(_INDEXED.sub("", wasm_module.clean_name(name)), inside=False)


def crate_of(name: str) -> str:
    """wasm_module.crate_of, and a trait's crate for a primitive's impl (`<i128 as arrow_array::...>::f`)."""
    crate = wasm_module.crate_of(name)
    if crate == "[C or unmangled]" and name.startswith("<") and " as " in name:
        return wasm_module.crate_of(name.split(" as ", 1)[1])
    return crate


# Categories, first match wins. A predicate sees the frame's kind, its short name and its crate.
# The order matters: allocation inside a hash table is the allocator's, a drop is a drop wherever.
Category = tuple[str, Callable[[str, str, str], bool]]


def _name(pattern: str, kinds: Iterable[str] = (WASM,)) -> Callable[[str, str, str], bool]:
    regex, wanted = re.compile(pattern), set(kinds)
    return lambda kind, name, crate: kind in wanted and regex.search(name) is not None


def _crates(*prefixes: str) -> Callable[[str, str, str], bool]:
    return lambda kind, name, crate: kind == WASM and crate.startswith(prefixes)


CATEGORIES: tuple[Category, ...] = (
    ("V8: garbage collector", lambda kind, name, crate: kind == GC),
    ("V8: (program) (the VM itself: compiling, the profiler, callbacks)", lambda kind, name, crate: kind == PROGRAM),
    ("idle (awaiting: the page's event loop)", lambda kind, name, crate: kind == IDLE),
    (
        "time functions (performance.now / Date.now through JS)",
        _name(r"(^|::|\b)(now|__wbg_now\w*)$|web_time::|SystemTime|Instant>::", kinds=(WASM, JS)),
    ),
    ("JS: wasm-bindgen glue", lambda kind, name, crate: kind == JS and crate == "[JS glue]"),
    ("JS: the page, the driver's scripts, builtins", lambda kind, name, crate: kind == JS),
    (
        "copies and fills (memcpy/memset, memory.copy: extend from a slice, to_vec, resize)",
        _name(
            r"\b(memcpy|memmove|memset|memcmp|bcmp)\b|compiler_builtins::mem::|SpecExtend<&|extend_from_slice"
            r"|copy_from_slice|to_vec|extend_with|extend_zeros|spec_clone"
        ),
    ),
    (
        "allocator (dlmalloc, Vec/Buffer growth)",
        _name(
            r"dlmalloc|__rust_(alloc|dealloc|realloc)|__rdl_|alloc::alloc::|raw_vec|RawVec|finish_grow|grow_one"
            r"|reserve_for_push|do_reserve|MutableBuffer>::(reallocate|reserve|new)|::allocate_in|try_allocate"
        ),
    ),
    ("drop (destructors, frees)", _name(r"drop_in_place|Drop>::drop\b")),
    (
        "128-bit integer arithmetic (compiler_builtins: decimals)",
        _name(r"compiler_builtins::int::|__(multi3|[u]?divti3|[u]?modti3)|i128 as .*ArrowNativeTypeOp>::|UMulo|mulo\b"),
    ),
    (
        "hashing (hash_utils, ahash, foldhash)",
        _name(r"hash_utils|create_hashes|ahash|foldhash|RandomState|hash_one|Hasher|::hash::|xxh"),
    ),
    (
        "hash tables (hashbrown, join hash maps)",
        _name(r"hashbrown|RawTable|HashTable|JoinHashMap|HashMap|find_or_insert"),
    ),
    (
        "sorting and merging",
        _name(
            r"::sort\b|::sort::|sorts::|lexsort|sort_unstable|heapsort|quicksort|insertion_sort|merge_sort|sort_to_indices|TopK"
        ),
    ),
    ("Arrow IPC encode / decode", _crates("arrow_ipc", "flatbuffers")),
    ("LIKE and regular expressions (regex, memchr)", _crates("regex", "memchr", "aho_corasick")),
    ("our engine (crates/datafusion-wasm)", _crates("datafusion_wasm")),
    ("wasm-bindgen, js-sys (Rust side)", _crates("wasm_bindgen", "js_sys", "[wasm-bindgen]")),
    ("formatting (core::fmt)", _name(r"core::fmt::|alloc::fmt::")),
    (
        "core iterators, slices, ranges (not inlined)",
        _name(r"^<?&?(mut )?core::(iter|slice|ops::range|option|result)::"),
    ),
    (
        "arrow compute kernels (arith, cmp, select, cast, string)",
        _crates("arrow_arith", "arrow_ord", "arrow_select", "arrow_cast", "arrow_string"),
    ),
    ("arrow row format", _crates("arrow_row")),
    ("arrow arrays and buffers", _crates("arrow_array", "arrow_buffer", "arrow_data", "arrow_schema", "arrow")),
    (
        "DataFusion aggregation",
        _name(r"datafusion_physical_plan::aggregates|groups_accumulator|datafusion_functions_aggregate"),
    ),
    ("DataFusion joins", _name(r"datafusion_physical_plan::joins")),
    ("DataFusion other operators (filter, projection, coalesce, repartition...)", _crates("datafusion_physical_plan")),
    (
        "DataFusion expressions and functions",
        _crates("datafusion_physical_expr", "datafusion_functions", "datafusion_expr"),
    ),
    (
        "DataFusion planning (SQL, optimizer)",
        _crates(
            "datafusion_sql", "sqlparser", "datafusion_optimizer", "datafusion_physical_optimizer", "datafusion_catalog"
        ),
    ),
    ("async runtime (tokio, futures)", _crates("tokio", "futures")),
    ("DataFusion other (core, common, execution)", _crates("datafusion")),
    ("Rust std (core, alloc, std) other", _crates("core", "alloc", "std", "hashbrown", "compiler_builtins")),
    ("other wasm", lambda kind, name, crate: kind == WASM),
)
OTHER = "other"


def category_of(kind: str, name: str, crate: str) -> str:
    return next((label for label, test in CATEGORIES if test(kind, name, crate)), OTHER)


# ---------------------------------------------------------------- the summary


@dataclass(frozen=True)
class Frame:
    """One profile node's function, as the summary names it."""

    kind: str  # KINDS, or ROOT
    name: str  # short_name(...) for wasm, "name (file)" for JS
    crate: str
    category: str
    body_bytes: int | None = None  # the wasm function's body size (named module)


@dataclass
class FunctionTime:
    name: str
    kind: str
    crate: str
    category: str
    self_ms: float
    total_ms: float  # self + callees, each sample counted once however deep the function recurs
    body_bytes: int | None = None
    caller: str | None = None  # the caller its self time came from most


@dataclass
class ProfileSummary:
    query: str
    runs_ms: list[float]
    profile_ms: float  # the sampled time: the sum of the sample intervals
    samples: int
    by_kind: dict[str, float]  # ms
    functions: list[FunctionTime]  # by self time, descending
    by_crate: dict[str, float]  # ms, descending
    by_category: dict[str, float]  # ms, descending
    profile_path: str | None = None

    def pct(self, ms: float) -> float:
        return 100.0 * ms / self.profile_ms if self.profile_ms > 0 else 0.0

    @property
    def busy_ms(self) -> float:
        return self.profile_ms - self.by_kind.get(IDLE, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "runs_ms": [round(v, 3) for v in self.runs_ms],
            "profile_ms": round(self.profile_ms, 3),
            "samples": self.samples,
            "profile": self.profile_path,
            "by_kind_ms": {k: round(v, 3) for k, v in self.by_kind.items()},
            "by_category_ms": {k: round(v, 3) for k, v in self.by_category.items()},
            "by_crate_ms": {k: round(v, 3) for k, v in self.by_crate.items()},
            "functions": [
                dataclasses.asdict(f) | {"self_ms": round(f.self_ms, 3), "total_ms": round(f.total_ms, 3)}
                for f in self.functions[: TOP_FUNCTIONS * 3]
            ],
        }


def sample_durations(profile: dict[str, Any]) -> list[float]:
    """Each sample's duration in ms: the time to the next sample (the last one: to the profile's end),
    as Chrome DevTools attributes them."""
    deltas = [float(d) for d in profile.get("timeDeltas") or []]
    samples = profile.get("samples") or []
    if len(deltas) != len(samples):
        raise ToolchainError(
            f"a CPU profile with {len(samples)} samples and {len(deltas)} time deltas", "profile again"
        )
    durations = [max(d, 0.0) / 1e3 for d in deltas[1:]]
    if samples:
        last = float(profile["endTime"]) - float(profile["startTime"]) - sum(deltas)
        durations.append(max(last, 0.0) / 1e3)
    return durations


class Namer:
    """Names a profile's call frames: wasm frames from V8 (which reads the names section), unnamed
    ones from their callers in `module`; JS frames by function and file."""

    def __init__(self, module: wasm_module.Module | None = None, glue: str | None = None):
        self.module, self.glue = module, glue
        self._callers: dict[int, list[int]] | None = None
        self._sizes: dict[str, int] | None = None

    def sizes(self) -> dict[str, int]:
        if self._sizes is None:
            self._sizes = {}
            if self.module is not None:
                for function in self.module.functions:
                    if function.name and not function.imported:
                        self._sizes[function.name] = function.body_size
        return self._sizes

    def callers(self, index: int) -> list[int]:
        if self.module is None:
            return []
        if self._callers is None:
            self._callers = defaultdict(list)
            for caller, sites in self.module.call_sites().items():
                for callee in sites.direct:
                    self._callers[callee].append(caller)
        return self._callers.get(index, [])

    def wasm_name(self, raw: str) -> tuple[str, str, int | None]:
        """(the function's full name, a note, its body bytes) for a wasm frame V8 named `raw`.
        An unnamed function (wasm-opt's merged bodies) takes its callers' name: the note says so."""
        unnamed = _UNNAMED.match(raw)
        if not unnamed:
            return raw, "", self.sizes().get(raw)
        index = int(unnamed.group(1) or unnamed.group(2))
        if self.module is None or index >= len(self.module.functions):
            return raw, "", None
        function = self.module.functions[index]
        if function.name:
            return function.name, "", function.body_size
        named = [self.module.functions[c].name or "" for c in self.callers(index) if self.module.functions[c].name]
        if not named:
            return raw, "", function.body_size
        shorts = Counter(short_name(n) for n in named)
        first, _ = shorts.most_common(1)[0]
        full = next(n for n in named if short_name(n) == first)
        more = f", +{len(shorts) - 1} other callers" if len(shorts) > 1 else ""
        return full, f" [merged body {raw}{more}]", function.body_size

    def frame(self, call_frame: dict[str, Any]) -> Frame:
        raw = str(call_frame.get("functionName") or "")
        url = str(call_frame.get("url") or "")
        if raw == ROOT:
            return Frame(ROOT, ROOT, "[V8]", ROOT)
        if raw in SPECIAL:
            return Frame(raw, raw, "[V8]", category_of(raw, raw, "[V8]"))
        if url.endswith(".wasm") or url.startswith("wasm://"):
            name, note, size = self.wasm_name(raw)
            short = name if _UNNAMED.match(name) else short_name(name)
            crate = "[unnamed]" if _UNNAMED.match(name) else crate_of(name)
            return Frame(WASM, short + note, crate, category_of(WASM, short, crate), size)
        file = url.rsplit("/", 1)[-1]
        crate = "[JS glue]" if self.glue and file == self.glue else "[JS]"
        shown = f"{raw or '(anonymous)'} ({file or 'builtin or driver script'})"
        return Frame(JS, shown, crate, category_of(JS, raw, crate))


def summarise(
    profile: dict[str, Any], query: str, runs_ms: Sequence[float] = (), namer: Namer | None = None
) -> ProfileSummary:
    """A cpuprofile's (Profiler.stop's `profile`) self time by kind, function, crate and category."""
    namer = namer or Namer()
    nodes = {int(n["id"]): n for n in profile.get("nodes") or []}
    parent: dict[int, int] = {}
    for node in nodes.values():
        for child in node.get("children") or []:
            parent[int(child)] = int(node["id"])
    frames = {node_id: namer.frame(node.get("callFrame") or {}) for node_id, node in nodes.items()}

    self_ms: dict[str, float] = defaultdict(float)
    total_ms: dict[str, float] = defaultdict(float)
    by_kind: dict[str, float] = dict.fromkeys(KINDS, 0.0)
    by_crate: dict[str, float] = defaultdict(float)
    by_category: dict[str, float] = defaultdict(float)
    described: dict[str, Frame] = {}
    callers: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    stacks: dict[int, set[str]] = {}

    def stack_of(node_id: int) -> set[str]:
        if node_id not in stacks:
            names, current = set(), node_id
            while current in nodes:
                frame = frames[current]
                if frame.kind != ROOT:
                    names.add(frame.name)
                current = parent.get(current, -1)
            stacks[node_id] = names
        return stacks[node_id]

    durations = sample_durations(profile)
    for node_id, ms in zip(profile.get("samples") or [], durations):
        node_id = int(node_id)
        if node_id not in frames:
            continue
        frame = frames[node_id]
        if frame.kind == ROOT:  # a sample outside any frame: the VM's own, as DevTools shows it
            frame = Frame(PROGRAM, PROGRAM, "[V8]", category_of(PROGRAM, PROGRAM, "[V8]"))
        described.setdefault(frame.name, frame)
        self_ms[frame.name] += ms
        by_kind[frame.kind] += ms
        by_crate[frame.crate] += ms
        by_category[frame.category] += ms
        for name in stack_of(node_id):
            total_ms[name] += ms
        up = parent.get(node_id)
        if up is not None and frames[up].kind != ROOT:
            callers[frame.name][frames[up].name] += ms
    functions = [
        FunctionTime(
            name,
            f.kind,
            f.crate,
            f.category,
            self_ms[name],
            total_ms.get(name, self_ms[name]),
            f.body_bytes,
            max(callers[name], key=lambda c: callers[name][c]) if callers[name] else None,
        )
        for name, f in described.items()
    ]
    functions.sort(key=lambda f: (-f.self_ms, f.name))

    def ranked(values: dict[str, float]) -> dict[str, float]:
        return dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))

    return ProfileSummary(
        query=query,
        runs_ms=list(runs_ms),
        profile_ms=sum(durations),
        samples=len(durations),
        by_kind=by_kind,
        functions=functions,
        by_crate=ranked(by_crate),
        by_category=ranked(by_category),
    )


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _brief(name: str | None, width: int = 70) -> str:
    """A caller's name in a table cell: its last path segments when long."""
    if not name:
        return ""
    if len(name) > width:
        name = "…" + name[-(width - 1) :]
    return f"`{name}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def summary_markdown(summary: ProfileSummary, top: int = TOP_FUNCTIONS) -> str:
    s = summary
    runs = ", ".join(_ms(v) for v in s.runs_ms) or "-"
    kinds = "; ".join(f"{k} {s.pct(v):.1f}%" for k, v in s.by_kind.items())
    lines = [
        f"### {s.query}",
        "",
        f"Runs (ms): {runs}. Profiled {_ms(s.profile_ms)} ms in {s.samples} samples "
        f"(mean interval {1e3 * s.profile_ms / max(s.samples, 1):.0f} µs). Self time: {kinds}."
        + (f" Profile: `{s.profile_path}`." if s.profile_path else ""),
        "",
        f"Top {top} functions by self time (% of the profiled time; total: with callees; body: the wasm "
        "function's size in bytes; caller: where most of its self time was called from):",
        "",
        "| # | function | crate | category | self ms | self % | total % | body B | caller |",
        "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for rank, f in enumerate(s.functions[:top], 1):
        body = "" if f.body_bytes is None else str(f.body_bytes)
        lines.append(
            f"| {rank} | `{_cell(f.name)}` | {_cell(f.crate)} | {_cell(f.category)} | {_ms(f.self_ms)} "
            f"| {s.pct(f.self_ms):.1f} | {s.pct(f.total_ms):.1f} | {body} | {_cell(_brief(f.caller))} |"
        )
    small = [f for f in s.functions if f.kind == WASM and f.body_bytes is not None and f.body_bytes <= SMALL_BODY]
    merged = [f for f in s.functions if "[merged body" in f.name]
    lines += [
        "",
        f"Codegen signs: {s.pct(sum(f.self_ms for f in small)):.1f}% self time in {len(small)} wasm functions of at "
        f"most {SMALL_BODY} bytes (not inlined: iterator next/fold, push, accessors, closures); "
        f"{s.pct(sum(f.self_ms for f in merged)):.1f}% in {len(merged)} bodies wasm-opt merged (called through a thunk).",
    ]
    lines += ["", "| category | self ms | % |", "| --- | ---: | ---: |"]
    lines += [f"| {_cell(k)} | {_ms(v)} | {s.pct(v):.1f} |" for k, v in s.by_category.items() if v > 0]
    crates = [(k, v) for k, v in s.by_crate.items() if v > 0]
    lines += ["", "| crate | self ms | % |", "| --- | ---: | ---: |"]
    lines += [f"| {_cell(k)} | {_ms(v)} | {s.pct(v):.1f} |" for k, v in crates[:TOP_CRATES]]
    if len(crates) > TOP_CRATES:
        rest = sum(v for _, v in crates[TOP_CRATES:])
        lines.append(f"| {len(crates) - TOP_CRATES} other crates | {_ms(rest)} | {s.pct(rest):.1f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- the named module


@dataclass(frozen=True)
class NamedPackage:
    package: bq.PackageSpec
    named_module: Path
    lib_name: str


def build_command(package_dir: Path) -> str:
    """The command that (re)builds the package in `package_dir`, with its stages."""
    if package_dir.parent.parent.name == "variants":
        return f"nox -s build -- --variant {package_dir.parent.name}"
    if package_dir.parent.name == "artifacts":
        return "nox -s build"
    return f"python -m toolchain build --artifacts-dir {package_dir.parent}"


def find_named_module(package: bq.PackageSpec) -> NamedPackage:
    """The module with the names section that the package's shipped module was stripped from
    (its build record's wasm-opt stage, or wasm-bindgen's when wasm-opt did not run), checked to
    be the build the package holds."""
    directory = package.directory
    rebuild = build_command(directory)
    probe = Layout(directory.parent, directory.name, "")
    try:
        record = BuildRecord.load(probe)
    except ToolchainError as exc:
        raise ToolchainError(
            f"{directory} has no build record ({probe.record_path}): the module with the names section the "
            f"profile needs is unknown ({exc.what})",
            f"build the package with its stages: {rebuild}",
        ) from exc
    layout = Layout(directory.parent, directory.name, record.crate.lib_name)
    stage = WASM_OPT if record.stage(WASM_OPT) else WASM_BINDGEN
    named = record.module(layout, stage)
    if named is None or not named.is_file():
        raise ToolchainError(
            f"{directory}: the {stage} stage's module with the names section is missing "
            f"({named or layout.stage_module(stage)})",
            f"rebuild the package: {rebuild}",
        )
    shipped, final = layout.shipped_module, record.stage(FINAL)
    if not shipped.is_file() or final is None or cache.file_sha256(shipped) != final.sha256:
        raise ToolchainError(
            f"{shipped} is not the module its build record ({layout.record_path}) describes: the names "
            "would belong to other code",
            f"rebuild the package: {rebuild}",
        )
    return NamedPackage(package, named, record.crate.lib_name)


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class ProfileOptions:
    queries: tuple[str, ...]
    scale: float = 0.1
    runs: int = DEFAULT_RUNS
    packages: tuple[bq.PackageSpec, ...] = (bq.PackageSpec(*bq.DEFAULT_PACKAGE),)
    browser: str = "chromium"
    interval_us: int = DEFAULT_INTERVAL_US
    bench_dir: Path = bq.DEFAULT_BENCH_DIR
    output_dir: Path = bq.DEFAULT_REPORTS
    job_timeout_s: float = 1800.0


@dataclass
class PackageProfile:
    name: str
    directory: str
    named_module: str
    summaries: list[ProfileSummary] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # query -> what failed


@dataclass
class ProfileReport:
    scale: float
    browser_version: str | None
    runs: int
    interval_us: int
    started_at: str
    packages: list[PackageProfile]
    machine: dict[str, Any]

    def markdown(self) -> str:
        lines = [
            f"CPU profiles of our engine's wasm: TPC-H SF {bq.scale_text(self.scale)}, "
            f"{self.browser_version or 'chromium'}, {WARMUPS} warm-up runs then {self.runs} profiled runs per query, "
            f"sampling every {self.interval_us} µs (V8's CPU profiler over the Chrome DevTools Protocol). "
            f"Load average {self.machine.get('load_average_start')} at the start, {self.machine.get('cpus')} CPUs.",
        ]
        for package in self.packages:
            lines += [
                "",
                f"## {package.name}: {package.directory} (named module {package.named_module})",
                "",
                "| query | runs ms (median) | wasm % | JS % | GC % | (program) % | idle % | top function (self %) | top category (%) |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
            ]
            for s in package.summaries:
                top = s.functions[0] if s.functions else None
                category = next(iter(s.by_category.items()), None)
                lines.append(
                    f"| {s.query} | {_ms(statistics.median(s.runs_ms)) if s.runs_ms else '-'} "
                    + "".join(f"| {s.pct(s.by_kind.get(k, 0.0)):.1f} " for k in KINDS)
                    + f"| `{_cell(top.name) if top else '-'}` ({s.pct(top.self_ms) if top else 0:.1f}) "
                    + f"| {_cell(category[0]) if category else '-'} ({s.pct(category[1]) if category else 0:.1f}) |"
                )
            for query, error in package.errors.items():
                lines.append(f"| {query} | error: {_cell(error)} | | | | | | | |")
            for s in package.summaries:
                lines += ["", summary_markdown(s)]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "what": "CPU profiles of our engine's wasm in Chromium per TPC-H query (python -m toolchain "
            "bench-queries --profile; toolchain/pipeline/bench_profile.py). Times in ms of sampled time.",
            "started_at": self.started_at,
            "scale": self.scale,
            "browser": self.browser_version,
            "warmups": WARMUPS,
            "runs": self.runs,
            "interval_us": self.interval_us,
            "machine": self.machine,
            "packages": [
                {
                    "name": p.name,
                    "directory": p.directory,
                    "named_module": p.named_module,
                    "errors": p.errors,
                    "queries": [s.to_json() for s in p.summaries],
                }
                for p in self.packages
            ],
        }

    def write(self, directory: Path) -> Path:
        stem = "-".join(p.name for p in self.packages) + f"-tpch-sf{bq.scale_text(self.scale)}"
        cache.write_json_atomic(directory / f"{stem}.json", self.to_json())
        (directory / f"{stem}.md").write_text(self.markdown() + "\n")
        return directory / f"{stem}.md"


def check_browser(browser: str) -> None:
    if browser != "chromium":
        raise ToolchainError(
            f"--profile works in Chromium only (the Chrome DevTools Protocol's profiler); --browser {browser} was given",
            "drop --browser or pass --browser chromium",
        )


def _profile_query(
    session: bq.BrowserSession, query: bq.Query, runs: int, interval_us: int
) -> tuple[dict[str, Any], list[float]]:
    """Warm-ups, then `runs` executions between Profiler.start and Profiler.stop."""
    session.job("repeat", {"sql": query.sql, "runs": WARMUPS})
    driver = session.driver
    driver.execute_cdp_cmd("Profiler.enable", {})
    driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": interval_us})
    driver.execute_cdp_cmd("Profiler.start", {})
    try:
        out = session.job("repeat", {"sql": query.sql, "runs": runs})
    finally:
        stopped = driver.execute_cdp_cmd("Profiler.stop", {})
    return stopped["profile"], [float(v) for v in out["samples"]]


def run(options: ProfileOptions) -> ProfileReport:
    check_browser(options.browser)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine = bq.machine_info()
    named = [find_named_module(p) for p in options.packages]  # every package's error before any work
    queries = bq.load_queries(options.bench_dir / "tpch", options.queries)
    data = bq.ensure_tpch(options.scale)
    tables = [{"name": t.name, "url": f"/data/{t.path.name}"} for t in data.tables]
    out_dir = options.output_dir / PROFILES_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    mounts = {"/page/": options.bench_dir / "page", "/data/": data.directory}
    for n in named:
        mounts[f"/pkg/{n.package.name}/"] = n.package.directory
        mounts[f"/named/{n.package.name}/"] = n.named_module.parent
    browser_version = None
    results = []
    with serve.StaticServer(mounts) as server:
        for n in named:
            name = n.package.name
            result = PackageProfile(name, str(n.package.directory), str(n.named_module))
            results.append(result)
            with console.stage(f"read the names of {n.named_module}"):
                namer = Namer(wasm_module.parse(n.named_module), glue=n.package.glue.rsplit("/", 1)[-1])
            with bq.browser_session(options.browser, server.url, options.job_timeout_s) as session:
                browser_version = browser_version or session.version
                load = {
                    "engine": "ours",
                    "glue": f"/pkg/{name}/{n.package.glue}",
                    "module": f"/named/{name}/{n.named_module.name}",
                }
                with console.stage(f"{name} (named module) in {session.name}: load and ingest"):
                    try:
                        session.open()
                        session.job("load", load)
                        session.job("ingest", {"tables": tables})
                    except webdriver.JSError as exc:
                        raise bq.BenchError(
                            f"{name} with its named module could not be loaded or given the tables: "
                            f"{exc.name}: {exc.message}",
                            f"the page's console: {session.tail()}",
                        ) from exc
                for query in queries:
                    with console.stage(f"{name}: profile {query.name} ({WARMUPS} warm-ups + {options.runs} runs)"):
                        try:
                            profile, runs_ms = _profile_query(session, query, options.runs, options.interval_us)
                        except webdriver.JSError as exc:
                            result.errors[query.name] = f"{exc.name}: {exc.message}"
                            console.warn(f"{name}: {query.name} failed: {exc.name}: {exc.message}")
                            if isinstance(exc, webdriver.WasmTrap):
                                for rest in queries[queries.index(query) + 1 :]:
                                    result.errors[rest.name] = f"not run: the instance trapped in {query.name}"
                                break
                            continue
                        path = out_dir / f"{name}-tpch-sf{bq.scale_text(options.scale)}-{query.name}.cpuprofile"
                        cache.write_json_atomic(path, profile)
                        started = time.monotonic()
                        summary = summarise(profile, query.name, runs_ms, namer)
                        summary.profile_path = str(path)
                        result.summaries.append(summary)
                        console.info(
                            f"{query.name}: {summary.samples} samples over {_ms(summary.profile_ms)} ms "
                            f"(summarised in {time.monotonic() - started:.1f} s)"
                        )
    machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return ProfileReport(
        scale=options.scale,
        browser_version=browser_version,
        runs=options.runs,
        interval_us=options.interval_us,
        started_at=started_at,
        packages=results,
        machine=machine,
    )
