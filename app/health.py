"""``GET /healthz``: is this instance able to serve, and on what? Never a 500.

200 when the database answers (status "degraded" if only the cache fell back to memory or the
schema is behind), 503 when the database does not.

Public (load balancers and monitors ask without logging in), so without a signed-in caller it
says only ``status``, ``database`` (``ok`` / ``unavailable``), ``cache`` and ``time``: driver
errors, schema revisions and data versions name internals and are for signed-in callers (a
session or a bearer token; with the database away, a validly signed session cookie).
"""
from __future__ import annotations

import datetime as dt

import flask

from app.context import current_context


def _error_text(exc: BaseException) -> str:
    """The driver's own message, first line only (SQLAlchemy wraps it with SQL and a docs link)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}".strip()


def health_report(settings, engine, cache=None) -> tuple[dict, int]:
    """The health document and its HTTP status.

    ``cache`` is the app's QueryCache: its status is what requests actually get (circuit breaker
    included); without one, Redis is probed from the settings.
    """
    from queries.cache import cache_backend
    from queries.migrate import current_revision, head_revision
    from queries.writes import data_version

    report: dict = {
        "status": "ok",
        "database": "ok",
        "dialect": engine.dialect.name,
        "cache": "memory",
        "data_version": None,
        "schema_revision": None,
        "schema_head": None,
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    http_status = 200
    try:
        report["schema_head"] = head_revision()
        report["schema_revision"] = current_revision(engine)
        with engine.connect() as conn:
            report["data_version"] = data_version(conn)
        if report["schema_revision"] != report["schema_head"]:
            report["status"] = "degraded"
    except Exception as exc:  # noqa: BLE001 - report, never raise
        report["status"] = "degraded"
        report["database"] = _error_text(exc)
        http_status = 503
    try:
        probe = cache.status() if cache is not None else cache_backend(settings)
        report["cache"] = probe.backend
        if probe.error:
            report["cache_error"] = probe.error
            report["status"] = "degraded"
    except Exception as exc:  # noqa: BLE001
        report["cache_error"] = _error_text(exc)
        report["status"] = "degraded"
    return report, http_status


def register_healthz(server: flask.Flask) -> None:
    @server.route("/healthz", methods=["GET"])
    def healthz():
        try:
            context = current_context()
            report, http_status = health_report(context.settings, context.engine, getattr(context, "cache", None))
        except Exception as exc:  # noqa: BLE001 - the last line of "never a 500"
            report = {"status": "degraded", "database": _error_text(exc), "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
            http_status = 503
        if not _signed_in():
            report = public_report(report)
        response = flask.jsonify(report)
        response.status_code = http_status
        response.headers["Cache-Control"] = "no-store"
        return response


PUBLIC_FIELDS = ("status", "database", "cache", "time")


def public_report(report: dict) -> dict:
    """What anyone may read: the states, no error text, version or revision."""
    reduced = {name: report.get(name) for name in PUBLIC_FIELDS}
    reduced["database"] = "ok" if report.get("database") == "ok" else "unavailable"
    return reduced


def _signed_in() -> bool:
    try:
        from app.security.identity import current_identity

        return current_identity() is not None
    except Exception:  # noqa: BLE001 - the database is away: a validly signed session cookie will do
        return isinstance(flask.session.get("u"), str)
