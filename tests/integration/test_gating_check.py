"""The gating check with real cargo (`cargo metadata`, no compilation) on tiny fixture crates that
do, or do not, pull native-only crates and features into wasm32, and on the bundled engine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolchain.analysis import cargo_graph
from toolchain.checks import gating
from toolchain.tools import patched_crates, rust

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "gating"
ENGINE = REPO / "crates" / "datafusion-wasm" / "Cargo.toml"
POLICY = gating.DEFAULT_POLICY
ENGINE_POLICY = REPO / "ci" / "wasm-gating.toml"  # the default's rules and the engine's own choices
# The fixtures must not see the rustflags of whoever runs the tests.
FLAG_VARIABLES = (
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FLAG_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


class Outcome:
    def __init__(self, process: subprocess.CompletedProcess, report: dict | None):
        self.returncode = process.returncode
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.report = report or {}

    @property
    def violations(self) -> dict[str, dict]:
        return {v["subject"]: v for v in self.report.get("violations", [])}

    def __repr__(self) -> str:
        return f"exit {self.returncode}\n{self.stdout}\n{self.stderr}"


def check(
    tmp_path: Path,
    manifest: Path,
    *options: str,
    cwd: Path = REPO,
    env: dict | None = None,
    policy: Path | None = POLICY,
) -> Outcome:
    """`python -m toolchain check gating`, as a user runs it; the report read back from --json.
    policy None: the crate's own (policies.gating), else the default."""
    output = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolchain",
            "check",
            "gating",
            "--manifest-path",
            str(manifest),
            *(["--policy", str(policy)] if policy else []),
            "--json",
            str(output),
            *options,
        ],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Outcome(process, json.loads(output.read_text()) if output.exists() else None)


def fixture(name: str) -> Path:
    return FIXTURES / name / "Cargo.toml"


# ---------------------------------------------------------------- fixtures


def test_crate_with_every_backend_on_passes(tmp_path):
    outcome = check(tmp_path, fixture("good"))
    assert outcome.returncode == 0, outcome
    assert "check gating: ok" in outcome.stdout
    backends = {f["package"]: f for f in outcome.report["data"]["backends"]}
    assert backends["getrandom 0.2.17"]["ok"] and backends["getrandom 0.2.17"]["checks"] == ["js ✓"]
    assert backends["getrandom 0.3.4"]["ok"] and backends["getrandom 0.3.4"]["rule"] == "getrandom >=0.3.4, <0.5.0"
    assert any(f["package"].startswith("uuid ") and f["ok"] for f in backends.values())
    assert any(f["package"].startswith("chrono ") and f["ok"] for f in backends.values())
    # tokio's rt-multi-thread is only a dev-dependency: not in the wasm32 graph.
    assert not any("rt-multi-thread" in s for s in outcome.stdout.splitlines() if "✗" in s)


def test_native_compression_fails_naming_crate_chain_and_feature(tmp_path):
    outcome = check(tmp_path, fixture("native-compression"))
    assert outcome.returncode == 1, outcome
    assert "check gating: FAILED" in outcome.stdout
    libz = next(v for s, v in outcome.violations.items() if s.startswith("libz-sys "))
    assert libz["chain"][0] == 'gating-native-compression 0.1.0 [feature "default" -> "fast-inflate"]'
    assert libz["chain"][1].startswith("flate2 ") and '"zlib"' in libz["chain"][1]
    assert libz["chain"][-1].startswith("libz-sys ")
    assert '\'s feature "fast-inflate" ("flate2/zlib")' in libz["problem"]
    assert "--no-default-features" in libz["fix"]
    assert any(s.startswith("flate2 ") and s.endswith('feature "zlib"') for s in outcome.violations)
    # The message a person reads names the same things.
    assert "libz-sys" in outcome.stdout and "-> flate2" in outcome.stdout and "fix:" in outcome.stdout


def test_native_compression_passes_with_the_feature_off(tmp_path):
    outcome = check(tmp_path, fixture("native-compression"), "--no-default-features")
    assert outcome.returncode == 0, outcome


def test_parquet_only_with_the_feature_that_enables_it(tmp_path):
    """parquet is the engine's choice, not a wasm32 impossibility: its policy forbids it, the default does not."""
    without = check(tmp_path, fixture("parquet"), policy=ENGINE_POLICY)
    assert without.returncode == 0, without
    assert without.report["data"]["wasm32_packages"] == 1
    by_default = check(tmp_path, fixture("parquet"), "--features", "with-parquet")
    assert by_default.report and not any(s.startswith("parquet ") for s in by_default.violations), by_default
    outcome = check(tmp_path, fixture("parquet"), "--features", "with-parquet", policy=ENGINE_POLICY)
    assert outcome.returncode == 1, outcome
    parquet = next(v for s, v in outcome.violations.items() if s.startswith("parquet "))
    assert parquet["chain"] == ['gating-parquet 0.1.0 [feature "with-parquet"]', parquet["subject"]]
    assert 'gating-parquet 0.1.0\'s feature "with-parquet" (optional dependency parquet)' in parquet["problem"]
    assert "the command line (--features with-parquet)" in parquet["problem"]
    # the way out for a crate that wants it: a policy of its own
    assert (
        "wasm-gating.toml:forbid[" in parquet["fix"]
        and "[package.metadata.wasm-qe-toolchain.policies]" in parquet["fix"]
    )


def test_getrandom_without_backend_fails_per_version(tmp_path):
    outcome = check(tmp_path, fixture("getrandom-no-backend"))
    assert outcome.returncode == 1, outcome
    assert set(outcome.violations) == {"getrandom 0.2.17", "getrandom 0.3.3"}
    old = outcome.violations["getrandom 0.2.17"]
    assert 'feature "js" is off' in old["problem"] and "rule getrandom >=0.2.0, <0.3.0" in old["problem"]
    assert 'getrandom = { version = "0.2", features = ["js"] }' in old["fix"]
    assert "[target.'cfg(target_arch = \"wasm32\")'.dependencies]" in old["fix"]
    assert old["chain"] == ["gating-getrandom-no-backend 0.1.0", "getrandom 0.2.17"]
    early = outcome.violations["getrandom 0.3.3"]
    assert 'lack --cfg getrandom_backend="wasm_js"' in early["problem"]
    assert "rule getrandom >=0.3.0, <0.3.4" in early["problem"]
    assert "0.3.4" in early["fix"]


def test_getrandom_cfg_from_rustflags_or_cargo_config(tmp_path):
    cfg = '--cfg getrandom_backend="wasm_js"'
    outcome = check(tmp_path, fixture("getrandom-no-backend"), env=clean_env(RUSTFLAGS=cfg))
    assert set(outcome.violations) == {"getrandom 0.2.17"}, outcome
    assert any(f"wasm32 rustflags: {cfg}  [from RUSTFLAGS]" in n for n in outcome.report["notes"])
    # The same cfg in .cargo/config.toml of the directory cargo runs from.
    workdir = tmp_path / "workdir"
    (workdir / ".cargo").mkdir(parents=True)
    (workdir / ".cargo" / "config.toml").write_text(
        '[target.wasm32-unknown-unknown]\nrustflags = ["--cfg", \'getrandom_backend="wasm_js"\']\n'
    )
    outcome = check(tmp_path, fixture("getrandom-no-backend"), cwd=workdir)
    assert set(outcome.violations) == {"getrandom 0.2.17"}, outcome


def test_tokio_multi_thread_and_sockets_fail(tmp_path):
    outcome = check(tmp_path, fixture("tokio-multi-thread"))
    assert outcome.returncode == 1, outcome
    tokio = sorted(s for s in outcome.violations if s.startswith("tokio "))
    assert [s.split(" feature ")[1] for s in tokio] == ['"net"', '"rt-multi-thread"']
    multi = outcome.violations[tokio[1]]
    assert "gating-tokio-multi-thread 0.1.0's dependency declaration on tokio" in multi["problem"]
    mio = next(v for s, v in outcome.violations.items() if s.startswith("mio "))
    assert mio["chain"][1].startswith("tokio ") and mio["chain"][1].endswith('[feature "net"]')
    assert 'feature "net" (optional dependency mio)' in mio["problem"]
    assert 'remove "net" from the features of the tokio dependency' in mio["fix"]


# ---------------------------------------------------------------- the feature resolution is cargo's


def cargo_tree_features(manifest: Path, options: list[str]) -> dict[str, set[str]]:
    """Per package, the features `cargo tree` (resolver 2) switches on for wasm32; proc-macro subtrees skipped."""
    toolchain = rust.find_toolchain()
    patched_crates.prepare_for(manifest)
    out = subprocess.run(
        [
            str(toolchain.cargo),
            "tree",
            "--locked",
            "--target",
            rust.WASM_TARGET,
            "-e",
            "normal",
            "--prefix",
            "depth",
            "-f",
            "{p}|{f}",
            "--manifest-path",
            str(manifest),
            *options,
        ],
        env={**clean_env(), **toolchain.env},
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    features: dict[str, set[str]] = {}
    host_depth = None
    for line in out.splitlines():
        match = re.match(r"^(\d+)(.*)$", line)
        if not match:
            continue
        depth, entry = int(match.group(1)), match.group(2)
        if host_depth is not None and depth > host_depth:
            continue
        host_depth = None
        package, _, listed = entry.partition("|")
        if "(proc-macro)" in package:
            host_depth = depth
            continue
        name, version = package.split()[:2]
        names = {f.replace(" (*)", "") for f in listed.strip().split(",") if f and f != "(*)"}
        features.setdefault(f"{name} {version.lstrip('v')}", set()).update(names)
    return features


@pytest.mark.parametrize(
    "manifest, options",
    [
        (ENGINE, []),
        (fixture("good"), []),
        (fixture("native-compression"), []),
        (fixture("native-compression"), ["--no-default-features"]),
        (fixture("parquet"), ["--features", "with-parquet"]),
        (fixture("tokio-multi-thread"), []),
    ],
    ids=["engine", "good", "native-compression", "native-compression-no-default", "parquet", "tokio"],
)
def test_resolved_packages_and_features_match_cargo_tree(manifest, options):
    toolchain = rust.find_toolchain()
    features = cargo_graph.split_features(options[1]) if options[:1] == ["--features"] else []
    no_default = "--no-default-features" in options
    metadata = cargo_graph.cargo_metadata(toolchain, manifest, features, no_default)
    graph = cargo_graph.graph_from_metadata(metadata, cargo_graph.wasm_target_cfg(toolchain))
    resolution = cargo_graph.resolve_for_wasm(graph, features, no_default)
    ours = {graph.packages[p].label: resolution.features_of(p) for p in resolution.wasm_packages()}
    assert ours == cargo_tree_features(manifest, options)


# ---------------------------------------------------------------- the engine


def test_engine_report_is_sane(tmp_path):
    started = time.monotonic()
    outcome = check(tmp_path, ENGINE, policy=None)  # the engine's own policy, from its metadata
    elapsed = time.monotonic() - started
    assert outcome.returncode in (0, 1), outcome
    assert elapsed < 30, f"the check took {elapsed:.1f}s"
    data = outcome.report["data"]
    assert data["root"] == "datafusion-wasm 0.1.0"
    assert data["policy"] == [str(ENGINE_POLICY), str(POLICY)]
    assert data["wasm32_packages"] > 100
    assert any(p.startswith("datafusion ") for p in data["packages"])
    assert any(p.startswith("arrow-ipc ") for p in data["packages"])
    # Every getrandom built into the engine has its browser backend.
    getrandom = [f for f in data["backends"] if f["package"].startswith("getrandom ") and f["applies"]]
    assert getrandom and all(f["ok"] for f in getrandom), getrandom
    assert not any(s.startswith(("getrandom ", "chrono ", "uuid ")) for s in outcome.violations)
    # zstd-sys is known to be in the graph (datafusion crates ask arrow-ipc for "zstd"): when it is
    # reported, the chain must lead from the engine through arrow-ipc.
    for subject, violation in outcome.violations.items():
        assert subject.startswith(("zstd ", "zstd-sys ")), f"unexpected violation: {subject}\n{outcome.stdout}"
        assert violation["chain"][0] == "datafusion-wasm 0.1.0"
        assert any(step.startswith("arrow-ipc ") for step in violation["chain"])
        assert "arrow-ipc" in violation["problem"] and '"zstd"' in violation["problem"]


# ---------------------------------------------------------------- the command line


def test_help_and_input_errors(tmp_path):
    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "toolchain", "check", "gating", *argv],
            cwd=REPO,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    shown = cli("--help")
    assert shown.returncode == 0 and "--policy" in shown.stdout and "--no-default-features" in shown.stdout
    missing = cli("--manifest-path", str(tmp_path / "nowhere" / "Cargo.toml"), "--policy", str(POLICY))
    assert missing.returncode == 2 and "no Cargo.toml" in missing.stderr and "what to do" in missing.stderr
    broken = tmp_path / "policy.toml"
    broken.write_text("[[forbid]]\ncrate = 'zstd-sys'\n")
    malformed = cli("--manifest-path", str(fixture("good")), "--policy", str(broken))
    assert malformed.returncode == 2 and "forbid[1]" in malformed.stderr and "what to do" in malformed.stderr
