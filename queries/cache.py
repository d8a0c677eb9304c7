"""The query cache: one cache, one decorator, Redis when configured, in-process otherwise.

Declaring a cached query::

    @cached(tables=("incidents", "areas"))
    def list_incidents(conn, area=None, *, limit=200, **filters) -> pd.DataFrame: ...

Calling it (Flask route or Dash callback; ``cache`` is ``current_context().cache``)::

    frame = cache.call(engine, list_incidents, "320706", limit=50)            # scope "public"
    frame = list_incidents.cached(cache, engine, "320706", limit=50, scope="commander:320706")
    frame = list_incidents(conn, "320706")                                    # uncached, as before

Why tables and not dataset codes: catalogue codes belong to a deployment (the demo city writes
incidents as ``LYG-YJ-0001``, the importer as ``emergency.incidents`` or whatever ``--dataset``
says), so a query can only know which *tables* it reads. The cache maps tables to the catalogue
datasets whose rows are in them (``dataset_code`` columns; tables without one inherit their
foreign-key parents' datasets plus any catalogue dataset found in no table at all, e.g. road
speeds), recomputed once per global data version and shared between workers.

A key holds the database, the function's qualified name, the caller's scope, the bound arguments
and the version of every dataset the query depends on, so ``record_change`` on one of them makes
new keys and leaves every other query's entries alone. Entries also expire after a TTL derived
from the shortest update cycle among those datasets (feeds that write without bumping a version
still age out).

A query confined to an area declares it (``@cached(tables=…, area="area_code")``): for an area
at or below a district, the dataset versions in its key are that district's (``record_change``
bumps the districts of the rows a batch wrote and of the rows it replaced, in
``dataset_partitions``) plus the version of changes that named no district. A feed writing an
incident every few seconds then leaves the other districts' entries — streets, communities,
grids below them — valid; the city's entries still change with every write.

Values are stored as bytes in one of two formats, never pickle: DataFrames (and GeoDataFrames,
geometry as WKB) as an Arrow IPC stream, everything else as JSON with tagged datetimes, decimals,
numpy scalars… Anything else read from the cache is rejected and recomputed.

Concurrent misses of one key compute once: a per-key lock in-process, ``SET NX PX`` in Redis
(waiters poll for the value; a lock whose holder died expires and one waiter takes over).
When Redis fails the cache opens a circuit breaker, serves through the in-process backend,
reports ``memory`` and the error in ``status()``, and tries Redis again every few seconds.

Last good values (the video wall keeps showing data while the database is away)::

    result = cache.call_or_last_good(engine, list_incidents, "320706")   # CallResult
    result.value, result.stale, result.as_of, result.error

Every successful ``call_or_last_good`` also keeps the encoded value in ``last_good_store``: an
in-process LRU (bounded by entries and bytes, no expiry) under a key *without* dataset versions
(database, function, scope, arguments), so it outlives the TTL and every version change and is
there when neither the database nor Redis is. A plain ``call`` keeps nothing there: nobody can
ask for its value back, and a process serving consoles and walls would otherwise fill the store
to its bound with every window and every incident's surroundings it was asked for (the wall's
soak saw its server grow by that, session 5). ``call_or_last_good`` answers
``CallResult(stale=False)`` when the query ran or hit, and, when the database is unavailable
(connection refused or lost, connect timeout, statement timeout, pool exhausted), the last good
copy with ``stale=True``,
``as_of`` (UTC, when that value was last served as current) and ``error``; with no copy it
raises ``DatabaseUnavailable``. Other errors (bad arguments, a broken query) propagate as from
``call``. After a connection failure a per-database breaker answers from the copy for
``database_retry_seconds`` without trying, so a dead server costs one connect timeout per
period, not one per panel. ``call`` itself is unchanged: it raises what the database raises.

A caller that asks the same queries again and again for a moving time window (a wall panel: the
last 24 h, today until now, ``at=now``) names itself with ``last_good_slot``::

    with cache.last_good_slot("wall:default/overview/ticker"):
        cache.call_or_last_good(engine, count_ranking, "320700", "incidents", start, now)

Inside, a call's last good key is the slot, the function, the scope and the arguments that are
not instants (datetimes, dates): the answer for this minute's window *replaces* the one for the
last minute instead of adding an entry a minute per panel, and during an outage the panel gets
its newest answer whatever window it asks for now. One slot must not ask one query for two
windows (they would share one entry): use a slot each. The slot is a context variable: it
follows the calls made inside it through other modules too.

The in-process backend drops expired entries as it goes (every ``SWEEP_EVERY`` writes), so a
process without Redis holds what is live, not the last ``max_bytes`` of every window it has seen.
"""
from __future__ import annotations

import base64
import contextvars
import datetime as dt
import decimal
import hashlib
import inspect
import json
import logging
import math
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, func, select
from sqlalchemy.engine import Engine

from queries.schema import ALL_PARTITIONS, Area, Base, ChangeLog, Dataset, DatasetPartition, DatasetTable
from queries.vocab import UPDATE_CYCLE_SECONDS

log = logging.getLogger(__name__)

# A health check must answer quickly even when Redis is a black hole.
PROBE_TIMEOUT_SECONDS = 0.5

# TTL = a tenth of the shortest update cycle, bounded: real-time data lives 30 s, daily data 1 h.
TTL_CYCLE_FRACTION = 0.1
MIN_TTL_SECONDS = 30
MAX_TTL_SECONDS = 3600
TTL_WITHOUT_DATASETS_SECONDS = 60  # nothing in the catalogue describes the data: stay short

DEFAULT_SCOPE = "public"
SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
KEY_FORMAT_VERSION = "1"
AREA_LEVELS_MAX = 8  # parents walked from an area up to its district (grid → community → street → district)
DISTRICTS_KEPT_MAX = 50_000  # area code → district lookups kept per database

# Tables whose content is the catalogue itself: every record_change touches them.
CATALOGUE_TABLES = frozenset({"datasets", "change_log", "dataset_tables"})

FRAME_MAGIC = b"CQ1A"  # Arrow IPC stream follows
JSON_MAGIC = b"CQ1J"  # UTF-8 JSON with tagged values follows
TAG = "$cq"  # marks an encoded non-JSON value inside a JSON document
GEOMETRY_METADATA = b"cityops.geometry"
JSON_COLUMNS_METADATA = b"cityops.json_columns"
OBJECT_COLUMNS_METADATA = b"cityops.object_columns"

# Argument values that are a moment in time: left out of a slot's last good key (``last_good_slot``).
INSTANT_TAGS = frozenset({"datetime", "naive_datetime", "date"})
SLOT_PATTERN = re.compile(r"^[^\x00-\x1f]{1,256}$")


class CacheError(Exception):
    """Base of the cache's own errors."""


class UnhashableArgument(CacheError, TypeError):
    """An argument the cache cannot turn into a stable key."""


class UncacheableValue(CacheError, TypeError):
    """A query result the cache cannot serialise exactly."""


class CorruptCacheEntry(CacheError, ValueError):
    """Bytes in the cache that are not one of our formats (never unpickled, never trusted)."""


class DatabaseUnavailable(CacheError):
    """``call_or_last_good``: the database did not answer and no good value of this call is held.

    ``error`` is the driver's first line (or the breaker's last one); ``__cause__`` the original
    exception when this call tried the database."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


# ---------------------------------------------------------------------------------------------
# Values ⇄ bytes
# ---------------------------------------------------------------------------------------------


def encode_value(value, *, where: str = "value") -> bytes:
    """Bytes for ``value``: Arrow for a DataFrame, tagged JSON otherwise; UncacheableValue if neither fits."""
    if isinstance(value, pd.DataFrame):
        return FRAME_MAGIC + _frame_to_arrow(value, where)
    document = _to_json(value, where)
    try:
        return JSON_MAGIC + json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:  # pragma: no cover - _to_json already refuses these
        raise UncacheableValue(f"{where}: {exc}") from exc


def decode_value(data: bytes):
    """The value ``encode_value`` made; CorruptCacheEntry for anything else (pickle included)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptCacheEntry(f"cache entry is {type(data).__name__}, not bytes")
    data = bytes(data)
    magic, payload = data[:4], data[4:]
    try:
        if magic == FRAME_MAGIC:
            return _frame_from_arrow(payload)
        if magic == JSON_MAGIC:
            return _from_json(json.loads(payload.decode("utf-8")))
    except CorruptCacheEntry:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure means the entry is not ours
        raise CorruptCacheEntry(f"unreadable cache entry: {type(exc).__name__}: {exc}") from exc
    raise CorruptCacheEntry(f"cache entry has unknown format (starts with {data[:8]!r})")


def _to_json(value, where: str):
    """A JSON-able document for ``value``; values JSON cannot hold exactly are tagged."""
    # Order matters: numpy floats are floats, Timestamps are datetimes, bools are ints.
    if value is None or type(value) is bool or type(value) is str:
        return value
    if type(value) is int:
        return value
    if isinstance(value, str) and not isinstance(value, np.generic):
        return str(value)  # str subclasses (enums, SQL names) come back as plain text
    if type(value) is float:
        return value if math.isfinite(value) else {TAG: "float", "v": repr(value)}
    if isinstance(value, np.generic):
        return _numpy_scalar_to_json(value, where)
    if value is pd.NaT:
        return {TAG: "nat"}
    if value is pd.NA:
        return {TAG: "na"}
    if isinstance(value, pd.Timestamp):
        return {TAG: "timestamp", "v": value.isoformat(), "tz": None if value.tz is None else str(value.tz)}
    if type(value) is dt.datetime:
        if value.tzinfo is None:
            return {TAG: "naive_datetime", "v": value.isoformat()}
        return {TAG: "datetime", "v": value.astimezone(dt.timezone.utc).isoformat()}
    if type(value) is dt.date:
        return {TAG: "date", "v": value.isoformat()}
    if type(value) is dt.time:
        return {TAG: "time", "v": value.isoformat()}
    if type(value) is dt.timedelta:
        return {TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if type(value) is decimal.Decimal:
        return {TAG: "decimal", "v": str(value)}
    if type(value) is bytes:
        return {TAG: "bytes", "v": base64.b64encode(value).decode("ascii")}
    if type(value) is list:
        return [_to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if type(value) is tuple:
        return {TAG: "tuple", "v": [_to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]}
    if type(value) in (set, frozenset):
        items = sorted((_to_json(item, f"{where}{{…}}") for item in value), key=_canonical_text)
        return {TAG: type(value).__name__, "v": items}
    if type(value) is dict:
        if all(type(k) is str for k in value) and TAG not in value:
            return {k: _to_json(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {TAG: "dict", "v": [[_to_json(k, f"{where} key"), _to_json(v, f"{where}[{k!r}]")] for k, v in value.items()]}
    if isinstance(value, pd.DataFrame):
        return {TAG: "frame", "v": base64.b64encode(_frame_to_arrow(value, where)).decode("ascii")}
    if isinstance(value, pd.Series):
        frame = value.to_frame(name="values")
        return {TAG: "series", "name": _to_json(value.name, f"{where}.name"), "v": base64.b64encode(_frame_to_arrow(frame, where)).decode("ascii")}
    if _is_geometry(value):
        import shapely

        return {TAG: "geometry", "v": shapely.to_wkb(value, hex=True)}
    raise UncacheableValue(
        f"{where}: cannot cache a {type(value).__module__}.{type(value).__qualname__}; return DataFrames, dicts, lists "
        "or scalars (str, int, float, bool, None, datetime, date, Decimal, numpy scalars, shapely geometries)"
    )


def _numpy_scalar_to_json(value: np.generic, where: str):
    if isinstance(value, np.bool_):
        return {TAG: "np", "dtype": "bool", "v": bool(value)}
    if isinstance(value, np.integer):
        return {TAG: "np", "dtype": value.dtype.name, "v": int(value)}
    if isinstance(value, np.floating):
        return {TAG: "np", "dtype": value.dtype.name, "v": repr(float(value))}
    if isinstance(value, np.datetime64):
        return {TAG: "datetime64", "v": str(value)}
    raise UncacheableValue(f"{where}: cannot cache numpy {value.dtype} scalars")


def _from_json(document):
    if isinstance(document, list):
        return [_from_json(item) for item in document]
    if not isinstance(document, dict):
        return document
    tag = document.get(TAG)
    if tag is None:
        return {k: _from_json(v) for k, v in document.items()}
    value = document.get("v")
    if tag == "float":
        return float(value)
    if tag == "np":
        if document["dtype"] == "bool":
            return np.bool_(value)
        dtype = np.dtype(document["dtype"])
        if dtype.kind not in "iuf":
            raise CorruptCacheEntry(f"unexpected numpy dtype {dtype}")
        return dtype.type(float(value) if dtype.kind == "f" else int(value))
    if tag == "datetime64":
        return np.datetime64(value)
    if tag == "nat":
        return pd.NaT
    if tag == "na":
        return pd.NA
    if tag == "timestamp":
        stamp = pd.Timestamp(value)
        return stamp if document["tz"] is None else stamp.tz_convert(document["tz"])
    if tag == "datetime":
        return dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc)
    if tag == "naive_datetime":
        return dt.datetime.fromisoformat(value)
    if tag == "date":
        return dt.date.fromisoformat(value)
    if tag == "time":
        return dt.time.fromisoformat(value)
    if tag == "timedelta":
        return dt.timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    if tag == "decimal":
        return decimal.Decimal(value)
    if tag == "bytes":
        return base64.b64decode(value)
    if tag == "tuple":
        return tuple(_from_json(item) for item in value)
    if tag == "set":
        return {_from_json(item) for item in value}
    if tag == "frozenset":
        return frozenset(_from_json(item) for item in value)
    if tag == "dict":
        return {_from_json(k): _from_json(v) for k, v in value}
    if tag == "frame":
        return _frame_from_arrow(base64.b64decode(value))
    if tag == "series":
        series = _frame_from_arrow(base64.b64decode(value))["values"]
        series.name = _from_json(document["name"])
        return series
    if tag == "geometry":
        import shapely

        return shapely.from_wkb(value)
    raise CorruptCacheEntry(f"unknown tag {tag!r}")


def _is_geometry(value) -> bool:
    try:
        import shapely
    except ImportError:  # pragma: no cover - shapely is a dependency
        return False
    return isinstance(value, shapely.Geometry)


def _frame_to_arrow(frame: pd.DataFrame, where: str) -> bytes:
    """Arrow IPC stream bytes; geometry columns as WKB, object columns of nested values as tagged JSON text."""
    if not all(isinstance(name, str) for name in frame.columns) or frame.columns.has_duplicates:
        raise UncacheableValue(f"{where}: DataFrame columns must be unique strings, got {list(frame.columns)!r}")
    frame = frame.copy(deep=False)
    metadata: dict[bytes, bytes] = {}
    geometry_columns = _geometry_columns(frame)
    if geometry_columns:
        import shapely

        active = getattr(frame, "_geometry_column_name", None)
        crs = frame[active].crs if active in geometry_columns else frame[geometry_columns[0]].crs
        metadata[GEOMETRY_METADATA] = json.dumps({"columns": geometry_columns, "active": active, "crs": crs.to_wkt() if crs is not None else None}).encode()
        frame = pd.DataFrame({name: (shapely.to_wkb(np.asarray(frame[name].array, dtype=object)) if name in geometry_columns else frame[name]) for name in frame.columns}, index=frame.index)
    json_columns, object_columns = [], []
    for name in frame.columns:
        if frame[name].dtype != object or name in geometry_columns:
            continue
        object_columns.append(name)
        cells = [cell for cell in frame[name] if cell is not None]
        families = {_cell_family(cell) for cell in cells}
        mixed_times = dt.datetime in families and len({cell.tzinfo is None for cell in cells}) > 1
        if len(families) > 1 or None in families or mixed_times:  # mixed or nested values: one tagged JSON text per cell
            json_columns.append(name)
            frame[name] = [None if cell is None else json.dumps(_to_json(cell, f"{where}[{name!r}]"), ensure_ascii=False, allow_nan=False) for cell in frame[name]]
    if json_columns:
        metadata[JSON_COLUMNS_METADATA] = json.dumps(json_columns).encode()
    if object_columns:
        metadata[OBJECT_COLUMNS_METADATA] = json.dumps(object_columns).encode()
    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise UncacheableValue(f"{where}: DataFrame cannot be stored as Arrow: {exc}") from exc
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _cell_family(cell):
    """The plain type of a cell of an object column, or None when the cell needs tagged JSON.

    NaN needs JSON: Arrow would read it as a null and hand back None.
    """
    if type(cell) is float and math.isnan(cell):
        return None
    for family in (str, bytes, bool, int, float, dt.datetime, dt.date, decimal.Decimal):
        if type(cell) is family:
            return family
    return None


def _geometry_columns(frame: pd.DataFrame) -> list[str]:
    names = []
    for name in frame.columns:
        if getattr(frame[name].dtype, "name", "") == "geometry":
            names.append(name)
    return names


def _frame_from_arrow(payload: bytes) -> pd.DataFrame:
    reader = pa.ipc.open_stream(payload)
    # Extension types are the one place Arrow readers ever deserialised Python objects: refuse them.
    if any(isinstance(field.type, pa.ExtensionType) for field in reader.schema):
        raise CorruptCacheEntry("cache entry holds an Arrow extension type")
    table = reader.read_all()
    metadata = table.schema.metadata or {}
    object_columns = json.loads(metadata.get(OBJECT_COLUMNS_METADATA, b"[]"))
    json_columns = set(json.loads(metadata.get(JSON_COLUMNS_METADATA, b"[]")))
    frame = table.to_pandas()
    for name in object_columns:
        # Arrow would hand back str/float dtypes with NaN; the query returned Python objects and None.
        cells = table.column(name).to_pylist()
        if name in json_columns:
            cells = [None if cell is None else _from_json(json.loads(cell)) for cell in cells]
        frame[name] = pd.Series(cells, index=frame.index, dtype=object)
    geometry = metadata.get(GEOMETRY_METADATA)
    if geometry:
        import geopandas
        import shapely

        spec = json.loads(geometry)
        for name in spec["columns"]:
            frame[name] = geopandas.GeoSeries(shapely.from_wkb(np.asarray(frame[name].array, dtype=object)), index=frame.index)
        frame = geopandas.GeoDataFrame(frame, geometry=spec["active"] or spec["columns"][0], crs=spec["crs"])
    return frame


# ---------------------------------------------------------------------------------------------
# Arguments → key
# ---------------------------------------------------------------------------------------------


def canonical_argument(value, where: str):
    """A JSON-able, order-independent form of one argument; UnhashableArgument for anything else."""
    if value is None or type(value) in (bool, str, int):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {TAG: "float", "v": repr(value)}
    if isinstance(value, np.generic) and not isinstance(value, np.datetime64):
        return canonical_argument(value.item(), where)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return {TAG: "naive_datetime", "v": value.isoformat()}
        return {TAG: "datetime", "v": value.astimezone(dt.timezone.utc).isoformat()}
    if type(value) in (dt.date, dt.time, dt.timedelta, decimal.Decimal):
        return _to_json(value, where)
    if type(value) in (list, tuple):  # the same query either way
        return [canonical_argument(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if type(value) in (set, frozenset):
        return {TAG: "set", "v": sorted((canonical_argument(item, where) for item in value), key=_canonical_text)}
    if isinstance(value, Mapping):
        items = [[canonical_argument(k, f"{where} key"), canonical_argument(v, f"{where}[{k!r}]")] for k, v in value.items()]
        return {TAG: "map", "v": sorted(items, key=lambda kv: _canonical_text(kv[0]))}
    raise UnhashableArgument(
        f"argument {where} of type {type(value).__module__}.{type(value).__qualname__} cannot be part of a cache key; "
        "pass plain values (str, int, float, bool, None, datetime, date, Decimal, lists, sets, dicts of those)"
    )


def _canonical_text(document) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# The decorator
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuerySpec:
    """What the cache knows about a decorated query."""

    function: Callable
    name: str  # module.qualname: part of every key
    tables: tuple[str, ...]
    ttl: float | None
    signature: inspect.Signature
    area: str | None = None  # the parameter holding the area code the query is confined to (``cached``)

    def bound_arguments(self, args: tuple, kwargs: dict) -> dict:
        """Arguments by parameter name with defaults applied (f(a) and f(area=a) are the same key)."""
        try:
            bound = self.signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}: {exc}") from None
        bound.apply_defaults()
        names = list(self.signature.parameters)[1:]  # the first parameter is the connection
        return {name: canonical_argument(bound.arguments[name], f"{name!r} of {self.name}") for name in names if name in bound.arguments}


def cached(*, tables: Iterable[str], ttl: float | None = None, area: str | None = None):
    """Declare a query ``f(conn, *args, **kwargs)`` cacheable and the tables it reads.

    The function itself is returned unchanged (calling it still runs the query); the cache is
    used through ``cache.call(engine, f, ...)`` or ``f.cached(cache, engine, ...)``. ``ttl``
    overrides the TTL derived from the datasets' update cycles.

    ``area`` names the parameter holding an area code (or a mapping with its ``"code"``) when
    the query reads only rows *inside* that area (filtered by their ``<level>_code`` columns, never by distance or box): for an area
    at or below a district its entries then depend on that district's versions of the datasets
    (``dataset_partitions``) instead of the datasets' whole versions, so a feed writing in one
    district leaves the other districts' entries valid. A query that also reads rows outside the
    area (neighbours, a parent's totals, a radius) must not declare it.
    """
    tables = tuple(sorted(set(tables)))
    known = set(Base.metadata.tables)
    unknown = [t for t in tables if t not in known]
    if not tables or unknown:
        raise ValueError(f"@cached(tables=…) needs table names of queries.schema; unknown: {unknown or '(none given)'}; known: {sorted(known)}")
    if ttl is not None and not ttl > 0:
        raise ValueError(f"@cached ttl must be positive seconds, not {ttl!r}")

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)
        parameters = list(signature.parameters)
        if not parameters:
            raise TypeError(f"{function.__qualname__}: a cached query takes the connection as first argument")
        if "scope" in parameters:
            raise TypeError(f"{function.__qualname__}: 'scope' is reserved by the cache (the caller's role/area), rename the parameter")
        if area is not None and area not in parameters[1:]:
            raise TypeError(f"{function.__qualname__}: @cached(area={area!r}) names no parameter of the query ({', '.join(parameters[1:])})")
        spec = QuerySpec(function, f"{function.__module__}.{function.__qualname__}", tables, ttl, signature, area)
        function.__cache_spec__ = spec

        def cached_call(cache: QueryCache, bind, *args, scope: str = DEFAULT_SCOPE, **kwargs):
            return cache.call(bind, function, *args, scope=scope, **kwargs)

        function.cached = cached_call
        return function

    return decorate


def spec_of(function: Callable) -> QuerySpec:
    spec = getattr(function, "__cache_spec__", None)
    if spec is None:
        raise TypeError(f"{getattr(function, '__qualname__', function)!r} is not a cached query: declare its tables with @cached(tables=…)")
    return spec


# ---------------------------------------------------------------------------------------------
# Tables → datasets → versions and TTL
# ---------------------------------------------------------------------------------------------


def table_datasets(conn: Connection) -> dict[str, list[str]]:
    """For every table, the catalogue datasets whose change may change its rows.

    From ``dataset_tables``, which ``record_change`` fills with the tables each batch wrote — a
    read of the small catalogue, never a scan of the data tables. A dataset that never declared
    its tables is taken to touch every table (invalidating too much is safe, too little is not);
    a table also depends on its foreign-key parents' datasets; the catalogue tables on every dataset.
    """
    catalogue = set(conn.scalars(select(Dataset.code)))
    declared: dict[str, set[str]] = {}
    for dataset_code, table_name in conn.execute(select(DatasetTable.dataset_code, DatasetTable.table_name)):
        declared.setdefault(table_name, set()).add(dataset_code)
    undeclared = catalogue - set().union(*declared.values())

    def datasets_of(table, seen: frozenset) -> set[str]:
        if table.name in CATALOGUE_TABLES:
            return set(catalogue)
        codes = declared.get(table.name, set()) | undeclared
        for key in table.foreign_keys:
            parent = key.column.table
            if parent.name not in seen:
                codes |= datasets_of(parent, seen | {parent.name})
        return codes

    return {str(t.name): sorted(datasets_of(t, frozenset({t.name}))) for t in Base.metadata.sorted_tables}


def ttl_for_cycles(cycles: Iterable[str]) -> float:
    """TTL from the shortest update cycle among the datasets, bounded; unknown cycles count as the longest."""
    seconds = [UPDATE_CYCLE_SECONDS.get(c) for c in cycles]
    if not seconds:
        return TTL_WITHOUT_DATASETS_SECONDS
    regular = [s for s in seconds if s is not None]
    if not regular:
        return MAX_TTL_SECONDS
    return float(min(MAX_TTL_SECONDS, max(MIN_TTL_SECONDS, min(regular) * TTL_CYCLE_FRACTION)))


def database_identity(engine: Engine) -> str:
    """A short stable id of the database an engine points at (password never part of it)."""
    url = engine.url.render_as_string(hide_password=True)
    return hashlib.sha256(url.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------


class _ComputeOnce:
    """The value producer of one call: runs at most once even if the call falls back from Redis to memory."""

    def __init__(self, produce: Callable[[], bytes]):
        self._produce = produce
        self._data: bytes | None = None
        self.ran = False

    def __call__(self) -> bytes:
        if not self.ran:
            self._data = self._produce()
            self.ran = True
        return self._data


NEAR_SECONDS = 10.0  # how long a process keeps its near copy of a Redis entry


class MemoryBackend:
    """In-process LRU of encoded values, bounded by bytes and entries, with TTL; thread-safe.

    Expired entries go when read, at every write those at the least recently used end, and
    every ``sweep_every`` writes all at once: keys of moving windows are never read again once
    their minute has passed, and would otherwise stay until the bounds push them out (the whole
    ``max_bytes`` held for nothing — a near copy of 10-second entries filled its bound that way).
    """

    name = "memory"
    SWEEP_EVERY = 256

    def __init__(self, max_bytes: int = 128 * 1024 * 1024, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic,
                 sweep_every: int = SWEEP_EVERY):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.sweep_every = max(1, int(sweep_every))
        self._writes = 0
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict[str, list] = {}  # key → [lock, users]: single flight per key

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def set(self, key: str, data: bytes, ttl: float) -> None:
        if len(data) > self.max_bytes:
            return  # larger than the whole cache: not worth evicting everything for
        with self._lock:
            if key in self._entries:
                self._remove(key)
            now = self._clock()
            self._entries[key] = (now + ttl, data)
            self._bytes += len(data)
            self._writes += 1
            while self._entries:
                oldest, (expires, _) = next(iter(self._entries.items()))
                if expires > now:
                    break
                self._remove(oldest)
            if self._writes % self.sweep_every == 0:
                self._sweep()
            while self._bytes > self.max_bytes or len(self._entries) > self.max_entries:
                self._remove(next(iter(self._entries)))

    def _sweep(self) -> None:
        """Drop every expired entry (the caller holds the lock)."""
        now = self._clock()
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            self._remove(key)

    def ttl(self, key: str) -> float | None:
        """Seconds until the entry expires, None when absent."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else max(0.0, entry[0] - self._clock())

    def delete(self, key: str) -> None:
        with self._lock:
            if key in self._entries:
                self._remove(key)

    def clear(self, prefix: str = "") -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                self._remove(key)

    def size(self) -> tuple[int, int]:
        with self._lock:
            return len(self._entries), self._bytes

    def _remove(self, key: str) -> None:
        _, data = self._entries.pop(key)
        self._bytes -= len(data)

    @contextmanager
    def _key_lock(self, key: str):
        with self._lock:
            holder = self._key_locks.setdefault(key, [threading.Lock(), 0])
            holder[1] += 1
        try:
            with holder[0]:
                yield
        finally:
            with self._lock:
                holder[1] -= 1
                if holder[1] == 0:
                    del self._key_locks[key]

    def get_or_compute(self, key: str, produce: Callable[[], bytes], ttl: float) -> bytes:
        data = self.get(key)
        if data is not None:
            return data
        with self._key_lock(key):
            data = self.get(key)  # computed by the thread we waited for
            if data is None:
                data = produce()
                self.set(key, data, ttl)
            return data


# Compare-and-delete: release the lock only if we still hold it (it may have expired and been retaken).
RELEASE_LOCK_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisBackend:
    """Values in Redis with ``PX`` expiry; single flight across processes with a ``SET NX PX`` lock."""

    name = "redis"

    def __init__(self, client, *, lock_seconds: float = 30.0, max_wait_seconds: float = 60.0, poll_seconds: tuple[float, float] = (0.005, 0.05)):
        self.client = client
        self.lock_seconds = lock_seconds  # longest computation before a waiter may assume the holder died
        self.max_wait_seconds = max_wait_seconds  # then compute regardless
        self.poll_seconds = poll_seconds
        self._release = client.register_script(RELEASE_LOCK_SCRIPT)

    def get(self, key: str) -> bytes | None:
        return self.client.get(key)

    def _release_lock(self, lock_key: str, token: str) -> None:
        import redis

        try:
            self._release(keys=[lock_key], args=[token])
        except redis.RedisError as exc:  # the lock expires by itself; keep the query's own outcome
            log.warning("cache: could not release %s: %s", lock_key, exc)

    def set(self, key: str, data: bytes, ttl: float) -> None:
        self.client.set(key, data, px=max(1, int(ttl * 1000)))

    def ttl(self, key: str) -> float | None:
        milliseconds = self.client.pttl(key)
        return None if milliseconds < 0 else milliseconds / 1000

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def clear(self, prefix: str) -> None:
        for batch in _batched(self.client.scan_iter(match=f"{prefix}*", count=500), 500):
            self.client.delete(*batch)

    def ping(self) -> bool:
        return bool(self.client.ping())

    def get_or_compute(self, key: str, produce: Callable[[], bytes], ttl: float) -> bytes:
        data = self.client.get(key)
        if data is not None:
            return data
        lock_key, token = f"{key}:lock", uuid.uuid4().hex
        delay, shortest_delay = self.poll_seconds
        deadline = time.monotonic() + self.max_wait_seconds
        while True:
            if self.client.set(lock_key, token, nx=True, px=int(self.lock_seconds * 1000)):
                try:
                    data = self.client.get(key)  # stored between our GET and our lock
                    if data is None:
                        data = produce()
                        self.set(key, data, ttl)
                    return data
                finally:
                    self._release_lock(lock_key, token)
            time.sleep(delay)
            delay = min(delay * 1.5, shortest_delay)
            data = self.client.get(key)
            if data is not None:
                return data
            if time.monotonic() > deadline:  # the holder is alive but slow: answer anyway, uncached
                log.warning("cache: waited %.0f s for %s, computing without the lock", self.max_wait_seconds, key)
                return produce()


def _batched(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def error_text(exc: BaseException) -> str:
    """``Type: first line`` of the driver's own error (SQLAlchemy's wrapper adds SQL and a link)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}".strip()


# SQLSTATE of a statement cut off by statement_timeout: the server is up, only busy.
QUERY_CANCELED_SQLSTATE = "57014"


def database_unavailable(exc: BaseException) -> bool:
    """Is ``exc`` the database not answering (as opposed to a bug in a query or its arguments)?

    Operational and interface errors (refused or lost connection, connect timeout, server
    shutting down, statement timeout) and SQLAlchemy's pool timeout.
    """
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def _connection_failure(exc: BaseException) -> bool:
    """Unavailable *and* not just a statement timeout: worth opening the database breaker."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) != QUERY_CANCELED_SQLSTATE


class CircuitBreaker:
    """Stops calling a service after a failure; lets one call try again every ``retry_seconds``."""

    def __init__(
        self,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        failed_message: str = "cache: Redis failed (%s), serving from the in-process cache",
        recovered_message: str = "cache: Redis answers again, using it",
    ):
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._failed_message = failed_message
        self._recovered_message = recovered_message
        self._lock = threading.Lock()
        self._open = False
        self._retry_at = 0.0
        self.error: str | None = None
        self.trials = 0  # calls allowed through while open (each may pay a connect timeout)

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open

    def allow(self) -> bool:
        with self._lock:
            if not self._open:
                return True
            now = self._clock()
            if now < self._retry_at:
                return False
            self._retry_at = now + self.retry_seconds  # one trial per period, the others keep using memory
            self.trials += 1
            return True

    def succeeded(self) -> None:
        with self._lock:
            if self._open:
                log.warning(self._recovered_message)
            self._open, self.error = False, None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if not self._open:
                log.warning(self._failed_message, error_text(exc))
            self._open = True
            self._retry_at = self._clock() + self.retry_seconds
            self.error = error_text(exc)


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheProbe:
    backend: str  # "redis" or "memory"
    error: str | None = None  # why Redis was configured but is not used


@dataclass
class CacheCounters:
    hits: int = 0
    near_hits: int = 0  # of the hits, those answered from this process's near copy without asking Redis
    computations: int = 0  # query functions actually run
    redis_failures: int = 0
    corrupt_entries: int = 0
    database_failures: int = 0  # call_or_last_good: attempts that found the database unavailable
    stale_answers: int = 0  # call_or_last_good: answered from the last good copy


@dataclass(frozen=True)
class CallResult:
    """What ``call_or_last_good`` answers: the value and how fresh it is.

    ``stale`` False: the query ran or hit the cache just now and ``as_of`` is now. ``stale`` True:
    the database was unavailable; ``value`` is the last good one, which was current at ``as_of``
    (UTC, the last time a call served it), and ``error`` says why it is not fresher.
    """

    value: object
    stale: bool
    as_of: dt.datetime
    error: str | None = None


@dataclass(frozen=True)
class LastGood:
    data: bytes  # encode_value bytes, decoded on every read (callers may mutate what they get)
    as_of: dt.datetime


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# The caller's last good slot (``QueryCache.last_good_slot``): a context variable, so that it
# follows a wall panel's reads into the modules they go through and stays in its own thread.
_LAST_GOOD_SLOT: contextvars.ContextVar[str | None] = contextvars.ContextVar("cityops_last_good_slot", default=None)
# The catalogue snapshots of ``QueryCache.one_snapshot`` (database identity → snapshot), or None.
_SNAPSHOTS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("cityops_catalogue_snapshots", default=None)


class LastGoodStore:
    """The newest good encoded value per version-less key: an in-process LRU bounded by entries
    and bytes, with no expiry (an outage can outlast any TTL). Thread-safe."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024, max_entries: int = 2000, now: Callable[[], dt.datetime] = _utc_now):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._now = now
        self._entries: OrderedDict[str, LastGood] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> dt.datetime:
        """Keep ``data`` as the last good value of ``key`` as of now; returns that time."""
        entry = LastGood(data, self._now())
        if len(data) > self.max_bytes:
            return entry.as_of
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.data)
            self._entries[key] = entry
            self._bytes += len(data)
            while self._bytes > self.max_bytes or len(self._entries) > self.max_entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.data)
        return entry.as_of

    def get(self, key: str) -> LastGood | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def size(self) -> tuple[int, int]:
        with self._lock:
            return len(self._entries), self._bytes


class QueryCache:
    """One cache for all queries; build it once per app (``QueryCache.from_settings``) and keep it on the app context."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        key_prefix: str = "cityops",
        memory: MemoryBackend | None = None,
        retry_seconds: float = 5.0,
        socket_timeout: float = 1.0,
        connect_timeout: float = 0.25,
        lock_seconds: float = 30.0,
        max_wait_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        last_good: LastGoodStore | None = None,
        database_retry_seconds: float = 2.0,
        near: MemoryBackend | None = None,
        near_seconds: float = NEAR_SECONDS,
    ):
        self.key_prefix = key_prefix
        self.memory = memory or MemoryBackend()
        # With Redis: the entries this process read or wrote last, for ``near_seconds`` (see _fetch).
        self.near = near
        self.near_seconds = near_seconds
        self.last_good_store = last_good or LastGoodStore()
        self.database_retry_seconds = database_retry_seconds
        self._database_breakers: dict[str, CircuitBreaker] = {}  # database identity → breaker
        self.redis: RedisBackend | None = None
        if redis_url:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # No client-side retries and short timeouts: the breaker decides when to try again.
            client = redis.Redis.from_url(
                redis_url, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout, retry=Retry(NoBackoff(), 0), health_check_interval=0
            )
            self.redis = RedisBackend(client, lock_seconds=lock_seconds, max_wait_seconds=max_wait_seconds)
        self._clock = clock
        self.breaker = CircuitBreaker(retry_seconds, clock)
        self.counters = CacheCounters()
        self._counter_lock = threading.Lock()
        self._maps_lock = threading.Lock()
        self._maps: dict[str, tuple[int, dict[str, list[str]]]] = {}  # database id → (data version, table→datasets)
        self._districts: dict[str, tuple[str, dict[str, str | None]]] = {}  # database id → (areas' versions, area code → district)

    @classmethod
    def from_settings(cls, settings, **options) -> "QueryCache":
        options.setdefault("last_good", LastGoodStore(max_bytes=settings.last_good_mb * 1024 * 1024))
        if settings.redis_url and settings.cache_near_mb:
            options.setdefault("near", MemoryBackend(max_bytes=settings.cache_near_mb * 1024 * 1024))
        return cls(settings.redis_url, **options)

    # -- calling ------------------------------------------------------------------------------

    def call(self, bind: Engine | Connection, function: Callable, /, *args, scope: str = DEFAULT_SCOPE, **kwargs):
        """``function(conn, *args, **kwargs)`` through the cache.

        ``bind`` is an Engine (a connection is taken only for the version check and, on a miss,
        for the query) or an open Connection. ``scope`` names the caller's role/area: results
        that differ by who asks (masked personal data, area restrictions) must differ by scope.
        """
        return self._call(bind, function, args, scope, kwargs)[0]

    def _call(self, bind, function: Callable, args: tuple, scope: str, kwargs: dict) -> tuple[object, bytes]:
        """``call``'s value and its encoded form."""
        spec = spec_of(function)
        key, cycles, arguments = self._key_and_cycles(bind, spec, scope, args, kwargs)
        ttl = spec.ttl or ttl_for_cycles(cycles)

        def produce() -> bytes:
            with _connection(bind) as conn:
                value = function(conn, *args, **kwargs)
            return encode_value(value, where=f"result of {spec.name}")

        return self._fetch_counted(key, produce, ttl)

    def _fetch_counted(self, key: str, produce: Callable[[], bytes], ttl: float) -> tuple[object, bytes]:
        """``_fetch_decoded``'s value and bytes, counted as a computation or a hit."""

        def counted() -> bytes:
            with self._count() as counters:
                counters.computations += 1
            return produce()

        value, data, computed = self._fetch_decoded(key, counted, ttl)
        if not computed:
            with self._count() as counters:
                counters.hits += 1
        return value, data

    def shared(self, bind: Engine | Connection, name: str, parts: dict, produce: Callable[[], object], ttl: float):
        """``produce()``'s value, computed once for ``parts`` across threads, workers and hosts
        (Redis, or this process's memory) and kept ``ttl`` seconds.

        For what is built *from* the data of ``bind``'s database and is the same for many
        callers — a rendered page section every leader of one area, language and masking class
        sees. ``parts`` must name everything else the value depends on (a time bucket for data
        that ages): the key is the database's identity and their canonical digest, no dataset
        version is added. ``produce`` may raise to keep a value from being shared."""
        if not ttl > 0:
            raise ValueError(f"shared ttl must be positive seconds, not {ttl!r}")
        canonical = {key: canonical_argument(value, f"{name}.{key}") for key, value in sorted(parts.items())}
        digest = hashlib.sha256(_canonical_text(canonical).encode()).hexdigest()[:32]
        key = f"{self.key_prefix}:s{KEY_FORMAT_VERSION}:{database_identity(_engine_of(bind))}:{name}:{digest}"

        return self._fetch_counted(key, lambda: encode_value(produce(), where=f"shared value {name}"), ttl)[0]

    def call_or_last_good(self, bind: Engine | Connection, function: Callable, /, *args, scope: str = DEFAULT_SCOPE, **kwargs) -> CallResult:
        """``call``, or the last good value of the same call when the database is unavailable.

        Returns ``CallResult(value, stale, as_of, error)`` (see the module docstring); raises
        ``DatabaseUnavailable`` when the database is unavailable and no good value is held, and
        whatever ``call`` raises for anything else (bad arguments, a failing query).
        """
        spec = spec_of(function)
        _check_scope(scope)
        arguments = spec.bound_arguments(args, kwargs)  # refuses bad arguments before any I/O
        engine = _engine_of(bind)
        breaker = self._database_breaker(engine)
        cause: BaseException | None = None
        if breaker.allow():
            try:
                value, data = self._call(bind, function, args, scope, kwargs)
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                cause, error = exc, error_text(exc)
                with self._count() as counters:
                    counters.database_failures += 1
                if _connection_failure(exc):
                    breaker.failed(exc)
            else:
                breaker.succeeded()
                as_of = self.last_good_store.put(self.last_good_key_for(spec, engine, scope, arguments), data)
                return CallResult(value, False, as_of)
        else:
            error = breaker.error or "database unavailable"
        entry = self.last_good_store.get(self.last_good_key_for(spec, engine, scope, arguments))
        if entry is None:
            raise DatabaseUnavailable(error) from cause
        with self._count() as counters:
            counters.stale_answers += 1
        return CallResult(decode_value(entry.data), True, entry.as_of, error)

    def last_good(self, bind: Engine | Connection, function: Callable, /, *args, scope: str = DEFAULT_SCOPE, **kwargs) -> CallResult | None:
        """The last good value of this call (kept by ``call_or_last_good``) held in this process,
        without touching the database or Redis (``bind`` only names the database); None when
        there is none. Always ``stale=True``: whether it is still current is not known without
        asking."""
        spec = spec_of(function)
        _check_scope(scope)
        entry = self.last_good_store.get(self.last_good_key_for(spec, _engine_of(bind), scope, spec.bound_arguments(args, kwargs)))
        return None if entry is None else CallResult(decode_value(entry.data), True, entry.as_of)

    @staticmethod
    @contextmanager
    def last_good_slot(slot: str):
        """Calls inside keep (and look up) their last good value per ``slot`` rather than per
        window: see the module docstring. Slots nest; the innermost counts."""
        if not isinstance(slot, str) or not SLOT_PATTERN.match(slot):
            raise ValueError(f"a last good slot is 1–256 printable characters, not {slot!r}")
        token = _LAST_GOOD_SLOT.set(slot)
        try:
            yield slot
        finally:
            _LAST_GOOD_SLOT.reset(token)

    def _database_breaker(self, engine: Engine) -> CircuitBreaker:
        database = database_identity(engine)
        with self._maps_lock:
            breaker = self._database_breakers.get(database)
            if breaker is None:
                breaker = self._database_breakers[database] = CircuitBreaker(
                    self.database_retry_seconds, self._clock,
                    failed_message="cache: database unavailable (%s), answering from the last good values",
                    recovered_message="cache: database answers again",
                )
            return breaker

    def key_of(self, bind: Engine | Connection, function: Callable, /, *args, scope: str = DEFAULT_SCOPE, **kwargs) -> str:
        """The key ``call`` would use right now (operators and tests)."""
        return self._key_and_cycles(bind, spec_of(function), scope, args, kwargs)[0]

    def _key_and_cycles(self, bind, spec: QuerySpec, scope: str, args: tuple, kwargs: dict) -> tuple[str, list[str], dict]:
        _check_scope(scope)
        arguments = spec.bound_arguments(args, kwargs)  # refuses bad arguments before any I/O
        snapshots = _SNAPSHOTS.get()
        database = database_identity(_engine_of(bind))
        snapshot = snapshots.get(database) if snapshots is not None else None
        if snapshot is None:
            with _connection(bind) as conn:
                snapshot = self._snapshot(conn)
            if snapshots is not None:
                snapshots[database] = snapshot
        versions, cycles = self._versions_in(snapshot, spec.tables)
        area_code = _area_code(arguments.get(spec.area)) if spec.area is not None else None
        if area_code is not None:
            district = self._district_of(bind, database, area_code, snapshot)
            if district is not None:
                versions = self._district_versions(snapshot, versions, district)
        return self.key_for(spec, _engine_of(bind), scope, arguments, versions), cycles, arguments

    @staticmethod
    def _district_versions(snapshot, versions: dict[str, int], district: str) -> dict:
        """``versions`` with each partitioned dataset's whole version replaced by the pair
        (district's version, version of changes that named no district)."""
        partitions = snapshot[2]
        return {
            code: [partitions[code].get(district, 0), partitions[code].get(ALL_PARTITIONS, 0)] if code in partitions else version
            for code, version in versions.items()
        }

    def _district_of(self, bind, database: str, code: str, snapshot) -> str | None:
        """The district containing area ``code`` (itself if a district), from the areas table's
        ancestry (codes are not assumed to nest); None for the city, above it or an unknown
        code. Kept per database while the areas' datasets keep their versions."""
        areas_version = _canonical_text(self._versions_in(snapshot, (Area.__tablename__,))[0])
        with self._maps_lock:
            known = self._districts.get(database)
            if known is None or known[0] != areas_version:
                known = self._districts[database] = (areas_version, {})
            if code in known[1]:
                return known[1][code]
        district, current = None, code
        with _connection(bind) as conn:
            for _ in range(AREA_LEVELS_MAX):
                row = conn.execute(select(Area.level, Area.parent_code).where(Area.code == current)).first()
                if row is None:
                    break
                if row.level == "district":
                    district = current
                    break
                if row.parent_code is None:
                    break
                current = row.parent_code
        with self._maps_lock:
            if len(known[1]) >= DISTRICTS_KEPT_MAX:
                known[1].clear()  # an unbounded walk of codes (grids) must not grow the process
            known[1][code] = district
        return district

    @staticmethod
    @contextmanager
    def one_snapshot(snapshots: dict | None = None):
        """Calls inside key their entries on one read of the catalogue per database instead of
        one each (a page's request makes a dozen cached calls: a dozen statements and pool
        check-outs before the first hit). For one request: a write committed meanwhile is keyed
        from the next request on, the data a miss reads is never older than its key. Pass the
        same ``snapshots`` dict to share it across several blocks of one request."""
        token = _SNAPSHOTS.set({} if snapshots is None else snapshots)
        try:
            yield
        finally:
            _SNAPSHOTS.reset(token)

    def key_for(self, spec: QuerySpec, engine: Engine, scope: str, arguments: dict, versions: dict[str, int]) -> str:
        digest = hashlib.sha256(_canonical_text({"arguments": arguments, "versions": versions}).encode()).hexdigest()[:32]
        return f"{self.key_prefix}:q{KEY_FORMAT_VERSION}:{database_identity(engine)}:{spec.name}:{scope}:{digest}"

    def last_good_key_for(self, spec: QuerySpec, engine: Engine, scope: str, arguments: dict) -> str:
        """The key of a call in ``last_good_store``: like ``key_for`` without the dataset versions;
        inside a ``last_good_slot``, the slot instead of the arguments that are instants."""
        slot = _LAST_GOOD_SLOT.get()
        if slot is None:
            document = {"arguments": arguments}
        else:
            document = {"slot": slot, "arguments": {name: value for name, value in arguments.items() if not _is_instant(value)}}
        digest = hashlib.sha256(_canonical_text(document).encode()).hexdigest()[:32]
        return f"{self.key_prefix}:lg{KEY_FORMAT_VERSION}:{database_identity(engine)}:{spec.name}:{scope}:{digest}"

    def dataset_versions(self, conn: Connection, tables: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        """Version of every dataset the tables depend on, and their update cycles.

        One statement per call: the catalogue is small (one row per dataset) and is read whole
        together with the global data version; the table→datasets map is recomputed only when
        that version moved.
        """
        return self._versions_in(self._snapshot(conn), tables)

    def _snapshot(self, conn: Connection) -> tuple[dict[str, tuple[int, str]], dict[str, list[str]], dict[str, dict[str, int]]]:
        """(catalogue: code → (version, cycle), table → dataset codes, code → partition →
        version) as of now."""
        global_version, catalogue, partitions = self._catalogue_snapshot(conn)
        return catalogue, self._table_map(conn, global_version), partitions

    @staticmethod
    def _versions_in(snapshot, tables: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        catalogue, table_map, _ = snapshot
        codes = sorted({code for table in tables for code in table_map.get(table, ())})
        # A code seen in a table but missing from the catalogue still keys the entry (as version -1).
        versions = {code: catalogue[code][0] if code in catalogue else -1 for code in codes}
        return versions, [catalogue[code][1] for code in codes if code in catalogue]

    @staticmethod
    def _catalogue_snapshot(conn: Connection) -> tuple[int, dict[str, tuple[int, str]], dict[str, dict[str, int]]]:
        """(global data version, code → (version, cycle), code → partition → version), one statement."""
        global_version = select(func.coalesce(func.max(ChangeLog.id), 0)).scalar_subquery()
        rows = conn.execute(
            select(Dataset.code, Dataset.version, Dataset.update_cycle, global_version.label("global_version"),
                   DatasetPartition.partition, DatasetPartition.version.label("partition_version"))
            .outerjoin(DatasetPartition, DatasetPartition.dataset_code == Dataset.code)
        ).all()
        if not rows:  # an empty catalogue: the data version alone
            return int(conn.execute(select(global_version)).scalar_one()), {}, {}
        catalogue, partitions = {}, {}
        for row in rows:
            catalogue[row.code] = (int(row.version or 0), row.update_cycle)
            if row.partition is not None:
                partitions.setdefault(row.code, {})[row.partition] = int(row.partition_version)
        return int(rows[0].global_version), catalogue, partitions

    def _table_map(self, conn: Connection, global_version: int) -> dict[str, list[str]]:
        """table → dataset codes at a global data version, computed once across workers."""
        database = database_identity(conn.engine)
        with self._maps_lock:
            known = self._maps.get(database)
        if known is not None and known[0] == global_version:
            return known[1]
        key = f"{self.key_prefix}:tables{KEY_FORMAT_VERSION}:{database}:{global_version}"

        def produce() -> bytes:
            return encode_value(table_datasets(conn))

        table_map, _, _ = self._fetch_decoded(key, produce, MAX_TTL_SECONDS)
        with self._maps_lock:
            self._maps[database] = (global_version, table_map)
        return table_map

    # -- storage ------------------------------------------------------------------------------

    def _fetch_decoded(self, key: str, produce: Callable[[], bytes], ttl: float) -> tuple[object, bytes, bool]:
        """The decoded value, its bytes and whether this call computed it."""
        once = _ComputeOnce(produce)
        data = self._fetch(key, once, ttl)
        try:
            value = decode_value(data)
        except CorruptCacheEntry as exc:
            # Not ours (or damaged): drop it and recompute; nothing in it was executed.
            log.error("cache: rejected entry %s: %s", key, exc)
            with self._count() as counters:
                counters.corrupt_entries += 1
            self._delete(key)
            data = self._fetch(key, once, ttl)
            value = decode_value(data)
        return value, bytes(data), once.ran

    def _fetch(self, key: str, once: _ComputeOnce, ttl: float) -> bytes:
        if self.redis is not None and self.breaker.allow():
            import redis

            # The near copy: a key names its data's versions, so the bytes under it never change
            # and a copy read a few seconds ago is what Redis would answer, minus the round trip
            # (the hot entries of a crowd of consoles — the basemap, the city's readings, the
            # districts' layers — were a GET and a multi-MB transfer per request and worker).
            # Bounded to ``near_seconds``: an entry's TTL is outlived by at most that much.
            data = self.near.get(key) if self.near is not None else None
            if data is not None:
                with self._count() as counters:
                    counters.near_hits += 1
                return data
            try:
                data = self.redis.get_or_compute(key, once, ttl)
                self.breaker.succeeded()
            except redis.RedisError as exc:
                self._redis_failed(exc)
            else:
                if self.near is not None:
                    self.near.set(key, data, min(ttl, self.near_seconds))
                return data
        return self.memory.get_or_compute(key, once, ttl)

    def _delete(self, key: str) -> None:
        self.memory.delete(key)
        if self.near is not None:
            self.near.delete(key)
        if self.redis is not None and self.breaker.allow():
            import redis

            try:
                self.redis.delete(key)
            except redis.RedisError as exc:
                self._redis_failed(exc)

    def _redis_failed(self, exc: BaseException) -> None:
        self.breaker.failed(exc)
        with self._count() as counters:
            counters.redis_failures += 1

    @contextmanager
    def _count(self):
        with self._counter_lock:
            yield self.counters

    # -- inspection ---------------------------------------------------------------------------

    def status(self) -> CacheProbe:
        """Which backend serves right now (pings Redis unless the breaker says to wait)."""
        if self.redis is None:
            return CacheProbe("memory")
        if self.breaker.allow():
            import redis

            try:
                self.redis.ping()
                self.breaker.succeeded()
            except redis.RedisError as exc:
                self._redis_failed(exc)
        if self.breaker.is_open:
            return CacheProbe("memory", self.breaker.error)
        return CacheProbe("redis")

    def ttl_of(self, key: str) -> float | None:
        """Remaining seconds of an entry in the backend that would serve it now."""
        if self.redis is not None and not self.breaker.is_open:
            return self.redis.ttl(key)
        return self.memory.ttl(key)

    def clear(self) -> None:
        """Drop every entry under this cache's key prefix (tests, operators), last good values included."""
        self.last_good_store.clear()
        self.memory.clear(self.key_prefix + ":")
        if self.near is not None:
            self.near.clear(self.key_prefix + ":")
        if self.redis is not None:
            self.redis.clear(self.key_prefix + ":")

    def close(self) -> None:
        if self.redis is not None:
            self.redis.client.close()


def _area_code(canonical) -> str | None:
    """The code in a canonical ``area=`` argument: a code, or a mapping holding one under
    ``"code"`` (a map layer's area); None for no area."""
    if isinstance(canonical, dict) and canonical.get(TAG) == "map":
        canonical = dict((key, value) for key, value in canonical["v"]).get("code")
    return canonical if isinstance(canonical, str) else None


def _is_instant(canonical) -> bool:
    """A canonical argument (``canonical_argument``) that is a datetime or a date."""
    return isinstance(canonical, dict) and canonical.get(TAG) in INSTANT_TAGS


def _check_scope(scope) -> None:
    if not isinstance(scope, str) or not SCOPE_PATTERN.match(scope):
        raise ValueError(f"cache scope must match {SCOPE_PATTERN.pattern}, not {scope!r}")


def _engine_of(bind: Engine | Connection) -> Engine:
    return bind.engine if isinstance(bind, Connection) else bind


@contextmanager
def _connection(bind: Engine | Connection):
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


# ---------------------------------------------------------------------------------------------
# The probe /healthz used before the app had a cache (kept for callers without an app)
# ---------------------------------------------------------------------------------------------


def cache_backend(settings) -> CacheProbe:
    """Which cache the app would use right now, pinging Redis when one is configured."""
    if not settings.redis_url:
        return CacheProbe("memory")
    import redis  # only needed when configured

    client = None
    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS
        )
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "fall back to memory"
        return CacheProbe("memory", f"{type(exc).__name__}: {exc}")
    finally:
        if client is not None:
            client.close()
    return CacheProbe("redis")
