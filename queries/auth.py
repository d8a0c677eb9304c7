"""Users, tokens, log-in checks, the areas a user may see, and the audit log: plain functions on a
connection.

* Passwords are hashed with argon2id (``argon2-cffi``, its default parameters); there is no default
  user and no default password: the first admin is created with ``cityops users add``.
* Tokens are 32 random bytes (URL-safe); only their SHA-256 is stored, the token is shown once.
  Revoking a user's tokens also bumps ``session_version``, which ends every session they hold.
* The audit log is append-only (the database refuses UPDATE and DELETE, migration 0005).

Failed log-ins: the rule (``verify_login``)
-------------------------------------------
Every attempt is judged on the **name typed** and the **client address** (``address``: the peer,
or the client a trusted proxy names — ``app.security.identity.remote_addr``), never on whether an
account of that name exists:

1. **Per (name, address)**: after ``FREE_ATTEMPTS`` failures of one name from one address, that
   name is refused *from that address* for ``LOCK_BASE``, doubling with every further failure up to
   ``LOCK_MAX``. A success from that address clears it; ``change_user(password=…)`` clears it for
   every address.
2. **Per address**: after ``ADDRESS_FREE_ATTEMPTS`` failures from one address, whatever the names,
   that address is refused for every name for ``ADDRESS_LOCK_BASE``, doubling up to
   ``ADDRESS_LOCK_MAX``. A success does not clear it (an insider with one account cannot reset
   their guessing budget by logging in); it lapses with time.

An attempt without an address (a unix socket with no trusted proxy in front) counts as the one
address ``unknown``: set ``CITYOPS_TRUSTED_PROXIES`` there, or rule 2 applies to everyone at once.

Counts start again ``FORGET_AFTER`` after the last failure (those rows are deleted then). While a
lock holds, the attempt is refused (``LockedOut``, the later of the two locks) without checking the
password and without counting.

So a guesser elsewhere on the network locks only *their own* address out: the administrator's
workstation keeps logging in as the administrator. The price: a guesser with many addresses gets
``FREE_ATTEMPTS`` per address before the back-off — the audit log records every failure with its
address for the people who watch it.

Unknown and known names are indistinguishable: the same ``BadCredentials`` (one message on the
page), the same throttle rows and statements, and the same argon2 work — a name without an
account, a wall device without a password and a disabled account are verified against a dummy
hash made with the same parameters. ``users.failed_logins`` (failures since the last success, any
address) and ``users.locked_until`` (the latest lock of that name at some address) are a summary
for the administrators' view; they never refuse anything.

Areas
-----
``users.areas`` holds area-code prefixes (empty = the whole city). ``areas_within`` and
``records_within`` turn them into SQL conditions on area codes and on records that carry the codes
of every level (``AreaCodesMixin``): a record is in an area when its code of that area's level
starts with the prefix. Codes are hierarchical (checked at ingest: a grid's code starts with its
community's, which starts with its street's, which starts with its district's), so one column
decides. Several prefixes are a union.
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
from sqlalchemy import Connection, delete, func, insert, or_, select, update

from queries.db import read_frame
from queries.schema import ApiToken, AuditEntry, LoginThrottle, User

ROLES = ("wall", "leader", "commander", "analyst", "admin")
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_LENGTH = 12
FREE_ATTEMPTS = 5  # per (name, address)
LOCK_BASE = dt.timedelta(seconds=60)
LOCK_MAX = dt.timedelta(hours=1)
ADDRESS_FREE_ATTEMPTS = 20  # per address, whatever the names
ADDRESS_LOCK_BASE = dt.timedelta(seconds=60)
ADDRESS_LOCK_MAX = dt.timedelta(hours=1)
FORGET_AFTER = dt.timedelta(hours=24)
UNKNOWN_ADDRESS = "unknown"
TOKEN_BYTES = 32
AUDIT_ACTIONS = (
    "login", "login_failed", "logout", "page_view", "area_view", "incident_opened", "export", "spec_saved", "spec_published", "spec_imported",
    "spec_rolled_back", "spec_deleted",  # the studio (app/studio/specs.py)
    "user_added", "user_changed", "user_disabled", "token_issued", "token_revoked", "wall_emergency", "wall_ack", "access_denied",
    "audit_exported", "audit_lost",
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
        conn.execute(delete(LoginThrottle).where(LoginThrottle.scope == "account", LoginThrottle.user_name == name))
    if areas is not None:
        values["areas"] = check_areas(areas)
    if disabled is not None:
        values["disabled"] = bool(disabled)
    conn.execute(update(User).where(User.name == name).values(**values))
    return get_account(conn, name)


def verify_login(conn: Connection, name: str, password: str, *, address: str | None = None, now: dt.datetime | None = None) -> Account:
    """The account when ``password`` is right for ``name``; ``BadCredentials`` or ``LockedOut``
    otherwise, by the rule of the module docstring (``address``: the client's; None = unknown).

    The caller commits even when this raises: the failure it counted must stay counted.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    moment = _now(now)
    name = name if isinstance(name, str) else ""
    address = (address or UNKNOWN_ADDRESS)[:64]
    pair_key, address_key = _throttle_key("account", name, address), _throttle_key("address", "", address)
    throttles = {row.key: row for row in conn.execute(select(LoginThrottle).where(LoginThrottle.key.in_([pair_key, address_key])))}
    locks = [row.locked_until for row in throttles.values() if row.locked_until is not None and row.locked_until > moment]
    if locks:
        raise LockedOut(max(locks))

    columns = (User.name, User.role, User.areas, User.session_version, User.disabled, User.password_hash, User.failed_logins, User.locked_until)
    row = conn.execute(select(*columns).where(User.name == name)).first()
    hasher = _hasher()
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash(hasher)
    try:
        hasher.verify(stored, password if isinstance(password, str) else "")
        good = row is not None and row.password_hash is not None and not row.disabled
    except (VerificationError, InvalidHashError):
        good = False

    if not good:
        # The same statements whether the name has an account or not (the last one then matches nothing).
        pair_lock = _count_failure(conn, throttles.get(pair_key), pair_key, "account", name[:64], address, moment,
                                   FREE_ATTEMPTS, LOCK_BASE, LOCK_MAX)
        _count_failure(conn, throttles.get(address_key), address_key, "address", None, address, moment,
                       ADDRESS_FREE_ATTEMPTS, ADDRESS_LOCK_BASE, ADDRESS_LOCK_MAX)
        conn.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < moment - FORGET_AFTER,
                                                 or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < moment)))
        summary = {"failed_logins": User.failed_logins + 1, **({"locked_until": pair_lock} if pair_lock is not None else {})}
        conn.execute(update(User).where(User.name == name).values(**summary))
        raise BadCredentials()

    if pair_key in throttles:
        conn.execute(delete(LoginThrottle).where(LoginThrottle.key == pair_key))
    if row.failed_logins or row.locked_until:
        conn.execute(update(User).where(User.name == row.name).values(failed_logins=0, locked_until=None))
    if hasher.check_needs_rehash(row.password_hash):
        conn.execute(update(User).where(User.name == row.name).values(password_hash=hash_password(password)))
    return Account(row.name, row.role, tuple(row.areas or ()), row.session_version)


def _throttle_key(scope: str, name: str, address: str) -> str:
    return hashlib.sha256("\0".join((scope, name, address)).encode("utf-8")).hexdigest()


def _count_failure(conn: Connection, row, key: str, scope: str, user_name: str | None, address: str, moment: dt.datetime,
                   free: int, base: dt.timedelta, cap: dt.timedelta) -> dt.datetime | None:
    """One more failure on throttle ``key``; returns the lock it earned (None: not locked yet)."""
    from queries.writes import upsert

    earlier = row.failures if row is not None and row.last_failure_at >= moment - FORGET_AFTER else 0
    failures = earlier + 1
    locked_until = moment + min(cap, base * 2 ** (failures - free)) if failures >= free else None
    upsert(conn, LoginThrottle.__table__, [{"key": key, "scope": scope, "user_name": user_name, "address": address, "failures": failures,
                                            "locked_until": locked_until, "last_failure_at": moment}], key=["key"])
    return locked_until


def login_throttles(conn: Connection, *, user: str | None = None, address: str | None = None) -> pd.DataFrame:
    """The throttle rows (scope, user_name, address, failures, locked_until, last_failure_at), filtered."""
    columns = [LoginThrottle.scope, LoginThrottle.user_name, LoginThrottle.address, LoginThrottle.failures, LoginThrottle.locked_until,
               LoginThrottle.last_failure_at]
    where = []
    if user is not None:
        where.append(LoginThrottle.user_name == user)
    if address is not None:
        where.append(LoginThrottle.address == address)
    stmt = select(*columns).where(*where).order_by(LoginThrottle.scope, LoginThrottle.user_name, LoginThrottle.address)
    return read_frame(conn, stmt, [c.key for c in columns])


def _dummy_hash(hasher) -> str:
    """A hash of a random password with ``hasher``'s parameters (the ones real hashes get), made
    once per parameter set: verifying an unknown user against it costs what a real check costs, so
    the answer time does not tell which users exist."""
    return _dummy_hash_for(hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.salt_len, hasher.type)


@functools.cache
def _dummy_hash_for(time_cost: int, memory_cost: int, parallelism: int, hash_len: int, salt_len: int, kind) -> str:
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, hash_len=hash_len, salt_len=salt_len, type=kind)
    return hasher.hash(secrets.token_urlsafe(24))


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


# --- areas ------------------------------------------------------------------------------------------

LEVEL_CODE_COLUMNS = ((6, "district_code"), (9, "street_code"), (12, "community_code"), (15, "grid_code"))


def area_prefixes(areas: Iterable[str] | None) -> tuple[str, ...]:
    """``areas`` checked (6–15 digits each, ``check_areas``), without repeats; () = the whole city."""
    return tuple(dict.fromkeys(check_areas(list(areas or ())) or ()))


def areas_within(column, areas: Iterable[str] | None):
    """A condition: ``column`` (an area code) lies in one of ``areas`` (prefixes); None = no limit."""
    prefixes = area_prefixes(areas)
    if not prefixes:
        return None
    return or_(*(column.startswith(prefix, autoescape=True) for prefix in prefixes))


def records_within(table, areas: Iterable[str] | None):
    """A condition: a record of ``table`` (with ``district_code`` … ``grid_code``) lies in one of
    ``areas`` (prefixes, a union); None = no limit. A prefix of a level's length compares that
    level's code; one in between (e.g. 7 digits) is a prefix of the next finer level's code."""
    prefixes = area_prefixes(areas)
    if not prefixes:
        return None
    terms = []
    for prefix in prefixes:
        length, name = next((length, name) for length, name in LEVEL_CODE_COLUMNS if length >= len(prefix))
        column = getattr(table, name)
        terms.append(column == prefix if length == len(prefix) else column.startswith(prefix, autoescape=True))
    return or_(*terms)


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
