"""Where the programmes come from: the programmes the site serves (the bundled packs, overlaid by versions an
officer loaded through the web: files in ``settings.programmes_dir``, one per programme id; every worker
process notices a newly loaded file by the folder's listing, so all of them serve the same versions), or a
fixed set read from packs (the CLI's ``--pack``). Both are a ``ProgrammeSource`` for the use cases."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from huiqi.rules.errors import Location, Problem, ProgrammeError
from huiqi.rules.loader import bundled_pack_dir, bundled_packs, load_pack, load_programmes, programme_files
from huiqi.rules.programme import Programme

_SAFE_NAME = re.compile(r"[^a-zA-Z0-9._-]+")


class ProgrammeSource(Protocol):
    """Anything that says which programmes are in force here."""

    def programmes(self) -> Mapping[str, Programme]:
        """The programmes by id."""
        ...


@dataclass(frozen=True)
class Packs:
    """A fixed set of programmes read from packs (bundled names or folders) once."""

    loaded: Mapping[str, Programme]

    def programmes(self) -> Mapping[str, Programme]:
        """The programmes by id."""
        return self.loaded


def open_packs(packs: Sequence[str | Path] = ()) -> Packs:
    """The programmes of these packs (default: every bundled pack), all or nothing (``ProgrammeError``)."""
    return Packs(load_pack(*packs))


def _peek_id(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return str(data["id"]) if isinstance(data, dict) and "id" in data else None


def upload_name(filename: str) -> str:
    """A safe ``*.programme.yaml`` file name for an uploaded file's name."""
    name = _SAFE_NAME.sub("-", Path(filename).name) or "upload"
    if not name.endswith(".programme.yaml"):
        name = name.removesuffix(".yaml").removesuffix(".yml") + ".programme.yaml"
    return name


def validate_text(known: Mapping[str, Programme], filename: str, text: str) -> Programme:
    """Load one uploaded file against the programmes ``known`` (for references); nothing is kept."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / upload_name(filename)
        path.write_text(text, encoding="utf-8")
        loaded = load_programmes([path], known_ids=known)
    (programme,) = loaded.values()
    return programme


@dataclass(frozen=True)
class Loaded:
    """A file put in force: the programme, the version it replaced, and where the file is kept."""

    programme: Programme
    previous_version: str | None
    path: Path


class ProgrammeRegistry:
    """The programmes one site serves, per worker process (see the module docstring)."""

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
        """The bundled files that no uploaded file replaces, then the uploaded files."""
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
        """The programmes in force, reloaded when the uploads folder changed (checked once a second)."""
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
        return validate_text(self.programmes(), filename, text)

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
        """The text of the file a programme in force was read from."""
        return Path(self.programmes()[programme_id].source).read_text(encoding="utf-8")
