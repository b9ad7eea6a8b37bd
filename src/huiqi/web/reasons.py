"""History reasons in the page's language. A reason stored with its code and data (every one the system
has written since migration 0012) is rendered by ``huiqi.app.reasons``; the shapes below are for the rows
stored before, in English words only (as the audit chain keeps them).

Each shape the system wrote is a pattern here with a Babel msgid whose named placeholders keep the figures
and ids; ``"a; b"`` reasons are two known shapes joined; a part the system took from a person (an officer's
reason, a condition's label) is kept as typed, and text of no known shape (an officer's own reason) is shown
exactly as stored. Rows are not converted by the migration: these shapes read them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

from huiqi.app import reasons as codes
from huiqi.web.calculator import plain_gap
from huiqi.web.i18n import N_, gettext, language

#: An amount or a score as the system writes it (``50000.00``, ``87.5``, ``None`` when there was none).
NUM = r"(?:-?\d[\d,]*(?:\.\d+)?|None)"
#: Between two reasons the system wrote one after the other (``"a; b"``), by page language.
JOINS = {"zh": "；", "en": "; "}
#: Placeholders that are stored keys (``artificial_intelligence``): shown with their catalogue label.
LABELLED = frozenset({"sector", "district"})

#: (pattern matching the whole reason, msgid, placeholders that are reasons themselves), most specific first.
SHAPES: tuple[tuple[re.Pattern[str], str, frozenset[str]], ...] = tuple(
    (re.compile(pattern), msgid, frozenset(nested))
    for pattern, msgid, nested in (
        (r"created", N_("application created"), ()),
        (r"submitted by the firm", N_("submitted by the firm"), ()),
        (
            r"not eligible: see the verdict's explanation",
            N_("not eligible: see the verdict's explanation"),
            (),
        ),
        (r"eligible; sent to review", N_("eligible; sent to review"), ()),
        (
            rf"eligible under (?P<programme>\S+) v(?P<version>[^:\s]+): (?P<amount>{NUM}) yuan",
            N_("eligible under %(programme)s v%(version)s: %(amount)s yuan"),
            (),
        ),
        (
            rf"not eligible under (?P<programme>\S+) v(?P<version>[^:\s]+): (?P<amount>{NUM}) yuan",
            N_("not eligible under %(programme)s v%(version)s: %(amount)s yuan"),
            (),
        ),
        (
            rf"pool (?P<pool>.+) cannot cover (?P<amount>{NUM}) yuan now",
            N_("pool %(pool)s cannot cover %(amount)s yuan now"),
            (),
        ),
        (r"grant", N_("grant awarded"), ()),
        (rf"award (?P<award>\S+) of (?P<amount>{NUM}) yuan", N_("award %(award)s of %(amount)s yuan"), ()),
        (r"tranche (?P<seq>\d+) paid", N_("tranche %(seq)s paid"), ()),
        (r"all tranches paid", N_("all tranches paid"), ()),
        (r"milestone (?P<seq>\d+) missed: (?P<reason>.*)", N_("milestone %(seq)s missed: %(reason)s"), ()),
        (
            rf"designated: (?P<why>.+); start-up grant of (?P<amount>{NUM}) yuan reserved",
            N_("designated: %(why)s; start-up grant of %(amount)s yuan reserved"),
            ("why",),
        ),
        (
            r"designated: (?P<why>.+); no start-up grant \((?P<unmet>.*)\)",
            N_("designated: %(why)s; no start-up grant (%(unmet)s)"),
            ("why", "unmet"),
        ),
        (r"the call has no grant", N_("the call has no grant"), ()),
        (r"approved by review", N_("approved by review"), ()),
        (r"ranked (?P<rank>\d+)", N_("ranked %(rank)s"), ()),
        (r"pro rata at (?P<ratio>\d+(?:\.\d+)?)", N_("pro rata at %(ratio)s"), ()),
        (
            rf"(?P<reason>.+); (?P<amount>{NUM}) yuan reserved",
            N_("%(reason)s; %(amount)s yuan reserved"),
            ("reason",),
        ),
        (
            r"on the (?P<sector>\S+) reserve list, position (?P<seq>\d+)",
            N_("on the %(sector)s reserve list, position %(seq)s"),
            (),
        ),
        (
            rf"selected: rank (?P<sector_rank>\d+) in (?P<sector>\S+) \(rank (?P<rank>\d+) overall\), "
            rf"score (?P<score>{NUM})",
            N_("selected: rank %(sector_rank)s in %(sector)s (rank %(rank)s overall), score %(score)s"),
            (),
        ),
        (
            r"the call has no quota for sector (?P<sector>\S+)",
            N_("the call has no quota for sector %(sector)s"),
            (),
        ),
        (
            rf"score (?P<score>{NUM}) is below the call's minimum (?P<minimum>{NUM})",
            N_("score %(score)s is below the call's minimum %(minimum)s"),
            (),
        ),
        (
            rf"the (?P<sector>\S+) quota of (?P<quota>\d+) was full; the cut-off score in (?P=sector) was "
            rf"(?P<cutoff>{NUM}), this application scored (?P<score>{NUM})",
            N_(
                "the %(sector)s quota of %(quota)s was full; the cut-off score in %(sector)s was %(cutoff)s, "
                "this application scored %(score)s"
            ),
            (),
        ),
        (
            rf"the total quota of (?P<quota>\d+) was full; the overall cut-off score was (?P<cutoff>{NUM}), "
            rf"this application scored (?P<score>{NUM})",
            N_(
                "the total quota of %(quota)s was full; the overall cut-off score was %(cutoff)s, "
                "this application scored %(score)s"
            ),
            (),
        ),
        (
            r"the quota of (?P<quota>\d+) for district (?P<district>.+) was full",
            N_("the quota of %(quota)s for district %(district)s was full"),
            (),
        ),
        (
            rf"the budget ran out: its grant of (?P<amount>{NUM}) yuan did not fit the (?P<remaining>{NUM}) "
            r"yuan left",
            N_("the budget ran out: its grant of %(amount)s yuan did not fit the %(remaining)s yuan left"),
            (),
        ),
        (
            r"not in the highest-scoring combination that fits the quotas and the budget "
            r"\(taking it would lower the total score\)",
            N_(
                "not in the highest-scoring combination that fits the quotas and the budget "
                "(taking it would lower the total score)"
            ),
            (),
        ),
        (r"not eligible: see the verdict", N_("not eligible: see the verdict"), ()),
        (r"not eligible: (?P<failed>.+)", N_("not eligible: %(failed)s"), ()),
        (
            rf"promoted from position (?P<seq>\d+) of the (?P<sector>\S+) reserve list \(rank "
            rf"(?P<sector_rank>\d+) in the sector, score (?P<score>{NUM})\) to replace (?P<name>.+) "
            r"\((?P<uscc>[0-9A-Z]+)\), whose designation ended: (?P<why>.+)",
            N_(
                "promoted from position %(seq)s of the %(sector)s reserve list (rank %(sector_rank)s in the "
                "sector, score %(score)s) to replace %(name)s (%(uscc)s), whose designation ended: %(why)s"
            ),
            ("why",),
        ),
        (r"withdrew: (?P<reason>.*)", N_("withdrew: %(reason)s"), ()),
        (r"lost a condition: (?P<reason>.*)", N_("lost a condition: %(reason)s"), ()),
    )
)


def _known(text: str) -> str | None:
    """The reason in the page's language when the system wrote it (None when a person typed it)."""
    for pattern, msgid, nested in SHAPES:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        values = {}
        for name, value in m.groupdict().items():
            if name in nested:
                values[name] = reason_shown(value)
            elif name in LABELLED:
                values[name] = gettext(value)
            elif name in codes.AMOUNTS:
                values[name] = codes.grouped(value)
            else:
                values[name] = value
        return gettext(msgid) % values
    for cut in re.finditer("; ", text):
        first, then = _known(text[: cut.start()]), _known(text[cut.end() :])
        if first is not None and then is not None:
            return first + JOINS.get(language(), "; ") + then
    return None


@lru_cache(maxsize=4096)
def _shown(lang: str, text: str) -> str:
    """Cached per language: a history page repeats the same few reasons many times."""
    del lang  # part of the cache key only: ``gettext`` reads the request's language itself
    known = _known(text)
    return text if known is None else known


class Coded(Protocol):
    """A history event as the pages get it (``app.calls.EventView``): its words, and its code and data."""

    @property
    def reason(self) -> str: ...
    @property
    def reason_code(self) -> str | None: ...
    @property
    def reason_args(self) -> dict[str, Any] | None: ...


#: Messages the renderer (``huiqi.app.reasons``) shows that no shape above names, marked for extraction.
RENDERED = (
    N_("money released to waitlist"),
    N_("not eligible: %(conditions)s"),
    N_("%(label)s (gap: %(gap)s)"),
)


def reason_shown(value: str | Coded | Mapping[str, Any] | None) -> str:
    """A history reason in the page's language, so a zh reader never sees the system's English: an event
    with its code through the one renderer, words alone (older rows, other reasons) through the shapes;
    what an officer typed stays as typed. A selection decision's reason (``{"en", "zh", "history"}``) is
    rendered from its code too, or shown in the page's language as the run wrote it."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        coded = value.get("history")
        if isinstance(coded, Mapping) and "code" in coded:
            return codes.render(
                str(coded["code"]),
                coded.get("args") or {},
                lang=language(),
                gettext=gettext,
                gap=plain_gap,
                amount=codes.grouped,
            )
        return str(value.get(language()) or value.get("en") or "")
    if not isinstance(value, str):
        rendered = codes.shown(
            value.reason_code,
            value.reason_args,
            lang=language(),
            gettext=gettext,
            gap=plain_gap,
            amount=codes.grouped,
        )
        if rendered is not None:
            return rendered
        value = value.reason
    if not value:
        return ""
    return _shown(language(), value)
