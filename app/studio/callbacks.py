"""The studio's Dash callbacks: thin — checks of what the browser sent, then ``forms`` (pure
edits), ``specs`` (database and audit), ``preview`` and ``layout``.

Every output id starts with ``studio-``: the access table (``app.security.access``) lets only
callers with ``edit_specs`` run them, whatever the browser shows. The stores come back from the
browser, so each callback checks their shape first (``check_draft`` …) and answers 400 otherwise.
"""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, html, no_update

from app.i18n import LANGUAGES, t
from app.security.callbacks import ANY_JSON, BOOL, BadInput, Enum, Int, ListOf, MapOf, Opt, Record, Text, check
from app.studio import forms
from app.studio.forms import FIELDS, KINDS, error_id, field_id
from queries.specs.model import ID_PATTERN

ID_TEXT = Text(64, ID_PATTERN.strip("^$"))
DRAFT = Opt(Record.of(kind=Enum(KINDS), id=ID_TEXT, body=MapOf(ANY_JSON, 64), base=Opt(Int(1)), source=Opt(Enum(("database", "file", "new"))),
                      dirty=Opt(BOOL)))
SELECTION = Opt(Record.of(scene=Opt(Int(0, 1000)), panel=Opt(Int(0, 5000)), section=Opt(Int(0, 1000))))
PROBLEMS = Opt(ListOf(Record.of(path=Text(512), message=Text(2048)), 2000))
LANG = Enum(LANGUAGES)
MAX_SPEC_BYTES = 2_000_000


def check_draft(draft) -> dict | None:
    check(draft, DRAFT, "studio-draft.data")
    if draft is not None:
        body = draft["body"]
        if body.get("kind") != draft["kind"] or body.get("id") != draft["id"]:
            raise BadInput("studio-draft.data.body", "kind and id must be the draft's")
        import json

        if len(json.dumps(body, ensure_ascii=False)) > MAX_SPEC_BYTES:
            raise BadInput("studio-draft.data.body", f"a spec is at most {MAX_SPEC_BYTES} bytes")
    return draft


def check_selection(sel) -> dict:
    check(sel, SELECTION, "studio-sel.data")
    return dict(sel or {})


def check_lang(lang) -> str:
    return check(lang, LANG, "studio-lang.data")


def check_new_id(value) -> str | None:
    """A spec id typed by a person: None when it is not one (the status line says why)."""
    value = (value or "").strip() if isinstance(value, str) else None
    return value if value and forms.SPEC_ID.fullmatch(value) else None


# Field values as the browser sends them.
FIELD_SHAPES = {name: Opt(Text(200)) for name in FIELDS}
FIELD_SHAPES.update({name: Opt(ANY_JSON) for name in ("w_width", "w_height", "w_columns", "w_rows", "w_gap", "s_dwell", "p_top", "p_warn", "p_alarm",
                                                      "p_refresh", "p_col", "p_row", "p_col_span", "p_row_span", *forms.SECTION_NUMBERS)})
FIELD_SHAPES.update(p_layers=Opt(ListOf(Text(64), 50)), x_indicators=Opt(ListOf(Text(64), 50)), x_severities=Opt(ListOf(Int(1, 4), 4)))


def check_field(name: str, value):
    check(value, FIELD_SHAPES[name], f"{field_id(name)}.value")
    if isinstance(value, bool) or (value is not None and name in FIELD_SHAPES and FIELD_SHAPES[name].shape == ANY_JSON
                                   and not isinstance(value, (int, float))):
        raise BadInput(f"{field_id(name)}.value", "must be a number")
    return value


def _pressed(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# --- editing: the one callback that changes the draft in the browser ---------------------------------


BUTTONS = ("studio-new", "studio-dup", "studio-add-scene", "studio-add-emergency", "studio-dup-scene", "studio-del-scene", "studio-add-panel",
           "studio-dup-panel", "studio-del-panel", "studio-add-section", "studio-del-section")
ITEMS = ("studio-open", "studio-scene", "studio-panel", "studio-section", "studio-pick", "studio-goto")
REFILL_ON = {"p_type", "p_measure", "x_type"}  # field changes that change other fields of the form


def edit(*args):
    *_, new_kind, new_id, dup_id, draft, sel, problems, lang = args
    draft, sel, lang = check_draft(draft), check_selection(sel), check_lang(lang)
    check(problems, PROBLEMS, "studio-problems.data")
    check(new_kind, Opt(Enum(KINDS)), "studio-new-kind.value")
    trigger = ctx.triggered_id
    if trigger is None:
        raise dash.exceptions.PreventUpdate
    value = ctx.triggered[0]["value"] if ctx.triggered else None
    result = step(trigger, value, draft=draft, sel=sel, problems=problems or [], lang=lang, new_kind=new_kind, new_id=new_id, dup_id=dup_id)
    if result is None:
        raise dash.exceptions.PreventUpdate
    new_draft, new_sel, refill, status = result
    new_sel = forms.normal_selection((new_draft or {}).get("body"), new_sel)
    if refill:
        values = forms.form_values(new_draft, new_sel)
        field_values = [values[name] for name in FIELDS]
        level = forms.level_of(values.get("p_area")) or ""
    else:
        field_values = [no_update] * len(FIELDS)
        level = no_update
    return (new_draft if new_draft is not draft else no_update, new_sel, *field_values, level, status)


def step(trigger, value, *, draft, sel, problems, lang, new_kind=None, new_id=None, dup_id=None):
    """One edit: ``(draft, selection, refill the form?, status)`` or None for nothing to do.

    ``trigger`` is the id of what changed: a button, a list item (pattern id), a form field."""
    from app.studio import specs

    if isinstance(trigger, dict):
        if not _pressed(value):
            return None
        kind = trigger.get("type")
        if kind == "studio-open":
            spec_kind, spec_id = trigger.get("kind"), trigger.get("id")
            if spec_kind not in KINDS or not isinstance(spec_id, str) or not forms.SPEC_ID.fullmatch(spec_id):
                raise BadInput("studio-open.id", "not a spec of the studio")
            opened = specs.open_for_edit(spec_kind, spec_id)
            if opened is None:
                return None
            return opened, {"scene": 0, "panel": None, "section": None}, True, ""
        index = trigger.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise BadInput(f"{kind}.index", "must be a non-negative integer")
        if draft is None:
            return None
        if kind == "studio-scene":
            return draft, {"scene": index, "panel": None}, True, no_update
        if kind in ("studio-panel", "studio-pick"):
            return draft, {"scene": sel.get("scene") or 0, "panel": index}, True, no_update
        if kind == "studio-section":
            return draft, {"section": index}, True, no_update
        if kind == "studio-goto":
            if index >= len(problems):
                return None
            place = forms.place_of(problems[index]["path"], draft["body"])
            return draft, place or sel, True, no_update
        return None
    if trigger in BUTTONS:
        if not _pressed(value):
            return None
        return _button(trigger, draft, sel, lang, new_kind=new_kind, new_id=new_id, dup_id=dup_id)
    name = next((n for n in FIELDS if field_id(n) == trigger), None)
    if name is None or draft is None:
        return None
    check_field(name, value)
    changed = forms.apply_field(draft, sel, name, value)
    if changed["body"] == draft["body"]:
        return None
    return changed, sel, name in REFILL_ON, ""


def _button(trigger, draft, sel, lang, *, new_kind, new_id, dup_id):
    from app.studio import specs

    if trigger in ("studio-new", "studio-dup"):
        spec_id = check_new_id(new_id if trigger == "studio-new" else dup_id)
        kind = new_kind if trigger == "studio-new" else (draft or {}).get("kind")
        if kind not in KINDS:
            return None
        if spec_id is None:
            return draft, sel, False, html.Span(t("studio.status.bad_id", lang), className="is-bad")
        if specs.taken(kind, spec_id):
            return draft, sel, False, html.Span(t("studio.status.exists", lang, id=spec_id), className="is-bad")
        body = forms.new_spec(kind, spec_id) if trigger == "studio-new" else forms.duplicate(draft["body"], spec_id)
        status = t("studio.status.created" if trigger == "studio-new" else "studio.status.duplicated", lang, id=spec_id)
        return {"kind": kind, "id": spec_id, "body": body, "base": None, "source": "new", "dirty": True}, {"scene": 0, "panel": None}, True, status
    if draft is None:
        return None
    body = draft["body"]
    operations = {
        "studio-add-scene": forms.add_scene, "studio-add-emergency": lambda b, s: forms.add_scene(b, s, emergency=True),
        "studio-dup-scene": forms.duplicate_scene, "studio-del-scene": forms.delete_scene, "studio-add-panel": forms.add_panel,
        "studio-dup-panel": forms.duplicate_panel, "studio-del-panel": forms.delete_panel, "studio-add-section": forms.add_section,
        "studio-del-section": forms.delete_section,
    }
    wall_only = trigger not in ("studio-add-section", "studio-del-section")
    if (body.get("kind") == "wall") != wall_only:
        return None
    new_body, new_sel = operations[trigger](body, sel)
    if new_body == body and new_sel == sel:
        return None
    return {**draft, "body": new_body, "dirty": True}, new_sel, True, ""


# --- what the draft looks like: lists, heading, classes, YAML ---------------------------------------


SECTION_FORM = "studio-grid studio-section-form"


def render_draft(draft, sel, _refresh, lang):
    from app.studio import specs
    from app.studio.links import link_params
    from queries.specs.store import to_yaml

    draft, sel, lang = check_draft(draft), check_selection(sel), check_lang(lang)
    if draft is None:
        return [], [], [], "", "", "studio-editor is-empty", "studio-card studio-panel-form", SECTION_FORM, "", "", {}
    body = draft["body"]
    sel = forms.normal_selection(body, sel)
    scenes, panels, sections = [], [], []
    if body.get("kind") == "wall":
        for index, scene in enumerate(forms.scenes_of(body)):
            emergency = forms.is_emergency(body, index)
            label = f"{scene.get('id') or '?'}" + (f" · {t('studio.emergency', lang)}" if emergency else "")
            scenes.append(html.Li(html.Button(label, id={"type": "studio-scene", "index": index}, n_clicks=0, type="button",
                                              className="studio-tab" + (" is-active" if index == sel["scene"] else "") + (" is-emergency" if emergency else ""),
                                              **{"data-scene": str(scene.get("id") or "")})))
        scene = forms.current_scene(body, sel) or {}
        for index, panel in enumerate(p for p in (scene.get("panels") or []) if isinstance(p, dict)):
            kind = panel.get("type")
            label = [html.Span(str(panel.get("id") or "?"), className="studio-chip-id"),
                     html.Span(t(f"wall.panel.{kind}", lang) if kind in forms.PANEL_TYPES else str(kind), className="studio-chip-type")]
            panels.append(html.Li(html.Button(label, id={"type": "studio-panel", "index": index}, n_clicks=0, type="button",
                                              className="studio-chip" + (" is-active" if index == sel["panel"] else ""),
                                              **{"data-panel": str(panel.get("id") or "")})))
    else:
        for index, section in enumerate(s for s in (body.get("sections") or []) if isinstance(s, dict)):
            kind = section.get("type")
            label = t(f"briefing.section.{kind}", lang) if kind in forms.BRIEFING_SECTION_TYPES else str(kind)
            sections.append(html.Li(html.Button(label, id={"type": "studio-section", "index": index}, n_clicks=0, type="button",
                                                className="studio-chip" + (" is-active" if index == sel["section"] else ""),
                                                **{"data-section": str(kind)})))
    history = []
    if draft.get("source") != "new":
        try:
            history = specs.history(draft["kind"], draft["id"])
        except Exception:  # noqa: BLE001 - the heading still shows
            history = []
    published = next((v.version for v in history if v.published), None)
    state = []
    if draft.get("source") == "file" and not history:
        state.append(html.Span(t("studio.state.shipped", lang), className="studio-badge"))
    state.append(html.Span(t("studio.state.published", lang, version=published), className="studio-badge is-live") if published
                 else html.Span(t("studio.state.unpublished", lang), className="studio-badge"))
    if history and history[0].version != published:
        state.append(html.Span(t("studio.state.draft", lang, version=history[0].version), className="studio-badge is-draft"))
    if draft.get("dirty"):
        state.append(html.Span(t("studio.state.unsaved", lang), className="studio-badge is-unsaved"))
    title = body.get("title")
    title = (title.get("en") or title.get("zh")) if lang == "en" and isinstance(title, dict) else title.get("zh") if isinstance(title, dict) else title
    heading = [html.Span(t(f"studio.kind.{draft['kind']}", lang), className="studio-heading-kind"), f" {title or ''} ",
               html.Code(draft["id"], className="studio-heading-id")]
    editor_class = f"studio-editor is-{draft['kind']}" + (" has-panel" if sel.get("panel") is not None else "") + (
        " has-section" if sel.get("section") is not None else "")
    panel = forms.current_panel(body, sel) if body.get("kind") == "wall" else None
    panel_class = "studio-card studio-panel-form" + (f" is-{panel.get('type')}" if panel else "")
    section = forms.current_section(body, sel) if body.get("kind") == "briefing" else None
    section_class = SECTION_FORM + (f" is-{section.get('type')}" if section and section.get("type") in forms.BRIEFING_SECTION_TYPES else "")
    return (scenes, panels, sections, heading, state, editor_class, panel_class, section_class, t("studio.action.delete_confirm", lang, id=draft["id"]),
            to_yaml(body), link_params(draft, sel))


def render_list(_refresh, draft, lang):
    from app.studio import specs

    draft, lang = check_draft(draft), check_lang(lang)
    groups = []
    for kind, heading in (("wall", "studio.list.walls"), ("briefing", "studio.list.briefings")):
        items = []
        for entry in specs.entries(kind):
            title = entry.title or {}
            name = (title.get("en") or title.get("zh")) if lang == "en" else title.get("zh")
            badges = [html.Span(t("studio.state.published", lang, version=entry.published), className="studio-badge is-live") if entry.published
                      else html.Span(t("studio.state.shipped", lang) if entry.shipped and entry.latest is None else t("studio.state.unpublished", lang),
                                     className="studio-badge")]
            if entry.has_draft:
                badges.append(html.Span(t("studio.state.draft", lang, version=entry.latest), className="studio-badge is-draft"))
            active = draft is not None and draft["kind"] == kind and draft["id"] == entry.spec_id
            items.append(html.Li(html.Button([html.Span(name or entry.spec_id, className="studio-list-name"), html.Code(entry.spec_id),
                                              html.Span(badges, className="studio-list-badges")],
                                             id={"type": "studio-open", "kind": kind, "id": entry.spec_id}, n_clicks=0, type="button",
                                             className="studio-list-item" + (" is-active" if active else ""), **{"data-spec": f"{kind}/{entry.spec_id}"})))
        if draft is not None and draft.get("source") == "new" and draft["kind"] == kind:
            items.append(html.Li(html.Div([html.Span(draft["id"], className="studio-list-name"),
                                           html.Span(html.Span(t("studio.state.unsaved", lang), className="studio-badge is-unsaved"),
                                                     className="studio-list-badges")], className="studio-list-item is-active")))
        groups.append(html.Section([html.H2(t(heading, lang), className="studio-h2"),
                                    html.Ol(items, className="studio-list") if items else html.P(t("studio.list.empty", lang), className="muted")]))
    return groups


# --- validation in place -----------------------------------------------------------------------------


def validate_draft(draft, sel, lang):
    from app.studio import specs

    draft, sel, lang = check_draft(draft), check_selection(sel), check_lang(lang)
    if draft is None:
        return (*[[] for _ in forms.ERROR_SLOTS], [], [])
    body = draft["body"]
    sel = forms.normal_selection(body, sel)
    errors = specs.validate(body)
    by_field = forms.field_errors(errors, body, sel)
    slots = [[html.Span(message) for message in by_field.get(name, [])] for name in forms.ERROR_SLOTS]
    if not errors:
        listing = html.P(t("studio.problems.none", lang), className="studio-ok")
    else:
        listing = html.Div([
            html.H2(t("studio.section.problems", lang), className="studio-h2"),
            html.Ol([html.Li(html.Button([html.Span(where(error.path, body, lang), className="studio-problem-where"), html.Span(error.message)],
                                         id={"type": "studio-goto", "index": index}, n_clicks=0, type="button", className="studio-problem",
                                         **{"data-path": error.path}))
                     for index, error in enumerate(errors)]),
        ], className="studio-problems-box", role="alert")
    return (*slots, listing, [{"path": e.path, "message": e.message} for e in errors])


def where(path: str, body: dict, lang: str) -> str:
    """A person's words for an error's place: 场景 overview › 面板 aqi."""
    place = forms.place_of(path, body)
    if "section" in place:
        return f"{t('studio.where.briefing', lang)} › {t('studio.where.section', lang, n=place['section'] + 1)}"
    if not place:
        return t("studio.where.wall" if body.get("kind") == "wall" else "studio.where.briefing", lang)
    scenes = forms.scenes_of(body)
    scene = scenes[place["scene"]] if place["scene"] < len(scenes) else {}
    parts = [t("studio.where.scene", lang, id=scene.get("id") or place["scene"] + 1)]
    if place.get("panel") is not None:
        panels = scene.get("panels") or []
        panel = panels[place["panel"]] if place["panel"] < len(panels) and isinstance(panels[place["panel"]], dict) else {}
        parts.append(t("studio.where.panel", lang, id=panel.get("id") or place["panel"] + 1))
    return " › ".join(parts)


# --- options that depend on a search or another field -----------------------------------------------


def panel_indicator_options(query, value, lang):
    from app.studio.indicators import indicator_choices, options

    check(query, Opt(Text(100)), "studio-f-p-ind-q.value")
    check(value, Opt(Text(64)), f"{field_id('p_indicator')}.value")
    return options(indicator_choices(), query, check_lang(lang), keep=[value] if value else [])


def section_indicator_options(query, value, lang):
    from app.studio.indicators import indicator_choices, options

    check(query, Opt(Text(100)), "studio-f-x-ind-q.value")
    check(value, Opt(ListOf(Text(64), 50)), f"{field_id('x_indicators')}.value")
    return options(indicator_choices(), query, check_lang(lang), keep=list(value or []))


def panel_area_options(level, value, lang):
    from app.studio import specs
    from app.studio.layout import area_options

    lang = check_lang(lang)
    check(level, Opt(Text(16)), "studio-f-p-level.value")
    check(value, Opt(Text(15)), f"{field_id('p_area')}.value")
    areas = specs.areas_at(level or None)
    if value and value not in {a["code"] for a in areas}:
        areas = [{"code": value, "name": value, "name_en": None}] + areas
    return area_options(areas, lang, default_label=t("studio.f.area_default", lang))


def window_options(panel_type, lang):
    lang = check_lang(lang)
    check(panel_type, Opt(Text(32)), f"{field_id('p_type')}.value")
    return [{"label": t(f"studio.window.{w}", lang), "value": w} for w in forms.WINDOWS.get(panel_type, ())]


# --- preview -----------------------------------------------------------------------------------------


def render_preview(draft, sel, lang):
    from app.studio.preview import briefing_preview, scene_preview

    draft, sel, lang = check_draft(draft), check_selection(sel), check_lang(lang)
    if draft is None:
        return []
    body = draft["body"]
    sel = forms.normal_selection(body, sel)
    if body.get("kind") == "briefing":
        return briefing_preview(body, lang)
    return scene_preview(body, sel["scene"], sel.get("panel"), lang)


# --- writes: save, publish, versions, delete -------------------------------------------------------------


def _failed(exc: Exception, lang: str) -> html.Span:
    from queries.specs.store import SpecInvalid

    if isinstance(exc, SpecInvalid):
        return html.Span(t("studio.status.invalid", lang, count=len(exc.errors)), className="is-bad")
    return html.Span(t("studio.status.failed", lang, message=str(exc)[:300]), className="is-bad")


def save(_save, _publish, draft, comment, refresh, lang):
    from app.studio import specs
    from queries.specs.store import SpecInvalid, UnknownVersion

    draft, lang = check_draft(draft), check_lang(lang)
    check(comment, Opt(Text(200)), "studio-comment.value")
    check(refresh, Opt(Int(0)), "studio-refresh.data")
    if draft is None or not _pressed(ctx.triggered[0]["value"] if ctx.triggered else None):
        raise dash.exceptions.PreventUpdate
    publish = ctx.triggered_id == "studio-publish"
    try:
        saved = specs.save(draft, (comment or "").strip() or None, publish=publish)
    except (SpecInvalid, UnknownVersion) as exc:
        return no_update, _failed(exc, lang), no_update
    if publish:
        status = html.Span(t("studio.status.published", lang, version=saved.version), className="is-good")
    elif saved.new:
        status = html.Span(t("studio.status.saved", lang, version=saved.version), className="is-good")
    else:
        status = html.Span(t("studio.status.unchanged", lang, version=saved.version))
    return {**draft, "base": saved.version, "source": "database", "dirty": False}, status, (refresh or 0) + 1


VERSION_ACTIONS = ("diff_previous", "diff_live", "rollback", "publish", "load")


def render_history(draft, _refresh, lang):
    from app.command.panels import local_time
    from app.studio import specs

    draft, lang = check_draft(draft), check_lang(lang)
    if draft is None:
        return []
    versions = specs.history(draft["kind"], draft["id"]) if draft.get("source") != "new" else []
    if not versions:
        return html.P(t("studio.history.empty", lang), className="muted")
    has_live = any(v.published for v in versions)
    head = html.Thead(html.Tr([html.Th(t(f"studio.history.{c}", lang)) for c in ("version", "author", "time", "comment")] + [html.Th("")]))
    rows = []
    for v in versions:
        actions = [("diff_previous", True), ("diff_live", has_live and not v.published), ("load", True), ("publish", not v.published),
                   ("rollback", v.version != versions[0].version)]
        buttons = [html.Button(t(f"studio.history.{a}", lang), n_clicks=0, type="button", className="studio-button studio-button--small",
                               id={"type": "studio-ver", "action": a, "version": v.version}) for a, shown in actions if shown]
        rows.append(html.Tr([
            html.Td([f"v{v.version}", html.Span(t("studio.history.live", lang), className="studio-badge is-live") if v.published else None]),
            html.Td(v.author or "—"), html.Td(local_time(v.created_at, lang)), html.Td(v.comment or ""), html.Td(buttons, className="studio-ver-actions"),
        ], className="is-live" if v.published else None, **{"data-version": str(v.version)}))
    return html.Table([head, html.Tbody(rows)], className="studio-table")


def version_action(_clicks, draft, refresh, lang):
    from app.studio import specs
    from queries.specs.store import SpecInvalid, UnknownVersion

    draft, lang = check_draft(draft), check_lang(lang)
    check(refresh, Opt(Int(0)), "studio-refresh.data")
    trigger = ctx.triggered_id
    if draft is None or not isinstance(trigger, dict) or not _pressed(ctx.triggered[0]["value"]):
        raise dash.exceptions.PreventUpdate
    action, version = trigger.get("action"), trigger.get("version")
    check(action, Enum(VERSION_ACTIONS), "studio-ver.action")
    check(version, Int(1, 2**31), "studio-ver.version")
    kind, spec_id = draft["kind"], draft["id"]
    bump = (refresh or 0) + 1
    try:
        if action in ("diff_previous", "diff_live"):
            lines = specs.diff(kind, spec_id, version, "previous" if action == "diff_previous" else "published")
            return render_diff(lines, lang), no_update, no_update, no_update, no_update
        if action == "load":
            loaded = specs.open_version(kind, spec_id, version)
            return no_update, t("studio.status.loaded", lang, version=version), no_update, loaded, {"scene": 0, "panel": None, "section": None}
        if action == "publish":
            specs.publish_version(kind, spec_id, version)
            return no_update, html.Span(t("studio.status.version_published", lang, version=version), className="is-good"), bump, no_update, no_update
        result = specs.rollback(kind, spec_id, version)
    except (SpecInvalid, UnknownVersion) as exc:
        return no_update, _failed(exc, lang), no_update, no_update, no_update
    opened = specs.open_for_edit(kind, spec_id)
    key = "studio.status.rollback_published" if result.published else "studio.status.rollback_draft"
    return [], html.Span(t(key, lang, old=version, version=result.version), className="is-good"), bump, opened, {"scene": 0, "panel": None, "section": None}


def render_diff(lines: list[str], lang: str):
    """A unified diff with added and removed lines coloured (classes), headers and hunks marked."""
    if not lines:
        return html.P(t("studio.diff.same", lang), className="muted")
    title = t("studio.diff.title", lang, old=lines[0].removeprefix("--- "), new=lines[1].removeprefix("+++ "))
    rendered = []
    for line in lines[2:]:
        kind = "hunk" if line.startswith("@@") else "add" if line.startswith("+") else "del" if line.startswith("-") else "same"
        rendered.append(html.Span(line + "\n", className=f"studio-diff-line is-{kind}"))
    return html.Div([html.H3(title, className="studio-h3"), html.Pre(rendered, className="studio-diff-body")])


def delete(submitted, draft, refresh, lang):
    from app.studio import specs

    draft, lang = check_draft(draft), check_lang(lang)
    check(refresh, Opt(Int(0)), "studio-refresh.data")
    if draft is None or not _pressed(submitted):
        raise dash.exceptions.PreventUpdate
    if draft.get("source") == "new":
        return None, t("studio.status.deleted", lang, id=draft["id"]), (refresh or 0) + 1
    if not specs.delete(draft["kind"], draft["id"]):
        return no_update, html.Span(t("studio.status.shipped_delete", lang), className="is-bad"), no_update
    return None, html.Span(t("studio.status.deleted", lang, id=draft["id"]), className="is-good"), (refresh or 0) + 1


def register() -> None:
    """Register the studio's callbacks with the app being built. Called by the page module, which Dash
    executes for every app it creates (so each app of a process gets them, not only the first)."""
    callback(
        Output("studio-draft", "data"),
        Output("studio-sel", "data"),
        *[Output(field_id(name), "value") for name in FIELDS],
        Output("studio-f-p-level", "value"),
        Output("studio-status", "children"),
        *[Input(button, "n_clicks") for button in BUTTONS],
        Input({"type": "studio-open", "kind": ALL, "id": ALL}, "n_clicks"),
        Input({"type": "studio-scene", "index": ALL}, "n_clicks"),
        Input({"type": "studio-panel", "index": ALL}, "n_clicks"),
        Input({"type": "studio-section", "index": ALL}, "n_clicks"),
        Input({"type": "studio-pick", "index": ALL}, "n_clicks"),
        Input({"type": "studio-goto", "index": ALL}, "n_clicks"),
        *[Input(field_id(name), "value") for name in FIELDS],
        State("studio-new-kind", "value"),
        State("studio-new-id", "value"),
        State("studio-dup-id", "value"),
        State("studio-draft", "data"),
        State("studio-sel", "data"),
        State("studio-problems", "data"),
        State("studio-lang", "data"),
        prevent_initial_call=True,
    )(edit)
    callback(
        Output("studio-scenes", "children"),
        Output("studio-panels", "children"),
        Output("studio-sections", "children"),
        Output("studio-heading", "children"),
        Output("studio-state", "children"),
        Output("studio-editor", "className"),
        Output("studio-panel-form", "className"),
        Output("studio-section-form", "className"),
        Output("studio-delete", "message"),
        Output("studio-yaml", "children"),
        Output("studio-url", "data"),
        Input("studio-draft", "data"),
        Input("studio-sel", "data"),
        Input("studio-refresh", "data"),
        State("studio-lang", "data"),
    )(render_draft)
    callback(
        Output("studio-list", "children"),
        Input("studio-refresh", "data"),
        Input("studio-draft", "data"),
        State("studio-lang", "data"),
    )(render_list)
    callback(
        *[Output(error_id(name), "children") for name in forms.ERROR_SLOTS],
        Output("studio-problem-list", "children"),
        Output("studio-problems", "data"),
        Input("studio-draft", "data"),
        Input("studio-sel", "data"),
        State("studio-lang", "data"),
    )(validate_draft)
    callback(
        Output(field_id("p_indicator"), "options"),
        Input("studio-f-p-ind-q", "value"),
        Input(field_id("p_indicator"), "value"),
        State("studio-lang", "data"),
    )(panel_indicator_options)
    callback(
        Output(field_id("x_indicators"), "options"),
        Input("studio-f-x-ind-q", "value"),
        Input(field_id("x_indicators"), "value"),
        State("studio-lang", "data"),
    )(section_indicator_options)
    callback(
        Output(field_id("p_area"), "options"),
        Input("studio-f-p-level", "value"),
        Input(field_id("p_area"), "value"),
        State("studio-lang", "data"),
    )(panel_area_options)
    callback(
        Output(field_id("p_window"), "options"),
        Input(field_id("p_type"), "value"),
        State("studio-lang", "data"),
    )(window_options)
    callback(
        Output("studio-preview", "children"),
        Input("studio-draft", "data"),
        Input("studio-sel", "data"),
        State("studio-lang", "data"),
    )(render_preview)
    callback(
        Output("studio-draft", "data", allow_duplicate=True),
        Output("studio-status", "children", allow_duplicate=True),
        Output("studio-refresh", "data"),
        Input("studio-save", "n_clicks"),
        Input("studio-publish", "n_clicks"),
        State("studio-draft", "data"),
        State("studio-comment", "value"),
        State("studio-refresh", "data"),
        State("studio-lang", "data"),
        prevent_initial_call=True,
    )(save)
    callback(
        Output("studio-history", "children"),
        Input("studio-draft", "data"),
        Input("studio-refresh", "data"),
        State("studio-lang", "data"),
    )(render_history)
    callback(
        Output("studio-diff", "children"),
        Output("studio-status", "children", allow_duplicate=True),
        Output("studio-refresh", "data", allow_duplicate=True),
        Output("studio-draft", "data", allow_duplicate=True),
        Output("studio-sel", "data", allow_duplicate=True),
        Input({"type": "studio-ver", "action": ALL, "version": ALL}, "n_clicks"),
        State("studio-draft", "data"),
        State("studio-refresh", "data"),
        State("studio-lang", "data"),
        prevent_initial_call=True,
    )(version_action)
    callback(
        Output("studio-draft", "data", allow_duplicate=True),
        Output("studio-status", "children", allow_duplicate=True),
        Output("studio-refresh", "data", allow_duplicate=True),
        Input("studio-delete", "submit_n_clicks"),
        State("studio-draft", "data"),
        State("studio-refresh", "data"),
        State("studio-lang", "data"),
        prevent_initial_call=True,
    )(delete)
    clientside_callback(URL_SYNC, Output("studio-url-sync", "children"), Input("studio-url", "data"))
    clientside_callback(FOCUS, Output("studio-focus", "data"), Input("studio-scenes", "children"), Input("studio-panels", "children"),
                        Input("studio-sections", "children"), State("studio-focus", "data"))


# The address bar follows the selection (``studio-url``: the link parameters of ``links.link_params``),
# replacing the current history entry: no reload, and not through dcc.Location, whose change would
# make Dash's page router rebuild the page (and drop an unsaved draft); other parameters (lang) are
# kept. The header's language links follow, so switching language keeps the place.
URL_SYNC = """
function (params) {
    if (!params || typeof params !== "object") { return window.dash_clientside.no_update; }
    var names = ["wall", "scene", "panel", "briefing", "section"];
    var current = new URLSearchParams(window.location.search);
    var next = new URLSearchParams();
    names.forEach(function (name) { if (typeof params[name] === "string") { next.set(name, params[name]); } });
    current.forEach(function (value, name) { if (names.indexOf(name) < 0) { next.append(name, value); } });
    var search = next.toString() ? "?" + next.toString() : "";
    if (window.location.search !== search) {
        window.history.replaceState(window.history.state, "", window.location.pathname + search + window.location.hash);
    }
    ["zh", "en"].forEach(function (code) {
        var withLang = new URLSearchParams(next.toString());
        withLang.set("lang", code);
        if (document.getElementById("shell-lang-" + code)) {
            window.dash_clientside.set_props("shell-lang-" + code, {href: window.location.pathname + "?" + withLang.toString()});
        }
    });
    return window.dash_clientside.no_update;
}
"""

# A link that named a scene, panel or section: once its lists are drawn, the selected one is
# scrolled into view and focused (then the flag is cleared: later clicks do not scroll).
FOCUS = """
function (scenes, _panels, sections, focus) {
    var drawn = (Array.isArray(scenes) && scenes.length) || (Array.isArray(sections) && sections.length);
    if (!focus || !drawn) { return window.dash_clientside.no_update; }
    var tries = 0;
    function show() {
        var item = document.querySelector("#studio-panels .studio-chip.is-active") || document.querySelector("#studio-sections .studio-chip.is-active")
            || document.querySelector("#studio-scenes .studio-tab.is-active");
        if (item) { item.scrollIntoView({block: "center"}); item.focus({preventScroll: true}); }
        else if (tries++ < 40) { window.setTimeout(show, 50); }
    }
    window.requestAnimationFrame(show);
    return false;
}
"""
