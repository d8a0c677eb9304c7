"""The studio's reads and writes of specs: the list, opening one for editing, save, publish,
rollback, delete — each write in one transaction of the primary database, then audited with who
(the signed-in user) and what (kind/id, versions, note).

The studio reads the primary, not the read replica: right after a save it must see the save.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.context import current_context
from app.security.access import current_viewer
from app.security.audit import audit


def _engine():
    return current_context().engine


def _author() -> str | None:
    viewer = current_viewer()
    return viewer.user if viewer is not None else None


def _catalogue(conn):
    from layers import layer_names
    from queries.specs.store import catalogue_from_db

    return catalogue_from_db(conn, layer_names())


def shipped_bodies(kind: str) -> dict[str, dict]:
    """The shipped files of ``kind`` as their authors wrote them (not a normalised model dump), by id."""
    from queries.specs.files import SHIPPED_FOLDERS, SPEC_SUFFIXES, default_specs_dir, load_document, shipped_specs

    valid = shipped_specs(kind, current_context().settings)  # raises on a broken shipped file, like the walls do
    folder = default_specs_dir(current_context().settings) / SHIPPED_FOLDERS[kind]
    bodies: dict[str, dict] = {}
    if not folder.is_dir():
        return bodies
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in SPEC_SUFFIXES or path.name.startswith("."):
            continue
        data, _lines = load_document(path)
        if isinstance(data, dict) and data.get("id") in valid and data["id"] not in bodies:
            bodies[data["id"]] = data
    return bodies


@dataclass(frozen=True)
class Entry:
    """One spec in the studio's list."""

    kind: str
    spec_id: str
    title: dict | None
    shipped: bool
    latest: int | None  # newest saved version (None: only the shipped file)
    published: int | None

    @property
    def has_draft(self) -> bool:
        return self.latest is not None and self.latest != self.published


def entries(kind: str) -> list[Entry]:
    """Shipped and stored specs of ``kind`` by id (a stored spec of a shipped id is one entry)."""
    from queries.specs.store import spec_summaries

    shipped = shipped_bodies(kind)
    with _engine().connect() as conn:
        stored = {s.spec_id: s for s in spec_summaries(conn, kind)}
    out = []
    for spec_id in sorted(set(shipped) | set(stored)):
        summary = stored.get(spec_id)
        title = summary.title if summary is not None else shipped[spec_id].get("title")
        title = {"zh": title} if isinstance(title, str) else title if isinstance(title, dict) else None
        out.append(Entry(kind, spec_id, title, spec_id in shipped, summary.latest_version if summary else None,
                         summary.published_version if summary else None))
    return out


def taken(kind: str, spec_id: str) -> bool:
    from queries.specs.store import latest_version

    if spec_id in shipped_bodies(kind):
        return True
    with _engine().connect() as conn:
        return latest_version(conn, kind, spec_id) is not None


def open_for_edit(kind: str, spec_id: str) -> dict | None:
    """The draft to edit: the newest saved version (drafts included), else the shipped file."""
    from queries.specs.store import get_version, latest_version

    with _engine().connect() as conn:
        latest = latest_version(conn, kind, spec_id)
        if latest is not None:
            return {"kind": kind, "id": spec_id, "body": get_version(conn, kind, spec_id, latest), "base": latest, "source": "database", "dirty": False}
    shipped = shipped_bodies(kind).get(spec_id)
    if shipped is None:
        return None
    return {"kind": kind, "id": spec_id, "body": shipped, "base": None, "source": "file", "dirty": False}


def open_version(kind: str, spec_id: str, version: int) -> dict:
    """An older version to edit: its body on top of the saved head (saving it makes a new version)."""
    from queries.specs.store import get_version, latest_version

    with _engine().connect() as conn:
        body = get_version(conn, kind, spec_id, version)
        head = latest_version(conn, kind, spec_id)
    return {"kind": kind, "id": spec_id, "body": body, "base": head, "source": "database", "dirty": version != head}


def validate(body: dict):
    """Every problem of a draft body against the platform's catalogue (``SpecError`` list)."""
    from queries.specs.files import validate_spec

    with _engine().connect() as conn:
        return validate_spec(body, _catalogue(conn)).errors


@dataclass(frozen=True)
class Saved:
    version: int
    published: bool
    new: bool  # a new version was written (False: published the unchanged saved head)


def save(draft: dict, comment: str | None, *, publish: bool) -> Saved:
    """Save the draft as a version (unless it is the unchanged saved head) and, with ``publish``,
    make it live. ``SpecInvalid`` when it does not validate: nothing is written."""
    from queries.specs import store

    kind, spec_id, body = draft["kind"], draft["id"], draft["body"]
    author = _author()
    with _engine().begin() as conn:
        catalogue = _catalogue(conn)
        head = store.latest_version(conn, kind, spec_id)
        unchanged = not draft.get("dirty") and draft.get("base") is not None and draft["base"] == head
        if unchanged:
            version = head  # publishing it checks it against today's catalogue again
        else:
            version = store.save_version(conn, body, author=author, comment=comment or None, catalogue=catalogue)
        if publish:
            store.publish(conn, kind, spec_id, version, by=author, catalogue=catalogue)
    target = f"{kind}/{spec_id}"
    if not unchanged:
        audit("spec_saved", target=target, detail={"version": version, "comment": comment or None})
    if publish:
        audit("spec_published", target=target, detail={"version": version})
    return Saved(version, publish, not unchanged)


def publish_version(kind: str, spec_id: str, version: int) -> None:
    from queries.specs import store

    with _engine().begin() as conn:
        store.publish(conn, kind, spec_id, version, by=_author(), catalogue=_catalogue(conn))
    audit("spec_published", target=f"{kind}/{spec_id}", detail={"version": version})


def rollback(kind: str, spec_id: str, version: int):
    from queries.specs import store

    with _engine().begin() as conn:
        result = store.rollback(conn, kind, spec_id, version, author=_author(), catalogue=_catalogue(conn))
    audit("spec_rolled_back", target=f"{kind}/{spec_id}", detail={"to": version, "version": result.version, "published": result.published})
    return result


def delete(kind: str, spec_id: str) -> bool:
    """Archive a stored spec; False when there is nothing stored (a shipped file only)."""
    from queries.specs import store

    with _engine().begin() as conn:
        if store.latest_version(conn, kind, spec_id) is None:
            return False
        was_live = store.delete_spec(conn, kind, spec_id, by=_author()) is not None
    audit("spec_deleted", target=f"{kind}/{spec_id}", detail={"was_live": was_live})
    return True


def history(kind: str, spec_id: str):
    from queries.specs.store import list_versions

    with _engine().connect() as conn:
        return list_versions(conn, kind, spec_id)


def diff(kind: str, spec_id: str, version: int, against) -> list[str]:
    from queries.specs.store import version_diff

    with _engine().connect() as conn:
        return version_diff(conn, kind, spec_id, version, against)


def area_choices() -> list[dict]:
    """The city and its districts and streets (the areas a wall or briefing is about)."""
    from app.context import run_query
    from queries.api_support import area_listing

    rows = []
    for level in ("city", "district", "street"):
        frame = run_query(area_listing, level=level)
        rows += [{"code": r.code, "name": r.name, "name_en": None if r.name_en != r.name_en else r.name_en} for r in frame.itertuples(index=False)]
    return rows


def areas_at(level: str | None) -> list[dict]:
    from app.context import run_query
    from queries.api_support import area_listing
    from queries.vocab import AREA_LEVEL_CODES

    if level not in AREA_LEVEL_CODES or level == "grid":  # tens of thousands of grids: not a list to pick from
        return []
    frame = run_query(area_listing, level=level)
    return [{"code": r.code, "name": r.name, "name_en": None if r.name_en != r.name_en else r.name_en} for r in frame.itertuples(index=False)]
