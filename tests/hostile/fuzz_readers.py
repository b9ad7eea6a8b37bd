"""Coverage-guided fuzzing (atheris) of the readers every outside input goes through: programme YAML with
positions, firm JSON/YAML text, JSON bodies, bytes of any encoding, numbers.

    .venv/bin/python tests/hostile/fuzz_readers.py -runs=200000

Any exception other than each reader's documented refusal is a crash; so is one input taking over 2 s.
"""

from __future__ import annotations

import contextlib
import sys
import time

import atheris  # type: ignore[import-untyped]

# coverage from our readers and the YAML parser under them, not from every module they pull in (instrumenting
# numpy, pydantic and the rest took most of a short run)
with atheris.instrument_imports(include=["huiqi", "yaml"]):
    from huiqi.firms.errors import ProfileError
    from huiqi.firms.io import TextFileError, decode_any_encoding, load_json_text, parse_text
    from huiqi.money import MoneyError, parse_decimal, yuan
    from huiqi.rules.yamlpos import YamlError, load_with_positions


def one(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    which = provider.ConsumeIntInRange(0, 4)
    started = time.monotonic()
    if which == 4:
        with contextlib.suppress(TextFileError):
            decode_any_encoding(provider.ConsumeBytes(400), source="f")
    else:
        text = provider.ConsumeUnicode(300)
        if which == 0:
            with contextlib.suppress(YamlError):
                load_with_positions(text)
        elif which == 1:
            with contextlib.suppress(ProfileError):
                parse_text(text, source="firm.yaml")
        elif which == 2:
            with contextlib.suppress(ValueError):
                load_json_text(text)
        else:
            with contextlib.suppress(MoneyError):
                yuan(parse_decimal(text))
    if time.monotonic() - started > 2:
        raise RuntimeError(f"one input took {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
