"""The benchmark suite (``cityops bench``) and the load generator (``app.loadtest``): they run and
report what they claim. No time is asserted anywhere: figures are for people to read."""
from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from app.loadtest import Credentials, DashPage, LiveStore, format_load_table, id_key, router_body, run_phase, session_mix

# --- DashPage: the part of Dash's renderer the load generator and the page bench rely on -------------


def component(kind: str, component_id=None, children=None, **props) -> dict:
    body = dict(props)
    if component_id is not None:
        body["id"] = component_id
    if children is not None:
        body["children"] = children
    return {"type": kind, "namespace": "dash_html_components", "props": body}


DEPENDENCIES = [
    {"output": "..panel.children...store.data..", "inputs": [{"id": '{"code":["ALL"],"type":"item"}', "property": "n_clicks"},
                                                              {"id": "beat", "property": "data"}],
     "state": [{"id": "store", "property": "data"}], "clientside_function": None, "prevent_initial_call": False},
    {"output": "store.id", "inputs": [{"id": "store", "property": "data"}], "state": [], "clientside_function": {"namespace": "x", "function_name": "y"}},
    {"output": "late.children", "inputs": [{"id": "store", "property": "data"}], "state": [], "clientside_function": None, "prevent_initial_call": True},
]


def page_with_items() -> DashPage:
    page = DashPage()
    page.load(component("Div", "root", [
        component("Store", "store", data={"n": 1}),
        component("Store", "beat", data=0),
        component("Div", "panel", [component("Button", {"type": "item", "code": "A"}, n_clicks=0),
                                   component("Div", None, [component("Button", {"type": "item", "code": "B"}, n_clicks=2)])]),
    ]), DEPENDENCIES)
    return page


def test_ids_are_stringified_like_dash():
    assert id_key({"type": "item", "code": "320706"}) == '{"code":"320706","type":"item"}'
    assert id_key("wall-config") == "wall-config"


def test_a_request_lists_every_match_of_an_all_pattern_with_its_value():
    page = page_with_items()
    body = page.body("..panel.children...store.data..", ['{"code":"B","type":"item"}.n_clicks'])
    assert body["output"] == "..panel.children...store.data.."
    assert body["outputs"] == [{"id": "panel", "property": "children"}, {"id": "store", "property": "data"}]
    clicks, beat = body["inputs"]
    assert sorted((item["id"]["code"], item["value"]) for item in clicks) == [("A", 0), ("B", 2)]
    assert beat == {"id": "beat", "property": "data", "value": 0}
    assert body["state"] == [{"id": "store", "property": "data", "value": {"n": 1}}]
    assert body["changedPropIds"] == ['{"code":"B","type":"item"}.n_clicks']
    assert "store.id" not in page.callbacks  # clientside callbacks are the browser's


def test_an_answer_replaces_the_components_that_lived_in_the_old_children():
    page = page_with_items()
    added = page.apply({"multi": True, "response": {
        "panel": {"children": [component("Button", {"type": "item", "code": "C"}, n_clicks=0)]},
        "store": {"data": {"n": 2}},
    }})
    assert added == ['{"code":"C","type":"item"}']
    assert [i["code"] for i in page.find(type="item")] == ["C"]  # A and the nested B are gone
    assert page.get("store", "data") == {"n": 2}
    assert page.apply({"response": {"unknown": {"children": []}}}) == []  # an answer for a component not on the page changes nothing


def test_initial_callbacks_are_those_dash_runs_when_their_components_appear():
    page = page_with_items()
    assert page.initial_callbacks(["panel"]) == ["..panel.children...store.data.."]
    assert page.initial_callbacks(["elsewhere"]) == []
    assert "late.children" not in page.initial_callbacks(["store"])  # prevent_initial_call


def test_the_router_request_is_the_pages_location():
    body = router_body("/command", "?lang=en")
    assert body["inputs"][0] == {"id": "_pages_location", "property": "pathname", "value": "/command"}
    assert body["inputs"][1]["value"] == "?lang=en"


def test_the_live_store_keeps_fifty_newest_first_and_drops_repeats():
    store = LiveStore()
    for number in range(60):
        assert store.push({"id": f"e{number}", "type": "data_version"})
    assert not store.push({"id": "e59", "type": "data_version"})
    value = store.value()
    assert value["seq"] == 60 and len(value["recent"]) == 50
    assert value["last"]["id"] == "e59" and value["recent"][-1]["id"] == "e10"


def new_incident(number: int, grid: str, severity: int = 2, category: str = "accident") -> dict:
    payload = {"incident_id": f"I{number}", "severity": severity, "category": category, "status": "reported", "channel": "110",
               "district_code": grid[:6], "street_code": grid[:9], "community_code": grid[:12], "grid_code": grid}
    return {"id": f"incident:I{number}:1", "type": "incident.new", "payload": payload}


def test_the_consoles_live_gate_admits_new_incidents_it_shows_once():
    """LiveGate, as the page's clientside gate: a new incident in the console's area and filters,
    received since it last drew, and each only once."""
    from app.loadtest import LiveGate

    store, gate = LiveStore(), LiveGate(slack_s=3.0)
    district = {"scope": {"level": "district", "code": "320706"}}
    store.push({"id": "dv:1", "type": "data_version"})
    assert gate.admit(store, {}, district) is None  # no incident
    store.push(new_incident(1, "320707001001001"))
    assert gate.admit(store, {}, district) is None  # another district
    store.push(new_incident(2, "320706001001001", severity=4))
    assert gate.admit(store, {"severity": [1, 2]}, district) is None  # filtered out
    store.push(new_incident(5, "320706002001001", severity=4))
    admitted = gate.admit(store, {"severity": [1, 2, 4]}, district)
    assert admitted["last"]["id"] == "incident:I5:1" and [e["id"] for e in admitted["recent"]] == ["incident:I5:1"]  # I2 was looked at
    store.push({"id": "dv:2", "type": "data_version"})
    assert gate.admit(store, {}, district) is None  # I5 handled already
    store.push(new_incident(3, "320707001001001"))
    assert gate.admit(store, {}, district) is None  # received after the last look, but elsewhere

    city = LiveGate(slack_s=3.0)
    assert [e["id"] for e in city.admit(store, {}, {"scope": None})["recent"]] == ["incident:I3:1", "incident:I5:1", "incident:I2:1", "incident:I1:1"]
    city.drew()
    city.since += 10  # a drawing that arrived after everything in the store
    store.push(new_incident(4, "320706001001001"))
    assert city.admit(store, {}, {"scope": None}) is None


@pytest.mark.parametrize("sessions, walls, commanders, leaders", [(1, 1, 0, 0), (10, 1, 4, 5), (50, 3, 20, 27), (200, 4, 80, 116)])
def test_session_mix(sessions, walls, commanders, leaders):
    assert session_mix(sessions) == {"wall": walls, "commander": commanders, "leader": leaders}


# --- the load generator against a real server ----------------------------------------------------------


@pytest.fixture
def demo_server(tmp_path):
    """The app on the small demo city (areas with boundaries, incidents, the default wall's
    indicators) in SQLite, served on a free port in a thread; yields (base URL, database URL)."""
    import threading

    from werkzeug.serving import make_server

    from app.server import create_app
    from queries.db import make_engine
    from queries.demo import build_demo_city
    from queries.migrate import ensure_schema
    from tests.app.conftest import ensure_test_users, free_port, make_settings

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    build_demo_city(engine, "small", 20261121)
    ensure_test_users(engine)
    engine.dispose()
    server = make_server("127.0.0.1", free_port(), create_app(make_settings(tmp_path, url)).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", url
    server.shutdown()
    thread.join(timeout=10)


@pytest.mark.slow
def test_sessions_of_every_kind_run_against_a_live_server(demo_server):
    """A wall (token link), a commander and a leader (log-in form) for 40 seconds: every kind
    of action happens, nothing fails, the commander's drill reaches the server's callbacks."""
    from queries.auth import issue_token
    from queries.db import make_engine
    from tests.app.conftest import TEST_PASSWORD, user_of

    live_server, database_url = demo_server
    engine = make_engine(database_url)
    with engine.begin() as conn:
        token = issue_token(conn, user_of("wall"))
    engine.dispose()
    credentials = Credentials(walls=[f"/wall/default?token={token}"], commanders=[(user_of("commander"), TEST_PASSWORD)],
                              leaders=[(user_of("leader"), TEST_PASSWORD)])
    # In a thread of its own: a browser test earlier in this worker leaves Playwright's event loop
    # running in the main thread, where asyncio.run() refuses to start another.
    with ThreadPoolExecutor(1) as pool:
        figures = pool.submit(asyncio.run, run_phase(live_server, 3, 40.0, credentials, ramp=0.0, fetch_assets=True,
                                                     mix={"wall": 1, "commander": 1, "leader": 1})).result()
    assert figures["errors"] == 0, figures["error_samples"]
    assert {"login", "wall.open", "wall.refresh", "command.open", "drill", "briefing.open"} <= set(figures["actions"]), figures["actions"]
    assert figures["actions"]["login"]["n"] == 2
    kinds = figures["request_kinds"]
    assert kinds.get("command-step", {}).get("n", 0) >= 1 or (kinds["command-state"]["n"] >= 1 and kinds["command-render"]["n"] >= 1)
    assert figures["request_kinds"]["asset"]["n"] >= 10  # the page's scripts, once per browser
    assert figures["sse"]["opened"] >= 2 and figures["sse"]["refused"] == 0  # the wall's and the commander's streams
    for name, action in figures["actions"].items():
        assert action["p50_ms"] <= action["p95_ms"] <= action["p99_ms"] <= action["max_ms"], name
    # After the last of the three had its page open: a subset of the same actions, no log-in.
    assert 0 < figures["all_open_s"] < 40
    assert "login" not in figures["steady_actions"] and figures["steady_actions"]["wall.refresh"]["n"] >= 1
    assert all(steady["n"] <= figures["actions"][name]["n"] for name, steady in figures["steady_actions"].items())
    assert "after every session had its page open" in format_load_table([figures])


# --- cityops bench ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cityops_bench_runs_every_benchmark_and_writes_json(tmp_path, monkeypatch):
    """``cityops bench --scale small --db sqlite``: every part but the 1M-point grid assignment
    (its own tests cover it), figures beside their baselines, a table and the JSON file."""
    from app.cli import main

    monkeypatch.setenv("CITYOPS_DATA_DIR", str(tmp_path))
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--scale", "small", "--db", "sqlite", "--skip", "grid", "--json", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())
    figures = results["databases"]["sqlite"]
    assert results["scale"] == "small" and results["sizes"]["ingest_rows"] == 20_000
    assert figures["demo_build_reused"] is False and figures["demo_rows"] > 100_000 and figures["demo_build_s"] > 0
    assert figures["ingest_rows"] == 20_000 and figures["ingest_first_rows_per_s"] > 0 and figures["ingest_reimport_rows_per_s"] > 0
    assert figures["drill_steps"] > 5 and figures["concurrent_20_computations"] == 1
    assert figures["drill_cold_p95_ms"] > 0 and figures["drill_warm_p95_ms"] > 0
    common = results["common"]
    for label in ("month", "synthetic"):
        assert common[f"layer_{label}_points"] > 0
        assert common[f"layer_{label}_binary_bytes"] < common[f"layer_{label}_pydeck_bytes"]  # the point of the binary layer
        assert common[f"layer_{label}_aggregated_bytes"] < common[f"layer_{label}_pydeck_bytes"]
    assert common["layer_synthetic_points"] == 50_000
    for page in ("home", "assets", "command", "command_drill", "wall", "wall_refresh", "briefing"):
        assert figures[f"page_{page}_bytes"] > 0 and figures[f"page_{page}_requests"] >= 1, page
        assert 0 < figures[f"page_{page}_gzip_bytes"] <= figures[f"page_{page}_bytes"], page
    assert figures["page_command_requests"] >= 5  # index, layout, dependencies, router, shell
    assert figures["page_command_drill_requests"] in (1, 2)  # the state and its render: one callback or two
    assert "grid_agg_1m_s" not in figures
    table = result.output
    for name in ("demo_build_s", "ingest_first_rows_per_s", "drill_cold_p95_ms", "page_wall_refresh_bytes", "layer_synthetic_pydeck_bytes"):
        assert name in table, name

    again = CliRunner().invoke(main, ["bench", "--scale", "small", "--db", "sqlite", "--skip", "grid", "--skip", "ingest", "--skip", "layers",
                                      "--skip", "pages", "--json", str(out)], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    reused = json.loads(out.read_text())["databases"]["sqlite"]
    assert reused["demo_build_reused"] is True and reused["demo_build_s"] == figures["demo_build_s"]  # the build's figure, kept
    assert "ingest_rows" not in reused and "page_home_bytes" not in reused


def test_grid_assignment_figures_match_the_sjoin_baseline(secured_platform):
    """The grid benchmark on the small demo city: our counts per grid equal sjoin's, and the
    ratio is of the best runs of each side."""
    from sqlalchemy import create_engine

    from app.bench import GRID_AGG_RUNS, bench_grid_assignment

    engine = create_engine(secured_platform.url)
    try:
        figures = bench_grid_assignment(engine, points=20_000)
    finally:
        engine.dispose()
    assert figures["grid_agg_points"] == 20_000 and figures["grid_agg_grids"] > 0
    assert figures["grid_agg_points_differing"] == 0 and figures["grid_agg_runs"] == GRID_AGG_RUNS
    assert figures["grid_agg_speedup_vs_sjoin"] == pytest.approx(figures["grid_agg_sjoin_1m_s"] / figures["grid_agg_1m_s"], rel=0.05)


def test_best_of_keeps_the_fastest_run_and_the_last_result():
    from app.bench import best_of

    calls = []
    seconds, result = best_of(3, lambda: calls.append(len(calls)) or len(calls))
    assert calls == [0, 1, 2] and result == 3 and seconds >= 0
