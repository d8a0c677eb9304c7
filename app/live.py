"""Live updates to browsers: ``GET /api/v1/events``, a server-sent-event (SSE) stream.

Each server process has one ``LiveHub``. It takes events from the bus (Redis pub/sub across
processes, or in-process) and from its own change-log watcher (writes that published nothing),
dedupes them by event id (see ``queries.bus`` for why ids are deterministic), keeps the last
``RING_SIZE`` in a ring for ``Last-Event-ID`` resume, and fans them out to one bounded queue per
open stream: a slow client loses its oldest events, it never blocks the hub or other clients.
The watcher thread and the bus subscription start with the first stream, not at import or app
creation, so processes that never stream (CLI, tests of other pages) run no threads.

Threads: with gunicorn's gthread worker every open stream holds one of the worker's
``CITYOPS_WEB_THREADS`` threads; the hub admits at most that many minus ``PAGE_REQUEST_THREADS``
streams per process (503 + Retry-After beyond), so pages and Dash callbacks always have threads
left. Streams end after ``MAX_STREAM_SECONDS``; the browser reconnects at once with
``Last-Event-ID`` and loses nothing, and long-lived clients spread again over the workers.

Outages: a stream never touches the database itself, so while the database or Redis is away
it stays open and keeps sending heartbeats; the watcher thread counts its failed polls and
carries on from where it was when the database answers again, and the Redis subscriber
reconnects and resubscribes by itself (``queries.bus``). ``LiveHub.status()`` says how both are.

Access (``app.security.access``): any signed-in caller, wall devices included; each stream gets only
the events of the caller's areas (for a caller limited to areas) with phone and ID numbers in titles
masked unless the caller may see personal data (``for_viewer``).

Query: ``?types=incident.new,alarm`` (default: all), ``?lastEventId=`` (same as the header, for
clients that reconnect by hand). Every stream starts with a comment naming the worker's pid
(also in the ``X-CityOps-Worker`` header).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque

import flask

from queries.bus import EVENT_TYPES, ChangeWatcher, Event, RecentIds, bus_from_settings

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/events"
HUB_KEY = "cityops.live"
RING_SIZE = 1000
CLIENT_QUEUE_SIZE = 256
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0
RECONNECT_MS = 2000  # the browser's own retry delay after a stream ends normally
PAGE_REQUEST_THREADS = 8


class TooManyStreams(RuntimeError):
    pass


class StreamQueue:
    """One client's bounded queue of (sequence, event); the oldest go first when it is full."""

    def __init__(self, types: frozenset[str], size: int):
        self.types = types
        self._items: deque[tuple[int, Event]] = deque(maxlen=size)
        self._condition = threading.Condition()
        self.dropped = 0
        self.closed = False

    def wants(self, event: Event) -> bool:
        return event.type in self.types

    def put(self, seq: int, event: Event) -> None:
        with self._condition:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append((seq, event))
            self._condition.notify()

    def get(self, timeout: float) -> tuple[int, Event] | None:
        """The next item, or None after ``timeout`` seconds (or when closed) with nothing new."""
        with self._condition:
            if not self._items and not self.closed:
                self._condition.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        with self._condition:
            self.closed = True
            self._condition.notify_all()


class LiveHub:
    def __init__(self, engine, bus, *, max_streams: int, ring_size: int = RING_SIZE, queue_size: int = CLIENT_QUEUE_SIZE, watch_interval: float = 0.5):
        self.engine = engine
        self.bus = bus
        self.max_streams = max_streams
        self.queue_size = queue_size
        self.watch_interval = watch_interval
        self.watcher: ChangeWatcher | None = None
        self.accepted = 0
        self.duplicates = 0
        self._ring: deque[tuple[int, Event]] = deque(maxlen=ring_size)
        self._seen = RecentIds(limit=max(20000, ring_size * 10))
        self._seq = 0
        self._streams: set[StreamQueue] = set()
        self._lock = threading.Lock()
        self._started = False
        self._unsubscribe = None

    def ensure_started(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self._unsubscribe = self.bus.subscribe(self.accept)
        self.watcher = ChangeWatcher(self.engine, self.accept, interval=self.watch_interval)
        self.watcher.start()

    def accept(self, event: Event) -> None:
        """Take an event from any path; the second copy of an id is dropped."""
        with self._lock:
            if not self._seen.add(event.id):
                self.duplicates += 1
                return
            self._seq += 1
            self.accepted += 1
            item = (self._seq, event)
            self._ring.append(item)
            streams = [s for s in self._streams if s.wants(event)]
        for stream in streams:
            stream.put(*item)

    def open_stream(self, types: frozenset[str], last_event_id: str | None) -> tuple[StreamQueue, list[tuple[int, Event]], bool | None]:
        """A registered queue, the backlog after ``last_event_id`` and whether resuming worked
        (None when nothing was asked)."""
        stream = StreamQueue(types, self.queue_size)
        with self._lock:
            if len(self._streams) >= self.max_streams:
                raise TooManyStreams(f"{len(self._streams)} live streams already open in this process")
            self._streams.add(stream)
            ring = list(self._ring)
        if not last_event_id:
            return stream, [], None
        position = next((i for i, (_, event) in enumerate(ring) if event.id == last_event_id), None)
        if position is None:
            return stream, [], False
        return stream, [item for item in ring[position + 1 :] if stream.wants(item[1])], True

    def close_stream(self, stream: StreamQueue) -> None:
        stream.close()
        with self._lock:
            self._streams.discard(stream)

    @property
    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    def status(self) -> dict:
        """Open streams, events accepted, and how the watcher and the bus fare (cheap, no I/O)."""
        watcher = self.watcher
        return {
            "started": self._started,
            "streams": self.open_streams,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "watcher": None if watcher is None else {
                "running": watcher.running, "polls": watcher.polls, "errors": watcher.errors, "last_error": watcher.last_error,
            },
            "bus": {"backend": self.bus.backend, "connected": getattr(self.bus, "connected", True)},
        }

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.watcher is not None:
            self.watcher.stop()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.close()
        self.bus.close()


def format_event(event: Event) -> str:
    # One ``data:`` line: the JSON has no raw newlines (json.dumps escapes them).
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.to_json()}\n\n"


def parse_types(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset(EVENT_TYPES)
    wanted = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = wanted - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event type(s) {', '.join(sorted(unknown))}; known: {', '.join(EVENT_TYPES)}")
    return wanted


def current_hub() -> LiveHub:
    return flask.current_app.extensions[HUB_KEY]


def for_viewer(event: Event, viewer) -> Event | None:
    """``event`` as ``viewer`` may receive it: None when it concerns a place outside their areas
    (judged by the payload's area codes; events without any, such as data versions, go to
    everyone), free text with phone and ID numbers masked unless they see personal data."""
    from dataclasses import replace

    from app.masking import mask_text, sees_clear
    from app.security.access import AREA_CODE_FIELDS, may_see_record, restricted

    payload = event.payload or {}
    if restricted(viewer) and any(payload.get(name) for name in AREA_CODE_FIELDS) and not may_see_record(viewer, payload):
        return None
    if sees_clear(viewer) or not any(isinstance(payload.get(name), str) for name in ("title", "description", "note")):
        return event
    return replace(event, payload={key: mask_text(value, viewer) if key in ("title", "description", "note") else value for key, value in payload.items()})


def _stream(hub: LiveHub, stream: StreamQueue, backlog, resumed, heartbeat: float, lifetime: float, viewer=None):
    pid = os.getpid()
    try:
        yield f"retry: {RECONNECT_MS}\n: cityops live stream, worker {pid}\n\n"
        if resumed is False:
            yield ": resume unavailable (event no longer held); reload state\n\n"
        sent_up_to = 0
        for seq, event in backlog:
            sent_up_to = seq
            shown = for_viewer(event, viewer)
            if shown is not None:
                yield format_event(shown)
        ends_at = time.monotonic() + lifetime
        while True:
            remaining = ends_at - time.monotonic()
            if remaining <= 0 or stream.closed:
                # Tells the browser to reconnect at once (with its last id), not after an error.
                yield "event: stream-end\ndata: {}\n\n"
                return
            item = stream.get(timeout=min(heartbeat, remaining))
            if item is None:
                yield ": heartbeat\n\n"
                continue
            seq, event = item
            if seq <= sent_up_to:  # queued while the backlog was being read: already sent
                continue
            shown = for_viewer(event, viewer)
            if shown is not None:
                yield format_event(shown)
    finally:
        # Runs when the client goes away too: the server closes the iterator on a failed write.
        hub.close_stream(stream)


def register_live(server: flask.Flask) -> None:
    """Create the process's hub from the app's settings and engine, and add the route."""
    from app.context import EXTENSION_KEY

    context = server.extensions[EXTENSION_KEY]
    settings = context.settings
    hub = LiveHub(context.engine, bus_from_settings(settings), max_streams=max(1, settings.web_threads - PAGE_REQUEST_THREADS))
    server.extensions[HUB_KEY] = hub

    @server.get(EVENTS_PATH)
    def live_events():
        hub = current_hub()
        try:
            types = parse_types(flask.request.args.get("types"))
        except ValueError as exc:
            return flask.jsonify(error=str(exc)), 400
        hub.ensure_started()
        last_event_id = flask.request.headers.get("Last-Event-ID") or flask.request.args.get("lastEventId")
        try:
            stream, backlog, resumed = hub.open_stream(types, last_event_id)
        except TooManyStreams as exc:
            response = flask.jsonify(error=str(exc))
            response.status_code = 503
            response.headers["Retry-After"] = "10"
            return response
        heartbeat = float(flask.current_app.config.get("CITYOPS_LIVE_HEARTBEAT", HEARTBEAT_SECONDS))
        lifetime = float(flask.current_app.config.get("CITYOPS_LIVE_MAX_STREAM_SECONDS", MAX_STREAM_SECONDS))
        from app.security.access import current_viewer

        response = flask.Response(_stream(hub, stream, backlog, resumed, heartbeat, lifetime, current_viewer()), mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-cache, no-transform"
        response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event through at once
        response.headers["X-CityOps-Worker"] = str(os.getpid())
        return response
