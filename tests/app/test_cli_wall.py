"""``cityops wall emergency|ack|status`` on SQLite and PostGIS."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from app.cli import main
from queries.schema import ChangeLog, Incident, WallAlert
from tests.app.conftest import url_of

MINUTE = dt.timedelta(minutes=1)


def incident(id_, severity, minutes_ago, status="dispatched"):
    return {
        "id": id_, "category": "accident", "subtype": "fire", "severity": severity, "status": status, "title": f"起火 {id_}",
        "reporter_name": "张三", "reporter_phone": "13812345678", "address": "建国路18号", "description": "浓烟",
        "lon": 119.2, "lat": 34.6, "reported_at": dt.datetime.now(dt.timezone.utc) - minutes_ago * MINUTE,
    }


@pytest.fixture
def database_url(engine) -> str:
    with engine.begin() as conn:
        conn.execute(insert(Incident), [incident("SEV1", 1, 5), incident("SEV3", 3, 5), incident("DONE", 2, 5, status="closed")])
    return url_of(engine)


def run(database_url, *args, **env):
    environment = {"CITYOPS_DATABASE_URL": database_url, "CITYOPS_REDIS_URL": None, "CITYOPS_WALL_EMERGENCY_MINUTES": None, **env}
    return CliRunner().invoke(main, ["wall", *args], env=environment, catch_exceptions=False)


def status(database_url, wall="main", **env) -> dict:
    result = run(database_url, "status", wall, "--json", **env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_status_shows_the_automatic_emergency_as_json(database_url):
    document = status(database_url)
    assert document["wall_id"] == "main" and document["window_minutes"] == 60 and document["alerts"] == []
    shown = document["emergency"]
    assert shown["id"] == "SEV1" and shown["source"] == "auto" and shown["severity"] == 1 and shown["pending"] == 0
    assert not {"reporter_name", "reporter_phone", "address", "description"} & set(shown)
    assert dt.datetime.fromisoformat(shown["reported_at"]).utcoffset() == dt.timedelta(0)
    assert status(database_url, CITYOPS_WALL_EMERGENCY_MINUTES="2")["emergency"] is None  # the window is the setting


def test_switch_acknowledge_and_status(database_url, engine):
    result = run(database_url, "emergency", "main", "SEV3", "--by", "commander")
    assert result.exit_code == 0, result.output
    assert "switched to SEV3" in result.output and "EMERGENCY SEV3" in result.output and "1 more pending" in result.output
    again = run(database_url, "emergency", "main", "SEV3")
    assert again.exit_code == 0 and "already pending" in again.output and "commander" in again.output

    human = run(database_url, "status", "main")
    assert human.exit_code == 0 and "EMERGENCY SEV3" in human.output and "pending" in human.output

    acked = run(database_url, "ack", "main", "--by", "duty")
    assert acked.exit_code == 0 and "acknowledged SEV3 (manual" in acked.output and "EMERGENCY SEV1" in acked.output
    acked = run(database_url, "ack", "main", "SEV1")
    assert acked.exit_code == 0 and "acknowledged SEV1 (auto" in acked.output and "no emergency (carousel)" in acked.output
    nothing = run(database_url, "ack", "main")
    assert nothing.exit_code == 0 and "nothing to acknowledge" in nothing.output

    document = status(database_url)
    assert document["emergency"] is None
    assert [(a["incident_id"], a["state"], a["acked_by"]) for a in document["alerts"]] == [("SEV3", "acknowledged", "duty"), ("SEV1", "acknowledged", document["alerts"][1]["acked_by"])]
    assert document["alerts"][1]["acked_by"].startswith("cli")  # the default actor
    assert status(database_url, "lobby")["emergency"]["id"] == "SEV1"  # other walls are untouched
    with engine.connect() as conn:
        actions = conn.execute(select(ChangeLog.dataset_code, ChangeLog.action).order_by(ChangeLog.id)).all()
    assert [tuple(a) for a in actions] == [("wall_alerts", "wall_raise"), ("wall_alerts", "wall_ack"), ("wall_alerts", "wall_ack")]


@pytest.mark.parametrize("args, message", [
    (("emergency", "main", "NOPE"), "no incident with id 'NOPE'"),
    (("emergency", "main", "DONE"), "closed"),
    (("ack", "main", "NOPE"), "no incident with id 'NOPE'"),
])
def test_unknown_or_finished_incidents_exit_1_with_a_message(database_url, engine, args, message):
    result = run(database_url, *args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    with engine.connect() as conn:
        assert conn.execute(select(WallAlert.incident_id)).first() is None


@pytest.mark.parametrize("args", [("status", "Main"), ("emergency", "--", "_x", "SEV1"), ("ack", "a" * 65)])
def test_malformed_wall_ids_are_usage_errors(database_url, args):
    result = run(database_url, *args)
    assert result.exit_code == 2 and "wall id" in result.output


def test_an_unreachable_database_is_one_line_and_exit_1():
    result = run("postgresql+psycopg://postgres@127.0.0.1:1/cityops", "status", "main")
    assert result.exit_code == 1 and "cityops wall:" in result.output and "Traceback" not in result.output


def test_help_lists_the_commands():
    result = CliRunner().invoke(main, ["wall", "--help"])
    assert result.exit_code == 0 and {"emergency", "ack", "status"} <= set(result.output.split())
