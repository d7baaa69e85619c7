"""A wasm-bindgen CLI of any locked version from a wheel (WASM_TOOLCHAIN_WHEELS=DIR or =index)
instead of a 5-10 minute `cargo install`; the line printed before such an install; the cached
versions `doctor` lists.

The wheels are small fakes laid out as maturin writes the real one (NAME-VERSION.data/scripts/ and
a .dist-info/METADATA); their executables are scripts that answer --version like the real CLI.
"""

from __future__ import annotations

import os
import platform
import sys
import zipfile
from pathlib import Path

import pytest

from toolchain.core import installed_wheels
from toolchain.core.errors import StageFailed, WrongVersion
from toolchain.pipeline import doctor
from toolchain.tools import wasm_bindgen

PLATFORM_TAG = f"{sys.platform}_{platform.machine()}"

FAKE_CARGO = r"""#!/bin/sh
# Stands in for `cargo install wasm-bindgen-cli --version =V --root DIR ...`, and logs the call.
echo "$*" >> "$FAKE_TOOL_CALLS"
version=; root=
while [ $# -gt 0 ]; do
  case "$1" in --version) version=${2#=}; shift ;; --root) root=$2; shift ;; esac
  shift
done
mkdir -p "$root/bin"
printf '#!/bin/sh\necho "wasm-bindgen %s"\n' "$version" > "$root/bin/wasm-bindgen"
chmod +x "$root/bin/wasm-bindgen"
"""


def make_wheel(
    directory: Path,
    version: str,
    *,
    metadata_version: str | None = None,
    reports: str | None = None,
    tag: str = PLATFORM_TAG,
) -> Path:
    """A wasm-bindgen-cli wheel of `version` (its METADATA may claim another, its executable may
    report another: what the lookup must refuse)."""
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"wasm_bindgen_cli-{version}-py3-none-{tag}.whl"
    base = f"wasm_bindgen_cli-{version}"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            f"{base}.dist-info/METADATA",
            f"Metadata-Version: 2.4\nName: wasm-bindgen-cli\nVersion: {metadata_version or version}\n",
        )
        for exe in ("wasm-bindgen", "wasm-bindgen-test-runner", "wasm2es6js"):
            label = "wasm-bindgen" if exe == "wasm-bindgen" else exe
            archive.writestr(f"{base}.data/scripts/{exe}", f"#!/bin/sh\necho '{label} {reports or version}'\n")
        archive.writestr(
            f"{base}.dist-info/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-{tag}\n",
        )
        archive.writestr(f"{base}.dist-info/RECORD", "")
    return wheel


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty tool cache, a fake cargo that logs its calls, no wheel in this Python environment,
    no wheel source; returns the cargo call log."""
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WASM_TOOLCHAIN_WHEELS", raising=False)
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "cargo").write_text(FAKE_CARGO)
    (bin_dir / "cargo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    calls = tmp_path / "cargo-calls.log"
    calls.write_text("")
    monkeypatch.setenv("FAKE_TOOL_CALLS", str(calls))
    monkeypatch.setattr(installed_wheels, "installed_executable", lambda distribution, executable: None)
    return lambda: calls.read_text().splitlines()


def test_a_wheel_of_the_locked_version_in_the_directory_replaces_cargo_install(env, tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "0.2.120")
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(wheels))
    found = wasm_bindgen.ensure("0.2.120")
    assert env() == []  # no cargo install
    assert found.provider == wasm_bindgen.WHEEL_CACHE_PROVIDER and found.version == "0.2.120"
    assert found.executable == wasm_bindgen.cached_install_dir("0.2.120") / "bin" / "wasm-bindgen"
    assert found.test_runner.is_file() and os.access(found.test_runner, os.X_OK)
    # Cached now, with an install record like a cargo install: found without the directory.
    monkeypatch.delenv("WASM_TOOLCHAIN_WHEELS")
    again = wasm_bindgen.ensure("0.2.120", install_missing=False)
    assert again.provider == wasm_bindgen.WHEEL_CACHE_PROVIDER and wasm_bindgen.damaged_install("0.2.120") is None


def test_platform_tags_of_this_machine_fit():
    machine = platform.machine()
    for tag in (f"linux_{machine}", f"manylinux_2_17_{machine}.manylinux2014_{machine}", "any"):
        name = f"wasm_bindgen_cli-0.2.120-py3-none-{tag}.whl"
        assert wasm_bindgen.wheel_version(Path(name)) == ("wasm_bindgen_cli", "0.2.120"), tag
    for tag in ("linux_s390x_not_this", "win_amd64", "macosx_11_0_arm64"):
        assert wasm_bindgen.wheel_version(Path(f"wasm_bindgen_cli-0.2.120-py3-none-{tag}.whl")) is None, tag
    assert wasm_bindgen.wheel_version(Path("wasm_bindgen_cli-0.2.120.tar.gz")) is None


def test_wheels_of_other_versions_are_never_used(env, tmp_path, monkeypatch, capsys):
    wheels = tmp_path / "wheels"
    for other in ("0.2.12", "0.2.1200", "0.2.121"):
        make_wheel(wheels, other)
    make_wheel(wheels, "0.2.120", tag="linux_notthismachine")  # right version, another platform
    assert wasm_bindgen.wheels_in_dir(wheels, "0.2.120") == []
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(wheels))
    found = wasm_bindgen.ensure("0.2.120")
    assert found.provider == wasm_bindgen.CACHE_PROVIDER and len(env()) == 1  # cargo install
    out = capsys.readouterr()
    notice = out.out + out.err
    assert f"no wasm-bindgen-cli 0.2.120 wheel in {wheels.resolve()}" in notice
    assert "cargo install wasm-bindgen-cli 0.2.120 now (about 5-10 min on 2 cores)" in notice
    assert "nox -s toolchain_wheels -- --wasm-bindgen 0.2.120" in notice


def test_the_cargo_install_notice_without_a_wheel_source(env, capsys):
    wasm_bindgen.ensure("0.2.120")
    out = capsys.readouterr()
    notice = out.out + out.err
    assert "no cached wasm-bindgen CLI 0.2.120 in" in notice and "WASM_TOOLCHAIN_WHEELS is unset" in notice
    assert "5-10 min" in notice and len(env()) == 1
    # The second time it is cached: no notice, no install.
    wasm_bindgen.ensure("0.2.120")
    assert "cargo install" not in capsys.readouterr().err and len(env()) == 1


def test_a_wheel_whose_metadata_names_another_version_is_refused(env, tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "0.2.120", metadata_version="0.2.121")
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(wheels))
    with pytest.raises(WrongVersion, match=r"is wasm-bindgen-cli 0\.2\.121, not wasm-bindgen-cli 0\.2\.120"):
        wasm_bindgen.ensure("0.2.120")
    assert not wasm_bindgen.cached_install_dir("0.2.120").exists() and env() == []


def test_a_wheel_whose_cli_reports_another_version_is_refused(env, tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "0.2.120", reports="0.2.119")
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(wheels))
    with pytest.raises(WrongVersion, match="does not report that version") as error:
        wasm_bindgen.ensure("0.2.120")
    assert "--wasm-bindgen 0.2.120" in (error.value.fix or "") and env() == []


def test_a_wheel_without_the_executable_is_refused(env, tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheel = wheels / f"wasm_bindgen_cli-0.2.120-py3-none-{PLATFORM_TAG}.whl"
    wheels.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("wasm_bindgen_cli-0.2.120.dist-info/METADATA", "Name: wasm-bindgen-cli\nVersion: 0.2.120\n")
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(wheels))
    with pytest.raises(StageFailed, match="holds no wasm-bindgen executable"):
        wasm_bindgen.ensure("0.2.120")


def test_a_missing_wheel_directory_falls_back_with_a_warning(env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(tmp_path / "nowhere"))
    assert wasm_bindgen.ensure("0.2.120").provider == wasm_bindgen.CACHE_PROVIDER
    assert "no such directory" in capsys.readouterr().err and len(env()) == 1


def test_index_downloads_the_exact_version_with_pip(env, tmp_path, monkeypatch):
    """=index runs the real `pip download`; the "index" here is a local find-links directory."""
    served = tmp_path / "served"
    make_wheel(served, "0.2.121")
    make_wheel(served, "0.2.120")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(served))
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", "index")
    found = wasm_bindgen.ensure("0.2.120")
    assert found.provider == wasm_bindgen.WHEEL_CACHE_PROVIDER and env() == []
    provenance = (wasm_bindgen.cached_install_dir("0.2.120") / wasm_bindgen.WHEEL_PROVENANCE).read_text()
    assert f"wasm_bindgen_cli-0.2.120-py3-none-{PLATFORM_TAG}.whl" in provenance and "configured index" in provenance
    # A version the index does not serve: cargo install, as without a source.
    assert wasm_bindgen.ensure("0.2.122").provider == wasm_bindgen.CACHE_PROVIDER and len(env()) == 1


def _installed_pinned_wheel(monkeypatch, tmp_path, version: str) -> None:
    """The pinned wheel (as the noxfile installs it with WASM_TOOLCHAIN_WHEELS) in this environment."""
    exe = tmp_path / "venv-bin" / "wasm-bindgen"
    exe.parent.mkdir()
    exe.write_text(f"#!/bin/sh\necho 'wasm-bindgen {version}'\n")
    exe.chmod(0o755)
    wheel = installed_wheels.InstalledWheel("wasm-bindgen-cli", version, exe)
    monkeypatch.setattr(
        installed_wheels, "installed_executable", lambda d, e: wheel if d == "wasm-bindgen-cli" else None
    )


def test_a_crate_locked_to_another_version_than_the_installed_wheel_gets_its_own(env, tmp_path, monkeypatch):
    _installed_pinned_wheel(monkeypatch, tmp_path, "0.2.130")
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "0.2.120")
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(wheels))
    assert wasm_bindgen.ensure("0.2.130").provider == wasm_bindgen.WHEEL_PROVIDER
    other = wasm_bindgen.ensure("0.2.120")
    assert other.provider == wasm_bindgen.WHEEL_CACHE_PROVIDER and env() == []
    # Cached now: found even without installing.
    assert wasm_bindgen.ensure("0.2.120", install_missing=False).version == "0.2.120"


def test_an_installed_wheel_of_another_version_is_still_refused_over_a_cargo_install(env, tmp_path, monkeypatch):
    _installed_pinned_wheel(monkeypatch, tmp_path, "0.2.130")
    with pytest.raises(WrongVersion) as error:
        wasm_bindgen.ensure("0.2.120")
    assert "is 0.2.130, but Cargo.lock asks for wasm-bindgen 0.2.120" in str(error.value)
    assert "--wasm-bindgen 0.2.120" in (error.value.fix or "") and env() == []
    with pytest.raises(WrongVersion):
        wasm_bindgen.ensure("0.2.120", install_missing=False)


def test_cached_versions_list_each_with_its_provider(env, tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "0.2.120")
    monkeypatch.setenv("WASM_TOOLCHAIN_WHEELS", str(wheels))
    wasm_bindgen.ensure("0.2.120")
    monkeypatch.delenv("WASM_TOOLCHAIN_WHEELS")
    wasm_bindgen.ensure("0.2.99")
    wasm_bindgen.ensure("0.2.100")
    (wasm_bindgen.cached_install_dir("0.2.100") / "bin" / "wasm-bindgen").write_text("broken")
    cached = wasm_bindgen.cached_versions()
    assert [c.version for c in cached] == ["0.2.99", "0.2.100", "0.2.120"]  # numeric order
    by_version = {c.version: c for c in cached}
    assert by_version["0.2.99"].provider == "cargo install" and by_version["0.2.99"].problem is None
    assert by_version["0.2.100"].problem
    assert by_version["0.2.120"].provider.startswith(f"wheel wasm_bindgen_cli-0.2.120-py3-none-{PLATFORM_TAG}.whl")
    assert str(wheels.resolve()) in by_version["0.2.120"].provider
    finding = doctor._check("wasm-bindgen CLIs cached", doctor._cached_bindgens, required=False)
    assert finding.ok and finding.version == "0.2.99, 0.2.100, 0.2.120" and not finding.required
    assert "DAMAGED" in finding.source and "[cargo install]" in finding.source


def test_doctor_says_when_no_cli_is_cached(env, tmp_path):
    finding = doctor._check("wasm-bindgen CLIs cached", doctor._cached_bindgens, required=False)
    assert not finding.ok and "no wasm-bindgen CLI in" in finding.source
