"""The catalogue's data and tables: datasets (also the overview's table), indicators, panel usage.

What a panel reads is the wall's own knowledge (``app.wall.panels``: each panel type's tables,
``app.wall.maps.LAYER_TABLES`` for map layers); briefing sections are described here. Both become
``queries.catalog.PanelRead`` rows, mapped onto catalogue datasets by ``queries.catalog.panel_usage``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

import pandas as pd
from dash import html

from app.command.panels import BEIJING, term_name
from app.i18n import t

# Tables a briefing section reads (indicator sections: their indicators; map: by measure).
SECTION_TABLES = {"attention": ("incidents",), "incidents": ("incidents",), "air_quality": ("aq_readings",), "traffic": ("road_speeds",),
                  "hotline": ("work_orders",)}
MAP_MEASURE_TABLES = {"incidents_today": ("incidents", "areas"), "aqi": ("aq_readings", "areas"), "congestion": ("road_speeds", "areas")}
RANKING_TABLES = {"incidents": ("incidents",), "work_orders": ("work_orders",)}
DATASET_COLUMNS = ("name", "provider", "sharing", "cycle", "last_update", "rows", "freshness")


# --- what the specs read ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageLabel:
    """How one use of a dataset is shown: the spec, the scene (or section), the panel, the studio link."""

    kind: str
    spec: str
    scene: str
    panel: str
    href: str


def studio_href(kind: str, spec_id: str, scene: str, panel: str, lang: str) -> str:
    """The studio at that panel (a wall's scene and panel, or a briefing's section by position)."""
    if kind == "wall":
        query = {"wall": spec_id, "scene": scene, "panel": panel}
    else:
        query = {"briefing": spec_id, "section": scene}
    return "/studio?" + urlencode({**query, "lang": lang})


def _panel_reads(panel) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(tables, indicators, datasets) one wall panel reads."""
    from app.wall.maps import LAYER_TABLES
    from app.wall.panels import get_panel

    indicator = getattr(panel, "indicator", None)
    indicators = (indicator,) if indicator else ()
    if panel.type == "map":
        return tuple(sorted({table for layer in panel.layers for table in LAYER_TABLES.get(layer, ())})), (), ()
    if panel.type == "ranking":
        return RANKING_TABLES.get(panel.source, ()), indicators, ()
    if panel.type == "freshness":  # the datasets it names; by default those of its scene (not a read of its own)
        return (), (), tuple(panel.datasets or ())
    return tuple(get_panel(panel.type).tables), indicators, ()


def wall_reads(stored, lang: str) -> tuple[list, dict]:
    """``PanelRead`` of every panel of an effective wall (``queries.specs.transfer.StoredSpec``) and its label."""
    from queries.catalog import PanelRead

    reads, labels = [], {}
    spec = stored.spec
    for scene in spec.all_scenes():
        for panel in scene.panels:
            tables, indicators, datasets = _panel_reads(panel)
            reads.append(PanelRead("wall", spec.id, scene.id, panel.id, panel.type, tables, indicators, datasets))
            name = panel.title.get(lang) if panel.title else " ".join(part for part in (t(f"wall.panel.{panel.type}", lang), getattr(panel, "indicator", None)) if part)
            labels[("wall", spec.id, scene.id, panel.id)] = UsageLabel(
                "wall", spec.title.get(lang), scene.title.get(lang) if scene.title else scene.id, name, studio_href("wall", spec.id, scene.id, panel.id, lang))
    return reads, labels


def briefing_reads(stored, thresholded: tuple[str, ...], lang: str) -> tuple[list, dict]:
    """``PanelRead`` of every section of an effective briefing; "attention" reads the incidents and
    every indicator with a threshold (``thresholded``)."""
    from queries.catalog import PanelRead

    reads, labels = [], {}
    spec = stored.spec
    for position, section in enumerate(spec.sections):
        if section.type == "map":
            tables, indicators = MAP_MEASURE_TABLES.get(section.measure, ()), ()
        elif section.type == "attention":
            tables, indicators = SECTION_TABLES["attention"], thresholded
        else:
            tables, indicators = SECTION_TABLES.get(section.type, ()), tuple(getattr(section, "indicators", None) or ())
        reads.append(PanelRead("briefing", spec.id, str(position), section.type, section.type, tables, indicators))
        name = section.title.get(lang) if section.title else t(f"briefing.section.{section.type}", lang)
        labels[("briefing", spec.id, str(position), section.type)] = UsageLabel(
            "briefing", spec.title.get(lang), t("catalog.used_by.section", lang, n=position + 1), name, studio_href("briefing", spec.id, str(position), section.type, lang))
    return reads, labels


@dataclass
class CatalogData:
    datasets: pd.DataFrame  # queries.catalog.with_freshness rows
    indicators: pd.DataFrame
    usage: pd.DataFrame  # queries.catalog.USAGE_COLUMNS
    labels: dict  # (kind, spec id, scene, panel) → UsageLabel
    read_at: dt.datetime


def catalog_data(lang: str, now: dt.datetime | None = None) -> CatalogData:
    """Everything the page shows, through the query cache (catalogue tables only, never a data table)."""
    from app.context import current_context, run_query
    from queries.catalog import (
        catalogue_datasets,
        catalogue_indicators,
        dataset_links,
        panel_usage,
        with_freshness,
    )
    from queries.specs.transfer import effective_specs

    now = now or dt.datetime.now(dt.timezone.utc)
    settings = current_context().settings
    datasets = with_freshness(run_query(catalogue_datasets), now)
    indicators = run_query(catalogue_indicators)
    links = run_query(dataset_links)
    thresholded = tuple(indicators.loc[indicators["warn_threshold"].notna() | indicators["alarm_threshold"].notna(), "code"])
    reads, labels = [], {}
    for stored in run_query(effective_specs, "wall", settings):
        more, named = wall_reads(stored, lang)
        reads += more
        labels.update(named)
    for stored in run_query(effective_specs, "briefing", settings):
        more, named = briefing_reads(stored, thresholded, lang)
        reads += more
        labels.update(named)
    usage = panel_usage(links, reads, known=datasets["code"])
    return CatalogData(datasets, indicators, usage, labels, now)


# --- the filter in the URL -----------------------------------------------------------------------------

URL_LISTS = ("freshness", "provider", "sharing")


def _values(raw) -> list[str]:
    """A URL parameter's values: repeated (``?a=1&a=2``, a list from Dash) or comma-separated."""
    items = raw if isinstance(raw, list) else [raw]
    return [part.strip() for item in items if isinstance(item, str) for part in item.split(",") if part.strip()]


def filter_from_query(query: dict, known_providers: list[str]) -> tuple[object, list[tuple[str, str]]]:
    """The ``CatalogFilter`` of a URL's parameters (``q``, ``freshness``, ``provider``, ``sharing``)
    and the (parameter, value) pairs that were not understood and are left out."""
    from queries.catalog import MAX_SEARCH_LENGTH, CatalogFilter
    from queries.freshness import FRESHNESS_STATES
    from queries.vocab import SHARING_TYPES, codes

    problems: list[tuple[str, str]] = []
    raw_search = query.get("q")
    search = (raw_search[-1] if isinstance(raw_search, list) and raw_search else raw_search) or ""
    search = search.strip() if isinstance(search, str) else ""
    if len(search) > MAX_SEARCH_LENGTH:
        problems.append(("q", search[:20] + "…"))
        search = search[:MAX_SEARCH_LENGTH]
    allowed = {"freshness": FRESHNESS_STATES, "provider": tuple(known_providers), "sharing": codes(SHARING_TYPES)}
    chosen: dict[str, tuple[str, ...]] = {}
    for name in URL_LISTS:
        values = _values(query.get(name))
        chosen[name] = tuple(dict.fromkeys(v for v in values if v in allowed[name]))
        problems += [(name, value[:40]) for value in values if value not in allowed[name]]
    return CatalogFilter(search, chosen["freshness"], chosen["provider"], chosen["sharing"]), problems


def filter_search(wanted, lang: str) -> str:
    """The URL query (``?…``) that opens the page with this filter, in this language."""
    params = [("q", wanted.search)] if wanted.search else []
    params += [("freshness", value) for value in wanted.freshness]
    params += [("provider", value) for value in wanted.providers]
    params += [("sharing", value) for value in wanted.sharing]
    params.append(("lang", lang))
    return "?" + urlencode(params)


# --- rendering ---------------------------------------------------------------------------------------


def catalogue_time(value, lang: str) -> str:
    """A time of the catalogue in Beijing time with its date and year (a yearly dataset's last update)."""
    if value is None or pd.isna(value):  # None, NaT (a datetime itself) or NaN
        return t("value.none", lang)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _number(value) -> str:
    return f"{round(value, 1):g}"


def duration_text(seconds: float, lang: str) -> str:
    """A rule's time span in the largest unit that keeps it readable (minutes, hours, days)."""
    if seconds < 3600:
        return t("catalog.duration.minutes", lang, n=_number(seconds / 60))
    if seconds < 2 * 86400:
        return t("catalog.duration.hours", lang, n=_number(seconds / 3600))
    return t("catalog.duration.days", lang, n=_number(seconds / 86400))


def rule_text(row, lang: str) -> str:
    """Why a dataset has its freshness: the windows of its update cycle."""
    if row.fresh_within_s is None or pd.isna(row.fresh_within_s):
        return t("catalog.rule.irregular", lang)
    if row.age_s is None or pd.isna(row.age_s):
        return t("catalog.rule.never", lang)
    return t("catalog.rule.window", lang, fresh=duration_text(row.fresh_within_s, lang), late=duration_text(row.late_within_s, lang))


def freshness_badge(state: str, lang: str, title: str | None = None) -> html.Span:
    return html.Span(t(f"freshness.{state}", lang), className=f"badge badge--{state}", title=title)


def _dataset_name(row, lang: str) -> str:
    return row.name_en if lang == "en" and isinstance(row.name_en, str) and row.name_en else row.name


def _provider(row, lang: str) -> str:
    return row.provider_en if lang == "en" and isinstance(row.provider_en, str) and row.provider_en else row.provider


def usage_cell(entries: list[UsageLabel], lang: str) -> html.Td:
    if not entries:
        return html.Td(html.Span(t("catalog.used_by.none", lang), className="catalog-unused"), className="col-used_by")
    items = [
        html.Li(html.A([html.Span(t(f"catalog.used_by.{entry.kind}", lang), className="catalog-use-kind"),
                        html.Span(" › ".join((entry.spec, entry.scene, entry.panel)), className="catalog-use-name")],
                       href=entry.href, className="catalog-use-link", title=t("catalog.used_by.edit", lang)))
        for entry in entries
    ]
    return html.Td(html.Details([html.Summary(t("catalog.used_by.count", lang, count=len(entries)), className="catalog-use-summary"),
                                 html.Ul(items, className="catalog-use-list")], className="catalog-uses"), className="col-used_by")


def dataset_rows(frame: pd.DataFrame, lang: str, *, usage: dict[str, list[UsageLabel]] | None = None, rule: bool = False) -> list[html.Tr]:
    """One row per dataset (``queries.freshness.dataset_freshness`` or ``queries.catalog.with_freshness``
    rows); ``rule`` adds the freshness rule under the badge, ``usage`` the panels reading it."""
    from queries.vocab import SHARING_TYPES, UPDATE_CYCLES

    rows = []
    for row in frame.itertuples(index=False):
        explanation = rule_text(row, lang) if rule else None
        freshness = [freshness_badge(row.freshness, lang, explanation)]
        if rule:
            freshness.append(html.Div(explanation, className="catalog-rule"))
        cells = [
            html.Td([html.Div(_dataset_name(row, lang), className="dataset-name"), html.Div(row.code, className="dataset-code")]),
            html.Td(_provider(row, lang)),
            html.Td(term_name(SHARING_TYPES, row.sharing_type, lang)),
            html.Td(term_name(UPDATE_CYCLES, row.update_cycle, lang)),
            html.Td(catalogue_time(row.last_update_at, lang), className="num"),
            html.Td(f"{int(row.row_count):,}", className="num"),
            html.Td(freshness, className="col-freshness"),
        ]
        if usage is not None:
            cells.append(usage_cell(usage.get(row.code, []), lang))
        rows.append(html.Tr(cells, className=f"is-{row.freshness}" + (" is-stale" if row.freshness == "stale" else ""),
                            **{"data-code": row.code}))
    return rows


def dataset_table(frame: pd.DataFrame, lang: str, *, usage: dict | None = None, rule: bool = False, body_id: str | None = None,
                  empty: html.Tr | None = None) -> html.Table:
    columns = [*DATASET_COLUMNS, *(("used_by",) if usage is not None else ())]
    head = html.Thead(html.Tr([html.Th(t(f"catalogue.col.{c}" if c != "used_by" else "catalog.col.used_by", lang), className=f"col-{c}")
                               for c in columns]))
    rows = dataset_rows(frame, lang, usage=usage, rule=rule) or ([empty] if empty is not None else [])
    return html.Table([head, html.Tbody(rows, **({"id": body_id} if body_id else {}))], className="data-table")


def empty_row(key: str, columns: int, lang: str) -> html.Tr:
    return html.Tr(html.Td(t(key, lang), colSpan=columns, className="catalog-empty"))


def usage_by_dataset(usage: pd.DataFrame, labels: dict) -> dict[str, list[UsageLabel]]:
    uses: dict[str, list[UsageLabel]] = {}
    for row in usage.itertuples(index=False):
        label = labels.get((row.kind, row.spec_id, row.scene, row.panel))
        if label is not None:
            uses.setdefault(row.dataset_code, []).append(label)
    return uses


def threshold_text(row, lang: str) -> str:
    """"warn ≥ 100 · alarm ≥ 150": the comparison follows the indicator's good direction."""
    from queries.catalog import finite

    operator = "≤" if row.good_direction == "up" else "≥"
    unit = f" {row.unit}" if isinstance(row.unit, str) and row.unit else ""
    parts = [t(f"catalog.threshold.{name}", lang, op=operator, value=f"{value:g}{unit}")
             for name, value in (("warn", finite(row.warn_threshold)), ("alarm", finite(row.alarm_threshold))) if value is not None]
    return " · ".join(parts) if parts else t("value.none", lang)


def indicator_rows(frame: pd.DataFrame, datasets: pd.DataFrame, lang: str) -> list[html.Tr]:
    from queries.vocab import INDICATOR_DOMAINS

    freshness = dict(zip(datasets["code"], datasets["freshness"]))
    rows = []
    for row in frame.itertuples(index=False):
        name = row.name_en if lang == "en" and row.name_en else row.name_zh
        if isinstance(row.dataset_code, str) and row.dataset_code:
            source_name = row.dataset_name_en if lang == "en" and isinstance(row.dataset_name_en, str) and row.dataset_name_en else row.dataset_name
            state = freshness.get(row.dataset_code, "unknown")
            source = [html.Div(source_name if isinstance(source_name, str) else row.dataset_code, className="dataset-name"),
                      html.Div([html.Span(row.dataset_code, className="dataset-code"), " ", freshness_badge(state, lang)], className="catalog-source")]
        else:
            source = t("value.none", lang)
        direction = t(f"catalog.direction.{row.good_direction}", lang) if row.good_direction in ("up", "down") else ""
        rows.append(html.Tr([
            html.Td([html.Div(name, className="dataset-name"), html.Div(row.code, className="dataset-code")]),
            html.Td(term_name(INDICATOR_DOMAINS, row.domain, lang)),
            html.Td(row.description if isinstance(row.description, str) and row.description else t("value.none", lang), className="catalog-definition"),
            html.Td(row.unit if isinstance(row.unit, str) and row.unit else t("value.none", lang)),
            html.Td(source),
            html.Td([html.Div(threshold_text(row, lang), className="catalog-thresholds"), html.Div(direction, className="catalog-direction")]),
        ], **{"data-code": row.code}))
    return rows


INDICATOR_TABLE_COLUMNS = ("indicator", "domain", "definition", "unit", "source", "thresholds")


def indicator_table(frame: pd.DataFrame, datasets: pd.DataFrame, lang: str, *, body_id: str | None = None,
                    empty: html.Tr | None = None) -> html.Table:
    head = html.Thead(html.Tr([html.Th(t(f"catalog.col.{c}", lang), className=f"col-{c}") for c in INDICATOR_TABLE_COLUMNS]))
    rows = indicator_rows(frame, datasets, lang) or ([empty] if empty is not None else [])
    return html.Table([head, html.Tbody(rows, **({"id": body_id} if body_id else {}))], className="data-table")
