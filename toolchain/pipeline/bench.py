"""Measurements that inform choices: here, which wasm-opt provider to pin.

Each available provider optimises the same wasm-bindgen output with the same flags; wall time
and output sizes are recorded to a JSON file and printed as a table.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from toolchain.analysis import sizes
from toolchain.core import cache, console
from toolchain.core.errors import StageFailed, ToolchainError
from toolchain.pipeline import verify
from toolchain.tools import wasm_opt


def compare_wasm_opt_providers(
    input_wasm: Path, glue_js: Path, level: str, flags: list[str], providers: list[str], install: bool = False
) -> list[dict]:
    if not input_wasm.is_file():
        raise ToolchainError(
            f"no module at {input_wasm}", "run `nox -s build` first: the comparison uses its wasm-bindgen stage"
        )
    results = []
    for name in providers:
        try:
            optimizer = wasm_opt.ensure(name, install_missing=install)
        except ToolchainError as exc:
            console.warn(f"skipping provider {name}: {exc.what}")
            continue
        with tempfile.TemporaryDirectory() as scratch:
            output = Path(scratch) / "out.wasm"
            with console.stage(f"wasm-opt {level} with provider {name} (binaryen {optimizer.version})"):
                started = time.monotonic()
                wasm_opt.optimize(optimizer, input_wasm, output, [level], flags)
                elapsed = time.monotonic() - started
            measured = sizes.measure_bytes(output.read_bytes())
            try:
                verify.instantiate_in_node(glue_js, output)
                instantiates = True
            except StageFailed as exc:
                console.warn(f"provider {name}: {exc.what}")
                instantiates = False
        results.append(
            {
                "provider": name,
                "binaryen": optimizer.version,
                "level": level,
                "seconds": round(elapsed, 1),
                "instantiates": instantiates,
                **asdict(measured),
            }
        )
    return results


def format_results(results: list[dict]) -> str:
    lines = [
        f"{'provider':<8}  {'binaryen':>8}  {'seconds':>8}  {'works':>5}  {'raw':>10}  {'gzip':>10}  {'brotli':>10}"
    ]
    for r in results:
        works = "yes" if r["instantiates"] else "NO"
        lines.append(
            f"{r['provider']:<8}  {r['binaryen']:>8}  {r['seconds']:>8}  {works:>5}  {sizes.human(r['raw']):>10}  "
            f"{sizes.human(r['gzip']):>10}  {sizes.human(r['brotli']):>10}"
        )
    return "\n".join(lines)


def write_results(path: Path, input_wasm: Path, results: list[dict]) -> None:
    cache.write_json_atomic(
        path, {"input": str(input_wasm), "input_raw": input_wasm.stat().st_size, "results": results}
    )
