"""The spec store on SQLite and PostGIS: append-only versions, publishing, the effective wall."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, insert, select

from queries.bus import current_data_version
from queries.schema import (
    Area,
    ChangeLog,
    DatasetTable,
    Indicator,
    SpecHead,
    SpecVersion,
)
from queries.settings import Settings
from queries.specs.model import IndicatorFacts, SpecCatalogue
from queries.specs.store import (
    DEFAULT_WALL_ID,
    SPECS_DATASET,
    SpecInvalid,
    UnknownVersion,
    UnknownWall,
    catalogue_from_db,
    effective_wall,
    list_versions,
    publish,
    published_spec,
    save_version,
    spec_ids,
)
from queries.writes import ensure_dataset

WALL = {
    "kind": "wall",
    "id": "default",
    "title": {"zh": "城市运行总览", "en": "City overview"},
    "scenes": [{"id": "overview", "panels": [
        {"id": "map", "type": "map", "at": {"col": 1, "row": 1, "col_span": 12, "row_span": 12}},
        {"id": "aqi", "type": "kpi", "indicator": "aqi", "at": {"col": 13, "row": 1, "col_span": 4, "row_span": 4}},
    ]}],
}
SHIPPED = """\
kind: wall
id: default
title: 出厂默认
scenes:
  - id: only
    panels: [{id: aqi, type: aqi_gauge, at: {col: 1, row: 1}}]
"""


def wall(**changes) -> dict:
    body = copy.deepcopy(WALL)
    body.update(changes)
    return body


@pytest.fixture
def settings(tmp_path) -> Settings:
    folder = tmp_path / "specs"
    (folder / "walls").mkdir(parents=True)
    (folder / "walls" / "default.yaml").write_text(SHIPPED, encoding="utf-8")
    return Settings(specs_dir=folder, data_dir=tmp_path)


def seed_catalogue(conn) -> None:
    ensure_dataset(conn, "env.aq", name="空气质量", provider="市生态环境局", update_cycle="hourly")
    conn.execute(insert(Indicator), [{"code": "aqi", "name_zh": "空气质量指数", "name_en": "AQI", "domain": "environment", "dataset_code": "env.aq"}])
    conn.execute(insert(Area), [{"code": "320700", "level": "city", "name": "连云港市"},
                                {"code": "320706", "level": "district", "name": "海州区", "parent_code": "320700"}])


def test_save_appends_versions(engine):
    with engine.begin() as conn:
        assert save_version(conn, wall(), author="alice", comment="first") == 1
        assert save_version(conn, wall(title="第二版"), author="bob") == 2
        assert save_version(conn, wall(id="ops"), author="bob") == 1
    with engine.connect() as conn:
        versions = list_versions(conn, "wall", "default")
        assert [(v.version, v.author, v.comment, v.published) for v in versions] == [(2, "bob", None, False), (1, "alice", "first", False)]
        assert versions[0].created_at.tzinfo is not None
        assert spec_ids(conn, "wall") == ["default", "ops"] and spec_ids(conn, "briefing") == []
        assert published_spec(conn, "wall", "default") is None
        stored = conn.execute(select(SpecVersion.body).where(SpecVersion.spec_id == "default", SpecVersion.version == 2)).scalar_one()
    assert stored == wall(title="第二版")  # what the author wrote, not a normalised copy


def test_an_invalid_save_lists_every_error_and_writes_nothing(engine):
    body = wall()
    body["scenes"][0]["panels"][1]["indicator"] = "nope"
    body["scenes"][0]["panels"][1]["at"]["col"] = 12  # overlaps the map
    body["area"] = "999999"
    with engine.begin() as conn:
        seed_catalogue(conn)
    with engine.begin() as conn, pytest.raises(SpecInvalid) as caught:
        save_version(conn, body, author="alice")
    assert sorted(e.path for e in caught.value.errors) == ["area", "scenes[0].panels[1].at", "scenes[0].panels[1].indicator"]
    assert "3 errors" in str(caught.value)
    with engine.begin() as conn, pytest.raises(SpecInvalid) as caught:
        save_version(conn, {"kind": "wall", "id": "x"}, author="alice")
    assert {e.path for e in caught.value.errors} == {"title", "scenes"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SpecVersion)).scalar_one() == 0


def test_an_explicit_catalogue_checks_layers(engine):
    body = wall()
    body["scenes"][0]["panels"][0]["layers"] = ["basemap", "volcanoes"]
    with engine.begin() as conn, pytest.raises(SpecInvalid) as caught:
        save_version(conn, body, author="a", catalogue=SpecCatalogue(layers=frozenset({"basemap"})))
    assert [e.path for e in caught.value.errors] == ["scenes[0].panels[0].layers[1]"]


def test_publish_sets_the_head_and_bumps_the_data_version(engine):
    with engine.begin() as conn:
        save_version(conn, wall(), author="alice")
        save_version(conn, wall(title="第二版"), author="alice")
        before = current_data_version(conn)
    with engine.begin() as conn:
        after = publish(conn, "wall", "default", 1, by="chief")
    with engine.connect() as conn:
        assert after == current_data_version(conn) > before
        log = conn.execute(select(ChangeLog).where(ChangeLog.id == after)).one()
        assert (log.dataset_code, log.action, log.detail) == (SPECS_DATASET, "publish", {"kind": "wall", "spec_id": "default", "version": 1})
        tables = set(conn.scalars(select(DatasetTable.table_name).where(DatasetTable.dataset_code == SPECS_DATASET)))
        assert tables == {"spec_versions", "spec_heads"}
        assert published_spec(conn, "wall", "default") == (wall(), 1)
        assert [v.published for v in list_versions(conn, "wall", "default")] == [False, True]
        head = conn.execute(select(SpecHead)).one()
        assert (head.published_by, head.deleted) == ("chief", False) and head.published_at is not None
        assert SPECS_DATASET not in catalogue_from_db(conn).datasets  # a system entry, not a dataset panels can show
    with engine.begin() as conn:  # newer version, then roll back
        publish(conn, "wall", "default", 2, by="chief")
        assert published_spec(conn, "wall", "default")[1] == 2
        publish(conn, "wall", "default", 1, by="chief")
        assert published_spec(conn, "wall", "default")[1] == 1


def test_publish_refuses_missing_and_no_longer_valid_versions(engine):
    with engine.begin() as conn:
        save_version(conn, wall(), author="alice")  # the catalogue is empty: indicators unchecked
        with pytest.raises(UnknownVersion):
            publish(conn, "wall", "default", 7, by="chief")
        with pytest.raises(UnknownVersion):
            publish(conn, "wall", "nowhere", 1, by="chief")
    with engine.begin() as conn:
        conn.execute(insert(Indicator), [{"code": "co", "name_zh": "一氧化碳", "name_en": "CO", "domain": "environment"}])
        before = current_data_version(conn)
    with engine.begin() as conn, pytest.raises(SpecInvalid) as caught:
        publish(conn, "wall", "default", 1, by="chief")
    assert [e.path for e in caught.value.errors] == ["scenes[0].panels[1].indicator"]
    with engine.connect() as conn:
        assert published_spec(conn, "wall", "default") is None and current_data_version(conn) == before


def test_effective_wall_prefers_the_published_version(engine, settings):
    with engine.begin() as conn:
        shipped = effective_wall(conn, DEFAULT_WALL_ID, settings)
        assert (shipped.source, shipped.version, shipped.spec.title.zh) == ("file", None, "出厂默认")
        save_version(conn, wall(), author="alice")
        assert effective_wall(conn, "default", settings).source == "file"  # a draft is not shown
        publish(conn, "wall", "default", 1, by="chief")
        live = effective_wall(conn, "default", settings)
        assert (live.source, live.version, live.spec.title.zh) == ("database", 1, "城市运行总览")
        conn.execute(SpecHead.__table__.update().values(deleted=True))
        assert effective_wall(conn, "default", settings).source == "file"
        assert spec_ids(conn, "wall") == []


def test_a_published_body_the_model_no_longer_accepts_falls_back_to_the_file(engine, settings):
    with engine.begin() as conn:
        save_version(conn, wall(), author="alice")
        publish(conn, "wall", "default", 1, by="chief")
        conn.execute(SpecVersion.__table__.update().values(body={"kind": "wall", "id": "default"}))
        assert effective_wall(conn, "default", settings).source == "file"


def test_unknown_wall_lists_the_known_ones(engine, settings):
    with engine.begin() as conn:
        save_version(conn, wall(id="ops"), author="alice")
        publish(conn, "wall", "ops", 1, by="chief")
        save_version(conn, wall(id="draft-only"), author="alice")
        assert effective_wall(conn, "ops", settings).source == "database"
        with pytest.raises(UnknownWall) as caught:
            effective_wall(conn, "lobby", settings)
    assert caught.value.known == ["default", "ops"]
    assert str(caught.value) == "unknown wall 'lobby'; known walls: default, ops"


def test_catalogue_from_db(engine):
    with engine.begin() as conn:
        assert catalogue_from_db(conn) == SpecCatalogue()
        seed_catalogue(conn)
        catalogue = catalogue_from_db(conn, ["basemap", "incidents"])
    assert catalogue == SpecCatalogue(indicators=frozenset({"aqi"}), layers=frozenset({"basemap", "incidents"}),
                                      areas=frozenset({"320700", "320706"}), datasets=frozenset({"env.aq"}),
                                      indicator_facts={"aqi": IndicatorFacts(None, "neutral")})
