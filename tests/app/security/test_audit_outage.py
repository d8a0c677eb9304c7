"""The audit log while the database is away (a private PostgreSQL, tests/services.py, stopped and
started): page views of the sessions still served are kept in memory and written, in order and
with their own times, when the database answers again; a full buffer drops the oldest entries and
says so with one ``audit_lost`` entry."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from app.security.audit import BUFFER_KEY
from queries.db import make_engine
from queries.migrate import ensure_schema
from tests.app.conftest import audit_rows, client_for, ensure_test_users, make_settings, post_callback, router_body, seed_small_platform, user_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RETRY_SECONDS = 60.0  # how long the database may take to be reachable again after start()


@pytest.fixture
def outage(tmp_path, private_postgres):
    """(Dash app, database URL) on the private server, with the test users."""
    from app.server import create_app

    engine = make_engine(private_postgres.url)
    ensure_schema(engine)
    seed_small_platform(engine)
    ensure_test_users(engine)
    engine.dispose()
    dash_app = create_app(make_settings(tmp_path, private_postgres.url))
    yield dash_app, private_postgres.url
    context = dash_app.server.extensions["cityops"]
    context.read_engine.dispose()
    context.engine.dispose()


def views(url: str, user: str) -> list[dict]:
    return [row for row in audit_rows(url, user=user, action="page_view")]


def until_written(client, url: str, user: str, wanted: int) -> list[dict]:
    """Open pages until the database answers again and ``wanted`` views of ``user`` are in the log."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        assert post_callback(client, router_body("/wall/default", "?after=1")).status_code == 200
        try:
            rows = views(url, user)
        except Exception:  # noqa: BLE001 - not back yet
            rows = []
        if len(rows) >= wanted or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def test_page_views_during_an_outage_are_written_when_the_database_returns(outage, private_postgres):
    dash_app, url = outage
    leader = user_of("leader")
    client = client_for(dash_app.server, leader)
    assert post_callback(client, router_body("/wall/default", "?before=1")).status_code == 200  # a session this process checked
    assert len(views(url, leader)) == 1

    private_postgres.stop()
    stopped_at = dt.datetime.now(dt.timezone.utc)
    for number in range(3):
        assert post_callback(client, router_body("/wall/default", f"?during={number}")).status_code == 200
    buffer = dash_app.server.extensions[BUFFER_KEY]
    assert len(buffer) == 3 and not buffer.lost
    started_at = dt.datetime.now(dt.timezone.utc)
    private_postgres.start()

    rows = until_written(client, url, leader, 5)
    assert len(buffer) == 0
    searches = [(row["detail"] or {}).get("search") for row in reversed(rows)]  # oldest first
    assert searches[:4] == ["?before=1", "?during=0", "?during=1", "?during=2"]
    during = [row for row in rows if (row["detail"] or {}).get("search", "").startswith("?during")]
    assert all(row["detail"]["buffered"] is True and row["target"] == "/wall/default" and row["role"] == "leader" for row in during), during
    assert all(stopped_at <= row["at"] <= started_at for row in during)  # the time it happened, not the time it was written
    assert not audit_rows(url, action="audit_lost")


def test_a_full_buffer_drops_the_oldest_and_says_how_many(outage, private_postgres):
    dash_app, url = outage
    leader = user_of("leader")
    client = client_for(dash_app.server, leader)
    assert post_callback(client, router_body("/wall/default", "?before=1")).status_code == 200
    buffer = dash_app.server.extensions[BUFFER_KEY]
    buffer.limit = 2

    private_postgres.stop()
    for number in range(5):
        assert post_callback(client, router_body("/wall/default", f"?during={number}")).status_code == 200
    assert len(buffer) == 2 and buffer.lost == 3
    private_postgres.start()

    rows = until_written(client, url, leader, 4)
    kept = [row["detail"]["search"] for row in reversed(rows) if (row["detail"] or {}).get("buffered")]
    assert kept == ["?during=3", "?during=4"]  # the newest two
    [lost] = audit_rows(url, action="audit_lost")
    assert lost["outcome"] == "failed" and lost["detail"]["lost"] == 3 and lost["user_name"] is None
    assert dt.datetime.fromisoformat(lost["detail"]["first_at"]) <= dt.datetime.fromisoformat(lost["detail"]["last_at"])
