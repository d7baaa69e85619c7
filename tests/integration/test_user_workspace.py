"""A user's cargo workspace, built by the real toolchain: tests/fixtures/user-workspace (version,
license, links and wasm-bindgen inherited from [workspace.package] and [workspace.dependencies];
two cdylib members). greeter imports JS through `inline_js` and `module = "/js/format.js"`, so its
package must carry wasm-bindgen's snippets/: it is loaded in Chromium and Firefox from the built
package directory and from the npm tarball the release makes of it, through the pytest plugin as
the crate's own tests use it (greeter/tests/, run here by pytester)."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO
from toolchain.core import cache
from toolchain.release import artifacts as release

pytestmark = [pytest.mark.integration, pytest.mark.browser]
pytest_plugins = ["pytester"]

WORKSPACE = REPO / "tests" / "fixtures" / "user-workspace"
MEMBERS = ("greeter", "counter")
TOOL_CACHE = cache.cache_root()  # now: pytester's own HOME would move it
WORKSPACE_PACKAGE = tomllib.loads((WORKSPACE / "Cargo.toml").read_text())["workspace"]["package"]


def toolchain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolchain", *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """Both members, built by one `build --workspace` as a user runs it."""
    directory = tmp_path_factory.mktemp("user-workspace")
    built = toolchain("build", "--manifest-path", str(WORKSPACE), "--workspace", "--artifacts-dir", str(directory))
    assert built.returncode == 0, f"building the workspace failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    return directory


def manifest_of(package: Path) -> dict:
    return json.loads((package / "package.json").read_text())


def test_each_member_is_a_package_with_what_it_inherits(artifacts):
    for member in MEMBERS:
        manifest = manifest_of(artifacts / member)
        assert manifest["name"] == member and manifest["version"] == WORKSPACE_PACKAGE["version"] == "1.4.2"
        assert manifest["license"] == WORKSPACE_PACKAGE["license"]
        assert manifest["repository"] == {"type": "git", "url": WORKSPACE_PACKAGE["repository"]}
    assert manifest_of(artifacts / "greeter")["homepage"] == WORKSPACE_PACKAGE["homepage"]
    assert "homepage" not in manifest_of(artifacts / "counter")  # counter does not inherit it


def test_greeter_ships_every_snippet_its_glue_imports(artifacts):
    package = artifacts / "greeter"
    glue = (package / "greeter.js").read_text()
    imported = sorted(set(re.findall(r"""from ['"]\./(snippets/[^'"]+)['"]""", glue)))
    assert len(imported) == 2, glue[:2000]  # inline0.js and js/format.js
    files = manifest_of(package)["files"]
    for name in imported:
        assert (package / name).is_file() and name in files, name
    module = next(name for name in imported if name.endswith("/js/format.js"))
    assert (package / module).read_text() == (WORKSPACE / "greeter" / "js" / "format.js").read_text()
    inline = next(name for name in imported if name.endswith("/inline0.js"))
    assert "toUpperCase" in (package / inline).read_text()
    assert not (artifacts / "counter" / "snippets").exists()  # no JS imports, no snippets


def test_readme_and_license_files_are_shipped(artifacts):
    greeter, counter = artifacts / "greeter", artifacts / "counter"
    assert (greeter / "README.md").read_text() == (WORKSPACE / "greeter" / "README.md").read_text()
    assert (greeter / "LICENSE").read_text() == (WORKSPACE / "greeter" / "LICENSE").read_text()
    assert (counter / "LICENSE").read_text() == (WORKSPACE / "LICENSE").read_text()  # the workspace root's
    assert not (counter / "README.md").exists()
    assert {"README.md", "LICENSE"} <= set(manifest_of(greeter)["files"])
    assert "LICENSE" in manifest_of(counter)["files"]


def test_the_packages_are_readable_by_others(artifacts):
    for member in MEMBERS:
        package = artifacts / member
        for path in [package, *package.rglob("*")]:
            expected = 0o755 if path.is_dir() else 0o644
            assert stat.S_IMODE(path.stat().st_mode) == expected, path
        for name in manifest_of(package)["files"]:
            assert (package / name).is_file(), name


@pytest.mark.parametrize("member", MEMBERS)
def test_every_check_passes_with_the_members_own_budget(artifacts, member):
    checked = toolchain(
        "check", "--manifest-path", str(WORKSPACE), "--package", member, "--artifacts-dir", str(artifacts)
    )
    assert checked.returncode == 0, f"{checked.stdout[-3000:]}\n{checked.stderr[-3000:]}"
    summary = (artifacts / "reports" / member / "size-summary.md").read_text()
    assert f"{member}/size-budget.toml" in summary, summary


def test_a_member_whose_exports_are_behind_a_feature_not_passed_is_refused(tmp_path):
    built = toolchain(
        "build",
        "--manifest-path",
        str(WORKSPACE),
        "--package",
        "counter",
        "--no-default-features",
        "--artifacts-dir",
        str(tmp_path),
    )
    output = built.stdout + built.stderr
    assert built.returncode == 5, output[-3000:]
    assert "counter: the module wasm-bindgen made" in output and "exports no function of the crate" in output
    assert "behind a cargo feature" in output and "default (enables bindings)" in output, output[-3000:]
    assert not (tmp_path / "counter").exists()  # nothing published


# ---------------------------------------------------------------- in the browsers, through the plugin


def packed(package: Path, directory: Path) -> Path:
    """The npm tarball the release makes of the package (its stage and `npm pack`), extracted."""
    tarball = release.npm_pack(
        release.stage_npm_package(package, manifest_of(package), directory / "staged"), directory
    )
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        archive.extractall(directory / "extracted", filter="data")
    assert {"package/README.md", "package/LICENSE", "package/greeter.js"} <= set(names)
    assert [n for n in names if n.startswith("package/snippets/") and n.endswith("/js/format.js")], names
    return directory / "extracted" / "package"


def run_crate_tests(pytester, member: str, package: Path, browsers: str = "all"):
    tests = WORKSPACE / member / "tests"
    for path in tests.glob("*.py"):
        shutil.copy(path, pytester.path / path.name)
    # Both browsers chosen explicitly: a missing one fails the run instead of being skipped.
    return pytester.runpytest_subprocess(
        "--wasm-package", str(package), "--browser", browsers, "-p", "no:cacheprovider"
    )


def crate_tests(member: str) -> int:
    return sum(path.read_text().count("\ndef test_") for path in (WORKSPACE / member / "tests").glob("test_*.py"))


@pytest.mark.parametrize("source", ["directory", "tarball"])
def test_greeter_loads_and_calls_its_js_in_chromium_and_firefox(pytester, artifacts, tmp_path, monkeypatch, source):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(TOOL_CACHE))
    package = artifacts / "greeter" if source == "directory" else packed(artifacts / "greeter", tmp_path)
    result = run_crate_tests(pytester, "greeter", package)
    result.assert_outcomes(passed=2 * crate_tests("greeter"))


def test_counter_loads_in_chromium_and_firefox(pytester, artifacts, monkeypatch):
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(TOOL_CACHE))
    result = run_crate_tests(pytester, "counter", artifacts / "counter")
    result.assert_outcomes(passed=2 * crate_tests("counter"))


def test_greeter_without_its_snippets_does_not_load(pytester, artifacts, tmp_path, monkeypatch):
    """What a package without snippets/ did before: the glue's import fails, every test errors."""
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(TOOL_CACHE))
    broken = shutil.copytree(artifacts / "greeter", tmp_path / "greeter")
    shutil.rmtree(broken / "snippets")
    result = run_crate_tests(pytester, "greeter", broken, browsers="chromium")
    result.assert_outcomes(errors=crate_tests("greeter"))
    result.stdout.fnmatch_lines(["*the package did not load in chromium*"])
