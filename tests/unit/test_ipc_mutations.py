"""The seeded IPC mutation generator behind the engine's hostile-input tests."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests import ipc_mutations


def test_same_seed_same_streams():
    first = list(ipc_mutations.mutated_streams(seed=7, count=300))
    assert first == list(ipc_mutations.mutated_streams(seed=7, count=300))
    assert first != list(ipc_mutations.mutated_streams(seed=8, count=300))
    assert len(first) == 300
    assert all(isinstance(label, str) and isinstance(data, bytes) for label, data in first)


def test_every_mutation_kind_appears_in_2000_inputs():
    seen: set[str] = set()
    base_names = {name for name, _ in ipc_mutations.base_streams()}
    used_bases = set()
    for label, _ in ipc_mutations.mutated_streams(seed=1, count=2000):
        seen |= ipc_mutations.kinds_of(label)
        used_bases.add(label.split("'")[1])
    assert seen == set(ipc_mutations.KINDS)
    assert used_bases == base_names


def test_mutations_change_the_bytes():
    bases = {data for _, data in ipc_mutations.base_streams()}
    streams = list(ipc_mutations.mutated_streams(seed=3, count=500))
    unchanged = sum(data in bases for _, data in streams)
    assert unchanged < 25, unchanged  # a mutation can only rarely restore a base stream
    assert len({data for _, data in streams}) > 450


def test_edge_values_hit_structural_fields():
    labels = [label for label, _ in ipc_mutations.mutated_streams(seed=5, count=2000)]
    for needle in (
        "2^32+",
        "2^31-1",
        "=-1 @",
        "buffer",
        "null count",
        "body length",
        "metadata length",
        "uncompressed length",
        "dictionary id",
    ):
        assert any(needle in label for label in labels), needle


@pytest.mark.parametrize("name, data", ipc_mutations.base_streams(), ids=lambda v: v if isinstance(v, str) else "")
def test_base_streams_are_valid(name, data):
    table = pa.ipc.open_stream(data).read_all()
    table.validate(full=True)
    assert table.num_rows > 0
    assert data.endswith((ipc_mutations.EOS, b"\x00\x00\x00\x00"))
    expected = dict(ipc_mutations.base_tables())
    source = next((t for key, t in expected.items() if name.startswith(key.split(" ")[0])), None)
    if source is not None and source.schema == table.schema:
        assert table.equals(source)
