"""Emergency mode of the video walls: which incident a wall must show now, raising and acknowledging.

A wall leaves its carousel for the emergency scene when

* an incident of severity I or II **arrives** — reported within ``window`` before ``now`` (so one
  that arrived while the wall was off still counts while it is recent) — source ``auto``; or
* an operator **switches** the wall to an incident by hand (``raise_alert``) — source ``manual``,
  with no time limit;

and stays there until the incident is acknowledged for that wall (``acknowledge``) or becomes
resolved/closed. Among several candidates the wall shows the manual ones first, then the most
severe, then the newest (by ``raised_at``: the switch for manual ones, the report for automatic
ones); the others wait (``pending``).

State lives in ``wall_alerts`` (one row per wall and incident). An automatic emergency has no row
until it is acknowledged: the read (``active_emergency``) never writes. Acknowledging one inserts
its row, already acknowledged; switching by hand upserts a manual row and clears an earlier
acknowledgement.

Writes call ``record_change`` with the dataset code ``wall_alerts`` so that the global data
version moves and every live browser hears a ``data_version`` event at once. That code is
deliberately **not** a catalogue dataset (``datasets``): acknowledgements are the operations
centre's own working state, not a shared government resource with a provider, an update cycle and
a freshness — registered, it would show up in the resource catalogue and its freshness checks. Not
being in the catalogue, it declares no tables (``dataset_tables`` references the catalogue) and
invalidates no cached query; ``active_emergency`` is not cached for that reason (and because it
depends on ``now``).

Areas: a caller limited to areas (``areas``: area-code prefixes, a union; empty = the whole city,
``queries.auth.records_within``) only ever sees and acknowledges emergencies of incidents in those
areas — the best candidate *among them*, so one elsewhere never hides theirs. Whether a user may
operate a given wall at all is the access layer's decision (``app.api``).

No personal data leaves this module: no reporter name or phone, no address, no description;
phone and ID numbers typed into titles are masked.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import Connection, exists, or_, select
from sqlalchemy.orm import aliased

from queries.auth import records_within
from queries.bus import mask_personal_numbers
from queries.schema import Area, Incident, WallAlert
from queries.settings import Settings
from queries.writes import record_change, upsert

DATASET_CODE = "wall_alerts"  # change_log.dataset_code of raises and acknowledgements (not a catalogue dataset)
ACTION_RAISE = "wall_raise"
ACTION_ACK = "wall_ack"
SOURCES = ("auto", "manual")
EMERGENCY_SEVERITIES = (1, 2)  # I 特别重大, II 重大 (queries.vocab.SEVERITIES)
TERMINAL_STATUSES = ("resolved", "closed")  # queries.vocab.INCIDENT_STATUSES: an incident there is over
WALL_ID_PATTERN = "^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_ACTOR_LENGTH = 64  # wall_alerts.raised_by / acked_by
# The same default as CITYOPS_WALL_EMERGENCY_MINUTES; callers pass the configured value.
DEFAULT_WINDOW = dt.timedelta(minutes=Settings.model_fields["wall_emergency_minutes"].default)
DEFAULT_LIST_LIMIT = 100

ALERT_FIELDS = ("wall_id", "incident_id", "source", "raised_at", "raised_by", "acked_at", "acked_by")


class UnknownIncident(LookupError):
    """No incident has this id."""

    def __init__(self, incident_id: str):
        super().__init__(f"no incident with id {incident_id!r}")
        self.incident_id = incident_id


class IncidentOver(ValueError):
    """The incident is resolved or closed: it cannot be put on a wall any more."""

    def __init__(self, incident_id: str, status: str):
        super().__init__(f"incident {incident_id!r} is {status}: a resolved or closed incident cannot be shown as an emergency")
        self.incident_id = incident_id
        self.status = status


def check_wall_id(wall_id) -> str:
    """``wall_id`` if it is a wall id (lower-case letters, digits, '-' and '_', 1–64), else ValueError."""
    if not isinstance(wall_id, str) or not re.fullmatch(WALL_ID_PATTERN, wall_id):
        raise ValueError(f"{wall_id!r} is not a wall id (1–64 characters: a–z, 0–9, '-' and '_', starting with a letter or digit)")
    return wall_id


def _check_actor(by) -> str | None:
    if by is not None and (not isinstance(by, str) or not by.strip() or len(by) > MAX_ACTOR_LENGTH):
        raise ValueError(f"'by' must be a non-empty name of at most {MAX_ACTOR_LENGTH} characters, or None")
    return by


def _check_now(now) -> dt.datetime:
    if not isinstance(now, dt.datetime) or now.tzinfo is None:
        raise ValueError(f"'now' must be an aware datetime, not {now!r}")
    return now.astimezone(dt.timezone.utc)


def _check_window(window) -> dt.timedelta:
    if not isinstance(window, dt.timedelta) or window <= dt.timedelta(0):
        raise ValueError(f"'window' must be a positive timedelta, not {window!r}")
    return window


# --- reads ---------------------------------------------------------------------------------------


def _candidates(conn: Connection, wall_id: str, now: dt.datetime, window: dt.timedelta, incident_id: str | None = None,
                areas: Iterable[str] | None = None) -> list[dict]:
    """Everything that wants the wall now (in ``areas``), best first: ``{incident_id, source, raised_at, severity}``."""
    is_open = Incident.status.not_in(TERMINAL_STATUSES)
    manual = (
        select(WallAlert.incident_id, WallAlert.raised_at, Incident.severity)
        .join(Incident, Incident.id == WallAlert.incident_id)
        .where(WallAlert.wall_id == wall_id, WallAlert.source == "manual", WallAlert.acked_at.is_(None), is_open)
    )
    # Settled for this wall: acknowledged (either source), or already a manual candidate above.
    settled = exists().where(
        WallAlert.wall_id == wall_id, WallAlert.incident_id == Incident.id,
        or_(WallAlert.acked_at.is_not(None), WallAlert.source == "manual"),
    )
    arrived = select(Incident.id, Incident.reported_at, Incident.severity).where(
        Incident.severity.in_(EMERGENCY_SEVERITIES), is_open,
        Incident.reported_at >= now - window, Incident.reported_at <= now, ~settled,
    )
    if incident_id is not None:
        manual = manual.where(WallAlert.incident_id == incident_id)
        arrived = arrived.where(Incident.id == incident_id)
    within = records_within(Incident, areas)
    if within is not None:
        manual, arrived = manual.where(within), arrived.where(within)
    found = [{"incident_id": r[0], "source": "manual", "raised_at": r[1], "severity": int(r[2])} for r in conn.execute(manual)]
    found += [{"incident_id": r[0], "source": "auto", "raised_at": r[1], "severity": int(r[2])} for r in conn.execute(arrived)]
    found.sort(key=lambda c: c["incident_id"])
    found.sort(key=lambda c: c["raised_at"], reverse=True)
    found.sort(key=lambda c: (c["source"] != "manual", c["severity"]))
    return found


def _incident_card(conn: Connection, incident_id: str) -> dict | None:
    """What the emergency scene shows of an incident: no personal data."""
    district, street = aliased(Area), aliased(Area)
    row = conn.execute(
        select(
            Incident.id, Incident.severity, Incident.category, Incident.subtype, Incident.title, Incident.status,
            Incident.reported_at, Incident.lon, Incident.lat,
            Incident.district_code, district.name.label("district_name"), district.name_en.label("district_name_en"),
            Incident.street_code, street.name.label("street_name"), street.name_en.label("street_name_en"),
        )
        .select_from(Incident)
        .outerjoin(district, district.code == Incident.district_code)
        .outerjoin(street, street.code == Incident.street_code)
        .where(Incident.id == incident_id)
    ).first()
    if row is None:
        return None
    card = row._asdict()
    card["severity"] = int(card["severity"])
    card["title"] = mask_personal_numbers(card["title"])
    return card


def active_emergency(conn: Connection, wall_id: str, now: dt.datetime, window: dt.timedelta = DEFAULT_WINDOW, *,
                     areas: Iterable[str] | None = None) -> dict | None:
    """The incident wall ``wall_id`` must show at ``now``, or None (the wall runs its carousel);
    with ``areas``, the one it must show to a viewer limited to them (the best of theirs).

    Returns ``{"wall_id", "id", "severity" (1–4), "category", "subtype", "title" (numbers masked),
    "status", "reported_at", "lon", "lat", "district_code", "district_name", "district_name_en",
    "street_code", "street_name", "street_name_en", "source" ("auto" | "manual"), "raised_at",
    "expires_at", "pending"}``. ``expires_at`` is when an automatic emergency leaves the window
    (``reported_at + window``; None for manual ones) — no event marks that moment, so a wall
    re-reads then; ``pending`` counts the other candidates waiting behind this one. A pure read.
    """
    check_wall_id(wall_id)
    window = _check_window(window)
    candidates = _candidates(conn, wall_id, _check_now(now), window, areas=areas)
    if not candidates:
        return None
    best = candidates[0]
    card = _incident_card(conn, best["incident_id"])
    if card is None:  # pragma: no cover - the candidate queries join the incident
        return None
    expires_at = card["reported_at"] + window if best["source"] == "auto" else None
    return {
        "wall_id": wall_id, **card, "source": best["source"], "raised_at": best["raised_at"], "expires_at": expires_at,
        "pending": len(candidates) - 1,
    }


def _alert(conn: Connection, wall_id: str, incident_id: str) -> dict | None:
    row = conn.execute(select(*(getattr(WallAlert, f) for f in ALERT_FIELDS)).where(WallAlert.wall_id == wall_id, WallAlert.incident_id == incident_id)).first()
    return None if row is None else row._asdict()


def wall_alerts(conn: Connection, wall_id: str, *, limit: int = DEFAULT_LIST_LIMIT) -> list[dict]:
    """The wall's alert rows, newest raised first, each with its incident's severity, category,
    status and (masked) title — None where the incident is gone — and a ``state``: ``pending``
    (not acknowledged, incident open), ``acknowledged`` or ``over`` (incident resolved/closed/gone).

    Automatic emergencies nobody acknowledged have no row: ``active_emergency`` finds them.
    """
    check_wall_id(wall_id)
    if not 1 <= limit <= 10_000:
        raise ValueError(f"limit must be 1–10000, not {limit}")
    rows = conn.execute(
        select(*(getattr(WallAlert, f) for f in ALERT_FIELDS), Incident.severity, Incident.category, Incident.status, Incident.title)
        .select_from(WallAlert)
        .outerjoin(Incident, Incident.id == WallAlert.incident_id)
        .where(WallAlert.wall_id == wall_id)
        .order_by(WallAlert.raised_at.desc(), WallAlert.incident_id)
        .limit(limit)
    ).all()
    listing = []
    for row in rows:
        item = row._asdict()
        item["severity"] = None if item["severity"] is None else int(item["severity"])
        item["title"] = mask_personal_numbers(item["title"])
        if item["status"] is None or item["status"] in TERMINAL_STATUSES:
            item["state"] = "over"
        else:
            item["state"] = "acknowledged" if item["acked_at"] is not None else "pending"
        listing.append(item)
    return listing


# --- writes (in the caller's transaction) -----------------------------------------------------


def raise_alert(conn: Connection, wall_id: str, incident_id: str, *, by: str | None, now: dt.datetime | None = None) -> dict:
    """Switch wall ``wall_id`` to ``incident_id`` by hand (a manual emergency); idempotent.

    Re-raising an acknowledged incident (manual or automatic) clears the acknowledgement and makes
    it manual. Returns the alert row (``ALERT_FIELDS``) plus ``data_version``: the version this
    call wrote, or None when the incident was already pending on this wall (nothing changed).
    Raises ``UnknownIncident`` (a LookupError) or ``IncidentOver`` (a ValueError) for an incident
    that does not exist or is resolved/closed.
    """
    check_wall_id(wall_id)
    _check_actor(by)
    now = _check_now(now or dt.datetime.now(dt.timezone.utc))
    status = conn.execute(select(Incident.status).where(Incident.id == incident_id)).scalar()
    if status is None:
        raise UnknownIncident(incident_id)
    if status in TERMINAL_STATUSES:
        raise IncidentOver(incident_id, status)
    existing = _alert(conn, wall_id, incident_id)
    if existing is not None and existing["source"] == "manual" and existing["acked_at"] is None:
        return {**existing, "data_version": None}
    row = {"wall_id": wall_id, "incident_id": incident_id, "source": "manual", "raised_at": now, "raised_by": by, "acked_at": None, "acked_by": None}
    upsert(conn, WallAlert.__table__, [row], key=["wall_id", "incident_id"])
    version = record_change(conn, DATASET_CODE, ACTION_RAISE, 1, at=now, detail={"wall_id": wall_id, "incident_id": incident_id, "by": by})
    return {**_alert(conn, wall_id, incident_id), "data_version": version}


def acknowledge(
    conn: Connection, wall_id: str, incident_id: str | None = None, *, by: str | None, now: dt.datetime,
    window: dt.timedelta = DEFAULT_WINDOW, areas: Iterable[str] | None = None,
) -> dict | None:
    """Acknowledge an emergency of wall ``wall_id``: the one it shows now (``incident_id`` None), or
    a given one among its candidates (``active_emergency``'s rules, same ``window``); with
    ``areas``, only among the candidates in those areas (what a viewer limited to them is shown).

    An automatic emergency gets its row here, inserted already acknowledged (``raised_at`` = its
    report time). Returns the acknowledged alert row (``ALERT_FIELDS``) plus ``data_version``, or
    None when there was nothing to acknowledge (no emergency, or that incident is not pending on
    this wall: already acknowledged, resolved, too old, not severe). ``UnknownIncident`` for an id
    no incident has.
    """
    check_wall_id(wall_id)
    _check_actor(by)
    now = _check_now(now)
    window = _check_window(window)
    if incident_id is not None and conn.execute(select(Incident.id).where(Incident.id == incident_id)).first() is None:
        raise UnknownIncident(incident_id)
    candidates = _candidates(conn, wall_id, now, window, incident_id=incident_id, areas=areas)
    if not candidates:
        return None
    chosen = candidates[0]
    row = {
        "wall_id": wall_id, "incident_id": chosen["incident_id"], "source": chosen["source"], "raised_at": chosen["raised_at"],
        "raised_by": None, "acked_at": now, "acked_by": by,
    }
    # An existing row keeps its source, raise time and raiser: only the acknowledgement changes.
    upsert(conn, WallAlert.__table__, [row], key=["wall_id", "incident_id"], update_columns=["acked_at", "acked_by"])
    version = record_change(conn, DATASET_CODE, ACTION_ACK, 1, at=now, detail={"wall_id": wall_id, "incident_id": chosen["incident_id"], "by": by})
    return {**_alert(conn, wall_id, chosen["incident_id"]), "data_version": version}
