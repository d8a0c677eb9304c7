"""Live push: the hub (dedupe, resume, slow clients), the SSE endpoint, the change-log watcher
path without Redis, gunicorn with two workers and Redis, and a real browser."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlparse

import pytest
import requests
from sqlalchemy import text

from app.live import LiveHub, StreamQueue, TooManyStreams, parse_types
from queries.bus import Event, LocalBus
from queries.db import make_engine
from queries.schema import Base
from tests.app.conftest import (
    REDIS_URL,
    REPO_ROOT,
    TEST_SECRET,
    ensure_test_users,
    free_port,
    seed_small_platform,
)

WAIT_SECONDS = 30.0

# Another process writing an incident through the ingest path (with a bus when Redis is given).
WRITER_SCRIPT = """
import sys
import pandas as pd
from queries.bus import RedisBus, bus_channel
from queries.db import make_engine
from queries.ingest import ingest_records
from queries.settings import Settings

database_url, incident_id, redis_url = sys.argv[1], sys.argv[2], sys.argv[3] or None
engine = make_engine(database_url)
bus = RedisBus(redis_url, bus_channel(Settings(database_url=database_url))) if redis_url else None
frame = pd.DataFrame([{"id": incident_id, "category": "事故灾难", "subtype": "火灾", "severity": "Ⅲ级", "title": "直播测试" + incident_id,
                       "reported_at": pd.Timestamp.now(tz="UTC"), "lon": 119.2, "lat": 34.6, "reporter_phone": "13912345678"}])
report = ingest_records(engine, "incidents", frame, "another-process", bus=bus)
print("written", report.data_version, flush=True)
"""


def write_incident_in_another_process(database_url: str, incident_id: str, redis_url: str | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    result = subprocess.run([sys.executable, "-c", WRITER_SCRIPT, database_url, incident_id, redis_url or ""], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


class SseClient:
    """A plain HTTP streaming client: reads events on a thread, keeps what arrived."""

    def __init__(self, url: str):
        self.response = requests.get(url, stream=True, timeout=(5, 60), headers={"Accept": "text/event-stream"})
        self.worker = self.response.headers.get("X-CityOps-Worker")
        self.events: list[dict] = []
        self.comments: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        data = []
        try:
            # chunk_size=None: lines as they arrive, not after 512 bytes have piled up.
            for line in self.response.iter_lines(chunk_size=None, decode_unicode=True):
                if line is None:
                    continue
                if line.startswith(":"):
                    self.comments.append(line)
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    self.events.append(json.loads("\n".join(data)))
                    data = []
        except (requests.RequestException, AttributeError, ValueError):
            pass  # closed by the test

    def incident_ids(self) -> set[str]:
        return {e["payload"].get("incident_id") for e in self.events if e["type"].startswith("incident.")}

    def close(self) -> None:
        # Shut the socket first: close() alone waits for the blocked reader's next heartbeat.
        fp = getattr(getattr(self.response.raw, "_fp", None), "fp", None)  # http.client's socket file
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.response.close()


def wait_for(predicate, timeout: float = WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def event(number: int, kind: str = "data_version") -> Event:
    return Event(f"e:{number}", kind, "2026-11-21T00:00:00+00:00", number, {})


# --- the hub -------------------------------------------------------------------------------------

def test_hub_dedupes_by_id_and_resumes_after_last_event_id():
    hub = LiveHub(engine=None, bus=LocalBus(), max_streams=4)
    for number in (1, 2, 2, 3):
        hub.accept(event(number))
    assert hub.accepted == 3 and hub.duplicates == 1
    stream, backlog, resumed = hub.open_stream(frozenset({"data_version"}), "e:1")
    assert resumed is True and [e.id for _, e in backlog] == ["e:2", "e:3"]
    hub.accept(event(4))
    assert stream.get(timeout=1)[1].id == "e:4"
    _, backlog, resumed = hub.open_stream(frozenset({"data_version"}), "e:unknown")
    assert resumed is False and backlog == []


def test_a_slow_client_loses_its_oldest_events_and_blocks_nobody():
    queue = StreamQueue(frozenset({"data_version"}), size=3)
    for number in range(10):
        queue.put(number, event(number))
    assert queue.dropped == 7
    assert [queue.get(0.1)[1].id for _ in range(3)] == ["e:7", "e:8", "e:9"]
    assert queue.get(0.05) is None


def test_streams_are_capped_per_process_and_filtered_by_type():
    hub = LiveHub(engine=None, bus=LocalBus(), max_streams=1)
    stream, _, _ = hub.open_stream(frozenset({"alarm"}), None)
    with pytest.raises(TooManyStreams):
        hub.open_stream(frozenset({"alarm"}), None)
    hub.accept(event(1, "data_version"))
    hub.accept(event(2, "alarm"))
    assert stream.get(0.1)[1].id == "e:2"
    hub.close_stream(stream)
    assert hub.open_streams == 0
    with pytest.raises(ValueError):
        parse_types("incident.new,nonsense")


# --- the endpoint on the built-in server (no Redis: the watcher path) --------------------------

def test_event_stream_headers_and_unknown_types(live_server):
    bad = requests.get(f"{live_server}/api/v1/events?types=nonsense", timeout=10)
    assert bad.status_code == 400
    client = SseClient(f"{live_server}/api/v1/events?types=incident.new,alarm")
    try:
        headers = client.response.headers
        assert headers["Content-Type"].startswith("text/event-stream")
        assert headers["X-Accel-Buffering"] == "no"
        assert headers["Cache-Control"].startswith("no-cache")
        assert wait_for(lambda: any(f"worker {headers['X-CityOps-Worker']}" in c for c in client.comments))
    finally:
        client.close()


def test_an_incident_written_by_another_process_reaches_a_client_without_redis(live_server, seeded_sqlite_url):
    client = SseClient(f"{live_server}/api/v1/events")
    try:
        assert wait_for(lambda: client.comments)  # connected; the watcher started with the stream
        time.sleep(1.0)  # let the watcher take its starting position
        write_incident_in_another_process(seeded_sqlite_url, "LIVE-W-1")
        assert wait_for(lambda: "LIVE-W-1" in client.incident_ids()), client.events
        incident = next(e for e in client.events if e["payload"].get("incident_id") == "LIVE-W-1")
        assert incident["type"] == "incident.new"
        assert "13912345678" not in json.dumps(incident, ensure_ascii=False)
        assert any(e["type"] == "data_version" and e["data_version"] >= incident["data_version"] for e in client.events)
    finally:
        client.close()


# --- gunicorn, two workers, Redis, PostgreSQL ----------------------------------------------------

def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def pg_platform_url(pg_url):
    engine = make_engine(pg_url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # the audit log refuses TRUNCATE otherwise
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    seed_small_platform(engine)
    ensure_test_users(engine)  # the server runs in another process: its users are made here
    engine.dispose()
    return pg_url


@pytest.mark.slow
def test_push_reaches_clients_on_both_gunicorn_workers(tmp_path, pg_platform_url):
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI ({REDIS_URL})")
        pytest.skip(f"no Redis at {REDIS_URL}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(CITYOPS_DATA_DIR=str(tmp_path), CITYOPS_DATABASE_URL=pg_platform_url, CITYOPS_REDIS_URL=REDIS_URL, CITYOPS_SECRET_KEY=TEST_SECRET, PYTHONUNBUFFERED="1")
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    clients: list[SseClient] = []
    try:
        assert wait_for(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), timeout=90), "server did not come up"
        # Open streams in concurrent bursts until both workers hold one (gunicorn lets whichever
        # worker wakes first accept; simultaneous connections spread), keep one per worker. /healthz
        # answers as soon as one worker is up: on a busy machine the other may still be starting,
        # so bursts go on (the streams not kept closed at once) for as long as a start may take.
        by_worker: dict[str, SseClient] = {}
        url = f"http://127.0.0.1:{port}/api/v1/events?types=incident.new,incident.updated,data_version"
        deadline = time.monotonic() + 90
        while len(by_worker) < 2 and time.monotonic() < deadline:
            burst: list[SseClient] = []
            openers = [threading.Thread(target=lambda: burst.append(SseClient(url))) for _ in range(6)]
            for opener in openers:
                opener.start()
            for opener in openers:
                opener.join(timeout=30)
            clients.extend(burst)
            for client in burst:
                if client.response.status_code == 200:
                    by_worker.setdefault(client.worker, client)
                if client not in by_worker.values():
                    client.close()
            if len(by_worker) < 2:
                time.sleep(0.5)
        assert len(by_worker) == 2, f"all streams went to one worker in 90 s: {set(by_worker)}"
        for client in by_worker.values():
            assert wait_for(lambda client=client: client.comments)
        time.sleep(1.0)  # the watchers take their starting position
        incident_id = f"LIVE-G-{uuid.uuid4().hex[:6]}"
        write_incident_in_another_process(pg_platform_url, incident_id, REDIS_URL)
        for worker, client in by_worker.items():
            assert wait_for(lambda client=client: incident_id in client.incident_ids()), f"worker {worker} got {client.events}"
            assert [e["type"] for e in client.events if e["payload"].get("incident_id") == incident_id] == ["incident.new"]  # once, not twice
    finally:
        for client in clients:
            client.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


# --- a real browser ------------------------------------------------------------------------------

def test_browser_shows_a_new_incident_without_reload(live_server, seeded_sqlite_url, chromium_browser, artifacts_dir):
    app_host = urlparse(live_server).netloc
    page = chromium_browser.new_page()
    console_errors, foreign_requests = [], []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.on("request", lambda request: foreign_requests.append(request.url) if urlparse(request.url).netloc not in (app_host, "") and not request.url.startswith("data:") else None)
    try:
        page.goto(f"{live_server}/?lang=en")
        page.wait_for_selector("#home-live-list")
        page.wait_for_selector("html[data-live-state='live']", timeout=WAIT_SECONDS * 1000)
        assert page.locator("#shell-live-status .shell-live-label--live").inner_text() == "Live"
        page.evaluate("window.__sameDocument = true")
        time.sleep(1.0)  # the watcher takes its starting position
        write_incident_in_another_process(seeded_sqlite_url, "LIVE-B-1")
        item = page.locator("#home-live-list [data-incident-id='LIVE-B-1']")
        item.wait_for(timeout=WAIT_SECONDS * 1000)
        assert "直播测试LIVE-B-1" in item.inner_text()
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        page.screenshot(path=str(artifacts_dir / "live-home.png"))
    finally:
        page.close()
    assert console_errors == []
    assert foreign_requests == []
