"""The release as its users consume it, in headless Chromium:

* npm: a minimal Vite app (vite-app/, its dependencies pinned by package-lock.json) that depends
  on the packed tarball, installed by npm into a temporary copy, lazy-loads the engine with
  import(), is built by `vite build`, served, and runs a query;
* Python: a fresh venv installs the wheel with pip (no index), and a server started from that
  venv with the package's own API serves the engine to a page that runs a query.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from toolchain.core import process
from toolchain.tools import npm
from toolchain.tools.serve import StaticServer
from toolchain.tools.webdriver import Page, start_chromium

pytestmark = [pytest.mark.integration, pytest.mark.browser]

HERE = Path(__file__).parent
VITE_APP = HERE / "vite-app"
PYTHON_PAGE = HERE / "python-page"
WASM = "datafusion_wasm_bg.wasm"

# A table, a query over it, and what DataFusion must answer (the engine computes it in the page).
COLUMNS = {"city": ["Oslo", "Lima", "Oslo", "Quito"], "temp": [3.5, 18.25, -1.5, 14.0]}
SQL = "SELECT city, count(*) AS n, sum(temp) AS total FROM weather GROUP BY city HAVING count(*) >= 1 ORDER BY city"
EXPECTED = [
    {"city": "Lima", "n": 1, "total": 18.25},
    {"city": "Oslo", "n": 2, "total": 2.0},
    {"city": "Quito", "n": 1, "total": 14.0},
]


def _resources(page: Page) -> list[str]:
    return page.run("return performance.getEntriesByType('resource').map((e) => e.name);")


@pytest.fixture
def browser_page(chromium):
    driver = start_chromium(chromium)
    page = Page(driver, [])
    try:
        yield page
    finally:
        driver.quit()


# ---------------------------------------------------------------- npm: a Vite app


@pytest.fixture(scope="module")
def vite_dist(engine_release, tmp_path_factory) -> Path:
    """vite build of a copy of vite-app/ with the released tarball installed by npm."""
    locked = npm.install_locked(VITE_APP)  # vite and apache-arrow, pinned, in the tool cache
    work = tmp_path_factory.mktemp("vite")
    app = shutil.copytree(VITE_APP, work / "app", ignore=shutil.ignore_patterns("node_modules", "dist"))
    npm_exe = shutil.which("npm")
    # The consumer's step: npm installs the tarball (what `npm install datafusion-wasm` would fetch).
    process.run(
        [
            npm_exe,
            "install",
            "--no-save",
            "--no-package-lock",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefix",
            work / "engine",
            engine_release.files["npm"],
        ],
        what="npm install of the released tarball",
        fix="check the tarball with `python -m toolchain verify-release`",
    )
    installed = work / "engine" / "node_modules" / "datafusion-wasm"
    assert (installed / "package.json").is_file()
    modules = app / "node_modules"
    modules.mkdir()
    for entry in locked.iterdir():
        (modules / entry.name).symlink_to(entry)
    (modules / "datafusion-wasm").symlink_to(installed)
    process.run(
        ["node", locked / "vite" / "bin" / "vite.js", "build", "--logLevel", "warn"],
        cwd=app,
        what="vite build of the consumer app",
        fix="the bundler's error is above",
    )
    return app / "dist"


def test_vite_puts_the_engine_in_a_lazy_chunk_with_its_wasm(vite_dist, built_engine):
    assets = vite_dist / "assets"
    wasm = list(assets.glob("*.wasm"))
    assert len(wasm) == 1 and wasm[0].read_bytes() == (built_engine.package_dir / WASM).read_bytes()
    entry = (vite_dist / "index.html").read_text().split('src="/assets/')[1].split('"')[0]
    # The wasm-bindgen glue (its import object names every __wbg_ shim) is a chunk of its own,
    # and it finds its module by URL; the entry only import()s it. The worker API's worker is a
    # bundle of its own too (engine_worker + the glue), and finds the same .wasm.
    glue = [p for p in assets.glob("*.js") if "__wbg_" in p.read_text() and not p.name.startswith("engine_worker")]
    assert [p.name for p in glue] != [entry] and len(glue) == 1, [p.name for p in assets.iterdir()]
    assert wasm[0].name in glue[0].read_text()
    entry_js = (assets / entry).read_text()
    assert "__wbg_" not in entry_js and wasm[0].name not in entry_js
    assert glue[0].name in entry_js  # the dynamic import()
    workers = list(assets.glob("engine_worker-*.js"))
    assert len(workers) == 1 and wasm[0].name in workers[0].read_text()
    async_engine = list(assets.glob("async_engine-*.js"))
    assert len(async_engine) == 1 and workers[0].name in async_engine[0].read_text()  # new Worker(new URL(...))


def test_the_vite_app_loads_the_engine_on_demand_and_runs_sql(vite_dist, browser_page):
    with StaticServer({"/": vite_dist}) as server:
        browser_page.driver.get(f"{server.url}/index.html")
        browser_page.run(
            "await new Promise((r) => (document.readyState === 'complete' ? r() : addEventListener('load', r)));"
        )
        assert not [r for r in _resources(browser_page) if r.endswith(".wasm")]  # not loaded before first use
        rows = browser_page.run("return await window.runQuery(...args);", "weather", COLUMNS, SQL)
        assert rows == EXPECTED, browser_page.dump()
        assert [r for r in _resources(browser_page) if r.endswith(".wasm")]
        assert browser_page.run("return document.getElementById('status').textContent;") == "query returned 3 rows"


def test_the_vite_app_runs_sql_in_the_engines_worker(vite_dist, browser_page):
    with StaticServer({"/": vite_dist}) as server:
        browser_page.driver.get(f"{server.url}/index.html")
        browser_page.run(
            "await new Promise((r) => (document.readyState === 'complete' ? r() : addEventListener('load', r)));"
        )
        rows = browser_page.run("return await window.runQueryInWorker(...args);", "weather", COLUMNS, SQL)
        assert rows == EXPECTED, browser_page.dump()  # AsyncQueryEngine has no way to answer but its worker


# ---------------------------------------------------------------- Python: a venv with the wheel


@pytest.fixture(scope="module")
def venv_python(engine_release, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    process.run(
        [python, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", engine_release.files["wheel"]],
        what="pip install of the released wheel",
        fix="check the wheel with `python -m toolchain verify-release`",
    )
    return python


def test_the_installed_wheel_locates_the_engine_files(venv_python, built_engine):
    out = subprocess.run([venv_python, "-m", "datafusion_wasm", "--paths"], capture_output=True, text=True, check=True)
    paths = json.loads(out.stdout)
    assert paths["version"] == "0.1.0"
    for key, name in (("wasm", WASM), ("js", "datafusion_wasm.js"), ("dts", "datafusion_wasm.d.ts")):
        path = Path(paths[key])
        assert venv_python.parent.parent in path.parents  # inside the venv, not the checkout
        assert path.read_bytes() == (built_engine.package_dir / name).read_bytes()


def test_a_server_from_the_venv_serves_the_engine_to_chromium(venv_python, js_node_modules, browser_page):
    server = subprocess.Popen(
        [
            venv_python,
            "-m",
            "datafusion_wasm",
            "--port",
            "0",
            "--mount",
            f"/app/={PYTHON_PAGE}",
            "--mount",
            f"/npm/={js_node_modules}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        engine_url = line.split()[1]
        base = engine_url.split("/datafusion-wasm/")[0]
        with urllib.request.urlopen(engine_url.replace("datafusion_wasm.js", WASM)) as response:
            assert response.headers["Content-Type"] == "application/wasm"
        browser_page.driver.get(f"{base}/app/index.html")
        rows = browser_page.run("return await window.runQuery(...args);", "weather", COLUMNS, SQL)
        assert rows == EXPECTED, browser_page.dump()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_package_server_refuses_paths_outside_its_mounts(venv_python):
    server = subprocess.Popen([venv_python, "-m", "datafusion_wasm", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        base = server.stdout.readline().split()[1].split("/datafusion-wasm/")[0]
        for path in (
            "/datafusion-wasm/../../../../etc/passwd",
            "/etc/passwd",
            "/datafusion-wasm/%2e%2e/%2e%2e/setup.py",
        ):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(base + path)
            assert error.value.code == 404
    finally:
        server.terminate()
        server.wait(timeout=10)
