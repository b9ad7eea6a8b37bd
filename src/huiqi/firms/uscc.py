"""Unified social credit codes (统一社会信用代码, GB 32100-2015), checked with python-stdnum."""

from __future__ import annotations

from typing import Any

from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
#: A credit code's shape: 8 digits (authority, entity type, region), then 10 characters of ``ALPHABET``;
#: anchored, for ``re.fullmatch`` and Arrow's ``match_substring_regex`` alike. The check character is not
#: checked here (``validate_uscc`` does).
USCC_PATTERN = r"^[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}$"


def fixed_codes(codes: Any) -> Any:
    """Credit codes (an Arrow string array, chunked or not) as NumPy's 18-byte strings viewed in Arrow's
    buffer (no copy), to sort and search in as Arrow orders them; None when one is null or not 18 bytes
    long. (numpy and pyarrow imported here: this module is read at start-up.)"""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = (codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes).cast(pa.string())
    n = len(col)
    if col.null_count or (n and pc.min_max(pc.binary_length(col)).as_py() != {"min": 18, "max": 18}):
        return None
    offsets, data = col.buffers()[1], col.buffers()[2]
    if data is None or not n:
        return np.array([], dtype="S18")
    first = int(np.frombuffer(offsets, dtype=np.int32, count=1, offset=col.offset * 4)[0])
    return np.frombuffer(data, dtype="S18", count=n, offset=first)


class UsccError(ValueError):
    """Not a valid unified social credit code; the message says which part is wrong."""


def validate_uscc(code: str) -> str:
    """The code in its compact form, or UsccError naming what is wrong."""
    if not isinstance(code, str):
        raise UsccError("unified social credit code must be a string of 18 characters")
    compact = _uscc.compact(code)
    try:
        return str(_uscc.validate(compact))
    except ValidationError as exc:
        if len(compact) != 18:
            reason = f"has {len(compact)} characters, expected 18"
        elif any(ch not in ALPHABET for ch in compact):
            bad = next(ch for ch in compact if ch not in ALPHABET)
            reason = f"contains {bad!r}; allowed are 0-9 and A-Z without I, O, S, V, Z"
        elif not compact[:8].isdigit():
            reason = "the first 8 characters (authority, entity type, region code) must be digits"
        elif exc.__class__.__name__ == "InvalidChecksum":
            reason = f"check character should be {_uscc.calc_check_digit(compact[:-1])!r}"
        else:
            reason = str(exc) or "invalid format"
        raise UsccError(f"{code!r} is not a valid unified social credit code: {reason}") from None


def make_uscc(body17: str) -> str:
    """Complete 17 characters with their check character (for synthetic registers and tests)."""
    return body17 + str(_uscc.calc_check_digit(body17))
