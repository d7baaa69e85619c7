"""The demo page (issue 18: `nox -s demo`, docs/demo.md) in Chromium and Firefox, as a person uses it:
the page built by Vite from the engine's packed npm package, served by the demo server (CSP,
MIME types, pre-compressed files) with the query server on the same origin over the seeded
sample data. Every value the page shows is compared with DuckDB (or pyarrow) on the same
generated tables, and every error with native DataFusion's message for the same statement.

* the seed's default config: Fetch & Register (rows, bytes), Run (Ctrl+Enter), the result
  table with pyarrow's types in the header, NULL unlike an empty string, numbers right-aligned;
  the status bar (engine version, module size as transferred, load time, memory, tables);
* $begin/$end: the time range substituted into the source SQL;
* the notebook: three cells, run all, re-run, rename, a missing table, add, delete, run all again;
* errors in place: the engine's and the query server's messages;
* a 1M-row result paged to its last row while the main thread keeps drawing frames, the result
  box keeping its size (no layout jump);
* the CSP: no securitypolicyviolation while loading and querying; an inline script is refused;
* files (--no-server): CSV, JSON and an Arrow IPC file dropped on the page.

Screenshots of each state: <artifacts>/reports/demo/<browser>-<state>.png (docs/demo.md shows
them); timings: <artifacts>/reports/demo/measurements.json (a record, not an assertion).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pytest

from tests.conftest import REPO
from toolchain.core import cache
from toolchain.pipeline import demo_data, demo_page, demo_server, query_server

pytestmark = pytest.mark.browser

ROWS = 20_000  # log entries; 1,000 processes
SEED = demo_data.DEFAULT_SEED
VIEWPORT = (1280, 800)
DASH = "\u2013"  # the en dash of the pager's "rows 1-100"
# The longest gap between two animation frames while a 1M-row result arrives (IPC decoded on the
# main thread: about 30 MB) and is paged. The query itself runs in the worker; what the main
# thread does is decode the IPC (views, no copy) and render one page of 100 rows. Twelve frames
# at 60 Hz: headless browsers on a busy 2-CPU machine miss frames on their own (see
# test_worker_api.py, whose budget for the worker alone is 100 ms).
FRAME_BUDGET_MS = 200.0
# One page turn of a 1M-row result: render 100 rows.
PAGE_TURN_BUDGET_MS = 100.0
MILLION = "SELECT value AS n, value * 2 AS twice, concat('row ', CAST(value AS VARCHAR)) AS label FROM range(1000000)"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sample() -> demo_data.SampleData:
    return demo_data.generate(ROWS, SEED)


@pytest.fixture(scope="module")
def page_dir(built_engine, tmp_path_factory) -> Path:
    """The page, built by the real pipeline (npm pack of the engine, tsc, Vite) into a temporary
    directory; brotli at quality 5 (the server's negotiation is what is tested, not the ratio)."""
    out = tmp_path_factory.mktemp("demo") / "page"
    return demo_page.build_page(built_engine.package_dir, out, REPO / "demo", brotli_quality=5).out_dir


@pytest.fixture(scope="module")
def server(page_dir, sample):
    with demo_server.DemoServer(page_dir, sample.tables, 0, sample.describe()) as running:
        yield running


@pytest.fixture(scope="module")
def file_server(page_dir):
    with demo_server.DemoServer(page_dir, None, 0) as running:
        yield running


@pytest.fixture(scope="module")
def shots(artifacts_dir) -> Path:
    directory = artifacts_dir / "reports" / "demo"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def duck(sample):
    import duckdb

    con = duckdb.connect()
    for name, table in sample.tables.items():
        con.register(name, table)
    yield con
    con.close()


def duck_rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def native_error(sql: str, tables: dict | None = None) -> str:
    """Native DataFusion's message for a failing statement: the engine's must contain its core."""
    ctx = query_server.native_context(tables or {})
    try:
        ctx.sql(sql).collect()
    except Exception as exc:  # noqa: BLE001  DataFusion's Python errors have no common class of their own
        return str(exc)
    raise AssertionError(f"native DataFusion ran {sql!r}: the test expects it to fail")


def ts_text(micros: int) -> str:
    """The page's text for a timestamp[us] value."""
    seconds, fraction = divmod(micros, 1_000_000)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") + f".{fraction:06d}"


def cell_text(value: Any, type_: pa.DataType) -> str:
    if value is None:
        return "NULL"
    if pa.types.is_timestamp(type_):
        return ts_text(value)
    return str(value)


class Demo:
    """The demo page in one browser: open, type, click, wait, read, screenshot."""

    def __init__(self, driver, browser: str, shots: Path):
        self.driver, self.browser, self.shots = driver, browser, shots

    def open(self, url: str, wait_engine: bool = True) -> Demo:
        self.driver.set_window_size(*VIEWPORT)
        inner = self.js("return [innerWidth, innerHeight];")
        # The window's size includes the browser's frame: make the viewport itself 1280x800.
        self.driver.set_window_size(2 * VIEWPORT[0] - inner[0], 2 * VIEWPORT[1] - inner[1])
        self.driver.get(url)
        self.wait("window.demo !== undefined", what="the page's script to start")
        if wait_engine:
            self.wait_engine()
        return self

    def wait_engine(self) -> None:
        self.wait(
            "document.querySelector('[data-role=engine-version]') !== null", what="the engine to load", timeout=60
        )

    def js(self, body: str, *args: Any) -> Any:
        return self.driver.execute_script(body, *args)

    def wait(self, expression: str, *args: Any, what: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(f"return ({expression});", *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.browser}: timed out after {timeout} s waiting for {what} ({expression}); "
                    f"status bar: {self.text('#statusbar')!r}; errors: {self.errors()}"
                )
            time.sleep(0.05)

    def text(self, selector: str, root: str = "document") -> str:
        return self.js(f"const e = {root}.querySelector(arguments[0]); return e ? e.textContent : null;", selector)

    def errors(self) -> list[str]:
        return self.js("return [...document.querySelectorAll('.error:not([hidden])')].map((e) => e.textContent);")

    def set_value(self, selector: str, value: str, event: str = "input") -> None:
        self.js(
            "const e = document.querySelector(arguments[0]); e.value = arguments[1];"
            "e.dispatchEvent(new Event(arguments[2], {bubbles: true}));",
            selector,
            value,
            event,
        )

    def click(self, selector: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, selector).click()

    def ctrl_enter(self, selector: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        element = self.driver.find_element(By.CSS_SELECTOR, selector)
        element.click()
        element.send_keys(Keys.CONTROL, Keys.ENTER)

    def done(self, selector: str) -> int:
        """How many operations the element's owner has completed (its data-done)."""
        return int(self.js("return document.querySelector(arguments[0]).dataset.done || 0;", selector))

    def after(self, selector: str, action, what: str, timeout: float = 30) -> None:
        """Does `action`, then waits until `selector`'s owner has completed one more operation."""
        done = self.done(selector)
        action()
        self.wait(
            "Number(document.querySelector(arguments[0]).dataset.done || 0) > arguments[1]",
            selector,
            done,
            what=what,
            timeout=timeout,
        )

    def fetch(self, table: str, sql: str) -> str | None:
        """Fetch & Register; the rows registered (None if it failed)."""
        self.set_value("#source-table", table)
        self.set_value("#source-sql", sql)
        self.after("#source-stats", lambda: self.click("#fetch"), what=f"Fetch & Register of {sql!r}")
        return self.js("return document.getElementById('source-stats').dataset.rows || null;")

    def run_local(self, sql: str, timeout: float = 30) -> str | None:
        """Run; the result's rows (None if it failed)."""
        self.set_value("#local-sql", sql)
        self.after("#local-stats", lambda: self.click("#run"), what=f"the local query {sql!r}", timeout=timeout)
        return self.js("return document.getElementById('local-stats').dataset.rows || null;")

    def run_cell(self, name: str) -> None:
        self.after(
            f'.cell[data-cell="{name}"] .cell-stats',
            lambda: self.js(f"{cell(name)}.querySelector('.cell-run').click();"),
            what=f"cell {name}",
        )

    def run_all(self) -> None:
        self.after("#notebook-summary", lambda: self.click("#run-all"), what="run all")

    def grid(self, root: str = "document.querySelector('.main-result')") -> dict:
        """The result on screen: column names and types, and each row's cells as (text, class)."""
        return self.js(
            f"""const root = {root};
            const heads = [...root.querySelectorAll('thead th')].slice(1);
            return {{
              names: heads.map((h) => h.querySelector('.col-name').textContent),
              types: heads.map((h) => h.querySelector('.col-type').textContent),
              rows: [...root.querySelectorAll('tbody tr')].map((tr) =>
                [...tr.querySelectorAll('td')].slice(1).map((td) => [td.textContent, td.className])),
              page: root.querySelector('[data-role=page-label]').textContent,
            }};"""
        )

    def status_tables(self) -> dict[str, int]:
        return self.js(
            "return Object.fromEntries([...document.querySelectorAll('[data-role=status-table]')]"
            ".map((e) => [e.dataset.name, Number(e.dataset.rows)]));"
        )

    def fits(self) -> None:
        """Readable at 1280x800: nothing wider than the viewport (no horizontal page scroll)."""
        width = self.js("return [document.documentElement.scrollWidth, innerWidth];")
        assert width[0] <= width[1], f"{self.browser}: the page is {width[0]} px wide in a {width[1]} px viewport"

    def screenshot(self, state: str) -> Path:
        path = self.shots / f"{self.browser}-{state}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def demo(wasm_browser, shots) -> Demo:
    return Demo(wasm_browser.driver, wasm_browser.name, shots)


def record(artifacts_dir: Path, browser: str, **values: Any) -> None:
    path = artifacts_dir / "reports" / "demo" / "measurements.json"
    document = cache.read_json(path) or {}
    if not isinstance(document, dict):
        document = {}
    document.setdefault("what", "the demo page in the browser suite (one run; a record, not an assertion)")
    entry = document.setdefault(browser, {})
    entry.update({k: round(v, 1) if isinstance(v, float) else v for k, v in values.items()})
    entry["recorded_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    cache.write_json_atomic(path, document)


# ---------------------------------------------------------------- the build


def test_the_page_loads_the_engine_from_the_packed_package_in_lazy_chunks(page_dir, built_engine):
    """The entry chunk has no engine: the glue and the worker are chunks of their own (import()),
    and the one .wasm asset is the package's module, with its pre-compressed siblings."""
    assets = page_dir / "assets"
    entry = (page_dir / "index.html").read_text().split('src="./assets/')[1].split('"')[0]
    entry_js = (assets / entry).read_text()
    wasm = list(assets.glob("*.wasm"))
    assert (
        len(wasm) == 1 and wasm[0].read_bytes() == (built_engine.package_dir / "datafusion_wasm_bg.wasm").read_bytes()
    )
    assert "__wbg_" not in entry_js and "__wbindgen_malloc" not in entry_js and wasm[0].name not in entry_js
    hosts = list(assets.glob("engine_host-*.js"))  # our worker: the package's engine_worker.js + glue
    assert len(hosts) == 1 and wasm[0].name in hosts[0].read_text() and "onmessage" in hosts[0].read_text()
    assert hosts[0].name in entry_js or any(hosts[0].name in p.read_text() for p in assets.glob("*.js"))
    for suffix in (".gz", ".br"):
        assert wasm[0].with_name(wasm[0].name + suffix).is_file()


# ---------------------------------------------------------------- the seed's default config


def test_the_seeds_default_config_fetches_registers_runs_and_shows_the_result(
    demo, server, sample, duck, page_dir, built_engine, artifacts_dir
):
    demo.open(server.url)
    # The seed's defaults are on screen.
    assert demo.js("return document.getElementById('source-table').value;") == "data"
    assert demo.js("return document.getElementById('source-sql').value;") == (
        "SELECT process_id, exe, start_time, username, computer\nFROM processes\nLIMIT 100"
    )
    assert demo.js("return document.getElementById('local-sql').value;") == "SELECT * FROM data LIMIT 10"

    demo.after("#source-stats", lambda: demo.click("#fetch"), what="Fetch & Register")
    stats = demo.js("return {...document.getElementById('source-stats').dataset};")
    assert int(stats["rows"]) == 100
    assert int(stats["bytes"]) > 100 * 36  # at least the 100 process ids
    assert demo.text("#source-stats").startswith("rows: 100 (")

    demo.after("#local-stats", lambda: demo.ctrl_enter("#local-sql"), what="Ctrl+Enter")  # the keyboard runs it
    assert demo.js("return document.getElementById('local-stats').dataset.rows;") == "10"
    grid = demo.grid()
    processes = sample.tables["processes"]
    columns = ["process_id", "exe", "start_time", "username", "computer"]
    assert grid["names"] == columns
    assert grid["types"] == [str(processes.schema.field(c).type) for c in columns]
    first = processes.select(columns).slice(0, 10)
    first = first.set_column(2, "start_time", first["start_time"].cast(pa.int64()))  # raw microseconds
    expected = [[cell_text(row[c], processes.schema.field(c).type) for c in columns] for row in first.to_pylist()]
    assert [[text for text, _ in row] for row in grid["rows"]] == expected
    assert grid["page"] == f"rows 1{DASH}10 of 10 · page 1 of 1"

    # The status bar: the package's version and DataFusion's, the module as transferred.
    version = demo.text("[data-role=engine-version]")
    package = json.loads((built_engine.package_dir / "package.json").read_text())
    assert version.startswith(f"datafusion-wasm {package['version']} · DataFusion 55."), version
    module = demo.js("return {...document.querySelector('[data-role=module-size]').dataset};")
    _, sizes = demo_page.PageBuild(page_dir, False, files=demo_page.read_record(page_dir)["files"]).wasm
    assert (
        int(module["decoded"]) == sizes["raw"] == (built_engine.package_dir / "datafusion_wasm_bg.wasm").stat().st_size
    )
    # Sent compressed: exactly the pre-compressed file the browser's Accept-Encoding chose.
    assert int(module["encoded"]) in (sizes["br"], sizes["gzip"]), (module, sizes)
    assert demo.status_tables() == {"data": 100}
    # The table's size: the engine's memory_usage() where the engine has it, else the IPC bytes fetched.
    has_usage = demo.js("return window.demo.local.load().then((l) => typeof l.engine.memory_usage === 'function');")
    table_bytes = int(demo.js("return document.querySelector('[data-role=status-table]').dataset.bytes;"))
    if has_usage:
        assert "IPC" not in demo.text("[data-role=tables]") and " · tables " in demo.text("[data-role=wasm-memory]")
        assert table_bytes > 0
    else:
        assert demo.text("[data-role=tables]").endswith(" IPC") and table_bytes == int(stats["bytes"])
    load_ms = int(demo.js("return document.querySelector('[data-role=load-time]').dataset.ms;"))
    memory = demo.js("return Number(document.querySelector('[data-role=wasm-memory]').dataset.bytes);")
    assert memory >= 1 << 20
    demo.fits()
    demo.screenshot("local-query")
    record(artifacts_dir, demo.browser, module_transferred_bytes=int(module["encoded"]), engine_load_ms=load_ms)

    # Every process: NULL and empty usernames told apart, numbers right-aligned, aggregates right.
    assert demo.fetch("procs", "SELECT * FROM processes") == str(processes.num_rows)
    rows = demo.run_local(
        "SELECT computer, count(*) AS n, count(username) AS named, sum(CASE WHEN username = '' THEN 1 ELSE 0 END) "
        "AS unnamed, max(memory_mb) AS top_mb FROM procs GROUP BY computer ORDER BY computer"
    )
    assert rows is not None, demo.errors()
    grid = demo.grid()
    assert grid["types"] == ["string", "int64", "int64", "int64", "int64"]
    reference = duck_rows(
        duck,
        "SELECT computer, count(*), count(username), sum(CASE WHEN username = '' THEN 1 ELSE 0 END), "
        "max(memory_mb) FROM processes GROUP BY computer ORDER BY computer",
    )
    assert [[text for text, _ in row] for row in grid["rows"]] == [[str(v) for v in row] for row in reference]
    assert {cls for row in grid["rows"] for _, cls in row[1:]} == {"number"}
    align = demo.js("return getComputedStyle(document.querySelector('.main-result td.number')).textAlign;")
    assert align == "right"

    demo.run_local(
        "SELECT process_id, username FROM procs WHERE username IS NULL OR username = '' ORDER BY process_id LIMIT 20"
    )
    reference = duck_rows(
        duck,
        "SELECT process_id, username FROM processes WHERE username IS NULL OR username = '' "
        "ORDER BY process_id LIMIT 20",
    )
    assert None in {u for _, u in reference} and "" in {u for _, u in reference}  # the sample has both
    shown = [(row[0][0], row[1]) for row in demo.grid()["rows"]]
    assert shown == [(pid, ["NULL", "null"] if u is None else ["", "empty"]) for pid, u in reference]
    demo.screenshot("null-and-empty")


def test_begin_and_end_are_substituted_from_the_time_range(demo, server, sample):
    demo.open(server.url)
    end = sample.end
    begin_at, end_at = end - dt.timedelta(minutes=10), end - dt.timedelta(minutes=5)
    demo.set_value("#time-from", begin_at.isoformat().replace("+00:00", "Z"))
    demo.set_value("#time-to", end_at.isoformat().replace("+00:00", "Z"))
    rows = demo.fetch("recent", "SELECT * FROM log_entries WHERE time BETWEEN '$begin' AND '$end'")
    times = sample.tables["log_entries"]["time"].to_pylist()
    expected = sum(1 for t in times if begin_at <= t <= end_at)
    assert 0 < expected < ROWS
    assert rows == str(expected), demo.errors()
    # Local SQL gets them too.
    assert demo.run_local("SELECT count(*) AS n FROM recent WHERE time < '$end'") == "1", demo.errors()
    assert demo.grid()["rows"] == [[[str(sum(1 for t in times if begin_at <= t < end_at)), "number"]]]


# ---------------------------------------------------------------- the notebook


def cell(name: str) -> str:
    return f"document.querySelector('.cell[data-cell=\"{name}\"]')"


def test_the_notebook_runs_cells_that_select_from_each_other(demo, server, sample, duck, artifacts_dir):
    demo.open(server.url)
    end = sample.end
    demo.set_value("#time-from", (end - dt.timedelta(minutes=30)).isoformat().replace("+00:00", "Z"))
    demo.set_value("#time-to", end.isoformat().replace("+00:00", "Z"))
    demo.click("#tab-notebook")
    demo.wait("document.querySelectorAll('.cell').length === 3", what="the seed's three cells")
    demo.wait_engine()
    assert demo.js("return [...document.querySelectorAll('.cell')].map((c) => c.dataset.cell);") == [
        "errors",
        "by_host",
        "error_chart",
    ]
    started = time.monotonic()
    demo.run_all()
    run_all_s = time.monotonic() - started
    assert "failed" not in demo.text("#notebook-summary")
    window = (
        f"time BETWEEN TIMESTAMPTZ '{(end - dt.timedelta(minutes=30)).isoformat()}' AND TIMESTAMPTZ '{end.isoformat()}'"
    )
    errors = duck_rows(duck, f"SELECT count(*) FROM log_entries WHERE level IN ('ERROR', 'FATAL') AND {window}")[0][0]
    by_host = duck_rows(
        duck,
        f"SELECT host, count(*) AS c FROM log_entries WHERE level IN ('ERROR', 'FATAL') AND {window} "
        "GROUP BY host ORDER BY c DESC, host",
    )
    assert demo.status_tables() == {"errors": errors, "by_host": len(by_host), "error_chart": min(10, len(by_host))}
    shown = demo.grid(cell("by_host"))
    assert shown["names"] == ["host", "error_count"] and shown["types"] == ["string", "int64"]
    assert [[t for t, _ in row] for row in shown["rows"]] == [[h, str(c)] for h, c in by_host[:10]]
    demo.fits()
    demo.screenshot("notebook")

    # Re-running a cell replaces its table.
    demo.js(
        f"const t = {cell('errors')}.querySelector('.cell-sql'); t.value = t.value.replace(\"IN ('ERROR', 'FATAL')\", \"= 'FATAL'\");"
    )
    demo.run_cell("errors")
    fatal = duck_rows(duck, f"SELECT count(*) FROM log_entries WHERE level = 'FATAL' AND {window}")[0][0]
    demo.wait(
        "arguments[0] === Number(document.querySelector('[data-role=status-table][data-name=errors]')?.dataset.rows)",
        fatal,
        what="the re-run cell's table in the status bar",
    )
    assert set(demo.status_tables()) == {"errors", "by_host", "error_chart"}

    # Renaming moves the table; a cell that selects from the old name gets the engine's error.
    demo.js(
        f"const n = {cell('by_host')}.querySelector('.cell-name'); n.value = 'hosts';"
        "n.dispatchEvent(new Event('change', {bubbles: true}));"
    )
    demo.wait("document.querySelector('[data-role=status-table][data-name=hosts]')", what="the rename")
    assert demo.status_tables() == {"errors": fatal, "hosts": len(by_host), "error_chart": min(10, len(by_host))}
    demo.run_cell("error_chart")
    message = demo.js(f"return {cell('error_chart')}.querySelector('.cell-error').textContent;")
    expected = native_error("SELECT * FROM by_host LIMIT 10")
    assert "table 'datafusion.public.by_host' not found" in expected
    assert "table 'datafusion.public.by_host' not found" in message, message
    assert "error_chart" not in demo.status_tables()  # a failed cell's stale table is gone
    demo.js(f"{cell('error_chart')}.scrollIntoView({{block: 'center'}});")
    demo.screenshot("notebook-missing-table")

    # A new cell reads the renamed table.
    demo.click("#add-cell")
    demo.wait("document.querySelectorAll('.cell').length === 4", what="the new cell")
    demo.js(
        "const c = [...document.querySelectorAll('.cell')].at(-1);"
        "c.querySelector('.cell-sql').value = 'SELECT * FROM hosts ORDER BY error_count DESC, host LIMIT 3';"
    )
    new_name = demo.js("return [...document.querySelectorAll('.cell')].at(-1).dataset.cell;")
    demo.run_cell(new_name)
    assert demo.js(f"return {cell(new_name)}.querySelector('.cell-stats').dataset.rows;") == "3"
    assert [[t for t, _ in r] for r in demo.grid(cell(new_name))["rows"]] == [[h, str(c)] for h, c in by_host[:3]]

    # Deleting a cell deregisters its table; run all resets first, so the cells below it fail.
    demo.js(f"{cell('errors')}.querySelector('.cell-delete').click();")
    demo.wait("!document.querySelector('[data-role=status-table][data-name=errors]')", what="the delete")
    assert "errors" not in demo.status_tables()
    demo.run_all()
    assert demo.text("#notebook-summary").startswith("ran 3 cells") and demo.text("#notebook-summary").endswith(
        "3 failed"
    )
    assert demo.status_tables() == {}
    hosts_error = demo.js(f"return {cell('hosts')}.querySelector('.cell-error').textContent;")
    assert "table 'datafusion.public.errors' not found" in hosts_error, hosts_error
    record(artifacts_dir, demo.browser, notebook_run_all_s=run_all_s)


# ---------------------------------------------------------------- errors in place


def test_errors_are_shown_in_place_with_the_engines_and_the_servers_messages(demo, server, artifacts_dir):
    demo.open(server.url)
    # Before anything is registered: the engine's planning error, where the local query is.
    assert demo.run_local("SELECT * FROM data") is None
    shown = demo.text("[data-role=local-error]")
    assert "table 'datafusion.public.data' not found" in native_error("SELECT * FROM data")
    assert "table 'datafusion.public.data' not found" in shown, shown
    assert demo.text(".main-result .result-meta") == "no result: the statement failed"

    assert demo.run_local("SELEC 1") is None
    native = native_error("SELEC 1")
    assert native.split("\n")[0].split(": ", 1)[-1] in demo.text("[data-role=local-error]"), native

    # The query server's error, under the source query; the engine is unharmed.
    assert demo.fetch("data", "SELECT * FROM no_such_table") is None
    server_error = demo.text("[data-role=source-error]")
    assert server_error.startswith("query failed: ") and "no_such_table" in server_error, server_error
    demo.fits()
    demo.screenshot("errors")

    assert demo.run_local("SELECT 40 + 2 AS answer") == "1"
    assert demo.js("return document.querySelector('[data-role=local-error]').hidden;")
    assert demo.grid()["rows"] == [[["42", "number"]]]


# ---------------------------------------------------------------- a million rows


FRAME_MONITOR = """
window.__frames = {max: 0, last: performance.now(), on: true};
const tick = (now) => {
  const f = window.__frames;
  f.max = Math.max(f.max, now - f.last); f.last = now;
  if (f.on) requestAnimationFrame(tick);
};
requestAnimationFrame(tick);
"""


def million_rows_paged(demo: Demo) -> dict[str, Any]:
    """Runs the 1M-row query, checks the result and pages through it; the timings."""
    box = "return (({top, height}) => [top, height])(document.querySelector('.main-result').getBoundingClientRect());"
    before = demo.js(box)
    demo.set_value("#local-sql", MILLION)
    done = demo.done("#local-stats")
    demo.js(FRAME_MONITOR)
    started = time.monotonic()
    demo.click("#run")
    demo.wait(
        "document.querySelector('.main-result').classList.contains('running') || "
        "Number(document.getElementById('local-stats').dataset.done) > arguments[0]",
        done,
        what="the running state",
    )
    during = demo.js(box)
    demo.wait("document.getElementById('local-stats').dataset.rows === '1000000'", what="1M rows", timeout=90)
    shown_s = time.monotonic() - started
    after = demo.js(box)
    assert before == during == after, f"the result box moved or resized: {before} {during} {after}"
    grid = demo.grid()
    assert grid["types"] == ["int64", "int64", "string"]
    assert grid["page"] == f"rows 1{DASH}100 of 1,000,000 · page 1 of 10,000"
    assert grid["rows"][0] == [["0", "number"], ["0", "number"], ["row 0", "text"]]
    turns = []
    for button, page in (("last", "10,000"), ("prev", "9,999"), ("first", "1"), ("next", "2"), ("last", "10,000")):
        t = demo.js(
            "const t = performance.now(); document.querySelector(`.main-result [data-role=${arguments[0]}]`).click();"
            "return performance.now() - t;",
            button,
        )
        turns.append(round(t, 1))
        assert f"page {page} of 10,000" in demo.grid()["page"]
    grid = demo.grid()
    assert grid["page"] == f"rows 999,901{DASH}1,000,000 of 1,000,000 · page 10,000 of 10,000"
    assert grid["rows"][-1] == [["999999", "number"], ["1999998", "number"], ["row 999999", "text"]]
    assert len(grid["rows"]) == 100
    frames = demo.js("window.__frames.on = false; return window.__frames.max;")
    return {"shown_s": round(shown_s, 2), "longest_frame_gap_ms": round(frames, 1), "page_turns_ms": turns}


def test_a_million_row_result_pages_to_its_end_without_freezing_the_page(demo, server, artifacts_dir):
    demo.open(server.url)
    # A freeze happens on every run; a busy machine's scheduling blip does not: the timings are
    # measured again once when over budget, and the better run is held to the budgets. Every run's
    # results are checked, and every run's timings are in the failure message.
    runs = []
    for _ in range(2):
        runs.append(million_rows_paged(demo))
        best = min(runs, key=lambda r: (r["longest_frame_gap_ms"], max(r["page_turns_ms"])))
        if best["longest_frame_gap_ms"] < FRAME_BUDGET_MS and max(best["page_turns_ms"]) < PAGE_TURN_BUDGET_MS:
            break
    demo.screenshot("million-rows")
    record(
        artifacts_dir,
        demo.browser,
        million_rows_shown_s=best["shown_s"],
        million_rows_longest_frame_gap_ms=best["longest_frame_gap_ms"],
        page_turn_ms=max(best["page_turns_ms"]),
    )
    assert max(best["page_turns_ms"]) < PAGE_TURN_BUDGET_MS, runs
    assert best["longest_frame_gap_ms"] < FRAME_BUDGET_MS, (
        f"the main thread froze (budget {FRAME_BUDGET_MS:.0f} ms): {runs}"
    )


# ---------------------------------------------------------------- the CSP


def test_the_page_runs_under_its_strict_csp_without_a_violation(demo, server):
    with urllib.request.urlopen(server.url) as response:
        assert response.headers["Content-Security-Policy"] == demo_server.CSP
        assert "<script>" not in response.read().decode()  # no inline script in the page
    assert "script-src 'self' 'wasm-unsafe-eval'" in demo_server.CSP and "unsafe-inline" not in demo_server.CSP
    demo.open(server.url)
    assert demo.fetch("data", "SELECT * FROM processes LIMIT 100") == "100"
    assert demo.run_local("SELECT count(*) FROM data") == "1"
    demo.click("#tab-notebook")  # a second engine, a second worker, its module compiled again
    demo.wait("document.querySelectorAll('.cell').length === 3", what="the notebook")
    demo.wait_engine()
    assert demo.js("return window.demo.violations;") == []
    # The listener works and the policy is enforced: an inline script is refused and reported.
    demo.js(
        "const s = document.createElement('script'); s.textContent = 'window.__inlineRan = true;';"
        "document.body.append(s);"
    )
    violations = demo.wait("window.demo.violations.length && window.demo.violations", what="the violation event")
    assert violations[0]["directive"].startswith("script-src"), violations
    assert demo.js("return window.__inlineRan === undefined;")


# ---------------------------------------------------------------- files (--no-server)


def test_without_a_server_dropped_files_are_converted_in_the_page(demo, file_server, tmp_path, artifacts_dir):
    csv = tmp_path / "people.csv"
    csv.write_text('name,age,score,member\nAda,36,9.5,true\n"Lovelace, A.",,7.25,false\n"",41,,true\n')
    json_file = tmp_path / "events.ndjson"
    json_file.write_text('{"id": 1, "kind": "click", "tags": ["a"]}\n{"id": 2, "kind": null}\n{"id": 3}\n')
    arrow_file = tmp_path / "numbers.arrow"
    feather.write_feather(
        pa.table({"x": pa.array(range(1000), pa.int64())}), str(arrow_file), compression="uncompressed"
    )

    demo.open(file_server.url)
    assert demo.js("return document.getElementById('fetch') === null && window.demo.config.server === false;")

    def drop(path: Path, table: str, rows: int) -> None:
        from selenium.webdriver.common.by import By

        demo.set_value("#source-table", table)
        demo.after(
            "#source-stats",
            lambda: demo.driver.find_element(By.ID, "file-input").send_keys(str(path)),
            what=f"{path.name} registered",
        )
        assert demo.js("return document.getElementById('source-stats').dataset.rows;") == str(rows), demo.errors()

    drop(csv, "people", 3)
    drop(json_file, "events", 3)
    drop(arrow_file, "numbers", 1000)
    demo.run_local(
        "SELECT p.name, p.age, p.score, p.member, e.kind, e.tags, n.x FROM people p "
        "JOIN events e ON e.id = (CASE WHEN p.age IS NULL THEN 2 ELSE p.age % 3 + 1 END) "
        "JOIN numbers n ON n.x = e.id * 100 ORDER BY n.x"
    )
    grid = demo.grid()
    assert demo.errors() == []
    assert grid["types"] == ["string", "int64", "double", "bool", "string", "string", "int64"]
    # Ada 36 -> id 1; "Lovelace, A." no age -> id 2; "" 41 -> id 3.
    assert grid["rows"] == [
        [["Ada", "text"], ["36", "number"], ["9.5", "number"], ["true", "text"], ["click", "text"], ['["a"]', "text"], ["100", "number"]],
        [["Lovelace, A.", "text"], ["NULL", "null"], ["7.25", "number"], ["false", "text"], ["NULL", "null"], ["NULL", "null"], ["200", "number"]],
        [["", "empty"], ["41", "number"], ["NULL", "null"], ["true", "text"], ["NULL", "null"], ["NULL", "null"], ["300", "number"]],
    ]  # fmt: skip
    assert demo.js("return window.demo.violations;") == []
    demo.screenshot("files")
