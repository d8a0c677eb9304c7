"""Spec versions in the database: save, publish, read what a wall shows.

Every save appends a version (``spec_versions``, never updated); ``spec_heads`` says which version
is published — what walls show. Versions above it are drafts; rolling back is publishing an older
version. A spec with no published version falls back to the file shipped in ``specs/``
(``effective_wall``), so a fresh installation shows the default wall without any setup.

Writes run in the caller's transaction (a failed publish leaves nothing behind). Publishing is
recorded in the change log under the system dataset ``specs`` so that the global data version
bumps and every open wall hears a ``data_version`` event (``queries.bus``) and reloads its spec.

What the studio (``/studio``) adds on top:

* ``rollback`` appends the body of an old version as the new head version (history is never
  rewritten) and publishes it **when the version it rolls back from — the head — was the
  published one**: undoing a live change makes the undo live too. When the head was a draft,
  the rollback is a draft as well and what walls show does not change.
* ``delete_spec`` archives a spec: it leaves the lists and walls (the published pointer is
  cleared; a wall then shows the shipped file of that id, if any), its versions are kept. Saving
  a version of that id again brings it back as a draft; publishing any version makes it live.
* ``version_diff`` is a unified diff of two versions as YAML (``to_yaml``), for people to read.
* ``spec_summaries`` lists the stored specs of a kind with their head and published versions.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from pydantic import ValidationError
import yaml
from sqlalchemy import Connection, and_, func, insert, or_, select, update

from queries.schema import Area, Dataset, Indicator, SpecHead, SpecVersion
from queries.specs.files import shipped_specs, validate_spec
from queries.specs.model import BriefingSpec, IndicatorFacts, SpecCatalogue, SpecError, WallSpec
from queries.writes import ensure_dataset, record_change, upsert

DEFAULT_WALL_ID = "default"
default_wall_id = DEFAULT_WALL_ID  # the wall a screen shows when its URL names none
SPECS_DATASET = "specs"  # catalogue code of the change-log entries of spec publications


class SpecInvalid(ValueError):
    """The spec does not validate; ``errors`` lists every problem with its place."""

    def __init__(self, errors: list[SpecError]):
        self.errors = list(errors)
        super().__init__(f"invalid spec ({len(self.errors)} error{'s' if len(self.errors) != 1 else ''}): " + "; ".join(str(e) for e in self.errors))


class UnknownVersion(LookupError):
    """No such saved version of a spec."""


class UnknownWall(LookupError):
    """No wall of that id, neither published in the database nor shipped in ``specs/walls/``."""

    def __init__(self, wall_id: str, known: Iterable[str]):
        self.wall_id = wall_id
        self.known = sorted(known)
        super().__init__(f"unknown wall {wall_id!r}; known walls: {', '.join(self.known) or '(none)'}")


class UnknownBriefing(LookupError):
    """No briefing of that id, neither published in the database nor shipped in ``specs/briefings/``."""

    def __init__(self, briefing_id: str, known: Iterable[str]):
        self.briefing_id = briefing_id
        self.known = sorted(known)
        super().__init__(f"unknown briefing {briefing_id!r}; known briefings: {', '.join(self.known) or '(none)'}")


@dataclass(frozen=True)
class SpecVersionInfo:
    version: int
    author: str | None
    created_at: dt.datetime
    comment: str | None
    published: bool


@dataclass(frozen=True)
class EffectiveSpec:
    """The wall spec to show and where it came from (``version`` is None for the shipped file)."""

    spec: WallSpec
    version: int | None
    source: Literal["database", "file"]


def catalogue_from_db(conn: Connection, layer_names: Iterable[str] = ()) -> SpecCatalogue:
    """What specs may name: indicator, dataset and area codes from the database; the map layers
    from the caller (queries cannot import ``layers``). An empty table leaves that kind unchecked.

    All area codes as a frozenset: 20–30 ms and a few MB for 30k codes (SQLite and PostGIS), so
    build it per validation (save, publish, CLI), never per render.
    """
    facts = {row.code: IndicatorFacts(row.unit, row.good_direction or "neutral")
             for row in conn.execute(select(Indicator.code, Indicator.unit, Indicator.good_direction))}
    return SpecCatalogue(
        indicators=frozenset(facts),
        indicator_facts=MappingProxyType(facts),
        layers=frozenset(layer_names),
        areas=frozenset(conn.scalars(select(Area.code))),
        datasets=frozenset(conn.scalars(select(Dataset.code).where(Dataset.code != SPECS_DATASET))),
    )


def _validated(conn: Connection, body, catalogue: SpecCatalogue | None) -> None:
    result = validate_spec(body, catalogue_from_db(conn) if catalogue is None else catalogue)
    if not result.ok:
        raise SpecInvalid(result.errors or [SpecError("", "the spec does not validate")])


def save_version(conn: Connection, body: dict, *, author: str | None, comment: str | None = None,
                 catalogue: SpecCatalogue | None = None) -> int:
    """Append a version of the spec ``body`` (kind and id from it); returns its number.

    Validated first against ``catalogue`` (default: the database's, layers unchecked — pass
    ``catalogue_from_db(conn, layers.layer_names())`` from the app); an invalid body raises
    ``SpecInvalid`` with every error and writes nothing. Saving does not publish.
    """
    _validated(conn, body, catalogue)
    try:
        stored = json.loads(json.dumps(body, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise SpecInvalid([SpecError("", f"not storable as JSON: {exc}")]) from exc
    kind, spec_id = body["kind"], body["id"]
    latest = conn.execute(
        select(func.max(SpecVersion.version)).where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id)
    ).scalar_one()
    version = (latest or 0) + 1
    conn.execute(insert(SpecVersion).values(kind=kind, spec_id=spec_id, version=version, body=stored, author=author,
                                            created_at=dt.datetime.now(dt.timezone.utc), comment=comment))
    # Saving an archived (deleted) spec's id again brings it back, as a draft: nothing is live until published.
    conn.execute(update(SpecHead).where(SpecHead.kind == kind, SpecHead.spec_id == spec_id, SpecHead.deleted.is_(True))
                 .values(deleted=False, published_version=None))
    return version


def publish(conn: Connection, kind: str, spec_id: str, version: int, *, by: str | None,
            catalogue: SpecCatalogue | None = None) -> int:
    """Make a saved version the one walls show (also a rollback, or an undelete); returns the new data version.

    Refuses a version that does not exist (``UnknownVersion``) or no longer validates against the
    catalogue (``SpecInvalid``: e.g. an indicator removed since it was saved).
    """
    body = conn.execute(
        select(SpecVersion.body).where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id, SpecVersion.version == version)
    ).scalar_one_or_none()
    if body is None:
        raise UnknownVersion(f"{kind} {spec_id!r} has no version {version}")
    _validated(conn, body, catalogue)
    now = dt.datetime.now(dt.timezone.utc)
    upsert(conn, SpecHead.__table__, [{"kind": kind, "spec_id": spec_id, "published_version": version, "published_at": now,
                                       "published_by": by, "deleted": False}], key=["kind", "spec_id"])
    return _record_specs_change(conn, "publish", now, {"kind": kind, "spec_id": spec_id, "version": version})


def _record_specs_change(conn: Connection, action: str, at: dt.datetime, detail: dict) -> int:
    """A change-log entry of the ``specs`` system dataset: open walls hear it and re-lay themselves out."""
    # The change log needs a catalogue entry to name the tables written (dataset_tables has a foreign key).
    ensure_dataset(conn, SPECS_DATASET, name="大屏与简报配置", name_en="Wall and briefing specs", provider="城市运行管理中心",
                   provider_en="City operations centre", sharing_type="none", update_cycle="on_demand",
                   description="Published versions of wall and briefing specs (cityops system data, not a shared dataset).")
    return record_change(conn, SPECS_DATASET, action, 1, tables=["spec_versions", "spec_heads"], at=at, detail=detail)


def published_spec(conn: Connection, kind: str, spec_id: str) -> tuple[dict, int] | None:
    """The published body and its version, or None (never published, or deleted)."""
    row = conn.execute(
        select(SpecVersion.body, SpecVersion.version)
        .join(SpecHead, and_(SpecHead.kind == SpecVersion.kind, SpecHead.spec_id == SpecVersion.spec_id,
                             SpecHead.published_version == SpecVersion.version))
        .where(SpecHead.kind == kind, SpecHead.spec_id == spec_id, SpecHead.deleted.is_(False))
    ).first()
    return None if row is None else (row.body, row.version)


def list_versions(conn: Connection, kind: str, spec_id: str) -> list[SpecVersionInfo]:
    """Every saved version, newest first, with the published one flagged."""
    published = conn.execute(
        select(SpecHead.published_version).where(SpecHead.kind == kind, SpecHead.spec_id == spec_id, SpecHead.deleted.is_(False))
    ).scalar_one_or_none()
    rows = conn.execute(
        select(SpecVersion.version, SpecVersion.author, SpecVersion.created_at, SpecVersion.comment)
        .where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id)
        .order_by(SpecVersion.version.desc())
    )
    return [SpecVersionInfo(r.version, r.author, r.created_at, r.comment, r.version == published) for r in rows]


def spec_ids(conn: Connection, kind: str) -> list[str]:
    """Ids of the specs of a kind saved in the database (drafts included, deleted ones not), sorted."""
    stmt = (
        select(SpecVersion.spec_id).distinct()
        .outerjoin(SpecHead, and_(SpecHead.kind == SpecVersion.kind, SpecHead.spec_id == SpecVersion.spec_id))
        .where(SpecVersion.kind == kind, or_(SpecHead.deleted.is_(None), SpecHead.deleted.is_(False)))
        .order_by(SpecVersion.spec_id)
    )
    return list(conn.scalars(stmt))


def effective_spec(conn: Connection, kind: str, spec_id: str, settings=None) -> EffectiveSpec:
    """The spec to show: its published database version, else the file shipped in ``specs/``.

    A published body the model no longer accepts (the model changed since) is skipped with a
    warning for the shipped file rather than leaving the screen blank. Raises ``UnknownWall`` /
    ``UnknownBriefing``.
    """
    model = WallSpec if kind == "wall" else BriefingSpec
    published = published_spec(conn, kind, spec_id)
    if published is not None:
        body, version = published
        try:
            return EffectiveSpec(model.model_validate(body), version, "database")
        except ValidationError as exc:
            logging.getLogger(__name__).warning("published %s %r version %s no longer validates, showing the shipped file: %s",
                                                kind, spec_id, version, exc)
    shipped = shipped_specs(kind, settings)
    if spec_id in shipped:
        return EffectiveSpec(shipped[spec_id], None, "file")
    published_ids = conn.scalars(select(SpecHead.spec_id).where(
        SpecHead.kind == kind, SpecHead.deleted.is_(False), SpecHead.published_version.is_not(None)))
    raise (UnknownWall if kind == "wall" else UnknownBriefing)(spec_id, set(shipped) | set(published_ids))


def effective_wall(conn: Connection, wall_id: str, settings=None) -> EffectiveSpec:
    return effective_spec(conn, "wall", wall_id, settings)


def effective_briefing(conn: Connection, briefing_id: str, settings=None) -> EffectiveSpec:
    return effective_spec(conn, "briefing", briefing_id, settings)


# --- the studio's operations: one version, diffs, rollback, delete, summaries -------------------------------


@dataclass(frozen=True)
class RollbackResult:
    version: int  # the new head version holding the old body
    published: bool  # published too (the head it rolled back from was the published version)
    data_version: int | None  # the change-log id of that publication


@dataclass(frozen=True)
class SpecSummary:
    """One stored spec as the studio lists it."""

    kind: str
    spec_id: str
    latest_version: int
    latest_author: str | None
    latest_at: dt.datetime
    published_version: int | None
    published_at: dt.datetime | None
    published_by: str | None
    title: dict | None  # the head version's title ({zh, en} or a plain string as written)

    @property
    def has_draft(self) -> bool:
        """The head version is not the published one (never published, or saved since)."""
        return self.published_version != self.latest_version


def get_version(conn: Connection, kind: str, spec_id: str, version: int) -> dict:
    """The body of one saved version; ``UnknownVersion`` when there is none."""
    body = conn.execute(
        select(SpecVersion.body).where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id, SpecVersion.version == version)
    ).scalar_one_or_none()
    if body is None:
        raise UnknownVersion(f"{kind} {spec_id!r} has no version {version}")
    return body


def latest_version(conn: Connection, kind: str, spec_id: str) -> int | None:
    return conn.execute(select(func.max(SpecVersion.version)).where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id)).scalar_one()


def published_version(conn: Connection, kind: str, spec_id: str) -> int | None:
    """The live version number (None: never published, withdrawn or deleted)."""
    return conn.execute(
        select(SpecHead.published_version).where(SpecHead.kind == kind, SpecHead.spec_id == spec_id, SpecHead.deleted.is_(False))
    ).scalar_one_or_none()


def to_yaml(body) -> str:
    """A spec body as people write it: YAML, keys in the author's order, Chinese as is."""
    return yaml.safe_dump(body, allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)


def diff_bodies(old, new, *, old_label: str, new_label: str, context: int = 3) -> list[str]:
    """The unified diff of two bodies as YAML lines (no trailing newlines); empty when equal."""
    before = to_yaml(old).splitlines() if old is not None else []
    after = to_yaml(new).splitlines() if new is not None else []
    return list(difflib.unified_diff(before, after, fromfile=old_label, tofile=new_label, n=context, lineterm=""))


def version_diff(conn: Connection, kind: str, spec_id: str, version: int, against: int | Literal["previous", "published"] = "previous") -> list[str]:
    """What ``version`` changed, as a unified diff of YAML: against the version before it
    (``previous``; version 1 against nothing), the published one, or a given version number."""
    body = get_version(conn, kind, spec_id, version)
    if against == "previous":
        base = conn.execute(
            select(SpecVersion.version).where(SpecVersion.kind == kind, SpecVersion.spec_id == spec_id, SpecVersion.version < version)
            .order_by(SpecVersion.version.desc()).limit(1)
        ).scalar_one_or_none()
    elif against == "published":
        base = published_version(conn, kind, spec_id)
    else:
        base = int(against)
    old = get_version(conn, kind, spec_id, base) if base is not None else None
    old_label = f"{spec_id} v{base}" if base is not None else "(nothing)"
    return diff_bodies(old, body, old_label=old_label, new_label=f"{spec_id} v{version}")


def rollback(conn: Connection, kind: str, spec_id: str, version: int, *, author: str | None,
             catalogue: SpecCatalogue | None = None) -> RollbackResult:
    """Append ``version``'s body as the new head version; publish it when the head it rolls back
    from was the published version (see the module docstring). Refuses an unknown version
    (``UnknownVersion``) and a body that no longer validates (``SpecInvalid``), writing nothing."""
    body = get_version(conn, kind, spec_id, version)
    head = latest_version(conn, kind, spec_id)
    was_live = head is not None and published_version(conn, kind, spec_id) == head
    new = save_version(conn, body, author=author, comment=f"rollback to v{version}", catalogue=catalogue)
    if not was_live:
        return RollbackResult(new, False, None)
    return RollbackResult(new, True, publish(conn, kind, spec_id, new, by=author, catalogue=catalogue))


def delete_spec(conn: Connection, kind: str, spec_id: str, *, by: str | None) -> int | None:
    """Archive a stored spec (see the module docstring); returns the change-log id when it was
    live (walls then re-lay themselves out), else None. ``UnknownVersion`` when nothing is stored."""
    if latest_version(conn, kind, spec_id) is None:
        raise UnknownVersion(f"{kind} {spec_id!r} has no saved version")
    was_live = published_version(conn, kind, spec_id) is not None
    now = dt.datetime.now(dt.timezone.utc)
    upsert(conn, SpecHead.__table__, [{"kind": kind, "spec_id": spec_id, "published_version": None, "published_at": now,
                                       "published_by": by, "deleted": True}], key=["kind", "spec_id"])
    if not was_live:
        return None
    return _record_specs_change(conn, "delete", now, {"kind": kind, "spec_id": spec_id})


def spec_summaries(conn: Connection, kind: str) -> list[SpecSummary]:
    """Every stored spec of ``kind`` that is not deleted, by id: head version (number, author,
    time, title) and published version."""
    latest = (
        select(SpecVersion.spec_id, func.max(SpecVersion.version).label("version"))
        .where(SpecVersion.kind == kind).group_by(SpecVersion.spec_id).subquery()
    )
    rows = conn.execute(
        select(SpecVersion.spec_id, SpecVersion.version, SpecVersion.author, SpecVersion.created_at, SpecVersion.body,
               SpecHead.published_version, SpecHead.published_at, SpecHead.published_by)
        .join(latest, and_(latest.c.spec_id == SpecVersion.spec_id, latest.c.version == SpecVersion.version))
        .outerjoin(SpecHead, and_(SpecHead.kind == SpecVersion.kind, SpecHead.spec_id == SpecVersion.spec_id))
        .where(SpecVersion.kind == kind, or_(SpecHead.deleted.is_(None), SpecHead.deleted.is_(False)))
        .order_by(SpecVersion.spec_id)
    )
    summaries = []
    for row in rows:
        title = row.body.get("title") if isinstance(row.body, dict) else None
        summaries.append(SpecSummary(kind, row.spec_id, row.version, row.author, row.created_at, row.published_version,
                                     row.published_at if row.published_version is not None else None,
                                     row.published_by if row.published_version is not None else None,
                                     {"zh": title} if isinstance(title, str) else title if isinstance(title, dict) else None))
    return summaries
