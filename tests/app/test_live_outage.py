"""The live stream and the service health of a real app whose PostgreSQL and Redis go away and
come back (private servers, tests/services.py): the SSE stream stays open and keeps heartbeating,
events flow again after each recovery, and ``service_health()`` says what is down meanwhile."""
from __future__ import annotations

import threading

import pandas as pd
import pytest

from app.context import HealthProbe, ServiceHealth
from app.live import HUB_KEY
from queries.bus import Event, RedisBus, bus_channel
from queries.cache import QueryCache
from queries.db import make_engine
from queries.ingest import ingest_records
from queries.migrate import ensure_schema
from tests.app.conftest import free_port, make_settings, seed_small_platform
from tests.app.test_live import SseClient, wait_for
from tests.services import BlackHole

WAIT_SECONDS = 60.0


def incident_frame(incident_id: str) -> pd.DataFrame:
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame([{"id": incident_id, "category": "事故灾难", "subtype": "火灾", "severity": "Ⅲ级", "title": "停电演练" + incident_id,
                          "reported_at": now - pd.Timedelta(seconds=5), "lon": 119.2, "lat": 34.6}])


@pytest.fixture
def outage_app(tmp_path, private_postgres, private_redis):
    """The app on a free port against the private servers; yields (base URL, Dash app, settings)."""
    from werkzeug.serving import make_server

    from app.server import create_app

    engine = make_engine(private_postgres.url)
    ensure_schema(engine)
    seed_small_platform(engine)
    engine.dispose()
    settings = make_settings(tmp_path, private_postgres.url, redis_url=private_redis.url)
    dash_app = create_app(settings)
    dash_app.server.config["CITYOPS_LIVE_HEARTBEAT"] = 0.2
    port = free_port()
    server = make_server("127.0.0.1", port, dash_app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="cityops-outage-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", dash_app, settings
    dash_app.server.extensions[HUB_KEY].close()
    server.shutdown()
    thread.join(timeout=10)
    dash_app.server.extensions["cityops"].cache.close()


def health(dash_app) -> ServiceHealth:
    from app.context import service_health

    with dash_app.server.app_context():
        return service_health()


def heartbeats(client: SseClient) -> int:
    return sum(1 for line in client.comments if "heartbeat" in line)


@pytest.mark.slow
@pytest.mark.postgres
def test_stream_outlives_postgres_and_redis_outages(outage_app, private_postgres, private_redis):
    base_url, dash_app, settings = outage_app
    hub = dash_app.server.extensions[HUB_KEY]
    engine = make_engine(private_postgres.url)
    client = SseClient(f"{base_url}/api/v1/events")
    try:
        assert client.response.status_code == 200
        assert wait_for(lambda: hub.watcher is not None and hub.watcher.polls >= 1 and heartbeats(client) >= 1, WAIT_SECONDS)
        assert wait_for(lambda: hub.bus.connected, WAIT_SECONDS)
        assert health(dash_app).ok

        # PostgreSQL away: the stream stays open and heartbeats, the watcher counts its failures.
        ingest_records(engine, "incidents", incident_frame("PG-BEFORE"), "feed")  # no bus: the watcher's path
        assert wait_for(lambda: "PG-BEFORE" in client.incident_ids(), WAIT_SECONDS)
        private_postgres.stop()
        assert wait_for(lambda: hub.watcher.errors >= 1, WAIT_SECONDS)
        assert wait_for(lambda: not health(dash_app).database_ok, WAIT_SECONDS)
        assert health(dash_app).database_error and health(dash_app).redis_ok
        beats = heartbeats(client)
        assert wait_for(lambda: heartbeats(client) >= beats + 5, WAIT_SECONDS), "heartbeats stopped while the database was down"
        assert not any(e.get("type") == "stream-end" for e in client.events)

        # Back: a change committed after the restart reaches the same stream, nothing is repeated.
        private_postgres.start()
        ingest_records(engine, "incidents", incident_frame("PG-AFTER"), "feed")
        assert wait_for(lambda: "PG-AFTER" in client.incident_ids(), WAIT_SECONDS), "no event after the database came back"
        assert sum(1 for e in client.events if e["payload"].get("incident_id") == "PG-BEFORE") == 1
        assert wait_for(lambda: health(dash_app).database_ok, WAIT_SECONDS)
        assert hub.watcher.running and hub.watcher.last_error is None

        # Redis away: heartbeats go on; back: a published event reaches the stream through Redis.
        private_redis.stop()
        assert wait_for(lambda: not hub.bus.connected, WAIT_SECONDS)
        assert wait_for(lambda: health(dash_app).redis_ok is False, WAIT_SECONDS)
        beats = heartbeats(client)
        assert wait_for(lambda: heartbeats(client) >= beats + 5, WAIT_SECONDS), "heartbeats stopped while Redis was down"
        private_redis.start()
        assert wait_for(lambda: hub.bus.connected, WAIT_SECONDS)
        publisher = RedisBus(private_redis.url, bus_channel(settings))
        try:
            # Only Redis can deliver this one: no database row stands behind it.
            marker = Event("data_version:987654321", "data_version", "2026-11-21T00:00:00.000000+00:00", 987654321, {"via": "redis"})
            assert wait_for(lambda: publisher.publish(marker) and any(e["id"] == marker.id for e in client.events), WAIT_SECONDS)
        finally:
            publisher.close()
        assert wait_for(lambda: health(dash_app).redis_ok, WAIT_SECONDS)
        assert health(dash_app).cache == "redis"
        assert hub.status()["watcher"]["errors"] >= 1
    finally:
        client.close()
        engine.dispose()


# --- service health --------------------------------------------------------------------------------


def test_service_health_reuses_a_recent_check(sqlite_engine):
    from sqlalchemy import event

    now = [0.0]
    statements = []
    event.listen(sqlite_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    probe = HealthProbe(sqlite_engine, QueryCache(None), redis_configured=False, max_age=2.0, clock=lambda: now[0])
    first = probe.check()
    assert (first.ok, first.database_ok, first.redis_ok, first.cache) == (True, True, None, "memory")
    count = len(statements)
    assert count >= 1
    now[0] += 1.0
    assert probe.check().database_ok and len(statements) == count  # reused
    now[0] += 1.5
    assert probe.check().database_ok and len(statements) > count  # checked again
    assert set(first.as_dict()) >= {"ok", "database_ok", "database_error", "redis_ok", "redis_error", "cache", "checked_at"}


@pytest.mark.slow
def test_service_health_answers_in_time_when_the_database_hangs():
    def probes_running() -> int:
        return sum(1 for thread in threading.enumerate() if thread.name == "cityops-health-database")

    with BlackHole() as hole:
        engine = make_engine(hole.pg_url + "?connect_timeout=3")
        probe = HealthProbe(engine, QueryCache(None), redis_configured=False, max_age=0.0, timeout=0.2)
        for _ in range(5):  # never more than one check in flight, however often the wall asks
            report = probe.check()
            assert not report.database_ok and not report.ok
            assert probes_running() <= 1
        assert "no answer within 0.2 s" in report.database_error
        engine.dispose()
