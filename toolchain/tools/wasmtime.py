"""wasmtime as a library (PyPI `wasmtime`, pinned): engines for each compiler strategy and sandbox
profile, validation, compile + serialize, deserialize.

Facts this module lives with (../shared/UDF_NOTES.md, measured on 50.0.1):
- `Config.strategy` accepts only "auto" and "cranelift"; the C API's enum value 2 is Winch, set
  here through the raw ffi. Pulley is Cranelift with the `pulley64` target.
- Setting a foreign *native* target (aarch64 on an x86_64 host) aborts the whole process: the
  wheel's C library has other backends compiled out. Cross-compiling is the wasmtime CLI's job
  (tools/wasmtime_cli.py); `compile_serialize` refuses it instead of crashing.
- Deserializing checks the artifact's engine settings (version, target, CPU flags, fuel, epoch
  interruption, Winch calling convention) and raises on any mismatch; it never runs a mismatch.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from toolchain.core.errors import MissingTool, ToolchainError, WrongVersion

VERSION = "50.0.1"  # the PyPI wasmtime this toolchain is tested with; pyproject.toml pins it
STRATEGIES = ("cranelift", "winch", "pulley")
PULLEY_TARGET = "pulley64"
_WINCH = 2  # wasmtime_strategy_t: 0 auto, 1 cranelift, 2 winch


def host_target() -> str:
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    return f"{arch}-unknown-linux-gnu"


@dataclass(frozen=True)
class EngineSettings:
    """Everything that makes a compiled artifact loadable into an engine, besides the module."""

    strategy: str = "cranelift"  # cranelift | winch | pulley
    target: str | None = None  # None: this host, with its CPU features inferred
    fuel: bool = False  # Config.consume_fuel: deterministic CPU limits
    epoch: bool = False  # Config.epoch_interruption: wall-clock deadlines

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ToolchainError(f"unknown compiler strategy {self.strategy!r}", f"use one of {', '.join(STRATEGIES)}")

    @property
    def effective_target(self) -> str:
        if self.strategy == "pulley":
            return PULLEY_TARGET
        return self.target or host_target()

    @property
    def profile(self) -> str:
        """The sandbox profile's name: plain, fuel, epoch or fuel+epoch."""
        parts = [name for name, on in (("fuel", self.fuel), ("epoch", self.epoch)) if on]
        return "+".join(parts) or "plain"


def module_api() -> Any:
    """The `wasmtime` package, at the pinned version."""
    try:
        import wasmtime
    except ImportError as exc:
        raise MissingTool(
            "the Python package `wasmtime` is not installed",
            f"pip install wasmtime=={VERSION} (it is a dependency of this toolchain: reinstall it)",
        ) from exc
    from importlib.metadata import version

    found = version("wasmtime")
    if found != VERSION:
        raise WrongVersion(
            f"wasmtime {found} is installed; precompiled artifacts are tied to one exact version and this "
            f"toolchain uses {VERSION}",
            f"pip install wasmtime=={VERSION}",
        )
    return wasmtime


def make_config(settings: EngineSettings) -> Any:
    wasmtime = module_api()
    config = wasmtime.Config()
    if settings.strategy == "winch":
        from wasmtime import _ffi

        _ffi.wasmtime_config_strategy_set(config.ptr(), _WINCH)
    else:
        config.strategy = "cranelift"
    if settings.strategy == "pulley":
        config.target = PULLEY_TARGET
    elif settings.target is not None:
        if settings.target != host_target():
            raise ToolchainError(
                f"wasmtime-py cannot compile for {settings.target} (its library has only this host's backend, "
                "and asking for another aborts the process)",
                "cross-compile with the wasmtime CLI: toolchain.tools.wasmtime_cli.compile",
            )
        config.target = settings.target
    config.consume_fuel = settings.fuel
    config.epoch_interruption = settings.epoch
    return config


def make_engine(settings: EngineSettings | None = None) -> Any:
    return module_api().Engine(make_config(settings or EngineSettings()))


def validation_problem(data: bytes) -> str | None:
    """Why wasmtime refuses the module (structure and types, with its default features), or None."""
    wasmtime = module_api()
    try:
        wasmtime.Module.validate(make_engine(), data)
    except wasmtime.WasmtimeError as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid module"
    return None


def compile_serialize(settings: EngineSettings, data: bytes) -> bytes:
    """Compiles a module for `settings` and returns the artifact's bytes (a .cwasm ELF)."""
    wasmtime = module_api()
    engine = make_engine(settings)
    return bytes(wasmtime.Module(engine, data).serialize())


def deserialize(settings: EngineSettings, artifact: bytes, engine: Any = None) -> Any:
    """Loads an artifact into an engine made for `settings` (or the one given). Raises
    wasmtime.WasmtimeError when the artifact was made for other settings."""
    wasmtime = module_api()
    return wasmtime.Module.deserialize(engine or make_engine(settings), artifact)
