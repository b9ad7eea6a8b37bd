"""Versions of programmes by date: any number of versions of a programme coexist, and the one in force on a
date is chosen by its effective period.

``Versions`` is a ``Mapping`` from programme id to the version chosen on its reference date (today in
Shanghai unless pinned with ``on``), so code that reads "the programmes" keeps working; the evaluator
re-chooses for the date it evaluates (``for_date``), so ``eligible("other.programme")`` refers to the other
programme's version in force on the same date. A version whose file gives no end is in force until the next
version starts. On a date when no version is in force, the latest one that started before it (or, before
any, the first) is chosen, so an explanation can say "not in force" rather than "unknown programme".

A version may be withdrawn (issue 15's lifecycle): it stays readable (``versions``, ``version``, ``every``:
calls pinned to it and decisions made under it still find it) but is never chosen, so it is in force on no
date; ``period`` ignores it when closing an open end. A programme whose every version is withdrawn is not
among the mapping's keys (so a file that refers to it is refused as unknown), but ``in`` still knows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from zoneinfo import ZoneInfo

from huiqi.rules.errors import UnknownProgramme
from huiqi.rules.programme import Programme

SHANGHAI = ZoneInfo("Asia/Shanghai")
_MAX_VIEWS = 256
#: every version by id, the versions not withdrawn by id, the withdrawn keys, the chosen views by date
_Shared = tuple[
    dict[str, tuple["Programme", ...]],
    dict[str, tuple["Programme", ...]],
    frozenset[tuple[str, str]],
    dict[dt.date, dict[str, "Programme"]],
]


def today() -> dt.date:
    """Today in Shanghai: the reference date of an unpinned ``Versions``."""
    return dt.datetime.now(SHANGHAI).date()


class Versions(Mapping[str, Programme]):
    """Every loaded version of every programme; as a mapping, the version of each id chosen on ``as_of``."""

    def __init__(
        self,
        programmes: Iterable[Programme] = (),
        *,
        as_of: dt.date | None = None,
        withdrawn: Iterable[tuple[str, str]] = (),
        _shared: _Shared | None = None,
    ) -> None:
        if _shared is None:
            by_id: dict[str, list[Programme]] = {}
            for p in programmes:
                by_id.setdefault(p.id, []).append(p)
            gone = frozenset(withdrawn)
            every = {pid: tuple(sorted(vs, key=_start)) for pid, vs in by_id.items()}
            live = {pid: tuple(p for p in vs if (pid, p.version) not in gone) for pid, vs in every.items()}
            _shared = (every, {pid: vs for pid, vs in live.items() if vs}, gone, {})
        self._by_id, self._live, self._withdrawn, self._views = _shared
        self.as_of = as_of

    # --- the mapping: one version per id, chosen on the reference date ---------------------------------

    def chosen(self, day: dt.date | None = None) -> dict[str, Programme]:
        """The version of every programme chosen on a date (default: the reference date)."""
        day = day or self.as_of or today()
        view = self._views.get(day)
        if view is None:
            view = {pid: _choose(vs, day) for pid, vs in sorted(self._live.items())}
            if len(self._views) >= _MAX_VIEWS:
                self._views.clear()
            self._views[day] = view
        return view

    def __getitem__(self, pid: str) -> Programme:
        return self.chosen()[pid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live)

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, pid: object) -> bool:
        return pid in self._by_id

    # --- versions -----------------------------------------------------------------------------------------

    def on(self, day: dt.date) -> Versions:
        """The same versions, choosing on this date."""
        if day == self.as_of:
            return self
        return Versions(as_of=day, _shared=(self._by_id, self._live, self._withdrawn, self._views))

    def withdrawing(self, keys: Iterable[tuple[str, str]]) -> Versions:
        """The same versions with these ``(programme id, version)`` withdrawn as well (never chosen)."""
        return Versions(self.every(), as_of=self.as_of, withdrawn=self._withdrawn | frozenset(keys))

    def is_withdrawn(self, programme: Programme) -> bool:
        """Whether this version was withdrawn (readable, in force on no date)."""
        return (programme.id, programme.version) in self._withdrawn

    @property
    def withdrawn(self) -> frozenset[tuple[str, str]]:
        """The ``(programme id, version)`` of every withdrawn version."""
        return self._withdrawn

    def versions(self, pid: str) -> tuple[Programme, ...]:
        """Every version of a programme, earliest period first (``UnknownProgramme`` if none)."""
        if pid not in self._by_id:
            raise UnknownProgramme(pid)
        return self._by_id[pid]

    def version(self, pid: str, version: str) -> Programme:
        """One version of a programme (``UnknownProgramme`` naming the version if it is not loaded)."""
        for p in self.versions(pid):
            if p.version == version:
                return p
        raise UnknownProgramme(f"{pid} version {version}")

    def every(self) -> Iterator[Programme]:
        """Every version of every programme, by id then period."""
        for pid in sorted(self._by_id):
            yield from self._by_id[pid]

    def period(self, programme: Programme) -> tuple[dt.date, dt.date | None]:
        """When a version is in force: its file's period, an open end closed by the next version's start."""
        eff = programme.spec.effective
        if eff.end is not None:
            return eff.start, eff.end
        later = [p for p in self._live.get(programme.id, ()) if p.spec.effective.start > eff.start]
        return eff.start, (later[0].spec.effective.start - dt.timedelta(days=1)) if later else None

    def pinned(self, programme: Programme, day: dt.date) -> dict[str, Programme]:
        """The versions chosen on a date, with this version of its programme whatever else is in force there
        (what checking an application of a call pinned to a version evaluates)."""
        return {**self.chosen(day), programme.id: programme}


def _start(p: Programme) -> dt.date:
    return p.spec.effective.start


def _choose(versions: tuple[Programme, ...], day: dt.date) -> Programme:
    started = [p for p in versions if p.spec.effective.start <= day]
    return started[-1] if started else versions[0]


def for_date(programmes: Mapping[str, Programme], day: dt.date) -> Mapping[str, Programme]:
    """The programmes to evaluate on a date: the versions in force then when ``programmes`` holds several."""
    return programmes.on(day) if isinstance(programmes, Versions) else programmes


def overlaps(a: Programme, b: Programme) -> bool:
    """Whether two versions of one programme claim a common day (an open end yields to a later start)."""
    first, second = sorted((a, b), key=lambda p: p.spec.effective.start)
    if first.spec.effective.start == second.spec.effective.start:
        return True
    end = first.spec.effective.end
    return end is not None and end >= second.spec.effective.start
