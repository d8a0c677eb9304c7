"""Users, log-in checks with back-off, tokens, sessions and the append-only audit log (queries.auth),
on SQLite and PostGIS. Time is injected (``now``), never waited for."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete, event, select, text, update
from sqlalchemy.exc import DBAPIError

from queries import auth
from queries.auth import (
    FREE_ATTEMPTS,
    LOCK_BASE,
    LOCK_MAX,
    AuthError,
    BadCredentials,
    LockedOut,
    account_for_token,
    add_user,
    change_user,
    get_account,
    issue_token,
    list_audit,
    list_users,
    login_throttles,
    record_audit,
    revoke_tokens,
    session_is_current,
    token_hash,
    user_count,
    verify_login,
)
from queries.schema import ApiToken, AuditEntry, User

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """Cheap argon2id parameters: the same code path, a fraction of the time (the production
    parameters are argon2-cffi's defaults, checked in test_passwords_are_argon2id_hashes)."""
    monkeypatch.setattr(auth, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def attempt(engine, name, password, now, address="10.9.9.9"):
    """One log-in attempt from ``address`` in its own transaction, committed whatever the outcome
    (like /login): the account, or the exception it raised."""
    with engine.begin() as conn:
        try:
            return verify_login(conn, name, password, address=address, now=now)
        except (BadCredentials, LockedOut) as exc:
            return exc


def user_row(engine, name):
    with engine.connect() as conn:
        return conn.execute(select(User).where(User.name == name)).mappings().one()


@pytest.fixture
def people(engine):
    with engine.begin() as conn:
        add_user(conn, "zhang.wei", "commander", PASSWORD, areas=["320706"], now=T0)
        add_user(conn, "screen-1", "wall", None, now=T0)
    return engine


def test_passwords_are_argon2id_hashes(engine, monkeypatch):
    monkeypatch.undo()  # the real parameters
    with engine.begin() as conn:
        account = add_user(conn, "li.na", "leader", PASSWORD, now=T0)
    assert account == auth.Account("li.na", "leader", (), 1, False)
    stored = user_row(engine, "li.na")["password_hash"]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert isinstance(attempt(engine, "li.na", PASSWORD, T0), auth.Account)


def test_add_user_checks_everything(people):
    engine = people
    with engine.begin() as conn:
        assert user_count(conn) == 2
        assert get_account(conn, "zhang.wei") == auth.Account("zhang.wei", "commander", ("320706",), 1, False)
        assert get_account(conn, "screen-1").role == "wall"
        for args, message in [
            (("zhang.wei", "leader", PASSWORD), "exists already"),
            (("bad name", "leader", PASSWORD), "user name"),
            (("", "leader", PASSWORD), "user name"),
            (("wang", "boss", PASSWORD), "unknown role"),
            (("wang", "leader", "short"), "at least 12"),
            (("wang", "leader", " padded password "), "spaces"),
            (("wang", "leader", None), "needs a password"),
        ]:
            with pytest.raises(AuthError, match=message):
                add_user(conn, *args)
        with pytest.raises(AuthError, match="not an area code"):
            add_user(conn, "wang", "leader", PASSWORD, areas=["Haizhou"])
    with engine.connect() as conn:
        frame = list_users(conn)
    assert list(frame["name"]) == ["screen-1", "zhang.wei"]
    assert "password_hash" not in frame.columns


def test_good_and_bad_passwords(people):
    engine = people
    account = attempt(engine, "zhang.wei", PASSWORD, T0)
    assert account == auth.Account("zhang.wei", "commander", ("320706",), 1)
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD + "x", T0), BadCredentials)
    assert isinstance(attempt(engine, "nobody", PASSWORD, T0), BadCredentials)  # unknown user: the same answer
    assert isinstance(attempt(engine, "screen-1", "", T0), BadCredentials)  # a device has no password to log in with
    assert user_row(engine, "zhang.wei")["failed_logins"] == 1


ADMIN_DESK, ATTACKER, ELSEWHERE = "10.1.0.7", "203.0.113.9", "10.2.0.8"


def throttles(engine, **filters) -> list[dict]:
    """The throttle rows, times as datetimes (None for none)."""
    with engine.connect() as conn:
        rows = login_throttles(conn, **filters).to_dict("records")
    return [{key: (None if value is pd.NaT or value is None else value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
             for key, value in row.items()} for row in rows]


def test_back_off_per_name_and_address_locks_doubles_caps_and_unlocks(people):
    engine = people
    moment = T0
    for number in range(1, FREE_ATTEMPTS):
        assert isinstance(attempt(engine, "zhang.wei", "wrong password!", moment, ATTACKER), BadCredentials)
        assert all(row["locked_until"] is None for row in throttles(engine)), number
        moment += SECOND
    # The FREE_ATTEMPTS-th failure locks that name at that address for LOCK_BASE.
    assert isinstance(attempt(engine, "zhang.wei", "wrong password!", moment, ATTACKER), BadCredentials)
    [pair] = throttles(engine, user="zhang.wei")
    assert (pair["scope"], pair["address"], pair["failures"], pair["locked_until"]) == ("account", ATTACKER, FREE_ATTEMPTS, moment + LOCK_BASE)
    locked_at = moment

    # While locked even the right password is refused there, with the time it ends; nothing is counted.
    refused = attempt(engine, "zhang.wei", PASSWORD, locked_at + LOCK_BASE - SECOND, ATTACKER)
    assert isinstance(refused, LockedOut) and refused.until == locked_at + LOCK_BASE
    assert throttles(engine, user="zhang.wei")[0]["failures"] == FREE_ATTEMPTS

    # After the lock a further failure doubles it, up to LOCK_MAX.
    moment = locked_at + LOCK_BASE + SECOND
    assert isinstance(attempt(engine, "zhang.wei", "wrong password!", moment, ATTACKER), BadCredentials)
    assert throttles(engine, user="zhang.wei")[0]["locked_until"] == moment + 2 * LOCK_BASE
    doublings = int(math.log2(LOCK_MAX / LOCK_BASE)) + 2
    for _ in range(doublings):
        moment = throttles(engine, user="zhang.wei")[0]["locked_until"] + SECOND
        attempt(engine, "zhang.wei", "wrong password!", moment, ATTACKER)
    assert throttles(engine, user="zhang.wei")[0]["locked_until"] == moment + LOCK_MAX

    # Once it passes, the right password logs in and clears that name's count at that address.
    moment += LOCK_MAX + SECOND
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD, moment, ATTACKER), auth.Account)
    assert throttles(engine, user="zhang.wei") == []
    row = user_row(engine, "zhang.wei")
    assert row["failed_logins"] == 0 and row["locked_until"] is None


def test_a_guesser_elsewhere_cannot_lock_the_admin_out_of_their_own_workstation(people):
    engine = people
    with engine.begin() as conn:
        add_user(conn, "ops.admin", "admin", PASSWORD, now=T0)
    for _ in range(FREE_ATTEMPTS + 3):
        attempt(engine, "ops.admin", "wrong password!", T0, ATTACKER)
    assert isinstance(attempt(engine, "ops.admin", PASSWORD, T0 + SECOND, ATTACKER), LockedOut)  # the guesser is locked out
    assert isinstance(attempt(engine, "ops.admin", PASSWORD, T0 + SECOND, ADMIN_DESK), auth.Account)  # the admin is not
    # The administrators' view still tells: failures since the last success, and the latest lock somewhere.
    assert isinstance(attempt(engine, "ops.admin", "typo password", T0 + 2 * SECOND, ADMIN_DESK), BadCredentials)
    row = user_row(engine, "ops.admin")
    assert row["failed_logins"] == 1 and row["locked_until"] is None  # reset by the success at the desk
    for _ in range(FREE_ATTEMPTS):
        attempt(engine, "ops.admin", "wrong password!", T0 + 3 * SECOND, ELSEWHERE)
    assert user_row(engine, "ops.admin")["locked_until"] == T0 + 3 * SECOND + LOCK_BASE
    assert isinstance(attempt(engine, "ops.admin", PASSWORD, T0 + 4 * SECOND, ADMIN_DESK), auth.Account)


def test_unknown_and_known_names_are_indistinguishable(people):
    """The same answers at the same moments, the same throttle rows: nothing tells whether
    ``zhang.wei`` has an account and ``wang.fang`` has none."""
    engine = people
    answers = {}
    for name in ("zhang.wei", "wang.fang"):
        moment, seen = T0, []
        for _ in range(FREE_ATTEMPTS + 2):
            outcome = attempt(engine, name, "wrong password!", moment, ATTACKER)
            seen.append((type(outcome).__name__, getattr(outcome, "until", None)))
            moment += SECOND
        answers[name] = seen
    assert answers["zhang.wei"] == answers["wang.fang"]
    assert answers["zhang.wei"][FREE_ATTEMPTS][0] == "LockedOut"
    rows = {row["user_name"]: row for row in throttles(engine) if row["scope"] == "account"}
    assert {k: v for k, v in rows["zhang.wei"].items() if k != "user_name"} == {k: v for k, v in rows["wang.fang"].items() if k != "user_name"}


def test_every_failure_does_the_same_work(people, monkeypatch):
    """Same timing class for a name with an account, one without and a device without a password:
    one argon2 verification with the parameters real hashes have (a dummy hash where there is no
    password) and the same SQL statements in the same order."""
    engine = people
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    verified = []

    class Recording(PasswordHasher):
        def verify(self, stored, password):
            verified.append(stored.split("$")[3])  # the parameters: m=…,t=…,p=…
            return super().verify(stored, password)

    monkeypatch.setattr(auth, "_hasher", lambda: Recording(time_cost=1, memory_cost=1024, parallelism=1))
    work = {}
    for name in ("zhang.wei", "wang.fang", "screen-1"):
        verified.clear()
        statements = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(" ".join(statement.split()))

        event.listen(engine, "before_cursor_execute", record)
        try:
            outcome = attempt(engine, name, "wrong password!", T0, ATTACKER)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert isinstance(outcome, BadCredentials), name
        work[name] = (list(verified), statements)
    assert work["zhang.wei"][0] == [fast.hash("x").split("$")[3]]
    assert work["zhang.wei"] == work["wang.fang"] == work["screen-1"]
    assert any("login_throttle" in statement for statement in work["zhang.wei"][1])


def test_an_address_guessing_many_names_is_slowed_down_for_every_name(people):
    engine = people
    moment = T0
    for number in range(auth.ADDRESS_FREE_ATTEMPTS):
        assert isinstance(attempt(engine, f"guess-{number}", "wrong password!", moment, ATTACKER), BadCredentials)
        moment += SECOND
    [address] = [row for row in throttles(engine, address=ATTACKER) if row["scope"] == "address"]
    assert address["failures"] == auth.ADDRESS_FREE_ATTEMPTS and address["locked_until"] == moment - SECOND + auth.ADDRESS_LOCK_BASE
    locked = attempt(engine, "zhang.wei", PASSWORD, moment, ATTACKER)  # every name, even with its password
    assert isinstance(locked, LockedOut) and locked.until == address["locked_until"]
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD, moment, ELSEWHERE), auth.Account)  # other addresses are not affected
    # A success does not reset an address's count: after the lock, the next failure doubles it.
    moment = address["locked_until"] + SECOND
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD, moment, ATTACKER), auth.Account)
    attempt(engine, "guess-x", "wrong password!", moment, ATTACKER)
    [address] = [row for row in throttles(engine, address=ATTACKER) if row["scope"] == "address"]
    assert address["locked_until"] == moment + 2 * auth.ADDRESS_LOCK_BASE


def test_counts_are_forgotten_a_day_after_the_last_failure(people):
    engine = people
    for _ in range(FREE_ATTEMPTS - 1):
        attempt(engine, "zhang.wei", "wrong password!", T0, ATTACKER)
    later = T0 + auth.FORGET_AFTER + SECOND
    assert isinstance(attempt(engine, "zhang.wei", "wrong password!", later, ELSEWHERE), BadCredentials)
    assert {(row["scope"], row["address"]) for row in throttles(engine)} == {("account", ELSEWHERE), ("address", ELSEWHERE)}  # old rows purged
    for _ in range(FREE_ATTEMPTS - 1):  # a fresh allowance at the old address: not locked
        assert isinstance(attempt(engine, "zhang.wei", "wrong password!", later, ATTACKER), BadCredentials)
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD, later, ATTACKER), auth.Account)


def test_success_resets_the_counter(people):
    engine = people
    for _ in range(FREE_ATTEMPTS - 1):
        attempt(engine, "zhang.wei", "wrong password!", T0, ATTACKER)
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD, T0, ATTACKER), auth.Account)
    assert user_row(engine, "zhang.wei")["failed_logins"] == 0
    for _ in range(FREE_ATTEMPTS - 1):  # a fresh allowance: still not locked
        attempt(engine, "zhang.wei", "wrong password!", T0, ATTACKER)
    assert all(row["locked_until"] is None for row in throttles(engine))


def test_disabled_user_is_refused_and_a_new_password_lifts_a_lock(people):
    engine = people
    with engine.begin() as conn:
        change_user(conn, "zhang.wei", disabled=True, now=T0)
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD, T0, ATTACKER), BadCredentials)
    with engine.begin() as conn:
        change_user(conn, "zhang.wei", disabled=False, now=T0)
    for _ in range(FREE_ATTEMPTS):
        attempt(engine, "zhang.wei", "wrong password!", T0, ATTACKER)
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD, T0, ATTACKER), LockedOut)
    with engine.begin() as conn:
        change_user(conn, "zhang.wei", password="another long secret", now=T0)
    row = user_row(engine, "zhang.wei")
    assert row["failed_logins"] == 0 and row["locked_until"] is None
    assert [r["scope"] for r in throttles(engine)] == ["address"]  # the address's own count stays
    assert isinstance(attempt(engine, "zhang.wei", PASSWORD, T0, ATTACKER), BadCredentials)
    assert isinstance(attempt(engine, "zhang.wei", "another long secret", T0, ATTACKER), auth.Account)


def test_change_user_checks_and_bumps_the_session_version(people):
    engine = people
    with engine.begin() as conn:
        assert session_is_current(conn, "zhang.wei", 1) is not None
        account = change_user(conn, "zhang.wei", role="leader", areas=[], now=T0)
        assert account == auth.Account("zhang.wei", "leader", (), 2, False)
        assert session_is_current(conn, "zhang.wei", 1) is None  # the old session is over
        assert session_is_current(conn, "zhang.wei", 2) == account
        with pytest.raises(AuthError, match="no user"):
            change_user(conn, "nobody", role="leader")
        with pytest.raises(AuthError, match="unknown role"):
            change_user(conn, "zhang.wei", role="king")
        change_user(conn, "zhang.wei", disabled=True)
        assert session_is_current(conn, "zhang.wei", 3) is None  # disabled: no session at all
        assert session_is_current(conn, "nobody", 1) is None


def test_tokens_are_shown_once_stored_hashed_and_revocable(people):
    engine = people
    with engine.begin() as conn:
        token = issue_token(conn, "screen-1", now=T0)
        second = issue_token(conn, "screen-1", now=T0)
        other = issue_token(conn, "zhang.wei", now=T0)
        with pytest.raises(AuthError, match="no user"):
            issue_token(conn, "nobody")
    assert len(token) >= 40 and token != second
    with engine.connect() as conn:
        rows = conn.execute(select(ApiToken)).mappings().all()
    assert {row["token_hash"] for row in rows} == {token_hash(token), token_hash(second), token_hash(other)}
    assert all(token not in str(dict(row)) for row in rows)  # only the hash is kept

    with engine.begin() as conn:
        assert account_for_token(conn, token, now=T0 + SECOND).name == "screen-1"
        assert account_for_token(conn, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert account_for_token(conn, "short") is None and account_for_token(conn, None) is None
        used = conn.execute(select(ApiToken.last_used_at).where(ApiToken.token_hash == token_hash(token))).scalar_one()
        assert used == T0 + SECOND
        assert session_is_current(conn, "screen-1", 1) is not None
        assert revoke_tokens(conn, "screen-1", now=T0) == 2
        assert account_for_token(conn, token) is None and account_for_token(conn, second) is None
        assert session_is_current(conn, "screen-1", 1) is None  # revoking ends the device's sessions too
        assert account_for_token(conn, other).name == "zhang.wei"  # other users keep theirs
        assert revoke_tokens(conn, "screen-1") == 0
        with pytest.raises(AuthError, match="no user"):
            revoke_tokens(conn, "nobody")
        change_user(conn, "zhang.wei", disabled=True)
        assert account_for_token(conn, other) is None  # a disabled user's token does not work


def test_audit_log_is_append_only(engine):
    with engine.begin() as conn:
        record_audit(conn, "login", user="zhang.wei", role="commander", remote_addr="10.1.2.3", now=T0)
        with pytest.raises(ValueError, match="unknown audit action"):
            record_audit(conn, "coffee", user=None, role=None)
    for statement in (update(AuditEntry).values(user_name="someone.else"), delete(AuditEntry)):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_log"))
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEntry.user_name, AuditEntry.action)).all()
    assert [tuple(row) for row in rows] == [("zhang.wei", "login")]


def test_list_audit_filters_and_pages(engine):
    entries = [
        ("login", "zhang.wei", "ok", 0), ("login_failed", None, "failed", 1), ("page_view", "zhang.wei", "ok", 2),
        ("access_denied", "li.na", "denied", 3), ("logout", "zhang.wei", "ok", 4), ("user_added", "cli:root", "ok", 5),
    ]
    with engine.begin() as conn:
        for action, user, outcome, minutes in entries:
            record_audit(conn, action, user=user, role=None, outcome=outcome, detail={"n": minutes},
                         now=T0 + dt.timedelta(minutes=minutes))
        everything = list_audit(conn)
        assert list(everything["action"]) == ["user_added", "logout", "access_denied", "page_view", "login_failed", "login"]  # newest first
        assert everything["detail"].iloc[0] == {"n": 5}
        assert list(list_audit(conn, user="zhang.wei")["action"]) == ["logout", "page_view", "login"]
        assert list(list_audit(conn, action="login_failed")["outcome"]) == ["failed"]
        assert list(list_audit(conn, outcome="denied")["user_name"]) == ["li.na"]
        window = list_audit(conn, start=T0 + dt.timedelta(minutes=1), end=T0 + dt.timedelta(minutes=3))
        assert list(window["action"]) == ["page_view", "login_failed"]  # start inclusive, end exclusive
        assert list(list_audit(conn, limit=2, offset=2)["action"]) == ["access_denied", "page_view"]
        assert list_audit(conn, user="nobody").empty
        with pytest.raises(ValueError, match="limit"):
            list_audit(conn, limit=0)
