"""Reading Cargo.lock and Cargo.toml: which versions a crate is locked to."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from toolchain.analysis.schema import validate
from toolchain.core.errors import ToolchainError


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    source: str | None
    checksum: str | None = None  # sha256 of the .crate file, for registry packages


def read_lock(lock_path: Path) -> list[LockedPackage]:
    if not lock_path.is_file():
        raise ToolchainError(
            f"no Cargo.lock at {lock_path}",
            "run `cargo generate-lockfile` in the crate and commit Cargo.lock: builds use --locked "
            "so that every tool version is pinned",
        )
    try:
        data = tomllib.loads(lock_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ToolchainError(
            f"{lock_path} is not valid TOML: {exc}", "restore it from version control or regenerate it"
        ) from exc
    packages = data.get("package")
    if not isinstance(packages, list):
        raise ToolchainError(f"{lock_path} has no [[package]] entries", "regenerate it with `cargo generate-lockfile`")
    return [LockedPackage(p["name"], p["version"], p.get("source"), p.get("checksum")) for p in packages]


def locked_versions(lock_path: Path, name: str) -> list[str]:
    return sorted({p.version for p in read_lock(lock_path) if p.name == name})


def single_locked_version(lock_path: Path, name: str) -> str:
    """The one version of `name` in the lock file; an error if it is absent or there are several."""
    versions = locked_versions(lock_path, name)
    if not versions:
        raise ToolchainError(
            f"{lock_path} does not contain the crate '{name}'",
            f"add '{name}' to the crate's [dependencies] (a browser engine needs it) and re-lock",
        )
    if len(versions) > 1:
        raise ToolchainError(
            f"{lock_path} contains several versions of '{name}' ({', '.join(versions)}); "
            "the generated glue must match exactly one",
            f"unify them with `cargo update -p {name} --precise <version>`",
        )
    return versions[0]


METADATA_TABLE = "wasm-qe-toolchain"  # [package.metadata.wasm-qe-toolchain] in the crate's Cargo.toml


@dataclass(frozen=True)
class BuildSettings:
    """How a crate asks to be built, beyond its cargo profile (the crate owns its size trade-offs).

    [package.metadata.wasm-qe-toolchain]
    build-std-features = ["optimize_for_size"]   # cargo -Zbuild-std-features (when std is built)
    rustflags = ["-Zunstable-options", "-Cpanic=immediate-abort"]
    wasm-opt = ["-O1", "--merge-similar-functions"]  # passes, unless --wasm-opt-level is given
    js-files = ["js/fetch_query_ipc.js", "js/fetch_query_ipc.d.ts"]  # shipped beside the glue
    policies = { shims = "../../ci/wasm-shims.toml", size-budget = "../../ci/size-budget.toml" }
    [package.metadata.wasm-qe-toolchain.variants.speed]   # `build --variant speed`
    profile = "release-speed"; build-std-features = []; rustflags = [...]; wasm-opt = ["-O3"]
    (the schema: analysis/config.schema.json, $defs/crate-metadata)
    """

    build_std_features: tuple[str, ...] = ()
    rustflags: tuple[str, ...] = ()
    wasm_opt: tuple[str, ...] = ()  # empty: the toolchain's default
    js_files: tuple[str, ...] = ()  # paths relative to the crate directory
    # policy files for the checks by kind (gating, shims, tracing, size-budget), relative to the crate
    policies: Mapping[str, str] = field(default_factory=dict, hash=False)
    # named build variants ([package.metadata.wasm-qe-toolchain.variants.NAME]), as written
    variants: Mapping[str, Mapping] = field(default_factory=dict, hash=False)

    def for_variant(self, name: str, where: str = "the crate") -> tuple[BuildSettings, str | None, tuple[str, ...]]:
        """These settings with variant `name`'s keys replacing the crate's own, the variant's cargo
        profile (None: the base build's) and the cargo features it adds. An unknown name is an error
        that lists the known ones."""
        if name not in self.variants:
            known = ", ".join(sorted(self.variants)) or "none"
            raise ToolchainError(
                f"{where} has no build variant {name!r} (variants: {known})",
                f"add [package.metadata.{METADATA_TABLE}.variants.{name}] to its Cargo.toml, or pick a listed one",
            )
        table = self.variants[name]

        def pick(key: str, base: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(table[key]) if key in table else base

        settings = replace(
            self,
            build_std_features=pick("build-std-features", self.build_std_features),
            rustflags=pick("rustflags", self.rustflags),
            wasm_opt=pick("wasm-opt", self.wasm_opt),
        )
        return settings, table.get("profile"), tuple(table.get("features", ()))


def _build_settings(manifest_path: Path, package: dict) -> BuildSettings:
    table = package.get("metadata", {}).get(METADATA_TABLE, {})
    where = f"{manifest_path} [package.metadata.{METADATA_TABLE}]"
    validate(table, "crate-metadata", where)  # types, known keys, pass and file-name patterns
    js_files = table.get("js-files", [])
    for name in js_files:
        path = (manifest_path.parent / name).resolve()
        if manifest_path.parent.resolve() not in path.parents:
            raise ToolchainError(
                f"{where} js-files: {name!r} must be a .js, .mjs or .d.ts file inside the crate",
                'e.g. js-files = ["js/helper.js", "js/helper.d.ts"], relative to the crate directory',
            )
        if not path.is_file():
            raise ToolchainError(
                f"{where} js-files: {name!r} does not exist ({path})",
                "fix the path (relative to the crate directory) or remove the entry",
            )
    return BuildSettings(
        tuple(table.get("build-std-features", [])),
        tuple(table.get("rustflags", [])),
        tuple(table.get("wasm-opt", [])),
        tuple(js_files),
        dict(table.get("policies", {})),
        {name: dict(variant) for name, variant in table.get("variants", {}).items()},
    )


@dataclass(frozen=True)
class CrateManifest:
    """What the pipeline needs from a crate's Cargo.toml."""

    manifest_path: Path
    package_name: str
    version: str
    lib_name: str
    description: str
    license: str | None
    settings: BuildSettings = BuildSettings()

    @property
    def crate_dir(self) -> Path:
        return self.manifest_path.parent


def _load_manifest(manifest_path: Path) -> tuple[Path, dict]:
    """The absolute path of a Cargo.toml and its parsed contents; a clear error if it is missing or not TOML."""
    manifest_path = manifest_path.resolve()
    if not manifest_path.is_file():
        raise ToolchainError(
            f"no Cargo.toml at {manifest_path}", "pass --manifest-path pointing at the crate's Cargo.toml"
        )
    try:
        return manifest_path, tomllib.loads(manifest_path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ToolchainError(
            f"{manifest_path} is not valid TOML: {exc}", "fix its syntax (`cargo metadata` shows where)"
        ) from exc


def read_manifest(manifest_path: Path) -> CrateManifest:
    manifest_path, data = _load_manifest(manifest_path)
    package = data.get("package")
    if not package:
        raise ToolchainError(
            f"{manifest_path} has no [package] section (a workspace root?)",
            "pass --manifest-path of the member crate that builds the cdylib",
        )
    lib = data.get("lib", {})
    crate_types = lib.get("crate-type", [])
    if "cdylib" not in crate_types:
        raise ToolchainError(
            f'{manifest_path}: [lib] crate-type does not include "cdylib", so cargo makes no .wasm',
            'add `[lib] crate-type = ["cdylib", "rlib"]` to the crate',
        )
    version = package.get("version", "0.0.0")
    if isinstance(version, dict):  # version.workspace = true
        raise ToolchainError(
            f"{manifest_path}: version is inherited from the workspace, which this reader does not follow",
            "set an explicit version in the crate's [package]",
        )
    license_ = package.get("license")
    return CrateManifest(
        manifest_path=manifest_path,
        package_name=package["name"],
        version=version,
        lib_name=lib.get("name", package["name"].replace("-", "_")),
        description=package.get("description", ""),
        license=license_ if isinstance(license_, str) else None,
        settings=_build_settings(manifest_path, package),
    )


def read_settings(manifest_path: Path) -> BuildSettings:
    """Only the crate's [package.metadata.wasm-qe-toolchain] (validated): for checks that take any crate."""
    manifest_path, data = _load_manifest(manifest_path)
    return _build_settings(manifest_path, data.get("package") or {})


def find_lock_file(manifest_path: Path) -> Path:
    """The Cargo.lock that governs a crate: beside it, or in the nearest workspace root above."""
    for directory in [manifest_path.parent, *manifest_path.parent.parents]:
        candidate = directory / "Cargo.lock"
        if candidate.is_file():
            return candidate
    return manifest_path.parent / "Cargo.lock"
