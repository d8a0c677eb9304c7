"""The live-event bus: in-process and Redis pub/sub (across processes, through a Redis restart),
the change-log watcher, and ingest_records going through the file path's validation."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from queries.bus import ChangeWatcher, Event, LocalBus, RedisBus, current_data_version, mask_personal_numbers
from queries.ingest import IngestError, ingest_records
from queries.schema import ChangeLog, Incident

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CITYOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT_SECONDS = 30.0


def wait_for(predicate, timeout: float = WAIT_SECONDS, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def incident_frame(incident_id: str, **overrides) -> pd.DataFrame:
    now = pd.Timestamp.now(tz="UTC")
    record = {
        "id": incident_id, "category": "accident", "subtype": "fire", "severity": "III", "status": "reported",
        "title": "测试小区居民楼起火 联系13912345678", "reported_at": now - pd.Timedelta(seconds=30), "lon": 119.2, "lat": 34.6,
        "reporter_name": "张三", "reporter_phone": "13912345678", "address": "海州区某某路1号",
    }
    record.update(overrides)
    return pd.DataFrame([record])


def sample_event(number: int = 1) -> Event:
    return Event(f"data_version:{number}", "data_version", "2026-11-21T00:00:00.000000+00:00", number, {"rows": 1})


# --- in-process ----------------------------------------------------------------------------------

def test_local_bus_delivers_to_every_subscriber_until_unsubscribed():
    bus = LocalBus()
    first, second = [], []
    unsubscribe = bus.subscribe(first.append)
    bus.subscribe(second.append)
    bus.publish(sample_event(1))
    unsubscribe()
    bus.publish(sample_event(2))
    assert [e.id for e in first] == ["data_version:1"]
    assert [e.id for e in second] == ["data_version:1", "data_version:2"]


def test_a_failing_listener_does_not_stop_the_others():
    bus = LocalBus()
    received = []

    def broken(event):
        raise RuntimeError("listener bug")

    bus.subscribe(broken)
    bus.subscribe(received.append)
    bus.publish(sample_event())
    assert len(received) == 1
    assert bus.counters.listener_errors == 1


def test_events_are_json_and_refuse_anything_else():
    event = sample_event(7)
    assert Event.from_json(event.to_json()) == event
    with pytest.raises(ValueError):
        Event.from_json('{"id": "x", "type": "something.else"}')
    with pytest.raises(ValueError):
        Event.from_json(b"\x80\x04\x95")  # a pickle is not an event


def test_phone_and_id_numbers_in_titles_are_masked():
    assert mask_personal_numbers("王先生13912345678报警") == "王先生139********报警"
    assert "320706199001011234" not in mask_personal_numbers("身份证320706199001011234")
    assert mask_personal_numbers("G25长深高速2车追尾") == "G25长深高速2车追尾"


# --- Redis ---------------------------------------------------------------------------------------

def _redis_available(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_url():
    if not _redis_available(REDIS_URL):
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI ({REDIS_URL})")
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


SUBSCRIBER_SCRIPT = """
import sys, time
from queries.bus import RedisBus
bus = RedisBus(sys.argv[1], sys.argv[2])
bus.subscribe(lambda event: print("got", event.id, event.payload.get("pid"), flush=True))
bus.wait_connected(20)
print("ready", flush=True)
time.sleep(60)
"""


def test_redis_bus_reaches_another_process(redis_url):
    channel = f"cityops:test:{uuid.uuid4().hex}"
    process = subprocess.Popen([sys.executable, "-c", SUBSCRIBER_SCRIPT, redis_url, channel], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    bus = RedisBus(redis_url, channel)
    try:
        assert wait_for(lambda: "ready\n" in lines), "the subscriber process never subscribed"
        event = Event("incident:X:1", "incident.new", "2026-11-21T00:00:00+00:00", 1, {"pid": os.getpid()})
        # Publish until seen: a message published before the subscription is active is lost by design.
        assert wait_for(lambda: bus.publish(event) and any(line.startswith("got incident:X:1") for line in lines), interval=0.2)
        assert f"got incident:X:1 {os.getpid()}\n" in lines
    finally:
        bus.close()
        process.kill()
        process.wait()


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of our own on a free port (the machine's 6379 stays untouched)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    from tests.app.conftest import free_port

    port = free_port()

    def start():
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert wait_for(lambda: _redis_available(f"redis://127.0.0.1:{port}/0"), timeout=10), "redis-server did not start"
        return process

    servers = {"process": start()}

    def restart_after(stopped_seconds: float):
        servers["process"].terminate()
        servers["process"].wait(timeout=10)
        time.sleep(stopped_seconds)
        servers["process"] = start()

    yield f"redis://127.0.0.1:{port}/0", restart_after, servers
    servers["process"].terminate()
    servers["process"].wait(timeout=10)


def test_subscriber_reconnects_after_redis_restarts_and_publishing_never_raises(own_redis):
    url, restart_after, servers = own_redis
    received = []
    publisher = RedisBus(url, "cityops:test:restart", breaker_seconds=0.2)
    subscriber = RedisBus(url, "cityops:test:restart", max_backoff=0.5)
    subscriber.subscribe(received.append)
    try:
        assert subscriber.wait_connected(10)
        assert wait_for(lambda: publisher.publish(sample_event(1)) and received, interval=0.2)

        servers["process"].terminate()
        servers["process"].wait(timeout=10)
        assert publisher.publish(sample_event(2)) is False  # counted, not raised
        assert publisher.counters.publish_failures == 1
        assert wait_for(lambda: subscriber.counters.reconnects >= 1, timeout=10)

        restart_after(0.0)
        assert wait_for(lambda: publisher.publish(sample_event(3)) and any(e.id == "data_version:3" for e in received), interval=0.2)
        assert subscriber.counters.reconnects >= 1
    finally:
        publisher.close()
        subscriber.close()


# --- ingest_records and the watcher ----------------------------------------------------------------

def _counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Incident)).scalar_one(), current_data_version(conn)


def test_ingest_records_rejects_a_bad_record_with_its_row_and_field_and_writes_nothing(engine):
    frame = pd.concat([incident_frame("A-1"), incident_frame("A-2", severity="V级"), incident_frame("A-3", reported_at="not a time")], ignore_index=True)
    before = _counts(engine)
    with pytest.raises(IngestError) as caught:
        ingest_records(engine, "incidents", frame, "110-feed", bus=LocalBus())
    message = caught.value.render()
    assert "110-feed record 2, field severity" in message
    assert "110-feed record 3, field reported_at" in message
    assert _counts(engine) == before


def test_ingest_records_publishes_what_it_committed_without_personal_data(engine):
    bus = LocalBus()
    received = []
    bus.subscribe(received.append)
    report = ingest_records(engine, "incidents", incident_frame("B-1"), "110-feed", bus=bus)
    assert report.inserted == 1
    by_type = {e.type: e for e in received}
    assert set(by_type) == {"incident.new", "data_version"}
    assert by_type["data_version"].data_version == report.data_version
    payload = by_type["incident.new"].payload
    assert payload["incident_id"] == "B-1" and payload["severity"] == 3
    text = by_type["incident.new"].to_json()
    for personal in ("张三", "13912345678", "某某路"):
        assert personal not in text

    received.clear()
    ingest_records(engine, "incidents", incident_frame("B-1", status="accepted", accepted_at=pd.Timestamp.now(tz="UTC")), "110-feed", bus=bus)
    assert [e.type for e in received if e.type.startswith("incident")] == ["incident.updated"]


def test_ingest_records_without_a_bus_still_writes(engine):
    report = ingest_records(engine, "incidents", incident_frame("C-1"), "etl")
    assert report.inserted == 1 and report.data_version is not None


def test_the_watcher_sees_writes_nobody_published_with_the_publishers_ids(engine):
    watcher = ChangeWatcher(engine)
    assert watcher.poll() == []  # starts at the present

    published = []
    bus = LocalBus()
    bus.subscribe(published.append)
    ingest_records(engine, "incidents", incident_frame("D-1"), "feed", bus=bus)
    watched = watcher.poll()
    assert {e.id: e.type for e in watched} == {e.id: e.type for e in published}

    ingest_records(engine, "incidents", incident_frame("D-1", status="dispatched", dispatched_at=pd.Timestamp.now(tz="UTC")), "feed")
    again = watcher.poll()
    assert [e.type for e in again if e.payload.get("incident_id") == "D-1"] == ["incident.updated"]
    assert watcher.poll() == []  # nothing new, nothing repeated


def test_the_watcher_classifies_unnoted_direct_writes_by_status(engine):
    from sqlalchemy import insert

    from queries.writes import ensure_dataset, record_change

    watcher = ChangeWatcher(engine)
    watcher.poll()
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:  # an ETL writing the tables directly
        conn.execute(insert(Incident), [
            {"id": "E-1", "category": "accident", "severity": 4, "status": "reported", "reported_at": now, "updated_at": now},
            {"id": "E-2", "category": "accident", "severity": 4, "status": "closed", "reported_at": now, "updated_at": now},
        ])
        ensure_dataset(conn, "etl.incidents")
        record_change(conn, "etl.incidents", "etl", 2)
    types = {e.payload.get("incident_id"): e.type for e in watcher.poll()}
    assert types == {None: "data_version", "E-1": "incident.new", "E-2": "incident.updated"}
