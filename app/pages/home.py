"""Home: what the platform holds — areas per level, operational records, data version, catalogue."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, State, callback, dcc, html

from app.context import current_context, current_lang
from app.i18n import t

dash.register_page(__name__, path="/", order=0, title=lambda **_: t("app.window_title"))

BEIJING = ZoneInfo("Asia/Shanghai")
RECORD_KEYS = ("incidents", "work_orders", "sensors")
LIVE_LIST_LENGTH = 8
SEVERITY_NUMERALS = {1: "I", 2: "II", 3: "III", 4: "IV"}


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


def catalogue_section(catalogue, lang: str) -> html.Section:
    """The resource catalogue with every dataset's freshness (the table of ``app.catalog.view``,
    which /catalog shows with the rule and the panels reading each dataset: linked for those who may open it)."""
    from app.catalog.view import dataset_table
    from app.security.access import current_viewer

    title = html.H2(t("catalogue.title", lang), className="section-title")
    if catalogue.empty:
        return html.Section([title, html.P(t("catalogue.empty", lang), className="muted")], className="panel")
    stale = int((catalogue["freshness"] == "stale").sum())
    note = [html.Span(t("catalogue.summary", lang, total=len(catalogue), stale=stale), className="section-note")]
    viewer = current_viewer()
    if viewer is not None and viewer.can("view_catalog"):
        note.append(dcc.Link(t("catalog.link.full", lang), href=f"/catalog?lang={lang}", className="section-link", id="home-catalog-link"))
    return html.Section(
        [html.Div([title, html.Div(note, className="section-notes")], className="section-head"),
         html.Div(dataset_table(catalogue, lang), className="table-scroll")],
        className="panel",
    )


def live_item(payload: dict, lang: str, is_new: bool = False) -> html.Li:
    """One incident of the live list, from an event payload (no personal data in it)."""
    from queries.vocab import INCIDENT_CATEGORIES, INCIDENT_STATUSES, INCIDENT_SUBTYPES

    severity = payload.get("severity")
    subtypes = tuple(term for terms in INCIDENT_SUBTYPES.values() for term in terms)
    title = payload.get("title") or (term_name(subtypes, payload["subtype"], lang) if payload.get("subtype") else payload["incident_id"])
    district = payload.get("district_name_en") if lang == "en" and payload.get("district_name_en") else payload.get("district_name")
    meta = [term_name(INCIDENT_CATEGORIES, payload.get("category") or "", lang), district, term_name(INCIDENT_STATUSES, payload.get("status") or "", lang)]
    reported = dt.datetime.fromisoformat(payload["reported_at"]) if payload.get("reported_at") else None
    return html.Li(
        [
            html.Span(SEVERITY_NUMERALS.get(severity, "?"), className=f"severity-chip severity-chip--{severity}"),
            html.Span(title, className="live-item-title", **({"data-new-label": t("home.live.new", lang)} if is_new else {})),
            html.Span(local_time(reported, lang), className="live-item-time"),
            html.Span(" · ".join(part for part in meta if part), className="live-item-meta"),
        ],
        className="live-item is-new" if is_new else "live-item",
        **{"data-incident-id": payload["incident_id"]},
    )


def incident_payload_shape():
    """What the live list reads from an incident event's payload (checked: it comes back from the browser)."""
    from app.security.callbacks import Int, Opt, Record, Text

    return Record.of(incident_id=Text(64), reported_at=Opt(Text(64)), severity=Opt(Int(1, 4)), title=Opt(Text(1000)), subtype=Opt(Text(64)),
                     category=Opt(Text(64)), status=Opt(Text(64)), district_name=Opt(Text(128)), district_name_en=Opt(Text(128)))


def check_payload(payload, name: str) -> dict:
    import datetime as dt

    from app.security.callbacks import BadInput, check

    check(payload, incident_payload_shape(), name)
    if payload.get("reported_at") is not None:
        try:
            dt.datetime.fromisoformat(payload["reported_at"])
        except ValueError:
            raise BadInput(f"{name}.reported_at", "is not an ISO time") from None
    return payload


def for_viewer(payload: dict, viewer) -> dict | None:
    """An incident payload as ``viewer`` may see it: None outside their areas, title numbers masked."""
    from app.masking import mask_text
    from app.security.access import may_see_record

    if not may_see_record(viewer, payload):
        return None
    return {**payload, "title": mask_text(payload.get("title"), viewer)}


def live_items(seed: list[dict], live: dict | None, lang: str, viewer=None) -> list:
    """The newest incidents: the page's starting list updated by the pushed incident events (those
    in ``viewer``'s areas, titles masked for them)."""
    items = {payload["incident_id"]: (payload, False) for payload in seed or ()}
    for event in reversed((live or {}).get("recent") or []):  # oldest first: the newest state wins
        if event.get("type") in ("incident.new", "incident.updated"):
            payload = for_viewer(event["payload"], viewer)
            if payload is None:
                continue
            was_new = items.get(payload["incident_id"], (None, False))[1]
            items[payload["incident_id"]] = (payload, was_new or event["type"] == "incident.new")
    newest = sorted(items.values(), key=lambda item: (item[0].get("reported_at") or "", item[0]["incident_id"]), reverse=True)[:LIVE_LIST_LENGTH]
    if not newest:
        return [html.Li(t("home.live.empty", lang), className="live-item muted")]
    return [live_item(payload, lang, is_new) for payload, is_new in newest]


def live_section(seed: list[dict], lang: str) -> html.Section:
    return html.Section(
        [
            html.Div([html.H2(t("home.live.title", lang), className="section-title"), html.Span(t("home.live.note", lang), className="section-note")], className="section-head"),
            dcc.Store(id="home-live-seed", data={"items": seed, "lang": lang}),
            html.Ul(live_items(seed, None, lang), id="home-live-list", className="live-list"),
        ],
        className="panel",
    )


@callback(
    Output("home-live-list", "children"),
    Output("home-data-version", "children"),
    Input("live-events", "data"),
    State("home-live-seed", "data"),
    State("home-data-version", "children"),
    prevent_initial_call=True,
)
def update_live_list(live, seed, shown_version):
    from app.i18n import LANGUAGES
    from app.security.access import current_viewer
    from app.security.callbacks import (
        ANY_JSON,
        LIVE_STORE,
        Enum,
        ListOf,
        MapOf,
        Opt,
        Record,
        Text,
        check,
    )

    check(live, LIVE_STORE, "live-events.data")
    check(seed, Opt(Record.of(items=Opt(ListOf(MapOf(ANY_JSON, 100), 100)), lang=Opt(Enum(LANGUAGES)))), "home-live-seed.data")
    check(shown_version, Opt(Text(32)), "home-data-version.children")
    for position, payload in enumerate((seed or {}).get("items") or []):
        check_payload(payload, f"home-live-seed.data.items[{position}]")
    for position, event in enumerate((live or {}).get("recent") or []):
        if event.get("type") in ("incident.new", "incident.updated"):
            check_payload(event.get("payload"), f"live-events.data.recent[{position}].payload")
    viewer = current_viewer()
    lang = (seed or {}).get("lang") or "zh"
    versions = [event.get("data_version") for event in (live or {}).get("recent") or [] if isinstance(event.get("data_version"), int)]
    current = int(str(shown_version).lstrip("v")[:15]) if shown_version and str(shown_version).lstrip("v")[:15].isdigit() else 0
    version = f"v{max([current, *versions])}"
    seed_items = [item for item in (for_viewer(payload, viewer) for payload in (seed or {}).get("items") or []) if item is not None]
    return live_items(seed_items, live, lang, viewer), version


def scope_label(scope: list[dict], lang: str) -> str:
    """The areas a restricted viewer's counts cover, by name."""
    names = [(area["name_en"] if lang == "en" and area.get("name_en") else area["name"]) for area in scope]
    return t("home.scope", lang, areas=t("home.scope.separator", lang).join(names))


def page_heading(lang: str, data_version=None, read_at: dt.datetime | None = None, scope: list[dict] | None = None) -> html.Div:
    facts = []
    if scope:
        facts.append(html.Div(html.Span(scope_label(scope, lang), className="fact-value", id="home-scope"), className="fact"))
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
    """The overview; a viewer limited to areas gets the counts and incidents of their areas (all of
    them, a union), named in the heading."""
    from app.security.access import current_viewer
    from queries.overview import latest_incidents, overview

    lang = current_lang(lang)
    read_at = dt.datetime.now(dt.timezone.utc)
    viewer = current_viewer()
    areas = viewer.areas if viewer is not None else ()
    try:
        with current_context().read_engine.connect() as conn:
            data = overview(conn, now=read_at, areas=areas)
            latest = [payload for payload in (for_viewer(event.payload, viewer) for event in latest_incidents(conn, LIVE_LIST_LENGTH, areas))
                      if payload is not None]
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
    sections = [page_heading(lang, data["data_version"], read_at, data["scope"])]
    if not data["scope"] and sum(data["areas_by_level"].values()) == 0 and sum(data["records"].values()) == 0:
        sections.append(
            html.Section([html.H2(t("home.empty.title", lang), className="section-title"), html.P(t("home.empty.body", lang))], className="panel panel--empty")
        )
    sections += [live_section(latest, lang), areas_section(data["areas_by_level"], lang), records_section(data["records"], lang), catalogue_section(data["catalogue"], lang)]
    return html.Div(sections, className="page page-home")
