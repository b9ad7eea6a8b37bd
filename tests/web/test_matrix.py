"""The authorization matrix, cell by cell: every route x every role (and anonymous) x own/other firm.

A route missing from the matrix (or an example request here) fails; a cell the matrix denies must answer
401/403 (pages: a redirect to the login page for anonymous callers); a cell it allows must not."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute

from dbfixtures import FIRM_A, FIRM_B
from huiqi.accounts.models import Role
from huiqi.web.app import routers
from huiqi.web.authz import MATRIX
from web.conftest import PDF, Web

PROGRAMME = "shanghai.ai.model-voucher"


def app_routes() -> set[tuple[str, str]]:
    return {
        (m, r.path)
        for router in routers()
        for r in router.routes
        if isinstance(r, APIRoute)
        for m in r.methods
    }


Example = Callable[[dict[str, str], bool], tuple[str, dict[str, Any]]]


def _a(ids: dict[str, str], own: bool) -> str:
    return ids["app_own" if own else "app_other"]


def _o(ids: dict[str, str], own: bool) -> str:
    return ids["open_own" if own else "open_other"]


def _f(own: bool) -> str:
    return FIRM_A if own else FIRM_B


J = "json"
EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", "/api/v1/auth/login"): lambda i, o: (
        "/api/v1/auth/login",
        {J: {"username": "probe", "password": "correct horse battery"}},
    ),
    ("POST", "/api/v1/auth/logout"): lambda i, o: ("/api/v1/auth/logout", {}),
    ("GET", "/api/v1/auth/me"): lambda i, o: ("/api/v1/auth/me", {}),
    ("GET", "/api/v1/users"): lambda i, o: ("/api/v1/users", {}),
    ("POST", "/api/v1/users"): lambda i, o: (
        "/api/v1/users",
        {J: {"username": f"u{uuid.uuid4().hex[:8]}", "password": "x" * 12, "role": "auditor"}},
    ),
    ("POST", "/api/v1/users/{username}/password"): lambda i, o: (
        "/api/v1/users/probe/password",
        {J: {"password": "correct horse battery"}},
    ),
    ("POST", "/api/v1/users/{username}/unlock"): lambda i, o: ("/api/v1/users/probe/unlock", {}),
    ("POST", "/api/v1/users/{username}/disable"): lambda i, o: ("/api/v1/users/probe/disable", {}),
    ("POST", "/api/v1/users/{username}/enable"): lambda i, o: ("/api/v1/users/probe/enable", {}),
    ("PUT", "/api/v1/users/{username}/role"): lambda i, o: (
        "/api/v1/users/probe/role",
        {J: {"role": "officer"}},
    ),
    ("GET", "/api/v1/programmes"): lambda i, o: ("/api/v1/programmes", {}),
    ("GET", "/api/v1/programmes/{programme_id}"): lambda i, o: (f"/api/v1/programmes/{PROGRAMME}", {}),
    ("POST", "/api/v1/programmes/validate"): lambda i, o: (
        "/api/v1/programmes/validate",
        {J: {"text": "id: x"}},
    ),
    ("POST", "/api/v1/programmes"): lambda i, o: ("/api/v1/programmes", {J: {"text": "id: x"}}),
    ("GET", "/api/v1/programme-tests"): lambda i, o: ("/api/v1/programme-tests", {}),
    ("GET", "/api/v1/programme-drafts"): lambda i, o: ("/api/v1/programme-drafts", {}),
    ("POST", "/api/v1/programme-drafts"): lambda i, o: ("/api/v1/programme-drafts", {J: {"text": "id: x"}}),
    ("GET", "/api/v1/programme-drafts/{draft_id}"): lambda i, o: ("/api/v1/programme-drafts/999", {}),
    ("PUT", "/api/v1/programme-drafts/{draft_id}"): lambda i, o: (
        "/api/v1/programme-drafts/999",
        {J: {"text": "id: x"}},
    ),
    ("POST", "/api/v1/programme-drafts/{draft_id}/submit"): lambda i, o: (
        "/api/v1/programme-drafts/999/submit",
        {},
    ),
    ("POST", "/api/v1/programme-drafts/{draft_id}/test"): lambda i, o: (
        "/api/v1/programme-drafts/999/test",
        {},
    ),
    ("POST", "/api/v1/programme-drafts/{draft_id}/reject"): lambda i, o: (
        "/api/v1/programme-drafts/999/reject",
        {J: {"reason": "x"}},
    ),
    ("POST", "/api/v1/programme-drafts/{draft_id}/publish"): lambda i, o: (
        "/api/v1/programme-drafts/999/publish",
        {},
    ),
    ("GET", "/api/v1/programme-drafts/{draft_id}/diff"): lambda i, o: (
        "/api/v1/programme-drafts/999/diff",
        {},
    ),
    ("POST", "/api/v1/programme-drafts/{draft_id}/cost"): lambda i, o: (
        "/api/v1/programme-drafts/999/cost",
        {J: {}},
    ),
    ("POST", "/api/v1/programmes/{programme_id}/versions/{version}/withdraw"): lambda i, o: (
        f"/api/v1/programmes/{PROGRAMME}/versions/9.9/withdraw",
        {J: {"reason": "x"}},
    ),
    ("GET", "/api/v1/programmes/{programme_id}/diff"): lambda i, o: (
        f"/api/v1/programmes/{PROGRAMME}/diff",
        {},
    ),
    ("GET", "/api/v1/schema/{kind}"): lambda i, o: ("/api/v1/schema/firm", {}),
    ("POST", "/api/v1/calculator"): lambda i, o: ("/api/v1/calculator", {J: {"firm": {"uscc": FIRM_A}}}),
    ("GET", "/api/v1/firms"): lambda i, o: ("/api/v1/firms", {}),
    ("GET", "/api/v1/firms/{uscc}"): lambda i, o: (f"/api/v1/firms/{_f(o)}", {}),
    ("PUT", "/api/v1/firms/{uscc}"): lambda i, o: (f"/api/v1/firms/{_f(o)}", {J: {"uscc": _f(o)}}),
    ("GET", "/api/v1/firms/{uscc}/matches"): lambda i, o: (f"/api/v1/firms/{_f(o)}/matches", {}),
    ("GET", "/api/v1/calls"): lambda i, o: ("/api/v1/calls", {}),
    ("GET", "/api/v1/calls/{call_id}"): lambda i, o: ("/api/v1/calls/call", {}),
    ("POST", "/api/v1/calls"): lambda i, o: ("/api/v1/calls", {J: {"id": "call"}}),
    ("POST", "/api/v1/calls/{call_id}/decide"): lambda i, o: ("/api/v1/calls/nocall/decide", {}),
    ("GET", "/api/v1/applications"): lambda i, o: (f"/api/v1/applications?firm_uscc={_f(o)}", {}),
    ("POST", "/api/v1/applications"): lambda i, o: (
        "/api/v1/applications",
        {J: {"call_id": "call", "firm_uscc": _f(o), "claims": [{"contract_id": "none", "amount": "1.00"}]}},
    ),
    ("GET", "/api/v1/applications/{application_id}"): lambda i, o: (f"/api/v1/applications/{_a(i, o)}", {}),
    ("POST", "/api/v1/applications/{application_id}/evidence"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/evidence",
        {"files": {"file": ("e.pdf", PDF, "application/pdf")}},
    ),
    ("GET", "/api/v1/applications/{application_id}/evidence/{sha256}"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/evidence/{i['sha_own' if o else 'sha_other']}",
        {},
    ),
    ("POST", "/api/v1/applications/{application_id}/check"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/check",
        {},
    ),
    ("POST", "/api/v1/applications/{application_id}/score"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/score",
        {J: {"score": "80"}},
    ),
    ("POST", "/api/v1/applications/{application_id}/transition"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/transition",
        {J: {"to": "appealed", "reason": "probe"}},
    ),
    ("POST", "/api/v1/applications/{application_id}/withdraw"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/withdraw",
        {J: {"reason": "probe"}},
    ),
    ("POST", "/api/v1/applications/{application_id}/decide"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/decide",
        {},
    ),
    ("POST", "/api/v1/applications/{application_id}/grant"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/grant",
        {J: {}},
    ),
    ("POST", "/api/v1/applications/{application_id}/tranches/{seq}/pay"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/tranches/1/pay",
        {J: {}},
    ),
    ("POST", "/api/v1/applications/{application_id}/miss-milestone"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/miss-milestone",
        {J: {"seq": 9, "reason": "probe"}},
    ),
    ("POST", "/api/v1/applications/{application_id}/clawback"): lambda i, o: (
        f"/api/v1/applications/{_o(i, o)}/clawback",
        {J: {"reason": "probe", "first_due": "2030-01-01"}},
    ),
    ("POST", "/api/v1/applications/{application_id}/recoveries"): lambda i, o: (
        f"/api/v1/applications/{_o(i, o)}/recoveries",
        {J: {"amount": "1.00"}},
    ),
    ("POST", "/api/v1/payments/{transaction_id}/reverse"): lambda i, o: (
        "/api/v1/payments/nosuchtxn/reverse",
        {J: {"reason": "probe"}},
    ),
    ("POST", "/api/v1/applications/{application_id}/decide/preview"): lambda i, o: (
        f"/api/v1/applications/{_o(i, o)}/decide/preview",
        {},
    ),
    ("POST", "/api/v1/calls/{call_id}/decide/preview"): lambda i, o: (
        "/api/v1/calls/call/decide/preview",
        {},
    ),
    ("POST", "/api/v1/applications/{application_id}/grant/preview"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/grant/preview",
        {J: {}},
    ),
    ("POST", "/api/v1/applications/{application_id}/tranches/{seq}/pay/preview"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/tranches/1/pay/preview",
        {J: {}},
    ),
    ("POST", "/api/v1/applications/{application_id}/miss-milestone/preview"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/miss-milestone/preview",
        {J: {"seq": 9, "reason": "probe"}},
    ),
    ("POST", "/api/v1/applications/{application_id}/clawback/preview"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/clawback/preview",
        {J: {"reason": "probe", "first_due": "2030-01-01"}},
    ),
    ("POST", "/api/v1/applications/{application_id}/recoveries/preview"): lambda i, o: (
        f"/api/v1/applications/{_a(i, o)}/recoveries/preview",
        {J: {"amount": "1.00"}},
    ),
    ("POST", "/api/v1/payments/{transaction_id}/reverse/preview"): lambda i, o: (
        "/api/v1/payments/nosuchtxn/reverse/preview",
        {J: {"reason": "probe"}},
    ),
    ("GET", "/api/v1/approvals"): lambda i, o: ("/api/v1/approvals", {}),
    ("GET", "/api/v1/approvals/{approval_id}"): lambda i, o: ("/api/v1/approvals/nosuchapproval", {}),
    ("POST", "/api/v1/approvals/{approval_id}/approve"): lambda i, o: (
        "/api/v1/approvals/nosuchapproval/approve",
        {},
    ),
    ("POST", "/api/v1/approvals/{approval_id}/reject"): lambda i, o: (
        "/api/v1/approvals/nosuchapproval/reject",
        {J: {"reason": "probe"}},
    ),
    ("GET", "/api/v1/awards"): lambda i, o: (f"/api/v1/awards?firm_uscc={_f(o)}", {}),
    ("GET", "/api/v1/awards/{award_id}"): lambda i, o: (
        f"/api/v1/awards/{i['award_own' if o else 'award_other']}",
        {},
    ),
    ("GET", "/api/v1/pools"): lambda i, o: ("/api/v1/pools", {}),
    ("POST", "/api/v1/pools"): lambda i, o: (
        "/api/v1/pools",
        {
            J: {
                "id": "pool",
                "name": "p",
                "size": "1.00",
                "period_start": "2030-01-01",
                "period_end": "2030-12-31",
            }
        },
    ),
    ("GET", "/api/v1/pools/{pool_id}/statement"): lambda i, o: ("/api/v1/pools/pool/statement", {}),
    ("GET", "/api/v1/pools/{pool_id}"): lambda i, o: ("/api/v1/pools/pool", {}),
    ("GET", "/api/v1/awards/by/{field}"): lambda i, o: ("/api/v1/awards/by/sector", {}),
    ("GET", "/api/v1/applications/by-state"): lambda i, o: ("/api/v1/applications/by-state", {}),
    ("GET", "/api/v1/pools/{pool_id}/history"): lambda i, o: ("/api/v1/pools/pool/history", {}),
    ("GET", "/api/v1/ledger/verify"): lambda i, o: ("/api/v1/ledger/verify", {}),
    ("GET", "/api/v1/audit"): lambda i, o: ("/api/v1/audit", {}),
    ("GET", "/api/v1/audit/verify"): lambda i, o: ("/api/v1/audit/verify", {}),
    ("GET", "/"): lambda i, o: ("/", {}),
    ("GET", "/calculator"): lambda i, o: ("/calculator", {}),
    ("POST", "/calculator"): lambda i, o: ("/calculator", {"data": {"profile": "{}"}}),
    ("GET", "/programmes"): lambda i, o: ("/programmes", {}),
    ("GET", "/programmes.csv"): lambda i, o: ("/programmes.csv", {}),
    ("GET", "/programmes/{programme_id}"): lambda i, o: (f"/programmes/{PROGRAMME}", {}),
    ("GET", "/published"): lambda i, o: ("/published", {}),
    ("GET", "/lang/{lang}"): lambda i, o: ("/lang/en", {}),
    ("GET", "/login"): lambda i, o: ("/login", {}),
    ("POST", "/login"): lambda i, o: (
        "/login",
        {"data": {"username": "nobody", "password": "wrong password"}},
    ),
    ("POST", "/logout"): lambda i, o: ("/logout", {}),
    ("GET", "/home"): lambda i, o: ("/home", {}),
    ("GET", "/firms/{uscc}"): lambda i, o: (f"/firms/{_f(o)}", {}),
    ("POST", "/firms/{uscc}/profile"): lambda i, o: (f"/firms/{_f(o)}/profile", {"data": {"profile": "{}"}}),
    ("GET", "/firms/{uscc}/apply"): lambda i, o: (f"/firms/{_f(o)}/apply", {}),
    ("POST", "/firms/{uscc}/applications"): lambda i, o: (
        f"/firms/{_f(o)}/applications",
        {"data": {"call_id": "call"}},
    ),
    ("GET", "/applications/{application_id}"): lambda i, o: (f"/applications/{_a(i, o)}", {}),
    ("POST", "/applications/{application_id}/evidence"): lambda i, o: (
        f"/applications/{_a(i, o)}/evidence",
        {"files": {"file": ("e.pdf", PDF, "application/pdf")}},
    ),
    ("POST", "/applications/{application_id}/withdraw"): lambda i, o: (
        f"/applications/{_a(i, o)}/withdraw",
        {"data": {"reason": "probe", "idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/applications/{application_id}/check"): lambda i, o: (f"/applications/{_a(i, o)}/check", {}),
    ("POST", "/applications/{application_id}/decide"): lambda i, o: (
        f"/applications/{_a(i, o)}/decide",
        {"data": {"idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/applications/{application_id}/grant"): lambda i, o: (
        f"/applications/{_a(i, o)}/grant",
        {"data": {"idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/applications/{application_id}/pay"): lambda i, o: (
        f"/applications/{_a(i, o)}/pay",
        {"data": {"seq": "1", "idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/applications/{application_id}/clawback"): lambda i, o: (
        f"/applications/{_o(i, o)}/clawback",
        {"data": {"reason": "probe", "first_due": "2030-01-01", "idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/applications/{application_id}/score"): lambda i, o: (
        f"/applications/{_a(i, o)}/score",
        {"data": {"score": "81.5"}},
    ),
    ("POST", "/applications/{application_id}/move"): lambda i, o: (
        f"/applications/{_o(i, o)}/move",
        {"data": {"to": "rejected", "reason": "probe"}},
    ),
    ("POST", "/applications/{application_id}/miss-milestone"): lambda i, o: (
        f"/applications/{_a(i, o)}/miss-milestone",
        {"data": {"seq": "1", "reason": "probe", "idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/applications/{application_id}/recover"): lambda i, o: (
        f"/applications/{_a(i, o)}/recover",
        {"data": {"amount": "1.00", "idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/applications/{application_id}/reverse"): lambda i, o: (
        f"/applications/{_a(i, o)}/reverse",
        {"data": {"transaction_id": "nope", "reason": "probe", "idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/officer/calls/{call_id}/decide"): lambda i, o: (
        "/officer/calls/call/decide",
        {"data": {"idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/officer/calls/{call_id}/confirm"): lambda i, o: ("/officer/calls/call/confirm", {}),
    ("POST", "/applications/{application_id}/confirm"): lambda i, o: (
        f"/applications/{_a(i, o)}/confirm",
        {"data": {"move": "pay", "seq": "1"}},
    ),
    ("GET", "/officer/approvals"): lambda i, o: ("/officer/approvals", {}),
    ("POST", "/officer/approvals/{approval_id}/confirm"): lambda i, o: (
        "/officer/approvals/nosuchapproval/confirm",
        {},
    ),
    ("POST", "/officer/approvals/{approval_id}/approve"): lambda i, o: (
        "/officer/approvals/nosuchapproval/approve",
        {"data": {"idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/officer/approvals/{approval_id}/reject"): lambda i, o: (
        "/officer/approvals/nosuchapproval/reject",
        {"data": {"reason": "probe"}},
    ),
    ("GET", "/officer"): lambda i, o: ("/officer", {}),
    ("GET", "/officer/programmes"): lambda i, o: ("/officer/programmes", {}),
    ("POST", "/officer/programmes/validate"): lambda i, o: (
        "/officer/programmes/validate",
        {"files": {"file": ("x.programme.yaml", b"id: x", "text/yaml")}},
    ),
    ("POST", "/officer/programmes/load"): lambda i, o: (
        "/officer/programmes/load",
        {"files": {"file": ("x.programme.yaml", b"id: x", "text/yaml")}},
    ),
    ("GET", "/officer/programmes/drafts/new"): lambda i, o: ("/officer/programmes/drafts/new", {}),
    ("POST", "/officer/programmes/check"): lambda i, o: (
        "/officer/programmes/check",
        {"data": {"text": "id: x"}},
    ),
    ("POST", "/officer/programmes/drafts"): lambda i, o: (
        "/officer/programmes/drafts",
        {"data": {"text": "id: x"}},
    ),
    ("GET", "/officer/programmes/drafts/{draft_id}"): lambda i, o: ("/officer/programmes/drafts/999", {}),
    ("POST", "/officer/programmes/drafts/{draft_id}"): lambda i, o: (
        "/officer/programmes/drafts/999",
        {"data": {"text": "id: x"}},
    ),
    ("POST", "/officer/programmes/drafts/{draft_id}/test"): lambda i, o: (
        "/officer/programmes/drafts/999/test",
        {},
    ),
    ("POST", "/officer/programmes/drafts/{draft_id}/case"): lambda i, o: (
        "/officer/programmes/drafts/999/case",
        {"data": {"on": "2026-01-01", "example": "small-ai-firm"}},
    ),
    ("POST", "/officer/programmes/drafts/{draft_id}/cost"): lambda i, o: (
        "/officer/programmes/drafts/999/cost",
        {"data": {"on": "2027-01-01"}},
    ),
    ("POST", "/officer/programmes/drafts/{draft_id}/parameter"): lambda i, o: (
        "/officer/programmes/drafts/999/parameter",
        {"data": {"name": "rate", "value": "30%", "start": "2027-01-01"}},
    ),
    ("POST", "/officer/programmes/drafts/{draft_id}/submit"): lambda i, o: (
        "/officer/programmes/drafts/999/submit",
        {},
    ),
    ("POST", "/officer/programmes/drafts/{draft_id}/publish"): lambda i, o: (
        "/officer/programmes/drafts/999/publish",
        {},
    ),
    ("POST", "/officer/programmes/drafts/{draft_id}/reject"): lambda i, o: (
        "/officer/programmes/drafts/999/reject",
        {"data": {"reason": "probe"}},
    ),
    ("POST", "/officer/programmes/withdraw"): lambda i, o: (
        "/officer/programmes/withdraw",
        {"data": {"programme_id": PROGRAMME, "version": "0.0", "reason": "probe"}},
    ),
    ("GET", "/officer/calls"): lambda i, o: ("/officer/calls", {}),
    ("POST", "/officer/calls"): lambda i, o: (
        "/officer/calls",
        {
            "data": {
                "call_id": "call",
                "programme_id": PROGRAMME,
                "pool_id": "pool",
                "opens": "2030-01-01T00:00",
                "closes": "2030-02-01T00:00",
            }
        },
    ),
    ("GET", "/officer/applications"): lambda i, o: ("/officer/applications", {}),
    ("GET", "/officer/pools"): lambda i, o: ("/officer/pools", {}),
    ("POST", "/officer/pools"): lambda i, o: (
        "/officer/pools",
        {
            "data": {
                "pool_id": "pool",
                "name": "p",
                "size": "1.00",
                "period_start": "2030-01-01",
                "period_end": "2030-12-31",
                "idempotency_key": uuid.uuid4().hex,
            }
        },
    ),
    # --- matching, review, selection, certificates, the sandbox (issues 4, 5, 7)
    ("POST", "/api/v1/matching/runs"): lambda i, o: (
        "/api/v1/matching/runs",
        {J: {"programmes": ["no.such"]}},
    ),
    ("GET", "/api/v1/matching/runs/latest"): lambda i, o: ("/api/v1/matching/runs/latest", {}),
    ("GET", "/api/v1/matching/outbox"): lambda i, o: ("/api/v1/matching/outbox", {}),
    ("GET", "/api/v1/matching/results"): lambda i, o: ("/api/v1/matching/results?on=2025-09-01", {}),
    ("GET", "/api/v1/firms/{uscc}/inbox"): lambda i, o: (f"/api/v1/firms/{_f(o)}/inbox", {}),
    ("GET", "/api/v1/firms/{uscc}/match-results"): lambda i, o: (f"/api/v1/firms/{_f(o)}/match-results", {}),
    ("GET", "/api/v1/reviewers"): lambda i, o: ("/api/v1/reviewers", {}),
    ("POST", "/api/v1/reviewers"): lambda i, o: (
        "/api/v1/reviewers",
        {J: {"id": f"r{uuid.uuid4().hex[:8]}", "name": "专家", "fields": ["artificial_intelligence"]}},
    ),
    ("GET", "/api/v1/calls/{call_id}/call-file"): lambda i, o: ("/api/v1/calls/call/call-file", {}),
    ("PUT", "/api/v1/calls/{call_id}/call-file"): lambda i, o: (
        "/api/v1/calls/call/call-file",
        {J: {"text": "call: call\n"}},
    ),
    ("POST", "/api/v1/calls/{call_id}/review/assign"): lambda i, o: ("/api/v1/calls/call/review/assign", {}),
    ("POST", "/api/v1/calls/{call_id}/review/normalise"): lambda i, o: (
        "/api/v1/calls/call/review/normalise",
        {},
    ),
    ("GET", "/api/v1/reviews"): lambda i, o: ("/api/v1/reviews", {}),
    ("POST", "/api/v1/reviews/{application_id}/declaration"): lambda i, o: (
        "/api/v1/reviews/noapp/declaration",
        {J: {"conflict": None}},
    ),
    ("GET", "/api/v1/reviews/{application_id}/material"): lambda i, o: ("/api/v1/reviews/noapp/material", {}),
    ("POST", "/api/v1/reviews/{application_id}/scores"): lambda i, o: (
        "/api/v1/reviews/noapp/scores",
        {J: {"scores": {"innovation": "5"}}},
    ),
    ("POST", "/api/v1/calls/{call_id}/selection/check"): lambda i, o: (
        "/api/v1/calls/call/selection/check",
        {},
    ),
    ("GET", "/api/v1/calls/{call_id}/selection"): lambda i, o: ("/api/v1/calls/call/selection", {}),
    ("POST", "/api/v1/calls/{call_id}/selection"): lambda i, o: ("/api/v1/calls/call/selection", {}),
    ("POST", "/api/v1/designations/{application_id}/end"): lambda i, o: (
        "/api/v1/designations/noapp/end",
        {J: {"reason": "probe"}},
    ),
    ("GET", "/api/v1/calls/{call_id}/designated"): lambda i, o: ("/api/v1/calls/call/designated", {}),
    ("GET", "/api/v1/calls/{call_id}/certificates"): lambda i, o: ("/api/v1/calls/call/certificates", {}),
    ("GET", "/api/v1/firms/{uscc}/certificates"): lambda i, o: (f"/api/v1/firms/{_f(o)}/certificates", {}),
    ("GET", "/api/v1/firms/{uscc}/certificates/{serial}"): lambda i, o: (
        f"/api/v1/firms/{_f(o)}/certificates/NOSERIAL",
        {},
    ),
    ("POST", "/api/v1/certificates/verify"): lambda i, o: (
        "/api/v1/certificates/verify",
        {"content": PDF, "headers": {"Content-Type": "application/pdf"}},
    ),
    ("POST", "/api/v1/certificates/{serial}/revoke"): lambda i, o: (
        "/api/v1/certificates/NOSERIAL/revoke",
        {J: {"reason": "probe"}},
    ),
    ("POST", "/api/v1/reviews/{application_id}/reassign"): lambda i, o: (
        "/api/v1/reviews/noapp/reassign",
        {J: {"from_reviewer": "a", "to_reviewer": "b", "reason": "probe"}},
    ),
    ("GET", "/api/v1/reviews/{application_id}"): lambda i, o: ("/api/v1/reviews/noapp", {}),
    ("GET", "/api/v1/calls/{call_id}/review"): lambda i, o: ("/api/v1/calls/call/review", {}),
    ("GET", "/api/v1/selection/calls"): lambda i, o: ("/api/v1/selection/calls", {}),
    ("POST", "/api/v1/calls/{call_id}/selection/preview"): lambda i, o: (
        "/api/v1/calls/call/selection/preview",
        {},
    ),
    ("POST", "/api/v1/designations/{application_id}/end/preview"): lambda i, o: (
        "/api/v1/designations/noapp/end/preview",
        {J: {"reason": "probe"}},
    ),
    ("POST", "/officer/selection/{call_id}/confirm"): lambda i, o: ("/officer/selection/call/confirm", {}),
    ("POST", "/officer/designations/{application_id}/confirm-end"): lambda i, o: (
        "/officer/designations/noapp/confirm-end",
        {"data": {"reason": "probe"}},
    ),
    ("GET", "/api/v1/certificates/revocations"): lambda i, o: ("/api/v1/certificates/revocations", {}),
    ("GET", "/api/v1/certificates/{serial}"): lambda i, o: ("/api/v1/certificates/NOSERIAL", {}),
    ("POST", "/officer/selection/{call_id}/reassign"): lambda i, o: (
        "/officer/selection/call/reassign",
        {"data": {"application_id": "noapp", "from_reviewer": "a", "to_reviewer": "b", "reason": "probe"}},
    ),
    ("GET", "/officer/selection/{call_id}/certificates"): lambda i, o: (
        "/officer/selection/call/certificates",
        {},
    ),
    ("POST", "/officer/certificates/{serial}/revoke"): lambda i, o: (
        "/officer/certificates/NOSERIAL/revoke",
        {"data": {"reason": "probe"}},
    ),
    ("GET", "/firms/{uscc}/certificates/{serial}"): lambda i, o: (
        f"/firms/{_f(o)}/certificates/NOSERIAL",
        {},
    ),
    ("POST", "/api/v1/simulations"): lambda i, o: ("/api/v1/simulations", {J: {}}),
    ("GET", "/api/v1/simulations/{simulation_id}/report"): lambda i, o: (
        "/api/v1/simulations/nosim/report",
        {},
    ),
    ("GET", "/api/v1/jobs/{job_id}"): lambda i, o: ("/api/v1/jobs/nojob", {}),
    ("POST", "/api/v1/compare-cities"): lambda i, o: ("/api/v1/compare-cities", {J: {"name_zh": "x"}}),
    ("GET", "/published/designated/{call_id}"): lambda i, o: ("/published/designated/call", {}),
    ("GET", "/certificates/verify"): lambda i, o: ("/certificates/verify", {}),
    ("POST", "/certificates/verify"): lambda i, o: (
        "/certificates/verify",
        {"files": {"file": ("c.pdf", PDF, "application/pdf")}},
    ),
    ("GET", "/certificates/verify/{serial}"): lambda i, o: ("/certificates/verify/NOSERIAL", {}),
    ("GET", "/compare"): lambda i, o: ("/compare", {}),
    ("POST", "/compare"): lambda i, o: ("/compare", {"data": {"profile": "{}"}}),
    ("GET", "/officer/matching"): lambda i, o: ("/officer/matching", {}),
    ("POST", "/officer/matching"): lambda i, o: ("/officer/matching", {"data": {"programme": "no.such"}}),
    ("GET", "/officer/matching/{job_id}"): lambda i, o: ("/officer/matching/nojob", {}),
    ("GET", "/officer/jobs/{job_id}"): lambda i, o: ("/officer/jobs/nojob", {}),
    ("GET", "/officer/sandbox"): lambda i, o: ("/officer/sandbox", {}),
    ("POST", "/officer/sandbox"): lambda i, o: ("/officer/sandbox", {"data": {"reform": ""}}),
    ("GET", "/officer/sandbox/{simulation_id}"): lambda i, o: ("/officer/sandbox/nosim", {}),
    ("GET", "/officer/selection"): lambda i, o: ("/officer/selection", {}),
    ("GET", "/officer/selection/{call_id}"): lambda i, o: ("/officer/selection/call", {}),
    ("POST", "/officer/selection/{call_id}/call-file"): lambda i, o: (
        "/officer/selection/call/call-file",
        {"data": {"text": "call: call\n"}},
    ),
    ("POST", "/officer/selection/{call_id}/check"): lambda i, o: ("/officer/selection/call/check", {}),
    ("POST", "/officer/selection/{call_id}/assign"): lambda i, o: ("/officer/selection/call/assign", {}),
    ("POST", "/officer/selection/{call_id}/normalise"): lambda i, o: (
        "/officer/selection/call/normalise",
        {},
    ),
    ("POST", "/officer/selection/{call_id}/run"): lambda i, o: (
        "/officer/selection/call/run",
        {"data": {"idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/officer/designations/{application_id}/end"): lambda i, o: (
        "/officer/designations/noapp/end",
        {"data": {"reason": "probe", "idempotency_key": uuid.uuid4().hex}},
    ),
    ("POST", "/officer/reviewers"): lambda i, o: (
        "/officer/reviewers",
        {
            "data": {
                "reviewer_id": f"r{uuid.uuid4().hex[:8]}",
                "name": "专家",
                "fields": "artificial_intelligence",
            }
        },
    ),
    ("GET", "/review"): lambda i, o: ("/review", {}),
    ("GET", "/review/{application_id}"): lambda i, o: ("/review/noapp", {}),
    ("POST", "/review/{application_id}/declare"): lambda i, o: (
        "/review/noapp/declare",
        {"data": {"decision": "none"}},
    ),
    ("POST", "/review/{application_id}/score"): lambda i, o: (
        "/review/noapp/score",
        {"data": {"score_x": "1"}},
    ),
    ("GET", "/audit"): lambda i, o: ("/audit", {}),
    ("GET", "/audit/verify"): lambda i, o: ("/audit/verify", {}),
    ("GET", "/audit/pools"): lambda i, o: ("/audit/pools", {}),
    ("GET", "/audit/pools/{pool_id}"): lambda i, o: ("/audit/pools/pool", {}),
    ("GET", "/admin/users"): lambda i, o: ("/admin/users", {}),
    ("POST", "/admin/users"): lambda i, o: (
        "/admin/users",
        {"data": {"username": f"u{uuid.uuid4().hex[:8]}", "password": "x" * 12, "role": "auditor"}},
    ),
    ("POST", "/admin/users/{username}/password"): lambda i, o: (
        "/admin/users/probe/password",
        {"data": {"password": "correct horse battery"}},
    ),
    ("POST", "/admin/users/{username}/unlock"): lambda i, o: ("/admin/users/probe/unlock", {}),
    ("POST", "/admin/users/{username}/disable"): lambda i, o: ("/admin/users/probe/disable", {}),
    ("POST", "/admin/users/{username}/enable"): lambda i, o: ("/admin/users/probe/enable", {}),
    ("POST", "/admin/users/{username}/role"): lambda i, o: (
        "/admin/users/probe/role",
        {"data": {"role": "officer"}},
    ),
}


def test_every_route_is_in_the_matrix_and_nothing_else_is() -> None:
    routes = app_routes()
    assert routes - MATRIX.keys() == set(), "routes missing from huiqi.web.authz.MATRIX"
    assert MATRIX.keys() - routes == set(), "matrix entries for routes that do not exist"
    assert routes - EXAMPLES.keys() == set(), "routes with no example request in this test"


ROLES: list[str | None] = [None, *[r.value for r in Role]]
USERS = {
    None: None,
    "firm_member": "firm_member",
    "reviewer": "reviewer",
    "officer": "officer",
    "auditor": "auditor",
    "admin": "admin",
}


def expected(route: tuple[str, str], role: str | None, own: bool) -> bool:
    access = MATRIX[route]
    r = None if role is None else Role(role)
    if not access.allows(r):
        return False
    return not (r is not None and r in access.own and r not in access.roles and not own)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_matrix_cell_by_cell(sqlite_web: Web, role: str | None) -> None:
    web = sqlite_web
    client = web.client(USERS[role])
    cells = sorted(MATRIX, key=lambda k: k[1] in ("/logout", "/api/v1/auth/logout"))  # logging out last
    wrong: list[str] = []
    for route in cells:
        for own in (True, False):
            access = MATRIX[route]
            if not own and not access.own:
                continue  # the route is not about one firm: one cell per role
            url, kwargs = EXAMPLES[route](web.ids, own)
            headers = {"Idempotency-Key": uuid.uuid4().hex, **kwargs.pop("headers", {})}
            # logging in from this client would replace its session: a fresh anonymous client does it
            c = web.client(None) if route[1] in ("/login", "/api/v1/auth/login") else client
            if route[1] in ("/logout", "/api/v1/auth/logout"):
                c = web.client(USERS[role])  # ending a session: its own
            response = c.request(route[0], url, headers=headers, **kwargs)
            location = response.headers.get("location", "")
            denied = response.status_code in (401, 403) or (
                response.status_code == 303 and location.startswith("/login")
            )
            if denied == expected(route, role, own):
                wrong.append(
                    f"{route[0]} {route[1]} as {role or 'anonymous'} ({'own' if own else 'other'} firm): "
                    f"{response.status_code} {response.text[:160]}"
                )
    assert not wrong, "\n".join(wrong)
