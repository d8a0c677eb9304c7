"""Spec files on disk: read with line numbers, validate, and the defaults shipped in ``specs/``.

A spec is edited as YAML (or JSON) by people, so every problem is reported at its place in the
file — ``walls/default.yaml:14: scenes[0].panels[2].indicator: unknown indicator 'x'`` — the way a
compiler does. ``yaml.safe_load`` forgets where things were and silently keeps the last of two
equal keys, so files are composed into YAML nodes first: the node marks give a line per spec path
(in ``model.format_path``'s notation) and duplicate keys are found before the data is built.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import queries
from queries.specs.model import (
    SpecCatalogue,
    SpecError,
    SpecResult,
    WallSpec,
    validate_briefing,
    validate_wall,
)

SPEC_KINDS = ("wall", "briefing")
SPEC_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class FileError:
    """One problem in one file, printed ``FILE:LINE: PATH: MESSAGE`` (no line when the file is unreadable)."""

    file: str
    line: int | None
    path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{place}: {self.path or '(document)'}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column, "path": self.path, "message": self.message}


class DocumentError(ValueError):
    """A file that cannot be read as a spec document at all (syntax, encoding, duplicate keys)."""

    def __init__(self, errors: list[FileError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class ShippedSpecError(ValueError):
    """A default spec shipped in ``specs/`` is broken: the app must not start on a guess."""

    def __init__(self, errors: list[FileError]):
        self.errors = errors
        files = sorted({e.file for e in errors})
        super().__init__(f"invalid shipped spec file(s) {', '.join(files)}:\n" + "\n".join(f"  {e}" for e in errors))


@dataclass
class _Document:
    data: object = None
    line_of: dict[str, int] = field(default_factory=dict)
    problems: list[FileError] = field(default_factory=list)
    readable: bool = False  # data was built (possibly with duplicate keys resolved last-wins)


# --- reading ------------------------------------------------------------------------------------


def _child(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _walk(node, path: str, line_of: dict[str, int], duplicates: list[tuple[str, str, int]], stack: frozenset) -> None:
    """Record the line of every path below ``node`` and every key repeated within one mapping."""
    if id(node) in stack:  # a recursive alias; safe_load refuses it later anyway
        return
    stack = stack | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<' merges are overrides, not duplicates
                continue
            here = _child(path, key_node.value)
            if key_node.value in seen:
                duplicates.append((here, key_node.value, key_node.start_mark.line + 1))
            else:
                line_of[here] = key_node.start_mark.line + 1
            seen.add(key_node.value)
            _walk(value_node, here, line_of, duplicates, stack)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = _child(path, index)
            line_of.setdefault(here, item.start_mark.line + 1)
            _walk(item, here, line_of, duplicates, stack)


def _compose(text: str) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    loader = yaml.SafeLoader(text)
    try:
        return loader, loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise


def _syntax_error(file: str, exc: yaml.YAMLError) -> FileError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    message = f"invalid YAML: {problem}"
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        message += f" ({context} at line {context_mark.line + 1})"
    elif context:
        message += f" ({context})"
    if mark is None:
        return FileError(file, None, "", message)
    return FileError(file, mark.line + 1, "", f"{message}, column {mark.column + 1}", column=mark.column + 1)


def _duplicate_errors(file: str, duplicates: list[tuple[str, str, int]]) -> list[FileError]:
    return [FileError(file, line, path, f"duplicate key {key!r} in this mapping (YAML would silently keep the last one)")
            for path, key, line in duplicates]


def _read_text(path: Path, file: str) -> tuple[str | None, list[FileError]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [FileError(file, None, "", f"cannot read the file: {exc.strerror or exc}")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [FileError(file, line, "", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")]


def _read_yaml(text: str, file: str) -> _Document:
    try:
        loader, node = _compose(text)
    except yaml.YAMLError as exc:
        return _Document(problems=[_syntax_error(file, exc)])
    try:
        if node is None:
            return _Document(problems=[FileError(file, 1, "", "the file is empty")])
        line_of = {"": node.start_mark.line + 1}
        duplicates: list[tuple[str, str, int]] = []
        _walk(node, "", line_of, duplicates, frozenset())  # before construction: merges rewrite the nodes
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError as exc:  # e.g. an unknown !tag
            return _Document(line_of=line_of, problems=[_syntax_error(file, exc)])
        return _Document(data, line_of, _duplicate_errors(file, duplicates), readable=True)
    finally:
        loader.dispose()


def _read_json(text: str, file: str) -> _Document:
    """Data from ``json`` itself (YAML 1.1 would read ``1e5`` as a string); lines from YAML nodes."""
    repeated: list[str] = []

    def pairs(items):
        keys = [k for k, _ in items]
        repeated.extend(k for i, k in enumerate(keys) if k in keys[:i])
        return dict(items)

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return _Document(problems=[FileError(file, exc.lineno, "", f"invalid JSON: {exc.msg}, column {exc.colno}", column=exc.colno)])
    line_of: dict[str, int] = {}
    duplicates: list[tuple[str, str, int]] = []
    try:
        # In valid JSON a tab can only be whitespace between tokens; YAML refuses it there.
        loader, node = _compose(text.replace("\t", " "))
        loader.dispose()
    except yaml.YAMLError:
        node = None
    if node is not None:
        line_of[""] = node.start_mark.line + 1
        _walk(node, "", line_of, duplicates, frozenset())
        problems = _duplicate_errors(file, duplicates)
    else:
        problems = [FileError(file, 1, "", f"duplicate key {key!r} in one object (JSON readers keep only the last one)") for key in repeated]
    return _Document(data, line_of, problems, readable=True)


def _read(path: Path) -> _Document:
    file = str(path)
    text, problems = _read_text(path, file)
    if text is None:
        return _Document(problems=problems)
    return _read_json(text, file) if path.suffix.lower() == ".json" else _read_yaml(text, file)


def load_document(path: str | Path) -> tuple[object, dict[str, int]]:
    """The parsed document (``yaml.safe_load`` semantics; JSON for ``.json``) and the 1-based line
    of every spec path in it (``scenes[0].panels[2].indicator``; ``""`` is the document).

    Raises ``DocumentError`` (with line and column) for a syntax error, a file that is not UTF-8,
    or a key given twice in one mapping — YAML would silently keep the last one.
    """
    document = _read(Path(path))
    if document.problems:
        raise DocumentError(document.problems)
    return document.data, document.line_of


def line_for(spec_path: str, line_of: dict[str, int]) -> int | None:
    """Line of a path, or of the nearest enclosing node that has one (a missing field → its mapping)."""
    path = spec_path
    while True:
        if path in line_of:
            return line_of[path]
        if not path:
            return None
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""


# --- validating ---------------------------------------------------------------------------------


def validate_spec(data, catalogue: SpecCatalogue | None = None) -> SpecResult:
    """Validate a parsed document of any spec kind (chosen by its ``kind``); no catalogue = structure only."""
    catalogue = SpecCatalogue() if catalogue is None else catalogue
    kind = data.get("kind") if isinstance(data, dict) else None
    if isinstance(data, dict) and kind is None:
        return SpecResult(None, [SpecError("kind", f"missing 'kind'; one of: {', '.join(SPEC_KINDS)}")])
    if kind == "wall" or not isinstance(data, dict):
        return validate_wall(data, catalogue)
    if kind == "briefing":
        return validate_briefing(data, catalogue)
    return SpecResult(None, [SpecError("kind", f"unknown kind {kind!r}; one of: {', '.join(SPEC_KINDS)}")])


@dataclass
class _Checked:
    document: _Document
    result: SpecResult | None
    errors: list[FileError]


def _check(path: Path, catalogue: SpecCatalogue, validate=validate_spec) -> _Checked:
    document = _read(path)
    errors = list(document.problems)
    result = None
    if document.readable:
        result = validate(document.data, catalogue)
        errors += [FileError(str(path), line_for(e.path, document.line_of), e.path, e.message) for e in result.errors]
    errors.sort(key=lambda e: e.line or 0)  # stable: the model's order within a line
    return _Checked(document, result, errors)


def validate_file(path: str | Path, catalogue: SpecCatalogue | None = None) -> list[FileError]:
    """Every problem of one spec file, each with its line; empty when the file is valid."""
    return _check(Path(path), SpecCatalogue() if catalogue is None else catalogue).errors


def collect_spec_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[FileError]]:
    """The spec files named or found under directories (recursively, sorted; hidden entries skipped),
    and an error for each path that does not exist, is not a spec file or holds none."""
    files: list[Path] = []
    errors: list[FileError] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SPEC_SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                errors.append(FileError(str(path), None, "", f"no spec files ({', '.join(SPEC_SUFFIXES)}) in this directory"))
            files += found
        elif path.is_file():
            if path.suffix.lower() in SPEC_SUFFIXES:
                files.append(path)
            else:
                errors.append(FileError(str(path), None, "", f"not a spec file: expected {', '.join(SPEC_SUFFIXES)}"))
        else:
            errors.append(FileError(str(path), None, "", "no such file or directory"))
    unique = list(dict.fromkeys(files))  # a file named twice (directly and through its folder) is checked once
    return unique, errors


def validate_paths(paths: Iterable[str | Path], catalogue: SpecCatalogue | None = None) -> list[FileError]:
    """Every problem of every spec file named or found under the directories given, including two
    files declaring the same spec (kind and id)."""
    catalogue = SpecCatalogue() if catalogue is None else catalogue
    files, errors = collect_spec_files(paths)
    declared: dict[tuple[str, str], str] = {}
    for path in files:
        checked = _check(path, catalogue)
        errors += checked.errors
        data = checked.document.data
        if isinstance(data, dict) and isinstance(data.get("kind"), str) and isinstance(data.get("id"), str):
            key = (data["kind"], data["id"])
            line = line_for("id", checked.document.line_of)
            if key in declared:
                errors.append(FileError(str(path), line, "id", f"{key[0]} {key[1]!r} is already declared in {declared[key]}"))
            else:
                declared[key] = str(path) if line is None else f"{path}:{line}"
    return errors


# --- the shipped defaults ----------------------------------------------------------------------


def default_specs_dir(settings=None) -> Path:
    """``CITYOPS_SPECS_DIR``, else the ``specs/`` folder next to the packages in the source tree."""
    configured = getattr(settings, "specs_dir", None)
    if configured is not None:
        return Path(configured)
    return Path(queries.__file__).resolve().parent.parent / "specs"


SHIPPED_FOLDERS = {"wall": "walls", "briefing": "briefings"}


def shipped_specs(kind: str, settings=None) -> dict:
    """The specs of ``kind`` shipped in ``specs/walls/`` or ``specs/briefings/`` by id, checked
    structurally (no catalogue at hand).

    Raises ``ShippedSpecError`` naming every broken file; no folder means none shipped.
    """
    folder = default_specs_dir(settings) / SHIPPED_FOLDERS[kind]
    if not folder.is_dir():
        return {}
    validate = validate_wall if kind == "wall" else validate_briefing
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SPEC_SUFFIXES and not p.name.startswith("."))
    specs: dict = {}
    where: dict[str, str] = {}
    errors: list[FileError] = []
    for path in files:
        checked = _check(path, SpecCatalogue(), validate=validate)
        errors += checked.errors
        spec = checked.result.spec if checked.result is not None and not checked.errors else None
        if spec is None:
            continue
        if spec.id in specs:
            errors.append(FileError(str(path), line_for("id", checked.document.line_of), "id", f"{kind} {spec.id!r} is already declared in {where[spec.id]}"))
            continue
        specs[spec.id] = spec
        where[spec.id] = str(path)
    if errors:
        raise ShippedSpecError(errors)
    return specs


def shipped_walls(settings=None) -> dict[str, WallSpec]:
    return shipped_specs("wall", settings)
