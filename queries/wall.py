"""The numbers wall panels show that no other query gives directly: child-area rankings, the
congestion of every child area in one pass, and which catalogue datasets a panel reads.

Everything else a panel shows comes from the existing queries (``indicators``, ``incidents``,
``environment``, ``traffic``, ``freshness``). Every function returns the data time it reflects.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from queries.cache import cached
from queries.drill import CHILD_LEVEL, child_counts, children, get_area
from queries.schema import DatasetTable, Indicator, IndicatorValue, RoadSegment
from queries.traffic import _latest_segments, congestion_band

RANKING_SOURCES = {"incidents": "incidents", "work_orders": "workorders"}


@cached(tables=("datasets", "dataset_tables", "indicators"))
def datasets_reading(conn: Connection, tables: Sequence[str] = (), indicators: Sequence[str] = ()) -> list[str]:
    """Catalogue datasets whose rows live in ``tables`` or that feed ``indicators`` (sorted codes)."""
    codes: set[str] = set()
    if tables:
        codes.update(conn.execute(select(DatasetTable.dataset_code).where(DatasetTable.table_name.in_(list(tables)))).scalars())
    if indicators:
        codes.update(c for c in conn.execute(select(Indicator.dataset_code).where(Indicator.code.in_(list(indicators)))).scalars() if c)
    return sorted(codes)


@cached(tables=("indicators", "indicator_values", "areas"))
def indicator_ranking(conn: Connection, area_code: str, indicator_code: str, top: int = 8) -> dict:
    """Latest value of ``indicator_code`` in each child area of ``area_code``, worst first.

    "Worst" follows the indicator's good direction (highest first when lower is better).
    """
    definition = conn.execute(select(Indicator.good_direction, Indicator.unit).where(Indicator.code == indicator_code)).first()
    kids = children(conn, area_code)
    result = {"rows": [], "ts": None, "unit": definition.unit if definition else None}
    if definition is None or kids.empty:
        return result
    newest = (
        select(IndicatorValue.area_code, func.max(IndicatorValue.ts).label("ts"))
        .where(IndicatorValue.indicator_code == indicator_code, IndicatorValue.area_code.in_(kids["code"].tolist()))
        .group_by(IndicatorValue.area_code)
        .subquery()
    )
    rows = conn.execute(
        select(IndicatorValue.area_code, IndicatorValue.ts, IndicatorValue.value)
        .join(newest, (newest.c.area_code == IndicatorValue.area_code) & (newest.c.ts == IndicatorValue.ts))
        .where(IndicatorValue.indicator_code == indicator_code)
    ).all()
    values = {row.area_code: (row.ts, row.value) for row in rows if row.value is not None}
    frame = kids[kids["code"].isin(values)].assign(value=lambda f: [values[c][1] for c in f["code"]])
    # Ties in code order, as in count_ranking (a one-column sort is not stable beyond 16 rows).
    frame = frame.sort_values(["value", "code"], ascending=[definition.good_direction == "up", True]).head(top)
    result["rows"] = [{"code": r.code, "name": r.name, "name_en": r.name_en, "value": float(r.value)} for r in frame.itertuples(index=False)]
    result["ts"] = max((ts for ts, _ in values.values()), default=None)
    return result


@cached(tables=("incidents", "work_orders", "areas"), area="area_code")
def count_ranking(conn: Connection, area_code: str, source: str, start: dt.datetime, end: dt.datetime, top: int = 8) -> dict:
    """Child areas of ``area_code`` by incidents / 12345 orders in [start, end), most first."""
    if source not in RANKING_SOURCES:
        raise ValueError(f"unknown ranking source {source!r}; known: {', '.join(RANKING_SOURCES)}")
    counts = child_counts(conn, area_code, RANKING_SOURCES[source], start=start, end=end)
    counts = counts.sort_values(["value", "code"], ascending=[False, True]).head(top)
    return {"rows": [{"code": r.code, "name": r.name, "name_en": r.name_en, "value": int(r.value)} for r in counts.itertuples(index=False)],
            "ts": end, "unit": None}


@cached(tables=("road_speeds", "road_segments", "areas"))
def child_congestion(conn: Connection, area_code: str, at: dt.datetime | None = None) -> dict:
    """Length-weighted congestion index of every child area (one read of the latest speeds), and
    of the area itself, with bands and the data time."""
    area = get_area(conn, area_code)
    child_level = CHILD_LEVEL.get(area["level"])
    where = [] if area["level"] == "city" else [getattr(RoadSegment, f"{area['level']}_code") == area_code]
    segments = _latest_segments(conn, at, where).dropna(subset=["congestion_index"])
    result = {"area_code": area_code, "ts": None, "congestion_index": None, "band": None, "children": []}
    if segments.empty:
        return result
    segments = segments.assign(weight=segments["length_m"].astype("float64").fillna(1.0).clip(lower=1.0),
                               index=segments["congestion_index"].astype("float64"))

    def weighted(frame: pd.DataFrame) -> float:
        return float(np.dot(frame["index"], frame["weight"]) / frame["weight"].sum())

    overall = weighted(segments)
    result.update(ts=segments["ts"].max(), congestion_index=round(overall, 2), band=congestion_band(overall).code)
    if child_level is None:
        return result
    kids = children(conn, area_code)
    by_child = {code: weighted(group) for code, group in segments.groupby(f"{child_level}_code")}
    result["children"] = [
        {"code": r.code, "name": r.name, "name_en": r.name_en,
         "congestion_index": None if r.code not in by_child else round(by_child[r.code], 2),
         "band": None if r.code not in by_child else congestion_band(by_child[r.code]).code}
        for r in kids.itertuples(index=False)
    ]
    return result


def root_area_code(conn: Connection) -> str | None:
    """The city: the area without a parent (the first by code when several were imported)."""
    from queries.schema import Area

    return conn.execute(select(Area.code).where(Area.parent_code.is_(None)).order_by(Area.code).limit(1)).scalar()


def area_or_root(conn: Connection, code: str | None) -> dict:
    return get_area(conn, code or root_area_code(conn))
