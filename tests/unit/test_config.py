"""The typed spine: one resolved configuration (validated against config.schema.json, errors that name
the key), one Layout that owns every path, one build record the stages append to."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ENGINE_MANIFEST, REPO
from toolchain.analysis import config, schema
from toolchain.core import cache
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import FINAL, WASM_BINDGEN, WASM_OPT, Layout
from toolchain.core.record import BuildRecord, CrateRecord, StageRecord

CRATE = '[package]\nname = "my-engine"\nversion = "0.2.0"\n\n[lib]\ncrate-type = ["cdylib"]\n'


def crate(tmp_path: Path, metadata: str = "") -> Path:
    manifest = tmp_path / "my-engine" / "Cargo.toml"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(CRATE + ("\n[package.metadata.wasm-qe-toolchain]\n" + metadata if metadata else ""))
    (manifest.parent / "src").mkdir(exist_ok=True)
    (manifest.parent / "src" / "lib.rs").touch()  # cargo reads a crate only with its library source
    return manifest


def test_the_engine_resolves_to_its_own_policies_and_a_valid_document(tmp_path):
    resolved = config.resolve(config.BuildOptions(manifest_path=ENGINE_MANIFEST, artifacts_dir=tmp_path))
    assert resolved.policies.gating == REPO / "ci" / "wasm-gating.toml"  # the default's rules and the engine's own
    assert resolved.policies.shims == REPO / "ci" / "wasm-shims.toml"
    assert resolved.policies.size_budget == REPO / "ci" / "size-budget.toml"
    assert resolved.policies.tracing == REPO / "ci" / "wasm-tracing.toml"
    assert resolved.wasm_opt_passes == ["-O1", "--merge-similar-functions", "--duplicate-function-elimination"]
    document = resolved.to_json()
    jsonschema.validate(document, {"$ref": "#/$defs/config", **schema.schema()})
    assert document["layout"]["package_dir"] == str(tmp_path / "datafusion-wasm")


def test_the_command_line_wins_over_the_crate_which_wins_over_the_default(tmp_path):
    budget = tmp_path / "my-engine" / "budget.toml"
    manifest = crate(
        tmp_path, 'wasm-opt = ["-O1"]\n[package.metadata.wasm-qe-toolchain.policies]\nsize-budget = "budget.toml"\n'
    )
    budget.write_text("[final]\nmax_gzip = 1\n")
    resolved = config.resolve(config.BuildOptions(manifest_path=manifest))
    assert resolved.policies.size_budget == budget and resolved.policies.shims is None
    assert resolved.wasm_opt_passes == ["-O1"]
    other = tmp_path / "other.toml"
    other.write_text("")
    overridden = config.resolve_policies(manifest, {"size-budget": other})
    assert overridden.size_budget == other
    assert config.resolve(config.BuildOptions(manifest_path=manifest, wasm_opt_level="-Oz")).wasm_opt_passes == ["-Oz"]
    # No metadata at all: the packaged gating policy, nothing else.
    plain = config.resolve(config.BuildOptions(manifest_path=crate(tmp_path / "plain")))
    assert (plain.policies.gating, plain.policies.shims, plain.policies.tracing, plain.policies.size_budget) == (
        config.PACKAGED_DEFAULTS["gating"],
        None,
        None,
        None,
    )
    assert config.PACKAGED_DEFAULTS["gating"].is_file()


@pytest.mark.parametrize(
    ("metadata", "names"),
    [
        (
            '[package.metadata.wasm-qe-toolchain.policies]\nsize_budget = "b.toml"\n',
            "policies: unknown key(s) size_budget",
        ),
        ("[package.metadata.wasm-qe-toolchain.policies]\nshims = 3\n", "policies.shims"),
        ('policies = "ci/"\n', "policies must be a table of policy files"),
        ('wasm-opt = ["-O1", "fast"]\n', "wasm-opt[1] must be wasm-opt flags"),
        ('rust-flags = ["-Cx"]\n', "unknown key(s) rust-flags"),
    ],
)
def test_a_bad_key_is_refused_by_name(tmp_path, metadata, names):
    with pytest.raises(ToolchainError) as error:
        config.resolve(config.BuildOptions(manifest_path=crate(tmp_path, metadata)))
    assert names in str(error.value), str(error.value)
    assert "[package.metadata.wasm-qe-toolchain]" in str(error.value)


def test_a_policy_file_that_does_not_exist_names_where_it_came_from(tmp_path):
    manifest = crate(tmp_path, '[package.metadata.wasm-qe-toolchain.policies]\nshims = "missing.toml"\n')
    with pytest.raises(ToolchainError, match=r"shims policy file .*missing.toml \(from .*policies\] shims\)"):
        config.resolve(config.BuildOptions(manifest_path=manifest))
    with pytest.raises(ToolchainError, match="from the command line"):
        config.resolve_policies(crate(tmp_path / "b"), {"gating": tmp_path / "nope.toml"})


def test_the_environment_is_read_once_into_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    manifest = crate(tmp_path)
    resolved = config.resolve(
        config.BuildOptions(manifest_path=manifest),
        environ={"CI": "true", "GITHUB_ACTIONS": "true", "CARGO_TARGET_DIR": str(tmp_path / "t")},
    )
    assert resolved.environment.ci and resolved.environment.github_actions
    assert resolved.target_dir == tmp_path / "t"
    shared = config.resolve(config.BuildOptions(manifest_path=manifest), environ={}).target_dir
    assert shared.parent == tmp_path / "cache" / "cargo-target" and shared.name.startswith("wasm32-")
    # Another crate with the same rustflags and std features shares it (and so its std build); one
    # with other rustflags gets its own, since cargo would rebuild every unit in place for them.
    other = crate(tmp_path / "other")
    assert config.resolve(config.BuildOptions(manifest_path=other), environ={}).target_dir == shared
    flagged = crate(tmp_path / "flagged", 'rustflags = ["-Ctarget-feature=+simd128"]\n')
    assert config.resolve(config.BuildOptions(manifest_path=flagged), environ={}).target_dir != shared
    explicit = config.resolve(config.BuildOptions(manifest_path=manifest, target_dir=tmp_path / "mine"), environ={})
    assert explicit.target_dir == tmp_path / "mine"


VARIANTS = """rustflags = ["-Cpanic=abort"]
build-std-features = ["optimize_for_size"]
wasm-opt = ["-O1"]
[package.metadata.wasm-qe-toolchain.variants.fast]
profile = "release-fast"
features = ["kernels"]
build-std-features = []
rustflags = ["-Ctarget-feature=+simd128"]
[package.metadata.wasm-qe-toolchain.variants.opt3]
wasm-opt = ["-O3"]
"""


def test_a_variant_replaces_only_the_keys_it_gives_and_builds_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    manifest = crate(tmp_path, VARIANTS)
    base = config.resolve(config.BuildOptions(manifest_path=manifest), environ={})
    fast = config.resolve(config.BuildOptions(manifest_path=manifest, variant="fast"), environ={})
    opt3 = config.resolve(config.BuildOptions(manifest_path=manifest, variant="opt3"), environ={})
    assert base.build.profile == "release" and fast.build.profile == "release-fast" and opt3.build.profile == "release"
    assert fast.crate.settings.rustflags == ("-Ctarget-feature=+simd128",)
    assert fast.crate.settings.build_std_features == ()
    assert fast.build.cargo_features == ["kernels"] and base.build.cargo_features == []
    assert fast.wasm_opt_passes == ["-O1"]  # not given by the variant: the crate's
    assert opt3.wasm_opt_passes == ["-O3"] and opt3.crate.settings.rustflags == ("-Cpanic=abort",)
    # Each variant has its own package (a user's crate: under its own target/wasm-qe/); one that changes
    # what cargo compiles has its own target directory, one that changes only wasm-opt reuses the
    # crate's compiled output.
    own = manifest.parent / "target" / "wasm-qe"
    assert fast.layout.package_dir == own / "variants" / "fast" / "my-engine"
    assert base.layout.package_dir == own / "my-engine"
    assert fast.target_dir != base.target_dir and fast.target_dir.name.startswith("wasm32-")
    assert opt3.target_dir == base.target_dir
    # The command line still wins: an explicit profile and artifacts directory.
    mine = config.resolve(
        config.BuildOptions(manifest_path=manifest, variant="fast", profile="dev", artifacts_dir=tmp_path / "a"),
        environ={},
    )
    assert mine.build.profile == "dev" and mine.layout.package_dir == tmp_path / "a" / "my-engine"
    jsonschema.validate(fast.to_json(), {"$ref": "#/$defs/config", **schema.schema()})
    assert fast.to_json()["build"]["variant"] == "fast"


def test_an_unknown_or_malformed_variant_is_refused_with_the_known_names(tmp_path):
    manifest = crate(tmp_path, VARIANTS)
    with pytest.raises(ToolchainError, match=r"no build variant 'quick' \(variants: fast, opt3\)"):
        config.resolve(config.BuildOptions(manifest_path=manifest, variant="quick"))
    bad = crate(tmp_path / "bad", "[package.metadata.wasm-qe-toolchain.variants.fast]\nopt-level = 3\n")
    with pytest.raises(ToolchainError, match=r"unknown key\(s\) opt-level"):
        config.resolve(config.BuildOptions(manifest_path=bad))
    upper = crate(tmp_path / "upper", '[package.metadata.wasm-qe-toolchain.variants.Fast]\nwasm-opt = ["-O3"]\n')
    with pytest.raises(ToolchainError, match="variant names are lower-case"):
        config.resolve(config.BuildOptions(manifest_path=upper))


def test_the_engines_variants_resolve(tmp_path):
    """Every variant the engine declares names a profile that crates/Cargo.toml defines."""
    profiles = set(tomllib.loads((REPO / "crates" / "Cargo.toml").read_text())["profile"]) | {"release", "dev"}
    settings = config.resolve(config.BuildOptions(manifest_path=ENGINE_MANIFEST)).crate.settings
    assert len(settings.variants) >= 5
    for name in settings.variants:
        resolved = config.resolve(config.BuildOptions(manifest_path=ENGINE_MANIFEST, variant=name))
        assert resolved.build.profile in profiles, (name, resolved.build.profile)


def test_the_config_command_prints_a_document_that_validates(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "toolchain", "config", "--json", "--artifacts-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), {"$ref": "#/$defs/config", **schema.schema()})
    bad = subprocess.run(
        [sys.executable, "-m", "toolchain", "config", "--manifest-path", str(crate(tmp_path, 'wasm-opt = "-O1"\n'))],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "wasm-opt must be a list of strings" in bad.stderr


def test_the_layout_owns_every_path(tmp_path):
    layout = Layout(tmp_path, "my-engine", "my_engine")
    assert layout.package_dir == tmp_path / "my-engine"
    assert layout.stage_module(WASM_OPT) == tmp_path / ".stages" / "my-engine" / "wasm-opt" / "my_engine_bg.wasm"
    assert layout.stage_glue() == tmp_path / ".stages" / "my-engine" / "wasm-bindgen" / "my_engine.js"
    assert layout.named_module == layout.stage_module(WASM_BINDGEN)  # no wasm-opt output yet
    layout.stage_module(WASM_OPT).parent.mkdir(parents=True)
    layout.stage_module(WASM_OPT).write_bytes(b"\0asm")
    assert layout.named_module == layout.stage_module(WASM_OPT)
    with pytest.raises(ValueError):
        layout.stage_dir("cargo")  # cargo's output lives in its target directory


def test_no_stages_path_formula_outside_the_layout():
    """`.stages` is spelled in core/layout.py only: everything else asks a Layout (or the build record)."""
    offenders = []
    for root in (REPO / "toolchain", REPO / "tests"):
        for path in root.rglob("*.py"):
            if path == REPO / "toolchain" / "core" / "layout.py" or path == Path(__file__):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#")[0]
                if re.search(r"""["']\.stages["']""", code):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_build_record_round_trips_and_refuses_damage(tmp_path):
    layout = Layout(tmp_path, "my-engine", "my_engine")
    module = layout.stage_module(FINAL)
    module.parent.mkdir(parents=True)
    module.write_bytes(b"\0asm\1\0\0\0")
    record = BuildRecord(
        CrateRecord("my-engine", "0.2.0", "my_engine", "my-engine/Cargo.toml"), "release", ["x"], False
    )
    record.append(StageRecord(FINAL, layout.relative(module), cache.file_sha256(module), reused=True))
    with pytest.raises(ValueError, match="twice"):
        record.append(StageRecord(FINAL, "elsewhere", "0" * 64))
    record.save(layout)
    loaded = BuildRecord.load(layout)
    assert loaded == record and loaded.module(layout, FINAL) == module and loaded.reused_stages == [FINAL]
    assert loaded.module(layout, WASM_OPT) is None
    layout.record_path.write_text(json.dumps({**record.to_json(), "stages": [{"stage": "final"}]}))
    with pytest.raises(ToolchainError, match="damaged"):
        BuildRecord.load(layout)
    layout.record_path.write_text(json.dumps({"version": 99}))
    with pytest.raises(ToolchainError, match="not a build record of version 1"):
        BuildRecord.load(layout)
    layout.record_path.unlink()
    with pytest.raises(ToolchainError, match="no build record"):
        BuildRecord.load(layout)


def test_a_users_crate_builds_into_its_own_tree_and_its_checks_find_the_last_build(tmp_path, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    manifest = crate(tmp_path)
    resolved = config.resolve(config.BuildOptions(manifest_path=manifest))
    assert resolved.layout.artifacts_dir == manifest.parent / "target" / "wasm-qe"  # never the toolchain's artifacts/
    engine = config.resolve(config.BuildOptions(manifest_path=ENGINE_MANIFEST))
    assert engine.layout.artifacts_dir == config.DEFAULT_ARTIFACTS
    # A build elsewhere is remembered once its record exists; a check (previous=True) then reads there.
    elsewhere = config.resolve(config.BuildOptions(manifest_path=manifest, artifacts_dir=tmp_path / "x"))
    config.remember_build(elsewhere)
    assert config.resolve(config.BuildOptions(manifest_path=manifest), previous=True).layout.artifacts_dir == (
        manifest.parent / "target" / "wasm-qe"
    )  # no build record there: the pointer is not trusted
    elsewhere.layout.record_path.parent.mkdir(parents=True)
    elsewhere.layout.record_path.write_text("{}")
    found = config.resolve(config.BuildOptions(manifest_path=manifest), previous=True)
    assert found.layout.artifacts_dir == (tmp_path / "x").resolve()
    # A build (previous=False) still goes to the default, and an explicit directory always wins.
    assert config.resolve(config.BuildOptions(manifest_path=manifest)).layout.artifacts_dir == (
        manifest.parent / "target" / "wasm-qe"
    )
    given = config.BuildOptions(manifest_path=manifest, artifacts_dir=tmp_path / "y")
    assert config.resolve(given, previous=True).layout.artifacts_dir == tmp_path / "y"


def test_wasm_packs_wasm_opt_setting_is_honoured_and_the_rest_named(tmp_path, capsys):
    manifest = tmp_path / "wp" / "Cargo.toml"
    manifest.parent.mkdir()
    (manifest.parent / "src").mkdir()
    (manifest.parent / "src" / "lib.rs").touch()
    manifest.write_text(
        CRATE + '\n[package.metadata.wasm-pack.profile.release]\nwasm-opt = ["-O3", "--enable-simd"]\n'
        "[package.metadata.wasm-pack.profile.release.wasm-bindgen]\ndebug-js-glue = false\n"
        "[package.metadata.wasm-pack.profile.dev]\nwasm-opt = false\n"
    )
    release = config.resolve(config.BuildOptions(manifest_path=manifest))
    assert release.wasm_opt_passes == ["-O3", "--enable-simd"] and release.build.run_wasm_opt
    assert "wasm-bindgen not applied" in capsys.readouterr().err
    assert not config.resolve(config.BuildOptions(manifest_path=manifest, profile="dev")).build.run_wasm_opt
    # The command line still wins over wasm-pack's setting.
    assert config.resolve(config.BuildOptions(manifest_path=manifest, wasm_opt_level="-Oz")).wasm_opt_passes == ["-Oz"]
    manifest.write_text(CRATE + '\n[package.metadata.wasm-pack.profile.release]\nwasm-opt = "fast"\n')
    with pytest.raises(ToolchainError, match="neither a list of wasm-opt flags nor a boolean"):
        config.resolve(config.BuildOptions(manifest_path=manifest))


def test_lock_generation_is_refused_in_ci(tmp_path):
    manifest = crate(tmp_path)
    with pytest.raises(ToolchainError, match="CI must build from the committed one"):
        config.resolve(config.BuildOptions(manifest_path=manifest, lock=True), environ={"CI": "true"})
    assert config.resolve(config.BuildOptions(manifest_path=manifest, lock=True), environ={}).build.lock


def test_option_values_starting_with_a_dash_parse_both_ways(tmp_path, monkeypatch):
    from toolchain import cli
    from toolchain.cli import common

    top = cli.parser()
    for words in (["build", "--wasm-opt-level", "-Oz"], ["build", "--wasm-opt-level=-Oz"]):
        assert top.parse_args(common.join_dash_values(top, words)).wasm_opt_level == "-Oz"
    # An option that is one of the command's own is never taken as a value.
    assert common.join_dash_values(top, ["build", "--profile", "--no-verify"]) == ["build", "--profile", "--no-verify"]
    # Relative paths are the caller's (nox runs sessions in the noxfile's directory).
    monkeypatch.setenv(common.CALLER_DIR_ENV, str(tmp_path))
    args = top.parse_args(["build", "--manifest-path", "Cargo.toml", "--artifacts-dir", "out"])
    assert args.manifest_path == tmp_path / "Cargo.toml" and args.artifacts_dir == tmp_path / "out"
    assert top.parse_args(["build", "--manifest-path", "/abs/Cargo.toml"]).manifest_path == Path("/abs/Cargo.toml")
