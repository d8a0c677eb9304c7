"""Dash components of the command view's panels: breadcrumbs, KPIs, lists, incident detail, legend."""
from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pandas as pd
from dash import html

from app.i18n import t

BEIJING = ZoneInfo("Asia/Shanghai")
SEVERITY_NUMERALS = {1: "I", 2: "II", 3: "III", 4: "IV"}
# How old a block's data time may be, relative to the step's time, before it looks stale.
STALE_AFTER = {
    "incidents": dt.timedelta(hours=6),
    "workorders": dt.timedelta(hours=6),
    "aqi": dt.timedelta(hours=3),  # hourly feed: two deliveries missed
    "congestion": dt.timedelta(hours=1),
}


def area_name(area: dict, lang: str) -> str:
    return area.get("name_en") or area["name"] if lang == "en" else area["name"]


def term_name(terms, code, lang: str) -> str:
    from queries.vocab import lookup

    term = lookup(terms, code) if code is not None else None
    if term is None:
        return str(code) if code is not None else t("value.none", lang)
    return term.en if lang == "en" else term.zh


def local_time(value, lang: str, with_date: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return t("value.none", lang)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(BEIJING).strftime("%m-%d %H:%M" if with_date else "%H:%M")


def is_stale(data_time, reference: dt.datetime, kind: str) -> bool:
    if data_time is None or data_time is pd.NaT:
        return True
    if isinstance(data_time, pd.Timestamp):
        data_time = data_time.to_pydatetime()
    if data_time.tzinfo is None:
        data_time = data_time.replace(tzinfo=dt.timezone.utc)
    return reference - data_time > STALE_AFTER[kind]


# --- breadcrumbs ------------------------------------------------------------------------------


def breadcrumbs(path: list[dict], lang: str, incident_id: str | None = None) -> list:
    items = []
    for depth, area in enumerate(path):
        last = depth == len(path) - 1 and incident_id is None
        label = [html.Span(term_name(_levels(), area["level"], lang), className="crumb-level"), html.Span(area_name(area, lang), className="crumb-name")]
        if last:
            items.append(html.Li(html.Span(label, className="crumb crumb--current", **{"aria-current": "page"}), className="crumb-item"))
        else:
            items.append(html.Li(html.Button(label, id={"type": "command-crumb", "code": area["code"]}, className="crumb", n_clicks=0), className="crumb-item"))
    if incident_id:
        items.append(html.Li(html.Span([html.Span(t("command.incident.title", lang), className="crumb-level"), html.Span(incident_id, className="crumb-name")],
                                       className="crumb crumb--current", **{"aria-current": "page"}), className="crumb-item"))
    return items


def _levels():
    from queries.vocab import AREA_LEVELS

    return AREA_LEVELS


# --- KPIs -------------------------------------------------------------------------------------


def _kpi(kind: str, label: str, value, detail, data_time, reference: dt.datetime, lang: str, colour: str | None = None) -> html.Div:
    stale = is_stale(data_time, reference, kind)
    time_text = t("command.kpi.data_time", lang, time=local_time(data_time, lang)) if data_time is not None else t("command.kpi.no_data", lang)
    children = [
        html.Div(label, className="kpi-label"),
        html.Div(value, className="kpi-value", style={"color": colour} if colour else None),
        html.Div(detail, className="kpi-detail"),
        html.Div([time_text, html.Span(t("command.kpi.stale", lang), className="kpi-stale-mark") if stale else None], className="kpi-time"),
    ]
    return html.Div(children, className=f"kpi kpi--{kind}" + (" is-stale" if stale else ""), **{"data-kpi": kind})


def kpis(summary: dict, reference: dt.datetime, lang: str, scope_area: dict | None = None) -> list:
    from queries.vocab import SEVERITY_RGB

    none = t("value.none", lang)
    incidents = summary["incidents"]
    severity_chips = [
        html.Span([SEVERITY_NUMERALS[int(level)], html.B(f"{count:,}")], className=f"severity-chip severity-chip--{level}",
                  style={"--chip": "rgb({},{},{})".format(*SEVERITY_RGB[int(level)])})
        for level, count in incidents["by_severity"].items()
    ]
    orders = summary["workorders"]
    air = summary["air_quality"] or {}
    traffic = summary["traffic"] or {}
    aqi_colour = "rgb({},{},{})".format(*air["rgb"]) if air.get("rgb") else None
    aqi_detail = aqi_category(air.get("category"), lang) or none
    if scope_area is not None and air.get("scope_code") and air.get("scope_code") != summary["area"]["code"]:
        aqi_detail = f"{aqi_detail} · {t('command.kpi.aqi_scope', lang, area=area_name(scope_area, lang))}"
    band = (traffic.get("band_en") if lang == "en" else traffic.get("band_zh")) or none
    congestion = traffic.get("congestion_index")
    return [
        _kpi("incidents", t("command.kpi.incidents", lang), f"{incidents['total']:,}",
             [html.Span(severity_chips, className="severity-chips"), html.Span(f"{t('command.kpi.open', lang)} {incidents['open']:,}", className="kpi-open")],
             incidents["data_time"], reference, lang),
        _kpi("workorders", t("command.kpi.workorders", lang), f"{orders['total']:,}",
             html.Span(f"{t('command.kpi.overdue', lang)} {orders['overdue']:,}", className="kpi-overdue" if orders["overdue"] else None),
             orders["data_time"], reference, lang),
        _kpi("aqi", t("command.kpi.aqi", lang), none if air.get("aqi") is None else str(air["aqi"]), aqi_detail, air.get("ts"), reference, lang, aqi_colour),
        _kpi("congestion", t("command.kpi.congestion", lang), none if congestion is None else f"{congestion:.1f}", band, traffic.get("ts"), reference, lang,
             band_colour(traffic.get("band"))),
    ]


def aqi_category(category: str | None, lang: str) -> str | None:
    """The HJ 633 category (the standard's table names it in Chinese) in the page's language."""
    from app.i18n import CATALOGUE

    for level in range(1, 7):
        key = f"command.aqi.level.{level}"
        if CATALOGUE[key].zh == category:
            return t(key, lang)
    return category


def hex_colour(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb[:3]))


def band_colour(band: str | None) -> str | None:
    """The standard colour of a congestion band (layers.palette, keyed by queries.vocab's band codes), as CSS."""
    from layers.palette import CONGESTION_RGB

    return hex_colour(CONGESTION_RGB[band]) if band in CONGESTION_RGB else None


# --- lists ------------------------------------------------------------------------------------


def children_list(counts: pd.DataFrame, child_level: str, lang: str) -> html.Section:
    top = counts["value"].max() if len(counts) else 0
    rows = []
    for code, name, name_en, value in counts[["code", "name", "name_en", "value"]].itertuples(index=False):
        label = name_en if lang == "en" and isinstance(name_en, str) and name_en else name
        share = 0 if not top else int(100 * value / top)
        rows.append(html.Li(html.Button(
            [html.Span(label, className="child-name"), html.Span(f"{int(value):,}", className="child-value"),
             html.Span(className="child-bar", style={"width": f"{share}%"})],
            id={"type": "command-area-item", "code": code}, className="child-button", n_clicks=0, **{"data-code": code},
        ), className="child-item"))
    title = t("command.children.title", lang, level=term_name(_levels(), child_level, lang))
    head = html.Div([html.H2(title, className="section-title"), html.Span(t("command.children.count", lang), className="section-note")], className="section-head")
    return html.Section([head, html.Ul(rows, className="child-list", id="command-children")], className="panel command-panel")


def incident_list(frame: pd.DataFrame, lang: str, limit: int, masked: bool = True) -> html.Section:
    """The newest incidents of an area; numbers in titles masked unless the viewer sees clear data."""
    from app.masking import mask_numbers_in_text
    from queries.vocab import INCIDENT_CATEGORIES, INCIDENT_STATUSES, INCIDENT_SUBTYPES

    subtypes = tuple(term for terms in INCIDENT_SUBTYPES.values() for term in terms)
    items = []
    for row in frame.itertuples(index=False):
        title = (mask_numbers_in_text(row.title) if masked and isinstance(row.title, str) else row.title) or term_name(subtypes, row.subtype, lang)
        meta = " · ".join([term_name(INCIDENT_CATEGORIES, row.category, lang), term_name(INCIDENT_STATUSES, row.status, lang), local_time(row.reported_at, lang)])
        items.append(html.Li(html.Button(
            [html.Span(SEVERITY_NUMERALS.get(int(row.severity), "?"), className=f"severity-chip severity-chip--{int(row.severity)}"),
             html.Span(title, className="incident-title"), html.Span(meta, className="incident-meta")],
            id={"type": "command-incident-item", "id": row.id}, className="incident-button", n_clicks=0, **{"data-incident-id": row.id},
        ), className="incident-item"))
    head = html.Div([html.H2(t("command.grid.incidents", lang), className="section-title"),
                     html.Span(t("command.list.more", lang, count=limit) if len(frame) >= limit else "", className="section-note")], className="section-head")
    body = html.Ul(items, className="incident-list", id="command-incidents") if items else html.P(t("command.list.empty", lang), className="muted")
    return html.Section([head, body], className="panel command-panel")


def work_order_list(frame: pd.DataFrame, summary: dict, lang: str, *, area_code: str, start: dt.datetime, end: dt.datetime,
                    page: int, per_page: int) -> html.Section:
    """A grid's 12345 work orders: the counts by demand type, then one page of orders newest call
    first, each with its state, overdue and confidential marks, deadline and caller (as the data
    layer handed them: masked unless the viewer sees personal data), and a pager."""
    from dash import dcc

    from queries.vocab import DEMAND_TYPES

    orders = summary["workorders"]
    kinds = " · ".join(f"{term_name(DEMAND_TYPES, code, lang)} {count:,}" for code, count in sorted(orders["by_demand_type"].items(), key=lambda kv: -kv[1]))
    head = html.Div([html.H2(t("command.grid.workorders", lang), className="section-title"),
                     html.Span(t("command.orders.note", lang, total=f"{orders['total']:,}", overdue=f"{orders['overdue']:,}"), className="section-note")],
                    className="section-head")
    return html.Section([
        head,
        html.P(kinds, className="order-kinds muted") if kinds else None,
        dcc.Store(id="command-orders-page", data={"area": area_code, "page": page, "start": start.isoformat(), "end": end.isoformat()}),
        html.Div(work_order_page(frame, orders["total"], lang, page=page, per_page=per_page), id="command-orders"),
    ], className="panel command-panel command-orders")


def work_order_page(frame: pd.DataFrame, total: int, lang: str, *, page: int, per_page: int) -> list:
    """The rows of one page and the pager (what the pager's callback replaces)."""
    from queries.vocab import DEMAND_TYPES, WORK_ORDER_STATES

    pages = max(1, math.ceil(total / per_page))
    items = []
    for row in frame.to_dict("records"):
        marks = [html.Span(term_name(WORK_ORDER_STATES, row["state"], lang), className=f"order-state order-state--{row['state']}")]
        if row.get("overdue"):
            marks.append(html.Span(t("command.orders.overdue", lang), className="order-mark order-mark--overdue"))
        if row.get("is_secret"):
            marks.append(html.Span(t("command.orders.secret", lang), className="order-mark order-mark--secret"))
        caller = " · ".join(str(part) for part in (row.get("caller_name"), row.get("caller_phone")) if isinstance(part, str) and part)
        meta = [local_time(row["call_time"], lang), term_name(DEMAND_TYPES, row.get("demand_type"), lang)]
        if row.get("deadline") is not None and not pd.isna(row["deadline"]):
            meta.append(t("command.orders.deadline", lang, time=local_time(row["deadline"], lang)))
        items.append(html.Li([
            html.Div([html.Span(row.get("title") or row.get("question_name") or row["order_num"], className="order-title"), *marks], className="order-line"),
            html.Div([html.Span(" · ".join(meta), className="order-meta"),
                      html.Span(f"{t('command.orders.caller', lang)} {caller}", className="order-caller", **{"data-field": "caller"}) if caller else None],
                     className="order-line order-line--meta"),
        ], className="order-item" + (" is-overdue" if row.get("overdue") else ""), **{"data-order": row["order_num"]}))
    body = html.Ol(items, className="order-list", id="command-workorders", start=page * per_page + 1) if items else \
        html.P(t("command.orders.empty", lang), className="muted", id="command-workorders")
    pager = html.Div([
        html.Button(t("command.orders.prev", lang), id="command-orders-prev", className="command-button", n_clicks=0, disabled=page <= 0),
        html.Span(t("command.orders.page", lang, page=page + 1, pages=pages), className="order-page", id="command-orders-pageno"),
        html.Button(t("command.orders.next", lang), id="command-orders-next", className="command-button", n_clicks=0, disabled=page >= pages - 1),
    ], className="order-pager") if total > per_page else None
    return [body, pager]


# --- the incident ---------------------------------------------------------------------------


def incident_detail(detail: dict, resources: pd.DataFrame | None, lang: str, masked: bool = True) -> html.Section:
    """The incident as ``detail`` holds it (masked or in clear: ``app.command.data.incident_view``);
    ``masked`` says which, for the note under the facts."""
    from queries.vocab import (
        CHANNELS,
        INCIDENT_CATEGORIES,
        INCIDENT_STATUSES,
        RESOURCE_KINDS,
        SEVERITIES,
    )

    severity = int(detail["severity"])
    facts = [
        ("category", term_name(INCIDENT_CATEGORIES, detail["category"], lang)),
        ("severity", f"{SEVERITY_NUMERALS.get(severity, '?')} · {term_name(SEVERITIES, str(severity), lang)}"),
        ("status", term_name(INCIDENT_STATUSES, detail["status"], lang)),
        ("channel", term_name(CHANNELS, detail.get("channel"), lang)),
        ("reported_at", local_time(detail["reported_at"], lang)),
        ("reporter", detail.get("reporter_name") or t("value.none", lang)),
        ("phone", detail.get("reporter_phone") or t("value.none", lang)),
        ("address", detail.get("address") or t("value.none", lang)),
    ]
    fact_rows = [html.Div([html.Dt(t(f"command.incident.{key}", lang)), html.Dd(value, **({"data-field": key}))], className="fact-row") for key, value in facts]
    timeline = [
        html.Li([html.Span(local_time(event["at"], lang), className="timeline-time"),
                 html.Span(term_name(INCIDENT_STATUSES, event["status"], lang), className="timeline-status"),
                 html.Span(" · ".join(part for part in (event.get("actor"), event.get("note")) if part), className="timeline-note")],
                className="timeline-item")
        for event in detail.get("events") or []
    ]
    resource_rows = []
    if resources is not None and len(resources):
        for row in resources.itertuples(index=False):
            method = t("command.incident.by_network" if row.method == "network" else "command.incident.by_line", lang)
            resource_rows.append(html.Tr([
                html.Td(term_name(RESOURCE_KINDS, row.kind, lang)), html.Td(row.name),
                html.Td(t("command.incident.km", lang, km=f"{row.distance_m / 1000:.1f}"), className="num"),
                html.Td(t("command.incident.minutes", lang, minutes=max(1, round(row.travel_s / 60))), className="num", title=method),
            ]))
    resources_body = (html.Table([html.Thead(html.Tr([html.Th(""), html.Th(""), html.Th(t("command.incident.distance", lang)), html.Th(t("command.incident.travel", lang))])),
                                  html.Tbody(resource_rows)], className="data-table compact-table", id="command-resources")
                      if resource_rows else html.P(t("command.incident.no_resources", lang), className="muted"))
    title = detail.get("title") or detail["id"]
    return html.Section([
        html.Div([html.H2(t("command.incident.title", lang), className="section-title"),
                  html.Button(t("command.incident.back", lang), id={"type": "command-incident-back", "id": detail["id"]}, className="link-button",
                              n_clicks=0)], className="section-head"),
        html.Div([html.Span(SEVERITY_NUMERALS.get(severity, "?"), className=f"severity-chip severity-chip--{severity}"), html.Span(title, className="incident-heading")],
                 className="incident-heading-row", id="command-incident-heading", **{"data-incident-id": detail["id"]}),
        html.Dl(fact_rows, className="fact-list"),
        html.P(t("command.incident.masked", lang), className="masked-note") if masked else None,
        html.H3(t("command.incident.timeline", lang), className="subsection-title"),
        html.Ol(timeline, className="timeline", id="command-timeline"),
        html.H3(t("command.incident.resources", lang), className="subsection-title"),
        resources_body,
    ], className="panel command-panel command-incident")


# --- problems and legend ----------------------------------------------------------------------


def problems_banner(problems, lang: str):
    if not problems:
        return None
    return html.Div([html.Strong(t("command.problem.title", lang)),
                     html.Ul([html.Li(t(p.key, lang, value=p.value) if "{value}" in t(p.key, "en") else t(p.key, lang), **{"data-param": p.param}) for p in problems])],
                    className="command-problems", role="alert")


def legend(legends, lang: str) -> list:
    blocks = []
    for entry in legends:
        items = [html.Li([html.Span(className=f"legend-swatch legend-swatch--{item.shape}", style={"background": "rgb({},{},{})".format(*item.rgb[:3])}),
                          html.Span(item.label)], className="legend-item") for item in entry.items]
        blocks.append(html.Div([html.Div(entry.title, className="legend-title"), html.Ul(items, className="legend-items"),
                                html.Div(entry.note, className="legend-note") if entry.note else None], className="legend-block"))
    return blocks
