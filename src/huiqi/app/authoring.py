"""Authoring programmes in the browser (issue 15), for officers: a served version's file as the start of a
draft, a draft's text checked as it is typed (every problem with its line and column, in the programme file
or in its tests), a firm profile (an example firm, or a firm of the register or the stored profiles by its
credit code) turned into a test case of the draft, and a dated parameter value set by a form (name, value,
from-date, clause) for officers who do not write YAML. The draft's lifecycle (save, submit, review, publish,
withdraw) is ``app.lifecycle``'s; these use cases prepare what it keeps.

Edits keep the file as its author wrote it: a parameter's ``values`` list is rewritten in place (a flow list
stays a flow list; a block list gets one more item), and a test case is appended to the tests' ``cases``;
each edit is re-read and checked to be exactly the change asked for before it is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow.compute as pc
import yaml

from huiqi.app import lifecycle
from huiqi.app.accounts import firm_profile
from huiqi.app.errors import FirmProfileNotFound, MatchingError
from huiqi.app.programmes import ProgrammeSummary, example_firms, parse_firm, today
from huiqi.app.register import DB, nonempty_register
from huiqi.app.registry import ProgrammeRegistry, ProgrammeSource, validate_text
from huiqi.app.store import Store
from huiqi.firms import Firm, ProfileError
from huiqi.firms.frames import tables_to_firms
from huiqi.publishing.errors import DraftNotFound, PublishingError
from huiqi.rules.errors import Location, Problem, ProgrammeError, UnknownProgramme
from huiqi.rules.evaluator import Engine
from huiqi.rules.loader import bundled_pack_dir, bundled_packs
from huiqi.rules.testing import TESTS_SUFFIX

MAX_TEXT = 1_000_000


@dataclass(frozen=True)
class PositionedProblem:
    """A problem of the text being edited: which text (``programme`` or ``tests``), line and column (1-based;
    0 when the problem has no position) and what is wrong."""

    part: str
    line: int
    column: int
    message: str


@dataclass(frozen=True)
class TextCheck:
    """The outcome of checking a draft's text: the programme it describes when it loads, and every problem."""

    ok: bool
    programme: ProgrammeSummary | None
    problems: tuple[PositionedProblem, ...]
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceView:
    """A served version's file and its pack's test cases of it, to start a new draft from."""

    programme_id: str
    version: str
    filename: str
    text: str
    tests: str


@dataclass(frozen=True)
class CaseAdded:
    """A draft with a test case added from a firm profile: the case as YAML and the saved draft."""

    snippet: str
    eligible: bool
    amount: str
    unmet: tuple[str, ...]
    draft: lifecycle.DraftDocument


class AuthoringError(ValueError):
    """An edit that cannot be made as asked (the message says what is wrong and what is expected)."""


def _positioned(exc: ProgrammeError, tests_name: str, part: str) -> list[PositionedProblem]:
    out = []
    for p in exc.problems:
        which = "tests" if p.location.path.endswith(TESTS_SUFFIX) or p.location.path == tests_name else part
        out.append(PositionedProblem(which, p.location.line or 0, p.location.column or 0, p.message))
    return out


def check_text(
    programmes: ProgrammeSource, *, filename: str, text: str, tests: str = "", lang: str = "en"
) -> TextCheck:
    """Check a draft's programme file and tests as they are being typed, against the programmes served
    (references, overlapping periods), so each problem can stand beside its line; nothing is kept."""
    if len(text) > MAX_TEXT or len(tests) > MAX_TEXT:
        problem = PositionedProblem("programme", 0, 0, f"the text is longer than {MAX_TEXT:,} characters")
        return TextCheck(False, None, (problem,))
    known = programmes.programmes()
    problems: list[PositionedProblem] = []
    summary = None
    programme_id = ""
    parameters: tuple[str, ...] = ()
    try:
        p = validate_text(known, filename, text)
        summary = ProgrammeSummary.of(p, lang)
        programme_id = p.id
        parameters = tuple(p.spec.parameters)
    except ProgrammeError as exc:
        problems += _positioned(exc, "", "programme")
    if tests.strip():
        if not programme_id:
            peek = re.search(r"^programme:\s*([\w.-]+)", tests, re.M)
            programme_id = peek.group(1) if peek else ""
        try:
            lifecycle.parse_tests(programme_id, filename, tests)
        except ProgrammeError as exc:
            problems += [
                PositionedProblem("tests", q.line, q.column, q.message) for q in _positioned(exc, "", "tests")
            ]
    return TextCheck(not problems, summary, tuple(problems), parameters)


def programme_source(
    programmes: ProgrammeSource, *, programme_id: str, version: str | None = None
) -> SourceView:
    """The file of a served version (default: the one in force today) and its pack's test cases, as the start
    of the next version's draft; ``UnknownProgramme`` otherwise."""
    served = programmes.programmes()
    chosen = served.version(programme_id, version) if version else served.on(today()).get(programme_id)
    if chosen is None:  # every version withdrawn: name one
        raise UnknownProgramme(f"{programme_id} (no version in force: name the version)")
    p = chosen
    path = Path(p.source)
    tests = ""
    sibling = path.with_name(path.name.removesuffix(".programme.yaml") + TESTS_SUFFIX)
    if sibling.is_file():
        tests = sibling.read_text(encoding="utf-8")
    else:
        pack = p.id.split(".", 1)[0]
        if pack in bundled_packs():
            for f in sorted(bundled_pack_dir(pack).glob(f"*{TESTS_SUFFIX}")):
                body = f.read_text(encoding="utf-8")
                if re.search(rf"^programme:\s*{re.escape(p.id)}\s*$", body, re.M):
                    tests = body
                    break
    return SourceView(p.id, p.version, path.name, path.read_text(encoding="utf-8"), tests)


# --- a dated parameter value, by a form -------------------------------------------------------------------


def _node_at(root: yaml.Node, keys: tuple[str, ...]) -> yaml.Node | None:
    node: yaml.Node | None = root
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return node


def _flow(value_text: str, start: dt.date, clause: str) -> str:
    item = f"{{from: {start.isoformat()}, value: {value_text}"
    return item + (f", clause: {json.dumps(clause, ensure_ascii=False)}}}" if clause else "}")


def _start_of(item: yaml.Node) -> dt.date | None:
    got = _node_at(item, ("from",))
    try:
        return dt.date.fromisoformat(str(got.value)) if isinstance(got, yaml.ScalarNode) else None
    except ValueError:
        return None


def with_parameter_value(text: str, *, name: str, value: str, start: dt.date, clause: str = "") -> str:
    """The programme file's text with a parameter's value from a date on (replacing the value from the same
    date), its ``values`` list edited in place; ``AuthoringError`` says what is wrong."""
    value_text = value.strip()
    if not value_text or "\n" in value_text or "#" in value_text:
        raise AuthoringError("the value must be one line, e.g. 30%, 5_000_000, 2026-01-01 or [a, b]")
    try:
        wanted = yaml.safe_load(value_text)
    except yaml.YAMLError:
        raise AuthoringError(
            f"the value {value_text!r} is not a value (a number, a rate like 30%, a date, a word or a list)"
        ) from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        raise AuthoringError("the file does not read as YAML: correct it in the editor first") from None
    params = _node_at(root, ("parameters",)) if root is not None else None
    names = [k.value for k, _v in params.value] if isinstance(params, yaml.MappingNode) else []
    if name not in names:
        raise AuthoringError(
            f"there is no parameter {name!r}; the parameters are: {', '.join(names) or 'none'}"
        )
    node = _node_at(params, (name, "values")) if params is not None else None
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise AuthoringError(f"parameter {name!r} has no list of dated values to add to")
    new_item = _flow(value_text, start, clause.strip())
    items = node.value
    dates = [_start_of(i) for i in items]
    if node.flow_style:
        texts = [text[i.start_mark.index : i.end_mark.index] for i in items]
        kept = [(d, t) for d, t in zip(dates, texts, strict=True) if d != start]
        kept.append((start, new_item))
        kept.sort(key=lambda dt_: dt_[0] or dt.date.min)
        edited = (
            text[: node.start_mark.index]
            + "["
            + ", ".join(t for _d, t in kept)
            + "]"
            + text[node.end_mark.index :]
        )
    else:
        indent = " " * node.start_mark.column

        def end_of(item: yaml.Node) -> int:
            return len(text[: item.end_mark.index].rstrip())

        line_of = [text.rfind("\n", 0, i.start_mark.index) + 1 for i in items]
        same = [k for k, d in enumerate(dates) if d == start]
        later = [k for k, d in enumerate(dates) if d is not None and d > start]
        if same:
            k = same[0]
            edited = text[: line_of[k]] + f"{indent}- {new_item}" + text[end_of(items[k]) :]
        elif later:
            at = line_of[later[0]]
            edited = text[:at] + f"{indent}- {new_item}\n" + text[at:]
        else:
            at = end_of(items[-1])
            edited = text[:at] + f"\n{indent}- {new_item}" + text[at:]
    _check_edit(text, edited, name, start, wanted, clause.strip())
    return edited


def _check_edit(before: str, after: str, name: str, start: dt.date, wanted: Any, clause: str) -> None:
    """The edit changed that parameter's values exactly as asked, and nothing else."""
    try:
        old, new = yaml.safe_load(before), yaml.safe_load(after)
    except yaml.YAMLError:
        raise AuthoringError("the value would break the file; write it as a single value") from None
    expected = [v for v in old["parameters"][name]["values"] if v.get("from") != start]
    added = {"from": start, "value": wanted, **({"clause": clause} if clause else {})}
    expected = sorted([*expected, added], key=lambda v: v.get("from") or dt.date.min)
    rest_old = {k: v for k, v in old.items() if k != "parameters"}
    rest_new = {k: v for k, v in new.items() if k != "parameters"}
    others_old = {k: v for k, v in old["parameters"].items() if k != name}
    others_new = {k: v for k, v in new["parameters"].items() if k != name}
    if new["parameters"][name]["values"] != expected or rest_old != rest_new or others_old != others_new:
        raise AuthoringError(
            "the value would change more than the parameter's values; write it as a single value"
        )


def set_parameter_value(
    store: Store,
    *,
    registry: ProgrammeRegistry,
    draft_id: int,
    name: str,
    value: str,
    start: dt.date,
    clause: str = "",
    actor: str,
) -> lifecycle.DraftDocument:
    """Give a draft's parameter a value from a date on (a form for officers who do not write YAML), saved
    as the draft's new text when the file still loads (``ProgrammeError`` with positions otherwise)."""
    d = lifecycle.get_draft(store, draft_id=draft_id)
    text = with_parameter_value(d.text, name=name, value=value, start=start, clause=clause)
    return lifecycle.edit_draft(
        store,
        registry=registry,
        draft_id=draft_id,
        filename=d.filename,
        text=text,
        tests=d.tests,
        actor=actor,
    )


# --- a firm profile as a test case ------------------------------------------------------------------------


def _firm_by_code(store: Store, uscc: str) -> Firm:
    """A firm's stored profile, else its row of the register in the database."""
    try:
        return firm_profile(store, uscc=uscc)
    except FirmProfileNotFound:
        pass
    try:
        tables = nonempty_register(store, register=DB)
    except MatchingError:  # no register in this database: the code is not found
        tables = {}
    if tables:
        firms = tables["firms"]
        one = {"firms": firms.filter(pc.equal(firms["uscc"], uscc))}
        for key, table in tables.items():
            if key != "firms" and "uscc" in table.column_names:
                one[key] = table.filter(pc.equal(table["uscc"], uscc))
        found = [f for f in tables_to_firms(one) if f.uscc == uscc]
        if found:
            return found[0]
    raise AuthoringError(f"no firm with the credit code {uscc} in the register or the stored profiles")


def _case_yaml(
    name: str, on: dt.date, firm: dict[str, Any], eligible: bool, amount: Decimal, unmet: list[str]
) -> str:
    firm_json = orjson.dumps(firm).decode("utf-8")  # JSON is YAML: one line, exact
    expect = {"eligible": eligible, "amount": str(amount), "unmet": unmet}
    return (
        f"  - name: {json.dumps(name, ensure_ascii=False)}\n"
        f'    "on": {on.isoformat()}\n'
        f"    firm: {firm_json}\n"
        f"    expect: {json.dumps(expect, ensure_ascii=False)}\n"
    )


def append_case(tests: str, programme_id: str, snippet: str) -> str:
    """The tests text with one more case (a new tests file for the programme when there is none)."""
    if not tests.strip():
        return f"programme: {programme_id}\ncases:\n{snippet}"
    body = tests if tests.endswith("\n") else tests + "\n"
    before = yaml.safe_load(tests) or {}
    after_text = body + snippet
    try:
        after = yaml.safe_load(after_text)
        ok = isinstance(after, dict) and len(after.get("cases") or []) == len(before.get("cases") or []) + 1
    except yaml.YAMLError:
        ok = False
    if ok:
        return after_text
    data = dict(before) if isinstance(before, dict) else {}
    data.setdefault("programme", programme_id)
    data["cases"] = [
        *(data.get("cases") or []),
        yaml.safe_load(snippet.replace("\n  ", "\n").removeprefix("  "))[0],
    ]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def add_firm_case(
    store: Store,
    *,
    registry: ProgrammeRegistry,
    draft_id: int,
    on: dt.date,
    actor: str,
    example: str | None = None,
    uscc: str | None = None,
    name: str = "",
) -> CaseAdded:
    """Turn a firm profile (an example firm, or a firm by credit code) into a test case of a draft: the firm
    as it is, the date, and what the draft decides for it (eligible, amount, unmet) as the expectation the
    officer confirms or corrects; saved in the draft's tests."""
    d = lifecycle.get_draft(store, draft_id=draft_id)
    if example:
        examples = example_firms()
        if example not in examples:
            raise AuthoringError(f"no example firm {example!r}; there are: {', '.join(sorted(examples))}")
        firm = parse_firm(orjson.loads(examples[example]), source=example)
    elif uscc:
        firm = _firm_by_code(store, uscc.strip().upper())
    else:
        raise AuthoringError("choose an example firm or give a credit code")
    programme, trial = registry.trial(d.filename, d.text)
    try:
        result = Engine(trial.on(on), firm, on).evaluate(programme.id)
    except ProfileError as exc:  # pragma: no cover - the profile was read already
        raise AuthoringError(str(exc)) from None
    data = firm.model_dump(mode="json", exclude_none=True)
    label = name.strip() or f"{firm.name_zh} ({firm.uscc}) on {on.isoformat()}"
    snippet = _case_yaml(label, on, data, result.eligible, result.amount, list(result.unmet))
    tests = append_case(d.tests, programme.id, snippet)
    try:
        saved = lifecycle.edit_draft(
            store,
            registry=registry,
            draft_id=draft_id,
            filename=d.filename,
            text=d.text,
            tests=tests,
            actor=actor,
        )
    except ProgrammeError as exc:  # the case did not read back: say where
        raise ProgrammeError([Problem(Location("tests"), str(p)) for p in exc.problems]) from None
    return CaseAdded(snippet, result.eligible, str(result.amount), tuple(result.unmet), saved)


__all__ = [
    "AuthoringError",
    "CaseAdded",
    "DraftNotFound",
    "MatchingError",
    "PositionedProblem",
    "PublishingError",
    "SourceView",
    "TextCheck",
]
