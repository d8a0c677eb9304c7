"""The studio page's components. Every form field is always in the page (hidden when it does not
apply: CSS on the editor's and the panel form's classes), so the callbacks always have their inputs.
"""
from __future__ import annotations

from dash import dcc, html

from app.i18n import t
from app.studio import forms
from app.studio.forms import CHARTS, MEASURES, error_id, field_id
from queries.specs.model import BRIEFING_SECTION_TYPES, PANEL_TYPES
from queries.vocab import SEVERITIES

EMPTY_SELECTION = {"scene": 0, "panel": None, "section": None}
TYPED = {  # panel form fields shown only for some panel types
    "p_indicator": ("kpi", "trend", "ranking"), "p_chart": ("trend",), "p_window": ("trend", "ranking"), "p_measure": ("ranking",),
    "p_top": ("ranking",), "p_warn": ("kpi", "trend"), "p_alarm": ("kpi", "trend"), "p_color_line": ("kpi", "trend"),
    "p_color_warn": ("kpi", "trend"), "p_color_alarm": ("kpi", "trend"), "p_layers": ("map",),
}


# section form fields shown only for the section types that have the option (from the models)
SECTION_TYPED = {name: forms.section_types_with(key) for key, name in forms.SECTION_OPTION_FIELDS.items()}


def _field(name: str, label: str, control, *, hint: str | None = None, wide: bool = False) -> html.Div:
    classes = "studio-field" + (" studio-field--wide" if wide else "")
    if name in TYPED:
        classes += " studio-typed " + " ".join(f"for-{kind}" for kind in TYPED[name])
    if name in SECTION_TYPED:
        classes += " studio-typed " + " ".join(f"sec-{kind}" for kind in SECTION_TYPED[name])
    return html.Div([
        html.Label(label, htmlFor=field_id(name), className="studio-label"),
        control,
        html.Div(hint, className="studio-hint") if hint else None,
        html.Div(id=error_id(name), className="studio-error", **{"aria-live": "polite"}),
    ], className=classes, id=f"studio-w-{name.replace('_', '-')}")


def _text(name: str, placeholder: str | None = None) -> dcc.Input:
    return dcc.Input(id=field_id(name), type="text", debounce=True, placeholder=placeholder, className="studio-input", autoComplete="off")


def _number(name: str, minimum=None, maximum=None, step=1, placeholder: str | None = None) -> dcc.Input:
    return dcc.Input(id=field_id(name), type="number", debounce=True, min=minimum, max=maximum, step=step, placeholder=placeholder,
                     className="studio-input studio-input--num")


def _section_number(name: str, key: str, lang: str) -> html.Div:
    """A numeric section option: its range (per section type, from the model) in the hint, its default as placeholder."""
    kinds = forms.section_types_with(key)
    bounds = [forms.section_bounds(kind, key) for kind in kinds]
    low = min((b[0] for b in bounds if b[0] is not None), default=None)
    high = max((b[1] for b in bounds if b[1] is not None), default=None)
    default = forms.section_default(kinds[0], key) if kinds else None
    ranges = t("studio.f.range_separator", lang).join(f"{t(f'briefing.section.{kind}', lang)} {lo}–{hi}" for kind, (lo, hi) in zip(kinds, bounds)) if len(kinds) > 1 else (
        f"{bounds[0][0]}–{bounds[0][1]}" if kinds else "")
    return _field(name, t(f"studio.f.{key}", lang), _number(name, low, high, placeholder=None if default is None else str(default)),
                  hint=t("studio.f.option_hint", lang, range=ranges, default=default))


def severity_options(lang: str) -> list[dict]:
    """Levels I–IV as the vocabulary names them (``queries.vocab.SEVERITIES``)."""
    return [{"label": term.en if lang == "en" else t("studio.f.severity_label", lang, level="ⅠⅡⅢⅣ"[int(term.code) - 1], name=term.zh),
             "value": int(term.code)} for term in SEVERITIES
            if int(term.code) in forms.SEVERITY_LEVELS]


def _radio(name: str, options: list[dict]) -> dcc.RadioItems:
    return dcc.RadioItems(id=field_id(name), options=options, className="studio-radio", inputClassName="studio-radio-input",
                          labelClassName="studio-radio-label")


def _button(component_id: str, label: str, quiet: bool = True) -> html.Button:
    return html.Button(label, id=component_id, n_clicks=0, type="button", className="studio-button" + (" studio-button--quiet" if quiet else ""))


def area_options(areas: list[dict], lang: str, *, default_label: str) -> list[dict]:
    return [{"label": default_label, "value": ""}] + [
        {"label": f"{(a.get('name_en') or a['name']) if lang == 'en' else a['name']} ({a['code']})", "value": a["code"]} for a in areas]


def wall_form(lang: str, area_choices: list[dict]) -> html.Section:
    return html.Section([
        html.H2(t("studio.section.wall", lang), className="studio-h2"),
        html.Div([
            _field("w_title_zh", t("studio.f.title_zh", lang), _text("w_title_zh")),
            _field("w_title_en", t("studio.f.title_en", lang), _text("w_title_en")),
            _field("w_width", t("studio.f.width", lang), _number("w_width", 640, 16384)),
            _field("w_height", t("studio.f.height", lang), _number("w_height", 360, 8640)),
            _field("w_columns", t("studio.f.columns", lang), _number("w_columns", 1, 96)),
            _field("w_rows", t("studio.f.rows", lang), _number("w_rows", 1, 48)),
            _field("w_gap", t("studio.f.gap", lang), _number("w_gap", 0, 200)),
            _field("w_area", t("studio.f.area", lang), dcc.Dropdown(id=field_id("w_area"), options=area_options(area_choices, lang, default_label=t("studio.f.area_default", lang)),
                                                                   clearable=False, className="studio-dropdown")),
        ], className="studio-grid"),
    ], className="studio-card studio-for-wall", id="studio-wall-form")


def scene_form(lang: str) -> html.Section:
    return html.Section([
        html.Div([html.H2(t("studio.section.scenes", lang), className="studio-h2"),
                  html.Div([_button("studio-add-scene", t("studio.add.scene", lang)), _button("studio-add-emergency", t("studio.add.emergency", lang)),
                            _button("studio-dup-scene", t("studio.dup.scene", lang)), _button("studio-del-scene", t("studio.del.scene", lang))],
                           className="studio-actions")], className="studio-card-head"),
        html.Ol(id="studio-scenes", className="studio-tabs", role="tablist"),
        html.Div([
            _field("s_id", t("studio.f.id", lang), _text("s_id")),
            _field("s_title_zh", t("studio.f.title_zh", lang), _text("s_title_zh")),
            _field("s_title_en", t("studio.f.title_en", lang), _text("s_title_en")),
            _field("s_dwell", t("studio.f.dwell", lang), _number("s_dwell", 5, 3600)),
        ], className="studio-grid"),
        html.Div([html.H3(t("studio.section.panels", lang), className="studio-h3"),
                  html.Div([_button("studio-add-panel", t("studio.add.panel", lang)), _button("studio-dup-panel", t("studio.dup.panel", lang)),
                            _button("studio-del-panel", t("studio.del.panel", lang))], className="studio-actions")], className="studio-card-head"),
        html.Ol(id="studio-panels", className="studio-chips"),
    ], className="studio-card studio-for-wall", id="studio-scene-form")


def panel_form(lang: str, layer_names: list[str], levels: list[dict]) -> html.Section:
    type_options = [{"label": t(f"wall.panel.{kind}", lang), "value": kind} for kind in PANEL_TYPES]
    return html.Section([
        html.H2(t("studio.section.panel", lang), className="studio-h2"),
        html.Div([
            _field("p_type", t("studio.f.type", lang), _radio("p_type", type_options), wide=True),
            _field("p_id", t("studio.f.id", lang), _text("p_id")),
            _field("p_refresh", t("studio.f.refresh", lang), _number("p_refresh", 5, 86400)),
            _field("p_title_zh", t("studio.f.title_zh", lang), _text("p_title_zh", t("studio.f.default", lang))),
            _field("p_title_en", t("studio.f.title_en", lang), _text("p_title_en", t("studio.f.default", lang))),
            _field("p_measure", t("studio.f.measure", lang), _radio("p_measure", [{"label": t(f"studio.measure.{m}", lang), "value": m} for m in MEASURES]), wide=True),
            _field("p_indicator", t("studio.f.indicator", lang), html.Div([
                dcc.Input(id="studio-f-p-ind-q", type="search", debounce=False, placeholder=t("studio.f.indicator_search", lang),
                          className="studio-input studio-search", autoComplete="off"),
                dcc.RadioItems(id=field_id("p_indicator"), options=[], className="studio-radio studio-ind-list", inputClassName="studio-radio-input",
                               labelClassName="studio-radio-label"),
            ]), wide=True),
            _field("p_chart", t("studio.f.chart", lang), _radio("p_chart", [{"label": t(f"studio.chart.{c}", lang), "value": c} for c in CHARTS])),
            _field("p_window", t("studio.f.window", lang), _radio("p_window", [])),
            _field("p_top", t("studio.f.top", lang), _number("p_top", 3, 20)),
            _field("p_layers", t("studio.f.layers", lang), dcc.Checklist(id=field_id("p_layers"), options=[{"label": name, "value": name} for name in layer_names],
                                                                         className="studio-radio", inputClassName="studio-radio-input",
                                                                         labelClassName="studio-radio-label"), wide=True),
            _field("p_level", t("studio.f.level", lang), dcc.RadioItems(id="studio-f-p-level", options=levels, className="studio-radio",
                                                                        inputClassName="studio-radio-input", labelClassName="studio-radio-label")),
            _field("p_area", t("studio.f.area", lang), dcc.Dropdown(id=field_id("p_area"), options=[], clearable=False, className="studio-dropdown")),
        ], className="studio-grid"),
        html.H3(t("studio.section.thresholds", lang), className="studio-h3 studio-typed for-kpi for-trend"),
        html.Div([
            _field("p_warn", t("studio.f.warn", lang), _number("p_warn", step="any"), hint=t("studio.f.threshold_hint", lang)),
            _field("p_alarm", t("studio.f.alarm", lang), _number("p_alarm", step="any")),
            _field("p_color_line", t("studio.f.color_line", lang), _text("p_color_line", "#38b6ff"), hint=t("studio.f.color_hint", lang)),
            _field("p_color_warn", t("studio.f.color_warn", lang), _text("p_color_warn", "#ffb020")),
            _field("p_color_alarm", t("studio.f.color_alarm", lang), _text("p_color_alarm", "#ff5a5f")),
        ], className="studio-grid studio-typed for-kpi for-trend"),
        html.H3(t("studio.section.placement", lang), className="studio-h3"),
        html.Div([
            _field("p_col", t("studio.f.col", lang), _number("p_col", 1, 96)),
            _field("p_row", t("studio.f.row", lang), _number("p_row", 1, 48)),
            _field("p_col_span", t("studio.f.col_span", lang), _number("p_col_span", 1, 96)),
            _field("p_row_span", t("studio.f.row_span", lang), _number("p_row_span", 1, 48)),
        ], className="studio-grid studio-grid--4"),
        html.Div(id=error_id("p_at"), className="studio-error studio-error--block", **{"aria-live": "polite"}),
    ], className="studio-card studio-panel-form", id="studio-panel-form")


def briefing_form(lang: str, area_choices: list[dict]) -> html.Section:
    section_options = [{"label": t(f"briefing.section.{kind}", lang), "value": kind} for kind in BRIEFING_SECTION_TYPES]
    return html.Section([
        html.H2(t("studio.section.briefing", lang), className="studio-h2"),
        html.Div([
            _field("b_title_zh", t("studio.f.title_zh", lang), _text("b_title_zh")),
            _field("b_title_en", t("studio.f.title_en", lang), _text("b_title_en")),
            _field("b_area", t("studio.f.area", lang), dcc.Dropdown(id=field_id("b_area"), options=area_options(area_choices, lang, default_label=t("studio.f.area_default", lang)),
                                                                   clearable=False, className="studio-dropdown")),
        ], className="studio-grid"),
        html.Div([html.H3(t("studio.section.sections", lang), className="studio-h3"),
                  html.Div([_button("studio-add-section", t("studio.add.section", lang)), _button("studio-del-section", t("studio.del.section", lang))],
                           className="studio-actions")], className="studio-card-head"),
        html.Ol(id="studio-sections", className="studio-chips"),
        html.Div([
            _field("x_type", t("studio.f.section_type", lang), _radio("x_type", section_options), wide=True),
            _field("x_title_zh", t("studio.f.title_zh", lang), _text("x_title_zh", t("studio.f.default", lang))),
            _field("x_title_en", t("studio.f.title_en", lang), _text("x_title_en", t("studio.f.default", lang))),
            _field("x_indicators", t("studio.f.indicators", lang), html.Div([
                dcc.Input(id="studio-f-x-ind-q", type="search", debounce=False, placeholder=t("studio.f.indicator_search", lang),
                          className="studio-input studio-search", autoComplete="off"),
                dcc.Checklist(id=field_id("x_indicators"), options=[], className="studio-radio studio-ind-list", inputClassName="studio-radio-input",
                              labelClassName="studio-radio-label"),
            ]), wide=True),
            _field("x_severities", t("studio.f.severities", lang), dcc.Checklist(id=field_id("x_severities"), options=severity_options(lang),
                                                                               className="studio-radio", inputClassName="studio-radio-input",
                                                                               labelClassName="studio-radio-label"), wide=True),
            _section_number("x_limit", "limit", lang),
            _section_number("x_worst_stations", "worst_stations", lang),
            _section_number("x_worst_roads", "worst_roads", lang),
            _section_number("x_top_topics", "top_topics", lang),
            _field("x_measure", t("studio.f.map_measure", lang), _radio("x_measure", [{"label": t(f"briefing.map.{m}", lang), "value": m}
                                                                                     for m in forms.MAP_MEASURES]), wide=True),
        ], className="studio-grid studio-section-form", id="studio-section-form"),
    ], className="studio-card studio-for-briefing", id="studio-briefing-form")


def new_form(lang: str) -> html.Div:
    return html.Div([
        html.H2(t("studio.new.title", lang), className="studio-h2"),
        dcc.RadioItems(id="studio-new-kind", options=[{"label": t(f"studio.kind.{k}", lang), "value": k} for k in ("wall", "briefing")], value="wall",
                       className="studio-radio", inputClassName="studio-radio-input", labelClassName="studio-radio-label"),
        dcc.Input(id="studio-new-id", type="text", placeholder=t("studio.new.id_hint", lang), className="studio-input", autoComplete="off"),
        _button("studio-new", t("studio.new.create", lang), quiet=False),
    ], className="studio-new")


def fill(root, values: dict) -> None:
    """Give the form's components under ``root`` their values (a page opened by a link starts with its
    spec's fields filled in, as the edit callback fills them after a click)."""
    by_id = {field_id(name): value for name, value in values.items() if name in forms.FIELDS}
    by_id["studio-f-p-level"] = forms.level_of(values.get("p_area")) or ""
    for component in root._traverse():
        component_id = getattr(component, "id", None)
        if isinstance(component_id, str) and component_id in by_id:
            component.value = by_id[component_id]


def link_banner(problems: list[str], lang: str):
    """What a studio link could not open, each parameter in its own line (None when all was found)."""
    if not problems:
        return None
    return html.Div([html.Strong(t("studio.link.title", lang)), html.Ul([html.Li(problem) for problem in problems])],
                    className="studio-link-banner", role="alert")


def studio_layout(lang: str, *, area_choices: list[dict], layer_names: list[str], levels: list[dict], opened=None) -> html.Div:
    """The page; ``opened`` (``app.studio.links.Opened``) is what the page's link opened, if anything."""
    toolbar = html.Div([
        html.Div([html.H2(id="studio-heading", className="studio-heading"), html.Div(id="studio-state", className="studio-state")], className="studio-title"),
        dcc.Input(id="studio-comment", type="text", placeholder=t("studio.comment", lang), className="studio-input studio-comment", maxLength=200),
        _button("studio-save", t("studio.action.save", lang)),
        _button("studio-publish", t("studio.action.publish", lang), quiet=False),
        dcc.Input(id="studio-dup-id", type="text", placeholder=t("studio.new.id_hint", lang), className="studio-input studio-dup-id", autoComplete="off"),
        _button("studio-dup", t("studio.action.duplicate", lang)),
        dcc.ConfirmDialogProvider(_button("studio-delete-button", t("studio.action.delete", lang)), id="studio-delete", message=""),
    ], className="studio-toolbar")
    editor = html.Div([
        html.P(t("studio.none", lang), className="studio-empty"),
        html.Div([
            toolbar,
            html.Div(id="studio-status", className="studio-status", role="status"),
            html.Div(id="studio-problem-list", className="studio-problems"),
            html.Div([
                html.Div([wall_form(lang, area_choices), scene_form(lang), panel_form(lang, layer_names, levels), briefing_form(lang, area_choices)],
                         className="studio-forms"),
                html.Div([html.H2(t("studio.section.preview", lang), className="studio-h2"), dcc.Loading(html.Div(id="studio-preview"), delay_show=400, overlay_style={"visibility": "visible", "opacity": 0.6})],
                         className="studio-preview studio-card"),
            ], className="studio-columns"),
            html.Section([html.H2(t("studio.section.history", lang), className="studio-h2"),
                          html.P(t("studio.history.rollback_note", lang), className="studio-hint"),
                          html.Div(id="studio-history"), html.Div(id="studio-diff", className="studio-diff")], className="studio-card"),
            html.Details([html.Summary(t("studio.section.yaml", lang)), html.Pre(id="studio-yaml", className="studio-yaml")], className="studio-card"),
        ], className="studio-work"),
    ], id="studio-editor", className="studio-editor is-empty")
    draft = opened.draft if opened is not None else None
    sel = dict(opened.sel) if opened is not None and draft is not None else dict(EMPTY_SELECTION)
    if draft is not None:
        fill(editor, forms.form_values(draft, sel))
    return html.Div([
        dcc.Store(id="studio-draft", data=draft),
        dcc.Store(id="studio-sel", data=sel),
        dcc.Store(id="studio-refresh", data=0),
        dcc.Store(id="studio-problems", data=[]),
        dcc.Store(id="studio-lang", data=lang),
        dcc.Store(id="studio-url", data=None),  # the link parameters of what is selected (render_draft); the address bar follows
        dcc.Store(id="studio-focus", data=bool(opened is not None and opened.focus)),  # scroll the linked item into view once
        html.Div(id="studio-url-sync", hidden=True),
        html.Header([html.H1(t("studio.title", lang)), html.P(t("studio.subtitle", lang), className="muted")], className="studio-header"),
        html.Div(link_banner(opened.problems if opened is not None else [], lang), id="studio-link-problems"),
        html.Div([
            html.Aside([html.Div(id="studio-list"), new_form(lang)], className="studio-side"),
            editor,
        ], className="studio-layout"),
    ], id="studio-page", className="studio")
