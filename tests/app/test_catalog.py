"""The data catalogue (/catalog) without a browser, on the small demo city: who may open it, what
it lists (every dataset with its freshness rule and the panels using it, every indicator), the
filter callback and the filter in the URL.

Expected rows are read from the database here (plain SQL over the catalogue and the rule of
DOMAIN.md: fresh within 1.5 update cycles, late within 3, stale beyond), never from the page's code.
"""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from queries.db import make_engine
from queries.schema import Dataset, Indicator
from tests.app.conftest import (
    callback_body,
    client_for,
    post_callback,
    response_text,
    router_body,
    server_callbacks,
    user_of,
)

CYCLE_SECONDS = {"realtime": 300, "minute": 300, "hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 31 * 86400,
                 "quarterly": 92 * 86400, "yearly": 366 * 86400}


@pytest.fixture(scope="module")
def app(secured_platform):
    dash_app = secured_platform.app()
    server_callbacks(dash_app)
    return dash_app


@pytest.fixture(scope="module")
def catalogue(secured_platform) -> dict[str, dict]:
    """The catalogue's datasets (without the system entry of specs) with their freshness, from the database."""
    engine = make_engine(secured_platform.url)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Dataset.__table__).where(Dataset.code != "specs")).all()
            result = {}
            for row in rows:
                cycle = CYCLE_SECONDS.get(row.update_cycle)
                age = None if row.last_update_at is None else (now - row.last_update_at).total_seconds()
                state = ("unknown" if cycle is None or age is None else "fresh" if age <= 1.5 * cycle else "late" if age <= 3 * cycle else "stale")
                result[row.code] = {"name": row.name, "name_en": row.name_en, "provider": row.provider, "sharing": row.sharing_type,
                                    "freshness": state, "rows": row.row_count}
            result["_indicators"] = {i.code: i for i in conn.execute(select(Indicator.__table__)).all()}
    finally:
        engine.dispose()
    return result


def analyst(app):
    return client_for(app.server, user_of("analyst"))


def page_json(app, search: str = "?lang=zh", client=None) -> dict:
    response = post_callback(client or analyst(app), router_body("/catalog", search))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]["_pages_content"]["children"]


def walk(node):
    """Every component (dict) of a layout or callback answer."""
    if isinstance(node, dict):
        if "props" in node:
            yield node
            yield from walk(node["props"].get("children"))
        else:
            for value in node.values():
                yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def by_id(layout, component_id: str) -> dict:
    return next(node for node in walk(layout) if node["props"].get("id") == component_id)


def row_codes(rows) -> list[str]:
    return [node["props"]["data-code"] for node in walk(rows) if node["type"] == "Tr" and "data-code" in node["props"]]


def texts(node) -> str:
    parts = []
    for item in walk(node):
        children = item["props"].get("children")
        for child in children if isinstance(children, list) else [children]:
            if isinstance(child, str):
                parts.append(child)
    return " ".join(parts)


def filter_key(app) -> str:
    return next(key for key in server_callbacks(app) if "catalog-datasets-body.children" in key)


def run_filter(app, client=None, **values):
    body = callback_body(app, filter_key(app), {
        "catalog-search.value": values.get("search"), "catalog-freshness.value": values.get("freshness"),
        "catalog-provider.value": values.get("provider"), "catalog-sharing.value": values.get("sharing"),
        "catalog-page.data": values.get("page", {"lang": "zh"}),
    }, changed=["catalog-search.value"])
    return post_callback(client or analyst(app), body)


def filter_answer(app, **values) -> dict:
    response = run_filter(app, **values)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]


# --- who may open it -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("analyst", 200), ("admin", 200), ("leader", 403), ("commander", 403), ("wall", 403)])
def test_only_analysts_and_admins_open_the_catalogue(app, role, status):
    client = client_for(app.server, user_of(role))
    assert client.get("/catalog").status_code == status
    assert post_callback(client, router_body("/catalog", "?lang=zh")).status_code == status
    assert run_filter(app, client=client, search="空气").status_code == status


def test_the_overview_links_to_the_catalogue_for_those_who_may_open_it(app):
    for role, linked in (("analyst", True), ("leader", False)):
        response = post_callback(client_for(app.server, user_of(role)), router_body("/", "?lang=zh"))
        assert response.status_code == 200
        assert ('"home-catalog-link"' in response.get_data(as_text=True)) is linked, role


# --- what it lists ------------------------------------------------------------------------------------------


def test_every_dataset_with_provider_sharing_cycle_freshness_and_rows(app, catalogue):
    layout = page_json(app)
    rows = [node for node in walk(by_id(layout, "catalog-datasets-body")) if node["type"] == "Tr"]
    datasets = {code: row for code, row in catalogue.items() if not code.startswith("_")}
    assert sorted(row["props"]["data-code"] for row in rows) == sorted(datasets)
    for row in rows:
        expected = datasets[row["props"]["data-code"]]
        content = texts(row)
        assert expected["name"] in content and expected["provider"] in content and f"{expected['rows']:,}" in content
        badge = next(node for node in walk(row) if "badge--" in (node["props"].get("className") or ""))
        assert badge["props"]["className"] == f"badge badge--{expected['freshness']}"
        assert {"fresh": "正常", "late": "延迟", "stale": "已过期", "unknown": "未知"}[expected["freshness"]] in content
    hourly = next(row for row in rows if datasets[row["props"]["data-code"]]["name"] == "空气质量监测站小时数据")
    assert "1.5 小时内为正常，3 小时内为延迟，超过为已过期" in texts(hourly)
    assert texts(by_id(layout, "catalog-datasets-count")) == f"显示 {len(datasets)} / {len(datasets)} 个资源"


def test_every_indicator_with_definition_unit_source_and_thresholds(app, catalogue):
    layout = page_json(app)
    indicators = catalogue["_indicators"]
    body = by_id(layout, "catalog-indicators-body")
    assert sorted(row_codes(body)) == sorted(indicators)
    aqi_row = next(node for node in walk(body) if node["type"] == "Tr" and node["props"].get("data-code") == "aqi")
    aqi = indicators["aqi"]
    content = texts(aqi_row)
    assert aqi.name_zh in content and aqi.description in content and aqi.dataset_code in content
    assert f"预警 ≥ {aqi.warn_threshold:g} · 告警 ≥ {aqi.alarm_threshold:g}" in content and "越低越好" in content
    online = next(node for node in walk(body) if node["type"] == "Tr" and node["props"].get("data-code") == "gov_online_rate")
    assert "预警 ≤ 85 % · 告警 ≤ 80 %" in texts(online)  # higher is better: the lines are below


def test_panels_using_a_dataset_link_to_the_studio(app, catalogue):
    layout = page_json(app)
    aq_code = next(code for code, row in catalogue.items() if not code.startswith("_") and row["name"] == "空气质量监测站小时数据")
    row = next(node for node in walk(by_id(layout, "catalog-datasets-body")) if node["type"] == "Tr" and node["props"].get("data-code") == aq_code)
    links = [node["props"]["href"] for node in walk(row) if node["type"] == "A"]
    queries = [parse_qs(urlsplit(href).query) for href in links]
    # The shipped default wall's AQI gauge (scene "overview"), and the city briefing's air-quality section.
    assert {"wall": ["default"], "scene": ["overview"], "panel": ["aqi"], "lang": ["zh"]} in queries
    assert any(q.get("briefing") == ["city"] and "section" in q for q in queries)
    assert all(urlsplit(href).path == "/studio" for href in links)


# --- filter and search ----------------------------------------------------------------------------------------


def expected_codes(catalogue, **wanted) -> list[str]:
    datasets = {code: row for code, row in catalogue.items() if not code.startswith("_")}
    result = []
    for code, row in datasets.items():
        words = (wanted.get("search") or "").casefold().split()
        haystack = " ".join(str(v) for v in (code, row["name"], row["name_en"] or "", row["provider"])).casefold()
        if wanted.get("freshness") and row["freshness"] not in wanted["freshness"]:
            continue
        if wanted.get("sharing") and row["sharing"] not in wanted["sharing"]:
            continue
        if wanted.get("provider") and row["provider"] not in wanted["provider"]:
            continue
        if all(word in haystack for word in words):
            result.append(code)
    return sorted(result)


@pytest.mark.parametrize("wanted", [
    {"search": "空气"}, {"search": "AIR quality"}, {"search": "LYG-JJ"}, {"search": "市生态环境局"},
    {"freshness": ["fresh"]}, {"freshness": ["late", "stale"]}, {"sharing": ["unconditional"]},
    {"provider": ["市生态环境局", "市水利局"]}, {"search": "监测", "sharing": ["conditional"]}, {"search": "没有这个"},
])
def test_the_filter_callback_keeps_exactly_the_matching_datasets(app, catalogue, wanted):
    answer = filter_answer(app, **wanted)
    shown = row_codes(answer["catalog-datasets-body"]["children"])
    assert sorted(shown) == expected_codes(catalogue, **wanted)
    total = len([code for code in catalogue if not code.startswith("_")])
    assert answer["catalog-datasets-count"]["children"] == f"显示 {len(shown)} / {total} 个资源"
    if not shown:
        assert "没有符合条件的数据资源。" in json.dumps(answer["catalog-datasets-body"], ensure_ascii=False)
    search = answer["catalog-url"]["data"]["search"]
    params = parse_qs(search.lstrip("?"))
    assert params.get("q", [""])[0] == (wanted.get("search") or "")
    for name in ("freshness", "provider", "sharing"):
        assert params.get(name, []) == wanted.get(name, [])
    assert params["lang"] == ["zh"]


def test_searching_an_indicator_by_code_and_english_name(app):
    answer = filter_answer(app, search="congestion")
    assert row_codes(answer["catalog-indicators-body"]["children"]) == ["congestion_index"]
    english = filter_answer(app, search="online HANDLING", page={"lang": "en"})
    assert row_codes(english["catalog-indicators-body"]["children"]) == ["gov_online_rate"]
    assert "1 of" in english["catalog-indicators-count"]["children"]


@pytest.mark.parametrize(("values", "field"), [
    ({"freshness": ["bogus"]}, "catalog-freshness.value[0]"),
    ({"freshness": "stale"}, "catalog-freshness.value"),
    ({"sharing": ["everyone"]}, "catalog-sharing.value[0]"),
    ({"provider": ["不存在的部门"]}, "catalog-provider.value[0]"),
    ({"search": "x" * 101}, "catalog-search.value"),
    ({"search": {"$ne": 1}}, "catalog-search.value"),
    ({"page": {"lang": "fr"}}, "catalog-page.data.lang"),
])
def test_the_callback_refuses_malformed_inputs(app, values, field):
    response = run_filter(app, **values)
    assert response.status_code == 400
    assert field in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)


def test_the_url_keeps_the_filter(app, catalogue):
    layout = page_json(app, "?q=监测&freshness=fresh,late&freshness=stale&sharing=conditional&provider=市水利局&lang=zh")
    assert by_id(layout, "catalog-search")["props"]["value"] == "监测"
    assert by_id(layout, "catalog-freshness")["props"]["value"] == ["fresh", "late", "stale"]
    assert by_id(layout, "catalog-sharing")["props"]["value"] == ["conditional"]
    assert by_id(layout, "catalog-provider")["props"]["value"] == ["市水利局"]
    shown = row_codes(by_id(layout, "catalog-datasets-body"))
    assert sorted(shown) == expected_codes(catalogue, search="监测", freshness=["fresh", "late", "stale"], sharing=["conditional"],
                                           provider=["市水利局"]) != []
    assert by_id(layout, "catalog-url")["props"]["data"]["search"] == (
        "?q=%E7%9B%91%E6%B5%8B&freshness=fresh&freshness=late&freshness=stale&provider=%E5%B8%82%E6%B0%B4%E5%88%A9%E5%B1%80"
        "&sharing=conditional&lang=zh")
    assert by_id(layout, "catalog-problems")["props"]["children"] is None


def test_link_parameters_not_understood_are_named_and_ignored(app, catalogue):
    layout = page_json(app, "?freshness=stale,rotten&sharing=everyone&provider=不存在&lang=en")
    note = texts(by_id(layout, "catalog-problems"))
    assert "freshness=rotten" in note and "sharing=everyone" in note and "provider=不存在" in note
    assert sorted(row_codes(by_id(layout, "catalog-datasets-body"))) == expected_codes(catalogue, freshness=["stale"])


def test_english(app, catalogue):
    layout = page_json(app, "?lang=en")
    assert texts(by_id(layout, "catalog-title")) == "Data catalogue"
    body = response_text(post_callback(analyst(app), router_body("/catalog", "?lang=en")))
    for row in (row for code, row in catalogue.items() if not code.startswith("_") and row["name_en"]):
        assert row["name_en"] in body
    assert "fresh within 1.5 h, late within 3 h, stale after" in body
