"""The command console at city scale: time from a click to the settled map, where it goes, and bytes per step.

    .venv/bin/python bench/bench_command.py [--db PATH] [--repeat 3] [--layers boundaries]

Builds the ``city`` demo (``cityops demo --scale city``, ≈1–2 min) into a SQLite file in the temp
folder on first use (or uses ``--db``), serves the app on a free port (signed in as a commander)
and drives Debian's chromium with software WebGL (SwiftShader): city → district (a click on the
map canvas) → street → community → unit grid → incident → back to the city (breadcrumb) → one
playback step. ``--layers`` opens the page with another layer set (``boundaries``: a trivial map,
which separates what drawing costs from the rest).

Each step is instrumented in the browser (an init script, nothing in the app):

* ``click`` — the pointerup that starts the step (``performance.now()``);
* every ``/_dash-update-component`` request: sent, response headers, body parsed (``Response.json``),
  and the server's own time (a ``Server-Timing`` header this script adds to the bench server);
* the render mark (``#command-render-mark``) changing: Dash has applied the response's props;
* deck.gl's own hooks (``deck._registerLoggers``): ``setLayers``, each layer's attribute update,
  and each ``renderLayers`` of the screen pass — the step is settled at the frame after the
  last draw that follows the render mark (no draw for 5 frames);
* long tasks (``PerformanceObserver('longtask')``) between click and settle.

The breakdown per step: ``server`` (sum of the callbacks' server time), ``wire`` (requests' time
minus server: queueing, transfer; Dash waits for one response before sending a dependent request),
``parse`` (JSON), ``dash`` (last response parsed → render mark: React applying the props),
``deck`` (render mark → last draw + one frame: layer conversion, attributes, drawing).
Bytes are the bodies of the step's Dash callback responses; beside them the naive spec of the
same step: the step's data (incident points of the area over the last 24 h, its children's raw
shapes, its resources) embedded as JSON in a ``pydeck.Deck``, resent whole at every step.
Prints tables with the load average; asserts nothing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
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
ROLE = "commander"
QUIET_FRAMES = 5  # a step is settled after this many animation frames without a deck.gl draw

# Injected before the page's own scripts (Playwright init script): records the step's events in window.__perf.
PERF_JS = r"""
(() => {
  const P = window.__perf = {click: null, fetches: [], deck: [], longtasks: [], mark: null, frames: 0};
  addEventListener('pointerup', () => { P.click = performance.now(); }, true);
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === 'string' ? input : input.url;
    if (!url.includes('_dash-update-component')) { return fetch0.apply(this, arguments); }
    const rec = {sent: performance.now(), output: ''};
    try { rec.output = JSON.parse(init.body).output.slice(0, 60); } catch (e) { /* not JSON */ }
    P.fetches.push(rec);
    return fetch0.apply(this, arguments).then(res => {
      rec.headers = performance.now();
      const timing = res.headers.get('Server-Timing') || '';
      const match = /dur=([0-9.]+)/.exec(timing);
      rec.server = match ? parseFloat(match[1]) : null;
      const text = res.text.bind(res);
      res.json = () => text().then(body => {
        rec.body = performance.now();
        rec.bytes = new TextEncoder().encode(body).length;
        const value = JSON.parse(body);
        rec.parsed = performance.now();
        const map = value && value.response && value.response['command-map'];
        rec.mapBytes = map ? new TextEncoder().encode(JSON.stringify(map)).length : 0;
        return value;
      });
      return res;
    });
  };
  try {
    new PerformanceObserver(list => { for (const e of list.getEntries()) { P.longtasks.push([e.startTime, e.duration]); } })
      .observe({type: 'longtask', buffered: true});
  } catch (e) { /* no long-task timing */ }
  const hookDeck = () => {
    if (!window.deck || !window.deck._registerLoggers) { setTimeout(hookDeck, 20); return; }
    let started = 0;
    window.deck._registerLoggers({
      'layerManager.setLayers': () => P.deck.push(['setLayers', performance.now()]),
      'attributeManager.updateStart': () => { started = performance.now(); },
      'attributeManager.updateEnd': (manager, count) => P.deck.push(['attributes', started, performance.now(), manager.id, count]),
      'deckRenderer.renderLayers': (renderer, stats, options) => {
        if (!options || !options.pass || options.pass === 'screen') { P.deck.push(['draw', performance.now()]); }
      },
    });
    window.deck.log.level = 1;  // the loggers are called only above level 0
  };
  hookDeck();
  const watchMark = () => {
    const mark = document.querySelector('#command-render-mark');
    if (!mark) { setTimeout(watchMark, 20); return; }
    new MutationObserver(() => { P.mark = [performance.now(), mark.textContent]; }).observe(mark, {childList: true, characterData: true, subtree: true});
  };
  watchMark();
  const frame = () => { P.frames += 1; requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  window.__perfReset = () => { P.click = null; P.fetches = []; P.deck = []; P.longtasks = []; P.mark = null; };
})();
"""

# Settled: the render mark names the step and no deck.gl draw happened for QUIET_FRAMES frames.
SETTLE_JS = """
async ([prefix, quiet]) => {
  const P = window.__perf;
  while (!(P.mark && P.mark[1].startsWith(prefix))) { await new Promise(r => setTimeout(r, 5)); }
  let seen = P.deck.length, still = 0;
  while (still < quiet) {
    await new Promise(r => requestAnimationFrame(r));
    if (P.deck.length === seen) { still += 1; } else { seen = P.deck.length; still = 0; }
  }
  const draws = P.deck.filter(e => e[0] === 'draw').map(e => e[1]);
  const lastDraw = draws.length ? draws[draws.length - 1] : P.mark[0];
  const settled = await new Promise(r => requestAnimationFrame(() => r(performance.now())));
  return {click: P.click, mark: P.mark[0], lastDraw: Math.max(lastDraw, P.mark[0]), settledFrame: settled,
          fetches: P.fetches, deck: P.deck, longtasks: P.longtasks};
}
"""


def ensure_city_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    if not path.exists():
        print(f"building the city-scale demo into {path} …", flush=True)
        env = {**os.environ, "CITYOPS_DATABASE_URL": url, "CITYOPS_DATA_DIR": str(path.parent)}
        subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "cityops"), "demo", "--scale", "city"], check=True, env=env, cwd=REPO_ROOT)
    return url


def serve(url: str, data_dir: Path):
    """The app in this process (werkzeug, threaded), each Dash callback timed into a Server-Timing header."""
    import logging

    import flask
    from werkzeug.serving import make_server

    from app.server import create_app
    from queries.settings import Settings
    from tests.app.conftest import TEST_SECRET, free_port

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would bury the table
    dash_app = create_app(Settings(data_dir=data_dir, database_url=url, redis_url=None, locale="zh", secret_key=TEST_SECRET))
    server = dash_app.server

    @server.before_request
    def _started():
        flask.g.bench_started = time.perf_counter()

    @server.after_request
    def _timed(response):
        started = getattr(flask.g, "bench_started", None)
        if started is not None:
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    port = free_port()
    http = make_server("127.0.0.1", port, server, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", http


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


# --- one step ----------------------------------------------------------------------------------


def breakdown(raw: dict, started_ms: float) -> dict:
    """Milliseconds of a step, split as the module docstring says."""
    click = raw["click"] if raw["click"] is not None and raw["click"] >= started_ms else started_ms
    fetches = [f for f in raw["fetches"] if f.get("parsed") is not None and f["sent"] >= click - 1]
    settled = raw["lastDraw"] if raw["lastDraw"] >= raw["mark"] else raw["mark"]
    settled_frame = raw["settledFrame"]
    server = sum(f["server"] or 0 for f in fetches)
    requests = sum(f["body"] - f["sent"] for f in fetches)
    parse = sum(f["parsed"] - f["body"] for f in fetches)
    last_parsed = max((f["parsed"] for f in fetches), default=click)
    attributes = sum(e[2] - e[1] for e in raw["deck"] if e[0] == "attributes" and e[1] >= click)
    draws = sum(1 for e in raw["deck"] if e[0] == "draw" and e[1] >= raw["mark"])
    long_tasks = [d for start, d in raw["longtasks"] if start >= click - 1]
    return {
        "total": settled_frame - click,
        "click→request": (fetches[0]["sent"] - click) if fetches else 0.0,
        "server": server,
        "wire": max(0.0, requests - server),
        "parse": parse,
        "dash": max(0.0, raw["mark"] - last_parsed),
        "deck": max(0.0, settled_frame - raw["mark"]),
        "attributes": attributes,
        "round trips": len(fetches),
        "draws": draws,
        "long tasks": sum(long_tasks),
        "bytes": sum(f.get("bytes") or 0 for f in fetches),
        "map bytes": sum(f.get("mapBytes") or 0 for f in fetches),
        "_settled_draw": settled - click,
    }


def timed_step(page, action, expect_prefix: str) -> dict:
    page.evaluate("window.__perfReset()")
    started = page.evaluate("performance.now()")
    action()
    raw = page.evaluate(SETTLE_JS, [expect_prefix, QUIET_FRAMES])
    return breakdown(raw, started)


def biggest_child(page):
    values = [int(v.replace(",", "")) for v in page.locator(".child-button .child-value").all_inner_texts()]
    return page.locator(".child-button").nth(values.index(max(values)))


def map_click_on_district(page, engine):
    from tests.app.test_command_browser import district_click_target

    code, x, y = district_click_target(page, engine)

    def click():
        page.mouse.move(x, y)
        page.wait_for_timeout(200)
        page.evaluate("window.__perfReset()")  # the hover's picking is not part of the step
        page.mouse.down()
        page.mouse.up()

    return code, click


def run_once(browser, base_url: str, engine, layers: str | None) -> list[tuple[str, dict, str]]:
    """[(step label, breakdown, area code or incident id)] of one drill through the city."""
    from tests.app.conftest import sign_in_context

    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    sign_in_context(context, ROLE)
    context.add_init_script(PERF_JS)
    page = context.new_page()
    page.set_default_timeout(120_000)
    results = []
    query = "" if layers is None else f"?layers={'' if layers == 'none' else layers}"
    started = time.perf_counter()
    page.goto(f"{base_url}/command{query}")
    page.wait_for_function("() => (document.querySelector('#command-render-mark') || {}).textContent")
    page.locator("#command-map canvas").wait_for()
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    opened = (time.perf_counter() - started) * 1000
    city = page.locator("#command-render-mark").text_content().split("|")[0]
    results.append(("open /command (city)", {"total": opened}, city))

    district, click = map_click_on_district(page, engine)
    results.append(("city → district (map click)", timed_step(page, click, district + "|"), district))
    code = district
    for label in ("district → street", "street → community", "community → grid"):
        target = biggest_child(page)
        code = target.get_attribute("data-code")
        results.append((label, timed_step(page, target.click, code + "|"), code))
    incident = page.locator("#command-incidents .incident-button").first
    if incident.count():
        incident_id = incident.get_attribute("data-incident-id")
        results.append(("grid → incident (+ nearest resources)", timed_step(page, incident.click, f"{code}|{incident_id}|"), incident_id))
    crumb = page.locator("#command-crumbs button.crumb").first
    results.append(("back to the city (breadcrumb)", timed_step(page, crumb.click, city + "|"), city))
    results.append(("playback: first step", timed_step(page, page.locator("#command-play").click, city + "|-|0"), city))
    context.close()
    return results


# --- the naive baseline --------------------------------------------------------------------------


def naive_bytes(engine, target: str, now: dt.datetime) -> int:
    """A ``pydeck.Deck`` with the step's raw data embedded: incident points of the area over the last
    24 h (every column the map reads), the area's children as raw GeoJSON, its resources."""
    import geopandas as gpd
    import pydeck
    from sqlalchemy import select

    from queries.drill import CHILD_LEVEL
    from queries.map_data import area_shapes, incident_points, resource_points
    from queries.schema import Area, Incident

    with engine.connect() as conn:
        area = conn.execute(select(Area.code, Area.level, Area.parent_code).where(Area.code == target)).first()
        if area is None:  # an incident: its grid's data
            grid = conn.execute(select(Incident.grid_code).where(Incident.id == target)).scalar()
            area = conn.execute(select(Area.code, Area.level, Area.parent_code).where(Area.code == grid)).first()
        points = incident_points(conn, area.code, now - dt.timedelta(hours=24), now)
        child_level = CHILD_LEVEL.get(area.level)
        # What the step draws: the area's children, or for a unit grid the grids beside it; the city's resources.
        shapes = area_shapes(conn, area.code, child_level, 0) if child_level else area_shapes(conn, area.parent_code, area.level, 0)
        resources = resource_points(conn, area=None)
    frame = points.assign(reported_at=points["reported_at"].astype(str))
    layers = [pydeck.Layer("ScatterplotLayer", data=frame, get_position=["lon", "lat"], get_radius=30)]
    if len(shapes):
        layers.append(pydeck.Layer("GeoJsonLayer", data=json.loads(gpd.GeoDataFrame(shapes[["code", "name"]], geometry=shapes.geometry).to_json())))
    if len(resources):
        layers.append(pydeck.Layer("ScatterplotLayer", data=resources.drop(columns=[c for c in resources.columns if "time" in c or c.endswith("_at")]),
                                   get_position=["lon", "lat"], get_radius=50))
    return len(pydeck.Deck(layers=layers, map_style=None).to_json())


# --- report ----------------------------------------------------------------------------------------

COLUMNS = ("total", "click→request", "server", "wire", "parse", "dash", "deck", "attributes", "long tasks")


def report(runs: list[list[tuple[str, dict, str]]], engine, title: str) -> None:
    print()
    print(f"## {title}   (load average now: {load_average()})")
    print()
    print("Per step: median of the warm runs (runs 2…), ms; cold = run 1 (empty query cache).")
    print()
    header = f"| {'step':40} | {'cold':>6} | " + " | ".join(f"{c:>10}" for c in COLUMNS) + f" | {'trips':>5} | {'draws':>5} |"
    print(header)
    print("|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|")
    warm_totals = []
    for index, (label, figures, _) in enumerate(runs[0]):
        warm = [run[index][1] for run in runs[1:] if index < len(run) and run[index][0] == label] or [figures]
        cells = []
        for column in COLUMNS:
            values = [w[column] for w in warm if column in w]
            cells.append(f"{statistics.median(values):10.0f}" if values else f"{'':>10}")
        trips = statistics.median([w.get("round trips", 0) for w in warm])
        draws = statistics.median([w.get("draws", 0) for w in warm])
        print(f"| {label:40} | {figures['total']:6.0f} | " + " | ".join(cells) + f" | {trips:5.0f} | {draws:5.0f} |")
        if index > 0:
            warm_totals += [w["total"] for w in warm]
    cold_totals = [figures["total"] for _, figures, _ in runs[0][1:]]
    print()
    print(f"click → settled map over the drill steps: warm p50 {percentile(warm_totals, 50):.0f} ms, p95 {percentile(warm_totals, 95):.0f} ms, "
          f"max {max(warm_totals):.0f} ms (n={len(warm_totals)}); cold p95 {percentile(cold_totals, 95):.0f} ms (target p95 < 250 ms)")
    print()
    now = dt.datetime.now(dt.timezone.utc)
    print("Bytes: the step's callback responses (all of it: map, panels, KPIs) and the map's part of them, beside the naive spec")
    print("of the same step's map data. Over the whole drill: what the browser received against a naive deck rebuilt at each step.")
    print()
    print(f"| {'step':40} | {'response':>10} | {'map part':>10} | {'naive spec':>12} | {'naive / map':>11} | {'naive / response':>16} |")
    print("|---|---|---|---|---|---|")
    sums = [0, 0, 0]
    for index, (label, figures, target) in enumerate(runs[0]):
        if index == 0:
            continue
        naive = naive_bytes(engine, target, now)
        sums = [sums[0] + figures["bytes"], sums[1] + figures["map bytes"], sums[2] + naive]
        print(f"| {label:40} | {figures['bytes']:10,} | {figures['map bytes']:10,} | {naive:12,} | {naive / max(1, figures['map bytes']):10.1f}× |"
              f" {naive / max(1, figures['bytes']):15.1f}× |")
    print(f"| {'the whole drill':40} | {sums[0]:10,} | {sums[1]:10,} | {sums[2]:12,} | {sums[2] / max(1, sums[1]):10.1f}× | {sums[2] / max(1, sums[0]):15.1f}× |")


def percentile(values, q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--repeat", type=int, default=3, help="Runs; the first is cold (empty query cache), later ones warm.")
    parser.add_argument("--layers", default=None, help="Layer set of the page (default: the page's default layers), e.g. boundaries; "
                        "none: no layer (the map draws nothing but an incident's route).")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from queries.db import make_engine
    from tests.app.conftest import ensure_test_users

    url = ensure_city_db(args.db)
    engine = make_engine(url)
    ensure_test_users(engine)
    base_url, server = serve(url, Path(tempfile.mkdtemp(prefix="cityops-bench-command-")))
    print(f"load average before: {load_average()}", flush=True)
    runs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for _ in range(args.repeat):
            runs.append(run_once(browser, base_url, engine, args.layers))
            print(f"run {len(runs)} done (load average {load_average()})", flush=True)
        browser.close()
    server.shutdown()
    report(runs, engine, f"/command, layers={args.layers or 'default'}")
    engine.dispose()


if __name__ == "__main__":
    main()
