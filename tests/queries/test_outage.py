"""Outages of PostgreSQL and Redis: the engine, the query cache, the bus and the change-log watcher
against private servers (tests/services.py) that the tests stop and start; the machine's own
servers stay up. Down → fails fast or falls back; up again → recovers by itself, same objects.

No wall-clock limit is asserted: waits are for conditions, with generous timeouts; breakers run on
a hand-moved clock where a test needs to know whether a retry period has passed.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pandas as pd
import pytest
import redis
from sqlalchemy import event, insert, literal, select, text
from sqlalchemy import exc as sa_exc

from queries.bus import ChangeWatcher, Event, RedisBus
from queries.cache import (
    CallResult,
    DatabaseUnavailable,
    LastGoodStore,
    MemoryBackend,
    QueryCache,
    cached,
    database_unavailable,
)
from queries.db import PG_CONNECT_TIMEOUT_SECONDS, make_engine, with_statement_timeout
from queries.ingest import ingest_records
from queries.migrate import ensure_schema
from queries.schema import ChangeLog, Incident
from queries.writes import ensure_dataset, record_change
from tests.services import BlackHole

WAIT_SECONDS = 60.0
UTC = dt.timezone.utc


def wait_for(predicate, timeout: float = WAIT_SECONDS, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def select_one(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(literal(1))).scalar_one()


def add_incidents(engine, *ids: str, category: str = "accident") -> None:
    """Direct writes of an ETL: rows, then a change-log bump (what every writer does)."""
    now = dt.datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(Incident), [
            {"id": i, "category": category, "severity": 3, "status": "reported", "reported_at": now, "updated_at": now, "dataset_code": "t.incidents"}
            for i in ids
        ])
        ensure_dataset(conn, "t.incidents", update_cycle="realtime")
        record_change(conn, "t.incidents", "feed", len(ids), tables=["incidents"])


def incident_frame(incident_id: str) -> pd.DataFrame:
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame([{"id": incident_id, "category": "accident", "subtype": "fire", "severity": "III", "status": "reported",
                          "title": "停电测试" + incident_id, "reported_at": now - pd.Timedelta(seconds=5), "lon": 119.2, "lat": 34.6}])


def incident_query():
    executions = []

    @cached(tables=("incidents",))
    def incident_ids(conn, category=None):
        executions.append(1)
        stmt = select(Incident.id).order_by(Incident.id)
        if category is not None:
            stmt = stmt.where(Incident.category == category)
        return [row.id for row in conn.execute(stmt)]

    return incident_ids, executions


@pytest.fixture
def private_pg_engine(private_postgres):
    """A migrated, empty schema on the private server, and that server."""
    engine = make_engine(private_postgres.url)
    ensure_schema(engine)
    yield engine, private_postgres
    engine.dispose()


# --- the engine ------------------------------------------------------------------------------------


class _Captured(Exception):
    pass


def test_postgres_engines_get_a_connect_timeout_and_keepalives_unless_the_url_sets_them():
    seen = {}
    for url, expected in (("postgresql://postgres@127.0.0.1:1/x", PG_CONNECT_TIMEOUT_SECONDS), ("postgresql://postgres@127.0.0.1:1/x?connect_timeout=9", "9")):
        engine = make_engine(url)

        @event.listens_for(engine, "do_connect")
        def capture(dialect, conn_rec, cargs, cparams, url=url):
            seen[url] = dict(cparams)
            raise _Captured  # what psycopg would be given; never connect

        with pytest.raises(_Captured):
            engine.connect()
        assert str(seen[url]["connect_timeout"]) == str(expected)
        assert seen[url]["keepalives"] == 1
        assert engine.pool._pre_ping


@pytest.mark.slow
def test_a_server_that_never_answers_fails_the_query_by_the_connect_timeout():
    with BlackHole() as hole:
        engine = make_engine(hole.pg_url + "?connect_timeout=2")
        with pytest.raises(sa_exc.OperationalError, match="timeout") as caught:
            select_one(engine)
        assert database_unavailable(caught.value)
        engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_the_same_engine_answers_again_after_postgres_restarts(private_postgres, mode):
    engine = make_engine(private_postgres.url, pool_size=3, max_overflow=0)
    held = [engine.connect() for _ in range(3)]  # fill the pool: three connections to go stale
    for conn in held:
        conn.execute(select(literal(1)))
        conn.close()
    assert engine.pool.checkedin() == 3

    private_postgres.stop(mode)
    with pytest.raises(sa_exc.OperationalError) as caught:
        select_one(engine)
    assert database_unavailable(caught.value)

    private_postgres.start()
    # Every pooled connection died with the server; pre-ping replaces each one as it is taken.
    held = [engine.connect() for _ in range(3)]
    assert [conn.execute(select(literal(1))).scalar_one() for conn in held] == [1, 1, 1]
    for conn in held:
        conn.close()
    engine.dispose()


@pytest.mark.postgres
def test_statement_timeout_bounds_only_the_engine_that_asked_for_it(pg_engine):
    bounded = with_statement_timeout(pg_engine, 0.2)
    with pytest.raises(sa_exc.OperationalError) as caught:
        with bounded.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
    assert caught.value.orig.sqlstate == "57014" and database_unavailable(caught.value)
    with bounded.connect() as conn:  # every transaction, not only the first
        conn.execute(select(literal(1)))
        conn.commit()
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "200ms"
    with pg_engine.connect() as conn:  # the same pool, unbounded: ingest and demo builds
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
        conn.execute(text("SELECT pg_sleep(0.3)"))


def test_statement_timeout_is_ignored_on_sqlite(sqlite_engine):
    assert select_one(with_statement_timeout(sqlite_engine, 0.2)) == 1
    with pytest.raises(ValueError):
        with_statement_timeout(sqlite_engine, 0)


# --- the query cache without Redis -------------------------------------------------------------------


@pytest.mark.slow
def test_cache_answers_while_redis_is_down_and_goes_back_to_it(sqlite_engine, private_redis):
    add_incidents(sqlite_engine, "I1")
    incident_ids, executions = incident_query()
    cache = QueryCache(private_redis.url, key_prefix="outage", retry_seconds=0.2)
    try:
        assert cache.call(sqlite_engine, incident_ids) == ["I1"]
        assert cache.status().backend == "redis"

        private_redis.stop()
        for _ in range(20):
            assert cache.call(sqlite_engine, incident_ids, "accident") == ["I1"]
        assert cache.counters.redis_failures <= 2  # the breaker held: not one attempt per call
        assert cache.status().backend == "memory"

        private_redis.start()  # empty (no persistence), same port
        assert wait_for(lambda: cache.status().backend == "redis"), cache.status()
        assert cache.call(sqlite_engine, incident_ids, "natural_disaster") == []
        key = cache.key_of(sqlite_engine, incident_ids, "natural_disaster")
        assert redis.Redis.from_url(private_redis.url).exists(key)  # written to Redis again
        assert cache.status().error is None
    finally:
        cache.close()


@pytest.mark.slow
def test_cache_answers_when_redis_accepts_connections_but_never_replies(sqlite_engine):
    add_incidents(sqlite_engine, "I1")
    incident_ids, executions = incident_query()
    with BlackHole() as hole:
        cache = QueryCache(hole.redis_url, key_prefix="outage")
        for _ in range(5):
            assert cache.call(sqlite_engine, incident_ids) == ["I1"]
        assert cache.counters.redis_failures == 1 and len(executions) == 1
        assert cache.status().backend == "memory" and "Timeout" in cache.status().error
        cache.close()


# --- last good values ---------------------------------------------------------------------------------


def test_last_good_store_is_a_bounded_lru():
    store = LastGoodStore(max_bytes=100, max_entries=3)
    for key in "abc":
        store.put(key, b"x" * 10)
    assert store.get("a") is not None  # a is now the most recent
    store.put("d", b"x" * 10)
    assert store.get("b") is None and store.size() == (3, 30)
    store.put("e", b"y" * 90)  # bytes bound: the oldest go until it fits
    assert store.size()[1] <= 100 and store.get("e").data == b"y" * 90
    store.put("huge", b"z" * 101)  # larger than the whole store: not kept, nothing evicted for it
    assert store.get("huge") is None and store.get("e") is not None
    first = store.get("e").as_of
    store.put("e", b"w" * 10)
    assert store.get("e").data == b"w" * 10 and store.get("e").as_of >= first


@pytest.mark.slow
@pytest.mark.postgres
def test_last_good_value_is_served_stale_while_postgres_is_down(private_pg_engine):
    engine, server = private_pg_engine
    add_incidents(engine, "I1")
    now = [0.0]  # the breakers' and the in-process TTL's clock, moved by hand
    cache = QueryCache(None, memory=MemoryBackend(clock=lambda: now[0]), database_retry_seconds=2, clock=lambda: now[0])
    incident_ids, executions = incident_query()

    first = cache.call_or_last_good(engine, incident_ids)
    assert isinstance(first, CallResult) and (first.value, first.stale, first.error) == (["I1"], False, None)
    add_incidents(engine, "I2")
    fresh = cache.call_or_last_good(engine, incident_ids)
    assert fresh.value == ["I1", "I2"] and not fresh.stale
    assert cache.call(engine, incident_ids, "natural_disaster") == []  # a plain call keeps no last good copy
    assert cache.call_or_last_good(engine, incident_ids, "accident").value == ["I1", "I2"]

    server.stop()
    now[0] += 7200  # every in-process entry has expired: only the last good copies are left
    stale = cache.call_or_last_good(engine, incident_ids)
    assert (stale.value, stale.stale) == (["I1", "I2"], True)
    assert stale.as_of >= fresh.as_of and stale.as_of <= dt.datetime.now(UTC)
    assert stale.error.startswith("OperationalError")
    assert cache.counters.database_failures == 1

    again = cache.call_or_last_good(engine, incident_ids, category="accident")  # breaker open: no attempt
    assert again.stale and again.value == ["I1", "I2"] and cache.counters.database_failures == 1
    assert cache.last_good(engine, incident_ids).value == ["I1", "I2"]
    with pytest.raises(DatabaseUnavailable):  # never computed: nothing to fall back on
        cache.call_or_last_good(engine, incident_ids, "natural_disaster")
    with pytest.raises(sa_exc.OperationalError):  # call itself is unchanged: it raises
        cache.call(engine, incident_ids)

    now[0] += 3  # one trial per retry period, still down
    cache.call_or_last_good(engine, incident_ids)
    assert cache.counters.database_failures == 2

    server.start()
    add_incidents(engine, "I3")
    assert cache.call_or_last_good(engine, incident_ids).stale  # within the period: the copy
    now[0] += 3
    recovered = cache.call_or_last_good(engine, incident_ids)
    assert (recovered.value, recovered.stale) == (["I1", "I2", "I3"], False)
    assert cache.last_good(engine, incident_ids).value == ["I1", "I2", "I3"]


def test_last_good_does_not_hide_bugs_and_keeps_scopes_apart(sqlite_engine):
    add_incidents(sqlite_engine, "I1")
    cache = QueryCache(None)

    @cached(tables=("incidents",))
    def broken(conn):
        raise ZeroDivisionError("a bug, not an outage")

    with pytest.raises(ZeroDivisionError):
        cache.call_or_last_good(sqlite_engine, broken)
    incident_ids, _ = incident_query()
    assert not cache.call_or_last_good(sqlite_engine, incident_ids, scope="commander:320706").stale
    assert cache.last_good(sqlite_engine, incident_ids) is None  # other scope
    assert cache.last_good(sqlite_engine, incident_ids, scope="commander:320706").value == ["I1"]
    cache.clear()
    assert cache.last_good(sqlite_engine, incident_ids, scope="commander:320706") is None


@pytest.mark.postgres
def test_a_statement_timeout_serves_the_copy_without_opening_the_breaker(pg_engine):
    add_incidents(pg_engine, "I1")
    cache = QueryCache(None)
    slow = {"seconds": 0.0}

    @cached(tables=("incidents",), ttl=0.001)
    def sleepy(conn):
        conn.execute(select(text("pg_sleep(:s)")).params(s=slow["seconds"]))
        return [row.id for row in conn.execute(select(Incident.id))]

    bounded = with_statement_timeout(pg_engine, 0.2)
    assert cache.call_or_last_good(bounded, sleepy).value == ["I1"]
    time.sleep(0.01)  # past the query's TTL
    slow["seconds"] = 5
    result = cache.call_or_last_good(bounded, sleepy)
    assert result.stale and result.value == ["I1"] and "QueryCanceled" in result.error
    slow["seconds"] = 0
    assert not cache.call_or_last_good(bounded, sleepy).stale  # the breaker stayed closed


# --- the bus -------------------------------------------------------------------------------------------


def sample_event(number: int) -> Event:
    return Event(f"data_version:{number}", "data_version", "2026-11-21T00:00:00.000000+00:00", number, {})


@pytest.mark.slow
def test_subscriber_resubscribes_after_a_redis_restart(private_redis):
    received = []
    subscriber = RedisBus(private_redis.url, "cityops:outage", max_backoff=0.5)
    publisher = RedisBus(private_redis.url, "cityops:outage", breaker_seconds=0.2)
    subscriber.subscribe(received.append)
    try:
        assert subscriber.wait_connected(WAIT_SECONDS)
        assert wait_for(lambda: publisher.publish(sample_event(1)) and received, interval=0.2)

        private_redis.stop()
        assert wait_for(lambda: not subscriber.connected)
        assert publisher.publish(sample_event(2)) is False  # counted, never raised

        private_redis.start()
        assert subscriber.wait_connected(WAIT_SECONDS)
        assert wait_for(lambda: publisher.publish(sample_event(3)) and any(e.id == "data_version:3" for e in received), interval=0.2)
        assert subscriber.counters.reconnects >= 1
        assert "data_version:2" not in {e.id for e in received}
    finally:
        publisher.close()
        subscriber.close()


# --- the change-log watcher ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
def test_watcher_survives_postgres_going_away_and_resumes_where_it_was(private_pg_engine, caplog):
    engine, server = private_pg_engine
    emitted: list[Event] = []
    lock = threading.Lock()

    def emit(event):
        with lock:
            emitted.append(event)

    def incident_event_ids(incident_id):
        with lock:
            return [e.id for e in emitted if e.payload.get("incident_id") == incident_id]

    ingest_records(engine, "incidents", incident_frame("OLD-1"), "feed")  # before the watcher: never emitted
    watcher = ChangeWatcher(engine, emit, interval=0.05, max_backoff=0.2)
    caplog.set_level(logging.WARNING, logger="queries.bus")
    watcher.start()
    try:
        assert wait_for(lambda: watcher.polls >= 2)
        ingest_records(engine, "incidents", incident_frame("A-1"), "feed")
        assert wait_for(lambda: incident_event_ids("A-1"))

        server.stop()
        assert wait_for(lambda: watcher.errors >= 10), "the watcher should keep failing while the server is down"
        assert watcher.running and watcher.last_error.startswith("OperationalError")
        failures = [r for r in caplog.records if r.name == "queries.bus" and "change-log watcher" in r.getMessage()]
        assert len(failures) == 1, [r.getMessage() for r in failures]  # one line per outage, not one per poll

        server.start()
        ingest_records(engine, "incidents", incident_frame("B-1"), "feed")
        assert wait_for(lambda: incident_event_ids("B-1")), "a change committed after the restart must arrive"
        assert watcher.last_error is None
        assert any("recovered" in r.getMessage() for r in caplog.records if r.name == "queries.bus")
        assert len(incident_event_ids("A-1")) == 1 and not incident_event_ids("OLD-1")  # nothing replayed
        with lock:
            ids = [e.id for e in emitted]
        assert len(ids) == len(set(ids))
    finally:
        watcher.stop()
    assert not watcher.running


def test_a_poll_failing_half_way_leaves_the_position_where_it_was(sqlite_engine, monkeypatch):
    watcher = ChangeWatcher(sqlite_engine, overlap=dt.timedelta(0))  # no overlap to hide a skipped row
    watcher.poll()
    add_incidents(sqlite_engine, "H-1")
    original = watcher._changed_alarms

    def fail_once(conn, newest):
        monkeypatch.setattr(watcher, "_changed_alarms", original)
        raise sa_exc.OperationalError("SELECT …", {}, ConnectionError("server closed the connection unexpectedly"))

    monkeypatch.setattr(watcher, "_changed_alarms", fail_once)
    with pytest.raises(sa_exc.OperationalError):
        watcher.poll()  # the incidents were read, then the connection died
    events = watcher.poll()
    assert [e.payload.get("incident_id") for e in events if e.type.startswith("incident")] == ["H-1"]
    assert watcher.poll() == []


def test_watcher_starts_again_at_the_present_when_the_change_log_went_back(sqlite_engine):
    add_incidents(sqlite_engine, "R-1")
    watcher = ChangeWatcher(sqlite_engine)
    watcher.poll()
    add_incidents(sqlite_engine, "R-2")
    assert watcher.poll()
    with sqlite_engine.begin() as conn:  # the database was restored from an older copy
        conn.execute(ChangeLog.__table__.delete())
    assert watcher.poll() == []
    add_incidents(sqlite_engine, "R-3")
    assert {e.payload.get("incident_id") for e in watcher.poll() if e.type.startswith("incident")} == {"R-3"}


def test_a_failing_consumer_does_not_kill_the_watcher(sqlite_engine):
    calls = []

    def broken(event):
        calls.append(event)
        raise RuntimeError("consumer bug")

    watcher = ChangeWatcher(sqlite_engine, broken, interval=0.05)
    watcher.start()
    try:
        assert wait_for(lambda: watcher.polls >= 1)
        add_incidents(sqlite_engine, "K-1")
        assert wait_for(lambda: watcher.emit_errors >= 1)
        polls = watcher.polls
        assert wait_for(lambda: watcher.polls > polls + 2) and watcher.running
    finally:
        watcher.stop()
