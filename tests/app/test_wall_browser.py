"""The video wall in Debian's chromium on the seeded small platform (plus a few indicator values
and incidents so that panels have text to fit): the layout at 4K, 8K and a 3×1 row of 1080p
screens, the carousel's cross-fade, the device-pixel-ratio cap of the map canvases, emergency
mode and its acknowledgement, a live incident in the ticker, and an unknown wall — always with no
console error and no request to another host.

Fit rule (``FIT_CHECK``): inside every panel of the shown scene,

* an element that clips (``overflow`` not visible: panels, bodies, lists, rows, cells) must have
  no hidden content: ``scrollWidth <= clientWidth + 1`` and ``scrollHeight <= clientHeight +
  font-size / 4``. The vertical slack is the font's own ascent and descent: Noto Sans CJK's
  content area is ≈1.45 em and wall lines are 1.05–1.3 em, so a single line "overflows" its line
  box by a few pixels at 8K although no ink is cut; a hidden row or line is at least a line high;
* an element holding text directly must not be wider than its own box (its text would spill
  over its neighbours or be cut by an ancestor). Not taller: a tight line-height (the big
  numbers are set at 1.05) makes the font's content area exceed the line box by design, and text
  that really runs out of its panel is caught by the panel body, which clips;
* the one exception is deliberate single-line truncation — ``text-overflow: ellipsis`` with
  ``overflow-x`` clipping and ``white-space: nowrap`` — which may overflow horizontally because
  the reader sees the "…" (long incident titles, area names). Never vertically: nothing shows
  that lines were cut off. Numbers are never set to ellipsis in wall.css, so a value that does not
  fit is always an error.

Graphics are boxes, not text: the inside of a map (deck.gl) and of a plotly chart is skipped,
their containers are checked like any element.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import insert

from queries.db import make_engine
from queries.demo.catalogue import INDICATORS
from queries.schema import Incident, Indicator, IndicatorValue
from queries.writes import ensure_dataset, record_change
from tests.app.conftest import assert_only_own_host, open_watched_page
from tests.app.test_wall import write_specs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = [(3840, 2160), (7680, 2160), (5760, 1080)]
SMALL = {"width": 1920, "height": 540}  # the default wall's 32:9 canvas at half size
# Software GL (swiftshader) draws an 8K page in seconds per frame, and the CI box is shared:
# generous bounds on waits for conditions, never a limit on how long the wall may take.
TIMEOUT_MS = 180_000
INCIDENTS_DATASET = "emergency.incidents"
LONG_TITLE = "海州区新浦街道朝阳东路与解放中路交叉口东南侧人行道井盖缺失并伴有积水，需立即设置围挡并安排维修人员到场处置"

FIRST_REFRESH = """() => {
  const scene = document.querySelector('.wall-scene.is-active');
  if (!scene) { return false; }
  const panels = [...scene.querySelectorAll('.wall-panel')];
  return panels.length > 0 && panels.every(p => p.querySelector('.wall-meta').childElementCount > 0);
}"""

MAPS_SIZED = """() => [...document.querySelectorAll('.wall-scene.is-active .wall-map')].every(body => {
  const canvas = body.querySelector('canvas');
  return canvas && Math.abs(canvas.clientWidth - body.clientWidth) <= 1 && Math.abs(canvas.clientHeight - body.clientHeight) <= 1;
})"""

FIT_CHECK = """() => {
  const problems = [];
  const scene = document.querySelector('.wall-scene.is-active');
  const name = el => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  for (const panel of scene.querySelectorAll('.wall-panel')) {
    const key = panel.dataset.panel;
    for (const el of [panel, ...panel.querySelectorAll('*')]) {
      const graphic = el.closest('.wall-map, .wall-trend-graph');
      if (graphic && graphic !== el) { continue; }
      if (!el.getClientRects().length) { continue; }  // not rendered (display: none)
      const cs = getComputedStyle(el);
      const clips = cs.overflowX !== 'visible' || cs.overflowY !== 'visible';
      const text = [...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      if (!clips && !text) { continue; }
      if (el.clientWidth === 0 && el.clientHeight === 0) { continue; }  // inline: its container is checked
      const truncates = cs.textOverflow === 'ellipsis' && cs.overflowX !== 'visible' && cs.whiteSpace.startsWith('nowrap');
      const label = `${key}: ${name(el)} "${(el.textContent || '').trim().slice(0, 40)}"`;
      if (el.scrollWidth > el.clientWidth + 1 && !truncates) {
        problems.push(`${label} is ${el.scrollWidth}px wide in ${el.clientWidth}px`);
      }
      const slack = Math.max(1, 0.25 * parseFloat(cs.fontSize));  // the font's ascent/descent past a tight line box
      if (clips && el.scrollHeight > el.clientHeight + slack) {
        problems.push(`${label} is ${el.scrollHeight}px high in ${el.clientHeight}px`);
      }
    }
  }
  return problems;
}"""

PLACEMENT_CHECK = """() => {
  const problems = [];
  const width = window.innerWidth, height = window.innerHeight;
  const bar = document.querySelector('.wall-bar').getBoundingClientRect();
  for (const panel of document.querySelectorAll('.wall-scene.is-active .wall-panel')) {
    const r = panel.getBoundingClientRect();
    const key = panel.dataset.panel;
    if (!panel.checkVisibility({opacityProperty: true, visibilityProperty: true})) { problems.push(`${key} is not visible`); }
    if (r.width < 20 || r.height < 20) { problems.push(`${key} is ${r.width}×${r.height}`); }
    if (r.left < -0.5 || r.top < -0.5 || r.right > width + 0.5 || r.bottom > height + 0.5) {
      problems.push(`${key} at ${r.left},${r.top}–${r.right},${r.bottom} leaves the ${width}×${height} screen`);
    }
    if (r.bottom > bar.top + 0.5) { problems.push(`${key} reaches under the bar (${r.bottom} > ${bar.top})`); }
  }
  const root = document.scrollingElement;
  if (root.scrollWidth !== width || root.scrollHeight !== height) {
    problems.push(`the page scrolls: ${root.scrollWidth}×${root.scrollHeight} in a ${width}×${height} window`);
  }
  return problems;
}"""

MAP_CANVASES = """() => [...document.querySelectorAll('.wall-scene.is-active .wall-map')].map(body => {
  const canvas = body.querySelector('canvas');
  return {panel: body.closest('.wall-panel').dataset.panel, bodyWidth: body.clientWidth, bodyHeight: body.clientHeight,
          cssWidth: canvas.clientWidth, cssHeight: canvas.clientHeight, width: canvas.width, height: canvas.height};
})"""


COUNT_LIVE_EVENTS = """() => {
  window.__liveEvents = 0;
  const original = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (type, listener, options) {
    const counted = function () { window.__liveEvents += 1; return listener.apply(this, arguments); };
    return original.call(this, type, counted, options);
  };
}"""


# --- data and servers ----------------------------------------------------------------------------


def add_panel_content(url: str) -> None:
    """Indicator values for the KPIs and the AQI trend of the default wall's overview and a few
    incidents, one with a very long title (the ticker must truncate it with an ellipsis)."""
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    engine = make_engine(url)
    with engine.begin() as conn:
        specs = {spec.code: spec for spec in INDICATORS}
        wanted = ["incidents_today", "hotline_volume", "congestion_index", "gov_online_rate", "pm2_5", "good_air_rate", "aqi"]
        for code in {specs[c].dataset_code for c in wanted}:
            ensure_dataset(conn, code, name=code, provider="市数据局", update_cycle="daily")
        conn.execute(insert(Indicator), [
            {"code": s.code, "name_zh": s.name_zh, "name_en": s.name_en, "unit": s.unit, "domain": s.domain, "good_direction": s.good_direction,
             "warn_threshold": s.warn, "alarm_threshold": s.alarm, "dataset_code": s.dataset_code, "aggregation": s.aggregation}
            for s in (specs[c] for c in wanted)
        ])
        values = {"incidents_today": (1234, 1100, 1500), "hotline_volume": (98765, 90000, 99000), "congestion_index": (6.42, 5.1, 7.0),
                  "gov_online_rate": (99.95, 99.1, 98.7), "pm2_5": (118.4, 60.0, 90.0), "good_air_rate": (72.3, 80.0, 75.0)}
        conn.execute(insert(IndicatorValue), [
            {"indicator_code": code, "area_code": "320700", "ts": now - ago, "value": value}
            for code, triple in values.items() for value, ago in zip(triple, (dt.timedelta(0), dt.timedelta(days=1), dt.timedelta(days=7)))
        ])
        conn.execute(insert(IndicatorValue), [  # a day of hourly AQI for the trend chart, past its warn line at noon
            {"indicator_code": "aqi", "area_code": "320700", "ts": now - dt.timedelta(hours=h), "value": 60.0 + 50.0 * (h % 12 == 0) + h}
            for h in range(24)
        ])
        for spec_code in {specs[c].dataset_code for c in wanted}:
            record_change(conn, spec_code, "ingest", 1, tables=["indicators", "indicator_values"], at=now)
    engine.dispose()
    for n, (severity, title, minutes) in enumerate([(4, LONG_TITLE, 3), (3, "港口作业区集装箱倒塌", 9), (4, "路灯故障", 15), (4, "占道经营", 30)]):
        add_incident(url, f"SEED{n}", severity, title, minutes_ago=minutes, status="dispatched")


def add_incident(url: str, incident_id: str, severity: int, title: str, *, minutes_ago: float = 0, status: str = "reported") -> None:
    """An incident in 海州区 written the way a feed writes it: the row, then the change log."""
    now = dt.datetime.now(dt.timezone.utc)
    engine = make_engine(url)
    with engine.begin() as conn:
        ensure_dataset(conn, INCIDENTS_DATASET, name="突发事件信息", name_en="Emergency incidents", provider="市应急管理局",
                       provider_en="Emergency Management Bureau", update_cycle="realtime")
        conn.execute(insert(Incident), [{
            "id": incident_id, "category": "accident", "subtype": "fire", "severity": severity, "status": status, "channel": "119",
            "title": title, "lon": 119.2215, "lat": 34.5967, "reported_at": now - dt.timedelta(minutes=minutes_ago), "updated_at": now,
            "district_code": "320706", "street_code": None, "community_code": None, "grid_code": None,
        }])
        record_change(conn, INCIDENTS_DATASET, "ingest", 1, tables=["incidents"], at=now, detail={"incidents_new": [incident_id]})
    engine.dispose()


def bump_data_version(url: str) -> None:
    """A change-log entry of a dataset no panel shows: a ``data_version`` live event."""
    engine = make_engine(url)
    with engine.begin() as conn:
        ensure_dataset(conn, "test.ping", name="测试", provider="测试", update_cycle="realtime")
        record_change(conn, "test.ping", "feed", 0, tables=["meta"])
    engine.dispose()


def wait_until_events_flow(page, url: str) -> None:
    """Until the page has received a live event (needs COUNT_LIVE_EVENTS installed).

    The server's change-log watcher starts with the first stream and takes its starting point at
    its first poll, half a second later: a change committed before that is never pushed (the
    page still shows it at the panel's next interval). Writing a change until one arrives
    makes sure the next write is pushed.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_function("() => document.documentElement.dataset.liveState === 'live'")
    for _ in range(30):
        bump_data_version(url)
        try:
            page.wait_for_function("() => window.__liveEvents > 0", timeout=3000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("no live event reached the page")


@pytest.fixture
def wall_page(chromium_browser):
    """Opens watched pages; closes their contexts after the test."""
    contexts = []

    def open_page(viewport=SMALL, **options):
        # The live stream is cut when a page closes: not a problem of the page.
        context, page = open_watched_page(chromium_browser, viewport=viewport, timeout_ms=TIMEOUT_MS, ignore_failed_urls=("/api/v1/events",), **options)
        contexts.append(context)
        return page

    yield open_page
    for context in contexts:
        context.close()


CAROUSEL_WALL = """\
kind: wall
spec_version: 1
id: carousel
title: {zh: 轮播测试, en: Carousel test}
canvas: {width: 1920, height: 1080}
grid: {columns: 4, rows: 2, gap: 12}
scenes:
  - id: first
    title: {zh: 第一屏, en: First}
    dwell: 5
    panels:
      - {id: severity, type: incident_severity, at: {col: 1, row: 1, col_span: 4}}
      - {id: freshness, type: freshness, at: {col: 1, row: 2, col_span: 4}}
  - id: second
    title: {zh: 第二屏, en: Second}
    dwell: 5
    panels:
      - {id: ticker, type: ticker, at: {col: 1, row: 1, col_span: 4, row_span: 2}}
"""


@pytest.fixture
def carousel_server(request, monkeypatch, tmp_path):
    """The live server with a specs folder of its own: ``make_settings`` pins only the fields it
    names, so ``specs_dir`` comes from CITYOPS_SPECS_DIR like in production."""
    monkeypatch.setenv("CITYOPS_SPECS_DIR", str(write_specs(tmp_path / "specs", CAROUSEL_WALL)))
    return request.getfixturevalue("live_server")


# Two scenes that each read the incidents several ways (a map with its layers, a ticker, the
# severity counts): a live incident makes a refresh that takes longer than the feed's interval.
BUSY_WALL = """\
kind: wall
spec_version: 1
id: busy
title: {zh: 繁忙测试, en: Busy feed test}
canvas: {width: 1920, height: 1080}
grid: {columns: 4, rows: 2, gap: 12}
scenes:
  - id: first
    title: {zh: 第一屏, en: First}
    dwell: 5
    panels:
      - {id: map, type: map, layers: [basemap, boundaries, traffic, incident_heatmap, incidents], at: {col: 1, row: 1, col_span: 3, row_span: 2}}
      - {id: severity, type: incident_severity, at: {col: 4, row: 1}}
      - {id: ranking, type: ranking, source: incidents, window: 24h, at: {col: 4, row: 2}}
  - id: second
    title: {zh: 第二屏, en: Second}
    dwell: 5
    panels:
      - {id: map, type: map, layers: [basemap, boundaries, traffic, incident_heatmap, incidents], at: {col: 1, row: 1, col_span: 3, row_span: 2}}
      - {id: ticker, type: ticker, at: {col: 4, row: 1, row_span: 2}}
"""


@pytest.fixture
def busy_server(request, monkeypatch, tmp_path):
    monkeypatch.setenv("CITYOPS_SPECS_DIR", str(write_specs(tmp_path / "specs", BUSY_WALL)))
    return request.getfixturevalue("live_server")


def open_wall(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(FIRST_REFRESH)
    page.wait_for_function(MAPS_SIZED)
    page.evaluate("window.__wallMarker = 'still here'")


def active_scene(page) -> str:
    return page.evaluate("[...document.querySelectorAll('.wall-scene.is-active')].map(s => s.dataset.scene).join(',')")


# --- layout at wall sizes ------------------------------------------------------------------------


@pytest.mark.parametrize("width, height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_shown_scene_fits_the_screen(wall_page, live_server, seeded_sqlite_url, artifacts_dir, width, height):
    add_panel_content(seeded_sqlite_url)
    page = wall_page({"width": width, "height": height})
    open_wall(page, f"{live_server}/wall")
    assert active_scene(page) == "overview"
    page.locator('[data-panel="overview/ticker"] .wall-ticker-row').first.wait_for()
    page.locator('[data-panel="overview/incidents-today"] .wall-kpi-number').filter(has_text="1,234").wait_for()
    page.locator('[data-panel="overview/aqi-trend"] .wall-trend').wait_for()

    misplaced = page.evaluate(PLACEMENT_CHECK)
    assert not misplaced, "\n".join(misplaced)
    overflowing = page.evaluate(FIT_CHECK)
    assert not overflowing, "\n".join(overflowing)
    # The long title is cut with an ellipsis inside its row, not wrapped or spilled.
    title = page.locator('[data-panel="overview/ticker"] .wall-ticker-title').filter(has_text=LONG_TITLE[:10])
    assert title.evaluate("el => getComputedStyle(el).textOverflow") == "ellipsis"

    maps = page.evaluate(MAP_CANVASES)
    assert maps, "the overview has a map"
    for canvas in maps:  # deckgl-dash's default height is 400 px: the canvas must fill its panel instead
        assert abs(canvas["cssWidth"] - canvas["bodyWidth"]) <= 1 and abs(canvas["cssHeight"] - canvas["bodyHeight"]) <= 1, canvas
        assert abs(canvas["width"] - canvas["cssWidth"]) <= 1 and abs(canvas["height"] - canvas["cssHeight"]) <= 1, canvas

    page.screenshot(path=str(artifacts_dir / f"wall-{width}x{height}.png"))
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, live_server)


# --- carousel ------------------------------------------------------------------------------------

FRAME_RECORDER = """() => {
  window.__frames = [];
  const record = () => {
    const scenes = [...document.querySelectorAll('.wall-scene')];
    window.__frames.push({
      t: performance.now(),
      active: scenes.filter(s => s.classList.contains('is-active')).map(s => s.dataset.scene),
      opacity: Object.fromEntries(scenes.map(s => [s.dataset.scene, parseFloat(getComputedStyle(s).opacity)])),
      visibility: Object.fromEntries(scenes.map(s => [s.dataset.scene, getComputedStyle(s).visibility])),
    });
    if (window.__frames.length < 100000) { requestAnimationFrame(record); }
  };
  requestAnimationFrame(record);
}"""

SETTLED_ON = """scene => {
  const frames = window.__frames || [];
  const first = frames.findIndex(f => f.active.length === 1 && f.active[0] === scene);
  return first >= 0 && frames[frames.length - 1].t - frames[first].t > 1500;
}"""


def test_the_carousel_cross_fades_without_reloading(wall_page, carousel_server, artifacts_dir):
    page = wall_page()
    open_wall(page, f"{carousel_server}/wall/carousel")
    assert active_scene(page) == "first"
    page.evaluate(FRAME_RECORDER)

    page.wait_for_function(SETTLED_ON, arg="second")
    frames = page.evaluate("window.__frames")
    page.screenshot(path=str(artifacts_dir / "wall-carousel-second.png"))
    assert page.evaluate("window.__wallMarker") == "still here", "the page was reloaded"
    assert page.locator("#wall-scene-title").inner_text() == "第二屏"

    assert all(len(frame["active"]) == 1 for frame in frames), "exactly one scene is active at any time"
    # Never a blank frame: the two opacities cross (both ease the same way, they sum to one).
    blank = [frame for frame in frames if max(frame["opacity"].values()) < 0.5]
    assert not blank, blank[:3]
    for frame in frames:
        for scene, opacity in frame["opacity"].items():
            assert opacity == 0 or frame["visibility"][scene] == "visible", frame
    fading = [frame for frame in frames if 0.05 < frame["opacity"]["first"] < 0.95 and 0.05 < frame["opacity"]["second"] < 0.95]
    assert fading, "no frame showed both scenes part-way: the switch was a cut, not a cross-fade"
    assert frames[-1]["opacity"] == {"first": 0.0, "second": 1.0} and frames[-1]["visibility"]["first"] == "hidden"

    # And on to the first scene again, still the same page.
    page.wait_for_function("() => document.querySelector('.wall-scene.is-active')?.dataset.scene === 'first'")
    assert page.evaluate("window.__wallMarker") == "still here"
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, carousel_server)


class Feed:
    """A feed writing one incident every ``every_s`` seconds in a thread (the change-log watcher
    pushes each as a live event), until stopped; ``written`` lists the ids."""

    def __init__(self, url: str, every_s: float = 0.5):
        import threading

        self.url, self.every_s = url, every_s
        self.written: list[str] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wall-test-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            incident_id = f"BUSY{len(self.written) + 1:04d}"
            try:
                add_incident(self.url, incident_id, 4, f"占道施工 {len(self.written) + 1}")
                self.written.append(incident_id)
            except Exception as exc:  # noqa: BLE001 - reported by stop()
                self.errors.append(exc)
                return
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self.errors, self.errors


def test_a_wall_opened_under_a_busy_feed_starts_its_carousel_and_keeps_up(wall_page, busy_server, seeded_sqlite_url, artifacts_dir):
    """Events every 0.5 s from before the page opens: the carousel still changes scene after its
    5 s dwell (it used to wait on a refresh that the events kept replacing), refreshes keep
    completing (new incidents reach the ticker), live events are coalesced into fewer
    refreshes, and Dash's undo history does not keep them all."""
    page = wall_page()
    page.add_init_script(f"({COUNT_LIVE_EVENTS})()")
    feed = Feed(seeded_sqlite_url, every_s=0.5)
    try:
        page.goto(f"{busy_server}/wall/busy")
        page.wait_for_function("() => document.documentElement.dataset.liveState === 'live'")
        page.wait_for_function("() => window.__liveEvents >= 5")  # the feed reaches the page
        page.evaluate(FRAME_RECORDER)
        # Each scene in turn, after its dwell, while the events keep coming (the first may have
        # turned already by the time five events arrived).
        for scene in ("second", "first", "second"):
            page.wait_for_function(SETTLED_ON, arg=scene)
            page.evaluate("window.__frames = []")
        page.screenshot(path=str(artifacts_dir / "wall-busy-feed-second.png"))
        # The ticker shows incidents written after it came round, as they come: refreshes finish.
        seen_before = len(feed.written)
        page.wait_for_function("n => [...document.querySelectorAll('[data-panel=\"second/ticker\"] [data-incident^=\"BUSY\"]')]"
                               ".some(el => parseInt(el.dataset.incident.slice(4), 10) > n)", arg=seen_before)
    finally:
        feed.stop()
    counts = page.evaluate("""() => ({events: window.__liveEvents, refreshes: window.cityopsWall.state.refreshes,
        live: window.cityopsWall.state.liveRefreshes,
        history: Math.max(...(window.dash_stores || []).map(s => s.getState().history.past.length))})""")
    assert counts["live"] < counts["events"], counts  # coalesced: fewer live-triggered refreshes than events
    page.wait_for_timeout(6000)  # one more beat trims the history (nothing is timed here)
    # Cut to one entry on every beat; the beat's own store change and a few late events follow it.
    # Untrimmed it held one entry per live event and store change since the page opened.
    history = page.evaluate("Math.max(...(window.dash_stores || []).map(s => s.getState().history.past.length))")
    assert counts["events"] >= 20 and history <= 5, f"Dash's undo history keeps {history} entries after {counts['events']} events"
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, busy_server)


# --- device pixel ratio --------------------------------------------------------------------------


def test_map_canvases_are_capped_to_the_walls_pixel_ratio(wall_page, live_server, artifacts_dir):
    page = wall_page(SMALL, device_scale_factor=2)
    open_wall(page, f"{live_server}/wall")
    assert page.evaluate("document.getElementById('wall-root').dataset.maxDpr") == "1.0"  # specs/walls/default.yaml
    assert page.evaluate("matchMedia('(resolution: 2dppx)').matches"), "the screen really is 2×"
    assert page.evaluate("window.devicePixelRatio") == 1
    maps = page.evaluate(MAP_CANVASES)
    assert maps
    for canvas in maps:
        assert abs(canvas["width"] - canvas["cssWidth"]) <= 1 and abs(canvas["height"] - canvas["cssHeight"]) <= 1, canvas
        assert abs(canvas["cssWidth"] - canvas["bodyWidth"]) <= 1, canvas
    page.screenshot(path=str(artifacts_dir / "wall-dpr2-capped.png"))
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, live_server)


# --- emergency mode ------------------------------------------------------------------------------


def test_a_severe_incident_switches_to_the_emergency_scene_until_acknowledged(wall_page, live_server, seeded_sqlite_url, artifacts_dir):
    page = wall_page()
    open_wall(page, f"{live_server}/wall")
    assert active_scene(page) == "overview"
    assert page.evaluate("document.getElementById('wall-root').classList.contains('is-emergency')") is False

    add_incident(seeded_sqlite_url, "FIRE-1", 1, "化工园区储罐起火")
    page.wait_for_function("() => document.getElementById('wall-root').classList.contains('is-emergency')")
    page.wait_for_function("() => document.querySelector('.wall-scene.is-active')?.dataset.scene === 'emergency'")
    page.locator('[data-panel="emergency/incident"] .wall-card-title').filter(has_text="化工园区储罐起火").wait_for()
    page.locator("#wall-alarm .wall-alarm-title").filter(has_text="化工园区储罐起火").wait_for()
    assert active_scene(page) == "emergency"
    assert page.locator("#wall-scene-title").inner_text() == "突发事件处置"  # specs/walls/default.yaml emergency.title
    page.wait_for_function(MAPS_SIZED)
    page.wait_for_function(FIRST_REFRESH)
    problems = page.evaluate(PLACEMENT_CHECK) + page.evaluate(FIT_CHECK)
    assert not problems, "\n".join(problems)
    page.screenshot(path=str(artifacts_dir / "wall-emergency.png"))

    response = page.request.post(f"{live_server}/api/v1/walls/default/acknowledge", data=json.dumps({}),
                                 headers={"Content-Type": "application/json", "Origin": live_server})
    assert response.ok, response.text()
    assert response.json()["acknowledged"]["incident_id"] == "FIRE-1"

    page.wait_for_function("() => !document.getElementById('wall-root').classList.contains('is-emergency')")
    page.wait_for_function("() => document.querySelector('.wall-scene.is-active')?.dataset.scene !== 'emergency'")
    assert active_scene(page) in {scene for scene in ("overview", "emergency-situation", "traffic", "environment", "public-services")}
    assert page.evaluate("window.__wallMarker") == "still here", "the page was reloaded"
    page.screenshot(path=str(artifacts_dir / "wall-emergency-acknowledged.png"))
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, live_server)


def test_a_live_incident_reaches_the_ticker_without_reload(wall_page, live_server, seeded_sqlite_url, artifacts_dir):
    page = wall_page()
    page.add_init_script(f"({COUNT_LIVE_EVENTS})()")
    open_wall(page, f"{live_server}/wall")
    wait_until_events_flow(page, seeded_sqlite_url)
    ticker = page.locator('[data-panel="overview/ticker"]')
    assert "井盖缺失" not in ticker.inner_text()

    add_incident(seeded_sqlite_url, "LIVE-1", 4, "井盖缺失")
    ticker.locator(".wall-ticker-row").filter(has_text="井盖缺失").wait_for()
    assert ticker.locator('.wall-ticker-row[data-incident="LIVE-1"]').count() == 1
    assert page.evaluate("window.__wallMarker") == "still here", "the page was reloaded"
    assert page.evaluate("document.getElementById('wall-root').classList.contains('is-emergency')") is False  # level IV
    page.screenshot(path=str(artifacts_dir / "wall-live-incident.png"))
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, live_server)


# --- unknown wall --------------------------------------------------------------------------------

def test_an_unknown_wall_shows_a_message_without_errors(wall_page, live_server, seeded_sqlite_url, artifacts_dir):
    page = wall_page()
    page.add_init_script(f"({COUNT_LIVE_EVENTS})()")
    page.goto(f"{live_server}/wall/nosuchwall")
    page.locator("#wall-unknown").filter(has_text="没有这块大屏").wait_for()
    assert "nosuchwall" in page.locator("#wall-unknown").inner_text()
    assert page.locator("#wall-root").count() == 0

    # A live event while the page is open: the wall's refresh callback has no inputs here and must stay quiet.
    wait_until_events_flow(page, seeded_sqlite_url)
    seen = page.evaluate("window.__liveEvents")
    add_incident(seeded_sqlite_url, "ELSEWHERE-1", 4, "路面塌陷")
    page.wait_for_function("seen => window.__liveEvents > seen", arg=seen)
    page.wait_for_timeout(1500)  # let the renderer act on the event (no wall-clock limit: nothing is timed)
    page.screenshot(path=str(artifacts_dir / "wall-unknown.png"))
    assert not page.problems, page.problems
    assert_only_own_host(page.requested, live_server)
