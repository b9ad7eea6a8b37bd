"""A synthetic firm register: deterministic, vectorised, and realistic enough to exercise every programme.

Tests, benchmarks and the demo need registers of any size (up to tens of millions of firms) without real
data. Everything is drawn with numpy in chunks and turned into Arrow buffers directly, so no Python object is
made per firm: 3 million firms take seconds, not minutes. Money is drawn as integer fen and written into the
decimal128 buffers as-is, so amounts are exact by construction (no float ever becomes a Decimal).

Most firms are ordinary small firms. A correlated "champion" segment of strategic-sector firms (about 4% of
them) is large, research-heavy and organised as a headquarters, so that each Shanghai programme has a few
hundred to a few thousand qualifying firms per million; each champion still misses a criterion now and then,
so that near misses exist as well. AI-sector firms carry most of the compute, model and corpus contracts.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from huiqi.firms.profile import Firm, Sector
from huiqi.firms.table import CHILD_TABLES, MONEY, YEAR_MAPS, child_schema, firm_schema, year_column

Arr = npt.NDArray[Any]

#: Firms generated per chunk: bounds the memory of the temporaries; part of the output's definition.
CHUNK = 1 << 18

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)

#: The 16 districts: English name, administrative code (the USCC region part), registration weight,
#: typical office rent in yuan per m2 per day.
DISTRICTS: tuple[tuple[str, int, float, float], ...] = (
    ("Huangpu", 310101, 4.0, 10.0),
    ("Xuhui", 310104, 5.0, 8.5),
    ("Changning", 310105, 4.0, 8.0),
    ("Jing'an", 310106, 5.0, 10.0),
    ("Putuo", 310107, 4.0, 6.0),
    ("Hongkou", 310109, 3.0, 6.5),
    ("Yangpu", 310110, 4.0, 6.5),
    ("Minhang", 310112, 10.0, 4.5),
    ("Baoshan", 310113, 7.0, 3.5),
    ("Jiading", 310114, 8.0, 3.5),
    ("Pudong New Area", 310115, 20.0, 8.0),
    ("Jinshan", 310116, 4.0, 2.5),
    ("Songjiang", 310117, 8.0, 3.2),
    ("Qingpu", 310118, 6.0, 3.2),
    ("Fengxian", 310120, 7.0, 2.8),
    ("Chongming", 310151, 5.0, 2.2),
)

#: Registration cities: English, Chinese, region code of a typical district, weight among non-Shanghai firms.
CITIES: tuple[tuple[str, str, int, float], ...] = (
    ("Shanghai", "上海", 310000, 0.0),
    ("Hangzhou", "杭州", 330106, 20.0),
    ("Suzhou", "苏州", 320505, 20.0),
    ("Beijing", "北京", 110108, 15.0),
    ("Shenzhen", "深圳", 440305, 12.0),
    ("Nanjing", "南京", 320102, 10.0),
    ("Hefei", "合肥", 340104, 6.0),
    ("Wuxi", "无锡", 320214, 6.0),
    ("Ningbo", "宁波", 330212, 6.0),
    ("Guangzhou", "广州", 440106, 5.0),
)

SECTORS: tuple[Sector, ...] = tuple(Sector)
#: Sector shares: 20% in the five strategic sectors, the rest ordinary.
SECTOR_SHARES = (0.03, 0.035, 0.04, 0.055, 0.04, 0.15, 0.12, 0.26, 0.05, 0.05, 0.17)
#: Share of the strategic firms in the correlated big-firm ("champion") segment.
CHAMPION_SHARE = 0.04

# fmt: off
_SYLLABLES = [
    "华Hua", "信Xin", "德De", "瑞Rui", "盛Sheng", "泰Tai", "鼎Ding", "晨Chen", "星Xing", "海Hai",
    "宇Yu", "嘉Jia", "恒Heng", "源Yuan", "明Ming", "智Zhi", "微Wei", "芯Xin", "联Lian", "合He",
    "天Tian", "云Yun", "图Tu", "锐Rui", "博Bo", "远Yuan", "安An", "康Kang", "达Da", "通Tong",
    "润Run", "新Xin", "立Li", "诺Nuo", "启Qi", "创Chuang", "峰Feng", "科Ke", "汇Hui", "越Yue",
    "鸿Hong", "骏Jun", "晟Sheng", "弘Hong", "璟Jing", "澜Lan", "极Ji", "元Yuan", "方Fang", "正Zheng",
    "宏Hong", "景Jing", "卓Zhuo", "睿Rui", "蓝Lan", "青Qing", "易Yi", "凯Kai", "腾Teng", "朗Lang",
]
# fmt: on

#: Industry words by sector (Chinese, English), three variants each, in the order of ``SECTORS``.
_INDUSTRY = (
    (("微电子", "Microelectronics"), ("半导体", "Semiconductor"), ("集成电路", "Integrated Circuit")),
    (("生物医药", "Biopharma"), ("医疗科技", "Medical Technology"), ("生物科技", "Biotechnology")),
    (("智能科技", "Intelligent Technology"), ("人工智能", "Artificial Intelligence"), ("机器人", "Robotics")),
    (
        ("信息技术", "Information Technology"),
        ("网络科技", "Network Technology"),
        ("数据科技", "Data Technology"),
    ),
    (("新能源", "New Energy"), ("新材料", "New Materials"), ("航空科技", "Aerospace Technology")),
    (("机械", "Machinery"), ("精密制造", "Precision Manufacturing"), ("电子", "Electronics")),
    (("软件", "Software"), ("信息服务", "Information Services"), ("数字科技", "Digital Technology")),
    (("贸易", "Trading"), ("国际贸易", "International Trading"), ("商贸", "Commerce")),
    (
        ("投资管理", "Investment Management"),
        ("资产管理", "Asset Management"),
        ("融资租赁", "Financial Leasing"),
    ),
    (("置业", "Property"), ("房地产开发", "Real Estate Development"), ("物业管理", "Property Management")),
    (("企业管理咨询", "Management Consulting"), ("文化传媒", "Culture & Media"), ("餐饮管理", "Catering")),
)

CONTRACT_KINDS = ("compute_rental", "compute_purchase", "compute_selfbuild", "model_use", "corpus_purchase")
_KIND_SHARES = (0.35, 0.10, 0.05, 0.30, 0.20)
_COUNTERPARTIES = (
    ("临港智算中心有限公司", "上海云算科技有限公司", "华东超算服务有限公司", "星河算力（上海）有限公司"),
    ("上海浪潮服务器销售有限公司", "华东智能装备供应链有限公司", "申城算力设备有限公司"),
    ("上海建工智算工程有限公司", "临港数据中心建设有限公司"),
    (
        "深言大模型科技有限公司",
        "启明智能模型（上海）有限公司",
        "天衡人工智能有限公司",
        "书语云智能科技有限公司",
    ),
    ("申语数据科技有限公司", "海川语料服务有限公司", "明镜数据标注有限公司", "浦江语料交易服务有限公司"),
)
CREDIT_KINDS = ("administrative_penalty", "abnormal_operation", "serious_dishonesty")
DESIGNATION_CODES = ("high-tech", "shanghai.srdi", "shanghai.hq.designation")
INCENTIVE_PROGRAMMES = (
    ("shanghai.hq.startup-grant", None),
    ("shanghai.hq.operating-award", "tier1"),
    ("shanghai.sme.tech-innovation-fund", None),
)


def _day(year: int, month: int = 1, day: int = 1) -> int:
    return (dt.date(year, month, day) - dt.date(1970, 1, 1)).days


_AI_MEASURES = _day(2025, 7, 28)
_TODAY = _day(2026, 10, 31)


# --- Arrow builders: numpy buffers straight into arrays --------------------------------------------------


def _validity(valid: Arr | None) -> pa.Buffer | None:
    if valid is None or bool(valid.all()):
        return None
    return pa.array(np.ascontiguousarray(valid, dtype=bool)).buffers()[1]


def money_by_cast(fen: Arr, valid: Arr | None = None) -> pa.Array:
    """decimal128(18,2) from integer fen through Arrow's decimal cast and an exact multiplication by 0.01.

    Slower than ``money_array``; used on big-endian machines and by the tests as an independent check.
    """
    fen = np.ascontiguousarray(fen, dtype=np.int64)
    arr = pa.array(fen, mask=None if valid is None else ~np.asarray(valid, dtype=bool))
    scaled = pc.multiply(arr.cast(pa.decimal128(19, 0)), pa.scalar(Decimal("0.01"), pa.decimal128(3, 2)))
    return scaled.cast(MONEY)


def money_array(fen: Arr, valid: Arr | None = None) -> pa.Array:
    """decimal128(18,2) from integer fen, exact: the fen are the decimal's unscaled 128-bit integers."""
    fen = np.ascontiguousarray(fen, dtype=np.int64)
    if valid is not None:
        fen = np.where(valid, fen, 0)
    if fen.size and int(np.abs(fen).max()) >= 10**18:
        raise ValueError("amount out of range for decimal128(18,2)")
    if sys.byteorder != "little":  # pragma: no cover
        return money_by_cast(fen, valid)
    words = np.empty((fen.size, 2), dtype=np.int64)
    words[:, 0] = fen
    words[:, 1] = fen >> 63
    return pa.Array.from_buffers(MONEY, fen.size, [_validity(valid), pa.py_buffer(words)])


def _dates(days: Arr, valid: Arr | None = None) -> pa.Array:
    days = np.ascontiguousarray(days, dtype=np.int32)
    if valid is not None:
        days = np.where(valid, days, 0).astype(np.int32)
    return pa.Array.from_buffers(pa.date32(), days.size, [_validity(valid), pa.py_buffer(days)])


def _fixed_strings(chars: Arr) -> pa.Array:
    """A string array from an (n, width) matrix of ASCII codes."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _pick(labels: Sequence[str | None], idx: Arr) -> pa.Array:
    return pa.array(labels, pa.string()).take(pa.array(np.asarray(idx, dtype=np.int32)))


def _digits(values: Arr, width: int) -> Arr:
    """ASCII digits of non-negative integers, zero-padded, as an (n, width) matrix."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + ord("0")).astype(np.uint8)


# --- credit codes -----------------------------------------------------------------------------------------

_USCC_VALUE = np.full(128, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_VALUE[ord(_c)] = _i
_GB_VALUE = np.full(128, -1, dtype=np.int64)
for _i, _c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
    _GB_VALUE[ord(_c)] = _i
_ALPHA_CODES = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)


def uscc_codes(region: Arr, org_prefix: Arr, serial: Arr) -> Arr:
    """Credit codes as an (n, 18) ASCII matrix: ``91`` + region + organisation code + check character.

    ``org_prefix`` is an (n, 2) ASCII matrix, ``serial`` a unique integer below 31**6 that becomes the last
    six characters of the organisation code body (so distinct serials give distinct codes). The organisation
    code's ninth character is its GB 11714 check digit, the 18th the GB 32100 check character.
    """
    n = region.size
    out = np.empty((n, 18), dtype=np.uint8)
    out[:, 0] = ord("9")
    out[:, 1] = ord("1")
    out[:, 2:8] = _digits(region.astype(np.int64), 6)
    out[:, 8:10] = org_prefix
    rest = serial.astype(np.int64)
    for pos in range(15, 9, -1):
        out[:, pos] = _ALPHA_CODES[rest % 31]
        rest //= 31
    org = _GB_VALUE[out[:, 8:16]] @ _ORG_WEIGHTS
    org_check = (11 - org % 11) % 11
    out[:, 16] = np.where(org_check == 10, ord("X"), org_check + ord("0"))
    total = _USCC_VALUE[out[:, :17]] @ _USCC_WEIGHTS
    out[:, 17] = _ALPHA_CODES[(31 - total % 31) % 31]
    return out


# --- the generator ----------------------------------------------------------------------------------------


def _log_uniform(rng: np.random.Generator, low: float, high: float, size: int) -> Arr:
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _fen(yuan: Arr) -> Arr:
    return np.rint(np.asarray(yuan, dtype=np.float64) * 100).astype(np.int64)


def _uniform_days(rng: np.random.Generator, low: Arr | int, high: Arr | int, size: int) -> Arr:
    low_a = np.broadcast_to(np.asarray(low, dtype=np.int64), (size,))
    high_a = np.maximum(np.broadcast_to(np.asarray(high, dtype=np.int64), (size,)), low_a)
    return low_a + np.floor(rng.random(size) * (high_a - low_a + 1)).astype(np.int64)


def _years_of(days: Arr) -> Arr:
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _chunk(seed: int, chunk_no: int, start: int, m: int, years: list[int]) -> dict[str, pa.Table]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_no]))
    cols: dict[str, pa.Array] = {}

    # Sector, segment, enterprise type.
    sector = rng.choice(len(SECTORS), size=m, p=np.array(SECTOR_SHARES) / sum(SECTOR_SHARES))
    strategic = sector < 5
    champ = strategic & (rng.random(m) < CHAMPION_SHARE)
    service_p = np.array([0.35, 0.35, 0.5, 0.8, 0.2, 0.05, 1.0, 1.0, 1.0, 1.0, 0.8])[sector]
    service = rng.random(m) < service_p
    sub = np.full(m, 3)  # 0 software, 1 ic_design, 2 biotech_cro, 3 none
    u = rng.random(m)
    sub[service & (sector == 6) & (u < 0.7)] = 0
    sub[service & ((sector == 2) | (sector == 3)) & (u < 0.4)] = 0
    sub[service & (sector == 0)] = 1
    sub[service & (sector == 1) & (u < 0.6)] = 2
    high_bar = sub < 3  # R&D thresholds of 10% / 20%

    # Where and when.
    shanghai = rng.random(m) < np.where(champ, 0.97, 0.93)
    other_w = np.array([c[3] for c in CITIES[1:]])
    city = np.where(shanghai, 0, 1 + rng.choice(len(CITIES) - 1, size=m, p=other_w / other_w.sum()))
    dist_w = np.array([d[2] for d in DISTRICTS])
    district = rng.choice(len(DISTRICTS), size=m, p=dist_w / dist_w.sum())
    has_district = shanghai | (rng.random(m) < 0.4)  # firms registered elsewhere may have a Shanghai branch

    d1995, d2022, d_end = _day(1995), _day(2022), _day(2025, 12, 31)
    reg = d1995 + np.floor((d_end - d1995) * rng.random(m) ** 0.6).astype(np.int64)
    reg = np.where(champ, d1995 + np.floor((_day(2021) - d1995) * rng.random(m) ** 0.9).astype(np.int64), reg)
    newcomer = champ & (rng.random(m) < 0.3)
    new_entity = newcomer & (rng.random(m) < 0.45)
    reg = np.where(new_entity, _uniform_days(rng, d2022, _day(2025, 6, 30), m), reg)
    moved = (newcomer & ~new_entity) | (
        shanghai & ~champ & (rng.random(m) < np.where(strategic, 0.03, 0.015))
    )
    moved &= shanghai
    move_in = np.maximum(_uniform_days(rng, _day(2015), _day(2025, 10, 31), m), reg + 365)
    move_in = np.where(
        newcomer, np.maximum(_uniform_days(rng, d2022, _day(2025, 9, 30), m), reg + 365), move_in
    )
    moved &= move_in <= _TODAY
    reg_year = _years_of(reg)

    # Credit codes: a moved-in firm keeps the region code of where it was first registered.
    origin = np.where(moved, 1 + rng.choice(len(CITIES) - 1, size=m, p=other_w / other_w.sum()), city)
    region = np.where(
        origin == 0, np.array([d[1] for d in DISTRICTS])[district], np.array([c[2] for c in CITIES])[origin]
    )
    new_style = reg >= _day(2015, 10, 1)
    prefix = np.empty((m, 2), dtype=np.uint8)
    prefix[:, 0] = np.where(new_style, ord("M"), ord("0") + rng.integers(0, 10, m))
    prefix[:, 1] = np.where(new_style, ord("A"), ord("0") + rng.integers(0, 10, m))
    serial = ((np.arange(start, start + m, dtype=np.int64) * 119_527_343) + (seed * 2_654_435_761)) % 31**6
    uscc_arr = _fixed_strings(uscc_codes(region, prefix, serial))
    cols["uscc"] = uscc_arr

    # Names.
    syll_zh = [s[0] for s in _SYLLABLES]
    syll_en = [s[1:] for s in _SYLLABLES]
    a = rng.integers(0, len(_SYLLABLES), m)
    b = rng.integers(0, len(_SYLLABLES), m)
    variant = sector * 3 + rng.integers(0, 3, m)
    ind_zh = [v[0] for s in _INDUSTRY for v in s]
    ind_en = [v[1] for s in _INDUSTRY for v in s]
    listed_co = rng.random(m) < np.where(champ, 0.45, 0.0008)
    place_zh = _pick([c[1] for c in CITIES], city)
    place_en = _pick([c[0] for c in CITIES], city)
    cols["name_zh"] = pc.binary_join_element_wise(
        place_zh,
        _pick(syll_zh, a),
        _pick(syll_zh, b),
        _pick(ind_zh, variant),
        _pick(["有限公司", "股份有限公司"], listed_co),
        "",
    )
    cols["name_en"] = pc.binary_join_element_wise(
        place_en,
        " ",
        _pick(syll_en, a),
        _pick([s.lower() for s in syll_en], b),
        " ",
        _pick(ind_en, variant),
        " Co., Ltd.",
        "",
    )
    cols["sector"] = _pick([s.value for s in SECTORS], sector)
    cols["service_subsector"] = _pick(["software", "ic_design", "biotech_cro", None], sub)
    cols["enterprise_type"] = _pick(["industrial", "service"], service)
    cols["district"] = _pick(
        [d[0] for d in DISTRICTS] + [None], np.where(has_district, district, len(DISTRICTS))
    )
    cols["registration_city"] = _pick([c[0] for c in CITIES], city)
    cols["registration_date"] = _dates(reg)
    cols["hq_move_in_date"] = _dates(move_in, moved)

    # Size: sales of the latest year drive employees, assets and R&D.
    s = rng.standard_normal(m)
    rev_per_emp = np.exp(
        rng.normal(
            np.log(np.array([6e5, 5e5, 5e5, 6e5, 7e5, 5e5, 4e5, 1.5e6, 1.2e6, 1.5e6, 3e5])[sector]), 0.7
        )
    )
    emp = np.clip(np.rint(np.exp(np.where(strategic, 2.3, 1.5) + 1.1 * s)), 1, 50_000)
    last = max(years)
    sales_last = emp * rev_per_emp
    sales_last = np.where(rng.random(m) < np.where(strategic, 0.03, 0.06), 0.0, sales_last)  # shells
    pass_sales = rng.random(m) < 0.92
    champ_sales = np.where(
        pass_sales, np.maximum(np.exp(rng.normal(np.log(6e8), 0.9)), 1.2e8), rng.uniform(3e7, 9.5e7, m)
    )
    sales_last = np.where(champ, champ_sales, sales_last)
    emp = np.where(
        champ, np.clip(np.rint(champ_sales / np.exp(rng.normal(np.log(1e6), 0.5))), 80, 100_000), emp
    )
    emp = emp.astype(np.int64)

    growth = rng.normal(np.where(champ, 0.18, np.where(strategic, 0.12, 0.06)), np.where(champ, 0.12, 0.15))
    first_year = np.maximum(reg_year, min(years))
    first_year = np.where(rng.random(m) < 0.08, first_year + rng.integers(1, 4, m), first_year)
    missing_last = rng.random(m) < np.where(champ, 0.04, 0.15)
    first_year = np.where(new_entity, np.maximum(reg_year, min(years)), first_year)
    rd_ratio = np.where(
        rng.random(m) < np.where(strategic, 0.2, 0.55), 0.0, rng.beta(2.0, np.where(strategic, 22.0, 50.0))
    )
    pass_rd = rng.random(m) < 0.9
    champ_rd = np.where(
        pass_rd,
        np.where(high_bar, rng.uniform(0.105, 0.3, m), rng.uniform(0.055, 0.25, m)),
        rng.uniform(0.01, 0.045, m),
    )
    rd_ratio = np.clip(np.where(champ, champ_rd, rd_ratio), 0.0, 0.3)
    china_share = np.where(rng.random(m) < 0.7, 1.0, rng.uniform(0.3, 1.0, m))
    china_share = np.where(
        champ,
        np.where(rng.random(m) < 0.95, rng.uniform(0.65, 1.0, m), rng.uniform(0.3, 0.55, m)),
        china_share,
    )
    contrib_rate = np.where(champ, rng.uniform(0.03, 0.07, m), rng.uniform(0.01, 0.06, m))
    log_sales = np.log(np.maximum(sales_last, 1.0))
    year_cols: dict[str, dict[int, pa.Array]] = {name: {} for name in YEAR_MAPS}
    for y in sorted(years, reverse=True):
        present = (y >= first_year) & ~((y == last) & missing_last)
        sales_y = np.where(sales_last > 0, np.exp(log_sales), 0.0)
        sales_fen = _fen(sales_y)
        rd_fen = _fen(sales_y * np.clip(rd_ratio * np.exp(rng.normal(0, 0.08, m)), 0.0, 0.3))
        year_cols["sales"][y] = money_array(sales_fen, present)
        year_cols["rd_spending"][y] = money_array(rd_fen, present)
        year_cols["rd_spending_in_china"][y] = money_array(
            np.floor(rd_fen * china_share).astype(np.int64), present
        )
        year_cols["district_contribution"][y] = money_array(_fen(sales_y * contrib_rate), present & shanghai)
        log_sales = log_sales - (growth + rng.normal(0, 0.1, m))

    # Capital (in units of 10,000 yuan, as registered), assets, market value.
    reg_cap_wan = np.maximum(np.rint(np.exp(rng.normal(np.log(100), 1.3, m))), 1)
    reg_cap_wan = np.where(reg_cap_wan >= 1000, np.rint(reg_cap_wan / 100) * 100, reg_cap_wan)
    champ_cap = np.where(newcomer, rng.uniform(1.05e4, 2e5, m), np.exp(rng.normal(np.log(5e4), 1.0)))
    reg_cap_wan = np.where(champ, np.rint(champ_cap / 100) * 100, reg_cap_wan)
    u = rng.random(m)
    paid_share = np.where(u < 0.35, 0.0, np.where(u < 0.8, 1.0, rng.uniform(0.1, 1.0, m)))
    paid_share = np.where(champ, np.where(u < 0.75, 1.0, rng.uniform(0.4, 0.95, m)), paid_share)
    paid_wan = np.floor(reg_cap_wan * paid_share)
    cols["registered_capital"] = money_array(reg_cap_wan.astype(np.int64) * 1_000_000)
    cols["paid_in_capital"] = money_array(paid_wan.astype(np.int64) * 1_000_000)
    assets = np.maximum(sales_last, 1e5) * np.exp(rng.normal(np.log(0.8), 0.8, m)) + reg_cap_wan * 1e4 * 0.3
    champ_assets = np.where(
        rng.random(m) < 0.88,
        np.maximum(np.exp(rng.normal(np.log(1.5e9), 0.9)), 2.1e8),
        rng.uniform(5e7, 1.9e8, m),
    )
    cols["total_assets"] = money_array(_fen(np.where(champ, champ_assets, assets)))
    listed = listed_co | (champ & (rng.random(m) < 0.05))
    mv = np.where(champ, np.exp(rng.normal(np.log(8e9), 1.0)), np.exp(rng.normal(np.log(5e9), 1.0)))
    cols["market_value"] = money_array(_fen(np.minimum(mv, 5e13)), listed)

    # People and intellectual property.
    staff_ratio = np.clip(rd_ratio * 2.5 * np.exp(rng.normal(0, 0.4, m)), 0, 1)
    champ_staff = np.where(rng.random(m) < 0.9, rng.uniform(0.22, 0.6, m), rng.uniform(0.03, 0.09, m))
    rd_staff = np.floor(emp * np.where(champ, champ_staff, staff_ratio)).astype(np.int64)
    cols["employees"] = pa.array(emp)
    cols["rd_staff"] = pa.array(np.minimum(rd_staff, emp))

    lam = np.exp(np.where(strategic, 0.3, -1.8) + 0.8 * s)
    inv = rng.poisson(np.where(np.isin(sector, [0, 1, 4, 5]), lam, lam * 0.3))
    layout = np.where(sector == 0, rng.poisson(lam * 0.6), 0)
    soft = rng.poisson(np.where(np.isin(sector, [2, 3, 6]), lam * 2.0, lam * 0.3))
    pass_ip = rng.random(m) < np.where(sector == 1, 0.7, 0.88)
    total_ip = np.where(pass_ip, 15 + np.floor(np.exp(rng.normal(np.log(40), 1.0))), rng.integers(3, 15, m))
    w_inv = np.array([0.5, 0.95, 0.4, 0.2, 0.8, 0.8, 0.1, 0.5, 0.5, 0.5, 0.5])[sector]
    w_lay = np.where(sector == 0, 0.35, 0.0)
    c_inv = np.floor(total_ip * w_inv)
    c_lay = np.floor(total_ip * w_lay)
    cols["ip_invention_patents"] = pa.array(np.where(champ, c_inv, inv).astype(np.int64))
    cols["ip_ic_layout_designs"] = pa.array(np.where(champ, c_lay, layout).astype(np.int64))
    cols["ip_software_copyrights"] = pa.array(
        np.where(champ, total_ip - c_inv - c_lay, soft).astype(np.int64)
    )
    cols["innovative_drug_or_device"] = pa.array(
        (sector == 1) & (rng.random(m) < np.where(champ, 0.45, 0.03))
    )
    branches = np.minimum(rng.poisson(np.exp(-2.0 + 0.7 * s)), 200)
    champ_branches = np.where(rng.random(m) < 0.9, 2 + rng.poisson(6, m), rng.integers(0, 2, m))
    cols["branches_outside_city"] = pa.array(np.where(champ, champ_branches, branches).astype(np.int64))
    all_hq = champ & (rng.random(m) < 0.92)
    missing_fn = rng.integers(0, 3, m)
    for i, fn in enumerate(("rd", "sales", "settlement")):
        p = (np.where(rd_ratio > 0, 0.3, 0.05), 0.7, 0.6)[i]
        ordinary = rng.random(m) < p
        cols[f"hq_functions_{fn}"] = pa.array(np.where(champ, all_hq | (missing_fn != i), ordinary))

    firms = pa.table(
        {**cols, **{year_column(nm, y): year_cols[nm][y] for nm in YEAR_MAPS for y in sorted(years)}}
    )

    hq_designated = champ & (reg < _day(2022)) & (rng.random(m) < 0.08)  # already in the 2023 or 2025 batch
    ctx = _Ctx(
        rng,
        uscc_arr,
        district,
        has_district,
        reg,
        np.where(moved, move_in, reg),
        champ,
        sector,
        hq_designated,
    )
    tables = {"firms": firms.cast(firm_schema(years))}
    tables["offices"] = _offices(ctx)
    tables["designations"] = _designations(ctx)
    tables["incentives"] = _incentives(ctx)
    tables["contracts"] = _contracts(ctx)
    tables["credit_events"] = _credit_events(ctx)
    for name in CHILD_TABLES:
        tables[name] = tables[name].cast(child_schema(name))
    return tables


class _Ctx:
    """What the child-table generators need to know about a chunk's firms."""

    def __init__(
        self,
        rng: np.random.Generator,
        uscc: pa.Array,
        district: Arr,
        has_district: Arr,
        reg: Arr,
        arrived: Arr,
        champ: Arr,
        sector: Arr,
        hq_designated: Arr,
    ) -> None:
        self.rng, self.uscc, self.district, self.has_district = rng, uscc, district, has_district
        self.reg, self.arrived, self.champ, self.sector = reg, arrived, champ, sector
        self.hq_designated = hq_designated
        self.m = reg.size


def _rows(counts: Arr) -> tuple[Arr, Arr]:
    """Parent index and position within the parent of every child row, firm by firm."""
    counts = counts.astype(np.int64)
    parent = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return parent, np.arange(parent.size) - starts[parent]


def _from_flags(flags: Arr) -> tuple[Arr, Arr]:
    """Rows of an (m, k) flag matrix, firm by firm then kind by kind."""
    parent, kind = np.nonzero(flags)
    return parent, kind


def _offices(c: _Ctx) -> pa.Table:
    rng = c.rng
    u = rng.random(c.m)
    count = np.where(
        c.champ,
        np.where(u < 0.7, 1, np.where(u < 0.95, 2, 3)),
        np.where(u < 0.08, 0, np.where(u < 0.88, 1, 2)),
    )
    parent, pos = _rows(count)
    k = parent.size
    first = pos == 0
    hq = first & (rng.random(k) < np.where(c.champ[parent], 0.97, 0.55))
    dist = np.where(first & c.has_district[parent], c.district[parent], rng.integers(0, len(DISTRICTS), k))
    big = c.champ[parent] & hq
    area = np.where(big, _log_uniform(rng, 800, 5000, k), _log_uniform(rng, 50, 2000, k))
    area_c = np.clip(np.rint(area * 100), 5000, 500000).astype(np.int64)
    base_rent = np.array([d[3] for d in DISTRICTS])[dist]
    rent = np.clip(np.rint(base_rent * np.exp(rng.normal(0, 0.25, k)) * 100), 200, 1500).astype(np.int64)
    rented = rng.random(k) < np.where(c.champ[parent], 0.75, 0.85)
    since = np.where(
        first,
        np.minimum(c.arrived[parent] + rng.integers(0, 180, k), _TODAY),
        _uniform_days(rng, c.reg[parent], _TODAY, k),
    )
    return pa.table(
        {
            "uscc": c.uscc.take(pa.array(parent)),
            "district": _pick([d[0] for d in DISTRICTS], dist),
            "area_m2": money_array(area_c),
            "rent_per_m2_day": money_array(rent),
            "tenure": _pick(["owned", "rented"], rented),
            "hq": pa.array(hq),
            "since": _dates(since, rng.random(k) >= 0.05),
        }
    )


def _designations(c: _Ctx) -> pa.Table:
    rng = c.rng
    strategic = c.sector < 5
    p_ht = np.where(c.champ, 0.8, np.where(strategic, 0.25, np.where(np.isin(c.sector, [5, 6]), 0.08, 0.01)))
    p_srdi = np.where(np.isin(c.sector, [0, 1, 2, 3, 4, 5]), 0.03, 0.0)
    flags = rng.random((c.m, 3)) < np.stack([p_ht, p_srdi, np.zeros(c.m)], axis=1)
    flags[:, 2] = c.hq_designated
    parent, kind = _from_flags(flags)
    k = parent.size
    lo = np.maximum(c.reg[parent] + 365, _day(2010))
    since = _uniform_days(rng, lo, _day(2025, 12, 31), k)
    since = np.where(kind == 2, np.where(rng.random(k) < 0.5, _day(2023, 12, 5), _day(2025, 2, 27)), since)
    return pa.table(
        {
            "uscc": c.uscc.take(pa.array(parent)),
            "code": _pick(list(DESIGNATION_CODES), kind),
            "since": _dates(since),
        }
    )


def _incentives(c: _Ctx) -> pa.Table:
    rng = c.rng
    designated = c.hq_designated
    flags = np.stack(
        [designated & (rng.random(c.m) < 0.3), designated & (rng.random(c.m) < 0.25), rng.random(c.m) < 0.02],
        axis=1,
    )
    parent, kind = _from_flags(flags)
    k = parent.size
    amount = np.select(
        [kind == 0, kind == 1],
        [rng.integers(100, 501, k) * 1_000_000, np.full(k, 500_000_000)],
        rng.integers(10, 101, k) * 1_000_000,
    )
    date = np.where(
        kind == 2,
        _uniform_days(rng, np.maximum(c.reg[parent], _day(2020)), _TODAY, k),
        _uniform_days(rng, _day(2024, 3, 1), _day(2025, 12, 31), k),
    )
    return pa.table(
        {
            "uscc": c.uscc.take(pa.array(parent)),
            "programme": _pick([p for p, _ in INCENTIVE_PROGRAMMES], kind),
            "item": _pick([i for _, i in INCENTIVE_PROGRAMMES], kind),
            "amount": money_array(amount.astype(np.int64)),
            "date": _dates(date),
        }
    )


def _contracts(c: _Ctx) -> pa.Table:
    rng = c.rng
    p_any = np.array([0.1, 0.05, 0.45, 0.15, 0.05, 0.01, 0.05, 0.003, 0.01, 0.002, 0.005])[c.sector]
    p_any = np.where(c.champ, np.where(c.sector == 2, 0.8, 0.3), p_any)
    count = np.where(rng.random(c.m) < p_any, np.minimum(1 + rng.poisson(1.2, c.m), 6), 0)
    parent, pos = _rows(count)
    k = parent.size
    kind = rng.choice(len(CONTRACT_KINDS), size=k, p=np.array(_KIND_SHARES))
    sizes = np.array([len(x) for x in _COUNTERPARTIES])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    cp = offsets[kind] + np.floor(rng.random(k) * sizes[kind]).astype(np.int64)
    value = np.where(c.champ[parent], _log_uniform(rng, 2e5, 5e7, k), _log_uniform(rng, 1e4, 2e7, k))
    value_fen = np.rint(value).astype(np.int64) * 100
    signed = np.maximum(_uniform_days(rng, _day(2023), _TODAY, k), c.reg[parent])
    u = rng.random(k)
    inv_share = np.where(u < 0.3, 0.0, np.where(u < 0.7, 1.0, rng.uniform(0.1, 1.0, k)))
    invoiced = np.floor(value_fen * inv_share).astype(np.int64)
    paid = np.where(rng.random(k) < 0.6, invoiced, np.floor(invoiced * rng.random(k)).astype(np.int64))
    delivered = np.floor(value_fen * np.minimum(inv_share * rng.uniform(0.7, 1.1, k), 1.0)).astype(np.int64)
    claimed = rng.random(k) < np.where(signed < _AI_MEASURES, 0.4, 0.1)
    ids = np.empty((k, 14), dtype=np.uint8)
    ids[:, 0:3] = np.frombuffer(b"HT-", dtype=np.uint8)
    ids[:, 3:7] = _digits(_years_of(signed), 4)
    ids[:, 7] = ord("-")
    ids[:, 8:10] = _digits(pos + 1, 2)
    ids[:, 10:14] = _digits(rng.integers(0, 10_000, k), 4)
    return pa.table(
        {
            "uscc": c.uscc.take(pa.array(parent)),
            "id": _fixed_strings(ids),
            "kind": _pick(list(CONTRACT_KINDS), kind),
            "counterparty": _pick([n for group in _COUNTERPARTIES for n in group], cp),
            "affiliated": pa.array(rng.random(k) < 0.1),
            "value": money_array(value_fen),
            "signed": _dates(signed),
            "term_months": pa.array(
                np.array([6, 12, 12, 12, 24, 36])[rng.integers(0, 6, k)].astype(np.int64)
            ),
            "invoiced": money_array(invoiced),
            "paid": money_array(paid),
            "delivered": money_array(delivered),
            "claimed": pa.array(claimed),
        }
    )


def _credit_events(c: _Ctx) -> pa.Table:
    rng = c.rng
    u = rng.random(c.m)
    base = np.where(c.champ, 0.003, 0.007)
    count = np.where(u < base * 0.15, 2, np.where(u < base, 1, 0))
    parent, _ = _rows(count)
    k = parent.size
    kind = rng.choice(len(CREDIT_KINDS), size=k, p=np.array([0.6, 0.3, 0.1]))
    date = _uniform_days(rng, np.maximum(c.reg[parent], _day(2016)), _TODAY, k)
    return pa.table(
        {
            "uscc": c.uscc.take(pa.array(parent)),
            "date": _dates(date),
            "kind": _pick(list(CREDIT_KINDS), kind),
        }
    )


def synth_chunks(
    n: int,
    seed: int,
    *,
    years: range = range(2019, 2026),
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict[str, pa.Table]]:
    """The synthetic register of ``n`` firms a chunk of ``CHUNK`` firms at a time (at least one, empty
    when ``n`` is 0), so that a register larger than memory (30 M firms) can be written as it is made;
    ``progress`` is called with the number of firms generated after each chunk."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if n > 31**6:
        raise ValueError(f"at most {31**6} firms (the credit-code serial space)")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    year_list = list(years)
    if not year_list:
        raise ValueError("years must not be empty")
    if n == 0:
        yield {
            "firms": firm_schema(year_list).empty_table(),
            **{name: child_schema(name).empty_table() for name in CHILD_TABLES},
        }
    for chunk_no, start in enumerate(range(0, n, CHUNK)):
        yield _chunk(seed, chunk_no, start, min(CHUNK, n - start), year_list)
        if progress is not None:
            progress(min(start + CHUNK, n))


def synth_register(
    n: int,
    seed: int,
    *,
    years: range = range(2019, 2026),
    progress: Callable[[int], None] | None = None,
) -> dict[str, pa.Table]:
    """A synthetic register of ``n`` firms in the layout of ``huiqi.firms.table``; the same seed gives the
    same tables, byte for byte. ``progress`` is called with the number of firms generated after each chunk."""
    parts: dict[str, list[pa.Table]] = {"firms": [], **{name: [] for name in CHILD_TABLES}}
    for chunk in synth_chunks(n, seed, years=years, progress=progress):
        for name, table in chunk.items():
            parts[name].append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def synth_firms(n: int, seed: int, *, years: range = range(2019, 2026)) -> list[Firm]:
    """The first ``n`` firms of a synthetic register as profile objects (for small n: tests, the demo)."""
    from huiqi.firms.frames import tables_to_firms

    return tables_to_firms(synth_register(n, seed, years=years))
