"""Programmes through their life (issue 15), once for the CLI, the API and the pages: a draft (a programme
file's text and its test cases, kept in the database with its author), submitted for review, published by a
second officer when its test cases pass, or rejected back to its author with a reason; a published version
withdrawn with a reason (readable for the calls and decisions pinned to it, in force on no date). Every step
is a link in the audit chain. Also the diff between two versions (or a draft and the version it follows) and
the cost of the change over a register before publishing.

Publishing puts the file in force the way ``huiqi programmes load`` does (``ProgrammeRegistry.load``: beside
the other versions, an overlap refused); ``load`` stays the operator's bootstrap (docs/programmes.md).

The test cases a draft must pass (``draft_cases``): its own (``tests``, a ``*.tests.yaml`` text, which may
name the pack's fixture firms), at least one of them for the draft's programme in the draft's period, and
the pack's cases for that programme dated outside the draft's period (the other versions decide as before).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huiqi.app.programmes import CaseView, TestRun, today
from huiqi.app.registry import ProgrammeRegistry, ProgrammeSource, upload_name
from huiqi.app.store import Store
from huiqi.publishing import service as drafts_service
from huiqi.publishing.errors import ReasonRequired, TestsFailed
from huiqi.publishing.models import ProgrammeDraft
from huiqi.publishing.states import STATES
from huiqi.rules.diff import ProgrammeDiff, diff_programmes
from huiqi.rules.errors import Location, Problem, ProgrammeError
from huiqi.rules.loader import bundled_pack_dir, bundled_packs
from huiqi.rules.programme import Programme
from huiqi.rules.testing import TESTS_SUFFIX, Case, collect_cases, load_cases, load_fixtures, run_case
from huiqi.rules.versions import Versions

#: the draft numbers there can be (1 .. PostgreSQL's INTEGER): the API states the bound on its paths
DRAFT_ID_MIN, DRAFT_ID_MAX = 1, drafts_service.LARGEST_ID

# --- read models ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftView:
    """A draft in a list: which version of which programme, its state and who did what when."""

    id: int
    programme_id: str
    version: str
    filename: str
    sha256: str
    status: str
    author: str
    reviewer: str | None
    reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime | None
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None

    @classmethod
    def of(cls, d: ProgrammeDraft) -> DraftView:
        """The view of a stored draft."""
        return cls(**_view_fields(d))


def _view_fields(d: ProgrammeDraft) -> dict[str, Any]:
    return {f.name: getattr(d, f.name) for f in dataclasses.fields(DraftView)}


@dataclass(frozen=True)
class DraftDocument(DraftView):
    """A draft with its text and test cases (what an editor opens)."""

    text: str
    tests: str

    @classmethod
    def of(cls, d: ProgrammeDraft) -> DraftDocument:
        """The document of a stored draft."""
        return cls(**_view_fields(d), text=d.text, tests=d.tests)


@dataclass(frozen=True)
class PublishedView(DraftView):
    """A draft published: now in force from its ``effective`` date; the version it follows or replaces and
    how many test cases passed."""

    previous_version: str | None
    tests_passed: int


@dataclass(frozen=True)
class WithdrawnView:
    """A version taken out of force, why, and the drafts it was published from."""

    programme_id: str
    version: str
    reason: str
    drafts: tuple[int, ...]


# --- drafts ---------------------------------------------------------------------------------------------


def _pack_dir(programme_id: str) -> Path | None:
    """The bundled pack a programme id belongs to (its first part), if there is one."""
    pack = programme_id.split(".", 1)[0]
    return bundled_pack_dir(pack) if pack in bundled_packs() else None


def _tests_name(filename: str) -> str:
    return upload_name(filename).removesuffix(".programme.yaml") + TESTS_SUFFIX


def parse_tests(programme_id: str, filename: str, tests: str) -> list[Case]:
    """A draft's test cases (they may name the pack's fixture firms), refused with positions
    (``ProgrammeError``) when they do not read; empty text: none."""
    if not tests.strip():
        return []
    pack = _pack_dir(programme_id)
    fixtures = load_fixtures(pack) if pack is not None else {}
    name = _tests_name(filename)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(tests, encoding="utf-8")
        try:
            cases = load_cases(path, fixtures)
        except ProgrammeError as exc:
            raise ProgrammeError(
                [
                    Problem(Location(name, p.location.line, p.location.column), p.message)
                    if p.location.path == str(path)
                    else p
                    for p in exc.problems
                ]
            ) from None
    return [
        dataclasses.replace(c, location=Location(name, c.location.line, c.location.column)) for c in cases
    ]


def pack_cases(programme_id: str) -> list[Case]:
    """The bundled pack's test cases of one programme (every version)."""
    pack = _pack_dir(programme_id)
    if pack is None:
        return []
    return [c for c in collect_cases([pack]) if c.programme == programme_id]


def _in_period(programme: Programme, day: dt.date) -> bool:
    eff = programme.spec.effective
    return eff.start <= day and (eff.end is None or day <= eff.end)


def draft_cases(programme: Programme, own: Sequence[Case]) -> list[Case]:
    """The cases a draft must pass: its own, and the pack's for its programme outside its period (see the
    module docstring)."""
    others = [c for c in pack_cases(programme.id) if not _in_period(programme, c.on)]
    return [*own, *others]


def _checked(registry: ProgrammeRegistry, filename: str, text: str, tests: str) -> Programme:
    """The draft's file validated against the programmes served (references to a withdrawn or unknown
    programme, and an overlap with another version, refused with positions) and its tests read."""
    programme = registry.validate(filename, text)
    parse_tests(programme.id, filename, tests)
    return programme


def create_draft(
    store: Store, *, registry: ProgrammeRegistry, filename: str, text: str, tests: str = "", actor: str
) -> DraftDocument:
    """Keep a programme file as a draft of its author (validated first: a refusal has positions and keeps
    nothing), so that it can be reviewed before anyone relies on it."""
    p = _checked(registry, filename, text, tests)
    return store.write(
        lambda s: DraftDocument.of(
            drafts_service.create(
                s,
                programme_id=p.id,
                version=p.version,
                filename=upload_name(filename),
                text=text,
                tests=tests,
                author=actor,
            )
        )
    )


def edit_draft(
    store: Store,
    *,
    registry: ProgrammeRegistry,
    draft_id: int,
    filename: str,
    text: str,
    tests: str = "",
    actor: str,
) -> DraftDocument:
    """Replace a draft's text and tests (its author, while it is a draft, e.g. after a rejection)."""
    p = _checked(registry, filename, text, tests)
    return store.write(
        lambda s: DraftDocument.of(
            drafts_service.edit(
                s,
                draft_id=draft_id,
                programme_id=p.id,
                version=p.version,
                filename=upload_name(filename),
                text=text,
                tests=tests,
                actor=actor,
            )
        )
    )


def list_drafts(
    store: Store, *, status: str | None = None, programme_id: str | None = None
) -> tuple[DraftView, ...]:
    """Drafts, newest first (of one state, e.g. ``in-review`` for a reviewer's queue, or one programme)."""
    if status is not None and status not in STATES:
        raise ProgrammeError(
            [Problem(Location("status"), f"unknown state {status!r}; expected one of {', '.join(STATES)}")]
        )
    statuses = (status,) if status else ()
    return store.read(
        lambda s: tuple(
            DraftView.of(d) for d in drafts_service.drafts(s, statuses=statuses, programme_id=programme_id)
        )
    )


def get_draft(store: Store, *, draft_id: int) -> DraftDocument:
    """One draft with its text and tests (``DraftNotFound``)."""
    return store.read(lambda s: DraftDocument.of(drafts_service.get(s, draft_id)))


def submit_draft(store: Store, *, draft_id: int, actor: str) -> DraftView:
    """Ask a second officer to review a draft (its author)."""
    return store.write(lambda s: DraftView.of(drafts_service.submit(s, draft_id=draft_id, actor=actor)))


def reject_draft(store: Store, *, draft_id: int, actor: str, reason: str) -> DraftView:
    """Send a draft in review back to its author with a reason (a second officer)."""
    return store.write(
        lambda s: DraftView.of(drafts_service.reject(s, draft_id=draft_id, actor=actor, reason=reason))
    )


#: how many drafts' trials a worker remembers (a draft's page runs one for its diff, about 1.4 s)
TRIAL_CACHE_SIZE = 16
_trials: OrderedDict[tuple[int, str], tuple[Versions, tuple[Programme, Versions]]] = OrderedDict()
_trials_lock = threading.Lock()


def _tried(registry: ProgrammeRegistry, filename: str, text: str) -> tuple[Programme, Versions]:
    """``registry.trial`` of a draft, remembered by the draft's digest (its file name and text) while the
    programmes served stay the same: reloading a draft's page does not validate and load it again, an edited
    draft (another digest) or a change to what is served (a publication, a withdrawal) is tried afresh."""
    served = registry.programmes()
    key = (id(registry), hashlib.sha256(f"{filename}\0{text}".encode()).hexdigest())
    with _trials_lock:
        hit = _trials.get(key)
        if hit is not None and hit[0] is served:
            _trials.move_to_end(key)
            return hit[1]
    result = registry.trial(filename, text)
    with _trials_lock:
        _trials[key] = (served, result)
        _trials.move_to_end(key)
        while len(_trials) > TRIAL_CACHE_SIZE:
            _trials.popitem(last=False)
    return result


def _trial_run(registry: ProgrammeRegistry, d: DraftDocument) -> tuple[Programme, Versions, TestRun]:
    programme, served = _tried(registry, d.filename, d.text)
    own = parse_tests(programme.id, d.filename, d.tests)
    # each case with the versions in force on its date (``run_cases`` evaluates the reference date's)
    results = [run_case(served.on(c.on), c) for c in draft_cases(programme, own)]
    run = TestRun(
        passed=sum(r.passed for r in results),
        failed=sum(not r.passed for r in results),
        cases=tuple(
            CaseView(str(r.case.location), r.case.programme, r.case.name, r.passed, r.failures)
            for r in results
        ),
    )
    return programme, served, run


def test_draft(store: Store, *, registry: ProgrammeRegistry, draft_id: int) -> TestRun:
    """Run a draft's test cases with it in force beside the programmes served (nothing is kept), so its
    author and reviewer see what publishing would check."""
    return _trial_run(registry, get_draft(store, draft_id=draft_id))[2]


test_draft.__test__ = False  # type: ignore[attr-defined]  # a use case, not a pytest test


def publish_draft(store: Store, *, registry: ProgrammeRegistry, draft_id: int, actor: str) -> PublishedView:
    """Approve and publish a draft in review (a second officer, not its author): its test cases must pass
    (``TestsFailed`` names the failures; a draft with no case of its own in its period is refused too),
    then it is put in force from its ``effective`` date beside the other versions and the step audited."""
    d = get_draft(store, draft_id=draft_id)
    store.read(lambda s: drafts_service.check_step(drafts_service.get(s, draft_id), "published", actor))
    programme, _, run = _trial_run(registry, d)
    failures = [f"{c.location} {c.name}: {'; '.join(c.failures)}" for c in run.cases if not c.passed]
    own = [c for c in parse_tests(programme.id, d.filename, d.tests) if c.programme == programme.id]
    if not any(_in_period(programme, c.on) for c in own):
        failures.insert(
            0,
            f"no test case of its own for {programme.id} dated in its period "
            f"({programme.spec.effective.start} – {programme.spec.effective.end or '…'}); "
            "add one to its tests",
        )
    if failures:
        raise TestsFailed(draft_id, tuple(failures))

    def work(s: Any) -> PublishedView:
        draft = drafts_service.get(s, draft_id)
        drafts_service.check_reviewer(draft, actor, "publish")
        served = registry.programmes()
        already = programme.id in served and any(
            p.version == programme.version and p.digest == draft.sha256 for p in served.versions(programme.id)
        )  # a retried transaction finds its own file in force
        loaded = None if already else registry.load(d.filename, d.text)
        previous = loaded.previous_version if loaded else None
        done = drafts_service.publish(
            s, draft_id=draft_id, actor=actor, previous_version=previous, tests_passed=run.passed
        )
        return PublishedView(**_view_fields(done), previous_version=previous, tests_passed=run.passed)

    return store.write(work)


def withdraw_version(
    store: Store, *, registry: ProgrammeRegistry, programme_id: str, version: str, actor: str, reason: str
) -> WithdrawnView:
    """Take a published version out of force with a reason: it stays readable (calls pinned to it, decisions
    made under it, ``show --version``) but the calculator, matching and new calls no longer use it; refused
    while programmes in force refer to a programme that would have no version left."""
    if not reason.strip():
        raise ReasonRequired("withdraw a version")
    programme = registry.programmes().version(programme_id, version)  # UnknownProgramme names the version
    registry.withdraw(programme_id, version)
    found = store.write(
        lambda s: tuple(
            d.id
            for d in drafts_service.withdraw(
                s,
                programme_id=programme_id,
                version=version,
                sha=programme.digest,
                actor=actor,
                reason=reason,
            )
        )
    )
    return WithdrawnView(programme_id, version, reason.strip(), found)


# --- the diff -------------------------------------------------------------------------------------------


def _cases_of(programme: Programme) -> list[Case]:
    """The pack's cases of a programme dated in a version's period (the cases that describe it)."""
    return [c for c in pack_cases(programme.id) if _in_period(programme, c.on)]


def diff_versions(
    programmes: ProgrammeSource,
    *,
    programme_id: str,
    old: str | None = None,
    new: str | None = None,
    lang: str = "en",
) -> ProgrammeDiff:
    """What changes between two versions of a programme (default: the version in force today and the one
    after it, or the one before it when none follows): parameters, rules with their clauses, the file's
    head and the test cases that describe each version."""
    served = programmes.programmes()
    every = served.versions(programme_id)
    current = served.on(today()).get(programme_id, every[-1])
    at = every.index(current)
    a = served.version(programme_id, old) if old else None
    b = served.version(programme_id, new) if new else None
    if a is None and b is None:
        a, b = (current, every[at + 1]) if at + 1 < len(every) else (every[max(at - 1, 0)], current)
    elif a is None:
        a = current if b is not current else every[max(every.index(current) - 1, 0)]
    elif b is None:
        b = current if a is not current else every[min(at + 1, len(every) - 1)]
    assert a is not None and b is not None  # nosec B101  # every branch above chose both
    return diff_programmes(a, b, old_cases=_cases_of(a), new_cases=_cases_of(b), lang=lang)


def diff_draft(
    store: Store,
    *,
    registry: ProgrammeRegistry,
    draft_id: int,
    against: str | None = None,
    lang: str = "en",
) -> ProgrammeDiff:
    """What a draft changes against a served version (default: the one in force on the draft's first day,
    which it follows or replaces; the programme's first version when it starts before all of them)."""
    d = get_draft(store, draft_id=draft_id)
    programme, _ = _tried(registry, d.filename, d.text)
    served = registry.programmes()
    if against:
        base = served.version(programme.id, against)
    elif programme.id in served:
        base = (
            served.chosen(programme.spec.effective.start).get(programme.id)
            or served.versions(programme.id)[0]
        )
    else:
        raise ProgrammeError(
            [
                Problem(
                    Location(d.filename),
                    f"{programme.id} is a new programme: no served version to compare the draft with",
                )
            ]
        )
    own = parse_tests(programme.id, d.filename, d.tests)
    # the cases publishing would run against the pack's cases today: the draft's own are added, and the
    # pack's in its period are the ones it no longer keeps
    return diff_programmes(
        base, programme, old_cases=pack_cases(programme.id), new_cases=draft_cases(programme, own), lang=lang
    )


# --- the cost of the change -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeCost:
    """What publishing a draft would change over a register on a date (default: the draft's first day):
    the sandbox's simulation of the version in force then (before) against the draft (after): eligible
    firms and amounts before and after, gainers and losers, per programme affected."""

    draft: int
    programme_id: str
    old_version: str
    new_version: str
    on: dt.date
    result: dict[str, Any]
    text: str


def change_cost(
    store: Store,
    *,
    registry: ProgrammeRegistry,
    draft_id: int,
    register: str,
    on: dt.date | None = None,
) -> ChangeCost:
    """The cost of publishing a draft over a register (a register directory, or ``db``: the register in
    the database), so the reviewer sees whom it moves and what it costs before approving; nothing is kept."""
    from huiqi.app.register import DB, nonempty_register
    from huiqi.firms.register import read_register
    from huiqi.matching.errors import EmptyRegister
    from huiqi.reports.text import render_simulation
    from huiqi.rules.spec import Text
    from huiqi.simulation.reform import AppliedReform, Reform
    from huiqi.simulation.run import simulate

    d = get_draft(store, draft_id=draft_id)
    programme, trial = _tried(registry, d.filename, d.text)
    day = on or programme.spec.effective.start
    served = registry.programmes().on(day)
    after = dict(trial.on(day))
    if programme.id not in served:
        raise ProgrammeError(
            [
                Problem(
                    Location(d.filename),
                    f"{programme.id} is a new programme: nothing to compare its cost with",
                )
            ]
        )
    before = dict(served)
    if after[programme.id].version != programme.version:
        raise ProgrammeError(
            [
                Problem(
                    Location(d.filename),
                    f"on {day} the draft ({programme.id} {programme.version}) is not in force; "
                    f"give a date in its period ({programme.spec.effective.start} – "
                    f"{programme.spec.effective.end or '…'})",
                )
            ]
        )
    affected = {programme.id} | {pid for pid, p in after.items() if programme.id in p.depends_on}
    applied = AppliedReform(
        reform=Reform(
            id=f"draft-{d.id}",
            title=Text(
                en=f"{programme.id} {programme.version} (draft {d.id})",
                zh=f"{programme.id} {programme.version}（草案 {d.id}）",
            ),
            changes=(),
            source=d.filename,
        ),
        baseline=before,
        programmes=after,
        touched={programme.id},
        affected=affected,
    )
    if register == DB:
        tables = nonempty_register(store, register=DB)
    else:
        tables = read_register(register)
        if tables["firms"].num_rows == 0:
            raise EmptyRegister()
    sim = simulate(applied, tables, day)
    return ChangeCost(
        draft=d.id,
        programme_id=programme.id,
        old_version=before[programme.id].version,
        new_version=programme.version,
        on=day,
        result=sim.to_json(),
        text=render_simulation(sim),
    )
