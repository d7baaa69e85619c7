"""Sessions are thin: each installs the toolchain package and calls its CLI or pytest.

    nox -s doctor [-- --install]     what is found, and provisioning
    nox -s build [-- OPTIONS]        build the engine (python -m toolchain build --help)
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
    nox -s cache [-- show|clean OPTIONS]  what the tool and stage caches hold; clean them (clean --help)
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["build"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


def _install(session: nox.Session, extras: str = "") -> None:
    session.install("-e", f".{extras}")
    _toolchain_wheels(session)


def _toolchain_wheels(session: nox.Session) -> None:
    """WASM_TOOLCHAIN_WHEELS=DIR (built wheels) or =index (the configured package index) puts the
    pinned toolchain wheels in the session's venv, and provisioning then prefers them. Unset, they
    are removed: venvs are reused, and which tools a run uses must not depend on an earlier run."""
    source = os.environ.get("WASM_TOOLCHAIN_WHEELS")
    listed = session.run("python", "-m", "toolchain", "toolchain-wheels", "requirements", silent=True)
    pinned = listed.split()
    if not source:
        session.run("python", "-m", "pip", "uninstall", "-q", "-y", *(r.split("==")[0] for r in pinned), silent=True)
    elif source == "index":
        session.install(*pinned)
    else:
        session.install("--no-index", "--find-links", source, *pinned)


def _toolchain(session: nox.Session, *command: str) -> None:
    """`python -m toolchain COMMAND` in the session's venv, the session's posargs passed through."""
    _install(session)
    session.run("python", "-m", "toolchain", *command, *session.posargs)


@nox.session
def doctor(session: nox.Session) -> None:
    """Show the tools found (version, provider); `-- --install` provisions what is missing."""
    _toolchain(session, "doctor")


@nox.session
def build(session: nox.Session) -> None:
    """Build the bundled DataFusion engine (or --manifest-path PATH) into artifacts/."""
    _toolchain(session, "build")


@nox.session
def wasm_test(session: nox.Session) -> None:
    """The engine's #[wasm_bindgen_test] tests in headless Chromium (wasm-bindgen-test-runner)."""
    _toolchain(session, "wasm-test")


@nox.session
def check(session: nox.Session) -> None:
    """Every check (gating, tracing, shims, size), or `-- NAME [options]` for one; non-zero on a violation."""
    _toolchain(session, "check")


@nox.session
def fuzz(session: nox.Session) -> None:
    """ipc_guard.rs natively under a seeded mutation fuzzer (`-- --seconds N --seed N`); non-zero on a panic after validation."""
    _toolchain(session, "fuzz")


def _pytest(session: nox.Session, paths: list[str], provision: bool = True) -> None:
    _install(session, "[test]")
    if provision:
        session.run("python", "-m", "toolchain", "doctor", "--install")
    session.run("pytest", *paths, *session.posargs)


@nox.session
def test(session: nox.Session) -> None:
    """All tests (the toolchain-wheel and wasm-test ones only when cached): provisions, builds, runs headless Chromium."""
    _install(session, "[test]")
    session.run("python", "-m", "toolchain", "doctor", "--install")
    session.run("pytest", *(session.posargs or ["tests"]))


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
def cache(session: nox.Session) -> None:
    """The tool cache, the stage store and the cargo target dirs: sizes (`-- show --json`), or `-- clean --all --dry-run`."""
    _toolchain(session, "cache")
