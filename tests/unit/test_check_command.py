"""`check [NAME]`: the crate options before or after NAME, the crate a check resolves, and the error when
the crate has no build (cargo metadata on the fixture crate; nothing is built)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain import checks, cli
from toolchain.analysis import config
from toolchain.cli import check as check_command
from toolchain.cli.common import join_dash_values
from toolchain.core.errors import ToolchainError

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "tests" / "fixtures" / "hello-engine"


def parse(*argv: str):
    top = cli.parser()
    return top.parse_args(join_dash_values(top, ["check", *argv]))


@pytest.mark.parametrize(
    "argv",
    [
        ["--manifest-path", "W", "--package", "greeter", "--artifacts-dir", "/a", "--features", "x,y"],
        ["size", "--manifest-path", "W", "-p", "greeter", "--artifacts-dir", "/a", "--features", "x,y"],
        ["--manifest-path", "W", "--package", "greeter", "size", "--artifacts-dir", "/a", "--features", "x,y"],
        ["--features", "x,y", "--artifacts-dir", "/a", "shims", "--manifest-path", "W", "--package", "greeter"],
        ["-p", "greeter", "--features", "x,y", "gating", "--manifest-path", "W", "--artifacts-dir", "/a"],
        ["--manifest-path", "W", "--package", "greeter", "tracing", "--features", "x,y", "--artifacts-dir", "/a"],
    ],
    ids=["no-name", "after", "before", "split-shims", "split-gating", "split-tracing"],
)
def test_the_crate_options_parse_before_and_after_the_check_name(argv, monkeypatch):
    monkeypatch.delenv("WASM_QE_CALLER_DIR", raising=False)
    args = parse(*argv)
    assert args.check_name == next((w for w in argv if w in checks.CHECK_MODULES), None)
    options = check_command.build_options(args)
    assert options.manifest_path == Path("W") and options.package == "greeter"
    assert options.artifacts_dir == Path("/a") and options.cargo_features == ["x", "y"]
    assert not options.no_default_features


def test_after_the_name_wins_and_nothing_given_means_the_engine_and_its_last_build(monkeypatch):
    monkeypatch.delenv("WASM_QE_CALLER_DIR", raising=False)
    args = parse("--manifest-path", "first", "size", "--manifest-path", "second", "--no-default-features")
    assert args.manifest_path == Path("second") and args.no_default_features
    bare = check_command.build_options(parse("size"))
    assert bare.manifest_path == config.DEFAULT_MANIFEST and bare.artifacts_dir is None and bare.package is None
    assert parse().check_name is None


def test_a_checks_own_relative_paths_are_read_against_the_callers_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("WASM_QE_CALLER_DIR", str(tmp_path))
    args = parse("size", "--budget", "b.toml", "--manifest-path", "crate")
    assert args.budget == tmp_path / "b.toml" and args.manifest_path == tmp_path / "crate"


def test_every_check_resolves_the_crate_with_its_last_build(monkeypatch):
    """`check NAME` and `check` both go through config.resolve(previous=True)."""
    monkeypatch.delenv("WASM_QE_CALLER_DIR", raising=False)
    seen = []

    def fake_resolve(build, policy_overrides=None, environ=None, previous=False):
        seen.append((build.manifest_path, build.package, previous))
        raise ToolchainError("stop here", "-")

    monkeypatch.setattr(config, "resolve", fake_resolve)
    for argv in (
        ["--manifest-path", "M", "-p", "P"],
        *([n, "--manifest-path", "M", "-p", "P"] for n in ("size", "shims")),
    ):
        with pytest.raises(ToolchainError, match="stop here"):
            parse(*argv).func(parse(*argv))
    assert seen == [(Path("M"), "P", True)] * 3


def test_a_crate_without_a_build_is_named_with_the_command_that_builds_it(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # paths below the working directory are shown relative to it
    monkeypatch.delenv("WASM_QE_CALLER_DIR", raising=False)
    resolved = config.resolve(config.BuildOptions(manifest_path=HELLO, artifacts_dir=tmp_path / "empty"), previous=True)
    with pytest.raises(ToolchainError) as raised:
        checks.build_record(resolved)
    assert "hello-engine" in str(raised.value) and "no build record" in str(raised.value)
    assert (
        f"python -m toolchain build --manifest-path tests/fixtures/hello-engine --artifacts-dir {tmp_path / 'empty'}"
        in raised.value.fix
    )
    # The engine needs no --manifest-path: it is the default.
    engine = config.resolve(config.BuildOptions(artifacts_dir=tmp_path / "empty"))
    assert checks.command(engine, "build") == "python -m toolchain build"
