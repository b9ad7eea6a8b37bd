"""A draft's number is bounded in the API's schema as in the database (1 .. 2**31-1, PostgreSQL's INTEGER):
the OpenAPI document states the bound on every draft route's path, a number outside it is a 422 naming
``draft_id``, and a number inside it that no draft has is a 404 (review of issue 15's draft routes)."""

from __future__ import annotations

import pytest

from huiqi.app.lifecycle import DRAFT_ID_MAX

from .conftest import Web

LARGEST = 2**31 - 1


def test_every_draft_route_states_the_bound(sqlite_web: Web) -> None:
    spec = sqlite_web.client().get("/openapi.json").json()
    routes = {p: ops for p, ops in spec["paths"].items() if "{draft_id}" in p}
    assert len(routes) >= 6, list(routes)
    for path, ops in routes.items():
        for method, op in ops.items():
            (param,) = [p for p in op["parameters"] if p["name"] == "draft_id"]
            schema = param["schema"]
            assert (schema["type"], schema["minimum"], schema["maximum"]) == ("integer", 1, LARGEST), (
                method,
                path,
            )
    assert DRAFT_ID_MAX == LARGEST


@pytest.mark.parametrize("number", ["0", "-1", str(LARGEST + 1), str(2**63)])
def test_a_number_outside_the_bound_is_refused_naming_it(sqlite_web: Web, number: str) -> None:
    officer = sqlite_web.client("officer")
    for r in (
        officer.get(f"/api/v1/programme-drafts/{number}"),
        officer.post(f"/api/v1/programme-drafts/{number}/submit"),
    ):
        assert r.status_code == 422, r.text
        assert "draft_id" in r.text


def test_a_number_inside_the_bound_that_no_draft_has_is_not_found(sqlite_web: Web) -> None:
    officer = sqlite_web.client("officer")
    for number in (1, LARGEST):
        assert officer.get(f"/api/v1/programme-drafts/{number}").status_code == 404
