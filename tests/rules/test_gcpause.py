"""The engine's builders hold off Python's cyclic collector and give it back as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiqi.rules.gcpause import collector_paused, gc_paused


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_off_inside_and_on_after() -> None:
    @gc_paused
    def build() -> bool:
        return gc.isenabled()

    assert build() is False
    assert gc.isenabled()


def test_left_off_when_it_was_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_on_again_after_an_error() -> None:
    with pytest.raises(ZeroDivisionError), collector_paused():
        _ = 1 / 0
    assert gc.isenabled()


@given(st.lists(st.booleans(), min_size=1, max_size=12))
def test_overlapping_builds_give_it_back_when_the_last_ends(order: list[bool]) -> None:
    """Builds on threads that begin and end in any interleaving (True: a new build begins, False: the
    earliest running one ends): off while any runs, on once none does."""
    gc.enable()
    running: list[tuple[threading.Event, threading.Event, threading.Thread]] = []

    def build(entered: threading.Event, leave: threading.Event) -> None:
        with collector_paused():
            entered.set()
            leave.wait(5)

    for begin in order:
        if begin or not running:
            entered, leave = threading.Event(), threading.Event()
            thread = threading.Thread(target=build, args=(entered, leave))
            thread.start()
            entered.wait(5)
            running.append((entered, leave, thread))
        else:
            _, leave, thread = running.pop(0)
            leave.set()
            thread.join(5)
        assert gc.isenabled() is not bool(running)
    for _, leave, thread in running:
        leave.set()
        thread.join(5)
    assert gc.isenabled()
