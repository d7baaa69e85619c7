"""Sessions are thin: each installs the toolchain package and calls its CLI or pytest.

    nox -s doctor [-- --install]     what is found, and provisioning
    nox -s build [-- OPTIONS]        build the engine (python -m toolchain build --help)
    nox -s test [-- PYTEST ARGS]     every test: unit, the build, the browser smoke test
    nox -s unit                      the fast unit tests only
    nox -s wasm_test                 the engine's Rust tests in headless Chromium
    nox -s check [-- NAME OPTIONS]   every check on the built engine, or one (gating, tracing, shims, size)
    nox -s release [-- OPTIONS]      build, check, then artifacts/release/<version>/ (npm, wheel, SBOM, sums)
    nox -s reproduce                 two clean builds of HEAD in two directories: identical bytes?
"""

from __future__ import annotations

import nox

nox.options.sessions = ["build"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


def _install(session: nox.Session, extras: str = "") -> None:
    session.install("-e", f".{extras}")


@nox.session
def doctor(session: nox.Session) -> None:
    """Show the tools found (version, provider); `-- --install` provisions what is missing."""
    _install(session)
    session.run("python", "-m", "toolchain", "doctor", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build the bundled DataFusion engine (or --manifest-path PATH) into artifacts/."""
    _install(session)
    session.run("python", "-m", "toolchain", "build", *session.posargs)


@nox.session
def wasm_test(session: nox.Session) -> None:
    """The engine's #[wasm_bindgen_test] tests in headless Chromium (wasm-bindgen-test-runner)."""
    _install(session)
    session.run("python", "-m", "toolchain", "wasm-test", *session.posargs)


@nox.session
def check(session: nox.Session) -> None:
    """Every check (gating, tracing, shims, size), or `-- NAME [options]` for one; non-zero on a violation."""
    _install(session)
    session.run("python", "-m", "toolchain", "check", *session.posargs)


@nox.session
def test(session: nox.Session) -> None:
    """All tests: provisions the tools, builds the engine, runs it in headless Chromium."""
    _install(session, "[test]")
    session.run("python", "-m", "toolchain", "doctor", "--install")
    session.run("pytest", *(session.posargs or ["tests"]))


@nox.session
def unit(session: nox.Session) -> None:
    """The unit tests only (seconds; no Rust build, no browser)."""
    _install(session, "[test]")
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Measurements behind choices: every wasm-opt provider on the built engine (time, sizes)."""
    _install(session)
    session.run("python", "-m", "toolchain", "bench-wasm-opt", *session.posargs)


@nox.session
def release(session: nox.Session) -> None:
    """Build, run every check, then package artifacts/release/<version>/: npm tarball, wheel, SBOM, SHA256SUMS."""
    _install(session)
    session.run("python", "-m", "toolchain", "release", *session.posargs)


@nox.session
def reproduce(session: nox.Session) -> None:
    """Two clean builds + releases of HEAD in two directories (~30 min on 2 CPUs); exit 1 unless byte-identical."""
    _install(session)
    session.run("python", "-m", "toolchain", "reproduce", *session.posargs)
