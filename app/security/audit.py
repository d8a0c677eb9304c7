"""Writing the audit log from a request: who (the current identity), from where, what.

``audit(action, …)`` writes one append-only entry (queries.auth.record_audit) in its own
transaction, so an entry is kept even when the request itself then fails. A failure to write the
audit log is logged loudly and re-raised: an action that cannot be traced must not happen silently.

The database away
-----------------
When the write fails because the database does not answer (``queries.cache.database_unavailable``)
— walls and known sessions keep being served in an outage (``app.security.access``) — the entry is
kept in this process's ``AuditBuffer`` (on the Flask app, ``server.extensions[BUFFER_KEY]``) with
the time it happened, and ``audit`` returns normally. The buffer is written out, oldest first and
in one transaction, as soon as the database answers again: before the next entry is written, and
on the first request whose caller the database could check (``flush_pending``). Written-out entries
keep their own time and carry ``"buffered": true`` in ``detail``.

The buffer is bounded (``BUFFER_LIMIT`` entries): when full, the oldest entry is dropped and
counted; the flush then first writes one ``audit_lost`` entry (outcome ``failed``) with how many
were lost and the times of the first and last of them. The buffer lives in memory: entries of a
process that ends before the database returns are lost (its log says how many were pending).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from dataclasses import dataclass, field

import flask

log = logging.getLogger(__name__)

BUFFER_KEY = "cityops.audit_buffer"
BUFFER_LIMIT = 10_000


@dataclass
class AuditBuffer:
    """Entries waiting for the database (``record_audit`` keyword arguments, ``now`` included)."""

    limit: int = BUFFER_LIMIT
    entries: deque = field(default_factory=deque)
    lost: int = 0
    lost_first: dt.datetime | None = None
    lost_last: dt.datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    flushing: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def pending(self) -> bool:
        return bool(self.entries) or bool(self.lost)

    def add(self, entry: dict) -> None:
        with self.lock:
            self.entries.append(entry)
            self._bound()

    def _bound(self) -> None:
        while len(self.entries) > self.limit:
            dropped = self.entries.popleft()
            self.lost += 1
            self.lost_first = dropped["now"] if self.lost_first is None else min(self.lost_first, dropped["now"])
            self.lost_last = dropped["now"] if self.lost_last is None else max(self.lost_last, dropped["now"])

    def flush(self, engine) -> int:
        """Write every pending entry (one transaction); returns how many. Raises when the database
        fails, and then keeps them (within the bound). One flush at a time: a concurrent call returns 0."""
        from queries.auth import record_audit

        if not self.pending or not self.flushing.acquire(blocking=False):
            return 0
        try:
            with self.lock:
                batch = list(self.entries)
                self.entries.clear()
                lost, first, last = self.lost, self.lost_first, self.lost_last
                self.lost, self.lost_first, self.lost_last = 0, None, None
            try:
                with engine.begin() as conn:
                    if lost:
                        record_audit(conn, "audit_lost", user=None, role=None, outcome="failed", now=last,
                                     detail={"lost": lost, "first_at": first.isoformat(), "last_at": last.isoformat(),
                                             "reason": "the database was unavailable and the audit buffer was full"})
                    for entry in batch:
                        record_audit(conn, **entry)
            except Exception:
                with self.lock:  # back in front of what arrived meanwhile, oldest first
                    self.entries.extendleft(reversed(batch))
                    self.lost += lost
                    if lost:
                        self.lost_first = first if self.lost_first is None else min(first, self.lost_first)
                        self.lost_last = last if self.lost_last is None else max(last, self.lost_last)
                    self._bound()
                raise
            if batch or lost:
                log.warning("audit log: wrote %d entries kept while the database was unavailable%s", len(batch),
                            f"; {lost} were lost (buffer full)" if lost else "")
            return len(batch)
        finally:
            self.flushing.release()


def audit_buffer(app: flask.Flask | None = None) -> AuditBuffer:
    """The app's buffer (made on first use)."""
    app = app or flask.current_app
    buffer = app.extensions.get(BUFFER_KEY)
    if buffer is None:
        buffer = app.extensions.setdefault(BUFFER_KEY, AuditBuffer())
    return buffer


def register_audit(server: flask.Flask, limit: int = BUFFER_LIMIT) -> None:
    server.extensions[BUFFER_KEY] = AuditBuffer(limit=limit)


def flush_pending() -> None:
    """Write out buffered entries if there are any (cheap when there are none); a database that
    still fails leaves them buffered, quietly."""
    from app.context import current_context
    from queries.cache import database_unavailable

    if not flask.has_app_context():
        return
    buffer = audit_buffer()
    if not buffer.pending:
        return
    try:
        buffer.flush(current_context().engine)
    except Exception as exc:  # noqa: BLE001 - still away: they stay buffered
        if not database_unavailable(exc):
            log.exception("audit log: writing the buffered entries failed")


def audit(action: str, *, target: str | None = None, area_code: str | None = None, outcome: str = "ok", detail: dict | None = None,
          identity=None, user: str | None = None) -> None:
    """Record ``action`` for the current caller (or ``identity``; ``user`` names a caller not logged in,
    e.g. a failed log-in). With the database away, the entry waits in the buffer (module docstring)."""
    from app.context import current_context
    from app.security.identity import current_identity, remote_addr
    from queries.auth import AUDIT_ACTIONS, record_audit
    from queries.cache import database_unavailable

    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(AUDIT_ACTIONS)}")
    in_request = flask.has_request_context()
    who = identity if identity is not None else (_identity_or_none(current_identity) if in_request else None)
    entry = {
        "action": action, "user": who.user if who else user, "role": who.role if who else None,
        "remote_addr": remote_addr() if in_request else None, "target": target, "area_code": area_code, "outcome": outcome,
        "detail": detail, "now": dt.datetime.now(dt.timezone.utc),
    }
    buffer = audit_buffer() if flask.has_app_context() else None
    engine = current_context().engine
    try:
        if buffer is not None and buffer.pending:
            try:
                buffer.flush(engine)  # the older ones first; still away: this one joins them (below)
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                log.exception("audit log: writing the buffered entries failed; they stay buffered")
        with engine.begin() as conn:
            record_audit(conn, **entry)
    except Exception as exc:
        if buffer is not None and database_unavailable(exc):
            buffer.add({**entry, "detail": {**(detail or {}), "buffered": True}})
            log.warning("audit log: the database is unavailable; %s %s kept in memory (%d waiting)", action, target, len(buffer))
            return
        log.exception("audit log write failed: %s %s", action, target)
        raise


def _identity_or_none(current_identity):
    """The caller; when the database cannot say, what the access hook decided (``flask.g``) or None."""
    from queries.cache import database_unavailable

    try:
        return current_identity()
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        return flask.g.get("cityops_identity")
