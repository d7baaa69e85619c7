"""The query benchmark (issue 16, item 1): TPC-H in the browser against DuckDB-WASM and native
engines, every result checked against native DataFusion before any time is reported.

    python -m toolchain bench-queries [--scale 0.1] [--runs 5] [--package NAME=DIR ...] [--browser chromium]

Stages, each handing the next a typed value:
  data      TpchData      tpchgen-cli (PyPI, pinned) at --scale, one Arrow IPC stream per table,
                          cached in the tool cache by generator version + scale + layout
  queries   Query         the 22 TPC-H statements of benchmarks/queries/tpch (one statement each),
                          with the ORDER BY keys and LIMIT that decide how results compare
  engines   EngineRun     native DataFusion (1 partition: the oracle; and the default), native
                          DuckDB (1 thread), then in one browser each engine package and
                          DuckDB-WASM (eh bundle and worker), each in a fresh page: load, ingest,
                          1 warm-up + --runs timed executions per query (median), peak wasm memory
  compare   Comparison    every engine's result of every query against the oracle's
  report    BenchReport   JSON + Markdown under artifacts/reports/bench-queries/

Measurements only: nothing here asserts a time. A result that differs marks that query's times
as not comparable (left out of the ratios and geometric means) and the command exits 1.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import math
import os
import platform
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from toolchain.core import cache, console, process
from toolchain.core.errors import MissingTool, StageFailed, ToolchainError, WrongVersion
from toolchain.tools import browser as browsers
from toolchain.tools import npm, serve, webdriver

# ---------------------------------------------------------------- pinned versions and layout

TPCHGEN_VERSION = "4.0.0"  # PyPI tpchgen-cli; pyproject's `bench` extra pins the same
DUCKDB_WASM_VERSION = "1.32.0"  # npm @duckdb/duckdb-wasm; benchmarks/queries/duckdb-wasm/package-lock.json
TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")
# Rows per record batch in the IPC files: DataFusion's default batch size. Every engine gets the
# same batches (DataFusion natively and ours keep them as they are; DuckDB copies them into its
# own storage).
BATCH_ROWS = 8192
# Bumped when the conversion below changes what the cached files hold.
DATA_LAYOUT = 1
DATA_MANIFEST = "tpch.json"

DEFAULT_BENCH_DIR = Path("benchmarks/queries")
DEFAULT_REPORTS = Path("artifacts/reports/bench-queries")
DEFAULT_PACKAGE = ("default", Path("artifacts/datafusion-wasm"))
BROWSERS = ("chromium", "firefox")
# Engines a run may leave out (--skip); the oracle, native DataFusion with one partition, always runs.
SKIPPABLE = ("ours", "duckdb-wasm", "datafusion", "duckdb")

ORACLE = "datafusion-1p"
DUCKDB_WASM = "duckdb-wasm"
OURS_PREFIX = "ours:"

# Results compare numerically within these (DuckDB and DataFusion give decimals other scales,
# and DuckDB gives averages as doubles).
REL_TOLERANCE = 1e-9
ABS_TOLERANCE = 1e-6


class BenchError(StageFailed):
    """An engine could not be loaded or fed the data at all (a query that fails is a finding, not this)."""


# ---------------------------------------------------------------- queries


@dataclass(frozen=True)
class Query:
    name: str  # q1 .. q22
    sql: str
    order_by: tuple[str, ...]  # the final ORDER BY's items (output column names or positions), in order
    limit: int | None  # the final LIMIT


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def _top_level(sql: str) -> str:
    """`sql` with everything inside parentheses blanked out (same length): what is left is the outer statement."""
    out, depth = [], 0
    for char in sql:
        if char == "(":
            depth += 1
        out.append(char if depth == 0 else " ")
        if char == ")":
            depth -= 1
    return "".join(out)


def statement_count(sql: str) -> int:
    """Statements in `sql`: the non-empty pieces between semicolons outside comments and string literals."""
    text = re.sub(r"'(?:[^']|'')*'", "''", _strip_comments(sql))
    return sum(1 for piece in text.split(";") if piece.strip())


def parse_order(sql: str) -> tuple[tuple[str, ...], int | None]:
    """The outer statement's ORDER BY items (without ASC/DESC/NULLS ...) and LIMIT."""
    outer = _top_level(_strip_comments(sql)).rstrip().rstrip(";")
    limit_match = re.search(r"\blimit\s+(\d+)\s*$", outer, re.IGNORECASE)
    limit = int(limit_match.group(1)) if limit_match else None
    if limit_match:
        outer = outer[: limit_match.start()]
    orders = list(re.finditer(r"\border\s+by\b", outer, re.IGNORECASE))
    if not orders:
        return (), limit
    items = []
    for item in outer[orders[-1].end() :].split(","):
        words = item.split()
        while words and words[-1].lower() in ("asc", "desc", "first", "last", "nulls"):
            words.pop()
        if words:
            items.append(" ".join(words))
    return tuple(items), limit


def load_queries(directory: Path, names: Sequence[str] | None = None) -> list[Query]:
    """q1..q22 from `directory` (or only `names`), each one statement."""
    wanted = list(names) if names else [f"q{n}" for n in range(1, 23)]
    queries = []
    for name in wanted:
        path = directory / f"{name}.sql"
        if not path.is_file():
            raise ToolchainError(
                f"no query {name}: {path} does not exist",
                f"name queries q1..q22 (files in {directory}), e.g. --queries q1,q6",
            )
        sql = path.read_text()
        count = statement_count(sql)
        if count != 1:
            raise ToolchainError(
                f"{path} holds {count} statements; every engine runs exactly one per query",
                "make it one statement (a view becomes a CTE)",
            )
        order_by, limit = parse_order(sql)
        queries.append(Query(name, sql.strip(), order_by, limit))
    return queries


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class TableFile:
    name: str
    path: Path
    rows: int
    bytes: int


@dataclass(frozen=True)
class TpchData:
    scale: float
    generator: str  # "tpchgen-cli 4.0.0"
    directory: Path
    tables: tuple[TableFile, ...]
    generation_s: float  # what generating and converting took (when it was done)
    generated_at: str
    reused: bool  # found in the cache, not generated by this run

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables)


def data_root() -> Path:
    return cache.cache_root() / "bench-data"


def scale_text(scale: float) -> str:
    return f"{scale:g}"


def data_directory(scale: float) -> Path:
    key = cache.cache_key(generator="tpchgen-cli", version=TPCHGEN_VERSION, scale=scale_text(scale), layout=DATA_LAYOUT)
    return data_root() / f"tpch-sf{scale_text(scale)}-tpchgen-{TPCHGEN_VERSION}-{key[:12]}"


def find_tpchgen() -> Path:
    """tpchgen-cli beside this Python (the venv's bin) or on PATH, at the pinned version."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("tpchgen-cli", path=search)
    fix = f"pip install 'tpchgen-cli=={TPCHGEN_VERSION}' (the `bench` extra: pip install -e '.[bench]'; nox -s bench_queries does it)"
    if not found:
        raise MissingTool("tpchgen-cli (PyPI) generates the TPC-H data and is not installed", fix)
    version = (process.output([found, "--version"]) or "").strip()
    if version.split()[-1:] != [TPCHGEN_VERSION]:
        raise WrongVersion(f"{found} is {version or 'unknown'}, not tpchgen-cli {TPCHGEN_VERSION}", fix)
    return Path(found)


def _read_manifest(directory: Path) -> TpchData | None:
    manifest = cache.read_json(directory / DATA_MANIFEST)
    if not isinstance(manifest, dict):
        return None
    tables = []
    for name in TABLES:
        entry = manifest.get("tables", {}).get(name)
        path = directory / f"{name}.arrow"
        if not entry or not path.is_file() or path.stat().st_size != entry["bytes"]:
            return None
        tables.append(TableFile(name, path, entry["rows"], entry["bytes"]))
    return TpchData(
        scale=manifest["scale"],
        generator=manifest["generator"],
        directory=directory,
        tables=tuple(tables),
        generation_s=manifest["generation_s"],
        generated_at=manifest["generated_at"],
        reused=True,
    )


def _arrow_types(schema: Any) -> Any:
    """The IPC schema every engine reads: tpchgen's own types (date32 dates, decimal128(15,2)
    money: TPC-H's types, exact in every engine, so sums agree to the cent and only averages
    and divisions need the tolerance), strings as plain Utf8 (tpchgen writes Utf8View, which
    apache-arrow JS and DuckDB-WASM's IPC reader do not take), no field metadata."""
    import pyarrow as pa

    fields = []
    for f in schema:
        kind = f.type
        if kind in (pa.string_view(), pa.large_string()):
            kind = pa.string()
        elif pa.types.is_timestamp(kind) and kind.tz is not None:
            kind = pa.timestamp(kind.unit)  # plain timestamps: DuckDB-WASM cannot load ICU offline
        fields.append(pa.field(f.name, kind, f.nullable))
    return pa.schema(fields)


def ensure_tpch(scale: float) -> TpchData:
    """The TPC-H tables at `scale` as IPC stream files, generated once into the tool cache."""
    directory = data_directory(scale)
    found = _read_manifest(directory)
    if found:
        return found
    import pyarrow as pa
    import pyarrow.parquet as pq

    tpchgen = find_tpchgen()
    started = time.monotonic()

    def populate(tmp: Path) -> None:
        parquet = tmp / "parquet"
        process.run(
            [tpchgen, "parquet", "--scale-factor", scale_text(scale), "--output-dir", parquet],
            what=f"tpchgen-cli at scale factor {scale_text(scale)}",
            fix="see its output above; free disk space if it ran out",
        )
        tables = {}
        for name in TABLES:
            table = pq.read_table(parquet / f"{name}.parquet")
            table = table.cast(_arrow_types(table.schema))
            path = tmp / f"{name}.arrow"
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table, max_chunksize=BATCH_ROWS)
            tables[name] = {"rows": table.num_rows, "bytes": path.stat().st_size}
            del table
        shutil.rmtree(parquet)
        cache.write_json_atomic(
            tmp / DATA_MANIFEST,
            {
                "scale": scale,
                "generator": f"tpchgen-cli {TPCHGEN_VERSION}",
                "layout": DATA_LAYOUT,
                "batch_rows": BATCH_ROWS,
                "generation_s": round(time.monotonic() - started, 2),
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "tables": tables,
            },
        )

    with (
        cache.install_lock(directory),
        console.stage(f"generate TPC-H SF {scale_text(scale)} (tpchgen-cli {TPCHGEN_VERSION})"),
    ):
        found = _read_manifest(directory)  # another run may have made it while this one waited
        if found:
            return found
        cache.install_dir_atomically(directory, populate)
    made = _read_manifest(directory)
    if made is None:
        raise StageFailed(f"the TPC-H data in {directory} is incomplete after generating it", "run again")
    console.info(f"TPC-H SF {scale_text(scale)}: {made.bytes / 1e6:.0f} MB of IPC in {made.generation_s:.1f} s")
    return dataclasses.replace(made, reused=False)


def read_tables(data: TpchData) -> dict[str, Any]:
    import pyarrow as pa

    return {t.name: pa.ipc.open_stream(pa.memory_map(str(t.path))).read_all() for t in data.tables}


# ---------------------------------------------------------------- measurements


@dataclass
class QueryRun:
    query: str
    samples_ms: list[float] = field(default_factory=list)
    warmup_ms: float | None = None
    rows: int | None = None
    error: str | None = None

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.samples_ms) if self.samples_ms and self.error is None else None


@dataclass(frozen=True)
class TableIngest:
    name: str
    bytes: int
    rows: int
    ms: float


@dataclass(frozen=True)
class Ingest:
    tables: tuple[TableIngest, ...]

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables)

    @property
    def ms(self) -> float:
        return sum(t.ms for t in self.tables)

    @property
    def mb_per_s(self) -> float | None:
        return self.bytes / 1e6 / (self.ms / 1e3) if self.ms > 0 else None


@dataclass
class EngineRun:
    key: str  # "ours:default", "duckdb-wasm", "datafusion-1p", "datafusion-2p", "duckdb-1t"
    label: str  # the Markdown column
    kind: str  # "browser" or "native"
    version: str
    details: dict[str, Any] = field(default_factory=dict)
    load_ms: float | None = None
    ingest: Ingest | None = None
    memory_bytes: int | None = None
    runs: dict[str, QueryRun] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict, repr=False)  # query -> pyarrow.Table; not in the JSON
    error: str | None = None  # the engine could not run at all
    # With --rounds: each round's median per query (a browser engine runs once per round, in a
    # browser of its own, the engines interleaved), to show how much a whole run moves.
    round_medians: list[dict[str, float]] = field(default_factory=list)


def merge_rounds(rounds: list[EngineRun]) -> EngineRun:
    """One engine's rounds as one run: every round's samples (the median is over all of them),
    the first round's warm-up and results (each round's results are compared with the oracle's
    too: `compare_all` gets every round), the median load time, the ingestion of the round with
    the median total, the highest memory."""
    first = rounds[0]
    merged = EngineRun(first.key, first.label, first.kind, first.version, dict(first.details))
    loads = [r.load_ms for r in rounds if r.load_ms is not None]
    merged.load_ms = statistics.median(loads) if loads else None
    ingests = sorted((r.ingest for r in rounds if r.ingest is not None), key=lambda i: i.ms)
    merged.ingest = ingests[(len(ingests) - 1) // 2] if ingests else None
    memories = [r.memory_bytes for r in rounds if r.memory_bytes]
    merged.memory_bytes = max(memories) if memories else None
    merged.error = next((r.error for r in rounds if r.error), None)
    for name in first.runs:
        runs = [r.runs[name] for r in rounds if name in r.runs]
        merged.runs[name] = QueryRun(
            name,
            samples_ms=[v for r in runs for v in r.samples_ms],
            warmup_ms=runs[0].warmup_ms,
            rows=runs[0].rows,
            error=next((r.error for r in runs if r.error), None),
        )
    merged.results = dict(first.results)
    merged.round_medians = [{name: m for name, q in r.runs.items() if (m := q.median_ms) is not None} for r in rounds]
    return merged


def _time_native(execute: Callable[[], Any], runs: int, name: str) -> tuple[QueryRun, Any]:
    run = QueryRun(name)
    try:
        started = time.perf_counter()
        result = execute()
        run.warmup_ms = (time.perf_counter() - started) * 1e3
        for _ in range(runs):
            started = time.perf_counter()
            execute()
            run.samples_ms.append((time.perf_counter() - started) * 1e3)
    except Exception as exc:  # noqa: BLE001 -- an engine's failure on one query is a finding, reported with the query
        run.error = f"{type(exc).__name__}: {exc}"
        return run, None
    run.rows = result.num_rows
    return run, result


def _progress(engine: str, query: Query, index: int, total: int) -> None:
    console.progress(f"{engine}: {query.name} ({index}/{total})")


def run_datafusion(
    data: TpchData, tables: dict[str, Any], queries: list[Query], runs: int, partitions: int | None
) -> EngineRun:
    """Native DataFusion (PyPI) on the same batches; partitions=None: its default (one per CPU)."""
    try:
        import datafusion
        import pyarrow as pa
    except ImportError as exc:
        raise MissingTool(f"native DataFusion is not installed ({exc})", "pip install -e '.[bench]'") from exc
    config = datafusion.SessionConfig()
    if partitions is not None:
        config = config.with_target_partitions(partitions)
    ctx = datafusion.SessionContext(config)
    started = time.perf_counter()
    for name, table in tables.items():
        ctx.register_record_batches(name, [table.to_batches()])
    ingest_ms = (time.perf_counter() - started) * 1e3
    count = partitions or os.cpu_count() or 1
    key = f"datafusion-{count}p"
    run = EngineRun(
        key=key,
        label=f"DataFusion native {count}p",
        kind="native",
        version=f"datafusion {datafusion.__version__} (PyPI)",
        details={"target_partitions": partitions if partitions is not None else f"default ({count})"},
        ingest=Ingest(tuple(TableIngest(t.name, t.bytes, t.rows, 0.0) for t in data.tables)),
    )
    run.details["register_ms"] = round(ingest_ms, 2)

    def execute(sql: str) -> Any:
        frame = ctx.sql(sql)
        batches = frame.collect()
        return pa.Table.from_batches(batches, schema=frame.schema())

    for index, query in enumerate(queries, 1):
        _progress(key, query, index, len(queries))
        run.runs[query.name], result = _time_native(functools.partial(execute, query.sql), runs, query.name)
        if result is not None:
            run.results[query.name] = result
    return run


def run_duckdb(data: TpchData, tables: dict[str, Any], queries: list[Query], runs: int) -> EngineRun:
    """Native DuckDB (PyPI) with one thread, the tables copied into its own storage."""
    try:
        import duckdb
    except ImportError as exc:
        raise MissingTool(f"native DuckDB is not installed ({exc})", "pip install -e '.[bench]'") from exc
    con = duckdb.connect(":memory:", config={"threads": 1})
    ingested = []
    for table in data.tables:
        started = time.perf_counter()
        con.register("bench_source", tables[table.name])
        con.execute(f'CREATE TABLE "{table.name}" AS SELECT * FROM bench_source')
        con.unregister("bench_source")
        ingested.append(TableIngest(table.name, table.bytes, table.rows, (time.perf_counter() - started) * 1e3))
    run = EngineRun(
        key="duckdb-1t",
        label="DuckDB native 1t",
        kind="native",
        version=f"duckdb {duckdb.__version__} (PyPI)",
        details={"threads": 1},
        ingest=Ingest(tuple(ingested)),
    )

    def execute(sql: str) -> Any:
        return con.sql(sql).to_arrow_table()

    for index, query in enumerate(queries, 1):
        _progress(run.key, query, index, len(queries))
        run.runs[query.name], result = _time_native(functools.partial(execute, query.sql), runs, query.name)
        if result is not None:
            run.results[query.name] = result
    con.close()
    return run


# ---------------------------------------------------------------- the browser


@dataclass(frozen=True)
class PackageSpec:
    """An engine package (wasm-bindgen --target web output) under a name: a column of the report."""

    name: str
    directory: Path

    @property
    def glue(self) -> str:
        """The JS glue's file name: package.json's module/main, else the one X.js beside X_bg.wasm."""
        manifest = cache.read_json(self.directory / "package.json") or {}
        entry = manifest.get("module") or manifest.get("main") if isinstance(manifest, dict) else None
        if entry:
            return str(entry).removeprefix("./")
        modules = sorted(self.directory.glob("*_bg.wasm"))
        if len(modules) == 1:
            return modules[0].name.removesuffix("_bg.wasm") + ".js"
        raise ToolchainError(
            f"{self.directory} is not an engine package (no package.json naming its JS glue, {len(modules)} *_bg.wasm)",
            "build one (`nox -s build`) or pass --package NAME=DIR of a built package",
        )


def parse_package(text: str) -> PackageSpec:
    """`NAME=DIR` (--package): a name of letters, digits, '.', '_' or '-', and a package directory."""
    name, sep, directory = text.partition("=")
    name, directory = name.strip(), directory.strip()
    if not sep or not name or not directory:
        raise ToolchainError(
            f"--package {text!r}: expected NAME=DIR", "e.g. --package default=artifacts/datafusion-wasm"
        )
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ToolchainError(
            f"--package {text!r}: the name {name!r} must be letters, digits, '.', '_' or '-'",
            "e.g. --package simd=artifacts/variants/simd",
        )
    path = Path(directory)
    if not (path / "package.json").is_file() and not list(path.glob("*_bg.wasm")):
        raise ToolchainError(
            f"--package {text!r}: {path} holds no engine package (no package.json, no *_bg.wasm)",
            "build it first (`nox -s build`) or point at a built package directory",
        )
    return PackageSpec(name, path)


POLL_START_S = 0.01
POLL_MAX_S = 0.2


class BrowserSession:
    """One browser (selenium) and one local server for the page, the npm files, the data and the packages."""

    def __init__(self, name: str, driver: Any, server_url: str, job_timeout_s: float):
        self.name, self.driver, self.server_url, self.job_timeout_s = name, driver, server_url, job_timeout_s
        self.console: list[str] = []

    @property
    def version(self) -> str:
        capabilities = self.driver.capabilities or {}
        return f"{capabilities.get('browserName', self.name)} {capabilities.get('browserVersion', 'unknown')}"

    def open(self) -> None:
        """A fresh page (a new wasm instance, a new worker): about:blank first, so the last page's memory goes."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.server_url}/page/index.html")
        deadline = time.monotonic() + 60
        while not self.driver.execute_script("return window.benchReady === true;"):
            if time.monotonic() > deadline:
                raise BenchError(
                    "the benchmark page did not load (bench.js)",
                    f"open {self.server_url}/page/index.html in a browser and look at its console: {self.tail()}",
                )
            time.sleep(0.05)

    def job(self, kind: str, args: dict[str, Any] | None = None) -> Any:
        """Runs one page job to its end (polling: no selenium timeout applies); raises webdriver.JSError."""
        job_id = self.driver.execute_script("return window.bench.start(arguments[0], arguments[1]);", kind, args or {})
        delay, deadline = POLL_START_S, time.monotonic() + self.job_timeout_s
        while True:
            outcome = self.driver.execute_script("return window.bench.poll(arguments[0]);", job_id)
            if outcome is not None:
                break
            if time.monotonic() > deadline:
                raise webdriver.JSError(
                    "Timeout", f"the page's {kind} job ran longer than {self.job_timeout_s:.0f} s", ""
                )
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX_S)
        self.collect_console()
        if "error" in outcome:
            error = outcome["error"]
            cls = webdriver.WasmTrap if webdriver.is_trap(error["name"], error["message"]) else webdriver.JSError
            raise cls(error["name"], error["message"], error["stack"])
        return outcome["ok"]

    def collect_console(self) -> None:
        try:
            if self.name == "chromium":
                self.console += [f"[{e.get('level')}] {e.get('message')}" for e in self.driver.get_log("browser")]
            else:
                self.console += self.driver.execute_script("return window.bench ? window.bench.console() : [];") or []
        except Exception:  # noqa: BLE001 -- the console is a diagnostic; a dead page must not hide the real error
            pass

    def tail(self, lines: int = 8) -> str:
        return " | ".join(self.console[-lines:]) or "(no console output)"


@contextmanager
def browser_session(name: str, server_url: str, job_timeout_s: float) -> Iterator[BrowserSession]:
    """A browser of its own (a new process) for one engine: nothing compiled or cached by the page of
    another engine is reused (V8 reuses compiled wasm of identical bytes within a renderer: the
    same package measured twice in one browser loaded in 114 ms the second time, 298 ms the first)."""
    # install=True: a missing browser or driver is provisioned (apt as root, else the command to
    # run; geckodriver from crates.io), as `doctor --install` would, for this browser only.
    if name == "chromium":
        driver = webdriver.start_chromium(browsers.find(install=True))
    elif name == "firefox":
        driver = webdriver.start_firefox(browsers.find_firefox(install=True))
    else:
        raise ToolchainError(f"unknown browser {name!r}", f"one of: {', '.join(BROWSERS)}")
    try:
        yield BrowserSession(name, driver, server_url, job_timeout_s)
    finally:
        driver.quit()


def _decode_ipc(b64: str) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(base64.b64decode(b64)).read_all()


def run_browser_engine(
    session: BrowserSession, run: EngineRun, load_args: dict[str, Any], data: TpchData, queries: list[Query], runs: int
) -> EngineRun:
    """One engine in a fresh page: load, ingest, each query (warm-up + `runs`), memory. A query
    that fails is recorded; after a trap the page is opened and fed again before the next query."""
    tables = [{"name": t.name, "url": f"/data/{t.path.name}"} for t in data.tables]

    def open_engine() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        session.open()
        try:
            loaded = session.job("load", load_args)
            return loaded, session.job("ingest", {"tables": tables})
        except webdriver.JSError as exc:
            raise BenchError(
                f"{run.label} could not be loaded or given the TPC-H tables in {session.name}: {exc.name}: {exc.message}",
                f"the page's console: {session.tail()}",
            ) from exc

    with console.stage(f"{run.label} in {session.name}: load and ingest"):
        loaded, ingested = open_engine()
    run.load_ms = loaded["loadMs"]
    run.details["engine_version"] = loaded["version"]
    if run.key.startswith(OURS_PREFIX):
        run.version = f"{run.version} (DataFusion {loaded['version']})"
    run.ingest = Ingest(
        tuple(TableIngest(t["name"], t["bytes"], t["rows"] if t["rows"] is not None else -1, t["ms"]) for t in ingested)
    )
    with console.stage(f"{run.label} in {session.name}: {len(queries)} queries"):
        for index, query in enumerate(queries, 1):
            _progress(run.key, query, index, len(queries))
            outcome = QueryRun(query.name)
            try:
                out = session.job("query", {"sql": query.sql, "runs": runs})
                outcome.warmup_ms, outcome.samples_ms = out["warmupMs"], list(out["samples"])
                result = _decode_ipc(out["result"])
                outcome.rows = result.num_rows
                run.results[query.name] = result
            except webdriver.JSError as exc:
                outcome.error = f"{exc.name}: {exc.message}"
                console.warn(f"{run.label}: {query.name} failed: {outcome.error}")
                if isinstance(exc, webdriver.WasmTrap) or not _usable(session):
                    console.warn(f"{run.label}: the instance is unusable after {query.name}: a fresh page for the rest")
                    run.memory_bytes = max(run.memory_bytes or 0, _memory(session) or 0) or None
                    open_engine()
            run.runs[query.name] = outcome
        run.memory_bytes = max(run.memory_bytes or 0, _memory(session) or 0) or None
    return run


def _usable(session: BrowserSession) -> bool:
    try:
        return bool(session.job("usable"))
    except webdriver.JSError:
        return False


def _memory(session: BrowserSession) -> int | None:
    try:
        value = session.job("memory")
    except webdriver.JSError as exc:
        console.warn(f"the wasm memory could not be read: {exc.message}")
        return None
    return int(value) if value is not None else None


# ---------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Comparison:
    query: str
    engine: str
    equal: bool
    differences: tuple[str, ...] = ()


Row = tuple[Any, ...]


def _normalise(value: Any) -> Any:
    """Numbers as floats (decimals of any scale, integers), timestamps at midnight as dates, the rest as it is."""
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() and value.tzinfo is None else value
    return value


def _rows(table: Any) -> list[Row]:
    columns = [[_normalise(v) for v in column.to_pylist()] for column in table.columns]
    return list(zip(*columns)) if columns else [() for _ in range(table.num_rows)]


def values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)
    return a == b


def rows_equal(a: Row, b: Row) -> bool:
    return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))


def _sort_key(row: Row) -> tuple:
    def key(value: Any) -> tuple:
        if value is None:
            return (0, "")
        if isinstance(value, float):
            return (1, float(f"{value:.9g}"))
        return (2, type(value).__name__, str(value))

    return tuple(key(v) for v in row)


def _show(row: Row) -> str:
    return "(" + ", ".join(f"{v:.10g}" if isinstance(v, float) else repr(v) for v in row) + ")"


MAX_DIFFERENCES = 8
GREEDY_LIMIT = 5000  # rows of a group matched pairwise when sorting does not line them up


def _multiset_differences(expected: list[Row], actual: list[Row], where: str) -> list[str]:
    exp, act = sorted(expected, key=_sort_key), sorted(actual, key=_sort_key)
    if all(rows_equal(a, b) for a, b in zip(exp, act)):
        return []
    if len(exp) <= GREEDY_LIMIT:  # values within the tolerance that sorted apart
        unmatched = list(act)
        missing = []
        for row in exp:
            hit = next((i for i, other in enumerate(unmatched) if rows_equal(row, other)), None)
            if hit is None:
                missing.append(row)
            else:
                unmatched.pop(hit)
        if not missing:
            return []
        extra = unmatched
    else:
        missing = [a for a, b in zip(exp, act) if not rows_equal(a, b)]
        extra = [b for a, b in zip(exp, act) if not rows_equal(a, b)]
    out = [f"{where}: {len(missing)} expected row(s) missing, {len(extra)} unexpected"]
    out += [f"  expected {_show(r)}" for r in missing[: MAX_DIFFERENCES // 2]]
    out += [f"  got      {_show(r)}" for r in extra[: MAX_DIFFERENCES // 2]]
    return out


def order_key_columns(query: Query, names: Sequence[str]) -> list[int]:
    """The output columns of the query's ORDER BY items (by name, case-insensitive, or position)."""
    lowered = [n.lower() for n in names]
    columns = []
    for item in query.order_by:
        text = item.strip().strip('"').lower()
        if text.isdigit():
            columns.append(int(text) - 1)
        elif text in lowered:
            columns.append(lowered.index(text))
        elif "." in text and text.rsplit(".", 1)[1] in lowered:
            columns.append(lowered.index(text.rsplit(".", 1)[1]))
        else:
            raise ToolchainError(
                f"{query.name}: ORDER BY {item!r} is not an output column ({', '.join(names)})",
                "order by output columns (their names or aliases) so that results can be compared in order",
            )
    return columns


def compare(query: Query, expected: Any, actual: Any) -> list[str]:
    """How `actual` differs from `expected` (both pyarrow Tables); [] when they are equal.

    Same column count, same row count, values equal after _normalise (numbers within the
    tolerance). With an ORDER BY the rows must come in the expected order of its keys; rows tied
    on the keys compare as a multiset, and under a LIMIT that cuts a group of ties only that
    group's keys are compared (which tied rows make the cut is the engine's choice). Without an
    ORDER BY the results compare as multisets."""
    if expected.num_columns != actual.num_columns:
        return [f"{actual.num_columns} columns, expected {expected.num_columns} ({', '.join(expected.column_names)})"]
    if expected.num_rows != actual.num_rows:
        return [f"{actual.num_rows} rows, expected {expected.num_rows}"]
    exp, act = _rows(expected), _rows(actual)
    if not query.order_by:
        return _multiset_differences(exp, act, "rows (no ORDER BY: compared as a multiset)")
    keys = order_key_columns(query, expected.column_names)

    def key_of(row: Row) -> Row:
        return tuple(row[k] for k in keys)

    differences: list[str] = []
    start = 0
    while start < len(exp):
        end = start + 1
        while end < len(exp) and rows_equal(key_of(exp[end]), key_of(exp[start])):
            end += 1
        group_key = key_of(exp[start])
        for i in range(start, end):
            if not rows_equal(key_of(act[i]), group_key):
                differences.append(
                    f"row {i + 1}: ORDER BY keys {_show(key_of(act[i]))}, expected {_show(group_key)} (row {_show(act[i])})"
                )
                break
        cut_by_limit = query.limit is not None and len(exp) == query.limit and end == len(exp)
        if not differences and not cut_by_limit:
            where = f"rows {start + 1}-{end} (tied on ORDER BY keys)" if end - start > 1 else f"row {start + 1}"
            differences += _multiset_differences(exp[start:end], act[start:end], where)
        if len(differences) >= MAX_DIFFERENCES:
            break
        start = end
    return differences[:MAX_DIFFERENCES]


def compare_all(queries: list[Query], oracle: EngineRun, engines: list[EngineRun]) -> list[Comparison]:
    comparisons = []
    for engine in engines:
        if engine.key == oracle.key:
            continue
        for query in queries:
            run = engine.runs.get(query.name)
            if run is None:
                continue
            if oracle.runs[query.name].error:
                differences = [f"the oracle ({oracle.label}) failed: {oracle.runs[query.name].error}"]
            elif run.error:
                differences = [f"failed: {run.error}"]
            else:
                differences = compare(query, oracle.results[query.name], engine.results[query.name])
            comparisons.append(Comparison(query.name, engine.key, not differences, tuple(differences)))
    return comparisons


# ---------------------------------------------------------------- the report


def geomean(values: Sequence[float]) -> float | None:
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(statistics.fmean(math.log(v) for v in positive)) if positive else None


@dataclass
class BenchReport:
    scale: float
    browser: str
    browser_version: str | None
    runs: int
    data: TpchData
    queries: list[Query]
    engines: list[EngineRun]
    comparisons: list[Comparison]
    machine: dict[str, Any]
    started_at: str
    wall_s: float = 0.0

    def engine(self, key: str) -> EngineRun | None:
        return next((e for e in self.engines if e.key == key), None)

    def comparable(self, query: str, key: str) -> bool:
        """The engine ran the query and its result equals the oracle's (the oracle itself: it ran)."""
        engine = self.engine(key)
        if engine is None or query not in engine.runs or engine.runs[query].median_ms is None:
            return False
        if key == ORACLE:
            return True
        matching = [c for c in self.comparisons if c.query == query and c.engine == key]
        return bool(matching) and all(c.equal for c in matching)

    def ratios(self, numerator: str, denominator: str) -> dict[str, float]:
        """Per query: median(numerator) / median(denominator), where both results are comparable."""
        out: dict[str, float] = {}
        num, den = self.engine(numerator), self.engine(denominator)
        if num is None or den is None:
            return out
        for query in self.queries:
            if self.comparable(query.name, numerator) and self.comparable(query.name, denominator):
                a, b = num.runs[query.name].median_ms, den.runs[query.name].median_ms
                if a is not None and b:
                    out[query.name] = a / b
        return out

    @property
    def ours(self) -> list[EngineRun]:
        return [e for e in self.engines if e.key.startswith(OURS_PREFIX)]

    @property
    def mismatches(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.equal]

    def round_geomeans(self, numerator: str, denominator: str) -> list[float]:
        """With --rounds: the geometric mean of numerator/denominator in each round, over the
        comparable queries. Every engine runs once per round (`run`), so the rounds pair up."""
        num, den = self.engine(numerator), self.engine(denominator)
        if num is None or den is None or len(num.round_medians) < 2:
            return []
        out = []
        for a, b in zip(num.round_medians, den.round_medians, strict=False):
            values = [
                a[q.name] / b[q.name]
                for q in self.queries
                if q.name in a
                and b.get(q.name)
                and self.comparable(q.name, numerator)
                and self.comparable(q.name, denominator)
            ]
            if (g := geomean(values)) is not None:
                out.append(g)
        return out

    def ratio_columns(self) -> list[tuple[str, str, str]]:
        """(header, numerator, denominator) of every ratio column."""
        columns = []
        for ours in self.ours:
            name = ours.key.removeprefix(OURS_PREFIX)
            suffix = "" if len(self.ours) == 1 else f" ({name})"
            if self.engine(DUCKDB_WASM):
                columns.append((f"ours/DuckDB-WASM{suffix}", ours.key, DUCKDB_WASM))
            columns.append((f"ours/DF-1p{suffix}", ours.key, ORACLE))
        return columns

    def markdown(self) -> str:
        def ms(value: float | None) -> str:
            if value is None:
                return "-"
            return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"

        engines, ratio_columns = self.engines, self.ratio_columns()
        clock = (
            " Firefox's performance.now() steps by 1 ms on this page (not cross-origin isolated)."
            if self.browser == "firefox"
            else ""
        )
        rounds = max((len(e.round_medians) for e in engines), default=0)
        runs_text = (
            f"median of {self.runs} runs after 1 warm-up in each of {rounds} rounds"
            if rounds > 1
            else f"median of {self.runs} runs after 1 warm-up"
        )
        lines = [
            f"TPC-H SF {scale_text(self.scale)}, {self.browser_version or self.browser}, {runs_text}, ms (✗: result differs from native DataFusion 1p; not in the ratios).{clock}",
            "",
            "| query | "
            + " | ".join(e.label for e in engines)
            + "".join(f" | {h}" for h, _, _ in ratio_columns)
            + " |",
            "| --- |" + " ---: |" * (len(engines) + len(ratio_columns)),
        ]
        all_ratios = [self.ratios(n, d) for _, n, d in ratio_columns]
        for query in self.queries:
            cells = []
            for engine in engines:
                run = engine.runs.get(query.name)
                if run is None:
                    cells.append("-")
                elif run.error:
                    cells.append("error")
                else:
                    mark = "" if self.comparable(query.name, engine.key) else " ✗"
                    cells.append(ms(run.median_ms) + mark)
            for ratios in all_ratios:
                cells.append(f"{ratios[query.name]:.2f}" if query.name in ratios else "-")
            lines.append(f"| {query.name} | " + " | ".join(cells) + " |")
        geo_cells = ["" for _ in engines] + [
            f"**{g:.2f}** ({len(r)} q)" if (g := geomean(list(r.values()))) is not None else "-" for r in all_ratios
        ]
        lines.append("| geomean | " + " | ".join(geo_cells) + " |")
        spreads = [(h, self.round_geomeans(n, d)) for h, n, d in ratio_columns]
        if any(values for _, values in spreads):
            lines += ["", "Geometric mean in each round (how much a whole run moves on this machine):", ""]
            lines += [f"- {h}: " + ", ".join(f"{v:.2f}" for v in values) for h, values in spreads if values]
        browser_engines = [e for e in engines if e.kind == "browser"]
        if browser_engines:
            lines += [
                "",
                "| browser engine | version | load (fetch + instantiate) | ingest (register every table) | peak wasm memory |",
                "| --- | --- | ---: | ---: | ---: |",
            ]
            for e in browser_engines:
                ingest = (
                    f"{e.ingest.bytes / 1e6:.0f} MB in {e.ingest.ms:.0f} ms = {e.ingest.mb_per_s:.0f} MB/s"
                    if e.ingest and e.ingest.mb_per_s
                    else "-"
                )
                memory = f"{e.memory_bytes / 2**20:.0f} MiB" if e.memory_bytes else "-"
                version = e.details.get("engine_version") or e.version
                lines.append(f"| {e.label} | {version} | {ms(e.load_ms)} ms | {ingest} | {memory} |")
        data = self.data
        made = (
            f"reused from the cache (generated in {data.generation_s:.1f} s on {data.generated_at})"
            if data.reused
            else f"generated in {data.generation_s:.1f} s"
        )
        lines += [
            "",
            f"Data: {data.generator}, {data.bytes / 1e6:.0f} MB of Arrow IPC, {made}. "
            f"Engines: " + "; ".join(f"{e.label}: {e.version}" for e in engines) + ". "
            f"Machine: {self.machine.get('cpus')} CPUs ({self.machine.get('cpu_model', '?')}), "
            f"load average {self.machine.get('load_average_start')} at the start. Whole run {self.wall_s:.0f} s.",
        ]
        if self.mismatches:
            lines += ["", f"**Results that differ from {ORACLE}** ({len(self.mismatches)}):"]
            for c in self.mismatches:
                lines.append(f"- {c.query}, {c.engine}: " + "; ".join(c.differences[:3]))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        def engine_json(e: EngineRun) -> dict[str, Any]:
            return {
                "key": e.key,
                "label": e.label,
                "kind": e.kind,
                "version": e.version,
                "details": e.details,
                "load_ms": e.load_ms,
                "ingest": None
                if e.ingest is None
                else {
                    "bytes": e.ingest.bytes,
                    "ms": e.ingest.ms,
                    "mb_per_s": e.ingest.mb_per_s,
                    "tables": [t.__dict__ for t in e.ingest.tables],
                },
                "peak_wasm_memory_bytes": e.memory_bytes,
                "round_medians_ms": [{k: round(v, 3) for k, v in r.items()} for r in e.round_medians],
                "queries": {
                    name: {
                        "median_ms": None if r.median_ms is None else round(r.median_ms, 3),
                        "samples_ms": [round(v, 3) for v in r.samples_ms],
                        "warmup_ms": None if r.warmup_ms is None else round(r.warmup_ms, 3),
                        "rows": r.rows,
                        "error": r.error,
                        "comparable": self.comparable(name, e.key),
                    }
                    for name, r in e.runs.items()
                },
            }

        return {
            "what": "TPC-H queries in the browser (our engine, DuckDB-WASM) and natively (DataFusion, DuckDB): "
            "median of the timed runs after one warm-up, every result compared with native DataFusion "
            "(1 partition) first. python -m toolchain bench-queries (toolchain/pipeline/bench_queries.py). "
            "A record, not an assertion.",
            "started_at": self.started_at,
            "wall_s": round(self.wall_s, 1),
            "machine": self.machine,
            "browser": {"name": self.browser, "version": self.browser_version},
            "scale": self.scale,
            "runs": self.runs,
            "rounds": max((len(e.round_medians) for e in self.engines), default=1) or 1,
            "data": {
                "generator": self.data.generator,
                "directory": str(self.data.directory),
                "bytes": self.data.bytes,
                "generation_s": self.data.generation_s,
                "generated_at": self.data.generated_at,
                "reused": self.data.reused,
                "tables": {t.name: {"rows": t.rows, "bytes": t.bytes} for t in self.data.tables},
            },
            "engines": [engine_json(e) for e in self.engines],
            "ratios": {
                header: {
                    "per_query": self.ratios(n, d),
                    "geomean": geomean(list(self.ratios(n, d).values())),
                    "geomean_per_round": self.round_geomeans(n, d),
                }
                for header, n, d in self.ratio_columns()
            },
            "comparisons": [c.__dict__ | {"differences": list(c.differences)} for c in self.comparisons],
            "mismatches": len(self.mismatches),
        }

    def write(self, directory: Path) -> Path:
        """`tpch-sf<scale>-<browser>.json` and `.md` beside it (replacing the last run's); the JSON's path."""
        stem = f"tpch-sf{scale_text(self.scale)}-{self.browser}"
        cache.write_json_atomic(directory / f"{stem}.json", self.to_json())
        (directory / f"{stem}.md").write_text(self.markdown() + "\n")
        return directory / f"{stem}.json"


def machine_info() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    with suppress(OSError, ValueError, IndexError):
        memory = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    return {
        "arch": platform.machine(),
        "system": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "memory_bytes": memory,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


# ---------------------------------------------------------------- the whole run


@dataclass(frozen=True)
class BenchOptions:
    scale: float = 0.1
    runs: int = 5
    rounds: int = 1  # browser engines: fresh sessions per round, interleaved (A B, B A, ...)
    packages: tuple[PackageSpec, ...] = (PackageSpec(*DEFAULT_PACKAGE),)
    browser: str = "chromium"
    queries: tuple[str, ...] = ()  # () = all 22
    skip: tuple[str, ...] = ()
    bench_dir: Path = DEFAULT_BENCH_DIR
    output_dir: Path = DEFAULT_REPORTS
    job_timeout_s: float = 1800.0


def run(options: BenchOptions) -> BenchReport:
    wall = time.monotonic()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine = machine_info()
    queries = load_queries(options.bench_dir / "tpch", options.queries)
    data = ensure_tpch(options.scale)
    if data.reused:
        console.info(
            f"TPC-H SF {scale_text(options.scale)} from the cache ({data.directory}; generated in {data.generation_s:.1f} s)"
        )
    tables = read_tables(data)
    browser_version = None
    browser_engines = ("ours" not in options.skip and options.packages) or DUCKDB_WASM not in options.skip
    jobs: list[tuple[EngineRun, dict[str, Any]]] = []
    mounts: dict[str, Path] = {}
    if browser_engines:
        page_dir = options.bench_dir / "page"
        node_modules = (
            npm.install_locked(options.bench_dir / "duckdb-wasm") if DUCKDB_WASM not in options.skip else None
        )
        mounts = {"/page/": page_dir, "/data/": data.directory}
        if node_modules is not None:
            mounts["/npm/"] = node_modules
        packages = options.packages if "ours" not in options.skip else ()
        for package in packages:
            mounts[f"/pkg/{package.name}/"] = package.directory
        for package in packages:
            label = "ours" if len(packages) == 1 and package.name == "default" else f"ours {package.name}"
            build = cache.read_json(package.directory / "build-info.json") or {}
            manifest = cache.read_json(package.directory / "package.json") or {}
            engine = EngineRun(
                key=OURS_PREFIX + package.name,
                label=label,
                kind="browser",
                version=f"{manifest.get('name', 'engine')} {manifest.get('version', '')} from {package.directory}",
                details={
                    "package": str(package.directory),
                    "build": {
                        "git_commit": build.get("git_commit"),
                        "profile": build.get("profile"),
                        "variant": build.get("variant"),
                        "rustflags": (build.get("rustc") or {}).get("rustflags"),
                        "build_std_features": (build.get("rustc") or {}).get("build_std_features"),
                    },
                    "wasm_bytes": sum(p.stat().st_size for p in package.directory.glob("*_bg.wasm")),
                },
            )
            jobs.append((engine, {"engine": "ours", "glue": f"/pkg/{package.name}/{package.glue}"}))
        if node_modules is not None:
            dist = "/npm/@duckdb/duckdb-wasm/dist"
            engine = EngineRun(
                key=DUCKDB_WASM,
                label="DuckDB-WASM",
                kind="browser",
                version=f"@duckdb/duckdb-wasm {DUCKDB_WASM_VERSION} (npm, eh bundle)",
                details={"wasm_bytes": (node_modules / "@duckdb/duckdb-wasm/dist/duckdb-eh.wasm").stat().st_size},
            )
            load = {
                "engine": "duckdb-wasm",
                "module": f"{dist}/duckdb-browser.mjs",
                "wasm": f"{dist}/duckdb-eh.wasm",
                "worker": f"{dist}/duckdb-browser-eh.worker.js",
            }
            jobs.append((engine, load))
    # Every engine runs once per round: the native ones first, then each browser engine in a
    # browser of its own, in an order that rotates from round to round, so no engine always runs
    # first or right after the same one. The rounds are merged afterwards (`merge_rounds`).
    rounds_of: dict[str, list[EngineRun]] = {}
    with ExitStack() as stack:
        server = stack.enter_context(serve.StaticServer(mounts)) if jobs else None
        for round_index in range(options.rounds):
            if options.rounds > 1:
                console.info(f"round {round_index + 1} of {options.rounds}")
            natives = f"native engines ({len(queries)} queries, 1 warm-up + {options.runs} runs)"
            with console.stage(natives):
                oracle_run = run_datafusion(data, tables, queries, options.runs, partitions=1)
                oracle_run.key, oracle_run.label = ORACLE, "DataFusion native 1p"
                rounds_of.setdefault(ORACLE, []).append(oracle_run)
                if "datafusion" not in options.skip:
                    other = run_datafusion(data, tables, queries, options.runs, partitions=None)
                    rounds_of.setdefault(other.key, []).append(other)
                if "duckdb" not in options.skip:
                    duck = run_duckdb(data, tables, queries, options.runs)
                    rounds_of.setdefault(duck.key, []).append(duck)
            shift = round_index % len(jobs) if jobs else 0
            for template, load in jobs[shift:] + jobs[:shift]:
                assert server is not None
                engine = dataclasses.replace(template, details=dict(template.details), runs={}, results={})
                with browser_session(options.browser, server.url, options.job_timeout_s) as session:
                    if browser_version is None:
                        browser_version = session.version
                        console.info(f"browser: {browser_version}")
                    ran = run_browser_engine(session, engine, load, data, queries, options.runs)
                    rounds_of.setdefault(ran.key, []).append(ran)
    del tables
    # Natives first, then the browser engines in the order given.
    order = [ORACLE, *(k for k in rounds_of if k != ORACLE and rounds_of[k][0].kind != "browser")]
    order += [template.key for template, _ in jobs]
    engines = [merge_rounds(rounds_of[key]) for key in order if key in rounds_of]
    oracle = engines[0]
    with console.stage("compare every result with native DataFusion (1 partition)"):
        # Every round's results, so a result that changes from one instance to the next is caught.
        comparisons = compare_all(queries, oracle, engines[1:])
        for key in order[1:]:
            for later in rounds_of.get(key, [])[1:]:
                comparisons += [c for c in compare_all(queries, oracle, [later]) if not c.equal]
    machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return BenchReport(
        scale=options.scale,
        browser=options.browser,
        browser_version=browser_version,
        runs=options.runs,
        data=data,
        queries=queries,
        engines=engines,
        comparisons=comparisons,
        machine=machine,
        started_at=started_at,
        wall_s=time.monotonic() - wall,
    )
