"""Who may reach what: one table from every page, Dash callback and data route to the capability it
needs, enforced in a ``before_request`` hook (``register_access``). Default deny.

The table
---------
``ROUTES`` (first match wins; ``*`` is one path segment, a trailing ``*`` anything)::

    /login, /logout                       public (the forms check their own CSRF token)
    /healthz                              public (details only for a signed-in caller: app.health)
    /assets/*, /_dash-component-suites/*,
    /_favicon.ico, /favicon.ico, /static/* public (static bundles, no data)
    /_dash-layout, /_dash-dependencies,
    /_reload-hash                         any    (the shell and the callback graph: no data)
    /_dash-update-component               per callback (CALLBACK_OUTPUTS, below)
    /api/v1/openapi.json                  public (the API's description)
    /api/v1/events                        any    (the live stream; walls included)
    POST /api/v1/walls/*/emergency
    POST /api/v1/walls/*/acknowledge      operate_wall
    /api/v1/*                             use_api
    /export/*                             export
    /briefing, /briefing/*                view_briefing
    /admin/audit*                         view_audit
    /admin*                               manage_users
    Dash's index (any other GET path)     per Dash page (DASH_PAGES, below)
    any other Flask route                 deny

``DASH_PAGES``: ``/`` view_overview, ``/command`` view_command, ``/wall`` and ``/wall/<wall_id>``
view_wall, ``/studio`` edit_specs, ``/catalog`` view_catalog, ``/404`` (the not-found page) person. A registered page missing here is denied.

``CALLBACK_OUTPUTS``: a callback needs the capability of every component it writes to, decided
from the registered callback's output ids (never from what the client says): ``command-*``
view_command, ``wall-*`` (and pattern ids of type ``wall-*``) view_wall, ``home-*`` view_overview,
``studio-*`` edit_specs, ``catalog-*`` view_catalog,
``shell-*``, ``live-events`` and Dash's ``_pages_*`` any — the page router also needs the page
of the pathname it is asked to render. An output id matching no prefix: deny.

Levels: ``public`` (nobody logged in), ``any`` (logged in, wall devices included), ``person``
(logged in, not a wall device), a capability (``app.security.CAPABILITIES``), ``deny``.

A wall device (role ``wall``: only ``view_wall``) thus reaches the wall pages, the wall's and the
shell's callbacks, the page router for wall paths, Dash's layout and dependencies and the event
stream — nothing else. ``/wall…?token=…`` is exchanged for a device session first.

Answers: nobody logged in → a page gets 302 to ``/login?next=…``, anything else 401 JSON (the API
with ``WWW-Authenticate: Bearer``); the wrong role → 403 (a small HTML page for pages, JSON
otherwise); a malformed callback request → 400 JSON. Every 401/403 is written to the audit log as
``access_denied``; page loads as ``page_view`` (for Dash: the page router's callback, which
renders the page; an export browser's own loads are not, the export has its entry).

State-changing requests (POST, PUT, PATCH, DELETE) must carry this site's ``Origin`` (or
``Referer`` when there is no Origin) — ``app.security.headers.origin_verdict`` — except requests
authenticated by a bearer token (no ambient credentials) and the log-in forms without either
header (they carry a CSRF token).

Outages: when the database does not answer, a session cannot be checked. A session this process
checked before keeps its identity (held per process, only for this case); any other validly signed
session within its idle time gets the least privilege, a wall's (``view_wall``), so video walls
keep running; bearer tokens and everything else get 503 until the database answers. Audit entries of such
requests (page views, refusals) wait in memory and are written when the database answers again
(``app.security.audit``).

The menu (``app.shell``) offers only what the caller may open: ``may_open(identity, path, page)``
applies this same table to a menu entry.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import flask
from markupsafe import escape
from werkzeug.exceptions import Forbidden, HTTPException

from app.security import Identity, identity_for

log = logging.getLogger(__name__)

EXTENSION_KEY = "cityops.access"

PUBLIC = "public"
ANY = "any"
PERSON = "person"
DENY = "deny"
CALLBACK = "callback"  # decided per callback
DASH_PAGE = "dash-page"  # decided per Dash page

# How a refusal is answered.
PAGE, API, JSON, STATIC = "page", "api", "json", "static"


@dataclass(frozen=True)
class Route:
    pattern: str
    need: str
    kind: str = JSON
    methods: tuple[str, ...] = ()  # empty: every method


ROUTES: tuple[Route, ...] = (
    Route("/login", PUBLIC, PAGE),
    Route("/logout", PUBLIC, PAGE),
    Route("/healthz", PUBLIC, JSON),
    Route("/assets/*", PUBLIC, STATIC),
    Route("/_dash-component-suites/*", PUBLIC, STATIC),
    Route("/_favicon.ico", PUBLIC, STATIC),
    Route("/favicon.ico", PUBLIC, STATIC),
    Route("/static/*", PUBLIC, STATIC),
    Route("/_dash-layout", ANY, JSON),
    Route("/_dash-dependencies", ANY, JSON),
    Route("/_reload-hash", ANY, JSON),
    Route("/_dash-update-component", CALLBACK, JSON),
    Route("/api/v1/openapi.json", PUBLIC, API),
    Route("/api/v1/events", ANY, API),
    Route("/api/v1/walls/*/emergency", "operate_wall", API, ("POST",)),
    Route("/api/v1/walls/*/acknowledge", "operate_wall", API, ("POST",)),
    Route("/api/v1/*", "use_api", API),
    Route("/export/*", "export", JSON),
    Route("/briefing", "view_briefing", PAGE),
    Route("/briefing/*", "view_briefing", PAGE),
    Route("/admin/audit*", "view_audit", PAGE),
    Route("/admin*", "manage_users", PAGE),
)
DASH_PAGES: dict[str, str] = {
    "/": "view_overview",
    "/command": "view_command",
    "/wall": "view_wall",
    "/wall/<wall_id>": "view_wall",
    "/studio": "edit_specs",
    "/catalog": "view_catalog",
    "/404": PERSON,
}
CALLBACK_OUTPUTS: tuple[tuple[str, str], ...] = (
    ("command-", "view_command"),
    ("wall-", "view_wall"),
    ("home-", "view_overview"),
    ("studio-", "edit_specs"),
    ("catalog-", "view_catalog"),
    ("shell-", ANY),
    ("live-events", ANY),
    ("_pages_", ANY),
)
DASH_ENDPOINTS = ("/", "/<path:path>")  # Dash's index and catch-all routes
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
TOKEN_FORMS = ("/login", "/logout")  # their forms carry a CSRF token: a missing Origin is accepted
ROUTER_KEY = ".._pages_content.children..._pages_store.data.."
MAX_CALLBACK_BYTES = 8 * 1024 * 1024
MAX_PATHNAME = 2048
MAX_SEARCH = 8192
IDENTITY_RETRY_SECONDS = 5.0  # after the database failed an identity check, try it again after this
REMEMBERED_SESSIONS = 10_000


class AccessDenied(Forbidden):
    """Raised by a view or callback for something outside the caller's rights (403)."""

    def __init__(self, message: str):
        super().__init__(description=message)


class IdentityUnavailable(Exception):
    """The caller presented credentials the database is needed to check, and it does not answer."""


@dataclass
class AccessState:
    """Per app (``server.extensions``): the Dash app and the sessions this process has checked."""

    dash_app: object
    lock: threading.Lock = field(default_factory=threading.Lock)
    checked: OrderedDict = field(default_factory=OrderedDict)  # (user, version, device) -> Identity
    database_failed_at: float | None = None

    def remember(self, key: tuple, identity: Identity) -> None:
        with self.lock:
            self.checked[key] = identity
            self.checked.move_to_end(key)
            while len(self.checked) > REMEMBERED_SESSIONS:
                self.checked.popitem(last=False)

    def recall(self, key: tuple) -> Identity | None:
        with self.lock:
            return self.checked.get(key)


def _state() -> AccessState:
    return flask.current_app.extensions[EXTENSION_KEY]


# --- the table ---------------------------------------------------------------------------------


def _regex(pattern: str) -> str:
    regex = re.escape(pattern)
    if regex.endswith(r"\*"):
        regex = regex[:-2] + ".*"
    return regex.replace(r"\*", "[^/]+")


def route_for(method: str, path: str, endpoint: str | None) -> Route:
    for route in ROUTES:
        if route.methods and method not in route.methods:
            continue
        if re.fullmatch(_regex(route.pattern), path, re.DOTALL):
            return route
    if endpoint in DASH_ENDPOINTS:
        return Route("*", DASH_PAGE, PAGE)
    if endpoint is None:  # no route: Flask answers 404/405 to callers who are logged in
        return Route("*", ANY, JSON)
    return Route("*", DENY, JSON)


def dash_page(dash_app, pathname: str) -> dict | None:
    """The registered Dash page Dash's router renders for ``pathname`` (None: the not-found page)."""
    from dash._pages import _path_to_page

    page, _ = _path_to_page(dash_app.strip_relative_path(pathname))
    return page or None


def page_need(dash_app, pathname: str) -> str:
    page = dash_page(dash_app, pathname)
    if page is None:
        return DASH_PAGES["/404"]
    return DASH_PAGES.get(page.get("path_template") or page["path"], DENY)


def output_need(component) -> str:
    name = component.get("type") if isinstance(component, dict) else component
    if not isinstance(name, str):
        return DENY
    for prefix, need in CALLBACK_OUTPUTS:
        if name.startswith(prefix):
            return need
    return DENY


def callback_needs(key: str) -> set[str]:
    from app.security.callbacks import output_ids

    return {output_need(component) for component in output_ids(key)}


def menu_need(path: str, page: dict | None = None) -> str:
    """What opening ``path`` needs: a route of ``ROUTES`` (a server page), else the Dash page
    ``page`` (its ``path_template`` or ``path`` in ``DASH_PAGES``); anything else: deny."""
    for route in ROUTES:
        if route.methods and "GET" not in route.methods:
            continue
        if re.fullmatch(_regex(route.pattern), path, re.DOTALL):
            return route.need if route.need not in (CALLBACK, DASH_PAGE) else DENY
    if page is not None:
        return DASH_PAGES.get(page.get("path_template") or page["path"], DENY)
    return DENY


def may_open(identity: Identity | None, path: str, page: dict | None = None) -> bool:
    """Whether ``identity`` may open the page at ``path`` (``page``: its Dash registry entry)."""
    return allowed(identity, menu_need(path, page))


def allowed(identity: Identity | None, need: str) -> bool:
    if need == PUBLIC:
        return True
    if identity is None or need == DENY:
        return False
    if need == ANY:
        return True
    if need == PERSON:
        return identity.role != "wall"
    return identity.can(need)


# --- who is asking ----------------------------------------------------------------------------------


def current_viewer() -> Identity | None:
    """The identity of the request being handled (None outside a request or when nobody is logged
    in); never raises — for views that mask or restrict by it."""
    if not flask.has_request_context():
        return None
    if "cityops_identity" in flask.g:
        return flask.g.cityops_identity
    try:
        from app.security.identity import current_identity

        return current_identity()
    except Exception:  # noqa: BLE001 - no identity is the safe answer (masked, refused)
        return None


def _session_key() -> tuple | None:
    session = flask.session
    name, version, last = session.get("u"), session.get("v"), session.get("t")
    if not isinstance(name, str) or not isinstance(version, int) or not isinstance(last, int):
        return None
    return name, version, bool(session.get("d")), last


def _degraded_identity(state: AccessState) -> Identity | None:
    """The identity of a signed session while the database cannot check it (see the docstring)."""
    from app.context import current_context

    key = _session_key()
    if key is None:
        return None
    name, version, device, last = key
    settings = current_context().settings
    idle = settings.device_session_days * 86400 if device else settings.session_idle_minutes * 60
    if time.time() - last > idle:
        return None
    known = state.recall((name, version, device))
    if known is not None:
        return known
    flask.g.cityops_unverified = True  # least privilege: what it may not do is "unavailable", not "forbidden"
    areas = flask.session.get("a")
    areas = tuple(a for a in areas if isinstance(a, str)) if isinstance(areas, list) else ()
    return identity_for(name, "wall", areas, via="device" if device else "session")


def _export_identity() -> Identity | None:
    """The export browser's viewer (app.export): the requester's user, role and areas, read only."""
    try:
        from app.export import EXPORT_COOKIE, read_export_token
    except ImportError:  # pragma: no cover - the export module is part of the app
        return None
    claims = flask.g.get("cityops_export")
    if claims is None and EXPORT_COOKIE in flask.request.cookies:
        claims = read_export_token(flask.current_app.secret_key, flask.request.cookies[EXPORT_COOKIE])
        flask.g.cityops_export = claims
    if not isinstance(claims, dict) or not isinstance(claims.get("user"), str) or not isinstance(claims.get("role"), str):
        return None
    areas = claims.get("areas") if isinstance(claims.get("areas"), list) else ()
    return identity_for(claims["user"], claims["role"], [a for a in areas if isinstance(a, str)], via="export")


def resolve_identity() -> Identity | None:
    """The caller of this request (kept on ``flask.g`` for ``current_identity()``); raises
    ``IdentityUnavailable`` when credentials were given and the database cannot check them."""
    from app.security.identity import current_identity
    from queries.cache import database_unavailable

    if "cityops_identity" in flask.g:
        return flask.g.cityops_identity
    state = _state()
    bearer = "Authorization" in flask.request.headers
    try:
        failed_at = state.database_failed_at
        if failed_at is not None and time.monotonic() - failed_at < IDENTITY_RETRY_SECONDS and not bearer and _session_key() is not None:
            raise IdentityUnavailable("the database failed an identity check a moment ago")
        identity = current_identity()
    except Exception as exc:
        if not isinstance(exc, IdentityUnavailable) and not database_unavailable(exc):
            raise
        if not isinstance(exc, IdentityUnavailable):
            state.database_failed_at = time.monotonic()
        identity = None if bearer else _degraded_identity(state)
        if identity is None:
            if bearer or _session_key() is not None:
                raise IdentityUnavailable(str(exc)) from None
            identity = _export_identity()
        flask.g.cityops_identity = identity
        return identity
    state.database_failed_at = None
    if identity is not None and identity.via in ("session", "device", "token"):
        from app.security.audit import flush_pending

        flush_pending()  # the database checked this caller: audit entries kept during an outage go out now
    if identity is not None and identity.via in ("session", "device"):
        key = _session_key()
        if key is not None:
            state.remember(key[:3], identity)
        if flask.session.get("a") != list(identity.areas):
            flask.session["a"] = list(identity.areas)  # for the least-privilege identity in an outage
    if identity is None:
        identity = _export_identity()
        flask.g.cityops_identity = identity
    return identity


# --- areas ----------------------------------------------------------------------------------------


def restricted(viewer: Identity | None) -> bool:
    return viewer is not None and bool(viewer.areas)


def may_see_area(viewer: Identity | None, code) -> bool:
    return viewer is None or viewer.may_see_area(code if isinstance(code, str) else None)


AREA_CODE_FIELDS = ("grid_code", "community_code", "street_code", "district_code")


def may_see_record(viewer: Identity | None, record) -> bool:
    """Whether ``record`` (an incident, an event payload…) lies in the viewer's areas, judged by its
    area codes (``grid_code`` … ``district_code``); unrestricted viewers see everything."""
    if not restricted(viewer):
        return True
    getter = record.get if hasattr(record, "get") else (lambda name: getattr(record, name, None))
    return any(isinstance(getter(name), str) and viewer.may_see_area(getter(name)) for name in AREA_CODE_FIELDS)


def deny(message: str, *, target: str | None = None, detail: dict | None = None) -> AccessDenied:
    """An ``AccessDenied`` to raise, written to the audit log first."""
    _audit_quietly("access_denied", target=target or flask.request.path, outcome="denied", detail={"reason": message, **(detail or {})})
    return AccessDenied(message)


# --- the hook ---------------------------------------------------------------------------------------


def _audit_quietly(action: str, **values) -> bool:
    """Write an audit entry; a failure is logged (by ``audit``) and reported as False."""
    from app.security.audit import audit

    try:
        audit(action, **values)
        return True
    except Exception:  # noqa: BLE001 - audit() logged it
        return False


def _json(status: int, error: str, message: str, **extra) -> flask.Response:
    body = {"error": error, "message": message, **extra}
    response = flask.Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _lang() -> str:
    from app.context import current_lang

    value = flask.request.args.get("lang")
    return current_lang(value)


def forbidden_page(identity: Identity | None) -> flask.Response:
    from app.i18n import HTML_LANG, t

    lang = _lang()
    who = identity.user if identity else "—"
    role = identity.role if identity else "—"
    logout = ""
    if identity is not None and identity.via in ("session", "device"):
        from app.security.identity import csrf_token

        logout = (f'<form method="post" action="/logout"><input type="hidden" name="csrf" value="{escape(csrf_token())}">'
                  f'<button class="s-button s-button--quiet" type="submit">{escape(t("access.forbidden.login", lang))}</button></form>')
    body = (
        f'<!DOCTYPE html><html lang="{HTML_LANG[lang]}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(t("access.forbidden.title", lang))}</title>'
        f'<link rel="stylesheet" href="/assets/security.css"></head><body class="security-page"><main class="s-login" id="access-denied">'
        f'<div class="s-login-card"><h1>{escape(t("access.forbidden.title", lang))}</h1>'
        f'<p class="s-alert s-alert--bad" role="alert">{escape(t("access.forbidden.body", lang, user=who, role=role))}</p>'
        f'<p><a href="/?lang={lang}">{escape(t("access.forbidden.home", lang))}</a></p>{logout}</div></main></body></html>'
    )
    response = flask.Response(body, status=403, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _unauthenticated(route: Route) -> flask.Response:
    request = flask.request
    if route.kind == PAGE and request.method in ("GET", "HEAD"):
        from app.security.login import login_url

        target = request.full_path.rstrip("?") if request.query_string else request.path
        response = flask.redirect(login_url(target, flask.request.args.get("lang")), code=302)
        response.headers["Cache-Control"] = "no-store"
        return response
    _audit_quietly("access_denied", target=request.path[:256], outcome="denied", detail={"method": request.method, "reason": "not logged in"})
    response = _json(401, "unauthenticated", "log in first (a session from /login, or an Authorization: Bearer token)")
    if route.kind == API:
        response.headers["WWW-Authenticate"] = 'Bearer realm="cityops"'
    return response


def _forbidden(route: Route, identity: Identity | None, reason: str, detail: dict | None = None) -> flask.Response:
    request = flask.request
    _audit_quietly("access_denied", target=request.path[:256], outcome="denied",
                   detail={"method": request.method, "reason": reason, **(detail or {})})
    if route.kind == PAGE and request.method in ("GET", "HEAD") and reason != "cross-origin":
        return forbidden_page(identity)
    return _json(403, "forbidden", reason)


def _unavailable(route: Route) -> flask.Response:
    if route.kind == API:
        log.warning("API request %s refused: the caller cannot be identified while the database is unavailable", flask.request.path)
        response = _json(503, "unavailable", "The data service is temporarily unavailable; please retry shortly.")
    else:
        log.warning("request %s refused: the caller cannot be identified while the database is unavailable", flask.request.path)
        response = _json(503, "unavailable", "The service is temporarily unavailable; please retry shortly.")
    response.headers["Retry-After"] = "30"
    return response


def _bad_request(message: str) -> flask.Response:
    return _json(400, "bad_request", message)


def _export_may(route: Route, method: str) -> bool:
    """What an export browser's identity may do (app.export): read pages, run their callbacks and
    listen to the event stream — never write, call the API or start another export."""
    if route.need == CALLBACK:
        return method == "POST"
    if method not in ("GET", "HEAD") or route.need == "export":
        return False
    return route.kind != API or route.pattern == "/api/v1/events"


def _wall_token_exchange():
    from app.security.identity import exchange_wall_token

    response = exchange_wall_token()
    if response is None:
        return None
    if response.status_code < 400:
        _audit_quietly("login", detail={"via": "wall_token", "device": True})
    else:
        _audit_quietly("login_failed", outcome="failed", detail={"via": "wall_token"})
    return response


def _callback_call(dash_app):
    """The checked callback request, or a 400/413 response."""
    from app.security.callbacks import BadCallback, parse_callback

    request = flask.request
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        return _json(413, "payload_too_large", f"a callback request is at most {MAX_CALLBACK_BYTES} bytes")
    body = request.get_json(silent=True)
    try:
        return parse_callback(body, dash_app.callback_map)
    except BadCallback as exc:
        return _bad_request(exc.description)


def _router_target(call) -> tuple[str, str] | flask.Response:
    """(pathname, search) the page router is asked for, checked."""
    from app.security.callbacks import input_value

    pathname = input_value(call, "_pages_location", "pathname")
    search = input_value(call, "_pages_location", "search")
    if not isinstance(pathname, str) or not pathname.startswith("/") or len(pathname) > MAX_PATHNAME or any(ord(c) < 0x20 for c in pathname):
        return _bad_request(f"pathname: a path starting with '/', at most {MAX_PATHNAME} characters")
    if search is not None and (not isinstance(search, str) or len(search) > MAX_SEARCH):
        return _bad_request(f"search: a query string of at most {MAX_SEARCH} characters")
    return pathname, search or ""


def enforce():
    """The ``before_request`` hook: None to let the request through, else the refusal."""
    from app.security.headers import origin_verdict

    request = flask.request
    state = _state()
    dash_app = state.dash_app
    method = request.method
    endpoint = request.url_rule.endpoint if request.url_rule is not None else None
    route = route_for(method, request.path, endpoint)

    if method in STATE_CHANGING and "Authorization" not in request.headers:
        verdict = origin_verdict(request)
        if verdict == "foreign" or (verdict == "missing" and route.pattern not in TOKEN_FORMS):
            _audit_quietly("access_denied", target=request.path[:256], outcome="denied", detail={"method": method, "reason": "cross-origin"})
            return _json(403, "forbidden", "cross-origin request refused: a state-changing request must come from this site (Origin)")
    if route.need == PUBLIC:
        return None

    pathname = request.path
    if route.need == DASH_PAGE and request.args.get("token") is not None and page_need(dash_app, pathname) == "view_wall":
        exchanged = _wall_token_exchange()
        if exchanged is not None:
            return exchanged

    try:
        identity = resolve_identity()
    except IdentityUnavailable:
        return _unavailable(route)
    if identity is None:
        return _unauthenticated(route)

    needs = {route.need}
    call = None
    router = None
    if route.need == DASH_PAGE:
        needs = {page_need(dash_app, pathname)}
    elif route.need == CALLBACK:
        call = _callback_call(dash_app)
        if isinstance(call, flask.Response):
            return call
        needs = callback_needs(call.key)
        if call.key == ROUTER_KEY:
            router = _router_target(call)
            if isinstance(router, flask.Response):
                return router
            pathname = router[0]
            needs.add(page_need(dash_app, pathname))

    if identity.via == "export" and not _export_may(route, method):
        return _forbidden(route, identity, "an export browser may only read pages")

    missing = sorted(need for need in needs if not allowed(identity, need))
    if missing and flask.g.get("cityops_unverified"):
        return _unavailable(route)
    if missing:
        detail = {"need": missing}
        if call is not None:
            detail["callback"] = call.key[:200]
        return _forbidden(route, identity, f"the role {identity.role!r} may not do this (needs {', '.join(missing)})", detail)

    if identity.via != "export" and method == "GET" and route.kind == PAGE and route.need not in (DASH_PAGE, PUBLIC):
        if not _page_view(request.path, None):
            return _unavailable(route)
    if router is not None and identity.via != "export":
        if not _page_view(router[0], router[1]):
            return _unavailable(route)
    return None


def _page_view(path: str, search: str | None) -> bool:
    """Audit a page view; False only when the audit log failed for another reason than the
    database being away (a wall opened during an outage still shows; the log says why)."""
    from app.security.audit import audit
    from queries.cache import database_unavailable

    detail = {"search": search[:500]} if search else None
    try:
        audit("page_view", target=path[:256], detail=detail)
        return True
    except Exception as exc:  # noqa: BLE001 - audit() logged it
        return database_unavailable(exc)


# --- errors as JSON where JSON is expected ---------------------------------------------------------


def _wants_json(path: str) -> bool:
    return path.startswith(("/_dash-", "/api/", "/export/"))


def _http_error(error: HTTPException):
    if error.code is None or error.code < 400 or not _wants_json(flask.request.path):
        return error
    names = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}
    response = _json(error.code, names.get(error.code, "error"), error.description or error.name)
    for key, value in error.get_headers():
        if key.lower() not in ("content-type", "content-length"):
            response.headers[key] = value
    return response


def _server_error(error):
    """An unexpected failure: logged by Flask; the client gets a generic message, never a trace."""
    if _wants_json(flask.request.path):
        return _json(500, "internal", "the request failed on the server; it has been logged")
    return flask.Response("Internal Server Error", status=500, mimetype="text/plain")


def register_access(dash_app) -> None:
    """Install the enforcement hook (after every other ``before_request`` of ``create_app``: Dash's
    own set-up runs first, so ``callback_map`` is complete) and the error handlers."""
    from app.security.audit import register_audit

    server = dash_app.server
    server.extensions[EXTENSION_KEY] = AccessState(dash_app)
    register_audit(server)
    server.before_request(enforce)
    server.register_error_handler(HTTPException, _http_error)
    server.register_error_handler(500, _server_error)
