"""Data catalogue (/catalog): every dataset of the resource catalogue — provider, sharing type, update
cycle, last update, freshness and its rule, row count, the panels that read it (each a link to the
studio) — and every indicator with its definition, unit, source and thresholds. Analysts and admins.

The filter lives in the URL (``?q=…&freshness=late&freshness=stale&provider=…&sharing=…``), so a
filtered view can be shared: the page is built from it, and every change of the controls rewrites
the address in place (``history.replaceState`` in a clientside callback: no new history entry per
keystroke, no re-render by Dash's router) and the language links with it. The data and rendering
are in ``app.catalog.view``.
"""
from __future__ import annotations

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from app.context import current_lang
from app.i18n import t

dash.register_page(__name__, path="/catalog", name=t("page.catalog"), name_en=t("page.catalog", "en"), order=40,
                   title=lambda **_: t("app.window_title"))

SEARCH_DEBOUNCE_S = 0.3


def _options(lang: str, datasets) -> dict[str, list[dict]]:
    from queries.catalog import providers
    from queries.freshness import FRESHNESS_STATES
    from queries.vocab import SHARING_TYPES

    return {
        "freshness": [{"label": t(f"freshness.{state}", lang), "value": state} for state in FRESHNESS_STATES],
        "provider": [{"label": (p["provider_en"] or p["provider"]) if lang == "en" else p["provider"], "value": p["provider"]}
                     for p in providers(datasets)],
        "sharing": [{"label": term.en if lang == "en" else term.zh, "value": term.code} for term in SHARING_TYPES],
    }


def filters_panel(wanted, options: dict, lang: str) -> html.Section:
    def field(name: str, control) -> html.Div:
        return html.Div([html.Label(t(f"catalog.filter.{name}", lang), htmlFor=f"catalog-{name}", className="catalog-field-label"), control],
                        className=f"catalog-field catalog-field--{name}")

    def choose(name: str, value) -> dcc.Dropdown:
        return dcc.Dropdown(id=f"catalog-{name}", options=options[name], value=list(value), multi=True, searchable=name == "provider",
                            placeholder=t("catalog.filter.any", lang), className="catalog-dropdown")

    return html.Section([
        field("search", dcc.Input(id="catalog-search", type="search", value=wanted.search, debounce=SEARCH_DEBOUNCE_S, maxLength=100,
                                  placeholder=t("catalog.filter.search_placeholder", lang), className="catalog-input", autoComplete="off")),
        field("freshness", choose("freshness", wanted.freshness)),
        field("provider", choose("provider", wanted.providers)),
        field("sharing", choose("sharing", wanted.sharing)),
        dcc.Link(t("catalog.filter.clear", lang), href=f"/catalog?lang={lang}", className="catalog-clear"),
    ], className="panel catalog-filters", role="search", **{"aria-label": t("catalog.filter.label", lang)})


def heading(lang: str, data=None) -> html.Div:
    facts = []
    if data is not None:
        from app.catalog.view import catalogue_time
        from queries.catalog import freshness_counts

        counts = freshness_counts(data.datasets)
        for label, value, modifier in ((t("catalog.fact.datasets", lang), len(data.datasets), ""),
                                       (t("freshness.late", lang), counts["late"], " fact--late"),
                                       (t("freshness.stale", lang), counts["stale"], " fact--stale"),
                                       (t("catalog.fact.indicators", lang), len(data.indicators), "")):
            facts.append(html.Div([html.Span(label, className="fact-label"), html.Span(f"{value:,}", className="fact-value")], className="fact" + modifier))
        facts.append(html.Div([html.Span(t("catalog.read_at", lang), className="fact-label"),
                               html.Span(catalogue_time(data.read_at, lang), className="fact-value")], className="fact"))
    return html.Div([
        html.Div([html.H1(t("catalog.title", lang), id="catalog-title"), html.P(t("catalog.subtitle", lang), className="muted")]),
        html.Div(facts, className="facts"),
    ], className="page-heading")


def problems_note(problems: list[tuple[str, str]], lang: str):
    if not problems:
        return None
    return html.Div([t("catalog.problem.ignored", lang), " ", ", ".join(f"{name}={value}" for name, value in problems)],
                    className="catalog-problems", role="status")


def tables_for(data, wanted, lang: str) -> dict:
    """The filtered tables (rows with their heads) and their counts."""
    from app.catalog import view
    from queries.catalog import filter_datasets, filter_indicators

    datasets = filter_datasets(data.datasets, wanted)
    indicators = filter_indicators(data.indicators, data.datasets, wanted)
    usage = view.usage_by_dataset(data.usage, data.labels)
    return {
        "datasets": view.dataset_table(datasets, lang, usage=usage, rule=True, body_id="catalog-datasets-body",
                                       empty=view.empty_row("catalog.datasets.none", len(view.DATASET_COLUMNS) + 1, lang)),
        "datasets_count": t("catalog.datasets.count", lang, shown=len(datasets), total=len(data.datasets)),
        "indicators": view.indicator_table(indicators, data.datasets, lang, body_id="catalog-indicators-body",
                                           empty=view.empty_row("catalog.indicators.none", len(view.INDICATOR_TABLE_COLUMNS), lang)),
        "indicators_count": t("catalog.indicators.count", lang, shown=len(indicators), total=len(data.indicators)),
    }


def body_rows(table: html.Table) -> list:
    """The rows of a table made by ``tables_for`` (what the callback sends)."""
    return table.children[1].children


def layout(lang=None, **query):
    from app.catalog import view
    from queries.catalog import providers

    lang = current_lang(lang)
    try:
        data = view.catalog_data(lang)
    except Exception as exc:  # noqa: BLE001 - the page stays up and says why it is empty
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return html.Div([heading(lang), html.Section([
            html.H2(t("home.db_error.title", lang), className="section-title"), html.P(t("home.db_error.body", lang)),
            html.Pre(message[0] if message else "", className="error-text"),
        ], className="panel panel--error")], className="page page-catalog")
    wanted, problems = view.filter_from_query(query, [p["provider"] for p in providers(data.datasets)])
    shown = tables_for(data, wanted, lang)
    return html.Div([
        dcc.Store(id="catalog-page", data={"lang": lang}),
        dcc.Store(id="catalog-url", data={"search": view.filter_search(wanted, lang)}),
        html.Div(id="catalog-url-sync", hidden=True),
        heading(lang, data),
        filters_panel(wanted, _options(lang, data.datasets), lang),
        html.Div(problems_note(problems, lang), id="catalog-problems"),
        html.Section([
            html.Div([html.H2(t("catalog.datasets.title", lang), className="section-title"),
                      html.Span(shown["datasets_count"], id="catalog-datasets-count", className="section-note")], className="section-head"),
            html.Div(shown["datasets"], id="catalog-datasets", className="table-scroll catalog-dataset-table"),
            html.P(t("catalog.rule.legend", lang), className="catalog-legend"),
        ], className="panel"),
        html.Section([
            html.Div([html.H2(t("catalog.indicators.title", lang), className="section-title"),
                      html.Span(shown["indicators_count"], id="catalog-indicators-count", className="section-note")], className="section-head"),
            html.Div(shown["indicators"], id="catalog-indicators", className="table-scroll catalog-indicator-table"),
        ], className="panel"),
    ], className="page page-catalog", **{"data-lang": lang})


def check_filter_inputs(search, freshness, provider, sharing, page) -> None:
    """The controls' values as the browser sent them: right types, known values, bounded sizes, else 400."""
    from app.i18n import LANGUAGES
    from app.security.callbacks import Enum, ListOf, Opt, Record, Text, check
    from queries.catalog import MAX_SEARCH_LENGTH
    from queries.freshness import FRESHNESS_STATES
    from queries.vocab import SHARING_TYPES, codes

    check(search, Opt(Text(MAX_SEARCH_LENGTH)), "catalog-search.value")
    check(freshness, Opt(ListOf(Enum(FRESHNESS_STATES), len(FRESHNESS_STATES))), "catalog-freshness.value")
    check(provider, Opt(ListOf(Text(128), 200)), "catalog-provider.value")
    check(sharing, Opt(ListOf(Enum(codes(SHARING_TYPES)), len(SHARING_TYPES))), "catalog-sharing.value")
    check(page, Opt(Record.of(lang=Opt(Enum(LANGUAGES)))), "catalog-page.data")


@callback(
    Output("catalog-datasets-body", "children"),
    Output("catalog-datasets-count", "children"),
    Output("catalog-indicators-body", "children"),
    Output("catalog-indicators-count", "children"),
    Output("catalog-url", "data"),
    Input("catalog-search", "value"),
    Input("catalog-freshness", "value"),
    Input("catalog-provider", "value"),
    Input("catalog-sharing", "value"),
    State("catalog-page", "data"),
    prevent_initial_call=True,
)
def apply_filter(search, freshness, provider, sharing, page):
    """The tables for the filter (validated), and the address that opens the page with it."""
    from app.catalog import view
    from app.security.callbacks import BadInput
    from queries.catalog import CatalogFilter, providers

    check_filter_inputs(search, freshness, provider, sharing, page)
    lang = (page or {}).get("lang") or current_lang()
    data = view.catalog_data(lang)
    known = {p["provider"] for p in providers(data.datasets)}
    for position, name in enumerate(provider or []):
        if name not in known:
            raise BadInput(f"catalog-provider.value[{position}]", "is not a provider of the catalogue")
    wanted = CatalogFilter((search or "").strip(), tuple(dict.fromkeys(freshness or ())), tuple(dict.fromkeys(provider or ())),
                           tuple(dict.fromkeys(sharing or ())))
    shown = tables_for(data, wanted, lang)
    return (body_rows(shown["datasets"]), shown["datasets_count"], body_rows(shown["indicators"]), shown["indicators_count"],
            {"search": view.filter_search(wanted, lang)})


# The address follows the filter without a new history entry and without Dash's router rendering the
# page again; the language links keep the filter.
clientside_callback(
    """
    function(url) {
        if (!url || typeof url.search !== "string" || url.search.charAt(0) !== "?") { return window.dash_clientside.no_update; }
        if (window.location.search !== url.search) {
            window.history.replaceState(window.history.state, "", window.location.pathname + url.search);
        }
        ["zh", "en"].forEach(function (code) {
            var params = new URLSearchParams(url.search);
            params.set("lang", code);
            window.dash_clientside.set_props("shell-lang-" + code, {href: window.location.pathname + "?" + params.toString()});
        });
        return window.dash_clientside.no_update;
    }
    """,
    Output("catalog-url-sync", "children"),
    Input("catalog-url", "data"),
)
