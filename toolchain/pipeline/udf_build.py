"""`udf build PATH`: a UDF project (a Rust crate, a C file or directory, a Go package) → a validated,
size-optimised wasm32 module, with the same per-stage size report as the engine build.

Stages, each a function from a module to a module (artifacts/udf/.stages/<name>/<stage>/):
1. compile: cargo (the engine's offline Rust: Debian rustc + build-std), clang-22 --target=wasm32,
   or `GOOS=wasip1 go build -buildmode=c-shared`.
2. manifest: a project whose language cannot write custom sections (Go) keeps its manifest in
   `wasm-qe-udf.jsonl`; it is appended as the `wasm-qe-udf` section. A module that has one already
   and a file beside it is an error (which one is meant?).
3. wasm-opt -Oz (binaryen keeps unknown custom sections; the manifest survives, a test proves it).
4. final: the memory maximum set to the policy's (every language, one rule), the names section
   stripped; then validated against the ABI: a build that writes an invalid module fails.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toolchain.analysis import cargo_lock, sizes, udf_abi, udf_validate, wasm_module
from toolchain.core import cache, console, process
from toolchain.core.errors import CheckFailed, StageFailed, ToolchainError
from toolchain.core.layout import DEFAULT_ARTIFACTS, UDF_COMPILE, UDF_MANIFEST, UDF_WASM_OPT, UdfLayout
from toolchain.pipeline import build as engine_build
from toolchain.tools import clang, go, rust, wasm_opt

MANIFEST_FILE = "wasm-qe-udf.jsonl"
LANGUAGES = ("rust", "c", "go")
CHECKOUT = Path(__file__).resolve().parents[2]
C_SDK_INCLUDE = CHECKOUT / "udf" / "c" / "include"
GO_POLICY = udf_validate.POLICY_DIR / "udf-go.toml"
# What every host of ours runs (wasmtime, wazero, browsers): WebAssembly 2.0's features.
WASM_FEATURES = ["bulk-memory", "multivalue", "mutable-globals", "nontrapping-fptoint", "reference-types", "sign-ext"]
DEFAULT_OPT_LEVEL = "-Oz"
RECORD_VERSION = 1
# The bundled examples (`udf build` with no PATH builds them all): (project, module name; None: the
# crate's package name). Two are called "scoring" in their directories, so they get names.
EXAMPLES: tuple[tuple[Path, str | None], ...] = (
    (CHECKOUT / "crates" / "udf" / "examples" / "hello", None),
    (CHECKOUT / "crates" / "udf" / "examples" / "scoring", None),
    (CHECKOUT / "crates" / "udf" / "examples" / "text", None),
    (CHECKOUT / "udf" / "c" / "examples" / "scoring", "c_scoring"),
    (CHECKOUT / "udf" / "go" / "examples" / "scoring", "go_scoring"),
)


@dataclass(frozen=True)
class UdfProject:
    path: Path  # the crate's Cargo.toml, the C file or directory, the Go package directory
    language: str
    name: str

    @property
    def directory(self) -> Path:
        return self.path.parent if self.path.is_file() else self.path

    @property
    def manifest_file(self) -> Path | None:
        candidate = self.directory / MANIFEST_FILE
        return candidate if candidate.is_file() else None


@dataclass(frozen=True)
class UdfBuildOptions:
    project: Path
    artifacts_dir: Path = DEFAULT_ARTIFACTS
    policy: Path | None = None  # None: the language's default (Go: udf-go.toml, else udf-default.toml)
    wasm_opt: bool = True
    opt_level: str = DEFAULT_OPT_LEVEL
    name: str | None = None  # default: the crate's package name, the C file's stem, the directory's name


@dataclass(frozen=True)
class UdfStage:
    name: str
    module: str  # path
    sha256: str
    sizes: sizes.Sizes
    seconds: float


@dataclass
class UdfBuildRecord:
    name: str
    language: str
    project: str
    tools: dict[str, str]
    policy: str
    stages: list[UdfStage] = field(default_factory=list)
    functions: list[dict] = field(default_factory=list)
    version: int = RECORD_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


@dataclass(frozen=True)
class UdfBuildResult:
    layout: UdfLayout
    record: UdfBuildRecord
    report: dict  # size-report.json

    @property
    def module(self) -> Path:
        return self.layout.module


def _sanitize(name: str) -> str:
    return name.replace("-", "_")


def detect(path: Path) -> UdfProject:
    """What kind of UDF project `path` is. Errors say what was looked for."""
    path = path.expanduser()
    if not path.exists():
        raise ToolchainError(
            f"no UDF project at {path}",
            "pass a Rust crate (its directory or Cargo.toml), a .c file or directory, or a Go package directory",
        )
    if path.name == "Cargo.toml" or (path.is_dir() and (path / "Cargo.toml").is_file()):
        manifest = path if path.name == "Cargo.toml" else path / "Cargo.toml"
        crate = cargo_lock.read_manifest(manifest.resolve())
        return UdfProject(manifest.resolve(), "rust", crate.package_name)
    if path.is_file() and path.suffix == ".c":
        return UdfProject(path.resolve(), "c", _sanitize(path.stem))
    if path.is_dir() and any(path.glob("*.go")):
        return UdfProject(path.resolve(), "go", _sanitize(path.resolve().name))
    if path.is_dir() and any(path.glob("*.c")):
        return UdfProject(path.resolve(), "c", _sanitize(path.resolve().name))
    raise ToolchainError(
        f"{path} is not a UDF project this toolchain can build",
        "pass a Rust crate (a directory with Cargo.toml, crate-type cdylib), a .c file or a directory of .c files, "
        "or a Go main package directory (//go:wasmexport functions)",
    )


# ---------------------------------------------------------------- stage: compile


def compile_rust(project: UdfProject, output: Path) -> tuple[Path, dict[str, str]]:
    toolchain = rust.find_toolchain(install=True)
    crate = cargo_lock.read_manifest(project.path)
    # One target directory for every UDF crate: std (build-std) is compiled once for all of them.
    target_dir = cache.cache_root() / "cargo-target" / "udf"
    wasm = engine_build.cargo_build(toolchain, crate, "release", target_dir)
    _copy(wasm, output)
    return output, {"rustc": toolchain.version}


def compile_c(project: UdfProject, output: Path) -> tuple[Path, dict[str, str]]:
    compiler = clang.ensure()
    sources = [project.path] if project.path.is_file() else sorted(project.path.glob("*.c"))
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp")
    argv = [
        compiler.executable,
        "--target=wasm32",
        "-nostdlib",
        "-Oz",
        "-std=c11",
        "-Wall",
        "-Werror",
        "-mcpu=generic",
        f"-I{C_SDK_INCLUDE}",
        f"-ffile-prefix-map={project.directory}=.",
        "-Wl,--no-entry",
        "-Wl,--strip-debug",
        *sources,
        "-o",
        temporary,
    ]
    process.run(
        argv,
        what=f"clang: compiling {project.name}",
        fix="fix the C errors above; include wasm_qe_udf.h from udf/c/include",
    )
    temporary.replace(output)
    return output, {"clang": compiler.version}


def compile_go(project: UdfProject, output: Path) -> tuple[Path, dict[str, str]]:
    toolchain = go.ensure()
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp").resolve()  # go runs in the package's directory
    process.run(
        [toolchain.executable, "build", "-buildmode=c-shared", "-ldflags=-s -w", "-o", temporary, "."],
        cwd=project.directory,
        env=toolchain.env(),
        what=f"go build (wasip1): {project.name}",
        fix="fix the Go errors above; exported functions need //go:wasmexport (Go 1.24+)",
    )
    temporary.replace(output)
    return output, {"go": toolchain.version}


COMPILERS = {"rust": compile_rust, "c": compile_c, "go": compile_go}


# ---------------------------------------------------------------- stage: manifest


def manifest_stage(project: UdfProject, input_wasm: Path, output: Path) -> Path | None:
    """Appends wasm-qe-udf.jsonl as the manifest section; None when the project has no such file."""
    source = project.manifest_file
    if source is None:
        return None
    if wasm_module.parse(input_wasm).custom_sections(udf_abi.MANIFEST_SECTION):
        raise ToolchainError(
            f"{project.name}: the compiled module has a {udf_abi.MANIFEST_SECTION} section and {source} exists too",
            f"keep one manifest: delete {source.name}, or stop emitting the section from the code",
        )
    payload = source.read_bytes()
    udf_abi.parse_manifest([payload])  # a broken file fails here, naming its line
    output.parent.mkdir(parents=True, exist_ok=True)
    wasm_module.with_custom_section(input_wasm, output, udf_abi.MANIFEST_SECTION, payload)
    return output


# ---------------------------------------------------------------- the build


def _copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".tmp")
    temporary.write_bytes(source.read_bytes())
    temporary.replace(destination)


def default_policy(language: str) -> Path | None:
    return GO_POLICY if language == "go" else None


def build(options: UdfBuildOptions) -> UdfBuildResult:
    project = detect(options.project)
    if options.name:
        if not udf_abi.NAME_PATTERN.match(_sanitize(options.name)):
            raise ToolchainError(f"--name {options.name!r} is not a valid module name", "use letters, digits, - and _")
        project = UdfProject(project.path, project.language, options.name)
    layout = UdfLayout(options.artifacts_dir, project.name)
    policy_path = options.policy or default_policy(project.language)
    policy = udf_validate.load_policy(policy_path)
    timed: list[tuple[str, Path, str, float]] = []  # stage, module, sha256, seconds
    # Sizes are measured in background processes while the next stage runs, memoised by content.
    measurer = sizes.SizeMeasurer(layout.size_memo)

    def done(stage: str, module: Path, started: float) -> None:
        seconds = time.monotonic() - started  # the stage's own time
        timed.append((stage, module, cache.file_sha256(module), round(seconds, 3)))
        measurer.submit(stage, module)
        console.info(f"{stage}: {module.stat().st_size:,} bytes ({seconds:.1f} s)")

    try:
        with console.stage(f"udf build {project.name} ({project.language})"):
            started = time.monotonic()
            module, tools = COMPILERS[project.language](project, layout.stage_module(UDF_COMPILE))
            done(UDF_COMPILE, module, started)

            started = time.monotonic()
            appended = manifest_stage(project, module, layout.stage_module(UDF_MANIFEST))
            if appended:
                module = appended
                done(UDF_MANIFEST, module, started)

            if options.wasm_opt:
                started = time.monotonic()
                optimizer = wasm_opt.ensure()
                module, _ = engine_build.wasm_opt_stage(
                    optimizer,
                    module,
                    layout.stage_module(UDF_WASM_OPT),
                    [options.opt_level],
                    wasm_opt.feature_flags(WASM_FEATURES),
                )
                tools["wasm-opt"] = f"{optimizer.version} ({optimizer.provider})"
                done(UDF_WASM_OPT, module, started)

            started = time.monotonic()
            layout.root.mkdir(parents=True, exist_ok=True)
            staging = layout.module.with_name(layout.module.name + ".staging")
            wasm_module.with_memory_maximum(module, staging, policy.max_memory_pages)
            wasm_module.strip_custom_sections(staging, staging, {"name"})
            validated = udf_validate.validate(staging, policy_path)
            if not validated.ok:
                staging.unlink()
                for problem in validated.problems:
                    console.error(f"[{problem.rule}] {problem.subject}: {problem.problem}\n      fix: {problem.fix}")
                raise CheckFailed(
                    f"{project.name}: the built module breaks {len(validated.problems)} rule(s) of the UDF ABI (above)",
                    "fix each rule named; docs/udf-abi.md explains them",
                )
            staging.replace(layout.module)
            done("final", layout.module, started)
        measured = dict(measurer.results())
    except BaseException:
        measurer.abandon()
        raise
    stages = [UdfStage(name, str(path), digest, measured[name], seconds) for name, path, digest, seconds in timed]

    record = UdfBuildRecord(
        name=project.name,
        language=project.language,
        project=str(project.path),
        tools=tools,
        policy=policy.source,
        stages=stages,
        functions=[spec.to_json() for spec in validated.functions],
    )
    size_report = sizes.build_report([(s.name, s.sizes) for s in stages])
    cache.write_json_atomic(layout.size_report, size_report)
    layout.record_path.write_text(record.to_json())
    console.info(sizes.format_table(size_report))
    console.info(validated.summary())
    return UdfBuildResult(layout, record, size_report)


def recorded_policy(module: Path) -> Path | None:
    """The policy file a module was built with, from the udf-build.json beside it (None: the default,
    or a module this toolchain did not build)."""
    record = cache.read_json(module.with_name("udf-build.json"))
    if isinstance(record, dict) and isinstance(record.get("policy"), str):
        path = Path(record["policy"])
        if path.is_file() and path != udf_validate.DEFAULT_POLICY:
            return path
    return None


def load_record(layout: UdfLayout) -> UdfBuildRecord:
    data = cache.read_json(layout.record_path)
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        raise StageFailed(
            f"no UDF build record at {layout.record_path}", f"run `nox -s udf -- build` for {layout.name} first"
        )
    stages = [UdfStage(**{**s, "sizes": sizes.Sizes(**s["sizes"])}) for s in data.pop("stages")]
    return UdfBuildRecord(**data, stages=stages)
