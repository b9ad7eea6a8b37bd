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


#: Stored keys a firm's figures and a programme's parameters hold (``firms.profile``: sectors, contract
#: kinds, service subsectors, enterprise types, office tenure; Shanghai's districts as the register names
#: them; cities) -> (English, Chinese), so that an explanation says "artificial
#: intelligence" / "人工智能" in the terminal, the API and the page alike. A value not listed is shown as
#: stored. The web's catalogues translate the same keys for its other pages (tests/web/test_explanations.py
#: holds them to these words).
VALUE_LABELS: dict[str, tuple[str, str]] = {
    # firms.profile.Sector
    "integrated_circuits": ("integrated circuits", "集成电路"),
    "biomedicine": ("biomedicine", "生物医药"),
    "artificial_intelligence": ("artificial intelligence", "人工智能"),
    "digital_economy": ("digital economy", "数字经济"),
    "other_strategic": ("other strategic emerging industries", "其他战略性新兴产业"),
    "manufacturing": ("manufacturing", "制造业"),
    "software_services": ("software and IT services", "软件和信息服务"),
    "trade": ("trade", "商贸"),
    "finance": ("finance", "金融"),
    "real_estate": ("real estate", "房地产"),
    "other": ("other", "其他"),
    # firms.profile.ContractKind
    "compute_rental": ("compute rental", "算力租用"),
    "compute_purchase": ("compute purchase", "算力购买"),
    "compute_selfbuild": ("self-built compute", "自建算力"),
    "model_use": ("model use", "模型使用"),
    "corpus_purchase": ("corpus purchase", "语料采购"),
    # firms.profile.Firm.service_subsector, enterprise_type; Office.tenure
    "software": ("software", "软件"),
    "ic_design": ("IC design", "集成电路设计"),
    "biotech_cro": ("biotech R&D outsourcing", "生物医药研发外包"),
    "industrial": ("industrial", "工业企业"),
    "service": ("service", "服务业企业"),
    "rented": ("rented", "租赁"),
    "owned": ("owned", "自有"),
    # firms.synth.DISTRICTS: Shanghai's sixteen districts
    "Huangpu": ("Huangpu", "黄浦区"),
    "Xuhui": ("Xuhui", "徐汇区"),
    "Changning": ("Changning", "长宁区"),
    "Jing'an": ("Jing'an", "静安区"),
    "Putuo": ("Putuo", "普陀区"),
    "Hongkou": ("Hongkou", "虹口区"),
    "Yangpu": ("Yangpu", "杨浦区"),
    "Minhang": ("Minhang", "闵行区"),
    "Baoshan": ("Baoshan", "宝山区"),
    "Jiading": ("Jiading", "嘉定区"),
    "Pudong New Area": ("Pudong New Area", "浦东新区"),
    "Jinshan": ("Jinshan", "金山区"),
    "Songjiang": ("Songjiang", "松江区"),
    "Qingpu": ("Qingpu", "青浦区"),
    "Fengxian": ("Fengxian", "奉贤区"),
    "Chongming": ("Chongming", "崇明区"),
    # cities: the bundled packs' (a pack's ``city`` parameter), the synthetic register's (firms.synth)
    "Shanghai": ("Shanghai", "上海"),
    "Beijing": ("Beijing", "北京"),
    "Shenzhen": ("Shenzhen", "深圳"),
    "Hangzhou": ("Hangzhou", "杭州"),
    "Chengdu": ("Chengdu", "成都"),
    "Suzhou": ("Suzhou", "苏州"),
    "Nanjing": ("Nanjing", "南京"),
    "Hefei": ("Hefei", "合肥"),
    "Wuxi": ("Wuxi", "无锡"),
    "Ningbo": ("Ningbo", "宁波"),
    "Guangzhou": ("Guangzhou", "广州"),
}

#: how a list of values is joined in each language (a Chinese list of terms takes the enumeration comma)
LIST_SEPARATORS = {"en": ", ", "zh": "、"}


def value_label(value: str, lang: str) -> str:
    """A stored key as a person reads it in a language (``artificial_intelligence`` -> 人工智能), so every
    adapter prints the same words; any other text as it is."""
    hit = VALUE_LABELS.get(value)
    if hit is None:
        return value
    return hit[1] if lang == "zh" else hit[0]
