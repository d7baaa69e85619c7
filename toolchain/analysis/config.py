"""One resolved configuration: the command line, the crate's [package.metadata.wasm-qe-toolchain],
the policy files and the environment, merged once, validated against config.schema.json, and handed
to every stage and check as typed objects (Config, BuildOptions, Policies, Environment).

Precedence, for every setting: the command line, then the crate's metadata table, then the
toolchain's default. Policy files named in the metadata are relative to the crate directory; the
defaults ship inside the package (analysis/policies/), so an installed toolchain run from any
directory checks a crate the same way a checkout does.
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
from toolchain.core import cache
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

    manifest_path: Path = DEFAULT_MANIFEST
    profile: str = ""  # the cargo profile; "": the variant's, else "release" (resolve() fills it in)
    # a named build variant of the crate (its metadata's variants.NAME): other settings, another
    # cargo profile, its own package directory (artifacts/variants/NAME/) and target directory
    variant: str | None = None
    run_wasm_opt: bool = True
    wasm_opt_level: str | None = None  # None: the crate's wasm-opt setting, else DEFAULT_WASM_OPT_LEVEL
    wasm_opt_provider: str = wasm_opt.AUTO  # an installed binaryen-wasm-opt wheel if usable, else npm
    artifacts_dir: Path = DEFAULT_ARTIFACTS
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
        return default_target_dir(self.crate.package_name, self.environment)

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
                "version": self.crate.version,
                "lib_name": self.crate.lib_name,
                "metadata": metadata,
            },
            "build": {
                "profile": b.profile,
                "variant": b.variant,
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


def default_target_dir(package_name: str, environment: Environment | None = None) -> Path:
    """$CARGO_TARGET_DIR, else one directory per crate in the tool cache, shared by every checkout on the
    machine so that a fresh clone does not recompile DataFusion (the build, wasm-test and checks agree)."""
    environment = environment or Environment.from_environ(os.environ)
    if environment.cargo_target_dir is not None:
        return environment.cargo_target_dir
    return environment.cache_root / "cargo-target" / package_name


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


def resolve(
    build: BuildOptions, policy_overrides: Mapping[str, Path | None] = {}, environ: Mapping[str, str] | None = None
) -> Config:
    """The one configuration a command runs with; raises ToolchainError naming the key that is wrong."""
    crate = cargo_lock.read_manifest(build.manifest_path)
    environment = Environment.from_environ(os.environ if environ is None else environ)
    variant_profile = None
    variant = build.variant
    if variant is not None:
        settings, variant_profile, features = crate.settings.for_variant(variant, str(crate.manifest_path))
        build = replace(
            build, cargo_features=[*build.cargo_features, *(f for f in features if f not in build.cargo_features)]
        )
        if build.artifacts_dir == DEFAULT_ARTIFACTS:
            build = replace(build, artifacts_dir=variant_artifacts_dir(variant))
        cargo_inputs = (settings.build_std_features, settings.rustflags)
        if (
            cargo_inputs != (crate.settings.build_std_features, crate.settings.rustflags)
            and build.target_dir is None
            and environment.cargo_target_dir is None
        ):
            # Other rustflags or std features invalidate every crate in a target directory: a variant
            # that changes them gets its own (keyed by them), so switching variants rebuilds nothing.
            key = hashlib.sha256(json.dumps(cargo_inputs).encode()).hexdigest()[:12]
            build = replace(build, target_dir=default_target_dir(f"{crate.package_name}@{key}", environment))
        crate = replace(crate, settings=settings)
    build = replace(build, manifest_path=crate.manifest_path, profile=build.profile or variant_profile or "release")
    config = Config(
        crate=crate,
        build=build,
        layout=Layout(build.artifacts_dir, crate.package_name, crate.lib_name),
        policies=resolve_policies(crate.manifest_path, policy_overrides, crate.settings),
        environment=environment,
    )
    validate(config.to_json(), "config", "the resolved configuration")
    return config
