"""The build record: what one build did, stage by stage, typed. The pipeline appends a StageRecord per
stage and saves the record beside the stages (Layout.record_path); the checks, release, the benchmarks
and the browser tests read it to find the modules they need instead of rebuilding paths, and
build-info.json and size-report.json in the package are written from it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toolchain.core import cache
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import Layout

RECORD_VERSION = 1


@dataclass(frozen=True)
class StageRecord:
    stage: str  # layout.CARGO, WASM_BINDGEN, WASM_OPT, FINAL
    module: str  # the module it wrote, relative to the artifacts directory (cargo's: absolute, in its target dir)
    sha256: str
    reused: bool = False  # restored from the stage cache or store instead of run


@dataclass(frozen=True)
class CrateRecord:
    name: str
    version: str
    lib_name: str
    manifest: str  # relative to its git checkout


@dataclass
class BuildRecord:
    crate: CrateRecord
    profile: str
    features: list[str]
    no_default_features: bool
    stages: list[StageRecord] = field(default_factory=list)
    build_info: dict = field(default_factory=dict)  # written to the package as build-info.json
    size_report: dict = field(default_factory=dict)  # written to the package as size-report.json
    version: int = RECORD_VERSION

    def append(self, stage: StageRecord) -> None:
        if any(s.stage == stage.stage for s in self.stages):
            raise ValueError(f"stage {stage.stage!r} is recorded twice")
        self.stages.append(stage)

    def stage(self, name: str) -> StageRecord | None:
        return next((s for s in self.stages if s.stage == name), None)

    @property
    def reused_stages(self) -> list[str]:
        return [s.stage for s in self.stages if s.reused]

    def module(self, layout: Layout, stage: str) -> Path | None:
        """The module `stage` wrote, or None if the build did not run it (wasm-opt can be off)."""
        found = self.stage(stage)
        if found is None:
            return None
        path = Path(found.module)
        return path if path.is_absolute() else layout.artifacts_dir / path

    def to_json(self) -> dict:
        return asdict(self)

    def save(self, layout: Layout) -> Path:
        cache.write_json_atomic(layout.record_path, self.to_json())
        return layout.record_path

    @classmethod
    def from_json(cls, data: dict, where: str) -> BuildRecord:
        if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
            raise ToolchainError(
                f"{where} is not a build record of version {RECORD_VERSION}",
                "rebuild (`nox -s build`): records are rewritten by every build",
            )
        try:
            return cls(
                crate=CrateRecord(**data["crate"]),
                profile=data["profile"],
                features=list(data["features"]),
                no_default_features=bool(data["no_default_features"]),
                stages=[StageRecord(**s) for s in data["stages"]],
                build_info=data["build_info"],
                size_report=data["size_report"],
                version=data["version"],
            )
        except (KeyError, TypeError) as exc:
            raise ToolchainError(f"{where} is damaged ({exc})", "rebuild (`nox -s build`)") from exc

    @classmethod
    def load(cls, layout: Layout) -> BuildRecord:
        data = cache.read_json(layout.record_path)
        if data is None:
            raise ToolchainError(
                f"{layout.package_name} has no build record at {layout.record_path}",
                "build it first (`nox -s build`, or `python -m toolchain build --manifest-path "
                "PATH --artifacts-dir DIR`)",
            )
        return cls.from_json(data, str(layout.record_path))


def dumps(record: BuildRecord) -> str:
    return json.dumps(record.to_json(), indent=2)
