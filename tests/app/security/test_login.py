"""Log-in and log-out (/login, /logout) through Flask's test client, on SQLite and PostGIS:
sessions, the audit log, back-off and lock-out, the CSRF token, open redirects, idle expiry and
sessions that end when the account changes. Time is moved by editing the session, never waited for."""
from __future__ import annotations

import datetime as dt
import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from app.i18n import t
from app.security.login import local_time, safe_next
from app.server import create_app
from queries import auth
from queries.auth import FREE_ATTEMPTS, add_user, change_user, list_audit
from queries.schema import User
from tests.app.conftest import make_settings, seed_small_platform, url_of

PASSWORD = "correct horse battery"
ORIGIN = {"Origin": "http://localhost"}  # what a browser sends with a form from our own page


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """Cheap argon2id parameters for speed; the production ones are tested in tests/queries/test_auth.py."""
    monkeypatch.setattr(auth, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def seed_users(engine) -> None:
    with engine.begin() as conn:
        add_user(conn, "ops.admin", "admin", PASSWORD)
        add_user(conn, "zhang.wei", "commander", PASSWORD, areas=["320706"])
        add_user(conn, "screen-1", "wall", None)


def build_server(engine, tmp_path, **overrides):
    return create_app(make_settings(tmp_path, url_of(engine), **overrides)).server


def dispose(server) -> None:
    context = server.extensions["cityops"]  # the app's own pools: PostgreSQL has few connections to spare
    context.read_engine.dispose()
    context.engine.dispose()


@pytest.fixture
def server(engine, tmp_path):
    seed_small_platform(engine)
    seed_users(engine)
    server = build_server(engine, tmp_path)
    yield server
    dispose(server)


def nobody(server):
    """A test client of nobody (tests/app/conftest.py signs test clients in by default)."""
    return server.test_client(role=None)


@pytest.fixture
def client(server):
    return nobody(server)


def csrf_of(response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1)


def login(client, name=None, password=PASSWORD, next_path=None, **form):
    """GET the form (for its token), POST it; returns the POST's response."""
    page = client.get("/login")
    data = {"csrf": csrf_of(page), "user": name, "password": password, **form}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/login", data=data, headers=ORIGIN)


def audit_rows(engine, **filters) -> list[dict]:
    with engine.connect() as conn:
        return list_audit(conn, **filters).to_dict("records")


def error_text(response) -> str:
    match = re.search(r'id="login-error">([^<]+)<', response.get_data(as_text=True))
    return match.group(1) if match else ""


def test_login_page_is_chinese_first_with_english_on_request(client):
    page = client.get("/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<html lang="zh-CN">' in html and t("security.login.title", "zh") in html and t("security.login.user", "zh") in html
    assert 'name="user"' in html and 'type="password"' in html and 'name="csrf"' in html and 'action="/login"' in html
    assert "<script" not in html  # works without script
    assert page.headers["Cache-Control"] == "no-store"
    english = client.get("/login?lang=en&next=/command").get_data(as_text=True)
    assert '<html lang="en">' in english and t("security.login.password", "en") in english
    assert 'name="next" value="/command"' in english and 'name="lang" value="en"' in english


def test_session_cookie_flags(engine, tmp_path):
    cookie = nobody(build_server(engine, tmp_path)).get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    server = build_server(engine, tmp_path, cookie_secure=True, device_session_days=7)
    try:
        assert "Secure" in nobody(server).get("/login").headers["Set-Cookie"]
        assert server.config["PERMANENT_SESSION_LIFETIME"] == dt.timedelta(days=7)
    finally:
        dispose(server)


def test_cookie_secure_reads_the_environment(monkeypatch):
    from queries.settings import get_settings

    monkeypatch.setenv("CITYOPS_COOKIE_SECURE", "true")
    assert get_settings().cookie_secure is True
    monkeypatch.delenv("CITYOPS_COOKIE_SECURE")
    assert get_settings().cookie_secure is False


def test_login_starts_a_session_and_is_audited(client, engine):
    before = client.get("/login")
    old_token = csrf_of(before)
    response = login(client, "zhang.wei", next_path="/command?area=320706")
    assert response.status_code == 303 and response.headers["Location"] == "/command?area=320706"
    assert "Expires=" in response.headers["Set-Cookie"]  # a permanent session (idle expiry is checked on the server)
    with client.session_transaction() as session:
        assert session["u"] == "zhang.wei" and session["v"] == 1 and session["d"] is False
        assert abs(session["t"] - time.time()) < 3600 and session["csrf"] != old_token  # a fresh session
    page = client.get("/login").get_data(as_text=True)
    assert t("security.login.signed_in_as", "zh", user="zhang.wei") in page and 'action="/logout"' in page

    [entry] = audit_rows(engine, action="login")
    assert (entry["user_name"], entry["role"], entry["outcome"], entry["remote_addr"]) == ("zhang.wei", "commander", "ok", "127.0.0.1")


def test_wrong_password_is_401_with_one_generic_message_and_audited(client, engine):
    wrong = login(client, "zhang.wei", "not the password at all", next_path="/command")
    unknown = login(client, "nobody.here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert error_text(wrong) == error_text(unknown) == t("security.login.failed", "zh")  # never says which was wrong
    html = wrong.get_data(as_text=True)
    assert 'name="user" id="login-user" value="zhang.wei"' in html and "not the password" not in html
    assert 'name="next" value="/command"' in html
    with client.session_transaction() as session:
        assert "u" not in session

    entries = audit_rows(engine, action="login_failed")
    assert [(e["user_name"], e["outcome"], e["detail"]) for e in entries] == [
        (None, "failed", {"user": "nobody.here", "reason": "bad_credentials"}),
        (None, "failed", {"user": "zhang.wei", "reason": "bad_credentials"}),
    ]
    assert "not the password" not in json.dumps(audit_rows(engine), default=str)  # the password is never recorded
    assert login(client, "zhang.wei", next_path="/x").status_code == 303  # and the right one still works


def test_english_failure_message(client):
    page = client.get("/login?lang=en")
    response = client.post("/login", data={"csrf": csrf_of(page), "user": "zhang.wei", "password": "wrong password!!", "lang": "en"}, headers=ORIGIN)
    assert response.status_code == 401 and error_text(response) == t("security.login.failed", "en")


def test_lock_out_after_five_failures_is_429_with_retry_after(client, engine):
    for number in range(FREE_ATTEMPTS):
        assert login(client, "zhang.wei", "wrong password!!").status_code == 401, number
    with engine.connect() as conn:
        locked_until = conn.execute(select(User.locked_until).where(User.name == "zhang.wei")).scalar_one()
    assert locked_until is not None

    response = login(client, "zhang.wei", PASSWORD)  # even the right password: locked
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= auth.LOCK_BASE.total_seconds()
    assert error_text(response) == t("security.login.locked", "zh", time=local_time(locked_until))
    with client.session_transaction() as session:
        assert "u" not in session
    latest = audit_rows(engine, action="login_failed")[0]
    assert latest["outcome"] == "denied" and latest["detail"]["reason"] == "locked" and latest["detail"]["user"] == "zhang.wei"
    assert login(client, "ops.admin", PASSWORD).status_code == 303  # other accounts are not affected


def login_from(server, address: str, name: str, password: str):
    """A log-in from a browser at ``address`` (its own client, its own CSRF token)."""
    client = nobody(server)
    page = client.get("/login", environ_base={"REMOTE_ADDR": address})
    return client.post("/login", data={"csrf": csrf_of(page), "user": name, "password": password}, headers=ORIGIN,
                       environ_base={"REMOTE_ADDR": address})


def test_unknown_and_known_names_get_the_same_answers(server):
    """Nothing on the page tells whether an account exists: the same status, message and
    ``Retry-After`` for a real name and an invented one, attempt by attempt, locks included."""
    def answers(name):
        seen = []
        for _ in range(FREE_ATTEMPTS + 1):
            response = login_from(server, "203.0.113.9", name, "wrong password!!")
            message = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "<time>", error_text(response))  # moments apart
            seen.append((response.status_code, message, response.headers.get("Retry-After") is not None))
        return seen

    known, unknown = answers("zhang.wei"), answers("nobody.here")
    assert known == unknown
    assert [status for status, *_ in known] == [401] * FREE_ATTEMPTS + [429]


def test_a_guesser_cannot_lock_the_admin_out_of_their_own_workstation(server, engine):
    for _ in range(FREE_ATTEMPTS + 2):
        login_from(server, "203.0.113.9", "ops.admin", "wrong password!!")
    assert login_from(server, "203.0.113.9", "ops.admin", PASSWORD).status_code == 429
    assert login_from(server, "10.1.0.7", "ops.admin", PASSWORD).status_code == 303  # the admin's desk
    failures = audit_rows(engine, action="login_failed")
    assert {row["remote_addr"] for row in failures} == {"203.0.113.9"}
    assert login_from(server, "10.1.0.7", "ops.admin", PASSWORD).status_code == 303


def test_csrf_token_is_required(client, engine, server):
    client.get("/login")
    no_token = client.post("/login", data={"user": "zhang.wei", "password": PASSWORD}, headers=ORIGIN)
    wrong_token = client.post("/login", data={"csrf": "forged-token-value", "user": "zhang.wei", "password": PASSWORD}, headers=ORIGIN)
    other_browser = nobody(server)
    foreign = other_browser.post("/login", data={"csrf": csrf_of(client.get("/login")), "user": "zhang.wei", "password": PASSWORD}, headers=ORIGIN)
    for response in (no_token, wrong_token, foreign):
        assert response.status_code == 400
        assert error_text(response) == t("security.login.csrf", "zh")
    with client.session_transaction() as session:
        assert "u" not in session
    with engine.connect() as conn:
        assert conn.execute(select(User.failed_logins).where(User.name == "zhang.wei")).scalar_one() == 0  # not a guess
    assert {e["detail"]["reason"] for e in audit_rows(engine, action="login_failed")} == {"csrf"}
    # The 400 page carries a fresh form with a valid token: submitting it works.
    retry = client.post("/login", data={"csrf": csrf_of(no_token), "user": "zhang.wei", "password": PASSWORD}, headers=ORIGIN)
    assert retry.status_code == 303


OFFSITE = [
    "https://evil.example/login", "//evil.example/", "///evil.example", "/\\evil.example", "\\\\evil.example", "http:/evil.example",
    "javascript:alert(1)", "/\t/evil.example", "/\n/evil.example", "evil.example", "", "/login", "/logout", "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", OFFSITE)
def test_safe_next_refuses(target):
    assert safe_next(target) == "/"


def test_next_is_a_local_path_only(client):
    for target in OFFSITE:
        response = login(client, "zhang.wei", next_path=target)
        assert response.status_code == 303 and response.headers["Location"] == "/", target
        form = client.get("/login", query_string={"next": target}).get_data(as_text=True)
        assert 'name="next" value="/"' in form, target


def test_a_local_next_is_followed(client):
    assert safe_next("/command?area=320706&lang=en") == "/command?area=320706&lang=en"
    assert safe_next("/briefing/city") == "/briefing/city"
    response = login(client, "zhang.wei", next_path="/wall/default?lang=en")
    assert response.headers["Location"] == "/wall/default?lang=en"


def test_idle_session_expires(client, server):
    assert login(client, "ops.admin").status_code == 303
    idle = server.extensions["cityops"].settings.session_idle_minutes * 60
    with client.session_transaction() as session:
        session["t"] = int(time.time()) - idle + 120  # idle, but not for long enough
    assert client.get("/admin/users").status_code == 200
    with client.session_transaction() as session:
        session["t"] = int(time.time()) - idle - 60
    expired = client.get("/admin/users")
    assert expired.status_code in (302, 303) and urlsplit(expired.headers["Location"]).path == "/login"
    assert parse_qs(urlsplit(expired.headers["Location"]).query)["next"] == ["/admin/users"]
    with client.session_transaction() as session:
        assert "u" not in session  # the expired session was ended, not just ignored


def test_session_ends_when_the_role_changes(client, engine):
    assert login(client, "ops.admin").status_code == 303
    assert client.get("/admin/users").status_code == 200
    with engine.begin() as conn:
        change_user(conn, "ops.admin", role="leader")
    response = client.get("/admin/users")
    assert response.status_code in (302, 303) and urlsplit(response.headers["Location"]).path == "/login"
    assert login(client, "ops.admin").status_code == 303  # logged in again, now as a leader
    assert client.get("/admin/users").status_code == 403


def test_logout_ends_the_session_and_is_audited(client, engine):
    assert login(client, "zhang.wei").status_code == 303
    page = client.get("/login?lang=en")
    by_get = client.get("/logout")  # never by a GET: a link or an image could log people out
    assert by_get.status_code == 303 and urlsplit(by_get.headers["Location"]).path == "/login"
    refused = client.post("/logout", data={"csrf": "forged-token-value"}, headers=ORIGIN)
    assert refused.status_code == 400
    with client.session_transaction() as session:
        assert session["u"] == "zhang.wei"  # still logged in
    response = client.post("/logout", data={"csrf": csrf_of(page), "lang": "en"}, headers=ORIGIN)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query) == {"lang": ["en"], "logged_out": ["1"]}
    with client.session_transaction() as session:
        assert "u" not in session
    notice = client.get(response.headers["Location"]).get_data(as_text=True)
    assert t("security.login.logged_out", "en") in notice
    [entry] = audit_rows(engine, action="logout")
    assert entry["user_name"] == "zhang.wei" and entry["role"] == "commander"
    # A stale log-out form (nobody logged in any more) just goes to the log-in page.
    again = client.post("/logout", data={"csrf": "whatever"}, headers=ORIGIN)
    assert again.status_code == 303 and urlsplit(again.headers["Location"]).path == "/login"
    assert len(audit_rows(engine, action="logout")) == 1


def test_a_wall_device_cannot_log_in_with_a_password(client):
    assert login(client, "screen-1", "").status_code == 401
    assert login(client, "screen-1", "anything at all here").status_code == 401


def test_database_down_gives_503_not_500(tmp_path):
    server = create_app(make_settings(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/cityops")).server
    client = nobody(server)
    page = client.get("/login")
    assert page.status_code == 200  # the form still shows
    response = client.post("/login", data={"csrf": csrf_of(page), "user": "zhang.wei", "password": PASSWORD}, headers=ORIGIN)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert error_text(response) == t("security.login.unavailable", "zh")
    with client.session_transaction() as session:
        assert "u" not in session
