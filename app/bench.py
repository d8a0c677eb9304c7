"""``cityops bench``: the query layer's figures at a demo scale, on SQLite and PostGIS.

Printed as a table and optionally written as JSON. Each figure is measured beside its named
baseline in the same process (no thresholds asserted: the targets are in the issue and in
docs, the numbers are for people to read):

* ``grid_agg_1m_s``: assigning 1M new points to the unit grids with ``queries.spatial`` (the
  raster index of the area layer built beforehand, as a long-lived process keeps it:
  ``grid_index_build_s``, and both together ``grid_agg_with_build_1m_s``) and counting per
  grid; baseline ``geopandas.sjoin`` + groupby (``grid_agg_sjoin_1m_s``);
  ``grid_agg_speedup_vs_sjoin`` is their ratio. ``grid_agg_points_differing`` must be 0.
* ``drill_cold_p95_ms`` / ``drill_warm_p95_ms``: the queries of one drill step (child counts of
  incidents and work orders over 24 h, the area summary), uncached and through the cache.
* ``concurrent_20_db_queries``: database statements executed when 20 identical requests miss
  the cache at the same moment (target: one computation).
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BENCH_SEED = 20261121


def _p95_ms(samples: list[float]) -> float:
    return round(float(np.percentile(np.array(samples) * 1000, 95)), 2)


def bench_database_url(database: str, scale: str, data_dir: Path, pg_admin_url: str) -> str:
    """A database of its own per scale, so benchmarks never touch the dashboard's data."""
    if database == "sqlite":
        return f"sqlite:///{(data_dir / f'bench-{scale}.db').resolve()}"
    from sqlalchemy import create_engine, text

    name = f"cityops_bench_{scale}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))  # name is ours, from a fixed pattern
    admin.dispose()
    return pg_admin_url.rsplit("/", 1)[0] + "/" + name


def prepare_demo(engine, scale: str, say: Callable[[str], None]) -> dict:
    """Build the demo city at ``scale`` unless this database already holds it; returns build figures."""
    from sqlalchemy import select

    from queries.demo import GENERATOR_VERSION, build_demo_city
    from queries.migrate import ensure_schema
    from queries.schema import Meta

    ensure_schema(engine)
    with engine.connect() as conn:
        meta = dict(conn.execute(select(Meta.key, Meta.value)).all())
    if (meta.get("demo_scale"), meta.get("demo_seed"), meta.get("demo_generator_version")) == (scale, str(BENCH_SEED), GENERATOR_VERSION):
        say(f"  reusing the {scale} demo city already in the database")
        return {}
    say(f"  building the {scale} demo city…")
    summary = build_demo_city(engine, scale, BENCH_SEED, reset=True)
    return {"demo_build_s": summary["seconds"], "demo_rows": summary["rows"]}


def bench_grid_assignment(engine, points: int = 1_000_000, seed: int = 7) -> dict:
    """1M new points like the city's own (near existing incidents) assigned to grids, vs sjoin."""
    import geopandas as gpd
    import pandas as pd
    from sqlalchemy import select

    from queries.schema import Incident
    from queries.spatial import AreaLocator, load_areas

    with engine.connect() as conn:
        areas = load_areas(conn)
        anchors = np.array(conn.execute(select(Incident.lon, Incident.lat).where(Incident.lon.is_not(None))).all(), dtype="float64")
    grids = areas[areas["level"] == "grid"].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    picks = anchors[rng.integers(0, len(anchors), points)]
    lon = picks[:, 0] + rng.normal(0, 0.004, points)  # ≈400 m of scatter around real activity
    lat = picks[:, 1] + rng.normal(0, 0.004, points)

    # The index belongs to the grid layer (a yearly dataset): built once, reused by every batch.
    started = time.perf_counter()
    locator = AreaLocator(areas)
    for level in ("district", "street", "community", "grid"):
        locator.raster(level)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    ours = locator.assign(lon, lat)["grid_code"].value_counts()
    ours_s = time.perf_counter() - started

    started = time.perf_counter()
    frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(frame, grids[["code", "geometry"]], how="inner", predicate="intersects")
    joined = joined[~joined.index.duplicated(keep="first")]  # a point on a shared edge counts once
    baseline = joined.groupby("code").size()
    sjoin_s = time.perf_counter() - started

    # Same counts per grid (points exactly on shared edges may go to either side in sjoin).
    compared = pd.concat([ours.rename("ours"), baseline.rename("sjoin")], axis=1).fillna(0)
    mismatched = int((compared["ours"] - compared["sjoin"]).abs().sum())
    return {
        "grid_agg_points": points,
        "grid_agg_grids": len(grids),
        "grid_agg_1m_s": round(ours_s * 1_000_000 / points, 3),
        "grid_index_build_s": round(build_s, 3),
        "grid_agg_with_build_1m_s": round((ours_s + build_s) * 1_000_000 / points, 3),
        "grid_agg_sjoin_1m_s": round(sjoin_s * 1_000_000 / points, 3),
        "grid_agg_speedup_vs_sjoin": round(sjoin_s / ours_s, 2),
        "grid_agg_points_differing": mismatched,
    }


def _drill_path(engine, limit: int) -> list[str]:
    """Areas a commander drills through: the city, every district, their first streets and communities."""
    from sqlalchemy import select

    from queries.schema import Area

    with engine.connect() as conn:
        rows = conn.execute(select(Area.code, Area.level, Area.parent_code).where(Area.level != "grid").order_by(Area.code)).all()
    by_parent: dict[str | None, list[str]] = {}
    for code, _level, parent in rows:
        by_parent.setdefault(parent, []).append(code)
    path: list[str] = []
    frontier = [code for code, level, _ in rows if level == "city"]
    while frontier and len(path) < limit:
        path.extend(frontier[: limit - len(path)])
        frontier = [child for code in frontier for child in by_parent.get(code, [])[:3]]
    return path


def _drill_step(call, code: str, start: dt.datetime, end: dt.datetime) -> None:
    """The queries one drill step makes: counts per child (incidents, work orders) and the summary."""
    from queries.drill import child_counts
    from queries.incidents import area_summary

    call(child_counts, code, "incidents", start=start, end=end)
    call(child_counts, code, "workorders", start=start, end=end)
    call(area_summary, code, start, end)


def bench_drill(engine, redis_url: str | None, steps: int = 60) -> dict:
    """p95 of a drill step's queries uncached (cold) and from the cache (warm); 20 concurrent misses."""
    import threading

    from sqlalchemy import event, func, select

    from queries.cache import QueryCache
    from queries.schema import Incident

    with engine.connect() as conn:
        newest = conn.execute(select(func.max(Incident.reported_at))).scalar()
    end = newest + dt.timedelta(seconds=1)
    start = end - dt.timedelta(hours=24)
    path = _drill_path(engine, steps)

    def direct(query, *args, **kwargs):
        with engine.connect() as conn:
            return query(conn, *args, **kwargs)

    cold = []
    for code in path:
        began = time.perf_counter()
        _drill_step(direct, code, start, end)
        cold.append(time.perf_counter() - began)

    cache = QueryCache(redis_url, key_prefix=f"cityops-bench-{time.time_ns()}")
    cached = lambda query, *args, **kwargs: cache.call(engine, query, *args, **kwargs)  # noqa: E731
    for code in path:  # fill
        _drill_step(cached, code, start, end)
    warm = []
    for code in path:
        began = time.perf_counter()
        _drill_step(cached, code, start, end)
        warm.append(time.perf_counter() - began)

    # 20 identical requests arriving together on a key nobody computed yet.
    from queries.incidents import area_summary

    statements = []
    listener = lambda *args, **kwargs: statements.append(1)  # noqa: E731
    with engine.connect() as conn:
        event.listen(engine, "before_cursor_execute", listener)
        try:
            statements.clear()
            area_summary(conn, path[0], start - dt.timedelta(days=1), end)
            one_computation = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    computations_before = cache.counters.computations
    barrier = threading.Barrier(20)

    def request() -> None:
        barrier.wait()
        cache.call(engine, area_summary, path[0], start - dt.timedelta(days=2), end)

    event.listen(engine, "before_cursor_execute", listener)
    statements.clear()
    try:
        threads = [threading.Thread(target=request) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    cache.clear()
    return {
        "drill_steps": len(path),
        "drill_cold_p95_ms": _p95_ms(cold),
        "drill_warm_p95_ms": _p95_ms(warm),
        "drill_cache": "redis" if redis_url else "memory",
        "concurrent_20_computations": cache.counters.computations - computations_before,
        "concurrent_20_db_statements": len(statements),
        "one_computation_db_statements": one_computation,
    }


def run(scale: str, databases: list[str], data_dir: Path, pg_admin_url: str, redis_url: str | None = None, say: Callable[[str], None] = print) -> dict:
    from queries.db import make_engine

    data_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"scale": scale, "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "databases": {}}
    for database in databases:
        say(f"[{database}]")
        engine = make_engine(bench_database_url(database, scale, data_dir, pg_admin_url))
        figures = prepare_demo(engine, scale, say)
        say("  drill steps, cold and warm…")
        figures.update(bench_drill(engine, redis_url))
        say("  grid assignment of 1M points vs geopandas.sjoin…")
        figures.update(bench_grid_assignment(engine))
        results["databases"][database] = figures
        engine.dispose()
    return results


def format_table(results: dict) -> str:
    databases = list(results["databases"])
    names = sorted({name for figures in results["databases"].values() for name in figures})
    width = max(len(n) for n in names) if names else 10
    lines = [f"cityops bench — scale {results['scale']}", f"{'figure':<{width}}  " + "  ".join(f"{d:>12}" for d in databases)]
    for name in names:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{results['databases'][d].get(name, ''):>12}" for d in databases))
    return "\n".join(lines)


def write_json(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2))
