"""The policy calculator for the web: the API (``api/programmes.py``, with its lean route) and the public
page answer with the same use case, ``huiqi.app.programmes.check_firm``, and the same read model
(``Calculation``: JSON-ready, serialised once by ``to_json_bytes``; the pages render the same data). The
scope (the firm's city in force on the date, every city's, or the ids asked) is the use case's, see
``huiqi.app.programmes``."""

from __future__ import annotations

import datetime as dt

from huiqi.app.programmes import (
    Calculation,
    Scope,
    calculate,
    check_firm,
    example_firms,
    in_force,
    pack_of,
    parse_firm,
    scope_of,
    to_json_bytes,
    today,
    warm_up,
)

__all__ = [
    "Calculation",
    "Scope",
    "calculate",
    "check_firm",
    "example_firms",
    "in_force",
    "pack_of",
    "parse_firm",
    "scope_of",
    "to_json_bytes",
    "today_in_shanghai",
    "warm_up",
]


def today_in_shanghai() -> dt.date:
    """Today in Shanghai, the date a form or a request without one answers for."""
    return today()
