"""Shown for any address no page is registered at (Dash picks a module named ``not_found_404``)."""
from __future__ import annotations

import dash
from dash import dcc, html

from app.context import current_lang
from app.i18n import t

dash.register_page(__name__, path="/404", nav=False, title=lambda **_: t("app.window_title"))


def layout(lang=None, **_query):
    lang = current_lang(lang)
    return html.Div(
        html.Section(
            [
                html.H1(t("not_found.title", lang)),
                html.P(t("not_found.body", lang), className="muted"),
                dcc.Link(t("not_found.back", lang), href=f"/?lang={lang}", className="button"),
            ],
            className="panel panel--empty",
        ),
        className="page page-not-found",
    )
