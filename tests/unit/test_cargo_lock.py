from pathlib import Path

import pytest

from toolchain.analysis import cargo_lock
from toolchain.core.errors import ToolchainError

LOCK = """
version = 4

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "getrandom"
version = "0.2.17"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "getrandom"
version = "0.3.4"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "engine"
version = "0.1.0"
"""


def write(tmp_path: Path, text: str, name: str = "Cargo.lock") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if name.endswith("Cargo.toml") and "[package]" in text:  # cargo reads a crate only with its library source
        (path.parent / "src").mkdir(exist_ok=True)
        (path.parent / "src" / "lib.rs").touch()
    return path


def test_single_version_is_found(tmp_path):
    assert cargo_lock.single_locked_version(write(tmp_path, LOCK), "wasm-bindgen") == "0.2.130"


def test_all_versions_of_a_crate_are_listed(tmp_path):
    assert cargo_lock.locked_versions(write(tmp_path, LOCK), "getrandom") == ["0.2.17", "0.3.4"]


def test_several_versions_are_refused_with_a_remedy(tmp_path):
    with pytest.raises(ToolchainError) as error:
        cargo_lock.single_locked_version(write(tmp_path, LOCK), "getrandom")
    assert "0.2.17, 0.3.4" in str(error.value) and "cargo update -p getrandom" in str(error.value)


def test_absent_crate_is_an_error(tmp_path):
    with pytest.raises(ToolchainError, match="does not contain the crate 'js-sys'"):
        cargo_lock.single_locked_version(write(tmp_path, LOCK), "js-sys")


def test_missing_lock_says_how_to_make_one(tmp_path):
    with pytest.raises(ToolchainError, match="generate-lockfile"):
        cargo_lock.read_lock(tmp_path / "Cargo.lock")


def test_corrupt_lock_is_reported(tmp_path):
    with pytest.raises(ToolchainError, match="not valid TOML"):
        cargo_lock.read_lock(write(tmp_path, "[[package]\nname = "))


def test_lock_is_found_in_a_workspace_root(tmp_path):
    write(tmp_path, LOCK)
    member = tmp_path / "crates" / "engine"
    member.mkdir(parents=True)
    assert cargo_lock.find_lock_file(member / "Cargo.toml") == tmp_path / "Cargo.lock"


MANIFEST = """
[package]
name = "my-engine"
version = "1.2.3"
description = "d"
license = "MIT"

[lib]
crate-type = ["cdylib", "rlib"]
"""


def test_manifest_fields(tmp_path):
    crate = cargo_lock.read_manifest(write(tmp_path, MANIFEST, "Cargo.toml"))
    assert (crate.package_name, crate.version, crate.lib_name, crate.license) == (
        "my-engine",
        "1.2.3",
        "my_engine",
        "MIT",
    )


def test_manifest_without_cdylib_is_refused(tmp_path):
    path = write(tmp_path, MANIFEST.replace('"cdylib", ', ""), "Cargo.toml")
    with pytest.raises(ToolchainError, match="cdylib"):
        cargo_lock.read_manifest(path)


WORKSPACE = """
[workspace]
members = ["engine", "helper"]
resolver = "2"

[workspace.package]
version = "2.5.0"
edition = "2021"
license = "MIT OR Apache-2.0"
repository = "https://example.org/engine"

[workspace.metadata.wasm-qe-toolchain]
wasm-opt = ["-O2"]
rustflags = ["-Ctarget-feature=+simd128"]
policies = { gating = "ci/gating.toml", size-budget = "ci/budget.toml" }
"""
MEMBER = """
[package]
name = "engine"
version.workspace = true
edition.workspace = true
license.workspace = true
repository.workspace = true
description = "an engine"

[lib]
crate-type = ["cdylib", "rlib"]

[package.metadata.wasm-qe-toolchain]
wasm-opt = ["-Oz"]
policies = { size-budget = "budget.toml" }
"""


def _workspace(tmp_path: Path) -> Path:
    root = write(tmp_path, WORKSPACE, "Cargo.toml")
    write(tmp_path, MEMBER, "engine/Cargo.toml")
    write(tmp_path, '[package]\nname = "helper"\nversion = "0.1.0"\nedition = "2021"\n', "helper/Cargo.toml")
    (tmp_path / "engine" / "README.md").write_text("# engine\n")
    return root


def test_a_member_inherits_from_its_workspace_through_cargo(tmp_path):
    _workspace(tmp_path)
    crate = cargo_lock.read_manifest(tmp_path / "engine")  # a crate directory is accepted
    assert (crate.package_name, crate.version, crate.license) == ("engine", "2.5.0", "MIT OR Apache-2.0")
    assert crate.repository == "https://example.org/engine" and crate.workspace_root == tmp_path
    assert crate.readme == tmp_path / "engine" / "README.md"
    # The member's keys win, the workspace's fill in; each policy path is relative to the file naming it.
    assert crate.settings.wasm_opt == ("-Oz",) and crate.settings.rustflags == ("-Ctarget-feature=+simd128",)
    assert crate.settings.policies == {
        "size-budget": str(tmp_path / "engine" / "budget.toml"),
        "gating": str(tmp_path / "ci" / "gating.toml"),
    }


def test_a_workspace_root_lists_its_cdylib_members_and_takes_package(tmp_path):
    root = _workspace(tmp_path)
    with pytest.raises(
        ToolchainError, match=r"workspace root with no \[package\]; its cdylib members: engine"
    ) as excinfo:
        cargo_lock.read_manifest(root)
    assert "--package" in excinfo.value.fix and "helper" in str(excinfo.value)
    assert cargo_lock.read_manifest(root, "engine").manifest_path == tmp_path / "engine" / "Cargo.toml"
    with pytest.raises(ToolchainError, match=r"no package 'nope' .*members: engine \(cdylib\), helper"):
        cargo_lock.read_manifest(root, "nope")
    with pytest.raises(ToolchainError, match='does not include "cdylib"'):
        cargo_lock.read_manifest(root, "helper")


def test_a_manifest_cargo_cannot_read_is_a_clear_error(tmp_path):
    write(tmp_path, '[workspace]\nmembers = ["missing"]\n', "Cargo.toml")
    with pytest.raises(ToolchainError, match="cargo cannot read") as excinfo:
        cargo_lock.read_manifest(tmp_path / "Cargo.toml")
    assert "missing" in str(excinfo.value)


def test_a_directory_without_cargo_toml_says_so(tmp_path):
    with pytest.raises(ToolchainError, match=r"no Cargo\.toml at"):
        cargo_lock.read_manifest(tmp_path)


def test_the_bundled_engine_pins_one_wasm_bindgen():
    lock = cargo_lock.find_lock_file(Path(__file__).parents[2] / "crates" / "datafusion-wasm" / "Cargo.toml")
    assert lock.parent.name == "crates"  # the engine's workspace root
    version = cargo_lock.single_locked_version(lock, "wasm-bindgen")
    assert version.count(".") == 2


MANIFEST_HEAD = '[package]\nname = "engine"\nversion = "0.1.0"\n\n[lib]\ncrate-type = ["cdylib"]\n'


def write_manifest(tmp_path: Path, metadata: str) -> Path:
    return write(tmp_path, MANIFEST_HEAD.replace("\n\n[lib]", "\n" + metadata + "\n[lib]"), "Cargo.toml")


def test_crate_build_settings_are_read_from_package_metadata(tmp_path):
    manifest = write_manifest(
        tmp_path,
        '[package.metadata.wasm-qe-toolchain]\nbuild-std-features = ["optimize_for_size"]\n'
        'rustflags = ["-Zunstable-options", "-Cpanic=immediate-abort"]\nwasm-opt = ["-O1", "--merge-similar-functions"]\n',
    )
    settings = cargo_lock.read_manifest(manifest).settings
    assert settings == cargo_lock.BuildSettings(
        ("optimize_for_size",), ("-Zunstable-options", "-Cpanic=immediate-abort"), ("-O1", "--merge-similar-functions")
    )
    assert cargo_lock.read_manifest(write_manifest(tmp_path, "")).settings == cargo_lock.BuildSettings()


@pytest.mark.parametrize(
    "metadata, message",
    [
        ('wasm-opt = ["fast"]', "must be wasm-opt flags"),
        ('wasm-opt = ["-O1; rm -rf /"]', "must be wasm-opt flags"),
        ('rustflags = "-Copt-level=z"', "rustflags must be a list of strings"),
        ('wasm-opt-level = "-Oz"', "unknown key"),
    ],
)
def test_bad_build_settings_are_refused_with_the_fix(tmp_path, metadata, message):
    manifest = write_manifest(tmp_path, f"[package.metadata.wasm-qe-toolchain]\n{metadata}\n")
    with pytest.raises(ToolchainError, match=message) as excinfo:
        cargo_lock.read_manifest(manifest)
    assert excinfo.value.fix


def test_build_std_features_reach_cargo_only_when_std_is_built(tmp_path):
    from toolchain.pipeline import build
    from toolchain.tools import rust

    crate = cargo_lock.read_manifest(
        write_manifest(tmp_path, '[package.metadata.wasm-qe-toolchain]\nbuild-std-features = ["optimize_for_size"]\n')
    )
    from_source = rust.RustToolchain(Path("/usr/bin/rustc"), Path("/usr/bin/cargo"), "rustc 1.96.0", "test", True)
    prebuilt = rust.RustToolchain(Path("/usr/bin/rustc"), Path("/usr/bin/cargo"), "rustc 1.96.0", "test", False)
    argv = build.cargo_build_command(from_source, crate, "release", [], False)
    assert "-Zbuild-std=std,panic_abort" in argv and "-Zbuild-std-features=optimize_for_size" in argv
    assert not any(
        a.startswith("-Zbuild-std") for a in build.cargo_build_command(prebuilt, crate, "release", [], False)
    )


def test_js_files_are_read_and_must_exist_inside_the_crate(tmp_path):
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "helper.js").write_text("export const x = 1;\n")
    (tmp_path / "js" / "helper.d.ts").write_text("export const x: number;\n")
    manifest = write_manifest(
        tmp_path, '[package.metadata.wasm-qe-toolchain]\njs-files = ["js/helper.js", "js/helper.d.ts"]\n'
    )
    assert cargo_lock.read_manifest(manifest).settings.js_files == ("js/helper.js", "js/helper.d.ts")
    for entry, message in [
        ('"js/missing.js"', "does not exist"),
        ('"../outside.js"', "inside the crate"),
        ('"js/helper.py"', "must be a .js"),
    ]:
        (tmp_path.parent / "outside.js").write_text("")
        manifest = write_manifest(tmp_path, f"[package.metadata.wasm-qe-toolchain]\njs-files = [{entry}]\n")
        with pytest.raises(ToolchainError, match=message):
            cargo_lock.read_manifest(manifest)


def test_a_manifest_that_is_not_toml_is_a_clear_error(tmp_path):
    manifest = tmp_path / "Cargo.toml"
    manifest.write_text('[package]\nname = "x\n')
    with pytest.raises(ToolchainError, match="is not valid TOML"):
        cargo_lock.read_manifest(manifest)
