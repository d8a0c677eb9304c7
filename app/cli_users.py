"""``cityops users``: people and wall devices, from the server's command line.

Registered on the main group at the end of ``app/cli.py``. Like every command, the schema is
created or migrated first. A password is read from standard input (``--password-stdin``: the first
line, or a hidden prompt asked twice on a terminal), never from an argument, where it would stay in
the shell history and the process list. Every change is written to the audit log in the same
transaction, by ``cli:LOGIN`` (the operating-system login): ``user_added``, ``user_changed``,
``user_disabled``, ``token_issued``, ``token_revoked``; never a password or a token.

Exit status: 0 done, 1 the request cannot be done (unknown user, bad role, short password… one
line naming why, never a traceback) or the database failed, 2 a malformed command line (click).

``ensure_first_admin`` is called by ``cityops serve``: on a database without users it creates
``admin`` with a random password and prints it once on the console (there is no default password).
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import string
import sys

import click

FAILED_EXIT = 1
FIRST_ADMIN = "admin"
FIRST_PASSWORD_LENGTH = 20
PASSWORD_ALPHABET = string.ascii_letters + string.digits


def actor() -> str:
    """``cli:LOGIN``: who changes users from this command line (the audit log's user)."""
    import getpass

    try:
        login = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        login = ""
    return f"cli:{login}"[:64] if login else "cli"


def _fail(message: str) -> None:
    click.echo(f"cityops users: {message}", err=True)
    sys.exit(FAILED_EXIT)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def _time(value) -> str | None:
    if value is None:
        return None
    try:
        import pandas as pd

        if value is pd.NaT:
            return None
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _run(work):
    """``work(conn)`` in one transaction (the change and its audit entry together); AuthError and
    database failures become one line and exit 1."""
    from app.cli import _engine
    from queries.auth import AuthError

    engine = None
    try:
        engine = _engine()
        with engine.begin() as conn:
            return work(conn)
    except AuthError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - the contract is a message and an exit status, never a traceback
        _fail(f"{type(exc).__name__}: {_first_line(exc)}")
    finally:
        if engine is not None:
            engine.dispose()


def _audit(conn, action: str, target: str, detail: dict | None = None) -> None:
    from queries.auth import record_audit

    record_audit(conn, action, user=actor(), role=None, target=target, detail=detail)


def _read_password() -> str:
    """The password from standard input: a hidden prompt (twice) on a terminal, else the first line."""
    stream = sys.stdin
    if stream.isatty():
        return click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    line = stream.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        _fail("no password on standard input (give it as the first line, e.g. from a password manager)")
    return password


def _split_areas(value: str) -> list[str]:
    return [code.strip() for code in value.split(",") if code.strip()]


def _account(conn, name: str):
    from queries.auth import AuthError, get_account

    account = get_account(conn, name)
    if account is None:
        raise AuthError(f"no user {name!r}")
    return account


@click.group()
def users() -> None:
    """Users and wall devices: add, list, passwords, roles, areas, disable, tokens."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, help="wall, leader, commander, analyst or admin.")
@click.option("--areas", default=None, metavar="CODES", help="Comma-separated area codes the user is limited to (default: the whole city).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (a wall device may have none).")
def users_add(name: str, role: str, areas: str | None, password_stdin: bool) -> None:
    """Add user NAME with ROLE (a person needs a password; a wall device logs in with a token)."""
    from queries.auth import add_user

    codes = _split_areas(areas) if areas is not None else None
    password = _read_password() if password_stdin else None

    def work(conn):
        account = add_user(conn, name, role, password, areas=codes)
        _audit(conn, "user_added", account.name, {"role": account.role, "areas": list(account.areas) or None, "password": password is not None})
        return account

    account = _run(work)
    where = ", ".join(account.areas) or "the whole city"
    click.echo(f"user {account.name} added: role {account.role}, areas {where}{'' if password else ', no password (token only)'}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON: [{name, role, areas, disabled, locked_until, failed_logins, created_at, updated_at}].")
def users_list(as_json: bool) -> None:
    """List the users (never a password or a token)."""
    from queries.auth import list_users

    frame = _run(list_users)
    rows = []
    for record in frame.to_dict("records"):
        rows.append({
            "name": record["name"], "role": record["role"], "areas": list(record["areas"] or []) or None, "disabled": bool(record["disabled"]),
            "locked_until": _time(record["locked_until"]), "failed_logins": int(record["failed_logins"] or 0),
            "created_at": _time(record["created_at"]), "updated_at": _time(record["updated_at"]),
        })
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("no users")
        return
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    click.echo(f"{'name':<24} {'role':<10} {'state':<30} {'failed':>6}  areas")
    for row in rows:
        states = (["disabled"] if row["disabled"] else []) + ([f"locked until {row['locked_until']}"] if row["locked_until"] and row["locked_until"] > now else [])
        click.echo(f"{row['name']:<24} {row['role']:<10} {', '.join(states) or 'active':<30} {row['failed_logins']:>6}  {', '.join(row['areas'] or []) or 'all'}")


@users.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (required: never an argument).")
def users_passwd(name: str, password_stdin: bool) -> None:
    """Set NAME's password (ends the user's sessions and lifts a lock-out)."""
    from queries.auth import change_user

    if not password_stdin:
        raise click.UsageError("the password is read from standard input: pass --password-stdin")
    password = _read_password()

    def work(conn):
        account = change_user(conn, name, password=password)
        _audit(conn, "user_changed", account.name, {"password": "changed"})

    _run(work)
    click.echo(f"password of {name} changed; their sessions have ended")


@users.command("role")
@click.argument("name")
@click.argument("role")
def users_role(name: str, role: str) -> None:
    """Give NAME the role ROLE (ends the user's sessions)."""
    from queries.auth import change_user

    def work(conn):
        before = _account(conn, name)
        account = change_user(conn, name, role=role)
        _audit(conn, "user_changed", account.name, {"role": account.role, "was": before.role})

    _run(work)
    click.echo(f"{name} is now {role}; their sessions have ended")


@users.command("areas")
@click.argument("name")
@click.argument("codes", required=False)
@click.option("--all", "everywhere", is_flag=True, help="No restriction: the whole city.")
def users_areas(name: str, codes: str | None, everywhere: bool) -> None:
    """Limit NAME to the areas CODES (comma-separated codes), or --all (ends the user's sessions)."""
    from queries.auth import AuthError, change_user

    if (codes is None) == (not everywhere):
        raise click.UsageError("give either CODES (e.g. 320706,320707) or --all")
    values = [] if everywhere else _split_areas(codes)

    def work(conn):
        if not everywhere and not values:
            raise AuthError("no area code given (use --all for the whole city)")
        account = change_user(conn, name, areas=values)
        _audit(conn, "user_changed", account.name, {"areas": list(account.areas) or None})
        return account

    account = _run(work)
    click.echo(f"{name} now sees {', '.join(account.areas) or 'the whole city'}; their sessions have ended")


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable NAME: no log-in, no token, every session ends."""
    from queries.auth import change_user

    def work(conn):
        account = change_user(conn, name, disabled=True)
        _audit(conn, "user_disabled", account.name)

    _run(work)
    click.echo(f"{name} disabled; their sessions and tokens no longer work")


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Enable NAME again (its tokens that were not revoked work again)."""
    from queries.auth import change_user

    def work(conn):
        account = change_user(conn, name, disabled=False)
        _audit(conn, "user_changed", account.name, {"disabled": False})

    _run(work)
    click.echo(f"{name} enabled")


@users.command("token")
@click.argument("name")
@click.option("--wall", "wall_id", default=None, metavar="WALL_ID", help="For a wall device: the wall its link opens (default: the default wall).")
def users_token(name: str, wall_id: str | None) -> None:
    """Issue a new token for NAME and print it once (first line); for a wall device also its /wall link."""
    from queries.auth import AuthError, issue_token, token_hash
    from queries.emergency import check_wall_id
    from queries.specs.store import DEFAULT_WALL_ID

    try:
        wall_id = check_wall_id(wall_id or DEFAULT_WALL_ID)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--wall") from None

    def work(conn):
        account = _account(conn, name)
        if account.disabled:
            raise AuthError(f"user {name!r} is disabled: enable it first")
        token = issue_token(conn, name)
        _audit(conn, "token_issued", name, {"token": token_hash(token)[:12]})  # a reference, not the token
        return account, token

    account, token = _run(work)
    click.echo(token)
    if account.role == "wall":
        click.echo(f"/wall/{wall_id}?token={token}")
        click.echo("open this path of the app once on the wall; it then keeps a device session", err=True)
    click.echo("the token is shown only this once; `cityops users revoke` withdraws it", err=True)


@users.command("revoke")
@click.argument("name")
def users_revoke(name: str) -> None:
    """Revoke every token of NAME and end all its sessions (device sessions included)."""
    from queries.auth import revoke_tokens

    def work(conn):
        count = revoke_tokens(conn, name)
        _audit(conn, "token_revoked", name, {"tokens": count, "sessions": "ended"})
        return count

    count = _run(work)
    click.echo(f"{name}: {count} token{'s' if count != 1 else ''} revoked, sessions ended")


def first_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(FIRST_PASSWORD_LENGTH))


def ensure_first_admin(engine, echo=click.echo) -> bool:
    """No users at all: create ``admin`` with a random password and print it once (True); else False.

    The password is only printed (to the console ``cityops serve`` runs in), never written to a file or
    a log; the database holds its argon2 hash. Two servers starting at once create one admin.
    """
    from sqlalchemy.exc import IntegrityError

    from queries.auth import AuthError, add_user, user_count

    password = first_password()
    try:
        with engine.begin() as conn:
            if user_count(conn) > 0:
                return False
            add_user(conn, FIRST_ADMIN, "admin", password)
            _audit(conn, "user_added", FIRST_ADMIN, {"role": "admin", "areas": None, "password": True, "first_start": True})
    except (AuthError, IntegrityError):  # another process created it in the meantime
        return False
    echo("")
    echo("first start: there were no users, so an administrator was created")
    echo(f"  user:     {FIRST_ADMIN}")
    echo(f"  password: {password}")
    echo("shown only this once (stored only as a hash). Log in at /login, then set your own password:")
    echo(f"  cityops users passwd {FIRST_ADMIN} --password-stdin")
    echo("")
    return True
