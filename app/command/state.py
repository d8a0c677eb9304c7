"""The command view's state, which lives in the URL: parsing, validation, writing, transitions.

``?area=320706&layers=boundaries,incidents&t=24h&incident=INC1&lang=en`` — every parameter is
checked; a bad one is dropped (its default is used) and reported as a ``Problem`` the page shows,
never a stack trace. Whether an area code or an incident id exists is the database's question and
is checked in ``app.command.data``; here only their form.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from app.i18n import LANGUAGES, normalise_lang

BEIJING = ZoneInfo("Asia/Shanghai")  # naive times in a URL are Beijing time, like every source
WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}
WINDOW_CHOICES = ("24h", "7d", "custom")
DEFAULT_WINDOW = "24h"
MAX_CUSTOM_WINDOW = dt.timedelta(days=92)
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
DEFAULT_LAYERS = ("boundaries", "grid_choropleth", "incidents", "resources")
AREA_CODE = re.compile(r"[0-9]{6,15}")
INCIDENT_ID = re.compile(r"[^\x00-\x1f\x7f/]{1,64}")
FILTERS = ("category", "severity", "status", "channel")
# Order of parameters in a written URL: stable, so that equal states give equal links.
URL_ORDER = ("area", "incident", "layers", "t", "from", "to", *FILTERS, "lang")


@dataclass(frozen=True)
class Problem:
    """One rejected URL parameter: which, the catalogue key of the message, and the value."""

    param: str
    key: str
    value: str


@dataclass(frozen=True)
class CommandState:
    area: str | None = None  # None: the city (the root of the area tree)
    layers: tuple[str, ...] = DEFAULT_LAYERS
    window: str = DEFAULT_WINDOW
    start: str | None = None  # ISO, UTC; only for window == "custom"
    end: str | None = None
    incident: str | None = None
    category: tuple[str, ...] = ()
    severity: tuple[int, ...] = ()
    status: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    lang: str = "zh"
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    # --- the Store's JSON form --------------------------------------------------------------
    def to_store(self, *, push: bool = False) -> dict:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        data["search"] = to_search(self)
        data["push"] = push  # whether the browser should add a history entry for this state
        return data

    @classmethod
    def from_store(cls, data: Mapping | None, *, known_layers: tuple[str, ...] | None = None) -> CommandState:
        """The state a ``command-state`` store holds. The store comes back from the browser, so
        every value is checked (``app.security.callbacks.BadInput`` — a 400 — names the first bad
        one); ``known_layers`` also checks the layer names."""
        data = check_store(data, known_layers)
        tuples = {name: tuple(data.get(name) or ()) for name in ("layers", *FILTERS)}
        problems = tuple(Problem(**{key: p[key] for key in ("param", "key", "value")}) for p in data.get("problems") or ())
        known = {name: data[name] for name in ("area", "window", "start", "end", "incident", "lang") if data.get(name) is not None}
        return cls(**known, **tuples, problems=problems)

    # --- time -----------------------------------------------------------------------------
    def time_window(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of the view: the last 24 h / 7 d before ``now``, or the custom range."""
        if self.window == "custom" and self.start and self.end:
            return dt.datetime.fromisoformat(self.start), dt.datetime.fromisoformat(self.end)
        end = now
        return end - WINDOWS.get(self.window, WINDOWS[DEFAULT_WINDOW]), end

    @property
    def filters(self) -> dict:
        """Keyword filters as ``queries.drill.filtered_points`` takes them."""
        return {"categories": list(self.category), "severities": list(self.severity), "statuses": list(self.status), "channels": list(self.channel)}


# --- the store, as it comes back from the browser -------------------------------------------------


def _store_shape():
    from app.security.callbacks import BOOL, Enum, Int, ListOf, Opt, Record, Text

    names = Opt(ListOf(Text(64), 64))
    return Record.of(
        area=Opt(Text(15, AREA_CODE.pattern)), layers=names, window=Opt(Enum(WINDOW_CHOICES)), start=Opt(Text(64)), end=Opt(Text(64)),
        incident=Opt(Text(64, INCIDENT_ID.pattern)), category=names, severity=Opt(ListOf(Int(1, 4), 4)), status=names, channel=names,
        lang=Opt(Enum(LANGUAGES)), search=Opt(Text(8192)), push=Opt(BOOL),
        problems=Opt(ListOf(Record.of(param=Text(32), key=Text(80, r"(command|access)\.problem\.[a-z_]+"), value=Text(300)), 64)),
    )


def check_store(data, known_layers: tuple[str, ...] | None = None) -> dict:
    """``data`` when it is a valid ``command-state`` store (None: the default state), else ``BadInput``."""
    from app.i18n import CATALOGUE
    from app.security.callbacks import BadInput, check

    name = "command-state.data"
    data = check(data if data is not None else {}, _store_shape(), name)
    for problem in data.get("problems") or ():
        if problem["key"] not in CATALOGUE:
            raise BadInput(f"{name}.problems", f"unknown message {problem['key']!r}")
    if known_layers is not None:
        unknown = [layer for layer in data.get("layers") or () if layer not in known_layers]
        if unknown:
            raise BadInput(f"{name}.layers", f"unknown layer {unknown[0]!r}")
    choices = filter_choices()
    for field_name in FILTERS:
        for value in data.get(field_name) or ():
            if str(value) not in choices[field_name]:
                raise BadInput(f"{name}.{field_name}", f"{value!r} is not a {field_name}")
    times = {}
    for field_name in ("start", "end"):
        if data.get(field_name) is not None:
            try:
                times[field_name] = parse_time(data[field_name])
            except (ValueError, OverflowError):
                raise BadInput(f"{name}.{field_name}", "is not an ISO time between 2000 and 2100") from None
    if data.get("window") == "custom":
        if len(times) < 2 or not times["start"] < times["end"] or times["end"] - times["start"] > MAX_CUSTOM_WINDOW:
            raise BadInput(f"{name}.window", f"a custom window needs a start before its end, at most {MAX_CUSTOM_WINDOW.days} days apart")
    return data


# --- parsing ------------------------------------------------------------------------------------


def parse_time(text: str) -> dt.datetime:
    """ISO 8601 date or date-time; naive means Beijing time. UTC out. ValueError when unusable."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=BEIJING)
    value = value.astimezone(dt.timezone.utc)
    if not EARLIEST <= value < LATEST:
        raise ValueError(text)
    return value


def _list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def filter_choices() -> dict[str, dict[str, object]]:
    """Accepted URL values of each filter → the value queries take (severity also as I–IV)."""
    from queries.vocab import (
        CHANNELS,
        INCIDENT_CATEGORIES,
        INCIDENT_STATUS_CODES,
        codes,
    )

    severity = {str(n): n for n in (1, 2, 3, 4)} | {"I": 1, "II": 2, "III": 3, "IV": 4}
    return {
        "category": {code: code for code in codes(INCIDENT_CATEGORIES)},
        "severity": severity,
        "status": {code: code for code in INCIDENT_STATUS_CODES},
        "channel": {code: code for code in codes(CHANNELS)},
    }


def parse_query(query: Mapping[str, str], *, known_layers: tuple[str, ...], default_lang: str = "zh") -> CommandState:
    """A valid state from URL parameters; every rejected value is listed in ``problems``."""
    problems: list[Problem] = []
    values: dict = {"lang": normalise_lang(query.get("lang"), default=default_lang)}

    area = (query.get("area") or "").strip()
    if area:
        if AREA_CODE.fullmatch(area):
            values["area"] = area
        else:
            problems.append(Problem("area", "command.problem.area_form", area))

    if "layers" in query:
        asked = _list(query.get("layers"))
        unknown = [name for name in asked if name not in known_layers]
        problems += [Problem("layers", "command.problem.layer", name) for name in unknown]
        chosen = tuple(dict.fromkeys(name for name in asked if name in known_layers))
        if chosen or not unknown:  # only unknown names: the default layers, not an empty map
            values["layers"] = chosen

    window = (query.get("t") or "").strip() or ("custom" if query.get("from") or query.get("to") else DEFAULT_WINDOW)
    if window not in WINDOW_CHOICES:
        problems.append(Problem("t", "command.problem.window", window))
        window = DEFAULT_WINDOW
    if window == "custom":
        window, custom, custom_problems = _custom_window(query)
        values.update(custom)
        problems += custom_problems
    values["window"] = window

    incident = (query.get("incident") or "").strip()
    if incident:
        if INCIDENT_ID.fullmatch(incident):
            values["incident"] = incident
        else:
            problems.append(Problem("incident", "command.problem.incident_form", incident[:64]))

    choices = filter_choices()
    for name in FILTERS:
        accepted = choices[name]
        asked = _list(query.get(name))
        problems += [Problem(name, "command.problem.filter", value) for value in asked if value not in accepted]
        values[name] = tuple(dict.fromkeys(accepted[value] for value in asked if value in accepted))
    return CommandState(**values, problems=tuple(problems))


def _custom_window(query: Mapping[str, str]) -> tuple[str, dict, list[Problem]]:
    problems = []
    times = {}
    for param in ("from", "to"):
        text = (query.get(param) or "").strip()
        if not text:
            problems.append(Problem(param, "command.problem.time_missing", ""))
            continue
        try:
            times[param] = parse_time(text)
        except (ValueError, OverflowError):
            problems.append(Problem(param, "command.problem.time", text))
    if problems:
        return DEFAULT_WINDOW, {}, problems
    start, end = times["from"], times["to"]
    if start >= end:
        return DEFAULT_WINDOW, {}, [Problem("from", "command.problem.time_order", query["from"])]
    if end - start > MAX_CUSTOM_WINDOW:
        return DEFAULT_WINDOW, {}, [Problem("from", "command.problem.time_span", query["from"])]
    return "custom", {"start": start.isoformat(), "end": end.isoformat()}, []


# --- writing ------------------------------------------------------------------------------------


def to_search(state: CommandState) -> str:
    """The URL query of ``state`` (``?…``), defaults left out; parsing it gives ``state`` back."""
    values: dict[str, str] = {}
    if state.area:
        values["area"] = state.area
    if state.incident:
        values["incident"] = state.incident
    if tuple(state.layers) != DEFAULT_LAYERS:
        values["layers"] = ",".join(state.layers)
    if state.window != DEFAULT_WINDOW:
        values["t"] = state.window
    if state.window == "custom":
        values["from"], values["to"] = beijing_text(state.start), beijing_text(state.end)
    for name in FILTERS:
        if getattr(state, name):
            values[name] = ",".join(str(v) for v in getattr(state, name))
    values["lang"] = state.lang
    ordered = [(name, values[name]) for name in URL_ORDER if name in values]
    return "?" + urlencode(ordered, safe=",:")


def beijing_text(iso_utc: str) -> str:
    """A UTC ISO time as the Beijing wall-clock time people type (``2026-11-21T08:00``)."""
    local = dt.datetime.fromisoformat(iso_utc).astimezone(BEIJING).replace(tzinfo=None)
    return local.isoformat(timespec="minutes" if local.second == 0 and local.microsecond == 0 else "seconds")


# --- transitions ----------------------------------------------------------------------------


def drill_to(state: CommandState, area_code: str | None) -> CommandState:
    """Another area: the incident selection belongs to the old view and is dropped."""
    return replace(state, area=area_code, incident=None, problems=())


def select_incident(state: CommandState, incident_id: str | None) -> CommandState:
    return replace(state, incident=incident_id, problems=())


def with_layers(state: CommandState, names, known_layers: tuple[str, ...]) -> CommandState:
    return replace(state, layers=tuple(name for name in known_layers if name in set(names or ())), problems=())


def with_window(state: CommandState, window: str, start: str | None = None, end: str | None = None) -> CommandState:
    """24 h / 7 d, or a custom range given as text (Beijing time); invalid input keeps the old window."""
    if window != "custom":
        return replace(state, window=window if window in WINDOWS else DEFAULT_WINDOW, start=None, end=None, problems=())
    parsed = parse_query({"t": "custom", "from": start or "", "to": end or ""}, known_layers=())
    if parsed.window != "custom":
        return replace(state, problems=parsed.problems)
    return replace(state, window="custom", start=parsed.start, end=parsed.end, problems=())


def with_filters(state: CommandState, **chosen) -> CommandState:
    """Filters from the controls (lists of URL values); unknown values are ignored."""
    choices = filter_choices()
    values = {name: tuple(dict.fromkeys(choices[name][str(v)] for v in (chosen.get(name) or ()) if str(v) in choices[name])) for name in FILTERS}
    return replace(state, **values, problems=())
