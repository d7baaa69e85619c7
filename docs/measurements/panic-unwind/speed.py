"""Loads the shipped (panic=immediate-abort) and the panic=unwind engine in headless Chromium and
Firefox; same data, same statements, median of 5; a panic-free check that both answer alike."""
import base64, statistics, sys, json
from pathlib import Path
REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
import pyarrow as pa, random
from toolchain import browser, npm
from toolchain.serve import StaticServer
from toolchain.webdriver import Page, start_chromium, start_firefox

n = 1_000_000
rnd = random.Random(1)
t = pa.table({"k": pa.array([rnd.randrange(1000) for _ in range(n)], pa.int64()), "v": pa.array([rnd.random() for _ in range(n)]), "s": pa.array([f"w{i % 5000}" for i in range(n)])})
sink = pa.BufferOutputStream()
with pa.ipc.new_stream(sink, t.schema) as w: w.write_table(t)
data = base64.b64encode(sink.getvalue().to_pybytes()).decode()
SQL = ["SELECT k, sum(v), count(*) FROM t GROUP BY k ORDER BY k",
       "SELECT s, avg(v) FROM t GROUP BY s ORDER BY 2 DESC LIMIT 10",
       "SELECT count(DISTINCT s) FROM t",
       "SELECT * FROM t ORDER BY v DESC LIMIT 100"]
RUN = """
const [sql] = args; const times = [];
let out;
for (let i = 0; i < 5; i++) { const t0 = performance.now(); out = await window.engine.execute_sql(sql); times.push(performance.now() - t0); }
return {times, bytes: out.length};
"""
nm = npm.install_locked(REPO / "tests" / "browser" / "js")
mounts = {"/artifacts/": REPO / "artifacts", "/harness/": REPO / "tests" / "browser" / "harness", "/npm/": nm}
results = {}
with StaticServer(mounts) as server:
    for bname in ("chromium", "firefox"):
        driver = start_chromium(browser.find()) if bname == "chromium" else start_firefox(browser.find_firefox())
        page = Page(driver, [], bname)
        try:
            for variant, mod in (("abort", "/artifacts/datafusion-wasm/datafusion_wasm.js"), ("unwind", "/artifacts/unwind-experiment/datafusion_wasm.js")):
                driver.get(f"{server.url}/harness/index.html?module={mod}")
                page.run("return await window.harness.ready;")
                page.run("const [d] = args; window.engine = new window.engineModule.WasmQueryEngine(); return window.engine.register_table('t', window.harness.base64ToBytes(d));", data)
                for sql in SQL:
                    out = page.run(RUN, sql)
                    results.setdefault(bname, {}).setdefault(sql, {})[variant] = (statistics.median(out["times"]), out["bytes"])
        finally:
            driver.quit()
for bname, per in results.items():
    ratios = []
    for sql, v in per.items():
        a, u = v["abort"][0], v["unwind"][0]
        ratios.append(u / a)
        assert v["abort"][1] == v["unwind"][1], (sql, v)
        print(f"{bname:8} abort {a:8.1f} ms  unwind {u:8.1f} ms  x{u/a:.2f}  {sql[:60]}")
    print(f"{bname}: geometric mean unwind/abort = {statistics.geometric_mean(ratios):.2f}")
