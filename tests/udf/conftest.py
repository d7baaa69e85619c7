"""Shared by the tests of the example UDFs (test_examples.py, test_wazero.py): the examples, built
once per session by `udf build` into a temporary artifacts directory, and one reference-host
instance (toolchain/pipeline/udf_call.py, wasmtime) of each.

Building: Rust through cargo (shared target directory; cold, std is compiled once: ~3 min), C
through clang-22, Go through `go build` (wasip1); wasm-opt for each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from toolchain.pipeline import udf_build
from toolchain.pipeline.udf_call import UdfInstance, UdfModule

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Example:
    name: str
    project: Path
    language: str


EXAMPLES = [
    Example("udf-hello", ROOT / "crates/udf/examples/hello", "rust"),
    Example("udf-scoring", ROOT / "crates/udf/examples/scoring", "rust"),
    Example("udf-text", ROOT / "crates/udf/examples/text", "rust"),
    Example("c_scoring", ROOT / "udf/c/examples/scoring", "c"),
    Example("go_scoring", ROOT / "udf/go/examples/scoring", "go"),
]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, udf_build.UdfBuildResult]:
    artifacts = tmp_path_factory.mktemp("udf-artifacts")
    results = {}
    for example in EXAMPLES:
        name = None if example.language == "rust" else example.name
        results[example.name] = udf_build.build(
            udf_build.UdfBuildOptions(project=example.project, artifacts_dir=artifacts, name=name)
        )
    return results


@pytest.fixture(scope="session")
def instances(built) -> dict[str, UdfInstance]:
    return {
        name: UdfModule.load(result.module, policy=udf_build.default_policy(result.record.language)).instantiate()
        for name, result in built.items()
    }
