"""The studio's forms as pure functions on a draft spec body (a plain dict, as saved).

A form field has a name (``p_indicator``) and a component id (``studio-f-p-indicator``).
``form_values`` reads every field from the body for the current selection, ``apply_field`` writes
one field back (only the field the person changed: hidden fields never overwrite anything), and
``field_errors`` puts each validation error (its ``SpecError`` path) next to the field it concerns.

The selection is ``{"scene": i, "panel": j, "section": k}``: ``i`` indexes the carousel scenes
followed by the emergency scene (``i == len(scenes)``), ``j`` the panels of that scene, ``k`` a
briefing's sections.
"""
from __future__ import annotations

import copy
import re

from queries.specs import model as spec_model
from queries.specs.model import BRIEFING_SECTION_TYPES, ID_PATTERN, PANEL_TYPES

SPEC_ID = re.compile(ID_PATTERN)
KINDS = ("wall", "briefing")

WALL_FIELDS = ("w_title_zh", "w_title_en", "w_width", "w_height", "w_columns", "w_rows", "w_gap", "w_area")
SCENE_FIELDS = ("s_id", "s_title_zh", "s_title_en", "s_dwell")
PANEL_FIELDS = ("p_id", "p_type", "p_title_zh", "p_title_en", "p_indicator", "p_chart", "p_window", "p_measure", "p_top", "p_area",
                "p_warn", "p_alarm", "p_color_line", "p_color_warn", "p_color_alarm", "p_refresh", "p_col", "p_row", "p_col_span",
                "p_row_span", "p_layers")
BRIEFING_FIELDS = ("b_title_zh", "b_title_en", "b_area")
SECTION_FIELDS = ("x_type", "x_title_zh", "x_title_en", "x_indicators", "x_limit", "x_severities", "x_worst_stations", "x_worst_roads",
                  "x_top_topics", "x_measure")
FIELDS = WALL_FIELDS + SCENE_FIELDS + PANEL_FIELDS + BRIEFING_FIELDS + SECTION_FIELDS
ERROR_SLOTS = FIELDS + ("p_at",)  # the placement group has one slot of its own for "overlaps …"

# Fields that only some panel types have (the form shows them for those types only).
TYPE_FIELDS = {
    "map": ("layers", "follow_incident"),
    "kpi": ("indicator", "decimals", "thresholds", "colors"),
    "trend": ("indicator", "window", "chart", "thresholds", "colors"),
    "ranking": ("indicator", "source", "window", "top"),
    "ticker": ("severities", "limit"),
    "freshness": ("datasets",),
    "resources": ("per_kind",),
}
COMMON_PANEL_KEYS = ("id", "type", "title", "at", "area", "refresh")
WINDOWS = {"trend": ("24h", "7d"), "ranking": ("today", "24h", "7d")}
CHARTS = ("area", "line", "bar")
MEASURES = ("indicator", "incidents", "work_orders")
DEFAULT_LAYERS = ["basemap", "boundaries", "incidents"]

# A briefing section's options, read off its model (``queries.specs.model``): type → model, the
# option keys each type has (all but type and title), and the form field of each option key.
SECTION_MODELS = {cls.model_fields["type"].annotation.__args__[0]: cls for cls in (
    spec_model.AttentionSection, spec_model.IndicatorsSection, spec_model.IncidentsSection, spec_model.AirQualitySection,
    spec_model.TrafficSection, spec_model.HotlineSection, spec_model.GovServicesSection, spec_model.MapSection)}
SECTION_KEYS = {kind: tuple(key for key in cls.model_fields if key not in ("type", "title")) for kind, cls in SECTION_MODELS.items()}
SECTION_OPTION_FIELDS = {"indicators": "x_indicators", "limit": "x_limit", "severities": "x_severities", "worst_stations": "x_worst_stations",
                         "worst_roads": "x_worst_roads", "top_topics": "x_top_topics", "measure": "x_measure"}
SECTION_NUMBERS = ("x_limit", "x_worst_stations", "x_worst_roads", "x_top_topics")
SEVERITY_LEVELS = (1, 2, 3, 4)
MAP_MEASURES = spec_model.MapSection.model_fields["measure"].annotation.__args__


def section_types_with(key: str) -> tuple[str, ...]:
    """The section types that have option ``key`` (the form shows its field for those only)."""
    return tuple(kind for kind, keys in SECTION_KEYS.items() if key in keys)


def section_default(kind: str | None, key: str):
    """The model's default of option ``key`` for a section of type ``kind`` (None: required or not an option of it)."""
    cls = SECTION_MODELS.get(kind)
    if cls is None or key not in cls.model_fields or cls.model_fields[key].is_required():
        return None
    return copy.deepcopy(cls.model_fields[key].default)


def section_bounds(kind: str | None, key: str) -> tuple[int | None, int | None]:
    """(ge, le) of a numeric option of a section type, from its model's constraints."""
    cls = SECTION_MODELS.get(kind)
    low = high = None
    for rule in (cls.model_fields[key].metadata if cls is not None and key in cls.model_fields else ()):
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    return low, high


def _both(key: str, **values) -> dict:
    """A spec title in both languages from the catalogue (a new scene's default title)."""
    from app.i18n import t

    return {"zh": t(key, "zh", **values), "en": t(key, "en", **values)}


def field_id(name: str) -> str:
    return "studio-f-" + name.replace("_", "-")


def error_id(name: str) -> str:
    return "studio-e-" + name.replace("_", "-")


# --- new specs ----------------------------------------------------------------------------------


def new_wall(spec_id: str) -> dict:
    return {"kind": "wall", "spec_version": 1, "id": spec_id, "title": {"zh": spec_id, "en": spec_id},
            "canvas": {"width": 3840, "height": 1080}, "grid": {"columns": 24, "rows": 12, "gap": 12},
            "scenes": [{"id": "scene-1", "title": _both("studio.default.scene", n=1), "dwell": 60,
                        "panels": [{"id": "severity", "type": "incident_severity", "at": {"col": 1, "row": 1, "col_span": 6, "row_span": 4}}]}]}


def new_briefing(spec_id: str) -> dict:
    return {"kind": "briefing", "spec_version": 1, "id": spec_id, "title": {"zh": spec_id, "en": spec_id},
            "sections": [{"type": "attention"}]}


def new_spec(kind: str, spec_id: str) -> dict:
    return new_wall(spec_id) if kind == "wall" else new_briefing(spec_id)


def duplicate(body: dict, new_id: str) -> dict:
    copied = copy.deepcopy(body)
    copied["id"] = new_id
    return copied


def unique_id(taken, stem: str) -> str:
    """``stem``, else ``stem-2``, ``stem-3``… — the first not in ``taken``."""
    taken = set(taken)
    stem = re.sub(r"[^a-z0-9_-]", "-", stem.lower()).strip("-_") or "item"
    if stem not in taken:
        return stem[:64]
    number = 2
    while f"{stem}-{number}"[:64] in taken:
        number += 1
    return f"{stem}-{number}"[:64]


# --- selection ----------------------------------------------------------------------------------


def scenes_of(body: dict) -> list[dict]:
    """The carousel scenes, then the emergency scene (when there is one)."""
    scenes = [s for s in (body.get("scenes") or []) if isinstance(s, dict)]
    emergency = body.get("emergency")
    return scenes + ([emergency] if isinstance(emergency, dict) else [])


def scene_path(body: dict, index: int) -> str:
    count = len([s for s in (body.get("scenes") or []) if isinstance(s, dict)])
    return "emergency" if index >= count else f"scenes[{index}]"


def is_emergency(body: dict, index: int) -> bool:
    return scene_path(body, index) == "emergency"


def normal_selection(body: dict | None, sel: dict | None) -> dict:
    """The selection clipped to what the body holds (after a delete, a new spec…)."""
    sel = dict(sel or {})
    body = body or {}
    out = {"scene": 0, "panel": None, "section": None}
    if body.get("kind") == "wall":
        scenes = scenes_of(body)
        scene = sel.get("scene") if isinstance(sel.get("scene"), int) else 0
        scene = min(max(scene, 0), max(len(scenes) - 1, 0))
        out["scene"] = scene
        panels = (scenes[scene].get("panels") or []) if scenes else []
        panel = sel.get("panel")
        out["panel"] = min(max(panel, 0), len(panels) - 1) if isinstance(panel, int) and panels else None
    elif body.get("kind") == "briefing":
        sections = body.get("sections") or []
        section = sel.get("section")
        out["section"] = min(max(section, 0), len(sections) - 1) if isinstance(section, int) and sections else None
    return out


def current_scene(body: dict, sel: dict) -> dict | None:
    scenes = scenes_of(body)
    index = sel.get("scene") or 0
    return scenes[index] if 0 <= index < len(scenes) else None


def current_panel(body: dict, sel: dict) -> dict | None:
    scene = current_scene(body, sel)
    index = sel.get("panel")
    panels = (scene or {}).get("panels") or []
    return panels[index] if isinstance(index, int) and 0 <= index < len(panels) and isinstance(panels[index], dict) else None


def current_section(body: dict, sel: dict) -> dict | None:
    index = sel.get("section")
    sections = body.get("sections") or []
    return sections[index] if isinstance(index, int) and 0 <= index < len(sections) and isinstance(sections[index], dict) else None


# --- structure edits ------------------------------------------------------------------------------


def _grid(body: dict) -> tuple[int, int]:
    grid = body.get("grid") if isinstance(body.get("grid"), dict) else {}
    columns, rows = grid.get("columns", 24), grid.get("rows", 12)
    return (columns if isinstance(columns, int) and columns > 0 else 24, rows if isinstance(rows, int) and rows > 0 else 12)


def _taken_cells(panels: list) -> set[tuple[int, int]]:
    cells = set()
    for panel in panels:
        at = panel.get("at") if isinstance(panel, dict) else None
        if not isinstance(at, dict):
            continue
        try:
            col, row, cs, rs = int(at["col"]), int(at["row"]), int(at.get("col_span", 1)), int(at.get("row_span", 1))
        except (KeyError, TypeError, ValueError):
            continue
        cells.update((c, r) for c in range(col, col + cs) for r in range(row, row + rs))
    return cells


def free_spot(body: dict, panels: list) -> dict:
    """The first place (row by row) where a panel of a quarter of the grid's width and a third of
    its height fits without overlapping; smaller sizes if none; the top-left cell as a last resort
    (validation then says it overlaps)."""
    columns, rows = _grid(body)
    taken = _taken_cells(panels)
    for width, height in ((max(1, columns // 4), max(1, rows // 3)), (max(1, columns // 6), max(1, rows // 4)), (1, 1)):
        for row in range(1, rows - height + 2):
            for col in range(1, columns - width + 2):
                cells = {(c, r) for c in range(col, col + width) for r in range(row, row + height)}
                if not cells & taken:
                    return {"col": col, "row": row, "col_span": width, "row_span": height}
    return {"col": 1, "row": 1, "col_span": 1, "row_span": 1}


def new_panel(body: dict, panels: list, panel_type: str = "kpi") -> dict:
    panel = {"id": unique_id((p.get("id") for p in panels if isinstance(p, dict)), panel_type.replace("_", "-")), "type": panel_type,
             "at": free_spot(body, panels)}
    return convert_panel(panel, panel_type)


def convert_panel(panel: dict, panel_type: str) -> dict:
    """The panel as another type: common fields kept, the new type's own fields kept where they
    apply, required ones given a starting value (an empty indicator is flagged by validation)."""
    allowed = set(COMMON_PANEL_KEYS) | set(TYPE_FIELDS.get(panel_type, ()))
    out = {key: value for key, value in panel.items() if key in allowed}
    out["type"] = panel_type
    if "window" in out and out["window"] not in WINDOWS.get(panel_type, ()):
        del out["window"]
    if panel_type in ("kpi", "trend"):
        out.setdefault("indicator", "")
    if panel_type == "ranking" and not out.get("indicator"):
        out.pop("indicator", None)
        out.setdefault("source", "incidents")
    if panel_type == "ranking" and out.get("indicator"):
        out.pop("source", None)
    if panel_type == "map":
        out.setdefault("layers", list(DEFAULT_LAYERS))
    return out


def add_scene(body: dict, sel: dict, *, emergency: bool = False) -> tuple[dict, dict]:
    body = copy.deepcopy(body)
    ids = [s.get("id") for s in scenes_of(body)]
    if emergency:
        if isinstance(body.get("emergency"), dict):
            return body, sel
        scene_id = unique_id(ids, "emergency")
        body["emergency"] = {"id": scene_id, "title": _both("studio.default.emergency"), "panels": [
            {"id": "incident", "type": "incident_card", "at": {"col": 1, "row": 1, "col_span": max(1, _grid(body)[0] // 3), "row_span": _grid(body)[1]}}]}
        return body, {"scene": len(scenes_of(body)) - 1, "panel": None}
    scene_id = unique_id(ids, f"scene-{len(body.get('scenes') or []) + 1}")
    number = len(body.get("scenes") or []) + 1
    scene = {"id": scene_id, "title": _both("studio.default.scene", n=number), "dwell": 60, "panels": []}
    scene["panels"].append(new_panel(body, scene["panels"], "incident_severity"))
    body.setdefault("scenes", []).append(scene)
    return body, {"scene": len(body["scenes"]) - 1, "panel": None}


def duplicate_scene(body: dict, sel: dict) -> tuple[dict, dict]:
    scene = current_scene(body, sel)
    if scene is None or is_emergency(body, sel.get("scene") or 0):
        return body, sel
    body = copy.deepcopy(body)
    copied = copy.deepcopy(scene)
    copied["id"] = unique_id([s.get("id") for s in scenes_of(body)], f"{scene.get('id') or 'scene'}-copy")
    body["scenes"].insert((sel.get("scene") or 0) + 1, copied)
    return body, {"scene": (sel.get("scene") or 0) + 1, "panel": None}


def delete_scene(body: dict, sel: dict) -> tuple[dict, dict]:
    index = sel.get("scene") or 0
    if current_scene(body, sel) is None:
        return body, sel
    body = copy.deepcopy(body)
    if is_emergency(body, index):
        body.pop("emergency", None)
    else:
        del body["scenes"][index]
    return body, {"scene": max(0, index - 1), "panel": None}


def _scene_ref(body: dict, sel: dict) -> dict | None:
    """The selected scene inside ``body`` itself (for in-place edits of a copy)."""
    index = sel.get("scene") or 0
    if is_emergency(body, index):
        return body.get("emergency") if isinstance(body.get("emergency"), dict) else None
    scenes = body.get("scenes") or []
    return scenes[index] if 0 <= index < len(scenes) and isinstance(scenes[index], dict) else None


def add_panel(body: dict, sel: dict, panel_type: str = "kpi") -> tuple[dict, dict]:
    body = copy.deepcopy(body)
    scene = _scene_ref(body, sel)
    if scene is None:
        return body, sel
    panels = scene.setdefault("panels", [])
    panels.append(new_panel(body, panels, panel_type if panel_type in PANEL_TYPES else "kpi"))
    return body, {"scene": sel.get("scene") or 0, "panel": len(panels) - 1}


def duplicate_panel(body: dict, sel: dict) -> tuple[dict, dict]:
    panel = current_panel(body, sel)
    if panel is None:
        return body, sel
    body = copy.deepcopy(body)
    panels = _scene_ref(body, sel)["panels"]
    copied = copy.deepcopy(panel)
    copied["id"] = unique_id([p.get("id") for p in panels if isinstance(p, dict)], f"{panel.get('id') or 'panel'}-copy")
    at = copied.get("at") if isinstance(copied.get("at"), dict) else {}
    spot = free_spot(body, panels)
    copied["at"] = {"col": spot["col"], "row": spot["row"], "col_span": at.get("col_span", spot["col_span"]), "row_span": at.get("row_span", spot["row_span"])}
    panels.append(copied)
    return body, {"scene": sel.get("scene") or 0, "panel": len(panels) - 1}


def delete_panel(body: dict, sel: dict) -> tuple[dict, dict]:
    if current_panel(body, sel) is None:
        return body, sel
    body = copy.deepcopy(body)
    panels = _scene_ref(body, sel)["panels"]
    del panels[sel["panel"]]
    return body, {"scene": sel.get("scene") or 0, "panel": (sel["panel"] - 1) if panels and sel["panel"] > 0 else (0 if panels else None)}


def add_section(body: dict, sel: dict) -> tuple[dict, dict]:
    body = copy.deepcopy(body)
    sections = body.setdefault("sections", [])
    used = {s.get("type") for s in sections if isinstance(s, dict)}
    kind = next((k for k in BRIEFING_SECTION_TYPES if k not in used), "indicators")
    section = {"type": kind}
    if kind == "indicators":
        section["indicators"] = []
    sections.append(section)
    return body, {"section": len(sections) - 1}


def delete_section(body: dict, sel: dict) -> tuple[dict, dict]:
    if current_section(body, sel) is None:
        return body, sel
    body = copy.deepcopy(body)
    del body["sections"][sel["section"]]
    return body, {"section": max(0, sel["section"] - 1) if body["sections"] else None}


# --- reading the form ---------------------------------------------------------------------------


def _title(value) -> tuple[str, str]:
    if isinstance(value, str):
        return value, ""
    if isinstance(value, dict):
        return value.get("zh") or "", value.get("en") or ""
    return "", ""


def level_of(code: str | None) -> str | None:
    """An area's level from its code (GB/T 2260 and the grid code's 6/9/12/15 digits)."""
    if not code:
        return None
    if len(code) == 6:
        return "city" if code.endswith("00") else "district"
    return {9: "street", 12: "community", 15: "grid"}.get(len(code))


def form_values(draft: dict | None, sel: dict) -> dict:
    """Every field's value for the selection (None where the body has nothing)."""
    values = dict.fromkeys(FIELDS)
    body = (draft or {}).get("body") or {}
    kind = body.get("kind")
    if kind == "wall":
        values["w_title_zh"], values["w_title_en"] = _title(body.get("title"))
        canvas = body.get("canvas") if isinstance(body.get("canvas"), dict) else {}
        grid = body.get("grid") if isinstance(body.get("grid"), dict) else {}
        values.update(w_width=canvas.get("width"), w_height=canvas.get("height"), w_columns=grid.get("columns"), w_rows=grid.get("rows"),
                      w_gap=grid.get("gap"), w_area=body.get("area") or "")
        scene = current_scene(body, sel)
        if scene is not None:
            values["s_title_zh"], values["s_title_en"] = _title(scene.get("title"))
            values.update(s_id=scene.get("id"), s_dwell=scene.get("dwell"))
        panel = current_panel(body, sel)
        if panel is not None:
            values.update(_panel_values(panel))
    elif kind == "briefing":
        values["b_title_zh"], values["b_title_en"] = _title(body.get("title"))
        values["b_area"] = body.get("area") or ""
        section = current_section(body, sel)
        if section is not None:
            values["x_title_zh"], values["x_title_en"] = _title(section.get("title"))
            values["x_type"] = section.get("type")
            values.update(_section_values(section))
    return values


def _section_values(section: dict) -> dict:
    """The option fields of a section: numbers empty when absent (the field's placeholder shows the
    model's default), lists and choices as the section has them, else the model's default."""
    kind = section.get("type")
    values = {}
    for key, name in SECTION_OPTION_FIELDS.items():
        if key not in SECTION_KEYS.get(kind, ()):
            values[name] = [] if name in ("x_indicators", "x_severities") else None
        elif name in SECTION_NUMBERS:
            values[name] = section.get(key)
        else:
            value = section.get(key, section_default(kind, key))
            values[name] = list(value or []) if name in ("x_indicators", "x_severities") else value
    return values


def _panel_values(panel: dict) -> dict:
    at = panel.get("at") if isinstance(panel.get("at"), dict) else {}
    thresholds = panel.get("thresholds") if isinstance(panel.get("thresholds"), dict) else {}
    colors = panel.get("colors") if isinstance(panel.get("colors"), dict) else {}
    zh, en = _title(panel.get("title"))
    measure = "indicator" if panel.get("indicator") else panel.get("source") if panel.get("type") == "ranking" else None
    return {
        "p_id": panel.get("id"), "p_type": panel.get("type"), "p_title_zh": zh, "p_title_en": en, "p_indicator": panel.get("indicator") or None,
        "p_chart": panel.get("chart", "area") if panel.get("type") == "trend" else None,
        "p_window": panel.get("window", {"trend": "24h", "ranking": "today"}.get(panel.get("type"))),
        "p_measure": measure, "p_top": panel.get("top"), "p_area": panel.get("area") or "",
        "p_warn": thresholds.get("warn"), "p_alarm": thresholds.get("alarm"),
        "p_color_line": colors.get("line") or "", "p_color_warn": colors.get("warn") or "", "p_color_alarm": colors.get("alarm") or "",
        "p_refresh": panel.get("refresh"), "p_col": at.get("col"), "p_row": at.get("row"), "p_col_span": at.get("col_span", 1),
        "p_row_span": at.get("row_span", 1), "p_layers": list(panel.get("layers") or []) if panel.get("type") == "map" else [],
    }


# --- writing one field ----------------------------------------------------------------------------


def _set_title(target: dict, zh: str | None, en: str | None, *, required: bool) -> None:
    zh, en = (zh or "").strip(), (en or "").strip()
    if not zh and not en and not required:
        target.pop("title", None)
        return
    target["title"] = {"zh": zh, **({"en": en} if en else {})}


def _set_or_drop(target: dict, key: str, value) -> None:
    if value is None or value == "" or value == []:
        target.pop(key, None)
    else:
        target[key] = value


def _number(value):
    """A form number as the spec wants it: an int when whole (grid sizes, seconds), else a float."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def apply_field(draft: dict, sel: dict, name: str, value) -> dict:
    """The draft with field ``name`` set to ``value`` (a copy; the draft is marked dirty)."""
    draft = copy.deepcopy(draft)
    body = draft["body"]
    if isinstance(value, str) and name not in ("p_title_zh", "p_title_en", "s_title_zh", "s_title_en", "w_title_zh", "w_title_en",
                                                "b_title_zh", "b_title_en", "x_title_zh", "x_title_en"):
        value = value.strip()
    value = _number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if name.startswith("w_"):
        _apply_wall(body, name, value)
    elif name.startswith("s_"):
        scene = _scene_ref(body, sel)
        if scene is None:
            return draft
        if name == "s_id":
            scene["id"] = value or ""
        elif name in ("s_title_zh", "s_title_en"):
            zh, en = _title(scene.get("title"))
            _set_title(scene, value if name == "s_title_zh" else zh, value if name == "s_title_en" else en, required=False)
        elif name == "s_dwell":
            _set_or_drop(scene, "dwell", value)
    elif name.startswith("p_"):
        scene = _scene_ref(body, sel)
        index = sel.get("panel")
        if scene is None or not isinstance(index, int) or not 0 <= index < len(scene.get("panels") or []):
            return draft
        scene["panels"][index] = _apply_panel(scene["panels"][index], name, value)
    elif name.startswith("b_"):
        if name == "b_area":
            _set_or_drop(body, "area", value)
        else:
            zh, en = _title(body.get("title"))
            _set_title(body, value if name == "b_title_zh" else zh, value if name == "b_title_en" else en, required=True)
    elif name.startswith("x_"):
        index = sel.get("section")
        sections = body.get("sections") or []
        if not isinstance(index, int) or not 0 <= index < len(sections):
            return draft
        section = sections[index]
        if name == "x_type":
            kept = {k: v for k, v in section.items() if k in ("title",) or k in SECTION_KEYS.get(value, ())}
            section = {"type": value, **kept}
            if value == "indicators":
                section.setdefault("indicators", [])
        elif name in ("x_title_zh", "x_title_en"):
            zh, en = _title(section.get("title"))
            _set_title(section, value if name == "x_title_zh" else zh, value if name == "x_title_en" else en, required=False)
        elif name in SECTION_OPTION_FIELDS.values():
            key = next(k for k, n in SECTION_OPTION_FIELDS.items() if n == name)
            if key not in SECTION_KEYS.get(section.get("type"), ()):
                return draft  # not an option of this section type (its field is hidden)
            section = dict(section)
            if name == "x_indicators":
                section["indicators"] = list(value or [])
            elif name == "x_severities":
                section["severities"] = sorted(value or [])  # none ticked: validation says at least one
            else:
                _set_or_drop(section, key, value)  # empty: the model's default
        sections[index] = section
    draft["dirty"] = True
    return draft


def _apply_wall(body: dict, name: str, value) -> None:
    if name in ("w_title_zh", "w_title_en"):
        zh, en = _title(body.get("title"))
        _set_title(body, value if name == "w_title_zh" else zh, value if name == "w_title_en" else en, required=True)
    elif name == "w_area":
        _set_or_drop(body, "area", value)
    else:
        group, key = {"w_width": ("canvas", "width"), "w_height": ("canvas", "height"), "w_columns": ("grid", "columns"),
                      "w_rows": ("grid", "rows"), "w_gap": ("grid", "gap")}[name]
        if not isinstance(body.get(group), dict):
            body[group] = {}
        target = body[group]
        _set_or_drop(target, key, value)


def _apply_panel(panel: dict, name: str, value) -> dict:
    panel = dict(panel)
    if name == "p_type":
        return convert_panel(panel, value) if value in PANEL_TYPES else panel
    if name == "p_id":
        panel["id"] = value or ""
    elif name in ("p_title_zh", "p_title_en"):
        zh, en = _title(panel.get("title"))
        _set_title(panel, value if name == "p_title_zh" else zh, value if name == "p_title_en" else en, required=False)
    elif name == "p_indicator":
        panel["indicator"] = value or ""
        if panel.get("type") == "ranking":
            panel.pop("source", None)
    elif name == "p_measure" and panel.get("type") == "ranking":
        if value in ("incidents", "work_orders"):
            panel["source"] = value
            panel.pop("indicator", None)
        elif value == "indicator":
            panel.pop("source", None)
            panel.setdefault("indicator", "")
    elif name in ("p_chart", "p_window", "p_top", "p_area", "p_refresh"):
        _set_or_drop(panel, name[2:], value)
    elif name in ("p_warn", "p_alarm"):
        thresholds = dict(panel.get("thresholds") or {})
        _set_or_drop(thresholds, name[2:], value)
        _set_or_drop(panel, "thresholds", thresholds or None)
    elif name in ("p_color_line", "p_color_warn", "p_color_alarm"):
        colors = dict(panel.get("colors") or {})
        _set_or_drop(colors, name[8:], value)
        _set_or_drop(panel, "colors", colors or None)
    elif name in ("p_col", "p_row", "p_col_span", "p_row_span"):
        at = dict(panel.get("at") or {})
        key = name[2:]
        if value is None and key in ("col_span", "row_span"):
            at.pop(key, None)
        else:
            at[key] = value
        panel["at"] = at
    elif name == "p_layers":
        panel["layers"] = list(value or [])
    return panel


# --- errors in place ---------------------------------------------------------------------------------

_PANEL_KEYS = {
    "id": "p_id", "type": "p_type", "title": "p_title_zh", "title.zh": "p_title_zh", "title.en": "p_title_en", "indicator": "p_indicator",
    "source": "p_measure", "": "p_measure", "window": "p_window", "chart": "p_chart", "top": "p_top", "area": "p_area",
    "thresholds": "p_warn", "thresholds.warn": "p_warn", "thresholds.alarm": "p_alarm", "colors": "p_color_line", "colors.line": "p_color_line",
    "colors.warn": "p_color_warn", "colors.alarm": "p_color_alarm", "refresh": "p_refresh", "at": "p_at", "at.col": "p_col",
    "at.row": "p_row", "at.col_span": "p_col_span", "at.row_span": "p_row_span", "layers": "p_layers", "follow_incident": "p_layers",
}
_WALL_KEYS = {
    "title": "w_title_zh", "title.zh": "w_title_zh", "title.en": "w_title_en", "canvas": "w_width", "canvas.width": "w_width",
    "canvas.height": "w_height", "grid": "w_columns", "grid.columns": "w_columns", "grid.rows": "w_rows", "grid.gap": "w_gap", "area": "w_area",
}
_SCENE_KEYS = {"id": "s_id", "title": "s_title_zh", "title.zh": "s_title_zh", "title.en": "s_title_en", "dwell": "s_dwell"}
_BRIEFING_KEYS = {"title": "b_title_zh", "title.zh": "b_title_zh", "title.en": "b_title_en", "area": "b_area"}
_SECTION_KEYS = {"type": "x_type", "title": "x_title_zh", "title.zh": "x_title_zh", "title.en": "x_title_en", "": "x_type", **SECTION_OPTION_FIELDS}
_INDEXED = re.compile(r"\[\d+\]")


def _lookup(keys: dict, rest: str) -> str | None:
    rest = rest.lstrip(".")
    if rest in keys:
        return keys[rest]
    plain = _INDEXED.sub("", rest)  # layers[2] → layers, indicators[0] → indicators
    return keys.get(plain)


def place_of(path: str, body: dict) -> dict:
    """Where an error is: ``{"scene": i, "panel": j}``, ``{"section": k}`` or ``{}`` (the document)."""
    match = re.match(r"^(scenes\[(\d+)\]|emergency)(?:\.panels\[(\d+)\])?", path)
    if match and body.get("kind") == "wall":
        scene = int(match.group(2)) if match.group(2) is not None else len([s for s in (body.get("scenes") or []) if isinstance(s, dict)])
        return {"scene": scene, "panel": int(match.group(3)) if match.group(3) is not None else None}
    match = re.match(r"^sections\[(\d+)\]", path)
    if match:
        return {"section": int(match.group(1))}
    return {}


def field_for(path: str, body: dict, sel: dict) -> str | None:
    """The form field showing the error at ``path`` for this selection, or None (shown in the list only)."""
    kind = body.get("kind")
    if kind == "briefing":
        match = re.match(r"^sections\[(\d+)\](.*)$", path)
        if match:
            return _lookup(_SECTION_KEYS, match.group(2)) if int(match.group(1)) == sel.get("section") else None
        return _lookup(_BRIEFING_KEYS, path)
    if kind != "wall":
        return None
    place = place_of(path, body)
    if not place:
        return _lookup(_WALL_KEYS, path)
    if place.get("scene") != (sel.get("scene") or 0):
        return None
    prefix = scene_path(body, place["scene"])
    rest = path[len(prefix):]
    if place.get("panel") is None:
        return _lookup(_SCENE_KEYS, rest)
    if place["panel"] != sel.get("panel"):
        return None
    return _lookup(_PANEL_KEYS, rest[len(f".panels[{place['panel']}]"):])


def field_errors(errors, body: dict, sel: dict) -> dict[str, list[str]]:
    """Messages per form field for the current selection."""
    out: dict[str, list[str]] = {}
    for error in errors:
        name = field_for(error.path, body, sel)
        if name is not None:
            out.setdefault(name, []).append(error.message)
    return out
