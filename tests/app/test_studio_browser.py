"""The studio in Debian's chromium, with a wall open beside it (one browser, two pages):

* open a wall by a link to one of its panels (the catalogue's), the panel selected and focused; the
  address bar then follows the selection without a reload;
* build a new scene with three panels through the forms (an indicator picked by its pinyin
  initials, a panel's type changed), see them in the live preview, publish, and see the scene
  appear on the already open /wall page without a reload;
* an invalid edit (a negative PM2.5 threshold) shows its error next to the field, and publishing
  then writes nothing and changes nothing on the wall;
* the diff of the published version against the one before it; rolling back: the wall returns to
  the previous layout, still without a reload.

No console error and no request to another host on either page.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from queries.db import make_engine
from queries.schema import SpecVersion
from queries.specs.store import publish, save_version
from tests.app.conftest import assert_only_own_host, open_watched_page
from tests.app.test_wall import write_specs
from tests.app.test_wall_browser import COUNT_LIVE_EVENTS, FIRST_REFRESH, add_panel_content

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 120_000
LAB_WALL = """\
kind: wall
spec_version: 1
id: lab
title: {zh: 试验大屏, en: Lab wall}
canvas: {width: 1920, height: 1080}
grid: {columns: 4, rows: 3, gap: 12}
scenes:
  - id: first
    title: {zh: 第一屏, en: First}
    dwell: 3600
    panels:
      - {id: severity, type: incident_severity, at: {col: 1, row: 1, col_span: 4, row_span: 2}}
      - {id: freshness, type: freshness, at: {col: 1, row: 3, col_span: 4}}
"""


def versions(url: str) -> list[int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(SpecVersion.version).where(SpecVersion.kind == "wall", SpecVersion.spec_id == "lab")
                                    .order_by(SpecVersion.version)))
    finally:
        engine.dispose()


@pytest.fixture
def lab_server(request, monkeypatch, tmp_path, seeded_sqlite_url):
    """The live server with the lab wall shipped and its shipped body published as version 1."""
    import yaml

    monkeypatch.setenv("CITYOPS_SPECS_DIR", str(write_specs(tmp_path / "specs", LAB_WALL)))
    add_panel_content(seeded_sqlite_url)
    engine = make_engine(seeded_sqlite_url)
    with engine.begin() as conn:
        save_version(conn, yaml.safe_load(LAB_WALL), author="test-analyst", comment="shipped")
        publish(conn, "wall", "lab", 1, by="test-analyst")
    engine.dispose()
    return request.getfixturevalue("live_server")


def choose(page, field: str, label: str) -> None:
    """Click the option of a radio list by its visible label."""
    page.locator(f"#studio-f-{field} label").filter(has_text=label).first.click()


def test_build_preview_publish_and_roll_back_a_scene(chromium_browser, lab_server, seeded_sqlite_url, artifacts_dir):
    context, wall = open_watched_page(chromium_browser, viewport={"width": 1280, "height": 720}, timeout_ms=TIMEOUT_MS,
                                      ignore_failed_urls=("/api/v1/events",), role="analyst")
    try:
        wall.add_init_script(f"({COUNT_LIVE_EVENTS})()")
        wall.goto(f"{lab_server}/wall/lab")
        wall.wait_for_function(FIRST_REFRESH)
        wall.evaluate("window.__wallMarker = 'still here'")
        assert wall.locator(".wall-scene").count() == 1

        studio = context.new_page()
        studio.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        requested: list[str] = []
        studio.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        studio.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        studio.on("request", lambda r: requested.append(r.url))
        studio.on("dialog", lambda dialog: dialog.accept())
        # A link to a panel (as the catalogue gives): the wall opens with that panel selected, in view.
        studio.goto(f"{lab_server}/studio?wall=lab&scene=first&panel=freshness&lang=zh")
        studio.locator('#studio-panels [data-panel="freshness"].is-active').wait_for()
        studio.locator("#studio-panel-form.is-freshness").wait_for()
        studio.wait_for_function("() => document.activeElement && document.activeElement.dataset.panel === 'freshness'")
        studio.evaluate("window.__studioMarker = 'still here'")
        studio.locator('[data-spec="wall/lab"]').click()
        studio.locator("#studio-state").filter(has_text="线上 v1").wait_for()
        studio.locator("#studio-canvas").wait_for()
        studio.wait_for_function("() => location.search === '?wall=lab&scene=first&lang=zh'")  # the list item opens the first scene

        # A new scene: it starts with one panel (today's incidents by level).
        studio.locator("#studio-add-scene").click()
        studio.locator('#studio-scenes [data-scene="scene-2"].is-active').wait_for()
        studio.wait_for_function("() => location.search === '?wall=lab&scene=scene-2&lang=zh'")  # the address follows, unsaved or not
        studio.locator("#studio-f-s-title-zh").fill("新场景")
        studio.locator("#studio-f-s-title-zh").press("Enter")

        # Second panel: a KPI of PM2.5, found by the pinyin initials of 空气 (kq) … then "pm2.5".
        studio.locator("#studio-add-panel").click()
        studio.locator("#studio-panel-form.is-kpi").wait_for()
        studio.locator("#studio-e-p-indicator").filter(has_text="unknown indicator").wait_for()  # no indicator yet: said in place
        studio.locator("#studio-f-p-ind-q").fill("kq")
        studio.locator("#studio-f-p-indicator label").filter(has_text="空气质量指数").wait_for()
        studio.locator("#studio-f-p-ind-q").fill("pm2.5")
        choose(studio, "p-indicator", "PM2.5浓度")
        studio.wait_for_function("() => document.getElementById('studio-e-p-indicator').textContent === ''")

        # An invalid edit: a negative concentration. The error shows next to the field; publishing writes nothing.
        studio.locator("#studio-f-p-warn").fill("-5")
        studio.locator("#studio-f-p-warn").press("Enter")
        studio.locator("#studio-e-p-warn").filter(has_text="negative value makes no sense for μg/m³").wait_for()
        studio.locator(".studio-problems-box").filter(has_text="面板 kpi").wait_for()
        studio.locator("#studio-publish").click()
        studio.locator("#studio-status").filter(has_text="未保存").wait_for()
        studio.screenshot(path=str(artifacts_dir / "studio-invalid.png"))
        assert versions(seeded_sqlite_url) == [1]
        studio.locator("#studio-f-p-warn").fill("60")
        studio.locator("#studio-f-p-warn").press("Enter")
        studio.wait_for_function("() => document.getElementById('studio-e-p-warn').textContent === ''")

        # Third panel: added as a KPI, turned into the incident ticker.
        studio.locator("#studio-add-panel").click()
        studio.locator('#studio-panels [data-panel="kpi-2"].is-active').wait_for()
        studio.wait_for_function("() => location.search === '?wall=lab&scene=scene-2&panel=kpi-2&lang=zh'")
        assert studio.get_attribute("#shell-lang-en", "href").endswith("?wall=lab&scene=scene-2&panel=kpi-2&lang=en")
        assert studio.evaluate("window.__studioMarker") == "still here", "the studio was reloaded"
        choose(studio, "p-type", "最新事件")
        studio.locator("#studio-panel-form.is-ticker").wait_for()
        studio.locator(".studio-ok").wait_for()  # no problem left anywhere

        # The preview: the scene's three panels drawn with real data at the canvas size, scaled.
        preview = studio.locator("#studio-canvas")
        preview.locator('[data-panel="kpi"] .wall-kpi-number').filter(has_text="118").wait_for()
        preview.locator('[data-panel="kpi-2"] .wall-ticker-row').first.wait_for()
        preview.locator('[data-panel="incident-severity"] .wall-sev-tile').first.wait_for()
        assert preview.locator(".wall-panel").count() == 3
        assert preview.get_attribute("data-canvas") == "1920x1080"
        box = studio.locator(".studio-preview-frame").bounding_box()
        assert abs(box["width"] - 880) <= 2 and abs(box["height"] - 1080 * 880 / 1920) <= 2
        studio.screenshot(path=str(artifacts_dir / "studio-preview.png"))

        # Publish: the open wall lays itself out again with the new scene, without a reload.
        studio.locator("#studio-comment").fill("新场景：三块面板")
        studio.locator("#studio-publish").click()
        studio.locator("#studio-status").filter(has_text="v2 已发布").wait_for()
        assert versions(seeded_sqlite_url) == [1, 2]
        wall.wait_for_function("() => document.querySelectorAll('#wall-scene-scene-2 .wall-panel').length === 3")
        assert wall.evaluate("window.__wallMarker") == "still here", "the wall was reloaded"
        assert wall.locator(".wall-scene").count() == 2

        # History: v2 by the analyst, with its note; its diff against v1 shows the new scene, coloured.
        row = studio.locator('#studio-history tr[data-version="2"]')
        row.filter(has_text="test-analyst").filter(has_text="新场景：三块面板").wait_for()
        row.locator("button").filter(has_text="与上一版比较").click()
        added = studio.locator("#studio-diff .studio-diff-line.is-add")
        added.filter(has_text="id: scene-2").wait_for()
        assert studio.locator("#studio-diff .studio-diff-line.is-del").count() == 0
        studio.screenshot(path=str(artifacts_dir / "studio-history.png"))

        # Roll back to v1: v2 was live, so the rollback (v3) is published and the wall loses the scene.
        studio.locator('#studio-history tr[data-version="1"] button').filter(has_text="回滚到此版本").click()
        studio.locator("#studio-status").filter(has_text="新版本 v3 已发布").wait_for()
        wall.wait_for_function("() => document.querySelectorAll('.wall-scene').length === 1 && !document.getElementById('wall-scene-scene-2')")
        assert wall.evaluate("window.__wallMarker") == "still here", "the wall was reloaded"
        assert versions(seeded_sqlite_url) == [1, 2, 3]
        studio.locator('#studio-scenes [data-scene="scene-2"]').wait_for(state="detached")
        wall.screenshot(path=str(artifacts_dir / "studio-wall-rolled-back.png"))

        assert not problems, problems
        assert not wall.problems, wall.problems
        assert_only_own_host(requested, lab_server)
        assert_only_own_host(wall.requested, lab_server)
    finally:
        context.close()
