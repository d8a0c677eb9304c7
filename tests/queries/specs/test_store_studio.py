"""The studio's store operations on SQLite and PostGIS: diffs, rollback, delete/archive, summaries,
drafts never shown, and the checks added for the studio (thresholds against the unit, the canvas)."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import insert, select

from queries.bus import current_data_version
from queries.schema import Area, ChangeLog, Indicator, SpecVersion
from queries.settings import Settings
from queries.specs.model import validate_wall
from queries.specs.store import (
    SpecInvalid,
    UnknownVersion,
    catalogue_from_db,
    delete_spec,
    diff_bodies,
    effective_wall,
    get_version,
    list_versions,
    publish,
    published_spec,
    rollback,
    save_version,
    spec_ids,
    spec_summaries,
    to_yaml,
    version_diff,
)
from queries.writes import ensure_dataset

WALL = {
    "kind": "wall",
    "id": "ops",
    "title": {"zh": "值班大屏", "en": "Duty wall"},
    "canvas": {"width": 1920, "height": 1080},
    "grid": {"columns": 4, "rows": 2, "gap": 8},
    "scenes": [{"id": "main", "panels": [
        {"id": "pm", "type": "kpi", "indicator": "pm2_5", "at": {"col": 1, "row": 1, "col_span": 2}},
        {"id": "rate", "type": "trend", "indicator": "gov_online_rate", "at": {"col": 3, "row": 1, "col_span": 2}},
    ]}],
}
SHIPPED = """\
kind: wall
id: ops
title: 出厂值班大屏
scenes:
  - id: only
    panels: [{id: aqi, type: aqi_gauge, at: {col: 1, row: 1}}]
"""


def wall(title: str = "值班大屏", **panel_changes) -> dict:
    body = copy.deepcopy(WALL)
    body["title"]["zh"] = title
    for index, changes in panel_changes.items():
        body["scenes"][0]["panels"][int(index.lstrip("p"))].update(changes)
    return body


@pytest.fixture
def settings(tmp_path) -> Settings:
    folder = tmp_path / "specs"
    (folder / "walls").mkdir(parents=True)
    (folder / "walls" / "ops.yaml").write_text(SHIPPED, encoding="utf-8")
    return Settings(specs_dir=folder, data_dir=tmp_path)


def seed_indicators(conn) -> None:
    ensure_dataset(conn, "env.aq", name="空气质量", provider="市生态环境局", update_cycle="hourly")
    conn.execute(insert(Indicator), [
        {"code": "pm2_5", "name_zh": "PM2.5浓度", "name_en": "PM2.5", "unit": "μg/m³", "domain": "environment", "good_direction": "down",
         "warn_threshold": 75, "alarm_threshold": 115, "dataset_code": "env.aq"},
        {"code": "gov_online_rate", "name_zh": "一网通办网上办理率", "name_en": "Online handling rate", "unit": "%", "domain": "government_service",
         "good_direction": "up", "warn_threshold": 85, "alarm_threshold": 80, "dataset_code": None},
        {"code": "water_level_margin", "name_zh": "最高水位距警戒", "name_en": "Highest level above warning", "unit": "m", "domain": "emergency",
         "good_direction": "down", "warn_threshold": -0.3, "alarm_threshold": 0, "dataset_code": None},
        {"code": "aqi", "name_zh": "空气质量指数", "name_en": "Air quality index", "unit": None, "domain": "environment", "good_direction": "down",
         "warn_threshold": 100, "alarm_threshold": 150, "dataset_code": "env.aq"},
    ])
    conn.execute(insert(Area), [{"code": "320700", "level": "city", "name": "连云港市"}])


# --- diffs -------------------------------------------------------------------------------------------


def test_version_diff_against_the_previous_and_the_published_version(engine):
    with engine.begin() as conn:
        save_version(conn, wall(), author="alice")
        save_version(conn, wall("值班大屏二"), author="alice")
        save_version(conn, wall("值班大屏二", p1={"window": "7d"}), author="bob")
        publish(conn, "wall", "ops", 1, by="chief")
    with engine.connect() as conn:
        previous = version_diff(conn, "wall", "ops", 3)
        published = version_diff(conn, "wall", "ops", 3, against="published")
        first = version_diff(conn, "wall", "ops", 1)
        explicit = version_diff(conn, "wall", "ops", 2, against=1)
        with pytest.raises(UnknownVersion):
            version_diff(conn, "wall", "ops", 9)
    assert previous[:2] == ["--- ops v2", "+++ ops v3"]
    assert [line for line in previous if line[:1] in "+-" and line[:3] not in ("---", "+++")] == ["+    window: 7d"]
    changed = [line for line in published if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert changed == ["-  zh: 值班大屏", "+  zh: 值班大屏二", "+    window: 7d"]  # Chinese as is, not escaped
    assert first[:2] == ["--- (nothing)", "+++ ops v1"] and all(line.startswith(("+", "@@", "---")) for line in first)
    assert explicit == diff_bodies(wall(), wall("值班大屏二"), old_label="ops v1", new_label="ops v2")
    assert diff_bodies(wall(), wall(), old_label="a", new_label="b") == []


def test_to_yaml_keeps_the_authors_order_and_reads_back():
    import yaml

    text = to_yaml(WALL)
    assert text.startswith("kind: wall\nid: ops\ntitle:\n  zh: 值班大屏\n")
    assert yaml.safe_load(text) == WALL


# --- rollback ----------------------------------------------------------------------------------------


def test_rolling_back_a_published_head_publishes_the_old_body(engine, settings):
    with engine.begin() as conn:
        save_version(conn, wall("第一版"), author="alice")
        publish(conn, "wall", "ops", 1, by="alice")
        save_version(conn, wall("第二版"), author="alice")
        publish(conn, "wall", "ops", 2, by="alice")
        before = current_data_version(conn)
    with engine.begin() as conn:
        result = rollback(conn, "wall", "ops", 1, author="bob")
    with engine.connect() as conn:
        assert (result.version, result.published) == (3, True)
        assert result.data_version == current_data_version(conn) > before
        assert published_spec(conn, "wall", "ops") == (wall("第一版"), 3)
        assert effective_wall(conn, "ops", settings).spec.title.zh == "第一版"
        newest = list_versions(conn, "wall", "ops")[0]
        assert (newest.version, newest.author, newest.comment, newest.published) == (3, "bob", "rollback to v1", True)
        assert get_version(conn, "wall", "ops", 2) == wall("第二版")  # history is never rewritten
        assert conn.execute(select(ChangeLog.action).where(ChangeLog.id == result.data_version)).scalar_one() == "publish"


def test_rolling_back_a_draft_head_is_a_draft(engine, settings):
    with engine.begin() as conn:
        save_version(conn, wall("第一版"), author="alice")
        publish(conn, "wall", "ops", 1, by="alice")
        save_version(conn, wall("草稿"), author="alice")  # head v2 is a draft
        before = current_data_version(conn)
        result = rollback(conn, "wall", "ops", 1, author="bob")
        assert (result.version, result.published, result.data_version) == (3, False, None)
        assert current_data_version(conn) == before
        assert published_spec(conn, "wall", "ops")[1] == 1
        assert get_version(conn, "wall", "ops", 3) == wall("第一版")


def test_a_rollback_to_a_body_that_no_longer_validates_writes_nothing(engine):
    with engine.begin() as conn:
        save_version(conn, wall(), author="alice")  # no indicators in the catalogue yet: unchecked
        publish(conn, "wall", "ops", 1, by="alice")
        save_version(conn, wall("第二版"), author="alice")
        publish(conn, "wall", "ops", 2, by="alice")
        seed_indicators(conn)
        conn.execute(Indicator.__table__.delete().where(Indicator.code == "pm2_5"))
    with engine.begin() as conn, pytest.raises(SpecInvalid) as caught:
        rollback(conn, "wall", "ops", 1, author="bob")
    assert [e.path for e in caught.value.errors] == ["scenes[0].panels[0].indicator"]
    with engine.connect() as conn:
        assert [v.version for v in list_versions(conn, "wall", "ops")] == [2, 1]
        with pytest.raises(UnknownVersion):
            rollback(conn, "wall", "ops", 7, author="bob")


# --- delete (archive) ---------------------------------------------------------------------------------


def test_deleting_a_live_spec_withdraws_it_and_keeps_its_versions(engine, settings):
    with engine.begin() as conn:
        save_version(conn, wall("库中版本"), author="alice")
        publish(conn, "wall", "ops", 1, by="alice")
        before = current_data_version(conn)
        data_version = delete_spec(conn, "wall", "ops", by="bob")
    with engine.connect() as conn:
        assert data_version == current_data_version(conn) > before
        assert conn.execute(select(ChangeLog.action).where(ChangeLog.id == data_version)).scalar_one() == "delete"
        assert published_spec(conn, "wall", "ops") is None and spec_ids(conn, "wall") == [] and spec_summaries(conn, "wall") == []
        assert effective_wall(conn, "ops", settings).source == "file"  # back to the shipped file of that id
        assert conn.execute(select(SpecVersion.version).where(SpecVersion.spec_id == "ops")).scalars().all() == [1]
    with engine.begin() as conn:  # the same id saved again: back as a draft, numbering goes on, nothing live
        assert save_version(conn, wall("重建"), author="carol") == 2
        assert spec_ids(conn, "wall") == ["ops"] and published_spec(conn, "wall", "ops") is None
        publish(conn, "wall", "ops", 1, by="carol")  # any version can be published again
        assert effective_wall(conn, "ops", settings).spec.title.zh == "库中版本"


def test_deleting_a_draft_only_spec_records_no_change_and_nothing_stored_is_refused(engine):
    with engine.begin() as conn:
        save_version(conn, wall(), author="alice")
        before = current_data_version(conn)
        assert delete_spec(conn, "wall", "ops", by="alice") is None
        assert current_data_version(conn) == before and spec_ids(conn, "wall") == []
        with pytest.raises(UnknownVersion):
            delete_spec(conn, "wall", "nothing-here", by="alice")


# --- drafts and summaries ------------------------------------------------------------------------------


def test_drafts_are_never_what_walls_show(engine, settings):
    with engine.begin() as conn:
        save_version(conn, wall("草稿一"), author="alice")
        assert effective_wall(conn, "ops", settings).source == "file"
        publish(conn, "wall", "ops", 1, by="alice")
        save_version(conn, wall("草稿二"), author="alice")
        live = effective_wall(conn, "ops", settings)
        assert (live.version, live.spec.title.zh) == (1, "草稿一")


def test_spec_summaries_show_head_and_published_versions(engine):
    with engine.begin() as conn:
        save_version(conn, wall("第一版"), author="alice")
        publish(conn, "wall", "ops", 1, by="chief")
        save_version(conn, wall("第二版"), author="bob")
        other = wall("另一块")
        other["id"] = "lobby"
        save_version(conn, other, author="carol")
    with engine.connect() as conn:
        lobby, ops = spec_summaries(conn, "wall")  # by id
        assert spec_summaries(conn, "briefing") == []
    assert (ops.spec_id, ops.latest_version, ops.latest_author, ops.published_version, ops.published_by, ops.has_draft) == \
        ("ops", 2, "bob", 1, "chief", True)
    assert ops.title == {"zh": "第二版", "en": "Duty wall"} and ops.latest_at.tzinfo is not None
    assert (lobby.spec_id, lobby.published_version, lobby.published_at, lobby.has_draft) == ("lobby", None, None, True)


# --- the checks the studio relies on --------------------------------------------------------------------


@pytest.mark.parametrize("panel, thresholds, path, words", [
    (1, {"warn": 85, "alarm": 120}, "scenes[0].panels[1].thresholds.alarm", "not a percentage"),
    (1, {"warn": -5, "alarm": 80}, "scenes[0].panels[1].thresholds.warn", "not a percentage"),
    (0, {"warn": -10}, "scenes[0].panels[0].thresholds.warn", "negative value makes no sense for μg/m³"),
    (0, {"warn": 115, "alarm": 75}, "scenes[0].panels[0].thresholds.alarm", "must be above the warn line"),
    (1, {"warn": 80, "alarm": 85}, "scenes[0].panels[1].thresholds.alarm", "must be below the warn line"),
])
def test_thresholds_that_make_no_sense_for_the_unit_are_refused(engine, panel, thresholds, path, words):
    with engine.begin() as conn:
        seed_indicators(conn)
    body = wall(**{f"p{panel}": {"thresholds": thresholds}})
    with engine.begin() as conn, pytest.raises(SpecInvalid) as caught:
        save_version(conn, body, author="alice")
    assert [e.path for e in caught.value.errors] == [path]
    assert words in caught.value.errors[0].message
    with engine.connect() as conn:
        assert list_versions(conn, "wall", "ops") == []


def test_sensible_thresholds_signed_units_and_ranges(engine):
    with engine.begin() as conn:
        seed_indicators(conn)
        body = wall(p0={"thresholds": {"warn": 60, "alarm": 90}, "colors": {"warn": "#ffaa00", "alarm": "#ff0000"}},
                    p1={"thresholds": {"warn": 90, "alarm": 85}, "chart": "bar"})
        assert save_version(conn, body, author="alice") == 1
        catalogue = catalogue_from_db(conn)
    signed = wall(p0={"indicator": "water_level_margin", "thresholds": {"warn": -0.5, "alarm": 0.2}})
    assert validate_wall(signed, catalogue).ok  # metres above the warning level may be negative
    aqi = wall(p0={"indicator": "aqi", "thresholds": {"warn": 100, "alarm": 600}})
    assert [(e.path, "500" in e.message) for e in validate_wall(aqi, catalogue).errors] == [("scenes[0].panels[0].thresholds.alarm", True)]
    # Shape: not a colour, not a chart, not a number.
    broken = wall(p0={"colors": {"line": "red"}}, p1={"chart": "pie", "thresholds": {"warn": "high"}})
    assert sorted(e.path for e in validate_wall(broken, catalogue).errors) == [
        "scenes[0].panels[0].colors.line", "scenes[0].panels[1].chart", "scenes[0].panels[1].thresholds.warn"]


def test_a_grid_too_fine_for_its_canvas_is_refused():
    body = wall()
    body["grid"] = {"columns": 96, "rows": 2, "gap": 12}
    errors = validate_wall(body).errors
    assert [e.path for e in errors] == ["grid.columns"]
    assert "px per cell" in errors[0].message
    body["scenes"][0]["panels"][1]["at"] = {"col": 4, "row": 2, "col_span": 2}  # also leaves the grid on the right
    body["grid"] = {"columns": 4, "rows": 2, "gap": 8}
    assert [e.path for e in validate_wall(body).errors] == ["scenes[0].panels[1].at"]
