"""Checks that catch what silently breaks a wasm engine, one module per check.

Each check module defines NAME, SUMMARY, a frozen `Options` dataclass, `run(options) -> Report`, and two ways
to make its Options: `options_for(config)` from the resolved configuration (what `check` with no name and
`release` use: the crate, features, artifacts and policies the build was configured with) and
`add_arguments(parser)` + `options_from_args(args, resolve)` for `check NAME [options]`: the check's own
options over the same resolved configuration (`resolve()` resolves the crate that `check` names, once, and
only if the check needs a crate). No check reads a Namespace in `run`.
A check works on any crate or module (`--manifest-path`/`--package`, `--wasm`), not only the bundled engine;
each finds the crate's build where that crate's last build went (config.resolve(previous=True)).
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toolchain.analysis import config
from toolchain.core.errors import ToolchainError
from toolchain.core.record import BuildRecord


@dataclass
class Violation:
    """One thing that breaks the policy, with how it got there and what to do about it."""

    subject: str  # the offending crate, feature or function
    problem: str  # what is wrong, in one sentence
    chain: list[str] = field(default_factory=list)  # root crate -> ... -> subject, or export -> ... -> stub
    fix: str = ""
    rule: str = ""  # the rule broken, for checks whose rules have names (udf: docs/udf-abi.md)

    def format(self) -> str:
        rule = f"[{self.rule}] " if self.rule else ""
        lines = [f"  ✗ {rule}{self.subject}: {self.problem}"]
        if self.chain:
            lines.append("      via " + "\n        -> ".join(self.chain))
        if self.fix:
            lines.append(f"      fix: {self.fix}")
        return "\n".join(lines)


@dataclass
class Report:
    check: str
    target: str  # what was checked (a manifest, a module)
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # informational lines, printed after the verdict
    data: dict = field(default_factory=dict)  # machine-readable details (written with --json)
    # False: there was nothing to judge against (a crate with no size budget): the report, no verdict; it
    # does not fail, and it does not claim "ok" either
    judged: bool = True

    @property
    def ok(self) -> bool:
        return not self.violations

    def format(self) -> str:
        if not self.ok:
            verdict = f"FAILED ({len(self.violations)} violation{'s' if len(self.violations) != 1 else ''})"
        else:
            verdict = "ok" if self.judged else "no verdict"
        lines = [f"check {self.check}: {verdict}  [{self.target}]"]
        lines += [v.format() for v in self.violations]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ok": self.ok}, indent=2)


CHECK_MODULES = ("gating", "tracing", "shims", "size")  # the order `check` runs them: cheap ones first


def registry() -> dict:
    import importlib

    modules = [importlib.import_module(f"toolchain.checks.{name}") for name in CHECK_MODULES]
    return {m.NAME: m for m in modules}


# ---------------------------------------------------------------- the crate a check is about


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the directory they started the command in (under nox,
    WASM_QE_CALLER_DIR, as cli.common.caller_path reads it) when it is below it, else absolute."""
    here = Path(os.environ.get("WASM_QE_CALLER_DIR") or Path.cwd())
    try:
        return str(path.resolve().relative_to(here.resolve())) or "."
    except ValueError:
        return str(path.resolve())


def crate_args(resolved: config.Config) -> list[str]:
    """The options that name this crate on a command line: none for the bundled engine (the default);
    --manifest-path (the workspace root and --package for a member of a larger workspace) for any other."""
    crate = resolved.crate
    if config.is_bundled_engine(crate):
        return []
    root = crate.workspace_root
    if root is not None and root.resolve() != crate.crate_dir.resolve():
        return ["--manifest-path", _shown(root), "--package", crate.package_name]
    return ["--manifest-path", _shown(crate.crate_dir)]


def command(resolved: config.Config, *words: str, artifacts: bool = False) -> str:
    """`python -m toolchain WORDS` for this crate (and, with `artifacts`, the build's artifacts directory when it
    is not the crate's default), ready to paste."""
    argv = ["python", "-m", "toolchain", *words, *crate_args(resolved)]
    b = resolved.build
    if b.cargo_features:
        argv += ["--features", ",".join(b.cargo_features)]
    if b.no_default_features:
        argv.append("--no-default-features")
    if artifacts and b.artifacts_dir is not None:
        default = config.default_artifacts_dir(resolved.crate)
        if os.path.abspath(b.artifacts_dir) != os.path.abspath(default):
            argv += ["--artifacts-dir", _shown(b.artifacts_dir)]
    return shlex.join(argv)


def given_policy(kind: str, path: Path | None) -> Path | None:
    """A policy file named on the command line (None: not given); one that does not exist is an error that
    says so, never a silent "no policy"."""
    if path is None:
        return None
    return config.resolve_policies(None, {kind: path}).get(kind)


def build_record(resolved: config.Config) -> BuildRecord:
    """The record of the crate's last build, or an error naming the crate, where it looked and the build to run."""
    layout = resolved.layout
    if not layout.record_path.is_file():
        crate = resolved.crate
        raise ToolchainError(
            f"{crate.package_name} ({_shown(crate.manifest_path)}) has no build record at {layout.record_path}: "
            f"no build of it in {_shown(layout.artifacts_dir)}",
            f"build it first: `{command(resolved, 'build', artifacts=True)}` (or give the check the "
            "--artifacts-dir its build wrote to)",
        )
    return BuildRecord.load(layout)
