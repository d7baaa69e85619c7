"""fetchQueryIPC (shipped in the engine package) against the localhost query server, in Chromium.

The server runs SQL in native DataFusion and streams JSON-framed IPC; the page assembles the
frames into one IPC stream and registers it in the wasm engine. Then: several batches, empty
results, error frames, truncated streams, malformed frames, HTTP errors, aborted requests. After
every failure the engine still answers and the tables registered earlier are intact.
"""

from __future__ import annotations

import base64

import pyarrow as pa
import pytest

from tests.browser.oracle import compare_tables, native
from tests.browser.scenarios import datasets
from toolchain.tools.webdriver import JSError

pytestmark = pytest.mark.browser

FETCH_AND_REGISTER = """
const [url, params, name] = args;
const started = performance.now();
const bytes = await window.queryClient.fetchQueryIPC(params, undefined, {url});
const fetched = performance.now();
const rows = window.remote.register_table(name, bytes);
return {rows, bytes: bytes.length, fetchMs: fetched - started, registerMs: performance.now() - fetched};
"""

READ_BACK = """
const [name] = args;
return window.harness.bytesToBase64(await window.remote.read_table_ipc(name));
"""

SQL = """
const [sql] = args;
return window.harness.bytesToBase64(await window.remote.execute_sql(sql));
"""


@pytest.fixture(scope="module")
def remote(wasm_module_page, query_server):
    """A page whose window.remote engine holds 'sales', fetched from the query server."""
    page = wasm_module_page
    info = page.init
    assert info["clientError"] is None, f"the engine package's fetch_query_ipc.js did not load: {info['clientError']}"
    page.run("window.remote = new window.pkg.WasmQueryEngine();")
    out = page.run(FETCH_AND_REGISTER, query_server.url, {"sql": "SELECT * FROM sales"}, "sales")
    assert out["rows"] == datasets()["sales"].num_rows
    return page


def fetch_and_register(page, server, name: str, **params) -> dict:
    return page.run(FETCH_AND_REGISTER, server.url, params, name)


def read_back(page, name: str) -> pa.Table:
    return pa.ipc.open_stream(base64.b64decode(page.run(READ_BACK, name))).read_all()


def sql(page, statement: str) -> pa.Table:
    return pa.ipc.open_stream(base64.b64decode(page.run(SQL, statement))).read_all()


def assert_engine_intact(page) -> None:
    """The engine answers, and 'sales' (registered first) is whole."""
    counted = sql(page, "SELECT count(*) AS n, sum(id) AS s FROM sales").to_pylist()
    sales = datasets()["sales"]
    assert counted == [{"n": sales.num_rows, "s": sum(sales.column("id").to_pylist())}]


def expect_js_error(page, server, name: str, **params) -> JSError:
    names_before = page.run("return window.remote.table_names();")
    with pytest.raises(JSError) as error:
        fetch_and_register(page, server, name, **params)
    assert page.run("return window.remote.table_names();") == names_before, "a failed fetch registered something"
    assert_engine_intact(page)
    return error.value


def test_several_batches_assemble_into_one_stream(remote, query_server):
    statement = "SELECT id, city, product, price, ts_berlin, day FROM sales ORDER BY id"
    out = fetch_and_register(remote, query_server, "five_batches", sql=statement, batch_rows=5)
    served = query_server.wait_for(statement, "done")
    assert served.frames == 1 + 5 + 1, f"expected schema + 5 batches + done, the server sent {served.frames} frames"
    assert out["rows"] == 24
    expected = native(statement, {"sales": datasets()["sales"]})
    compare_tables(read_back(remote, "five_batches"), expected, statement, ordered=True, label="five batches")


def test_an_empty_result_registers_an_empty_table_with_its_schema(remote, query_server):
    statement = "SELECT id, city, price FROM sales WHERE id < 0"
    out = fetch_and_register(remote, query_server, "nothing", sql=statement)
    assert query_server.wait_for(statement, "done").frames == 2  # schema + done, no batch
    assert out["rows"] == 0
    back = read_back(remote, "nothing")
    assert back.num_rows == 0
    assert [(f.name, f.type) for f in back.schema] == [
        ("id", pa.int64()),
        ("city", pa.string()),
        ("price", pa.decimal128(12, 2)),
    ]
    assert sql(remote, "SELECT count(*) AS n FROM nothing").to_pylist() == [{"n": 0}]


def test_an_error_frame_rejects_with_the_servers_message(remote, query_server):
    error = expect_js_error(remote, query_server, "bad", sql="SELECT no_such_column FROM sales")
    assert error.name == "QueryServerError"
    assert "query failed" in error.message and "no_such_column" in error.message, error.message


def test_an_error_frame_mid_stream_discards_the_batches_before_it(remote, query_server):
    statement = "SELECT * FROM sales"
    error = expect_js_error(
        remote, query_server, "sales", sql=statement, batch_rows=4, fault={"error_after_batches": 2}
    )
    assert error.name == "QueryServerError" and "cancelled on the server" in error.message
    assert query_server.wait_for(statement, "error frame").frames == 1 + 2 + 1


def full_body_length(server, statement: str) -> int:
    return server.wait_for(statement, "done").body_bytes


@pytest.mark.parametrize(
    "where", ["inside the first header", "inside the schema message", "inside a batch", "before done"]
)
def test_a_truncated_stream_is_a_protocol_error(remote, query_server, where):
    statement = f"SELECT id, city, amount FROM sales -- {where}"
    fetch_and_register(remote, query_server, "probe", sql=statement, batch_rows=6)
    total = full_body_length(query_server, statement)
    done_frame = len(b'{"type":"done"}\n')
    cut = {
        "inside the first header": 10,
        "inside the schema message": 40,
        "inside a batch": total - done_frame - 30,
        "before done": total - done_frame,
    }[where]
    error = expect_js_error(
        remote, query_server, "truncated", sql=statement, batch_rows=6, fault={"truncate_after_bytes": cut}
    )
    assert error.name == "QueryProtocolError", error
    assert "the response ended" in error.message and "truncated" in error.message, error.message
    assert query_server.wait_for(statement, "truncated").body_bytes == cut


def test_a_garbled_frame_is_a_protocol_error(remote, query_server):
    error = expect_js_error(remote, query_server, "garbled", sql="SELECT 1 AS one", fault={"garbage_frame": True})
    assert error.name == "QueryProtocolError" and "not a JSON frame header" in error.message, error.message


def test_an_http_error_status_rejects_with_the_status(remote, query_server):
    error = expect_js_error(remote, query_server, "down", sql="SELECT 1", fault={"http_status": 503})
    assert error.name == "QueryServerError"
    assert "HTTP 503" in error.message and "unavailable" in error.message, error.message


def test_an_aborted_request_rejects_with_abort_error_and_the_server_sees_it_go(remote, query_server):
    statement = "SELECT * FROM sales -- aborted"
    outcome = remote.run(
        """
        const [url, params] = args;
        const controller = new AbortController();
        const pending = window.queryClient.fetchQueryIPC(params, controller.signal, {url});
        setTimeout(() => controller.abort(), 300);
        try {
          await pending;
          return {resolved: true};
        } catch (e) {
          return {name: e.name, aborted: controller.signal.aborted, tables: window.remote.table_names()};
        }
        """,
        query_server.url,
        {"sql": statement, "batch_rows": 4, "fault": {"stall_after_batches": 1}},
    )
    assert outcome.get("name") == "AbortError" and outcome["aborted"], outcome
    served = query_server.wait_for(statement, "client disconnected")
    assert served.frames == 1 + 1  # the schema and one batch went out before the stall
    assert_engine_intact(remote)
    # The same query without the fault still works afterwards.
    assert fetch_and_register(remote, query_server, "after_abort", sql=statement)["rows"] == 24


def test_a_million_rows_over_the_protocol(remote, query_server, measurements):
    """The seed's flow at scale: fetchQueryIPC of the 1M-row table, then SQL over it in the engine."""
    statement = "SELECT * FROM big"
    out = fetch_and_register(remote, query_server, "big", sql=statement, batch_rows=65_536)
    big = datasets()["big"]
    assert out["rows"] == big.num_rows
    served = query_server.wait_for(statement, "done")
    assert served.frames == 1 + 16 + 1  # ceil(1M / 65536) batches
    check = "SELECT cat, count(*) AS n, sum(val) AS total, min(id) AS lo, max(cents) AS hi FROM big GROUP BY cat"
    compare_tables(
        sql(remote, check), native(check, {"big": big}), check, ordered=False, label="1M rows via fetchQueryIPC"
    )
    mb = out["bytes"] / 1e6
    measurements.record(
        "fetch_query_ipc",
        browser=remote.browser,
        rows=out["rows"],
        ipc_mb=mb,
        batches=16,
        fetch_and_assemble_ms=out["fetchMs"],
        fetch_mb_per_s=mb / (out["fetchMs"] / 1000),
        register_ms=out["registerMs"],
        register_mb_per_s=mb / (out["registerMs"] / 1000),
    )
