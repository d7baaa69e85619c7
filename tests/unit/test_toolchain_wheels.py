"""Provisioning from installed toolchain wheels, and the wheel recipes, without building anything.

An "installed wheel" here is what pip leaves behind: a .dist-info directory (METADATA, RECORD)
on sys.path and the executables its RECORD lists. The executables are small scripts that
answer --version like the real tools, so the real lookup and version checks run on them.
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from toolchain.analysis import cargo_lock
from toolchain.core.errors import MissingTool, StageFailed, ToolchainError, WrongVersion
from toolchain.release import toolchain_wheels
from toolchain.tools import wasm_bindgen, wasm_opt

REPO = Path(__file__).resolve().parents[2]
WHEELS = (toolchain_wheels.WASM_BINDGEN_WHEEL, toolchain_wheels.WASM_OPT_WHEEL)
ENGINE_LOCK = REPO / "crates" / "Cargo.lock"  # the engine workspace's lock


def install_fake_wheel(site: Path, name: str, version: str, executables: dict[str, str]) -> Path:
    """A dist-info + scripts layout as pip writes it; each executable prints the given line."""
    bin_dir = site.parent / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = [f"{dist_info.name}/METADATA,,", f"{dist_info.name}/RECORD,,"]
    for exe, version_line in executables.items():
        script = bin_dir / exe
        script.write_text(f"#!/bin/sh\necho '{version_line}'\n")
        script.chmod(0o755)
        record.append(f"../bin/{exe},,")
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")
    return bin_dir


def install_cached_cli(version: str) -> None:
    """What `cargo install` into the tool cache leaves: bin/wasm-bindgen reporting `version`."""
    script = wasm_bindgen.cached_install_dir(version) / "bin" / "wasm-bindgen"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!/bin/sh\necho 'wasm-bindgen {version}'\n")
    script.chmod(0o755)


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "env" / "site-packages"
    site.mkdir(parents=True)
    # Only the wheels a test installs count: hide real toolchain wheels of this environment.
    real = [p for p in sys.path if any(any(Path(p or ".").glob(f"{n.replace('-', '_')}-*.dist-info")) for n in WHEELS)]
    monkeypatch.setattr(sys, "path", [str(site), *(p for p in sys.path if p not in real)])
    # An empty tool cache: no cargo-installed CLI to fall back on.
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    wasm_opt.supports.cache_clear()
    return site


# ---------------------------------------------------------------- wasm-bindgen


def test_wasm_bindgen_wheel_is_found_first_with_its_provider(site):
    bin_dir = install_fake_wheel(site, "wasm-bindgen-cli", "0.2.130", {"wasm-bindgen": "wasm-bindgen 0.2.130"})
    install_cached_cli("0.2.130")  # a cargo-installed CLI of the right version exists too: the wheel still wins
    found = wasm_bindgen.ensure("0.2.130", install_missing=False)
    assert found.provider == "wheel (pip)"
    assert found.executable == (bin_dir / "wasm-bindgen").resolve()
    assert found.test_runner == (bin_dir / "wasm-bindgen-test-runner").resolve()


def test_without_a_wheel_the_cargo_install_is_used(site):
    install_cached_cli("0.2.130")
    found = wasm_bindgen.ensure("0.2.130", install_missing=False)
    assert found.provider == "cargo install into the tool cache"


def test_wasm_bindgen_wheel_of_another_version_is_refused(site):
    install_fake_wheel(site, "wasm-bindgen-cli", "0.2.129", {"wasm-bindgen": "wasm-bindgen 0.2.129"})
    with pytest.raises(WrongVersion) as error:
        wasm_bindgen.ensure("0.2.130", install_missing=True)  # refused, not replaced by a cargo install
    message = str(error.value)
    assert "wheel installed in this Python environment" in message
    assert "is 0.2.129, but Cargo.lock asks for wasm-bindgen 0.2.130" in message
    assert "pip install wasm-bindgen-cli==0.2.130" in message and "pip uninstall wasm-bindgen-cli" in message


def test_wasm_bindgen_wheel_whose_executable_disagrees_is_refused(site):
    install_fake_wheel(site, "wasm-bindgen-cli", "0.2.130", {"wasm-bindgen": "wasm-bindgen 0.2.128"})
    with pytest.raises(WrongVersion, match=r"reports wasm-bindgen 0\.2\.128"):
        wasm_bindgen.ensure("0.2.130", install_missing=False)


# ---------------------------------------------------------------- wasm-opt


def test_installed_wasm_opt_wheel_is_the_default_provider(site):
    bin_dir = install_fake_wheel(
        site, "binaryen-wasm-opt", "116+wasm.opt.sys.0.116.0", {"wasm-opt": "wasm-opt version 116"}
    )
    assert wasm_opt.chosen_provider() == "wheel"
    found = wasm_opt.ensure(wasm_opt.AUTO, install_missing=False)
    assert (found.provider, found.version) == ("wheel", "116")
    assert found.argv == (str((bin_dir / "wasm-opt").resolve()),)


def test_without_the_wasm_opt_wheel_the_default_is_npm(site):
    assert wasm_opt.chosen_provider() == wasm_opt.DEFAULT_PROVIDER == "npm"
    with pytest.raises(MissingTool, match="binaryen-wasm-opt wheel is not installed"):
        wasm_opt.ensure("wheel", install_missing=True)


def test_wasm_opt_wheel_of_another_binaryen_is_refused(site):
    install_fake_wheel(site, "binaryen-wasm-opt", "117", {"wasm-opt": "wasm-opt version 117 (version_117)"})
    with pytest.raises(MissingTool, match="binaryen 117, but the toolchain pins 116"):
        wasm_opt.ensure(wasm_opt.AUTO, install_missing=False)


def test_wasm_opt_preference_only_lists_known_providers():
    assert set(wasm_opt.PREFERRED_WHEN_INSTALLED) <= set(wasm_opt.PROVIDERS)
    assert wasm_opt.DEFAULT_PROVIDER not in wasm_opt.PREFERRED_WHEN_INSTALLED


# ---------------------------------------------------------------- recipes


def test_committed_recipes_pin_their_sources():
    recipes = toolchain_wheels.all_recipes()
    assert set(recipes) == {"wasm-bindgen-cli", "binaryen-wasm-opt"}
    for recipe in recipes.values():
        assert len(recipe.sha256) == 64 and recipe.executables
    assert recipes["binaryen-wasm-opt"].version.startswith(recipes["binaryen-wasm-opt"].tool_version + "+")
    assert recipes["binaryen-wasm-opt"].backend == "scikit_build_core.build"
    assert recipes["wasm-bindgen-cli"].backend == "maturin"


def test_wasm_bindgen_recipe_is_the_engine_lock_version():
    locked = cargo_lock.single_locked_version(ENGINE_LOCK, "wasm-bindgen")
    recipe = toolchain_wheels.all_recipes()["wasm-bindgen-cli"]
    toolchain_wheels.check_wasm_bindgen_recipe(recipe, locked)  # raises on a mismatch
    assert recipe.version == recipe.tool_version == locked


def test_a_recipe_behind_cargo_lock_is_refused_with_the_fix():
    recipe = toolchain_wheels.all_recipes()["wasm-bindgen-cli"]
    with pytest.raises(ToolchainError) as error:
        toolchain_wheels.check_wasm_bindgen_recipe(recipe, "0.2.999")
    assert "pins 0.2.130, but Cargo.lock asks for wasm-bindgen 0.2.999" in str(error.value)
    assert "sha256" in error.value.fix


def test_recipe_key_follows_the_recipe_files(tmp_path):
    original = toolchain_wheels.all_recipes()["binaryen-wasm-opt"]
    copy = tmp_path / "binaryen-wasm-opt"
    copy.mkdir()
    for path in original.directory.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    same = toolchain_wheels.load_recipe(copy)
    assert toolchain_wheels.recipe_key(same) == toolchain_wheels.recipe_key(original)
    (copy / "CMakeLists.txt").write_text((copy / "CMakeLists.txt").read_text() + "\n# changed\n")
    assert toolchain_wheels.recipe_key(toolchain_wheels.load_recipe(copy)) != toolchain_wheels.recipe_key(original)


def test_recipe_without_source_pin_is_an_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    with pytest.raises(ToolchainError, match="lacks"):
        toolchain_wheels.load_recipe(tmp_path)


# ---------------------------------------------------------------- sources


def make_crate(path: Path, top: str, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return path


def test_crate_with_another_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CARGO_HOME", str(tmp_path))
    registry = tmp_path / "registry" / "cache" / "index.example"
    registry.mkdir(parents=True)
    make_crate(registry / "demo-1.0.0.crate", "demo-1.0.0", {"Cargo.toml": b"[package]\n"})
    with pytest.raises(StageFailed, match="the registry served different bytes"):
        toolchain_wheels.crate_archive("demo", "1.0.0", "0" * 64)


def test_staged_tree_is_recipe_plus_crate_subdir(tmp_path):
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    (recipe_dir / "pyproject.toml").write_text(
        '[build-system]\nbuild-backend = "scikit_build_core.build"\n[project]\nname = "demo"\nversion = "1+src.2"\n'
        '[tool.wasm-qe-toolchain.source]\ncrate = "demo-sys"\nversion = "2.0.0"\nsha256 = "x"\n'
        'subdir = "upstream"\ntool-version = "1"\nexecutables = ["demo"]\n'
    )
    (recipe_dir / "CMakeLists.txt").write_text("project(demo)\n")
    crate = make_crate(
        tmp_path / "demo-sys-2.0.0.crate",
        "demo-sys-2.0.0",
        {"build.rs": b"", "upstream/CMakeLists.txt": b"project(upstream)\n", "upstream/src/a.cpp": b""},
    )
    recipe = toolchain_wheels.load_recipe(recipe_dir)
    staged = toolchain_wheels.stage_sources(recipe, crate, tmp_path / "work" / "src")
    assert sorted(p.name for p in staged.iterdir()) == ["CMakeLists.txt", "SOURCE.json", "pyproject.toml", "upstream"]
    assert (staged / "upstream" / "src" / "a.cpp").stat().st_mtime == 1_600_000_000  # mtimes kept: incremental rebuilds
    assert '"crate": "demo-sys"' in (staged / "SOURCE.json").read_text()


# ---------------------------------------------------------------- reproducible wheel bytes


def backend_wheel(path: Path, stage_dir: Path, serial: str, timestamp: str) -> Path:
    """A wheel laid out as maturin writes one: an executable, an SBOM naming the staged crate, RECORD."""
    import base64
    import hashlib
    import json
    import zipfile

    dist_info = "tool-1.0.dist-info"
    sbom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "component": {"bom-ref": f"path+file://{stage_dir}/crate#tool@1.0", "name": "tool"},
        },
        "components": [{"name": "dep", "version": "2.0", "purl": "pkg:cargo/dep@2.0"}],
    }
    entries = {
        "tool-1.0.data/scripts/tool": b"\x7fELF binary",
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\n",
        f"{dist_info}/sboms/tool.cyclonedx.json": json.dumps(sbom, indent=2).encode(),
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in entries.items()
    )
    entries[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if "scripts" in name else 0o100644) << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_two_builds_in_different_directories_give_one_wheel(tmp_path):
    """maturin's SBOM differs by serial, time and build path: normalized, the wheels are identical."""
    import base64
    import hashlib
    import json
    import zipfile

    first_stage, second_stage = tmp_path / "cache-a" / "src", tmp_path / "elsewhere" / "b" / "src"
    first = backend_wheel(tmp_path / "a.whl", first_stage, "urn:uuid:1111", "2026-11-23T20:33:39Z")
    second = backend_wheel(tmp_path / "b.whl", second_stage, "urn:uuid:2222", "2026-11-23T23:14:39Z")
    assert first.read_bytes() != second.read_bytes()

    assert toolchain_wheels.normalize_wheel(first, first_stage) == ["tool-1.0.dist-info/sboms/tool.cyclonedx.json"]
    toolchain_wheels.normalize_wheel(second, second_stage)
    assert first.read_bytes() == second.read_bytes()

    with zipfile.ZipFile(first) as archive:
        sbom = json.loads(archive.read("tool-1.0.dist-info/sboms/tool.cyclonedx.json"))
        assert "timestamp" not in sbom["metadata"]
        assert sbom["serialNumber"].startswith("urn:uuid:") and sbom["serialNumber"] != "urn:uuid:1111"
        assert str(tmp_path) not in json.dumps(sbom)
        assert sbom["components"] == [{"name": "dep", "version": "2.0", "purl": "pkg:cargo/dep@2.0"}]
        # pip checks RECORD on install: every listed hash still matches its entry.
        for line in archive.read("tool-1.0.dist-info/RECORD").decode().splitlines():
            name, digest, size = line.rsplit(",", 2)
            if digest:
                data = archive.read(name)
                assert int(size) == len(data)
                assert (
                    digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                )
        script = archive.getinfo("tool-1.0.data/scripts/tool")
        assert script.external_attr >> 16 == 0o100755 and script.date_time == (1980, 1, 1, 0, 0, 0)


def test_the_sbom_content_still_decides_the_serial(tmp_path):
    """Another dependency set is another document: its serial number differs."""
    import json
    import zipfile

    stage = tmp_path / "src"
    first = backend_wheel(tmp_path / "a.whl", stage, "urn:uuid:1", "t")
    toolchain_wheels.normalize_wheel(first, stage)
    sbom = json.loads(zipfile.ZipFile(first).read("tool-1.0.dist-info/sboms/tool.cyclonedx.json"))
    sbom["components"][0]["version"] = "2.1"
    changed = toolchain_wheels.normalized_sbom(json.dumps(sbom).encode(), stage)
    assert json.loads(changed)["serialNumber"] != sbom["serialNumber"]


def test_a_wheel_without_sbom_is_left_alone(tmp_path):
    import zipfile

    path = tmp_path / "plain-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("plain-1.0.dist-info/RECORD", "plain-1.0.dist-info/RECORD,,\n")
    before = path.read_bytes()
    assert toolchain_wheels.normalize_wheel(path, tmp_path) == []
    assert path.read_bytes() == before


def test_backend_builds_without_dates_or_machine_paths(tmp_path, monkeypatch):
    """Both backends get a fixed SOURCE_DATE_EPOCH; compilers map the build's paths away."""
    monkeypatch.setenv("RUSTFLAGS", "-Cdebuginfo=0")
    monkeypatch.delenv("CARGO_ENCODED_RUSTFLAGS", raising=False)
    monkeypatch.delenv("CXXFLAGS", raising=False)
    recipes = toolchain_wheels.all_recipes()
    stage, work = tmp_path / "work" / "src", tmp_path / "work"

    _, rust_env = toolchain_wheels.backend_command(recipes["wasm-bindgen-cli"], stage, tmp_path / "out", work)
    assert rust_env["SOURCE_DATE_EPOCH"] == "315532800"
    flags = rust_env["CARGO_ENCODED_RUSTFLAGS"].split("\x1f")
    assert flags[0] == "-Cdebuginfo=0"  # the caller's flags are kept
    assert f"--remap-path-prefix={stage}=/wheel-build/src" in flags
    assert f"--remap-path-prefix={toolchain_wheels.cargo_home()}=/cargo-home" in flags

    _, cmake_env = toolchain_wheels.backend_command(recipes["binaryen-wasm-opt"], stage, tmp_path / "out", work)
    assert cmake_env["SOURCE_DATE_EPOCH"] == "315532800"
    assert f"-ffile-prefix-map={stage}=/wheel-build/src" in cmake_env["CXXFLAGS"].split()
    assert cmake_env["CFLAGS"] == cmake_env["CXXFLAGS"]


def test_a_cache_path_with_spaces_stays_one_rust_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("CARGO_ENCODED_RUSTFLAGS", raising=False)
    monkeypatch.delenv("RUSTFLAGS", raising=False)
    work = tmp_path / "Application Support" / "work"
    _, env = toolchain_wheels.backend_command(
        toolchain_wheels.all_recipes()["wasm-bindgen-cli"], work / "src", tmp_path / "out", work
    )
    assert f"--remap-path-prefix={work / 'src'}=/wheel-build/src" in env["CARGO_ENCODED_RUSTFLAGS"].split("\x1f")
