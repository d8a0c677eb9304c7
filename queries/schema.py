"""The shared-data-platform model (SQLAlchemy 2), identical on SQLite and PostgreSQL + PostGIS.

Natural keys are the platform's own identifiers (area codes, dataset codes, incident ids, work-order
numbers…) so that re-importing a file upserts instead of duplicating. Point tables keep ``lon``/``lat``
next to ``geom`` (cheap binning, H3, SQLite) and the codes of every area level that contains the
point, assigned once at ingest, so that a drill step is a GROUP BY and never a spatial join.
Every time is aware UTC (``UTCDateTime``); display converts to Asia/Shanghai.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from queries.db import Geometry, UTCDateTime

CODE = String(15)


class Base(DeclarativeBase):
    pass


class BBoxMixin:
    """Bounding box of ``geom``: lets SQLite pre-filter spatially through a plain B-tree index."""

    minx: Mapped[float | None] = mapped_column(Float)
    miny: Mapped[float | None] = mapped_column(Float)
    maxx: Mapped[float | None] = mapped_column(Float)
    maxy: Mapped[float | None] = mapped_column(Float)


class AreaCodesMixin:
    """Codes of the areas containing a point, one per level, filled at ingest."""

    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    street_code: Mapped[str | None] = mapped_column(String(9), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(CODE, index=True)


class Meta(Base):
    """Key/value facts about the database itself (e.g. which demo city built it)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ChangeLog(Base):
    """One row per committed import or feed batch; the global data version is max(id)."""

    __tablename__ = "change_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    dataset_code: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)  # ingest, demo, feed, repair…
    rows: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict | None] = mapped_column(JSON)


class Area(BBoxMixin, Base):
    """City → district/county → street/township → community → unit grid, one table, one tree."""

    __tablename__ = "areas"
    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    level: Mapped[str] = mapped_column(String(12), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(128))
    parent_code: Mapped[str | None] = mapped_column(CODE, ForeignKey("areas.code", ondelete="RESTRICT"), index=True)
    legacy_code: Mapped[str | None] = mapped_column(String(20))
    geom = mapped_column(Geometry("MULTIPOLYGON"))
    area_km2: Mapped[float | None] = mapped_column(Float)
    label_lon: Mapped[float | None] = mapped_column(Float)
    label_lat: Mapped[float | None] = mapped_column(Float)
    population: Mapped[int | None] = mapped_column(Integer)
    dataset_code: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_areas_level_parent", "level", "parent_code"), Index("ix_areas_bbox", "minx", "maxx", "miny", "maxy"))


class Dataset(Base):
    """政务信息资源目录: one entry per shared dataset."""

    __tablename__ = "datasets"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(128), nullable=False)  # 提供部门
    provider_en: Mapped[str | None] = mapped_column(String(128))
    sharing_type: Mapped[str] = mapped_column(String(16), nullable=False, default="conditional")
    update_cycle: Mapped[str] = mapped_column(String(16), nullable=False, default="daily")
    last_update_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str | None] = mapped_column(Text)


class DatasetTable(Base):
    """Which tables a dataset's rows live in, recorded by ``record_change``: lets the cache
    invalidate exactly the queries reading those tables without scanning them."""

    __tablename__ = "dataset_tables"
    dataset_code: Mapped[str] = mapped_column(String(64), ForeignKey("datasets.code", ondelete="CASCADE"), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)


# The partition of a change that did not say which districts it touched (``record_change``).
ALL_PARTITIONS = "*"


class DatasetPartition(Base):
    """A dataset's version per district (``partition`` = district code), bumped by
    ``record_change`` for the districts of the rows a batch wrote and of those rows before it;
    ``"*"`` for batches that did not say. Lets the cache keep a district's (or a street's …)
    entries when another district's rows change (``queries.cache``, ``cached(area=…)``)."""

    __tablename__ = "dataset_partitions"
    dataset_code: Mapped[str] = mapped_column(String(64), ForeignKey("datasets.code", ondelete="CASCADE"), primary_key=True)
    partition: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Indicator(Base):
    __tablename__ = "indicators"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(128), nullable=False)
    name_en: Mapped[str] = mapped_column(String(128), nullable=False)
    unit: Mapped[str | None] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    good_direction: Mapped[str] = mapped_column(String(8), nullable=False, default="neutral")  # up/down/neutral
    warn_threshold: Mapped[float | None] = mapped_column(Float)
    alarm_threshold: Mapped[float | None] = mapped_column(Float)
    dataset_code: Mapped[str | None] = mapped_column(String(64), ForeignKey("datasets.code"))
    aggregation: Mapped[str] = mapped_column(String(16), nullable=False, default="sum")
    description: Mapped[str | None] = mapped_column(Text)


class IndicatorValue(Base):
    __tablename__ = "indicator_values"
    indicator_code: Mapped[str] = mapped_column(String(64), ForeignKey("indicators.code"), primary_key=True)
    area_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_indicator_values_area_ts", "area_code", "indicator_code", "ts"),)


class Incident(AreaCodesMixin, Base):
    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(24), nullable=False, index=True)
    subtype: Mapped[str | None] = mapped_column(String(32))
    severity: Mapped[int] = mapped_column(SmallInteger, nullable=False, index=True)  # 1 = I … 4 = IV
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    channel: Mapped[str | None] = mapped_column(String(16), index=True)
    title: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(256))  # exact address: personal data
    reporter_name: Mapped[str | None] = mapped_column(String(64))  # personal data
    reporter_phone: Mapped[str | None] = mapped_column(String(32))  # personal data
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(Geometry("POINT"))
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    on_scene_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    casualties: Mapped[int | None] = mapped_column(Integer)
    dataset_code: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (Index("ix_incidents_reported_district", "reported_at", "district_code"),)


class IncidentEvent(Base):
    """The lifecycle of an incident, one row per step (who did what, when)."""

    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(String(64), ForeignKey("incidents.id", ondelete="CASCADE"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)


class WorkOrder(AreaCodesMixin, Base):
    """12345 hotline work order (fields after ../shared/reference/grid_and_12345_notes.md)."""

    __tablename__ = "work_orders"
    order_num: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    source_type: Mapped[str | None] = mapped_column(String(32))  # 受理渠道: phone, web, app, wechat…
    caller_type: Mapped[str | None] = mapped_column(String(32))
    caller_name: Mapped[str | None] = mapped_column(String(64))  # personal data
    caller_sex: Mapped[str | None] = mapped_column(String(8))
    caller_phone: Mapped[str | None] = mapped_column(String(32))  # personal data
    is_secret: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(String(256))
    content: Mapped[str | None] = mapped_column(Text)
    demand_type: Mapped[str | None] = mapped_column(String(16), index=True)
    question_code: Mapped[str | None] = mapped_column(String(32), index=True)
    question_name: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(256))  # personal data
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(Geometry("POINT"))
    urgency: Mapped[str | None] = mapped_column(String(16))  # pilotLight 紧急程度
    organization_code: Mapped[str | None] = mapped_column(String(32))
    organization_name: Mapped[str | None] = mapped_column(String(128))
    dispatch_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    handle_days: Mapped[float | None] = mapped_column(Float)
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    back_num: Mapped[int] = mapped_column(Integer, default=0)
    delay_days: Mapped[float | None] = mapped_column(Float)
    is_supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    complete_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    visit_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    visit_solved: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[str | None] = mapped_column(String(16))  # 满意 / 基本满意 / 不满意
    is_rehandle: Mapped[bool] = mapped_column(Boolean, default=False)
    is_hard: Mapped[bool] = mapped_column(Boolean, default=False)
    incident_id: Mapped[str | None] = mapped_column(String(64))
    dataset_code: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RoadSegment(AreaCodesMixin, BBoxMixin, Base):
    """A directed-or-not piece of road between two nodes; area codes are those of its midpoint."""

    __tablename__ = "road_segments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128))
    road_class: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    lanes: Mapped[int | None] = mapped_column(SmallInteger)
    speed_limit_kmh: Mapped[float | None] = mapped_column(Float)
    length_m: Mapped[float | None] = mapped_column(Float)
    oneway: Mapped[bool] = mapped_column(Boolean, default=False)
    from_node: Mapped[str | None] = mapped_column(String(64))  # topology for travel-time routing
    to_node: Mapped[str | None] = mapped_column(String(64))
    geom = mapped_column(Geometry("LINESTRING"))
    dataset_code: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RoadSpeed(Base):
    __tablename__ = "road_speeds"
    segment_id: Mapped[str] = mapped_column(String(64), ForeignKey("road_segments.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    congestion_index: Mapped[float | None] = mapped_column(Float)  # 0–10

    __table_args__ = (Index("ix_road_speeds_ts", "ts"),)


class Sensor(AreaCodesMixin, Base):
    """Air-quality stations, water level/quality gauges, traffic detectors and IoT devices."""

    __tablename__ = "sensors"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. CNEMC station code 1001A
    kind: Mapped[str] = mapped_column(String(24), nullable=False, index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(Geometry("POINT"))
    road_segment_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="online")
    status_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    installed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    properties: Mapped[dict | None] = mapped_column(JSON)  # thresholds, river name, lanes…
    dataset_code: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SensorStatusEvent(Base):
    """IoT device status changes (online/offline/alarm) with their time."""

    __tablename__ = "sensor_status_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sensor_id: Mapped[str] = mapped_column(String(64), ForeignKey("sensors.id", ondelete="CASCADE"), index=True, nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)


class AirQualityReading(Base):
    """Hourly station record with the national real-time feed's fields (cn_aq_realtime_fields.json)."""

    __tablename__ = "aq_readings"
    station_id: Mapped[str] = mapped_column(String(64), ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    aqi: Mapped[int | None] = mapped_column(SmallInteger)
    primary_pollutant: Mapped[str | None] = mapped_column(String(32))
    pm2_5: Mapped[float | None] = mapped_column(Float)
    pm2_5_24h: Mapped[float | None] = mapped_column(Float)
    pm10: Mapped[float | None] = mapped_column(Float)
    pm10_24h: Mapped[float | None] = mapped_column(Float)
    so2: Mapped[float | None] = mapped_column(Float)
    so2_24h: Mapped[float | None] = mapped_column(Float)
    no2: Mapped[float | None] = mapped_column(Float)
    no2_24h: Mapped[float | None] = mapped_column(Float)
    co: Mapped[float | None] = mapped_column(Float)  # mg/m3
    co_24h: Mapped[float | None] = mapped_column(Float)
    o3: Mapped[float | None] = mapped_column(Float)
    o3_8h: Mapped[float | None] = mapped_column(Float)
    o3_8h_24h: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_aq_readings_ts", "ts"),)


class SensorReading(Base):
    """Scalar readings of any other sensor (water level m, pH, DO, smoke…), long format."""

    __tablename__ = "sensor_readings"
    sensor_id: Mapped[str] = mapped_column(String(64), ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_sensor_readings_ts", "ts"),)


class TrafficReading(Base):
    """Traffic detector interval: flow (veh/h), mean speed (km/h), occupancy (%)."""

    __tablename__ = "traffic_readings"
    detector_id: Mapped[str] = mapped_column(String(64), ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    flow: Mapped[float | None] = mapped_column(Float)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    occupancy: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_traffic_readings_ts", "ts"),)


class Resource(AreaCodesMixin, Base):
    """Emergency resources: fire stations, hospitals, shelters, supply depots…"""

    __tablename__ = "resources"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(Geometry("POINT"))
    capacity: Mapped[float | None] = mapped_column(Float)
    capacity_unit: Mapped[str | None] = mapped_column(String(32))  # beds, persons, vehicles, tonnes…
    address: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(32))  # duty phone (an institution's, not personal)
    properties: Mapped[dict | None] = mapped_column(JSON)
    dataset_code: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# Tables with a geometry column get a GiST index on PostGIS (see the migration).
GEOMETRY_TABLES = ("areas", "incidents", "work_orders", "road_segments", "sensors", "resources")


# --- configuration: specs of walls, briefings and panels ---------------------------------------


class SpecVersion(Base):
    """Every saved version of a spec (a wall's scene set, a briefing…): append-only history.

    ``body`` is the validated spec as JSON; the files shipped in ``specs/`` are the defaults used
    until a version is published here (``queries.specs.store``).
    """

    __tablename__ = "spec_versions"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # wall | briefing
    spec_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[dict] = mapped_column(JSON)
    author: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)


class SpecHead(Base):
    """Which version of a spec is live (``published_version``); drafts are versions above it."""

    __tablename__ = "spec_heads"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    spec_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    published_version: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[str | None] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class WallAlert(Base):
    """A wall's emergency: raised automatically (severity I/II arrived) or by an operator, shown
    until acknowledged or until the incident is resolved (``queries.emergency``)."""

    __tablename__ = "wall_alerts"
    wall_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # auto | manual
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    raised_by: Mapped[str | None] = mapped_column(String(64))
    acked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acked_by: Mapped[str | None] = mapped_column(String(64))


# --- access control: users, tokens, the audit log -----------------------------------------------


class User(Base):
    """A person or a wall device. ``password_hash`` is argon2id (None for a device with tokens only)."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # queries.auth.ROLES
    password_hash: Mapped[str | None] = mapped_column(String(256))
    areas: Mapped[list | None] = mapped_column(JSON)  # area-code prefixes the user is limited to; null = all
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    session_version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)  # bumped to end every session
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)


class ApiToken(Base):
    """A revocable bearer token; only its SHA-256 is stored (the token itself is shown once)."""

    __tablename__ = "api_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64), ForeignKey("users.name", ondelete="CASCADE"), index=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who did what, when, from where. Append-only: triggers refuse UPDATE and DELETE (migration 0005)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    user_name: Mapped[str | None] = mapped_column(String(64), index=True)  # None: not logged in (a failed log-in)
    role: Mapped[str | None] = mapped_column(String(16))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), nullable=False, index=True)  # queries.auth.AUDIT_ACTIONS
    target: Mapped[str | None] = mapped_column(String(256))  # page path, incident id, spec id, user name…
    area_code: Mapped[str | None] = mapped_column(String(15))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")  # ok | denied | failed
    detail: Mapped[dict | None] = mapped_column(JSON)


class LoginThrottle(Base):
    """Failed log-ins counted per (account name, client address) and per client address, with the
    back-off they earned (queries.auth.verify_login). The name is the one typed, whether an account
    has it or not; rows are forgotten a day after their last failure."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of scope, name and address
    scope: Mapped[str] = mapped_column(String(16), nullable=False)  # account | address
    user_name: Mapped[str | None] = mapped_column(String(64), index=True)  # the name typed (scope account)
    address: Mapped[str] = mapped_column(String(64), nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
