"""Log-in and log-out, server-rendered (no script needed): ``GET/POST /login``, ``POST /logout``.

* ``GET /login[?next=/path][&lang=en]`` — the form: user name, password and the session's CSRF
  token (``identity.csrf_token``). ``next`` is followed only when it is a local path (``/…``, not
  ``//host`` or ``http://…``); anything else sends the user to ``/``.
* ``POST /login`` — the CSRF token must match the session's (400 otherwise); then
  ``queries.auth.verify_login`` with the client's address (``identity.remote_addr``: the peer, or
  the client a trusted proxy names): success starts a fresh session (``identity.start_session``),
  writes ``login`` to the audit log and redirects (303) to ``next``; a wrong name or password gives
  one generic message with 401 and writes ``login_failed`` (the attempted name in ``detail``, never
  the password), the same for a name no account has; a name or an address in back-off (the rule:
  ``queries.auth``, per name *and address*, and per address — a guesser elsewhere cannot lock a
  user out of their own workstation) gives 429 with ``Retry-After`` and the time it ends, the same
  for names with and without an account. The failure counts are committed even though the check
  fails (the back-off must count them).
  The database away: 503 with ``Retry-After``. ``login`` is written before the session starts (a
  log-in that cannot be traced does not happen); a ``login_failed`` that cannot be written is
  logged and refuses nothing more.
* ``POST /logout`` — CSRF token; writes ``logout``, ends the session, redirects to ``/login``.
  ``GET /logout`` only redirects to ``/login`` (which shows who is logged in and the button).

``register_login`` also sets the session cookie's flags: HttpOnly, SameSite=Lax, Secure with
``CITYOPS_COOKIE_SECURE=true``, and a lifetime of ``CITYOPS_DEVICE_SESSION_DAYS`` (the longest a
session may live; the shorter idle limit of a person's session is checked by ``identity``).
"""
from __future__ import annotations

import datetime as dt
import gzip
import logging
import math
import secrets
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import flask

from app.context import current_context, current_lang
from app.i18n import HTML_LANG, LANGUAGES, t

log = logging.getLogger(__name__)

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
BEIJING = ZoneInfo("Asia/Shanghai")
MAX_NEXT_LENGTH = 2048
MAX_NAME_LENGTH = 64  # longer names cannot exist (queries.auth.USER_NAME); kept this short in the audit log
MAX_PASSWORD_LENGTH = 1024  # hashing is linear in the length: a megabyte "password" is refused unhashed


def safe_next(value) -> str:
    """``value`` when it is a path on this site (``/…``), else ``/``: never another host.

    Refused: absolute URLs (a scheme and a host), scheme-relative ones (``//x``, ``/\\x`` — browsers read a
    backslash as a slash), control characters (browsers drop tabs and newlines, so ``/\\t/x`` would
    become ``//x``), and the log-in and log-out pages themselves (no loop).
    """
    if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_NEXT_LENGTH:
        return "/"
    if value.startswith("//") or "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in (LOGIN_PATH, LOGOUT_PATH):
        return "/"
    return value


def login_url(next_path: str | None = None, lang: str | None = None, **extra) -> str:
    """``/login?…`` with ``next`` (when not ``/``) and ``lang`` (when given)."""
    params = {}
    if next_path and safe_next(next_path) != "/":
        params["next"] = safe_next(next_path)
    if lang:
        params["lang"] = lang
    params.update({key: value for key, value in extra.items() if value is not None})
    return LOGIN_PATH + (f"?{urlencode(params)}" if params else "")


def local_time(value: dt.datetime, with_seconds: bool = True) -> str:
    """A moment in Beijing time, ``YYYY-MM-DD HH:MM[:SS]``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def render(template: str, status: int, *, lang: str, headers: dict | None = None, **values) -> flask.Response:
    """A server-rendered page of this package (no-store: it depends on who is asking)."""
    html = flask.render_template(template, t=lambda key, **kw: t(key, lang, **kw), html_lang=HTML_LANG[lang], lang=lang, **values)
    body = html.encode("utf-8")
    response = flask.Response(body, status=status, mimetype="text/html")
    if "gzip" in flask.request.headers.get("Accept-Encoding", "") and len(body) > 1024:
        response.set_data(gzip.compress(body, compresslevel=6))
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding, Cookie"
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def csrf_matches(submitted) -> bool:
    """The form's token equals the session's (constant time); no session token = no match."""
    expected = flask.session.get("csrf")
    if not isinstance(submitted, str) or not isinstance(expected, str) or not expected:
        return False
    return secrets.compare_digest(submitted.encode("utf-8"), expected.encode("utf-8"))


def _languages(next_path: str) -> list[dict]:
    return [{"code": code, "label": t(f"lang.{code}", code), "href": login_url(next_path, code)} for code in LANGUAGES]


def _login_page(lang: str, next_path: str, *, status: int = 200, error: str | None = None, notice: str | None = None,
                user: str = "", headers: dict | None = None) -> flask.Response:
    from app.security.identity import csrf_token, current_identity

    try:
        who = current_identity()
    except Exception:  # noqa: BLE001 - the database is away: the form still shows
        who = None
    signed_in = who.user if who is not None and who.via in ("session", "device") else None
    return render("login.html", status, lang=lang, headers=headers, csrf=csrf_token(), next=next_path, error=error, notice=notice,
                  user=user, signed_in=signed_in, languages=_languages(next_path))


def _form_lang() -> str:
    return current_lang(flask.request.form.get("lang") or flask.request.args.get("lang"))


def login_form():
    args = flask.request.args
    lang = current_lang(args.get("lang"))
    notice = t("security.login.logged_out", lang) if args.get("logged_out") == "1" else None
    return _login_page(lang, safe_next(args.get("next")), notice=notice)


def _audit_attempt(outcome: str, detail: dict) -> None:
    """``login_failed``; a failure to write it is logged (by ``audit``) but refuses nothing more:
    the attempt did not get in either way."""
    from app.security.audit import audit

    try:
        audit("login_failed", outcome=outcome, detail=detail)
    except Exception:  # noqa: BLE001 - audit() logged it loudly
        pass


def login_submit():
    from sqlalchemy.exc import SQLAlchemyError

    from app.security import identity_for
    from app.security.audit import audit
    from app.security.identity import remote_addr, start_session
    from queries.auth import BadCredentials, LockedOut, verify_login

    form = flask.request.form
    lang = _form_lang()
    next_path = safe_next(form.get("next") or flask.request.args.get("next"))
    name = (form.get("user") or "").strip()
    password = form.get("password") or ""
    attempted = name[:MAX_NAME_LENGTH]
    if not csrf_matches(form.get("csrf")):
        _audit_attempt("denied", {"user": attempted, "reason": "csrf"})
        return _login_page(lang, next_path, status=400, error=t("security.login.csrf", lang), user=attempted)

    failure = None
    if len(name) > MAX_NAME_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        failure = BadCredentials()
    else:
        # The failure counter written by verify_login must be committed although the check fails:
        # the exception is caught inside the transaction.
        try:
            with current_context().engine.begin() as conn:
                try:
                    account = verify_login(conn, name, password, address=remote_addr())
                except (BadCredentials, LockedOut) as exc:
                    failure = exc
        except SQLAlchemyError:
            log.exception("log-in check failed: the database did not answer")
            return _login_page(lang, next_path, status=503, error=t("security.login.unavailable", lang), user=attempted,
                               headers={"Retry-After": "30"})

    if isinstance(failure, LockedOut):
        until = failure.until if failure.until.tzinfo else failure.until.replace(tzinfo=dt.timezone.utc)
        wait = max(1, math.ceil((until - dt.datetime.now(dt.timezone.utc)).total_seconds()))
        _audit_attempt("denied", {"user": attempted, "reason": "locked", "until": until.isoformat()})
        return _login_page(lang, next_path, status=429, error=t("security.login.locked", lang, time=local_time(until)), user=attempted,
                           headers={"Retry-After": str(wait)})
    if failure is not None:
        _audit_attempt("failed", {"user": attempted, "reason": "bad_credentials"})
        return _login_page(lang, next_path, status=401, error=t("security.login.failed", lang), user=attempted)

    who = identity_for(account.name, account.role, account.areas, via="session")
    audit("login", identity=who)  # first: a log-in that cannot be traced does not happen (audit raises)
    start_session(account)
    response = flask.redirect(next_path, code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def logout():
    from app.security.audit import audit
    from app.security.identity import current_identity, end_session

    lang = _form_lang()
    try:
        who = current_identity()
    except Exception:  # noqa: BLE001 - the database is away: the session cannot be checked, ending it is always safe
        who = None
    if who is None or who.via not in ("session", "device"):
        end_session()  # nothing (left) to log out of: a stale form after the session expired
        return flask.redirect(login_url(lang=lang), code=303)
    if not csrf_matches(flask.request.form.get("csrf")):
        return _login_page(lang, "/", status=400, error=t("security.login.csrf", lang))
    try:
        audit("logout", identity=who)
    except Exception:  # noqa: BLE001 - audit() logged it loudly; leaving must still work
        pass
    end_session()
    response = flask.redirect(login_url(lang=lang, logged_out="1"), code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def logout_page():
    """``GET /logout`` never logs out (a link or an image could do it to someone): it shows the
    log-in page, whose button posts the log-out with the token."""
    return flask.redirect(login_url(lang=flask.request.args.get("lang")), code=303)


def configure_session_cookie(server: flask.Flask, settings) -> None:
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.cookie_secure),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(days=settings.device_session_days),
    )


def register_login(server: flask.Flask) -> None:
    """The log-in routes, the session cookie's flags and the trusted proxies (after ``app.context.install``)."""
    from app.context import EXTENSION_KEY

    from app.security.identity import configure_proxies

    settings = server.extensions[EXTENSION_KEY].settings
    configure_session_cookie(server, settings)
    configure_proxies(server, settings)  # CITYOPS_TRUSTED_PROXIES: a wrong value stops the start here
    server.add_url_rule(LOGIN_PATH, "login_form", login_form, methods=["GET"])
    server.add_url_rule(LOGIN_PATH, "login_submit", login_submit, methods=["POST"])
    server.add_url_rule(LOGOUT_PATH, "logout", logout, methods=["POST"])
    server.add_url_rule(LOGOUT_PATH, "logout_page", logout_page, methods=["GET"])
