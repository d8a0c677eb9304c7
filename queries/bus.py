"""The live-event bus: committed changes (new and updated incidents, sensor alarms, data-version
bumps) pushed to whoever listens — in practice the SSE endpoint, which forwards them to browsers.

Source of truth
    The database is the only source of truth; an event is a *notification of a committed fact*,
    never data of its own. Two paths deliver the same facts:

    * **published**: a writer that knows what it wrote (``ingest_records`` with a bus, ``cityops
      simulate``) publishes right after its commit. With ``CITYOPS_REDIS_URL`` this is Redis
      pub/sub and reaches every process and gunicorn worker; without it, only listeners in the
      writer's own process (fine for tests and for an app that writes in-process).
    * **watched**: every server process runs one ``ChangeWatcher`` thread that polls
      ``max(change_log.id)`` (cheap: the primary key) and, when it advanced, reads what changed
      (incidents with a newer ``updated_at``, sensors newly in ``alarm``, the new change_log
      rows). This catches writers that published nothing: an ETL writing the database directly,
      or ``cityops simulate`` in another process with no Redis. Every writer on the platform bumps
      the change log (``queries.writes.record_change``); one that does not is invisible here too.

    Both paths build events with the same functions from the same committed rows, so the event
    id is deterministic — ``incident:{id}:{updated_at µs}``, ``alarm:{sensor}:{status_at µs}``,
    ``data_version:{N}`` — and a consumer dedupes by id: whichever path arrives first wins, the
    other copy is dropped. Publishing is therefore only a latency optimisation; losing Redis
    loses no event, only up to one poll interval of latency.

    ``incident.new`` means the incident row did not exist before the batch that wrote it. The
    publisher knows that; ``ingest_records`` also notes the new ids in the batch's change_log
    detail so the watcher classifies identically. For writers that leave no such note the
    watcher falls back to the status: still ``reported`` (awaiting acceptance) = new.

Events are JSON (never pickle)::

    {"id": "incident:INC1:1763700000000000", "type": "incident.new", "at": "2026-11-21T08:30:00.000000+00:00",
     "data_version": 4711, "payload": {...}}

``at`` is when the fact was committed (the row's ``updated_at``/``status_at``, the change log's
``at``); ``data_version`` is a version at which the fact is visible. Incident payloads carry no
personal data: no reporter name or phone, no address, no description; coordinates are rounded to
~100 m and digit runs that look like phone or ID numbers are masked in titles.

Redis failures never break a write: ``publish`` logs, counts and, for a few seconds after a
failure, skips Redis altogether (a circuit breaker) so that a writer is not slowed by connect
timeouts. The subscriber thread reconnects by itself with backoff and resubscribes.

Outages: the watcher thread survives the database going away (each failed poll is counted in
``errors``, the thread backs off to ``max_backoff`` seconds) and, when it answers again, carries on
from the last change it *completed*: its position only moves when a whole poll succeeded, so
nothing committed after the restart is missed and nothing already emitted is replayed. A change
log that went backwards (database restored or replaced) restarts it at the present. Neither loop
floods the log: ``OutageLog`` writes the first failure, one line a minute while it lasts, and
the recovery.

No module-level mutable state: buses and watchers are objects created from the settings by the
app factory or the CLI and passed to whoever needs them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, and_, func, select

from queries.schema import Area, ChangeLog, Incident, Sensor, SensorStatusEvent

log = logging.getLogger(__name__)

EVENT_TYPES = ("incident.new", "incident.updated", "alarm", "data_version")
INCIDENT_TYPES = ("incident.new", "incident.updated")
PAYLOAD_COORDINATE_DECIMALS = 3  # ~100 m: enough for a city map, not a doorstep
# Mobile numbers (11 digits), landlines with area code, 15/18-character ID numbers.
_PERSONAL_NUMBER = re.compile(r"(?<![0-9])(?:1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}|[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")
# How many incident ids a batch notes in its change_log detail for the watcher (bigger batches
# are bulk imports, where the status fallback is good enough).
NOTED_IDS_LIMIT = 1000

Listener = Callable[["Event"], None]


# --- events --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    id: str
    type: str
    at: str  # ISO 8601, aware UTC
    data_version: int | None
    payload: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"id": self.id, "type": self.type, "at": self.at, "data_version": self.data_version, "payload": self.payload}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("type") not in EVENT_TYPES or not isinstance(data.get("id"), str):
            raise ValueError(f"not a cityops event: {str(text)[:120]!r}")
        return cls(id=data["id"], type=data["type"], at=str(data.get("at")), data_version=data.get("data_version"), payload=dict(data.get("payload") or {}))


def _micros(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000) if moment.tzinfo else int(moment.replace(tzinfo=dt.timezone.utc).timestamp() * 1_000_000)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def mask_personal_numbers(text: str | None) -> str | None:
    return None if text is None else _PERSONAL_NUMBER.sub(lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 3), text)


def _rounded(value: float | None) -> float | None:
    return None if value is None or value != value else round(float(value), PAYLOAD_COORDINATE_DECIMALS)


def data_version_event(version: int, at: dt.datetime, dataset_code: str | None = None, action: str | None = None, rows: int | None = None) -> Event:
    return Event(f"data_version:{version}", "data_version", _iso(at), int(version), {"dataset_code": dataset_code, "action": action, "rows": rows})


def current_data_version(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(ChangeLog.id), 0))).scalar_one())


def _chunks(values: Sequence, size: int = 1000) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def incident_events(conn: Connection, ids: Sequence[str], data_version: int, new_ids: Iterable[str] | None = None) -> list[Event]:
    """Events for the current state of incidents ``ids``.

    ``new_ids``: the ids known to have been inserted (not updated); None = unknown, classify by
    status (``reported`` = new).
    """
    district = Area.__table__.alias("district")
    known_new = set(new_ids) if new_ids is not None else None
    events = []
    for part in _chunks(list(dict.fromkeys(ids))):
        rows = conn.execute(
            select(
                Incident.id, Incident.category, Incident.subtype, Incident.severity, Incident.status, Incident.channel, Incident.title,
                Incident.reported_at, Incident.updated_at, Incident.district_code, Incident.street_code, Incident.community_code,
                Incident.grid_code, Incident.lon, Incident.lat, Incident.casualties, district.c.name.label("district_name"), district.c.name_en.label("district_name_en"),
            )
            .select_from(Incident)
            .outerjoin(district, district.c.code == Incident.district_code)
            .where(Incident.id.in_(part))
        ).all()
        for row in rows:
            is_new = (row.id in known_new) if known_new is not None else row.status == "reported"
            changed = row.updated_at or row.reported_at
            payload = {
                "incident_id": row.id, "category": row.category, "subtype": row.subtype, "severity": row.severity, "status": row.status,
                "channel": row.channel, "title": mask_personal_numbers(row.title), "casualties": row.casualties,
                "reported_at": _iso(row.reported_at), "updated_at": _iso(row.updated_at),
                "district_code": row.district_code, "street_code": row.street_code, "community_code": row.community_code, "grid_code": row.grid_code,
                "district_name": row.district_name, "district_name_en": row.district_name_en,
                "lon": _rounded(row.lon), "lat": _rounded(row.lat),
            }
            events.append(Event(f"incident:{row.id}:{_micros(changed)}", "incident.new" if is_new else "incident.updated", _iso(changed), data_version, payload))
    return events


def alarm_events(conn: Connection, sensor_ids: Sequence[str], data_version: int) -> list[Event]:
    """Events for sensors among ``sensor_ids`` that are currently in alarm."""
    events = []
    for part in _chunks(list(dict.fromkeys(sensor_ids))):
        rows = conn.execute(
            select(Sensor.id, Sensor.kind, Sensor.name, Sensor.status_at, Sensor.district_code, Sensor.grid_code, Sensor.lon, Sensor.lat)
            .where(Sensor.id.in_(part), Sensor.status == "alarm", Sensor.status_at.is_not(None))
        ).all()
        details = {}
        if rows:
            # The status event that raised the alarm says why ("水位超警戒", "烟雾浓度超限"…).
            found = conn.execute(
                select(SensorStatusEvent.sensor_id, SensorStatusEvent.at, SensorStatusEvent.detail).where(
                    SensorStatusEvent.sensor_id.in_([r.id for r in rows]), SensorStatusEvent.status == "alarm"
                )
            ).all()
            for sensor_id, at, detail in found:
                if sensor_id not in details or at > details[sensor_id][0]:
                    details[sensor_id] = (at, detail)
        for row in rows:
            payload = {
                "sensor_id": row.id, "kind": row.kind, "name": row.name, "status": "alarm", "detail": details.get(row.id, (None, None))[1],
                "status_at": _iso(row.status_at), "district_code": row.district_code, "grid_code": row.grid_code,
                "lon": _rounded(row.lon), "lat": _rounded(row.lat),
            }
            events.append(Event(f"alarm:{row.id}:{_micros(row.status_at)}", "alarm", _iso(row.status_at), data_version, payload))
    return events


# --- outage logging --------------------------------------------------------------------------------

class OutageLog:
    """Warnings of one retrying loop without a flood: the first failure, then at most one line
    every ``every`` seconds while failures go on (with their count), and one when it recovers."""

    def __init__(self, what: str, *, every: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.what = what
        self.every = every
        self._clock = clock
        self._failures = 0
        self._since = 0.0
        self._logged_at = 0.0
        self._lock = threading.Lock()

    @property
    def failing(self) -> bool:
        return self._failures > 0

    def failed(self, message: str) -> None:
        with self._lock:
            now = self._clock()
            self._failures += 1
            if self._failures == 1:
                self._since = self._logged_at = now
                log.warning("%s: %s", self.what, message)
            elif now - self._logged_at >= self.every:
                self._logged_at = now
                log.warning("%s: still failing after %d attempts in %.0f s: %s", self.what, self._failures, now - self._since, message)

    def recovered(self) -> None:
        with self._lock:
            if not self._failures:
                return
            log.warning("%s: recovered after %d failed attempts in %.0f s", self.what, self._failures, self._clock() - self._since)
            self._failures = 0


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}".strip()


# --- buses ---------------------------------------------------------------------------------------

@dataclass
class BusCounters:
    published: int = 0
    publish_failures: int = 0
    publish_skipped: int = 0  # not attempted: the breaker was open after a failure
    received: int = 0
    malformed: int = 0
    reconnects: int = 0
    listener_errors: int = 0


class _Listeners:
    """Thread-safe list of callbacks; a failing callback is logged and never stops the others."""

    def __init__(self, counters: BusCounters):
        self._lock = threading.Lock()
        self._callbacks: list[Listener] = []
        self._counters = counters

    def add(self, callback: Listener) -> Callable[[], None]:
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def __len__(self) -> int:
        with self._lock:
            return len(self._callbacks)

    def dispatch(self, event: Event) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - one bad listener must not starve the rest
                self._counters.listener_errors += 1
                log.exception("live-event listener failed on %s", event.id)


class LocalBus:
    """In-process bus: ``publish`` calls every subscriber synchronously (they must not block)."""

    backend = "memory"

    def __init__(self):
        self.counters = BusCounters()
        self._listeners = _Listeners(self.counters)

    def publish(self, event: Event) -> bool:
        self.counters.published += 1
        self._listeners.dispatch(event)
        return True

    def publish_many(self, events: Iterable[Event]) -> int:
        return sum(self.publish(event) for event in events)

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Register ``callback(event)``; returns a function that unsubscribes it."""
        return self._listeners.add(callback)

    def close(self) -> None:
        pass


class RedisBus:
    """Redis pub/sub on one channel; one background thread per bus delivers to local subscribers."""

    backend = "redis"

    def __init__(self, url: str, channel: str, *, socket_timeout: float = 1.0, breaker_seconds: float = 5.0, max_backoff: float = 5.0):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.channel = channel
        self.counters = BusCounters()
        self._listeners = _Listeners(self.counters)
        self._breaker_seconds = breaker_seconds
        self._max_backoff = max_backoff
        self._open_until = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        # No client-side retries: a failed publish is counted and the breaker opens instead.
        self._client = redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, retry=Retry(NoBackoff(), 0))
        self._subscriber_options = {"socket_connect_timeout": socket_timeout, "retry": Retry(NoBackoff(), 0), "health_check_interval": 10}

    def publish(self, event: Event) -> bool:
        import redis

        if time.monotonic() < self._open_until:
            self.counters.publish_skipped += 1
            return False
        try:
            self._client.publish(self.channel, event.to_json())
        except (redis.RedisError, OSError) as exc:
            self.counters.publish_failures += 1
            self._open_until = time.monotonic() + self._breaker_seconds
            log.warning("live event %s not published (Redis: %s); browsers get it from the change-log watcher", event.id, exc)
            return False
        self.counters.published += 1
        return True

    def publish_many(self, events: Iterable[Event]) -> int:
        return sum(self.publish(event) for event in events)

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        remove = self._listeners.add(callback)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="cityops-bus-redis", daemon=True)
                self._thread.start()
        return remove

    @property
    def connected(self) -> bool:
        """The subscriber thread is subscribed right now (False while Redis is away)."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """True once the subscriber thread is subscribed (tests and benchmarks wait on this)."""
        return self._connected.wait(timeout)

    def _listen(self) -> None:
        import redis

        backoff = 0.2
        outage = OutageLog("live-event subscriber (Redis)")
        while not self._stop.is_set():
            client = pubsub = None
            try:
                client = redis.Redis.from_url(self.url, **self._subscriber_options)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._connected.set()
                outage.recovered()
                backoff = 0.2
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        event = Event.from_json(message["data"])
                    except (ValueError, TypeError):
                        self.counters.malformed += 1
                        continue
                    self.counters.received += 1
                    self._listeners.dispatch(event)
            except (redis.RedisError, OSError) as exc:
                self._connected.clear()
                if self._stop.is_set():
                    break
                self.counters.reconnects += 1
                outage.failed(f"{_first_line(exc)}; reconnecting with backoff up to {self._max_backoff:.0f} s")
                self._stop.wait(backoff)
                backoff = min(self._max_backoff, backoff * 2)
            finally:
                for closable in (pubsub, client):
                    try:
                        if closable is not None:
                            closable.close()
                    except Exception:  # noqa: BLE001 - closing a dead connection may fail; nothing to do
                        pass
        self._connected.clear()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=3)
        self._client.close()


def bus_channel(settings) -> str:
    """One channel per database: two deployments sharing a Redis never see each other's events."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url()).render_as_string(hide_password=True)
    return f"cityops:events:{hashlib.sha1(url.encode()).hexdigest()[:12]}"


def bus_from_settings(settings) -> LocalBus | RedisBus:
    """Redis pub/sub when ``CITYOPS_REDIS_URL`` is set, else an in-process bus."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, bus_channel(settings))
    return LocalBus()


# --- the change-log watcher ----------------------------------------------------------------------

class RecentIds:
    """Bounded memory of event ids already emitted (insertion order; oldest forgotten first)."""

    def __init__(self, limit: int = 20000):
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, event_id: str) -> bool:
        """False when already present."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        while len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True


class ChangeWatcher:
    """Turns committed database changes into events, whoever wrote them.

    ``poll()`` does one step and returns the new events (tests call it directly); ``start()``
    runs it every ``interval`` seconds on a daemon thread and hands each event to ``emit``.
    Rows are re-read with an ``overlap`` window behind the newest time seen, because a writer
    stamps ``updated_at`` before it commits: a batch committing late with an earlier stamp would
    otherwise be missed. Ids already emitted are remembered, so the overlap repeats nothing.
    """

    def __init__(
        self, engine: Engine, emit: Listener | None = None, *, interval: float = 0.5, overlap: dt.timedelta = dt.timedelta(seconds=120),
        max_backoff: float = 5.0,
    ):
        self.engine = engine
        self.emit = emit
        self.interval = interval
        self.overlap = overlap
        self.max_backoff = max(interval, max_backoff)  # longest pause between polls while the database fails
        self.polls = 0  # successful polls of the thread
        self.errors = 0  # failed polls of the thread
        self.emit_errors = 0
        self.last_error: str | None = None  # of the current outage; None once a poll succeeded
        self._outage = OutageLog("change-log watcher")
        self._last_id: int | None = None
        self._incidents_since: dt.datetime | None = None
        self._alarms_since: dt.datetime | None = None
        self._emitted = RecentIds()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.instance = uuid.uuid4().hex[:8]

    # One step ---------------------------------------------------------------------------------

    def poll(self) -> list[Event]:
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for the whole step: rows and the change log agree.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            head = current_data_version(conn)
            if self._last_id is not None and head < self._last_id:
                log.warning("change-log watcher: the change log went back from %d to %d (database restored or replaced); starting again at the present", self._last_id, head)
                self._last_id = None
            if self._last_id is None:
                self._initialise(conn, head)
                return []
            if head == self._last_id:
                return []
            return self._changes(conn, head)

    def _initialise(self, conn: Connection, head: int) -> None:
        """Start at the present: nothing that happened before the watcher started is replayed."""
        now = dt.datetime.now(dt.timezone.utc)
        incidents_since = conn.execute(select(func.max(Incident.updated_at))).scalar() or now
        alarms_since = conn.execute(select(func.max(Sensor.status_at)).where(Sensor.status == "alarm")).scalar() or now
        incident_rows, incidents_since = self._changed_incidents(conn, incidents_since)
        alarm_ids, alarms_since = self._changed_alarms(conn, alarms_since)
        current = incident_events(conn, [r.id for r in incident_rows], head) + alarm_events(conn, alarm_ids, head)
        # Every read succeeded: only now take the position (a failure above leaves it unset).
        self._last_id, self._incidents_since, self._alarms_since = head, incidents_since, alarms_since
        for event in current:
            self._emitted.add(event.id)

    def _changes(self, conn: Connection, head: int) -> list[Event]:
        # Changed rows first, then the change log: a row seen here was committed before the log
        # is read, so the note its batch left (new or updated) is always visible below.
        incident_rows, incidents_since = self._changed_incidents(conn, self._incidents_since)
        alarm_ids, alarms_since = self._changed_alarms(conn, self._alarms_since)
        log_rows = conn.execute(
            select(ChangeLog.id, ChangeLog.at, ChangeLog.dataset_code, ChangeLog.action, ChangeLog.rows, ChangeLog.detail)
            .where(ChangeLog.id > self._last_id)
            .order_by(ChangeLog.id)
        ).all()
        head = max([head, *(row.id for row in log_rows)])
        noted: dict[str, set[str]] = {"new": set(), "updated": set()}
        for row in log_rows:
            if isinstance(row.detail, dict):
                noted["new"].update(row.detail.get("incidents_new") or ())
                noted["updated"].update(row.detail.get("incidents_updated") or ())
        events = [data_version_event(row.id, row.at, row.dataset_code, row.action, row.rows) for row in log_rows]
        events += self._classified_incident_events(conn, incident_rows, head, noted)
        events += alarm_events(conn, alarm_ids, head) if alarm_ids else []
        # The whole step succeeded: only now move on. A poll that fails half-way (the database
        # went away between two statements) leaves the position where it was, so its changes
        # are read again by the next successful poll instead of being skipped.
        self._last_id, self._incidents_since, self._alarms_since = head, incidents_since, alarms_since
        return [event for event in events if self._emitted.add(event.id)]

    def _changed_incidents(self, conn: Connection, newest: dt.datetime) -> tuple[list, dt.datetime]:
        """Incidents changed since ``newest`` (less the overlap) and the new newest change time."""
        rows = conn.execute(
            select(Incident.id, Incident.updated_at).where(Incident.updated_at > newest - self.overlap).order_by(Incident.updated_at).limit(5000)
        ).all()
        return rows, max(newest, rows[-1].updated_at) if rows else newest

    def _changed_alarms(self, conn: Connection, newest: dt.datetime) -> tuple[list[str], dt.datetime]:
        rows = conn.execute(
            select(Sensor.id, Sensor.status_at).where(and_(Sensor.status == "alarm", Sensor.status_at > newest - self.overlap)).order_by(Sensor.status_at).limit(5000)
        ).all()
        return [row.id for row in rows], max(newest, rows[-1].status_at) if rows else newest

    @staticmethod
    def _classified_incident_events(conn: Connection, rows, head: int, noted: dict[str, set[str]]) -> list[Event]:
        """By the change log's note where a batch left one (inserted then updated between two
        polls is an update, as its publisher said), else by status."""
        known = noted["new"] | noted["updated"]
        with_note = [r.id for r in rows if r.id in known]
        unnoted = [r.id for r in rows if r.id not in known]
        events = []
        if with_note:
            events += incident_events(conn, with_note, head, new_ids=noted["new"] - noted["updated"])
        if unnoted:
            events += incident_events(conn, unnoted, head, new_ids=None)
        return events

    # The thread --------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="cityops-change-watcher", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            try:
                events = self.poll()
            except Exception as exc:  # noqa: BLE001 - a database outage must not kill the thread
                self.errors += 1
                self.last_error = _first_line(exc)
                delay = min(self.max_backoff, max(self.interval, delay * 2))
                self._outage.failed(f"{self.last_error}; retrying with backoff up to {self.max_backoff:.0f} s")
                continue
            self.polls += 1
            self.last_error = None
            delay = self.interval
            self._outage.recovered()
            if self.emit is None:
                continue
            for event in events:
                try:
                    self.emit(event)
                except Exception:  # noqa: BLE001 - a failing consumer must not kill the thread either
                    self.emit_errors += 1
                    log.exception("change-log watcher: emitting %s failed", event.id)

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)


# --- what one write batch publishes --------------------------------------------------------------

class BatchEvents:
    """The events of one committed write batch (``ingest_records``), built inside its transaction.

    ``before_write`` records which incident ids already exist; ``after_write`` (same transaction,
    after the rows are written) notes the new and updated ids in the batch's change_log detail —
    so the watcher classifies exactly as the publisher — and builds the events from the rows;
    ``publish`` sends them once the transaction has committed.
    """

    def __init__(self, incident_ids: list[str], existing: set[str] | None, publishing: bool):
        self.incident_ids = incident_ids
        self.existing = existing
        self.publishing = publishing
        self.events: list[Event] = []

    @classmethod
    def before_write(cls, conn: Connection, incident_ids: Sequence[str] | None, *, publishing: bool = True) -> BatchEvents:
        ids = list(dict.fromkeys(incident_ids or ()))
        if not publishing and len(ids) > NOTED_IDS_LIMIT:
            return cls(ids, None, publishing)  # a bulk import with nobody to tell: skip the lookups
        existing: set[str] = set()
        for part in _chunks(ids):
            existing.update(conn.execute(select(Incident.id).where(Incident.id.in_(part))).scalars())
        return cls(ids, existing, publishing)

    def after_write(self, conn: Connection, data_version: int | None) -> None:
        if data_version is None or self.existing is None:
            return
        new_ids = [i for i in self.incident_ids if i not in self.existing]
        updated_ids = [i for i in self.incident_ids if i in self.existing]
        change = conn.execute(select(ChangeLog.at, ChangeLog.dataset_code, ChangeLog.action, ChangeLog.rows, ChangeLog.detail).where(ChangeLog.id == data_version)).first()
        if self.incident_ids and len(self.incident_ids) <= NOTED_IDS_LIMIT and change is not None:
            detail = dict(change.detail or {})
            detail.update(incidents_new=new_ids, incidents_updated=updated_ids)
            conn.execute(ChangeLog.__table__.update().where(ChangeLog.__table__.c.id == data_version).values(detail=detail))
        if not self.publishing:
            return
        if self.incident_ids:
            self.events += incident_events(conn, self.incident_ids, data_version, new_ids=new_ids)
        if change is not None:
            self.events.append(data_version_event(data_version, change.at, change.dataset_code, change.action, change.rows))

    def publish(self, bus) -> int:
        """Publish after commit; returns how many reached the bus (failures are the bus's to count)."""
        return bus.publish_many(self.events)


def latest_incident_events(conn: Connection, limit: int = 8) -> list[Event]:
    """The newest incidents (by report time) in event form: what a live list starts from."""
    ids = conn.execute(select(Incident.id).order_by(Incident.reported_at.desc(), Incident.id).limit(limit)).scalars().all()
    by_id = {event.payload["incident_id"]: event for event in incident_events(conn, ids, current_data_version(conn), new_ids=())}
    return [by_id[i] for i in ids if i in by_id]
