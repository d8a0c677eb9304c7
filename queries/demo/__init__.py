"""The demo city: a synthetic but realistic 连云港市 with 90 days of operations data.

``build_demo_city`` fills every platform table — areas down to unit grids, roads, sensors,
resources, time series, incidents, 12345 work orders, the resource and indicator catalogues — in
one transaction, deterministically for a seed and a ``now``. ``ensure_demo_city`` builds it only
on an empty database (what ``cityops serve`` does on first start).
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from queries.demo.common import SCALES, Projection, TimeAxis, floor_hour
from queries.schema import (
    AirQualityReading,
    Area,
    Base,
    Incident,
    IncidentEvent,
    Indicator,
    IndicatorValue,
    Meta,
    Resource,
    RoadSegment,
    RoadSpeed,
    Sensor,
    SensorReading,
    SensorStatusEvent,
    TrafficReading,
    WorkOrder,
)
from queries.writes import ensure_dataset, record_change, upsert

GENERATOR_VERSION = "2"  # 2: road segments carry every area code of their midpoint
Progress = Callable[[str, float], None]

__all__ = ["GENERATOR_VERSION", "SCALES", "DemoCityExists", "build_demo_city", "ensure_demo_city"]


class DemoCityExists(RuntimeError):
    """The database already holds areas; building over them needs ``reset=True``."""


def ensure_demo_city(engine: Engine, scale: str = "city", seed: int = 20261121, progress: Progress | None = None) -> bool:
    """Build the demo city when the ``areas`` table is empty; returns whether it built."""
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(Area)).scalar_one():
            return False
    build_demo_city(engine, scale, seed, progress=progress)
    return True


def build_demo_city(
    engine: Engine,
    scale: str = "city",
    seed: int = 20261121,
    *,
    reset: bool = False,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> dict:
    """Generate and load the demo city; returns ``{"tables": {table: rows}, "seconds": s, …}``.

    ``now`` (aware; default the current hour) is floored to the hour: every series ends there.
    Without ``reset`` a database that already has areas is refused (``DemoCityExists``).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown demo scale {scale!r}; choose one of {', '.join(SCALES)}")
    started = time.perf_counter()
    report = progress or (lambda label, fraction: None)
    spec = SCALES[scale]
    now = floor_hour(now or dt.datetime.now(dt.timezone.utc))
    with engine.begin() as conn:
        existing = conn.execute(select(func.count()).select_from(Area)).scalar_one()
        if existing and not reset:
            raise DemoCityExists(f"the database already has {existing} areas; rebuild with reset=True (cityops demo --reset) to replace all platform data")
        if reset:
            report("emptying tables", 0.0)
            _empty_platform_tables(conn)
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Millions of rows go into tables with two B-tree indexes each: keep the pages in memory.
            previous_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql("PRAGMA cache_size = -2000000")
        try:
            counts = _build(conn, spec, int(seed), now, report)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA cache_size = " + str(int(previous_cache)))
    seconds = round(time.perf_counter() - started, 2)
    report("done", 1.0)
    return {"scale": scale, "seed": int(seed), "now": now.isoformat(), "tables": counts, "rows": int(sum(counts.values())), "seconds": seconds}


# Not platform data: who may log in, what they did, and the published configuration survive a reset.
KEPT_ON_RESET = frozenset({"users", "api_tokens", "audit_log", "spec_versions", "spec_heads"})


def _empty_platform_tables(conn: Connection) -> None:
    tables = [table for table in reversed(Base.metadata.sorted_tables) if table.name not in KEPT_ON_RESET]
    if conn.dialect.name == "postgresql":
        # One TRUNCATE (fast on millions of rows); names come from our own metadata, quoted by the dialect.
        quote = conn.dialect.identifier_preparer.quote
        conn.execute(text("TRUNCATE " + ", ".join(quote(t.name) for t in tables) + " RESTART IDENTITY CASCADE"))
        return
    for table in tables:
        if table is Area.__table__:
            # ON DELETE RESTRICT is enforced row by row in SQLite: remove the tree leaves first.
            leaves = delete(Area).where(Area.code.not_in(select(Area.parent_code).where(Area.parent_code.is_not(None))))
            while conn.execute(leaves).rowcount:
                pass
        conn.execute(delete(table))


def _nullable(values: pd.Series) -> list:
    """A pandas column as a list with None (not NaN) for missing values."""
    return [None if pd.isna(v) else v for v in values.tolist()]


def _build(conn: Connection, spec, seed: int, now: dt.datetime, report: Progress) -> dict[str, int]:
    # Imported here: numpy/shapely-heavy modules stay out of the import path of ``queries.demo``.
    import shapely

    from queries.demo import catalogue, events, series
    from queries.demo.assets import area_codes, build_resources, build_sensors
    from queries.demo.geography import build_geography
    from queries.demo.loading import BulkWriter
    from queries.demo.roads import build_road_network
    from queries.demo.weather import build_weather

    writer = BulkWriter(conn)
    projection = Projection.create()
    axis = TimeAxis.ending(now, spec.days)
    now64 = axis.now
    counts: dict[str, int] = {}
    newest: dict[str, np.datetime64] = {}

    def stamp(values) -> list:
        return writer.times(np.asarray(values, dtype="datetime64[s]"))

    for ds in catalogue.DATASETS:
        ensure_dataset(conn, ds.code, name=ds.name, name_en=ds.name_en, provider=ds.provider, provider_en=ds.provider_en,
                       sharing_type=ds.sharing_type, update_cycle=ds.update_cycle, description=ds.description)

    # --- areas ---------------------------------------------------------------------------------
    report("areas: land, districts, streets, communities, grids", 0.01)
    geography = build_geography(spec, seed, projection, lambda f: report("areas: land, districts, streets, communities, grids", 0.01 + 0.2 * f))
    areas = geography.areas
    area_updated = now64 - np.timedelta64(41, "D")
    legacy = [code[:12] + code[-2:] if level == "grid" and code[-3] == "0" else None for code, level in zip(areas["code"], areas["level"])]
    counts["areas"] = writer.load(Area.__table__, {
        "code": areas["code"].tolist(), "level": areas["level"].tolist(), "name": areas["name"].tolist(), "name_en": _nullable(areas["name_en"]),
        "parent_code": _nullable(areas["parent_code"]), "legacy_code": legacy, "geom": writer.geoms(areas.geometry.values),
        "area_km2": writer.floats(areas["area_km2"]), "label_lon": writer.floats(areas["label_lon"]), "label_lat": writer.floats(areas["label_lat"]),
        "population": [int(p) for p in areas["population"]], "dataset_code": ["LYG-ZRZY-0001"] * len(areas), "updated_at": stamp(np.full(len(areas), area_updated)),
        "minx": writer.floats(areas["minx"]), "miny": writer.floats(areas["miny"]), "maxx": writer.floats(areas["maxx"]), "maxy": writer.floats(areas["maxy"]),
    })
    newest["LYG-ZRZY-0001"] = area_updated

    # --- roads ---------------------------------------------------------------------------------
    report("road network", 0.22)
    roads = build_road_network(geography, spec, seed, projection)
    road_bounds = shapely.bounds(roads.geoms)
    road_middles = shapely.line_interpolate_point(roads.geoms, 0.5, normalized=True)
    road_codes = area_codes(geography, shapely.get_x(road_middles), shapely.get_y(road_middles))
    # A causeway or sea-wall road whose midpoint lies off the land keeps its nearest district.
    road_codes["district_code"] = [code if code is not None else nearest for code, nearest in zip(road_codes["district_code"], roads.district_codes)]
    roads_updated = now64 - np.timedelta64(12, "D")
    counts["road_segments"] = writer.load(RoadSegment.__table__, {
        "id": roads.ids, "name": roads.names, "road_class": roads.classes, "lanes": roads.lanes.tolist(), "speed_limit_kmh": roads.speed_limits.tolist(),
        "length_m": roads.lengths_m.tolist(), "oneway": [False] * len(roads), "from_node": roads.from_nodes, "to_node": roads.to_nodes,
        **{c: road_codes[c].tolist() for c in ("district_code", "street_code", "community_code", "grid_code")},
        "geom": writer.geoms(roads.geoms), "dataset_code": ["LYG-JTYS-0001"] * len(roads),
        "updated_at": stamp(np.full(len(roads), roads_updated)),
        "minx": road_bounds[:, 0].tolist(), "miny": road_bounds[:, 1].tolist(), "maxx": road_bounds[:, 2].tolist(), "maxy": road_bounds[:, 3].tolist(),
    })
    newest["LYG-JTYS-0001"] = roads_updated

    # --- weather, sensors, resources -------------------------------------------------------------
    report("sensors and resources", 0.27)
    weather = build_weather(axis, seed)
    sensors = build_sensors(geography, roads, spec, seed, projection, axis, weather)
    points = sensors.points
    sensor_codes = area_codes(geography, points.lon, points.lat)
    dataset_of_kind = {"air_quality": "LYG-STHJ-0001", "water_quality": "LYG-STHJ-0002", "water_level": "LYG-SL-0001", "traffic_detector": "LYG-JJ-0002"}
    sensor_dataset = [dataset_of_kind.get(k, "LYG-SJ-0001") for k in sensors.kinds]
    counts["sensors"] = writer.load(Sensor.__table__, {
        **{k: points.columns[k] for k in ("id", "kind", "name", "road_segment_id")},
        "properties": writer.json(points.columns["properties"]), "installed_at": stamp(points.columns["installed_at"]),
        "lon": points.lon.tolist(), "lat": points.lat.tolist(), "geom": writer.geoms(shapely.points(points.lon, points.lat)),
        "status": sensors.status.tolist(), "status_at": stamp(sensors.status_at), "dataset_code": sensor_dataset, "updated_at": stamp(np.full(len(points), now64)),
        **{c: sensor_codes[c].tolist() for c in ("district_code", "street_code", "community_code", "grid_code")},
    })
    status_events = sensors.events
    counts["sensor_status_events"] = writer.load(SensorStatusEvent.__table__, {
        "sensor_id": [sensors.ids[i] for i in status_events["sensor_index"]], "at": stamp(status_events["at"]),
        "status": status_events["status"], "detail": status_events["detail"],
    })
    newest["LYG-SJ-0001"] = now64

    resources = build_resources(geography, seed)
    resource_codes = area_codes(geography, resources.lon, resources.lat)
    counts["resources"] = writer.load(Resource.__table__, {
        **{k: resources.columns[k] for k in ("id", "kind", "name", "capacity_unit", "address", "phone")},
        "capacity": resources.columns["capacity"], "properties": writer.json(resources.columns["properties"]),
        "lon": resources.lon.tolist(), "lat": resources.lat.tolist(), "geom": writer.geoms(shapely.points(resources.lon, resources.lat)),
        "dataset_code": ["LYG-YJ-0002"] * len(resources), "updated_at": stamp(np.full(len(resources), now64 - np.timedelta64(9, "D"))),
        **{c: resource_codes[c].tolist() for c in ("district_code", "street_code", "community_code", "grid_code")},
    })
    newest["LYG-YJ-0002"] = now64 - np.timedelta64(9, "D")

    # --- time series -------------------------------------------------------------------------
    hour_wire = np.array(stamp(axis.hours), dtype=object)
    report("road speeds", 0.32)
    speeds = series.road_speeds(roads, axis, weather, spec.speed_days, seed)
    segment_count, hour_count = speeds.speed.shape
    counts["road_speeds"] = writer.load(RoadSpeed.__table__, {
        "segment_id": np.repeat(np.array(roads.ids, dtype=object), hour_count).tolist(),
        "ts": np.tile(hour_wire[speeds.hour_index], segment_count).tolist(),
        "speed_kmh": speeds.speed.ravel().tolist(), "congestion_index": speeds.congestion.ravel().tolist(),
    })
    newest["LYG-JJ-0001"] = now64

    report("traffic detectors", 0.55)
    detector_mask = sensors.kinds == "traffic_detector"
    detector_ids = np.array(sensors.ids, dtype=object)[detector_mask]
    detector_segments = [points.columns["road_segment_id"][i] for i in np.flatnonzero(detector_mask)]
    detectors = series.detector_readings(roads, detector_segments, axis, weather, spec.detector_interval_min, seed)
    step_wire = np.array(stamp(detectors.times), dtype=object)
    counts["traffic_readings"] = writer.load(TrafficReading.__table__, {
        "detector_id": np.repeat(detector_ids, len(detectors.times)).tolist(), "ts": np.tile(step_wire, len(detector_ids)).tolist(),
        "flow": detectors.flow.ravel().tolist(), "speed_kmh": detectors.speed.ravel().tolist(), "occupancy": detectors.occupancy.ravel().tolist(),
    })
    newest["LYG-JJ-0002"] = now64

    report("air quality", 0.65)
    air_mask = sensors.kinds == "air_quality"
    air_ids = np.array(sensors.ids, dtype=object)[air_mask]
    air = series.air_quality(points.lon[air_mask], points.lat[air_mask], np.array([p["urban"] for p, m in zip(sensors.properties, air_mask) if m]), weather, seed)
    hours = len(axis)
    aq_columns = {"station_id": np.repeat(air_ids, hours).tolist(), "ts": np.tile(hour_wire, len(air_ids)).tolist(),
                  "aqi": [None if np.isnan(v) else int(v) for v in air.aqi.ravel()], "primary_pollutant": air.primary.ravel().tolist()}
    for name, matrix in air.columns.items():
        aq_columns[name] = matrix.ravel().tolist()
    counts["aq_readings"] = writer.load(AirQualityReading.__table__, aq_columns)
    newest["LYG-STHJ-0001"] = now64

    report("water levels and quality", 0.7)
    level_mask = sensors.kinds == "water_level"
    level_props = [p for p, m in zip(sensors.properties, level_mask) if m]
    levels = series.water_levels(level_props, axis, weather, seed)
    quality_mask = sensors.kinds == "water_quality"
    quality = series.water_quality(int(quality_mask.sum()), axis, weather, seed)
    level_ids = np.array(sensors.ids, dtype=object)[level_mask]
    quality_ids = np.array(sensors.ids, dtype=object)[quality_mask]
    counts["sensor_readings"] = writer.load(SensorReading.__table__, {
        "sensor_id": level_ids[levels.sensor_index].tolist() + quality_ids[quality.sensor_index].tolist(),
        "metric": levels.metric + quality.metric,
        "ts": hour_wire[levels.hour_index].tolist() + hour_wire[quality.hour_index].tolist(),
        "value": levels.value.tolist() + quality.value.tolist(),
    })
    newest["LYG-SL-0001"] = now64
    newest["LYG-STHJ-0002"] = quality.last_time

    # --- incidents and work orders -----------------------------------------------------------------
    report("incidents", 0.76)
    incidents, incident_events = events.build_incidents(geography, roads, spec, seed, axis, weather)
    time_columns = {c for c, v in incidents.columns.items() if isinstance(v, np.ndarray) and v.dtype.kind == "M"}
    counts["incidents"] = writer.load(Incident.__table__, {
        **{c: (stamp(v) if c in time_columns else v) for c, v in incidents.columns.items()},
        "lon": incidents.lon.tolist(), "lat": incidents.lat.tolist(), "geom": writer.geoms(shapely.points(incidents.lon, incidents.lat)),
        "dataset_code": ["LYG-YJ-0001"] * len(incidents),
    })
    counts["incident_events"] = writer.load(IncidentEvent.__table__, {**incident_events.columns, "at": stamp(incident_events.columns["at"])})
    newest["LYG-YJ-0001"] = np.max(incidents.columns["updated_at"])

    report("12345 work orders", 0.84)
    orders = events.build_work_orders(geography, roads, spec, seed, axis, weather, incidents)
    time_columns = {c for c, v in orders.columns.items() if isinstance(v, np.ndarray) and v.dtype.kind == "M"}
    counts["work_orders"] = writer.load(WorkOrder.__table__, {
        **{c: (stamp(v) if c in time_columns else v) for c, v in orders.columns.items()},
        "lon": orders.lon.tolist(), "lat": orders.lat.tolist(), "geom": writer.geoms(shapely.points(orders.lon, orders.lat)),
        "dataset_code": ["LYG-12345-0001"] * len(orders),
    })
    newest["LYG-12345-0001"] = np.max(orders.columns["updated_at"])

    # --- indicators ------------------------------------------------------------------------------
    report("indicators", 0.9)
    conn.execute(insert(Indicator), [
        dict(code=i.code, name_zh=i.name_zh, name_en=i.name_en, unit=i.unit, domain=i.domain, good_direction=i.good_direction,
             warn_threshold=i.warn, alarm_threshold=i.alarm, dataset_code=i.dataset_code, aggregation=i.aggregation, description=i.description)
        for i in catalogue.INDICATORS
    ])
    counts["indicators"] = len(catalogue.INDICATORS)
    days = catalogue.day_starts(axis)
    values = catalogue.IndicatorValues()
    districts = geography.by_level("district")
    populations = dict(zip(areas["code"], areas["population"]))
    city_code = areas["code"].iat[0]
    catalogue.synthetic_daily(values, axis, days, districts["code"].tolist(), populations, city_code, seed)
    sensor_district = np.array(sensor_codes["district_code"].tolist(), dtype=object)
    iot_kinds = np.isin(sensors.kinds, ["smoke", "manhole", "hydrant", "gas"])
    iot_index = np.full(len(sensors.kinds), -1)
    iot_index[iot_kinds] = np.arange(int(iot_kinds.sum()))
    iot_events = pd.DataFrame({"sensor_index": status_events["sensor_index"], "at": status_events["at"], "status": status_events["status"]})
    iot_events = iot_events[iot_kinds[iot_events["sensor_index"].to_numpy()]] if len(iot_events) else iot_events
    iot_events = iot_events.assign(sensor_index=iot_index[iot_events["sensor_index"].to_numpy()])
    shelter_mask = np.array(resources.columns["kind"]) == "shelter"
    catalogue.derived_indicators(
        values, axis=axis, days=days, city_code=city_code, incidents=incidents, work_orders=orders, road_speeds=speeds, roads=roads,
        air=air, air_districts=sensor_district[air_mask], levels=levels, level_props=level_props, level_districts=sensor_district[level_mask],
        rain_mm=weather.rain_mm, water_quality=quality, iot_events=iot_events, iot_districts=sensor_district[iot_kinds],
        detectors=detectors, detector_districts=sensor_district[detector_mask],
        shelters=pd.DataFrame({"district": np.array(resource_codes["district_code"].tolist(), dtype=object)[shelter_mask],
                               "capacity": np.array(resources.columns["capacity"])[shelter_mask]}),
    )
    frame = values.frame()
    frame = frame[frame["ts"] <= now64]
    counts["indicator_values"] = writer.load(IndicatorValue.__table__, {
        "indicator_code": frame["indicator_code"].tolist(), "area_code": frame["area_code"].tolist(),
        "ts": stamp(frame["ts"].to_numpy()), "value": frame["value"].tolist(),
    })
    newest["LYG-SJ-0002"] = frame["ts"].max().to_datetime64()
    newest["LYG-ZWFW-0001"] = days[-1 - catalogue.STALE_DATASETS["LYG-ZWFW-0001"]]
    newest["LYG-GD-0001"] = days[-1]
    newest["LYG-TJ-0001"] = now64 - np.timedelta64(20, "D")

    # --- catalogue, change log, meta -----------------------------------------------------------------
    report("catalogue", 0.97)
    rows_by_dataset = {
        "LYG-ZRZY-0001": counts["areas"], "LYG-JTYS-0001": counts["road_segments"], "LYG-JJ-0001": counts["road_speeds"],
        "LYG-JJ-0002": counts["traffic_readings"], "LYG-STHJ-0001": counts["aq_readings"], "LYG-SL-0001": len(levels.value),
        "LYG-STHJ-0002": len(quality.value), "LYG-YJ-0001": counts["incidents"], "LYG-YJ-0002": counts["resources"],
        "LYG-12345-0001": counts["work_orders"], "LYG-SJ-0001": int(iot_kinds.sum()),
        "LYG-SJ-0002": counts["indicator_values"],
    }
    by_indicator_dataset = {i.code: i.dataset_code for i in catalogue.INDICATORS}
    for code, rows in frame.groupby(frame["indicator_code"].map(by_indicator_dataset)).size().items():
        rows_by_dataset.setdefault(code, int(rows))
    for ds in catalogue.DATASETS:
        data_time = pd.Timestamp(newest[ds.code]).to_pydatetime().replace(tzinfo=dt.timezone.utc)
        rows = int(rows_by_dataset.get(ds.code, 0))
        record_change(conn, ds.code, "demo", rows, tables=catalogue.DATASET_TABLES[ds.code], row_count=rows,
                      detail={"scale": spec.name, "seed": seed}, at=now, data_time=data_time)
    counts["datasets"] = len(catalogue.DATASETS)
    counts["change_log"] = len(catalogue.DATASETS)
    built_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    meta = {"demo_scale": spec.name, "demo_seed": str(seed), "demo_now": now.isoformat(), "demo_built_at": built_at, "demo_generator_version": GENERATOR_VERSION}
    upsert(conn, Meta.__table__, [{"key": k, "value": v} for k, v in meta.items()], key=["key"])
    return counts
