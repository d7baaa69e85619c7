"""The rustflags cargo will use for a wasm32 build, read as cargo reads them (config files from the
working directory up, then CARGO_HOME; environment variables override), and cfg expressions
evaluated against them: what `cfg(...)` requirements of a crate see."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from toolchain.core.errors import ToolchainError
from toolchain.tools import rust

# A `name = "value"` cfg, as rustc --print cfg and --cfg write it.
_CFG = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*$')


# ---------------------------------------------------------------- rustflags (for cfg requirements)


@dataclass(frozen=True)
class RustFlags:
    flags: tuple[str, ...]
    source: str  # where cargo takes them from, for the report

    def cfgs(self) -> dict[str, list[str | None]]:
        """--cfg name="value" / --cfg name, in either spelling (`--cfg x` or `--cfg=x`)."""
        found: dict[str, list[str | None]] = {}
        values = []
        flags = list(self.flags)
        for i, flag in enumerate(flags):
            if flag == "--cfg" and i + 1 < len(flags):
                values.append(flags[i + 1])
            elif flag.startswith("--cfg="):
                values.append(flag[len("--cfg=") :])
        for value in values:
            match = _CFG.match(value)
            if match:
                found.setdefault(match.group(1), []).append(match.group(2))
            else:
                found.setdefault(value.strip(), []).append(None)
        return found


def config_files(cwd: Path, environ: dict[str, str]) -> list[Path]:
    """Cargo's config files, lowest precedence first: $CARGO_HOME, then cwd's ancestors down to cwd.

    Cargo looks from the directory it runs in, not the manifest's: the build runs cargo from the
    current directory with --manifest-path, so a .cargo/config.toml next to the crate is not read.
    """
    found = []
    for directory in [cwd, *cwd.parents]:
        for name in ("config.toml", "config"):
            candidate = directory / ".cargo" / name
            if candidate.is_file():
                found.append(candidate)
                break
    cargo_home = Path(environ.get("CARGO_HOME") or Path.home() / ".cargo")
    home_config = next((cargo_home / n for n in ("config.toml", "config") if (cargo_home / n).is_file()), None)
    if home_config and home_config not in found:
        found.append(home_config)
    return found[::-1]


def _flag_list(value, where: str) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ToolchainError(f"{where}: rustflags must be a string or a list of strings", "fix the cargo configuration")


def wasm_rustflags(cwd: Path, environ: dict[str, str], target_cfg: list[str]) -> RustFlags:
    """The rustflags cargo passes when building for wasm32, in cargo's order of precedence:
    CARGO_ENCODED_RUSTFLAGS, RUSTFLAGS, then target.<triple>/target.<cfg> rustflags (config files
    and CARGO_TARGET_<TRIPLE>_RUSTFLAGS, joined), then build.rustflags. `target_cfg` is the
    target's `rustc --print cfg`, for `[target.'cfg(...)']` keys."""
    if "CARGO_ENCODED_RUSTFLAGS" in environ:
        return RustFlags(
            tuple(f for f in environ["CARGO_ENCODED_RUSTFLAGS"].split("\x1f") if f), "CARGO_ENCODED_RUSTFLAGS"
        )
    if "RUSTFLAGS" in environ:
        return RustFlags(tuple(environ["RUSTFLAGS"].split()), "RUSTFLAGS")
    configs = []
    for path in config_files(cwd, environ):
        try:
            configs.append((path, tomllib.loads(path.read_text())))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ToolchainError(f"{path} is not valid TOML: {exc}", "fix the cargo configuration file") from exc
    target_flags, target_sources = [], []
    for path, data in configs:
        for key, table in (data.get("target") or {}).items():
            if not isinstance(table, dict) or "rustflags" not in table:
                continue
            if key == rust.WASM_TARGET or (key.startswith("cfg(") and cfg_matches(key, target_cfg)):
                target_flags += _flag_list(table["rustflags"], f"{path} [target.{key}]")
                target_sources.append(f"{path} [target.{key}]")
    env_key = f"CARGO_TARGET_{rust.WASM_TARGET.upper().replace('-', '_')}_RUSTFLAGS"
    if env_key in environ:
        target_flags += environ[env_key].split()
        target_sources.append(env_key)
    if target_sources:
        return RustFlags(tuple(target_flags), ", ".join(target_sources))
    if "CARGO_BUILD_RUSTFLAGS" in environ:
        return RustFlags(tuple(environ["CARGO_BUILD_RUSTFLAGS"].split()), "CARGO_BUILD_RUSTFLAGS")
    for path, data in reversed(configs):  # the nearest build.rustflags wins for a string; good enough here
        build = data.get("build") or {}
        if isinstance(build, dict) and "rustflags" in build:
            return RustFlags(tuple(_flag_list(build["rustflags"], f"{path} [build]")), f"{path} [build]")
    searched = f"no rustflags in {', '.join(str(p) for p, _ in configs)}" if configs else "no cargo config file"
    return RustFlags((), f"RUSTFLAGS and CARGO_ENCODED_RUSTFLAGS unset, {searched}")


_CFG_TOKEN = re.compile(r'\s*(?:([A-Za-z_][A-Za-z0-9_]*)|("(?:[^"\\]|\\.)*")|([(),=]))')


def cfg_matches(expression: str, target_cfg: list[str]) -> bool:
    """Evaluates `cfg(...)` against `rustc --print cfg` lines (name or name="value")."""
    tokens = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _CFG_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ToolchainError(f"cannot parse the cargo config key target.'{expression}'", "fix the cfg expression")
        tokens.append(match.group(1) or match.group(2) or match.group(3))
        position = match.end()
    facts = set(target_cfg)
    index = 0

    def take(expected: str | None = None) -> str:
        nonlocal index
        if index >= len(tokens) or (expected and tokens[index] != expected):
            raise ToolchainError(f"cannot parse the cargo config key target.'{expression}'", "fix the cfg expression")
        index += 1
        return tokens[index - 1]

    def predicate() -> bool:
        name = take()
        if name in ("all", "any", "not") and index < len(tokens) and tokens[index] == "(":
            take("(")
            values = []
            while tokens[index] != ")":
                values.append(predicate())
                if tokens[index] == ",":
                    take(",")
            take(")")
            if name == "not":
                return not values[0]
            return all(values) if name == "all" else any(values)
        if index < len(tokens) and tokens[index] == "=":
            take("=")
            return f"{name}={take()}" in facts
        return name in facts

    take("cfg")
    take("(")
    result = predicate()
    take(")")
    return result
