"""Coverage-guided fuzzing of the parser and checker with atheris.

    .venv/bin/python tests/fuzz/fuzz_expressions.py -runs=200000

Any exception other than ExprError is a crash; add the input to tests/fuzz/regressions.txt when fixed.
"""

from __future__ import annotations

import contextlib
import sys

import atheris  # type: ignore[import-untyped]

# coverage from our parser and checker and the Lark parser under them, not from every module they pull in
# (instrumenting numpy, pydantic and the rest took most of a short run)
with atheris.instrument_imports(include=["huiqi", "lark"]):
    from huiqi.rules.checker import Scope, check
    from huiqi.rules.errors import ExprError
    from huiqi.rules.parser import parse
    from huiqi.rules.types import NUM

SCOPE = Scope(params={"cap": NUM, "rate": NUM})


def one(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(200)
    with contextlib.suppress(ExprError):
        check(parse(text), SCOPE)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
