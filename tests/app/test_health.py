"""GET /healthz on SQLite and PostGIS, with and without Redis, and with the database down."""
from __future__ import annotations

import datetime as dt
import os

import pytest
import redis

from app.server import create_app
from queries.migrate import head_revision
from tests.app.conftest import REDIS_URL, make_settings, seed_small_platform, url_of


def get_health(settings):
    client = create_app(settings).server.test_client()
    response = client.get("/healthz")
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


def assert_recent_iso_time(value: str) -> None:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    assert abs((dt.datetime.now(dt.timezone.utc) - parsed).total_seconds()) < 60


def test_healthz_reports_every_field_on_each_database(engine, tmp_path):
    seed_small_platform(engine)
    status, body = get_health(make_settings(tmp_path, url_of(engine)))

    assert status == 200
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["dialect"] == engine.dialect.name
    assert body["dialect"] in ("sqlite", "postgresql")
    assert body["cache"] == "memory"
    assert "cache_error" not in body
    assert body["data_version"] == 2  # two record_change batches in the seed
    assert body["schema_revision"] == head_revision()
    assert body["schema_head"] == head_revision()
    assert_recent_iso_time(body["time"])


def test_healthz_data_version_is_zero_on_an_empty_database(engine, tmp_path):
    status, body = get_health(make_settings(tmp_path, url_of(engine)))
    assert status == 200
    assert body["data_version"] == 0


def redis_reachable() -> bool:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_healthz_reports_redis_when_configured_and_reachable(sqlite_engine, tmp_path):
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    status, body = get_health(make_settings(tmp_path, url_of(sqlite_engine), redis_url=REDIS_URL))
    assert status == 200
    assert body["status"] == "ok"
    assert body["cache"] == "redis"
    assert "cache_error" not in body


def test_healthz_falls_back_to_memory_when_redis_is_unreachable(sqlite_engine, tmp_path):
    status, body = get_health(make_settings(tmp_path, url_of(sqlite_engine), redis_url="redis://127.0.0.1:1/0"))
    assert status == 200  # the app still serves from the in-process cache
    assert body["status"] == "degraded"
    assert body["cache"] == "memory"
    assert body["cache_error"]
    assert body["database"] == "ok"


def test_healthz_is_503_json_when_the_database_is_down(tmp_path):
    settings = make_settings(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/cityops")
    status, body = get_health(settings)
    assert status == 503
    assert body["status"] == "degraded"
    assert body["database"] != "ok"
    assert "OperationalError" in body["database"] or "connect" in body["database"].lower()
    assert body["dialect"] == "postgresql"
    assert body["data_version"] is None
    assert body["schema_revision"] is None
    assert body["schema_head"] == head_revision()
    assert_recent_iso_time(body["time"])


def test_healthz_is_503_when_the_schema_is_missing(tmp_path):
    status, body = get_health(make_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}"))
    assert status == 503
    assert body["status"] == "degraded"
    assert body["schema_revision"] is None


def test_healthz_reports_the_app_caches_own_state_without_probing_each_time(sqlite_engine, tmp_path):
    """The live cache answers /healthz: after Redis failed, its circuit breaker (not a new probe) is reported."""
    from app.context import EXTENSION_KEY
    from queries.cache import QueryCache

    server = create_app(make_settings(tmp_path, url_of(sqlite_engine), redis_url="redis://127.0.0.1:1/0")).server
    cache = server.extensions[EXTENSION_KEY].cache
    assert isinstance(cache, QueryCache)
    client = server.test_client()
    bodies = [client.get("/healthz").get_json() for _ in range(3)]
    assert all(body["cache"] == "memory" and body["cache_error"] for body in bodies)
    assert cache.counters.redis_failures == 1  # the breaker held for the next two checks
