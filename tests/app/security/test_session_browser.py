"""A session that ends while a page is open (Debian's chromium): the next Dash callback gets 401
and assets/cityops-session.js sends the browser to the log-in page, which brings it back."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from queries.auth import change_user
from queries.db import make_engine
from tests.app.conftest import assert_only_own_host, open_watched_page, user_of

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def page(chromium_browser, live_server):
    context, page = open_watched_page(chromium_browser, viewport={"width": 1400, "height": 900}, timeout_ms=20_000, role="leader")
    yield page
    context.close()


def end_sessions_of(url: str, user: str) -> None:
    """What an administrator's change does on the server: every session of ``user`` ends."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            change_user(conn, user, role="leader")
    finally:
        engine.dispose()


def test_an_expired_session_sends_the_open_page_to_the_log_in_page(page, live_server, seeded_sqlite_url, artifacts_dir):
    page.goto(f"{live_server}/command?lang=en")
    page.locator(".shell-nav-link.is-active").wait_for()
    # The page's own first callbacks must be answered before the session ends (else they get the 401).
    page.locator("#command-map canvas").wait_for()
    page.wait_for_function("() => !document.querySelector('[data-dash-is-loading=\"true\"]')")
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == "/command"

    end_sessions_of(seeded_sqlite_url, user_of("leader"))
    page.locator(".shell-nav-link", has_text="Overview").click()  # a callback: the page router for "/"
    page.wait_for_url("**/login?**")

    location = urlsplit(page.url)
    query = parse_qs(location.query)
    assert location.path == "/login" and query == {"next": ["/?lang=en"], "lang": ["en"]}
    page.locator("#login-user").wait_for()
    assert page.locator('input[name="next"]').get_attribute("value") == "/?lang=en"  # logging in comes back here
    page.screenshot(path=str(artifacts_dir / "session-expired-login.png"))

    # Nothing went wrong in the page; the only complaints are the refused calls themselves and
    # the requests the navigation to /login cut short.
    expected = ("status of 401", "/_dash-update-component", "/api/v1/events", "net::ERR_ABORTED")  # the last: any request cut short
    errors = [problem for problem in page.problems if not any(part in problem for part in expected)]
    assert not errors, errors
    assert not [problem for problem in page.problems if problem.startswith("page error")]
    assert_only_own_host(page.requested, live_server)
