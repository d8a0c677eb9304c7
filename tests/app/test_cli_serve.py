"""``cityops serve`` really serves: the built-in server and gunicorn, on a prepared database."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.app.conftest import (
    REPO_ROOT,
    SESSION_COOKIE,
    TEST_SECRET,
    free_port,
    role_cookie,
)

pytestmark = pytest.mark.slow


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"cityops serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(signed_in(url), timeout=2) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise AssertionError(f"no answer from {url} within {timeout}s")


def signed_in(url: str) -> urllib.request.Request:
    """A request with the test admin's session (the server runs with ``TEST_SECRET``; the seeded
    database has the test users): the app and /healthz's details need a signed-in caller."""
    return urllib.request.Request(url, headers={"Cookie": f"{SESSION_COOKIE}={role_cookie('admin')}"})


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


@pytest.mark.parametrize("workers", [1, 2], ids=["werkzeug", "gunicorn"])
def test_serve_answers_healthz_and_the_app(workers, tmp_path, seeded_sqlite_url):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CITYOPS_")}
    env.update(CITYOPS_DATA_DIR=str(tmp_path), CITYOPS_DATABASE_URL=seeded_sqlite_url, CITYOPS_SECRET_KEY=TEST_SECRET, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
        with urllib.request.urlopen(signed_in(f"http://127.0.0.1:{port}/"), timeout=10) as response:
            index = response.read().decode()
    finally:
        output = stop(process)

    assert health["status"] == "ok", health
    assert health["database"] == "ok"
    assert health["dialect"] == "sqlite"
    assert health["cache"] == "memory"
    assert health["data_version"] == 2
    assert health["schema_revision"] == health["schema_head"]
    assert '<div id="react-entry-point">' in index
    assert f"http://127.0.0.1:{port}/" in output
    assert "demo city" not in output  # the database had areas: nothing was built
    if workers > 1:
        assert output.count("Booting worker") == 2, output
