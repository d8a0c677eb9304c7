"""Specs in and out of the database as YAML files: ``cityops specs export DIR`` / ``import DIR``.

What a folder holds (export writes it, import reads it)::

    DIR/walls/<id>.yaml              every wall as walls show it: its published version, else the shipped file
    DIR/briefings/<id>.yaml          every briefing, likewise
    DIR/drafts/walls/<id>.yaml       (export --drafts) the newest saved version of a spec when it is
    DIR/drafts/briefings/<id>.yaml    above the published one (or nothing is published): work in progress

A file is the spec in one canonical form — the validated model without its default values, keys
in the model's order (``id`` and ``type`` first in a panel or section), Chinese as Chinese
(``allow_unicode``), small mappings and lists of plain values on one line — under a comment header
naming the version, its author and when it was exported. The same spec always gives the same bytes
below the header, so a folder can be diffed, reviewed and kept in version control, and
export → import → export gives back the same specs.

Import checks every file first, against the database's catalogue like ``cityops specs validate``
(file, line and path of every problem, nothing written when there is one), then writes in the
caller's transaction: a new version of each spec that differs from what is live, published unless
asked for drafts; a spec equal to what is live is left alone and reported unchanged. A failure at
write time raises, and the caller's transaction (one for the whole import) rolls everything back.
Nothing here writes the audit log: the caller does, in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError
from sqlalchemy import Connection, and_, func, select

from queries.schema import SpecHead, SpecVersion
from queries.specs.files import (
    SHIPPED_FOLDERS,
    SPEC_SUFFIXES,
    FileError,
    line_for,
    load_document,
    shipped_specs,
    validate_paths,
    validate_spec,
)
from queries.specs.model import BriefingSpec, SpecCatalogue, WallSpec
from queries.specs.store import effective_spec, publish, published_spec, save_version

SPEC_KINDS = ("wall", "briefing")
FOLDERS = dict(SHIPPED_FOLDERS)  # kind → folder name: walls, briefings
KIND_OF_FOLDER = {folder: kind for kind, folder in FOLDERS.items()}
DRAFTS_FOLDER = "drafts"
log = logging.getLogger(__name__)
HEADER_MARK = "# cityops spec export"  # first line of every exported file (stale exports are recognised by it)
MODELS = {"wall": WallSpec, "briefing": BriefingSpec}


# --- the canonical form ---------------------------------------------------------------------------


def canonical(spec: WallSpec | BriefingSpec) -> dict:
    """The spec as plain data in its one canonical form (what files and stored versions hold)."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data = {"kind": data.pop("kind"), "spec_version": spec.spec_version, **data}
    return _tidy(data)


def _tidy(value):
    if isinstance(value, dict):
        if set(value) == {"zh"}:  # a text in Chinese only is written as a plain string
            return value["zh"]
        first = [key for key in ("id", "type") if key in value] if "type" in value else []  # a panel or a section
        return {key: _tidy(value[key]) for key in [*first, *(k for k in value if k not in first)]}
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    return value


class _FlowMap(dict):
    pass


class _FlowList(list):
    pass


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:  # never &id001 anchors, even for equal values
        return True


_Dumper.add_representer(_FlowMap, lambda dumper, value: dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True))
_Dumper.add_representer(_FlowList, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True))

_SCALARS = (str, int, float, bool, type(None))
FLOW_MAX_ITEMS = 6


def _flowed(value):
    """Mappings of a few plain values (a placement, a title) and lists of plain values on one line."""
    if isinstance(value, dict):
        items = {key: _flowed(item) for key, item in value.items()}
        if items and len(items) <= FLOW_MAX_ITEMS and all(isinstance(item, _SCALARS) for item in items.values()):
            return _FlowMap(items)
        return items
    if isinstance(value, list):
        items = [_flowed(item) for item in value]
        return _FlowList(items) if items and all(isinstance(item, _SCALARS) for item in items) else items
    return value


def spec_body_text(spec: WallSpec | BriefingSpec) -> str:
    """The YAML of a spec below the header: the same bytes for the same spec, always."""
    return yaml.dump(_flowed(canonical(spec)), Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False,
                     width=120, indent=2)


def split_header(text: str) -> tuple[str, str]:
    """(header comment lines, the spec's YAML) of an exported file's text."""
    lines = text.splitlines(keepends=True)
    cut = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "".join(lines[:cut]), "".join(lines[cut:])


# --- what the database holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredSpec:
    """One spec as export writes it: the model, and where it came from."""

    kind: str
    spec_id: str
    spec: WallSpec | BriefingSpec
    version: int | None  # None: the file shipped in specs/ (no version in the database)
    author: str | None = None
    draft: bool = False

    @property
    def relative_path(self) -> Path:
        folder = Path(FOLDERS[self.kind])
        return (Path(DRAFTS_FOLDER) / folder if self.draft else folder) / f"{self.spec_id}.yaml"


def published_ids(conn: Connection, kind: str) -> list[str]:
    """Ids of the specs of a kind with a published, not deleted version in the database."""
    return list(conn.scalars(select(SpecHead.spec_id).where(SpecHead.kind == kind, SpecHead.deleted.is_(False),
                                                            SpecHead.published_version.is_not(None)).order_by(SpecHead.spec_id)))


def _version_author(conn: Connection, kind: str, spec_id: str, version: int) -> str | None:
    return conn.scalar(select(SpecVersion.author).where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id, SpecVersion.version == version))


def effective_specs(conn: Connection, kind: str, settings=None) -> list[StoredSpec]:
    """Every spec of a kind as screens show it — its published version, else the shipped file — by id
    (``queries.specs.store.effective_spec`` for all of them, reading the shipped files once).

    Raises ``queries.specs.files.ShippedSpecError`` when a shipped file is broken.
    """
    shipped = shipped_specs(kind, settings)
    specs = []
    for spec_id in sorted(set(shipped) | set(published_ids(conn, kind))):
        published = published_spec(conn, kind, spec_id)
        if published is not None:
            body, version = published
            try:
                specs.append(StoredSpec(kind, spec_id, MODELS[kind].model_validate(body), version, _version_author(conn, kind, spec_id, version)))
                continue
            except ValidationError as exc:  # as effective_spec: the shipped file rather than nothing
                log.warning("published %s %r version %s no longer validates, taking the shipped file: %s", kind, spec_id, version, exc)
        if spec_id in shipped:
            specs.append(StoredSpec(kind, spec_id, shipped[spec_id], None))
    return specs


@dataclass(frozen=True)
class Head:
    """The newest saved version of a spec and which one is published."""

    version: int
    body: dict
    author: str | None
    published_version: int | None
    deleted: bool


def head_version(conn: Connection, kind: str, spec_id: str) -> Head | None:
    newest = select(func.max(SpecVersion.version)).where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id).scalar_subquery()
    row = conn.execute(
        select(SpecVersion.version, SpecVersion.body, SpecVersion.author, SpecHead.published_version, SpecHead.deleted)
        .outerjoin(SpecHead, and_(SpecHead.kind == SpecVersion.kind, SpecHead.spec_id == SpecVersion.spec_id))
        .where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id, SpecVersion.version == newest)
    ).first()
    if row is None:
        return None
    return Head(row.version, row.body, row.author, row.published_version, bool(row.deleted))


def head_drafts(conn: Connection, kind: str) -> tuple[list[StoredSpec], list[str]]:
    """The newest saved version of every spec whose newest version is not the published one (deleted
    specs left out), and a note for each such version the model no longer reads."""
    ids = conn.scalars(
        select(SpecVersion.spec_id).distinct()
        .outerjoin(SpecHead, and_(SpecHead.kind == SpecVersion.kind, SpecHead.spec_id == SpecVersion.spec_id))
        .where(SpecVersion.kind == kind, (SpecHead.deleted.is_(None)) | (SpecHead.deleted.is_(False)))
        .order_by(SpecVersion.spec_id)
    ).all()
    drafts, notes = [], []
    for spec_id in ids:
        head = head_version(conn, kind, spec_id)
        if head is None or head.version == head.published_version:
            continue
        try:
            spec = MODELS[kind].model_validate(head.body)
        except ValidationError as exc:
            notes.append(f"{kind} {spec_id!r} version {head.version}: no longer a valid spec, not exported ({exc.error_count()} errors)")
            continue
        drafts.append(StoredSpec(kind, spec_id, spec, head.version, head.author, draft=True))
    return drafts, notes


# --- export ------------------------------------------------------------------------------------------


def _utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def file_text(stored: StoredSpec, exported_at: dt.datetime) -> str:
    """An exported file: the header (version, author, time of export), then the spec."""
    if stored.version is None:
        version = "none: the file shipped with cityops (no version in the database)"
        author = "(shipped with cityops)"
    else:
        version = f"{stored.version} ({'draft, not published' if stored.draft else 'published'})"
        author = stored.author or "(unknown)"
    header = [
        f"{HEADER_MARK} · {stored.kind} {stored.spec_id}",
        f"# version: {version}",
        f"# author: {author}",
        f"# exported: {_utc_text(exported_at)}",
    ]
    return "\n".join(header) + "\n" + spec_body_text(stored.spec)


@dataclass
class ExportReport:
    written: list[tuple[Path, StoredSpec]] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)  # exports of specs that no longer exist
    foreign: list[Path] = field(default_factory=list)  # spec files in the folders that export did not write (left alone)
    notes: list[str] = field(default_factory=list)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _export_folders(root: Path) -> list[Path]:
    return [root / folder for folder in FOLDERS.values()] + [root / DRAFTS_FOLDER / folder for folder in FOLDERS.values()]


def specs_to_export(conn: Connection, *, drafts: bool = False, settings=None) -> tuple[list[StoredSpec], list[str]]:
    specs: list[StoredSpec] = []
    notes: list[str] = []
    for kind in SPEC_KINDS:
        specs += effective_specs(conn, kind, settings)
        if drafts:
            found, skipped = head_drafts(conn, kind)
            specs += found
            notes += skipped
    return specs, notes


def export_specs(conn: Connection, root: str | Path, *, drafts: bool = False, settings=None, now: dt.datetime | None = None) -> ExportReport:
    """Write every spec into ``root`` (layout in the module docstring). Files of an earlier export
    of specs that no longer exist are removed; any other file is left alone and reported."""
    root = Path(root)
    exported_at = now or dt.datetime.now(dt.timezone.utc)
    specs, notes = specs_to_export(conn, drafts=drafts, settings=settings)
    report = ExportReport(notes=notes)
    texts = {}
    for stored in specs:
        text = file_text(stored, exported_at)
        again = MODELS[stored.kind].model_validate(yaml.safe_load(split_header(text)[1]))
        if again != stored.spec:  # the canonical form must read back as the same spec
            raise AssertionError(f"{stored.kind} {stored.spec_id!r}: the exported YAML does not read back as the same spec")
        texts[root / stored.relative_path] = (text, stored)
    for path, (text, stored) in texts.items():
        _write_atomically(path, text)
        report.written.append((path, stored))
    for folder in _export_folders(root):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix.lower() not in SPEC_SUFFIXES or path.name.startswith(".") or path in texts:
                continue
            try:
                first = path.read_text(encoding="utf-8").split("\n", 1)[0]
            except (OSError, UnicodeDecodeError):
                first = ""
            if first.startswith(HEADER_MARK):
                path.unlink()
                report.removed.append(path)
            else:
                report.foreign.append(path)
    return report


# --- import ------------------------------------------------------------------------------------------


class ImportInvalid(ValueError):
    """The folder does not import: every problem with its file, line and path."""

    def __init__(self, errors: list[FileError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


Action = Literal["publish", "publish_existing", "save", "unchanged"]


@dataclass
class ImportStep:
    """What import does with one file."""

    file: Path
    kind: str
    spec_id: str
    draft_file: bool  # from drafts/
    action: Action
    body: dict  # the canonical body
    reason: str = ""  # for unchanged: what it equals
    version: int | None = None  # the version written or published (after apply; planned number before)


@dataclass
class ImportReport:
    root: Path
    publish: bool
    steps: list[ImportStep] = field(default_factory=list)
    applied: bool = False

    def of(self, *actions: str) -> list[ImportStep]:
        return [step for step in self.steps if step.action in actions]

    def summary(self) -> dict:
        """Plain data for the audit log."""
        def name(step):
            return {"kind": step.kind, "id": step.spec_id, "version": step.version, "file": str(step.file.relative_to(self.root))}

        return {"dir": str(self.root), "mode": "publish" if self.publish else "draft",
                "published": [name(s) for s in self.of("publish", "publish_existing")],
                "saved": [name(s) for s in self.of("save")],
                "unchanged": [name(s) for s in self.of("unchanged")]}


def _location_errors(root: Path, files: list[Path]) -> tuple[list[Path], list[Path], list[FileError]]:
    """Files split into live ones and drafts by folder; an error for a file anywhere else."""
    live, drafts, errors = [], [], []
    for path in files:
        parts = path.relative_to(root).parts
        is_draft = parts[0] == DRAFTS_FOLDER
        where = parts[1:] if is_draft else parts
        if len(where) == 2 and where[0] in KIND_OF_FOLDER:
            (drafts if is_draft else live).append(path)
        else:
            errors.append(FileError(str(path), None, "", "not where specs go: DIR/walls/, DIR/briefings/ or DIR/drafts/walls/, "
                                                           "DIR/drafts/briefings/ (the layout `cityops specs export` writes)"))
    return live, drafts, errors


def _spec_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SPEC_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


@dataclass
class _Read:
    path: Path
    draft_file: bool
    spec: WallSpec | BriefingSpec


def read_folder(root: str | Path, catalogue: SpecCatalogue) -> list[_Read]:
    """Every spec file of ``root``, validated against ``catalogue``; raises ``ImportInvalid`` with
    every problem of every file (also a spec in the wrong folder, or given twice)."""
    root = Path(root)
    if not root.is_dir():
        raise ImportInvalid([FileError(str(root), None, "", "no such directory")])
    files = _spec_files(root)
    if not files:
        raise ImportInvalid([FileError(str(root), None, "", f"no spec files ({', '.join(SPEC_SUFFIXES)}) in this directory")])
    live, drafts, errors = _location_errors(root, files)
    # Live files and drafts are checked apart: a draft of a spec declares the same kind and id.
    errors += validate_paths(live, catalogue) if live else []
    errors += validate_paths(drafts, catalogue) if drafts else []
    broken = {e.file for e in errors}
    reads = []
    for path in [*live, *drafts]:
        if str(path) in broken:
            continue
        data, line_of = load_document(path)
        folder = path.parent.name
        if data.get("kind") != KIND_OF_FOLDER[folder]:
            errors.append(FileError(str(path), line_for("kind", line_of), "kind",
                                    f"a {data.get('kind')} spec in {folder}/: {FOLDERS[data['kind']]}/ holds the {data['kind']} specs"))
            continue
        result = validate_spec(data, catalogue)
        reads.append(_Read(path, path in drafts, result.spec))
    if errors:
        errors.sort(key=lambda e: (e.file, e.line or 0))
        raise ImportInvalid(errors)
    return reads


def plan_import(conn: Connection, root: str | Path, catalogue: SpecCatalogue, *, publish: bool = True, settings=None) -> ImportReport:
    """What importing ``root`` would do, spec by spec (validated; nothing written)."""
    root = Path(root)
    report = ImportReport(root, publish)
    reads = read_folder(root, catalogue)
    # Per spec: the live file first, then its draft (above it, as export found them).
    reads.sort(key=lambda r: (SPEC_KINDS.index(r.spec.kind), r.spec.id, r.draft_file))
    state: dict[tuple[str, str], dict] = {}
    for read in reads:
        kind, spec_id = read.spec.kind, read.spec.id
        model = MODELS[kind]
        current = state.get((kind, spec_id))
        if current is None:
            head = head_version(conn, kind, spec_id)
            try:
                effective = effective_spec(conn, kind, spec_id, settings)
            except LookupError:  # UnknownWall / UnknownBriefing: a new spec
                effective = None
            head_spec = None
            if head is not None:
                try:
                    head_spec = model.model_validate(head.body)
                except ValidationError:
                    head_spec = None
            current = {
                "head": head.version if head else 0,
                "head_spec": head_spec,
                "published": head.published_version if head and not head.deleted else None,
                "live_spec": effective.spec if effective else None,
                "live_from": (f"published version {effective.version}" if effective.version else "the shipped file") if effective else None,
            }
            state[(kind, spec_id)] = current
        as_draft = read.draft_file or not publish
        step = ImportStep(read.path, kind, spec_id, read.draft_file, "unchanged", canonical(read.spec))
        if not as_draft and current["live_spec"] == read.spec:
            step.reason = f"= {current['live_from']}"
            step.version = current["published"]
        elif not as_draft and current["head_spec"] == read.spec:
            step.action, step.version = "publish_existing", current["head"]
            current.update(published=current["head"], live_spec=read.spec, live_from=f"published version {current['head']}")
        elif as_draft and current["head_spec"] == read.spec:
            step.reason, step.version = f"= saved version {current['head']}", current["head"]
        elif as_draft and current["head_spec"] is None and current["live_spec"] == read.spec:
            step.reason = f"= {current['live_from']}"
        else:
            version = current["head"] + 1
            step.action, step.version = ("save" if as_draft else "publish"), version
            current.update(head=version, head_spec=read.spec)
            if not as_draft:
                current.update(published=version, live_spec=read.spec, live_from=f"published version {version}")
        report.steps.append(step)
    return report


def apply_import(conn: Connection, report: ImportReport, catalogue: SpecCatalogue, *, author: str | None) -> ImportReport:
    """Write the planned versions in the caller's transaction; any failure raises (roll it back)."""
    for step in report.steps:
        relative = step.file.relative_to(report.root)
        if step.action in ("publish", "save"):
            step.version = save_version(conn, step.body, author=author, comment=f"imported from {relative}", catalogue=catalogue)
        if step.action in ("publish", "publish_existing"):
            publish(conn, step.kind, step.spec_id, step.version, by=author, catalogue=catalogue)
    report.applied = True
    return report


def import_specs(conn: Connection, root: str | Path, catalogue: SpecCatalogue, *, author: str | None, publish: bool = True,
                 settings=None, dry_run: bool = False) -> ImportReport:
    """Validate every file of ``root`` (``ImportInvalid`` with every problem, nothing written), then
    write a version of each changed spec, published unless ``publish`` is False, in the caller's
    transaction. ``dry_run``: the plan only."""
    report = plan_import(conn, root, catalogue, publish=publish, settings=settings)
    return report if dry_run else apply_import(conn, report, catalogue, author=author)
