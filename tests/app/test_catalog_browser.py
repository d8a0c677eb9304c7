"""The data catalogue in Debian's chromium at 1920×1080: it renders, the search filters the table
and the address keeps the filter (a reload shows the same rows), no console error, no request to
another host."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.app.conftest import assert_only_own_host, demo_city_server, open_watched_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORT = {"width": 1920, "height": 1080}
ROWS = "#catalog-datasets-body tr[data-code]"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The app on the small demo city."""
    with demo_city_server(tmp_path_factory.mktemp("catalog-browser"), 13) as served:
        yield served


@pytest.fixture
def page(chromium_browser, demo_server):
    # The live stream is cut when a page closes: not a problem of the page.
    context, page = open_watched_page(chromium_browser, viewport=VIEWPORT, timeout_ms=30_000, ignore_failed_urls=("/api/v1/events",),
                                      role="analyst")
    yield page
    context.close()


def dataset_names(page) -> list[str]:
    return page.locator(f"{ROWS} .dataset-name").all_inner_texts()


def test_the_catalogue_renders_and_the_search_filters_it(page, demo_server, artifacts_dir):
    from queries.schema import Dataset

    base_url, engine = demo_server
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(Dataset).where(Dataset.code != "specs"))
        matching = sorted(conn.scalars(select(Dataset.name).where(Dataset.name.contains("空气"))))
    assert 0 < len(matching) < total

    page.goto(f"{base_url}/catalog")
    page.locator("#catalog-title").filter(has_text="数据资源目录").wait_for()
    expect(page.locator(ROWS)).to_have_count(total)
    assert page.locator(f"{ROWS} .badge").count() == total
    assert page.locator("#catalog-indicators-body tr[data-code]").count() > 0
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts_dir / "catalog-zh.png"))

    page.locator("#catalog-search").fill("空气")
    expect(page.locator(ROWS)).to_have_count(len(matching))
    assert sorted(dataset_names(page)) == matching
    assert page.locator("#catalog-datasets-count").inner_text() == f"显示 {len(matching)} / {total} 个资源"
    expect(page).to_have_url(re.compile(r"[?&]q=%E7%A9%BA%E6%B0%94(&|$)"))  # 空气
    english = page.locator("#shell-lang-en").get_attribute("href")
    assert parse_qs(urlsplit(english).query) == {"q": ["空气"], "lang": ["en"]}

    uses = page.locator(f"{ROWS} details.catalog-uses").first
    uses.locator("summary").click()
    href = uses.locator("a.catalog-use-link").first.get_attribute("href")
    assert urlsplit(href).path == "/studio" and ("wall" in parse_qs(urlsplit(href).query) or "briefing" in parse_qs(urlsplit(href).query))
    page.screenshot(path=str(artifacts_dir / "catalog-search.png"))

    page.reload()  # the address holds the filter: the same rows again
    expect(page.locator(ROWS)).to_have_count(len(matching))
    assert page.locator("#catalog-search").input_value() == "空气"
    assert sorted(dataset_names(page)) == matching

    page.locator("#shell-lang-en").click()
    page.locator("#catalog-title").filter(has_text="Data catalogue").wait_for()
    expect(page.locator(ROWS)).to_have_count(len(matching))
    assert page.locator("#catalog-search").input_value() == "空气"

    page.locator("#catalog-search").fill("")
    expect(page.locator(ROWS)).to_have_count(total)
    expect(page).not_to_have_url(re.compile(r"[?&]q="))
    page.wait_for_load_state("networkidle")

    assert not page.problems, page.problems
    assert_only_own_host(page.requested, base_url)


def test_a_shared_link_opens_with_its_filter(page, demo_server, artifacts_dir):
    base_url, _ = demo_server
    page.goto(f"{base_url}/catalog?freshness=fresh&sharing=unconditional&lang=en")
    page.locator("#catalog-title").filter(has_text="Data catalogue").wait_for()
    page.locator(ROWS).first.wait_for()
    badges = page.locator(f"{ROWS} .badge").all_inner_texts()
    assert badges and set(badges) == {"Fresh"}
    assert set(page.locator(f"{ROWS} td:nth-child(3)").all_inner_texts()) == {"unconditional"}
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts_dir / "catalog-shared-en.png"))
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, base_url)
