"""The command view without a browser: URL state, masking, drill transitions, a step's data.

Steps run on the small demo city in SQLite (built once for the module), inside a request
context of the real app so that queries go through the app's query cache like in production.
"""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qsl

import pytest

from app.command import state as states
from app.command.state import CommandState, parse_query, to_search
from app.masking import (
    mask_address,
    mask_name,
    mask_numbers_in_text,
    mask_personal,
    mask_phone,
)
from tests.app.conftest import make_settings

LAYERS = ("basemap", "boundaries", "grid_choropleth", "incidents", "resources", "route")
NOW = dt.datetime(2026, 11, 21, 8, tzinfo=dt.timezone.utc)


def parse(**query) -> CommandState:
    return parse_query(query, known_layers=LAYERS)


# --- URL parsing and validation ----------------------------------------------------------------


def test_defaults_without_parameters():
    state = parse()
    assert state.area is None and state.incident is None and state.window == "24h" and not state.problems
    assert to_search(state) == "?lang=zh"


def test_every_parameter_round_trips_through_the_url():
    state = parse(area="320706001", layers="incidents,boundaries", t="custom", **{"from": "2026-11-20T08:00", "to": "2026-11-21"},
                  incident="INC-1", severity="I,3", category="accident", status="reported,closed", channel="12345", lang="en")
    assert not state.problems
    assert state.layers == ("incidents", "boundaries") and state.severity == (1, 3) and state.lang == "en"
    assert state.start == "2026-11-20T00:00:00+00:00"  # naive = Beijing time
    again = parse_query(dict(parse_qsl(to_search(state)[1:])), known_layers=LAYERS)
    assert again == state


@pytest.mark.parametrize(("query", "param", "key"), [
    ({"area": "32o706"}, "area", "command.problem.area_form"),
    ({"area": "1234"}, "area", "command.problem.area_form"),
    ({"layers": "incidents,nope"}, "layers", "command.problem.layer"),
    ({"t": "3d"}, "t", "command.problem.window"),
    ({"t": "custom", "from": "yesterday", "to": "2026-11-21"}, "from", "command.problem.time"),
    ({"t": "custom", "to": "2026-11-21"}, "from", "command.problem.time_missing"),
    ({"from": "2026-11-21", "to": "2026-11-20"}, "from", "command.problem.time_order"),
    ({"from": "2026-01-01", "to": "2026-11-20"}, "from", "command.problem.time_span"),
    ({"from": "9999-12-31T23:59", "to": "9999-12-31T23:59:59"}, "from", "command.problem.time"),
    ({"incident": "a/b"}, "incident", "command.problem.incident_form"),
    ({"severity": "V"}, "severity", "command.problem.filter"),
    ({"channel": "fax"}, "channel", "command.problem.filter"),
])
def test_bad_parameters_become_problems_and_defaults(query, param, key):
    state = parse(**query)
    assert [(p.param, p.key) for p in state.problems][:1] == [(param, key)]
    assert state.window in states.WINDOW_CHOICES
    if param == "area":
        assert state.area is None
    if param in ("t", "from"):
        assert state.window == "24h"


def test_problem_messages_exist_in_both_languages():
    from app.i18n import t

    for problem in parse(area="x", layers="nope", t="bad", severity="9").problems:
        assert "{" not in t(problem.key, "zh", value=problem.value) and problem.value in t(problem.key, "en", value=problem.value)


def test_only_unknown_layers_fall_back_to_the_defaults():
    assert parse(layers="nope").layers == states.DEFAULT_LAYERS
    assert parse(layers="").layers == ()  # an explicit empty list is a choice: no layers


def test_aqi_category_in_english():
    from app.command.panels import aqi_category
    from app.i18n import t

    assert aqi_category(t("command.aqi.level.2", "zh"), "en") == "Moderate"
    assert aqi_category(None, "en") is None


def test_state_survives_the_store():
    state = parse(area="320706", severity="2", layers="nope")
    assert CommandState.from_store(state.to_store()) == state
    assert CommandState.from_store(state.to_store()).problems == state.problems


# --- transitions ---------------------------------------------------------------------------


def test_drill_and_select_transitions():
    start = parse(area="320706", incident="INC-1", layers="nope")
    drilled = states.drill_to(start, "320706001")
    assert drilled.area == "320706001" and drilled.incident is None and not drilled.problems
    selected = states.select_incident(drilled, "INC-2")
    assert selected.area == "320706001" and selected.incident == "INC-2"
    assert states.drill_to(selected, None).area is None
    layered = states.with_layers(selected, ["incidents", "bogus", "boundaries"], LAYERS)
    assert layered.layers == ("boundaries", "incidents")  # registry order, unknown dropped
    filtered = states.with_filters(layered, severity=["1", "x"], category=["accident"], status=None, channel=[])
    assert filtered.severity == (1,) and filtered.category == ("accident",) and filtered.incident == "INC-2"
    custom = states.with_window(filtered, "custom", "2026-11-20T08:00", "2026-11-21T08:00")
    assert custom.window == "custom" and custom.start == "2026-11-20T00:00:00+00:00"
    kept = states.with_window(custom, "custom", "2026-11-21", "2026-11-20")  # reversed: keeps the old window
    assert kept.window == "custom" and kept.start == custom.start and kept.problems
    assert states.with_window(custom, "7d").window == "7d" and states.with_window(custom, "7d").start is None


def test_time_window():
    state = parse(t="7d")
    assert state.time_window(NOW) == (NOW - dt.timedelta(days=7), NOW)
    custom = parse(**{"from": "2026-11-20T08:00", "to": "2026-11-20T20:00"})
    start, end = custom.time_window(NOW)
    assert (end - start) == dt.timedelta(hours=12)


# --- masking -------------------------------------------------------------------------------


def test_masking():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0518-85812345") == "051*-****2345"
    assert mask_phone("12345") == "***45"
    assert mask_name("张三") == "张*" and mask_name("John Smith") == "J*** *****"
    assert mask_address("海州区朝阳东路88号3单元").startswith("海州区") and "88" not in mask_address("海州区朝阳东路88号3单元")
    assert mask_numbers_in_text("王先生13912345678反映") == "王先生139****5678反映"
    record = {"reporter_name": "李四", "reporter_phone": "13912345678", "address": "海州区新浦路1号", "title": "电话13912345678",
              "events": [{"note": "回拨13912345678"}], "severity": 2}
    masked = mask_personal(record)
    assert masked["reporter_phone"] == "139****5678" and masked["reporter_name"] == "李*" and masked["severity"] == 2
    assert "13912345678" not in str(masked)
    assert record["reporter_phone"] == "13912345678"  # the caller's record is not changed


# --- steps on the small demo city -------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    from queries.db import make_engine
    from queries.demo import build_demo_city
    from queries.migrate import ensure_schema

    folder = tmp_path_factory.mktemp("command")
    url = f"sqlite:///{folder / 'demo.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    build_demo_city(engine, "small", 7, now=NOW)
    engine.dispose()
    from app.server import create_app

    return create_app(make_settings(folder, url))


@pytest.fixture
def request_context(demo_app):
    with demo_app.server.test_request_context("/command"):
        yield demo_app


def known():
    from layers import layer_names

    return layer_names()


def test_resolve_reports_unknown_codes_and_opens_the_city(request_context):
    from app.command.view import resolve

    resolved = resolve(parse_query({"area": "999999", "incident": "NOPE"}, known_layers=known()))
    assert resolved.area["level"] == "city"
    assert {p.key for p in resolved.state.problems} == {"command.problem.area_unknown", "command.problem.incident_unknown"}
    assert [a["level"] for a in resolved.path] == ["city"]


def test_shared_incident_link_opens_its_grid_with_masked_reporter(request_context):
    from app.command import data as reads
    from app.command.view import resolve

    incident_id = reads.incidents_in(reads.city_code(), reads.Window(NOW - dt.timedelta(days=30), NOW), {}, limit=1)["id"].iloc[0]
    resolved = resolve(parse_query({"incident": incident_id}, known_layers=known()))
    assert resolved.area["level"] == "grid" and [a["level"] for a in resolved.path] == ["city", "district", "street", "community", "grid"]
    phone = resolved.incident.get("reporter_phone")
    assert phone is None or "****" in phone


def test_drill_steps_render_partial_updates(request_context):
    from app.command import mapview, payload, view
    from app.pages.command import compose

    city = view.resolve(parse_query({"layers": "boundaries,incidents,grid_choropleth"}, known_layers=known()))
    first = compose(city, NOW, lang="zh")
    # Data travels in layerData; only the invisible warm-up twins (app.command.payload.warm_up_entries) carry a row.
    assert first["layers"] and all(spec["data"] == [] for spec in first["layers"] if not spec["id"].endswith(payload.WARM_UP_SUFFIX))
    assert all(spec["opacity"] == 0 and not spec["pickable"] and len(spec["data"]) == 1 for spec in first["layers"] if spec["id"].endswith(payload.WARM_UP_SUFFIX))
    assert "boundaries-areas" in first["layer_data"]
    assert {kpi.id if hasattr(kpi, "id") else None for kpi in first["kpis"]}  # KPI components built
    again = compose(city, NOW, previous=first["digests"], lang="zh")
    assert again["layers"] is None and again["layer_data"] == {}  # nothing changed, nothing sent

    district_code = reads_children(city)[0]
    district = view.resolve(states.drill_to(city.state, district_code))
    step = compose(district, NOW, previous=first["digests"], lang="zh")
    assert "boundaries-areas" in step["layer_data"]
    streets = {row["code"] for row in step["layer_data"]["boundaries-areas"]}
    assert district_code in streets and any(code.startswith(district_code) and len(code) == 9 for code in streets)

    # Playback re-renders only the time layers; the boundaries keep their data.
    cursor = view.playback_cursor(mapview.reads.Window(NOW - dt.timedelta(hours=24), NOW), 3)
    played = compose(district, NOW, previous=step["digests"], cursor=cursor, only=mapview.TIME_LAYERS, lang="zh")
    assert played["layers"] is None and "boundaries-areas" not in played["layer_data"]
    assert played["summary"]["to"] == cursor


def reads_children(resolved):
    from app.command import data as reads

    counts = reads.child_counts(resolved.area["code"], reads.Window(NOW - dt.timedelta(days=30), NOW), {})
    return counts.sort_values("value", ascending=False)["code"].tolist()


def test_a_map_click_drills_into_the_child_under_it(request_context):
    from app.command import view
    from app.pages.command import map_click

    city = view.resolve(parse_query({}, known_layers=known()))
    district_code = reads_children(city)[0]
    from app.command import data as reads

    bounds = reads.area_bounds(district_code)
    render = {"asof": NOW.isoformat(), "index": None}
    # A click that picked a district polygon.
    picked = {"picked": True, "layerId": "boundaries-areas", "index": 0, "object": {"code": district_code}, "coordinate": None}
    assert map_click(city.state, picked, render)[0].area == district_code
    # A click on something without a code (an aggregated cell): the child under the coordinate.
    from app.command.mapview import _shapes
    from app.command.view import make_step

    shapes = _shapes(make_step(city, NOW))
    inside = shapes[shapes["code"] == district_code].geometry.iloc[0].representative_point()
    cell = {"picked": True, "layerId": "incidents-cells", "index": 3, "object": {"tooltip": "x"}, "coordinate": [inside.x, inside.y]}
    assert map_click(city.state, cell, render)[0].area == district_code
    assert bounds is not None
    assert map_click(city.state, {"picked": False, "coordinate": [0.0, 0.0]}, render) is None


def test_layout_shows_problems_instead_of_failing(request_context):
    from app.pages.command import layout

    page = layout(area="123456789012", layers="nope", t="x", lang="en")
    text = str(page.to_plotly_json())
    assert "There is no area with code" in text and "Unknown layer" in text and "Time window" in text
    assert "page-command" in text


def test_a_city_with_only_ingested_districts_and_incidents_falls_back_to_h3(tmp_path):
    """Boundaries and an incident file, no unit grids yet: the grid view says so and shows H3."""
    import json

    from app.command import mapview, view
    from app.server import create_app
    from queries.db import make_engine
    from queries.ingest import ingest_file
    from queries.migrate import ensure_schema

    districts = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "320706", "name": "海州区"},
         "geometry": {"type": "Polygon", "coordinates": [[[119.1, 34.5], [119.3, 34.5], [119.3, 34.7], [119.1, 34.7], [119.1, 34.5]]]}},
        {"type": "Feature", "properties": {"code": "320703", "name": "连云区"},
         "geometry": {"type": "Polygon", "coordinates": [[[119.3, 34.5], [119.5, 34.5], [119.5, 34.7], [119.3, 34.7], [119.3, 34.5]]]}},
    ]}
    (tmp_path / "districts.geojson").write_text(json.dumps(districts), encoding="utf-8")
    reported = (NOW - dt.timedelta(hours=2)).astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
    rows = "\n".join(f"E{i},事故灾难,IV级,{reported},{119.15 + i * 0.01},34.6" for i in range(5))
    (tmp_path / "incidents.csv").write_text("事件编号,事件类型,等级,上报时间,经度,纬度\n" + rows + "\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'ingested.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    ingest_file(engine, "boundaries", tmp_path / "districts.geojson", level="district")
    ingest_file(engine, "incidents", tmp_path / "incidents.csv")
    engine.dispose()

    dash_app = create_app(make_settings(tmp_path, url))
    with dash_app.server.test_request_context("/command"):
        for lang, note in (("zh", "六边形"), ("en", "H3 hexagons")):
            district = view.resolve(parse_query({"area": "320706", "layers": "boundaries,grid_choropleth", "lang": lang}, known_layers=known()))
            rendered = mapview.render_layers(district.state.layers, view.make_step(district, NOW), lang, dash_app.server.extensions["cityops"].settings)
            ids = [layer.id for layer in rendered]
            assert "h3-cells" in ids and "grid-choropleth" not in ids
            h3_layer = rendered[ids.index("h3-cells")]
            assert note in h3_layer.legend.note


# --- a grid's work orders, one read of the nearest resources, the map payload ------------------------


ORDER_WINDOW = dt.timedelta(days=60)  # the small demo's busiest grid has a few pages of orders over two months


def busiest_grid(app) -> str:
    from sqlalchemy import func, select

    from queries.db import make_engine
    from queries.schema import WorkOrder

    engine = make_engine(app.server.extensions["cityops"].settings.database_url)
    with engine.connect() as conn:
        grid = conn.execute(select(WorkOrder.grid_code).where(WorkOrder.grid_code.is_not(None), WorkOrder.call_time >= NOW - ORDER_WINDOW,
                                                              WorkOrder.call_time < NOW)
                            .group_by(WorkOrder.grid_code).order_by(func.count().desc()).limit(1)).scalar()
    engine.dispose()
    return grid


def orders_in_sql(app, grid: str, start, end) -> list[dict]:
    """The grid's orders straight from the table, newest call first, with overdue computed here."""
    from sqlalchemy import select

    from queries.db import make_engine
    from queries.schema import WorkOrder

    engine = make_engine(app.server.extensions["cityops"].settings.database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(WorkOrder.order_num, WorkOrder.call_time, WorkOrder.deadline, WorkOrder.complete_time, WorkOrder.caller_phone,
                                   WorkOrder.is_secret).where(WorkOrder.grid_code == grid, WorkOrder.call_time >= start, WorkOrder.call_time < end)).all()
    engine.dispose()
    rows = sorted(rows, key=lambda r: r.order_num)
    rows = sorted(rows, key=lambda r: r.call_time, reverse=True)
    return [{"order_num": r.order_num, "overdue": r.deadline is not None and r.deadline < end and r.complete_time is None, "phone": r.caller_phone,
             "secret": bool(r.is_secret)} for r in rows]


def test_a_grid_lists_its_work_orders_paged_newest_first_masked_per_role(request_context):
    from app.command import data as reads
    from app.command import panels
    from app.security import identity_for

    app = request_context
    grid = busiest_grid(app)
    window = reads.Window(NOW - ORDER_WINDOW, NOW)
    expected = orders_in_sql(app, grid, window.start, window.end)
    assert len(expected) > reads.ORDERS_PER_PAGE  # more than a page, so paging is exercised
    leader, commander = identity_for("l", "leader"), identity_for("c", "commander")
    pages = -(-len(expected) // reads.ORDERS_PER_PAGE)
    seen_leader, seen_commander = [], []
    for page in range(pages):
        seen_leader += reads.work_orders_in(grid, window, page, leader).to_dict("records")
        seen_commander += reads.work_orders_in(grid, window, page, commander).to_dict("records")
    for seen in (seen_leader, seen_commander):
        assert [(row["order_num"], bool(row["overdue"])) for row in seen] == [(row["order_num"], row["overdue"]) for row in expected]
    for mine, clear, truth in zip(seen_leader, seen_commander, expected):
        if truth["phone"]:
            assert mine["caller_phone"] != truth["phone"] and "****" in mine["caller_phone"]  # a leader: masked
            assert (clear["caller_phone"] == truth["phone"]) != truth["secret"]  # a commander: in clear, unless the order is confidential
        assert "address" not in mine or not mine["address"] or mine["address"].endswith("****")

    summary = reads.summary(grid, window)
    assert summary["workorders"]["total"] == len(expected)
    section = panels.work_order_list(reads.work_orders_in(grid, window, 0, leader), summary, "zh", area_code=grid, start=window.start,
                                     end=window.end, page=0, per_page=reads.ORDERS_PER_PAGE)
    text = str(section.to_plotly_json())
    assert f"第 1 / {pages} 页" in text and expected[0]["order_num"] in text and expected[reads.ORDERS_PER_PAGE]["order_num"] not in text
    if any(row["overdue"] for row in expected[:reads.ORDERS_PER_PAGE]):
        assert "超期" in text


def test_an_incident_step_routes_once(request_context, monkeypatch):
    """The nearest resources of an incident are read once per step: route, camera and panel share them."""
    from app.command import data as reads
    from app.command import view
    from app.pages.command import compose

    incident_id = reads.incidents_in(reads.city_code(), reads.Window(NOW - dt.timedelta(days=30), NOW), {}, limit=1)["id"].iloc[0]
    resolved = view.resolve(parse_query({"incident": incident_id, "layers": "boundaries,incidents"}, known_layers=known()))
    calls = []
    original = reads.nearest_resources

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(reads, "nearest_resources", counted)
    step = compose(resolved, NOW, lang="zh")
    fit = view.fit_for(step["step"], step["route"])
    panel = view.side_panels(resolved, step["step"], step["summary"], "zh")
    assert len(calls) == 1
    resources = step["step"].resources
    assert step["route"] and len(resources) and "route-lines" in step["layer_data"]
    (west, south), (east, north) = fit["bounds"]
    assert west <= resources["lon"].min() and east >= resources["lon"].max() and south <= resources["lat"].min() and north >= resources["lat"].max()
    assert resources["name"].iloc[0] in str(panel[0].to_plotly_json())


def test_the_map_skeleton_holds_every_layer_a_drill_draws(request_context):
    """The page's deck has every layer id any step of the drill sends data for (shaders compiled at
    once, no layer created or destroyed later); unchanged data is not resent, and a layer a step no
    longer draws is emptied."""
    from app.command import payload, view
    from app.command import state as command_states
    from app.pages.command import compose

    names = ("boundaries", "grid_choropleth", "incidents", "resources")
    city = view.resolve(parse_query({"layers": ",".join(names)}, known_layers=known()))
    first = compose(city, NOW, lang="zh")
    skeleton_ids = [spec["id"] for spec in first["layers"]]
    assert {"incidents-cells", "incidents-points-accident", "incidents-new", "grid-choropleth", "h3-cells", "route-lines", "route-labels"} <= set(skeleton_ids)
    previous, resolved = first["digests"], city
    for _ in range(4):  # city → district → street → community → grid, the busiest child each time
        children = reads_children(resolved)
        resolved = view.resolve(command_states.drill_to(resolved.state, children[0]))
        step = compose(resolved, NOW, previous=previous, lang="zh")
        assert step["layers"] is None  # the same deck: nothing created, nothing compiled
        assert set(step["layer_data"]) <= set(skeleton_ids)
        previous = step["digests"]
    assert "grid-choropleth" in previous["data"] and previous["data"]["grid-choropleth"] != payload.EMPTY_DIGEST
    again = compose(resolved, NOW, previous=previous, lang="zh")
    assert again["layer_data"] == {}  # a cache hit: the same digests, nothing travels
    incident_id = reads_incidents(resolved)
    chosen = view.resolve(command_states.select_incident(resolved.state, incident_id))
    with_route = compose(chosen, NOW, previous=previous, lang="zh")
    assert with_route["layers"] is None and with_route["layer_data"]["route-lines"]
    back = compose(resolved, NOW, previous=with_route["digests"], lang="zh")
    assert back["layer_data"]["route-lines"] == [] and back["layer_data"]["route-labels"] == []


def reads_incidents(resolved) -> str:
    from app.command import data as reads

    return reads.incidents_in(resolved.area["code"], reads.Window(NOW - dt.timedelta(days=30), NOW), {}, limit=1)["id"].iloc[0]


def test_the_work_order_pager_answers_the_next_page(demo_app):
    """The pager's callback over HTTP, as the browser calls it: page 2 of a grid's orders, masked for a leader."""
    from app.command import data as reads
    from tests.app.conftest import callback_body, client_for, post_callback, server_callbacks, user_of

    grid = busiest_grid(demo_app)
    window = reads.Window(NOW - ORDER_WINDOW, NOW)
    expected = orders_in_sql(demo_app, grid, window.start, window.end)
    assert len(expected) > 2 * reads.ORDERS_PER_PAGE
    key = next(key for key in server_callbacks(demo_app) if "command-orders.children" in key)
    paging = {"area": grid, "page": 0, "start": window.start.isoformat(), "end": window.end.isoformat()}
    body = callback_body(demo_app, key, {"command-orders-next.n_clicks": 1, "command-orders-page.data": paging,
                                         "command-state.data": CommandState(area=grid).to_store()}, ["command-orders-next.n_clicks"])
    answer = post_callback(client_for(demo_app.server, user_of("leader")), body)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    response = answer.get_json()["response"]
    assert response["command-orders-page"]["data"]["page"] == 1
    text = json.dumps(response["command-orders"], ensure_ascii=False)
    second = expected[reads.ORDERS_PER_PAGE:2 * reads.ORDERS_PER_PAGE]
    assert all(row["order_num"] in text for row in second) and expected[0]["order_num"] not in text
    assert not any(row["phone"] and row["phone"] in text for row in expected)  # a leader never gets a phone number in clear
    bad = {**paging, "start": "yesterday"}
    body["state"] = [{**item, "value": bad} if item["id"] == "command-orders-page" else item for item in body["state"]]
    assert post_callback(client_for(demo_app.server, user_of("leader")), body).status_code == 400


def test_the_page_opens_on_areas_without_shapes(seeded_sqlite_url, tmp_path):
    """A platform with its areas imported without geometry (and nothing located): the page opens,
    with nothing to frame, instead of failing."""
    from app.server import create_app

    dash_app = create_app(make_settings(tmp_path, seeded_sqlite_url))
    from app.pages.command import layout  # after the app: importing the page registers it

    with dash_app.server.test_request_context("/command"):
        page = layout(lang="en")
    text = str(page.to_plotly_json())
    assert "page-command" in text and "Lianyungang" in text


def test_the_aqi_surface_is_drawn_on_hexagons_zoomed_out_and_on_grids_zoomed_in(request_context):
    """A whole-city view (a wall, the console at the city) interpolates on H3 hexagons; from
    ``SURFACE_GRIDS_FROM_ZOOM`` in, on the unit grids (the small demo city has them)."""
    from app.command import data as reads
    from app.command import mapview
    from app.command.data import find_area

    city = find_area(view_city_code())
    window = reads.Window(NOW - dt.timedelta(hours=24), NOW)
    far = mapview.layer_input("aqi_surface", mapview.Step(city, window, {}, mapview.SURFACE_GRIDS_FROM_ZOOM - 2))
    near = mapview.layer_input("aqi_surface", mapview.Step(city, window, {}, mapview.SURFACE_GRIDS_FROM_ZOOM))
    assert list(far["cells"].columns) == ["h3", "lon", "lat"] and len(far["cells"]) > 0
    assert "code" in near["cells"] and "geometry" in near["cells"] and len(near["cells"]) > len(far["cells"]) / 10


def view_city_code() -> str:
    from app.command.view import resolve

    return resolve(parse_query({}, known_layers=known())).area["code"]


def test_a_communitys_choropleth_is_its_grid_values_and_shares_the_boundaries_shapes(request_context):
    """The choropleth's input, read as two cache entries (the grids' shapes, their counts), is
    ``grid_values``; its shapes are the boundaries layer's entry of the same step (one computation)."""
    from app.command import data as reads
    from app.command import mapview
    from app.command.data import find_area
    from app.context import current_context
    from queries.map_data import grid_values, tolerance_for_zoom

    community_code = _codes_of_level("community")[0]
    community = find_area(community_code)
    window = reads.Window(NOW - dt.timedelta(days=30), NOW)
    step = mapview.Step(community, window, {}, 15.0)
    cache = current_context().cache
    mapview.layer_input("boundaries", step)
    computed, hits = cache.counters.computations, cache.counters.hits
    choropleth = mapview.layer_input("grid_choropleth", step)
    assert (cache.counters.computations, cache.counters.hits) == (computed + 1, hits + 1)  # the counts computed, the shapes read
    with current_context().engine.connect() as conn:
        expected = grid_values(conn, "incidents", community_code, tolerance_for_zoom(15.0), start=window.start, end=window.end)
    assert choropleth.drop(columns="geometry").equals(expected.drop(columns="geometry")) and len(choropleth) > 0
    assert all(a.equals_exact(b, 1e-12) for a, b in zip(choropleth.geometry, expected.geometry))
    assert choropleth["count"].sum() > 0


def _codes_of_level(level: str) -> list[str]:
    from app.command.data import run_query
    from queries.areas import list_areas

    return run_query(list_areas, level=level)["code"].tolist()
