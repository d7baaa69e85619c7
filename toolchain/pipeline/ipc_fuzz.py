"""The native harness of the engine's IPC validator, crates/ipc-guard-fuzz (`nox -s fuzz`).

crates/datafusion-wasm/src/ipc_guard.rs runs before arrow-rs decodes untrusted Arrow IPC bytes in
the engine. The harness compiles that file natively, unchanged, and runs a seeded mutation fuzzer
over it: valid streams written by arrow-rs, mutated, validated, then decoded by the engine's
(patched) arrow-ipc inside catch_unwind. An input the validator accepts must never panic the
decoder (on wasm32 a panic kills the engine's instance). Native, because a fuzzer needs hundreds
of thousands of inputs a minute and wasm32 tests run in a browser.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from toolchain.core import cache, process
from toolchain.tools import patched_crates, rust

DEFAULT_MANIFEST = Path("crates/ipc-guard-fuzz/Cargo.toml")
DEFAULT_SECONDS = 120.0
DEFAULT_SAVE_DIR = Path("artifacts/ipc-guard-fuzz")
# The fuzzer's last line (src/bin/fuzz.rs).
SUMMARY = re.compile(
    r"^ipc-guard fuzz: (?P<inputs>\d+) inputs, (?P<accepted>\d+) accepted, (?P<rejected>\d+) rejected, "
    r"(?P<panics>\d+) panics after validation, (?P<seconds>[\d.]+) s, seed (?P<seed>\d+)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Summary:
    inputs: int
    accepted: int
    rejected: int
    panics: int
    seconds: float
    seed: int


def parse_summary(output: str) -> Summary | None:
    """The fuzzer's summary line, or None when it never printed one (it crashed or was killed)."""
    matches = list(SUMMARY.finditer(output))
    if not matches:
        return None
    m = matches[-1].groupdict()
    return Summary(
        int(m["inputs"]), int(m["accepted"]), int(m["rejected"]), int(m["panics"]), float(m["seconds"]), int(m["seed"])
    )


def target_dir() -> Path:
    """Shared by every checkout on the machine, as the other native crates' target directories."""
    return cache.cache_root() / "cargo-target" / "ipc-guard-fuzz"


def cargo_env(native: rust.NativeRust, target: Path | None = None) -> dict[str, str]:
    return {**native.env, "CARGO_TARGET_DIR": str(target or target_dir())}


def build(
    manifest: Path = DEFAULT_MANIFEST,
    install: bool = False,
    target: Path | None = None,
    bins: tuple[str, ...] = ("fuzz",),
) -> Path:
    """cargo build --release of the harness's executables (incremental); the directory they are in.

    fuzz: the mutation fuzzer; check: validator + decoder verdicts on a file of records."""
    native = rust.find_native(install=install)
    target = target or target_dir()
    patched_crates.prepare_for(manifest)  # the engine's patched arrow-ipc
    process.run(
        [native.cargo, "build", "--release", "--locked", *(f"--bin={b}" for b in bins), "--manifest-path", manifest],
        what="building the IPC fuzzer",
        env=cargo_env(native, target),
        fix=f"fix the compile errors above (ipc_guard.rs is compiled as is from crates/datafusion-wasm/src); "
        f"if Cargo.lock is out of date, run `cargo update --workspace` in {manifest.parent}",
    )
    return target / "release"


def fuzz_argv(
    executable: Path,
    seconds: float | None,
    seed: int,
    count: int | None = None,
    save_dir: Path | None = None,
    validate: bool = True,
) -> list[str]:
    argv = [str(executable), "--seed", str(seed)]
    if seconds is not None:
        argv += ["--seconds", f"{seconds:g}"]
    if count is not None:
        argv += ["--count", str(count)]
    if save_dir is not None:
        argv += ["--save", str(save_dir)]
    if not validate:
        argv.append("--no-validate")
    return argv


def random_seed() -> int:
    return secrets.randbelow(1_000_000_000)


def run(argv: list[str]) -> tuple[int, Summary | None]:
    """Runs the fuzzer with its output streamed line by line (as CI logs want it); exit status and summary."""
    result = process.stream(argv, what="the IPC fuzzer", fix="build it: python -m toolchain fuzz", keep=5)
    return result.returncode, parse_summary(result.stdout)
