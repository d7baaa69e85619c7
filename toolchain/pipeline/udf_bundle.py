"""`udf bundle`: one deployable directory (and the same as one .tar.gz) per UDF module:

    <name>.udfbundle/
      <name>.wasm                      the module (validated)
      precompiled/<target>-<strategy>-<profile>.cwasm
      manifest.json                    functions, ABI, hashes, and per artifact the wasmtime version
                                       and engine settings a host needs to load it
      SHA256SUMS                       every other file (`sha256sum -c SHA256SUMS` verifies it)

Reproducible: the same module and toolchain give the same bytes (no times, sorted JSON, a tar with
fixed owners, modes and mtime, gzip without a timestamp). Written beside the final place and
renamed into it: a failed bundle leaves the previous one intact.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from toolchain.analysis import udf_validate
from toolchain.core import cache, checksums, console
from toolchain.core.errors import CheckFailed, ToolchainError
from toolchain.core.layout import DEFAULT_ARTIFACTS, UdfLayout
from toolchain.pipeline import udf_precompile
from toolchain.tools import wasmtime as wt

BUNDLE_FORMAT = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
PRECOMPILED = "precompiled"


@dataclass(frozen=True)
class BundleOptions:
    module: Path  # a built UDF module (artifacts/udf/<name>/<name>.wasm)
    specs: tuple[udf_precompile.ArtifactSpec, ...]
    artifacts_dir: Path = DEFAULT_ARTIFACTS
    policy: Path | None = None
    name: str | None = None  # default: the module's file name without .wasm


@dataclass(frozen=True)
class Bundle:
    directory: Path
    archive: Path
    manifest: dict
    precompiled: tuple[udf_precompile.Precompiled, ...]


def _manifest(
    name: str, module: Path, validation: udf_validate.Validation, artifacts: list[udf_precompile.Precompiled]
) -> dict:
    abis = sorted({spec.abi for spec in validation.functions})
    return {
        "bundle_format": BUNDLE_FORMAT,
        "name": name,
        "abi": abis[0] if len(abis) == 1 else abis,
        "module": {"file": f"{name}.wasm", "sha256": cache.file_sha256(module), "bytes": module.stat().st_size},
        "functions": [spec.to_json() for spec in validation.functions],
        "policy": {
            "max_memory_pages": validation.policy.max_memory_pages,
            "max_module_bytes": validation.policy.max_module_bytes,
            "allowed_imports": sorted(validation.policy.allowed_imports),
        },
        "precompiled": [
            {
                "file": f"{PRECOMPILED}/{a.spec.file_name}",
                "sha256": a.sha256,
                "bytes": a.size,
                "target": a.header.triple,
                "architecture": a.spec.architecture,
                "cpu_features": "host" if a.spec.target == "host" else "baseline",
                "engine": {
                    "wasmtime": wt.VERSION,
                    "strategy": a.spec.strategy,
                    "consume_fuel": a.spec.settings.fuel,
                    "epoch_interruption": a.spec.settings.epoch,
                },
            }
            for a in artifacts
        ],
    }


def _tar(directory: Path, archive: Path) -> None:
    """A reproducible .tar.gz of `directory` (entries sorted, owner 0, mode 0644/0755, mtime 0)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory.parent).as_posix()
            info = tarfile.TarInfo(relative)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                data = path.read_bytes()
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    temporary = archive.with_name(archive.name + ".tmp")
    with (
        temporary.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(buffer.getvalue())
    temporary.replace(archive)


def bundle(options: BundleOptions) -> Bundle:
    module = options.module
    if not module.is_file():
        raise ToolchainError(f"no module at {module}", "build it first: `nox -s udf -- build PATH`")
    name = options.name or module.stem
    layout = UdfLayout(options.artifacts_dir, name)
    validation = udf_validate.validate(module, options.policy)
    if not validation.ok:
        raise CheckFailed(
            f"{module} breaks {len(validation.problems)} rule(s) of the UDF ABI; a bundle is only made of valid modules",
            f"run `nox -s udf -- validate {module}` for the list",
        )
    with console.stage(f"udf bundle {name} ({len(options.specs)} precompiled artifacts)"):
        artifacts = udf_precompile.precompile(module, list(options.specs))
        final = layout.bundle_dir
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = cache.make_temp_dir(final.parent, f".{final.name}.partial-")
        try:
            shutil.copyfile(module, staging / f"{name}.wasm")
            (staging / PRECOMPILED).mkdir()
            for artifact in artifacts:
                shutil.copyfile(artifact.path, staging / PRECOMPILED / artifact.spec.file_name)
            manifest = _manifest(name, module, validation, artifacts)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            names = [p.relative_to(staging).as_posix() for p in sorted(staging.rglob("*")) if p.is_file()]
            (staging / SUMS).write_text(checksums.sha256sums_text(staging, names))
            problems = checksums.verify_sha256sums(staging / SUMS)
            if problems:
                raise ToolchainError(f"the bundle's checksums do not verify: {problems}", "a bug: report it")
            for path in staging.rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
            if final.exists():
                shutil.rmtree(final)
            staging.replace(final)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        _tar(final, layout.bundle_archive)
    console.info(f"bundle: {final} ({sum(p.stat().st_size for p in final.rglob('*') if p.is_file()):,} bytes)")
    console.info(f"archive: {layout.bundle_archive} ({layout.bundle_archive.stat().st_size:,} bytes)")
    return Bundle(final, layout.bundle_archive, manifest, tuple(artifacts))


def verify(directory: Path) -> list[str]:
    """What is wrong with a bundle (empty: its checksums verify and its manifest matches its files)."""
    sums = directory / SUMS
    if not sums.is_file():
        return [f"{directory} has no {SUMS}: not a bundle, or an incomplete one"]
    problems = checksums.verify_sha256sums(sums)
    manifest_path = directory / MANIFEST
    manifest = cache.read_json(manifest_path)
    if not isinstance(manifest, dict) or manifest.get("bundle_format") != BUNDLE_FORMAT:
        return [*problems, f"{MANIFEST} is missing or not a format-{BUNDLE_FORMAT} bundle manifest"]
    listed = {line.split(" ", 1)[1].lstrip("*") for line in sums.read_text().splitlines() if line.strip()}
    for entry in [manifest["module"], *manifest["precompiled"]]:
        path = directory / entry["file"]
        if entry["file"] not in listed:
            problems.append(f"{entry['file']} is not listed in {SUMS}")
        if not path.is_file():
            problems.append(f"{entry['file']}: in the manifest but missing")
        elif cache.file_sha256(path) != entry["sha256"]:
            problems.append(f"{entry['file']}: its sha256 is not the manifest's")
    return problems


def engine_settings(entry: dict) -> wt.EngineSettings:
    """The settings of an engine on this machine that loads the manifest's artifact `entry`."""
    engine = entry["engine"]
    return wt.EngineSettings(
        strategy=engine["strategy"], fuel=engine["consume_fuel"], epoch=engine["epoch_interruption"]
    )


def loadable_here(manifest: dict) -> list[dict]:
    """The manifest's artifacts this machine can run."""
    here = wt.host_target().split("-")[0]
    return [e for e in manifest["precompiled"] if e["architecture"] in (here, wt.PULLEY_TARGET)]
