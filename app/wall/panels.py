"""Wall panel types: one small class per ``type`` of the spec, registered by name.

A panel class reads its data through the query cache (``build``) and returns a ``Built``: the
content (Dash components, or map props for a map panel), the data time it reflects and the
catalogue datasets it read. Sizes are in canvas units (CSS ``--u``, see assets/wall.css), so a
panel reads the same on a 4K or an 8K wall; charts are SVG drawn in canvas pixels (layers.charts).
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import math
from dataclasses import dataclass, field

import pandas as pd
from dash import html

from app.command.panels import (
    BEIJING,
    SEVERITY_NUMERALS,
    aqi_category,
    area_name,
    band_colour,
    hex_colour,
    local_time,
    term_name,
)
from app.context import run_query as plain_run_query
from app.context import run_query_or_last_good
from app.i18n import t
from app.masking import mask_text
from app.security.access import current_viewer

TODAY_START_HOUR = 0  # "today" starts at local midnight (Beijing)
NEW_INCIDENT_SECONDS = 600  # a ticker row is marked new for ten minutes


# The stale reads of the panel being built: ``collect_stale_reads`` opens a list, ``run_query``
# appends the data time of every answer that came from the last-good copy (database away).
_STALE_READS: contextvars.ContextVar[list | None] = contextvars.ContextVar("wall_stale_reads", default=None)


@contextlib.contextmanager
def collect_stale_reads(slot: str | None = None):
    """The stale reads of the panel built inside, and with ``slot`` (``wall:WALL/SCENE/PANEL``)
    its reads keep one last good value per query (``queries.cache`` ``last_good_slot``) instead
    of one per minute of their moving windows."""
    from queries.cache import QueryCache

    reads: list[dt.datetime] = []
    token = _STALE_READS.set(reads)
    try:
        if slot is None:
            yield reads
        else:
            with QueryCache.last_good_slot(slot):
                yield reads
    finally:
        _STALE_READS.reset(token)


def run_query(query, *args, **kwargs):
    """A query for a wall panel: fresh, or with the database away the last good answer this
    process gave (noted as a stale read), so a wall opened during an outage still shows data."""
    if not hasattr(query, "__cache_spec__"):  # not cacheable (e.g. depends on now): plain read
        return plain_run_query(query, *args, **kwargs)
    result = run_query_or_last_good(query, *args, **kwargs)
    if result.stale:
        reads = _STALE_READS.get()
        if reads is not None:
            reads.append(result.as_of)
    return result.value


@dataclass(frozen=True)
class PanelContext:
    """What every panel of one refresh shares."""

    area: dict  # the panel's area (the wall's unless the panel names one)
    lang: str
    now: dt.datetime
    scale: float = 1.0  # CSS pixels per canvas pixel on this screen
    emergency: dict | None = None  # the incident in alarm (emergency scene)
    scene_datasets: tuple[str, ...] = ()  # for the freshness footer: what the scene's other panels read
    panel_px: tuple[int, int] = (1000, 700)  # the panel's size on the design canvas (a map's zoom)


@dataclass
class Built:
    content: object
    data_time: dt.datetime | None = None
    datasets: list[str] = field(default_factory=list)


def severity_colour(severity) -> str:
    from queries.vocab import SEVERITY_RGB

    return hex_colour(SEVERITY_RGB.get(int(severity), (128, 128, 128)))


def today_start(now: dt.datetime) -> dt.datetime:
    """Local midnight of the day ``now`` ends (a window ending exactly at midnight is yesterday's)."""
    local = (now - dt.timedelta(microseconds=1)).astimezone(BEIJING)
    return local.replace(hour=TODAY_START_HOUR, minute=0, second=0, microsecond=0).astimezone(dt.timezone.utc)


def window_start(window: str, now: dt.datetime) -> dt.datetime:
    return {"today": today_start(now), "24h": now - dt.timedelta(hours=24), "7d": now - dt.timedelta(days=7)}[window]


def as_utc(value) -> dt.datetime | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def format_number(value, decimals: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if decimals is None:
        decimals = 0 if abs(value) >= 100 or float(value).is_integer() else 1
    return f"{value:,.{decimals}f}"


def datasets_of(tables=(), indicators=()) -> list[str]:
    from queries.wall import datasets_reading

    return run_query(datasets_reading, tuple(sorted(tables)), tuple(sorted(indicators)))


def indicator_name(row, lang: str) -> str:
    return (row.get("name_en") or row["name_zh"]) if lang == "en" else row["name_zh"]


def empty_note(lang: str) -> html.Div:
    return html.Div(t("wall.no_data", lang), className="wall-empty")


# --- the registry -----------------------------------------------------------------------------


class WallPanel:
    type: str = ""
    refresh_s: int = 60  # default refresh interval; the spec's ``refresh`` overrides it
    tables: tuple[str, ...] = ()  # what it reads, for freshness and live-event routing

    def title(self, panel, lang: str) -> str:
        return panel.title.get(lang) if panel.title else t(f"wall.panel.{self.type}", lang)

    def indicators(self, panel) -> tuple[str, ...]:
        indicator = getattr(panel, "indicator", None)
        return (indicator,) if indicator else ()

    def datasets(self, panel) -> list[str]:
        return datasets_of(self.tables, self.indicators(panel))

    def build(self, panel, ctx: PanelContext) -> Built:
        raise NotImplementedError


def _indicator_row(panel, ctx: PanelContext) -> dict | None:
    from queries.indicators import indicator_latest

    frame = run_query(indicator_latest, ctx.area["code"], (panel.indicator,))
    return None if frame.empty else frame.iloc[0].to_dict()


def indicator_title(panel, lang: str) -> str:
    """The panel's title, else the indicator's name from the catalogue (the code if unknown)."""
    from queries.indicators import list_indicators

    if panel.title:
        return panel.title.get(lang)
    try:
        frame = run_query(list_indicators, (panel.indicator,))
    except Exception:  # database away while the layout is built: the code, until it is back
        return panel.indicator
    return panel.indicator if frame.empty else indicator_name(frame.iloc[0].to_dict(), lang)


class KpiPanel(WallPanel):
    type = "kpi"
    refresh_s = 60

    def title(self, panel, lang):
        return indicator_title(panel, lang)

    def build(self, panel, ctx):
        row = _indicator_row(panel, ctx)
        if row is None:
            return Built(empty_note(ctx.lang), None, self.datasets(panel))
        lang = ctx.lang
        value = None if row["value"] is None or pd.isna(row["value"]) else float(row["value"])
        changes = []
        for name in ("yesterday", "last_week"):
            change = row.get(f"{name}_change_pct")
            if change is None or pd.isna(change):
                continue
            direction = "up" if change > 0 else "down" if change < 0 else "flat"
            good = row["good_direction"] == "neutral" or direction == "flat" or (direction == "up") == (row["good_direction"] == "up")
            arrow = {"up": "▲", "down": "▼", "flat": "="}[direction]
            changes.append(html.Span([t(f"wall.kpi.vs_{name}", lang), f" {arrow} {abs(change):.1f}%"],
                                     className=f"wall-kpi-change is-{'good' if good else 'bad'}"))
        warn, alarm, status = panel_limits(panel, row, value)
        limits = []
        for key, threshold in (("warn", warn), ("alarm", alarm)):
            if threshold is not None:
                limits.append(html.Span(t(f"wall.kpi.{key}", lang, value=format_number(threshold, panel.decimals)), className=f"wall-kpi-limit is-{key}"))
        colours = panel.colors
        colour = None if colours is None else {"ok": colours.line, "warn": colours.warn, "alarm": colours.alarm}.get(status)
        content = html.Div([
            html.Div([html.Span(format_number(value, panel.decimals), className="wall-kpi-number", style={"color": colour} if colour else None),
                      html.Span(row.get("unit") or "", className="wall-kpi-unit")], className="wall-kpi-value"),
            # One threshold only, the one that matters now: the alarm line once past it, else the warn line.
            html.Div(changes + (limits[-1:] if status == "alarm" else limits[:1]), className="wall-kpi-changes"),
        ], className=f"wall-kpi is-{status}")
        return Built(content, as_utc(row["ts"]), [row["dataset_code"]] if row.get("dataset_code") else self.datasets(panel))


def panel_limits(panel, meta: dict, value: float | None = None) -> tuple[float | None, float | None, str]:
    """(warn, alarm, status of ``value``): the panel's own thresholds (wall spec) where it sets
    them, else the indicator catalogue's."""
    from queries.indicators import threshold_status

    own = getattr(panel, "thresholds", None)
    warn = own.warn if own is not None and own.warn is not None else _number(meta.get("warn_threshold"))
    alarm = own.alarm if own is not None and own.alarm is not None else _number(meta.get("alarm_threshold"))
    if own is None and "status" in meta:
        return warn, alarm, meta["status"]
    return warn, alarm, threshold_status(value, meta.get("good_direction") or "neutral", warn, alarm)


class TrendPanel(WallPanel):
    type = "trend"
    refresh_s = 300

    def title(self, panel, lang):
        return f"{indicator_title(panel, lang)} · {t(f'wall.trend.window.{panel.window}', lang)}"

    def build(self, panel, ctx):
        from queries.indicators import indicator_series, list_indicators

        definition = run_query(list_indicators, (panel.indicator,))
        if definition.empty:
            return Built(empty_note(ctx.lang), None, [])
        meta = definition.iloc[0].to_dict()
        start = ctx.now - (dt.timedelta(hours=24) if panel.window == "24h" else dt.timedelta(days=7))
        series = run_query(indicator_series, panel.indicator, ctx.area["code"], start, ctx.now)
        data_time = as_utc(series["ts"].max()) if not series.empty else None
        content = html.Div(trend_image(series, meta, ctx, panel), className="wall-trend")
        return Built(content, data_time, [meta["dataset_code"]] if meta.get("dataset_code") else [])


def trend_image(series: pd.DataFrame, meta: dict, ctx: PanelContext, panel) -> html.Img:
    """The series as an SVG line chart (layers.charts) sized for the panel on the design canvas."""
    from layers.charts import svg_data_uri, trend_svg

    width, height = ctx.panel_px
    times = [as_utc(v).astimezone(BEIJING) for v in series["ts"]] if not series.empty else []
    values = [None if pd.isna(v) else float(v) for v in series["value"]] if not series.empty else []
    warn, alarm, _ = panel_limits(panel, meta)
    colours = panel.colors.model_dump() if getattr(panel, "colors", None) is not None else None
    svg = trend_svg(times, values, width=width, height=max(60, height - 70), warn=warn, alarm=alarm,
                    labels=(t("wall.trend.warn", ctx.lang), t("wall.trend.alarm", ctx.lang)),
                    time_format="%H:%M" if panel.window == "24h" else "%m-%d", chart=getattr(panel, "chart", "area"), colours=colours)
    return html.Img(src=svg_data_uri(svg), className="wall-trend-chart", alt="")


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


class RankingPanel(WallPanel):
    type = "ranking"
    refresh_s = 120

    def title(self, panel, lang):
        if panel.title or panel.indicator:
            return indicator_title(panel, lang)
        return t(f"wall.ranking.{panel.source}", lang)

    def datasets(self, panel):
        tables = {"incidents": ("incidents",), "work_orders": ("work_orders",)}.get(panel.source, ())
        return datasets_of(tables, self.indicators(panel))

    def build(self, panel, ctx):
        from queries.wall import count_ranking, indicator_ranking

        lang = ctx.lang
        decimals = 0
        if panel.indicator:
            result = run_query(indicator_ranking, ctx.area["code"], panel.indicator, panel.top)
            decimals = None
        else:
            result = run_query(count_ranking, ctx.area["code"], panel.source, window_start(panel.window, ctx.now), ctx.now, panel.top)
        rows = result["rows"]
        if not rows:
            return Built(empty_note(lang), as_utc(result["ts"]), self.datasets(panel))
        top = max(abs(r["value"]) for r in rows) or 1
        items = [
            html.Li([
                html.Span(str(rank), className="wall-rank-no"),
                html.Span(area_name(r, lang), className="wall-rank-name"),
                html.Span(html.Span(className="wall-rank-fill", style={"width": f"{max(2.0, abs(r['value']) / top * 100):.1f}%"}), className="wall-rank-bar"),
                html.Span(format_number(r["value"], decimals), className="wall-rank-value"),
            ], className="wall-rank-row")
            for rank, r in enumerate(rows, start=1)
        ]
        caption = html.Div(t("wall.ranking.unit", lang, unit=result["unit"]), className="wall-rank-caption") if result.get("unit") else None
        return Built(html.Div([caption, html.Ol(items, className="wall-rank-list")], className="wall-ranking"), as_utc(result["ts"]), self.datasets(panel))


class TickerPanel(WallPanel):
    type = "ticker"
    refresh_s = 30
    tables = ("incidents",)

    def build(self, panel, ctx):
        from queries.incidents import list_incidents
        from queries.vocab import INCIDENT_CATEGORIES, INCIDENT_STATUSES

        lang = ctx.lang
        frame = run_query(list_incidents, ctx.area["code"], limit=panel.limit, severities=tuple(panel.severities))
        if frame.empty:
            return Built(empty_note(lang), None, self.datasets(panel))
        names = district_names(lang)
        viewer = current_viewer()
        rows = []
        for r in frame.itertuples(index=False):
            reported = as_utc(r.reported_at)
            fresh = reported is not None and (ctx.now - reported).total_seconds() < NEW_INCIDENT_SECONDS
            rows.append(html.Li([
                html.Span(SEVERITY_NUMERALS.get(int(r.severity), "?"), className="wall-sev-badge", style={"background": severity_colour(r.severity)}),
                html.Span(local_time(reported, lang, with_date=False), className="wall-ticker-time"),
                html.Span(mask_text(r.title, viewer) or term_name(INCIDENT_CATEGORIES, r.category, lang), className="wall-ticker-title"),
                html.Span(names.get(r.district_code, ""), className="wall-ticker-place"),
                html.Span(term_name(INCIDENT_STATUSES, r.status, lang), className=f"wall-ticker-status is-{r.status}"),
            ], className="wall-ticker-row is-new" if fresh else "wall-ticker-row", **{"data-incident": r.id}))
        return Built(html.Ul(rows, className="wall-ticker"), as_utc(frame["reported_at"].max()), self.datasets(panel))


def district_names(lang: str) -> dict[str, str]:
    from queries.api_support import area_listing

    frame = run_query(area_listing, level="district")
    return {r.code: area_name({"name": r.name, "name_en": None if pd.isna(r.name_en) else r.name_en}, lang) for r in frame.itertuples(index=False)}


class AqiGaugePanel(WallPanel):
    type = "aqi_gauge"
    refresh_s = 300
    tables = ("aq_readings",)

    def build(self, panel, ctx):
        from queries.airquality import load_standard
        from queries.environment import area_air_quality

        lang = ctx.lang
        result = run_query(area_air_quality, ctx.area["code"], at=ctx.now)
        if result.get("aqi") is None:
            return Built(empty_note(lang), as_utc(result.get("ts")), self.datasets(panel))
        levels = load_standard().levels
        pollutant = result.get("primary_pollutant_en" if lang == "en" else "primary_pollutant") or t("wall.aqi.no_primary", lang)
        content = html.Div([
            aqi_gauge_svg(result["aqi"], levels),
            html.Div([
                html.Div(str(result["aqi"]), className="wall-aqi-value", style={"color": hex_colour(result["rgb"])}),
                html.Div(aqi_category(result.get("category"), lang), className="wall-aqi-category"),
                html.Div(t("wall.aqi.primary", lang, pollutant=pollutant), className="wall-aqi-primary"),
                html.Div(t("wall.aqi.stations", lang, count=result["stations"]), className="wall-aqi-stations"),
            ], className="wall-aqi-readout"),
        ], className="wall-aqi")
        return Built(content, as_utc(result.get("ts")), self.datasets(panel))


def aqi_gauge_svg(aqi: int, levels) -> html.Div:
    """A half-ring with the six HJ 633 levels in their standard colours (equal angles per level,
    as on the national platform) and a needle at ``aqi``. Drawn as inline SVG: crisp at any size."""
    cx, cy, radius, width = 100.0, 100.0, 80.0, 18.0
    segments = []
    count = len(levels)
    for index, level in enumerate(levels):
        a0 = math.pi * (1 - index / count)
        a1 = math.pi * (1 - (index + 1) / count)
        segments.append((a0, a1, hex_colour(level.rgb)))

    def point(angle, r):
        return cx + r * math.cos(angle), cy - r * math.sin(angle)

    paths = []
    for a0, a1, colour in segments:
        (x0, y0), (x1, y1) = point(a0, radius), point(a1 + 0.015, radius)
        paths.append(f'<path d="M{x0:.2f},{y0:.2f} A{radius},{radius} 0 0 1 {x1:.2f},{y1:.2f}" stroke="{colour}" stroke-width="{width}" fill="none"/>')
    # Needle position: within its level's segment, linear in AQI.
    position = 0.0
    for index, level in enumerate(levels):
        if aqi <= level.high or index == count - 1:
            span = max(1, level.high - level.low)
            position = (index + min(1.0, max(0.0, (aqi - level.low) / span))) / count
            break
    angle = math.pi * (1 - position)
    nx, ny = point(angle, radius - width)
    paths.append(f'<line x1="{cx}" y1="{cy}" x2="{nx:.2f}" y2="{ny:.2f}" stroke="#e3ebf8" stroke-width="4" stroke-linecap="round"/>')
    paths.append(f'<circle cx="{cx}" cy="{cy}" r="7" fill="#e3ebf8"/>')
    from layers.charts import SVG_NS, svg_data_uri

    svg = f'<svg xmlns="{SVG_NS}" viewBox="0 0 200 110" preserveAspectRatio="xMidYMid meet">{"".join(paths)}</svg>'
    return html.Img(src=svg_data_uri(svg), className="wall-aqi-gauge", alt="")


class CongestionStripPanel(WallPanel):
    type = "congestion_strip"
    refresh_s = 120
    tables = ("road_speeds",)

    def build(self, panel, ctx):
        from queries.vocab import CONGESTION_BANDS
        from queries.wall import child_congestion

        lang = ctx.lang
        result = run_query(child_congestion, ctx.area["code"], at=ctx.now)
        if result["congestion_index"] is None:
            return Built(empty_note(lang), None, self.datasets(panel))
        band_names = {term.code: (term.en if lang == "en" else term.zh) for _l, _h, term in CONGESTION_BANDS}
        cells = [
            html.Div([
                html.Span(area_name(child, lang), className="wall-strip-name"),
                html.Span(format_number(child["congestion_index"], 1), className="wall-strip-index"),
            ], className="wall-strip-cell", style={"--band": band_colour(child["band"]) or "#3a4660"}, title=band_names.get(child["band"], ""))
            for child in result["children"]
        ]
        content = html.Div([
            html.Div([
                html.Div(format_number(result["congestion_index"], 2), className="wall-strip-total", style={"color": band_colour(result["band"])}),
                html.Div(band_names.get(result["band"], ""), className="wall-strip-band"),
            ], className="wall-strip-summary"),
            html.Div(cells, className="wall-strip-cells"),
        ], className="wall-strip")
        return Built(content, as_utc(result["ts"]), self.datasets(panel))


class SeverityCountsPanel(WallPanel):
    type = "incident_severity"
    refresh_s = 30
    tables = ("incidents",)

    def build(self, panel, ctx):
        from queries.incidents import area_incident_block
        from queries.vocab import SEVERITIES

        lang = ctx.lang
        block = run_query(area_incident_block, ctx.area["code"], today_start(ctx.now), ctx.now)
        tiles = [
            html.Div([
                html.Span(SEVERITY_NUMERALS[level], className="wall-sev-numeral"),
                html.Span(term_name(SEVERITIES, str(level), lang).split(" — ")[-1], className="wall-sev-name"),
                html.Span(str(block["by_severity"].get(str(level), 0)), className="wall-sev-count"),
            ], className="wall-sev-tile", style={"--sev": severity_colour(level)})
            for level in (1, 2, 3, 4)
        ]
        content = html.Div([
            html.Div(tiles, className="wall-sev-tiles"),
            html.Div([t("wall.severity.total", lang, total=block["total"]), html.Span(" · "), t("wall.severity.open", lang, open=block["open"])],
                     className="wall-sev-total"),
        ], className="wall-severity")
        return Built(content, as_utc(block["data_time"]), self.datasets(panel))


class FreshnessPanel(WallPanel):
    type = "freshness"
    refresh_s = 60
    tables = ("datasets",)

    def datasets(self, panel):
        return list(panel.datasets or ())

    def build(self, panel, ctx):
        from queries.freshness import dataset_freshness

        lang = ctx.lang
        frame = run_query(dataset_freshness, None)
        wanted = list(panel.datasets or ctx.scene_datasets)
        if wanted:
            frame = frame[frame["code"].isin(wanted)]
        chips = [
            html.Span([
                html.Span(className="wall-fresh-dot"),
                html.Span((r.name_en or r.name) if lang == "en" else r.name, className="wall-fresh-name"),
                html.Span(local_time(r.last_update_at, lang), className="wall-fresh-time"),
                html.Span(t(f"freshness.{r.freshness}", lang), className="wall-fresh-state"),
            ], className=f"wall-fresh-chip is-{r.freshness}")
            for r in frame.itertuples(index=False)
        ]
        newest = frame["last_update_at"].dropna().max() if not frame.empty else None
        return Built(html.Div([html.Span(t("wall.freshness.label", lang), className="wall-fresh-label"), *chips], className="wall-freshness"),
                     as_utc(newest), list(frame["code"]))


class IncidentCardPanel(WallPanel):
    type = "incident_card"
    refresh_s = 15
    tables = ("incidents",)

    def build(self, panel, ctx):
        from queries.vocab import (
            INCIDENT_CATEGORIES,
            INCIDENT_STATUSES,
            INCIDENT_SUBTYPES,
            SEVERITIES,
        )

        lang = ctx.lang
        incident = ctx.emergency
        if not incident:
            return Built(empty_note(lang), None, self.datasets(panel))
        reported = as_utc(incident.get("reported_at"))
        minutes = None if reported is None else max(0, int((ctx.now - reported).total_seconds() // 60))
        place = " · ".join(p for p in (incident.get("district_name_en" if lang == "en" else "district_name") or incident.get("district_name"),
                                       incident.get("street_name_en" if lang == "en" else "street_name") or incident.get("street_name")) if p)
        severity = int(incident["severity"])
        content = html.Div([
            html.Div([
                html.Span(t("wall.emergency.level", lang, level=SEVERITY_NUMERALS[severity]), className="wall-card-level", style={"background": severity_colour(severity)}),
                html.Span(term_name(SEVERITIES, str(severity), lang), className="wall-card-severity"),
                html.Span(t(f"wall.emergency.source.{incident.get('source', 'auto')}", lang), className="wall-card-source"),
            ], className="wall-card-head"),
            html.Div(incident.get("title") or term_name(INCIDENT_CATEGORIES, incident.get("category"), lang), className="wall-card-title"),
            html.Div([
                html.Span(term_name(INCIDENT_CATEGORIES, incident.get("category"), lang)),
                html.Span(" / "),
                html.Span(term_name(INCIDENT_SUBTYPES.get(incident.get("category"), ()), incident.get("subtype"), lang)),
            ], className="wall-card-kind"),
            html.Dl([
                html.Dt(t("wall.emergency.place", lang)), html.Dd(place or t("value.none", lang)),
                html.Dt(t("wall.emergency.reported", lang)), html.Dd(local_time(reported, lang)),
                html.Dt(t("wall.emergency.elapsed", lang)), html.Dd(t("wall.emergency.minutes", lang, minutes=minutes) if minutes is not None else "—"),
                html.Dt(t("wall.emergency.status", lang)), html.Dd(term_name(INCIDENT_STATUSES, incident.get("status"), lang)),
            ], className="wall-card-facts"),
        ], className="wall-card")
        return Built(content, reported, self.datasets(panel))


class ResourcesPanel(WallPanel):
    type = "resources"
    refresh_s = 60
    tables = ("resources", "road_speeds")

    def build(self, panel, ctx):
        from queries.response import nearest_resources
        from queries.vocab import RESOURCE_KINDS

        lang = ctx.lang
        incident = ctx.emergency
        if not incident or incident.get("lon") is None:
            return Built(empty_note(lang), None, self.datasets(panel))
        frame = run_query(nearest_resources, float(incident["lon"]), float(incident["lat"]), per_kind=panel.per_kind, at=ctx.now)
        if frame.empty:
            return Built(empty_note(lang), None, self.datasets(panel))
        rows = [
            html.Tr([
                html.Td(term_name(RESOURCE_KINDS, r.kind, lang), className="wall-res-kind"),
                html.Td(r.name, className="wall-res-name"),
                html.Td(t("wall.resources.km", lang, km=f"{r.distance_m / 1000:.1f}"), className="wall-res-num"),
                html.Td(t("wall.resources.minutes", lang, minutes=max(1, round(r.travel_s / 60))), className="wall-res-num"),
                html.Td(t(f"wall.resources.method.{r.method}", lang), className="wall-res-method"),
            ])
            for r in frame.itertuples(index=False)
        ]
        return Built(html.Table(html.Tbody(rows), className="wall-resources"), ctx.now, self.datasets(panel))


class MapPanel(WallPanel):
    """The city map: layers from ``layers`` through the command view's map composer; the browser
    gets layer specs once and each layer's data only when it changed (deckgl-dash ``layerData``)."""

    type = "map"
    refresh_s = 60

    def datasets(self, panel):
        from app.wall.maps import LAYER_TABLES

        tables = {table for layer in panel.layers for table in LAYER_TABLES.get(layer, ())}
        return datasets_of(tables)

    def build(self, panel, ctx, previous: dict | None = None, only=None):
        from app.wall.maps import map_props

        props, _ = map_props(panel, ctx, previous, only)
        return Built(props, None, self.datasets(panel))

    def touched_layers(self, panel, tables: set[str], datasets: set[str]) -> set[str]:
        from app.wall.maps import touched_layers

        return touched_layers(panel, tables, datasets, datasets_of)


PANEL_CLASSES: tuple[type[WallPanel], ...] = (
    MapPanel, KpiPanel, TrendPanel, RankingPanel, TickerPanel, AqiGaugePanel, CongestionStripPanel, SeverityCountsPanel,
    FreshnessPanel, IncidentCardPanel, ResourcesPanel,
)


def get_panel(type_name: str) -> WallPanel:
    for cls in PANEL_CLASSES:
        if cls.type == type_name:
            return cls()
    raise KeyError(f"unknown wall panel type {type_name!r}; known: {', '.join(c.type for c in PANEL_CLASSES)}")
