"""The query cache against the machine's Redis and the in-process backend, on SQLite and PostGIS.

Every test uses a key prefix of its own (parallel xdist workers share the Redis on 6379) and
clears it afterwards; the outage test runs a second redis-server on a free port of its own.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import multiprocessing
import os
import pickle
import shutil
import socket
import subprocess
import threading
import time
import uuid
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import redis
from sqlalchemy import create_engine, event, insert, select, update

from queries.cache import (
    FRAME_MAGIC,
    JSON_MAGIC,
    MAX_TTL_SECONDS,
    MIN_TTL_SECONDS,
    TTL_WITHOUT_DATASETS_SECONDS,
    CorruptCacheEntry,
    MemoryBackend,
    QueryCache,
    UncacheableValue,
    UnhashableArgument,
    cached,
    decode_value,
    encode_value,
    table_datasets,
    ttl_for_cycles,
)
from queries.db import make_engine
from queries.migrate import ensure_schema
from queries.schema import Area, Incident, RoadSegment, RoadSpeed
from queries.writes import ensure_dataset, record_change

REDIS_URL = os.environ.get("CITYOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UTC = dt.timezone.utc
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


# --- fixtures ---------------------------------------------------------------------------------


def redis_reachable(url: str = REDIS_URL) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def require_redis() -> None:
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")


def unique_prefix() -> str:
    return f"cityops-test:{os.getpid()}:{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["memory", "redis", "redis+near"])
def cache(request):
    """The cache on each backend: in-process, Redis, and Redis with a near copy per process (what
    the app runs: every behaviour below must hold with it)."""
    if request.param != "memory":
        require_redis()
    near = MemoryBackend() if request.param == "redis+near" else None
    query_cache = QueryCache(REDIS_URL if request.param != "memory" else None, key_prefix=unique_prefix(), near=near)
    yield query_cache
    query_cache.clear()
    query_cache.close()


@pytest.fixture
def redis_cache():
    require_redis()
    query_cache = QueryCache(REDIS_URL, key_prefix=unique_prefix())
    yield query_cache
    query_cache.clear()
    query_cache.close()


@pytest.fixture
def raw_redis():
    require_redis()
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


def seed(engine) -> None:
    """Incidents (real-time), areas (yearly), roads (monthly) and road speeds (hourly, unlabelled rows)."""
    with engine.begin() as conn:
        ensure_dataset(conn, "t.incidents", update_cycle="realtime")
        ensure_dataset(conn, "t.areas", update_cycle="yearly")
        ensure_dataset(conn, "t.roads", update_cycle="monthly")
        ensure_dataset(conn, "t.speeds", update_cycle="hourly")
        conn.execute(insert(Area), [{"code": "320700", "level": "city", "name": "连云港市", "dataset_code": "t.areas"}])
        conn.execute(insert(Incident), [
            {"id": "I1", "category": "accident", "severity": 3, "status": "reported", "reported_at": T0, "dataset_code": "t.incidents"},
            {"id": "I2", "category": "natural_disaster", "severity": 2, "status": "accepted", "reported_at": T0, "dataset_code": "t.incidents"},
        ])
        conn.execute(insert(RoadSegment), [{"id": "R1", "road_class": "arterial", "dataset_code": "t.roads"}])
        conn.execute(insert(RoadSpeed), [{"segment_id": "R1", "ts": T0, "speed_kmh": 40.0, "congestion_index": 3.0}])
        for code, table in TABLES_OF.items():
            record_change(conn, code, "ingest", 1, at=T0, tables=[table])


TABLES_OF = {"t.incidents": "incidents", "t.areas": "areas", "t.roads": "road_segments", "t.speeds": "road_speeds"}


def add_incident(engine, incident_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Incident).values(id=incident_id, category="accident", severity=4, status="reported", reported_at=T0, dataset_code="t.incidents"))
        record_change(conn, "t.incidents", "feed", 1, at=T0, tables=["incidents"])


def touch(engine, dataset_code: str) -> None:
    with engine.begin() as conn:
        record_change(conn, dataset_code, "feed", 0, at=T0, tables=[TABLES_OF[dataset_code]])


def incident_query(pause: float = 0.0):
    """A fresh cached query over incidents and the list its executions are appended to."""
    executions = []

    @cached(tables=("incidents",))
    def incident_ids(conn, category=None, *, severities=None):
        executions.append(threading.get_ident())
        if pause:
            time.sleep(pause)  # widen the window in which concurrent callers miss together
        stmt = select(Incident.id, Incident.category, Incident.severity, Incident.reported_at).order_by(Incident.id)
        if category is not None:
            stmt = stmt.where(Incident.category == category)
        if severities:
            stmt = stmt.where(Incident.severity.in_(severities))
        return pd.DataFrame(conn.execute(stmt).all(), columns=["id", "category", "severity", "reported_at"])

    return incident_ids, executions


def speed_query():
    executions = []

    @cached(tables=("road_speeds",))
    def speeds(conn):
        executions.append(1)
        return [dict(row._mapping) for row in conn.execute(select(RoadSpeed.segment_id, RoadSpeed.ts, RoadSpeed.speed_kmh))]

    return speeds, executions


def constant_query(value, tables=("meta",), ttl=None, name="constant"):
    """A cached query returning ``value``; ``name`` keeps two of them in one test apart (keys hold the qualified name)."""
    executions = []

    def constant(conn):
        executions.append(1)
        return value

    constant.__qualname__ = f"constant_query.<locals>.{name}"
    return cached(tables=tables, ttl=ttl)(constant), executions


class StatementCounter:
    """Statements the database actually executes that read a given table."""

    def __init__(self, engine, table: str):
        self.table = table.lower()
        self.count = 0
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if f"from {self.table}" in statement.lower():
            self.count += 1

    def close(self):
        event.remove(self._engine, "before_cursor_execute", self._seen)


# --- hits and invalidation ------------------------------------------------------------------


def test_second_call_is_a_hit_that_does_not_query_the_table(engine, cache):
    seed(engine)
    incident_ids, executions = incident_query()
    first = cache.call(engine, incident_ids)
    counter = StatementCounter(engine, "incidents")
    try:
        second = incident_ids.cached(cache, engine)
    finally:
        counter.close()
    assert first["id"].tolist() == ["I1", "I2"]
    pd.testing.assert_frame_equal(first, second)
    assert len(executions) == 1
    assert counter.count == 0  # the version check reads the catalogue, never the data
    assert cache.counters.hits == 1 and cache.counters.computations == 1


def test_change_of_a_dependency_misses_and_returns_the_new_rows(engine, cache):
    seed(engine)
    incident_ids, executions = incident_query()
    assert cache.call(engine, incident_ids)["id"].tolist() == ["I1", "I2"]
    add_incident(engine, "I3")
    assert cache.call(engine, incident_ids)["id"].tolist() == ["I1", "I2", "I3"]
    assert cache.call(engine, incident_ids)["id"].tolist() == ["I1", "I2", "I3"]
    assert len(executions) == 2


def test_change_of_an_unrelated_dataset_keeps_the_entry(engine, cache):
    seed(engine)
    incident_ids, executions = incident_query()
    speeds, speed_executions = speed_query()
    cache.call(engine, incident_ids)
    cache.call(engine, speeds)
    for code in ("t.areas", "t.roads", "t.speeds"):
        touch(engine, code)
        cache.call(engine, incident_ids)
    assert len(executions) == 1
    # Road speeds depend on their own dataset (t.speeds) and their segments' (t.roads), nothing else.
    cache.call(engine, speeds)
    assert len(speed_executions) == 2  # t.roads and t.speeds changed since the first call
    touch(engine, "t.incidents")
    cache.call(engine, speeds)
    assert len(speed_executions) == 2
    cache.call(engine, incident_ids)
    assert len(executions) == 2


def test_table_datasets_follows_declared_tables_and_foreign_keys(engine):
    seed(engine)
    with engine.connect() as conn:
        mapping = table_datasets(conn)
    assert mapping["incidents"] == ["t.incidents"]
    assert mapping["incident_events"] == ["t.incidents"]  # its foreign-key parent's
    assert mapping["road_speeds"] == ["t.roads", "t.speeds"]
    assert mapping["areas"] == ["t.areas"]
    assert mapping["datasets"] == ["t.areas", "t.incidents", "t.roads", "t.speeds"]


def test_a_dataset_that_never_declared_its_tables_counts_for_every_table(engine):
    seed(engine)
    with engine.begin() as conn:
        ensure_dataset(conn, "t.legacy", update_cycle="daily")
        record_change(conn, "t.legacy", "ingest", 1, at=T0)
        mapping = table_datasets(conn)
    assert all("t.legacy" in codes for codes in mapping.values())


def test_arguments_scope_and_keys(sqlite_engine, cache):
    seed(sqlite_engine)
    incident_ids, executions = incident_query()
    assert cache.call(sqlite_engine, incident_ids, "accident")["id"].tolist() == ["I1"]
    cache.call(sqlite_engine, incident_ids, category="accident")  # same bound arguments: a hit
    cache.call(sqlite_engine, incident_ids, "accident", severities=None)
    assert len(executions) == 1
    cache.call(sqlite_engine, incident_ids, "accident", severities=[3, 4])
    cache.call(sqlite_engine, incident_ids, "accident", severities=(3, 4))  # list or tuple: one query
    assert len(executions) == 2
    cache.call(sqlite_engine, incident_ids, "accident", scope="commander:320706")
    assert len(executions) == 3  # another role never shares an entry
    key = cache.key_of(sqlite_engine, incident_ids, "accident", scope="commander:320706")
    assert ":commander:320706:" in key and incident_ids.__qualname__ in key

    with pytest.raises(UnhashableArgument, match="category"):
        cache.call(sqlite_engine, incident_ids, object())
    with pytest.raises(ValueError, match="scope"):
        cache.call(sqlite_engine, incident_ids, scope="has spaces")
    with pytest.raises(TypeError, match="not a cached query"):
        cache.call(sqlite_engine, lambda conn: 1)
    with pytest.raises(ValueError, match="unknown"):
        cached(tables=("incidentz",))
    assert len(executions) == 3


def test_datetime_and_mapping_arguments_have_one_canonical_key(sqlite_engine, cache):
    seed(sqlite_engine)
    executions = []

    @cached(tables=("incidents",))
    def window(conn, start, options):
        executions.append(1)
        return {"start": start, "options": options}

    shanghai = dt.datetime(2025, 6, 1, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    first = cache.call(sqlite_engine, window, T0, {"b": 1, "a": {2, 1}})
    cache.call(sqlite_engine, window, shanghai, {"a": {1, 2}, "b": 1})  # same instant, same mapping
    assert len(executions) == 1
    assert first["start"] == T0 and first["start"].tzinfo is not None


# --- single flight --------------------------------------------------------------------------


def test_twenty_concurrent_misses_compute_once(engine, cache):
    seed(engine)
    incident_ids, executions = incident_query(pause=0.3)
    start = threading.Barrier(20)
    results, errors = [], []

    def panel():
        try:
            start.wait()
            results.append(cache.call(engine, incident_ids, "accident"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=panel) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(executions) == 1
    assert len(results) == 20 and all(r["id"].tolist() == ["I1"] for r in results)


def test_a_shared_value_is_built_once_for_its_parts_by_concurrent_callers(sqlite_engine, cache):
    """``shared``: twenty callers with the same parts get one build; other parts, another
    database or a build that raised are not served from it."""
    builds = []
    start = threading.Barrier(20)
    results = []

    def build(text):
        def produce():
            builds.append(text)
            time.sleep(0.2)
            return {"html": text}
        return produce

    def reader():
        start.wait()
        results.append(cache.shared(sqlite_engine, "page", {"area": "320706", "minute": T0}, build("A"), 60))

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == ["A"] and results == [{"html": "A"}] * 20
    assert cache.shared(sqlite_engine, "page", {"minute": T0, "area": "320706"}, build("again"), 60) == {"html": "A"}  # order of parts
    assert cache.shared(sqlite_engine, "page", {"area": "320707", "minute": T0}, build("B"), 60) == {"html": "B"}
    other_database = create_engine("sqlite://")  # never connected: only its identity is read
    assert cache.shared(other_database, "page", {"area": "320706", "minute": T0}, build("C"), 60) == {"html": "C"}

    def failing():
        raise RuntimeError("a section failed")
    with pytest.raises(RuntimeError):
        cache.shared(sqlite_engine, "page", {"area": "320708"}, failing, 60)
    assert cache.shared(sqlite_engine, "page", {"area": "320708"}, build("D"), 60) == {"html": "D"}
    with pytest.raises(ValueError):
        cache.shared(sqlite_engine, "page", {"area": "320708"}, build("E"), 0)


@cached(tables=("incidents",))
def slow_incident_ids(conn, pause: float):
    time.sleep(pause)
    return sorted(conn.execute(select(Incident.id)).scalars())


def _call_in_another_process(database_url, key_prefix, start, results):
    engine = make_engine(database_url)
    cache = QueryCache(REDIS_URL, key_prefix=key_prefix)
    start.wait()
    value = cache.call(engine, slow_incident_ids, 0.5)
    results.put((value, cache.counters.computations))
    cache.close()
    engine.dispose()


def test_processes_missing_together_compute_once(tmp_path, redis_cache):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    seed(engine)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_call_in_another_process, args=(url, redis_cache.key_prefix, start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    engine.dispose()
    assert [value for value, _ in outcomes] == [["I1", "I2"]] * 2
    assert sum(computed for _, computed in outcomes) == 1


def test_a_waiter_takes_over_when_the_lock_holder_died(sqlite_engine, raw_redis):
    require_redis()
    seed(sqlite_engine)
    cache = QueryCache(REDIS_URL, key_prefix=unique_prefix(), lock_seconds=5)
    try:
        incident_ids, executions = incident_query()
        key = cache.key_of(sqlite_engine, incident_ids)
        raw_redis.set(f"{key}:lock", "a-worker-that-died", px=300)  # never released by its holder
        assert cache.call(sqlite_engine, incident_ids)["id"].tolist() == ["I1", "I2"]
        assert len(executions) == 1
        assert raw_redis.get(key).startswith(FRAME_MAGIC)
    finally:
        cache.clear()
        cache.close()


# --- serialisation ----------------------------------------------------------------------------


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "ts": pd.to_datetime([T0, None, T0 + dt.timedelta(hours=1)], utc=True),
        "count": np.array([1, 2, 3], dtype="int64"),
        "value": [1.5, np.nan, -0.25],
        "name": ["海州区", None, "赣榆区"],
        "maybe": pd.Series([1, None, "x"], dtype=object),  # mixed values keep their Python types
        "rgb": pd.Series([(230, 0, 18), None, (0, 112, 255)], dtype=object),
    })


def nested_document() -> dict:
    return {
        "area": {"code": "320706", "name": "海州区"},
        "from": T0,
        "to": dt.datetime(2025, 6, 2, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
        "by_severity": {1: 0, 2: np.int64(3)},
        "rate": decimal.Decimal("80.50"),
        "mean": np.float64(0.1),
        "missing": None,
        "nan": float("nan"),
        "series": [{"ts": T0, "v": 1.0}, {"ts": pd.Timestamp(T0), "v": None}],
        "tags": ("a", "b"),
        "day": dt.date(2025, 6, 1),
        "flag": np.bool_(True),
    }


def assert_same_document(actual, expected):
    assert type(actual) is type(expected) or (isinstance(expected, dt.datetime) and isinstance(actual, dt.datetime)), (actual, expected)
    if isinstance(expected, dict):
        assert list(actual) == list(expected)
        for key in expected:
            assert_same_document(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_same_document(a, e)
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(actual)
    elif isinstance(expected, dt.datetime):
        assert actual == expected and actual.tzinfo is not None
    else:
        assert actual == expected


def test_dataframes_round_trip_exactly(sqlite_engine, cache):
    frame = sample_frame()
    constant, _ = constant_query(frame)
    for _ in range(2):  # the miss and the hit return the same thing
        back = cache.call(sqlite_engine, constant)
        pd.testing.assert_frame_equal(back, frame)
        assert str(back["ts"].dt.tz) == "UTC"
        assert back["maybe"].tolist() == [1, None, "x"]
        assert back["rgb"].tolist() == [(230, 0, 18), None, (0, 112, 255)]


def test_nested_documents_round_trip_exactly(sqlite_engine, cache):
    document = nested_document()
    constant, _ = constant_query(document)
    back = cache.call(sqlite_engine, constant)
    back = cache.call(sqlite_engine, constant)
    assert_same_document(back, document)
    assert back["to"].tzinfo == UTC  # aware datetimes come back as UTC, the same instant
    assert type(back["by_severity"][2]) is np.int64


def test_geodataframes_round_trip_with_wkb_geometry():
    import geopandas
    import shapely
    from geopandas.testing import assert_geodataframe_equal

    frame = geopandas.GeoDataFrame({"code": ["a", "b"], "n": [1, 2]}, geometry=[shapely.Point(119.2, 34.6), None], crs="EPSG:4326")
    back = decode_value(encode_value(frame))
    assert isinstance(back, geopandas.GeoDataFrame)
    assert_geodataframe_equal(back, frame)


def test_values_that_cannot_be_serialised_raise_at_the_call(sqlite_engine, cache):
    constant, executions = constant_query({"handle": threading.Lock()})
    with pytest.raises(UncacheableValue, match=r"result of .*constant.*\['handle'\]"):
        cache.call(sqlite_engine, constant)
    with pytest.raises(UncacheableValue):
        cache.call(sqlite_engine, constant)  # nothing was stored under the key
    assert len(executions) == 2


def test_redis_holds_arrow_and_json_bytes_only(sqlite_engine, redis_cache, raw_redis):
    frame_query, _ = constant_query(sample_frame())
    document_query, _ = constant_query({"at": T0, "n": 1}, name="document")
    redis_cache.call(sqlite_engine, frame_query)
    redis_cache.call(sqlite_engine, document_query)
    frame_bytes = raw_redis.get(redis_cache.key_of(sqlite_engine, frame_query))
    document_bytes = raw_redis.get(redis_cache.key_of(sqlite_engine, document_query))
    assert frame_bytes.startswith(FRAME_MAGIC)
    assert pa.ipc.open_stream(frame_bytes[len(FRAME_MAGIC):]).read_all().num_rows == 3
    assert document_bytes.startswith(JSON_MAGIC)
    assert json.loads(document_bytes[len(JSON_MAGIC):])["n"] == 1


class PickleBomb:
    """Unpickling this would create a file: the proof that a payload was executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_planted_under_a_key_is_rejected_not_executed(sqlite_engine, cache, tmp_path):
    seed(sqlite_engine)
    incident_ids, executions = incident_query()
    key = cache.key_of(sqlite_engine, incident_ids)
    marker = tmp_path / "executed"
    payload = pickle.dumps(PickleBomb(marker))
    if cache.redis is not None:
        cache.redis.set(key, payload, 60)
    else:
        cache.memory.set(key, payload, 60)

    assert cache.call(sqlite_engine, incident_ids)["id"].tolist() == ["I1", "I2"]
    assert not marker.exists()
    assert len(executions) == 1 and cache.counters.corrupt_entries == 1
    stored = cache.redis.get(key) if cache.redis is not None else cache.memory.get(key)
    assert stored.startswith(FRAME_MAGIC)  # replaced by a good entry
    with pytest.raises(CorruptCacheEntry):
        decode_value(payload)
    assert not marker.exists()


# --- TTL --------------------------------------------------------------------------------------


def test_ttl_follows_the_shortest_update_cycle(sqlite_engine, cache):
    seed(sqlite_engine)
    incident_ids, _ = incident_query()  # t.incidents is real-time
    speeds, _ = speed_query()  # t.roads monthly, t.speeds hourly
    areas_query, _ = constant_query({"n": 1}, tables=("areas",))  # t.areas yearly
    fixed, _ = constant_query({"n": 2}, tables=("areas",), ttl=7, name="fixed_ttl")
    expected = {incident_ids: MIN_TTL_SECONDS, speeds: 360, areas_query: MAX_TTL_SECONDS, fixed: 7}
    for query, seconds in expected.items():
        cache.call(sqlite_engine, query)
        remaining = cache.ttl_of(cache.key_of(sqlite_engine, query))
        assert seconds - 5 < remaining <= seconds, (query.__qualname__, remaining)


def test_ttl_bounds():
    assert ttl_for_cycles(["realtime"]) == MIN_TTL_SECONDS
    assert ttl_for_cycles(["hourly", "daily"]) == 360
    assert ttl_for_cycles(["yearly"]) == MAX_TTL_SECONDS
    assert ttl_for_cycles(["on_demand"]) == MAX_TTL_SECONDS
    assert ttl_for_cycles([]) == TTL_WITHOUT_DATASETS_SECONDS


# --- the in-process backend ---------------------------------------------------------------------


def test_memory_backend_is_a_bounded_lru_with_expiry():
    now = [0.0]
    backend = MemoryBackend(max_bytes=100, max_entries=3, clock=lambda: now[0])
    for name in "abc":
        backend.set(name, b"x" * 10, ttl=60)
    backend.get("a")  # a is now the most recent
    backend.set("d", b"x" * 10, ttl=60)
    assert backend.get("b") is None and backend.get("a") is not None  # least recently used went
    backend.set("big", b"y" * 90, ttl=60)
    assert backend.size()[1] <= 100
    assert backend.get("big") is not None
    backend.set("huge", b"z" * 101, ttl=60)
    assert backend.get("huge") is None  # larger than the whole cache: not stored
    backend.set("short", b"s", ttl=5)
    assert 0 < backend.ttl("short") <= 5
    now[0] = 6
    assert backend.get("short") is None


def test_memory_backend_sweeps_expired_entries_it_is_never_asked_for_again():
    now = [0.0]
    backend = MemoryBackend(clock=lambda: now[0], sweep_every=4)
    for minute in range(3):  # the keys of three minutes' windows, each living 30 s
        backend.set(f"window-{minute}", b"x" * 10, ttl=30)
        now[0] += 60
    backend.set("long", b"y" * 10, ttl=3600)
    # The fourth write swept: the three expired windows are gone without being read, "long" stays.
    assert backend.size() == (1, 10) and backend.get("long") == b"y" * 10
    for n in range(3):
        backend.set(f"fresh-{n}", b"z", ttl=30)
    assert backend.size() == (4, 13)  # nothing expired: nothing dropped


def test_a_write_drops_the_expired_entries_at_the_least_recently_used_end():
    """A near copy's entries all live 10 s: each write lets the expired ones at the old end go,
    so the store holds about ten seconds of entries, not its whole bound."""
    now = [0.0]
    backend = MemoryBackend(clock=lambda: now[0])  # the sweep of everything comes only every 256 writes
    for second in range(60):
        backend.set(f"entry-{second}", b"x" * 1000, ttl=10)
        now[0] += 1
    assert backend.size() == (10, 10_000)
    backend.set("kept-long", b"y", ttl=3600)
    now[0] += 20
    backend.set("new", b"z", ttl=10)
    assert backend.get("kept-long") == b"y" and backend.size() == (2, 2)


def window_query():
    """A cached query over a time window [start, end) and the calls it ran."""
    executions = []

    @cached(tables=("incidents",))
    def incidents_between(conn, category, start, end):
        executions.append((start, end))
        stmt = select(Incident.id).where(Incident.category == category).order_by(Incident.id)
        return [row.id for row in conn.execute(stmt)] + [end.isoformat()]

    return incidents_between, executions


def test_a_slot_keeps_one_last_good_value_per_query_however_the_window_moves(sqlite_engine):
    seed(sqlite_engine)
    cache = QueryCache(None, key_prefix=unique_prefix())
    incidents_between, executions = window_query()
    minutes = [T0 + dt.timedelta(minutes=m) for m in range(5)]

    # A plain call keeps no last good value: nobody could ask for it back.
    for end in minutes:
        cache.call(sqlite_engine, incidents_between, "accident", end - dt.timedelta(hours=24), end)
    assert cache.last_good_store.size()[0] == 0
    with cache.last_good_slot("wall:default/overview/map"):  # not inside a slot either (a wall map's layer reads)
        cache.call(sqlite_engine, incidents_between, "accident", T0, T0)
    assert cache.last_good_store.size()[0] == 0
    # Without a slot every window is a key of its own: one entry a minute.
    cache.clear()
    for end in minutes:
        cache.call_or_last_good(sqlite_engine, incidents_between, "accident", end - dt.timedelta(hours=24), end)
    assert cache.last_good_store.size()[0] == 5

    cache.clear()
    with cache.last_good_slot("wall:default/overview/ranking"):
        for end in minutes:
            value = cache.call_or_last_good(sqlite_engine, incidents_between, "accident", end - dt.timedelta(hours=24), end).value
            assert value == ["I1", end.isoformat()]
        # One entry, replaced each minute; asked for a later window it answers the newest it has.
        assert cache.last_good_store.size()[0] == 1
        later = minutes[-1] + dt.timedelta(minutes=10)
        assert cache.last_good(sqlite_engine, incidents_between, "accident", later - dt.timedelta(hours=24), later).value == ["I1", minutes[-1].isoformat()]
        # Arguments that are not instants still make their own entries.
        cache.call_or_last_good(sqlite_engine, incidents_between, "natural_disaster", T0, T0)
        assert cache.last_good_store.size()[0] == 2
    with cache.last_good_slot("wall:default/traffic/ranking"):  # another panel: its own entry
        cache.call_or_last_good(sqlite_engine, incidents_between, "accident", T0, T0)
        assert cache.last_good(sqlite_engine, incidents_between, "accident", T0, T0).value == ["I1", T0.isoformat()]
    assert cache.last_good_store.size()[0] == 3
    # Outside any slot the slot's entries are not found (keys by window, as before).
    assert cache.last_good(sqlite_engine, incidents_between, "accident", later - dt.timedelta(hours=24), later) is None
    assert len(executions) == 5 + 1 + 5 + 5 + 1 + 1


def test_last_good_slot_names_are_checked_and_do_not_leak_across_threads(sqlite_engine):
    seed(sqlite_engine)
    cache = QueryCache(None, key_prefix=unique_prefix())
    incidents_between, _ = window_query()
    for bad in ("", "x" * 257, "line\nbreak", None):
        with pytest.raises(ValueError):
            with cache.last_good_slot(bad):
                pass
    seen = {}

    def other_thread():  # a thread started inside a slot does not inherit it
        seen["other"] = cache.last_good_key_for(incidents_between.__cache_spec__, sqlite_engine, "public", {"category": "accident"})

    with cache.last_good_slot("wall:a"):
        inside = cache.last_good_key_for(incidents_between.__cache_spec__, sqlite_engine, "public", {"category": "accident"})
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    outside = cache.last_good_key_for(incidents_between.__cache_spec__, sqlite_engine, "public", {"category": "accident"})
    assert inside != outside and seen["other"] == outside


def test_memory_only_cache_reports_memory_without_error():
    status = QueryCache(None).status()
    assert (status.backend, status.error) == ("memory", None)


# --- Redis going away and coming back ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    for _ in range(200):  # until it accepts connections
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    pytest.fail(f"redis-server did not start on port {port}")


def stop_redis(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=10)


def test_redis_outage_falls_back_to_the_database_and_recovers_by_itself(sqlite_engine):
    seed(sqlite_engine)
    port = free_port()
    server = start_redis(port)
    now = [0.0]  # the breaker's clock, moved by hand: no waiting, no wall-clock assertions
    cache = QueryCache(f"redis://127.0.0.1:{port}/0", key_prefix=unique_prefix(), retry_seconds=5, clock=lambda: now[0])
    incident_ids, executions = incident_query()
    try:
        assert cache.call(sqlite_engine, incident_ids)["id"].tolist() == ["I1", "I2"]
        assert cache.status().backend == "redis"

        stop_redis(server)
        for i in range(30):  # every call answers from the database or the in-process cache
            category = ("accident", "natural_disaster", None)[i % 3]
            frame = cache.call(sqlite_engine, incident_ids, category)
            assert frame["id"].tolist() == {"accident": ["I1"], "natural_disaster": ["I2"], None: ["I1", "I2"]}[category]
        status = cache.status()
        assert status.backend == "memory" and "Error" in status.error
        assert cache.counters.redis_failures == 1  # one failed attempt, then the breaker held
        assert cache.breaker.trials == 0
        assert len(executions) == 1 + 3  # the fallback caches too (the first result was in Redis)

        now[0] += 6  # one trial per retry period, still down
        cache.call(sqlite_engine, incident_ids, "accident")
        assert cache.counters.redis_failures == 2 and cache.breaker.trials == 1

        server = start_redis(port)
        cache.call(sqlite_engine, incident_ids, "accident")  # within the period: memory, no attempt
        assert cache.breaker.trials == 1 and cache.status().backend == "memory"
        now[0] += 6
        cache.call(sqlite_engine, incident_ids, "natural_disaster")
        assert cache.status().backend == "redis" and cache.status().error is None
        key = cache.key_of(sqlite_engine, incident_ids, "natural_disaster")
        assert redis.Redis(port=port).get(key).startswith(FRAME_MAGIC)  # written to Redis again
    finally:
        cache.close()
        stop_redis(server)


def test_unreachable_redis_from_the_start_serves_from_memory(sqlite_engine):
    seed(sqlite_engine)
    cache = QueryCache(f"redis://127.0.0.1:{free_port()}/0", key_prefix=unique_prefix())
    incident_ids, executions = incident_query()
    for _ in range(10):
        assert cache.call(sqlite_engine, incident_ids)["id"].tolist() == ["I1", "I2"]
    assert len(executions) == 1
    assert cache.counters.redis_failures == 1
    assert cache.status().backend == "memory"


# --- one catalogue read per request (QueryCache.one_snapshot) -----------------------------------


def test_calls_in_one_snapshot_read_the_catalogue_once_and_a_new_snapshot_sees_writes(engine, cache):
    seed(engine)
    incident_ids, executions = incident_query()
    speeds, _ = speed_query()
    cache.call(engine, incident_ids)
    cache.call(engine, speeds)
    catalogue = StatementCounter(engine, "datasets")
    try:
        with cache.one_snapshot():
            for _ in range(3):
                cache.call(engine, incident_ids)
                cache.call(engine, speeds)
        inside = catalogue.count
        for _ in range(2):
            cache.call(engine, incident_ids)
        outside = catalogue.count - inside
    finally:
        catalogue.close()
    assert inside == 1  # six hits, one read of the versions
    assert outside == 2  # without a snapshot, one read per call as before
    assert len(executions) == 1
    shared: dict = {}
    with cache.one_snapshot(shared):
        cache.call(engine, incident_ids)
    add_incident(engine, "I3")
    with cache.one_snapshot(shared):  # the same request: keyed on its snapshot, not on the write
        assert cache.call(engine, incident_ids)["id"].tolist() == ["I1", "I2"]
    with cache.one_snapshot():  # the next request sees it
        assert cache.call(engine, incident_ids)["id"].tolist() == ["I1", "I2", "I3"]
    assert len(executions) == 2


def test_the_last_good_store_is_sized_from_the_settings():
    """``CITYOPS_LAST_GOOD_MB``: the memory each worker gives the wall's last good answers."""
    from queries.settings import Settings

    assert QueryCache.from_settings(Settings(last_good_mb=8)).last_good_store.max_bytes == 8 * 1024 * 1024
    assert QueryCache.from_settings(Settings()).last_good_store.max_bytes == 64 * 1024 * 1024


# --- the near copy of Redis entries -----------------------------------------------------------


def test_the_near_copy_answers_for_its_seconds_without_asking_redis(sqlite_engine, raw_redis):
    """An entry read from Redis is answered from the process's near copy for ``near_seconds``
    (the Redis entry deleted meanwhile: no computation), then asked of Redis again."""
    require_redis()
    seed(sqlite_engine)
    now = [0.0]
    cache = QueryCache(REDIS_URL, key_prefix=unique_prefix(), near=MemoryBackend(clock=lambda: now[0]), near_seconds=10)
    try:
        incident_ids, executions = incident_query()
        cache.call(sqlite_engine, incident_ids)
        raw_redis.delete(cache.key_of(sqlite_engine, incident_ids))
        now[0] = 9.9
        assert cache.call(sqlite_engine, incident_ids)["id"].tolist() == ["I1", "I2"]
        assert len(executions) == 1 and cache.counters.near_hits == 1
        now[0] = 10.0
        cache.call(sqlite_engine, incident_ids)
        assert len(executions) == 2 and cache.counters.near_hits == 1
    finally:
        cache.clear()
        cache.close()


def test_a_near_copy_is_never_answered_after_its_data_changed(sqlite_engine, raw_redis):
    """Another worker's write bumps the dataset's version: the key changes, the near copy of the
    old one is not used although it is fresh."""
    require_redis()
    seed(sqlite_engine)
    cache = QueryCache(REDIS_URL, key_prefix=unique_prefix(), near=MemoryBackend())
    try:
        incident_ids, executions = incident_query()
        assert cache.call(sqlite_engine, incident_ids)["id"].tolist() == ["I1", "I2"]
        add_incident(sqlite_engine, "I3")
        assert cache.call(sqlite_engine, incident_ids)["id"].tolist() == ["I1", "I2", "I3"]
        assert len(executions) == 2 and cache.counters.near_hits == 0
        cache.clear()  # an operator's clear empties this process's near copies too
        cache.call(sqlite_engine, incident_ids)
        assert len(executions) == 3
    finally:
        cache.clear()
        cache.close()


def test_the_near_copy_is_sized_from_the_settings_and_only_with_redis():
    """``CITYOPS_CACHE_NEAR_MB`` per worker; none without Redis (the in-process cache is near
    already) or when set to 0."""
    from queries.settings import Settings

    with_redis = QueryCache.from_settings(Settings(redis_url=REDIS_URL, cache_near_mb=8))
    assert with_redis.near.max_bytes == 8 * 1024 * 1024
    with_redis.close()
    assert QueryCache.from_settings(Settings()).near is None
    off = QueryCache.from_settings(Settings(redis_url=REDIS_URL, cache_near_mb=0))
    assert off.near is None
    off.close()


# --- per-district versions (cached(area=…)) ---------------------------------------------------


def district_query():
    """A cached query confined to an area (``area=``) and the areas it ran for."""
    executions = []

    @cached(tables=("incidents", "areas"), area="area")
    def incidents_in(conn, area, category="accident"):
        executions.append(area)
        found = conn.execute(select(Area.level).where(Area.code == area)).scalar_one_or_none() if area else None
        column = getattr(Incident, f"{found}_code") if found and found != "city" else None
        stmt = select(Incident.id).where(Incident.category == category, *([column == area] if column is not None else [])).order_by(Incident.id)
        return [row.id for row in conn.execute(stmt)]

    return incidents_in, executions


def seed_districts(engine) -> None:
    """``seed`` and two districts, with a street of 海州 whose code is not its district's prefix
    (the district comes from the areas table)."""
    seed(engine)
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320706", "level": "district", "parent_code": "320700", "name": "海州区", "dataset_code": "t.areas"},
            {"code": "320707", "level": "district", "parent_code": "320700", "name": "赣榆区", "dataset_code": "t.areas"},
            {"code": "320799001", "level": "street", "parent_code": "320706", "name": "新浦街道", "dataset_code": "t.areas"},
        ])


def write_incident(engine, incident_id: str, district: str | None, street: str | None = None, partitions=("from-row",)) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Incident).values(id=incident_id, category="accident", severity=4, status="reported", reported_at=T0,
                                             district_code=district, street_code=street, dataset_code="t.incidents"))
        record_change(conn, "t.incidents", "feed", 1, at=T0, tables=["incidents"], partitions=[district] if partitions == ("from-row",) else partitions)


def test_an_area_entry_outlives_changes_in_other_districts(sqlite_engine, cache):
    seed_districts(sqlite_engine)
    incidents_in, executions = district_query()
    areas = ["320700", "320706", "320707", "320799001"]

    def ask_all():
        return {area: cache.call(sqlite_engine, incidents_in, area) for area in areas}

    ask_all()
    write_incident(sqlite_engine, "G1", "320707")  # 赣榆: the city's and 赣榆's entries change, 海州's and its street's stay
    executions.clear()
    answers = ask_all()
    assert executions == ["320700", "320707"] and answers["320707"] == ["G1"] and "G1" in answers["320700"]

    write_incident(sqlite_engine, "H1", "320706", "320799001")
    executions.clear()
    answers = ask_all()
    assert executions == ["320700", "320706", "320799001"] and answers["320799001"] == ["H1"]

    write_incident(sqlite_engine, "N1", None)  # no district: in no area below the city
    executions.clear()
    ask_all()
    assert executions == ["320700"]

    write_incident(sqlite_engine, "U1", "320707", partitions=None)  # a change that did not say where: every area
    executions.clear()
    ask_all()
    assert executions == areas
    executions.clear()
    assert cache.call(sqlite_engine, incidents_in, None) and executions == [None]  # no area: the whole version


def test_an_area_entry_follows_its_district_when_the_areas_change(sqlite_engine):
    seed_districts(sqlite_engine)
    cache = QueryCache(None, key_prefix=unique_prefix())
    incidents_in, executions = district_query()
    cache.call(sqlite_engine, incidents_in, "320799001")
    with sqlite_engine.begin() as conn:  # the street is moved to 赣榆 by a boundary import
        conn.execute(update(Area).where(Area.code == "320799001").values(parent_code="320707"))
        record_change(conn, "t.areas", "ingest", 1, at=T0, tables=["areas"])
    write_incident(sqlite_engine, "G1", "320707", "320799001")
    executions.clear()
    assert cache.call(sqlite_engine, incidents_in, "320799001") == ["G1"] and executions == ["320799001"]


def test_an_area_parameter_must_be_one_of_the_query():
    with pytest.raises(TypeError, match="names no parameter"):
        @cached(tables=("incidents",), area="area_code")
        def wrong(conn, area):
            return []


def test_an_area_given_as_a_mapping_keys_on_its_code(sqlite_engine):
    seed_districts(sqlite_engine)
    cache = QueryCache(None, key_prefix=unique_prefix())
    executions = []

    @cached(tables=("incidents", "areas"), area="area")
    def layer_of(conn, area, zoom):
        executions.append(area["code"])
        return []

    district = {"code": "320706", "level": "district", "parent_code": "320700"}
    cache.call(sqlite_engine, layer_of, district, 11.0)
    write_incident(sqlite_engine, "G1", "320707")
    cache.call(sqlite_engine, layer_of, district, 11.0)
    assert executions == ["320706"]
