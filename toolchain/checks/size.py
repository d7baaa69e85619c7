"""size: per-stage sizes, where the final module's bytes go, and a budget that fails CI.

Reads the build's size-report.json (raw/gzip/brotli per stage) and the optimised module with its
names section (the build keeps it in artifacts/.stages/<crate>/wasm-opt/), attributes code bytes
to crates and functions, and compares the shipped sizes with the crate's budget (policies.size-budget): absolute limits,
and a maximum growth against the committed baseline (ci/size-baseline.json). Writes a Markdown
summary (also to $GITHUB_STEP_SUMMARY when set), an HTML chart and a JSON attribution.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import tomllib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from toolchain import checks
from toolchain.analysis import config, wasm_module
from toolchain.analysis.cargo_lock import METADATA_TABLE
from toolchain.analysis.sizes import human
from toolchain.checks import Report, Violation
from toolchain.core import cache
from toolchain.core.errors import ToolchainError
from toolchain.core.layout import WASM_BINDGEN, WASM_OPT

NAME = "size"
SUMMARY = "per-stage sizes, attribution to crates and functions, budget and growth against the baseline"
METRICS = ("raw", "gzip", "brotli")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--package-dir", type=Path, help="built package with size-report.json (default: <artifacts>/<crate>)"
    )
    parser.add_argument(
        "--wasm",
        type=Path,
        help="named module to attribute (default: the wasm-opt stage output, "
        "else the wasm-bindgen one, from the build record)",
    )
    parser.add_argument(
        "--budget",
        type=Path,
        help="budget file (default: the crate's policies.size-budget; none: sizes are reported, nothing is judged)",
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="write the current sizes and attribution as the crate's new baseline (the file its budget's "
        "[growth] baseline names; then commit it)",
    )
    parser.add_argument("--top", type=int, default=20, help="how many crates and functions to list")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="where the summary, chart and attribution go (default: <artifacts>/reports/<crate>)",
    )


@dataclass(frozen=True)
class Options:
    crate: str  # the package name, for the reports and the baseline
    size_report: Path
    wasm: Path  # the named module to attribute
    budget: Path | None
    out_dir: Path
    top: int = 20
    update_baseline: bool = False
    manifest: Path | None = None  # the crate's Cargo.toml, for the messages that say where to name a budget
    # `python -m toolchain check size` with the options that name this crate, for the messages
    check_command: str = "python -m toolchain check size"
    build_command: str = "python -m toolchain build"


def options_from_args(args: argparse.Namespace, resolve: Callable[[], config.Config]) -> Options:
    resolved = resolve()
    layout = resolved.layout
    package_dir = args.package_dir or layout.package_dir
    base = options_for(resolved, named=args.wasm is None)
    return replace(
        base,
        size_report=package_dir / layout.size_report.name,
        wasm=args.wasm or base.wasm,
        budget=checks.given_policy("size-budget", args.budget) or resolved.policies.size_budget,
        out_dir=args.out_dir or layout.reports_dir,
        top=args.top,
        update_baseline=args.update_baseline,
    )


def options_for(resolved: config.Config, named: bool = True) -> Options:
    """named=False: the module is given (--wasm), so the build record is not needed to find it."""
    layout = resolved.layout
    return Options(
        resolved.crate.package_name,
        layout.size_report,
        named_module(resolved) if named else Path(),
        resolved.policies.size_budget,
        layout.reports_dir,
        manifest=resolved.crate.manifest_path,
        check_command=checks.command(resolved, "check", "size"),
        build_command=checks.command(resolved, "build", artifacts=True),
    )


def named_module(resolved: config.Config) -> Path:
    """The newest module of the crate's last build that keeps its names section: wasm-opt's, else wasm-bindgen's."""
    layout = resolved.layout
    record = checks.build_record(resolved)
    module = record.module(layout, WASM_OPT) or record.module(layout, WASM_BINDGEN)
    if module is None:
        raise ToolchainError(
            f"the build record of {layout.package_name} has no named module",
            f"rebuild the crate: `{checks.command(resolved, 'build', artifacts=True)}`",
        )
    return module


# ---------------------------------------------------------------- attribution


@dataclass
class Attribution:
    module: Path
    total: int  # bytes of the module
    code: int  # bytes of function bodies
    crates: dict[str, dict]  # crate -> {"raw", "gzip", "functions"}
    functions: list[dict]  # largest first: {"name", "crate", "raw"}
    sections: dict[str, int]


def attribute(wasm: Path, top: int) -> Attribution:
    """Code bytes per crate (raw, and gzip of that crate's bodies alone) and the largest functions."""
    module = wasm_module.parse(wasm)
    if not module.names_present:
        raise ToolchainError(
            f"{wasm} has no names section: its bytes cannot be attributed",
            "pass the named module the build keeps under artifacts/.stages/<crate>/wasm-opt/",
        )
    data = module._data
    bodies: dict[str, list[bytes]] = defaultdict(list)
    functions = []
    for function in module.functions:
        if function.imported:
            continue
        crate = wasm_module.crate_of(function.name)
        bodies[crate].append(data[function.body_offset : function.body_offset + function.body_size])
        functions.append((function.body_size, function.name, crate))
    crates = {}
    for crate, chunks in bodies.items():
        joined = b"".join(chunks)
        crates[crate] = {"raw": len(joined), "gzip": len(gzip.compress(joined, 9, mtime=0)), "functions": len(chunks)}
    crates = dict(sorted(crates.items(), key=lambda item: -item[1]["raw"]))
    functions.sort(key=lambda f: -f[0])
    sections = module.section_sizes()
    return Attribution(
        wasm,
        module.size,
        sections.get("code", 0),
        crates,
        [{"name": wasm_module.clean_name(n or "?"), "crate": c, "raw": s} for s, n, c in functions[:top]],
        sections,
    )


# ---------------------------------------------------------------- budget


@dataclass
class Budget:
    path: Path | None  # None: no budget (sizes are reported, nothing is judged)
    final_limits: dict[str, int]  # metric -> bytes
    max_growth_percent: float | None
    baseline: Path | None
    crate: str | None = None  # the crate the budget is for (`crate = "name"`); None: it does not say


NO_BUDGET = Budget(None, {}, None, None)


def load_budget(path: Path | None) -> Budget:
    if path is None:
        return NO_BUDGET
    if not path.is_file():
        raise ToolchainError(
            f"no size budget at {path}",
            'fix the path, or create it: crate = "NAME", [final] max_gzip = ..., '
            '[growth] max_percent = ..., baseline = "size-baseline.json" (next to the budget)',
        )
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ToolchainError(f"{path} is not valid TOML: {exc}", "fix its syntax") from exc
    final = data.get("final", {})
    limits = {}
    for metric in METRICS:
        value = final.get(f"max_{metric}")
        if value is not None:
            if not isinstance(value, int) or value <= 0:
                raise ToolchainError(
                    f"{path}: [final] max_{metric} must be a positive number of bytes, not {value!r}",
                    "write it in bytes, e.g. max_gzip = 4_400_000",
                )
            limits[metric] = value
    growth = data.get("growth", {})
    percent = growth.get("max_percent")
    if percent is not None and (not isinstance(percent, (int, float)) or percent < 0):
        raise ToolchainError(
            f"{path}: [growth] max_percent must be a non-negative number, not {percent!r}", "e.g. max_percent = 2.0"
        )
    baseline = growth.get("baseline")
    crate = data.get("crate")
    if crate is not None and (not isinstance(crate, str) or not crate):
        raise ToolchainError(
            f"{path}: crate must be the name of the crate the budget is for, not {crate!r}", 'e.g. crate = "my-engine"'
        )
    return Budget(
        path,
        limits,
        float(percent) if percent is not None else None,
        path.parent / baseline if baseline else None,  # relative to the budget file
        crate,
    )


def how_to_add_budget(crate: str, manifest: Path | None, check_command: str) -> str:
    """What to write, and where, to give a crate a size budget of its own (and a baseline beside it)."""
    where = (
        f"[package.metadata.{METADATA_TABLE}] of {manifest}" if manifest else f"its [package.metadata.{METADATA_TABLE}]"
    )
    return (
        f'add policies = {{ size-budget = "size-budget.toml" }} to {where}, and size-budget.toml beside it: '
        f'crate = "{crate}", [final] max_gzip = BYTES (and max_raw, max_brotli), optionally [growth] '
        f'max_percent = 2.0 and baseline = "size-baseline.json"; then `{check_command} --update-baseline` writes '
        "the baseline; commit both (or give a budget file with --budget FILE)"
    )


def read_baseline(budget: Budget, crate: str, how: str) -> dict | None:
    """The budget's baseline, if it exists; refused if it records another crate (a baseline judges only its own
    crate: the engine's 20 MB must not make a 1 MB crate "-95%")."""
    if budget.baseline is None:
        return None
    baseline = cache.read_json(budget.baseline)
    if baseline is None:
        return None
    recorded = baseline.get("crate") if isinstance(baseline, dict) else None
    if not isinstance(baseline, dict) or not isinstance(baseline.get("final"), dict):
        raise ToolchainError(
            f"{budget.baseline} (the baseline of {budget.path}) is not a size baseline",
            "delete it and write it again with --update-baseline",
        )
    if recorded is not None and recorded != crate:
        raise ToolchainError(
            f"{budget.baseline} is the size baseline of {recorded}, not of {crate}: the budget {budget.path} "
            f"belongs to {recorded} (or points at its baseline), and its sizes say nothing about {crate}",
            f"give {crate} a budget and baseline of its own: {how}",
        )
    return baseline


def evaluate(
    report: dict,
    budget: Budget,
    baseline: dict | None,
    attribution: Attribution | None,
    check_command: str = "python -m toolchain check size",
) -> list[Violation]:
    violations = []
    final = report["final"]
    for metric, limit in budget.final_limits.items():
        if final[metric] > limit:
            violations.append(
                Violation(
                    subject=f"final {metric}",
                    problem=f"{human(final[metric])} ({final[metric]} B) exceeds the budget of {human(limit)} ({limit} B) "
                    f"by {human(final[metric] - limit)}",
                    chain=_growth_chain(baseline, attribution),
                    fix=f"shrink the module (see the attribution: which crates and functions are largest), or, if the "
                    f"growth is intended, raise [final] max_{metric} in {budget.path}",
                )
            )
    if budget.max_growth_percent is not None and baseline is not None:
        for metric in METRICS:
            before = baseline.get("final", {}).get(metric)
            if not before:
                continue
            growth = (final[metric] - before) / before * 100
            if growth > budget.max_growth_percent:
                violations.append(
                    Violation(
                        subject=f"final {metric} growth",
                        problem=f"{human(before)} -> {human(final[metric])} is {growth:+.2f}% against the baseline, "
                        f"more than the {budget.max_growth_percent:g}% allowed",
                        chain=_growth_chain(baseline, attribution),
                        fix="find the crates that grew (listed above and in the summary); if intended, run "
                        f"`{check_command} --update-baseline` and commit the baseline ({budget.baseline})",
                    )
                )
    return violations


def crate_deltas(baseline: dict | None, attribution: Attribution | None) -> list[tuple[str, int]]:
    """Crates whose code changed the most against the baseline, largest growth first."""
    if not baseline or not attribution or "crates" not in baseline:
        return []
    before = baseline["crates"]
    names = set(before) | set(attribution.crates)
    deltas = [
        (name, attribution.crates.get(name, {}).get("raw", 0) - before.get(name, {}).get("raw", 0)) for name in names
    ]
    return sorted((d for d in deltas if d[1]), key=lambda d: -d[1])


def _growth_chain(baseline: dict | None, attribution: Attribution | None) -> list[str]:
    grown = [
        f"{name} {'+' if delta > 0 else ''}{human(delta)} code"
        for name, delta in crate_deltas(baseline, attribution)[:5]
        if delta > 0
    ]
    if grown:
        return ["largest crate growth against the baseline: " + ", ".join(grown)]
    if attribution:
        return [
            "largest crates: " + ", ".join(f"{n} {human(c['raw'])}" for n, c in list(attribution.crates.items())[:5])
        ]
    return []


# ---------------------------------------------------------------- outputs


def markdown(
    crate: str,
    report: dict,
    attribution: Attribution | None,
    budget: Budget,
    violations: list[Violation],
    baseline: dict | None,
    top: int,
    check_command: str = "python -m toolchain check size",
) -> str:
    lines = [f"## Size of `{crate}`", "", "| stage | raw | gzip | brotli |", "| --- | ---: | ---: | ---: |"]
    for stage in report["stages"]:
        lines.append(f"| {stage['name']} | {human(stage['raw'])} | {human(stage['gzip'])} | {human(stage['brotli'])} |")
    final = report["final"]
    lines.append(
        f"| **final** | **{human(final['raw'])}** | **{human(final['gzip'])}** | **{human(final['brotli'])}** |"
    )
    lines += [
        "",
        f"Budget ({budget.path or 'none: sizes reported, nothing judged; name one with policies.size-budget in the crate metadata'}):",
        "",
    ]
    for metric, limit in budget.final_limits.items():
        mark = "✅" if final[metric] <= limit else "❌"
        lines.append(f"- {mark} final {metric} {human(final[metric])} ≤ {human(limit)}")
    if budget.max_growth_percent is not None:
        if baseline:
            for metric in METRICS:
                before = baseline.get("final", {}).get(metric)
                if before:
                    growth = (final[metric] - before) / before * 100
                    mark = "✅" if growth <= budget.max_growth_percent else "❌"
                    lines.append(
                        f"- {mark} {metric} {growth:+.2f}% vs baseline {human(before)} (max +{budget.max_growth_percent:g}%)"
                    )
        else:
            lines.append(f"- no baseline yet (`{check_command} --update-baseline`)")
    if violations:
        lines += ["", f"**{len(violations)} budget violation(s)**"]
    if attribution:
        deltas = dict(crate_deltas(baseline, attribution))
        lines += [
            "",
            f"### Largest crates (code: {human(attribution.code)} of the {human(attribution.total)} module {attribution.module.parent.name}/{attribution.module.name})",
            "",
            "| crate | code | share | gzip alone | functions | vs baseline |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, entry in list(attribution.crates.items())[:top]:
            delta = deltas.get(name)
            lines.append(
                f"| {name} | {human(entry['raw'])} | {entry['raw'] / attribution.code * 100:.1f}% | "
                f"{human(entry['gzip'])} | {entry['functions']} | {(('+' if delta > 0 else '') + human(delta)) if delta else ''} |"
            )
        lines += ["", "### Largest functions", "", "| bytes | crate | function |", "| ---: | --- | --- |"]
        for function in attribution.functions[:top]:
            name = function["name"] if len(function["name"]) <= 140 else function["name"][:137] + "..."
            name = name.replace("|", "\\|")  # a pipe would end the table cell
            lines.append(f"| {function['raw']:,} | {function['crate']} | `{name}` |")
    return "\n".join(lines) + "\n"


def chart_html(crate: str, attribution: Attribution, top: int) -> str:
    """A self-contained HTML page: bars of code bytes per crate, and the largest functions."""
    rows = list(attribution.crates.items())[:top]
    others = sum(entry["raw"] for _, entry in list(attribution.crates.items())[top:])
    if others:
        rows.append((f"({len(attribution.crates) - top} other crates)", {"raw": others, "gzip": 0, "functions": 0}))
    largest = max(entry["raw"] for _, entry in rows) or 1
    bars = []
    for name, entry in rows:
        width = entry["raw"] / largest * 100
        bars.append(
            f'<tr><td class="n">{html.escape(name)}</td><td class="b"><div style="width:{width:.2f}%"></div></td>'
            f'<td class="v">{human(entry["raw"])}</td><td class="v">{entry["raw"] / attribution.code * 100:.1f}%</td></tr>'
        )
    functions = "".join(
        f'<tr><td class="v">{f["raw"]:,}</td><td>{html.escape(f["crate"])}</td>'
        f'<td class="f">{html.escape(f["name"])}</td></tr>'
        for f in attribution.functions[:top]
    )
    return f"""<!doctype html>
<meta charset="utf-8"><title>{html.escape(crate)}: size attribution</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
td {{ padding: 2px 8px; }} td.n {{ white-space: nowrap; }} td.b {{ width: 50vw; }}
td.b div {{ background: #3b7dd8; height: 14px; }} td.v {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.f {{ font-family: monospace; font-size: 12px; word-break: break-all; }}
</style>
<h1>{html.escape(crate)}: where the bytes go</h1>
<p>{html.escape(str(attribution.module))}: {human(attribution.total)} in all, {human(attribution.code)} of code
(function bodies, attributed by the crate of each function's demangled name).</p>
<table>{"".join(bars)}</table>
<h2>Largest functions</h2>
<table>{functions}</table>
"""


# ---------------------------------------------------------------- the check


def run(options: Options) -> Report:
    report_path = options.size_report
    size_report = cache.read_json(report_path)
    if size_report is None:
        raise ToolchainError(
            f"no size report of {options.crate} at {report_path}", f"build it first: `{options.build_command}`"
        )
    how = how_to_add_budget(options.crate, options.manifest, options.check_command)
    budget = load_budget(options.budget)
    if budget.crate is not None and budget.crate != options.crate:
        raise ToolchainError(
            f"{budget.path} is the size budget of {budget.crate}, not of {options.crate}",
            f"give {options.crate} a budget of its own: {how}",
        )
    if options.update_baseline and budget.baseline is None:
        # Refused before anything is written: without a budget of its own the crate has no baseline to update,
        # and no other crate's file may be taken for it.
        raise ToolchainError(
            f"{options.crate} has no size budget, so no baseline to update"
            if budget.path is None
            else f"{options.crate}'s size budget {budget.path} names no baseline ([growth] baseline)",
            how
            if budget.path is None
            else f'add [growth] baseline = "size-baseline.json" (beside it) to {budget.path}',
        )
    baseline = read_baseline(budget, options.crate, how)
    wasm = options.wasm
    attribution = attribute(wasm, options.top)
    out_dir = options.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    result = Report(NAME, str(report_path.parent))
    if options.update_baseline:
        assert budget.baseline is not None
        cache.write_json_atomic(
            budget.baseline,
            {
                "crate": options.crate,
                "final": size_report["final"],
                "crates": {name: {"raw": entry["raw"]} for name, entry in attribution.crates.items()},
            },
        )
        result.notes.append(f"baseline of {options.crate} written to {budget.baseline}: commit it")
        baseline = cache.read_json(budget.baseline)
    else:
        result.violations = evaluate(size_report, budget, baseline, attribution, options.check_command)
    if budget.path is None:
        result.judged = False
        result.notes.append(
            f"no size budget for {options.crate}: its sizes are reported, nothing is judged; to judge them, {how}"
        )
    elif baseline is not None and "crate" not in baseline:
        result.notes.append(
            f"{budget.baseline} records no crate; `{options.check_command} --update-baseline` records it"
        )

    summary = markdown(
        options.crate, size_report, attribution, budget, result.violations, baseline, options.top, options.check_command
    )
    (out_dir / "size-summary.md").write_text(summary)
    (out_dir / "size-attribution.html").write_text(chart_html(options.crate, attribution, options.top))
    (out_dir / "size-attribution.json").write_text(
        json.dumps(
            {
                "module": str(wasm),
                "total": attribution.total,
                "code": attribution.code,
                "sections": attribution.sections,
                "crates": attribution.crates,
                "functions": attribution.functions,
            },
            indent=2,
        )
        + "\n"
    )
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as step_summary:
            step_summary.write(summary)

    final = size_report["final"]
    result.notes += [
        f"final: {human(final['raw'])} raw, {human(final['gzip'])} gzip, {human(final['brotli'])} brotli",
        "largest crates (code): "
        + ", ".join(f"{n} {human(c['raw'])}" for n, c in list(attribution.crates.items())[:5]),
        f"attributed from {wasm}",
        f"summary, chart, attribution: {out_dir}/size-summary.md, size-attribution.html, size-attribution.json",
    ]
    result.data = {
        "crate": options.crate,
        "budget": str(budget.path) if budget.path else None,
        "baseline": str(budget.baseline) if budget.baseline else None,
        "final": final,
        "limits": budget.final_limits,
        "max_growth_percent": budget.max_growth_percent,
        "baseline_final": (baseline or {}).get("final"),
        "crates": {n: c["raw"] for n, c in list(attribution.crates.items())[: options.top]},
    }
    return result
