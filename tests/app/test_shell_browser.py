"""The shell in Debian's chromium: header, nav, language switch; no console error, no foreign host."""
from __future__ import annotations

import pytest

from tests.app.conftest import assert_only_own_host, open_watched_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def page(chromium_browser, live_server):
    context, page = open_watched_page(chromium_browser, viewport={"width": 1600, "height": 1000}, timeout_ms=20_000)
    yield page
    context.close()


def test_shell_header_nav_and_language_switch(page, live_server, artifacts_dir):
    page.goto(f"{live_server}/")
    header = page.locator("#shell-header")
    header.locator(".shell-title").filter(has_text="城市运行管理中心").wait_for()
    page.locator("#home-title").filter(has_text="城市运行概览").wait_for()
    nav = page.locator(".shell-nav .shell-nav-link")
    assert "总览" in nav.all_inner_texts()
    assert page.locator(".shell-nav-link.is-active").inner_text() == "总览"
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert "海州区" not in page.content()  # counts, not raw rows
    page.locator(".data-table").wait_for()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts_dir / "shell-home-zh.png"), full_page=True)

    page.locator("#shell-lang-en").click()
    page.locator(".shell-title").filter(has_text="City Operations Centre").wait_for()
    page.locator("#home-title").filter(has_text="City overview").wait_for()
    assert page.url.endswith("/?lang=en")
    assert "Overview" in nav.all_inner_texts()
    assert "城市运行管理中心" not in header.inner_text()
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.locator(".data-table").filter(has_text="Hourly air quality").wait_for()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts_dir / "shell-home-en.png"), full_page=True)

    page.locator("#shell-lang-zh").click()
    page.locator("#home-title").filter(has_text="城市运行概览").wait_for()

    assert not page.problems, page.problems
    assert_only_own_host(page.requested, live_server)


def test_unknown_address_shows_the_localised_not_found_page(page, live_server):
    page.goto(f"{live_server}/no-such-page?lang=en")
    page.get_by_text("Page not found").wait_for()
    page.locator(".shell-title").filter(has_text="City Operations Centre").wait_for()
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, live_server)
