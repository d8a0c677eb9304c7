"""The administrator's pages (/admin/users, /admin/audit, /admin/audit.csv) through Flask's test
client, on SQLite and PostGIS: what an admin sees, the filters and paging, the CSV export, 403 for
other roles and 400 naming the field for a bad filter."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from app.i18n import t
from app.security.admin import PAGE_SIZE
from queries.auth import (
    AUDIT_COLUMNS,
    FREE_ATTEMPTS,
    change_user,
    list_audit,
    record_audit,
)
from queries.schema import User
from tests.app.conftest import seed_small_platform
from tests.app.security.test_login import (  # noqa: F401 - fast_hashing is an autouse fixture
    ORIGIN,
    PASSWORD,
    build_server,
    dispose,
    fast_hashing,
    login,
    nobody,
    seed_users,
)

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 on 10 March in Beijing; long before any real log-in of a test
MINUTE = dt.timedelta(minutes=1)
FORMULA = "=HYPERLINK(\"http://evil.example\",\"x\")"


def seed_audit(engine) -> None:
    with engine.begin() as conn:
        record_audit(conn, "login", user="zhang.wei", role="commander", remote_addr="10.1.2.3", now=T0)
        record_audit(conn, "login_failed", user=None, role=None, outcome="failed", detail={"user": "zhang.wie", "reason": "bad_credentials"},
                     now=T0 + MINUTE)
        record_audit(conn, "access_denied", user="li.na", role="leader", outcome="denied", target="/admin/users", now=T0 + 2 * MINUTE)
        record_audit(conn, "incident_opened", user="zhang.wei", role="commander", target=FORMULA, area_code="320706",
                     detail={"title": "新浦化工仓库起火"}, now=T0 + 3 * MINUTE)
        # The day before (9 March, Beijing): 60 page views, enough for two pages.
        for number in range(60):
            record_audit(conn, "page_view", user="zhang.wei", role="commander", target=f"/command?n={number}",
                         now=T0 - dt.timedelta(days=1) + number * MINUTE)


@pytest.fixture
def server(engine, tmp_path):
    seed_small_platform(engine)
    seed_users(engine)
    seed_audit(engine)
    with engine.begin() as conn:
        change_user(conn, "screen-1", disabled=True)
        conn.execute(update(User).where(User.name == "zhang.wei").values(
            failed_logins=FREE_ATTEMPTS, locked_until=dt.datetime.now(UTC) + dt.timedelta(hours=1)))
    server = build_server(engine, tmp_path)
    yield server
    dispose(server)


@pytest.fixture
def admin(server):
    client = nobody(server)
    assert login(client, "ops.admin").status_code == 303
    return client


def rows_of(response, attribute: str) -> list[str]:
    return re.findall(rf'<tr [^>]*\b{attribute}="([^"]*)"', response.get_data(as_text=True))


def audit_ids(response) -> list[int]:
    return [int(value) for value in rows_of(response, "data-id")]


def test_admin_sees_the_users(admin):
    response = admin.get("/admin/users")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    ours = [name for name in rows_of(response, "data-user") if not name.startswith("test-")]  # (the test users of tests/app/conftest.py)
    assert ours == ["ops.admin", "screen-1", "zhang.wei"]
    assert t("security.admin.users", "zh") in html and t("security.role.commander", "zh") in html
    zhang = html[html.index('data-user="zhang.wei"'):]
    zhang = zhang[:zhang.index("</tr>")]
    assert "320706" in zhang and 'data-state="locked"' in zhang and f">{FREE_ATTEMPTS}<" in zhang
    screen = html[html.index('data-user="screen-1"'):]
    assert 'data-state="disabled"' in screen[:screen.index("</tr>")]
    admin_row = html[html.index('data-user="ops.admin"'):]
    admin_row = admin_row[:admin_row.index("</tr>")]
    assert 'data-state="active"' in admin_row and t("security.users.all_areas", "zh") in admin_row
    assert "$argon2" not in html and "password_hash" not in html
    assert 'action="/logout"' in html and "<script" not in html
    english = admin.get("/admin/users?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english and t("security.users.all_areas", "en") in english and t("security.role.wall", "en") in english


def test_admin_sees_the_audit_log_newest_first_in_pages(admin):
    first = admin.get("/admin/audit")
    html = first.get_data(as_text=True)
    assert first.status_code == 200
    times = re.findall(r'<td class="s-nowrap">([^<]+)</td>', html)
    assert len(audit_ids(first)) == len(times) == PAGE_SIZE and times == sorted(times, reverse=True)  # newest first
    assert "login" in rows_of(first, "data-action")[:3]  # the admin's own log-in just now is among the newest
    assert 'action="/logout"' in html and 'id="audit-csv"' in html

    # Paging through a fixed set (the page views of 9 March): 50, then the other 10, newest first.
    page_one = admin.get("/admin/audit", query_string={"action": "page_view", "to": "2025-03-09"})
    ids = audit_ids(page_one)
    text = page_one.get_data(as_text=True)
    assert len(ids) == PAGE_SIZE and "2025-03-09 10:59:00" in text and 'rel="prev"' not in text
    next_link = re.search(r'rel="next" href="([^"]+)"', text).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(next_link).query) == {"action": ["page_view"], "to": ["2025-03-09"], "page": ["2"]}
    second = admin.get(next_link)
    text = second.get_data(as_text=True)
    assert len(audit_ids(second)) == 60 - PAGE_SIZE and not set(audit_ids(second)) & set(ids)
    assert 'rel="prev"' in text and 'rel="next"' not in text and "2025-03-09 10:00:00" in text


def test_audit_entries_are_shown_escaped_in_beijing_time(admin):
    response = admin.get("/admin/audit", query_string={"action": "incident_opened"})
    html = response.get_data(as_text=True)
    assert "新浦化工仓库起火" in html and FORMULA.replace('"', "&#34;") in html and "<a href=\"http://evil" not in html
    assert t("security.action.incident_opened", "zh") in html and "2025-03-10 10:03:00" in html
    english = admin.get("/admin/audit", query_string={"action": "incident_opened", "lang": "en"}).get_data(as_text=True)
    assert t("security.action.incident_opened", "en") in english and t("security.audit.col.at", "en") in english


def test_audit_filters(admin):
    by_user = admin.get("/admin/audit", query_string={"user": "zhang.wei", "action": "incident_opened"})
    assert rows_of(by_user, "data-action") == ["incident_opened"]
    html = by_user.get_data(as_text=True)
    assert 'value="zhang.wei"' in html and '<option value="incident_opened" selected>' in html  # the form keeps the filters
    denied = admin.get("/admin/audit", query_string={"outcome": "denied"})
    assert rows_of(denied, "data-action") == ["access_denied"]
    # Dates are Beijing days and "to" includes its whole day: 10 March holds the four entries at 10:00.
    day = admin.get("/admin/audit", query_string={"from": "2025-03-10", "to": "2025-03-10"})
    assert rows_of(day, "data-action") == ["incident_opened", "access_denied", "login_failed", "login"]
    before = admin.get("/admin/audit", query_string={"to": "2025-03-09", "action": "page_view", "page": "2"})
    assert len(audit_ids(before)) == 60 - PAGE_SIZE
    minutes = admin.get("/admin/audit", query_string={"from": "2025-03-10T10:01", "to": "2025-03-10T10:03"})
    assert rows_of(minutes, "data-action") == ["access_denied", "login_failed"]
    nothing = admin.get("/admin/audit", query_string={"user": "nobody"})
    assert nothing.status_code == 200 and 'id="audit-empty"' in nothing.get_data(as_text=True)


BAD_FILTERS = [
    ({"action": "coffee"}, "action"),
    ({"outcome": "maybe"}, "outcome"),
    ({"from": "2025-13-01"}, "from"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2025-02-30"}, "from"),
    ({"from": "0001-01-01"}, "from"),
    ({"to": "9999-12-31"}, "to"),
    ({"to": "2025-03-10 10:00"}, "to"),
    ({"from": "2025-03-10", "to": "2025-03-09"}, "to"),
    ({"page": "0"}, "page"),
    ({"page": "abc"}, "page"),
    ({"page": "99999999"}, "page"),
    ({"user": "x" * 65}, "user"),
    ({"user": "a\x01b"}, "user"),
]


def test_bad_filters_are_400_naming_the_field(admin, engine):
    for path in ("/admin/audit", "/admin/audit.csv"):
        for params, field in BAD_FILTERS:
            response = admin.get(path, query_string=params)
            html = response.get_data(as_text=True)
            assert response.status_code == 400, (path, params, html)
            assert f'data-field="{field}"' in html and f"（{field}）" in html, (path, params)
    english = admin.get("/admin/audit", query_string={"outcome": "maybe", "lang": "en"}).get_data(as_text=True)
    assert "(outcome)" in english and t("security.invalid.outcome", "en") in english
    with engine.connect() as conn:
        assert list_audit(conn, action="audit_exported").empty  # nothing was exported


def test_csv_export_is_excel_friendly_filtered_and_audited(admin, engine):
    response = admin.get("/admin/audit.csv", query_string={"from": "2025-03-10", "to": "2025-03-10"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "charset=utf-8" in response.headers["Content-Type"]
    assert re.fullmatch(r'attachment; filename="audit-\d{8}-\d{6}\.csv"', response.headers["Content-Disposition"])
    body = response.data
    assert body.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(AUDIT_COLUMNS)
    records = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert [r["action"] for r in records] == ["incident_opened", "access_denied", "login_failed", "login"]
    opened = records[0]
    assert opened["at"] == "2025-03-10T10:03:00+08:00" and opened["area_code"] == "320706"
    assert opened["target"] == "'" + FORMULA  # a spreadsheet shows it as text, never runs it
    assert "新浦化工仓库起火" in opened["detail"]
    assert records[3]["remote_addr"] == "10.1.2.3" and records[2]["user_name"] == ""

    with engine.connect() as conn:
        [exported] = list_audit(conn, action="audit_exported").to_dict("records")
    assert exported["user_name"] == "ops.admin" and exported["role"] == "admin"
    assert exported["detail"] == {"filters": {"from": "2025-03-10", "to": "2025-03-10"}, "rows": 4, "truncated": False}


def test_other_roles_are_refused_and_it_is_audited(server, engine):
    client = nobody(server)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.name == "zhang.wei").values(failed_logins=0, locked_until=None))
    assert login(client, "zhang.wei").status_code == 303
    for path in ("/admin/users", "/admin/audit", "/admin/audit.csv", "/admin/audit?action=coffee"):
        assert client.get(path).status_code == 403, path
    with engine.connect() as conn:
        denied = list_audit(conn, action="access_denied", user="zhang.wei").to_dict("records")
    assert sorted(entry["target"] for entry in denied) == ["/admin/audit", "/admin/audit", "/admin/audit.csv", "/admin/users"]
    assert {entry["outcome"] for entry in denied} == {"denied"}


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit", "/admin/audit.csv"])
def test_the_handlers_check_the_capability_themselves(server, engine, monkeypatch, path):
    """Defence in depth: with the access layer's table out of the way, the handler still refuses."""
    import flask

    from app.security.admin import audit_csv, audit_page, users_page
    from app.security.identity import start_session
    from queries.auth import get_account

    handler = {"/admin/users": users_page, "/admin/audit": audit_page, "/admin/audit.csv": audit_csv}[path]
    with engine.begin() as conn:
        conn.execute(update(User).where(User.name == "zhang.wei").values(failed_logins=0, locked_until=None))
        account = get_account(conn, "zhang.wei")
    with server.test_request_context(path):
        flask.session.clear()
        assert handler().status_code in (302, 303)  # nobody: to the log-in page
    with server.test_request_context(path):  # (a request of its own: the identity is kept per request)
        start_session(account)
        response = handler()
        assert response.status_code == 403
        assert t("security.forbidden.title", "zh") in response.get_data(as_text=True)
    with engine.connect() as conn:
        [entry] = list_audit(conn, action="access_denied", user="zhang.wei").to_dict("records")
    assert entry["target"] == path and entry["detail"] == {"capability": "view_audit" if "audit" in path else "manage_users"}
    with engine.connect() as conn:
        assert list_audit(conn, action="audit_exported").empty


def test_nobody_logged_in_is_sent_to_the_log_in_page(server):
    client = nobody(server)
    for path in ("/admin/users", "/admin/audit?action=login&lang=en", "/admin/audit.csv"):
        response = client.get(path)
        assert response.status_code in (302, 303), path
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login" and parse_qs(location.query)["next"] == [path], path


def test_a_bearer_token_of_an_admin_may_export(server, engine):
    from queries.auth import issue_token

    with engine.begin() as conn:
        token = issue_token(conn, "ops.admin")
    response = nobody(server).get("/admin/audit.csv", headers={"Authorization": f"Bearer {token}", **ORIGIN})
    assert response.status_code == 200 and response.data.startswith(b"\xef\xbb\xbf")
    assert PASSWORD  # (the module's password is not needed for a token)


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(st.sampled_from(["user", "action", "outcome", "from", "to", "page"]),
                              st.one_of(st.text(max_size=80), st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2})?", fullmatch=True),
                                        st.integers(-10**9, 10**9).map(str))))
def test_any_filter_value_is_parsed_or_refused_never_an_error(values):
    from app.security.admin import AuditFilters, BadFilter, parse_filters

    try:
        filters = parse_filters(values)
    except BadFilter as exc:
        assert exc.field in values
    else:
        assert isinstance(filters, AuditFilters) and 1 <= filters.page
        assert filters.start is None or filters.start.tzinfo is not None
