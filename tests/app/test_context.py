"""``app.context``: reads go through the read engine and the query cache, one catalogue read per request."""
from __future__ import annotations

from sqlalchemy import event

from app.context import current_context, run_query
from app.server import create_app
from queries.areas import list_areas
from tests.app.conftest import make_settings


def test_cached_reads_of_one_request_key_on_one_catalogue_read(tmp_path, seeded_sqlite_url):
    assert hasattr(list_areas, "__cache_spec__")
    server = create_app(make_settings(tmp_path, seeded_sqlite_url)).server
    engine = server.extensions["cityops"].engine
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with server.test_request_context("/"):
            assert current_context().read_engine is engine  # no replica configured
            for _ in range(4):
                run_query(list_areas, None)
        in_one = sum("from datasets" in s and "max(change_log.id)" in s for s in statements)
        statements.clear()
        for _ in range(2):
            with server.test_request_context("/"):
                run_query(list_areas, None)
        in_two = sum("from datasets" in s and "max(change_log.id)" in s for s in statements)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert in_one == 1
    assert in_two == 2


def test_a_replica_url_gets_an_engine_of_its_own_for_reads(tmp_path, seeded_sqlite_url):
    server = create_app(make_settings(tmp_path, seeded_sqlite_url, database_read_url=seeded_sqlite_url + "?mode=ro&uri=true")).server
    context = server.extensions["cityops"]
    assert context.read_engine is not context.engine
    assert str(context.read_engine.url).endswith("mode=ro&uri=true")
    assert context.query_engine.url == context.read_engine.url  # page reads: the replica, with the statement timeout
