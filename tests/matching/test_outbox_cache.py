"""A message's text is kept a process, keyed by what determines it: viewed again it is not re-evaluated,
but a re-import that changes the firm, or a new version of the programme's rules, renders it anew. Its
firm is read with only the fields its programme's expressions name: the text is the whole firm's."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dbfixtures import Db
from huiqi.firms import register
from huiqi.firms.register import write_register
from huiqi.firms.synth import synth_register
from huiqi.matching.models import MatchRun, Notification
from huiqi.matching.outbox import firm_of, messages, render
from huiqi.rules import evaluator
from huiqi.rules.loader import load_pack

ON = dt.date(2025, 7, 28)


def renamed(tables: dict[str, pa.Table], uscc: str, name: str) -> dict[str, pa.Table]:
    """The register with one firm's Chinese name changed."""
    firms = tables["firms"]
    names = pc.if_else(pc.equal(firms["uscc"], uscc), name, firms["name_zh"])
    column = firms.schema.get_field_index("name_zh")
    return {**tables, "firms": firms.set_column(column, "name_zh", names)}


def notify(db: Db, root: Path, codes: list[str], ids: list[str]) -> None:
    """A run over the register directory ``root`` with a message for each firm and programme."""
    programmes = load_pack()
    with db.session() as s:
        run = MatchRun(on=ON, register=str(root), backend="duckdb", programmes=",".join(ids))
        s.add(run)
        s.flush()
        for uscc in codes:
            for pid in ids:
                p = programmes[pid]
                s.add(
                    Notification(
                        uscc=uscc,
                        programme=pid,
                        version=p.version,
                        programme_digest=p.digest,
                        on=ON,
                        amount=Decimal("1.00"),
                        run_id=run.id,
                    )
                )
        s.commit()


def test_every_programme_s_text_is_the_whole_firm_s(sqlite_db: Db, tmp_path: Path) -> None:
    tables = synth_register(60, 8)
    root = write_register(tables, tmp_path / "register")
    programmes = load_pack()
    codes = tables["firms"]["uscc"].to_pylist()[::6]
    notify(sqlite_db, root, codes, sorted(programmes))
    with sqlite_db.session() as s:
        total, found = messages(s, programmes, limit=10_000)
        assert total == len(found) == len(codes) * len(programmes)
        for m in found:
            whole = firm_of(s, str(root), m.note.uscc)
            assert whole is not None
            assert (m.zh, m.en) == render(programmes, whole, m.note), (m.note.uscc, m.note.programme)


def test_a_kept_text_is_never_stale(sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tables = synth_register(40, 5)
    root = write_register(tables, tmp_path / "register")
    uscc = tables["firms"]["uscc"][3].as_py()
    programmes = load_pack()
    programme = sorted(programmes)[0]
    notify(sqlite_db, root, [uscc], [programme])
    evaluated: list[Any] = []
    original = evaluator.evaluate

    def counting(*args: Any, **kw: Any) -> Any:
        evaluated.append(args)
        return original(*args, **kw)

    monkeypatch.setattr(evaluator, "evaluate", counting)

    def text(using: Any = programmes) -> str:
        with sqlite_db.session() as s:
            total, found = messages(s, using, uscc=uscc)
        assert total == 1
        return found[0].zh

    first = text()
    assert first.startswith(tables["firms"]["name_zh"][3].as_py()) and len(evaluated) == 1
    assert text() == first and len(evaluated) == 1, "viewed again: the kept text"
    write_register(renamed(tables, uscc, "改名后的企业"), root)  # a re-import: new files renamed into place
    again = text()
    assert again.startswith("改名后的企业") and len(evaluated) == 2
    assert again.split("\n", 1)[1] == first.split("\n", 1)[1], "the same explanation, the new name"
    changed = {**programmes, programme: dataclasses.replace(programmes[programme], digest="another version")}
    assert "another vers" in text(changed) and len(evaluated) == 3, "other rules: rendered anew"


def test_a_page_of_many_firms_looks_for_the_register_s_files_once(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = synth_register(30, 9)
    root = write_register(tables, tmp_path / "register")
    programmes = load_pack()
    codes = tables["firms"]["uscc"].to_pylist()[:12]
    notify(sqlite_db, root, codes, sorted(programmes)[:1])
    manifests: list[Path] = []
    original = register.read_manifest

    def counting(where: Path) -> Any:
        manifests.append(where)
        return original(where)

    monkeypatch.setattr(register, "read_manifest", counting)
    with sqlite_db.session() as s:
        total, found = messages(s, programmes, limit=100)
    assert total == len(found) == len(codes)
    assert {m.note.uscc for m in found} == set(codes)
    assert manifests == [root], "one register: its manifest read once for the page, not once a firm"
