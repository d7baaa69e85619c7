"""The demo's sample dataset: log entries and the processes that wrote them, generated from a seed.

Two tables, as the seeds' queries expect them (seed 000's `processes`, seed 001's
`log_entries`): `log_entries` has `rows` rows spread over the hour before `end`, `processes`
one row per 20 log entries (at least 50). The same (rows, seed, end) gives the same tables, byte
for byte, on any machine (Python's `random.Random` is specified to be reproducible), so a test
can compute the expected answer from the same generator. Some usernames are NULL and some are
empty strings: the page must show them apart.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import random
from dataclasses import dataclass
from typing import Any

from toolchain.core.errors import MissingTool

DEFAULT_ROWS = 50_000
DEFAULT_SEED = 18  # issue 18
LOG_WINDOW = dt.timedelta(hours=1)
PROCESS_WINDOW = dt.timedelta(hours=6)
MIN_ROWS, MAX_ROWS = 1, 5_000_000

HOSTS = ("web-01", "web-02", "web-03", "web-04", "db-01", "db-02", "cache-01", "worker-01", "worker-02", "worker-03")
HOST_WEIGHTS = (22, 18, 12, 8, 10, 6, 9, 7, 5, 3)
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_WEIGHTS = (12, 70, 10, 6, 2)
EXES = (
    "/usr/sbin/nginx",
    "/usr/lib/postgresql/16/bin/postgres",
    "/opt/shop/bin/api-server",
    "/usr/bin/python3",
    "/usr/bin/redis-server",
    "/opt/shop/bin/billing-worker",
    "/usr/lib/jvm/java-21/bin/java",
)
USERS = ("www-data", "postgres", "shop", "root", "redis", "alice", "bob")
PATHS = ("/api/cart", "/api/checkout", "/api/search", "/api/items", "/health", "/login", "/api/orders")
MESSAGES = {
    "DEBUG": ("cache lookup {key} hit", "pool stats: {n} idle connections", "parsed request headers for {path}"),
    "INFO": ("GET {path} 200", "POST {path} 201", "GET {path} 304", "user session started", "job {key} finished"),
    "WARN": ("slow query on {path}: {n} ms", "retrying upstream {host} (attempt {n})", "disk usage at {n}%"),
    "ERROR": ("GET {path} 500", "upstream {host} timed out after {n} ms", "deadlock detected on {key}"),
    "FATAL": ("out of memory: killed worker {n}", "cannot open data directory: permission denied"),
}


@dataclass(frozen=True)
class SampleData:
    """The generated tables (pyarrow Tables) and what produced them."""

    tables: dict[str, Any]
    rows: int
    seed: int
    end: dt.datetime

    def describe(self) -> dict[str, dict]:
        """Per table: row count and column names (the page's demo-config.json)."""
        return {name: {"rows": t.num_rows, "columns": t.column_names} for name, t in self.tables.items()}


def check_rows(rows: int) -> int:
    if not MIN_ROWS <= rows <= MAX_ROWS:
        raise ValueError(f"{rows}: the sample has {MIN_ROWS:,} to {MAX_ROWS:,} log entries")
    return rows


def default_end() -> dt.datetime:
    """Now, to the second: the seed's default time range (now-5m .. now) then finds rows."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise MissingTool(
            "pyarrow makes the demo's sample data",
            "install the demo extra: pip install -e '.[demo]' (nox -s demo does)",
        ) from exc
    return pyarrow


def check_server_dependencies() -> None:
    """The query server runs SQL in native DataFusion (PyPI datafusion): say so before serving."""
    _pyarrow()
    if importlib.util.find_spec("datafusion") is None:
        raise MissingTool(
            "the demo's query server runs SQL in native DataFusion (PyPI datafusion), which is not installed",
            "install the demo extra: pip install -e '.[demo]' (nox -s demo does), or pass --no-server",
        )


def generate(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED, end: dt.datetime | None = None) -> SampleData:
    """`rows` log entries and their processes, reproducible from (rows, seed, end)."""
    pa = _pyarrow()
    check_rows(rows)
    end = (end or default_end()).astimezone(dt.UTC)
    end_us = int(end.timestamp()) * 1_000_000 + end.microsecond
    rng = random.Random(seed)

    n_processes = max(50, rows // 20)
    process_ids, exes, starts, users, computers, memory, cpu = [], [], [], [], [], [], []
    window_us = int(PROCESS_WINDOW.total_seconds() * 1_000_000)
    for _ in range(n_processes):
        exe = rng.choice(EXES)
        process_ids.append(_uuid(rng))
        exes.append(exe)
        starts.append(end_us - rng.randrange(window_us))
        draw = rng.random()
        # 4% NULL (unknown), 3% empty (a service account without a name): not the same thing.
        users.append(None if draw < 0.04 else "" if draw < 0.07 else rng.choice(USERS))
        computers.append(rng.choices(HOSTS, HOST_WEIGHTS)[0])
        memory.append(rng.randrange(8, 16_384))
        cpu.append(None if rng.random() < 0.05 else round(rng.random() * 100, 2))
    ts = pa.timestamp("us", tz="UTC")
    processes = pa.table(
        {
            "process_id": pa.array(process_ids, pa.string()),
            "exe": pa.array(exes, pa.string()),
            "start_time": pa.array(starts, ts),
            "username": pa.array(users, pa.string()),
            "computer": pa.array(computers, pa.string()),
            "memory_mb": pa.array(memory, pa.int64()),
            "cpu_percent": pa.array(cpu, pa.float64()),
        }
    )

    log_window_us = int(LOG_WINDOW.total_seconds() * 1_000_000)
    times = sorted(end_us - 1 - rng.randrange(log_window_us) for _ in range(rows))
    hosts, levels, msgs, pids, durations = [], [], [], [], []
    for _ in range(rows):
        host = rng.choices(HOSTS, HOST_WEIGHTS)[0]
        level = rng.choices(LEVELS, LEVEL_WEIGHTS)[0]
        template = rng.choice(MESSAGES[level])
        n = rng.randrange(1, 5000)
        msgs.append(
            template.format(path=rng.choice(PATHS), host=rng.choice(HOSTS), key=f"k{rng.randrange(10_000)}", n=n)
        )
        hosts.append(host)
        levels.append(level)
        pids.append(process_ids[rng.randrange(n_processes)])
        durations.append(round(rng.lognormvariate(3, 1), 3) if template.startswith(("GET", "POST")) else None)
    log_entries = pa.table(
        {
            "time": pa.array(times, ts),
            "host": pa.array(hosts, pa.string()),
            "level": pa.array(levels, pa.string()),
            "msg": pa.array(msgs, pa.string()),
            "process_id": pa.array(pids, pa.string()),
            "duration_ms": pa.array(durations, pa.float64()),
        }
    )
    return SampleData({"log_entries": log_entries, "processes": processes}, rows, seed, end)
