"""Per-app state (settings and engines) kept on the Flask server, never at module level.

``create_app`` installs an ``AppContext`` in ``server.extensions``; pages and routes reach it
through ``current_context()`` while a request is being handled.

Outages (the video wall runs for days and must outlive its database and Redis):

* ``run_query`` bounds every page statement (``PAGE_STATEMENT_TIMEOUT_SECONDS``), so a locked or
  overloaded database fails a callback instead of holding its thread;
* ``run_query_or_last_good`` answers a cached query's last good value, marked stale, when the
  database does not answer (``queries.cache.QueryCache.call_or_last_good``);
* ``service_health()`` says whether the database and Redis answer, within
  ``HEALTH_TIMEOUT_SECONDS`` whatever they do, reusing a check for ``HEALTH_MAX_AGE_SECONDS``:
  cheap enough for every wall tick.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import flask
from sqlalchemy import literal, select
from sqlalchemy.engine import Engine

from app.i18n import normalise_lang

EXTENSION_KEY = "cityops"
# Page and API reads are milliseconds to a second or two; 30 s means the database is stuck.
# Ingest, migrations and demo builds do not go through run_query and are not bounded.
PAGE_STATEMENT_TIMEOUT_SECONDS = 30.0
HEALTH_MAX_AGE_SECONDS = 2.0
HEALTH_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class AppContext:
    settings: object  # queries.settings.Settings
    engine: Engine  # writes and anything that must see its own writes
    read_engine: Engine  # the read replica when configured, else ``engine``
    # The query cache (queries.cache.QueryCache): Redis when CITYOPS_REDIS_URL is set, else in-process.
    # Built from the settings when not given, so every app instance has exactly one.
    cache: object = field(default=None)
    # ``read_engine`` with PAGE_STATEMENT_TIMEOUT_SECONDS on every transaction (same pool).
    query_engine: Engine = field(default=None, repr=False)
    # The HealthProbe behind service_health(), built when not given.
    health: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        from queries.db import with_statement_timeout

        if self.cache is None:
            from queries.cache import QueryCache

            object.__setattr__(self, "cache", QueryCache.from_settings(self.settings))
        if self.query_engine is None:
            object.__setattr__(self, "query_engine", with_statement_timeout(self.read_engine, PAGE_STATEMENT_TIMEOUT_SECONDS))
        if self.health is None:
            object.__setattr__(self, "health", HealthProbe(self.engine, self.cache, redis_configured=bool(getattr(self.settings, "redis_url", None))))


def install(server: flask.Flask, context: AppContext) -> None:
    server.extensions[EXTENSION_KEY] = context


def current_context() -> AppContext:
    return flask.current_app.extensions[EXTENSION_KEY]


def current_lang(requested=None) -> str:
    """The language asked for in the URL (``?lang=en``), else the configured default (CITYOPS_LOCALE)."""
    return normalise_lang(requested, default=current_context().settings.locale)


def viewer_scope() -> str:
    """The query cache's scope of the current caller (``Identity.cache_scope``; ``masked:none``
    for nobody): results that differ by who asks are kept apart by it."""
    from app.security.access import current_viewer

    viewer = current_viewer()
    return viewer.cache_scope if viewer is not None else "masked:none"


def _scope(scope: str | None, kwargs: dict) -> str:
    """The scope of a cached call: the one given, else the caller's when the query returns
    personal data (``include_personal=True``), else the shared one."""
    from queries.cache import DEFAULT_SCOPE

    if scope is not None:
        return scope
    return viewer_scope() if kwargs.get("include_personal") else DEFAULT_SCOPE


def run_query(query, *args, scope: str | None = None, **kwargs):
    """One query function on the read engine; ``@cached`` ones are answered from the query cache
    (keyed on the versions of the datasets they read, and for personal data on the caller's
    scope). Every page and route reads through here. Statements are bounded by
    PAGE_STATEMENT_TIMEOUT_SECONDS."""
    context = current_context()
    if hasattr(query, "__cache_spec__"):
        with _one_snapshot(context):
            return context.cache.call(context.query_engine, query, *args, scope=_scope(scope, kwargs), **kwargs)
    with context.query_engine.connect() as conn:
        return query(conn, *args, **kwargs)


def run_query_or_last_good(query, *args, scope: str | None = None, **kwargs):
    """A ``@cached`` query as a ``queries.cache.CallResult``: fresh (``stale`` False), or, when
    the database does not answer, the last good value this process served for the same call
    with ``stale`` True, its ``as_of`` time and the ``error``. Raises
    ``queries.cache.DatabaseUnavailable`` when there is no such value yet. For the video wall."""
    context = current_context()
    with _one_snapshot(context):
        return context.cache.call_or_last_good(context.query_engine, query, *args, scope=_scope(scope, kwargs), **kwargs)


def _one_snapshot(context: AppContext):
    """The cached calls of one request key on one read of the dataset versions
    (``QueryCache.one_snapshot``; the snapshot lives on ``flask.g``): a drill step or a wall
    refresh makes a dozen cached calls, which cost a dozen catalogue reads and pool check-outs
    before, and none on a hit now. Outside a request, one read per call as before."""
    import contextlib

    one_snapshot = getattr(context.cache, "one_snapshot", None)
    if one_snapshot is None:
        return contextlib.nullcontext()
    if not flask.has_request_context():
        return one_snapshot()
    if "cityops_snapshots" not in flask.g:
        flask.g.cityops_snapshots = {}
    return one_snapshot(flask.g.cityops_snapshots)


def service_health():
    """``ServiceHealth`` of this app's database and Redis: answers within HEALTH_TIMEOUT_SECONDS,
    checks at most every HEALTH_MAX_AGE_SECONDS (call it from every wall tick)."""
    return current_context().health.check()


# --- service health ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceHealth:
    """Whether the database and Redis answer, as of ``checked_at``.

    ``database_error``/``redis_error`` hold the driver's first line, or ``TimeoutError: no answer
    within N s`` when the check did not finish in time. ``redis_ok`` is None when no Redis is
    configured; ``cache`` is the backend requests are served from (``redis`` or ``memory``: with
    Redis configured, ``memory`` means the cache's breaker is open).
    """

    database_ok: bool
    database_error: str | None
    redis_ok: bool | None
    redis_error: str | None
    cache: str
    checked_at: dt.datetime

    @property
    def ok(self) -> bool:
        return self.database_ok and self.redis_ok is not False

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "database_ok": self.database_ok, "database_error": self.database_error, "redis_ok": self.redis_ok,
            "redis_error": self.redis_error, "cache": self.cache, "checked_at": self.checked_at.isoformat(timespec="seconds"),
        }


class _TimedCheck:
    """One service's check on a daemon thread of its own: reused for ``max_age`` seconds, one in
    flight at a time, and never waited on for longer than the caller's deadline."""

    def __init__(self, name: str, check: Callable[[], tuple[bool, str | None, object]], max_age: float, clock: Callable[[], float]):
        self.name = name
        self._check = check
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._result: tuple[float, tuple] | None = None  # (checked at, (ok, error, extra))
        self._running: threading.Event | None = None  # set when the check in flight finishes
        self._overdue = False  # a caller already gave up on the check in flight

    def start(self) -> threading.Event | None:
        """The event to wait on for a new result, or None when the latest result is the answer
        (young enough, or the check in flight was already reported hung)."""
        with self._lock:
            if self._result is not None and self._clock() - self._result[0] < self._max_age:
                return None
            if self._running is not None and self._overdue:
                return None
            if self._running is None:
                self._running = threading.Event()
                threading.Thread(target=self._run, args=(self._running,), name=f"cityops-health-{self.name}", daemon=True).start()
            return self._running

    def collect(self, running: threading.Event | None, deadline: float, timeout: float) -> tuple:
        """(ok, error, extra): waits for ``running`` until ``deadline`` at most."""
        if running is not None and not running.wait(max(0.0, deadline - self._clock())):
            with self._lock:
                if self._running is running:  # still hung: report it, and keep reporting until it ends
                    self._overdue = True
                    self._result = (self._clock(), (False, f"TimeoutError: no answer within {timeout:g} s", None))
        with self._lock:
            return self._result[1]

    def _run(self, done: threading.Event) -> None:
        try:
            outcome = self._check()
        except Exception as exc:  # noqa: BLE001 - a failed check is a result
            from queries.cache import error_text

            outcome = (False, error_text(exc), None)
        with self._lock:
            self._result = (self._clock(), outcome)
            self._running = None
            self._overdue = False
        done.set()


class HealthProbe:
    """Database and Redis reachability for the wall: ``check()`` answers within ``timeout``
    seconds even when a service hangs (each check runs on its own daemon thread) and reuses a
    check younger than ``max_age`` seconds.

    The database check is ``SELECT 1`` through the app's engine (its pool, pre-ping and connect
    timeout: what pages get). The Redis check is the cache's own ``status()``, so it agrees with
    what requests are served from and pings Redis at most once per breaker period while it is
    down (``cache`` is ``memory`` and ``redis_ok`` False until the cache goes back to Redis).
    """

    def __init__(self, engine: Engine, cache, *, redis_configured: bool, max_age: float = HEALTH_MAX_AGE_SECONDS,
                 timeout: float = HEALTH_TIMEOUT_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.cache = cache
        self.redis_configured = redis_configured
        self.timeout = timeout
        self._clock = clock
        self._database = _TimedCheck("database", self._check_database, max_age, clock)
        self._redis = _TimedCheck("redis", self._check_redis, max_age, clock)

    def _check_database(self) -> tuple[bool, str | None, object]:
        with self.engine.connect() as conn:
            conn.execute(select(literal(1))).scalar_one()
        return True, None, None

    def _check_redis(self) -> tuple[bool, str | None, object]:
        probe = self.cache.status()
        return probe.backend == "redis", probe.error, probe.backend

    def check(self) -> ServiceHealth:
        deadline = self._clock() + self.timeout
        waits = (self._database.start(), self._redis.start() if self.redis_configured else None)  # both run at once
        database_ok, database_error, _ = self._database.collect(waits[0], deadline, self.timeout)
        if self.redis_configured:
            redis_ok, redis_error, backend = self._redis.collect(waits[1], deadline, self.timeout)
        else:
            redis_ok, redis_error, backend = None, None, "memory"
        return ServiceHealth(
            database_ok=database_ok, database_error=database_error,
            redis_ok=redis_ok, redis_error=redis_error, cache=backend or "memory", checked_at=dt.datetime.now(dt.timezone.utc),
        )
