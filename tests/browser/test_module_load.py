"""Loading the module as a page does: fetch, compile, instantiate, measured separately and as the
glue's one streaming call. Each fresh copy of the glue (a new module URL) must give a working
engine; the timings go to the measurements record, not into assertions."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

LOAD = """
const [round] = args;
const glueUrl = new URL(window.harness.moduleUrl, location.href);
const wasmUrl = new URL(glueUrl.pathname.replace(/\\.js$/, "_bg.wasm"), location.href);
const now = () => performance.now();

// 1. The three steps apart: the bytes, WebAssembly.compile, then instantiation through the glue.
let t = now();
const response = await fetch(wasmUrl, {cache: "no-store"});
if (response.headers.get("content-type") !== "application/wasm") {
  throw new Error(`the server sent the module as ${response.headers.get("content-type")}, not application/wasm`);
}
const bytes = await response.arrayBuffer();
const fetchMs = now() - t;
t = now();
const module = await WebAssembly.compile(bytes);
const compileMs = now() - t;
const glueA = await import(`${glueUrl.href}?measure=${round}a`);
t = now();
await glueA.default({module_or_path: module});
const instantiateMs = now() - t;
const answerA = await new glueA.WasmQueryEngine().execute_sql("SELECT 41 + 1 AS answer");

// 2. What a page does: the glue streams, compiles and instantiates in one call.
const glueB = await import(`${glueUrl.href}?measure=${round}b`);
t = now();
await glueB.default({module_or_path: fetch(wasmUrl, {cache: "no-store"})});
const streamingMs = now() - t;
const answerB = await new glueB.WasmQueryEngine().execute_sql("SELECT 41 + 1 AS answer");
return {bytes: bytes.byteLength, fetchMs, compileMs, instantiateMs, streamingMs,
        answers: [answerA, answerB].map((ipc) => Number(Arrow.tableFromIPC(ipc).getChild("answer").get(0)))};
"""


def test_module_fetch_compile_instantiate(wasm_module_page, built_engine, measurements):
    runs = [wasm_module_page.run(LOAD, round_) for round_ in range(3)]
    for run in runs:
        assert run["answers"] == [42, 42], "a freshly instantiated engine did not answer"
        assert run["bytes"] == built_engine.report["final"]["raw"], "the page fetched a module other than the built one"
    for index, run in enumerate(runs):
        measurements.record(
            "module_load",
            browser=wasm_module_page.browser,
            run=index + 1,
            wasm_mb=run["bytes"] / 1e6,
            fetch_ms=run["fetchMs"],
            compile_ms=run["compileMs"],
            instantiate_ms=run["instantiateMs"],
            fetch_compile_instantiate_ms=run["fetchMs"] + run["compileMs"] + run["instantiateMs"],
            streaming_instantiate_ms=run["streamingMs"],
        )
