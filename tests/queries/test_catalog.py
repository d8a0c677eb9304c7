"""The catalogue's queries (queries.catalog) on SQLite and PostGIS: datasets with freshness and its
rule, indicators, which panels read which dataset, filter and search.

Expectations are written out from the rows the test stores, not computed by the functions under test.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import insert

from queries.cache import QueryCache
from queries.catalog import (
    CatalogFilter,
    PanelRead,
    catalogue_datasets,
    catalogue_indicators,
    dataset_links,
    filter_datasets,
    filter_indicators,
    freshness_counts,
    panel_usage,
    providers,
    with_freshness,
)
from queries.schema import Indicator
from queries.settings import Settings
from queries.specs.store import SPECS_DATASET, publish, save_version
from queries.writes import ensure_dataset, record_change

NOW = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

# code: (name, name_en, provider, provider_en, sharing, cycle, last update (None: never), row count, tables)
DATASETS = {
    "aq.hourly": ("空气质量小时数据", "Hourly air quality", "市生态环境局", "Ecology and Environment Bureau", "unconditional", "hourly",
                  NOW - HOUR, 4320, ("aq_readings", "sensors")),  # 1 h: within 1.5 h, fresh
    "traffic.speeds": ("路段实时路况", "Road speeds", "市公安局交通警察支队", "Traffic Police", "conditional", "hourly",
                       NOW - 2 * HOUR, 106_344, ("road_speeds",)),  # 2 h: within 3 h, late
    "emergency.incidents": ("突发事件信息", "Incidents", "市应急管理局", "Emergency Management Bureau", "conditional", "realtime",
                            NOW - HOUR, 2000, ("incidents", "incident_events")),  # 60 min on a 5 min cycle: stale
    "hotline.orders": ("12345热线工单", None, "市12345政务服务便民热线", None, "conditional", "daily", NOW - DAY, 1500, ("work_orders",)),
    "population.stats": ("人口基础信息统计", "Population", "市公安局", "Public Security Bureau", "none", "monthly", None, 0, ()),  # never: unknown
    "plans.misc": ("应急预案", "Emergency plans", "市应急管理局", "Emergency Management Bureau", "conditional", "on_demand",
                   NOW - 400 * DAY, 12, ()),  # irregular: unknown
}
EXPECTED_FRESHNESS = {"aq.hourly": "fresh", "traffic.speeds": "late", "emergency.incidents": "stale", "hotline.orders": "fresh",
                      "population.stats": "unknown", "plans.misc": "unknown"}
INDICATORS = [
    {"code": "aqi", "name_zh": "空气质量指数", "name_en": "Air quality index", "unit": None, "domain": "environment", "good_direction": "down",
     "warn_threshold": 100.0, "alarm_threshold": 150.0, "dataset_code": "aq.hourly", "aggregation": "mean", "description": "各站点小时AQI均值"},
    {"code": "congestion_index", "name_zh": "交通拥堵指数", "name_en": "Congestion index", "unit": None, "domain": "traffic",
     "good_direction": "down", "warn_threshold": 6.0, "alarm_threshold": 8.0, "dataset_code": "traffic.speeds", "aggregation": "weighted_mean",
     "description": None},
    {"code": "hotline_volume", "name_zh": "12345工单量", "name_en": "12345 work orders", "unit": "件", "domain": "hotline",
     "good_direction": "neutral", "warn_threshold": None, "alarm_threshold": None, "dataset_code": "hotline.orders", "aggregation": "sum",
     "description": "当日受理的12345热线工单数"},
    {"code": "resident_population", "name_zh": "常住人口", "name_en": "Resident population", "unit": "万人", "domain": "population",
     "good_direction": "neutral", "warn_threshold": None, "alarm_threshold": None, "dataset_code": None, "aggregation": "last",
     "description": None},
]


@pytest.fixture
def catalogue(engine):
    with engine.begin() as conn:
        for code, (name, name_en, provider, provider_en, sharing, cycle, last, rows, tables) in DATASETS.items():
            ensure_dataset(conn, code, name=name, name_en=name_en, provider=provider, provider_en=provider_en, sharing_type=sharing,
                           update_cycle=cycle)
            if last is not None:
                record_change(conn, code, "ingest", rows, row_count=rows, tables=tables, at=last)
        conn.execute(insert(Indicator), INDICATORS)
        # A published spec writes the system catalogue entry "specs": not a dataset of the catalogue.
        body = {"kind": "wall", "id": "w", "title": "墙", "scenes": [{"id": "s", "panels": [{"id": "g", "type": "aqi_gauge", "at": {"col": 1, "row": 1}}]}]}
        save_version(conn, body, author="test")
        publish(conn, "wall", "w", 1, by="test")
    return engine


def fresh_rows(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return with_freshness(catalogue_datasets(conn), NOW)


def test_every_dataset_with_its_catalogue_facts(catalogue):
    with catalogue.connect() as conn:
        frame = catalogue_datasets(conn)
    frame = frame.astype(object).where(frame.notna(), None)  # a missing text may come back as NaN
    assert list(frame["code"]) == sorted(DATASETS) and SPECS_DATASET not in set(frame["code"])
    for row in frame.itertuples(index=False):
        name, name_en, provider, provider_en, sharing, cycle, last, rows, _ = DATASETS[row.code]
        assert (row.name, row.name_en, row.provider, row.provider_en, row.sharing_type, row.update_cycle, int(row.row_count)) == (
            name, name_en, provider, provider_en, sharing, cycle, rows)
        assert (row.last_update_at is None) if last is None else pd.Timestamp(row.last_update_at) == pd.Timestamp(last)


def test_row_counts_are_the_catalogue_s_own_not_a_scan(catalogue):
    """4320 readings are recorded in the catalogue while aq_readings holds none: no COUNT(*) was made."""
    frame = fresh_rows(catalogue)
    assert int(frame.set_index("code").loc["aq.hourly", "row_count"]) == 4320


def test_freshness_and_the_rule_that_decided_it(catalogue):
    frame = fresh_rows(catalogue).set_index("code")
    assert frame["freshness"].to_dict() == EXPECTED_FRESHNESS
    hourly = frame.loc["aq.hourly"]
    assert (hourly.fresh_within_s, hourly.late_within_s, hourly.age_s) == (5400.0, 10800.0, 3600.0)
    realtime = frame.loc["emergency.incidents"]
    assert (realtime.fresh_within_s, realtime.late_within_s) == (450.0, 900.0)
    assert frame.loc["plans.misc"].fresh_within_s is None and frame.loc["population.stats"].age_s is None
    assert freshness_counts(frame.reset_index()) == {"fresh": 2, "late": 1, "stale": 1, "unknown": 2}


def test_indicators_with_definition_unit_source_and_thresholds(catalogue):
    with catalogue.connect() as conn:
        frame = catalogue_indicators(conn).set_index("code")
    frame = frame.astype(object).where(frame.notna(), None)
    assert list(frame.index) == sorted(i["code"] for i in INDICATORS)
    aqi = frame.loc["aqi"]
    assert (aqi.name_zh, aqi.unit, aqi.warn_threshold, aqi.alarm_threshold, aqi.good_direction, aqi.description) == (
        "空气质量指数", None, 100.0, 150.0, "down", "各站点小时AQI均值")
    assert (aqi.dataset_code, aqi.dataset_name, aqi.dataset_name_en, aqi.provider) == ("aq.hourly", "空气质量小时数据", "Hourly air quality", "市生态环境局")
    population = frame.loc["resident_population"]
    assert population.dataset_code is None and population.dataset_name is None


def test_panels_lead_to_datasets_through_tables_indicators_and_names(catalogue):
    with catalogue.connect() as conn:
        links = dataset_links(conn)
    assert links["tables"]["incidents"] == ["emergency.incidents"] and links["tables"]["sensors"] == ["aq.hourly"]
    assert SPECS_DATASET not in {code for codes in links["tables"].values() for code in codes}
    assert links["indicators"] == {"aqi": "aq.hourly", "congestion_index": "traffic.speeds", "hotline_volume": "hotline.orders",
                                   "resident_population": None}
    reads = [
        PanelRead("wall", "default", "overview", "map", "map", tables=("areas", "incidents", "road_speeds")),
        PanelRead("wall", "default", "overview", "aqi", "kpi", indicators=("aqi",)),
        PanelRead("wall", "default", "overview", "fresh", "freshness", datasets=("hotline.orders", "no.such.dataset")),
        PanelRead("wall", "default", "overview", "pop", "kpi", indicators=("resident_population",)),
        PanelRead("briefing", "city", "0", "attention", "attention", tables=("incidents",), indicators=("aqi", "congestion_index")),
        PanelRead("briefing", "city", "0", "attention", "attention", tables=("incidents",)),  # the same use again: once
    ]
    usage = panel_usage(links, reads, known=DATASETS)
    assert [tuple(r) for r in usage.itertuples(index=False)] == [
        ("emergency.incidents", "wall", "default", "overview", "map", "map"),
        ("traffic.speeds", "wall", "default", "overview", "map", "map"),
        ("aq.hourly", "wall", "default", "overview", "aqi", "kpi"),
        ("hotline.orders", "wall", "default", "overview", "fresh", "freshness"),
        ("emergency.incidents", "briefing", "city", "0", "attention", "attention"),
        ("aq.hourly", "briefing", "city", "0", "attention", "attention"),
        ("traffic.speeds", "briefing", "city", "0", "attention", "attention"),
    ]


def codes(frame) -> list[str]:
    return list(frame["code"])


@pytest.mark.parametrize(("wanted", "datasets", "indicators"), [
    (CatalogFilter(), sorted(DATASETS), ["aqi", "congestion_index", "hotline_volume", "resident_population"]),
    (CatalogFilter(search="空气"), ["aq.hourly"], ["aqi"]),  # Chinese name
    (CatalogFilter(search="ROAD"), ["traffic.speeds"], []),  # English, any case
    (CatalogFilter(search="congestion"), [], ["congestion_index"]),  # an indicator's code
    (CatalogFilter(search="12345"), ["hotline.orders"], ["hotline_volume"]),
    (CatalogFilter(search="应急管理局 预案"), ["plans.misc"], []),  # every word must match: provider and name
    (CatalogFilter(freshness=("stale", "late")), ["emergency.incidents", "traffic.speeds"], ["congestion_index"]),
    (CatalogFilter(freshness=("unknown",)), ["plans.misc", "population.stats"], []),  # resident_population has no source dataset
    (CatalogFilter(providers=("市应急管理局",)), ["emergency.incidents", "plans.misc"], []),
    (CatalogFilter(sharing=("unconditional",)), ["aq.hourly"], ["aqi"]),
    (CatalogFilter(search="air", sharing=("conditional",)), [], []),
    (CatalogFilter(search="no such thing"), [], []),
])
def test_filter_and_search(catalogue, wanted, datasets, indicators):
    rows = fresh_rows(catalogue)
    with catalogue.connect() as conn:
        all_indicators = catalogue_indicators(conn)
    assert sorted(codes(filter_datasets(rows, wanted))) == datasets
    assert codes(filter_indicators(all_indicators, rows, wanted)) == indicators


def test_providers_for_the_filter(catalogue):
    assert providers(fresh_rows(catalogue)) == sorted(
        [{"provider": "市12345政务服务便民热线", "provider_en": None}, {"provider": "市公安局", "provider_en": "Public Security Bureau"},
         {"provider": "市公安局交通警察支队", "provider_en": "Traffic Police"}, {"provider": "市应急管理局", "provider_en": "Emergency Management Bureau"},
         {"provider": "市生态环境局", "provider_en": "Ecology and Environment Bureau"}], key=lambda p: p["provider"])


def test_catalogue_reads_are_cached_until_the_catalogue_changes(catalogue, tmp_path):
    """Through the query cache the catalogue is read once per catalogue version, not once per view."""
    from sqlalchemy import update

    from queries.schema import Dataset

    cache = QueryCache.from_settings(Settings(data_dir=tmp_path, redis_url=None))
    first = cache.call(catalogue, catalogue_datasets)
    first_indicators = cache.call(catalogue, catalogue_indicators)
    with catalogue.begin() as conn:  # written behind the catalogue's back (no new version): not re-read
        conn.execute(update(Dataset).where(Dataset.code == "aq.hourly").values(row_count=1))
        conn.execute(insert(Indicator), [{"code": "zz", "name_zh": "新", "name_en": "New", "domain": "economy"}])
    assert cache.call(catalogue, catalogue_datasets).equals(first)
    assert "zz" not in set(cache.call(catalogue, catalogue_indicators)["code"])
    with catalogue.begin() as conn:  # an import's record_change makes a new catalogue version
        record_change(conn, "aq.hourly", "ingest", 1, row_count=4321, tables=("aq_readings",), at=NOW)
    assert int(cache.call(catalogue, catalogue_datasets).set_index("code").loc["aq.hourly", "row_count"]) == 4321
    assert "zz" in set(cache.call(catalogue, catalogue_indicators)["code"]) and "zz" not in set(first_indicators["code"])
