"""The sections of a briefing, each turned into plain values for the template (``briefing.html``).

One function per section type of the spec (``queries/specs/model.py`` BriefingSpec), registered
in ``SECTION_BUILDERS``; each reads through the query cache and returns a dict with the section's
``data_time`` and, for every item, the ``href`` of the command view at that place. Charts are
small inline SVGs (sparklines, the area map): nothing to download, sharp in print.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from urllib.parse import urlencode

import pandas as pd
from markupsafe import Markup, escape

from app.command.panels import (
    SEVERITY_NUMERALS,
    aqi_category,
    area_name,
    band_colour,
    hex_colour,
    local_time,
    term_name,
)
from app.context import run_query
from app.i18n import t
from app.masking import mask_text
from app.security.access import current_viewer
from app.wall.panels import (
    as_utc,
    district_names,
    format_number,
    severity_colour,
    today_start,
)

SPARK_DAYS = 7
MAP_WIDTH = 1000  # SVG user units; the map scales to its box
MAP_CLASSES = ("#fde7c8", "#fbc58b", "#f79a56", "#e8663a", "#c23b22")  # light theme, sequential
MAP_NO_DATA = "#e6e9ef"


@dataclass(frozen=True)
class BriefingContext:
    area: dict
    lang: str
    now: dt.datetime

    def href(self, **params) -> str:
        """The command view at a place (area, incident, layers), in the briefing's language."""
        query = {key: value for key, value in params.items() if value}
        query["lang"] = self.lang
        return "/command?" + urlencode(query)


def _text(value) -> str:
    """A text cell that may be missing (None, or NaN from a frame) as a string."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _when(value, lang: str) -> str:
    return local_time(as_utc(value), lang) if value is not None else t("value.none", lang)


def _newest(*values):
    times = [as_utc(v) for v in values if v is not None and as_utc(v) is not None]
    return max(times) if times else None


# --- small SVG charts -----------------------------------------------------------------------------


def sparkline(values: list[float], status: str = "ok") -> Markup:
    """A 120×32 polyline of ``values`` (None = gap), the last point marked."""
    points = [(i, v) for i, v in enumerate(values) if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if len(points) < 2:
        return Markup("")
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span = (high - low) or 1.0
    step = 116 / max(1, len(values) - 1)
    coords = [(2 + i * step, 30 - (v - low) / span * 26) for i, v in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    colour = {"alarm": "#c62828", "warn": "#b26a00"}.get(status, "#1565c0")
    x, y = coords[-1]
    return Markup(
        f'<svg class="spark" viewBox="0 0 120 32" role="img" aria-hidden="true" preserveAspectRatio="none">'
        f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" vector-effect="non-scaling-stroke"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/></svg>'
    )


def _ring_path(coords, project) -> str:
    return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in (project(lon, lat) for lon, lat in coords)) + "Z"


def area_map(shapes, values: dict[str, float | None], hrefs: dict[str, str], labels: dict[str, str]) -> tuple[Markup, list[dict]]:
    """An SVG of the areas coloured in five classes of ``values``, each a link; and the legend."""
    if shapes is None or shapes.empty:
        return Markup(""), []
    minx, miny, maxx, maxy = shapes.total_bounds
    shrink = math.cos(math.radians((miny + maxy) / 2))  # equirectangular, true to shape at this latitude
    scale = MAP_WIDTH / max((maxx - minx) * shrink, 1e-9)
    height = (maxy - miny) * scale

    def project(lon, lat):
        return (lon - minx) * shrink * scale, (maxy - lat) * scale

    known = sorted(v for v in values.values() if v is not None)
    # Quintile breaks, without repeats (small counts have few distinct values).
    edges = sorted({known[min(len(known) - 1, int(len(known) * q))] for q in (0.2, 0.4, 0.6, 0.8)} - {known[-1]}) if known else []

    def colour(value):
        if value is None:
            return MAP_NO_DATA
        return MAP_CLASSES[sum(value > edge for edge in edges)]

    parts, texts = [], []
    for row in shapes.itertuples(index=False):
        geometry = row.geometry
        if geometry is None or geometry.is_empty:
            continue
        polygons = list(getattr(geometry, "geoms", [geometry]))
        d = "".join(_ring_path(p.exterior.coords, project) + "".join(_ring_path(h.coords, project) for h in p.interiors) for p in polygons)
        value = values.get(row.code)
        title = escape(f"{labels.get(row.code, row.code)}: {format_number(value) if value is not None else '—'}")
        parts.append(f'<a href="{escape(hrefs.get(row.code, "#"))}"><path d="{d}" fill="{colour(value)}" fill-rule="evenodd" '
                     f'stroke="#ffffff" stroke-width="1.5" vector-effect="non-scaling-stroke"><title>{title}</title></path></a>')
        lon = row.label_lon if row.label_lon is not None and not pd.isna(row.label_lon) else geometry.representative_point().x
        lat = row.label_lat if row.label_lat is not None and not pd.isna(row.label_lat) else geometry.representative_point().y
        x, y = project(lon, lat)
        texts.append(f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="middle">{escape(labels.get(row.code, ""))}'
                     f'<tspan x="{x:.0f}" dy="1.2em" class="map-value">{escape(format_number(value) if value is not None else "—")}</tspan></text>')
    svg = Markup(f'<svg class="area-map" viewBox="0 0 {MAP_WIDTH} {height:.0f}" role="img">{"".join(parts)}<g class="map-labels">{"".join(texts)}</g></svg>')
    bounds = [known[0], *edges, known[-1]] if known else []
    legend = [{"colour": MAP_CLASSES[i], "label": (f"≤ {format_number(bounds[1])}" if i == 0 else f"{format_number(bounds[i])} – {format_number(bounds[i + 1])}")}
              for i in range(len(bounds) - 1)]
    return svg, legend


# --- sections -----------------------------------------------------------------------------------


def indicator_cards(codes: list[str], ctx: BriefingContext) -> list[dict]:
    """Value, unit, status, change vs yesterday and last week, and a 7-day sparkline per indicator."""
    from queries.indicators import indicator_latest, indicator_series

    frame = run_query(indicator_latest, ctx.area["code"], tuple(codes))
    order = {code: i for i, code in enumerate(codes)}
    cards = []
    for row in sorted(frame.to_dict("records"), key=lambda r: order.get(r["code"], 99)):
        series = run_query(indicator_series, row["code"], ctx.area["code"], ctx.now - dt.timedelta(days=SPARK_DAYS), ctx.now)
        daily = _daily(series)
        changes = []
        for name in ("yesterday", "last_week"):
            change = row.get(f"{name}_change_pct")
            if change is None or pd.isna(change):
                continue
            up = change > 0
            good = row["good_direction"] == "neutral" or change == 0 or up == (row["good_direction"] == "up")
            changes.append({"label": t(f"briefing.vs_{name}", ctx.lang), "text": f"{'▲' if up else '▼' if change < 0 else '='} {abs(change):.1f}%",
                            "tone": "good" if good else "bad"})
        value = row.get("value")
        cards.append({
            "code": row["code"], "name": row["name_en"] if ctx.lang == "en" and row.get("name_en") else row["name_zh"],
            "value": format_number(None if value is None or pd.isna(value) else float(value)), "unit": _text(row.get("unit")),
            "status": row["status"], "changes": changes, "spark": sparkline(daily, row["status"]),
            "data_time": _when(row["ts"], ctx.lang), "ts": as_utc(row["ts"]), "href": ctx.href(area=ctx.area["code"]),
        })
    return cards


def _daily(series: pd.DataFrame) -> list[float | None]:
    """One value a day (the last of each day) for the sparkline; hourly series would be noise."""
    if series.empty:
        return []
    frame = series.assign(day=pd.to_datetime(series["ts"], utc=True).dt.tz_convert("Asia/Shanghai").dt.date)
    return [None if pd.isna(v) else float(v) for v in frame.groupby("day")["value"].last().tolist()]


def attention(section, ctx: BriefingContext) -> dict:
    from queries.briefing import attention_items
    from queries.vocab import INCIDENT_CATEGORIES, UPDATE_CYCLES

    context_engine_items = run_query(attention_items, ctx.area["code"], ctx.now, section.limit)
    items = []
    for item in context_engine_items:
        if item["kind"] == "incident":
            items.append({"tone": "alarm", "badge": t("briefing.level", ctx.lang, level=SEVERITY_NUMERALS[int(item["severity"])]),
                          "title": mask_text(item["title"], current_viewer()) or term_name(INCIDENT_CATEGORIES, item["category"], ctx.lang),
                          "detail": t("briefing.attention.incident", ctx.lang, time=_when(item["reported_at"], ctx.lang)),
                          "href": ctx.href(incident=item["id"])})
        elif item["kind"] == "indicator":
            name = item["name_en"] if ctx.lang == "en" and item.get("name_en") else item["name_zh"]
            items.append({"tone": item["status"], "badge": t(f"briefing.status.{item['status']}", ctx.lang), "title": name,
                          "detail": t("briefing.attention.indicator", ctx.lang, value=format_number(item["value"]), unit=_text(item["unit"]),
                                      threshold=format_number(item["threshold"]), time=_when(item["data_time"], ctx.lang)),
                          "href": ctx.href(area=ctx.area["code"])})
        else:
            name = item["name_en"] if ctx.lang == "en" and item.get("name_en") else item["name"]
            items.append({"tone": "stale" if item["freshness"] == "stale" else "warn", "badge": t(f"freshness.{item['freshness']}", ctx.lang),
                          "title": name,
                          "detail": t("briefing.attention.dataset", ctx.lang, provider=(item["provider_en"] if ctx.lang == "en" else item["provider"]) or "",
                                      cycle=term_name(UPDATE_CYCLES, item["update_cycle"], ctx.lang), time=_when(item["data_time"], ctx.lang)),
                          # The overview lists every dataset's freshness; /catalog is for analysts, leaders cannot open it.
                          "href": "/?" + urlencode({"lang": ctx.lang})})
    return {"items": items, "data_time": _newest(*(i["data_time"] for i in context_engine_items)) or ctx.now}


def indicators(section, ctx: BriefingContext) -> dict:
    cards = indicator_cards(list(section.indicators), ctx)
    return {"cards": cards, "data_time": _newest(*(c["ts"] for c in cards))}


def gov_services(section, ctx: BriefingContext) -> dict:
    return indicators(section, ctx)


def incidents(section, ctx: BriefingContext) -> dict:
    from queries.briefing import open_incidents
    from queries.vocab import INCIDENT_CATEGORIES, INCIDENT_STATUSES

    result = run_query(open_incidents, ctx.area["code"], tuple(section.severities), section.limit)
    names = district_names(ctx.lang)
    viewer = current_viewer()
    rows = [{
        "badge": SEVERITY_NUMERALS[int(r["severity"])], "colour": severity_colour(r["severity"]),
        "title": mask_text(r["title"], viewer) or term_name(INCIDENT_CATEGORIES, r["category"], ctx.lang),
        "category": term_name(INCIDENT_CATEGORIES, r["category"], ctx.lang), "status": term_name(INCIDENT_STATUSES, r["status"], ctx.lang),
        "time": _when(r["reported_at"], ctx.lang), "place": names.get(r["district_code"], ""), "href": ctx.href(incident=r["id"]),
    } for r in result["rows"]]
    return {"total": result["total"], "rows": rows, "data_time": as_utc(result["data_time"])}


def air_quality(section, ctx: BriefingContext) -> dict:
    from queries.briefing import worst_stations
    from queries.environment import area_air_quality

    air = run_query(area_air_quality, ctx.area["code"], at=ctx.now)
    stations = run_query(worst_stations, ctx.area["code"], ctx.now, section.worst_stations)
    pollutant_key = "primary_pollutant_en" if ctx.lang == "en" else "primary_pollutant"
    return {
        "aqi": air.get("aqi"), "colour": hex_colour(air["rgb"]) if air.get("rgb") is not None else "#999",
        "category": aqi_category(air.get("category"), ctx.lang), "primary": air.get(pollutant_key) or t("wall.aqi.no_primary", ctx.lang),
        "stations": [{"name": r.name, "aqi": int(r.aqi), "colour": hex_colour(r.rgb), "category": aqi_category(r.category, ctx.lang),
                      "primary": _text(getattr(r, pollutant_key)) or t("wall.aqi.no_primary", ctx.lang), "href": ctx.href(area=r.district_code, layers="boundaries,air_stations,aqi_surface")}
                     for r in stations.itertuples(index=False)],
        "href": ctx.href(area=ctx.area["code"], layers="boundaries,air_stations,aqi_surface"),
        "data_time": as_utc(air.get("ts")),
    }


def traffic(section, ctx: BriefingContext) -> dict:
    from queries.briefing import usual_congestion
    from queries.traffic import area_congestion
    from queries.vocab import CONGESTION_BANDS

    now = run_query(area_congestion, ctx.area["code"], at=ctx.now, worst=section.worst_roads)
    usual = run_query(usual_congestion, ctx.area["code"], as_utc(now["ts"]) or ctx.now)
    bands = {term.code: (term.en if ctx.lang == "en" else term.zh) for _l, _h, term in CONGESTION_BANDS}
    index = now.get("congestion_index")
    delta = None if index is None or usual is None else index - usual
    return {
        "index": format_number(index, 2) if index is not None else "—", "band": bands.get(now.get("band"), ""), "colour": band_colour(now.get("band")) or "#999",
        "usual": format_number(usual, 2) if usual is not None else "—",
        "delta": None if delta is None else {"text": f"{'▲' if delta > 0 else '▼' if delta < 0 else '='} {abs(delta):.2f}", "tone": "bad" if delta > 0.3 else "good" if delta < -0.3 else "flat"},
        "roads": [{"name": r["name"], "index": format_number(r["congestion_index"], 1), "band": bands.get(r["band"], ""), "colour": band_colour(r["band"]) or "#999",
                   "href": ctx.href(area=ctx.area["code"], layers="boundaries,traffic")} for r in now.get("worst", [])],
        "href": ctx.href(area=ctx.area["code"], layers="boundaries,traffic"),
        "data_time": as_utc(now.get("ts")),
    }


def hotline(section, ctx: BriefingContext) -> dict:
    from queries.briefing import hotline_day

    day = run_query(hotline_day, ctx.area["code"], today_start(ctx.now), ctx.now, section.top_topics)
    top = max((topic["count"] for topic in day["topics"]), default=1) or 1
    return {
        "volume": day["volume"], "overdue": day["overdue"],
        "topics": [{**topic, "share": round(topic["count"] / top * 100, 1)} for topic in day["topics"]],
        "href": ctx.href(area=ctx.area["code"]),
        "data_time": as_utc(day["data_time"]),
    }


def area_map_section(section, ctx: BriefingContext) -> dict:
    from queries.drill import CHILD_LEVEL, child_counts
    from queries.map_data import area_shapes
    from queries.wall import child_congestion

    child_level = CHILD_LEVEL.get(ctx.area["level"])
    if child_level is None:
        return {"svg": Markup(""), "legend": [], "data_time": None}
    shapes = run_query(area_shapes, ctx.area["code"], child_level, 200.0)
    labels = {r.code: area_name(r._asdict(), ctx.lang) for r in shapes.itertuples(index=False)}
    data_time = ctx.now
    if section.measure == "incidents_today":
        counts = run_query(child_counts, ctx.area["code"], "incidents", start=today_start(ctx.now), end=ctx.now)
        values = {r.code: float(r.value) for r in counts.itertuples(index=False)}
    elif section.measure == "congestion":
        result = run_query(child_congestion, ctx.area["code"], at=ctx.now)
        values = {c["code"]: c["congestion_index"] for c in result["children"]}
        data_time = as_utc(result["ts"])
    else:
        from queries.environment import area_air_quality

        values, times = {}, []
        for code in labels:
            air = run_query(area_air_quality, code, at=ctx.now)
            values[code] = None if air.get("aqi") is None else float(air["aqi"])
            times.append(air.get("ts"))
        data_time = _newest(*times)
    hrefs = {code: ctx.href(area=code) for code in labels}
    svg, legend = area_map(shapes, values, hrefs, labels)
    return {"svg": svg, "legend": legend, "measure": t(f"briefing.map.{section.measure}", ctx.lang), "data_time": data_time}


SECTION_BUILDERS = {
    "attention": attention, "indicators": indicators, "incidents": incidents, "air_quality": air_quality, "traffic": traffic,
    "hotline": hotline, "gov_services": gov_services, "map": area_map_section,
}


def build_section(section, ctx: BriefingContext) -> dict:
    """A section's values with its type, title and data time as text."""
    values = SECTION_BUILDERS[section.type](section, ctx)
    title = section.title.get(ctx.lang) if section.title else t(f"briefing.section.{section.type}", ctx.lang)
    return {"type": section.type, "title": title, **values, "data_time_text": _when(values.get("data_time"), ctx.lang)}
