"""``cityops bench``: the query layer's figures at a demo scale, on SQLite and PostGIS.

Printed as a table and optionally written as JSON. Each figure is measured beside its named
baseline in the same process (no thresholds asserted: the targets are in the issue and in
docs, the numbers are for people to read):

* ``grid_agg_1m_s``: assigning 1M new points to the unit grids with ``queries.spatial`` (the
  raster index of the area layer built beforehand, as a long-lived process keeps it:
  ``grid_index_build_s``, and both together ``grid_agg_with_build_1m_s``) and counting per
  grid; baseline ``geopandas.sjoin`` + groupby (``grid_agg_sjoin_1m_s``);
  ``grid_agg_speedup_vs_sjoin`` is their ratio. ``grid_agg_points_differing`` must be 0. Both
  are the best of ``GRID_AGG_RUNS`` runs, so that a moment of another process's load does not
  decide the ratio.
* ``drill_cold_p95_ms`` / ``drill_warm_p95_ms``: the queries of one drill step (child counts of
  incidents and work orders over 24 h, the area summary), uncached and through the cache.
* ``concurrent_20_db_queries``: database statements executed when 20 identical requests miss
  the cache at the same moment (target: one computation).
* ``demo_build_s`` / ``demo_rows``: generating and loading the demo city (recorded when the
  database was built; ``demo_build_reused`` says the figure is from that build).
* ``ingest_*``: an incidents CSV of ``SCALE_SIZES[scale]["ingest_rows"]`` rows (the department
  file form, Chinese column names and severity spellings) through ``ingest_file`` into a fresh
  database with a small city of districts and streets: first import and re-import (all updates).
* ``layer_*`` (database-independent, in ``common``): bytes and build time of our incidents layer
  (binary at street zoom, H3-aggregated at city zoom) against the naive pydeck baseline (every
  point a JSON object, ``pydeck.Deck(...).to_json()``), for the demo city's last 30 days of
  incidents and for a synthetic set of ``layer_points`` points.
* ``page_*``: bytes (as sent, and gzip-compressed as a proxy would send them) and cold time of
  what a browser fetches for ``/``, ``/command`` (+ one drill step's callbacks), ``/wall``
  (+ its first refresh) and ``/briefing``: the HTML, Dash's layout, dependencies, page router
  and the callbacks the page runs at once (``app.loadtest.DashPage``), in-process through the
  Flask test client, signed in like a browser (the log-in form; a wall device's token link).
  ``page_assets_bytes``: the scripts and styles of a Dash page, fetched once per browser.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

BENCH_SEED = 20261121
# Per scale: rows of the ingest file, synthetic points of the layer payload figure.
SCALE_SIZES = {
    "small": {"ingest_rows": 20_000, "layer_points": 50_000},
    "city": {"ingest_rows": 100_000, "layer_points": 200_000},
    "large": {"ingest_rows": 300_000, "layer_points": 1_000_000},
}
BENCHMARKS = ("demo", "ingest", "drill", "grid", "layers", "pages")
BUILD_META_KEY = "bench_demo_build"  # meta row: the figures of the build, reported again when the city is reused


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


def prepare_demo(engine, scale: str, say: Callable[[str], None], max_age: dt.timedelta | None = None) -> dict:
    """Build the demo city at ``scale`` unless this database already holds it (and, with
    ``max_age``, it was built within that time: its "last 24 h" empties out); returns build figures."""
    from sqlalchemy import select

    from queries.demo import GENERATOR_VERSION, build_demo_city
    from queries.migrate import ensure_schema
    from queries.schema import Meta
    from queries.writes import upsert

    ensure_schema(engine)
    with engine.connect() as conn:
        meta = dict(conn.execute(select(Meta.key, Meta.value)).all())
    recorded = json.loads(meta.get(BUILD_META_KEY) or "{}")  # the figures of the build that made it
    built_at = dt.datetime.fromisoformat(recorded["demo_built_at"]) if recorded.get("demo_built_at") else None
    too_old = max_age is not None and (built_at is None or dt.datetime.now(dt.timezone.utc) - built_at > max_age)
    if (meta.get("demo_scale"), meta.get("demo_seed"), meta.get("demo_generator_version")) == (scale, str(BENCH_SEED), GENERATOR_VERSION) and not too_old:
        say(f"  reusing the {scale} demo city already in the database")
        return {**recorded, "demo_build_reused": True} if recorded else {"demo_build_reused": True}
    say(f"  building the {scale} demo city…")
    summary = build_demo_city(engine, scale, BENCH_SEED, reset=True)
    figures = {"demo_build_s": round(summary["seconds"], 1), "demo_rows": summary["rows"],
               "demo_built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    with engine.begin() as conn:
        upsert(conn, Meta.__table__, [{"key": BUILD_META_KEY, "value": json.dumps(figures)}], key=["key"])
    return {**figures, "demo_build_reused": False}


GRID_AGG_RUNS = 3


def best_of(runs: int, work):
    """(fastest wall-clock seconds over ``runs`` calls of ``work``, its result)."""
    best, result = None, None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
    return best, result


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
    def ours_once():
        return locator.assign(lon, lat)["grid_code"].value_counts()

    def sjoin_once():
        frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        joined = gpd.sjoin(frame, grids[["code", "geometry"]], how="inner", predicate="intersects")
        joined = joined[~joined.index.duplicated(keep="first")]  # a point on a shared edge counts once
        return joined.groupby("code").size()

    # Best of a few runs each (as timeit does): another process taking the core for a moment
    # slows one run, and one slow run must not decide the ratio either way.
    ours_s, ours = best_of(GRID_AGG_RUNS, ours_once)
    sjoin_s, baseline = best_of(GRID_AGG_RUNS, sjoin_once)

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
        "grid_agg_runs": GRID_AGG_RUNS,
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


def run(scale: str, databases: list[str], data_dir: Path, pg_admin_url: str, redis_url: str | None = None, say: Callable[[str], None] = print,
        skip: tuple[str, ...] = ()) -> dict:
    """Every benchmark at ``scale`` on each of ``databases`` (``skip`` leaves some out); figures
    per database in ``databases``, database-independent ones in ``common``, seconds per part in ``timings``."""
    from queries.db import make_engine

    data_dir.mkdir(parents=True, exist_ok=True)
    sizes = SCALE_SIZES[scale]
    results: dict = {"scale": scale, "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "sizes": sizes,
                     "databases": {}, "common": {}, "timings": {}}
    began = time.perf_counter()

    def timed(label: str, work: Callable[[], dict]) -> dict:
        started = time.perf_counter()
        figures = work()
        results["timings"][label] = round(time.perf_counter() - started, 1)
        return figures

    for database in databases:
        say(f"[{database}]")
        url = bench_database_url(database, scale, data_dir, pg_admin_url)
        engine = make_engine(url)
        figures = timed(f"{database}.demo", lambda: prepare_demo(engine, scale, say))
        if "ingest" not in skip:
            say(f"  ingest of {sizes['ingest_rows']:,} incidents (first import and re-import)…")
            figures.update(timed(f"{database}.ingest", lambda: bench_ingest(database, sizes["ingest_rows"], pg_admin_url)))
        if "drill" not in skip:
            say("  drill steps, cold and warm…")
            figures.update(timed(f"{database}.drill", lambda: bench_drill(engine, redis_url)))
        if "grid" not in skip:
            say("  grid assignment of 1M points vs geopandas.sjoin…")
            figures.update(timed(f"{database}.grid", lambda: bench_grid_assignment(engine)))
        if "layers" not in skip and not results["common"]:
            say(f"  layer payloads vs naive pydeck (last 30 days, {sizes['layer_points']:,} synthetic points)…")
            results["common"].update(timed("layers", lambda: bench_layers(engine, sizes["layer_points"])))
        if "pages" not in skip:
            say("  page payloads (/, /command, /wall, /briefing)…")
            figures.update(timed(f"{database}.pages", lambda: bench_pages(url)))
        results["databases"][database] = figures
        engine.dispose()
    results["total_s"] = round(time.perf_counter() - began, 1)
    return results


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def format_table(results: dict) -> str:
    databases = list(results["databases"])
    names = sorted({name for figures in results["databases"].values() for name in figures})
    common = results.get("common") or {}
    width = max([len(n) for n in names] + [len(n) for n in common] + [10])
    lines = [f"cityops bench — scale {results['scale']}" + (f", {results['total_s']:.0f} s" if "total_s" in results else ""),
             f"{'figure':<{width}}  " + "  ".join(f"{d:>14}" for d in databases)]
    for name in names:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{_cell(results['databases'][d].get(name, '')):>14}" for d in databases))
    if common:
        lines.append(f"\n{'figure (any database)':<{width}}  {'value':>14}")
        for name in sorted(common):
            lines.append(f"{name:<{width}}  {_cell(common[name]):>14}")
    if results.get("timings"):
        lines.append("\nseconds per part: " + ", ".join(f"{label} {seconds:g}" for label, seconds in results["timings"].items()))
    return "\n".join(lines)


# --- ingest ----------------------------------------------------------------------------------------

CITY_BOX = (119.0, 34.4, 119.6, 34.8)
INGEST_CATEGORIES = ("自然灾害", "事故灾难", "公共卫生事件", "社会安全事件", "火灾", "交通事故")
INGEST_SEVERITIES = ("I级", "II级", "III级", "IV级", "重大", "一般", "2", "3")


def city_geojson(path: Path) -> None:
    """A city, 4 districts and 16 streets on a regular lattice (the ingest benchmark's areas)."""
    min_lon, min_lat, max_lon, max_lat = CITY_BOX

    def square(x0, y0, x1, y1):
        return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}

    features = [{"type": "Feature", "properties": {"code": "320700", "name": "基准市"}, "geometry": square(*CITY_BOX)}]
    dx, dy = (max_lon - min_lon) / 2, (max_lat - min_lat) / 2
    for d in range(4):
        x0, y0 = min_lon + (d % 2) * dx, min_lat + (d // 2) * dy
        district = f"32070{d + 1}"
        features.append({"type": "Feature", "properties": {"code": district, "name": f"第{d + 1}区"}, "geometry": square(x0, y0, x0 + dx, y0 + dy)})
        for s in range(4):
            sx, sy = x0 + (s % 2) * dx / 2, y0 + (s // 2) * dy / 2
            features.append({"type": "Feature", "properties": {"code": f"{district}00{s + 1}", "name": f"第{d + 1}区{s + 1}街道"}, "geometry": square(sx, sy, sx + dx / 2, sy + dy / 2)})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8")


def incidents_csv(path: Path, rows: int, seed: int = 1) -> None:
    """``rows`` incidents as a department exports them (Chinese headers, mixed severity spellings)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-01 00:00:00")
    times = start + pd.to_timedelta(rng.integers(0, 320 * 86400, rows), unit="s")
    frame = pd.DataFrame({
        "事件编号": [f"E{i:08d}" for i in range(rows)],
        "事件类型": rng.choice(INGEST_CATEGORIES, rows),
        "等级": rng.choice(INGEST_SEVERITIES, rows),
        "上报时间": times.strftime("%Y-%m-%d %H:%M:%S"),
        "经度": np.round(rng.uniform(CITY_BOX[0] + 0.01, CITY_BOX[2] - 0.01, rows), 6),
        "纬度": np.round(rng.uniform(CITY_BOX[1] + 0.01, CITY_BOX[3] - 0.01, rows), 6),
        "事发地址": [f"某路{i % 997}号" for i in range(rows)],
        "联系电话": [f"139{i:08d}" for i in range(rows)],
        "来源": rng.choice(("12345", "110", "119", "网格员"), rows),
        "事件描述": "现场情况说明",
    })
    frame.to_csv(path, index=False, encoding="utf-8")


def scratch_database(database: str, folder: Path, pg_admin_url: str, label: str) -> tuple[str, Callable[[], None]]:
    """A fresh database for one benchmark and the function that throws it away."""
    if database == "sqlite":
        return f"sqlite:///{(folder / f'{label}.db').resolve()}", lambda: None
    from sqlalchemy import create_engine, text

    name = f"cityops_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # a name of our own making: identifiers cannot be bound

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return pg_admin_url.rsplit("/", 1)[0] + "/" + name, drop


def bench_ingest(database: str, rows: int, pg_admin_url: str) -> dict:
    """First import and re-import of a ``rows``-row incidents CSV (validation, point → area
    assignment, bulk upsert, catalogue), in-process, into a fresh database."""
    from queries.db import make_engine
    from queries.ingest import ingest_file
    from queries.migrate import ensure_schema

    with tempfile.TemporaryDirectory(prefix="cityops-bench-ingest-") as folder:
        work = Path(folder)
        city_geojson(work / "city.geojson")
        incidents_csv(work / "incidents.csv", rows)
        url, drop = scratch_database(database, work, pg_admin_url, "ingest")
        try:
            engine = make_engine(url)
            ensure_schema(engine)
            ingest_file(engine, "boundaries", work / "city.geojson")
            started = time.perf_counter()
            first = ingest_file(engine, "incidents", work / "incidents.csv")
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            ingest_file(engine, "incidents", work / "incidents.csv")
            again_s = time.perf_counter() - started
            engine.dispose()
        finally:
            drop()
    return {
        "ingest_rows": first.rows_written, "ingest_first_s": round(first_s, 2), "ingest_first_rows_per_s": round(rows / first_s),
        "ingest_reimport_s": round(again_s, 2), "ingest_reimport_rows_per_s": round(rows / again_s),
    }


# --- layer payloads ----------------------------------------------------------------------------------


def synthetic_points(count: int, like, seed: int):
    """``count`` incidents scattered around the rows of ``like`` (same extent and mix)."""
    import pandas as pd

    from queries.vocab import INCIDENT_CATEGORIES

    rng = np.random.default_rng(seed)
    anchors = rng.integers(0, len(like), count)
    moment = pd.Timestamp("2026-11-21 08:00", tz="UTC")
    return pd.DataFrame({
        "id": [f"SYN-{i:07d}" for i in range(count)],
        "lon": like["lon"].to_numpy()[anchors] + rng.normal(0, 0.01, count),
        "lat": like["lat"].to_numpy()[anchors] + rng.normal(0, 0.01, count),
        "severity": rng.choice([1, 2, 3, 4], count, p=[0.01, 0.04, 0.15, 0.80]),
        "category": rng.choice([c.code for c in INCIDENT_CATEGORIES], count),
        "status": "reported",
        "reported_at": moment - pd.to_timedelta(rng.integers(0, 30 * 86400, count), unit="s"),
    })


def bench_layers(engine, synthetic: int, seed: int = BENCH_SEED) -> dict:
    """Our incidents layer (binary, aggregated) against naive pydeck JSON: bytes and build time."""
    from sqlalchemy import func, select

    from layers.payload import payload_report
    from queries.map_data import incident_points
    from queries.schema import Incident

    with engine.connect() as conn:
        newest = conn.execute(select(func.max(Incident.reported_at))).scalar()
        month = incident_points(conn, None, newest - dt.timedelta(days=30), newest + dt.timedelta(seconds=1))
    figures: dict = {}
    for label, points in (("month", month), ("synthetic", synthetic_points(synthetic, month, seed))):
        report = payload_report(points)
        figures[f"layer_{label}_points"] = report["points"]
        for variant, name in (("binary", "binary"), ("aggregated", "aggregated"), ("pydeck_json", "pydeck")):
            figures[f"layer_{label}_{name}_bytes"] = report[variant]["bytes"]
            figures[f"layer_{label}_{name}_build_s"] = round(report[variant]["seconds"], 3)
        figures[f"layer_{label}_binary_vs_pydeck_bytes"] = round(report["pydeck_json"]["bytes"] / max(1, report["binary"]["bytes"]), 1)
    return figures


# --- page payloads -------------------------------------------------------------------------------------

BENCH_USER = "bench-commander"
BENCH_WALL = "bench-wall"


class _PageMeter:
    """Requests through a Flask test client: bytes of the bodies (uncompressed), as the app sends
    them (it compresses some itself), and gzip-compressed as a proxy would send them; and time."""

    def __init__(self, client):
        self.client = client
        self.reset()

    def reset(self) -> None:
        self.bytes = self.sent_bytes = self.gzip_bytes = self.requests = 0
        self.seconds = 0.0

    def __call__(self, method: str, path: str, **options) -> tuple[object, bytes]:
        started = time.perf_counter()
        response = self.client.open(path, method=method, **options)
        sent = response.get_data()
        self.seconds += time.perf_counter() - started
        compressed = response.headers.get("Content-Encoding") == "gzip"
        body = gzip.decompress(sent) if compressed else sent
        self.requests += 1
        self.bytes += len(body)
        self.sent_bytes += len(sent)
        self.gzip_bytes += len(sent) if compressed else len(gzip.compress(body, 6))
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {body[:200]!r}")
        return response, body

    def figures(self, name: str) -> dict:
        return {f"page_{name}_bytes": self.bytes, f"page_{name}_sent_bytes": self.sent_bytes, f"page_{name}_gzip_bytes": self.gzip_bytes,
                f"page_{name}_requests": self.requests, f"page_{name}_cold_s": round(self.seconds, 3)}


def _dash_callbacks(meter: _PageMeter, page, outputs, changed=()) -> list[str]:
    from app.loadtest import DASH_UPDATE

    added: list[str] = []
    for output in outputs:
        response, body = meter("POST", DASH_UPDATE, json=page.body(output, changed))
        if response.status_code == 200 and body:
            added += page.apply(json.loads(body))
    return added


def _open_dash_page(meter: _PageMeter, path: str):
    """What a browser fetches to open a Dash page (scripts aside); returns the page."""
    from app.loadtest import DASH_UPDATE, DashPage, router_body

    meter("GET", path)
    page = DashPage()
    page.load(json.loads(meter("GET", "/_dash-layout")[1]), json.loads(meter("GET", "/_dash-dependencies")[1]))
    page.set_prop("shell-url", "pathname", path)
    shell = page.initial_callbacks(list(page.props))
    added = page.apply(json.loads(meter("POST", DASH_UPDATE, json=router_body(path))[1]))
    _dash_callbacks(meter, page, shell + [o for o in page.initial_callbacks(added) if o not in shell])
    return page


def _log_in(meter: _PageMeter, user: str, password: str) -> None:
    from app.loadtest import CSRF_RE

    form = meter("GET", "/login")[1].decode("utf-8")
    meter("POST", "/login", data={"user": user, "password": password, "csrf": CSRF_RE.search(form).group(1), "next": "/"})


def bench_pages(database_url: str) -> dict:
    """Bytes and cold time of /, /command (+ a drill step), /wall (+ its first refresh), /briefing."""
    from app.loadtest import ASSET_RE, id_key
    from app.server import create_app
    from queries.auth import add_user, change_user, get_account, issue_token
    from queries.db import make_engine
    from queries.settings import Settings

    password = uuid.uuid4().hex + "Aa1!"
    engine = make_engine(database_url)
    with engine.begin() as conn:  # a commander who logs in and a wall device, in the bench's own database
        if get_account(conn, BENCH_USER) is None:
            add_user(conn, BENCH_USER, "commander", password)
        else:
            change_user(conn, BENCH_USER, password=password, disabled=False)
        if get_account(conn, BENCH_WALL) is None:
            add_user(conn, BENCH_WALL, "wall", None)
        token = issue_token(conn, BENCH_WALL)
    engine.dispose()
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="cityops-bench-pages-") as folder:
        dash_app = create_app(Settings(data_dir=Path(folder), database_url=database_url, redis_url=None, secret_key=uuid.uuid4().hex))

        def browser() -> _PageMeter:
            client = dash_app.server.test_client()
            client.environ_base.update(HTTP_ORIGIN="http://localhost", HTTP_ACCEPT_ENCODING="gzip")
            return _PageMeter(client)

        meter = browser()  # a commander's browser
        _log_in(meter, BENCH_USER, password)
        meter.reset()
        _open_dash_page(meter, "/")
        figures.update(meter.figures("home"))

        index = meter("GET", "/command")[1].decode("utf-8")
        meter.reset()
        for url in dict.fromkeys(ASSET_RE.findall(index)):
            meter("GET", url)
        figures.update(meter.figures("assets"))

        meter.reset()
        page = _open_dash_page(meter, "/command")
        figures.update(meter.figures("command"))
        meter.reset()
        child = page.find(type="command-area-item")[0]
        page.set_prop(child, "n_clicks", 1)
        state_output, render_output = page.callback_for("command-state.data"), page.callback_for("command-render.data")
        _dash_callbacks(meter, page, [state_output], [f"{id_key(child)}.n_clicks"])
        if render_output != state_output:  # the state and its render in two callbacks: the second request
            _dash_callbacks(meter, page, [render_output], ["command-state.data"])
        figures.update(meter.figures("command_drill"))

        meter = browser()  # the wall's
        meter("GET", f"/wall/default?token={token}")
        meter.reset()
        wall = _open_dash_page(meter, "/wall/default")
        figures.update(meter.figures("wall"))
        meter.reset()
        scenes = wall.get("wall-config", "data")["scenes"]
        wall.set_prop("wall-viewport", "data", {"u": 1.0, "w": 3840, "h": 1080})
        wall.set_prop("wall-active", "data", {"scene": scenes[0]["id"], "next": scenes[1 % len(scenes)]["id"]})
        _dash_callbacks(meter, wall, [wall.callback_for("wall-panels.data")], ["wall-viewport.data", "wall-active.data"])
        figures.update(meter.figures("wall_refresh"))

        meter = browser()  # a leader's tablet
        _log_in(meter, BENCH_USER, password)
        meter.reset()
        html = meter("GET", "/briefing")[1].decode("utf-8")
        for url in dict.fromkeys(ASSET_RE.findall(html)):
            meter("GET", url)
        figures.update(meter.figures("briefing"))
        dash_app.server.extensions["cityops"].engine.dispose()
    return figures


def write_json(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2))
