"""Live push end to end: ``cityops serve --workers 2`` (gunicorn, Redis) + ``cityops simulate``,
N SSE clients; event-to-client latency (the event's ``at`` against its receipt, same clock).

    .venv/bin/python bench/bench_push.py [--db pg|sqlite] [--rate 60] [--duration 60] [--clients 20] [--browser]
                                         [--path redis|watcher|both]

Two push paths, one after the other on the same server and clients (``--path both``, the
default): ``redis`` — the writer (``cityops simulate`` with CITYOPS_REDIS_URL) publishes each
committed batch on the Redis bus; ``watcher`` — the writer has no bus (an ETL writing the database
directly) and the server's change-log watcher (0.5 s poll) finds the changes. Verdict: the Redis
path's incident.new p95 against ``BUDGET_S``. The wall's own push-to-screen latency (the refresh
it triggers) is ``bench/bench_wall.py latency``.

A fresh database (a temporary PostgreSQL database next to CITYOPS_BENCH_PG_URL, or a SQLite
file) gets the small demo city on first start. ``at`` is the commit-side time of the fact
(an incident's ``updated_at``, stamped when its batch starts validating; a data version's change
log time, stamped just before commit), so incident latency includes the write itself. With
``--browser``, Debian's chromium opens the home page and the time from an incident's ``at`` to
its item in the live list's DOM is measured too. Prints p50/p95/max and counts; asserts nothing.

Behind access control (issue #8) the bench adds a commander with ``cityops users``: the SSE
clients use its bearer token, the browser logs in through the form.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("CITYOPS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CITYOPS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BUDGET_S = 1.0  # incident.new, event → client, Redis path, p95
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    def __init__(self, url: str, headers: dict | None = None):
        self.response = requests.get(url, stream=True, timeout=(5, 120), headers=headers or {})
        self.worker = self.response.headers.get("X-CityOps-Worker")
        self.received: list[tuple[dict, float]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.response.iter_lines(chunk_size=None, decode_unicode=True):
                if line and line.startswith("data:"):
                    self.received.append((json.loads(line[5:]), time.time()))
        except Exception:  # noqa: BLE001 - the bench closes the stream under the reader
            pass

    def close(self) -> None:
        fp = getattr(getattr(self.response.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.response.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(label: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{label:<28} n=0"
    ms = [s * 1000 for s in seconds]
    return f"{label:<28} n={len(ms):<6} p50={percentile(ms, 50):7.1f} ms  p95={percentile(ms, 95):7.1f} ms  max={max(ms):7.1f} ms"


def at_seconds(event: dict) -> float:
    return dt.datetime.fromisoformat(event["at"]).timestamp()


def make_database(kind: str, workdir: Path):
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    from sqlalchemy import create_engine, text

    name = f"cityops_bench_push_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop


def add_commander(env: dict) -> tuple[str, str, str]:
    """(login, password, bearer token) of a new commander, through ``cityops users``."""
    name, password = f"bench-push-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex + "Aa1!"

    def cli(*arguments: str, stdin: str | None = None) -> list[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", "users", *arguments], cwd=REPO_ROOT, env=env, input=stdin,
                              capture_output=True, text=True, check=True).stdout.splitlines()

    cli("add", name, "--role", "commander", "--password-stdin", stdin=password + "\n")
    return name, password, cli("token", name)[0].strip()


def log_in(base: str, name: str, password: str) -> str:
    """The session cookie of a log-in through the form (its CSRF token included)."""
    import re

    session = requests.Session()
    form = session.get(f"{base}/login", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = session.post(f"{base}/login", data={"user": name, "password": password, "csrf": csrf, "next": "/"},
                          headers={"Origin": base}, allow_redirects=False, timeout=30)
    if answer.status_code != 303:
        raise SystemExit(f"log-in failed: {answer.status_code} {answer.text[:200]}")
    return session.cookies["session"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    parser.add_argument("--rate", type=float, default=60.0, help="incidents per minute")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of simulated feed")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--browser", action="store_true", help="also measure insert → DOM in chromium")
    parser.add_argument("--path", choices=("redis", "watcher", "both"), default="both", help="push path(s) measured, one after the other")
    args = parser.parse_args()
    paths = ["redis", "watcher"] if args.path == "both" else [args.path]
    windows: dict[str, tuple[float, float]] = {}

    workdir = Path(tempfile.mkdtemp(prefix="cityops-bench-push-"))
    database_url, drop_database = make_database(args.db, workdir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(CITYOPS_DATA_DIR=str(workdir), CITYOPS_DATABASE_URL=database_url, CITYOPS_REDIS_URL=REDIS_URL, CITYOPS_DEMO_SCALE="small",
               CITYOPS_SECRET_KEY="bench", PYTHONUNBUFFERED="1")
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients: list[Client] = []
    browser_times: dict[str, float] = {}
    try:
        started = time.monotonic()
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() - started > 600:
                raise SystemExit("server did not start")
            time.sleep(0.5)
        print(f"server up after {time.monotonic() - started:.0f}s (database={args.db}, demo city small, 2 gunicorn workers, Redis)")
        user, password, token = add_commander(env)
        clients = [Client(f"{base}/api/v1/events", {"Authorization": f"Bearer {token}"}) for _ in range(args.clients)]
        workers = {c.worker for c in clients if c.response.status_code == 200}
        print(f"{sum(c.response.status_code == 200 for c in clients)}/{args.clients} SSE clients open on workers {sorted(workers)}")

        playwright = browser = page = None
        if args.browser:
            from playwright.sync_api import sync_playwright

            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context()
            context.add_cookies([{"name": "session", "value": log_in(base, user, password), "url": base}])
            page = context.new_page()
            page.on("console", lambda message: print("browser console:", message.text) if message.type == "error" else None)
            page.goto(f"{base}/")
            page.wait_for_selector("html[data-live-state='live']", timeout=60000)
            page.evaluate("""() => { window.__seen = {}; new MutationObserver(() => {
                document.querySelectorAll('#home-live-list [data-incident-id]').forEach(el => {
                  const id = el.getAttribute('data-incident-id'); if (!(id in window.__seen)) window.__seen[id] = Date.now() / 1000; });
              }).observe(document.body, {subtree: true, childList: true}); }""")
        time.sleep(2.0)  # watchers take their starting position

        for number, path in enumerate(paths):
            writer_env = dict(env) if path == "redis" else {k: v for k, v in env.items() if k != "CITYOPS_REDIS_URL"}
            began = time.time()
            simulate = subprocess.run([sys.executable, "-m", "app.cli", "simulate", "--rate", str(args.rate), "--duration", str(args.duration),
                                       "--seed", str(1 + number)], cwd=REPO_ROOT, env=writer_env, capture_output=True, text=True)
            print(f"[{path}]", (simulate.stdout.strip() or simulate.stderr.strip()).replace("\n", " | ")[-400:])
            time.sleep(3.0)  # the last events in flight
            windows[path] = (began, time.time())
        if page is not None:
            browser_times = page.evaluate("window.__seen")
            if not browser_times:
                print("browser live list:", page.inner_text("#home-live-list")[:300])
            browser.close()
            playwright.stop()
    finally:
        for client in clients:
            client.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        drop_database()

    verdict = None
    for path in paths:
        start, end = windows.get(path, (0.0, 0.0))
        by_type: dict[str, list[float]] = {}
        per_client = []
        duplicates = 0
        all_ids: set[str] = set()
        incident_at: dict[str, float] = {}
        for client in clients:
            received_here = [(event, received) for event, received in client.received if start <= received <= end]
            ids = [event["id"] for event, _ in received_here]
            duplicates += len(ids) - len(set(ids))
            per_client.append(len(set(ids)))
            all_ids.update(ids)
            for event, received in received_here:
                by_type.setdefault(event["type"], []).append(received - at_seconds(event))
                if event["type"] == "incident.new":
                    incident_at[event["payload"]["incident_id"]] = at_seconds(event)
        print()
        print(f"--- path {path}: {'the writer publishes on Redis' if path == 'redis' else 'no bus: the change-log watcher (0.5 s poll)'}")
        print(f"events: {len(all_ids)} distinct; per client min={min(per_client, default=0)} max={max(per_client, default=0)}; duplicates delivered: {duplicates}")
        for event_type in sorted(by_type):
            print(summary(f"event → client {event_type}", by_type[event_type]))
        print(summary("event → client (all)", [v for values in by_type.values() for v in values]))
        if args.browser:
            dom = [browser_times[i] - incident_at[i] for i in browser_times if i in incident_at]
            print(summary("incident at → browser DOM", dom))
        if path == "redis" and by_type.get("incident.new"):
            verdict = percentile(by_type["incident.new"], 95)
    print()
    print(f"load average now: {' '.join(f'{v:.1f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)")
    if verdict is not None:
        print(f"PUSH {'PASS' if verdict <= BUDGET_S else 'FAIL'}: incident.new event → client p95 {verdict * 1000:.0f} ms on the Redis path "
              f"(budget {BUDGET_S * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
