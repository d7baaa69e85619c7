"""A crate as cargo sees it: `cargo metadata --no-deps`, so that what a Cargo.toml inherits from its
workspace (version.workspace = true, [workspace.package], [workspace.dependencies]) is resolved by
cargo itself rather than by a reader of ours that would lag behind cargo's rules.

--no-deps resolves nothing: no registry, no lock file, no network (and --offline makes sure), about
0.15 s. It lists every member of the workspace the manifest belongs to, with its targets (which are
cdylibs), the package fields a published npm package needs, and [package.metadata] and
[workspace.metadata] as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from toolchain.core import process
from toolchain.core.errors import MissingTool, ToolchainError
from toolchain.tools import rust


@dataclass(frozen=True)
class Member:
    """One package of the workspace, as `cargo metadata` reports it."""

    name: str
    version: str
    manifest_path: Path
    cdylib: str | None  # the library target's name when it builds a cdylib (cargo writes <name>.wasm)
    fields: dict  # the package's entry in cargo's JSON (description, license, readme, metadata, ...)


@dataclass(frozen=True)
class Workspace:
    root: Path
    members: tuple[Member, ...]
    metadata: dict  # [workspace.metadata], {} when absent

    @property
    def cdylib_members(self) -> list[Member]:
        return [m for m in self.members if m.cdylib is not None]

    def member_at(self, manifest_path: Path) -> Member | None:
        return next((m for m in self.members if m.manifest_path == manifest_path), None)

    def member_named(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)

    def describe_members(self) -> str:
        """ "a (cdylib), b" for an error message."""
        return ", ".join(f"{m.name}{' (cdylib)' if m.cdylib else ''}" for m in self.members) or "none"


@functools.cache
def _cargo() -> Path:
    """Any working cargo reads a manifest the same way: $CARGO, the one on PATH, else Debian's (the wasm32
    provider). Each is asked for its version first: rustup's shim on PATH exists but fails where rustup has
    no default toolchain (another HOME, a CI user), and Debian's cargo then serves."""
    notes = []
    for candidate in dict.fromkeys((os.environ.get("CARGO"), shutil.which("cargo"), str(rust.DEBIAN_CARGO))):
        if candidate and Path(candidate).is_file():
            if process.output([candidate, "--version"]):
                return Path(candidate)
            notes.append(f"{candidate} does not run")
    raise MissingTool(
        "no cargo found to read the crate's Cargo.toml" + (f" ({'; '.join(notes)})" if notes else ""),
        "run `nox -s doctor -- --install` (Debian's cargo-web), or install Rust with rustup",
    )


def manifest_of(path: Path) -> Path:
    """The Cargo.toml a --manifest-path names: the file, or the one inside a crate directory."""
    path = path.expanduser()
    if path.is_dir():
        path = path / "Cargo.toml"
    path = path.resolve()
    if not path.is_file():
        raise ToolchainError(
            f"no Cargo.toml at {path}",
            "pass --manifest-path pointing at the crate's Cargo.toml or its directory "
            "(relative paths are relative to the directory you ran the command from)",
        )
    return path


def read_workspace(manifest_path: Path) -> Workspace:
    """The workspace `manifest_path` belongs to (a member's or the root's Cargo.toml)."""
    manifest_path = manifest_of(manifest_path)
    argv = [str(_cargo()), "metadata", "--format-version", "1", "--no-deps", "--offline"]
    argv += ["--manifest-path", str(manifest_path)]
    # RUSTC_BOOTSTRAP: a crate with cargo-features = [...] (nightly manifest keys) reads as the build would.
    result = process.run(argv, env=rust.UNSTABLE_ENV, capture=True, check=False, show=False)
    if result.returncode != 0:
        message = result.stderr.strip().removeprefix("error: ") or f"exit {result.returncode}"
        raise ToolchainError(
            f"cargo cannot read {manifest_path}: {message}",
            "fix the manifest (`cargo metadata --no-deps` in the crate shows the same error)",
        )
    data = json.loads(result.stdout)
    members = []
    for package in data["packages"]:
        cdylib = next((t["name"] for t in package["targets"] if "cdylib" in t.get("crate_types", [])), None)
        members.append(Member(package["name"], package["version"], Path(package["manifest_path"]), cdylib, package))
    return Workspace(Path(data["workspace_root"]), tuple(members), data.get("metadata") or {})
