"""The eligibility check of an application: the rules engine run on the profile snapshot the firm submitted,
with the programme version the call runs, on the day the application was submitted (Shanghai time).

Shared by the web layer and the CLI, so it lives here and not in either of them."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

from huiqi.applications.models import Application, Call, EligibilityVerdict
from huiqi.firms import firm_from_data
from huiqi.rules.evaluator import evaluate
from huiqi.rules.explain import explain
from huiqi.rules.programme import Programme
from huiqi.rules.versions import Versions
from huiqi.workflows.errors import ProgrammeNotLoaded

SHANGHAI = ZoneInfo("Asia/Shanghai")


def engine_verdict(programmes: Mapping[str, Programme], app: Application, call: Call) -> EligibilityVerdict:
    programme = _call_version(programmes, call)
    firm = firm_from_data(app.firm_snapshot, source=f"snapshot of application {app.id}")
    on = app.created_at.astimezone(SHANGHAI).date()
    pinned = programmes.pinned(programme, on) if isinstance(programmes, Versions) else programmes
    (result,) = evaluate(pinned, firm, on, [programme.id])
    return EligibilityVerdict(
        programme_id=programme.id,
        programme_version=programme.version,
        eligible=result.eligible,
        amount=result.amount,
        explanation={"en": explain(result, "en"), "zh": explain(result, "zh")},
    )


def _call_version(programmes: Mapping[str, Programme], call: Call) -> Programme:
    """The version the call is pinned to, whatever version is in force today."""
    if call.programme_id not in programmes:
        raise ProgrammeNotLoaded(
            f"programme {call.programme_id} of call {call.id} is not loaded on this site"
        )
    if isinstance(programmes, Versions):
        found = [p for p in programmes.versions(call.programme_id) if p.version == call.programme_version]
        loaded = [p.version for p in programmes.versions(call.programme_id)]
    else:
        found = [p for p in (programmes[call.programme_id],) if p.version == call.programme_version]
        loaded = [programmes[call.programme_id].version]
    if not found:
        raise ProgrammeNotLoaded(
            f"call {call.id} runs {call.programme_id} version {call.programme_version}, which is not loaded "
            f"here (loaded: {', '.join(loaded)}); load that version's file"
        )
    return found[0]
