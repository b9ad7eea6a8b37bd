"""Errors that name where the bad input is and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One bad field: its path (``offices[0].area_m2``) and what was expected."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProfileError(ValueError):
    """A firm profile that cannot be read; lists every problem found, not just the first."""

    def __init__(self, source: str, problems: Sequence[FieldProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {source}: {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the firm profile:\n{lines}")


def format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "literal[", "union[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


_FRIENDLY = {
    "extra_forbidden": "unknown field (see `huiqi schema firm` for the fields a profile may have)",
    "missing": "required field is missing",
}


def problems_from_validation(exc: ValidationError) -> list[FieldProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        message = _FRIENDLY.get(err["type"], err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] not in _FRIENDLY and "input" in err and err["type"] != "value_error":
            message = f"{message} (got {err['input']!r})"
        problems.append(FieldProblem(format_loc(err["loc"]), message))
    return problems
