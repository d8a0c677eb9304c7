"""The navigation frame around every page: brand, page links, language switch.

The language lives in the URL (``?lang=en``) so that a wall, a bookmark or a shared briefing link
opens in the language it was sent in; the default is CITYOPS_LOCALE. Page links are built from
``dash.page_registry`` at request time, so pages added later appear by themselves. A page can set
``name``/``name_en`` (labels when the catalogue has no ``page.<slug>`` key), ``nav=False`` (not
in the menu) and ``chrome=False`` (no frame, e.g. a video wall) in its ``register_page`` call.

The menu shows only the pages the signed-in caller may open (``app.security.access.may_open``:
the same table that refuses the page), decided on the server each time the header is built for a
request — the layout and the header callback; a wall device sees the wall, a leader no studio,
nobody nothing. Built outside a request (a script, a test of the frame), it lists every page.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import dash
from dash import Input, Output, dcc, html

from app.context import current_lang
from app.i18n import CATALOGUE, HTML_LANG, LANGUAGES, t

SHELL_CLASS = "shell"
BARE_SHELL_CLASS = "shell shell--bare"


def page_slug(path: str) -> str:
    return path.strip("/").split("/")[0] or "home"


def page_label(page: dict, lang: str) -> str:
    key = f"page.{page_slug(page['path'])}"
    if key in CATALOGUE:
        return t(key, lang)
    if lang == "en" and page.get("name_en"):
        return page["name_en"]
    return page.get("name") or page_slug(page["path"])


def with_lang(path: str, search: str | None, lang: str) -> str:
    """``path`` with the query of ``search`` and ``lang`` set to the given language."""
    params = [(key, value) for key, value in parse_qsl((search or "").lstrip("?"), keep_blank_values=True) if key != "lang"]
    params.append(("lang", lang))
    return f"{path}?{urlencode(params)}"


def page_for_path(pathname: str | None) -> dict | None:
    """The registered page whose path is ``pathname`` or a prefix of it (``/command/320706`` → ``/command``)."""
    pathname = (pathname or "/").rstrip("/") or "/"
    best = None
    for page in dash.page_registry.values():
        path = page["path"].rstrip("/") or "/"
        if pathname == path or (path != "/" and pathname.startswith(path + "/")):
            if best is None or len(path) > len(best["path"]):
                best = page
    return best


# Pages served by plain Flask routes, not by Dash (a full page load): the briefing (app/briefing).
SERVER_PAGES = ({"path": "/briefing", "order": 30},)


def nav_pages() -> list[dict]:
    return [page for page in dash.page_registry.values() if page.get("nav", True) and "<" not in page["path"]]


ALL = object()  # nav_entries(viewer=ALL): every page, whoever asks
CALLER = object()  # nav_entries(viewer=CALLER): the request's caller


def _menu_viewer():
    """Whom the menu is for: the request's caller as the access hook judged it (None: nobody, or
    not judged yet — Dash builds the layout once in its own set-up, before that hook), or ``ALL``
    outside a request. Never resolves the caller itself."""
    import flask

    if not flask.has_request_context():
        return ALL
    return flask.g.get("cityops_identity")


def nav_entries(lang: str, viewer=CALLER) -> list[dict]:
    """The menu: Dash pages and server pages in ``order``, each ``{path, label, dash}`` — those
    ``viewer`` may open (default: the request's caller; ``ALL``: every page)."""
    from app.security.access import may_open

    viewer = _menu_viewer() if viewer is CALLER else viewer
    entries = [{"path": page["path"], "label": page_label(page, lang), "order": page.get("order") or 0, "dash": True, "page": page}
               for page in nav_pages()]
    entries += [{"path": page["path"], "label": t(f"page.{page_slug(page['path'])}", lang), "order": page["order"], "dash": False, "page": None}
                for page in SERVER_PAGES]
    if viewer is not ALL:
        entries = [entry for entry in entries if may_open(viewer, entry["path"], entry["page"])]
    return [{key: value for key, value in entry.items() if key != "page"} for entry in sorted(entries, key=lambda entry: entry["order"])]


def header_children(pathname: str | None, search: str | None, lang: str) -> list:
    active = page_for_path(pathname)
    active_path = active["path"] if active else None
    links = [
        # Dash pages switch in place (dcc.Link); a server page is a full load (html.A).
        (dcc.Link if entry["dash"] else html.A)(
            entry["label"],
            href=with_lang(entry["path"], None, lang),
            className="shell-nav-link is-active" if entry["path"] == active_path else "shell-nav-link",
        )
        for entry in nav_entries(lang)
    ]
    switches = [
        dcc.Link(
            t(f"lang.{code}", lang),
            href=with_lang(pathname or "/", search, code),
            className="shell-lang-option is-active" if code == lang else "shell-lang-option",
            id=f"shell-lang-{code}",
        )
        for code in LANGUAGES
    ]
    return [
        dcc.Link(
            [
                html.Span(className="shell-mark", **{"aria-hidden": "true"}),
                html.Span(
                    [html.Span(t("app.name", lang), className="shell-title"), html.Span(t("app.tagline", lang), className="shell-tagline")],
                    className="shell-brand-text",
                ),
            ],
            href=with_lang("/", None, lang),
            className="shell-brand",
        ),
        html.Nav(links, className="shell-nav", **{"aria-label": t("nav.label", lang)}),
        live_status_mark(lang),
        html.Div(switches, className="shell-lang", role="group", **{"aria-label": t("lang.label", lang)}),
    ]


def live_status_mark(lang: str) -> html.Span:
    """Live / reconnecting, from <html data-live-state> set by assets/cityops-live.js (CSS shows
    the matching label, so the mark survives the header being re-rendered)."""
    labels = [html.Span(t(f"live.status.{state}", lang), className=f"shell-live-label shell-live-label--{state}") for state in ("connecting", "live", "reconnecting")]
    return html.Span(
        [html.Span(className="shell-live-dot", **{"aria-hidden": "true"}), *labels],
        id="shell-live-status", className="shell-live", role="status", title=t("live.status.label", lang),
    )


def shell_layout(default_lang: str):
    """The frame in the default language; the header callback then follows the URL's ``?lang``."""
    lang = default_lang
    return html.Div(
        [
            dcc.Location(id="shell-url", refresh="callback-nav"),
            dcc.Store(id="shell-lang", data=HTML_LANG[lang]),
            # Live events pushed by assets/cityops-live.js: {"last": event, "recent": [newest first], "seq": n}.
            # Pages subscribe with Input("live-events", "data").
            dcc.Store(id="live-events", data=None),
            html.Header(header_children("/", None, lang), id="shell-header", className="shell-header"),
            html.Main(dash.page_container, className="shell-main"),
        ],
        id="shell-root",
        className=SHELL_CLASS,
    )


def register_shell_callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output("shell-header", "children"),
        Output("shell-root", "className"),
        Output("shell-lang", "data"),
        Input("shell-url", "pathname"),
        Input("shell-url", "search"),
    )
    def render_header(pathname, search):
        query = dict(parse_qsl((search or "").lstrip("?")))
        lang = current_lang(query.get("lang"))
        page = page_for_path(pathname)
        root_class = BARE_SHELL_CLASS if page is not None and page.get("chrome") is False else SHELL_CLASS
        return header_children(pathname, search, lang), root_class, HTML_LANG[lang]

    # <html lang> drives the browser's choice of CJK glyphs and screen readers' voice.
    app.clientside_callback(
        "function(tag) { if (tag) { document.documentElement.lang = tag; } return window.dash_clientside.no_update; }",
        Output("shell-lang", "id"),
        Input("shell-lang", "data"),
    )
