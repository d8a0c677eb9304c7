"""The leaders' briefing on a slow link: time to first meaningful paint of /briefing at 1.6 Mbit/s.

    .venv/bin/python bench/bench_briefing.py [--db PATH] [--runs 3] [--no-pdf]

Uses the ``city`` demo in SQLite (the same file as bench/bench_command.py, built on first use with
``cityops demo --scale city``, ≈1–2 min), serves the app on a free port and opens each page in a
fresh context of Debian's chromium with the HTTP cache disabled (CDP ``Network.setCacheDisabled``),
throttled with CDP ``Network.emulateNetworkConditions``: 1.6 Mbit/s down (200 kB/s), 750 kbit/s up,
150 ms latency — a tablet on the government extranet. Per page load:

* FCP — ``first-contentful-paint`` (PerformanceObserver, ``paint`` entries);
* TTFB — the HTML's first byte (navigation timing ``responseStart``): the server's share;
* meaningful paint — the first paint with the page's content: the first animation frame in which
  it is there (``#briefing-root[data-ready="1"]`` for the briefing; for /command, the comparison,
  the map canvas and the drill state ``#command-render-mark``), or FCP when that comes later;
* bytes — the sum of ``encodedDataLength`` of CDP ``Network.loadingFinished`` up to that paint
  (compressed bytes on the wire, headers included; a still-open live stream is not counted).

Baselines in the same run: /briefing unthrottled, /command throttled and unthrottled. Each row is the
median of ``--runs`` cold loads. Also, unless ``--no-pdf``: the server-side PDF export of the
briefing (``/export/briefing/city.pdf``), its time and size. Prints a table; asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_command import CHROMIUM, CHROMIUM_ARGS, DEFAULT_DB, ensure_city_db, serve  # noqa: E402

SLOW_LINK = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8, "uploadThroughput": 750_000 / 8}
VIEWPORT = {"width": 1024, "height": 1366}  # an iPad-size tablet, portrait
TIMEOUT_MS = 240_000
MEANINGFUL = {
    "/briefing": "() => !!document.querySelector('#briefing-root[data-ready=\"1\"]')",
    "/command": "() => !!(document.querySelector('#command-map canvas') && ((document.querySelector('#command-render-mark') || {}).textContent || '').length)",
}
# Installed before any page script: the FCP entry, and the first frame in which the content is there.
PROBE = """(test) => {
  window.__bench = {fcp: null, meaningful: null};
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      if (entry.name === 'first-contentful-paint') { window.__bench.fcp = entry.startTime; }
    }
  }).observe({type: 'paint', buffered: true});
  const ready = new Function('return (' + test + ')()');
  const frame = () => {
    if (window.__bench.meaningful === null) {
      let ok = false;
      try { ok = ready(); } catch (err) { ok = false; }
      if (ok) { window.__bench.meaningful = performance.now(); return; }
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}"""


def load_once(browser, url: str, path: str, throttled: bool) -> dict:
    import requests

    # The page's HTML once, unmeasured, just before: its queries come from the cache as for the
    # second reader of the day (a cold briefing costs its queries once more, see TTFB of a first load).
    requests.get(url + path, timeout=120).raise_for_status()
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    try:
        test = MEANINGFUL["/briefing" if path.startswith("/briefing") else "/command"]
        context.add_init_script(f"({PROBE})({test!r})")
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if throttled:
            cdp.send("Network.emulateNetworkConditions", SLOW_LINK)
        received: list[tuple[float, int]] = []
        cdp.on("Network.loadingFinished", lambda event: received.append((time.perf_counter(), int(event.get("encodedDataLength", 0)))))
        started = time.perf_counter()
        page.goto(url + path, wait_until="commit", timeout=TIMEOUT_MS)
        page.wait_for_function("() => window.__bench && window.__bench.meaningful !== null", timeout=TIMEOUT_MS, polling=100)
        painted = time.perf_counter()
        page.wait_for_function("() => window.__bench.fcp !== null", timeout=TIMEOUT_MS, polling=100)
        marks = page.evaluate("() => ({...window.__bench, ttfb: performance.getEntriesByType('navigation')[0].responseStart})")
        page.wait_for_timeout(300)  # loadingFinished of the last resources before the paint
        return {"ttfb_ms": marks["ttfb"], "fcp_ms": marks["fcp"], "meaningful_ms": max(marks["meaningful"], marks["fcp"]), "wall_s": painted - started,
                "bytes": sum(size for at, size in received if at <= painted + 0.3)}
    finally:
        context.close()


def measure_pdf(url: str) -> tuple[float, int, int]:
    import io

    import requests
    from pypdf import PdfReader

    started = time.perf_counter()
    response = requests.get(f"{url}/export/briefing/city.pdf", timeout=300)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, len(response.content), len(PdfReader(io.BytesIO(response.content)).pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=3, help="Cold loads per row (median shown).")
    parser.add_argument("--no-pdf", action="store_true", help="Skip the PDF export figure.")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    db_url = ensure_city_db(args.db)
    url, server = serve(db_url, args.db.parent)
    rows = [("/briefing", True, "1.6 Mbit/s"), ("/briefing", False, "unthrottled (baseline)"),
            ("/command", True, "1.6 Mbit/s (comparison)"), ("/command", False, "unthrottled")]
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                load_once(browser, url, "/briefing", False)  # warm the server's query cache: the link is measured, not the database
                load_once(browser, url, "/command", False)
                # Rows interleaved run by run, so that load from other processes and the query cache's
                # expiries (30 s for real-time data) hit every row alike.
                runs: dict[int, list[dict]] = {i: [] for i in range(len(rows))}
                for number in range(args.runs):
                    for i, (path, throttled, _label) in enumerate(rows):
                        runs[i].append(load_once(browser, url, path, throttled))
                    print(f"  run {number + 1}: " + "  ".join(f"{rows[i][0]} {rows[i][2].split(' ')[0]} {runs[i][-1]['meaningful_ms'] / 1000:.2f}s"
                                                               for i in range(len(rows))), flush=True)
                results = [(path, label, runs[i]) for i, (path, _throttled, label) in enumerate(rows)]
            finally:
                browser.close()
        pdf = None if args.no_pdf else measure_pdf(url)
    finally:
        server.shutdown()

    print()
    print(f"Page loads, cold cache, median of {args.runs} (tablet viewport {VIEWPORT['width']}×{VIEWPORT['height']}):")
    print(f"{'page':<10} {'link':<26} {'TTFB':>8} {'FCP':>9} {'meaningful paint':>17} {'transferred':>13}")
    for path, label, runs in results:
        ttfb = statistics.median(r["ttfb_ms"] for r in runs) / 1000
        fcp = statistics.median(r["fcp_ms"] for r in runs) / 1000
        meaningful = statistics.median(r["meaningful_ms"] for r in runs) / 1000
        size = statistics.median(r["bytes"] for r in runs)
        print(f"{path:<10} {label:<26} {ttfb:>7.2f}s {fcp:>8.2f}s {meaningful:>16.2f}s {size / 1024:>10,.0f} KB")
    if pdf is not None:
        seconds, size, pages = pdf
        print(f"\nPDF export /export/briefing/city.pdf (server-side chromium, unthrottled): {seconds:.1f} s, {size / 1024:,.0f} KB, {pages} pages")


if __name__ == "__main__":
    main()
