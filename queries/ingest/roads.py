"""Road network: lines (multi-lines split into parts with suffixed ids), road class from the
platform vocabulary (plus OpenStreetMap's names), geodesic length in metres."""
from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import Connection

from queries import vocab
from queries.ingest import geo
from queries.ingest.common import (
    Context,
    DatasetDefaults,
    assign_areas,
    geometry_wkb,
    write_dataset,
)
from queries.ingest.fields import ROAD_FIELDS
from queries.ingest.parse import as_text, parse_terms
from queries.ingest.report import IngestError
from queries.schema import RoadSegment

ROAD_DATASET = DatasetDefaults("traffic.road_network", "道路网络", "Road network", "交通运输局", "Transport Bureau", "yearly")
# OpenStreetMap / Geofabrik fclass values → platform classes (the vocabulary has the common ones).
OSM_ROAD_CLASSES = {
    "trunk": "expressway", "motorway_link": "expressway", "trunk_link": "expressway", "城市快速路": "expressway",
    "primary_link": "arterial", "secondary_link": "secondary", "tertiary_link": "branch",
    "unclassified": "branch", "living_street": "branch", "service": "branch", "residential": "branch",
    "主干线": "arterial", "次干线": "secondary", "街坊路": "branch", "国道": "arterial", "省道": "arterial", "县道": "secondary", "乡道": "branch",
}


def ingest_roads(conn: Connection, ctx: Context) -> None:
    source = ctx.source
    ctx.match(tuple(f for f in ROAD_FIELDS))
    parsed = ctx.parse(tuple(f for f in ROAD_FIELDS if f.name != "road_class"))
    codes, bad, text = parse_terms(source.frame[ctx.matched["road_class"]], vocab.ROAD_CLASSES, extra=OSM_ROAD_CLASSES)
    ctx.raw["road_class"] = text
    forms = ", ".join(f"{t.code}/{t.zh}" for t in vocab.ROAD_CLASSES)
    ctx.flag(bad, "road_class", lambda p: f"{ctx.raw_value('road_class', p)} is not a road class ({forms}, or OSM motorway/trunk/primary/secondary/tertiary/residential)")
    parsed["road_class"] = codes
    ctx.require(parsed, ("id", "road_class"))

    if source.geometry is not None:
        geometries = np.asarray(source.geometry, dtype=object)
    elif "geometry" in ctx.matched:
        wkt = as_text(source.frame[ctx.matched["geometry"]])
        geometries = shapely.from_wkt(wkt.to_numpy(dtype=object), on_invalid="ignore")
    else:
        raise IngestError(f"{source.name}: no geometry: roads need lines — a GeoJSON/Shapefile/GeoPackage, or a WKT column (--map geometry=COLUMN)")
    crs, note = geo.resolve_crs(ctx.options.crs, source.crs)
    if note:
        ctx.report.notes.append(note)
    bounds = shapely.bounds(geometries)
    if crs.is_wgs84 and geo.looks_projected(bounds[:, 0], bounds[:, 1]):
        raise IngestError(f"{source.name}: coordinates look projected, not degrees; give their system with --crs (e.g. EPSG:3857)")
    geometries = geo.convert_geometries(geometries, crs)
    types = shapely.get_type_id(geometries)
    is_line = np.isin(types, (1, 5)) & ~shapely.is_empty(geometries)
    ctx.flag(~is_line, "geometry", lambda p: "no geometry" if geometries[p] is None else f"a {geometries[p].geom_type}, not a line")
    box = np.where(is_line[:, None], shapely.bounds(np.where(is_line, geometries, None)), np.nan)
    outside = is_line & (geo.outside_china(box[:, 0], box[:, 1]) | geo.outside_china(box[:, 2], box[:, 3]))
    ctx.flag(outside, "geometry", lambda p: f"extends outside China (lon {box[p, 0]:.3f}–{box[p, 2]:.3f}); wrong --crs?")
    ctx.fail_if_problems()

    # Split multi-lines into their parts: id → id-1, id-2 … (single-part multi-lines keep their id).
    parts, index = shapely.get_parts(geometries, return_index=True)
    counts = np.bincount(index, minlength=len(geometries))
    sequence = np.concatenate([np.arange(1, c + 1) for c in counts]) if len(parts) else np.array([], dtype=int)
    frame = parsed.iloc[index].reset_index(drop=True)
    split = counts[index] > 1
    frame.loc[split, "id"] = frame.loc[split, "id"].astype(str) + "-" + sequence[split].astype(str)
    if split.any():
        ctx.report.repairs.append(f"{int((counts > 1).sum())} MultiLineStrings split into {int(split.sum())} LineStrings (ids suffixed -1, -2 …)")
    if "oneway" in frame:
        frame["oneway"] = frame["oneway"].astype(object).where(frame["oneway"].notna(), False)
    frame["length_m"] = _length_m(parts)
    middle = shapely.line_interpolate_point(parts, 0.5, normalized=True)
    codes = assign_areas(conn, shapely.get_x(middle), shapely.get_y(middle))
    for column in codes.columns:
        frame[column] = codes[column].to_numpy()
    box = shapely.bounds(parts)
    frame["minx"], frame["miny"], frame["maxx"], frame["maxy"] = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
    frame["geom"] = geometry_wkb(parts)
    write_dataset(conn, ctx, RoadSegment.__table__, frame, ["id"], "road id", ROAD_DATASET)


def _length_m(lines: np.ndarray) -> np.ndarray:
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    return np.array([geod.geometry_length(line) for line in lines], dtype=float)
