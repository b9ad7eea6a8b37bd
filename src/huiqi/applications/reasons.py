"""The reasons the system writes into an application's history, as a code and its data (issue 14).

A reason is stored two ways at once: its code and data (``application_events.reason_code`` and
``reason_args``), from which a page renders it in its reader's language (``huiqi.app.reasons``), and its
English words (``application_events.reason``), which the audit chain hashes exactly as before codes existed.
A person's words (an officer's reason) are the code ``text``: shown as typed, in every language.

Data is JSON: figures as text (``"50000.00"``), a nested reason as ``{"code": ..., "args": ...}``, a list of
condition ids as a list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A person's own words, shown as typed.
TEXT = "text"
#: Reasons the system wrote one after the other (``"a; b"``): ``{"parts": [reason, ...]}``.
AND = "and"
#: The application was found not eligible: ``{"programme", "version", "failed": [condition, ...]}``, each
#: condition ``{"id", "label": {lang: text}, "gap": {lang: [text, ...]}}`` (from the verdict's explanation).
NOT_ELIGIBLE = "not_eligible"
#: The designated firm's grant programme did not qualify it, or the call has none.
NO_GRANT_IN_CALL = "no_grant_in_call"

#: Each code's English, exactly as the system wrote it before codes existed (what the audit chain hashes).
ENGLISH: dict[str, str] = {
    "created": "created",
    "submitted": "submitted by the firm",
    "eligible_under": "eligible under %(programme)s v%(version)s: %(amount)s yuan",
    "not_eligible_under": "not eligible under %(programme)s v%(version)s: %(amount)s yuan",
    NOT_ELIGIBLE: "not eligible: see the verdict's explanation",
    "sent_to_review": "eligible; sent to review",
    "pool_short": "pool %(pool)s cannot cover %(amount)s yuan now",
    "grant": "grant",
    "awarded": "award %(award)s of %(amount)s yuan",
    "tranche_paid": "tranche %(seq)s paid",
    "all_paid": "all tranches paid",
    "milestone_missed": "milestone %(seq)s missed: %(reason)s",
    "designated_grant": "designated: %(why)s; start-up grant of %(amount)s yuan reserved",
    "designated_no_grant": "designated: %(why)s; no start-up grant (%(unmet)s)",
    NO_GRANT_IN_CALL: "the call has no grant",
    "approved_by_review": "approved by review",
    "ranked": "ranked %(rank)s",
    "pro_rata": "pro rata at %(ratio)s",
    "money_released": "money released to waitlist",
    "reserved": "%(reason)s; %(amount)s yuan reserved",
    "on_reserve_list": "on the %(sector)s reserve list, position %(seq)s",
    "selected": "selected: rank %(sector_rank)s in %(sector)s (rank %(rank)s overall), score %(score)s",
    "no_quota": "the call has no quota for sector %(sector)s",
    "below_min_score": "score %(score)s is below the call's minimum %(minimum)s",
    "sector_cutoff": (
        "the %(sector)s quota of %(quota)s was full; the cut-off score in %(sector)s was %(cutoff)s, "
        "this application scored %(score)s"
    ),
    "total_cutoff": (
        "the total quota of %(quota)s was full; the overall cut-off score was %(cutoff)s, "
        "this application scored %(score)s"
    ),
    "district_quota": "the quota of %(quota)s for district %(district)s was full",
    "budget": "the budget ran out: its grant of %(amount)s yuan did not fit the %(remaining)s yuan left",
    "combination": (
        "not in the highest-scoring combination that fits the quotas and the budget "
        "(taking it would lower the total score)"
    ),
    "promoted": (
        "promoted from position %(seq)s of the %(sector)s reserve list (rank %(sector_rank)s in the "
        "sector, score %(score)s) to replace %(name)s (%(uscc)s), whose designation ended: %(why)s"
    ),
    "withdrew": "withdrew: %(reason)s",
    "lost_condition": "lost a condition: %(reason)s",
    TEXT: "%(text)s",
}
#: Why a designation ended (``workflows.designation.end_and_replace``'s ``cause``), by code.
CAUSES = {"withdrew": "withdrew", "lost a condition": "lost_condition"}


def is_reason(value: object) -> bool:
    """Whether a stored argument is itself a reason (nested), so it is rendered and not shown as data."""
    return isinstance(value, Mapping) and isinstance(value.get("code"), str) and "args" in value


@dataclass(frozen=True)
class Reason:
    """Why an application moved: a code and its data, so each reader gets the words of their language."""

    code: str
    args: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, code: str, **args: Any) -> Reason:
        """A reason of a known code (refused at once when the code is not one, not when it is shown)."""
        if code not in ENGLISH and code != AND:
            raise ValueError(f"unknown reason code {code!r}")
        return cls(code, {k: _json(v) for k, v in args.items()})

    @classmethod
    def typed(cls, text: str) -> Reason:
        """A person's words, kept and shown as typed."""
        return cls(TEXT, {"text": text})

    @classmethod
    def joined(cls, *parts: Reason) -> Reason:
        """Reasons the system writes one after the other (``"a; b"``)."""
        return cls(AND, {"parts": [p.to_json() for p in parts]})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reason:
        """A reason as stored (``to_json``)."""
        return cls(str(data["code"]), dict(data.get("args") or {}))

    def to_json(self) -> dict[str, Any]:
        """The JSON kept in ``reason_args`` of a nesting reason, or in a selection decision."""
        return {"code": self.code, "args": dict(self.args)}

    @property
    def text(self) -> str:
        """The English words, exactly as written before codes existed (the audit chain hashes them)."""
        return english(self.code, self.args)


def _json(value: Any) -> Any:
    """An argument as JSON keeps it: a reason nested, a figure (Decimal, int) as text, lists and mappings
    as such."""
    if isinstance(value, Reason):
        return value.to_json()
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_json(v) for v in value]
    return str(value)


def english(code: str, args: Mapping[str, Any]) -> str:
    """A stored code and data in the system's English (``Reason.text``)."""
    if code == AND:
        return "; ".join(english(str(p["code"]), p.get("args") or {}) for p in args.get("parts", []))
    values: dict[str, str] = {}
    for name, value in args.items():
        if is_reason(value):
            values[name] = english(str(value["code"]), value["args"] or {})
        elif isinstance(value, list):
            values[name] = ", ".join(str(v) for v in value)
        else:
            values[name] = str(value)
    template = ENGLISH.get(code)
    if template is None:
        return values.get("text", code)
    return template % Values(values)


class Values(dict[str, str]):
    """Formatting values where a placeholder the data lacks reads as its name (a stored row never fails)."""

    def __missing__(self, key: str) -> str:
        return key
