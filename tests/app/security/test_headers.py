"""Security headers on every response — a Content-Security-Policy Dash works with and that allows
nothing external, frame-ancestors, nosniff, referrer and permissions policies — and, in a real
browser, the pages rendering under that policy without a single violation."""
from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.app.conftest import (
    assert_only_own_host,
    client_for,
    open_watched_page,
    post_callback,
    router_body,
    server_callbacks,
    user_of,
)

DIRECTIVES = {
    "default-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self' data: blob:",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


@pytest.fixture(scope="module")
def app(secured_platform):
    dash_app = secured_platform.app()
    server_callbacks(dash_app)
    return dash_app


def policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in (p.strip() for p in header.split(";")) if part}


def assert_security_headers(response) -> None:
    directives = policy(response)
    for name, value in DIRECTIVES.items():
        assert directives[name] == value, (name, directives.get(name))
    assert directives["script-src"].split()[0] == "'self'" and "'unsafe-inline'" not in directives["script-src"] and "unsafe-eval" not in directives["script-src"]
    assert "http" not in response.headers["Content-Security-Policy"]  # nothing external, anywhere
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert "camera=()" in response.headers["Permissions-Policy"] and "geolocation=()" in response.headers["Permissions-Policy"]


def test_every_kind_of_response_carries_the_headers(app):
    admin = client_for(app.server, user_of("admin"))
    nobody = client_for(app.server, None)
    wall = client_for(app.server, user_of("wall"))
    responses = [
        admin.get("/command"), admin.get("/briefing/city"), admin.get("/api/v1/areas"), admin.get("/_dash-layout"), admin.get("/healthz"),
        admin.get("/assets/cityops.css"), post_callback(admin, router_body("/command")), nobody.get("/command"), nobody.get("/api/v1/areas"),
        nobody.get("/login"), wall.get("/command"), admin.get("/api/v1/no-such-endpoint"), post_callback(admin, {"output": "nope"}),
    ]
    for response in responses:
        assert_security_headers(response)
    assert "Cookie" in admin.get("/api/v1/areas").headers["Vary"]


def test_the_policy_allows_exactly_dashs_inline_scripts(app):
    """Every inline script of the page is allowed by its hash, and nothing else is."""
    response = client_for(app.server, user_of("admin")).get("/wall")
    html = response.get_data(as_text=True)
    inline = [body for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
              if "src=" not in attributes and "application/json" not in attributes]
    assert inline, "Dash's page has inline scripts (the renderer, clientside callbacks)"
    hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" for body in inline}
    allowed = set(policy(response)["script-src"].split()[1:])
    assert hashes <= allowed, hashes - allowed
    assert all(source.startswith("'sha256-") for source in allowed)
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']https?://""", html)


def test_https_deployments_get_strict_transport_security(secured_platform):
    server = secured_platform.app(cookie_secure=True).server
    response = client_for(server, None).get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in client_for(secured_platform.app().server, None).get("/healthz").headers


def test_healthz_tells_nobody_about_internals(app):
    public = client_for(app.server, None).get("/healthz").get_json()
    assert set(public) == {"status", "database", "cache", "time"} and public["database"] == "ok"
    full = client_for(app.server, user_of("wall")).get("/healthz").get_json()
    assert {"dialect", "data_version", "schema_revision"} <= set(full)


# --- in a browser: no CSP violation, nothing from outside ----------------------------------------------------


@pytest.fixture(scope="module")
def secured_server(secured_platform):
    import threading

    from werkzeug.serving import make_server

    from tests.app.conftest import free_port

    dash_app = secured_platform.app()
    port = free_port()
    server = make_server("127.0.0.1", port, dash_app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="cityops-secured-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.mark.browser
@pytest.mark.parametrize("path, role, ready", [
    ("/command?lang=en", "admin", "#command-kpis .kpi"),
    ("/command?incident={inside}&lang=en", "commander", "#command-incident-heading"),
    ("/wall", "wall", ".wall-panel .wall-meta *"),
    ("/briefing/city", "leader", "#briefing-root"),
    ("/", "analyst", "#home-live-list"),
    ("/login", None, "#login-form"),
    ("/admin/users", "leader", "#access-denied"),
], ids=["command", "incident", "wall", "briefing", "home", "login", "forbidden"])
def test_pages_render_under_the_policy_without_a_violation(chromium_browser, secured_server, secured_platform, artifacts_dir, path, role, ready):
    path = path.format(inside=secured_platform.inside)
    context, page = open_watched_page(chromium_browser, viewport={"width": 1600, "height": 1000}, timeout_ms=45_000,
                                      ignore_failed_urls=("/api/v1/events",), role=role)
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
    try:
        response = page.goto(f"{secured_server}{path}")
        assert response.status == (403 if ready == "#access-denied" else 200)
        page.locator(ready).first.wait_for(state="attached")
        page.wait_for_timeout(2500)  # the first callbacks, the map's layers and the live stream
        page.screenshot(path=str(artifacts_dir / f"csp-{path.strip('/').split('?')[0].replace('/', '-') or 'home'}.png"))
    finally:
        context.close()
    assert not violations, violations
    problems = [problem for problem in page.problems if not ("403" in problem and ready == "#access-denied")]
    assert not problems, problems
    assert_only_own_host(page.requested, secured_server)
