"""A rough numpy reading of the Shanghai criteria over a synthetic firms table (for plausibility tests only).

The real rules live in the programme files; this only checks that the generator gives them firms to find.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STRATEGIC = [
    "integrated_circuits",
    "biomedicine",
    "artificial_intelligence",
    "digital_economy",
    "other_strategic",
]


def _f(t: pa.Table, col: str) -> Any:
    return pc.fill_null(t[col], 0).cast(pa.float64()).to_numpy()


def designation_mask(t: pa.Table, year: int) -> Any:
    """Firms meeting the designation criteria with ``year`` as the reference year (all of them)."""
    sector = pc.is_in(t["sector"], pa.array(STRATEGIC)).to_numpy(zero_copy_only=False)
    shanghai = pc.equal(t["registration_city"], "Shanghai").to_numpy(zero_copy_only=False)
    size = (_f(t, "total_assets") >= 2e8) | (_f(t, "market_value") >= 2e9)
    sales = _f(t, f"sales_{year}")
    base = _f(t, f"sales_{year - 3}")
    growth = (sales > 1e8) | ((base > 0) & (sales >= base * 1.728))
    hq = (
        t["hq_functions_rd"].to_numpy(zero_copy_only=False)
        & t["hq_functions_sales"].to_numpy(zero_copy_only=False)
        & t["hq_functions_settlement"].to_numpy(zero_copy_only=False)
        & (t["branches_outside_city"].to_numpy() >= 2)
    )
    high = pc.is_valid(t["service_subsector"]).to_numpy(zero_copy_only=False)
    rd = _f(t, f"rd_spending_{year}")
    rd_cn = _f(t, f"rd_spending_in_china_{year}")
    rd_ok = (
        ((rd >= sales * np.where(high, 0.10, 0.05)) & (sales > 0) | (rd > 5e7))
        & (rd_cn >= 0.6 * rd)
        & (rd > 0)
    )
    emp = t["employees"].to_numpy()
    staff = t["rd_staff"].to_numpy()
    staff_ok = (staff >= emp * np.where(high, 0.2, 0.1)) | (staff >= 100)
    ip = t["ip_invention_patents"].to_numpy() + t["ip_ic_layout_designs"].to_numpy()
    ip = ip + t["ip_software_copyrights"].to_numpy()
    ip_ok = (ip >= 15) | t["innovative_drug_or_device"].to_numpy(zero_copy_only=False)
    return sector & shanghai & size & growth & hq & rd_ok & staff_ok & ip_ok


def startup_mask(t: pa.Table, year: int) -> Any:
    """Designation plus HQ registered or moved in on/after 2022-01-01 with paid-in capital above 100 M."""
    day = np.datetime64("2022-01-01")
    reg = t["registration_date"].to_numpy(zero_copy_only=False)
    move = pc.fill_null(t["hq_move_in_date"], pa.scalar(0, pa.int32()).cast(pa.date32()))
    arrived = (reg >= day) | (move.to_numpy(zero_copy_only=False) >= day)
    return designation_mask(t, year) & arrived & (_f(t, "paid_in_capital") > 1e8)
