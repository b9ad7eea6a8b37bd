"""Who may call what: the authorization matrix (route x role x own/other firm), kept in code.

Every route of the app has one entry; ``authorize`` (a dependency of the whole app) refuses a route that has
none, so a route added without deciding who may use it fails loudly (and ``tests/web/test_matrix.py`` fails).
``own`` roles may use the route only for their own firm's data: the handler calls ``Principal.check_firm``
with the firm the data belongs to, and lists are filtered to the firm.

Review, selection, certificates (issue 5), matching (issue 4) and the policy sandbox (issue 7) are below.
A reviewer acts only on their own assignments (the handler uses their username as the reviewer id), which
is the review routes' equivalent of ``own``.
"""

from __future__ import annotations

from dataclasses import dataclass

from huiqi.app.accounts import Role

F, R, O, A, D = Role.FIRM_MEMBER, Role.REVIEWER, Role.OFFICER, Role.AUDITOR, Role.ADMIN  # noqa: E741
STAFF = frozenset({R, O, A, D})
EVERYONE = frozenset(Role)


@dataclass(frozen=True)
class Access:
    """``public``: no login needed. ``roles``: may use it for any firm. ``own``: only for their own firm."""

    roles: frozenset[Role] = frozenset()
    own: frozenset[Role] = frozenset()
    public: bool = False

    def allows(self, role: Role | None) -> bool:
        return self.public or (role is not None and (role in self.roles or role in self.own))


def public() -> Access:
    return Access(public=True)


def roles(*rs: Role, own: tuple[Role, ...] = ()) -> Access:
    return Access(roles=frozenset(rs), own=frozenset(own))


API = "/api/v1"

#: (method, path template) -> who may use it. Money-moving writes also need an Idempotency-Key header.
MATRIX: dict[tuple[str, str], Access] = {
    # --- API: accounts
    ("POST", f"{API}/auth/login"): public(),
    ("POST", f"{API}/auth/logout"): Access(roles=EVERYONE),
    ("GET", f"{API}/auth/me"): Access(roles=EVERYONE),
    ("GET", f"{API}/users"): roles(D),
    ("POST", f"{API}/users"): roles(D),
    ("POST", f"{API}/users/{{username}}/password"): roles(D),
    ("POST", f"{API}/users/{{username}}/unlock"): roles(D),
    ("POST", f"{API}/users/{{username}}/disable"): roles(D),
    ("POST", f"{API}/users/{{username}}/enable"): roles(D),
    ("PUT", f"{API}/users/{{username}}/role"): roles(D),
    # --- API: programmes and the calculator
    ("GET", f"{API}/programmes"): public(),
    ("GET", f"{API}/programmes/{{programme_id}}"): public(),
    ("POST", f"{API}/programmes/validate"): roles(O),
    ("POST", f"{API}/programmes"): roles(D),  # the operator's bootstrap: officers publish drafts (two people)
    ("GET", f"{API}/programme-tests"): roles(O, A),
    # programmes through their life (issue 15): officers author; another officer publishes (the two-person
    # rule is the use case's: the author is refused by name, whatever the role)
    ("GET", f"{API}/programme-drafts"): roles(O, A),
    ("POST", f"{API}/programme-drafts"): roles(O),
    ("GET", f"{API}/programme-drafts/{{draft_id}}"): roles(O, A),
    ("PUT", f"{API}/programme-drafts/{{draft_id}}"): roles(O),
    ("POST", f"{API}/programme-drafts/{{draft_id}}/submit"): roles(O),
    ("POST", f"{API}/programme-drafts/{{draft_id}}/test"): roles(O),
    ("POST", f"{API}/programme-drafts/{{draft_id}}/reject"): roles(O),
    ("POST", f"{API}/programme-drafts/{{draft_id}}/publish"): roles(O),
    ("GET", f"{API}/programme-drafts/{{draft_id}}/diff"): roles(O, A),
    ("POST", f"{API}/programme-drafts/{{draft_id}}/cost"): roles(O),
    ("POST", f"{API}/programmes/{{programme_id}}/versions/{{version}}/withdraw"): roles(O),
    ("GET", f"{API}/programmes/{{programme_id}}/diff"): public(),
    ("GET", f"{API}/schema/{{kind}}"): public(),
    ("POST", f"{API}/calculator"): public(),
    # --- API: firms
    ("GET", f"{API}/firms"): roles(O, R, A),
    ("GET", f"{API}/firms/{{uscc}}"): roles(O, R, A, own=(F,)),
    ("PUT", f"{API}/firms/{{uscc}}"): roles(O, own=(F,)),
    ("GET", f"{API}/firms/{{uscc}}/matches"): roles(O, R, A, own=(F,)),
    # --- API: calls and applications
    ("GET", f"{API}/calls"): public(),
    ("GET", f"{API}/calls/{{call_id}}"): public(),
    ("POST", f"{API}/calls"): roles(O),
    ("POST", f"{API}/calls/{{call_id}}/decide"): roles(O),
    ("GET", f"{API}/applications"): roles(O, R, A, own=(F,)),
    ("POST", f"{API}/applications"): roles(O, own=(F,)),
    ("GET", f"{API}/applications/{{application_id}}"): roles(O, R, A, own=(F,)),
    ("POST", f"{API}/applications/{{application_id}}/evidence"): roles(O, own=(F,)),
    ("GET", f"{API}/applications/{{application_id}}/evidence/{{sha256}}"): roles(O, R, A, own=(F,)),
    ("POST", f"{API}/applications/{{application_id}}/check"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/score"): roles(R, O),
    ("POST", f"{API}/applications/{{application_id}}/transition"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/withdraw"): roles(O, own=(F,)),
    # --- API: awards, payments, recoveries (all move money)
    ("POST", f"{API}/applications/{{application_id}}/decide"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/grant"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/tranches/{{seq}}/pay"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/miss-milestone"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/clawback"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/recoveries"): roles(O),
    ("POST", f"{API}/payments/{{transaction_id}}/reverse"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/decide/preview"): roles(O),
    ("POST", f"{API}/calls/{{call_id}}/decide/preview"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/grant/preview"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/tranches/{{seq}}/pay/preview"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/miss-milestone/preview"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/clawback/preview"): roles(O),
    ("POST", f"{API}/applications/{{application_id}}/recoveries/preview"): roles(O),
    ("POST", f"{API}/payments/{{transaction_id}}/reverse/preview"): roles(O),
    ("GET", f"{API}/approvals"): roles(O, A),
    ("GET", f"{API}/approvals/{{approval_id}}"): roles(O, A),
    ("POST", f"{API}/approvals/{{approval_id}}/approve"): roles(O),
    ("POST", f"{API}/approvals/{{approval_id}}/reject"): roles(O),
    ("GET", f"{API}/awards"): roles(O, A, own=(F,)),
    ("GET", f"{API}/awards/{{award_id}}"): roles(O, A, own=(F,)),
    ("GET", f"{API}/awards/by/{{field}}"): roles(O, A),
    ("GET", f"{API}/applications/by-state"): roles(O, R, A),
    # --- API: ledger and audit
    ("GET", f"{API}/pools"): roles(O, A),
    ("POST", f"{API}/pools"): roles(O),
    ("GET", f"{API}/pools/{{pool_id}}"): roles(O, A),
    ("GET", f"{API}/pools/{{pool_id}}/statement"): roles(O, A),
    ("GET", f"{API}/pools/{{pool_id}}/history"): roles(O, A),
    ("GET", f"{API}/ledger/verify"): roles(O, A),
    ("GET", f"{API}/audit"): roles(O, A),
    ("GET", f"{API}/audit/verify"): roles(O, A),
    # --- API: matching (issue 4)
    ("POST", f"{API}/matching/runs"): roles(O),
    ("GET", f"{API}/matching/runs/latest"): roles(O, A),
    ("GET", f"{API}/matching/outbox"): roles(O, A),
    ("GET", f"{API}/matching/results"): roles(O, A),
    ("GET", f"{API}/firms/{{uscc}}/inbox"): roles(O, A, own=(F,)),
    ("GET", f"{API}/firms/{{uscc}}/match-results"): roles(O, A, own=(F,)),
    # --- API: review, selection, publication, certificates (issue 5)
    ("GET", f"{API}/reviewers"): roles(O, A),
    ("POST", f"{API}/reviewers"): roles(O),
    ("GET", f"{API}/calls/{{call_id}}/call-file"): roles(O, R, A),
    ("PUT", f"{API}/calls/{{call_id}}/call-file"): roles(O),
    ("POST", f"{API}/calls/{{call_id}}/review/assign"): roles(O),
    ("POST", f"{API}/calls/{{call_id}}/review/normalise"): roles(O),
    ("GET", f"{API}/reviews"): roles(R, O, A),
    ("POST", f"{API}/reviews/{{application_id}}/declaration"): roles(R),
    ("GET", f"{API}/reviews/{{application_id}}/material"): roles(R),
    ("POST", f"{API}/reviews/{{application_id}}/scores"): roles(R),
    ("POST", f"{API}/reviews/{{application_id}}/reassign"): roles(O),
    ("POST", f"{API}/calls/{{call_id}}/selection/preview"): roles(O),
    ("POST", f"{API}/designations/{{application_id}}/end/preview"): roles(O),
    ("GET", f"{API}/reviews/{{application_id}}"): roles(R),
    ("GET", f"{API}/calls/{{call_id}}/review"): roles(O, A),
    ("GET", f"{API}/selection/calls"): roles(O, A),
    ("GET", f"{API}/certificates/revocations"): public(),
    ("GET", f"{API}/certificates/{{serial}}"): public(),
    ("POST", f"{API}/calls/{{call_id}}/selection/check"): roles(O),
    ("GET", f"{API}/calls/{{call_id}}/selection"): roles(O, A),
    ("POST", f"{API}/calls/{{call_id}}/selection"): roles(O),  # moves money: Idempotency-Key
    ("POST", f"{API}/designations/{{application_id}}/end"): roles(O),  # moves money: Idempotency-Key
    ("GET", f"{API}/calls/{{call_id}}/designated"): public(),
    ("GET", f"{API}/calls/{{call_id}}/certificates"): roles(O, A),
    ("GET", f"{API}/firms/{{uscc}}/certificates"): roles(O, A, own=(F,)),
    ("GET", f"{API}/firms/{{uscc}}/certificates/{{serial}}"): roles(O, A, own=(F,)),
    ("POST", f"{API}/certificates/verify"): public(),
    ("POST", f"{API}/certificates/{{serial}}/revoke"): roles(O),
    # --- API: the policy sandbox and the city comparison (issue 7)
    ("POST", f"{API}/simulations"): roles(O),
    ("GET", f"{API}/simulations/{{simulation_id}}/report"): roles(O),
    ("GET", f"{API}/jobs/{{job_id}}"): roles(O),  # background matches and simulations
    ("POST", f"{API}/compare-cities"): public(),
    # --- pages: public
    ("GET", "/"): public(),
    ("GET", "/calculator"): public(),
    ("POST", "/calculator"): public(),
    ("GET", "/programmes"): public(),
    ("GET", "/programmes.csv"): public(),
    ("GET", "/programmes/{programme_id}"): public(),
    ("GET", "/published"): public(),
    ("GET", "/lang/{lang}"): public(),
    ("GET", "/login"): public(),
    ("POST", "/login"): public(),
    ("POST", "/logout"): Access(roles=EVERYONE),
    ("GET", "/home"): Access(roles=EVERYONE),
    ("GET", "/published/designated/{call_id}"): public(),
    ("GET", "/certificates/verify"): public(),
    ("POST", "/certificates/verify"): public(),
    ("GET", "/certificates/verify/{serial}"): public(),
    ("GET", "/compare"): public(),
    ("POST", "/compare"): public(),
    # --- pages: firm
    ("GET", "/firms/{uscc}"): roles(O, R, A, own=(F,)),
    ("POST", "/firms/{uscc}/profile"): roles(O, own=(F,)),
    ("GET", "/firms/{uscc}/apply"): roles(O, own=(F,)),
    ("POST", "/firms/{uscc}/applications"): roles(O, own=(F,)),
    ("GET", "/applications/{application_id}"): roles(O, R, A, own=(F,)),
    ("POST", "/applications/{application_id}/evidence"): roles(O, own=(F,)),
    ("POST", "/applications/{application_id}/withdraw"): roles(O, own=(F,)),
    # --- pages: officer
    ("POST", "/applications/{application_id}/check"): roles(O),
    ("POST", "/applications/{application_id}/decide"): roles(O),
    ("POST", "/applications/{application_id}/grant"): roles(O),
    ("POST", "/applications/{application_id}/pay"): roles(O),
    ("POST", "/applications/{application_id}/clawback"): roles(O),
    ("POST", "/applications/{application_id}/score"): roles(O),
    ("POST", "/applications/{application_id}/move"): roles(O),
    ("POST", "/applications/{application_id}/miss-milestone"): roles(O),
    ("POST", "/applications/{application_id}/recover"): roles(O),
    ("POST", "/applications/{application_id}/reverse"): roles(O),
    ("POST", "/applications/{application_id}/confirm"): roles(O),
    ("GET", "/officer/approvals"): roles(O),
    ("POST", "/officer/approvals/{approval_id}/confirm"): roles(O),
    ("POST", "/officer/approvals/{approval_id}/approve"): roles(O),
    ("POST", "/officer/approvals/{approval_id}/reject"): roles(O),
    ("POST", "/officer/calls/{call_id}/decide"): roles(O),
    ("POST", "/officer/calls/{call_id}/confirm"): roles(O),
    ("GET", "/officer"): roles(O),
    ("GET", "/officer/programmes"): roles(O, D),
    ("POST", "/officer/programmes/validate"): roles(O, D),
    ("POST", "/officer/programmes/load"): roles(D),  # as the API's load: an admin's bootstrap
    ("GET", "/officer/programmes/drafts/new"): roles(O),
    ("POST", "/officer/programmes/check"): roles(O),
    ("POST", "/officer/programmes/drafts"): roles(O),
    ("GET", "/officer/programmes/drafts/{draft_id}"): roles(O),
    ("POST", "/officer/programmes/drafts/{draft_id}"): roles(O),
    ("POST", "/officer/programmes/drafts/{draft_id}/test"): roles(O),
    ("POST", "/officer/programmes/drafts/{draft_id}/case"): roles(O),
    ("POST", "/officer/programmes/drafts/{draft_id}/cost"): roles(O),
    ("POST", "/officer/programmes/drafts/{draft_id}/parameter"): roles(O),
    ("POST", "/officer/programmes/drafts/{draft_id}/submit"): roles(O),
    ("POST", "/officer/programmes/drafts/{draft_id}/publish"): roles(O),
    ("POST", "/officer/programmes/drafts/{draft_id}/reject"): roles(O),
    ("POST", "/officer/programmes/withdraw"): roles(O),
    ("GET", "/officer/calls"): roles(O),
    ("POST", "/officer/calls"): roles(O),
    ("GET", "/officer/applications"): roles(O, R),
    ("GET", "/officer/pools"): roles(O),
    ("POST", "/officer/pools"): roles(O),
    ("GET", "/officer/matching"): roles(O),
    ("POST", "/officer/matching"): roles(O),
    ("GET", "/officer/matching/{job_id}"): roles(O),
    ("GET", "/officer/jobs/{job_id}"): roles(O),
    ("GET", "/officer/sandbox"): roles(O),
    ("POST", "/officer/sandbox"): roles(O),
    ("GET", "/officer/sandbox/{simulation_id}"): roles(O),
    ("GET", "/officer/selection"): roles(O),
    ("GET", "/officer/selection/{call_id}"): roles(O),
    ("POST", "/officer/selection/{call_id}/call-file"): roles(O),
    ("POST", "/officer/selection/{call_id}/check"): roles(O),
    ("POST", "/officer/selection/{call_id}/assign"): roles(O),
    ("POST", "/officer/selection/{call_id}/normalise"): roles(O),
    ("POST", "/officer/selection/{call_id}/run"): roles(O),
    ("POST", "/officer/designations/{application_id}/end"): roles(O),
    ("POST", "/officer/reviewers"): roles(O),
    ("POST", "/officer/selection/{call_id}/reassign"): roles(O),
    ("POST", "/officer/selection/{call_id}/confirm"): roles(O),
    ("POST", "/officer/designations/{application_id}/confirm-end"): roles(O),
    ("GET", "/officer/selection/{call_id}/certificates"): roles(O, A),
    ("POST", "/officer/certificates/{serial}/revoke"): roles(O),
    ("GET", "/firms/{uscc}/certificates/{serial}"): roles(O, A, own=(F,)),
    # --- pages: reviewer
    ("GET", "/review"): roles(R, O),
    ("GET", "/review/{application_id}"): roles(R),
    ("POST", "/review/{application_id}/declare"): roles(R),
    ("POST", "/review/{application_id}/score"): roles(R),
    # --- pages: auditor, admin
    ("GET", "/audit"): roles(A, O),
    ("GET", "/audit/verify"): roles(A, O),
    ("GET", "/audit/pools"): roles(A, O),
    ("GET", "/audit/pools/{pool_id}"): roles(A, O),
    ("GET", "/admin/users"): roles(D),
    ("POST", "/admin/users"): roles(D),
    ("POST", "/admin/users/{username}/password"): roles(D),
    ("POST", "/admin/users/{username}/unlock"): roles(D),
    ("POST", "/admin/users/{username}/disable"): roles(D),
    ("POST", "/admin/users/{username}/enable"): roles(D),
    ("POST", "/admin/users/{username}/role"): roles(D),
}

#: Routes FastAPI itself adds (documentation), open to all.
FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
