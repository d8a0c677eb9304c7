"""The analysts' studio: ``/studio`` — walls (scene sets) and briefings edited through forms,
previewed with real data, validated on every change, versioned, published and rolled back.

Needs ``edit_specs`` (analysts, admins): the page and every ``studio-*`` callback
(``app.security.access``). The pieces live in ``app.studio``; this module registers the page and,
through ``app.studio.callbacks.register``, its callbacks (Dash runs this module for every app it builds).
"""
from __future__ import annotations

import dash

from app.context import current_lang
from app.i18n import t
from app.studio.callbacks import register

register()
dash.register_page(__name__, path="/studio", name=t("page.studio"), name_en=t("page.studio", "en"), order=40, title=lambda **_: t("app.window_title"))


def layout(lang: str | None = None, **query):
    """The studio; a link's ``?wall=&scene=&panel=`` or ``?briefing=&section=`` opens that spec at that
    place (``app.studio.links``), what it could not find said in a banner naming the parameter."""
    from app.studio import specs
    from app.studio.layout import studio_layout
    from app.studio.links import resolve
    from layers import layer_names
    from queries.vocab import AREA_LEVELS

    lang = current_lang(lang)
    levels = [{"label": t("studio.f.default", lang), "value": ""}] + [
        {"label": term.en if lang == "en" else term.zh, "value": term.code} for term in AREA_LEVELS if term.code != "grid"]
    return studio_layout(lang, area_choices=specs.area_choices(), layer_names=list(layer_names()), levels=levels, opened=resolve(query, lang))
