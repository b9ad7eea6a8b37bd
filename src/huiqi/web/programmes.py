"""The programmes the site serves: the bundled packs, overlaid by versions an officer loaded through the web
(files in ``settings.programmes_dir``, one per programme id). Every worker process notices a newly loaded
file by the folder's listing, so all of them serve the same versions."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from huiqi.rules.errors import Location, Problem, ProgrammeError
from huiqi.rules.loader import bundled_pack_dir, bundled_packs, load_programmes, programme_files
from huiqi.rules.programme import Programme

_SAFE_NAME = re.compile(r"[^a-zA-Z0-9._-]+")


def _peek_id(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return str(data["id"]) if isinstance(data, dict) and "id" in data else None


@dataclass(frozen=True)
class Loaded:
    programme: Programme
    previous_version: str | None
    path: Path


class ProgrammeRegistry:
    def __init__(self, uploads: Path, *, recheck_seconds: float = 1.0) -> None:
        self.uploads = uploads
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked = 0.0
        self._programmes: dict[str, Programme] = {}

    def _listing(self) -> tuple[tuple[str, int, int], ...]:
        if not self.uploads.is_dir():
            return ()
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(self.uploads.glob("*.programme.yaml"))
        )

    def files(self) -> list[Path]:
        uploaded = programme_files(self.uploads) if self.uploads.is_dir() else []
        replaced = {i for i in (_peek_id(p) for p in uploaded) if i}
        bundled = [
            f
            for name in bundled_packs()
            for f in programme_files(bundled_pack_dir(name))
            if _peek_id(f) not in replaced
        ]
        return bundled + uploaded

    def programmes(self) -> dict[str, Programme]:
        now = time.monotonic()
        if self._signature is not None and now - self._checked < self.recheck_seconds:
            return self._programmes
        with self._lock:
            listing = self._listing()
            if listing != self._signature:
                self._programmes = load_programmes(self.files())
                self._signature = listing
            self._checked = now
            return self._programmes

    def validate(self, filename: str, text: str) -> Programme:
        """Load one uploaded file against the programmes in force (for references); nothing is kept."""
        current = self.programmes()
        with tempfile.TemporaryDirectory() as tmp:
            name = _SAFE_NAME.sub("-", Path(filename).name) or "upload"
            if not name.endswith(".programme.yaml"):
                name = name.removesuffix(".yaml").removesuffix(".yml") + ".programme.yaml"
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            loaded = load_programmes([path], known_ids=current)
        (programme,) = loaded.values()
        return programme

    def load(self, filename: str, text: str) -> Loaded:
        """Validate, refuse a version already in force, then keep the file and reload everything (all or
        nothing: if the whole set no longer loads, the file is removed again)."""
        programme = self.validate(filename, text)
        current = self.programmes().get(programme.id)
        if current is not None and current.version == programme.version:
            raise ProgrammeError(
                [
                    Problem(
                        Location(filename),
                        f"version {programme.version} of {programme.id} is already in force; give the new "
                        "file a new version",
                    )
                ]
            )
        self.uploads.mkdir(parents=True, exist_ok=True)
        target = self.uploads / f"{_SAFE_NAME.sub('-', programme.id)}.programme.yaml"
        backup = target.read_bytes() if target.exists() else None
        target.write_text(text, encoding="utf-8")
        try:
            with self._lock:
                self._programmes = load_programmes(self.files())
                self._signature = self._listing()
        except ProgrammeError:
            if backup is None:
                target.unlink()
            else:
                target.write_bytes(backup)
            raise
        return Loaded(self._programmes[programme.id], current.version if current else None, target)

    def source_text(self, programme_id: str) -> str:
        return Path(self.programmes()[programme_id].source).read_text(encoding="utf-8")


def programme_summary(p: Programme, lang: str) -> dict[str, Any]:
    s = p.spec
    return {
        "id": p.id,
        "version": p.version,
        "digest": p.digest[:12],
        "name": s.name.get(lang),
        "name_en": s.name.en,
        "name_zh": s.name.zh,
        "benefit": s.benefit,
        "authority": s.authority.get(lang),
        "document": p.document(None).number,
        "effective_from": s.effective.start.isoformat(),
        "effective_to": s.effective.end.isoformat() if s.effective.end else None,
        "pool": s.pool.id if s.pool else None,
        "pool_size": str(s.pool.size) if s.pool else None,
    }


def programme_document(p: Programme, lang: str) -> dict[str, Any]:
    """The programme as a readable document (what ``huiqi programmes show`` prints), as data."""
    from huiqi.rules.explain import fmt

    s = p.spec
    return {
        **programme_summary(p, lang),
        "summary": s.summary.get(lang) if s.summary else None,
        "legal_basis": [
            {"title": d.title.get(lang), "number": d.number, "date": str(d.date), "url": d.url}
            for d in s.legal_basis
        ],
        "pool_name": s.pool.name.get(lang) if s.pool else None,
        "parameters": [
            {
                "name": name,
                "label": param.label.get(lang),
                "assumption": bool(param.assumption),
                "clause": p.cite(param.clause, param.doc),
                "values": [
                    {"from": str(dv.start), "value": fmt(value, param.unit, lang)}
                    for dv, value in zip(param.values, p.params[name].values, strict=True)
                ],
                "note": param.note.strip() if param.note else None,
            }
            for name, param in s.parameters.items()
        ],
        "values": [
            {"name": n, "expr": v.expr.strip(), "label": v.label.get(lang)} for n, v in s.values.items()
        ],
        "conditions": [
            {
                "id": c.id,
                "label": c.label.get(lang),
                "clause": p.cite(c.clause, c.doc),
                "test": c.test.strip(),
            }
            for c in s.conditions
        ],
        "exclusions": [
            {
                "id": x.id,
                "label": x.label.get(lang),
                "clause": p.cite(x.clause, x.doc),
                "when": x.when.strip(),
            }
            for x in s.exclusions
        ],
        "amount": (
            {
                "label": s.amount.label.get(lang),
                "clause": p.cite(s.amount.clause, s.amount.doc),
                "expr": s.amount.expr.strip(),
            }
            if s.amount
            else None
        ),
    }
