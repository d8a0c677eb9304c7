"""Home: what the platform holds — areas per level, operational records, data version, catalogue."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dash
from dash import html

from app.context import current_context, current_lang
from app.i18n import t

dash.register_page(__name__, path="/", order=0, title=lambda **_: t("app.window_title"))

BEIJING = ZoneInfo("Asia/Shanghai")
RECORD_KEYS = ("incidents", "work_orders", "sensors")


def term_name(terms, code: str, lang: str) -> str:
    from queries.vocab import lookup

    term = lookup(terms, code)
    if term is None:
        return code
    return term.en if lang == "en" else term.zh


def local_time(value: dt.datetime | None, lang: str) -> str:
    if value is None or value != value:  # None or NaT
        return t("value.none", lang)
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def metric_card(label: str, value: int, modifier: str = "") -> html.Div:
    return html.Div(
        [html.Div(f"{value:,}", className="metric-value"), html.Div(label, className="metric-label")],
        className=f"metric-card {modifier}".strip(),
    )


def areas_section(counts: dict[str, int], lang: str) -> html.Section:
    from queries.vocab import AREA_LEVELS

    cards = [metric_card(term_name(AREA_LEVELS, level, lang), count) for level, count in counts.items()]
    return html.Section(
        [html.H2(t("home.section.areas", lang), className="section-title"), html.Div(cards, className="metric-grid")],
        className="panel",
    )


def records_section(records: dict[str, int], lang: str) -> html.Section:
    cards = [metric_card(t(f"home.records.{key}", lang), records[key], "metric-card--accent") for key in RECORD_KEYS]
    return html.Section(
        [html.H2(t("home.section.records", lang), className="section-title"), html.Div(cards, className="metric-grid")],
        className="panel",
    )


def freshness_badge(row, lang: str) -> html.Span:
    return html.Span(t(f"freshness.{row.freshness}", lang), className=f"badge badge--{row.freshness}")


def catalogue_section(catalogue, lang: str) -> html.Section:
    from queries.vocab import SHARING_TYPES, UPDATE_CYCLES

    title = html.H2(t("catalogue.title", lang), className="section-title")
    if catalogue.empty:
        return html.Section([title, html.P(t("catalogue.empty", lang), className="muted")], className="panel")
    columns = ("name", "provider", "sharing", "cycle", "last_update", "rows", "freshness")
    head = html.Thead(html.Tr([html.Th(t(f"catalogue.col.{c}", lang), className=f"col-{c}") for c in columns]))
    body_rows = []
    for row in catalogue.itertuples(index=False):
        name = (row.name_en if lang == "en" and row.name_en else row.name)
        provider = (row.provider_en if lang == "en" and row.provider_en else row.provider)
        body_rows.append(
            html.Tr(
                [
                    html.Td([html.Div(name, className="dataset-name"), html.Div(row.code, className="dataset-code")]),
                    html.Td(provider),
                    html.Td(term_name(SHARING_TYPES, row.sharing_type, lang)),
                    html.Td(term_name(UPDATE_CYCLES, row.update_cycle, lang)),
                    html.Td(local_time(row.last_update_at, lang), className="num"),
                    html.Td(f"{int(row.row_count):,}", className="num"),
                    html.Td(freshness_badge(row, lang)),
                ],
                className="is-stale" if row.freshness == "stale" else None,
            )
        )
    stale = int((catalogue["freshness"] == "stale").sum())
    summary = html.Span(t("catalogue.summary", lang, total=len(catalogue), stale=stale), className="section-note")
    return html.Section(
        [html.Div([title, summary], className="section-head"), html.Div(html.Table([head, html.Tbody(body_rows)], className="data-table"), className="table-scroll")],
        className="panel",
    )


def page_heading(lang: str, data_version=None, read_at: dt.datetime | None = None) -> html.Div:
    facts = []
    if data_version is not None:
        facts.append(html.Div([html.Span(t("home.data_version", lang), className="fact-label"), html.Span(f"v{data_version}", className="fact-value", id="home-data-version")], className="fact"))
    if read_at is not None:
        facts.append(html.Div([html.Span(t("home.read_at", lang), className="fact-label"), html.Span(local_time(read_at, lang), className="fact-value")], className="fact"))
    return html.Div(
        [
            html.Div([html.H1(t("home.title", lang), id="home-title"), html.P(t("home.subtitle", lang), className="muted")]),
            html.Div(facts, className="facts"),
        ],
        className="page-heading",
    )


def layout(lang=None, **_query):
    from queries.overview import overview

    lang = current_lang(lang)
    read_at = dt.datetime.now(dt.timezone.utc)
    try:
        with current_context().read_engine.connect() as conn:
            data = overview(conn, now=read_at)
    except Exception as exc:  # noqa: BLE001 - the page stays up and says why it is empty
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return html.Div(
            [
                page_heading(lang),
                html.Section(
                    [html.H2(t("home.db_error.title", lang), className="section-title"), html.P(t("home.db_error.body", lang)), html.Pre(message[0] if message else "", className="error-text")],
                    className="panel panel--error",
                ),
            ],
            className="page page-home",
        )
    sections = [page_heading(lang, data["data_version"], read_at)]
    if sum(data["areas_by_level"].values()) == 0 and sum(data["records"].values()) == 0:
        sections.append(
            html.Section([html.H2(t("home.empty.title", lang), className="section-title"), html.P(t("home.empty.body", lang))], className="panel panel--empty")
        )
    sections += [areas_section(data["areas_by_level"], lang), records_section(data["records"], lang), catalogue_section(data["catalogue"], lang)]
    return html.Div(sections, className="page page-home")
