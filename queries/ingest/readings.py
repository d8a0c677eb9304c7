"""Readings: air quality (national real-time feed fields, CNEMC upper-case variant, Chinese
headers), traffic detectors and scalar sensors (water level/quality, IoT), long or wide format."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from queries.ingest import geo
from queries.ingest.common import (
    Context,
    DatasetDefaults,
    assign_areas,
    changed_districts,
    check_points,
    close_dataset,
    dedupe_keys,
    newest_time,
    open_dataset,
    point_wkb,
    to_records,
    write,
)
from queries.ingest.fields import (
    AQ_FIELDS,
    SENSOR_FIELDS,
    SENSOR_METRICS,
    TRAFFIC_FIELDS,
    match_columns,
    normalise_name,
)
from queries.ingest.parse import as_text, parse_numbers
from queries.ingest.report import IngestError
from queries.schema import AirQualityReading, Sensor, SensorReading, TrafficReading
from queries.writes import upsert

READING_TYPES = ("aq", "traffic", "water_level", "water_quality", "sensor")
READING_DATASETS = {
    "aq": DatasetDefaults("environment.aq_readings", "空气质量实时监测", "Air-quality station readings", "生态环境局", "Ecology and Environment Bureau", "hourly"),
    "traffic": DatasetDefaults("traffic.detector_readings", "交通检测器数据", "Traffic detector readings", "公安局交通警察支队", "Traffic Police", "realtime"),
    "water_level": DatasetDefaults("water.level_readings", "水位监测数据", "Water-level readings", "水利局", "Water Resources Bureau", "realtime"),
    "water_quality": DatasetDefaults("environment.water_quality", "水质自动监测数据", "Water-quality readings", "生态环境局", "Ecology and Environment Bureau", "hourly"),
    "sensor": DatasetDefaults("iot.sensor_readings", "物联感知数据", "IoT sensor readings", "大数据管理局", "Big Data Bureau", "realtime"),
}
SENSOR_KIND_OF_TYPE = {"aq": "air_quality", "traffic": "traffic_detector", "water_level": "water_level", "water_quality": "water_quality"}
AQ_VALUE_FIELDS = ("aqi", "pm2_5", "pm2_5_24h", "pm10", "pm10_24h", "so2", "so2_24h", "no2", "no2_24h", "co", "co_24h", "o3", "o3_8h", "o3_8h_24h", "primary_pollutant")


def detect_type(columns) -> str:
    """aq when pollutant columns are there, traffic when flow/occupancy are, else a scalar sensor."""
    aq = match_columns(AQ_FIELDS, columns, None, "")
    if any(name in aq for name in ("aqi", "pm2_5", "pm10", "so2", "no2", "co", "o3")):
        return "aq"
    traffic = match_columns(TRAFFIC_FIELDS, columns, None, "")
    if "flow" in traffic or "occupancy" in traffic:
        return "traffic"
    wide = _wide_metric_columns(columns)
    if set(wide) == {"water_level"}:
        return "water_level"
    if wide and set(wide) <= {"ph", "do", "cod", "nh3n", "tp", "tn", "turbidity", "temperature", "conductivity"}:
        return "water_quality"
    return "sensor"


def ingest_readings(conn: Connection, ctx: Context) -> None:
    reading_type = ctx.options.reading_type or detect_type(ctx.source.frame.columns)
    if reading_type not in READING_TYPES:
        raise IngestError(f"--type {reading_type!r}: use one of {', '.join(READING_TYPES)}")
    if not ctx.options.reading_type:
        ctx.report.notes.append(f"reading type detected as {reading_type} (set it with --type)")
    ctx.report.kind = f"readings ({reading_type})"
    defaults = READING_DATASETS[reading_type]
    if reading_type == "aq":
        _ingest_table(conn, ctx, AQ_FIELDS, "station_id", AirQualityReading.__table__, "air_quality", defaults)
    elif reading_type == "traffic":
        _ingest_table(conn, ctx, TRAFFIC_FIELDS, "detector_id", TrafficReading.__table__, "traffic_detector", defaults)
    else:
        _ingest_sensor(conn, ctx, reading_type, defaults)


def _ingest_table(conn, ctx: Context, fields, id_field: str, table, sensor_kind: str, defaults: DatasetDefaults) -> None:
    ctx.match(fields)
    parsed = ctx.parse(fields)
    ctx.require(parsed, (id_field, "ts"))
    ctx.not_in_future(parsed, "ts")
    values = [c for c in parsed.columns if c in {col.name for col in table.columns} and c not in (id_field, "ts")]
    if not values:
        raise IngestError(f"{ctx.source.name}: no reading columns found; expected some of {', '.join(c.name for c in table.columns if c.name not in ('ts', id_field))}. Columns: {', '.join(map(str, ctx.source.frame.columns))}")
    name_field = "station_name" if "station_name" in parsed else "sensor_name"
    created = _ensure_sensors(conn, ctx, parsed[id_field], sensor_kind, parsed.get(name_field))
    frame = parsed[[id_field, "ts", *values]]
    if "aqi" in frame:
        frame["aqi"] = frame["aqi"].astype("Int64")
    frame = dedupe_keys(ctx, frame, [id_field, "ts"], "sensor and time")
    code = open_dataset(conn, ctx.options, defaults, ctx.report)
    created(code)
    write(conn, table, frame, [id_field, "ts"], ctx.report)
    close_dataset(conn, code, table, ctx.report, newest_time(frame, ("ts",)), by_dataset=False)


def _wide_metric_columns(columns) -> dict[str, str]:
    normalised = {normalise_name(c): str(c) for c in columns}
    found = {}
    for metric, (aliases, _, _) in SENSOR_METRICS.items():
        for alias in aliases:
            column = normalised.get(normalise_name(alias))
            if column:
                found[metric] = column
                break
    return found


def _ingest_sensor(conn: Connection, ctx: Context, reading_type: str, defaults: DatasetDefaults) -> None:
    matched = ctx.match(SENSOR_FIELDS)
    parsed = ctx.parse(SENSOR_FIELDS)
    ctx.require(parsed, ("sensor_id", "ts"))
    ctx.not_in_future(parsed, "ts")
    source = ctx.source
    if "value" in matched:
        metric = parsed["metric"] if "metric" in parsed else pd.Series(reading_type if reading_type != "sensor" else None, index=parsed.index, dtype=object)
        if metric.isna().all() and reading_type in ("sensor", "water_quality"):
            raise IngestError(f"{source.name}: a value column but no metric column; map one with --map metric=COLUMN")
        metric = metric.map(_metric_code)
        long = pd.DataFrame({"sensor_id": parsed["sensor_id"], "metric": metric, "ts": parsed["ts"], "value": parsed["value"], "position": np.arange(len(parsed))})
        ctx.require(pd.DataFrame({"value": parsed["value"]}), ("value",))
    else:
        wide = {m: c for m, c in _wide_metric_columns(source.frame.columns).items() if c not in matched.values()}
        if not wide:
            raise IngestError(
                f"{source.name}: no readings: give metric + value columns (--map metric=… --map value=…) or one column per metric "
                f"({', '.join(SENSOR_METRICS)}). Columns: {', '.join(map(str, source.frame.columns))}"
            )
        parts = []
        for metric, column in wide.items():
            ctx.matched[metric] = column
            ctx.report.columns[metric] = column
            ctx.raw[metric] = as_text(source.frame[column])
            values, bad = parse_numbers(source.frame[column])
            ctx.flag(bad, metric, lambda p, metric=metric: f"{ctx.raw_value(metric, p)} is not a number")
            parts.append(pd.DataFrame({"sensor_id": parsed["sensor_id"], "metric": metric, "ts": parsed["ts"], "value": values.where(~bad), "position": np.arange(len(parsed))}))
        long = pd.concat(parts, ignore_index=True)
        long = long[long["value"].notna()]
    _check_metric_ranges(ctx, long)
    created = _ensure_sensors(conn, ctx, parsed["sensor_id"], SENSOR_KIND_OF_TYPE.get(reading_type), parsed.get("sensor_name"), parsed.get("sensor_kind"))
    frame = long.drop(columns=["position"]).dropna(subset=["metric"])
    frame = dedupe_keys(ctx, frame, ["sensor_id", "metric", "ts"], "sensor, metric and time")
    code = open_dataset(conn, ctx.options, defaults, ctx.report)
    created(code)
    write(conn, SensorReading.__table__, frame, ["sensor_id", "metric", "ts"], ctx.report)
    close_dataset(conn, code, SensorReading.__table__, ctx.report, newest_time(frame, ("ts",)), by_dataset=False)


def _metric_code(value):
    if value is None or pd.isna(value):
        return None
    key = normalise_name(value)
    for metric, (aliases, _, _) in SENSOR_METRICS.items():
        if key in (normalise_name(metric), *(normalise_name(a) for a in aliases)):
            return metric
    return str(value).strip().lower()[:32]


def _check_metric_ranges(ctx: Context, long: pd.DataFrame) -> None:
    for metric, (_, low, high) in SENSOR_METRICS.items():
        rows = long[(long["metric"] == metric) & long["value"].notna()]
        bad = rows[(rows["value"] < low) | (rows["value"] > high)]
        if len(bad):
            mask = np.zeros(len(ctx.source), dtype=bool)
            mask[bad["position"].to_numpy()] = True
            by_position = dict(zip(bad["position"], bad["value"]))
            target = metric if metric in ctx.matched else "value"
            ctx.flag(mask, target, lambda p, metric=metric, low=low, high=high: f"{metric} {by_position[p]:g} is out of range ({low:g} to {high:g})")


def _ensure_sensors(conn: Connection, ctx: Context, ids: pd.Series, kind: str | None, names: pd.Series | None, kinds: pd.Series | None = None):
    """Unknown sensor ids: create them when the row has lon/lat (and a kind), else reject the row.

    Returns a callable that writes the new sensors once the dataset code is known, so that
    nothing is written before every row has been validated.
    """
    wanted = [v for v in ids.dropna().unique()]
    known: set[str] = set()
    for start in range(0, len(wanted), 5000):
        part = wanted[start : start + 5000]
        known.update(conn.execute(select(Sensor.id).where(Sensor.id.in_(part))).scalars())
    unknown = ids.notna() & ~ids.isin(known)
    if not unknown.any():
        ctx.fail_if_problems()
        return lambda dataset_code: None
    has_coordinates = "lon" in ctx.matched or "lat" in ctx.matched or "point" in ctx.matched
    if not has_coordinates:
        ctx.flag(unknown, "sensor_id" if "sensor_id" in ctx.matched else next(iter(ctx.matched)), lambda p: f"unknown sensor/station {ids.iloc[p]!r}: not loaded, and the file has no lon/lat to create it")
        ctx.fail_if_problems()
    lon = np.full(len(ids), np.nan)
    lat = np.full(len(ids), np.nan)
    for name, target in (("lon", lon), ("lat", lat)):
        if name in ctx.matched:
            values, bad = parse_numbers(ctx.source.frame[ctx.matched[name]])
            ctx.raw[name] = as_text(ctx.source.frame[ctx.matched[name]])
            ctx.flag(bad & unknown, name, lambda p, name=name: f"{ctx.raw_value(name, p)} is not a number")
            target[:] = values.to_numpy(dtype=float)
    crs, note = geo.resolve_crs(ctx.options.crs, ctx.source.crs)
    lon, lat = geo.convert_xy(lon, lat, crs)
    missing = unknown.to_numpy() & ~(np.isfinite(lon) & np.isfinite(lat))
    ctx.flag(missing, "lon", lambda p: f"unknown sensor/station {ids.iloc[p]!r} and no lon/lat on this row to create it")
    check_points(ctx, conn, np.where(unknown, lon, np.nan), np.where(unknown, lat, np.nan))
    sensor_kind = pd.Series(kind, index=ids.index, dtype=object) if kinds is None else kinds.astype(object).fillna(kind)
    no_kind = unknown & sensor_kind.isna()
    ctx.flag(no_kind, "sensor_kind", lambda p: f"unknown sensor {ids.iloc[p]!r}: give its kind (--map sensor_kind=COLUMN or --type water_level/…) to create it")
    ctx.fail_if_problems()
    new = pd.DataFrame({"id": ids, "kind": sensor_kind, "lon": lon, "lat": lat})
    if names is not None:
        new["name"] = names.astype(object)
    new = new[unknown.to_numpy()].drop_duplicates("id", keep="first")
    codes = assign_areas(conn, new["lon"].to_numpy(dtype=float), new["lat"].to_numpy(dtype=float))
    for column in codes.columns:
        new[column] = codes[column].to_numpy()
    new["geom"] = point_wkb(new["lon"].to_numpy(dtype=float), new["lat"].to_numpy(dtype=float))
    new["status"] = "online"
    if note:
        ctx.report.notes.append(note)
    ctx.report.extra["sensors created"] = len(new)

    def create(dataset_code: str) -> None:
        frame = new.assign(dataset_code=dataset_code, updated_at=ctx.now)
        # Existing sensors are never touched: only ids unknown at validation time are inserted.
        ctx.report.note_partitions(changed_districts(conn, Sensor.__table__, frame, ["id"]))
        upsert(conn, Sensor.__table__, to_records(frame), ["id"], update_columns=[])
        ctx.report.tables.add(Sensor.__table__.name)

    return create
