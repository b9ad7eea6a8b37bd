"""The exact selection: maximise the total normalised score under quotas and a budget (scipy ``milp``, HiGHS).

Inputs are plain values, so the optimiser is testable without a database and benchmarkable alone.

Exactness and determinism:
- Scores enter as integers (the normalised score in units of 10^-4, the precision it is stored at), money as
  integer fen divided by the greatest common divisor of the amounts, so every coefficient is a small integer
  that a double holds exactly. HiGHS runs with ``mip_rel_gap = 0``; the solution is rounded and re-checked in
  Python integers (quotas, budget) before it is used.
- Tie-break, documented in docs/selection.md: candidates are ranked by score (higher first), then by the
  ``tiebreak`` tuple the caller gives (mean raw score higher first, then earlier submission, then id). A
  second solve keeps the optimal total score fixed and maximises the sum of rank priorities
  (``N - position``), so among selections with the same total score the one holding the better-ranked
  firms wins. HiGHS is deterministic for the same model, and the model is built in rank order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from huiqi.money import fen_to_yuan
from huiqi.selection.errors import Infeasible

SCORE_UNIT = Decimal("0.0001")


@dataclass(frozen=True)
class Candidate:
    key: str
    sector: str
    district: str | None
    score: Decimal
    #: Grant in fen this candidate costs if selected (0: designation without money).
    amount_fen: int
    #: Compared after the score, ascending; put "higher is better" figures in negated.
    tiebreak: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Limits:
    total: int
    sector: dict[str, int] = field(default_factory=dict)
    district: dict[str, int] = field(default_factory=dict)
    budget_fen: int | None = None
    min_score: Decimal = Decimal(0)


@dataclass(frozen=True)
class Reason:
    """Why a candidate is where it is: a code, words in both languages, and the figures."""

    code: str
    en: str
    zh: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "en": self.en, "zh": self.zh, "data": self.data}


@dataclass(frozen=True)
class Outcome:
    key: str
    selected: bool
    #: Position in the whole ranked field and within the sector (1-based).
    rank: int
    sector_rank: int
    reason: Reason
    #: Position on the sector's reserve list (1-based), if on it.
    reserve_seq: int | None = None


@dataclass(frozen=True)
class Selection:
    outcomes: dict[str, Outcome]
    order: list[str]
    total_score: Decimal
    spent_fen: int
    seconds: float
    status: str


def rank_order(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The documented order: score descending, then the tie-break tuple ascending, then the key."""
    return sorted(candidates, key=lambda c: (-c.score, c.tiebreak, c.key))


def _units(score: Decimal) -> int:
    return int((score / SCORE_UNIT).to_integral_value())


def _solve(
    c: np.ndarray,
    a: csr_array,
    upper: np.ndarray,
    lower: np.ndarray,
) -> np.ndarray:
    res = milp(
        c=c,
        constraints=[LinearConstraint(a, lower, upper)],
        integrality=np.ones(len(c)),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0, "presolve": True, "time_limit": 120.0},
    )
    if res.x is None:
        raise Infeasible(str(res.message))
    x: np.ndarray = np.rint(res.x).astype(np.int64)
    return x


def select(candidates: Sequence[Candidate], limits: Limits, *, reserve_per_sector: int = 0) -> Selection:
    """Choose at most the quotas, within the budget, maximising the total score; explain every candidate."""
    start = time.perf_counter()
    ranked = rank_order(candidates)
    rank = {c.key: i for i, c in enumerate(ranked, 1)}
    sector_rank: dict[str, int] = {}
    seen: dict[str, int] = {}
    for c in ranked:
        seen[c.sector] = seen.get(c.sector, 0) + 1
        sector_rank[c.key] = seen[c.sector]
    outcomes: dict[str, Outcome] = {}
    floor = max(limits.min_score, Decimal(0))
    pool: list[Candidate] = []
    for c in ranked:
        if limits.sector and c.sector not in limits.sector:
            outcomes[c.key] = Outcome(
                c.key,
                False,
                rank[c.key],
                sector_rank[c.key],
                Reason(
                    "no_quota",
                    f"the call has no quota for sector {c.sector}",
                    f"本次认定未设{c.sector}领域名额",
                    {"sector": c.sector},
                ),
            )
        elif c.score < limits.min_score or c.score <= 0:
            outcomes[c.key] = Outcome(
                c.key,
                False,
                rank[c.key],
                sector_rank[c.key],
                Reason(
                    "below_min_score",
                    f"score {c.score} is below the call's minimum {floor}",
                    f"评分{c.score}低于本次最低分{floor}",
                    {"score": str(c.score), "min_score": str(floor)},
                ),
            )
        else:
            pool.append(c)
    kept = _undominated(pool, limits)
    x = _optimise(kept, limits) if kept else np.zeros(0, dtype=np.int64)
    chosen = [c for c, v in zip(kept, x, strict=True) if v == 1]
    _check(chosen, limits)
    spent = sum(c.amount_fen for c in chosen)
    by_sector: dict[str, list[Candidate]] = {}
    for c in chosen:
        by_sector.setdefault(c.sector, []).append(c)
    by_district: dict[str, int] = {}
    for c in chosen:
        if c.district is not None:
            by_district[c.district] = by_district.get(c.district, 0) + 1
    chosen_keys = {c.key for c in chosen}
    reserve_left = dict.fromkeys({c.sector for c in pool}, reserve_per_sector)
    for c in pool:
        if c.key in chosen_keys:
            outcomes[c.key] = Outcome(
                c.key,
                True,
                rank[c.key],
                sector_rank[c.key],
                Reason(
                    "selected",
                    f"selected: rank {sector_rank[c.key]} in {c.sector} (rank {rank[c.key]} overall), "
                    f"score {c.score}",
                    f"入选：{c.sector}领域第{sector_rank[c.key]}名（总排名第{rank[c.key]}名），评分{c.score}",
                    {"score": str(c.score), "amount": str(fen_to_yuan(c.amount_fen))},
                ),
            )
            continue
        reason = _why_not(c, limits, by_sector, by_district, spent, rank)
        seq = None
        if reserve_left.get(c.sector, 0) > 0:
            seq = reserve_per_sector - reserve_left[c.sector] + 1
            reserve_left[c.sector] -= 1
        outcomes[c.key] = Outcome(c.key, False, rank[c.key], sector_rank[c.key], reason, seq)
    total = sum((c.score for c in chosen), Decimal(0))
    return Selection(
        outcomes=outcomes,
        order=[c.key for c in ranked],
        total_score=total,
        spent_fen=spent,
        seconds=time.perf_counter() - start,
        status="optimal",
    )


def _undominated(pool: Sequence[Candidate], limits: Limits) -> list[Candidate]:
    """Drop candidates that cannot be in an optimal selection, exactly.

    In a cell of candidates that meet the same constraints (one sector, one district that has a quota or
    "any other district"), at most ``cap`` = min(sector, district, total quota) can be chosen. A candidate
    with at least ``cap`` candidates of its cell ranked before it (score at least as high) that cost no more
    can always be swapped for one of them that was not chosen: the quotas are unchanged, the budget is not
    exceeded and the score does not fall. It is never needed, so the solver does not see it. ``pool`` is in
    rank order.
    """
    seen: dict[tuple[str, str | None], dict[int, int]] = {}
    kept: list[Candidate] = []
    for c in pool:
        district = c.district if c.district in limits.district else None
        cap = min(
            limits.total,
            limits.sector.get(c.sector, limits.total),
            limits.district[district] if district is not None else limits.total,
        )
        counts = seen.setdefault((c.sector, district), {})
        better = sum(k for amount, k in counts.items() if amount <= c.amount_fen)
        if better < cap:
            kept.append(c)
        counts[c.amount_fen] = counts.get(c.amount_fen, 0) + 1
    return kept


def _optimise(pool: Sequence[Candidate], limits: Limits) -> np.ndarray:
    """Two exact solves: the best total score, then the best-ranked selection with that total."""
    n = len(pool)
    rows: list[np.ndarray] = []
    upper: list[float] = []
    cols = np.arange(n)
    for sector, quota in sorted(limits.sector.items()):
        mask = np.array([c.sector == sector for c in pool])
        if mask.any():
            rows.append(mask.astype(float))
            upper.append(quota)
    for district, quota in sorted(limits.district.items()):
        mask = np.array([c.district == district for c in pool])
        if mask.any():
            rows.append(mask.astype(float))
            upper.append(quota)
    rows.append(np.ones(n))
    upper.append(limits.total)
    if limits.budget_fen is not None:
        amounts = [c.amount_fen for c in pool]
        if any(amounts):
            g = math.gcd(*[a for a in amounts if a])
            rows.append(np.array([a // g for a in amounts], dtype=float))
            upper.append(limits.budget_fen // g)
    weights = np.array([_units(c.score) for c in pool], dtype=float)
    a = csr_array(np.vstack(rows))
    ub = np.array(upper, dtype=float)
    lb = np.full(len(upper), -np.inf)
    x1 = _solve(-weights, a, ub, lb)
    best = int(np.dot(weights.astype(np.int64), x1))
    # second solve: same total score, better-ranked firms first
    priority = (n - cols).astype(float)
    a2 = csr_array(np.vstack([*rows, weights]))
    x2 = _solve(-priority, a2, np.append(ub, np.inf), np.append(lb, best - 0.5))
    if int(np.dot(weights.astype(np.int64), x2)) != best:  # pragma: no cover - solver safety net
        return x1
    return x2


def _check(chosen: Sequence[Candidate], limits: Limits) -> None:
    """Re-check the rounded solution in exact integers; the solver's tolerances never decide."""
    if len(chosen) > limits.total:
        raise Infeasible(f"{len(chosen)} selected, above the total {limits.total}")
    for name, quotas, attr in (
        ("sector", limits.sector, "sector"),
        ("district", limits.district, "district"),
    ):
        for key, quota in quotas.items():
            got = sum(1 for c in chosen if getattr(c, attr) == key)
            if got > quota:
                raise Infeasible(f"{got} selected in {name} {key}, above its quota {quota}")
    if limits.budget_fen is not None:
        spent = sum(c.amount_fen for c in chosen)
        if spent > limits.budget_fen:
            raise Infeasible(f"{spent} fen spent, above the budget {limits.budget_fen} fen")


def _why_not(
    c: Candidate,
    limits: Limits,
    by_sector: dict[str, list[Candidate]],
    by_district: dict[str, int],
    spent: int,
    rank: dict[str, int],
) -> Reason:
    """The binding reason: which limit would break if this candidate were added (or swapped in)."""
    mine = by_sector.get(c.sector, [])
    quota = limits.sector.get(c.sector)
    lowest = min(mine, key=lambda o: (o.score, -rank[o.key])) if mine else None
    below_all = lowest is not None and rank[c.key] > rank[lowest.key]
    if quota is not None and len(mine) >= quota and below_all and lowest is not None:
        return Reason(
            "sector_cutoff",
            f"the {c.sector} quota of {quota} was full; the cut-off score in {c.sector} was {lowest.score}, "
            f"this application scored {c.score}",
            f"{c.sector}领域名额{quota}个已满；该领域入选最低分{lowest.score}，本申请评分{c.score}",
            {"quota": quota, "cutoff": str(lowest.score), "score": str(c.score)},
        )
    n_total = sum(len(v) for v in by_sector.values())
    if n_total >= limits.total:
        all_chosen = [o for v in by_sector.values() for o in v]
        cut = min(all_chosen, key=lambda o: (o.score, -rank[o.key]))
        if rank[c.key] > rank[cut.key]:
            return Reason(
                "total_cutoff",
                f"the total quota of {limits.total} was full; the overall cut-off score was {cut.score}, "
                f"this application scored {c.score}",
                f"总名额{limits.total}个已满；入选最低分{cut.score}，本申请评分{c.score}",
                {"quota": limits.total, "cutoff": str(cut.score), "score": str(c.score)},
            )
    if c.district is not None and c.district in limits.district:
        dq = limits.district[c.district]
        if by_district.get(c.district, 0) >= dq:
            return Reason(
                "district_quota",
                f"the quota of {dq} for district {c.district} was full",
                f"{c.district}区名额{dq}个已满",
                {"district": c.district, "quota": dq},
            )
    if limits.budget_fen is not None and c.amount_fen:
        remaining = limits.budget_fen - spent
        freed = lowest.amount_fen if lowest is not None and quota is not None and len(mine) >= quota else 0
        if c.amount_fen > remaining + freed:
            return Reason(
                "budget",
                f"the budget ran out: its grant of {fen_to_yuan(c.amount_fen)} yuan did not fit the "
                f"{fen_to_yuan(remaining + freed)} yuan left",
                f"预算不足：其开办奖励{fen_to_yuan(c.amount_fen)}元超出剩余预算"
                f"{fen_to_yuan(remaining + freed)}元",
                {"amount": str(fen_to_yuan(c.amount_fen)), "remaining": str(fen_to_yuan(remaining + freed))},
            )
    return Reason(
        "combination",
        "not in the highest-scoring combination that fits the quotas and the budget "
        "(taking it would lower the total score)",
        "不在满足名额和预算约束的最高总分组合中（选入将降低总分）",
        {"score": str(c.score)},
    )
