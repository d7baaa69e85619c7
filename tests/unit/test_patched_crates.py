"""Patched crates (crates/patches/patches.toml + .patch): prepared from a .crate, checked, atomic.

No network: each test builds a small .crate tarball of its own, puts it in a stand-in cargo home
or serves it through a replaced `download`; the real one is never called.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tomllib
from pathlib import Path

import pytest

from toolchain.tools import patched_crates
from toolchain.tools.patched_crates import PatchedCrateError

REPO = Path(__file__).resolve().parents[2]
NAME, VERSION = "demo", "1.2.3"

LIB_RS = b"""pub fn codec() -> &'static str {
    #[cfg(feature = "zstd")]
    return "zstd";
    #[cfg(not(feature = "zstd"))]
    return "none";
}
"""
CARGO_TOML = b"""[package]
name = "demo"
version = "1.2.3"

[dependencies.zstd]
version = "0.13.0"
optional = true
"""
PATCH = b"""diff -ruN a/Cargo.toml b/Cargo.toml
--- a/Cargo.toml\t2024-01-01 00:00:00.000000000 +0000
+++ b/Cargo.toml\t2024-01-01 00:00:00.000000000 +0000
@@ -2,6 +2,6 @@
 name = "demo"
 version = "1.2.3"

-[dependencies.zstd]
+[target.'cfg(not(target_arch = "wasm32"))'.dependencies.zstd]
 version = "0.13.0"
 optional = true
--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,6 +1,6 @@
 pub fn codec() -> &'static str {
-    #[cfg(feature = "zstd")]
+    #[cfg(all(feature = "zstd", not(target_arch = "wasm32")))]
     return "zstd";
-    #[cfg(not(feature = "zstd"))]
+    #[cfg(not(all(feature = "zstd", not(target_arch = "wasm32"))))]
     return "none";
 }
"""
PATCHED_LIB_RS = LIB_RS.replace(
    b'#[cfg(feature = "zstd")]', b'#[cfg(all(feature = "zstd", not(target_arch = "wasm32")))]'
).replace(b'#[cfg(not(feature = "zstd"))]', b'#[cfg(not(all(feature = "zstd", not(target_arch = "wasm32"))))]')


def make_crate(files: dict[str, bytes], top: str = f"{NAME}-{VERSION}") -> bytes:
    """A .crate as crates.io serves it: a gzipped tar of NAME-VERSION/..., one fixed old mtime."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1153704088
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CRATE = make_crate({"Cargo.toml": CARGO_TOML, "src/lib.rs": LIB_RS, "README.md": b"demo\n"})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(
    workspace: Path, patch: bytes = PATCH, crate_sha: str | None = None, patch_sha: str | None = None
) -> None:
    patches = workspace / "patches"
    patches.mkdir(parents=True, exist_ok=True)
    (patches / f"{NAME}-{VERSION}.patch").write_bytes(patch)
    (patches / "patches.toml").write_text(
        "[[crate]]\n"
        f'name = "{NAME}"\nversion = "{VERSION}"\n'
        f'crate_sha256 = "{crate_sha or sha(CRATE)}"\n'
        f'patch = "{NAME}-{VERSION}.patch"\n'
        f'patch_sha256 = "{patch_sha or sha(patch)}"\n'
    )


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A workspace with patches.toml, an empty cargo home and toolchain cache, and no network."""
    cargo_home, tool_cache = tmp_path / "cargo-home", tmp_path / "toolchain-cache"
    monkeypatch.setenv("CARGO_HOME", str(cargo_home))
    monkeypatch.setenv("WASM_TOOLCHAIN_CACHE", str(tool_cache))
    downloads: list[str] = []
    served: dict[str, bytes] = {}

    def download(url: str) -> bytes:
        downloads.append(url)
        if url not in served:
            raise OSError(f"no network in unit tests ({url})")
        return served[url]

    monkeypatch.setattr(patched_crates, "download", download)
    workspace = tmp_path / "crates"
    write_manifest(workspace)

    class Env:
        pass

    e = Env()
    e.workspace, e.cargo_home, e.tool_cache = workspace, cargo_home, tool_cache
    e.downloads, e.served = downloads, served
    e.destination = workspace / "patches" / NAME
    e.url = f"https://static.crates.io/crates/{NAME}/{NAME}-{VERSION}.crate"
    return e


def in_cargo_cache(e, data: bytes = CRATE) -> Path:
    path = e.cargo_home / "registry" / "cache" / "index.crates.io-1949cf8c6b5b557f" / f"{NAME}-{VERSION}.crate"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def leftovers(e) -> list[str]:
    """Temporary directories of a preparation left in crates/patches (none may stay)."""
    return sorted(p.name for p in (e.workspace / "patches").iterdir() if ".partial-" in p.name or ".old-" in p.name)


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(directory.rglob("*"))
    }


def test_prepare_extracts_checks_and_patches(env):
    in_cargo_cache(env)
    [prepared] = patched_crates.prepare(env.workspace)
    assert prepared == patched_crates.PreparedCrate(
        NAME, VERSION, env.destination, sha(CRATE), sha(PATCH), env.workspace / "patches" / f"{NAME}-{VERSION}.patch"
    )
    assert (env.destination / "src" / "lib.rs").read_bytes() == PATCHED_LIB_RS
    manifest = tomllib.loads((env.destination / "Cargo.toml").read_text())
    assert "zstd" not in manifest.get("dependencies", {})
    assert manifest["target"]['cfg(not(target_arch = "wasm32"))']["dependencies"]["zstd"]["optional"] is True
    assert (env.destination / "README.md").read_bytes() == b"demo\n"  # untouched files are there too
    stamp = json.loads((env.destination / patched_crates.STAMP).read_text())
    assert stamp["crate_sha256"] == sha(CRATE) and stamp["patch_sha256"] == sha(PATCH)
    assert set(stamp["files"]) == {"Cargo.toml", "src/lib.rs", "README.md"}
    assert env.downloads == [] and leftovers(env) == []
    # The .crate's old mtime is not kept: a re-prepared crate must look newer than cargo's last build.
    assert (env.destination / "README.md").stat().st_mtime > 1153704088 + 10


def test_prepare_is_idempotent_and_touches_nothing(env):
    in_cargo_cache(env)
    patched_crates.prepare(env.workspace)
    before = snapshot(env.destination)
    (env.cargo_home / "registry").rename(env.cargo_home / "gone")  # a second run needs no .crate at all
    assert [p.name for p in patched_crates.prepare(env.workspace)] == [NAME]
    assert snapshot(env.destination) == before
    assert env.downloads == []


def test_missing_destination_is_prepared_again(env):
    in_cargo_cache(env)
    patched_crates.prepare(env.workspace)
    shutil.rmtree(env.destination)
    patched_crates.prepare(env.workspace)
    assert (env.destination / "src" / "lib.rs").read_bytes() == PATCHED_LIB_RS


@pytest.mark.parametrize("damage", ["edit", "delete-file", "delete-stamp", "other-stamp"])
def test_damaged_destination_is_prepared_again(env, damage, capsys):
    in_cargo_cache(env)
    patched_crates.prepare(env.workspace)
    lib, stamp = env.destination / "src" / "lib.rs", env.destination / patched_crates.STAMP
    if damage == "edit":
        lib.write_bytes(LIB_RS)
    elif damage == "delete-file":
        lib.unlink()
    elif damage == "delete-stamp":
        stamp.unlink()
    else:
        stamp.write_text(json.dumps({**json.loads(stamp.read_text()), "key": "0" * 64}))
    patched_crates.prepare(env.workspace)
    assert lib.read_bytes() == PATCHED_LIB_RS
    assert patched_crates.stamp_problem(patched_crates.load(env.workspace)[0], env.destination) is None
    assert "preparing demo 1.2.3 again" in capsys.readouterr().err
    assert leftovers(env) == []


def test_tampered_crate_in_cargo_cache_is_an_error(env):
    tampered = make_crate({"Cargo.toml": CARGO_TOML, "src/lib.rs": LIB_RS + b"// extra\n", "README.md": b"demo\n"})
    path = in_cargo_cache(env, tampered)
    with pytest.raises(PatchedCrateError) as failure:
        patched_crates.prepare(env.workspace)
    message = str(failure.value)
    assert sha(tampered) in message and sha(CRATE) in message and str(path) in message
    assert "what to do: delete" in message
    assert not env.destination.exists() and leftovers(env) == []


def test_download_is_checked_and_cached(env):
    env.served[env.url] = CRATE
    patched_crates.prepare(env.workspace)
    assert env.downloads == [env.url]
    assert (env.tool_cache / "crates" / f"{NAME}-{VERSION}.crate").read_bytes() == CRATE
    shutil.rmtree(env.destination)
    patched_crates.prepare(env.workspace)  # from the toolchain's cache this time
    assert env.downloads == [env.url]


def test_tampered_download_is_an_error_and_not_cached(env):
    env.served[env.url] = CRATE[:-1] + bytes([CRATE[-1] ^ 1])
    with pytest.raises(PatchedCrateError) as failure:
        patched_crates.prepare(env.workspace)
    assert sha(CRATE) in str(failure.value) and sha(env.served[env.url]) in str(failure.value)
    assert not (env.tool_cache / "crates" / f"{NAME}-{VERSION}.crate").exists()
    assert not env.destination.exists()


def test_damaged_toolchain_cache_heals(env, capsys):
    cached = env.tool_cache / "crates" / f"{NAME}-{VERSION}.crate"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a crate")
    env.served[env.url] = CRATE
    patched_crates.prepare(env.workspace)
    assert cached.read_bytes() == CRATE and env.downloads == [env.url]
    assert "damaged, fetching it again" in capsys.readouterr().err


def test_no_network_and_no_crate_says_what_to_do(env):
    with pytest.raises(PatchedCrateError) as failure:
        patched_crates.prepare(env.workspace)
    assert env.url in str(failure.value) and "what to do" in str(failure.value)
    assert not env.destination.exists()


def test_patch_that_does_not_apply_leaves_nothing(env):
    in_cargo_cache(env)
    bad = PATCH.replace(b'-    #[cfg(not(feature = "zstd"))]', b'-    #[cfg(not(feature = "lz4"))]')
    write_manifest(env.workspace, patch=bad)
    with pytest.raises(PatchedCrateError) as failure:
        patched_crates.prepare(env.workspace)
    message = str(failure.value)
    assert "does not apply to src/lib.rs" in message and "line 4" in message
    assert not env.destination.exists() and leftovers(env) == []


def test_failed_prepare_keeps_the_previous_directory_whole(env):
    in_cargo_cache(env)
    patched_crates.prepare(env.workspace)
    before = {p: p.read_bytes() for p in env.destination.rglob("*") if p.is_file()}
    bad = PATCH.replace(b" pub fn codec()", b" pub fn other()")
    write_manifest(env.workspace, patch=bad)
    with pytest.raises(PatchedCrateError, match="does not apply"):
        patched_crates.prepare(env.workspace)
    assert {p: p.read_bytes() for p in env.destination.rglob("*") if p.is_file()} == before
    assert leftovers(env) == []


def test_changed_patch_is_prepared_again(env):
    in_cargo_cache(env)
    patched_crates.prepare(env.workspace)
    extra = (
        PATCH
        + b"""--- a/README.md
+++ b/README.md
@@ -1 +1,2 @@
 demo
+patched
"""
    )
    write_manifest(env.workspace, patch=extra)
    patched_crates.prepare(env.workspace)
    assert (env.destination / "README.md").read_bytes() == b"demo\npatched\n"
    assert leftovers(env) == []


def test_patch_file_that_differs_from_its_sha256_is_an_error(env):
    in_cargo_cache(env)
    write_manifest(env.workspace, patch_sha=sha(PATCH))
    (env.workspace / "patches" / f"{NAME}-{VERSION}.patch").write_bytes(PATCH + b"\n")
    with pytest.raises(PatchedCrateError) as failure:
        patched_crates.prepare(env.workspace)
    assert sha(PATCH + b"\n") in str(failure.value) and "patch_sha256" in str(failure.value)
    assert not env.destination.exists()


def test_crate_with_a_path_outside_its_directory_is_refused(env):
    evil = make_crate({"Cargo.toml": CARGO_TOML}, top=f"{NAME}-{VERSION}/../../escape")
    in_cargo_cache(env, evil)
    write_manifest(env.workspace, crate_sha=sha(evil))
    with pytest.raises(PatchedCrateError, match="outside"):
        patched_crates.prepare(env.workspace)
    assert not (env.workspace / "escape").exists() and leftovers(env) == []


def test_diff_creates_files_and_keeps_missing_final_newlines(env):
    crate = make_crate({"Cargo.toml": CARGO_TOML, "src/lib.rs": b"fn a() {}\nfn b() {}"})
    in_cargo_cache(env, crate)
    patch = b"""--- a/src/lib.rs
+++ b/src/lib.rs
@@ -1,2 +1,2 @@
 fn a() {}
-fn b() {}
\\ No newline at end of file
+fn b() { a() }
\\ No newline at end of file
--- /dev/null
+++ b/src/new.rs
@@ -0,0 +1 @@
+pub const X: u8 = 1;
"""
    write_manifest(env.workspace, patch=patch, crate_sha=sha(crate))
    patched_crates.prepare(env.workspace)
    assert (env.destination / "src" / "lib.rs").read_bytes() == b"fn a() {}\nfn b() { a() }"
    assert (env.destination / "src" / "new.rs").read_bytes() == b"pub const X: u8 = 1;\n"


def test_hunk_with_wrong_line_counts_is_refused(env):
    in_cargo_cache(env)
    write_manifest(env.workspace, patch=PATCH.replace(b"@@ -1,6 +1,6 @@", b"@@ -1,7 +1,6 @@"))
    with pytest.raises(PatchedCrateError, match="header says 7 and 6"):
        patched_crates.prepare(env.workspace)


def test_no_manifest_means_nothing_to_prepare(tmp_path):
    assert patched_crates.prepare(tmp_path) == []
    assert patched_crates.prepare_for(tmp_path / "some-crate") == []


def test_prepare_for_finds_the_workspace_from_a_crate(env):
    in_cargo_cache(env)
    member = env.workspace / "engine"
    member.mkdir()
    assert [p.directory for p in patched_crates.prepare_for(member / "Cargo.toml")] == [env.destination]


def test_repository_manifest_matches_its_patches():
    """crates/patches/patches.toml as committed: each patch exists, has its recorded sha256, parses."""
    specs = patched_crates.load(REPO / "crates")
    assert [(s.name, s.version) for s in specs] == [
        ("arrow-ipc", "59.3.2"),
        ("arrow-array", "59.3.2"),
        ("arrow-string", "59.3.2"),
        ("arrow-arith", "59.3.2"),
        ("arrow-select", "59.3.2"),
        ("datafusion-physical-expr", "55.2.0"),
        ("datafusion-physical-plan", "55.2.0"),
        ("arrow-ord", "59.3.2"),
        ("datafusion-functions", "55.2.0"),
    ]
    changed = {
        "arrow-ipc": {"Cargo.toml", "src/compression.rs", "src/writer.rs"},
        "arrow-array": {"src/arithmetic.rs"},
        "arrow-string": {"src/predicate.rs"},
        "arrow-arith": {"src/numeric.rs"},
        "arrow-select": {"src/filter.rs", "src/take.rs"},
        "arrow-ord": {"src/cmp.rs"},
        "datafusion-functions": {"src/unicode/substr.rs"},
        "datafusion-physical-expr": {"src/expressions/binary.rs"},
        "datafusion-physical-plan": {"src/aggregates/group_values/mod.rs", "src/aggregates/group_values/short_keys.rs"},
    }
    for spec in specs:
        assert patched_crates.cache.file_sha256(spec.patch_path) == spec.patch_sha256
        files = patched_crates._parse_patch(spec.patch_path.read_bytes(), spec.patch_path)
        assert {f.new_path for f in files} == changed[spec.name]
