"""Tests whose fixtures compile for tens of minutes when their build is not cached.

On a fresh machine, the toolchain-wheel tests compile binaryen from C++ and the wasm-bindgen
CLI (about 45 minutes on 2 cores), and the wasm-test session test compiles DataFusion again in
a test configuration (15-20 minutes): together more than the default test command may cost.
So `nox -s test` runs them only when what they build is already cached, and otherwise
deselects them (not skipped: a skip would count as a pass) with one line saying what was left
out, why, and the command that runs them. FORCE_OPTION runs them regardless; their own nox
sessions pass it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

FORCE_OPTION = "--run-slow-builds"


@dataclass(frozen=True)
class SlowBuild:
    marker: str  # the pytest marker of the tests
    what: str  # what they are, for people: "toolchain-wheel tests"
    command: str  # what runs them on purpose: "nox -s toolchain_wheels_test"
    cold_cost: str  # what they cost when nothing is cached
    missing: Callable[[], str | None]  # why their build is not cached now; None: it is, run them


@dataclass
class Selection:
    kept: list = field(default_factory=list)
    deselected: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per group left out


def _why_not_cached(build: SlowBuild) -> str | None:
    try:
        return build.missing()
    except Exception as exc:  # noqa: BLE001 - a check that fails must not fail the whole run
        return f"whether its build is cached could not be told ({exc})"


def select(items: list, builds: list[SlowBuild] | tuple[SlowBuild, ...], force: bool) -> Selection:
    """Which collected items run, which are deselected, and the note for each group left out.

    The check of each group runs only when one of its tests was collected, so a run of the
    unit tests does not probe for compilers or hash wheels."""
    if force:
        return Selection(kept=list(items))
    dropped: set[int] = set()
    notes = []
    for build in builds:
        marked = [item for item in items if item.get_closest_marker(build.marker) and id(item) not in dropped]
        if not marked:
            continue
        why = _why_not_cached(build)
        if why is None:
            continue
        dropped |= {id(item) for item in marked}
        notes.append(
            f"deselected {len(marked)} {build.what} (marker {build.marker}): {why}; cold they take {build.cold_cost}; "
            f"run with `{build.command}` (or pytest {FORCE_OPTION})"
        )
    return Selection(
        kept=[i for i in items if id(i) not in dropped], deselected=[i for i in items if id(i) in dropped], notes=notes
    )
