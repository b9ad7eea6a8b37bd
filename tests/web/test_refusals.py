"""Every refusal a page can show (every subclass of every class the adapters catch, ``USER_ERRORS``) reads in
the page's language with its figures (issue 14): on a zh page no English word of the system is left, ids and
counts are kept, amounts are grouped yuan, states and sectors are their labels; on an en page the same
figures in English. A new refusal class without a wording in ``web.refusals`` fails here, as does one whose
``__init__`` takes an argument this test has no example for (add it to ``SAMPLES`` or ``EXAMPLES``)."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import huiqi
from huiqi.app.errors import USER_ERRORS
from huiqi.app.money import OPERATIONS
from huiqi.firms.errors import FieldProblem
from huiqi.firms.importing import RowProblem
from huiqi.rules.errors import Location, Problem
from huiqi.rules.labels import VALUE_LABELS
from huiqi.web import i18n, refusals
from huiqi.web.errors import message_of, page_message

USCC = "91310115MA1K4XYZ12"
#: Free text the system writes into a refusal (a base class's message, a reason): kept as it is written
#: where the catalogue has no words for it (the one English a zh page may still show, see refusals.py).
FREE = "the rubric weights sum to 90 not 100"
SHANGHAI_OPENS = dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)

#: An example for each argument name a refusal's ``__init__`` takes.
SAMPLES: dict[str, Any] = {
    "username": "li-ming",
    "uscc": USCC,
    "firm_uscc": USCC,
    "call_id": "C-2026-07",
    "application_id": "APP-0042",
    "reviewer_id": "R-007",
    "pool_id": "P-2026-AI",
    "contract_id": "HT-0099",
    "key": "K-5f3a9",
    "reservation_id": "RSV-12",
    "award_id": "AW-31",
    "txn_id": "TX-88",
    "serial": "CERT-0005",
    "run_id": "RUN-3",
    "approval_id": "HM-17",
    "job_id": "J-204",
    "draft_id": 12,
    "author": "zhao-wei",
    "actor": "zhao-wei",
    "filename": "营业执照.pdf",
    "environment": "production",
    "message": FREE,
    "detail": FREE,
    "why": FREE,
    "reason": FREE,
    "problem": FREE,
    "fix": FREE,
    "what": FREE,
    "change": FREE,
    "current": "under_review",
    "target": "paying",
    "allowed": ["approved", "rejected"],
    "expected": "submitted",
    "to": "rejected",
    "got": "zjcx",
    "status": "released",
    "mode": "ranked",
    "needed": "fcfs (use `huiqi awards decide --call`)",
    "operation": "api.grant",
    "sector": "artificial_intelligence",
    "step": "publish",
    "allowed_from": ("in-review",),
    "opens": SHANGHAI_OPENS,
    "closes": SHANGHAI_OPENS + dt.timedelta(days=30),
    "now": SHANGHAI_OPENS + dt.timedelta(days=45, hours=3),
    "due": dt.date(2027, 6, 30),
    "as_of": dt.date(2026, 12, 7),
    "requested": Decimal("150000"),
    "available": Decimal("2500.5"),
    "cap": Decimal("1000000"),
    "owed": Decimal("30000"),
    "amount": Decimal("45000.25"),
    "total": Decimal("0.01"),
    "seq": 2,
    "missing": 3,
    "needed_count": 3,
    "found": 1,
    "attempts": 5,
    "size": 12_582_912,
    "limit": 10_485_760,
    "retry_after": dt.timedelta(seconds=90),
    "window": dt.timedelta(minutes=1),
    "last": RuntimeError("could not serialize access"),
    "failures": ("case-1: expected 500000.00, got 0", "case-2: expected eligible"),
    "reasons": [FREE],
    "application_ids": ["APP-0042", "APP-0043"],
    "problems": [Problem(Location("call.yaml", 3, 5), FREE)],
}

#: Where a class needs other examples than the names give (its states, its kinds of problems).
EXAMPLES: dict[str, dict[str, Any]] = {
    "TooManyMoneyWrites": {"limit": 20},
    "NotEnoughReviewers": {"needed": 3},
    "AwardNotActive": {"status": "clawed_back"},
    "TrancheNotPending": {"status": "paid"},
    "AlreadyDeclared": {"status": "cleared"},
    "NotReassignable": {"status": "scored"},
    "IllegalStep": {"status": "published", "step": "submitted"},
    "SecondOfficerRequired": {"step": "reject"},
    "ReasonRequired": {"step": "withdraw a version"},
    "ApprovalNotAwaiting": {"status": "approved"},
    "ProfileError": {"source": "firm.json", "problems": [FieldProblem("offices[0].area_m2", FREE)]},
    "ImportRefused": {"problems": [RowProblem("firms", "firms.csv", 7, "capital", "abc", FREE)]},
    "FirmCapExceeded": {"requested": Decimal("250000")},
    "VerdictMismatch": {"expected": "kjcx"},
    "InvalidAmount": {"amount": "12.345"},
    "TrancheNotPayable": {
        "why": "no_evidence",
        "seq": 2,
        "milestone": "office opened",
        "due": dt.date(2027, 6, 30),
    },
}

#: Words a Chinese sentence keeps in Latin letters: file formats, the setting an administrator sets.
LATIN = re.compile(r"PDF|PNG|JPEG|Office|docx|xlsx|pptx|YAML|HUIQI_CERTIFICATE_SIGNING_KEY")


def every_refusal() -> list[type[BaseException]]:
    """Every subclass of every class in ``USER_ERRORS``, with every huiqi module imported so that none is
    missed (a refusal defined beside its use case, like the held money moves')."""
    for module in pkgutil.walk_packages(huiqi.__path__, "huiqi."):
        importlib.import_module(module.name)
    found: dict[type[BaseException], None] = {}
    todo: list[type[BaseException]] = list(USER_ERRORS)
    while todo:
        cls = todo.pop()
        if cls not in found:
            found[cls] = None
            todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


REFUSALS = every_refusal()


def example(cls: type[BaseException]) -> BaseException:
    """``cls`` built with representative figures, by its ``__init__``'s argument names."""
    params = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    if params and params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return cls(FREE)
    chosen = {**SAMPLES, **EXAMPLES.get(cls.__name__, {})}
    params = [
        p for p in params if p.default is inspect.Parameter.empty or p.name in EXAMPLES.get(cls.__name__, {})
    ]
    missing = [p.name for p in params if p.name not in chosen and p.default is inspect.Parameter.empty]
    assert not missing, f"{cls.__name__}: add an example for {missing} to SAMPLES or EXAMPLES"
    return cls(**{p.name: chosen[p.name] for p in params if p.name in chosen})


def flat(value: object) -> list[str]:
    """The texts a value holds: itself, its items, a problem's fields (a location as it is written)."""
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flat(v)]
    if isinstance(value, (Problem, FieldProblem, RowProblem)):
        fields = [getattr(value, f) for f in value.__dataclass_fields__]
        return [t for v in fields for t in flat(v)]
    if isinstance(value, Location):
        return [str(value)]
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return [str(value)]
    return []


def is_key(text: str) -> bool:
    """A stored key (a state, a sector, a step): a page shows its label, never the key."""
    return text in refusals.WORDS or text in VALUE_LABELS or text in OPERATIONS


def kept(exc: BaseException) -> list[str]:
    """The figures a wording must show as they are: the ids, names, counts and free text it was given (not
    its stored keys, its dates or its grouped sizes)."""
    given = set(flat(list(SAMPLES.values()))) | set(flat(list(EXAMPLES.get(type(exc).__name__, {}).values())))
    skip = {
        "size",
        "limit",
        "needed",
        "change",
        "opens",
        "closes",
        "now",
        "due",
        "as_of",
        "window",
        "retry_after",
    }
    if getattr(exc, "why", ""):  # a refusal that names its reason is worded from it, not from its message
        skip |= {"message", "why"}
    out = [t for n, v in vars(exc).items() if n not in skip for t in flat(v) if t in given and not is_key(t)]
    return sorted(set(out), key=len, reverse=True)


def amounts(exc: BaseException) -> list[str]:
    return [f"{v:,.2f}" for v in vars(exc).values() if isinstance(v, Decimal)]


@pytest.fixture
def zh() -> Iterator[None]:
    i18n.set_language("zh")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


@pytest.fixture
def en() -> Iterator[None]:
    i18n.set_language("en")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def test_the_walk_finds_the_refusals_pages_show() -> None:
    names = {c.__name__ for c in REFUSALS}
    assert {
        "InsufficientFunds",
        "CallNotOpen",
        "SameOfficer",
        "AlreadyAwaiting",
        "EvidenceNotAccepted",
    } <= names
    assert len(REFUSALS) >= 110


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda c: c.__name__)
def test_every_refusal_has_a_wording(cls: type[BaseException]) -> None:
    assert cls in refusals.WORDINGS, (
        f"{cls.__module__}.{cls.__name__}: word it in huiqi.web.refusals.WORDINGS"
    )


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda c: c.__name__)
def test_every_refusal_reads_in_chinese_with_its_figures(zh: None, cls: type[BaseException]) -> None:
    exc = example(cls)
    shown = page_message(exc)
    assert re.search(r"[\u4e00-\u9fff]", shown), shown
    residue = shown
    for figure in kept(exc):
        assert figure in shown, (figure, shown)
        residue = residue.replace(figure, "")
    for amount in amounts(exc):
        assert f"{amount}元" in shown, (amount, shown)
    residue = LATIN.sub("", residue.replace(FREE, ""))
    assert not re.search(r"[A-Za-z]{2,}", residue), shown


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda c: c.__name__)
def test_every_refusal_reads_in_english_with_its_figures(en: None, cls: type[BaseException]) -> None:
    exc = example(cls)
    shown = page_message(exc)
    assert not re.search(
        r"[\u4e00-\u9fff]", shown.replace("待复核", "").replace(str(SAMPLES["filename"]), "")
    )
    for figure in kept(exc):
        assert figure in shown, (figure, shown)
    for amount in amounts(exc):
        assert f"{amount} yuan" in shown, (amount, shown)


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda c: c.__name__)
def test_the_api_keeps_the_domain_english(zh: None, cls: type[BaseException]) -> None:
    exc = example(cls)
    assert message_of(exc) == str(exc)
    assert not re.search(r"[\u4e00-\u9fff]", message_of(exc).replace("待复核", "").replace("营业执照", ""))


def test_stored_keys_are_shown_by_their_labels(zh: None) -> None:
    from huiqi.app.errors import applications_errors, review_errors

    moved = page_message(applications_errors.IllegalTransition("A1", "under_review", "paying", []))
    assert "评审中" in moved and "拨付中" in moved and "无，已是最终状态" in moved, moved
    short = page_message(review_errors.NotEnoughReviewers("A1", "artificial_intelligence", 3, 1))
    assert "人工智能" in short and "artificial" not in short, short


@pytest.mark.parametrize("why", [*refusals.UNPAYABLE, "unnamed"])
def test_each_reason_a_tranche_cannot_be_paid_reads_in_chinese(zh: None, why: str) -> None:
    from huiqi.app.errors import TrancheNotPayable

    exc = TrancheNotPayable(
        FREE,
        why=why,
        application_id="APP-0042",
        seq=2,
        award_id="AW-31",
        evidence="9f2c",
        due=dt.date(2027, 6, 30),
    )
    shown = page_message(exc)
    assert shown.startswith("该期资金暂不能拨付："), shown
    figures = {"no_tranche": ["AW-31", "APP-0042", "2"], "not_attached": ["9f2c", "APP-0042"]}.get(why, [])
    for figure in figures:
        assert figure in shown, (figure, shown)
    if why != "unnamed":  # a reason the system did not name: its words as written
        assert not re.search(r"[A-Za-z]{3,}", shown.replace("APP", "").replace("AW", "")), shown


@pytest.mark.parametrize("why", ["not_by_a_move", "moves_money", "money_held", "unnamed"])
def test_a_refusal_that_names_its_reason_reads_in_chinese(zh: None, why: str) -> None:
    from huiqi.app.errors import ApplicationsError

    exc = ApplicationsError(FREE, why=why, to="approved", application="APP-0042", current="paying")
    shown = page_message(exc)
    assert shown.startswith("申请或批次操作被拒绝："), shown
    assert message_of(exc) == FREE  # the API's words are the ones it was raised with
    if why == "unnamed":  # no reason named: its words as written
        assert shown.endswith(FREE), shown
    else:
        assert not re.search(r"[A-Za-z]{3,}", shown.replace("APP-0042", "")), shown
        assert "已同意" in shown or "拨付中" in shown, shown  # the states by their labels


@pytest.mark.parametrize(
    ("because", "figures"),
    [
        ("not_a_recovery", {"kind": "pay"}),
        ("not_a_payment", {"kind": "recover"}),
        ("award_state", {"award": "AW-31", "status": "completed"}),
        ("", {}),
    ],
)
def test_a_payment_that_cannot_be_reversed_says_why_in_chinese(
    zh: None, because: str, figures: dict[str, str]
) -> None:
    from huiqi.app.errors import ledger_errors

    why = "it has already been reversed"  # a reason the catalogue words as the ledger writes it
    shown = page_message(ledger_errors.NotReversible("TX-88", why, because, **figures))
    assert shown.startswith("交易 TX-88 不能冲正："), shown
    assert not re.search(r"[A-Za-z]{3,}", shown.replace("TX-88", "").replace("AW-31", "")), shown
