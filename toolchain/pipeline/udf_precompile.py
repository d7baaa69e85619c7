"""`udf precompile MODULE`: ahead-of-time native code for each (target, compiler strategy, sandbox
profile), through a content-addressed cache.

Targets: x86_64 and aarch64 at their baseline CPU (an artifact runs on every machine of that
architecture), `host` (this machine's CPU features, fastest here, nowhere else), and pulley64
(wasmtime's portable interpreter: one artifact for every architecture). Strategies: Cranelift
(optimising), Winch (baseline compiler: fast to compile, slower code), Pulley. Profiles: which
of fuel and epoch interruption the host engine enables; deserialize refuses a mismatch, so a
host that meters fuel needs the fuel artifact.

The cache key holds everything that makes an artifact loadable (UDF_NOTES.md): the module's
sha256, the wasmtime version and the CLI's features, target, strategy, CPU features (baseline, or
a hash of this host's), fuel and epoch. Each entry stores its sha256; a hit is re-hashed and its
ELF header re-read, and an entry that fails either is reported, deleted and rebuilt, never loaded.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from toolchain.analysis import cwasm
from toolchain.core import cache, console
from toolchain.core.errors import ToolchainError
from toolchain.tools import wasmtime as wt
from toolchain.tools import wasmtime_cli

NATIVE_TARGETS = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}
TARGETS = (*NATIVE_TARGETS, "host")
PROFILES = {"plain": (False, False), "fuel": (True, False), "epoch": (False, True), "fuel+epoch": (True, True)}
DEFAULT_TARGETS = ("x86_64", "aarch64")
DEFAULT_STRATEGIES = ("cranelift", "winch", "pulley")
DEFAULT_PROFILES = ("plain", "fuel")
ENTRY_VERSION = 1


@dataclass(frozen=True)
class ArtifactSpec:
    target: str  # x86_64 | aarch64 | host | pulley64
    strategy: str  # cranelift | winch | pulley
    profile: str  # plain | fuel | epoch | fuel+epoch

    @property
    def settings(self) -> wt.EngineSettings:
        fuel, epoch = PROFILES[self.profile]
        triple = None if self.target in ("host", wt.PULLEY_TARGET) else NATIVE_TARGETS[self.target]
        return wt.EngineSettings(strategy=self.strategy, target=triple, fuel=fuel, epoch=epoch)

    @property
    def file_name(self) -> str:
        return f"{self.target}-{self.strategy}-{self.profile}.cwasm"

    @property
    def architecture(self) -> str:
        if self.target == wt.PULLEY_TARGET:
            return wt.PULLEY_TARGET
        if self.target == "host":
            return wt.host_target().split("-")[0]
        return self.target

    def loads_here(self) -> bool:
        """Whether this machine can run (so deserialize) the artifact."""
        return self.architecture in (wt.PULLEY_TARGET, wt.host_target().split("-")[0])

    def host_settings(self) -> wt.EngineSettings:
        """The settings of a wasmtime-py engine on this machine that loads the artifact."""
        fuel, epoch = PROFILES[self.profile]
        return wt.EngineSettings(strategy=self.strategy, fuel=fuel, epoch=epoch)


def matrix(
    targets: tuple[str, ...] = DEFAULT_TARGETS,
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES,
    profiles: tuple[str, ...] = DEFAULT_PROFILES,
) -> list[ArtifactSpec]:
    """Every artifact asked for; Pulley is one portable target whatever the native targets."""
    for name, given, known in (
        ("target", targets, TARGETS),
        ("strategy", strategies, wt.STRATEGIES),
        ("profile", profiles, tuple(PROFILES)),
    ):
        unknown = [g for g in given if g not in known]
        if unknown:
            raise ToolchainError(f"unknown {name} {', '.join(unknown)}", f"choose from {', '.join(known)}")
    specs = []
    for profile in profiles:
        for strategy in strategies:
            if strategy == "pulley":
                specs.append(ArtifactSpec(wt.PULLEY_TARGET, strategy, profile))
            else:
                specs += [ArtifactSpec(target, strategy, profile) for target in targets]
    return specs


@dataclass(frozen=True)
class Precompiled:
    spec: ArtifactSpec
    path: Path  # in the cache
    key: str
    sha256: str
    size: int
    seconds: float  # compile time; for a hit, the time to verify and reuse it
    cache_hit: bool
    header: cwasm.ArtifactHeader


def cache_dir() -> Path:
    return cache.cache_root() / "udf-precompiled"


def host_cpu_features() -> str:
    """A hash of this machine's CPU flags: the key of `host` artifacts (baseline ones do not need it)."""
    try:
        flags = next(
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith(("flags", "Features"))
        )
    except (OSError, StopIteration):
        flags = platform.processor()
    return hashlib.sha256(flags.encode()).hexdigest()[:16]


def artifact_key(module_sha256: str, spec: ArtifactSpec) -> str:
    settings = spec.settings
    return cache.cache_key(
        entry=ENTRY_VERSION,
        module=module_sha256,
        wasmtime=wt.VERSION,
        cli_features=list(wasmtime_cli.FEATURES),
        target=settings.effective_target,
        strategy=settings.strategy,
        cpu=host_cpu_features() if spec.target == "host" else "baseline",
        fuel=settings.fuel,
        epoch=settings.epoch,
    )


def entry_problem(entry: Path, spec: ArtifactSpec) -> str | None:
    """Why a cache entry cannot be used, or None. Reads the bytes; never loads them."""
    record = cache.read_json(entry / "entry.json")
    artifact = entry / "artifact.cwasm"
    if not isinstance(record, dict) or not artifact.is_file():
        return "its record or its artifact is missing"
    data = artifact.read_bytes()
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        return "its sha256 does not match the one recorded (the file was changed or damaged)"
    try:
        header = cwasm.read_header(data)
    except cwasm.NotAnArtifact as exc:
        return str(exc)
    if header.architecture != spec.architecture.replace("pulley64", "pulley64"):
        return f"it is compiled for {header.triple}, not {spec.architecture}"
    if header.version != wt.VERSION.split(".")[0] or record.get("wasmtime") != wt.VERSION:
        return f"it was compiled by wasmtime {record.get('wasmtime')} (engine {header.version}), not {wt.VERSION}"
    return None


def write_entry_record(
    directory: Path, key: str, spec: ArtifactSpec, data: bytes, seconds: float, made_by: str
) -> None:
    """entry.json of a cache entry whose artifact.cwasm holds `data`: what entry_problem checks."""
    cache.write_json_atomic(
        directory / "entry.json",
        {
            "key": key,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "wasmtime": wt.VERSION,
            "target": cwasm.read_header(data).triple,
            "strategy": spec.strategy,
            "profile": spec.profile,
            "compile_seconds": round(seconds, 3),
            "made_by": made_by,
        },
    )


def _compile_entry(cli: wasmtime_cli.WasmtimeCli, module: Path, spec: ArtifactSpec, key: str, final: Path) -> float:
    def populate(directory: Path) -> None:
        artifact = directory / "artifact.cwasm"
        wasmtime_cli.compile(cli, spec.settings, module, artifact)
        data = artifact.read_bytes()
        header = cwasm.read_header(data)
        if header.architecture != spec.architecture:
            raise ToolchainError(
                f"wasmtime compile wrote a {header.triple} artifact for {spec.file_name}", "a bug: report it"
            )
        if spec.loads_here():
            # Proves the artifact is compatible with this host's wasmtime-py before anyone relies on it.
            wt.deserialize(spec.host_settings(), data)
        write_entry_record(directory, key, spec, data, time.monotonic() - started, "wasmtime compile (CLI)")

    started = time.monotonic()
    cache.install_dir_atomically(final, populate)
    return time.monotonic() - started


def precompile(
    module: Path, specs: list[ArtifactSpec], install: bool = True, cache_root: Path | None = None
) -> list[Precompiled]:
    """Each artifact of `module`, from the cache (default: cache_dir()) or compiled into it."""
    if not module.is_file():
        raise ToolchainError(f"no module at {module}", "build it first: `nox -s udf -- build PATH`")
    module_sha = cache.file_sha256(module)
    cli: wasmtime_cli.WasmtimeCli | None = None
    results = []
    for spec in specs:
        key = artifact_key(module_sha, spec)
        entry = (cache_root or cache_dir()) / key
        started = time.monotonic()
        hit = False
        if entry.exists():
            problem = entry_problem(entry, spec)
            if problem is None:
                hit = True
            else:
                console.warn(
                    f"precompiled cache entry for {module.name} {spec.file_name} is unusable ({problem}): rebuilding it"
                )
                shutil.rmtree(entry)
        if not hit:
            cli = cli or wasmtime_cli.ensure(install_missing=install)
            _compile_entry(cli, module, spec, key, entry)
        artifact = entry / "artifact.cwasm"
        data = artifact.read_bytes()
        seconds = time.monotonic() - started
        results.append(
            Precompiled(
                spec, artifact, key, hashlib.sha256(data).hexdigest(), len(data), seconds, hit, cwasm.read_header(data)
            )
        )
        console.info(
            f"{spec.file_name}: {len(data):,} bytes, {'cache hit' if hit else 'compiled'} in {seconds * 1000:.0f} ms"
        )
    return results
