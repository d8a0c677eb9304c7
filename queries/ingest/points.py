"""Point records: incidents, 12345 work orders and emergency resources."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from queries import vocab
from queries.ingest.common import (
    Context,
    DatasetDefaults,
    assign_areas,
    locate_points,
    point_wkb,
    write_dataset,
)
from queries.ingest.fields import INCIDENT_FIELDS, RESOURCE_FIELDS, WORK_ORDER_FIELDS
from queries.ingest.parse import parse_terms
from queries.ingest.report import IngestError
from queries.schema import Incident, Resource, WorkOrder

INCIDENT_DATASET = DatasetDefaults("emergency.incidents", "突发事件", "Emergency incidents", "应急管理局", "Emergency Management Bureau", "realtime")
WORK_ORDER_DATASET = DatasetDefaults("hotline.work_orders", "12345热线工单", "12345 hotline work orders", "12345政务服务便民热线", "12345 Government Service Hotline", "realtime")
RESOURCE_DATASET = DatasetDefaults("emergency.resources", "应急资源", "Emergency resources", "应急管理局", "Emergency Management Bureau", "monthly")

INCIDENT_TIMES = ("reported_at", "accepted_at", "dispatched_at", "on_scene_at", "resolved_at", "closed_at")
# Status implied by the latest lifecycle time present, checked from the end of the lifecycle.
STATUS_FROM_TIME = (("closed_at", "closed"), ("resolved_at", "resolved"), ("on_scene_at", "on_scene"), ("dispatched_at", "dispatched"), ("accepted_at", "accepted"))
WORK_ORDER_TIMES = ("call_time", "dispatch_time", "complete_time", "visit_time")
WORK_ORDER_FLAGS = ("is_secret", "is_supervised", "is_rehandle", "is_hard")  # NOT NULL, default False


def _located_frame(ctx: Context, conn: Connection, parsed: pd.DataFrame, *, required: bool) -> pd.DataFrame:
    lon, lat = locate_points(ctx, conn, required=required)
    ctx.fail_if_problems()
    codes = assign_areas(conn, lon, lat, ctx.report)
    parsed = parsed.copy()
    parsed["lon"] = np.where(np.isfinite(lon), lon, np.nan)
    parsed["lat"] = np.where(np.isfinite(lat), lat, np.nan)
    parsed["geom"] = point_wkb(lon, lat)
    for column in codes.columns:
        parsed[column] = codes[column].to_numpy()
    return parsed


def ingest_incidents(conn: Connection, ctx: Context) -> None:
    fields = INCIDENT_FIELDS
    matched = ctx.match(fields)
    if "category" not in matched and "subtype" not in matched:
        raise IngestError(
            f"{ctx.source.name}: required field(s) missing: category (or a subtype that implies it). Columns in the file: "
            f"{', '.join(map(str, ctx.source.frame.columns))}. Map it with --map category=COLUMN."
        )
    parsed = ctx.parse(tuple(f for f in fields if f.name != "category"))
    _resolve_category(ctx, parsed)
    ctx.require(parsed, ("id", "severity", "reported_at"))
    ctx.not_in_future(parsed, "reported_at")
    for name in INCIDENT_TIMES[1:]:
        ctx.not_before(parsed, name, "reported_at")
    if "severity" in parsed:
        parsed["severity"] = pd.to_numeric(parsed["severity"]).astype("Int64")
    if "status" not in parsed:
        parsed["status"] = None
    parsed["status"] = _status_from_times(parsed, "status", STATUS_FROM_TIME, "reported")
    frame = _located_frame(ctx, conn, parsed, required=False)
    write_dataset(conn, ctx, Incident.__table__, frame, ["id"], "incident id", INCIDENT_DATASET, INCIDENT_TIMES)


def _resolve_category(ctx: Context, parsed: pd.DataFrame) -> None:
    """Category from the category column, or from a subtype written there or in the subtype column."""
    category_of_subtype = {t.code: cat for cat, terms in vocab.INCIDENT_SUBTYPES.items() for t in terms}
    subtype_terms = tuple(t for terms in vocab.INCIDENT_SUBTYPES.values() for t in terms)
    n = len(parsed)
    if "category" in ctx.matched:
        codes, unknown, text = parse_terms(ctx.source.frame[ctx.matched["category"]], vocab.INCIDENT_CATEGORIES)
        ctx.raw["category"] = text
    else:
        codes = text = pd.Series([None] * n, index=parsed.index, dtype=object)
        unknown = pd.Series(False, index=parsed.index)
    subtype = parsed["subtype"] if "subtype" in parsed else pd.Series([None] * n, index=parsed.index, dtype=object)
    category = codes.astype(object)
    subtype = subtype.astype(object).copy()
    is_category = ~unknown & category.notna()
    # A subtype name written in the category column (事件类型 = 火灾).
    subtype_lookup = {v: vocab.lookup(subtype_terms, v) for v in text[unknown].dropna().unique()}
    as_subtype = text.where(unknown).map(lambda v: None if v is None or pd.isna(v) else subtype_lookup.get(v))
    from_category_column = as_subtype.notna()
    subtype[from_category_column & subtype.isna()] = as_subtype[from_category_column].map(lambda t: t.code)
    category = category.where(is_category, as_subtype.map(lambda t: None if t is None or pd.isna(t) else category_of_subtype[t.code]))
    inferred = category.isna() & subtype.isin(category_of_subtype.keys())
    category[inferred] = subtype[inferred].map(category_of_subtype)
    raw = ctx.raw.get("category")
    bad = category.isna() & (raw.notna() if raw is not None else False)
    forms = ", ".join(f"{t.code}/{t.zh}" for t in vocab.INCIDENT_CATEGORIES)
    ctx.flag(bad, "category", lambda p: f"{ctx.raw_value('category', p)} is not an incident category ({forms}) nor a known subtype")
    missing = category.isna() & ~bad
    ctx.flag(missing, "category", lambda p: "empty, but required (give a category or a known subtype)")
    conflicting = category.notna() & subtype.isin(category_of_subtype.keys()) & (subtype.map(category_of_subtype) != category)
    ctx.flag(conflicting.fillna(False), "subtype", lambda p: f"subtype {subtype.iloc[p]!r} belongs to {category_of_subtype.get(subtype.iloc[p])}, not {category.iloc[p]}")
    parsed["category"] = category
    parsed["subtype"] = subtype


def _status_from_times(parsed: pd.DataFrame, column: str, rules, default: str) -> pd.Series:
    """The given status, else the one implied by the latest lifecycle time present, else ``default``."""
    status = parsed[column].astype(object).copy() if column in parsed else pd.Series(None, index=parsed.index, dtype=object)
    for time_column, implied in rules:
        if time_column in parsed:
            status[status.isna() & parsed[time_column].notna()] = implied
    return status.fillna(default)


def ingest_work_orders(conn: Connection, ctx: Context) -> None:
    ctx.match(WORK_ORDER_FIELDS)
    parsed = ctx.parse(WORK_ORDER_FIELDS)
    ctx.require(parsed, ("order_num", "call_time"))
    ctx.not_in_future(parsed, "call_time")
    for name in ("dispatch_time", "complete_time", "visit_time"):
        ctx.not_before(parsed, name, "call_time")
    if "state" not in parsed:
        parsed["state"] = None
    parsed["state"] = _status_from_times(parsed, "state", (("visit_time", "visited"), ("complete_time", "completed"), ("dispatch_time", "dispatched")), "accepted")
    for flag in WORK_ORDER_FLAGS:
        if flag in parsed:
            parsed[flag] = parsed[flag].astype(object).where(parsed[flag].notna(), False)
    if "back_num" in parsed:
        parsed["back_num"] = parsed["back_num"].fillna(0)
    frame = _located_frame(ctx, conn, parsed, required=False)
    write_dataset(conn, ctx, WorkOrder.__table__, frame, ["order_num"], "work-order number", WORK_ORDER_DATASET, WORK_ORDER_TIMES)


def ingest_resources(conn: Connection, ctx: Context) -> None:
    ctx.match(RESOURCE_FIELDS)
    parsed = ctx.parse(RESOURCE_FIELDS)
    ctx.require(parsed, ("kind", "name"))
    if "id" in parsed:
        ctx.require(parsed, ("id",))
    else:
        # No id column: the natural key is kind + name (stable across re-imports of the same list).
        digest = (parsed["kind"].astype(str) + "|" + parsed["name"].astype(str)).map(lambda v: hashlib.sha1(v.encode()).hexdigest()[:12])
        parsed["id"] = parsed["kind"].astype(str) + "-" + digest
        ctx.report.notes.append("no id column: ids made from kind + name")
    frame = _located_frame(ctx, conn, parsed, required=True)
    if "id" not in ctx.matched:
        clash = frame.duplicated("id", keep=False) & frame.duplicated(["id", "lon", "lat"], keep=False).eq(False)
        ctx.flag(clash.to_numpy(), "name", lambda p: f"{frame['name'].iloc[p]!r} ({frame['kind'].iloc[p]}) appears twice at different places; add an id column")
        ctx.fail_if_problems()
    write_dataset(conn, ctx, Resource.__table__, frame, ["id"], "resource id", RESOURCE_DATASET)
