"""``cityops serve --workers 2``: every gunicorn worker serves Dash's scripts from its first request.

Dash learns which files under ``/_dash-component-suites/`` it may serve only while it renders an
index page (``Dash.registered_paths``, filled by ``_setup_server`` on a process's first request,
and racy when that first request arrives together with others). Workers are not preloaded, so a
wall whose browser fetched React from a worker that had not rendered a page yet stayed blank
(500). ``app.wsgi.create_wsgi_app`` now sets the app up before the worker accepts anything.

The test sends nothing but script requests to a freshly started server — many at once, queued
on the listening socket while the workers boot — so that the first requests every worker
answers are script requests, and reads from the access log (``--debug``; its lines carry the
worker's pid) which worker answered what. It also reads there that every worker limited its
malloc arenas and fixed its mmap threshold (``app.wsgi.tune_malloc``).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.app.conftest import REPO_ROOT, TEST_SECRET, free_port, make_settings

pytestmark = pytest.mark.slow

BOOT_TIMEOUT_S = 120.0  # a bounded wait for the workers to boot on a loaded machine, nothing timed
ACCESS_LINE = re.compile(r'"GET (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) .* pid=<?(?P<pid>\d+)>?$')


def script_urls(tmp_path, database_url: str) -> list[str]:
    """The /_dash-component-suites/ scripts an index page of this app names (computed in this
    process: the same package versions and file times give the same fingerprinted URLs)."""
    from app.server import create_app

    dash_app = create_app(make_settings(tmp_path / "local", database_url))
    try:
        with dash_app.server.test_request_context("/"):
            html = dash_app._generate_scripts_html()
    finally:
        context = dash_app.server.extensions["cityops"]
        context.read_engine.dispose()
        context.engine.dispose()
    urls = sorted(set(re.findall(r'src="(/_dash-component-suites/[^"]+)"', html)))
    assert len(urls) >= 5, html[:500]
    return urls


class Output:
    """The server's merged stdout/stderr, read by a thread as it comes."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, count: int, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while sum(pattern in line for line in list(self.lines)) < count:
            assert process.poll() is None, "cityops serve exited:\n" + "\n".join(self.lines[-40:])
            assert time.monotonic() < deadline, f"no {count}× {pattern!r} within {BOOT_TIMEOUT_S:.0f} s:\n" + "\n".join(self.lines[-40:])
            time.sleep(0.01)

    def access(self) -> list[dict]:
        return [match.groupdict() for match in map(ACCESS_LINE.search, list(self.lines)) if match]


def test_every_worker_serves_dash_scripts_from_its_first_request(tmp_path, seeded_sqlite_url):
    urls = script_urls(tmp_path, seeded_sqlite_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CITYOPS_")}
    env.update(CITYOPS_DATA_DIR=str(tmp_path), CITYOPS_DATABASE_URL=seeded_sqlite_url, CITYOPS_SECRET_KEY=TEST_SECRET, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2", "--debug"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = Output(process)
    statuses: list[tuple[str, int]] = []
    try:
        # The master has bound the port once it forks the workers: connections made from now on
        # wait in the listen queue until a worker accepts them, so these are the workers' first.
        output.wait_for("Booting worker with pid", 2, process)

        def fetch(url: str) -> tuple[str, int]:
            for _ in range(200):
                try:
                    return url, requests.get(base + url, headers={"Connection": "close"}, timeout=120).status_code
                except requests.ConnectionError:  # the master not listening yet (it logs before it binds on some versions)
                    time.sleep(0.05)
            raise AssertionError(f"{base} never accepted a connection")

        with ThreadPoolExecutor(16) as pool:
            for _ in range(10):  # until both workers have answered some (which one accepts is up to the kernel)
                statuses += pool.map(fetch, urls * 4)
                deadline = time.monotonic() + 10
                while len({line["pid"] for line in output.access()}) < 2 and time.monotonic() < deadline:
                    time.sleep(0.1)
                if len({line["pid"] for line in output.access()}) >= 2:
                    break
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    lines = output.access()
    workers = {line["pid"] for line in lines}
    assert len(workers) == 2, "both workers must have answered:\n" + "\n".join(output.lines[-60:])
    assert all(line["path"].startswith("/_dash-component-suites/") for line in lines), [line["path"] for line in lines if "component-suites" not in line["path"]]
    failed = [(url, status) for url, status in statuses if status != 200]
    assert not failed, f"{len(failed)} of {len(statuses)} script requests failed: {failed[:5]}\n" + "\n".join(
        line for line in output.lines if "Traceback" in line or "Exception" in line or "Error" in line)[:3000]
    for pid in workers:
        first = [line for line in lines if line["pid"] == pid]
        assert first and all(line["status"] == "200" for line in first), (pid, first[:5])
    # Each worker tuned malloc at start (app.wsgi.tune_malloc; gunicorn's debug log).
    limited = {pid for pid in workers if any(f"worker {pid}: MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=262144" in line for line in output.lines)}
    assert limited == workers or {"MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"} & set(os.environ), "\n".join(line for line in output.lines if "MALLOC" in line or "Booting" in line)
