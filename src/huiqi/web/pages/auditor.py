"""The auditor's pages, read-only across pools: the audit log, the ledger statement and history of every
pool, and the verification of the ledger and the audit chain (officers see them too)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from huiqi.app import audit, money
from huiqi.web import charts
from huiqi.web.api.common import page
from huiqi.web.i18n import N_, _, gettext
from huiqi.web.security import state_of
from huiqi.web.templating import render

router = APIRouter(include_in_schema=False)

#: Transactions a page of a pool's history shows.
HISTORY_PAGE = 100
#: The memos the ledger writes itself (ledger/service.py); any other memo is a person's words.
MEMOS = (
    (re.compile(r"fund pool (?P<name>.+)"), N_("fund pool %(name)s")),
    (re.compile(r"reservation (?P<id>\S+)"), N_("reservation %(id)s")),
)


def memo_label(memo: str | None) -> str:
    """A transaction's memo in the page's language: the ledger's own memos in words of the page's language
    (a zh auditor never reads 'fund pool'), a person's reason or reference exactly as typed."""
    for pattern, msgid in MEMOS:
        found = pattern.fullmatch(memo or "")
        if found:
            return gettext(msgid) % found.groupdict()
    return memo or ""


def kind_label(kind: str) -> str:
    """A ledger transaction's kind, in words in the page's language."""
    labels = {
        "fund": _("Funding"),
        "reserve": _("Reservation"),
        "void": _("Reservation voided"),
        "award": _("Award"),
        "pay": _("Payment"),
        "release": _("Release"),
        "clawback": _("Clawback"),
        "recover": _("Recovery"),
        "reversal": _("Reversal"),
    }
    return labels.get(kind, kind)


def balance_label(kind: str) -> str:
    """A pool's account kind, in words in the page's language."""
    labels = {
        "available": _("Available"),
        "reserved": _("Reserved"),
        "payable": _("Payable"),
        "paid": _("Paid"),
        "recoverable": _("Recoverable"),
    }
    return labels.get(kind, kind)


@router.get("/audit")
def audit_log_page(request: Request, offset: int = 0, entity: str = "") -> Response:
    offset = max(offset, 0)
    listing = audit.audit_log(state_of(request).store, limit=50, offset=offset, entity=entity or None)
    return render(
        request,
        "audit.html",
        {"page": page(list(listing.items), listing.total, 50, offset), "entity": entity},
    )


@router.get("/audit/verify")
def audit_verify_page(request: Request) -> Response:
    st = state_of(request)
    ledger_check = money.check_ledger(st.store)
    chain = audit.verify_chain(st.store)
    return render(request, "audit_verify.html", {"ledger": ledger_check, "chain": chain})


@router.get("/audit/pools")
def audit_pools_page(request: Request) -> Response:
    """Every pool with its size and what is available, each leading to its statement."""
    return render(request, "audit_pools.html", {"pools": money.list_pools(state_of(request).store)})


@router.get("/audit/pools/{pool_id}")
def audit_pool_page(request: Request, pool_id: str, offset: int = 0) -> Response:
    """One pool's statement (balances by account kind), its burn-down and its whole history, paged."""
    st = state_of(request)
    offset = max(offset, 0)
    pool = money.get_pool(st.store, pool_id=pool_id)
    statement = money.statement(st.store, pool_id=pool_id, limit=0)
    history = money.pool_history(st.store, pool_id=pool_id)
    shown = list(history.items[offset : offset + HISTORY_PAGE])
    return render(
        request,
        "audit_pool.html",
        {
            "pool": pool,
            "balances": [(balance_label(k), statement.balances.get(k)) for k in money.BALANCE_KINDS],
            "kind_label": kind_label,
            "memo_label": memo_label,
            "history": page(shown, history.total, HISTORY_PAGE, offset),
            "chart": charts.line_chart(
                pool.name,
                [(t.at, t.available) for t in history.items],
                pool.size,
                period=(pool.period_start, pool.period_end),
            ),
        },
    )
