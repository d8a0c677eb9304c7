"""Traffic: congestion per road segment and per area, in the standard 交通拥堵指数 bands.

An area's congestion index is the length-weighted mean of its segments' indices (a long
expressway counts for more than a short branch road). Segments belong to the areas containing
their midpoint, assigned when they are written (``district_code`` … ``grid_code``).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from queries.cache import cached
from queries.db import read_frame
from queries.drill import get_area
from queries.schema import RoadSegment, RoadSpeed
from queries.vocab import CONGESTION_BANDS, Term

LOOKBACK = dt.timedelta(hours=2)  # a segment silent for longer is left out of "latest"


def congestion_band(index: float | None) -> Term | None:
    if index is None or pd.isna(index) or index < 0:
        return None
    for _low, high, term in CONGESTION_BANDS:
        if index < high:
            return term
    return CONGESTION_BANDS[-1][2]  # 10 (and any overshoot) is the top band


SEGMENT_COLUMNS = ["segment_id", "name", "road_class", "length_m", "district_code", "street_code", "community_code", "grid_code", "ts", "speed_kmh", "congestion_index"]


def _latest_segments(conn: Connection, at: dt.datetime | None, where: list) -> pd.DataFrame:
    """Each segment's newest speed at or before ``at`` (within LOOKBACK), for the segments ``where`` selects."""
    # Feeds deliver every segment at the same interval: find the newest delivery (an index probe
    # on ts), read the lookback window before it, and keep each segment's latest row.
    newest_stmt = select(func.max(RoadSpeed.ts))
    if at is not None:
        newest_stmt = newest_stmt.where(RoadSpeed.ts <= at)
    newest = conn.execute(newest_stmt).scalar()
    if newest is None or (at is not None and newest <= at - LOOKBACK):
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    stmt = (
        select(RoadSegment.id, RoadSegment.name, RoadSegment.road_class, RoadSegment.length_m, RoadSegment.district_code,
               RoadSegment.street_code, RoadSegment.community_code, RoadSegment.grid_code,
               RoadSpeed.ts, RoadSpeed.speed_kmh, RoadSpeed.congestion_index)
        .join(RoadSpeed, RoadSpeed.segment_id == RoadSegment.id)
        .where(RoadSpeed.ts <= newest, RoadSpeed.ts > (at if at is not None else newest) - LOOKBACK, *where)
    )
    frame = read_frame(conn, stmt, SEGMENT_COLUMNS)
    return frame.sort_values(["segment_id", "ts"]).drop_duplicates("segment_id", keep="last").reset_index(drop=True)


@cached(tables=("road_speeds", "road_segments"))
def segment_congestion(conn: Connection, at: dt.datetime | None = None, road_classes: list[str] | None = None) -> pd.DataFrame:
    """Latest speed and congestion index of every segment at or before ``at`` (within LOOKBACK)."""
    frame = _latest_segments(conn, at, [RoadSegment.road_class.in_(road_classes)] if road_classes else [])
    bands = [congestion_band(v) for v in frame["congestion_index"]]
    return frame.assign(band=[b.code if b else None for b in bands], band_zh=[b.zh if b else None for b in bands], band_en=[b.en if b else None for b in bands])


@cached(tables=("road_speeds", "road_segments", "areas"))
def area_congestion(conn: Connection, area_code: str, at: dt.datetime | None = None, worst: int = 5) -> dict:
    """Length-weighted congestion index of an area, its band, data time and worst segments."""
    area = get_area(conn, area_code)
    where = [] if area["level"] == "city" else [getattr(RoadSegment, f"{area['level']}_code") == area_code]
    return congestion_in(_latest_segments(conn, at, where), area, worst)


def congestion_in(segments: pd.DataFrame, area: dict, worst: int = 5) -> dict:
    """``area_congestion`` of ``area`` from ``segments``, the latest speeds of segments with their
    area codes (``_latest_segments``, or ``segment_congestion`` for the whole city: one cache
    entry per feed delivery shared by every area, which then needs no query of its own)."""
    if area["level"] != "city":
        segments = segments[segments[f"{area['level']}_code"] == area["code"]]
    segments = segments.dropna(subset=["congestion_index"])
    result = {"area_code": area["code"], "segments": int(len(segments)), "ts": None, "congestion_index": None, "band": None, "worst": []}
    if segments.empty:
        return result
    weights = segments["length_m"].astype("float64").fillna(1.0).clip(lower=1.0).to_numpy()
    index = float(np.dot(segments["congestion_index"].to_numpy(dtype="float64"), weights) / weights.sum())
    band = congestion_band(index)
    speed = segments["speed_kmh"].dropna()
    worst_rows = segments.nlargest(worst, "congestion_index")
    result.update(
        ts=segments["ts"].max(),
        congestion_index=round(index, 2),
        band=band.code, band_zh=band.zh, band_en=band.en,
        mean_speed_kmh=None if speed.empty else round(float(speed.mean()), 1),
        worst=[
            {"segment_id": r.segment_id, "name": r.name, "road_class": r.road_class, "congestion_index": r.congestion_index,
             "speed_kmh": r.speed_kmh, "band": congestion_band(r.congestion_index).code}
            for r in worst_rows.itertuples(index=False)
        ],
    )
    return result


@cached(tables=("road_speeds", "road_segments", "areas"))
def congestion_series(conn: Connection, area_code: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Hourly length-weighted congestion index of an area over [start, end)."""
    area = get_area(conn, area_code)
    weight = func.coalesce(RoadSegment.length_m, 1.0)
    stmt = (
        select(RoadSpeed.ts, (func.sum(RoadSpeed.congestion_index * weight) / func.sum(weight)).label("congestion_index"))
        .join(RoadSegment, RoadSegment.id == RoadSpeed.segment_id)
        .where(RoadSpeed.ts >= start, RoadSpeed.ts < end, RoadSpeed.congestion_index.is_not(None))
        .group_by(RoadSpeed.ts)
        .order_by(RoadSpeed.ts)
    )
    if area["level"] != "city":
        stmt = stmt.where(getattr(RoadSegment, f"{area['level']}_code") == area_code)
    return read_frame(conn, stmt, ["ts", "congestion_index"])
