"""Where the programmes come from: the programmes the site serves (the bundled packs, overlaid by versions an
officer loaded: files in ``settings.programmes_dir``, one per programme version; every worker process notices
a newly loaded file by the folder's listing, so all of them serve the same versions), or a fixed set read
from packs (the CLI's ``--pack``). Both are a ``ProgrammeSource`` for the use cases, and both hold every
version of a programme (``rules.versions.Versions``): the one in force on a date is chosen by its period.

A loaded version sits beside the others when its period follows theirs (next year's version from 1 January);
one that starts on the same day as a version already here replaces it (a corrected re-issue of that period,
as a bundled version is replaced by the site's own); any other overlap is refused at its ``effective``.

A withdrawn version's file is kept in the uploads folder's ``withdrawn/`` subfolder (a bundled version's as a
copy, which also takes the bundled file out of force): it is served as withdrawn (readable for the calls and
decisions pinned to it, in force on no date; ``rules.versions.Versions``) and its period is free again."""

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
from huiqi.rules.versions import Versions

_SAFE_NAME = re.compile(r"[^a-zA-Z0-9._-]+")
#: the uploads folder's subfolder of withdrawn versions
WITHDRAWN_DIR = "withdrawn"


class ProgrammeSource(Protocol):
    """Anything that says which programmes are in force here."""

    def programmes(self) -> Versions:
        """Every version of every programme (as a mapping: the version of each id in force today)."""
        ...


@dataclass(frozen=True)
class Packs:
    """A fixed set of programmes read from packs (bundled names or folders) once."""

    loaded: Versions

    def programmes(self) -> Versions:
        """Every version of every programme (as a mapping: the version of each id in force today)."""
        return self.loaded


def open_packs(packs: Sequence[str | Path] = ()) -> Packs:
    """The programmes of these packs (default: every bundled pack), all or nothing (``ProgrammeError``)."""
    return Packs(load_pack(*packs))


_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _peek(path: Path) -> tuple[str, str, str] | None:
    """A file's programme id, version and effective start as written, without loading it."""
    try:
        # libyaml's safe loader where it is built in (about ten times quicker: the registry peeks at every
        # file of its directory whenever it is asked which versions there are)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # nosec B506  # a safe loader
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict) or "id" not in data:
        return None
    eff = data.get("effective")
    start = eff.get("from") if isinstance(eff, dict) else None
    return str(data["id"]), str(data.get("version")), str(start)


def upload_name(filename: str) -> str:
    """A safe ``*.programme.yaml`` file name for an uploaded file's name."""
    name = _SAFE_NAME.sub("-", Path(filename).name) or "upload"
    if not name.endswith(".programme.yaml"):
        name = name.removesuffix(".yaml").removesuffix(".yml") + ".programme.yaml"
    return name


def validate_text(known: Mapping[str, Programme], filename: str, text: str) -> Programme:
    """Load one uploaded file against the programmes ``known`` (for references) and, when they are the
    served ``Versions``, beside the other versions of its programme (a period that overlaps one of theirs
    is refused at the file's ``effective``, as loading it would be); nothing is kept."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / upload_name(filename)
        path.write_text(text, encoding="utf-8")
        try:
            (programme,) = load_programmes([path], known_ids=known).every()
        except ProgrammeError as exc:
            raise _named(_said_withdrawn(exc, known), path, filename) from None
        if isinstance(known, Versions) and programme.id in known:
            start = programme.spec.effective.start
            beside = [
                Path(p.source)
                for p in known.versions(programme.id)
                if p.spec.effective.start != start
                and p.version != programme.version
                and not known.is_withdrawn(p)
            ]
            try:
                load_programmes([*beside, path], known_ids=known)
            except ProgrammeError as exc:
                raise _named(exc, path, filename) from None
    return programme


def _said_withdrawn(exc: ProgrammeError, known: Mapping[str, Programme]) -> ProgrammeError:
    """The same refusal, saying so where an unknown programme referred to is one whose every version was
    withdrawn."""
    if not isinstance(known, Versions):
        return exc
    gone = {pid for pid, _ in known.withdrawn if pid in known and pid not in known.chosen()}
    problems = []
    for p in exc.problems:
        message = p.message
        for pid in sorted(gone):
            if f"unknown programme {pid!r}" in message:
                message += " (every version of it was withdrawn)"
        problems.append(Problem(p.location, message))
    return ProgrammeError(problems)


def _named(exc: ProgrammeError, path: Path, filename: str) -> ProgrammeError:
    """The same refusal, with the kept file's path shown as the name the file came with."""
    return ProgrammeError(
        [
            Problem(Location(filename, p.location.line, p.location.column), p.message)
            if p.location.path == str(path)
            else p
            for p in exc.problems
        ]
    )


@dataclass(frozen=True)
class Loaded:
    """A file put in force: the programme, the version in force on its first day before it came (the one it
    follows or replaces), and where the file is kept."""

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
        self._programmes = Versions()

    @property
    def withdrawn_dir(self) -> Path:
        """Where withdrawn versions' files are kept."""
        return self.uploads / WITHDRAWN_DIR

    def _listing(self) -> tuple[tuple[str, int, int], ...]:
        if not self.uploads.is_dir():
            return ()
        return tuple(
            (str(p.relative_to(self.uploads)), p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(
                [*self.uploads.glob("*.programme.yaml"), *self.withdrawn_dir.glob("*.programme.yaml")]
            )
        )

    def _uploaded(self) -> list[Path]:
        if not self.uploads.is_dir():
            return []
        return [p for p in programme_files(self.uploads) if p.parent != self.withdrawn_dir]

    def _withdrawn_files(self) -> list[Path]:
        return programme_files(self.withdrawn_dir) if self.withdrawn_dir.is_dir() else []

    def files(self) -> list[Path]:
        """The bundled files that no uploaded file replaces (same version, or same first day) and that were
        not withdrawn, then the uploaded files: the versions that may be in force."""
        uploaded = [_peek(p) for p in self._uploaded()]
        withdrawn = {(w[0], w[1]) for w in map(_peek, self._withdrawn_files()) if w}
        versions = {(u[0], u[1]) for u in uploaded if u} | withdrawn
        starts = {(u[0], u[2]) for u in uploaded if u}
        bundled = []
        for name in bundled_packs():
            for f in programme_files(bundled_pack_dir(name)):
                peek = _peek(f)
                if peek is None or ((peek[0], peek[1]) not in versions and (peek[0], peek[2]) not in starts):
                    bundled.append(f)
        return bundled + self._uploaded()

    def _load_all(self, files: Sequence[Path]) -> Versions:
        """These files in force, and the withdrawn versions beside them (each read on its own: their periods
        may overlap anything)."""
        live = load_programmes(files)
        withdrawn = self._withdrawn_files()
        known = {*live, *(w[0] for w in map(_peek, withdrawn) if w)}  # they may refer to one another
        gone: list[Programme] = []
        try:  # together when they can be (a few times faster); one by one when their periods overlap
            gone += load_programmes(withdrawn, known_ids=known).every()
        except ProgrammeError:
            for f in withdrawn:
                gone += load_programmes([f], known_ids=known).every()
        return Versions([*live.every(), *gone], withdrawn=[(g.id, g.version) for g in gone])

    def programmes(self) -> Versions:
        """Every version served, reloaded when the uploads folder changed (checked once a second)."""
        now = time.monotonic()
        if self._signature is not None and now - self._checked < self.recheck_seconds:
            return self._programmes
        with self._lock:
            listing = self._listing()
            if listing != self._signature:
                self._programmes = self._load_all(self.files())
                self._signature = listing
            self._checked = now
            return self._programmes

    def validate(self, filename: str, text: str) -> Programme:
        """Load one uploaded file against the programmes served (for references); nothing is kept."""
        return validate_text(self.programmes(), filename, text)

    def _target(self, programme: Programme) -> Path:
        """Where a new version is kept: over an uploaded version of the same first day, else a new file
        (``<id>.programme.yaml`` for the first, ``<id>.<version>.programme.yaml`` for the next ones)."""
        start = str(programme.spec.effective.start)
        for path in self._uploaded():
            peek = _peek(path)
            if peek is not None and (peek[0], peek[2]) == (programme.id, start):
                return path
        base = _SAFE_NAME.sub("-", programme.id)
        first = self.uploads / f"{base}.programme.yaml"
        if not first.exists():
            return first
        return self.uploads / f"{base}.{_SAFE_NAME.sub('-', programme.version)}.programme.yaml"

    def load(self, filename: str, text: str) -> Loaded:
        """Validate, refuse a version already here, then keep the file beside the other versions and reload
        everything (all or nothing: if the whole set no longer loads, e.g. because the new period overlaps
        another version's, the file is removed again and the refusal names the uploaded file)."""
        programme = self.validate(filename, text)
        served = self.programmes()
        same = (
            [p for p in served.versions(programme.id) if p.version == programme.version]
            if (programme.id in served)
            else []
        )
        if same:
            was = "was withdrawn" if served.is_withdrawn(same[0]) else "is already in force"
            raise ProgrammeError(
                [
                    Problem(
                        Location(filename),
                        f"version {programme.version} of {programme.id} {was}; give the new file a new "
                        "version",
                    )
                ]
            )
        start = programme.spec.effective.start
        before = served.chosen(start).get(programme.id)
        if before is not None and before.spec.effective.start > start:
            before = None  # the new version comes first: it follows none
        self.uploads.mkdir(parents=True, exist_ok=True)
        target = self._target(programme)
        backup = target.read_bytes() if target.exists() else None
        target.write_text(text, encoding="utf-8")
        try:
            with self._lock:  # the new file last, so that a clash is shown at its own position
                self._programmes = self._load_all([f for f in self.files() if f != target] + [target])
                self._signature = self._listing()
        except ProgrammeError as exc:
            if backup is None:
                target.unlink()
            else:
                target.write_bytes(backup)
            raise _named(exc, target, filename) from None
        kept = self._programmes.version(programme.id, programme.version)
        return Loaded(kept, before.version if before else None, target)

    def trial(self, filename: str, text: str) -> tuple[Programme, Versions]:
        """A file validated as ``load`` would, and the programmes served as they would be with it in force
        (for its test cases, a diff and the cost of the change before it is published); nothing is kept."""
        programme = self.validate(filename, text)
        start = str(programme.spec.effective.start)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / upload_name(filename)
            path.write_text(text, encoding="utf-8")
            kept = []
            for f in self.files():
                peek = _peek(f)
                if (
                    peek is None
                    or peek[0] != programme.id
                    or (programme.version != peek[1] and start != peek[2])
                ):
                    kept.append(f)
            try:
                served = load_programmes([*kept, path])
            except ProgrammeError as exc:
                raise _named(exc, path, filename) from None
        return served.version(programme.id, programme.version), served

    def withdraw(self, programme_id: str, version: str) -> Programme:
        """Take a version out of force (its file moves to ``withdrawn/``; a bundled one is copied there),
        refused when it is not in force here or when programmes in force still refer to a programme that
        would have no version left; the withdrawn version stays readable."""
        served = self.programmes()
        programme = served.version(programme_id, version)
        if served.is_withdrawn(programme):
            raise ProgrammeError(
                [Problem(Location(programme_id), f"version {version} of {programme_id} is already withdrawn")]
            )
        others = [
            p for p in served.versions(programme_id) if p is not programme and not served.is_withdrawn(p)
        ]
        if not others:
            users = sorted(
                f"{p.id} {p.version}"
                for p in served.every()
                if not served.is_withdrawn(p) and programme_id in p.depends_on and p.id != programme_id
            )
            if users:
                raise ProgrammeError(
                    [
                        Problem(
                            Location(programme_id),
                            f"{programme_id} version {version} is its last version in force, and "
                            f"{', '.join(users)} refer(s) to it; withdraw or change those first",
                        )
                    ]
                )
        source = Path(programme.source)
        self.withdrawn_dir.mkdir(parents=True, exist_ok=True)
        name = f"{_SAFE_NAME.sub('-', programme_id)}.{_SAFE_NAME.sub('-', version)}.programme.yaml"
        target = self.withdrawn_dir / name
        target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        uploaded = source.parent == self.uploads
        backup = source.read_bytes() if uploaded else None
        if uploaded:
            source.unlink()
        try:
            with self._lock:
                self._programmes = self._load_all(self.files())
                self._signature = self._listing()
        except ProgrammeError:
            target.unlink()
            if backup is not None:
                source.write_bytes(backup)
            raise
        return self._programmes.version(programme_id, version)

    def source_text(self, programme_id: str, version: str | None = None) -> str:
        """The text of the file a programme version was read from (default: the one in force today)."""
        served = self.programmes()
        p = served.version(programme_id, version) if version else served[programme_id]
        return Path(p.source).read_text(encoding="utf-8")
