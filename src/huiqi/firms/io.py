"""Reading firm profiles from JSON and YAML files, all-or-nothing with every problem named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from huiqi.firms.errors import FieldProblem, ProfileError, problems_from_validation
from huiqi.firms.profile import Firm


class _NoFloatLoader(yaml.SafeLoader):
    """YAML that keeps 1.5 as the string '1.5' so that the Decimal parser, not float(), reads it."""


def _float_as_str(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_NoFloatLoader.add_constructor("tag:yaml.org,2002:float", _float_as_str)


def load_yaml_text(text: str) -> Any:
    return yaml.load(text, Loader=_NoFloatLoader)  # nosec B506  # _NoFloatLoader is a SafeLoader subclass


def parse_text(text: str, *, source: str) -> Any:
    """Parse JSON (numbers with a fraction become strings, never floats) or YAML by the file's look."""
    stripped = text.lstrip()
    if source.endswith(".json") or stripped.startswith("{"):
        try:
            return json.loads(text, parse_float=str)
        except json.JSONDecodeError as exc:
            raise ProfileError(
                source, [FieldProblem("", f"line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}")]
            ) from None
    try:
        return load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ProfileError(source, [FieldProblem("", f"invalid YAML: {exc}")]) from None


def firm_from_data(data: Any, *, source: str = "<firm>") -> Firm:
    if not isinstance(data, dict):
        raise ProfileError(source, [FieldProblem("", "a firm profile must be a mapping of fields")])
    try:
        return Firm.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(source, problems_from_validation(exc)) from None


def load_firm(path: str | Path) -> Firm:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), [FieldProblem("", f"cannot read the file: {exc.strerror}")]) from None
    return firm_from_data(parse_text(text, source=str(path)), source=str(path))


def firm_to_json(firm: Firm) -> dict[str, Any]:
    return firm.model_dump(mode="json", exclude_defaults=False)
