"""Users, tokens, log-in checks and the audit log: plain functions on a connection.

* Passwords are hashed with argon2id (``argon2-cffi``, its default parameters); there is no default
  user and no default password: the first admin is created with ``cityops users add``.
* Failed log-ins back off: after ``FREE_ATTEMPTS`` failures an account is locked for
  ``LOCK_BASE`` seconds, doubling with every further failure up to ``LOCK_MAX``; a success resets
  it. A locked account answers "locked" whatever the password, so guessing gains nothing.
* Tokens are 32 random bytes (URL-safe); only their SHA-256 is stored, the token is shown once.
  Revoking a user's tokens also bumps ``session_version``, which ends every session they hold.
* The audit log is append-only (the database refuses UPDATE and DELETE, migration 0005).
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, func, insert, select, update

from queries.db import read_frame
from queries.schema import ApiToken, AuditEntry, User

ROLES = ("wall", "leader", "commander", "analyst", "admin")
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_LENGTH = 12
FREE_ATTEMPTS = 5
LOCK_BASE = dt.timedelta(seconds=60)
LOCK_MAX = dt.timedelta(hours=1)
TOKEN_BYTES = 32
AUDIT_ACTIONS = (
    "login", "login_failed", "logout", "page_view", "area_view", "incident_opened", "export", "spec_saved", "spec_published",
    "user_added", "user_changed", "user_disabled", "token_issued", "token_revoked", "wall_emergency", "wall_ack", "access_denied",
    "audit_exported",
)


class AuthError(ValueError):
    """A user-management request that cannot be done (the message says why)."""


class BadCredentials(Exception):
    """Unknown user, wrong password or disabled account: deliberately not told apart."""


class LockedOut(Exception):
    def __init__(self, until: dt.datetime):
        self.until = until
        super().__init__(f"locked until {until.isoformat()}")


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    areas: tuple[str, ...]
    session_version: int
    disabled: bool = False


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.timezone.utc)


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_user_name(name) -> str:
    if not isinstance(name, str) or not USER_NAME.match(name):
        raise AuthError("a user name is 1–64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    return name


def check_role(role) -> str:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    return role


def check_password(password) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password or not password.strip():
        raise AuthError("a password may not start or end with spaces")
    return password


def check_areas(areas: Iterable[str] | None) -> list[str] | None:
    values = [a.strip() for a in (areas or ()) if a and a.strip()]
    for code in values:
        if not re.fullmatch(r"[0-9]{6,15}", code):
            raise AuthError(f"area {code!r} is not an area code (6–15 digits)")
    return values or None


def _account(row) -> Account:
    return Account(row.name, row.role, tuple(row.areas or ()), row.session_version, bool(row.disabled))


def add_user(conn: Connection, name: str, role: str, password: str | None, *, areas: Sequence[str] | None = None,
             now: dt.datetime | None = None) -> Account:
    """A new user; a ``wall`` device may have no password (it logs in with a token)."""
    name, role = check_user_name(name), check_role(role)
    if password is None and role != "wall":
        raise AuthError("a person needs a password (only a wall device may log in by token alone)")
    if conn.execute(select(User.name).where(User.name == name)).first() is not None:
        raise AuthError(f"user {name!r} exists already")
    moment = _now(now)
    conn.execute(insert(User).values(
        name=name, role=role, password_hash=None if password is None else hash_password(check_password(password)),
        areas=check_areas(areas), disabled=False, failed_logins=0, session_version=1, created_at=moment, updated_at=moment,
    ))
    return Account(name, role, tuple(check_areas(areas) or ()), 1)


def get_account(conn: Connection, name: str) -> Account | None:
    row = conn.execute(select(User.name, User.role, User.areas, User.session_version, User.disabled).where(User.name == name)).first()
    return None if row is None else _account(row)


def list_users(conn: Connection) -> pd.DataFrame:
    columns = [User.name, User.role, User.areas, User.disabled, User.failed_logins, User.locked_until, User.created_at, User.updated_at]
    return read_frame(conn, select(*columns).order_by(User.name), [c.key for c in columns])


def change_user(conn: Connection, name: str, *, role: str | None = None, password: str | None = None, areas=None,
                disabled: bool | None = None, now: dt.datetime | None = None) -> Account:
    """Change what is given; a new role, password, area list or disabling ends the user's sessions."""
    if get_account(conn, name) is None:
        raise AuthError(f"no user {name!r}")
    values: dict = {"updated_at": _now(now), "session_version": User.session_version + 1}
    if role is not None:
        values["role"] = check_role(role)
    if password is not None:
        values.update(password_hash=hash_password(check_password(password)), failed_logins=0, locked_until=None)
    if areas is not None:
        values["areas"] = check_areas(areas)
    if disabled is not None:
        values["disabled"] = bool(disabled)
    conn.execute(update(User).where(User.name == name).values(**values))
    return get_account(conn, name)


def verify_login(conn: Connection, name: str, password: str, now: dt.datetime | None = None) -> Account:
    """The account when ``password`` is right; ``BadCredentials`` or ``LockedOut`` otherwise.

    Runs the hash check even for an unknown user, so the answer time does not tell who exists.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    moment = _now(now)
    columns = (User.name, User.role, User.areas, User.session_version, User.disabled, User.password_hash, User.failed_logins, User.locked_until)
    row = conn.execute(select(*columns).where(User.name == name)).first() if isinstance(name, str) else None
    if row is not None and row.locked_until is not None and row.locked_until > moment:
        raise LockedOut(row.locked_until)
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
    try:
        _hasher().verify(stored, password if isinstance(password, str) else "")
        good = row is not None and row.password_hash is not None and not row.disabled
    except (VerificationError, InvalidHashError):
        good = False
    if row is None:
        raise BadCredentials()
    if not good:
        failures = row.failed_logins + 1
        locked_until = None
        if failures >= FREE_ATTEMPTS:
            locked_until = moment + min(LOCK_MAX, LOCK_BASE * 2 ** (failures - FREE_ATTEMPTS))
        conn.execute(update(User).where(User.name == row.name).values(failed_logins=failures, locked_until=locked_until))
        raise BadCredentials()
    if row.failed_logins or row.locked_until:
        conn.execute(update(User).where(User.name == row.name).values(failed_logins=0, locked_until=None))
    if _hasher().check_needs_rehash(row.password_hash):
        conn.execute(update(User).where(User.name == row.name).values(password_hash=hash_password(password)))
    return Account(row.name, row.role, tuple(row.areas or ()), row.session_version)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made once: verifying an unknown user against it costs what a
    real check costs, so the answer time does not tell which users exist."""
    return hash_password(secrets.token_urlsafe(24))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(conn: Connection, name: str, now: dt.datetime | None = None) -> str:
    """A new token for ``name``; returned once, stored only as its SHA-256."""
    account = get_account(conn, name)
    if account is None:
        raise AuthError(f"no user {name!r}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    conn.execute(insert(ApiToken).values(token_hash=token_hash(token), user_name=name, created_at=_now(now)))
    return token


def revoke_tokens(conn: Connection, name: str, now: dt.datetime | None = None) -> int:
    """Revoke every token of ``name`` and end its sessions (device sessions included); returns how many tokens."""
    if get_account(conn, name) is None:
        raise AuthError(f"no user {name!r}")
    moment = _now(now)
    revoked = conn.execute(update(ApiToken).where(ApiToken.user_name == name, ApiToken.revoked_at.is_(None)).values(revoked_at=moment)).rowcount
    conn.execute(update(User).where(User.name == name).values(session_version=User.session_version + 1, updated_at=moment))
    return int(revoked or 0)


def account_for_token(conn: Connection, token, now: dt.datetime | None = None) -> Account | None:
    """The account a live token belongs to (and note its use), or None."""
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        return None
    row = conn.execute(
        select(User.name, User.role, User.areas, User.session_version, User.disabled)
        .join(ApiToken, ApiToken.user_name == User.name)
        .where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or row.disabled:
        return None
    conn.execute(update(ApiToken).where(ApiToken.token_hash == token_hash(token)).values(last_used_at=_now(now)))
    return _account(row)


def session_is_current(conn: Connection, name: str, version: int) -> Account | None:
    """The account when a session of ``version`` is still valid (not disabled, nothing changed since)."""
    account = get_account(conn, name)
    if account is None or account.disabled or account.session_version != version:
        return None
    return account


# --- the audit log ----------------------------------------------------------------------------------


def record_audit(conn: Connection, action: str, *, user: str | None, role: str | None, remote_addr: str | None = None,
                 target: str | None = None, area_code: str | None = None, outcome: str = "ok", detail: dict | None = None,
                 now: dt.datetime | None = None) -> None:
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(AUDIT_ACTIONS)}")
    conn.execute(insert(AuditEntry).values(
        at=_now(now), user_name=user, role=role, remote_addr=(remote_addr or None) and remote_addr[:64], action=action,
        target=None if target is None else str(target)[:256], area_code=area_code, outcome=outcome, detail=detail,
    ))


AUDIT_COLUMNS = ("id", "at", "user_name", "role", "remote_addr", "action", "target", "area_code", "outcome", "detail")


def list_audit(conn: Connection, *, user: str | None = None, action: str | None = None, start: dt.datetime | None = None,
               end: dt.datetime | None = None, outcome: str | None = None, limit: int = 500, offset: int = 0) -> pd.DataFrame:
    """Audit entries newest first, filtered."""
    if not 1 <= limit <= 100_000:
        raise ValueError(f"limit must be 1–100000, not {limit}")
    where = []
    if user:
        where.append(AuditEntry.user_name == user)
    if action:
        where.append(AuditEntry.action == action)
    if outcome:
        where.append(AuditEntry.outcome == outcome)
    if start is not None:
        where.append(AuditEntry.at >= start)
    if end is not None:
        where.append(AuditEntry.at < end)
    columns = [getattr(AuditEntry, name) for name in AUDIT_COLUMNS]
    stmt = select(*columns).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    return read_frame(conn, stmt, list(AUDIT_COLUMNS))


def user_count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(User)).scalar_one()
