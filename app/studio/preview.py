"""The live preview: a wall scene as the wall draws it, a briefing as the briefing prints it.

A scene is built in a box of the wall's design canvas size (``--u`` = one CSS pixel, so every size
of assets/wall.css is the canvas's own) and scaled down to the preview's width by a CSS
transform. Panels are built by the wall's own panel classes (``app.wall.panels``) with real data
through the query cache, with the same freshness footer; a panel whose settings do not validate
is shown as such in its place, the others still render. Nothing here writes anything.
"""
from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

from dash import html
from pydantic import TypeAdapter, ValidationError

from app.i18n import t

log = logging.getLogger(__name__)

PREVIEW_WIDTH = 880  # CSS pixels of the preview pane (assets/studio.css .studio-preview-frame)


def _panel_adapter():
    from queries.specs.model import Panel

    return TypeAdapter(Panel)


def _canvas_grid(body: dict):
    from queries.specs.model import Canvas, Grid

    try:
        canvas = Canvas.model_validate(body.get("canvas") or {})
    except ValidationError:
        canvas = Canvas()
    try:
        grid = Grid.model_validate(body.get("grid") or {})
    except ValidationError:
        grid = Grid()
    return canvas, grid


def _area(code) -> dict:
    """The area a panel shows: ``code`` when it exists, else the city (the root of the area tree)."""
    from app.context import current_context
    from queries.drill import UnknownArea
    from queries.wall import area_or_root

    with current_context().read_engine.connect() as conn:
        try:
            return area_or_root(conn, code if isinstance(code, str) and code else None)
        except UnknownArea:
            return area_or_root(conn, None)


def _placement(at) -> dict | None:
    if not isinstance(at, dict):
        return None
    try:
        col, row = int(at["col"]), int(at["row"])
        col_span, row_span = int(at.get("col_span", 1)), int(at.get("row_span", 1))
    except (KeyError, TypeError, ValueError):
        return None
    if min(col, row, col_span, row_span) < 1:
        return None
    return {"gridColumn": f"{col} / span {col_span}", "gridRow": f"{row} / span {row_span}"}


def _box(index: int, raw: dict, kind: str, title: str, body, meta, *, selected: bool, extra_class: str = "") -> html.Div:
    classes = f"wall-panel wall-panel--{kind} studio-pick{' is-selected' if selected else ''}{extra_class}"
    head = html.Div(html.Span(title, className="wall-panel-title"), className="wall-panel-head") if title else None
    return html.Div([head, html.Div(body, className="wall-panel-body" + (" wall-map" if kind == "map" else "")), html.Div(meta, className="wall-meta")],
                    id={"type": "studio-pick", "index": index}, className=classes, style=_placement(raw.get("at")) or {"display": "none"},
                    n_clicks=0, role="button", **{"data-panel": str(raw.get("id") or index), "data-type": kind})


def scene_preview(body: dict, scene_index: int, selected_panel: int | None, lang: str, *, now: dt.datetime | None = None) -> html.Div:
    """The selected scene of a draft wall, built with real data, scaled to the preview pane."""
    import deckgl_dash

    from app.studio.forms import is_emergency, scenes_of
    from app.wall.panels import PanelContext, collect_stale_reads, get_panel
    from app.wall.view import _freshness_by_dataset, _meta, _panel_px

    canvas, grid = _canvas_grid(body)
    scenes = scenes_of(body)
    scene = scenes[scene_index] if 0 <= scene_index < len(scenes) else None
    now = now or dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    wall_area = _area(body.get("area"))
    shape = SimpleNamespace(canvas=canvas, grid=grid)
    try:
        freshness = _freshness_by_dataset(now)
    except Exception:  # noqa: BLE001 - the preview still shows the panels
        freshness = {}
    adapter = _panel_adapter()
    raws = [p for p in ((scene or {}).get("panels") or []) if isinstance(p, dict)]
    models = {}
    for index, raw in enumerate(raws):
        try:
            models[index] = adapter.validate_python(raw)
        except ValidationError:
            continue
    scene_datasets: set[str] = set()
    for model in models.values():
        if model.type != "freshness":
            try:
                scene_datasets.update(get_panel(model.type).datasets(model))
            except Exception:  # noqa: BLE001
                pass
    boxes = []
    for index, raw in enumerate(raws):
        selected = index == selected_panel
        model = models.get(index)
        if model is None:
            boxes.append(_box(index, raw, str(raw.get("type") or "unknown"), str(raw.get("id") or ""),
                              html.Div(t("studio.preview.invalid", lang), className="wall-empty studio-preview-invalid"), [],
                              selected=selected, extra_class=" is-invalid"))
            continue
        kind = get_panel(model.type)
        area = wall_area if model.area is None else _area(model.area)
        ctx = PanelContext(area=area, lang=lang, now=now, scale=1.0, emergency=None, scene_datasets=tuple(sorted(scene_datasets)),
                           panel_px=_panel_px(shape, model))
        try:
            with collect_stale_reads() as stale:
                built = kind.build(model, ctx)
            title = kind.title(model, lang)
        except Exception:  # noqa: BLE001 - one failing panel must not blank the preview
            log.warning("studio preview: panel %s failed", raw.get("id"), exc_info=True)
            boxes.append(_box(index, raw, model.type, str(raw.get("id") or ""), html.Div(t("studio.preview.failed", lang), className="wall-empty"), [],
                              selected=selected, extra_class=" is-lost"))
            continue
        if model.type == "map":
            content = built.content
            content_body = deckgl_dash.DeckGL(id=f"studio-preview-map-{index}", layers=content.get("layers") or [], layer_data=content.get("layerData") or {},
                                              initial_view_state=content.get("initialViewState"), controller=False,
                                              style={"width": "100%", "height": "100%", "position": "absolute", "inset": "0"})
        else:
            content_body = built.content
        meta, _state, _time = _meta(list(built.datasets), built.data_time, freshness, lang, lost=bool(stale))
        boxes.append(_box(index, raw, model.type, title, content_body, meta, selected=selected))
    scale = PREVIEW_WIDTH / canvas.width
    title = (scene or {}).get("title")
    scene_title = (title.get("en") or title.get("zh")) if lang == "en" and isinstance(title, dict) else (title.get("zh") if isinstance(title, dict) else title or "")
    wall_title = body.get("title")
    wall_title = (wall_title.get("en") or wall_title.get("zh")) if lang == "en" and isinstance(wall_title, dict) else (
        wall_title.get("zh") if isinstance(wall_title, dict) else wall_title or "")
    classes = "wall-scene is-active" + (" wall-scene--emergency" if scene is not None and is_emergency(body, scene_index) else "")
    stage = html.Div(html.Section(html.Div(boxes, className="wall-grid"), className=classes), className="wall-stage")
    bar = html.Div([html.Span(wall_title or "", className="wall-name"), html.Span(scene_title or "", className="wall-scene-title")], className="wall-bar")
    box = html.Div([stage, bar], className="wall studio-canvas", id="studio-canvas",
                   style={"--canvas-w": canvas.width, "--canvas-h": canvas.height, "--cols": grid.columns, "--rows": grid.rows, "--gap": grid.gap,
                          "--preview-scale": f"{scale:.5f}"},
                   **{"data-canvas": f"{canvas.width}x{canvas.height}", "data-scale": f"{scale:.5f}"})
    note = html.Div(t("studio.preview.note", lang, width=canvas.width, height=canvas.height, percent=f"{scale * 100:.1f}"), className="studio-preview-note")
    frame = html.Div(box, className="studio-preview-frame", style={"height": f"{canvas.height * scale:.1f}px", "width": f"{PREVIEW_WIDTH}px"})
    return html.Div([note, frame], className="studio-preview-scene")


def briefing_preview(body: dict, lang: str) -> html.Div:
    """A draft briefing through the briefing's own sections and template (its print layout), in a
    sandboxed frame: same origin for its stylesheet, no script runs in it."""
    import flask

    from app.briefing.page import css_string, page_counter_css
    from app.briefing.sections import BriefingContext, build_section
    from app.command.panels import area_name, local_time
    from app.i18n import HTML_LANG
    from queries.specs.model import BriefingSpec

    try:
        spec = BriefingSpec.model_validate(body)
    except ValidationError:
        return html.Div(t("studio.preview.invalid", lang), className="studio-preview-invalid")
    area = _area(spec.area)
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    ctx = BriefingContext(area=area, lang=lang, now=now)
    sections = []
    for section in sorted(spec.sections, key=lambda s: 0 if s.type == "attention" else 1):
        try:
            sections.append(build_section(section, ctx))
        except Exception:  # noqa: BLE001 - as the briefing itself: one broken section must not blank it
            log.warning("studio preview: briefing section %s failed", section.type, exc_info=True)
            sections.append({"type": section.type, "title": t(f"briefing.section.{section.type}", lang), "failed": True, "data_time_text": ""})
    footer = t("briefing.print.footer", lang, title=spec.title.get(lang), time=local_time(now, lang))
    page = flask.render_template(
        "briefing.html", t=lambda key, **kw: t(key, lang, **kw), html_lang=HTML_LANG[lang], lang=lang, page_footer_css=css_string(footer),
        page_number_css=page_counter_css(lang), printing=True, spec=spec, sections=sections, area_name=area_name(area, lang),
        title=spec.title.get(lang), as_of=now.isoformat(), as_of_text=local_time(now, lang), briefing_id=spec.id, nav=[], languages=[],
        print_href="", pdf_href="",
    )
    return html.Div([html.Div(t("studio.preview.briefing", lang), className="studio-preview-note"),
                     html.Iframe(srcDoc=page, sandbox="allow-same-origin", className="studio-briefing-frame", title=t("studio.preview.briefing", lang))],
                    className="studio-preview-briefing")
