"""Human names of the firm's fields, in English and Chinese, with their units, for explanations."""

from __future__ import annotations

#: path -> (English, Chinese, unit). Year maps are labelled "sales in 2024" / "2024年销售收入".
FIELD_LABELS: dict[str, tuple[str, str, str]] = {
    "uscc": ("credit code", "统一社会信用代码", "text"),
    "name_zh": ("name", "名称", "text"),
    "name_en": ("English name", "英文名称", "text"),
    "sector": ("sector", "行业", "text"),
    "service_subsector": ("service subsector", "服务业细分领域", "text"),
    "enterprise_type": ("enterprise type", "企业类型", "text"),
    "district": ("district", "所在区", "text"),
    "registration_city": ("registration city", "注册城市", "text"),
    "registration_date": ("registration date", "注册日期", "date"),
    "hq_move_in_date": ("HQ move-in date", "总部迁入日期", "date"),
    "registered_capital": ("registered capital", "注册资本", "yuan"),
    "paid_in_capital": ("paid-in capital", "实缴资本", "yuan"),
    "total_assets": ("total assets", "资产总额", "yuan"),
    "market_value": ("market value", "市值", "yuan"),
    "sales": ("sales", "销售收入", "yuan"),
    "rd_spending": ("R&D spending", "研发投入", "yuan"),
    "rd_spending_in_china": ("R&D spending in China", "境内研发投入", "yuan"),
    "district_contribution": ("contribution to the district", "区级综合贡献", "yuan"),
    "employees": ("employees", "从业人员", "count"),
    "rd_staff": ("R&D staff", "研发人员", "count"),
    "ip.invention_patents": ("invention patents", "发明专利", "count"),
    "ip.ic_layout_designs": ("IC layout designs", "集成电路布图设计", "count"),
    "ip.software_copyrights": ("software copyrights", "软件著作权", "count"),
    "innovative_drug_or_device": (
        "innovative drug or device registration",
        "创新药或二三类医疗器械注册证",
        "flag",
    ),
    "branches_outside_city": ("branches outside the city", "市外分支机构", "count"),
    "hq_functions.rd": ("HQ R&D function in the city", "在本市设立研发总部职能", "flag"),
    "hq_functions.sales": ("HQ sales function in the city", "在本市设立销售总部职能", "flag"),
    "hq_functions.settlement": ("HQ settlement function in the city", "在本市设立结算总部职能", "flag"),
}

UNITS_ZH = {
    "yuan": "元",
    "count": "",
    "m2": "平方米",
    "yuan/m2/day": "元/平方米/天",
    "days": "天",
    "months": "个月",
    "years": "年",
}

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "eligible": "eligible",
        "not_eligible": "not eligible",
        "amount": "amount",
        "as_of": "as of",
        "holds": "holds",
        "fails": "fails",
        "unknown": "unknown",
        "gap": "gap",
        "needs": "needs",
        "excluded": "excluded",
        "not_excluded": "does not apply",
        "in_force": "programme in force",
        "not_in_force": "programme not in force on this date",
        "not_known": "is not known",
        "either": "either",
        "or": "or",
        "must_not": "must not hold",
        "does_not_hold": "does not hold",
        "assumption": "assumption",
        "version": "version",
        "per_year": "per year",
        "yes": "yes",
        "no": "no",
        "in_year": "in",
    },
    "zh": {
        "eligible": "符合",
        "not_eligible": "不符合",
        "amount": "金额",
        "as_of": "评估日期",
        "holds": "满足",
        "fails": "不满足",
        "unknown": "未知",
        "gap": "差距",
        "needs": "需要",
        "excluded": "排除",
        "not_excluded": "不适用",
        "in_force": "政策有效",
        "not_in_force": "该日期政策不在有效期内",
        "not_known": "未知",
        "either": "满足其一",
        "or": "或",
        "must_not": "不得满足",
        "does_not_hold": "不成立",
        "assumption": "假设",
        "version": "版本",
        "per_year": "每年",
        "yes": "是",
        "no": "否",
        "in_year": "年",
    },
}

OPS: dict[str, dict[str, str]] = {
    "en": {
        ">": "more than",
        ">=": "at least",
        "<": "less than",
        "<=": "at most",
        "==": "to be",
        "!=": "not to be",
        "in": "one of",
        "not in": "none of",
    },
    "zh": {
        ">": "高于",
        ">=": "不低于",
        "<": "低于",
        "<=": "不高于",
        "==": "等于",
        "!=": "不等于",
        "in": "属于",
        "not in": "不属于",
    },
}


def field_label(path: str, lang: str, year: int | None = None) -> tuple[str, str]:
    """(label, unit) of a firm field path like ``paid_in_capital`` or ``ip.invention_patents``."""
    en, zh, unit = FIELD_LABELS.get(path, (path.replace("_", " "), path, ""))
    if year is not None:
        return (f"{year}年{zh}" if lang == "zh" else f"{en} in {year}"), unit
    return (zh if lang == "zh" else en), unit
