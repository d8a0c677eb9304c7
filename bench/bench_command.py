"""The command console at city scale: time from a click to the settled map, and bytes per drill step.

    .venv/bin/python bench/bench_command.py [--db PATH] [--repeat 2]

Builds the ``city`` demo (``cityops demo --scale city``, ≈1–2 min) into a SQLite file in the temp
folder on first use (or uses ``--db``), serves the app on a free port and drives Debian's chromium:
city → district (a click on the map canvas) → street → community → unit grid → incident → back to
the city (breadcrumb) → one playback step. A step is settled when the render callback's marker
(``#command-render-mark``) names the new step and the browser has drawn two more frames.
Bytes are the bodies of the step's Dash callback responses. The baseline is what embedding the
incident points in a deck spec costs (``pydeck.Deck(layers=[ScatterplotLayer(all_points)]).to_json()``),
for the last 24 h and for all incidents. Prints a table; asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking"]
DEFAULT_DB = Path(tempfile.gettempdir()) / "cityops-bench-command-city.db"
SETTLE_JS = "() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))"


def ensure_city_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    if not path.exists():
        print(f"building the city-scale demo into {path} …", flush=True)
        env = {**os.environ, "CITYOPS_DATABASE_URL": url, "CITYOPS_DATA_DIR": str(path.parent)}
        subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "cityops"), "demo", "--scale", "city"], check=True, env=env, cwd=REPO_ROOT)
    return url


def serve(url: str, data_dir: Path):
    import logging

    from werkzeug.serving import make_server

    from app.server import create_app
    from queries.settings import Settings
    from tests.app.conftest import free_port

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would bury the table
    dash_app = create_app(Settings(data_dir=data_dir, database_url=url, redis_url=None, locale="zh", secret_key="bench"))
    port = free_port()
    server = make_server("127.0.0.1", port, dash_app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", server


class Meter:
    """Bytes of the Dash callback responses since the last reset."""

    def __init__(self, page):
        self.bytes = 0
        page.on("response", self._count)

    def _count(self, response):
        if "/_dash-update-component" in response.url or "/_dash-layout" in response.url:
            try:
                self.bytes += len(response.body())
            except Exception:  # noqa: BLE001 - a response cut by navigation counts nothing
                pass

    def reset(self):
        self.bytes = 0


def timed_step(page, meter: Meter, action, expect_prefix: str) -> tuple[float, int]:
    meter.reset()
    started = time.perf_counter()
    action()
    page.wait_for_function("p => document.querySelector('#command-render-mark').textContent.startsWith(p)", arg=expect_prefix, timeout=120_000)
    page.evaluate(SETTLE_JS)
    elapsed = time.perf_counter() - started
    page.wait_for_timeout(300)  # late responses (none expected) still count
    return elapsed, meter.bytes


def biggest_child(page):
    values = [int(v.replace(",", "")) for v in page.locator(".child-button .child-value").all_inner_texts()]
    return page.locator(".child-button").nth(values.index(max(values)))


def map_click_on_district(page, engine):
    from tests.app.test_command_browser import district_click_target

    code, x, y = district_click_target(page, engine)

    def click():
        page.mouse.move(x, y)
        page.wait_for_timeout(200)
        page.mouse.down()
        page.mouse.up()

    return code, click


def baseline(engine) -> dict[str, int]:
    import pydeck
    from sqlalchemy import func, select

    from queries.schema import Incident

    with engine.connect() as conn:
        newest = conn.execute(select(func.max(Incident.reported_at))).scalar()
        rows = {
            "last 24 h": conn.execute(select(Incident.lon, Incident.lat, Incident.severity).where(Incident.reported_at >= newest - dt.timedelta(hours=24))).all(),
            "all incidents": conn.execute(select(Incident.lon, Incident.lat, Incident.severity)).all(),
        }
    sizes = {}
    for label, points in rows.items():
        data = [{"lon": lon, "lat": lat, "severity": severity} for lon, lat, severity in points if lon is not None]
        layer = pydeck.Layer("ScatterplotLayer", data=data, get_position=["lon", "lat"], get_radius=30, get_fill_color=[255, 0, 0])
        sizes[f"naive pydeck spec, {label} ({len(data):,} points)"] = len(pydeck.Deck(layers=[layer], map_provider=None).to_json())
    return sizes


def run_once(browser, base_url: str, engine) -> list[tuple[str, float, int]]:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    meter = Meter(page)
    results = []
    started = time.perf_counter()
    page.goto(f"{base_url}/command")
    page.wait_for_function("() => (document.querySelector('#command-render-mark') || {}).textContent", timeout=120_000)
    page.locator("#command-map canvas").wait_for()
    page.evaluate(SETTLE_JS)
    results.append(("open /command (city)", time.perf_counter() - started, meter.bytes))
    city = page.locator("#command-render-mark").text_content().split("|")[0]

    district, click = map_click_on_district(page, engine)
    results.append(("city → district (map click)", *timed_step(page, meter, click, district + "|")))
    for label in ("district → street", "street → community", "community → grid"):
        target = biggest_child(page)
        code = target.get_attribute("data-code")
        results.append((label, *timed_step(page, meter, target.click, code + "|")))
    incident = page.locator("#command-incidents .incident-button").first
    if incident.count():
        incident_id = incident.get_attribute("data-incident-id")
        results.append(("grid → incident (+ nearest resources)", *timed_step(page, meter, incident.click, f"{code}|{incident_id}|")))
    crumb = page.locator("#command-crumbs button.crumb").first
    results.append(("back to the city (breadcrumb, cached)", *timed_step(page, meter, crumb.click, city + "|")))
    results.append(("playback: first step", *timed_step(page, meter, page.locator("#command-play").click, city + "|-|0")))
    page.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--repeat", type=int, default=2, help="Runs; the first is cold (empty query cache), later ones warm.")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from queries.db import make_engine

    url = ensure_city_db(args.db)
    engine = make_engine(url)
    base_url, server = serve(url, Path(tempfile.mkdtemp(prefix="cityops-bench-command-")))
    runs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for _ in range(args.repeat):
            runs.append(run_once(browser, base_url, engine))
        browser.close()
    server.shutdown()
    print()
    print(f"{'step':44} {'cold s':>8} {'warm s':>8} {'bytes (cold)':>14}")
    for index, (label, seconds, size) in enumerate(runs[0]):
        warm = [run[index][1] for run in runs[1:] if index < len(run)]
        print(f"{label:44} {seconds:8.2f} {(statistics.median(warm) if warm else float('nan')):8.2f} {size:14,}")
    print()
    for label, size in baseline(engine).items():
        print(f"{label:60} {size:14,} bytes")
    engine.dispose()


if __name__ == "__main__":
    main()
