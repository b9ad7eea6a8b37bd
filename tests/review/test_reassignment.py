"""Who takes over after a declared conflict (huiqi.app.review): when reviewers act through accounts, only a
reviewer who can log in; a panel run wholly from the CLI (no reviewer has an account) is not limited; and
the officer's override refuses a reviewer without an account or already on the application."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.selection import factory

from huiqi.accounts import service as accounts
from huiqi.app import review, selection
from huiqi.app.errors import ReviewError
from huiqi.app.store import Store
from huiqi.rules.loader import load_pack

ON = dt.date(2023, 11, 1)
IC = factory.SECTORS[0]


def call_with_panel(tmp_path: Path, with_accounts: set[str]) -> tuple[Store, str, str]:
    """Twelve applicants; integrated circuits reviewed by ra, rb, rc, rd (k = 3 in the call file); the others
    by three reviewers each; accounts for ``with_accounts``. Returns the store, an IC application whose
    reviewers include ra, and the reviewer left over for it."""
    tmp_path.mkdir()
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")

    def seed(s: object) -> None:
        factory.open_hq_call(s, "hq-2023-1", factory.firms(12))
        for u in sorted(with_accounts):
            accounts.create_user(session=s, username=u, password="x" * 16, role="reviewer", actor="t")

    store.write(seed)
    selection.save_call_file(store, call_id="hq-2023-1", text=factory.CALL_FILE, actor="t")
    selection.check_applications(
        store, call_id="hq-2023-1", programmes=load_pack("shanghai"), on=ON, actor="t"
    )
    panel = {IC: ["ra", "rb", "rc", "rd"]} | {
        s: [f"{s[:3]}{j}" for j in range(3)] for s in factory.SECTORS[1:]
    }
    for sector, ids in panel.items():
        for rid in ids:
            review.add_reviewer(store, reviewer_id=rid, name=rid, fields=[sector], actor="t")
    review.assign_reviewers(store, call_id="hq-2023-1", on=ON, actor="t")
    on_app: dict[str, set[str]] = {}
    for x in review.list_assignments(store, call_id="hq-2023-1"):
        on_app.setdefault(x.application_id, set()).add(x.reviewer_id)
    app = min(a for a, who in on_app.items() if "ra" in who and "rd" not in who)
    return store, app, "rd"


def test_the_reviewer_left_takes_it_only_with_an_account(tmp_path: Path) -> None:
    # accounts in use (ra has one), the reviewer left over has none: nobody takes it, the officer must
    store, app, left = call_with_panel(tmp_path / "1", {"ra"})
    d = review.declare(store, application_id=app, reviewer_id="ra", conflict="my brother", on=ON, actor="t")
    assert d.reassigned_to is None
    stalled = [w for w in review.review_progress(store, call_id="hq-2023-1", on=ON).waiting if w.stalled]
    assert any(
        w.application_id == app and w.reviewer_id == "ra" and w.status == "conflicted" for w in stalled
    )
    assert any(w.reviewer_id == left and not w.has_account for w in stalled)
    with pytest.raises(ReviewError, match="no active reviewer account"):
        review.reassign(
            store, application_id=app, from_reviewer="ra", to_reviewer=left, reason="x", on=ON, actor="t"
        )
    store.close()

    # the reviewer left over has an account: the conflict goes to them at once
    store, app2, _ = call_with_panel(tmp_path / "2", {"ra", left})
    d = review.declare(store, application_id=app2, reviewer_id="ra", conflict="my brother", on=ON, actor="t")
    assert d.reassigned_to == left
    store.close()

    # no reviewer has an account (a panel run from the CLI): the conflict goes to the reviewer left over
    store, app3, _ = call_with_panel(tmp_path / "3", set())
    d = review.declare(store, application_id=app3, reviewer_id="ra", conflict="my brother", on=ON, actor="t")
    assert d.reassigned_to == left
    assert not [w for w in review.review_progress(store, call_id="hq-2023-1", on=ON).waiting if w.stalled]
    # a reviewer already on the application cannot be given it again
    other = next(
        x.reviewer_id
        for x in review.list_assignments(store, call_id="hq-2023-1")
        if x.application_id == app3 and x.reviewer_id not in ("ra", left)
    )
    with pytest.raises(ReviewError, match="already on application"):
        review.reassign(
            store, application_id=app3, from_reviewer=left, to_reviewer=other, reason="x", on=ON, actor="t"
        )
    store.close()
