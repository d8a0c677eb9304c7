"""The studio without a browser: its forms (pure edits of a draft body, errors placed next to
their field), the indicator search, the preview built by the wall's own panel classes, and its
callbacks as HTTP requests — save, publish, an invalid save, rollback, delete, each audited with
the signed-in user — plus what leaders, commanders and malformed requests get (403, 400)."""
from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import insert

from app.live import HUB_KEY
from app.server import create_app
from app.studio import forms
from app.studio.indicators import choices_from, search
from queries.db import make_engine
from queries.schema import Indicator, IndicatorValue
from queries.specs.model import SpecError
from queries.specs.store import get_version, list_versions, published_spec, spec_ids
from queries.writes import ensure_dataset, record_change
from tests.app.conftest import audit_rows, callback_body, make_settings, post_callback, router_body, server_callbacks, signed_in_client
from tests.app.test_server import text_of
from tests.app.test_wall import KPI_TIME, UNIT_WALL, write_specs

INDICATORS = [
    {"code": "incidents_today", "name_zh": "今日事件数", "name_en": "Incidents today", "unit": "起", "domain": "emergency", "good_direction": "down",
     "warn_threshold": None, "alarm_threshold": None, "dataset_code": "emergency.incidents", "aggregation": "sum"},
    {"code": "pm2_5", "name_zh": "PM2.5浓度", "name_en": "PM2.5", "unit": "μg/m³", "domain": "environment", "good_direction": "down",
     "warn_threshold": 75, "alarm_threshold": 115, "dataset_code": "emergency.incidents", "aggregation": "mean"},
    {"code": "aqi", "name_zh": "空气质量指数", "name_en": "Air quality index", "unit": None, "domain": "environment", "good_direction": "down",
     "warn_threshold": 100, "alarm_threshold": 150, "dataset_code": "emergency.incidents", "aggregation": "mean"},
    {"code": "gov_online_rate", "name_zh": "一网通办网上办理率", "name_en": "Online handling rate", "unit": "%", "domain": "government_service",
     "good_direction": "up", "warn_threshold": 85, "alarm_threshold": 80, "dataset_code": "emergency.incidents", "aggregation": "weighted_mean"},
]


def ops_wall() -> dict:
    body = forms.new_wall("ops")
    body["canvas"], body["grid"] = {"width": 1920, "height": 1080}, {"columns": 4, "rows": 3, "gap": 8}
    body["scenes"][0]["panels"] = [
        {"id": "today", "type": "kpi", "indicator": "incidents_today", "at": {"col": 1, "row": 1, "col_span": 2}},
        {"id": "pm", "type": "kpi", "indicator": "pm2_5", "at": {"col": 3, "row": 1, "col_span": 2}},
    ]
    return body


@pytest.fixture
def studio_app(tmp_path, seeded_sqlite_url):
    """The app on the seeded platform with a few indicators (one value) and the unit wall shipped."""
    yield from _studio_app(tmp_path, seeded_sqlite_url, specs_dir=write_specs(tmp_path / "specs", UNIT_WALL))


@pytest.fixture
def shipped_studio_app(tmp_path, seeded_sqlite_url):
    """The same platform with the specs the product ships (specs/walls/default.yaml, specs/briefings/city.yaml …)."""
    yield from _studio_app(tmp_path, seeded_sqlite_url, specs_dir=None)


def _studio_app(tmp_path, seeded_sqlite_url, *, specs_dir):
    engine = make_engine(seeded_sqlite_url)
    with engine.begin() as conn:
        ensure_dataset(conn, "emergency.incidents", name="突发事件信息", provider="市应急管理局", update_cycle="realtime")
        conn.execute(insert(Indicator), INDICATORS)
        conn.execute(insert(IndicatorValue), [{"indicator_code": "incidents_today", "area_code": "320700", "ts": KPI_TIME, "value": 12.0}])
        record_change(conn, "emergency.incidents", "ingest", 1, tables=["incidents", "indicators", "indicator_values"])
    engine.dispose()
    dash_app = create_app(make_settings(tmp_path, seeded_sqlite_url, specs_dir=specs_dir))
    yield dash_app
    dash_app.server.extensions[HUB_KEY].close()
    context = dash_app.server.extensions["cityops"]
    context.read_engine.dispose()
    context.engine.dispose()


def key_of(dash_app, *outputs: str, via: str | None = None) -> str:
    """The callback key writing exactly these outputs (``component.property``, duplicates marked or
    not), triggered by the input ``via`` when given."""
    from app.security.callbacks import split_key

    for key, spec in server_callbacks(dash_app).items():
        written = [f"{component}.{prop}" for component, prop in split_key(key)]
        inputs = {f"{i['id']}.{i['property']}" for i in spec["inputs"]}
        if written == list(outputs) and (via is None or via in inputs):
            return key
    raise AssertionError(f"no callback writes {outputs}")


SAVE = ("studio-draft.data", "studio-status.children", "studio-refresh.data")
DELETE = SAVE
VERSION = ("studio-diff.children", "studio-status.children", "studio-refresh.data", "studio-draft.data", "studio-sel.data")


def draft_of(body: dict, **extra) -> dict:
    return {"kind": body["kind"], "id": body["id"], "body": body, "base": None, "source": "new", "dirty": True, **extra}


def call(client, dash_app, outputs, values: dict, changed: str):
    key = key_of(dash_app, *outputs, via=changed)
    body = callback_body(dash_app, key, {"studio-lang.data": "zh", **values}, changed=[changed])
    return post_callback(client, body)


def version_call(client, dash_app, draft: dict, action: str, version):
    key = key_of(dash_app, *VERSION)
    body = callback_body(dash_app, key, {"studio-draft.data": draft, "studio-lang.data": "zh", "studio-refresh.data": 0})
    button = {"type": "studio-ver", "action": action, "version": version}
    body["inputs"] = [[{"id": button, "property": "n_clicks", "value": 1}]]
    body["changedPropIds"] = [json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"]
    return post_callback(client, body)


def answer(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"]


def db(dash_app):
    return dash_app.server.extensions["cityops"].engine


# --- forms ------------------------------------------------------------------------------------------


def test_panels_are_added_where_the_grid_is_free_and_change_type_cleanly():
    body = ops_wall()
    body, sel = forms.add_panel(body, {"scene": 0}, "kpi")
    added = body["scenes"][0]["panels"][2]
    assert sel == {"scene": 0, "panel": 2}
    assert (added["id"], added["type"], added["indicator"], added["at"]) == ("kpi", "kpi", "", {"col": 1, "row": 2, "col_span": 1, "row_span": 1})
    body, _ = forms.add_panel(body, sel, "kpi")
    assert body["scenes"][0]["panels"][3]["id"] == "kpi-2"
    trend = forms.convert_panel({**added, "thresholds": {"warn": 1}, "window": "today"}, "trend")
    assert trend == {"id": "kpi", "type": "trend", "indicator": "", "at": added["at"], "thresholds": {"warn": 1}}  # "today" is no trend window
    ranking = forms.convert_panel(trend, "ranking")
    assert ranking["source"] == "incidents" and "indicator" not in ranking and "thresholds" not in ranking
    assert forms.convert_panel(ranking, "map")["layers"] == forms.DEFAULT_LAYERS


def test_fields_write_the_body_and_read_back():
    draft = draft_of(ops_wall(), dirty=False)
    sel = {"scene": 0, "panel": 1}
    for name, value in [("p_warn", 60), ("p_alarm", 90.0), ("p_color_warn", "#ffaa00"), ("p_col_span", 1), ("p_title_zh", "细颗粒物"),
                        ("w_columns", 6.0), ("s_dwell", 30)]:
        draft = forms.apply_field(draft, sel, name, value)
    panel = draft["body"]["scenes"][0]["panels"][1]
    assert panel["thresholds"] == {"warn": 60, "alarm": 90} and panel["colors"] == {"warn": "#ffaa00"}
    assert panel["at"] == {"col": 3, "row": 1, "col_span": 1} and panel["title"] == {"zh": "细颗粒物"}
    assert draft["body"]["grid"]["columns"] == 6 and isinstance(draft["body"]["grid"]["columns"], int)
    assert draft["dirty"] is True
    values = forms.form_values(draft, sel)
    assert (values["p_warn"], values["p_alarm"], values["p_color_warn"], values["p_title_zh"], values["s_dwell"]) == (60, 90, "#ffaa00", "细颗粒物", 30)
    cleared = forms.apply_field(forms.apply_field(draft, sel, "p_warn", None), sel, "p_alarm", None)
    assert "thresholds" not in cleared["body"]["scenes"][0]["panels"][1]  # empty = the catalogue's again


def test_errors_are_placed_next_to_their_field_for_the_selection():
    body = ops_wall()
    errors = [SpecError("scenes[0].panels[1].thresholds.warn", "negative"), SpecError("scenes[0].panels[1].at", "overlaps 'today'"),
              SpecError("scenes[0].panels[0].indicator", "unknown indicator"), SpecError("grid.columns", "too fine"),
              SpecError("scenes[0].dwell", "too short"), SpecError("scenes[0].panels[1].layers[2]", "unknown layer")]
    placed = forms.field_errors(errors, body, {"scene": 0, "panel": 1})
    assert placed == {"p_warn": ["negative"], "p_at": ["overlaps 'today'"], "w_columns": ["too fine"], "s_dwell": ["too short"],
                      "p_layers": ["unknown layer"]}
    assert forms.field_errors(errors, body, {"scene": 0, "panel": 0})["p_indicator"] == ["unknown indicator"]
    assert forms.place_of("scenes[0].panels[1].at", body) == {"scene": 0, "panel": 1}
    briefing = forms.new_briefing("daily")
    assert forms.field_errors([SpecError("sections[0].indicators[1]", "unknown")], briefing, {"section": 0}) == {"x_indicators": ["unknown"]}


@pytest.mark.parametrize("query, first", [("pm2.5", "pm2_5"), ("PM 2.5", "pm2_5"), ("空气", "aqi"), ("kongqi", "aqi"), ("kq", "aqi"),
                                          ("wsbl", "gov_online_rate"), ("online", "gov_online_rate")])
def test_the_indicator_search_reads_chinese_pinyin_initials_and_english(query, first):
    choices = choices_from(INDICATORS)
    found = [c.code for c in search(choices, query)]
    assert found and found[0] == first, found
    assert "incidents_today" not in found
    assert [c.code for c in search(choices, "")] == [row["code"] for row in INDICATORS]


# --- preview -------------------------------------------------------------------------------------------


def test_the_preview_builds_the_scene_with_real_data_and_marks_an_invalid_panel(studio_app):
    from app.studio.preview import scene_preview

    body = ops_wall()
    body["scenes"][0]["panels"].append({"id": "broken", "type": "trend", "at": {"col": 1, "row": 3}})  # no indicator: invalid
    with studio_app.server.test_request_context("/_dash-update-component"):
        preview = scene_preview(body, 0, 0, "zh")
    text = text_of(preview)
    assert '"wall-kpi-number"' in text and '"12"' in text  # incidents_today's value, through the wall's KpiPanel
    assert "面板设置有误" in text
    assert '"--canvas-w": 1920' in text and '"--preview-scale": "0.45833"' in text
    assert text.count('"studio-pick') == 3 and "is-selected" in text


def test_walls_honour_a_panels_own_thresholds_colours_and_chart(studio_app):
    import datetime as dt

    from app.studio.preview import scene_preview
    from layers.charts import trend_svg

    body = ops_wall()
    body["scenes"][0]["panels"][0].update(thresholds={"warn": 10, "alarm": 20}, colors={"warn": "#123456"})
    with studio_app.server.test_request_context("/_dash-update-component"):
        text = text_of(scene_preview(body, 0, None, "zh"))
    assert '"wall-kpi is-warn"' in text and '"color": "#123456"' in text  # 12 is past the panel's warn line (the catalogue has none)
    times = [dt.datetime(2026, 11, 21, hour) for hour in range(4)]
    bars = trend_svg(times, [1.0, 3.0, 2.0, 4.0], width=400, height=200, warn=3.5, chart="bar", colours={"line": "#00ff00", "warn": "#abcdef"})
    line = trend_svg(times, [1.0, 3.0, 2.0, 4.0], width=400, height=200, chart="line")
    assert bars.count("<rect") == 4 and "<polyline" not in bars and 'fill="#00ff00"' in bars and 'stroke="#abcdef"' in bars
    assert "<polyline" in line and "<polygon" not in line


# --- the callbacks over HTTP ------------------------------------------------------------------------------


def test_save_publish_rollback_and_delete_are_versions_and_audited(studio_app):
    client = signed_in_client(studio_app.server, "analyst")
    body = ops_wall()

    saved = answer(call(client, studio_app, SAVE, {"studio-draft.data": draft_of(body), "studio-comment.value": "第一版", "studio-save.n_clicks": 1},
                        "studio-save.n_clicks"))
    draft = saved["studio-draft"]["data"]
    assert (draft["base"], draft["dirty"], draft["source"]) == (1, False, "database")
    assert "v1" in json.dumps(saved["studio-status"], ensure_ascii=False)
    with db(studio_app).connect() as conn:
        assert [(v.version, v.author, v.comment, v.published) for v in list_versions(conn, "wall", "ops")] == [(1, "test-analyst", "第一版", False)]

    # Publishing the unchanged head publishes it, no new version.
    answer(call(client, studio_app, SAVE, {"studio-draft.data": draft, "studio-publish.n_clicks": 1}, "studio-publish.n_clicks"))
    with db(studio_app).connect() as conn:
        assert published_spec(conn, "wall", "ops")[1] == 1 and len(list_versions(conn, "wall", "ops")) == 1

    # An invalid edit: nothing saved, nothing published, the status says so.
    invalid = copy.deepcopy(draft)
    invalid["body"]["scenes"][0]["panels"][1]["thresholds"] = {"warn": -5}
    invalid["dirty"] = True
    refused = answer(call(client, studio_app, SAVE, {"studio-draft.data": invalid, "studio-publish.n_clicks": 2}, "studio-publish.n_clicks"))
    assert "未保存" in json.dumps(refused["studio-status"], ensure_ascii=False) and "studio-draft" not in refused
    with db(studio_app).connect() as conn:
        assert len(list_versions(conn, "wall", "ops")) == 1 and published_spec(conn, "wall", "ops")[1] == 1

    # A valid change published (v2), then rolled back to v1: v3, live, because v2 was.
    changed = copy.deepcopy(draft)
    changed["body"]["title"] = {"zh": "第二版"}
    changed["dirty"] = True
    answer(call(client, studio_app, SAVE, {"studio-draft.data": changed, "studio-publish.n_clicks": 3}, "studio-publish.n_clicks"))
    rolled = answer(version_call(client, studio_app, changed, "rollback", 1))
    assert "新版本 v3 已发布" in json.dumps(rolled["studio-status"], ensure_ascii=False)
    assert rolled["studio-draft"]["data"]["base"] == 3 and rolled["studio-draft"]["data"]["body"]["title"] == body["title"]
    with db(studio_app).connect() as conn:
        assert published_spec(conn, "wall", "ops") == (body, 3)

    diff = answer(version_call(client, studio_app, changed, "diff_previous", 2))
    assert "is-add" in json.dumps(diff["studio-diff"]) and "第二版" in json.dumps(diff["studio-diff"], ensure_ascii=False)

    deleted = answer(call(client, studio_app, DELETE, {"studio-draft.data": rolled["studio-draft"]["data"], "studio-delete.submit_n_clicks": 1,
                                                       "studio-refresh.data": 0}, "studio-delete.submit_n_clicks"))
    assert deleted["studio-draft"]["data"] is None
    with db(studio_app).connect() as conn:
        assert spec_ids(conn, "wall") == [] and published_spec(conn, "wall", "ops") is None

    url = db(studio_app).url.render_as_string(hide_password=False)
    entries = [(e["action"], e["user_name"], e["target"]) for e in audit_rows(url) if e["action"].startswith("spec_")]
    assert entries[::-1] == [("spec_saved", "test-analyst", "wall/ops"), ("spec_published", "test-analyst", "wall/ops"),
                             ("spec_saved", "test-analyst", "wall/ops"), ("spec_published", "test-analyst", "wall/ops"),
                             ("spec_rolled_back", "test-analyst", "wall/ops"), ("spec_deleted", "test-analyst", "wall/ops")]


def test_a_shipped_spec_opens_as_its_file_and_cannot_be_deleted(studio_app):
    from app.studio.callbacks import step

    client = signed_in_client(studio_app.server, "analyst")
    with studio_app.server.test_request_context("/_dash-update-component"):
        opened, sel, refill, _ = step({"type": "studio-open", "kind": "wall", "id": "unit"}, 1, draft=None, sel={}, problems=[], lang="zh")
    assert (opened["source"], opened["base"], opened["body"]["title"]) == ("file", None, {"zh": "测试大屏", "en": "Test wall"}) and refill
    refused = answer(call(client, studio_app, DELETE, {"studio-draft.data": opened, "studio-delete.submit_n_clicks": 1, "studio-refresh.data": 0},
                          "studio-delete.submit_n_clicks"))
    assert "不能删除" in json.dumps(refused["studio-status"], ensure_ascii=False)
    with studio_app.server.test_request_context("/_dash-update-component"):
        taken = step("studio-new", 1, draft=None, sel={}, problems=[], lang="zh", new_kind="wall", new_id="unit")
        bad = step("studio-new", 1, draft=None, sel={}, problems=[], lang="zh", new_kind="wall", new_id="Not An Id")
        made = step("studio-new", 1, draft=None, sel={}, problems=[], lang="zh", new_kind="briefing", new_id="daily")
    assert "已被使用" in text_of(taken[3]) and "标识须" in text_of(bad[3])
    assert made[0]["body"] == forms.new_briefing("daily") and made[0]["source"] == "new"


@pytest.mark.parametrize("role", ["leader", "commander"])
def test_leaders_and_commanders_get_403_on_the_page_and_its_callbacks(studio_app, role):
    client = signed_in_client(studio_app.server, role)
    assert client.get("/studio").status_code == 403
    response = call(client, studio_app, SAVE, {"studio-draft.data": draft_of(ops_wall()), "studio-save.n_clicks": 1}, "studio-save.n_clicks")
    assert response.status_code == 403
    with db(studio_app).connect() as conn:
        assert spec_ids(conn, "wall") == []
    assert signed_in_client(studio_app.server, "analyst").get("/studio").status_code == 200


def test_malformed_callback_inputs_are_refused_with_400(studio_app):
    client = signed_in_client(studio_app.server, "analyst")
    body = ops_wall()
    bad_id = draft_of({**body, "id": "Bad Id"}) | {"id": "Bad Id"}
    assert call(client, studio_app, SAVE, {"studio-draft.data": bad_id, "studio-save.n_clicks": 1}, "studio-save.n_clicks").status_code == 400
    mismatch = draft_of(body) | {"id": "other"}
    assert call(client, studio_app, SAVE, {"studio-draft.data": mismatch, "studio-save.n_clicks": 1}, "studio-save.n_clicks").status_code == 400
    draft = draft_of(body)
    assert version_call(client, studio_app, draft, "rollback", "1").status_code == 400
    assert version_call(client, studio_app, draft, "drop", 1).status_code == 400
    with db(studio_app).connect() as conn:
        assert spec_ids(conn, "wall") == []


# --- links into the studio, the address bar ---------------------------------------------------------------


def components(tree):
    """Every component of a rendered layout (Dash's JSON), depth first."""
    if isinstance(tree, list):
        for item in tree:
            yield from components(item)
    elif isinstance(tree, dict) and "props" in tree:
        yield tree
        for value in tree["props"].values():
            yield from components(value)


def prop(tree, component_id: str, name: str):
    found = [c["props"] for c in components(tree) if c["props"].get("id") == component_id]
    assert len(found) == 1, f"{component_id}: {len(found)} components"
    return found[0].get(name)


def studio_page(client, search: str):
    response = post_callback(client, router_body("/studio", search))
    return answer(response)["_pages_content"]["children"]


RENDER = ("studio-scenes.children", "studio-panels.children", "studio-sections.children", "studio-heading.children", "studio-state.children",
          "studio-editor.className", "studio-panel-form.className", "studio-section-form.className", "studio-delete.message",
          "studio-yaml.children", "studio-url.data")


def test_a_link_to_a_panel_of_the_default_wall_opens_it_selected(shipped_studio_app):
    import yaml

    from queries.specs.files import default_specs_dir

    shipped = yaml.safe_load((default_specs_dir() / "walls" / "default.yaml").read_text(encoding="utf-8"))
    scene_index, scene = next((i, s) for i, s in enumerate(shipped["scenes"]) if i > 0 and any(p["id"] == "ticker" for p in s["panels"]))
    panel_index = next(j for j, p in enumerate(scene["panels"]) if p["id"] == "ticker")
    client = signed_in_client(shipped_studio_app.server, "analyst")

    page = studio_page(client, f"?wall=default&scene={scene['id']}&panel=ticker&lang=zh")
    draft = prop(page, "studio-draft", "data")
    assert (draft["kind"], draft["id"], draft["source"], draft["body"]) == ("wall", "default", "file", shipped)
    assert prop(page, "studio-sel", "data") == {"scene": scene_index, "panel": panel_index, "section": None}
    assert (prop(page, "studio-f-s-id", "value"), prop(page, "studio-f-p-id", "value"), prop(page, "studio-f-p-type", "value")) == (
        scene["id"], "ticker", "ticker")  # the form shows the panel, as after a click
    assert prop(page, "studio-focus", "data") is True and prop(page, "studio-link-problems", "children") is None

    # The lists drawn for that selection: the panel's chip is the active one; the address bar's parameters name it.
    rendered = answer(call(client, shipped_studio_app, RENDER, {"studio-draft.data": draft, "studio-sel.data": prop(page, "studio-sel", "data"),
                                                                 "studio-refresh.data": 0}, "studio-sel.data"))
    active = [c["props"]["data-panel"] for c in components(rendered["studio-panels"]["children"]) if "is-active" in c["props"].get("className", "")]
    assert active == ["ticker"]
    assert rendered["studio-url"]["data"] == {"wall": "default", "scene": scene["id"], "panel": "ticker"}
    # Another panel picked: the parameters follow (the browser replaces the address without a reload).
    rendered = answer(call(client, shipped_studio_app, RENDER, {"studio-draft.data": draft, "studio-sel.data": {"scene": scene_index, "panel": 0},
                                                                 "studio-refresh.data": 0}, "studio-sel.data"))
    assert rendered["studio-url"]["data"] == {"wall": "default", "scene": scene["id"], "panel": scene["panels"][0]["id"]}

    # A briefing's section by its position (as the catalogue links it).
    page = studio_page(client, "?briefing=city&section=3&lang=en")
    assert prop(page, "studio-draft", "data")["id"] == "city" and prop(page, "studio-sel", "data") == {"scene": 0, "panel": None, "section": 3}
    assert prop(page, "studio-f-x-type", "value") == "incidents" and prop(page, "studio-link-problems", "children") is None


def test_unknown_or_malformed_link_parameters_show_a_banner_naming_them(shipped_studio_app):
    client = signed_in_client(shipped_studio_app.server, "analyst")
    cases = [
        ("?wall=Bad%20Id", None, ["参数 wall", "“Bad Id”", "格式不正确"]),
        ("?wall=nosuch", None, ["参数 wall：没有标识为“nosuch”的大屏"]),
        ("?wall=" + "x" * 300, None, ["参数 wall", "x" * 64 + "…"]),
        ("?wall=default&briefing=city", None, ["wall 与 briefing 只能给出其一"]),
        ("?panel=ticker", None, ["参数 panel 须与参数 wall 一起使用"]),
        ("?wall=default&scene=nope", "default", ["参数 scene：大屏 default 中没有场景“nope”"]),
        ("?wall=default&scene=overview&panel=Nope!", "default", ["参数 panel", "“Nope!”"]),
        ("?wall=default&scene=overview&panel=gone", "default", ["参数 panel：overview 中没有面板“gone”"]),
        ("?briefing=city&section=99", "city", ["参数 section：简报 city 共 8 个栏目"]),
        ("?briefing=city&section=-1", "city", ["参数 section", "“-1”"]),
        ("?briefing=nosuch&section=0", None, ["参数 briefing：没有标识为“nosuch”的简报"]),
    ]
    for search, opened, words in cases:
        page = studio_page(client, search + "&lang=zh")
        banner = json.dumps(prop(page, "studio-link-problems", "children"), ensure_ascii=False)
        assert all(word in banner for word in words), (search, banner)
        assert '"role": "alert"' in banner
        draft = prop(page, "studio-draft", "data")
        assert (draft or {}).get("id") == opened, search
        if opened is None:
            assert prop(page, "studio-sel", "data") == {"scene": 0, "panel": None, "section": None}
    english = json.dumps(studio_page(client, "?wall=nosuch&lang=en"), ensure_ascii=False)
    assert "Parameter wall: there is no wall “nosuch”" in english


# --- briefing section options ----------------------------------------------------------------------------


def edit_call(client, dash_app, draft: dict, sel: dict, name: str, value):
    key = next(k for k, spec in server_callbacks(dash_app).items() if k.startswith("..studio-draft.data...studio-sel.data..")
               and any(i["id"] == forms.field_id(name) for i in spec["inputs"]))
    changed = f"{forms.field_id(name)}.value"
    body = callback_body(dash_app, key, {"studio-draft.data": draft, "studio-sel.data": sel, "studio-problems.data": [], "studio-lang.data": "zh",
                                         changed: value}, changed=[changed])
    return post_callback(client, body)


def errors_call(client, dash_app, draft: dict, sel: dict) -> dict:
    key = next(k for k in server_callbacks(dash_app) if k.endswith("...studio-problems.data.."))
    return answer(post_callback(client, callback_body(dash_app, key, {"studio-draft.data": draft, "studio-sel.data": sel, "studio-lang.data": "zh"})))


def test_every_option_of_every_section_type_has_a_field_that_writes_it():
    from queries.specs.model import BRIEFING_SECTION_TYPES

    assert set(forms.SECTION_KEYS) == set(BRIEFING_SECTION_TYPES)
    assert {key for keys in forms.SECTION_KEYS.values() for key in keys} == set(forms.SECTION_OPTION_FIELDS)
    body = forms.new_briefing("daily")
    body["sections"] += [{"type": "incidents"}, {"type": "map"}, {"type": "gov_services"}]
    draft, incidents = draft_of(body, dirty=False), {"section": 1}
    values = forms.form_values(draft, incidents)
    assert (values["x_limit"], values["x_severities"], values["x_measure"]) == (None, [1, 2, 3], None)  # empty number: the default (placeholder)
    assert forms.form_values(draft, {"section": 3})["x_indicators"] == ["gov_online_rate", "gov_service_volume"]  # the model's default shown
    draft = forms.apply_field(draft, incidents, "x_severities", [2, 1])
    draft = forms.apply_field(draft, incidents, "x_limit", 20.0)
    assert draft["body"]["sections"][1] == {"type": "incidents", "severities": [1, 2], "limit": 20}
    assert forms.apply_field(draft, incidents, "x_measure", "aqi")["body"] == draft["body"]  # not an option of "incidents"
    assert forms.apply_field(draft, incidents, "x_limit", None)["body"]["sections"][1] == {"type": "incidents", "severities": [1, 2]}
    switched = forms.apply_field(draft, incidents, "x_type", "attention")["body"]["sections"][1]
    assert switched == {"type": "attention", "limit": 20}  # limit is an option of both; severities is not
    placed = forms.field_errors([SpecError("sections[1].limit", "too many"), SpecError("sections[1].severities[0]", "no such level")], body, incidents)
    assert placed == {"x_limit": ["too many"], "x_severities": ["no such level"]}


def test_a_section_option_is_checked_in_place_and_saved_into_the_version(studio_app):
    client = signed_in_client(studio_app.server, "analyst")
    body = forms.new_briefing("daily")
    body["sections"] += [{"type": "incidents", "title": {"zh": "事件"}}, {"type": "map"}]
    draft = draft_of(body)

    # Past the model's range: said next to the field; saving writes nothing.
    draft = answer(edit_call(client, studio_app, draft, {"section": 1}, "x_limit", 99))["studio-draft"]["data"]
    shown = errors_call(client, studio_app, draft, {"section": 1})
    assert "less than or equal to 50" in json.dumps(shown["studio-e-x-limit"]["children"])
    assert [p["path"] for p in shown["studio-problems"]["data"]] == ["sections[1].limit"]
    refused = answer(call(client, studio_app, SAVE, {"studio-draft.data": draft, "studio-save.n_clicks": 1}, "studio-save.n_clicks"))
    assert "studio-draft" not in refused
    with db(studio_app).connect() as conn:
        assert spec_ids(conn, "briefing") == []

    for sel, name, value in [({"section": 1}, "x_limit", 20), ({"section": 1}, "x_severities", [2, 1]), ({"section": 2}, "x_measure", "aqi"),
                             ({"section": 0}, "x_limit", 5)]:
        draft = answer(edit_call(client, studio_app, draft, sel, name, value))["studio-draft"]["data"]
    assert errors_call(client, studio_app, draft, {"section": 1})["studio-problems"]["data"] == []
    # An option the section type does not have changes nothing; a malformed value is refused.
    assert edit_call(client, studio_app, draft, {"section": 2}, "x_limit", 3).status_code == 204
    assert edit_call(client, studio_app, draft, {"section": 1}, "x_severities", [5]).status_code == 400

    saved = answer(call(client, studio_app, SAVE, {"studio-draft.data": draft, "studio-save.n_clicks": 1}, "studio-save.n_clicks"))
    assert saved["studio-draft"]["data"]["base"] == 1
    with db(studio_app).connect() as conn:
        stored = get_version(conn, "briefing", "daily", 1)
    assert stored["sections"] == [{"type": "attention", "limit": 5}, {"type": "incidents", "title": {"zh": "事件"}, "severities": [1, 2], "limit": 20},
                                  {"type": "map", "measure": "aqi"}]
    opened = {"kind": "briefing", "id": "daily", "body": stored, "base": 1, "source": "database", "dirty": False}
    values = forms.form_values(opened, {"section": 1})
    assert (values["x_limit"], values["x_severities"]) == (20, [1, 2])
    assert forms.form_values(opened, {"section": 2})["x_measure"] == "aqi"
