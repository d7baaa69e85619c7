"""The localhost query server of the browser tests: toolchain/pipeline/query_server.py, re-exported.

It lives in the pipeline layer because `python -m toolchain demo` serves queries with it too,
and the cli layer may not import this one (docs/design.md, Layers)."""

from __future__ import annotations

from toolchain.pipeline.query_server import (
    CONTENT_TYPE,
    QUERY_PATH,
    STALL_LIMIT_S,
    Faults,
    QueryServer,
    Served,
    native_context,
    request_handler,
)

__all__ = [
    "CONTENT_TYPE",
    "QUERY_PATH",
    "STALL_LIMIT_S",
    "Faults",
    "QueryServer",
    "Served",
    "native_context",
    "request_handler",
]
