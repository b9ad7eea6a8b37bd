"""The "you qualify" outbox: messages are stored as what they need (firm, programme, version, the digests of
the rules and of the firm's data) and their text is rendered when they are read, from the register the run
read (the database's, or a register directory) and the programmes loaded now: the scalar evaluator's
explanation for that firm, what a caseworker would see.

A message written by an older version kept its text (``message_zh``/``message_en``): that text is shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiqi.firms.profile import Firm
from huiqi.matching.models import MatchRun, Notification, RegisterFirm
from huiqi.rules.programme import Programme


@dataclass(frozen=True)
class Message:
    """A stored message with its text in both languages."""

    note: Notification
    zh: str
    en: str


def _firm_from_directory(root: Path, uscc: str) -> Firm | None:
    """One firm of a register directory, each table's rows found by ``huiqi.firms.lookup`` (one row group a
    sorted table, from footers kept a process)."""
    from huiqi.firms.frames import tables_to_firms
    from huiqi.firms.lookup import firm_rows
    from huiqi.firms.register import TABLES, read_manifest

    manifest = read_manifest(root)
    tables: dict[str, pa.Table] = {}
    for name in TABLES:
        entry = manifest["tables"].get(name)
        default = f"{name}.parquet"
        file = root / (entry.get("file", default) if isinstance(entry, dict) else default)
        if file.exists():
            tables[name] = firm_rows(file, uscc)
    firms = tables_to_firms(tables) if "firms" in tables else []
    return firms[0] if firms else None


def firm_of(session: Session, register: str, uscc: str) -> Firm | None:
    """The firm as the register a run read holds it now (None when it is no longer there)."""
    if register and register != "db":
        root = Path(register)
        return _firm_from_directory(root, uscc) if root.is_dir() else None
    record = session.scalar(select(RegisterFirm.record).where(RegisterFirm.uscc == uscc))
    from huiqi.firms.frames import tables_to_firms
    from huiqi.firms.importing import tables_from_records

    if record is None:  # the bulk import keeps the register as tables beside the database
        from huiqi.matching.snapshot import columnar_register, session_dir

        stored = columnar_register(session, session_dir(session))
        return None if stored is None else _firm_from_directory(stored, uscc)
    return tables_to_firms(tables_from_records([json.loads(record)]))[0]


def render(programmes: Mapping[str, Programme], firm: Firm | None, note: Notification) -> tuple[str, str]:
    """The message's text (zh, en): who qualifies for what, and why."""
    if note.message_zh is not None and note.message_en is not None:
        return note.message_zh, note.message_en
    p = programmes.get(note.programme)
    name_zh = firm.name_zh if firm is not None else note.uscc
    name_en = (firm.name_en or note.uscc) if firm is not None else note.uscc
    if p is None or firm is None:
        what = p.spec.name if p is not None else None
        zh = f"{name_zh}：您符合「{what.get('zh') if what else note.programme}」的条件（免申即享）。"
        en = f"{name_en}: you qualify for {what.get('en') if what else note.programme}."
        return zh, en
    from huiqi.rules.evaluator import evaluate
    from huiqi.rules.explain import render_text

    result = evaluate(programmes, firm, note.on, [note.programme])[0]
    zh = f"{name_zh}：您符合「{p.spec.name.get('zh')}」的条件（免申即享）。\n" + render_text(result, "zh")
    en = f"{name_en}: you qualify for {p.spec.name.get('en')}.\n" + render_text(result, "en")
    return zh, en


def messages(
    session: Session,
    programmes: Mapping[str, Programme],
    *,
    uscc: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Message]]:
    """A page of messages, newest first, rendered; and how many there are."""
    q = select(Notification, MatchRun.register).join(
        MatchRun, MatchRun.id == Notification.run_id, isouter=True
    )
    n = select(func.count()).select_from(Notification)
    if uscc is not None:
        q, n = q.where(Notification.uscc == uscc), n.where(Notification.uscc == uscc)
    if status:
        q, n = q.where(Notification.status == status), n.where(Notification.status == status)
    rows = session.execute(
        q.order_by(Notification.created_at.desc(), Notification.id).offset(offset).limit(limit)
    ).all()
    firms: dict[tuple[str, str], Firm | None] = {}
    out = []
    for note, register in rows:
        key = (register or "db", note.uscc)
        if key not in firms and (note.message_zh is None or note.message_en is None):
            firms[key] = firm_of(session, key[0], note.uscc)
        zh, en = render(programmes, firms.get(key), note)
        out.append(Message(note, zh, en))
    return session.scalar(n) or 0, out
