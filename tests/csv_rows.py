"""A CSV export's rows read and written back by tests that edit a register's text (one way for every
test: the byte-order mark huiqi's exports begin with is dropped when read)."""

from __future__ import annotations

import csv
from pathlib import Path


def read_rows(path: Path) -> list[list[str]]:
    """The rows of a CSV file, its header first (without a byte-order mark)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def write_rows(path: Path, rows: list[list[str]], *, encoding: str = "utf-8") -> None:
    """Write ``rows`` as a CSV file (``encoding="utf-8-sig"``: with a byte-order mark, as exports)."""
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
