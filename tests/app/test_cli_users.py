"""``cityops users …`` and the first administrator of ``cityops serve``, on SQLite and PostGIS."""
from __future__ import annotations

import json
import re

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select, update

from app.cli import main
from app.cli_users import FIRST_PASSWORD_LENGTH, ensure_first_admin
from queries import auth
from queries.auth import (
    BadCredentials,
    account_for_token,
    get_account,
    list_audit,
    session_is_current,
    verify_login,
)
from queries.schema import User
from tests.app.conftest import seed_small_platform, url_of

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hashing_and_login(monkeypatch):
    """Cheap argon2id parameters (the production ones are tested in tests/queries/test_auth.py) and a
    known operating-system login for the audit log's ``cli:LOGIN``."""
    monkeypatch.setattr(auth, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr("getpass.getuser", lambda: "duty")


@pytest.fixture
def database_url(engine) -> str:
    return url_of(engine)


def run(database_url, *args, input=None):
    environment = {"CITYOPS_DATABASE_URL": database_url, "CITYOPS_REDIS_URL": None}
    return CliRunner().invoke(main, ["users", *args], env=environment, input=input, catch_exceptions=False)


def ok(database_url, *args, input=None):
    result = run(database_url, *args, input=input)
    assert result.exit_code == 0, result.output
    return result


def fails(database_url, *args, message: str, input=None, code: int = 1):
    result = run(database_url, *args, input=input)
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output, result.output
    return result


def can_log_in(engine, name, password) -> bool:
    with engine.begin() as conn:
        try:
            verify_login(conn, name, password)
        except BadCredentials:
            return False
    return True


def audit_of(engine, action=None) -> list[dict]:
    with engine.connect() as conn:
        return list_audit(conn, action=action).to_dict("records")


def version(engine, name) -> int:
    with engine.connect() as conn:
        return get_account(conn, name).session_version


@pytest.fixture
def people(database_url, engine):
    ok(database_url, "add", "zhang.wei", "--role", "commander", "--areas", "320706, 320707", "--password-stdin", input=PASSWORD + "\n")
    ok(database_url, "add", "screen-1", "--role", "wall")
    return engine


def test_add_reads_the_password_from_stdin_and_audits(database_url, engine):
    result = ok(database_url, "add", "zhang.wei", "--role", "commander", "--areas", "320706,320707", "--password-stdin", input=PASSWORD + "\r\n")
    assert "zhang.wei added: role commander, areas 320706, 320707" in result.output
    assert PASSWORD not in result.output
    assert can_log_in(engine, "zhang.wei", PASSWORD)
    [entry] = audit_of(engine, "user_added")
    assert (entry["user_name"], entry["role"], entry["target"]) == ("cli:duty", None, "zhang.wei")
    assert entry["detail"] == {"role": "commander", "areas": ["320706", "320707"], "password": True}
    assert PASSWORD not in json.dumps(audit_of(engine), default=str)

    device = ok(database_url, "add", "screen-1", "--role", "wall")  # a wall device may have no password
    assert "no password (token only)" in device.output


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (("add", "li.na", "--role", "leader"), None, "needs a password"),
    (("add", "li.na", "--role", "boss", "--password-stdin"), PASSWORD, "unknown role"),
    (("add", "li.na", "--role", "leader", "--password-stdin"), "short", "at least 12"),
    (("add", "li.na", "--role", "leader", "--password-stdin"), "", "no password on standard input"),
    (("add", "li na", "--role", "leader", "--password-stdin"), PASSWORD, "user name"),
    (("add", "li.na", "--role", "leader", "--areas", "Haizhou", "--password-stdin"), PASSWORD, "not an area code"),
    (("add", "zhang.wei", "--role", "leader", "--password-stdin"), PASSWORD, "exists already"),
    (("passwd", "nobody", "--password-stdin"), PASSWORD, "no user 'nobody'"),
    (("passwd", "zhang.wei", "--password-stdin"), "short", "at least 12"),
    (("role", "zhang.wei", "king"), None, "unknown role"),
    (("role", "nobody", "leader"), None, "no user 'nobody'"),
    (("areas", "zhang.wei", "32x706"), None, "not an area code"),
    (("areas", "zhang.wei", ","), None, "no area code given"),
    (("areas", "nobody", "--all"), None, "no user 'nobody'"),
    (("disable", "nobody"), None, "no user 'nobody'"),
    (("enable", "nobody"), None, "no user 'nobody'"),
    (("token", "nobody"), None, "no user 'nobody'"),
    (("revoke", "nobody"), None, "no user 'nobody'"),
])
def test_errors_are_one_line_and_exit_1(people, database_url, args, stdin, message):
    result = fails(database_url, *args, input=None if stdin is None else stdin + "\n", message=message)
    assert result.output.startswith("cityops users: ")


@pytest.mark.parametrize(("args", "message"), [
    (("passwd", "zhang.wei"), "--password-stdin"),  # a password is never an argument
    (("passwd", "zhang.wei", "new password here"), "unexpected extra argument"),
    (("areas", "zhang.wei"), "either CODES"),
    (("areas", "zhang.wei", "320706", "--all"), "either CODES"),
    (("token", "screen-1", "--wall", "Main Hall"), "not a wall id"),
    (("add", "li.na"), "--role"),
])
def test_malformed_command_lines_exit_2(people, database_url, args, message):
    fails(database_url, *args, message=message, code=2)


def test_list(people, database_url):
    with people.begin() as conn:
        conn.execute(update(User).where(User.name == "zhang.wei").values(failed_logins=3))
    document = json.loads(ok(database_url, "list", "--json").output)
    assert [row["name"] for row in document] == ["screen-1", "zhang.wei"]
    zhang = document[1]
    assert set(zhang) == {"name", "role", "areas", "disabled", "locked_until", "failed_logins", "created_at", "updated_at"}
    assert (zhang["role"], zhang["areas"], zhang["disabled"], zhang["failed_logins"], zhang["locked_until"]) == (
        "commander", ["320706", "320707"], False, 3, None)
    assert zhang["created_at"].endswith("+00:00")
    human = ok(database_url, "list").output
    assert re.search(r"zhang\.wei\s+commander\s+active\s+3\s+320706, 320707", human), human
    assert re.search(r"screen-1\s+wall\s+active\s+0\s+all", human), human
    assert "argon2" not in human + json.dumps(document)


def test_list_of_no_users(database_url):
    assert ok(database_url, "list").output.strip() == "no users"
    assert json.loads(ok(database_url, "list", "--json").output) == []


def test_passwd_changes_the_password_ends_sessions_and_lifts_a_lock(people, database_url):
    engine = people
    with engine.begin() as conn:
        conn.execute(update(User).where(User.name == "zhang.wei").values(failed_logins=9))
    result = ok(database_url, "passwd", "zhang.wei", "--password-stdin", input="a brand new secret\n")
    assert "sessions have ended" in result.output and "brand new" not in result.output
    assert version(engine, "zhang.wei") == 2
    assert can_log_in(engine, "zhang.wei", "a brand new secret") and not can_log_in(engine, "zhang.wei", PASSWORD)
    [entry] = audit_of(engine, "user_changed")
    assert entry["target"] == "zhang.wei" and entry["detail"] == {"password": "changed"} and entry["user_name"] == "cli:duty"


def test_role_and_areas(people, database_url):
    engine = people
    ok(database_url, "role", "zhang.wei", "leader")
    with engine.connect() as conn:
        assert get_account(conn, "zhang.wei").role == "leader"
        assert session_is_current(conn, "zhang.wei", 1) is None  # the old session ended
    assert ok(database_url, "areas", "zhang.wei", "320706001,320707").output.startswith("zhang.wei now sees 320706001, 320707")
    with engine.connect() as conn:
        assert get_account(conn, "zhang.wei").areas == ("320706001", "320707")
    assert "the whole city" in ok(database_url, "areas", "zhang.wei", "--all").output
    with engine.connect() as conn:
        assert get_account(conn, "zhang.wei").areas == ()
    details = [entry["detail"] for entry in reversed(audit_of(engine, "user_changed"))]
    assert details == [{"role": "leader", "was": "commander"}, {"areas": ["320706001", "320707"]}, {"areas": None}]


def test_disable_and_enable(people, database_url):
    engine = people
    with engine.begin() as conn:
        token = auth.issue_token(conn, "zhang.wei")
    ok(database_url, "disable", "zhang.wei")
    assert not can_log_in(engine, "zhang.wei", PASSWORD)
    with engine.begin() as conn:
        assert account_for_token(conn, token) is None and session_is_current(conn, "zhang.wei", 1) is None
    assert json.loads(ok(database_url, "list", "--json").output)[1]["disabled"] is True
    fails(database_url, "token", "zhang.wei", message="disabled")
    ok(database_url, "enable", "zhang.wei")
    assert can_log_in(engine, "zhang.wei", PASSWORD)
    assert [entry["target"] for entry in audit_of(engine, "user_disabled")] == ["zhang.wei"]
    assert audit_of(engine, "user_changed")[0]["detail"] == {"disabled": False}


def test_token_is_printed_once_and_revoke_ends_everything(people, database_url):
    engine = people
    person = ok(database_url, "token", "zhang.wei").stdout.splitlines()
    assert len(person) == 1
    with engine.begin() as conn:
        assert account_for_token(conn, person[0]).name == "zhang.wei"

    device = ok(database_url, "token", "screen-1").stdout.splitlines()
    token = device[0]
    assert device[1] == f"/wall/default?token={token}"
    other_wall = ok(database_url, "token", "screen-1", "--wall", "haizhou").stdout.splitlines()
    assert other_wall[1] == f"/wall/haizhou?token={other_wall[0]}"
    with engine.begin() as conn:
        assert account_for_token(conn, token).name == "screen-1"
    issued = audit_of(engine, "token_issued")
    assert [entry["target"] for entry in issued] == ["screen-1", "screen-1", "zhang.wei"]
    assert all(token not in json.dumps(entry, default=str) and other_wall[0] not in json.dumps(entry, default=str) for entry in issued)
    assert issued[0]["detail"]["token"] == auth.token_hash(other_wall[0])[:12]  # a reference to it, not the token

    result = ok(database_url, "revoke", "screen-1")
    assert "screen-1: 2 tokens revoked, sessions ended" in result.output
    with engine.begin() as conn:
        assert account_for_token(conn, token) is None and account_for_token(conn, other_wall[0]) is None
        assert session_is_current(conn, "screen-1", 1) is None  # the wall's device session ends too
        assert account_for_token(conn, person[0]).name == "zhang.wei"
    [entry] = audit_of(engine, "token_revoked")
    assert entry["target"] == "screen-1" and entry["detail"] == {"tokens": 2, "sessions": "ended"}
    assert "0 tokens revoked" in ok(database_url, "revoke", "screen-1").output


def test_first_admin_is_created_once_with_a_printed_random_password(engine):
    lines: list[str] = []
    assert ensure_first_admin(engine, echo=lines.append) is True
    password = next(line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("password:"))
    assert re.fullmatch(rf"[A-Za-z0-9]{{{FIRST_PASSWORD_LENGTH}}}", password)
    assert "cityops users passwd admin --password-stdin" in "\n".join(lines)
    with engine.connect() as conn:
        account = get_account(conn, "admin")
        stored = conn.execute(select(User.password_hash).where(User.name == "admin")).scalar_one()
    assert account.role == "admin" and account.areas == () and password not in stored
    assert can_log_in(engine, "admin", password)
    [entry] = audit_of(engine, "user_added")
    assert entry["target"] == "admin" and entry["detail"]["first_start"] is True and password not in json.dumps(entry, default=str)

    again: list[str] = []
    assert ensure_first_admin(engine, echo=again.append) is False and again == []  # once only


def test_serve_creates_the_first_admin_on_a_database_without_users(engine, monkeypatch, tmp_path):
    import app.server

    seed_small_platform(engine)  # areas exist: no demo city is built
    served = []

    class NoServer:
        def run(self, **options):
            served.append(options)

    monkeypatch.setattr(app.server, "create_app", lambda settings: NoServer())
    environment = {"CITYOPS_DATABASE_URL": url_of(engine), "CITYOPS_REDIS_URL": None, "CITYOPS_DATA_DIR": str(tmp_path)}
    first = CliRunner().invoke(main, ["serve", "--port", "18050"], env=environment, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert served and "password:" in first.output and "demo city" not in first.output
    password = re.search(r"password:\s+(\S+)", first.output).group(1)
    assert can_log_in(engine, "admin", password)
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert not [path for path in files if password.encode() in path.read_bytes()]  # written to no file (the database holds a hash)
    second = CliRunner().invoke(main, ["serve", "--port", "18050"], env=environment, catch_exceptions=False)
    assert second.exit_code == 0 and "password:" not in second.output
