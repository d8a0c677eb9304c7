"""The command console in Debian's chromium on the small demo city: city → district (a real click
on the map canvas) → street → community → grid → incident, breadcrumbs, KPIs and lists at each
step, a shared link, playback, browser back; no console error, no request to another host."""
from __future__ import annotations

import math

import pytest

from tests.app.conftest import (
    assert_only_own_host,
    demo_city_server,
    open_watched_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MARK = "#command-render-mark"
VIEWPORT = {"width": 1600, "height": 1000}
FIT_PADDING = 40  # app.command.data.FIT_PADDING_PX
WORLD_PX = 512  # deck.gl's world size at zoom 0


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The app on the small demo city whose data ends at the current hour (so "last 24 h" has data)."""
    with demo_city_server(tmp_path_factory.mktemp("command-browser"), 11) as served:
        yield served


@pytest.fixture
def page(chromium_browser, demo_server):
    # The live stream is cut when a page closes: not a problem of the page.
    # A leader: the command view without personal data (masked reporter fields).
    context, page = open_watched_page(chromium_browser, viewport=VIEWPORT, timeout_ms=30_000, has_touch=False, ignore_failed_urls=("/api/v1/events",),
                                      role="leader")
    yield page
    context.close()


def wait_for_step(page, prefix: str) -> str:
    page.wait_for_function("prefix => (document.querySelector('#command-render-mark') || {}).textContent?.startsWith(prefix)", arg=prefix)
    page.wait_for_timeout(800)  # deck.gl draws on the next animation frames
    return page.locator(MARK).text_content()


def crumbs(page) -> list[str]:
    return [text.strip() for text in page.locator("#command-crumbs .crumb-name").all_inner_texts()]


def biggest_child(page):
    """The child row with the most incidents (so that the steps below have some)."""
    buttons = page.locator(".child-button")
    values = [int(v.replace(",", "")) for v in page.locator(".child-button .child-value").all_inner_texts()]
    return buttons.nth(values.index(max(values)))


def mercator(lon: float, lat: float) -> tuple[float, float]:
    """deck.gl world pixels at zoom 0 (y down)."""
    x = WORLD_PX * (lon + 180) / 360
    y = WORLD_PX * (math.pi - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))) / (2 * math.pi)
    return x, y


def project(bounds, width: float, height: float, lon: float, lat: float) -> tuple[float, float]:
    """Screen position of (lon, lat) after deckgl-dash's fitBounds(bounds, padding) in a width × height map."""
    (west, south), (east, north) = bounds
    (x0, y0), (x1, y1) = mercator(west, north), mercator(east, south)
    zoom = math.log2(min((width - 2 * FIT_PADDING) / abs(x1 - x0), (height - 2 * FIT_PADDING) / abs(y1 - y0)))
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    x, y = mercator(lon, lat)
    return width / 2 + (x - centre_x) * 2 ** zoom, height / 2 + (y - centre_y) * 2 ** zoom


def district_click_target(page, engine):
    """(code, page x, page y) of a district's inner point, clear of the legend."""
    import shapely
    from sqlalchemy import select

    from queries.schema import Area

    box = page.locator("#command-map").bounding_box()
    legend = page.locator("#command-legend").bounding_box()
    with engine.connect() as conn:
        city = conn.execute(select(Area.minx, Area.miny, Area.maxx, Area.maxy).where(Area.level == "city")).one()
        districts = conn.execute(select(Area.code, Area.geom).where(Area.level == "district").order_by(Area.code)).all()
    bounds = [[city.minx, city.miny], [city.maxx, city.maxy]]
    for code, geometry in districts:
        inner = shapely.Polygon(geometry.geoms[0].exterior).buffer(-0.01) if geometry.geom_type == "MultiPolygon" else geometry.buffer(-0.01)
        point = (inner if not inner.is_empty else geometry).representative_point()
        x, y = project(bounds, box["width"], box["height"], point.x, point.y)
        page_x, page_y = box["x"] + x, box["y"] + y
        in_legend = legend and legend["x"] <= page_x <= legend["x"] + legend["width"] and legend["y"] <= page_y <= legend["y"] + legend["height"]
        if 20 < x < box["width"] - 20 and 50 < y < box["height"] - 20 and not in_legend:
            return code, page_x, page_y
    raise AssertionError("no district lies clear of the legend")


def test_drill_from_city_to_incident_share_play_back(page, demo_server, artifacts_dir):
    base_url, engine = demo_server
    page.goto(f"{base_url}/command")
    page.locator("#command-map canvas").wait_for()
    city_mark = wait_for_step(page, "")
    city_code = city_mark.split("|")[0]
    assert crumbs(page) == ["连云港市"]
    assert page.locator(".kpi").count() == 4
    assert page.locator(".child-button").count() >= 2
    assert page.locator("#command-kpis").inner_text().count("数据时间") >= 2
    page.screenshot(path=str(artifacts_dir / "command-1-city.png"))

    # A real click on the canvas, at the projected position of a district, drives the drill.
    district, x, y = district_click_target(page, engine)
    # deck.gl picks from the pointer's last position: move there first, then press and release.
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.down()
    page.wait_for_timeout(80)
    page.mouse.up()
    wait_for_step(page, district + "|")
    assert len(crumbs(page)) == 2 and f"area={district}" in page.url
    assert page.locator(".child-button").count() >= 1
    page.screenshot(path=str(artifacts_dir / "command-2-district.png"))

    for level_digits, shot in ((9, "command-3-street.png"), (12, "command-4-community.png"), (15, "command-5-grid.png")):
        target = biggest_child(page)
        code = target.get_attribute("data-code")
        assert len(code) == level_digits
        target.click()
        wait_for_step(page, code + "|")
        assert len(crumbs(page)) == {9: 3, 12: 4, 15: 5}[level_digits]
        page.screenshot(path=str(artifacts_dir / shot))
    grid_url = page.url
    grid_code = code

    # The grid lists its incidents and its work orders; pick the first incident.
    page.locator("#command-incidents .incident-button").first.wait_for()
    assert page.locator("#command-workorders").count() == 1
    incident = page.locator("#command-incidents .incident-button").first
    incident_id = incident.get_attribute("data-incident-id")
    incident.click()
    wait_for_step(page, f"{grid_code}|{incident_id}|")
    page.locator("#command-timeline .timeline-item").first.wait_for()
    phone = page.locator('[data-field="phone"]').inner_text()
    assert "****" in phone or phone == "—"
    assert page.locator("#command-resources tbody tr").count() >= 1
    page.screenshot(path=str(artifacts_dir / "command-6-incident.png"))
    incident_url = page.url
    heading = page.locator("#command-incident-heading").inner_text()

    # Playback from the start of the window, then pause.
    page.locator("#command-play").click()
    page.wait_for_function("() => document.querySelector('#command-cursor').textContent.includes('回放至')")
    page.wait_for_function("() => /\\|([2-9]|1[0-9])$/.test(document.querySelector('#command-render-mark').textContent)")
    page.screenshot(path=str(artifacts_dir / "command-7-playback.png"))
    page.locator("#command-play").click()
    page.wait_for_function("() => document.querySelector('#command-play').getAttribute('data-playing') === 'false'")

    # Back: the grid without the incident, then the community.
    page.go_back()
    wait_for_step(page, f"{grid_code}|-|")
    assert page.url == grid_url and len(crumbs(page)) == 5
    page.go_back()
    wait_for_step(page, grid_code[:12] + "|")
    assert len(crumbs(page)) == 4

    # The shared link reopens the same view in a fresh page.
    other = page.context.new_page()
    other.on("console", lambda message: page.problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
    other.goto(incident_url)
    other.locator("#command-incident-heading").wait_for()
    assert other.locator(MARK).text_content().startswith(f"{grid_code}|{incident_id}|")
    assert other.locator("#command-incident-heading").inner_text() == heading
    assert [t.strip() for t in other.locator("#command-crumbs .crumb-name").all_inner_texts()][:5] == crumbs_of_grid(page, grid_url)
    other.close()

    assert city_code
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, base_url)


def crumbs_of_grid(page, grid_url):
    page.goto(grid_url)
    wait_for_step(page, "")
    return crumbs(page)


def test_bad_link_shows_a_message_in_english(page, demo_server, artifacts_dir):
    base_url, _ = demo_server
    page.goto(f"{base_url}/command?area=999999999&layers=nope&t=soon&lang=en")
    page.locator(".command-problems").wait_for()
    text = page.locator(".command-problems").inner_text()
    assert "There is no area with code" in text and "Unknown layer" in text
    assert crumbs(page) == ["Lianyungang"]
    page.locator("#command-map canvas").wait_for()
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts_dir / "command-bad-link-en.png"))
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, base_url)


# --- live: a new incident reaches an open console (keep last: it writes into the module's database) ---


def test_a_new_incident_reaches_an_open_console_without_reload(page, demo_server, artifacts_dir):
    """An incident written through the ingest path ``cityops simulate`` uses, while /command shows
    its unit grid: it is listed, counted and sent to the map (its position in the incidents
    layer's binary data) by the live push, without a reload. One written in another district
    just before costs the console no request (the page's live gate)."""
    import json

    import pandas as pd
    import shapely
    from sqlalchemy import func, select

    from layers.base import decode_binary_block
    from queries.ingest import ingest_records
    from queries.schema import Area, Incident

    base_url, engine = demo_server
    with engine.connect() as conn:  # the grid with the most incidents, and a point inside it
        grid = conn.execute(select(Incident.grid_code).where(Incident.grid_code.is_not(None)).group_by(Incident.grid_code)
                            .order_by(func.count().desc()).limit(1)).scalar()
        shape = conn.execute(select(Area.geom).where(Area.code == grid)).scalar()
        elsewhere = conn.execute(select(Area.geom).where(Area.level == "district", Area.code != grid[:6]).limit(1)).scalar()
    inside = shapely.get_coordinates(shape.representative_point())[0]
    outside = shapely.get_coordinates(elsewhere.representative_point())[0]
    maps: list[dict] = []
    live_renders: list[str] = []  # the incident each live render of the console was asked for

    def keep_live_renders(request):
        if "/_dash-update-component" in request.url and request.method == "POST":
            body = json.loads(request.post_data or "{}")
            if "command-live.data" in body.get("changedPropIds", []):
                live = next((item["value"] for item in body.get("inputs", []) if isinstance(item, dict) and item.get("id") == "command-live"), None) or {}
                live_renders.append(((live.get("last") or {}).get("payload") or {}).get("incident_id"))

    page.on("request", keep_live_renders)

    def keep_map_updates(response):
        if "/_dash-update-component" in response.url and response.ok:
            try:
                maps.append(json.loads(response.body()).get("response", {}).get("command-map") or {})
            except Exception:  # noqa: BLE001 - a body cut by the page closing
                pass

    page.on("response", keep_map_updates)
    page.goto(f"{base_url}/command?area={grid}")
    wait_for_step(page, grid + "|")
    page.wait_for_selector("html[data-live-state='live']", timeout=30_000)
    page.evaluate("window.__sameDocument = true")
    before = int(page.locator('[data-kpi="incidents"] .kpi-value').inner_text().replace(",", ""))
    page.wait_for_timeout(1000)  # the change-log watcher takes its starting position

    def write(incident_id: str, point) -> None:
        frame = pd.DataFrame([{"id": incident_id, "category": "事故灾难", "subtype": "火灾", "severity": "Ⅱ级", "title": "直播测试 指挥台",
                               "reported_at": pd.Timestamp.now(tz="UTC"), "lon": float(point[0]), "lat": float(point[1])}])
        assert ingest_records(engine, "incidents", frame, "live-test").rows_written == 1

    write("LIVE-CMD-0", outside)
    page.wait_for_timeout(2500)  # pushed to the page well before the next one
    write("LIVE-CMD-1", inside)

    item = page.locator("#command-incidents [data-incident-id='LIVE-CMD-1']")
    item.wait_for(timeout=30_000)
    assert "直播测试" in item.inner_text()
    page.wait_for_function("n => Number(document.querySelector('[data-kpi=\"incidents\"] .kpi-value').textContent.replace(/,/g, '')) > n", arg=before)
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"

    # The map got the point: the accident layer's binary positions (float32) hold it.
    blocks = [update["layerData"]["incidents-points-accident"] for update in maps
              if isinstance(update.get("layerData"), dict) and "incidents-points-accident" in update["layerData"]]
    assert blocks, "no live update of the incidents layer reached the map"
    positions = decode_binary_block(blocks[-1])["getPosition"].astype("float64")
    assert any(abs(x - inside[0]) < 1e-4 and abs(y - inside[1]) < 1e-4 for x, y in positions)
    assert live_renders and set(live_renders) == {"LIVE-CMD-1"}, live_renders
    page.screenshot(path=str(artifacts_dir / "command-live.png"))
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, base_url)
