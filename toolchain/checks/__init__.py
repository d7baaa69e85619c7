"""Checks that catch what silently breaks a wasm engine, one module per check.

Each check module defines NAME, SUMMARY, a frozen `Options` dataclass, `run(options) -> Report`, and two ways
to make its Options: `options_for(config)` from the resolved configuration (what `check` with no name and
`release` use: the crate, features, artifacts and policies the build was configured with) and
`add_arguments(parser)` + `options_from_args(args)` for `check NAME [options]`. No check reads a Namespace.
A check works on any crate or module (`--manifest-path`, `--wasm`), not only the bundled engine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


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

    @property
    def ok(self) -> bool:
        return not self.violations

    def format(self) -> str:
        verdict = (
            "ok" if self.ok else f"FAILED ({len(self.violations)} violation{'s' if len(self.violations) != 1 else ''})"
        )
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
