"""A register written as it is made (``huiqi register synth --out`` at 30 M firms): the same register as the
one made in memory, and nothing replaced when a part fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huiqi.app import register as register_app
from huiqi.firms import synth
from huiqi.firms.register import RegisterError, read_register, write_register, write_register_chunks
from huiqi.firms.table import CHILD_TABLES


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Chunks of 700 firms, so that a few thousand firms are several chunks."""
    monkeypatch.setattr(synth, "CHUNK", 700)
    return 700


def _slices(tables: dict[str, pa.Table], parts: int) -> Iterator[dict[str, pa.Table]]:
    """``tables`` cut into ``parts`` consecutive row ranges of every table."""
    for i in range(parts):
        yield {
            name: t.slice(t.num_rows * i // parts, t.num_rows * (i + 1) // parts - t.num_rows * i // parts)
            for name, t in tables.items()
        }


def test_streamed_synth_is_the_register_made_in_memory(small_chunks: int, tmp_path: Path) -> None:
    n = small_chunks * 3 + 123
    view = register_app.synth_register(None, firms=n, seed=7, out=tmp_path / "reg")
    whole = synth.synth_register(n, 7)
    back = read_register(tmp_path / "reg")
    assert set(back) == {"firms", *CHILD_TABLES}
    for name, table in whole.items():
        assert back[name].equals(table), name
    assert view.firms == n
    assert dict(view.children) == {name: whole[name].num_rows for name in CHILD_TABLES}
    counts = {
        str(r["values"]): int(r["counts"]) for r in pc.value_counts(whole["firms"]["sector"]).to_pylist()
    }
    assert dict(view.sectors) == counts
    assert [c for _, c in view.sectors] == sorted(counts.values(), reverse=True)


def test_streamed_empty_register(tmp_path: Path) -> None:
    view = register_app.synth_register(None, firms=0, seed=1, out=tmp_path / "reg")
    assert view.firms == 0
    assert all(t.num_rows == 0 for t in read_register(tmp_path / "reg").values())


def test_chunks_written_in_order(tmp_path: Path) -> None:
    whole = synth.synth_register(2_000, 3)
    write_register_chunks(_slices(whole, 4), tmp_path / "reg")
    back = read_register(tmp_path / "reg")
    for name, table in whole.items():
        assert back[name].equals(table), name


def test_a_bad_part_replaces_nothing(tmp_path: Path) -> None:
    old = synth.synth_register(300, 1)
    write_register(old, tmp_path / "reg")
    before = {p.name: p.read_bytes() for p in (tmp_path / "reg").iterdir()}
    new = synth.synth_register(1_000, 2)
    parts = list(_slices(new, 3))
    parts[2]["firms"] = parts[2]["firms"].drop_columns(["employees"])
    with pytest.raises(RegisterError, match="employees"):
        write_register_chunks(iter(parts), tmp_path / "reg")
    after = {p.name: p.read_bytes() for p in (tmp_path / "reg").iterdir()}
    assert after == before  # no temporary file left, the old register whole


def test_no_parts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegisterError):
        write_register_chunks(iter([]), tmp_path / "reg")
