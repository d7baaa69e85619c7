"""Where one crate's build puts everything, under its artifacts directory. The only place that spells
these paths: stages, checks, release, the benchmarks and the tests ask a Layout, never a formula.

    artifacts/<package>/                      the package (shipped; replaced atomically)
    artifacts/.stages/<package>/<stage>/      each stage's output, kept for the checks (names section)
    artifacts/.stages/<package>/build-record.json   what the last build did (core/record.py)
    artifacts/reports/<package>/              the size check's summary, chart and attribution
    artifacts/release/<version>/              releases
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEFAULT_ARTIFACTS = Path("artifacts")

# The stages that write a module, in pipeline order. "final" is the stripped module that ships.
CARGO, WASM_BINDGEN, WASM_OPT, FINAL = "cargo", "wasm-bindgen", "wasm-opt", "final"
MODULE_STAGES = (WASM_BINDGEN, WASM_OPT, FINAL)


class NamedCrate(Protocol):
    @property
    def package_name(self) -> str: ...
    @property
    def lib_name(self) -> str: ...


@dataclass(frozen=True)
class Layout:
    artifacts_dir: Path
    package_name: str  # the crate's [package] name: the package directory's name
    lib_name: str  # the crate's library name: the file names wasm-bindgen writes (<lib>_bg.wasm, <lib>.js)

    @classmethod
    def of(cls, artifacts_dir: Path, crate: NamedCrate) -> Layout:
        return cls(artifacts_dir, crate.package_name, crate.lib_name)

    @property
    def package_dir(self) -> Path:
        return self.artifacts_dir / self.package_name

    @property
    def stages_dir(self) -> Path:
        return self.artifacts_dir / ".stages" / self.package_name

    def stage_dir(self, stage: str) -> Path:
        if stage not in MODULE_STAGES:
            raise ValueError(f"no stage directory for {stage!r}; stages that write files: {MODULE_STAGES}")
        return self.stages_dir / stage

    def stage_module(self, stage: str) -> Path:
        return self.stage_dir(stage) / f"{self.lib_name}_bg.wasm"

    def stage_glue(self) -> Path:
        """The JS glue wasm-bindgen wrote (the package ships a copy of it)."""
        return self.stage_dir(WASM_BINDGEN) / f"{self.lib_name}.js"

    @property
    def named_module(self) -> Path:
        """The newest module that still has its names section: wasm-opt's output, else wasm-bindgen's."""
        optimised = self.stage_module(WASM_OPT)
        return optimised if optimised.is_file() else self.stage_module(WASM_BINDGEN)

    @property
    def record_path(self) -> Path:
        return self.stages_dir / "build-record.json"

    @property
    def size_memo(self) -> Path:
        return self.stages_dir / "size-memo.json"

    @property
    def shipped_module(self) -> Path:
        return self.package_dir / f"{self.lib_name}_bg.wasm"

    @property
    def size_report(self) -> Path:
        return self.package_dir / "size-report.json"

    @property
    def build_info(self) -> Path:
        return self.package_dir / "build-info.json"

    @property
    def reports_dir(self) -> Path:
        return self.artifacts_dir / "reports" / self.package_name

    @property
    def release_root(self) -> Path:
        return self.artifacts_dir / "release"

    def relative(self, path: Path) -> str:
        """`path` as the build record stores it: relative to the artifacts directory (records move with it)."""
        return path.resolve().relative_to(self.artifacts_dir.resolve()).as_posix()


# ---------------------------------------------------------------- UDF modules
#
#     artifacts/udf/<name>/<name>.wasm            the module that ships (validated, names stripped)
#     artifacts/udf/<name>/size-report.json       sizes per stage, as the engine's
#     artifacts/udf/<name>/udf-build.json         what the build did (language, tools, stages, times)
#     artifacts/udf/<name>/<name>.udfbundle/      the bundle: module, precompiled artifacts, manifest, SHA256SUMS
#     artifacts/udf/<name>/<name>.udfbundle.tar.gz    the same, as one reproducible file
#     artifacts/udf/.stages/<name>/<stage>/<name>.wasm   each stage's module

UDF_COMPILE, UDF_MANIFEST, UDF_WASM_OPT, UDF_FINAL = "compile", "manifest", "wasm-opt", "final"
UDF_STAGES = (UDF_COMPILE, UDF_MANIFEST, UDF_WASM_OPT)


@dataclass(frozen=True)
class UdfLayout:
    artifacts_dir: Path
    name: str

    @property
    def root(self) -> Path:
        return self.artifacts_dir / "udf" / self.name

    @property
    def module(self) -> Path:
        return self.root / f"{self.name}.wasm"

    @property
    def size_report(self) -> Path:
        return self.root / "size-report.json"

    @property
    def record_path(self) -> Path:
        return self.root / "udf-build.json"

    @property
    def size_memo(self) -> Path:
        return self.artifacts_dir / "udf" / ".stages" / self.name / "size-memo.json"

    def stage_module(self, stage: str) -> Path:
        if stage not in UDF_STAGES:
            raise ValueError(f"no UDF stage {stage!r}; stages that write files: {UDF_STAGES}")
        return self.artifacts_dir / "udf" / ".stages" / self.name / stage / f"{self.name}.wasm"

    @property
    def bundle_dir(self) -> Path:
        return self.root / f"{self.name}.udfbundle"

    @property
    def bundle_archive(self) -> Path:
        return self.root / f"{self.name}.udfbundle.tar.gz"
