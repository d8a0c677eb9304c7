"""A live feed for a loaded city (``cityops simulate``): incidents, their lifecycle, sensor
readings and threshold breaches, written through ``ingest_records`` — the validation and write
path department files take — so the dashboard's live push can be seen and measured.

* New incidents arrive as a Poisson process (``rate`` per minute) where people are: unit grids
  weighted by population (or around the recent incidents' places, or the lowest areas' label
  points for a city without population), with the demo city's category/subtype mix, titles,
  channels and severities (mostly IV, occasionally III, rarely II, very rarely I).
* Open incidents move reported → accepted → dispatched → on_scene → resolved → closed, each
  step after an exponentially distributed delay (``lifecycle_speed`` shortens them for demos),
  with an ``incident_events`` row per step in the same transaction.
* Every minute: air-quality station hours, water levels and traffic detector intervals continue
  from their latest values; now and then a water level rises over its warning level (sensor →
  alarm, ``alarm`` event) and falls back later (→ online).

Works on SQLite and PostgreSQL, on the demo city or any ingested city (it refuses a database with
no areas). With a bus, each committed batch publishes its events; without one, the server's
change-log watcher picks the changes up.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select, update

from queries.schema import (
    AirQualityReading,
    Area,
    Incident,
    IncidentEvent,
    RoadSegment,
    Sensor,
    SensorReading,
    SensorStatusEvent,
    TrafficReading,
)

log = logging.getLogger(__name__)

STEPS = ("reported", "accepted", "dispatched", "on_scene", "resolved", "closed")
STEP_TIME_COLUMN = {"reported": "reported_at", "accepted": "accepted_at", "dispatched": "dispatched_at", "on_scene": "on_scene_at", "resolved": "resolved_at", "closed": "closed_at"}
# Mean minutes from the previous step to this one (resolution comes from the subtype).
STEP_MEAN_MINUTES = {"accepted": 1.5, "dispatched": 4.0, "on_scene": 12.0, "closed": 45.0}
DEFAULT_RESOLVE_HOURS = 2.0
OPEN_INCIDENT_WINDOW = dt.timedelta(days=3)  # older open incidents are left to people, not the feed
OPEN_INCIDENT_LIMIT = 5000  # per step; the oldest first, they have waited longest
READING_LOOKBACK = dt.timedelta(hours=6)
READINGS_EVERY = dt.timedelta(minutes=1)
INCIDENT_COLUMNS = (
    "id", "category", "subtype", "severity", "status", "channel", "title", "description", "address", "reporter_name", "reporter_phone",
    "lon", "lat", "reported_at", "accepted_at", "dispatched_at", "on_scene_at", "resolved_at", "closed_at", "casualties",
)
STEP_NOTES = {"accepted": "受理登记", "dispatched": "派遣{responder}", "on_scene": "{responder}到达现场", "resolved": "处置完毕", "closed": "核查结案"}
FALLBACK_ACTORS = {"12345": "12345热线", "110": "110指挥中心", "119": "119指挥中心", "120": "120急救指挥中心", "iot": "物联感知平台", "grid_officer": "网格员"}


class NoAreas(RuntimeError):
    """The database holds no areas: nothing to simulate in."""


@dataclass
class SimulationReport:
    incidents_new: int = 0
    lifecycle_steps: int = 0
    readings: int = 0
    alarms: int = 0
    alarms_cleared: int = 0
    batches: int = 0
    rejected_batches: int = 0
    data_version_before: int | None = None
    data_version_after: int | None = None
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def render(self) -> str:
        return (
            f"simulated {self.seconds:.0f}s: {self.incidents_new} new incidents, {self.lifecycle_steps} lifecycle steps, "
            f"{self.readings} readings, {self.alarms} alarms ({self.alarms_cleared} cleared), {self.batches} batches; "
            f"data version {self.data_version_before} → {self.data_version_after}"
            + (f"; {self.rejected_batches} batches rejected (first: {self.errors[0]})" if self.rejected_batches else "")
        )


@dataclass
class Places:
    """Where incidents happen: points with weights and the names titles are made from."""

    lon: np.ndarray
    lat: np.ndarray
    weight: np.ndarray
    community: list[str]
    street: list[str]
    district: list[str | None]
    spread_deg: float  # jitter around each point

    def sample(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = rng.choice(len(self.lon), size=count, p=self.weight / self.weight.sum())
        jitter = rng.normal(0, self.spread_deg, size=(2, count))
        return self.lon[index] + jitter[0], self.lat[index] + jitter[1], index


@dataclass
class Gauge:
    id: str
    level: float
    base: float
    warning: float | None
    in_alarm: bool


class CitySimulator:
    """One live feed. ``step(now)`` writes what happened since the previous step; ``run`` loops."""

    def __init__(self, engine: Engine, *, rate: float = 6.0, seed: int | None = None, bus=None, lifecycle_speed: float = 1.0):
        from queries.demo.events import SUBTYPES

        if rate < 0:
            raise ValueError("rate must be ≥ 0 incidents per minute")
        if lifecycle_speed <= 0:
            raise ValueError("lifecycle_speed must be > 0")
        self.engine = engine
        self.rate = rate
        self.bus = bus
        self.lifecycle_speed = lifecycle_speed
        # Independent streams: how many incidents arrive does not change the readings' randomness.
        incidents_seed, lifecycle_seed, readings_seed = np.random.SeedSequence(seed).spawn(3)
        self.rng = np.random.default_rng(incidents_seed)
        self.lifecycle_rng = np.random.default_rng(lifecycle_seed)
        self.readings_rng = np.random.default_rng(readings_seed)
        self.subtypes = SUBTYPES
        self.subtype_by_code = {s.subtype: s for s in SUBTYPES}
        self.report = SimulationReport()
        self._last_step: dt.datetime | None = None
        self._last_readings: dt.datetime | None = None
        self._sequence = 0
        # From the clock, not the seed: two runs with the same seed must not overwrite each other's incidents.
        self._run_tag = np.base_repr(time.time_ns() // 1_000_000 % 36**6, 36).rjust(6, "0")
        with engine.connect() as conn:
            self.places = self._load_places(conn)
            self.road_names = self._load_road_names(conn)
            self.incident_dataset = self._dataset_of(conn, Incident.dataset_code)
            self.gauges = self._load_gauges(conn)
            self.detectors = self._load_latest(conn, TrafficReading, TrafficReading.detector_id, ("flow", "speed_kmh", "occupancy"))
            self.stations = self._load_latest(conn, AirQualityReading, AirQualityReading.station_id, ("pm2_5", "pm2_5_24h", "pm10", "pm10_24h", "so2", "no2", "co", "o3", "o3_8h"))
            self.detector_interval = self._detector_interval(conn)
            from queries.writes import data_version

            self.report.data_version_before = data_version(conn)

    # --- what the city offers ------------------------------------------------------------------

    def _load_places(self, conn: Connection) -> Places:
        areas = pd.DataFrame(conn.execute(select(Area.code, Area.level, Area.name, Area.parent_code, Area.population, Area.label_lon, Area.label_lat, Area.minx, Area.miny, Area.maxx, Area.maxy)).all())
        if areas.empty:
            raise NoAreas("no areas loaded: import boundaries first (cityops ingest boundaries FILE) or start cityops serve once to build the demo city")
        names = dict(zip(areas["code"], areas["name"]))
        parents = dict(zip(areas["code"], areas["parent_code"]))
        levels = dict(zip(areas["code"], areas["level"]))
        areas["lon"] = areas["label_lon"].fillna((areas["minx"] + areas["maxx"]) / 2)
        areas["lat"] = areas["label_lat"].fillna((areas["miny"] + areas["maxy"]) / 2)
        located = areas[areas["lon"].notna() & areas["lat"].notna()]
        if located.empty:
            raise NoAreas("the loaded areas have neither label points nor geometries: nowhere to place incidents")
        for level in ("grid", "community", "street", "district", "city"):
            chosen = located[located["level"] == level]
            if not chosen.empty:
                break
        population = chosen["population"].astype(float).fillna(0).to_numpy()
        weight = population if population.sum() > 0 else np.ones(len(chosen))
        spread = 0.0008 if level == "grid" else 0.003

        def ancestor(code: str, wanted: str) -> str | None:
            while code is not None and levels.get(code) != wanted:
                code = parents.get(code)
            return code

        community = [names.get(ancestor(c, "community"), names[c]) for c in chosen["code"]]
        street = [names.get(ancestor(c, "street"), names[c]) for c in chosen["code"]]
        district = [ancestor(c, "district") for c in chosen["code"]]
        return Places(chosen["lon"].to_numpy(float), chosen["lat"].to_numpy(float), weight.astype(float) + 1e-9, community, street, district, spread)

    def _load_road_names(self, conn: Connection) -> dict[str | None, list[str]]:
        rows = conn.execute(select(RoadSegment.district_code, RoadSegment.name).where(RoadSegment.name.is_not(None)).distinct().limit(20000)).all()
        by_district: dict[str | None, list[str]] = {}
        for district, name in rows:
            by_district.setdefault(district, []).append(name)
            by_district.setdefault(None, []).append(name)
        return by_district

    def _dataset_of(self, conn: Connection, column) -> str | None:
        """The dataset most rows of a table came from (the demo city's own catalogue code)."""
        row = conn.execute(select(column, func.count()).where(column.is_not(None)).group_by(column).order_by(func.count().desc()).limit(1)).first()
        return row[0] if row else None

    def _load_gauges(self, conn: Connection) -> list[Gauge]:
        sensors = conn.execute(select(Sensor.id, Sensor.properties, Sensor.status).where(Sensor.kind == "water_level")).all()
        if not sensors:
            return []
        since = dt.datetime.now(dt.timezone.utc) - READING_LOOKBACK
        latest = {}
        for sensor_id, ts, value in conn.execute(
            select(SensorReading.sensor_id, SensorReading.ts, SensorReading.value).where(SensorReading.metric == "water_level", SensorReading.ts > since).order_by(SensorReading.ts)
        ):
            latest[sensor_id] = value
        gauges = []
        for sensor_id, properties, status in sensors:
            properties = properties or {}
            warning = properties.get("warning_level_m")
            base = properties.get("base_level_m") or (warning - 1.5 if warning is not None else 2.0)
            level = latest.get(sensor_id)
            level = float(level) if level is not None else float(base + self.rng.normal(0, 0.1))
            gauges.append(Gauge(sensor_id, level, float(base), None if warning is None else float(warning), status == "alarm"))
        return gauges

    def _load_latest(self, conn: Connection, table, id_column, columns: tuple[str, ...]) -> dict[str, dict]:
        """The newest reading per sensor within the lookback: the series the feed continues."""
        since = dt.datetime.now(dt.timezone.utc) - READING_LOOKBACK
        latest: dict[str, dict] = {}
        stmt = select(id_column, *(getattr(table, c) for c in columns)).where(table.ts > since).order_by(table.ts)
        for row in conn.execute(stmt):
            values = dict(zip(columns, row[1:]))
            if any(v is not None for v in values.values()):
                latest[row[0]] = values
        return latest

    def _detector_interval(self, conn: Connection) -> int:
        row = conn.execute(select(Sensor.properties).where(Sensor.kind == "traffic_detector").limit(1)).first()
        interval = (row[0] or {}).get("interval_min") if row else None
        return int(interval) if interval else 5

    # --- one step ------------------------------------------------------------------------------

    def step(self, now: dt.datetime | None = None) -> None:
        now = now or dt.datetime.now(dt.timezone.utc)
        elapsed = (now - self._last_step).total_seconds() if self._last_step else 0.0
        self._last_step = now
        count = int(self.rng.poisson(self.rate * elapsed / 60.0)) if elapsed > 0 else 0
        if count:
            self._write(lambda: self._new_incidents(now, count))
        if elapsed > 0:
            self._write(lambda: self._advance_lifecycles(now, elapsed))
        if self._last_readings is None or now - self._last_readings >= READINGS_EVERY:
            self._last_readings = now
            self._write(lambda: self._readings(now))

    def _write(self, action) -> None:
        from queries.ingest import IngestError

        try:
            action()
        except IngestError as exc:
            # A rejected batch is reported, never half-written; the feed goes on.
            self.report.rejected_batches += 1
            message = exc.render().splitlines()[0] if hasattr(exc, "render") else str(exc)
            self.report.errors.append(message)
            log.warning("simulate: batch rejected: %s", message)

    def _ingest(self, kind: str, frame: pd.DataFrame, source: str, after_write=None, **options):
        from queries.ingest import ingest_records

        report = ingest_records(self.engine, kind, frame, source, bus=self.bus, after_write=after_write, **options)
        self.report.batches += 1
        self.report.data_version_after = report.data_version
        return report

    # --- incidents -------------------------------------------------------------------------------

    def _new_incidents(self, now: dt.datetime, count: int) -> None:
        from queries.demo.events import CHANNEL_ACTORS
        from queries.demo.names import person_names, phone_numbers

        rng = self.rng
        shares = np.array([s.share for s in self.subtypes])
        chosen = rng.choice(len(self.subtypes), size=count, p=shares / shares.sum())
        lon, lat, place = self.places.sample(rng, count)
        reporters = person_names(rng, count)
        phones = phone_numbers(rng, count)
        records = []
        lifecycle = []
        for i in range(count):
            spec = self.subtypes[chosen[i]]
            p_one, p_two, p_three = spec.severity
            draw = rng.random()
            severity = 1 if draw < p_one else 2 if draw < p_one + p_two else 3 if draw < p_one + p_two + p_three else 4
            channels, weights = zip(*spec.channels)
            channel = str(rng.choice(channels, p=np.array(weights) / sum(weights)))
            district = self.places.district[place[i]]
            roads = self.road_names.get(district) or self.road_names.get(None) or [self.places.street[place[i]]]
            title = str(rng.choice(spec.titles)).format(
                road=str(rng.choice(roads)), community=self.places.community[place[i]], street=self.places.street[place[i]], depth=int(rng.integers(20, 60)),
            )
            self._sequence += 1
            incident_id = f"SJ{now.astimezone(dt.timezone(dt.timedelta(hours=8))):%Y%m%d}L{self._run_tag}{self._sequence:05d}"
            reported = now - dt.timedelta(seconds=float(rng.uniform(5, 60)))
            records.append({
                "id": incident_id, "category": spec.category, "subtype": spec.subtype, "severity": str(severity), "status": "reported",
                "channel": channel, "title": title, "description": f"{title}，{FALLBACK_ACTORS.get(channel, channel)}接报。",
                "address": f"{self.places.street[place[i]]}{self.places.community[place[i]]}{int(rng.integers(1, 200))}号",
                "reporter_name": reporters[i], "reporter_phone": phones[i],
                "lon": round(float(lon[i]), 6), "lat": round(float(lat[i]), 6), "reported_at": reported,
            })
            lifecycle.append({"incident_id": incident_id, "status": "reported", "at": reported, "actor": CHANNEL_ACTORS.get(channel, FALLBACK_ACTORS.get(channel)), "note": "接报"})
        frame = pd.DataFrame.from_records(records)
        options = {"dataset": self.incident_dataset} if self.incident_dataset else {}
        self._ingest("incidents", frame, "simulate:incidents", after_write=lambda conn, report: conn.execute(insert(IncidentEvent), lifecycle), **options)
        self.report.incidents_new += count

    def _advance_lifecycles(self, now: dt.datetime, elapsed: float) -> None:
        from queries.demo.events import DUTY_OFFICERS

        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*(getattr(Incident, c) for c in INCIDENT_COLUMNS), Incident.dataset_code)
                .where(Incident.status != "closed", Incident.reported_at > now - OPEN_INCIDENT_WINDOW, Incident.reported_at <= now)
                .order_by(Incident.reported_at)
                .limit(OPEN_INCIDENT_LIMIT)
            ).all()
        by_dataset: dict[str | None, list[dict]] = {}
        lifecycle: dict[str | None, list[dict]] = {}
        for row in rows:
            record = {c: getattr(row, c) for c in INCIDENT_COLUMNS}
            if record["status"] not in STEPS[:-1]:
                continue
            following = STEPS[STEPS.index(record["status"]) + 1]
            spec = self.subtype_by_code.get(record["subtype"])
            mean_minutes = (spec.resolve_hours if spec else DEFAULT_RESOLVE_HOURS) * 60 if following == "resolved" else STEP_MEAN_MINUTES[following]
            probability = 1.0 - math.exp(-elapsed * self.lifecycle_speed / (mean_minutes * 60.0))
            if self.lifecycle_rng.random() >= probability:
                continue
            record["status"] = following
            record[STEP_TIME_COLUMN[following]] = now
            record["severity"] = str(record["severity"])
            responder = spec.responder if spec else "处置单位"
            actor = str(self.lifecycle_rng.choice(DUTY_OFFICERS)) if following in ("accepted", "closed") else responder
            by_dataset.setdefault(row.dataset_code, []).append(record)
            lifecycle.setdefault(row.dataset_code, []).append({
                "incident_id": record["id"], "status": following, "at": now, "actor": actor, "note": STEP_NOTES[following].format(responder=responder),
            })
        for dataset, records in by_dataset.items():
            options = {"dataset": dataset} if dataset else {}
            steps = lifecycle[dataset]
            self._ingest("incidents", pd.DataFrame.from_records(records), "simulate:lifecycle", after_write=lambda conn, report, steps=steps: conn.execute(insert(IncidentEvent), steps), **options)
            self.report.lifecycle_steps += len(records)

    # --- readings and breaches --------------------------------------------------------------------

    def _readings(self, now: dt.datetime) -> None:
        self._water_levels(now)
        self._traffic(now)
        self._air_quality(now)

    def _water_levels(self, now: dt.datetime) -> None:
        from queries.indicators import threshold_status

        if not self.gauges:
            return
        rng = self.readings_rng
        ts = now.replace(second=0, microsecond=0)
        # A breach now and then: more often when the feed runs faster.
        breach = None
        candidates = [g for g in self.gauges if g.warning is not None and not g.in_alarm]
        if candidates and rng.random() < min(0.5, 0.02 + self.rate / 120.0):
            breach = candidates[int(rng.integers(len(candidates)))]
        raised, cleared = [], []
        for gauge in self.gauges:
            if gauge is breach:
                gauge.level = gauge.warning + float(rng.uniform(0.05, 0.4))
            elif gauge.in_alarm:
                gauge.level -= float(rng.uniform(0.02, 0.08))  # the flood wave passes
            else:
                gauge.level += 0.1 * (gauge.base - gauge.level) + float(rng.normal(0, 0.01))
                if gauge.warning is not None:
                    gauge.level = min(gauge.level, gauge.warning - 0.01)  # breaches only happen on purpose
            status = threshold_status(gauge.level, "down", gauge.warning, None)
            if status in ("warn", "alarm") and not gauge.in_alarm:
                raised.append((gauge, f"超警戒水位：{gauge.level:.2f} m（警戒 {gauge.warning:.2f} m）"))
            elif status == "ok" and gauge.in_alarm:
                cleared.append(gauge)
        frame = pd.DataFrame({"sensor_id": [g.id for g in self.gauges], "ts": ts, "value": [round(g.level, 3) for g in self.gauges]})

        def mark_status(conn: Connection, report) -> None:
            for gauge, detail in raised:
                conn.execute(update(Sensor).where(Sensor.id == gauge.id).values(status="alarm", status_at=now))
                conn.execute(insert(SensorStatusEvent).values(sensor_id=gauge.id, at=now, status="alarm", detail=detail))
            for gauge in cleared:
                conn.execute(update(Sensor).where(Sensor.id == gauge.id).values(status="online", status_at=now))
                conn.execute(insert(SensorStatusEvent).values(sensor_id=gauge.id, at=now, status="online", detail="退至警戒水位以下，告警解除"))

        report = self._ingest("readings", frame, "simulate:water_level", after_write=mark_status, reading_type="water_level")
        self.report.readings += report.rows_written
        for gauge, _ in raised:
            gauge.in_alarm = True
        for gauge in cleared:
            gauge.in_alarm = False
        self.report.alarms += len(raised)
        self.report.alarms_cleared += len(cleared)
        if raised and self.bus is not None:
            from queries.bus import alarm_events

            with self.engine.connect() as conn:
                self.bus.publish_many(alarm_events(conn, [g.id for g, _ in raised], report.data_version))

    def _traffic(self, now: dt.datetime) -> None:
        if not self.detectors:
            return
        rng = self.readings_rng
        minute = now.minute - now.minute % self.detector_interval
        ts = now.replace(minute=minute, second=0, microsecond=0)
        records = []
        for detector_id, values in self.detectors.items():
            flow = max(0.0, (values.get("flow") or 600.0) * float(rng.normal(1.0, 0.04)))
            speed = float(np.clip((values.get("speed_kmh") or 40.0) + rng.normal(0, 1.5), 3, 120))
            occupancy = float(np.clip((values.get("occupancy") or 10.0) * float(rng.normal(1.0, 0.05)), 0, 100))
            values.update(flow=flow, speed_kmh=speed, occupancy=occupancy)
            records.append({"detector_id": detector_id, "ts": ts, "flow": round(flow, 1), "speed_kmh": round(speed, 1), "occupancy": round(occupancy, 2)})
        report = self._ingest("readings", pd.DataFrame.from_records(records), "simulate:traffic", reading_type="traffic")
        self.report.readings += report.rows_written

    def _air_quality(self, now: dt.datetime) -> None:
        from queries.airquality import aqi, load_standard, primary_label
        from queries.demo.series import HOURLY_AQI_TABLES

        if not self.stations:
            return
        rng = self.readings_rng
        hour = now.replace(minute=0, second=0, microsecond=0)
        records = []
        for station_id, values in self.stations.items():
            drift = float(rng.normal(1.0, 0.01))
            for name, value in list(values.items()):
                if value is not None:
                    values[name] = max(0.0, float(value) * drift)
            records.append({"station_id": station_id, "ts": hour, **{k: (None if v is None else round(v, 3 if k == "co" else 1)) for k, v in values.items()}})
        frame = pd.DataFrame.from_records(records)
        standard = load_standard()
        concentrations = {table: frame[column].astype(float).to_numpy() for table, column in HOURLY_AQI_TABLES.items() if column in frame}
        values, primaries = aqi(standard, concentrations)
        frame["aqi"] = [None if v != v else str(int(v)) for v in values]
        frame["primary_pollutant"] = [primary_label(p) for p in primaries]
        report = self._ingest("readings", frame, "simulate:air_quality", reading_type="aq")
        self.report.readings += report.rows_written

    # --- the loop --------------------------------------------------------------------------------

    def run(self, duration: float | None = None, stop: threading.Event | None = None, tick_seconds: float = 1.0) -> SimulationReport:
        """Step every ``tick_seconds`` until ``duration`` seconds passed or ``stop`` is set."""
        stop = stop or threading.Event()
        started = time.monotonic()
        try:
            while True:
                self.step()
                if duration is not None and time.monotonic() - started >= duration:
                    break
                wait = tick_seconds if duration is None else min(tick_seconds, max(0.0, duration - (time.monotonic() - started)))
                if stop.wait(wait):
                    break
        finally:
            self.report.seconds = time.monotonic() - started
        return self.report
