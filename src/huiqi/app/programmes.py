"""Programmes: list and read them, validate a file, put a new version in force, run the packs' test cases,
the JSON Schemas, and the policy calculator (which programmes a firm qualifies for on a date, how much, why,
and what is missing), once for the CLI, the API and the pages.

The programmes come from a ``ProgrammeSource`` (``app.registry``): the ones the site serves, or packs read
for one command. Any number of versions of a programme coexist (``rules.versions.Versions``); the one in
force on a date is chosen by its effective period, so every use case here takes the date it answers for
(default today in Shanghai) and names the version it answers with. A list shows every version with its
period and status; a document is the version in force unless a version is asked for. A withdrawn version
(issue 15's lifecycle, ``app.lifecycle``) is listed with the status ``withdrawn`` and read with ``version``.

The calculator's scope: by default the programmes of the firm's registration city pack (``registration_city``
-> pack, e.g. Shanghai -> the programmes whose id starts with ``shanghai.``) that are in force on the date;
asked for every city (``all_cities``), every city's programmes in force on the date; a list of ids, exactly
those (in force or not: the explanation says so). A firm registered where no pack exists gets an empty
answer that says why, not another city's programmes. The answer (``Calculation``) is JSON-ready: the API
serialises it once (``to_json_bytes``), the pages render the same data, the CLI prints its explanations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from huiqi.app.registry import ProgrammeRegistry, ProgrammeSource, open_packs, validate_text
from huiqi.app.store import Store
from huiqi.audit import chain as audit
from huiqi.firms import Firm, firm_from_data
from huiqi.rules.errors import UnknownProgramme
from huiqi.rules.evaluator import evaluate
from huiqi.rules.explain import Explanation, explain, fmt
from huiqi.rules.loader import bundled_pack_dir, bundled_packs, load_programmes, programme_files
from huiqi.rules.programme import Programme
from huiqi.rules.spec import ProgrammeSpec, note_in
from huiqi.rules.testing import collect_cases, run_cases
from huiqi.rules.versions import Versions
from huiqi.rules.versions import today as shanghai_today
from huiqi.simulation.cities import CITIES

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: how a profile may spell each city (pack key, English and Chinese names, with or without 市) -> pack key
_CITY_PACK: dict[str, str] = {}
for _c in CITIES:
    for _name in (_c.key, _c.name, _c.zh, _c.zh + "市", _c.name + " city"):
        _CITY_PACK[_name.casefold()] = _c.key


def today() -> dt.date:
    """Today in Shanghai: the date every use case answers for when none is given."""
    return shanghai_today()


# --- read models: programmes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeSummary:
    """A programme in a list (the keys of ``GET /api/v1/programmes``)."""

    id: str
    version: str
    digest: str
    name: str
    name_en: str
    name_zh: str
    benefit: str
    authority: str
    document: str
    effective_from: dt.date
    effective_to: dt.date | None
    status: str
    pool: str | None
    pool_size: Decimal | None

    @classmethod
    def of(
        cls, p: Programme, lang: str, versions: Versions | None = None, on: dt.date | None = None
    ) -> ProgrammeSummary:
        """The summary of a programme version in a language, its period among its ``versions``."""
        return cls(**_summary_fields(p, lang, versions, on))


#: a version's status on a date (``withdrawn``: taken out of force with a reason, still readable)
STATUSES = ("in-force", "upcoming", "ended", "withdrawn")


def _summary_fields(
    p: Programme, lang: str, versions: Versions | None = None, on: dt.date | None = None
) -> dict[str, Any]:
    s = p.spec
    start, end = versions.period(p) if versions is not None else (s.effective.start, s.effective.end)
    day = on or today()
    status = "upcoming" if day < start else "ended" if end is not None and end < day else "in-force"
    if versions is not None and versions.is_withdrawn(p):
        status = "withdrawn"
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
        "effective_from": start,
        "effective_to": end,
        "status": status,
        "pool": s.pool.id if s.pool else None,
        "pool_size": Decimal(str(s.pool.size)) if s.pool else None,
    }


@dataclass(frozen=True)
class LegalBasis:
    """A document the programme rests on."""

    title: str
    number: str
    date: str
    url: str | None
    note: str | None = None


@dataclass(frozen=True)
class DatedValue:
    """A parameter's value from a date on, as a person reads it."""

    from_: str
    value: str


@dataclass(frozen=True)
class ParameterView:
    """A parameter: its label, clause, dated values and whether it is an assumption."""

    name: str
    label: str
    assumption: bool
    clause: str
    values: tuple[DatedValue, ...]
    note: str | None


@dataclass(frozen=True)
class NamedValue:
    """A named value the conditions use: its formula and label."""

    name: str
    expr: str
    label: str
    note: str | None = None


@dataclass(frozen=True)
class ConditionView:
    """A condition (all must hold) with its clause and its test."""

    id: str
    label: str
    clause: str
    test: str
    note: str | None = None


@dataclass(frozen=True)
class ExclusionView:
    """An exclusion (none may apply) with its clause and when it applies."""

    id: str
    label: str
    clause: str
    when: str
    note: str | None = None


@dataclass(frozen=True)
class AmountView:
    """How the amount is worked out."""

    label: str
    clause: str
    expr: str
    note: str | None = None


@dataclass(frozen=True)
class VersionRef:
    """Another version of the same programme and when it is in force."""

    version: str
    effective_from: dt.date
    effective_to: dt.date | None
    status: str


@dataclass(frozen=True)
class ProgrammeDocument(ProgrammeSummary):
    """The programme as a readable document: basis, parameters, conditions and exclusions with clauses
    (what ``huiqi programmes show`` prints, ``GET /api/v1/programmes/{id}`` answers and its page shows)."""

    summary: str | None
    legal_basis: tuple[LegalBasis, ...]
    pool_name: str | None
    parameters: tuple[ParameterView, ...]
    values: tuple[NamedValue, ...]
    conditions: tuple[ConditionView, ...]
    exclusions: tuple[ExclusionView, ...]
    amount: AmountView | None
    versions: tuple[VersionRef, ...]

    @classmethod
    def of(
        cls, p: Programme, lang: str, versions: Versions | None = None, on: dt.date | None = None
    ) -> ProgrammeDocument:
        """The document of a programme version in a language, with every version of it and their periods."""
        s = p.spec
        others = versions.versions(p.id) if versions is not None and p.id in versions else (p,)
        refs = []
        for v in others:
            f = _summary_fields(v, lang, versions, on)
            refs.append(VersionRef(v.version, f["effective_from"], f["effective_to"], f["status"]))
        return cls(
            **_summary_fields(p, lang, versions, on),
            versions=tuple(refs),
            summary=s.summary.get(lang) if s.summary else None,
            legal_basis=tuple(
                LegalBasis(d.title.get(lang), d.number, str(d.date), d.url, note_in(d.note, lang))
                for d in s.legal_basis
            ),
            pool_name=s.pool.name.get(lang) if s.pool else None,
            parameters=tuple(
                ParameterView(
                    name=name,
                    label=param.label.get(lang),
                    assumption=bool(param.assumption),
                    clause=p.cite(param.clause, param.doc, lang),
                    values=tuple(
                        DatedValue(str(dv.start), fmt(value, param.unit, lang))
                        for dv, value in zip(param.values, p.params[name].values, strict=True)
                    ),
                    note=note_in(param.note, lang),
                )
                for name, param in s.parameters.items()
            ),
            values=tuple(
                NamedValue(n, v.expr.strip(), v.label.get(lang), note_in(v.note, lang))
                for n, v in s.values.items()
            ),
            conditions=tuple(
                ConditionView(
                    c.id,
                    c.label.get(lang),
                    p.cite(c.clause, c.doc, lang),
                    c.test.strip(),
                    note_in(c.note, lang),
                )
                for c in s.conditions
            ),
            exclusions=tuple(
                ExclusionView(
                    x.id,
                    x.label.get(lang),
                    p.cite(x.clause, x.doc, lang),
                    x.when.strip(),
                    note_in(x.note, lang),
                )
                for x in s.exclusions
            ),
            amount=(
                AmountView(
                    s.amount.label.get(lang),
                    p.cite(s.amount.clause, s.amount.doc, lang),
                    s.amount.expr.strip(),
                    note_in(s.amount.note, lang),
                )
                if s.amount
                else None
            ),
        )


@dataclass(frozen=True)
class ProgrammeUpload:
    """A programme file's text and the name it came with (an upload, or a file the CLI read)."""

    filename: str
    text: str


@dataclass(frozen=True)
class Validated:
    """A programme file that loads: its summary and where it was read from."""

    programme: ProgrammeSummary
    source: str


@dataclass(frozen=True)
class LoadedView(ProgrammeSummary):
    """A programme version put in force, and the version it replaced."""

    previous_version: str | None


@dataclass(frozen=True)
class CaseView:
    """One test case of a pack and its outcome."""

    location: str
    programme: str
    name: str
    passed: bool
    failures: tuple[str, ...]


@dataclass(frozen=True)
class TestRun:
    """The outcome of a pack's test cases."""

    __test__ = False  # not a pytest class

    passed: int
    failed: int
    cases: tuple[CaseView, ...]


# --- programmes ------------------------------------------------------------------------------------------


def list_programmes(
    programmes: ProgrammeSource, *, lang: str = "en", on: dt.date | None = None
) -> tuple[ProgrammeSummary, ...]:
    """Every version of every programme here, by id then period, each with its period and its status on the
    date (default today): what a firm or an officer chooses from, and what is coming."""
    progs = programmes.programmes()
    return tuple(ProgrammeSummary.of(p, lang, progs, on) for p in progs.every())


def show_programme(
    programmes: ProgrammeSource,
    *,
    programme_id: str,
    version: str | None = None,
    on: dt.date | None = None,
    lang: str = "en",
) -> ProgrammeDocument:
    """One programme as a readable document, so a firm can see every condition beside its clause: the
    version asked for, or the one in force on the date (default today; a programme whose every version was
    withdrawn: its latest, with the status ``withdrawn``); ``UnknownProgramme`` otherwise."""
    progs = programmes.programmes()
    day = on or today()
    chosen = progs.version(programme_id, version) if version else progs.on(day).get(programme_id)
    if chosen is None and programme_id in progs:  # every version withdrawn: the latest stays readable
        chosen = progs.versions(programme_id)[-1]
    if chosen is None:
        raise UnknownProgramme(programme_id)
    return ProgrammeDocument.of(chosen, lang, progs, day)


def validate_programmes(
    programmes: ProgrammeSource,
    *,
    files: Sequence[Path] = (),
    uploads: Sequence[ProgrammeUpload] = (),
    lang: str = "en",
) -> tuple[Validated, ...]:
    """Check programme files against the programmes in force (for references) before anyone relies on
    them; nothing is kept. Every problem is refused at once with file:line:column (``ProgrammeError``)."""
    known = programmes.programmes()
    out: list[Validated] = []
    if files:
        out += [
            Validated(ProgrammeSummary.of(p, lang), p.source)
            for p in load_programmes(files, known_ids=known).every()
        ]
    for upload in uploads:
        p = validate_text(known, upload.filename, upload.text)
        out.append(Validated(ProgrammeSummary.of(p, lang), upload.filename))
    return tuple(out)


def programme_files_in(paths: Sequence[Path]) -> list[Path]:
    """The programme files named, folders opened (``*.programme.yaml``)."""
    found: list[Path] = []
    for path in paths:
        found += programme_files(path) if path.is_dir() else [path]
    return found


def load_programme(
    store: Store, *, registry: ProgrammeRegistry, filename: str, text: str, actor: str, lang: str = "en"
) -> LoadedView:
    """Put a new version of a programme in force for this site, recorded in the audit chain; a refused
    file raises ``ProgrammeError`` and records nothing."""
    loaded = registry.load(filename, text)
    p = loaded.programme
    store.write(
        lambda s: audit.append(
            session=s,
            actor=actor,
            entity=f"programme:{p.id}",
            action="loaded",
            payload={"version": p.version, "previous_version": loaded.previous_version, "sha256": p.digest},
        )
    )
    return LoadedView(**_summary_fields(p, lang), previous_version=loaded.previous_version)


def run_programme_tests(programmes: ProgrammeSource, *, folders: Sequence[Path] = ()) -> TestRun:
    """Run the packs' test cases (``*.tests.yaml``; default: the bundled packs') against these programmes,
    so an officer knows the files still decide what their authors meant."""
    dirs = list(folders) or [bundled_pack_dir(n) for n in bundled_packs()]
    results = run_cases(programmes.programmes(), collect_cases(dirs))
    return TestRun(
        passed=sum(r.passed for r in results),
        failed=sum(not r.passed for r in results),
        cases=tuple(
            CaseView(
                str(r.case.location),
                r.case.programme,
                r.case.name,
                r.passed,
                tuple(str(f) for f in r.failures),
            )
            for r in results
        ),
    )


#: the schemas there are
SCHEMAS = ("firm", "programme")


def json_schema(*, kind: str) -> dict[str, Any]:
    """The JSON Schema of a firm profile (``firm``) or a programme file (``programme``), for people who
    write them by hand or by program; ``KeyError`` for another kind."""
    if kind not in SCHEMAS:
        raise KeyError(kind)
    model: Any = Firm if kind == "firm" else ProgrammeSpec
    schema: dict[str, Any] = model.model_json_schema(by_alias=True)
    return schema


# --- the calculator --------------------------------------------------------------------------------------


def pack_of(registration_city: str) -> str:
    """The pack (first part of its programme ids) of a registration city; the city itself, normalised, when
    it is not one of the five (an uploaded pack may carry it)."""
    name = registration_city.strip().casefold()
    return _CITY_PACK.get(name, name)


def in_force(programme: Programme, on: dt.date) -> bool:
    """Whether the programme's effective period holds the date."""
    eff = programme.spec.effective
    return eff.start <= on and (eff.end is None or on <= eff.end)


@dataclass(frozen=True, slots=True)
class ScopeView:
    """Which programmes the calculator evaluated (the answer's ``scope``)."""

    all_cities: bool
    pack: str | None
    explicit: bool
    programmes: int
    not_in_force: int


@dataclass(frozen=True)
class Scope:
    """Which programmes were evaluated and why; ``not_in_force`` counts those left out for their dates."""

    pack: str | None  # None: every city
    ids: list[str]
    not_in_force: int
    explicit: bool = False

    def view(self) -> ScopeView:
        """What the answer says of its scope."""
        return ScopeView(
            all_cities=self.pack is None and not self.explicit,
            pack=self.pack,
            explicit=self.explicit,
            programmes=len(self.ids),
            not_in_force=self.not_in_force,
        )


def scope_of(
    programmes: Mapping[str, Programme],
    firm: Firm,
    on: dt.date,
    ids: list[str] | None = None,
    all_cities: bool = False,
) -> Scope:
    """The programmes the calculator evaluates (see the module docstring), in id order."""
    if ids is not None:
        return Scope(None, list(ids), 0, explicit=True)
    pack = None if all_cities else pack_of(firm.registration_city)
    candidates = [pid for pid in sorted(programmes) if pack is None or pid.startswith(pack + ".")]
    chosen = [pid for pid in candidates if in_force(programmes[pid], on)]
    return Scope(pack, chosen, len(candidates) - len(chosen))


@dataclass(frozen=True, slots=True)
class FirmRef:
    """The firm an answer is for."""

    uscc: str
    name_zh: str
    name_en: str | None
    registration_city: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """One programme's verdict for the firm: eligible or not, how much (yuan, a decimal string), the unmet
    checks and the explanation (``rules.explain.Explanation``, the one model every adapter renders)."""

    programme: str
    version: str
    eligible: bool
    amount: str
    unmet: list[str]
    explanation: Explanation


@dataclass(frozen=True, slots=True)
class Calculation:
    """The calculator's answer for one firm on one date (the keys of ``POST /api/v1/calculator``)."""

    firm: FirmRef
    date: str
    eligible_count: int
    total: str
    results: tuple[Verdict, ...]
    scope: ScopeView | None


def calculate(
    programmes: Mapping[str, Programme],
    firm: Firm,
    on: dt.date,
    ids: list[str] | None = None,
    lang: str = "en",
    scope: Scope | None = None,
) -> Calculation:
    """The answer for one firm on one date: each programme's verdict, amount and explanation (built once a
    result), the eligible count and the total. With a ``scope`` (the calculator's), its programmes and a
    ``scope`` entry; without, ``ids`` or every programme."""
    if scope is not None:
        ids = scope.ids
    results = evaluate(programmes, firm, on, ids)
    out = []
    for r in results:
        explanation = explain(r, lang)
        out.append(
            Verdict(
                r.programme.id, r.programme.version, r.eligible, explanation["amount"], r.unmet, explanation
            )
        )
    total = sum((r.amount for r in results if r.eligible), start=Decimal(0))
    return Calculation(
        firm=FirmRef(firm.uscc, firm.name_zh, firm.name_en, firm.registration_city),
        date=on.isoformat(),
        eligible_count=sum(1 for r in results if r.eligible),
        total=str(total),
        results=tuple(out),
        scope=scope.view() if scope is not None else None,
    )


def check_firm(
    programmes: ProgrammeSource,
    *,
    firm: Firm,
    on: dt.date | None = None,
    ids: list[str] | None = None,
    all_cities: bool = False,
    lang: str = "en",
) -> Calculation:
    """The policy calculator: which programmes a firm qualifies for on a date (default today in Shanghai),
    how much, why, and what is missing, each with its version in force on that date; ``UnknownProgramme``
    for an id not loaded here."""
    day = on or today()
    progs = programmes.programmes().on(day)
    scope = scope_of(progs, firm, day, ids, all_cities)
    return calculate(progs, firm, day, lang=lang, scope=scope)


def to_json_bytes(answer: Calculation) -> bytes:
    """The answer as compact UTF-8 JSON, in one pass (orjson, in C, reads the dataclasses itself): the data
    is already JSON-ready (strings for amounts and dates), so FastAPI's generic encoder, which walks every
    value of the explanations again, is skipped. A Decimal or float that slipped in is refused, never
    written as a float."""
    return orjson.dumps(answer)


def parse_firm(data: Any, source: str = "firm") -> Firm:
    """A firm profile from JSON-like data (``ProfileError`` with every problem named by path)."""
    return firm_from_data(data, source=source)


def example_firms() -> dict[str, str]:
    """The bundled example profiles (name -> JSON text), for the forms that offer them."""
    folder = Path(str(resources.files("huiqi.firms").joinpath("examples")))
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.json"))}


def warm_up(programmes: Mapping[str, Programme], on: dt.date | None = None) -> int:
    """Answer the bundled example profiles once, in both languages and for every city, so that what the
    evaluator and the explanations work out once an expression is done before the first visitor; returns
    how many answers that took."""
    on = on or today()
    done = 0
    for name, text in example_firms().items():
        firm = parse_firm(orjson.loads(text), source=f"{name}.json")
        scope = scope_of(programmes, firm, on, None, all_cities=True)
        for lang in ("en", "zh"):
            to_json_bytes(calculate(programmes, firm, on, lang=lang, scope=scope))
            done += 1
    return done


__all__ = [
    "SCHEMAS",
    "Calculation",
    "ProgrammeDocument",
    "ProgrammeRegistry",
    "ProgrammeSource",
    "ProgrammeSummary",
    "ProgrammeUpload",
    "open_packs",
]
