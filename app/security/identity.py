"""Who is asking: sessions, bearer tokens and wall device sessions → ``Identity`` (or None).

* **Session** (a person who logged in at ``/login``): Flask's signed cookie holds the user name, the
  account's ``session_version`` and the time of the last request. It ends after
  ``CITYOPS_SESSION_IDLE_MINUTES`` without a request, on log-out, and at once for every session of
  a user whose role, password, areas or tokens changed (the version moves on; checked against the
  database on every request). The cookie is HttpOnly and SameSite=Lax.
* **Bearer token** (API clients): ``Authorization: Bearer <token>``; the token's user and role, nothing
  more. Nothing is stored in a cookie.
* **Device session** (a wall): ``/wall/ID?token=…`` once; the token is exchanged for a session marked
  as a device, which lasts ``CITYOPS_DEVICE_SESSION_DAYS`` between requests (a wall refreshes every
  few seconds), and the browser is redirected to the same URL without the token, so it does not stay
  in the address bar, the history or a screenshot.

``current_identity()`` answers once per request (kept on ``flask.g``).
"""
from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qsl, urlencode

import flask

from app.security import Identity, identity_for

SESSION_TOUCH_SECONDS = 60  # the cookie's last-seen time is rewritten at most once a minute


def _settings():
    from app.context import current_context

    return current_context().settings


def _engine():
    from app.context import current_context

    return current_context().engine


def remote_addr() -> str | None:
    return flask.request.remote_addr


def start_session(account, *, device: bool = False) -> None:
    """Log ``account`` in on this browser (a fresh session: the old cookie's contents are dropped)."""
    flask.session.clear()
    flask.session.permanent = True
    flask.session.update({"u": account.name, "v": account.session_version, "t": int(time.time()), "d": bool(device),
                          "csrf": secrets.token_urlsafe(24)})


def end_session() -> None:
    flask.session.clear()


def csrf_token() -> str:
    """The session's token for forms (log-in, log-out); made on first use."""
    token = flask.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        flask.session["csrf"] = token
    return token


def _from_session() -> Identity | None:
    from queries.auth import session_is_current

    name, version, last = flask.session.get("u"), flask.session.get("v"), flask.session.get("t")
    if not isinstance(name, str) or not isinstance(version, int) or not isinstance(last, int):
        return None
    settings = _settings()
    device = bool(flask.session.get("d"))
    idle = settings.device_session_days * 86400 if device else settings.session_idle_minutes * 60
    now = int(time.time())
    if now - last > idle:
        end_session()
        return None
    with _engine().begin() as conn:
        account = session_is_current(conn, name, version)
    if account is None:
        end_session()
        return None
    if now - last >= SESSION_TOUCH_SECONDS:
        flask.session["t"] = now
    return identity_for(account.name, account.role, account.areas, via="device" if device else "session")


def _from_bearer() -> Identity | None:
    from queries.auth import account_for_token

    header = flask.request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    with _engine().begin() as conn:
        account = account_for_token(conn, token.strip())
    return None if account is None else identity_for(account.name, account.role, account.areas, via="token")


def current_identity() -> Identity | None:
    """The caller of this request, or None when nobody is logged in (bearer first, then the cookie)."""
    if "cityops_identity" not in flask.g:
        flask.g.cityops_identity = _from_bearer() if "Authorization" in flask.request.headers else _from_session()
    return flask.g.cityops_identity


def exchange_wall_token():
    """``/wall…?token=…``: a valid token becomes a device session and the browser is sent to the same
    URL without it; an invalid one gets 401. Returns a response, or None when there is no token."""
    from queries.auth import account_for_token

    token = flask.request.args.get("token")
    if token is None:
        return None
    with _engine().begin() as conn:
        account = account_for_token(conn, token)
    if account is None:
        return flask.Response("invalid or revoked token", status=401, mimetype="text/plain")
    start_session(account, device=True)
    flask.g.cityops_identity = identity_for(account.name, account.role, account.areas, via="device")
    query = urlencode([(k, v) for k, v in parse_qsl(flask.request.query_string.decode("utf-8", "replace"), keep_blank_values=True) if k != "token"])
    response = flask.redirect(flask.request.path + (f"?{query}" if query else ""), code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
