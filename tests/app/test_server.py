"""The app factory: offline by construction, pages registered, shell and home page in both languages."""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import dash
import requests
from plotly.utils import PlotlyJSONEncoder

from app.server import ASSETS_DIR, create_app
from app.shell import header_children, page_for_path, with_lang
from tests.app.conftest import make_settings, seed_small_platform, serving, url_of

EXTERNAL_URL = re.compile(r"""(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)


def text_of(component) -> str:
    """All text in a Dash component tree, for content checks without a browser."""
    return json.dumps(component, cls=PlotlyJSONEncoder, ensure_ascii=False)


def test_create_app_does_no_database_work_and_keeps_state_on_the_server(tmp_path):
    dash_app = create_app(make_settings(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"))
    context = dash_app.server.extensions["cityops"]
    assert context.settings.database_url.endswith("/nowhere")
    assert context.engine.dialect.name == "postgresql"
    assert dash_app.config.serve_locally is True
    assert dash_app.config.assets_folder == str(ASSETS_DIR)


def test_dash_is_set_up_by_create_app_not_by_a_first_request(sqlite_engine, tmp_path):
    """Dash's first-request set-up is racy (a flag first, the work after): create_app does it."""
    dash_app = create_app(make_settings(tmp_path, url_of(sqlite_engine)))
    assert dash_app._got_first_request == {"pages": True, "setup_server": True}
    assert ".._pages_content.children..._pages_store.data.." in dash_app.callback_map  # the pages router


def test_concurrent_first_requests_of_a_threaded_server_all_succeed(sqlite_engine, tmp_path):
    with serving(tmp_path, url_of(sqlite_engine)) as base_url, ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{base_url}/_dash-dependencies", timeout=30).status_code, range(32)))
    assert statuses == [200] * 32


def test_index_page_loads_nothing_from_outside(sqlite_engine, tmp_path):
    client = create_app(make_settings(tmp_path, url_of(sqlite_engine))).server.test_client()
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "/assets/cityops.css" in html
    assert not EXTERNAL_URL.search(html), "the index must not reference another host"
    assert "_dash-component-suites" in html  # Dash serves its own bundles
    css = client.get("/assets/cityops.css").get_data(as_text=True)
    assert "@import" not in css and "url(http" not in css
    assert "Noto Sans CJK SC" in css


def test_home_and_not_found_pages_are_registered(sqlite_engine, tmp_path):
    create_app(make_settings(tmp_path, url_of(sqlite_engine)))
    paths = {page["path"]: page for page in dash.page_registry.values()}
    assert "/" in paths and paths["/"]["module"] == "app.pages.home"
    assert any(module.endswith("not_found_404") for module in dash.page_registry)


def test_unknown_paths_still_serve_the_app_and_healthz_is_not_shadowed(sqlite_engine, tmp_path):
    client = create_app(make_settings(tmp_path, url_of(sqlite_engine))).server.test_client()
    assert client.get("/no/such/page").status_code == 200
    assert client.get("/healthz").is_json


def test_header_follows_language_and_marks_the_active_page(sqlite_engine, tmp_path):
    create_app(make_settings(tmp_path, url_of(sqlite_engine)))
    zh = text_of(dash.html.Div(header_children("/", "", "zh")))
    en = text_of(dash.html.Div(header_children("/", "?lang=en", "en")))
    assert "城市运行管理中心" in zh and "总览" in zh
    assert "City Operations Centre" in en and "Overview" in en and "城市运行管理中心" not in en
    assert "is-active" in en
    assert page_for_path("/")["module"] == "app.pages.home"


def test_language_links_keep_the_rest_of_the_query():
    assert with_lang("/command", "?area=320706&lang=zh", "en") == "/command?area=320706&lang=en"
    assert with_lang("/", None, "zh") == "/?lang=zh"


def test_home_layout_shows_counts_version_and_catalogue(engine, tmp_path):
    seed_small_platform(engine)
    dash_app = create_app(make_settings(tmp_path, url_of(engine)))
    home = dash.page_registry["app.pages.home"]["layout"]
    with dash_app.server.test_request_context("/"):
        zh = text_of(home())
        en = text_of(home(lang="en"))
    assert "城市运行概览" in zh and "区县" in zh and "v2" in zh
    assert "空气质量小时数据" in zh and "已过期" in zh and "正常" in zh
    assert "City overview" in en and "Hourly air quality" in en and "Stale" in en and "Fresh" in en
    assert "城市运行概览" not in en


def test_home_layout_explains_a_database_outage(tmp_path):
    dash_app = create_app(make_settings(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"))
    home = dash.page_registry["app.pages.home"]["layout"]
    with dash_app.server.test_request_context("/"):
        assert "The database is unavailable" in text_of(home(lang="en"))


def test_pages_registered_later_join_the_nav_by_themselves(sqlite_engine, tmp_path):
    create_app(make_settings(tmp_path, url_of(sqlite_engine)))
    dash.register_page("tests.app.fake_wall", path="/wall", name="大屏", name_en="Wall", order=20, chrome=False, layout=dash.html.Div())
    dash.register_page("tests.app.fake_tool", path="/tool", name="工具", name_en="Tool", order=30, layout=dash.html.Div())
    try:
        zh = text_of(dash.html.Div(header_children("/tool", "", "zh")))
        en = text_of(dash.html.Div(header_children("/tool", "", "en")))
        assert "大屏" in zh and "工具" in zh  # catalogue label for /wall, the page's own name for /tool
        assert "Video wall" in en and "Tool" in en
        assert "/tool?lang=en" in en
        assert page_for_path("/wall/scene/2")["chrome"] is False
    finally:
        dash.page_registry.pop("tests.app.fake_wall", None)
        dash.page_registry.pop("tests.app.fake_tool", None)
