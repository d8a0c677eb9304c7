"""``cityops wall``: a video wall's emergency mode from the command line.

Registered on the main group at the end of ``app/cli.py``. Like every command, the schema is
created or migrated first. Exit status: 0 done (also when there was nothing to acknowledge, or the
incident was already on the wall), 1 the incident does not exist or is resolved/closed, or the
database failed (one line, never a traceback), 2 a malformed argument (click's usage error).
Writes publish the new data version on the bus (Redis with CITYOPS_REDIS_URL) so open walls react
at once; without Redis the servers' change-log watchers pick it up within a second.
Heavy imports happen inside the commands.
"""
from __future__ import annotations

import datetime as dt
import json
import sys

import click

FAILED_EXIT = 1


def _wall_id(ctx, param, value: str) -> str:
    from queries.emergency import check_wall_id

    try:
        return check_wall_id(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _default_actor() -> str:
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        user = ""
    return f"cli:{user}"[:64] if user else "cli"


def _time(value) -> str:
    return "—" if value is None else value.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _json_default(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _fail(message: str) -> None:
    click.echo(f"cityops wall: {message}", err=True)
    sys.exit(FAILED_EXIT)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def _describe(shown: dict | None, wall_id: str) -> str:
    if shown is None:
        return f"wall {wall_id}: no emergency (carousel)"
    place = " ".join(p for p in (shown.get("district_name"), shown.get("street_name")) if p)
    more = f"; {shown['pending']} more pending" if shown["pending"] else ""
    expires = f", until {_time(shown['expires_at'])} unless acknowledged" if shown.get("expires_at") else ""
    return (
        f"wall {wall_id}: EMERGENCY {shown['id']} severity {shown['severity']} ({shown['source']}, since {_time(shown['raised_at'])}{expires}) "
        f"{shown.get('title') or shown['category']} · {place or '—'} · {shown['status']}{more}"
    )


def _write(wall_id: str, action: str, write):
    """``write(conn, now, window)`` in one transaction; returns (its result, what the wall shows now)."""
    from app.cli import _engine
    from queries.bus import bus_from_settings, data_version_event
    from queries.emergency import (
        DATASET_CODE,
        IncidentOver,
        UnknownIncident,
        active_emergency,
    )
    from queries.settings import get_settings

    settings = get_settings()
    window = dt.timedelta(minutes=settings.wall_emergency_minutes)
    now = dt.datetime.now(dt.timezone.utc)
    engine = None
    try:
        engine = _engine(settings)
        with engine.begin() as conn:
            result = write(conn, now, window)
            shown = active_emergency(conn, wall_id, now, window)
    except (UnknownIncident, IncidentOver) as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - the contract is a message and an exit status, never a traceback
        _fail(f"{type(exc).__name__}: {_first_line(exc)}")
    finally:
        if engine is not None:
            engine.dispose()
    version = None if result is None else result.get("data_version")
    if version is not None:
        bus = bus_from_settings(settings)
        try:
            bus.publish(data_version_event(version, now, DATASET_CODE, action, 1))
        finally:
            bus.close()
    return result, shown


@click.group()
def wall() -> None:
    """Video walls: emergency mode (switch a wall to an incident, acknowledge, status)."""


@wall.command("emergency")
@click.argument("wall_id", callback=_wall_id)
@click.argument("incident_id")
@click.option("--by", default=None, help="Who switches (default: cli:LOGIN).")
def wall_emergency(wall_id: str, incident_id: str, by: str | None) -> None:
    """Switch wall WALL_ID to incident INCIDENT_ID until it is acknowledged or resolved."""
    from queries.emergency import ACTION_RAISE, raise_alert

    by = by or _default_actor()
    result, shown = _write(wall_id, ACTION_RAISE, lambda conn, now, window: raise_alert(conn, wall_id, incident_id, by=by, now=now))
    if result["data_version"] is None:
        click.echo(f"wall {wall_id}: {incident_id} was already pending (raised {_time(result['raised_at'])} by {result['raised_by'] or '—'})")
    else:
        click.echo(f"wall {wall_id}: switched to {incident_id} (data version {result['data_version']})")
    click.echo(_describe(shown, wall_id))


@wall.command("ack")
@click.argument("wall_id", callback=_wall_id)
@click.argument("incident_id", required=False)
@click.option("--by", default=None, help="Who acknowledges (default: cli:LOGIN).")
def wall_ack(wall_id: str, incident_id: str | None, by: str | None) -> None:
    """Acknowledge the emergency wall WALL_ID shows (or INCIDENT_ID among its pending ones)."""
    from queries.emergency import ACTION_ACK, acknowledge

    by = by or _default_actor()
    result, shown = _write(
        wall_id, ACTION_ACK, lambda conn, now, window: acknowledge(conn, wall_id, incident_id, by=by, now=now, window=window),
    )
    if result is None:
        what = f"{incident_id} is not pending on wall {wall_id}" if incident_id else f"wall {wall_id} has no emergency"
        click.echo(f"nothing to acknowledge: {what}")
    else:
        click.echo(f"wall {wall_id}: acknowledged {result['incident_id']} ({result['source']}; data version {result['data_version']})")
    click.echo(_describe(shown, wall_id))


@wall.command("status")
@click.argument("wall_id", callback=_wall_id)
@click.option("--json", "as_json", is_flag=True, help="JSON: {wall_id, as_of, window_minutes, emergency, alerts}.")
def wall_status(wall_id: str, as_json: bool) -> None:
    """What wall WALL_ID shows now, and its recent alerts (raised by hand or acknowledged)."""
    from app.cli import _engine
    from queries.emergency import active_emergency, wall_alerts
    from queries.settings import get_settings

    settings = get_settings()
    window = dt.timedelta(minutes=settings.wall_emergency_minutes)
    now = dt.datetime.now(dt.timezone.utc)
    engine = None
    try:
        engine = _engine(settings)
        with engine.connect() as conn:
            shown = active_emergency(conn, wall_id, now, window)
            alerts = wall_alerts(conn, wall_id, limit=20)
    except Exception as exc:  # noqa: BLE001 - a message and an exit status, never a traceback
        _fail(f"{type(exc).__name__}: {_first_line(exc)}")
    finally:
        if engine is not None:
            engine.dispose()
    if as_json:
        document = {"wall_id": wall_id, "as_of": now, "window_minutes": settings.wall_emergency_minutes, "emergency": shown, "alerts": alerts}
        click.echo(json.dumps(document, ensure_ascii=False, default=_json_default))
        return
    click.echo(_describe(shown, wall_id))
    for alert in alerts:
        acked = f"acknowledged {_time(alert['acked_at'])} by {alert['acked_by'] or '—'}" if alert["acked_at"] else "not acknowledged"
        click.echo(
            f"  {alert['incident_id']:<24} {alert['state']:<12} {alert['source']:<6} severity {alert['severity'] or '?'}  "
            f"raised {_time(alert['raised_at'])} by {alert['raised_by'] or '—'}; {acked}"
        )
