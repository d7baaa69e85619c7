"""One resolved configuration: the command line, the crate's [package.metadata.wasm-qe-toolchain],
the policy files and the environment, merged once, validated against config.schema.json, and handed
to every stage and check as typed objects (Config, BuildOptions, Policies, Environment).

Precedence, for every setting: the command line, then the crate's metadata table, then its
workspace's [workspace.metadata.wasm-qe-toolchain], then (wasm-opt only) wasm-pack's metadata, then the
toolchain's default. Policy files named in metadata are relative to the Cargo.toml that names them; the
defaults ship inside the package (analysis/policies/), so an installed toolchain run from any
directory checks a crate the same way a checkout does.

Where things go: the bundled engine's package into artifacts/ (relative to the checkout), a user's
crate's into <its workspace root>/target/wasm-qe/ (cargo's own ignored directory, never the
toolchain's artifacts/), or --artifacts-dir. Each build remembers where it went (remember_build),
so that a check of the same crate finds its outputs without being told.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from toolchain.analysis import cargo_lock
from toolchain.analysis.schema import validate
from toolchain.core import cache, console
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import DEFAULT_ARTIFACTS, Layout
from toolchain.tools import wasm_opt

PACKAGED_POLICIES = Path(__file__).with_name("policies")
DEFAULT_MANIFEST = Path("crates/datafusion-wasm/Cargo.toml")  # the bundled engine, from a checkout's root
DEFAULT_WASM_OPT_LEVEL = "-Os"
POLICY_KINDS = ("gating", "shims", "tracing", "size-budget")
# The defaults that ship with the toolchain. Waivers, instrumentation-crate lists and size budgets
# belong to a crate, so there is no packaged one: without them the check has nothing to waive or list,
# and the size check reports sizes with no limit.
PACKAGED_GATING_POLICY = PACKAGED_POLICIES / "wasm-gating.toml"
PACKAGED_DEFAULTS: dict[str, Path | None] = {
    "gating": PACKAGED_GATING_POLICY,
    "shims": None,
    "tracing": None,
    "size-budget": None,
}


@dataclass(frozen=True)
class BuildOptions:
    """What the build does; the command line fills it, build() reads nothing else."""

    manifest_path: Path = DEFAULT_MANIFEST  # a Cargo.toml or a crate directory
    package: str | None = None  # a workspace member by name (needed with a virtual workspace root)
    profile: str = ""  # the cargo profile; "": the variant's, else "release" (resolve() fills it in)
    # a named build variant of the crate (its metadata's variants.NAME): other settings, another
    # cargo profile, its own package directory (artifacts/variants/NAME/) and target directory
    variant: str | None = None
    run_wasm_opt: bool = True
    wasm_opt_level: str | None = None  # None: the crate's wasm-opt setting, else DEFAULT_WASM_OPT_LEVEL
    wasm_opt_provider: str = wasm_opt.AUTO  # an installed binaryen-wasm-opt wheel if usable, else npm
    # None: the crate's default (DEFAULT_ARTIFACTS for the bundled engine, <workspace>/target/wasm-qe for
    # others); a check resolving with previous=True takes where the crate's last build went instead
    artifacts_dir: Path | None = None
    cargo_features: list[str] = field(default_factory=list)
    no_default_features: bool = False
    install_missing: bool = True
    verify_instantiation: bool = True
    # None: $CARGO_TARGET_DIR if set, else a per-crate directory in the tool cache, shared by
    # every checkout on the machine so that a fresh clone does not recompile DataFusion.
    target_dir: Path | None = None
    # False: every stage runs (nothing restored from the machine-wide stage store, nothing saved
    # to it), as a clean build on a fresh machine would; the reproducibility proof needs that.
    use_stage_store: bool = True
    # no Cargo.lock: generate one (`cargo generate-lockfile`) and say so; refused in CI, where the lock
    # file is what pins every version
    lock: bool = False


@dataclass(frozen=True)
class Policies:
    gating: Path
    shims: Path | None  # waivers; None: no waiver
    tracing: Path | None  # the instrumentation crates to check; None: none
    size_budget: Path | None  # None: sizes are reported, nothing is limited

    def get(self, kind: str) -> Path | None:
        return getattr(self, kind.replace("-", "_"))


@dataclass(frozen=True)
class Environment:
    cache_root: Path
    ci: bool
    github_actions: bool
    cargo_target_dir: Path | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Environment:
        truthy = {"1", "true", "yes"}
        target = environ.get("CARGO_TARGET_DIR")
        return cls(
            cache_root=cache.cache_root(),
            ci=environ.get("CI", "").lower() in truthy,
            github_actions=environ.get("GITHUB_ACTIONS", "").lower() == "true",
            cargo_target_dir=Path(target) if target else None,
        )


@dataclass(frozen=True)
class Config:
    crate: cargo_lock.CrateManifest
    build: BuildOptions
    layout: Layout
    policies: Policies
    environment: Environment

    @property
    def wasm_opt_passes(self) -> list[str]:
        """The command line's level wins over the crate's own passes, which win over the default."""
        if self.build.wasm_opt_level:
            return [self.build.wasm_opt_level]
        return list(self.crate.settings.wasm_opt) or [DEFAULT_WASM_OPT_LEVEL]

    @property
    def target_dir(self) -> Path:
        if self.build.target_dir is not None:
            return self.build.target_dir
        return default_target_dir(self.crate.settings, self.environment)

    def to_json(self) -> dict:
        s = self.crate.settings
        metadata: dict = {
            k: list(v)
            for k, v in (
                ("build-std-features", s.build_std_features),
                ("rustflags", s.rustflags),
                ("wasm-opt", s.wasm_opt),
                ("js-files", s.js_files),
            )
            if v
        }
        if s.policies:
            metadata["policies"] = dict(s.policies)
        b = self.build
        return {
            "crate": {
                "manifest": str(self.crate.manifest_path),
                "name": self.crate.package_name,
                "workspace_root": str(self.crate.workspace_root) if self.crate.workspace_root else None,
                "version": self.crate.version,
                "lib_name": self.crate.lib_name,
                "metadata": metadata,
            },
            "build": {
                "profile": b.profile,
                "variant": b.variant,
                "lock": b.lock,
                "features": list(b.cargo_features),
                "no_default_features": b.no_default_features,
                "wasm_opt": b.run_wasm_opt,
                "wasm_opt_passes": self.wasm_opt_passes,
                "wasm_opt_provider": b.wasm_opt_provider,
                "verify_instantiation": b.verify_instantiation,
                "install_missing": b.install_missing,
                "use_stage_store": b.use_stage_store,
                "target_dir": str(self.target_dir),
            },
            "layout": {
                "artifacts_dir": str(self.layout.artifacts_dir),
                "package_dir": str(self.layout.package_dir),
                "stages_dir": str(self.layout.stages_dir),
                "record": str(self.layout.record_path),
            },
            "policies": {kind: (str(p) if (p := self.policies.get(kind)) else None) for kind in POLICY_KINDS},
            "environment": {
                "cache_root": str(self.environment.cache_root),
                "ci": self.environment.ci,
                "github_actions": self.environment.github_actions,
                "cargo_target_dir": str(self.environment.cargo_target_dir)
                if self.environment.cargo_target_dir
                else None,
            },
        }


def default_target_dir(
    settings: cargo_lock.BuildSettings | None = None, environment: Environment | None = None
) -> Path:
    """$CARGO_TARGET_DIR, else a target directory in the tool cache shared by every crate and every checkout
    on the machine that builds with the same rustflags and build-std features.

    Sharing is what makes a second crate's first build cheap: with -Zbuild-std, std is a unit of each
    build like any dependency, and cargo reuses units whose hash matches (same rustc, profile,
    features, target), whichever workspace asked (measured: 35 s for hello-engine's first build in
    its own directory, 0.4 s for a second crate in the shared one). Rustflags and std features are
    the key because cargo does not hash them into a unit's name: two crates with different ones in
    one directory would rebuild each other's dependencies in place, back and forth."""
    environment = environment or Environment.from_environ(os.environ)
    if environment.cargo_target_dir is not None:
        return environment.cargo_target_dir
    settings = settings or cargo_lock.BuildSettings()
    key = hashlib.sha256(json.dumps([list(settings.build_std_features), list(settings.rustflags)]).encode())
    return environment.cache_root / "cargo-target" / f"wasm32-{key.hexdigest()[:12]}"


def is_bundled_engine(crate: cargo_lock.CrateManifest) -> bool:
    """The engine of the checkout the command runs in (DEFAULT_MANIFEST relative to the working directory)."""
    return DEFAULT_MANIFEST.is_file() and crate.manifest_path == DEFAULT_MANIFEST.resolve()


def default_artifacts_dir(crate: cargo_lock.CrateManifest) -> Path:
    """artifacts/ for the bundled engine; <workspace root>/target/wasm-qe/ for any other crate: its own
    tree, in the directory cargo's `cargo new` already ignores, so nothing lands in the toolchain's."""
    if is_bundled_engine(crate) or crate.workspace_root is None:
        return DEFAULT_ARTIFACTS
    return crate.workspace_root / "target" / "wasm-qe"


# ---------------------------------------------------------------- where the last build went


def _build_pointer(crate: cargo_lock.CrateManifest, variant: str | None) -> Path:
    key = hashlib.sha256(f"{crate.manifest_path}\0{crate.package_name}\0{variant or ''}".encode()).hexdigest()[:16]
    return cache.cache_root() / "builds" / f"{crate.package_name}-{key}.json"


def remember_build(resolved: Config) -> None:
    """Records where this crate's build wrote its outputs, for the checks that take only the crate."""
    cache.write_json_atomic(
        _build_pointer(resolved.crate, resolved.build.variant),
        {
            "manifest": str(resolved.crate.manifest_path),
            "package": resolved.crate.package_name,
            "variant": resolved.build.variant,
            "artifacts_dir": str(resolved.layout.artifacts_dir.resolve()),
        },
    )


def previous_artifacts_dir(crate: cargo_lock.CrateManifest, variant: str | None) -> Path | None:
    """Where the crate's last build went, if it still holds that crate's build record."""
    recorded = cache.read_json(_build_pointer(crate, variant))
    if not isinstance(recorded, dict) or not isinstance(recorded.get("artifacts_dir"), str):
        return None
    artifacts = Path(recorded["artifacts_dir"])
    return artifacts if Layout(artifacts, crate.package_name, crate.lib_name).record_path.is_file() else None


def variant_artifacts_dir(variant: str, artifacts_dir: Path = DEFAULT_ARTIFACTS) -> Path:
    """Where a variant's build goes by default: its own artifacts tree, so it never replaces the default package."""
    return artifacts_dir / "variants" / variant


def resolve_policies(
    manifest_path: Path | None,
    overrides: Mapping[str, Path | None] = {},
    settings: cargo_lock.BuildSettings | None = None,
) -> Policies:
    """Each policy file: the command line's, else the crate's metadata (relative to the crate), else the packaged
    default. `manifest_path` None or missing: no crate to ask (a check given only a module)."""
    if settings is None:
        settings = (
            cargo_lock.read_settings(manifest_path)
            if manifest_path is not None and manifest_path.is_file()
            else cargo_lock.BuildSettings()
        )
    chosen: dict[str, Path | None] = {}
    for kind in POLICY_KINDS:
        given = overrides.get(kind)
        if given is not None:
            path, source = Path(given), "the command line"
        elif kind in settings.policies and manifest_path is not None:
            path = (manifest_path.resolve().parent / settings.policies[kind]).resolve()
            source = f"{manifest_path} [package.metadata.{cargo_lock.METADATA_TABLE}.policies] {kind}"
        else:
            chosen[kind] = PACKAGED_DEFAULTS[kind]
            continue
        if not path.is_file():
            raise ToolchainError(
                f"the {kind} policy file {path} (from {source}) does not exist",
                "fix the path, or remove it to use the toolchain's default",
            )
        chosen[kind] = path
    gating = chosen["gating"]
    assert gating is not None  # packaged
    return Policies(gating=gating, shims=chosen["shims"], tracing=chosen["tracing"], size_budget=chosen["size-budget"])


def _wasm_pack_compat(
    build: BuildOptions, crate: cargo_lock.CrateManifest
) -> tuple[BuildOptions, cargo_lock.CrateManifest]:
    """wasm-pack's [package.metadata.wasm-pack.profile.<profile>] for users coming from it: its wasm-opt
    passes (or false) apply when neither the command line nor our metadata sets wasm-opt; every other
    key is named in a warning, never dropped in silence."""
    s = crate.settings
    if not s.wasm_pack:
        return build, crate
    # wasm-pack's profiles are dev, profiling and release; a custom cargo profile reads release's
    profile_name = build.profile if build.profile in s.wasm_pack else "release"
    table = dict(s.wasm_pack.get(profile_name, {}))
    where = f"{crate.manifest_path} [package.metadata.{cargo_lock.WASM_PACK_TABLE}.profile.{profile_name}]"
    passes = table.pop("wasm-opt", None)
    if passes is not None and not build.wasm_opt_level and not s.wasm_opt:
        if passes is False:
            console.info(f"{where} wasm-opt = false: the wasm-opt stage is skipped, as wasm-pack would")
            build = replace(build, run_wasm_opt=False)
        elif isinstance(passes, list) and passes and all(isinstance(p, str) and p.startswith("-") for p in passes):
            console.info(f"{where} wasm-opt = {passes}: used, as wasm-pack would")
            crate = replace(crate, settings=replace(s, wasm_opt=tuple(passes)))
        elif passes is not True:
            raise ToolchainError(
                f"{where} wasm-opt = {passes!r} is neither a list of wasm-opt flags nor a boolean",
                'write e.g. wasm-opt = ["-Oz"], or false to skip wasm-opt',
            )
    elif passes is not None:
        console.info(
            f"{where} wasm-opt is overridden by the command line or [package.metadata.{cargo_lock.METADATA_TABLE}]"
        )
    if table:
        console.warn(
            f"{where}: {', '.join(sorted(table))} not applied by this toolchain (it always emits TypeScript "
            "declarations, keeps the names section for the checks and strips it from the shipped module)"
        )
    return build, crate


def resolve(
    build: BuildOptions,
    policy_overrides: Mapping[str, Path | None] = {},
    environ: Mapping[str, str] | None = None,
    previous: bool = False,
) -> Config:
    """The one configuration a command runs with; raises ToolchainError naming the key that is wrong.

    previous: a command that reads a build's outputs (the checks): with no artifacts directory given,
    take the one the crate's last build wrote to."""
    crate = cargo_lock.read_manifest(build.manifest_path, build.package)
    environment = Environment.from_environ(os.environ if environ is None else environ)
    variant_profile = None
    variant = build.variant
    if build.artifacts_dir is None:
        found = previous_artifacts_dir(crate, variant) if previous else None
        if found is not None:
            build = replace(build, artifacts_dir=found)
        else:
            base = default_artifacts_dir(crate)
            build = replace(build, artifacts_dir=variant_artifacts_dir(variant, base) if variant else base)
    if variant is not None:
        settings, variant_profile, features = crate.settings.for_variant(variant, str(crate.manifest_path))
        build = replace(
            build, cargo_features=[*build.cargo_features, *(f for f in features if f not in build.cargo_features)]
        )
        crate = replace(crate, settings=settings)
    build = replace(build, manifest_path=crate.manifest_path, profile=build.profile or variant_profile or "release")
    build, crate = _wasm_pack_compat(build, crate)
    if build.lock and environment.ci:
        raise ToolchainError(
            "--lock generates a Cargo.lock, and CI must build from the committed one",
            "run the build with --lock on a workstation, commit Cargo.lock, and drop --lock from CI",
        )
    assert build.artifacts_dir is not None
    config = Config(
        crate=crate,
        build=build,
        layout=Layout(build.artifacts_dir, crate.package_name, crate.lib_name),
        policies=resolve_policies(crate.manifest_path, policy_overrides, crate.settings),
        environment=environment,
    )
    validate(config.to_json(), "config", "the resolved configuration")
    return config
