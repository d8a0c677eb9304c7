"""Writing the audit log from a request: who (the current identity), from where, what.

``audit(action, …)`` writes one append-only entry (queries.auth.record_audit) in its own
transaction, so an entry is kept even when the request itself then fails. A failure to write the
audit log is logged loudly and re-raised: an action that cannot be traced must not happen silently.
"""
from __future__ import annotations

import logging

import flask

log = logging.getLogger(__name__)


def audit(action: str, *, target: str | None = None, area_code: str | None = None, outcome: str = "ok", detail: dict | None = None,
          identity=None, user: str | None = None) -> None:
    """Record ``action`` for the current caller (or ``identity``; ``user`` names a caller not logged in,
    e.g. a failed log-in)."""
    from app.context import current_context
    from app.security.identity import current_identity, remote_addr
    from queries.auth import record_audit

    who = identity if identity is not None else (current_identity() if flask.has_request_context() else None)
    address = remote_addr() if flask.has_request_context() else None
    try:
        with current_context().engine.begin() as conn:
            record_audit(conn, action, user=who.user if who else user, role=who.role if who else None, remote_addr=address,
                         target=target, area_code=area_code, outcome=outcome, detail=detail)
    except Exception:
        log.exception("audit log write failed: %s %s", action, target)
        raise
