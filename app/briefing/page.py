"""Routes of the briefing: ``/briefing`` (the default, ``city``) and ``/briefing/<id>``.

``?lang=en`` switches language, ``?print=1`` gives the print layout (no navigation; the PDF
export prints it). The whole page is one HTML response, gzip-compressed when the client accepts it.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
import re

import flask
from markupsafe import Markup

from app.context import current_context, current_lang
from app.i18n import HTML_LANG, LANGUAGES, t

log = logging.getLogger(__name__)

DEFAULT_BRIEFING = "city"
BRIEFING_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _nav(lang: str, active: str) -> list[dict]:
    """The same menu as the Dash pages' header (app.shell), as plain links."""
    from app.shell import nav_entries

    return [{**entry, "active": entry["path"] == active} for entry in nav_entries(lang)]


def _load(briefing_id: str):
    from app.security.access import current_viewer, may_see_area
    from queries.drill import UnknownArea, get_area
    from queries.specs.store import effective_briefing
    from queries.wall import area_or_root

    context = current_context()
    viewer = current_viewer()
    with context.read_engine.connect() as conn:
        effective = effective_briefing(conn, briefing_id, context.settings)
        area = area_or_root(conn, effective.spec.area)
        if not may_see_area(viewer, area["code"]):  # a district's staff get their district's briefing
            for code in viewer.areas:
                try:
                    area = get_area(conn, code)
                    break
                except UnknownArea:
                    continue
            else:
                raise AreaOutside(briefing_id)
    return effective, area


class AreaOutside(LookupError):
    """The briefing's area is outside the viewer's areas and none of theirs exists."""


def render_briefing(briefing_id: str):
    from queries.specs.store import UnknownBriefing

    args = flask.request.args
    lang = current_lang(args.get("lang"))
    printing = args.get("print") == "1"
    if not BRIEFING_ID.fullmatch(briefing_id or ""):
        return _page("briefing_missing.html", 404, lang=lang, briefing_id=briefing_id)
    try:
        effective, area = _load(briefing_id)
    except UnknownBriefing as exc:
        return _page("briefing_missing.html", 404, lang=lang, briefing_id=briefing_id, known=exc.known)
    except AreaOutside:
        from app.security.access import current_viewer, forbidden_page

        return forbidden_page(current_viewer())
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    spec = effective.spec
    sections_html = shared_sections(briefing_id, spec, area, lang, now)
    from app.command.panels import area_name, local_time

    footer_text = t("briefing.print.footer", lang, title=spec.title.get(lang), time=local_time(now, lang))
    return _page(
        "briefing.html", 200, page_footer_css=css_string(footer_text), page_number_css=page_counter_css(lang), lang=lang, printing=printing, spec=spec,
        sections_html=sections_html, area_name=area_name(area, lang),
        title=spec.title.get(lang), as_of=now.isoformat(), as_of_text=local_time(now, lang), briefing_id=briefing_id,
        nav=_nav(lang, "/briefing"), languages=[{"code": code, "label": t(f"lang.{code}", lang), "href": flask.request.path + f"?lang={code}",
                                                 "active": code == lang} for code in LANGUAGES],
        print_href=f"{flask.request.path}?lang={lang}&print=1", pdf_href=f"/export/briefing/{briefing_id}.pdf?lang={lang}",
    )


SECTIONS_SHARED_SECONDS = 90  # a minute's briefing, kept a little past its minute for late readers


def shared_sections(briefing_id: str, spec, area: dict, lang: str, now: dt.datetime) -> Markup:
    """The sections of the briefing as HTML, built once per briefing spec, area, language,
    masking class and minute, and shared by every leader who opens it (through the query cache:
    across workers and hosts). In a crisis every leader's tablet opens the same briefing within
    the same minutes; each rebuilt it on its own before (0.1–0.5 s of CPU each).

    The page stamps itself "as of" the minute, and every section its own data time, so a copy
    from earlier in that minute says what it shows. The header (menu by role, languages) stays
    per request."""
    from app.masking import sees_clear
    from app.security.access import current_viewer

    parts = {"briefing": briefing_id, "spec": hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:24], "area": area["code"],
             "lang": lang, "personal_data": "clear" if sees_clear(current_viewer()) else "masked", "minute": now}
    try:
        context = current_context()
        html = context.cache.shared(context.query_engine, "briefing.sections", parts, lambda: build_sections_html(briefing_id, spec, area, lang, now),
                                    SECTIONS_SHARED_SECONDS)
    except SectionsIncomplete as incomplete:  # shown to this reader, never kept for the next
        html = incomplete.html
    return Markup(html)


class SectionsIncomplete(Exception):
    """A section failed (its data did not answer): the sections' HTML is not to be shared."""

    def __init__(self, html: str):
        super().__init__("a briefing section failed")
        self.html = html


def build_sections_html(briefing_id: str, spec, area: dict, lang: str, now: dt.datetime) -> str:
    """The sections' HTML; raises ``SectionsIncomplete`` (carrying it) when one of them failed."""
    from app.briefing.sections import BriefingContext, build_section

    ctx = BriefingContext(area=area, lang=lang, now=now)
    ordered = sorted(spec.sections, key=lambda s: 0 if s.type == "attention" else 1)  # attention always first
    sections = []
    for section in ordered:
        try:
            sections.append(build_section(section, ctx))
        except Exception:  # one broken section must not blank the briefing
            log.exception("briefing %s: section %s failed", briefing_id, section.type)
            sections.append({"type": section.type, "title": t(f"briefing.section.{section.type}", lang), "failed": True, "data_time_text": ""})
    html = str(flask.render_template("briefing_sections.html", t=lambda key, **kw: t(key, lang, **kw), lang=lang, sections=sections))
    if any(section.get("failed") for section in sections):
        raise SectionsIncomplete(html)
    return html


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string, safe inside <style> (no quote, backslash or tag can break out)."""
    escaped = "".join(f"\\{ord(ch):X} " if ch in '"\\<>\n\r' else ch for ch in text)
    return Markup(f'"{escaped}"')


def page_counter_css(lang: str) -> Markup:
    """``"第 " counter(page) " 页 / 共 " counter(pages) " 页"``: the catalogue's words around CSS counters."""
    marker_page, marker_pages = "\x00page\x00", "\x00pages\x00"
    text = t("briefing.print.page", lang, page=marker_page, pages=marker_pages)
    parts = []
    for chunk in text.split("\x00"):
        if chunk in ("page", "pages"):
            parts.append(f"counter({chunk})")
        elif chunk:
            parts.append(css_string(chunk))
    return Markup(" ".join(parts))


def _page(template: str, status: int, *, lang: str, **values):
    html = flask.render_template(template, t=lambda key, **kw: t(key, lang, **kw), html_lang=HTML_LANG[lang], lang=lang, **values)
    body = html.encode("utf-8")
    response = flask.Response(body, status=status, mimetype="text/html")
    if "gzip" in flask.request.headers.get("Accept-Encoding", "") and len(body) > 1024:
        response.set_data(gzip.compress(body, compresslevel=6))
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = "no-store"  # today's numbers, and (later) the viewer's role
    return response


def register_briefing(server: flask.Flask) -> None:
    server.add_url_rule("/briefing", "briefing_default", lambda: render_briefing(DEFAULT_BRIEFING))
    # ``path``: an id with a slash (``/briefing/a/b``, ``/briefing/x/``) gets the briefing's 404 page,
    # not Dash's catch-all.
    server.add_url_rule("/briefing/<path:briefing_id>", "briefing", render_briefing)
