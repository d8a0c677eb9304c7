"""Administrative boundaries and unit grids: codes checked against GB/T 2260 and the grid layout,
parents linked, polygons repaired where possible, everything stored as WGS84 MultiPolygons."""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import aliased

from queries import vocab
from queries.ingest import geo
from queries.ingest.common import (
    Context,
    DatasetDefaults,
    close_dataset,
    geometry_wkb,
    open_dataset,
    write,
)
from queries.ingest.fields import BOUNDARY_FIELDS
from queries.ingest.parse import as_text
from queries.ingest.report import IngestError
from queries.schema import Area

BOUNDARY_DATASET = DatasetDefaults("spatial.areas", "行政区划与单元网格", "Administrative areas and unit grids", "自然资源和规划局", "Natural Resources and Planning Bureau", "yearly", "unconditional")

# GB/T 2260 province-level prefixes (incl. 71 Taiwan, 81 Hong Kong, 82 Macao).
PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)
MUNICIPALITY_PREFIXES = frozenset(("11", "12", "31", "50"))  # their districts sit directly under xx0000
LEVEL_DEPTH = {code: i for i, code in enumerate(vocab.AREA_LEVEL_CODES)}
PARENT_LEVEL = {"district": "city", "street": "district", "community": "street", "grid": "community"}
# Digits of the parent's code that a child's code starts with (district → city is special).
PARENT_PREFIX = {"street": 6, "community": 9, "grid": 12}
_GEOD_ELLIPSOID = "WGS84"


def ingest_boundaries(conn: Connection, ctx: Context) -> None:
    source = ctx.source
    ctx.match(BOUNDARY_FIELDS)
    geometries = _source_geometries(ctx)
    parsed = ctx.parse(BOUNDARY_FIELDS)
    n = len(source)
    report = ctx.report

    codes, legacy = _normalise_codes(ctx, parsed["code"])
    levels = _levels(ctx, parsed, codes)
    _check_codes(ctx, codes, levels)
    names = _names(ctx, parsed)

    crs, note = geo.resolve_crs(ctx.options.crs, source.crs)
    if note:
        report.notes.append(note)
    geometries = np.asarray(geometries, dtype=object)
    has_z = shapely.has_z(geometries)
    bounds = shapely.bounds(geometries)
    if crs.is_wgs84 and geo.looks_projected(bounds[:, 0], bounds[:, 1]):
        raise IngestError(f"{source.name}: coordinates look projected (e.g. x={np.nanmax(np.abs(bounds[:, 0])):.1f}), not degrees; give their system with --crs (e.g. EPSG:3857 or EPSG:4547)")
    geometries = geo.convert_geometries(geometries, crs)
    if not crs.is_wgs84:
        report.notes.append(f"coordinates converted from {crs.label} to WGS84")
    repaired = np.full(n, None, dtype=object)
    single_polygons = 0
    for i in range(n):
        geometry = geometries[i]
        fixed, repairs, reason = geo.repair_polygon(geometry)
        if reason:
            ctx.flag(_one(n, i), "geometry", lambda p, reason=reason: reason)
            continue
        if has_z[i]:
            repairs.insert(0, "dropped Z coordinates")
        if geometry.geom_type == "Polygon":
            single_polygons += 1
        if repairs:
            report.repairs.append(f"{source.label(i)} ({codes.iloc[i] or '?'}): " + "; ".join(repairs))
        repaired[i] = fixed
    if single_polygons:
        report.notes.append(f"{single_polygons} Polygon features stored as MultiPolygon")
    located = ~shapely.is_missing(repaired)
    box = np.full((n, 4), np.nan)
    if located.any():
        box[located] = shapely.bounds(repaired[located])
    outside = located & (geo.outside_china(box[:, 0], box[:, 1]) | geo.outside_china(box[:, 2], box[:, 3]))
    ctx.flag(outside, "geometry", lambda p: f"extends outside China (lon {box[p, 0]:.3f}–{box[p, 2]:.3f}, lat {box[p, 1]:.3f}–{box[p, 3]:.3f}); wrong --crs?")

    frame = pd.DataFrame({"code": codes, "legacy_code": legacy, "level": levels, "name": names, "geometry": repaired}, index=parsed.index)
    for optional in ("name_en", "population"):
        if optional in parsed:
            frame[optional] = parsed[optional]
    frame = _merge_duplicate_codes(ctx, frame)
    ctx.fail_if_problems()

    frame["parent_code"] = _parents(ctx, conn, frame, parsed)
    ctx.fail_if_problems()

    geoms = frame["geometry"].to_numpy(dtype=object)
    frame["area_km2"] = _area_km2(geoms)
    labels = shapely.point_on_surface(geoms)
    frame["label_lon"] = shapely.get_x(labels)
    frame["label_lat"] = shapely.get_y(labels)
    box = shapely.bounds(geoms)
    frame["minx"], frame["miny"], frame["maxx"], frame["maxy"] = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
    frame["geom"] = geometry_wkb(geoms)
    frame = frame.drop(columns=["geometry"])
    # Parents before children, so the foreign key holds row by row on PostgreSQL.
    frame = frame.iloc[np.argsort(frame["level"].map(LEVEL_DEPTH).to_numpy(), kind="stable")]

    code = open_dataset(conn, ctx.options, BOUNDARY_DATASET, report)
    frame["dataset_code"] = code
    frame["updated_at"] = ctx.now
    write(conn, Area.__table__, frame, ["code"], report)
    adopted = _adopt_orphans(conn)
    if adopted:
        report.notes.append(f"{adopted} previously loaded areas linked to their parents loaded now")
    close_dataset(conn, code, Area.__table__, report, None)


def _one(n: int, i: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[i] = True
    return mask


def _source_geometries(ctx: Context) -> np.ndarray:
    source = ctx.source
    if source.geometry is not None:
        return np.asarray(source.geometry, dtype=object)
    if "geometry" in ctx.matched:
        text = as_text(source.frame[ctx.matched["geometry"]])
        geoms = shapely.from_wkt(text.to_numpy(dtype=object), on_invalid="ignore")
        bad = text.notna().to_numpy() & shapely.is_missing(geoms)
        ctx.flag(bad, "geometry", lambda p: f"{str(text.iloc[p])[:40]!r}… is not WKT")
        return geoms
    raise IngestError(f"{source.name}: no geometry: boundaries need polygons — a GeoJSON/Shapefile/GeoPackage, or a WKT column (--map geometry=COLUMN)")


def _normalise_codes(ctx: Context, codes: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Digits only; 14-digit legacy grid codes (12-digit community + 2-digit sequence) → 15 digits."""
    codes = codes.astype(object)
    not_digits = codes.notna() & ~codes.map(lambda v: v is not None and str(v).isdigit()).astype(bool)
    ctx.flag(not_digits, "code", lambda p: f"{ctx.raw_value('code', p)} is not a numeric area code")
    ctx.require(pd.DataFrame({"code": codes}), ("code",))
    codes = codes.where(~not_digits)
    legacy = pd.Series(None, index=codes.index, dtype=object)
    is_legacy = codes.map(lambda v: isinstance(v, str) and len(v) == vocab.LEGACY_GRID_CODE_LENGTH).astype(bool)
    legacy[is_legacy] = codes[is_legacy]
    codes = codes.copy()
    codes[is_legacy] = codes[is_legacy].map(lambda v: v[:12] + "0" + v[12:])
    if is_legacy.any():
        ctx.report.repairs.append(f"{int(is_legacy.sum())} 14-digit legacy grid codes normalised to 15 digits (original kept in legacy_code), e.g. {legacy[is_legacy].iloc[0]} → {codes[is_legacy].iloc[0]}")
    return codes, legacy


def _levels(ctx: Context, parsed: pd.DataFrame, codes: pd.Series) -> pd.Series:
    if ctx.options.level:
        term = vocab.lookup(vocab.AREA_LEVELS, ctx.options.level)
        if term is None:
            raise IngestError(f"--level {ctx.options.level!r}: use one of {', '.join(vocab.AREA_LEVEL_CODES)}")
        return pd.Series(term.code, index=codes.index, dtype=object)
    if "level" in parsed:
        levels = parsed["level"].astype(object).copy()
    else:
        levels = pd.Series(None, index=codes.index, dtype=object)
    lengths = codes.map(lambda v: len(v) if isinstance(v, str) else 0)
    guess = pd.Series(None, index=codes.index, dtype=object)
    guess[lengths == 6] = np.where(codes[lengths == 6].str[4:] == "00", "city", "district")
    guess[lengths == 9] = "street"
    guess[lengths == 12] = "community"
    guess[lengths == 15] = "grid"
    inferred = levels.isna() & guess.notna()
    if inferred.any() and "level" not in parsed:
        ctx.report.notes.append("no --level: level taken from each code's length (6 digits ending 00 = city)")
    levels[inferred] = guess[inferred]
    unknown = levels.isna() & codes.notna()
    ctx.flag(unknown, "code", lambda p: f"{ctx.raw_value('code', p)} has {lengths.iloc[p]} digits: no area level has that (6 city/district, 9 street, 12 community, 15 or 14 grid); give --level")
    return levels


def _check_codes(ctx: Context, codes: pd.Series, levels: pd.Series) -> None:
    def check(position: int) -> str | None:
        code, level = codes.iloc[position], levels.iloc[position]
        if not isinstance(code, str) or not isinstance(level, str):
            return None
        expected = vocab.AREA_CODE_LENGTH[level]
        if len(code) != expected:
            return f"{code!r} has {len(code)} digits; a {level} code has {expected} (GB/T 2260 6 + street 3 + community 3 + grid 3)"
        if code[:2] not in PROVINCE_PREFIXES:
            return f"{code!r} does not start with a GB/T 2260 province code (11–65, 71, 81, 82)"
        if level == "city" and code[4:] != "00":
            return f"{code!r} is not a prefecture-level (city) code: GB/T 2260 city codes end in 00"
        if level == "district" and code[4:] == "00":
            return f"{code!r} ends in 00, which is a city/province code in GB/T 2260, not a district/county"
        return None

    # Few distinct (code, level) pairs fail; check each row once, vectorised enough for 10^5 grids.
    messages = [check(p) for p in range(len(codes))]
    bad = np.array([m is not None for m in messages], dtype=bool)
    ctx.flag(bad, "code", lambda p: messages[p])


def _names(ctx: Context, parsed: pd.DataFrame) -> pd.Series:
    names = parsed["name"].astype(object).copy()
    if "name_fallback" in parsed:
        fill = names.isna() & parsed["name_fallback"].notna()
        for position in np.flatnonzero(fill.to_numpy()):
            ctx.report.repairs.append(f"{ctx.source.label(position)}: empty name filled from column {ctx.matched['name_fallback']!r} ({parsed['name_fallback'].iloc[position]!r})")
        names[fill] = parsed["name_fallback"][fill]
    empty = names.isna() & ~(ctx.raw["name"].notna())
    hint = "" if "name_fallback" in parsed else " (map another column to fill it: --map name_fallback=COLUMN)"
    ctx.flag(empty, "name", lambda p: f"empty, but required{hint}")
    return names


def _merge_duplicate_codes(ctx: Context, frame: pd.DataFrame) -> pd.DataFrame:
    """Same code twice: same geometry → one; same name → union; otherwise the file is ambiguous."""
    valid = frame["code"].notna() & frame["geometry"].notna()
    duplicated = valid & frame["code"].duplicated(keep=False)
    if not duplicated.any():
        return frame
    drop: list = []
    for code, group in frame[duplicated].groupby("code", sort=False):
        positions = [frame.index.get_loc(i) for i in group.index]
        labels = ", ".join(ctx.source.label(p).rsplit(" ", 1)[-1] for p in positions)
        unit = ctx.source.unit + "s"
        geoms = group["geometry"].to_list()
        if all(shapely.equals(geoms[0], g) for g in geoms[1:]):
            drop.extend(group.index[1:])
            ctx.report.repairs.append(f"code {code}: {unit} {labels} have the same geometry; kept one")
        elif group["name"].nunique(dropna=False) == 1:
            frame.at[group.index[0], "geometry"] = geo.polygonal_part(shapely.union_all(geoms))
            drop.extend(group.index[1:])
            ctx.report.repairs.append(f"code {code}: {unit} {labels} have the same name {group['name'].iloc[0]!r} and different parts; merged into one MultiPolygon")
        else:
            first = positions[0]
            names = ", ".join(repr(v) for v in group["name"].unique())
            ctx.flag(_one(len(frame), first), "code", lambda p, code=code, labels=labels, names=names, unit=unit: f"{code} appears in {unit} {labels} with different names ({names}) and geometries; fix the file")
    return frame.drop(index=drop)


def _parents(ctx: Context, conn: Connection, frame: pd.DataFrame, parsed: pd.DataFrame) -> pd.Series:
    codes = frame["code"]
    levels = frame["level"]
    wanted = set()
    explicit = pd.Series(None, index=frame.index, dtype=object)
    if "parent" in parsed:
        explicit = parsed.loc[frame.index, "parent"].astype(object)
    elif ctx.options.parent:
        explicit = pd.Series(ctx.options.parent.strip(), index=frame.index, dtype=object)
    derived = pd.Series([_derived_parent(c, lv) for c, lv in zip(codes, levels)], index=frame.index, dtype=object)
    for values in (explicit, derived):
        wanted.update(v for v in values.dropna() for v in v.split("|"))
    in_file = dict(zip(codes, levels))
    known: dict[str, str] = {}
    chunk = list(wanted)
    for start in range(0, len(chunk), 5000):
        part = chunk[start : start + 5000]
        known.update(dict(conn.execute(select(Area.code, Area.level).where(Area.code.in_(part))).all()))
    known.update(in_file)

    parents = pd.Series(None, index=frame.index, dtype=object)
    orphans: dict[str, list[str]] = {}
    for position, (index, code, level) in enumerate(zip(frame.index, codes, levels)):
        if level == "city":
            continue
        given = explicit.loc[index]
        if given is not None and not pd.isna(given):
            message = _check_parent(code, level, given, known)
            if message:
                ctx.flag(_one(len(frame), position), "parent", lambda p, message=message: message)
                continue
            parents.loc[index] = given
            continue
        candidate = derived.loc[index]
        options = candidate.split("|") if candidate else []
        found = next((c for c in options if known.get(c) == PARENT_LEVEL[level]), None)
        if found:
            parents.loc[index] = found
        else:
            orphans.setdefault(level, []).append(options[0] if options else "?")
    for level, missing in orphans.items():
        sample = ", ".join(sorted(set(missing))[:3])
        ctx.report.notes.append(
            f"{len(missing)} {level} areas have no loaded parent {PARENT_LEVEL[level]} (e.g. {sample}); they are linked automatically when it is imported"
        )
    return parents


def _derived_parent(code, level) -> str | None:
    """Candidate parent codes from the code prefix ('a|b' when two forms are possible)."""
    if not isinstance(code, str) or level not in PARENT_LEVEL:
        return None
    if level == "district":
        city = code[:4] + "00"
        return f"{city}|{code[:2]}0000" if code[:2] in MUNICIPALITY_PREFIXES else city
    return code[: PARENT_PREFIX[level]]


def _check_parent(code: str, level: str, parent: str, known: dict[str, str]) -> str | None:
    parent_level = PARENT_LEVEL[level]
    if parent not in known:
        return f"parent {parent!r} does not exist (load the {parent_level} first, or fix the parent code)"
    if known[parent] != parent_level:
        return f"parent {parent!r} is a {known[parent]}, but a {level}'s parent must be a {parent_level}"
    if level == "district":
        ok = code[:4] == parent[:4] or (parent[2:] == "0000" and code[:2] == parent[:2])
    else:
        ok = code.startswith(parent)
    if not ok:
        return f"{level} code {code} does not start with its parent {parent_level} code {parent} (GB/T 2260 / grid code layout)"
    return None


def _area_km2(geometries: np.ndarray) -> np.ndarray:
    from pyproj import Geod

    geod = Geod(ellps=_GEOD_ELLIPSOID)
    return np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in geometries])


def _adopt_orphans(conn: Connection) -> int:
    """Link areas loaded before their parent (parent_code empty) to a parent that exists now."""
    parent = aliased(Area)
    adopted = 0
    for level, length in PARENT_PREFIX.items():
        prefix = func.substr(Area.code, 1, length)
        exists = select(parent.code).where(parent.level == PARENT_LEVEL[level], parent.code == prefix).exists()
        result = conn.execute(update(Area).where(Area.level == level, Area.parent_code.is_(None), exists).values(parent_code=prefix))
        adopted += result.rowcount or 0
    city = func.substr(Area.code, 1, 4).concat("00")
    exists = select(parent.code).where(parent.level == "city", parent.code == city).exists()
    result = conn.execute(update(Area).where(Area.level == "district", Area.parent_code.is_(None), exists).values(parent_code=city))
    adopted += result.rowcount or 0
    return adopted
