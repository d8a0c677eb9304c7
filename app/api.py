"""The JSON API (``/api/v1/…``) over the query layer: reads, and the video walls' emergency switch.

One declarative description, ``ENDPOINTS`` (paths, methods, parameters, request bodies, response
schemas), drives both the validation of every request and ``/api/v1/openapi.json``, so the
documentation and the behaviour cannot drift apart: a parameter that is not described is refused
with a 400.

Everything is read-only except two routes of the video walls (``/walls/{wall_id}/…``): switching
a wall to an incident's emergency scene (``POST …/emergency``) and acknowledging one (``POST
…/acknowledge``). They change shared state: they need the capability ``operate_wall``
(commanders, administrators; ``app.security.access``). They accept
``Content-Type: application/json`` only (415 otherwise) — a browser cannot send that cross-origin
without a CORS preflight this app never answers, a cheap defence against cross-site requests —
answer ``Cache-Control: no-store`` and publish the new data version on the live bus at once.

Contract: bad parameters get a 400 naming the parameter, unknown areas and incidents a 404,
anything unexpected a JSON 503 with a generic message (the exception is logged here, never sent),
never a 500. Times are ISO 8601 in (naive = Asia/Shanghai) and UTC with offset out.

Access (``app.security.access``): a session or ``Authorization: Bearer <token>`` with the capability
``use_api`` (401 without, 403 with another role); ``/openapi.json`` is public. A caller limited to
areas gets 403 for an area parameter or an incident outside them, area and incident listings
limited to their areas by default, a wall's emergency as the best one in their areas (never one
elsewhere), and operates (switch, acknowledge) only walls whose spec area lies inside one of their
areas — others, the city's walls included, get 403 and an ``access_denied`` audit entry. Personal data (reporter
name and phone, exact address) is never served; phone and ID-card numbers in titles and
descriptions are masked for callers without ``see_personal_data`` (``app.masking``).
"""
from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import flask
import numpy as np
import pandas as pd

from app.context import current_context, run_query
from app.live import HUB_KEY
from app.masking import mask_personal
from app.security.access import current_viewer, may_see_area, may_see_record, restricted
from queries.api_support import area_extent, area_listing, newest_point_time
from queries.bus import data_version_event
from queries.drill import CHILD_LEVEL, UnknownArea, child_counts, children, get_area
from queries.emergency import (
    ACTION_ACK,
    ACTION_RAISE,
    ALERT_FIELDS,
    DATASET_CODE,
    WALL_ID_PATTERN,
    IncidentOver,
    UnknownIncident,
    acknowledge,
    active_emergency,
    raise_alert,
)
from queries.environment import area_air_quality
from queries.freshness import FRESHNESS_STATES, dataset_freshness
from queries.incidents import (
    MAX_LIMIT as MAX_INCIDENT_ROWS,
)
from queries.incidents import (
    PERSONAL_INCIDENT_COLUMNS,
    area_summary,
    incident_detail,
    list_incidents,
)
from queries.traffic import area_congestion
from queries.vocab import (
    AREA_LEVEL_CODES,
    CHANNELS,
    INCIDENT_CATEGORIES,
    INCIDENT_STATUS_CODES,
    codes,
)
from queries.writes import data_version

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"
SOURCE_TIMEZONE = "Asia/Shanghai"  # naive input times are Beijing time, like every Chinese source
DEFAULT_WINDOW = dt.timedelta(hours=24)
MAX_WINDOW = dt.timedelta(days=366)
# Times outside this range are typing mistakes, and far-off years overflow time arithmetic.
EARLIEST_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST_TIME = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_OFFSET = 1_000_000  # deeper pages should narrow the time window instead

# Live operations data: browsers may reuse a response briefly, shared proxies never store it.
LIVE_CACHE_CONTROL = "private, max-age=30"
DOCUMENT_CACHE_CONTROL = "public, max-age=300"
ERROR_CACHE_CONTROL = "no-store"
STATE_CACHE_CONTROL = "no-store"  # wall state and writes: never reused
DATA_VERSION_HEADER = "X-Data-Version"
UNAVAILABLE_MESSAGE = "The data service is temporarily unavailable; please retry shortly."

# Value patterns, also published in the OpenAPI document (ECMA-262 compatible).
KIND_PATTERNS = {
    "area_code": "^[0-9]{6,15}$",
    "incident_id": "^[^\\u0000-\\u001f\\u007f/]{1,64}$",  # printable, no slash, as long as incidents.id
    "wall_id": WALL_ID_PATTERN,  # lower-case letters, digits, '-', '_'
}
KIND_EXPECTED = {
    "area_code": "an area code of 6 to 15 digits",
    "incident_id": "an incident id (1–64 printable characters, no '/')",
    "wall_id": "a wall id (1–64 characters: a–z, 0–9, '-' and '_', starting with a letter or digit)",
}
JSON_MIMETYPE = "application/json"
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")
MAX_BODY_BYTES = 4096  # the bodies of this API are a few dozen bytes
ERROR_CODES = {400: "bad_parameter", 403: "forbidden", 404: "not_found", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type"}
INTEGER_TEXT = re.compile(r"[0-9]{1,9}")
SEVERITY_CHOICES = (("1", 1), ("2", 2), ("3", 3), ("4", 4), ("I", 1), ("II", 2), ("III", 3), ("IV", 4))
METRICS = ("incidents", "workorders", "aqi", "congestion")
INCIDENT_FILTERS = ("severity", "category", "status", "channel")


class ApiError(Exception):
    """A client mistake (400) or a missing resource (404), sent as JSON naming the parameter."""

    def __init__(self, status: int, parameter: str | None, message: str):
        super().__init__(message)
        self.status = status
        self.parameter = parameter
        self.message = message

    @classmethod
    def bad(cls, parameter: str, message: str) -> ApiError:
        return cls(400, parameter, message)

    def body(self) -> dict:
        return {"error": ERROR_CODES[self.status], "parameter": self.parameter, "message": self.message}


# --- the declarative description ------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter: its kind and bounds drive both parsing and its OpenAPI schema."""

    name: str
    kind: str  # area_code, incident_id, wall_id, time, enum, integer
    description: str
    location: str = "query"  # path, query, or body (a member of the JSON request body)
    choices: tuple[tuple[str, object], ...] = ()  # enum: accepted text → parsed value
    many: bool = False  # comma-separated list of choices
    minimum: int | None = None
    maximum: int | None = None
    default: object = None
    example: str | None = None
    mandatory: bool = False  # a body member that must be given (path parameters always must)

    @property
    def required(self) -> bool:
        return self.location == "path" or self.mandatory


@dataclass(frozen=True)
class Endpoint:
    path: str  # OpenAPI path template below API_PREFIX
    operation_id: str
    summary: str
    description: str
    params: tuple[Param, ...]
    response_schema: str  # name in SCHEMAS
    handler: Callable[[dict], object]
    cache_control: str = LIVE_CACHE_CONTROL
    reads_data: bool = True  # False: served even when the database is down
    method: str = "GET"  # POST: changes state, takes a JSON body (``location="body"`` parameters)
    conflict: str | None = None  # when a POST can answer 409, why

    @property
    def may_be_not_found(self) -> bool:
        return any(p.kind in ("area_code", "incident_id") for p in self.params)

    @property
    def writes(self) -> bool:
        return self.method != "GET"


def _choices(values) -> tuple[tuple[str, object], ...]:
    return tuple((v, v) for v in values)


TIME_FORMS = (
    "ISO 8601 date or date-time, with or without a UTC offset (e.g. 2026-11-21, 2026-11-21T08:00, "
    "2026-11-21T00:00:00Z); without an offset it is read as Asia/Shanghai time. Between 1970 and 2100."
)
P_CODE = Param("code", "area_code", "Area code: 6-digit GB/T 2260 city/district, 9-digit street, 12-digit community, 14/15-digit unit grid.", location="path", example="320706")
P_FROM = Param("from", "time", f"Start of the time window (inclusive). Default: `to` minus 24 hours. {TIME_FORMS}", example="2026-11-20T08:00:00+08:00")
P_TO = Param("to", "time", f"End of the time window (exclusive); must be after `from`, at most 366 days later. Default: now. {TIME_FORMS}", example="2026-11-21T08:00:00+08:00")
P_SEVERITY = Param("severity", "enum", "Incident severity levels, comma-separated: 1–4 or I–IV (I = particularly serious … IV = general).", choices=SEVERITY_CHOICES, many=True, example="1,II")
P_CATEGORY = Param("category", "enum", "Incident categories (national emergency plan), comma-separated.", choices=_choices(codes(INCIDENT_CATEGORIES)), many=True, example="accident")
P_STATUS = Param("status", "enum", "Incident statuses, comma-separated.", choices=_choices(INCIDENT_STATUS_CODES), many=True, example="reported,dispatched")
P_CHANNEL = Param("channel", "enum", "Reporting channels, comma-separated.", choices=_choices(codes(CHANNELS)), many=True, example="12345")
INCIDENT_FILTER_PARAMS = (P_SEVERITY, P_CATEGORY, P_STATUS, P_CHANNEL)
P_WALL = Param("wall_id", "wall_id", "Video wall id: 1–64 characters a–z, 0–9, '-' and '_', starting with a letter or digit.", location="path", example="main")


# --- running queries --------------------------------------------------------------------------


def _current_data_version() -> int:
    # Deliberately not through run_query: the data version is what a cache would be keyed on.
    with current_context().read_engine.connect() as conn:
        return data_version(conn)


# --- parsing and validation -----------------------------------------------------------------


def _parse_time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-21T08:00:00+08:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(SOURCE_TIMEZONE))
    try:
        value = value.astimezone(dt.timezone.utc)
    except OverflowError:
        value = None
    if value is None or not EARLIEST_TIME <= value < LATEST_TIME:
        raise ValueError(f"{text!r} is outside the supported range (1970 to 2100)")
    return value


def _parse_value(param: Param, text: str):
    if text == "":
        raise ValueError("must not be empty")
    if param.kind in KIND_PATTERNS:
        if not re.fullmatch(KIND_PATTERNS[param.kind], text):
            raise ValueError(f"{text!r} is not {KIND_EXPECTED[param.kind]}")
        return text
    if param.kind == "time":
        return _parse_time(text)
    if param.kind == "integer":
        number = int(text) if INTEGER_TEXT.fullmatch(text) else None
        if number is None or not param.minimum <= number <= param.maximum:
            raise ValueError(f"{text!r} is not an integer from {param.minimum} to {param.maximum}")
        return number
    if param.kind == "enum":
        accepted = dict(param.choices)
        parts = text.split(",") if param.many else [text]
        unknown = [p for p in parts if p not in accepted]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not one of: {', '.join(accepted)}")
        values = [accepted[p] for p in parts]
        return tuple(dict.fromkeys(values)) if param.many else values[0]
    raise AssertionError(f"parameter kind {param.kind!r} has no parser")


def _resolve_window(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    end = end or dt.datetime.now(dt.timezone.utc)
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise ApiError.bad("from", f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()})")
    if end - start > MAX_WINDOW:
        raise ApiError.bad("from", f"the window from 'from' to 'to' must be at most {MAX_WINDOW.days} days")
    return start, end


def json_body(endpoint: Endpoint, request: flask.Request) -> dict:
    """The JSON object a POST sent: 415 unless it is ``application/json``, 413 when too big, 400
    when it is not a JSON object or has members the endpoint does not describe. An empty body is
    ``{}``."""
    if request.mimetype != JSON_MIMETYPE:
        sent = request.mimetype or "no content type"
        raise ApiError(415, None, f"this endpoint accepts JSON only: send Content-Type: {JSON_MIMETYPE} (got {sent})")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, None, f"the request body must be at most {MAX_BODY_BYTES} bytes")
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, None, f"the request body must be at most {MAX_BODY_BYTES} bytes")
    if not data.strip():
        return {}
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, None, f"the request body is not valid UTF-8 JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, None, f"the request body must be a JSON object, not {type(body).__name__}")
    accepted = [p.name for p in endpoint.params if p.location == "body"]
    for name in body:
        if name not in accepted:
            allowed = ", ".join(accepted) if accepted else "no members"
            raise ApiError.bad(name, f"unknown member {name!r} in the request body; this endpoint accepts: {allowed}")
    return body


def validated_arguments(endpoint: Endpoint, path_values: dict, query, body: dict | None = None) -> dict:
    """Parsed arguments of one request, or ApiError(400) naming the first bad parameter."""
    accepted = [p.name for p in endpoint.params if p.location == "query"]
    for name in query:
        if name not in accepted:
            allowed = ", ".join(accepted) if accepted else "no query parameters"
            raise ApiError.bad(name, f"unknown parameter {name!r}; this endpoint accepts: {allowed}")
    arguments = {}
    for param in endpoint.params:
        if param.location == "path":
            raw = path_values.get(param.name)
        elif param.location == "body":
            raw = (body or {}).get(param.name)
            if raw is None and param.mandatory:
                raise ApiError.bad(param.name, f"{param.name!r} is required in the JSON body")
            if raw is not None and not isinstance(raw, str):
                raise ApiError.bad(param.name, f"{param.name}: must be a JSON string, not {type(raw).__name__}")
        else:
            given = query.getlist(param.name)
            if len(given) > 1:
                raise ApiError.bad(param.name, f"{param.name!r} is given more than once; separate several values with commas")
            raw = given[0] if given else None
        if raw is None:
            arguments[param.name] = () if param.many else param.default
            continue
        try:
            arguments[param.name] = _parse_value(param, raw)
        except ValueError as exc:
            raise ApiError.bad(param.name, f"{param.name}: {exc}") from None
    if "from" in arguments:
        arguments["from"], arguments["to"] = _resolve_window(arguments["from"], arguments["to"])
    return arguments


def _check_area_rights(endpoint: Endpoint, arguments: dict) -> None:
    """403 for an area parameter outside the caller's areas (before existence: an outside code
    answers the same whether it exists or not)."""
    viewer = current_viewer()
    for param in endpoint.params:
        code = arguments.get(param.name)
        if param.kind == "area_code" and code is not None and not may_see_area(viewer, code):
            raise ApiError(403, param.name, f"area {code!r} is outside your areas ({', '.join(viewer.areas)})")


def _check_incident_rights(incident: dict | None, parameter: str) -> None:
    if incident is not None and not may_see_record(current_viewer(), incident):
        raise ApiError(403, parameter, f"incident {incident.get('id') or incident.get('incident_id')!r} is outside your areas")


def _check_areas_exist(endpoint: Endpoint, arguments: dict) -> None:
    for param in endpoint.params:
        code = arguments.get(param.name)
        if param.kind == "area_code" and code is not None:
            try:
                run_query(get_area, code)
            except UnknownArea:
                raise ApiError(404, param.name, f"no area with code {code!r}") from None


# --- JSON -------------------------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is None:  # the database hands back UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()


def jsonable(value):
    """Plain JSON values from query results: UTC ISO times, None for NaN/NaT, Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.datetime):
        return None if pd.isna(value) else _iso(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return str(value)


def _records(frame: pd.DataFrame, integers: tuple[str, ...] = ()) -> list[dict]:
    """Rows as dicts; ``integers`` columns back to ints (pandas makes nullable ints float)."""
    records = frame.to_dict("records")
    for record in records:
        for name in integers:
            value = record.get(name)
            if value is not None and not pd.isna(value):
                record[name] = int(value)
    return records


def _json_response(body, status: int, cache_control: str) -> flask.Response:
    # allow_nan=False: a NaN that slipped past jsonable() must fail loudly here (logged, 503),
    # never reach a client as invalid JSON.
    text = json.dumps(jsonable(body), ensure_ascii=False, allow_nan=False)
    response = flask.Response(text, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = cache_control
    return response


def _unavailable_response() -> flask.Response:
    response = _json_response({"error": "unavailable", "message": UNAVAILABLE_MESSAGE}, 503, ERROR_CACHE_CONTROL)
    response.headers["Retry-After"] = "30"
    return response


def _hex_colour(rgb) -> str | None:
    return None if rgb is None else "#{:02x}{:02x}{:02x}".format(*rgb)


# --- handlers ---------------------------------------------------------------------------------

AREA_FIELDS = ("code", "name", "name_en", "level", "parent", "area_km2")
AIR_QUALITY_FIELDS = ("scope_code", "stations", "aqi", "primary_pollutant", "primary_pollutant_en", "category", "level", "rgb", "concentrations")
TRAFFIC_FIELDS = ("segments", "congestion_index", "band", "band_zh", "band_en", "mean_speed_kmh", "worst")


def _area_reference(area: dict) -> dict:
    return {"code": area["code"], "name": area["name"], "name_en": area["name_en"], "level": area["level"], "parent": area["parent_code"]}


def _air_quality_block(reading: dict) -> dict:
    block = {name: reading.get(name) for name in AIR_QUALITY_FIELDS}
    return {**block, "colour": _hex_colour(block["rgb"]), "data_time": reading.get("ts")}


def _traffic_block(reading: dict) -> dict:
    return {**{name: reading.get(name) for name in TRAFFIC_FIELDS}, "data_time": reading.get("ts")}


def _list_areas(arguments: dict) -> dict:
    frame = run_query(area_listing, level=arguments["level"], parent=arguments["parent"])
    viewer = current_viewer()
    if restricted(viewer):  # a district's staff list their district
        frame = frame[[viewer.may_see_area(code) for code in frame["code"]]]
    return {"items": _records(frame[list(AREA_FIELDS)])}


def _one_area(arguments: dict) -> dict:
    area = run_query(get_area, arguments["code"])
    extent = run_query(area_extent, arguments["code"]) or {}
    corners = [extent.get(k) for k in ("minx", "miny", "maxx", "maxy")]
    label = (extent.get("label_lon"), extent.get("label_lat"))
    return {
        **_area_reference(area),
        "area_km2": extent.get("area_km2"),
        "label_point": None if None in label else {"lon": label[0], "lat": label[1]},
        "bbox": None if None in corners else corners,
    }


def _area_summary(arguments: dict) -> dict:
    summary = run_query(area_summary, arguments["code"], arguments["from"], arguments["to"])
    return {
        "area": _area_reference(summary["area"]),
        "from": arguments["from"],
        "to": arguments["to"],
        "incidents": summary["incidents"],
        "workorders": summary["workorders"],
        "air_quality": _air_quality_block(summary["air_quality"]),
        "traffic": _traffic_block(summary["traffic"]),
    }


def _count_children(area: dict, arguments: dict) -> tuple[list[dict], dt.datetime | None]:
    source = arguments["metric"]
    filters = {"start": arguments["from"], "end": arguments["to"]}
    if source == "incidents":
        filters.update(severities=arguments["severity"], categories=arguments["category"], statuses=arguments["status"], channels=arguments["channel"])
    frame = run_query(child_counts, area["code"], source, **filters)
    child_level = CHILD_LEVEL.get(area["level"])
    data_time = None
    if child_level is not None and not frame.empty:
        data_time = run_query(newest_point_time, source, f"{child_level}_code", frame["code"].tolist(), **filters)
    return _records(frame, integers=("value",)), data_time


def _read_children(area: dict, arguments: dict) -> list[dict]:
    """AQI or congestion of each child at ``to``, one query call per child (cacheable per area)."""
    items = []
    for child in run_query(children, area["code"]).itertuples(index=False):
        base = {"code": child.code, "name": child.name, "name_en": child.name_en}
        if arguments["metric"] == "aqi":
            reading = run_query(area_air_quality, child.code, at=arguments["to"])
            items.append({**base, "value": reading["aqi"], "data_time": reading["ts"], "scope_code": reading["scope_code"],
                          "category": reading.get("category"), "level": reading.get("level"), "colour": _hex_colour(reading.get("rgb"))})
        else:
            reading = run_query(area_congestion, child.code, at=arguments["to"])
            items.append({**base, "value": reading["congestion_index"], "data_time": reading["ts"], "band": reading.get("band"),
                          "band_zh": reading.get("band_zh"), "band_en": reading.get("band_en")})
    return items


def _area_children(arguments: dict) -> dict:
    metric = arguments["metric"]
    if metric != "incidents":
        for name in INCIDENT_FILTERS:
            if arguments[name]:
                raise ApiError.bad(name, f"{name!r} filters incidents; it cannot be used with metric={metric}")
    area = run_query(get_area, arguments["code"])
    if metric in ("incidents", "workorders"):
        items, data_time = _count_children(area, arguments)
    else:
        items = _read_children(area, arguments)
        times = [item["data_time"] for item in items if item["data_time"] is not None and not pd.isna(item["data_time"])]
        data_time = max(times) if times else None
    return {"area": _area_reference(area), "metric": metric, "from": arguments["from"], "to": arguments["to"], "data_time": data_time, "items": items}


def _incident_page(area: str | None, arguments: dict, limit: int, offset: int) -> pd.DataFrame:
    return run_query(
        list_incidents, area, limit=limit, offset=offset, include_personal=False,
        start=arguments["from"], end=arguments["to"], severities=arguments["severity"], categories=arguments["category"],
        statuses=arguments["status"], channels=arguments["channel"],
    )


def _list_incidents(arguments: dict) -> dict:
    viewer = current_viewer()
    limit, offset = arguments["limit"], arguments["offset"]
    if arguments["area"] is None and restricted(viewer):
        # A district's staff list their own areas: each area's first offset+limit rows, merged newest first.
        pages = []
        for code in viewer.areas:
            try:
                pages.append(_incident_page(code, arguments, min(offset + limit, MAX_INCIDENT_ROWS), 0))
            except UnknownArea:
                continue
        frame = pd.concat(pages, ignore_index=True) if pages else _incident_page(viewer.areas[0], arguments, 1, 0).iloc[0:0]
        frame = frame.drop_duplicates("id").sort_values(["reported_at", "id"], ascending=[False, True]).iloc[offset:offset + limit]
    else:
        frame = _incident_page(arguments["area"], arguments, limit, offset)
    frame = frame.drop(columns=list(PERSONAL_INCIDENT_COLUMNS), errors="ignore")  # never, whatever the query layer does
    items = [mask_personal(item, viewer) for item in _records(frame, integers=("severity", "casualties"))]
    return {"from": arguments["from"], "to": arguments["to"], "limit": limit, "offset": offset, "items": items}


def _one_incident(arguments: dict) -> dict:
    detail = run_query(incident_detail, arguments["id"], include_personal=False)
    if detail is None:
        raise ApiError(404, "id", f"no incident with id {arguments['id']!r}")
    _check_incident_rights(detail, "id")
    return mask_personal({k: v for k, v in detail.items() if k not in PERSONAL_INCIDENT_COLUMNS}, current_viewer())


def _datasets(arguments: dict) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    frame = run_query(dataset_freshness, now=now)
    return {"as_of": now, "items": _records(frame, integers=("row_count", "version"))}


def _openapi(arguments: dict) -> dict:
    return openapi_document()


# --- the video walls' emergency mode ----------------------------------------------------------------


def _wall_window() -> dt.timedelta:
    return dt.timedelta(minutes=current_context().settings.wall_emergency_minutes)


def _shown_to(viewer, incident: dict | None) -> dict | None:
    """An emergency as the caller may see it: null when it lies outside their areas."""
    return incident if incident is None or may_see_record(viewer, incident) else None


def _viewer_areas() -> tuple[str, ...]:
    viewer = current_viewer()
    return viewer.areas if viewer is not None else ()


def _wall_emergency(arguments: dict) -> dict:
    """What the wall shows; to a caller limited to areas, the best emergency in their areas."""
    now = dt.datetime.now(dt.timezone.utc)
    found = run_query(active_emergency, arguments["wall_id"], now, _wall_window(), areas=_viewer_areas())
    shown = _shown_to(current_viewer(), found)
    return {"wall_id": arguments["wall_id"], "as_of": now, "window_minutes": current_context().settings.wall_emergency_minutes, "emergency": shown}


def _check_wall_rights(wall_id: str, action: str) -> None:
    """A caller limited to areas operates only the walls of their areas: a wall whose spec names an
    area (``area:``) inside one of theirs. The city's walls (no area), walls of other areas and ids
    without a spec are refused (403, written to the audit log as ``access_denied``)."""
    from app.security.access import deny
    from queries.specs.store import UnknownWall, effective_wall

    viewer = current_viewer()
    if not restricted(viewer):
        return
    context = current_context()
    try:
        with context.read_engine.connect() as conn:
            wall_area = effective_wall(conn, wall_id, context.settings).spec.area
    except UnknownWall:
        wall_area = None
    if wall_area is None or not may_see_area(viewer, wall_area):
        where = f"area {wall_area}" if wall_area else "the whole city"
        message = f"wall {wall_id!r} shows {where}, outside your areas ({', '.join(viewer.areas)})"
        deny(message, target=f"wall/{wall_id}", detail={"action": action, "wall_area": wall_area})
        raise ApiError(403, "wall_id", message)


def _announce(version: int, at: dt.datetime, action: str) -> None:
    """Tell the live browsers now (the change-log watcher would, within its poll interval)."""
    hub = flask.current_app.extensions.get(HUB_KEY)
    bus = getattr(hub, "bus", None)
    if bus is None:
        return
    try:
        bus.publish(data_version_event(version, at, DATASET_CODE, action, 1))
    except Exception:  # noqa: BLE001 - the write is committed; the watcher still announces it
        logger.warning("could not publish data version %s of %s", version, DATASET_CODE, exc_info=True)


def _write_for_wall(wall_id: str, action: str, write: Callable) -> tuple[dict | None, dict | None]:
    """Run ``write(conn, now, window)`` in one transaction on the primary; returns its alert row
    (or None) and what the wall shows afterwards (to the caller: in their areas), and publishes
    the new data version."""
    now = dt.datetime.now(dt.timezone.utc)
    window = _wall_window()
    try:
        with current_context().engine.begin() as conn:
            alert = write(conn, now, window)
            shown = active_emergency(conn, wall_id, now, window, areas=_viewer_areas())
    except UnknownIncident as exc:
        raise ApiError(404, "incident_id", str(exc)) from None
    except IncidentOver as exc:
        raise ApiError(409, "incident_id", str(exc)) from None
    version = None if alert is None else alert.pop("data_version")
    if version is not None:
        _announce(version, now, action)
    return alert, shown


def _raise_wall_emergency(arguments: dict) -> dict:
    """POST /walls/{wall_id}/emergency: state-changing (``operate_wall``; a caller limited to areas:
    a wall of their areas and an incident in them); ``by`` is the signed-in user; written to the
    audit log (``wall_emergency``). JSON only."""
    wall_id = arguments["wall_id"]
    _check_wall_rights(wall_id, "wall_emergency")
    _check_incident_rights(run_query(incident_detail, arguments["incident_id"]), "incident_id")
    alert, shown = _write_for_wall(wall_id, ACTION_RAISE,
                                   lambda conn, now, window: raise_alert(conn, wall_id, arguments["incident_id"], by=_actor(), now=now))
    _audit_wall("wall_emergency", wall_id, arguments["incident_id"], alert)
    return {"wall_id": wall_id, "alert": alert, "emergency": _shown_to(current_viewer(), shown)}


def _acknowledge_wall_emergency(arguments: dict) -> dict:
    """POST /walls/{wall_id}/acknowledge: state-changing (``operate_wall``; a caller limited to
    areas: a wall of their areas, and only emergencies in them — without ``incident_id``, the one
    shown to them); ``by`` is the signed-in user; written to the audit log (``wall_ack``). JSON only."""
    wall_id = arguments["wall_id"]
    viewer = current_viewer()
    _check_wall_rights(wall_id, "wall_ack")
    if arguments["incident_id"] is not None:
        _check_incident_rights(run_query(incident_detail, arguments["incident_id"]), "incident_id")
    areas = _viewer_areas()
    alert, shown = _write_for_wall(
        wall_id, ACTION_ACK,
        lambda conn, now, window: acknowledge(conn, wall_id, arguments["incident_id"], by=_actor(), now=now, window=window, areas=areas),
    )
    _audit_wall("wall_ack", wall_id, (alert or {}).get("incident_id") or arguments["incident_id"], alert)
    return {"wall_id": wall_id, "acknowledged": alert, "emergency": _shown_to(viewer, shown)}


def _actor() -> str | None:
    """Who switched or acknowledged: the signed-in user (walls record it with the alert)."""
    viewer = current_viewer()
    return None if viewer is None else viewer.user[:64]


def _audit_wall(action: str, wall_id: str, incident_id: str | None, alert: dict | None) -> None:
    from app.security.audit import audit

    audit(action, target=f"wall/{wall_id}", detail={"incident_id": incident_id, "changed": alert is not None})


# --- response schemas (JSON Schema 2020-12, as OpenAPI 3.1 uses) ---------------------------


def _maybe(type_name: str) -> dict:
    return {"type": [type_name, "null"]}


TIME = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601 with offset"}
MAYBE_TIME = {"type": ["string", "null"], "format": "date-time", "description": "UTC, ISO 8601 with offset; null when there is no data"}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
AREA_PROPERTIES = {
    "code": {"type": "string"}, "name": {"type": "string"}, "name_en": _maybe("string"),
    "level": {"type": "string", "enum": list(AREA_LEVEL_CODES)}, "parent": _maybe("string"),
}
INCIDENT_PROPERTIES = {
    "id": {"type": "string"}, "category": {"type": "string"}, "subtype": _maybe("string"),
    "severity": {"type": "integer", "minimum": 1, "maximum": 4}, "status": {"type": "string"}, "channel": _maybe("string"),
    "title": _maybe("string"), "description": _maybe("string"), "lon": _maybe("number"), "lat": _maybe("number"),
    "district_code": _maybe("string"), "street_code": _maybe("string"), "community_code": _maybe("string"), "grid_code": _maybe("string"),
    "reported_at": TIME, "accepted_at": MAYBE_TIME, "dispatched_at": MAYBE_TIME, "on_scene_at": MAYBE_TIME,
    "resolved_at": MAYBE_TIME, "closed_at": MAYBE_TIME, "casualties": _maybe("integer"), "updated_at": MAYBE_TIME,
}
SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error", "message"],
        "properties": {"error": {"type": "string", "enum": [*ERROR_CODES.values(), "method_not_allowed", "unavailable", "unauthenticated"]},
                       "parameter": _maybe("string"), "message": {"type": "string"}},
    },
    "AreaRef": {"type": "object", "required": ["code", "name", "level"], "properties": AREA_PROPERTIES},
    "Area": {
        "type": "object", "required": list(AREA_FIELDS),
        "properties": {**AREA_PROPERTIES, "area_km2": _maybe("number")},
    },
    "AreaList": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Area"}}}},
    "AreaDetail": {
        "type": "object", "required": [*AREA_FIELDS, "label_point", "bbox"],
        "properties": {
            **AREA_PROPERTIES, "area_km2": _maybe("number"),
            "label_point": {"type": ["object", "null"], "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}}},
            "bbox": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                     "description": "[min lon, min lat, max lon, max lat], WGS84"},
        },
    },
    "AreaSummary": {
        "type": "object", "required": ["area", "from", "to", "incidents", "workorders", "air_quality", "traffic"],
        "properties": {
            "area": {"$ref": "#/components/schemas/AreaRef"}, "from": TIME, "to": TIME,
            "incidents": {
                "type": "object", "required": ["total", "by_severity", "by_category", "open", "data_time"],
                "properties": {"total": {"type": "integer"}, "by_severity": COUNTS, "by_category": COUNTS,
                               "open": {"type": "integer", "description": "not yet resolved or closed"}, "data_time": MAYBE_TIME},
            },
            "workorders": {
                "type": "object", "required": ["total", "by_demand_type", "by_state", "overdue", "data_time"],
                "properties": {"total": {"type": "integer"}, "by_demand_type": COUNTS, "by_state": COUNTS,
                               "overdue": {"type": "integer", "description": "past deadline at `to` and not completed"}, "data_time": MAYBE_TIME},
            },
            "air_quality": {
                "type": "object", "required": ["aqi", "data_time", "scope_code"],
                "description": "HJ 633-2012 AQI at `to` from the mean concentrations of the stations in the area "
                               "(or, without a station, in its nearest ancestor: see scope_code).",
                "properties": {"scope_code": {"type": "string"}, "stations": {"type": "integer"}, "aqi": _maybe("integer"),
                               "primary_pollutant": _maybe("string"), "primary_pollutant_en": _maybe("string"),
                               "category": _maybe("string"), "level": _maybe("string"),
                               "rgb": {"type": ["array", "null"], "items": {"type": "integer"}}, "colour": _maybe("string"),
                               "concentrations": {"type": ["object", "null"]}, "data_time": MAYBE_TIME},
            },
            "traffic": {
                "type": "object", "required": ["congestion_index", "band", "data_time"],
                "description": "Length-weighted congestion index (0–10) at `to` and its band.",
                "properties": {"segments": {"type": "integer"}, "congestion_index": _maybe("number"), "band": _maybe("string"),
                               "band_zh": _maybe("string"), "band_en": _maybe("string"), "mean_speed_kmh": _maybe("number"),
                               "worst": {"type": "array", "items": {"type": "object"}}, "data_time": MAYBE_TIME},
            },
        },
    },
    "ChildValues": {
        "type": "object", "required": ["area", "metric", "from", "to", "data_time", "items"],
        "properties": {
            "area": {"$ref": "#/components/schemas/AreaRef"}, "metric": {"type": "string", "enum": list(METRICS)},
            "from": TIME, "to": TIME,
            "data_time": {**MAYBE_TIME, "description": "newest record counted, or newest reading among the children"},
            "items": {"type": "array", "items": {
                "type": "object", "required": ["code", "name", "value"],
                "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "name_en": _maybe("string"),
                               "value": _maybe("number"), "data_time": MAYBE_TIME, "scope_code": {"type": "string"},
                               "category": _maybe("string"), "level": _maybe("string"), "colour": _maybe("string"),
                               "band": _maybe("string"), "band_zh": _maybe("string"), "band_en": _maybe("string")},
            }},
        },
    },
    "Incident": {"type": "object", "required": ["id", "category", "severity", "status", "reported_at"], "properties": INCIDENT_PROPERTIES},
    "IncidentList": {
        "type": "object", "required": ["from", "to", "limit", "offset", "items"],
        "properties": {"from": TIME, "to": TIME, "limit": {"type": "integer"}, "offset": {"type": "integer"},
                       "items": {"type": "array", "items": {"$ref": "#/components/schemas/Incident"}}},
    },
    "IncidentDetail": {
        "type": "object", "required": ["id", "category", "severity", "status", "reported_at", "events"],
        "properties": {**INCIDENT_PROPERTIES, "events": {"type": "array", "items": {
            "type": "object", "required": ["status", "at"],
            "properties": {"status": {"type": "string"}, "at": TIME, "actor": _maybe("string"), "note": _maybe("string")},
        }}},
    },
    "DatasetList": {
        "type": "object", "required": ["as_of", "items"],
        "properties": {"as_of": TIME, "items": {"type": "array", "items": {
            "type": "object", "required": ["code", "name", "update_cycle", "last_update_at", "freshness"],
            "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "name_en": _maybe("string"),
                           "provider": {"type": "string"}, "provider_en": _maybe("string"), "sharing_type": {"type": "string"},
                           "update_cycle": {"type": "string"}, "last_update_at": MAYBE_TIME, "row_count": _maybe("integer"),
                           "version": _maybe("integer"), "age_s": _maybe("number"),
                           "freshness": {"type": "string", "enum": list(FRESHNESS_STATES)}},
        }}},
    },
    "OpenApiDocument": {"type": "object", "description": "This document."},
    "Emergency": {
        "type": "object",
        "description": "The incident a wall shows in emergency mode. No personal data; phone and ID numbers in titles are masked.",
        "required": ["wall_id", "id", "severity", "category", "status", "reported_at", "source", "raised_at", "expires_at", "pending"],
        "properties": {
            "wall_id": {"type": "string"}, "id": {"type": "string"}, "severity": {"type": "integer", "minimum": 1, "maximum": 4},
            "category": {"type": "string"}, "subtype": _maybe("string"), "title": _maybe("string"), "status": {"type": "string"},
            "reported_at": TIME, "lon": _maybe("number"), "lat": _maybe("number"),
            "district_code": _maybe("string"), "district_name": _maybe("string"), "district_name_en": _maybe("string"),
            "street_code": _maybe("string"), "street_name": _maybe("string"), "street_name_en": _maybe("string"),
            "source": {"type": "string", "enum": ["auto", "manual"], "description": "auto: a severity I/II incident arrived; manual: switched by an operator"},
            "raised_at": {**TIME, "description": "when it became this wall's emergency: the report (auto) or the switch (manual)"},
            "expires_at": {**MAYBE_TIME, "description": "auto: when it leaves the arrival window if nobody acknowledged it (no event marks it: re-read then); manual: null"},
            "pending": {"type": "integer", "minimum": 0, "description": "other emergencies waiting behind this one"},
        },
    },
    "WallEmergency": {
        "type": "object", "required": ["wall_id", "as_of", "window_minutes", "emergency"],
        "properties": {
            "wall_id": {"type": "string"}, "as_of": TIME,
            "window_minutes": {"type": "integer", "description": "how long after its report a severity I/II incident counts (CITYOPS_WALL_EMERGENCY_MINUTES)"},
            "emergency": {"oneOf": [{"$ref": "#/components/schemas/Emergency"}, {"type": "null"}], "description": "null: the wall runs its carousel"},
        },
    },
    "WallAlert": {
        "type": "object", "required": list(ALERT_FIELDS),
        "properties": {
            "wall_id": {"type": "string"}, "incident_id": {"type": "string"}, "source": {"type": "string", "enum": ["auto", "manual"]},
            "raised_at": TIME, "raised_by": _maybe("string"), "acked_at": MAYBE_TIME, "acked_by": _maybe("string"),
        },
    },
    "WallRaised": {
        "type": "object", "required": ["wall_id", "alert", "emergency"],
        "properties": {
            "wall_id": {"type": "string"}, "alert": {"$ref": "#/components/schemas/WallAlert"},
            "emergency": {"oneOf": [{"$ref": "#/components/schemas/Emergency"}, {"type": "null"}], "description": "what the wall shows now"},
        },
    },
    "WallAcknowledged": {
        "type": "object", "required": ["wall_id", "acknowledged", "emergency"],
        "properties": {
            "wall_id": {"type": "string"},
            "acknowledged": {"oneOf": [{"$ref": "#/components/schemas/WallAlert"}, {"type": "null"}], "description": "null: nothing was pending to acknowledge"},
            "emergency": {"oneOf": [{"$ref": "#/components/schemas/Emergency"}, {"type": "null"}], "description": "what the wall shows now: the next one, or null (back to the carousel)"},
        },
    },
}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/areas", "listAreas", "Areas of the city",
        "Loaded areas, city first, then by level and code.",
        (Param("level", "enum", "Only areas of this level.", choices=_choices(AREA_LEVEL_CODES), example="district"),
         Param("parent", "area_code", "Only the children of this area (404 if it does not exist).", example="320700")),
        "AreaList", _list_areas,
    ),
    Endpoint(
        "/areas/{code}", "getArea", "One area",
        "An area with its size, label point and bounding box (WGS84).",
        (P_CODE,), "AreaDetail", _one_area,
    ),
    Endpoint(
        "/areas/{code}/summary", "getAreaSummary", "What an area looks like",
        "Incidents and 12345 work orders over [from, to) by severity, category, demand type and state, open and "
        "overdue counts; AQI and congestion at `to`. Every block carries the time of the data it reflects (`data_time`).",
        (P_CODE, P_FROM, P_TO), "AreaSummary", _area_summary,
    ),
    Endpoint(
        "/areas/{code}/children", "getAreaChildren", "The numbers of one drill step",
        "One value per child area (every child, 0 where nothing happened): incidents or work orders counted over "
        "[from, to), or AQI / congestion index at `to`. The incident filters (severity, category, status, channel) "
        "only apply to metric=incidents; with another metric they are a 400.",
        (P_CODE, Param("metric", "enum", "What to count or read per child.", choices=_choices(METRICS), default="incidents", example="incidents"),
         P_FROM, P_TO, *INCIDENT_FILTER_PARAMS),
        "ChildValues", _area_children,
    ),
    Endpoint(
        "/incidents", "listIncidents", "Incidents, newest first",
        "Incidents reported in [from, to), optionally inside an area and filtered. No personal data: reporter name, "
        "phone and exact address are never part of this API; numbers in titles are masked unless the caller may see personal data. "
        "A caller limited to areas gets their areas' incidents (403 for an `area` outside them).",
        (Param("area", "area_code", "Only incidents inside this area (404 if it does not exist).", example="320706"),
         P_FROM, P_TO, *INCIDENT_FILTER_PARAMS,
         Param("limit", "integer", "Page size.", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT, example="50"),
         Param("offset", "integer", "Rows to skip.", minimum=0, maximum=MAX_OFFSET, default=0, example="0")),
        "IncidentList", _list_incidents,
    ),
    Endpoint(
        "/incidents/{id}", "getIncident", "One incident with its lifecycle",
        "An incident and its lifecycle steps in time order. No personal data (reporter name, phone, exact address).",
        (Param("id", "incident_id", "Incident id.", location="path", example="INC-20261121-0001"),),
        "IncidentDetail", _one_incident,
    ),
    Endpoint(
        "/datasets", "listDatasets", "The resource catalogue with freshness",
        "Every catalogue dataset with its update cycle, last update, age and freshness (fresh, late, stale, unknown).",
        (), "DatasetList", _datasets,
    ),
    Endpoint(
        "/walls/{wall_id}/emergency", "getWallEmergency", "What a video wall must show in emergency mode",
        "The incident wall `wall_id` must show now, or null (it runs its carousel). A severity I or II incident reported within "
        "the last `window_minutes` (CITYOPS_WALL_EMERGENCY_MINUTES) is an emergency of every wall until acknowledged for that "
        "wall or resolved; an operator's switch (POST) is one until acknowledged or resolved. Manual ones first, then the most "
        "severe, then the newest. Any well-formed wall id is accepted. A caller limited to areas gets the best one in their areas.",
        (P_WALL,), "WallEmergency", _wall_emergency, cache_control=STATE_CACHE_CONTROL,
    ),
    Endpoint(
        "/walls/{wall_id}/emergency", "raiseWallEmergency", "Switch a video wall to an incident (state-changing)",
        "Puts the incident on the wall's emergency scene until acknowledged or resolved; idempotent; clears an earlier "
        "acknowledgement. JSON body only (`Content-Type: application/json`, else 415). Changes shared state: needs the "
        "capability operate_wall by access control (commanders, administrators); a caller limited to areas may switch only "
        "a wall whose spec area lies in their areas, to an incident in them (403 otherwise).",
        (P_WALL, Param("incident_id", "incident_id", "The incident to show.", location="body", mandatory=True, example="INC-20261121-0001")),
        "WallRaised", _raise_wall_emergency, cache_control=STATE_CACHE_CONTROL, method="POST",
        conflict="The incident is resolved or closed; `parameter` names it.",
    ),
    Endpoint(
        "/walls/{wall_id}/acknowledge", "acknowledgeWallEmergency", "Acknowledge a video wall's emergency (state-changing)",
        "Acknowledges, for this wall, the incident it shows now — or the given one if it is pending on this wall — and "
        "answers what the wall shows next (null: back to the carousel). `acknowledged` is null when nothing was pending. "
        "JSON body only (`Content-Type: application/json`, else 415; `{}` or an empty body acknowledges the current one). "
        "Changes shared state: needs the capability operate_wall by access control (commanders, administrators); a caller "
        "limited to areas may acknowledge only on a wall whose spec area lies in their areas, and only incidents in them (403 otherwise).",
        (P_WALL, Param("incident_id", "incident_id", "The incident to acknowledge (default: the one shown now).", location="body", example="INC-20261121-0001")),
        "WallAcknowledged", _acknowledge_wall_emergency, cache_control=STATE_CACHE_CONTROL, method="POST",
    ),
    Endpoint(
        "/openapi.json", "getOpenApi", "This description",
        "The OpenAPI 3.1 description of this API, generated from the same table that validates every request.",
        (), "OpenApiDocument", _openapi, cache_control=DOCUMENT_CACHE_CONTROL, reads_data=False,
    ),
)


# --- the OpenAPI document ---------------------------------------------------------------------


def _value_schema(param: Param) -> dict:
    if param.kind in KIND_PATTERNS:
        return {"type": "string", "pattern": KIND_PATTERNS[param.kind]}
    if param.kind == "time":
        return {"type": "string", "description": TIME_FORMS}
    if param.kind == "integer":
        return {"type": "integer", "minimum": param.minimum, "maximum": param.maximum, "default": param.default}
    if param.kind == "enum":
        item = {"type": "string", "enum": [text for text, _ in param.choices]}
        if param.many:
            return {"type": "array", "items": item, "minItems": 1}
        return {**item, "default": param.default} if param.default is not None else item
    raise AssertionError(f"parameter kind {param.kind!r} has no schema")


def _request_body(endpoint: Endpoint) -> dict:
    members = [p for p in endpoint.params if p.location == "body"]
    properties = {}
    for param in members:
        schema = _value_schema(param)
        if not param.mandatory:
            schema = {**schema, "type": [schema["type"], "null"]}
        properties[param.name] = {**schema, "description": param.description}
    schema = {"type": "object", "additionalProperties": False, "properties": properties, "required": [p.name for p in members if p.mandatory]}
    example = {p.name: p.example for p in members if p.example is not None}
    return {"required": any(p.mandatory for p in members), "content": {JSON_MIMETYPE: {"schema": schema, "example": example}}}


def _parameter_object(param: Param) -> dict:
    described = {"name": param.name, "in": param.location, "required": param.required, "description": param.description, "schema": _value_schema(param)}
    if param.many:
        described.update(style="form", explode=False)  # ?severity=1,2
    if param.example is not None:
        described["example"] = param.example
    return described


def _response(description: str, schema: str, headers: dict | None = None) -> dict:
    described = {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}
    if headers:
        described["headers"] = headers
    return described


def openapi_document() -> dict:
    headers = {
        DATA_VERSION_HEADER: {"description": "Global data version (grows with every committed import or feed batch).", "schema": {"type": "integer"}},
        "Cache-Control": {"description": "How long the response may be reused.", "schema": {"type": "string"}},
    }
    paths = {}
    for endpoint in ENDPOINTS:
        responses = {
            "200": _response("OK", endpoint.response_schema, headers),
            "400": _response("A parameter is malformed, out of range, unknown or given twice; `parameter` names it.", "Error"),
        }
        if endpoint.may_be_not_found:
            responses["404"] = _response("The area or incident does not exist; `parameter` names it.", "Error")
        if endpoint.conflict:
            responses["409"] = _response(endpoint.conflict, "Error")
        if endpoint.writes:
            responses["413"] = _response(f"The request body is larger than {MAX_BODY_BYTES} bytes.", "Error")
            responses["415"] = _response(f"The request body is not `{JSON_MIMETYPE}`.", "Error")
        public = endpoint.path == "/openapi.json"
        if not public:
            responses["401"] = _response("Nobody is logged in: send a session cookie or `Authorization: Bearer <token>`.", "Error")
            responses["403"] = _response("The caller's role may not do this, or the area or incident lies outside the caller's areas.", "Error")
        responses["503"] = _response("The data service is unavailable; retry later.", "Error")
        operation = {"operationId": endpoint.operation_id, "summary": endpoint.summary, "description": endpoint.description,
                     "parameters": [_parameter_object(p) for p in endpoint.params if p.location != "body"], "responses": responses,
                     "security": [] if public else [{"bearer": []}, {"session": []}]}
        if endpoint.writes:
            operation["requestBody"] = _request_body(endpoint)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cityops API",
            "version": API_VERSION,
            "description": (
                "JSON over the operations centre's query layer, read-only except the video walls' emergency switch "
                "(POST /walls/{wall_id}/emergency and /acknowledge: JSON bodies only, state-changing, for commanders and "
                "administrators). Every operation but this document needs a session or `Authorization: Bearer <token>` "
                "(401 without, 403 for a role without the API; a caller limited to areas gets 403 outside them). "
                "Times are ISO 8601: input with or without "
                "offset (naive = Asia/Shanghai), output in UTC with offset. Windows default to the last 24 hours and "
                "span at most 366 days. Unknown parameters are refused (400). Personal data (reporter names, phone "
                "numbers, exact addresses) is never served; numbers in free text are masked unless the caller may see personal data."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from `cityops users token` (API clients)."},
                "session": {"type": "apiKey", "in": "cookie", "name": "session", "description": "The browser session of /login."},
            },
        },
    }


# --- the Flask side ---------------------------------------------------------------------------


def _written_data_version() -> int:
    with current_context().engine.connect() as conn:
        return data_version(conn)


def _data_version_if_available() -> int | None:
    try:
        return _current_data_version()
    except Exception:  # noqa: BLE001 - the header is best effort on error responses
        return None


def _serve(endpoint: Endpoint, **path_values) -> flask.Response:
    version = None
    try:
        body = json_body(endpoint, flask.request) if endpoint.writes else None
        arguments = validated_arguments(endpoint, path_values, flask.request.args, body)
        _check_area_rights(endpoint, arguments)
        if endpoint.reads_data and not endpoint.writes:
            version = _current_data_version()  # before the data: a client never sees data newer than its version
            _check_areas_exist(endpoint, arguments)
        response = _json_response(endpoint.handler(arguments), 200, endpoint.cache_control)
        if endpoint.writes:
            version = _written_data_version()  # after the write, from the primary: the version it made visible
    except ApiError as error:
        response = _json_response(error.body(), error.status, ERROR_CACHE_CONTROL)
    except UnknownArea as exc:  # an area removed between the existence check and the query
        response = _json_response({"error": "not_found", "parameter": None, "message": str(exc)}, 404, ERROR_CACHE_CONTROL)
    except Exception:  # noqa: BLE001 - never a 500, never a stack trace to the client
        logger.exception("API request %s failed", flask.request.full_path)
        return _unavailable_response()
    if version is None:
        version = _data_version_if_available()
    if version is not None:
        response.headers[DATA_VERSION_HEADER] = str(version)
    return response


def _no_such_endpoint(unknown: str) -> flask.Response:
    return _json_response({"error": "not_found", "message": f"no endpoint {API_PREFIX}/{unknown}; see {API_PREFIX}/openapi.json"}, 404, ERROR_CACHE_CONTROL)


def _method_not_allowed(allowed: tuple[str, ...], **path_values) -> flask.Response:
    listed = ", ".join(allowed)
    message = f"{flask.request.method} is not accepted here; use {listed} (see {API_PREFIX}/openapi.json)"
    response = _json_response({"error": "method_not_allowed", "message": message}, 405, ERROR_CACHE_CONTROL)
    response.headers["Allow"] = ", ".join(("GET", "HEAD", *(m for m in allowed if m != "GET")) if "GET" in allowed else allowed)
    return response


def _flask_rule(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def register_api(server: flask.Flask) -> None:
    """Mount ``/api/v1`` on the Flask server; the blueprint is built per app (no module state)."""
    blueprint = flask.Blueprint("api_v1", __name__, url_prefix=API_PREFIX)
    methods: dict[str, list[str]] = {}
    for endpoint in ENDPOINTS:
        blueprint.add_url_rule(_flask_rule(endpoint.path), endpoint=endpoint.operation_id,
                               view_func=functools.partial(_serve, endpoint), methods=[endpoint.method])
        methods.setdefault(endpoint.path, []).append(endpoint.method)
    # Another method on a known path is a JSON 405 naming the allowed ones.
    for number, (path, allowed) in enumerate(methods.items()):
        others = [m for m in ANY_METHOD if m not in allowed]
        blueprint.add_url_rule(_flask_rule(path), endpoint=f"method_not_allowed_{number}",
                               view_func=functools.partial(_method_not_allowed, tuple(allowed)), methods=others)
    # Anything else under the prefix is a JSON 404 instead of Dash's HTML page.
    blueprint.add_url_rule("/<path:unknown>", endpoint="no_such_endpoint", view_func=_no_such_endpoint, methods=list(ANY_METHOD))
    server.register_blueprint(blueprint)
