"""The reference UDF host: deploys a bundle (udf_bundle) and serves its functions, with a hybrid
start, sandbox limits and an observable timeline (seed 004, strategy 4).

Hybrid start, in order:
1. the bundle has a precompiled Cranelift artifact for this machine and these engine settings:
   its bytes are hashed against the manifest, its header read, then deserialized (milliseconds);
2. else this host's native-code cache has one (the precompile cache, keyed like it): loaded;
3. else a fast tier (Winch by default: a baseline compiler; or Pulley, the interpreter) is
   compiled and serves at once, while Cranelift compiles in a background thread (wasmtime-py's
   compile runs in C without the GIL); the host switches at the next call boundary (a batch is
   never split between tiers, so no row is dropped or repeated), and stores the optimized code in
   the cache for the next deployment.
Every step is an Event (seconds since the deployment started): the tests read the timeline.

Sandbox, per call (a batch is one call): fuel (deterministic CPU budget) and/or an epoch deadline
(wall clock; a ticker thread advances the engines' epochs), a memory limit (memory.grow fails past
it), one instance, one memory, one table. A call that traps or runs out of budget fails alone: its
instance is discarded and the next call gets a fresh one; other functions keep being served.
Nothing is loaded that the bundle's checksums and the artifact's header and settings do not vouch
for: deserialize checks the settings and refuses a mismatch, and the bytes are hashed first.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolchain.analysis import cwasm, udf_validate, wasm_module
from toolchain.core import cache
from toolchain.core.errors import ToolchainError
from toolchain.pipeline import udf_bundle, udf_call, udf_precompile
from toolchain.tools import wasmtime as wt

FAST_TIERS = ("winch", "pulley")


class BundleRefused(ToolchainError):
    """A bundle whose checksums, manifest or module do not hold: nothing of it is loaded."""

    title = "UDF bundle refused"


class LimitExceeded(udf_call.UdfCallError):
    """A call stopped by a sandbox limit (fuel, deadline, memory); its instance is discarded."""

    title = "UDF limit exceeded"


@dataclass(frozen=True)
class Limits:
    fuel: int | None = 10_000_000_000  # wasm instructions (roughly) per call; None: not metered
    deadline_ms: int | None = None  # wall-clock per call, through epochs; None: none
    memory_bytes: int = 256 * 2**20  # linear memory the instance may reach
    epoch_tick_ms: int = 5

    @property
    def profile(self) -> str:
        parts = [name for name, on in (("fuel", self.fuel is not None), ("epoch", self.deadline_ms is not None)) if on]
        return "+".join(parts) or "plain"

    def settings(self, strategy: str) -> wt.EngineSettings:
        return wt.EngineSettings(strategy=strategy, fuel=self.fuel is not None, epoch=self.deadline_ms is not None)


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the deployment started
    kind: str  # artifact, artifact-refused, cache-hit, fast-tier-ready, optimizing, optimized-ready, switch, ...
    detail: str = ""


class ArrowRow(Mapping):
    """One row of a pyarrow RecordBatch or Table as a document (field name -> Python value)."""

    def __init__(self, batch: Any, row: int):
        self._batch = batch
        self._row = row

    def __getitem__(self, key: str) -> Any:
        try:
            column = self._batch.column(key)
        except KeyError:
            raise KeyError(key) from None
        return column[self._row].as_py()

    def __iter__(self) -> Iterator[str]:
        return iter(self._batch.schema.names)

    def __len__(self) -> int:
        return len(self._batch.schema.names)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._batch.schema.names


@dataclass
class _Tier:
    name: str  # "cranelift (bundle)", "winch", ...
    module: udf_call.UdfModule


@dataclass
class Deployment:
    """One bundle's functions, served by this host."""

    directory: Path
    limits: Limits
    manifest: dict
    functions: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    _started: float = 0.0
    _tier: _Tier | None = None
    _optimized: _Tier | None = None
    _instance: udf_call.UdfInstance | None = None
    _compiler: threading.Thread | None = None
    _ticker: threading.Thread | None = None
    _closing: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    calls: int = 0
    last_tier: str = ""  # the tier that served the last call

    # ------------------------------------------------------------ timeline

    def event(self, kind: str, detail: str = "") -> None:
        with self._lock:
            self.events.append(Event(round(time.monotonic() - self._started, 6), kind, detail))

    @property
    def tier(self) -> str:
        return self._tier.name if self._tier else "none"

    def wait_optimized(self, timeout: float = 120.0) -> bool:
        """Waits for the background compile (if any); True when the optimizing tier is ready."""
        if self._compiler is not None:
            self._compiler.join(timeout)
        return self._optimized is not None or self.tier.startswith("cranelift")

    def close(self) -> None:
        self._closing.set()
        if self._ticker is not None:
            self._ticker.join(1)

    # ------------------------------------------------------------ calls

    def _current_instance(self) -> udf_call.UdfInstance:
        if self._optimized is not None and self._tier is not self._optimized:
            previous = self.tier
            self._tier = self._optimized
            self._instance = None
            self.event("switch", f"{previous} -> {self._tier.name} before call {self.calls + 1}")
        if self._instance is None or self._instance.lost:
            assert self._tier is not None
            self._instance = self._tier.module.instantiate(
                fuel=self.limits.fuel,
                epoch_deadline=self._deadline_ticks(),
                memory_limit=self.limits.memory_bytes,
            )
        return self._instance

    def _deadline_ticks(self) -> int | None:
        if self.limits.deadline_ms is None:
            return None
        return max(1, -(-self.limits.deadline_ms // self.limits.epoch_tick_ms))

    def _run(self, call) -> Any:
        instance = self._current_instance()
        if self.limits.fuel is not None:
            instance.store.set_fuel(self.limits.fuel)
        if self.limits.deadline_ms is not None:
            instance.store.set_epoch_deadline(self._deadline_ticks())
        self.calls += 1
        self.last_tier = self.tier
        try:
            result = call(instance)
            if self.calls == 1:
                self.event("first-result", self.tier)
            return result
        except udf_call.UdfCallError as exc:
            if instance.lost:
                self._instance = None  # never called again; the next call instantiates afresh
                self.event("instance-discarded", instance.lost)
                raise self._classify(instance.lost) from exc
            raise

    def _classify(self, trap: str) -> udf_call.UdfCallError:
        lowered = trap.lower()
        if "fuel" in lowered:
            return LimitExceeded(
                f"the call ran out of its CPU budget ({self.limits.fuel:,} fuel): {trap}",
                "raise Limits.fuel, or fix the loop in the UDF; the instance was discarded",
            )
        if "interrupt" in lowered or "epoch" in lowered:
            return LimitExceeded(
                f"the call passed its deadline ({self.limits.deadline_ms} ms): {trap}",
                "raise Limits.deadline_ms, or make the UDF faster; the instance was discarded",
            )
        if "stack" in lowered:
            return LimitExceeded(
                f"the call overflowed the wasm stack: {trap}", "the UDF recurses too deep; the instance was discarded"
            )
        return udf_call.UdfCallError(
            f"the UDF trapped: {trap} (memory limit {self.limits.memory_bytes // 2**20} MiB)",
            "a bug in the UDF or a limit hit (an allocation past the memory limit traps in most SDKs); "
            "the instance was discarded, the next call gets a fresh one",
        )

    def call_batch(self, function: str, columns: list[Any]) -> udf_call.BatchResult:
        return self._run(lambda instance: instance.call_batch(function, columns))

    def call_document(self, function: str, document: Mapping) -> Any:
        return self._run(lambda instance: instance.call_document(function, document))

    def call_scalar(self, function: str, *args: Any) -> Any:
        return self._run(lambda instance: instance.call_scalar(function, *args))


def _host_architecture() -> str:
    return wt.host_target().split("-")[0]


def _policy_of(manifest: dict) -> udf_validate.Policy:
    limits = manifest.get("policy", {})
    return udf_validate.Policy(
        max_memory_pages=int(limits.get("max_memory_pages", 4096)),
        max_module_bytes=int(limits.get("max_module_bytes", 16 * 2**20)),
        allowed_imports=frozenset(limits.get("allowed_imports", [])),
        source="the bundle's manifest",
    )


def _module_of(
    engine: Any, compiled: Any, functions: list, wasi: bool, settings: wt.EngineSettings
) -> udf_call.UdfModule:
    return udf_call.UdfModule(engine, compiled, functions, wasi, settings)


def deploy(
    directory: Path,
    limits: Limits | None = None,
    fast_tier: str = "winch",
    cache_root: Path | None = None,
    use_artifacts: bool = True,
    use_cache: bool = True,
    hold_optimizer: threading.Event | None = None,
) -> Deployment:
    """Verifies a bundle and starts serving it (see the module's docstring for the order).
    hold_optimizer: the background compile waits for it to be set (tests make the timeline
    deterministic with it; a real host leaves it None)."""
    limits = limits or Limits()
    if fast_tier not in FAST_TIERS:
        raise ToolchainError(f"unknown fast tier {fast_tier!r}", f"choose {', '.join(FAST_TIERS)}")
    started = time.monotonic()
    problems = udf_bundle.verify(directory)
    if problems:
        raise BundleRefused(
            f"the bundle {directory} does not verify: {'; '.join(problems[:5])}",
            "rebuild it with `nox -s udf -- bundle`; never load a bundle whose checksums do not match",
        )
    manifest = cache.read_json(directory / udf_bundle.MANIFEST)
    assert isinstance(manifest, dict)
    module_path = directory / manifest["module"]["file"]
    module_bytes = module_path.read_bytes()
    module_sha = hashlib.sha256(module_bytes).hexdigest()
    if module_sha != manifest["module"]["sha256"]:
        raise BundleRefused(f"{module_path.name} changed after the bundle was verified", "redeploy")
    policy = _policy_of(manifest)
    validation = udf_validate.validate_policy(module_path, policy)
    if not validation.ok:
        first = validation.problems[0]
        raise BundleRefused(f"{module_path.name} breaks [{first.rule}] {first.subject}: {first.problem}", first.fix)
    wasi = any(i.module.startswith("wasi") for i in wasm_module.parse(module_path).imports)
    deployment = Deployment(directory, limits, manifest, {s.name: s for s in validation.functions}, _started=started)
    deployment.event("verified", f"{len(problems)} problems; module {module_sha[:12]}")
    optimized = limits.settings("cranelift")
    wasmtime = wt.module_api()

    def serve(name: str, engine: Any, compiled: Any, settings: wt.EngineSettings) -> None:
        deployment._tier = _Tier(name, _module_of(engine, compiled, validation.functions, wasi, settings))

    # 1. a precompiled artifact of the bundle
    if use_artifacts:
        for entry in manifest["precompiled"]:
            engine_settings = entry["engine"]
            if (
                entry["architecture"] != _host_architecture()
                or entry.get("cpu_features") != "baseline"
                or engine_settings["strategy"] != "cranelift"
                or engine_settings["consume_fuel"] != optimized.fuel
                or engine_settings["epoch_interruption"] != optimized.epoch
            ):
                continue
            data = (directory / entry["file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                deployment.event("artifact-refused", f"{entry['file']}: checksum mismatch")
                continue
            try:
                cwasm.read_header(data)
                engine = wt.make_engine(optimized)
                compiled = wt.deserialize(optimized, data, engine)
            except (cwasm.NotAnArtifact, wasmtime.WasmtimeError) as exc:
                deployment.event("artifact-refused", f"{entry['file']}: {exc}")
                continue
            serve("cranelift (bundle artifact)", engine, compiled, optimized)
            deployment.event("artifact", entry["file"])
            break

    # 2. this host's native-code cache
    spec = udf_precompile.ArtifactSpec("host", "cranelift", limits.profile)
    key = udf_precompile.artifact_key(module_sha, spec)
    entry_dir = (cache_root or udf_precompile.cache_dir()) / key
    if deployment._tier is None and use_cache and entry_dir.is_dir():
        problem = udf_precompile.entry_problem(entry_dir, spec)
        if problem is None:
            engine = wt.make_engine(optimized)
            try:
                compiled = wt.deserialize(optimized, (entry_dir / "artifact.cwasm").read_bytes(), engine)
                serve("cranelift (cache)", engine, compiled, optimized)
                deployment.event("cache-hit", key[:16])
            except wasmtime.WasmtimeError as exc:
                deployment.event("cache-refused", str(exc))
        else:
            deployment.event("cache-refused", problem)

    # 3. a fast tier now, Cranelift in the background
    if deployment._tier is None:
        fast = limits.settings(fast_tier)
        engine = wt.make_engine(fast)
        t = time.monotonic()
        compiled = wasmtime.Module(engine, module_bytes)
        serve(fast_tier, engine, compiled, fast)
        deployment.event("fast-tier-ready", f"{fast_tier} compiled in {(time.monotonic() - t) * 1000:.1f} ms")

        def optimize() -> None:
            if hold_optimizer is not None:
                hold_optimizer.wait()
            deployment.event("optimizing", "cranelift")
            engine = wt.make_engine(optimized)
            t = time.monotonic()
            compiled = wasmtime.Module(engine, module_bytes)
            seconds = time.monotonic() - t
            if use_cache:
                _store_in_cache(entry_dir, key, spec, bytes(compiled.serialize()), seconds)
            deployment._optimized = _Tier(
                "cranelift (compiled here)", _module_of(engine, compiled, validation.functions, wasi, optimized)
            )
            deployment.event("optimized-ready", f"cranelift compiled in {seconds * 1000:.1f} ms")

        deployment._compiler = threading.Thread(target=optimize, name="udf-optimize", daemon=True)
        deployment._compiler.start()

    if limits.deadline_ms is not None:
        deployment._ticker = threading.Thread(target=_tick, args=(deployment,), name="udf-epochs", daemon=True)
        deployment._ticker.start()
    return deployment


def _tick(deployment: Deployment) -> None:
    """Advances the epoch of every engine the deployment uses, every tick."""
    while not deployment._closing.wait(deployment.limits.epoch_tick_ms / 1000):
        for tier in (deployment._tier, deployment._optimized):
            if tier is not None:
                tier.module.engine.increment_epoch()


def _store_in_cache(entry_dir: Path, key: str, spec: udf_precompile.ArtifactSpec, data: bytes, seconds: float) -> None:
    """Writes an in-process compile into the precompile cache, in its entry format."""
    if entry_dir.exists():
        return

    def populate(directory: Path) -> None:
        (directory / "artifact.cwasm").write_bytes(data)
        udf_precompile.write_entry_record(directory, key, spec, data, seconds, "the reference host (wasmtime-py)")

    # Another deployment may write it first, or the cache be read-only: serving goes on.
    with contextlib.suppress(OSError):
        cache.install_dir_atomically(entry_dir, populate)
