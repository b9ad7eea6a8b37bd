"""Loading programme files and packs: all-or-nothing, every problem with file:line:column."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from huiqi.firms.errors import format_loc
from huiqi.firms.io import TextFileError, read_text_any_encoding
from huiqi.rules.errors import Location, Problem, ProgrammeError
from huiqi.rules.gcpause import gc_paused
from huiqi.rules.programme import Problems, Programme, build_programme
from huiqi.rules.spec import ProgrammeSpec
from huiqi.rules.versions import Versions, overlaps
from huiqi.rules.yamlpos import MAX_CHARS, Pos, YamlError, load_with_positions, nearest

PROGRAMME_SUFFIX = ".programme.yaml"


@dataclass
class _Raw:
    path: str
    text: str
    data: Any
    positions: dict[tuple[str | int, ...], Pos]


def expr_location(path: str, text: str, pos: Pos, line: int, column: int) -> Location:
    """Map a line/column inside an expression to the file, for plain, quoted and block scalars."""
    if not line:
        return Location(path, pos.line, pos.column)
    lines = text.splitlines()
    if pos.style == ">" and line == 1:
        # folded: the file's lines were joined with single spaces; walk them to find the column
        offset = column - 1
        for file_line in range(pos.line + 1, len(lines) + 1):
            src = lines[file_line - 1]
            stripped = src.strip()
            if not stripped:
                break
            indent = len(src) - len(src.lstrip(" "))
            if offset <= len(stripped):
                return Location(path, file_line, indent + offset + 1)
            offset -= len(stripped) + 1
    if pos.style in ("|", ">"):
        file_line = pos.line + line
        src = text.splitlines()[file_line - 1] if file_line - 1 < len(text.splitlines()) else ""
        indent = len(src) - len(src.lstrip(" "))
        return Location(path, file_line, indent + column)
    if line == 1:
        return Location(path, pos.line, pos.column + column - 1 + (1 if pos.style in ("'", '"') else 0))
    return Location(path, pos.line + line - 1, column)


def _read(path: Path) -> _Raw:
    name = str(path)
    try:  # UTF-8 (with or without a BOM), or GB18030/UTF-16 as a Chinese Windows editor may save it
        text = read_text_any_encoding(path, max_bytes=MAX_CHARS)
    except TextFileError as exc:
        raise ProgrammeError([Problem(Location(name), exc.message)]) from None
    try:
        data, positions = load_with_positions(text)
    except YamlError as exc:
        raise ProgrammeError([Problem(Location(name, exc.line, exc.column), exc.message)]) from None
    return _Raw(name, text, data, positions)


def _spec(raw: _Raw) -> ProgrammeSpec:
    if not isinstance(raw.data, dict):
        raise ProgrammeError([Problem(Location(raw.path, 1, 1), "a programme file must be a mapping")])
    try:
        return ProgrammeSpec.model_validate(raw.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            pos = nearest(raw.positions, loc)
            where = format_loc(loc)
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown field {loc[-1]!r} (see `huiqi schema programme`)"
            elif err["type"] == "missing":
                msg = f"required field {loc[-1]!r} is missing"
            problems.append(Problem(Location(raw.path, pos.line, pos.column), f"{where}: {msg}"))
        raise ProgrammeError(problems) from None


@gc_paused
def load_programmes(paths: Iterable[Path], *, known_ids: Iterable[str] = ()) -> Versions:
    """Load several programme files together (they may refer to each other); refuse all if any is bad.
    Several versions of one programme may be among them; the same version twice, or two versions whose
    effective periods overlap, are refused at the later file's ``version`` or ``effective``."""
    raws = [_read(Path(p)) for p in paths]
    problems: list[Problem] = []
    specs: list[tuple[_Raw, ProgrammeSpec]] = []
    for raw in raws:
        try:
            specs.append((raw, _spec(raw)))
        except ProgrammeError as exc:
            problems.extend(exc.problems)
    all_ids = {spec.id for _, spec in specs} | set(known_ids)
    programmes: list[Programme] = []
    for raw, spec in specs:
        found = Problems()
        digest = hashlib.sha256(raw.text.encode("utf-8")).hexdigest()
        prog = build_programme(
            spec, source=raw.path, digest=digest, knows_programme=all_ids.__contains__, problems=found
        )
        for loc, message, line, column in found:
            pos = nearest(raw.positions, loc)
            where = format_loc(loc)
            location = (
                expr_location(raw.path, raw.text, pos, line, column)
                if line
                else Location(raw.path, pos.line, pos.column)
            )
            problems.append(Problem(location, f"{where}: {message}"))
        if prog is not None:
            problems.extend(_clashes(prog, raw, programmes))
            programmes.append(prog)
    loaded = Versions(programmes)
    problems.extend(find_cycles({pid: loaded.versions(pid)[-1] for pid in loaded}, loaded))
    if problems:
        raise ProgrammeError(problems)
    return loaded


def _clashes(prog: Programme, raw: _Raw, earlier: list[Programme]) -> list[Problem]:
    """A version loaded twice, or a period that overlaps an earlier-loaded version of the same programme."""
    out: list[Problem] = []
    for other in earlier:
        if other.id != prog.id:
            continue
        if other.version == prog.version:
            pos = nearest(raw.positions, ("version",))
            out.append(
                Problem(
                    Location(raw.path, pos.line, pos.column),
                    f"version {prog.version} of programme {prog.id!r} is also in {other.source}",
                )
            )
        elif overlaps(prog, other):
            pos = nearest(raw.positions, ("effective",))
            eff, oeff = prog.spec.effective, other.spec.effective
            out.append(
                Problem(
                    Location(raw.path, pos.line, pos.column),
                    f"effective: {prog.id} version {prog.version} ({eff.start} to {eff.end or 'open'}) "
                    f"overlaps version {other.version} ({oeff.start} to {oeff.end or 'open'}) in "
                    f"{other.source}; give one of them an end before the other starts",
                )
            )
    return out


def find_cycles(programmes: Mapping[str, Programme], versions: Versions | None = None) -> list[Problem]:
    """Cycles of eligible() references between programmes (through any of their ``versions``), each a
    problem at the first reference."""
    problems: list[Problem] = []

    def depends_on(pid: str) -> set[str]:
        if versions is None or pid not in versions:
            return programmes[pid].depends_on
        return set().union(*(p.depends_on for p in versions.versions(pid)))

    state: dict[str, int] = {}

    def visit(pid: str, trail: list[str]) -> None:
        if state.get(pid) == 2 or pid not in programmes:
            return
        if state.get(pid) == 1:
            cycle = " -> ".join([*trail[trail.index(pid) :], pid])
            problems.append(
                Problem(Location(programmes[pid].source), f"programmes refer to each other: {cycle}")
            )
            return
        state[pid] = 1
        for dep in sorted(depends_on(pid)):
            visit(dep, [*trail, pid])
        state[pid] = 2

    for pid in sorted(programmes):
        visit(pid, [])
    return problems


def programme_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob(f"*{PROGRAMME_SUFFIX}"))


def bundled_pack_dir(name: str) -> Path:
    return Path(str(resources.files("huiqi.programmes").joinpath(name)))


def bundled_packs() -> list[str]:
    root = Path(str(resources.files("huiqi.programmes")))
    return sorted(p.name for p in root.iterdir() if p.is_dir() and programme_files(p))


def load_pack(*names_or_dirs: str | Path) -> Versions:
    """Load bundled packs by name (``shanghai``) or directories of programme files, together."""
    files: list[Path] = []
    for item in names_or_dirs or tuple(bundled_packs()):
        path = Path(item)
        directory = path if path.is_dir() else bundled_pack_dir(str(item))
        if not directory.is_dir():
            raise ProgrammeError([Problem(Location(str(item)), "no such pack or directory")])
        files += programme_files(directory)
    return load_programmes(files)
