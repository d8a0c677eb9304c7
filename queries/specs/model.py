"""What a wall shows, as data: the spec of a wall (its scene set), validated.

A wall spec is a YAML/JSON document (the defaults ship in ``specs/walls/``; edited versions live
in the database, ``queries.specs.store``)::

    kind: wall
    spec_version: 1
    id: default
    title: {zh: 城市运行总览, en: City overview}
    canvas: {width: 3840, height: 1080}      # the design size, in canvas pixels
    grid: {columns: 24, rows: 12, gap: 12}   # panels are placed on this grid
    scenes:
      - id: overview
        dwell: 60                            # seconds on screen in the carousel
        panels:
          - {id: map, type: map, at: {col: 1, row: 1, col_span: 12, row_span: 12}, layers: [basemap, boundaries, incidents]}
          - {id: aqi, type: aqi_gauge, at: {col: 13, row: 1, col_span: 4, row_span: 4}}
    emergency: {...a scene, shown centred on a severity I/II incident...}

Two passes, so that a file with several mistakes reports all of them, each with its place
(``scenes[0].panels[2].indicator``): pydantic checks the shape (types, ranges, enums), then
``check_wall`` checks what needs the whole document or the platform's catalogue (unique ids,
panels inside the grid and not overlapping, indicators, layers, areas and datasets that exist).
The catalogue is passed in (``SpecCatalogue``), so this module needs no database and no UI code.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SPEC_VERSION = 1
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
PanelId = Annotated[str, Field(pattern=ID_PATTERN)]
AreaCode = Annotated[str, Field(pattern=r"^[0-9]{6}([0-9]{3}([0-9]{3}([0-9]{3})?)?)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalText(_Strict):
    """Text in Chinese with an optional English version; a plain string is Chinese only."""

    zh: Annotated[str, Field(min_length=1, max_length=80)]
    en: Annotated[str | None, Field(max_length=80)] = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value):
        return {"zh": value} if isinstance(value, str) else value

    def get(self, lang: str) -> str:
        return self.en if lang == "en" and self.en else self.zh


class Canvas(_Strict):
    width: Annotated[int, Field(ge=640, le=16384)] = 3840
    height: Annotated[int, Field(ge=360, le=8640)] = 1080


class Grid(_Strict):
    columns: Annotated[int, Field(ge=1, le=96)] = 24
    rows: Annotated[int, Field(ge=1, le=48)] = 12
    gap: Annotated[int, Field(ge=0, le=200)] = 12  # canvas pixels between panels and at the edges


class Placement(_Strict):
    col: Annotated[int, Field(ge=1)]
    row: Annotated[int, Field(ge=1)]
    col_span: Annotated[int, Field(ge=1)] = 1
    row_span: Annotated[int, Field(ge=1)] = 1

    def cells(self) -> set[tuple[int, int]]:
        return {(c, r) for c in range(self.col, self.col + self.col_span) for r in range(self.row, self.row + self.row_span)}


class _Panel(_Strict):
    id: PanelId
    title: LocalText | None = None
    at: Placement
    area: AreaCode | None = None  # default: the wall's area
    refresh: Annotated[int | None, Field(ge=5, le=86400)] = None  # seconds; default per panel type


HexColour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
Limit = Annotated[float | None, Field(allow_inf_nan=False)]


class Thresholds(_Strict):
    """A panel's own warn and alarm lines, in the indicator's unit (default: the catalogue's).

    Which one is "worse" follows the indicator's good direction: where higher is worse the alarm
    is above the warn line (PM2.5 75 / 115 μg/m³), where lower is worse below it (online rate 85 / 80 %).
    """

    warn: Limit = None
    alarm: Limit = None


class Colours(_Strict):
    """Colours of a panel (``#rrggbb``): the value or line, and the warn and alarm states."""

    line: HexColour | None = None
    warn: HexColour | None = None
    alarm: HexColour | None = None


class MapPanel(_Panel):
    type: Literal["map"]
    layers: Annotated[list[str], Field(min_length=1)] = ["basemap", "boundaries", "incidents"]
    follow_incident: bool = False  # emergency scene: centred on the incident in alarm


class KpiPanel(_Panel):
    type: Literal["kpi"]
    indicator: str
    decimals: Annotated[int | None, Field(ge=0, le=4)] = None
    thresholds: Thresholds | None = None
    colors: Colours | None = None


TREND_CHARTS = ("area", "line", "bar")


class TrendPanel(_Panel):
    type: Literal["trend"]
    indicator: str
    window: Literal["24h", "7d"] = "24h"
    chart: Literal["area", "line", "bar"] = "area"
    thresholds: Thresholds | None = None
    colors: Colours | None = None


class RankingPanel(_Panel):
    """Child areas ranked by an indicator or by counted incidents / 12345 orders."""

    type: Literal["ranking"]
    indicator: str | None = None
    source: Literal["incidents", "work_orders"] | None = None
    window: Literal["today", "24h", "7d"] = "today"
    top: Annotated[int, Field(ge=3, le=20)] = 8

    @model_validator(mode="after")
    def _one_measure(self):
        if (self.indicator is None) == (self.source is None):
            raise ValueError("give exactly one of 'indicator' or 'source'")
        return self


class TickerPanel(_Panel):
    type: Literal["ticker"]
    severities: list[Literal[1, 2, 3, 4]] = [1, 2, 3, 4]
    limit: Annotated[int, Field(ge=3, le=30)] = 8


class AqiGaugePanel(_Panel):
    type: Literal["aqi_gauge"]


class CongestionStripPanel(_Panel):
    type: Literal["congestion_strip"]


class SeverityCountsPanel(_Panel):
    """Incidents today by severity (I–IV), with the open ones."""

    type: Literal["incident_severity"]


class FreshnessPanel(_Panel):
    type: Literal["freshness"]
    datasets: list[str] | None = None  # default: every dataset the scene's panels read


class IncidentCardPanel(_Panel):
    """Emergency scene: the incident in alarm (what, where, when, level, status)."""

    type: Literal["incident_card"]


class ResourcesPanel(_Panel):
    """Emergency scene: the nearest resources of each kind to the incident, with travel times."""

    type: Literal["resources"]
    per_kind: Annotated[int, Field(ge=1, le=5)] = 2


Panel = Annotated[
    Union[MapPanel, KpiPanel, TrendPanel, RankingPanel, TickerPanel, AqiGaugePanel, CongestionStripPanel,
          SeverityCountsPanel, FreshnessPanel, IncidentCardPanel, ResourcesPanel],
    Field(discriminator="type"),
]
PANEL_TYPES = ("map", "kpi", "trend", "ranking", "ticker", "aqi_gauge", "congestion_strip", "incident_severity", "freshness",
               "incident_card", "resources")
EMERGENCY_ONLY = ("incident_card", "resources")


class Scene(_Strict):
    id: PanelId
    title: LocalText | None = None
    dwell: Annotated[int, Field(ge=5, le=3600)] = 60
    panels: Annotated[list[Panel], Field(min_length=1)]


class WallSpec(_Strict):
    kind: Literal["wall"]
    spec_version: Literal[1] = SPEC_VERSION
    id: PanelId
    title: LocalText
    canvas: Canvas = Canvas()
    grid: Grid = Grid()
    area: AreaCode | None = None  # default: the city (the root of the area tree)
    max_device_pixel_ratio: Annotated[float, Field(ge=0.5, le=3)] = 1.0  # caps deck.gl's canvas on 8K walls
    scenes: Annotated[list[Scene], Field(min_length=1)]
    emergency: Scene | None = None

    def scene(self, scene_id: str) -> Scene | None:
        return next((s for s in self.all_scenes() if s.id == scene_id), None)

    def all_scenes(self) -> list[Scene]:
        return [*self.scenes, *([self.emergency] if self.emergency else [])]


# --- the second pass ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecError:
    """One problem and its place in the document (``scenes[0].panels[2].indicator``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(document)'}: {self.message}"


@dataclass(frozen=True)
class IndicatorFacts:
    """What a threshold check needs to know of an indicator: its unit and which way is good."""

    unit: str | None = None
    good_direction: str = "neutral"  # up | down | neutral


@dataclass(frozen=True)
class SpecCatalogue:
    """What exists on the platform; an empty set means "not checked" (e.g. no database at hand).

    ``indicator_facts`` (code → unit and good direction) lets thresholds be checked against the
    unit; an indicator missing there gets the structural checks only.
    """

    indicators: frozenset[str] = frozenset()
    layers: frozenset[str] = frozenset()
    areas: frozenset[str] = frozenset()
    datasets: frozenset[str] = frozenset()
    indicator_facts: Mapping[str, IndicatorFacts] = field(default_factory=lambda: MappingProxyType({}), hash=False)


@dataclass
class SpecResult:
    spec: WallSpec | None
    errors: list[SpecError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors


def format_path(loc: tuple) -> str:
    """``('scenes', 0, 'panels', 2, 'kpi', 'indicator')`` → ``scenes[0].panels[2].indicator``.

    The discriminator tag pydantic puts after a union item (the panel type) is dropped.
    """
    text = ""
    previous = None
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif previous == "panels_item" or (isinstance(previous, int) and part in (*PANEL_TYPES, *BRIEFING_SECTION_TYPES)):
            pass
        elif re.fullmatch(r"function-.*|union_tag.*", str(part)):
            pass
        else:
            text += f".{part}" if text else str(part)
        previous = part
    return text


def _shape_errors(exc: ValidationError) -> list[SpecError]:
    errors = []
    for item in exc.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        what, known = ("section type", BRIEFING_SECTION_TYPES) if "sections" in item["loc"] else ("panel type", PANEL_TYPES)
        if item["type"] == "union_tag_invalid":
            message = f"unknown {what} {item['input'].get('type')!r}; known: {', '.join(known)}" if isinstance(item.get("input"), dict) else message
        elif item["type"] == "union_tag_not_found":
            message = f"missing 'type'; one of: {', '.join(known)}"
        errors.append(SpecError(format_path(item["loc"]), message))
    return errors


def _check_scene(spec: WallSpec, scene: Scene, path: str, catalogue: SpecCatalogue, *, emergency: bool) -> list[SpecError]:
    errors = []
    taken: dict[tuple[int, int], str] = {}
    seen_ids: set[str] = set()
    for index, panel in enumerate(scene.panels):
        here = f"{path}.panels[{index}]"
        if panel.id in seen_ids:
            errors.append(SpecError(f"{here}.id", f"panel id {panel.id!r} is used twice in scene {scene.id!r}"))
        seen_ids.add(panel.id)
        at = panel.at
        if at.col + at.col_span - 1 > spec.grid.columns or at.row + at.row_span - 1 > spec.grid.rows:
            errors.append(SpecError(f"{here}.at", f"panel {panel.id!r} reaches column {at.col + at.col_span - 1}, row {at.row + at.row_span - 1}; "
                                                  f"the grid is {spec.grid.columns}×{spec.grid.rows}"))
        else:
            clash = sorted({taken[cell] for cell in at.cells() if cell in taken})
            if clash:
                errors.append(SpecError(f"{here}.at", f"panel {panel.id!r} overlaps {', '.join(repr(c) for c in clash)}"))
            taken.update((cell, panel.id) for cell in at.cells())
        if panel.type in EMERGENCY_ONLY and not emergency:
            errors.append(SpecError(f"{here}.type", f"{panel.type!r} panels show the incident in alarm: only in the 'emergency' scene"))
        if getattr(panel, "follow_incident", False) and not emergency:
            errors.append(SpecError(f"{here}.follow_incident", "only a map in the 'emergency' scene can follow the incident"))
        indicator = getattr(panel, "indicator", None)
        if indicator is not None and catalogue.indicators and indicator not in catalogue.indicators:
            errors.append(SpecError(f"{here}.indicator", f"unknown indicator {indicator!r}"))
        for position, layer in enumerate(getattr(panel, "layers", None) or ()):
            if catalogue.layers and layer not in catalogue.layers:
                errors.append(SpecError(f"{here}.layers[{position}]", f"unknown layer {layer!r}; known: {', '.join(sorted(catalogue.layers))}"))
        for position, dataset in enumerate(getattr(panel, "datasets", None) or ()):
            if catalogue.datasets and dataset not in catalogue.datasets:
                errors.append(SpecError(f"{here}.datasets[{position}]", f"unknown dataset {dataset!r}"))
        if panel.area is not None and catalogue.areas and panel.area not in catalogue.areas:
            errors.append(SpecError(f"{here}.area", f"unknown area {panel.area!r}"))
        errors += check_thresholds(getattr(panel, "thresholds", None), indicator, here, catalogue)
    return errors


# Units whose values are never negative, and bounded ranges (a threshold outside them never fires).
PERCENT_UNITS = frozenset({"%", "％"})
SIGNED_UNITS = frozenset({"m", "米", "℃", "°C", "元"})  # margins, temperatures, balances may go below zero
INDICATOR_RANGES = {"aqi": (0.0, 500.0), "congestion_index": (0.0, 10.0)}  # HJ 633 AQI; 交通拥堵指数 0–10
MIN_CELL_PX = 24  # a grid cell narrower or lower than this on the canvas cannot hold a panel


def check_thresholds(thresholds: Thresholds | None, indicator: str | None, here: str, catalogue: SpecCatalogue) -> list[SpecError]:
    """Thresholds that make no sense for the indicator's unit or direction: a percentage outside
    0–100, a negative count or concentration, a value outside the indicator's range, the alarm on
    the good side of the warn line."""
    if thresholds is None:
        return []
    errors = []
    facts = catalogue.indicator_facts.get(indicator) if indicator is not None else None
    unit = facts.unit if facts is not None else None
    low, high = INDICATOR_RANGES.get(indicator or "", (None, None))
    if unit in PERCENT_UNITS:
        low, high = 0.0, 100.0
    elif facts is not None and unit is not None and unit not in SIGNED_UNITS:
        low = 0.0 if low is None else low
    for name in ("warn", "alarm"):
        value = getattr(thresholds, name)
        if value is None:
            continue
        shown = f"{value:g}" + (f" {unit}" if unit else "")
        if unit in PERCENT_UNITS and not 0 <= value <= 100:
            errors.append(SpecError(f"{here}.thresholds.{name}", f"{shown} is not a percentage: give a value from 0 to 100"))
        elif low is not None and value < low:
            errors.append(SpecError(f"{here}.thresholds.{name}", f"{shown} is below {low:g}, the lowest value {indicator!r} can take"
                                                               if indicator in INDICATOR_RANGES else f"{shown}: a negative value makes no sense for {unit}"))
        elif high is not None and value > high:
            errors.append(SpecError(f"{here}.thresholds.{name}", f"{shown} is above {high:g}, the highest value {indicator!r} can take"))
    warn, alarm = thresholds.warn, thresholds.alarm
    if warn is not None and alarm is not None and facts is not None and not errors:  # out of range first: the order follows
        if facts.good_direction == "down" and not alarm > warn:
            errors.append(SpecError(f"{here}.thresholds.alarm", f"the alarm line ({alarm:g}) must be above the warn line ({warn:g}): "
                                                                f"for {indicator!r} higher is worse"))
        elif facts.good_direction == "up" and not alarm < warn:
            errors.append(SpecError(f"{here}.thresholds.alarm", f"the alarm line ({alarm:g}) must be below the warn line ({warn:g}): "
                                                                f"for {indicator!r} lower is worse"))
        elif facts.good_direction == "neutral" and math.isclose(alarm, warn):
            errors.append(SpecError(f"{here}.thresholds.alarm", "the alarm and warn lines are the same value"))
    return errors


def _check_canvas(spec: WallSpec) -> list[SpecError]:
    """A grid whose gaps leave (almost) no room for cells on the canvas: its panels would lie outside it."""
    errors = []
    for axis, size, count in (("columns", spec.canvas.width, spec.grid.columns), ("rows", spec.canvas.height, spec.grid.rows)):
        cell = (size - spec.grid.gap * (count + 1)) / count
        if cell < MIN_CELL_PX:
            errors.append(SpecError(f"grid.{axis}", f"{count} {axis} with a gap of {spec.grid.gap} leave {cell:.0f} px per cell on a canvas "
                                                   f"{size} px {'wide' if axis == 'columns' else 'high'}: at least {MIN_CELL_PX} px are needed"))
    return errors


def check_wall(spec: WallSpec, catalogue: SpecCatalogue = SpecCatalogue()) -> list[SpecError]:
    """Everything pydantic cannot see one field at a time."""
    errors = _check_canvas(spec)
    if spec.area is not None and catalogue.areas and spec.area not in catalogue.areas:
        errors.append(SpecError("area", f"unknown area {spec.area!r}"))
    scene_ids: set[str] = set()
    for index, scene in enumerate(spec.scenes):
        if scene.id in scene_ids:
            errors.append(SpecError(f"scenes[{index}].id", f"scene id {scene.id!r} is used twice"))
        scene_ids.add(scene.id)
        errors += _check_scene(spec, scene, f"scenes[{index}]", catalogue, emergency=False)
    if spec.emergency is not None:
        if spec.emergency.id in scene_ids:
            errors.append(SpecError("emergency.id", f"scene id {spec.emergency.id!r} is already a carousel scene"))
        errors += _check_scene(spec, spec.emergency, "emergency", catalogue, emergency=True)
    return errors


def validate_wall(data, catalogue: SpecCatalogue = SpecCatalogue()) -> SpecResult:
    """Both passes over a parsed document; ``result.spec`` is None when its shape is wrong."""
    if not isinstance(data, dict):
        return SpecResult(None, [SpecError("", f"a wall spec is a mapping, not {type(data).__name__}")])
    try:
        spec = WallSpec.model_validate(data)
    except ValidationError as exc:
        return SpecResult(None, _shape_errors(exc))
    return SpecResult(spec, check_wall(spec, catalogue))


# --- briefings --------------------------------------------------------------------------------------
#
#   kind: briefing
#   spec_version: 1
#   id: city
#   title: {zh: 今日城市运行简报, en: Today's city briefing}
#   area: "320700"                 # a district briefing names its district
#   sections:
#     - {type: attention}          # abnormal items first: indicators past a threshold, stale datasets
#     - {type: indicators, indicators: [incidents_today, hotline_volume, aqi, congestion_index]}
#     - {type: incidents, severities: [1, 2, 3]}
#     - ...
# The order of ``sections`` is the order on the page after "attention", which always comes first.

BRIEFING_SECTION_TYPES = ("attention", "indicators", "incidents", "air_quality", "traffic", "hotline", "gov_services", "map")


class _Section(_Strict):
    title: LocalText | None = None


class AttentionSection(_Section):
    type: Literal["attention"]
    limit: Annotated[int, Field(ge=1, le=30)] = 10


class IndicatorsSection(_Section):
    type: Literal["indicators"]
    indicators: Annotated[list[str], Field(min_length=1, max_length=24)]


class IncidentsSection(_Section):
    type: Literal["incidents"]
    severities: Annotated[list[Literal[1, 2, 3, 4]], Field(min_length=1)] = [1, 2, 3]
    limit: Annotated[int, Field(ge=1, le=50)] = 10


class AirQualitySection(_Section):
    type: Literal["air_quality"]
    worst_stations: Annotated[int, Field(ge=1, le=20)] = 5


class TrafficSection(_Section):
    type: Literal["traffic"]
    worst_roads: Annotated[int, Field(ge=1, le=20)] = 5


class HotlineSection(_Section):
    type: Literal["hotline"]
    top_topics: Annotated[int, Field(ge=1, le=20)] = 5


class GovServicesSection(_Section):
    type: Literal["gov_services"]
    indicators: list[str] = ["gov_online_rate", "gov_service_volume"]


class MapSection(_Section):
    """A small static map of the area's children coloured by a measure (SVG: light on a slow link,
    sharp in the PDF)."""

    type: Literal["map"]
    measure: Literal["incidents_today", "aqi", "congestion"] = "incidents_today"


BriefingSection = Annotated[
    Union[AttentionSection, IndicatorsSection, IncidentsSection, AirQualitySection, TrafficSection, HotlineSection,
          GovServicesSection, MapSection],
    Field(discriminator="type"),
]


class BriefingSpec(_Strict):
    kind: Literal["briefing"]
    spec_version: Literal[1] = SPEC_VERSION
    id: PanelId
    title: LocalText
    area: AreaCode | None = None  # default: the city
    sections: Annotated[list[BriefingSection], Field(min_length=1)]


def check_briefing(spec: BriefingSpec, catalogue: SpecCatalogue = SpecCatalogue()) -> list[SpecError]:
    errors = []
    if spec.area is not None and catalogue.areas and spec.area not in catalogue.areas:
        errors.append(SpecError("area", f"unknown area {spec.area!r}"))
    seen: dict[str, int] = {}
    for index, section in enumerate(spec.sections):
        here = f"sections[{index}]"
        if section.type in seen and section.type != "indicators":
            errors.append(SpecError(f"{here}.type", f"a {section.type!r} section is already at sections[{seen[section.type]}]"))
        seen.setdefault(section.type, index)
        for position, code in enumerate(getattr(section, "indicators", None) or ()):
            if catalogue.indicators and code not in catalogue.indicators:
                errors.append(SpecError(f"{here}.indicators[{position}]", f"unknown indicator {code!r}"))
    return errors


def validate_briefing(data, catalogue: SpecCatalogue = SpecCatalogue()) -> SpecResult:
    if not isinstance(data, dict):
        return SpecResult(None, [SpecError("", f"a briefing spec is a mapping, not {type(data).__name__}")])
    try:
        spec = BriefingSpec.model_validate(data)
    except ValidationError as exc:
        return SpecResult(None, _shape_errors(exc))
    return SpecResult(spec, check_briefing(spec, catalogue))
