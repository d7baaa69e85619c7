"""`python -m toolchain fuzz` without Rust: the summary line, the fuzzer's arguments, the exit status."""

from __future__ import annotations

import stat

import pytest

from toolchain import cli
from toolchain.pipeline import ipc_fuzz

SUMMARY = "ipc-guard fuzz: 20000 inputs, 4516 accepted, 15484 rejected, {panics} panics after validation, 0.7 s, seed 12{tail}"


def test_summary_line_is_parsed():
    out = "header\nPANIC after validation: #3 ...\n" + SUMMARY.format(panics=2, tail=", validation bypassed") + "\n"
    assert ipc_fuzz.parse_summary(out) == ipc_fuzz.Summary(20000, 4516, 15484, 2, 0.7, 12)
    assert (
        ipc_fuzz.parse_summary("ipc-guard fuzz: 16 base streams (35988 bytes in all), 20000 inputs, seed 12\n") is None
    )


def test_fuzzer_arguments(tmp_path):
    exe = tmp_path / "fuzz"
    assert ipc_fuzz.fuzz_argv(exe, 120.0, 7) == [str(exe), "--seed", "7", "--seconds", "120"]
    assert ipc_fuzz.fuzz_argv(exe, None, 7, 500, tmp_path / "s", validate=False) == [
        str(exe),
        "--seed",
        "7",
        "--count",
        "500",
        "--save",
        str(tmp_path / "s"),
        "--no-validate",
    ]


@pytest.mark.parametrize(
    "printed, status, expected",
    [
        (SUMMARY.format(panics=0, tail=""), 0, 0),
        (SUMMARY.format(panics=3, tail=""), 1, 1),
        ("killed before the summary", 134, 134),  # an abort the harness cannot catch
    ],
)
def test_exit_status_follows_the_fuzzer(tmp_path, monkeypatch, capsys, printed, status, expected):
    fake = tmp_path / "fuzz"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\necho '{printed}'\nexit {status}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(ipc_fuzz, "build", lambda *a, **k: tmp_path)
    assert cli.main(["fuzz", "--seconds", "5", "--no-save"]) == expected
    args = (tmp_path / "args").read_text().split()
    assert args[:2] == ["--seed", args[1]] and args[1].isdigit()  # a random seed, passed and printed
    assert f"seed {args[1]}" in capsys.readouterr().err


def test_harness_decodes_with_the_engines_arrow():
    """The fuzzer's decoder must be the engine's: same arrow-* (and flatbuffers, lz4_flex) versions locked."""
    import tomllib
    from pathlib import Path

    crates = Path(__file__).resolve().parents[2] / "crates"

    def locked(path: Path) -> dict[str, set[str]]:
        versions: dict[str, set[str]] = {}
        for package in tomllib.loads(path.read_text())["package"]:
            versions.setdefault(package["name"], set()).add(package["version"])
        return versions

    engine, harness = locked(crates / "Cargo.lock"), locked(crates / "ipc-guard-fuzz" / "Cargo.lock")
    decoder = [n for n in harness if n.startswith("arrow-") and n != "arrow-shim"] + ["flatbuffers", "lz4_flex"]
    assert "arrow-ipc" in decoder
    assert {n: harness[n] for n in decoder} == {n: engine.get(n) for n in decoder}
