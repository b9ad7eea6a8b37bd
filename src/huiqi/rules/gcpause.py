"""Python's cyclic garbage collector held off while the engine builds a pack's query.

Loading programmes, compiling them with Ibis and writing the SQL make hundreds of thousands of small objects
that live until the query is built; the collector walked them again and again (about a tenth of the
single-threaded second before DuckDB starts at 3 M firms). Reference counting still frees what it can; the
collector runs as usual once the outermost build has finished. Builds may overlap on several threads (the
web's background jobs): the collector is turned back on when the last of them ends, and only if it was on
when the first began.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class _Builds:
    """Builds under way, and whether the first of them turned the collector off."""

    lock = threading.Lock()
    depth = 0
    turned_off = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside (nested or on other threads too); restored after the outermost."""
    with _Builds.lock:
        if _Builds.depth == 0:
            _Builds.turned_off = gc.isenabled()
            gc.disable()
        _Builds.depth += 1
    try:
        yield
    finally:
        with _Builds.lock:
            _Builds.depth -= 1
            if _Builds.depth == 0 and _Builds.turned_off:
                _Builds.turned_off = False
                gc.enable()


def gc_paused(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` run under ``collector_paused``: for the engine's builders of many short-lived objects."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with collector_paused():
            return func(*args, **kwargs)

    return wrapper
