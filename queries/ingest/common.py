"""The machinery every import kind shares: options, field parsing with per-row problems, point
location, record conversion, the bulk upsert and the catalogue/data-version update."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Table, func, select, tuple_, update

from queries.ingest import geo
from queries.ingest.fields import Field, check_required, match_columns
from queries.ingest.parse import (
    as_text,
    parse_bools,
    parse_numbers,
    parse_terms,
    parse_times,
)
from queries.ingest.read import SourceTable
from queries.ingest.report import IngestError, IngestReport, Problems
from queries.schema import Dataset
from queries.writes import ensure_dataset, record_change, upsert

EVENT_FUTURE_TOLERANCE = pd.Timedelta(days=1)  # an event "reported" tomorrow is a wrong clock or a wrong zone
# A batch up to this size has the districts of the rows it replaces looked up (a live feed's
# batches: a few rows), so the cache drops only those districts' answers; a bulk import changes all.
PARTITION_LOOKUP_MAX_ROWS = 5000
PARTITION_LOOKUP_CHUNK = 500


@dataclass
class Options:
    mapping: dict[str, str] = field(default_factory=dict)
    crs: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    layer: str | None = None
    dataset: str | None = None
    provider: str | None = None
    level: str | None = None
    parent: str | None = None
    reading_type: str | None = None
    definitions: str | None = None
    z_is_local: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class DatasetDefaults:
    code: str
    name: str
    name_en: str
    provider: str
    provider_en: str
    update_cycle: str
    sharing_type: str = "conditional"


class Context:
    """One source file being validated: its table, the matched columns and the problems found."""

    def __init__(self, source: SourceTable, options: Options, report: IngestReport):
        self.source = source
        self.options = options
        self.report = report
        self.problems = Problems()
        self.matched: dict[str, str] = {}
        self.raw: dict[str, pd.Series] = {}  # target → raw text, for messages
        self.now = pd.Timestamp.now(tz="UTC")

    def match(self, fields: tuple[Field, ...], *, also_present: set[str] = frozenset()) -> dict[str, str]:
        self.matched = match_columns(fields, self.source.frame.columns, self.options.mapping, self.source.name)
        check_required(fields, self.matched, self.source.frame.columns, self.source.name, also_present=also_present)
        self.report.columns.update(self.matched)
        return self.matched

    def column_note(self, target: str) -> str:
        column = self.matched.get(target)
        return f" [column {column}]" if column and column != target else ""

    def flag(self, mask, target: str, describe) -> None:
        """Record a problem for every row where ``mask`` is true; ``describe(position) -> text``."""
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(positions) == 0:
            return
        suffix = self.column_note(target)
        label = self.source.label
        field_part = f", field {target}" if target else ""
        self.problems.add_many(positions, lambda p: f"{label(p)}{field_part}: {describe(p)}{suffix}")

    def raw_value(self, target: str, position: int) -> str:
        series = self.raw.get(target)
        value = None if series is None else series.iloc[position]
        return "(empty)" if value is None else repr(str(value))

    def parse(self, fields: tuple[Field, ...]) -> pd.DataFrame:
        """Parse every matched non-geometry field; bad values become problems, values become NA."""
        frame = self.source.frame
        out = {}
        for spec in fields:
            column = self.matched.get(spec.name)
            if column is None or spec.parser in ("lon", "lat", "point", "geometry"):
                continue
            out[spec.name] = self._parse_field(spec, frame[column])
        return pd.DataFrame(out, index=frame.index)

    def _parse_field(self, spec: Field, series: pd.Series) -> pd.Series:
        name = spec.name
        if spec.parser == "text":
            text = as_text(series)
            self.raw[name] = text
            if spec.max_length:
                too_long = text.map(lambda v: v is not None and len(v) > spec.max_length).astype(bool)
                self.flag(too_long, name, lambda p: f"{self.raw_value(name, p)[:40]}… is longer than {spec.max_length} characters")
            return text
        if spec.parser == "time":
            self.raw[name] = as_text(series) if series.dtype == object or pd.api.types.is_string_dtype(series) else series.astype(object)
            times, bad = parse_times(series, spreadsheet=self.source.spreadsheet, z_is_local=self.options.z_is_local, now=self.now)
            self.flag(bad, name, lambda p: f"{self.raw_value(name, p)} is not a valid time (or is implausibly early/late)")
            return times
        if spec.parser in ("float", "int"):
            self.raw[name] = as_text(series)
            values, bad = parse_numbers(series)
            self.flag(bad, name, lambda p: f"{self.raw_value(name, p)} is not a number")
            finite = values.notna() & ~bad
            infinite = finite & ~np.isfinite(values.fillna(0))
            low = finite & (values < spec.minimum) if spec.minimum is not None else pd.Series(False, index=values.index)
            high = finite & (values > spec.maximum) if spec.maximum is not None else pd.Series(False, index=values.index)
            out_of_range = (low | high | infinite).to_numpy(dtype=bool)
            bounds = f"{spec.minimum if spec.minimum is not None else '-∞'} to {spec.maximum if spec.maximum is not None else '∞'}"
            self.flag(out_of_range, name, lambda p: f"{values.iloc[p]:g} is out of range ({bounds})")
            if spec.parser == "int":
                fractional = finite & ~out_of_range & (values != values.round())
                self.flag(fractional, name, lambda p: f"{values.iloc[p]:g} is not a whole number")
            values = values.where(~(bad | out_of_range))
            return values.round().astype("Int64") if spec.parser == "int" else values
        if spec.parser == "bool":
            self.raw[name] = as_text(series)
            values, bad = parse_bools(series)
            self.flag(bad, name, lambda p: f"{self.raw_value(name, p)} is not yes/no (是/否, 1/0, true/false)")
            return values
        if spec.parser == "term":
            codes, bad, text = parse_terms(series, spec.terms)
            self.raw[name] = text
            if spec.closed:
                forms = spec.accepted or ", ".join(f"{t.code}/{t.zh}" for t in spec.terms)
                self.flag(bad, name, lambda p: f"{self.raw_value(name, p)} is not {spec.what} ({forms})")
                return codes
            kept = codes.where(~bad, text)
            if bad.any():
                self.report.notes.append(f"{int(bad.sum())} {name} values outside the standard list kept as given (e.g. {text[bad].iloc[0]!r})")
                if spec.max_length:
                    too_long = bad & text.map(lambda v: v is not None and len(v) > spec.max_length).astype(bool)
                    self.flag(too_long, name, lambda p: f"{self.raw_value(name, p)} is longer than {spec.max_length} characters")
            return kept
        raise ValueError(f"unknown parser {spec.parser}")

    def require(self, parsed: pd.DataFrame, names) -> None:
        for name in names:
            if name in parsed:
                empty = parsed[name].isna() & ~self._already_flagged(name)
                self.flag(empty, name, lambda p: "empty, but required")

    def _already_flagged(self, name: str) -> pd.Series:
        # A value already reported as bad should not be reported again as "empty".
        raw = self.raw.get(name)
        return raw.notna() if raw is not None else pd.Series(False, index=self.source.frame.index)

    def not_in_future(self, parsed: pd.DataFrame, name: str) -> None:
        if name in parsed:
            future = parsed[name] > self.now + EVENT_FUTURE_TOLERANCE
            self.flag(future.fillna(False), name, lambda p: f"{self.raw_value(name, p)} is in the future (naive times are read as Asia/Shanghai)")

    def not_before(self, parsed: pd.DataFrame, name: str, reference: str) -> None:
        if name in parsed and reference in parsed:
            early = (parsed[name] < parsed[reference] - pd.Timedelta(minutes=1)).fillna(False)
            self.flag(early, name, lambda p: f"{self.raw_value(name, p)} is before {reference} {self.raw_value(reference, p)}")

    def fail_if_problems(self) -> None:
        self.problems.raise_if_any()


# --- points --------------------------------------------------------------------------------------

def locate_points(ctx: Context, conn: Connection, *, required: bool) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat per row from lon+lat columns, a 'lon,lat' column or point geometries."""
    source = ctx.source
    n = len(source)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    given = np.zeros(n, dtype=bool)
    if "lon" in ctx.matched or "lat" in ctx.matched:
        if not ("lon" in ctx.matched and "lat" in ctx.matched):
            missing = "lat" if "lon" in ctx.matched else "lon"
            raise IngestError(f"{source.name}: a {('lon' if missing == 'lat' else 'lat')} column was found but no {missing} column; map it with --map {missing}=COLUMN")
        for name, target in (("lon", x), ("lat", y)):
            ctx.raw[name] = as_text(source.frame[ctx.matched[name]])
            values, bad = parse_numbers(source.frame[ctx.matched[name]])
            ctx.flag(bad, name, lambda p, name=name: f"{ctx.raw_value(name, p)} is not a number")
            target[:] = values.to_numpy(dtype=float)
        half = np.isnan(x) ^ np.isnan(y)
        ctx.flag(half, "lon" if np.isnan(x).any() else "lat", lambda p: "only one of lon/lat is given")
        given = ~np.isnan(x) & ~np.isnan(y)
    elif "point" in ctx.matched:
        text = as_text(source.frame[ctx.matched["point"]])
        ctx.raw["point"] = text
        parts = text.astype("string").str.replace(r"[\s;，]+", ",", regex=True).str.strip(",").str.split(",", n=1, expand=True)
        if parts.shape[1] == 2:
            x = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=float)
            y = pd.to_numeric(parts[1], errors="coerce").to_numpy(dtype=float)
        bad = text.notna().to_numpy() & (np.isnan(x) | np.isnan(y))
        ctx.flag(bad, "point", lambda p: f"{ctx.raw_value('point', p)} is not 'lon,lat'")
        given = ~np.isnan(x) & ~np.isnan(y)
    elif source.geometry is not None:
        geoms = np.asarray(source.geometry, dtype=object)
        kinds = shapely.get_type_id(geoms)
        is_point = kinds == 0
        multipoint = (kinds == 4) & (shapely.get_num_geometries(geoms) == 1)
        points = np.where(multipoint, shapely.get_geometry(geoms, 0), geoms)
        usable = is_point | multipoint
        other = ~usable & ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
        ctx.flag(other, "geometry", lambda p: f"a {geoms[p].geom_type}, not a point")
        x[usable] = shapely.get_x(points[usable])
        y[usable] = shapely.get_y(points[usable])
        given = usable & ~np.isnan(x)
    elif required:
        raise IngestError(f"{source.name}: no coordinates: map lon/lat columns (--map lon=COLUMN --map lat=COLUMN), a 'lon,lat' column (--map point=COLUMN) or use a point file. Columns: {', '.join(map(str, source.frame.columns))}")
    if required:
        ctx.flag(~given & ~(np.isnan(x) ^ np.isnan(y)), "lon", lambda p: "no coordinates (lon/lat), but they are required")

    crs, note = geo.resolve_crs(ctx.options.crs, source.crs)
    if note:
        ctx.report.notes.append(note)
    if crs.is_wgs84 and geo.looks_projected(x, y):
        sample = int(np.flatnonzero(np.abs(np.nan_to_num(x)) > 360)[0]) if (np.abs(np.nan_to_num(x)) > 360).any() else 0
        raise IngestError(f"{source.name}: coordinates look projected (e.g. {source.label(sample)}: x={x[sample]:.1f}, y={y[sample]:.1f}), not degrees; give their system with --crs (e.g. EPSG:3857 or EPSG:4547)")
    lon, lat = geo.convert_xy(x, y, crs)
    if not crs.is_wgs84:
        ctx.report.notes.append(f"coordinates converted from {crs.label} to WGS84")
    check_points(ctx, conn, lon, lat, x, y)
    return lon, lat


def check_points(ctx: Context, conn: Connection, lon: np.ndarray, lat: np.ndarray, x=None, y=None) -> None:
    x = lon if x is None else x
    y = lat if y is None else y
    outside = geo.outside_china(lon, lat)
    swapped = outside & ~geo.outside_china(lat, lon)
    ctx.flag(outside & swapped, "lon", lambda p: f"({x[p]:g}, {y[p]:g}) is outside China; lon and lat look swapped")
    ctx.flag(outside & ~swapped, "lon", lambda p: f"({x[p]:g}, {y[p]:g}) is outside China (lon 73–136, lat 3–54); wrong columns or wrong --crs?")
    extent = geo.city_extent(conn)
    if extent is not None:
        away = geo.outside_extent(lon, lat, extent) & ~outside
        span = f"lon {extent[0]:.2f}–{extent[2]:.2f}, lat {extent[1]:.2f}–{extent[3]:.2f}"
        ctx.flag(away, "lon", lambda p: f"({lon[p]:.6f}, {lat[p]:.6f}) is outside the city (loaded areas span {span})")


def assign_areas(conn: Connection, lon: np.ndarray, lat: np.ndarray, report: IngestReport | None = None) -> pd.DataFrame:
    """District/street/community/grid codes of the loaded areas containing each point."""
    from queries.spatial import ASSIGNED_LEVELS, assign_points, load_areas

    areas = load_areas(conn, ASSIGNED_LEVELS)
    codes = assign_points(areas, lon, lat)
    if report is not None:
        located = np.isfinite(lon) & np.isfinite(lat)
        if areas.empty:
            if located.any():
                report.notes.append("no areas loaded: area codes left empty (import boundaries first)")
        else:
            unassigned = int((codes.isna().all(axis=1).to_numpy() & located).sum())
            if unassigned:
                report.notes.append(f"{unassigned} located rows fall in no loaded area (their area codes are empty)")
    return codes


def point_wkb(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    out = np.full(len(lon), None, dtype=object)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.any():
        out[ok] = shapely.to_wkb(shapely.points(lon[ok], lat[ok]))
    return out


def geometry_wkb(geometries) -> np.ndarray:
    geometries = np.asarray(geometries, dtype=object)
    out = np.full(len(geometries), None, dtype=object)
    ok = ~shapely.is_missing(geometries)
    if ok.any():
        out[ok] = shapely.to_wkb(geometries[ok])
    return out


# --- writing -------------------------------------------------------------------------------------

def to_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values (None for missing, aware datetimes) for ``upsert``."""
    names = list(frame.columns)
    columns = []
    for name in names:
        series = frame[name]
        missing = series.isna().to_numpy(dtype=bool)
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            values = np.array(series.dt.to_pydatetime(), dtype=object)
        elif pd.api.types.is_float_dtype(series):
            values = np.array(series.to_numpy(dtype=float), dtype=object)
        elif pd.api.types.is_integer_dtype(series):
            values = np.array([int(v) if not m else None for v, m in zip(series.to_numpy(dtype=object), missing)], dtype=object)
        else:
            values = np.array(series.to_numpy(dtype=object), dtype=object)
        if missing.any():
            values[missing] = None
        columns.append(values.tolist())
    return [dict(zip(names, row)) for row in zip(*columns)]


def count_rows(conn: Connection, table: Table, dataset_code: str | None = None) -> int:
    stmt = select(func.count()).select_from(table)
    if dataset_code is not None and "dataset_code" in table.c:
        stmt = stmt.where(table.c.dataset_code == dataset_code)
    return int(conn.execute(stmt).scalar_one())


def write(conn: Connection, table: Table, frame: pd.DataFrame, key: list[str], report: IngestReport, update_columns=None) -> None:
    """Bulk upsert by natural key; counts new vs updated rows from the table size, and notes the
    districts the batch changes (``changed_districts``)."""
    report.note_partitions(changed_districts(conn, table, frame, key))
    before = count_rows(conn, table)
    upsert(conn, table, to_records(frame), key, update_columns)
    report.tables.add(table.name)
    after = count_rows(conn, table)
    report.rows_written += len(frame)
    report.inserted += after - before
    report.updated += len(frame) - (after - before)


def changed_districts(conn: Connection, table: Table, frame: pd.DataFrame, key: list[str]) -> set[str] | None:
    """The districts of ``frame``'s rows and of the rows of ``table`` they will replace (read
    before the upsert); None when that is not known cheaply — the table has no district, or the
    batch is a bulk import (more than ``PARTITION_LOOKUP_MAX_ROWS`` rows), for which every
    district counts as changed."""
    if "district_code" not in table.c or "district_code" not in frame or len(frame) > PARTITION_LOOKUP_MAX_ROWS:
        return None
    districts = {code for code in frame["district_code"].dropna()}
    key_columns = [table.c[name] for name in key]
    keys = [tuple(row[name] for name in key) for row in to_records(frame[key])]
    for start in range(0, len(keys), PARTITION_LOOKUP_CHUNK):
        chunk = keys[start : start + PARTITION_LOOKUP_CHUNK]
        where = key_columns[0].in_([k[0] for k in chunk]) if len(key) == 1 else tuple_(*key_columns).in_(chunk)
        districts.update(code for (code,) in conn.execute(select(table.c.district_code).where(where).distinct()) if code)
    return districts


def dedupe_keys(ctx: Context, frame: pd.DataFrame, key: list[str], what: str) -> pd.DataFrame:
    """Rows repeating a key already in the file: keep the last (a later row is the newer state)."""
    repeated = frame.duplicated(subset=key, keep="last")
    if repeated.any():
        count = int(repeated.sum())
        example = frame.loc[repeated, key].iloc[0].tolist()
        ctx.report.repairs.append(f"{count} rows repeat a {what} that appears later in the file (e.g. {example}); the last one was kept")
        frame = frame.loc[~repeated]
    return frame


def open_dataset(conn: Connection, options: Options, defaults: DatasetDefaults, report: IngestReport) -> str:
    code = options.dataset or defaults.code
    ensure_dataset(
        conn, code, name=defaults.name if not options.dataset else code, name_en=defaults.name_en,
        provider=options.provider or defaults.provider, provider_en=None if options.provider else defaults.provider_en,
        update_cycle=defaults.update_cycle, sharing_type=defaults.sharing_type,
    )
    if options.provider:
        conn.execute(update(Dataset).where(Dataset.code == code).values(provider=options.provider))
    report.dataset_code = code
    return code


def close_dataset(conn: Connection, code: str, table: Table, report: IngestReport, data_time, *, by_dataset: bool = True) -> None:
    report.row_count = count_rows(conn, table, code if by_dataset else None)
    newest = None
    if data_time is not None and not pd.isna(data_time):
        newest = pd.Timestamp(data_time).to_pydatetime()
        newest = min(newest, dt.datetime.now(dt.timezone.utc))  # a future deadline is not data freshness
    report.data_version = record_change(
        conn, code, "ingest", report.rows_written, tables=sorted(report.tables | {table.name}), row_count=report.row_count, data_time=newest,
        partitions=report.partitions,
        detail={"kind": report.kind, "file": report.file, "inserted": report.inserted, "updated": report.updated, "repairs": len(report.repairs)},
    )


def newest_time(parsed: pd.DataFrame, names) -> pd.Timestamp | None:
    values = [parsed[n].max() for n in names if n in parsed and parsed[n].notna().any()]
    return max(values) if values else None


def write_dataset(conn: Connection, ctx: Context, table: Table, frame: pd.DataFrame, key: list[str], what: str,
                  defaults: DatasetDefaults, data_time=None) -> None:
    """The end of every point/line import: collapse repeated keys, stamp the catalogue dataset,
    upsert, and record the change (row count, data time, version)."""
    frame = dedupe_keys(ctx, frame, key, what)
    code = open_dataset(conn, ctx.options, defaults, ctx.report)
    frame["dataset_code"] = code
    frame["updated_at"] = ctx.now
    write(conn, table, frame, key, ctx.report)
    close_dataset(conn, code, table, ctx.report, newest_time(frame, data_time) if data_time else None)
