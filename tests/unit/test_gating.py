"""The gating check on synthetic `cargo metadata` documents: feature activation, chains, who
enabled what, version-ranged requirements, rustflags, and policy errors. No cargo is run."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolchain.analysis import cargo_config, cargo_graph
from toolchain.checks import gating
from toolchain.core.errors import ToolchainError

REPO = Path(__file__).resolve().parents[2]
WASM32_CFG = [
    'panic="abort"',
    'target_arch="wasm32"',
    'target_endian="little"',
    'target_env=""',
    'target_family="wasm"',
    'target_feature="bulk-memory"',
    'target_os="unknown"',
    'target_pointer_width="32"',
    'target_vendor="unknown"',
]
NO_FLAGS = cargo_config.RustFlags((), "test: no rustflags")


# ---------------------------------------------------------------- synthetic metadata


def dep(name, *, version=None, optional=False, default=True, features=(), rename=None, target=None, kind=None):
    return {
        "name": name,
        "version": version,
        "optional": optional,
        "uses_default_features": default,
        "features": list(features),
        "rename": rename,
        "target": target,
        "kind": kind,
    }


def pkg(name, version="1.0.0", *, features=None, deps=(), proc_macro=False):
    return {"name": name, "version": version, "features": features or {}, "deps": list(deps), "proc_macro": proc_macro}


def metadata(*packages) -> dict:
    """A `cargo metadata` document: the first package is the root; every declared dependency is
    resolved (as cargo does when some feature anywhere switches an optional one on)."""

    def pid(p):
        return f"registry+https://example#{p['name']}@{p['version']}"

    def find(d):
        matches = [
            p for p in packages if p["name"] == d["name"] and (d["version"] is None or p["version"] == d["version"])
        ]
        assert len(matches) == 1, f"ambiguous or missing package for {d}"
        return matches[0]

    raw_packages, nodes = [], []
    for p in packages:
        declarations = [
            {k: v for k, v in d.items() if k != "version"} | {"req": "*", "source": None} for d in p["deps"]
        ]
        raw_packages.append(
            {
                "id": pid(p),
                "name": p["name"],
                "version": p["version"],
                "features": p["features"],
                "dependencies": declarations,
                "manifest_path": f"/src/{p['name']}/Cargo.toml",
                "targets": [
                    {"kind": ["proc-macro"] if p["proc_macro"] else ["lib"], "name": p["name"].replace("-", "_")}
                ],
            }
        )
        edges: dict[str, dict] = {}
        for d in p["deps"]:
            target = find(d)
            extern = (d["rename"] or d["name"]).replace("-", "_")
            edge = edges.setdefault(pid(target) + extern, {"name": extern, "pkg": pid(target), "dep_kinds": []})
            edge["dep_kinds"].append({"kind": d["kind"], "target": d["target"]})
        nodes.append({"id": pid(p), "deps": list(edges.values()), "features": []})
    return {"packages": raw_packages, "resolve": {"root": pid(packages[0]), "nodes": nodes}, "version": 1}


def policy(text: str) -> gating.Policy:
    import tomllib

    return gating.parse_policy(tomllib.loads(text), "test-policy.toml")


def check(meta, policy_text, features=(), no_default=False, flags=NO_FLAGS):
    context = gating.Context("app/Cargo.toml", flags, WASM32_CFG)
    return gating.analyse(meta, policy(policy_text), list(features), no_default, context)


FORBID_ZSTD = """
[[forbid]]
crate = "zstd-sys"
why = "C library"
"""


# ---------------------------------------------------------------- versions


def test_version_ranges_compare_semver_and_ignore_build_metadata():
    early = cargo_graph.VersionRange.parse(">=0.3.0, <0.3.4")
    assert early.contains("0.3.3") and early.contains("0.3.0")
    assert not early.contains("0.3.4") and not early.contains("0.2.17")
    assert cargo_graph.VersionRange.parse("=2.1.2").contains("2.1.2+zstd.1.5.7")
    assert cargo_graph.parse_version("0.3.0-rc.1") < cargo_graph.parse_version("0.3.0")
    assert cargo_graph.VersionRange.parse("*").contains("99.0.0")
    with pytest.raises(ValueError):
        cargo_graph.VersionRange.parse("~> 1.0")


# ---------------------------------------------------------------- policy


def test_repository_policy_parses_and_ranges_getrandom_by_version():
    loaded = gating.load_policy(gating.DEFAULT_POLICY)
    forbidden = {(f.crate, f.features) for f in loaded.forbidden}
    assert ("libz-sys", ()) in forbidden and ("mio", ()) in forbidden
    assert any(c == "tokio" and "rt-multi-thread" in fs for c, fs in forbidden)
    getrandom = {r.versions.text: r for r in loaded.required if r.crate == "getrandom"}
    # Before 0.3.4 the feature and the cfg are both needed; from 0.3.4 the feature alone.
    assert getrandom[">=0.3.0, <0.3.4"].cfg_required and getrandom[">=0.3.0, <0.3.4"].cfg == (
        "getrandom_backend",
        "wasm_js",
    )
    assert not getrandom[">=0.3.4, <0.5.0"].cfg_required
    assert getrandom[">=0.2.0, <0.3.0"].features == ("js",)


def test_the_default_policy_is_general_and_the_engine_adds_its_own_choices():
    """A crate that needs zstd (it builds for wasm32 with the clang the toolchain provisions) or parquet is not
    failed by the default; the engine keeps them out through its own policy, which extends the default."""
    default = {f.crate for f in gating.load_policy(gating.DEFAULT_POLICY).forbidden}
    engine_policy = gating.load_policy(REPO / "ci" / "wasm-gating.toml")
    engine = {f.crate for f in engine_policy.forbidden}
    own_choices = {"zstd", "zstd-sys", "lz4-sys", "bzip2-sys", "liblzma-sys", "ring", "psm", "stacker", "parquet"}
    assert not default & own_choices, default & own_choices
    assert engine >= default | own_choices
    assert engine_policy.extends == (str(gating.DEFAULT_POLICY),)
    # the default's browser backends apply to the engine too
    assert len(engine_policy.required) == len(gating.load_policy(gating.DEFAULT_POLICY).required) > 0


def test_extends_takes_the_parent_rules_first_and_refuses_a_circle(tmp_path):
    (tmp_path / "base.toml").write_text("[[forbid]]\ncrate = 'a'\nwhy = 'x'\n")
    (tmp_path / "mine.toml").write_text("extends = 'base.toml'\n[[forbid]]\ncrate = 'b'\nwhy = 'y'\n")
    mine = gating.load_policy(tmp_path / "mine.toml")
    assert [f.crate for f in mine.forbidden] == ["a", "b"]
    assert mine.forbidden[0].source.endswith("base.toml:forbid[1]")  # a violation names the file that has the rule
    (tmp_path / "base.toml").write_text("extends = 'mine.toml'\n")
    with pytest.raises(ToolchainError, match="goes round in a circle"):
        gating.load_policy(tmp_path / "mine.toml")
    (tmp_path / "odd.toml").write_text("extends = 3\n")
    with pytest.raises(ToolchainError, match="`extends` must be a file name"):
        gating.load_policy(tmp_path / "odd.toml")


def test_a_forbidden_crate_says_how_the_crate_can_have_a_policy_of_its_own():
    report = check(metadata(pkg("app", "0.1.0", deps=[dep("zstd-sys")]), pkg("zstd-sys", "2.0.0")), FORBID_ZSTD)
    (violation,) = report.violations
    assert "test-policy.toml:forbid[1]" in violation.fix
    assert "[package.metadata.wasm-qe-toolchain.policies]" in violation.fix and "--policy FILE" in violation.fix
    assert 'extends = "default"' in violation.fix
    assert any(note.startswith("policy: test-policy.toml") for note in report.notes)


@pytest.mark.parametrize(
    "text, what, fix",
    [
        ("[[forbid]]\ncrate = 'zstd-sys'\n", "`why` must be a non-empty string", "format"),
        ("[[forbid]]\ncrate = 'tokio'\nfeature = ['net']\nwhy = 'x'\n", "unknown key(s) feature", "allowed keys"),
        (
            "[[require]]\ncrate = 'getrandom'\nversions = '0.3 to 0.4'\nfeatures = ['js']\nwhy = 'x'\n",
            "bad `versions`",
            ">=",
        ),
        ("[[require]]\ncrate = 'getrandom'\nwhy = 'x'\n", "requires nothing", "features"),
        (
            "[[require]]\ncrate = 'getrandom'\ncfg = 'getrandom_backend=wasm_js'\nwhy = 'x'\n",
            "`cfg` must look like",
            "getrandom_backend",
        ),
        ("[[require]]\ncrate = 'uuid'\nfeatures = 'js'\nwhy = 'x'\n", "`features` must be a list", "format"),
        ("forbid = 'zstd-sys'\n", "array of tables", "format"),
        ("[[allow]]\ncrate = 'x'\n", "unknown top-level key(s) allow", "[[forbid]]"),
    ],
)
def test_malformed_policy_entries_name_the_entry_and_the_remedy(text, what, fix):
    with pytest.raises(ToolchainError) as raised:
        policy(text)
    assert what in raised.value.what and "test-policy.toml:" in raised.value.what
    assert fix in raised.value.fix


def test_policy_that_is_not_toml_or_missing_is_a_toolchain_error(tmp_path):
    broken = tmp_path / "gating.toml"
    broken.write_text("[[forbid]\ncrate = \n")
    with pytest.raises(ToolchainError) as raised:
        gating.load_policy(broken)
    assert "not valid TOML" in raised.value.what and raised.value.fix
    with pytest.raises(ToolchainError) as raised:
        gating.load_policy(tmp_path / "absent.toml")
    assert "no gating policy" in raised.value.what and "--policy" in raised.value.fix


# ---------------------------------------------------------------- chains


def test_chain_is_the_shortest_enabled_path_not_a_shorter_disabled_one():
    meta = metadata(
        pkg("app", "0.1.0", features={"extra": ["dep:shortcut"]}, deps=[dep("a"), dep("shortcut", optional=True)]),
        pkg("a", deps=[dep("b")]),
        pkg("b", deps=[dep("zstd-sys")]),
        pkg("shortcut", deps=[dep("zstd-sys")]),
        pkg("zstd-sys", "2.0.0"),
    )
    [violation] = check(meta, FORBID_ZSTD).violations
    assert violation.chain == ["app 0.1.0", "a 1.0.0", "b 1.0.0", "zstd-sys 2.0.0"]
    # With the feature on, the shorter path is the one named.
    [violation] = check(meta, FORBID_ZSTD, features=["extra"]).violations
    assert violation.chain == ['app 0.1.0 [feature "extra"]', "shortcut 1.0.0", "zstd-sys 2.0.0"]
    assert "the command line (--features extra)" in violation.problem


def test_chain_is_the_shortest_of_several_enabled_paths():
    meta = metadata(
        pkg("app", "0.1.0", deps=[dep("a-short"), dep("b-long")]),
        pkg("a-short", deps=[dep("zstd-sys")]),
        pkg("b-long", deps=[dep("c")]),
        pkg("c", deps=[dep("d")]),
        pkg("d", deps=[dep("zstd-sys")]),
        pkg("zstd-sys", "2.0.0"),
    )
    [violation] = check(meta, FORBID_ZSTD).violations
    assert violation.chain == ["app 0.1.0", "a-short 1.0.0", "zstd-sys 2.0.0"]


def test_optional_dependency_names_the_feature_and_who_turned_it_on():
    # datafusion-wasm -> arrow (default features) -> arrow-ipc's default ["zstd"] -> zstd -> zstd-sys
    meta = metadata(
        pkg("engine", "0.1.0", deps=[dep("arrow")]),
        pkg("arrow", "59.0.0", deps=[dep("arrow-ipc", version="59.0.0")]),
        pkg(
            "arrow-ipc",
            "59.0.0",
            features={"default": ["zstd"], "zstd": ["dep:zstd"]},
            deps=[dep("zstd", optional=True, default=False)],
        ),
        pkg("zstd", "0.13.0", deps=[dep("zstd-sys")]),
        pkg("zstd-sys", "2.0.0"),
    )
    [violation] = check(meta, FORBID_ZSTD).violations
    assert violation.subject == "zstd-sys 2.0.0"
    assert violation.chain == [
        "engine 0.1.0",
        "arrow 59.0.0",
        'arrow-ipc 59.0.0 [feature "default" -> "zstd"]',
        "zstd 0.13.0",
        "zstd-sys 2.0.0",
    ]
    assert 'arrow-ipc 59.0.0\'s feature "zstd" (optional dependency zstd)' in violation.problem
    assert "arrow 59.0.0's dependency on arrow-ipc with default features" in violation.problem
    assert "[patch.crates-io]" in violation.fix  # arrow asks unconditionally: nothing to turn off


def test_fix_points_at_the_checked_crates_own_declaration():
    meta = metadata(
        pkg("app", "0.1.0", deps=[dep("flate2", default=False, features=["zlib"])]),
        pkg(
            "flate2",
            features={"zlib": ["any_zlib", "libz-sys"], "any_zlib": [], "libz-sys": ["dep:libz-sys"]},
            deps=[dep("libz-sys", optional=True)],
        ),
        pkg("libz-sys", "1.1.0"),
    )
    rules = (
        FORBID_ZSTD
        + """
[[forbid]]
crate = "libz-sys"
why = "zlib C library"
[[forbid]]
crate = "flate2"
features = ["zlib"]
why = "zlib backend"
"""
    )
    report = check(meta, rules)
    by_subject = {v.subject: v for v in report.violations}
    libz = by_subject["libz-sys 1.1.0"]
    assert 'flate2 1.0.0\'s feature "libz-sys"' in libz.problem
    assert 'app 0.1.0\'s dependency declaration on flate2 (features = ["zlib"])' in libz.problem
    assert 'in app/Cargo.toml: remove "zlib" from the features of the flate2 dependency' in libz.fix
    assert libz.chain == ["app 0.1.0", 'flate2 1.0.0 [feature "zlib" -> "libz-sys"]', "libz-sys 1.1.0"]
    feature = by_subject['flate2 1.0.0 feature "zlib"']
    assert feature.chain == ["app 0.1.0", 'flate2 1.0.0 [feature "zlib"]']


def test_forbidden_feature_names_every_dependent_that_requests_it():
    meta = metadata(
        pkg("app", "0.1.0", deps=[dep("server"), dep("tokio", default=False, features=["rt"])]),
        pkg(
            "server",
            "2.0.0",
            features={"default": ["multi"], "multi": ["tokio/full"]},
            deps=[dep("tokio", default=False)],
        ),
        pkg("tokio", "1.40.0", features={"rt": [], "rt-multi-thread": ["rt"], "full": ["rt-multi-thread"]}),
    )
    rules = """
[[forbid]]
crate = "tokio"
features = ["rt-multi-thread"]
why = "threads"
"""
    [violation] = check(meta, rules).violations
    assert violation.subject == 'tokio 1.40.0 feature "rt-multi-thread"'
    assert 'server 2.0.0\'s feature "multi" ("tokio/full")' in violation.problem
    assert "server 2.0.0's dependency on server" not in violation.problem
    # ...and who turned server's feature on: app, through server's default features.
    assert "app 0.1.0's dependency on server with default features" in violation.problem
    assert "set default-features = false on the server dependency" in violation.fix


# ---------------------------------------------------------------- what is (not) in the wasm32 graph


def test_dev_build_host_and_other_target_dependencies_are_not_in_the_wasm_graph():
    rules = (
        FORBID_ZSTD
        + """
[[forbid]]
crate = "tokio"
features = ["fs"]
why = "files"
"""
    )
    meta = metadata(
        pkg(
            "app",
            "0.1.0",
            deps=[
                dep("tokio", features=["rt"]),
                dep("tokio", features=["fs"], kind="dev"),
                dep("zstd-sys", kind="build"),
                dep("derive-things"),
                # datafusion-execution's pattern: more features only off wasm32
                dep("tokio", features=["fs"], target='cfg(not(target_arch = "wasm32"))'),
            ],
        ),
        pkg("tokio", "1.40.0", features={"rt": [], "fs": []}),
        pkg("derive-things", deps=[dep("zstd-sys")], proc_macro=True),
        pkg("zstd-sys", "2.0.0"),
    )
    report = check(meta, rules)
    assert report.ok, report.format()
    assert report.data["wasm32_packages"] == 2 and report.data["host_proc_macros"] == 1
    assert any("not built into the module" in n and "zstd-sys 2.0.0" in n for n in report.notes)


def test_target_specific_dependency_for_wasm32_counts():
    meta = metadata(
        pkg(
            "app",
            "0.1.0",
            deps=[
                dep("getrandom", version="0.2.15"),
                dep(
                    "getrandom",
                    version="0.2.15",
                    features=["js"],
                    target='cfg(all(target_arch = "wasm32", not(target_os = "wasi")))',
                ),
            ],
        ),
        pkg("getrandom", "0.2.15", features={"js": []}),
    )
    rules = """
[[require]]
crate = "getrandom"
versions = ">=0.2.0, <0.3.0"
features = ["js"]
why = "no backend"
"""
    report = check(meta, rules)
    assert report.ok, report.format()
    assert any("getrandom 0.2.15 (js ✓)" in n for n in report.notes)


def test_weak_dependency_feature_does_not_enable_the_dependency():
    meta = metadata(
        pkg(
            "app",
            "0.1.0",
            features={"default": ["std"], "std": ["zstd?/std"], "compress": ["dep:zstd"]},
            deps=[dep("zstd", optional=True, default=False)],
        ),
        pkg("zstd", "0.13.0", features={"std": []}, deps=[dep("zstd-sys")]),
        pkg("zstd-sys", "2.0.0"),
    )
    assert check(meta, FORBID_ZSTD).ok
    report = check(meta, FORBID_ZSTD, features=["compress"])
    assert [v.subject for v in report.violations] == ["zstd-sys 2.0.0"]
    graph = cargo_graph.graph_from_metadata(meta, WASM32_CFG)
    resolution = cargo_graph.resolve_for_wasm(graph, ["compress"], False)
    assert resolution.features_of("registry+https://example#zstd@0.13.0") == {"std"}


def test_dependency_feature_syntax_switches_on_the_implicit_feature_like_cargo():
    # tokio's net = ["mio/os-poll"]: cargo also turns on tokio's implicit feature "mio".
    meta = metadata(
        pkg("app", "0.1.0", deps=[dep("tokio", default=False, features=["net"])]),
        pkg("tokio", "1.40.0", features={"net": ["mio/os-poll"], "mio": ["dep:mio"]}, deps=[dep("mio", optional=True)]),
        pkg("mio", "1.0.0", features={"os-poll": []}),
    )
    resolution = cargo_graph.resolve_for_wasm(cargo_graph.graph_from_metadata(meta, WASM32_CFG), [], False)
    assert resolution.features_of("registry+https://example#tokio@1.40.0") == {"net", "mio"}
    report = check(meta, '[[forbid]]\ncrate = "mio"\nwhy = "event loop"\n')
    [violation] = report.violations
    assert 'tokio 1.40.0\'s feature "net" (optional dependency mio)' in violation.problem
    assert 'feature "mio" (optional' not in violation.problem  # implied by "net": not a second gate


def test_no_default_features_and_requested_features_follow_the_build():
    meta = metadata(
        pkg(
            "app",
            "0.1.0",
            features={"default": ["fast"], "fast": ["dep:zstd"], "with-parquet": []},
            deps=[dep("zstd", optional=True)],
        ),
        pkg("zstd", "0.13.0", deps=[dep("zstd-sys")]),
        pkg("zstd-sys", "2.0.0"),
    )
    [violation] = check(meta, FORBID_ZSTD).violations
    assert "the default features of app 0.1.0" in violation.problem
    assert "build with --no-default-features" in violation.fix
    assert check(meta, FORBID_ZSTD, no_default=True).ok
    assert not check(meta, FORBID_ZSTD, features=["fast"], no_default=True).ok


# ---------------------------------------------------------------- required backends


GETRANDOM_RULES = (gating.DEFAULT_POLICY).read_text()


def getrandom_app(version: str, features=()) -> dict:
    return metadata(
        pkg("app", "0.1.0", deps=[dep("getrandom", features=features)]),
        pkg("getrandom", version, features={"std": [], "js": [], "wasm_js": []}),
    )


def test_getrandom_02_needs_js():
    [violation] = check(getrandom_app("0.2.16"), GETRANDOM_RULES).violations
    assert violation.subject == "getrandom 0.2.16"
    assert 'feature "js" is off' in violation.problem and "rule getrandom >=0.2.0, <0.3.0" in violation.problem
    assert 'getrandom = { version = "0.2", features = ["js"] }' in violation.fix
    assert (
        "app/Cargo.toml" in violation.fix and "[target.'cfg(target_arch = \"wasm32\")'.dependencies]" in violation.fix
    )
    assert check(getrandom_app("0.2.16", ["js"]), GETRANDOM_RULES).ok


def test_getrandom_before_034_needs_the_cfg_as_well():
    report = check(getrandom_app("0.3.3", ["wasm_js"]), GETRANDOM_RULES)
    [violation] = report.violations
    assert 'lack --cfg getrandom_backend="wasm_js"' in violation.problem
    assert "rule getrandom >=0.3.0, <0.3.4" in violation.problem
    flags = cargo_config.RustFlags(("--cfg", 'getrandom_backend="wasm_js"'), "RUSTFLAGS")
    report = check(getrandom_app("0.3.3", ["wasm_js"]), GETRANDOM_RULES, flags=flags)
    assert report.ok, report.format()
    assert any('getrandom 0.3.3 (wasm_js ✓, cfg getrandom_backend="wasm_js" ✓)' in n for n in report.notes)


def test_getrandom_from_034_needs_only_the_feature_unless_a_cfg_overrides_it():
    report = check(getrandom_app("0.3.4", ["wasm_js"]), GETRANDOM_RULES)
    assert report.ok, report.format()
    assert any("getrandom 0.3.4 (wasm_js ✓, no cfg needed) [rule getrandom >=0.3.4, <0.5.0]" in n for n in report.notes)
    assert not check(getrandom_app("0.3.4"), GETRANDOM_RULES).ok
    custom = cargo_config.RustFlags(('--cfg=getrandom_backend="custom"',), "RUSTFLAGS")
    [violation] = check(getrandom_app("0.3.4", ["wasm_js"]), GETRANDOM_RULES, flags=custom).violations
    assert "overrides the feature" in violation.problem


def test_a_version_no_rule_covers_is_a_violation():
    [violation] = check(getrandom_app("0.5.0", ["wasm_js"]), GETRANDOM_RULES).violations
    assert "no rule in test-policy.toml covers this version" in violation.problem
    assert "[[require]]" in violation.fix


def test_renamed_second_version_gets_its_own_features():
    meta = metadata(
        pkg(
            "app",
            "0.1.0",
            deps=[
                dep("getrandom", version="0.2.16"),
                dep("getrandom", version="0.3.4", rename="getrandom_03", features=["wasm_js"]),
            ],
        ),
        pkg("getrandom", "0.2.16", features={"js": []}),
        pkg("getrandom", "0.3.4", features={"wasm_js": []}),
    )
    [violation] = check(meta, GETRANDOM_RULES).violations
    assert violation.subject == "getrandom 0.2.16"


def test_chrono_and_uuid_rules_apply_only_with_their_clock_and_rng_features():
    def app(chrono_features, uuid_features):
        return metadata(
            pkg(
                "app",
                "0.1.0",
                deps=[
                    dep("chrono", default=False, features=chrono_features),
                    dep("uuid", default=False, features=uuid_features),
                ],
            ),
            pkg("chrono", "0.4.40", features={"now": [], "clock": ["now"], "wasmbind": []}),
            pkg("uuid", "1.18.0", features={"v4": ["rng"], "rng": [], "js": [], "rng-getrandom": ["rng"]}),
        )

    assert check(app([], []), GETRANDOM_RULES).ok
    subjects = sorted(v.subject for v in check(app(["clock"], ["v4"]), GETRANDOM_RULES).violations)
    assert subjects == ["chrono 0.4.40", "uuid 1.18.0"]
    assert check(app(["clock", "wasmbind"], ["v4", "js"]), GETRANDOM_RULES).ok
    assert check(app(["clock", "wasmbind"], ["v4", "rng-getrandom"]), GETRANDOM_RULES).ok


# ---------------------------------------------------------------- rustflags and cfg


def test_cfg_expressions():
    assert cargo_config.cfg_matches('cfg(target_arch = "wasm32")', WASM32_CFG)
    assert cargo_config.cfg_matches(
        'cfg(all(target_arch = "wasm32", any(target_os = "unknown", target_os = "none")))', WASM32_CFG
    )
    assert not cargo_config.cfg_matches('cfg(not(target_arch = "wasm32"))', WASM32_CFG)
    assert not cargo_config.cfg_matches("cfg(unix)", WASM32_CFG)
    assert cargo_config.cfg_matches('cfg(all(target_family = "wasm", not(target_feature = "atomics")))', WASM32_CFG)


def write_config(directory: Path, text: str) -> None:
    (directory / ".cargo").mkdir(parents=True, exist_ok=True)
    (directory / ".cargo" / "config.toml").write_text(text)


def test_rustflags_follow_cargos_precedence(tmp_path):
    home = tmp_path / "cargo-home"
    home.mkdir()
    project = tmp_path / "project"
    write_config(
        project,
        '[target.wasm32-unknown-unknown]\nrustflags = ["--cfg", \'getrandom_backend="wasm_js"\']\n'
        "[target.'cfg(unix)']\nrustflags = [\"-Cunix\"]\n"
        '[target.\'cfg(target_family = "wasm")\']\nrustflags = "-Cwasm-family"\n'
        '[build]\nrustflags = ["-Cbuild"]\n',
    )
    environ = {"CARGO_HOME": str(home)}
    assert cargo_config.wasm_rustflags(home, environ, WASM32_CFG).flags == ()
    flags = cargo_config.wasm_rustflags(project, environ, WASM32_CFG)
    assert flags.flags == ("--cfg", 'getrandom_backend="wasm_js"', "-Cwasm-family")
    assert flags.cfgs() == {"getrandom_backend": ["wasm_js"]}
    # RUSTFLAGS replaces every config rustflags (cargo does not merge them).
    assert cargo_config.wasm_rustflags(project, {**environ, "RUSTFLAGS": "-Cother"}, WASM32_CFG).flags == ("-Cother",)
    encoded = {**environ, "RUSTFLAGS": "-Cother", "CARGO_ENCODED_RUSTFLAGS": '--cfg\x1fx="y"'}
    assert cargo_config.wasm_rustflags(project, encoded, WASM32_CFG).cfgs() == {"x": ["y"]}
    # A subdirectory sees its parents' config; build.rustflags is the fallback.
    sub = project / "crates" / "engine"
    sub.mkdir(parents=True)
    write_config(tmp_path, "[build]\nrustflags = ['-Cparent']\n")
    write_config(project, "[build]\nrustflags = ['-Cnearest']\n")
    assert cargo_config.wasm_rustflags(sub, environ, WASM32_CFG).flags == ("-Cnearest",)


# ---------------------------------------------------------------- the report


def test_report_data_is_machine_readable():
    meta = metadata(pkg("app", "0.1.0", deps=[dep("zstd-sys")]), pkg("zstd-sys", "2.0.0"))
    report = check(meta, FORBID_ZSTD)
    assert not report.ok
    assert report.data["wasm32_packages"] == 2
    assert report.data["violations"] == [{"subject": "zstd-sys 2.0.0", "chain": ["app 0.1.0", "zstd-sys 2.0.0"]}]
    assert "move it under [target.'cfg(not(target_arch = \"wasm32\"))'.dependencies]" in report.violations[0].fix
    assert '"ok": false' in report.to_json()
