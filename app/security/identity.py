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

Client address (``remote_addr``: the audit log's "from where", the log-in back-off's address)
----------------------------------------------------------------------------------------------
The TCP peer, unless ``CITYOPS_TRUSTED_PROXIES`` says a reverse proxy stands in front; then the
client the proxies name in ``X-Forwarded-For`` (each proxy appends the address it received the
request from), by the rule of werkzeug's ``ProxyFix`` and nginx's ``real_ip_recursive``:

* a **count** ``N``: the N-th address from the right of ``X-Forwarded-For`` (the one the outermost
  of N proxies saw); with fewer entries, the peer. Use it only when the app cannot be reached
  except through those proxies (e.g. it listens on 127.0.0.1 or on a unix socket behind nginx — a
  unix socket has no peer address, so a list cannot name it): anybody reaching it directly could
  write the header.
* a **list** of addresses or networks: only when the peer is one of them is the header read, from
  the right, skipping addresses that are themselves trusted proxies; the first other address is the
  client. A malformed entry stops the walk at the last trusted hop.

Unset (the default): the header is ignored, whoever sends it. A spoofed header from a client that
is not a trusted proxy never changes the address.
"""
from __future__ import annotations

import ipaddress
import re
import secrets
import time
from dataclasses import dataclass
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


PROXIES_KEY = "cityops.trusted_proxies"
MAX_PROXY_HOPS = 10
MAX_FORWARDED_ENTRIES = 64  # the header's newest entries considered (a long header is not walked to its end)


@dataclass(frozen=True)
class TrustedProxies:
    """``CITYOPS_TRUSTED_PROXIES`` parsed: a hop count, or proxy networks; neither = no proxy."""

    hops: int = 0
    networks: tuple = ()

    def trusts(self, address) -> bool:
        return any(address in network for network in self.networks)


def parse_trusted_proxies(value: str | None) -> TrustedProxies:
    """The setting's text as ``TrustedProxies``; ValueError naming the setting for anything else."""
    text = (value or "").strip()
    if not text:
        return TrustedProxies()
    if text.isdigit():
        hops = int(text)
        if hops > MAX_PROXY_HOPS:
            raise ValueError(f"CITYOPS_TRUSTED_PROXIES: at most {MAX_PROXY_HOPS} proxy hops, not {hops}")
        return TrustedProxies(hops=hops)
    networks = []
    for part in re.split(r"[,\s]+", text):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"CITYOPS_TRUSTED_PROXIES: {part!r} is neither an IP address nor a network (e.g. 10.0.0.0/8); "
                             "give a count of proxy hops or a comma-separated list of addresses") from None
    return TrustedProxies(networks=tuple(networks))


def _address(text: str | None):
    """An IP address from a peer or X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:5678``,
    ``[::1]:80``, ``::1``), or None."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def client_address(peer: str | None, forwarded_for: list[str], proxies: TrustedProxies) -> str | None:
    """The client's address by the rule of the module docstring: ``peer`` (the TCP peer),
    ``forwarded_for`` (every ``X-Forwarded-For`` header of the request, in order)."""
    if not proxies.hops and not proxies.networks:
        return peer
    entries = [entry.strip() for header in forwarded_for for entry in header.split(",") if entry.strip()][-MAX_FORWARDED_ENTRIES:]
    if proxies.hops:
        if len(entries) < proxies.hops:
            return peer
        named = _address(entries[-proxies.hops])
        return str(named) if named is not None else peer
    current = _address(peer)
    if current is None or not proxies.trusts(current):
        return peer
    for entry in reversed(entries):
        named = _address(entry)
        if named is None:
            break
        current = named
        if not proxies.trusts(named):
            break
    return str(current)


def configure_proxies(server: flask.Flask, settings) -> None:
    """Parse ``CITYOPS_TRUSTED_PROXIES`` once, at start (a wrong value stops the app with its message)."""
    server.extensions[PROXIES_KEY] = parse_trusted_proxies(settings.trusted_proxies)


def remote_addr() -> str | None:
    """The client address of this request (see the module docstring)."""
    proxies = flask.current_app.extensions.get(PROXIES_KEY)
    if proxies is None:
        proxies = parse_trusted_proxies(_settings().trusted_proxies)
    return client_address(flask.request.remote_addr, flask.request.headers.getlist("X-Forwarded-For"), proxies)


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
