"""The leaders' briefing in Debian's chromium on the small demo city, on a tablet: 1024×1366
(portrait) and 1366×1024 (landscape), touch and mobile emulation.

Per size: no horizontal scroll, no console error, no request to another host, every section of
specs/briefings/city.yaml shown (attention first), every link a touch target at least 44 px tall,
nothing that only hover reveals; tapping an incident opens the command view on that incident and
tapping an indicator card opens it on the briefing's area.

"Hover-only information" is checked as: no element carries a ``title`` attribute (a tooltip a finger
cannot summon), no stylesheet rule of the page reacts to ``:hover`` by showing, hiding or changing
content, and each SVG ``<title>`` of the area map (a tooltip too) repeats what the map's visible
labels already say (the area's name and its value).
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.app.conftest import (
    assert_only_own_host,
    demo_city_server,
    open_watched_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = [pytest.param({"width": 1024, "height": 1366}, id="portrait"), pytest.param({"width": 1366, "height": 1024}, id="landscape")]
TOUCH = 44  # px: the smallest touch target (WCAG 2.5.5, Apple HIG)
TAPPABLE = "a.b-row, a.b-card, a.b-button, a.b-hero, a.b-figure, .b-header a"
CITY, HAIZHOU = "320700", "320706"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The app on the small demo city whose data ends at the current hour."""
    with demo_city_server(tmp_path_factory.mktemp("briefing-browser"), 11) as served:
        yield served


def tablet(browser, viewport: dict):
    # The command view's live stream is cut when the page navigates away: not a problem of the page.
    return open_watched_page(browser, viewport=viewport, timeout_ms=45_000, has_touch=True, is_mobile=True,
                             device_scale_factor=1, ignore_failed_urls=("/api/v1/events",))


def city_sections() -> list[str]:
    from queries.settings import Settings
    from queries.specs.files import shipped_specs

    types = [section.type for section in shipped_specs("briefing", Settings(specs_dir=None))["city"].sections]
    return ["attention"] + [kind for kind in types if kind != "attention"]


def open_briefing(page, url: str) -> None:
    page.goto(url)
    page.locator('#briefing-root[data-ready="1"]').wait_for()


def horizontal_overflow(page) -> dict:
    """The page's scroll width against the viewport, and every element sticking out sideways
    (except inside a container that scrolls or clips on its own, such as the menu)."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const clipped = (el) => {
            for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return true;
            }
            return false;
        };
        const out = [];
        for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) continue;
            if ((r.right > width + 0.5 || r.left < -0.5) && !clipped(el)) {
                out.push(`${el.tagName.toLowerCase()}.${el.getAttribute('class') || ''} ${Math.round(r.left)}–${Math.round(r.right)}`);
            }
        }
        return {scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth, clientWidth: width, out: out.slice(0, 20)};
    }""")


def target_sizes(page, selector: str) -> list[dict]:
    return page.evaluate("""(selector) => [...document.querySelectorAll(selector)].map(el => {
        const r = el.getBoundingClientRect();
        const cls = typeof el.className === 'string' ? el.className : el.getAttribute('class');
        return {what: `${el.tagName.toLowerCase()}.${cls} ${el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 40)}`, width: r.width, height: r.height,
                visible: r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'};
    })""", selector)


def hover_only(page) -> dict:
    return page.evaluate("""() => {
        const titled = [...document.querySelectorAll('[title]')].map(el => el.outerHTML.slice(0, 120));
        const hover = [];
        const walk = (rules) => { for (const rule of rules) {
            if (rule.cssRules) walk(rule.cssRules);
            if (rule.selectorText && rule.selectorText.includes(':hover')) hover.push(rule.cssText);
        } };
        for (const sheet of document.styleSheets) { try { walk(sheet.cssRules); } catch (e) { hover.push('unreadable sheet ' + sheet.href); } }
        const tooltips = [...document.querySelectorAll('svg title')].map(t => t.textContent);
        const labels = [...document.querySelectorAll('.map-labels text')].map(t => ({name: t.firstChild ? t.firstChild.textContent : '', value: (t.querySelector('tspan') || {}).textContent || ''}));
        return {titled, hover, tooltips, labels};
    }""")


def check_briefing_page(page, viewport: dict) -> None:
    # Every section of the spec, attention first, each with its data time.
    assert page.locator("section[data-section]").evaluate_all("els => els.map(e => e.dataset.section)") == city_sections()
    times = page.locator("section[data-section] .b-time").all_inner_texts()
    assert len(times) == len(city_sections()) and all(re.search(r"\d\d-\d\d \d\d:\d\d", text) for text in times), times
    for section in page.locator("section[data-section]").all():
        box = section.bounding_box()
        assert box and box["height"] > 40 and box["width"] > viewport["width"] / 3, section.get_attribute("data-section")

    # No horizontal scroll at the tablet's width.
    overflow = horizontal_overflow(page)
    assert overflow["innerWidth"] == viewport["width"], overflow  # no zoomed-out layout viewport
    assert overflow["scrollWidth"] <= overflow["innerWidth"], overflow
    assert overflow["out"] == [], overflow

    # Touch targets: every link of the page at least 44 px tall (and wide).
    sizes = [size for size in target_sizes(page, TAPPABLE) if size["visible"]]
    assert len(sizes) >= 20
    small = [size for size in sizes if size["height"] < TOUCH or size["width"] < TOUCH]
    assert small == [], small
    map_areas = [size for size in target_sizes(page, ".b-map svg a") if size["visible"]]
    assert len(map_areas) >= 2
    tiny = [size for size in map_areas if size["height"] < TOUCH and size["width"] < TOUCH]
    assert tiny == [], tiny  # each area of the map can be hit with a finger

    # Nothing only hover reveals.
    found = hover_only(page)
    assert found["titled"] == [], found["titled"]
    revealing = [rule for rule in found["hover"] if re.search(r"display|visibility|opacity|content|height|width", rule)]
    assert revealing == [], revealing
    assert found["tooltips"] and len(found["tooltips"]) == len(found["labels"])
    for tooltip, label in zip(found["tooltips"], found["labels"]):
        assert tooltip == f"{label['name']}: {label['value']}", (tooltip, label)  # the tooltip says nothing the label does not


def wait_for_command(page, prefix: str) -> str:
    """The command view has drawn the state whose render mark starts with ``prefix``."""
    page.wait_for_function("prefix => (document.querySelector('#command-render-mark') || {}).textContent?.startsWith(prefix)", arg=prefix)
    return page.locator("#command-render-mark").text_content()


def query_of(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("viewport", SIZES)
def test_briefing_on_a_tablet(chromium_browser, demo_server, artifacts_dir, viewport):
    base_url, _ = demo_server
    context, page = tablet(chromium_browser, viewport)
    try:
        open_briefing(page, f"{base_url}/briefing")
        assert page.evaluate("() => matchMedia('(pointer: coarse)').matches && navigator.maxTouchPoints > 0")
        check_briefing_page(page, viewport)
        page.screenshot(path=str(artifacts_dir / f"briefing-{viewport['width']}x{viewport['height']}.png"), full_page=True)

        # Tap an open incident: the command view opens on it.
        row = page.locator('section[data-section="incidents"] a.b-row').first
        assert row.count() == 1, "the demo city has no open incident of severity I–III"
        incident_id = query_of(row.get_attribute("href"))["incident"]
        title = row.locator(".b-row-title").inner_text()
        row.tap()
        page.wait_for_url(re.compile(r"/command\?"))
        assert query_of(page.url)["incident"] == incident_id and urlsplit(page.url).path == "/command"
        heading = page.locator(f'#command-incident-heading[data-incident-id="{incident_id}"]')
        heading.wait_for()
        mark = wait_for_command(page, "")
        assert f"|{incident_id}|" in mark, mark
        assert title in heading.inner_text()
        page.wait_for_timeout(800)  # deck.gl draws on the next animation frames
        page.screenshot(path=str(artifacts_dir / f"briefing-tap-incident-{viewport['width']}x{viewport['height']}.png"))

        # Back, then tap an indicator card: the command view on the briefing's area (the city).
        page.go_back()
        page.locator('#briefing-root[data-ready="1"]').wait_for()
        card = page.locator('section[data-section="indicators"] a.b-card').first
        card.tap()
        page.wait_for_url(re.compile(r"/command\?"))
        assert query_of(page.url) == {"area": CITY, "lang": "zh"}
        wait_for_command(page, f"{CITY}|-|")
        assert page.locator("#command-crumbs .crumb-name").all_inner_texts()[0].strip() == "连云港市"

        assert not page.problems, page.problems
        assert_only_own_host(page.requested, base_url)
    finally:
        context.close()


def test_district_briefing_in_english_taps_to_its_district(chromium_browser, demo_server, artifacts_dir):
    base_url, _ = demo_server
    viewport = {"width": 1366, "height": 1024}
    context, page = tablet(chromium_browser, viewport)
    try:
        open_briefing(page, f"{base_url}/briefing/haizhou?lang=en")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text() == "Haizhou District briefing"
        sections = page.locator("section[data-section]").evaluate_all("els => els.map(e => e.dataset.section)")
        assert sections[0] == "attention" and set(sections) == {"attention", "indicators", "map", "incidents", "air_quality", "traffic", "hotline"}
        overflow = horizontal_overflow(page)
        assert overflow["scrollWidth"] <= overflow["innerWidth"] and overflow["out"] == [], overflow
        page.screenshot(path=str(artifacts_dir / "briefing-haizhou-en-1366x1024.png"), full_page=True)

        page.locator('section[data-section="indicators"] a.b-card').first.tap()
        page.wait_for_url(re.compile(r"/command\?"))
        assert query_of(page.url) == {"area": HAIZHOU, "lang": "en"}
        wait_for_command(page, f"{HAIZHOU}|-|")
        crumbs = [text.strip() for text in page.locator("#command-crumbs .crumb-name").all_inner_texts()]
        assert len(crumbs) == 2 and crumbs[0] == "Lianyungang" and crumbs[1].startswith("Haizhou")

        assert not page.problems, page.problems
        assert_only_own_host(page.requested, base_url)
    finally:
        context.close()
