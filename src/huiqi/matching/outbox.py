"""The "you qualify" outbox: messages are stored as what they need (firm, programme, version, the digests of
the rules and of the firm's data) and their text is rendered when they are read, from the register the run
read (the database's, or a register directory) and the programmes loaded now: the scalar evaluator's
explanation for that firm, what a caseworker would see. A rendered text is kept a process (bounded), keyed by
what determines it: the message, the identity of the register's files (or a digest of the firm's stored
record) and the digests of the programmes it reads, so a re-import or a new rule version renders anew.

A message written by an older version kept its text (``message_zh``/``message_en``): that text is shown.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
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


#: How many messages' texts a process keeps (both languages; a few KB each).
KEEP_TEXTS = 4096

_texts: OrderedDict[Hashable, tuple[str, str]] = OrderedDict()
_texts_lock = threading.Lock()


@dataclass(frozen=True)
class _Source:
    """Where a message's firm is read from (``load``) and what tells that version of it from the next
    (``identity``: the register files' identities, or a digest of the stored record); ``load`` reads the
    firm with only what the fields named need (None: all of it)."""

    identity: Hashable
    load: Callable[[frozenset[str] | None], Firm | None]


def _table_files(root: Path) -> dict[str, Path]:
    from huiqi.firms.register import TABLES, read_manifest

    manifest = read_manifest(root)
    files: dict[str, Path] = {}
    for name in TABLES:
        entry = manifest["tables"].get(name)
        default = f"{name}.parquet"
        file = root / (entry.get("file", default) if isinstance(entry, dict) else default)
        if file.exists():
            files[name] = file
    return files


@functools.lru_cache(maxsize=64)
def _firm_columns(names: tuple[str, ...], reads: frozenset[str]) -> list[str]:
    """The firms table's columns a firm needs to be read for expressions that name ``reads``: those, the
    fields a profile requires, its English name (the message's) and what a check compares (R&D staff and
    employees); a field's columns are its own and its year-map or group columns (``sales_2024``, ``ip_*``),
    and the sales columns whenever any year map is read (they say which years there are). Worked out once
    for a register's columns and a set of fields (kept, bounded and locked, by ``lru_cache``)."""
    from huiqi.firms.profile import Firm
    from huiqi.firms.table import YEAR_MAPS

    wanted = {name for name, f in Firm.model_fields.items() if f.is_required()}
    wanted |= {"name_en", "employees", "rd_staff"} | reads
    if wanted & set(YEAR_MAPS):
        wanted.add(YEAR_MAPS[0])
    return [c for c in names if c in wanted or any(c.startswith(f"{w}_") for w in wanted)]


def _firm_from_files(files: Mapping[str, Path], uscc: str, reads: frozenset[str] | None) -> Firm | None:
    """One firm of a register directory, each table's rows found by ``huiqi.firms.lookup`` (one row group a
    sorted table, from footers kept a process); with ``reads``, only the child tables and the firms
    table's columns those fields need (None: the whole firm)."""
    from huiqi.firms.frames import tables_to_firms
    from huiqi.firms.lookup import column_names, firm_rows

    tables: dict[str, pa.Table] = {}
    for name, file in files.items():
        if name == "firms":
            columns = None if reads is None else _firm_columns(tuple(column_names(file)), reads)
            tables[name] = firm_rows(file, uscc, columns)
        elif reads is None or name in reads:
            tables[name] = firm_rows(file, uscc)
    firms = tables_to_firms(tables) if "firms" in tables else []
    return firms[0] if firms else None


#: A register's table files and what tells this version of them from the next (None: no register there).
_Files = tuple[Hashable, dict[str, Path]] | None


def _register_files(session: Session, register: str) -> _Files:
    """The table files of the register a run read: a directory, or the stored register's ("db"). The files'
    identities are taken before they are read: a text cached under them is never older."""
    from huiqi.firms.lookup import file_identity

    if register != "db":
        root: Path | None = Path(register) if Path(register).is_dir() else None
    else:  # the bulk import keeps the register as tables beside the database
        from huiqi.matching.snapshot import columnar_register, session_dir

        root = columnar_register(session, session_dir(session))
    if root is None:
        return None
    files = _table_files(root)
    return ("files", tuple(file_identity(f) for f in files.values())), files


def _source(session: Session, register: str, uscc: str, known: dict[str, _Files]) -> _Source:
    """Where the firm ``uscc`` of ``register`` is read from; ``known``: the registers' files found so far
    (a page of many firms' messages looks for each register's files once)."""
    register = register or "db"
    record = (
        session.scalar(select(RegisterFirm.record).where(RegisterFirm.uscc == uscc))
        if register == "db"
        else None
    )
    if record is None:
        if register not in known:
            known[register] = _register_files(session, register)
        found = known[register]
        if found is None:
            return _Source(("absent", register), lambda _: None)
        identity, files = found
        return _Source(identity, lambda reads: _firm_from_files(files, uscc, reads))

    def load(_reads: frozenset[str] | None) -> Firm | None:
        from huiqi.firms.frames import tables_to_firms
        from huiqi.firms.importing import tables_from_records

        return tables_to_firms(tables_from_records([json.loads(record)]))[0]

    return _Source(("record", hashlib.sha256(record.encode()).hexdigest()), load)


def firm_of(session: Session, register: str, uscc: str) -> Firm | None:
    """The firm as the register a run read holds it now (None when it is no longer there)."""
    return _source(session, register, uscc, {}).load(None)


def _rules(programmes: Mapping[str, Programme], programme: str) -> tuple[tuple[str, str | None], ...]:
    """The digests of a programme and those it refers to (eligible()/amount()): what its text depends on."""
    seen: dict[str, str | None] = {}
    todo = [programme]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        p = programmes.get(pid)
        seen[pid] = p.digest if p is not None else None
        if p is not None:
            todo.extend(p.depends_on)
    return tuple(sorted(seen.items()))


#: The key of a programme's ``memo`` under which ``_firm_fields`` keeps what it found.
_FIRM_FIELDS = "outbox.firm_fields"


def _firm_fields(programme: Programme) -> frozenset[str] | None:
    """The firm's fields (and child tables) the programme's expressions name as ``firm.<field>``; None (the
    whole firm) when ``firm`` appears otherwise. Kept in the programme's memo: worked out once a programme
    (a new version of its rules is another programme)."""
    if _FIRM_FIELDS in programme.memo:
        kept: frozenset[str] | None = programme.memo[_FIRM_FIELDS]
        return kept
    from huiqi.rules import ast

    found: set[str] = set()
    whole = False
    for e in programme.expressions():
        nodes = ast.walk(e.node)
        owners = {id(n.obj) for n in nodes if isinstance(n, ast.Attr)}
        for n in nodes:
            if isinstance(n, ast.Attr) and isinstance(n.obj, ast.Name) and n.obj.id == "firm":
                found.add(n.name)
            elif isinstance(n, ast.Name) and n.id == "firm" and id(n) not in owners:
                whole = True
    out = None if whole else frozenset(found)
    programme.memo[_FIRM_FIELDS] = out
    return out


def _reads(
    programmes: Mapping[str, Programme], rules: tuple[tuple[str, str | None], ...]
) -> frozenset[str] | None:
    """The firm's fields that the programmes of ``rules`` name (None: the whole firm). A field no expression
    names cannot change the evaluation or its explanation, so it need not be decoded to render the text."""
    found: set[str] = set()
    for pid, _ in rules:
        p = programmes.get(pid)
        fields = _firm_fields(p) if p is not None else frozenset()
        if fields is None:
            return None
        found |= fields
    return frozenset(found)


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
    sources: dict[tuple[str, str], _Source] = {}
    registers: dict[str, _Files] = {}
    # first the kept texts; the rest need their firm, read once with what all its messages' rules name
    texts: dict[int, tuple[str, str]] = {}
    todo: list[tuple[int, tuple[str, str], Hashable]] = []
    reads: dict[tuple[str, str], frozenset[str] | None] = {}
    for i, (note, register) in enumerate(rows):
        if note.message_zh is not None and note.message_en is not None:
            texts[i] = (note.message_zh, note.message_en)
            continue
        key = (register or "db", note.uscc)
        if key not in sources:
            sources[key] = _source(session, key[0], note.uscc, registers)
        rules = _rules(programmes, note.programme)
        cached = (note.id, note.uscc, note.programme, note.on, sources[key].identity, rules)
        with _texts_lock:
            text = _texts.get(cached)
            if text is not None:
                _texts.move_to_end(cached)
        if text is not None:
            texts[i] = text
        else:
            todo.append((i, key, cached))
            needs = _reads(programmes, rules)
            before = reads.get(key, frozenset())
            reads[key] = None if needs is None or before is None else before | needs
    firms = {key: sources[key].load(fields) for key, fields in reads.items()}
    for i, key, kept in todo:
        text = render(programmes, firms[key], rows[i][0])
        texts[i] = text
        with _texts_lock:
            _texts[kept] = text
            while len(_texts) > KEEP_TEXTS:
                _texts.popitem(last=False)
    out = [Message(note, *texts[i]) for i, (note, _) in enumerate(rows)]
    return session.scalar(n) or 0, out
