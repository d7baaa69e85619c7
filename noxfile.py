"""Sessions are thin: each installs the toolchain package and calls its CLI or pytest.

nox -s doctor [-- --install]     what is found, and provisioning
nox -s build [-- OPTIONS]        build the engine, or your crate (-- --manifest-path DIR; docs/users.md)
nox -s init -- DIR               a new crate that builds, passes the checks and has browser tests
nox -s test [-- PYTEST ARGS]     every test: unit, the build, the browser suites (the two slow
                                 builds below only when cached; -- --run-slow-builds forces them)
nox -s browser [-- PYTEST ARGS]  the browser suite only (differential, protocol, load times)
nox -s unit                      the fast unit tests only
nox -s wasm_test                 the engine's Rust tests in headless Chromium
nox -s check [-- NAME OPTIONS]   every check on the built engine, or one (gating, tracing, shims, size)
nox -s fuzz [-- OPTIONS]         the IPC validator natively under a seeded fuzzer (--seconds 120, --seed)
nox -s toolchain_wheels [-- OPTIONS]  the wasm-bindgen CLI and wasm-opt as wheels in artifacts/toolchain-wheels/
nox -s toolchain_wheels_test     the toolchain-wheel tests (~45 min cold: binaryen from C++)
nox -s release [-- OPTIONS]      build, check, then artifacts/release/<version>/ (npm, wheel, SBOM, sums)
nox -s reproduce                 two clean builds of HEAD in two directories: identical bytes?
nox -s bench_queries [-- OPTIONS]   TPC-H: our engine vs DuckDB-WASM in the browser, native DataFusion and DuckDB
nox -s cache [-- show|clean OPTIONS]  what the tool and stage caches hold; clean them (clean --help)
nox -s demo [-- OPTIONS]         the Local Query playground on localhost: engine, page, sample data (docs/demo.md)
nox -s lint                      ruff, mypy, the layer contract; cargo fmt and clippy on our crates (docs/lint.md)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import nox
import nox.command

nox.options.sessions = ["build"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

HERE = Path(__file__).resolve().parent
# nox chdirs to this directory before importing the noxfile, so the cwd here is already HERE;
# the shell's PWD still names where the user typed the command (a fallback for session.invoked_from).
_CALLER_DIR = os.environ.get("PWD") if os.path.isdir(os.environ.get("PWD") or "") else os.getcwd()
# The toolchain resolves relative --manifest-path / --artifacts-dir against this directory.
CALLER_DIR_ENV = "WASM_QE_CALLER_DIR"

# ---------------------------------------------------------------- installing, once per change

# In the session's venv: what the last successful install was made from. Bump STAMP_VERSION when
# the install steps change, so every venv installs once more.
STAMP_NAME = ".wasm-qe-install-stamp.json"
STAMP_VERSION = 1


def _install_key(extras: str, wheels: bool, root: Path | None = None) -> str:
    """What an install depends on. The package is editable, so its sources are not in it: an
    edit under toolchain/ needs no reinstall. pyproject.toml is (dependencies, extras, entry
    points), and so are the toolchain-wheel pins: `toolchain-wheels requirements` reads them from
    packaging/*/pyproject.toml, which is hashed here instead of running that command each time."""
    root = root or HERE
    digest = hashlib.sha256()
    parts = [
        ("stamp", str(STAMP_VERSION)),
        ("root", str(root)),
        ("extras", extras),
        ("wheels", os.environ.get("WASM_TOOLCHAIN_WHEELS", "") if wheels else "<not installed>"),
    ]
    recipes = sorted((root / "packaging").glob("*/pyproject.toml")) if wheels else []
    for path in [root / "pyproject.toml", *recipes]:
        parts.append((str(path.relative_to(root)), hashlib.sha256(path.read_bytes()).hexdigest()))
    digest.update(json.dumps(parts).encode())
    return digest.hexdigest()


def _venv_state(venv: Path) -> list[str] | None:
    """What is installed in a venv, cheaply (one directory listing): the top-level entries of its
    site-packages (dist-info directories, the editable install's .pth). None when it has no
    runnable python or not exactly one site-packages: such a venv is reinstalled."""
    python = venv / "bin" / "python"
    sites = list(venv.glob("lib/python*/site-packages"))
    if not (python.exists() and os.access(python, os.X_OK)) or len(sites) != 1:
        return None
    return sorted(entry.name for entry in sites[0].iterdir() if entry.name != "__pycache__")


def _install_is_current(venv: Path, key: str) -> bool:
    """True when the venv was installed from exactly these inputs and nothing was installed,
    removed or upgraded in it since (a venv damaged or changed by hand is installed again)."""
    try:
        stamp = json.loads((venv / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return False
    state = _venv_state(venv)
    return isinstance(stamp, dict) and state is not None and stamp.get("key") == key and stamp.get("site") == state


def _write_stamp(venv: Path, key: str) -> None:
    tmp = venv / f"{STAMP_NAME}.tmp"
    tmp.write_text(json.dumps({"key": key, "site": _venv_state(venv)}) + "\n")
    os.replace(tmp, venv / STAMP_NAME)


def _venv_dir(session: nox.Session) -> Path | None:
    location = getattr(session.virtualenv, "location", None)
    return Path(location) if location else None


def _install(session: nox.Session, extras: str = "", wheels: bool = True) -> None:
    """`pip install -e .{extras}` and the toolchain-wheel step, skipped when nothing they depend
    on changed since the last install into this venv (a no-op spent 10-13 s here otherwise)."""
    venv = _venv_dir(session)
    key = _install_key(extras, wheels)
    if venv is not None and _install_is_current(venv, key):
        session.log(f"install skipped: nothing it depends on changed ({venv / STAMP_NAME})")
        return
    if venv is not None:
        (venv / STAMP_NAME).unlink(missing_ok=True)  # an interrupted install must not look current
    session.install("-e", f".{extras}")
    if wheels:
        _toolchain_wheels(session)
    if venv is not None and _venv_state(venv) is not None:
        _write_stamp(venv, key)


def _toolchain_wheels(session: nox.Session) -> None:
    """WASM_TOOLCHAIN_WHEELS=DIR (built wheels) or =index (the configured package index) puts the
    pinned toolchain wheels in the session's venv, and provisioning then prefers them. Unset, they
    are removed: venvs are reused, and which tools a run uses must not depend on an earlier run.
    (The value is part of the install stamp: changing it installs again.)"""
    source = os.environ.get("WASM_TOOLCHAIN_WHEELS")
    listed = session.run("python", "-m", "toolchain", "toolchain-wheels", "requirements", silent=True)
    pinned = listed.split()
    if not source:
        session.run("python", "-m", "pip", "uninstall", "-q", "-y", *(r.split("==")[0] for r in pinned), silent=True)
    elif source == "index":
        session.install(*pinned)
    else:
        session.install("--no-index", "--find-links", source, *pinned)


def _caller_env(session: nox.Session) -> dict[str, str]:
    """The directory nox was invoked from, for the toolchain's relative paths (nox runs sessions
    in the noxfile's directory)."""
    invoked_from = getattr(session, "invoked_from", None) or _CALLER_DIR
    return {CALLER_DIR_ENV: str(Path(invoked_from).resolve())}


def _run_toolchain(session: nox.Session, *args: str) -> None:
    """`python -m toolchain ARGS` in the session's venv, told where the user invoked nox."""
    session.run("python", "-m", "toolchain", *args, env=_caller_env(session))


# Tests run the CLI with paths relative to the checkout: a caller directory from the user's
# environment must not reach them.
_NO_CALLER_DIR: dict[str, str | None] = {CALLER_DIR_ENV: None}


def _toolchain(session: nox.Session, *command: str) -> None:
    """`python -m toolchain COMMAND` in the session's venv, the session's posargs passed through."""
    _install(session)
    _run_toolchain(session, *command, *session.posargs)


@nox.session
def doctor(session: nox.Session) -> None:
    """Show the tools found (version, provider); `-- --install` provisions what is missing."""
    _toolchain(session, "doctor")


@nox.session
def build(session: nox.Session) -> None:
    """Build the bundled DataFusion engine (or --manifest-path PATH) into artifacts/."""
    _toolchain(session, "build")


@nox.session
def init(session: nox.Session) -> None:
    """Scaffold a crate that builds, passes every check and has browser tests (`-- DIR [--name NAME]`)."""
    _toolchain(session, "init")


@nox.session
def wasm_test(session: nox.Session) -> None:
    """The engine's #[wasm_bindgen_test] tests in headless Chromium (wasm-bindgen-test-runner)."""
    _toolchain(session, "wasm-test")


@nox.session
def check(session: nox.Session) -> None:
    """Every check (gating, tracing, shims, size), or `-- NAME [options]` for one; non-zero on a violation."""
    _toolchain(session, "check")


@nox.session
def udf(session: nox.Session) -> None:
    """WASM UDF modules: `-- build PATH...`, `-- validate MODULE...`, `-- precompile M`, `-- bundle M`, `-- call M F ...`."""
    _toolchain(session, "udf")


@nox.session
def udf_bench(session: nox.Session) -> None:
    """Every wasmtime tier on the example UDFs: compile, load, first result, ns/row, fuel/epoch overhead (artifacts/reports/udf-bench/)."""
    _install(session, "[udf]")
    _run_toolchain(session, "udf", "bench", *session.posargs)


@nox.session
def udf_bench_browser(session: nox.Session) -> None:
    """The browser column of the UDF benchmark: register_udf and per-row costs in Chromium and Firefox
    (benchmarks/udf_browser; the engine package in artifacts/datafusion-wasm as built, never rebuilt)."""
    _pytest(session, ["benchmarks/udf_browser"])


@nox.session
def fuzz(session: nox.Session) -> None:
    """ipc_guard.rs natively under a seeded mutation fuzzer (`-- --seconds N --seed N`); non-zero on a panic after validation."""
    _toolchain(session, "fuzz")


def _pytest(session: nox.Session, paths: list[str], provision: bool = True) -> None:
    _install(session, "[test]")
    if provision:
        _run_toolchain(session, "doctor", "--install")
    session.run("pytest", *paths, *session.posargs, env=_NO_CALLER_DIR)


@nox.session
def test(session: nox.Session) -> None:
    """All tests (the toolchain-wheel and wasm-test ones only when cached): provisions, builds, runs headless Chromium.

    Without arguments (CI's command) the lint session's checks run first; a failed one fails the
    session after pytest has run. With arguments (a subset of the tests) they are skipped."""
    _install(session, "[test,lint]")
    lint_failed = [] if session.posargs else _lint(session)
    _run_toolchain(session, "doctor", "--install")
    session.run("pytest", *(session.posargs or ["tests"]), env=_NO_CALLER_DIR)
    if lint_failed:
        session.error(f"the tests passed, lint did not: {', '.join(lint_failed)} (nox -s lint; docs/lint.md)")


@nox.session
def browser(session: nox.Session) -> None:
    """The browser suite: differential scenarios vs native DataFusion, the query protocol, load times."""
    _pytest(session, ["tests/browser"])


@nox.session
def unit(session: nox.Session) -> None:
    """The unit tests only (seconds; no Rust build, no browser)."""
    _pytest(session, ["tests/unit"], provision=False)


@nox.session
def bench(session: nox.Session) -> None:
    """Measurements behind choices: every wasm-opt provider on the built engine (time, sizes)."""
    _toolchain(session, "bench-wasm-opt")


@nox.session
def bench_queries(session: nox.Session) -> None:
    """TPC-H (22 queries) in one browser run: each engine package and DuckDB-WASM, beside native DataFusion
    and DuckDB; results compared first (exit 1 if one differs); artifacts/reports/bench-queries/. The
    engine package is used as built (artifacts/datafusion-wasm, or `-- --package NAME=DIR`), never rebuilt."""
    # The command provisions the browser it runs itself (apt, or cargo install geckodriver), not
    # `doctor --install`: that would provision the Rust build's tools too, which this never uses.
    _install(session, "[bench]")
    _run_toolchain(session, "bench-queries", *session.posargs)


@nox.session
def toolchain_wheels(session: nox.Session) -> None:
    """The wasm-bindgen CLI and wasm-opt as wheels for air-gapped CI (`-- --help` for options)."""
    _toolchain(session, "toolchain-wheels", "build")


@nox.session
def toolchain_wheels_test(session: nox.Session) -> None:
    """The toolchain-wheel tests, whatever the cache holds (`test` runs them only when both wheels are cached)."""
    _pytest(session, ["tests/integration/test_toolchain_wheels.py", "--run-slow-builds"])


@nox.session
def release(session: nox.Session) -> None:
    """Build, run every check, then package artifacts/release/<version>/: npm tarball, wheel, SBOM, SHA256SUMS."""
    _toolchain(session, "release")


@nox.session
def reproduce(session: nox.Session) -> None:
    """Two clean builds + releases of HEAD in two directories (~30 min on 2 CPUs); exit 1 unless byte-identical."""
    _toolchain(session, "reproduce")


@nox.session
def demo(session: nox.Session) -> None:
    """The Local Query playground: builds the engine and the page (demo/, Vite), serves them with seeded sample data on localhost (`-- --port N --data-rows N --no-server`; docs/demo.md)."""
    _install(session, "[demo]")
    _run_toolchain(session, "demo", *session.posargs)


@nox.session
def cache(session: nox.Session) -> None:
    """The tool cache, the stage store and the cargo target dirs: sizes (`-- show --json`), or `-- clean --all --dry-run`."""
    _toolchain(session, "cache")


# ---------------------------------------------------------------- lint (docs/lint.md)

PYTHON_SOURCES = ["toolchain", "tests", "benchmarks", "noxfile.py"]
# Our crates, each with the clippy runs it gets ([]: rustfmt only). Not crates/patches/: upstream
# code with a patch, prepared from crates.io. Natively: code behind cfg(target_arch = "wasm32")
# is formatted but not linted (docs/lint.md).
RUST_CRATES: dict[str, list[list[str]]] = {
    "crates/Cargo.toml": [["--workspace"]],  # the engine, datafusion-wasm
    # Default features (their native tests), and none (as the engine uses them).
    "crates/tracing/Cargo.toml": [[], ["--no-default-features"]],
    "crates/telemetry-sink/Cargo.toml": [[], ["--no-default-features"]],
    "crates/ipc-guard-fuzz/Cargo.toml": [[]],  # ipc_guard.rs and its tests again, the fuzzer
    # Re-exports only, and no lock file of its own: a path dependency of ipc-guard-fuzz, which
    # clippy does not lint.
    "crates/ipc-guard-fuzz/arrow-shim/Cargo.toml": [],
    # The UDF SDK and the Rust examples (natively: the SDK's test host stands in for wasm32's imports).
    "crates/udf/Cargo.toml": [["--workspace"]],
    "tests/fixtures/clock-engine/Cargo.toml": [["--all-features"]],
    "tests/fixtures/hello-engine/Cargo.toml": [[]],
    "tests/fixtures/user-workspace/Cargo.toml": [["--workspace"]],  # greeter and counter: ~1 s warm
}
# rustfmt only: one-line libraries whose point is their dependency graph; clippy would compile
# parquet, tokio and flate2's C zlib natively for nothing.
GATING_FIXTURES = "tests/fixtures/gating/*/Cargo.toml"


def _lint(session: nox.Session) -> list[str]:
    """Every lint check, each run even when an earlier one failed; the names of those that failed.

    Clippy runs with the cargo on PATH (rustup's stable, with its clippy and rustfmt components)
    for this machine, its target directory in the toolchain's cache (never in the checkout)."""
    # The engine's patched crates (crates/patches/README.md): cargo resolves the workspace with them.
    prepare = "from pathlib import Path; from toolchain.tools import patched_crates as p; p.prepare_for(Path('crates'))"
    session.run("python", "-c", prepare)
    where = "from toolchain.core import cache; print(cache.cache_root())"
    cache_root = str(session.run("python", "-c", where, silent=True)).strip()
    cargo_env = {
        "CARGO_TARGET_DIR": str(Path(cache_root) / "cargo-target" / "lint"),
        # clippy-driver compiles every crate itself: a RUSTC from elsewhere (Debian's, for wasm32)
        # would give it dependencies built by another compiler version.
        "RUSTC": None,
        "RUSTC_WRAPPER": None,
    }
    crates = {**RUST_CRATES, **{str(p): [] for p in sorted(Path().glob(GATING_FIXTURES))}}
    checks: list[tuple[str, list[str]]] = [
        ("lint-imports", ["lint-imports"]),  # the layer contract, pyproject [tool.importlinter]
        ("ruff check", ["ruff", "check", *PYTHON_SOURCES]),
        ("ruff format", ["ruff", "format", "--check", *PYTHON_SOURCES]),
        ("mypy", ["mypy"]),  # the package, pyproject [tool.mypy]
    ]
    for manifest in crates:
        # A virtual workspace (no [package]) needs --all, or cargo fmt finds no target.
        virtual = "[package]" not in Path(manifest).read_text()
        fmt = ["cargo", "fmt", "--check", *(["--all"] if virtual else []), "--manifest-path", manifest]
        checks.append((f"cargo fmt {manifest}", fmt))
    for manifest, runs in crates.items():
        for args in runs:
            clippy = ["cargo", "clippy", "--locked", "--all-targets", "--manifest-path", manifest, *args]
            checks.append((" ".join(["cargo clippy", manifest, *args]), [*clippy, "--", "-D", "warnings"]))
    failed = []
    for name, argv in checks:
        try:
            session.run(*argv, env=cargo_env if argv[0] == "cargo" else None, external=argv[0] == "cargo")
        except nox.command.CommandFailed:
            failed.append(name)
    if failed:
        session.warn(f"lint: {len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
    else:
        session.log(f"lint: all {len(checks)} checks passed")
    return failed


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format, mypy, the layer contract; cargo fmt and clippy -D warnings on our crates. All run; fails naming each that failed."""
    # The test extra too: mypy then checks the package's use of pytest, selenium and pyarrow
    # against the real packages, as in the test session.
    _install(session, "[test,lint]", wheels=False)
    failed = _lint(session)
    if failed:
        session.error(f"lint failed: {', '.join(failed)}")
