"""Links into the studio: ``/studio?wall=ID&scene=S&panel=P`` and ``/studio?briefing=ID&section=N``
(what the catalogue links each use of a dataset to, and what the studio keeps in the address bar as
the analyst moves around, so a link to the current panel can be copied).

``resolve`` reads the parameters (validated with the spec id pattern; ``section`` is the 0-based
position of a briefing's section, as the catalogue counts) and opens the spec for editing with that
selection. A malformed or unknown value is never an error page: it is a ``problems`` line naming
the parameter, and the rest of the link still applies where it can (an unknown panel still opens
its wall and scene). ``link_params`` is the other way round: the parameters of a draft and selection.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.i18n import t
from app.studio import forms

LINK_PARAMS = ("wall", "scene", "panel", "briefing", "section")
SECTION_INDEX = re.compile(r"^[0-9]{1,4}$")
SHOWN_VALUE = 64  # a bad value is quoted in the banner, cut to this length


@dataclass
class Opened:
    draft: dict | None = None
    sel: dict = field(default_factory=lambda: {"scene": 0, "panel": None, "section": None})
    problems: list[str] = field(default_factory=list)
    focus: bool = False  # the link named a scene, panel or section: scroll it into view


def url_values(query: dict) -> dict[str, str]:
    """URL parameters as single strings: a repeated parameter counts once, its last value."""
    return {str(key): value if isinstance(value, str) else (str(value[-1]) if isinstance(value, list) and value else "")
            for key, value in query.items()}


def _shown(value: str) -> str:
    return value if len(value) <= SHOWN_VALUE else value[:SHOWN_VALUE] + "…"


def resolve(query: dict, lang: str) -> Opened:
    """The draft and selection a studio link opens, with a sentence per parameter it could not follow."""
    from app.studio import specs

    values = {key: value.strip() for key, value in url_values(query).items() if key in LINK_PARAMS}
    opened = Opened()
    given = [key for key in ("wall", "briefing") if key in values]
    if len(given) > 1:
        opened.problems.append(t("studio.link.both", lang))
        return opened
    if not given:
        for key in ("scene", "panel", "section"):
            if key in values:
                opened.problems.append(t("studio.link.orphan", lang, param=key, parent="briefing" if key == "section" else "wall"))
        return opened
    kind = given[0]
    spec_id = values[kind]
    stray = [key for key in (("section",) if kind == "wall" else ("scene", "panel")) if key in values]
    for key in stray:
        opened.problems.append(t("studio.link.orphan", lang, param=key, parent="briefing" if key == "section" else "wall"))
    if not forms.SPEC_ID.fullmatch(spec_id):
        opened.problems.append(t("studio.link.bad", lang, param=kind, value=_shown(spec_id)))
        return opened
    draft = specs.open_for_edit(kind, spec_id)
    if draft is None:
        opened.problems.append(t(f"studio.link.unknown_{kind}", lang, value=spec_id))
        return opened
    opened.draft = draft
    body = draft["body"]
    if kind == "wall":
        _select_panel(opened, body, values.get("scene"), values.get("panel"), spec_id, lang)
    elif "section" in values:
        _select_section(opened, body, values["section"], spec_id, lang)
    return opened


def _select_panel(opened: Opened, body: dict, scene_id: str | None, panel_id: str | None, spec_id: str, lang: str) -> None:
    scenes = forms.scenes_of(body)
    scene_index = None
    if scene_id is not None:
        if not forms.SPEC_ID.fullmatch(scene_id):
            opened.problems.append(t("studio.link.bad", lang, param="scene", value=_shown(scene_id)))
        else:
            scene_index = next((i for i, s in enumerate(scenes) if s.get("id") == scene_id), None)
            if scene_index is None:
                opened.problems.append(t("studio.link.unknown_scene", lang, value=scene_id, spec=spec_id))
            else:
                opened.focus = True
    panel_index = None
    if panel_id is not None:
        if not forms.SPEC_ID.fullmatch(panel_id):
            opened.problems.append(t("studio.link.bad", lang, param="panel", value=_shown(panel_id)))
        else:
            # In the named scene; without one (or an unknown one), the first scene that has the panel.
            where = [scene_index] if scene_index is not None else range(len(scenes))
            for index in where:
                panels = scenes[index].get("panels") or []
                found = next((j for j, p in enumerate(panels) if isinstance(p, dict) and p.get("id") == panel_id), None)
                if found is not None:
                    scene_index, panel_index = index, found
                    opened.focus = True
                    break
            else:
                place = scenes[scene_index].get("id") if scene_index is not None else spec_id
                opened.problems.append(t("studio.link.unknown_panel", lang, value=panel_id, place=place))
    opened.sel = forms.normal_selection(body, {"scene": scene_index or 0, "panel": panel_index})


def _select_section(opened: Opened, body: dict, text: str, spec_id: str, lang: str) -> None:
    if not SECTION_INDEX.fullmatch(text):
        opened.problems.append(t("studio.link.bad", lang, param="section", value=_shown(text)))
        return
    sections = [s for s in (body.get("sections") or []) if isinstance(s, dict)]
    index = int(text)
    if index >= len(sections):
        opened.problems.append(t("studio.link.unknown_section", lang, value=index, spec=spec_id, count=len(sections)))
        return
    opened.sel = forms.normal_selection(body, {"section": index})
    opened.focus = True


def link_params(draft: dict | None, sel: dict) -> dict[str, str]:
    """The link parameters of what is open and selected ({} for nothing, or a spec never saved:
    a link to it would open nothing)."""
    if draft is None or draft.get("source") == "new":
        return {}
    body = draft["body"]
    sel = forms.normal_selection(body, sel)
    if draft["kind"] == "wall":
        params = {"wall": draft["id"]}
        scene = forms.current_scene(body, sel)
        if scene is not None and isinstance(scene.get("id"), str) and forms.SPEC_ID.fullmatch(scene["id"]):
            params["scene"] = scene["id"]
            panel = forms.current_panel(body, sel)
            if panel is not None and isinstance(panel.get("id"), str) and forms.SPEC_ID.fullmatch(panel["id"]):
                params["panel"] = panel["id"]
        return params
    params = {"briefing": draft["id"]}
    if sel.get("section") is not None:
        params["section"] = str(sel["section"])
    return params
