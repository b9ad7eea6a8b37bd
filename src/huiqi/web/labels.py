"""Stored keys that pages show outside explanations (sectors, statuses, kinds, allocation modes): each key
is its own msgid, translated in both catalogues (``zh`` into Chinese, ``en`` into an English label), so a
template writes ``_(key)`` and neither language shows ``artificial_intelligence`` or ``clawed_back``. Role
names are the same kind of msgid (``i18n.ROLE_NAMES``). Listed here, with ``N_``, so that extraction finds
them; a key missing from both catalogues is shown as it is stored. An explanation's figures carry their
words already (``huiqi.rules.labels.VALUE_LABELS``, the same words for the terminal, the API and the page);
``keys_shown`` takes a firm value's words from there too."""

from __future__ import annotations

from huiqi.rules.labels import LIST_SEPARATORS, VALUE_LABELS, value_label
from huiqi.web.i18n import N_, _, language

#: ``firms.profile.Sector``
SECTORS = (
    N_("integrated_circuits"),
    N_("biomedicine"),
    N_("artificial_intelligence"),
    N_("digital_economy"),
    N_("other_strategic"),
    N_("manufacturing"),
    N_("software_services"),
    N_("trade"),
    N_("finance"),
    N_("real_estate"),
    N_("other"),
)

#: ``ledger.models``: award, tranche and reservation statuses; ``selection``: designation statuses.
STATUSES = (
    N_("active"),
    N_("completed"),
    N_("clawed_back"),
    N_("pending"),
    N_("paid"),
    N_("released"),
    N_("posted"),
    N_("voided"),
    N_("ended"),
)

#: ``firms.profile.ContractKind``
CONTRACT_KINDS = (
    N_("compute_rental"),
    N_("compute_purchase"),
    N_("compute_selfbuild"),
    N_("model_use"),
    N_("corpus_purchase"),
)

#: ``applications``: how a call allocates its pool.
ALLOCATION_MODES = (N_("fcfs"), N_("ranked"), N_("pro_rata"))

#: The English column names of the published designated list (``selection.service.COLUMNS["en"]``), which
#: are field names in the JSON and the CSV and headers on the page.
DESIGNATED_COLUMNS = (
    N_("sector"),
    N_("sector_rank"),
    N_("name"),
    N_("credit_code"),
    N_("district"),
    N_("score"),
    N_("startup_grant_yuan"),
    N_("batch"),
)

#: ``firms.synth.DISTRICTS``: Shanghai's sixteen districts as the register and profiles name them.
DISTRICTS = (
    N_("Huangpu"),
    N_("Xuhui"),
    N_("Changning"),
    N_("Jing'an"),
    N_("Putuo"),
    N_("Hongkou"),
    N_("Yangpu"),
    N_("Minhang"),
    N_("Baoshan"),
    N_("Jiading"),
    N_("Pudong New Area"),
    N_("Jinshan"),
    N_("Songjiang"),
    N_("Qingpu"),
    N_("Fengxian"),
    N_("Chongming"),
)

KEYS = frozenset((*SECTORS, *STATUSES, *CONTRACT_KINDS, *ALLOCATION_MODES, *DISTRICTS))


def keys_shown(value: object) -> str:
    """A stored key, a list of keys or a comma-separated text of keys as a person reads them in the page's
    language (``compute_rental, model_use`` -> 算力租用、模型使用); any other text as it is."""
    items = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split(", ")
    if not all(i in KEYS or i in VALUE_LABELS for i in items):
        return ", ".join(items) if isinstance(value, (list, tuple)) else str(value)
    lang = language()
    return LIST_SEPARATORS.get(lang, ", ").join(
        value_label(i, lang) if i in VALUE_LABELS else _(i) for i in items
    )
