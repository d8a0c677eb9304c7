"""Security headers on every response, and the same-origin check of state-changing requests.

Content-Security-Policy (``content_security_policy``)::

    default-src 'self'; script-src 'self' <hashes of Dash's inline scripts>; style-src 'self'
    'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' data: blob:;
    worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self';
    frame-ancestors 'none'

Nothing external is allowed anywhere. Dash renders its page with a few inline scripts (the
renderer's start and the functions of clientside callbacks): they are allowed by their SHA-256
(``dash.Dash.csp_hashes``), never by ``'unsafe-inline'``, so an injected script does not run.
Styles allow inline: React writes ``style`` attributes. Images and fonts allow ``data:`` (the map's
icon atlas, Dash's own data-URI images) and ``blob:``; so does ``connect-src`` (deck.gl fetches
its icon atlas, a ``data:`` URL); maplibre and deck.gl start their workers from ``blob:`` URLs.
``data:`` and ``blob:`` are made in the page itself: nothing leaves the machine.

Also: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (older browsers' frame-ancestors),
``Referrer-Policy: same-origin``, a ``Permissions-Policy`` that turns off what the app never uses,
``Cross-Origin-Opener-Policy: same-origin``, and ``Strict-Transport-Security`` when the session
cookie is HTTPS-only (``CITYOPS_COOKIE_SECURE``). Responses that depend on who asks vary on
``Cookie`` and ``Authorization``.

CSRF (``origin_verdict``, applied by ``app.security.access``): a state-changing request must name
this site in ``Origin`` (or, without Origin, in ``Referer``); together with SameSite=Lax session
cookies and JSON-only bodies on the API, a page of another site cannot act as a logged-in user.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import flask

PERMISSIONS_POLICY = ("accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
                      "magnetometer=(), microphone=(), midi=(), payment=(), usb=()")
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico", "/favicon.ico", "/static/")


def content_security_policy(script_hashes=()) -> str:
    directives = (
        ("default-src", "'self'"),
        ("script-src", " ".join(("'self'", *script_hashes))),
        ("style-src", "'self' 'unsafe-inline'"),
        ("img-src", "'self' data: blob:"),
        ("font-src", "'self' data:"),
        ("connect-src", "'self' data: blob:"),  # deck.gl loads its icon atlas (a data: URL) with fetch
        ("worker-src", "'self' blob:"),
        ("object-src", "'none'"),
        ("base-uri", "'self'"),
        ("form-action", "'self'"),
        ("frame-ancestors", "'none'"),
    )
    return "; ".join(f"{name} {value}" for name, value in directives)


def origin_verdict(request: flask.Request) -> str:
    """``same``, ``foreign`` or ``missing``: where a request says it comes from, against the host it
    was sent to (scheme aside: a TLS-terminating proxy changes it, not the host)."""
    origin = request.headers.get("Origin")
    source = origin if origin is not None else request.headers.get("Referer")
    if source is None or source == "":
        return "missing"
    try:
        netloc = urlsplit(source).netloc
    except ValueError:
        return "foreign"
    host = request.host
    if not netloc or source == "null":
        return "foreign"
    return "same" if netloc.lower() == host.lower() else "foreign"


def _script_hashes(dash_app) -> list[str]:
    try:
        return list(dash_app.csp_hashes())
    except Exception:  # noqa: BLE001 - no hash: Dash's inline scripts are refused, nothing else breaks open
        return []


def register_headers(dash_app) -> None:
    server = dash_app.server

    @server.after_request
    def security_headers(response: flask.Response) -> flask.Response:
        headers = response.headers
        is_html = response.mimetype == "text/html"
        headers["Content-Security-Policy"] = content_security_policy(_script_hashes(dash_app) if is_html else ())
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = headers.get("Referrer-Policy") or "same-origin"
        headers["Permissions-Policy"] = PERMISSIONS_POLICY
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if flask.current_app.config.get("SESSION_COOKIE_SECURE"):
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if not flask.request.path.startswith(STATIC_PREFIXES):
            vary = [part.strip() for value in headers.getlist("Vary") for part in value.split(",") if part.strip()]
            headers["Vary"] = ", ".join(dict.fromkeys([*vary, "Cookie", "Authorization"]))
        return response
