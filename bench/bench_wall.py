"""The video wall (/wall) in chromium: push-to-screen latency, and a soak against a live feed.

    .venv/bin/python bench/bench_wall.py latency [--trials 20] [--tick-trials 10] [--scale city] [--keep-db]
    .venv/bin/python bench/bench_wall.py soak [--minutes 30] [--interval 30] [--rate 6] [--scale city] [--keep-db]

Both serve the app with ``cityops serve --workers 2`` (gunicorn) on PostgreSQL + Redis, in a database
of their own (``cityops_bench_wall``, created when missing, the ``city`` demo built into it when it
has no areas — 1.5–3 min on PostgreSQL — and dropped at the end unless ``--keep-db``; a kept
database is reused by the next run), and open the default wall in Debian's chromium at its design
size, 3840×1080. Behind access control (``/wall`` redirects to ``/login``) the bench adds a wall
device and a commander with ``cityops users`` and opens the device's ``/wall/default?token=…``
link; the commander's bearer token reads and acknowledges emergencies. Before the browser comes,
the bench fetches the page and its scripts from the workers and counts the 500s (``Server.
check_workers``: there must be none — a worker used to answer 500 for Dash's scripts until it had
rendered a page, fixed by ``app.server.ready_for_requests``). Times are compared on one clock:
``time.time`` in Python and ``performance.timeOrigin + performance.now()`` in the page (their
offset is printed).

latency
    Inserts one severity IV incident at a time with ``ingest_records`` (the path every feed and
    ``cityops simulate`` write through) and measures the time from its commit to the row with its
    ``data-incident`` appearing in the overview ticker (``.wall-panel[data-panel="overview/ticker"]``;
    a MutationObserver stamps it, and the next animation frame). The carousel is held on the
    overview (its timers cleared in the page, the next scene never "soon") so that every insert
    lands while the ticker is on screen; emergencies are acknowledged first. Three paths, the first two interleaved trial by
    trial so that load from other processes hits both alike:

    * ``redis``   — the writer publishes on the Redis bus after its commit (the normal path);
    * ``watcher`` — baseline 1: the writer has no bus (Redis off for it, as for an ETL writing the
      database directly); the server's change-log watcher (0.5 s poll) delivers the same event;
    * ``tick``    — baseline 2: no live push at all (the page's /api/v1/events is blocked), only the
      wall's own 5 s tick and the ticker's 30 s refresh interval; each insert waits a random 0–30 s
      first so that it lands at a random phase of the refresh.

    Also printed, to say where the time goes: commit → the event handed to the page's store
    "live-events", and the duration of the wall's refresh callback (request → response).
    Verdict: the Redis path's p95 against ``LATENCY_BUDGET_S`` ("within a second or two", issue #5).

soak
    Starts ``cityops simulate --rate R`` on the same database, opens the wall under that feed,
    checks that its carousel starts and that the first scene changes after its dwell (a wall
    opened under a busy feed used to wait minutes for it: see CAROUSEL_JS), and lets the shipped
    carousel run (dwell 60 + 4 × 45 s, every scene many times). An operator stand-in acknowledges each emergency once the
    wall has shown it for its 60 s dwell (else one severity I/II incident would hold the wall on
    the emergency scene for the rest of the run). Every ``--interval`` seconds, after a forced GC
    (CDP ``HeapProfiler.collectGarbage``): the page's JS heap (CDP ``Performance.getMetrics``
    JSHeapUsedSize), its DOM (elements in the document; CDP ``Nodes``, which counts detached nodes
    too; JS event listeners; canvases = deck.gl maps), the RSS of the server (gunicorn master +
    workers, /proc) and of chromium's renderer and GPU processes. The first 5 minutes are the
    warm-up baseline (more than one 240 s carousel cycle). A series *levels off* when the mean of
    the last third of the run exceeds the middle third's by no more than its tolerance and the
    least-squares slope over the second half stays under its budget (``LEVEL_OFF``); PASS when the
    judged series all level off. Prints one line per sample as it goes, then 5-minute means, the
    verdicts and the refresh callbacks' durations.

Asserts nothing; exit status 0 unless the run itself failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
PG_ADMIN_URL = os.environ.get("CITYOPS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CITYOPS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking"]
VIEWPORT = {"width": 3840, "height": 1080}  # specs/walls/default.yaml canvas
WALL_ID = "default"
TICKER = '.wall-panel[data-panel="overview/ticker"]'
EMERGENCY_DWELL_S = 60  # specs/walls/default.yaml, emergency scene
FIRST_DWELL_S = 60  # specs/walls/default.yaml, the overview
LATENCY_BUDGET_S = 2.0  # p95 commit → ticker row, Redis path: "within a second or two" (issue #5)
CAROUSEL_SLACK_S = 15.0  # the first scene change under a busy feed: its dwell plus this at most
# The figures of the previous run (docs/performance.md, 2026-11-22, e32a6b1: live refresh built the
# next scene's maps too), printed beside this run's.
PREVIOUS_LATENCY = {"redis": (1.14, 2.58), "watcher": (1.46, 3.28), "tick": (22.5, 34.5)}
MB = 1024 * 1024

# series: (label, unit, tolerance last-vs-middle third: absolute, relative to the middle third; slope budget per hour)
LEVEL_OFF = {
    "heap_mb": ("JS heap used (after GC)", "MB", 1.0, 0.05, 4.0),
    "dom_elements": ("DOM elements in the document", "", 30, 0.02, 120),
    "server_rss_mb": ("server RSS (master + workers)", "MB", 8.0, 0.03, 16.0),
}
INFO_SERIES = {
    "history": ("Dash undo history entries (trimmed by wall.js)", ""),
    "backing_mb": ("ArrayBuffer backing stores (V8)", "MB"),
    "embedder_mb": ("Blink heap (DOM, Oilpan)", "MB"),
    "cdp_nodes": ("DOM nodes incl. detached (CDP Nodes)", ""),
    "listeners": ("JS event listeners", ""),
    "canvases": ("canvases (deck.gl maps)", ""),
    "renderer_rss_mb": ("chromium renderer RSS", "MB"),
    "gpu_rss_mb": ("chromium GPU process RSS", "MB"),
}


# --- plumbing ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(label: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{label:<44} n=0"
    ms = [s * 1000 for s in seconds]
    return (f"{label:<44} n={len(ms):<4} p50={percentile(ms, 50):8.0f} ms  p95={percentile(ms, 95):8.0f} ms  "
            f"max={max(ms):8.0f} ms  mean={statistics.fmean(ms):8.0f} ms")


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


class Database:
    """The bench's own PostgreSQL database: created when missing, the demo city built when empty."""

    def __init__(self, name: str, scale: str, keep: bool, workdir: Path):
        from sqlalchemy import create_engine, text

        self.name, self.url, self.keep = name, pg_url(name), keep
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.areas, self.incidents = self._counts()
        if not self.areas:
            print(f"building the {scale} demo city into {name} (PostgreSQL) …", flush=True)
            started = time.monotonic()
            env = server_env(self.url, workdir, scale)
            subprocess.run([sys.executable, "-m", "app.cli", "demo", "--scale", scale], check=True, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
            print(f"  built in {time.monotonic() - started:.0f} s", flush=True)
            self.areas, self.incidents = self._counts()
        else:
            print(f"reusing database {name} ({self.areas:,} areas, {self.incidents:,} incidents)", flush=True)

    def _counts(self) -> tuple[int, int]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return (conn.execute(text("SELECT count(*) FROM areas")).scalar_one(), conn.execute(text("SELECT count(*) FROM incidents")).scalar_one())
        except Exception:  # noqa: BLE001 - no schema yet
            return 0, 0
        finally:
            engine.dispose()

    def close(self) -> None:
        from sqlalchemy import text

        if self.keep:
            print(f"database {self.name} kept (--keep-db)")
        else:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it (read-only git calls)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "app", "queries", "layers", "assets", "specs"],
                               cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"{head}" + (f" + uncommitted changes in {len(dirty)} file(s) of app/queries/layers/assets/specs" if dirty else "")


SERVER_TUNING = ("CITYOPS_LAST_GOOD_MB", "CITYOPS_WEB_THREADS")  # taken from the caller's environment when set


def server_env(database_url: str, workdir: Path, scale: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(CITYOPS_DATA_DIR=str(workdir), CITYOPS_DATABASE_URL=database_url, CITYOPS_REDIS_URL=REDIS_URL, CITYOPS_DEMO_SCALE=scale,
               CITYOPS_SECRET_KEY="bench", PYTHONUNBUFFERED="1")
    env.update({name: os.environ[name] for name in SERVER_TUNING if name in os.environ})
    return env


class Server:
    def __init__(self, env: dict, workers: int, log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
                                        cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() - started > 900:
                raise SystemExit(f"server did not start; see {log_path}")
            time.sleep(0.5)
        self.startup_s = time.monotonic() - started

    def check_workers(self, session: requests.Session | None = None, rounds: int = 20) -> tuple[int, int]:
        """Fetch the page's scripts from the workers before the browser comes; count the 500s.

        Dash registers the script paths it may serve (``Dash.registered_paths``) on a process's
        first request, racily; a /_dash-component-suites/ request that reached a gunicorn worker
        during that answered 500 until ``app.server.ready_for_requests`` (every worker sets Dash up
        before it accepts). Requests the index and every script of it, concurrently, again until a
        round has no 500. Returns (rounds, 500s seen): (1, 0) since that fix.
        """
        import re
        from concurrent.futures import ThreadPoolExecutor

        failures = 0
        with ThreadPoolExecutor(8) as pool:
            for attempt in range(1, rounds + 1):
                pages = list(pool.map(lambda _: (session or requests).get(f"{self.base}/wall", timeout=120).text, range(4)))
                urls = sorted(set(re.findall(r'src="(/_dash-component-suites/[^"]+)"', pages[0])))
                if not urls:
                    raise SystemExit(f"/wall served no Dash index (log-in page?): {pages[0][:200]!r}")
                codes = list(pool.map(lambda u: requests.get(self.base + u, headers={"Connection": "close"}, timeout=120).status_code, urls * 4))
                bad = sum(code >= 500 for code in codes)
                failures += bad
                if not bad:
                    return attempt, failures
        return rounds, failures

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()

    def warnings(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if " WARNING " in line or " ERROR " in line or "Traceback" in line]


class Access:
    """How the bench reaches the app. With access control (app/security: /wall answers 302 to
    /login), it adds a wall device and a commander with ``cityops users`` and uses the device's
    ``/wall/ID?token=…`` link for the page and the commander's bearer token for the emergency API;
    without, plain requests."""

    def __init__(self, base: str, env: dict):
        self.base = base
        self.api = requests.Session()
        self.device = requests.Session()  # what the wall's browser is, for warming the workers
        self.wall_path = "/wall"
        first = requests.get(f"{base}/wall", allow_redirects=False, timeout=120)
        self.protected = first.status_code in (301, 302, 303, 307, 308, 401, 403)
        if not self.protected:
            return
        tag = uuid.uuid4().hex[:6]

        def cli(*arguments: str, stdin: str | None = None) -> list[str]:
            done = subprocess.run([sys.executable, "-m", "app.cli", "users", *arguments], cwd=REPO_ROOT, env=env, input=stdin,
                                  capture_output=True, text=True, check=True)
            return done.stdout.splitlines()

        cli("add", f"bench-wall-{tag}", "--role", "wall")
        device = cli("token", f"bench-wall-{tag}", "--wall", WALL_ID)
        self.wall_path = next(line for line in device if line.startswith("/wall/"))
        cli("add", f"bench-operator-{tag}", "--role", "commander", "--password-stdin", stdin=uuid.uuid4().hex + "Aa1!\n")
        operator = cli("token", f"bench-operator-{tag}")[0].strip()
        self.api.headers["Authorization"] = f"Bearer {operator}"
        self.device.get(f"{base}{self.wall_path}", timeout=120).raise_for_status()  # the device session cookie

    def emergency(self) -> dict | None:
        return self.api.get(f"{self.base}/api/v1/walls/{WALL_ID}/emergency", timeout=10).json().get("emergency")

    def acknowledge(self, incident_id: str) -> requests.Response:
        return self.api.post(f"{self.base}/api/v1/walls/{WALL_ID}/acknowledge", json={"incident_id": incident_id}, timeout=10)


def acknowledge_all(access: Access) -> list[str]:
    """Acknowledge whatever the wall shows in emergency until it shows nothing; the ids acknowledged."""
    done = []
    for _ in range(100):
        shown = access.emergency()
        if not shown:
            break
        access.acknowledge(shown["incident_id"]).raise_for_status()
        done.append(shown["incident_id"])
    return done


# --- /proc --------------------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command line) of every process."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        found[int(entry)] = (ppid, cmdline)
    return found


def descendants(root: int, table: dict[int, tuple[int, str]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- the page -----------------------------------------------------------------------------------

OBSERVE_TICKER_JS = """(selector) => {
  const now = () => performance.timeOrigin + performance.now();
  window.__seen = {}; window.__frame = {};
  const panel = document.querySelector(selector);
  const scan = () => {
    const t = now();
    panel.querySelectorAll('[data-incident]').forEach(el => {
      const id = el.getAttribute('data-incident');
      if (!(id in window.__seen)) {
        window.__seen[id] = t;
        requestAnimationFrame(() => { window.__frame[id] = now(); });
      }
    });
  };
  scan();
  if (window.__observer) { window.__observer.disconnect(); }
  window.__observer = new MutationObserver(scan);
  window.__observer.observe(panel, {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-incident']});
}"""

# When each incident's live event reached the page (cityops-live.js hands it to the store "live-events").
STAMP_EVENTS_JS = """() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__events = {};
  const dc = window.dash_clientside;
  if (!dc || !dc.set_props || dc.__benchWrapped) { return !!(dc && dc.__benchWrapped); }
  const original = dc.set_props;
  dc.set_props = function (id, props) {
    const last = id === 'live-events' && props && props.data && props.data.last;
    const incident = last && last.payload && last.payload.incident_id;
    if (incident && !(incident in window.__events)) { window.__events[incident] = now(); }
    return original.apply(this, arguments);
  };
  dc.__benchWrapped = true;
  return true;
}"""

# Hold the carousel on the overview (latency only): the timers that would advance it and make the
# next scene "soon" (refreshed on pushes too) are cleared.
HOLD_OVERVIEW_JS = """() => {
  const s = window.cityopsWall && window.cityopsWall.state;
  if (!s) { return 'no cityopsWall'; }
  clearTimeout(s.timer); s.timer = null; clearTimeout(s.prerollTimer); s.prerollTimer = null; s.soon = false;
  const active = document.querySelector('.wall-scene.is-active');
  const scene = active ? active.getAttribute('data-scene') : 'none';
  const list = (s.config && s.config.scenes) || [];
  const next = list.length > 1 ? list[(s.index + 1) % list.length].id : scene;
  window.dash_clientside.set_props('wall-active', {data: {scene: scene, next: next, soon: false}});  // in case "soon" was sent already
  return scene;
}"""

# The carousel runs once assets/wall.js got its config and armed its timer. Before the fix that
# callback also took "wall-emergency", an output of the server refresh, which took "live-events"
# as an input: while live events kept re-requesting the refresh, Dash dropped the running request
# for the newer one and the carousel stayed unarmed for minutes. Now it is armed from
# "wall-config" alone, and wall.js keeps one refresh in flight (live events coalesced).
CAROUSEL_JS = """() => {
  const s = (window.cityopsWall || {}).state || {};
  return {running: !!(s.config && (s.timer || s.emergency)), configured: !!s.config, index: s.index, shown: s.shown || null,
          clock: (document.getElementById('wall-clock') || {}).textContent || ''};
}"""

PAGE_STATE_JS = """() => ({
  elements: document.getElementsByTagName('*').length,
  canvases: document.querySelectorAll('canvas').length,
  scene: (document.querySelector('.wall-scene.is-active') || {dataset: {}}).dataset.scene || null,
  emergency: !!document.querySelector('#wall-root.is-emergency'),
  live: document.documentElement.getAttribute('data-live-state'),
  carousel: !!(window.cityopsWall && window.cityopsWall.state.config),
  clock: (document.getElementById('wall-clock') || {}).textContent || '',
  history: Math.max(0, ...(window.dash_stores || []).map(s => s.getState().history.past.length)),
  refreshes: window.cityopsWall ? window.cityopsWall.state.refreshes : null,
  liveRefreshes: window.cityopsWall ? window.cityopsWall.state.liveRefreshes : null,
})"""

# Installed before the page loads (soak): when wall.js got its config (the carousel armed) and
# every scene change after it, on the page's clock.
CAROUSEL_RECORDER_JS = """() => {
  window.__carousel = {armed: null, changes: []};
  const now = () => performance.timeOrigin + performance.now();
  const poll = setInterval(() => {
    const s = window.cityopsWall && window.cityopsWall.state;
    if (!s || !s.config || window.__carousel.armed !== null) { return; }
    window.__carousel.armed = now();
    let shown = s.shown;
    new MutationObserver(() => {
      const active = document.querySelector('.wall-scene.is-active');
      const scene = active ? active.getAttribute('data-scene') : null;
      if (scene && scene !== shown) { shown = scene; window.__carousel.changes.push([now(), scene]); }
    }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['class']});
    clearInterval(poll);
  }, 50);
}"""


class WallPage:
    def __init__(self, browser, base: str, *, block_sse: bool = False, path: str = "/wall", init_script: str | None = None):
        self.context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        self.page = self.context.new_page()
        if init_script:
            self.page.add_init_script(f"({init_script})()")
        self.errors: list[str] = []
        self.failed_callbacks = 0
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.suite_failures = 0
        self.callbacks: dict[int, tuple[str, float]] = {}
        self.refreshes: list[tuple[str, float, float]] = []  # (trigger, request sent, response) of the wall's refresh callback
        self.page.on("request", self._request)
        self.page.on("response", self._response)
        if block_sse:
            self.page.route("**/api/v1/events*", lambda route: route.abort())
        started = time.monotonic()
        self.reloads = 0
        for attempt in range(5):
            self.suite_failures = 0
            self.page.goto(f"{base}{path if attempt == 0 else path.split('?')[0]}", wait_until="load")
            try:
                self.page.wait_for_selector("#wall-root", timeout=60_000)
                break
            except Exception:
                if not self.suite_failures or attempt == 4:
                    raise
                # A script of the page answered 500 (see suite_failures): reload, as an operator would.
                self.reloads += 1
                print(f"  /wall did not render: {self.suite_failures} /_dash-component-suites/ script(s) answered 500; reloading", flush=True)
        self.page.wait_for_selector(f"{TICKER} [data-incident]", timeout=300_000)
        if not block_sse:
            self.page.wait_for_selector("html[data-live-state='live']", timeout=60_000)
        self.open_s = time.monotonic() - started

    def _request(self, request) -> None:
        if "/_dash-update-component" not in request.url:
            return
        try:
            body = json.loads(request.post_data or "{}")
        except ValueError:
            return
        if "wall-panels.data" in str(body.get("output", "")):
            changed = body.get("changedPropIds") or []
            trigger = "live" if "wall-live.data" in changed else "tick" if "wall-beat.data" in changed else "other"
            self.callbacks[id(request)] = (trigger, time.time())

    def _response(self, response) -> None:
        if "/_dash-update-component" in response.url and response.status >= 400:
            self.failed_callbacks += 1
        if "/_dash-component-suites/" in response.url and response.status >= 500:
            self.suite_failures += 1
        started = self.callbacks.pop(id(response.request), None)
        if started is not None:
            self.refreshes.append((started[0], started[1], time.time()))

    def now_ms(self) -> float:
        return self.page.evaluate("() => performance.timeOrigin + performance.now()")

    def clock_offset_ms(self) -> tuple[float, float]:
        """(browser clock − Python clock, ± half the round trip) in ms."""
        best = None
        for _ in range(5):
            before = time.time()
            browser = self.now_ms()
            after = time.time()
            candidate = (browser - (before + after) * 500, (after - before) * 500)
            if best is None or candidate[1] < best[1]:
                best = candidate
        return best

    def close(self) -> None:
        self.context.close()


# --- latency ------------------------------------------------------------------------------------


class IncidentWriter:
    """Writes one severity IV incident per call through ``ingest_records``, with or without the Redis bus."""

    def __init__(self, database_url: str):
        from sqlalchemy import func, select

        from queries.bus import RedisBus, bus_channel
        from queries.db import make_engine
        from queries.schema import Area, Incident
        from queries.settings import Settings

        self.engine = make_engine(database_url)
        with self.engine.connect() as conn:
            row = conn.execute(select(Incident.dataset_code, func.count()).where(Incident.dataset_code.is_not(None))
                               .group_by(Incident.dataset_code).order_by(func.count().desc()).limit(1)).first()
            self.dataset = row[0] if row else None
            self.places = conn.execute(select(Area.label_lon, Area.label_lat).where(Area.level == "grid", Area.label_lon.is_not(None)).limit(2000)).all()
        self.bus = RedisBus(REDIS_URL, bus_channel(Settings(database_url=database_url)))
        self.rng = random.Random(20261121)
        self.tag = uuid.uuid4().hex[:6].upper()
        self.count = 0

    def write(self, publish: bool) -> tuple[str, float]:
        """(incident id, commit time): the first publish call when publishing (right after the
        commit, before Redis), else the return of ``ingest_records`` (right after the commit)."""
        import pandas as pd

        from queries.ingest import ingest_records

        self.count += 1
        incident_id = f"BENCHWALL{self.tag}{self.count:04d}"
        lon, lat = self.rng.choice(self.places)
        frame = pd.DataFrame([{
            "id": incident_id, "category": "accident", "subtype": "traffic_accident", "severity": "4", "status": "reported", "channel": "110",
            "title": f"测试路段追尾 {self.count}", "lon": round(lon + self.rng.uniform(-0.002, 0.002), 6), "lat": round(lat + self.rng.uniform(-0.002, 0.002), 6),
            "reported_at": pd.Timestamp.now(tz="UTC"),
        }])
        stamp = _StampingBus(self.bus) if publish else None
        options = {"dataset": self.dataset} if self.dataset else {}
        ingest_records(self.engine, "incidents", frame, "bench:wall", bus=stamp, **options)
        committed = time.time()
        return incident_id, (stamp.first_call or committed) if stamp else committed

    def close(self) -> None:
        self.bus.close()
        self.engine.dispose()


class _StampingBus:
    """The writer's bus, noting when the first publish is asked for (the commit has just returned)."""

    def __init__(self, inner):
        self.inner = inner
        self.first_call: float | None = None

    def publish_many(self, events) -> int:
        if self.first_call is None:
            self.first_call = time.time()
        return self.inner.publish_many(events)


def measure(wall: WallPage, writer: IncidentWriter, publish: bool, timeout_s: float) -> dict:
    scene = wall.page.evaluate("() => (document.querySelector('.wall-scene.is-active') || {dataset: {}}).dataset.scene")
    incident_id, committed = writer.write(publish)
    try:
        wall.page.wait_for_function("id => window.__seen[id] !== undefined && window.__frame[id] !== undefined", arg=incident_id,
                                    timeout=timeout_s * 1000, polling=50)
    except Exception:  # noqa: BLE001 - playwright TimeoutError: counted as missed
        return {"id": incident_id, "latency": None, "frame": None, "scene": scene, "load": os.getloadavg()[0]}
    seen, frame, event = wall.page.evaluate("id => [window.__seen[id], window.__frame[id], (window.__events || {})[id]]", incident_id)
    return {"id": incident_id, "latency": seen / 1000 - committed, "frame": frame / 1000 - committed, "scene": scene,
            "event": None if event is None else event / 1000 - committed, "committed": committed, "load": os.getloadavg()[0]}


def run_latency(args) -> None:
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="cityops-bench-wall-"))
    print(f"code: {code_version()}; {os.cpu_count()} CPUs, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    database = Database(args.database, args.scale, args.keep_db, workdir)
    server = writer = None
    results: dict[str, list[dict]] = {"redis": [], "watcher": [], "tick": []}
    errors: list[str] = []
    refreshes: list[tuple[str, float, float]] = []
    failed_callbacks = 0
    load_before = os.getloadavg()
    try:
        server = Server(server_env(database.url, workdir, args.scale), args.workers, workdir / "server.log")
        print(f"server up after {server.startup_s:.0f} s: gunicorn {args.workers} workers, PostgreSQL {database.name} "
              f"({database.areas:,} areas, {database.incidents:,} incidents), Redis {REDIS_URL}", flush=True)
        access = Access(server.base, server_env(database.url, workdir, args.scale))
        if access.protected:
            print(f"access control on: a wall device ({access.wall_path.split('?')[0]}?token=…) and a commander's API token were added", flush=True)
        rounds, bad = server.check_workers(access.device)
        print(f"workers checked in {rounds} round(s): /_dash-component-suites/ answers 500: {bad} (budget 0: {'ok' if not bad else 'FAIL'})", flush=True)
        acked = acknowledge_all(access)
        if acked:
            print(f"acknowledged {len(acked)} emergencies of the demo data first", flush=True)
        writer = IncidentWriter(database.url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            wall = WallPage(browser, server.base, path=access.wall_path)
            held = wall.page.evaluate(HOLD_OVERVIEW_JS)
            offset, error = wall.clock_offset_ms()
            print(f"/wall open at {VIEWPORT['width']}×{VIEWPORT['height']} after {wall.open_s:.1f} s; carousel held on scene {held!r}; "
                  f"clock offset browser − python {offset:+.1f} ms (± {error:.1f} ms)", flush=True)
            wall.page.evaluate(OBSERVE_TICKER_JS, TICKER)
            wall.page.evaluate(STAMP_EVENTS_JS)
            wall.page.wait_for_timeout(3000)  # the first refreshes and the live stream settle
            for publish in (True, False):  # one warm-up insert per path, not counted
                measure(wall, writer, publish, 180)
            for trial in range(args.trials):
                for path in ("redis", "watcher"):
                    wall.page.wait_for_timeout(random.uniform(1500, 3000))
                    result = measure(wall, writer, path == "redis", 180)
                    results[path].append(result)
                    shown = "missed" if result["latency"] is None else f"{result['latency'] * 1000:7.0f} ms"
                    print(f"  {path:<8} trial {trial + 1:>2}: {shown}  (scene {result['scene']}, load {result['load']:.1f})", flush=True)
            errors += wall.errors
            failed_callbacks += wall.failed_callbacks
            refreshes += wall.refreshes
            wall.close()

            if args.tick_trials:
                wall = WallPage(browser, server.base, block_sse=True, path=access.wall_path)
                wall.page.evaluate(HOLD_OVERVIEW_JS)
                wall.page.evaluate(OBSERVE_TICKER_JS, TICKER)
                print(f"/wall reopened with /api/v1/events blocked (tick only) after {wall.open_s:.1f} s", flush=True)
                for trial in range(args.tick_trials):
                    wall.page.wait_for_timeout(random.uniform(0, 30_000))
                    result = measure(wall, writer, False, 180)
                    results["tick"].append(result)
                    shown = "missed" if result["latency"] is None else f"{result['latency'] * 1000:7.0f} ms"
                    print(f"  tick     trial {trial + 1:>2}: {shown}  (scene {result['scene']}, load {result['load']:.1f})", flush=True)
                errors += [e for e in wall.errors if "api/v1/events" not in e and "ERR_FAILED" not in e]
                failed_callbacks += wall.failed_callbacks
                wall.close()
            browser.close()
    finally:
        if writer is not None:
            writer.close()
        if server is not None:
            server.stop()
            warnings = server.warnings()
        else:
            warnings = []
        database.close()

    print()
    print(f"push-to-screen latency of the wall's overview ticker (commit → row in the DOM), demo city {args.scale}, PostgreSQL, Redis, gunicorn {args.workers} workers:")
    labels = {"redis": "redis bus (writer publishes)", "watcher": "baseline 1: change-log watcher (no bus)", "tick": "baseline 2: no push, 5 s tick / 30 s refresh"}
    for path, label in labels.items():
        rows = results[path]
        if not rows:
            continue
        print(summary(label, [r["latency"] for r in rows if r["latency"] is not None]))
        before = PREVIOUS_LATENCY[path]
        print(f"  previous run (docs/performance.md, e32a6b1):{'':<2} p50={before[0] * 1000:8.0f} ms  p95={before[1] * 1000:8.0f} ms")
        print(summary("  … to the next animation frame", [r["frame"] for r in rows if r["frame"] is not None]))
        missed = sum(r["latency"] is None for r in rows)
        if missed:
            print(f"  {missed} of {len(rows)} inserts never appeared")
    for path in ("redis", "watcher"):
        print(summary(f"commit → event in the page ({path})", [r["event"] for r in results[path] if r.get("event") is not None]))
    for trigger in ("live", "tick"):
        print(summary(f"wall refresh callback, {trigger}-triggered", [end - start for kind, start, end in refreshes if kind == trigger]))
    redis_ms = [r["latency"] for r in results["redis"] if r["latency"] is not None]
    watcher_ms = [r["latency"] for r in results["watcher"] if r["latency"] is not None]
    if redis_ms and watcher_ms:
        print(f"p50 redis / watcher: {percentile(redis_ms, 50) / percentile(watcher_ms, 50):.2f}")
    if redis_ms:
        p95 = percentile(redis_ms, 95)
        missed = sum(r["latency"] is None for r in results["redis"])
        ok = p95 <= LATENCY_BUDGET_S and not missed
        print(f"LATENCY {'PASS' if ok else 'FAIL'}: redis path p95 {p95:.2f} s against a budget of {LATENCY_BUDGET_S:.1f} s"
              f"{f', {missed} missed' if missed else ''} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"load average before / after: {' '.join(f'{v:.1f}' for v in load_before)} / {' '.join(f'{v:.1f}' for v in os.getloadavg())} "
          f"({os.cpu_count()} CPUs; other processes on the machine count)")
    print(f"browser console errors: {len(errors)}; failed Dash callbacks: {failed_callbacks}; server log warnings/errors: {len(warnings)}")
    for line in (errors + warnings)[:10]:
        print("   ", line[:300])


# --- soak ---------------------------------------------------------------------------------------


def slope_per_hour(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope per hour and its standard error."""
    if len(points) < 3:
        return float("nan"), float("nan")
    xs = [t / 3600 for t, _ in points]
    ys = [v for _, v in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if not sxx:
        return float("nan"), float("nan")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    residual = sum((y - (my + slope * (x - mx))) ** 2 for x, y in zip(xs, ys))
    return slope, (residual / (len(xs) - 2) / sxx) ** 0.5


def judge(samples: list[dict], key: str, duration_s: float, warmup_s: float) -> dict:
    """A series' figures; for the judged ones (``LEVEL_OFF``) ``ok``: the last third's mean exceeds
    the middle third's by no more than the tolerance, and the second-half slope is not above the
    budget by more than two standard errors (a 15-minute slope of a noisy series, e.g. the heap
    of whichever scene is shown, is not evidence of growth by itself)."""
    series = [(s["t"], s[key]) for s in samples if s.get(key) is not None]
    third = duration_s / 3
    warm = [v for t, v in series if t < warmup_s]
    middle = [v for t, v in series if third <= t < 2 * third]
    last = [v for t, v in series if t >= 2 * third]
    slope, error = slope_per_hour([(t, v) for t, v in series if t >= duration_s / 2])
    result = {
        "warmup": statistics.fmean(warm) if warm else float("nan"), "start": series[0][1] if series else float("nan"),
        "end": series[-1][1] if series else float("nan"), "min": min(v for _, v in series), "max": max(v for _, v in series),
        "middle": statistics.fmean(middle) if middle else float("nan"), "last": statistics.fmean(last) if last else float("nan"),
        "slope": slope, "slope_se": error,
    }
    if key in LEVEL_OFF:
        _, _, tol_abs, tol_rel, budget = LEVEL_OFF[key]
        tolerance = max(tol_abs, tol_rel * result["middle"])
        result.update(tolerance=tolerance, budget=budget,
                      ok=(result["last"] - result["middle"] <= tolerance) and (slope - 2 * error <= budget))
    return result


def print_report(samples: list[dict], duration_s: float, warmup_min: float) -> None:
    """5-minute means and the verdicts (also ``bench_wall.py report SAMPLES.json``)."""
    print()
    print("5-minute means:")
    keys = ("heap_mb", "backing_mb", "dom_elements", "cdp_nodes", "listeners", "canvases", "server_rss_mb", "renderer_rss_mb", "gpu_rss_mb")
    keys = tuple(k for k in keys if any(s.get(k) is not None for s in samples))
    print(f"{'minutes':>9} " + " ".join(f"{k:>15}" for k in keys))
    bucket = 300
    for start in range(0, int(samples[-1]["t"]) + 1, bucket):
        rows = [s for s in samples if start <= s["t"] < start + bucket]
        if rows:
            values = [statistics.fmean(r[k] for r in rows if r.get(k) is not None) if any(r.get(k) is not None for r in rows) else float("nan") for k in keys]
            print(f"{start // 60:3d}–{(start + bucket) // 60:<3d}  " + " ".join(f"{v:15.1f}" for v in values))

    print()
    print(f"levels off? warm-up = first {warmup_min:g} min; thirds and second half of the {duration_s / 60:.0f} min run; "
          f"slope = least squares over the second half ± its standard error")
    print(f"{'series':<40} {'warm-up':>9} {'start':>9} {'end':>9} {'middle ⅓':>9} {'last ⅓':>9} {'Δ':>8} {'tol':>7} {'slope/h':>17} {'budget':>7}  verdict")
    verdicts = []
    for key, (label, unit, *_rest) in LEVEL_OFF.items():
        r = judge(samples, key, duration_s, warmup_min * 60)
        verdicts.append(r["ok"])
        print(f"{label + (' (' + unit + ')' if unit else ''):<40} {r['warmup']:9.1f} {r['start']:9.1f} {r['end']:9.1f} {r['middle']:9.1f} {r['last']:9.1f} "
              f"{r['last'] - r['middle']:+8.1f} {r['tolerance']:7.1f} {r['slope']:+9.1f} ± {r['slope_se']:5.1f} {r['budget']:7.1f}  {'levels off' if r['ok'] else 'GROWS'}")
    for key, (label, unit) in INFO_SERIES.items():
        if not any(s.get(key) is not None for s in samples):
            continue
        r = judge(samples, key, duration_s, warmup_min * 60)
        print(f"{label + (' (' + unit + ')' if unit else ''):<40} {r['warmup']:9.1f} {r['start']:9.1f} {r['end']:9.1f} {r['middle']:9.1f} {r['last']:9.1f} "
              f"{r['last'] - r['middle']:+8.1f} {'':>7} {r['slope']:+9.1f} ± {r['slope_se']:5.1f} {'':>7}  (not judged; range {r['min']:.0f}–{r['max']:.0f})")
    print()
    print(f"SOAK {'PASS' if all(verdicts) else 'FAIL'}: " + ", ".join(
        f"{LEVEL_OFF[k][0]} {'levels off' if ok else 'grows'}" for k, ok in zip(LEVEL_OFF, verdicts)))


def save_heap_snapshot(cdp, path: Path) -> None:
    """A V8 heap snapshot of the page (CDP ``HeapProfiler.takeHeapSnapshot``, after a GC) into ``path``."""
    with open(path, "w") as out:
        def write(params):
            out.write(params["chunk"])

        cdp.on("HeapProfiler.addHeapSnapshotChunk", write)
        try:
            cdp.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
        finally:
            cdp.remove_listener("HeapProfiler.addHeapSnapshotChunk", write)


HEAP_PATH_DEPTH = 11


def heap_by_path(path: Path, depth: int = HEAP_PATH_DEPTH) -> dict[str, list[int]]:
    """{retaining path: [objects, self bytes]} of a saved snapshot: each object counts under the
    first ``depth`` steps of its shortest retaining path from the root (breadth first over the
    strong edges; array elements as ``[]``), so that what grows shows where it is held
    (e.g. ``store > … > layoutHashes > … > changedProps > layerData > aqi-surface``)."""
    from collections import deque

    snapshot = json.loads(path.read_text())
    meta = snapshot["snapshot"]["meta"]
    node_fields, edge_fields = meta["node_fields"], meta["edge_fields"]
    node_types, edge_types = meta["node_types"][0], meta["edge_types"][0]
    nodes, edges, strings = snapshot["nodes"], snapshot["edges"], snapshot["strings"]
    width, edge_width = len(node_fields), len(edge_fields)
    type_at, name_at, size_at, count_at = (node_fields.index(name) for name in ("type", "name", "self_size", "edge_count"))
    edge_type_at, edge_name_at, edge_to_at = (edge_fields.index(name) for name in ("type", "name_or_index", "to_node"))
    total = len(nodes) // width
    first_edge = [0] * (total + 1)
    for index in range(total):
        first_edge[index + 1] = first_edge[index] + nodes[index * width + count_at] * edge_width
    parent, label, depth_of = [-1] * total, [""] * total, [0] * total
    seen = bytearray(total)
    seen[0] = 1
    queue = deque([0])
    while queue:
        index = queue.popleft()
        owner_type = node_types[nodes[index * width + type_at]]
        owner = strings[nodes[index * width + name_at]][:40] if owner_type in ("object", "closure", "native", "synthetic") else owner_type
        owner = owner.split(" / http://")[0]
        for edge in range(first_edge[index], first_edge[index + 1], edge_width):
            kind = edge_types[edges[edge + edge_type_at]]
            target = edges[edge + edge_to_at] // width
            if kind == "weak" or seen[target]:
                continue
            seen[target] = 1
            parent[target], depth_of[target] = index, depth_of[index] + 1
            name = edges[edge + edge_name_at]
            step = "[]" if kind in ("element", "hidden") else (strings[name] if isinstance(name, int) and name < len(strings) else str(name))
            label[target] = f"{owner}.{step}"[:60]
            queue.append(target)
    result: dict[str, list[int]] = {}
    for index in range(1, total):
        if not seen[index]:
            continue
        chain, node = [], index
        while node > 0:
            chain.append(label[node])
            node = parent[node]
        chain.reverse()
        key = " > ".join(chain[3:3 + depth])  # the first three steps are the GC roots' own
        entry = result.setdefault(key, [0, 0])
        entry[0] += 1
        entry[1] += nodes[index * width + size_at]
    return result


def print_heap_growth(before: Path, after: Path, top: int = 12) -> None:
    old, new = heap_by_path(before), heap_by_path(after)
    rows = [(new.get(key, [0, 0])[1] - old.get(key, [0, 0])[1], new.get(key, [0, 0])[0] - old.get(key, [0, 0])[0], key) for key in set(old) | set(new)]
    total = sum(size for size, _, _ in rows)
    print(f"JS heap snapshots {before.name} → {after.name}: {sum(v[1] for v in old.values()) / MB:.1f} → {sum(v[1] for v in new.values()) / MB:.1f} MB "
          f"reachable ({total / MB:+.2f} MB); grown most, by retaining path:")
    for size, count, key in sorted(rows, reverse=True)[:top]:
        print(f"  {size / 1024:+9.1f} KB {count:+8d} objects  {key[-220:]}")


def run_report(args) -> None:
    samples = json.loads(Path(args.samples).read_text())
    duration_s = args.minutes * 60 if args.minutes else samples[-1]["t"]
    print(f"{args.samples}: {len(samples)} samples over {samples[-1]['t'] / 60:.1f} min")
    print_report(samples, duration_s, args.warmup)


def run_soak(args) -> None:
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="cityops-bench-wall-soak-"))
    print(f"code: {code_version()}; {os.cpu_count()} CPUs, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    database = Database(args.database, args.scale, args.keep_db, workdir)
    env = server_env(database.url, workdir, args.scale)
    server = simulate = None
    samples: list[dict] = []
    acknowledged: list[str] = []
    scenes_seen: list[str] = []
    errors: list[str] = []
    failed_callbacks = 0
    worker_sets: list[frozenset[int]] = []
    refreshes: list[tuple[str, float, float]] = []
    pending_refreshes = 0
    duration_s = args.minutes * 60
    snapshots: list[Path] = []
    carousel_ok, carousel_text, bad = False, "not measured", None
    try:
        server = Server(env, args.workers, workdir / "server.log")
        print(f"server up after {server.startup_s:.0f} s: gunicorn {args.workers} workers, PostgreSQL {database.name} "
              f"({database.areas:,} areas, {database.incidents:,} incidents), Redis {REDIS_URL}"
              + "".join(f", {name}={env[name]}" for name in SERVER_TUNING if name in env), flush=True)
        access = Access(server.base, env)
        if access.protected:
            print(f"access control on: a wall device ({access.wall_path.split('?')[0]}?token=…) and a commander's API token were added", flush=True)
        rounds, bad = server.check_workers(access.device)
        print(f"workers checked in {rounds} round(s): /_dash-component-suites/ answers 500: {bad} (budget 0: {'ok' if not bad else 'FAIL'})", flush=True)
        pre = acknowledge_all(access)
        if pre:
            print(f"acknowledged {len(pre)} emergencies of the demo data first", flush=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            # The feed first, the wall second: a wall opened under a busy feed must start its carousel
            # (it used to wait minutes: see CAROUSEL_JS).
            sim_log = open(workdir / "simulate.log", "w")  # noqa: SIM115 - closed with the process
            simulate = subprocess.Popen([sys.executable, "-m", "app.cli", "simulate", "--rate", str(args.rate), "--seed", "1"],
                                        cwd=REPO_ROOT, env=env, stdout=sim_log, stderr=subprocess.STDOUT)
            print(f"cityops simulate --rate {args.rate:g} running (pid {simulate.pid}); logs in {workdir}; the wall opens in {args.feed_lead:g} s",
                  flush=True)
            time.sleep(args.feed_lead)
            wall = WallPage(browser, server.base, path=access.wall_path, init_script=CAROUSEL_RECORDER_JS)
            wall.page.wait_for_function(f"() => ({CAROUSEL_JS})().running", timeout=300_000, polling=1000)
            try:
                wall.page.wait_for_function("() => window.__carousel && window.__carousel.changes.length > 0",
                                            timeout=(FIRST_DWELL_S + 300) * 1000, polling=500)
            except Exception:  # noqa: BLE001 - playwright TimeoutError: judged below
                pass
            armed, changes = wall.page.evaluate("() => [window.__carousel.armed, window.__carousel.changes]")
            first_dwell = (changes[0][0] - armed) / 1000 if changes and armed else None
            carousel_ok = first_dwell is not None and first_dwell <= FIRST_DWELL_S + CAROUSEL_SLACK_S
            carousel_text = (f"first scene change {first_dwell:.1f} s after the carousel was armed" if first_dwell is not None
                             else f"NO scene change within {FIRST_DWELL_S + 300} s")
            print(f"/wall open under the feed at {VIEWPORT['width']}×{VIEWPORT['height']} after {wall.open_s:.1f} s; {carousel_text} "
                  f"(dwell {FIRST_DWELL_S} s, budget {FIRST_DWELL_S + CAROUSEL_SLACK_S:.0f} s): {'ok' if carousel_ok else 'FAIL'}", flush=True)
            cdp = wall.context.new_cdp_session(wall.page)
            cdp.send("Performance.enable")
            print(f"sampling every {args.interval:g} s for {args.minutes:g} min", flush=True)
            header = (f"{'min':>5} {'heap MB':>8} {'elements':>8} {'CDP nodes':>9} {'listen':>6} {'canv':>4} {'server MB':>9} "
                      f"{'workers MB':>12} {'render MB':>9} {'gpu MB':>7} {'scene':<20} {'emerg':>5} {'load':>5}")
            print(header, flush=True)
            started = time.monotonic()
            next_sample = 0.0
            shown_since: dict[str, float] = {}
            snapshot_at = [args.warmup * 60, (args.warmup * 60 + duration_s) / 2] if args.heap_snapshots else []
            while True:
                elapsed = time.monotonic() - started
                if snapshot_at and elapsed >= snapshot_at[0]:
                    snapshot_at.pop(0)
                    snapshots.append(workdir / f"heap-{elapsed / 60:04.1f}min.heapsnapshot")
                    save_heap_snapshot(cdp, snapshots[-1])
                    print(f"      heap snapshot taken at {elapsed / 60:.1f} min", flush=True)
                if elapsed >= next_sample:
                    cdp.send("HeapProfiler.collectGarbage")
                    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    usage = cdp.send("Runtime.getHeapUsage")  # backingStorageSize: ArrayBuffers (deck.gl data), outside the JS heap
                    state = wall.page.evaluate(PAGE_STATE_JS)
                    table = _processes()
                    workers = [pid for pid in descendants(server.process.pid, table)]
                    worker_sets.append(frozenset(workers))
                    chromium = [pid for pid in descendants(os.getpid(), table) if "chromium" in table[pid][1]]
                    renderers = [pid for pid in chromium if "--type=renderer" in table[pid][1] and "--extension-process" not in table[pid][1]]
                    gpu = [pid for pid in chromium if "--type=gpu-process" in table[pid][1]]
                    sample = {
                        "t": elapsed, "heap_mb": metrics["JSHeapUsedSize"] / MB, "heap_total_mb": metrics["JSHeapTotalSize"] / MB,
                        "backing_mb": usage["backingStorageSize"] / MB if "backingStorageSize" in usage else None,
                        "embedder_mb": usage["embedderHeapUsedSize"] / MB if "embedderHeapUsedSize" in usage else None,
                        "dom_elements": state["elements"], "cdp_nodes": metrics.get("Nodes"), "listeners": metrics.get("JSEventListeners"),
                        "documents": metrics.get("Documents"), "canvases": state["canvases"], "scene": state["scene"], "emergency": state["emergency"],
                        "live": state["live"], "carousel": state["carousel"], "clock": state["clock"], "server_master_mb": rss_mb(server.process.pid), "workers_mb": [rss_mb(p) for p in workers],
                        "renderer_rss_mb": max((rss_mb(p) for p in renderers), default=None), "gpu_rss_mb": sum(rss_mb(p) for p in gpu) or None,
                        "history": state["history"], "refreshes": state["refreshes"], "live_refreshes": state["liveRefreshes"],
                        "simulate_mb": rss_mb(simulate.pid), "load": os.getloadavg()[0],
                    }
                    sample["server_rss_mb"] = sample["server_master_mb"] + sum(sample["workers_mb"])
                    samples.append(sample)
                    workers_text = "+".join(f"{v:.0f}" for v in sample["workers_mb"])
                    print(f"{elapsed / 60:5.1f} {sample['heap_mb']:8.2f} {sample['dom_elements']:8d} {sample['cdp_nodes'] or 0:9.0f} "
                          f"{sample['listeners'] or 0:6.0f} {sample['canvases']:4d} {sample['server_rss_mb']:9.1f} {workers_text:>12} "
                          f"{sample['renderer_rss_mb'] or 0:9.1f} {sample['gpu_rss_mb'] or 0:7.1f} {sample['scene']!s:<20} "
                          f"{'yes' if sample['emergency'] else '':>5} {sample['load']:5.1f}", flush=True)
                    next_sample += args.interval
                    if elapsed >= duration_s:
                        break
                # Between samples: follow the carousel, and be the operator who acknowledges emergencies.
                scene = wall.page.evaluate("() => (document.querySelector('.wall-scene.is-active') || {dataset: {}}).dataset.scene || null")
                if scene and (not scenes_seen or scenes_seen[-1] != scene):
                    scenes_seen.append(scene)
                try:
                    shown = access.emergency()
                except (requests.RequestException, ValueError):
                    shown = None
                if shown:
                    since = shown_since.setdefault(shown["incident_id"], time.monotonic())
                    if time.monotonic() - since >= EMERGENCY_DWELL_S:
                        response = access.acknowledge(shown["incident_id"])
                        if response.ok:
                            acknowledged.append(shown["incident_id"])
                            print(f"      operator acknowledged emergency {shown['incident_id']} (severity {shown.get('severity')}) after {EMERGENCY_DWELL_S} s", flush=True)
                if simulate.poll() is not None:
                    raise SystemExit(f"cityops simulate stopped (exit {simulate.returncode}); see {workdir / 'simulate.log'}")
                wall.page.wait_for_timeout(min(5000, max(100, (next_sample - (time.monotonic() - started)) * 1000)))
            if args.heap_snapshots:
                snapshots.append(workdir / f"heap-{(time.monotonic() - started) / 60:04.1f}min.heapsnapshot")
                save_heap_snapshot(cdp, snapshots[-1])
            errors = wall.errors
            failed_callbacks = wall.failed_callbacks
            refreshes, pending_refreshes = list(wall.refreshes), len(wall.callbacks)
            cdp.detach()
            wall.close()
            browser.close()
    finally:
        if simulate is not None:
            simulate.send_signal(signal.SIGTERM)
            try:
                simulate.wait(timeout=30)
            except subprocess.TimeoutExpired:
                simulate.kill()
        if server is not None:
            server.stop()
            warnings = server.warnings()
        else:
            warnings = []
        database.close()
        (workdir / "samples.json").write_text(json.dumps(samples, indent=1))

    sim_text = (workdir / "simulate.log").read_text(errors="replace").strip().splitlines()
    print()
    print(f"soak: /wall (shipped default wall, carousel 60+4×45 s) for {samples[-1]['t'] / 60:.1f} min against cityops simulate --rate {args.rate:g}; "
          f"{len(samples)} samples; samples in {workdir / 'samples.json'}")
    print("simulate:", " | ".join(line.strip() for line in sim_text[-6:]))
    changes = len(scenes_seen) - 1
    visits = {scene: scenes_seen.count(scene) for scene in dict.fromkeys(scenes_seen)}
    print(f"scene changes seen: {changes}; visits per scene: {visits}; emergencies acknowledged by the operator: {len(acknowledged)}")
    restarted = len({frozenset(s) for s in worker_sets}) > 1
    print(f"gunicorn workers {'CHANGED during the run (a restart resets RSS)' if restarted else 'unchanged during the run'}: {sorted(worker_sets[-1]) if worker_sets else []}")
    for trigger in ("live", "tick", "other"):
        print(summary(f"wall refresh callback, {trigger}-triggered", [end - start for kind, start, end in refreshes if kind == trigger]))
    print(f"wall refresh requests sent: {len(refreshes) + pending_refreshes} ({pending_refreshes} without a response at the end)")
    print(f"browser console errors: {len(errors)}; failed Dash callbacks: {failed_callbacks}; server log warnings/errors: {len(warnings)}")
    for line in (errors[:5] + warnings[:5]):
        print("   ", line[:300])

    print_report(samples, duration_s, args.warmup)
    print(f"CAROUSEL {'PASS' if carousel_ok else 'FAIL'}: opened {args.feed_lead:g} s into the feed, {carousel_text} "
          f"(dwell {FIRST_DWELL_S} s, budget {FIRST_DWELL_S + CAROUSEL_SLACK_S:.0f} s)")
    print(f"WORKERS {'PASS' if not bad else 'FAIL'}: /_dash-component-suites/ answers 500 before the browser came: {bad} (budget 0)")
    for before, after in zip(snapshots, snapshots[1:]):
        print()
        print_heap_growth(before, after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("latency", "soak"):
        p = sub.add_parser(name, help=f"{name} (see the module's docstring)")
        p.add_argument("--scale", choices=("small", "city"), default="city", help="demo city built into a new database")
        p.add_argument("--database", default="cityops_bench_wall", help="name of the bench's PostgreSQL database")
        p.add_argument("--keep-db", action="store_true", help="keep the database for the next run (else dropped)")
        p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    latency = sub.choices["latency"]
    latency.add_argument("--trials", type=int, default=20, help="inserts per push path")
    latency.add_argument("--tick-trials", type=int, default=10, help="inserts without push (0 = skip that baseline)")
    soak = sub.choices["soak"]
    soak.add_argument("--minutes", type=float, default=30.0)
    soak.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    soak.add_argument("--warmup", type=float, default=5.0, help="minutes of warm-up (the baseline)")
    soak.add_argument("--rate", type=float, default=6.0, help="cityops simulate: new incidents per minute")
    soak.add_argument("--feed-lead", type=float, default=30.0, help="seconds the feed runs before the wall opens")
    soak.add_argument("--heap-snapshots", action="store_true",
                      help="V8 heap snapshots at the end of the warm-up, half-way and at the end (kept in the run's folder); "
                           "prints what grew between them by retaining path")
    report = sub.add_parser("report", help="the soak's summary again, from its samples.json")
    report.add_argument("samples")
    report.add_argument("--minutes", type=float, default=None, help="length of the run (default: the last sample's time)")
    report.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()
    {"latency": run_latency, "soak": run_soak, "report": run_report}[args.command](args)


if __name__ == "__main__":
    main()
