"""Release packaging on synthetic inputs: the wheel writer, checksums, atomic publishing, the
package.json checks, the SBOM, and the reproducibility comparison fed files that differ."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ENGINE_MANIFEST, REPO
from tests.unit.test_gating import WASM32_CFG, dep, metadata, pkg
from toolchain.analysis import cargo_graph, cargo_lock
from toolchain.core.errors import ToolchainError
from toolchain.release import artifacts as release
from toolchain.release import reproduce, sbom, wheel
from toolchain.tools import patched_crates

META = wheel.WheelMetadata("datafusion-wasm", "0.1.0", "an engine", "Apache-2.0")


# ---------------------------------------------------------------- versions


@pytest.mark.parametrize(
    "semver, pep440",
    [("0.1.0", "0.1.0"), ("1.2.3-rc.1", "1.2.3rc1"), ("2.0.0-alpha.3", "2.0.0a3"), ("2.0.0-beta2", "2.0.0b2")],
)
def test_cargo_versions_become_pep440(semver, pep440):
    assert wheel.pep440_version(semver) == pep440


@pytest.mark.parametrize("semver", ["1.2", "1.2.3-dev", "1.2.3+build.5", "v1.2.3"])
def test_versions_without_a_pep440_form_are_refused_with_a_fix(semver):
    with pytest.raises(ToolchainError, match="PEP 440") as error:
        wheel.pep440_version(semver)
    assert "Cargo.toml" in error.value.fix


# ---------------------------------------------------------------- the wheel


def _wheel(tmp_path: Path, contents: dict[str, bytes], epoch: int = 1_700_000_000) -> Path:
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    return wheel.write_wheel(out, META, contents, epoch)


def test_wheel_is_a_function_of_its_inputs(tmp_path):
    contents = {"pkg/__init__.py": b"x = 1\n", "pkg/dist/a.wasm": b"\0asm\1\0\0\0", "pkg/dist/b.js": b"export {}"}
    first = _wheel(tmp_path, contents)
    second = _wheel(tmp_path, dict(reversed(list(contents.items()))))  # other insertion order
    assert first.name == "datafusion_wasm-0.1.0-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    assert _wheel(tmp_path, contents, epoch=1_700_086_400).read_bytes() != first.read_bytes()  # zip: 2 s resolution


def test_wheel_entries_are_sorted_dated_and_recorded(tmp_path):
    path = _wheel(tmp_path, {"pkg/z.txt": b"z", "pkg/a.txt": b"a"}, epoch=0)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[:2] == ["pkg/a.txt", "pkg/z.txt"]
        assert names[-1] == "datafusion_wasm-0.1.0.dist-info/RECORD"
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}  # epoch 0 clamps to zip's minimum
        assert {i.external_attr >> 16 for i in archive.infolist()} == {0o100644}
        assert "Tag: py3-none-any" in archive.read("datafusion_wasm-0.1.0.dist-info/WHEEL").decode()
        assert "Name: datafusion-wasm" in archive.read("datafusion_wasm-0.1.0.dist-info/METADATA").decode()
    assert release.verify_wheel(path) == []


def test_a_tampered_wheel_fails_its_record(tmp_path):
    path = _wheel(tmp_path, {"pkg/a.txt": b"original"})
    tampered = tmp_path / "tampered.whl"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            target.writestr(info, b"changed" if info.filename == "pkg/a.txt" else source.read(info))
    assert release.verify_wheel(tampered) == ["tampered.whl: pkg/a.txt does not match its RECORD entry"]
    (tmp_path / "not-a-zip.whl").write_bytes(b"hello")
    assert "not a zip archive" in release.verify_wheel(tmp_path / "not-a-zip.whl")[0]


def test_wheel_refuses_unsafe_paths(tmp_path):
    with pytest.raises(ToolchainError, match="unsafe"):
        _wheel(tmp_path, {"../evil.py": b""})


# ---------------------------------------------------------------- checksums


def _release_files(directory: Path) -> list[str]:
    directory.mkdir(exist_ok=True)
    (directory / "a.tgz").write_bytes(b"tarball")
    (directory / "b.whl").write_bytes(b"wheel")
    (directory / release.SUMS_NAME).write_text(release.sha256sums_text(directory, ["b.whl", "a.tgz"]))
    return ["a.tgz", "b.whl"]


def test_sha256sums_verify_here_and_with_coreutils(tmp_path):
    _release_files(tmp_path)
    assert release.verify_sha256sums(tmp_path / release.SUMS_NAME) == []
    assert release.run_sha256sum_check(tmp_path).returncode == 0
    assert (tmp_path / release.SUMS_NAME).read_text().splitlines()[0].endswith(" *a.tgz")


def test_a_corrupted_or_missing_file_fails_the_sums(tmp_path):
    _release_files(tmp_path)
    (tmp_path / "a.tgz").write_bytes(b"tarbalL")
    (tmp_path / "b.whl").unlink()
    problems = release.verify_sha256sums(tmp_path / release.SUMS_NAME)
    assert problems[0].startswith("a.tgz: checksum mismatch")
    assert problems[1] == f"b.whl: listed in {release.SUMS_NAME} but missing"
    assert release.run_sha256sum_check(tmp_path).returncode != 0


def test_a_malformed_sums_file_is_reported(tmp_path):
    (tmp_path / release.SUMS_NAME).write_text("not a checksum line\n")
    assert "not a sha256sum line" in release.verify_sha256sums(tmp_path / release.SUMS_NAME)[0]
    (tmp_path / release.SUMS_NAME).write_text("")
    assert "lists no file" in release.verify_sha256sums(tmp_path / release.SUMS_NAME)[0]


# ---------------------------------------------------------------- publishing


def _staging(root: Path, content: bytes) -> Path:
    staging = root / f".1.0.0.new-{len(list(root.iterdir()))}"
    staging.mkdir()
    (staging / "engine.tgz").write_bytes(content)
    return staging


def test_publishing_is_a_rename_and_an_identical_release_is_left_alone(tmp_path):
    final = tmp_path / "1.0.0"
    assert release.publish_release(_staging(tmp_path, b"v1"), final, force=False) is True
    assert (final / "engine.tgz").read_bytes() == b"v1"
    assert release.publish_release(_staging(tmp_path, b"v1"), final, force=False) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.0.0"]  # no staging left behind


def test_a_different_release_of_the_same_version_is_refused_unless_forced(tmp_path):
    final = tmp_path / "1.0.0"
    release.publish_release(_staging(tmp_path, b"v1"), final, force=False)
    staging = _staging(tmp_path, b"v2")
    with pytest.raises(ToolchainError, match="already exists with different content") as error:
        release.publish_release(staging, final, force=False)
    assert "bump the version" in error.value.fix
    assert (final / "engine.tgz").read_bytes() == b"v1"
    assert release.publish_release(staging, final, force=True) is True
    assert (final / "engine.tgz").read_bytes() == b"v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.0.0"]


# ---------------------------------------------------------------- the built package's package.json


def _crate(tmp_path: Path, version: str = "0.1.0") -> cargo_lock.CrateManifest:
    return cargo_lock.CrateManifest(
        tmp_path / "Cargo.toml", "datafusion-wasm", version, "datafusion_wasm", "d", "Apache-2.0"
    )


def _package(tmp_path: Path, **overrides) -> Path:
    directory = tmp_path / "pkg"
    directory.mkdir(exist_ok=True)
    manifest = {
        "name": "datafusion-wasm",
        "version": "0.1.0",
        "type": "module",
        "exports": {".": "./e.js"},
        "types": "e.d.ts",
        "files": ["e.js", "e_bg.wasm"],
        "sideEffects": ["./e.js"],
        **overrides,
    }
    manifest = {k: v for k, v in manifest.items() if v is not None}
    (directory / "package.json").write_text(json.dumps(manifest))
    (directory / "e.js").write_text("export {}")
    (directory / "e_bg.wasm").write_bytes(b"\0asm")
    return directory


def test_a_complete_package_is_accepted(tmp_path):
    assert release.read_package(_package(tmp_path), _crate(tmp_path))["version"] == "0.1.0"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"sideEffects": None, "types": None}, "lacks types, sideEffects"),
        ({"type": "commonjs"}, "the glue is an ES module"),
        ({"version": "0.0.9"}, "the package is stale"),
        ({"files": ["e.js", "e_bg.wasm", "gone.d.ts"]}, "lacks files its package.json lists: gone.d.ts"),
    ],
)
def test_a_package_consumers_cannot_use_is_refused(tmp_path, overrides, message):
    with pytest.raises(ToolchainError, match=message):
        release.read_package(_package(tmp_path, **overrides), _crate(tmp_path))


def test_an_unbuilt_package_says_to_build(tmp_path):
    with pytest.raises(ToolchainError, match="not built") as error:
        release.read_package(tmp_path / "nothing", _crate(tmp_path))
    assert "nox -s build" in error.value.fix


def test_source_date_epoch_comes_from_the_environment_or_the_commit(tmp_path):
    assert release.source_date_epoch(tmp_path, {"SOURCE_DATE_EPOCH": "1234"}) == 1234
    with pytest.raises(ToolchainError, match="not a number"):
        release.source_date_epoch(tmp_path, {"SOURCE_DATE_EPOCH": "yesterday"})
    with pytest.raises(ToolchainError, match="not a git checkout"):
        release.source_date_epoch(tmp_path, {})
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
            "--date",
            "@1600000000",
        ],
        check=True,
        env={"GIT_COMMITTER_DATE": "@1600000000", "PATH": "/usr/bin:/bin"},
    )
    assert release.source_date_epoch(tmp_path, {}) == 1600000000


# ---------------------------------------------------------------- the SBOM


def _resolution(meta: dict) -> cargo_graph.Resolution:
    return cargo_graph.resolve_for_wasm(cargo_graph.graph_from_metadata(meta, WASM32_CFG), [], False)


def test_sbom_lists_the_crates_in_the_module_with_hashes_licenses_and_edges(tmp_path):
    meta = metadata(
        pkg("engine", "0.1.0", deps=[dep("arrow"), dep("serde_derive"), dep("cc", kind="build"), dep("local")]),
        pkg("arrow", "59.0.0"),
        pkg("serde_derive", "1.0.0", proc_macro=True),
        pkg("cc", "1.2.0"),
        pkg("local", "0.2.0"),
    )
    raw = {p["id"]: p for p in meta["packages"]}
    for p in raw.values():
        p["source"] = (
            None if p["name"] in ("engine", "local") else "registry+https://github.com/rust-lang/crates.io-index"
        )
        p["license"] = {"arrow": "Apache-2.0", "local": "MIT/Apache-2.0"}.get(p["name"])
    resolution = _resolution(meta)
    crates, refs = sbom.crate_components(
        resolution, raw, {("arrow", "59.0.0"): "ab" * 32}, {"local": "patches/local"}, None
    )
    by_name = {c["name"]: c for c in crates}
    assert set(by_name) == {"arrow", "local"}  # the root is the SBOM's subject; host-only crates are not shipped
    assert by_name["arrow"]["purl"] == "pkg:cargo/arrow@59.0.0"
    assert by_name["arrow"]["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    assert by_name["arrow"]["licenses"] == [{"expression": "Apache-2.0"}]
    assert by_name["local"]["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    assert "purl" not in by_name["local"] and by_name["local"]["properties"][0]["value"].startswith("path:")
    assert "patches/local" in by_name["local"]["pedigree"]["notes"]
    edges = {e["ref"]: e["dependsOn"] for e in sbom.dependency_edges(resolution, refs)}
    assert edges["pkg:cargo/engine@0.1.0"] == ["pkg:cargo/arrow@59.0.0", "pkg:cargo/local@0.2.0"]

    shipped = [sbom.Shipped("engine", "0.1.0", "pkg:npm/engine@0.1.0", "cd" * 32, "npm")]
    root = {"type": "library", "bom-ref": "pkg:cargo/engine@0.1.0", "name": "engine", "version": "0.1.0"}
    first = sbom.document(root, crates, [], shipped, None, 1_700_000_000)
    assert first == sbom.document(root, crates, [], shipped, None, 1_700_000_000)  # deterministic, serial included
    assert first["specVersion"] == "1.6" and first["serialNumber"].startswith("urn:uuid:")
    assert first["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert first["components"][0]["purl"] == "pkg:npm/engine@0.1.0"
    other = sbom.document(root, crates[:1], [], shipped, None, 1_700_000_000)
    assert other["serialNumber"] != first["serialNumber"]
    assert cyclonedx_errors(first) is None


def test_sbom_pedigree_of_a_patched_crate_carries_its_patch_and_the_crate_hash(tmp_path):
    """A crate prepared from a crates.io .crate and a patch (crates/patches/patches.toml): the SBOM names the
    ancestor with its .crate's sha256 and carries the diff itself, so the shipped code can be rebuilt from both."""
    meta = metadata(pkg("engine", "0.1.0", deps=[dep("arrow-ipc")]), pkg("arrow-ipc", "59.3.2"))
    raw = {p["id"]: p for p in meta["packages"]}
    for p in raw.values():
        p["source"] = None
        p["license"] = "Apache-2.0"
    checkout = tmp_path / "checkout"
    patch = checkout / "crates" / "patches" / "arrow-ipc-59.3.2.patch"
    patch.parent.mkdir(parents=True)
    patch.write_text("--- a/Cargo.toml\n+++ b/Cargo.toml\n@@ -1 +1 @@\n-a\n+b\n")
    prepared = patched_crates.PreparedCrate(
        "arrow-ipc", "59.3.2", patch.parent / "arrow-ipc", "ab" * 32, "cd" * 32, patch
    )
    crates, _ = sbom.crate_components(
        _resolution(meta), raw, {}, {"arrow-ipc": "crates/patches/arrow-ipc"}, checkout, {"arrow-ipc": prepared}
    )
    [component] = crates
    pedigree = component["pedigree"]
    assert pedigree["ancestors"] == [
        {
            "type": "library",
            "name": "arrow-ipc",
            "version": "59.3.2",
            "purl": "pkg:cargo/arrow-ipc@59.3.2",
            "hashes": [{"alg": "SHA-256", "content": "ab" * 32}],
        }
    ]
    assert pedigree["patches"] == [
        {
            "type": "unofficial",
            "diff": {
                "text": {"contentType": "text/x-diff", "content": patch.read_text()},
                "url": "crates/patches/arrow-ipc-59.3.2.patch",
            },
        }
    ]
    assert "cd" * 32 in pedigree["notes"] and "crates/patches/arrow-ipc" in pedigree["notes"]
    root = {"type": "library", "bom-ref": "pkg:cargo/engine@0.1.0", "name": "engine", "version": "0.1.0"}
    assert cyclonedx_errors(sbom.document(root, crates, [], [], None, 0)) is None
    # Another version than the one prepared (a stale patches.toml): no patch is claimed for it.
    other = patched_crates.PreparedCrate("arrow-ipc", "59.3.1", prepared.directory, "ab" * 32, "cd" * 32, patch)
    crates, _ = sbom.crate_components(
        _resolution(meta), raw, {}, {"arrow-ipc": "crates/patches/arrow-ipc"}, checkout, {"arrow-ipc": other}
    )
    assert "patches" not in crates[0]["pedigree"]


def cyclonedx_errors(document: dict):
    """What the official CycloneDX 1.6 JSON schema says about a document (None: valid)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))


def test_the_schema_validator_rejects_a_broken_sbom():
    root = {"type": "library", "bom-ref": "pkg:cargo/e@1.0.0", "name": "e", "version": "1.0.0"}
    broken = sbom.document(root, [{"type": "crate", "name": "x"}], [], [], None, 0)
    assert cyclonedx_errors(broken) is not None


# ---------------------------------------------------------------- reproducibility: the comparison


def test_identical_bytes_have_no_difference():
    assert reproduce.first_differing_offset(b"abc", b"abc") is None
    assert reproduce.compare_bytes("x.wasm", b"abc", b"abc") is None


@pytest.mark.parametrize(
    "a, b, offset",
    [
        (b"abcdef", b"abcxef", 3),
        (b"abc", b"abcd", 3),
        (b"xbc", b"abc", 0),
        (bytes(10_000_000) + b"1", bytes(10_000_000) + b"2", 10_000_000),
    ],
)
def test_the_first_differing_byte_is_found(a, b, offset):
    assert reproduce.first_differing_offset(a, b) == offset
    difference = reproduce.compare_bytes("m.wasm", a, b)
    assert difference.offset == offset and f"byte {offset}" in difference.format()


def _zip(members: dict[str, bytes], date=(2020, 1, 1, 0, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date), data)
    return buffer.getvalue()


def _tgz(members: dict[str, bytes], mtime: int = 0) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def test_a_differing_wheel_member_is_named_with_its_offset():
    a = _zip({"pkg/__init__.py": b"x", "pkg/dist/e.wasm": b"\0asm\1\0\0\0AAAA"})
    b = _zip({"pkg/__init__.py": b"x", "pkg/dist/e.wasm": b"\0asm\1\0\0\0AABA"})
    difference = reproduce.compare_bytes("e.whl", a, b)
    assert (difference.member, difference.member_offset) == ("pkg/dist/e.wasm", 10)
    assert "first differing member pkg/dist/e.wasm at byte 10" in difference.format()


def test_a_differing_tarball_member_is_named():
    a = _tgz({"package/package.json": b"{}", "package/e.js": b"export const a = 1"})
    b = _tgz({"package/package.json": b"{}", "package/e.js": b"export const a = 2"})
    difference = reproduce.compare_bytes("e-0.1.0.tgz", a, b)
    assert (difference.member, difference.member_offset) == ("package/e.js", 17)


def test_archives_with_equal_members_but_other_metadata_say_so():
    a = _tgz({"package/e.js": b"same"}, mtime=0)
    b = _tgz({"package/e.js": b"same"}, mtime=499162500)
    difference = reproduce.compare_bytes("e.tgz", a, b)
    assert difference.member is None and "metadata differs" in difference.detail
    c = _zip({"a": b"1", "b": b"2"})
    d = _zip({"b": b"2", "a": b"1"})
    assert "order" in reproduce.compare_bytes("e.whl", c, d).detail


def test_trees_report_missing_and_differing_files_in_order(tmp_path):
    for side, wasm in (("a", b"\0asm1"), ("b", b"\0asm2")):
        (tmp_path / side / "pkg").mkdir(parents=True)
        (tmp_path / side / "pkg" / "e.wasm").write_bytes(wasm)
        (tmp_path / side / "pkg" / "e.js").write_text("same")
    (tmp_path / "a" / "pkg" / "only-a.d.ts").write_text("x")
    differences = reproduce.compare_trees(tmp_path / "a", tmp_path / "b", ["pkg/e.js", "pkg/e.wasm", "pkg/only-a.d.ts"])
    assert [(d.file, d.offset) for d in differences] == [("pkg/e.wasm", 4), ("pkg/only-a.d.ts", None)]
    assert "missing" in differences[1].detail


def test_the_outcome_names_the_first_difference(tmp_path):
    side = reproduce.Side("a", tmp_path, tmp_path, tmp_path / "a.log", 60.0)
    outcome = reproduce.Outcome(
        "c0ffee", 1, [side], [("artifacts/x/e.wasm", "00" * 32, 10)], [reproduce.Difference("artifacts/x/e.wasm", 5)]
    )
    text = reproduce.format_outcome(outcome)
    assert not outcome.identical
    assert "NOT reproducible: artifacts/x/e.wasm: first difference at byte 5" in text
    assert not reproduce.Outcome("c0ffee", 1, [side]).identical  # nothing compared proves nothing


def test_builds_trim_every_machine_path():
    from toolchain.pipeline import build
    from toolchain.tools import rust

    toolchain = rust.RustToolchain(Path("/usr/bin/rustc"), Path("/usr/bin/cargo"), "rustc 1.96.0", "test", True)
    crate = cargo_lock.CrateManifest(Path("/src/e/Cargo.toml"), "e", "0.1.0", "e", "", None)
    argv = build.cargo_build_command(toolchain, crate, "small", [], False)
    assert argv[-3:] == ["-Ztrim-paths", "--config", 'profile.small.trim-paths="all"']


def test_release_checks_the_crate_and_artifacts_it_built(tmp_path):
    """release resolves one configuration and every check takes its typed options from it: the crate,
    features and artifacts that were built, and the crate's own policies."""
    from toolchain import checks, cli
    from toolchain.cli import common as cli_common

    args = cli.parser().parse_args(
        [
            "release",
            "--manifest-path",
            str(ENGINE_MANIFEST),
            "--artifacts-dir",
            str(tmp_path),
            "--features",
            "a,b",
            "--skip-build",
            "--force",
        ]
    )
    assert (args.skip_build, args.skip_checks, args.force) == (True, False, True)
    resolved = cli_common.resolve(args)
    assert resolved.build.cargo_features == ["a", "b"] and resolved.build.use_stage_store
    registry = checks.registry()
    gating_options = registry["gating"].options_for(resolved)
    assert (gating_options.manifest_path, gating_options.features) == (ENGINE_MANIFEST.resolve(), ("a", "b"))
    assert gating_options.policy == REPO / "ci" / "wasm-gating.toml"  # the engine's own (it extends the default)
    # The tracing check takes the engine's list of instrumentation crates, not the engine itself.
    tracing_options = registry["tracing"].options_for(resolved)
    assert tracing_options.listed_in == REPO / "ci" / "wasm-tracing.toml"
    assert ENGINE_MANIFEST.resolve() not in [m.resolve() for m, _ in tracing_options.crates]
    # The module checks read the build record under the artifacts directory: none there yet, and the error says so.
    with pytest.raises(ToolchainError, match="no build record"):
        registry["size"].options_for(resolved)


def test_builds_fix_compile_time_random_seeds_unless_the_caller_chose_one():
    from toolchain.tools import rust

    toolchain = rust.RustToolchain(
        Path("/usr/bin/rustc"), Path("/usr/bin/cargo"), "rustc 1.96.0", "test", True, {"RUSTC": "/usr/bin/rustc"}
    )
    env = rust.build_env(toolchain, {"PATH": "/bin"})
    assert env["CONST_RANDOM_SEED"] == "wasm-qe-toolchain" and env["RUSTC_BOOTSTRAP"] == "1"
    assert rust.build_env(toolchain, {"CONST_RANDOM_SEED": "mine"})["CONST_RANDOM_SEED"] == "mine"


def test_reproduce_compares_the_package_and_the_release_of_the_crate(tmp_path):
    crate = cargo_lock.CrateManifest(tmp_path / "Cargo.toml", "my-engine", "0.2.0", "my_engine", "", None)
    (tmp_path / "artifacts" / "my-engine").mkdir(parents=True)
    (tmp_path / "artifacts" / "my-engine" / "my_engine_bg.wasm").write_bytes(b"\0asm")
    (tmp_path / "artifacts" / "release" / "0.2.0").mkdir(parents=True)
    (tmp_path / "artifacts" / "release" / "0.2.0" / "SHA256SUMS").write_text("")
    (tmp_path / "artifacts" / "other").mkdir()  # another crate's package: not compared
    (tmp_path / "artifacts" / "other" / "x.js").write_text("")
    assert reproduce.outputs_to_compare(tmp_path, crate) == [
        "artifacts/my-engine/my_engine_bg.wasm",
        "artifacts/release/0.2.0/SHA256SUMS",
    ]
