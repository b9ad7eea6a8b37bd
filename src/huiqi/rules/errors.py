"""Errors of the rules engine. Each names where the problem is and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file: ``path:line:column``; line and column are 1-based, 0 if unknown."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column}"
        return self.path


class ExprError(ValueError):
    """A bad expression: syntax or type. ``line``/``column`` are within the expression text."""

    def __init__(self, message: str, *, line: int = 1, column: int = 1, text: str = "") -> None:
        self.message = message
        self.line = line
        self.column = column
        self.text = text
        super().__init__(f"{line}:{column}: {message}")

    def pointer(self) -> str:
        """The offending line of the expression with a caret under the column."""
        lines = self.text.splitlines() or [""]
        src = lines[min(self.line, len(lines)) - 1]
        return f"{src}\n{' ' * (self.column - 1)}^"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a programme file, with where it is."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ProgrammeError(ValueError):
    """A programme file (or pack) that is refused whole; lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class EvaluationError(RuntimeError):
    """An evaluation that cannot proceed (a programme referring to itself at run time, an overflow)."""


class UnknownProgramme(KeyError):
    """A programme id that the loaded packs do not have."""

    def __str__(self) -> str:
        return f"unknown programme {self.args[0]!r}"
