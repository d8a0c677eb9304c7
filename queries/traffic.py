"""Traffic: congestion per road segment and per area, in the standard 交通拥堵指数 bands.

An area's congestion index is the length-weighted mean of its segments' indices (a long
expressway counts for more than a short branch road). Segments belong to an area through their
``district_code``; below district level, through their midpoint falling in the area's polygon.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import shapely
from sqlalchemy import Connection, and_, func, select

from queries.cache import cached
from queries.drill import get_area
from queries.schema import Area, RoadSegment, RoadSpeed
from queries.vocab import CONGESTION_BANDS, Term

LOOKBACK = dt.timedelta(hours=2)  # a segment silent for longer is left out of "latest"


def congestion_band(index: float | None) -> Term | None:
    if index is None or pd.isna(index) or index < 0:
        return None
    for _low, high, term in CONGESTION_BANDS:
        if index < high:
            return term
    return CONGESTION_BANDS[-1][2]  # 10 (and any overshoot) is the top band


@cached(tables=("road_speeds", "road_segments"))
def segment_congestion(conn: Connection, at: dt.datetime | None = None, road_classes: list[str] | None = None) -> pd.DataFrame:
    """Latest speed and congestion index of every segment at or before ``at`` (within LOOKBACK)."""
    window = [RoadSpeed.ts <= at, RoadSpeed.ts > at - LOOKBACK] if at is not None else []
    newest = select(RoadSpeed.segment_id, func.max(RoadSpeed.ts).label("ts")).where(*window).group_by(RoadSpeed.segment_id).subquery()
    stmt = (
        select(RoadSegment.id, RoadSegment.name, RoadSegment.road_class, RoadSegment.length_m, RoadSegment.district_code,
               RoadSpeed.ts, RoadSpeed.speed_kmh, RoadSpeed.congestion_index)
        .join(newest, newest.c.segment_id == RoadSegment.id)
        .join(RoadSpeed, and_(RoadSpeed.segment_id == newest.c.segment_id, RoadSpeed.ts == newest.c.ts))
        .order_by(RoadSegment.id)
    )
    if road_classes:
        stmt = stmt.where(RoadSegment.road_class.in_(road_classes))
    frame = pd.DataFrame(conn.execute(stmt).all(), columns=["segment_id", "name", "road_class", "length_m", "district_code", "ts", "speed_kmh", "congestion_index"])
    bands = [congestion_band(v) for v in frame["congestion_index"]]
    return frame.assign(band=[b.code if b else None for b in bands], band_zh=[b.zh if b else None for b in bands], band_en=[b.en if b else None for b in bands])


def _segments_in_area(conn: Connection, segments: pd.DataFrame, area: dict) -> pd.DataFrame:
    if area["level"] == "city":
        return segments
    if area["level"] == "district":
        return segments[segments["district_code"] == area["code"]]
    polygon = conn.execute(select(Area.geom).where(Area.code == area["code"])).scalar()
    if polygon is None or segments.empty:
        return segments.iloc[0:0]
    lines = dict(conn.execute(select(RoadSegment.id, RoadSegment.geom).where(RoadSegment.id.in_(segments["segment_id"].tolist()))).all())
    midpoints = shapely.line_interpolate_point([lines[s] for s in segments["segment_id"]], 0.5, normalized=True)
    return segments[shapely.contains(polygon, midpoints)]


@cached(tables=("road_speeds", "road_segments", "areas"))
def area_congestion(conn: Connection, area_code: str, at: dt.datetime | None = None, worst: int = 5) -> dict:
    """Length-weighted congestion index of an area, its band, data time and worst segments."""
    area = get_area(conn, area_code)
    segments = _segments_in_area(conn, segment_congestion(conn, at), area).dropna(subset=["congestion_index"])
    result = {"area_code": area_code, "segments": int(len(segments)), "ts": None, "congestion_index": None, "band": None, "worst": []}
    if segments.empty:
        return result
    weights = segments["length_m"].fillna(1.0).clip(lower=1.0)
    index = float((segments["congestion_index"] * weights).sum() / weights.sum())
    band = congestion_band(index)
    speed = segments["speed_kmh"].dropna()
    result.update(
        ts=segments["ts"].max(),
        congestion_index=round(index, 2),
        band=band.code, band_zh=band.zh, band_en=band.en,
        mean_speed_kmh=None if speed.empty else round(float(speed.mean()), 1),
        worst=segments.nlargest(worst, "congestion_index")[["segment_id", "name", "road_class", "congestion_index", "speed_kmh", "band"]].to_dict("records"),
    )
    return result


@cached(tables=("road_speeds", "road_segments", "areas"))
def congestion_series(conn: Connection, area_code: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Hourly length-weighted congestion index of a city or district over [start, end)."""
    area = get_area(conn, area_code)
    weight = func.coalesce(RoadSegment.length_m, 1.0)
    stmt = (
        select(RoadSpeed.ts, (func.sum(RoadSpeed.congestion_index * weight) / func.sum(weight)).label("congestion_index"))
        .join(RoadSegment, RoadSegment.id == RoadSpeed.segment_id)
        .where(RoadSpeed.ts >= start, RoadSpeed.ts < end, RoadSpeed.congestion_index.is_not(None))
        .group_by(RoadSpeed.ts)
        .order_by(RoadSpeed.ts)
    )
    if area["level"] == "district":
        stmt = stmt.where(RoadSegment.district_code == area_code)
    elif area["level"] != "city":
        raise ValueError("congestion series are kept for the city and districts")
    return pd.DataFrame(conn.execute(stmt).all(), columns=["ts", "congestion_index"])
