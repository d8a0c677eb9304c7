"""Fixtures of the app tests: settings for a given database, a small seeded platform, a live
server on a free port and Debian's chromium driven by Playwright (never a downloaded browser).

Signed in by default (access control, ``app.security.access``): every app a test builds gets the
test users ``test-wall``, ``test-leader``, ``test-commander``, ``test-analyst`` and ``test-admin``
(password ``TEST_PASSWORD``) on its first request, and

* Flask test clients (``server.test_client()``) carry the session of ``test-admin`` and this
  site's ``Origin``; ``server.test_client(role="leader")`` is another role, ``role=None`` nobody;
* pages of ``chromium_browser`` (``new_context``/``new_page``) carry that session too
  (``role=`` likewise; the export's own browser is not one of them);
* ``requests`` calls to 127.0.0.1/localhost carry it unless they pass ``cookies=`` or their own
  ``Cookie``/``Authorization`` header (``requests.get(url, cookies={})`` is nobody).

Sessions are signed with the test settings' secret (``make_settings``: ``TEST_SECRET``); an app
with another secret (a server in another process) needs ``session_cookie(…, secret=…)`` and
``ensure_test_users`` on its database.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import insert, select

from queries.db import make_engine
from queries.migrate import ensure_schema
from queries.schema import Area
from queries.settings import Settings
from queries.writes import ensure_dataset, record_change

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]
REDIS_URL = os.environ.get("CITYOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


TEST_SECRET = "test-secret"
TEST_PASSWORD = "test-password-0123"
TEST_ROLES = ("wall", "leader", "commander", "analyst", "admin")
DEFAULT_ROLE = "admin"
SESSION_COOKIE = "session"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def user_of(role: str) -> str:
    return f"test-{role}"


@functools.cache
def _test_password_hash() -> str:
    from queries.auth import hash_password

    return hash_password(TEST_PASSWORD)


def ensure_test_users(engine) -> None:
    """The test users (one per role, the whole city, session version 1) in ``engine``'s database."""
    from queries.schema import User

    moment = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        present = set(conn.scalars(select(User.name).where(User.name.in_([user_of(r) for r in TEST_ROLES]))))
        missing = [role for role in TEST_ROLES if user_of(role) not in present]
        if missing:
            conn.execute(insert(User), [{
                "name": user_of(role), "role": role, "password_hash": None if role == "wall" else _test_password_hash(), "areas": None,
                "disabled": False, "failed_logins": 0, "session_version": 1, "created_at": moment, "updated_at": moment,
            } for role in missing])


def session_cookie(user: str, *, secret: str = TEST_SECRET, version: int = 1, device: bool = False, last_seen: int | None = None) -> str:
    """The value of a signed session cookie of ``user`` (as ``app.security.identity.start_session`` makes it)."""
    import flask

    signer = flask.Flask("cityops-test-cookie")
    signer.secret_key = secret
    serializer = signer.session_interface.get_signing_serializer(signer)
    return serializer.dumps({"u": user, "v": version, "t": int(time.time()) if last_seen is None else last_seen, "d": device, "csrf": "test-csrf"})


def role_cookie(role: str | None, secret: str = TEST_SECRET) -> str | None:
    return None if role is None else session_cookie(user_of(role), secret=secret, device=role == "wall")


def _provision_test_users(sender, **_) -> None:
    """``flask.request_started``: the test users in an app's database, once (retried while it fails)."""
    extensions = sender.extensions
    context = extensions.get("cityops")
    if context is None or extensions.get("cityops.test-users") == "ok":
        return
    lock = extensions.setdefault("cityops.test-users-lock", threading.Lock())
    with lock:
        if extensions.get("cityops.test-users") == "ok" or time.monotonic() - extensions.get("cityops.test-users-tried", -10.0) < 2.0:
            return
        extensions["cityops.test-users-tried"] = time.monotonic()
        try:
            ensure_test_users(context.engine)
            extensions["cityops.test-users"] = "ok"
        except Exception:  # noqa: BLE001 - no database or no schema yet: the request is refused or fails on its own
            pass


def _signed_in_client_class():
    from flask.testing import FlaskClient

    class SignedInClient(FlaskClient):
        """A test client with the session of ``role`` (None: nobody) and this site's Origin."""

        def __init__(self, *args, role: str | None = DEFAULT_ROLE, **kwargs):
            super().__init__(*args, **kwargs)
            self.environ_base.setdefault("HTTP_ORIGIN", "http://localhost")
            self.role = role
            cookie = role_cookie(role, self.application.secret_key or TEST_SECRET)
            if cookie is not None:
                self.set_cookie(SESSION_COOKIE, cookie, domain="localhost")

    return SignedInClient


def sign_in_context(context, role: str | None = DEFAULT_ROLE, secret: str = TEST_SECRET) -> None:
    """Give a Playwright browser context the session of ``role`` on every loopback test server."""
    cookie = role_cookie(role, secret)
    if cookie is not None:
        context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "domain": host, "path": "/", "httpOnly": True, "sameSite": "Lax"}
                             for host in LOOPBACK_HOSTS])


class SignedInBrowser:
    """``chromium_browser``: Playwright's Browser whose new contexts and pages are signed in."""

    def __init__(self, browser):
        self.browser = browser

    def __getattr__(self, name):
        return getattr(self.browser, name)

    def new_context(self, *args, role: str | None = DEFAULT_ROLE, **kwargs):
        context = self.browser.new_context(*args, **kwargs)
        sign_in_context(context, role)
        return context

    def new_page(self, *args, role: str | None = DEFAULT_ROLE, **kwargs):
        page = self.browser.new_page(*args, **kwargs)
        sign_in_context(page.context, role)
        return page


@pytest.fixture(autouse=True)
def signed_in_by_default(monkeypatch):
    """See the module docstring: test users in every app, test clients and ``requests`` signed in."""
    import flask
    import requests

    flask.request_started.connect(_provision_test_users, weak=False)
    monkeypatch.setattr(flask.Flask, "test_client_class", _signed_in_client_class())
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(str(url))
        headers = {key.lower() for key in (kwargs.get("headers") or {})}
        if parts.hostname in LOOPBACK_HOSTS and "cookies" not in kwargs and not self.cookies and not headers & {"cookie", "authorization"}:
            kwargs["cookies"] = {SESSION_COOKIE: role_cookie(DEFAULT_ROLE)}
            if str(method).upper() not in ("GET", "HEAD", "OPTIONS") and "origin" not in headers:
                kwargs["headers"] = {**(kwargs.get("headers") or {}), "Origin": f"{parts.scheme}://{parts.netloc}"}
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    yield
    flask.request_started.disconnect(_provision_test_users)


def signed_in_client(server, role: str | None = DEFAULT_ROLE, **kwargs):
    """``server.test_client(role=…)``, also outside a test function (module fixtures run before
    ``signed_in_by_default``)."""
    return _signed_in_client_class()(server, server.response_class, use_cookies=True, role=role, **kwargs)


def anonymous_client(server):
    """A test client of nobody (no session)."""
    return signed_in_client(server, None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def make_settings(tmp_path: Path, database_url: str, **overrides) -> Settings:
    """Settings independent of the caller's CITYOPS_* environment."""
    values = {"data_dir": tmp_path, "database_url": database_url, "redis_url": None, "locale": "zh", "secret_key": TEST_SECRET}
    values.update(overrides)
    return Settings(**values)


def seed_small_platform(engine, now: dt.datetime | None = None) -> None:
    """One city, two districts and two catalogue entries (one fresh, one past its cycle)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320700", "level": "city", "name": "连云港市", "name_en": "Lianyungang", "parent_code": None},
            {"code": "320706", "level": "district", "name": "海州区", "name_en": "Haizhou", "parent_code": "320700"},
            {"code": "320707", "level": "district", "name": "赣榆区", "name_en": "Ganyu", "parent_code": "320700"},
        ])
        ensure_dataset(conn, "base.areas", name="行政区划", name_en="Administrative areas", provider="市自然资源和规划局",
                       provider_en="Natural Resources Bureau", sharing_type="unconditional", update_cycle="yearly")
        record_change(conn, "base.areas", "ingest", 3, row_count=3, at=now)
        ensure_dataset(conn, "env.aq_hourly", name="空气质量小时数据", name_en="Hourly air quality", provider="市生态环境局",
                       provider_en="Ecology and Environment Bureau", sharing_type="conditional", update_cycle="hourly")
        record_change(conn, "env.aq_hourly", "feed", 0, row_count=0, at=now - dt.timedelta(hours=5))


@pytest.fixture
def seeded_sqlite_url(tmp_path) -> str:
    """A migrated SQLite database with a few rows, so ``cityops serve`` does not build the demo city."""
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    seed_small_platform(engine)
    ensure_test_users(engine)  # also for servers in another process (cityops serve)
    engine.dispose()
    return url


@contextlib.contextmanager
def serving(folder: Path, database_url: str, name: str = "cityops-live-server"):
    """The real app on ``database_url``, on a free port in a background thread: yields its base URL."""
    from werkzeug.serving import make_server

    from app.server import create_app

    dash_app = create_app(make_settings(folder, database_url))
    server = make_server("127.0.0.1", free_port(), dash_app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextlib.contextmanager
def demo_city_server(folder: Path, seed: int, *, now: dt.datetime | None = None):
    """The app on the small demo city (built for ``seed``, its data ending at ``now``, default the
    current time, so "last 24 h" has data) in SQLite under ``folder``: yields (base URL, engine)."""
    from queries.demo import build_demo_city

    url = f"sqlite:///{folder / 'demo.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    build_demo_city(engine, "small", seed, now=now or dt.datetime.now(dt.timezone.utc))
    try:
        with serving(folder, url, name=f"cityops-{folder.name}") as base_url:
            yield base_url, engine
    finally:
        engine.dispose()


@pytest.fixture
def live_server(tmp_path, seeded_sqlite_url):
    """The real app on a free port in a background thread; yields its base URL."""
    with serving(tmp_path, seeded_sqlite_url) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian's chromium through Playwright; missing chromium skips locally and fails in CI."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield SignedInBrowser(browser)
        browser.close()


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


def open_watched_page(browser, *, viewport: dict, timeout_ms: int, ignore_failed_urls: tuple[str, ...] = (), **context_options):
    """A page that records console errors, page errors, failed requests (``page.problems``) and
    every requested URL (``page.requested``); returns (context, page) — close the context after.
    Signed in as ``DEFAULT_ROLE`` (``role=`` another, None nobody) when ``browser`` is ``chromium_browser``."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", **context_options)
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    problems: list[str] = []
    requested: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} {request.failure}")
            if not any(part in request.url for part in ignore_failed_urls) else None)
    page.on("request", lambda request: requested.append(request.url))
    page.problems = problems
    page.requested = requested
    return context, page


def assert_only_own_host(requested: list[str], base_url: str) -> None:
    own = urlsplit(base_url).netloc
    foreign = [url for url in requested if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own]
    assert requested, "no request was recorded"
    assert not foreign, f"requests to other hosts: {foreign}"


# --- a secured platform: the small demo city with users of every role and of one district ---------------

HAIZHOU, GANYU, CITY = "320706", "320707", "320700"
PII_PHONE = "13912345678"
PII_ID_CARD = "320706199001011234"
PII_NAME = "王小明"
PII_ADDRESS = "海州区新浦街道朝阳路97号3单元"
DISTRICT_USERS = {"haizhou-leader": "leader", "haizhou-commander": "commander", "haizhou-wall": "wall"}


class SecuredPlatform:
    """The database of ``secured_platform``: its URL and folder, the incidents with personal data
    (``inside``: Haizhou; ``outside``: Ganyu) and a token of the district's wall device."""

    def __init__(self, url: str, folder: Path, inside: str, outside: str, wall_token: str):
        self.url, self.folder, self.inside, self.outside, self.wall_token = url, folder, inside, outside, wall_token

    def app(self, **overrides):
        from app.server import create_app

        return create_app(make_settings(self.folder, self.url, **overrides))


@pytest.fixture(scope="session")
def secured_platform(tmp_path_factory) -> SecuredPlatform:
    """The small demo city (one per test worker) with the test users, users limited to Haizhou
    (``DISTRICT_USERS``), and one incident in Haizhou and one in Ganyu whose title, reporter and
    address hold personal data."""
    from sqlalchemy import update

    from queries.auth import add_user, issue_token
    from queries.demo import build_demo_city
    from queries.schema import Incident

    folder = tmp_path_factory.mktemp("secured")
    url = f"sqlite:///{folder / 'secured.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    build_demo_city(engine, "small", 7, now=dt.datetime.now(dt.timezone.utc))
    ensure_test_users(engine)
    with engine.begin() as conn:
        for name, role in DISTRICT_USERS.items():
            add_user(conn, name, role, None if role == "wall" else TEST_PASSWORD, areas=[HAIZHOU])
        wall_token = issue_token(conn, "haizhou-wall")
        chosen = {}
        for district in (HAIZHOU, GANYU):
            incident_id = conn.scalar(select(Incident.id).where(Incident.district_code == district, Incident.grid_code.is_not(None),
                                                                 Incident.lon.is_not(None)).order_by(Incident.reported_at.desc()).limit(1))
            conn.execute(update(Incident).where(Incident.id == incident_id).values(
                title=f"王先生{PII_PHONE}反映身份证{PII_ID_CARD}被冒用", reporter_name=PII_NAME, reporter_phone=PII_PHONE, address=PII_ADDRESS))
            chosen[district] = incident_id
    engine.dispose()
    return SecuredPlatform(url, folder, chosen[HAIZHOU], chosen[GANYU], wall_token)


def client_for(server, user: str | None, **kwargs):
    """A test client with the session of ``user`` (a user name; None: nobody)."""
    client = signed_in_client(server, None, **kwargs)
    if user is not None:
        role = DISTRICT_USERS.get(user) or next((r for r in TEST_ROLES if user_of(r) == user), None)
        client.set_cookie(SESSION_COOKIE, session_cookie(user, secret=server.secret_key, device=role == "wall"), domain="localhost")
    return client


def audit_rows(url: str, **filters) -> list[dict]:
    """The audit log of the database at ``url``, newest first."""
    from queries.auth import list_audit

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            frame = list_audit(conn, **filters)
            return frame.astype(object).where(frame.notna(), None).to_dict("records")  # None, not NaN, for a missing user
    finally:
        engine.dispose()


# --- Dash callbacks as HTTP requests ----------------------------------------------------------------

ROUTER = ".._pages_content.children..._pages_store.data.."


def server_callbacks(dash_app) -> dict:
    """Every callback the server runs (``callback_map`` after Dash's set-up; clientside ones left out)."""
    signed_in_client(dash_app.server, None).get("/_dash-layout")  # Dash moves the registered callbacks in on the first request
    return {key: spec for key, spec in dash_app.callback_map.items() if spec.get("callback") is not None}


def _declared(spec) -> dict:
    import json

    component = spec["id"]
    if isinstance(component, str) and component.startswith("{"):
        component = json.loads(component)
    return {"id": component, "property": spec["property"]}


def _concrete(declared: dict, value=None) -> dict | list:
    """A request item for a declared input/output: a list of one element for an ALL pattern."""
    component = declared["id"]
    if isinstance(component, dict) and any(isinstance(v, list) for v in component.values()):
        return [{"id": {k: ("x1" if isinstance(v, list) else v) for k, v in component.items()}, "property": declared["property"], "value": value}]
    return {"id": component, "property": declared["property"], "value": value}


def callback_body(dash_app, key: str, values: dict | None = None, changed: list[str] | None = None) -> dict:
    """A well-formed ``/_dash-update-component`` body for the callback ``key``: every input and
    state None unless ``values`` (``"component.property"`` → value) says otherwise."""
    from app.security.callbacks import split_key

    spec = dash_app.callback_map[key]
    values = values or {}

    def item(declared_spec):
        declared = _declared(declared_spec)
        name = f"{declared['id']}.{declared['property']}" if isinstance(declared["id"], str) else None
        return _concrete(declared, values.get(name))

    outputs = [_concrete({"id": component, "property": prop}) for component, prop in split_key(key)]
    for output in outputs:
        for element in output if isinstance(output, list) else [output]:
            element.pop("value", None)
    return {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": [item(s) for s in spec["inputs"]],
            "state": [item(s) for s in spec["state"]], "changedPropIds": changed or []}


def router_body(pathname, search="") -> dict:
    """The page router's request for ``pathname`` + ``search`` (what Dash sends on navigation)."""
    return {"output": ROUTER, "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"]}


def post_callback(client, body, **kwargs):
    return client.post("/_dash-update-component", json=body, **kwargs)


def response_text(response) -> str:
    """A response's text as a person reads it: JSON re-written without ``\\uXXXX`` escapes (Dash
    escapes every non-ASCII character), so Chinese names and addresses can be searched for."""
    import json

    if response.mimetype == "application/json":
        try:
            return json.dumps(json.loads(response.get_data(as_text=True)), ensure_ascii=False)
        except ValueError:
            pass
    return response.get_data(as_text=True)
