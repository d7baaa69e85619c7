"""Reading Cargo.lock and Cargo.toml: which versions a crate is locked to."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from toolchain.analysis import cargo_metadata
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
    # policy files for the checks by kind (gating, shims, tracing, size-budget): absolute, each resolved
    # against the Cargo.toml that names it (the crate's, or its workspace root's)
    policies: Mapping[str, str] = field(default_factory=dict, hash=False)
    # named build variants ([package.metadata.wasm-qe-toolchain.variants.NAME]), as written
    variants: Mapping[str, Mapping] = field(default_factory=dict, hash=False)
    # [package.metadata.wasm-pack.profile.NAME] as written, for users coming from wasm-pack: its
    # wasm-opt setting applies when ours is not set (config.resolve), the rest is warned about
    wasm_pack: Mapping[str, Mapping] = field(default_factory=dict, hash=False)

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


WASM_PACK_TABLE = (
    "wasm-pack"  # [package.metadata.wasm-pack.profile.<dev|profiling|release>], read for users coming from it
)


def _settings_table(manifest_path: Path, table: object, where: str) -> dict:
    if table is None:
        return {}
    validate(table, "crate-metadata", where)  # types, known keys, pass and file-name patterns
    assert isinstance(table, dict)
    return table


def _build_settings(
    manifest_path: Path, package_metadata: dict | None, workspace_metadata: dict | None = None, workspace_root=None
) -> BuildSettings:
    """The crate's [package.metadata.wasm-qe-toolchain] over its workspace's [workspace.metadata.wasm-qe-toolchain]:
    a key the crate sets replaces the workspace's (policies: per kind). Policy paths become absolute, each relative
    to the Cargo.toml that names it."""
    where = f"{manifest_path} [package.metadata.{METADATA_TABLE}]"
    table = _settings_table(manifest_path, (package_metadata or {}).get(METADATA_TABLE), where)
    policies = {k: str((manifest_path.parent / v).resolve()) for k, v in table.get("policies", {}).items()}
    if workspace_root is not None and workspace_metadata:
        root_manifest = Path(workspace_root) / "Cargo.toml"
        shared_where = f"{root_manifest} [workspace.metadata.{METADATA_TABLE}]"
        shared = _settings_table(root_manifest, workspace_metadata.get(METADATA_TABLE), shared_where)
        if "js-files" in shared:
            raise ToolchainError(
                f"{shared_where} js-files: JS files belong to one crate",
                f"move js-files to the member's [package.metadata.{METADATA_TABLE}]",
            )
        for kind, path in shared.get("policies", {}).items():
            policies.setdefault(kind, str((Path(workspace_root) / path).resolve()))
        table = {**{k: v for k, v in shared.items() if k != "policies"}, **table}
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
        policies,
        {name: dict(variant) for name, variant in table.get("variants", {}).items()},
        _wasm_pack_settings(manifest_path, (package_metadata or {}).get(WASM_PACK_TABLE)),
    )


def _wasm_pack_settings(manifest_path: Path, table: object) -> Mapping[str, Mapping]:
    """wasm-pack's per-profile settings as written ({} when absent); only their shape is checked here."""
    if table is None:
        return {}
    profiles = table.get("profile", {}) if isinstance(table, dict) else None
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ToolchainError(
            f"{manifest_path} [package.metadata.{WASM_PACK_TABLE}] is not wasm-pack's layout",
            f"expected [package.metadata.{WASM_PACK_TABLE}.profile.release] wasm-opt = [...] (or false)",
        )
    return {name: dict(profile) for name, profile in profiles.items()}


@dataclass(frozen=True)
class CrateManifest:
    """What the pipeline needs from a crate's Cargo.toml, with what it inherits from its workspace resolved."""

    manifest_path: Path
    package_name: str
    version: str
    lib_name: str
    description: str
    license: str | None
    settings: BuildSettings = BuildSettings()
    workspace_root: Path | None = None  # None: read without cargo (a standalone manifest in a test)
    readme: Path | None = None  # absolute; the crate's `readme`, else a README.md beside Cargo.toml
    license_file: Path | None = None  # absolute; the crate's `license-file`
    repository: str | None = None
    homepage: str | None = None

    @property
    def crate_dir(self) -> Path:
        return self.manifest_path.parent


def _load_manifest(manifest_path: Path) -> tuple[Path, dict]:
    """The absolute path of a Cargo.toml and its parsed contents; a clear error if it is missing or not TOML."""
    manifest_path = cargo_metadata.manifest_of(manifest_path)
    try:
        return manifest_path, tomllib.loads(manifest_path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ToolchainError(
            f"{manifest_path} is not valid TOML: {exc}", "fix its syntax (`cargo metadata` shows where)"
        ) from exc


def select_member(
    manifest_path: Path, package: str | None = None
) -> tuple[cargo_metadata.Workspace, cargo_metadata.Member]:
    """The workspace and the member a --manifest-path (file or directory) and --package name.

    A member's Cargo.toml names itself; a workspace root with a [package] names that package; a
    virtual root needs --package, and the error lists the cdylib members to choose from."""
    manifest_path, _ = _load_manifest(manifest_path)  # a TOML error says the line, before cargo says less
    workspace = cargo_metadata.read_workspace(manifest_path)
    if package is not None:
        member = workspace.member_named(package)
        if member is None:
            raise ToolchainError(
                f"the workspace of {manifest_path} has no package {package!r} (members: {workspace.describe_members()})",
                "pass --package with one of the members",
            )
        return workspace, member
    member = workspace.member_at(manifest_path)
    if member is None:
        cdylibs = [m.name for m in workspace.cdylib_members]
        raise ToolchainError(
            f"{manifest_path} is a workspace root with no [package]; its cdylib members: {', '.join(cdylibs) or 'none'} "
            f"(all members: {workspace.describe_members()})",
            "pass --package NAME for one member, or --workspace to build every cdylib member into its own package"
            if cdylibs
            else 'no member builds a cdylib: add `[lib] crate-type = ["cdylib", "rlib"]` to the one to build',
        )
    return workspace, member


def read_manifest(manifest_path: Path, package: str | None = None) -> CrateManifest:
    """The crate a --manifest-path (and --package) names, through `cargo metadata`: inherited fields resolved."""
    workspace, member = select_member(manifest_path, package)
    fields = member.fields
    if member.cdylib is None:
        raise ToolchainError(
            f'{member.manifest_path}: [lib] crate-type does not include "cdylib", so cargo makes no .wasm',
            'add `[lib] crate-type = ["cdylib", "rlib"]` to the crate',
        )
    crate_dir = member.manifest_path.parent
    readme_field = fields.get("readme")
    readme = crate_dir / readme_field if isinstance(readme_field, str) else None
    if readme is None or not readme.is_file():
        readme = next((crate_dir / n for n in ("README.md", "README") if (crate_dir / n).is_file()), None)
    license_file = fields.get("license_file")
    return CrateManifest(
        manifest_path=member.manifest_path,
        package_name=member.name,
        version=member.version,
        lib_name=member.cdylib,
        description=fields.get("description") or "",
        license=fields.get("license"),
        settings=_build_settings(member.manifest_path, fields.get("metadata"), workspace.metadata, workspace.root),
        workspace_root=workspace.root,
        readme=readme,
        license_file=(crate_dir / license_file).resolve() if license_file else None,
        repository=fields.get("repository"),
        homepage=fields.get("homepage"),
    )


def read_settings(manifest_path: Path) -> BuildSettings:
    """Only the crate's [package.metadata.wasm-qe-toolchain] (validated): for checks that take any crate."""
    manifest_path, data = _load_manifest(manifest_path)
    return _build_settings(manifest_path, (data.get("package") or {}).get("metadata"))


def find_lock_file(manifest_path: Path) -> Path:
    """The Cargo.lock that governs a crate (its Cargo.toml or directory): beside it, or in the nearest
    workspace root above."""
    if manifest_path.is_dir():
        manifest_path = manifest_path / "Cargo.toml"
    for directory in [manifest_path.parent, *manifest_path.parent.parents]:
        candidate = directory / "Cargo.lock"
        if candidate.is_file():
            return candidate
    return manifest_path.parent / "Cargo.lock"
