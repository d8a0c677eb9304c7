"""What areas are loaded: the listing behind ``cityops areas``."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, case, select

from queries.cache import cached
from queries.schema import Area
from queries.vocab import AREA_LEVEL_CODES

AREA_COLUMNS = ("code", "name", "level", "parent", "area_km2")


@cached(tables=("areas",))
def list_areas(conn: Connection, level: str | None = None, parent: str | None = None) -> pd.DataFrame:
    """Loaded areas (code, name, level, parent, area_km2), city first then by level and code."""
    depth = case({code: i for i, code in enumerate(AREA_LEVEL_CODES)}, value=Area.level, else_=len(AREA_LEVEL_CODES))
    stmt = select(Area.code, Area.name, Area.level, Area.parent_code.label("parent"), Area.area_km2).order_by(depth, Area.code)
    if level is not None:
        stmt = stmt.where(Area.level == level)
    if parent is not None:
        stmt = stmt.where(Area.parent_code == parent)
    rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(AREA_COLUMNS))
    # Keep a missing parent as None (not NaN), so JSON and text output stay clean.
    frame["parent"] = frame["parent"].astype(object).where(frame["parent"].notna(), None)
    return frame
