"""What the toolchain publishes is readable by other users (a web server, an uploader): directories
0755 and files 0644 whatever the umask, as wasm-pack and npm produce. Caches in the tool cache
get the modes a plain mkdir gives (0777 less the umask), not mkdtemp's 0700."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from toolchain.core import cache
from toolchain.pipeline import build
from toolchain.release import artifacts as release
from toolchain.release import toolchain_wheels


@pytest.fixture
def strict_umask():
    previous = os.umask(0o077)  # what mkdtemp's 0700 amounts to, for everything
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_the_engine_package_is_readable_by_others(tmp_path, strict_umask):
    source = tmp_path / "a_bg.wasm"
    source.write_bytes(b"\0asm\1\0\0\0")
    package = build.publish_package(
        tmp_path / "artifacts" / "pkg", {"a_bg.wasm": source}, {"package.json": {"name": "pkg"}}
    )
    assert modes(package) == {".": 0o755, "a_bg.wasm": 0o644, "package.json": 0o644}


def _staged_release(root: Path) -> Path:
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".1.0.0.new-"))  # as make_release makes it
    (staging / "engine-1.0.0.tgz").write_bytes(b"tarball")
    (staging / "SHA256SUMS").write_text("sums\n")
    return staging


def test_a_release_is_readable_by_others(tmp_path, strict_umask):
    release_dir = tmp_path / "release" / "1.0.0"
    release_dir.parent.mkdir()
    assert release.publish_release(_staged_release(release_dir.parent), release_dir, force=False) is True
    assert modes(release_dir) == {".": 0o755, "engine-1.0.0.tgz": 0o644, "SHA256SUMS": 0o644}


def test_an_identical_release_published_private_by_an_older_toolchain_is_opened(tmp_path, strict_umask):
    release_dir = tmp_path / "release" / "1.0.0"
    release_dir.parent.mkdir()
    os.replace(_staged_release(release_dir.parent), release_dir)  # the old way: 0700, files 0600
    assert modes(release_dir)["."] == 0o700
    assert release.publish_release(_staged_release(release_dir.parent), release_dir, force=False) is False
    assert modes(release_dir) == {".": 0o755, "engine-1.0.0.tgz": 0o644, "SHA256SUMS": 0o644}


def test_the_toolchain_wheels_are_readable_by_others(tmp_path, strict_umask):
    wheel_file = tmp_path / "cache" / "demo-1.0-py3-none-any.whl"
    wheel_file.parent.mkdir()
    wheel_file.write_bytes(b"PK")
    built = toolchain_wheels.BuiltWheel("demo", "1.0", wheel_file, cache.file_sha256(wheel_file), 2, 1.0, "k", True)
    out = toolchain_wheels.publish([built], tmp_path / "artifacts" / "toolchain-wheels")
    assert modes(out) == {".": 0o755, wheel_file.name: 0o644, toolchain_wheels.MANIFEST_NAME: 0o644}


def test_published_executables_stay_executable(tmp_path, strict_umask):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "tool").chmod(0o700)
    (tmp_path / "data").write_text("x")
    cache.make_public(tmp_path)
    assert modes(tmp_path) == {".": 0o755, "bin": 0o755, "bin/tool": 0o755, "data": 0o644}


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_cache_directories_get_the_umask_not_0700(tmp_path, umask):
    previous = os.umask(umask)
    try:
        installed = cache.install_dir_atomically(tmp_path / "tool", lambda d: (d / "f").write_text("x"))
        public = cache.install_dir_atomically(tmp_path / "published", lambda d: (d / "f").write_text("x"), public=True)
    finally:
        os.umask(previous)
    assert modes(installed)["."] == 0o777 & ~umask
    assert modes(public) == {".": 0o755, "f": 0o644}


def test_json_written_atomically_gets_the_umask_not_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        cache.write_json_atomic(tmp_path / "baseline.json", {"final": 1})
    finally:
        os.umask(previous)
    assert modes(tmp_path) == {".": stat.S_IMODE(tmp_path.stat().st_mode), "baseline.json": 0o644}
