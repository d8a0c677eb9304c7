"""Fixtures of the app tests: settings for a given database, a small seeded platform, a live
server on a free port and Debian's chromium driven by Playwright (never a downloaded browser)."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import insert

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def make_settings(tmp_path: Path, database_url: str, **overrides) -> Settings:
    """Settings independent of the caller's CITYOPS_* environment."""
    values = {"data_dir": tmp_path, "database_url": database_url, "redis_url": None, "locale": "zh", "secret_key": "test-secret"}
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
    engine.dispose()
    return url


@pytest.fixture
def live_server(tmp_path, seeded_sqlite_url):
    """The real app on a free port in a background thread; yields its base URL."""
    from werkzeug.serving import make_server

    from app.server import create_app

    dash_app = create_app(make_settings(tmp_path, seeded_sqlite_url))
    port = free_port()
    server = make_server("127.0.0.1", port, dash_app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="cityops-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)


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
        yield browser
        browser.close()


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


def open_watched_page(browser, *, viewport: dict, timeout_ms: int, ignore_failed_urls: tuple[str, ...] = (), **context_options):
    """A page that records console errors, page errors, failed requests (``page.problems``) and
    every requested URL (``page.requested``); returns (context, page) — close the context after."""
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
